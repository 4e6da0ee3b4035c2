/*
 * vmgate — this vmgated as an instance in the shared store: it registers
 * itself (name, address, the ports its front ends serve), beats a
 * heartbeat every second, and keeps the store's placements of the VMs it
 * serves (its registry's, which [libvirt] vms already filtered) up to date
 * by a diff against what it last wrote. On a clean stop it marks itself
 * stopped. Other instances call it down when its heartbeat is older than
 * VG_STORE_INSTANCE_DOWN_MS (store.h).
 *
 * The heartbeat has a store connection and a thread of its own, so a slow
 * or unreachable database delays only the heartbeat, never a login (which
 * uses the daemon's own store connection and its lock). A failure is
 * logged once when it starts and once when it ends, not every second.
 *
 * Threading: vg_instance_start, vg_instance_set_ports and vg_instance_stop
 * run on the daemon's main thread; the heartbeat thread does every store
 * call after the first registration. in->lock guards the ports and the
 * thread's wake-up; nothing else is shared.
 */
#ifndef VG_INSTANCE_H
#define VG_INSTANCE_H

#include "registry.h"
#include "store.h"

/** The heartbeat's period. */
#define VG_INSTANCE_HEARTBEAT_MS 1000

typedef struct vg_instance vg_instance;

/**
 * Open a store connection as @so says, register instance @info (copied),
 * write its placements and start the heartbeat thread. A failure of the
 * registration itself is logged and retried by the thread; only a store
 * that cannot be opened fails the start.
 * @return 0 and *out set; a negative errno (logged).
 */
int vg_instance_start(const vg_store_options *so, const vg_store_instance_info *info,
                      vg_registry *registry, vg_instance **out);

/** The front ends' ports changed (they started on a reload): register them at the next beat. */
void vg_instance_set_ports(vg_instance *in, unsigned vnc, unsigned rdp, unsigned web);

/**
 * Stop the heartbeat, mark the instance stopped in the store (its
 * placements stay, unreachable until it registers again), close its
 * connection and free it. Bounded by the store's own timeouts. NULL is
 * fine.
 */
void vg_instance_stop(vg_instance *in);

#endif /* VG_INSTANCE_H */
