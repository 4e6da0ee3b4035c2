/*
 * vmgate — a viewer's input, between a front end and the display source.
 *
 * Every front end (VNC, RDP) sends a viewer's keys and pointer through one
 * of these instead of straight to the source. It asks the session at each
 * event whether the viewer may give input (a role change applies to the
 * next event, and a viewer demoted while holding keys lets go of them
 * then), keeps what the viewer holds down (keys, buttons), and lets all of
 * it go when the viewer ends, whatever ended it: a viewer that leaves while
 * holding Shift must not leave Shift held in the guest.
 *
 * Threading: any thread; calls on one viewer are serialised by its own lock
 * (the front end's input thread and whoever ends the viewer). The display
 * source must outlive the viewer.
 */
#ifndef VG_VIEWER_H
#define VG_VIEWER_H

#include <stdbool.h>
#include <stdint.h>

#include "display.h"

typedef struct vg_viewer vg_viewer;

/** Whether the viewer may give input now (asked at each event). */
typedef bool (*vg_viewer_may_input_fn)(void *opaque);

/** Input from a viewer of @source; @may_input NULL: always. */
vg_viewer *vg_viewer_new(vg_display_source *source, vg_viewer_may_input_fn may_input, void *opaque);

/** A key (QEMU key number, keysym or 0) pressed or released. */
void vg_viewer_key(vg_viewer *v, uint16_t qnum, uint32_t keysym, bool down);

/** The pointer at (@x, @y) with the VG_BUTTON_* bits @buttons held. */
void vg_viewer_pointer(vg_viewer *v, int32_t x, int32_t y, uint32_t buttons);

/** Wheel steps at (@x, @y) with @buttons held (positive: down, away from the user). */
void vg_viewer_wheel(vg_viewer *v, int32_t x, int32_t y, uint32_t buttons, int steps);

/** Ask the guest for a new mode. -EPERM when the viewer may not give input. */
int vg_viewer_request_resize(vg_viewer *v, uint32_t width, uint32_t height);

/** Let go of every key and button the viewer holds (it ends). Idempotent. */
void vg_viewer_release(vg_viewer *v);

/** vg_viewer_release(), then free. NULL is fine. */
void vg_viewer_free(vg_viewer *v);

#endif
