/*
 * vmgate — the VNC front end's protocol side. Threading rules are in
 * vnc-server.h.
 *
 * Every end of a viewer — it leaves, falls behind, a kick, a takeover, the
 * VM's screen ends — goes through one path: the relay is stopped,
 * libvncserver drops the client, the screen reports it gone, and the peer
 * is ended and freed on the server's reaper thread.
 *
 * The reaper is a thread of the server's own, not an idle source on GLib's
 * default main context: libvirt's event loop thread iterates that context
 * too, so such a cleanup could run there, beside vg_vnc_server_free.
 */
#include "vnc-server.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <rfb/rfb.h>

#include "log.h"
#include "viewer.h"
#include "vnc-listener.h"
#include "vnc-prelude.h"
#include "vnc-relay.h"
#include "vnc-screen.h"

#define TAG                       "vnc"
#define VG_VNC_MAX_CLIENT_WAIT_MS 3000

typedef struct screen screen;

/* A peer's end_reason is written by the relay's thread, a kick's and the
 * screen's; this lock is taken with no other held. */
G_LOCK_DEFINE_STATIC(end_reason);

/* What the listener carries from login to attach. */
typedef struct login_result {
    vg_display_source *source;
    void *conn;
    vg_vnc_upstream *upstream; /* forward the viewer there instead */
    char label[400]; /* for the log: peer and user as the client sent it */
} login_result;

struct vg_vnc_peer {
    vg_vnc_server *server;
    screen *scr;
    vg_vnc_relay *relay;
    vg_display_source *source;
    void *conn;       /* the front end's */
    vg_viewer *input; /* keys and pointer to the VM, from attach on (the front end's) */
    char label[400];
    char end_reason[160];
    bool adopted;            /* came through vg_vnc_server_adopt: the listener never counted it */
    bool forwarded;          /* to another gateway: no relay or screen; in server->forwards */
    vg_vnc_forward *forward; /* ... once its copying started */
};

/* One libvncserver screen per VM screen (surface), shared by its viewers. */
struct screen {
    vg_surface *surface; /* the key; the vnc screen holds a reference */
    vg_vnc_screen *vnc;
    GPtrArray *peers; /* of vg_vnc_peer, under server->lock */
};

struct vg_vnc_server {
    vg_vnc_server_ops ops;
    void *opaque;
    unsigned stall_timeout_ms;
    int metric_protocol;
    vg_vnc_listener *listener;
    GAsyncQueue *gone; /* peers to end and free, then the server itself to stop the reaper */
    GThread *reaper;
    GMutex lock;
    GHashTable *screens;  /* vg_surface * → screen */
    bool stopping;        /* vg_vnc_server_free has begun: screens stay until it frees them */
    GHashTable *adopting; /* fds of adopted viewers in their prelude (under lock) */
    unsigned n_adopting;  /* adoptions not yet queued or attached (under lock) */
    GCond adopted;        /* signalled when n_adopting falls, or forwards empties */
    GPtrArray *forwards;  /* peers forwarded to another gateway, until reaped (under lock) */
};

static void screen_free(gpointer p)
{
    screen *scr = p;
    vg_vnc_screen_free(scr->vnc);
    g_ptr_array_unref(scr->peers);
    g_free(scr);
}

/* ---- ending a peer ---------------------------------------------------- */

/* Reaper thread: the peer is gone from libvncserver; end it and free it. */
static void peer_cleanup(vg_vnc_peer *p)
{
    vg_vnc_server *s = p->server;
    screen *scr = p->scr;

    if (p->forwarded) {
        /* The front end hears of it only if it gave a connection of its own. */
        vg_vnc_forward_free(p->forward);
        if (p->conn)
            s->ops.ended(s->opaque, p->conn, p, p->end_reason);
        g_mutex_lock(&s->lock);
        g_ptr_array_remove_fast(s->forwards, p);
        g_cond_broadcast(&s->adopted);
        if (s->listener && !p->adopted)
            vg_vnc_listener_release(s->listener);
        g_mutex_unlock(&s->lock);
        g_free(p);
        return;
    }
    /* The front end's ended() lets go of what the viewer held; after it no
     * kick reaches this peer, so the relay is freed only once nothing else
     * can reach it. */
    s->ops.ended(s->opaque, p->conn, p, p->end_reason);
    vg_vnc_relay_free(p->relay);
    g_mutex_lock(&s->lock);
    if (scr) {
        g_ptr_array_remove(scr->peers, p);
        /* The last viewer: the screen goes (unless the server is being
         * freed, which frees the screens itself). */
        if (scr->peers->len == 0 && !s->stopping)
            g_hash_table_remove(s->screens, scr->surface);
    }
    /* Under the lock: vg_vnc_server_free takes the listener away under it
     * before freeing it (its count no longer matters then). */
    if (s->listener && !p->adopted)
        vg_vnc_listener_release(s->listener);
    g_mutex_unlock(&s->lock);
    g_free(p);
}

static gpointer reaper_main(gpointer data)
{
    vg_vnc_server *s = data;
    gpointer item;

    while ((item = g_async_queue_pop(s->gone)) != s)
        peer_cleanup(item);
    return NULL;
}

static void set_end_reason(vg_vnc_peer *p, const char *reason, bool replace)
{
    G_LOCK(end_reason);
    if (replace || !p->end_reason[0])
        g_strlcpy(p->end_reason, reason, sizeof(p->end_reason));
    G_UNLOCK(end_reason);
}

static void screen_on_gone(void *opaque, const char *reason)
{
    vg_vnc_peer *p = opaque;
    vg_info(TAG, "%s: disconnected: %s", p->label, reason);
    set_end_reason(p, reason, false);
    g_async_queue_push(p->server->gone, p);
}

/* Relay thread: the relay ended by itself (the viewer left, fell behind or
 * read nothing for the stall timeout); the reason the screen then reports
 * is only that the connection closed, so keep the relay's. */
static void relay_on_ended(void *opaque, vg_vnc_relay *relay, const char *reason)
{
    vg_vnc_peer *p = opaque;
    if (vg_vnc_relay_ended_by_screen(relay))
        return; /* the screen closed it, and says why itself */
    set_end_reason(p, reason, false);
}

void vg_vnc_peer_kick(vg_vnc_peer *p, const char *reason)
{
    set_end_reason(p, reason, true);
    vg_vnc_relay_stop(p->relay);
}

/* Forward thread: the forward ended; the reaper frees the peer. */
static void forward_on_ended(void *opaque, const char *reason)
{
    vg_vnc_peer *p = opaque;
    set_end_reason(p, reason, false);
    g_async_queue_push(p->server->gone, p);
}

/* ---- input -------------------------------------------------------------- */

/* Input reaches the screen only once the peer is attached, so p->input is
 * set; the viewer object drops an observer's. */
static void screen_on_key(void *opaque, uint16_t qnum, uint32_t keysym, bool down)
{
    vg_vnc_peer *p = opaque;
    vg_viewer_key(p->input, qnum, keysym, down);
}

static void screen_on_pointer(void *opaque, int32_t x, int32_t y, uint32_t buttons)
{
    vg_vnc_peer *p = opaque;
    vg_viewer_pointer(p->input, x, y, buttons);
}

static const vg_vnc_screen_ops screen_ops = {
    .on_key = screen_on_key,
    .on_pointer = screen_on_pointer,
    .on_gone = screen_on_gone,
};

/* ---- listener callbacks ------------------------------------------------ */

static SSL_CTX *get_ssl_ctx(void *opaque)
{
    vg_vnc_server *s = opaque;
    return s->ops.get_ssl_ctx(s->opaque);
}

static int authenticate(void *opaque, const char *user, const char *password, const char *peer,
                        void **conn, char *reason, size_t reason_len)
{
    vg_vnc_server *s = opaque;
    login_result *res = g_new0(login_result, 1);
    vg_vnc_login l = {.user = user, .password = password, .peer = peer, .upstream = &res->upstream};
    int r = s->ops.login(s->opaque, &l, &res->source, &res->conn, reason, reason_len);

    if (r < 0 || (r == 1 && !res->upstream)) {
        g_free(res);
        return -1;
    }
    g_snprintf(res->label, sizeof(res->label), "peer %s user %s", peer, user);
    *conn = res;
    return 0;
}

/* The screen showing @surface, made when its first viewer arrives. Under
 * s->lock. A VM whose console changed (a restart) has a new surface, so a
 * new screen; the old one goes with its last viewer. */
static screen *screen_for_locked(vg_vnc_server *s, vg_surface *surface)
{
    screen *scr = g_hash_table_lookup(s->screens, surface);
    if (scr)
        return scr;
    scr = g_new0(screen, 1);
    scr->surface = surface;
    scr->peers = g_ptr_array_new();
    if (vg_vnc_screen_new(surface, &screen_ops, &scr->vnc) < 0) {
        screen_free(scr);
        return NULL;
    }
    vg_vnc_screen_set_metric_protocol(scr->vnc, s->metric_protocol);
    g_hash_table_insert(s->screens, surface, scr);
    return scr;
}

/* The viewer on @fd (TLS in @ssl, or in clear) is past its prelude: relay
 * it to the VM's screen. Takes @ssl and @fd. */
static void attach_peer(vg_vnc_server *s, vg_vnc_peer *p, SSL *ssl, int fd)
{
    int sp[2] = {-1, -1}, r;

    r = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 ? -errno : 0;
    if (r == 0)
        r = vg_vnc_relay_new(ssl, fd, sp[0], p->label, s->stall_timeout_ms, relay_on_ended, p,
                             &p->relay);
    if (r == 0)
        vg_vnc_relay_set_metric_protocol(p->relay, s->metric_protocol);
    if (r < 0) {
        vg_warning(TAG, "%s: cannot start the relay", p->label);
        if (sp[0] >= 0)
            close(sp[0]);
        if (sp[1] >= 0)
            close(sp[1]);
        SSL_free(ssl);
        close(fd);
        goto fail;
    }
    g_mutex_lock(&s->lock);
    r = s->stopping ? -ESHUTDOWN : 0;
    g_mutex_unlock(&s->lock);
    if (r < 0) {
        set_end_reason(p, "the gateway is stopping", false);
        close(sp[1]);
        goto fail;
    }
    if (s->ops.attach(s->opaque, p->conn, p, &p->input) < 0) {
        close(sp[1]);
        goto fail;
    }
    g_mutex_lock(&s->lock);
    p->scr = screen_for_locked(s, p->source->surface);
    if (p->scr)
        g_ptr_array_add(p->scr->peers, p);
    g_mutex_unlock(&s->lock);
    if (!p->scr || vg_vnc_screen_add_client(p->scr->vnc, sp[1], p) < 0) {
        vg_warning(TAG, "%s: cannot attach to the VM's screen", p->label);
        if (!p->scr)
            close(sp[1]);
        goto fail;
    }
    return;

fail:
    g_async_queue_push(s->gone, p);
}

/* The viewer on @fd (TLS in @ssl, or in clear) is past its prelude, and
 * logged in on another gateway through @up: copy between them. Takes @ssl,
 * @fd and @up. */
static void forward_peer(vg_vnc_server *s, vg_vnc_peer *p, SSL *ssl, int fd, vg_vnc_upstream *up)
{
    bool stopping;
    int r;

    /* In the list before its thread runs: the reaper takes it out. */
    p->forwarded = true;
    g_mutex_lock(&s->lock);
    r = s->stopping ? -ESHUTDOWN : 0;
    if (r == 0)
        g_ptr_array_add(s->forwards, p);
    g_mutex_unlock(&s->lock);
    if (r == 0) {
        r = vg_vnc_forward_new(ssl, fd, up, p->label, s->stall_timeout_ms, forward_on_ended, p,
                               &p->forward);
    } else {
        SSL_free(ssl);
        close(fd);
        vg_vnc_upstream_free(up);
    }
    if (r == 0) {
        vg_notice(TAG, "%s: forwarded to the gateway that holds the VM", p->label);
        /* vg_vnc_server_free may have looked at the list before p->forward was set. */
        g_mutex_lock(&s->lock);
        stopping = s->stopping;
        g_mutex_unlock(&s->lock);
        if (stopping)
            vg_vnc_forward_stop(p->forward);
        return;
    }
    vg_warning(TAG, "%s: cannot forward: %s", p->label, g_strerror(-r));
    set_end_reason(p, r == -ESHUTDOWN ? "the gateway is stopping" : "cannot forward", false);
    g_async_queue_push(s->gone, p); /* the reaper ends it */
}

static void attach(void *opaque, void *conn, SSL *ssl, int fd, const char *peer)
{
    (void)peer; /* in the label since login */
    vg_vnc_server *s = opaque;
    login_result *res = conn;
    vg_vnc_peer *p = g_new0(vg_vnc_peer, 1);

    p->server = s;
    p->source = res->source;
    p->conn = res->conn;
    g_strlcpy(p->label, res->label, sizeof(p->label));
    if (res->upstream) {
        vg_vnc_upstream *up = res->upstream;
        g_free(res);
        forward_peer(s, p, ssl, fd, up);
        return;
    }
    g_free(res);
    attach_peer(s, p, ssl, fd);
}

typedef struct adoption {
    vg_vnc_peer *peer;
    int fd;
    vg_vnc_upstream *up; /* forward there instead of attaching (vg_vnc_server_adopt_forward) */
} adoption;

/* A thread of its own: the short prelude, then the same attach. */
static gpointer adopt_main(gpointer data)
{
    adoption *a = data;
    vg_vnc_peer *p = a->peer;
    vg_vnc_server *s = p->server; /* p may be freed once queued or attached */
    vg_vnc_upstream *up = a->up;
    int fd = a->fd, r;

    g_free(a);
    r = vg_vnc_prelude_none(fd, p->label, VG_VNC_PRELUDE_TIMEOUT_MS);
    /* Past the prelude, the fd is no longer the server's to cut short. */
    g_mutex_lock(&s->lock);
    g_hash_table_remove(s->adopting, GINT_TO_POINTER(fd));
    g_mutex_unlock(&s->lock);
    if (r < 0) {
        vg_info(TAG, "%s: connection ended before the screen: %s", p->label, g_strerror(-r));
        set_end_reason(p, "the viewer did not complete the RFB handshake", false);
        close(fd);
        if (up) {
            vg_vnc_upstream_free(up);
            p->forwarded = true;
        }
        g_async_queue_push(s->gone, p);
    } else if (up) {
        forward_peer(s, p, NULL, fd, up);
    } else {
        attach_peer(s, p, NULL, fd);
    }
    /* Only now may vg_vnc_server_free go on: the peer is queued for the
     * reaper or attached to a screen. */
    g_mutex_lock(&s->lock);
    s->n_adopting--;
    g_cond_broadcast(&s->adopted);
    g_mutex_unlock(&s->lock);
    return NULL;
}

static void adopt(vg_vnc_server *s, int fd, const char *label, vg_display_source *source,
                  vg_vnc_upstream *up, void *conn)
{
    vg_vnc_peer *p = g_new0(vg_vnc_peer, 1);
    adoption *a = g_new0(adoption, 1);
    GThread *t;

    p->server = s;
    p->source = source;
    p->conn = conn;
    p->adopted = true;
    g_strlcpy(p->label, label, sizeof(p->label));
    a->peer = p;
    a->fd = fd;
    a->up = up;
    g_mutex_lock(&s->lock);
    g_hash_table_add(s->adopting, GINT_TO_POINTER(fd));
    s->n_adopting++;
    g_mutex_unlock(&s->lock);
    t = g_thread_new("vnc-adopt", adopt_main, a);
    g_thread_unref(t);
}

void vg_vnc_server_adopt(vg_vnc_server *s, int fd, const char *label, vg_display_source *source,
                         void *conn)
{
    adopt(s, fd, label, source, NULL, conn);
}

void vg_vnc_server_adopt_forward(vg_vnc_server *s, int fd, const char *label,
                                 vg_vnc_upstream *up, void *conn)
{
    adopt(s, fd, label, NULL, up, conn);
}

int vg_vnc_server_new(const vg_vnc_server_config *cfg, const vg_vnc_server_ops *ops, void *opaque,
                      vg_vnc_server **out)
{
    static const vg_vnc_listener_ops lops = {
        .get_ssl_ctx = get_ssl_ctx, .authenticate = authenticate, .attach = attach};
    vg_vnc_listener_config lc = {.address = cfg->address,
                                 .port = cfg->port,
                                 .allow_insecure_loopback = cfg->allow_insecure_loopback,
                                 .max_unauth_per_source = cfg->max_unauth_per_source,
                                 .prelude_timeout_ms = (int)cfg->login_timeout_ms};
    vg_vnc_server *s = g_new0(vg_vnc_server, 1);
    vg_vnc_listener *listener = NULL;
    int r;

    /* libvncserver blocks a screen's thread while a viewer's socket is full
     * or a message is half read, for up to this many milliseconds,
     * process-wide; then it drops that viewer. The relay keeps both from
     * happening (it always reads, and passes whole messages only); this is
     * the bound should it not, as the default, 20 s, would freeze the VM's
     * other viewers that long. */
    rfbMaxClientWait = VG_VNC_MAX_CLIENT_WAIT_MS;

    s->ops = *ops;
    s->opaque = opaque;
    s->stall_timeout_ms = cfg->stall_timeout_ms;
    s->metric_protocol = cfg->metric_protocol;
    g_mutex_init(&s->lock);
    s->screens = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, screen_free);
    s->adopting = g_hash_table_new(g_direct_hash, g_direct_equal);
    s->forwards = g_ptr_array_new();
    g_cond_init(&s->adopted);
    s->gone = g_async_queue_new();
    s->reaper = g_thread_new("vnc-reaper", reaper_main, s);
    r = cfg->address ? vg_vnc_listener_new(&lc, &lops, s, &listener) : 0;
    if (r < 0) {
        g_async_queue_push(s->gone, s);
        g_thread_join(s->reaper);
        g_async_queue_unref(s->gone);
        g_hash_table_unref(s->screens);
        g_hash_table_unref(s->adopting);
        g_cond_clear(&s->adopted);
        g_mutex_clear(&s->lock);
        g_free(s);
        return r;
    }
    g_mutex_lock(&s->lock);
    s->listener = listener;
    g_mutex_unlock(&s->lock);
    *out = s;
    return 0;
}

unsigned vg_vnc_server_port(vg_vnc_server *s)
{
    return s->listener ? vg_vnc_listener_port(s->listener) : 0;
}

void vg_vnc_server_free(vg_vnc_server *s)
{
    GHashTableIter it;
    gpointer val;
    g_autoptr(GPtrArray) screens = g_ptr_array_new();
    vg_vnc_listener *listener;

    if (!s)
        return;
    /* From now on a new login is turned away at attach, and the screens
     * stay in the table until they are freed below. */
    g_mutex_lock(&s->lock);
    s->stopping = true;
    g_hash_table_iter_init(&it, s->screens);
    while (g_hash_table_iter_next(&it, NULL, &val))
        g_ptr_array_add(screens, val);
    g_mutex_unlock(&s->lock);
    /* The screens' threads end (no screen callback follows); viewers that
     * were already gone are still queued for the reaper. */
    for (guint i = 0; i < screens->len; i++) {
        screen *scr = screens->pdata[i];
        vg_vnc_screen_free(scr->vnc);
        scr->vnc = NULL;
    }
    /* Stop accepting; a connection still logging in ends at attach and is
     * queued too. Then the reaper ends everything queued, and stops. */
    g_mutex_lock(&s->lock);
    listener = s->listener;
    s->listener = NULL;
    g_mutex_unlock(&s->lock);
    vg_vnc_listener_free(listener);
    /* Forwarded viewers: stop each and wait until the reaper freed it. */
    g_mutex_lock(&s->lock);
    for (guint i = 0; i < s->forwards->len; i++) {
        vg_vnc_peer *p = s->forwards->pdata[i];
        if (p->forward) /* else forward_peer stops it once it is made */
            vg_vnc_forward_stop(p->forward);
    }
    while (s->forwards->len > 0)
        g_cond_wait(&s->adopted, &s->lock);
    g_mutex_unlock(&s->lock);
    /* Adopted viewers still in their prelude: cut them short and wait
     * until each is queued (the stopping server turns them away). */
    g_mutex_lock(&s->lock);
    g_hash_table_iter_init(&it, s->adopting);
    while (g_hash_table_iter_next(&it, &val, NULL))
        shutdown(GPOINTER_TO_INT(val), SHUT_RDWR);
    while (s->n_adopting > 0)
        g_cond_wait(&s->adopted, &s->lock);
    g_mutex_unlock(&s->lock);
    g_async_queue_push(s->gone, s);
    g_thread_join(s->reaper);
    g_async_queue_unref(s->gone);
    /* What is left never ended by itself: the gateway ends it. */
    for (guint i = 0; i < screens->len; i++) {
        screen *scr = screens->pdata[i];
        for (guint j = 0; j < scr->peers->len; j++) {
            vg_vnc_peer *p = scr->peers->pdata[j];
            set_end_reason(p, "the gateway is stopping", false);
            s->ops.ended(s->opaque, p->conn, p, p->end_reason);
            vg_vnc_relay_free(p->relay);
            g_free(p);
        }
        g_ptr_array_set_size(scr->peers, 0);
    }
    g_hash_table_unref(s->screens);
    g_hash_table_unref(s->adopting);
    g_ptr_array_unref(s->forwards);
    g_cond_clear(&s->adopted);
    g_mutex_clear(&s->lock);
    g_free(s);
}
