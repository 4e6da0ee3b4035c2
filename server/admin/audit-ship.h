/*
 * vmgate — the audit log copied to the shared store: with a PostgreSQL
 * store, every record this vmgated writes to its audit file is also
 * appended to the store's table audit (store.h), so that `vmgatectl audit`
 * on any instance shows every instance's records. The file stays the
 * record of truth and is written as before; the store's copy may lag or,
 * after a long outage, miss records (counted and logged).
 *
 * Nothing waits for the database: the audit log hands each record, once it
 * is in the file, to a bounded queue in memory (VG_AUDIT_SHIP_QUEUE_MAX
 * records and VG_AUDIT_SHIP_QUEUE_BYTES bytes); a thread with a store
 * connection of its own writes the queue in batches, oldest first. A batch
 * leaves the queue only once the store committed it; while the database
 * is slow or unreachable the queue fills, is written every retry period
 * and, when full, drops the new records (counted in
 * vmgate_audit_store_dropped_total; logged once per outage, and the total
 * once the store takes records again). A login never waits for any of it.
 *
 * Threading: vg_audit_ship_start and vg_audit_ship_stop run on the
 * daemon's main thread (or a test's); records arrive on whichever thread
 * writes an audit record, as an audit listener (under the audit log's
 * lock: it only copies the line into the queue under the ship's lock);
 * the writer thread does every store call. Lock order: the audit log's,
 * then the ship's; the store call is made with neither held.
 */
#ifndef VG_AUDIT_SHIP_H
#define VG_AUDIT_SHIP_H

#include <stdbool.h>
#include <stdint.h>

#include "audit.h"
#include "store.h"

/** Most records waiting for the store. */
#define VG_AUDIT_SHIP_QUEUE_MAX 10000

/** Most bytes of records waiting for the store. */
#define VG_AUDIT_SHIP_QUEUE_BYTES (16 * 1024 * 1024)

/** Most records one write takes. */
#define VG_AUDIT_SHIP_BATCH 200

/** How long after a failed write the next is tried, in milliseconds. */
#define VG_AUDIT_SHIP_RETRY_MS 1000

typedef struct vg_audit_ship vg_audit_ship;

/** Settings for tests; zeros mean the defaults above. */
typedef struct vg_audit_ship_options {
    unsigned queue_max; /**< records */
    unsigned retry_ms;
} vg_audit_ship_options;

/** What the ship has done, for tests and logs. */
typedef struct vg_audit_ship_stats {
    uint64_t written; /**< records the store committed */
    uint64_t dropped; /**< records never to reach the store (the queue was full) */
    unsigned queued;  /**< records waiting now */
    bool failing;     /**< the last write failed */
} vg_audit_ship_stats;

/**
 * Open a store connection as @so says (quiet: the ship reports failures
 * itself), subscribe to @audit's new records and start the writer thread,
 * which appends them as instance @instance's.
 * @param opt  NULL for the defaults
 * @return 0 and *out set; -EINVAL; a negative errno if the store cannot be
 *         opened (logged).
 */
int vg_audit_ship_start(const vg_store_options *so, vg_audit *audit, const char *instance,
                        const vg_audit_ship_options *opt, vg_audit_ship **out);

/** Current counts. */
void vg_audit_ship_get_stats(vg_audit_ship *ship, vg_audit_ship_stats *out);

/**
 * Unsubscribe, write what is still queued once if the store was taking
 * records (what is left is logged as a count: it is in the file), stop the
 * thread, close its connection and free it. Bounded by the store's own
 * timeouts. Call it before vg_audit_free. NULL is fine.
 */
void vg_audit_ship_stop(vg_audit_ship *ship);

#endif /* VG_AUDIT_SHIP_H */
