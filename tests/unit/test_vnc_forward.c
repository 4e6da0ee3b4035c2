/*
 * Unit tests: forwarding a VNC viewer to another gateway. The target is
 * vmgate's own prelude (vg_vnc_prelude_run) on a loopback TCP port with a
 * throwaway certificate for 127.0.0.1; the client side is
 * vg_vnc_upstream_connect, then vg_vnc_forward copies between a socketpair
 * (the viewer, in clear) and the logged-in connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
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
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "util.h"
#include "vnc-forward.h"
#include "vnc-io-priv.h"
#include "vnc-prelude.h"

static SSL_CTX *server_ctx;
static X509 *server_crt;

/* A self-signed P-256 certificate for IP 127.0.0.1, valid for a day. */
static void make_server(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *crt = X509_new();
    X509V3_CTX v3;
    X509_EXTENSION *san;

    server_ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(key);
    X509_set_version(crt, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(crt), 1);
    X509_gmtime_adj(X509_getm_notBefore(crt), -60);
    X509_gmtime_adj(X509_getm_notAfter(crt), 86400);
    X509_set_pubkey(crt, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(crt), "CN", MBSTRING_ASC,
                               (const unsigned char *)"vmgate-target", -1, -1, 0);
    X509_set_issuer_name(crt, X509_get_subject_name(crt));
    X509V3_set_ctx(&v3, crt, crt, NULL, NULL, 0);
    san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
    assert_non_null(san);
    X509_add_ext(crt, san, -1);
    X509_EXTENSION_free(san);
    assert_true(X509_sign(crt, key, EVP_sha256()) > 0);
    assert_int_equal(SSL_CTX_use_certificate(server_ctx, crt), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(server_ctx, key), 1);
    server_crt = crt;
    EVP_PKEY_free(key);
}

/* A client context that trusts the target's certificate (or nothing). */
static SSL_CTX *client_ctx(bool trust)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (trust)
        assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), server_crt), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

typedef struct target {
    int listen_fd;
    unsigned port;
    GThread *thread;
    int ret;
    vg_vnc_prelude_result res;
    int fd;
    char user[64];
} target;

static int check_creds(void *opaque, const char *user, const char *password, const char *peer,
                       char *reason, size_t reason_len)
{
    target *t = opaque;
    (void)peer;
    g_strlcpy(t->user, user, sizeof(t->user));
    if (strcmp(user, "vmgate-grant:0011:alice") == 0 && strcmp(password, "s3cret") == 0)
        return 0;
    g_strlcpy(reason, "Authentication failed", reason_len);
    return -1;
}

static gpointer target_main(gpointer data)
{
    target *t = data;
    vg_vnc_prelude_params p = {.ssl_ctx = server_ctx,
                               .peer_addr = "127.0.0.1:1",
                               .timeout_ms = 5000,
                               .authenticate = check_creds,
                               .opaque = t};

    t->fd = accept(t->listen_fd, NULL, NULL);
    t->ret = t->fd < 0 ? -errno : vg_vnc_prelude_run(t->fd, &p, &t->res);
    return NULL;
}

static void target_start(target *t)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);

    memset(t, 0, sizeof(*t));
    t->fd = -1;
    t->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(t->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(t->listen_fd, 1), 0);
    assert_int_equal(getsockname(t->listen_fd, (struct sockaddr *)&sa, &len), 0);
    t->port = ntohs(sa.sin_port);
    t->thread = g_thread_new("target", target_main, t);
}

static void target_join(target *t)
{
    if (t->thread)
        g_thread_join(t->thread);
    t->thread = NULL;
}

static void target_finish(target *t)
{
    target_join(t);
    SSL_free(t->res.ssl);
    if (t->fd >= 0)
        close(t->fd);
    close(t->listen_fd);
}

static int connect_up(target *t, const char *address, const char *user, const char *password,
                      bool trust, vg_vnc_upstream **up, char *reason, size_t reason_len)
{
    SSL_CTX *ctx = client_ctx(trust);
    vg_vnc_forward_target ft = {
        .address = address, .port = t->port, .user = user, .password = password, .ctx = ctx};
    int r = vg_vnc_upstream_connect(&ft, vg_now_us() + 5000000, up, reason, reason_len);
    SSL_CTX_free(ctx);
    return r;
}

static void on_ended(void *opaque, const char *reason)
{
    g_async_queue_push(opaque, g_strdup(reason));
}

static void test_forward_logs_in_and_copies_both_ways(void **state)
{
    target t;
    vg_vnc_upstream *up = NULL;
    vg_vnc_forward *f = NULL;
    char reason[128] = "", buf[16];
    int sv[2];
    struct timeval tv = {.tv_sec = 5};
    GAsyncQueue *ended = g_async_queue_new_full(g_free);
    char *why;
    (void)state;

    target_start(&t);
    assert_int_equal(connect_up(&t, "127.0.0.1", "vmgate-grant:0011:alice", "s3cret", true, &up,
                                reason, sizeof(reason)),
                     0);
    target_join(&t);
    assert_int_equal(t.ret, 0);
    assert_string_equal(t.user, "vmgate-grant:0011:alice");

    /* The viewer in clear on a socketpair; the target's end is t.res.ssl. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(vg_vnc_forward_new(NULL, sv[0], up, "test", 5000, on_ended, ended, &f), 0);
    assert_int_equal(write(sv[1], "\x01hello", 6), 6);
    assert_int_equal(vg_vnc_ssl_read_full(t.res.ssl, t.fd, buf, 6, vg_now_us() + 5000000), 0);
    assert_memory_equal(buf, "\x01hello", 6);
    assert_int_equal(vg_vnc_ssl_write_full(t.res.ssl, t.fd, "world!", 6, vg_now_us() + 5000000), 0);
    assert_int_equal(recv(sv[1], buf, 6, MSG_WAITALL), 6);
    assert_memory_equal(buf, "world!", 6);
    /* The viewer leaves: the forward ends by itself and says so. */
    close(sv[1]);
    why = g_async_queue_timeout_pop(ended, 5 * G_USEC_PER_SEC);
    assert_non_null(why);
    assert_string_equal(why, "the viewer left");
    g_free(why);
    vg_vnc_forward_free(f);
    g_async_queue_unref(ended);
    target_finish(&t);
}

static void test_forward_passes_on_the_targets_refusal(void **state)
{
    target t;
    vg_vnc_upstream *up = NULL;
    char reason[128] = "";
    (void)state;

    target_start(&t);
    assert_int_equal(connect_up(&t, "127.0.0.1", "vmgate-grant:0011:alice", "wrong", true, &up,
                                reason, sizeof(reason)),
                     -EACCES);
    assert_null(up);
    assert_string_equal(reason, "Authentication failed");
    target_finish(&t);
}

static void test_forward_checks_the_targets_certificate(void **state)
{
    target t;
    vg_vnc_upstream *up = NULL;
    char reason[128] = "";
    (void)state;

    /* Not trusted. */
    target_start(&t);
    assert_int_equal(connect_up(&t, "127.0.0.1", "vmgate-grant:0011:alice", "s3cret", false, &up,
                                reason, sizeof(reason)),
                     -EPROTO);
    assert_null(up);
    assert_string_equal(reason, "The gateway that holds your VM cannot be reached");
    target_finish(&t);
    assert_string_equal(t.user, ""); /* the credentials never left */

    /* Trusted, but for another name than the one connected to. */
    target_start(&t);
    assert_int_equal(connect_up(&t, "localhost", "vmgate-grant:0011:alice", "s3cret", true, &up,
                                reason, sizeof(reason)),
                     -EPROTO);
    target_finish(&t);
    assert_string_equal(t.user, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_logs_in_and_copies_both_ways),
        cmocka_unit_test(test_forward_passes_on_the_targets_refusal),
        cmocka_unit_test(test_forward_checks_the_targets_certificate),
    };
    int r;

    make_server();
    r = cmocka_run_group_tests_name("vnc_forward", tests, NULL, NULL);
    SSL_CTX_free(server_ctx);
    X509_free(server_crt);
    return r;
}
