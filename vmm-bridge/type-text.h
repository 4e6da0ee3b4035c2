/*
 * vmgate — typing text into a display source as key strokes.
 */
#ifndef VG_TYPE_TEXT_H
#define VG_TYPE_TEXT_H

#include <stddef.h>

#include "display.h"

/**
 * Turn the escapes of a --type argument into characters: "\n" Enter,
 * "\t" Tab, "\e" Escape, "\b" BackSpace, "\\" a backslash.
 * @return a g_malloc'ed string, or NULL (with *bad_at set to the offset)
 *         for an unknown escape.
 */
char *vg_type_unescape(const char *in, size_t *bad_at);

/**
 * Check that every character of UTF-8 @text can be typed on the US layout.
 * @return 0, or -ENOENT with *bad set to the first character that cannot,
 *         -EINVAL for invalid UTF-8.
 */
int vg_type_check(const char *text, uint32_t *bad);

/**
 * Type UTF-8 @text: press and release each key (with Shift when needed),
 * pausing @delay_ms after each key event so the guest's keyboard buffer
 * keeps up.
 * @return 0 or the first error from the source.
 */
int vg_type_text(vg_display_source *src, const char *text, int delay_ms);

#endif /* VG_TYPE_TEXT_H */
