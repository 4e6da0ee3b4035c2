/*
 * vmgated — the vmgate daemon: follows the hypervisor, brokers logins to VM
 * consoles, and serves the admin socket. The front ends (VNC, RDP) come
 * from a table (front.h) and plug in through the gate (gate.h).
 *
 * Threads: the main thread runs a GLib main loop for signals (SIGTERM and
 * SIGINT stop, SIGHUP reloads); the registry, admin server and consoles
 * have their own threads (see their headers).
 *
 * Under systemd (Type=notify) it says READY=1 once the admin socket and the
 * front ends listen, RELOADING=1 then READY=1 around a reload, STOPPING=1
 * when it stops; sd_notify does nothing without $NOTIFY_SOCKET.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <systemd/sd-daemon.h>

#include "admin.h"
#include "audit.h"
#include "audit-ship.h"
#include "broker.h"
#include "config.h"
#include "console.h"
#include "daemon-live.h"
#include "front.h"
#include "gate.h"
#include "hypervisor.h"
#include "idle.h"
#include "instance.h"
#include "keymap.h"
#include "log.h"
#include "metrics-collect.h"
#include "metrics-http.h"
#include "registry.h"
#include "sessions.h"
#include "store.h"
#include "tls.h"

#define TAG                   "vmgated"
#define VG_IDLE_CHECK_SECONDS 15

/* The front ends: each serves one protocol through the gate. */
static const vg_front_ops *const front_table[] = {&vg_vnc_front_ops, &vg_rdp_front_ops,
                                                  &vg_web_front_ops};

typedef struct daemon_state {
    char *config_path;
    vg_config *cfg;
    GMainContext *context;
    GMainLoop *loop;
    vg_store *store;
    vg_audit *audit;
    vg_audit_ship *audit_ship; /* the audit records' copy in a shared (PostgreSQL) store */
    vg_sessions *sessions;
    vg_registry *registry;
    vg_broker *broker;
    vg_admin *admin;
    vg_idle *idle;
    vg_tls *tls;
    vg_gate *gate;
    void *fronts[G_N_ELEMENTS(front_table)]; /* each front end's state */
    bool fronts_up;                          /* started (they need a certificate) */
    vg_daemon_live live;
    vg_metrics_sources metrics_src;
    vg_metrics_http *metrics;
    vg_instance *instance; /* registration and heartbeat in the store */
} daemon_state;

/* Run @fn(d) when @src fires, on the daemon's own main loop. */
static void add_source(daemon_state *d, GSource *src, GSourceFunc fn)
{
    g_source_set_callback(src, fn, d, NULL);
    g_source_attach(src, d->context);
    g_source_unref(src);
}

static gboolean on_stop(gpointer data)
{
    daemon_state *d = data;
    vg_notice(TAG, "stopping");
    sd_notify(0, "STOPPING=1");
    g_main_loop_quit(d->loop);
    return G_SOURCE_CONTINUE;
}

/* Start every front end with the certificate loaded.
 * @return 0, or the first failure's negative errno (logged) with the ones
 *         started before it stopped again. */
static int start_fronts(daemon_state *d)
{
    vg_front_env env = {.cfg = d->cfg, .gate = d->gate, .tls = d->tls};
    int r;

    for (size_t i = 0; i < G_N_ELEMENTS(front_table); i++) {
        if ((r = front_table[i]->start(&env, &d->fronts[i])) < 0) {
            for (size_t j = 0; j < i; j++) {
                front_table[j]->stop(d->fronts[j]);
                d->fronts[j] = NULL;
            }
            return r;
        }
    }
    d->fronts_up = true;
    return 0;
}

/* Load or reload the TLS certificate for the front ends. Without one the
 * daemon still runs (admin socket, broker), and says so. */
static void load_tls(daemon_state *d, const vg_config *cfg)
{
    g_autofree char *err = NULL;
    char fp[VG_TLS_FINGERPRINT_SIZE];
    int r = d->tls ? vg_tls_reload(d->tls, cfg->tls_certificate, cfg->tls_key, &err)
                   : vg_tls_new(cfg->tls_certificate, cfg->tls_key, &d->tls, &err);
    if (r < 0) {
        vg_warning(TAG, "TLS certificate not %s: %s%s", d->tls ? "reloaded" : "loaded",
                   err ? err : g_strerror(-r),
                   d->tls ? " (keeping the previous one)" : " (VNC and RDP need one)");
        return;
    }
    vg_tls_fingerprint(d->tls, fp);
    vg_notice(TAG, "TLS certificate %s (SHA-256 %s)", cfg->tls_certificate, fp);
    /* A front end that holds the pair in its own form (RDP: FreeRDP's). */
    for (size_t i = 0; i < G_N_ELEMENTS(front_table); i++) {
        if (!d->fronts[i] || !front_table[i]->reload_tls)
            continue;
        g_clear_pointer(&err, g_free);
        if ((r = front_table[i]->reload_tls(d->fronts[i], cfg, &err)) < 0)
            vg_warning(TAG, "%s: TLS certificate not reloaded: %s (keeping the previous one)",
                       front_table[i]->name, err ? err : g_strerror(-r));
    }
}

/* The ports this instance serves now, in the order of front_table (0: off). */
static void front_ports(daemon_state *d, unsigned ports[3])
{
    G_STATIC_ASSERT(G_N_ELEMENTS(front_table) == 3);
    for (size_t i = 0; i < G_N_ELEMENTS(front_table); i++)
        ports[i] = d->fronts[i] ? front_table[i]->port(d->fronts[i]) : 0;
}

static gboolean on_reload(gpointer data)
{
    daemon_state *d = data;
    vg_config *cfg = NULL;
    g_autofree char *err = NULL;

    sd_notify(0, "RELOADING=1");
    if (vg_config_load(d->config_path, &cfg, &err) < 0) {
        vg_error(TAG, "reload refused, keeping the running configuration:\n%s", err);
        sd_notify(0, "READY=1\nSTATUS=reload refused, running configuration kept");
        return G_SOURCE_CONTINUE;
    }
    if (strcmp(cfg->libvirt_uri, d->cfg->libvirt_uri) != 0 ||
        strcmp(cfg->libvirt_vms, d->cfg->libvirt_vms) != 0 ||
        strcmp(cfg->state_dir, d->cfg->state_dir) != 0 ||
        strcmp(cfg->admin_socket, d->cfg->admin_socket) != 0 ||
        strcmp(cfg->instance_name, d->cfg->instance_name) != 0 ||
        strcmp(cfg->instance_address, d->cfg->instance_address) != 0 ||
        strcmp(cfg->instance_ca, d->cfg->instance_ca) != 0)
        vg_warning(TAG, "reload: [instance], [libvirt] uri and vms, state_dir and admin_socket "
                        "take effect on restart");
    if (cfg->metrics_enabled != d->cfg->metrics_enabled ||
        strcmp(cfg->metrics_listen, d->cfg->metrics_listen) != 0 ||
        cfg->metrics_port != d->cfg->metrics_port)
        vg_warning(TAG, "reload: [metrics] takes effect on restart");
    vg_broker_reconfigure(d->broker, cfg);
    vg_log_set_level(cfg->log_level);
    vg_console_set_max_screen(cfg->max_screen_width, cfg->max_screen_height);
    /* After logrotate moved it away (see vmgated.logrotate). */
    (void)vg_audit_reopen(d->audit);
    load_tls(d, cfg);
    /* Sessions keep running: nothing here touches them. TLS contexts are
     * rebuilt from the new certificate paths by the front ends. */
    vg_config_free(d->cfg);
    d->cfg = cfg;
    vg_notice(TAG, "configuration reloaded from %s", d->config_path);
    /* The first certificate, set while the daemon ran without one. */
    if (d->tls && !d->fronts_up) {
        if (start_fronts(d) < 0) {
            vg_warning(TAG, "VNC, RDP and the web stay off (see above); reload to try again");
            sd_notify(0, "READY=1\nSTATUS=configuration reloaded; VNC, RDP and the web off");
            return G_SOURCE_CONTINUE;
        }
        vg_notice(TAG, "VNC, RDP and the web are on: a TLS certificate is loaded");
        {
            unsigned ports[3];
            front_ports(d, ports);
            vg_instance_set_ports(d->instance, ports[0], ports[1], ports[2]);
        }
        sd_notify(0, "READY=1\nSTATUS=serving VNC, RDP and the web");
        return G_SOURCE_CONTINUE;
    }
    sd_notify(0, "READY=1\nSTATUS=configuration reloaded");
    return G_SOURCE_CONTINUE;
}

static gboolean on_idle_tick(gpointer data)
{
    daemon_state *d = data;
    vg_idle_check(d->idle, g_get_monotonic_time() / G_USEC_PER_SEC);
    return G_SOURCE_CONTINUE;
}

static int audit_sink(void *opaque, const char *event, ...)
{
    daemon_state *d = opaque;
    va_list ap;
    int r;
    va_start(ap, event);
    r = vg_audit_eventv(d->audit, event, ap);
    va_end(ap);
    return r;
}

/* Failed-login records wait for an fsync at most this long (see audit.h). */
static gboolean on_audit_flush(gpointer data)
{
    daemon_state *d = data;
    (void)vg_audit_flush(d->audit);
    return G_SOURCE_CONTINUE;
}

static void metrics_collect(void *opaque, GString *out)
{
    vg_metrics_collect(opaque, out);
}

static bool metrics_ready(void *opaque, GString *out)
{
    return vg_metrics_ready(opaque, out);
}

static const vg_metrics_http_ops metrics_ops = {.collect = metrics_collect, .ready = metrics_ready};

/* The metrics listener, when [metrics] enabled says so. Its address and
 * port take effect at start only (like the front ends'). */
static int start_metrics(daemon_state *d, const char *db)
{
    g_autofree char *err = NULL;
    int r;

    if (!d->cfg->metrics_enabled)
        return 0;
    d->metrics_src = (vg_metrics_sources){.sessions = d->sessions,
                                          .registry = d->registry,
                                          .broker = d->broker,
                                          .audit = d->audit,
                                          .store_path = db,
                                          .instance = d->cfg->instance_name,
                                          .store = d->store};
    r = vg_metrics_http_new(d->cfg->metrics_listen, d->cfg->metrics_port, &metrics_ops,
                            &d->metrics_src, &d->metrics, &err);
    if (r < 0) {
        vg_error(TAG, "metrics: %s", err);
        return r;
    }
    vg_notice(TAG, "metrics on http://%s%s%s:%u/metrics",
              strchr(d->cfg->metrics_listen, ':') ? "[" : "", d->cfg->metrics_listen,
              strchr(d->cfg->metrics_listen, ':') ? "]" : "", vg_metrics_http_port(d->metrics));
    return 0;
}

static int make_dir(const char *path, mode_t mode)
{
    if (g_mkdir_with_parents(path, mode) < 0) {
        int e = errno;
        fprintf(stderr, "vmgated: cannot create %s: %s\n", path, g_strerror(e));
        return -e;
    }
    return 0;
}

int main(int argc, char **argv)
{
    g_autofree char *config_path = NULL;
    gboolean foreground = FALSE, check = FALSE;
    g_autoptr(GError) gerr = NULL;
    GOptionEntry entries[] = {
        {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
         "configuration file (default " VG_CONFIG_DEFAULT_PATH ")", "FILE"},
        {"foreground", 'f', 0, G_OPTION_ARG_NONE, &foreground,
         "stay in the foreground and log to stderr (for systemd and terminals)", NULL},
        {"check-config", 0, 0, G_OPTION_ARG_NONE, &check, "check the configuration file and exit",
         NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("- the vmgate remote console gateway");
    daemon_state d = {0};
    g_autofree char *err = NULL, *db = NULL, *audit_dir = NULL;
    vg_store_options so;
    int r, rc = 1;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(
        ctx, "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP reloads policy and certificates\n"
             "without dropping sessions. The sample configuration lists every key.");
    if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
        fprintf(stderr, "vmgated: %s\nTry 'vmgated --help'.\n", gerr->message);
        return 2;
    }
    if (argc > 1) {
        fprintf(stderr, "vmgated: unexpected argument '%s'\n", argv[1]);
        return 2;
    }
    d.config_path = g_strdup(config_path ? config_path : VG_CONFIG_DEFAULT_PATH);
    r = vg_config_load(d.config_path, &d.cfg, &err);
    if (r < 0) {
        fprintf(stderr, "vmgated: %s\n", err ? err : g_strerror(-r));
        g_free(d.config_path);
        return 2;
    }
    if (check) {
        printf("%s: OK\n", d.config_path);
        vg_config_free(d.cfg);
        g_free(d.config_path);
        return 0;
    }
    vg_log_set_level(d.cfg->log_level);
    vg_console_set_max_screen(d.cfg->max_screen_width, d.cfg->max_screen_height);
    signal(SIGPIPE, SIG_IGN);
    /* Screens and their buffers (a 1024x768 frame is 3 MiB) come and go
     * with sessions, from many threads. glibc raises its mmap threshold
     * past the size of a freed mmapped block, so later frames came from the
     * per-thread arenas, and each arena kept one after its session ended
     * (resident memory 42 -> 95 MiB after 400 VNC logins, never given
     * back). A fixed threshold keeps blocks this large mmapped: freed,
     * they go back to the system. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    /* A write past RLIMIT_FSIZE (a limit set by the service manager, say)
     * must fail with EFBIG, which the audit log handles (logins refused
     * until it can write), not kill the daemon. */
    signal(SIGXFSZ, SIG_IGN);
    if (!foreground) {
        if (daemon(0, 0) < 0) {
            fprintf(stderr, "vmgated: cannot daemonize: %s\n", g_strerror(errno));
            return 1;
        }
        vg_log_use_syslog("vmgated");
    }

    if (make_dir(d.cfg->state_dir, 0700) < 0)
        goto out;
    audit_dir = g_path_get_dirname(d.cfg->audit_log);
    if (make_dir(audit_dir, 0750) < 0)
        goto out;
    db = g_build_filename(d.cfg->state_dir, "vmgate.db", NULL);
    /* The password file is read at start only (here and by the heartbeat's connection); each
     * store keeps the password for reconnects. */
    so = (vg_store_options){.backend = d.cfg->store_backend,
                            .path = db,
                            .dsn = d.cfg->store_dsn,
                            .password_file =
                                *d.cfg->store_password_file ? d.cfg->store_password_file : NULL};
    {
        if ((r = vg_store_open_with(&so, &d.store)) < 0) {
            if (so.backend == VG_STORE_SQLITE)
                vg_error(TAG, "cannot open the store %s: %s", db, g_strerror(-r));
            else
                vg_error(TAG, "cannot open the store on PostgreSQL ([store] dsn): %s",
                         g_strerror(-r));
            goto out;
        }
        vg_notice(TAG, "store: %s", vg_store_path(d.store));
    }
    if ((r = vg_audit_new(d.cfg->audit_log, d.cfg->instance_name, &d.audit)) < 0) {
        vg_error(TAG, "cannot open the audit log %s: %s", d.cfg->audit_log, g_strerror(-r));
        goto out;
    }
    /* Several instances share a PostgreSQL store: each copies its audit records there, on a
     * thread and connection of its own, so `vmgatectl audit` anywhere shows them all. */
    if (so.backend == VG_STORE_POSTGRESQL &&
        (r = vg_audit_ship_start(&so, d.audit, d.cfg->instance_name, NULL, &d.audit_ship)) < 0)
        goto out;
    load_tls(&d, d.cfg);
    d.sessions = vg_sessions_new();
    if ((r = vg_registry_new(d.cfg->libvirt_uri, d.cfg->libvirt_vms, NULL, NULL, &d.registry)) <
        0) {
        vg_error(TAG, "cannot start the VM registry: %s", g_strerror(-r));
        goto out;
    }
    if ((r = vg_broker_new(d.store, d.registry, d.sessions, d.cfg, audit_sink, &d, &d.broker)) <
        0) {
        vg_error(TAG, "cannot start the broker: %s", g_strerror(-r));
        goto out;
    }
    d.live.registry = d.registry;
    d.live.sessions = d.sessions;
    d.live.audit = d.audit;
    {
        vg_admin_config ac = {.socket_path = d.cfg->admin_socket,
                              .group = d.cfg->admin_group,
                              .readonly_group = d.cfg->admin_readonly_group,
                              .idle_timeout_s = d.cfg->admin_idle_timeout,
                              .instance = d.cfg->instance_name};
        if ((r = vg_admin_new(&ac, d.store, d.sessions, d.audit, &vg_daemon_live_ops, &d.live,
                              &d.admin)) < 0) {
            vg_error(TAG, "cannot open the admin socket %s: %s", d.cfg->admin_socket,
                     g_strerror(-r));
            goto out;
        }
    }

    d.gate = vg_gate_new(d.broker, d.sessions, d.audit);
    if (d.tls) {
        if ((r = start_fronts(&d)) < 0)
            goto out;
    } else {
        vg_warning(TAG, "VNC, RDP and the web are off: they need a TLS certificate ([tls] "
                        "certificate and key); set one and reload");
    }
    {
        /* After the front ends: the ports registered are those they serve. */
        unsigned ports[3];
        vg_store_instance_info info = {.name = d.cfg->instance_name,
                                       .address = d.cfg->instance_address};
        front_ports(&d, ports);
        info.vnc_port = ports[0];
        info.rdp_port = ports[1];
        info.web_port = ports[2];
        if ((r = vg_instance_start(&so, &info, d.registry, d.sessions, d.audit, &d.instance)) < 0)
            goto out;
    }
    d.idle = vg_idle_new(d.store, d.registry, d.sessions, d.audit);
    if (start_metrics(&d, db) < 0)
        goto out;
    /* The daemon's loop has a context of its own: libvirt's event thread
     * iterates GLib's default one, where these would also run. */
    d.context = g_main_context_new();
    d.loop = g_main_loop_new(d.context, FALSE);
    /* Idle minutes are whole minutes: checking every 15 s is precise enough. */
    add_source(&d, g_timeout_source_new_seconds(VG_IDLE_CHECK_SECONDS), on_idle_tick);
    on_idle_tick(&d);
    add_source(&d, g_unix_signal_source_new(SIGTERM), on_stop);
    add_source(&d, g_unix_signal_source_new(SIGINT), on_stop);
    add_source(&d, g_unix_signal_source_new(SIGHUP), on_reload);
    add_source(&d, g_timeout_source_new_seconds(1), on_audit_flush);
    vg_notice(TAG, "started: libvirt %s, state %s, admin socket %s", d.cfg->libvirt_uri,
              d.cfg->state_dir, d.cfg->admin_socket);
    sd_notifyf(0, "READY=1\nSTATUS=%s",
               d.tls ? "serving VNC, RDP and the web"
                     : "VNC, RDP and the web off: no TLS certificate");
    g_main_loop_run(d.loop);
    rc = 0;

out:
    /* First: it reads the sessions, the registry, the broker and the audit log. */
    vg_metrics_http_free(d.metrics);
    /* A clean stop: other instances see this one stopped, not down. */
    vg_instance_stop(d.instance);
    for (size_t i = G_N_ELEMENTS(front_table); i-- > 0;)
        front_table[i]->stop(d.fronts[i]);
    vg_gate_free(d.gate);
    vg_admin_free(d.admin);
    vg_idle_free(d.idle);
    vg_broker_free(d.broker);
    vg_registry_free(d.registry);
    vg_libvirt_event_loop_stop();
    if (d.sessions)
        vg_sessions_free(d.sessions);
    /* Last before the audit log: the viewers' logouts above are copied too. */
    vg_audit_ship_stop(d.audit_ship);
    if (d.audit)
        vg_audit_free(d.audit);
    if (d.store)
        vg_store_close(d.store);
    if (d.loop)
        g_main_loop_unref(d.loop);
    if (d.context)
        g_main_context_unref(d.context);
    vg_tls_free(d.tls);
    vg_config_free(d.cfg);
    g_free(d.config_path);
    if (rc == 0)
        vg_notice(TAG, "stopped");
    return rc;
}
