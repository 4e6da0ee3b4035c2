/*
 * vmgate — what the web front end's files share (private to protocol/web).
 *
 *   web-server.c   the server: acceptor, web thread, HTTP routes, logins
 *                  (sessions, CSRF), tickets
 *   web-tls.c      per connection: TLS handshake and the relay to libsoup
 *   web-console.c  a console's WebSocket: the ticket, then RFB to and from
 *                  the stream ops.console took
 */
#ifndef VG_WEB_PRIV_H
#define VG_WEB_PRIV_H

#include <stdbool.h>

#include <glib.h>
#include <libsoup/soup.h>

#include "net.h"
#include "web-server.h"

/* A connection that carries no WebSocket is closed after this long with
 * nothing moving. */
#define VG_WEB_IDLE_TIMEOUT_MS 120000
/* What a connection not logged in may send in all (the login page, its
 * files and a login are a few KiB). */
#define VG_WEB_MAX_UNAUTH_BYTES (1024 * 1024)
/* Largest WebSocket message taken from a browser (RFB client messages are
 * small; the ticket is 64 characters). */
#define VG_WEB_MAX_WS_MESSAGE 65536

/** One TCP connection, from the TLS relay's thread. */
typedef struct vg_web_conn {
    char peer[VG_PEER_NAME_SIZE];
    int tcp;        /* shut down when the server stops */
    int soup_fd;    /* the socketpair end libsoup reads and writes */
    gint logged_in; /* a request on it carried a session (counted once) */
    gint upgraded;  /* it carries a console's WebSocket: no idle timeout */
} vg_web_conn;

/* web-server.c, for web-tls.c */
SSL_CTX *vg_web_server_ssl_ctx(vg_web_server *s);
unsigned vg_web_server_login_timeout_ms(vg_web_server *s);
/* Register the connection and hand @soup_fd to libsoup (on the web thread). */
vg_web_conn *vg_web_server_conn_open(vg_web_server *s, int tcp, int soup_fd, const char *peer);
/* The connection is over (@c NULL when it never got that far): unregister, count, free. */
void vg_web_server_conn_closed(vg_web_server *s, vg_web_conn *c, const char *peer);

/* web-tls.c: serve one accepted connection until it ends (the acceptor's thread). */
void vg_web_tls_serve(vg_web_server *s, int fd, const char *peer);

/* How code on other threads reaches the web thread: @ctx is NULL once the
 * server stopped (then nothing is posted to it any more). */
typedef struct vg_web_link {
    gint refs;
    GMutex lock;
    GMainContext *ctx;
} vg_web_link;

vg_web_link *vg_web_link_ref(vg_web_link *l);
void vg_web_link_unref(vg_web_link *l);
/* Run @fn(@data) on the web thread, or only @free_fn(@data) when it stopped. */
void vg_web_link_post(vg_web_link *l, GSourceFunc fn, gpointer data, GDestroyNotify free_fn);

/* web-server.c, for web-console.c */
vg_web_link *vg_web_server_link(vg_web_server *s);
GMainContext *vg_web_server_context(vg_web_server *s);
const vg_web_server_ops *vg_web_server_ops_of(vg_web_server *s, void **opaque);
/* Run @fn(@data) on a worker thread, then @done(@data) on the web thread;
 * @free_fn(@data) after, or instead when the server stops first. */
void vg_web_server_run_job(vg_web_server *s, GFunc fn, GFunc done, gpointer data,
                           GDestroyNotify free_fn);
/* The connection that carries @msg: mark it as a WebSocket's. */
void vg_web_server_mark_upgraded(vg_web_server *s, SoupServerMessage *msg);
/* Take ticket @id for the session of @session_token: the user and the VM it is for.
 * @return 0, or -1 (unknown, used, expired, or another session's). */
int vg_web_server_take_ticket(vg_web_server *s, const char *id, const char *session_token,
                              char user[65], char vm[256]);

/* web-console.c */
/* A console's WebSocket was accepted for the session @session_token (web thread). */
void vg_web_console_start(vg_web_server *s, SoupWebsocketConnection *ws, SoupServerMessage *msg,
                          const char *session_token, const char *peer);
/* The server stops: close every console's WebSocket and let go (web thread). */
void vg_web_console_close_all(vg_web_server *s);
/* The set of live consoles (web thread only), for vg_web_console_close_all. */
GHashTable *vg_web_server_consoles(vg_web_server *s);

#endif /* VG_WEB_PRIV_H */
