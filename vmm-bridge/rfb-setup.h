/*
 * vmgate — the client side of the RFB setup that vmgate's own clients (the
 * console on the libvirt socket, vmgate-shot's VNC mode) share.
 */
#ifndef VG_RFB_SETUP_H
#define VG_RFB_SETUP_H

#include <stdbool.h>

#include <rfb/rfbclient.h>

/** QEMU's extended key event pseudo-encoding, not named in libvncclient's headers. */
#define VG_ENC_QEMU_EXT_KEY (-258)

/**
 * Set @cl's pixel format to BGRX32 (QEMU's native format, the surface's)
 * and send it, then send our own SetEncodings: raw, RichCursor,
 * DesktopSize and QEMU extended key events — never ExtendedDesktopSize,
 * whose reply libvncclient 0.9.14 mishandles. Call after
 * InitialiseRFBConnection() instead of SetFormatAndEncodings().
 * @return false if a write failed.
 */
bool vg_rfb_send_format_and_encodings(rfbClient *cl);

/**
 * Everything after InitialiseRFBConnection() that vmgate's clients do the
 * same way: take the screen size from ServerInit (also as the area every
 * later incremental update request names), allocate the framebuffer
 * (cl->MallocFrameBuffer), send format and encodings
 * (vg_rfb_send_format_and_encodings) and ask for the whole screen.
 * @return false if any of it failed.
 */
bool vg_rfb_start(rfbClient *cl);

#endif /* VG_RFB_SETUP_H */
