/*
 * vmgate — the web front end in vmgated: glue between protocol/web's server
 * and the gate. A browser logs in once (the broker checks the password,
 * with the same limiter and audit as VNC and RDP), picks a VM, and each
 * console is a gate login of that user (identity proven by the web
 * session) whose RFB stream is served by a VNC server object of this front
 * end's own (no listener: its viewers come from here), through the same
 * viewer object, roles, takeover, kick and audit as every other viewer.
 */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "console.h"
#include "front.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "tls.h"
#include "vnc-server.h"
#include "web-server.h"

#define TAG "web"
/* How long a console login may wait for a powered-on VM's console. */
#define VG_WEB_LOGIN_TIMEOUT_S 60
#define THUMB_W                320
#define THUMB_H                240

typedef struct web_front {
    vg_gate *gate;
    vg_tls *tls;
    vg_vnc_server *vnc;
    vg_web_server *web;
    SSL_CTX *forward_ctx; /* checks the other instances' certificates; NULL: no forwarding */
} web_front;

/* One console: the gate's viewer (NULL when forwarded to another
 * instance, whose viewer it is) and the page's WebSocket. */
typedef struct web_conn {
    vg_gate_viewer *viewer;
    vg_web_console *console;
} web_conn;

/* ---- the web server's ops (worker threads) --------------------------------- */

static SSL_CTX *get_ssl_ctx(void *opaque)
{
    web_front *f = opaque;
    return vg_tls_get_ctx(f->tls);
}

static int authenticate(void *opaque, const char *user, const char *password, const char *peer,
                        char *reason, size_t reason_len)
{
    web_front *f = opaque;
    vg_broker_result res;

    vg_broker_authenticate(vg_gate_broker(f->gate), user, password, peer, "web", &res);
    if (res.status == VG_BROKER_OK)
        return 0;
    g_strlcpy(reason, res.message, reason_len);
    return -1;
}

static bool user_ok(void *opaque, const char *user)
{
    web_front *f = opaque;
    return vg_broker_user_active(vg_gate_broker(f->gate), user);
}

static const char *state_name(vg_vm_state s)
{
    switch (s) {
    case VG_VM_RUNNING:
        return "running";
    case VG_VM_PAUSED:
        return "paused";
    case VG_VM_SHUTOFF:
        return "shut-off";
    case VG_VM_UNAVAILABLE:
        return "unavailable";
    case VG_VM_MISSING:
    default:
        return "missing";
    }
}

static int list_vms(void *opaque, const char *user, GArray **out)
{
    web_front *f = opaque;
    GArray *reach = NULL, *list;
    int r = vg_broker_reachable(vg_gate_broker(f->gate), user, &reach);

    if (r < 0)
        return r;
    list = g_array_sized_new(FALSE, TRUE, sizeof(vg_web_vm), reach->len);
    for (guint i = 0; i < reach->len; i++) {
        const vg_broker_vm_entry *e = &g_array_index(reach, vg_broker_vm_entry, i);
        vg_web_vm vm = {0};
        g_strlcpy(vm.name, e->vm, sizeof(vm.name));
        g_strlcpy(vm.role, vg_role_name(e->role), sizeof(vm.role));
        g_strlcpy(vm.state, state_name(e->state), sizeof(vm.state));
        g_strlcpy(vm.pool, e->pool, sizeof(vm.pool));
        vm.taken = e->taken;
        g_array_append_val(list, vm);
    }
    g_array_unref(reach);
    *out = list;
    return 0;
}

/* From the one capture path: the VM's console's surface, scaled down. */
static int thumbnail(void *opaque, const char *user, const char *vm, uint8_t **png, size_t *len)
{
    web_front *f = opaque;
    vg_broker *b = vg_gate_broker(f->gate);
    GArray *reach = NULL;
    vg_console *console;
    bool mine = false;
    int r = vg_broker_reachable(b, user, &reach);

    if (r < 0)
        return r;
    for (guint i = 0; i < reach->len && !mine; i++)
        mine = strcmp(g_array_index(reach, vg_broker_vm_entry, i).vm, vm) == 0;
    g_array_unref(reach);
    if (!mine)
        return -ENOENT;
    console = vg_registry_get_console(vg_broker_registry(b), vm);
    if (!console)
        return -ENODATA;
    r = vg_surface_encode_png_scaled(vg_console_surface(console), THUMB_W, THUMB_H, png, len);
    vg_console_unref(console);
    return r;
}

static int console(void *opaque, const char *user, const char *vm, const char *peer, int fd,
                   vg_web_console *wc, char *reason, size_t reason_len)
{
    web_front *f = opaque;
    vg_gate_redirect rd = {0};
    vg_gate_login_params gl = {.protocol = "web",
                               .user = user,
                               .password = NULL, /* the web session proved who it is */
                               .method = "web",
                               .peer = peer,
                               .requested = vm,
                               .timeout_s = VG_WEB_LOGIN_TIMEOUT_S,
                               .redirect = f->forward_ctx ? &rd : NULL};
    g_autofree char *label = g_strdup_printf("peer %s user %s (web)", peer, user);
    vg_gate_viewer *v;
    web_conn *c;
    int r = vg_gate_login(f->gate, &gl, &v, reason, reason_len);

    if (r == 1) {
        /* Another instance holds the VM: its VNC port serves this console,
         * logged in there with the grant (as the VNC front end forwards). */
        vg_vnc_upstream *up = NULL;
        if (vg_front_forward_connect(f->forward_ctx, &rd, VG_WEB_LOGIN_TIMEOUT_S, &up, reason,
                                     reason_len) < 0)
            return -1;
        c = g_new0(web_conn, 1);
        c->console = wc;
        vg_vnc_server_adopt_forward(f->vnc, fd, label, up, c);
        return 0;
    }
    if (r < 0)
        return -1;
    c = g_new0(web_conn, 1);
    c->viewer = v;
    c->console = wc;
    vg_vnc_server_adopt(f->vnc, fd, label, vg_gate_viewer_source(v), c);
    return 0;
}

static void logout(void *opaque, const char *user, const char *peer, const char *why)
{
    web_front *f = opaque;
    vg_broker_signed_out(vg_gate_broker(f->gate), user, peer, "web", why);
}

/* ---- the VNC server's ops: the same steps as the VNC front end's ------------- */

/* The gate ends the viewer (kick, takeover, revocation). */
static void end_peer(void *opaque, const char *reason)
{
    vg_vnc_peer_kick(opaque, reason);
}

static const vg_gate_viewer_ops viewer_ops = {.end = end_peer};

static int attach(void *opaque, void *conn, vg_vnc_peer *peer, vg_viewer **input)
{
    web_conn *c = conn;
    (void)opaque;
    *input = vg_gate_viewer_admit(c->viewer, &viewer_ops, peer);
    return *input ? 0 : -1;
}

static void ended(void *opaque, void *conn, vg_vnc_peer *peer, const char *reason)
{
    web_conn *c = conn;
    (void)opaque;
    (void)peer;
    if (c->viewer)
        vg_gate_viewer_ended(c->viewer, reason);
    vg_web_console_ended(c->console, reason);
    g_free(c);
}

/* ---- the front end ------------------------------------------------------------ */

static int start(const vg_front_env *env, void **out)
{
    static const vg_vnc_server_ops vops = {.attach = attach, .ended = ended};
    static const vg_web_server_ops wops = {.get_ssl_ctx = get_ssl_ctx,
                                           .authenticate = authenticate,
                                           .user_ok = user_ok,
                                           .list_vms = list_vms,
                                           .thumbnail = thumbnail,
                                           .console = console,
                                           .logout = logout};
    const vg_config *cfg = env->cfg;
    vg_vnc_server_config vc = {.address = NULL, /* no listener: viewers come from the web */
                               .stall_timeout_ms = cfg->stalled_viewer_timeout * 1000,
                               .metric_protocol = VG_METRIC_PROTO_WEB};
    vg_web_server_config wc = {.address = cfg->web_listen,
                               .port = cfg->web_port,
                               .novnc_dir = cfg->web_novnc_dir,
                               .max_unauth_per_source = cfg->logins_per_address,
                               .login_timeout_ms = cfg->login_timeout * 1000,
                               .session_lifetime_s = cfg->web_session_lifetime,
                               .session_idle_s = cfg->web_session_idle};
    web_front *f;
    int r;

    *out = NULL;
    if (!cfg->web_enabled) {
        vg_info(TAG, "the web front end is off ([web] enabled = false)");
        return 0;
    }
    if (!g_file_test(cfg->web_novnc_dir, G_FILE_TEST_IS_DIR))
        vg_warning(TAG, "%s does not exist: the console page needs noVNC (the novnc package)",
                   cfg->web_novnc_dir);
    f = g_new0(web_front, 1);
    f->gate = env->gate;
    f->tls = env->tls;
    if (*cfg->instance_ca && !(f->forward_ctx = vg_tls_client_ctx_new(cfg->instance_ca))) {
        g_free(f);
        return -EINVAL;
    }
    r = vg_vnc_server_new(&vc, &vops, f, &f->vnc);
    if (r == 0)
        r = vg_web_server_new(&wc, &wops, f, &f->web);
    if (r < 0) {
        vg_error("vmgated", "cannot listen for the web on %s port %u: %s", cfg->web_listen,
                 cfg->web_port, g_strerror(-r));
        vg_vnc_server_free(f->vnc);
        SSL_CTX_free(f->forward_ctx);
        g_free(f);
        return r;
    }
    vg_notice(TAG, "listening on %s port %u (HTTPS)", cfg->web_listen, vg_web_server_port(f->web));
    *out = f;
    return 0;
}

static unsigned port(void *front)
{
    web_front *f = front;
    return f ? vg_web_server_port(f->web) : 0;
}

static void stop(void *front)
{
    web_front *f = front;
    if (!f)
        return;
    /* Pages and WebSockets close (a console login in progress finishes
     * first), then every console's viewer ends, each audited. */
    vg_web_server_free(f->web);
    vg_vnc_server_free(f->vnc);
    SSL_CTX_free(f->forward_ctx);
    g_free(f);
}

/* The certificate is taken from env->tls for each connection: nothing to
 * reload here. */
const vg_front_ops vg_web_front_ops = {.name = "web", .start = start, .port = port, .stop = stop};
