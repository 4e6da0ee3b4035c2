/*
 * vgwork: deterministic display and input workloads for the vmgate test guest.
 *
 * A static program run inside the test guest (busybox userland, Debian
 * kernel, QEMU std VGA driven by bochs-drm, a USB tablet). It draws patterns
 * that a test or benchmark can recognise from pixels, and reports what it
 * does on the guest's first serial port, which the host logs to a file.
 *
 *   vgwork counter [--fps N] [--frames N] [--log-frames] [--exit] [--text]
 *   vgwork scroll  [--fps N] [--frames N] [--step PX] [--exit] [--text] [--stamp]
 *   vgwork noise   [--fps N] [--frames N] [--exit] [--text] [--stamp]
 *   vgwork window  [--fps N] [--frames N] [--exit] [--text] [--stamp]
 *   vgwork fill RRGGBB [--text]
 *   vgwork pointer [--device /dev/input/eventN] [--wait SECONDS]
 *   vgwork keys    [--device /dev/input/eventN] [--wait SECONDS] [--text]
 *   vgwork mode WxH
 *   vgwork info
 *
 * --fps N      frames per second (default 30; 0 = as fast as possible).
 *              Frames are numbered by how many were drawn, never skipped: a
 *              guest too slow for N fps simply draws fewer per second.
 * --frames N   stop after N frames (default 0 = run until killed). The last
 *              frame then stays on screen until the process is killed, or
 *              the program exits at once with --exit.
 * --text       leave the virtual console in text mode. By default the drawing
 *              modes switch the console to KD_GRAPHICS so fbcon (the shell,
 *              its cursor, kernel messages) never draws over the pattern, and
 *              switch it back to text on SIGINT/SIGTERM/SIGHUP.
 * --stamp      scroll, noise, window: after drawing frame n, overwrite the
 *              top-left 32B x 2B pixels with the counter stamp of n, exactly
 *              as "counter" draws it (layout below), and make the pixel
 *              (width - 1, height - 1) the counter background 0x204080, so
 *              a decoder of the counter reads the frame number of any
 *              workload. The stamp is composed with its frame and written
 *              to the fb last, in a write of its own right after the rest of
 *              the frame; a capture that catches it half written fails the
 *              row-1 check. Without --stamp the frames are unchanged.
 *
 * Serial markers (one line each on /dev/ttyS0; VGWORK_SERIAL=PATH overrides
 * the device, and stdout is used when it cannot be opened):
 *   VMGATE-WORK-STARTED <mode>     drawing has begun (for "pointer": the
 *                                  tablet is open and events are being read;
 *                                  for "keys": the keyboard is grabbed and
 *                                  frame 0 is on the fb)
 *   VMGATE-FRAME <n>               counter --log-frames: frame n is on the fb
 *   VMGATE-WORK-DONE <mode> <n>    --frames N reached, n frames drawn
 *   VMGATE-POINTER <x> <y> <b>     pointer: one per EV_SYN report
 *   VMGATE-WHEEL <n>               pointer: REL_WHEEL event of value n
 *                                  (positive = wheel up, away from the user)
 *   VMGATE-HWHEEL <n>              pointer: REL_HWHEEL event of value n
 *   VMGATE-KEY <k> <code>          keys: the k-th key press (k = 1, 2, ...),
 *                                  Linux key code <code>; printed after the
 *                                  stamp of k was written to the fb
 *   VMGATE-MODE <W>x<H>            mode: the display now scans out WxH
 *   VMGATE-WORK-ERROR <mode> <msg> the workload failed (also on stderr)
 *
 * Pixel format everywhere: 32 bpp XRGB (0x00RRGGBB), QEMU's native format.
 *
 * counter: frame n (n = 0, 1, 2, ... as a 32-bit unsigned number) is stamped
 *   as blocks of B x B pixels, B = 32 (or width/32 if the screen is narrower
 *   than 1024 pixels), in the top-left corner:
 *     row 0 (y in [0, B)):    block i (x in [i*B, (i+1)*B)), i = 0..31, is
 *                             bit (31 - i) of n: white 0xFFFFFF for 1,
 *                             black 0x000000 for 0 (most significant first);
 *     row 1 (y in [B, 2B)):   the complement: block i is black when bit
 *                             (31 - i) is 1 and white when it is 0;
 *     everything else (y >= 2B, or x >= 32*B) is the background 0x204080.
 *   Decode by sampling block centres (i*B + B/2, B/2) and (i*B + B/2, B + B/2).
 *   Row 1 must be the inverse of row 0: if not, the capture caught a frame
 *   half written and must be discarded. A background-coloured pixel at
 *   (width - 1, height - 1) says the counter workload is on screen. Only rows
 *   [0, 2B) change from frame to frame.
 *
 * scroll: a page of pseudo text (grey 0xC0C0C0 glyphs on black) scrolls up by
 *   --step pixels (default 4) per frame; frame n shows rows [n*step,
 *   n*step + height) of an endless deterministic page: 16-pixel lines of
 *   8-pixel cells, each glyph a 5x7 dot pattern drawn 5x14 pixels at (1, 1)
 *   in its cell, chosen by hash32() of the line and cell numbers (see
 *   scroll_row()). Every frame changes the whole screen. With --stamp, the
 *   stamp and corner pixel cover the page only on the display: the page
 *   itself keeps scrolling underneath.
 *
 * noise: a table T of width*height + 65536 pixels is filled once by xorshift32
 *   seeded with 0x9E3779B9 (pixel = state & 0xFFFFFF after each step). Frame n
 *   uses h = hash32(n ^ 0xA5A5A5A5), offset o = h & 0xFFFF, mask
 *   m = hash32(h) & 0xFFFFFF, and pixel (x, y) = T[o + y*width + x] ^ m.
 *   Every frame changes (nearly) every pixel.
 *
 * window: a moving window, the damage pattern of a desktop. The background
 *   is the counter background 0x204080; the window is 480 x 320 pixels: a
 *   1-pixel black 0x000000 border, inside it a 24-pixel title bar 0x3060A0
 *   (rows 1..24 of the window) and a light grey 0xD0D0D0 body below. In
 *   frame n its top-left corner is (bounce(8n, W - 480), bounce(6n, H - 320))
 *   for a W x H screen, where bounce(t, L) = t mod 2L if that is <= L, else
 *   2L - (t mod 2L) (and 0 when L <= 0; a window larger than the screen is
 *   clipped at the right and bottom): it moves by (8, 6) pixels per frame and
 *   bounces off the screen edges, starting at (0, 0). Frame 0 paints the
 *   whole screen; frame n > 0 repaints only the window rectangle of frame
 *   n - 1 (background) and of frame n (the window) and writes only the rows
 *   those two rectangles span (plus the stamp rows with --stamp).
 *
 * fill RRGGBB: the whole screen in one colour, held until killed.
 *
 * pointer: reads the tablet's evdev device (the first input device with
 *   ABS_X and ABS_Y whose name contains "Tablet", else any with ABS_X, ABS_Y
 *   and BTN_LEFT) and prints one VMGATE-POINTER line per EV_SYN report.
 *   x and y are framebuffer pixels: QEMU's VNC server maps a pixel x of a
 *   W-pixel-wide display to abs = min + x * (max - min) / W (integer
 *   division; QEMU 7.2 qemu_input_scale_axis() with max_in = W), and this
 *   program inverts that exactly: x = ceil((abs - min) * W / (max - min)),
 *   clamped to [0, W - 1]. W and H are the mode of the active DRM CRTC
 *   (so they follow "vgwork mode"), else the fbdev resolution. Buttons are a
 *   bitmask: left 1, middle 2, right 4, side 8, extra 16.
 *
 * keys: the typing echo, for key-to-pixel latency. Opens the keyboard's evdev
 *   device (--device, else the first /dev/input/event* with EV_KEY and all
 *   of KEY_A..KEY_Z whose name does not contain "Tablet"; in the guest that
 *   is QEMU's PS/2 "AT Translated Set 2 keyboard"; waiting up to --wait
 *   seconds, default 15, for one to appear) and grabs it (EVIOCGRAB), so the
 *   console and its shell see no keys while it runs. The screen is the
 *   counter layout showing k, the number of key presses (EV_KEY events of
 *   value 1; autorepeats, value 2, and releases do not count) read since the
 *   grab, starting at 0: the background 0x204080 everywhere and the stamp of
 *   k in the top-left corner, rewritten (rows [0, 2B) only) whenever k
 *   changes. Prints VMGATE-WORK-STARTED keys once the device is grabbed and
 *   frame 0 is on the fb, then VMGATE-KEY <k> <code> per press. Waits in
 *   poll(); it never polls in a loop.
 *
 * mode WxH: switches the display to WxH with raw DRM KMS ioctls on
 *   /dev/dri/card0 (dumb buffer, ADDFB, SETCRTC; no libdrm), draws four
 *   quadrants (top-left red 0xFF0000, top-right green 0x00FF00, bottom-left
 *   blue 0x0000FF, bottom-right white 0xFFFFFF; the split is at W/2, H/2),
 *   prints VMGATE-MODE WxH and holds the mode until SIGINT/SIGTERM/SIGHUP,
 *   then puts the previous CRTC configuration (the console's) back. It needs
 *   the DRM master role (it fails if another program holds it). While it
 *   holds the mode, the console and the fbdev drawing modes above draw into
 *   the console's framebuffer, which is not shown.
 *
 * info: prints the fbdev and DRM CRTC geometry on stdout.
 *
 * Exit status: 0 on success or when stopped by a signal, 1 on errors, 2 on
 * usage errors.
 */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <linux/fb.h>
#include <linux/input.h>
#include <linux/kd.h>

/* ------------------------------------------------------------------------ */
/* DRM KMS user ABI (include/uapi/drm/drm.h, drm_mode.h). Debian ships these
 * headers only with libdrm-dev; the few structures needed are stable ABI and
 * declared here, with their sizes checked below. */

struct vg_drm_modeinfo {
    uint32_t clock;
    uint16_t hdisplay, hsync_start, hsync_end, htotal, hskew;
    uint16_t vdisplay, vsync_start, vsync_end, vtotal, vscan;
    uint32_t vrefresh;
    uint32_t flags;
    uint32_t type;
    char name[32];
};

struct vg_drm_card_res {
    uint64_t fb_id_ptr;
    uint64_t crtc_id_ptr;
    uint64_t connector_id_ptr;
    uint64_t encoder_id_ptr;
    uint32_t count_fbs;
    uint32_t count_crtcs;
    uint32_t count_connectors;
    uint32_t count_encoders;
    uint32_t min_width, max_width;
    uint32_t min_height, max_height;
};

struct vg_drm_crtc {
    uint64_t set_connectors_ptr;
    uint32_t count_connectors;
    uint32_t crtc_id;
    uint32_t fb_id;
    uint32_t x, y;
    uint32_t gamma_size;
    uint32_t mode_valid;
    struct vg_drm_modeinfo mode;
};

struct vg_drm_get_encoder {
    uint32_t encoder_id;
    uint32_t encoder_type;
    uint32_t crtc_id;
    uint32_t possible_crtcs;
    uint32_t possible_clones;
};

struct vg_drm_get_connector {
    uint64_t encoders_ptr;
    uint64_t modes_ptr;
    uint64_t props_ptr;
    uint64_t prop_values_ptr;
    uint32_t count_modes;
    uint32_t count_props;
    uint32_t count_encoders;
    uint32_t encoder_id;
    uint32_t connector_id;
    uint32_t connector_type;
    uint32_t connector_type_id;
    uint32_t connection;
    uint32_t mm_width, mm_height;
    uint32_t subpixel;
    uint32_t pad;
};

struct vg_drm_fb_cmd {
    uint32_t fb_id;
    uint32_t width, height;
    uint32_t pitch;
    uint32_t bpp;
    uint32_t depth;
    uint32_t handle;
};

struct vg_drm_create_dumb {
    uint32_t height, width;
    uint32_t bpp;
    uint32_t flags;
    uint32_t handle;
    uint32_t pitch;
    uint64_t size;
};

struct vg_drm_map_dumb {
    uint32_t handle;
    uint32_t pad;
    uint64_t offset;
};

struct vg_drm_destroy_dumb {
    uint32_t handle;
};

_Static_assert(sizeof(struct vg_drm_modeinfo) == 68, "drm_mode_modeinfo ABI");
_Static_assert(sizeof(struct vg_drm_card_res) == 64, "drm_mode_card_res ABI");
_Static_assert(sizeof(struct vg_drm_crtc) == 104, "drm_mode_crtc ABI");
_Static_assert(sizeof(struct vg_drm_get_encoder) == 20, "drm_mode_get_encoder ABI");
_Static_assert(sizeof(struct vg_drm_get_connector) == 80, "drm_mode_get_connector ABI");
_Static_assert(sizeof(struct vg_drm_fb_cmd) == 28, "drm_mode_fb_cmd ABI");
_Static_assert(sizeof(struct vg_drm_create_dumb) == 32, "drm_mode_create_dumb ABI");
_Static_assert(sizeof(struct vg_drm_map_dumb) == 16, "drm_mode_map_dumb ABI");

#define VG_DRM_IOWR(nr, type) _IOWR('d', nr, type)
#define VG_DRM_IOCTL_SET_MASTER _IO('d', 0x1e)
#define VG_DRM_IOCTL_DROP_MASTER _IO('d', 0x1f)
#define VG_DRM_IOCTL_MODE_GETRESOURCES VG_DRM_IOWR(0xA0, struct vg_drm_card_res)
#define VG_DRM_IOCTL_MODE_GETCRTC VG_DRM_IOWR(0xA1, struct vg_drm_crtc)
#define VG_DRM_IOCTL_MODE_SETCRTC VG_DRM_IOWR(0xA2, struct vg_drm_crtc)
#define VG_DRM_IOCTL_MODE_GETENCODER VG_DRM_IOWR(0xA6, struct vg_drm_get_encoder)
#define VG_DRM_IOCTL_MODE_GETCONNECTOR VG_DRM_IOWR(0xA7, struct vg_drm_get_connector)
#define VG_DRM_IOCTL_MODE_ADDFB VG_DRM_IOWR(0xAE, struct vg_drm_fb_cmd)
#define VG_DRM_IOCTL_MODE_RMFB VG_DRM_IOWR(0xAF, unsigned int)
#define VG_DRM_IOCTL_MODE_CREATE_DUMB VG_DRM_IOWR(0xB2, struct vg_drm_create_dumb)
#define VG_DRM_IOCTL_MODE_MAP_DUMB VG_DRM_IOWR(0xB3, struct vg_drm_map_dumb)
#define VG_DRM_IOCTL_MODE_DESTROY_DUMB VG_DRM_IOWR(0xB4, struct vg_drm_destroy_dumb)

#define VG_DRM_MODE_CONNECTED 1
#define VG_DRM_MODE_TYPE_USERDEF (1u << 5)
#define VG_DRM_MODE_FLAG_PHSYNC (1u << 0)
#define VG_DRM_MODE_FLAG_NVSYNC (1u << 3)

#define DRM_CARD "/dev/dri/card0"
#define FB_DEV "/dev/fb0"

/* ------------------------------------------------------------------------ */
/* Small helpers. */

static volatile sig_atomic_t stop_requested;
static const char *mode_name = "vgwork";

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: sleeps and reads return EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int serial_fd = -2; /* -2: not opened yet, -1: use stdout */

/* Print one line on the back channel, written with a single write(). */
static void say(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (serial_fd == -2) {
        const char *path = getenv("VGWORK_SERIAL");
        serial_fd = open(path && *path ? path : "/dev/ttyS0",
                         O_WRONLY | O_NOCTTY | O_CLOEXEC | O_APPEND);
    }
    int fd = serial_fd >= 0 ? serial_fd : STDOUT_FILENO;
    ssize_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, line + off, (size_t)(n - off));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        off += w;
    }
}

static void fail(const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "vgwork %s: %s\n", mode_name, msg);
    say("VMGATE-WORK-ERROR %s %s", mode_name, msg);
}

static uint32_t hash32(uint32_t x)
{
    /* An integer finaliser: xor-shifts and odd multipliers, bijective. */
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_size(const char *s, unsigned *w, unsigned *h)
{
    char buf[32];
    if (!s || strlen(s) >= sizeof(buf))
        return -1;
    strcpy(buf, s);
    char *x = strchr(buf, 'x');
    if (!x)
        return -1;
    *x = '\0';
    unsigned long a, b;
    if (parse_uint(buf, 16384, &a) || parse_uint(x + 1, 16384, &b) || !a || !b)
        return -1;
    *w = (unsigned)a;
    *h = (unsigned)b;
    return 0;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Fixed-rate pacing on absolute deadlines; never bursts to catch up. */
struct pacer {
    int64_t period;
    int64_t next;
};

static void pacer_init(struct pacer *p, unsigned long fps)
{
    p->period = fps ? 1000000000 / (int64_t)fps : 0;
    p->next = now_ns();
}

static void pacer_wait(struct pacer *p)
{
    if (!p->period)
        return;
    int64_t now = now_ns();
    p->next += p->period;
    if (p->next < now - p->period)
        p->next = now;
    if (p->next <= now)
        return;
    struct timespec ts = {
        .tv_sec = (time_t)(p->next / 1000000000),
        .tv_nsec = (long)(p->next % 1000000000),
    };
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static void hold_until_stopped(void)
{
    while (!stop_requested)
        pause();
}

/* ------------------------------------------------------------------------ */
/* The virtual console: KD_GRAPHICS keeps fbcon from drawing over patterns. */

static int console_fd = -1;

static void console_graphics(void)
{
    console_fd = open("/dev/tty0", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (console_fd < 0)
        return;
    if (ioctl(console_fd, KDSETMODE, KD_GRAPHICS) < 0) {
        close(console_fd);
        console_fd = -1;
    }
}

static void console_text(void)
{
    if (console_fd < 0)
        return;
    ioctl(console_fd, KDSETMODE, KD_TEXT);
    close(console_fd);
    console_fd = -1;
}

/* ------------------------------------------------------------------------ */
/* fbdev output: frames are composed in memory and pwrite()n to /dev/fb0, so
 * each write reaches the display at once (an mmap of the DRM fbdev emulation
 * goes through deferred I/O, which delays and batches updates). */

struct fb {
    int fd;
    unsigned w, h;
    unsigned pitch;  /* bytes per line on the device */
    unsigned stride; /* pixels per line in buf (pitch / 4) */
    off_t base;      /* byte offset of the visible area */
    uint32_t *buf;
};

static int fb_query(int fd, unsigned *w, unsigned *h, struct fb_var_screeninfo *var,
                    struct fb_fix_screeninfo *fix)
{
    if (ioctl(fd, FBIOGET_VSCREENINFO, var) < 0 || ioctl(fd, FBIOGET_FSCREENINFO, fix) < 0)
        return -1;
    *w = var->xres;
    *h = var->yres;
    return 0;
}

static int fb_open(struct fb *fb)
{
    struct fb_var_screeninfo var;
    struct fb_fix_screeninfo fix;
    memset(fb, 0, sizeof(*fb));
    fb->fd = open(FB_DEV, O_RDWR | O_CLOEXEC);
    if (fb->fd < 0) {
        fail("cannot open %s: %s", FB_DEV, strerror(errno));
        return -1;
    }
    if (fb_query(fb->fd, &fb->w, &fb->h, &var, &fix) < 0) {
        fail("cannot query %s: %s", FB_DEV, strerror(errno));
        close(fb->fd);
        return -1;
    }
    if (var.bits_per_pixel != 32 || var.red.offset != 16 || var.green.offset != 8 ||
        var.blue.offset != 0 || fix.line_length % 4 || fix.line_length / 4 < fb->w) {
        fail("unsupported framebuffer format: %u bpp, line %u bytes", var.bits_per_pixel,
             fix.line_length);
        close(fb->fd);
        return -1;
    }
    fb->pitch = fix.line_length;
    fb->stride = fix.line_length / 4;
    fb->base = (off_t)var.yoffset * fb->pitch + (off_t)var.xoffset * 4;
    fb->buf = calloc((size_t)fb->stride * fb->h, 4);
    if (!fb->buf) {
        fail("out of memory for a %ux%u frame", fb->w, fb->h);
        close(fb->fd);
        return -1;
    }
    return 0;
}

/* Copy rows [y0, y1) of the composed frame to the device. */
static int fb_flush(struct fb *fb, unsigned y0, unsigned y1)
{
    const char *src = (const char *)(fb->buf + (size_t)y0 * fb->stride);
    size_t len = (size_t)(y1 - y0) * fb->pitch;
    off_t off = fb->base + (off_t)y0 * fb->pitch;
    while (len) {
        ssize_t n = pwrite(fb->fd, src, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail("write to %s: %s", FB_DEV, strerror(errno));
            return -1;
        }
        if (n == 0) {
            fail("short write to %s", FB_DEV);
            return -1;
        }
        src += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

static void fb_rect(struct fb *fb, unsigned x0, unsigned y0, unsigned x1, unsigned y1,
                    uint32_t colour)
{
    if (x1 > fb->w)
        x1 = fb->w;
    if (y1 > fb->h)
        y1 = fb->h;
    for (unsigned y = y0; y < y1; y++) {
        uint32_t *row = fb->buf + (size_t)y * fb->stride;
        for (unsigned x = x0; x < x1; x++)
            row[x] = colour;
    }
}

static void fb_close(struct fb *fb)
{
    free(fb->buf);
    if (fb->fd >= 0)
        close(fb->fd);
    fb->buf = NULL;
    fb->fd = -1;
}

/* ------------------------------------------------------------------------ */
/* Drawing workloads. */

struct draw_opts {
    unsigned long fps;
    unsigned long frames;
    unsigned long step;
    int log_frames;
    int exit_when_done;
    int text;
    int stamp;
    uint32_t colour;
};

#define COUNTER_BITS 32
#define COUNTER_BG 0x204080u
#define WHITE 0xFFFFFFu
#define BLACK 0x000000u

static unsigned counter_block(const struct fb *fb)
{
    unsigned b = fb->w / COUNTER_BITS;
    return b > 32 ? 32 : b;
}

static void counter_frame(struct fb *fb, uint32_t n)
{
    unsigned b = counter_block(fb);
    for (unsigned i = 0; i < COUNTER_BITS; i++) {
        int bit = (n >> (COUNTER_BITS - 1 - i)) & 1;
        fb_rect(fb, i * b, 0, (i + 1) * b, b, bit ? WHITE : BLACK);
        fb_rect(fb, i * b, b, (i + 1) * b, 2 * b, bit ? BLACK : WHITE);
    }
}

/* The counter stamp of n as overlay (--stamp), and the background-coloured
 * corner pixel that tells a decoder a stamped workload is on screen. */
static void stamp_frame(struct fb *fb, uint32_t n)
{
    counter_frame(fb, n);
    if (fb->w && fb->h)
        fb->buf[(size_t)(fb->h - 1) * fb->stride + fb->w - 1] = COUNTER_BG;
}

/* Rows [0, stamp_rows) hold the stamp (0 without one). */
static unsigned stamp_rows(const struct fb *fb)
{
    unsigned r = 2 * counter_block(fb);
    return r < fb->h ? r : fb->h;
}

/* Write rows [y0, y1) of the frame, with the stamp rows [0, sr) last. */
static int fb_flush_stamped(struct fb *fb, unsigned y0, unsigned y1, unsigned sr)
{
    if (!sr)
        return fb_flush(fb, y0, y1);
    unsigned lo = y0 > sr ? y0 : sr;
    if (lo < y1 && fb_flush(fb, lo, y1) < 0)
        return -1;
    return fb_flush(fb, 0, sr);
}

#define WIN_W 480
#define WIN_H 320
#define WIN_TITLE 24
#define WIN_DX 8
#define WIN_DY 6
#define WIN_BODY 0xD0D0D0u
#define WIN_TITLE_BG 0x3060A0u

/* A triangle wave: 0..range..0 with period 2 * range (0 when range is 0). */
static unsigned bounce(uint64_t t, unsigned range)
{
    if (!range)
        return 0;
    uint64_t p = t % (2 * (uint64_t)range);
    return (unsigned)(p <= range ? p : 2 * (uint64_t)range - p);
}

static void window_pos(const struct fb *fb, uint32_t n, unsigned *x, unsigned *y)
{
    *x = bounce((uint64_t)n * WIN_DX, fb->w > WIN_W ? fb->w - WIN_W : 0);
    *y = bounce((uint64_t)n * WIN_DY, fb->h > WIN_H ? fb->h - WIN_H : 0);
}

/* Frame n of "window"; rows [*y0, *y1) are the ones that changed. */
static void window_frame(struct fb *fb, uint32_t n, unsigned *y0, unsigned *y1)
{
    unsigned x, y;
    window_pos(fb, n, &x, &y);
    if (n == 0) {
        fb_rect(fb, 0, 0, fb->w, fb->h, COUNTER_BG);
        *y0 = 0;
        *y1 = fb->h;
    } else {
        unsigned ox, oy;
        window_pos(fb, n - 1, &ox, &oy);
        fb_rect(fb, ox, oy, ox + WIN_W, oy + WIN_H, COUNTER_BG);
        *y0 = oy < y ? oy : y;
        *y1 = (oy > y ? oy : y) + WIN_H;
        if (*y1 > fb->h)
            *y1 = fb->h;
    }
    fb_rect(fb, x, y, x + WIN_W, y + WIN_H, BLACK);
    fb_rect(fb, x + 1, y + 1, x + WIN_W - 1, y + 1 + WIN_TITLE, WIN_TITLE_BG);
    fb_rect(fb, x + 1, y + 1 + WIN_TITLE, x + WIN_W - 1, y + WIN_H - 1, WIN_BODY);
}

#define SCROLL_LINE 16
#define SCROLL_CELL 8
#define SCROLL_FG 0xC0C0C0u

/* Row y (from the top of the endless page) of the scroll pattern. */
static void scroll_row(const struct fb *fb, uint64_t y, uint32_t *row)
{
    uint32_t line = (uint32_t)(y / SCROLL_LINE);
    unsigned r = (unsigned)(y % SCROLL_LINE);
    unsigned cols = fb->w / SCROLL_CELL;
    unsigned len = cols ? hash32(line * 2u + 1u) % (cols + 1) : 0;
    for (unsigned x = 0; x < fb->w; x++)
        row[x] = BLACK;
    if (r < 1 || r >= 15)
        return;
    unsigned dot_row = (r - 1) / 2; /* 7 dot rows, each 2 pixels tall */
    for (unsigned c = 0; c < len; c++) {
        uint32_t g = hash32(line * 0x10001u ^ (c + 1u) * 0x9E3779B9u);
        if (g % 6 == 0)
            continue; /* a space */
        /* 35 dots: bits 0..31 of g2 and 3 bits of g. */
        uint32_t g2 = hash32(g);
        for (unsigned dc = 0; dc < 5; dc++) {
            unsigned bit = dot_row * 5 + dc;
            int on = bit < 32 ? (g2 >> bit) & 1 : (g >> (bit - 32 + 8)) & 1;
            if (on)
                row[c * SCROLL_CELL + 1 + dc] = SCROLL_FG;
        }
    }
}

static int run_drawing(const char *mode, const struct draw_opts *o)
{
    struct fb fb;
    if (fb_open(&fb) < 0)
        return 1;
    if (!o->text)
        console_graphics();

    int rc = 0;
    uint32_t *noise = NULL, *under = NULL;
    size_t npix = (size_t)fb.w * fb.h;
    int stamped = o->stamp && strcmp(mode, "counter") && strcmp(mode, "fill");
    unsigned sr = stamped ? stamp_rows(&fb) : 0; /* rows [0, sr): the stamp */
    if (!strcmp(mode, "noise")) {
        noise = malloc((npix + 65536) * sizeof(uint32_t));
        if (!noise) {
            fail("out of memory for the noise table");
            rc = 1;
            goto out;
        }
        uint32_t s = 0x9E3779B9u;
        for (size_t i = 0; i < npix + 65536; i++) {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            noise[i] = s & 0xFFFFFFu;
        }
    }
    /* scroll moves last frame's page up: keep what the stamp covers. */
    size_t under_len = (size_t)sr * fb.stride;
    if (sr && !strcmp(mode, "scroll")) {
        under = malloc((under_len + 1) * sizeof(uint32_t));
        if (!under) {
            fail("out of memory for the stamp");
            rc = 1;
            goto out;
        }
    }

    if (!strcmp(mode, "fill")) {
        fb_rect(&fb, 0, 0, fb.w, fb.h, o->colour);
        if (fb_flush(&fb, 0, fb.h) < 0) {
            rc = 1;
            goto out;
        }
        say("VMGATE-WORK-STARTED fill");
        hold_until_stopped();
        goto out;
    }

    struct pacer pacer;
    pacer_init(&pacer, o->fps);
    uint32_t n = 0;
    unsigned step = (unsigned)o->step;
    for (; !stop_requested; n++) {
        unsigned y0 = 0, y1 = fb.h;
        if (!strcmp(mode, "counter")) {
            if (n == 0)
                fb_rect(&fb, 0, 0, fb.w, fb.h, COUNTER_BG);
            else
                y1 = 2 * counter_block(&fb);
            counter_frame(&fb, n);
        } else if (!strcmp(mode, "scroll")) {
            uint64_t top = (uint64_t)n * step;
            unsigned fresh = fb.h;
            if (n > 0 && step < fb.h) {
                memmove(fb.buf, fb.buf + (size_t)step * fb.stride,
                        (size_t)(fb.h - step) * fb.stride * 4);
                fresh = step;
            }
            for (unsigned y = fb.h - fresh; y < fb.h; y++)
                scroll_row(&fb, top + y, fb.buf + (size_t)y * fb.stride);
        } else if (!strcmp(mode, "window")) {
            window_frame(&fb, n, &y0, &y1);
        } else { /* noise */
            uint32_t h = hash32(n ^ 0xA5A5A5A5u);
            const uint32_t *src = noise + (h & 0xFFFFu);
            uint32_t m = hash32(h) & 0xFFFFFFu;
            for (unsigned y = 0; y < fb.h; y++) {
                uint32_t *row = fb.buf + (size_t)y * fb.stride;
                const uint32_t *s = src + (size_t)y * fb.w;
                for (unsigned x = 0; x < fb.w; x++)
                    row[x] = s[x] ^ m;
            }
        }
        uint32_t *corner = fb.buf + (size_t)(fb.h - 1) * fb.stride + fb.w - 1;
        if (under) {
            memcpy(under, fb.buf, under_len * sizeof(uint32_t));
            under[under_len] = *corner;
        }
        if (sr)
            stamp_frame(&fb, n);
        if (fb_flush_stamped(&fb, y0, y1, sr) < 0) {
            rc = 1;
            goto out;
        }
        if (under) {
            memcpy(fb.buf, under, under_len * sizeof(uint32_t));
            *corner = under[under_len];
        }
        if (n == 0)
            say("VMGATE-WORK-STARTED %s", mode);
        if (o->log_frames)
            say("VMGATE-FRAME %u", n);
        if (o->frames && n + 1 >= o->frames) {
            n++;
            say("VMGATE-WORK-DONE %s %u", mode, n);
            if (!o->exit_when_done)
                hold_until_stopped();
            break;
        }
        pacer_wait(&pacer);
    }
out:
    console_text();
    free(noise);
    free(under);
    fb_close(&fb);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* DRM helpers. */

static int drm_resources(int fd, uint32_t **crtcs, uint32_t *ncrtc, uint32_t **conns,
                         uint32_t *nconn)
{
    struct vg_drm_card_res res;
    memset(&res, 0, sizeof(res));
    if (ioctl(fd, VG_DRM_IOCTL_MODE_GETRESOURCES, &res) < 0)
        return -1;
    *crtcs = calloc(res.count_crtcs + 1, sizeof(uint32_t));
    *conns = calloc(res.count_connectors + 1, sizeof(uint32_t));
    if (!*crtcs || !*conns)
        return -1;
    struct vg_drm_card_res r2;
    memset(&r2, 0, sizeof(r2));
    r2.count_crtcs = res.count_crtcs;
    r2.count_connectors = res.count_connectors;
    r2.crtc_id_ptr = (uint64_t)(uintptr_t)*crtcs;
    r2.connector_id_ptr = (uint64_t)(uintptr_t)*conns;
    if (ioctl(fd, VG_DRM_IOCTL_MODE_GETRESOURCES, &r2) < 0)
        return -1;
    *ncrtc = r2.count_crtcs < res.count_crtcs ? r2.count_crtcs : res.count_crtcs;
    *nconn = r2.count_connectors < res.count_connectors ? r2.count_connectors
                                                          : res.count_connectors;
    return 0;
}

/* Size of the first active CRTC's mode, or -1. */
static int drm_active_size(int fd, unsigned *w, unsigned *h)
{
    uint32_t *crtcs = NULL, *conns = NULL, nc = 0, nn = 0;
    int rc = -1;
    if (drm_resources(fd, &crtcs, &nc, &conns, &nn) == 0) {
        for (uint32_t i = 0; i < nc; i++) {
            struct vg_drm_crtc c;
            memset(&c, 0, sizeof(c));
            c.crtc_id = crtcs[i];
            if (ioctl(fd, VG_DRM_IOCTL_MODE_GETCRTC, &c) == 0 && c.mode_valid && c.fb_id &&
                c.mode.hdisplay && c.mode.vdisplay) {
                *w = c.mode.hdisplay;
                *h = c.mode.vdisplay;
                rc = 0;
                break;
            }
        }
    }
    free(crtcs);
    free(conns);
    return rc;
}

/* A plain mode for WxH at 60 Hz when the connector does not list one. */
static void make_mode(struct vg_drm_modeinfo *m, unsigned w, unsigned h)
{
    memset(m, 0, sizeof(*m));
    m->hdisplay = (uint16_t)w;
    m->hsync_start = (uint16_t)(w + 48);
    m->hsync_end = (uint16_t)(w + 80);
    m->htotal = (uint16_t)(w + 160);
    m->vdisplay = (uint16_t)h;
    m->vsync_start = (uint16_t)(h + 3);
    m->vsync_end = (uint16_t)(h + 8);
    m->vtotal = (uint16_t)(h + 30);
    m->vrefresh = 60;
    m->clock = (uint32_t)((uint64_t)m->htotal * m->vtotal * 60 / 1000);
    m->flags = VG_DRM_MODE_FLAG_PHSYNC | VG_DRM_MODE_FLAG_NVSYNC;
    m->type = VG_DRM_MODE_TYPE_USERDEF;
    snprintf(m->name, sizeof(m->name), "%ux%u", w, h);
}

static int run_mode(unsigned w, unsigned h)
{
    int rc = 1;
    uint32_t *crtcs = NULL, *conns = NULL, nc = 0, nn = 0;
    struct vg_drm_modeinfo *modes = NULL;
    struct vg_drm_crtc saved;
    int have_saved = 0;
    uint32_t fb_id = 0, handle = 0, conn_id = 0, crtc_id = 0;
    void *map = MAP_FAILED;
    size_t map_len = 0;

    int fd = open(DRM_CARD, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fail("cannot open %s: %s", DRM_CARD, strerror(errno));
        return 1;
    }
    if (ioctl(fd, VG_DRM_IOCTL_SET_MASTER, 0) < 0) {
        fail("cannot become DRM master (another program drives the display): %s",
             strerror(errno));
        goto out;
    }
    if (drm_resources(fd, &crtcs, &nc, &conns, &nn) < 0 || !nc || !nn) {
        fail("cannot read DRM resources: %s", strerror(errno));
        goto out;
    }

    /* The first connected connector, its modes and its CRTC. */
    struct vg_drm_modeinfo mode;
    int found_conn = 0, found_mode = 0;
    for (uint32_t i = 0; i < nn && !found_conn; i++) {
        struct vg_drm_get_connector gc;
        memset(&gc, 0, sizeof(gc));
        gc.connector_id = conns[i];
        if (ioctl(fd, VG_DRM_IOCTL_MODE_GETCONNECTOR, &gc) < 0)
            continue;
        if (gc.connection != VG_DRM_MODE_CONNECTED)
            continue;
        uint32_t count = gc.count_modes;
        free(modes);
        modes = calloc(count + 1, sizeof(*modes));
        uint32_t *encs = calloc(gc.count_encoders + 1, sizeof(uint32_t));
        if (!modes || !encs) {
            free(encs);
            fail("out of memory");
            goto out;
        }
        struct vg_drm_get_connector g2;
        memset(&g2, 0, sizeof(g2));
        g2.connector_id = conns[i];
        g2.count_modes = count;
        g2.modes_ptr = (uint64_t)(uintptr_t)modes;
        g2.count_encoders = gc.count_encoders;
        g2.encoders_ptr = (uint64_t)(uintptr_t)encs;
        if (ioctl(fd, VG_DRM_IOCTL_MODE_GETCONNECTOR, &g2) < 0) {
            free(encs);
            continue;
        }
        if (g2.count_modes < count)
            count = g2.count_modes;
        for (uint32_t m = 0; m < count && !found_mode; m++) {
            if (modes[m].hdisplay == w && modes[m].vdisplay == h) {
                mode = modes[m];
                found_mode = 1;
            }
        }
        uint32_t enc_id = g2.encoder_id ? g2.encoder_id : (gc.count_encoders ? encs[0] : 0);
        free(encs);
        struct vg_drm_get_encoder ge;
        memset(&ge, 0, sizeof(ge));
        ge.encoder_id = enc_id;
        if (enc_id && ioctl(fd, VG_DRM_IOCTL_MODE_GETENCODER, &ge) == 0) {
            if (ge.crtc_id) {
                crtc_id = ge.crtc_id;
            } else {
                for (uint32_t c = 0; c < nc && c < 32; c++) {
                    if (ge.possible_crtcs & (1u << c)) {
                        crtc_id = crtcs[c];
                        break;
                    }
                }
            }
        }
        if (!crtc_id)
            crtc_id = crtcs[0];
        conn_id = conns[i];
        found_conn = 1;
    }
    if (!found_conn) {
        fail("no connected DRM connector");
        goto out;
    }
    if (!found_mode)
        make_mode(&mode, w, h);

    memset(&saved, 0, sizeof(saved));
    saved.crtc_id = crtc_id;
    if (ioctl(fd, VG_DRM_IOCTL_MODE_GETCRTC, &saved) == 0 && saved.mode_valid && saved.fb_id)
        have_saved = 1;

    struct vg_drm_create_dumb cd;
    memset(&cd, 0, sizeof(cd));
    cd.width = w;
    cd.height = h;
    cd.bpp = 32;
    if (ioctl(fd, VG_DRM_IOCTL_MODE_CREATE_DUMB, &cd) < 0) {
        fail("cannot create a %ux%u buffer: %s", w, h, strerror(errno));
        goto out;
    }
    handle = cd.handle;
    struct vg_drm_map_dumb md;
    memset(&md, 0, sizeof(md));
    md.handle = handle;
    if (ioctl(fd, VG_DRM_IOCTL_MODE_MAP_DUMB, &md) < 0) {
        fail("cannot map the buffer: %s", strerror(errno));
        goto out;
    }
    map_len = (size_t)cd.size;
    map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)md.offset);
    if (map == MAP_FAILED) {
        fail("mmap of the buffer: %s", strerror(errno));
        goto out;
    }
    struct vg_drm_fb_cmd fc;
    memset(&fc, 0, sizeof(fc));
    fc.width = w;
    fc.height = h;
    fc.pitch = cd.pitch;
    fc.bpp = 32;
    fc.depth = 24;
    fc.handle = handle;
    if (ioctl(fd, VG_DRM_IOCTL_MODE_ADDFB, &fc) < 0) {
        fail("cannot add a %ux%u framebuffer: %s", w, h, strerror(errno));
        goto out;
    }
    fb_id = fc.fb_id;

    struct vg_drm_crtc sc;
    memset(&sc, 0, sizeof(sc));
    sc.crtc_id = crtc_id;
    sc.fb_id = fb_id;
    sc.set_connectors_ptr = (uint64_t)(uintptr_t)&conn_id;
    sc.count_connectors = 1;
    sc.mode_valid = 1;
    sc.mode = mode;
    if (ioctl(fd, VG_DRM_IOCTL_MODE_SETCRTC, &sc) < 0) {
        fail("cannot set mode %ux%u: %s", w, h, strerror(errno));
        goto out;
    }
    /* Draw once the buffer is pinned for scanout: the memory manager may
     * move a buffer while pinning it. */
    for (unsigned y = 0; y < h; y++) {
        uint32_t *row = (uint32_t *)((char *)map + (size_t)y * cd.pitch);
        for (unsigned x = 0; x < w; x++) {
            int right = x >= w / 2, bottom = y >= h / 2;
            row[x] = bottom ? (right ? WHITE : 0x0000FFu) : (right ? 0x00FF00u : 0xFF0000u);
        }
    }
    say("VMGATE-WORK-STARTED mode");
    say("VMGATE-MODE %ux%u", w, h);
    hold_until_stopped();
    rc = 0;

    if (have_saved) {
        struct vg_drm_crtc rc2 = saved;
        rc2.set_connectors_ptr = (uint64_t)(uintptr_t)&conn_id;
        rc2.count_connectors = 1;
        if (ioctl(fd, VG_DRM_IOCTL_MODE_SETCRTC, &rc2) < 0)
            fprintf(stderr, "vgwork mode: cannot restore the previous mode: %s\n",
                    strerror(errno));
    }
out:
    if (map != MAP_FAILED)
        munmap(map, map_len);
    if (fb_id) {
        unsigned int id = fb_id;
        ioctl(fd, VG_DRM_IOCTL_MODE_RMFB, &id);
    }
    if (handle) {
        struct vg_drm_destroy_dumb dd = {.handle = handle};
        ioctl(fd, VG_DRM_IOCTL_MODE_DESTROY_DUMB, &dd);
    }
    free(modes);
    free(crtcs);
    free(conns);
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Pointer: the USB tablet as seen by evdev. */

#define BITS_PER_LONG_ (8 * sizeof(unsigned long))
#define NLONGS(n) (((n) + BITS_PER_LONG_ - 1) / BITS_PER_LONG_)

static int test_bit(const unsigned long *bits, unsigned n)
{
    return (int)((bits[n / BITS_PER_LONG_] >> (n % BITS_PER_LONG_)) & 1);
}

/* 2 for a tablet by name, 1 for any absolute pointer, 0 otherwise. */
static int rate_device(int fd)
{
    unsigned long evbits[NLONGS(EV_CNT)] = {0};
    unsigned long absbits[NLONGS(ABS_CNT)] = {0};
    unsigned long keybits[NLONGS(KEY_CNT)] = {0};
    char name[128] = "";
    if (ioctl(fd, EVIOCGBIT(0, sizeof(evbits)), evbits) < 0 || !test_bit(evbits, EV_ABS))
        return 0;
    if (ioctl(fd, EVIOCGBIT(EV_ABS, sizeof(absbits)), absbits) < 0 ||
        !test_bit(absbits, ABS_X) || !test_bit(absbits, ABS_Y))
        return 0;
    ioctl(fd, EVIOCGNAME(sizeof(name) - 1), name);
    if (strstr(name, "Tablet") || strstr(name, "tablet"))
        return 2;
    if (ioctl(fd, EVIOCGBIT(EV_KEY, sizeof(keybits)), keybits) == 0 &&
        test_bit(keybits, BTN_LEFT))
        return 1;
    return 0;
}

/* The input device that @rate likes best (the first of equals), as a path. */
static int find_device(int (*rate)(int fd), char *path, size_t len)
{
    int best = -1, best_rate = 0;
    for (int i = 0; i < 64; i++) {
        char p[32];
        snprintf(p, sizeof(p), "/dev/input/event%d", i);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        int r = rate(fd);
        close(fd);
        if (r > best_rate) {
            best_rate = r;
            best = i;
        }
    }
    if (best < 0)
        return -1;
    snprintf(path, len, "/dev/input/event%d", best);
    return 0;
}

static int find_tablet(char *path, size_t len)
{
    return find_device(rate_device, path, len);
}

/* Inverse of QEMU's pixel -> tablet mapping (see the header). */
static int unscale(int v, int min, int max, unsigned size)
{
    int64_t range = (int64_t)max - min;
    if (range <= 0 || size == 0)
        return 0;
    int64_t d = (int64_t)v - min;
    if (d < 0)
        d = 0;
    int64_t p = (d * (int64_t)size + range - 1) / range;
    if (p > (int64_t)size - 1)
        p = (int64_t)size - 1;
    return (int)p;
}

static void display_size(int drm_fd, int fb_fd, unsigned *w, unsigned *h)
{
    if (drm_fd >= 0 && drm_active_size(drm_fd, w, h) == 0)
        return;
    struct fb_var_screeninfo var;
    if (fb_fd >= 0 && ioctl(fb_fd, FBIOGET_VSCREENINFO, &var) == 0 && var.xres && var.yres) {
        *w = var.xres;
        *h = var.yres;
        return;
    }
    *w = 1024;
    *h = 768;
}

/*
 * Open @device, or else the device @find names, trying every 100 ms for up
 * to @wait_s seconds (devices appear while the guest boots). @path receives
 * the one opened. Returns the descriptor or -1.
 */
static int open_device(const char *device, int (*find)(char *, size_t), int flags,
                       unsigned long wait_s, char *path, size_t len)
{
    int64_t deadline = now_ns() + (int64_t)wait_s * 1000000000;
    int fd = -1;
    for (;;) {
        if (device) {
            fd = open(device, flags);
            if (fd >= 0)
                snprintf(path, len, "%s", device);
        } else if (find(path, len) == 0) {
            fd = open(path, flags);
        }
        if (fd >= 0 || stop_requested || now_ns() >= deadline)
            return fd;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 100000000};
        nanosleep(&ts, NULL);
    }
}

static int run_pointer(const char *device, unsigned long wait_s)
{
    char path[64];
    int fd = open_device(device, find_tablet, O_RDONLY | O_CLOEXEC, wait_s, path, sizeof(path));
    if (fd < 0) {
        fail("no tablet input device found within %lu s", wait_s);
        return 1;
    }

    struct input_absinfo ax, ay;
    if (ioctl(fd, EVIOCGABS(ABS_X), &ax) < 0 || ioctl(fd, EVIOCGABS(ABS_Y), &ay) < 0) {
        fail("%s has no absolute axes: %s", path, strerror(errno));
        close(fd);
        return 1;
    }
    /* The DRM device only answers questions; it must not keep the master
     * role that its first opener gets, or "vgwork mode" could not set modes. */
    int drm_fd = open(DRM_CARD, O_RDWR | O_CLOEXEC);
    if (drm_fd >= 0)
        ioctl(drm_fd, VG_DRM_IOCTL_DROP_MASTER, 0);
    int fb_fd = open(FB_DEV, O_RDONLY | O_CLOEXEC);

    int abs_x = ax.value, abs_y = ay.value;
    unsigned buttons = 0;
    say("VMGATE-WORK-STARTED pointer");
    int rc = 0;
    while (!stop_requested) {
        struct input_event ev[64];
        ssize_t n = read(fd, ev, sizeof(ev));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail("read %s: %s", path, strerror(errno));
            rc = 1;
            break;
        }
        if (n == 0)
            break;
        for (size_t i = 0; i < (size_t)n / sizeof(ev[0]); i++) {
            const struct input_event *e = &ev[i];
            unsigned bit = 0;
            switch (e->type) {
            case EV_ABS:
                if (e->code == ABS_X)
                    abs_x = e->value;
                else if (e->code == ABS_Y)
                    abs_y = e->value;
                break;
            case EV_KEY:
                switch (e->code) {
                case BTN_LEFT: bit = 1; break;
                case BTN_MIDDLE: bit = 2; break;
                case BTN_RIGHT: bit = 4; break;
                case BTN_SIDE: bit = 8; break;
                case BTN_EXTRA: bit = 16; break;
                default: break;
                }
                if (bit) {
                    if (e->value)
                        buttons |= bit;
                    else
                        buttons &= ~bit;
                }
                break;
            case EV_REL:
                if (e->code == REL_WHEEL)
                    say("VMGATE-WHEEL %d", e->value);
                else if (e->code == REL_HWHEEL)
                    say("VMGATE-HWHEEL %d", e->value);
                break;
            case EV_SYN:
                if (e->code == SYN_REPORT) {
                    unsigned w, h;
                    display_size(drm_fd, fb_fd, &w, &h);
                    say("VMGATE-POINTER %d %d %u", unscale(abs_x, ax.minimum, ax.maximum, w),
                        unscale(abs_y, ay.minimum, ay.maximum, h), buttons);
                } else if (e->code == SYN_DROPPED) {
                    struct input_absinfo a;
                    if (ioctl(fd, EVIOCGABS(ABS_X), &a) == 0)
                        abs_x = a.value;
                    if (ioctl(fd, EVIOCGABS(ABS_Y), &a) == 0)
                        abs_y = a.value;
                }
                break;
            default:
                break;
            }
        }
    }
    if (drm_fd >= 0)
        close(drm_fd);
    if (fb_fd >= 0)
        close(fb_fd);
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Keys: the keyboard as seen by evdev, echoed as a counter of presses. */

/* A keyboard: EV_KEY with all of KEY_A..KEY_Z, and not the tablet. */
static int is_keyboard(int fd)
{
    unsigned long evbits[NLONGS(EV_CNT)] = {0};
    unsigned long keybits[NLONGS(KEY_CNT)] = {0};
    char name[128] = "";
    if (ioctl(fd, EVIOCGBIT(0, sizeof(evbits)), evbits) < 0 || !test_bit(evbits, EV_KEY))
        return 0;
    if (ioctl(fd, EVIOCGBIT(EV_KEY, sizeof(keybits)), keybits) < 0)
        return 0;
    static const unsigned short letters[] = {
        KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I, KEY_J, KEY_K, KEY_L, KEY_M,
        KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z,
    };
    for (size_t i = 0; i < sizeof(letters) / sizeof(letters[0]); i++)
        if (!test_bit(keybits, letters[i]))
            return 0;
    ioctl(fd, EVIOCGNAME(sizeof(name) - 1), name);
    return !strstr(name, "Tablet");
}

static int find_keyboard(char *path, size_t len)
{
    return find_device(is_keyboard, path, len);
}

static int run_keys(const char *device, unsigned long wait_s, int text)
{
    char path[64];
    int fd = open_device(device, find_keyboard, O_RDONLY | O_CLOEXEC | O_NONBLOCK, wait_s, path,
                         sizeof(path));
    if (fd < 0) {
        fail("no keyboard input device found within %lu s", wait_s);
        return 1;
    }
    if (ioctl(fd, EVIOCGRAB, 1) < 0) {
        fail("cannot grab %s: %s", path, strerror(errno));
        close(fd);
        return 1;
    }

    struct fb fb;
    if (fb_open(&fb) < 0) {
        ioctl(fd, EVIOCGRAB, 0);
        close(fd);
        return 1;
    }
    if (!text)
        console_graphics();

    int rc = 1;
    uint32_t k = 0;
    unsigned sr = stamp_rows(&fb);
    fb_rect(&fb, 0, 0, fb.w, fb.h, COUNTER_BG);
    counter_frame(&fb, k);
    if (fb_flush(&fb, 0, fb.h) < 0)
        goto out;
    say("VMGATE-WORK-STARTED keys");
    while (!stop_requested) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, -1);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            fail("poll %s: %s", path, strerror(errno));
            goto out;
        }
        struct input_event ev[64];
        ssize_t n = read(fd, ev, sizeof(ev));
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            fail("read %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0) {
            fail("%s: end of file", path);
            goto out;
        }
        /* Draw once per batch, then report each press of it. */
        unsigned short codes[64];
        size_t presses = 0;
        for (size_t i = 0; i < (size_t)n / sizeof(ev[0]); i++)
            if (ev[i].type == EV_KEY && ev[i].value == 1)
                codes[presses++] = ev[i].code;
        if (!presses)
            continue;
        counter_frame(&fb, k + (uint32_t)presses);
        if (fb_flush(&fb, 0, sr) < 0)
            goto out;
        for (size_t i = 0; i < presses; i++)
            say("VMGATE-KEY %u %u", ++k, codes[i]);
    }
    rc = 0;
out:
    console_text();
    fb_close(&fb);
    ioctl(fd, EVIOCGRAB, 0);
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------------ */

static int run_info(void)
{
    int fd = open(FB_DEV, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        struct fb_var_screeninfo var;
        struct fb_fix_screeninfo fix;
        unsigned w, h;
        if (fb_query(fd, &w, &h, &var, &fix) == 0)
            printf("fb0 %ux%u bpp %u line %u virtual %ux%u id %.16s\n", w, h,
                   var.bits_per_pixel, fix.line_length, var.xres_virtual, var.yres_virtual,
                   fix.id);
        close(fd);
    } else {
        printf("fb0 absent (%s)\n", strerror(errno));
    }
    fd = open(DRM_CARD, O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        unsigned w, h;
        if (drm_active_size(fd, &w, &h) == 0)
            printf("crtc %ux%u\n", w, h);
        else
            printf("crtc inactive\n");
        close(fd);
    } else {
        printf("drm absent (%s)\n", strerror(errno));
    }
    char path[64];
    if (find_tablet(path, sizeof(path)) == 0)
        printf("tablet %s\n", path);
    else
        printf("tablet absent\n");
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: vgwork counter [--fps N] [--frames N] [--log-frames] [--exit] [--text]\n"
            "       vgwork scroll  [--fps N] [--frames N] [--step PX] [--exit] [--text] [--stamp]\n"
            "       vgwork noise   [--fps N] [--frames N] [--exit] [--text] [--stamp]\n"
            "       vgwork window  [--fps N] [--frames N] [--exit] [--text] [--stamp]\n"
            "       vgwork fill RRGGBB [--text]\n"
            "       vgwork pointer [--device /dev/input/eventN] [--wait SECONDS]\n"
            "       vgwork keys    [--device /dev/input/eventN] [--wait SECONDS] [--text]\n"
            "       vgwork mode WxH\n"
            "       vgwork info\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage();
        return 2;
    }
    const char *mode = argv[1];
    mode_name = mode;
    install_signals();

    struct draw_opts o = {.fps = 30, .frames = 0, .step = 4};
    const char *device = NULL;
    unsigned long wait_s = 15;
    const char *positional = NULL;

    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long num;
        if (!strcmp(a, "--fps") && !parse_uint(v, 100000, &num)) {
            o.fps = num;
            i++;
        } else if (!strcmp(a, "--frames") && !parse_uint(v, UINT32_MAX, &num)) {
            o.frames = num;
            i++;
        } else if (!strcmp(a, "--step") && !parse_uint(v, 100000, &num) && num) {
            o.step = num;
            i++;
        } else if (!strcmp(a, "--wait") && !parse_uint(v, 86400, &num)) {
            wait_s = num;
            i++;
        } else if (!strcmp(a, "--device") && v) {
            device = v;
            i++;
        } else if (!strcmp(a, "--log-frames")) {
            o.log_frames = 1;
        } else if (!strcmp(a, "--exit")) {
            o.exit_when_done = 1;
        } else if (!strcmp(a, "--text")) {
            o.text = 1;
        } else if (!strcmp(a, "--stamp")) {
            o.stamp = 1;
        } else if (a[0] != '-' && !positional) {
            positional = a;
        } else {
            fprintf(stderr, "vgwork %s: bad argument '%s'\n", mode, a);
            usage();
            return 2;
        }
    }

    if (!strcmp(mode, "counter") || !strcmp(mode, "scroll") || !strcmp(mode, "noise") ||
        !strcmp(mode, "window")) {
        if (positional) {
            usage();
            return 2;
        }
        return run_drawing(mode, &o);
    }
    if (!strcmp(mode, "fill")) {
        char *end;
        if (!positional || strlen(positional) != 6) {
            usage();
            return 2;
        }
        unsigned long c = strtoul(positional, &end, 16);
        if (*end) {
            usage();
            return 2;
        }
        o.colour = (uint32_t)c;
        return run_drawing(mode, &o);
    }
    if (!strcmp(mode, "pointer")) {
        if (positional) {
            usage();
            return 2;
        }
        return run_pointer(device, wait_s);
    }
    if (!strcmp(mode, "keys")) {
        if (positional) {
            usage();
            return 2;
        }
        return run_keys(device, wait_s, o.text);
    }
    if (!strcmp(mode, "mode")) {
        unsigned w, h;
        if (parse_size(positional, &w, &h) < 0) {
            usage();
            return 2;
        }
        return run_mode(w, h);
    }
    if (!strcmp(mode, "info"))
        return run_info();
    usage();
    return 2;
}
