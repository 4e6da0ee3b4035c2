/*
 * vmgate — the web front end's TLS side: a connection from the acceptor,
 * the handshake with the context the other ports use, then a relay between
 * TLS and the socketpair end libsoup reads in clear. See web-priv.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "log.h"
#include "tls-policy.h"
#include "util.h"
#include "web-priv.h"

#define TAG "web"
/* One TLS record's worth each way. */
#define RELAY_BUF 16384

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

static int poll_ms(int64_t deadline_us)
{
    int64_t left = deadline_us - vg_now_us();
    if (left <= 0)
        return 0;
    return (int)MIN(left / 1000 + 1, 60000);
}

typedef struct relay {
    SSL *ssl;
    int tcp, inner;
    uint8_t in[RELAY_BUF]; /* from TLS, to libsoup */
    size_t in_off, in_len;
    uint8_t out[RELAY_BUF]; /* from libsoup, to TLS */
    size_t out_off, out_len;
    bool inner_eof;
    short tcp_events, inner_events;
    size_t received; /* from the client, counted until it logs in */
} relay;

/* An SSL_read or SSL_write returned @n: add what it waits for to the
 * TCP socket's events; -1 when the connection is over. */
static int tls_wait(relay *r, int n)
{
    short events = 0;
    if (vg_tls_want(r->ssl, n, &events) < 0)
        return -1;
    r->tcp_events |= events;
    return 0;
}

/* One pass of each step; @return 1 when something moved, 0 when all must
 * wait (events to poll for are set), -1 when the connection is over. */
static int relay_step(relay *r)
{
    int moved = 0;

    r->tcp_events = 0;
    r->inner_events = 0;
    /* TLS → libsoup */
    if (r->in_len == 0) {
        int n;
        errno = 0;
        n = SSL_read(r->ssl, r->in, sizeof(r->in));
        if (n > 0) {
            r->in_off = 0;
            r->in_len = (size_t)n;
            r->received += (size_t)n;
            moved = 1;
        } else if (tls_wait(r, n) < 0) {
            return -1; /* closed or broken */
        }
    }
    if (r->in_len > 0) {
        ssize_t n = send(r->inner, r->in + r->in_off, r->in_len, MSG_NOSIGNAL);
        if (n > 0) {
            r->in_off += (size_t)n;
            r->in_len -= (size_t)n;
            moved = 1;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            r->inner_events |= POLLOUT;
        } else if (n < 0 && errno != EINTR) {
            return -1;
        }
    }
    /* libsoup → TLS */
    if (r->out_len == 0 && !r->inner_eof) {
        ssize_t n = recv(r->inner, r->out, sizeof(r->out), 0);
        if (n > 0) {
            r->out_off = 0;
            r->out_len = (size_t)n;
            moved = 1;
        } else if (n == 0) {
            r->inner_eof = true;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            r->inner_events |= POLLIN;
        } else if (errno != EINTR) {
            return -1;
        }
    }
    if (r->out_len > 0) {
        int n;
        errno = 0;
        n = SSL_write(r->ssl, r->out + r->out_off, (int)r->out_len);
        if (n > 0) {
            r->out_off += (size_t)n;
            r->out_len -= (size_t)n;
            moved = 1;
        } else if (tls_wait(r, n) < 0) {
            return -1;
        }
    }
    if (r->inner_eof && r->out_len == 0)
        return -1; /* libsoup closed the connection and all of it was sent */
    return moved;
}

/* Until either side ends, or (before the connection carried a WebSocket)
 * nothing moved for the idle timeout. */
static void relay_run(vg_web_conn *c, SSL *ssl, int tcp, int inner)
{
    relay *r = g_new0(relay, 1);
    int64_t idle_until = vg_now_us() + (int64_t)VG_WEB_IDLE_TIMEOUT_MS * 1000;

    r->ssl = ssl;
    r->tcp = tcp;
    r->inner = inner;
    for (;;) {
        int st = relay_step(r);
        struct pollfd p[2] = {{.fd = tcp, .events = r->tcp_events},
                              {.fd = inner, .events = r->inner_events}};
        int n;

        if (st < 0)
            break;
        if (r->received > VG_WEB_MAX_UNAUTH_BYTES && !g_atomic_int_get(&c->logged_in)) {
            vg_notice(TAG, "peer=%s: sent more than %d KiB without logging in: closed", c->peer,
                      VG_WEB_MAX_UNAUTH_BYTES / 1024);
            break;
        }
        if (st > 0) {
            idle_until = vg_now_us() + (int64_t)VG_WEB_IDLE_TIMEOUT_MS * 1000;
            continue;
        }
        if (!g_atomic_int_get(&c->upgraded) && vg_now_us() >= idle_until) {
            vg_info(TAG, "peer=%s: idle for %d s: closed", c->peer, VG_WEB_IDLE_TIMEOUT_MS / 1000);
            break;
        }
        n = poll(p, 2, g_atomic_int_get(&c->upgraded) ? -1 : poll_ms(idle_until));
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0 && ((p[0].revents & (POLLERR | POLLNVAL)) || (p[1].revents & POLLNVAL)))
            break;
        /* POLLHUP on either side still lets the steps read what is left. */
        if (n > 0 && (p[0].revents & POLLHUP) && !(p[0].revents & POLLIN))
            break;
    }
    (void)SSL_shutdown(ssl); /* best effort: the close_notify, never waited for */
    g_free(r);
}

void vg_web_tls_serve(vg_web_server *s, int fd, const char *peer)
{
    SSL_CTX *ctx = vg_web_server_ssl_ctx(s);
    vg_web_conn *c;
    SSL *ssl = NULL;
    int sp[2] = {-1, -1}, r;
    int64_t deadline = vg_now_us() + (int64_t)vg_web_server_login_timeout_ms(s) * 1000;

    if (!ctx) {
        vg_notice(TAG, "peer=%s: refused: the gateway has no TLS certificate", peer);
        vg_web_server_conn_closed(s, NULL, peer);
        close(fd);
        return;
    }
    ssl = SSL_new(ctx);
    SSL_CTX_free(ctx);
    r = ssl && set_nonblock(fd) == 0 && SSL_set_fd(ssl, fd) == 1 ? 0 : -ENOMEM;
    if (r == 0) {
        SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
        r = vg_tls_accept(ssl, fd, deadline);
        if (r < 0) {
            char ebuf[160];
            vg_tls_take_error(ebuf, sizeof(ebuf));
            vg_info(TAG, "peer=%s: TLS handshake failed: %s", peer,
                    r == -ETIMEDOUT ? "timed out" : ebuf);
        }
    }
    if (r == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
        r = -errno;
    if (r == 0 && (set_nonblock(sp[0]) < 0 || set_nonblock(sp[1]) < 0))
        r = -errno;
    if (r < 0) {
        if (sp[0] >= 0)
            close(sp[0]);
        if (sp[1] >= 0)
            close(sp[1]);
        SSL_free(ssl);
        vg_web_server_conn_closed(s, NULL, peer);
        close(fd);
        return;
    }
    c = vg_web_server_conn_open(s, fd, sp[1], peer);
    relay_run(c, ssl, fd, sp[0]);
    SSL_free(ssl);
    close(sp[0]);
    vg_web_server_conn_closed(s, c, peer);
    close(fd);
}
