/*
 * Unit tests: finding a scroll or a moved window between two pictures
 * (scroll.h).
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

    assert_true(vg_scroll_find(old, STRIDE, cur, STRIDE, W, H, 0, 0, W, H, &s));
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
    assert_true(vg_scroll_find(old, STRIDE, cur, STRIDE, W, H, 40, 20, 280, 200, &s));
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
    assert_false(vg_scroll_find(old, STRIDE, cur, STRIDE, W, H, 0, 0, W, H, &s));
    assert_false(vg_scroll_find(blank1, STRIDE, blank2, STRIDE, W, H, 0, 0, W, H, &s));
    assert_false(vg_scroll_find(old, STRIDE, old, STRIDE, W, H, 0, 0, W, H, &s));
    g_free(cur);
    cur = text_picture(1);
    assert_false(
        vg_scroll_find(old, STRIDE, cur, STRIDE, W, H, 0, 0, W, 2 * VG_SCROLL_MIN_ROWS - 1, &s));
    assert_false(vg_scroll_find(old, STRIDE, cur, STRIDE, W, H, 0, 0, 63, H, &s));
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
    assert_false(vg_scroll_find(old, STRIDE, cur, STRIDE, W, h, 0, 0, W, h, &s));
    /* The same by a distance within the limit is found. */
    for (int y = 0; y + 100 < h; y++)
        memcpy(cur + (size_t)y * STRIDE, old + (size_t)(y + 100) * STRIDE, STRIDE);
    assert_true(vg_scroll_find(old, STRIDE, cur, STRIDE, W, h, 0, 0, W, h, &s));
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

/* ---- moves in both directions ---- */

static void fill(uint8_t *px, int x1, int y1, int x2, int y2, uint32_t v)
{
    for (int y = y1; y < y2; y++)
        for (int x = x1; x < x2; x++)
            memcpy(px + (size_t)y * STRIDE + (size_t)x * 4, &v, 4);
}

/* A desktop's window at (x, y), WIN_W x WIN_H: a black border, a title
 * bar, a body of text-like pixels, on a flat background. */
#define WIN_W 200
#define WIN_H 130
static uint8_t *window_picture(int x, int y)
{
    uint8_t *px = g_malloc0((size_t)STRIDE * H), *text = text_picture(3);

    fill(px, 0, 0, W, H, 0xff204080u);
    fill(px, x, y, x + WIN_W, y + WIN_H, 0xff000000u);
    fill(px, x + 1, y + 1, x + WIN_W - 1, y + 13, 0xff3060a0u);
    for (int r = y + 13; r < y + WIN_H - 1; r++)
        memcpy(px + (size_t)r * STRIDE + (size_t)(x + 1) * 4, text + (size_t)(r - y) * STRIDE + 4,
               (WIN_W - 2) * 4);
    g_free(text);
    return px;
}

static bool area_equal(const uint8_t *a, const uint8_t *b, const vg_scroll *s)
{
    return rows_equal(a, b, s->x1, s->x2, s->y1, s->y2);
}

/* A window dragged by (+8, +6): the move found covers the window where it
 * is now, comes from where it was, and after it the copy is the new
 * picture there; what is left of the damage is the strips it uncovered. */
static void test_a_dragged_window_is_found(void **state)
{
    uint8_t *old = window_picture(40, 30), *cur = window_picture(48, 36);
    pixman_region32_t damage, rest;
    vg_scroll s;
    (void)state;

    assert_true(vg_scroll_find(old, STRIDE, cur, STRIDE, W, H, 40, 30, 48 + WIN_W, 36 + WIN_H, &s));
    assert_int_equal(s.dx, -8);
    assert_int_equal(s.dy, -6);
    assert_true(s.x1 <= 48 && s.x2 >= 48 + WIN_W && s.y1 <= 36 && s.y2 >= 36 + WIN_H);
    assert_false(area_equal(old, cur, &s));
    vg_scroll_apply(old, STRIDE, &s);
    assert_true(area_equal(old, cur, &s));
    g_free(old);

    /* Through the front ends' step, with the damage a screen reports: the
     * old and the new window's rectangles. */
    old = window_picture(40, 30);
    pixman_region32_init_rect(&damage, 40, 30, WIN_W, WIN_H);
    pixman_region32_union_rect(&damage, &damage, 48, 36, WIN_W, WIN_H);
    assert_true(vg_scroll_take(old, STRIDE, cur, STRIDE, W, H, &damage, &s));
    /* What is left: the 8 columns and 6 rows the window uncovered. */
    pixman_region32_init_rect(&rest, 40, 30, 8, WIN_H + 6);
    pixman_region32_union_rect(&rest, &rest, 40, 30, WIN_W + 8, 6);
    pixman_region32_subtract(&rest, &damage, &rest);
    assert_false(pixman_region32_not_empty(&rest));
    pixman_region32_fini(&rest);
    pixman_region32_fini(&damage);
    g_free(old);
    g_free(cur);
}

/* A window of noise moved left and up over a text background that stays:
 * the move found lies inside the window and is exact. */
static void test_a_window_over_a_busy_background(void **state)
{
    uint8_t *old = text_picture(0), *cur = text_picture(0), *win = g_malloc((size_t)120 * 80 * 4);
    GRand *r = g_rand_new_with_seed(5);
    vg_scroll s;
    (void)state;

    for (size_t i = 0; i < (size_t)120 * 80 * 4; i++)
        win[i] = (uint8_t)g_rand_int(r);
    for (int y = 0; y < 80; y++) {
        memcpy(old + (size_t)(100 + y) * STRIDE + 150 * 4, win + (size_t)y * 480, 480);
        memcpy(cur + (size_t)(60 + y) * STRIDE + 90 * 4, win + (size_t)y * 480, 480);
    }
    assert_true(vg_scroll_find(old, STRIDE, cur, STRIDE, W, H, 80, 50, 280, 190, &s));
    assert_int_equal(s.dx, 60);
    assert_int_equal(s.dy, 40);
    assert_true(s.x1 >= 90 && s.x2 <= 210 && s.y1 >= 60 && s.y2 <= 140);
    assert_true((s.x2 - s.x1) * (s.y2 - s.y1) >= 120 * 80 / 2);
    vg_scroll_apply(old, STRIDE, &s);
    assert_true(area_equal(old, cur, &s));
    g_rand_free(r);
    g_free(old);
    g_free(cur);
    g_free(win);
}

/* Moves along a row only (dy = 0), both ways: the copy moves within its
 * rows, source and destination overlapping. */
static void test_a_sideways_move_overlapping_itself(void **state)
{
    for (int dx = -12; dx <= 12; dx += 24) {
        uint8_t *old = text_picture(0), *cur = text_picture(0);
        vg_scroll s;

        for (int y = 40; y < 200; y++)
            memmove(cur + (size_t)y * STRIDE + 60 * 4, old + (size_t)y * STRIDE + (60 + dx) * 4,
                    200 * 4);
        assert_true(vg_scroll_find(old, STRIDE, cur, STRIDE, W, H, 40, 40, 280, 200, &s));
        assert_int_equal(s.dx, dx);
        assert_int_equal(s.dy, 0);
        assert_true(s.x1 <= 60 && s.x2 >= 260);
        vg_scroll_apply(old, STRIDE, &s);
        assert_true(area_equal(old, cur, &s));
        assert_true(rows_equal(old, cur, 0, W, 0, H));
        g_free(old);
        g_free(cur);
    }
}

/* A window moved further than 128 pixels sideways is not looked for. */
static void test_far_sideways_moves_are_not_found(void **state)
{
    uint8_t *old = g_malloc0((size_t)STRIDE * H), *cur = g_malloc0((size_t)STRIDE * H);
    uint8_t *text = text_picture(2);
    vg_scroll s;
    (void)state;

    for (int y = 40; y < 140; y++) {
        memcpy(old + (size_t)y * STRIDE, text + (size_t)y * STRIDE, 100 * 4);
        memcpy(cur + (size_t)y * STRIDE + 140 * 4, text + (size_t)y * STRIDE, 100 * 4);
    }
    assert_false(vg_scroll_find(old, STRIDE, cur, STRIDE, W, H, 0, 40, W, 140, &s));
    g_free(old);
    g_free(cur);
    g_free(text);
}

/* Copy @damage from @cur into @old: what a front end sends as pixels. */
static void copy_damage(uint8_t *old, const uint8_t *cur, const pixman_region32_t *damage)
{
    int n = 0;
    const pixman_box32_t *b = pixman_region32_rectangles((pixman_region32_t *)damage, &n);

    for (int i = 0; i < n; i++)
        for (int y = b[i].y1; y < b[i].y2; y++)
            memcpy(old + (size_t)y * STRIDE + (size_t)b[i].x1 * 4,
                   cur + (size_t)y * STRIDE + (size_t)b[i].x1 * 4, (size_t)(b[i].x2 - b[i].x1) * 4);
}

static int64_t region_area(const pixman_region32_t *r)
{
    int n = 0;
    int64_t a = 0;
    const pixman_box32_t *b = pixman_region32_rectangles((pixman_region32_t *)r, &n);

    for (int i = 0; i < n; i++)
        a += (int64_t)(b[i].x2 - b[i].x1) * (b[i].y2 - b[i].y1);
    return a;
}

/*
 * What a front end does with @damage of a W x H screen: the moves
 * (vg_scroll_take_moves, which moves @old), then what is left copied as
 * pixels; @old must then be @cur everywhere. @return the number of moves;
 * *@rest: the area that went as pixels.
 */
static int moves_then_pixels(uint8_t *old, const uint8_t *cur, pixman_region32_t *damage,
                             vg_scroll_history *hist, vg_scroll m[VG_SCROLL_MAX_MOVES],
                             int64_t *rest)
{
    int n = vg_scroll_take_moves(old, STRIDE, cur, STRIDE, W, H, damage, hist, m);

    *rest = region_area(damage);
    copy_damage(old, cur, damage);
    assert_true(rows_equal(old, cur, 0, W, 0, H));
    return n;
}

/* Text scrolled by a line under a stamp that changes in every frame (the
 * top-left 100 x 64 pixels): the rows beside the stamp move too, in a
 * move of their own, and what is left to send is the stamp and the new
 * line.
 * The moves applied in their order, then the rest copied, give the new
 * picture exactly. */
static void test_rows_beside_an_overlay_move_too(void **state)
{
    uint8_t *old = text_picture(0), *cur = text_picture(1);
    GRand *r = g_rand_new_with_seed(3);
    pixman_region32_t damage;
    vg_scroll m[VG_SCROLL_MAX_MOVES];
    int64_t rest;
    int n;
    (void)state;

    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 100 * 4; x++) {
            old[(size_t)y * STRIDE + x] = (uint8_t)g_rand_int(r);
            cur[(size_t)y * STRIDE + x] = (uint8_t)g_rand_int(r);
        }
    pixman_region32_init_rect(&damage, 0, 0, W, H);
    n = moves_then_pixels(old, cur, &damage, NULL, m, &rest);
    assert_int_equal(n, 2);
    assert_int_equal(m[0].dy, 12);
    assert_int_equal(m[1].dy, 12);
    /* The rows beside the stamp first: they read rows the other move
     * writes. */
    assert_true(m[0].x1 >= 100 && m[0].y2 <= 64 && m[1].y1 >= m[0].y2);
    /* Left: the stamp (100 x 64) and the line that came in (12 rows). */
    assert_true(rest <= 100 * 64 + W * 12);
    pixman_region32_fini(&damage);
    g_rand_free(r);
    g_free(old);
    g_free(cur);
}

/* A frame half drawn when the last one was taken: the top half scrolled by
 * one line, the bottom half by two. Both halves are moves. */
static void test_a_half_drawn_frame_is_two_moves(void **state)
{
    uint8_t *old = text_picture(0), *cur = text_picture(1), *two = text_picture(2);
    pixman_region32_t damage;
    vg_scroll m[VG_SCROLL_MAX_MOVES];
    int64_t rest;
    int n;
    (void)state;

    memcpy(cur + (size_t)(H / 2) * STRIDE, two + (size_t)(H / 2) * STRIDE,
           (size_t)(H / 2) * STRIDE);
    pixman_region32_init_rect(&damage, 0, 0, W, H);
    n = moves_then_pixels(old, cur, &damage, NULL, m, &rest);
    assert_int_equal(n, 2);
    assert_true((m[0].dy == 12 && m[1].dy == 24) || (m[0].dy == 24 && m[1].dy == 12));
    assert_true(rest <= W * 24);
    pixman_region32_fini(&damage);
    g_free(old);
    g_free(cur);
    g_free(two);
}

/* The two halves of the screen swapped: each half is a move, but each
 * would overwrite what the other reads, so only one is sent as a move and
 * the other half goes as pixels; the picture is exact. */
static void test_moves_that_overwrite_each_other_are_not_both_sent(void **state)
{
    uint8_t *old = text_picture(0), *cur = g_malloc((size_t)STRIDE * H);
    pixman_region32_t damage;
    vg_scroll m[VG_SCROLL_MAX_MOVES];
    int64_t rest;
    int n;
    (void)state;

    memcpy(cur, old + (size_t)(H / 2) * STRIDE, (size_t)(H / 2) * STRIDE);
    memcpy(cur + (size_t)(H / 2) * STRIDE, old, (size_t)(H / 2) * STRIDE);
    pixman_region32_init_rect(&damage, 0, 0, W, H);
    n = moves_then_pixels(old, cur, &damage, NULL, m, &rest);
    assert_int_equal(n, 1);
    assert_int_equal(m[0].dy < 0 ? -m[0].dy : m[0].dy, H / 2);
    assert_true(rest >= W * H / 2);
    pixman_region32_fini(&damage);
    g_free(old);
    g_free(cur);
}

/* The last move as a hint: a right one gives the same move, a wrong one
 * is no obstacle; either way the hint becomes the move found. */
static void test_the_last_move_is_a_hint_only(void **state)
{
    const vg_scroll hints[] = {{.dx = -8, .dy = -6}, {.dx = 5, .dy = 3}, {.dx = 0, .dy = 0}};
    (void)state;

    for (size_t i = 0; i < G_N_ELEMENTS(hints); i++) {
        uint8_t *old = window_picture(40, 30), *cur = window_picture(48, 36);
        pixman_region32_t damage;
        vg_scroll m[VG_SCROLL_MAX_MOVES];
        vg_scroll_history hist = {.last = hints[i]};
        int64_t rest;

        pixman_region32_init_rect(&damage, 40, 30, WIN_W, WIN_H);
        pixman_region32_union_rect(&damage, &damage, 48, 36, WIN_W, WIN_H);
        assert_int_equal(moves_then_pixels(old, cur, &damage, &hist, m, &rest), 1);
        assert_int_equal(m[0].dx, -8);
        assert_int_equal(m[0].dy, -6);
        assert_int_equal(hist.last.dx, -8);
        assert_int_equal(hist.last.dy, -6);
        pixman_region32_fini(&damage);
        g_free(old);
        g_free(cur);
    }
}

/* Large updates that never hold a move (noise): after
 * VG_SCROLL_BACKOFF_AFTER searches found nothing, only one in
 * VG_SCROLL_BACKOFF_EVERY is searched; the first move found ends that. */
static void test_searches_back_off_where_nothing_moves(void **state)
{
    uint8_t *noise = g_malloc((size_t)STRIDE * H), *old = text_picture(0), *cur = text_picture(1);
    GRand *r = g_rand_new_with_seed(9);
    vg_scroll_history hist = {0};
    vg_scroll m[VG_SCROLL_MAX_MOVES];
    int searched = 0, first_found = -1;
    (void)state;

    for (size_t i = 0; i < (size_t)STRIDE * H; i++)
        noise[i] = (uint8_t)g_rand_int(r);
    for (int i = 0; i < 4 + 2 * VG_SCROLL_BACKOFF_EVERY; i++) {
        pixman_region32_t damage;
        unsigned before = hist.misses;

        pixman_region32_init_rect(&damage, 0, 0, W, H);
        assert_int_equal(vg_scroll_take_moves(old, STRIDE, noise, STRIDE, W, H, &damage, &hist, m),
                         0);
        searched += hist.misses != before;
        pixman_region32_fini(&damage);
    }
    assert_int_equal(hist.misses, VG_SCROLL_BACKOFF_AFTER + 2);
    assert_int_equal(searched, VG_SCROLL_BACKOFF_AFTER + 2);
    /* Scrolling starts: found within VG_SCROLL_BACKOFF_EVERY updates. */
    for (int i = 0; i < VG_SCROLL_BACKOFF_EVERY && first_found < 0; i++) {
        pixman_region32_t damage;
        uint8_t *o = g_memdup2(old, (size_t)STRIDE * H);

        pixman_region32_init_rect(&damage, 0, 0, W, H);
        if (vg_scroll_take_moves(o, STRIDE, cur, STRIDE, W, H, &damage, &hist, m) > 0)
            first_found = i;
        pixman_region32_fini(&damage);
        g_free(o);
    }
    assert_true(first_found >= 0);
    assert_int_equal(hist.misses, 0);
    assert_int_equal(hist.last.dy, 12);
    g_rand_free(r);
    g_free(noise);
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
        cmocka_unit_test(test_a_dragged_window_is_found),
        cmocka_unit_test(test_a_window_over_a_busy_background),
        cmocka_unit_test(test_a_sideways_move_overlapping_itself),
        cmocka_unit_test(test_far_sideways_moves_are_not_found),
        cmocka_unit_test(test_rows_beside_an_overlay_move_too),
        cmocka_unit_test(test_a_half_drawn_frame_is_two_moves),
        cmocka_unit_test(test_moves_that_overwrite_each_other_are_not_both_sent),
        cmocka_unit_test(test_the_last_move_is_a_hint_only),
        cmocka_unit_test(test_searches_back_off_where_nothing_moves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
