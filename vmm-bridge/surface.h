/*
 * vmgate — a VM's screen: one BGRX32 framebuffer per VM, its damage, its
 * pointer shape, and the fan-out of changes to listeners (viewers).
 *
 * Threading: one producer (the display source's thread) calls write,
 * resize, set_cursor, commit and close. Any thread may read pixels between
 * vg_surface_lock and vg_surface_unlock, add or remove listeners, and wait.
 * Listener callbacks run on the producer's thread with the listener lock
 * held and the pixel lock NOT held: after vg_surface_remove_listener returns,
 * no callback for that listener is running or will run.
 * Lock order: listener lock, then pixel lock.
 */
#ifndef VG_SURFACE_H
#define VG_SURFACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "display.h"

#define VG_SURFACE_BPP 4

/** Create an empty (0 × 0) surface with one reference. */
vg_surface *vg_surface_new(void);
vg_surface *vg_surface_ref(vg_surface *s);
/** Drop a reference; the last one frees. NULL is fine. */
void vg_surface_unref(vg_surface *s);

/**
 * Change the size; the new framebuffer is black and no part of it counts as
 * received. Listeners get resize() at once.
 * @return 0, or -EINVAL for a size outside 1..VG_MAX_DIMENSION, -ENOMEM.
 */
int vg_surface_resize(vg_surface *s, uint32_t width, uint32_t height);

/**
 * Copy a rectangle of BGRX32 pixels in. Rows equal to what is there already
 * add no damage, so damage means pixels that really changed.
 * @return 1 if pixels changed, 0 if not, -ERANGE if the rectangle is not
 *         inside the surface (nothing is written).
 */
int vg_surface_write(vg_surface *s, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
                     const uint8_t *src, size_t src_stride);

/** End of one update from the source: hand the damage gathered since the
 * last commit to the listeners and wake waiters. */
void vg_surface_commit(vg_surface *s);

/** Replace the pointer shape (copied) and tell listeners. */
int vg_surface_set_cursor(vg_surface *s, const vg_cursor *cursor);

/** The source ended; listeners get closed(reason), waiters wake. Idempotent. */
void vg_surface_close(vg_surface *s, const char *reason);

/**
 * Register a listener. If the surface already has a size, resize() is
 * called at once so the listener learns the current state; if it is closed,
 * -EPIPE is returned and nothing is registered.
 */
int vg_surface_add_listener(vg_surface *s, const vg_surface_listener_ops *ops, void *opaque);
void vg_surface_remove_listener(vg_surface *s, const vg_surface_listener_ops *ops, void *opaque);

/** Reader access: pixels, size and stride are stable between lock and unlock. */
void vg_surface_lock(vg_surface *s);
void vg_surface_unlock(vg_surface *s);
const uint8_t *vg_surface_pixels_locked(vg_surface *s);
uint32_t vg_surface_width_locked(vg_surface *s);
uint32_t vg_surface_height_locked(vg_surface *s);
size_t vg_surface_stride_locked(vg_surface *s);

/**
 * Wait until every pixel of the current mode has been received at least once.
 * @return 0, -ETIMEDOUT at the deadline (monotonic µs), -EPIPE if closed.
 */
int vg_surface_wait_frame(vg_surface *s, int64_t deadline_us);

/**
 * Wait until a complete frame is there and no pixel has changed for
 * @stable_ms milliseconds.
 * @return 0, -ETIMEDOUT at the deadline (monotonic µs), -EPIPE if closed.
 */
int vg_surface_wait_stable(vg_surface *s, uint32_t stable_ms, int64_t deadline_us);

/** Number of commits that changed pixels (or size) so far. */
uint64_t vg_surface_serial(vg_surface *s);

/** Write the current screen as PNG (atomically: temporary file, then rename). */
int vg_surface_write_png(vg_surface *s, const char *path);

/**
 * The current screen as PNG in memory (caller g_free()s *out).
 * @return 0, -ENODATA if the surface has no size yet, -ENOMEM, -EIO.
 */
int vg_surface_encode_png(vg_surface *s, uint8_t **out, size_t *out_len);

/**
 * The current screen scaled down (pixman, bilinear) to fit @max_w × @max_h
 * with its aspect kept, as PNG in memory: a thumbnail. Never scaled up.
 * @return as vg_surface_encode_png.
 */
int vg_surface_encode_png_scaled(vg_surface *s, uint32_t max_w, uint32_t max_h, uint8_t **out,
                                 size_t *out_len);

/** Reason given to vg_surface_close, or NULL while open. Copy into buf. */
bool vg_surface_closed_reason(vg_surface *s, char *buf, size_t len);

#endif /* VG_SURFACE_H */
