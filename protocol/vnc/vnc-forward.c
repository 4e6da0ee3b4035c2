/*
 * vmgate — a VNC viewer forwarded to another gateway (see vnc-forward.h).
 *
 * The client half of the prelude is written by hand for the same reason
 * the server half is (vnc-prelude.c): it is the only RFB client code the
 * daemon needs, a few fixed messages, and libvncclient would bring its own
 * TLS stack (GnuTLS) and event loop to a daemon that speaks OpenSSL.
 */
#include "vnc-forward.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <openssl/crypto.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "net.h"
#include "tls-policy.h"
#include "util.h"
#include "vnc-io-priv.h"
#include "vnc-prelude.h"

#define TAG "vnc"

#define RFB_VERSION_LEN 12
#define REASON_MAX      255
#define CREDENTIAL_MAX  255
/* Each way: what one side may have waiting for the other. */
#define FORWARD_BUF_BYTES (256 * 1024)
#define DEFAULT_STALL_MS  30000

struct vg_vnc_upstream {
    SSL *ssl;
    int fd;
};

/* ---- connecting and logging in ------------------------------------------ */

/* A TCP connection to @address:@port by @deadline_us, non-blocking. */
static int tcp_connect(const char *address, unsigned port, int64_t deadline_us)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char service[8];
    int r = -EHOSTUNREACH;

    g_snprintf(service, sizeof(service), "%u", port);
    if (getaddrinfo(address, service, &hints, &ai) != 0)
        return -EHOSTUNREACH;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int soerr = 0;
        socklen_t len = sizeof(soerr);

        if (fd < 0) {
            r = -errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
            r = -errno;
            close(fd);
            continue;
        }
        r = vg_net_wait_fd(fd, POLLOUT, deadline_us);
        if (r == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
            r = -errno;
        if (r == 0 && soerr)
            r = -soerr;
        if (r == 0) {
            (void)vg_net_set_nodelay(fd);
            freeaddrinfo(ai);
            return fd;
        }
        close(fd);
    }
    freeaddrinfo(ai);
    return r;
}

/* The failure reason a server sends after a zero count or a failed SecurityResult. */
static void read_reason(SSL *ssl, int fd, int64_t deadline_us, char *reason, size_t reason_len)
{
    uint8_t len4[4];
    char text[REASON_MAX + 1];
    uint32_t n;
    int r = ssl ? vg_vnc_ssl_read_full(ssl, fd, len4, 4, deadline_us)
                : vg_vnc_read_full(fd, len4, 4, deadline_us);

    if (r < 0 || (n = vg_vnc_get_u32(len4)) == 0 || n > REASON_MAX)
        return;
    r = ssl ? vg_vnc_ssl_read_full(ssl, fd, text, n, deadline_us)
            : vg_vnc_read_full(fd, text, n, deadline_us);
    if (r < 0)
        return;
    text[n] = '\0';
    for (uint32_t i = 0; i < n; i++)
        if ((unsigned char)text[i] < 0x20)
            text[i] = ' ';
    g_strlcpy(reason, text, reason_len);
}

/* The TLS client handshake, checking the certificate names @address. */
static int tls_connect(SSL *ssl, int fd, const char *address, int64_t deadline_us)
{
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, address, ip) == 1 || inet_pton(AF_INET6, address, ip) == 1;

    if (is_ip) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), address) != 1)
            return -EINVAL;
    } else if (SSL_set1_host(ssl, address) != 1 || SSL_set_tlsext_host_name(ssl, address) != 1) {
        return -EINVAL;
    }
    SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
    return vg_tls_connect(ssl, fd, deadline_us);
}

/* The RFB and VeNCrypt steps up to the TLS handshake (vnc-prelude.c's sequence, the other side). */
static int rfb_security(int fd, int64_t deadline_us, char *reason, size_t reason_len)
{
    static const char version[RFB_VERSION_LEN + 1] = "RFB 003.008\n";
    uint8_t buf[RFB_VERSION_LEN + 1], types[255];
    uint8_t subtypes[255 * 4];
    bool vencrypt = false, x509plain = false;
    int r;

    if ((r = vg_vnc_read_full(fd, buf, RFB_VERSION_LEN, deadline_us)) < 0)
        return r;
    if (memcmp(buf, "RFB 003.", 8) != 0)
        return -EPROTO;
    if ((r = vg_vnc_write_full(fd, version, RFB_VERSION_LEN, deadline_us)) < 0 ||
        (r = vg_vnc_read_full(fd, buf, 1, deadline_us)) < 0)
        return r;
    if (buf[0] == 0) {
        read_reason(NULL, fd, deadline_us, reason, reason_len);
        return -ECONNREFUSED;
    }
    if ((r = vg_vnc_read_full(fd, types, buf[0], deadline_us)) < 0)
        return r;
    for (unsigned i = 0; i < buf[0]; i++)
        vencrypt |= types[i] == VG_RFB_SEC_VENCRYPT;
    if (!vencrypt)
        return -EPROTONOSUPPORT;
    buf[0] = VG_RFB_SEC_VENCRYPT;
    if ((r = vg_vnc_write_full(fd, buf, 1, deadline_us)) < 0 ||
        (r = vg_vnc_read_full(fd, buf, 2, deadline_us)) < 0)
        return r;
    if (buf[0] != 0 || buf[1] < 2)
        return -EPROTONOSUPPORT;
    buf[0] = 0;
    buf[1] = 2;
    if ((r = vg_vnc_write_full(fd, buf, 2, deadline_us)) < 0 ||
        (r = vg_vnc_read_full(fd, buf, 2, deadline_us)) < 0)
        return r;
    if (buf[0] != 0 || buf[1] == 0) /* version refused, or no subtypes */
        return -EPROTONOSUPPORT;
    if ((r = vg_vnc_read_full(fd, subtypes, (size_t)buf[1] * 4, deadline_us)) < 0)
        return r;
    for (unsigned i = 0; i < buf[1]; i++)
        x509plain |= vg_vnc_get_u32(subtypes + 4 * i) == VG_VENCRYPT_X509_PLAIN;
    if (!x509plain)
        return -EPROTONOSUPPORT;
    vg_vnc_put_u32(buf, VG_VENCRYPT_X509_PLAIN);
    if ((r = vg_vnc_write_full(fd, buf, 4, deadline_us)) < 0 ||
        (r = vg_vnc_read_full(fd, buf, 1, deadline_us)) < 0)
        return r;
    return buf[0] == 1 ? 0 : -EPROTONOSUPPORT;
}

int vg_vnc_upstream_connect(const vg_vnc_forward_target *t, int64_t deadline_us,
                            vg_vnc_upstream **out, char *reason, size_t reason_len)
{
    size_t ulen = t->user ? strlen(t->user) : 0, plen = t->password ? strlen(t->password) : 0;
    uint8_t cred[8 + 2 * CREDENTIAL_MAX], result[4];
    SSL *ssl = NULL;
    int fd, r;

    g_strlcpy(reason, "The gateway that holds your VM cannot be reached", reason_len);
    if (!t->ctx || !t->address || !ulen || !plen || ulen > CREDENTIAL_MAX || plen > CREDENTIAL_MAX)
        return -EINVAL;
    fd = tcp_connect(t->address, t->port, deadline_us);
    if (fd < 0) {
        vg_notice(TAG, "forward to %s port %u: %s", t->address, t->port, g_strerror(-fd));
        return fd;
    }
    r = rfb_security(fd, deadline_us, reason, reason_len);
    if (r == 0) {
        ssl = SSL_new(t->ctx);
        r = ssl && SSL_set_fd(ssl, fd) == 1 ? 0 : -ENOMEM;
    }
    if (r == 0) {
        SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
        r = tls_connect(ssl, fd, t->address, deadline_us);
        if (r < 0) {
            char ebuf[160];
            vg_notice(TAG, "forward to %s port %u: TLS: %s", t->address, t->port,
                      r == -ETIMEDOUT ? "timed out" : vg_tls_take_error(ebuf, sizeof(ebuf)));
        }
    }
    if (r == 0) {
        vg_vnc_put_u32(cred, (uint32_t)ulen);
        vg_vnc_put_u32(cred + 4, (uint32_t)plen);
        memcpy(cred + 8, t->user, ulen);
        memcpy(cred + 8 + ulen, t->password, plen);
        r = vg_vnc_ssl_write_full(ssl, fd, cred, 8 + ulen + plen, deadline_us);
        OPENSSL_cleanse(cred, sizeof(cred));
    }
    if (r == 0)
        r = vg_vnc_ssl_read_full(ssl, fd, result, 4, deadline_us);
    if (r == 0 && vg_vnc_get_u32(result) != 0) {
        /* The target refused: its reason is the viewer's. */
        read_reason(ssl, fd, deadline_us, reason, reason_len);
        r = -EACCES;
    }
    if (r < 0) {
        if (r != -EACCES)
            vg_notice(TAG, "forward to %s port %u: login failed: %s", t->address, t->port,
                      g_strerror(-r));
        SSL_free(ssl);
        close(fd);
        return r;
    }
    *out = g_new0(vg_vnc_upstream, 1);
    (*out)->ssl = ssl;
    (*out)->fd = fd;
    return 0;
}

void vg_vnc_upstream_free(vg_vnc_upstream *u)
{
    if (!u)
        return;
    SSL_free(u->ssl);
    close(u->fd);
    g_free(u);
}

/* ---- copying -------------------------------------------------------------- */

/* One end: TLS, or a plain socket when ssl is NULL. */
typedef struct end {
    SSL *ssl;
    int fd;
    short want_read, want_write; /* poll events its last blocked call asked for */
    bool eof;
} end;

/* Bytes on their way from one end to the other. */
typedef struct pipe_buf {
    uint8_t *data;
    size_t len;               /* in data[0..len) */
    int64_t blocked_since_us; /* bytes waiting and nothing taken since (0: moving) */
} pipe_buf;

struct vg_vnc_forward {
    end viewer, up;
    vg_vnc_upstream *upstream;
    pipe_buf to_up, to_viewer;
    char *label;
    unsigned stall_timeout_ms;
    vg_vnc_forward_ended_fn ended;
    void *opaque;
    int wake_fd;
    gint stop; /* atomic */
    GThread *thread;
};

/* Read what @e has into @b. @return 1 progress, 0 blocked or full, <0 the end closed or failed. */
static int end_read(end *e, pipe_buf *b)
{
    size_t room = FORWARD_BUF_BYTES - b->len, got = 0;
    int progress = 0;

    e->want_read = 0;
    while (room > 0) {
        errno = 0;
        if (e->ssl) {
            int ret = SSL_read_ex(e->ssl, b->data + b->len, room, &got);
            if (ret != 1) {
                short ev = 0;
                int err = vg_tls_want(e->ssl, ret, &ev);
                if (err < 0)
                    return progress ? progress : err;
                e->want_read = ev;
                return progress;
            }
        } else {
            ssize_t n = recv(e->fd, b->data + b->len, room, 0);
            if (n == 0)
                return progress ? progress : -ECONNRESET;
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) {
                    e->want_read = POLLIN;
                    return progress;
                }
                return progress ? progress : -errno;
            }
            got = (size_t)n;
        }
        b->len += got;
        room -= got;
        progress = 1;
    }
    return progress;
}

/* Write what @b holds to @e. @return 1 progress, 0 blocked or empty, <0 failed. */
static int end_write(end *e, pipe_buf *b)
{
    size_t put = 0;
    int progress = 0;

    e->want_write = 0;
    while (b->len > 0) {
        errno = 0;
        if (e->ssl) {
            int ret = SSL_write_ex(e->ssl, b->data, b->len, &put);
            if (ret != 1) {
                short ev = 0;
                int err = vg_tls_want(e->ssl, ret, &ev);
                if (err < 0)
                    return err;
                e->want_write = ev;
                break;
            }
        } else {
            ssize_t n = send(e->fd, b->data, b->len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) {
                    e->want_write = POLLOUT;
                    break;
                }
                return -errno;
            }
            put = (size_t)n;
        }
        memmove(b->data, b->data + put, b->len - put);
        b->len -= put;
        progress = 1;
    }
    b->blocked_since_us =
        b->len > 0 ? (progress || !b->blocked_since_us ? vg_now_us() : b->blocked_since_us) : 0;
    return progress;
}

static const char *forward_loop(vg_vnc_forward *f)
{
    for (;;) {
        bool progress;
        struct pollfd pfd[3];
        int64_t stall_us = (int64_t)f->stall_timeout_ms * 1000, now;
        int r;

        if (g_atomic_int_get(&f->stop))
            return NULL;
        do {
            progress = false;
            if (!f->viewer.eof && (r = end_read(&f->viewer, &f->to_up)) != 0) {
                if (r < 0)
                    f->viewer.eof = true;
                progress |= r > 0;
            }
            if ((r = end_write(&f->up, &f->to_up)) < 0)
                return "the gateway that holds the VM closed the connection";
            progress |= r > 0;
            if (!f->up.eof && (r = end_read(&f->up, &f->to_viewer)) != 0) {
                if (r < 0)
                    f->up.eof = true;
                progress |= r > 0;
            }
            if ((r = end_write(&f->viewer, &f->to_viewer)) < 0)
                return "the viewer left";
            progress |= r > 0;
        } while (progress);
        if (f->viewer.eof && f->to_up.len == 0)
            return "the viewer left";
        if (f->up.eof && f->to_viewer.len == 0)
            return "the gateway that holds the VM closed the connection";
        now = vg_now_us();
        if (f->to_viewer.blocked_since_us && now - f->to_viewer.blocked_since_us > stall_us)
            return "the viewer read nothing for the stall timeout";
        if (f->to_up.blocked_since_us && now - f->to_up.blocked_since_us > stall_us)
            return "the gateway that holds the VM read nothing for the stall timeout";
        pfd[0] = (struct pollfd){.fd = f->viewer.fd,
                                 .events = (short)(f->viewer.want_read | f->viewer.want_write)};
        pfd[1] =
            (struct pollfd){.fd = f->up.fd, .events = (short)(f->up.want_read | f->up.want_write)};
        pfd[2] = (struct pollfd){.fd = f->wake_fd, .events = POLLIN};
        /* Wake at least once a second to check the stall deadlines. */
        if (poll(pfd, 3, 1000) < 0 && errno != EINTR)
            return "poll failed";
    }
}

static gpointer forward_thread(gpointer data)
{
    vg_vnc_forward *f = data;
    const char *why;
    sigset_t pipe_set;

    /* OpenSSL's socket BIO writes with write(). */
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    why = forward_loop(f);
    vg_info(TAG, "%s: forward ended: %s", f->label, why ? why : "stopped");
    f->ended(f->opaque, why ? why : "stopped");
    return NULL;
}

int vg_vnc_forward_new(SSL *ssl, int fd, vg_vnc_upstream *up, const char *label,
                       unsigned stall_timeout_ms, vg_vnc_forward_ended_fn ended, void *opaque,
                       vg_vnc_forward **out)
{
    vg_vnc_forward *f = g_new0(vg_vnc_forward, 1);
    int r;

    f->viewer = (end){.ssl = ssl, .fd = fd};
    f->up = (end){.ssl = up->ssl, .fd = up->fd};
    f->upstream = up;
    f->label = g_strdup(label);
    f->stall_timeout_ms = stall_timeout_ms ? stall_timeout_ms : DEFAULT_STALL_MS;
    f->ended = ended;
    f->opaque = opaque;
    f->to_up.data = g_malloc(FORWARD_BUF_BYTES);
    f->to_viewer.data = g_malloc(FORWARD_BUF_BYTES);
    f->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r = f->wake_fd < 0 ? -errno : vg_vnc_set_nonblock(fd);
    if (r == 0)
        r = vg_vnc_set_nonblock(up->fd);
    /* Set before the thread runs: its ended callback may come at once. */
    *out = f;
    if (r == 0) {
        f->thread = g_thread_try_new("vnc-forward", forward_thread, f, NULL);
        r = f->thread ? 0 : -EAGAIN;
    }
    if (r < 0) {
        *out = NULL;
        vg_vnc_forward_free(f);
        return r;
    }
    return 0;
}

void vg_vnc_forward_stop(vg_vnc_forward *f)
{
    uint64_t one = 1;

    g_atomic_int_set(&f->stop, 1);
    if (write(f->wake_fd, &one, sizeof(one)) < 0) {
        /* The counter is full: the thread is being woken already. */
    }
}

void vg_vnc_forward_free(vg_vnc_forward *f)
{
    if (!f)
        return;
    if (f->thread) {
        vg_vnc_forward_stop(f);
        g_thread_join(f->thread);
    }
    SSL_free(f->viewer.ssl);
    close(f->viewer.fd);
    vg_vnc_upstream_free(f->upstream);
    if (f->wake_fd >= 0)
        close(f->wake_fd);
    g_free(f->to_up.data);
    g_free(f->to_viewer.data);
    g_free(f->label);
    g_free(f);
}
