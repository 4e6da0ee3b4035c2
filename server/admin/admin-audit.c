/*
 * vmgate — the admin command on the audit log: audit (the last records,
 * or a stream of them).
 *
 * Threading: see admin-commands-priv.h.
 */
#include "admin-commands-priv.h"

#include <errno.h>
#include <string.h>

/* The audit log keeps at least what audit may ask for. */
G_STATIC_ASSERT(VG_AUDIT_TAIL_MAX >= VG_CONTROL_AUDIT_LINES_MAX);

int vg_admin_cmd_audit(vg_admin_call *k)
{
    g_autoptr(JsonBuilder) b = NULL;
    g_autoptr(GPtrArray) lines = NULL;
    int64_t n;
    bool follow;
    int r;

    n = arg_int(k, "lines", NULL);
    follow = arg_bool(k, "follow", NULL);
    if (!ctx(k)->audit)
        return vg_admin_unsupported(k, "the audit log");
    if (follow)
        return vg_admin_stream_audit(k, (unsigned)n);

    if ((r = vg_audit_tail(ctx(k)->audit, (unsigned)n, &lines)) < 0)
        return vg_admin_fail(k, r, "cannot read the audit log: %s", g_strerror(-r));
    b = json_builder_new();
    json_builder_begin_array(b);
    for (guint i = 0; i < lines->len; i++) {
        JsonNode *node = json_from_string(g_ptr_array_index(lines, i), NULL);
        if (node)
            json_builder_add_value(b, node);
    }
    json_builder_end_array(b);
    k->result = json_builder_get_root(b);
    return 0;
}
