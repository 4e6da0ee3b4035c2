/*
 * vmgate — the VNC front end's protocol side: the public listener (RFB
 * prelude with VeNCrypt X509Plain, vnc-listener.h), a TLS relay per viewer
 * (vnc-relay.h) and one libvncserver screen per VM screen (vnc-screen.h),
 * shared by all of that screen's viewers. The daemon decides logins and
 * sessions through the ops below; it knows nothing of RFB.
 *
 * A connection's life:
 *   accept → prelude (TLS, Plain credentials) → login → SecurityResult →
 *   attach (the socketpair, the relay, the VM's screen) → screen updates
 *   and input until the viewer leaves, falls behind, a kick, or the VM's
 *   screen ends → ended.
 *
 * Threading: get_ssl_ctx, login and attach run on the connection's own
 * thread (login blocks: that is fine there); ended runs on the server's
 * reaper thread (or in vg_vnc_server_free), never inside a screen or relay
 * callback. vg_vnc_peer_kick may be called from any thread until ops.ended
 * has returned for that peer.
 */
#ifndef VG_VNC_SERVER_H
#define VG_VNC_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "display.h"
#include "viewer.h"
#include "vnc-forward.h"

typedef struct vg_vnc_server vg_vnc_server;
typedef struct vg_vnc_peer vg_vnc_peer;

typedef struct vg_vnc_server_config {
    const char *address;            /**< IP literal to bind; NULL: no listener, viewers
                                         come only through vg_vnc_server_adopt */
    unsigned port;                  /**< 0 picks a free port */
    bool allow_insecure_loopback;   /**< VeNCrypt Plain without TLS from loopback peers */
    unsigned max_unauth_per_source; /**< connections not logged in from one address (0: 4) */
    unsigned login_timeout_ms;      /**< from TCP to logged in (0: 10 s) */
    unsigned stall_timeout_ms;      /**< a viewer taking nothing this long is ended (0: 30 s) */
    int metric_protocol;            /**< vg_metric_proto its frames and bytes count under
                                         (0: VNC) */
} vg_vnc_server_config;

/** What a login carries. */
typedef struct vg_vnc_login {
    const char *user;     /**< as the client sent it (VM/user or user) */
    const char *password; /**< wiped after the call */
    const char *peer;     /**< "address:port" */
    /** Where the login may put a connection to another gateway, logged in
     * there, to forward the viewer to (login returns 1). */
    vg_vnc_upstream **upstream;
} vg_vnc_login;

typedef struct vg_vnc_server_ops {
    /** A referenced SSL_CTX for the next connection (the certificate may be reloaded). */
    SSL_CTX *(*get_ssl_ctx)(void *opaque);
    /**
     * Log in and choose a VM. On success return 0 with *source (the VM's
     * display: its screen and its input; the front end keeps it alive until
     * ended() for this connection returns) and *conn (the front end's
     * handle for the other ops); 1 with *login->upstream set, to forward
     * the viewer there (no other op is called for it); else -1 with a
     * reason the client is told.
     */
    int (*login)(void *opaque, const vg_vnc_login *login, vg_display_source **source, void **conn,
                 char *reason, size_t reason_len);
    /**
     * The viewer is about to be shown the screen: join the session. 0 with
     * *input, the viewer's input object (keys, pointer; it checks the
     * viewer's role at each event and is the front end's: valid until
     * ended() for this connection), or -1.
     */
    int (*attach)(void *opaque, void *conn, vg_vnc_peer *peer, vg_viewer **input);
    /** The connection ended (after a successful login). Last call for @conn and @peer. */
    void (*ended)(void *opaque, void *conn, vg_vnc_peer *peer, const char *reason);
} vg_vnc_server_ops;

/**
 * Listen on cfg->address:cfg->port.
 * @return 0 or a negative errno (-EINVAL for a bad address, -EADDRINUSE, ...).
 */
int vg_vnc_server_new(const vg_vnc_server_config *cfg, const vg_vnc_server_ops *ops, void *opaque,
                      vg_vnc_server **out);

/** The bound port (useful with port 0). */
unsigned vg_vnc_server_port(vg_vnc_server *s);

/**
 * Stop listening and end every viewer; ops.ended runs for each. Call from
 * the thread of the main loop that runs ended, with that loop no longer
 * running. NULL is fine.
 */
void vg_vnc_server_free(vg_vnc_server *s);

/**
 * Serve a viewer that logged in elsewhere (the browser: the web front end
 * checked its user and called the gate's login itself): @fd is a connected
 * stream on which it speaks RFB 3.8 in clear (vg_vnc_prelude_none), @source
 * and @conn what login() would have given. Takes @fd. The prelude and the
 * attach run on a thread of their own; ops.attach and then ops.ended run
 * for @conn as for any other viewer (ended also when the prelude fails).
 * @label names the viewer in the log ("peer … user …").
 */
void vg_vnc_server_adopt(vg_vnc_server *s, int fd, const char *label, vg_display_source *source,
                         void *conn);

/**
 * As vg_vnc_server_adopt, for a viewer of a VM another gateway holds: after
 * the short prelude, the viewer is forwarded to @up (a login there,
 * vg_vnc_upstream_connect) instead of shown a screen. Takes @fd and @up.
 * ops.attach is not called; ops.ended is, with @conn, when it ends (also
 * when the prelude fails).
 */
void vg_vnc_server_adopt_forward(vg_vnc_server *s, int fd, const char *label,
                                 vg_vnc_upstream *up, void *conn);

/** End @peer's connection; @reason is logged and reaches ended(). */
void vg_vnc_peer_kick(vg_vnc_peer *peer, const char *reason);

#endif /* VG_VNC_SERVER_H */
