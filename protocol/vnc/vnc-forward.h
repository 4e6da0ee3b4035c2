/*
 * vmgate — a VNC viewer forwarded to another gateway: the entrance logs
 * the viewer in, logs in on the gateway that holds the VM as an RFB client
 * would (VeNCrypt X509Plain, the target's certificate checked against the
 * CA given, a single-use grant as the credentials), and from then on
 * copies bytes both ways. RFB's ClientInit and everything after it pass
 * through unchanged: both sides are past SecurityResult.
 *
 * Threading: vg_vnc_upstream_connect blocks the calling thread (a
 * connection's, during its login) until its deadline. A forward runs on a
 * thread of its own, which owns both connections until it ends; the owner
 * only stops it (any thread) and frees it (joins).
 */
#ifndef VG_VNC_FORWARD_H
#define VG_VNC_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/** Where and as whom to log in. */
typedef struct vg_vnc_forward_target {
    const char *address; /**< host name or IP address; the certificate must name it */
    unsigned port;
    const char *user;     /**< the login name there */
    const char *password; /**< the password there (a grant's secret) */
    SSL_CTX *ctx;         /**< a client context that checks the target's certificate */
} vg_vnc_forward_target;

/** A connection logged in on the target: past its SecurityResult. */
typedef struct vg_vnc_upstream vg_vnc_upstream;

/**
 * Connect to @t and log in, by the monotonic @deadline_us.
 * @return 0 and *out; or a negative errno with @reason (for the viewer:
 *         the target's own refusal when it gave one).
 */
int vg_vnc_upstream_connect(const vg_vnc_forward_target *t, int64_t deadline_us,
                            vg_vnc_upstream **out, char *reason, size_t reason_len);

/** Close and free a connection that was never forwarded. NULL is fine. */
void vg_vnc_upstream_free(vg_vnc_upstream *u);

typedef struct vg_vnc_forward vg_vnc_forward;

/** Called once, on the forward's thread, when it ended by itself or was stopped. */
typedef void (*vg_vnc_forward_ended_fn)(void *opaque, const char *reason);

/**
 * Copy between the viewer (@ssl over @fd, or @fd in clear when @ssl is
 * NULL) and @up, each way through a bounded buffer: a side that takes
 * nothing for @stall_timeout_ms while bytes wait for it ends the forward.
 * Takes @ssl, @fd and @up (also on failure).
 * @return 0 and *out, or a negative errno.
 */
int vg_vnc_forward_new(SSL *ssl, int fd, vg_vnc_upstream *up, const char *label,
                       unsigned stall_timeout_ms, vg_vnc_forward_ended_fn ended, void *opaque,
                       vg_vnc_forward **out);

/** Make the forward end (its ended callback follows). Any thread. */
void vg_vnc_forward_stop(vg_vnc_forward *f);

/** Stop, wait for its thread, close both connections, free. NULL is fine. */
void vg_vnc_forward_free(vg_vnc_forward *f);

#endif /* VG_VNC_FORWARD_H */
