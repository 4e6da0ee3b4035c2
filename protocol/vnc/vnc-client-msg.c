/*
 * vmgate — framing of a VNC viewer's messages. See vnc-client-msg.h.
 */
#include "vnc-client-msg.h"

#include <errno.h>

#include <rfb/rfbproto.h>

/* QEMU's client message (type 255) with subtype 0: the extended key event. */
#define QEMU_SUBTYPE_EXT_KEY 0
#define QEMU_EXT_KEY_LEN     12

static uint32_t get_u16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int vg_vnc_client_msg_frame(const uint8_t *buf, size_t n, vg_vnc_client_msg *msg)
{
    size_t len;

    msg->type = buf[0];
    msg->action = VG_VNC_MSG_FORWARD;
    switch (buf[0]) {
    case rfbSetPixelFormat:
        len = sz_rfbSetPixelFormatMsg;
        break;
    case rfbSetEncodings:
        if (n < sz_rfbSetEncodingsMsg)
            return 0;
        len = sz_rfbSetEncodingsMsg + 4 * (size_t)get_u16(buf + 2);
        break;
    case rfbFramebufferUpdateRequest:
        len = sz_rfbFramebufferUpdateRequestMsg;
        msg->action = VG_VNC_MSG_UPDATE_REQUEST;
        break;
    case rfbKeyEvent:
        len = sz_rfbKeyEventMsg;
        break;
    case rfbPointerEvent:
        len = sz_rfbPointerEventMsg;
        break;
    case rfbClientCutText: {
        if (n < sz_rfbClientCutTextMsg)
            return 0;
        /* A negative length is the extended clipboard's (its absolute value). */
        uint32_t l = get_u32(buf + 4);
        if (l & 0x80000000u)
            l = (uint32_t)(-(int64_t)(int32_t)l);
        msg->action = VG_VNC_MSG_DROP;
        msg->len = sz_rfbClientCutTextMsg + (size_t)l;
        return 1;
    }
    case rfbSetDesktopSize:
        if (n < sz_rfbSetDesktopSizeMsg)
            return 0;
        len = sz_rfbSetDesktopSizeMsg + sz_rfbExtDesktopScreen * (size_t)buf[6];
        break;
    case rfbQemuEvent:
        if (n < 2)
            return 0;
        if (buf[1] != QEMU_SUBTYPE_EXT_KEY)
            return -EPROTO;
        len = QEMU_EXT_KEY_LEN;
        break;
    default:
        /* FixColourMapEntries, file transfer, scaling, text chat, xvp,
         * continuous updates, fences: nothing vmgate's screens offer. */
        return -EPROTO;
    }
    if (len > VG_VNC_MSG_MAX_FORWARD)
        return -EMSGSIZE;
    if (n < len)
        return 0;
    msg->len = len;
    return 1;
}
