/*
 * vmgate — the broker's shared vocabulary: valid names, roles, idle
 * actions, VM states and the second-login mode, each with its text form as
 * it appears in the store, the config file and the admin protocol.
 *
 * Pure functions: no state, callable from any thread.
 */
#ifndef VG_MODEL_H
#define VG_MODEL_H

#include <stdbool.h>

/** Longest user, VM or pool name, in bytes. */
#define VG_NAME_MAX 64

/**
 * Whether @name is a valid user or pool name: 1..VG_NAME_MAX characters of
 * [A-Za-z0-9._@-], not starting with '-' (so it can never be mistaken for a
 * command-line option). NULL is invalid.
 */
bool vg_name_valid(const char *name);

/** Longest VM name vmgate serves, in bytes (libvirt itself sets no limit). */
#define VG_VM_NAME_MAX 255

/**
 * Whether @name is a VM name vmgate serves: any name libvirt accepts for a
 * QEMU domain (valid UTF-8 with no '/' and no newline; spaces, Unicode and
 * a leading '-' are fine) of 1..VG_VM_NAME_MAX bytes, and no control
 * character XML 1.0 forbids (libvirt could not store it). A VM's UUID is a
 * valid name too. Such a name is escaped wherever it is shown or logged.
 * NULL is invalid.
 */
bool vg_vm_name_valid(const char *name);

/** What a user may do on a VM. Lower values carry more rights. */
typedef enum vg_role {
    VG_ROLE_OWNER = 0,  /**< sees and types; the VM is theirs */
    VG_ROLE_CONTROLLER, /**< sees and types */
    VG_ROLE_OBSERVER,   /**< sees only */
} vg_role;

/** "owner", "controller" or "observer"; "?" for a value out of range. */
const char *vg_role_name(vg_role role);

/**
 * Parse a role name (exact, lower case).
 * @return 0 and *out set, or -EINVAL.
 */
int vg_role_parse(const char *name, vg_role *out);

/** What to do with a pool VM nobody has viewed for a while. */
typedef enum vg_idle_action {
    VG_IDLE_NONE = 0, /**< leave it running */
    VG_IDLE_SHUTDOWN, /**< ACPI shutdown */
    VG_IDLE_SUSPEND,  /**< pause (suspend to RAM in the hypervisor) */
} vg_idle_action;

/** "none", "shutdown" or "suspend"; "?" for a value out of range. */
const char *vg_idle_action_name(vg_idle_action action);

/**
 * Parse an idle action name (exact, lower case).
 * @return 0 and *out set, or -EINVAL.
 */
int vg_idle_action_parse(const char *name, vg_idle_action *out);

/** A VM's state as the broker sees it (the daemon maps libvirt's states onto these). */
typedef enum vg_vm_state {
    VG_VM_MISSING = 0, /**< not defined on the hypervisor (or not known yet) */
    VG_VM_RUNNING,     /**< running: its console can be opened */
    VG_VM_PAUSED,      /**< paused or suspended: can be resumed */
    VG_VM_SHUTOFF,     /**< defined and shut off: can be started */
    VG_VM_UNAVAILABLE, /**< shutting down, crashed, being migrated: not usable now */
} vg_vm_state;

/** What happens when a user logs in to a VM where they already have a session. */
typedef enum vg_second_login {
    VG_SECOND_LOGIN_TAKEOVER = 0, /**< the new client replaces the old one (default) */
    VG_SECOND_LOGIN_JOIN,         /**< both clients view the session */
} vg_second_login;

/** "takeover" or "join"; "?" for a value out of range. */
const char *vg_second_login_name(vg_second_login mode);

/**
 * Parse a second-login mode name (exact, lower case).
 * @return 0 and *out set, or -EINVAL.
 */
int vg_second_login_parse(const char *name, vg_second_login *out);

#endif /* VG_MODEL_H */
