/*
 * Unit tests: PNG writer (encode, decode back with libpng, compare) and
 * atomic saving.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <png.h>

#include "png-writer.h"

/* Decode to RGB with libpng's simplified API. */
static uint8_t *decode(const uint8_t *data, size_t len, uint32_t *w, uint32_t *h)
{
    png_image img;
    uint8_t *rgb;
    memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, data, len))
        return NULL;
    img.format = PNG_FORMAT_RGB;
    rgb = g_malloc(PNG_IMAGE_SIZE(img));
    if (!png_image_finish_read(&img, NULL, rgb, 0, NULL)) {
        g_free(rgb);
        return NULL;
    }
    *w = img.width;
    *h = img.height;
    return rgb;
}

static void test_png_roundtrip_keeps_every_pixel(void **state)
{
    const uint32_t w = 37, h = 11;
    const size_t stride = w * 4 + 12; /* padded rows */
    uint8_t *bgrx = g_malloc0(stride * h), *png = NULL, *rgb;
    size_t len = 0;
    uint32_t dw = 0, dh = 0;
    (void)state;

    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            uint8_t *p = bgrx + y * stride + x * 4;
            p[0] = (uint8_t)(x * 7);       /* B */
            p[1] = (uint8_t)(y * 23);      /* G */
            p[2] = (uint8_t)(x ^ (y * 5)); /* R */
            p[3] = 0xaa;                   /* X: ignored */
        }
    assert_int_equal(vg_png_encode_bgrx(bgrx, w, h, stride, &png, &len), 0);
    assert_true(len > 8);
    assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
    rgb = decode(png, len, &dw, &dh);
    assert_non_null(rgb);
    assert_int_equal(dw, w);
    assert_int_equal(dh, h);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            const uint8_t *in = bgrx + y * stride + x * 4, *out = rgb + (y * w + x) * 3;
            assert_int_equal(out[0], in[2]);
            assert_int_equal(out[1], in[1]);
            assert_int_equal(out[2], in[0]);
        }
    g_free(rgb);
    g_free(png);
    g_free(bgrx);
}

static void test_png_rejects_bad_geometry(void **state)
{
    uint8_t px[64] = {0}, *out = NULL;
    size_t len = 0;
    (void)state;
    assert_int_equal(vg_png_encode_bgrx(px, 0, 1, 4, &out, &len), -EINVAL);
    assert_int_equal(vg_png_encode_bgrx(px, 1, 0, 4, &out, &len), -EINVAL);
    assert_int_equal(vg_png_encode_bgrx(px, 4, 1, 15, &out, &len), -EINVAL); /* stride < w*4 */
    assert_int_equal(vg_png_encode_bgrx(px, 70000, 1, 280000, &out, &len), -EINVAL);
    assert_null(out);
}

static void test_png_save_is_atomic_and_reports_errors(void **state)
{
    g_autofree char *dir = g_dir_make_tmp("vgpng-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "shot.png", NULL);
    g_autofree char *bad = g_build_filename(dir, "missing", "shot.png", NULL);
    g_autofree char *got = NULL;
    gsize got_len = 0;
    GDir *d;
    int files = 0;
    (void)state;

    assert_non_null(dir);
    assert_int_equal(vg_png_save(path, (const uint8_t *)"hello", 5), 0);
    assert_true(g_file_get_contents(path, &got, &got_len, NULL));
    assert_int_equal(got_len, 5);
    assert_memory_equal(got, "hello", 5);
    /* No temporary file is left behind. */
    d = g_dir_open(dir, 0, NULL);
    while (g_dir_read_name(d))
        files++;
    g_dir_close(d);
    assert_int_equal(files, 1);
    assert_int_equal(vg_png_save(bad, (const uint8_t *)"x", 1), -ENOENT);
    g_unlink(path);
    g_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_roundtrip_keeps_every_pixel),
        cmocka_unit_test(test_png_rejects_bad_geometry),
        cmocka_unit_test(test_png_save_is_atomic_and_reports_errors),
    };
    return cmocka_run_group_tests_name("png", tests, NULL, NULL);
}
