/*
 * broker-probe — logs in through vmgated's broker against the real libvirtd,
 * for the integration tests (the protocol front ends call the same function).
 *
 *   broker-probe STORE.db LOGIN PASSWORD-FILE [REQUESTED-VM]
 *
 * Prints "OK <vm> <role> <powered_on 0|1> <w>x<h>" or "<STATUS> <message>",
 * then the audit events it saw, one per line ("AUDIT <event> k=v ...").
 * Exit 0 on OK, 1 otherwise.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "broker.h"
#include "log.h"

static GPtrArray *events;

static int audit(void *opaque, const char *event, ...)
{
    GString *s = g_string_new("AUDIT ");
    va_list ap;
    const char *k;
    (void)opaque;
    g_string_append(s, event);
    va_start(ap, event);
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        g_string_append_printf(s, " %s=%s", k, v ? v : "");
    }
    va_end(ap);
    g_ptr_array_add(events, g_string_free(s, FALSE));
    return 0;
}

int main(int argc, char **argv)
{
    vg_store *store = NULL;
    vg_registry *reg = NULL;
    vg_sessions *sessions;
    vg_broker *broker = NULL;
    vg_config *cfg = vg_config_new_defaults();
    vg_broker_result res;
    g_autofree char *password = NULL;
    static const char *status_names[] = {"OK", "AUTH_FAILED", "REFUSED", "UNAVAILABLE", "INTERNAL"};
    int rc = 1;

    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: broker-probe STORE.db LOGIN PASSWORD-FILE [REQUESTED-VM]\n");
        return 2;
    }
    if (getenv("VMGATE_LOG_LEVEL"))
        vg_log_set_level(vg_log_parse_level(getenv("VMGATE_LOG_LEVEL")));
    if (!g_file_get_contents(argv[3], &password, NULL, NULL)) {
        fprintf(stderr, "broker-probe: cannot read %s\n", argv[3]);
        return 2;
    }
    g_strchomp(password);
    events = g_ptr_array_new_with_free_func(g_free);
    if (vg_store_open(argv[1], &store) < 0 ||
        vg_registry_new(cfg->libvirt_uri, cfg->libvirt_vms, NULL, NULL, &reg) < 0) {
        fprintf(stderr, "broker-probe: cannot open the store or libvirt\n");
        return 2;
    }
    sessions = vg_sessions_new();
    if (vg_broker_new(store, reg, sessions, cfg, audit, NULL, &broker) < 0)
        return 2;
    /* Let the registry learn the VMs first, as a running daemon would have. */
    for (int i = 0; i < 100 && !vg_registry_connected(reg); i++)
        g_usleep(50 * 1000);
    g_usleep(200 * 1000);
    vg_broker_login(broker, argv[2], password, "127.0.0.1", argc == 5 ? argv[4] : NULL, 60, &res);
    if (res.status == VG_BROKER_OK) {
        vg_surface *s = vg_console_surface(res.console);
        vg_surface_lock(s);
        printf("OK %s %s %d %ux%u\n", res.vm, vg_role_name(res.role), res.powered_on,
               vg_surface_width_locked(s), vg_surface_height_locked(s));
        vg_surface_unlock(s);
        vg_console_unref(res.console);
        rc = 0;
    } else {
        printf("%s %s\n", status_names[res.status], res.message);
    }
    for (guint i = 0; i < events->len; i++)
        printf("%s\n", (char *)events->pdata[i]);
    fflush(stdout);
    vg_broker_free(broker);
    vg_sessions_free(sessions);
    vg_registry_free(reg);
    vg_store_close(store);
    vg_config_free(cfg);
    g_ptr_array_unref(events);
    return rc;
}
