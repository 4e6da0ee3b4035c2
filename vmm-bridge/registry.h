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
 * Start following the hypervisor at @uri.
 * @return 0 or a negative errno.
 */
int vg_registry_new(const char *uri, const vg_registry_events *events, void *opaque,
                    vg_registry **out);

/** Close all consoles ("gateway shutting down") and free. NULL is fine. */
void vg_registry_free(vg_registry *reg);

/** A snapshot of all known VMs, sorted by name (GArray of vg_vm_info; g_array_unref it). */
GArray *vg_registry_list(vg_registry *reg);

/** The console of VM @name with a new reference, or NULL if it has none. */
vg_console *vg_registry_get_console(vg_registry *reg, const char *name);

/** The hypervisor connection with a new reference (virConnectClose it), or NULL when down. */
virConnectPtr vg_registry_get_conn(vg_registry *reg);

/**
 * Wait until VM @name has a console whose first complete frame arrived.
 * @return the console with a new reference, or NULL at the deadline
 *         (monotonic µs).
 */
vg_console *vg_registry_wait_console(vg_registry *reg, const char *name, int64_t deadline_us);

/** Whether the hypervisor connection is up. */
bool vg_registry_connected(vg_registry *reg);

#endif /* VG_REGISTRY_H */
