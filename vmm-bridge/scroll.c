/*
 * vmgate — finding a scroll or a moved window. See scroll.h.
 *
 * Written here rather than taken from a library: the codecs vmgate links
 * (FreeRDP's, libvncserver's, libx264) search motion per block inside
 * their own encoders and expose none of it.
 *
 * Scrolling (whole rows of the area): a few "probe" rows of the new
 * picture that changed and are not one colour are looked up in the old
 * picture at every distance up to VG_SCROLL_MAX_DY (memcmp fails on the
 * first differing byte, so a miss costs little); each distance where a
 * probe matches is then grown into the longest run of equal rows around
 * the probe, row by row.
 *
 * When no band covers half the area, a move in both directions: a probe
 * of MOVE_PROBE_PX pixels where a row starts to differ (a window's edge) is
 * looked up with memmem in the old rows up to MOVE_MAX_D away; its places
 * are scored on a few rows above and below, and the best is grown into a
 * rectangle, rows first, then columns.
 */
#include "scroll.h"

#include <limits.h>
#include <string.h>

#include <glib.h>

#define PROBES         3  /* probe rows tried, spread over the area */
#define PROBE_SLIDE    48 /* rows a probe moves down to find one worth looking up */
#define MAX_CANDIDATES 8
/* Moves in both directions: */
#define MOVE_PROBE_PX   32   /* pixels of the probe looked up */
#define MOVE_MAX_D      128  /* the largest move looked for, either way, in each direction */
#define MOVE_CANDIDATES 64   /* places of the probe scored */
#define MOVE_MIN_COLS   64   /* the narrowest rectangle worth a move */
#define MOVE_COL_CHUNK  64   /* pixels of a row compared at a time */
#define PROBE_CHECKS    4096 /* places tried for a probe, in all */
#define MOVE_MAX_HITS   1024 /* places of a probe looked at, in all */

static const uint8_t *row(const uint8_t *p, size_t stride, int y, int x1)
{
    return p + (size_t)y * stride + (size_t)x1 * 4;
}

/* A row of one colour (blank lines) matches everywhere: useless as a probe. */
static bool uniform(const uint8_t *r, size_t len)
{
    return len < 8 || memcmp(r, r + 4, len - 4) == 0;
}

/* The longest band of whole rows of the area moved vertically; its height. */
static int find_vertical(const uint8_t *old, size_t old_stride, const uint8_t *cur,
                         size_t cur_stride, int x1, int y1, int x2, int y2, vg_scroll *out)
{
    size_t len;
    int h = y2 - y1, best = 0;

    len = (size_t)(x2 - x1) * 4;
    for (int k = 1; k <= PROBES; k++) {
        int dys[MAX_CANDIDATES], n = 0, yp = -1;

        /* A probe row that changed and has something on it. */
        for (int y = y1 + h * k / (PROBES + 1);
             y < y2 && y < y1 + h * k / (PROBES + 1) + PROBE_SLIDE; y++) {
            const uint8_t *r = row(cur, cur_stride, y, x1);
            if (!uniform(r, len) && memcmp(r, row(old, old_stride, y, x1), len) != 0) {
                yp = y;
                break;
            }
        }
        if (yp < 0)
            continue;
        for (int d = 1; d <= VG_SCROLL_MAX_DY && n < MAX_CANDIDATES; d++) {
            const uint8_t *r = row(cur, cur_stride, yp, x1);
            if (yp + d < y2 && memcmp(r, row(old, old_stride, yp + d, x1), len) == 0)
                dys[n++] = d;
            if (n < MAX_CANDIDATES && yp - d >= y1 &&
                memcmp(r, row(old, old_stride, yp - d, x1), len) == 0)
                dys[n++] = -d;
        }
        for (int i = 0; i < n; i++) {
            int d = dys[i], top = yp, bottom = yp + 1;
            /* Grow the run of rows equal at this distance, both rows in the area. */
            while (top - 1 >= y1 && top - 1 + d >= y1 && top - 1 + d < y2 &&
                   memcmp(row(cur, cur_stride, top - 1, x1), row(old, old_stride, top - 1 + d, x1),
                          len) == 0)
                top--;
            while (bottom < y2 && bottom + d >= y1 && bottom + d < y2 &&
                   memcmp(row(cur, cur_stride, bottom, x1), row(old, old_stride, bottom + d, x1),
                          len) == 0)
                bottom++;
            if (bottom - top > best) {
                best = bottom - top;
                *out = (vg_scroll){.x1 = x1, .x2 = x2, .y1 = top, .y2 = bottom, .dx = 0, .dy = d};
            }
        }
        /* A band over half the area is as good as it gets: stop looking. */
        if (best * 2 >= h)
            break;
    }
    return best;
}

/* ---- moves in both directions (a window dragged) ---- */

/* How many pixels from column @x on, at most @n, row @c has as row @o has
 * them from column x + dx on. */
static int run_right(const uint8_t *c, const uint8_t *o, int x, int dx, int n)
{
    const uint8_t *a = c + (size_t)x * 4, *b = o + (size_t)(x + dx) * 4;
    int k = 0;

    /* memcmp in chunks finds the chunk, then the pixel in it. */
    for (; k + MOVE_COL_CHUNK <= n; k += MOVE_COL_CHUNK)
        if (memcmp(a + (size_t)k * 4, b + (size_t)k * 4, MOVE_COL_CHUNK * 4) != 0)
            break;
    while (k < n && memcmp(a + (size_t)k * 4, b + (size_t)k * 4, 4) == 0)
        k++;
    return k;
}

/* The first column of [x1, x2) where row y of the two pictures differs, or -1. */
static int first_change(const uint8_t *old, size_t old_stride, const uint8_t *cur,
                        size_t cur_stride, int x1, int x2, int y)
{
    int k = run_right(row(cur, cur_stride, y, 0), row(old, old_stride, y, 0), x1, 0, x2 - x1);

    return k < x2 - x1 ? x1 + k : -1;
}

/*
 * A probe: MOVE_PROBE_PX pixels of a row of @cur, at *@px, where the row
 * first differs from @old at or after column @x_start (else before it), or
 * further along it; not one colour and not the same as the row above (the
 * rows of a flat area match at every distance and so tell nothing). Rows
 * are tried from @y_start on, wrapping around, each once; at most
 * PROBE_CHECKS places in all.
 */
static bool find_probe(const uint8_t *old, size_t old_stride, const uint8_t *cur, size_t cur_stride,
                       int x1, int y1, int x2, int y2, int x_start, int y_start, int *px, int *py)
{
    const size_t len = MOVE_PROBE_PX * 4;
    int checks = 0;

    for (int i = 0; i < y2 - y1 && checks < PROBE_CHECKS; i++) {
        int y = y1 + (y_start - y1 + i) % (y2 - y1), x;

        if (y == 0)
            continue; /* it has no row above */
        x = first_change(old, old_stride, cur, cur_stride, x_start, x2, y);
        if (x < 0)
            x = first_change(old, old_stride, cur, cur_stride, x1, x_start, y);
        if (x < 0)
            continue;
        x = MIN(x, x2 - MOVE_PROBE_PX);
        for (; x + MOVE_PROBE_PX <= x2 && checks < PROBE_CHECKS; x += MOVE_PROBE_PX, checks++) {
            const uint8_t *c = row(cur, cur_stride, y, x);
            if (!uniform(c, len) && memcmp(c, row(cur, cur_stride, y - 1, x), len) != 0) {
                *px = x;
                *py = y;
                return true;
            }
        }
    }
    return false;
}

typedef struct move_candidate {
    int dx, dy, score;
} move_candidate;

/*
 * Where the probe is in the @width × @height picture @old, moved by up to
 * MOVE_MAX_D both ways: nearest rows first, at most MOVE_CANDIDATES.
 * @return how many were found.
 */
static int find_candidates(const uint8_t *old, size_t old_stride, const uint8_t *probe, int px,
                           int py, int width, int height, move_candidate *cand)
{
    const size_t len = MOVE_PROBE_PX * 4;
    int lo = MAX(0, px - MOVE_MAX_D), hi = MIN(width, px + MOVE_PROBE_PX + MOVE_MAX_D);
    int n = 0, hits = 0;

    for (int d = 0; d <= MOVE_MAX_D && n < MOVE_CANDIDATES && hits < MOVE_MAX_HITS; d++) {
        for (int sign = 1; sign >= -1 && n < MOVE_CANDIDATES; sign -= 2) {
            int dy = sign * d, yo = py + dy;
            const uint8_t *row0, *hay, *hit;
            size_t hay_len;

            if ((d == 0 && sign < 0) || yo < 0 || yo >= height)
                continue;
            row0 = row(old, old_stride, yo, lo);
            hay = row0;
            hay_len = (size_t)(hi - lo) * 4;
            /* glibc's memmem skips through the row; only hits on a pixel
             * boundary count. */
            while (n < MOVE_CANDIDATES && hits < MOVE_MAX_HITS && hay_len >= len &&
                   (hit = memmem(hay, hay_len, probe, len)) != NULL) {
                size_t off = (size_t)(hit - row0), next = (off / 4 + 1) * 4;
                if (off % 4 == 0) {
                    int dx = lo + (int)(off / 4) - px;
                    if (dx != 0 || dy != 0)
                        cand[n++] = (move_candidate){.dx = dx, .dy = dy};
                }
                /* On to the next pixel boundary; a probe that repeats
                 * within itself (a pattern) could otherwise match at
                 * every byte. */
                hits++;
                hay_len -= (size_t)(row0 + next - hay);
                hay = row0 + next;
            }
        }
    }
    return n;
}

/* As run_right, leftwards: how many pixels before column @x, at most @n. */
static int run_left(const uint8_t *c, const uint8_t *o, int x, int dx, int n)
{
    int k = 0;

    for (; k + MOVE_COL_CHUNK <= n; k += MOVE_COL_CHUNK)
        if (memcmp(c + (size_t)(x - k - MOVE_COL_CHUNK) * 4,
                   o + (size_t)(x + dx - k - MOVE_COL_CHUNK) * 4, MOVE_COL_CHUNK * 4) != 0)
            break;
    while (k < n && memcmp(c + (size_t)(x - k - 1) * 4, o + (size_t)(x + dx - k - 1) * 4, 4) == 0)
        k++;
    return k;
}

/* Whether columns [x, x + n) of rows [top, bottom) are @old's moved by (dx, dy). */
static bool cols_match(const uint8_t *old, size_t old_stride, const uint8_t *cur, size_t cur_stride,
                       int x, int n, int top, int bottom, int dx, int dy)
{
    for (int y = top; y < bottom; y++)
        if (memcmp(row(cur, cur_stride, y, x), row(old, old_stride, y + dy, x + dx),
                   (size_t)n * 4) != 0)
            return false;
    return true;
}

/*
 * Grow the probe's match at (dx, dy) into a rectangle inside the area, its
 * source inside the @width × @height picture: first the rows where the
 * probe's columns match, then the columns that match on all those rows.
 * @return its area.
 */
static int64_t grow_rect(const uint8_t *old, size_t old_stride, const uint8_t *cur,
                         size_t cur_stride, int width, int height, int px, int py, int dx, int dy,
                         int x1, int y1, int x2, int y2, vg_scroll *r)
{
    int top = py, bottom = py + 1, left = px, right = px + MOVE_PROBE_PX;
    int ylo = MAX(y1, -dy), yhi = MIN(y2, height - dy);
    int xlo = MAX(x1, -dx), xhi = MIN(x2, width - dx);

    if (left < xlo || right > xhi)
        return 0;
    while (top - 1 >= ylo &&
           cols_match(old, old_stride, cur, cur_stride, px, MOVE_PROBE_PX, top - 1, top, dx, dy))
        top--;
    while (bottom < yhi && cols_match(old, old_stride, cur, cur_stride, px, MOVE_PROBE_PX, bottom,
                                      bottom + 1, dx, dy))
        bottom++;
    if (bottom - top < VG_SCROLL_MIN_ROWS)
        return 0;
    /* Then the columns, row by row (each row's bytes in order): as far
     * as every row so far matched. */
    left = xlo;
    right = xhi;
    for (int y = top; y < bottom && right - left > MOVE_PROBE_PX; y++) {
        const uint8_t *c = row(cur, cur_stride, y, 0), *o = row(old, old_stride, y + dy, 0);
        left = px - run_left(c, o, px, dx, px - left);
        right = px + MOVE_PROBE_PX +
                run_right(c, o, px + MOVE_PROBE_PX, dx, right - (px + MOVE_PROBE_PX));
    }
    *r = (vg_scroll){.x1 = left, .x2 = right, .y1 = top, .y2 = bottom, .dx = dx, .dy = dy};
    return (int64_t)(right - left) * (bottom - top);
}

/*
 * The largest rectangle of the area moved in both directions; its area.
 * The probes start at different rows and columns (one may sit in something
 * that changed and moved nowhere, an overlay). Each probe's candidates are
 * first scored on a few rows above and below (cheap), and only the best is
 * grown.
 */
static int64_t find_2d(const uint8_t *old, size_t old_stride, const uint8_t *cur, size_t cur_stride,
                       int width, int height, int x1, int y1, int x2, int y2, const vg_scroll *hint,
                       vg_scroll *out)
{
    static const int samples[] = {-256, -128, -64, -32, -16, -8, -4, 4, 8, 16, 32, 64, 128, 256};
    move_candidate cand[MOVE_CANDIDATES];
    int64_t best = 0;
    int h = y2 - y1;

    if (x2 - x1 < MOVE_PROBE_PX)
        return 0;
    for (int k = 1; k <= PROBES; k++) {
        int px, py, n, pick = -1;
        vg_scroll r;
        int64_t area;

        if (!find_probe(old, old_stride, cur, cur_stride, x1, y1, x2, y2,
                        x1 + (x2 - x1) * (k - 1) / PROBES, y1 + h * (k - 1) / PROBES, &px, &py))
            break;
        /* The last move first: a window being dragged goes on the same way. */
        if (hint && (hint->dx || hint->dy) && px + hint->dx >= 0 &&
            px + hint->dx + MOVE_PROBE_PX <= width && py + hint->dy >= 0 &&
            py + hint->dy < height &&
            cols_match(old, old_stride, cur, cur_stride, px, MOVE_PROBE_PX, py, py + 1, hint->dx,
                       hint->dy)) {
            area = grow_rect(old, old_stride, cur, cur_stride, width, height, px, py, hint->dx,
                             hint->dy, x1, y1, x2, y2, &r);
            if (area > best && r.x2 - r.x1 >= MOVE_MIN_COLS) {
                best = area;
                *out = r;
            }
            if (best * 2 >= (int64_t)(x2 - x1) * h)
                break;
        }
        n = find_candidates(old, old_stride, row(cur, cur_stride, py, px), px, py, width, height,
                            cand);
        for (int i = 0; i < n; i++) {
            cand[i].score = 0;
            for (size_t j = 0; j < sizeof(samples) / sizeof(samples[0]); j++) {
                int y = py + samples[j];
                if (y >= y1 && y < y2 && y + cand[i].dy >= 0 && y + cand[i].dy < height &&
                    cols_match(old, old_stride, cur, cur_stride, px, MOVE_PROBE_PX, y, y + 1,
                               cand[i].dx, cand[i].dy))
                    cand[i].score++;
            }
            if (pick < 0 || cand[i].score > cand[pick].score)
                pick = i;
        }
        if (pick < 0)
            continue;
        area = grow_rect(old, old_stride, cur, cur_stride, width, height, px, py, cand[pick].dx,
                         cand[pick].dy, x1, y1, x2, y2, &r);
        if (area > best && r.x2 - r.x1 >= MOVE_MIN_COLS) {
            best = area;
            *out = r;
        }
        /* Half the area moved is as good as it gets: stop looking. */
        if (best * 2 >= (int64_t)(x2 - x1) * h)
            break;
    }
    return best;
}

static bool find_move(const uint8_t *old, size_t old_stride, const uint8_t *cur, size_t cur_stride,
                      uint32_t width, uint32_t height, int x1, int y1, int x2, int y2,
                      const vg_scroll *hint, vg_scroll *out)
{
    vg_scroll band, rect;
    int64_t band_area, rect_area;
    int rows;

    if (x1 < 0 || y1 < 0 || x2 > (int64_t)width || y2 > (int64_t)height ||
        x2 - x1 < MOVE_MIN_COLS || y2 - y1 < 2 * VG_SCROLL_MIN_ROWS)
        return false;
    /* Scrolling first: whole rows, the cheaper search. */
    rows = find_vertical(old, old_stride, cur, cur_stride, x1, y1, x2, y2, &band);
    band_area = rows >= VG_SCROLL_MIN_ROWS ? (int64_t)rows * (x2 - x1) : 0;
    if (rows * 2 >= y2 - y1) {
        *out = band;
        return true;
    }
    rect_area = find_2d(old, old_stride, cur, cur_stride, (int)width, (int)height, x1, y1, x2, y2,
                        hint, &rect);
    if (rect_area > band_area) {
        *out = rect;
        return true;
    }
    if (band_area > 0)
        *out = band;
    return band_area > 0;
}

bool vg_scroll_find(const uint8_t *old, size_t old_stride, const uint8_t *cur, size_t cur_stride,
                    uint32_t width, uint32_t height, int x1, int y1, int x2, int y2, vg_scroll *out)
{
    return find_move(old, old_stride, cur, cur_stride, width, height, x1, y1, x2, y2, NULL, out);
}

void vg_scroll_apply(uint8_t *pixels, size_t stride, const vg_scroll *s)
{
    size_t len = (size_t)(s->x2 - s->x1) * 4;
    ptrdiff_t from = (ptrdiff_t)s->dy * (ptrdiff_t)stride + (ptrdiff_t)s->dx * 4;
    uint8_t *p;

    /* Rows move towards where the content goes: walk away from it, so no
     * source row is written before it is read (memmove: within a row, the
     * source and destination overlap when only dx moves). */
    if (s->dy > 0) {
        for (int y = s->y1; y < s->y2; y++) {
            p = pixels + (size_t)y * stride + (size_t)s->x1 * 4;
            memmove(p, p + from, len);
        }
    } else {
        for (int y = s->y2 - 1; y >= s->y1; y--) {
            p = pixels + (size_t)y * stride + (size_t)s->x1 * 4;
            memmove(p, p + from, len);
        }
    }
}

void vg_scroll_band(const vg_scroll *s, pixman_region32_t *band)
{
    pixman_region32_init_rect(band, s->x1, s->y1, (unsigned)(s->x2 - s->x1),
                              (unsigned)(s->y2 - s->y1));
}

/* Whether @damage is large enough to be searched. */
static bool worth_a_search(const pixman_region32_t *damage, uint32_t width, uint32_t height)
{
    const pixman_box32_t *ext = pixman_region32_extents((pixman_region32_t *)damage);
    uint64_t area = (uint64_t)(ext->x2 - ext->x1) * (uint64_t)(ext->y2 - ext->y1);

    return area >= VG_SCROLL_MIN_AREA || area * 4 >= (uint64_t)width * height;
}

static bool take_move(const uint8_t *old, size_t old_stride, const uint8_t *cur, size_t cur_stride,
                      uint32_t width, uint32_t height, pixman_region32_t *damage,
                      const vg_scroll *hint, vg_scroll *out)
{
    const pixman_box32_t *ext = pixman_region32_extents(damage);
    pixman_region32_t band;

    if (!worth_a_search(damage, width, height) ||
        !find_move(old, old_stride, cur, cur_stride, width, height, ext->x1, ext->y1, ext->x2,
                   ext->y2, hint, out))
        return false;
    vg_scroll_band(out, &band);
    pixman_region32_subtract(damage, damage, &band);
    pixman_region32_fini(&band);
    return true;
}

bool vg_scroll_take(const uint8_t *old, size_t old_stride, const uint8_t *cur, size_t cur_stride,
                    uint32_t width, uint32_t height, pixman_region32_t *damage, vg_scroll *out)
{
    return take_move(old, old_stride, cur, cur_stride, width, height, damage, NULL, out);
}

/* Whether applying @a first would overwrite pixels @b then reads. */
static bool clobbers(const vg_scroll *a, const vg_scroll *b)
{
    return a->x1 < b->x2 + b->dx && b->x1 + b->dx < a->x2 && a->y1 < b->y2 + b->dy &&
           b->y1 + b->dy < a->y2;
}

int vg_scroll_take_moves(uint8_t *old, size_t old_stride, const uint8_t *cur, size_t cur_stride,
                         uint32_t width, uint32_t height, pixman_region32_t *damage,
                         vg_scroll_history *hist, vg_scroll out[VG_SCROLL_MAX_MOVES])
{
    const vg_scroll *hint = hist ? &hist->last : NULL;
    vg_scroll found[VG_SCROLL_MAX_MOVES];
    int n = 0, n_out = 0;

    if (!worth_a_search(damage, width, height))
        return 0;
    /* After a run of searches that found nothing (a video, noise), only
     * every VG_SCROLL_BACKOFF_EVERY-th large update is searched. */
    if (hist && hist->misses >= VG_SCROLL_BACKOFF_AFTER &&
        ++hist->skipped < VG_SCROLL_BACKOFF_EVERY)
        return 0;
    if (hist)
        hist->skipped = 0;
    if (!take_move(old, old_stride, cur, cur_stride, width, height, damage, hint, &found[0])) {
        if (hist && hist->misses < UINT_MAX)
            hist->misses++;
        return 0;
    }
    n = 1;
    if (hist) {
        hist->last = found[0];
        hist->misses = 0;
    }
    /* Above the first move, then below it, each part on its own; every
     * search compares with the old picture as it is (nothing applied yet). */
    for (int part = 0; part < 2 && n < VG_SCROLL_MAX_MOVES; part++) {
        int y1 = part == 0 ? 0 : found[0].y2, y2 = part == 0 ? found[0].y1 : (int)height;
        pixman_region32_t rest, band;

        if (y2 - y1 < 2 * VG_SCROLL_MIN_ROWS)
            continue;
        pixman_region32_init(&rest);
        pixman_region32_intersect_rect(&rest, damage, 0, y1, width, (unsigned)(y2 - y1));
        if (take_move(old, old_stride, cur, cur_stride, width, height, &rest, hint, &found[n])) {
            vg_scroll_band(&found[n], &band);
            pixman_region32_subtract(damage, damage, &band);
            pixman_region32_fini(&band);
            n++;
        }
        pixman_region32_fini(&rest);
    }
    /* An order in which no move overwrites what a later one reads (the
     * upper part of a scroll up goes first): take a move that clobbers none
     * of the others left; when every one does, the last found is not sent
     * as a move (its pixels go back into @damage). */
    while (n > 0) {
        int pick = -1;
        for (int i = 0; i < n && pick < 0; i++) {
            bool ok = true;
            for (int j = 0; j < n && ok; j++)
                ok = i == j || !clobbers(&found[i], &found[j]);
            if (ok)
                pick = i;
        }
        if (pick < 0) {
            pixman_region32_t band;
            vg_scroll_band(&found[n - 1], &band);
            pixman_region32_union(damage, damage, &band);
            pixman_region32_fini(&band);
            n--;
            continue;
        }
        out[n_out] = found[pick];
        vg_scroll_apply(old, old_stride, &out[n_out++]);
        found[pick] = found[--n];
    }
    return n_out;
}
