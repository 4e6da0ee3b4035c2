/*
 * vmgatectl — the instance command: instance list.
 */
#include "ctl-priv.h"

#include <inttypes.h>
#include <stdio.h>

#include "ctl-output.h"

/* A port, or "-" for a front end the instance does not serve. */
static char *port_text(JsonObject *o, const char *key)
{
    int64_t p = vg_ctl_num(o, key);
    return p > 0 ? g_strdup_printf("%" PRId64, p) : g_strdup("-");
}

static void print_instances(vg_control_response *resp, void *data)
{
    JsonArray *a = vg_ctl_result_array(resp);
    vg_ctl_table *t = vg_ctl_table_new("NAME", "ADDRESS", "VNC", "RDP", "WEB", "STATUS",
                                       "HEARTBEAT", "VMS", NULL);

    (void)data;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        g_autofree char *name =
            g_strdup_printf("%s%s", vg_ctl_str(o, "name"), vg_ctl_flag(o, "self") ? " *" : "");
        g_autofree char *vnc = port_text(o, "vnc_port"), *rdp = port_text(o, "rdp_port"),
                        *web = port_text(o, "web_port");
        g_autofree char *age =
            g_strdup_printf("%.1f s ago", (double)vg_ctl_num(o, "heartbeat_age_ms") / 1000.0);
        g_autofree char *vms = g_strdup_printf("%" PRId64, vg_ctl_num(o, "vms"));
        vg_ctl_table_add(t, name, vg_ctl_str(o, "address"), vnc, rdp, web, vg_ctl_str(o, "status"),
                         age, vms);
    }
    if (vg_ctl_table_rows(t) == 0) {
        puts("no instances");
    } else {
        vg_ctl_table_print(t, stdout);
        puts("(* this instance)");
    }
    vg_ctl_table_free(t);
}

int vg_ctl_instance_list(ctl *c, char **argv)
{
    (void)argv;
    return vg_ctl_run(c, c->cmd->name, NULL, print_instances, NULL);
}
