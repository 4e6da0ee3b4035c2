/*
 * vmgate — the public VNC listener. Threading rules are in vnc-listener.h.
 */
#include "vnc-listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "log.h"
#include "net.h"
#include "vnc-prelude.h"

#define TAG                       "vnc"
#define VG_VNC_DEFAULT_MAX_UNAUTH 16
#define VG_VNC_DEFAULT_MAX_TOTAL  256
/* Each connection holds its socket and a socketpair: three descriptors, and
 * libvncserver select()s on one of them. 300 connections stay well below
 * FD_SETSIZE with room for the rest of the daemon. */
#define VG_VNC_MAX_TOTAL_LIMIT 300
#define VG_VNC_FULL_TIMEOUT_S  2

struct vg_vnc_listener {
    vg_vnc_listener_config cfg;
    vg_vnc_listener_ops ops;
    void *opaque;
    int fd, wake_fd;
    unsigned port;
    GThread *thread;

    GMutex lock;
    GCond cond;
    unsigned unauth, total;
    bool stopping;
};

typedef struct conn {
    vg_vnc_listener *l;
    int fd;
    char peer[80];
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

static gpointer conn_thread(gpointer data)
{
    conn *c = data;
    vg_vnc_listener *l = c->l;
    vg_vnc_prelude_params p = {0};
    vg_vnc_prelude_result res = {0};
    sigset_t pipe_set;
    int r;

    /* OpenSSL writes with write(): a vanished client must not kill us. */
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);

    p.ssl_ctx = l->ops.get_ssl_ctx(l->opaque);
    p.peer_addr = c->peer;
    p.timeout_ms = l->cfg.prelude_timeout_ms;
    p.authenticate = conn_authenticate;
    p.opaque = c;
    p.allow_insecure_loopback = l->cfg.allow_insecure_loopback;
    if (!p.ssl_ctx) {
        refuse_full(c->fd, "the gateway has no TLS certificate");
        r = -ENOKEY;
    } else {
        r = vg_vnc_prelude_run(c->fd, &p, &res);
        SSL_CTX_free(p.ssl_ctx);
    }

    g_mutex_lock(&l->lock);
    l->unauth--;
    if (r < 0)
        l->total--;
    g_cond_broadcast(&l->cond);
    g_mutex_unlock(&l->lock);

    if (r < 0) {
        vg_info(TAG, "peer=%s: connection ended before login: %s", c->peer, g_strerror(-r));
        close(c->fd);
    } else {
        l->ops.attach(l->opaque, c->data, res.ssl, c->fd, c->peer);
    }
    g_free(c);
    return NULL;
}

static gpointer accept_thread(gpointer data)
{
    vg_vnc_listener *l = data;

    for (;;) {
        struct pollfd fds[2] = {{.fd = l->fd, .events = POLLIN},
                                {.fd = l->wake_fd, .events = POLLIN}};
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char peer[80];
        const char *full = NULL;
        GThread *t;
        conn *c;
        int fd;

        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            vg_error(TAG, "poll: %s", g_strerror(errno));
            return NULL;
        }
        if (fds[1].revents)
            return NULL;
        fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                vg_warning(TAG, "accept: %s", g_strerror(errno));
            continue;
        }
        vg_net_peer_name(&ss, peer, sizeof(peer));
        g_mutex_lock(&l->lock);
        if (fd >= FD_SETSIZE - 64 || l->total >= l->cfg.max_total)
            full = "the gateway is full, try again later";
        else if (l->unauth >= l->cfg.max_unauth)
            full = "too many connections are logging in, try again later";
        if (!full) {
            l->unauth++;
            l->total++;
        }
        g_mutex_unlock(&l->lock);
        if (full) {
            vg_warning(TAG, "peer=%s: refused: %s", peer, full);
            refuse_full(fd, full);
            close(fd);
            continue;
        }
        c = g_new0(conn, 1);
        c->l = l;
        c->fd = fd;
        g_strlcpy(c->peer, peer, sizeof(c->peer));
        t = g_thread_try_new("vg-vnc-conn", conn_thread, c, NULL);
        if (!t) {
            g_mutex_lock(&l->lock);
            l->unauth--;
            l->total--;
            g_mutex_unlock(&l->lock);
            close(fd);
            g_free(c);
            continue;
        }
        g_thread_unref(t);
    }
}

int vg_vnc_listener_new(const vg_vnc_listener_config *cfg, const vg_vnc_listener_ops *ops,
                        void *opaque, vg_vnc_listener **out)
{
    vg_vnc_listener *l;
    int r;

    if (!cfg->address || cfg->port > 65535)
        return -EINVAL;
    l = g_new0(vg_vnc_listener, 1);
    l->cfg = *cfg;
    l->cfg.address = NULL;
    if (!l->cfg.max_unauth)
        l->cfg.max_unauth = VG_VNC_DEFAULT_MAX_UNAUTH;
    if (!l->cfg.max_total)
        l->cfg.max_total = VG_VNC_DEFAULT_MAX_TOTAL;
    if (l->cfg.max_total > VG_VNC_MAX_TOTAL_LIMIT)
        l->cfg.max_total = VG_VNC_MAX_TOTAL_LIMIT;
    if (!l->cfg.prelude_timeout_ms)
        l->cfg.prelude_timeout_ms = VG_VNC_PRELUDE_TIMEOUT_MS;
    l->ops = *ops;
    l->opaque = opaque;
    g_mutex_init(&l->lock);
    g_cond_init(&l->cond);
    l->fd = -1;
    l->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (l->wake_fd < 0) {
        r = -errno;
        goto fail;
    }
    l->fd = vg_net_listen(cfg->address, cfg->port, &l->port);
    if (l->fd < 0) {
        r = l->fd;
        l->fd = -1;
        goto fail;
    }
    l->thread = g_thread_try_new("vg-vnc-accept", accept_thread, l, NULL);
    if (!l->thread) {
        r = -EAGAIN;
        goto fail;
    }
    *out = l;
    return 0;

fail:
    if (l->fd >= 0)
        close(l->fd);
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    g_mutex_clear(&l->lock);
    g_cond_clear(&l->cond);
    g_free(l);
    return r;
}

unsigned vg_vnc_listener_port(vg_vnc_listener *l)
{
    return l->port;
}

void vg_vnc_listener_release(vg_vnc_listener *l)
{
    g_mutex_lock(&l->lock);
    if (l->total > 0)
        l->total--;
    g_cond_broadcast(&l->cond);
    g_mutex_unlock(&l->lock);
}

void vg_vnc_listener_free(vg_vnc_listener *l)
{
    uint64_t one = 1;
    if (!l)
        return;
    if (write(l->wake_fd, &one, sizeof(one)) < 0)
        vg_debug(TAG, "eventfd: %s", g_strerror(errno));
    g_thread_join(l->thread);
    close(l->fd);
    /* Connection threads still in the prelude end by their deadline. */
    g_mutex_lock(&l->lock);
    l->stopping = true;
    while (l->unauth > 0)
        g_cond_wait(&l->cond, &l->lock);
    g_mutex_unlock(&l->lock);
    close(l->wake_fd);
    g_mutex_clear(&l->lock);
    g_cond_clear(&l->cond);
    g_free(l);
}
