/*
 * vmgate — the admin socket of vmgated: a UNIX stream socket speaking the
 * control protocol (protocol/control/control.h) for vmgatectl.
 *
 * The socket file is created mode 0660 with the admin group as its group
 * (if that group does not exist: 0600, root only, and a warning); its
 * directory is created 0755 when missing; a stale socket file (nobody
 * listening) is replaced, a live one is not. Every connection's peer is
 * checked with SO_PEERCRED: uid 0, the daemon's own uid, or a user whose
 * primary or supplementary groups (getgrouplist) include the admin group.
 * A refused peer gets the error "permission denied" (code EACCES) and is
 * closed. Every command, refused ones included, is recorded in the audit
 * log with the peer's uid and user name.
 *
 * Commands act on the store directly; live things (VMs, screenshots, keys,
 * power) go through the daemon's vg_admin_live_ops; sessions through the
 * session registry.
 *
 * Threading: one accept thread, and one thread per connection (at most
 * VG_ADMIN_MAX_CONNECTIONS). Live ops, the store, the sessions and the audit
 * log are called from connection threads, possibly several at once: the ops
 * must be thread-safe and may block (a screenshot, typing text). The audit
 * log's follow listener only queues lines for its connection's thread.
 */
#ifndef VG_ADMIN_H
#define VG_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "audit.h"
#include "sessions.h"
#include "store.h"

/** Connections served at once; the next ones are refused with an error. */
#define VG_ADMIN_MAX_CONNECTIONS 32

/** Group allowed on the admin socket when the configuration names none. */
#define VG_ADMIN_DEFAULT_GROUP "vmgate-admin"

/** The admin socket server (see vg_admin_new). */
typedef struct vg_admin vg_admin;

/** One VM as the backend reports it for `vm list`. */
typedef struct vg_admin_vm {
    char name[256];
    char uuid[37];     /**< canonical form, or "" if unknown */
    const char *state; /**< a static string: "running", "paused", "shut off", ... */
    unsigned viewers;
} vg_admin_vm;

/**
 * What the daemon does for the admin socket. Every function returns 0 or a
 * negative errno: -ENOENT for an unknown VM, -ENODEV for a VM that is not
 * running or has no console, -EINVAL for a bad argument, -ENOTCONN when the
 * hypervisor is unreachable, any other for a failure. Called from admin
 * connection threads (see the threading rules above).
 */
typedef struct vg_admin_live_ops {
    /** All VMs, sorted by name: *out is a new GArray of vg_admin_vm (the caller unrefs it). */
    int (*vm_list)(void *opaque, GArray **out);
    /** A PNG of @vm's screen in *png (g_malloc'ed; the caller g_frees it) of *len bytes. */
    int (*screenshot)(void *opaque, const char *vm, uint8_t **png, size_t *len);
    /** Type UTF-8 @text (US layout characters only, already checked) into @vm. */
    int (*send_text)(void *opaque, const char *vm, const char *text);
    /** Press @n keys (QEMU key numbers) in order, then release them in reverse. */
    int (*send_combo)(void *opaque, const char *vm, const uint16_t *qnums, int n);
    /** start|shutdown|destroy|suspend|resume @vm. Optional: NULL means not supported. */
    int (*power)(void *opaque, const char *vm, const char *action);
} vg_admin_live_ops;

/** Where and for whom the admin socket listens. */
typedef struct vg_admin_config {
    const char *socket_path; /**< NULL: VG_CONTROL_DEFAULT_SOCKET */
    const char *group;       /**< NULL: VG_ADMIN_DEFAULT_GROUP */
    const char
        *readonly_group;     /**< may list, read the audit log and take screenshots (NULL: none) */
    unsigned idle_timeout_s; /**< a connection that sends nothing this long is closed (0: 300) */
    const char *instance;    /**< this vmgated's [instance] name: vm.list names it as the
                                  instance of the live VMs, and lists the VMs other instances
                                  hold from the store (NULL: the live VMs only) */
} vg_admin_config;

/**
 * Create the admin socket and start serving it.
 * @param store        required; borrowed, must outlive the admin server
 * @param sessions     may be NULL (session commands then fail with ENOTSUP)
 * @param audit        may be NULL (nothing is recorded)
 * @param live         may be NULL, as may each of its functions (those
 *                     commands then fail with ENOTSUP); borrowed
 * @return 0 and *out set; -EINVAL for a bad argument; -ENAMETOOLONG for a
 *         socket path that does not fit; -EADDRINUSE if another process is
 *         listening on the socket; -EEXIST if the path is something other
 *         than a socket; another negative errno from the system.
 */
int vg_admin_new(const vg_admin_config *cfg, vg_store *store, vg_sessions *sessions,
                 vg_audit *audit, const vg_admin_live_ops *live, void *live_opaque, vg_admin **out);

/**
 * Stop serving: close the socket (and remove its file), end every
 * connection (a follower of the audit log is told the daemon is stopping),
 * and wait for their threads. No live op runs after this returns. NULL is
 * fine.
 */
void vg_admin_free(vg_admin *admin);

#endif /* VG_ADMIN_H */
