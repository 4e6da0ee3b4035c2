/*
 * Unit tests for protocol/rdp/rdp-planar.c: damage cut into pieces, planar
 * output that decodes to exactly the input (also when a frame's pieces are
 * encoded on several threads), and the memory of incompressible areas.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <freerdp/codec/color.h>
#include <freerdp/codec/planar.h>
#include <glib.h>

#include "rdp-planar.h"

#define W 1024
#define H 768

static uint32_t rng = 0x9e3779b9u;

static uint32_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* Text-like: a dark background with light 2-pixel strokes. */
static uint8_t *text_screen(void)
{
    uint32_t *px = g_new(uint32_t, W * H);
    for (uint32_t y = 0; y < H; y++)
        for (uint32_t x = 0; x < W; x++)
            px[y * W + x] = ((x / 2 + y / 3) % 7 == 0) ? 0xC0C0C0 : 0x101010;
    return (uint8_t *)px;
}

static void fill_noise(uint8_t *pixels, uint32_t x0, uint32_t y0, uint32_t w, uint32_t h)
{
    uint32_t *px = (uint32_t *)pixels;
    for (uint32_t y = y0; y < y0 + h; y++)
        for (uint32_t x = x0; x < x0 + w; x++)
            px[y * W + x] = next_random() & 0xFFFFFF;
}

/* Decode @pc's planar data and compare it with the screen it came from. */
static void assert_decodes_to(const vg_rdp_piece *pc, const uint8_t *pixels, bool topdown)
{
    BITMAP_PLANAR_CONTEXT *dec = freerdp_bitmap_planar_context_new(0, pc->w, pc->h);
    uint8_t *out = g_malloc0((size_t)pc->w * pc->h * 4);

    assert_non_null(dec);
    assert_true(planar_decompress(dec, pc->planar, pc->size, pc->w, pc->h, out, PIXEL_FORMAT_BGRX32,
                                  pc->w * 4, 0, 0, pc->w, pc->h, !topdown));
    for (uint32_t y = 0; y < pc->h; y++)
        for (uint32_t x = 0; x < pc->w; x++) {
            uint32_t a, b;
            memcpy(&a, out + ((size_t)y * pc->w + x) * 4, 4);
            memcpy(&b, pixels + ((size_t)(pc->y + y) * W + pc->x + x) * 4, 4);
            if ((a & 0xFFFFFF) != (b & 0xFFFFFF))
                fail_msg("piece (%u,%u): pixel (%u,%u) is %06x, want %06x", pc->x, pc->y, x, y,
                         a & 0xFFFFFF, b & 0xFFFFFF);
        }
    g_free(out);
    freerdp_bitmap_planar_context_free(dec);
}

static void test_region_is_cut_into_pieces_that_cover_it(void **state)
{
    pixman_region32_t r;
    vg_rdp_piece *pieces;
    size_t n = 0;
    uint64_t area = 0;

    (void)state;
    pixman_region32_init_rect(&r, 10, 20, 600, 300);
    pieces = vg_rdp_pieces(&r, 256, &n);
    /* 600 = 256 + 256 + 88 wide, 300 = 256 + 44 high */
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) {
        assert_true(pieces[i].w <= 256 && pieces[i].h <= 256);
        assert_true(pieces[i].x >= 10 && pieces[i].x + pieces[i].w <= 610);
        assert_true(pieces[i].y >= 20 && pieces[i].y + pieces[i].h <= 320);
        area += (uint64_t)pieces[i].w * pieces[i].h;
    }
    assert_int_equal(area, 600 * 300);
    g_free(pieces);
    pixman_region32_fini(&r);
}

/* A whole screen of pieces, on all cores: every piece exact, and smaller. */
static void check_whole_screen(uint32_t piece, bool topdown)
{
    vg_rdp_planar *pl = vg_rdp_planar_new(piece, topdown);
    uint8_t *pixels = text_screen();
    pixman_region32_t r;
    vg_rdp_piece *pieces;
    size_t n = 0;

    assert_non_null(pl);
    pixman_region32_init_rect(&r, 0, 0, W, H);
    pieces = vg_rdp_pieces(&r, piece, &n);
    vg_rdp_planar_encode_all(pl, pixels, W * 4, pieces, n);
    for (size_t i = 0; i < n; i++) {
        if (!vg_rdp_planar_exact()) {
            /* Uncompressed: what the peer sends is the screen itself. */
            assert_null(pieces[i].planar);
            assert_int_equal(pieces[i].size, 0);
            continue;
        }
        assert_non_null(pieces[i].planar);
        assert_true(pieces[i].size < pieces[i].w * pieces[i].h * 3);
        assert_decodes_to(&pieces[i], pixels, topdown);
        free(pieces[i].planar);
    }
    g_free(pieces);
    pixman_region32_fini(&r);
    g_free(pixels);
    vg_rdp_planar_free(pl);
}

static void test_text_encodes_exactly_top_down(void **state)
{
    (void)state;
    check_whole_screen(256, true);
}

static void test_text_encodes_exactly_bottom_up(void **state)
{
    (void)state;
    check_whole_screen(64, false);
}

/* The probe says what FreeRDP's own encoder does with a text screen, read
 * back with its decoder: planar is used exactly when that is exact (with
 * FreeRDP 3.15 it is not, with 3.10 it is). */
static void test_planar_is_used_exactly_when_the_library_encodes_exactly(void **state)
{
    uint8_t *pixels = text_screen();
    BITMAP_PLANAR_CONTEXT *enc = freerdp_bitmap_planar_context_new(
        PLANAR_FORMAT_HEADER_NA | PLANAR_FORMAT_HEADER_RLE, 256, 256);
    BITMAP_PLANAR_CONTEXT *dec = freerdp_bitmap_planar_context_new(0, 256, 256);
    uint8_t *out = g_malloc0(256 * 256 * 4);
    uint32_t size = 0;
    uint8_t *data;
    bool exact = true;

    (void)state;
    assert_non_null(enc);
    assert_non_null(dec);
    freerdp_planar_topdown_image(enc, TRUE);
    data = freerdp_bitmap_compress_planar(enc, pixels, PIXEL_FORMAT_BGRX32, 256, 256, W * 4, NULL,
                                          &size);
    assert_non_null(data);
    assert_true(planar_decompress(dec, data, size, 256, 256, out, PIXEL_FORMAT_BGRX32, 256 * 4, 0,
                                  0, 256, 256, FALSE));
    for (uint32_t y = 0; y < 256; y++)
        for (uint32_t x = 0; x < 256; x++) {
            uint32_t a, b;
            memcpy(&a, out + ((size_t)y * 256 + x) * 4, 4);
            memcpy(&b, pixels + ((size_t)y * W + x) * 4, 4);
            exact = exact && (a & 0xFFFFFF) == (b & 0xFFFFFF);
        }
    free(data);
    g_free(out);
    freerdp_bitmap_planar_context_free(dec);
    freerdp_bitmap_planar_context_free(enc);
    g_free(pixels);
    assert_int_equal(vg_rdp_planar_exact(), exact);
}

/* Noise: planar is tried, found no better than three bytes a pixel, and the
 * area then goes uncompressed for 8 pieces before planar is tried again;
 * an area elsewhere is not affected; a resize forgets. */
static void test_incompressible_area_skips_planar_for_a_while(void **state)
{
    vg_rdp_planar *pl = vg_rdp_planar_new(256, true);
    uint8_t *pixels = text_screen();
    vg_rdp_piece noisy = {.x = 0, .y = 0, .w = 256, .h = 256};
    vg_rdp_piece text = {.x = 512, .y = 256, .w = 256, .h = 256};

    (void)state;
    if (!vg_rdp_planar_exact()) {
        /* Nothing is tried: test_text_encodes_exactly_* hold every piece
         * uncompressed. */
        g_free(pixels);
        vg_rdp_planar_free(pl);
        skip();
    }
    assert_non_null(pl);
    fill_noise(pixels, 0, 0, 256, 256);
    vg_rdp_planar_encode_all(pl, pixels, W * 4, &noisy, 1);
    /* Planar without RLE is 3/4 of raw; RLE only adds to it on noise. */
    if (noisy.planar)
        assert_true(noisy.size >= 256 * 256 * 3);
    free(noisy.planar);
    for (int i = 0; i < 8; i++) {
        vg_rdp_planar_encode_all(pl, pixels, W * 4, &noisy, 1);
        assert_null(noisy.planar);
        assert_int_equal(noisy.size, 0);
        vg_rdp_planar_encode_all(pl, pixels, W * 4, &text, 1);
        assert_non_null(text.planar);
        free(text.planar);
    }
    /* Tried again, and the area has calmed down. */
    {
        uint8_t *calm = text_screen();
        vg_rdp_planar_encode_all(pl, calm, W * 4, &noisy, 1);
        assert_non_null(noisy.planar);
        assert_decodes_to(&noisy, calm, true);
        free(noisy.planar);
        /* Noise again, then a resize: planar is tried at once. */
        vg_rdp_planar_encode_all(pl, pixels, W * 4, &noisy, 1);
        free(noisy.planar);
        vg_rdp_planar_forget(pl);
        vg_rdp_planar_encode_all(pl, calm, W * 4, &noisy, 1);
        assert_non_null(noisy.planar);
        free(noisy.planar);
        g_free(calm);
    }
    g_free(pixels);
    vg_rdp_planar_free(pl);
}

static void test_piece_size_is_bounded(void **state)
{
    (void)state;
    assert_null(vg_rdp_planar_new(0, true));
    assert_null(vg_rdp_planar_new(VG_RDP_PLANAR_MAX_PIECE + 1, true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_region_is_cut_into_pieces_that_cover_it),
        cmocka_unit_test(test_text_encodes_exactly_top_down),
        cmocka_unit_test(test_text_encodes_exactly_bottom_up),
        cmocka_unit_test(test_planar_is_used_exactly_when_the_library_encodes_exactly),
        cmocka_unit_test(test_incompressible_area_skips_planar_for_a_while),
        cmocka_unit_test(test_piece_size_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
