#include "type-text.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "keymap.h"

char *vg_type_unescape(const char *in, size_t *bad_at)
{
    GString *out = g_string_new(NULL);
    for (const char *p = in; *p; p++) {
        if (*p != '\\') {
            g_string_append_c(out, *p);
            continue;
        }
        switch (p[1]) {
        case 'n':
            g_string_append_c(out, '\n');
            break;
        case 't':
            g_string_append_c(out, '\t');
            break;
        case 'e':
            g_string_append_c(out, 0x1b);
            break;
        case 'b':
            g_string_append_c(out, '\b');
            break;
        case '\\':
            g_string_append_c(out, '\\');
            break;
        default:
            *bad_at = (size_t)(p - in);
            g_string_free(out, TRUE);
            return NULL;
        }
        p++;
    }
    return g_string_free(out, FALSE);
}

int vg_type_check(const char *text, uint32_t *bad)
{
    vg_key_stroke k;
    if (!g_utf8_validate(text, -1, NULL))
        return -EINVAL;
    for (const char *p = text; *p; p = g_utf8_next_char(p)) {
        gunichar ch = g_utf8_get_char(p);
        if (vg_keymap_char_to_stroke(ch, &k) < 0) {
            *bad = ch;
            return -ENOENT;
        }
    }
    return 0;
}

static int key(vg_display_source *src, uint16_t qnum, uint32_t keysym, bool down, int delay_ms)
{
    int r = vg_display_source_send_key(src, qnum, keysym, down);
    if (r == 0 && delay_ms > 0)
        g_usleep((gulong)delay_ms * 1000);
    return r;
}

int vg_type_text(vg_display_source *src, const char *text, int delay_ms)
{
    int r;
    uint32_t bad;

    if ((r = vg_type_check(text, &bad)) < 0)
        return r;
    for (const char *p = text; *p; p = g_utf8_next_char(p)) {
        vg_key_stroke k;
        vg_keymap_char_to_stroke(g_utf8_get_char(p), &k);
        if (k.shift && (r = key(src, VG_QNUM_LSHIFT, 0xffe1, true, delay_ms)) < 0)
            return r;
        if ((r = key(src, k.qnum, k.keysym, true, delay_ms)) < 0)
            return r;
        if ((r = key(src, k.qnum, k.keysym, false, delay_ms)) < 0)
            return r;
        if (k.shift && (r = key(src, VG_QNUM_LSHIFT, 0xffe1, false, delay_ms)) < 0)
            return r;
    }
    return 0;
}
