/*
 * Unit tests: vmgate-shot's script lexer and step checks, errors naming
 * file and line, key events fixed at parse time on the layout in force.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "display.h"
#include "keymap.h"
#include "shot-image.h"
#include "shot-script.h"

static shot_script *script(void)
{
    char why[256];
    shot_script *s = shot_script_new("t.vgs", "us", NULL, 30, why, sizeof(why));
    assert_non_null(s);
    return s;
}

static shot_step *step(shot_script *s, guint i)
{
    assert_true(i < s->steps->len);
    return s->steps->pdata[i];
}

/* "+Q -Q ..." of a step's key events. */
static char *keys(const shot_step *st)
{
    GString *out = g_string_new(NULL);
    for (guint i = 0; i < st->keys->len; i++) {
        shot_key_event *e = &g_array_index(st->keys, shot_key_event, i);
        g_string_append_printf(out, "%s%c%02x", i ? " " : "", e->down ? '+' : '-', e->qnum);
    }
    return g_string_free(out, FALSE);
}

static void test_script_steps_comments_and_quotes(void **state)
{
    shot_script *s = script();
    g_autoptr(GString) err = g_string_new(NULL);
    const char *text = "# a comment\n"
                       "\n"
                       "type 'echo hi\\n'   # trailing comment\n"
                       "key ctrl-alt-del tab*2\n"
                       "  move 10 20\n"
                       "click right 5 6\n"
                       "double-click\n"
                       "drag 1 2 30 40\n"
                       "scroll down 3\n"
                       "scroll up\n"
                       "wait-still 500 --timeout 7\n"
                       "wait-text \"Welcome to\" --area 0,0,100,50 --timeout=9\n"
                       "screenshot \"out file.png\"\n"
                       "sleep 10\n";
    g_autofree char *k0 = NULL, *k1 = NULL;
    (void)state;

    assert_int_equal(shot_script_add_text(s, "t.vgs", text, err), 0);
    assert_string_equal(err->str, "");
    assert_int_equal(s->steps->len, 12);
    assert_int_equal(step(s, 0)->kind, SHOT_STEP_TYPE);
    assert_int_equal(step(s, 0)->line, 3);
    assert_string_equal(step(s, 0)->text, "echo hi\\n");
    k0 = keys(step(s, 0));
    assert_non_null(strstr(k0, "+1c -1c")); /* \n is Enter */
    k1 = keys(step(s, 1));
    assert_string_equal(k1, "+1d +38 +d3 -d3 -38 -1d +0f -0f +0f -0f");
    assert_int_equal(step(s, 2)->x, 10);
    assert_int_equal(step(s, 2)->y, 20);
    assert_int_equal(step(s, 3)->button, VG_BUTTON_RIGHT);
    assert_true(step(s, 3)->has_pos);
    assert_int_equal(step(s, 4)->kind, SHOT_STEP_DOUBLE_CLICK);
    assert_false(step(s, 4)->has_pos);
    assert_int_equal(step(s, 5)->x2, 30);
    assert_int_equal(step(s, 6)->count, 3);
    assert_int_equal(step(s, 7)->count, -1);
    assert_int_equal(step(s, 8)->ms, 500);
    assert_int_equal(step(s, 8)->timeout_s, 7);
    assert_string_equal(step(s, 9)->text, "Welcome to");
    assert_true(step(s, 9)->has_area);
    assert_int_equal(step(s, 9)->area.w, 100);
    assert_int_equal(step(s, 9)->timeout_s, 9);
    assert_true(s->needs_ocr);
    assert_string_equal(step(s, 10)->text, "out file.png");
    assert_int_equal(step(s, 11)->ms, 10);
    shot_script_free(s);
}

static void test_script_errors_name_file_and_line_and_continue(void **state)
{
    shot_script *s = script();
    g_autoptr(GString) err = g_string_new(NULL);
    const char *text = "type ok\n"
                       "frobnicate 1\n"
                       "click left 5\n"
                       "wait-screen no-such-needle --timeout 3\n"
                       "scroll sideways\n"
                       "type 'unterminated\n"
                       "key ctrl-nosuchkey\n"
                       "wait-still 100 --bogus\n"
                       "expect-fail type x\n"
                       "layout qq\n";
    (void)state;

    assert_int_equal(shot_script_add_text(s, "dir/t.vgs", text, err), 9);
    assert_non_null(strstr(err->str, "dir/t.vgs:2: unknown step 'frobnicate'"));
    assert_non_null(strstr(err->str, "dir/t.vgs:3: click takes"));
    assert_non_null(strstr(err->str, "dir/t.vgs:4: needle 'no-such-needle'"));
    assert_non_null(strstr(err->str, "dir/t.vgs:5: scroll takes"));
    assert_non_null(strstr(err->str, "dir/t.vgs:6: "));
    assert_non_null(strstr(err->str, "dir/t.vgs:7: key: 'ctrl-nosuchkey'"));
    assert_non_null(strstr(err->str, "dir/t.vgs:8: wait-still: unknown option '--bogus'"));
    assert_non_null(strstr(err->str, "dir/t.vgs:9: expect-fail is for checks"));
    assert_non_null(strstr(err->str, "dir/t.vgs:10: no keyboard layout 'qq'"));
    assert_int_equal(s->steps->len, 1);
    shot_script_free(s);
}

static void test_script_layout_step_changes_later_typing_and_combos(void **state)
{
    shot_script *s = script();
    g_autoptr(GString) err = g_string_new(NULL);
    g_autofree char *a = NULL, *b = NULL, *c = NULL;
    (void)state;

    assert_int_equal(
        shot_script_add_text(s, "t", "type z\nlayout de\ntype z\nkey ctrl-z\nkey shift-z\n", err),
        0);
    a = keys(step(s, 0));
    b = keys(step(s, 2));
    c = keys(step(s, 3));
    assert_string_equal(a, "+2c -2c");
    assert_string_equal(b, "+15 -15");
    assert_string_equal(c, "+1d +15 -15 -1d");
    /* Keysyms as the key makes them with the keys before it held: QEMU's
     * VNC server presses Caps Lock when a letter's case and Shift differ. */
    assert_int_equal(g_array_index(step(s, 3)->keys, shot_key_event, 1).keysym, 'z');
    assert_int_equal(g_array_index(step(s, 4)->keys, shot_key_event, 0).keysym, 0xffe1);
    assert_int_equal(g_array_index(step(s, 4)->keys, shot_key_event, 1).keysym, 'Z');
    assert_int_equal(g_array_index(step(s, 4)->keys, shot_key_event, 2).keysym, 'Z');
    shot_script_free(s);
}

static void test_script_rejects_text_the_layout_cannot_type(void **state)
{
    shot_script *s = script();
    g_autoptr(GString) err = g_string_new(NULL);
    (void)state;
    assert_int_equal(shot_script_add_text(s, "t", "type 'gr\xc3\xbc\xc3\x9f'\n", err), 1);
    assert_non_null(strstr(err->str, "t:1: type: '\xc3\xbc' (U+00FC) has no key on layout us"));
    assert_int_equal(shot_script_add_text(s, "t", "type 'bad \\q'\n", err), 1);
    assert_non_null(strstr(err->str, "unknown escape '\\q'"));
    shot_script_free(s);
}

static void test_script_expect_fail_and_needles_load_once(void **state)
{
    g_autofree char *dir = g_dir_make_tmp("vgshot-XXXXXX", NULL);
    g_autofree char *base = g_build_filename(dir, "prompt", NULL);
    shot_image img = {.width = 8, .height = 8, .px = g_malloc0(8 * 8 * 4)};
    shot_rect r = {1, 1, 4, 4};
    char why[256];
    shot_script *s;
    g_autoptr(GString) err = g_string_new(NULL);
    (void)state;

    assert_int_equal(shot_needle_write(&img, base, &r, 1, 96, 5, NULL, why, sizeof(why)), 0);
    s = shot_script_new("t", NULL, dir, 30, why, sizeof(why));
    assert_int_equal(shot_script_add_text(s, "t",
                                          "wait-screen prompt\n"
                                          "expect-fail assert-screen prompt.png\n"
                                          "click-needle prompt.json right --timeout 2\n",
                                          err),
                     0);
    assert_false(step(s, 0)->expect_fail);
    assert_true(step(s, 1)->expect_fail);
    assert_int_equal(step(s, 1)->kind, SHOT_STEP_ASSERT_SCREEN);
    assert_ptr_equal(step(s, 0)->needle, step(s, 1)->needle);
    assert_int_equal(step(s, 2)->button, VG_BUTTON_RIGHT);
    assert_int_equal(step(s, 2)->timeout_s, 2);
    assert_int_equal(step(s, 0)->timeout_s, 30);
    shot_script_free(s);
    shot_image_clear(&img);
    g_unlink(base);
    {
        g_autofree char *p = g_strconcat(base, ".png", NULL);
        g_autofree char *j = g_strconcat(base, ".json", NULL);
        g_unlink(p);
        g_unlink(j);
    }
    g_rmdir(dir);
}

static void test_script_add_argv_for_shorthands(void **state)
{
    shot_script *s = script();
    char *words[] = {"screenshot", "x.png", NULL};
    char *bad[] = {"wait-still", "-5", NULL};
    char why[256];
    (void)state;
    assert_int_equal(shot_script_add_argv(s, "command line", 0, "x", 2, words, why, sizeof(why)),
                     0);
    assert_int_equal(shot_script_add_argv(s, "command line", 0, "x", 2, bad, why, sizeof(why)),
                     -EINVAL);
    assert_non_null(strstr(why, "wait-still takes MS"));
    assert_int_equal(s->steps->len, 1);
    shot_script_free(s);
}

static void test_rect_parse(void **state)
{
    shot_rect r;
    (void)state;
    assert_int_equal(shot_rect_parse("1,2,3,4", &r), 0);
    assert_int_equal(r.x + r.y + r.w + r.h, 10);
    assert_int_equal(shot_rect_parse("1,2,0,4", &r), -EINVAL);
    assert_int_equal(shot_rect_parse("1,2,3", &r), -EINVAL);
    assert_int_equal(shot_rect_parse("1,2,3,4x", &r), -EINVAL);
    assert_int_equal(shot_rect_parse("-1,2,3,4", &r), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_script_steps_comments_and_quotes),
        cmocka_unit_test(test_script_errors_name_file_and_line_and_continue),
        cmocka_unit_test(test_script_layout_step_changes_later_typing_and_combos),
        cmocka_unit_test(test_script_rejects_text_the_layout_cannot_type),
        cmocka_unit_test(test_script_expect_fail_and_needles_load_once),
        cmocka_unit_test(test_script_add_argv_for_shorthands),
        cmocka_unit_test(test_rect_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
