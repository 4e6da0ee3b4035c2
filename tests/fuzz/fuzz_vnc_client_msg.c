/*
 * Fuzz target: the framing of a VNC viewer's messages after ClientInit
 * (what the relay passes to libvncserver, holds or drops), over a stream
 * of messages as the relay buffers them.
 */
#include "fuzz.h"
#include "vnc-client-msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;

    while (off < size) {
        vg_vnc_client_msg msg;
        int r = vg_vnc_client_msg_frame(data + off, size - off, &msg);
        if (r <= 0)
            break;
        /* A framed message is never empty; one to forward or hold is
         * wholly buffered and bounded. */
        if (msg.len == 0)
            __builtin_trap();
        if (msg.action != VG_VNC_MSG_DROP &&
            (msg.len > size - off || msg.len > VG_VNC_MSG_MAX_FORWARD))
            __builtin_trap();
        if (msg.len > size - off)
            break; /* a DROP longer than what is buffered: the relay skips on */
        off += msg.len;
    }
    return 0;
}
