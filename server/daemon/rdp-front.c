/*
 * vmgate — RDP front end glue in vmgated. Threading rules are in
 * rdp-front.h.
 *
 * A viewer's life: login (broker: NLA hash or password, VM choice, power on,
 * console) → attach (admit to the session; a takeover kicks older viewers)
 * → input (session check, then the console) → ended (leave the session,
 * audit). Every end — the client leaves, a kick, a takeover, the VM stops —
 * ends the peer's thread, which reports it once through `ended`.
 */
#include "rdp-front.h"

#include <errno.h>
#include <string.h>

#include <glib.h>
#include <openssl/crypto.h>

#include "log.h"
#include "rdp-server.h"

#define TAG "rdp"
/* How long a login may wait for a powered-on VM's console. */
#define VG_RDP_LOGIN_TIMEOUT_S 60

typedef struct viewer {
    vg_rdp_front *front;
    vg_rdp_peer *peer;
    vg_broker_result res; /* user, vm, role, and the console the peer shows */
    char id[24];
    char address[80];
    bool admitted;
} viewer;

struct vg_rdp_front {
    vg_broker *broker;
    vg_sessions *sessions;
    vg_audit *audit;
    vg_rdp_server *server;
    GMutex lock;
    GHashTable *live; /* viewer set: the ones a kick may still reach */
};

static int nla_hash(void *opaque, const char *user, const char *peer, uint8_t nt_hash[16])
{
    vg_rdp_front *f = opaque;
    return vg_broker_nla_hash(f->broker, user, peer, nt_hash) < 0 ? -1 : 0;
}

static void nla_failed(void *opaque, const char *user, const char *peer)
{
    vg_rdp_front *f = opaque;
    vg_broker_nla_failed(f->broker, user, peer);
}

static int login(void *opaque, const vg_rdp_login *l, vg_display_source **source, void **conn,
                 char *reason, size_t reason_len)
{
    vg_rdp_front *f = opaque;
    viewer *v = g_new0(viewer, 1);

    if (l->password)
        vg_broker_login(f->broker, l->user, l->password, l->peer, l->requested,
                        VG_RDP_LOGIN_TIMEOUT_S, &v->res);
    else
        vg_broker_login_verified(f->broker, l->user, l->peer, l->requested, VG_RDP_LOGIN_TIMEOUT_S,
                                 &v->res);
    if (v->res.status != VG_BROKER_OK) {
        g_strlcpy(reason, v->res.message, reason_len);
        g_free(v);
        return -1;
    }
    v->front = f;
    g_strlcpy(v->address, l->peer, sizeof(v->address));
    *source = vg_console_source(v->res.console); /* kept until ended() */
    *conn = v;
    return 0;
}

/* Session kick (takeover, admin kick): end the peer if it is still live. */
static void viewer_kick(void *opaque, const char *reason)
{
    viewer *v = opaque;
    vg_rdp_front *f = v->front;

    g_mutex_lock(&f->lock);
    if (g_hash_table_contains(f->live, v)) {
        vg_notice(TAG, "peer=%s user=%s vm=%s: ended: %s", v->address, v->res.user, v->res.vm,
                  reason);
        vg_rdp_peer_kick(v->peer, reason);
    }
    g_mutex_unlock(&f->lock);
}

static const vg_viewer_ops viewer_ops = {.kick = viewer_kick};

static int attach(void *opaque, void *conn, vg_rdp_peer *peer)
{
    vg_rdp_front *f = opaque;
    viewer *v = conn;
    int r;

    v->peer = peer;
    g_mutex_lock(&f->lock);
    g_hash_table_add(f->live, v);
    g_mutex_unlock(&f->lock);
    r = vg_broker_admit(f->broker, &v->res, "rdp", v->address, &viewer_ops, v, v->id);
    if (r < 0) {
        vg_warning(TAG, "peer=%s user=%s vm=%s: cannot join the session: %s", v->address,
                   v->res.user, v->res.vm, g_strerror(-r));
        return -1;
    }
    v->admitted = true;
    vg_notice(TAG, "peer=%s user=%s vm=%s: viewer %s attached as %s", v->address, v->res.user,
              v->res.vm, v->id, vg_role_name(v->res.role));
    return 0;
}

static bool may_input(void *opaque, void *conn)
{
    vg_rdp_front *f = opaque;
    viewer *v = conn;
    return v->admitted && vg_sessions_may_input(f->sessions, v->id);
}

static void ended(void *opaque, void *conn, vg_rdp_peer *peer, const char *reason)
{
    vg_rdp_front *f = opaque;
    viewer *v = conn;

    (void)peer;
    g_mutex_lock(&f->lock);
    g_hash_table_remove(f->live, v);
    g_mutex_unlock(&f->lock);
    if (v->admitted) {
        vg_sessions_leave(f->sessions, v->id);
        vg_audit_logout(f->audit, v->res.user, v->res.vm, "rdp", v->address, reason);
        vg_notice(TAG, "peer=%s user=%s vm=%s: viewer %s left", v->address, v->res.user, v->res.vm,
                  v->id);
    }
    vg_console_unref(v->res.console);
    g_free(v);
}

int vg_rdp_front_new(const vg_rdp_front_config *cfg, vg_broker *broker, vg_sessions *sessions,
                     vg_audit *audit, vg_rdp_front **out)
{
    static const vg_rdp_server_ops ops = {.nla_hash = nla_hash,
                                          .nla_failed = nla_failed,
                                          .login = login,
                                          .attach = attach,
                                          .may_input = may_input,
                                          .ended = ended};
    vg_rdp_server_config sc = {.address = cfg->address,
                               .port = cfg->port,
                               .cert_file = cfg->cert_file,
                               .key_file = cfg->key_file,
                               .nla = cfg->nla,
                               .lossless = cfg->lossless,
                               .max_unauth_per_source = cfg->logins_per_address,
                               .login_timeout_ms = cfg->login_timeout_s * 1000,
                               .stall_timeout_ms = cfg->stall_timeout_s * 1000};
    vg_rdp_front *f = g_new0(vg_rdp_front, 1);
    int r;

    f->broker = broker;
    f->sessions = sessions;
    f->audit = audit;
    g_mutex_init(&f->lock);
    f->live = g_hash_table_new(g_direct_hash, g_direct_equal);
    r = vg_rdp_server_new(&sc, &ops, f, &f->server);
    if (r < 0) {
        g_hash_table_unref(f->live);
        g_mutex_clear(&f->lock);
        g_free(f);
        return r;
    }
    vg_notice(TAG, "listening on %s port %u (%s%s)", cfg->address, vg_rdp_server_port(f->server),
              cfg->nla ? "NLA" : "TLS, no NLA", cfg->lossless ? ", lossless" : "");
    *out = f;
    return 0;
}

unsigned vg_rdp_front_port(vg_rdp_front *f)
{
    return vg_rdp_server_port(f->server);
}

void vg_rdp_front_free(vg_rdp_front *f)
{
    if (!f)
        return;
    vg_rdp_server_free(f->server); /* every peer ends, `ended` runs for each */
    g_hash_table_unref(f->live);
    g_mutex_clear(&f->lock);
    g_free(f);
}

int vg_rdp_front_reload_tls(vg_rdp_front *f, const char *cert_file, const char *key_file,
                            char **error)
{
    return vg_rdp_server_reload_tls(f->server, cert_file, key_file, error);
}
