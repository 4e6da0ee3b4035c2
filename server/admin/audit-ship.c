/*
 * vmgate — the audit log copied to the shared store (see audit-ship.h).
 *
 * Threading: on_record runs on the thread that wrote an audit record, with
 * the audit log's lock held, and takes ship->lock only to append to the
 * queue. The writer thread takes ship->lock to look at the queue and to
 * remove what the store committed, never across a store call. Only the
 * writer thread removes records, and only from the head, so the records it
 * is writing stay where they are while it writes them.
 */
#include "audit-ship.h"

#include <errno.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "log.h"
#include "metrics.h"

#define TAG "audit"

struct vg_audit_ship {
    vg_store *store; /* the writer's own connection */
    vg_audit *audit;
    char *instance;
    unsigned handle; /* the audit log's subscription */
    unsigned queue_max;
    int64_t retry_us;
    GThread *thread;

    GMutex lock; /* guards what follows */
    GCond cond;
    GQueue queue; /* of char *: records in the file's order */
    size_t queued_bytes;
    bool stopping;
    bool failing;           /* the last write failed (logged once) */
    bool drop_logged;       /* a drop was logged since the store last took records */
    uint64_t dropped_since; /* dropped since the store last took records */
    uint64_t written, dropped;
};

/* The audit log's listener: copy the record into the queue, or count it dropped. */
static void on_record(void *opaque, const char *line)
{
    vg_audit_ship *s = opaque;
    size_t len = strlen(line);
    const char *why = NULL;

    g_mutex_lock(&s->lock);
    if (len == 0 || len > VG_STORE_AUDIT_RECORD_MAX)
        why = "a record is longer than the store takes";
    else if (s->queue.length >= s->queue_max || s->queued_bytes + len > VG_AUDIT_SHIP_QUEUE_BYTES)
        why = "the queue of records for the store is full";
    if (why) {
        s->dropped++;
        s->dropped_since++;
        vg_counter_add(&vg_metrics.audit_store_dropped, 1);
        if (!s->drop_logged) {
            s->drop_logged = true;
            vg_warning(TAG,
                       "%s: audit records are dropped from the store's copy until it takes them "
                       "again (said once; they are in the audit file)",
                       why);
        }
    } else {
        g_queue_push_tail(&s->queue, g_strndup(line, len));
        s->queued_bytes += len;
        g_cond_signal(&s->cond);
    }
    g_mutex_unlock(&s->lock);
}

/* A record's "event", which audit.c writes second; "unknown" if it has none the store takes. */
static char *record_event(const char *line)
{
    g_autoptr(JsonNode) root = json_from_string(line, NULL);
    const char *e = NULL;

    if (root && JSON_NODE_HOLDS_OBJECT(root))
        e = json_object_get_string_member_with_default(json_node_get_object(root), "event", NULL);
    if (!e || !*e || strlen(e) > VG_STORE_AUDIT_EVENT_MAX ||
        strspn(e, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != strlen(e))
        e = "unknown";
    return g_strdup(e);
}

/*
 * Write up to VG_AUDIT_SHIP_BATCH records from the head of the queue; the
 * caller holds ship->lock, which is let go during the store call. The
 * records leave the queue once committed.
 * @return 0 (or nothing to write); the store's negative errno.
 */
static int write_batch_locked(vg_audit_ship *s)
{
    vg_store_audit_record recs[VG_AUDIT_SHIP_BATCH];
    char *events[VG_AUDIT_SHIP_BATCH];
    size_t n = 0;
    int r;

    for (GList *l = s->queue.head; l && n < VG_AUDIT_SHIP_BATCH; l = l->next, n++)
        recs[n].record = l->data;
    if (n == 0)
        return 0;
    g_mutex_unlock(&s->lock);
    for (size_t i = 0; i < n; i++)
        recs[i].event = events[i] = record_event(recs[i].record);
    r = vg_store_audit_append(s->store, s->instance, recs, n);
    for (size_t i = 0; i < n; i++)
        g_free(events[i]);
    g_mutex_lock(&s->lock);

    if (r == -EINVAL) {
        /* Not the database's fault: trying again would stop every later record too. */
        vg_warning(TAG, "the store refused %zu audit records as invalid; they are only in the file",
                   n);
        s->dropped += n;
        vg_counter_add(&vg_metrics.audit_store_dropped, n);
    } else if (r < 0) {
        return r;
    } else {
        s->written += n;
    }
    for (size_t i = 0; i < n; i++) {
        char *line = g_queue_pop_head(&s->queue);
        s->queued_bytes -= strlen(line);
        g_free(line);
    }
    return 0;
}

/* Note a write's outcome in the log: once when writes start failing, once when they work again. */
static void report_locked(vg_audit_ship *s, int r)
{
    if (r < 0 && !s->failing) {
        s->failing = true;
        vg_warning(TAG,
                   "audit records cannot be written to the store %s: %s (said once; they wait "
                   "in memory, at most %u, and are in the audit file)",
                   vg_store_path(s->store), g_strerror(-r), s->queue_max);
    } else if (r == 0 && s->failing) {
        s->failing = false;
        if (s->dropped_since > 0)
            vg_notice(TAG,
                      "audit records are written to the store again; %" G_GUINT64_FORMAT
                      " were dropped meanwhile (they are in the audit file)",
                      s->dropped_since);
        else
            vg_notice(TAG, "audit records are written to the store again");
    }
    if (r == 0) {
        s->dropped_since = 0;
        s->drop_logged = false;
    }
}

static gpointer writer_thread(gpointer data)
{
    vg_audit_ship *s = data;
    int64_t retry_at = 0;

    g_mutex_lock(&s->lock);
    for (;;) {
        int r;

        while (!s->stopping &&
               (s->queue.length == 0 || (s->failing && g_get_monotonic_time() < retry_at))) {
            if (s->queue.length == 0)
                g_cond_wait(&s->cond, &s->lock);
            else
                (void)g_cond_wait_until(&s->cond, &s->lock, retry_at);
        }
        if (s->stopping)
            break;
        r = write_batch_locked(s);
        report_locked(s, r);
        if (r < 0)
            retry_at = g_get_monotonic_time() + s->retry_us;
    }
    /* Stopping: one last go at what is left, unless the store was failing anyway. */
    while (!s->failing && s->queue.length > 0) {
        int r = write_batch_locked(s);
        report_locked(s, r);
    }
    if (s->queue.length > 0)
        vg_warning(TAG,
                   "%u audit records were not written to the store %s before stopping (they are "
                   "in the audit file)",
                   s->queue.length, vg_store_path(s->store));
    g_mutex_unlock(&s->lock);
    return NULL;
}

static void ship_free(vg_audit_ship *s)
{
    vg_store_close(s->store);
    g_queue_clear_full(&s->queue, g_free);
    g_mutex_clear(&s->lock);
    g_cond_clear(&s->cond);
    g_free(s->instance);
    g_free(s);
}

int vg_audit_ship_start(const vg_store_options *so, vg_audit *audit, const char *instance,
                        const vg_audit_ship_options *opt, vg_audit_ship **out)
{
    vg_audit_ship *s;
    int r;

    if (!so || !audit || !vg_name_valid(instance) || !out)
        return -EINVAL;
    s = g_new0(vg_audit_ship, 1);
    g_mutex_init(&s->lock);
    g_cond_init(&s->cond);
    g_queue_init(&s->queue);
    s->audit = audit;
    s->instance = g_strdup(instance);
    s->queue_max = opt && opt->queue_max ? opt->queue_max : VG_AUDIT_SHIP_QUEUE_MAX;
    s->retry_us = (int64_t)(opt && opt->retry_ms ? opt->retry_ms : VG_AUDIT_SHIP_RETRY_MS) *
                  G_TIME_SPAN_MILLISECOND;
    if ((r = vg_store_open_with(so, &s->store)) < 0) {
        vg_error(TAG, "cannot open a store connection for the audit records: %s", g_strerror(-r));
        s->store = NULL;
        ship_free(s);
        return r;
    }
    vg_store_set_quiet(s->store, true);
    if ((r = vg_audit_follow(audit, 0, on_record, s, NULL, &s->handle)) < 0) {
        ship_free(s);
        return r;
    }
    s->thread = g_thread_new("vg-audit-store", writer_thread, s);
    *out = s;
    return 0;
}

void vg_audit_ship_get_stats(vg_audit_ship *s, vg_audit_ship_stats *out)
{
    g_mutex_lock(&s->lock);
    out->written = s->written;
    out->dropped = s->dropped;
    out->queued = s->queue.length;
    out->failing = s->failing;
    g_mutex_unlock(&s->lock);
}

void vg_audit_ship_stop(vg_audit_ship *s)
{
    if (!s)
        return;
    /* After this no record arrives: the stop's last write sees all there will be. */
    vg_audit_unfollow(s->audit, s->handle);
    g_mutex_lock(&s->lock);
    s->stopping = true;
    g_cond_signal(&s->cond);
    g_mutex_unlock(&s->lock);
    g_thread_join(s->thread);
    ship_free(s);
}
