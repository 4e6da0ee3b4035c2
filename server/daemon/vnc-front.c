/*
 * vmgate — VNC front end glue in vmgated. Threading rules are in
 * vnc-front.h.
 *
 * A viewer's life: login (broker: auth, VM choice, power on, console) →
 * attach (admit to the session; a takeover kicks older viewers) → input
 * (session check, then the console) → ended (leave the session, audit).
 * The RFB side (listener, relay, libvncserver screens) is protocol/vnc's
 * vg_vnc_server.
 */
#include "vnc-front.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "log.h"
#include "vnc-server.h"

#define TAG "vnc"
/* How long a login may wait for a powered-on VM's console. */
#define VG_VNC_LOGIN_TIMEOUT_S 60

typedef struct viewer {
    vg_vnc_front *front;
    vg_vnc_peer *peer;
    vg_broker_result res; /* user, vm, role, and the console the peer shows */
    char id[24];
    char address[80];
    bool admitted;
} viewer;

struct vg_vnc_front {
    vg_broker *broker;
    vg_sessions *sessions;
    vg_audit *audit;
    vg_tls *tls;
    vg_vnc_server *server;
};

static SSL_CTX *get_ssl_ctx(void *opaque)
{
    vg_vnc_front *f = opaque;
    return vg_tls_get_ctx(f->tls);
}

static int login(void *opaque, const vg_vnc_login *l, vg_display_source **source, void **conn,
                 char *reason, size_t reason_len)
{
    vg_vnc_front *f = opaque;
    viewer *v = g_new0(viewer, 1);

    vg_broker_login(f->broker, l->user, l->password, l->peer, NULL, VG_VNC_LOGIN_TIMEOUT_S,
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

/* Session kick (takeover, admin kick): end the connection; the server ends
 * the peer and ended() follows. The session's leave in ended() waits for a
 * kick that is running, and no kick comes after it. */
static void viewer_kick(void *opaque, const char *reason)
{
    viewer *v = opaque;
    vg_notice(TAG, "peer=%s user=%s vm=%s: ended: %s", v->address, v->res.user, v->res.vm,
              reason);
    vg_vnc_peer_kick(v->peer, reason);
}

static const vg_viewer_ops viewer_ops = {.kick = viewer_kick};

static int attach(void *opaque, void *conn, vg_vnc_peer *peer)
{
    vg_vnc_front *f = opaque;
    viewer *v = conn;
    int r;

    v->peer = peer;
    r = vg_broker_admit(f->broker, &v->res, "vnc", v->address, &viewer_ops, v, v->id);
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

/* Observers see, but their input is dropped (asked at each event). */
static bool may_input(void *opaque, void *conn)
{
    vg_vnc_front *f = opaque;
    viewer *v = conn;
    return v->admitted && vg_sessions_may_input(f->sessions, v->id);
}

static void ended(void *opaque, void *conn, vg_vnc_peer *peer, const char *reason)
{
    vg_vnc_front *f = opaque;
    viewer *v = conn;

    (void)peer;
    if (v->admitted) {
        vg_sessions_leave(f->sessions, v->id);
        vg_audit_logout(f->audit, v->res.user, v->res.vm, "vnc", v->address, reason);
        vg_notice(TAG, "peer=%s user=%s vm=%s: viewer %s left", v->address, v->res.user,
                  v->res.vm, v->id);
    }
    vg_console_unref(v->res.console);
    g_free(v);
}

int vg_vnc_front_new(const vg_vnc_front_config *cfg, vg_broker *broker, vg_sessions *sessions,
                     vg_audit *audit, vg_tls *tls, vg_vnc_front **out)
{
    static const vg_vnc_server_ops ops = {.get_ssl_ctx = get_ssl_ctx,
                                          .login = login,
                                          .attach = attach,
                                          .may_input = may_input,
                                          .ended = ended};
    vg_vnc_server_config sc = {.address = cfg->address,
                               .port = cfg->port,
                               .allow_insecure_loopback = cfg->allow_insecure_loopback,
                               .max_unauth_per_source = cfg->logins_per_address,
                               .login_timeout_ms = cfg->login_timeout_s * 1000,
                               .stall_timeout_ms = cfg->stall_timeout_s * 1000};
    vg_vnc_front *f = g_new0(vg_vnc_front, 1);
    int r;

    f->broker = broker;
    f->sessions = sessions;
    f->audit = audit;
    f->tls = tls;
    r = vg_vnc_server_new(&sc, &ops, f, &f->server);
    if (r < 0) {
        g_free(f);
        return r;
    }
    vg_notice(TAG, "listening on %s port %u", cfg->address, vg_vnc_server_port(f->server));
    *out = f;
    return 0;
}

unsigned vg_vnc_front_port(vg_vnc_front *f)
{
    return vg_vnc_server_port(f->server);
}

void vg_vnc_front_free(vg_vnc_front *f)
{
    if (!f)
        return;
    vg_vnc_server_free(f->server); /* every viewer ends, `ended` runs for each */
    g_free(f);
}
