/*
 * vmgate-shot — screen images in memory: BGRX32 pixels (the surface's
 * format), a copy of the live screen, PNG files in and out.
 *
 * Threading: an image belongs to one thread.
 */
#ifndef VG_SHOT_IMAGE_H
#define VG_SHOT_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "display.h"

/** A rectangle in screen pixels. */
typedef struct shot_rect {
    int x, y, w, h;
} shot_rect;

/** BGRX32 pixels, rows packed (stride = width * 4). */
typedef struct shot_image {
    uint32_t width, height;
    uint8_t *px; /**< g_malloc'ed; shot_image_clear() frees it */
} shot_image;

/** The largest image read from a PNG file (the surface's own limit). */
#define SHOT_IMAGE_MAX_DIM 8192

/** Free the pixels; the struct is zeroed. NULL is fine. */
void shot_image_clear(shot_image *img);

/**
 * Copy the current screen of @surface.
 * @return 0, or -ENODATA while the surface has no size, -ENOMEM.
 */
int shot_image_from_surface(vg_surface *surface, shot_image *out);

/**
 * Read a PNG file (any colour type libpng reads; alpha is dropped).
 * @param why  receives a sentence for people on failure
 * @return 0, -errno from opening, -EINVAL for a file that is not a PNG or
 *         larger than SHOT_IMAGE_MAX_DIM on a side.
 */
int shot_image_load_png(const char *path, shot_image *out, char *why, size_t why_len);

/** Write @img as an RGB PNG (atomically). @return 0 or -errno. */
int shot_image_save_png(const shot_image *img, const char *path);

/** Pixel (x, y) as 0xRRGGBB; the caller keeps x, y inside. */
static inline uint32_t shot_image_pixel(const shot_image *img, int x, int y)
{
    const uint8_t *p = img->px + ((size_t)y * img->width + (size_t)x) * 4;
    return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/** Parse "X,Y,W,H" (W and H at least 1). @return 0 or -EINVAL. */
int shot_rect_parse(const char *text, shot_rect *out);

/** Is @r inside a @width x @height image? */
bool shot_rect_inside(const shot_rect *r, uint32_t width, uint32_t height);

#endif /* VG_SHOT_IMAGE_H */
