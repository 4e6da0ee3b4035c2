/*
 * ws-shim — a minimal RFC 6455 WebSocket client relaying between a
 * socketpair and a ws:// server (websockify in the benchmark); see
 * ws-shim.h.
 *
 * Written by hand on purpose: libvncclient, the benchmark's RFB client,
 * cannot speak WebSocket, and the shim lets the benchmark use the same RFB
 * code path (libvncclient on a plain fd) for QEMU's VNC reached directly and
 * through websockify. It only has to be correct and cheap, so that what is
 * measured is websockify: the relay thread polls both sockets, copies
 * nothing beyond what framing needs (server payloads are written to the
 * socketpair straight from the receive buffer; client payloads are read into
 * the send buffer behind room for the frame header and masked in place),
 * and the TCP socket has TCP_NODELAY.
 *
 * Limits: no TLS (wss://), no extensions (no permessage-deflate), text
 * messages are refused (websockify sends binary with the "binary"
 * subprotocol), a data frame may be at most VG_WS_MAX_FRAME bytes (it is
 * streamed, never held whole), control frames at most 125 (RFC 6455).
 */
#include "ws-shim.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#define VG_WS_IN_BUF      (256u * 1024u) /* receive buffer (server to client) */
#define VG_WS_OUT_PAYLOAD (64u * 1024u)  /* largest client frame payload */
#define VG_WS_HDR_MAX     14u            /* 2 + 8 (length) + 4 (mask key) */
#define VG_WS_MAX_FRAME   ((uint64_t)1 << 30)
#define VG_WS_HTTP_MAX    8192u /* the server's HTTP response, headers included */
#define VG_WS_SOCKBUF     (4 * 1024 * 1024)
#define VG_WS_GUID        "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum {
    OP_CONT = 0x0,
    OP_TEXT = 0x1,
    OP_BINARY = 0x2,
    OP_CLOSE = 0x8,
    OP_PING = 0x9,
    OP_PONG = 0xA,
};

struct vg_ws_shim {
    int tcp;   /* to the WebSocket server */
    int local; /* the shim's end of the socketpair */
    int wake;  /* eventfd: vg_ws_shim_free() stops the thread */
    GThread *thread;
    _Atomic uint64_t bytes_in;

    /* Server to client. in[in_r, in_w) is received and not yet consumed. */
    uint8_t *in;
    size_t in_r, in_w;
    uint64_t payload_left; /* of the current data frame */
    bool in_payload;       /* inside a data frame's payload */
    bool in_message;       /* inside a fragmented message (no FIN yet) */
    bool local_blocked;    /* the socketpair is full: wait for POLLOUT */

    /* Client to server: out[out_r, out_w) is a frame being sent. The payload
     * is read at out + VG_WS_HDR_MAX and the header put in front of it. */
    uint8_t *out;
    size_t out_r, out_w;
    /* A control frame to send next (between data frames). */
    uint8_t ctrl[2 + 4 + 125];
    size_t ctrl_len;
    bool ctrl_is_close;

    bool tcp_eof;     /* the server closed the TCP connection */
    bool local_eof;   /* the caller closed (or shut down) its end */
    bool close_sent;  /* our Close frame is queued or sent */
    bool close_recvd; /* the server's Close frame arrived */
    bool local_shut;  /* EOF given to the caller (shutdown SHUT_WR) */

    /* 4-byte masking keys come from this pool of getrandom() bytes. */
    uint8_t rnd[256];
    size_t rnd_pos;
};

/* ---- small helpers ---------------------------------------------------- */

static int remaining_ms(int64_t deadline_us)
{
    int64_t left = deadline_us - g_get_monotonic_time();
    if (left <= 0)
        return 0;
    if (left > (int64_t)INT32_MAX * 1000)
        return INT32_MAX;
    return (int)((left + 999) / 1000);
}

/* Wait for events on fd until the deadline: 0, or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short events, int64_t deadline_us)
{
    for (;;) {
        int ms = remaining_ms(deadline_us);
        if (ms == 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, ms);
        if (r > 0)
            return 0;
        if (r == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

static int set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

static void fill_random(uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* No getrandom: glib's generator (seeded from /dev/urandom). */
            for (; got < len; got++)
                buf[got] = (uint8_t)g_random_int();
            return;
        }
        got += (size_t)n;
    }
}

static void mask_key(vg_ws_shim *s, uint8_t key[4])
{
    if (s->rnd_pos + 4 > sizeof s->rnd) {
        fill_random(s->rnd, sizeof s->rnd);
        s->rnd_pos = 0;
    }
    memcpy(key, s->rnd + s->rnd_pos, 4);
    s->rnd_pos += 4;
}

/* XOR data with the repeated 4-byte key, 8 bytes at a time. */
static void apply_mask(uint8_t *data, size_t len, const uint8_t key[4])
{
    uint64_t k8;
    uint8_t kk[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
    memcpy(&k8, kk, 8);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, data + i, 8);
        v ^= k8;
        memcpy(data + i, &v, 8);
    }
    for (; i < len; i++)
        data[i] ^= key[i & 3];
}

/* Write a masked client frame header for a payload of len bytes so that it
 * ends right before payload; returns the header's start. */
static uint8_t *put_header(uint8_t *payload, uint8_t opcode, uint64_t len, const uint8_t key[4])
{
    size_t hl = 2 + (len > 0xFFFF ? 8 : len > 125 ? 2 : 0) + 4;
    uint8_t *h = payload - hl;
    h[0] = 0x80 | opcode; /* FIN */
    if (len > 0xFFFF) {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    } else if (len > 125) {
        h[1] = 0x80 | 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
    } else {
        h[1] = 0x80 | (uint8_t)len;
    }
    memcpy(payload - 4, key, 4);
    return h;
}

/* Queue a control frame (at most 125 bytes of payload); a Close replaces
 * anything pending, a Pong replaces an earlier Pong (RFC 6455 5.5.3). */
static void queue_control(vg_ws_shim *s, uint8_t opcode, const uint8_t *payload, size_t len)
{
    if (s->close_sent || len > 125)
        return;
    if (s->ctrl_is_close)
        return;
    uint8_t key[4];
    mask_key(s, key);
    uint8_t *p = s->ctrl + 6;
    memcpy(p, payload, len);
    apply_mask(p, len, key);
    uint8_t *h = put_header(p, opcode, len, key); /* == s->ctrl */
    s->ctrl_len = (size_t)(p + len - h);
    s->ctrl_is_close = opcode == OP_CLOSE;
    if (s->ctrl_is_close)
        s->close_sent = true;
}

static void queue_close(vg_ws_shim *s, uint16_t code)
{
    uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    queue_control(s, OP_CLOSE, p, code ? 2 : 0);
}

/* ---- connect and handshake -------------------------------------------- */

static int tcp_connect(const char *host, unsigned port, int64_t deadline_us)
{
    char service[16];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    snprintf(service, sizeof service, "%u", port);
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res)
        return -EHOSTUNREACH;
    int err = -EHOSTUNREACH;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            err = -errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            if (errno != EINPROGRESS) {
                err = -errno;
                close(fd);
                continue;
            }
            err = wait_fd(fd, POLLOUT, deadline_us);
            if (err == 0) {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
                    err = -errno;
                else if (soerr)
                    err = -soerr;
            }
            if (err) {
                close(fd);
                if (err == -ETIMEDOUT)
                    break;
                continue;
            }
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        freeaddrinfo(res);
        return fd;
    }
    freeaddrinfo(res);
    return err;
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline_us)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = wait_fd(fd, POLLOUT, deadline_us);
            if (r)
                return r;
            continue;
        }
        return n < 0 ? -errno : -EPIPE;
    }
    return 0;
}

/* The value of header name in the response head (NUL-terminated, lines
 * separated by CRLF), without surrounding blanks; NULL when absent. */
static char *header_value(const char *head, const char *name)
{
    size_t nl = strlen(name);
    const char *line = strstr(head, "\r\n");
    while (line) {
        line += 2;
        if (g_ascii_strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            const char *e = strstr(v, "\r\n");
            if (!e)
                e = v + strlen(v);
            return g_strstrip(g_strndup(v, (gsize)(e - v)));
        }
        line = strstr(line, "\r\n");
    }
    return NULL;
}

/* Does the comma-separated list contain token (case-insensitive)? */
static bool list_has(const char *list, const char *token)
{
    bool found = false;
    char **parts = g_strsplit(list, ",", -1);
    for (char **p = parts; *p && !found; p++)
        found = g_ascii_strcasecmp(g_strstrip(*p), token) == 0;
    g_strfreev(parts);
    return found;
}

static int handshake(vg_ws_shim *s, const char *host, unsigned port, const char *path,
                     int64_t deadline_us)
{
    uint8_t nonce[16];
    fill_random(nonce, sizeof nonce);
    g_autofree char *key = g_base64_encode(nonce, sizeof nonce);
    bool v6 = strchr(host, ':') != NULL;
    g_autofree char *req = g_strdup_printf("GET %s HTTP/1.1\r\n"
                                           "Host: %s%s%s:%u\r\n"
                                           "Upgrade: websocket\r\n"
                                           "Connection: Upgrade\r\n"
                                           "Sec-WebSocket-Key: %s\r\n"
                                           "Sec-WebSocket-Version: 13\r\n"
                                           "Sec-WebSocket-Protocol: binary\r\n"
                                           "\r\n",
                                           path, v6 ? "[" : "", host, v6 ? "]" : "", port, key);
    int r = send_all(s->tcp, req, strlen(req), deadline_us);
    if (r)
        return r;

    /* Read the response into the relay's buffer: frame bytes that come
     * right behind it stay there for the relay. */
    size_t head_len = 0;
    while (!head_len) {
        if (s->in_w >= VG_WS_HTTP_MAX)
            return -EPROTO;
        ssize_t n = recv(s->tcp, s->in + s->in_w, VG_WS_HTTP_MAX - s->in_w, 0);
        if (n > 0) {
            atomic_fetch_add_explicit(&s->bytes_in, (uint64_t)n, memory_order_relaxed);
            size_t from = s->in_w > 3 ? s->in_w - 3 : 0;
            s->in_w += (size_t)n;
            /* Not HTTP at all (e.g. a VNC server): do not wait for more. */
            if (memcmp(s->in, "HTTP/", s->in_w < 5 ? s->in_w : 5) != 0)
                return -EPROTO;
            for (size_t i = from; i + 4 <= s->in_w; i++) {
                if (memcmp(s->in + i, "\r\n\r\n", 4) == 0) {
                    head_len = i + 4;
                    break;
                }
            }
            continue;
        }
        if (n == 0)
            return -EPROTO;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        r = wait_fd(s->tcp, POLLIN, deadline_us);
        if (r)
            return r;
    }

    g_autofree char *head = g_strndup((const char *)s->in, head_len);
    s->in_r = head_len;
    if (strncmp(head, "HTTP/1.1 101", 12) != 0 && strncmp(head, "HTTP/1.0 101", 12) != 0)
        return -EPROTO;
    g_autofree char *upgrade = header_value(head, "Upgrade");
    g_autofree char *connection = header_value(head, "Connection");
    g_autofree char *accept = header_value(head, "Sec-WebSocket-Accept");
    g_autofree char *proto = header_value(head, "Sec-WebSocket-Protocol");
    if (!upgrade || g_ascii_strcasecmp(upgrade, "websocket") != 0)
        return -EPROTO;
    if (!connection || !list_has(connection, "upgrade"))
        return -EPROTO;
    if (proto && g_ascii_strcasecmp(proto, "binary") != 0)
        return -EPROTO;
    /* Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) */
    g_autofree char *kg = g_strconcat(key, VG_WS_GUID, NULL);
    uint8_t digest[20];
    gsize dlen = sizeof digest;
    GChecksum *sha1 = g_checksum_new(G_CHECKSUM_SHA1);
    g_checksum_update(sha1, (const guchar *)kg, (gssize)strlen(kg));
    g_checksum_get_digest(sha1, digest, &dlen);
    g_checksum_free(sha1);
    g_autofree char *want = g_base64_encode(digest, dlen);
    if (!accept || strcmp(accept, want) != 0)
        return -EPROTO;
    return 0;
}

/* ---- the relay -------------------------------------------------------- */

/* Give the caller EOF (once). */
static void shut_local(vg_ws_shim *s)
{
    if (!s->local_shut) {
        shutdown(s->local, SHUT_WR);
        s->local_shut = true;
    }
}

/* Consume received bytes: parse frame headers, hand payloads to the caller,
 * act on control frames. Returns false on a protocol error or when the
 * caller's end is gone. */
static bool process_in(vg_ws_shim *s)
{
    while (s->in_r < s->in_w && !s->local_blocked && !s->close_recvd) {
        uint8_t *p = s->in + s->in_r;
        size_t avail = s->in_w - s->in_r;

        if (s->in_payload) {
            size_t n = avail;
            if ((uint64_t)n > s->payload_left)
                n = (size_t)s->payload_left;
            if (n) {
                ssize_t w = send(s->local, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (w < 0) {
                    if (errno == EINTR)
                        continue;
                    if (errno == EAGAIN || errno == EWOULDBLOCK) {
                        s->local_blocked = true;
                        break;
                    }
                    return false; /* the caller closed its end */
                }
                s->in_r += (size_t)w;
                s->payload_left -= (uint64_t)w;
            }
            if (s->payload_left == 0)
                s->in_payload = false;
            continue;
        }

        if (avail < 2)
            break;
        bool fin = p[0] & 0x80;
        uint8_t opcode = p[0] & 0x0F;
        if (p[0] & 0x70)
            return false; /* RSV bits: no extension was negotiated */
        if (p[1] & 0x80)
            return false; /* a server must not mask */
        uint64_t len = p[1] & 0x7F;
        size_t hl = 2;
        if (len == 126) {
            hl = 4;
            if (avail < hl)
                break;
            len = ((uint64_t)p[2] << 8) | p[3];
        } else if (len == 127) {
            hl = 10;
            if (avail < hl)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | p[2 + i];
            if (len >> 63)
                return false;
        }

        if (opcode & 0x8) {
            /* Control frame: not fragmented, at most 125 bytes, kept whole. */
            if (!fin || len > 125)
                return false;
            if (avail < hl + len)
                break;
            const uint8_t *payload = p + hl;
            switch (opcode) {
            case OP_PING:
                queue_control(s, OP_PONG, payload, (size_t)len);
                break;
            case OP_PONG:
                break;
            case OP_CLOSE:
                s->close_recvd = true;
                if (len >= 2)
                    queue_control(s, OP_CLOSE, payload, 2); /* echo the status code */
                else
                    queue_close(s, 0);
                break;
            default:
                return false;
            }
            s->in_r += hl + (size_t)len;
            continue;
        }

        switch (opcode) {
        case OP_BINARY:
            if (s->in_message)
                return false; /* a new message inside a fragmented one */
            break;
        case OP_CONT:
            if (!s->in_message)
                return false;
            break;
        default: /* OP_TEXT: not with the "binary" subprotocol; others unknown */
            return false;
        }
        if (len > VG_WS_MAX_FRAME)
            return false;
        s->in_message = !fin;
        s->in_r += hl;
        s->payload_left = len;
        s->in_payload = len > 0;
    }
    if (s->in_r == s->in_w)
        s->in_r = s->in_w = 0;
    return true;
}

/* Read what the caller wrote into one masked binary frame. Returns false
 * when the caller's end failed. */
static bool read_local(vg_ws_shim *s)
{
    uint8_t *payload = s->out + VG_WS_HDR_MAX;
    ssize_t n = recv(s->local, payload, VG_WS_OUT_PAYLOAD, MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return true;
        if (errno == ECONNRESET) {
            n = 0;
        } else {
            return false;
        }
    }
    if (n == 0) {
        s->local_eof = true;
        queue_close(s, 1000);
        return true;
    }
    uint8_t key[4];
    mask_key(s, key);
    apply_mask(payload, (size_t)n, key);
    uint8_t *h = put_header(payload, OP_BINARY, (uint64_t)n, key);
    s->out_r = (size_t)(h - s->out);
    s->out_w = VG_WS_HDR_MAX + (size_t)n;
    return true;
}

/* Send the pending frame; returns false on a TCP error. */
static bool flush_out(vg_ws_shim *s)
{
    for (;;) {
        if (s->out_r == s->out_w) {
            s->out_r = s->out_w = 0;
            if (!s->ctrl_len)
                return true;
            /* The next frame is the queued control frame. */
            memcpy(s->out, s->ctrl, s->ctrl_len);
            s->out_w = s->ctrl_len;
            s->ctrl_len = 0;
        }
        ssize_t n = send(s->tcp, s->out + s->out_r, s->out_w - s->out_r, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            return false;
        }
        s->out_r += (size_t)n;
    }
}

static gpointer relay_thread(gpointer data)
{
    vg_ws_shim *s = data;

    for (;;) {
        if (!process_in(s))
            break;
        if (!flush_out(s))
            break;
        bool out_idle = s->out_r == s->out_w && !s->ctrl_len;
        /* Done: the server closed (Close frame or TCP EOF) and everything
         * received has been handed over, or we closed and the server
         * answered. */
        if (s->close_recvd && out_idle)
            break;
        /* process_in() has consumed all it can unless the caller's end is
         * full: what is left after a TCP EOF is a truncated frame. */
        if (s->tcp_eof && !s->local_blocked)
            break;

        struct pollfd pf[3] = {
            {.fd = s->tcp, .events = 0},
            {.fd = s->local, .events = 0},
            {.fd = s->wake, .events = POLLIN},
        };
        if (!s->tcp_eof && !s->local_blocked && s->in_w < VG_WS_IN_BUF)
            pf[0].events |= POLLIN;
        if (!out_idle)
            pf[0].events |= POLLOUT;
        if (!s->local_eof && !s->close_sent && out_idle)
            pf[1].events |= POLLIN;
        if (s->local_blocked)
            pf[1].events |= POLLOUT;
        /* Not interested: do not wake up for its POLLHUP/POLLERR either. */
        for (int i = 0; i < 2; i++)
            if (!pf[i].events)
                pf[i].fd = -1;

        if (poll(pf, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[2].revents)
            break;
        if (pf[1].revents & POLLOUT)
            s->local_blocked = false;
        if ((pf[1].revents & POLLNVAL) || (pf[0].revents & POLLNVAL))
            break;
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (s->in_r > 0 && s->in_w == VG_WS_IN_BUF) {
                memmove(s->in, s->in + s->in_r, s->in_w - s->in_r);
                s->in_w -= s->in_r;
                s->in_r = 0;
            }
            ssize_t n = recv(s->tcp, s->in + s->in_w, VG_WS_IN_BUF - s->in_w, MSG_DONTWAIT);
            if (n > 0) {
                atomic_fetch_add_explicit(&s->bytes_in, (uint64_t)n, memory_order_relaxed);
                s->in_w += (size_t)n;
            } else if (n == 0) {
                s->tcp_eof = true;
            } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
                s->tcp_eof = true; /* reset: hand over what we have, then stop */
            }
        }
        if ((pf[1].events & POLLIN) && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (!read_local(s))
                break;
        }
        /* A frame header cut by the buffer's end: make room at the front. */
        if (s->in_r > 0 && s->in_w == VG_WS_IN_BUF && !s->in_payload) {
            memmove(s->in, s->in + s->in_r, s->in_w - s->in_r);
            s->in_w -= s->in_r;
            s->in_r = 0;
        }
    }
    /* Best effort: tell the server we are going, and the caller it is over. */
    if (!s->close_sent && !s->tcp_eof) {
        queue_close(s, 1001);
        flush_out(s);
    }
    shut_local(s);
    return NULL;
}

/* ---- API -------------------------------------------------------------- */

static void shim_close(vg_ws_shim *s)
{
    if (s->tcp >= 0)
        close(s->tcp);
    if (s->local >= 0)
        close(s->local);
    if (s->wake >= 0)
        close(s->wake);
    g_free(s->in);
    g_free(s->out);
    g_free(s);
}

int vg_ws_shim_connect(const char *host, unsigned port, const char *path, int64_t deadline_us,
                       vg_ws_shim **out, int *fd_out)
{
    if (!host || !*host || port == 0 || port > 65535 || !out)
        return -EINVAL;
    if (!path || !*path)
        path = "/";
    if (path[0] != '/' || strpbrk(path, " \r\n"))
        return -EINVAL;
    *out = NULL;

    vg_ws_shim *s = g_new0(vg_ws_shim, 1);
    s->tcp = s->local = s->wake = -1;
    s->rnd_pos = sizeof s->rnd;
    s->in = g_malloc(VG_WS_IN_BUF);
    s->out = g_malloc(VG_WS_HDR_MAX + VG_WS_OUT_PAYLOAD);
    atomic_init(&s->bytes_in, 0);

    int r = tcp_connect(host, port, deadline_us);
    if (r < 0)
        goto fail;
    s->tcp = r;
    r = handshake(s, host, port, path, deadline_us);
    if (r < 0)
        goto fail;

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        r = -errno;
        goto fail;
    }
    s->local = sv[0];
    for (int i = 0; i < 2; i++) {
        int sz = VG_WS_SOCKBUF;
        setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    }
    set_nonblock(s->local, true);
    s->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->wake < 0) {
        r = -errno;
        close(sv[1]);
        goto fail;
    }
    GError *err = NULL;
    s->thread = g_thread_try_new("vg-ws-shim", relay_thread, s, &err);
    if (!s->thread) {
        g_clear_error(&err);
        r = -EAGAIN;
        close(sv[1]);
        goto fail;
    }
    *out = s;
    if (fd_out)
        *fd_out = sv[1];
    return sv[1];

fail:
    shim_close(s);
    return r;
}

void vg_ws_shim_free(vg_ws_shim *s)
{
    if (!s)
        return;
    if (s->thread) {
        uint64_t one = 1;
        ssize_t n = write(s->wake, &one, sizeof one);
        (void)n;
        g_thread_join(s->thread);
    }
    shim_close(s);
}

uint64_t vg_ws_shim_bytes_in(vg_ws_shim *s)
{
    return s ? atomic_load_explicit(&s->bytes_in, memory_order_relaxed) : 0;
}
