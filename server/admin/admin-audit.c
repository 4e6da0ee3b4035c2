/*
 * vmgate — the admin command on the audit log: audit (the last records,
 * or a stream of them).
 *
 * Where the last records come from: with a PostgreSQL store, which several
 * instances share, its table audit (every instance's records, audit-ship.c
 * writes them); with SQLite, or when that database cannot be read, this
 * instance's own file, with a note saying so in the second case. A stream
 * (follow) is always this instance's own records.
 *
 * Threading: see admin-commands-priv.h.
 */
#include "admin-commands-priv.h"

#include <errno.h>
#include <string.h>

/* The audit log and the store keep at least what audit may ask for. */
G_STATIC_ASSERT(VG_AUDIT_TAIL_MAX >= VG_CONTROL_AUDIT_LINES_MAX);
G_STATIC_ASSERT(VG_STORE_AUDIT_TAIL_MAX >= VG_CONTROL_AUDIT_LINES_MAX);

int vg_admin_cmd_audit(vg_admin_call *k)
{
    g_autoptr(JsonBuilder) b = NULL;
    g_autoptr(GPtrArray) lines = NULL;
    vg_store *store = ctx(k)->store;
    int64_t n;
    bool follow;
    int r;

    n = arg_int(k, "lines", NULL);
    follow = arg_bool(k, "follow", NULL);
    if (!ctx(k)->audit)
        return vg_admin_unsupported(k, "the audit log");
    if (follow)
        return vg_admin_stream_audit(k, (unsigned)n);

    if (store && vg_store_get_backend(store) == VG_STORE_POSTGRESQL) {
        r = vg_store_audit_tail(store, (unsigned)n, &lines);
        if (r < 0) {
            k->note = g_strdup_printf("the shared audit log in the store %s cannot be read (%s): "
                                      "these are this instance's records only, from its own file",
                                      vg_store_path(store), g_strerror(-r));
            lines = NULL;
        }
    }
    if (!lines && (r = vg_audit_tail(ctx(k)->audit, (unsigned)n, &lines)) < 0)
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
