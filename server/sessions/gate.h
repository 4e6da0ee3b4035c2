/*
 * vmgate — the gate: the one path every front end (VNC, RDP, the browser)
 * takes from a login to a viewer and to its end. A front end logs in, gets
 * the VM's display source to show, admits the viewer (which returns the
 * viewer's input object: keys, pointer, wheel, resize, each checked against
 * the viewer's role at the time of the event) and reports when its
 * connection is gone. The gate ends viewers for the session (kick,
 * takeover, revocation) through the front end's one `end` op, and ends every
 * viewer the same way: held keys and buttons let go, the session left, the
 * logout audited once with the first reason.
 *
 * Threading: vg_gate_login blocks (the broker: hashing, power on, waiting
 * for the console); call it on a connection's own thread. The rest may be
 * called from any thread; a viewer's calls are the front end's to order
 * (admit, then ended; nothing after ended).
 */
#ifndef VG_GATE_H
#define VG_GATE_H

#include <stdbool.h>
#include <stddef.h>

#include "audit.h"
#include "broker.h"
#include "display.h"
#include "sessions.h"
#include "viewer.h"

typedef struct vg_gate vg_gate;
typedef struct vg_gate_viewer vg_gate_viewer;

typedef struct vg_gate_viewer_ops {
    /**
     * End the connection for @reason (a kick, a takeover, a revocation);
     * the front end then reports the end with vg_gate_viewer_ended(). Called
     * at most once, from any thread, never after vg_gate_viewer_ended() has
     * returned. Must not block on the connection.
     */
    void (*end)(void *opaque, const char *reason);
} vg_gate_viewer_ops;

/** Where a front end that can redirect sends a client (vg_gate_login returned 1). */
typedef struct vg_gate_redirect {
    vg_broker_elsewhere to;                          /**< the instance that holds the VM */
    char vm[256];                                    /**< the VM, as the policy chose it */
    char user[65];                                   /**< who logs in there */
    char grant_id[VG_BROKER_GRANT_ID_LEN + 1];       /**< the grant's id (no secret) */
    char grant_secret[VG_BROKER_GRANT_SECRET_LEN + 1]; /**< the password there, once: wipe it */
} vg_gate_redirect;

/** What a login carries. */
typedef struct vg_gate_login_params {
    const char *protocol;  /**< "vnc", "rdp", ...: for the session list and the audit */
    const char *user;      /**< as the client sent it */
    const char *password;  /**< NULL when the protocol proved the identity (RDP NLA) */
    const char *method;    /**< how, when @password is NULL: "nla" (the default), "web" */
    const char *peer;      /**< "address:port" */
    const char *requested; /**< the VM the client named, or NULL */
    int timeout_s;         /**< how long a powered-on VM's console may take */
    /** Where to put a redirection when the VM is another instance's and the
     * front end can send the client there (RDP); NULL: such a login is
     * refused with a reason naming where the VM is. */
    vg_gate_redirect *redirect;
} vg_gate_login_params;

/** The gate of @broker, @sessions and @audit (all borrowed; they outlive it). */
vg_gate *vg_gate_new(vg_broker *broker, vg_sessions *sessions, vg_audit *audit);

/** Free. NULL is fine. Every viewer must have ended. */
void vg_gate_free(vg_gate *g);

/** The broker, for a protocol's steps before a login (RDP NLA's NT hash). */
vg_broker *vg_gate_broker(vg_gate *g);

/**
 * Log in and choose a VM (the broker: credentials, policy, power on, the
 * console).
 * @return 0 and *out, a viewer not yet admitted (end it with
 *         vg_gate_viewer_ended); 1 with @login->redirect filled (a grant
 *         issued: the client goes there); or -1 with @reason, safe to show.
 */
int vg_gate_login(vg_gate *g, const vg_gate_login_params *login, vg_gate_viewer **out, char *reason,
                  size_t reason_len);

/**
 * A viewer for a login the broker has accepted (@res->status VG_BROKER_OK;
 * @res->console's reference moves to the viewer): what vg_gate_login does
 * after the broker, for a front end that logged in by other means.
 */
vg_gate_viewer *vg_gate_viewer_new(vg_gate *g, const char *protocol, const char *peer,
                                   const vg_broker_result *res);

/** The VM's display (screen and input) @v shows; valid until vg_gate_viewer_ended. */
vg_display_source *vg_gate_viewer_source(vg_gate_viewer *v);

/** The user and the VM of @v, for logs; its viewer id ("v…") once admitted, else "". */
const char *vg_gate_viewer_user(vg_gate_viewer *v);
const char *vg_gate_viewer_vm(vg_gate_viewer *v);
const char *vg_gate_viewer_id(vg_gate_viewer *v);

/**
 * Admit @v to its VM's session; a takeover ends the user's older viewers.
 * From now on @ops->end may be called.
 * @return the viewer's input (owned by @v, valid until
 *         vg_gate_viewer_ended), or NULL when the session refused it.
 */
vg_viewer *vg_gate_viewer_admit(vg_gate_viewer *v, const vg_gate_viewer_ops *ops, void *opaque);

/**
 * The connection is gone, @reason says why (the viewer left, an I/O
 * error, the VM's screen ended, the gateway stops). Lets go of what the
 * viewer held, leaves the session (waiting for an `end` that is running;
 * none comes after), audits the logout once (with the session's reason
 * when a kick came first), and frees @v. Last call for @v.
 */
void vg_gate_viewer_ended(vg_gate_viewer *v, const char *reason);

#endif /* VG_GATE_H */
