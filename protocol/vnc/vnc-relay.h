/*
 * vmgate — the relay between a viewer's TLS connection (or plain socket,
 * for an unencrypted login allowed on loopback) and libvncserver.
 *
 * After the prelude (vnc-prelude.h) the viewer speaks plain RFB inside TLS,
 * from ClientInit on. libvncserver cannot read TLS that someone else
 * negotiated, so the VM's screen gets one end of a socketpair
 * (rfbNewClient) and the relay moves bytes between the other end and the
 * TLS connection. Before it does, it answers libvncserver's own prelude on
 * the inner end (RFB 3.8, security type None), so that the viewer's next
 * message, ClientInit, arrives where libvncserver expects it.
 *
 * The relay keeps each viewer from holding up libvncserver, which serves
 * every viewer of a VM on one thread: it always takes what libvncserver
 * writes, passes it whole messages only, and forwards a viewer's update
 * requests only once the viewer has taken what came before (vnc-relay.c,
 * "Isolation"). Memory: towards libvncserver two fixed buffers; towards the
 * viewer VG_VNC_RELAY_TO_VIEWER_BUF, which grows while the viewer is behind
 * (about one screen update beyond the kernel's socket buffer) up to
 * VG_VNC_RELAY_TO_VIEWER_MAX, where the viewer is ended, and shrinks back
 * once it has been empty for 2 s. A viewer that takes
 * nothing for the stall timeout while there is something for it is ended.
 *
 * Threading: each relay has one thread that owns the SSL and both fds after
 * vg_vnc_relay_new() returns. vg_vnc_relay_stop() and vg_vnc_relay_free()
 * may be called from any other thread; never from the ended callback.
 */
#ifndef VG_VNC_RELAY_H
#define VG_VNC_RELAY_H

#include <stddef.h>

#include <openssl/ssl.h>

typedef struct vg_vnc_relay vg_vnc_relay;

/** Buffer size towards the viewer (bytes): one buffer per relay. */
#define VG_VNC_RELAY_TO_VIEWER_BUF (256 * 1024)
/** What that buffer may grow to for a viewer that is behind: two raw
 * updates of a 3840x2160 screen at 32 bits, with room to spare. */
#define VG_VNC_RELAY_TO_VIEWER_MAX (96 * 1024 * 1024)
/** Buffer sizes towards libvncserver (bytes): the viewer's raw bytes, and
 * the whole messages framed from them. */
#define VG_VNC_RELAY_TO_SERVER_BUF (16 * 1024)

/**
 * The relay ended by itself: the viewer left, libvncserver closed its end,
 * or an I/O or protocol error. Runs once, on the relay thread, and not at
 * all after vg_vnc_relay_stop() was called. Free the relay from another
 * thread; the callback may race with a concurrent stop, so it must not wait
 * for the thread that calls vg_vnc_relay_free().
 */
typedef void (*vg_vnc_relay_ended_fn)(void *opaque, vg_vnc_relay *relay, const char *reason);

/**
 * Start relaying.
 *
 * @param ssl  the established TLS session from vg_vnc_prelude_run() (taken),
 *             or NULL after an unencrypted loopback login: the relay then
 *             moves plain bytes on @viewer_fd (same bounded buffers)
 * @param viewer_fd  the viewer's socket under @ssl (taken; closed on free)
 * @param inner_fd  our end of the socketpair whose other end was given to
 *                  rfbNewClient() (taken; closed on free)
 * @param label  for logs, e.g. "peer 192.0.2.1:5000 user alice vm web1"
 * @param stall_timeout_ms  a viewer that takes nothing for this long while
 *                          the relay holds bytes for it is ended (0: 30 s)
 * @param ended  optional
 * @return 0, -EMFILE (eventfd), -ENOMEM. On failure nothing is taken.
 */
int vg_vnc_relay_new(SSL *ssl, int viewer_fd, int inner_fd, const char *label,
                     unsigned stall_timeout_ms, vg_vnc_relay_ended_fn ended, void *opaque,
                     vg_vnc_relay **out);

/** Ask the relay to end: shuts the inner socket down (libvncserver drops
 * its client) but closes no fd yet. Idempotent, any thread. */
void vg_vnc_relay_stop(vg_vnc_relay *relay);

/** Whether the relay ended because libvncserver closed its end (the screen
 * then reports the viewer gone with its own reason). Any thread, e.g. the
 * ended callback. */
int vg_vnc_relay_ended_by_screen(vg_vnc_relay *relay);

/** Whether the relay thread has finished (either way). */
int vg_vnc_relay_finished(vg_vnc_relay *relay);

/** Stop, join the thread, close both fds, free the SSL. NULL is fine. */
void vg_vnc_relay_free(vg_vnc_relay *relay);

/** The protocol (vg_metric_proto) the bytes sent count under: VNC unless set. Any thread. */
void vg_vnc_relay_set_metric_protocol(vg_vnc_relay *r, int proto);

#endif /* VG_VNC_RELAY_H */
