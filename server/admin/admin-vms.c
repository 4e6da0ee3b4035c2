/*
 * vmgate — the admin commands on VMs: vm.list (this instance's VMs from
 * the live registry, then those other instances hold from the store's
 * placements) and vm.power.
 *
 * Threading: see admin-commands-priv.h.
 */
#include "admin-commands-priv.h"

#include <errno.h>
#include <string.h>

/* One VM of vm.list; @viewers < 0 for a VM another instance holds (its viewers are its own). */
static void add_vm(JsonBuilder *b, const char *name, const char *uuid, const char *state,
                   int64_t viewers, const char *pool, const char *instance)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "uuid");
    json_builder_add_string_value(b, uuid);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, state);
    json_builder_set_member_name(b, "viewers");
    if (viewers >= 0)
        json_builder_add_int_value(b, viewers);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "pool");
    if (pool)
        json_builder_add_string_value(b, pool);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "instance");
    if (instance)
        json_builder_add_string_value(b, instance);
    else
        json_builder_add_null_value(b);
    json_builder_end_object(b);
}

int vg_admin_cmd_vm_list(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) pools = NULL, placements = NULL, known = NULL;
    g_autoptr(GHashTable) in_pool = NULL, uuids = NULL;
    GArray *vms = NULL;
    int r;

    if (!c->live || !c->live->vm_list)
        return vg_admin_unsupported(k, "listing VMs");
    if ((r = c->live->vm_list(c->live_opaque, &vms)) < 0) {
        if (r == -ENOTCONN)
            return vg_admin_fail(k, r, "the hypervisor is not reachable");
        return vg_admin_fail(k, r, "cannot list VMs: %s", g_strerror(-r));
    }
    /* The VMs other instances hold. Like the pools, they are left out when the store cannot
     * answer (the store said why in the log): this instance's own VMs are still worth
     * seeing. */
    if (c->instance &&
        vg_store_placement_list(c->store, VG_STORE_INSTANCE_DOWN_MS, &placements) < 0)
        placements = NULL;
    if (vg_store_pool_list(c->store, &pools) < 0)
        pools = NULL;
    in_pool = vg_admin_pool_of_vm(pools);
    uuids = g_hash_table_new(g_str_hash, g_str_equal);
    if (placements && vg_store_vm_list(c->store, &known) == 0) {
        for (guint i = 0; i < known->len; i++) {
            vg_store_vm *v = g_ptr_array_index(known, i);
            if (v->uuid)
                g_hash_table_insert(uuids, v->name, v->uuid);
        }
    }

    json_builder_begin_array(b);
    for (guint i = 0; vms && i < vms->len; i++) {
        vg_admin_vm *vm = &g_array_index(vms, vg_admin_vm, i);

        vm->name[sizeof(vm->name) - 1] = '\0';
        vm->uuid[sizeof(vm->uuid) - 1] = '\0';
        add_vm(b, vm->name, vm->uuid, vm->state ? vm->state : "unknown", vm->viewers,
               g_hash_table_lookup(in_pool, vm->name), c->instance);
    }
    /* Then the other instances' VMs, as they last reported them; unreachable while their
     * instance is down or stopped (not "shut off": no one knows). */
    for (guint i = 0; placements && i < placements->len; i++) {
        vg_store_placement *p = g_ptr_array_index(placements, i);
        const char *uuid = g_hash_table_lookup(uuids, p->vm);

        if (strcmp(p->instance, c->instance) == 0)
            continue;
        add_vm(b, p->vm, uuid ? uuid : "", p->instance_up ? p->state : "unreachable", -1,
               g_hash_table_lookup(in_pool, p->vm), p->instance);
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
