/*
 * vmgate — the VNC front end in vmgated: glue between protocol/vnc's
 * server and the gate. The server asks for a login and an attach, and
 * reports each viewer's end; the gate does the rest (broker, session,
 * roles, audit) as for every front end.
 */
#include <errno.h>

#include <glib.h>
#include <openssl/crypto.h>

#include "front.h"
#include "log.h"
#include "tls.h"
#include "util.h"
#include "vnc-server.h"

#define TAG "vnc"
/* How long a login may wait for a powered-on VM's console. */
#define VG_VNC_LOGIN_TIMEOUT_S 60

typedef struct vnc_front {
    vg_gate *gate;
    vg_tls *tls;
    vg_vnc_server *server;
    SSL_CTX *forward_ctx; /* checks the other instances' certificates; NULL: no forwarding */
} vnc_front;

static SSL_CTX *get_ssl_ctx(void *opaque)
{
    vnc_front *f = opaque;
    return vg_tls_get_ctx(f->tls);
}

static int login(void *opaque, const vg_vnc_login *l, vg_display_source **source, void **conn,
                 char *reason, size_t reason_len)
{
    vnc_front *f = opaque;
    vg_gate_redirect rd = {0};
    vg_gate_login_params gl = {.protocol = "vnc",
                               .user = l->user,
                               .password = l->password,
                               .peer = l->peer,
                               .timeout_s = VG_VNC_LOGIN_TIMEOUT_S,
                               .redirect = f->forward_ctx && l->upstream ? &rd : NULL};
    vg_gate_viewer *v;
    int r = vg_gate_login(f->gate, &gl, &v, reason, reason_len);

    if (r == 1) {
        /* Another instance holds the VM: log in there with the grant and
         * forward the viewer (RFB has no redirection). */
        r = vg_front_forward_connect(f->forward_ctx, &rd, VG_VNC_LOGIN_TIMEOUT_S, l->upstream,
                                     reason, reason_len);
        return r < 0 ? -1 : 1;
    }
    if (r < 0)
        return -1;
    *source = vg_gate_viewer_source(v);
    *conn = v;
    return 0;
}

/* The gate ends the viewer (kick, takeover, revocation). */
static void end_peer(void *opaque, const char *reason)
{
    vg_vnc_peer_kick(opaque, reason);
}

static const vg_gate_viewer_ops viewer_ops = {.end = end_peer};

static int attach(void *opaque, void *conn, vg_vnc_peer *peer, vg_viewer **input)
{
    (void)opaque;
    *input = vg_gate_viewer_admit(conn, &viewer_ops, peer);
    return *input ? 0 : -1;
}

static void ended(void *opaque, void *conn, vg_vnc_peer *peer, const char *reason)
{
    (void)opaque;
    (void)peer;
    vg_gate_viewer_ended(conn, reason);
}

int vg_front_forward_connect(SSL_CTX *ctx, vg_gate_redirect *rd, int timeout_s,
                             vg_vnc_upstream **up, char *reason, size_t reason_len)
{
    char user[sizeof(VG_BROKER_GRANT_LOGIN_PREFIX) + VG_BROKER_GRANT_ID_LEN + 1 + 65];
    vg_vnc_forward_target t = {.address = rd->to.address,
                               .port = rd->to.vnc_port,
                               .user = user,
                               .password = rd->grant_secret,
                               .ctx = ctx};
    int r = -ENOTCONN;

    g_snprintf(user, sizeof(user), "%s%s:%s", VG_BROKER_GRANT_LOGIN_PREFIX, rd->grant_id, rd->user);
    if (rd->to.vnc_port)
        r = vg_vnc_upstream_connect(&t, vg_now_us() + (int64_t)timeout_s * G_USEC_PER_SEC, up,
                                    reason, reason_len);
    else
        g_snprintf(reason, reason_len, "VNC is off on gateway %s, which holds your VM",
                   rd->to.instance);
    OPENSSL_cleanse(rd->grant_secret, sizeof(rd->grant_secret));
    return r;
}

static int start(const vg_front_env *env, void **out)
{
    static const vg_vnc_server_ops ops = {
        .get_ssl_ctx = get_ssl_ctx, .login = login, .attach = attach, .ended = ended};
    const vg_config *cfg = env->cfg;
    vg_vnc_server_config sc = {.address = cfg->vnc_listen,
                               .port = cfg->vnc_port,
                               .allow_insecure_loopback = cfg->vnc_allow_insecure_loopback,
                               .max_unauth_per_source = cfg->logins_per_address,
                               .login_timeout_ms = cfg->login_timeout * 1000,
                               .stall_timeout_ms = cfg->stalled_viewer_timeout * 1000};
    vnc_front *f = g_new0(vnc_front, 1);
    int r;

    if (sc.allow_insecure_loopback)
        vg_warning("vmgated", "[vnc] allow_insecure_loopback: unencrypted VNC (VeNCrypt Plain, "
                              "no TLS) is allowed on loopback");
    f->gate = env->gate;
    f->tls = env->tls;
    if (*cfg->instance_ca && !(f->forward_ctx = vg_tls_client_ctx_new(cfg->instance_ca))) {
        g_free(f);
        return -EINVAL;
    }
    r = vg_vnc_server_new(&sc, &ops, f, &f->server);
    if (r < 0) {
        SSL_CTX_free(f->forward_ctx);
        vg_error("vmgated", "cannot listen for VNC on %s port %u: %s", cfg->vnc_listen,
                 cfg->vnc_port, g_strerror(-r));
        g_free(f);
        return r;
    }
    vg_notice(TAG, "listening on %s port %u", cfg->vnc_listen, vg_vnc_server_port(f->server));
    *out = f;
    return 0;
}

static unsigned port(void *front)
{
    vnc_front *f = front;
    return vg_vnc_server_port(f->server);
}

static void stop(void *front)
{
    vnc_front *f = front;
    if (!f)
        return;
    vg_vnc_server_free(f->server); /* every viewer ends, `ended` runs for each */
    SSL_CTX_free(f->forward_ctx);
    g_free(f);
}

/* The certificate is taken from env->tls for each connection: nothing to
 * reload here. */
const vg_front_ops vg_vnc_front_ops = {.name = "VNC", .start = start, .port = port, .stop = stop};
