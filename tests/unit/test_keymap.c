/*
 * Unit tests for base/keymap.c: character, keysym, RDP scancode and
 * key-combination translation to QEMU key numbers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "keymap.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- characters ---- */

static void test_keymap_every_printable_ascii_has_a_stroke(void **state)
{
    uint32_t ch;

    (void)state;

    for (ch = 0x20; ch <= 0x7e; ch++) {
        vg_key_stroke st;

        memset(&st, 0xa5, sizeof(st));
        assert_int_equal(vg_keymap_char_to_stroke(ch, &st), 0);
        assert_int_equal(st.keysym, ch);
        assert_in_range(st.qnum, 1, VG_QNUM_MAX);
        /* The keysym leads back to the same key. */
        assert_int_equal(vg_keymap_keysym_to_qnum(st.keysym), st.qnum);
    }
}

static void test_keymap_distinct_chars_on_one_key_differ_in_shift(void **state)
{
    uint32_t a, b;

    (void)state;

    for (a = 0x20; a <= 0x7e; a++) {
        for (b = a + 1; b <= 0x7e; b++) {
            vg_key_stroke sa, sb;

            assert_int_equal(vg_keymap_char_to_stroke(a, &sa), 0);
            assert_int_equal(vg_keymap_char_to_stroke(b, &sb), 0);
            if (sa.qnum == sb.qnum)
                assert_true(sa.shift != sb.shift);
        }
    }
}

static void test_keymap_lowercase_needs_no_shift(void **state)
{
    uint32_t ch;

    (void)state;

    for (ch = 'a'; ch <= 'z'; ch++) {
        vg_key_stroke st;

        assert_int_equal(vg_keymap_char_to_stroke(ch, &st), 0);
        assert_false(st.shift);
    }
}

static void test_keymap_uppercase_needs_shift(void **state)
{
    uint32_t ch;

    (void)state;

    for (ch = 'A'; ch <= 'Z'; ch++) {
        vg_key_stroke up, low;

        assert_int_equal(vg_keymap_char_to_stroke(ch, &up), 0);
        assert_int_equal(vg_keymap_char_to_stroke(ch + 0x20, &low), 0);
        assert_true(up.shift);
        assert_int_equal(up.qnum, low.qnum);
    }
}

static void test_keymap_us_layout_sample_strokes(void **state)
{
    static const struct {
        uint32_t ch;
        uint16_t qnum;
        bool shift;
    } cases[] = {
        {'a', 0x1e, false}, {'A', 0x1e, true},   {'q', 0x10, false}, {'z', 0x2c, false},
        {'m', 0x32, false}, {'1', 0x02, false},  {'!', 0x02, true},  {'2', 0x03, false},
        {'@', 0x03, true},  {'0', 0x0b, false},  {')', 0x0b, true},  {'-', 0x0c, false},
        {'_', 0x0c, true},  {'=', 0x0d, false},  {'+', 0x0d, true},  {'[', 0x1a, false},
        {'{', 0x1a, true},  {']', 0x1b, false},  {'}', 0x1b, true},  {';', 0x27, false},
        {':', 0x27, true},  {'\'', 0x28, false}, {'"', 0x28, true},  {'`', 0x29, false},
        {'~', 0x29, true},  {'\\', 0x2b, false}, {'|', 0x2b, true},  {',', 0x33, false},
        {'<', 0x33, true},  {'.', 0x34, false},  {'>', 0x34, true},  {'/', 0x35, false},
        {'?', 0x35, true},  {' ', 0x39, false},  {'^', 0x07, true},  {'*', 0x09, true},
    };
    size_t i;

    (void)state;

    for (i = 0; i < ARRAY_LEN(cases); i++) {
        vg_key_stroke st;

        assert_int_equal(vg_keymap_char_to_stroke(cases[i].ch, &st), 0);
        assert_int_equal(st.qnum, cases[i].qnum);
        assert_int_equal(st.shift, cases[i].shift);
        assert_int_equal(st.keysym, cases[i].ch);
    }
}

static void test_keymap_control_chars_map_to_tty_keys(void **state)
{
    static const struct {
        uint32_t ch;
        uint16_t qnum;
        uint32_t keysym;
    } cases[] = {
        {'\n', VG_QNUM_RETURN, 0xff0d}, {'\r', VG_QNUM_RETURN, 0xff0d}, {'\t', 0x0f, 0xff09},
        {'\b', 0x0e, 0xff08},           {0x1b, 0x01, 0xff1b},
    };
    size_t i;

    (void)state;

    assert_int_equal(VG_QNUM_RETURN, 0x1c);
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        vg_key_stroke st;

        assert_int_equal(vg_keymap_char_to_stroke(cases[i].ch, &st), 0);
        assert_int_equal(st.qnum, cases[i].qnum);
        assert_int_equal(st.keysym, cases[i].keysym);
        assert_false(st.shift);
        assert_int_equal(vg_keymap_keysym_to_qnum(st.keysym), st.qnum);
    }
}

static void test_keymap_unknown_chars_are_enoent(void **state)
{
    static const uint32_t chars[] = {0x00, 0x01, 0x07, 0x0b,   0x1f,    0x7f,       0x80,
                                     0xa0, 0xe9, 0xff, 0x20ac, 0x1f600, 0xffffffffu};
    size_t i;

    (void)state;

    for (i = 0; i < ARRAY_LEN(chars); i++) {
        vg_key_stroke st;

        assert_int_equal(vg_keymap_char_to_stroke(chars[i], &st), -ENOENT);
    }
}

static void test_keymap_char_to_stroke_rejects_null_out(void **state)
{
    (void)state;

    assert_int_equal(vg_keymap_char_to_stroke('a', NULL), -EINVAL);
}

/* ---- keysyms ---- */

static void test_keymap_named_keysyms_map_to_their_keys(void **state)
{
    static const struct {
        uint32_t keysym;
        uint16_t qnum;
    } cases[] = {
        {0xff0d, 0x1c}, /* Return */
        {0xff09, 0x0f}, /* Tab */
        {0xfe20, 0x0f}, /* ISO_Left_Tab */
        {0xff08, 0x0e}, /* BackSpace */
        {0xff1b, 0x01}, /* Escape */
        {0xffff, 0xd3}, /* Delete */
        {0xff50, 0xc7}, /* Home */
        {0xff51, 0xcb}, /* Left */
        {0xff52, 0xc8}, /* Up */
        {0xff53, 0xcd}, /* Right */
        {0xff54, 0xd0}, /* Down */
        {0xff55, 0xc9}, /* Prior */
        {0xff56, 0xd1}, /* Next */
        {0xff57, 0xcf}, /* End */
        {0xff63, 0xd2}, /* Insert */
        {0xff67, 0xdd}, /* Menu */
        {0xff13, 0xc6}, /* Pause */
        {0xff61, 0xb7}, /* Print */
        {0xff7f, 0x45}, /* Num_Lock */
        {0xff14, 0x46}, /* Scroll_Lock */
        {0xffe5, 0x3a}, /* Caps_Lock */
        {0xffe1, 0x2a}, /* Shift_L */
        {0xffe2, 0x36}, /* Shift_R */
        {0xffe3, 0x1d}, /* Control_L */
        {0xffe4, 0x9d}, /* Control_R */
        {0xffe9, 0x38}, /* Alt_L */
        {0xffea, 0xb8}, /* Alt_R */
        {0xfe03, 0xb8}, /* ISO_Level3_Shift */
        {0xffeb, 0xdb}, /* Super_L */
        {0xffec, 0xdc}, /* Super_R */
        {0xffe7, 0x38}, /* Meta_L */
        {0xffe8, 0xb8}, /* Meta_R */
        {0xff8d, 0x9c}, /* KP_Enter */
        {0xffab, 0x4e}, /* KP_Add */
        {0xffad, 0x4a}, /* KP_Subtract */
        {0xffaa, 0x37}, /* KP_Multiply */
        {0xffaf, 0xb5}, /* KP_Divide */
        {0xffae, 0x53}, /* KP_Decimal */
        {0xff95, 0x47}, /* KP_Home */
        {0xff96, 0x4b}, /* KP_Left */
        {0xff97, 0x48}, /* KP_Up */
        {0xff98, 0x4d}, /* KP_Right */
        {0xff99, 0x50}, /* KP_Down */
        {0xff9a, 0x49}, /* KP_Prior */
        {0xff9b, 0x51}, /* KP_Next */
        {0xff9c, 0x4f}, /* KP_End */
        {0xff9d, 0x4c}, /* KP_Begin */
        {0xff9e, 0x52}, /* KP_Insert */
        {0xff9f, 0x53}, /* KP_Delete */
    };
    size_t i;

    (void)state;

    for (i = 0; i < ARRAY_LEN(cases); i++)
        assert_int_equal(vg_keymap_keysym_to_qnum(cases[i].keysym), cases[i].qnum);
}

static void test_keymap_function_keys_f1_to_f12(void **state)
{
    static const uint16_t qnums[12] = {0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x40,
                                       0x41, 0x42, 0x43, 0x44, 0x57, 0x58};
    uint32_t i;

    (void)state;

    for (i = 0; i < 12; i++)
        assert_int_equal(vg_keymap_keysym_to_qnum(0xffbe + i), qnums[i]);
}

static void test_keymap_keypad_digits(void **state)
{
    static const uint16_t qnums[10] = {0x52, 0x4f, 0x50, 0x51, 0x4b, 0x4c, 0x4d, 0x47, 0x48, 0x49};
    uint32_t i;

    (void)state;

    for (i = 0; i < 10; i++)
        assert_int_equal(vg_keymap_keysym_to_qnum(0xffb0 + i), qnums[i]);
}

static void test_keymap_shifted_and_unshifted_keysyms_share_a_key(void **state)
{
    (void)state;

    assert_int_equal(vg_keymap_keysym_to_qnum('a'), 0x1e);
    assert_int_equal(vg_keymap_keysym_to_qnum('A'), 0x1e);
    assert_int_equal(vg_keymap_keysym_to_qnum('1'), 0x02);
    assert_int_equal(vg_keymap_keysym_to_qnum('!'), 0x02);
    assert_int_equal(vg_keymap_keysym_to_qnum('<'), 0x33);
    assert_int_equal(vg_keymap_keysym_to_qnum(' '), 0x39);
}

static void test_keymap_unknown_keysyms_are_zero(void **state)
{
    static const uint32_t syms[] = {0,          0x1f,       0x7f,       0xa0,   0xe9,
                                    0xff,       0x20ac,     0xff00,     0xffd2, /* F21 */
                                    0x1008ff12, 0x01000041, 0xffffffffu};
    size_t i;

    (void)state;

    for (i = 0; i < ARRAY_LEN(syms); i++)
        assert_int_equal(vg_keymap_keysym_to_qnum(syms[i]), 0);
}

/* ---- RDP scancodes ---- */

static void test_keymap_rdp_plain_scancodes(void **state)
{
    (void)state;

    assert_int_equal(vg_keymap_rdp_to_qnum(0x1e, 0), 0x1e);
    assert_int_equal(vg_keymap_rdp_to_qnum(0x01, 0), 0x01);
    assert_int_equal(vg_keymap_rdp_to_qnum(0x1d, 0), VG_QNUM_LCTRL);
    assert_int_equal(vg_keymap_rdp_to_qnum(0x38, 0), VG_QNUM_LALT);
    assert_int_equal(vg_keymap_rdp_to_qnum(0x37, 0), 0x37); /* KP_Multiply */
    assert_int_equal(vg_keymap_rdp_to_qnum(0x45, 0), 0x45); /* Num Lock */
    assert_int_equal(vg_keymap_rdp_to_qnum(0x57, 0), 0x57); /* F11 */
    assert_int_equal(vg_keymap_rdp_to_qnum(0x58, 0), 0x58); /* F12 */
}

static void test_keymap_rdp_down_and_release_flags_are_ignored(void **state)
{
    (void)state;

    assert_int_equal(vg_keymap_rdp_to_qnum(0x1e, VG_RDP_KBDFLAGS_DOWN), 0x1e);
    assert_int_equal(vg_keymap_rdp_to_qnum(0x1e, VG_RDP_KBDFLAGS_RELEASE), 0x1e);
    assert_int_equal(
        vg_keymap_rdp_to_qnum(0x48, VG_RDP_KBDFLAGS_EXTENDED | VG_RDP_KBDFLAGS_RELEASE), 0xc8);
}

static void test_keymap_rdp_extended_scancodes_gain_0x80(void **state)
{
    static const struct {
        uint16_t scancode;
        uint16_t qnum;
    } cases[] = {
        {0x1c, 0x9c}, /* KP Enter */
        {0x1d, 0x9d}, /* Right Ctrl */
        {0x35, 0xb5}, /* KP / */
        {0x38, 0xb8}, /* Right Alt */
        {0x47, 0xc7}, /* Home */
        {0x48, 0xc8}, /* Up */
        {0x49, 0xc9}, /* Page Up */
        {0x4b, 0xcb}, /* Left */
        {0x4d, 0xcd}, /* Right */
        {0x4f, 0xcf}, /* End */
        {0x50, 0xd0}, /* Down */
        {0x51, 0xd1}, /* Page Down */
        {0x52, 0xd2}, /* Insert */
        {0x53, 0xd3}, /* Delete */
        {0x5b, 0xdb}, /* Left Windows */
        {0x5c, 0xdc}, /* Right Windows */
        {0x5d, 0xdd}, /* Menu */
    };
    size_t i;

    (void)state;

    for (i = 0; i < ARRAY_LEN(cases); i++)
        assert_int_equal(vg_keymap_rdp_to_qnum(cases[i].scancode, VG_RDP_KBDFLAGS_EXTENDED),
                         cases[i].qnum);
}

static void test_keymap_rdp_pause_uses_extended1(void **state)
{
    (void)state;

    assert_int_equal(vg_keymap_rdp_to_qnum(0x1d, VG_RDP_KBDFLAGS_EXTENDED1), VG_QNUM_PAUSE);
    assert_int_equal(VG_QNUM_PAUSE, 0xc6);
    assert_int_equal(
        vg_keymap_rdp_to_qnum(0x1d, VG_RDP_KBDFLAGS_EXTENDED1 | VG_RDP_KBDFLAGS_RELEASE),
        VG_QNUM_PAUSE);
    /* Nothing else is E1-prefixed. */
    assert_int_equal(vg_keymap_rdp_to_qnum(0x45, VG_RDP_KBDFLAGS_EXTENDED1), 0);
    assert_int_equal(vg_keymap_rdp_to_qnum(0x1e, VG_RDP_KBDFLAGS_EXTENDED1), 0);
}

static void test_keymap_rdp_print_screen_is_extended_0x37(void **state)
{
    (void)state;

    assert_int_equal(vg_keymap_rdp_to_qnum(0x37, VG_RDP_KBDFLAGS_EXTENDED), VG_QNUM_PRINT);
    assert_int_equal(VG_QNUM_PRINT, 0xb7);
}

static void test_keymap_rdp_extended_numlock_is_numlock(void **state)
{
    (void)state;

    assert_int_equal(vg_keymap_rdp_to_qnum(0x45, VG_RDP_KBDFLAGS_EXTENDED), 0x45);
}

static void test_keymap_rdp_invalid_scancodes_are_zero(void **state)
{
    static const uint16_t flag_sets[] = {0, VG_RDP_KBDFLAGS_EXTENDED, VG_RDP_KBDFLAGS_EXTENDED1,
                                         VG_RDP_KBDFLAGS_EXTENDED | VG_RDP_KBDFLAGS_EXTENDED1,
                                         VG_RDP_KBDFLAGS_RELEASE};
    uint32_t sc;
    size_t f;

    (void)state;

    for (f = 0; f < ARRAY_LEN(flag_sets); f++) {
        assert_int_equal(vg_keymap_rdp_to_qnum(0, flag_sets[f]), 0);
        for (sc = 0x80; sc <= 0xffff; sc++)
            assert_int_equal(vg_keymap_rdp_to_qnum((uint16_t)sc, flag_sets[f]), 0);
    }
    /* Fake shifts that some keyboards wrap around extended keys. */
    assert_int_equal(vg_keymap_rdp_to_qnum(0x2a, VG_RDP_KBDFLAGS_EXTENDED), 0);
    assert_int_equal(vg_keymap_rdp_to_qnum(0x36, VG_RDP_KBDFLAGS_EXTENDED), 0);
}

static void test_keymap_qnum_to_rdp_round_trips_every_table_entry(void **state)
{
    uint32_t q;
    int entries = 0;

    (void)state;

    for (q = 0; q <= 0xffff; q++) {
        uint16_t sc = 0xdead, fl = 0xbeef;
        int rc = vg_keymap_qnum_to_rdp((uint16_t)q, &sc, &fl);

        if (rc != 0) {
            assert_int_equal(rc, -ENOENT);
            continue;
        }
        entries++;
        assert_in_range(q, 1, VG_QNUM_MAX);
        assert_in_range(sc, 1, 0x7f);
        if (q == VG_QNUM_PAUSE) {
            assert_int_equal(sc, 0x1d);
            assert_int_equal(fl, VG_RDP_KBDFLAGS_EXTENDED1);
        } else {
            assert_int_equal(sc, q & 0x7f);
            assert_int_equal(fl, (q & 0x80) ? VG_RDP_KBDFLAGS_EXTENDED : 0);
        }
        assert_int_equal(vg_keymap_rdp_to_qnum(sc, fl), q);
    }
    /* The full 104-key set at least, plus a few extras. */
    assert_true(entries >= 104);
}

static void test_keymap_rdp_to_qnum_results_are_in_the_table(void **state)
{
    static const uint16_t flag_sets[] = {0, VG_RDP_KBDFLAGS_EXTENDED, VG_RDP_KBDFLAGS_EXTENDED1};
    uint16_t sc;
    size_t f;

    (void)state;

    for (f = 0; f < ARRAY_LEN(flag_sets); f++) {
        for (sc = 1; sc <= 0x7f; sc++) {
            uint16_t q = vg_keymap_rdp_to_qnum(sc, flag_sets[f]);
            uint16_t sc2, fl2;

            if (q == 0)
                continue;
            assert_int_equal(vg_keymap_qnum_to_rdp(q, &sc2, &fl2), 0);
            assert_int_equal(vg_keymap_rdp_to_qnum(sc2, fl2), q);
        }
    }
}

static void test_keymap_every_keysym_key_is_in_the_scancode_table(void **state)
{
    uint32_t ch;
    uint32_t sym;

    (void)state;

    for (ch = 0x20; ch <= 0x7e; ch++) {
        vg_key_stroke st;
        uint16_t sc, fl;

        assert_int_equal(vg_keymap_char_to_stroke(ch, &st), 0);
        assert_int_equal(vg_keymap_qnum_to_rdp(st.qnum, &sc, &fl), 0);
    }
    for (sym = 0xfe00; sym <= 0xffff; sym++) {
        uint16_t q = vg_keymap_keysym_to_qnum(sym);
        uint16_t sc, fl;

        if (q != 0)
            assert_int_equal(vg_keymap_qnum_to_rdp(q, &sc, &fl), 0);
    }
}

static void test_keymap_qnum_to_rdp_rejects_unknown(void **state)
{
    uint16_t sc, fl;

    (void)state;

    assert_int_equal(vg_keymap_qnum_to_rdp(0, &sc, &fl), -ENOENT);
    assert_int_equal(vg_keymap_qnum_to_rdp(0x100, &sc, &fl), -ENOENT);
    assert_int_equal(vg_keymap_qnum_to_rdp(0x11e, &sc, &fl), -ENOENT);
    assert_int_equal(vg_keymap_qnum_to_rdp(0xffff, &sc, &fl), -ENOENT);
    assert_int_equal(vg_keymap_qnum_to_rdp(0xaa, &sc, &fl), -ENOENT);
    assert_int_equal(vg_keymap_qnum_to_rdp(0x1e, NULL, &fl), -EINVAL);
    assert_int_equal(vg_keymap_qnum_to_rdp(0x1e, &sc, NULL), -EINVAL);
}

/* ---- key combinations ---- */

static void assert_combo(const char *combo, const uint16_t *want, int n)
{
    uint16_t got[8];
    int i;

    memset(got, 0, sizeof(got));
    assert_int_equal(vg_keymap_parse_combo(combo, got, (int)ARRAY_LEN(got)), n);
    for (i = 0; i < n; i++)
        assert_int_equal(got[i], want[i]);
}

static void test_keymap_combo_ctrl_alt_del(void **state)
{
    static const uint16_t want[] = {0x1d, 0x38, 0xd3};

    (void)state;

    assert_combo("ctrl-alt-del", want, 3);
    assert_combo("control-alt-delete", want, 3);
}

static void test_keymap_combo_is_case_insensitive_with_plus_separator(void **state)
{
    static const uint16_t want[] = {0x1d, 0x38, 0x3c};

    (void)state;

    assert_combo("Ctrl+Alt+F2", want, 3);
    assert_combo("CTRL-ALT-F2", want, 3);
    assert_combo("ctrl+alt-f2", want, 3);
}

static void test_keymap_combo_named_keys(void **state)
{
    static const struct {
        const char *name;
        uint16_t qnum;
    } cases[] = {
        {"backspace", 0x0e}, {"enter", 0x1c},  {"return", 0x1c}, {"tab", 0x0f},
        {"esc", 0x01},       {"escape", 0x01}, {"space", 0x39},  {"f1", 0x3b},
        {"f10", 0x44},       {"f11", 0x57},    {"f12", 0x58},    {"up", 0xc8},
        {"down", 0xd0},      {"left", 0xcb},   {"right", 0xcd},  {"home", 0xc7},
        {"end", 0xcf},       {"pgup", 0xc9},   {"pageup", 0xc9}, {"pgdn", 0xd1},
        {"pagedown", 0xd1},  {"insert", 0xd2}, {"print", 0xb7},  {"sysrq", 0xb7},
        {"pause", 0xc6},     {"del", 0xd3},    {"Delete", 0xd3}, {"Page_Up", 0xc9},
        {"BackSpace", 0x0e}, {"a", 0x1e},      {"Z", 0x2c},      {"1", 0x02},
        {"/", 0x35},         {"-", 0x0c},      {"+", 0x0d},
    };
    size_t i;

    (void)state;

    for (i = 0; i < ARRAY_LEN(cases); i++)
        assert_combo(cases[i].name, &cases[i].qnum, 1);
}

static void test_keymap_combo_modifier_names(void **state)
{
    static const uint16_t super_a[] = {0xdb, 0x1e};
    static const uint16_t altgr_e[] = {0xb8, 0x12};
    static const uint16_t shift_a[] = {0x2a, 0x1e};
    static const uint16_t alt_f4[] = {0x38, 0x3e};

    (void)state;

    assert_combo("super-a", super_a, 2);
    assert_combo("win-a", super_a, 2);
    assert_combo("meta-a", super_a, 2);
    assert_combo("altgr-e", altgr_e, 2);
    assert_combo("shift-a", shift_a, 2);
    assert_combo("shift-A", shift_a, 2);
    assert_combo("alt-f4", alt_f4, 2);
}

static void test_keymap_combo_separator_as_final_key(void **state)
{
    static const uint16_t ctrl_minus[] = {0x1d, 0x0c};
    static const uint16_t ctrl_plus[] = {0x1d, 0x0d};

    (void)state;

    assert_combo("ctrl--", ctrl_minus, 2);
    assert_combo("ctrl+-", ctrl_minus, 2);
    assert_combo("ctrl-+", ctrl_plus, 2);
    assert_combo("ctrl+minus", ctrl_minus, 2);
}

static void test_keymap_combo_of_modifiers_only(void **state)
{
    static const uint16_t ctrl_shift[] = {0x1d, 0x2a};
    static const uint16_t all[] = {0x1d, 0x38, 0x2a, 0xdb, 0xb8, 0xd3};

    (void)state;

    assert_combo("ctrl-shift", ctrl_shift, 2);
    assert_combo("ctrl-alt-shift-super-altgr-del", all, 6);
}

static void test_keymap_combo_malformed_is_einval(void **state)
{
    static const char *const bad[] = {
        "",         "ctrl-",         "ctrl+",     "-ctrl",       "ctrl--a",
        "ctrl-foo", "foo",           "ctrl-alt-", "ctrl--del",   "ctrl+-+",
        "a-ctrl",   "ctrl-a-b",      "del-del",   "ctrl-ctrl-a", "ctrl-control-a",
        "f0",       "f13",           "f01",       " ctrl-a",     "ctrl- a",
        "ctrl-\t",  "ctrl-\xc3\xa9", "ctrl-\x7f", "ctrlalt-del",
    };
    size_t i;

    (void)state;

    for (i = 0; i < ARRAY_LEN(bad); i++) {
        uint16_t got[8] = {0};

        assert_int_equal(vg_keymap_parse_combo(bad[i], got, 8), -EINVAL);
        /* Output untouched on error. */
        assert_int_equal(got[0], 0);
    }
    assert_int_equal(vg_keymap_parse_combo(NULL, (uint16_t[8]){0}, 8), -EINVAL);
    assert_int_equal(vg_keymap_parse_combo("ctrl-a", NULL, 8), -EINVAL);
    assert_int_equal(vg_keymap_parse_combo("ctrl-a", (uint16_t[8]){0}, -1), -EINVAL);
}

static void test_keymap_combo_too_many_keys_is_e2big(void **state)
{
    uint16_t got[3] = {0};

    (void)state;

    assert_int_equal(vg_keymap_parse_combo("ctrl-alt-del", got, 2), -E2BIG);
    assert_int_equal(got[0], 0);
    assert_int_equal(vg_keymap_parse_combo("ctrl-alt-del", got, 0), -E2BIG);
    assert_int_equal(vg_keymap_parse_combo("ctrl-alt-del", NULL, 0), -E2BIG);
    assert_int_equal(vg_keymap_parse_combo("ctrl-alt-del", got, 3), 3);
    /* Malformed beats too long. */
    assert_int_equal(vg_keymap_parse_combo("ctrl-alt-nope", got, 1), -EINVAL);
}

static void test_keymap_evdev_codes_map_to_set1_and_extended_qnums(void **state)
{
    (void)state;
    assert_int_equal(vg_keymap_evdev_to_qnum(1), 0x01);  /* KEY_ESC */
    assert_int_equal(vg_keymap_evdev_to_qnum(44), 0x2c); /* KEY_Z */
    assert_int_equal(vg_keymap_evdev_to_qnum(83), 0x53); /* KEY_KPDOT */
    assert_int_equal(vg_keymap_evdev_to_qnum(86), 0x56); /* KEY_102ND */
    assert_int_equal(vg_keymap_evdev_to_qnum(100), VG_QNUM_RALT);
    assert_int_equal(vg_keymap_evdev_to_qnum(111), VG_QNUM_DELETE);
    assert_int_equal(vg_keymap_evdev_to_qnum(119), VG_QNUM_PAUSE);
    assert_int_equal(vg_keymap_evdev_to_qnum(0), 0);
    assert_int_equal(vg_keymap_evdev_to_qnum(84), 0);
    assert_int_equal(vg_keymap_evdev_to_qnum(240), 0);
}

static void test_keymap_combo_space_character_is_space_key(void **state)
{
    static const uint16_t ctrl_space[] = {0x1d, 0x39};

    (void)state;

    assert_combo("ctrl- ", ctrl_space, 2);
    assert_combo("ctrl-space", ctrl_space, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keymap_every_printable_ascii_has_a_stroke),
        cmocka_unit_test(test_keymap_distinct_chars_on_one_key_differ_in_shift),
        cmocka_unit_test(test_keymap_lowercase_needs_no_shift),
        cmocka_unit_test(test_keymap_uppercase_needs_shift),
        cmocka_unit_test(test_keymap_us_layout_sample_strokes),
        cmocka_unit_test(test_keymap_control_chars_map_to_tty_keys),
        cmocka_unit_test(test_keymap_unknown_chars_are_enoent),
        cmocka_unit_test(test_keymap_char_to_stroke_rejects_null_out),
        cmocka_unit_test(test_keymap_named_keysyms_map_to_their_keys),
        cmocka_unit_test(test_keymap_function_keys_f1_to_f12),
        cmocka_unit_test(test_keymap_keypad_digits),
        cmocka_unit_test(test_keymap_shifted_and_unshifted_keysyms_share_a_key),
        cmocka_unit_test(test_keymap_unknown_keysyms_are_zero),
        cmocka_unit_test(test_keymap_rdp_plain_scancodes),
        cmocka_unit_test(test_keymap_rdp_down_and_release_flags_are_ignored),
        cmocka_unit_test(test_keymap_rdp_extended_scancodes_gain_0x80),
        cmocka_unit_test(test_keymap_rdp_pause_uses_extended1),
        cmocka_unit_test(test_keymap_rdp_print_screen_is_extended_0x37),
        cmocka_unit_test(test_keymap_rdp_extended_numlock_is_numlock),
        cmocka_unit_test(test_keymap_rdp_invalid_scancodes_are_zero),
        cmocka_unit_test(test_keymap_qnum_to_rdp_round_trips_every_table_entry),
        cmocka_unit_test(test_keymap_rdp_to_qnum_results_are_in_the_table),
        cmocka_unit_test(test_keymap_every_keysym_key_is_in_the_scancode_table),
        cmocka_unit_test(test_keymap_qnum_to_rdp_rejects_unknown),
        cmocka_unit_test(test_keymap_combo_ctrl_alt_del),
        cmocka_unit_test(test_keymap_combo_is_case_insensitive_with_plus_separator),
        cmocka_unit_test(test_keymap_combo_named_keys),
        cmocka_unit_test(test_keymap_combo_modifier_names),
        cmocka_unit_test(test_keymap_combo_separator_as_final_key),
        cmocka_unit_test(test_keymap_combo_of_modifiers_only),
        cmocka_unit_test(test_keymap_combo_malformed_is_einval),
        cmocka_unit_test(test_keymap_combo_too_many_keys_is_e2big),
        cmocka_unit_test(test_keymap_combo_space_character_is_space_key),
        cmocka_unit_test(test_keymap_evdev_codes_map_to_set1_and_extended_qnums),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
