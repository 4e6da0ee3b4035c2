/*
 * vmgate — the VM registry: which domains exist on the hypervisor, their
 * state, and one console per running domain. It follows libvirt lifecycle
 * events, opens a console when a domain starts, closes it with a reason when
 * the domain stops, and resynchronises after libvirtd comes back.
 *
 * Threading: all registry work runs on the hypervisor's supervisor thread;
 * the events below are called there. vg_registry_list and
 * vg_registry_get_console may be called from any thread.
 */
#ifndef VG_REGISTRY_H
#define VG_REGISTRY_H

#include <stdbool.h>

#include <glib.h>
#include <libvirt/libvirt.h>

#include "console.h"
#include "model.h"

typedef struct vg_registry vg_registry;

typedef struct vg_vm_info {
    char name[256];
    char uuid[VIR_UUID_STRING_BUFLEN];
    int state;    /**< virDomainState */
    bool console; /**< a console is open */
} vg_vm_info;

typedef struct vg_registry_events {
    /** The hypervisor connection came up (true) or went down (false). Optional. */
    void (*connection)(void *opaque, bool up, const char *reason);
    /** A VM appeared or its state changed. Optional. */
    void (*vm_changed)(void *opaque, const vg_vm_info *vm);
    /** A VM is gone (undefined, or a transient one stopped). Optional. */
    void (*vm_removed)(void *opaque, const char *name);
    /** A console opened; @console is borrowed (ref it to keep it). Optional. */
    void (*console_opened)(void *opaque, const char *name, vg_console *console);
    /** A console closed with a reason (its surface told its viewers too). Optional. */
    void (*console_closed)(void *opaque, const char *name, const char *reason);
} vg_registry_events;

/**
 * Start following the hypervisor at @uri, serving the VMs whose names
 * match @vms (see vm-filter.h; NULL: every VM). A VM that does not match
 * is never listed, opened or powered.
 * @return 0; -EINVAL for a bad @vms; another negative errno.
 */
int vg_registry_new(const char *uri, const char *vms, const vg_registry_events *events,
                    void *opaque, vg_registry **out);

/** Close all consoles ("gateway shutting down") and free. NULL is fine. */
void vg_registry_free(vg_registry *reg);

/**
 * The broker's view of @vm's state (virDomainState): running (also
 * blocked), paused (also PM-suspended), shut off, or unavailable (shutting
 * down, crashed, ...). Shared by the login policy and the idle policy.
 */
vg_vm_state vg_vm_info_state(const vg_vm_info *vm);

/**
 * @vm's state as the admin commands show it: "running", "blocked",
 * "paused", "shutting-down", "shut-off", "crashed", "suspended" or "unknown".
 */
const char *vg_vm_info_state_text(const vg_vm_info *vm);

/** A snapshot of all known VMs, sorted by name (GArray of vg_vm_info; g_array_unref it). */
GArray *vg_registry_list(vg_registry *reg);

/** The console of VM @name with a new reference, or NULL if it has none. */
vg_console *vg_registry_get_console(vg_registry *reg, const char *name);

/** What vg_registry_power does to a VM. */
typedef enum vg_power_action {
    VG_POWER_START,    /**< start a shut-off VM */
    VG_POWER_SHUTDOWN, /**< ask the guest to shut down (ACPI) */
    VG_POWER_DESTROY,  /**< power off at once */
    VG_POWER_SUSPEND,  /**< pause */
    VG_POWER_RESUME,   /**< resume a paused VM */
    VG_POWER_ON,       /**< start if shut off, resume if paused or suspended, else nothing */
} vg_power_action;

/** "start", "shutdown", "destroy", "suspend", "resume", "on"; "?" out of range. */
const char *vg_power_action_name(vg_power_action action);

/**
 * Parse an action name of vg_power_action_name (exact, lower case).
 * @return 0 and *out set, or -EINVAL.
 */
int vg_power_action_parse(const char *name, vg_power_action *out);

/**
 * Do @action to VM @name through the hypervisor connection. A failure libvirt
 * reports is logged (warning) with libvirt's message.
 * @return 0; -ENOTCONN when the hypervisor is not reachable, -ENOENT when
 *         it has no such VM, -EIO when libvirt refused the action, -EINVAL
 *         for an unknown action. Blocks on libvirt: never call it on the
 *         supervisor thread.
 */
int vg_registry_power(vg_registry *reg, const char *name, vg_power_action action);

/**
 * Wait until VM @name has a console whose first complete frame arrived.
 * @return the console with a new reference, or NULL at the deadline
 *         (monotonic µs).
 */
vg_console *vg_registry_wait_console(vg_registry *reg, const char *name, int64_t deadline_us);

/** Whether the hypervisor connection is up and its VMs are known (listed once connected). */
bool vg_registry_connected(vg_registry *reg);

#endif /* VG_REGISTRY_H */
