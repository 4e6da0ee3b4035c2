/*
 * Unit tests: a VM's screen (vnc-screen) seen by a real viewer. A surface
 * with known pixels feeds the screen; libvncclient talks to it directly on
 * a socketpair (no relay: it answers libvncserver's prelude itself, with
 * security None), asks for raw BGRX32 and drives the client from the test
 * thread. The viewer must see the surface's pixels exactly, follow changes
 * and resizes, get the pointer shape without it being drawn into the
 * pixels, and its input must reach the ops with the right key numbers.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <rfb/rfb.h>
#include <rfb/rfbclient.h>

#include "keymap.h"
#include "surface.h"
#include "util.h"
#include "vnc-screen.h"

#define W       64
#define H       48
#define WAIT_MS 5000
/* QEMU extended key events (pseudo-encoding), as the screen acknowledges them. */
#define QEMU_EXT_KEY_EVENT (-258)
#define MAX_KEYS           16
#define REASON_SZ          160

/* ---- what the screen reported ---- */

typedef struct key_rec {
    void *viewer;
    uint16_t qnum;
    uint32_t keysym;
    bool down;
} key_rec;

typedef struct events {
    GMutex lock;
    GCond cond;
    key_rec keys[MAX_KEYS];
    int nkeys;
    int pointers;
    void *ptr_viewer;
    int32_t x, y;
    uint32_t buttons;
    int gone;
    void *gone_viewer;
    char gone_reason[REASON_SZ];
} events;

static events ev;
static int viewer_a, viewer_b; /* their addresses are the viewers' opaque pointers */

static void on_key(void *viewer, uint16_t qnum, uint32_t keysym, bool down)
{
    g_mutex_lock(&ev.lock);
    if (ev.nkeys < MAX_KEYS)
        ev.keys[ev.nkeys++] = (key_rec){viewer, qnum, keysym, down};
    g_cond_broadcast(&ev.cond);
    g_mutex_unlock(&ev.lock);
}

static void on_pointer(void *viewer, int32_t x, int32_t y, uint32_t buttons)
{
    g_mutex_lock(&ev.lock);
    ev.pointers++;
    ev.ptr_viewer = viewer;
    ev.x = x;
    ev.y = y;
    ev.buttons = buttons;
    g_cond_broadcast(&ev.cond);
    g_mutex_unlock(&ev.lock);
}

static void on_gone(void *viewer, const char *reason)
{
    g_mutex_lock(&ev.lock);
    ev.gone++;
    ev.gone_viewer = viewer;
    g_strlcpy(ev.gone_reason, reason, sizeof(ev.gone_reason));
    g_cond_broadcast(&ev.cond);
    g_mutex_unlock(&ev.lock);
}

static const vg_vnc_screen_ops screen_ops = {
    .on_key = on_key,
    .on_pointer = on_pointer,
    .on_gone = on_gone,
};

/* Wait until *counter reaches @n. */
static bool wait_count(int *counter, int n)
{
    gint64 end = g_get_monotonic_time() + WAIT_MS * 1000;
    bool ok;

    g_mutex_lock(&ev.lock);
    while (*counter < n && g_cond_wait_until(&ev.cond, &ev.lock, end))
        ;
    ok = *counter >= n;
    g_mutex_unlock(&ev.lock);
    return ok;
}

/* ---- the surface ---- */

typedef struct fixture {
    vg_surface *surface;
    vg_vnc_screen *screen;
} fixture;

/* X byte 0: the viewer must see these 32-bit values exactly. */
static uint32_t pattern(uint32_t x, uint32_t y, uint32_t seed)
{
    return ((x * 4 + seed) & 0xff) << 16 | ((y * 5 + seed) & 0xff) << 8 | ((x ^ y ^ seed) & 0xff);
}

static void fill(vg_surface *s, uint32_t w, uint32_t h, uint32_t seed)
{
    uint32_t *px = g_new(uint32_t, (size_t)w * h);

    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            px[y * w + x] = pattern(x, y, seed);
    assert_true(vg_surface_write(s, 0, 0, w, h, (const uint8_t *)px, (size_t)w * 4) >= 0);
    g_free(px);
    vg_surface_commit(s);
}

static int setup(void **state)
{
    fixture *f = g_new0(fixture, 1);

    g_mutex_lock(&ev.lock);
    memset(ev.keys, 0, sizeof(ev.keys));
    ev.nkeys = ev.pointers = ev.gone = 0;
    ev.gone_viewer = ev.ptr_viewer = NULL;
    ev.gone_reason[0] = '\0';
    g_mutex_unlock(&ev.lock);

    f->surface = vg_surface_new();
    assert_int_equal(vg_surface_resize(f->surface, W, H), 0);
    fill(f->surface, W, H, 0);
    assert_int_equal(vg_vnc_screen_new(f->surface, &screen_ops, &f->screen), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    vg_vnc_screen_free(f->screen);
    vg_surface_unref(f->surface);
    g_free(f);
    return 0;
}

/* ---- the viewer ---- */

typedef struct shape_rec {
    int count;
    int xhot, yhot, width, height;
} shape_rec;

static shape_rec shape;

static void got_cursor_shape(rfbClient *cl, int xhot, int yhot, int width, int height, int bpp)
{
    (void)cl;
    (void)bpp;
    shape.count++;
    shape.xhot = xhot;
    shape.yhot = yhot;
    shape.width = width;
    shape.height = height;
}

static void quiet_log(const char *format, ...)
{
    (void)format;
}

/* libvncclient's framebuffer allocation, poisoned (no pattern pixel has a
 * top byte): malloc may hand back an earlier viewer's pixels, which a check
 * would take for a frame that never came. */
static rfbBool malloc_poisoned_fb(rfbClient *cl)
{
    size_t n = (size_t)cl->width * (size_t)cl->height * (size_t)(cl->format.bitsPerPixel / 8);

    free(cl->frameBuffer);
    cl->frameBuffer = malloc(n);
    if (!cl->frameBuffer)
        return FALSE;
    memset(cl->frameBuffer, 0xff, n);
    return TRUE;
}

static rfbClient *connect_viewer(fixture *f, void *viewer, bool remote_cursor)
{
    int sv[2];
    rfbClient *cl;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(vg_vnc_screen_add_client(f->screen, sv[0], viewer), 0);
    cl = rfbGetClient(8, 3, 4);
    cl->format.redShift = 16; /* BGRX32, the server's own format */
    cl->format.greenShift = 8;
    cl->format.blueShift = 0;
    cl->appData.encodingsString = "raw";
    cl->appData.useRemoteCursor = remote_cursor;
    cl->GotCursorShape = got_cursor_shape;
    cl->MallocFrameBuffer = malloc_poisoned_fb;
    cl->sock = sv[1];
    cl->listenSpecified = TRUE;
    assert_true(rfbInitClient(cl, NULL, NULL));
    return cl;
}

static void close_viewer(rfbClient *cl)
{
    /* rfbClientCleanup() leaves these to the caller. */
    free(cl->frameBuffer);
    free(cl->rcSource);
    free(cl->rcMask);
    cl->frameBuffer = NULL;
    cl->rcSource = cl->rcMask = NULL;
    rfbClientCleanup(cl); /* closes the socket */
}

/* Handle one server message if one comes within 20 ms. */
static bool pump_once(rfbClient *cl)
{
    /* WaitForMessage() ignores bytes libvncclient has buffered already. */
    int n = cl->buffered ? 1 : WaitForMessage(cl, 20000);

    if (n < 0)
        return false;
    return n == 0 || HandleRFBServerMessage(cl);
}

typedef bool (*viewer_pred)(rfbClient *cl, const void *arg);

static bool pump_until(rfbClient *cl, viewer_pred pred, const void *arg)
{
    int64_t end = vg_now_us() + WAIT_MS * 1000;

    while (!pred(cl, arg)) {
        if (vg_now_us() > end || !pump_once(cl))
            return false;
    }
    return true;
}

/* The connection ended (a read failed or EOF). */
static bool pump_until_closed(rfbClient *cl)
{
    int64_t end = vg_now_us() + WAIT_MS * 1000;

    while (vg_now_us() < end) {
        if (!pump_once(cl))
            return true;
    }
    return false;
}

typedef struct frame_spec {
    uint32_t w, h, seed;
    /* Optionally a rectangle with another seed. */
    uint32_t rx, ry, rw, rh, rseed;
} frame_spec;

static uint32_t expected_pixel(const frame_spec *e, uint32_t x, uint32_t y)
{
    if (x >= e->rx && x < e->rx + e->rw && y >= e->ry && y < e->ry + e->rh)
        return pattern(x, y, e->rseed);
    return pattern(x, y, e->seed);
}

static bool frame_is(rfbClient *cl, const void *arg)
{
    const frame_spec *e = arg;
    const uint32_t *fb = (const uint32_t *)cl->frameBuffer;

    if (!fb || (uint32_t)cl->width != e->w || (uint32_t)cl->height != e->h)
        return false;
    for (uint32_t y = 0; y < e->h; y++)
        for (uint32_t x = 0; x < e->w; x++)
            if (fb[y * e->w + x] != expected_pixel(e, x, y))
                return false;
    return true;
}

static bool qemu_keys_acked(rfbClient *cl, const void *arg)
{
    (void)arg;
    return SupportsClient2Server(cl, rfbQemuEvent);
}

static bool shape_seen(rfbClient *cl, const void *arg)
{
    (void)cl;
    (void)arg;
    return shape.count > 0;
}

/* ---- tests ---- */

static void test_screen_viewer_sees_surface_pixels_exactly(void **state)
{
    fixture *f = *state;
    frame_spec e = {.w = W, .h = H, .seed = 0};
    rfbClient *cl = connect_viewer(f, &viewer_a, false);

    assert_true(pump_until(cl, frame_is, &e));
    close_viewer(cl);
}

static void test_screen_sends_committed_pixels(void **state)
{
    fixture *f = *state;
    frame_spec e = {.w = W, .h = H, .seed = 0};
    rfbClient *cl = connect_viewer(f, &viewer_a, false);
    uint32_t px[10 * 7];

    assert_true(pump_until(cl, frame_is, &e));
    e.rx = 13, e.ry = 9, e.rw = 10, e.rh = 7, e.rseed = 77;
    for (uint32_t y = 0; y < e.rh; y++)
        for (uint32_t x = 0; x < e.rw; x++)
            px[y * e.rw + x] = pattern(e.rx + x, e.ry + y, e.rseed);
    assert_int_equal(
        vg_surface_write(f->surface, e.rx, e.ry, e.rw, e.rh, (const uint8_t *)px, e.rw * 4), 1);
    vg_surface_commit(f->surface);
    assert_true(pump_until(cl, frame_is, &e));
    close_viewer(cl);
}

static void test_screen_resize_reaches_viewer(void **state)
{
    fixture *f = *state;
    frame_spec e = {.w = W, .h = H, .seed = 0};
    rfbClient *cl = connect_viewer(f, &viewer_a, false);

    assert_true(pump_until(cl, frame_is, &e));
    /* An odd width: libvncserver only warns about widths not a multiple of 4. */
    assert_int_equal(vg_surface_resize(f->surface, 90, 37), 0);
    fill(f->surface, 90, 37, 5);
    e = (frame_spec){.w = 90, .h = 37, .seed = 5};
    assert_true(pump_until(cl, frame_is, &e));
    /* And back, with the same content as at first. */
    assert_int_equal(vg_surface_resize(f->surface, W, H), 0);
    fill(f->surface, W, H, 0);
    e = (frame_spec){.w = W, .h = H, .seed = 0};
    assert_true(pump_until(cl, frame_is, &e));
    close_viewer(cl);
}

/* ---- a viewer speaking RFB byte by byte ---- */

static void raw_read(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    int64_t end = vg_now_us() + WAIT_MS * 1000;

    while (len > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int left = (int)MAX(0, (end - vg_now_us()) / 1000);
        ssize_t n;

        if (poll(&pfd, 1, left) != 1)
            fail_msg("nothing more from the screen within %d ms", WAIT_MS);
        n = read(fd, p, len);
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

static void raw_write(int fd, const void *buf, size_t len)
{
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void raw_update_request(int fd, bool incremental, uint16_t w, uint16_t h)
{
    /* FramebufferUpdateRequest: type 3, incremental, x = y = 0, w, h. */
    uint8_t req[10] = {3, incremental};

    req[6] = (uint8_t)(w >> 8), req[7] = (uint8_t)w;
    req[8] = (uint8_t)(h >> 8), req[9] = (uint8_t)h;
    raw_write(fd, req, sizeof(req));
}

/* The screen is resized after a viewer's ServerInit and before its
 * SetEncodings (a VM changing mode while someone connects): every
 * rectangle it gets, pseudo ones included, fits the size it was told, and
 * it is told the new size (DesktopSize) before pixels at that size. */
static void test_screen_resize_before_viewer_asks_for_desktop_size(void **state)
{
    fixture *f = *state;
    frame_spec e = {.w = W, .h = H, .seed = 0};
    rfbClient *cl = connect_viewer(f, &viewer_a, false);
    uint8_t buf[64], version[12], n_types, result[4], init[24];
    /* Raw, QEMU extended key events, DesktopSize (not ExtendedDesktopSize). */
    static const uint8_t set_encodings[16] = {2,    0,    0,    3,    0,    0,    0,    0,
                                              0xff, 0xff, 0xfe, 0xfe, 0xff, 0xff, 0xff, 0x21};
    static const uint8_t set_format[20] = {0, 0,   0, 0,   32, 24, 0, 1, 0, 255,
                                           0, 255, 0, 255, 16, 8,  0, 0, 0, 0};
    uint32_t known_w, known_h;
    bool acked = false, told = false, pixels = false;
    int sv[2];

    assert_true(pump_until(cl, frame_is, &e));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(vg_vnc_screen_add_client(f->screen, sv[0], &viewer_b), 0);
    raw_read(sv[1], version, sizeof(version));
    raw_write(sv[1], version, sizeof(version));
    raw_read(sv[1], &n_types, 1);
    assert_true(n_types > 0 && n_types <= sizeof(buf));
    raw_read(sv[1], buf, n_types);
    raw_write(sv[1], &(uint8_t){1}, 1); /* None */
    raw_read(sv[1], result, sizeof(result));
    assert_int_equal(be32(result), 0);
    raw_write(sv[1], &(uint8_t){1}, 1); /* shared */
    raw_read(sv[1], init, sizeof(init));
    known_w = be16(init);
    known_h = be16(init + 2);
    assert_int_equal(known_w, W);
    assert_int_equal(known_h, H);
    assert_true(be32(init + 20) <= sizeof(buf));
    raw_read(sv[1], buf, be32(init + 20));

    /* Resized, and applied: the first viewer sees the new size. */
    assert_int_equal(vg_surface_resize(f->surface, 90, 37), 0);
    fill(f->surface, 90, 37, 5);
    e = (frame_spec){.w = 90, .h = 37, .seed = 5};
    assert_true(pump_until(cl, frame_is, &e));

    raw_write(sv[1], set_format, sizeof(set_format));
    raw_write(sv[1], set_encodings, sizeof(set_encodings));
    raw_update_request(sv[1], false, (uint16_t)known_w, (uint16_t)known_h);
    while (!(acked && told && pixels)) {
        uint8_t hdr[4];

        raw_read(sv[1], hdr, sizeof(hdr));
        assert_int_equal(hdr[0], rfbFramebufferUpdate);
        for (uint16_t i = 0, n = be16(hdr + 2); i < n; i++) {
            uint8_t r[12];
            uint32_t x, y, w, h;
            int32_t enc;

            raw_read(sv[1], r, sizeof(r));
            x = be16(r), y = be16(r + 2), w = be16(r + 4), h = be16(r + 6);
            enc = (int32_t)be32(r + 8);
            if (enc == (int32_t)rfbEncodingNewFBSize) { /* carries the new size */
                known_w = w, known_h = h;
                told = true;
                raw_update_request(sv[1], false, (uint16_t)w, (uint16_t)h);
                continue;
            }
            if (x + w > known_w || y + h > known_h)
                fail_msg("rectangle %ux%u at (%u,%u), encoding %d, outside the %ux%u the viewer "
                         "knows",
                         w, h, x, y, enc, known_w, known_h);
            if (enc == QEMU_EXT_KEY_EVENT) {
                acked = true;
            } else if (enc == rfbEncodingRaw) {
                uint8_t row[90 * 4];

                for (uint32_t ry = 0; ry < h; ry++)
                    raw_read(sv[1], row, (size_t)w * 4);
                pixels = pixels || (told && w > 0 && h > 0);
                raw_update_request(sv[1], true, (uint16_t)known_w, (uint16_t)known_h);
            } else {
                fail_msg("unexpected encoding %d", enc);
            }
        }
    }
    assert_int_equal(known_w, 90);
    assert_int_equal(known_h, 37);
    close(sv[1]);
    close_viewer(cl);
}

static void test_screen_placeholder_until_surface_has_a_size(void **state)
{
    fixture *f = *state;
    vg_surface *blank = vg_surface_new();
    vg_vnc_screen *screen = NULL;
    frame_spec e = {.w = 30, .h = 20, .seed = 9};
    vg_vnc_screen *keep = f->screen;
    rfbClient *cl;

    assert_int_equal(vg_vnc_screen_new(blank, &screen_ops, &screen), 0);
    f->screen = screen;
    cl = connect_viewer(f, &viewer_a, false);
    assert_true(cl->width > 0 && cl->height > 0);
    assert_int_equal(vg_surface_resize(blank, 30, 20), 0);
    fill(blank, 30, 20, 9);
    assert_true(pump_until(cl, frame_is, &e));
    close_viewer(cl);
    vg_vnc_screen_free(screen);
    vg_surface_unref(blank);
    f->screen = keep;
}

static void test_screen_key_event_maps_keysym_to_qnum(void **state)
{
    fixture *f = *state;
    frame_spec e = {.w = W, .h = H, .seed = 0};
    rfbClient *cl = connect_viewer(f, &viewer_a, false);

    assert_true(pump_until(cl, frame_is, &e));
    assert_true(SendKeyEvent(cl, XK_a, TRUE));
    assert_true(SendKeyEvent(cl, XK_a, FALSE));
    assert_true(wait_count(&ev.nkeys, 2));
    g_mutex_lock(&ev.lock);
    assert_ptr_equal(ev.keys[0].viewer, &viewer_a);
    assert_int_equal(ev.keys[0].qnum, 0x1e);
    assert_int_equal(ev.keys[0].qnum, vg_keymap_keysym_to_qnum(XK_a));
    assert_int_equal(ev.keys[0].keysym, XK_a);
    assert_true(ev.keys[0].down);
    assert_int_equal(ev.keys[1].qnum, 0x1e);
    assert_false(ev.keys[1].down);
    g_mutex_unlock(&ev.lock);
    close_viewer(cl);
}

static void test_screen_extended_key_event_passes_exact_keycode(void **state)
{
    fixture *f = *state;
    frame_spec e = {.w = W, .h = H, .seed = 0};
    rfbClient *cl = connect_viewer(f, &viewer_a, false);

    /* libvncclient announces -258; only the screen's acknowledgement lets
     * it send extended key events. */
    assert_true(pump_until(cl, frame_is, &e));
    assert_true(pump_until(cl, qemu_keys_acked, NULL));
    /* A keycode that disagrees with the keysym: the keycode wins. */
    assert_true(SendExtendedKeyEvent(cl, XK_a, 0x10, TRUE));
    /* Keypad Enter (E0 1C): only the keycode tells it from Return. */
    assert_true(SendExtendedKeyEvent(cl, XK_Return, 0x9c, FALSE));
    /* Keycode 0: the keysym decides, as in QEMU. */
    assert_true(SendExtendedKeyEvent(cl, XK_b, 0, TRUE));
    assert_true(wait_count(&ev.nkeys, 3));
    g_mutex_lock(&ev.lock);
    assert_ptr_equal(ev.keys[0].viewer, &viewer_a);
    assert_int_equal(ev.keys[0].qnum, 0x10);
    assert_int_equal(ev.keys[0].keysym, XK_a);
    assert_true(ev.keys[0].down);
    assert_int_equal(ev.keys[1].qnum, 0x9c);
    assert_int_equal(ev.keys[1].keysym, XK_Return);
    assert_false(ev.keys[1].down);
    assert_int_equal(ev.keys[2].qnum, vg_keymap_keysym_to_qnum(XK_b));
    assert_int_equal(ev.keys[2].qnum, 0x30);
    g_mutex_unlock(&ev.lock);
    close_viewer(cl);
}

static void test_screen_pointer_event_reaches_ops(void **state)
{
    fixture *f = *state;
    frame_spec e = {.w = W, .h = H, .seed = 0};
    rfbClient *cl = connect_viewer(f, &viewer_b, false);

    assert_true(pump_until(cl, frame_is, &e));
    assert_true(SendPointerEvent(cl, 10, 20, VG_BUTTON_LEFT | VG_BUTTON_RIGHT));
    assert_true(wait_count(&ev.pointers, 1));
    g_mutex_lock(&ev.lock);
    assert_ptr_equal(ev.ptr_viewer, &viewer_b);
    assert_int_equal(ev.x, 10);
    assert_int_equal(ev.y, 20);
    assert_int_equal(ev.buttons, VG_BUTTON_LEFT | VG_BUTTON_RIGHT);
    g_mutex_unlock(&ev.lock);
    /* Off the screen: kept on it. */
    assert_true(SendPointerEvent(cl, 1000, 2000, 0));
    assert_true(wait_count(&ev.pointers, 2));
    g_mutex_lock(&ev.lock);
    assert_int_equal(ev.x, W - 1);
    assert_int_equal(ev.y, H - 1);
    assert_int_equal(ev.buttons, 0);
    g_mutex_unlock(&ev.lock);
    close_viewer(cl);
}

static void test_screen_kick_disconnects_only_that_viewer(void **state)
{
    fixture *f = *state;
    frame_spec e = {.w = W, .h = H, .seed = 0};
    rfbClient *a = connect_viewer(f, &viewer_a, false);
    rfbClient *b = connect_viewer(f, &viewer_b, false);

    assert_true(pump_until(a, frame_is, &e));
    assert_true(pump_until(b, frame_is, &e));
    vg_vnc_screen_kick(f->screen, &viewer_a, "kicked by admin");
    assert_true(pump_until_closed(a));
    assert_true(wait_count(&ev.gone, 1));
    g_mutex_lock(&ev.lock);
    assert_ptr_equal(ev.gone_viewer, &viewer_a);
    assert_string_equal(ev.gone_reason, "kicked by admin");
    g_mutex_unlock(&ev.lock);
    /* The other viewer still gets pixels and sends input. */
    fill(f->surface, W, H, 3);
    e.seed = 3;
    assert_true(pump_until(b, frame_is, &e));
    assert_true(SendKeyEvent(b, XK_a, TRUE));
    assert_true(wait_count(&ev.nkeys, 1));
    g_mutex_lock(&ev.lock);
    assert_int_equal(ev.gone, 1);
    g_mutex_unlock(&ev.lock);
    close_viewer(a);
    close_viewer(b);
    assert_true(wait_count(&ev.gone, 2));
}

static void test_screen_viewer_leaving_is_reported_gone(void **state)
{
    fixture *f = *state;
    frame_spec e = {.w = W, .h = H, .seed = 0};
    rfbClient *cl = connect_viewer(f, &viewer_b, false);

    assert_true(pump_until(cl, frame_is, &e));
    close_viewer(cl);
    assert_true(wait_count(&ev.gone, 1));
    assert_ptr_equal(ev.gone_viewer, &viewer_b);
    assert_string_equal(ev.gone_reason, "the connection ended");
}

static void test_screen_surface_close_ends_viewers(void **state)
{
    fixture *f = *state;
    frame_spec e = {.w = W, .h = H, .seed = 0};
    rfbClient *cl = connect_viewer(f, &viewer_a, false);
    int sv[2];

    assert_true(pump_until(cl, frame_is, &e));
    vg_surface_close(f->surface, "the VM shut down");
    assert_true(pump_until_closed(cl));
    assert_true(wait_count(&ev.gone, 1));
    assert_ptr_equal(ev.gone_viewer, &viewer_a);
    assert_string_equal(ev.gone_reason, "the VM shut down");
    /* No new viewers on a closed screen; the fd is closed either way. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(vg_vnc_screen_add_client(f->screen, sv[0], &viewer_b), -EPIPE);
    assert_int_equal(fcntl(sv[0], F_GETFD), -1);
    close(sv[1]);
    close_viewer(cl);
    assert_int_equal(ev.gone, 1);
}

static void test_screen_cursor_shape_sent_but_never_drawn(void **state)
{
    fixture *f = *state;
    frame_spec e = {.w = W, .h = H, .seed = 0};
    rfbClient *with_shapes = connect_viewer(f, &viewer_a, true);
    rfbClient *without = connect_viewer(f, &viewer_b, false);
    uint32_t argb[8 * 6];
    vg_cursor c = {.width = 8, .height = 6, .hot_x = 2, .hot_y = 3, .argb = argb};

    for (uint32_t i = 0; i < 8 * 6; i++)
        argb[i] = (i % 3 ? 0xff000000u : 0x00000000u) | (0x10203u * i);
    memset(&shape, 0, sizeof(shape));
    assert_true(pump_until(with_shapes, frame_is, &e));
    assert_true(pump_until(without, frame_is, &e));
    assert_int_equal(vg_surface_set_cursor(f->surface, &c), 0);
    assert_true(pump_until(with_shapes, shape_seen, NULL));
    assert_int_equal(shape.width, 8);
    assert_int_equal(shape.height, 6);
    assert_int_equal(shape.xhot, 2);
    assert_int_equal(shape.yhot, 3);
    for (uint32_t i = 0; i < 8 * 6; i++) {
        uint32_t got;
        memcpy(&got, with_shapes->rcSource + i * 4, 4);
        assert_int_equal(with_shapes->rcMask[i], i % 3 ? 1 : 0);
        if (i % 3)
            assert_int_equal(got & 0xffffff, argb[i] & 0xffffff);
    }
    /* New pixels under where a software cursor would be drawn (0, 0 and
     * the pointer's last position): both viewers see exactly the surface. */
    assert_true(SendPointerEvent(without, 4, 4, 0));
    fill(f->surface, W, H, 11);
    e.seed = 11;
    assert_true(pump_until(without, frame_is, &e));
    assert_true(pump_until(with_shapes, frame_is, &e));
    close_viewer(with_shapes);
    close_viewer(without);
}

/* libvncserver cannot send a shape this large (its update buffer is
 * 32 KiB): the update that tried took the viewer's request and sent
 * nothing, and the viewer stayed on that frame. It gets the part around
 * the hotspot, and the pixels after it. */
static void test_screen_large_cursor_shape_is_cut_and_updates_go_on(void **state)
{
    fixture *f = *state;
    frame_spec e = {.w = W, .h = H, .seed = 0};
    rfbClient *cl = connect_viewer(f, &viewer_a, true);
    static uint32_t argb[160 * 128];
    vg_cursor c = {.width = 160, .height = 128, .hot_x = 100, .hot_y = 5, .argb = argb};

    /* Opaque in columns 20..149, rows 0..119; its pixel is its position. */
    for (uint32_t y = 0; y < c.height; y++)
        for (uint32_t x = 0; x < c.width; x++)
            argb[y * c.width + x] =
                (x >= 20 && x < 150 && y < 120 ? 0xff000000u : 0) | (y << 8 | x);
    memset(&shape, 0, sizeof(shape));
    assert_true(pump_until(cl, frame_is, &e));
    assert_int_equal(vg_surface_set_cursor(f->surface, &c), 0);
    fill(f->surface, W, H, 11);
    e.seed = 11;
    assert_true(pump_until(cl, frame_is, &e));
    assert_true(pump_until(cl, shape_seen, NULL));
    /* 64 x 64 around the hotspot, inside what the mask shows. */
    assert_int_equal(shape.width, 64);
    assert_int_equal(shape.height, 64);
    assert_int_equal(shape.xhot, 100 - 68);
    assert_int_equal(shape.yhot, 5);
    for (uint32_t y = 0; y < 64; y++) {
        for (uint32_t x = 0; x < 64; x++) {
            uint32_t got;
            memcpy(&got, cl->rcSource + (y * 64 + x) * 4, 4);
            assert_int_equal(got & 0xffffff, y << 8 | (68 + x));
        }
    }
    close_viewer(cl);
}

static void test_screen_unknown_qemu_message_disconnects(void **state)
{
    fixture *f = *state;
    frame_spec e = {.w = W, .h = H, .seed = 0};
    rfbClient *cl = connect_viewer(f, &viewer_a, false);
    /* Type 255, subtype 1 (QEMU audio), never announced. */
    const uint8_t msg[4] = {255, 1, 0, 0};

    assert_true(pump_until(cl, frame_is, &e));
    assert_int_equal(write(cl->sock, msg, sizeof(msg)), (ssize_t)sizeof(msg));
    assert_true(pump_until_closed(cl));
    assert_true(wait_count(&ev.gone, 1));
    assert_string_equal(ev.gone_reason, "unsupported QEMU message from the viewer");
    assert_int_equal(ev.nkeys, 0);
    close_viewer(cl);
}

static void test_screen_refuses_fd_above_fd_setsize(void **state)
{
    fixture *f = *state;
    struct rlimit rl;
    int sv[2], high = FD_SETSIZE + 3;

    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max <= (rlim_t)high)
        skip();
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur <= (rlim_t)high) {
        rl.rlim_cur = (rlim_t)high + 1;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(dup2(sv[0], high), high);
    close(sv[0]);
    assert_int_equal(vg_vnc_screen_add_client(f->screen, high, &viewer_a), -EMFILE);
    assert_int_equal(fcntl(high, F_GETFD), -1); /* taken and closed */
    close(sv[1]);
    assert_int_equal(vg_vnc_screen_add_client(f->screen, -1, &viewer_a), -EBADF);
    g_usleep(50 * 1000);
    assert_int_equal(ev.gone, 0); /* a refused viewer gets no callback */
}

static void test_screen_free_with_viewers_makes_no_callback(void **state)
{
    fixture *f = *state;
    frame_spec e = {.w = W, .h = H, .seed = 0};
    rfbClient *cl = connect_viewer(f, &viewer_a, false);

    assert_true(pump_until(cl, frame_is, &e));
    vg_vnc_screen_free(f->screen);
    f->screen = NULL;
    assert_true(pump_until_closed(cl));
    assert_int_equal(ev.gone, 0);
    close_viewer(cl);
}

static void test_screen_new_rejects_bad_arguments(void **state)
{
    fixture *f = *state;
    vg_vnc_screen *s = NULL;
    vg_vnc_screen_ops no_gone = screen_ops;
    vg_surface *closed = vg_surface_new();

    no_gone.on_gone = NULL;
    assert_int_equal(vg_vnc_screen_new(NULL, &screen_ops, &s), -EINVAL);
    assert_int_equal(vg_vnc_screen_new(f->surface, &no_gone, &s), -EINVAL);
    vg_surface_close(closed, "gone");
    assert_int_equal(vg_vnc_screen_new(closed, &screen_ops, &s), -EPIPE);
    assert_null(s);
    vg_surface_unref(closed);
    vg_vnc_screen_free(NULL);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    rfbLogEnable(0);
    rfbClientLog = rfbClientErr = quiet_log;
    g_mutex_init(&ev.lock);
    g_cond_init(&ev.cond);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_screen_viewer_sees_surface_pixels_exactly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_screen_sends_committed_pixels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_screen_resize_reaches_viewer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_screen_resize_before_viewer_asks_for_desktop_size,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_screen_placeholder_until_surface_has_a_size, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_screen_key_event_maps_keysym_to_qnum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_screen_extended_key_event_passes_exact_keycode, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_screen_pointer_event_reaches_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_screen_kick_disconnects_only_that_viewer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_screen_viewer_leaving_is_reported_gone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_screen_surface_close_ends_viewers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_screen_cursor_shape_sent_but_never_drawn, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_screen_large_cursor_shape_is_cut_and_updates_go_on,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_screen_unknown_qemu_message_disconnects, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_screen_refuses_fd_above_fd_setsize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_screen_free_with_viewers_makes_no_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_screen_new_rejects_bad_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
