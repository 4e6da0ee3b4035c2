/*
 * Unit tests: wait-text's reading (Tesseract on a screenshot of the test
 * guest's console) and its comparison rules.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "shot-ocr.h"

static void test_contains_squeezes_space_and_folds_lookalikes(void **state)
{
    (void)state;
    assert_true(shot_ocr_contains("ug# echo hello umgate > /deu/ttyS0\nug _", "hello vmgate"));
    assert_true(shot_ocr_contains("a  b\n\nc", "a b c"));
    assert_true(shot_ocr_contains("Code: l0O", "Code: 1OO"));
    assert_true(shot_ocr_contains("\xe2\x80\x9cquoted\xe2\x80\x9d", "\"quoted\""));
    assert_false(shot_ocr_contains("hello", "Hello"));
    assert_false(shot_ocr_contains("hello", "   "));
    assert_false(shot_ocr_contains("hel lo", "hello"));
}

static void test_reads_the_guest_console(void **state)
{
    shot_ocr *ocr = NULL;
    shot_image img = {0};
    shot_rect top = {0, 0, 320, 20}, outside = {300, 0, 40, 10};
    g_autofree char *text = NULL, *line = NULL;
    char why[256];
    (void)state;

    if (shot_image_load_png(VG_TEST_DATA "/console-text.png", &img, why, sizeof(why)) < 0)
        fail_msg("%s", why);
    if (shot_ocr_new("eng", &ocr, why, sizeof(why)) < 0)
        fail_msg("%s", why);
    assert_int_equal(shot_ocr_read(ocr, &img, NULL, &text), 0);
    if (!shot_ocr_contains(text, "vg# echo hello vmgate > /dev/ttyS0"))
        fail_msg("read '%s'", text);
    assert_int_equal(shot_ocr_read(ocr, &img, &top, &line), 0);
    assert_true(shot_ocr_contains(line, "echo hello"));
    g_free(line);
    line = NULL;
    assert_int_equal(shot_ocr_read(ocr, &img, &outside, &line), -EINVAL);
    shot_ocr_free(ocr);
    shot_image_clear(&img);
}

static void test_missing_language_is_reported(void **state)
{
    shot_ocr *ocr = NULL;
    char why[256];
    (void)state;
    assert_int_equal(shot_ocr_new("qqq", &ocr, why, sizeof(why)), -ENOENT);
    assert_non_null(strstr(why, "tesseract-ocr-qqq"));
    assert_null(ocr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contains_squeezes_space_and_folds_lookalikes),
        cmocka_unit_test(test_reads_the_guest_console),
        cmocka_unit_test(test_missing_language_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
