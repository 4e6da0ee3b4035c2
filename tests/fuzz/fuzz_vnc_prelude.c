/*
 * Fuzz target: the RFB prelude on vmgate's public VNC port, as a client
 * drives it before any login: the version, the security type, VeNCrypt's
 * version and subtype, the TLS handshake, and VeNCrypt Plain credentials
 * (in clear too: the peer is on loopback and that is allowed here, so the
 * credential parser is reached without a TLS handshake). The input is what
 * the client sends, then the connection closes.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "fuzz.h"
#include "log.h"
#include "vnc-prelude.h"

static SSL_CTX *server_ctx;

/* A self-signed P-256 certificate in a TLS 1.2+ context, made once. */
static SSL_CTX *make_server_ctx(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *crt = X509_new();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    X509_NAME *name;

    if (!key || !crt || !ctx)
        __builtin_trap();
    X509_set_version(crt, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(crt), 1);
    X509_gmtime_adj(X509_getm_notBefore(crt), -60);
    X509_gmtime_adj(X509_getm_notAfter(crt), 86400);
    X509_set_pubkey(crt, key);
    name = X509_get_subject_name(crt);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"vmgate-fuzz", -1,
                               -1, 0);
    X509_set_issuer_name(crt, name);
    if (X509_sign(crt, key, EVP_sha256()) <= 0 || SSL_CTX_use_certificate(ctx, crt) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
        __builtin_trap();
    X509_free(crt);
    EVP_PKEY_free(key);
    return ctx;
}

static int authenticate(void *opaque, const char *user, const char *password, const char *peer,
                        char *reason, size_t reason_len)
{
    (void)opaque;
    (void)peer;
    if (strcmp(user, "alice") == 0 && strcmp(password, "pw") == 0)
        return 0;
    strncpy(reason, "no", reason_len);
    return -1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    vg_log_set_level(VG_LOG_ERROR);
    server_ctx = make_server_ctx();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vg_vnc_prelude_params p = {.ssl_ctx = server_ctx,
                               .peer_addr = "127.0.0.1:5000",
                               .timeout_ms = 500,
                               .authenticate = authenticate,
                               .allow_insecure_loopback = true};
    vg_vnc_prelude_result res;
    int sv[2];

    if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    /* The whole input fits the socket buffer: the client's side is written
     * at once and closed, so the prelude never waits for more. */
    if (write(sv[1], data, size) == (ssize_t)size) {
        shutdown(sv[1], SHUT_WR);
        memset(&res, 0, sizeof(res));
        if (vg_vnc_prelude_run(sv[0], &p, &res) == 0) {
            if (strcmp(res.user, "alice") != 0)
                __builtin_trap(); /* only the accepted user gets through */
            if (res.ssl)
                SSL_free(res.ssl);
        }
    }
    close(sv[0]);
    close(sv[1]);
    return 0;
}
