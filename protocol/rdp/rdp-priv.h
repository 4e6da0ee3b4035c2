/*
 * vmgate — the RDP front end's insides, shared by its source files:
 * rdp-server.c (listener, peer thread, security, login, input),
 * rdp-gfx.c (the graphics pipeline) and rdp-legacy.c (bitmap updates,
 * pointer shapes).
 *
 * Threading: everything in vg_rdp_peer belongs to the peer's thread except
 * the fields under `lock`, which the surface listener (console thread) and
 * kicks (any thread) write.
 */
#ifndef VG_RDP_PRIV_H
#define VG_RDP_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <freerdp/freerdp.h>
#include <freerdp/peer.h>
#include <glib.h>
#include <pixman.h>
#include <winpr/synch.h>

#include "rdp-pcb.h"
#include "rdp-server.h"
#include "scroll.h"
#include "surface.h"

/* At most this many GFX frames sent and not yet acknowledged. */
#define VG_RDP_MAX_UNACKED 3
/* With acknowledgements suspended by the client: no new frame while the
 * socket's send queue holds this many bytes (about what 3 frames of
 * scrolling text at 1024x768 take). */
#define VG_RDP_SUSPENDED_QUEUE_MAX (512 * 1024)

typedef struct vg_rdp_gfx vg_rdp_gfx;

struct vg_rdp_peer {
    vg_rdp_server *server;
    freerdp_peer *client;
    int fd;
    char name[80]; /* peer address, for logs */
    vg_rdp_pcb pcb;
    bool lossless;
    const char *h264_preset; /* the server's, for the H.264 encoder */

    /* Login. */
    char nla_user[65];   /* set when NTLM asked for this user's hash */
    bool nla_hash_given; /* ... and got it */
    bool nla_done;       /* Logon came: NTLM accepted the answer */
    bool grant;          /* the NLA password was a redirection grant for grant_vm */
    char grant_vm[256];
    bool redirecting;         /* the login sent the client elsewhere: redirect it */
    vg_rdp_redirect redirect; /* ... there (the password wiped once sent) */
    bool logged_in;
    char user[65];
    void *conn;
    vg_display_source *source; /* the VM's, borrowed from login until ended */
    vg_surface *surface;       /* the source's, while listening */
    bool attached;

    /* Written from other threads. */
    GMutex lock;
    HANDLE wake; /* set with anything below */
    pixman_region32_t damage;
    bool resized;
    bool cursor_dirty;
    vg_cursor cursor; /* a copy; argb owned */
    bool closed;
    bool kicked;
    char end_reason[160];

    /* The server's stall watchdog only (under the server's lock). */
    int outq_last;       /* bytes in the socket's send queue at the last look */
    int64_t stall_since; /* vg_now_us() since when it has not moved; 0: moving */

    /* Peer thread only: since when a GFX frame has been awaiting its
     * acknowledgement with damage waiting behind it (0: not waiting). */
    int64_t acks_awaited_since;

    /* Peer thread only. */
    bool active;     /* activated, not deactivated for a resize */
    bool suppressed; /* the client asked for no updates (minimised) */
    uint32_t width, height;
    uint32_t announced_w, announced_h; /* in the last Demand Active */
    uint8_t *pixels;                   /* this viewer's copy of what it is sent, width*height*4 */
    size_t stride;
    vg_scroll_history moves_seen;       /* what its move searches remember (scroll.h) */
    HANDLE vcm;                         /* virtual channel manager */
    vg_rdp_gfx *gfx;                    /* NULL: legacy path */
    struct vg_rdp_planar *planar;       /* legacy path encoder, made on first use */
    bool planar_off;                    /* the client wants an alpha plane: uncompressed */
    struct s_disp_server_context *disp; /* display control, or NULL */
    bool disp_tried;
    bool gfx_failed;       /* the client announced GFX but its channel did not open */
    bool pause_seen;       /* E1 1D came: drop the 45 that follows */
    bool unicode_seen;     /* logged once */
    struct vg_viewer *input; /* keys and pointer to the VM (from login on) */
    uint32_t buttons;        /* VG_BUTTON_* the client holds */
    uint32_t locks;        /* KBD_SYNC_* the client said last */
    bool locks_known;
    int32_t last_x, last_y;

    /* Batched output (rdp-server.c): PDUs the peer thread writes while
     * batching are gathered in `batch` and written together. */
    pthread_t thread;
    int (*write_pdu)(rdpTransport *transport, wStream *s); /* FreeRDP's own */
    wStream *batch;
    bool batching;
};

/* rdp-server.c: end the connection from the peer's own thread. */
void vg_rdp_peer_fail(vg_rdp_peer *p, const char *reason);

/* rdp-legacy.c */
/** Send @rects (peer copy coordinates) as bitmap updates. false: the connection failed. */
bool vg_rdp_legacy_send(vg_rdp_peer *p, const pixman_region32_t *region);
/** Tell the client the desktop size changed (DesktopResize). */
bool vg_rdp_legacy_resize(vg_rdp_peer *p);
/** Send a pointer shape. */
bool vg_rdp_send_pointer(vg_rdp_peer *p, const vg_cursor *cursor);

/* rdp-gfx.c */
/**
 * Open the graphics pipeline channel if the client announced support. The
 * pipeline becomes usable once the client confirmed its capabilities.
 * @return 0 opened (or pending), -ENOTSUP the client has no GFX, <0 error.
 */
int vg_rdp_gfx_open(vg_rdp_peer *p);
/** Handle to wait on for the channel's messages, or NULL. */
HANDLE vg_rdp_gfx_event(vg_rdp_gfx *g);
/** Process pending channel messages. false: the channel failed. */
bool vg_rdp_gfx_poll(vg_rdp_gfx *g);
/** Capabilities confirmed and the surface is ready. */
bool vg_rdp_gfx_ready(vg_rdp_gfx *g);
/** The client cannot take a frame now (too many unacknowledged or, with
 * acknowledgements suspended, too many bytes queued on the socket). */
bool vg_rdp_gfx_busy(vg_rdp_gfx *g);
/** The client suspended frame acknowledgements: busy ends without an event. */
bool vg_rdp_gfx_acks_suspended(vg_rdp_gfx *g);
/**
 * Send one frame: first the client moves parts of what it shows, @moves in
 * their order (the peer's copy was moved the same way); then @region of the
 * peer's copy, encoded. false: failed.
 */
bool vg_rdp_gfx_send(vg_rdp_gfx *g, const pixman_region32_t *region, const vg_scroll *moves,
                     int n_moves);
/**
 * H.264 left blurred areas and the motion has paused long enough: a frame
 * (even without damage) should refine them. Otherwise, when refinement is
 * pending, @wait_ms (if not NULL) receives how long until it is due.
 */
bool vg_rdp_gfx_refine_due(vg_rdp_gfx *g, int *wait_ms);
/** The desktop changed size: reset the graphics and make a new surface. */
bool vg_rdp_gfx_resize(vg_rdp_gfx *g);
void vg_rdp_gfx_free(vg_rdp_gfx *g);

#endif /* VG_RDP_PRIV_H */
