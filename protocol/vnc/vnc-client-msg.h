/*
 * vmgate — framing of the messages a VNC viewer sends after ClientInit.
 *
 * The relay (vnc-relay.h) hands libvncserver whole messages only, never
 * part of one: libvncserver reads the rest of a message it has begun with
 * a blocking wait, on the one thread that serves every viewer of the VM, so
 * a viewer trickling a message byte by byte would freeze them all. To cut
 * the stream into messages the relay needs each one's length, which is all
 * this file knows; it keeps no state and does no I/O.
 *
 * Only the messages libvncserver 0.9.14 serves for vmgate's screens are
 * known (RFC 6143 §7.5, libvncserver's extensions, QEMU's extended key
 * event); any other type ends the viewer, as libvncserver itself would.
 */
#ifndef VG_VNC_CLIENT_MSG_H
#define VG_VNC_CLIENT_MSG_H

#include <stddef.h>
#include <stdint.h>

/** What the relay does with a message. */
typedef enum vg_vnc_msg_action {
    VG_VNC_MSG_FORWARD,        /**< hand it to libvncserver as it is */
    VG_VNC_MSG_UPDATE_REQUEST, /**< FramebufferUpdateRequest: forward when the viewer keeps up */
    VG_VNC_MSG_DROP,           /**< read and drop (client cut text: the gateway has no clipboard) */
} vg_vnc_msg_action;

/** Longest message the relay forwards (bytes): SetEncodings with 1,024 encodings. */
#define VG_VNC_MSG_MAX_FORWARD (4 + 4 * 1024)

/** A framed message. */
typedef struct vg_vnc_client_msg {
    uint8_t type;
    vg_vnc_msg_action action;
    size_t len; /**< whole message, header included; DROP may be longer than what is buffered */
} vg_vnc_client_msg;

/**
 * Frame the message at the start of @buf (@n bytes buffered, n > 0).
 *
 * @return 1: *msg describes it, and for FORWARD and UPDATE_REQUEST all
 *         msg->len bytes are in @buf (for DROP only its header is);
 *         0: more bytes are needed to know;
 *         -EPROTO: a type vmgate does not serve (msg->type says which);
 *         -EMSGSIZE: a message to forward longer than VG_VNC_MSG_MAX_FORWARD.
 */
int vg_vnc_client_msg_frame(const uint8_t *buf, size_t n, vg_vnc_client_msg *msg);

#endif
