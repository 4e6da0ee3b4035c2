/*
 * vmgate — PNG encoding of BGRX32 screens (libpng).
 */
#ifndef VG_PNG_H
#define VG_PNG_H

#include <stddef.h>
#include <stdint.h>

/**
 * Encode a BGRX32 image as an 8-bit RGB PNG in memory.
 * @param out  receives a g_malloc'ed buffer the caller g_free()s
 * @return 0, -EINVAL for a bad size or stride, -ENOMEM, -EIO on a libpng error.
 */
int vg_png_encode_bgrx(const uint8_t *pixels, uint32_t width, uint32_t height, size_t stride,
                       uint8_t **out, size_t *out_len);

/**
 * Write bytes to @path atomically: a temporary file beside it, fsync, rename.
 * @return 0 or -errno.
 */
int vg_png_save(const char *path, const uint8_t *data, size_t len);

#endif /* VG_PNG_H */
