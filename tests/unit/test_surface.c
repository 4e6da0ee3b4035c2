/*
 * Unit tests: surface damage arithmetic, listener fan-out, waiting, and the
 * checked size helpers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <png.h>
#include <glib.h>

#include "surface.h"
#include "util.h"

typedef struct recorder {
    int damages, resizes, closes, cursors;
    pixman_region32_t damage;
    uint32_t w, h;
    char reason[128];
} recorder;

static void rec_damage(void *opaque, const pixman_region32_t *d)
{
    recorder *r = opaque;
    r->damages++;
    pixman_region32_union(&r->damage, &r->damage, (pixman_region32_t *)d);
}

static void rec_resize(void *opaque, uint32_t w, uint32_t h)
{
    recorder *r = opaque;
    r->resizes++;
    r->w = w;
    r->h = h;
    pixman_region32_clear(&r->damage);
}

static void rec_cursor(void *opaque, const vg_cursor *c)
{
    recorder *r = opaque;
    (void)c;
    r->cursors++;
}

static void rec_closed(void *opaque, const char *reason)
{
    recorder *r = opaque;
    r->closes++;
    g_strlcpy(r->reason, reason, sizeof(r->reason));
}

static const vg_surface_listener_ops rec_ops = {rec_damage, rec_resize, rec_cursor, rec_closed};

static int setup(void **state)
{
    recorder *r = g_new0(recorder, 1);
    pixman_region32_init(&r->damage);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    recorder *r = *state;
    pixman_region32_fini(&r->damage);
    g_free(r);
    return 0;
}

static uint8_t *solid(uint32_t w, uint32_t h, uint32_t px)
{
    uint32_t *p = g_new(uint32_t, (size_t)w * h);
    for (size_t i = 0; i < (size_t)w * h; i++)
        p[i] = px;
    return (uint8_t *)p;
}

static void test_surface_rejects_bad_sizes(void **state)
{
    vg_surface *s = vg_surface_new();
    (void)state;
    assert_int_equal(vg_surface_resize(s, 0, 10), -EINVAL);
    assert_int_equal(vg_surface_resize(s, 10, 0), -EINVAL);
    assert_int_equal(vg_surface_resize(s, VG_MAX_DIMENSION + 1, 10), -EINVAL);
    assert_int_equal(vg_surface_resize(s, 10, UINT32_MAX), -EINVAL);
    assert_int_equal(vg_surface_resize(s, 64, 32), 0);
    vg_surface_unref(s);
}

static void test_surface_write_outside_is_refused(void **state)
{
    vg_surface *s = vg_surface_new();
    uint8_t *px = solid(16, 16, 0xffffff);
    (void)state;
    /* Nothing can be written before the surface has a size. */
    assert_int_equal(vg_surface_write(s, 0, 0, 1, 1, px, 64), -ERANGE);
    assert_int_equal(vg_surface_resize(s, 32, 32), 0);
    assert_int_equal(vg_surface_write(s, 17, 0, 16, 16, px, 64), -ERANGE);
    assert_int_equal(vg_surface_write(s, 0, 17, 16, 16, px, 64), -ERANGE);
    /* Wrap-around in x + w must not pass the check. */
    assert_int_equal(vg_surface_write(s, UINT32_MAX - 4, 0, 16, 1, px, 64), -ERANGE);
    assert_int_equal(vg_surface_write(s, 0, UINT32_MAX, 1, 2, px, 64), -ERANGE);
    assert_int_equal(vg_surface_write(s, 16, 16, 16, 16, px, 64), 1);
    g_free(px);
    vg_surface_unref(s);
}

static void test_surface_damage_covers_only_changed_rows(void **state)
{
    recorder *r = *state;
    vg_surface *s = vg_surface_new();
    uint8_t *black = solid(100, 50, 0), *img = solid(100, 50, 0);
    pixman_box32_t *b;
    int n;

    assert_int_equal(vg_surface_resize(s, 100, 50), 0);
    assert_int_equal(vg_surface_add_listener(s, &rec_ops, r), 0);
    assert_int_equal(r->resizes, 1); /* told the current size at once */
    assert_int_equal(r->w, 100);

    /* Writing the same pixels changes nothing: no damage, no notification. */
    assert_int_equal(vg_surface_write(s, 0, 0, 100, 50, black, 400), 0);
    vg_surface_commit(s);
    assert_int_equal(r->damages, 0);

    /* Change rows 10..12 inside a 100x50 write: damage is exactly those rows. */
    for (int y = 10; y <= 12; y++)
        ((uint32_t *)img)[y * 100 + 7] = 0x123456;
    assert_int_equal(vg_surface_write(s, 0, 0, 100, 50, img, 400), 1);
    vg_surface_commit(s);
    assert_int_equal(r->damages, 1);
    b = pixman_region32_rectangles(&r->damage, &n);
    assert_int_equal(n, 1);
    assert_int_equal(b[0].x1, 0);
    assert_int_equal(b[0].y1, 10);
    assert_int_equal(b[0].x2, 100);
    assert_int_equal(b[0].y2, 13);

    /* Pixels really landed. */
    vg_surface_lock(s);
    assert_int_equal(((const uint32_t *)vg_surface_pixels_locked(s))[11 * 100 + 7], 0x123456);
    vg_surface_unlock(s);

    vg_surface_remove_listener(s, &rec_ops, r);
    assert_int_equal(vg_surface_write(s, 0, 0, 100, 50, black, 400), 1);
    vg_surface_commit(s);
    assert_int_equal(r->damages, 1); /* no callbacks after removal */
    g_free(black);
    g_free(img);
    vg_surface_unref(s);
}

static void test_surface_damage_accumulates_until_commit(void **state)
{
    recorder *r = *state;
    vg_surface *s = vg_surface_new();
    uint8_t *white = solid(10, 10, 0xffffff);
    pixman_box32_t *ext;

    assert_int_equal(vg_surface_resize(s, 200, 200), 0);
    assert_int_equal(vg_surface_add_listener(s, &rec_ops, r), 0);
    assert_int_equal(vg_surface_write(s, 0, 0, 10, 10, white, 40), 1);
    assert_int_equal(vg_surface_write(s, 150, 150, 10, 10, white, 40), 1);
    assert_int_equal(r->damages, 0);
    vg_surface_commit(s);
    assert_int_equal(r->damages, 1);
    assert_int_equal(pixman_region32_n_rects(&r->damage), 2);
    ext = pixman_region32_extents(&r->damage);
    assert_int_equal(ext->x1, 0);
    assert_int_equal(ext->y1, 0);
    assert_int_equal(ext->x2, 160);
    assert_int_equal(ext->y2, 160);
    g_free(white);
    vg_surface_unref(s);
}

static void test_surface_frame_complete_only_when_all_received(void **state)
{
    vg_surface *s = vg_surface_new();
    uint8_t *black = solid(64, 32, 0);
    (void)state;
    assert_int_equal(vg_surface_resize(s, 64, 64), 0);
    /* Half the screen (black, so no damage) is not a complete frame. */
    assert_int_equal(vg_surface_write(s, 0, 0, 64, 32, black, 256), 0);
    vg_surface_commit(s);
    assert_int_equal(vg_surface_wait_frame(s, vg_now_us() + 20000), -ETIMEDOUT);
    assert_int_equal(vg_surface_write(s, 0, 32, 64, 32, black, 256), 0);
    vg_surface_commit(s);
    assert_int_equal(vg_surface_wait_frame(s, vg_now_us() + 20000), 0);
    /* A resize starts over. */
    assert_int_equal(vg_surface_resize(s, 64, 65), 0);
    assert_int_equal(vg_surface_wait_frame(s, vg_now_us() + 20000), -ETIMEDOUT);
    g_free(black);
    vg_surface_unref(s);
}

static void test_surface_resize_voids_damage_and_tells_listeners(void **state)
{
    recorder *r = *state;
    vg_surface *s = vg_surface_new();
    uint8_t *white = solid(10, 10, 0xffffff);
    assert_int_equal(vg_surface_add_listener(s, &rec_ops, r), 0);
    assert_int_equal(r->resizes, 0); /* no size yet: nothing to tell */
    assert_int_equal(vg_surface_resize(s, 20, 20), 0);
    assert_int_equal(vg_surface_write(s, 0, 0, 10, 10, white, 40), 1);
    assert_int_equal(vg_surface_resize(s, 40, 30), 0);
    assert_int_equal(r->resizes, 2);
    assert_int_equal(r->w, 40);
    assert_int_equal(r->h, 30);
    vg_surface_commit(s); /* the pre-resize damage is gone */
    assert_int_equal(r->damages, 0);
    vg_surface_lock(s);
    assert_int_equal(((const uint32_t *)vg_surface_pixels_locked(s))[0], 0);
    assert_int_equal(vg_surface_stride_locked(s), 160);
    vg_surface_unlock(s);
    g_free(white);
    vg_surface_unref(s);
}

static void test_surface_close_tells_listeners_once(void **state)
{
    recorder *r = *state;
    vg_surface *s = vg_surface_new();
    char buf[64];
    assert_int_equal(vg_surface_resize(s, 8, 8), 0);
    assert_int_equal(vg_surface_add_listener(s, &rec_ops, r), 0);
    assert_false(vg_surface_closed_reason(s, buf, sizeof(buf)));
    vg_surface_close(s, "the VM was powered off");
    vg_surface_close(s, "again");
    assert_int_equal(r->closes, 1);
    assert_string_equal(r->reason, "the VM was powered off");
    assert_true(vg_surface_closed_reason(s, buf, sizeof(buf)));
    assert_string_equal(buf, "the VM was powered off");
    assert_int_equal(vg_surface_add_listener(s, &rec_ops, r), -EPIPE);
    assert_int_equal(vg_surface_wait_frame(s, vg_now_us() + 1000000), -EPIPE);
    assert_int_equal(vg_surface_wait_stable(s, 10, vg_now_us() + 1000000), -EPIPE);
    vg_surface_unref(s);
}

static void test_surface_wait_stable_sees_quiet_screen(void **state)
{
    vg_surface *s = vg_surface_new();
    uint8_t *white = solid(8, 8, 0xffffff);
    int64_t t0;
    (void)state;
    assert_int_equal(vg_surface_resize(s, 8, 8), 0);
    assert_int_equal(vg_surface_write(s, 0, 0, 8, 8, white, 32), 1);
    vg_surface_commit(s);
    t0 = vg_now_us();
    assert_int_equal(vg_surface_wait_stable(s, 30, t0 + 5000000), 0);
    assert_true(vg_now_us() - t0 >= 25000);
    /* Stability longer than the deadline allows times out. */
    assert_int_equal(vg_surface_wait_stable(s, 10000, vg_now_us() + 30000), -ETIMEDOUT);
    g_free(white);
    vg_surface_unref(s);
}

static void test_surface_cursor_is_validated_and_copied(void **state)
{
    recorder *r = *state;
    vg_surface *s = vg_surface_new();
    uint32_t px[4] = {0xff000000, 0xffffffff, 0, 0xff00ff00};
    vg_cursor c = {2, 2, 1, 1, px};
    vg_cursor bad_hot = {2, 2, 2, 0, px};
    vg_cursor huge = {VG_MAX_DIMENSION + 1, 1, 0, 0, px};
    assert_int_equal(vg_surface_add_listener(s, &rec_ops, r), 0);
    assert_int_equal(vg_surface_set_cursor(s, &c), 0);
    assert_int_equal(vg_surface_set_cursor(s, &bad_hot), -EINVAL);
    assert_int_equal(vg_surface_set_cursor(s, &huge), -EINVAL);
    assert_int_equal(r->cursors, 1);
    vg_surface_unref(s);
}

static void test_size_helpers_detect_overflow(void **state)
{
    size_t out = 0;
    (void)state;
    assert_int_equal(vg_size_mul(SIZE_MAX / 2 + 1, 2, &out), -EOVERFLOW);
    assert_int_equal(vg_size_mul(1 << 20, 1 << 10, &out), 0);
    assert_int_equal(out, (size_t)1 << 30);
    assert_int_equal(vg_size_add(SIZE_MAX, 1, &out), -EOVERFLOW);
    assert_int_equal(vg_image_size(1920, 1080, 4, &out), 0);
    assert_int_equal(out, 1920u * 1080u * 4u);
    assert_int_equal(vg_image_size(65535, 65535, 4, &out), -EINVAL);
    assert_int_equal(vg_image_size(16, 16, 0, &out), -EINVAL);
    assert_int_equal(vg_image_size(16, 16, 5, &out), -EINVAL);
    assert_true(vg_rect_inside(0, 0, 10, 10, 10, 10));
    assert_false(vg_rect_inside(1, 0, 10, 10, 10, 10));
    assert_false(vg_rect_inside(UINT32_MAX, UINT32_MAX, 2, 2, 10, 10));
    assert_false(vg_rect_inside(5, 5, UINT32_MAX, 1, 10, 10));
    assert_true(vg_rect_inside(10, 10, 0, 0, 10, 10));
}

/* Decode @png (libpng's simplified API) into RGB; @return the pixels (free). */
static uint8_t *decode_png(const uint8_t *png, size_t len, uint32_t *w, uint32_t *h)
{
    png_image img = {.version = PNG_IMAGE_VERSION};
    uint8_t *rgb;
    assert_true(png_image_begin_read_from_memory(&img, png, len));
    img.format = PNG_FORMAT_RGB;
    rgb = g_malloc(PNG_IMAGE_SIZE(img));
    assert_true(png_image_finish_read(&img, NULL, rgb, 0, NULL));
    *w = img.width;
    *h = img.height;
    return rgb;
}

/* A thumbnail fits the box, keeps the aspect, shows the picture (a left
 * half red, a right half blue stays so), and a small screen is not scaled up. */
static void test_surface_thumbnail_fits_and_keeps_the_picture(void **state)
{
    vg_surface *s = vg_surface_new();
    uint32_t *px = g_new(uint32_t, 1000 * 500), w, h;
    uint8_t *png = NULL, *rgb;
    size_t len = 0;
    (void)state;

    assert_int_equal(vg_surface_encode_png_scaled(s, 320, 240, &png, &len), -ENODATA);
    assert_int_equal(vg_surface_resize(s, 1000, 500), 0);
    for (int y = 0; y < 500; y++)
        for (int x = 0; x < 1000; x++)
            px[y * 1000 + x] = x < 500 ? 0xFF0000 : 0x0000FF; /* BGRX: red, blue */
    vg_surface_write(s, 0, 0, 1000, 500, (const uint8_t *)px, 4000);
    vg_surface_commit(s);
    assert_int_equal(vg_surface_encode_png_scaled(s, 320, 240, &png, &len), 0);
    rgb = decode_png(png, len, &w, &h);
    assert_int_equal(w, 320);
    assert_int_equal(h, 160);
    assert_int_equal(rgb[(80 * 320 + 40) * 3 + 0], 255); /* red on the left */
    assert_int_equal(rgb[(80 * 320 + 40) * 3 + 2], 0);
    assert_int_equal(rgb[(80 * 320 + 280) * 3 + 0], 0); /* blue on the right */
    assert_int_equal(rgb[(80 * 320 + 280) * 3 + 2], 255);
    g_free(rgb);
    g_free(png);

    assert_int_equal(vg_surface_resize(s, 200, 100), 0);
    assert_int_equal(vg_surface_encode_png_scaled(s, 320, 240, &png, &len), 0);
    rgb = decode_png(png, len, &w, &h);
    assert_int_equal(w, 200);
    assert_int_equal(h, 100);
    g_free(rgb);
    g_free(png);
    g_free(px);
    vg_surface_unref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_surface_rejects_bad_sizes),
        cmocka_unit_test(test_surface_thumbnail_fits_and_keeps_the_picture),
        cmocka_unit_test(test_surface_write_outside_is_refused),
        cmocka_unit_test_setup_teardown(test_surface_damage_covers_only_changed_rows, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_surface_damage_accumulates_until_commit, setup,
                                        teardown),
        cmocka_unit_test(test_surface_frame_complete_only_when_all_received),
        cmocka_unit_test_setup_teardown(test_surface_resize_voids_damage_and_tells_listeners, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_surface_close_tells_listeners_once, setup, teardown),
        cmocka_unit_test(test_surface_wait_stable_sees_quiet_screen),
        cmocka_unit_test_setup_teardown(test_surface_cursor_is_validated_and_copied, setup,
                                        teardown),
        cmocka_unit_test(test_size_helpers_detect_overflow),
    };
    return cmocka_run_group_tests_name("surface", tests, NULL, NULL);
}
