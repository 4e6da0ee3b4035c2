/*
 * vmgate — a VM's screen served by libvncserver without a listening socket.
 *
 * Threading:
 *  - The event thread (one per screen) owns `rfb` (the rfbScreenInfo), its
 *    clients, the pixel copy `fb` and the pointer shape `shape`. It runs the
 *    queued work, then rfbProcessEvents(), in a loop; libvncserver's client
 *    list and its writes are not thread-safe, so nothing else touches them.
 *  - The surface's producer thread runs the listener callbacks. They only
 *    update the pending state under `lock` and wake the event thread through
 *    `wake_fd`, an eventfd in libvncserver's own select() set; pixels are
 *    copied and encoded on the event thread only.
 *  - Any thread: vg_vnc_screen_add_client() and vg_vnc_screen_kick() queue
 *    commands under `lock`.
 * Lock order: the surface's listener lock, then `lock` (the callbacks run
 * under the former). The event thread never holds `lock` while it takes the
 * surface's pixel lock, and holds no lock while it calls the ops.
 *
 * libvncserver 0.9.14 details (DESIGN.md §5):
 *  - port = ipv6port = 0, autoPort FALSE, httpPort = http6Port = 0: no
 *    socket is bound.
 *  - ignoreSIGPIPE FALSE: rfbInitServer() would otherwise ignore SIGPIPE for
 *    the whole process; the event thread blocks it instead.
 *  - Software cursor: libvncserver draws screen->cursor into the framebuffer
 *    for clients without cursor-shape updates. screen->cursor stays NULL
 *    except during one update to a client that takes cursor shapes
 *    (displayHook / displayFinishedHook). That is safe because only the
 *    event thread sends updates.
 *  - rfbNewFramebuffer() resets the server pixel format to its default (red
 *    shift 0); set_format() restores BGRX32 and the clients' translation.
 *  - alwaysShared: a client asking for exclusive access would otherwise
 *    disconnect the VM's other viewers; sharing is the session's decision.
 *  - Protocol extensions are process-global: the QEMU extended key event
 *    extension is registered once and only acts on clients of our screens.
 */
#include "vnc-screen.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <unistd.h>

#include <glib.h>
#include <rfb/rfb.h>

#include "keymap.h"
#include "log.h"
#include "metrics.h"
#include "scroll.h"
#include "util.h"

#define TAG "vnc"

/* Longest select() wait when nothing wakes the thread (µs; select() wants
 * tv_usec below one second). */
#define EVENT_TIMEOUT_US 200000
/* Shown until the surface has a size. */
#define PLACEHOLDER_W 640
#define PLACEHOLDER_H 480
/* A resize racing the copy is retried this often, then left to the next
 * resize notification. */
#define RESIZE_RETRIES 3

/* QEMU extended key events (DESIGN.md §6): the pseudo-encoding a client
 * announces, and message type 255 subtype 0: u8 type, u8 subtype,
 * u16 down, u32 keysym, u32 keycode. */
#define QEMU_EXT_KEY_ENCODING (-258)
#define QEMU_MSG_SUBTYPE_KEY  0
#define QEMU_EXT_KEY_MSG_LEN  12

/* The largest pointer shape sent as it is: libvncserver 0.9.14 sends a
 * shape only if its RichCursor rectangle fits its update buffer
 * (UPDATE_BUF_SIZE, 32 KiB: about 88 x 88 at 32 bpp); a larger one fails
 * the update after it has taken the viewer's request, without closing the
 * viewer, which then waits for an update that never comes. Larger shapes
 * are cut to a square of this side around the hotspot (see fit_shape). */
#define SENT_CURSOR_MAX 64

/* Above this qnum a keycode is not a QEMU key number. */
#define QNUM_MAX 0xff

typedef enum cmd_kind { CMD_ADD, CMD_KICK } cmd_kind;

typedef struct cmd {
    cmd_kind kind;
    int fd; /* CMD_ADD */
    void *viewer;
    char reason[VG_VNC_SCREEN_REASON_MAX]; /* CMD_KICK */
} cmd;

/* cl->clientData of each viewer. */
typedef struct screen_client {
    vg_vnc_screen *screen;
    void *viewer;
    char reason[VG_VNC_SCREEN_REASON_MAX]; /* why we closed it; empty if it left */
    bool ext_keys;                         /* announced QEMU extended key events */
    bool reack;                            /* repeat the acknowledgement after this update */
    bool size_untold; /* the screen's size changed after its ServerInit, before it asked for
                         DesktopSize: tell it before its next update */
} screen_client;

struct vg_vnc_screen {
    gint metric_proto;   /* vg_metric_proto its frames count under (atomic) */
    vg_surface *surface; /* reference */
    const vg_vnc_screen_ops *ops;
    int wake_fd;
    GThread *thread;
    bool listening; /* registered with the surface */

    GMutex lock; /* the block below */
    bool quit;
    bool wake_pending; /* wake_fd written since the event thread last looked */
    bool resize_pending;
    pixman_region32_t damage;
    vg_cursor cursor; /* pending shape (argb owned), valid if cursor_pending */
    bool cursor_pending;
    bool closed;
    char closed_reason[VG_VNC_SCREEN_REASON_MAX];
    GQueue cmds; /* of cmd */

    /* Event thread only (and vg_vnc_screen_free() after the join). */
    rfbScreenInfoPtr rfb;
    uint8_t *fb;
    uint32_t fb_w, fb_h;
    vg_scroll_history moves_seen; /* what its move searches remember (scroll.h) */
    rfbCursorPtr shape;
    bool closed_done; /* viewers were disconnected because the surface closed */
    bool stopping;    /* being freed: no more callbacks */
};

static void kbd_event(rfbBool down, rfbKeySym keysym, rfbClientPtr cl);
static void send_ext_key_ack(rfbClientPtr cl);
static rfbProtocolExtension qemu_ext_key;

/* ---- waking the event thread ----------------------------------------- */

static void wake_locked(vg_vnc_screen *s)
{
    uint64_t one = 1;

    if (s->wake_pending)
        return;
    s->wake_pending = true;
    if (write(s->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        vg_debug(TAG, "screen wake-up: %s", g_strerror(errno));
}

/* ---- surface listener (producer thread): record and wake ----------------- */

static void on_damage(void *opaque, const pixman_region32_t *damage)
{
    vg_vnc_screen *s = opaque;

    g_mutex_lock(&s->lock);
    pixman_region32_union(&s->damage, &s->damage, damage);
    wake_locked(s);
    g_mutex_unlock(&s->lock);
}

static void on_resize(void *opaque, uint32_t width, uint32_t height)
{
    vg_vnc_screen *s = opaque;

    (void)width; /* the event thread reads the size under the pixel lock */
    (void)height;
    g_mutex_lock(&s->lock);
    s->resize_pending = true;
    pixman_region32_clear(&s->damage);
    wake_locked(s);
    g_mutex_unlock(&s->lock);
}

/* The start of a window of @len inside [@lo, @hi) (len <= hi - lo) that
 * holds @hot (lo <= hot < hi): centred on it where the range allows. */
static uint32_t window_start(uint32_t hot, uint32_t lo, uint32_t hi, uint32_t len)
{
    uint32_t start = hot > len / 2 ? hot - len / 2 : 0;

    return MIN(MAX(start, lo), hi - len);
}

/*
 * The part of @c that is sent: all of it when it is at most
 * SENT_CURSOR_MAX square; else what the mask shows (and the hotspot), cut
 * to SENT_CURSOR_MAX square around the hotspot if still larger. Writes
 * the copy's pixels (g_try_malloc) to @out. @return false without memory.
 */
static bool fit_shape(const vg_cursor *c, vg_cursor *out)
{
    uint32_t x1 = c->hot_x, y1 = c->hot_y, x2 = c->hot_x + 1, y2 = c->hot_y + 1, w, h;

    if (c->width > SENT_CURSOR_MAX || c->height > SENT_CURSOR_MAX) {
        for (uint32_t y = 0; y < c->height; y++) {
            for (uint32_t x = 0; x < c->width; x++) {
                if ((c->argb[(size_t)y * c->width + x] >> 24) >= 0x80) { /* make_shape's mask */
                    x1 = MIN(x1, x), y1 = MIN(y1, y);
                    x2 = MAX(x2, x + 1), y2 = MAX(y2, y + 1);
                }
            }
        }
        w = MIN(x2 - x1, SENT_CURSOR_MAX);
        h = MIN(y2 - y1, SENT_CURSOR_MAX);
        x1 = window_start(c->hot_x, x1, x2, w);
        y1 = window_start(c->hot_y, y1, y2, h);
    } else {
        x1 = y1 = 0, w = c->width, h = c->height;
    }
    /* w, h <= VG_VNC_SCREEN_CURSOR_MAX, checked by the caller */
    out->argb = g_try_malloc((size_t)w * h * 4);
    if (!out->argb)
        return false;
    for (uint32_t y = 0; y < h; y++)
        memcpy(out->argb + (size_t)y * w, c->argb + (size_t)(y1 + y) * c->width + x1,
               (size_t)w * 4);
    out->width = w;
    out->height = h;
    out->hot_x = c->hot_x - x1;
    out->hot_y = c->hot_y - y1;
    return true;
}

static void on_cursor(void *opaque, const vg_cursor *cursor)
{
    vg_vnc_screen *s = opaque;
    vg_cursor fitted;
    size_t bytes;

    if (cursor->width == 0 || cursor->height == 0 || cursor->width > VG_VNC_SCREEN_CURSOR_MAX ||
        cursor->height > VG_VNC_SCREEN_CURSOR_MAX || cursor->hot_x >= cursor->width ||
        cursor->hot_y >= cursor->height ||
        vg_image_size(cursor->width, cursor->height, 4, &bytes) < 0) {
        vg_debug(TAG, "pointer shape %ux%u not passed on", cursor->width, cursor->height);
        return;
    }
    if (!fit_shape(cursor, &fitted))
        return;
    if (fitted.width != cursor->width || fitted.height != cursor->height)
        vg_debug(TAG, "pointer shape %ux%u sent as %ux%u", cursor->width, cursor->height,
                 fitted.width, fitted.height);

    g_mutex_lock(&s->lock);
    g_free(s->cursor.argb);
    s->cursor = fitted;
    s->cursor_pending = true;
    wake_locked(s);
    g_mutex_unlock(&s->lock);
}

static void on_closed(void *opaque, const char *reason)
{
    vg_vnc_screen *s = opaque;

    g_mutex_lock(&s->lock);
    s->closed = true;
    g_strlcpy(s->closed_reason, reason ? reason : "the VM's display closed",
              sizeof(s->closed_reason));
    wake_locked(s);
    g_mutex_unlock(&s->lock);
}

static const vg_surface_listener_ops listener_ops = {
    .damage = on_damage,
    .resize = on_resize,
    .cursor = on_cursor,
    .closed = on_closed,
};

/* ---- pixels (event thread) ------------------------------------------------ */

/* BGRX32 in host order; libvncserver's default after rfbGetScreen() and
 * rfbNewFramebuffer() is RGBX. */
static void set_format(rfbScreenInfoPtr rfb)
{
    rfb->serverFormat.bitsPerPixel = 32;
    rfb->serverFormat.depth = 24;
    rfb->serverFormat.trueColour = TRUE;
    rfb->serverFormat.redMax = 255;
    rfb->serverFormat.greenMax = 255;
    rfb->serverFormat.blueMax = 255;
    rfb->serverFormat.redShift = 16;
    rfb->serverFormat.greenShift = 8;
    rfb->serverFormat.blueShift = 0;
}

/* Copy the rectangles of @region (inside both) from the surface into @dst,
 * @dst_w pixels wide. Under the surface's pixel lock. */
static void copy_region_locked(vg_vnc_screen *s, uint8_t *dst, uint32_t dst_w,
                               const pixman_region32_t *region)
{
    const uint8_t *src = vg_surface_pixels_locked(s->surface);
    size_t src_stride = vg_surface_stride_locked(s->surface);
    size_t dst_stride = (size_t)dst_w * VG_SURFACE_BPP;
    int n = 0;
    const pixman_box32_t *b = pixman_region32_rectangles(region, &n);

    for (int i = 0; i < n; i++) {
        size_t x = (size_t)b[i].x1 * VG_SURFACE_BPP;
        size_t len = (size_t)(b[i].x2 - b[i].x1) * VG_SURFACE_BPP;
        for (int y = b[i].y1; y < b[i].y2; y++)
            memcpy(dst + (size_t)y * dst_stride + x, src + (size_t)y * src_stride + x, len);
    }
}

static void mark_modified(vg_vnc_screen *s, const pixman_region32_t *region)
{
    int n = 0;
    const pixman_box32_t *b = pixman_region32_rectangles(region, &n);

    for (int i = 0; i < n; i++)
        rfbMarkRectAsModified(s->rfb, b[i].x1, b[i].y1, b[i].x2, b[i].y2);
}

/*
 * A new framebuffer of @w × @h with the surface's pixels.
 * @return 0, -EAGAIN if the surface changed size meanwhile, -ENOMEM.
 */
static int replace_framebuffer(vg_vnc_screen *s, uint32_t w, uint32_t h)
{
    rfbClientIteratorPtr it;
    rfbClientPtr cl;
    pixman_region32_t all;
    size_t bytes;
    uint8_t *fb, *old;
    int r = vg_image_size(w, h, VG_SURFACE_BPP, &bytes);

    if (r < 0)
        return r;
    fb = g_try_malloc(bytes);
    if (!fb) {
        vg_warning(TAG, "no memory for a %ux%u screen", w, h);
        return -ENOMEM;
    }
    pixman_region32_init_rect(&all, 0, 0, w, h);
    vg_surface_lock(s->surface);
    if (vg_surface_width_locked(s->surface) != w || vg_surface_height_locked(s->surface) != h) {
        vg_surface_unlock(s->surface);
        pixman_region32_fini(&all);
        g_free(fb);
        return -EAGAIN;
    }
    copy_region_locked(s, fb, w, &all);
    vg_surface_unlock(s->surface);
    pixman_region32_fini(&all);

    /* Marks every client's whole screen modified and queues DesktopSize
     * (or ExtendedDesktopSize) for the clients that announced it. */
    rfbNewFramebuffer(s->rfb, (char *)fb, (int)w, (int)h, 8, 3, VG_SURFACE_BPP);
    set_format(s->rfb);
    it = rfbGetClientIterator(s->rfb);
    while ((cl = rfbClientIteratorNext(it))) {
        screen_client *c = cl->clientData;

        s->rfb->setTranslateFunction(cl);
        /* rfbNewFramebuffer() tells only the viewers that have announced
         * DesktopSize; one past its ServerInit (old size) whose
         * SetEncodings is still to come would never hear of the new one. */
        if (c && cl->state == RFB_NORMAL && !cl->useNewFBSize)
            c->size_untold = true;
    }
    rfbReleaseClientIterator(it);
    old = s->fb;
    s->fb = fb;
    s->fb_w = w;
    s->fb_h = h;
    g_free(old);
    return 0;
}

/*
 * Whether a scroll may go to the clients as CopyRect: some client takes it,
 * and every client that does also takes cursor shapes (libvncserver's
 * rfbScheduleCopyRegion reads screen->cursor for the others, and vmgate
 * keeps it NULL outside an update; see the top of this file).
 */
static bool copyrect_wanted(vg_vnc_screen *s)
{
    rfbClientIteratorPtr it = rfbGetClientIterator(s->rfb);
    rfbClientPtr cl;
    bool some = false, safe = true;

    while ((cl = rfbClientIteratorNext(it))) {
        if (cl->useCopyRect) {
            some = true;
            safe = safe && cl->enableCursorShapeUpdates;
        }
    }
    rfbReleaseClientIterator(it);
    return some && safe;
}

/*
 * With clients that take CopyRect, look for what the guest scrolled or
 * moved (vg_scroll_take_moves, which moves it in the copy): tell the
 * clients to move it too, in the same order (libvncserver sends CopyRect to
 * those that take it, and the pixels to the others); the moves have left
 * @damage. Under the surface's pixel lock, the surface the copy's size.
 */
static void move_scrolled_locked(vg_vnc_screen *s, pixman_region32_t *damage)
{
    vg_scroll moves[VG_SCROLL_MAX_MOVES];
    int n;

    if (!copyrect_wanted(s))
        return;
    n = vg_scroll_take_moves(s->fb, (size_t)s->fb_w * VG_SURFACE_BPP,
                             vg_surface_pixels_locked(s->surface),
                             vg_surface_stride_locked(s->surface), s->fb_w, s->fb_h, damage,
                             &s->moves_seen, moves);
    /* libvncserver names the destination and the move: source = dest - (dx, dy). */
    for (int i = 0; i < n; i++)
        rfbScheduleCopyRect(s->rfb, moves[i].x1, moves[i].y1, moves[i].x2, moves[i].y2,
                            -moves[i].dx, -moves[i].dy);
}

/* Bring the copy up to date: @damage, or everything when @full. */
static void update_pixels(vg_vnc_screen *s, bool full, pixman_region32_t *damage)
{
    for (int attempt = 0; attempt < RESIZE_RETRIES; attempt++) {
        uint32_t w, h;

        vg_surface_lock(s->surface);
        w = vg_surface_width_locked(s->surface);
        h = vg_surface_height_locked(s->surface);
        if (w == 0 || h == 0 || !vg_surface_pixels_locked(s->surface)) {
            vg_surface_unlock(s->surface); /* no mode yet: keep the placeholder */
            return;
        }
        if (w == s->fb_w && h == s->fb_h) {
            if (full)
                pixman_region32_reset(damage, &(pixman_box32_t){0, 0, (int32_t)w, (int32_t)h});
            else
                pixman_region32_intersect_rect(damage, damage, 0, 0, w, h);
            if (!full)
                move_scrolled_locked(s, damage);
            copy_region_locked(s, s->fb, s->fb_w, damage);
            vg_surface_unlock(s->surface);
            mark_modified(s, damage);
            return;
        }
        vg_surface_unlock(s->surface);
        if (replace_framebuffer(s, w, h) != -EAGAIN)
            return;
    }
}

/* ---- pointer shape (event thread) ------------------------------------------ */

/* An rfbCursor from ARGB: colour in the server format, a 1-bit mask where
 * alpha ≥ 50 %. RichCursor has no alpha channel. */
static rfbCursorPtr make_shape(const vg_cursor *c)
{
    size_t mask_stride = (c->width + 7) / 8;
    size_t n = (size_t)c->width * c->height; /* ≤ CURSOR_MAX², checked on entry */
    rfbCursorPtr shape = calloc(1, sizeof(*shape));
    uint32_t *rich = malloc(n * 4);
    uint8_t *mask = calloc(mask_stride * c->height, 1);

    if (!shape || !rich || !mask) {
        free(shape);
        free(rich);
        free(mask);
        return NULL;
    }
    for (uint32_t y = 0; y < c->height; y++) {
        for (uint32_t x = 0; x < c->width; x++) {
            uint32_t p = c->argb[(size_t)y * c->width + x];
            rich[(size_t)y * c->width + x] = p & 0xffffff;
            if ((p >> 24) >= 0x80)
                mask[y * mask_stride + x / 8] |= (uint8_t)(0x80 >> (x % 8));
        }
    }
    shape->width = (unsigned short)c->width;
    shape->height = (unsigned short)c->height;
    shape->xhot = (unsigned short)c->hot_x;
    shape->yhot = (unsigned short)c->hot_y;
    shape->richSource = (unsigned char *)rich;
    shape->mask = mask;
    /* rfbFreeCursor() frees all of it, including an X cursor bitmap that
     * libvncserver derives for clients that only take X cursors. */
    shape->cleanup = shape->cleanupRichSource = shape->cleanupMask = TRUE;
    return shape;
}

static void set_shape(vg_vnc_screen *s, const vg_cursor *c)
{
    rfbClientIteratorPtr it;
    rfbClientPtr cl;
    rfbCursorPtr shape = make_shape(c);

    if (!shape)
        return;
    rfbFreeCursor(s->shape);
    s->shape = shape;
    it = rfbGetClientIterator(s->rfb);
    while ((cl = rfbClientIteratorNext(it)))
        cl->cursorWasChanged = TRUE;
    rfbReleaseClientIterator(it);
}

/* Just before an update to @cl: show libvncserver the shape only if this
 * client takes cursor shapes, so it never draws one into the pixels. */
static void display_hook(rfbClientPtr cl)
{
    vg_vnc_screen *s = cl->screen->screenData;
    screen_client *c = cl->clientData;

    if (cl->enableCursorShapeUpdates && s->shape) {
        cl->screen->cursor = s->shape;
    } else {
        cl->screen->cursor = NULL;
        /* No shape known yet: leave the viewer's own pointer rather than
         * sending an empty (invisible) one. */
        cl->cursorWasChanged = FALSE;
    }
    /* Before any pixels at the new size (libvncserver checks the flag
     * after this hook). */
    if (c && c->size_untold && cl->useNewFBSize) {
        c->size_untold = false;
        cl->newFBSizePending = TRUE;
    }
    /* This update carries libvncserver's SupportedMessages, whose list
     * lacks QEMU's message: a client that trusts it (libvncclient) would
     * stop sending extended key events, so acknowledge them again after. */
    if (c && c->ext_keys && cl->enableSupportedMessages)
        c->reack = true;
}

static void display_finished_hook(rfbClientPtr cl, int result)
{
    screen_client *c = cl->clientData;

    cl->screen->cursor = NULL;
    /* One update sent to this viewer (its bytes are counted by the relay). */
    if (result)
        vg_metrics_frames(c ? g_atomic_int_get(&c->screen->metric_proto) : VG_METRIC_PROTO_VNC,
                          VG_METRIC_CODEC_RFB, 1);
    if (c && c->reack && result) {
        c->reack = false;
        send_ext_key_ack(cl);
    }
}

/* ---- viewers (event thread) ------------------------------------------------ */

/* libvncserver 0.9.14 never frees a client's rfbExtensionData nodes;
 * unlink and free ours (its data is NULL). Called from the gone hook,
 * after rfbCloseClient() has walked the list. */
static void free_ext_data(rfbClientPtr cl)
{
    rfbExtensionData **link = &cl->extensions;

    while (*link) {
        rfbExtensionData *e = *link;
        if (e->extension == &qemu_ext_key) {
            *link = e->next;
            free(e);
        } else {
            link = &e->next;
        }
    }
}

static void client_gone(rfbClientPtr cl)
{
    screen_client *c = cl->clientData;

    free_ext_data(cl);
    cl->clientData = NULL;
    if (!c)
        return;
    if (!c->screen->stopping)
        c->screen->ops->on_gone(c->viewer, c->reason[0] ? c->reason : "the connection ended");
    g_free(c);
}

static void attach_client(vg_vnc_screen *s, int fd, void *viewer, const char *closed_reason)
{
    screen_client *c;
    rfbClientPtr cl;

    if (closed_reason) {
        close(fd);
        s->ops->on_gone(viewer, closed_reason);
        return;
    }
    /* Sends the protocol version at once. On failure libvncserver has
     * closed the socket (only an allocation failure inside it could leave
     * it open, and then we cannot tell). */
    cl = rfbNewClient(s->rfb, fd);
    if (!cl) {
        s->ops->on_gone(viewer, "the VM's screen could not take the connection");
        return;
    }
    c = g_new0(screen_client, 1);
    c->screen = s;
    c->viewer = viewer;
    cl->clientData = c;
    cl->clientGoneHook = client_gone;
}

/* Close clients (all, or the one of @viewer); rfbProcessEvents() then
 * reports them gone with @reason. */
static void close_clients(vg_vnc_screen *s, bool all, void *viewer, const char *reason)
{
    rfbClientIteratorPtr it = rfbGetClientIterator(s->rfb);
    rfbClientPtr cl;

    while ((cl = rfbClientIteratorNext(it))) {
        screen_client *c = cl->clientData;
        if (!c || (!all && c->viewer != viewer))
            continue;
        if (!c->reason[0])
            g_strlcpy(c->reason, reason, sizeof(c->reason));
        rfbCloseClient(cl);
    }
    rfbReleaseClientIterator(it);
}

static void kbd_event(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
    screen_client *c = cl->clientData;

    if (c)
        c->screen->ops->on_key(c->viewer, vg_keymap_keysym_to_qnum(keysym), keysym, down);
}

static void ptr_event(int mask, int x, int y, rfbClientPtr cl)
{
    screen_client *c = cl->clientData;
    rfbScreenInfoPtr rfb = cl->screen;

    if (!c)
        return;
    /* RFB positions are 16-bit: keep them on the screen. */
    x = CLAMP(x, 0, rfb->width - 1);
    y = CLAMP(y, 0, rfb->height - 1);
    c->screen->ops->on_pointer(c->viewer, x, y, (uint32_t)mask & VG_BUTTON_MASK);
}

/* ---- QEMU extended key events (process-wide extension) --------------------- */

static bool is_ours(rfbClientPtr cl)
{
    /* Other libvncserver screens in the process get no QEMU messages. */
    return cl->screen->kbdAddEvent == kbd_event;
}

static rfbBool ext_new_client(rfbClientPtr cl, void **data)
{
    *data = NULL;
    return is_ours(cl);
}

/* Acknowledge QEMU extended key events as QEMU does: a FramebufferUpdate
 * holding one empty rectangle of encoding -258. Between updates only. */
/* The acknowledgement: an update of one pseudo-rectangle of 0x0 at (0, 0).
 * QEMU gives it the screen's size, but clients check even pseudo-rectangles
 * against the size they know (libvncclient ends the connection on one too
 * large), and a viewer whose SetEncodings arrives just after a resize has
 * not been told the new size yet; 0x0 fits every size. */
static void send_ext_key_ack(rfbClientPtr cl)
{
    uint8_t msg[16] = {rfbFramebufferUpdate, 0, 0, 1};

    msg[12] = (uint8_t)((uint32_t)QEMU_EXT_KEY_ENCODING >> 24);
    msg[13] = (uint8_t)((uint32_t)QEMU_EXT_KEY_ENCODING >> 16);
    msg[14] = (uint8_t)((uint32_t)QEMU_EXT_KEY_ENCODING >> 8);
    msg[15] = (uint8_t)QEMU_EXT_KEY_ENCODING;
    if (rfbWriteExact(cl, (const char *)msg, sizeof(msg)) < 0)
        rfbCloseClient(cl);
}

/* SetEncodings named -258: acknowledge at once, as QEMU does (it is
 * processed between updates). */
static rfbBool ext_enable_encoding(rfbClientPtr cl, void **data, int encoding)
{
    screen_client *c = cl->clientData;

    (void)data;
    if (encoding != QEMU_EXT_KEY_ENCODING || !is_ours(cl) || !c)
        return FALSE;
    c->ext_keys = true;
    send_ext_key_ack(cl);
    return TRUE;
}

static rfbBool ext_handle_message(rfbClientPtr cl, void *data, const rfbClientToServerMsg *message)
{
    screen_client *c = cl->clientData;
    uint8_t buf[QEMU_EXT_KEY_MSG_LEN];

    (void)data;
    if (message->type != rfbQemuEvent || !is_ours(cl))
        return FALSE;
    /* The type byte is read; the rest has a fixed length per subtype, and
     * we only know (and announce) the key event. */
    if (rfbReadExact(cl, (char *)buf + 1, 1) <= 0) {
        rfbCloseClient(cl);
        return TRUE;
    }
    if (buf[1] != QEMU_MSG_SUBTYPE_KEY) {
        vg_info(TAG, "viewer sent unknown QEMU message subtype %u: disconnected", buf[1]);
        if (c && !c->reason[0])
            g_strlcpy(c->reason, "unsupported QEMU message from the viewer", sizeof(c->reason));
        rfbCloseClient(cl);
        return TRUE;
    }
    if (rfbReadExact(cl, (char *)buf + 2, QEMU_EXT_KEY_MSG_LEN - 2) <= 0) {
        rfbCloseClient(cl);
        return TRUE;
    }
    bool down = (buf[2] << 8 | buf[3]) != 0;
    uint32_t keysym =
        (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
    uint32_t keycode =
        (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 | (uint32_t)buf[10] << 8 | buf[11];
    uint16_t qnum;

    if (keycode == 0)
        qnum = vg_keymap_keysym_to_qnum(keysym); /* QEMU, too, falls back to the keysym */
    else if (keycode <= QNUM_MAX)
        qnum = (uint16_t)keycode;
    else {
        vg_debug(TAG, "viewer sent key code %#x: ignored", keycode);
        return TRUE;
    }
    if (c && !cl->viewOnly)
        c->screen->ops->on_key(c->viewer, qnum, keysym, down);
    return TRUE;
}

static rfbProtocolExtension qemu_ext_key = {
    .newClient = ext_new_client,
    .enablePseudoEncoding = ext_enable_encoding,
    .handleMessage = ext_handle_message,
};

/* libvncserver's own messages (process-wide hooks): through vmgate's log,
 * escaped and levelled like every other line, not raw on stderr. Both its
 * "rfbLog" chatter (a client attached, its encodings) and its "rfbErr"
 * lines (one client's socket, e.g. TCP_NODELAY on the socketpair) are
 * debug: the front end logs what matters of a viewer's life itself. */
G_GNUC_PRINTF(1, 2) static void rfb_log(const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    if (VG_LOG_DEBUG > vg_log_level_now())
        return;
    va_start(ap, fmt);
    g_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    g_strchomp(buf);
    vg_log_write(VG_LOG_DEBUG, "libvncserver", "%s", buf);
}

static gpointer register_extension(gpointer unused)
{
    (void)unused;
    rfbRegisterProtocolExtension(&qemu_ext_key);
    rfbLog = rfb_log;
    rfbErr = rfb_log;
    return NULL;
}

/* ---- the event thread -------------------------------------------------------- */

/*
 * Take what the other threads left and do it. *busy tells whether anything
 * was done, so that the updates go out without waiting in select().
 * @return false when the thread should end.
 */
static bool run_pending(vg_vnc_screen *s, bool *busy)
{
    uint64_t count;
    pixman_region32_t damage;
    vg_cursor cursor = {0};
    bool resize, cursor_changed, closed;
    char closed_reason[VG_VNC_SCREEN_REASON_MAX] = "";
    GQueue cmds = G_QUEUE_INIT;
    cmd *c;

    if (read(s->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
        vg_debug(TAG, "screen wake-up read: %s", g_strerror(errno));

    g_mutex_lock(&s->lock);
    if (s->quit) {
        g_mutex_unlock(&s->lock);
        return false;
    }
    s->wake_pending = false;
    resize = s->resize_pending;
    s->resize_pending = false;
    pixman_region32_init(&damage);
    pixman_region32_copy(&damage, &s->damage);
    pixman_region32_clear(&s->damage);
    cursor_changed = s->cursor_pending;
    if (cursor_changed) {
        cursor = s->cursor;
        s->cursor.argb = NULL;
        s->cursor_pending = false;
    }
    closed = s->closed;
    if (closed)
        g_strlcpy(closed_reason, s->closed_reason, sizeof(closed_reason));
    cmds = s->cmds;
    g_queue_init(&s->cmds);
    g_mutex_unlock(&s->lock);

    *busy = resize || pixman_region32_not_empty(&damage) || cursor_changed ||
            (closed && !s->closed_done) || cmds.length > 0;
    if (resize || pixman_region32_not_empty(&damage))
        update_pixels(s, resize, &damage);
    pixman_region32_fini(&damage);
    if (cursor_changed)
        set_shape(s, &cursor);
    g_free(cursor.argb);
    if (closed && !s->closed_done) {
        s->closed_done = true;
        close_clients(s, true, NULL, closed_reason);
    }
    while ((c = g_queue_pop_head(&cmds))) {
        if (c->kind == CMD_ADD)
            attach_client(s, c->fd, c->viewer, closed ? closed_reason : NULL);
        else
            close_clients(s, false, c->viewer, c->reason);
        g_free(c);
    }
    return true;
}

static gpointer screen_main(gpointer opaque)
{
    vg_vnc_screen *s = opaque;
    sigset_t pipe_set;
    bool busy = true;

    /* libvncserver writes with write(): a viewer that went away must give
     * EPIPE here, not end the process. */
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);

    /* rfbProcessEvents() select()s (wake_fd included), reads client
     * messages, sends the updates that are due, and reports closed clients
     * gone, so a kick is complete after the next call. */
    while (run_pending(s, &busy))
        rfbProcessEvents(s->rfb, busy ? 0 : EVENT_TIMEOUT_US);
    return NULL;
}

/* ---- public API -------------------------------------------------------------- */

int vg_vnc_screen_new(vg_surface *surface, const vg_vnc_screen_ops *ops, vg_vnc_screen **out)
{
    static GOnce ext_once = G_ONCE_INIT;
    vg_vnc_screen *s;
    rfbScreenInfoPtr rfb;
    GError *error = NULL;
    int r;

    if (!surface || !ops || !ops->on_key || !ops->on_pointer || !ops->on_gone || !out)
        return -EINVAL;
    g_once(&ext_once, register_extension, NULL);

    s = g_new0(vg_vnc_screen, 1);
    s->surface = vg_surface_ref(surface);
    s->ops = ops;
    g_mutex_init(&s->lock);
    pixman_region32_init(&s->damage);
    g_queue_init(&s->cmds);
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->wake_fd < 0) {
        r = -errno;
        goto fail;
    }
    if (s->wake_fd >= FD_SETSIZE) {
        r = -EMFILE;
        goto fail;
    }
    s->fb = g_try_malloc0((size_t)PLACEHOLDER_W * PLACEHOLDER_H * VG_SURFACE_BPP);
    if (!s->fb) {
        r = -ENOMEM;
        goto fail;
    }
    s->fb_w = PLACEHOLDER_W;
    s->fb_h = PLACEHOLDER_H;

    rfb = rfbGetScreen(NULL, NULL, PLACEHOLDER_W, PLACEHOLDER_H, 8, 3, VG_SURFACE_BPP);
    if (!rfb) {
        r = -ENOMEM;
        goto fail;
    }
    s->rfb = rfb;
    rfb->screenData = s;
    rfb->desktopName = "vmgate";
    rfb->port = rfb->ipv6port = 0;
    rfb->autoPort = FALSE;
    rfb->httpPort = rfb->http6Port = 0;
    rfb->cursor = NULL;
    rfb->ignoreSIGPIPE = FALSE;
    rfb->alwaysShared = TRUE;
    rfb->deferUpdateTime = 0; /* latest frame at once; damage is coalesced before */
    rfb->kbdAddEvent = kbd_event;
    rfb->ptrAddEvent = ptr_event;
    rfb->displayHook = display_hook;
    rfb->displayFinishedHook = display_finished_hook;
    rfb->frameBuffer = (char *)s->fb;
    set_format(rfb);
    rfbInitServer(rfb);
    if (rfb->listenSock != RFB_INVALID_SOCKET || rfb->listen6Sock != RFB_INVALID_SOCKET) {
        vg_error(TAG, "libvncserver opened a listening socket for a VM screen");
        r = -EINVAL;
        goto fail;
    }
    /* rfbInitServer() cleared the fd set: add the wake-up now. */
    FD_SET(s->wake_fd, &rfb->allFds);
    rfb->maxFd = MAX(rfb->maxFd, s->wake_fd);

    /* Calls on_resize() at once if the surface has a size: the thread's
     * first round copies the whole screen. */
    r = vg_surface_add_listener(surface, &listener_ops, s);
    if (r < 0)
        goto fail;
    s->listening = true;

    s->thread = g_thread_try_new("vnc-screen", screen_main, s, &error);
    if (!s->thread) {
        vg_warning(TAG, "cannot start a screen thread: %s", error->message);
        g_error_free(error);
        r = -EAGAIN;
        goto fail;
    }
    *out = s;
    return 0;

fail:
    vg_vnc_screen_free(s);
    return r;
}

int vg_vnc_screen_add_client(vg_vnc_screen *screen, int fd, void *viewer_opaque)
{
    cmd *c;

    if (fd < 0)
        return -EBADF;
    if (fd >= FD_SETSIZE) {
        close(fd);
        return -EMFILE;
    }
    g_mutex_lock(&screen->lock);
    if (screen->closed || screen->quit) {
        g_mutex_unlock(&screen->lock);
        close(fd);
        return -EPIPE;
    }
    c = g_new0(cmd, 1);
    c->kind = CMD_ADD;
    c->fd = fd;
    c->viewer = viewer_opaque;
    g_queue_push_tail(&screen->cmds, c);
    wake_locked(screen);
    g_mutex_unlock(&screen->lock);
    return 0;
}

void vg_vnc_screen_kick(vg_vnc_screen *screen, void *viewer_opaque, const char *reason)
{
    cmd *c = g_new0(cmd, 1);

    c->kind = CMD_KICK;
    c->fd = -1;
    c->viewer = viewer_opaque;
    g_strlcpy(c->reason, reason && reason[0] ? reason : "disconnected by the gateway",
              sizeof(c->reason));
    g_mutex_lock(&screen->lock);
    g_queue_push_tail(&screen->cmds, c);
    wake_locked(screen);
    g_mutex_unlock(&screen->lock);
}

void vg_vnc_screen_free(vg_vnc_screen *screen)
{
    vg_vnc_screen *s = screen;
    cmd *c;

    if (!s)
        return;
    /* No surface callback runs after this returns. */
    if (s->listening)
        vg_surface_remove_listener(s->surface, &listener_ops, s);
    if (s->thread) {
        g_mutex_lock(&s->lock);
        s->quit = true;
        wake_locked(s);
        g_mutex_unlock(&s->lock);
        g_thread_join(s->thread);
    }
    /* This thread is the screen's only user now. */
    s->stopping = true;
    if (s->rfb) {
        rfbShutdownServer(s->rfb, TRUE); /* closes the clients; client_gone stays quiet */
        s->rfb->cursor = NULL;
        s->rfb->frameBuffer = NULL;
        rfbScreenCleanup(s->rfb);
    }
    while ((c = g_queue_pop_head(&s->cmds))) {
        if (c->kind == CMD_ADD)
            close(c->fd);
        g_free(c);
    }
    rfbFreeCursor(s->shape);
    g_free(s->fb);
    g_free(s->cursor.argb);
    pixman_region32_fini(&s->damage);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    g_mutex_clear(&s->lock);
    vg_surface_unref(s->surface);
    g_free(s);
}

void vg_vnc_screen_set_metric_protocol(vg_vnc_screen *s, int proto)
{
    g_atomic_int_set(&s->metric_proto, proto);
}
