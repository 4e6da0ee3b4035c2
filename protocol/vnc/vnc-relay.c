/*
 * vmgate — relay between a viewer's TLS session (or, after an unencrypted
 * login allowed on loopback, its plain socket) and libvncserver.
 *
 * Threading: one thread per relay owns the SSL, the viewer fd and the inner
 * fd from vg_vnc_relay_new() until it ends; the owner only sets `stop`
 * (atomic) and writes the eventfd, then joins in vg_vnc_relay_free(), which
 * closes the fds. No locks. SIGPIPE is blocked on the relay thread because
 * OpenSSL's socket BIO writes with write().
 *
 * Isolation. libvncserver serves every viewer of a VM on one thread with
 * blocking I/O, so the relay never lets it block on one viewer:
 *  - it always reads what libvncserver writes (the buffer towards the
 *    viewer grows, up to VG_VNC_RELAY_TO_VIEWER_MAX);
 *  - it forwards a viewer's FramebufferUpdateRequest only once everything
 *    sent before has left for the viewer (requests that come meanwhile are
 *    merged into one), so a slow viewer gets fewer, newer frames instead of
 *    a growing backlog, and the buffer holds about one update beyond what
 *    the kernel's socket buffer takes (measured in docs/BENCHMARKS.md,
 *    isolation);
 *  - it hands libvncserver whole messages only (vnc-client-msg.h), so a
 *    viewer trickling a message never leaves libvncserver waiting for the
 *    rest;
 *  - a viewer that takes nothing while the relay has bytes for it for the
 *    stall timeout is ended with that reason.
 * Why this and not libvncserver's per-client threads: its threaded mode
 * changes what the screen code may assume (client list, cursor, resize from
 * the event thread only), while the relay already is one thread per viewer
 * and sees every byte; measured, the relay's hold keeps the other viewers'
 * frame rate with one viewer stalled (docs/BENCHMARKS.md).
 */
#include "vnc-relay.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <rfb/rfbproto.h>

#include "log.h"
#include "metrics.h"
#include "tls-policy.h"
#include "util.h"
#include "vnc-client-msg.h"
#include "vnc-io-priv.h"

#define TAG "vnc"

/* Budget for libvncserver's prelude on the inner end and for flushing the
 * last bytes to the viewer after libvncserver closed. */
#define INNER_PRELUDE_TIMEOUT_US (10 * 1000 * 1000)
#define FLUSH_TIMEOUT_US         (2 * 1000 * 1000)
/* How long a relay that ended keeps reading what libvncserver still writes. */
#define DRAIN_TIMEOUT_US         (10 * 1000 * 1000)
#define DEFAULT_STALL_TIMEOUT_MS 30000
/* How long the buffer towards the viewer keeps a grown capacity it no
 * longer uses. */
#define VG_VNC_RELAY_KEEP_GROWN_US (2 * 1000 * 1000)

/* A linear buffer: data in [start, end), compacted when it runs out of tail. */
typedef struct relay_buf {
    uint8_t *data;
    size_t cap, start, end;
} relay_buf;

struct vg_vnc_relay {
    gint metric_proto; /* vg_metric_proto its bytes count under (atomic) */
    SSL *ssl;
    int viewer_fd;
    int inner_fd;
    int wake_fd;
    char *label;
    vg_vnc_relay_ended_fn ended;
    void *opaque;
    GThread *thread;
    gint stop;      /* atomic */
    gint finished;  /* atomic */
    gint by_screen; /* atomic: it ended because libvncserver closed its end */
    unsigned stall_timeout_ms;
    /* to_server: raw bytes from the viewer; to_inner: whole messages for
     * libvncserver; to_viewer: libvncserver's bytes (grows). */
    relay_buf to_viewer, to_server, to_inner;
    bool client_init_seen;       /* the one-byte ClientInit went through */
    size_t drop_left;            /* bytes of a dropped message still to come */
    bool held;                   /* an update request waits for the viewer to catch up */
    bool held_incremental;       /* every held request was incremental */
    uint16_t hx1, hy1, hx2, hy2; /* the held requests' bounding box */
    int64_t viewer_idle_since;   /* to_viewer not empty and nothing taken since (0: no) */
    int64_t keep_grown_until;    /* to_viewer keeps its grown capacity until then */
    char reason[96];
};

static size_t buf_len(const relay_buf *b)
{
    return b->end - b->start;
}

static size_t buf_room(relay_buf *b)
{
    if (b->start == b->end)
        b->start = b->end = 0;
    if (b->end == b->cap && b->start > 0) {
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
    }
    return b->cap - b->end;
}

static void consume(relay_buf *b, size_t n)
{
    b->start += n;
    if (b->start == b->end)
        b->start = b->end = 0;
}

/* Double @b's capacity, up to @max. @return false at @max or without memory. */
static bool buf_grow(relay_buf *b, size_t max)
{
    size_t cap = MIN(b->cap * 2, max);
    uint8_t *data;

    if (cap <= b->cap || !(data = realloc(b->data, cap)))
        return false;
    b->data = data;
    b->cap = cap;
    return true;
}

/* Give back what a grown, now empty buffer took (a viewer that caught up). */
static void buf_shrink(relay_buf *b, size_t cap)
{
    uint8_t *data;

    if (b->cap > cap && b->start == b->end && (data = realloc(b->data, cap))) {
        b->data = data;
        b->cap = cap;
        b->start = b->end = 0;
    }
}

/* Append @len bytes; the caller checked buf_room(). */
static void buf_put(relay_buf *b, const void *p, size_t len)
{
    memcpy(b->data + b->end, p, len);
    b->end += len;
}

/* ---- the viewer's messages (see "Isolation" above) ---------------------- */

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Merge an update request (a whole FramebufferUpdateRequest) into the held one. */
static void hold_request(vg_vnc_relay *r, const uint8_t *m)
{
    bool incremental = m[1] != 0;
    uint32_t x = (uint32_t)m[2] << 8 | m[3], y = (uint32_t)m[4] << 8 | m[5];
    uint32_t x2 = MIN(x + ((uint32_t)m[6] << 8 | m[7]), 0xffffu);
    uint32_t y2 = MIN(y + ((uint32_t)m[8] << 8 | m[9]), 0xffffu);

    if (!r->held) {
        r->held = true;
        r->held_incremental = incremental;
        r->hx1 = (uint16_t)x, r->hy1 = (uint16_t)y, r->hx2 = (uint16_t)x2, r->hy2 = (uint16_t)y2;
        return;
    }
    r->held_incremental = r->held_incremental && incremental;
    r->hx1 = (uint16_t)MIN(r->hx1, x), r->hy1 = (uint16_t)MIN(r->hy1, y);
    r->hx2 = (uint16_t)MAX(r->hx2, x2), r->hy2 = (uint16_t)MAX(r->hy2, y2);
}

/* The held request goes to libvncserver once the viewer has taken all
 * that was sent before it. @return whether it went. */
static bool release_request(vg_vnc_relay *r)
{
    uint8_t m[sz_rfbFramebufferUpdateRequestMsg];

    if (!r->held || buf_len(&r->to_viewer) > 0 || buf_room(&r->to_inner) < sizeof(m))
        return false;
    m[0] = rfbFramebufferUpdateRequest;
    m[1] = r->held_incremental ? 1 : 0;
    put_u16(m + 2, r->hx1);
    put_u16(m + 4, r->hy1);
    put_u16(m + 6, (uint16_t)(r->hx2 - r->hx1));
    put_u16(m + 8, (uint16_t)(r->hy2 - r->hy1));
    buf_put(&r->to_inner, m, sizeof(m));
    r->held = false;
    return true;
}

/*
 * Move whole messages from to_server (the viewer's raw bytes) to to_inner,
 * dropping client cut text and holding update requests while the viewer is
 * behind. @return NULL, or why the viewer must end (a message vmgate does
 * not serve). Sets *progress when it moved anything.
 */
static const char *frame_input(vg_vnc_relay *r, bool *progress)
{
    for (;;) {
        const uint8_t *p = r->to_server.data + r->to_server.start;
        size_t n = buf_len(&r->to_server);
        vg_vnc_client_msg m = {.action = VG_VNC_MSG_FORWARD, .len = 1};
        int ret = 1;

        if (n == 0)
            return NULL;
        if (r->drop_left) {
            size_t k = MIN(n, r->drop_left);
            consume(&r->to_server, k);
            r->drop_left -= k;
            *progress = true;
            continue;
        }
        if (r->client_init_seen)
            ret = vg_vnc_client_msg_frame(p, n, &m);
        if (ret == 0)
            return NULL; /* the rest of it has not come yet */
        if (ret == -EMSGSIZE) {
            vg_info(TAG, "%s: message type %u of %zu bytes or more", r->label, m.type,
                    (size_t)VG_VNC_MSG_MAX_FORWARD);
            return "the viewer sent a message too long to serve";
        }
        if (ret < 0) {
            vg_info(TAG, "%s: message type %u, which the gateway does not serve", r->label, m.type);
            return "the viewer sent a message the gateway does not serve";
        }
        switch (m.action) {
        case VG_VNC_MSG_DROP:
            r->drop_left = m.len;
            continue;
        case VG_VNC_MSG_UPDATE_REQUEST:
            hold_request(r, p);
            consume(&r->to_server, m.len);
            release_request(r);
            break;
        case VG_VNC_MSG_FORWARD:
            if (buf_room(&r->to_inner) < m.len)
                return NULL; /* libvncserver has not taken the last ones yet */
            buf_put(&r->to_inner, p, m.len);
            consume(&r->to_server, m.len);
            r->client_init_seen = true;
            break;
        }
        *progress = true;
    }
}

/*
 * libvncserver's side of the RFB prelude, answered on the inner end: it
 * sends its version, we claim 3.8, it lists its security types (None, as
 * the screen has no password), we pick None and read SecurityResult OK.
 */
static int inner_prelude(vg_vnc_relay *r)
{
    int64_t deadline = vg_now_us() + INNER_PRELUDE_TIMEOUT_US;
    uint8_t buf[256];
    int err = vg_vnc_read_full(r->inner_fd, buf, 12, deadline);
    if (err < 0)
        return err;
    if (memcmp(buf, "RFB 003.", 8) != 0)
        return -EPROTO;
    err = vg_vnc_write_full(r->inner_fd, "RFB 003.008\n", 12, deadline);
    if (err == 0)
        err = vg_vnc_read_full(r->inner_fd, buf, 1, deadline);
    if (err < 0)
        return err;
    size_t count = buf[0];
    if (count == 0) /* a failure reason follows; we only need to know it failed */
        return -EPROTO;
    err = vg_vnc_read_full(r->inner_fd, buf, count, deadline); /* count ≤ 255 < sizeof(buf) */
    if (err < 0)
        return err;
    if (!memchr(buf, 1 /* None */, count))
        return -EPROTO;
    buf[0] = 1;
    err = vg_vnc_write_full(r->inner_fd, buf, 1, deadline);
    if (err == 0)
        err = vg_vnc_read_full(r->inner_fd, buf, 4, deadline);
    if (err < 0)
        return err;
    return vg_vnc_get_u32(buf) == 0 ? 0 : -EACCES;
}

/* Add the events an SSL result waits for to @events, or return the error
 * (<0; -ECONNRESET when the viewer left). */
static int ssl_status(SSL *ssl, int ret, short *events)
{
    short want = 0;
    int r = vg_tls_want(ssl, ret, &want);

    *events |= want;
    return r;
}

/* Map a failed send/recv (@n <= 0) on the plain viewer socket to the
 * events to wait for (@want), or an error (<0). */
static int plain_status(ssize_t n, short want, short *events)
{
    if (n == 0)
        return -ECONNRESET;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        *events |= want;
        return 0;
    }
    return errno == EPIPE || errno == ECONNRESET ? -ECONNRESET : -EIO;
}

/* Read from the viewer into @buf: TLS or plain. @return 1 and *got, 0 to
 * wait (events set), or an error (<0). */
static int viewer_read(vg_vnc_relay *r, uint8_t *buf, size_t len, size_t *got, short *events)
{
    errno = 0;
    if (r->ssl) {
        int ret = SSL_read_ex(r->ssl, buf, len, got);
        return ret == 1 ? 1 : ssl_status(r->ssl, ret, events);
    }
    ssize_t n = recv(r->viewer_fd, buf, len, 0);
    if (n > 0) {
        *got = (size_t)n;
        return 1;
    }
    return plain_status(n, POLLIN, events);
}

/* Write @buf to the viewer, as viewer_read(). */
static int viewer_write(vg_vnc_relay *r, const uint8_t *buf, size_t len, size_t *put, short *events)
{
    errno = 0;
    if (r->ssl) {
        int ret = SSL_write_ex(r->ssl, buf, len, put);
        return ret == 1 ? 1 : ssl_status(r->ssl, ret, events);
    }
    ssize_t n = send(r->viewer_fd, buf, len, MSG_NOSIGNAL);
    if (n > 0) {
        *put = (size_t)n;
        return 1;
    }
    return plain_status(n, POLLOUT, events);
}

/*
 * The relay proper. Each round tries every transfer that has data and
 * room until none makes progress, then polls for what the blocked ones
 * wait for. TLS may want to write while reading and the other way round,
 * so the viewer fd's events come from what OpenSSL asked for.
 */
static const char *relay_loop(vg_vnc_relay *r)
{
    bool server_eof = false;
    int64_t flush_deadline = 0;
    for (;;) {
        short viewer_events = 0, inner_events = 0;
        bool progress;
        const char *why;
        do {
            progress = false;
            /* viewer → buffer (TLS records may sit inside OpenSSL: read on) */
            if (!server_eof && buf_room(&r->to_server) > 0) {
                size_t got = 0;
                int ret = viewer_read(r, r->to_server.data + r->to_server.end,
                                      buf_room(&r->to_server), &got, &viewer_events);
                if (ret == 1) {
                    r->to_server.end += got;
                    progress = true;
                } else if (ret == -ECONNRESET) {
                    return "the viewer left";
                } else if (ret < 0) {
                    return r->ssl ? "TLS error from the viewer" : "read error from the viewer";
                }
            }
            /* buffer → whole messages, update requests held while behind */
            if (!server_eof && (why = frame_input(r, &progress)) != NULL)
                return why;
            if (!server_eof && release_request(r))
                progress = true;
            /* messages → libvncserver */
            if (!server_eof && buf_len(&r->to_inner) > 0) {
                ssize_t n = send(r->inner_fd, r->to_inner.data + r->to_inner.start,
                                 buf_len(&r->to_inner), MSG_NOSIGNAL);
                if (n > 0) {
                    consume(&r->to_inner, (size_t)n);
                    progress = true;
                } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                    inner_events |= POLLOUT;
                } else if (n < 0 && errno == EINTR) {
                    progress = true; /* try again */
                } else {
                    server_eof = true;
                }
            }
            /* libvncserver → buffer, always: libvncserver must never wait
             * for this viewer (the buffer grows, within its bound) */
            if (!server_eof && buf_room(&r->to_viewer) == 0 &&
                !buf_grow(&r->to_viewer, VG_VNC_RELAY_TO_VIEWER_MAX))
                return "the viewer fell too far behind";
            if (!server_eof) {
                ssize_t n = recv(r->inner_fd, r->to_viewer.data + r->to_viewer.end,
                                 buf_room(&r->to_viewer), 0);
                if (n > 0) {
                    r->to_viewer.end += (size_t)n;
                    progress = true;
                } else if (n < 0 && errno == EINTR) {
                    progress = true; /* try again */
                } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                    inner_events |= POLLIN;
                } else {
                    server_eof = true;
                }
            }
            /* buffer → viewer */
            if (buf_len(&r->to_viewer) > 0) {
                size_t put = 0;
                int ret = viewer_write(r, r->to_viewer.data + r->to_viewer.start,
                                       buf_len(&r->to_viewer), &put, &viewer_events);
                if (ret == 1) {
                    consume(&r->to_viewer, put);
                    vg_metrics_bytes(g_atomic_int_get(&r->metric_proto), VG_METRIC_CODEC_RFB, put);
                    r->viewer_idle_since = 0;
                    progress = true;
                } else if (ret == -ECONNRESET) {
                    return "the viewer left";
                } else if (ret < 0) {
                    return r->ssl ? "TLS error towards the viewer"
                                  : "write error towards the viewer";
                }
            }
            /* A grown buffer is given back only once it has been empty
             * for a while: large updates come one after another (a video,
             * a screen of noise), and growing again for each one costs a
             * copy and fresh pages every frame. */
            if (r->to_viewer.cap > VG_VNC_RELAY_TO_VIEWER_BUF) {
                int64_t t = vg_now_us();
                if (buf_len(&r->to_viewer) > 0)
                    r->keep_grown_until = t + VG_VNC_RELAY_KEEP_GROWN_US;
                else if (t >= r->keep_grown_until)
                    buf_shrink(&r->to_viewer, VG_VNC_RELAY_TO_VIEWER_BUF);
            }
            if (g_atomic_int_get(&r->stop))
                return NULL;
        } while (progress);

        int64_t now = vg_now_us();
        int timeout = -1;
        if (buf_len(&r->to_viewer) > 0) {
            int64_t stall_end;
            if (!r->viewer_idle_since)
                r->viewer_idle_since = now;
            stall_end = r->viewer_idle_since + (int64_t)r->stall_timeout_ms * 1000;
            if (now >= stall_end) {
                g_snprintf(r->reason, sizeof(r->reason), "the viewer read nothing for %u s",
                           r->stall_timeout_ms / 1000);
                return r->reason;
            }
            timeout = (int)((stall_end - now + 999) / 1000);
        }
        if (server_eof) {
            /* Let what libvncserver said last (e.g. before a kick) reach the
             * viewer, within a bound. */
            if (buf_len(&r->to_viewer) == 0) {
                g_atomic_int_set(&r->by_screen, 1);
                return "the VM's screen closed the connection";
            }
            if (!flush_deadline)
                flush_deadline = now + FLUSH_TIMEOUT_US;
            if (now >= flush_deadline) {
                g_atomic_int_set(&r->by_screen, 1);
                return "the VM's screen closed the connection";
            }
            inner_events = 0;
            timeout = 50;
        }

        struct pollfd pfd[3] = {
            {.fd = r->wake_fd, .events = POLLIN},
            {.fd = r->viewer_fd, .events = viewer_events},
            {.fd = server_eof ? -1 : r->inner_fd, .events = inner_events},
        };
        if (poll(pfd, 3, timeout) < 0 && errno != EINTR)
            return "poll failed";
        if (pfd[0].revents) {
            uint64_t v;
            if (read(r->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                return "wake failed";
        }
        /* POLLHUP/POLLERR on either fd surface as errors in the next round. */
    }
}

/*
 * After the end: read and drop what libvncserver still writes on the inner
 * end until it closes it. The shutdown above makes its next write fail, but
 * a write already waiting for room (a large update to a viewer that left)
 * only learns that once there is room: left alone it would hold the VM's
 * screen thread, and so every other viewer of the VM and every new login
 * to it, for rfbMaxClientWait. Bounded in time; the owner's stop ends it.
 */
static void drain_inner(vg_vnc_relay *r)
{
    int64_t deadline = vg_now_us() + DRAIN_TIMEOUT_US;
    char scratch[65536];

    while (!g_atomic_int_get(&r->stop)) {
        int64_t left = deadline - vg_now_us();
        struct pollfd pfd[2] = {{.fd = r->wake_fd, .events = POLLIN},
                                {.fd = r->inner_fd, .events = POLLIN}};
        ssize_t n;

        if (left <= 0 || poll(pfd, 2, (int)MIN(left / 1000 + 1, 1000)) < 0)
            return;
        if (pfd[0].revents)
            return;
        n = recv(r->inner_fd, scratch, sizeof(scratch), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return;
    }
}

static gpointer relay_thread(gpointer opaque)
{
    vg_vnc_relay *r = opaque;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    const char *reason = NULL;
    int err = inner_prelude(r);
    if (err < 0) {
        vg_warning(TAG, "%s: libvncserver's prelude failed: %s", r->label, g_strerror(-err));
        reason = "the VM's screen refused the connection";
    } else {
        vg_debug(TAG, "%s: relaying", r->label);
        reason = relay_loop(r);
    }
    /* The owner hears why before libvncserver sees its client close (and
     * reports only that the connection ended). */
    if (reason && !g_atomic_int_get(&r->stop)) {
        vg_info(TAG, "%s: relay ended: %s", r->label, reason);
        if (r->ended)
            r->ended(r->opaque, r, reason);
    }
    /* Whatever ended it, both peers learn at once, not when the owner gets
     * round to freeing: close_notify (best effort, non-blocking) and
     * shutdown; the fds stay open until vg_vnc_relay_free(). */
    if (r->ssl) {
        SSL_shutdown(r->ssl);
        ERR_clear_error();
    }
    shutdown(r->viewer_fd, SHUT_RDWR);
    shutdown(r->inner_fd, SHUT_RDWR);
    drain_inner(r);
    g_atomic_int_set(&r->finished, 1);
    return NULL;
}

int vg_vnc_relay_new(SSL *ssl, int viewer_fd, int inner_fd, const char *label,
                     unsigned stall_timeout_ms, vg_vnc_relay_ended_fn ended, void *opaque,
                     vg_vnc_relay **out)
{
    if (viewer_fd < 0 || inner_fd < 0 || !out)
        return -EINVAL;
    int err = -ENOMEM;
    vg_vnc_relay *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->wake_fd = -1;
    r->to_viewer.cap = VG_VNC_RELAY_TO_VIEWER_BUF;
    r->to_server.cap = VG_VNC_RELAY_TO_SERVER_BUF;
    r->to_inner.cap = VG_VNC_RELAY_TO_SERVER_BUF;
    r->stall_timeout_ms = stall_timeout_ms ? stall_timeout_ms : DEFAULT_STALL_TIMEOUT_MS;
    r->to_viewer.data = malloc(r->to_viewer.cap);
    r->to_server.data = malloc(r->to_server.cap);
    r->to_inner.data = malloc(r->to_inner.cap);
    r->label = strdup(label ? label : "vnc viewer");
    if (!r->to_viewer.data || !r->to_server.data || !r->to_inner.data || !r->label)
        goto fail;
    r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->wake_fd < 0) {
        err = -errno;
        goto fail;
    }
    if ((err = vg_vnc_set_nonblock(viewer_fd)) < 0 || (err = vg_vnc_set_nonblock(inner_fd)) < 0)
        goto fail;
    /* A viewer that drops the TCP connection without close_notify has
     * left, not attacked; and the relay compacts its buffer between retried
     * writes. */
    if (ssl) {
        SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
        SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    }
    r->ssl = ssl;
    r->viewer_fd = viewer_fd;
    r->inner_fd = inner_fd;
    r->ended = ended;
    r->opaque = opaque;
    r->thread = g_thread_try_new("vnc-relay", relay_thread, r, NULL);
    if (!r->thread) {
        r->ssl = NULL;
        err = -ENOMEM;
        goto fail;
    }
    *out = r;
    return 0;

fail:
    if (r->wake_fd >= 0)
        close(r->wake_fd);
    free(r->to_viewer.data);
    free(r->to_server.data);
    free(r->to_inner.data);
    free(r->label);
    free(r);
    return err;
}

void vg_vnc_relay_stop(vg_vnc_relay *r)
{
    if (!r)
        return;
    g_atomic_int_set(&r->stop, 1);
    /* Also ends a wait in libvncserver's prelude on the inner end, and
     * tells libvncserver at once that its client is gone. */
    shutdown(r->inner_fd, SHUT_RDWR);
    uint64_t one = 1;
    (void)!write(r->wake_fd, &one, sizeof(one));
}

int vg_vnc_relay_ended_by_screen(vg_vnc_relay *r)
{
    return g_atomic_int_get(&r->by_screen);
}

int vg_vnc_relay_finished(vg_vnc_relay *r)
{
    return g_atomic_int_get(&r->finished);
}

void vg_vnc_relay_free(vg_vnc_relay *r)
{
    if (!r)
        return;
    vg_vnc_relay_stop(r);
    g_thread_join(r->thread);
    SSL_free(r->ssl);
    close(r->viewer_fd);
    close(r->inner_fd);
    close(r->wake_fd);
    /* The buffers held viewer input, which may include typed passwords. */
    OPENSSL_cleanse(r->to_server.data, r->to_server.cap);
    OPENSSL_cleanse(r->to_inner.data, r->to_inner.cap);
    free(r->to_viewer.data);
    free(r->to_server.data);
    free(r->to_inner.data);
    free(r->label);
    free(r);
}

void vg_vnc_relay_set_metric_protocol(vg_vnc_relay *r, int proto)
{
    g_atomic_int_set(&r->metric_proto, proto);
}
