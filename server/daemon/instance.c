/*
 * vmgate — this vmgated's registration, heartbeat and placements in the
 * store (see instance.h for what and the threading rules).
 */
#include "instance.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cluster.h"
#include "log.h"

#define TAG "instance"

struct vg_instance {
    vg_store *store; /* the heartbeat's own connection */
    vg_registry *registry;
    vg_sessions *sessions; /* NULL: no viewers written, no events handled */
    vg_audit *audit;
    char *name, *address;
    GThread *thread;
    int wake; /* eventfd: stop or new ports */

    GMutex lock; /* guards what follows */
    bool stopping;
    bool reregister; /* the ports changed */
    unsigned ports[3];

    /* The heartbeat thread's own (the main thread's before it starts). */
    bool registered;
    GHashTable *synced;  /* VM name -> state as last written; NULL: write them all */
    GHashTable *viewers; /* viewer id -> vg_store_viewer as last written; NULL: all */
    bool listening;      /* the bus is there (PostgreSQL) */
    bool failing;        /* the last beat failed (logged once) */
};

static int do_register(vg_instance *in)
{
    vg_store_instance_info info = {.name = in->name, .address = in->address};
    int r;

    g_mutex_lock(&in->lock);
    info.vnc_port = in->ports[0];
    info.rdp_port = in->ports[1];
    info.web_port = in->ports[2];
    in->reregister = false;
    g_mutex_unlock(&in->lock);
    r = vg_store_instance_register(in->store, &info);
    if (r == 0) {
        in->registered = true;
        /* Whatever the store held for this name may be stale: write everything again. */
        g_clear_pointer(&in->synced, g_hash_table_unref);
        g_clear_pointer(&in->viewers, g_hash_table_unref);
    }
    return r;
}

static vg_store_placement *placement_new(const char *vm, const char *state)
{
    vg_store_placement *p = g_new0(vg_store_placement, 1);
    p->vm = g_strdup(vm);
    p->state = g_strdup(state);
    return p;
}

/* The registry's VMs now: name -> state. */
static GHashTable *current_vms(vg_instance *in)
{
    GHashTable *now = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    GArray *vms = vg_registry_list(in->registry);

    for (guint i = 0; i < vms->len; i++) {
        const vg_vm_info *v = &g_array_index(vms, vg_vm_info, i);
        /* A name the store would refuse would fail every write of the others too. */
        if (!vg_vm_name_valid(v->name))
            continue;
        /* The state texts are static strings. */
        g_hash_table_insert(now, g_strdup(v->name), (gpointer)vg_vm_info_state_text(v));
    }
    g_array_unref(vms);
    return now;
}

/*
 * Write to the store what changed between @*last (what it was last told;
 * NULL: nothing yet, so all of @now replaces what it holds) and @now, two
 * tables of key -> value compared with @same: each new or changed value as
 * the row @row makes of it (@row_free frees those rows, NULL: none), each
 * key gone. What failed is tried again at the next beat: @*last becomes
 * @now (taken) only once the store took the change.
 */
static int sync_table(vg_instance *in, GHashTable *now, GHashTable **last, GEqualFunc same,
                      gpointer (*row)(gpointer key, gpointer value), GDestroyNotify row_free,
                      int (*update)(vg_store *, const char *, GPtrArray *, GPtrArray *),
                      int (*replace)(vg_store *, const char *, GPtrArray *))
{
    g_autoptr(GPtrArray) set = g_ptr_array_new_with_free_func(row_free);
    g_autoptr(GPtrArray) removed = g_ptr_array_new();
    GHashTableIter it;
    gpointer key, value;
    int r;

    g_hash_table_iter_init(&it, now);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        gpointer was = *last ? g_hash_table_lookup(*last, key) : NULL;
        if (!was || !same(was, value))
            g_ptr_array_add(set, row(key, value));
    }
    if (*last) {
        g_hash_table_iter_init(&it, *last);
        while (g_hash_table_iter_next(&it, &key, &value))
            if (!g_hash_table_contains(now, key))
                g_ptr_array_add(removed, key);
        if (set->len == 0 && removed->len == 0) {
            g_hash_table_unref(now);
            return 0;
        }
        r = update(in->store, in->name, set, removed);
    } else {
        r = replace(in->store, in->name, set);
    }
    if (r < 0) {
        g_hash_table_unref(now);
        return r;
    }
    if (*last)
        g_hash_table_unref(*last);
    *last = now;
    return 0;
}

static gpointer placement_row(gpointer vm, gpointer state)
{
    return placement_new(vm, state);
}

/* The registry's VMs (everything after a registration). */
static int sync_placements(vg_instance *in)
{
    /* Without libvirt the registry does not know every VM: keep what the store has. */
    if (!vg_registry_connected(in->registry))
        return 0;
    return sync_table(in, current_vms(in), &in->synced, g_str_equal, placement_row,
                      (GDestroyNotify)vg_store_placement_free, vg_store_placement_update,
                      vg_store_placement_replace);
}

/* The live viewers now: id -> vg_store_viewer (as the store would hold them). */
static GHashTable *current_viewers(vg_instance *in)
{
    GHashTable *now =
        g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)vg_store_viewer_free);
    g_autoptr(GPtrArray) list = vg_sessions_list(in->sessions);

    for (guint i = 0; i < list->len; i++) {
        vg_session_info *s = g_ptr_array_index(list, i);
        if (!vg_vm_name_valid(s->vm))
            continue;
        for (guint j = 0; j < s->viewers->len; j++) {
            vg_viewer_info *v = &g_array_index(s->viewers, vg_viewer_info, j);
            vg_store_viewer *w;
            /* A name the store would refuse would fail every write of the others too. */
            if (!vg_name_valid(v->user))
                continue;
            w = g_new0(vg_store_viewer, 1);
            w->id = g_strdup(v->id);
            w->session = g_strdup(s->id);
            w->vm = g_strdup(s->vm);
            w->user = g_strdup(v->user);
            w->protocol = g_strdup(v->protocol);
            w->address = g_strdup(v->address);
            w->role = v->role;
            w->since = v->since;
            g_hash_table_insert(now, w->id, w);
        }
    }
    return now;
}

static gboolean viewer_same(gconstpointer pa, gconstpointer pb)
{
    const vg_store_viewer *a = pa, *b = pb;
    return strcmp(a->session, b->session) == 0 && strcmp(a->vm, b->vm) == 0 &&
           strcmp(a->user, b->user) == 0 && strcmp(a->protocol, b->protocol) == 0 &&
           strcmp(a->address, b->address) == 0 && a->role == b->role && a->since == b->since;
}

/* The table's own viewer is the row (the table keeps it). */
static gpointer viewer_row(gpointer id, gpointer viewer)
{
    (void)id;
    return viewer;
}

/* As sync_placements, for the live viewers (a role change rewrites the viewer's row). */
static int sync_viewers(vg_instance *in)
{
    if (!in->sessions)
        return 0;
    return sync_table(in, current_viewers(in), &in->viewers, viewer_same, viewer_row, NULL,
                      vg_store_viewer_update, vg_store_viewer_replace);
}

/* One beat: register if needed (or the row is gone), else a heartbeat; then the placements. */
static void beat(vg_instance *in)
{
    bool reregister;
    int r;

    g_mutex_lock(&in->lock);
    reregister = in->reregister;
    g_mutex_unlock(&in->lock);
    if (!in->registered || reregister) {
        r = do_register(in);
    } else {
        r = vg_store_instance_heartbeat(in->store, in->name);
        if (r == -ENOENT) /* someone removed it: be there again */
            r = do_register(in);
    }
    if (r == 0)
        r = sync_placements(in);
    if (r == 0)
        r = sync_viewers(in);
    if (r < 0 && !in->failing) {
        vg_warning(TAG,
                   "instance %s: the heartbeat cannot be recorded in the store %s: %s (said "
                   "once; other instances will call this one down until it is)",
                   in->name, vg_store_path(in->store), g_strerror(-r));
        in->failing = true;
    } else if (r == 0 && in->failing) {
        vg_notice(TAG, "instance %s: the heartbeat is recorded in the store again", in->name);
        in->failing = false;
    }
}

/* An event from the bus (vg_store_wait_notifications), on the heartbeat thread. */
static void on_event(void *opaque, const char *channel, const char *payload)
{
    vg_instance *in = opaque;

    vg_cluster_handle(in->store, in->sessions, in->audit, in->name, channel, payload);
}

/* Wait until @until (monotonic) for the bus's events (handled as they come) or a wake-up. */
static void wait_until(vg_instance *in, int64_t until)
{
    for (;;) {
        int64_t left = until - g_get_monotonic_time();
        int ms, r = -ENOTSUP;
        bool stop;

        g_mutex_lock(&in->lock);
        stop = in->stopping || in->reregister;
        g_mutex_unlock(&in->lock);
        if (stop || left <= 0)
            return;
        ms = (int)((left + 999) / 1000);
        if (in->listening)
            r = vg_store_wait_notifications(in->store, in->wake, ms, on_event, in);
        if (r < 0) {
            /* No bus (SQLite) or the connection is away (the next beat connects again). */
            struct pollfd pfd = {.fd = in->wake, .events = POLLIN};
            if (poll(&pfd, 1, ms) < 0 && errno != EINTR)
                return;
        }
        {
            uint64_t n;
            /* Non-blocking: nothing to read is fine. */
            if (read(in->wake, &n, sizeof(n)) < 0 && errno != EAGAIN)
                return;
        }
    }
}

/* Beats every second on the monotonic clock (the first was vg_instance_start's); a beat that
 * took longer is not made up for; new ports are registered at once. Between beats it waits
 * on the bus, so an event is handled as it arrives, not at the next beat. */
static gpointer heartbeat_thread(gpointer data)
{
    vg_instance *in = data;
    const int64_t period = VG_INSTANCE_HEARTBEAT_MS * G_TIME_SPAN_MILLISECOND;
    int64_t next = g_get_monotonic_time() + period;

    for (;;) {
        int64_t now;
        bool stopping;

        wait_until(in, next);
        g_mutex_lock(&in->lock);
        stopping = in->stopping;
        g_mutex_unlock(&in->lock);
        if (stopping)
            break;
        beat(in);
        now = g_get_monotonic_time();
        next += period;
        if (next <= now)
            next = now + period;
    }
    return NULL;
}

/* Wake the heartbeat thread (stop, or new ports). */
static void wake(vg_instance *in)
{
    uint64_t one = 1;

    if (write(in->wake, &one, sizeof(one)) < 0)
        vg_debug(TAG, "wake: %s", g_strerror(errno)); /* full: it is awake already */
}

static void instance_free(vg_instance *in)
{
    vg_store_close(in->store);
    if (in->synced)
        g_hash_table_unref(in->synced);
    if (in->viewers)
        g_hash_table_unref(in->viewers);
    if (in->wake >= 0)
        close(in->wake);
    g_mutex_clear(&in->lock);
    g_free(in->name);
    g_free(in->address);
    g_free(in);
}

int vg_instance_start(const vg_store_options *so, const vg_store_instance_info *info,
                      vg_registry *registry, vg_sessions *sessions, vg_audit *audit,
                      vg_instance **out)
{
    vg_instance *in;
    int r;

    if (!so || !info || !vg_name_valid(info->name) || !info->address || !registry || !out)
        return -EINVAL;
    in = g_new0(vg_instance, 1);
    g_mutex_init(&in->lock);
    in->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (in->wake < 0) {
        r = -errno;
        vg_error(TAG, "instance %s: eventfd: %s", info->name, g_strerror(-r));
        in->store = NULL;
        instance_free(in);
        return r;
    }
    in->registry = registry;
    in->sessions = sessions;
    in->audit = audit;
    in->name = g_strdup(info->name);
    in->address = g_strdup(info->address);
    in->ports[0] = info->vnc_port;
    in->ports[1] = info->rdp_port;
    in->ports[2] = info->web_port;
    if ((r = vg_store_open_with(so, &in->store)) < 0) {
        vg_error(TAG, "instance %s: cannot open a store connection for the heartbeat: %s", in->name,
                 g_strerror(-r));
        in->store = NULL;
        instance_free(in);
        return r;
    }
    vg_store_set_quiet(in->store, true);
    /* The bus, on this connection: kicks and revocations from other instances. Listened to
     * again by every new connection; without one (SQLite) there are no other instances. */
    if (in->sessions) {
        r = vg_cluster_listen(in->store);
        in->listening = r != -ENOTSUP;
        if (r < 0 && r != -ENOTSUP)
            vg_warning(TAG, "instance %s: cannot listen for other instances' events yet: %s",
                       in->name, g_strerror(-r));
    }
    /* The first beat here, so the instance is listed once vmgated says it is ready. */
    beat(in);
    if (in->registered)
        vg_notice(TAG, "instance %s registered (address %s; VNC %u, RDP %u, web %u)", in->name,
                  in->address, in->ports[0], in->ports[1], in->ports[2]);
    in->thread = g_thread_new("vg-heartbeat", heartbeat_thread, in);
    *out = in;
    return 0;
}

void vg_instance_set_ports(vg_instance *in, unsigned vnc, unsigned rdp, unsigned web)
{
    if (!in)
        return;
    g_mutex_lock(&in->lock);
    in->ports[0] = vnc;
    in->ports[1] = rdp;
    in->ports[2] = web;
    in->reregister = true;
    g_mutex_unlock(&in->lock);
    wake(in);
}

void vg_instance_stop(vg_instance *in)
{
    int r;

    if (!in)
        return;
    g_mutex_lock(&in->lock);
    in->stopping = true;
    g_mutex_unlock(&in->lock);
    wake(in);
    g_thread_join(in->thread);
    r = vg_store_instance_stop(in->store, in->name);
    if (r < 0)
        vg_warning(TAG,
                   "instance %s: cannot mark it stopped in the store: %s (it shows as down "
                   "once its heartbeat is old)",
                   in->name, g_strerror(-r));
    else
        vg_notice(TAG, "instance %s marked stopped", in->name);
    instance_free(in);
}
