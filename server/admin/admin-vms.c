/*
 * vmgate — the admin commands on VMs: vm.list and vm.power.
 *
 * Threading: see admin-commands-priv.h.
 */
#include "admin-commands-priv.h"

#include <errno.h>
#include <string.h>

int vg_admin_cmd_vm_list(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) pools = NULL;
    g_autoptr(GHashTable) in_pool = NULL;
    GArray *vms = NULL;
    int r;

    if (!c->live || !c->live->vm_list)
        return vg_admin_unsupported(k, "listing VMs");
    if ((r = c->live->vm_list(c->live_opaque, &vms)) < 0) {
        if (r == -ENOTCONN)
            return vg_admin_fail(k, r, "the hypervisor is not reachable");
        return vg_admin_fail(k, r, "cannot list VMs: %s", g_strerror(-r));
    }
    if (vg_store_pool_list(c->store, &pools) < 0)
        pools = NULL;
    in_pool = vg_admin_pool_of_vm(pools);

    json_builder_begin_array(b);
    for (guint i = 0; vms && i < vms->len; i++) {
        vg_admin_vm *vm = &g_array_index(vms, vg_admin_vm, i);
        const char *pool;

        vm->name[sizeof(vm->name) - 1] = '\0';
        vm->uuid[sizeof(vm->uuid) - 1] = '\0';
        pool = g_hash_table_lookup(in_pool, vm->name);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, vm->name);
        json_builder_set_member_name(b, "uuid");
        json_builder_add_string_value(b, vm->uuid);
        json_builder_set_member_name(b, "state");
        json_builder_add_string_value(b, vm->state ? vm->state : "unknown");
        json_builder_set_member_name(b, "viewers");
        json_builder_add_int_value(b, vm->viewers);
        json_builder_set_member_name(b, "pool");
        if (pool)
            json_builder_add_string_value(b, pool);
        else
            json_builder_add_null_value(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    if (vms)
        g_array_unref(vms);
    k->result = json_builder_get_root(b);
    return 0;
}

int vg_admin_cmd_vm_power(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(JsonBuilder) b = json_builder_new();
    const char *vm, *action;
    char vm_name[VG_VM_NAME_MAX + 1];
    int r;

    /* The table allows only the actions the live ops know. */
    if ((r = arg_vm(k, &vm)) < 0 || (r = arg_string(k, "action", &action)) < 0 ||
        (r = vg_admin_vm_resolve(k, &vm, false, vm_name)) < 0)
        return r;
    if (!c->live || !c->live->power)
        return vg_admin_unsupported(k, "power control");
    r = c->live->power(c->live_opaque, vm, action);
    if (c->audit)
        vg_audit_power(c->audit, k->user, vm, action, r);
    if (r == -ENODEV)
        return vg_admin_fail(k, r, "VM '%s' is not in a state where it can %s", vm, action);
    if (r == -EIO)
        return vg_admin_fail(k, r, "VM '%s': %s failed (see the vmgated log)", vm, action);
    if (r < 0)
        return vg_admin_live_failed(k, r, vm);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "vm");
    json_builder_add_string_value(b, vm);
    json_builder_set_member_name(b, "action");
    json_builder_add_string_value(b, action);
    json_builder_end_object(b);
    k->result = json_builder_get_root(b);
    return 0;
}
