/*
 * Fuzz target: the input translators. The input is a sequence of events as
 * the front ends receive them: RDP scancode events (scancode, flags), RDP
 * Unicode key events, VNC key events (keysym) and QEMU extended key events
 * (QEMU key number), mapped to QEMU key numbers and back; the tail is a
 * key combo and a send-keys text as vmgatectl sends them.
 */
#include <string.h>

#include <glib.h>

#include "fuzz.h"
#include "keymap.h"
#include "type-text.h"

#define COMBO_MAX 8

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;

    /* Events of 5 bytes: a kind, then 4 bytes of argument; a 0xff kind ends them. */
    while (off + 5 <= size && data[off] != 0xff) {
        uint8_t kind = data[off] % 4;
        uint32_t arg = get32(data + off + 1);
        uint16_t qnum = 0, sc = 0, flags = 0;
        vg_key_stroke st;
        off += 5;
        switch (kind) {
        case 0: /* RDP scancode event */
            qnum = vg_keymap_rdp_to_qnum((uint16_t)(arg >> 16), (uint16_t)arg);
            break;
        case 1: /* RDP Unicode event */
            if (vg_keymap_char_to_stroke(arg & 0xffff, &st) == 0)
                qnum = st.qnum;
            break;
        case 2: /* VNC key event */
            qnum = vg_keymap_keysym_to_qnum(arg);
            break;
        default: /* QEMU extended key event */
            qnum = (uint16_t)arg;
            break;
        }
        /* A key number that maps to RDP maps back to itself. */
        if (qnum && vg_keymap_qnum_to_rdp(qnum, &sc, &flags) == 0 &&
            vg_keymap_rdp_to_qnum(sc, flags) != qnum)
            __builtin_trap();
    }
    if (off < size) {
        g_autofree char *tail = g_strndup((const char *)data + off + 1, size - off - 1);
        uint16_t qnums[COMBO_MAX];
        uint32_t bad = 0;
        int n = vg_keymap_parse_combo(tail, qnums, COMBO_MAX);
        if (n > COMBO_MAX)
            __builtin_trap();
        if (g_utf8_validate(tail, -1, NULL))
            (void)vg_type_check(tail, &bad);
    }
    return 0;
}
