/*
 * vmgate — console: libvncclient on a libvirt graphics socket.
 *
 * Threading: each console has one thread, its vg_rfb_loop (rfb-loop.c),
 * that owns the rfbClient: it does the handshake (console_start), reads
 * server messages and writes every client message. Other threads queue
 * input (send_key, send_pointer) through the loop; nothing else touches the
 * rfbClient, since libvncclient's writes are not thread-safe. `close_lock`
 * serialises vg_console_close().
 *
 * libvncclient 0.9.14 workarounds (see DESIGN.md):
 *  - rfbInitClient() would send SetEncodings with ExtendedDesktopSize
 *    (-308), whose reply from QEMU (screen id 0) libvncclient mishandles and
 *    desyncs on. We run the handshake steps ourselves and send our own
 *    SetPixelFormat/SetEncodings: raw, RichCursor, DesktopSize and QEMU
 *    extended key events only.
 *  - WaitForMessage() ignores bytes already in client->buffered; the loop
 *    polls the socket itself and checks `buffered` first.
 *  - libvncclient select()s on the socket: the fd must be < FD_SETSIZE.
 *  - Pixels: GotBitmap is overridden so that raw rectangles are copied
 *    straight into the surface (one copy), and client->frameBuffer stays
 *    NULL; only raw is negotiated, so no other decoder writes to it.
 */
#include "console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <glib.h>
#include <rfb/rfbclient.h>

#include "log.h"
#include "rfb-loop.h"
#include "rfb-setup.h"
#include "util.h"

#define TAG "console"
/* Seconds libvncclient waits for a stalled read before giving up. */
#define VG_CONSOLE_READ_TIMEOUT 15

struct vg_console {
    vg_display_source base; /* first */
    gint refs;
    GMutex close_lock;
    bool closed;
    char *name;
    int fd;
    rfbClient *cl;
    vg_rfb_loop *loop;
    vg_console_events events;
    void *opaque;

    gint ext_keys;          /* atomic: extended key events acknowledged */
    uint32_t width, height; /* console thread only */
    char *refusal;          /* set by the console thread before it reports lost */
};

/* vg_console_set_max_screen(), atomic. */
static gint max_screen_w = 8192, max_screen_h = 8192;

void vg_console_set_max_screen(uint32_t width, uint32_t height)
{
    g_atomic_int_set(&max_screen_w, (gint)MIN(width, (uint32_t)G_MAXINT));
    g_atomic_int_set(&max_screen_h, (gint)MIN(height, (uint32_t)G_MAXINT));
}

const char *vg_console_refusal(vg_console *c)
{
    return c->refusal;
}

static int tag_key; /* address used as libvncclient client-data tag */

static vg_console *console_of(rfbClient *cl)
{
    return rfbClientGetClientData(cl, &tag_key);
}

static rfbBool cb_malloc_framebuffer(rfbClient *cl)
{
    vg_console *c = console_of(cl);
    int r;

    if (cl->width <= 0 || cl->height <= 0) {
        vg_warning(TAG, "vm=%s: server announced an empty screen %dx%d", c->name, cl->width,
                   cl->height);
        return FALSE;
    }
    if (cl->width > g_atomic_int_get(&max_screen_w) ||
        cl->height > g_atomic_int_get(&max_screen_h)) {
        if (!c->refusal)
            c->refusal = g_strdup_printf(
                "the VM's screen mode %dx%d is larger than this gateway serves (%dx%d at most)",
                cl->width, cl->height, g_atomic_int_get(&max_screen_w),
                g_atomic_int_get(&max_screen_h));
        vg_warning(TAG, "vm=%s: %s", c->name, c->refusal);
        return FALSE;
    }
    r = vg_surface_resize(c->base.surface, (uint32_t)cl->width, (uint32_t)cl->height);
    if (r < 0) {
        vg_warning(TAG, "vm=%s: cannot use screen size %dx%d: %s", c->name, cl->width, cl->height,
                   g_strerror(-r));
        return FALSE;
    }
    c->width = (uint32_t)cl->width;
    c->height = (uint32_t)cl->height;
    cl->frameBuffer = NULL;
    vg_info(TAG, "vm=%s: screen %ux%u", c->name, c->width, c->height);
    return TRUE;
}

static void cb_got_bitmap(rfbClient *cl, const uint8_t *buffer, int x, int y, int w, int h)
{
    vg_console *c = console_of(cl);
    if (x < 0 || y < 0 || w < 0 || h < 0 ||
        vg_surface_write(c->base.surface, (uint32_t)x, (uint32_t)y, (uint32_t)w, (uint32_t)h,
                         buffer, (size_t)w * 4) < 0)
        vg_warning(TAG, "vm=%s: rectangle %d,%d %dx%d outside the %ux%u screen, dropped", c->name,
                   x, y, w, h, c->width, c->height);
}

static void cb_got_update(rfbClient *cl, int x, int y, int w, int h)
{
    (void)cl;
    (void)x;
    (void)y;
    (void)w;
    (void)h;
}

static void cb_finished_update(rfbClient *cl)
{
    vg_console *c = console_of(cl);

    if (!g_atomic_int_get(&c->ext_keys) && SupportsClient2Server(cl, rfbQemuEvent)) {
        g_atomic_int_set(&c->ext_keys, 1);
        vg_debug(TAG, "vm=%s: extended key events acknowledged", c->name);
    }
    /* libvncclient has already asked for the next incremental update. */
    vg_surface_commit(c->base.surface);
}

static void cb_got_cursor(rfbClient *cl, int xhot, int yhot, int width, int height, int bpp)
{
    vg_console *c = console_of(cl);
    vg_cursor cur;
    size_t n;

    if (bpp != 4 || !cl->rcSource || !cl->rcMask || width <= 0 || height <= 0 ||
        vg_image_size((uint32_t)width, (uint32_t)height, 4, &n) < 0)
        return;
    cur.width = (uint32_t)width;
    cur.height = (uint32_t)height;
    cur.hot_x = xhot >= 0 && xhot < width ? (uint32_t)xhot : 0;
    cur.hot_y = yhot >= 0 && yhot < height ? (uint32_t)yhot : 0;
    /* Sized by the guest: drop the shape rather than abort on failure. */
    cur.argb = g_try_malloc(n);
    if (!cur.argb) {
        vg_warning(TAG, "vm=%s: no memory for a %dx%d pointer shape", c->name, width, height);
        return;
    }
    for (size_t i = 0; i < (size_t)width * (size_t)height; i++) {
        uint32_t px;
        memcpy(&px, cl->rcSource + i * 4, 4);
        cur.argb[i] = (px & 0x00ffffff) | (cl->rcMask[i] ? 0xff000000u : 0);
    }
    vg_surface_set_cursor(c->base.surface, &cur);
    g_free(cur.argb);
}

static void cb_cut_text(rfbClient *cl, const char *text, int len)
{
    (void)cl;
    (void)text;
    (void)len;
}

/* ops->lost of the loop: once, and never once vg_console_close() began. */
static void console_lost(void *opaque, const char *why)
{
    vg_console *c = opaque;

    vg_notice(TAG, "vm=%s: upstream console ended: %s", c->name, why);
    if (c->events.lost)
        c->events.lost(c->opaque, c, why);
}

static int console_start(void *opaque, rfbClient *cl)
{
    vg_console *c = opaque;

    if (!InitialiseRFBConnection(cl)) {
        vg_rfb_loop_lost(c->loop, "RFB handshake with the VM's display failed");
        return -EPROTO;
    }
    if (!vg_rfb_start(cl)) {
        vg_rfb_loop_lost(c->loop, "RFB setup with the VM's display failed");
        return -EPROTO;
    }
    vg_info(TAG, "vm=%s: console connected (%s)", c->name, cl->desktopName ? cl->desktopName : "");
    return 0;
}

static const vg_rfb_loop_ops console_loop_ops = {
    .start = console_start,
    .lost = console_lost,
};

static int console_send_key(vg_display_source *src, uint16_t qnum, uint32_t keysym, bool down)
{
    return vg_rfb_loop_send_key(((vg_console *)src)->loop, qnum, keysym, down);
}

static int console_send_pointer(vg_display_source *src, int32_t x, int32_t y, uint32_t buttons)
{
    return vg_rfb_loop_send_pointer(((vg_console *)src)->loop, x, y, buttons);
}

static const vg_display_source_ops console_ops = {
    .send_key = console_send_key,
    .send_pointer = console_send_pointer,
    .request_resize = NULL, /* QEMU's VNC server cannot change the guest's mode */
};

int vg_console_new(const char *name, int fd, const vg_console_events *events, void *opaque,
                   vg_console **out)
{
    vg_rfb_loop_params loop_params = {.tag = TAG,
                                      .closed_why = "the VM's display connection closed"};
    g_autofree char *prefix = NULL;
    vg_console *c;
    rfbClient *cl;

    if (fd < 0)
        return -EBADF;
    if (fd >= FD_SETSIZE) {
        close(fd);
        return -EMFILE;
    }
    vg_rfb_log_install();

    c = g_new0(vg_console, 1);
    c->base.ops = &console_ops;
    c->base.surface = vg_surface_new();
    c->refs = 1;
    g_mutex_init(&c->close_lock);
    c->name = g_strdup(name);
    c->fd = fd;
    c->opaque = opaque;
    if (events)
        c->events = *events;

    cl = rfbGetClient(8, 3, 4);
    if (!cl)
        goto fail;
    c->cl = cl;
    rfbClientSetClientData(cl, &tag_key, c);
    cl->sock = fd;
    c->fd = -1; /* owned by the rfbClient from here */
    cl->listenSpecified = TRUE;
    cl->readTimeout = VG_CONSOLE_READ_TIMEOUT;
    cl->canHandleNewFBSize = TRUE;
    cl->MallocFrameBuffer = cb_malloc_framebuffer;
    cl->GotBitmap = cb_got_bitmap;
    cl->GotFrameBufferUpdate = cb_got_update;
    cl->FinishedFrameBufferUpdate = cb_finished_update;
    cl->GotCursorShape = cb_got_cursor;
    cl->GotXCutText = cb_cut_text;
    cl->programName = "vmgate";

    prefix = g_strdup_printf("vm=%s: ", name);
    loop_params.prefix = prefix;
    if (vg_rfb_loop_new(cl, &loop_params, &console_loop_ops, c, &c->loop) < 0 ||
        vg_rfb_loop_start(c->loop, "vg-console") < 0)
        goto fail;
    *out = c;
    return 0;

fail:
    vg_rfb_loop_free(c->loop);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->cl) {
        if (c->cl->sock < 0)
            c->cl->sock = RFB_INVALID_SOCKET;
        rfbClientCleanup(c->cl);
        c->cl = NULL;
    }
    vg_surface_unref(c->base.surface);
    g_mutex_clear(&c->close_lock);
    g_free(c->name);
    g_free(c);
    return -ENOMEM;
}

void vg_console_close(vg_console *c, const char *reason)
{
    g_mutex_lock(&c->close_lock);
    if (c->closed) {
        g_mutex_unlock(&c->close_lock);
        return;
    }
    c->closed = true;
    vg_rfb_loop_stop(c->loop);

    vg_surface_close(c->base.surface, reason ? reason : "console closed");
    if (c->cl) {
        free(c->cl->rcSource);
        free(c->cl->rcMask);
        c->cl->rcSource = NULL;
        c->cl->rcMask = NULL;
        rfbClientCleanup(c->cl);
        c->cl = NULL;
    }
    g_mutex_unlock(&c->close_lock);
}

vg_console *vg_console_ref(vg_console *c)
{
    g_atomic_int_inc(&c->refs);
    return c;
}

void vg_console_unref(vg_console *c)
{
    if (!c || !g_atomic_int_dec_and_test(&c->refs))
        return;
    vg_console_close(c, NULL);
    vg_rfb_loop_free(c->loop);
    vg_surface_unref(c->base.surface);
    g_mutex_clear(&c->close_lock);
    g_free(c->name);
    g_free(c->refusal);
    g_free(c);
}

void vg_console_free(vg_console *c, const char *reason)
{
    if (!c)
        return;
    vg_console_close(c, reason);
    vg_console_unref(c);
}

vg_display_source *vg_console_source(vg_console *c)
{
    return &c->base;
}

vg_surface *vg_console_surface(vg_console *c)
{
    return c->base.surface;
}

bool vg_console_has_extended_keys(vg_console *c)
{
    return g_atomic_int_get(&c->ext_keys) != 0;
}
