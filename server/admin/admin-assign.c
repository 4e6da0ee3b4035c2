/*
 * vmgate — the admin commands that give and take access: assign,
 * unassign, entitle, unentitle; and the revocation of live viewers that
 * taking access (here and in the pool commands) entails.
 *
 * Threading: see admin-commands-priv.h.
 */
#include "admin-commands-priv.h"

#include <errno.h>
#include <string.h>

/* @user's role on @vm: 0 and *role set, or -ENOENT. */
static int current_role(vg_admin_call *k, const char *user, const char *vm, vg_role *role)
{
    g_autoptr(GPtrArray) list = NULL;
    int r = vg_store_assignments_for_user(ctx(k)->store, user, &list);

    if (r < 0)
        return r;
    for (guint i = 0; i < list->len; i++) {
        vg_store_assignment *a = g_ptr_array_index(list, i);
        if (strcmp(a->vm, vm) == 0) {
            *role = a->role;
            return 0;
        }
    }
    return -ENOENT;
}

/* Whether @user may still reach @vm: by an assignment, or through a pool
 * they are entitled to that holds it. When the store cannot say, yes (a
 * revocation then ends no one rather than the wrong one). */
static bool user_reaches_vm(vg_admin_call *k, const char *user, const char *vm)
{
    vg_store *store = ctx(k)->store;
    g_autoptr(GPtrArray) names = NULL;
    vg_role role;

    if (current_role(k, user, vm, &role) == 0)
        return true;
    if (vg_store_entitlements_for_user(store, user, &names) < 0)
        return true;
    for (guint i = 0; i < names->len; i++) {
        vg_store_pool *pool = NULL;
        bool holds = false;
        if (vg_store_pool_get(store, g_ptr_array_index(names, i), &pool) < 0)
            continue;
        for (guint j = 0; j < pool->members->len && !holds; j++)
            holds = strcmp(((vg_store_pool_member *)pool->members->pdata[j])->vm, vm) == 0;
        vg_store_pool_free(pool);
        if (holds)
            return true;
    }
    return false;
}

/* After a revocation: end the live viewers of @vm (@user's only, unless
 * NULL) who can no longer reach it, with @reason. */
void vg_admin_kick_revoked(vg_admin_call *k, const char *user, const char *vm, const char *reason)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(GPtrArray) list = NULL;
    g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func(g_free);

    if (!c->sessions) {
        vg_admin_revoke_elsewhere(k, user, vm, reason);
        return;
    }
    list = vg_sessions_list(c->sessions);
    for (guint i = 0; i < list->len; i++) {
        vg_session_info *s = g_ptr_array_index(list, i);
        if (strcmp(s->vm, vm) != 0)
            continue;
        for (guint j = 0; j < s->viewers->len; j++) {
            const char *who = g_array_index(s->viewers, vg_viewer_info, j).user;
            if ((!user || strcmp(who, user) == 0) &&
                !g_ptr_array_find_with_equal_func(users, who, g_str_equal, NULL))
                g_ptr_array_add(users, g_strdup(who));
        }
    }
    for (guint i = 0; i < users->len; i++)
        if (!user_reaches_vm(k, g_ptr_array_index(users, i), vm))
            vg_admin_kick_user_on(k, g_ptr_array_index(users, i), vm, reason);
    /* The VM's viewers may be another instance's: that one checks them against the store. */
    vg_admin_revoke_elsewhere(k, user, vm, reason);
}

int vg_admin_cmd_assign(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(JsonBuilder) b = json_builder_new();
    const char *user, *vm, *role_name;
    char vm_name[VG_VM_NAME_MAX + 1];
    vg_role role = VG_ROLE_OWNER, before = VG_ROLE_OWNER;
    bool had;
    int r;

    if ((r = arg_name(k, "user", "user", &user)) < 0 || (r = arg_vm(k, &vm)) < 0 ||
        (r = arg_string(k, "role", &role_name)) < 0)
        return r;
    /* The table allows only role names; parsing cannot fail unless the two disagree. */
    if (role_name && vg_role_parse(role_name, &role) < 0)
        return vg_admin_fail(k, -EINVAL, "invalid role '%s'", role_name);
    if ((r = vg_admin_user_exists(k, user)) < 0 ||
        (r = vg_admin_vm_resolve(k, &vm, true, vm_name)) < 0)
        return r;
    had = current_role(k, user, vm, &before) == 0;

    r = vg_store_assign(c->store, user, vm, role);
    if (r == -ENOENT)
        return vg_admin_fail(k, r, "unknown user '%s'", user);
    if (r < 0)
        return vg_admin_store_failed(k, r);
    if (c->audit && !had)
        vg_audit_assign(c->audit, k->user, user, vm, role);
    else if (c->audit && before != role)
        vg_audit_role_change(c->audit, k->user, user, vm, before, role);
    /* Live viewers take the new role with their next input event, on every instance. */
    if (had && before != role) {
        if (c->sessions)
            vg_sessions_set_role(c->sessions, vm, user, role);
        vg_admin_role_elsewhere(k, user, vm, role);
    }

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "user");
    json_builder_add_string_value(b, user);
    json_builder_set_member_name(b, "vm");
    json_builder_add_string_value(b, vm);
    json_builder_set_member_name(b, "role");
    json_builder_add_string_value(b, vg_role_name(role));
    json_builder_set_member_name(b, "previous_role");
    if (had)
        json_builder_add_string_value(b, vg_role_name(before));
    else
        json_builder_add_null_value(b);
    json_builder_end_object(b);
    k->result = json_builder_get_root(b);
    return 0;
}

int vg_admin_cmd_unassign(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    const char *user, *vm;
    char vm_name[VG_VM_NAME_MAX + 1];
    int r;

    if ((r = arg_name(k, "user", "user", &user)) < 0 || (r = arg_vm(k, &vm)) < 0)
        return r;
    if ((r = vg_admin_user_exists(k, user)) < 0 ||
        (r = vg_admin_vm_resolve(k, &vm, false, vm_name)) < 0)
        return r;
    r = vg_store_unassign(c->store, user, vm);
    if (r == -ENOENT)
        return vg_admin_fail(k, r, "user '%s' is not assigned to VM '%s'", user, vm);
    if (r < 0)
        return vg_admin_store_failed(k, r);
    if (c->audit)
        vg_audit_unassign(c->audit, k->user, user, vm);
    /* Revocation reaches live sessions: the user's viewers of the VM end,
     * unless a pool they are entitled to still holds it. */
    {
        g_autofree char *reason = g_strdup_printf("your access to VM '%s' was removed", vm);
        vg_admin_kick_revoked(k, user, vm, reason);
    }
    k->result = vg_admin_pair_result("user", user, "vm", vm);
    return 0;
}

static int entitlement(vg_admin_call *k, bool grant)
{
    const char *user, *pool;
    int r;

    if ((r = arg_name(k, "user", "user", &user)) < 0 ||
        (r = arg_name(k, "pool", "pool", &pool)) < 0)
        return r;
    if ((r = vg_admin_user_exists(k, user)) < 0 || (r = vg_admin_pool_exists(k, pool)) < 0)
        return r;
    r = grant ? vg_store_entitle(ctx(k)->store, user, pool)
              : vg_store_unentitle(ctx(k)->store, user, pool);
    if (r == -EEXIST)
        return vg_admin_fail(k, r, "user '%s' is already entitled to pool '%s'", user, pool);
    if (r == -ENOENT && !grant)
        return vg_admin_fail(k, r, "user '%s' is not entitled to pool '%s'", user, pool);
    if (r < 0)
        return vg_admin_store_failed(k, r);
    if (!grant) {
        vg_store_pool *p = NULL;
        if (vg_store_pool_get(ctx(k)->store, pool, &p) == 0) {
            g_autofree char *reason = g_strdup_printf("your access to pool '%s' was removed", pool);
            for (guint i = 0; i < p->members->len; i++)
                vg_admin_kick_revoked(k, user, ((vg_store_pool_member *)p->members->pdata[i])->vm,
                                      reason);
            vg_store_pool_free(p);
        }
    }
    k->result = vg_admin_pair_result("user", user, "pool", pool);
    return 0;
}

int vg_admin_cmd_entitle(vg_admin_call *k)
{
    return entitlement(k, true);
}

int vg_admin_cmd_unentitle(vg_admin_call *k)
{
    return entitlement(k, false);
}
