/*
 * vmgate — the public VNC listener. Threading rules are in vnc-listener.h.
 * Accepting, the connection caps and the thread per connection are the
 * shared acceptor's (base/net.h); this file adds the VeNCrypt prelude
 * and the RFB way of saying "full".
 */
#include "vnc-listener.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <glib.h>

#include "log.h"
#include "net.h"
#include "vnc-prelude.h"

#define TAG                       "vnc"
#define VG_VNC_DEFAULT_MAX_UNAUTH 64
#define VG_VNC_DEFAULT_MAX_TOTAL  256
/* Each connection holds its socket and a socketpair: three descriptors, and
 * libvncserver select()s on one of them. 300 connections stay well below
 * FD_SETSIZE with room for the rest of the daemon. */
#define VG_VNC_MAX_TOTAL_LIMIT 300
#define VG_VNC_FULL_TIMEOUT_S  1

struct vg_vnc_listener {
    vg_vnc_listener_config cfg;
    vg_vnc_listener_ops ops;
    void *opaque;
    vg_net_acceptor *acceptor;
};

typedef struct conn {
    vg_vnc_listener *l;
    void *data; /* from authenticate */
} conn;

/* Over the limit: a plain RFB 3.8 failure with a reason, then close. Bounded
 * by a short socket timeout so a silent client cannot hold the thread. */
static void refuse_full(int fd, const char *reason)
{
    struct timeval tv = {VG_VNC_FULL_TIMEOUT_S, 0};
    char ver[12];
    uint8_t msg[1 + 4 + 128];
    size_t n = strlen(reason);

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (send(fd, "RFB 003.008\n", 12, MSG_NOSIGNAL) != 12)
        return;
    if (recv(fd, ver, sizeof(ver), MSG_WAITALL) != (ssize_t)sizeof(ver))
        return;
    if (n > 128)
        n = 128;
    msg[0] = 0; /* no security types: a reason follows */
    msg[1] = (uint8_t)(n >> 24);
    msg[2] = (uint8_t)(n >> 16);
    msg[3] = (uint8_t)(n >> 8);
    msg[4] = (uint8_t)n;
    memcpy(msg + 5, reason, n);
    (void)send(fd, msg, 5 + n, MSG_NOSIGNAL);
}

static int conn_authenticate(void *opaque, const char *user, const char *password, const char *peer,
                             char *reason, size_t reason_len)
{
    conn *c = opaque;
    return c->l->ops.authenticate(c->l->opaque, user, password, peer, &c->data, reason, reason_len);
}

static void refuse(void *opaque, int fd, const char *reason)
{
    (void)opaque;
    refuse_full(fd, reason);
}

/* On the connection's own thread: the prelude, then attach. */
static void serve(void *opaque, int fd, const char *peer)
{
    vg_vnc_listener *l = opaque;
    conn c = {.l = l};
    vg_vnc_prelude_params p = {0};
    vg_vnc_prelude_result res = {0};
    int r;

    p.ssl_ctx = l->ops.get_ssl_ctx(l->opaque);
    p.peer_addr = peer;
    p.timeout_ms = l->cfg.prelude_timeout_ms;
    p.authenticate = conn_authenticate;
    p.opaque = &c;
    p.allow_insecure_loopback = l->cfg.allow_insecure_loopback;
    if (!p.ssl_ctx) {
        refuse_full(fd, "the gateway has no TLS certificate");
        r = -ENOKEY;
    } else {
        r = vg_vnc_prelude_run(fd, &p, &res);
        SSL_CTX_free(p.ssl_ctx);
    }
    if (r < 0) {
        vg_info(TAG, "peer=%s: connection ended before login: %s", peer, g_strerror(-r));
        vg_net_acceptor_closed(l->acceptor, peer, false);
        close(fd);
        return;
    }
    vg_net_acceptor_logged_in(l->acceptor, peer);
    l->ops.attach(l->opaque, c.data, res.ssl, fd, peer);
}

int vg_vnc_listener_new(const vg_vnc_listener_config *cfg, const vg_vnc_listener_ops *ops,
                        void *opaque, vg_vnc_listener **out)
{
    static const vg_net_acceptor_ops aops = {.serve = serve, .refuse = refuse};
    vg_net_acceptor_config ac = {.address = cfg->address,
                                 .port = cfg->port,
                                 .max_unauth = cfg->max_unauth ? cfg->max_unauth
                                                               : VG_VNC_DEFAULT_MAX_UNAUTH,
                                 .max_total = cfg->max_total ? cfg->max_total
                                                             : VG_VNC_DEFAULT_MAX_TOTAL,
                                 .max_unauth_per_source = cfg->max_unauth_per_source,
                                 .fd_limit = FD_SETSIZE - 64,
                                 .tag = TAG};
    vg_vnc_listener *l;
    int r;

    if (ac.max_total > VG_VNC_MAX_TOTAL_LIMIT)
        ac.max_total = VG_VNC_MAX_TOTAL_LIMIT;
    l = g_new0(vg_vnc_listener, 1);
    l->cfg = *cfg;
    l->cfg.address = NULL;
    if (!l->cfg.prelude_timeout_ms)
        l->cfg.prelude_timeout_ms = VG_VNC_PRELUDE_TIMEOUT_MS;
    /* The prelude's own timeout bounds each step; the acceptor bounds the
     * whole of it, a peer trickling one byte at a time included. */
    ac.login_timeout_ms = (unsigned)l->cfg.prelude_timeout_ms;
    l->ops = *ops;
    l->opaque = opaque;
    r = vg_net_acceptor_new(&ac, &aops, l, &l->acceptor);
    if (r < 0) {
        g_free(l);
        return r;
    }
    *out = l;
    return 0;
}

unsigned vg_vnc_listener_port(vg_vnc_listener *l)
{
    return vg_net_acceptor_port(l->acceptor);
}

void vg_vnc_listener_release(vg_vnc_listener *l)
{
    vg_net_acceptor_closed(l->acceptor, NULL, true);
}

void vg_vnc_listener_free(vg_vnc_listener *l)
{
    if (!l)
        return;
    vg_net_acceptor_stop(l->acceptor);
    /* Connection threads still in the prelude end by their deadline. */
    vg_net_acceptor_wait(l->acceptor, false);
    vg_net_acceptor_free(l->acceptor);
    g_free(l);
}
