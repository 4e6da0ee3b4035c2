/*
 * vmgate — finding a vertical scroll between two pictures of a screen: the
 * rows of an area of the new picture that are the old picture's rows moved
 * up or down. A front end then tells its client to move what it already
 * shows (the graphics pipeline's SurfaceToSurface) and sends only the rows
 * that came in, where it would otherwise send the whole area again.
 *
 * Every row of a band found was compared byte for byte: a front end that
 * moves its copy of the old picture the same way holds exactly the new
 * picture's rows there.
 */
#ifndef VG_SCROLL_H
#define VG_SCROLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pixman.h>

/** The fewest rows a band must have to be worth a move. */
#define VG_SCROLL_MIN_ROWS 32
/** The largest move looked for, in rows (either way). */
#define VG_SCROLL_MAX_DY 512

typedef struct vg_scroll {
    int x1, x2; /**< the columns [x1, x2) */
    int y1, y2; /**< the band's rows in the new picture, [y1, y2) */
    int dx;     /**< new column x is old column x + dx (dx > 0: the content moved left) */
    int dy;     /**< new row y is old row y + dy (dy > 0: the content moved up) */
} vg_scroll;

/**
 * Look in the area [@x1, @x2) × [@y1, @y2) of two 32-bit pictures of the
 * same size for a band of rows of @cur that are rows of @old moved by the
 * same distance, both rows inside the area. @return true with the longest
 * such band (at least VG_SCROLL_MIN_ROWS rows, dy ≠ 0) in @out; false when
 * there is none or the area is too small to be worth looking at. The cost
 * is a few row comparisons per distance tried, then one per band row.
 */
bool vg_scroll_find(const uint8_t *old, size_t old_stride, const uint8_t *cur, size_t cur_stride,
                    int x1, int y1, int x2, int y2, vg_scroll *out);

/**
 * Move the band in @pixels as the client moves it: pixel (x, y) of the band
 * gets pixel (x + dx, y + dy).
 */
void vg_scroll_apply(uint8_t *pixels, size_t stride, const vg_scroll *s);

/** The band (its rows in the new picture) as a region; @band is initialised here. */
void vg_scroll_band(const vg_scroll *s, pixman_region32_t *band);

/**
 * The front ends' step before they copy @damage of a @width × @height
 * screen: when its extents cover a quarter of the screen or more, look
 * there (vg_scroll_find) for a scroll from @old to @cur. @return true when
 * one was found: *@out holds it and its band has left @damage.
 */
bool vg_scroll_take(const uint8_t *old, size_t old_stride, const uint8_t *cur, size_t cur_stride,
                    uint32_t width, uint32_t height, pixman_region32_t *damage, vg_scroll *out);

#endif
