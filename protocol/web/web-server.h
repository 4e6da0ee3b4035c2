/*
 * vmgate — the web front end's protocol side: HTTPS pages (log in, a VM
 * picker with thumbnails, a console page on noVNC) and the console's RFB
 * over a WebSocket. The daemon decides logins, what a user may reach and
 * every console through the ops below; this module knows HTTP, cookies,
 * CSRF, tickets and WebSocket framing, and nothing of the broker.
 *
 * Built on libsoup 3 for HTTP and WebSocket: it is GLib's own HTTP
 * library (vmgated's loops are GLib's), well kept, in Debian, and does the
 * parsing and WebSocket framing a gateway must not write by hand, with
 * limits on headers and frame sizes. TLS is not libsoup's: the acceptor
 * the other ports share takes each connection (caps, per-source throttle,
 * the login deadline), OpenSSL does the handshake with the context and
 * policy of the other ports, and a relay thread hands libsoup the
 * connection in clear over a socketpair. (libsoup's own TLS would be
 * glib-networking's GnuTLS, whose ciphers a process cannot set.)
 *
 * A connection's life: accept → TLS → HTTP requests. (One request per
 * connection in practice: libsoup keeps a connection alive only while its
 * server listens on a socket of its own, and vmgate hands it each
 * connection; a browser opens the next one.) It counts as "not
 * logged in" (10 s deadline, per-source cap) until a request on it carries
 * a valid session or logs in. A console: the page asks POST /api/ticket
 * for a single-use ticket (30 s), opens wss://…/console (no ticket in the
 * URL), sends the ticket as its first message; the ticket is checked
 * before any RFB byte; then ops.console gets a stream on which the browser
 * speaks RFB 3.8 in clear, and reports the console's end with
 * vg_web_console_ended, whose reason closes the WebSocket (code 4000) for
 * the page to show.
 *
 * Threading: libsoup runs on a thread of the server's own with its own
 * main context. ops.authenticate, ops.console, ops.list_vms and
 * ops.thumbnail run on a worker pool thread (they may block); ops.user_ok
 * on the web thread (must not block long). vg_web_console_ended may be
 * called from any thread.
 */
#ifndef VG_WEB_SERVER_H
#define VG_WEB_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>
#include <openssl/ssl.h>

typedef struct vg_web_server vg_web_server;
typedef struct vg_web_console vg_web_console;

typedef struct vg_web_server_config {
    const char *address;            /**< IP literal to bind */
    unsigned port;                  /**< 0 picks a free port */
    const char *novnc_dir;          /**< noVNC's files (core/, vendor/); NULL: /usr/share/novnc */
    unsigned max_unauth_per_source; /**< connections not logged in from one address, per
                                         browser (0: 4); twice this are allowed */
    unsigned login_timeout_ms;      /**< from TCP to a request with a session (0: 10 s) */
    unsigned session_lifetime_s;    /**< a login lasts this long (0: 8 h) */
    unsigned session_idle_s;        /**< ... or until unused this long (0: 30 min) */
} vg_web_server_config;

/** A VM in the picker. */
typedef struct vg_web_vm {
    char name[256];
    char role[16];  /**< "owner", "controller", "observer" */
    char state[16]; /**< "running", "paused", "shut-off", "unavailable", "missing" */
    char pool[65];  /**< "" for an assignment */
    bool taken;     /**< a pool VM someone else uses */
} vg_web_vm;

typedef struct vg_web_server_ops {
    /** A referenced SSL_CTX for the next connection (the certificate may be reloaded). */
    SSL_CTX *(*get_ssl_ctx)(void *opaque);
    /** Check a password (rate limiter and audit included). 0, or -1 with a reason to show. */
    int (*authenticate)(void *opaque, const char *user, const char *password, const char *peer,
                        char *reason, size_t reason_len);
    /** Whether @user's login still stands (the account exists and is enabled). */
    bool (*user_ok)(void *opaque, const char *user);
    /** The VMs @user may reach: 0 and *out (GArray of vg_web_vm), or a negative errno. */
    int (*list_vms)(void *opaque, const char *user, GArray **out);
    /** A PNG thumbnail of @vm (fitting 320 × 240) for @user: 0 and *png (g_free), -ENOENT
     * when @user may not reach it, -ENODATA when it has no screen. */
    int (*thumbnail)(void *opaque, const char *user, const char *vm, uint8_t **png, size_t *len);
    /**
     * Open @user's console of @vm for the browser at @peer: on success take
     * @fd (the browser speaks RFB 3.8 on it, security None) and call
     * vg_web_console_ended(@console, reason) exactly once when it ends; return
     * 0. Else -1 with a reason to show; @fd stays the caller's.
     */
    int (*console)(void *opaque, const char *user, const char *vm, const char *peer, int fd,
                   vg_web_console *console, char *reason, size_t reason_len);
    /** A session ended (logout or expiry): for the audit. Optional. */
    void (*logout)(void *opaque, const char *user, const char *peer, const char *why);
} vg_web_server_ops;

/** Listen. @return 0 or a negative errno (-EINVAL for a bad address, -EADDRINUSE, ...). */
int vg_web_server_new(const vg_web_server_config *cfg, const vg_web_server_ops *ops, void *opaque,
                      vg_web_server **out);

/** The bound port. */
unsigned vg_web_server_port(vg_web_server *s);

/**
 * Stop listening, end every connection and console page, free. Consoles
 * must have ended (the caller ends its viewers first). NULL is fine.
 */
void vg_web_server_free(vg_web_server *s);

/** The console ended for @reason (shown to the user): closes its WebSocket. Last call for
 * @console. */
void vg_web_console_ended(vg_web_console *console, const char *reason);

#endif /* VG_WEB_SERVER_H */
