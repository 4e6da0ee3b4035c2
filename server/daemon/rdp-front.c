/*
 * vmgate — the RDP front end in vmgated: glue between protocol/rdp's
 * server and the gate. The server asks for NLA hashes, a login and an
 * attach, and reports each viewer's end; the gate does the rest (broker,
 * session, roles, audit) as for every front end.
 */
#include <errno.h>

#include <glib.h>
#include <openssl/crypto.h>

#include "front.h"
#include "log.h"
#include "rdp-server.h"

#define TAG "rdp"
/* How long a login may wait for a powered-on VM's console. */
#define VG_RDP_LOGIN_TIMEOUT_S 60

typedef struct rdp_front {
    vg_gate *gate;
    vg_broker *broker; /* NLA: the NT hash and the failures, before any login */
    vg_rdp_server *server;
} rdp_front;

static int nla_hash(void *opaque, const char *user, const char *peer, uint8_t nt_hash[16])
{
    rdp_front *f = opaque;
    return vg_broker_nla_hash(f->broker, user, peer, nt_hash) < 0 ? -1 : 0;
}

static int grant_hash(void *opaque, const char *user, const char *grant_id, const char *peer,
                      uint8_t nt_hash[16], char vm[256])
{
    rdp_front *f = opaque;
    return vg_broker_grant_hash(f->broker, user, grant_id, peer, nt_hash, vm) < 0 ? -1 : 0;
}

static void nla_failed(void *opaque, const char *user, const char *peer)
{
    rdp_front *f = opaque;
    vg_broker_nla_failed(f->broker, user, peer);
}

static int login(void *opaque, const vg_rdp_login *l, vg_display_source **source, void **conn,
                 char *reason, size_t reason_len)
{
    rdp_front *f = opaque;
    vg_gate_redirect rd = {0};
    vg_gate_login_params gl = {.protocol = "rdp",
                               .user = l->user,
                               .password = l->password, /* NULL: NLA proved the identity */
                               .method = l->grant ? "grant" : NULL,
                               .peer = l->peer,
                               .requested = l->requested,
                               .timeout_s = VG_RDP_LOGIN_TIMEOUT_S,
                               .redirect = l->redirect ? &rd : NULL};
    vg_gate_viewer *v;
    int r;

    r = vg_gate_login(f->gate, &gl, &v, reason, reason_len);
    if (r == 1) {
        /* FreeRDP clients keep their port when redirected: the target must
         * serve RDP on this one's. */
        unsigned mine = vg_rdp_server_port(f->server);
        if (rd.to.rdp_port != mine) {
            g_snprintf(reason, reason_len, "Your VM is on gateway %s: connect to %s port %u",
                       rd.to.instance, rd.to.address, rd.to.rdp_port);
            OPENSSL_cleanse(rd.grant_secret, sizeof(rd.grant_secret));
            return -1;
        }
        g_strlcpy(l->redirect->address, rd.to.address, sizeof(l->redirect->address));
        g_strlcpy(l->redirect->user, rd.user, sizeof(l->redirect->user));
        g_snprintf(l->redirect->domain, sizeof(l->redirect->domain), "%s%s",
                   VG_RDP_GRANT_DOMAIN_PREFIX, rd.grant_id);
        g_strlcpy(l->redirect->password, rd.grant_secret, sizeof(l->redirect->password));
        OPENSSL_cleanse(rd.grant_secret, sizeof(rd.grant_secret));
        return 1;
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
    vg_rdp_peer_kick(opaque, reason);
}

static const vg_gate_viewer_ops viewer_ops = {.end = end_peer};

static int attach(void *opaque, void *conn, vg_rdp_peer *peer, vg_viewer **input)
{
    (void)opaque;
    *input = vg_gate_viewer_admit(conn, &viewer_ops, peer);
    return *input ? 0 : -1;
}

static void ended(void *opaque, void *conn, vg_rdp_peer *peer, const char *reason)
{
    (void)opaque;
    (void)peer;
    vg_gate_viewer_ended(conn, reason);
}

static int start(const vg_front_env *env, void **out)
{
    static const vg_rdp_server_ops ops = {.nla_hash = nla_hash,
                                          .grant_hash = grant_hash,
                                          .nla_failed = nla_failed,
                                          .login = login,
                                          .attach = attach,
                                          .ended = ended};
    const vg_config *cfg = env->cfg;
    vg_rdp_server_config sc = {.address = cfg->rdp_listen,
                               .port = cfg->rdp_port,
                               .cert_file = cfg->tls_certificate,
                               .key_file = cfg->tls_key,
                               .nla = cfg->rdp_nla,
                               .lossless = cfg->rdp_lossless,
                               .h264_preset = cfg->rdp_h264_preset,
                               .max_unauth_per_source = cfg->logins_per_address,
                               .login_timeout_ms = cfg->login_timeout * 1000,
                               .stall_timeout_ms = cfg->stalled_viewer_timeout * 1000};
    rdp_front *f = g_new0(rdp_front, 1);
    int r;

    if (!sc.nla)
        vg_warning("vmgated", "[rdp] nla = false: RDP logins use TLS and the Client Info PDU");
    f->gate = env->gate;
    f->broker = vg_gate_broker(env->gate);
    r = vg_rdp_server_new(&sc, &ops, f, &f->server);
    if (r < 0) {
        vg_error("vmgated", "cannot listen for RDP on %s port %u: %s", cfg->rdp_listen,
                 cfg->rdp_port, g_strerror(-r));
        g_free(f);
        return r;
    }
    vg_notice(TAG, "listening on %s port %u (%s%s)", cfg->rdp_listen, vg_rdp_server_port(f->server),
              sc.nla ? "NLA" : "TLS, no NLA", sc.lossless ? ", lossless" : "");
    *out = f;
    return 0;
}

static unsigned port(void *front)
{
    rdp_front *f = front;
    return vg_rdp_server_port(f->server);
}

/* FreeRDP holds the certificate in its own form: read the new pair. */
static int reload_tls(void *front, const vg_config *cfg, char **error)
{
    rdp_front *f = front;
    return vg_rdp_server_reload_tls(f->server, cfg->tls_certificate, cfg->tls_key, error);
}

static void stop(void *front)
{
    rdp_front *f = front;
    if (!f)
        return;
    vg_rdp_server_free(f->server); /* every peer ends, `ended` runs for each */
    g_free(f);
}

const vg_front_ops vg_rdp_front_ops = {
    .name = "RDP", .start = start, .port = port, .reload_tls = reload_tls, .stop = stop};
