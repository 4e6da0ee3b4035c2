/*
 * vmgate — the RFB prelude on the public VNC socket.
 *
 * Why by hand: libvncserver 0.9.14 has no server side of VeNCrypt (only its
 * client library speaks it), and its own TLS support is tied to its
 * listening sockets and to anonymous TLS. vmgate therefore speaks the
 * prelude itself, up to SecurityResult, and only then hands the connection
 * (through the relay) to libvncserver, which sees a local client that
 * chose security type None.
 *
 * Sequence (RFB 3.7/3.8 and the VeNCrypt extension):
 *   S: "RFB 003.008\n"            C: "RFB 003.00{7,8}\n"
 *   S: u8 1, u8 19 (VeNCrypt)     C: u8 19
 *   S: u8 0, u8 2 (version 0.2)   C: u8 0, u8 2        S: u8 0 (ok)
 *   S: u8 1, u32 262 (X509Plain)  C: u32 262           S: u8 1 (ok)
 *   TLS handshake (server certificate from the caller's SSL_CTX)
 *   C: u32 ulen, u32 plen, user, password
 *   S: SecurityResult u32 0, or u32 1 + (3.8) u32 len + reason
 *
 * Only X509Plain is offered. The VeNCrypt TLS* subtypes (TLSPlain 259 and
 * friends) mean anonymous Diffie-Hellman TLS, which authenticates no one;
 * vmgate always has a certificate, so there is no reason to offer them.
 *
 * The exception, for local tools that speak no TLS: when the caller allows
 * it and the peer is on loopback, Plain (256) is offered after X509Plain.
 * A client that picks it gets no acknowledgement byte (that byte belongs to
 * the TLS subtypes) and sends the same Plain credentials in clear; the
 * decision and SecurityResult are the same, without TLS. Anywhere else, a
 * client that picks 256 gets a failed SecurityResult with a reason (its
 * first byte, 0, also reads as "subtype refused").
 *
 * Threading: runs on the caller's thread, shares nothing between calls.
 */
#include "vnc-prelude.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <openssl/crypto.h>

#include "log.h"
#include "tls-policy.h"
#include "util.h"
#include "vnc-io-priv.h"

#define TAG "vnc"

#define RFB_VERSION_LEN 12
#define REASON_MAX      256

#define INSECURE_REFUSED "unencrypted VNC is not allowed"

static const char server_version[RFB_VERSION_LEN + 1] = "RFB 003.008\n";

/* Parse "RFB xxx.yyy\n"; @return 0 or -EPROTO when malformed. */
static int parse_version(const char *v, int *major, int *minor)
{
    if (memcmp(v, "RFB ", 4) != 0 || v[7] != '.' || v[11] != '\n')
        return -EPROTO;
    int ma = 0, mi = 0;
    for (int i = 4; i < 7; i++) {
        if (!g_ascii_isdigit(v[i]))
            return -EPROTO;
        ma = ma * 10 + (v[i] - '0');
    }
    for (int i = 8; i < 11; i++) {
        if (!g_ascii_isdigit(v[i]))
            return -EPROTO;
        mi = mi * 10 + (v[i] - '0');
    }
    *major = ma;
    *minor = mi;
    return 0;
}

/*
 * Whether @peer ("a.b.c.d:port" or "[v6]:port") is a loopback address:
 * 127.0.0.0/8, ::1 or ::ffff:127.x.y.z. Anything unparsable is not.
 */
static bool peer_is_loopback(const char *peer)
{
    char host[INET6_ADDRSTRLEN];
    const char *start = peer, *end;
    if (!peer)
        return false;
    if (peer[0] == '[') {
        start = peer + 1;
        end = strchr(start, ']');
    } else {
        end = strrchr(peer, ':');
    }
    if (!end || end <= start || (size_t)(end - start) >= sizeof(host))
        return false;
    memcpy(host, start, (size_t)(end - start));
    host[end - start] = '\0';
    if (peer[0] == '[') {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return false;
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    }
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) != 1)
        return false;
    return (ntohl(a4.s_addr) >> 24) == 127;
}

/* Exactly @n bytes, over TLS when @ssl is set, else in clear. */
static int read_full(SSL *ssl, int fd, void *buf, size_t n, int64_t deadline_us)
{
    return ssl ? vg_vnc_ssl_read_full(ssl, fd, buf, n, deadline_us)
               : vg_vnc_read_full(fd, buf, n, deadline_us);
}

/* u32 length + text, as RFB reason strings are sent. */
static size_t put_reason(uint8_t *buf, size_t cap, const char *reason)
{
    size_t len = strlen(reason);
    if (len > cap - 4)
        len = cap - 4;
    vg_vnc_put_u32(buf, (uint32_t)len);
    memcpy(buf + 4, reason, len);
    return 4 + len;
}

/* SecurityResult failed; RFB 3.7 carries no reason. Best effort. */
static void send_result_failed(SSL *ssl, int fd, int minor, const char *reason, int64_t deadline_us)
{
    uint8_t buf[8 + REASON_MAX];
    size_t n = 4;
    vg_vnc_put_u32(buf, 1);
    if (minor >= 8)
        n += put_reason(buf + 4, sizeof(buf) - 4, reason);
    if (ssl)
        (void)vg_vnc_ssl_write_full(ssl, fd, buf, n, deadline_us);
    else
        (void)vg_vnc_write_full(fd, buf, n, deadline_us);
}

/* The Plain credentials (over TLS, or in clear when @ssl is NULL), the
 * decision and SecurityResult. */
static int plain_auth(SSL *ssl, int fd, const vg_vnc_prelude_params *p, int minor,
                      int64_t deadline_us, char *user_out)
{
    uint8_t lens[8];
    char user[VG_VNC_USER_MAX + 1];
    char password[VG_VNC_PASSWORD_MAX + 1];
    char reason[REASON_MAX] = "";
    const char *peer = p->peer_addr ? p->peer_addr : "?";
    int err = read_full(ssl, fd, lens, sizeof(lens), deadline_us);
    if (err < 0)
        return err;
    uint32_t ulen = vg_vnc_get_u32(lens), plen = vg_vnc_get_u32(lens + 4);
    /* Bounded before anything is read: the buffers are fixed, nothing is
     * allocated from these lengths. */
    if (ulen > VG_VNC_USER_MAX || plen > VG_VNC_PASSWORD_MAX) {
        vg_notice(TAG, "peer %s: credentials too long (user %u, password %u bytes)", peer, ulen,
                  plen);
        send_result_failed(ssl, fd, minor, "user name or password too long", deadline_us);
        return -EMSGSIZE;
    }
    err = read_full(ssl, fd, user, ulen, deadline_us);
    if (err == 0)
        err = read_full(ssl, fd, password, plen, deadline_us);
    if (err < 0)
        goto out;
    user[ulen] = '\0';
    password[plen] = '\0';
    /* g_utf8_validate with an explicit length also refuses NUL bytes. */
    if (!g_utf8_validate(user, ulen, NULL) || !g_utf8_validate(password, plen, NULL)) {
        vg_notice(TAG, "peer %s: credentials are not valid UTF-8", peer);
        send_result_failed(ssl, fd, minor, "user name or password is not valid UTF-8", deadline_us);
        err = -EPROTO;
        goto out;
    }
    if (p->authenticate(p->opaque, user, password, peer, reason, sizeof(reason)) != 0) {
        reason[sizeof(reason) - 1] = '\0';
        if (!reason[0])
            g_strlcpy(reason, "authentication failed", sizeof(reason));
        vg_notice(TAG, "peer %s user %s: refused: %s", peer, user, reason);
        send_result_failed(ssl, fd, minor, reason, deadline_us);
        err = -EACCES;
        goto out;
    }
    uint8_t ok[4];
    vg_vnc_put_u32(ok, 0);
    err = ssl ? vg_vnc_ssl_write_full(ssl, fd, ok, sizeof(ok), deadline_us)
              : vg_vnc_write_full(fd, ok, sizeof(ok), deadline_us);
    if (err == 0)
        memcpy(user_out, user, ulen + 1);
out:
    OPENSSL_cleanse(password, sizeof(password));
    return err;
}

int vg_vnc_prelude_run(int fd, const vg_vnc_prelude_params *p, vg_vnc_prelude_result *out)
{
    if (fd < 0 || !p || !p->ssl_ctx || !p->authenticate || !out)
        return -EINVAL;
    const char *peer = p->peer_addr ? p->peer_addr : "?";
    int64_t deadline =
        vg_now_us() +
        (int64_t)(p->timeout_ms > 0 ? p->timeout_ms : VG_VNC_PRELUDE_TIMEOUT_MS) * 1000;
    SSL *ssl = NULL;
    char version[RFB_VERSION_LEN];
    uint8_t buf[8 + REASON_MAX];
    int major = 0, minor = 0;
    bool insecure_ok = p->allow_insecure_loopback && peer_is_loopback(p->peer_addr);
    int err = vg_vnc_set_nonblock(fd);
    if (err < 0)
        return err;

    err = vg_vnc_write_full(fd, server_version, RFB_VERSION_LEN, deadline);
    if (err == 0)
        err = vg_vnc_read_full(fd, version, sizeof(version), deadline);
    if (err < 0)
        goto fail;
    if (parse_version(version, &major, &minor) < 0) {
        vg_notice(TAG, "peer %s: not an RFB client", peer);
        err = -EPROTO;
        goto fail;
    }
    if (major != 3 || (minor != 7 && minor != 8)) {
        /* The RFB 3.3 failure form (u32 0, reason) is the one any client
         * version understands before the security handshake. */
        vg_notice(TAG, "peer %s: unsupported RFB version %d.%d", peer, major, minor);
        vg_vnc_put_u32(buf, 0);
        size_t n = 4 + put_reason(buf + 4, sizeof(buf) - 4,
                                  "this gateway requires RFB 3.7 or 3.8 with VeNCrypt (TLS)");
        (void)vg_vnc_write_full(fd, buf, n, deadline);
        err = -EPROTONOSUPPORT;
        goto fail;
    }

    /* Security types: VeNCrypt only. */
    buf[0] = 1;
    buf[1] = VG_RFB_SEC_VENCRYPT;
    err = vg_vnc_write_full(fd, buf, 2, deadline);
    if (err == 0)
        err = vg_vnc_read_full(fd, buf, 1, deadline);
    if (err < 0)
        goto fail;
    if (buf[0] != VG_RFB_SEC_VENCRYPT) {
        vg_notice(TAG, "peer %s: chose security type %u, not VeNCrypt", peer, buf[0]);
        send_result_failed(NULL, fd, minor, "this gateway requires VeNCrypt (TLS)", deadline);
        err = -EPROTONOSUPPORT;
        goto fail;
    }

    /* VeNCrypt version 0.2. */
    buf[0] = 0;
    buf[1] = 2;
    err = vg_vnc_write_full(fd, buf, 2, deadline);
    if (err == 0)
        err = vg_vnc_read_full(fd, buf, 2, deadline);
    if (err < 0)
        goto fail;
    if (buf[0] != 0 || buf[1] != 2) {
        vg_notice(TAG, "peer %s: unsupported VeNCrypt version %u.%u", peer, buf[0], buf[1]);
        buf[0] = 1;
        (void)vg_vnc_write_full(fd, buf, 1, deadline);
        err = -EPROTONOSUPPORT;
        goto fail;
    }
    buf[0] = 0;                   /* version accepted */
    buf[1] = insecure_ok ? 2 : 1; /* subtypes, preferred first */
    vg_vnc_put_u32(buf + 2, VG_VENCRYPT_X509_PLAIN);
    if (insecure_ok)
        vg_vnc_put_u32(buf + 6, VG_VENCRYPT_PLAIN);
    err = vg_vnc_write_full(fd, buf, 2 + 4 * (size_t)buf[1], deadline);
    if (err == 0)
        err = vg_vnc_read_full(fd, buf, 4, deadline);
    if (err < 0)
        goto fail;
    uint32_t subtype = vg_vnc_get_u32(buf);
    if (subtype == VG_VENCRYPT_PLAIN && !insecure_ok) {
        vg_notice(TAG, "peer %s: chose VeNCrypt Plain (no TLS): refused: %s", peer,
                  INSECURE_REFUSED);
        send_result_failed(NULL, fd, minor, INSECURE_REFUSED, deadline);
        err = -EPROTONOSUPPORT;
        goto fail;
    }
    if (subtype == VG_VENCRYPT_PLAIN) {
        err = plain_auth(NULL, fd, p, minor, deadline, out->user);
        if (err < 0)
            goto fail;
        out->ssl = NULL;
        out->minor_version = minor;
        vg_notice(TAG, "peer %s user %s: unencrypted VNC login from loopback", peer, out->user);
        return 0;
    }
    if (subtype != VG_VENCRYPT_X509_PLAIN) {
        vg_notice(TAG, "peer %s: chose VeNCrypt subtype %u, not X509Plain", peer, subtype);
        buf[0] = 0;
        (void)vg_vnc_write_full(fd, buf, 1, deadline);
        err = -EPROTONOSUPPORT;
        goto fail;
    }
    buf[0] = 1;
    err = vg_vnc_write_full(fd, buf, 1, deadline);
    if (err < 0)
        goto fail;

    ssl = SSL_new(p->ssl_ctx);
    if (!ssl) {
        err = -ENOMEM;
        goto fail;
    }
    /* Retried writes after WANT_WRITE may come from a moved buffer in the relay. */
    SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (SSL_set_fd(ssl, fd) != 1) {
        err = -ENOMEM;
        goto fail;
    }
    err = vg_tls_accept(ssl, fd, deadline);
    if (err < 0) {
        char ebuf[160];
        vg_tls_take_error(ebuf, sizeof(ebuf));
        vg_notice(TAG, "peer %s: TLS handshake failed: %s", peer,
                  err == -ETIMEDOUT ? "timed out" : ebuf);
        goto fail;
    }

    err = plain_auth(ssl, fd, p, minor, deadline, out->user);
    if (err < 0)
        goto fail;
    out->ssl = ssl;
    out->minor_version = minor;
    vg_info(TAG, "peer %s user %s: VeNCrypt X509Plain accepted (%s)", peer, out->user,
            SSL_get_version(ssl));
    return 0;

fail:
    if (err == -ETIMEDOUT)
        vg_notice(TAG, "peer %s: prelude timed out", peer);
    else if (err == -ECONNRESET)
        vg_info(TAG, "peer %s: left during the prelude", peer);
    SSL_free(ssl);
    return err;
}

int vg_vnc_prelude_none(int fd, const char *peer, int timeout_ms)
{
    int64_t deadline =
        vg_now_us() + (int64_t)(timeout_ms > 0 ? timeout_ms : VG_VNC_PRELUDE_TIMEOUT_MS) * 1000;
    char version[RFB_VERSION_LEN];
    uint8_t buf[8 + REASON_MAX];
    int major = 0, minor = 0;
    int err = vg_vnc_set_nonblock(fd);

    if (!peer)
        peer = "?";
    if (err == 0)
        err = vg_vnc_write_full(fd, server_version, RFB_VERSION_LEN, deadline);
    if (err == 0)
        err = vg_vnc_read_full(fd, version, sizeof(version), deadline);
    if (err < 0)
        return err;
    if (parse_version(version, &major, &minor) < 0) {
        vg_notice(TAG, "peer %s: not an RFB client", peer);
        return -EPROTO;
    }
    if (major != 3 || minor != 8) {
        vg_notice(TAG, "peer %s: unsupported RFB version %d.%d", peer, major, minor);
        vg_vnc_put_u32(buf, 0);
        size_t n = 4 + put_reason(buf + 4, sizeof(buf) - 4, "this gateway requires RFB 3.8");
        (void)vg_vnc_write_full(fd, buf, n, deadline);
        return -EPROTONOSUPPORT;
    }
    buf[0] = 1;
    buf[1] = VG_RFB_SEC_NONE;
    err = vg_vnc_write_full(fd, buf, 2, deadline);
    if (err == 0)
        err = vg_vnc_read_full(fd, buf, 1, deadline);
    if (err < 0)
        return err;
    if (buf[0] != VG_RFB_SEC_NONE) {
        vg_notice(TAG, "peer %s: chose security type %u, not None", peer, buf[0]);
        send_result_failed(NULL, fd, minor, "security type None was offered", deadline);
        return -EPROTONOSUPPORT;
    }
    vg_vnc_put_u32(buf, 0); /* SecurityResult OK */
    return vg_vnc_write_full(fd, buf, 4, deadline);
}
