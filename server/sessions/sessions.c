/*
 * vmgate — the registry of live sessions (see sessions.h).
 *
 * A session is a VM with at least one viewer; it is created by the first
 * vg_sessions_join for its VM and goes with its last viewer. Ids are never
 * reused while the registry lives: sessions "s1", "s2", ..., viewers "v1",
 * "v2", ...
 *
 * Kicking: vg_sessions_kick marks the viewers as kicked (from then on they
 * may not send input and are no longer listed or counted), calls each one's
 * kick callback without the mutex, then removes them. The front end's own
 * vg_sessions_leave for a kicked viewer is then a harmless no-op. So that
 * the callback's opaque stays valid, vg_sessions_leave waits while a kick
 * callback for the same viewer is running on another thread; called from
 * inside the callback itself it does not wait. A kick callback therefore
 * must not wait for anything the viewer's thread may hold while it calls
 * vg_sessions_leave: it should only flag the viewer and wake its thread.
 *
 * Threading: s->lock guards everything; s->cond signals the end of kick
 * callbacks. Callbacks run without the lock. Viewer records are reference
 * counted under the lock so a kicker can hold one across its callback.
 * vg_sessions_free must not run concurrently with anything else.
 */
#include "sessions.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "policy.h"

#define DEFAULT_KICK_REASON "disconnected by an administrator"

typedef struct session session;

typedef struct viewer {
    int refs;
    vg_viewer_info info;
    session *session; /* NULL once removed */
    const vg_viewer_ops *ops;
    void *opaque;
    bool kicked;     /* claimed by a kick: no input, not listed */
    GThread *kicker; /* thread running its kick callback, or NULL */
} viewer;

struct session {
    char id[24];
    char vm[65];
    GPtrArray *viewers; /* of viewer *, in join order; borrowed from s->viewers */
};

struct vg_sessions {
    GMutex lock;
    GCond cond;
    GHashTable *by_vm;   /* vm name → session * (owned) */
    GHashTable *by_id;   /* session id → session * (borrowed) */
    GHashTable *viewers; /* viewer id → viewer * (holds one reference) */
    uint64_t next_session;
    uint64_t next_viewer;
};

static void session_free(session *se)
{
    if (!se)
        return;
    g_ptr_array_unref(se->viewers);
    g_free(se);
}

static void viewer_unref_locked(viewer *v)
{
    if (--v->refs == 0)
        g_free(v);
}

vg_sessions *vg_sessions_new(void)
{
    vg_sessions *s = g_new0(vg_sessions, 1);

    g_mutex_init(&s->lock);
    g_cond_init(&s->cond);
    s->by_vm = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)session_free);
    s->by_id = g_hash_table_new(g_str_hash, g_str_equal);
    s->viewers = g_hash_table_new(g_str_hash, g_str_equal);
    s->next_session = 1;
    s->next_viewer = 1;
    return s;
}

void vg_sessions_free(vg_sessions *s)
{
    GHashTableIter it;
    gpointer value;

    if (!s)
        return;
    g_hash_table_iter_init(&it, s->viewers);
    while (g_hash_table_iter_next(&it, NULL, &value))
        viewer_unref_locked(value);
    g_hash_table_destroy(s->viewers);
    g_hash_table_destroy(s->by_id);
    g_hash_table_destroy(s->by_vm);
    g_cond_clear(&s->cond);
    g_mutex_clear(&s->lock);
    g_free(s);
}

/* Whether @str fits a buffer of @size bytes with its NUL, and is not empty. */
static bool fits(const char *str, size_t size)
{
    return str && *str && strlen(str) < size;
}

/*
 * @return 0 and viewer_id filled; -EINVAL for a missing argument, an empty
 *         or over-long VM, user or protocol name (the address is cut to
 *         fit); -ENOMEM.
 */
int vg_sessions_join(vg_sessions *s, const char *vm, const char *user, const char *protocol,
                     vg_role role, const char *address, const vg_viewer_ops *ops, void *opaque,
                     char viewer_id[24])
{
    vg_viewer_info *info;
    session *se;
    viewer *v;

    if (!s || !viewer_id || !fits(vm, sizeof(se->vm)) || !fits(user, sizeof(info->user)) ||
        !fits(protocol, sizeof(info->protocol)) || (unsigned)role > VG_ROLE_OBSERVER)
        return -EINVAL;

    v = g_try_new0(viewer, 1);
    if (!v)
        return -ENOMEM;
    v->refs = 1;
    v->ops = ops;
    v->opaque = opaque;
    info = &v->info;
    g_strlcpy(info->user, user, sizeof(info->user));
    g_strlcpy(info->protocol, protocol, sizeof(info->protocol));
    g_strlcpy(info->address, address ? address : "", sizeof(info->address));
    info->role = role;
    info->since = g_get_real_time() / G_USEC_PER_SEC;

    g_mutex_lock(&s->lock);
    se = g_hash_table_lookup(s->by_vm, vm);
    if (!se) {
        se = g_new0(session, 1);
        g_snprintf(se->id, sizeof(se->id), "s%" PRIu64, s->next_session++);
        g_strlcpy(se->vm, vm, sizeof(se->vm));
        se->viewers = g_ptr_array_new();
        g_hash_table_insert(s->by_vm, se->vm, se);
        g_hash_table_insert(s->by_id, se->id, se);
    }
    g_snprintf(info->id, sizeof(info->id), "v%" PRIu64, s->next_viewer++);
    v->session = se;
    g_ptr_array_add(se->viewers, v);
    g_hash_table_insert(s->viewers, info->id, v);
    memcpy(viewer_id, info->id, sizeof(info->id));
    g_mutex_unlock(&s->lock);
    return 0;
}

/* Take @v out of the registry (dropping the registry's reference). */
static void remove_locked(vg_sessions *s, viewer *v)
{
    session *se = v->session;

    if (!se)
        return;
    v->session = NULL;
    g_ptr_array_remove(se->viewers, v);
    if (se->viewers->len == 0) {
        g_hash_table_remove(s->by_id, se->id);
        g_hash_table_remove(s->by_vm, se->vm); /* frees se */
    }
    g_hash_table_remove(s->viewers, v->info.id);
    viewer_unref_locked(v);
}

void vg_sessions_leave(vg_sessions *s, const char *viewer_id)
{
    viewer *v;

    if (!s || !viewer_id)
        return;
    g_mutex_lock(&s->lock);
    v = g_hash_table_lookup(s->viewers, viewer_id);
    if (v) {
        v->refs++;
        /* Keep the viewer's opaque alive until its kick callback has returned. */
        while (v->kicker && v->kicker != g_thread_self())
            g_cond_wait(&s->cond, &s->lock);
        remove_locked(s, v);
        viewer_unref_locked(v);
    }
    g_mutex_unlock(&s->lock);
}

/* The viewers of @se that are not being kicked. */
static unsigned visible_viewers(const session *se)
{
    unsigned n = 0;

    for (guint i = 0; i < se->viewers->len; i++)
        if (!((viewer *)g_ptr_array_index(se->viewers, i))->kicked)
            n++;
    return n;
}

static gint compare_info(gconstpointer a, gconstpointer b)
{
    const vg_session_info *x = *(vg_session_info *const *)a;
    const vg_session_info *y = *(vg_session_info *const *)b;
    return strcmp(x->vm, y->vm);
}

void vg_session_info_free(gpointer info)
{
    vg_session_info *i = info;

    if (!i)
        return;
    if (i->viewers)
        g_array_unref(i->viewers);
    g_free(i);
}

GPtrArray *vg_sessions_list(vg_sessions *s)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(vg_session_info_free);
    GHashTableIter it;
    gpointer value;

    if (!s)
        return out;
    g_mutex_lock(&s->lock);
    g_hash_table_iter_init(&it, s->by_vm);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        session *se = value;
        vg_session_info *info;

        if (visible_viewers(se) == 0)
            continue;
        info = g_new0(vg_session_info, 1);
        memcpy(info->id, se->id, sizeof(info->id));
        memcpy(info->vm, se->vm, sizeof(info->vm));
        info->viewers = g_array_new(FALSE, FALSE, sizeof(vg_viewer_info));
        for (guint i = 0; i < se->viewers->len; i++) {
            viewer *v = g_ptr_array_index(se->viewers, i);
            if (!v->kicked)
                g_array_append_val(info->viewers, v->info);
        }
        g_ptr_array_add(out, info);
    }
    g_mutex_unlock(&s->lock);
    g_ptr_array_sort(out, compare_info);
    return out;
}

unsigned vg_sessions_viewer_count(vg_sessions *s, const char *vm)
{
    session *se;
    unsigned n = 0;

    if (!s || !vm)
        return 0;
    g_mutex_lock(&s->lock);
    se = g_hash_table_lookup(s->by_vm, vm);
    if (se)
        n = visible_viewers(se);
    g_mutex_unlock(&s->lock);
    return n;
}

/* Claim @v for this kick: it is then invisible and may not send input. */
static void claim_locked(viewer *v, GPtrArray *targets)
{
    v->kicked = true;
    v->kicker = g_thread_self();
    v->refs++;
    g_ptr_array_add(targets, v);
}

int vg_sessions_kick(vg_sessions *s, const char *id, const char *reason)
{
    g_autoptr(GPtrArray) targets = g_ptr_array_new();
    int n;

    if (!s || !id)
        return -ENOENT;
    if (!reason || !*reason)
        reason = DEFAULT_KICK_REASON;

    g_mutex_lock(&s->lock);
    if (id[0] == 's') {
        session *se = g_hash_table_lookup(s->by_id, id);
        for (guint i = 0; se && i < se->viewers->len; i++) {
            viewer *v = g_ptr_array_index(se->viewers, i);
            if (!v->kicked)
                claim_locked(v, targets);
        }
    } else if (id[0] == 'v') {
        viewer *v = g_hash_table_lookup(s->viewers, id);
        if (v && !v->kicked)
            claim_locked(v, targets);
    }
    g_mutex_unlock(&s->lock);

    if (targets->len == 0)
        return -ENOENT;
    for (guint i = 0; i < targets->len; i++) {
        viewer *v = g_ptr_array_index(targets, i);
        if (v->ops && v->ops->kick)
            v->ops->kick(v->opaque, reason);
    }

    g_mutex_lock(&s->lock);
    for (guint i = 0; i < targets->len; i++) {
        viewer *v = g_ptr_array_index(targets, i);
        v->kicker = NULL;
        remove_locked(s, v); /* a no-op if the callback left already */
        viewer_unref_locked(v);
    }
    g_cond_broadcast(&s->cond);
    g_mutex_unlock(&s->lock);
    n = (int)targets->len;
    return n;
}

bool vg_sessions_may_input(vg_sessions *s, const char *viewer_id)
{
    viewer *v;
    bool ok = false;

    if (!s || !viewer_id)
        return false;
    g_mutex_lock(&s->lock);
    v = g_hash_table_lookup(s->viewers, viewer_id);
    if (v && !v->kicked)
        ok = vg_policy_may_input(v->info.role);
    g_mutex_unlock(&s->lock);
    return ok;
}

unsigned vg_sessions_set_role(vg_sessions *s, const char *vm, const char *user, vg_role role)
{
    GHashTableIter it;
    gpointer val;
    unsigned n = 0;

    if (!s || !vm || !user)
        return 0;
    g_mutex_lock(&s->lock);
    g_hash_table_iter_init(&it, s->viewers);
    while (g_hash_table_iter_next(&it, NULL, &val)) {
        viewer *v = val;
        if (v->session && !v->kicked && strcmp(v->session->vm, vm) == 0 &&
            strcmp(v->info.user, user) == 0 && v->info.role != role) {
            v->info.role = role;
            n++;
        }
    }
    g_mutex_unlock(&s->lock);
    return n;
}
