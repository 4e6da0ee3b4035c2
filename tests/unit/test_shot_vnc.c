/*
 * Unit tests: vmgate-shot's VNC mode, end to end. The real binary
 * (VMGATE_SHOT_PATH) connects over TCP to a gateway in this process:
 * vmgate's VeNCrypt prelude, then the relay, then a non-listening
 * libvncserver screen with known pixels. The PNG must hold exactly those
 * pixels; failures must give the documented exit codes.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <png.h>
#include <rfb/rfb.h>

#include "vnc-prelude.h"
#include "vnc-relay.h"

#ifndef VMGATE_SHOT_PATH
#error "VMGATE_SHOT_PATH must name the vmgate-shot binary"
#endif

#define W 64
#define H 48

static const char password[] = "s3cret";

/* ---- certificates: a CA, a server certificate it signed, another CA ---- */

static char *dir, *ca_pem, *wrong_ca_pem, *pw_file, *bad_pw_file, *empty_pw_file;
static SSL_CTX *server_ctx;

static X509 *new_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                      const char *san, bool ca, long serial)
{
    X509 *crt = X509_new();
    X509V3_CTX v3;
    X509_EXTENSION *ext;

    assert_non_null(crt);
    X509_set_version(crt, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(crt), serial);
    X509_gmtime_adj(X509_getm_notBefore(crt), -60);
    X509_gmtime_adj(X509_getm_notAfter(crt), 86400);
    X509_set_pubkey(crt, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(crt), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(crt, X509_get_subject_name(issuer ? issuer : crt));
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer : crt, crt, NULL, NULL, 0);
    ext =
        X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    assert_non_null(ext);
    X509_add_ext(crt, ext, -1);
    X509_EXTENSION_free(ext);
    if (ca) {
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
        assert_non_null(ext);
        X509_add_ext(crt, ext, -1);
        X509_EXTENSION_free(ext);
    }
    if (san) {
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
        assert_non_null(ext);
        X509_add_ext(crt, ext, -1);
        X509_EXTENSION_free(ext);
    }
    assert_true(X509_sign(crt, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return crt;
}

static char *write_pem(const char *name, X509 *crt)
{
    char *path = g_build_filename(dir, name, NULL);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, crt), 1);
    fclose(f);
    return path;
}

static char *write_file(const char *name, const char *text)
{
    char *path = g_build_filename(dir, name, NULL);
    assert_true(g_file_set_contents(path, text, -1, NULL));
    return path;
}

/* The server certificate names localhost and 127.0.0.1, not ::1, so that
 * [::1] gives a host name mismatch. */
static void make_certs(void)
{
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
    EVP_PKEY *other_key = EVP_EC_gen("P-256");
    X509 *ca = new_cert(ca_key, "vmgate test CA", NULL, NULL, NULL, true, 1);
    X509 *leaf = new_cert(key, "localhost", ca, ca_key, "DNS:localhost,IP:127.0.0.1", false, 2);
    X509 *other = new_cert(other_key, "another CA", NULL, NULL, NULL, true, 1);

    server_ctx = SSL_CTX_new(TLS_server_method());
    assert_int_equal(SSL_CTX_use_certificate(server_ctx, leaf), 1);
    assert_int_equal(SSL_CTX_add1_chain_cert(server_ctx, ca), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(server_ctx, key), 1);
    SSL_CTX_set_min_proto_version(server_ctx, TLS1_2_VERSION);
    ca_pem = write_pem("ca.pem", ca);
    wrong_ca_pem = write_pem("wrong-ca.pem", other);
    X509_free(ca);
    X509_free(leaf);
    X509_free(other);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other_key);
}

/* ---- the screen ---- */

typedef struct screen_fixture {
    rfbScreenInfoPtr screen;
    GMutex lock; /* held around rfbProcessEvents and rfbNewClient */
    GThread *thread;
    gint quit;
    GMutex ev_lock;
    GString *typed; /* keysyms pressed, as characters */
} screen_fixture;

static screen_fixture sf;

static void on_key(rfbBool down, rfbKeySym key, rfbClientPtr cl)
{
    g_mutex_lock(&sf.ev_lock);
    if (down && key >= 0x20 && key < 0x7f)
        g_string_append_c(sf.typed, (char)key);
    g_mutex_unlock(&sf.ev_lock);
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

static void start_screen(void)
{
    rfbScreenInfoPtr s = rfbGetScreen(NULL, NULL, W, H, 8, 3, 4);
    uint32_t *fb = malloc(W * H * 4);

    assert_non_null(s);
    assert_non_null(fb);
    g_mutex_init(&sf.lock);
    g_mutex_init(&sf.ev_lock);
    sf.typed = g_string_new(NULL);
    s->port = s->ipv6port = 0;
    s->autoPort = FALSE;
    s->httpPort = 0;
    s->cursor = NULL;
    s->serverFormat.redShift = 16;
    s->serverFormat.greenShift = 8;
    s->serverFormat.blueShift = 0;
    s->kbdAddEvent = on_key;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            fb[y * W + x] = pattern(x, y);
    s->frameBuffer = (char *)fb;
    rfbInitServer(s);
    sf.screen = s;
    sf.thread = g_thread_new("screen", screen_main, NULL);
}

static void stop_screen(void)
{
    g_atomic_int_set(&sf.quit, 1);
    g_thread_join(sf.thread);
    rfbShutdownServer(sf.screen, TRUE);
    free(sf.screen->frameBuffer);
    rfbScreenCleanup(sf.screen);
    g_string_free(sf.typed, TRUE);
}

/* ---- the gateway: TCP listener, prelude, relay ---- */

typedef struct gateway {
    int fds[2]; /* listening sockets: 127.0.0.1, ::1 (-1 if none) */
    int port4, port6;
    GThread *thread;
    gint quit;
    GPtrArray *relays;
} gateway;

static gateway gw;

static int check_creds(void *opaque, const char *user, const char *pw, const char *peer,
                       char *reason, size_t reason_len)
{
    if (strcmp(user, "alice") == 0 && strcmp(pw, password) == 0)
        return 0;
    g_strlcpy(reason, "wrong user name or password", reason_len);
    return -1;
}

static void serve(int fd)
{
    vg_vnc_prelude_params p = {
        .ssl_ctx = server_ctx,
        .peer_addr = "test",
        .timeout_ms = 10000,
        .authenticate = check_creds,
    };
    vg_vnc_prelude_result res = {0};
    vg_vnc_relay *relay = NULL;
    int inner[2];

    /* Runs on the gateway thread: no cmocka assertions here. A failure
     * shows as a vmgate-shot that cannot connect. */
    if (vg_vnc_prelude_run(fd, &p, &res) < 0) {
        close(fd);
        return;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, inner) < 0)
        goto fail;
    g_mutex_lock(&sf.lock);
    rfbClientPtr cl = rfbNewClient(sf.screen, inner[0]);
    g_mutex_unlock(&sf.lock);
    if (!cl) {
        close(inner[1]);
        goto fail;
    }
    if (vg_vnc_relay_new(res.ssl, fd, inner[1], "shot test", 0, NULL, NULL, &relay) < 0) {
        close(inner[1]);
        goto fail;
    }
    g_ptr_array_add(gw.relays, relay);
    return;

fail:
    fprintf(stderr, "test gateway: cannot relay a connection\n");
    SSL_free(res.ssl);
    close(fd);
}

/* One connection at a time is enough: vmgate-shot runs one after another. */
static gpointer gateway_main(gpointer opaque)
{
    while (!g_atomic_int_get(&gw.quit)) {
        struct pollfd pfd[2] = {{.fd = gw.fds[0], .events = POLLIN},
                                {.fd = gw.fds[1], .events = POLLIN}};
        if (poll(pfd, 2, 50) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (pfd[i].revents & POLLIN) {
                int fd = accept4(gw.fds[i], NULL, NULL, SOCK_CLOEXEC);
                if (fd >= 0)
                    serve(fd);
            }
        }
    }
    return NULL;
}

/* Listen on an ephemeral loopback port; returns the fd (port in *port) or -1. */
static int listen_loopback(int family, int *port)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*a);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof(*a);
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 8) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static int setup(void **state)
{
    dir = g_dir_make_tmp("vg-shot-vnc-XXXXXX", NULL);
    assert_non_null(dir);
    make_certs();
    pw_file = write_file("password", "s3cret\n# a comment line that is not part of it\n");
    bad_pw_file = write_file("bad-password", "not-the-password\n");
    empty_pw_file = write_file("empty-password", "\nsecond\n");
    start_screen();
    gw.relays = g_ptr_array_new();
    gw.fds[0] = listen_loopback(AF_INET, &gw.port4);
    assert_true(gw.fds[0] >= 0);
    gw.fds[1] = listen_loopback(AF_INET6, &gw.port6);
    gw.thread = g_thread_new("gateway", gateway_main, NULL);
    return 0;
}

static int teardown(void **state)
{
    g_atomic_int_set(&gw.quit, 1);
    g_thread_join(gw.thread);
    for (guint i = 0; i < gw.relays->len; i++)
        vg_vnc_relay_free(gw.relays->pdata[i]);
    g_ptr_array_free(gw.relays, TRUE);
    for (int i = 0; i < 2; i++)
        if (gw.fds[i] >= 0)
            close(gw.fds[i]);
    stop_screen();
    SSL_CTX_free(server_ctx);
    const char *files[] = {ca_pem, wrong_ca_pem, pw_file, bad_pw_file, empty_pw_file};
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        g_unlink(files[i]);
        g_free((char *)files[i]);
    }
    g_autofree char *png = g_build_filename(dir, "out.png", NULL);
    g_unlink(png);
    g_rmdir(dir);
    g_free(dir);
    return 0;
}

/* ---- running vmgate-shot ---- */

typedef struct shot_result {
    int status;
    char *err;
} shot_result;

/* Run vmgate-shot with the NULL-terminated arguments. */
static shot_result run_shot(const char *first, ...)
{
    GPtrArray *argv = g_ptr_array_new();
    shot_result res = {0};
    va_list ap;
    int wait_status = 0;
    char *out = NULL;

    g_ptr_array_add(argv, (char *)VMGATE_SHOT_PATH);
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *))
        g_ptr_array_add(argv, (char *)a);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
                             &res.err, &wait_status, NULL));
    g_free(out);
    g_ptr_array_free(argv, TRUE);
    res.status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128;
    /* The password is never shown. */
    assert_null(strstr(res.err, password));
    return res;
}

static char *addr4(void)
{
    return g_strdup_printf("127.0.0.1:%d", gw.port4);
}

/* The output path, with no file left there by an earlier test. */
static char *out_png(void)
{
    char *png = g_build_filename(dir, "out.png", NULL);
    g_unlink(png);
    return png;
}

/* Whether @path is a W × H PNG of exactly the screen's pixels. */
static void assert_png_is_screen(const char *path)
{
    png_image img;
    uint8_t *rgb;

    memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_file(&img, path));
    assert_int_equal(img.width, W);
    assert_int_equal(img.height, H);
    img.format = PNG_FORMAT_RGB;
    rgb = g_malloc(PNG_IMAGE_SIZE(img));
    assert_true(png_image_finish_read(&img, NULL, rgb, 0, NULL));
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            const uint8_t *px = rgb + ((size_t)y * W + (size_t)x) * 3;
            uint32_t want = pattern(x, y);
            assert_int_equal(px[0], (want >> 16) & 0xff);
            assert_int_equal(px[1], (want >> 8) & 0xff);
            assert_int_equal(px[2], want & 0xff);
        }
    }
    g_free(rgb);
}

static void test_shot_vnc_writes_exact_pixels_and_types(void **state)
{
    g_autofree char *a = addr4(), *png = out_png();
    g_mutex_lock(&sf.ev_lock);
    g_string_truncate(sf.typed, 0);
    g_mutex_unlock(&sf.ev_lock);
    shot_result r =
        run_shot("--vnc", a, "--user", "alice", "--password-file", pw_file, "--ca", ca_pem,
                 "--output", png, "--type", "hi", "--wait-stable", "300", "--timeout", "20", NULL);
    if (r.status != 0)
        print_error("stderr: %s\n", r.err);
    assert_int_equal(r.status, 0);
    assert_png_is_screen(png);
    /* The keys were sent before the screen was declared still. */
    g_mutex_lock(&sf.ev_lock);
    assert_string_equal(sf.typed->str, "hi");
    g_mutex_unlock(&sf.ev_lock);
    g_free(r.err);
    g_unlink(png);
}

static void test_shot_vnc_checks_host_name_in_certificate(void **state)
{
    g_autofree char *a = g_strdup_printf("localhost:%d", gw.port4), *png = out_png();
    g_autofree char *a6 = g_strdup_printf("[::1]:%d", gw.port6);
    shot_result r = run_shot("--vnc", a, "--user", "alice", "--password-file", pw_file, "--ca",
                             ca_pem, "--output", png, "--timeout", "20", NULL);
    /* "localhost" may resolve to ::1 first, where nobody listens on that
     * port; the client tries the next address. */
    if (r.status != 0)
        print_error("stderr: %s\n", r.err);
    assert_int_equal(r.status, 0);
    assert_png_is_screen(png);
    g_unlink(png);
    g_free(r.err);
    if (gw.fds[1] < 0) {
        print_message("no IPv6 loopback: [::1] not tested\n");
        return;
    }
    /* The certificate does not name ::1. */
    r = run_shot("--vnc", a6, "--user", "alice", "--password-file", pw_file, "--ca", ca_pem,
                 "--output", png, "--timeout", "20", NULL);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, "not trusted"));
    assert_false(g_file_test(png, G_FILE_TEST_EXISTS));
    g_free(r.err);
    /* --insecure does not look at it. */
    r = run_shot("--vnc", a6, "--user", "alice", "--password-file", pw_file, "--insecure",
                 "--output", png, "--timeout", "20", NULL);
    if (r.status != 0)
        print_error("stderr: %s\n", r.err);
    assert_int_equal(r.status, 0);
    assert_png_is_screen(png);
    g_unlink(png);
    g_free(r.err);
}

static void test_shot_vnc_wrong_password_exits_3_with_reason(void **state)
{
    g_autofree char *a = addr4(), *png = out_png();
    shot_result r = run_shot("--vnc", a, "--user", "alice", "--password-file", bad_pw_file, "--ca",
                             ca_pem, "--output", png, "--timeout", "20", NULL);
    assert_int_equal(r.status, 3);
    assert_non_null(strstr(r.err, "authentication failed: wrong user name or password"));
    assert_false(g_file_test(png, G_FILE_TEST_EXISTS));
    g_free(r.err);
}

static void test_shot_vnc_untrusted_ca_exits_4(void **state)
{
    g_autofree char *a = addr4(), *png = out_png();
    shot_result r = run_shot("--vnc", a, "--user", "alice", "--password-file", pw_file, "--ca",
                             wrong_ca_pem, "--output", png, "--timeout", "20", NULL);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, "not trusted"));
    assert_false(g_file_test(png, G_FILE_TEST_EXISTS));
    g_free(r.err);
}

static void test_shot_vnc_nobody_listening_exits_4(void **state)
{
    int port = 0, fd = listen_loopback(AF_INET, &port);
    assert_true(fd >= 0);
    close(fd); /* the port is free now: connecting is refused */
    g_autofree char *a = g_strdup_printf("127.0.0.1:%d", port), *png = out_png();
    shot_result r = run_shot("--vnc", a, "--user", "alice", "--password-file", pw_file, "--ca",
                             ca_pem, "--output", png, "--timeout", "20", NULL);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, "Connection refused"));
    g_free(r.err);
}

static void test_shot_vnc_silent_server_times_out(void **state)
{
    /* The kernel completes the TCP handshake; nobody ever speaks RFB. */
    int port = 0, fd = listen_loopback(AF_INET, &port);
    assert_true(fd >= 0);
    g_autofree char *a = g_strdup_printf("127.0.0.1:%d", port), *png = out_png();
    shot_result r = run_shot("--vnc", a, "--user", "alice", "--password-file", pw_file, "--ca",
                             ca_pem, "--output", png, "--timeout", "1", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "timed out"));
    close(fd);
    g_free(r.err);
}

/* A server that offers security None and VeNCrypt with only the
 * unencrypted Plain subtype: vmgate-shot must pick VeNCrypt, then refuse to
 * send the password in the clear. Returns the bytes read after the
 * client's subtype choice (its credentials, if it sent any). */
static gpointer downgrade_server_main(gpointer opaque)
{
    int lfd = GPOINTER_TO_INT(opaque), fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    uint8_t buf[64];
    ssize_t extra = -1;

    if (fd < 0)
        return GINT_TO_POINTER(-1);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    /* libvncclient sends the VeNCrypt version byte by byte: read whole. */
    if (write(fd, "RFB 003.008\n", 12) != 12 || recv(fd, buf, 12, MSG_WAITALL) != 12 ||
        write(fd, "\x02\x01\x13", 3) != 3 || recv(fd, buf, 1, MSG_WAITALL) != 1 || buf[0] != 19 ||
        write(fd, "\x00\x02", 2) != 2 || recv(fd, buf, 2, MSG_WAITALL) != 2 ||
        write(fd, "\x00", 1) != 1 || write(fd, "\x01\x00\x00\x01\x00", 5) != 5 ||
        recv(fd, buf, 4, MSG_WAITALL) != 4)
        goto out;
    extra = read(fd, buf, sizeof(buf));
out:
    close(fd);
    return GINT_TO_POINTER((int)extra);
}

static void test_shot_vnc_never_sends_password_without_tls(void **state)
{
    int port = 0, fd = listen_loopback(AF_INET, &port);
    assert_true(fd >= 0);
    GThread *t = g_thread_new("downgrade", downgrade_server_main, GINT_TO_POINTER(fd));
    g_autofree char *a = g_strdup_printf("127.0.0.1:%d", port), *png = out_png();
    shot_result r = run_shot("--vnc", a, "--user", "alice", "--password-file", pw_file, "--ca",
                             ca_pem, "--output", png, "--timeout", "20", NULL);
    if (r.status != 4 || !strstr(r.err, "X509Plain"))
        print_error("status %d, stderr: %s\n", r.status, r.err);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, "X509Plain"));
    /* The client chose VeNCrypt and subtype 256, then hung up, sending nothing. */
    assert_int_equal(GPOINTER_TO_INT(g_thread_join(t)), 0);
    close(fd);
    g_free(r.err);
}

static void test_shot_vnc_usage_errors_exit_2(void **state)
{
    g_autofree char *a = addr4(), *png = out_png();
    g_autofree char *missing = g_build_filename(dir, "no-such-file", NULL);
    struct {
        const char *args[12];
        const char *says;
    } cases[] = {
        {{"--output", png}, "choose one mode"},
        {{"--vnc", a, "--libvirt", "qemu:///system", "--domain", "d", "--user", "alice",
          "--password-file", pw_file, "--output", png},
         "choose one mode"},
        {{"--vnc", a, "--password-file", pw_file, "--output", png}, "--user"},
        {{"--vnc", a, "--user", "alice", "--output", png}, "--password-file"},
        {{"--vnc", a, "--user", "alice", "--password-file", missing, "--output", png},
         "No such file"},
        {{"--vnc", a, "--user", "alice", "--password-file", empty_pw_file, "--output", png},
         "empty"},
        {{"--vnc", a, "--user", "alice", "--password-file", pw_file, "--ca", ca_pem, "--insecure",
          "--output", png},
         "exclude"},
        {{"--vnc", a, "--user", "alice", "--password-file", pw_file, "--ca", missing, "--output",
          png},
         "No such file"},
        {{"--vnc", a, "--user", "alice", "--password-file", pw_file, "--ca", pw_file, "--output",
          png},
         "--ca"},
        {{"--vnc", a, "--domain", "d", "--user", "alice", "--password-file", pw_file, "--output",
          png},
         "--domain"},
        {{"--libvirt", "qemu:///system", "--domain", "d", "--user", "alice", "--output", png},
         "are for --vnc"},
        {{"--vnc", "::1:5900", "--user", "alice", "--password-file", pw_file, "--output", png},
         "HOST:PORT"},
        {{"--vnc", "[::1]", "--user", "alice", "--password-file", pw_file, "--output", png},
         "HOST:PORT"},
        {{"--vnc", "[host]:5900", "--user", "alice", "--password-file", pw_file, "--output", png},
         "HOST:PORT"},
        {{"--vnc", "localhost:0", "--user", "alice", "--password-file", pw_file, "--output", png},
         "HOST:PORT"},
        {{"--vnc", "localhost:65536", "--user", "alice", "--password-file", pw_file, "--output",
          png},
         "HOST:PORT"},
        {{"--vnc", "localhost:59x", "--user", "alice", "--password-file", pw_file, "--output", png},
         "HOST:PORT"},
        {{"--vnc", "localhost", "--user", "alice", "--password-file", pw_file, "--output", png},
         "HOST:PORT"},
        {{"--vnc", a, "--user", "alice", "--password-file", pw_file}, "--output"},
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        const char *const *v = cases[i].args;
        shot_result r = run_shot(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10],
                                 v[11], NULL);
        if (r.status != 2 || !strstr(r.err, cases[i].says))
            print_error("case %zu: status %d, stderr: %s\n", i, r.status, r.err);
        assert_int_equal(r.status, 2);
        assert_non_null(strstr(r.err, cases[i].says));
        g_free(r.err);
    }
    assert_false(g_file_test(png, G_FILE_TEST_EXISTS));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    rfbLogEnable(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shot_vnc_writes_exact_pixels_and_types),
        cmocka_unit_test(test_shot_vnc_checks_host_name_in_certificate),
        cmocka_unit_test(test_shot_vnc_wrong_password_exits_3_with_reason),
        cmocka_unit_test(test_shot_vnc_untrusted_ca_exits_4),
        cmocka_unit_test(test_shot_vnc_nobody_listening_exits_4),
        cmocka_unit_test(test_shot_vnc_silent_server_times_out),
        cmocka_unit_test(test_shot_vnc_never_sends_password_without_tls),
        cmocka_unit_test(test_shot_vnc_usage_errors_exit_2),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
