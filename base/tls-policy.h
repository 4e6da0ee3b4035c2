/*
 * vmgate — the one TLS policy of every port (VNC after VeNCrypt, RDP after
 * X.224): TLS 1.2 or newer, OpenSSL security level 2 or higher, TLS 1.2
 * suites ECDHE with AEAD only (AES-GCM, ChaCha20-Poly1305), TLS 1.3 with
 * OpenSSL's suites (all AEAD), server cipher preference, no compression, no
 * renegotiation, no session tickets or session cache (vmgate does not
 * resume sessions).
 *
 * vmgate builds the VNC port's SSL_CTX itself and applies the policy with
 * vg_tls_policy_apply(). FreeRDP builds the RDP port's SSL_CTX inside its
 * own code, where only some of this can be set (cipher list, minimum
 * version, security level: rdp-server.c sets those from here); so
 * vg_tls_policy_install() also makes the policy OpenSSL's default for
 * every SSL_CTX the process creates afterwards ("system_default", the same
 * mechanism as the system-wide /etc/ssl/openssl.cnf, which it replaces for
 * this process only). tests/integration/tlsprobe.py checks that both ports
 * answer the same.
 *
 * Threading: vg_tls_policy_install() runs once whatever calls it (GOnce);
 * call it before the first SSL_CTX is made. vg_tls_policy_apply() may run
 * on any thread, on a context no other thread uses yet.
 */
#ifndef VG_TLS_POLICY_H
#define VG_TLS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/** The TLS 1.2 suites, in the server's order of preference. */
#define VG_TLS_CIPHERS_TLS12                                                                       \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/** The lowest OpenSSL security level accepted; a higher system setting stays. */
#define VG_TLS_MIN_SECURITY_LEVEL 2

/**
 * Make the policy OpenSSL's default for contexts created from now on.
 * @return 0, or -EIO when OpenSSL refused the configuration (logged; the
 *         contexts vmgate configures itself still get the policy).
 */
int vg_tls_policy_install(void);

/** Apply the policy to @ctx. @return 0, or -EINVAL when OpenSSL refused a setting. */
int vg_tls_policy_apply(SSL_CTX *ctx);

/**
 * What an OpenSSL call on a non-blocking socket that returned @ret waits
 * for: 0 with *events (POLLIN or POLLOUT), or -ECONNRESET (the peer
 * closed), -EPROTO (a TLS error), another negative errno (the socket).
 * Set errno to 0 before the call whose result this reads.
 */
int vg_tls_want(SSL *ssl, int ret, short *events);

/**
 * SSL_accept on @ssl, whose @fd is non-blocking, by the monotonic deadline
 * @deadline_us. @return 0, -ETIMEDOUT, -EPROTO (a TLS error or the peer
 * left), or a negative errno.
 */
int vg_tls_accept(SSL *ssl, int fd, int64_t deadline_us);

/** SSL_connect on @ssl, as vg_tls_accept. */
int vg_tls_connect(SSL *ssl, int fd, int64_t deadline_us);

/** OpenSSL's last error as text into @buf ("" when none), and its error queue cleared. */
const char *vg_tls_take_error(char *buf, size_t len);

#endif
