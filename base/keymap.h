/*
 * vmgate — keyboard tables.
 *
 * Three key namespaces meet in a remote console gateway:
 *  - QEMU key numbers ("qnum"): the PC AT set 1 scancode, with 0x80 added for
 *    E0-prefixed (extended) keys. This is what the QEMU extended key event
 *    carries and what the guest keyboard ultimately receives.
 *  - X11 keysyms: what plain VNC key events carry (a symbol, not a key).
 *  - RDP scancodes: set 1 scancode plus KBDFLAGS_EXTENDED / EXTENDED1 flags.
 *
 * The tables assume a US (pc105 "us") guest layout for symbol → key
 * translation; scancode paths are layout independent.
 */
#ifndef VG_KEYMAP_H
#define VG_KEYMAP_H

#include <stdbool.h>
#include <stdint.h>

/** QEMU key numbers used by callers directly. */
#define VG_QNUM_LSHIFT 0x2a
#define VG_QNUM_RSHIFT 0x36
#define VG_QNUM_LCTRL  0x1d
#define VG_QNUM_RCTRL  0x9d
#define VG_QNUM_LALT   0x38
#define VG_QNUM_RALT   0xb8
#define VG_QNUM_RETURN 0x1c
#define VG_QNUM_DELETE 0xd3
#define VG_QNUM_PAUSE  0xc6
#define VG_QNUM_PRINT  0xb7
#define VG_QNUM_MAX    0xff

/** RDP keyboard event flags (MS-RDPBCGR 2.2.8.1.1.3.1.1.1). */
#define VG_RDP_KBDFLAGS_EXTENDED  0x0100
#define VG_RDP_KBDFLAGS_EXTENDED1 0x0200
#define VG_RDP_KBDFLAGS_DOWN      0x4000
#define VG_RDP_KBDFLAGS_RELEASE   0x8000

/**
 * One key stroke needed to produce a character on a US layout.
 */
typedef struct vg_key_stroke {
    uint16_t qnum;   /**< QEMU key number of the key */
    uint32_t keysym; /**< X11 keysym the key produces with @shift applied */
    bool shift;      /**< true if Shift must be held */
} vg_key_stroke;

/**
 * Translate a character (Unicode code point) to the key stroke that types it
 * on a US layout. Handles printable ASCII, '\n' and '\r' (Return), '\t' (Tab),
 * '\b' (BackSpace) and 0x1b (Escape).
 *
 * @return 0 on success, -ENOENT if the character has no key on the layout,
 *         -EINVAL if @out is NULL.
 */
int vg_keymap_char_to_stroke(uint32_t ch, vg_key_stroke *out);

/**
 * Translate an X11 keysym to a QEMU key number (US layout). Both the shifted
 * and unshifted symbol of a key map to that key ('a' and 'A' → 0x1e).
 * Covers Latin-1 printable symbols, function keys F1–F12, modifiers, cursor
 * and editing keys, the keypad, and the common TTY keys.
 *
 * @return the qnum (1..0xff), or 0 if the keysym is unknown.
 */
uint16_t vg_keymap_keysym_to_qnum(uint32_t keysym);

/**
 * Translate an RDP keyboard event (scancode and KBDFLAGS) to a QEMU key
 * number. Extended keys gain 0x80; the E1-prefixed Pause (scancode 0x1d with
 * KBDFLAGS_EXTENDED1) maps to 0xc6. Scancodes above 0x7f are invalid.
 * Only keys in the table are accepted (fake shifts E0 2A / E0 36 are not).
 * An extended 0x45 is taken as Num Lock (0x45), as some Windows clients send.
 *
 * The translation is stateless: clients send Pause as 0x1d+EXTENDED1
 * followed by a plain 0x45, and the caller must drop that 0x45 (and its
 * release) itself, or the guest also sees a Num Lock press.
 *
 * @return the qnum (1..0xff), or 0 if the event maps to no key.
 */
uint16_t vg_keymap_rdp_to_qnum(uint16_t scancode, uint16_t flags);

/**
 * Inverse of vg_keymap_rdp_to_qnum for clients that send scancodes.
 *
 * @param qnum  QEMU key number
 * @param scancode  set 1 scancode without prefix (out)
 * @param flags  VG_RDP_KBDFLAGS_EXTENDED or _EXTENDED1 as needed (out)
 * @return 0 on success, -ENOENT for qnum 0 or one outside the table,
 *         -EINVAL if an output pointer is NULL.
 */
int vg_keymap_qnum_to_rdp(uint16_t qnum, uint16_t *scancode, uint16_t *flags);

/**
 * Translate a Linux evdev key code (KEY_*, as in linux/input-event-codes.h;
 * an XKB keycode minus 8) to a QEMU key number, as QEMU's own table does for
 * the keys of a PC keyboard: codes 1 to 83 are their set 1 scancode; the
 * others (extended keys, the 102nd key, F11, F12, Japanese and Brazilian
 * keys, the Windows keys) are listed.
 *
 * @return the qnum (1..0xff), or 0 for a code no PC keyboard has.
 */
uint16_t vg_keymap_evdev_to_qnum(uint32_t code);

/**
 * Parse a key combination such as "ctrl-alt-del", "alt-f4", "shift-a",
 * "ctrl-alt-f2" (case-insensitive, '-' or '+' separated, modifiers first,
 * one final key named by a keysym-style name or a single character).
 *
 * A single character names the key that types it; Shift is not implied, so
 * "ctrl-A" is "ctrl-a" and "ctrl-!" is Ctrl plus the '1' key. A separator
 * character is the key when it is the last character ("ctrl--", "ctrl-+").
 * The final key may be a modifier ("ctrl-shift", "alt"). Each modifier may
 * appear once. @qnums is written only on success.
 *
 * @param combo  the text
 * @param qnums  receives the key numbers in press order (modifiers first)
 * @param max    capacity of @qnums
 * @return number of keys (>0), or -EINVAL for a malformed or unknown combo,
 *         -E2BIG if it has more than @max keys.
 */
int vg_keymap_parse_combo(const char *combo, uint16_t *qnums, int max);

#endif /* VG_KEYMAP_H */
