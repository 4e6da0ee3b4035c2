/*
 * vmgate — finding a move between two pictures of a screen: the rows of an
 * area of the new picture that are the old picture's rows moved up or down
 * (scrolling), or else a rectangle of it moved in both directions (a window
 * dragged). A front end then tells its client to move what it already
 * shows (the graphics pipeline's SurfaceToSurface, VNC's CopyRect) and
 * sends only what came in, where it would otherwise send the whole area
 * again.
 *
 * Every row of a band found was compared byte for byte: a front end that
 * moves its copy of the old picture the same way holds exactly the new
 * picture's pixels there.
 */
#ifndef VG_SCROLL_H
#define VG_SCROLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pixman.h>

/** The fewest rows a band must have to be worth a move. */
#define VG_SCROLL_MIN_ROWS 32
/** The largest vertical scroll looked for, in rows (either way). */
#define VG_SCROLL_MAX_DY 512
/** Damage extents of this many pixels or more are searched, and smaller
 * ones too when they are a quarter of the screen. */
#define VG_SCROLL_MIN_AREA (256 * 256)

typedef struct vg_scroll {
    int x1, x2; /**< the columns [x1, x2) */
    int y1, y2; /**< the band's rows in the new picture, [y1, y2) */
    int dx;     /**< new column x is old column x + dx (dx > 0: the content moved left) */
    int dy;     /**< new row y is old row y + dy (dy > 0: the content moved up) */
} vg_scroll;

/**
 * Look in the area [@x1, @x2) × [@y1, @y2) of two 32-bit pictures of
 * @width × @height for a band of rows of @cur that are rows of @old moved
 * by the same distance (dx = 0), both rows inside the area; when no such
 * band covers half the area, also for a rectangle of @cur inside the area
 * that is one of @old moved by up to 128 pixels in each direction (from
 * anywhere in the picture).
 * @return true with the larger found (at least VG_SCROLL_MIN_ROWS rows and
 * 64 columns, not an unmoved one) in @out; false when there is none or the
 * area is too small to be worth looking at. The cost is a few row
 * comparisons per distance tried, then one per row of the result (a
 * rectangle: about one comparison of the area's changed rows more).
 */
bool vg_scroll_find(const uint8_t *old, size_t old_stride, const uint8_t *cur, size_t cur_stride,
                    uint32_t width, uint32_t height, int x1, int y1, int x2, int y2,
                    vg_scroll *out);

/**
 * Move the band in @pixels as the client moves it: pixel (x, y) of the band
 * gets pixel (x + dx, y + dy).
 */
void vg_scroll_apply(uint8_t *pixels, size_t stride, const vg_scroll *s);

/** The band (its rows in the new picture) as a region; @band is initialised here. */
void vg_scroll_band(const vg_scroll *s, pixman_region32_t *band);

/**
 * The front ends' step before they copy @damage of a @width × @height
 * screen: when its extents cover VG_SCROLL_MIN_AREA pixels or a quarter of
 * the screen, look there (vg_scroll_find) for a move from @old to @cur.
 * @return true when one was found: *@out holds it and its band has left
 * @damage.
 */
bool vg_scroll_take(const uint8_t *old, size_t old_stride, const uint8_t *cur, size_t cur_stride,
                    uint32_t width, uint32_t height, pixman_region32_t *damage, vg_scroll *out);

/** The most moves vg_scroll_take_moves finds in one update. */
#define VG_SCROLL_MAX_MOVES 3
/** After this many searches in a row found nothing ... */
#define VG_SCROLL_BACKOFF_AFTER 4
/** ... only one large update in this many is searched, until one is found. */
#define VG_SCROLL_BACKOFF_EVERY 8

/** What a front end's searches remember from one update to the next. */
typedef struct vg_scroll_history {
    vg_scroll last;   /**< the last first move found, tried first (zeroed: none) */
    unsigned misses;  /**< searches in a row that found nothing */
    unsigned skipped; /**< large updates not searched since the last search */
} vg_scroll_history;

/**
 * vg_scroll_take, then the same again in what is left of @damage above and
 * below the move found (a frame the guest had half drawn, rows beside
 * something that changed and did not move). The moves are put in an order
 * in which none overwrites what a later one reads (one that cannot be is
 * dropped: its pixels stay in @damage) and applied to @old in that order
 * (vg_scroll_apply); a client must apply them in the same order.
 * @hist (may be NULL; zeroed at first): the caller's last move, tried
 * first for a move in both directions (a window dragged goes on the same
 * way), and how many searches in a row found nothing: after
 * VG_SCROLL_BACKOFF_AFTER of them (a video, noise), only one large update
 * in VG_SCROLL_BACKOFF_EVERY is searched until a move is found again, so
 * that content that never moves costs little.
 * @return how many moves are in @out (0 to VG_SCROLL_MAX_MOVES); they have
 * all left @damage.
 */
int vg_scroll_take_moves(uint8_t *old, size_t old_stride, const uint8_t *cur, size_t cur_stride,
                         uint32_t width, uint32_t height, pixman_region32_t *damage,
                         vg_scroll_history *hist, vg_scroll out[VG_SCROLL_MAX_MOVES]);

#endif
