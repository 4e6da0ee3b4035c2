/*
 * vmgate — the RFB prelude on the public VNC socket: protocol version,
 * security type VeNCrypt (19) with subtype X509Plain (262), TLS, Plain
 * credentials, the caller's decision, SecurityResult. Only when the caller
 * allows it and the peer is on loopback is subtype Plain (256, the same
 * credentials without TLS) offered as well.
 *
 * The prelude knows no broker policy: it hands the credentials to a
 * callback and reports the callback's answer to the client.
 *
 * Threading: vg_vnc_prelude_run() blocks the calling thread (a connection
 * thread) until the prelude ends or its deadline passes; it holds no locks
 * and shares no state between calls.
 */
#ifndef VG_VNC_PRELUDE_H
#define VG_VNC_PRELUDE_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "model.h"

/** RFB security type and VeNCrypt subtypes used by the prelude. */
#define VG_RFB_SEC_NONE        1
#define VG_RFB_SEC_VNC_AUTH    2
#define VG_RFB_SEC_VENCRYPT    19
#define VG_VENCRYPT_PLAIN      256
#define VG_VENCRYPT_TLS_PLAIN  259
#define VG_VENCRYPT_X509_PLAIN 262

/** Longest Plain user name and password accepted (bytes, without NUL): the
 * user name may be "VM/user", with the longest VM name vmgate serves. */
#define VG_VNC_USER_MAX     (VG_VM_NAME_MAX + 1 + VG_NAME_MAX)
#define VG_VNC_PASSWORD_MAX 1024

/** Default deadline for the whole prelude. */
#define VG_VNC_PRELUDE_TIMEOUT_MS 10000

/**
 * The decision on Plain credentials.
 *
 * Runs on the thread of vg_vnc_prelude_run(). @user and @password are valid
 * UTF-8 without NUL; @password is wiped after the call, never log it.
 * @param reason  on refusal, a reason for the user (sent to the client)
 * @return 0 to accept, anything else to refuse.
 */
typedef int (*vg_vnc_authenticate_fn)(void *opaque, const char *user, const char *password,
                                      const char *peer_addr, char *reason, size_t reason_len);

/** What the prelude needs; the caller keeps ownership of everything. */
typedef struct vg_vnc_prelude_params {
    SSL_CTX *ssl_ctx;      /**< server context with certificate and key (TLS 1.2+) */
    const char *peer_addr; /**< for the callback and logs, e.g. "192.0.2.1:53211" or
                                "[::1]:53211"; also decides whether the peer is on loopback */
    int timeout_ms;        /**< deadline for the whole prelude; 0 = VG_VNC_PRELUDE_TIMEOUT_MS */
    vg_vnc_authenticate_fn authenticate;
    void *opaque; /**< for @authenticate */
    /** Also offer VeNCrypt Plain (256, no TLS) when @peer_addr is a loopback
     * address (127.0.0.0/8, ::1, ::ffff:127.x.y.z); refused otherwise. */
    bool allow_insecure_loopback;
} vg_vnc_prelude_params;

/** What a successful prelude yields. */
typedef struct vg_vnc_prelude_result {
    SSL *ssl; /**< established TLS on the socket, the caller frees it; NULL after an
                   unencrypted (VeNCrypt Plain) login from loopback */
    char user[VG_VNC_USER_MAX + 1]; /**< the accepted user name */
    int minor_version;              /**< the client's RFB minor version (7 or 8) */
} vg_vnc_prelude_result;

/**
 * Run the server side of the prelude on @fd, a connected stream socket.
 *
 * On success the client has been told SecurityResult OK over TLS and the
 * next bytes from it are its ClientInit, inside @out->ssl (or, after a
 * VeNCrypt Plain login allowed on loopback, in clear on @fd with
 * @out->ssl NULL). @fd is left in
 * non-blocking mode (the relay polls it) and stays owned by the caller, as
 * does @out->ssl (SSL_free it; it does not close @fd). On failure the client
 * has been told why where the protocol allows it and nothing needs freeing.
 *
 * @return 0; -EPROTO for a protocol violation or TLS failure, -EPROTONOSUPPORT
 *         for an unsupported RFB version, security type or VeNCrypt version
 *         or subtype (also Plain where it is not allowed),
 *         -EMSGSIZE for oversized credentials, -EACCES when the callback
 *         refused, -ETIMEDOUT at the deadline, -ECONNRESET when the client
 *         went away, -EINVAL for bad parameters, -ENOMEM.
 */
int vg_vnc_prelude_run(int fd, const vg_vnc_prelude_params *params, vg_vnc_prelude_result *out);

/**
 * The prelude for a viewer that logged in elsewhere (the browser, whose
 * user the web front end checked before any RFB byte): RFB 3.8 with only
 * security type None offered, then SecurityResult OK. On @fd in clear (a
 * socketpair end; what protects the link is the caller's), left
 * non-blocking; the next bytes from the client are its ClientInit.
 * @return 0; -EPROTO, -EPROTONOSUPPORT (not RFB 3.8 or did not choose
 *         None), -ETIMEDOUT, -ECONNRESET.
 */
int vg_vnc_prelude_none(int fd, const char *peer, int timeout_ms);

#endif /* VG_VNC_PRELUDE_H */
