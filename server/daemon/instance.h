/*
 * vmgate — this vmgated as an instance in the shared store: it registers
 * itself (name, address, the ports its front ends serve), beats a
 * heartbeat every second, and keeps the store's placements of the VMs it
 * serves (its registry's, which [libvirt] vms already filtered) up to date
 * by a diff against what it last wrote, and so the store's table of its
 * live viewers (the session registry's). On a clean stop it marks itself
 * stopped (its viewers go from the table). Other instances call it down
 * when its heartbeat is older than VG_STORE_INSTANCE_DOWN_MS (store.h).
 *
 * Between beats the thread waits on the store's event bus (PostgreSQL's
 * LISTEN/NOTIFY on its connection; cluster.h): a kick, a revocation or a
 * role change another instance sends is carried out as it arrives, within the time of
 * a beat at most. When the connection comes back after an outage, events
 * may have been lost: every live viewer is then checked against the store.
 * SQLite has no bus (one host, no other instances).
 *
 * The heartbeat has a store connection and a thread of its own, so a slow
 * or unreachable database delays only the heartbeat, never a login (which
 * uses the daemon's own store connection and its lock). A failure is
 * logged once when it starts and once when it ends, not every second.
 *
 * Threading: vg_instance_start, vg_instance_set_ports and vg_instance_stop
 * run on the daemon's main thread; the heartbeat thread does every store
 * call after the first registration, and the kicks the bus asks for (as an
 * admin command's thread does). in->lock guards the ports and the stop
 * flag; an eventfd wakes the thread; nothing else is shared.
 */
#ifndef VG_INSTANCE_H
#define VG_INSTANCE_H

#include "audit.h"
#include "registry.h"
#include "sessions.h"
#include "store.h"

/** The heartbeat's period. */
#define VG_INSTANCE_HEARTBEAT_MS 1000

typedef struct vg_instance vg_instance;

/**
 * Open a store connection as @so says, listen on its bus, register
 * instance @info (copied), write its placements and viewers and start the
 * heartbeat thread. A failure of the registration itself is logged and
 * retried by the thread; only a store that cannot be opened fails the
 * start.
 * @param sessions  the live viewers to publish and to kick as other
 *                  instances ask (NULL: none); borrowed, must outlive it
 * @param audit     where those kicks are recorded (may be NULL); borrowed
 * @return 0 and *out set; a negative errno (logged).
 */
int vg_instance_start(const vg_store_options *so, const vg_store_instance_info *info,
                      vg_registry *registry, vg_sessions *sessions, vg_audit *audit,
                      vg_instance **out);

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
