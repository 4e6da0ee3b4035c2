/*
 * vmgate — finding a vertical scroll. See scroll.h.
 *
 * Written here rather than taken from a library: the codecs vmgate links
 * (FreeRDP's, libvncserver's, libx264) search motion per block inside
 * their own encoders and expose none of it.
 *
 * A few "probe" rows of the new picture that changed and are not one
 * colour are looked up in the old picture at every distance up to
 * VG_SCROLL_MAX_DY (memcmp fails on the first differing byte, so a miss
 * costs little); each distance where a probe matches is then grown into
 * the longest run of equal rows around the probe, row by row.
 */
#include "scroll.h"

#include <string.h>

#define PROBES         3  /* probe rows tried, spread over the area */
#define PROBE_SLIDE    48 /* rows a probe moves down to find one worth looking up */
#define MAX_CANDIDATES 8

static const uint8_t *row(const uint8_t *p, size_t stride, int y, int x1)
{
    return p + (size_t)y * stride + (size_t)x1 * 4;
}

/* A row of one colour (blank lines) matches everywhere: useless as a probe. */
static bool uniform(const uint8_t *r, size_t len)
{
    return len < 8 || memcmp(r, r + 4, len - 4) == 0;
}

bool vg_scroll_find(const uint8_t *old, size_t old_stride, const uint8_t *cur, size_t cur_stride,
                    int x1, int y1, int x2, int y2, vg_scroll *out)
{
    size_t len;
    int h = y2 - y1, best = 0;

    if (x1 < 0 || y1 < 0 || x2 - x1 < 64 || h < 2 * VG_SCROLL_MIN_ROWS)
        return false;
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
    return best >= VG_SCROLL_MIN_ROWS;
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

bool vg_scroll_take(const uint8_t *old, size_t old_stride, const uint8_t *cur, size_t cur_stride,
                    uint32_t width, uint32_t height, pixman_region32_t *damage, vg_scroll *out)
{
    const pixman_box32_t *ext = pixman_region32_extents(damage);
    pixman_region32_t band;

    if ((uint64_t)(ext->x2 - ext->x1) * (uint64_t)(ext->y2 - ext->y1) * 4 <
            (uint64_t)width * height ||
        !vg_scroll_find(old, old_stride, cur, cur_stride, ext->x1, ext->y1, ext->x2, ext->y2, out))
        return false;
    vg_scroll_band(out, &band);
    pixman_region32_subtract(damage, damage, &band);
    pixman_region32_fini(&band);
    return true;
}
