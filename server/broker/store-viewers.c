/*
 * vmgate — the store's view of every instance's live viewers (see
 * store.h): each instance writes its own, every instance lists them all;
 * and the access rule instances apply to their viewers when another one
 * takes access away.
 *
 * Threading: every exported function takes s->lock for its whole duration.
 */
#include "store-priv.h"

#include <errno.h>
#include <string.h>

void vg_store_viewer_free(vg_store_viewer *v)
{
    if (!v)
        return;
    g_free(v->instance);
    g_free(v->id);
    g_free(v->session);
    g_free(v->vm);
    g_free(v->user);
    g_free(v->protocol);
    g_free(v->address);
    g_free(v);
}

/* Whether @str is there and at most @max bytes (empty allowed when @empty_ok). */
static bool text_ok(const char *str, size_t max, bool empty_ok)
{
    return str && (empty_ok || *str) && strnlen(str, max + 1) <= max;
}

static bool viewer_valid(const vg_store_viewer *v)
{
    return v && text_ok(v->id, 23, false) && text_ok(v->session, 23, false) &&
           vg_vm_name_valid(v->vm) && vg_name_valid(v->user) && text_ok(v->protocol, 7, false) &&
           text_ok(v->address, 63, true) && (unsigned)v->role <= VG_ROLE_OBSERVER;
}

typedef struct viewer_change {
    const char *instance;
    GPtrArray *set, *removed;
    bool replace;
} viewer_change;

static int viewer_body(vg_store *s, void *data)
{
    viewer_change *c = data;
    int r;

    if ((r = vg_store_instance_known_locked(s, c->instance)) < 0)
        return r;
    if (c->replace)
        r = vg_store_run_locked(s, "DELETE FROM viewers WHERE instance = ?1", "replace viewers",
                                "t", c->instance);
    for (guint k = 0; r == 0 && c->removed && k < c->removed->len; k++)
        r = vg_store_run_locked(s, "DELETE FROM viewers WHERE instance = ?1 AND id = ?2",
                                "remove viewer", "tt", c->instance,
                                (const char *)g_ptr_array_index(c->removed, k));
    for (guint k = 0; r == 0 && c->set && k < c->set->len; k++) {
        const vg_store_viewer *v = g_ptr_array_index(c->set, k);
        r = vg_store_run_locked(s,
                                "INSERT INTO viewers (instance, id, session, vm, user_name, "
                                "protocol, role, address, since) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                                "ON CONFLICT (instance, id) DO UPDATE SET "
                                "session = excluded.session, vm = excluded.vm, "
                                "user_name = excluded.user_name, protocol = excluded.protocol, "
                                "role = excluded.role, address = excluded.address, "
                                "since = excluded.since",
                                "set viewer", "tttttttti", c->instance, v->id, v->session, v->vm,
                                v->user, v->protocol, vg_role_name(v->role), v->address, v->since);
    }
    return r;
}

static bool viewers_valid(GPtrArray *viewers)
{
    for (guint k = 0; viewers && k < viewers->len; k++)
        if (!viewer_valid(g_ptr_array_index(viewers, k)))
            return false;
    return true;
}

int vg_store_viewer_replace(vg_store *s, const char *instance, GPtrArray *viewers)
{
    viewer_change c = {.instance = instance, .set = viewers, .replace = true};

    if (!vg_name_valid(instance) || !viewers_valid(viewers))
        return -EINVAL;
    return vg_store_transact(s, viewer_body, &c);
}

int vg_store_viewer_update(vg_store *s, const char *instance, GPtrArray *set, GPtrArray *removed)
{
    viewer_change c = {.instance = instance, .set = set, .removed = removed};

    if (!vg_name_valid(instance) || !viewers_valid(set))
        return -EINVAL;
    for (guint k = 0; removed && k < removed->len; k++)
        if (!text_ok(g_ptr_array_index(removed, k), 23, false))
            return -EINVAL;
    return vg_store_transact(s, viewer_body, &c);
}

/* A viewer row, and its instance's stopped flag and heartbeat age (the last two columns). */
typedef struct viewer_row {
    vg_store_viewer v;
    bool stopped;
    int64_t age_ms;
} viewer_row;

static void *make_viewer(const vg_store_row *row)
{
    viewer_row *vr = g_new0(viewer_row, 1);
    vg_role role = VG_ROLE_OBSERVER;

    vr->v.instance = vg_store_row_strdup(row, 0);
    vr->v.id = vg_store_row_strdup(row, 1);
    vr->v.session = vg_store_row_strdup(row, 2);
    vr->v.vm = vg_store_row_strdup(row, 3);
    vr->v.user = vg_store_row_strdup(row, 4);
    vr->v.protocol = vg_store_row_strdup(row, 5);
    /* The table's CHECK allows only role names; anything else would be the least power. */
    if (vg_role_parse(vg_store_row_text(row, 6), &role) < 0)
        role = VG_ROLE_OBSERVER;
    vr->v.role = role;
    vr->v.address = vg_store_row_strdup(row, 7);
    vr->v.since = vg_store_row_int(row, 8);
    vr->stopped = vg_store_row_int(row, 9) != 0;
    vr->age_ms = vg_store_row_int(row, 10);
    return vr;
}

/* viewer_row embeds vg_store_viewer first, so this frees either. */
static void viewer_row_free(void *p)
{
    vg_store_viewer_free(p);
}

/* Sort keys: the ids' numbers, so that v10 comes after v9. */
static gint compare_viewers(gconstpointer a, gconstpointer b)
{
    const vg_store_viewer *x = *(vg_store_viewer *const *)a;
    const vg_store_viewer *y = *(vg_store_viewer *const *)b;
    int c;

    if ((c = strcmp(x->instance, y->instance)) != 0 || (c = strcmp(x->vm, y->vm)) != 0)
        return c;
    if (strcmp(x->session, y->session) != 0)
        return g_ascii_strtoull(x->session + 1, NULL, 10) <
                       g_ascii_strtoull(y->session + 1, NULL, 10)
                   ? -1
                   : 1;
    return g_ascii_strtoull(x->id + 1, NULL, 10) < g_ascii_strtoull(y->id + 1, NULL, 10) ? -1 : 1;
}

int vg_store_viewer_list(vg_store *s, int64_t down_after_ms, GPtrArray **out)
{
    int r;

    if (!out || down_after_ms < 0)
        return -EINVAL;
    g_mutex_lock(&s->lock);
    r = vg_store_list_locked(s,
                             "SELECT v.instance, v.id, v.session, v.vm, v.user_name, v.protocol, "
                             "v.role, v.address, v.since, i.stopped, vg_now_ms() - i.heartbeat "
                             "FROM viewers v JOIN instances i ON i.name = v.instance",
                             NULL, NULL, make_viewer, viewer_row_free, out);
    g_mutex_unlock(&s->lock);
    if (r < 0)
        return r;
    for (guint k = 0; k < (*out)->len; k++) {
        viewer_row *vr = g_ptr_array_index(*out, k);
        vr->v.instance_up = vg_store_instance_is_up(vr->stopped, vr->age_ms, down_after_ms);
    }
    g_ptr_array_sort(*out, compare_viewers);
    return 0;
}

int vg_store_user_may_reach(vg_store *s, const char *user, const char *vm, bool *yes)
{
    int64_t n = 0;
    int r;

    if (!vg_name_valid(user) || !vg_vm_name_valid(vm) || !yes)
        return -EINVAL;
    g_mutex_lock(&s->lock);
    r = vg_store_query_int_locked(
        s,
        "SELECT count(*) FROM users u WHERE u.name = ?1 AND u.disabled = 0 AND ("
        "EXISTS (SELECT 1 FROM assignments a WHERE a.user_id = u.id AND a.vm = ?2) OR "
        "EXISTS (SELECT 1 FROM entitlements e JOIN pool_members m ON m.pool_id = e.pool_id "
        "WHERE e.user_id = u.id AND m.vm = ?2))",
        &n, "tt", user, vm);
    g_mutex_unlock(&s->lock);
    if (r == 0)
        *yes = n > 0;
    return r;
}
