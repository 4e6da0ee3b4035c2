/*
 * vmgate — what vmgated's /metrics and /readyz say: the counters of
 * base/metrics.h plus the families computed at scrape time from the
 * daemon's own registries, and the readiness checks.
 *
 * Scrape-time families (nothing is counted twice; a new front end that
 * registers its viewers with the session registry, say protocol "web",
 * shows up without a change here):
 *
 *   vmgate_build_info{version}                   gauge, always 1
 *   vmgate_viewers{protocol,role}                gauge, from the session registry
 *   vmgate_sessions                              gauge, VMs with at least one viewer
 *   vmgate_throttled{kind="user|address"}        gauge, lockouts in force (rate limiter)
 *   vmgate_libvirt_connected                     gauge, 0 or 1
 *   vmgate_vms{state}                            gauge, VMs the registry knows, by state
 *   vmgate_capture_frames_total{vm}              counter, frames each VM's console captured
 *                                                (changes of its screen since the console
 *                                                opened; starts again at 0 when it reopens)
 *
 * Threading: both functions may run on any thread (the metrics thread);
 * every source they read is thread-safe.
 */
#ifndef VG_METRICS_COLLECT_H
#define VG_METRICS_COLLECT_H

#include <stdbool.h>

#include <glib.h>

#include "audit.h"
#include "broker.h"
#include "registry.h"
#include "sessions.h"
#include "store.h"

/** What the daemon lends the metrics (all borrowed; they outlive the listener). */
typedef struct vg_metrics_sources {
    vg_sessions *sessions;
    vg_registry *registry;
    vg_broker *broker;
    vg_audit *audit;
    const char *store_path; /**< the store's file, for the writable check (SQLite) */
    vg_store *store;        /**< the store: on PostgreSQL, /readyz asks the server instead */
    const char *instance;   /**< this vmgated's [instance] name, in vmgate_build_info (or NULL) */
} vg_metrics_sources;

/** Append the whole /metrics page (build info, scrape-time families, counters) to @out. */
void vg_metrics_collect(const vg_metrics_sources *src, GString *out);

/**
 * The readiness checks, one line each to @out: "libvirt: ok" or
 * "libvirt: not connected", "store: …", "audit: …".
 * @return whether all of them passed.
 */
bool vg_metrics_ready(const vg_metrics_sources *src, GString *out);

#endif /* VG_METRICS_COLLECT_H */
