/*
 * vmgate — the admin command on instances: instance.list, the vmgated
 * sharing this store as the store knows them (registration, heartbeat,
 * VMs held).
 *
 * Threading: see admin-commands-priv.h.
 */
#include "admin-commands-priv.h"

#include <errno.h>

/* "up", "down" (its heartbeat is older than VG_STORE_INSTANCE_DOWN_MS) or "stopped" (a clean
 * exit). */
static const char *status_of(const vg_store_instance *i)
{
    return i->up ? "up" : i->stopped ? "stopped" : "down";
}

int vg_admin_cmd_instance_list(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) instances = NULL;
    int r;

    if ((r = vg_store_instance_list(c->store, VG_STORE_INSTANCE_DOWN_MS, &instances)) < 0)
        return vg_admin_store_failed(k, r);
    json_builder_begin_array(b);
    for (guint n = 0; n < instances->len; n++) {
        const vg_store_instance *i = g_ptr_array_index(instances, n);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, i->name);
        json_builder_set_member_name(b, "address");
        json_builder_add_string_value(b, i->address);
        json_builder_set_member_name(b, "vnc_port");
        json_builder_add_int_value(b, i->vnc_port);
        json_builder_set_member_name(b, "rdp_port");
        json_builder_add_int_value(b, i->rdp_port);
        json_builder_set_member_name(b, "web_port");
        json_builder_add_int_value(b, i->web_port);
        json_builder_set_member_name(b, "status");
        json_builder_add_string_value(b, status_of(i));
        /* By the database's clock. */
        json_builder_set_member_name(b, "heartbeat_age_ms");
        json_builder_add_int_value(b, i->age_ms > 0 ? i->age_ms : 0);
        json_builder_set_member_name(b, "vms");
        json_builder_add_int_value(b, i->vms);
        json_builder_set_member_name(b, "self");
        json_builder_add_boolean_value(b, c->instance && strcmp(c->instance, i->name) == 0);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    k->result = json_builder_get_root(b);
    return 0;
}
