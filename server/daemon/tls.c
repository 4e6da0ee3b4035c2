/*
 * vmgate — the TLS server context (see tls.h).
 *
 * Threading: any thread may call any function. tls->lock guards tls->ctx and
 * tls->fingerprint, which change together; it is held only to read or swap
 * them, never while loading files. A context is freed by whoever drops its
 * last reference (OpenSSL's reference counts are atomic).
 */
#include "tls.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "log.h"
#include "tls-policy.h"

struct vg_tls {
    GMutex lock;
    SSL_CTX *ctx; /* the current context; one reference owned here */
    char fingerprint[VG_TLS_FINGERPRINT_SIZE];
};

/*
 * Never prompt: OpenSSL's default would read a passphrase from the terminal,
 * which would hang a daemon started from one. Records that a passphrase was
 * wanted, so the error can say the key is encrypted.
 */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    if (userdata)
        *(bool *)userdata = true;
    return -1;
}

/*
 * Set *error to "<path>: <what>: <reason>" with OpenSSL's reason for the
 * oldest queued error (the root cause), and empty the queue.
 * @return -errno for a system error (a file that cannot be opened), else
 *         -EINVAL.
 */
static int fail_openssl(char **error, const char *path, const char *what)
{
    unsigned long e = ERR_peek_error();
    const char *reason = NULL;
    char buf[256];
    int rc = -EINVAL;

    if (e == 0) {
        reason = "unknown error";
    } else if (ERR_SYSTEM_ERROR(e)) {
        rc = ERR_GET_REASON(e) > 0 ? -(int)ERR_GET_REASON(e) : -EIO;
        reason = g_strerror(-rc);
    } else if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
        reason = "no PEM data found";
    } else if (ERR_GET_LIB(e) == ERR_LIB_OSSL_DECODER && ERR_GET_REASON(e) == ERR_R_UNSUPPORTED) {
        /* OpenSSL 3's decoders say only "unsupported" for anything unreadable. */
        reason = "no PEM private key found";
    } else {
        reason = ERR_reason_error_string(e);
        if (!reason) {
            ERR_error_string_n(e, buf, sizeof(buf));
            reason = buf;
        }
    }
    if (error)
        *error = g_strdup_printf("%s: %s: %s", path, what, reason);
    ERR_clear_error();
    return rc;
}

static void format_fingerprint(const unsigned char *md, unsigned n,
                               char out[VG_TLS_FINGERPRINT_SIZE])
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (unsigned i = 0; i < n && o + 3 <= VG_TLS_FINGERPRINT_SIZE; i++) {
        if (i > 0)
            out[o++] = ':';
        out[o++] = hex[md[i] >> 4];
        out[o++] = hex[md[i] & 0xf];
    }
    out[o] = '\0';
}

/* Read an unencrypted PEM private key; errors as fail_openssl. */
static int read_key(const char *path, EVP_PKEY **out, char **error)
{
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    bool wanted_passphrase = false;
    int rc;

    bio = BIO_new_file(path, "r");
    if (!bio) {
        rc = fail_openssl(error, path, "cannot open the private key");
        goto fail;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, &wanted_passphrase);
    if (!pkey) {
        if (wanted_passphrase) {
            ERR_clear_error();
            if (error)
                *error = g_strdup_printf("%s: the private key is encrypted; vmgated needs it "
                                         "unencrypted (readable by vmgated only)",
                                         path);
            rc = -EINVAL;
        } else {
            rc = fail_openssl(error, path, "cannot read the private key");
        }
        goto fail;
    }
    BIO_free(bio);
    *out = pkey;
    return 0;

fail:
    BIO_free(bio);
    return rc;
}

/*
 * Build a configured SSL_CTX holding @cert_path's chain and @key_path's key,
 * and the leaf's fingerprint. Errors as vg_tls_new.
 */
static int build_ctx(const char *cert_path, const char *key_path, SSL_CTX **out,
                     char fingerprint[VG_TLS_FINGERPRINT_SIZE], char **error)
{
    SSL_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    X509 *leaf;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    int rc;

    if (!cert_path || !*cert_path || !key_path || !*key_path) {
        if (error)
            *error = g_strdup("[tls] certificate and key must both be set");
        return -EINVAL;
    }
    ERR_clear_error();

    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        rc = fail_openssl(error, cert_path, "cannot create a TLS context");
        if (rc == -EINVAL)
            rc = -ENOMEM;
        goto fail;
    }
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    if (vg_tls_policy_apply(ctx) < 0) {
        rc = fail_openssl(error, cert_path, "cannot configure the TLS context");
        goto fail;
    }

    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
        rc = fail_openssl(error, cert_path, "cannot load the certificate chain");
        goto fail;
    }
    leaf = SSL_CTX_get0_certificate(ctx);
    if (!leaf) {
        if (error)
            *error = g_strdup_printf("%s: no certificate in the file", cert_path);
        rc = -EINVAL;
        goto fail;
    }

    rc = read_key(key_path, &pkey, error);
    if (rc < 0)
        goto fail;
    /* Checked here, before SSL_CTX_use_PrivateKey, to name both files. */
    if (X509_check_private_key(leaf, pkey) != 1) {
        ERR_clear_error();
        if (error)
            *error = g_strdup_printf("%s: the private key does not match the certificate in %s",
                                     key_path, cert_path);
        rc = -EINVAL;
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1) {
        rc = fail_openssl(error, key_path, "cannot use the private key");
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        rc = fail_openssl(error, key_path, "the private key does not match the certificate");
        goto fail;
    }

    if (X509_digest(leaf, EVP_sha256(), md, &md_len) != 1) {
        rc = fail_openssl(error, cert_path, "cannot compute the certificate's fingerprint");
        goto fail;
    }
    format_fingerprint(md, md_len, fingerprint);

    EVP_PKEY_free(pkey);
    *out = ctx;
    return 0;

fail:
    EVP_PKEY_free(pkey);
    SSL_CTX_free(ctx);
    return rc;
}

int vg_tls_new(const char *cert_path, const char *key_path, vg_tls **out, char **error)
{
    vg_tls *tls = NULL;
    int rc;

    vg_tls_policy_install(); /* once per process, for FreeRDP's contexts too */
    tls = g_new0(vg_tls, 1);
    g_mutex_init(&tls->lock);
    rc = build_ctx(cert_path, key_path, &tls->ctx, tls->fingerprint, error);
    if (rc < 0)
        goto fail;
    *out = tls;
    return 0;

fail:
    vg_tls_free(tls);
    return rc;
}

int vg_tls_reload(vg_tls *tls, const char *cert_path, const char *key_path, char **error)
{
    SSL_CTX *ctx = NULL, *old;
    char fingerprint[VG_TLS_FINGERPRINT_SIZE];
    int rc;

    rc = build_ctx(cert_path, key_path, &ctx, fingerprint, error);
    if (rc < 0)
        return rc;
    g_mutex_lock(&tls->lock);
    old = tls->ctx;
    tls->ctx = ctx;
    memcpy(tls->fingerprint, fingerprint, sizeof(fingerprint));
    g_mutex_unlock(&tls->lock);
    /* SSL objects made from the old context hold their own references. */
    SSL_CTX_free(old);
    return 0;
}

SSL_CTX *vg_tls_get_ctx(vg_tls *tls)
{
    SSL_CTX *ctx;

    g_mutex_lock(&tls->lock);
    ctx = tls->ctx;
    SSL_CTX_up_ref(ctx);
    g_mutex_unlock(&tls->lock);
    return ctx;
}

void vg_tls_fingerprint(vg_tls *tls, char out[VG_TLS_FINGERPRINT_SIZE])
{
    g_mutex_lock(&tls->lock);
    memcpy(out, tls->fingerprint, VG_TLS_FINGERPRINT_SIZE);
    g_mutex_unlock(&tls->lock);
}

void vg_tls_free(vg_tls *tls)
{
    if (!tls)
        return;
    SSL_CTX_free(tls->ctx);
    g_mutex_clear(&tls->lock);
    g_free(tls);
}

SSL_CTX *vg_tls_client_ctx_new(const char *ca)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char ebuf[160];

    if (ctx && vg_tls_policy_apply(ctx) == 0 && SSL_CTX_load_verify_locations(ctx, ca, NULL) == 1) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        return ctx;
    }
    vg_error("vmgated", "[instance] ca %s: %s", ca, vg_tls_take_error(ebuf, sizeof(ebuf)));
    SSL_CTX_free(ctx);
    return NULL;
}
