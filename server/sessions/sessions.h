/*
 * vmgate — the registry of live sessions: per VM, who is watching (user,
 * protocol, role, source address, since). The session is the one place
 * where input permission is checked: front ends hand every input event to
 * vg_session_* and never decide themselves.
 *
 * Threading: all functions are thread-safe (one mutex). Viewer callbacks
 * (kick) are called without the mutex held.
 */
#ifndef VG_SESSIONS_H
#define VG_SESSIONS_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "model.h"

typedef struct vg_sessions vg_sessions;

/** One viewer as the admin sees it. */
typedef struct vg_viewer_info {
    char id[24]; /**< viewer id, e.g. "v12" */
    char user[65];
    char protocol[8]; /**< "vnc" or "rdp" */
    vg_role role;
    char address[64]; /**< source address */
    int64_t since;    /**< wall clock, seconds since the epoch */
} vg_viewer_info;

/** One session: a VM with at least one viewer. */
typedef struct vg_session_info {
    char id[24]; /**< session id, e.g. "s3" */
    char vm[65];
    GArray *viewers; /**< of vg_viewer_info */
} vg_session_info;

/** Free a GPtrArray element from vg_sessions_list (set as its free func). */
void vg_session_info_free(gpointer info);

/** Viewer side of the session: how to end a viewer. */
typedef struct vg_viewer_ops {
    /** Disconnect the viewer, telling the user @reason. Called once. */
    void (*kick)(void *opaque, const char *reason);
} vg_viewer_ops;

vg_sessions *vg_sessions_new(void);
void vg_sessions_free(vg_sessions *s);

/**
 * Add a viewer to VM @vm's session (created on first viewer).
 * @param viewer_id  receives the new viewer's id (24 bytes)
 * @return 0 or -ENOMEM
 */
int vg_sessions_join(vg_sessions *s, const char *vm, const char *user, const char *protocol,
                     vg_role role, const char *address, const vg_viewer_ops *ops, void *opaque,
                     char viewer_id[24]);

/** Remove a viewer (the session goes when its last viewer leaves). */
void vg_sessions_leave(vg_sessions *s, const char *viewer_id);

/** All sessions (GPtrArray of vg_session_info, free func set). */
GPtrArray *vg_sessions_list(vg_sessions *s);

/** Number of viewers on @vm. */
unsigned vg_sessions_viewer_count(vg_sessions *s, const char *vm);

/**
 * Kick a whole session ("s…" id) or one viewer ("v…" id) with @reason.
 * @return number of viewers kicked (>0), or -ENOENT for an unknown id.
 */
int vg_sessions_kick(vg_sessions *s, const char *id, const char *reason);

/** Whether viewer @viewer_id may send input (its role allows it). */
bool vg_sessions_may_input(vg_sessions *s, const char *viewer_id);

/** Give every live viewer of @user on @vm the role @role (an assignment
 * changed): it applies to their next input event. @return how many. */
unsigned vg_sessions_set_role(vg_sessions *s, const char *vm, const char *user, vg_role role);

#endif /* VG_SESSIONS_H */
