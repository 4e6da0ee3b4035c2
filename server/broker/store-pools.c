/*
 * vmgate — the store's pools, entitlements and sticky pool VMs (see
 * store.h).
 *
 * Threading: every exported function takes s->lock for its whole duration.
 */
#include "store-priv.h"

#include <errno.h>

#define IDLE_MINUTES_MAX 10080

static int pool_policy_check(vg_idle_action action, unsigned *minutes)
{
    if (action == VG_IDLE_NONE) {
        *minutes = 0;
        return 0;
    }
    if ((action != VG_IDLE_SHUTDOWN && action != VG_IDLE_SUSPEND) || *minutes < 1 ||
        *minutes > IDLE_MINUTES_MAX)
        return -EINVAL;
    return 0;
}

static int pool_write(vg_store *s, const char *name, vg_idle_action action, unsigned minutes,
                      bool aofl, bool create)
{
    if (!vg_name_valid(name) || pool_policy_check(action, &minutes) < 0)
        return -EINVAL;
    if (create)
        return vg_store_change(s, false,
                               "INSERT INTO pools (name, idle_action, idle_minutes, "
                               "assign_on_first_login) "
                               "VALUES (?1, ?2, ?3, ?4)",
                               "create pool", "ttii", name, vg_idle_action_name(action),
                               (int64_t)minutes, (int64_t)aofl);
    return vg_store_change(s, true,
                           "UPDATE pools SET idle_action = ?2, idle_minutes = ?3, "
                           "assign_on_first_login = ?4 WHERE name = ?1",
                           "set pool policy", "ttii", name, vg_idle_action_name(action),
                           (int64_t)minutes, (int64_t)aofl);
}

int vg_store_pool_create(vg_store *s, const char *name, vg_idle_action idle_action,
                         unsigned idle_minutes, bool assign_on_first_login)
{
    return pool_write(s, name, idle_action, idle_minutes, assign_on_first_login, true);
}

int vg_store_pool_set_policy(vg_store *s, const char *name, vg_idle_action idle_action,
                             unsigned idle_minutes, bool assign_on_first_login)
{
    return pool_write(s, name, idle_action, idle_minutes, assign_on_first_login, false);
}

int vg_store_pool_del(vg_store *s, const char *name)
{
    if (!vg_name_valid(name))
        return -EINVAL;
    /* Members, entitlements and sticky VMs go by ON DELETE CASCADE. */
    return vg_store_change(s, true, "DELETE FROM pools WHERE name = ?1", "delete pool", "t", name);
}

/* The names a mutation of pools works on (which of them depends on the mutation). */
typedef struct names {
    const char *pool, *vm, *user;
} names;

static int add_vm_body(vg_store *s, void *data)
{
    const names *n = data;
    int64_t id;
    int r = vg_store_pool_id_locked(s, n->pool, &id);

    if (r == 0)
        r = vg_store_run_locked(s, "INSERT INTO pool_members (pool_id, vm) VALUES (?1, ?2)",
                                "add pool member", "it", id, n->vm);
    return r;
}

int vg_store_pool_add_vm(vg_store *s, const char *pool, const char *vm)
{
    if (!vg_name_valid(pool) || !vg_vm_name_valid(vm))
        return -EINVAL;
    return vg_store_transact(s, add_vm_body, &(names){.pool = pool, .vm = vm});
}

int vg_store_pool_remove_vm(vg_store *s, const char *pool, const char *vm)
{
    if (!vg_name_valid(pool) || !vg_vm_name_valid(vm))
        return -EINVAL;
    /* A sticky hold on the VM goes by ON DELETE CASCADE. */
    return vg_store_change(s, true,
                           "DELETE FROM pool_members WHERE vm = ?2 "
                           "AND pool_id = (SELECT id FROM pools WHERE name = ?1)",
                           "remove pool member", "tt", pool, vm);
}

static void pool_member_free(vg_store_pool_member *m)
{
    if (!m)
        return;
    g_free(m->vm);
    g_free(m->sticky_user);
    g_free(m);
}

void vg_store_pool_free(vg_store_pool *p)
{
    if (!p)
        return;
    g_free(p->name);
    if (p->members)
        g_ptr_array_unref(p->members);
    g_free(p);
}

static void *make_pool(const vg_store_row *row)
{
    vg_store_pool *p = g_new0(vg_store_pool, 1);
    p->name = vg_store_row_strdup(row, 0);
    if (vg_idle_action_parse(vg_store_row_text(row, 1), &p->idle_action) < 0)
        p->idle_action = VG_IDLE_NONE;
    p->idle_minutes = (unsigned)vg_store_row_int(row, 2);
    p->assign_on_first_login = vg_store_row_int(row, 3) != 0;
    p->members = g_ptr_array_new_with_free_func((GDestroyNotify)pool_member_free);
    return p;
}

static void *make_member(const vg_store_row *row)
{
    vg_store_pool_member *m = g_new0(vg_store_pool_member, 1);
    m->vm = vg_store_row_strdup(row, 0);
    m->sticky_user = vg_store_row_strdup(row, 1);
    return m;
}

/* Fill in the members of every pool in @pools, with the users their VMs are held for. */
static int pool_members_locked(vg_store *s, GPtrArray *pools)
{
    int r;

    for (guint i = 0; i < pools->len; i++) {
        vg_store_pool *p = g_ptr_array_index(pools, i);
        g_ptr_array_unref(p->members);
        p->members = NULL;
        r = vg_store_list_locked(s,
                                 "SELECT pool_members.vm, users.name FROM pool_members "
                                 "JOIN pools ON pools.id = pool_members.pool_id "
                                 "LEFT JOIN sticky ON sticky.pool_id = pool_members.pool_id "
                                 "  AND sticky.vm = pool_members.vm "
                                 "LEFT JOIN users ON users.id = sticky.user_id "
                                 "WHERE pools.name = ?1 ORDER BY pool_members.vm",
                                 p->name, NULL, make_member, (GDestroyNotify)pool_member_free,
                                 &p->members);
        if (r < 0)
            return r;
    }
    return 0;
}

static int pools_locked(vg_store *s, const char *only, GPtrArray **out)
{
    GPtrArray *pools = NULL;
    int r;

    r = vg_store_list_locked(
        s,
        "SELECT name, idle_action, idle_minutes, assign_on_first_login FROM pools "
        "WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
        only, NULL, make_pool, (GDestroyNotify)vg_store_pool_free, &pools);
    if (r < 0)
        return r;
    r = pool_members_locked(s, pools);
    if (r < 0) {
        g_ptr_array_unref(pools);
        return r;
    }
    *out = pools;
    return 0;
}

int vg_store_pool_get(vg_store *s, const char *name, vg_store_pool **out)
{
    GPtrArray *pools = NULL;
    int r;

    if (!vg_name_valid(name))
        return -EINVAL;
    g_mutex_lock(&s->lock);
    r = pools_locked(s, name, &pools);
    g_mutex_unlock(&s->lock);
    if (r < 0)
        return r;
    if (pools->len == 0)
        r = -ENOENT;
    else
        *out = g_ptr_array_steal_index(pools, 0);
    g_ptr_array_unref(pools);
    return r;
}

int vg_store_pool_list(vg_store *s, GPtrArray **out)
{
    int r;

    g_mutex_lock(&s->lock);
    r = pools_locked(s, NULL, out);
    g_mutex_unlock(&s->lock);
    return r;
}

/* ---- entitlements ---- */

static int entitle_body(vg_store *s, void *data)
{
    const names *n = data;
    int64_t uid, pid;
    int r = vg_store_user_id_locked(s, n->user, &uid);

    if (r == 0)
        r = vg_store_pool_id_locked(s, n->pool, &pid);
    if (r == 0)
        r = vg_store_run_locked(s, "INSERT INTO entitlements (user_id, pool_id) VALUES (?1, ?2)",
                                "entitle", "ii", uid, pid);
    return r;
}

int vg_store_entitle(vg_store *s, const char *user, const char *pool)
{
    if (!vg_name_valid(user) || !vg_name_valid(pool))
        return -EINVAL;
    return vg_store_transact(s, entitle_body, &(names){.pool = pool, .user = user});
}

static int unentitle_body(vg_store *s, void *data)
{
    const names *n = data;
    int64_t changes = 0;
    int r = vg_store_run_changes_locked(s,
                                        "DELETE FROM entitlements "
                                        "WHERE user_id = (SELECT id FROM users WHERE name = ?1) "
                                        "AND pool_id = (SELECT id FROM pools WHERE name = ?2)",
                                        "unentitle", &changes, "tt", n->user, n->pool);

    if (r == 0 && changes == 0)
        r = -ENOENT;
    /* A VM held for someone who may no longer use the pool would be lost to everyone. */
    if (r == 0)
        r = vg_store_run_locked(s,
                                "DELETE FROM sticky "
                                "WHERE user_id = (SELECT id FROM users WHERE name = ?1) "
                                "AND pool_id = (SELECT id FROM pools WHERE name = ?2)",
                                "release sticky", "tt", n->user, n->pool);
    return r;
}

int vg_store_unentitle(vg_store *s, const char *user, const char *pool)
{
    if (!vg_name_valid(user) || !vg_name_valid(pool))
        return -EINVAL;
    return vg_store_transact(s, unentitle_body, &(names){.pool = pool, .user = user});
}

static void *make_string(const vg_store_row *row)
{
    return vg_store_row_strdup(row, 0);
}

int vg_store_entitlements_for_user(vg_store *s, const char *user, GPtrArray **out)
{
    int64_t id;
    int r;

    if (!vg_name_valid(user))
        return -EINVAL;
    g_mutex_lock(&s->lock);
    r = vg_store_user_id_locked(s, user, &id);
    if (r == 0)
        r = vg_store_list_locked(s,
                                 "SELECT pools.name FROM entitlements "
                                 "JOIN pools ON pools.id = entitlements.pool_id "
                                 "JOIN users ON users.id = entitlements.user_id "
                                 "WHERE users.name = ?1 ORDER BY pools.name",
                                 user, NULL, make_string, g_free, out);
    g_mutex_unlock(&s->lock);
    return r;
}

/* ---- sticky pool VMs ---- */

int vg_store_sticky_get(vg_store *s, const char *pool, const char *user, char **vm)
{
    GPtrArray *a = NULL;
    int r;

    if (!vg_name_valid(pool) || !vg_name_valid(user))
        return -EINVAL;
    g_mutex_lock(&s->lock);
    r = vg_store_list_locked(s,
                             "SELECT sticky.vm FROM sticky "
                             "JOIN pools ON pools.id = sticky.pool_id "
                             "JOIN users ON users.id = sticky.user_id "
                             "WHERE pools.name = ?1 AND users.name = ?2",
                             pool, user, make_string, g_free, &a);
    g_mutex_unlock(&s->lock);
    if (r < 0)
        return r;
    if (a->len == 0)
        r = -ENOENT;
    else
        *vm = g_ptr_array_steal_index(a, 0);
    g_ptr_array_unref(a);
    return r;
}

static int sticky_set_body(vg_store *s, void *data)
{
    const names *n = data;
    int64_t uid, pid, held, changes = 0;
    int r = vg_store_user_id_locked(s, n->user, &uid);

    if (r == 0)
        r = vg_store_pool_id_locked(s, n->pool, &pid);
    if (r < 0)
        return r;
    /* One statement claims the VM or does nothing, never a read then a write: of two gateways
     * sharing the database, the second waits for the first's commit and then inserts nothing.
     * A missing member fails the foreign key: -ENOENT. */
    r = vg_store_run_changes_locked(s,
                                    "INSERT INTO sticky (pool_id, vm, user_id) VALUES (?1, ?2, ?3) "
                                    "ON CONFLICT DO NOTHING",
                                    "set sticky", &changes, "iti", pid, n->vm, uid);
    if (r < 0 || changes > 0)
        return r;
    /* Held already (fine if for this user), or the user holds another VM of the pool. */
    r = vg_store_query_int_locked(s, "SELECT user_id FROM sticky WHERE pool_id = ?1 AND vm = ?2",
                                  &held, "it", pid, n->vm);
    if (r == 0)
        return held == uid ? 0 : -EEXIST;
    return r == -ENOENT ? -EEXIST : r;
}

int vg_store_sticky_set(vg_store *s, const char *pool, const char *vm, const char *user)
{
    if (!vg_name_valid(pool) || !vg_vm_name_valid(vm) || !vg_name_valid(user))
        return -EINVAL;
    return vg_store_transact(s, sticky_set_body, &(names){.pool = pool, .vm = vm, .user = user});
}

int vg_store_sticky_clear(vg_store *s, const char *pool, const char *vm)
{
    if (!vg_name_valid(pool) || !vg_vm_name_valid(vm))
        return -EINVAL;
    return vg_store_change(s, true,
                           "DELETE FROM sticky WHERE vm = ?2 "
                           "AND pool_id = (SELECT id FROM pools WHERE name = ?1)",
                           "clear sticky", "tt", pool, vm);
}
