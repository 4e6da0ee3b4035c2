/*
 * Unit tests: the whole VNC path from a real viewer to a real screen:
 * libvncclient (VeNCrypt X509Plain over GnuTLS) → vmgate's prelude → relay
 * → a non-listening libvncserver screen. The viewer must see the screen's
 * pixels exactly, its input must reach the screen, and ending either side
 * ends the relay.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <gnutls/gnutls.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <rfb/rfb.h>
#include <rfb/rfbclient.h>

#include "util.h"
#include "vnc-client-msg.h"
#include "vnc-prelude.h"
#include "vnc-relay.h"

#define W 64
#define H 48

static SSL_CTX *server_ctx;
static char *ca_path;

/* A self-signed certificate for "localhost", also written as the viewer's
 * CA file (libvncclient verifies the chain and the host name). */
static void make_cert(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *crt = X509_new();
    server_ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(key);
    assert_non_null(crt);
    X509_set_version(crt, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(crt), 7);
    X509_gmtime_adj(X509_getm_notBefore(crt), -60);
    X509_gmtime_adj(X509_getm_notAfter(crt), 86400);
    X509_set_pubkey(crt, key);
    X509_NAME *name = X509_get_subject_name(crt);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(crt, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, crt, crt, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost");
    assert_non_null(ext);
    X509_add_ext(crt, ext, -1);
    X509_EXTENSION_free(ext);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(crt, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(crt, key, EVP_sha256()) > 0);
    assert_int_equal(SSL_CTX_use_certificate(server_ctx, crt), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(server_ctx, key), 1);
    SSL_CTX_set_min_proto_version(server_ctx, TLS1_2_VERSION);

    int fd = g_file_open_tmp("vg-vnc-ca-XXXXXX.pem", &ca_path, NULL);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, crt), 1);
    fclose(f);
    X509_free(crt);
    EVP_PKEY_free(key);
}

/* ---- the screen ---- */

typedef struct screen_fixture {
    rfbScreenInfoPtr screen;
    GMutex lock; /* held around rfbProcessEvents and rfbNewClient */
    GThread *thread;
    gint quit;
    GMutex ev_lock;
    GCond ev_cond;
    int keys, pointers;
    uint32_t last_key;
    int last_x, last_y, last_buttons;
    gint gone; /* atomic */
} screen_fixture;

static screen_fixture sf;

static void on_key(rfbBool down, rfbKeySym key, rfbClientPtr cl)
{
    g_mutex_lock(&sf.ev_lock);
    if (down) {
        sf.keys++;
        sf.last_key = key;
    }
    g_cond_broadcast(&sf.ev_cond);
    g_mutex_unlock(&sf.ev_lock);
}

static void on_ptr(int buttons, int x, int y, rfbClientPtr cl)
{
    g_mutex_lock(&sf.ev_lock);
    sf.pointers++;
    sf.last_x = x;
    sf.last_y = y;
    sf.last_buttons = buttons;
    g_cond_broadcast(&sf.ev_cond);
    g_mutex_unlock(&sf.ev_lock);
}

static void on_gone(rfbClientPtr cl)
{
    g_mutex_lock(&sf.ev_lock);
    g_atomic_int_inc(&sf.gone);
    g_cond_broadcast(&sf.ev_cond);
    g_mutex_unlock(&sf.ev_lock);
}

static enum rfbNewClientAction on_new_client(rfbClientPtr cl)
{
    cl->clientGoneHook = on_gone;
    return RFB_CLIENT_ACCEPT;
}

static uint32_t pattern(int x, int y)
{
    return (uint32_t)((x * 4) << 16 | (y * 5) << 8 | ((x ^ y) & 0xff));
}

static gpointer screen_main(gpointer opaque)
{
    while (!g_atomic_int_get(&sf.quit)) {
        g_mutex_lock(&sf.lock);
        rfbProcessEvents(sf.screen, 5000);
        g_mutex_unlock(&sf.lock);
        g_usleep(500);
    }
    return NULL;
}

static int setup_screen(void **state)
{
    memset(&sf, 0, sizeof(sf));
    g_mutex_init(&sf.lock);
    g_mutex_init(&sf.ev_lock);
    g_cond_init(&sf.ev_cond);
    rfbScreenInfoPtr s = rfbGetScreen(NULL, NULL, W, H, 8, 3, 4);
    assert_non_null(s);
    s->port = s->ipv6port = 0;
    s->autoPort = FALSE;
    s->httpPort = 0;
    s->cursor = NULL;
    s->serverFormat.redShift = 16;
    s->serverFormat.greenShift = 8;
    s->serverFormat.blueShift = 0;
    s->kbdAddEvent = on_key;
    s->ptrAddEvent = on_ptr;
    s->newClientHook = on_new_client;
    uint32_t *fb = malloc(W * H * 4);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            fb[y * W + x] = pattern(x, y);
    s->frameBuffer = (char *)fb;
    rfbInitServer(s);
    sf.screen = s;
    sf.thread = g_thread_new("screen", screen_main, NULL);
    return 0;
}

static int teardown_screen(void **state)
{
    g_atomic_int_set(&sf.quit, 1);
    g_thread_join(sf.thread);
    rfbShutdownServer(sf.screen, TRUE);
    free(sf.screen->frameBuffer);
    rfbScreenCleanup(sf.screen);
    return 0;
}

/* ---- the viewer ---- */

typedef struct viewer {
    int fd;
    const char *password;
    bool init_ok;
    gint saw_frame; /* atomic: the viewer's thread sets it */
    gint quit;
    gint send_input;
    GThread *thread;
} viewer;

static rfbCredential *get_credential(rfbClient *cl, int type)
{
    viewer *v = rfbClientGetClientData(cl, get_credential);
    rfbCredential *c = calloc(1, sizeof(*c));
    if (type == rfbCredentialTypeX509) {
        c->x509Credential.x509CACertFile = strdup(ca_path);
    } else if (type == rfbCredentialTypeUser) {
        c->userCredential.username = strdup("alice");
        c->userCredential.password = strdup(v->password);
    } else {
        free(c);
        return NULL;
    }
    return c;
}

static bool frame_matches(rfbClient *cl)
{
    const uint32_t *fb = (const uint32_t *)cl->frameBuffer;
    if (cl->width != W || cl->height != H)
        return false;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            if ((fb[y * W + x] & 0xffffff) != pattern(x, y))
                return false;
    return true;
}

static gpointer viewer_main(gpointer opaque)
{
    viewer *v = opaque;
    rfbClient *cl = rfbGetClient(8, 3, 4);
    cl->format.redShift = 16;
    cl->format.greenShift = 8;
    cl->format.blueShift = 0;
    /* Lossless: the default would let libvncserver choose Tight with JPEG. */
    cl->appData.encodingsString = "raw";
    cl->GetCredential = get_credential;
    rfbClientSetClientData(cl, get_credential, v);
    free(cl->serverHost);
    cl->serverHost = strdup("localhost");
    cl->sock = v->fd;
    cl->listenSpecified = TRUE;
    if (!rfbInitClient(cl, NULL, NULL))
        return NULL; /* it freed the client and closed the socket */
    v->init_ok = true;
    int64_t end = vg_now_us() + 10 * 1000 * 1000;
    bool sent = false;
    while (!g_atomic_int_get(&v->quit) && vg_now_us() < end) {
        /* libvncclient's WaitForMessage() only selects on the socket: it
         * misses bytes already read into its buffer or decrypted and held
         * by GnuTLS, so look there first. */
        int n = 1;
        if (cl->buffered == 0 && !(cl->tlsSession && gnutls_record_check_pending(cl->tlsSession)))
            n = WaitForMessage(cl, 20000);
        if (n < 0)
            break;
        if (n > 0 && !HandleRFBServerMessage(cl))
            break;
        if (!g_atomic_int_get(&v->saw_frame) && frame_matches(cl))
            g_atomic_int_set(&v->saw_frame, 1);
        if (g_atomic_int_get(&v->saw_frame) && g_atomic_int_get(&v->send_input) && !sent) {
            SendKeyEvent(cl, XK_q, TRUE);
            SendKeyEvent(cl, XK_q, FALSE);
            SendPointerEvent(cl, 10, 20, 1);
            sent = true;
        }
    }
    /* rfbClientCleanup() leaves the framebuffer to the caller. */
    free(cl->frameBuffer);
    cl->frameBuffer = NULL;
    rfbClientCleanup(cl); /* closes the socket */
    return NULL;
}

/* ---- the gateway side ---- */

static int check_creds(void *opaque, const char *user, const char *password, const char *peer,
                       char *reason, size_t reason_len)
{
    if (strcmp(user, "alice") == 0 && strcmp(password, "s3cret") == 0)
        return 0;
    g_strlcpy(reason, "wrong user name or password", reason_len);
    return -1;
}

typedef struct ended_rec {
    GMutex lock;
    GCond cond;
    int count;
    char reason[128];
} ended_rec;

static void on_ended(void *opaque, vg_vnc_relay *relay, const char *reason)
{
    ended_rec *e = opaque;
    g_mutex_lock(&e->lock);
    e->count++;
    g_strlcpy(e->reason, reason, sizeof(e->reason));
    g_cond_broadcast(&e->cond);
    g_mutex_unlock(&e->lock);
}

static bool wait_ended(ended_rec *e, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;
    g_mutex_lock(&e->lock);
    while (e->count == 0 && g_cond_wait_until(&e->cond, &e->lock, end))
        ;
    bool ok = e->count > 0;
    g_mutex_unlock(&e->lock);
    return ok;
}

/* Connect a viewer through prelude and relay; returns the relay (or NULL
 * when the prelude refused). */
static vg_vnc_relay *connect_viewer(viewer *v, const char *password, ended_rec *e, int *prelude_rc)
{
    int sv[2], inner[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    memset(v, 0, sizeof(*v));
    v->fd = sv[1];
    v->password = password;
    v->thread = g_thread_new("viewer", viewer_main, v);

    vg_vnc_prelude_params p = {
        .ssl_ctx = server_ctx,
        .peer_addr = "test",
        .timeout_ms = 5000,
        .authenticate = check_creds,
    };
    vg_vnc_prelude_result res = {0};
    *prelude_rc = vg_vnc_prelude_run(sv[0], &p, &res);
    if (*prelude_rc < 0) {
        close(sv[0]);
        return NULL;
    }
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, inner), 0);
    g_mutex_lock(&sf.lock);
    rfbClientPtr cl = rfbNewClient(sf.screen, inner[0]);
    g_mutex_unlock(&sf.lock);
    assert_non_null(cl);
    vg_vnc_relay *relay = NULL;
    assert_int_equal(
        vg_vnc_relay_new(res.ssl, sv[0], inner[1], "test viewer", 0, on_ended, e, &relay), 0);
    return relay;
}

static bool wait_events(int keys, int pointers, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;
    g_mutex_lock(&sf.ev_lock);
    while ((sf.keys < keys || sf.pointers < pointers) &&
           g_cond_wait_until(&sf.ev_cond, &sf.ev_lock, end))
        ;
    bool ok = sf.keys >= keys && sf.pointers >= pointers;
    g_mutex_unlock(&sf.ev_lock);
    return ok;
}

static void test_relay_viewer_sees_screen_and_sends_input(void **state)
{
    viewer v;
    ended_rec e = {0};
    int rc;
    vg_vnc_relay *relay = connect_viewer(&v, "s3cret", &e, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(relay);
    g_atomic_int_set(&v.send_input, 1);
    assert_true(wait_events(1, 1, 10000));
    g_mutex_lock(&sf.ev_lock);
    assert_int_equal(sf.last_key, XK_q);
    assert_int_equal(sf.last_x, 10);
    assert_int_equal(sf.last_y, 20);
    assert_int_equal(sf.last_buttons, 1);
    g_mutex_unlock(&sf.ev_lock);
    g_atomic_int_set(&v.quit, 1);
    g_thread_join(v.thread);
    assert_true(v.init_ok);
    assert_true(g_atomic_int_get(&v.saw_frame));
    /* The viewer left: the relay ends by itself and says so. */
    assert_true(wait_ended(&e, 5000));
    assert_string_equal(e.reason, "the viewer left");
    assert_false(vg_vnc_relay_ended_by_screen(relay));
    vg_vnc_relay_free(relay);
}

static void test_relay_free_drops_the_screen_client(void **state)
{
    viewer v;
    ended_rec e = {0};
    int rc;
    vg_vnc_relay *relay = connect_viewer(&v, "s3cret", &e, &rc);
    assert_non_null(relay);
    int gone_before = g_atomic_int_get(&sf.gone);
    /* Wait until the viewer is fully in, then end it from our side. */
    int64_t end = vg_now_us() + 10 * 1000 * 1000;
    while (!g_atomic_int_get(&v.saw_frame) && vg_now_us() < end)
        g_usleep(10000);
    assert_true(g_atomic_int_get(&v.saw_frame));
    vg_vnc_relay_free(relay);
    end = vg_now_us() + 5 * 1000 * 1000;
    while (g_atomic_int_get(&sf.gone) == gone_before && vg_now_us() < end)
        g_usleep(10000);
    assert_true(g_atomic_int_get(&sf.gone) > gone_before);
    /* The viewer sees its connection end. */
    g_thread_join(v.thread);
    assert_int_equal(e.count, 0); /* stopped by us: no ended callback */
}

static void test_relay_ends_when_screen_drops_client(void **state)
{
    viewer v;
    ended_rec e = {0};
    int rc;
    vg_vnc_relay *relay = connect_viewer(&v, "s3cret", &e, &rc);
    assert_non_null(relay);
    int64_t end = vg_now_us() + 10 * 1000 * 1000;
    while (!g_atomic_int_get(&v.saw_frame) && vg_now_us() < end)
        g_usleep(10000);
    assert_true(g_atomic_int_get(&v.saw_frame));
    g_mutex_lock(&sf.lock);
    rfbClientIteratorPtr it = rfbGetClientIterator(sf.screen);
    rfbClientPtr cl;
    while ((cl = rfbClientIteratorNext(it)))
        rfbCloseClient(cl);
    rfbReleaseClientIterator(it);
    g_mutex_unlock(&sf.lock);
    assert_true(wait_ended(&e, 5000));
    assert_string_equal(e.reason, "the VM's screen closed the connection");
    assert_true(vg_vnc_relay_ended_by_screen(relay));
    g_thread_join(v.thread);
    vg_vnc_relay_free(relay);
}

static void test_relay_not_reached_with_bad_password(void **state)
{
    viewer v;
    ended_rec e = {0};
    int rc;
    vg_vnc_relay *relay = connect_viewer(&v, "wrong", &e, &rc);
    assert_null(relay);
    assert_int_equal(rc, -EACCES);
    g_thread_join(v.thread);
    assert_false(v.init_ok);
}

/* ---- bounded buffering, with a scripted screen and a raw TLS viewer ---- */

static gpointer tls_client_main(gpointer opaque)
{
    SSL *ssl = opaque;
    return GINT_TO_POINTER(SSL_connect(ssl) == 1);
}

/* The screen's side of the inner prelude, as libvncserver speaks it. */
static void scripted_screen_prelude(int fd)
{
    char v[13] = "";
    assert_int_equal(write(fd, "RFB 003.008\n", 12), 12);
    assert_int_equal(read(fd, v, 12), 12);
    assert_string_equal(v, "RFB 003.008\n");
    assert_int_equal(write(fd, "\x01\x01", 2), 2);
    uint8_t choice = 0;
    assert_int_equal(read(fd, &choice, 1), 1);
    assert_int_equal(choice, 1);
    assert_int_equal(write(fd, "\0\0\0\0", 4), 4);
}

/* The screen writes a counting byte stream while the viewer reads nothing:
 * the relay takes it all (libvncserver must never wait for one viewer),
 * growing its buffer, and once the viewer reads every byte arrives, in
 * order, through TLS writes retried from a buffer that moved. */
static void test_relay_takes_all_the_screen_writes_while_the_viewer_reads_nothing(void **state)
{
    int sv[2], inner[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, inner), 0);
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL *client = SSL_new(cctx);
    SSL *server = SSL_new(server_ctx);
    SSL_set_fd(client, sv[1]);
    SSL_set_fd(server, sv[0]);
    GThread *t = g_thread_new("tls-client", tls_client_main, client);
    assert_int_equal(SSL_accept(server), 1);
    assert_true(GPOINTER_TO_INT(g_thread_join(t)));
    (void)state;

    ended_rec e = {0};
    vg_vnc_relay *relay = NULL;
    assert_int_equal(vg_vnc_relay_new(server, sv[0], inner[1], "behind", 0, on_ended, &e, &relay),
                     0);
    scripted_screen_prelude(inner[0]);

    /* 16 MiB, far beyond the socket buffers and the relay's first buffer,
     * within 10 s; no write waits more than 1 s for room. */
    const size_t want = 16u * 1024 * 1024;
    int fl = fcntl(inner[0], F_GETFL);
    fcntl(inner[0], F_SETFL, fl | O_NONBLOCK);
    uint8_t chunk[16384];
    size_t total = 0;
    int64_t start = vg_now_us(), last_progress = start;
    while (total < want) {
        size_t len = MIN(sizeof(chunk), want - total);
        for (size_t i = 0; i < len; i++)
            chunk[i] = (uint8_t)((total + i) % 251);
        ssize_t n = write(inner[0], chunk, len);
        if (n > 0) {
            total += (size_t)n;
            last_progress = vg_now_us();
        } else {
            assert_true(vg_now_us() - last_progress < 1000000);
            struct pollfd pfd = {.fd = inner[0], .events = POLLOUT};
            poll(&pfd, 1, 100);
        }
        assert_true(vg_now_us() - start < 10000000);
    }

    /* Now the viewer reads: every byte arrives, in order. */
    size_t got = 0;
    while (got < total) {
        uint8_t buf[16384];
        int n = SSL_read(client, buf, sizeof(buf));
        assert_true(n > 0);
        for (int i = 0; i < n; i++)
            assert_int_equal(buf[i], (uint8_t)((got + (size_t)i) % 251));
        got += (size_t)n;
    }
    assert_int_equal(e.count, 0);
    vg_vnc_relay_free(relay);
    SSL_free(client);
    SSL_CTX_free(cctx);
    close(sv[1]);
    close(inner[0]);
}

/* A plain relay between a test viewer socket and a scripted screen, past
 * the inner prelude and ClientInit. */
typedef struct plain_rig {
    int viewer, screen;
    vg_vnc_relay *relay;
    ended_rec e;
} plain_rig;

static void plain_rig_start(plain_rig *r, unsigned stall_ms)
{
    int sv[2], inner[2];
    uint8_t init = 0;

    memset(r, 0, sizeof(*r));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, inner), 0);
    assert_int_equal(
        vg_vnc_relay_new(NULL, sv[0], inner[1], "rig", stall_ms, on_ended, &r->e, &r->relay), 0);
    r->viewer = sv[1];
    r->screen = inner[0];
    struct timeval tv = {.tv_sec = 5};
    setsockopt(r->screen, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(r->viewer, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    scripted_screen_prelude(r->screen);
    assert_int_equal(send(r->viewer, "\x01", 1, MSG_NOSIGNAL), 1);
    assert_int_equal(recv(r->screen, &init, 1, 0), 1);
    assert_int_equal(init, 1);
}

static void plain_rig_stop(plain_rig *r)
{
    vg_vnc_relay_free(r->relay);
    close(r->viewer);
    close(r->screen);
}

/* Whether the screen gets something within @ms. */
static bool screen_readable(plain_rig *r, int ms)
{
    struct pollfd pfd = {.fd = r->screen, .events = POLLIN};
    return poll(&pfd, 1, ms) == 1;
}

static void send_all(int fd, const void *p, size_t n)
{
    assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void fbur(uint8_t m[10], bool incremental, uint16_t x, uint16_t y, uint16_t w, uint16_t h)
{
    m[0] = 3;
    m[1] = incremental;
    m[2] = (uint8_t)(x >> 8), m[3] = (uint8_t)x, m[4] = (uint8_t)(y >> 8), m[5] = (uint8_t)y;
    m[6] = (uint8_t)(w >> 8), m[7] = (uint8_t)w, m[8] = (uint8_t)(h >> 8), m[9] = (uint8_t)h;
}

/* A message trickled byte by byte reaches the screen whole, at its last
 * byte; never part of one (libvncserver would wait for the rest). */
static void test_relay_hands_the_screen_whole_messages_only(void **state)
{
    plain_rig r;
    uint8_t key[8] = {4, 1, 0, 0, 0, 0, 0, 'q'}, got[8];
    (void)state;

    plain_rig_start(&r, 0);
    for (size_t i = 0; i < sizeof(key) - 1; i++) {
        send_all(r.viewer, key + i, 1);
        assert_false(screen_readable(&r, 20));
    }
    send_all(r.viewer, key + 7, 1);
    assert_true(screen_readable(&r, 5000));
    assert_int_equal(recv(r.screen, got, sizeof(got), 0), (ssize_t)sizeof(got));
    assert_memory_equal(got, key, sizeof(key));
    plain_rig_stop(&r);
}

/* Client cut text (the gateway has no clipboard) is dropped, however long,
 * and what follows it goes through. */
static void test_relay_drops_cut_text(void **state)
{
    plain_rig r;
    uint8_t hdr[8] = {6, 0, 0, 0, 0, 0x01, 0x86, 0xa0}; /* 100,000 bytes of text */
    uint8_t key[8] = {4, 0, 0, 0, 0, 0, 0, 'z'}, got[8];
    static uint8_t text[100000];
    (void)state;

    plain_rig_start(&r, 0);
    memset(text, 'x', sizeof(text));
    send_all(r.viewer, hdr, sizeof(hdr));
    for (size_t off = 0; off < sizeof(text); off += 8192)
        send_all(r.viewer, text + off, MIN(8192, sizeof(text) - off));
    send_all(r.viewer, key, sizeof(key));
    assert_true(screen_readable(&r, 5000));
    assert_int_equal(recv(r.screen, got, sizeof(got), 0), (ssize_t)sizeof(got));
    assert_memory_equal(got, key, sizeof(key));
    assert_false(screen_readable(&r, 50));
    plain_rig_stop(&r);
}

/* A message type vmgate does not serve ends the viewer with a reason. */
static void test_relay_ends_a_viewer_sending_an_unknown_message(void **state)
{
    plain_rig r;
    (void)state;

    plain_rig_start(&r, 0);
    send_all(r.viewer, "\x96\0\0\0\0\0\0\0\0\0", 10); /* EnableContinuousUpdates */
    assert_true(wait_ended(&r.e, 5000));
    assert_string_equal(r.e.reason, "the viewer sent a message the gateway does not serve");
    plain_rig_stop(&r);
}

/* While the viewer has not taken what the screen wrote, its update
 * requests wait, merged into one; other input goes through at once. Once
 * it has read everything the merged request follows. */
static void test_relay_holds_update_requests_while_the_viewer_is_behind(void **state)
{
    plain_rig r;
    uint8_t m[10], got[16];
    uint8_t key[8] = {4, 1, 0, 0, 0, 0, 0, 'k'};
    static uint8_t update[4 * 1024 * 1024];
    (void)state;

    plain_rig_start(&r, 0);
    /* Caught up: a request goes straight through. */
    fbur(m, true, 0, 0, 64, 48);
    send_all(r.viewer, m, sizeof(m));
    assert_int_equal(recv(r.screen, got, 10, MSG_WAITALL), 10);
    assert_memory_equal(got, m, 10);

    /* The screen answers with 4 MiB the viewer does not read yet. */
    memset(update, 0x5a, sizeof(update));
    int fl = fcntl(r.screen, F_GETFL);
    fcntl(r.screen, F_SETFL, fl | O_NONBLOCK);
    size_t put = 0;
    int64_t deadline = vg_now_us() + 10000000;
    while (put < sizeof(update)) {
        ssize_t n = write(r.screen, update + put, sizeof(update) - put);
        if (n > 0)
            put += (size_t)n;
        else {
            struct pollfd pfd = {.fd = r.screen, .events = POLLOUT};
            poll(&pfd, 1, 100);
        }
        assert_true(vg_now_us() < deadline);
    }
    fcntl(r.screen, F_SETFL, fl);

    /* Three requests while behind, and a key: only the key goes through. */
    fbur(m, true, 10, 20, 5, 5);
    send_all(r.viewer, m, sizeof(m));
    fbur(m, false, 2, 30, 4, 4);
    send_all(r.viewer, m, sizeof(m));
    fbur(m, true, 40, 1, 8, 2);
    send_all(r.viewer, m, sizeof(m));
    send_all(r.viewer, key, sizeof(key));
    assert_int_equal(recv(r.screen, got, 8, MSG_WAITALL), 8);
    assert_memory_equal(got, key, 8);
    assert_false(screen_readable(&r, 100));

    /* The viewer catches up: one request, the three merged (not
     * incremental, as one of them was not; their bounding box). */
    size_t read_total = 0;
    while (read_total < sizeof(update)) {
        ssize_t n = recv(r.viewer, update, sizeof(update), 0);
        assert_true(n > 0);
        read_total += (size_t)n;
    }
    assert_int_equal(recv(r.screen, got, 10, MSG_WAITALL), 10);
    fbur(m, false, 2, 1, 46, 33);
    assert_memory_equal(got, m, 10);
    assert_false(screen_readable(&r, 50));
    assert_int_equal(r.e.count, 0);
    plain_rig_stop(&r);
}

/* A viewer that takes nothing for the stall timeout while the relay holds
 * bytes for it is ended, with that reason. */
static void test_relay_ends_a_viewer_that_reads_nothing(void **state)
{
    plain_rig r;
    static uint8_t update[4 * 1024 * 1024];
    (void)state;

    plain_rig_start(&r, 1000);
    int fl = fcntl(r.screen, F_GETFL);
    fcntl(r.screen, F_SETFL, fl | O_NONBLOCK);
    int64_t start = vg_now_us();
    size_t put = 0;
    while (put < sizeof(update)) {
        ssize_t n = write(r.screen, update + put, sizeof(update) - put);
        if (n > 0)
            put += (size_t)n;
        else
            g_usleep(1000);
        assert_true(vg_now_us() - start < 5000000);
    }
    assert_true(wait_ended(&r.e, 5000));
    assert_true(vg_now_us() - start >= 1000000);
    assert_string_equal(r.e.reason, "the viewer read nothing for 1 s");
    plain_rig_stop(&r);
}

static void read_exact(int fd, void *buf, size_t n)
{
    uint8_t *b = buf;
    while (n > 0) {
        ssize_t r = recv(fd, b, n, 0);
        assert_true(r > 0);
        b += r;
        n -= (size_t)r;
    }
}

/* After an unencrypted loopback login the relay has no SSL: plain RFB goes
 * both ways between the viewer's socket and the screen. */
static void test_relay_plain_passes_bytes_both_ways(void **state)
{
    int sv[2], inner[2];
    ended_rec e = {0};
    vg_vnc_relay *relay = NULL;
    uint8_t si[24];
    (void)state;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, inner), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    g_mutex_lock(&sf.lock);
    rfbClientPtr cl = rfbNewClient(sf.screen, inner[0]);
    g_mutex_unlock(&sf.lock);
    assert_non_null(cl);
    assert_int_equal(
        vg_vnc_relay_new(NULL, sv[0], inner[1], "plain viewer", 0, on_ended, &e, &relay), 0);
    int keys_before = sf.keys;

    /* Viewer → screen: ClientInit (shared). Screen → viewer: ServerInit. */
    assert_int_equal(send(sv[1], "\x01", 1, MSG_NOSIGNAL), 1);
    read_exact(sv[1], si, sizeof(si));
    assert_int_equal((si[0] << 8) | si[1], W);
    assert_int_equal((si[2] << 8) | si[3], H);
    uint32_t name_len =
        (uint32_t)si[20] << 24 | (uint32_t)si[21] << 16 | (uint32_t)si[22] << 8 | si[23];
    assert_true(name_len < 256);
    char name[256];
    read_exact(sv[1], name, name_len);

    /* Viewer → screen: a KeyEvent (down, 'q') arrives as input. */
    uint8_t key[8] = {4, 1, 0, 0, 0, 0, 0, 'q'};
    assert_int_equal(send(sv[1], key, sizeof(key), MSG_NOSIGNAL), (ssize_t)sizeof(key));
    assert_true(wait_events(keys_before + 1, 0, 5000));
    assert_int_equal(sf.last_key, 'q');

    /* The viewer leaving ends the relay by itself. */
    close(sv[1]);
    assert_true(wait_ended(&e, 5000));
    assert_string_equal(e.reason, "the viewer left");
    vg_vnc_relay_free(relay);
}

/* Framing: each message's length from its header, "more" until it is all
 * there, refusals for types not served and for oversized messages. */
static void test_client_messages_are_framed(void **state)
{
    static const struct {
        uint8_t bytes[12];
        size_t n;
        int ret;
        size_t len;
        vg_vnc_msg_action action;
    } cases[] = {
        {{0}, 20, 1, 20, VG_VNC_MSG_FORWARD},          /* SetPixelFormat */
        {{0}, 19, 0, 0, 0},                            /* ... not all there */
        {{2, 0, 0, 2}, 12, 1, 12, VG_VNC_MSG_FORWARD}, /* SetEncodings, 2 */
        {{2, 0, 0, 2}, 11, 0, 0, 0},
        {{2, 0}, 2, 0, 0, 0},                     /* count not there yet */
        {{2, 0, 0x04, 0x01}, 4, -EMSGSIZE, 0, 0}, /* 1025 encodings */
        {{3}, 10, 1, 10, VG_VNC_MSG_UPDATE_REQUEST},
        {{4}, 8, 1, 8, VG_VNC_MSG_FORWARD},
        {{5}, 6, 1, 6, VG_VNC_MSG_FORWARD},
        {{5}, 5, 0, 0, 0},
        {{6, 0, 0, 0, 0, 0, 0, 5}, 8, 1, 13, VG_VNC_MSG_DROP},             /* cut text, 5 bytes */
        {{6, 0, 0, 0, 0xff, 0xff, 0xff, 0xfc}, 8, 1, 12, VG_VNC_MSG_DROP}, /* extended: -4 */
        {{251, 0, 0, 0, 0, 0, 2}, 40, 1, 40, VG_VNC_MSG_FORWARD},          /* SetDesktopSize, 2 */
        {{255, 0}, 12, 1, 12, VG_VNC_MSG_FORWARD},                         /* QEMU extended key */
        {{255, 1}, 12, -EPROTO, 0, 0},                                     /* QEMU audio */
        {{1}, 6, -EPROTO, 0, 0},                                           /* FixColourMapEntries */
        {{150}, 10, -EPROTO, 0, 0},                                        /* continuous updates */
        {{248}, 9, -EPROTO, 0, 0},                                         /* fence */
    };
    uint8_t buf[64];
    (void)state;

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        vg_vnc_client_msg m;
        memset(buf, 0, sizeof(buf));
        memcpy(buf, cases[i].bytes, sizeof(cases[i].bytes));
        int ret = vg_vnc_client_msg_frame(buf, cases[i].n, &m);
        if (ret != cases[i].ret)
            fail_msg("case %zu: %d, not %d", i, ret, cases[i].ret);
        assert_int_equal(m.type, cases[i].bytes[0]);
        if (ret == 1) {
            assert_int_equal(m.len, cases[i].len);
            assert_int_equal(m.action, cases[i].action);
        }
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    rfbLogEnable(0);
    make_cert();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_messages_are_framed),
        cmocka_unit_test(test_relay_viewer_sees_screen_and_sends_input),
        cmocka_unit_test(test_relay_free_drops_the_screen_client),
        cmocka_unit_test(test_relay_ends_when_screen_drops_client),
        cmocka_unit_test(test_relay_not_reached_with_bad_password),
        cmocka_unit_test(test_relay_takes_all_the_screen_writes_while_the_viewer_reads_nothing),
        cmocka_unit_test(test_relay_hands_the_screen_whole_messages_only),
        cmocka_unit_test(test_relay_drops_cut_text),
        cmocka_unit_test(test_relay_ends_a_viewer_sending_an_unknown_message),
        cmocka_unit_test(test_relay_holds_update_requests_while_the_viewer_is_behind),
        cmocka_unit_test(test_relay_ends_a_viewer_that_reads_nothing),
        cmocka_unit_test(test_relay_plain_passes_bytes_both_ways),
    };
    int rc = cmocka_run_group_tests(tests, setup_screen, teardown_screen);
    SSL_CTX_free(server_ctx);
    unlink(ca_path);
    g_free(ca_path);
    return rc;
}
