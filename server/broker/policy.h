/*
 * vmgate — broker policy: pure decisions, no I/O. The daemon gathers the
 * facts (assignments and pools from the store, VM states from libvirt,
 * sessions from its registry) into the plain structs below and acts on the
 * answer, so every rule here is unit-tested without a database or a
 * hypervisor.
 *
 * Which VM a login reaches (vg_policy_choose_vm):
 *
 *  1. A requested VM (by name, or by UUID in any letter case) must be one
 *     the user may reach: one of their dedicated assignments (with that
 *     role), or a member of a pool they are entitled to that is not held
 *     for, nor in use by, someone else; in an assign-on-first-login pool
 *     where the user already holds a VM, only that VM. Anything else is
 *     refused (VG_POLICY_NOT_ENTITLED, or VG_POLICY_VM_IN_USE for a pool VM
 *     someone else is using); the user is never sent elsewhere instead.
 *  2. Without a request: the user's dedicated assignment. With several,
 *     the one with the most rights (owner, then controller, then observer),
 *     ties broken by VM name in byte order.
 *  3. Without dedicated assignments: a VM from the entitled pools, the first
 *     that exists in this order: a pool VM the user has a session on
 *     already (a reconnect); the VM held for them (sticky, from an
 *     assign-on-first-login pool: they get that one or nothing, even when it
 *     is off and cannot be powered on); a free running VM; a free paused VM;
 *     a free shut-off VM. "Free" means no one else has a session on it and
 *     it is not held for anyone else. Ties are broken by pool name, then VM
 *     name (byte order). A free VM taken from an assign-on-first-login pool
 *     becomes the user's (claim_sticky: the daemon records it).
 *  4. The chosen VM must be usable: running; or paused or shut off with
 *     power on demand enabled (then power_on is set and the daemon resumes
 *     or starts it); otherwise VG_POLICY_VM_NOT_RUNNING. A VM missing from
 *     the hypervisor or in transition gives VG_POLICY_VM_UNAVAILABLE.
 *  5. Nothing assigned and no entitled pool: VG_POLICY_NO_VM. Entitled
 *     pools but no free VM: VG_POLICY_POOL_EXHAUSTED.
 *
 * A user reaches a pool VM as controller: a pool VM is theirs for the
 * session, but owning it (rights beyond the console) is for dedicated
 * assignments.
 *
 * Threading: pure functions over the caller's data; any thread.
 */
#ifndef VG_POLICY_H
#define VG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

/** What the broker knows about one VM at the moment of the decision. */
typedef struct vg_policy_vm {
    const char *name;
    const char *uuid; /**< optional: lets a client ask by UUID */
    vg_vm_state state;
    const char *session_user; /**< user whose session runs on it, or NULL */
    const char *sticky_user;  /**< pool VMs: user it is held for, or NULL */
} vg_policy_vm;

/** A dedicated assignment of the user. */
typedef struct vg_policy_assignment {
    vg_policy_vm vm;
    vg_role role;
} vg_policy_assignment;

/** A pool the user is entitled to, with its members. */
typedef struct vg_policy_pool {
    const char *name;
    bool assign_on_first_login;
    const vg_policy_vm *members;
    size_t n_members;
} vg_policy_pool;

/** Everything vg_policy_choose_vm looks at. */
typedef struct vg_policy_request {
    const char *user;
    const char *requested; /**< VM name or UUID asked for by the client; NULL or "" for none */
    const vg_policy_assignment *assignments;
    size_t n_assignments;
    const vg_policy_pool *pools; /**< entitled pools only */
    size_t n_pools;
    bool power_on_demand; /**< the [policy] power_on_demand setting */
} vg_policy_request;

/** Why a login reaches no VM. */
typedef enum vg_policy_refusal {
    VG_POLICY_OK = 0,
    VG_POLICY_NO_VM,          /**< no assignment and no entitled pool */
    VG_POLICY_NOT_ENTITLED,   /**< the requested VM is not one the user may reach */
    VG_POLICY_POOL_EXHAUSTED, /**< entitled pools have no free VM */
    VG_POLICY_VM_IN_USE,      /**< the requested pool VM is used by someone else */
    VG_POLICY_VM_NOT_RUNNING, /**< the VM is off and power on demand is disabled */
    VG_POLICY_VM_UNAVAILABLE, /**< the VM is missing or in transition */
} vg_policy_refusal;

/** A short name for logs and audit records ("no-vm", "not-entitled", ...). */
const char *vg_policy_refusal_name(vg_policy_refusal refusal);

/** The answer of vg_policy_choose_vm. Strings point into the request. */
typedef struct vg_policy_choice {
    vg_policy_refusal refusal; /**< VG_POLICY_OK when a VM was chosen */
    const char *vm;            /**< also the VM refused, for VG_POLICY_VM_UNAVAILABLE */
    vg_role role;
    const char *pool;  /**< the pool it came from, NULL for a dedicated VM */
    bool power_on;     /**< start (shut off) or resume (paused) it first */
    bool claim_sticky; /**< record (pool, vm, user) as sticky before connecting */
} vg_policy_choice;

/**
 * Choose the VM and role for a login, by the rule at the top of this file.
 * @return 0 with @out describing the VM; -EACCES with out->refusal saying
 *         why not; -EINVAL for a malformed request (no user, NULL arrays
 *         with non-zero counts).
 */
int vg_policy_choose_vm(const vg_policy_request *req, vg_policy_choice *out);

/**
 * Split a login name of the form "vm/user" (how a client names a VM when
 * it has no other field for it) into its parts. A name without '/' is just
 * a user.
 * @return 0 with *user set and *vm set or NULL (g_free both); -EINVAL if a
 *         part is empty or there is more than one '/'.
 */
int vg_policy_split_login(const char *login, char **vm, char **user);

/** What happens to a new client of a VM. */
typedef enum vg_session_action {
    VG_SESSION_NEW = 0,  /**< no session yet: start one */
    VG_SESSION_TAKEOVER, /**< replace the user's old client, which is disconnected */
    VG_SESSION_JOIN,     /**< view the session alongside its other clients */
} vg_session_action;

/**
 * A login to a VM that may already have a session: @session_user is the
 * session's user (NULL when there is none). The same user logging in again
 * takes the session over or joins it, as @mode says (takeover is the
 * default: the old client is most likely a stale one). Another user always
 * joins: dedicated VMs are shared by their owner, controllers and
 * observers, each with their own role.
 */
vg_session_action vg_policy_second_login(vg_second_login mode, const char *session_user,
                                         const char *user);

/** Whether a role may send keyboard and pointer input: owner and controller yes, observer no. */
bool vg_policy_may_input(vg_role role);

/** What vg_policy_idle looks at for one pool VM. */
typedef struct vg_policy_idle_input {
    vg_idle_action action; /**< the pool's idle action */
    unsigned minutes;      /**< the pool's idle minutes */
    vg_vm_state state;
    unsigned viewers; /**< clients viewing it now */
    int64_t
        idle_since; /**< when its last viewer left (or it started unviewed), seconds; < 0 unknown */
} vg_policy_idle_input;

/**
 * The idle action due now (@now on the same clock as idle_since) for a pool
 * VM: the pool's action once the VM has had no viewer for its idle minutes;
 * VG_IDLE_NONE while anyone views it, before then, when idle_since is
 * unknown, or when the VM is not in a state the action applies to (shutdown
 * applies to running and paused VMs, suspend to running ones).
 * @param due_at if not NULL, set to when the action is or will be due, or
 *        -1 if it never will in the current state (for scheduling a timer).
 */
vg_idle_action vg_policy_idle(const vg_policy_idle_input *in, int64_t now, int64_t *due_at);

#endif /* VG_POLICY_H */
