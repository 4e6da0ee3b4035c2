/*
 * vmgate — keyboard tables.
 *
 * Everything here is a lookup in static const tables: no allocation, no
 * shared mutable state, so every function is safe to call from any thread.
 * Values that arrive from the network are range checked before they are
 * compared with table contents; no table is ever indexed by such a value.
 */
#include "keymap.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* X11 keysyms used below (from X11/keysymdef.h). */
#define XK_BackSpace        0xff08
#define XK_Tab              0xff09
#define XK_Return           0xff0d
#define XK_Pause            0xff13
#define XK_Scroll_Lock      0xff14
#define XK_Sys_Req          0xff15
#define XK_Escape           0xff1b
#define XK_Home             0xff50
#define XK_Left             0xff51
#define XK_Up               0xff52
#define XK_Right            0xff53
#define XK_Down             0xff54
#define XK_Prior            0xff55
#define XK_Next             0xff56
#define XK_End              0xff57
#define XK_Print            0xff61
#define XK_Insert           0xff63
#define XK_Menu             0xff67
#define XK_Break            0xff6b
#define XK_Mode_switch      0xff7e
#define XK_Num_Lock         0xff7f
#define XK_KP_Enter         0xff8d
#define XK_KP_Home          0xff95
#define XK_KP_Left          0xff96
#define XK_KP_Up            0xff97
#define XK_KP_Right         0xff98
#define XK_KP_Down          0xff99
#define XK_KP_Prior         0xff9a
#define XK_KP_Next          0xff9b
#define XK_KP_End           0xff9c
#define XK_KP_Begin         0xff9d
#define XK_KP_Insert        0xff9e
#define XK_KP_Delete        0xff9f
#define XK_KP_Multiply      0xffaa
#define XK_KP_Add           0xffab
#define XK_KP_Separator     0xffac
#define XK_KP_Subtract      0xffad
#define XK_KP_Decimal       0xffae
#define XK_KP_Divide        0xffaf
#define XK_KP_0             0xffb0
#define XK_KP_Equal         0xffbd
#define XK_F1               0xffbe
#define XK_Shift_L          0xffe1
#define XK_Shift_R          0xffe2
#define XK_Control_L        0xffe3
#define XK_Control_R        0xffe4
#define XK_Caps_Lock        0xffe5
#define XK_Meta_L           0xffe7
#define XK_Meta_R           0xffe8
#define XK_Alt_L            0xffe9
#define XK_Alt_R            0xffea
#define XK_Super_L          0xffeb
#define XK_Super_R          0xffec
#define XK_Delete           0xffff
#define XK_ISO_Level3_Shift 0xfe03
#define XK_ISO_Left_Tab     0xfe20

/*
 * One physical key of a pc105 keyboard with a US layout. @sym is the keysym
 * the key produces without modifiers, @shift_sym the one it produces with
 * Shift when that differs (printable keys only); 0 means none. Keys without
 * a keysym are listed so that scancode translation accepts them.
 *
 * Every printable ASCII character appears exactly once in the sym/shift_sym
 * columns; the ISO key 0x56 (which also produces '<' and '>') is therefore
 * listed without keysyms so that '<' and '>' resolve to the US comma/period
 * keys.
 */
struct key_def {
    uint8_t qnum;
    uint32_t sym;
    uint32_t shift_sym;
};

static const struct key_def key_table[] = {
    /* Main block, row by row. */
    {0x01, XK_Escape, 0},
    {0x02, '1', '!'},
    {0x03, '2', '@'},
    {0x04, '3', '#'},
    {0x05, '4', '$'},
    {0x06, '5', '%'},
    {0x07, '6', '^'},
    {0x08, '7', '&'},
    {0x09, '8', '*'},
    {0x0a, '9', '('},
    {0x0b, '0', ')'},
    {0x0c, '-', '_'},
    {0x0d, '=', '+'},
    {0x0e, XK_BackSpace, 0},
    {0x0f, XK_Tab, 0},
    {0x10, 'q', 'Q'},
    {0x11, 'w', 'W'},
    {0x12, 'e', 'E'},
    {0x13, 'r', 'R'},
    {0x14, 't', 'T'},
    {0x15, 'y', 'Y'},
    {0x16, 'u', 'U'},
    {0x17, 'i', 'I'},
    {0x18, 'o', 'O'},
    {0x19, 'p', 'P'},
    {0x1a, '[', '{'},
    {0x1b, ']', '}'},
    {0x1c, XK_Return, 0},
    {0x1d, XK_Control_L, 0},
    {0x1e, 'a', 'A'},
    {0x1f, 's', 'S'},
    {0x20, 'd', 'D'},
    {0x21, 'f', 'F'},
    {0x22, 'g', 'G'},
    {0x23, 'h', 'H'},
    {0x24, 'j', 'J'},
    {0x25, 'k', 'K'},
    {0x26, 'l', 'L'},
    {0x27, ';', ':'},
    {0x28, '\'', '"'},
    {0x29, '`', '~'},
    {0x2a, XK_Shift_L, 0},
    {0x2b, '\\', '|'},
    {0x2c, 'z', 'Z'},
    {0x2d, 'x', 'X'},
    {0x2e, 'c', 'C'},
    {0x2f, 'v', 'V'},
    {0x30, 'b', 'B'},
    {0x31, 'n', 'N'},
    {0x32, 'm', 'M'},
    {0x33, ',', '<'},
    {0x34, '.', '>'},
    {0x35, '/', '?'},
    {0x36, XK_Shift_R, 0},
    {0x37, XK_KP_Multiply, 0},
    {0x38, XK_Alt_L, 0},
    {0x39, ' ', 0},
    {0x3a, XK_Caps_Lock, 0},
    /* F1..F10 */
    {0x3b, XK_F1 + 0, 0},
    {0x3c, XK_F1 + 1, 0},
    {0x3d, XK_F1 + 2, 0},
    {0x3e, XK_F1 + 3, 0},
    {0x3f, XK_F1 + 4, 0},
    {0x40, XK_F1 + 5, 0},
    {0x41, XK_F1 + 6, 0},
    {0x42, XK_F1 + 7, 0},
    {0x43, XK_F1 + 8, 0},
    {0x44, XK_F1 + 9, 0},
    {0x45, XK_Num_Lock, 0},
    {0x46, XK_Scroll_Lock, 0},
    /* Keypad (Num Lock on symbols; the cursor symbols are aliases below). */
    {0x47, XK_KP_0 + 7, 0},
    {0x48, XK_KP_0 + 8, 0},
    {0x49, XK_KP_0 + 9, 0},
    {0x4a, XK_KP_Subtract, 0},
    {0x4b, XK_KP_0 + 4, 0},
    {0x4c, XK_KP_0 + 5, 0},
    {0x4d, XK_KP_0 + 6, 0},
    {0x4e, XK_KP_Add, 0},
    {0x4f, XK_KP_0 + 1, 0},
    {0x50, XK_KP_0 + 2, 0},
    {0x51, XK_KP_0 + 3, 0},
    {0x52, XK_KP_0 + 0, 0},
    {0x53, XK_KP_Decimal, 0},
    {0x54, XK_Sys_Req, 0}, /* Alt+Print Screen */
    {0x56, 0, 0},          /* ISO key between left Shift and Z */
    {0x57, XK_F1 + 10, 0}, /* F11 */
    {0x58, XK_F1 + 11, 0}, /* F12 */
    {0x59, XK_KP_Equal, 0},
    /* Japanese and Brazilian keyboards. */
    {0x70, 0, 0}, /* Katakana/Hiragana */
    {0x73, 0, 0}, /* Ro */
    {0x79, 0, 0}, /* Henkan */
    {0x7b, 0, 0}, /* Muhenkan */
    {0x7d, 0, 0}, /* Yen */
    {0x7e, 0, 0}, /* Keypad comma */
    /* E0-prefixed keys. */
    {0x90, 0, 0}, /* Previous track */
    {0x99, 0, 0}, /* Next track */
    {0x9c, XK_KP_Enter, 0},
    {0x9d, XK_Control_R, 0},
    {0xa0, 0, 0}, /* Mute */
    {0xa1, 0, 0}, /* Calculator */
    {0xa2, 0, 0}, /* Play/Pause */
    {0xa4, 0, 0}, /* Stop */
    {0xae, 0, 0}, /* Volume down */
    {0xb0, 0, 0}, /* Volume up */
    {0xb2, 0, 0}, /* Browser home */
    {0xb5, XK_KP_Divide, 0},
    {0xb7, XK_Print, 0},
    {0xb8, XK_Alt_R, 0},
    {0xc6, XK_Pause, 0}, /* sent as E1 1D 45 (RDP: 0x1d with EXTENDED1) */
    {0xc7, XK_Home, 0},
    {0xc8, XK_Up, 0},
    {0xc9, XK_Prior, 0},
    {0xcb, XK_Left, 0},
    {0xcd, XK_Right, 0},
    {0xcf, XK_End, 0},
    {0xd0, XK_Down, 0},
    {0xd1, XK_Next, 0},
    {0xd2, XK_Insert, 0},
    {0xd3, XK_Delete, 0},
    {0xdb, XK_Super_L, 0},
    {0xdc, XK_Super_R, 0},
    {0xdd, XK_Menu, 0},
    {0xde, 0, 0}, /* Power */
    {0xdf, 0, 0}, /* Sleep */
    {0xe3, 0, 0}, /* Wake */
    {0xe5, 0, 0}, /* Browser search */
    {0xe6, 0, 0}, /* Browser favorites */
    {0xe7, 0, 0}, /* Browser refresh */
    {0xe8, 0, 0}, /* Browser stop */
    {0xe9, 0, 0}, /* Browser forward */
    {0xea, 0, 0}, /* Browser back */
    {0xeb, 0, 0}, /* My computer */
    {0xec, 0, 0}, /* Mail */
    {0xed, 0, 0}, /* Media select */
};

/* Further keysyms that a key produces in some state (or on other layouts). */
struct keysym_alias {
    uint32_t sym;
    uint8_t qnum;
};

static const struct keysym_alias keysym_aliases[] = {
    {XK_ISO_Left_Tab, 0x0f}, /* Shift+Tab */
    {XK_Meta_L, 0x38},       /* Shift+Alt_L */
    {XK_Meta_R, 0xb8},
    {XK_ISO_Level3_Shift, 0xb8}, /* AltGr */
    {XK_Mode_switch, 0xb8},
    {XK_Break, 0xc6}, /* Ctrl+Pause */
    {XK_KP_Home, 0x47},
    {XK_KP_Up, 0x48},
    {XK_KP_Prior, 0x49},
    {XK_KP_Left, 0x4b},
    {XK_KP_Begin, 0x4c},
    {XK_KP_Right, 0x4d},
    {XK_KP_End, 0x4f},
    {XK_KP_Down, 0x50},
    {XK_KP_Next, 0x51},
    {XK_KP_Insert, 0x52},
    {XK_KP_Delete, 0x53},
    {XK_KP_Separator, 0x53}, /* decimal key on layouts with a comma there */
};

static const struct key_def *find_qnum(uint16_t qnum)
{
    size_t i;

    if (qnum == 0 || qnum > VG_QNUM_MAX)
        return NULL;
    for (i = 0; i < ARRAY_LEN(key_table); i++) {
        if (key_table[i].qnum == qnum)
            return &key_table[i];
    }
    return NULL;
}

int vg_keymap_char_to_stroke(uint32_t ch, vg_key_stroke *out)
{
    size_t i;

    if (!out)
        return -EINVAL;

    switch (ch) {
    case '\n':
    case '\r':
        *out = (vg_key_stroke){.qnum = VG_QNUM_RETURN, .keysym = XK_Return, .shift = false};
        return 0;
    case '\t':
        *out = (vg_key_stroke){.qnum = 0x0f, .keysym = XK_Tab, .shift = false};
        return 0;
    case '\b':
        *out = (vg_key_stroke){.qnum = 0x0e, .keysym = XK_BackSpace, .shift = false};
        return 0;
    case 0x1b:
        *out = (vg_key_stroke){.qnum = 0x01, .keysym = XK_Escape, .shift = false};
        return 0;
    default:
        break;
    }

    if (ch < 0x20 || ch > 0x7e)
        return -ENOENT;

    for (i = 0; i < ARRAY_LEN(key_table); i++) {
        if (key_table[i].sym == ch || key_table[i].shift_sym == ch) {
            out->qnum = key_table[i].qnum;
            out->keysym = ch;
            out->shift = key_table[i].sym != ch;
            return 0;
        }
    }
    return -ENOENT;
}

uint16_t vg_keymap_keysym_to_qnum(uint32_t keysym)
{
    size_t i;

    if (keysym == 0)
        return 0;
    for (i = 0; i < ARRAY_LEN(key_table); i++) {
        if (key_table[i].sym == keysym || key_table[i].shift_sym == keysym)
            return key_table[i].qnum;
    }
    for (i = 0; i < ARRAY_LEN(keysym_aliases); i++) {
        if (keysym_aliases[i].sym == keysym)
            return keysym_aliases[i].qnum;
    }
    return 0;
}

uint16_t vg_keymap_rdp_to_qnum(uint16_t scancode, uint16_t flags)
{
    uint16_t qnum;

    if (scancode == 0 || scancode > 0x7f)
        return 0;

    /* E1 prefix: the only key that uses it is Pause (E1 1D 45). */
    if (flags & VG_RDP_KBDFLAGS_EXTENDED1)
        return scancode == 0x1d ? VG_QNUM_PAUSE : 0;

    qnum = scancode;
    if (flags & VG_RDP_KBDFLAGS_EXTENDED) {
        /*
         * Windows reports Num Lock as an extended 0x45 internally and some
         * clients forward it that way; there is no E0 45 key, so take it as
         * Num Lock rather than dropping it.
         */
        if (scancode != 0x45)
            qnum |= 0x80;
    }
    return find_qnum(qnum) ? qnum : 0;
}

int vg_keymap_qnum_to_rdp(uint16_t qnum, uint16_t *scancode, uint16_t *flags)
{
    if (!scancode || !flags)
        return -EINVAL;
    if (!find_qnum(qnum))
        return -ENOENT;

    if (qnum == VG_QNUM_PAUSE) {
        *scancode = 0x1d;
        *flags = VG_RDP_KBDFLAGS_EXTENDED1;
    } else {
        *scancode = qnum & 0x7f;
        *flags = (qnum & 0x80) ? VG_RDP_KBDFLAGS_EXTENDED : 0;
    }
    return 0;
}

/* ---- key combinations ---- */

enum {
    MOD_NONE = 0,
    MOD_CTRL = 1 << 0,
    MOD_ALT = 1 << 1,
    MOD_SHIFT = 1 << 2,
    MOD_SUPER = 1 << 3,
    MOD_ALTGR = 1 << 4,
};

/* Five distinct modifiers and one key. */
#define COMBO_MAX_KEYS 6

struct combo_name {
    const char *name; /* lower case */
    uint8_t qnum;
    uint8_t mod; /* MOD_* bit, MOD_NONE for an ordinary key */
};

static const struct combo_name combo_names[] = {
    {"ctrl", VG_QNUM_LCTRL, MOD_CTRL},
    {"control", VG_QNUM_LCTRL, MOD_CTRL},
    {"alt", VG_QNUM_LALT, MOD_ALT},
    {"shift", VG_QNUM_LSHIFT, MOD_SHIFT},
    {"super", 0xdb, MOD_SUPER},
    {"win", 0xdb, MOD_SUPER},
    {"meta", 0xdb, MOD_SUPER},
    {"altgr", VG_QNUM_RALT, MOD_ALTGR},

    {"del", VG_QNUM_DELETE, MOD_NONE},
    {"delete", VG_QNUM_DELETE, MOD_NONE},
    {"backspace", 0x0e, MOD_NONE},
    {"enter", VG_QNUM_RETURN, MOD_NONE},
    {"return", VG_QNUM_RETURN, MOD_NONE},
    {"tab", 0x0f, MOD_NONE},
    {"esc", 0x01, MOD_NONE},
    {"escape", 0x01, MOD_NONE},
    {"space", 0x39, MOD_NONE},
    {"minus", 0x0c, MOD_NONE},
    {"plus", 0x0d, MOD_NONE},
    {"f1", 0x3b, MOD_NONE},
    {"f2", 0x3c, MOD_NONE},
    {"f3", 0x3d, MOD_NONE},
    {"f4", 0x3e, MOD_NONE},
    {"f5", 0x3f, MOD_NONE},
    {"f6", 0x40, MOD_NONE},
    {"f7", 0x41, MOD_NONE},
    {"f8", 0x42, MOD_NONE},
    {"f9", 0x43, MOD_NONE},
    {"f10", 0x44, MOD_NONE},
    {"f11", 0x57, MOD_NONE},
    {"f12", 0x58, MOD_NONE},
    {"up", 0xc8, MOD_NONE},
    {"down", 0xd0, MOD_NONE},
    {"left", 0xcb, MOD_NONE},
    {"right", 0xcd, MOD_NONE},
    {"home", 0xc7, MOD_NONE},
    {"end", 0xcf, MOD_NONE},
    {"pgup", 0xc9, MOD_NONE},
    {"pageup", 0xc9, MOD_NONE},
    {"page_up", 0xc9, MOD_NONE},
    {"prior", 0xc9, MOD_NONE},
    {"pgdn", 0xd1, MOD_NONE},
    {"pagedown", 0xd1, MOD_NONE},
    {"page_down", 0xd1, MOD_NONE},
    {"next", 0xd1, MOD_NONE},
    {"insert", 0xd2, MOD_NONE},
    {"ins", 0xd2, MOD_NONE},
    {"print", VG_QNUM_PRINT, MOD_NONE},
    {"sysrq", VG_QNUM_PRINT, MOD_NONE},
    {"sys_req", VG_QNUM_PRINT, MOD_NONE},
    {"pause", VG_QNUM_PAUSE, MOD_NONE},
    {"break", VG_QNUM_PAUSE, MOD_NONE},
    {"menu", 0xdd, MOD_NONE},
    {"capslock", 0x3a, MOD_NONE},
    {"caps_lock", 0x3a, MOD_NONE},
    {"numlock", 0x45, MOD_NONE},
    {"num_lock", 0x45, MOD_NONE},
    {"scrolllock", 0x46, MOD_NONE},
    {"scroll_lock", 0x46, MOD_NONE},
};

/* evdev codes above 83 that a PC keyboard has, and their QEMU key numbers
 * (QEMU's linux → qnum table, keycodemapdb). */
static const struct {
    uint16_t code;
    uint16_t qnum;
} evdev_extra[] = {
    {85, 0x76},  /* KEY_ZENKAKUHANKAKU */
    {86, 0x56},  /* KEY_102ND */
    {87, 0x57},  /* KEY_F11 */
    {88, 0x58},  /* KEY_F12 */
    {89, 0x73},  /* KEY_RO */
    {92, 0x79},  /* KEY_HENKAN */
    {93, 0x70},  /* KEY_KATAKANAHIRAGANA */
    {94, 0x7b},  /* KEY_MUHENKAN */
    {96, 0x9c},  /* KEY_KPENTER */
    {97, 0x9d},  /* KEY_RIGHTCTRL */
    {98, 0xb5},  /* KEY_KPSLASH */
    {99, 0xb7},  /* KEY_SYSRQ */
    {100, 0xb8}, /* KEY_RIGHTALT */
    {102, 0xc7}, /* KEY_HOME */
    {103, 0xc8}, /* KEY_UP */
    {104, 0xc9}, /* KEY_PAGEUP */
    {105, 0xcb}, /* KEY_LEFT */
    {106, 0xcd}, /* KEY_RIGHT */
    {107, 0xcf}, /* KEY_END */
    {108, 0xd0}, /* KEY_DOWN */
    {109, 0xd1}, /* KEY_PAGEDOWN */
    {110, 0xd2}, /* KEY_INSERT */
    {111, 0xd3}, /* KEY_DELETE */
    {113, 0xa0}, /* KEY_MUTE */
    {114, 0xae}, /* KEY_VOLUMEDOWN */
    {115, 0xb0}, /* KEY_VOLUMEUP */
    {116, 0xde}, /* KEY_POWER */
    {117, 0x59}, /* KEY_KPEQUAL */
    {119, 0xc6}, /* KEY_PAUSE */
    {121, 0x7e}, /* KEY_KPCOMMA */
    {124, 0x7d}, /* KEY_YEN */
    {125, 0xdb}, /* KEY_LEFTMETA */
    {126, 0xdc}, /* KEY_RIGHTMETA */
    {127, 0xdd}, /* KEY_COMPOSE */
};

uint16_t vg_keymap_evdev_to_qnum(uint32_t code)
{
    size_t i;

    if (code >= 1 && code <= 83)
        return (uint16_t)code;
    for (i = 0; i < ARRAY_LEN(evdev_extra); i++) {
        if (evdev_extra[i].code == code)
            return evdev_extra[i].qnum;
    }
    return 0;
}

static bool is_combo_sep(char c)
{
    return c == '-' || c == '+';
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive comparison of the token [s, s + len) with a lower-case name. */
static bool token_is(const char *s, size_t len, const char *name)
{
    size_t i;

    if (strlen(name) != len)
        return false;
    for (i = 0; i < len; i++) {
        if (ascii_lower(s[i]) != name[i])
            return false;
    }
    return true;
}

/* Look up one token: 0 and *mod set on success, -EINVAL if unknown. */
static int combo_token(const char *s, size_t len, uint16_t *qnum, unsigned int *mod)
{
    size_t i;

    for (i = 0; i < ARRAY_LEN(combo_names); i++) {
        if (token_is(s, len, combo_names[i].name)) {
            *qnum = combo_names[i].qnum;
            *mod = combo_names[i].mod;
            return 0;
        }
    }
    if (len == 1) {
        vg_key_stroke st;
        unsigned char c = (unsigned char)s[0];

        if (c < 0x20 || c > 0x7e)
            return -EINVAL;
        if (vg_keymap_char_to_stroke(c, &st) != 0)
            return -EINVAL;
        *qnum = st.qnum;
        *mod = MOD_NONE;
        return 0;
    }
    return -EINVAL;
}

int vg_keymap_parse_combo(const char *combo, uint16_t *qnums, int max)
{
    uint16_t keys[COMBO_MAX_KEYS];
    unsigned int seen_mods = 0;
    bool have_key = false;
    const char *p = combo;
    int n = 0;
    int i;

    if (!combo || max < 0 || (max > 0 && !qnums))
        return -EINVAL;
    if (*p == '\0')
        return -EINVAL;

    for (;;) {
        const char *start = p;
        size_t len;
        uint16_t qnum;
        unsigned int mod;

        if (is_combo_sep(*p)) {
            /* A separator is itself the key only as the last character. */
            if (p[1] != '\0')
                return -EINVAL;
            len = 1;
            p++;
        } else {
            while (*p != '\0' && !is_combo_sep(*p))
                p++;
            len = (size_t)(p - start);
        }

        /* Only modifiers may precede the key; nothing may follow it. */
        if (have_key)
            return -EINVAL;
        if (combo_token(start, len, &qnum, &mod) != 0)
            return -EINVAL;
        if (mod != MOD_NONE) {
            if (seen_mods & mod)
                return -EINVAL;
            seen_mods |= mod;
        } else {
            have_key = true;
        }
        if (n >= COMBO_MAX_KEYS)
            return -EINVAL;
        keys[n++] = qnum;

        if (*p == '\0')
            break;
        p++; /* separator */
        if (*p == '\0')
            return -EINVAL; /* trailing separator with no key after it */
    }

    if (n > max)
        return -E2BIG;
    for (i = 0; i < n; i++)
        qnums[i] = keys[i];
    return n;
}
