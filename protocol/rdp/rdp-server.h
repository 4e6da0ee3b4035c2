/*
 * vmgate — the RDP front end's protocol side, on FreeRDP 3: the listener,
 * one thread per peer, security (TLS 1.2+, NLA), the preconnection PDU,
 * graphics (GFX pipeline or legacy bitmap updates) and input. FreeRDP's
 * API stays behind this header; the daemon decides logins and sessions
 * through the ops below.
 *
 * A connection's life, on its own thread:
 *   accept → preconnection PDU (rdp-pcb.h) → FreeRDP peer (X.224, TLS or
 *   CredSSP) → login (NLA: in Logon, after NTLM checked the hash from
 *   ops.nla_hash; TLS only: in PostConnect, with the Client Info PDU's
 *   credentials) → activation → attach → screen updates and input until
 *   the client leaves, a kick, or the VM's console ends → ended.
 *
 * Threading: the ops run on the peer's thread (login blocks: that is fine
 * there). vg_rdp_peer_kick may be called from any thread until ops.ended has
 * returned for that peer; after that the peer is gone.
 */
#ifndef VG_RDP_SERVER_H
#define VG_RDP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "display.h"
#include "viewer.h"

typedef struct vg_rdp_server vg_rdp_server;
typedef struct vg_rdp_peer vg_rdp_peer;

typedef struct vg_rdp_server_config {
    const char *address;   /**< IP literal to bind */
    unsigned port;         /**< 0 picks a free port */
    const char *cert_file; /**< PEM certificate, read once (vg_rdp_server_reload_tls swaps it) */
    const char *key_file;  /**< PEM private key */
    bool nla;            /**< require NLA (CredSSP/NTLM); false: TLS with Client Info credentials */
    bool lossless;       /**< never use a lossy codec (H.264) */
    const char *h264_preset; /**< libx264's preset for H.264 (rdp-h264.h; NULL: ultrafast) */
    unsigned max_unauth; /**< connections not yet logged in (0: 64) */
    unsigned max_unauth_per_source; /**< of those, from one address (0: 4) */
    unsigned login_timeout_ms;      /**< TCP to logged in, TLS and NLA included (0: 10 s) */
    unsigned stall_timeout_ms; /**< a viewer that reads nothing for this long is ended (0: 30 s) */
    unsigned max_total;        /**< all connections (0: 256) */
} vg_rdp_server_config;

/**
 * The NLA domain a redirected client logs in with: this prefix, then the id
 * of the grant whose secret is its password (a Server Redirection PDU gave
 * it all three; the domain is the only field that reaches the NTLM hash
 * callback besides the user).
 */
#define VG_RDP_GRANT_DOMAIN_PREFIX "vmgate-"

/** Where a login sends the client instead: a Server Redirection PDU. */
typedef struct vg_rdp_redirect {
    char address[256];  /**< the target's host name or address (the port stays this one's) */
    char user[65];      /**< the user name to log in there with */
    char domain[32];    /**< VG_RDP_GRANT_DOMAIN_PREFIX and the grant's id */
    char password[64];  /**< the grant's secret: wiped once sent */
} vg_rdp_redirect;

/** What a login carries. */
typedef struct vg_rdp_login {
    const char *user;      /**< as the client sent it */
    const char *password;  /**< NULL when NLA already proved the identity */
    const char *requested; /**< VM named by the preconnection PDU or routing token, or NULL */
    const char *peer;      /**< "address:port" */
    bool grant;            /**< NLA proved a redirection grant (requested is its VM) */
    /** NLA logins only: where the front end may put a redirection (login returns 1). */
    vg_rdp_redirect *redirect;
} vg_rdp_login;

typedef struct vg_rdp_server_ops {
    /** NLA: the user's NT hash (16 bytes) or -1 to refuse (unknown, locked out). */
    int (*nla_hash)(void *opaque, const char *user, const char *peer, uint8_t nt_hash[16]);
    /**
     * NLA for a redirected client (domain VG_RDP_GRANT_DOMAIN_PREFIX + @grant_id):
     * use the grant up and give its secret's NT hash and its VM (@vm, 256
     * bytes), or -1 to refuse. NULL: grants are refused.
     */
    int (*grant_hash)(void *opaque, const char *user, const char *grant_id, const char *peer,
                      uint8_t nt_hash[16], char vm[256]);
    /** NLA: the user's answer did not match (a wrong password). */
    void (*nla_failed)(void *opaque, const char *user, const char *peer);
    /**
     * Log in and choose a VM. On success return 0 with *source (the VM's
     * display: its screen and its input; the front end keeps it alive until
     * ended() for this connection returns) and *conn (the front end's
     * handle for the other ops); 1 with *login->redirect filled to send the
     * client to another gateway; else -1 with a reason for the log.
     */
    int (*login)(void *opaque, const vg_rdp_login *login, vg_display_source **source, void **conn,
                 char *reason, size_t reason_len);
    /**
     * The peer is active and about to be shown the screen: join the
     * session. 0 with *input, the viewer's input object (keys, pointer,
     * wheel, resize; it checks the viewer's role at each event and is the
     * front end's: valid until ended() for this connection), or -1.
     */
    int (*attach)(void *opaque, void *conn, vg_rdp_peer *peer, vg_viewer **input);
    /** The connection ended (after a successful login). Last call for @conn and @peer. */
    void (*ended)(void *opaque, void *conn, vg_rdp_peer *peer, const char *reason);
} vg_rdp_server_ops;

/**
 * Listen on cfg->address:cfg->port.
 * @return 0 or a negative errno (-EINVAL for a bad address, -EADDRINUSE, ...).
 */
int vg_rdp_server_new(const vg_rdp_server_config *cfg, const vg_rdp_server_ops *ops, void *opaque,
                      vg_rdp_server **out);

/** The bound port. */
unsigned vg_rdp_server_port(vg_rdp_server *s);

/**
 * Read a new certificate and key (after SIGHUP): connections from now on
 * get them, those already up keep theirs. Any thread.
 * @return 0; or a negative errno and *error (g_free it), the previous pair
 *         kept.
 */
int vg_rdp_server_reload_tls(vg_rdp_server *s, const char *cert_file, const char *key_file,
                             char **error);

/** Stop listening, end every connection (ops.ended runs for each), free. */
void vg_rdp_server_free(vg_rdp_server *s);

/** End @peer's connection; @reason goes to the log. Any thread. */
void vg_rdp_peer_kick(vg_rdp_peer *peer, const char *reason);

#endif /* VG_RDP_SERVER_H */
