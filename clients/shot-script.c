/*
 * vmgate-shot — script parsing and checking.
 *
 * Threading: see shot-script.h.
 */
#include "shot-script.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "display.h"
#include "keymap.h"
#include "type-text.h"

#define MAX_ERRORS     20
#define MAX_LINE       4096
#define MAX_COORD      65535
#define MAX_REPEAT     100
#define MAX_SCROLL     100
#define MAX_MS         (3600 * 1000)
#define MAX_TIMEOUT_S  86400
#define MAX_COMBO_KEYS 8

static void step_free(gpointer p)
{
    shot_step *st = p;
    if (!st)
        return;
    g_free(st->file);
    g_free(st->source);
    g_free(st->text);
    if (st->keys)
        g_array_unref(st->keys);
    g_free(st);
}

shot_script *shot_script_new(const char *name, const char *layout, const char *needle_dir,
                             int default_timeout_s, char *why, size_t why_len)
{
    shot_script *s = g_new0(shot_script, 1);

    s->name = g_strdup(name);
    s->steps = g_ptr_array_new_with_free_func(step_free);
    s->layouts = g_ptr_array_new_with_free_func((GDestroyNotify)shot_layout_free);
    s->needles =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)shot_needle_free);
    s->needle_dir = needle_dir ? g_strdup(needle_dir) : NULL;
    s->default_timeout_s = default_timeout_s;
    if (shot_layout_new(layout ? layout : "us", &s->layout, why, why_len) < 0) {
        shot_script_free(s);
        return NULL;
    }
    g_ptr_array_add(s->layouts, s->layout);
    return s;
}

void shot_script_free(shot_script *s)
{
    if (!s)
        return;
    g_ptr_array_unref(s->steps);
    g_ptr_array_unref(s->layouts);
    g_hash_table_unref(s->needles);
    g_free(s->needle_dir);
    g_free(s->name);
    g_free(s);
}

static bool parse_int(const char *text, int min, int max, int *out)
{
    char *end;
    long v;

    if (!text || !*text || !(g_ascii_isdigit(*text) || *text == '-'))
        return false;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

static bool parse_button(const char *word, uint32_t *button)
{
    if (!strcmp(word, "left"))
        *button = VG_BUTTON_LEFT;
    else if (!strcmp(word, "right"))
        *button = VG_BUTTON_RIGHT;
    else if (!strcmp(word, "middle"))
        *button = VG_BUTTON_MIDDLE;
    else
        return false;
    return true;
}

/* A step's words after its options are taken out. */
typedef struct words {
    int argc;
    char **argv;
    int timeout_s;
    bool has_timeout;
    shot_rect area;
    bool has_area;
} words;

/* Take "--timeout S" (and "--area X,Y,W,H" when @area_ok) out of argv. */
static int take_options(int argc, char **argv, bool timeout_ok, bool area_ok, words *w, char *why,
                        size_t why_len)
{
    w->argc = 0;
    w->argv = g_new0(char *, (size_t)argc + 1);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (timeout_ok && (!strcmp(a, "--timeout") || g_str_has_prefix(a, "--timeout="))) {
            const char *v = a[9] == '=' ? a + 10 : (i + 1 < argc ? argv[++i] : NULL);
            if (!parse_int(v, 1, MAX_TIMEOUT_S, &w->timeout_s)) {
                snprintf(why, why_len, "%s: --timeout takes seconds from 1 to %d", argv[0],
                         MAX_TIMEOUT_S);
                return -EINVAL;
            }
            w->has_timeout = true;
        } else if (area_ok && (!strcmp(a, "--area") || g_str_has_prefix(a, "--area="))) {
            const char *v = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v || shot_rect_parse(v, &w->area) < 0) {
                snprintf(why, why_len, "%s: --area takes X,Y,W,H (W and H at least 1)", argv[0]);
                return -EINVAL;
            }
            w->has_area = true;
        } else if (a[0] == '-' && a[1] == '-' && a[2]) {
            snprintf(why, why_len, "%s: unknown option '%s'", argv[0], a);
            return -EINVAL;
        } else {
            w->argv[w->argc++] = argv[i];
        }
    }
    return 0;
}

static int load_needle(shot_script *s, const char *ref, shot_needle **out, char *why,
                       size_t why_len)
{
    g_autofree char *path = NULL, *stem = NULL;
    shot_needle *n;
    int r;

    /* "login", "login.png" and "login.json" are one needle. */
    if (g_str_has_suffix(ref, ".png"))
        stem = g_strndup(ref, strlen(ref) - 4);
    else if (g_str_has_suffix(ref, ".json"))
        stem = g_strndup(ref, strlen(ref) - 5);
    else
        stem = g_strdup(ref);
    if (g_path_is_absolute(stem) || !s->needle_dir)
        path = g_strdup(stem);
    else
        path = g_build_filename(s->needle_dir, stem, NULL);
    n = g_hash_table_lookup(s->needles, path);
    if (!n) {
        r = shot_needle_load(path, &n, why, why_len);
        if (r < 0)
            return r;
        g_hash_table_insert(s->needles, g_strdup(path), n);
    }
    *out = n;
    return 0;
}

/* "ctrl-z" on the script's layout: the modifiers by name, a final single
 * character as the key that types it on the layout. */
static int parse_combo(shot_script *s, const char *combo, GArray *keys, char *why, size_t why_len)
{
    uint16_t qnums[MAX_COMBO_KEYS];
    uint32_t syms[MAX_COMBO_KEYS];
    g_autofree char *probe = NULL;
    const char *last, *star;
    g_autofree char *body = NULL;
    int repeat = 1, n;
    uint16_t own = 0;

    star = strrchr(combo, '*');
    if (star && star != combo && star[1]) {
        if (!parse_int(star + 1, 1, MAX_REPEAT, &repeat)) {
            snprintf(why, why_len, "key: '%s': a repeat is *1 to *%d", combo, MAX_REPEAT);
            return -EINVAL;
        }
        body = g_strndup(combo, (size_t)(star - combo));
    } else {
        body = g_strdup(combo);
    }
    /* The final key: after the last separator that is not itself the key. */
    last = body;
    for (const char *p = body; *p; p++) {
        if ((*p == '-' || *p == '+') && p[1])
            last = p + 1;
    }
    probe = g_strdup(body);
    if (g_utf8_validate(last, -1, NULL) && g_utf8_strlen(last, -1) == 1 &&
        !(last[0] == '-' || last[0] == '+')) {
        gunichar ch = g_unichar_tolower(g_utf8_get_char(last));
        if (shot_layout_key_of_char(s->layout, ch, &own) < 0) {
            snprintf(why, why_len, "key: '%s': no key types '%s' on layout %s", combo, last,
                     shot_layout_name(s->layout));
            return -EINVAL;
        }
        /* The modifiers are checked with a stand-in key. */
        probe[last - body] = 'a';
        probe[last - body + 1] = '\0';
    }
    n = vg_keymap_parse_combo(probe, qnums, MAX_COMBO_KEYS);
    if (n <= 0) {
        snprintf(why, why_len,
                 "key: '%s' is not a key combination (like ctrl-alt-del, alt-f2, shift-tab, "
                 "super, enter, tab*3)",
                 combo);
        return -EINVAL;
    }
    if (own)
        qnums[n - 1] = own;
    /* Each key's keysym as it is pressed, with the keys before it held. */
    for (int i = 0; i < n; i++)
        syms[i] = shot_layout_keysym_of_key(s->layout, qnums[i], qnums, (size_t)i);
    for (int r = 0; r < repeat; r++) {
        for (int i = 0; i < n; i++) {
            shot_key_event e = {.qnum = qnums[i], .keysym = syms[i], .down = true};
            g_array_append_val(keys, e);
        }
        for (int i = n - 1; i >= 0; i--) {
            shot_key_event e = {.qnum = qnums[i], .keysym = syms[i], .down = false};
            g_array_append_val(keys, e);
        }
    }
    return 0;
}

/* [BUTTON] [X Y] for click and double-click. */
static int parse_click(shot_step *st, const words *w, char *why, size_t why_len)
{
    int i = 0;

    st->button = VG_BUTTON_LEFT;
    if (i < w->argc && parse_button(w->argv[i], &st->button))
        i++;
    if (w->argc - i == 2) {
        if (!parse_int(w->argv[i], 0, MAX_COORD, &st->x) ||
            !parse_int(w->argv[i + 1], 0, MAX_COORD, &st->y))
            goto bad;
        st->has_pos = true;
    } else if (w->argc - i != 0) {
        goto bad;
    }
    return 0;
bad:
    snprintf(why, why_len, "%s takes [left|right|middle] [X Y] (pixels, 0 or more)", st->name);
    return -EINVAL;
}

static const struct {
    const char *name;
    shot_step_kind kind;
    bool timeout;
    bool area;
    bool checks; /* may follow expect-fail */
} step_names[] = {
    {"type", SHOT_STEP_TYPE, false, false, false},
    {"key", SHOT_STEP_KEY, false, false, false},
    {"move", SHOT_STEP_MOVE, false, false, false},
    {"click", SHOT_STEP_CLICK, false, false, false},
    {"double-click", SHOT_STEP_DOUBLE_CLICK, false, false, false},
    {"drag", SHOT_STEP_DRAG, false, false, false},
    {"scroll", SHOT_STEP_SCROLL, false, false, false},
    {"wait-still", SHOT_STEP_WAIT_STILL, true, false, true},
    {"wait-screen", SHOT_STEP_WAIT_SCREEN, true, false, true},
    {"wait-gone", SHOT_STEP_WAIT_GONE, true, false, true},
    {"click-needle", SHOT_STEP_CLICK_NEEDLE, true, false, true},
    {"assert-screen", SHOT_STEP_ASSERT_SCREEN, false, false, true},
    {"wait-text", SHOT_STEP_WAIT_TEXT, true, true, true},
    {"screenshot", SHOT_STEP_SCREENSHOT, false, false, false},
    {"sleep", SHOT_STEP_SLEEP, false, false, false},
    {"layout", SHOT_STEP_LAYOUT, false, false, false},
};

static int parse_step(shot_script *s, shot_step *st, int argc, char **argv, char *why,
                      size_t why_len)
{
    size_t k;
    words w = {0};
    int r = -EINVAL;

    for (k = 0; k < G_N_ELEMENTS(step_names); k++) {
        if (!strcmp(argv[0], step_names[k].name))
            break;
    }
    if (k == G_N_ELEMENTS(step_names)) {
        snprintf(why, why_len, "unknown step '%s' (see vmgate-shot(1) for the list)", argv[0]);
        return -EINVAL;
    }
    if (st->expect_fail && !step_names[k].checks) {
        snprintf(why, why_len,
                 "expect-fail is for checks (wait-screen, wait-gone, assert-screen, "
                 "click-needle, wait-text, wait-still), not '%s'",
                 argv[0]);
        return -EINVAL;
    }
    st->kind = step_names[k].kind;
    st->name = step_names[k].name;
    st->timeout_s = s->default_timeout_s;
    if (take_options(argc, argv, step_names[k].timeout, step_names[k].area, &w, why, why_len) < 0)
        goto out;
    if (w.has_timeout)
        st->timeout_s = w.timeout_s;
    st->area = w.area;
    st->has_area = w.has_area;

    switch (st->kind) {
    case SHOT_STEP_TYPE: {
        g_autofree char *joined = NULL, *text = NULL;
        size_t bad_at = 0;
        uint32_t bad = 0;
        int t;

        if (w.argc < 1) {
            snprintf(why, why_len, "type takes TEXT (quote it: type 'echo hi\\n')");
            goto out;
        }
        joined = g_strjoinv(" ", w.argv);
        text = vg_type_unescape(joined, &bad_at);
        if (!text) {
            snprintf(why, why_len,
                     "type: unknown escape '\\%c' (known: \\n \\t \\e \\b \\\\; quote the "
                     "text in single quotes)",
                     joined[bad_at + 1]);
            goto out;
        }
        st->keys = g_array_new(FALSE, FALSE, sizeof(shot_key_event));
        t = shot_layout_type_text(s->layout, text, st->keys, &bad);
        if (t == -EINVAL) {
            snprintf(why, why_len, "type: the text is not UTF-8");
            goto out;
        }
        if (t < 0) {
            char c[8] = {0};
            g_unichar_to_utf8(bad, c);
            snprintf(why, why_len, "type: '%s' (U+%04X) has no key on layout %s", c, bad,
                     shot_layout_name(s->layout));
            goto out;
        }
        st->text = g_steal_pointer(&joined);
        break;
    }
    case SHOT_STEP_KEY:
        if (w.argc < 1) {
            snprintf(why, why_len, "key takes one or more COMBO (ctrl-alt-del, alt-f2, tab*3)");
            goto out;
        }
        st->keys = g_array_new(FALSE, FALSE, sizeof(shot_key_event));
        for (int i = 0; i < w.argc; i++) {
            if (parse_combo(s, w.argv[i], st->keys, why, why_len) < 0)
                goto out;
        }
        break;
    case SHOT_STEP_MOVE:
        if (w.argc != 2 || !parse_int(w.argv[0], 0, MAX_COORD, &st->x) ||
            !parse_int(w.argv[1], 0, MAX_COORD, &st->y)) {
            snprintf(why, why_len, "move takes X Y (pixels, 0 or more)");
            goto out;
        }
        st->has_pos = true;
        break;
    case SHOT_STEP_CLICK:
    case SHOT_STEP_DOUBLE_CLICK:
        if (parse_click(st, &w, why, why_len) < 0)
            goto out;
        break;
    case SHOT_STEP_DRAG:
        st->button = VG_BUTTON_LEFT;
        if ((w.argc != 4 && w.argc != 5) || !parse_int(w.argv[0], 0, MAX_COORD, &st->x) ||
            !parse_int(w.argv[1], 0, MAX_COORD, &st->y) ||
            !parse_int(w.argv[2], 0, MAX_COORD, &st->x2) ||
            !parse_int(w.argv[3], 0, MAX_COORD, &st->y2) ||
            (w.argc == 5 && !parse_button(w.argv[4], &st->button))) {
            snprintf(why, why_len, "drag takes X1 Y1 X2 Y2 [left|right|middle]");
            goto out;
        }
        st->has_pos = true;
        break;
    case SHOT_STEP_SCROLL: {
        int n = 1, sign;
        if (w.argc < 1 || (strcmp(w.argv[0], "up") && strcmp(w.argv[0], "down")) || w.argc > 4 ||
            w.argc == 3 || (w.argc >= 2 && !parse_int(w.argv[1], 1, MAX_SCROLL, &n)) ||
            (w.argc == 4 && (!parse_int(w.argv[2], 0, MAX_COORD, &st->x) ||
                             !parse_int(w.argv[3], 0, MAX_COORD, &st->y)))) {
            snprintf(why, why_len, "scroll takes up|down [N] [X Y] (N from 1 to %d)", MAX_SCROLL);
            goto out;
        }
        sign = strcmp(w.argv[0], "down") == 0 ? 1 : -1;
        st->count = sign * n;
        st->has_pos = w.argc == 4;
        break;
    }
    case SHOT_STEP_WAIT_STILL:
        if (w.argc != 1 || !parse_int(w.argv[0], 0, MAX_MS, &st->ms)) {
            snprintf(why, why_len, "wait-still takes MS (0 to %d) [--timeout S]", MAX_MS);
            goto out;
        }
        break;
    case SHOT_STEP_WAIT_SCREEN:
    case SHOT_STEP_WAIT_GONE:
    case SHOT_STEP_ASSERT_SCREEN:
    case SHOT_STEP_CLICK_NEEDLE:
        st->button = VG_BUTTON_LEFT;
        if (w.argc < 1 || w.argc > 2 ||
            (w.argc == 2 &&
             (st->kind != SHOT_STEP_CLICK_NEEDLE || !parse_button(w.argv[1], &st->button)))) {
            snprintf(why, why_len, "%s takes NEEDLE%s%s", st->name,
                     st->kind == SHOT_STEP_CLICK_NEEDLE ? " [left|right|middle]" : "",
                     step_names[k].timeout ? " [--timeout S]" : "");
            goto out;
        }
        if (load_needle(s, w.argv[0], &st->needle, why, why_len) < 0)
            goto out;
        st->text = g_strdup(w.argv[0]);
        break;
    case SHOT_STEP_WAIT_TEXT:
        if (w.argc < 1) {
            snprintf(why, why_len, "wait-text takes TEXT [--area X,Y,W,H] [--timeout S]");
            goto out;
        }
        st->text = g_strjoinv(" ", w.argv);
        if (!g_utf8_validate(st->text, -1, NULL) || !*g_strstrip(st->text)) {
            snprintf(why, why_len, "wait-text: the text is empty or not UTF-8");
            goto out;
        }
        s->needs_ocr = true;
        break;
    case SHOT_STEP_SCREENSHOT:
        if (w.argc != 1 || !*w.argv[0]) {
            snprintf(why, why_len, "screenshot takes FILE (a PNG to write)");
            goto out;
        }
        st->text = g_strdup(w.argv[0]);
        break;
    case SHOT_STEP_SLEEP:
        if (w.argc != 1 || !parse_int(w.argv[0], 0, MAX_MS, &st->ms)) {
            snprintf(why, why_len, "sleep takes MS (0 to %d)", MAX_MS);
            goto out;
        }
        break;
    case SHOT_STEP_LAYOUT: {
        shot_layout *l = NULL;
        if (w.argc != 1) {
            snprintf(why, why_len, "layout takes NAME (us, de, fr, gb, de(nodeadkeys), ...)");
            goto out;
        }
        if (shot_layout_new(w.argv[0], &l, why, why_len) < 0)
            goto out;
        g_ptr_array_add(s->layouts, l);
        s->layout = l;
        st->text = g_strdup(w.argv[0]);
        break;
    }
    }
    r = 0;
out:
    g_free(w.argv);
    return r;
}

int shot_script_add_argv(shot_script *s, const char *file, int line, const char *source, int argc,
                         char **argv, char *why, size_t why_len)
{
    shot_step *st = g_new0(shot_step, 1);
    int r;

    st->file = g_strdup(file);
    st->line = line;
    st->source = g_strdup(source);
    if (argc >= 1 && !strcmp(argv[0], "expect-fail")) {
        if (argc < 2) {
            snprintf(why, why_len, "expect-fail takes a check step: expect-fail wait-screen N");
            step_free(st);
            return -EINVAL;
        }
        st->expect_fail = true;
        argc--;
        argv++;
        if (!strcmp(argv[0], "expect-fail")) {
            snprintf(why, why_len, "expect-fail cannot be doubled");
            step_free(st);
            return -EINVAL;
        }
    }
    r = parse_step(s, st, argc, argv, why, why_len);
    if (r < 0) {
        step_free(st);
        return r;
    }
    g_ptr_array_add(s->steps, st);
    return 0;
}

int shot_script_add_text(shot_script *s, const char *file, const char *text, GString *errors)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    int nerr = 0;

    for (int i = 0; lines[i]; i++) {
        g_autoptr(GError) err = NULL;
        g_auto(GStrv) argv = NULL;
        char why[512];
        char *line = g_strstrip(lines[i]);
        int argc = 0;

        if (nerr >= MAX_ERRORS) {
            g_string_append_printf(errors, "%s: stopped after %d errors\n", file, MAX_ERRORS);
            break;
        }
        if (strlen(line) > MAX_LINE) {
            g_string_append_printf(errors, "%s:%d: the line is longer than %d bytes\n", file, i + 1,
                                   MAX_LINE);
            nerr++;
            continue;
        }
        if (!*line || *line == '#')
            continue;
        /* The shell's rules: quotes group words, and "#" starts a comment
         * at the start of a word. */
        if (!g_shell_parse_argv(line, &argc, &argv, &err)) {
            if (g_error_matches(err, G_SHELL_ERROR, G_SHELL_ERROR_EMPTY_STRING))
                continue;
            g_string_append_printf(errors, "%s:%d: %s\n", file, i + 1, err->message);
            nerr++;
            continue;
        }
        if (shot_script_add_argv(s, file, i + 1, line, argc, argv, why, sizeof(why)) < 0) {
            g_string_append_printf(errors, "%s:%d: %s\n", file, i + 1, why);
            nerr++;
        }
    }
    return nerr;
}
