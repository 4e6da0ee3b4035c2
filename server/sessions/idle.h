/*
 * vmgate — the idle policy: a pool VM nobody has viewed for its pool's idle
 * minutes is shut down or suspended (per pool). Decisions come from
 * vg_policy_idle; this file gathers the facts and acts.
 *
 * Threading: vg_idle_check runs on the daemon's main loop; it calls libvirt
 * synchronously (short calls: shutdown and suspend only request the action).
 */
#ifndef VG_IDLE_H
#define VG_IDLE_H

#include <stdint.h>

#include "audit.h"
#include "registry.h"
#include "sessions.h"
#include "store.h"

typedef struct vg_idle vg_idle;

vg_idle *vg_idle_new(vg_store *store, vg_registry *registry, vg_sessions *sessions,
                     vg_audit *audit);
void vg_idle_free(vg_idle *idle);

/**
 * Look at every pool VM at @now (monotonic seconds): note when it became
 * unviewed, and act on those whose idle time is up.
 * @return the number of actions taken.
 */
int vg_idle_check(vg_idle *idle, int64_t now);

#endif /* VG_IDLE_H */
