/*
 * vmgate — the audit log the instances share (see store.h): records
 * appended in batches, the last ones read back in one order for every
 * instance.
 *
 * Threading: every exported function takes s->lock for its whole duration.
 */
#include "store-priv.h"

#include <errno.h>
#include <string.h>

static bool event_valid(const char *e)
{
    size_t len;

    if (!e || (len = strlen(e)) == 0 || len > VG_STORE_AUDIT_EVENT_MAX)
        return false;
    for (const char *p = e; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-' && *p != '.')
            return false;
    return true;
}

static bool record_valid(const char *r)
{
    size_t len;

    return r && (len = strlen(r)) > 0 && len <= VG_STORE_AUDIT_RECORD_MAX &&
           g_utf8_validate(r, (gssize)len, NULL);
}

typedef struct audit_batch {
    const char *instance;
    const vg_store_audit_record *records;
    size_t n;
} audit_batch;

static int append_body(vg_store *s, void *data)
{
    audit_batch *b = data;
    int r = 0;

    for (size_t i = 0; r == 0 && i < b->n; i++)
        r = vg_store_run_locked(s,
                                "INSERT INTO audit (at, instance, event, record) "
                                "VALUES (vg_now_ms(), ?1, ?2, ?3)",
                                "append audit record", "ttt", b->instance, b->records[i].event,
                                b->records[i].record);
    return r;
}

int vg_store_audit_append(vg_store *s, const char *instance, const vg_store_audit_record *records,
                          size_t n)
{
    audit_batch b = {.instance = instance, .records = records, .n = n};

    if (!vg_name_valid(instance) || (n > 0 && !records) || n > VG_STORE_AUDIT_BATCH_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!event_valid(records[i].event) || !record_valid(records[i].record))
            return -EINVAL;
    if (n == 0)
        return 0;
    return vg_store_transact(s, append_body, &b);
}

static void *make_text(const vg_store_row *row)
{
    return vg_store_row_strdup(row, 0);
}

int vg_store_audit_tail(vg_store *s, unsigned n, GPtrArray **out)
{
    g_autofree char *sql = NULL;
    int r;

    if (!out)
        return -EINVAL;
    if (n > VG_STORE_AUDIT_TAIL_MAX)
        n = VG_STORE_AUDIT_TAIL_MAX;
    /* n is a bounded number of ours, not input: written into the SQL, as LIMIT takes it. */
    sql = g_strdup_printf("SELECT record FROM (SELECT id, at, record FROM audit "
                          "ORDER BY at DESC, id DESC LIMIT %u) last ORDER BY at, id",
                          n);
    g_mutex_lock(&s->lock);
    r = vg_store_list_locked(s, sql, NULL, NULL, make_text, g_free, out);
    g_mutex_unlock(&s->lock);
    return r;
}
