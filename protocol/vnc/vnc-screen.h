/*
 * vmgate — one VM's screen as a non-listening libvncserver server.
 *
 * The screen listens to a surface (vmm-bridge/surface.h) and keeps its own
 * copy of the pixels, which libvncserver encodes from. Viewers are attached
 * as already-connected sockets (one end of the relay's socketpair, see
 * vnc-relay.h); the screen never binds a port. Input from viewers goes to
 * the ops below, tagged with the opaque pointer the viewer was attached
 * with; the screen knows no roles or policy.
 *
 * Threading: each screen has one event thread, the only thread that
 * touches the libvncserver screen, its clients and the pixel copy. The
 * surface's listener callbacks run on the surface's producer thread and only
 * record what changed and wake the event thread. vg_vnc_screen_add_client()
 * and vg_vnc_screen_kick() may be called from any thread (also from the ops
 * callbacks): they queue work for the event thread. The ops callbacks run on
 * the event thread with no screen lock held; they must not call
 * vg_vnc_screen_free() for their own screen.
 */
#ifndef VG_VNC_SCREEN_H
#define VG_VNC_SCREEN_H

#include <stdbool.h>
#include <stdint.h>

#include "surface.h"

typedef struct vg_vnc_screen vg_vnc_screen;

/** Longest reason kept for a kick or a close (bytes, with the NUL). */
#define VG_VNC_SCREEN_REASON_MAX 160

/** Widest and tallest pointer shape passed on to viewers (pixels). */
#define VG_VNC_SCREEN_CURSOR_MAX 256

/**
 * What a screen reports about its viewers. All three are required; all run
 * on the screen's event thread.
 */
typedef struct vg_vnc_screen_ops {
    /**
     * A key went down or up. @qnum is the QEMU key number: the viewer's own
     * keycode when it sent a QEMU extended key event, otherwise mapped from
     * @keysym (0 when the keysym is not in the keymap).
     */
    void (*on_key)(void *viewer_opaque, uint16_t qnum, uint32_t keysym, bool down);
    /** An absolute pointer position with the RFB button mask (VG_BUTTON_*). */
    void (*on_pointer)(void *viewer_opaque, int32_t x, int32_t y, uint32_t buttons);
    /**
     * The viewer's connection to the screen has ended: it left, it was
     * kicked (@reason is the kick's), the surface closed (@reason is the
     * surface's), or a protocol or I/O error. Called once per attached
     * viewer; no other callback for that viewer follows.
     */
    void (*on_gone)(void *viewer_opaque, const char *reason);
} vg_vnc_screen_ops;

/**
 * Create a screen for @surface and start its event thread.
 *
 * The screen takes a reference on @surface and listens to it until freed.
 * Until the surface has a size the screen shows a black placeholder.
 *
 * @param ops  callbacks for all viewers of this screen (not copied: must
 *             outlive the screen)
 * @return 0, -EINVAL (NULL argument or op), -EPIPE (the surface is already
 *         closed), -EMFILE (no descriptor below FD_SETSIZE for the wake-up),
 *         -ENOMEM.
 */
int vg_vnc_screen_new(vg_surface *surface, const vg_vnc_screen_ops *ops, vg_vnc_screen **out);

/**
 * Attach a connected socket as a new viewer. libvncserver sends its
 * protocol version on @fd at once and expects the RFB prelude (the relay
 * answers it with security type None).
 *
 * @param fd  taken in every case: on failure it is closed here. It must be
 *            below FD_SETSIZE because libvncserver select()s on it.
 * @param viewer_opaque  passed to the ops for this viewer; also the key for
 *                       vg_vnc_screen_kick()
 * @return 0 (queued: on_gone() follows once, whatever happens next),
 *         -EMFILE (fd ≥ FD_SETSIZE), -EBADF (fd < 0), -EPIPE (the surface
 *         has closed). After a failure no callback is made.
 */
int vg_vnc_screen_add_client(vg_vnc_screen *screen, int fd, void *viewer_opaque);

/**
 * Disconnect the viewer attached with @viewer_opaque; its on_gone() gets
 * @reason (truncated to VG_VNC_SCREEN_REASON_MAX). Queued: returns at once.
 * No effect if that viewer is not, or no longer, on the screen.
 */
void vg_vnc_screen_kick(vg_vnc_screen *screen, void *viewer_opaque, const char *reason);

/**
 * Stop listening to the surface, stop the event thread, close every
 * viewer's socket and free the screen. No callback runs during or after
 * this call (viewers still attached get no on_gone()). Not from an ops
 * callback of this screen. NULL is fine.
 */
void vg_vnc_screen_free(vg_vnc_screen *screen);

/** The protocol (vg_metric_proto) its updates count under: VNC unless set. Any thread. */
void vg_vnc_screen_set_metric_protocol(vg_vnc_screen *s, int proto);

#endif /* VG_VNC_SCREEN_H */
