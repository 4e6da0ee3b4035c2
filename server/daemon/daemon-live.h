/*
 * vmgate — the live side of the admin commands in vmgated: VM list with
 * viewer counts, screenshots, typing and key combos, power actions; backed
 * by the VM registry and the session registry.
 *
 * Threading: the ops run on admin connection threads; everything they use
 * is thread-safe.
 */
#ifndef VG_DAEMON_LIVE_H
#define VG_DAEMON_LIVE_H

#include "admin.h"
#include "audit.h"
#include "registry.h"
#include "sessions.h"

typedef struct vg_daemon_live {
    vg_registry *registry;
    vg_sessions *sessions;
    vg_audit *audit;
} vg_daemon_live;

/** The admin backend; the opaque pointer is a vg_daemon_live. */
extern const vg_admin_live_ops vg_daemon_live_ops;

#endif /* VG_DAEMON_LIVE_H */
