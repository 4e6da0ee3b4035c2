/*
 * vmgate — vmgated's /metrics page and readiness checks (see
 * metrics-collect.h).
 */
#include "metrics-collect.h"

#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "console.h"
#include "metrics.h"
#include "surface.h"

#ifndef VG_VERSION
#define VG_VERSION "unknown"
#endif

/* Roles in the order of vg_role. */
#define N_ROLES 3

/* Protocols shown even with no viewer, so that their series exist from the start. */
static const char *const known_protocols[] = {"vnc", "rdp", "web"};

static void write_viewers(const vg_metrics_sources *src, GString *out)
{
    GPtrArray *sessions = vg_sessions_list(src->sessions);
    /* protocol → unsigned[N_ROLES]; protocols are the front ends' names,
     * a handful: bounded by the code, not by clients. */
    g_autoptr(GHashTable) counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GPtrArray) order = g_ptr_array_new();
    unsigned active = 0;

    for (size_t i = 0; i < G_N_ELEMENTS(known_protocols); i++) {
        char *key = g_strdup(known_protocols[i]);
        g_hash_table_insert(counts, key, g_new0(unsigned, N_ROLES));
        g_ptr_array_add(order, key);
    }
    for (guint i = 0; i < sessions->len; i++) {
        vg_session_info *s = sessions->pdata[i];
        if (s->viewers->len > 0)
            active++;
        for (guint j = 0; j < s->viewers->len; j++) {
            vg_viewer_info *v = &g_array_index(s->viewers, vg_viewer_info, j);
            unsigned *c = g_hash_table_lookup(counts, v->protocol);
            if (!c) {
                char *key = g_strdup(v->protocol);
                c = g_new0(unsigned, N_ROLES);
                g_hash_table_insert(counts, key, c);
                g_ptr_array_add(order, key);
            }
            if ((unsigned)v->role < N_ROLES)
                c[v->role]++;
        }
    }
    g_ptr_array_unref(sessions);

    vg_metrics_write_family(out, "vmgate_viewers", VG_METRIC_GAUGE,
                            "Viewers connected now, by front end and role.");
    for (guint i = 0; i < order->len; i++) {
        const unsigned *c = g_hash_table_lookup(counts, order->pdata[i]);
        for (unsigned r = 0; r < N_ROLES; r++) {
            vg_metric_label l[] = {{"protocol", order->pdata[i]}, {"role", vg_role_name(r)}};
            vg_metrics_write_u64(out, "vmgate_viewers", l, 2, c[r]);
        }
    }
    vg_metrics_write_family(out, "vmgate_sessions", VG_METRIC_GAUGE,
                            "VMs with at least one viewer now.");
    vg_metrics_write_u64(out, "vmgate_sessions", NULL, 0, active);
}

static void write_vms(const vg_metrics_sources *src, GString *out)
{
    static const char *const states[] = {"missing", "running", "paused", "shutoff", "unavailable"};
    unsigned by_state[G_N_ELEMENTS(states)] = {0};
    GArray *vms = vg_registry_list(src->registry);

    vg_metrics_write_family(out, "vmgate_capture_frames_total", VG_METRIC_COUNTER,
                            "Screen changes each running VM's console captured since it opened.");
    for (guint i = 0; i < vms->len; i++) {
        const vg_vm_info *vm = &g_array_index(vms, vg_vm_info, i);
        vg_vm_state st = vg_vm_info_state(vm);
        vg_console *c;

        if ((unsigned)st < G_N_ELEMENTS(states))
            by_state[st]++;
        if (!vm->console || !(c = vg_registry_get_console(src->registry, vm->name)))
            continue;
        {
            vg_metric_label l[] = {{"vm", vm->name}};
            vg_metrics_write_u64(out, "vmgate_capture_frames_total", l, 1,
                                 vg_surface_serial(vg_console_surface(c)));
        }
        vg_console_unref(c);
    }
    g_array_unref(vms);

    vg_metrics_write_family(out, "vmgate_vms", VG_METRIC_GAUGE,
                            "VMs the gateway knows on the hypervisor, by state.");
    for (size_t s = 0; s < G_N_ELEMENTS(states); s++) {
        vg_metric_label l[] = {{"state", states[s]}};
        vg_metrics_write_u64(out, "vmgate_vms", l, 1, by_state[s]);
    }
}

void vg_metrics_collect(const vg_metrics_sources *src, GString *out)
{
    unsigned users = 0, addresses = 0;

    vg_metrics_write_family(out, "vmgate_build_info", VG_METRIC_GAUGE,
                            "Always 1; the version of vmgated and its [instance] name are in the "
                            "labels.");
    {
        /* Prometheus tells its targets apart by its own "instance" label (host:port); this one
         * names the vmgated as the shared store and the audit log do (Prometheus keeps it as
         * exported_instance unless the scrape honours labels). */
        vg_metric_label l[] = {{"version", VG_VERSION}, {"instance", src->instance}};
        vg_metrics_write_u64(out, "vmgate_build_info", l, src->instance ? 2 : 1, 1);
    }
    vg_metrics_write_family(out, "vmgate_libvirt_connected", VG_METRIC_GAUGE,
                            "1 while the connection to libvirt is up, else 0.");
    vg_metrics_write_u64(out, "vmgate_libvirt_connected", NULL, 0,
                         vg_registry_connected(src->registry) ? 1 : 0);
    write_viewers(src, out);
    write_vms(src, out);
    vg_broker_locked_out(src->broker, &users, &addresses);
    vg_metrics_write_family(out, "vmgate_throttled", VG_METRIC_GAUGE,
                            "Users and source addresses locked out now after failed logins.");
    {
        vg_metric_label u[] = {{"kind", "user"}}, a[] = {{"kind", "address"}};
        vg_metrics_write_u64(out, "vmgate_throttled", u, 1, users);
        vg_metrics_write_u64(out, "vmgate_throttled", a, 1, addresses);
    }
    vg_metrics_write_counters(out);
}

/* The file system holding @path is writable and has room, and so is @path. */
static bool path_writable(const char *path, GString *out, const char *name)
{
    struct statvfs vfs;

    if (access(path, W_OK) < 0) {
        g_string_append_printf(out, "%s: %s: %s\n", name, path, g_strerror(errno));
        return false;
    }
    if (statvfs(path, &vfs) < 0) {
        g_string_append_printf(out, "%s: %s: %s\n", name, path, g_strerror(errno));
        return false;
    }
    if (vfs.f_flag & ST_RDONLY) {
        g_string_append_printf(out, "%s: %s: read-only file system\n", name, path);
        return false;
    }
    if (vfs.f_bfree == 0) {
        g_string_append_printf(out, "%s: %s: file system full\n", name, path);
        return false;
    }
    g_string_append_printf(out, "%s: ok\n", name);
    return true;
}

bool vg_metrics_ready(const vg_metrics_sources *src, GString *out)
{
    bool ok = true;
    char why[256];

    if (vg_registry_connected(src->registry)) {
        g_string_append(out, "libvirt: ok\n");
    } else {
        g_string_append(out, "libvirt: not connected\n");
        ok = false;
    }
    if (src->store && vg_store_get_backend(src->store) == VG_STORE_POSTGRESQL) {
        /* A database server: ready when it answers (its disk is its own business). */
        int r = vg_store_ping(src->store);
        if (r < 0) {
            g_string_append_printf(out, "store: %s: %s\n", vg_store_path(src->store),
                                   r == -ECONNREFUSED ? "cannot be reached" : g_strerror(-r));
            ok = false;
        } else {
            g_string_append(out, "store: ok\n");
        }
    } else {
        ok = path_writable(src->store_path, out, "store") && ok;
    }
    if (vg_audit_check_writable(src->audit, why, sizeof(why)) < 0) {
        g_string_append_printf(out, "audit: %s\n", why);
        ok = false;
    } else {
        g_string_append(out, "audit: ok\n");
    }
    return ok;
}
