/*
 * Unit tests: characters to keys on keyboard layouts (libxkbcommon with
 * xkb-data): levels, AltGr, dead keys, combos by character.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "keymap.h"
#include "shot-layout.h"

#define QNUM_Y 0x15
#define QNUM_Z 0x2c

static shot_layout *layout(const char *name)
{
    shot_layout *l = NULL;
    char why[256];
    int r = shot_layout_new(name, &l, why, sizeof(why));
    if (r < 0)
        fail_msg("layout %s: %s", name, why);
    return l;
}

/* The events typing @ch, as "+Q -Q" strings of qnums for easy comparison. */
static char *typed(shot_layout *l, uint32_t ch)
{
    GArray *ev = g_array_new(FALSE, FALSE, sizeof(shot_key_event));
    GString *s = g_string_new(NULL);

    if (shot_layout_type_char(l, ch, ev) < 0) {
        g_array_unref(ev);
        g_string_free(s, TRUE);
        return g_strdup("none");
    }
    for (guint i = 0; i < ev->len; i++) {
        shot_key_event *e = &g_array_index(ev, shot_key_event, i);
        g_string_append_printf(s, "%s%c%02x", i ? " " : "", e->down ? '+' : '-', e->qnum);
    }
    g_array_unref(ev);
    return g_string_free(s, FALSE);
}

static void expect_typed(shot_layout *l, uint32_t ch, const char *want)
{
    g_autofree char *got = typed(l, ch);
    if (strcmp(got, want) != 0)
        fail_msg("%s U+%04X: got '%s', want '%s'", shot_layout_name(l), ch, got, want);
}

static void test_us_letters_shift_and_controls(void **state)
{
    shot_layout *l = layout("us");
    (void)state;
    expect_typed(l, 'a', "+1e -1e");
    expect_typed(l, 'A', "+2a +1e -1e -2a");
    expect_typed(l, '@', "+2a +03 -03 -2a");
    expect_typed(l, '\n', "+1c -1c");
    expect_typed(l, '\t', "+0f -0f");
    expect_typed(l, 0x1b, "+01 -01");
    expect_typed(l, 0xfc, "none"); /* ü: no key on us */
    shot_layout_free(l);
}

static void test_de_swaps_z_y_and_has_umlauts_and_altgr_at(void **state)
{
    shot_layout *l = layout("de");
    (void)state;
    expect_typed(l, 'z', "+15 -15");
    expect_typed(l, 'y', "+2c -2c");
    expect_typed(l, 0xfc, "+1a -1a");           /* ü */
    expect_typed(l, 0xdc, "+2a +1a -1a -2a");   /* Ü */
    expect_typed(l, '@', "+b8 +10 -10 -b8");    /* AltGr+q */
    expect_typed(l, '/', "+2a +08 -08 -2a");    /* Shift+7, not the keypad */
    expect_typed(l, '>', "+2a +56 -56 -2a");    /* the 102nd key */
    expect_typed(l, '^', "+29 -29 +39 -39");    /* dead circumflex, Space */
    expect_typed(l, 0xe9, "+0d -0d +12 -12");   /* é: dead acute, e */
    expect_typed(l, 0x20ac, "+b8 +12 -12 -b8"); /* € */
    shot_layout_free(l);
}

static void test_fr_dead_circumflex_composes(void **state)
{
    shot_layout *l = layout("fr");
    (void)state;
    expect_typed(l, 'a', "+10 -10");
    expect_typed(l, 0xea, "+1a -1a +12 -12"); /* ê */
    shot_layout_free(l);
}

static void test_variant_without_dead_keys_types_caret_directly(void **state)
{
    shot_layout *l = layout("de(nodeadkeys)");
    shot_layout *m = layout("de:nodeadkeys");
    (void)state;
    expect_typed(l, '^', "+29 -29");
    expect_typed(m, '^', "+29 -29");
    shot_layout_free(l);
    shot_layout_free(m);
}

static void test_text_reports_first_untypable_character(void **state)
{
    shot_layout *l = layout("us");
    GArray *ev = g_array_new(FALSE, FALSE, sizeof(shot_key_event));
    uint32_t bad = 0;
    (void)state;
    assert_int_equal(shot_layout_type_text(l, "ok \xe2\x82\xac", ev, &bad), -ENOENT);
    assert_int_equal(bad, 0x20ac);
    assert_int_equal(ev->len, 0);
    assert_int_equal(shot_layout_type_text(l, "\xff", ev, &bad), -EINVAL);
    assert_int_equal(shot_layout_type_text(l, "hi", ev, &bad), 0);
    assert_int_equal(ev->len, 4);
    g_array_unref(ev);
    shot_layout_free(l);
}

static void test_key_of_char_follows_layout(void **state)
{
    shot_layout *us = layout("us"), *de = layout("de");
    uint16_t q = 0;
    (void)state;
    assert_int_equal(shot_layout_key_of_char(us, 'z', &q), 0);
    assert_int_equal(q, QNUM_Z);
    assert_int_equal(shot_layout_key_of_char(de, 'z', &q), 0);
    assert_int_equal(q, QNUM_Y);
    assert_int_equal(shot_layout_key_of_char(us, 0xfc, &q), -ENOENT);
    shot_layout_free(us);
    shot_layout_free(de);
}

static void test_keysym_of_key_follows_layout_and_held_keys(void **state)
{
    shot_layout *us = layout("us"), *de = layout("de");
    uint16_t shift[] = {VG_QNUM_LSHIFT}, ctrl[] = {VG_QNUM_LCTRL}, altgr[] = {VG_QNUM_RALT};
    (void)state;
    assert_int_equal(shot_layout_keysym_of_key(us, QNUM_Y, NULL, 0), 'y');
    assert_int_equal(shot_layout_keysym_of_key(de, QNUM_Y, NULL, 0), 'z');
    assert_int_equal(shot_layout_keysym_of_key(de, QNUM_Y, shift, 1), 'Z');
    assert_int_equal(shot_layout_keysym_of_key(de, QNUM_Y, ctrl, 1), 'z');
    assert_int_equal(shot_layout_keysym_of_key(de, 0x10, altgr, 1), '@');
    assert_int_equal(shot_layout_keysym_of_key(us, VG_QNUM_LCTRL, NULL, 0), 0xffe3);
    assert_int_equal(shot_layout_keysym_of_key(us, 0, NULL, 0), 0);
    shot_layout_free(us);
    shot_layout_free(de);
}

static void test_bad_and_unknown_layout_names(void **state)
{
    shot_layout *l = NULL;
    char why[256];
    (void)state;
    assert_int_equal(shot_layout_new("de;rm", &l, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "not a keyboard layout name"));
    assert_int_equal(shot_layout_new("de(", &l, why, sizeof(why)), -EINVAL);
    assert_int_equal(shot_layout_new("", &l, why, sizeof(why)), -EINVAL);
    assert_int_equal(shot_layout_new("zz", &l, why, sizeof(why)), -ENOENT);
    assert_non_null(strstr(why, "no keyboard layout 'zz'"));
    assert_null(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_us_letters_shift_and_controls),
        cmocka_unit_test(test_de_swaps_z_y_and_has_umlauts_and_altgr_at),
        cmocka_unit_test(test_fr_dead_circumflex_composes),
        cmocka_unit_test(test_variant_without_dead_keys_types_caret_directly),
        cmocka_unit_test(test_text_reports_first_untypable_character),
        cmocka_unit_test(test_key_of_char_follows_layout),
        cmocka_unit_test(test_keysym_of_key_follows_layout_and_held_keys),
        cmocka_unit_test(test_bad_and_unknown_layout_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
