/*
 * vmgate — small helpers shared by every module: checked size arithmetic
 * for buffers whose dimensions come from the wire or the guest, and clocks.
 */
#ifndef VG_UTIL_H
#define VG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Largest framebuffer side vmgate accepts from any source (QEMU's own limit is 16384). */
#define VG_MAX_DIMENSION 16384

/**
 * a * b without overflow.
 * @return 0 and *out set, or -EOVERFLOW.
 */
int vg_size_mul(size_t a, size_t b, size_t *out);

/**
 * a + b without overflow.
 * @return 0 and *out set, or -EOVERFLOW.
 */
int vg_size_add(size_t a, size_t b, size_t *out);

/**
 * Byte size of a w × h image with bpp bytes per pixel, checked: both sides in
 * 1..VG_MAX_DIMENSION, bpp in 1..4, no overflow.
 * @return 0 and *out set; -EINVAL for a dimension out of range; -EOVERFLOW.
 */
int vg_image_size(uint32_t w, uint32_t h, uint32_t bpp, size_t *out);

/**
 * Whether the rectangle (x, y, w, h) lies inside a width × height area,
 * computed without overflow for any 32-bit inputs. Empty rectangles are
 * inside if their origin is.
 */
bool vg_rect_inside(uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint32_t width,
                    uint32_t height);

/** Monotonic clock in microseconds. */
int64_t vg_now_us(void);

#endif /* VG_UTIL_H */
