/*
 * vmgate — the client side of the RFB setup that vmgate's own clients (the
 * console on the libvirt socket, vmgate-shot's VNC mode) share, and the one
 * route of libvncclient's log into vmgate's.
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

/** Sees each line libvncclient logs, without its newline (see vg_rfb_log_observe). */
typedef void (*vg_rfb_log_observer)(void *opaque, const char *line);

/**
 * Route libvncclient's own log (rfbClientLog, rfbClientErr: process-wide
 * hooks) to vmgate's log: debug level, tag "libvncclient", escaped like
 * every line, instead of raw on stderr. Any thread; calling it again is
 * harmless and keeps the observer.
 */
void vg_rfb_log_install(void);

/**
 * vg_rfb_log_install(), and also hand every line (at most 511 bytes) to
 * @observer, whatever the log level, on the thread that logs it: the lines
 * of every rfbClient in the process, so it suits a process with one
 * connection whose handshake runs (vmgate-shot). One observer at a time;
 * NULL removes it. Once this returns, no call of the previous observer is
 * still running.
 */
void vg_rfb_log_observe(vg_rfb_log_observer observer, void *opaque);

#endif /* VG_RFB_SETUP_H */
