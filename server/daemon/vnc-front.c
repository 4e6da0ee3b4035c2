/*
 * vmgate — VNC front end glue in vmgated. Threading rules are in
 * vnc-front.h.
 *
 * A viewer's life: authenticate (broker login: auth, VM choice, power on,
 * console) → attach (admit to the session, socketpair, relay, add to the
 * VM's screen) → input (session check, then the console) → end. Every end
 * — the viewer leaves, a kick, a takeover, the VM stops — goes through one
 * path: the relay is stopped, libvncserver drops the client, the screen
 * reports it gone, and the viewer is freed on the main loop.
 */
#include "vnc-front.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <rfb/rfb.h>

#include "log.h"
#include "vnc-listener.h"
#include "vnc-relay.h"
#include "viewer.h"
#include "vnc-screen.h"

#define TAG "vnc"
/* How long a login may wait for a powered-on VM's console. */
#define VG_VNC_LOGIN_TIMEOUT_S    60
#define VG_VNC_MAX_CLIENT_WAIT_MS 3000

typedef struct vm_screen vm_screen;

/* A viewer's end_reason is written by the relay's thread, a kick's and the
 * screen's; this lock is taken with no other held. */
G_LOCK_DEFINE_STATIC(end_reason);

typedef struct viewer {
    vg_vnc_front *front;
    vm_screen *vs;
    vg_vnc_relay *relay;
    vg_console *console; /* reference */
    vg_viewer *input;    /* keys and pointer to the VM, from admission on */
    char id[24];
    char user[65];
    char vm[256];
    char peer[80];
    char end_reason[160];
    bool admitted;
} viewer;

struct vm_screen {
    char vm[256];
    vg_console *console; /* reference: the console this screen shows */
    vg_vnc_screen *screen;
    GPtrArray *viewers; /* of viewer, under front->lock */
    bool closed;
};

struct vg_vnc_front {
    unsigned stall_timeout_ms;
    vg_broker *broker;
    vg_sessions *sessions;
    vg_audit *audit;
    vg_tls *tls;
    vg_vnc_listener *listener;
    GMutex lock;
    GHashTable *screens; /* vm name → vm_screen */
};

static void vm_screen_free(gpointer p)
{
    vm_screen *vs = p;
    vg_vnc_screen_free(vs->screen);
    vg_console_unref(vs->console);
    g_ptr_array_unref(vs->viewers);
    g_free(vs);
}

/* ---- ending a viewer ------------------------------------------------ */

typedef struct end_msg {
    viewer *v;
} end_msg;

/* Main loop: the viewer is gone from libvncserver; free what it held. */
static gboolean viewer_cleanup(gpointer data)
{
    viewer *v = data;
    vg_vnc_front *f = v->front;
    vm_screen *vs = v->vs;

    /* Whatever ended it: keys and buttons it still held are let go. */
    vg_viewer_free(v->input);
    /* Leave first: it waits for a kick that is running (viewer_kick stops
     * the relay) and no kick comes after it, so the relay is freed only
     * once nothing else can reach it. */
    if (v->admitted)
        vg_sessions_leave(f->sessions, v->id);
    vg_vnc_relay_free(v->relay);
    if (v->admitted)
        vg_audit_logout(f->audit, v->user, v->vm, "vnc", v->peer, v->end_reason);
    g_mutex_lock(&f->lock);
    if (vs) {
        g_ptr_array_remove(vs->viewers, v);
        if (vs->viewers->len == 0 && g_hash_table_lookup(f->screens, vs->vm) == vs)
            g_hash_table_remove(f->screens, vs->vm); /* last viewer: the screen goes */
        else if (vs->viewers->len == 0)
            vm_screen_free(vs);
    }
    g_mutex_unlock(&f->lock);
    vg_console_unref(v->console);
    vg_vnc_listener_release(f->listener);
    vg_notice(TAG, "peer=%s user=%s vm=%s: viewer %s left", v->peer, v->user, v->vm, v->id);
    g_free(v);
    return G_SOURCE_REMOVE;
}

static void screen_on_gone(void *opaque, const char *reason)
{
    viewer *v = opaque;
    vg_info(TAG, "peer=%s user=%s vm=%s: disconnected: %s", v->peer, v->user, v->vm, reason);
    G_LOCK(end_reason);
    if (!v->end_reason[0])
        g_strlcpy(v->end_reason, reason, sizeof(v->end_reason));
    G_UNLOCK(end_reason);
    g_idle_add(viewer_cleanup, v);
}

/* Relay thread: the relay ended by itself (the viewer left, fell behind or
 * read nothing for the stall timeout); the reason the screen then reports
 * is only that the connection closed, so keep the relay's. */
static void relay_on_ended(void *opaque, vg_vnc_relay *relay, const char *reason)
{
    viewer *v = opaque;
    if (vg_vnc_relay_ended_by_screen(relay))
        return; /* the screen closed it, and says why itself */
    G_LOCK(end_reason);
    if (!v->end_reason[0])
        g_strlcpy(v->end_reason, reason, sizeof(v->end_reason));
    G_UNLOCK(end_reason);
}

/* Observers see, but their input is dropped (asked at each event). */
static bool viewer_may_input(void *opaque)
{
    viewer *v = opaque;
    return vg_sessions_may_input(v->front->sessions, v->id);
}

static void screen_on_key(void *opaque, uint16_t qnum, uint32_t keysym, bool down)
{
    viewer *v = opaque;
    vg_viewer_key(v->input, qnum, keysym, down);
}

static void screen_on_pointer(void *opaque, int32_t x, int32_t y, uint32_t buttons)
{
    viewer *v = opaque;
    vg_viewer_pointer(v->input, x, y, buttons);
}

static const vg_vnc_screen_ops screen_ops = {
    .on_key = screen_on_key,
    .on_pointer = screen_on_pointer,
    .on_gone = screen_on_gone,
};

/* Session kick (takeover, admin kick): end the connection; the screen
 * reports it gone and the cleanup follows. */
static void viewer_kick(void *opaque, const char *reason)
{
    viewer *v = opaque;
    vg_notice(TAG, "peer=%s user=%s vm=%s: ended: %s", v->peer, v->user, v->vm, reason);
    G_LOCK(end_reason);
    g_strlcpy(v->end_reason, reason, sizeof(v->end_reason));
    G_UNLOCK(end_reason);
    vg_vnc_relay_stop(v->relay);
}

static const vg_viewer_ops viewer_ops = {.kick = viewer_kick};

/* ---- listener callbacks ---------------------------------------------- */

static SSL_CTX *get_ssl_ctx(void *opaque)
{
    vg_vnc_front *f = opaque;
    return vg_tls_get_ctx(f->tls);
}

static int authenticate(void *opaque, const char *user, const char *password, const char *peer,
                        void **conn, char *reason, size_t reason_len)
{
    vg_vnc_front *f = opaque;
    vg_broker_result *res = g_new0(vg_broker_result, 1);

    vg_broker_login(f->broker, user, password, peer, NULL, VG_VNC_LOGIN_TIMEOUT_S, res);
    if (res->status != VG_BROKER_OK) {
        g_strlcpy(reason, res->message, reason_len);
        g_free(res);
        return -1;
    }
    *conn = res;
    return 0;
}

/* The screen for @res's VM, made when its first viewer arrives (or when the
 * VM's console changed since, e.g. after a restart). Under f->lock. */
static vm_screen *screen_for_locked(vg_vnc_front *f, vg_broker_result *res)
{
    vm_screen *vs = g_hash_table_lookup(f->screens, res->vm);
    if (vs && vs->console == res->console)
        return vs;
    if (vs) {
        /* An old console's screen: it goes with its last viewer. */
        g_hash_table_steal(f->screens, res->vm);
        if (vs->viewers->len == 0)
            vm_screen_free(vs);
    }
    vs = g_new0(vm_screen, 1);
    g_strlcpy(vs->vm, res->vm, sizeof(vs->vm));
    vs->console = vg_console_ref(res->console);
    vs->viewers = g_ptr_array_new();
    if (vg_vnc_screen_new(vg_console_surface(res->console), &screen_ops, &vs->screen) < 0) {
        vm_screen_free(vs);
        return NULL;
    }
    g_hash_table_insert(f->screens, g_strdup(vs->vm), vs);
    return vs;
}

static void attach(void *opaque, void *conn, SSL *ssl, int fd, const char *peer)
{
    vg_vnc_front *f = opaque;
    vg_broker_result *res = conn;
    viewer *v = g_new0(viewer, 1);
    g_autofree char *label = NULL;
    int sp[2] = {-1, -1}, r;

    v->front = f;
    v->console = res->console; /* the reference moves to the viewer */
    g_strlcpy(v->user, res->user, sizeof(v->user));
    g_strlcpy(v->vm, res->vm, sizeof(v->vm));
    g_strlcpy(v->peer, peer, sizeof(v->peer));
    label = g_strdup_printf("peer %s user %s vm %s", peer, v->user, v->vm);

    r = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 ? -errno : 0;
    if (r == 0)
        r = vg_vnc_relay_new(ssl, fd, sp[0], label, f->stall_timeout_ms, relay_on_ended, v,
                             &v->relay);
    if (r < 0) {
        vg_warning(TAG, "%s: cannot start the relay", label);
        if (sp[0] >= 0)
            close(sp[0]);
        if (sp[1] >= 0)
            close(sp[1]);
        SSL_free(ssl);
        close(fd);
        goto fail;
    }
    r = vg_broker_admit(f->broker, res, "vnc", peer, &viewer_ops, v, v->id);
    if (r < 0) {
        vg_warning(TAG, "%s: cannot join the session: %s", label, g_strerror(-r));
        close(sp[1]);
        goto fail;
    }
    v->admitted = true;
    v->input = vg_viewer_new(vg_console_source(v->console), viewer_may_input, v);
    g_mutex_lock(&f->lock);
    v->vs = screen_for_locked(f, res);
    if (v->vs)
        g_ptr_array_add(v->vs->viewers, v);
    g_mutex_unlock(&f->lock);
    if (!v->vs || vg_vnc_screen_add_client(v->vs->screen, sp[1], v) < 0) {
        vg_warning(TAG, "%s: cannot attach to the VM's screen", label);
        if (!v->vs)
            close(sp[1]);
        goto fail;
    }
    vg_notice(TAG, "%s: viewer %s attached as %s", label, v->id, vg_role_name(res->role));
    g_free(res);
    return;

fail:
    g_free(res);
    g_idle_add(viewer_cleanup, v);
}

int vg_vnc_front_new(const vg_vnc_front_config *cfg, vg_broker *broker, vg_sessions *sessions,
                     vg_audit *audit, vg_tls *tls, vg_vnc_front **out)
{
    static const vg_vnc_listener_ops ops = {
        .get_ssl_ctx = get_ssl_ctx, .authenticate = authenticate, .attach = attach};
    vg_vnc_listener_config lc = {.address = cfg->address,
                                 .port = cfg->port,
                                 .allow_insecure_loopback = cfg->allow_insecure_loopback,
                                 .max_unauth_per_source = cfg->logins_per_address,
                                 .prelude_timeout_ms = (int)cfg->login_timeout_s * 1000};
    vg_vnc_front *f = g_new0(vg_vnc_front, 1);
    int r;

    /* libvncserver blocks a screen's thread while a viewer's socket is full
     * or a message is half read, for up to this many milliseconds,
     * process-wide; then it drops that viewer. The relay keeps both from
     * happening (it always reads, and passes whole messages only); this is
     * the bound should it not, as the default, 20 s, would freeze the VM's
     * other viewers that long. */
    rfbMaxClientWait = VG_VNC_MAX_CLIENT_WAIT_MS;

    f->stall_timeout_ms = cfg->stall_timeout_s * 1000;
    f->broker = broker;
    f->sessions = sessions;
    f->audit = audit;
    f->tls = tls;
    g_mutex_init(&f->lock);
    f->screens = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, vm_screen_free);
    r = vg_vnc_listener_new(&lc, &ops, f, &f->listener);
    if (r < 0) {
        g_hash_table_unref(f->screens);
        g_mutex_clear(&f->lock);
        g_free(f);
        return r;
    }
    vg_notice(TAG, "listening on %s port %u", cfg->address, vg_vnc_listener_port(f->listener));
    *out = f;
    return 0;
}

unsigned vg_vnc_front_port(vg_vnc_front *f)
{
    return vg_vnc_listener_port(f->listener);
}

void vg_vnc_front_free(vg_vnc_front *f)
{
    GHashTableIter it;
    gpointer val;

    if (!f)
        return;
    vg_vnc_listener_free(f->listener);
    /* Screens first (their threads end, no callback follows), then the
     * viewers they had: the main loop no longer runs their cleanups. */
    g_hash_table_iter_init(&it, f->screens);
    while (g_hash_table_iter_next(&it, NULL, &val)) {
        vm_screen *vs = val;
        vg_vnc_screen_free(vs->screen);
        vs->screen = NULL;
        for (guint i = 0; i < vs->viewers->len; i++) {
            viewer *v = vs->viewers->pdata[i];
            vg_vnc_relay_free(v->relay);
            if (v->admitted)
                vg_sessions_leave(f->sessions, v->id);
            vg_console_unref(v->console);
            g_free(v);
        }
        g_ptr_array_set_size(vs->viewers, 0);
    }
    g_hash_table_unref(f->screens);
    g_mutex_clear(&f->lock);
    g_free(f);
}
