/*
 * Unit tests: the VNC prelude (RFB version, VeNCrypt, TLS, Plain
 * credentials, SecurityResult) against a scripted client on a socketpair.
 * The client side of TLS is OpenSSL; the server certificate is a throwaway
 * self-signed one made in memory.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "util.h"
#include "vnc-io-priv.h"
#include "vnc-prelude.h"

static SSL_CTX *server_ctx;

/* A self-signed P-256 certificate, valid for a day, in a TLS 1.2+ context. */
static SSL_CTX *make_server_ctx(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *crt = X509_new();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(key);
    assert_non_null(crt);
    assert_non_null(ctx);
    X509_set_version(crt, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(crt), 1);
    X509_gmtime_adj(X509_getm_notBefore(crt), -60);
    X509_gmtime_adj(X509_getm_notAfter(crt), 86400);
    X509_set_pubkey(crt, key);
    X509_NAME *name = X509_get_subject_name(crt);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"vmgate-test", -1,
                               -1, 0);
    X509_set_issuer_name(crt, name);
    assert_true(X509_sign(crt, key, EVP_sha256()) > 0);
    assert_int_equal(SSL_CTX_use_certificate(ctx, crt), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
    assert_int_equal(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION), 1);
    X509_free(crt);
    EVP_PKEY_free(key);
    return ctx;
}

typedef struct server_run {
    int fd;
    int timeout_ms;
    const char *peer;    /* NULL: "192.0.2.7:4242" */
    bool allow_insecure; /* allow_insecure_loopback */
    int ret;
    int auth_calls;
    char seen_peer[64];
    vg_vnc_prelude_result res;
    GThread *thread;
    int64_t elapsed_us;
} server_run;

static int check_creds(void *opaque, const char *user, const char *password, const char *peer,
                       char *reason, size_t reason_len)
{
    server_run *run = opaque;
    run->auth_calls++;
    g_strlcpy(run->seen_peer, peer, sizeof(run->seen_peer));
    if (strcmp(user, "alice") == 0 && strcmp(password, "s3cret") == 0)
        return 0;
    g_strlcpy(reason, "wrong user name or password", reason_len);
    return -1;
}

static gpointer server_main(gpointer opaque)
{
    server_run *run = opaque;
    vg_vnc_prelude_params p = {
        .ssl_ctx = server_ctx,
        .peer_addr = run->peer ? run->peer : "192.0.2.7:4242",
        .timeout_ms = run->timeout_ms,
        .authenticate = check_creds,
        .opaque = run,
        .allow_insecure_loopback = run->allow_insecure,
    };
    int64_t t0 = vg_now_us();
    run->ret = vg_vnc_prelude_run(run->fd, &p, &run->res);
    run->elapsed_us = vg_now_us() - t0;
    return NULL;
}

/* Start the server on one end of a socketpair, as if @peer connected, with
 * allow_insecure_loopback set to @allow_insecure; return the client end. */
static int start_server_as(server_run *run, int timeout_ms, const char *peer, bool allow_insecure)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    memset(run, 0, sizeof(*run));
    run->fd = sv[0];
    run->timeout_ms = timeout_ms;
    run->peer = peer;
    run->allow_insecure = allow_insecure;
    run->thread = g_thread_new("prelude", server_main, run);
    /* The client end is blocking, with a timeout so a broken server cannot
     * hang the test. */
    struct timeval tv = {.tv_sec = 5};
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return sv[1];
}

/* Start the server on one end of a socketpair; return the client end. */
static int start_server(server_run *run, int timeout_ms)
{
    return start_server_as(run, timeout_ms, NULL, false);
}

static void finish_server(server_run *run, int client_fd)
{
    g_thread_join(run->thread);
    close(client_fd);
    SSL_free(run->res.ssl);
    close(run->fd);
}

static void wr(int fd, const void *p, size_t n)
{
    assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void rd(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n > 0) {
        ssize_t r = recv(fd, b, n, 0);
        assert_true(r > 0);
        b += r;
        n -= (size_t)r;
    }
}

static uint32_t rd_u32(int fd)
{
    uint8_t b[4];
    rd(fd, b, 4);
    return vg_vnc_get_u32(b);
}

static void client_version(int fd, const char *version)
{
    char v[13] = "";
    rd(fd, v, 12);
    assert_string_equal(v, "RFB 003.008\n");
    wr(fd, version, 12);
}

static void client_security(int fd, uint8_t choice)
{
    uint8_t types[2];
    rd(fd, types, 2);
    assert_int_equal(types[0], 1);
    assert_int_equal(types[1], VG_RFB_SEC_VENCRYPT);
    wr(fd, &choice, 1);
}

static void client_vencrypt(int fd)
{
    uint8_t b[6];
    rd(fd, b, 2);
    assert_int_equal(b[0], 0);
    assert_int_equal(b[1], 2);
    wr(fd, b, 2);
    rd(fd, b, 2);
    assert_int_equal(b[0], 0); /* version ok */
    assert_int_equal(b[1], 1); /* one subtype */
    assert_int_equal(rd_u32(fd), VG_VENCRYPT_X509_PLAIN);
    vg_vnc_put_u32(b, VG_VENCRYPT_X509_PLAIN);
    wr(fd, b, 4);
    rd(fd, b, 1);
    assert_int_equal(b[0], 1);
}

static SSL *client_tls(int fd, int max_version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    if (max_version) {
        /* Let the client really offer the old version (OpenSSL 3 forbids
         * it at the default security level). */
        SSL_CTX_set_security_level(ctx, 0);
        SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
        SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
        SSL_CTX_set_max_proto_version(ctx, max_version);
    }
    SSL *ssl = SSL_new(ctx);
    SSL_CTX_free(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        ERR_clear_error();
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

static void ssl_wr(SSL *ssl, const void *p, size_t n)
{
    assert_int_equal(SSL_write(ssl, p, (int)n), (int)n);
}

static void ssl_rd(SSL *ssl, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        int r = SSL_read(ssl, (uint8_t *)p + got, (int)(n - got));
        assert_true(r > 0);
        got += (size_t)r;
    }
}

static void send_plain(SSL *ssl, const char *user, const char *password)
{
    uint8_t lens[8];
    vg_vnc_put_u32(lens, (uint32_t)strlen(user));
    vg_vnc_put_u32(lens + 4, (uint32_t)strlen(password));
    ssl_wr(ssl, lens, 8);
    ssl_wr(ssl, user, strlen(user));
    ssl_wr(ssl, password, strlen(password));
}

/* SecurityResult failed with a 3.8 reason; returns the reason. */
static void ssl_read_failure(SSL *ssl, char *reason, size_t cap)
{
    uint8_t b[4];
    ssl_rd(ssl, b, 4);
    assert_int_equal(vg_vnc_get_u32(b), 1);
    ssl_rd(ssl, b, 4);
    uint32_t len = vg_vnc_get_u32(b);
    assert_true(len < cap);
    ssl_rd(ssl, reason, len);
    reason[len] = '\0';
}

static void test_prelude_accepts_good_credentials(void **state)
{
    server_run run;
    int fd = start_server(&run, 5000);
    client_version(fd, "RFB 003.008\n");
    client_security(fd, VG_RFB_SEC_VENCRYPT);
    client_vencrypt(fd);
    SSL *ssl = client_tls(fd, 0);
    assert_non_null(ssl);
    send_plain(ssl, "alice", "s3cret");
    uint8_t b[4];
    ssl_rd(ssl, b, 4);
    assert_int_equal(vg_vnc_get_u32(b), 0);
    g_thread_join(run.thread);
    assert_int_equal(run.ret, 0);
    assert_string_equal(run.res.user, "alice");
    assert_int_equal(run.res.minor_version, 8);
    assert_string_equal(run.seen_peer, "192.0.2.7:4242");
    assert_non_null(run.res.ssl);
    /* The TLS session carries the rest of the protocol both ways. */
    ssl_wr(ssl, "\x01", 1); /* ClientInit, shared */
    uint8_t ci = 0;
    assert_int_equal(vg_vnc_ssl_read_full(run.res.ssl, run.fd, &ci, 1, vg_now_us() + 2000000), 0);
    assert_int_equal(ci, 1);
    assert_int_equal(vg_vnc_ssl_write_full(run.res.ssl, run.fd, "ok", 2, vg_now_us() + 2000000), 0);
    char ok[3] = "";
    ssl_rd(ssl, ok, 2);
    assert_string_equal(ok, "ok");
    SSL_free(ssl);
    close(fd);
    SSL_free(run.res.ssl);
    close(run.fd);
}

static void test_prelude_accepts_rfb_3_7(void **state)
{
    server_run run;
    int fd = start_server(&run, 5000);
    client_version(fd, "RFB 003.007\n");
    client_security(fd, VG_RFB_SEC_VENCRYPT);
    client_vencrypt(fd);
    SSL *ssl = client_tls(fd, 0);
    assert_non_null(ssl);
    send_plain(ssl, "alice", "s3cret");
    uint8_t b[4];
    ssl_rd(ssl, b, 4);
    assert_int_equal(vg_vnc_get_u32(b), 0);
    g_thread_join(run.thread);
    assert_int_equal(run.ret, 0);
    assert_int_equal(run.res.minor_version, 7);
    SSL_free(ssl);
    close(fd);
    SSL_free(run.res.ssl);
    close(run.fd);
}

static void test_prelude_refuses_old_rfb_version_with_reason(void **state)
{
    server_run run;
    int fd = start_server(&run, 5000);
    client_version(fd, "RFB 003.003\n");
    assert_int_equal(rd_u32(fd), 0); /* 3.3: security type 0 = failed */
    uint32_t len = rd_u32(fd);
    char reason[128] = "";
    assert_true(len < sizeof(reason));
    rd(fd, reason, len);
    assert_non_null(strstr(reason, "VeNCrypt"));
    finish_server(&run, fd);
    assert_int_equal(run.ret, -EPROTONOSUPPORT);
    assert_int_equal(run.auth_calls, 0);
}

static void test_prelude_refuses_vnc_auth_with_reason(void **state)
{
    server_run run;
    int fd = start_server(&run, 5000);
    client_version(fd, "RFB 003.008\n");
    client_security(fd, VG_RFB_SEC_VNC_AUTH);
    assert_int_equal(rd_u32(fd), 1); /* SecurityResult failed */
    uint32_t len = rd_u32(fd);
    char reason[128] = "";
    assert_true(len < sizeof(reason));
    rd(fd, reason, len);
    assert_string_equal(reason, "this gateway requires VeNCrypt (TLS)");
    finish_server(&run, fd);
    assert_int_equal(run.ret, -EPROTONOSUPPORT);
    assert_int_equal(run.auth_calls, 0);
}

static void test_prelude_refuses_wrong_vencrypt_version(void **state)
{
    server_run run;
    int fd = start_server(&run, 5000);
    client_version(fd, "RFB 003.008\n");
    client_security(fd, VG_RFB_SEC_VENCRYPT);
    uint8_t b[2];
    rd(fd, b, 2);
    b[0] = 0;
    b[1] = 1; /* VeNCrypt 0.1 */
    wr(fd, b, 2);
    rd(fd, b, 1);
    assert_int_not_equal(b[0], 0);
    finish_server(&run, fd);
    assert_int_equal(run.ret, -EPROTONOSUPPORT);
}

static void test_prelude_refuses_other_subtype(void **state)
{
    server_run run;
    int fd = start_server(&run, 5000);
    client_version(fd, "RFB 003.008\n");
    client_security(fd, VG_RFB_SEC_VENCRYPT);
    uint8_t b[6];
    rd(fd, b, 2);
    wr(fd, b, 2);
    rd(fd, b, 6);
    vg_vnc_put_u32(b, VG_VENCRYPT_TLS_PLAIN);
    wr(fd, b, 4);
    rd(fd, b, 1);
    assert_int_equal(b[0], 0); /* rejected */
    finish_server(&run, fd);
    assert_int_equal(run.ret, -EPROTONOSUPPORT);
}

/* The server must refuse from the lengths alone: the client sends nothing
 * after them, so a server that tried to read (or allocate) that much would
 * run into its deadline instead of answering. */
static void oversized(uint32_t ulen, uint32_t plen)
{
    server_run run;
    int fd = start_server(&run, 3000);
    client_version(fd, "RFB 003.008\n");
    client_security(fd, VG_RFB_SEC_VENCRYPT);
    client_vencrypt(fd);
    SSL *ssl = client_tls(fd, 0);
    assert_non_null(ssl);
    uint8_t lens[8];
    vg_vnc_put_u32(lens, ulen);
    vg_vnc_put_u32(lens + 4, plen);
    ssl_wr(ssl, lens, 8);
    char reason[128];
    ssl_read_failure(ssl, reason, sizeof(reason));
    assert_non_null(strstr(reason, "too long"));
    SSL_free(ssl);
    finish_server(&run, fd);
    assert_int_equal(run.ret, -EMSGSIZE);
    assert_int_equal(run.auth_calls, 0);
    assert_true(run.elapsed_us < 2000000);
}

static void test_prelude_refuses_oversized_user(void **state)
{
    oversized(0x7fffffff, 4);
    oversized(VG_VNC_USER_MAX + 1, 4);
}

static void test_prelude_refuses_oversized_password(void **state)
{
    oversized(5, 0xffffffff);
    oversized(5, VG_VNC_PASSWORD_MAX + 1);
}

static void test_prelude_refuses_nul_in_user(void **state)
{
    server_run run;
    int fd = start_server(&run, 5000);
    client_version(fd, "RFB 003.008\n");
    client_security(fd, VG_RFB_SEC_VENCRYPT);
    client_vencrypt(fd);
    SSL *ssl = client_tls(fd, 0);
    assert_non_null(ssl);
    uint8_t lens[8];
    vg_vnc_put_u32(lens, 6);
    vg_vnc_put_u32(lens + 4, 6);
    ssl_wr(ssl, lens, 8);
    ssl_wr(ssl, "alice\0s3cret", 12);
    char reason[128];
    ssl_read_failure(ssl, reason, sizeof(reason));
    SSL_free(ssl);
    finish_server(&run, fd);
    assert_int_equal(run.ret, -EPROTO);
    assert_int_equal(run.auth_calls, 0);
}

static void test_prelude_deadline_fires_when_client_stalls(void **state)
{
    server_run run;
    int fd = start_server(&run, 300);
    client_version(fd, "RFB 003.008\n");
    uint8_t types[2];
    rd(fd, types, 2);
    /* ... and the client says nothing more. */
    g_thread_join(run.thread);
    assert_int_equal(run.ret, -ETIMEDOUT);
    assert_true(run.elapsed_us >= 300000);
    assert_true(run.elapsed_us < 2000000);
    close(fd);
    close(run.fd);
}

static void test_prelude_deadline_fires_in_tls(void **state)
{
    server_run run;
    int fd = start_server(&run, 300);
    client_version(fd, "RFB 003.008\n");
    client_security(fd, VG_RFB_SEC_VENCRYPT);
    client_vencrypt(fd);
    /* No ClientHello follows. */
    g_thread_join(run.thread);
    assert_int_equal(run.ret, -ETIMEDOUT);
    assert_true(run.elapsed_us < 2000000);
    close(fd);
    close(run.fd);
}

static void test_prelude_refuses_tls_1_1(void **state)
{
    server_run run;
    int fd = start_server(&run, 5000);
    client_version(fd, "RFB 003.008\n");
    client_security(fd, VG_RFB_SEC_VENCRYPT);
    client_vencrypt(fd);
    SSL *ssl = client_tls(fd, TLS1_1_VERSION);
    assert_null(ssl);
    finish_server(&run, fd);
    assert_int_equal(run.ret, -EPROTO);
    assert_int_equal(run.auth_calls, 0);
}

static void test_prelude_refuses_bad_credentials_with_reason(void **state)
{
    server_run run;
    int fd = start_server(&run, 5000);
    client_version(fd, "RFB 003.008\n");
    client_security(fd, VG_RFB_SEC_VENCRYPT);
    client_vencrypt(fd);
    SSL *ssl = client_tls(fd, 0);
    assert_non_null(ssl);
    send_plain(ssl, "alice", "guess");
    char reason[128];
    ssl_read_failure(ssl, reason, sizeof(reason));
    assert_string_equal(reason, "wrong user name or password");
    SSL_free(ssl);
    finish_server(&run, fd);
    assert_int_equal(run.ret, -EACCES);
    assert_int_equal(run.auth_calls, 1);
    assert_null(run.res.ssl);
}

/* Up to the subtype list; returns how many subtypes were offered. */
static size_t client_subtypes(int fd, uint32_t *subtypes, size_t cap)
{
    uint8_t b[2];
    client_version(fd, "RFB 003.008\n");
    client_security(fd, VG_RFB_SEC_VENCRYPT);
    rd(fd, b, 2);
    wr(fd, b, 2);
    rd(fd, b, 2);
    assert_int_equal(b[0], 0);
    assert_true(b[1] >= 1 && b[1] <= cap);
    for (size_t i = 0; i < b[1]; i++)
        subtypes[i] = rd_u32(fd);
    return b[1];
}

/* Choosing Plain (256) where it was not offered: SecurityResult failed in
 * clear with the reason, no credentials read, no callback. */
static void insecure_refused(const char *peer, bool allow)
{
    server_run run;
    uint32_t st[4];
    uint8_t b[4];
    char reason[128] = "";
    int fd = start_server_as(&run, 5000, peer, allow);
    assert_int_equal(client_subtypes(fd, st, 4), 1);
    assert_int_equal(st[0], VG_VENCRYPT_X509_PLAIN);
    vg_vnc_put_u32(b, VG_VENCRYPT_PLAIN);
    wr(fd, b, 4);
    assert_int_equal(rd_u32(fd), 1);
    uint32_t len = rd_u32(fd);
    assert_true(len < sizeof(reason));
    rd(fd, reason, len);
    assert_string_equal(reason, "unencrypted VNC is not allowed");
    finish_server(&run, fd);
    assert_int_equal(run.ret, -EPROTONOSUPPORT);
    assert_int_equal(run.auth_calls, 0);
    assert_null(run.res.ssl);
}

static void test_prelude_refuses_insecure_when_not_allowed(void **state)
{
    insecure_refused("127.0.0.1:1234", false);
    insecure_refused("192.0.2.1:5", false);
}

static void test_prelude_refuses_insecure_from_non_loopback(void **state)
{
    insecure_refused("192.0.2.1:5", true);
    insecure_refused("[2001:db8::1]:5", true);
    insecure_refused("[::ffff:192.0.2.1]:5", true);
    insecure_refused("128.0.0.1:5", true);
    insecure_refused("garbage", true);
}

static void test_prelude_offers_insecure_on_loopback(void **state)
{
    static const char *const peers[] = {"127.0.0.1:1234", "127.3.2.1:9", "[::1]:5",
                                        "[::ffff:127.0.0.1]:7"};
    for (size_t i = 0; i < G_N_ELEMENTS(peers); i++) {
        server_run run;
        uint32_t st[4];
        int fd = start_server_as(&run, 5000, peers[i], true);
        assert_int_equal(client_subtypes(fd, st, 4), 2);
        assert_int_equal(st[0], VG_VENCRYPT_X509_PLAIN); /* TLS stays preferred */
        assert_int_equal(st[1], VG_VENCRYPT_PLAIN);
        close(fd); /* leave here */
        g_thread_join(run.thread);
        assert_int_equal(run.ret, -ECONNRESET);
        close(run.fd);
    }
}

static void send_plain_clear(int fd, const char *user, const char *password)
{
    uint8_t lens[8];
    vg_vnc_put_u32(lens, (uint32_t)strlen(user));
    vg_vnc_put_u32(lens + 4, (uint32_t)strlen(password));
    wr(fd, lens, 8);
    wr(fd, user, strlen(user));
    wr(fd, password, strlen(password));
}

static void test_prelude_insecure_login_on_loopback(void **state)
{
    server_run run;
    uint32_t st[4];
    uint8_t b[4];
    int fd = start_server_as(&run, 5000, "127.0.0.1:1234", true);
    assert_int_equal(client_subtypes(fd, st, 4), 2);
    vg_vnc_put_u32(b, VG_VENCRYPT_PLAIN);
    wr(fd, b, 4);
    /* No acknowledgement byte: the credentials follow at once, in clear. */
    send_plain_clear(fd, "alice", "s3cret");
    assert_int_equal(rd_u32(fd), 0); /* SecurityResult OK, in clear */
    g_thread_join(run.thread);
    assert_int_equal(run.ret, 0);
    assert_null(run.res.ssl);
    assert_string_equal(run.res.user, "alice");
    assert_int_equal(run.res.minor_version, 8);
    assert_int_equal(run.auth_calls, 1);
    assert_string_equal(run.seen_peer, "127.0.0.1:1234");
    /* The rest of the protocol goes in clear on the socket. */
    wr(fd, "\x01", 1);
    uint8_t ci = 0;
    assert_int_equal(vg_vnc_read_full(run.fd, &ci, 1, vg_now_us() + 2000000), 0);
    assert_int_equal(ci, 1);
    close(fd);
    close(run.fd);
}

static void test_prelude_insecure_login_refuses_bad_credentials(void **state)
{
    server_run run;
    uint32_t st[4];
    uint8_t b[4];
    char reason[128] = "";
    int fd = start_server_as(&run, 5000, "[::1]:1234", true);
    assert_int_equal(client_subtypes(fd, st, 4), 2);
    vg_vnc_put_u32(b, VG_VENCRYPT_PLAIN);
    wr(fd, b, 4);
    send_plain_clear(fd, "alice", "guess");
    assert_int_equal(rd_u32(fd), 1);
    uint32_t len = rd_u32(fd);
    assert_true(len < sizeof(reason));
    rd(fd, reason, len);
    assert_string_equal(reason, "wrong user name or password");
    finish_server(&run, fd);
    assert_int_equal(run.ret, -EACCES);
    assert_int_equal(run.auth_calls, 1);
}

static void test_prelude_insecure_login_bounds_credentials(void **state)
{
    server_run run;
    uint32_t st[4];
    uint8_t b[8];
    int fd = start_server_as(&run, 3000, "127.0.0.1:1", true);
    assert_int_equal(client_subtypes(fd, st, 4), 2);
    vg_vnc_put_u32(b, VG_VENCRYPT_PLAIN);
    wr(fd, b, 4);
    vg_vnc_put_u32(b, 5);
    vg_vnc_put_u32(b + 4, VG_VNC_PASSWORD_MAX + 1);
    wr(fd, b, 8);
    assert_int_equal(rd_u32(fd), 1);
    finish_server(&run, fd);
    assert_int_equal(run.ret, -EMSGSIZE);
    assert_int_equal(run.auth_calls, 0);
    assert_true(run.elapsed_us < 2000000);
}

static void test_prelude_client_leaves(void **state)
{
    server_run run;
    int fd = start_server(&run, 5000);
    client_version(fd, "RFB 003.008\n");
    close(fd);
    g_thread_join(run.thread);
    assert_int_equal(run.ret, -ECONNRESET);
    close(run.fd);
}

static void test_prelude_rejects_garbage_version(void **state)
{
    server_run run;
    int fd = start_server(&run, 5000);
    client_version(fd, "GET / HTTP/1");
    finish_server(&run, fd);
    assert_int_equal(run.ret, -EPROTO);
}

/* The prelude for a viewer that logged in elsewhere: RFB 3.8, None only. */
typedef struct none_run {
    int fd, ret;
    GThread *thread;
} none_run;

static gpointer none_main(gpointer opaque)
{
    none_run *run = opaque;
    run->ret = vg_vnc_prelude_none(run->fd, "web peer", 2000);
    return NULL;
}

static int start_none(none_run *run)
{
    int sv[2];
    struct timeval tv = {.tv_sec = 5};
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    run->fd = sv[0];
    run->thread = g_thread_new("prelude-none", none_main, run);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return sv[1];
}

static void finish_none(none_run *run, int fd)
{
    g_thread_join(run->thread);
    close(fd);
    close(run->fd);
}

static void test_prelude_none_offers_only_none(void **state)
{
    none_run run;
    int fd = start_none(&run);
    uint8_t types[2], choice = VG_RFB_SEC_NONE;
    (void)state;

    client_version(fd, "RFB 003.008\n");
    rd(fd, types, 2);
    assert_int_equal(types[0], 1);
    assert_int_equal(types[1], VG_RFB_SEC_NONE);
    wr(fd, &choice, 1);
    assert_int_equal(rd_u32(fd), 0); /* SecurityResult OK */
    finish_none(&run, fd);
    assert_int_equal(run.ret, 0);
}

static void test_prelude_none_refuses_other_choices_and_versions(void **state)
{
    none_run run;
    int fd = start_none(&run);
    uint8_t types[2], choice = VG_RFB_SEC_VNC_AUTH;
    (void)state;

    client_version(fd, "RFB 003.008\n");
    rd(fd, types, 2);
    wr(fd, &choice, 1);
    assert_int_equal(rd_u32(fd), 1); /* SecurityResult failed, with a reason */
    finish_none(&run, fd);
    assert_int_equal(run.ret, -EPROTONOSUPPORT);

    fd = start_none(&run);
    client_version(fd, "RFB 003.007\n");
    assert_int_equal(rd_u32(fd), 0); /* the 3.3 failure form */
    finish_none(&run, fd);
    assert_int_equal(run.ret, -EPROTONOSUPPORT);

    fd = start_none(&run); /* a client that says nothing: the deadline */
    finish_none(&run, fd);
    assert_int_equal(run.ret, -ETIMEDOUT);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    server_ctx = make_server_ctx();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prelude_accepts_good_credentials),
        cmocka_unit_test(test_prelude_accepts_rfb_3_7),
        cmocka_unit_test(test_prelude_refuses_old_rfb_version_with_reason),
        cmocka_unit_test(test_prelude_refuses_vnc_auth_with_reason),
        cmocka_unit_test(test_prelude_none_offers_only_none),
        cmocka_unit_test(test_prelude_none_refuses_other_choices_and_versions),
        cmocka_unit_test(test_prelude_refuses_wrong_vencrypt_version),
        cmocka_unit_test(test_prelude_refuses_other_subtype),
        cmocka_unit_test(test_prelude_refuses_oversized_user),
        cmocka_unit_test(test_prelude_refuses_oversized_password),
        cmocka_unit_test(test_prelude_refuses_nul_in_user),
        cmocka_unit_test(test_prelude_deadline_fires_when_client_stalls),
        cmocka_unit_test(test_prelude_deadline_fires_in_tls),
        cmocka_unit_test(test_prelude_refuses_tls_1_1),
        cmocka_unit_test(test_prelude_refuses_bad_credentials_with_reason),
        cmocka_unit_test(test_prelude_refuses_insecure_when_not_allowed),
        cmocka_unit_test(test_prelude_refuses_insecure_from_non_loopback),
        cmocka_unit_test(test_prelude_offers_insecure_on_loopback),
        cmocka_unit_test(test_prelude_insecure_login_on_loopback),
        cmocka_unit_test(test_prelude_insecure_login_refuses_bad_credentials),
        cmocka_unit_test(test_prelude_insecure_login_bounds_credentials),
        cmocka_unit_test(test_prelude_client_leaves),
        cmocka_unit_test(test_prelude_rejects_garbage_version),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    SSL_CTX_free(server_ctx);
    return rc;
}
