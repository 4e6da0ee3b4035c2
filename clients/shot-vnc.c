/*
 * vmgate-shot, VNC mode: a viewer of vmgate's VNC front end, over VeNCrypt
 * X509Plain (TLS, then user name and password), with libvncclient.
 *
 * Threading: the main thread connects the TCP socket, starts the client
 * thread (a vg_rfb_loop, vmm-bridge/rfb-loop.c) and waits for the
 * handshake's outcome, then runs shot_finish(). The client thread owns the
 * rfbClient: it runs the handshake (client_start), reads server messages,
 * writes every client message (libvncclient's writes are not thread-safe)
 * and is the surface's only producer. Input from the main thread is queued
 * through the loop. The main thread ends the connection with
 * vg_rfb_loop_stop() (which wakes the thread, shuts the socket down so that
 * a read blocked inside libvncclient fails, and joins it) and only then
 * frees the rfbClient. `lock` guards the handshake's outcome.
 *
 * libvncclient 0.9.14, and how this file works with it:
 *  - Security: SetClientAuthSchemes() limits the RFB security type to
 *    VeNCrypt, but libvncclient picks the VeNCrypt subtype by itself and
 *    would also take the unencrypted Plain (256). The credential callback
 *    therefore hands out the password only when the subtype is X509Plain,
 *    TLS is up and this file has checked the certificate.
 *  - Certificate checks: libvncclient verifies the peer only against a CA
 *    file, by host name, with no way to turn that off. Its
 *    InitializeTLSSession() keeps a session that already exists, so the
 *    X.509 credential callback (called just before it) creates the GnuTLS
 *    session here, with a per-session verify function (which overrides the
 *    credentials' one, see gnutls_session_set_verify_function(3)): a trust
 *    list of --ca or the system's, the host name or address from the
 *    command line, or nothing at all with --insecure. libvncclient is given
 *    /dev/null as its CA file (loads, holds no certificate), so should its
 *    own check ever run instead of ours it fails closed.
 *  - The reason a server gives for refusing credentials only reaches
 *    libvncclient's log ("VNC connection failed: ..."); rfb_log_seen picks
 *    it (and the TLS error) up for the one connection of this process.
 *  - The handshake is driven step by step, as in vmm-bridge/console.c, so
 *    that our own SetPixelFormat (BGRX32, the surface's format) and
 *    SetEncodings (raw only, plus DesktopSize, RichCursor so that no
 *    software cursor is drawn into the pixels, and QEMU extended key events)
 *    are the only ones sent.
 *  - WaitForMessage() misses bytes already in client->buffered and records
 *    GnuTLS has decrypted but not handed out: the loop checks both
 *    (the latter through tls_pending) before polling.
 *  - Pixels are decoded into client->frameBuffer (so an encoding the server
 *    sends unasked still lands in a buffer of the right size) and copied
 *    into the surface per rectangle.
 *  - libvncclient frees the password it is given without wiping it; our own
 *    copy is wiped by the caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <rfb/rfbclient.h>

#include "log.h"
#include "rfb-loop.h"
#include "rfb-setup.h"
#include "shot.h"
#include "surface.h"
#include "util.h"

#define TAG "shot-vnc"

/* TLS 1.2 and 1.3 only, GnuTLS's default suites otherwise. */
#define SHOT_TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* Longest certificate chain looked at. */
#define SHOT_MAX_CHAIN 16

typedef enum shot_phase { PHASE_CONNECTING, PHASE_READY, PHASE_FAILED } shot_phase;

typedef struct shot_vnc {
    vg_display_source base; /* first */
    const shot_vnc_params *params;
    rfbClient *cl;
    int fd; /* the socket; closed by rfbClientCleanup() */
    vg_rfb_loop *loop;
    gnutls_x509_trust_list_t trust; /* NULL with --insecure */
    int64_t deadline_us;

    GMutex lock;
    GCond cond;
    /* under lock */
    shot_phase phase;
    int fail_code;
    char fail_msg[768];

    /* client thread only */
    bool peer_checked;
    bool password_sent;
    char server_reason[256];
    char tls_error[256];
    char cert_error[512];
    char refusal[256];
    char last_log[256];
} shot_vnc;

static int tag_key; /* address used as libvncclient client-data tag */

static shot_vnc *session_of(rfbClient *cl)
{
    return rfbClientGetClientData(cl, &tag_key);
}

/* Text from the server goes to a terminal: keep printable ASCII only. */
static void copy_printable(char *dst, size_t len, const char *src)
{
    size_t i = 0;

    for (; *src && i + 1 < len; src++)
        dst[i++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
    dst[i] = '\0';
}

/* libvncclient's log lines (vg_rfb_log_observe) go to the connection whose
 * handshake runs (one at a time in a process): observed from before its
 * client thread starts until the handshake has ended; only a failed
 * handshake reads what this kept. */
static void rfb_log_seen(void *opaque, const char *buf)
{
    static const char conn_failed[] = "VNC connection failed: ";
    static const char auth_failed[] = "VNC authentication failed";
    static const char tls_failed[] = "TLS handshake failed: ";
    shot_vnc *s = opaque;

    if (g_str_has_prefix(buf, conn_failed))
        copy_printable(s->server_reason, sizeof(s->server_reason), buf + strlen(conn_failed));
    else if (g_str_has_prefix(buf, auth_failed) && !s->server_reason[0])
        copy_printable(s->server_reason, sizeof(s->server_reason), buf);
    else if (g_str_has_prefix(buf, tls_failed))
        g_strlcpy(s->tls_error, buf + strlen(tls_failed), sizeof(s->tls_error));
    g_strlcpy(s->last_log, buf, sizeof(s->last_log));
}

/* ---- TLS ---- */

static int verify_peer(gnutls_session_t ts)
{
    rfbClient *cl = gnutls_session_get_ptr(ts);
    shot_vnc *s = cl ? session_of(cl) : NULL;
    const gnutls_datum_t *certs;
    gnutls_x509_crt_t chain[SHOT_MAX_CHAIN];
    unsigned int n = 0, count = 0, status = 0;
    gnutls_datum_t text = {NULL, 0};
    int r;

    if (!s)
        return GNUTLS_E_CERTIFICATE_ERROR;
    if (!s->trust) {
        s->peer_checked = true; /* --insecure */
        return 0;
    }
    certs = gnutls_certificate_get_peers(ts, &n);
    if (!certs || n == 0 || gnutls_certificate_type_get(ts) != GNUTLS_CRT_X509) {
        g_strlcpy(s->cert_error, "the server sent no X.509 certificate", sizeof(s->cert_error));
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    if (n > SHOT_MAX_CHAIN)
        n = SHOT_MAX_CHAIN;
    for (; count < n; count++) {
        if (gnutls_x509_crt_init(&chain[count]) < 0)
            break;
        if (gnutls_x509_crt_import(chain[count], &certs[count], GNUTLS_X509_FMT_DER) < 0) {
            gnutls_x509_crt_deinit(chain[count]);
            break;
        }
    }
    if (count < n) {
        g_strlcpy(s->cert_error, "cannot parse the server's certificate", sizeof(s->cert_error));
        r = GNUTLS_E_CERTIFICATE_ERROR;
        goto out;
    }
    /* The host name check also matches IP addresses against IP SANs. */
    gnutls_typed_vdata_st data[] = {
        {.type = GNUTLS_DT_DNS_HOSTNAME, .data = (unsigned char *)s->params->host},
        {.type = GNUTLS_DT_KEY_PURPOSE_OID, .data = (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER},
    };
    r = gnutls_x509_trust_list_verify_crt2(s->trust, chain, count, data, G_N_ELEMENTS(data), 0,
                                           &status, NULL);
    if (r < 0) {
        snprintf(s->cert_error, sizeof(s->cert_error), "cannot verify the certificate: %s",
                 gnutls_strerror(r));
        r = GNUTLS_E_CERTIFICATE_ERROR;
        goto out;
    }
    if (status != 0) {
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0) {
            snprintf(s->cert_error, sizeof(s->cert_error), "%s", (const char *)text.data);
            g_strstrip(s->cert_error);
            gnutls_free(text.data);
        } else {
            g_strlcpy(s->cert_error, "The certificate is NOT trusted.", sizeof(s->cert_error));
        }
        r = GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
        goto out;
    }
    s->peer_checked = true;
    r = 0;
out:
    for (unsigned int i = 0; i < count; i++)
        gnutls_x509_crt_deinit(chain[i]);
    return r;
}

/* Create the session libvncclient will use (see the file comment). */
static int start_tls_session(shot_vnc *s, rfbClient *cl)
{
    gnutls_session_t ts = NULL;
    int64_t left_ms = (s->deadline_us - vg_now_us()) / 1000;
    int r;

    if (cl->tlsSession) {
        g_strlcpy(s->refusal, "TLS was already started", sizeof(s->refusal));
        return -EPROTO;
    }
    r = gnutls_init(&ts, GNUTLS_CLIENT);
    if (r < 0)
        goto fail;
    r = gnutls_priority_set_direct(ts, SHOT_TLS_PRIORITY, NULL);
    if (r < 0)
        goto fail;
    if (!g_hostname_is_ip_address(s->params->host)) {
        r = gnutls_server_name_set(ts, GNUTLS_NAME_DNS, s->params->host, strlen(s->params->host));
        if (r < 0)
            goto fail;
    }
    gnutls_transport_set_int(ts, s->fd);
    gnutls_handshake_set_timeout(ts, left_ms > 1000 ? (unsigned int)MIN(left_ms, 600000) : 1000);
    gnutls_session_set_verify_function(ts, verify_peer);
    gnutls_session_set_ptr(ts, cl);
    /* libvncclient initialises this mutex only for sessions it creates;
     * FreeTLS() destroys it with the session. */
    pthread_mutex_init(&cl->tlsRwMutex, NULL);
    cl->tlsSession = ts;
    return 0;

fail:
    snprintf(s->refusal, sizeof(s->refusal), "cannot set up TLS: %s", gnutls_strerror(r));
    if (ts)
        gnutls_deinit(ts);
    return -EPROTO;
}

static rfbCredential *get_credential(rfbClient *cl, int type)
{
    shot_vnc *s = session_of(cl);
    rfbCredential *c;

    if (cl->subAuthScheme != rfbVeNCryptX509Plain) {
        snprintf(s->refusal, sizeof(s->refusal),
                 "the server does not offer VeNCrypt X509Plain (it chose subtype %u)",
                 (unsigned int)cl->subAuthScheme);
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (type == rfbCredentialTypeX509) {
        if (start_tls_session(s, cl) < 0)
            goto refuse;
        c->x509Credential.x509CACertFile = strdup("/dev/null");
        if (!c->x509Credential.x509CACertFile)
            goto refuse;
        return c;
    }
    if (type == rfbCredentialTypeUser) {
        if (!cl->tlsSession || !s->peer_checked) {
            g_strlcpy(s->refusal, "refusing to send the password outside checked TLS",
                      sizeof(s->refusal));
            goto refuse;
        }
        c->userCredential.username = strdup(s->params->user);
        c->userCredential.password = strdup(s->params->password);
        if (!c->userCredential.username || !c->userCredential.password) {
            free(c->userCredential.username);
            free(c->userCredential.password);
            goto refuse;
        }
        s->password_sent = true;
        return c;
    }
    snprintf(s->refusal, sizeof(s->refusal), "unexpected credential request %d", type);
refuse:
    free(c);
    return NULL;
}

/* ---- pixels ---- */

static rfbBool cb_malloc_framebuffer(rfbClient *cl)
{
    shot_vnc *s = session_of(cl);
    size_t n;
    int r;

    if (cl->width <= 0 || cl->height <= 0 ||
        vg_image_size((uint32_t)cl->width, (uint32_t)cl->height, VG_SURFACE_BPP, &n) < 0) {
        vg_warning(TAG, "server announced an unusable screen %dx%d", cl->width, cl->height);
        return FALSE;
    }
    free(cl->frameBuffer);
    cl->frameBuffer = calloc(1, n);
    if (!cl->frameBuffer)
        return FALSE;
    r = vg_surface_resize(s->base.surface, (uint32_t)cl->width, (uint32_t)cl->height);
    if (r < 0) {
        vg_warning(TAG, "cannot use screen size %dx%d: %s", cl->width, cl->height, g_strerror(-r));
        return FALSE;
    }
    vg_info(TAG, "screen %dx%d", cl->width, cl->height);
    return TRUE;
}

static void cb_got_update(rfbClient *cl, int x, int y, int w, int h)
{
    shot_vnc *s = session_of(cl);
    size_t stride = (size_t)cl->width * VG_SURFACE_BPP;

    /* libvncclient checked the rectangle against the screen; clip anyway,
     * the surface refuses what does not fit. */
    if (x < 0 || y < 0 || w <= 0 || h <= 0 || x >= cl->width || y >= cl->height)
        return;
    w = MIN(w, cl->width - x);
    h = MIN(h, cl->height - y);
    vg_surface_write(
        s->base.surface, (uint32_t)x, (uint32_t)y, (uint32_t)w, (uint32_t)h,
        (const uint8_t *)cl->frameBuffer + (size_t)y * stride + (size_t)x * VG_SURFACE_BPP, stride);
}

static void cb_finished_update(rfbClient *cl)
{
    /* HandleRFBServerMessage() has already asked for the next update. */
    vg_surface_commit(session_of(cl)->base.surface);
}

static void cb_cut_text(rfbClient *cl, const char *text, int len)
{
    (void)cl;
    (void)text;
    (void)len;
}

/* ---- the client thread ---- */

static void set_phase(shot_vnc *s, shot_phase phase, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_phase(shot_vnc *s, shot_phase phase, int code, const char *fmt, ...)
{
    va_list ap;

    g_mutex_lock(&s->lock);
    s->phase = phase;
    s->fail_code = code;
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(s->fail_msg, sizeof(s->fail_msg), fmt, ap);
        va_end(ap);
    }
    g_cond_broadcast(&s->cond);
    g_mutex_unlock(&s->lock);
}

/* Why InitialiseRFBConnection() failed, as an exit code and a message. */
static void handshake_failed(shot_vnc *s)
{
    const char *hp = s->cl->serverHost;

    if (s->cert_error[0])
        set_phase(s, PHASE_FAILED, SHOT_EXIT_CONNECT, "the certificate of %s is not trusted: %s",
                  hp, s->cert_error);
    else if (s->refusal[0])
        set_phase(s, PHASE_FAILED, SHOT_EXIT_CONNECT, "%s: %s", hp, s->refusal);
    else if (s->tls_error[0])
        set_phase(s, PHASE_FAILED, SHOT_EXIT_CONNECT, "TLS with %s failed: %s", hp, s->tls_error);
    else if (s->password_sent && s->server_reason[0])
        set_phase(s, PHASE_FAILED, SHOT_EXIT_AUTH, "authentication failed: %s", s->server_reason);
    else if (s->password_sent)
        set_phase(s, PHASE_FAILED, SHOT_EXIT_CONNECT,
                  "%s closed the connection during authentication", hp);
    else if (s->server_reason[0])
        set_phase(s, PHASE_FAILED, SHOT_EXIT_CONNECT, "%s refused the connection: %s", hp,
                  s->server_reason);
    else
        set_phase(s, PHASE_FAILED, SHOT_EXIT_CONNECT, "RFB handshake with %s failed%s%s%s", hp,
                  s->last_log[0] ? " (" : "", s->last_log, s->last_log[0] ? ")" : "");
}

static int client_start(void *opaque, rfbClient *cl)
{
    shot_vnc *s = opaque;

    if (!InitialiseRFBConnection(cl)) {
        handshake_failed(s);
        return -EPROTO;
    }
    if (!vg_rfb_start(cl)) {
        set_phase(s, PHASE_FAILED, SHOT_EXIT_CONNECT, "RFB setup with %s failed", cl->serverHost);
        return -EPROTO;
    }
    vg_info(TAG, "connected to %s (%s)", cl->serverHost, cl->desktopName ? cl->desktopName : "");
    set_phase(s, PHASE_READY, 0, NULL);
    return 0;
}

static bool tls_pending(void *opaque, rfbClient *cl)
{
    (void)opaque;
    return cl->tlsSession && gnutls_record_check_pending(cl->tlsSession) > 0;
}

static void connection_lost(void *opaque, const char *why)
{
    shot_vnc *s = opaque;

    vg_surface_close(s->base.surface, why);
}

static const vg_rfb_loop_ops client_loop_ops = {
    .start = client_start,
    .pending = tls_pending,
    .lost = connection_lost,
};

static const vg_rfb_loop_params client_loop_params = {
    .tag = TAG,
    .closed_why = "the server closed the connection",
};

/* ---- the display source the shared tail drives ---- */

static int vnc_send_key(vg_display_source *src, uint16_t qnum, uint32_t keysym, bool down)
{
    return vg_rfb_loop_send_key(((shot_vnc *)src)->loop, qnum, keysym, down);
}

static int vnc_send_pointer(vg_display_source *src, int32_t x, int32_t y, uint32_t buttons)
{
    return vg_rfb_loop_send_pointer(((shot_vnc *)src)->loop, x, y, buttons);
}

static const vg_display_source_ops vnc_source_ops = {
    .send_key = vnc_send_key,
    .send_pointer = vnc_send_pointer,
    .request_resize = NULL, /* not needed for screenshots */
};

/* ---- connecting ---- */

int shot_parse_host_port(const char *text, char **host, char **port)
{
    const char *colon;
    g_autofree char *h = NULL;
    char *end;
    unsigned long p;

    if (!text)
        return -EINVAL;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close == text + 1 || close[1] != ':')
            return -EINVAL;
        h = g_strndup(text + 1, (gsize)(close - text - 1));
        colon = close + 1;
        if (!strchr(h, ':'))
            return -EINVAL; /* brackets are for IPv6 addresses */
    } else {
        colon = strrchr(text, ':');
        if (!colon || colon == text)
            return -EINVAL;
        h = g_strndup(text, (gsize)(colon - text));
        if (strchr(h, ':'))
            return -EINVAL; /* an IPv6 address needs brackets */
    }
    if (colon[1] < '0' || colon[1] > '9')
        return -EINVAL;
    errno = 0;
    p = strtoul(colon + 1, &end, 10);
    if (errno || *end || p == 0 || p > 65535)
        return -EINVAL;
    *host = g_steal_pointer(&h);
    *port = g_strdup_printf("%lu", p);
    return 0;
}

/* Wait for a non-blocking connect(); 0 or -errno (-ETIMEDOUT at the deadline). */
static int wait_connected(int fd, int64_t deadline_us)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int64_t left = deadline_us - vg_now_us();
        int err = 0;
        socklen_t len = sizeof(err);
        int n;

        if (left <= 0)
            return -ETIMEDOUT;
        n = poll(&pfd, 1, (int)MIN(left / 1000 + 1, 60000));
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n <= 0)
            continue;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            return -errno;
        return err ? -err : 0;
    }
}

/* Connect to the first address that answers; prints why not. Returns the
 * (blocking) socket, or an exit code as a negative number. */
static int connect_tcp(const shot_vnc_params *p, int64_t deadline_us, const char *hp)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int fd = -1, err = -ECONNREFUSED, r, one = 1;

    r = getaddrinfo(p->host, p->port, &hints, &ai);
    if (r != 0) {
        shot_fail(p->why, p->why_len, "cannot resolve %s: %s", p->host, gai_strerror(r));
        return -SHOT_EXIT_CONNECT;
    }
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) {
            err = -errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            err = 0;
        else if (errno == EINPROGRESS)
            err = wait_connected(fd, deadline_us);
        else
            err = -errno;
        if (err == 0)
            break;
        close(fd);
        fd = -1;
        if (err == -ETIMEDOUT)
            break;
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        if (err == -ETIMEDOUT) {
            shot_fail(p->why, p->why_len, "timed out connecting to %s", hp);
            return -SHOT_EXIT_TIMEOUT;
        }
        shot_fail(p->why, p->why_len, "cannot connect to %s: %s", hp, g_strerror(-err));
        return -SHOT_EXIT_CONNECT;
    }
    /* libvncclient select()s on the socket. */
    if (fd >= FD_SETSIZE) {
        shot_fail(p->why, p->why_len, "cannot connect to %s: too many open files", hp);
        close(fd);
        return -SHOT_EXIT_CONNECT;
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
        shot_fail(p->why, p->why_len, "cannot set up the socket: %s", g_strerror(errno));
        close(fd);
        return -SHOT_EXIT_CONNECT;
    }
    return fd;
}

/* The trust anchors; prints why not. Returns an exit code. */
static int load_trust(const shot_vnc_params *p, gnutls_x509_trust_list_t *out)
{
    gnutls_x509_trust_list_t tl = NULL;
    int r;

    *out = NULL;
    if (p->insecure)
        return SHOT_EXIT_OK;
    r = gnutls_x509_trust_list_init(&tl, 0);
    if (r < 0) {
        shot_fail(p->why, p->why_len, "%s", gnutls_strerror(r));
        return SHOT_EXIT_CONNECT;
    }
    if (p->ca_file) {
        r = gnutls_x509_trust_list_add_trust_file(tl, p->ca_file, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
        if (r <= 0) {
            shot_fail(p->why, p->why_len, "--ca %s: %s", p->ca_file,
                      r < 0 ? gnutls_strerror(r) : "no certificate in the file");
            gnutls_x509_trust_list_deinit(tl, 1);
            return SHOT_EXIT_USAGE;
        }
    } else {
        r = gnutls_x509_trust_list_add_system_trust(tl, 0, 0);
        if (r <= 0) {
            shot_fail(p->why, p->why_len, "no system certificate authorities (%s); use --ca FILE",
                      r < 0 ? gnutls_strerror(r) : "none found");
            gnutls_x509_trust_list_deinit(tl, 1);
            return SHOT_EXIT_CONNECT;
        }
    }
    *out = tl;
    return SHOT_EXIT_OK;
}

/* Wait for the client thread's verdict on the handshake. */
static shot_phase wait_handshake(shot_vnc *s, int64_t deadline_us)
{
    shot_phase phase;

    g_mutex_lock(&s->lock);
    while (s->phase == PHASE_CONNECTING) {
        int64_t left = deadline_us - vg_now_us();
        if (left <= 0)
            break;
        g_cond_wait_until(&s->cond, &s->lock, g_get_monotonic_time() + left);
    }
    phase = s->phase;
    g_mutex_unlock(&s->lock);
    return phase;
}

static void shot_vnc_free(shot_vnc *s)
{
    if (!s)
        return;
    vg_rfb_loop_free(s->loop);
    vg_rfb_log_observe(NULL, NULL);
    if (s->cl) {
        free(s->cl->frameBuffer);
        s->cl->frameBuffer = NULL;
        free(s->cl->rcSource);
        free(s->cl->rcMask);
        s->cl->rcSource = NULL;
        s->cl->rcMask = NULL;
        rfbClientCleanup(s->cl); /* closes the socket */
    } else if (s->fd >= 0) {
        close(s->fd);
    }
    if (s->trust)
        gnutls_x509_trust_list_deinit(s->trust, 1);
    vg_surface_unref(s->base.surface);
    g_cond_clear(&s->cond);
    g_mutex_clear(&s->lock);
    g_free(s);
}

int shot_vnc_connect(const shot_vnc_params *p, int64_t deadline_us, int timeout_s,
                     vg_display_source **out)
{
    g_autofree char *hp = strchr(p->host, ':') ? g_strdup_printf("[%s]:%s", p->host, p->port)
                                               : g_strdup_printf("%s:%s", p->host, p->port);
    const uint32_t schemes[] = {rfbVeNCrypt};
    shot_phase phase;
    shot_vnc *s;
    rfbClient *cl;
    int rc, r;

    *out = NULL;
    /* A server that goes away must give EPIPE, not end the process. */
    signal(SIGPIPE, SIG_IGN);
    s = g_new0(shot_vnc, 1);
    s->base.ops = &vnc_source_ops;
    s->base.surface = vg_surface_new();
    s->params = p;
    s->fd = -1;
    s->deadline_us = deadline_us;
    g_mutex_init(&s->lock);
    g_cond_init(&s->cond);
    rc = load_trust(p, &s->trust);
    if (rc != SHOT_EXIT_OK)
        goto fail;
    if (p->insecure)
        vg_warning(TAG, "--insecure: the certificate of %s is not checked", hp);

    s->fd = connect_tcp(p, deadline_us, hp);
    if (s->fd < 0) {
        rc = -s->fd;
        s->fd = -1;
        goto fail;
    }

    vg_rfb_log_install();
    cl = rfbGetClient(8, 3, 4);
    if (!cl) {
        shot_fail(p->why, p->why_len, "out of memory");
        rc = SHOT_EXIT_CONNECT;
        goto fail;
    }
    s->cl = cl;
    rfbClientSetClientData(cl, &tag_key, s);
    cl->sock = s->fd; /* owned by the rfbClient from here */
    cl->listenSpecified = TRUE;
    free(cl->serverHost);
    cl->serverHost = strdup(hp);
    cl->readTimeout = 0; /* blocking reads; ended by shutdown() */
    cl->canHandleNewFBSize = TRUE;
    cl->MallocFrameBuffer = cb_malloc_framebuffer;
    cl->GotFrameBufferUpdate = cb_got_update;
    cl->FinishedFrameBufferUpdate = cb_finished_update;
    cl->GotXCutText = cb_cut_text;
    cl->GetCredential = get_credential;
    cl->programName = "vmgate-shot";
    SetClientAuthSchemes(cl, schemes, G_N_ELEMENTS(schemes));
    r = vg_rfb_loop_new(cl, &client_loop_params, &client_loop_ops, s, &s->loop);
    if (r < 0) {
        shot_fail(p->why, p->why_len, "eventfd: %s", g_strerror(-r));
        rc = SHOT_EXIT_CONNECT;
        goto fail;
    }

    vg_rfb_log_observe(rfb_log_seen, s);
    if (vg_rfb_loop_start(s->loop, "vg-shot-vnc") < 0) {
        shot_fail(p->why, p->why_len, "cannot start a thread");
        rc = SHOT_EXIT_CONNECT;
        goto fail;
    }

    phase = wait_handshake(s, deadline_us);
    vg_rfb_log_observe(NULL, NULL);
    switch (phase) {
    case PHASE_READY:
        *out = &s->base;
        return SHOT_EXIT_OK;
    case PHASE_FAILED:
        g_mutex_lock(&s->lock);
        shot_fail(p->why, p->why_len, "%s", s->fail_msg);
        rc = s->fail_code;
        g_mutex_unlock(&s->lock);
        break;
    default:
        shot_fail(p->why, p->why_len, "timed out after %d s connecting to %s", timeout_s, hp);
        rc = SHOT_EXIT_TIMEOUT;
        break;
    }
fail:
    shot_vnc_free(s);
    return rc;
}

void shot_vnc_disconnect(vg_display_source *src)
{
    shot_vnc_free((shot_vnc *)src);
}

int shot_run_vnc(const shot_vnc_params *p, const shot_options *opt)
{
    /* The source keeps its parameters: this copy outlives it. */
    shot_vnc_params q = *p;
    vg_display_source *src;
    int rc;

    q.why = opt->failure;
    q.why_len = opt->failure_len;
    rc = shot_vnc_connect(&q, opt->deadline_us, opt->timeout_s, &src);

    if (rc != SHOT_EXIT_OK)
        return rc;
    rc = shot_finish(src, opt);
    shot_vnc_disconnect(src);
    return rc;
}
