/*
 * vmgate — the libvirt connection: event loop thread, keepalive, and
 * reconnection with backoff when libvirtd goes away.
 *
 * Threading: libvirt's default event loop runs on its own thread (one per
 * process). All callbacks below run on the hypervisor's supervisor thread,
 * which also opens and re-opens the connection; libvirt callbacks only queue
 * messages to it. Functions posted with vg_hypervisor_post run there too, in
 * order.
 */
#ifndef VG_HYPERVISOR_H
#define VG_HYPERVISOR_H

#include <stdbool.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

typedef struct vg_hypervisor vg_hypervisor;

typedef struct vg_hypervisor_events {
    /** A connection is (again) up. @conn is valid during the call; ref it to keep it. */
    void (*connected)(void *opaque, virConnectPtr conn);
    /** The connection went down; reconnection attempts follow. */
    void (*disconnected)(void *opaque, const char *reason);
    /** A lifecycle event (virDomainEventType, detail) for a domain. */
    void (*domain_event)(void *opaque, virConnectPtr conn, const char *name, const char *uuid,
                         int event, int detail);
    /**
     * Called on every turn of the supervisor loop. Optional.
     * @return the longest wait in milliseconds before the next turn (the loop
     *         also turns on every message).
     */
    int (*tick)(void *opaque, virConnectPtr conn);
} vg_hypervisor_events;

/**
 * Start managing a connection to @uri. Returns at once; the first connection
 * attempt happens on the supervisor thread.
 * @return 0 or -ENOMEM / -EAGAIN (thread creation).
 */
int vg_hypervisor_new(const char *uri, const vg_hypervisor_events *events, void *opaque,
                      vg_hypervisor **out);

/** Stop the supervisor thread, close the connection, free. NULL is fine.
 * Not from a supervisor-thread callback. */
void vg_hypervisor_free(vg_hypervisor *h);

/** The current connection with a new reference (virConnectClose it), or NULL. */
virConnectPtr vg_hypervisor_get_conn(vg_hypervisor *h);

/** Run fn(data) on the supervisor thread. Safe from any thread, including libvirt's. */
void vg_hypervisor_post(vg_hypervisor *h, void (*fn)(void *data), void *data);

/** Make sure libvirt's default event loop runs on its own thread (idempotent). */
int vg_libvirt_event_loop_start(void);

/**
 * Stop that thread and wait for it, once every libvirt connection is
 * closed: a process that exits must not have it still running in libvirt
 * and GLib while their libraries are finalised. Call once, at the end.
 */
void vg_libvirt_event_loop_stop(void);

/** The last libvirt error message of this thread, or a fallback; never NULL. */
const char *vg_libvirt_last_error(void);

/** Stop libvirt from printing errors to stderr itself (we log them). */
void vg_libvirt_quiet(void);

/**
 * Open a console socket for a running domain: virDomainOpenGraphicsFD with
 * SKIPAUTH on graphics device 0.
 * @return an fd, or -1 with *why set (static string or libvirt's message).
 */
int vg_libvirt_open_graphics(virDomainPtr dom, const char **why);

/** A person-readable reason for a domain that stopped (virDomainEventStoppedDetailType). */
const char *vg_libvirt_stopped_reason(int detail);

/** The same for a shut-off domain's state reason (virDomainShutoffReason). */
const char *vg_libvirt_shutoff_reason(int reason);

#endif /* VG_HYPERVISOR_H */
