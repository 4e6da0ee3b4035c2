/*
 * vmgate-shot — keyboard layouts: which keys, with which modifiers, type a
 * character on the layout the guest uses.
 *
 * The guest turns key numbers into characters with its own layout, so a
 * client typing text must press the keys that layout assigns to each
 * character. The layouts come from libxkbcommon and xkb-data (the data X11,
 * Wayland and, through ckbcomp, the Linux console use): Shift and AltGr
 * levels, and dead keys for characters the layout only composes.
 *
 * Threading: a layout is used by one thread at a time.
 */
#ifndef VG_SHOT_LAYOUT_H
#define VG_SHOT_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

typedef struct shot_layout shot_layout;

/** One key event to send: QEMU key number, the keysym it produces, press or release. */
typedef struct shot_key_event {
    uint16_t qnum;
    uint32_t keysym;
    bool down;
} shot_key_event;

/**
 * Compile a layout by its XKB name: "us", "de", "fr", "gb", or with a
 * variant as "de(nodeadkeys)" or "de:nodeadkeys" (model pc105, rules evdev).
 * @param why  receives a sentence for people on failure
 * @return 0, -EINVAL for a malformed name, -ENOENT for a layout xkb-data
 *         does not have, -ENOMEM.
 */
int shot_layout_new(const char *name, shot_layout **out, char *why, size_t why_len);

/** Free a layout; NULL is fine. */
void shot_layout_free(shot_layout *l);

/** The name the layout was made with. */
const char *shot_layout_name(const shot_layout *l);

/**
 * Append to @events (a GArray of shot_key_event) the presses and releases
 * that type @ch: modifiers (Shift, AltGr) around the key, or a dead key and
 * then the base character for a character the layout only composes.
 * '\n' and '\r' are Return, '\t' Tab, '\b' BackSpace, 0x1b Escape.
 * @return 0, or -ENOENT (nothing appended) when the layout cannot type @ch.
 */
int shot_layout_type_char(shot_layout *l, uint32_t ch, GArray *events);

/**
 * Append the events that type UTF-8 @text.
 * @return 0; -EINVAL for invalid UTF-8; -ENOENT with *bad set to the first
 *         character the layout cannot type (then @events is unchanged).
 */
int shot_layout_type_text(shot_layout *l, const char *text, GArray *events, uint32_t *bad);

/**
 * The key that types @ch, at whatever level, for key combinations named by
 * character ("ctrl-z" is Ctrl and the key that types z on this layout).
 * @return 0, or -ENOENT.
 */
int shot_layout_key_of_char(shot_layout *l, uint32_t ch, uint16_t *qnum);

/**
 * The keysym a key produces on this layout while the keys @held are down
 * (Shift makes "z" "Z"): what a key event carries for servers that look at
 * keysyms. QEMU's VNC server does, to keep Caps Lock in step with them: a
 * lower-case keysym sent with Shift held made it press Caps Lock.
 * @return the keysym, or 0 when the layout has no such key.
 */
uint32_t shot_layout_keysym_of_key(shot_layout *l, uint16_t qnum, const uint16_t *held,
                                   size_t n_held);

#endif /* VG_SHOT_LAYOUT_H */
