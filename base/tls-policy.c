/*
 * vmgate — the TLS policy of every port. See tls-policy.h.
 */
#include "tls-policy.h"

#include <errno.h>
#include <poll.h>

#include <glib.h>
#include <openssl/conf.h>
#include <openssl/err.h>

#include "log.h"
#include "net.h"

#define TAG "tls"

/*
 * The same policy as vg_tls_policy_apply(), in OpenSSL's configuration
 * language (SSL_CONF_cmd names): the "system_default" section applies to
 * every SSL_CTX made afterwards. "-SessionTicket" is SSL_OP_NO_TICKET;
 * NumTickets 0 stops TLS 1.3 tickets.
 */
static const char policy_conf[] = "openssl_conf = vmgate_init\n"
                                  "[vmgate_init]\n"
                                  "ssl_conf = vmgate_ssl\n"
                                  "[vmgate_ssl]\n"
                                  "system_default = vmgate_tls\n"
                                  "[vmgate_tls]\n"
                                  "MinProtocol = TLSv1.2\n"
                                  "CipherString = " VG_TLS_CIPHERS_TLS12 "\n"
                                  "Options = ServerPreference, PrioritizeChaCha, "
                                  "NoRenegotiation, -Compression, -SessionTicket\n"
                                  "NumTickets = 0\n";

static gpointer install_once(gpointer unused)
{
    BIO *bio = NULL;
    CONF *conf = NULL;
    long line = -1;
    int r = -EIO;

    (void)unused;
    /* Load the system configuration first, so that it cannot come later
     * (at the first SSL_CTX) and replace this one. */
    if (!OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL))
        goto out;
    ERR_clear_error();
    bio = BIO_new_mem_buf(policy_conf, -1);
    conf = NCONF_new(NULL);
    if (!bio || !conf || NCONF_load_bio(conf, bio, &line) <= 0)
        goto out;
    if (CONF_modules_load(conf, NULL, 0) <= 0)
        goto out;
    r = 0;
out:
    if (r < 0) {
        unsigned long e = ERR_get_error();
        char why[256] = "";
        if (e)
            ERR_error_string_n(e, why, sizeof(why));
        vg_error(TAG, "cannot make the TLS policy OpenSSL's default (line %ld): %s", line, why);
        ERR_clear_error();
    }
    NCONF_free(conf);
    BIO_free(bio);
    return GINT_TO_POINTER(r == 0 ? 1 : -1);
}

int vg_tls_policy_install(void)
{
    static GOnce once = G_ONCE_INIT;
    return GPOINTER_TO_INT(g_once(&once, install_once, NULL)) == 1 ? 0 : -EIO;
}

int vg_tls_policy_apply(SSL_CTX *ctx)
{
    const uint64_t options = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                             SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA;

    if ((SSL_CTX_set_options(ctx, options) & options) != options ||
        !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(ctx, VG_TLS_CIPHERS_TLS12))
        return -EINVAL;
    /* No TLS 1.3 session tickets either: vmgate does not resume sessions,
     * and the ticket records that follow the handshake arrive together with
     * the first application data; TigerVNC (GnuTLS) then stalls with that
     * data buffered inside its TLS layer, waiting on a socket that stays
     * quiet. */
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    /* After the cipher list, which could carry its own @SECLEVEL. */
    if (SSL_CTX_get_security_level(ctx) < VG_TLS_MIN_SECURITY_LEVEL)
        SSL_CTX_set_security_level(ctx, VG_TLS_MIN_SECURITY_LEVEL);
    return 0;
}

int vg_tls_want(SSL *ssl, int ret, short *events)
{
    switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        *events = POLLIN;
        return 0;
    case SSL_ERROR_WANT_WRITE:
        *events = POLLOUT;
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        return -ECONNRESET;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        return errno == 0 || errno == EPIPE ? -ECONNRESET : -errno;
    default:
        return -EPROTO;
    }
}

/* A handshake step (SSL_accept or SSL_connect) until done or @deadline_us. */
static int handshake(SSL *ssl, int fd, int (*step)(SSL *), int64_t deadline_us)
{
    for (;;) {
        errno = 0;
        int r = step(ssl);
        if (r == 1)
            return 0;
        short events = 0;
        int err = vg_tls_want(ssl, r, &events);
        if (err == 0)
            err = vg_net_wait_fd(fd, events, deadline_us);
        if (err < 0)
            return err == -ECONNRESET ? -EPROTO : err;
    }
}

int vg_tls_accept(SSL *ssl, int fd, int64_t deadline_us)
{
    return handshake(ssl, fd, SSL_accept, deadline_us);
}

int vg_tls_connect(SSL *ssl, int fd, int64_t deadline_us)
{
    return handshake(ssl, fd, SSL_connect, deadline_us);
}

const char *vg_tls_take_error(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();

    if (len)
        buf[0] = '\0';
    if (e && len)
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}
