/*
 * vmgate — the events the instances sharing a store send each other over
 * its bus (vg_store_notify; PostgreSQL's LISTEN/NOTIFY), and what an
 * instance does when one arrives:
 *
 * - VG_CLUSTER_KICK_CHANNEL: {"from", "by", "instance", "id", "reason"}:
 *   instance "instance" kicks its session or viewer "id".
 * - VG_CLUSTER_REVOKE_CHANNEL: {"from", "by", "user", "vm", "reason"}
 *   (user or vm null: any): access was taken away; every other instance
 *   checks its live viewers of that user and VM against the store
 *   (vg_store_user_may_reach) and ends those no longer allowed.
 * - VG_CLUSTER_ROLE_CHANNEL: {"from", "by", "user", "vm", "role"}: a
 *   user's assignment to a VM changed role; every other instance gives its
 *   live viewers of that user on that VM the new role (their next input
 *   event is checked against it), as the instance that changed it does.
 *
 * Payloads are JSON objects, each string bounded, the whole below
 * VG_STORE_NOTIFY_PAYLOAD_MAX; what arrives is checked the same way
 * before use (anyone who can reach the database can send on a channel).
 *
 * Threading: the send functions run on any thread (the store serialises
 * itself); vg_cluster_handle runs on the thread that waits on the bus (the
 * instance's heartbeat thread), and kicks there as the admin commands do
 * on theirs: the viewer's kick callback only flags it and wakes its thread.
 */
#ifndef VG_CLUSTER_H
#define VG_CLUSTER_H

#include "audit.h"
#include "sessions.h"
#include "store.h"

#define VG_CLUSTER_KICK_CHANNEL   "vmgate_kick"
#define VG_CLUSTER_REVOKE_CHANNEL "vmgate_revoke"
#define VG_CLUSTER_ROLE_CHANNEL   "vmgate_role"

/** Longest kick reason carried, in bytes (what the admin command allows). */
#define VG_CLUSTER_REASON_MAX 256

/** Listen to the three channels on @store (the instance's own connection). @return as
 * vg_store_listen. */
int vg_cluster_listen(vg_store *store);

/**
 * Ask instance @instance to kick its session or viewer @id (its own id,
 * "s…" or "v…") with @reason; @from is this instance, @by the admin.
 * @return 0 once the database took it; -EINVAL; -EMSGSIZE; -ENOTSUP
 *         (SQLite); -ECONNREFUSED.
 */
int vg_cluster_send_kick(vg_store *store, const char *from, const char *by, const char *instance,
                         const char *id, const char *reason);

/**
 * Tell every instance that @user (NULL: any user) lost access to @vm
 * (NULL: any VM), with @reason for the viewers it ends.
 * @return as vg_cluster_send_kick.
 */
int vg_cluster_send_revoke(vg_store *store, const char *from, const char *by, const char *user,
                           const char *vm, const char *reason);

/**
 * Tell every instance that @user's role on @vm is now @role.
 * @return as vg_cluster_send_kick.
 */
int vg_cluster_send_role(vg_store *store, const char *from, const char *by, const char *user,
                         const char *vm, vg_role role);

/**
 * An event from the bus, for instance @self: kick, or check the live
 * viewers, as it says; @channel NULL (events may have been missed while
 * the connection was away) checks every live viewer. Viewers ended are
 * audited in @audit (may be NULL) as kicks by "BY@FROM". Malformed events
 * are logged and dropped.
 */
void vg_cluster_handle(vg_store *store, vg_sessions *sessions, vg_audit *audit, const char *self,
                       const char *channel, const char *payload);

/**
 * End the live viewers of @user (NULL: any) on @vm (NULL: any) who may no
 * longer reach their VM by the store (a viewer whose check fails stays),
 * each with @reason, audited as kicks by @by (when @audit is not NULL).
 * @return how many were ended.
 */
unsigned vg_cluster_recheck(vg_store *store, vg_sessions *sessions, vg_audit *audit, const char *by,
                            const char *user, const char *vm, const char *reason);

#endif /* VG_CLUSTER_H */
