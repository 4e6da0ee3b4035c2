/*
 * vmgate — the VM name filter (see vm-filter.h).
 */
#include "vm-filter.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

struct vg_vm_filter {
    GPtrArray *patterns; /* of GPatternSpec */
};

static void pattern_free(gpointer p)
{
    g_pattern_spec_free(p);
}

int vg_vm_filter_parse(const char *spec, vg_vm_filter **out, char **err)
{
    g_auto(GStrv) parts = NULL;
    vg_vm_filter *f;
    bool all = false;

    *out = NULL;
    if (!spec)
        return 0;
    if (strlen(spec) > VG_VM_FILTER_MAX) {
        *err = g_strdup_printf("expected at most %d bytes of VM name patterns", VG_VM_FILTER_MAX);
        return -EINVAL;
    }
    for (const char *p = spec; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *err = g_strdup("expected VM name patterns without control characters");
            return -EINVAL;
        }
    }
    parts = g_strsplit(spec, ",", -1);
    if (!parts[0]) {
        *err = g_strdup("expected VM name patterns (such as \"web-*, build-?\"), or * for all");
        return -EINVAL;
    }
    f = g_new0(vg_vm_filter, 1);
    f->patterns = g_ptr_array_new_with_free_func(pattern_free);
    for (guint i = 0; parts[i]; i++) {
        char *pat = g_strstrip(parts[i]);
        if (!*pat) {
            vg_vm_filter_free(f);
            *err = g_strdup("expected VM name patterns separated by commas, none of them empty "
                            "(such as \"web-*, build-?\")");
            return -EINVAL;
        }
        all = all || strcmp(pat, "*") == 0;
        g_ptr_array_add(f->patterns, g_pattern_spec_new(pat));
    }
    if (all) {
        vg_vm_filter_free(f);
        return 0;
    }
    *out = f;
    return 0;
}

bool vg_vm_filter_match(const vg_vm_filter *filter, const char *name)
{
    if (!filter)
        return true;
    for (guint i = 0; i < filter->patterns->len; i++)
        if (g_pattern_spec_match_string(filter->patterns->pdata[i], name))
            return true;
    return false;
}

void vg_vm_filter_free(vg_vm_filter *filter)
{
    if (!filter)
        return;
    g_ptr_array_unref(filter->patterns);
    g_free(filter);
}
