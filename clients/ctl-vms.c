/*
 * vmgatectl — the VM commands: vm list, the power actions (vm start,
 * shutdown, destroy, suspend, resume), assign and unassign.
 */
#include "ctl-priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl-output.h"

static void print_vms(vg_control_response *resp, void *data)
{
    JsonArray *a = vg_ctl_result_array(resp);
    vg_ctl_table *t =
        vg_ctl_table_new("NAME", "UUID", "STATE", "VIEWERS", "POOL", "INSTANCE", NULL);

    (void)data;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *v = json_array_get_object_element(a, i);
        JsonNode *n = json_object_get_member(v, "viewers");
        /* Another instance's VM: its viewers are that instance's to count ("-"). */
        g_autofree char *viewers = n && !JSON_NODE_HOLDS_NULL(n)
                                       ? g_strdup_printf("%" PRId64, vg_ctl_num(v, "viewers"))
                                       : NULL;
        vg_ctl_table_add(t, vg_ctl_str(v, "name"), vg_ctl_str(v, "uuid"), vg_ctl_str(v, "state"),
                         viewers, vg_ctl_str(v, "pool"), vg_ctl_str(v, "instance"));
    }
    if (vg_ctl_table_rows(t) == 0)
        puts("no VMs");
    else
        vg_ctl_table_print(t, stdout);
    vg_ctl_table_free(t);
}

int vg_ctl_vm_list(ctl *c, char **argv)
{
    (void)argv;
    return vg_ctl_run(c, c->cmd->name, NULL, print_vms, NULL);
}

/* vm ACTION VM: the action is the member the command sets. */
int vg_ctl_vm_power(ctl *c, char **argv)
{
    return vg_ctl_run_message(c, argv,
                              g_strdup_printf("VM '%s': %s done", argv[0], c->cli->set_value));
}

static void print_assign(vg_control_response *resp, void *data)
{
    JsonObject *o = vg_ctl_result_object(resp);
    const char *user = vg_ctl_str(o, "user"), *vm = vg_ctl_str(o, "vm"),
               *role = vg_ctl_str(o, "role");
    const char *before = vg_ctl_str(o, "previous_role");

    (void)data;
    if (!before)
        printf("assigned VM '%s' to '%s' as %s\n", vm, user, role);
    else if (strcmp(before, role) != 0)
        printf("role of '%s' on VM '%s' changed from %s to %s\n", user, vm, before, role);
    else
        printf("'%s' already had VM '%s' as %s\n", user, vm, role);
}

int vg_ctl_assign(ctl *c, char **argv)
{
    return vg_ctl_run(c, c->cmd->name, vg_ctl_args(c, argv, NULL, NULL), print_assign, NULL);
}

int vg_ctl_unassign(ctl *c, char **argv)
{
    return vg_ctl_run_message(c, argv,
                              g_strdup_printf("unassigned VM '%s' from '%s'", argv[1], argv[0]));
}
