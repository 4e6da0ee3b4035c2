/*
 * Unit tests: vmgate-shot's step runner against a recording display source
 * (a test double of the display source interface) and a real surface:
 * events in order, needles awaited on the surface, expect-fail, the
 * failing screen and diff kept, skipped steps, a lost connection.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "display.h"
#include "shot-run.h"
#include "shot.h"
#include "surface.h"

#define W 64
#define H 48

typedef struct rec_source {
    vg_display_source base;
    GString *log; /* "k+1e k-1e p10,20,4 ..." */
} rec_source;

static int rec_key(vg_display_source *src, uint16_t qnum, uint32_t keysym, bool down)
{
    rec_source *r = (rec_source *)src;
    (void)keysym;
    if (vg_surface_closed_reason(src->surface, NULL, 0))
        return -EPIPE;
    g_string_append_printf(r->log, "k%c%02x ", down ? '+' : '-', qnum);
    return 0;
}

static int rec_pointer(vg_display_source *src, int32_t x, int32_t y, uint32_t b)
{
    rec_source *r = (rec_source *)src;
    g_string_append_printf(r->log, "p%d,%d,%u ", x, y, b);
    return 0;
}

static const vg_display_source_ops rec_ops = {rec_key, rec_pointer, NULL};

typedef struct fixture {
    rec_source src;
    char *dir;
    GPtrArray *results;
    shot_script *script;
} fixture;

/* Fill the surface: black, with a white 8 x 8 square at (sx, sy). */
static void paint(vg_surface *s, int sx, int sy)
{
    uint8_t px[W * H * 4];
    memset(px, 0, sizeof(px));
    for (int y = sy; y < sy + 8; y++)
        for (int x = sx; x < sx + 8; x++)
            memset(px + (y * W + x) * 4, 0xff, 3);
    assert_true(vg_surface_write(s, 0, 0, W, H, px, W * 4) >= 0);
    vg_surface_commit(s);
}

static int setup(void **state)
{
    fixture *f = g_new0(fixture, 1);
    shot_image img = {.width = W, .height = H, .px = g_malloc0(W * H * 4)};
    shot_rect square = {10, 10, 8, 8};
    char why[256];
    g_autofree char *needle = NULL;

    f->src.base.ops = &rec_ops;
    f->src.base.surface = vg_surface_new();
    f->src.log = g_string_new(NULL);
    assert_int_equal(vg_surface_resize(f->src.base.surface, W, H), 0);
    paint(f->src.base.surface, 12, 11); /* the square, moved by (2, 1) */
    f->dir = g_dir_make_tmp("vgshot-run-XXXXXX", NULL);
    /* The needle: the square at (10, 10), margin 4. */
    for (int y = 10; y < 18; y++)
        for (int x = 10; x < 18; x++)
            memset(img.px + (y * W + x) * 4, 0xff, 3);
    needle = g_build_filename(f->dir, "square", NULL);
    assert_int_equal(shot_needle_write(&img, needle, &square, 1, 96, 4, NULL, why, sizeof(why)), 0);
    /* A needle that is not on the screen: the square elsewhere. */
    memset(img.px, 0, W * H * 4);
    for (int y = 30; y < 38; y++)
        for (int x = 40; x < 48; x++)
            memset(img.px + (y * W + x) * 4, 0xff, 3);
    g_free(needle);
    needle = g_build_filename(f->dir, "elsewhere", NULL);
    square = (shot_rect){40, 30, 8, 8};
    assert_int_equal(shot_needle_write(&img, needle, &square, 1, 96, 0, NULL, why, sizeof(why)), 0);
    shot_image_clear(&img);
    f->script = shot_script_new("t.vgs", "us", f->dir, 1, why, sizeof(why));
    f->results = shot_results_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    GDir *d = g_dir_open(f->dir, 0, NULL);
    const char *name;
    while ((name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(f->dir, name, NULL);
        g_unlink(p);
    }
    g_dir_close(d);
    g_rmdir(f->dir);
    g_free(f->dir);
    g_ptr_array_unref(f->results);
    shot_script_free(f->script);
    vg_surface_unref(f->src.base.surface);
    g_string_free(f->src.log, TRUE);
    g_free(f);
    return 0;
}

static int run(fixture *f, const char *text)
{
    g_autoptr(GString) err = g_string_new(NULL);
    shot_run_options o = {.key_delay_ms = 0, .artifacts_dir = f->dir, .artifacts_prefix = "r-"};
    if (shot_script_add_text(f->script, "t.vgs", text, err) != 0)
        fail_msg("%s", err->str);
    return shot_run_script(&f->src.base, f->script, &o, f->results);
}

static shot_result *result(fixture *f, guint i)
{
    assert_true(i < f->results->len);
    return f->results->pdata[i];
}

static void test_run_sends_keys_and_pointer_in_order(void **state)
{
    fixture *f = *state;
    assert_int_equal(run(f, "type aB\nclick right 10 20\nmove 5 6\nscroll down 1\n"
                            "drag 1 1 11 1\n"),
                     SHOT_EXIT_OK);
    assert_string_equal(f->src.log->str,
                        "k+1e k-1e k+2a k+30 k-30 k-2a " /* aB */
                        "p10,20,0 p10,20,4 p10,20,0 "    /* right click */
                        "p5,6,0 "                        /* move */
                        "p5,6,16 p5,6,0 "                /* a wheel step down */
                        "p1,1,0 p1,1,1 p2,1,1 p3,1,1 p4,1,1 p5,1,1 p6,1,1 p7,1,1 p8,1,1 "
                        "p9,1,1 p10,1,1 p11,1,1 p11,1,0 "); /* drag */
    for (guint i = 0; i < f->results->len; i++)
        assert_int_equal(result(f, i)->status, SHOT_PASSED);
}

static void test_run_finds_moved_needle_and_clicks_its_centre(void **state)
{
    fixture *f = *state;
    assert_int_equal(run(f, "wait-screen square\nassert-screen square\nclick-needle square\n"
                            "expect-fail assert-screen elsewhere\n"
                            "expect-fail wait-gone square --timeout 1\n"),
                     SHOT_EXIT_OK);
    assert_true(result(f, 0)->similarity == 100.0);
    assert_non_null(strstr(result(f, 0)->message, "matched at 12,11"));
    /* The needle's centre (14, 14) where it was found, (16, 15). */
    assert_non_null(strstr(f->src.log->str, "p16,15,1 p16,15,0"));
    assert_int_equal(result(f, 4)->status, SHOT_PASSED);
    assert_non_null(strstr(result(f, 4)->message, "failed as expected"));
}

static void test_run_failing_needle_keeps_screen_and_diff_and_skips_the_rest(void **state)
{
    fixture *f = *state;
    int64_t t0 = g_get_monotonic_time();
    assert_int_equal(run(f, "wait-screen elsewhere --timeout 1\ntype x\n"), SHOT_EXIT_TIMEOUT);
    assert_true(g_get_monotonic_time() - t0 < 3 * G_USEC_PER_SEC);
    assert_int_equal(result(f, 0)->status, SHOT_FAILED);
    assert_non_null(
        strstr(result(f, 0)->message, "needle 'elsewhere' not found within 1 s: best similarity"));
    assert_true(result(f, 0)->similarity >= 0 && result(f, 0)->similarity < 96);
    assert_non_null(result(f, 0)->screen);
    assert_true(g_str_has_suffix(result(f, 0)->screen, "/r-step01-wait-screen-screen.png"));
    assert_true(g_file_test(result(f, 0)->screen, G_FILE_TEST_EXISTS));
    assert_true(g_file_test(result(f, 0)->diff, G_FILE_TEST_EXISTS));
    assert_int_equal(result(f, 1)->status, SHOT_SKIPPED);
    assert_string_equal(f->src.log->str, ""); /* the type step did not run */
}

static void test_run_expect_fail_fails_when_the_check_passes(void **state)
{
    fixture *f = *state;
    assert_int_equal(run(f, "expect-fail assert-screen square\n"), SHOT_EXIT_TIMEOUT);
    assert_non_null(strstr(result(f, 0)->message, "expected to fail, but"));
    assert_non_null(result(f, 0)->diff);
}

static void test_run_reports_a_lost_connection(void **state)
{
    fixture *f = *state;
    vg_surface_close(f->src.base.surface, "the VM stopped");
    assert_int_equal(run(f, "type a\n"), SHOT_EXIT_CONNECT);
    assert_non_null(strstr(result(f, 0)->message, "connection lost: the VM stopped"));
}

static void test_run_screenshot_that_cannot_be_written_is_exit_5(void **state)
{
    fixture *f = *state;
    assert_int_equal(run(f, "screenshot /nonexistent-dir/x.png\n"), SHOT_EXIT_OUTPUT);
    assert_non_null(strstr(result(f, 0)->message, "cannot write /nonexistent-dir/x.png"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_run_sends_keys_and_pointer_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_finds_moved_needle_and_clicks_its_centre, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_run_failing_needle_keeps_screen_and_diff_and_skips_the_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_expect_fail_fails_when_the_check_passes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_reports_a_lost_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_screenshot_that_cannot_be_written_is_exit_5, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
