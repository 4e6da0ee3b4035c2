/*
 * Unit tests: --type text escapes and typing through a recording display
 * source (a test double of the display source interface).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "display.h"
#include "keymap.h"
#include "type-text.h"

typedef struct rec_source {
    vg_display_source base;
    GArray *events; /* uint32: qnum | down << 16 */
    int fail_after;
} rec_source;

static int rec_key(vg_display_source *src, uint16_t qnum, uint32_t keysym, bool down)
{
    rec_source *r = (rec_source *)src;
    uint32_t v = qnum | (down ? 1u << 16 : 0);
    (void)keysym;
    if (r->fail_after >= 0 && (int)r->events->len >= r->fail_after)
        return -EPIPE;
    g_array_append_val(r->events, v);
    return 0;
}

static int rec_pointer(vg_display_source *src, int32_t x, int32_t y, uint32_t b)
{
    (void)src;
    (void)x;
    (void)y;
    (void)b;
    return 0;
}

static const vg_display_source_ops rec_ops = {rec_key, rec_pointer, NULL};

static void test_unescape_turns_backslash_n_into_enter(void **state)
{
    size_t bad = 0;
    g_autofree char *a = vg_type_unescape("echo hi\\n", &bad);
    g_autofree char *b = vg_type_unescape("a\\\\b\\t\\e", &bad);
    (void)state;
    assert_string_equal(a, "echo hi\n");
    assert_string_equal(b, "a\\b\t\x1b");
    assert_null(vg_type_unescape("bad \\q", &bad));
    assert_int_equal(bad, 4);
    assert_null(vg_type_unescape("trailing \\", &bad));
}

static void test_type_check_names_untypeable_character(void **state)
{
    uint32_t bad = 0;
    (void)state;
    assert_int_equal(vg_type_check("ls -l /tmp\n", &bad), 0);
    assert_int_equal(vg_type_check("caf\xc3\xa9", &bad), -ENOENT);
    assert_int_equal(bad, 0xe9);
    assert_int_equal(vg_type_check("\xff\xfe", &bad), -EINVAL);
}

static void test_type_text_presses_shift_for_uppercase(void **state)
{
    rec_source r = {{&rec_ops, NULL}, g_array_new(FALSE, FALSE, sizeof(uint32_t)), -1};
    const uint32_t D = 1u << 16;
    const uint32_t want[] = {0x1e | D, 0x1e,           VG_QNUM_LSHIFT | D, 0x30 | D,
                             0x30,     VG_QNUM_LSHIFT, 0x1c | D,           0x1c};
    (void)state;
    assert_int_equal(vg_type_text(&r.base, "aB\n", 0), 0);
    assert_int_equal(r.events->len, G_N_ELEMENTS(want));
    assert_memory_equal(r.events->data, want, sizeof(want));
    g_array_free(r.events, TRUE);
}

static void test_type_text_stops_at_first_error(void **state)
{
    rec_source r = {{&rec_ops, NULL}, g_array_new(FALSE, FALSE, sizeof(uint32_t)), 3};
    (void)state;
    assert_int_equal(vg_type_text(&r.base, "abc", 0), -EPIPE);
    assert_int_equal(r.events->len, 3);
    g_array_free(r.events, TRUE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unescape_turns_backslash_n_into_enter),
        cmocka_unit_test(test_type_check_names_untypeable_character),
        cmocka_unit_test(test_type_text_presses_shift_for_uppercase),
        cmocka_unit_test(test_type_text_stops_at_first_error),
    };
    return cmocka_run_group_tests_name("type_text", tests, NULL, NULL);
}
