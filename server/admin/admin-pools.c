/*
 * vmgate — the admin commands on pools: pool.create, pool.add, pool.remove,
 * pool.del, pool.list.
 *
 * Threading: see admin-commands-priv.h.
 */
#include "admin-commands-priv.h"

#include <errno.h>
#include <string.h>

static void build_pool(JsonBuilder *b, const vg_store_pool *p, GPtrArray *users)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, p->name);
    json_builder_set_member_name(b, "idle_action");
    json_builder_add_string_value(b, vg_idle_action_name(p->idle_action));
    json_builder_set_member_name(b, "idle_minutes");
    json_builder_add_int_value(b, p->idle_minutes);
    json_builder_set_member_name(b, "assign_on_first_login");
    json_builder_add_boolean_value(b, p->assign_on_first_login);
    json_builder_set_member_name(b, "members");
    json_builder_begin_array(b);
    for (guint j = 0; p->members && j < p->members->len; j++) {
        vg_store_pool_member *m = g_ptr_array_index(p->members, j);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "vm");
        json_builder_add_string_value(b, m->vm);
        json_builder_set_member_name(b, "held_for");
        if (m->sticky_user)
            json_builder_add_string_value(b, m->sticky_user);
        else
            json_builder_add_null_value(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "users");
    json_builder_begin_array(b);
    for (guint j = 0; users && j < users->len; j++)
        json_builder_add_string_value(b, g_ptr_array_index(users, j));
    json_builder_end_array(b);
    json_builder_end_object(b);
}

int vg_admin_cmd_pool_create(vg_admin_call *k)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    const char *name, *action_name;
    vg_idle_action action = VG_IDLE_NONE;
    vg_store_pool *p = NULL;
    int64_t minutes;
    bool first_login, minutes_given;
    int r;

    if ((r = arg_name(k, "name", "pool", &name)) < 0)
        return r;
    arg_string(k, "idle_action", &action_name);
    minutes = arg_int(k, "idle_minutes", &minutes_given);
    first_login = arg_bool(k, "assign_on_first_login", NULL);
    /* As for roles: the table allows only the names the store knows. */
    if (action_name && vg_idle_action_parse(action_name, &action) < 0)
        return vg_admin_fail(k, -EINVAL, "invalid idle action '%s'", action_name);
    if (action == VG_IDLE_NONE && minutes_given)
        return vg_admin_fail(k, -EINVAL, "idle minutes need an idle action (shutdown or suspend)");
    r = vg_store_pool_create(ctx(k)->store, name, action,
                             action == VG_IDLE_NONE ? 0 : (unsigned)minutes, first_login);
    if (r == -EEXIST)
        return vg_admin_fail(k, r, "pool '%s' already exists", name);
    if (r < 0)
        return vg_admin_store_failed(k, r);
    if ((r = vg_store_pool_get(ctx(k)->store, name, &p)) < 0)
        return vg_admin_store_failed(k, r);
    build_pool(b, p, NULL);
    vg_store_pool_free(p);
    k->result = json_builder_get_root(b);
    return 0;
}

/* The pool @vm is in, or NULL (g_free it). */
static char *pool_holding(vg_admin_call *k, const char *vm)
{
    g_autoptr(GPtrArray) pools = NULL;
    g_autoptr(GHashTable) in_pool = NULL;

    if (vg_store_pool_list(ctx(k)->store, &pools) < 0)
        return NULL;
    in_pool = vg_admin_pool_of_vm(pools);
    return g_strdup(g_hash_table_lookup(in_pool, vm));
}

int vg_admin_cmd_pool_add(vg_admin_call *k)
{
    const char *pool, *vm;
    char vm_name[VG_VM_NAME_MAX + 1];
    int r;

    if ((r = arg_name(k, "pool", "pool", &pool)) < 0 || (r = arg_vm(k, &vm)) < 0)
        return r;
    if ((r = vg_admin_pool_exists(k, pool)) < 0 ||
        (r = vg_admin_vm_resolve(k, &vm, true, vm_name)) < 0)
        return r;
    r = vg_store_pool_add_vm(ctx(k)->store, pool, vm);
    if (r == -EEXIST) {
        g_autofree char *holder = pool_holding(k, vm);
        return vg_admin_fail(k, r, "VM '%s' is already in pool '%s'", vm,
                             holder ? holder : "another");
    }
    if (r == -ENOENT)
        return vg_admin_fail(k, r, "unknown pool '%s'", pool);
    if (r < 0)
        return vg_admin_store_failed(k, r);
    k->result = vg_admin_pair_result("pool", pool, "vm", vm);
    return 0;
}

int vg_admin_cmd_pool_remove(vg_admin_call *k)
{
    const char *pool, *vm;
    char vm_name[VG_VM_NAME_MAX + 1];
    int r;

    if ((r = arg_name(k, "pool", "pool", &pool)) < 0 || (r = arg_vm(k, &vm)) < 0)
        return r;
    if ((r = vg_admin_pool_exists(k, pool)) < 0 ||
        (r = vg_admin_vm_resolve(k, &vm, false, vm_name)) < 0)
        return r;
    r = vg_store_pool_remove_vm(ctx(k)->store, pool, vm);
    if (r == -ENOENT)
        return vg_admin_fail(k, r, "VM '%s' is not in pool '%s'", vm, pool);
    if (r < 0)
        return vg_admin_store_failed(k, r);
    {
        g_autofree char *reason = g_strdup_printf("VM '%s' was taken out of pool '%s'", vm, pool);
        vg_admin_kick_revoked(k, NULL, vm, reason);
    }
    k->result = vg_admin_pair_result("pool", pool, "vm", vm);
    return 0;
}

int vg_admin_cmd_pool_del(vg_admin_call *k)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    const char *name;
    int r;

    vg_store_pool *gone = NULL;

    if ((r = arg_name(k, "name", "pool", &name)) < 0)
        return r;
    (void)vg_store_pool_get(ctx(k)->store, name, &gone); /* its VMs, for the revocation */
    r = vg_store_pool_del(ctx(k)->store, name);
    if (r == -ENOENT) {
        vg_store_pool_free(gone);
        return vg_admin_fail(k, r, "unknown pool '%s'", name);
    }
    if (r < 0) {
        vg_store_pool_free(gone);
        return vg_admin_store_failed(k, r);
    }
    if (gone) {
        g_autofree char *reason = g_strdup_printf("pool '%s' was deleted", name);
        for (guint i = 0; i < gone->members->len; i++)
            vg_admin_kick_revoked(k, NULL, ((vg_store_pool_member *)gone->members->pdata[i])->vm,
                                  reason);
        vg_store_pool_free(gone);
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_end_object(b);
    k->result = json_builder_get_root(b);
    return 0;
}

static void free_users(gpointer p)
{
    g_ptr_array_unref(p);
}

int vg_admin_cmd_pool_list(vg_admin_call *k)
{
    vg_store *store = ctx(k)->store;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) pools = NULL, users = NULL;
    g_autoptr(GHashTable) entitled = NULL; /* pool name → GPtrArray of user names */
    int r;

    if ((r = vg_store_pool_list(store, &pools)) < 0 || (r = vg_store_user_list(store, &users)) < 0)
        return vg_admin_store_failed(k, r);
    /* The store lists entitlements per user; turn them around (users come sorted). */
    entitled = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, free_users);
    for (guint i = 0; i < users->len; i++) {
        vg_store_user *u = g_ptr_array_index(users, i);
        g_autoptr(GPtrArray) names = NULL;

        if (vg_store_entitlements_for_user(store, u->name, &names) < 0)
            continue;
        for (guint j = 0; j < names->len; j++) {
            const char *pool = g_ptr_array_index(names, j);
            GPtrArray *list = g_hash_table_lookup(entitled, pool);
            if (!list) {
                list = g_ptr_array_new_with_free_func(g_free);
                g_hash_table_insert(entitled, g_strdup(pool), list);
            }
            g_ptr_array_add(list, g_strdup(u->name));
        }
    }
    json_builder_begin_array(b);
    for (guint i = 0; i < pools->len; i++) {
        vg_store_pool *p = g_ptr_array_index(pools, i);
        build_pool(b, p, g_hash_table_lookup(entitled, p->name));
    }
    json_builder_end_array(b);
    k->result = json_builder_get_root(b);
    return 0;
}
