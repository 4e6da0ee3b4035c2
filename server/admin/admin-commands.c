/*
 * vmgate — the commands of the admin socket: the handler of each command of
 * the table (protocol/control/control-commands.c), and what the handlers of
 * several families share (failures, checks, kicks). The handlers are in one
 * file per family: admin-users.c, admin-vms.c, admin-assign.c,
 * admin-pools.c, admin-sessions.c, admin-audit.c.
 *
 * Threading: see admin-commands-priv.h.
 */
#include "admin-commands-priv.h"

#include <errno.h>
#include <string.h>

#include "log.h"

#define TAG "admin"

int vg_admin_store_failed(vg_admin_call *k, int r)
{
    switch (r) {
    case -EIO:
        return vg_admin_fail(k, r, "the store failed (see the vmgated log)");
    case -ENOSPC:
        return vg_admin_fail(k, r, "the store %s cannot be written: its file system is full",
                             vg_store_path(ctx(k)->store));
    case -EROFS:
        if (vg_store_get_backend(ctx(k)->store) == VG_STORE_POSTGRESQL)
            return vg_admin_fail(k, r, "the store's database %s is read-only (a standby?)",
                                 vg_store_path(ctx(k)->store));
        return vg_admin_fail(k, r, "the store %s cannot be written: its file system is read-only",
                             vg_store_path(ctx(k)->store));
    case -ECONNREFUSED:
        return vg_admin_fail(k, r,
                             "the store's database %s cannot be reached (see the vmgated log)",
                             vg_store_path(ctx(k)->store));
    default:
        return vg_admin_fail(k, r, "%s", g_strerror(-r));
    }
}

int vg_admin_user_exists(vg_admin_call *k, const char *name)
{
    vg_store_user *u = NULL;
    int r = vg_store_user_get(ctx(k)->store, name, &u);

    vg_store_user_free(u);
    if (r == -ENOENT)
        return vg_admin_fail(k, r, "unknown user '%s'", name);
    return r < 0 ? vg_admin_store_failed(k, r) : 0;
}

int vg_admin_pool_exists(vg_admin_call *k, const char *name)
{
    vg_store_pool *p = NULL;
    int r = vg_store_pool_get(ctx(k)->store, name, &p);

    vg_store_pool_free(p);
    if (r == -ENOENT)
        return vg_admin_fail(k, r, "unknown pool '%s'", name);
    return r < 0 ? vg_admin_store_failed(k, r) : 0;
}

int vg_admin_live_failed(vg_admin_call *k, int r, const char *vm)
{
    switch (r) {
    case -ENOENT:
        return vg_admin_fail(k, r, "unknown VM '%s'", vm);
    case -ENODEV:
        return vg_admin_fail(k, r, "VM '%s' is not running or has no console", vm);
    case -ENOTCONN:
        return vg_admin_fail(k, r, "the hypervisor is not reachable");
    case -ETIMEDOUT:
        return vg_admin_fail(k, r, "VM '%s' did not answer in time", vm);
    default:
        return vg_admin_fail(k, r, "VM '%s': %s", vm, g_strerror(-r));
    }
}

int vg_admin_unsupported(vg_admin_call *k, const char *what)
{
    return vg_admin_fail(k, -ENOTSUP, "%s is not supported by this vmgated", what);
}

/* Whether another instance sharing the store has reported VM @vm (by name). */
static bool placed_elsewhere(vg_admin_call *k, const char *vm)
{
    g_autoptr(GPtrArray) placements = NULL;

    if (vg_store_placement_list(ctx(k)->store, VG_STORE_INSTANCE_DOWN_MS, &placements) < 0)
        return false;
    for (guint i = 0; i < placements->len; i++)
        if (strcmp(((vg_store_placement *)g_ptr_array_index(placements, i))->vm, vm) == 0)
            return true;
    return false;
}

/*
 * A typo is caught when a VM is assigned or pooled, and a UUID is kept as
 * the name the store and the sessions use. A VM another instance sharing
 * the store reported is known by its name. When the daemon cannot list VMs
 * (no live ops, hypervisor down) the name is taken on trust: the store may
 * name VMs that do not exist yet.
 */
int vg_admin_vm_resolve(vg_admin_call *k, const char **vm, bool must_exist,
                        char name[VG_VM_NAME_MAX + 1])
{
    const struct vg_admin_ctx *c = ctx(k);
    GArray *vms = NULL;
    const vg_admin_vm *by_name = NULL, *by_uuid = NULL;
    int r;

    if (!c->live || !c->live->vm_list)
        return 0;
    r = c->live->vm_list(c->live_opaque, &vms);
    if (r < 0) {
        vg_info(TAG, "cannot list VMs to check '%s' (%s); taking it on trust", *vm, g_strerror(-r));
        return 0;
    }
    /* A name wins over a UUID: a VM may be named like another's UUID. */
    for (guint i = 0; vms && i < vms->len; i++) {
        const vg_admin_vm *v = &g_array_index(vms, vg_admin_vm, i);
        if (strcmp(v->name, *vm) == 0)
            by_name = v;
        else if (!by_uuid && g_uuid_string_is_valid(*vm) && g_ascii_strcasecmp(v->uuid, *vm) == 0)
            by_uuid = v;
    }
    if (!by_name && by_uuid) {
        g_strlcpy(name, by_uuid->name, VG_VM_NAME_MAX + 1);
        *vm = name;
    }
    /* Not this instance's: another's that shares the store, by its name. */
    r = by_name || by_uuid || !must_exist || placed_elsewhere(k, *vm)
            ? 0
            : vg_admin_fail(k, -ENOENT, "unknown VM '%s'", *vm);
    if (vms)
        g_array_unref(vms);
    return r;
}

/* End @user's live viewers (of VM @vm only, unless NULL). @return how many. */
unsigned vg_admin_kick_user_on(vg_admin_call *k, const char *user, const char *vm,
                               const char *reason)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(GPtrArray) list = NULL;
    unsigned kicked = 0;

    if (!c->sessions)
        return 0;
    list = vg_sessions_list(c->sessions);
    for (guint i = 0; i < list->len; i++) {
        vg_session_info *s = g_ptr_array_index(list, i);
        if (vm && strcmp(s->vm, vm) != 0)
            continue;
        for (guint j = 0; j < s->viewers->len; j++) {
            vg_viewer_info *v = &g_array_index(s->viewers, vg_viewer_info, j);
            if (strcmp(v->user, user) != 0 || vg_sessions_kick(c->sessions, v->id, reason) <= 0)
                continue;
            kicked++;
            if (c->audit)
                vg_audit_kick(c->audit, k->user, v->id, reason, 1);
        }
    }
    return kicked;
}

void vg_admin_revoke_elsewhere(vg_admin_call *k, const char *user, const char *vm,
                               const char *reason)
{
    const struct vg_admin_ctx *c = ctx(k);
    int r;

    if (!c->instance)
        return;
    r = vg_cluster_send_revoke(c->store, c->instance, k->user, user, vm, reason);
    /* SQLite: one host, no one else to tell. */
    if (r < 0 && r != -ENOTSUP)
        vg_warning(TAG,
                   "the other instances could not be told that access was removed (user %s, "
                   "VM %s): %s; their viewers concerned stay until kicked",
                   user ? user : "any", vm ? vm : "any", g_strerror(-r));
}

void vg_admin_role_elsewhere(vg_admin_call *k, const char *user, const char *vm, vg_role role)
{
    const struct vg_admin_ctx *c = ctx(k);
    int r;

    if (!c->instance)
        return;
    r = vg_cluster_send_role(c->store, c->instance, k->user, user, vm, role);
    if (r < 0 && r != -ENOTSUP)
        vg_warning(TAG,
                   "the other instances could not be told of user %s's new role on VM %s: %s; "
                   "their viewers keep the old one until they log in again",
                   user, vm, g_strerror(-r));
}

JsonNode *vg_admin_pair_result(const char *k1, const char *v1, const char *k2, const char *v2)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, k1);
    json_builder_add_string_value(b, v1);
    json_builder_set_member_name(b, k2);
    json_builder_add_string_value(b, v2);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* The pool each VM belongs to: VM name → pool name (both borrowed from @pools). */
GHashTable *vg_admin_pool_of_vm(GPtrArray *pools)
{
    GHashTable *h = g_hash_table_new(g_str_hash, g_str_equal);

    for (guint i = 0; pools && i < pools->len; i++) {
        vg_store_pool *p = g_ptr_array_index(pools, i);
        for (guint j = 0; j < p->members->len; j++) {
            vg_store_pool_member *m = g_ptr_array_index(p->members, j);
            g_hash_table_insert(h, m->vm, p->name);
        }
    }
    return h;
}

/* The handler of each command of the table (protocol/control/control-commands.c). */
static const struct {
    const char *name;
    vg_admin_handler fn;
} handlers[] = {
    {VG_CONTROL_CMD_USER_ADD, vg_admin_cmd_user_add},
    {VG_CONTROL_CMD_USER_PASSWD, vg_admin_cmd_user_passwd},
    {VG_CONTROL_CMD_USER_DEL, vg_admin_cmd_user_del},
    {VG_CONTROL_CMD_USER_DISABLE, vg_admin_cmd_user_disable},
    {VG_CONTROL_CMD_USER_ENABLE, vg_admin_cmd_user_enable},
    {VG_CONTROL_CMD_USER_LIST, vg_admin_cmd_user_list},
    {VG_CONTROL_CMD_VM_LIST, vg_admin_cmd_vm_list},
    {VG_CONTROL_CMD_VM_POWER, vg_admin_cmd_vm_power},
    {VG_CONTROL_CMD_ASSIGN, vg_admin_cmd_assign},
    {VG_CONTROL_CMD_UNASSIGN, vg_admin_cmd_unassign},
    {VG_CONTROL_CMD_POOL_CREATE, vg_admin_cmd_pool_create},
    {VG_CONTROL_CMD_POOL_ADD, vg_admin_cmd_pool_add},
    {VG_CONTROL_CMD_POOL_REMOVE, vg_admin_cmd_pool_remove},
    {VG_CONTROL_CMD_POOL_DEL, vg_admin_cmd_pool_del},
    {VG_CONTROL_CMD_POOL_LIST, vg_admin_cmd_pool_list},
    {VG_CONTROL_CMD_ENTITLE, vg_admin_cmd_entitle},
    {VG_CONTROL_CMD_UNENTITLE, vg_admin_cmd_unentitle},
    {VG_CONTROL_CMD_SESSION_LIST, vg_admin_cmd_session_list},
    {VG_CONTROL_CMD_SESSION_KICK, vg_admin_cmd_session_kick},
    {VG_CONTROL_CMD_SCREENSHOT, vg_admin_cmd_screenshot},
    {VG_CONTROL_CMD_SEND_TEXT, vg_admin_cmd_send_text},
    {VG_CONTROL_CMD_SEND_COMBO, vg_admin_cmd_send_combo},
    {VG_CONTROL_CMD_AUDIT, vg_admin_cmd_audit},
    {VG_CONTROL_CMD_INSTANCE_LIST, vg_admin_cmd_instance_list},
};

vg_admin_handler vg_admin_find_command(const char *cmd, const vg_control_command **spec)
{
    *spec = vg_control_command_find(cmd);
    for (size_t i = 0; *spec && i < G_N_ELEMENTS(handlers); i++)
        if (strcmp(handlers[i].name, cmd) == 0)
            return handlers[i].fn;
    *spec = NULL;
    return NULL;
}
