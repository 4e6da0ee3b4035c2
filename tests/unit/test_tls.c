/*
 * Unit tests: the TLS server context (server/daemon/tls.c) and certs/mkcerts.
 *
 * Certificates come from the real certs/mkcerts; handshakes are real, over
 * a socketpair between the server context and an OpenSSL client that trusts
 * the development CA, driven from one thread with non-blocking sockets.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"

#ifndef MKCERTS_PATH
#error "MKCERTS_PATH must name certs/mkcerts"
#endif

/* Shared by every test: two independent sets of development certificates. */
typedef struct env {
    char *base; /* temporary directory holding everything below */
    char *a;    /* mkcerts output: CA and server certificate "a" */
    char *b;    /* another mkcerts output: a different CA and key */
} env;

static char *file_in(const char *dir, const char *name)
{
    return g_build_filename(dir, name, NULL);
}

/* Run certs/mkcerts with @args (NULL-terminated, may be NULL) into @dir. */
static void run_mkcerts(const char *dir, const char *const *args)
{
    GPtrArray *argv = g_ptr_array_new();
    char *out = NULL, *err = NULL;
    GError *gerr = NULL;
    int status = -1;

    g_ptr_array_add(argv, (char *)MKCERTS_PATH);
    for (size_t i = 0; args && args[i]; i++)
        g_ptr_array_add(argv, (char *)args[i]);
    g_ptr_array_add(argv, (char *)dir);
    g_ptr_array_add(argv, NULL);
    if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                      &status, &gerr))
        fail_msg("cannot run %s: %s", MKCERTS_PATH, gerr->message);
    if (!g_spawn_check_wait_status(status, NULL))
        fail_msg("mkcerts failed:\n%s%s", out, err);
    g_free(out);
    g_free(err);
    g_ptr_array_free(argv, TRUE);
}

/* The SHA-256 fingerprint of a PEM certificate as the openssl command prints it. */
static char *openssl_cli_fingerprint(const char *cert)
{
    const char *argv[] = {"openssl", "x509",         "-in",     cert,
                          "-noout",  "-fingerprint", "-sha256", NULL};
    char *out = NULL, *eq;
    int status = -1;

    assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL,
                             &status, NULL));
    assert_true(g_spawn_check_wait_status(status, NULL));
    eq = strchr(out, '=');
    assert_non_null(eq);
    g_strstrip(eq + 1);
    memmove(out, eq + 1, strlen(eq + 1) + 1);
    return out;
}

static void rm_tree(const char *path)
{
    GDir *dir = g_dir_open(path, 0, NULL);
    const char *name;

    if (dir) {
        while ((name = g_dir_read_name(dir))) {
            char *child = file_in(path, name);
            rm_tree(child);
            g_free(child);
        }
        g_dir_close(dir);
        g_rmdir(path);
    } else {
        g_unlink(path);
    }
}

static int group_setup(void **state)
{
    env *e = g_new0(env, 1);

    e->base = g_dir_make_tmp("vg-tls-XXXXXX", NULL);
    assert_non_null(e->base);
    e->a = file_in(e->base, "a");
    e->b = file_in(e->base, "b");
    run_mkcerts(e->a, NULL);
    run_mkcerts(e->b, NULL);
    *state = e;
    return 0;
}

static int group_teardown(void **state)
{
    env *e = *state;

    rm_tree(e->base);
    g_free(e->a);
    g_free(e->b);
    g_free(e->base);
    g_free(e);
    return 0;
}

/* A vg_tls from @dir's server.crt and server.key, which must load. */
static vg_tls *load_dir(const char *dir)
{
    char *crt = file_in(dir, "server.crt"), *key = file_in(dir, "server.key");
    char *error = NULL;
    vg_tls *tls = NULL;
    int rc = vg_tls_new(crt, key, &tls, &error);

    if (rc != 0)
        fail_msg("vg_tls_new: %d %s", rc, error);
    assert_null(error);
    assert_non_null(tls);
    g_free(crt);
    g_free(key);
    return tls;
}

/* A client context that verifies the server against @dir's ca.crt. */
static SSL_CTX *client_ctx_new(const char *dir)
{
    char *ca = file_in(dir, "ca.crt");
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    g_free(ca);
    return ctx;
}

/* One client/server pair over a socketpair. */
typedef struct conn {
    int fds[2];
    SSL *server;
    SSL *client;
} conn;

/*
 * Pair a server SSL from @sctx with a client SSL from @cctx. The client
 * checks that the certificate names @host (a DNS name, or NULL) and @ip (an
 * address, or NULL).
 */
static void conn_open(conn *c, SSL_CTX *sctx, SSL_CTX *cctx, const char *host, const char *ip)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, c->fds), 0);
    c->server = SSL_new(sctx);
    c->client = SSL_new(cctx);
    assert_non_null(c->server);
    assert_non_null(c->client);
    assert_int_equal(SSL_set_fd(c->server, c->fds[0]), 1);
    assert_int_equal(SSL_set_fd(c->client, c->fds[1]), 1);
    SSL_set_accept_state(c->server);
    SSL_set_connect_state(c->client);
    if (host) {
        assert_int_equal(SSL_set_tlsext_host_name(c->client, host), 1);
        assert_int_equal(SSL_set1_host(c->client, host), 1);
    }
    if (ip)
        assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->client), ip), 1);
}

static void conn_close(conn *c)
{
    SSL_free(c->server);
    SSL_free(c->client);
    close(c->fds[0]);
    close(c->fds[1]);
    ERR_clear_error();
}

/*
 * Drive both handshakes to their end. Returns true if both completed and a
 * byte went each way; false as soon as either side failed.
 */
static bool conn_handshake(conn *c)
{
    bool server_done = false, client_done = false;
    char byte = 0;

    for (int i = 0; i < 10000 && !(server_done && client_done); i++) {
        if (!client_done) {
            int r = SSL_do_handshake(c->client);
            int err = SSL_get_error(c->client, r);
            if (r == 1)
                client_done = true;
            else if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
                return false;
        }
        if (!server_done) {
            int r = SSL_do_handshake(c->server);
            int err = SSL_get_error(c->server, r);
            if (r == 1)
                server_done = true;
            else if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
                return false;
        }
    }
    if (!(server_done && client_done))
        return false;

    /* Application data both ways (this also consumes TLS 1.3 tickets). */
    assert_int_equal(SSL_write(c->client, "c", 1), 1);
    assert_int_equal(SSL_read(c->server, &byte, 1), 1);
    assert_int_equal(byte, 'c');
    assert_int_equal(SSL_write(c->server, "s", 1), 1);
    for (int i = 0; i < 100; i++) {
        int r = SSL_read(c->client, &byte, 1);
        if (r == 1)
            break;
        assert_int_equal(SSL_get_error(c->client, r), SSL_ERROR_WANT_READ);
    }
    assert_int_equal(byte, 's');
    return true;
}

/* The fingerprint of the certificate the client received, formatted as vg_tls does. */
static void peer_fingerprint(conn *c, char out[VG_TLS_FINGERPRINT_SIZE])
{
    X509 *peer = SSL_get0_peer_certificate(c->client);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    GString *s = g_string_new(NULL);

    assert_non_null(peer);
    assert_int_equal(X509_digest(peer, EVP_sha256(), md, &n), 1);
    assert_int_equal(n, 32);
    for (unsigned i = 0; i < n; i++)
        g_string_append_printf(s, "%s%02X", i ? ":" : "", md[i]);
    assert_int_equal(s->len, VG_TLS_FINGERPRINT_SIZE - 1);
    memcpy(out, s->str, VG_TLS_FINGERPRINT_SIZE);
    g_string_free(s, TRUE);
}

/* A handshake between @tls's current context and @cctx; returns whether it succeeded. */
static bool try_handshake(vg_tls *tls, SSL_CTX *cctx, const char *host, const char *ip)
{
    SSL_CTX *sctx = vg_tls_get_ctx(tls);
    conn c;
    bool ok;

    conn_open(&c, sctx, cctx, host, ip);
    SSL_CTX_free(sctx);
    ok = conn_handshake(&c);
    conn_close(&c);
    return ok;
}

static void test_tls_loads_mkcerts_chain_with_safe_settings(void **state)
{
    env *e = *state;
    vg_tls *tls = load_dir(e->a);
    char *crt = file_in(e->a, "server.crt");
    char *cli = openssl_cli_fingerprint(crt);
    char fp[VG_TLS_FINGERPRINT_SIZE];
    SSL_CTX *ctx;
    STACK_OF(X509) *chain = NULL;
    const uint64_t want =
        SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE;

    vg_tls_fingerprint(tls, fp);
    assert_string_equal(fp, cli);

    ctx = vg_tls_get_ctx(tls);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    assert_true(SSL_CTX_get_security_level(ctx) >= 2);
    assert_true((SSL_CTX_get_options(ctx) & want) == want);
    /* The CA certificate after the leaf was loaded as chain. */
    assert_int_equal(SSL_CTX_get0_chain_certs(ctx, &chain), 1);
    assert_non_null(chain);
    assert_int_equal(sk_X509_num(chain), 1);
    SSL_CTX_free(ctx);

    g_free(cli);
    g_free(crt);
    vg_tls_free(tls);
}

static void test_tls_refuses_mismatched_key_naming_files(void **state)
{
    env *e = *state;
    char *crt = file_in(e->a, "server.crt"), *key = file_in(e->b, "server.key");
    char *error = NULL;
    vg_tls *tls = NULL;
    char before[VG_TLS_FINGERPRINT_SIZE], after[VG_TLS_FINGERPRINT_SIZE];

    assert_int_equal(vg_tls_new(crt, key, &tls, &error), -EINVAL);
    assert_null(tls);
    assert_non_null(error);
    assert_non_null(strstr(error, key));
    assert_non_null(strstr(error, crt));
    assert_non_null(strstr(error, "does not match"));
    g_free(error);
    error = NULL;

    /* A reload with the wrong key keeps the running certificate. */
    tls = load_dir(e->a);
    vg_tls_fingerprint(tls, before);
    assert_int_equal(vg_tls_reload(tls, crt, key, &error), -EINVAL);
    assert_non_null(error);
    assert_non_null(strstr(error, key));
    vg_tls_fingerprint(tls, after);
    assert_string_equal(before, after);
    {
        SSL_CTX *cctx = client_ctx_new(e->a);
        assert_true(try_handshake(tls, cctx, "localhost", NULL));
        SSL_CTX_free(cctx);
    }

    g_free(error);
    g_free(crt);
    g_free(key);
    vg_tls_free(tls);
}

static void test_tls_refuses_missing_or_unusable_files_naming_them(void **state)
{
    env *e = *state;
    char *crt = file_in(e->a, "server.crt"), *key = file_in(e->a, "server.key");
    char *missing = file_in(e->base, "no-such-file.pem");
    char *enc = file_in(e->base, "encrypted.key");
    char *error = NULL;
    vg_tls *tls = NULL;
    int status = -1;

    assert_int_equal(vg_tls_new(missing, key, &tls, &error), -ENOENT);
    assert_null(tls);
    assert_non_null(error);
    assert_non_null(strstr(error, missing));
    assert_non_null(strstr(error, g_strerror(ENOENT)));
    g_free(error);

    error = NULL;
    assert_int_equal(vg_tls_new(crt, missing, &tls, &error), -ENOENT);
    assert_null(tls);
    assert_non_null(strstr(error, missing));
    g_free(error);

    /* A key where the chain should be: not a certificate. */
    error = NULL;
    assert_int_equal(vg_tls_new(key, key, &tls, &error), -EINVAL);
    assert_null(tls);
    assert_non_null(strstr(error, key));
    g_free(error);

    /* An encrypted key is refused, never prompted for. */
    {
        const char *argv[] = {"openssl",  "pkey",   "-in",  key, "-aes256",
                              "-passout", "pass:x", "-out", enc, NULL};
        assert_true(g_spawn_sync(NULL, (char **)argv, NULL,
                                 G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                                     G_SPAWN_STDERR_TO_DEV_NULL,
                                 NULL, NULL, NULL, NULL, &status, NULL));
        assert_true(g_spawn_check_wait_status(status, NULL));
    }
    error = NULL;
    assert_int_equal(vg_tls_new(crt, enc, &tls, &error), -EINVAL);
    assert_null(tls);
    assert_non_null(strstr(error, enc));
    assert_non_null(strstr(error, "encrypted"));
    g_free(error);

    /* Unset paths. */
    error = NULL;
    assert_int_equal(vg_tls_new("", key, &tls, &error), -EINVAL);
    assert_non_null(error);
    g_free(error);

    g_unlink(enc);
    g_free(enc);
    g_free(missing);
    g_free(crt);
    g_free(key);
}

static void test_tls_handshake_verifies_localhost_and_loopback_ips(void **state)
{
    env *e = *state;
    vg_tls *tls = load_dir(e->a);
    SSL_CTX *sctx = vg_tls_get_ctx(tls);
    SSL_CTX *cctx = client_ctx_new(e->a);
    SSL_CTX *other_ca = client_ctx_new(e->b);
    conn c;

    conn_open(&c, sctx, cctx, "localhost", NULL);
    assert_true(conn_handshake(&c));
    assert_true(SSL_version(c.client) >= TLS1_2_VERSION);
    assert_int_equal(SSL_get_verify_result(c.client), X509_V_OK);
    conn_close(&c);

    conn_open(&c, sctx, cctx, NULL, "127.0.0.1");
    assert_true(conn_handshake(&c));
    assert_int_equal(SSL_get_verify_result(c.client), X509_V_OK);
    conn_close(&c);

    conn_open(&c, sctx, cctx, NULL, "::1");
    assert_true(conn_handshake(&c));
    conn_close(&c);

    /* The client's checks are real: another name, address or CA fails. */
    assert_false(try_handshake(tls, cctx, "vm.example.test", NULL));
    assert_false(try_handshake(tls, cctx, NULL, "192.0.2.1"));
    assert_false(try_handshake(tls, other_ca, "localhost", NULL));

    SSL_CTX_free(other_ca);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    vg_tls_free(tls);
}

static void test_tls_refuses_tls11_client(void **state)
{
    env *e = *state;
    vg_tls *tls = load_dir(e->a);
    SSL_CTX *cctx = client_ctx_new(e->a);

    /* Level 0 and every cipher, so that only the server can say no. */
    SSL_CTX_set_security_level(cctx, 0);
    assert_int_equal(SSL_CTX_set_cipher_list(cctx, "ALL:@SECLEVEL=0"), 1);
    assert_int_equal(SSL_CTX_set_min_proto_version(cctx, TLS1_VERSION), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(cctx, TLS1_1_VERSION), 1);
    assert_false(try_handshake(tls, cctx, "localhost", NULL));

    /* The same client allowed TLS 1.2 gets through. */
    assert_int_equal(SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION), 1);
    assert_true(try_handshake(tls, cctx, "localhost", NULL));

    SSL_CTX_free(cctx);
    vg_tls_free(tls);
}

/* A TLS 1.2 client offering only @ciphers; returns whether the handshake succeeded. */
static bool tls12_with(vg_tls *tls, const char *dir, const char *ciphers, char *chosen,
                       size_t chosen_size)
{
    SSL_CTX *cctx = client_ctx_new(dir);
    SSL_CTX *sctx = vg_tls_get_ctx(tls);
    conn c;
    bool ok;

    assert_int_equal(SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION), 1);
    assert_int_equal(SSL_CTX_set_cipher_list(cctx, ciphers), 1);
    conn_open(&c, sctx, cctx, "localhost", NULL);
    ok = conn_handshake(&c);
    if (ok && chosen)
        g_strlcpy(chosen, SSL_get_cipher_name(c.client), chosen_size);
    conn_close(&c);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    return ok;
}

static void test_tls_refuses_cbc_and_non_ecdhe_tls12_ciphers(void **state)
{
    env *e = *state;
    vg_tls *tls = load_dir(e->a);
    char chosen[64];

    /* CBC with ECDHE. */
    assert_false(tls12_with(tls, e->a, "ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA", NULL, 0));
    /* AEAD without forward secrecy. */
    assert_false(tls12_with(tls, e->a, "AES128-GCM-SHA256:AES256-GCM-SHA384", NULL, 0));
    /* Neither. */
    assert_false(tls12_with(tls, e->a, "AES128-SHA", NULL, 0));

    /* ECDHE with AEAD is accepted, with either AEAD. */
    assert_true(tls12_with(tls, e->a, "ECDHE-RSA-AES256-GCM-SHA384", chosen, sizeof(chosen)));
    assert_string_equal(chosen, "ECDHE-RSA-AES256-GCM-SHA384");
    assert_true(tls12_with(tls, e->a, "ECDHE-RSA-CHACHA20-POLY1305", chosen, sizeof(chosen)));
    assert_string_equal(chosen, "ECDHE-RSA-CHACHA20-POLY1305");
    /* The server's order decides: AES-128-GCM comes first. */
    assert_true(tls12_with(tls, e->a, "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256",
                           chosen, sizeof(chosen)));
    assert_string_equal(chosen, "ECDHE-RSA-AES128-GCM-SHA256");

    vg_tls_free(tls);
}

static void test_tls_refuses_renegotiation(void **state)
{
    env *e = *state;
    vg_tls *tls = load_dir(e->a);
    SSL_CTX *sctx = vg_tls_get_ctx(tls);
    SSL_CTX *cctx = client_ctx_new(e->a);
    bool renegotiated = false;
    char byte;
    conn c;

    /* Renegotiation exists only up to TLS 1.2. */
    assert_int_equal(SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION), 1);
    conn_open(&c, sctx, cctx, "localhost", NULL);
    assert_true(conn_handshake(&c));
    assert_int_equal(SSL_renegotiate(c.client), 1);
    for (int i = 0; i < 1000; i++) {
        int r = SSL_do_handshake(c.client);
        if (r == 1 && !SSL_renegotiate_pending(c.client)) {
            renegotiated = true;
            break;
        }
        if (r != 1 && SSL_get_error(c.client, r) != SSL_ERROR_WANT_READ &&
            SSL_get_error(c.client, r) != SSL_ERROR_WANT_WRITE)
            break;
        /* The server meets a renegotiation only while reading. */
        r = SSL_read(c.server, &byte, 1);
        if (r <= 0 && SSL_get_error(c.server, r) != SSL_ERROR_WANT_READ &&
            SSL_get_error(c.server, r) != SSL_ERROR_WANT_WRITE)
            break;
    }
    assert_false(renegotiated);
    conn_close(&c);

    /* Nor does the server start one (OpenSSL 3 already refuses the client's). */
    conn_open(&c, sctx, cctx, "localhost", NULL);
    assert_true(conn_handshake(&c));
    assert_int_equal(SSL_version(c.server), TLS1_2_VERSION);
    assert_int_equal(SSL_renegotiate(c.server), 0);
    assert_int_equal(ERR_GET_REASON(ERR_peek_error()), SSL_R_NO_RENEGOTIATION);
    conn_close(&c);

    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    vg_tls_free(tls);
}

static void test_tls_reload_serves_new_cert_to_new_connections_only(void **state)
{
    env *e = *state;
    char *dir = file_in(e->base, "reload");
    char *crt = file_in(dir, "server.crt"), *key = file_in(dir, "server.key");
    const char *more_names[] = {"--name", "vm.example.test", NULL};
    char old_fp[VG_TLS_FINGERPRINT_SIZE], new_fp[VG_TLS_FINGERPRINT_SIZE];
    char seen[VG_TLS_FINGERPRINT_SIZE];
    char *error = NULL;
    vg_tls *tls;
    SSL_CTX *old_ctx, *new_ctx, *cctx;
    conn before, after;

    run_mkcerts(dir, NULL);
    tls = load_dir(dir);
    vg_tls_fingerprint(tls, old_fp);
    cctx = client_ctx_new(dir);

    /* A connection accepted before the reload, whose handshake is still to come. */
    old_ctx = vg_tls_get_ctx(tls);
    conn_open(&before, old_ctx, cctx, "localhost", NULL);
    SSL_CTX_free(old_ctx);

    /* New names: mkcerts issues a new certificate from the same CA. */
    run_mkcerts(dir, more_names);
    assert_int_equal(vg_tls_reload(tls, crt, key, &error), 0);
    assert_null(error);
    vg_tls_fingerprint(tls, new_fp);
    assert_string_not_equal(old_fp, new_fp);
    {
        char *cli = openssl_cli_fingerprint(crt);
        assert_string_equal(new_fp, cli);
        g_free(cli);
    }

    new_ctx = vg_tls_get_ctx(tls);
    conn_open(&after, new_ctx, cctx, "vm.example.test", NULL);
    SSL_CTX_free(new_ctx);
    assert_true(conn_handshake(&after));
    peer_fingerprint(&after, seen);
    assert_string_equal(seen, new_fp);
    conn_close(&after);

    /* The old context outlives the vg_tls as long as an SSL holds it. */
    vg_tls_free(tls);
    assert_true(conn_handshake(&before));
    peer_fingerprint(&before, seen);
    assert_string_equal(seen, old_fp);
    conn_close(&before);

    SSL_CTX_free(cctx);
    g_free(crt);
    g_free(key);
    g_free(dir);
}

static char *read_all(const char *dir, const char *name)
{
    char *path = file_in(dir, name), *text = NULL;

    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_free(path);
    return text;
}

static void assert_mode(const char *dir, const char *name, mode_t mode)
{
    char *path = file_in(dir, name);
    GStatBuf st;

    assert_int_equal(g_stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, mode);
    g_free(path);
}

static void test_mkcerts_makes_a_server_leaf_and_is_idempotent(void **state)
{
    env *e = *state;
    char *dir = file_in(e->base, "idempotent");
    const char *more_names[] = {"--ip", "192.0.2.7", "--name", "VM.Example.Test", NULL};
    const char *same_names[] = {"--name", "vm.example.test", "--ip", "192.0.2.7", NULL};
    char *ca1, *crt1, *key1, *ca2, *crt2, *key2, *ca3, *crt3;
    char *crt_path = file_in(dir, "server.crt");
    FILE *f;
    X509 *leaf, *ca;
    EVP_PKEY *pub;
    vg_tls *tls;
    SSL_CTX *cctx;

    run_mkcerts(dir, NULL);
    assert_mode(dir, "ca.key", 0600);
    assert_mode(dir, "server.key", 0600);

    /* The leaf: RSA 3072, SHA-256, not a CA, for TLS servers, then the CA. */
    f = fopen(crt_path, "r");
    assert_non_null(f);
    leaf = PEM_read_X509(f, NULL, NULL, NULL);
    ca = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(leaf);
    assert_non_null(ca);
    assert_int_equal(X509_check_ca(leaf), 0);
    assert_true(X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE);
    assert_true(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER);
    assert_int_equal(X509_get_signature_nid(leaf), NID_sha256WithRSAEncryption);
    pub = X509_get0_pubkey(leaf);
    assert_non_null(pub);
    assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_RSA);
    assert_int_equal(EVP_PKEY_get_bits(pub), 3072);
    assert_true(X509_check_ca(ca) > 0);
    X509_free(leaf);
    X509_free(ca);

    ca1 = read_all(dir, "ca.crt");
    crt1 = read_all(dir, "server.crt");
    key1 = read_all(dir, "server.key");

    /* Again with the same (default) names: nothing changes. */
    run_mkcerts(dir, NULL);
    ca2 = read_all(dir, "ca.crt");
    crt2 = read_all(dir, "server.crt");
    key2 = read_all(dir, "server.key");
    assert_string_equal(ca1, ca2);
    assert_string_equal(crt1, crt2);
    assert_string_equal(key1, key2);
    g_free(ca2);
    g_free(crt2);
    g_free(key2);

    /* More names: same CA, a new server certificate naming them. */
    run_mkcerts(dir, more_names);
    ca2 = read_all(dir, "ca.crt");
    crt2 = read_all(dir, "server.crt");
    assert_string_equal(ca1, ca2);
    assert_string_not_equal(crt1, crt2);
    tls = load_dir(dir);
    cctx = client_ctx_new(dir);
    assert_true(try_handshake(tls, cctx, "vm.example.test", NULL));
    assert_true(try_handshake(tls, cctx, NULL, "192.0.2.7"));
    assert_true(try_handshake(tls, cctx, "localhost", "127.0.0.1"));
    SSL_CTX_free(cctx);
    vg_tls_free(tls);

    /* The same names in another order and case: kept. */
    run_mkcerts(dir, same_names);
    ca3 = read_all(dir, "ca.crt");
    crt3 = read_all(dir, "server.crt");
    assert_string_equal(ca1, ca3);
    assert_string_equal(crt2, crt3);

    g_free(ca1);
    g_free(crt1);
    g_free(key1);
    g_free(ca2);
    g_free(crt2);
    g_free(ca3);
    g_free(crt3);
    g_free(crt_path);
    g_free(dir);
}

int main(void)
{
    /*
     * Without the system's OpenSSL configuration: Debian's already asks for
     * TLS 1.2 and security level 2, which would hide a context that does
     * not. Must happen before OpenSSL reads its configuration.
     */
    setenv("OPENSSL_CONF", "/dev/null", 1);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_loads_mkcerts_chain_with_safe_settings),
        cmocka_unit_test(test_tls_refuses_mismatched_key_naming_files),
        cmocka_unit_test(test_tls_refuses_missing_or_unusable_files_naming_them),
        cmocka_unit_test(test_tls_handshake_verifies_localhost_and_loopback_ips),
        cmocka_unit_test(test_tls_refuses_tls11_client),
        cmocka_unit_test(test_tls_refuses_cbc_and_non_ecdhe_tls12_ciphers),
        cmocka_unit_test(test_tls_refuses_renegotiation),
        cmocka_unit_test(test_tls_reload_serves_new_cert_to_new_connections_only),
        cmocka_unit_test(test_mkcerts_makes_a_server_leaf_and_is_idempotent),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
