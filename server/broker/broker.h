/*
 * vmgate — the broker: one call that turns a login into a VM console.
 *
 * It authenticates (store + rate limiter, optionally PAM), gathers the
 * facts for the policy (assignments, entitled pools, VM states from the
 * registry, who is viewing what from the session registry), asks
 * vg_policy_choose_vm, records a sticky pool VM, powers the VM on when the
 * policy says so, and waits for its console's first complete frame.
 * Protocol front ends call it; it knows no protocol.
 *
 * Threading: vg_broker_login may be called from any thread, concurrently;
 * it blocks (password hashing, power on, waiting for the console), so call
 * it from a connection's own thread, never from an event loop.
 */
#ifndef VG_BROKER_H
#define VG_BROKER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "console.h"
#include "model.h"
#include "ratelimit.h"
#include "registry.h"
#include "sessions.h"
#include "store.h"

typedef struct vg_broker vg_broker;

/** Audit sink: one event with NULL-terminated key/value string pairs. */
/** Write an audit record: @event, then name/value string pairs up to a NULL name.
 * @return 0 or a negative errno (the record could not be written). */
typedef int (*vg_broker_audit_fn)(void *opaque, const char *event, ...);

typedef enum vg_broker_status {
    VG_BROKER_OK = 0,
    VG_BROKER_AUTH_FAILED, /**< wrong credentials, locked out, disabled: one answer for all */
    VG_BROKER_REFUSED,     /**< authenticated, but no VM for this login (message says why) */
    VG_BROKER_UNAVAILABLE, /**< the VM could not be started or its console did not come */
    VG_BROKER_INTERNAL,    /**< store or hypervisor failure */
    VG_BROKER_ELSEWHERE,   /**< the VM chosen is held by another instance (res->elsewhere) */
} vg_broker_status;

/** Where a VM another instance holds is reached (VG_BROKER_ELSEWHERE). */
typedef struct vg_broker_elsewhere {
    char instance[65];
    char address[256];
    unsigned vnc_port, rdp_port, web_port; /**< 0: that front end is off there */
} vg_broker_elsewhere;

typedef struct vg_broker_result {
    vg_broker_status status;
    char
        message[160]; /**< for the user: safe to show, never says which part of a login was wrong */
    char user[65];
    char vm[256];
    vg_role role;
    bool powered_on;     /**< the broker started or resumed the VM */
    vg_console *console; /**< on success: a reference the caller unrefs */
    vg_broker_elsewhere elsewhere; /**< VG_BROKER_ELSEWHERE: where res->vm is */
} vg_broker_result;

/**
 * @param audit  optional audit sink
 * Borrowed objects must outlive the broker.
 */
int vg_broker_new(vg_store *store, vg_registry *registry, vg_sessions *sessions,
                  const vg_config *cfg, vg_broker_audit_fn audit, void *audit_opaque,
                  vg_broker **out);
void vg_broker_free(vg_broker *b);

/** The hypervisor's VMs the broker chooses from (borrowed). */
vg_registry *vg_broker_registry(vg_broker *b);

/** Take the policy and auth settings of a new configuration (SIGHUP). */
int vg_broker_reconfigure(vg_broker *b, const vg_config *cfg);

/** Whether a login chose pool VM @vm and has not joined its session yet;
 * the claiming user in @user (65 bytes) when not NULL. */
bool vg_broker_vm_claimed(vg_broker *b, const char *vm, char user[65]);

/**
 * Log in: @login is "user" or "vm/user"; @requested (may be NULL) names a VM
 * by name or UUID as the protocol carried it. Waits at most @timeout_s for a
 * powered-on VM's console.
 * @return 0 with @res filled (check res->status).
 */
int vg_broker_login(vg_broker *b, const char *login, const char *password, const char *address,
                    const char *requested, int timeout_s, vg_broker_result *res);

/** Size of an NT hash (MD4 of the UTF-16LE password) in bytes. */
#define VG_BROKER_NT_HASH_BYTES 16

/**
 * NLA, step one: the NT hash NTLM needs to check @user's answer. Refused
 * (and audited, and counted by the rate limiter) for an unknown user
 * ("bad-credentials"), a user without an NT hash ("no-nla": not given a
 * password with --nla), or a user or address that is locked out
 * ("rate-limited"). The client sees the same failure for each.
 * @return 0 and @nt_hash filled (a secret: wipe it); -EACCES; -EIO.
 */
int vg_broker_nla_hash(vg_broker *b, const char *user, const char *address,
                       uint8_t nt_hash[VG_BROKER_NT_HASH_BYTES]);

/** Length of a grant's id and of its secret, in characters. */
#define VG_BROKER_GRANT_ID_LEN     16
#define VG_BROKER_GRANT_SECRET_LEN 43
/**
 * A login name "vmgate-grant:<id>:<user>" with the grant's secret as the
 * password logs @user in with grant <id> (a VNC connection an entrance
 * relays here), to the grant's VM, never redirected again.
 */
#define VG_BROKER_GRANT_LOGIN_PREFIX "vmgate-grant:"
/** How long a grant may be used after it was issued. */
#define VG_BROKER_GRANT_TTL_MS 30000

/**
 * The entrance's half of a redirection: let @user, whom this instance
 * authenticated, in on instance @res->elsewhere.instance for VM @res->vm,
 * once, within VG_BROKER_GRANT_TTL_MS, without a password: a new grant in
 * the shared store, its id and secret in @id and @secret (random; the
 * secret is the client's password for that one login: wipe it). Audited
 * ("redirect").
 * @return 0; a negative errno (the store).
 */
int vg_broker_grant_issue(vg_broker *b, const vg_broker_result *res, const char *address,
                          const char *protocol, char id[VG_BROKER_GRANT_ID_LEN + 1],
                          char secret[VG_BROKER_GRANT_SECRET_LEN + 1]);

/**
 * The target's half, NLA step one for a redirected client: use grant @id
 * of @user on this instance and give the NT hash of its secret to check the
 * client's answer with, and the VM it is for (@vm, 256 bytes). Refused (and
 * audited, and counted by the rate limiter) when the grant is unknown,
 * used, expired or not @user's on this instance ("bad-grant").
 * @return 0; -EACCES; -EIO.
 */
int vg_broker_grant_hash(vg_broker *b, const char *user, const char *id, const char *address,
                         uint8_t nt_hash[VG_BROKER_NT_HASH_BYTES], char vm[256]);

/** NLA: @user's answer did not match the hash (wrong password): count and audit it. */
void vg_broker_nla_failed(vg_broker *b, const char *user, const char *address);

/**
 * NLA, step two: NTLM proved @user's identity; log in without a password
 * (a disabled account is still refused), then choose the VM as
 * vg_broker_login does. With @method "grant" (a redirected client that
 * proved a grant, vg_broker_grant_hash), a VM held by another instance is
 * refused rather than redirected to again.
 */
int vg_broker_login_verified(vg_broker *b, const char *user, const char *address,
                             const char *method, const char *requested, int timeout_s,
                             vg_broker_result *res);

/**
 * Check @user's password only, with the same rate limiter, PAM and audit
 * ("login_failed" with the reason; "authenticated" with @method on success)
 * as a login, and choose no VM: for a front end that logs a user in first
 * and lets them pick a VM afterwards (the browser). @res->user is set; on
 * success @res->status is VG_BROKER_OK and nothing else is. A failure
 * counts in vmgate_logins_total; a success does not (each console the user
 * then opens is a login of its own, vg_broker_login_verified).
 * @return 0 with @res filled (check res->status).
 */
int vg_broker_authenticate(vg_broker *b, const char *user, const char *password,
                           const char *address, const char *method, vg_broker_result *res);

/** Whether @user exists and is not disabled (a login of a front end that keeps
 * its own sessions still stands). */
bool vg_broker_user_active(vg_broker *b, const char *user);

/** A login of vg_broker_authenticate ended (@why: "logout", "expired", ...): audit it. */
void vg_broker_signed_out(vg_broker *b, const char *user, const char *address, const char *method,
                          const char *why);

/** A VM a user may reach, for a picker. */
typedef struct vg_broker_vm_entry {
    char vm[256];
    vg_role role;
    vg_vm_state state;
    char pool[65]; /**< the pool it is reached through, "" for an assignment */
    bool taken;    /**< a pool VM in use by, or held for, someone else */
    char instance[65]; /**< the other instance that holds it; "" for this one's */
} vg_broker_vm_entry;

/**
 * The VMs @user may reach: assignments first, then the members of the
 * pools they are entitled to, each VM once (an assignment wins), sorted
 * by name within each group.
 * @return 0 and *out (GArray of vg_broker_vm_entry; g_array_unref it), or
 *         a negative errno from the store.
 */
int vg_broker_reachable(vg_broker *b, const char *user, GArray **out);

/**
 * Admit a logged-in client as a viewer of res->vm. When the same user
 * already views that VM, the second-login policy decides: takeover (the
 * default) kicks the old viewers with a reason; join lets both view.
 * Other users always join.
 * @param viewer_id  receives the new viewer's id
 * @return the number of viewers taken over (>= 0), or a negative errno
 *         from vg_sessions_join.
 */
int vg_broker_admit(vg_broker *b, const vg_broker_result *res, const char *protocol,
                    const char *address, const vg_viewer_ops *ops, void *opaque,
                    char viewer_id[24]);

/** Users and source addresses locked out now (rate limiter), for metrics. */
void vg_broker_locked_out(vg_broker *b, unsigned *users, unsigned *addresses);

#endif /* VG_BROKER_H */
