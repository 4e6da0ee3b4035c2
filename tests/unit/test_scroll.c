/*
 * Unit tests: finding a vertical scroll between two pictures (scroll.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "scroll.h"

#define W      320
#define H      240
#define STRIDE (W * 4 + 64) /* a stride wider than the rows, as surfaces have */

/* A terminal-like picture: rows of "glyphs" that differ from line to line,
 * blank rows between the lines. Line @first is the top one. */
static uint8_t *text_picture(int first)
{
    uint8_t *px = g_malloc0((size_t)STRIDE * H);
    for (int y = 0; y < H; y++) {
        int line = first + y / 12, r = y % 12;
        if (r >= 10)
            continue; /* blank rows between lines */
        for (int x = 0; x < W; x++) {
            uint32_t g = (uint32_t)(line * 7919 + (x / 6) * 104729 + r * 31) * 2654435761u;
            uint32_t v = (g >> 28) & 1 ? 0xffd0d0d0u : 0xff101010u;
            memcpy(px + (size_t)y * STRIDE + (size_t)x * 4, &v, 4);
        }
    }
    return px;
}

static bool rows_equal(const uint8_t *a, const uint8_t *b, int x1, int x2, int y1, int y2)
{
    for (int y = y1; y < y2; y++)
        if (memcmp(a + (size_t)y * STRIDE + (size_t)x1 * 4, b + (size_t)y * STRIDE + (size_t)x1 * 4,
                   (size_t)(x2 - x1) * 4) != 0)
            return false;
    return true;
}

/* Text moved up by one line (12 rows): the band is everything but the new
 * line at the bottom, and after the move the copy equals the new picture
 * there. */
static void test_scroll_up_by_a_line(void **state)
{
    uint8_t *old = text_picture(0), *cur = text_picture(1);
    vg_scroll s;
    (void)state;

    assert_true(vg_scroll_find(old, STRIDE, cur, STRIDE, 0, 0, W, H, &s));
    assert_int_equal(s.dy, 12);
    assert_int_equal(s.x1, 0);
    assert_int_equal(s.x2, W);
    assert_int_equal(s.y1, 0);
    assert_int_equal(s.y2, H - 12);
    assert_false(rows_equal(old, cur, 0, W, s.y1, s.y2));
    vg_scroll_apply(old, STRIDE, &s);
    assert_true(rows_equal(old, cur, 0, W, s.y1, s.y2));
    g_free(old);
    g_free(cur);
}

/* Moved down by 3 lines within the area of a window (columns 40..280,
 * rows 20..200); outside it nothing is looked at or moved. */
static void test_scroll_down_inside_a_window(void **state)
{
    uint8_t *old = text_picture(10), *cur = text_picture(7), *want;
    vg_scroll s;
    (void)state;

    want = g_memdup2(old, (size_t)STRIDE * H);
    assert_true(vg_scroll_find(old, STRIDE, cur, STRIDE, 40, 20, 280, 200, &s));
    assert_int_equal(s.dy, -36);
    assert_int_equal(s.x1, 40);
    assert_int_equal(s.x2, 280);
    assert_int_equal(s.y1, 20 + 36);
    assert_int_equal(s.y2, 200);
    vg_scroll_apply(old, STRIDE, &s);
    assert_true(rows_equal(old, cur, 40, 280, s.y1, s.y2));
    /* Rows above the band, and columns beside it, are as they were. */
    assert_true(rows_equal(old, want, 0, W, 0, s.y1));
    assert_true(rows_equal(old, want, 0, 40, 0, H));
    assert_true(rows_equal(old, want, 280, W, 0, H));
    g_free(old);
    g_free(cur);
    g_free(want);
}

/* New content that is no move of the old (noise), a blank screen, an
 * unchanged one, and an area too small: nothing found. */
static void test_no_scroll_where_there_is_none(void **state)
{
    uint8_t *old = text_picture(0), *cur = g_malloc((size_t)STRIDE * H);
    uint8_t *blank1 = g_malloc0((size_t)STRIDE * H), *blank2 = g_malloc0((size_t)STRIDE * H);
    GRand *r = g_rand_new_with_seed(7);
    vg_scroll s;
    (void)state;

    for (size_t i = 0; i < (size_t)STRIDE * H; i++)
        cur[i] = (uint8_t)g_rand_int(r);
    assert_false(vg_scroll_find(old, STRIDE, cur, STRIDE, 0, 0, W, H, &s));
    assert_false(vg_scroll_find(blank1, STRIDE, blank2, STRIDE, 0, 0, W, H, &s));
    assert_false(vg_scroll_find(old, STRIDE, old, STRIDE, 0, 0, W, H, &s));
    g_free(cur);
    cur = text_picture(1);
    assert_false(vg_scroll_find(old, STRIDE, cur, STRIDE, 0, 0, W, 2 * VG_SCROLL_MIN_ROWS - 1, &s));
    assert_false(vg_scroll_find(old, STRIDE, cur, STRIDE, 0, 0, 63, H, &s));
    g_rand_free(r);
    g_free(old);
    g_free(cur);
    g_free(blank1);
    g_free(blank2);
}

/* A move beyond VG_SCROLL_MAX_DY is not looked for (an area tall enough
 * to hold one). */
static void test_moves_beyond_the_limit_are_not_found(void **state)
{
    const int h = 2 * VG_SCROLL_MAX_DY + 120;
    uint8_t *old = g_malloc0((size_t)STRIDE * h), *cur = g_malloc0((size_t)STRIDE * h);
    GRand *r = g_rand_new_with_seed(11);
    vg_scroll s;
    (void)state;

    for (size_t i = 0; i < (size_t)STRIDE * h; i++)
        old[i] = (uint8_t)g_rand_int(r);
    /* cur row y = old row y + MAX_DY + 12 */
    for (int y = 0; y + VG_SCROLL_MAX_DY + 12 < h; y++)
        memcpy(cur + (size_t)y * STRIDE, old + (size_t)(y + VG_SCROLL_MAX_DY + 12) * STRIDE,
               STRIDE);
    assert_false(vg_scroll_find(old, STRIDE, cur, STRIDE, 0, 0, W, h, &s));
    /* The same by a distance within the limit is found. */
    for (int y = 0; y + 100 < h; y++)
        memcpy(cur + (size_t)y * STRIDE, old + (size_t)(y + 100) * STRIDE, STRIDE);
    assert_true(vg_scroll_find(old, STRIDE, cur, STRIDE, 0, 0, W, h, &s));
    assert_int_equal(s.dy, 100);
    g_rand_free(r);
    g_free(old);
    g_free(cur);
}

/* The front ends' step: damage under a quarter of the screen is not
 * searched; larger damage is, and the band found leaves it. */
static void test_take_looks_in_large_damage_only(void **state)
{
    uint8_t *old = text_picture(0), *cur = text_picture(1);
    pixman_region32_t damage, want;
    vg_scroll s;
    (void)state;

    pixman_region32_init_rect(&damage, 0, 0, W / 2, H / 2 - 1); /* just under a quarter */
    assert_false(vg_scroll_take(old, STRIDE, cur, STRIDE, W, H, &damage, &s));
    assert_int_equal(pixman_region32_extents(&damage)->y2, H / 2 - 1); /* untouched */
    pixman_region32_fini(&damage);

    pixman_region32_init_rect(&damage, 0, 0, W, H);
    assert_true(vg_scroll_take(old, STRIDE, cur, STRIDE, W, H, &damage, &s));
    assert_int_equal(s.dy, 12);
    /* What is left to send: the line that came in at the bottom. */
    pixman_region32_init_rect(&want, 0, H - 12, W, 12);
    assert_true(pixman_region32_equal(&damage, &want));
    pixman_region32_fini(&want);
    pixman_region32_fini(&damage);
    g_free(old);
    g_free(cur);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scroll_up_by_a_line),
        cmocka_unit_test(test_scroll_down_inside_a_window),
        cmocka_unit_test(test_no_scroll_where_there_is_none),
        cmocka_unit_test(test_moves_beyond_the_limit_are_not_found),
        cmocka_unit_test(test_take_looks_in_large_damage_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
