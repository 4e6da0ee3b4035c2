/*
 * vmgate-shot — characters to keys on a keyboard layout, with libxkbcommon.
 *
 * For a character the layout is searched for a key and level whose keysym
 * stands for it; the level's modifiers (from the key type) must be ones a
 * client can simply hold: Shift and the level-3 shift (AltGr). Among several
 * keys the one needing the fewest modifiers wins, and a key of the main
 * block beats the keypad. A character with no key of its own is typed as a
 * dead key and its base character (ê on "fr" is dead_circumflex, then e);
 * a spacing accent (^ on "de") as its dead key and Space.
 *
 * Threading: see shot-layout.h.
 */
#include "shot-layout.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <xkbcommon/xkbcommon.h>

#include "keymap.h"

#define EVDEV_OFFSET    8 /* XKB keycode = evdev code + 8 */
#define MAX_MASKS       16
#define KEYPAD_PENALTY  10
#define MODIFIER_WEIGHT 4

struct shot_layout {
    char *name;
    struct xkb_context *ctx;
    struct xkb_keymap *keymap;
    xkb_mod_mask_t shift_mask;  /* what holding Left Shift sets */
    xkb_mod_mask_t level3_mask; /* what holding the level-3 key sets; 0 if none */
    xkb_keycode_t level3_key;
};

/* Keys typed the same on every layout. */
static const struct {
    uint32_t ch;
    uint16_t qnum;
    uint32_t keysym;
} fixed_keys[] = {
    {'\n', VG_QNUM_RETURN, XKB_KEY_Return},
    {'\r', VG_QNUM_RETURN, XKB_KEY_Return},
    {'\t', 0x0f, XKB_KEY_Tab},
    {'\b', 0x0e, XKB_KEY_BackSpace},
    {0x1b, 0x01, XKB_KEY_Escape},
};

/* Combining marks and spacing accents → the dead key that makes them. */
static const struct {
    uint32_t mark;    /* combining character (canonical decomposition) */
    uint32_t spacing; /* the accent alone, typed as dead key + Space; 0: none */
    xkb_keysym_t dead;
} dead_keys[] = {
    {0x0300, '`', XKB_KEY_dead_grave},        {0x0301, 0x00b4, XKB_KEY_dead_acute},
    {0x0302, '^', XKB_KEY_dead_circumflex},   {0x0303, '~', XKB_KEY_dead_tilde},
    {0x0304, 0x00af, XKB_KEY_dead_macron},    {0x0306, 0x02d8, XKB_KEY_dead_breve},
    {0x0307, 0x02d9, XKB_KEY_dead_abovedot},  {0x0308, 0x00a8, XKB_KEY_dead_diaeresis},
    {0x030a, 0x02da, XKB_KEY_dead_abovering}, {0x030b, 0x02dd, XKB_KEY_dead_doubleacute},
    {0x030c, 0x02c7, XKB_KEY_dead_caron},     {0x0327, 0x00b8, XKB_KEY_dead_cedilla},
    {0x0328, 0x02db, XKB_KEY_dead_ogonek},
};

static bool is_keypad(uint16_t qnum)
{
    return qnum == 0x37 || (qnum >= 0x47 && qnum <= 0x53) || qnum == 0xb5 || qnum == 0x9c ||
           qnum == 0x59 || qnum == 0x7e;
}

/* The modifiers that holding key @kc alone sets. */
static xkb_mod_mask_t mods_of_key(struct xkb_keymap *km, xkb_keycode_t kc)
{
    struct xkb_state *st = xkb_state_new(km);
    xkb_mod_mask_t m = 0;

    if (!st)
        return 0;
    xkb_state_update_key(st, kc, XKB_KEY_DOWN);
    m = xkb_state_serialize_mods(st, XKB_STATE_MODS_DEPRESSED | XKB_STATE_MODS_LATCHED |
                                         XKB_STATE_MODS_LOCKED);
    xkb_state_unref(st);
    return m;
}

/* A name is an XKB layout and an optional variant: letters, digits, '_'
 * and '-', so that nothing else reaches xkbcommon's include statements. */
static bool name_part_ok(const char *s, size_t len)
{
    if (len == 0 || len > 32)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int split_name(const char *name, char **layout, char **variant)
{
    const char *open = strchr(name, '('), *colon = strchr(name, ':');
    size_t n = strlen(name);

    *layout = *variant = NULL;
    if (open) {
        if (n < 3 || name[n - 1] != ')' || !name_part_ok(name, (size_t)(open - name)) ||
            !name_part_ok(open + 1, (size_t)(name + n - 1 - open - 1)))
            return -EINVAL;
        *layout = g_strndup(name, (size_t)(open - name));
        *variant = g_strndup(open + 1, (size_t)(name + n - 1 - open - 1));
    } else if (colon) {
        if (!name_part_ok(name, (size_t)(colon - name)) ||
            !name_part_ok(colon + 1, strlen(colon + 1)))
            return -EINVAL;
        *layout = g_strndup(name, (size_t)(colon - name));
        *variant = g_strdup(colon + 1);
    } else {
        if (!name_part_ok(name, n))
            return -EINVAL;
        *layout = g_strdup(name);
    }
    return 0;
}

int shot_layout_new(const char *name, shot_layout **out, char *why, size_t why_len)
{
    g_autofree char *layout = NULL, *variant = NULL;
    struct xkb_rule_names names = {.rules = "evdev", .model = "pc105"};
    shot_layout *l;

    *out = NULL;
    if (split_name(name, &layout, &variant) < 0) {
        snprintf(why, why_len,
                 "'%s' is not a keyboard layout name (like us, de, fr or de(nodeadkeys))", name);
        return -EINVAL;
    }
    l = g_new0(shot_layout, 1);
    l->name = g_strdup(name);
    l->ctx = xkb_context_new(XKB_CONTEXT_NO_ENVIRONMENT_NAMES);
    if (!l->ctx) {
        snprintf(why, why_len, "libxkbcommon: cannot create a context");
        shot_layout_free(l);
        return -ENOMEM;
    }
    /* A missing layout is reported here, not by xkbcommon's own log. */
    xkb_context_set_log_level(l->ctx, XKB_LOG_LEVEL_CRITICAL);
    names.layout = layout;
    names.variant = variant;
    l->keymap = xkb_keymap_new_from_names(l->ctx, &names, XKB_KEYMAP_COMPILE_NO_FLAGS);
    if (!l->keymap) {
        snprintf(why, why_len,
                 "no keyboard layout '%s' in xkb-data (see /usr/share/X11/xkb/symbols)", name);
        shot_layout_free(l);
        return -ENOENT;
    }
    l->shift_mask = mods_of_key(l->keymap, 42 + EVDEV_OFFSET);
    /* The level-3 shift: Right Alt on the layouts that have one, else the
     * first key whose base level is ISO_Level3_Shift. */
    for (xkb_keycode_t kc = xkb_keymap_min_keycode(l->keymap);
         kc <= xkb_keymap_max_keycode(l->keymap) && !l->level3_key; kc++) {
        const xkb_keysym_t *syms;
        if (xkb_keymap_key_get_syms_by_level(l->keymap, kc, 0, 0, &syms) == 1 &&
            syms[0] == XKB_KEY_ISO_Level3_Shift && vg_keymap_evdev_to_qnum(kc - EVDEV_OFFSET))
            l->level3_key = kc;
    }
    {
        const xkb_keysym_t *syms;
        xkb_keycode_t ralt = 100 + EVDEV_OFFSET;
        if (xkb_keymap_key_get_syms_by_level(l->keymap, ralt, 0, 0, &syms) == 1 &&
            syms[0] == XKB_KEY_ISO_Level3_Shift)
            l->level3_key = ralt;
    }
    if (l->level3_key)
        l->level3_mask = mods_of_key(l->keymap, l->level3_key) & ~l->shift_mask;
    *out = l;
    return 0;
}

void shot_layout_free(shot_layout *l)
{
    if (!l)
        return;
    xkb_keymap_unref(l->keymap);
    xkb_context_unref(l->ctx);
    g_free(l->name);
    g_free(l);
}

const char *shot_layout_name(const shot_layout *l)
{
    return l->name;
}

typedef struct key_choice {
    xkb_keycode_t kc;
    uint16_t qnum;
    xkb_keysym_t sym;
    bool shift, level3;
} key_choice;

/* Does @sym stand for @ch (or, for a dead key, equal @dead)? */
static bool sym_matches(xkb_keysym_t sym, uint32_t ch, xkb_keysym_t dead)
{
    if (dead)
        return sym == dead;
    return xkb_keysym_to_utf32(sym) == ch;
}

/* The cheapest key and level producing @ch (or the dead key @dead). */
static bool find_key(const shot_layout *l, uint32_t ch, xkb_keysym_t dead, key_choice *best)
{
    struct xkb_keymap *km = l->keymap;
    xkb_mod_mask_t usable = l->shift_mask | l->level3_mask;
    int best_score = INT_MAX;

    for (xkb_keycode_t kc = xkb_keymap_min_keycode(km); kc <= xkb_keymap_max_keycode(km); kc++) {
        uint16_t qnum;
        xkb_level_index_t levels;

        if (kc < EVDEV_OFFSET || !(qnum = vg_keymap_evdev_to_qnum(kc - EVDEV_OFFSET)))
            continue;
        if (xkb_keymap_num_layouts_for_key(km, kc) == 0)
            continue;
        levels = xkb_keymap_num_levels_for_key(km, kc, 0);
        for (xkb_level_index_t lev = 0; lev < levels; lev++) {
            const xkb_keysym_t *syms;
            xkb_mod_mask_t masks[MAX_MASKS];
            size_t nmasks;

            if (xkb_keymap_key_get_syms_by_level(km, kc, 0, lev, &syms) != 1 ||
                !sym_matches(syms[0], ch, dead))
                continue;
            nmasks = xkb_keymap_key_get_mods_for_level(km, kc, 0, lev, masks, MAX_MASKS);
            for (size_t i = 0; i < nmasks; i++) {
                int score;
                if (masks[i] & ~usable)
                    continue;
                score = __builtin_popcount(masks[i]) * MODIFIER_WEIGHT +
                        (is_keypad(qnum) ? KEYPAD_PENALTY : 0);
                if (score < best_score) {
                    best_score = score;
                    best->kc = kc;
                    best->qnum = qnum;
                    best->sym = syms[0];
                    best->shift = (masks[i] & l->shift_mask) != 0;
                    best->level3 = (masks[i] & l->level3_mask) != 0;
                }
            }
        }
    }
    return best_score != INT_MAX;
}

static void push(GArray *events, uint16_t qnum, uint32_t keysym, bool down)
{
    shot_key_event e = {.qnum = qnum, .keysym = keysym, .down = down};
    g_array_append_val(events, e);
}

static void push_choice(const shot_layout *l, const key_choice *c, GArray *events)
{
    uint16_t l3 = l->level3_key ? vg_keymap_evdev_to_qnum(l->level3_key - EVDEV_OFFSET) : 0;

    if (c->shift)
        push(events, VG_QNUM_LSHIFT, XKB_KEY_Shift_L, true);
    if (c->level3)
        push(events, l3, XKB_KEY_ISO_Level3_Shift, true);
    push(events, c->qnum, c->sym, true);
    push(events, c->qnum, c->sym, false);
    if (c->level3)
        push(events, l3, XKB_KEY_ISO_Level3_Shift, false);
    if (c->shift)
        push(events, VG_QNUM_LSHIFT, XKB_KEY_Shift_L, false);
}

int shot_layout_type_char(shot_layout *l, uint32_t ch, GArray *events)
{
    key_choice c = {0}, base = {0};
    gunichar a = 0, b = 0;

    for (size_t i = 0; i < G_N_ELEMENTS(fixed_keys); i++) {
        if (fixed_keys[i].ch == ch) {
            push(events, fixed_keys[i].qnum, fixed_keys[i].keysym, true);
            push(events, fixed_keys[i].qnum, fixed_keys[i].keysym, false);
            return 0;
        }
    }
    if (ch >= 0x20 && find_key(l, ch, 0, &c)) {
        push_choice(l, &c, events);
        return 0;
    }
    /* A spacing accent: its dead key, then Space. */
    for (size_t i = 0; i < G_N_ELEMENTS(dead_keys); i++) {
        if (dead_keys[i].spacing == ch && find_key(l, 0, dead_keys[i].dead, &c) &&
            find_key(l, ' ', 0, &base)) {
            push_choice(l, &c, events);
            push_choice(l, &base, events);
            return 0;
        }
    }
    /* A composed character: the dead key of its mark, then its base. */
    if (g_unichar_decompose(ch, &a, &b) && b) {
        for (size_t i = 0; i < G_N_ELEMENTS(dead_keys); i++) {
            if (dead_keys[i].mark == b && find_key(l, 0, dead_keys[i].dead, &c) &&
                find_key(l, a, 0, &base)) {
                push_choice(l, &c, events);
                push_choice(l, &base, events);
                return 0;
            }
        }
    }
    return -ENOENT;
}

int shot_layout_type_text(shot_layout *l, const char *text, GArray *events, uint32_t *bad)
{
    guint start = events->len;

    if (!g_utf8_validate(text, -1, NULL))
        return -EINVAL;
    for (const char *p = text; *p; p = g_utf8_next_char(p)) {
        gunichar ch = g_utf8_get_char(p);
        if (shot_layout_type_char(l, ch, events) < 0) {
            g_array_set_size(events, start);
            *bad = ch;
            return -ENOENT;
        }
    }
    return 0;
}

int shot_layout_key_of_char(shot_layout *l, uint32_t ch, uint16_t *qnum)
{
    key_choice c = {0};

    if (!find_key(l, ch, 0, &c))
        return -ENOENT;
    *qnum = c.qnum;
    return 0;
}

static xkb_keycode_t keycode_of(struct xkb_keymap *km, uint16_t qnum)
{
    if (qnum == 0)
        return XKB_KEYCODE_INVALID;
    for (xkb_keycode_t kc = xkb_keymap_min_keycode(km); kc <= xkb_keymap_max_keycode(km); kc++) {
        if (kc >= EVDEV_OFFSET && vg_keymap_evdev_to_qnum(kc - EVDEV_OFFSET) == qnum)
            return kc;
    }
    return XKB_KEYCODE_INVALID;
}

uint32_t shot_layout_keysym_of_key(shot_layout *l, uint16_t qnum, const uint16_t *held,
                                   size_t n_held)
{
    xkb_keycode_t kc = keycode_of(l->keymap, qnum);
    struct xkb_state *st;
    xkb_keysym_t sym;

    if (kc == XKB_KEYCODE_INVALID || !(st = xkb_state_new(l->keymap)))
        return 0;
    for (size_t i = 0; i < n_held; i++) {
        xkb_keycode_t h = keycode_of(l->keymap, held[i]);
        if (h != XKB_KEYCODE_INVALID)
            xkb_state_update_key(st, h, XKB_KEY_DOWN);
    }
    sym = xkb_state_key_get_one_sym(st, kc);
    xkb_state_unref(st);
    return sym == XKB_KEY_NoSymbol ? 0 : sym;
}
