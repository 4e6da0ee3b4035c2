/*
 * vmgatectl — the pool commands: pool create, add, remove, del, list;
 * entitle and unentitle.
 */
#include "ctl-priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl-output.h"

static char *pool_policy(JsonObject *p)
{
    const char *action = vg_ctl_str(p, "idle_action");

    if (!action || strcmp(action, "none") == 0)
        return g_strdup("none");
    return g_strdup_printf("%s after %" PRId64 " min", action, vg_ctl_num(p, "idle_minutes"));
}

static void print_pool_created(vg_control_response *resp, void *data)
{
    JsonObject *p = vg_ctl_result_object(resp);
    g_autofree char *policy = pool_policy(p);

    (void)data;
    printf("pool '%s' created (idle action: %s%s)\n", vg_ctl_str(p, "name"), policy,
           vg_ctl_flag(p, "assign_on_first_login") ? "; assign on first login" : "");
}

int vg_ctl_pool_create(ctl *c, char **argv)
{
    return vg_ctl_run(c, c->cmd->name, vg_ctl_args(c, argv, NULL, NULL), print_pool_created, NULL);
}

int vg_ctl_pool_add(ctl *c, char **argv)
{
    return vg_ctl_run_message(c, argv,
                              g_strdup_printf("VM '%s' added to pool '%s'", argv[1], argv[0]));
}

int vg_ctl_pool_remove(ctl *c, char **argv)
{
    return vg_ctl_run_message(c, argv,
                              g_strdup_printf("VM '%s' removed from pool '%s'", argv[1], argv[0]));
}

int vg_ctl_pool_del(ctl *c, char **argv)
{
    return vg_ctl_run_message(c, argv, g_strdup_printf("pool '%s' deleted", argv[0]));
}

static void print_pools(vg_control_response *resp, void *data)
{
    JsonArray *a = vg_ctl_result_array(resp);
    vg_ctl_table *t =
        vg_ctl_table_new("POOL", "IDLE ACTION", "FIRST LOGIN", "VMS (HELD FOR)", "USERS", NULL);

    (void)data;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *p = json_array_get_object_element(a, i);
        g_autofree char *policy = pool_policy(p);
        g_autofree char *vms =
            vg_ctl_join_array(vg_ctl_member_array(p, "members"), "vm", "held_for");
        g_autofree char *users = vg_ctl_join_array(vg_ctl_member_array(p, "users"), NULL, NULL);
        vg_ctl_table_add(t, vg_ctl_str(p, "name"), policy,
                         vg_ctl_flag(p, "assign_on_first_login") ? "assign" : "-", vms, users);
    }
    if (vg_ctl_table_rows(t) == 0)
        puts("no pools");
    else
        vg_ctl_table_print(t, stdout);
    vg_ctl_table_free(t);
}

int vg_ctl_pool_list(ctl *c, char **argv)
{
    (void)argv;
    return vg_ctl_run(c, c->cmd->name, NULL, print_pools, NULL);
}

int vg_ctl_entitle(ctl *c, char **argv)
{
    return vg_ctl_run_message(c, argv, g_strdup_printf("'%s' may use pool '%s'", argv[0], argv[1]));
}

int vg_ctl_unentitle(ctl *c, char **argv)
{
    return vg_ctl_run_message(
        c, argv, g_strdup_printf("'%s' may no longer use pool '%s'", argv[0], argv[1]));
}
