/*
 * vmgate — the two interfaces that carry the architecture.
 *
 * A display source produces a guest screen and accepts input (the libvirt
 * console implements it; a test double may too). A viewer listens to a
 * surface (VNC clients and RDP peers implement it). Both are const ops
 * tables; optional slots are marked and called through NULL-tolerant helpers.
 */
#ifndef VG_DISPLAY_H
#define VG_DISPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include <pixman.h>

/* Pointer button bits, as in RFB PointerEvent. A wheel step is a press and a
 * release of a wheel bit. */
#define VG_BUTTON_LEFT        0x01
#define VG_BUTTON_MIDDLE      0x02
#define VG_BUTTON_RIGHT       0x04
#define VG_BUTTON_WHEEL_UP    0x08
#define VG_BUTTON_WHEEL_DOWN  0x10
#define VG_BUTTON_WHEEL_LEFT  0x20
#define VG_BUTTON_WHEEL_RIGHT 0x40
/* "Back". RFB's 8-bit mask has no room for "forward"; QEMU 7.2's VNC server
 * maps only bits 0x01-0x10 and drops this one and the horizontal wheel. */
#define VG_BUTTON_SIDE        0x80
#define VG_BUTTON_MASK        0xff

typedef struct vg_display_source vg_display_source;
typedef struct vg_surface vg_surface;

/** A pointer shape: ARGB32 pixels (premultiplied is not assumed), hotspot. */
typedef struct vg_cursor {
    uint32_t width, height;
    uint32_t hot_x, hot_y;
    uint32_t *argb; /**< width * height pixels, 0xAARRGGBB */
} vg_cursor;

typedef struct vg_display_source_ops {
    /** Queue a key press or release. keysym may be 0 when only the key is known. */
    int (*send_key)(vg_display_source *src, uint16_t qnum, uint32_t keysym, bool down);
    /** Queue an absolute pointer position with the VG_BUTTON_* bits held. */
    int (*send_pointer)(vg_display_source *src, int32_t x, int32_t y, uint32_t buttons);
    /** Ask the guest to change its mode. Optional: -ENOTSUP when absent. */
    int (*request_resize)(vg_display_source *src, uint32_t width, uint32_t height);
} vg_display_source_ops;

/** Base struct, embedded first in each implementation. */
struct vg_display_source {
    const vg_display_source_ops *ops;
    vg_surface *surface; /**< the source's screen; lives as long as the source */
};

static inline int vg_display_source_send_key(vg_display_source *src, uint16_t qnum, uint32_t keysym,
                                             bool down)
{
    return src->ops->send_key(src, qnum, keysym, down);
}

static inline int vg_display_source_send_pointer(vg_display_source *src, int32_t x, int32_t y,
                                                 uint32_t buttons)
{
    return src->ops->send_pointer(src, x, y, buttons);
}

int vg_display_source_request_resize(vg_display_source *src, uint32_t width, uint32_t height);

/**
 * Turn wheel steps into press/release pairs of the wheel bits.
 * @param steps  positive scrolls down (away from the user), negative up.
 */
int vg_display_source_send_wheel(vg_display_source *src, int32_t x, int32_t y, uint32_t buttons,
                                 int steps);

/*
 * Viewer side. Callbacks run on the source's thread: record and wake, never
 * encode there, never call back into the surface's listener functions.
 */
typedef struct vg_surface_listener_ops {
    /** New pixels in @damage (surface coordinates). */
    void (*damage)(void *opaque, const pixman_region32_t *damage);
    /** The surface changed size; all previous damage is void. */
    void (*resize)(void *opaque, uint32_t width, uint32_t height);
    /** New pointer shape. Optional. The cursor is only valid during the call. */
    void (*cursor)(void *opaque, const vg_cursor *cursor);
    /** The source has ended; @reason is for people. No callback follows. */
    void (*closed)(void *opaque, const char *reason);
} vg_surface_listener_ops;

#endif /* VG_DISPLAY_H */
