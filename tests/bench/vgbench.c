/*
 * vgbench — the benchmark's client: watches the test guest's frame counter
 * through several display sources at once and says, per source, when each
 * frame arrived; sends keys and times the guest's echo; times a login to its
 * first complete frame. It prints JSON; tests/bench/run turns that into
 * figures. It measures and never judges: no threshold, no pass or fail.
 *
 *   vgbench watch --seconds S SOURCE...
 *   vgbench keys --count N [--interval-ms M] SOURCE...
 *   vgbench ttff SOURCE
 *
 * SOURCE is LABEL=KIND,ARG,... :
 *   LABEL=libvirt,DOMAIN                     QEMU's VNC through the libvirt
 *                                            graphics fd (the direct floor)
 *   LABEL=vnc,HOST,PORT                      plain RFB, security None (QEMU's
 *                                            TCP VNC)
 *   LABEL=ws,HOST,PORT                       plain RFB through a WebSocket
 *                                            relay (websockify)
 *   LABEL=vmgate-vnc,HOST,PORT,USER,PWFILE,CA    vmgate's VNC front end
 *                                            (VeNCrypt X509Plain, CA "-":
 *                                            not checked)
 *   LABEL=rdp,HOST,PORT,USER,PWFILE,CA,GFX[,VM]  an RDP server (vmgate, xrdp);
 *                                            GFX lossless|legacy|h264, or
 *                                            lossless-noack (frame
 *                                            acknowledgements suspended)
 *
 * Every source runs on its own thread(s) in this one process, so arrival
 * times share one clock. A frame "arrives" when the source commits the
 * update that completes it (the surface's damage callback); its number is
 * read from the counter stamp (tests/guest/vgwork.c), and a stamp whose two
 * rows disagree (caught half written) is not counted.
 *
 * Threading: damage callbacks run on each source's thread and only update
 * that watcher's record under its lock; the main thread reads them.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_received (glibc's lacks it) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <libvirt/libvirt.h>

#include "console.h"
#include "hypervisor.h"
#include "net.h"
#include "rdp-client.h"
#include "shot.h"
#include "surface.h"
#include "util.h"
#include "ws-shim.h"

#define MAX_SOURCES 64
#define MAX_FRAMES  200000
/* Left Shift: the guest's "keys" workload counts presses; a modifier types
 * nothing should the workload not hold the keyboard. */
#define KEY_QNUM   0x2a
#define KEY_KEYSYM 0xffe1

typedef enum kind { K_LIBVIRT, K_VNC, K_WS, K_VMGATE_VNC, K_RDP } kind;

typedef struct frame_rec {
    uint32_t n;
    int64_t t_us;
} frame_rec;

typedef struct watcher {
    char *label;
    kind kind;
    char **args;
    guint nargs;

    /* connection */
    virConnectPtr conn;
    virDomainPtr dom;
    vg_console *console;
    vg_ws_shim *ws;
    vg_display_source *vnc_src;
    vg_rdp_client *rdp;
    shot_vnc_params vnc_params;
    char *password;
    vg_display_source *src;
    vg_surface *surface;
    int64_t t_connect_start, t_connected, t_first_frame;

    GMutex lock;
    GCond cond;
    /* under lock */
    bool listening;
    bool have_value;
    uint32_t value; /* last counter value decoded */
    uint64_t commits;
    uint64_t torn; /* stamps whose rows disagreed */
    bool recording;
    frame_rec *frames;
    size_t nframes;
    char closed[256];
} watcher;

static watcher watchers[MAX_SOURCES];
static unsigned nwatchers;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("vgbench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* ---- the counter stamp (layout: tests/guest/vgwork.c) ---- */

/* A block is white (1) or black (0); thresholds so that a lossy codec's
 * near-white still reads as white. */
static int bit_at(const uint8_t *px, size_t stride, uint32_t x, uint32_t y)
{
    uint32_t v;

    memcpy(&v, px + (size_t)y * stride + (size_t)x * 4, 4);
    return ((v >> 8) & 0xff) >= 0x80; /* green */
}

/* @return true with *out set when the stamp reads cleanly. */
static bool decode_locked(vg_surface *s, uint32_t *out)
{
    uint32_t w = vg_surface_width_locked(s), h = vg_surface_height_locked(s);
    uint32_t b = w >= 1024 ? 32 : w / 32, n = 0;
    const uint8_t *px = vg_surface_pixels_locked(s);
    size_t stride = vg_surface_stride_locked(s);

    if (!px || b == 0 || h < 2 * b)
        return false;
    for (uint32_t i = 0; i < 32; i++) {
        int top = bit_at(px, stride, i * b + b / 2, b / 2);
        int bottom = bit_at(px, stride, i * b + b / 2, b + b / 2);
        if (top == bottom)
            return false;
        n = (n << 1) | (uint32_t)top;
    }
    *out = n;
    return true;
}

static void on_damage(void *opaque, const pixman_region32_t *damage)
{
    watcher *w = opaque;
    int64_t now = g_get_monotonic_time();
    uint32_t n;
    bool ok;

    (void)damage;
    vg_surface_lock(w->surface);
    ok = decode_locked(w->surface, &n);
    vg_surface_unlock(w->surface);
    g_mutex_lock(&w->lock);
    w->commits++;
    if (!ok) {
        w->torn++;
    } else if (!w->have_value || n != w->value) {
        w->have_value = true;
        w->value = n;
        if (w->recording && w->nframes < MAX_FRAMES)
            w->frames[w->nframes++] = (frame_rec){n, now};
        g_cond_broadcast(&w->cond);
    }
    g_mutex_unlock(&w->lock);
}

static void on_resize(void *opaque, uint32_t width, uint32_t height)
{
    (void)opaque;
    (void)width;
    (void)height;
}

static void on_closed(void *opaque, const char *reason)
{
    watcher *w = opaque;

    g_mutex_lock(&w->lock);
    g_strlcpy(w->closed, reason, sizeof(w->closed));
    g_cond_broadcast(&w->cond);
    g_mutex_unlock(&w->lock);
}

static const vg_surface_listener_ops listener_ops = {
    .damage = on_damage, .resize = on_resize, .closed = on_closed};

/* ---- sources ---- */

static void need_args(watcher *w, guint n, const char *usage)
{
    if (w->nargs < n)
        die("source %s: want %s", w->label, usage);
}

static char *read_password(const char *path)
{
    char *text = NULL;
    GError *err = NULL;

    if (!g_file_get_contents(path, &text, NULL, &err))
        die("cannot read %s: %s", path, err->message);
    text[strcspn(text, "\r\n")] = 0;
    return text;
}

static void on_console_lost(void *opaque, vg_console *console, const char *why)
{
    (void)opaque;
    vg_surface_close(vg_console_surface(console), why);
}

static const vg_console_events console_events = {.lost = on_console_lost};

static void open_rfb_fd(watcher *w, int fd)
{
    int r = vg_console_new(w->label, fd, &console_events, w, &w->console);

    if (r < 0)
        die("source %s: console: %s", w->label, g_strerror(-r));
    w->src = vg_console_source(w->console);
}

static void connect_source(watcher *w, int64_t deadline_us)
{
    const char *why = NULL;
    char msg[512];
    int fd, r;

    w->t_connect_start = g_get_monotonic_time();
    switch (w->kind) {
    case K_LIBVIRT:
        need_args(w, 1, "libvirt,DOMAIN");
        w->conn = virConnectOpen("qemu:///system");
        if (!w->conn)
            die("source %s: cannot connect to libvirt: %s", w->label, vg_libvirt_last_error());
        w->dom = virDomainLookupByName(w->conn, w->args[0]);
        if (!w->dom)
            die("source %s: no domain %s", w->label, w->args[0]);
        fd = vg_libvirt_open_graphics(w->dom, &why);
        if (fd < 0)
            die("source %s: %s", w->label, why);
        open_rfb_fd(w, fd);
        break;
    case K_VNC:
    case K_WS: {
        unsigned long port;
        need_args(w, 2, "vnc|ws,HOST,PORT");
        port = strtoul(w->args[1], NULL, 10);
        if (w->kind == K_WS) {
            r = vg_ws_shim_connect(w->args[0], (unsigned)port, "/", deadline_us, &w->ws, &fd);
            if (r < 0)
                die("source %s: websocket: %s", w->label, g_strerror(-r));
        } else {
            g_autofree char *p = g_strdup(w->args[1]);
            struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
            if (getaddrinfo(w->args[0], p, &hints, &ai) != 0 || !ai)
                die("source %s: cannot resolve %s", w->label, w->args[0]);
            fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
                die("source %s: connect: %s", w->label, g_strerror(errno));
            freeaddrinfo(ai);
            vg_net_set_nodelay(fd);
        }
        open_rfb_fd(w, fd);
        break;
    }
    case K_VMGATE_VNC:
        need_args(w, 5, "vmgate-vnc,HOST,PORT,USER,PWFILE,CA");
        w->password = read_password(w->args[3]);
        w->vnc_params = (shot_vnc_params){
            .host = w->args[0],
            .port = w->args[1],
            .user = w->args[2],
            .password = w->password,
            .ca_file = strcmp(w->args[4], "-") ? w->args[4] : NULL,
            .insecure = !strcmp(w->args[4], "-"),
        };
        if (shot_vnc_connect(&w->vnc_params, deadline_us, 60, &w->vnc_src) != SHOT_EXIT_OK)
            die("source %s: VNC login failed", w->label);
        w->src = w->vnc_src;
        break;
    case K_RDP: {
        vg_rdp_client_params p = {0};
        need_args(w, 6, "rdp,HOST,PORT,USER,PWFILE,CA,lossless|legacy|h264|lossless-noack[,VM]");
        w->password = read_password(w->args[3]);
        p.host = w->args[0];
        p.port = (uint16_t)strtoul(w->args[1], NULL, 10);
        p.user = w->args[2];
        p.password = w->password;
        p.ca_file = strcmp(w->args[4], "-") ? w->args[4] : NULL;
        p.insecure = !strcmp(w->args[4], "-");
        p.graphics = !strcmp(w->args[5], "legacy") ? VG_RDP_GRAPHICS_LEGACY
                     : !strcmp(w->args[5], "h264") ? VG_RDP_GRAPHICS_H264
                                                   : VG_RDP_GRAPHICS_LOSSLESS;
        p.suspend_frame_acks = !strcmp(w->args[5], "lossless-noack");
        p.vm = w->nargs > 6 ? w->args[6] : NULL;
        p.deadline_us = deadline_us;
        if (vg_rdp_client_connect(&p, &w->rdp, msg, sizeof(msg)) != VG_RDP_OK)
            die("source %s: RDP: %s", w->label, msg);
        w->src = vg_rdp_client_source(w->rdp);
        break;
    }
    }
    w->t_connected = g_get_monotonic_time();
    w->surface = vg_surface_ref(w->src->surface);
    r = vg_surface_wait_frame(w->surface, deadline_us);
    if (r < 0)
        die("source %s: no complete frame: %s", w->label, g_strerror(-r));
    w->t_first_frame = g_get_monotonic_time();
    g_mutex_init(&w->lock);
    g_cond_init(&w->cond);
    w->frames = g_new(frame_rec, MAX_FRAMES);
    if (vg_surface_add_listener(w->surface, &listener_ops, w) < 0)
        die("source %s: cannot listen", w->label);
    w->listening = true;
    /* The counter may be still (keys): read what is there now. */
    vg_surface_lock(w->surface);
    g_mutex_lock(&w->lock);
    w->have_value = decode_locked(w->surface, &w->value);
    g_mutex_unlock(&w->lock);
    vg_surface_unlock(w->surface);
}

static void disconnect_source(watcher *w)
{
    if (w->listening)
        vg_surface_remove_listener(w->surface, &listener_ops, w);
    vg_surface_unref(w->surface);
    if (w->console)
        vg_console_free(w->console, "vgbench done");
    if (w->vnc_src)
        shot_vnc_disconnect(w->vnc_src);
    vg_rdp_client_free(w->rdp);
    vg_ws_shim_free(w->ws);
    if (w->dom)
        virDomainFree(w->dom);
    if (w->conn)
        virConnectClose(w->conn);
    if (w->password) {
        memset(w->password, 0, strlen(w->password));
        g_free(w->password);
    }
}

static void parse_source(const char *spec)
{
    watcher *w;
    const char *eq = strchr(spec, '=');
    char **parts;

    if (nwatchers >= MAX_SOURCES)
        die("at most %d sources", MAX_SOURCES);
    if (!eq || eq == spec)
        die("source '%s': want LABEL=KIND,ARGS", spec);
    w = &watchers[nwatchers++];
    w->label = g_strndup(spec, (gsize)(eq - spec));
    parts = g_strsplit(eq + 1, ",", -1);
    if (!parts[0])
        die("source '%s': no kind", spec);
    if (!strcmp(parts[0], "libvirt"))
        w->kind = K_LIBVIRT;
    else if (!strcmp(parts[0], "vnc"))
        w->kind = K_VNC;
    else if (!strcmp(parts[0], "ws"))
        w->kind = K_WS;
    else if (!strcmp(parts[0], "vmgate-vnc"))
        w->kind = K_VMGATE_VNC;
    else if (!strcmp(parts[0], "rdp"))
        w->kind = K_RDP;
    else
        die("source '%s': unknown kind '%s'", spec, parts[0]);
    w->args = g_strdupv(parts + 1);
    w->nargs = g_strv_length(w->args);
    g_strfreev(parts);
}

/* ---- output ---- */

static void print_source_head(const watcher *w)
{
    printf("{\"label\":\"%s\",\"connect_ms\":%.3f,\"first_frame_ms\":%.3f", w->label,
           (double)(w->t_connected - w->t_connect_start) / 1000.0,
           (double)(w->t_first_frame - w->t_connected) / 1000.0);
    if (w->rdp) {
        vg_rdp_client_stats st;
        vg_rdp_client_get_stats(w->rdp, &st);
        printf(",\"gfx_bytes\":{\"uncompressed\":%" PRIu64 ",\"planar\":%" PRIu64
               ",\"h264\":%" PRIu64 ",\"other\":%" PRIu64 "}",
               st.uncompressed, st.planar, st.h264, st.other);
    }
    if (w->ws)
        printf(",\"ws_bytes_in\":%" PRIu64, vg_ws_shim_bytes_in(w->ws));
}

/* ---- what the window cost: the server process and the client links ---- */

typedef struct probe {
    uint64_t cpu_ticks; /* utime + stime of --pid */
    uint64_t pss_kb;    /* its proportional set size */
    uint64_t anon_kb;   /* the anonymous part of it: what it allocated */
} probe;

static int server_pid;

static void read_pid(probe *p)
{
    g_autofree char *stat = NULL, *rollup = NULL;
    char path[64];
    const char *q;

    if (server_pid <= 0)
        return;
    snprintf(path, sizeof(path), "/proc/%d/stat", server_pid);
    if (g_file_get_contents(path, &stat, NULL, NULL) && (q = strrchr(stat, ')'))) {
        unsigned long ut = 0, st = 0;
        /* fields 14 and 15 (utime, stime) count from the one after ')' as 3 */
        if (sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
            p->cpu_ticks = ut + st;
    }
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", server_pid);
    if (g_file_get_contents(path, &rollup, NULL, NULL)) {
        if ((q = strstr(rollup, "\nPss:")))
            p->pss_kb = strtoull(q + 5, NULL, 10);
        if ((q = strstr(rollup, "\nPss_Anon:")))
            p->anon_kb = strtoull(q + 10, NULL, 10);
    }
}

/* Call @fn for each of this process's connected TCP sockets with the
 * server's port: the client links, whatever library owns the socket. */
static void for_each_tcp_socket(void (*fn)(int fd, unsigned port, void *opaque), void *opaque)
{
    g_autoptr(GDir) dir = g_dir_open("/proc/self/fd", 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        int fd = atoi(name);
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);

        if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0 ||
            (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
            continue;
        fn(fd,
           ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                         : ((struct sockaddr_in6 *)&ss)->sin6_port),
           opaque);
    }
}

/* Bytes received so far (TCP_INFO), by the server's port, for the ports
 * of @links only. */
typedef struct link_count {
    unsigned port;
    uint64_t bytes;
    unsigned sockets;
} link_count;

typedef struct link_table {
    link_count *links;
    unsigned n;
} link_table;

static void count_link(int fd, unsigned port, void *opaque)
{
    link_table *t = opaque;
    struct tcp_info ti;
    socklen_t tl = sizeof(ti);

    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) < 0)
        return;
    for (unsigned i = 0; i < t->n; i++) {
        if (t->links[i].port == port) {
            t->links[i].bytes += ti.tcpi_bytes_received;
            t->links[i].sockets++;
        }
    }
}

static void read_links(link_count *links, unsigned nlinks)
{
    link_table t = {links, nlinks};

    for (unsigned i = 0; i < nlinks; i++)
        links[i].bytes = links[i].sockets = 0;
    for_each_tcp_socket(count_link, &t);
}

static void shrink_rcvbuf(int fd, unsigned port, void *opaque)
{
    (void)port;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, opaque, sizeof(int));
}

/* Shrink the receive buffer of this process's TCP sockets: a viewer that
 * stops reading then fills its pipe in a second, not after megabytes. */
static void set_rcvbuf(int bytes)
{
    for_each_tcp_socket(shrink_rcvbuf, &bytes);
}

/* The distinct server ports of the TCP sources. */
static unsigned source_ports(link_count *links, unsigned max)
{
    unsigned n = 0;

    for (unsigned i = 0; i < nwatchers; i++) {
        watcher *w = &watchers[i];
        unsigned port;
        bool seen = false;

        if (w->kind == K_LIBVIRT)
            continue;
        port = (unsigned)strtoul(w->args[1], NULL, 10);
        for (unsigned k = 0; k < n; k++)
            seen = seen || links[k].port == port;
        if (!seen && n < max)
            links[n++] = (link_count){.port = port};
    }
    return n;
}

/* ---- commands ---- */

static int cmd_watch(double seconds)
{
    link_count before[MAX_SOURCES], after[MAX_SOURCES];
    unsigned nlinks = source_ports(before, MAX_SOURCES);
    probe p0 = {0}, p1 = {0};
    int64_t t0, end;

    for (unsigned i = 0; i < nwatchers; i++) {
        g_mutex_lock(&watchers[i].lock);
        watchers[i].recording = true;
        g_mutex_unlock(&watchers[i].lock);
    }
    memcpy(after, before, sizeof(before));
    read_links(before, nlinks);
    read_pid(&p0);
    t0 = g_get_monotonic_time();
    end = t0 + (int64_t)(seconds * G_USEC_PER_SEC);
    fprintf(stderr, "vgbench: watching %u sources for %.1f s\n", nwatchers, seconds);
    while (g_get_monotonic_time() < end)
        g_usleep(50 * 1000); /* only the deadline; the sources record by themselves */
    read_pid(&p1);
    read_links(after, nlinks);
    printf("{\"t0_us\":%" PRId64 ",\"seconds\":%.3f,\"ticks_per_s\":%ld", t0,
           (double)(g_get_monotonic_time() - t0) / 1e6, sysconf(_SC_CLK_TCK));
    if (server_pid > 0)
        printf(",\"server_cpu_ticks\":%" PRIu64 ",\"server_pss_kb\":%" PRIu64
               ",\"server_pss_anon_kb\":%" PRIu64,
               p1.cpu_ticks - p0.cpu_ticks, p1.pss_kb, p1.anon_kb);
    printf(",\"links\":{");
    for (unsigned i = 0; i < nlinks; i++) {
        /* A link whose connection ended during the window has no count: its
         * socket is gone, and with it the bytes it had received. */
        if (after[i].sockets < before[i].sockets || after[i].bytes < before[i].bytes)
            printf("%s\"%u\":{\"bytes\":null,\"sockets\":%u}", i ? "," : "", after[i].port,
                   after[i].sockets);
        else
            printf("%s\"%u\":{\"bytes\":%" PRIu64 ",\"sockets\":%u}", i ? "," : "",
                   after[i].port, after[i].bytes - before[i].bytes, after[i].sockets);
    }
    printf("},\"sources\":[");
    for (unsigned i = 0; i < nwatchers; i++) {
        watcher *w = &watchers[i];
        g_mutex_lock(&w->lock);
        w->recording = false;
        print_source_head(w);
        printf(",\"commits\":%" PRIu64 ",\"torn\":%" PRIu64 ",\"closed\":\"%s\",\"frames\":[",
               w->commits, w->torn, w->closed);
        for (size_t k = 0; k < w->nframes; k++)
            printf("%s[%u,%" PRId64 "]", k ? "," : "", w->frames[k].n, w->frames[k].t_us - t0);
        printf("]}%s", i + 1 < nwatchers ? "," : "");
        g_mutex_unlock(&w->lock);
    }
    printf("]}\n");
    return 0;
}

/* Wait until @w shows a counter other than @old; the time it did, or -1. */
static int64_t wait_change(watcher *w, uint32_t old, int64_t deadline_us)
{
    int64_t t = -1;

    g_mutex_lock(&w->lock);
    while (!(w->have_value && w->value != old) && !w->closed[0])
        if (!g_cond_wait_until(&w->cond, &w->lock, deadline_us))
            break;
    if (w->have_value && w->value != old)
        t = w->frames[w->nframes ? w->nframes - 1 : 0].t_us;
    g_mutex_unlock(&w->lock);
    return t;
}

static int cmd_keys(unsigned count, unsigned interval_ms)
{
    GArray *lat[MAX_SOURCES];
    unsigned lost[MAX_SOURCES] = {0};

    for (unsigned i = 0; i < nwatchers; i++) {
        lat[i] = g_array_new(FALSE, FALSE, sizeof(double));
        g_mutex_lock(&watchers[i].lock);
        watchers[i].recording = true;
        g_mutex_unlock(&watchers[i].lock);
    }
    for (unsigned k = 0; k < count; k++) {
        for (unsigned i = 0; i < nwatchers; i++) {
            watcher *w = &watchers[i];
            uint32_t before;
            int64_t t_send, t_seen;

            /* Let the previous echo reach every source first. */
            g_usleep((interval_ms + (unsigned)g_random_int_range(0, 30)) * 1000);
            g_mutex_lock(&w->lock);
            before = w->value;
            g_mutex_unlock(&w->lock);
            t_send = g_get_monotonic_time();
            vg_display_source_send_key(w->src, KEY_QNUM, KEY_KEYSYM, true);
            vg_display_source_send_key(w->src, KEY_QNUM, KEY_KEYSYM, false);
            t_seen = wait_change(w, before, t_send + 3 * G_USEC_PER_SEC);
            if (t_seen < 0) {
                lost[i]++;
            } else {
                double ms = (double)(t_seen - t_send) / 1000.0;
                g_array_append_val(lat[i], ms);
            }
        }
    }
    printf("{\"sources\":[");
    for (unsigned i = 0; i < nwatchers; i++) {
        print_source_head(&watchers[i]);
        printf(",\"lost\":%u,\"key_ms\":[", lost[i]);
        for (guint k = 0; k < lat[i]->len; k++)
            printf("%s%.3f", k ? "," : "", g_array_index(lat[i], double, k));
        printf("]}%s", i + 1 < nwatchers ? "," : "");
        g_array_free(lat[i], TRUE);
    }
    printf("]}\n");
    return 0;
}

static int cmd_ttff(void)
{
    printf("{\"sources\":[");
    for (unsigned i = 0; i < nwatchers; i++) {
        print_source_head(&watchers[i]);
        printf("}%s", i + 1 < nwatchers ? "," : "");
    }
    printf("]}\n");
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = 10;
    int count = 20, interval_ms = 150, timeout_s = 60, rcvbuf = 0;
    GOptionEntry entries[] = {
        {"seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "watch: how long (default 10)", "S"},
        {"count", 0, 0, G_OPTION_ARG_INT, &count, "keys: presses per source (default 20)", "N"},
        {"interval-ms", 0, 0, G_OPTION_ARG_INT, &interval_ms,
         "keys: pause before each press (default 150, plus up to 30 at random)", "MS"},
        {"pid", 0, 0, G_OPTION_ARG_INT, &server_pid,
         "watch: also report this process's CPU time in the window and its PSS", "PID"},
        {"rcvbuf", 0, 0, G_OPTION_ARG_INT, &rcvbuf,
         "receive buffer of the TCP sockets once connected (a viewer that will stop reading)",
         "BYTES"},
        {"timeout", 0, 0, G_OPTION_ARG_INT, &timeout_s,
         "seconds to connect each source and see its first frame (default 60)", "S"},
        {0},
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("watch|keys|ttff SOURCE... - the benchmark's client");
    GError *err = NULL;
    const char *cmd;
    int rc;

    g_option_context_set_description(
        ctx, "SOURCE is LABEL=KIND,ARG,...:\n"
             "  LABEL=libvirt,DOMAIN                      QEMU's VNC via the libvirt graphics fd\n"
             "  LABEL=vnc,HOST,PORT                       plain RFB (security None)\n"
             "  LABEL=ws,HOST,PORT                        plain RFB through a WebSocket relay\n"
             "  LABEL=vmgate-vnc,HOST,PORT,USER,PWFILE,CA vmgate's VNC front end (CA - : "
             "unchecked)\n"
             "  LABEL=rdp,HOST,PORT,USER,PWFILE,CA,GFX[,VM]  RDP; GFX "
             "lossless|legacy|h264|lossless-noack\n"
             "Prints one JSON object on stdout. See tests/bench/run.\n");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "vgbench: %s\n", err->message);
        return 2;
    }
    if (argc < 3 || count <= 0 || interval_ms < 0 || seconds <= 0 || timeout_s <= 0) {
        fprintf(stderr, "usage: vgbench watch|keys|ttff SOURCE... (see --help)\n");
        return 2;
    }
    cmd = argv[1];
    if (strcmp(cmd, "watch") && strcmp(cmd, "keys") && strcmp(cmd, "ttff")) {
        fprintf(stderr, "vgbench: unknown command '%s'\n", cmd);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    vg_libvirt_quiet();
    for (int i = 2; i < argc; i++)
        parse_source(argv[i]);
    /* One at a time: libvncclient's log hooks follow the handshake that runs. */
    for (unsigned i = 0; i < nwatchers; i++)
        connect_source(&watchers[i], g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC);
    if (rcvbuf > 0)
        set_rcvbuf(rcvbuf);
    if (!strcmp(cmd, "watch"))
        rc = cmd_watch(seconds);
    else if (!strcmp(cmd, "keys"))
        rc = cmd_keys((unsigned)count, (unsigned)interval_ms);
    else
        rc = cmd_ttff();
    fflush(stdout);
    for (unsigned i = 0; i < nwatchers; i++)
        disconnect_source(&watchers[i]);
    return rc;
}
