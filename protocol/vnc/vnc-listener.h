/*
 * vmgate — the public VNC listener: accepts connections on one port for all
 * VMs, runs the VeNCrypt prelude on a thread per connection, and hands
 * accepted clients to the daemon. It enforces the connection limits that
 * keep the gateway alive under load: a cap on unauthenticated connections
 * (each also has the prelude's deadline), a cap on all connections that
 * keeps every descriptor libvncserver sees below FD_SETSIZE, and a clear
 * RFB failure reason ("gateway full") for the one over the limit.
 *
 * It knows no broker policy: the decision and the attach step are
 * callbacks.
 *
 * Threading: one accept thread; one thread per connection during the
 * prelude and the callbacks (which may block: password hashing, power on
 * demand). `lock` guards the counters. vg_vnc_listener_free() stops
 * accepting and waits for the prelude threads.
 */
#ifndef VG_VNC_LISTENER_H
#define VG_VNC_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

typedef struct vg_vnc_listener vg_vnc_listener;

typedef struct vg_vnc_listener_ops {
    /** A referenced SSL_CTX for the next connection (the certificate may be reloaded). */
    SSL_CTX *(*get_ssl_ctx)(void *opaque);
    /**
     * Decide on Plain credentials (see vg_vnc_authenticate_fn). On accept,
     * set *conn to anything the attach step needs.
     */
    int (*authenticate)(void *opaque, const char *user, const char *password, const char *peer,
                        void **conn, char *reason, size_t reason_len);
    /**
     * The client is authenticated and told so: take over @ssl and @fd
     * (both yours now, also on failure) and connect them to the VM. @ssl
     * is NULL after an unencrypted loopback login (allow_insecure_loopback).
     * Call vg_vnc_listener_release() when the connection ends.
     */
    void (*attach)(void *opaque, void *conn, SSL *ssl, int fd, const char *peer);
} vg_vnc_listener_ops;

typedef struct vg_vnc_listener_config {
    const char *address;            /**< IP literal to bind, e.g. "127.0.0.1" or "::" */
    unsigned port;                  /**< 0 picks a free port (tests) */
    unsigned max_unauth;            /**< connections still in the prelude (default 64) */
    unsigned max_unauth_per_source; /**< of those, from one address (default 4) */
    unsigned max_total;             /**< all connections (default 256, at most 300) */
    int prelude_timeout_ms;         /**< deadline for the whole login (default 10000) */
    /** Offer VeNCrypt Plain without TLS to loopback peers (see
     * vg_vnc_prelude_params); attach() then gets a NULL SSL. */
    bool allow_insecure_loopback;
} vg_vnc_listener_config;

/**
 * Bind and start accepting.
 * @return 0, -EADDRINUSE, -EACCES, -EINVAL (bad address), another -errno.
 */
int vg_vnc_listener_new(const vg_vnc_listener_config *cfg, const vg_vnc_listener_ops *ops,
                        void *opaque, vg_vnc_listener **out);

/** The port actually bound. */
unsigned vg_vnc_listener_port(vg_vnc_listener *l);

/** An attached connection ended: it no longer counts against max_total. */
void vg_vnc_listener_release(vg_vnc_listener *l);

/** Stop accepting, wait for connections still in the prelude, free. NULL is fine. */
void vg_vnc_listener_free(vg_vnc_listener *l);

#endif /* VG_VNC_LISTENER_H */
