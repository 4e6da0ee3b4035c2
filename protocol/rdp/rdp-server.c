/*
 * vmgate — the RDP listener and its peers. See rdp-server.h for the life of
 * a connection and the threading rules.
 */
#include "rdp-server.h"

#include <errno.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>

#include <freerdp/channels/channels.h>
#include <freerdp/channels/drdynvc.h>
#include <freerdp/channels/wtsvc.h>
#include <freerdp/crypto/certificate.h>
#include <freerdp/crypto/privatekey.h>
#include <freerdp/redirection.h>
#include <freerdp/server/disp.h>
#include <freerdp/server/server-common.h>
#include <freerdp/settings.h>
#include <freerdp/transport_io.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <winpr/ntlm.h>
#include <winpr/ssl.h>
#include <winpr/wlog.h>
#include <winpr/wtsapi.h>

#include "keymap.h"
#include "log.h"
#include "net.h"
#include "rdp-planar.h"
#include "rdp-priv.h"
#include "tls-policy.h"
#include "util.h"
#include "viewer.h"

#define TAG                       "rdp"
#define VG_RDP_DEFAULT_MAX_UNAUTH 64
#define VG_RDP_DEFAULT_MAX_TOTAL  256
/* A connection descriptor must stay below FD_SETSIZE: FreeRDP's transport
 * still select()s in places. */
#define VG_RDP_FD_LIMIT 960
/* Time a client has for its preconnection PDU and for the whole login. */
#define VG_RDP_PCB_TIMEOUT_MS   10000
#define VG_RDP_LOGIN_TIMEOUT_MS 10000
#define VG_RDP_STALL_TIMEOUT_MS 30000
#define VG_RDP_NAME_MAX         64

struct vg_rdp_server {
    vg_rdp_server_config cfg;
    char h264_preset[16]; /* cfg.h264_preset points here */
    GThread *watchdog; /* ends viewers that stopped reading */
    GCond watchdog_cond;
    bool watchdog_stop;         /* under lock */
    char *cert_file, *key_file; /* the paths last loaded, for messages */
    char *cert_pem, *key_pem;   /* their contents (under lock): read once, swapped on reload */
    vg_rdp_server_ops ops;
    void *opaque;
    vg_net_acceptor *acceptor;

    GMutex lock;
    GPtrArray *peers; /* of vg_rdp_peer, all live connections */
    bool stopping;    /* peers that start now are ended at once */
};

typedef struct peer_ctx {
    rdpContext base; /* first: FreeRDP allocates ContextSize bytes */
    vg_rdp_peer *p;
} peer_ctx;

static vg_rdp_peer *peer_of(rdpContext *ctx)
{
    return ((peer_ctx *)ctx)->p;
}

/* ---- batched output -------------------------------------------------------
 * FreeRDP writes every PDU on its own, and a dynamic channel's data goes out
 * in PDUs of at most 1600 bytes (MS-RDPEDYC): a full 1024x768 frame on the
 * graphics pipeline was about 2,000 TLS records and send() calls here, and
 * as many reads for the client, which cost more than encoding the frame.
 * While the peer thread drains the channel queue or sends updates, the PDUs
 * it writes are gathered and handed to FreeRDP's own write in pieces of up
 * to VG_RDP_BATCH_MAX bytes, so that TLS makes full 16 KiB records. FreeRDP
 * has no setting for this; its transport's write callback is the seam it
 * offers. Only the peer thread writes to the client (other threads set
 * flags, wake it, or shut the socket down); a write from another thread
 * would pass straight through. */

#define VG_RDP_BATCH_MAX (64 * 1024)

static bool batch_flush(vg_rdp_peer *p)
{
    rdpTransport *transport = freerdp_get_transport(p->client->context);
    bool ok = true;

    if (p->batch && Stream_GetPosition(p->batch) > 0) {
        ok = p->write_pdu(transport, p->batch) >= 0;
        Stream_SetPosition(p->batch, 0);
    }
    return ok;
}

static int batched_write(rdpTransport *transport, wStream *s)
{
    vg_rdp_peer *p = peer_of(transport_get_context(transport));
    size_t len = Stream_GetPosition(s);

    if (!pthread_equal(pthread_self(), p->thread) || !p->batching)
        return p->write_pdu(transport, s);
    if (Stream_GetPosition(p->batch) + len > VG_RDP_BATCH_MAX && !batch_flush(p))
        return -1;
    if (len >= VG_RDP_BATCH_MAX)
        return p->write_pdu(transport, s);
    Stream_Write(p->batch, Stream_Buffer(s), len);
    return (int)len;
}

static bool batch_setup(vg_rdp_peer *p)
{
    const rdpTransportIo *cur = freerdp_get_io_callbacks(p->client->context);
    rdpTransportIo io;

    if (!cur)
        return false;
    io = *cur;
    p->batch = Stream_New(NULL, VG_RDP_BATCH_MAX);
    if (!p->batch)
        return false;
    p->thread = pthread_self();
    p->write_pdu = io.WritePdu;
    io.WritePdu = batched_write;
    return freerdp_set_io_callbacks(p->client->context, &io);
}

static void batch_begin(vg_rdp_peer *p)
{
    p->batching = true;
}

/* false: the write failed (the client is gone). */
static bool batch_end(vg_rdp_peer *p)
{
    p->batching = false;
    return batch_flush(p);
}

/* ---- surface listener (console thread): record and wake ---------------- */

static void on_damage(void *opaque, const pixman_region32_t *damage)
{
    vg_rdp_peer *p = opaque;
    g_mutex_lock(&p->lock);
    pixman_region32_union(&p->damage, &p->damage, (pixman_region32_t *)damage);
    g_mutex_unlock(&p->lock);
    SetEvent(p->wake);
}

static void on_resize(void *opaque, uint32_t width, uint32_t height)
{
    vg_rdp_peer *p = opaque;
    (void)width;
    (void)height;
    g_mutex_lock(&p->lock);
    p->resized = true;
    pixman_region32_clear(&p->damage);
    g_mutex_unlock(&p->lock);
    SetEvent(p->wake);
}

static void on_cursor(void *opaque, const vg_cursor *cursor)
{
    vg_rdp_peer *p = opaque;
    size_t n;

    if (vg_image_size(cursor->width, cursor->height, 4, &n) < 0 || cursor->width > 384 ||
        cursor->height > 384)
        return;
    g_mutex_lock(&p->lock);
    g_free(p->cursor.argb);
    p->cursor = *cursor;
    p->cursor.argb = g_memdup2(cursor->argb, n);
    p->cursor_dirty = true;
    g_mutex_unlock(&p->lock);
    SetEvent(p->wake);
}

static void on_closed(void *opaque, const char *reason)
{
    vg_rdp_peer *p = opaque;
    g_mutex_lock(&p->lock);
    p->closed = true;
    if (!p->end_reason[0])
        g_strlcpy(p->end_reason, reason, sizeof(p->end_reason));
    g_mutex_unlock(&p->lock);
    SetEvent(p->wake);
}

static const vg_surface_listener_ops listener_ops = {
    .damage = on_damage, .resize = on_resize, .cursor = on_cursor, .closed = on_closed};

void vg_rdp_peer_fail(vg_rdp_peer *p, const char *reason)
{
    g_mutex_lock(&p->lock);
    p->kicked = true;
    if (!p->end_reason[0])
        g_strlcpy(p->end_reason, reason, sizeof(p->end_reason));
    g_mutex_unlock(&p->lock);
}

void vg_rdp_peer_kick(vg_rdp_peer *p, const char *reason)
{
    vg_rdp_peer_fail(p, reason);
    /* A peer blocked writing to a client that stopped reading wakes only
     * when its socket fails: shut it down. */
    shutdown(p->fd, SHUT_RDWR);
    SetEvent(p->wake);
}

/* End a viewer that read nothing for the stall timeout, whichever way it
 * showed (@how, for the log): from its own thread (@kick false) or from the
 * watchdog, which must wake a thread blocked writing to it. */
static void end_stalled(vg_rdp_peer *p, const char *how, bool kick)
{
    char why[96];

    g_snprintf(why, sizeof(why), "the viewer read nothing for %u s",
               p->server->cfg.stall_timeout_ms / 1000);
    vg_notice(TAG, "peer=%s user=%s: ended: %s (%s)", p->name, p->user, why, how);
    if (kick)
        vg_rdp_peer_kick(p, why);
    else
        vg_rdp_peer_fail(p, why);
}

/* The VM screen's current size. */
static void surface_size(vg_surface *s, uint32_t *w, uint32_t *h)
{
    vg_surface_lock(s);
    *w = vg_surface_width_locked(s);
    *h = vg_surface_height_locked(s);
    vg_surface_unlock(s);
}

/* ---- login --------------------------------------------------------------- */

/* A UTF-16 identity field as UTF-8, bounded. */
static bool identity_string(const void *s, uint32_t len16, char *out, size_t out_len)
{
    g_autofree char *u = NULL;
    glong written = 0;

    out[0] = '\0';
    if (!s || len16 == 0)
        return true;
    if (len16 > VG_RDP_NAME_MAX)
        return false;
    u = g_utf16_to_utf8(s, (glong)len16, NULL, &written, NULL);
    if (!u || (size_t)written >= out_len)
        return false;
    memcpy(out, u, (size_t)written + 1);
    return true;
}

/* The VM the client named: the preconnection PDU's blob first, then a
 * routing token ("Cookie: msts=<token>"). */
static bool requested_vm(vg_rdp_peer *p, char *out, size_t len)
{
    DWORD tlen = 0;
    const char *token;

    out[0] = '\0';
    if (p->pcb.present && p->pcb.blob[0]) {
        g_strlcpy(out, p->pcb.blob, len);
        return true;
    }
    token = freerdp_nego_get_routing_token(p->client->context, &tlen);
    if (token && tlen > 0)
        return vg_rdp_routing_token_parse(token, tlen, out, len) == 0;
    return true;
}

static bool do_login(vg_rdp_peer *p, const char *user, const char *password)
{
    vg_rdp_server *s = p->server;
    char requested[VG_RDP_PCB_BLOB_SIZE];
    char reason[160] = "";
    vg_rdp_login login = {.user = user, .password = password, .peer = p->name};
    int r;

    if (!requested_vm(p, requested, sizeof(requested))) {
        vg_notice(TAG, "peer=%s user=%s: refused: malformed routing token", p->name, user);
        vg_rdp_peer_fail(p, "malformed routing token");
        return false;
    }
    login.requested = requested[0] ? requested : NULL;
    if (p->grant) {
        /* The grant names the VM, whatever else the client carried. */
        login.requested = p->grant_vm;
        login.grant = true;
    }
    /* Only NLA logins can be redirected: the redirection goes before the
     * Demand Active, which a login in PostConnect comes after. */
    login.redirect = password ? NULL : &p->redirect;
    r = s->ops.login(s->opaque, &login, &p->source, &p->conn, reason, sizeof(reason));
    if (r == 1) {
        p->redirecting = true;
        vg_notice(TAG, "peer=%s user=%s: redirected to %s", p->name, user, p->redirect.address);
        return true;
    }
    if (r < 0) {
        vg_notice(TAG, "peer=%s user=%s%s%s: refused: %s", p->name, user,
                  login.requested ? " requested=" : "", login.requested ? login.requested : "",
                  reason);
        vg_rdp_peer_fail(p, reason);
        return false;
    }
    p->logged_in = true;
    g_strlcpy(p->user, user, sizeof(p->user));
    p->surface = p->source->surface;
    if (vg_surface_add_listener(p->surface, &listener_ops, p) < 0) {
        p->surface = NULL;
        vg_rdp_peer_fail(p, "cannot follow the VM's screen");
    }
    vg_net_acceptor_logged_in(s->acceptor, p->name);
    return true;
}

/*
 * The NTLM hash callback's return convention: FreeRDP before 3.24 takes any
 * nonzero value as success (and SEC_E_OK, 0, as failure); 3.24 and later
 * take SEC_E_OK as success.
 */
static SECURITY_STATUS hash_cb_result(bool ok)
{
    int major = 0, minor = 0, rev = 0;
    freerdp_get_version(&major, &minor, &rev);
    if (major > 3 || (major == 3 && minor >= 24))
        return ok ? SEC_E_OK : SEC_E_LOGON_DENIED;
    return ok ? 1 : 0;
}

/*
 * NTLM (inside CredSSP) asks for the key to check the client's answer: the
 * NTLMv2 hash, derived from the stored NT hash, the user and the domain the
 * client sent (UTF-16, lengths in characters). Unknown users and locked-out
 * ones get no hash, which fails the exchange.
 */
static SECURITY_STATUS nla_hash_cb(void *arg, const SEC_WINNT_AUTH_IDENTITY *identity,
                                   const SecBuffer *proof, const BYTE *randkey, const BYTE *mic,
                                   const SecBuffer *micvalue, BYTE *ntlm_hash)
{
    freerdp_peer *client = arg;
    vg_rdp_peer *p = peer_of(client->context);
    const SEC_WINNT_AUTH_IDENTITY_W *id = identity;
    char user[VG_RDP_NAME_MAX * 3 + 1], domain[VG_RDP_NAME_MAX * 3 + 1];
    uint8_t nt[16];
    BOOL ok;

    (void)proof;
    (void)randkey;
    (void)mic;
    (void)micvalue;
    if (!identity_string(id->User, id->UserLength, user, sizeof(user)) || !user[0] ||
        id->DomainLength > VG_RDP_NAME_MAX) {
        vg_notice(TAG, "peer=%s: NLA: unusable user name", p->name);
        return hash_cb_result(false);
    }
    g_strlcpy(p->nla_user, user, sizeof(p->nla_user));
    if (!identity_string(id->Domain, id->DomainLength, domain, sizeof(domain))) {
        vg_notice(TAG, "peer=%s: NLA: unusable domain", p->name);
        return hash_cb_result(false);
    }
    if (g_str_has_prefix(domain, VG_RDP_GRANT_DOMAIN_PREFIX)) {
        /* A client another gateway redirected here: its password is a grant. */
        if (!p->server->ops.grant_hash ||
            p->server->ops.grant_hash(p->server->opaque, user,
                                      domain + strlen(VG_RDP_GRANT_DOMAIN_PREFIX), p->name, nt,
                                      p->grant_vm) < 0)
            return hash_cb_result(false);
        p->grant = true;
    } else if (p->server->ops.nla_hash(p->server->opaque, user, p->name, nt) < 0) {
        return hash_cb_result(false);
    }
    ok = NTOWFv2FromHashW(nt, (LPWSTR)(void *)id->User, id->UserLength * 2,
                          (LPWSTR)(void *)id->Domain, id->DomainLength * 2, ntlm_hash);
    OPENSSL_cleanse(nt, sizeof(nt));
    p->nla_hash_given = true;
    return hash_cb_result(ok);
}

static BOOL peer_logon(freerdp_peer *client, const SEC_WINNT_AUTH_IDENTITY *identity,
                       BOOL automatic)
{
    vg_rdp_peer *p = peer_of(client->context);
    rdpSettings *settings = client->context->settings;

    (void)identity; /* empty in FreeRDP 3.10; NTLM named the user in the hash callback */
    /* CredSSP delegates the client's password in clear; vmgate never needs it. */
    freerdp_settings_set_string(settings, FreeRDP_Password, NULL);
    p->nla_done = true;
    /* With NLA this comes once NTLM accepted the answer: the user in
     * nla_user proved who they are. Without NLA, PostConnect decides. */
    if (!automatic || !p->server->cfg.nla || p->logged_in || p->redirecting)
        return TRUE;
    if (!p->nla_user[0])
        return FALSE;
    return do_login(p, p->nla_user, NULL) ? TRUE : FALSE;
}

static BOOL peer_post_connect(freerdp_peer *client)
{
    vg_rdp_peer *p = peer_of(client->context);
    rdpSettings *settings = client->context->settings;

    if (p->redirecting) {
        vg_rdp_peer_fail(p, "redirected: the client stayed");
        return FALSE;
    }
    if (!p->logged_in) {
        const char *user = freerdp_settings_get_string(settings, FreeRDP_Username);
        const char *password = freerdp_settings_get_string(settings, FreeRDP_Password);
        bool ok;

        if (p->server->cfg.nla) {
            /* NLA is required, so Logon must have run. */
            vg_rdp_peer_fail(p, "no NLA login");
            return FALSE;
        }
        if (!user || !*user || !password || !*password) {
            vg_notice(TAG, "peer=%s: refused: no credentials in the Client Info PDU", p->name);
            vg_rdp_peer_fail(p, "no credentials");
            return FALSE;
        }
        ok = do_login(p, user, password);
        /* The password is no longer needed anywhere. */
        freerdp_settings_set_string(settings, FreeRDP_Password, NULL);
        if (!ok)
            return FALSE;
    }

    if (!p->surface)
        return FALSE;
    /* The server dictates the desktop size: the VM's screen. */
    surface_size(p->surface, &p->width, &p->height);
    if (p->width == 0 || p->height == 0) {
        vg_rdp_peer_fail(p, "the VM has no screen");
        return FALSE;
    }
    freerdp_settings_set_uint32(settings, FreeRDP_DesktopWidth, p->width);
    freerdp_settings_set_uint32(settings, FreeRDP_DesktopHeight, p->height);
    freerdp_settings_set_uint32(settings, FreeRDP_ColorDepth, 32);
    return TRUE;
}

/* ---- graphics ------------------------------------------------------------ */

/* Take the surface's current size and a full copy of its pixels. */
static bool resync(vg_rdp_peer *p)
{
    size_t size;
    uint32_t w, h;

    vg_surface_lock(p->surface);
    w = vg_surface_width_locked(p->surface);
    h = vg_surface_height_locked(p->surface);
    if (vg_image_size(w, h, 4, &size) < 0) {
        vg_surface_unlock(p->surface);
        vg_rdp_peer_fail(p, "the VM's screen size cannot be served");
        return false;
    }
    if (w != p->width || h != p->height || !p->pixels) {
        g_free(p->pixels);
        /* The size is the guest's choice: a failed allocation ends this
         * viewer, it must not abort the daemon. */
        p->pixels = g_try_malloc(size);
        if (!p->pixels) {
            vg_surface_unlock(p->surface);
            vg_warning(TAG, "peer=%s user=%s: no memory for a %ux%u screen", p->name, p->user, w,
                       h);
            vg_rdp_peer_fail(p, "the gateway has no memory for the VM's screen size");
            return false;
        }
    }
    p->width = w;
    p->height = h;
    p->stride = (size_t)w * 4;
    {
        const uint8_t *src = vg_surface_pixels_locked(p->surface);
        size_t sstride = vg_surface_stride_locked(p->surface);
        for (uint32_t y = 0; y < h; y++)
            memcpy(p->pixels + y * p->stride, src + y * sstride, p->stride);
    }
    vg_surface_unlock(p->surface);
    return true;
}

/*
 * Copy @region from the surface into this viewer's pixels (short, under the
 * surface lock), so encoding never holds up the console. With @moves (the
 * graphics pipeline, whose client can move what it shows), a large region
 * is first searched for what the guest scrolled or moved
 * (vg_scroll_take_moves): the copy is moved as the client will move it, the
 * moves leave @region. @return how many moves to send.
 */
static int copy_region(vg_rdp_peer *p, pixman_region32_t *region,
                       vg_scroll moves[VG_SCROLL_MAX_MOVES])
{
    const pixman_box32_t *b;
    const uint8_t *src;
    size_t sstride;
    int n = 0, n_moves = 0;

    vg_surface_lock(p->surface);
    if (vg_surface_width_locked(p->surface) != p->width ||
        vg_surface_height_locked(p->surface) != p->height) {
        vg_surface_unlock(p->surface);
        pixman_region32_clear(region); /* a resize is on its way */
        return 0;
    }
    src = vg_surface_pixels_locked(p->surface);
    sstride = vg_surface_stride_locked(p->surface);
    if (moves)
        n_moves = vg_scroll_take_moves(p->pixels, p->stride, src, sstride, p->width, p->height,
                                       region, &p->moves_seen, moves);
    b = pixman_region32_rectangles(region, &n);
    for (int i = 0; i < n; i++) {
        size_t off = (size_t)b[i].x1 * 4, len = (size_t)(b[i].x2 - b[i].x1) * 4;
        for (int y = b[i].y1; y < b[i].y2; y++)
            memcpy(p->pixels + (size_t)y * p->stride + off, src + (size_t)y * sstride + off, len);
    }
    vg_surface_unlock(p->surface);
    return n_moves;
}

static bool send_region(vg_rdp_peer *p, pixman_region32_t *region, const vg_scroll *moves,
                        int n_moves)
{
    if (p->gfx)
        return vg_rdp_gfx_send(p->gfx, region, moves, n_moves);
    return vg_rdp_legacy_send(p, region);
}

/* The client is active: a full frame, the pointer, then updates. */
static bool start_graphics(vg_rdp_peer *p)
{
    pixman_region32_t all;
    bool ok;

    if (!resync(p))
        return false;
    pixman_region32_init_rect(&all, 0, 0, p->width, p->height);
    ok = send_region(p, &all, NULL, 0);
    pixman_region32_fini(&all);
    return ok;
}

/* Handle what other threads recorded. false: the connection must end. */
static bool pump(vg_rdp_peer *p)
{
    pixman_region32_t region;
    bool resized, cursor_dirty, ok = true;
    vg_cursor cursor = {0};
    vg_scroll moves[VG_SCROLL_MAX_MOVES];
    int n_moves = 0;

    g_mutex_lock(&p->lock);
    if (p->kicked || p->closed) {
        g_mutex_unlock(&p->lock);
        return false;
    }
    /* The graphics pipeline still not set up, or frames unacknowledged, for
     * stall_timeout_ms: the client has read nothing for that long (its
     * kernel may still be taking the bytes, so the send queue the watchdog
     * looks at can be empty). */
    if (p->gfx && (!vg_rdp_gfx_ready(p->gfx) || vg_rdp_gfx_busy(p->gfx)) && !p->suppressed) {
        int64_t now = vg_now_us();
        if (!p->acks_awaited_since) {
            p->acks_awaited_since = now;
        } else if (now - p->acks_awaited_since >= (int64_t)p->server->cfg.stall_timeout_ms * 1000) {
            g_mutex_unlock(&p->lock);
            end_stalled(p, "no frame acknowledged", false);
            return false;
        }
    } else {
        p->acks_awaited_since = 0;
    }
    if (!p->active || (p->gfx && !vg_rdp_gfx_ready(p->gfx)) || p->suppressed ||
        (p->gfx && vg_rdp_gfx_busy(p->gfx))) {
        g_mutex_unlock(&p->lock);
        return true; /* the damage waits */
    }
    resized = p->resized;
    p->resized = false;
    cursor_dirty = p->cursor_dirty;
    if (cursor_dirty) {
        cursor = p->cursor;
        p->cursor.argb = NULL;
        p->cursor_dirty = false;
    }
    pixman_region32_init(&region);
    pixman_region32_copy(&region, &p->damage);
    pixman_region32_clear(&p->damage);
    g_mutex_unlock(&p->lock);

    if (resized) {
        uint32_t ow = p->width, oh = p->height;
        ok = resync(p);
        if (ok && (p->width != ow || p->height != oh)) {
            vg_info(TAG, "peer=%s user=%s: the VM's screen is now %ux%u", p->name, p->user,
                    p->width, p->height);
            ok = p->gfx ? vg_rdp_gfx_resize(p->gfx) : vg_rdp_legacy_resize(p);
            if (ok && !p->gfx) {
                /* The client reactivates; Activate sends the full frame. */
                pixman_region32_fini(&region);
                g_free(cursor.argb);
                return true;
            }
        }
        pixman_region32_fini(&region);
        pixman_region32_init_rect(&region, 0, 0, p->width, p->height);
    } else if (pixman_region32_not_empty(&region)) {
        pixman_region32_intersect_rect(&region, &region, 0, 0, p->width, p->height);
        n_moves = copy_region(p, &region, p->gfx ? moves : NULL);
    }
    if (ok && (n_moves || pixman_region32_not_empty(&region) ||
               (p->gfx && vg_rdp_gfx_refine_due(p->gfx, NULL))))
        ok = send_region(p, &region, moves, n_moves);
    pixman_region32_fini(&region);
    if (ok && cursor_dirty)
        ok = vg_rdp_send_pointer(p, &cursor);
    g_free(cursor.argb);
    return ok;
}

/* Before each Demand Active: announce the VM's screen size when it is
 * known (with NLA the login came first; without, PostConnect comes later
 * and Activate corrects the size). */
/*
 * Send the client to the gateway that holds its VM, where the MS-RDPBCGR
 * sequence has it: after licensing, instead of the Demand Active. The
 * target address, the user, and as the password a single-use grant the
 * target checks against the store (its id in the domain). FreeRDP clients
 * connect there with the same port and these credentials at once; the
 * Demand Active that follows is never answered.
 */
static bool send_redirection(vg_rdp_peer *p)
{
    rdpRedirection *r = redirection_new();
    gunichar2 *pw16 = NULL;
    glong units = 0;
    bool ok = false;

    if (!r)
        goto out;
    pw16 = g_utf8_to_utf16(p->redirect.password, -1, NULL, &units, NULL);
    /* The password goes as UTF-16LE with its terminator, as the PDU wants. */
    ok = pw16 && redirection_set_flags(r, LB_TARGET_NET_ADDRESS | LB_USERNAME | LB_DOMAIN |
                                              LB_PASSWORD) &&
         redirection_set_string_option(r, LB_TARGET_NET_ADDRESS, p->redirect.address) &&
         redirection_set_string_option(r, LB_USERNAME, p->redirect.user) &&
         redirection_set_string_option(r, LB_DOMAIN, p->redirect.domain) &&
         redirection_set_byte_option(r, LB_PASSWORD, (const BYTE *)pw16,
                                     (size_t)(units + 1) * sizeof(gunichar2)) &&
         p->client->SendServerRedirection(p->client, r);
out:
    if (pw16) {
        OPENSSL_cleanse(pw16, (size_t)units * sizeof(gunichar2));
        g_free(pw16);
    }
    OPENSSL_cleanse(p->redirect.password, sizeof(p->redirect.password));
    redirection_free(r); /* FreeRDP frees its copy of the password without wiping it */
    return ok;
}

static BOOL peer_capabilities(freerdp_peer *client)
{
    vg_rdp_peer *p = peer_of(client->context);
    rdpSettings *settings = client->context->settings;

    if (p->redirecting) {
        if (!send_redirection(p)) {
            vg_rdp_peer_fail(p, "cannot send the redirection");
            return FALSE;
        }
        vg_info(TAG, "peer=%s: Server Redirection PDU sent", p->name);
        return TRUE;
    }
    if (p->surface) {
        uint32_t w, h;
        surface_size(p->surface, &w, &h);
        if (w && h) {
            freerdp_settings_set_uint32(settings, FreeRDP_DesktopWidth, w);
            freerdp_settings_set_uint32(settings, FreeRDP_DesktopHeight, h);
        }
    }
    p->announced_w = freerdp_settings_get_uint32(settings, FreeRDP_DesktopWidth);
    p->announced_h = freerdp_settings_get_uint32(settings, FreeRDP_DesktopHeight);
    return TRUE;
}

static BOOL peer_activate(freerdp_peer *client)
{
    vg_rdp_peer *p = peer_of(client->context);
    vg_rdp_server *s = p->server;
    rdpSettings *settings = client->context->settings;

    if (!p->attached) {
        if (s->ops.attach(s->opaque, p->conn, p, &p->input) < 0) {
            vg_rdp_peer_fail(p, "cannot join the session");
            return FALSE;
        }
        p->attached = true;
    }
    p->active = true;
    /* GFX (opened in the peer loop once the dynamic channel is up) sets the
     * size itself; bitmap updates need the size the client was told. */
    if (!p->gfx && !resync(p))
        return FALSE;
    if (!p->gfx && (p->announced_w != p->width || p->announced_h != p->height) &&
        freerdp_settings_get_bool(settings, FreeRDP_DesktopResize)) {
        vg_info(TAG, "peer=%s: desktop %ux%u, the VM's screen is %ux%u: resizing", p->name,
                p->announced_w, p->announced_h, p->width, p->height);
        return vg_rdp_legacy_resize(p) ? TRUE : FALSE;
    }
    if (!p->gfx) {
        if (!start_graphics(p))
            return FALSE;
        g_mutex_lock(&p->lock);
        if (p->cursor.argb)
            p->cursor_dirty = true;
        g_mutex_unlock(&p->lock);
        SetEvent(p->wake);
    }
    return TRUE;
}

static BOOL peer_suppress_output(rdpContext *ctx, BYTE allow, const RECTANGLE_16 *area)
{
    vg_rdp_peer *p = peer_of(ctx);
    (void)area;
    p->suppressed = !allow;
    if (allow) {
        g_mutex_lock(&p->lock);
        pixman_region32_union_rect(&p->damage, &p->damage, 0, 0, p->width, p->height);
        g_mutex_unlock(&p->lock);
        SetEvent(p->wake);
    }
    return TRUE;
}

static BOOL peer_refresh_rect(rdpContext *ctx, BYTE count, const RECTANGLE_16 *areas)
{
    vg_rdp_peer *p = peer_of(ctx);
    g_mutex_lock(&p->lock);
    for (BYTE i = 0; i < count; i++) {
        /* Inclusive bounds from the client: ignore inverted ones; the pump
         * clips the rest to the screen. */
        if (areas[i].right < areas[i].left || areas[i].bottom < areas[i].top)
            continue;
        pixman_region32_union_rect(&p->damage, &p->damage, areas[i].left, areas[i].top,
                                   (unsigned)(areas[i].right - areas[i].left) + 1,
                                   (unsigned)(areas[i].bottom - areas[i].top) + 1);
    }
    g_mutex_unlock(&p->lock);
    SetEvent(p->wake);
    return TRUE;
}

/* ---- input --------------------------------------------------------------- */

/* Input counts from attach on; the viewer object decides at each event
 * whether the viewer's role lets it through. */
static bool attached(vg_rdp_peer *p)
{
    return p->input != NULL;
}

static void send_key(vg_rdp_peer *p, uint16_t qnum, uint32_t keysym, bool down)
{
    vg_viewer_key(p->input, qnum, keysym, down);
}

static BOOL input_keyboard(rdpInput *input, UINT16 flags, UINT8 code)
{
    vg_rdp_peer *p = peer_of(input->context);
    bool down = !(flags & KBD_FLAGS_RELEASE);
    uint16_t qnum;

    if (!attached(p))
        return TRUE;
    /* Pause comes as E1 1D, then a plain 45: the 45 is part of it. */
    if (flags & KBD_FLAGS_EXTENDED1) {
        p->pause_seen = code == 0x1d;
    } else if (p->pause_seen && code == 0x45 && !(flags & KBD_FLAGS_EXTENDED)) {
        if (!down)
            p->pause_seen = false;
        return TRUE;
    }
    qnum = vg_keymap_rdp_to_qnum(code, flags);
    if (qnum)
        send_key(p, qnum, 0, down);
    else
        vg_debug(TAG, "peer=%s: unknown scancode 0x%02x flags 0x%04x", p->name, code, flags);
    return TRUE;
}

static BOOL input_unicode(rdpInput *input, UINT16 flags, UINT16 code)
{
    vg_rdp_peer *p = peer_of(input->context);
    vg_key_stroke st;
    bool down = !(flags & KBD_FLAGS_RELEASE);

    if (!attached(p))
        return TRUE;
    if (!p->unicode_seen) {
        p->unicode_seen = true;
        vg_info(TAG, "peer=%s user=%s: the client sends Unicode key events", p->name, p->user);
    }
    if (vg_keymap_char_to_stroke(code, &st) < 0) {
        vg_debug(TAG, "peer=%s: no key for U+%04X", p->name, code);
        return TRUE;
    }
    /* A whole stroke on press; the release only releases the key. */
    if (down && st.shift)
        send_key(p, 0x2a, 0xffe1, true);
    send_key(p, st.qnum, st.keysym, down);
    if (down && st.shift)
        send_key(p, 0x2a, 0xffe1, false);
    return TRUE;
}

/* Lock keys: the client says which locks are on. The guest's state is not
 * known here, so a change from what the client said last is toggled. */
static BOOL input_synchronize(rdpInput *input, UINT32 flags)
{
    vg_rdp_peer *p = peer_of(input->context);
    static const struct {
        uint32_t flag;
        uint16_t qnum;
        uint32_t keysym;
    } locks[] = {{KBD_SYNC_CAPS_LOCK, 0x3a, 0xffe5},
                 {KBD_SYNC_NUM_LOCK, 0x45, 0xff7f},
                 {KBD_SYNC_SCROLL_LOCK, 0x46, 0xff14}};
    const uint32_t mask = KBD_SYNC_CAPS_LOCK | KBD_SYNC_NUM_LOCK | KBD_SYNC_SCROLL_LOCK;

    if (!attached(p))
        return TRUE;
    if (p->locks_known) {
        for (size_t i = 0; i < G_N_ELEMENTS(locks); i++) {
            if ((flags & locks[i].flag) != (p->locks & locks[i].flag)) {
                send_key(p, locks[i].qnum, locks[i].keysym, true);
                send_key(p, locks[i].qnum, locks[i].keysym, false);
            }
        }
    }
    /* The first sync is taken as the current state. */
    p->locks = flags & mask;
    p->locks_known = true;
    return TRUE;
}

static void send_pointer(vg_rdp_peer *p, UINT16 x, UINT16 y)
{
    p->last_x = x < p->width ? x : (int32_t)p->width - 1;
    p->last_y = y < p->height ? y : (int32_t)p->height - 1;
    vg_viewer_pointer(p->input, p->last_x, p->last_y, p->buttons & VG_BUTTON_MASK);
}

static BOOL input_mouse(rdpInput *input, UINT16 flags, UINT16 x, UINT16 y)
{
    vg_rdp_peer *p = peer_of(input->context);
    uint32_t bit = 0;

    if (!attached(p))
        return TRUE;
    if (flags & (PTR_FLAGS_WHEEL | PTR_FLAGS_HWHEEL)) {
        /* Rotation: 9 bits, two's complement; 120 units a notch. */
        int rot = flags & 0xff;
        int steps;
        if (flags & PTR_FLAGS_WHEEL_NEGATIVE)
            rot -= 256;
        steps = rot / 120;
        if (steps == 0)
            steps = rot > 0 ? 1 : -1;
        if (flags & PTR_FLAGS_WHEEL) {
            /* Positive rotation scrolls up (toward the user). */
            vg_viewer_wheel(p->input, p->last_x, p->last_y, p->buttons & VG_BUTTON_MASK, -steps);
        } else {
            uint32_t b = steps > 0 ? VG_BUTTON_WHEEL_RIGHT : VG_BUTTON_WHEEL_LEFT;
            for (int i = 0; i < abs(steps) && i < 16; i++) {
                vg_viewer_pointer(p->input, p->last_x, p->last_y,
                                  (p->buttons & VG_BUTTON_MASK) | b);
                vg_viewer_pointer(p->input, p->last_x, p->last_y, p->buttons & VG_BUTTON_MASK);
            }
        }
        return TRUE;
    }
    if (flags & PTR_FLAGS_BUTTON1)
        bit = VG_BUTTON_LEFT;
    else if (flags & PTR_FLAGS_BUTTON2)
        bit = VG_BUTTON_RIGHT;
    else if (flags & PTR_FLAGS_BUTTON3)
        bit = VG_BUTTON_MIDDLE;
    if (bit) {
        if (flags & PTR_FLAGS_DOWN)
            p->buttons |= bit;
        else
            p->buttons &= ~bit;
    }
    send_pointer(p, x, y);
    return TRUE;
}

static BOOL input_extended_mouse(rdpInput *input, UINT16 flags, UINT16 x, UINT16 y)
{
    vg_rdp_peer *p = peer_of(input->context);

    if (!attached(p))
        return TRUE;
    /* Button 4 ("back") is QEMU's side button; RFB has no bit for button 5. */
    if (flags & PTR_XFLAGS_BUTTON1) {
        if (flags & PTR_XFLAGS_DOWN)
            p->buttons |= VG_BUTTON_SIDE;
        else
            p->buttons &= ~(uint32_t)VG_BUTTON_SIDE;
    }
    send_pointer(p, x, y);
    return TRUE;
}

/* ---- the peer ------------------------------------------------------------ */

static BOOL ctx_new(freerdp_peer *client, rdpContext *ctx)
{
    (void)client;
    (void)ctx;
    return TRUE;
}

static void ctx_free(freerdp_peer *client, rdpContext *ctx)
{
    (void)client;
    (void)ctx;
}

static bool configure(vg_rdp_peer *p)
{
    vg_rdp_server *s = p->server;
    rdpSettings *st = p->client->context->settings;
    rdpCertificate *cert;
    rdpPrivateKey *key;

    /* From memory: the files were read when the server started or last
     * reloaded, not for each connection. */
    g_mutex_lock(&s->lock);
    cert = freerdp_certificate_new_from_pem(s->cert_pem);
    key = freerdp_key_new_from_pem(s->key_pem);
    g_mutex_unlock(&s->lock);
    if (!cert || !key) {
        vg_error(TAG, "cannot use the TLS certificate or key");
        freerdp_certificate_free(cert);
        freerdp_key_free(key);
        return false;
    }
    if (!freerdp_settings_set_pointer_len(st, FreeRDP_RdpServerCertificate, cert, 1) ||
        !freerdp_settings_set_pointer_len(st, FreeRDP_RdpServerRsaKey, key, 1))
        return false;
    return freerdp_settings_set_bool(st, FreeRDP_RdpSecurity, FALSE) &&
           freerdp_settings_set_bool(st, FreeRDP_TlsSecurity, !s->cfg.nla) &&
           freerdp_settings_set_bool(st, FreeRDP_NlaSecurity, s->cfg.nla) &&
           freerdp_settings_set_bool(st, FreeRDP_ExtSecurity, FALSE) &&
           /* What FreeRDP lets us set of the one TLS policy; the rest
            * (no tickets, no renegotiation) comes from
            * vg_tls_policy_install(). */
           freerdp_settings_set_uint32(st, FreeRDP_TlsSecLevel, VG_TLS_MIN_SECURITY_LEVEL) &&
           freerdp_settings_set_uint16(st, FreeRDP_TLSMinVersion, TLS1_2_VERSION) &&
           freerdp_settings_set_string(st, FreeRDP_AllowedTlsCiphers, VG_TLS_CIPHERS_TLS12) &&
           freerdp_settings_set_uint32(st, FreeRDP_ColorDepth, 32) &&
           freerdp_settings_set_bool(st, FreeRDP_SuppressOutput, TRUE) &&
           freerdp_settings_set_bool(st, FreeRDP_RefreshRect, TRUE) &&
           freerdp_settings_set_bool(st, FreeRDP_DesktopResize, TRUE) &&
           freerdp_settings_set_bool(st, FreeRDP_SupportGraphicsPipeline, TRUE) &&
           freerdp_settings_set_bool(st, FreeRDP_GfxH264, !s->cfg.lossless) &&
           freerdp_settings_set_bool(st, FreeRDP_RemoteFxCodec, FALSE) &&
           freerdp_settings_set_bool(st, FreeRDP_NSCodec, FALSE) &&
           freerdp_settings_set_bool(st, FreeRDP_HasExtendedMouseEvent, TRUE) &&
           freerdp_settings_set_bool(st, FreeRDP_HasHorizontalWheel, TRUE) &&
           freerdp_settings_set_bool(st, FreeRDP_UnicodeInput, TRUE) &&
           freerdp_settings_set_bool(st, FreeRDP_SupportDisplayControl, TRUE) &&
           freerdp_settings_set_bool(st, FreeRDP_SupportMonitorLayoutPdu, FALSE);
}

static void peer_thread_end(vg_rdp_peer *p, const char *fallback)
{
    vg_rdp_server *s = p->server;
    char reason[160];

    if (p->surface)
        vg_surface_remove_listener(p->surface, &listener_ops, p);
    /* Keys and buttons this viewer still holds are let go, or the guest
     * would see them held until someone else presses them. */
    if (p->attached)
        vg_viewer_release(p->input);
    g_mutex_lock(&p->lock);
    g_strlcpy(reason, p->end_reason[0] ? p->end_reason : fallback, sizeof(reason));
    g_mutex_unlock(&p->lock);

    /* A CredSSP exchange that got the user's hash and never reached Logon
     * failed on the client's answer: a wrong password. */
    if (!p->logged_in && p->nla_hash_given && !p->nla_done)
        s->ops.nla_failed(s->opaque, p->nla_user, p->name);

    if (p->gfx)
        vg_rdp_gfx_free(p->gfx);
    vg_rdp_planar_free(p->planar);
    if (p->disp) {
        p->disp->Close(p->disp); /* joins its thread */
        disp_server_context_free(p->disp);
    }
    if (p->vcm)
        WTSCloseServer(p->vcm);
    if (p->client->Disconnect)
        p->client->Disconnect(p->client);
    /* The source and the input are the front end's; ended() lets go of
     * what the viewer held. */
    p->input = NULL;
    if (p->logged_in) {
        vg_notice(TAG, "peer=%s user=%s: disconnected: %s", p->name, p->user, reason);
        s->ops.ended(s->opaque, p->conn, p, reason);
    } else {
        vg_info(TAG, "peer=%s: connection ended before login: %s", p->name, reason);
    }

    g_mutex_lock(&s->lock);
    g_ptr_array_remove_fast(s->peers, p);
    g_mutex_unlock(&s->lock);
    vg_net_acceptor_closed(s->acceptor, p->name, p->logged_in);

    freerdp_peer_context_free(p->client);
    freerdp_peer_free(p->client); /* closes the socket */
    if (p->batch)
        Stream_Free(p->batch, TRUE);
    CloseHandle(p->wake);
    pixman_region32_fini(&p->damage);
    g_free(p->cursor.argb);
    g_free(p->pixels);
    OPENSSL_cleanse(p->redirect.password, sizeof(p->redirect.password)); /* if never sent */
    g_mutex_clear(&p->lock);
    g_free(p);
}

/*
 * Display control: the client asks for a new size (its window changed).
 * Runs on the channel's own thread. Only viewers whose input counts may
 * resize; a VM whose display cannot change its mode keeps its size, and
 * the client keeps showing it as it is.
 */
static UINT disp_layout(DispServerContext *ctx, const DISPLAY_CONTROL_MONITOR_LAYOUT_PDU *pdu)
{
    vg_rdp_peer *p = ctx->custom;
    const DISPLAY_CONTROL_MONITOR_LAYOUT *m = NULL;
    uint32_t w, h;
    int r;

    for (UINT32 i = 0; i < pdu->NumMonitors && i < 16; i++)
        if (!m || (pdu->Monitors[i].Flags & DISPLAY_CONTROL_MONITOR_PRIMARY))
            m = &pdu->Monitors[i];
    if (!m || m->Width < 200 || m->Height < 200 || m->Width > 8192 || m->Height > 8192)
        return CHANNEL_RC_OK;
    surface_size(p->surface, &w, &h);
    if (m->Width == w && m->Height == h)
        return CHANNEL_RC_OK;
    if (!attached(p))
        return CHANNEL_RC_OK;
    r = vg_viewer_request_resize(p->input, m->Width, m->Height);
    if (r == -EPERM)
        vg_info(TAG, "peer=%s: resize to %ux%u ignored: view only", p->name, m->Width, m->Height);
    else if (r < 0)
        vg_info(TAG, "peer=%s user=%s: resize to %ux%u refused: %s", p->name, p->user, m->Width,
                m->Height,
                r == -ENOTSUP ? "the VM's display cannot change its mode from here"
                              : g_strerror(-r));
    return CHANNEL_RC_OK;
}

static void maybe_open_disp(vg_rdp_peer *p)
{
    DispServerContext *d;

    if (p->disp_tried || !freerdp_settings_get_bool(p->client->context->settings,
                                                    FreeRDP_SupportDisplayControl))
        return;
    p->disp_tried = true;
    d = disp_server_context_new(p->vcm);
    if (!d)
        return;
    d->custom = p;
    d->rdpcontext = p->client->context;
    d->MaxNumMonitors = 1;
    d->MaxMonitorAreaFactorA = 8192;
    d->MaxMonitorAreaFactorB = 8192;
    d->DispMonitorLayout = disp_layout;
    if (d->Open(d) != CHANNEL_RC_OK) {
        disp_server_context_free(d);
        return;
    }
    if (d->DisplayControlCaps(d) != CHANNEL_RC_OK) {
        d->Close(d);
        disp_server_context_free(d);
        return;
    }
    p->disp = d;
}

/* Open the graphics pipeline once the dynamic channel is up. */
static bool maybe_open_gfx(vg_rdp_peer *p)
{
    int r;
    if (!p->active || !p->vcm ||
        WTSVirtualChannelManagerGetDrdynvcState(p->vcm) != DRDYNVC_STATE_READY)
        return true;
    maybe_open_disp(p);
    if (p->gfx || p->gfx_failed ||
        !freerdp_settings_get_bool(p->client->context->settings, FreeRDP_SupportGraphicsPipeline))
        return true;
    r = vg_rdp_gfx_open(p);
    if (r == -ENOTSUP) {
        /* Bitmap updates it is; the first frame went in Activate. */
        p->gfx_failed = true;
        return true;
    }
    return r == 0;
}

static void run_peer(vg_rdp_peer *p)
{
    freerdp_peer *client = p->client;
    int64_t login_deadline = vg_now_us() + (int64_t)p->server->cfg.login_timeout_ms * 1000;
    const char *end = "the client left";
    int r;

    r = vg_rdp_pcb_read(p->fd, VG_RDP_PCB_TIMEOUT_MS, &p->pcb);
    if (r < 0) {
        vg_notice(TAG, "peer=%s: refused: %s", p->name,
                  r == -EBADMSG ? "malformed preconnection PDU" : g_strerror(-r));
        vg_rdp_peer_fail(p, r == -EBADMSG ? "malformed preconnection PDU" : "no request");
        goto out;
    }
    if (p->pcb.present)
        vg_info(TAG, "peer=%s: preconnection PDU v%u id %u \"%s\"", p->name, p->pcb.version,
                p->pcb.id, p->pcb.blob);

    /* The channel manager hooks the peer's channel data: before Initialize. */
    p->vcm = WTSOpenServerA((LPSTR)client->context);
    if (!p->vcm || p->vcm == INVALID_HANDLE_VALUE) {
        p->vcm = NULL;
        vg_rdp_peer_fail(p, "cannot open the channel manager");
        goto out;
    }
    if (!configure(p) || !batch_setup(p)) {
        vg_rdp_peer_fail(p, "server configuration");
        goto out;
    }
    client->Logon = peer_logon;
    client->PostConnect = peer_post_connect;
    client->Activate = peer_activate;
    client->Capabilities = peer_capabilities;
    client->SspiNtlmHashCallback = nla_hash_cb;
    client->context->update->SuppressOutput = peer_suppress_output;
    client->context->update->RefreshRect = peer_refresh_rect;
    client->context->input->SynchronizeEvent = input_synchronize;
    client->context->input->KeyboardEvent = input_keyboard;
    client->context->input->UnicodeKeyboardEvent = input_unicode;
    client->context->input->MouseEvent = input_mouse;
    client->context->input->ExtendedMouseEvent = input_extended_mouse;
    if (!client->Initialize(client)) {
        vg_rdp_peer_fail(p, "cannot initialise the connection");
        goto out;
    }

    for (;;) {
        HANDLE handles[MAXIMUM_WAIT_OBJECTS];
        DWORD n = 0, k, status;
        int wait_ms;
        bool ok;

        handles[n++] = p->wake;
        k = client->GetEventHandles(client, &handles[n], MAXIMUM_WAIT_OBJECTS - n);
        if (k == 0) {
            end = "internal error (no event handles)";
            break;
        }
        n += k;
        handles[n++] = WTSVirtualChannelManagerGetEventHandle(p->vcm);
        if (p->gfx && vg_rdp_gfx_event(p->gfx))
            handles[n++] = vg_rdp_gfx_event(p->gfx);
        wait_ms = 1000;
        if (p->gfx)
            vg_rdp_gfx_refine_due(p->gfx, &wait_ms);
        /* The send queue drains without an event: look again soon. */
        if (p->gfx && vg_rdp_gfx_acks_suspended(p->gfx) && vg_rdp_gfx_busy(p->gfx))
            wait_ms = MIN(wait_ms, 10);
        status = WaitForMultipleObjects(n, handles, FALSE, (DWORD)wait_ms);
        if (status == WAIT_FAILED) {
            end = "internal error (wait)";
            break;
        }
        ResetEvent(p->wake);
        if (!client->CheckFileDescriptor(client))
            break;
        /* The dynamic channel opens once, when it first may: after the
         * activation, and only if the client joined it. */
        batch_begin(p);
        ok = WTSVirtualChannelManagerCheckFileDescriptorEx(
            p->vcm, client->activated &&
                        WTSVirtualChannelManagerIsChannelJoined(p->vcm, DRDYNVC_SVC_CHANNEL_NAME));
        if (!batch_end(p) || !ok)
            break;
        if (!p->logged_in && vg_now_us() > login_deadline) {
            vg_rdp_peer_fail(p, "login took too long");
            break;
        }
        if (!maybe_open_gfx(p)) {
            end = "graphics pipeline failed";
            break;
        }
        if (p->gfx && !vg_rdp_gfx_poll(p->gfx)) {
            end = "graphics pipeline failed";
            break;
        }
        batch_begin(p);
        ok = pump(p);
        if (!batch_end(p) || !ok)
            break;
    }

out:
    peer_thread_end(p, end);
}

/* ---- listener ------------------------------------------------------------ */

/* A new connection, on its own thread (the shared acceptor's): the peer
 * lives and ends here. */
static void serve(void *opaque, int fd, const char *name)
{
    vg_rdp_server *s = opaque;
    vg_rdp_peer *p = g_new0(vg_rdp_peer, 1);

    p->server = s;
    p->fd = fd;
    p->lossless = s->cfg.lossless;
    p->h264_preset = s->cfg.h264_preset;
    g_strlcpy(p->name, name, sizeof(p->name));
    g_mutex_init(&p->lock);
    pixman_region32_init(&p->damage);
    p->wake = CreateEventA(NULL, TRUE, FALSE, NULL);
    p->client = p->wake ? freerdp_peer_new(fd) : NULL;
    if (p->client) {
        p->client->ContextSize = sizeof(peer_ctx);
        p->client->ContextNew = ctx_new;
        p->client->ContextFree = ctx_free;
    }
    if (!p->client || !freerdp_peer_context_new(p->client)) {
        vg_warning(TAG, "peer=%s: cannot start a connection", name);
        vg_net_acceptor_closed(s->acceptor, name, false);
        if (p->client)
            freerdp_peer_free(p->client); /* closes the socket */
        else
            close(fd);
        if (p->wake)
            CloseHandle(p->wake);
        pixman_region32_fini(&p->damage);
        g_mutex_clear(&p->lock);
        g_free(p);
        return;
    }
    ((peer_ctx *)p->client->context)->p = p;
    g_mutex_lock(&s->lock);
    g_ptr_array_add(s->peers, p);
    if (s->stopping)
        vg_rdp_peer_kick(p, "the gateway is stopping");
    g_mutex_unlock(&s->lock);
    run_peer(p);
}

static void quiet_freerdp_logs(void)
{
    /* FreeRDP logs through WLog to stdout; vmgate's log is the record. Keep
     * its errors unless the operator asked for more (WLOG_LEVEL). */
    if (!g_getenv("WLOG_LEVEL")) {
        wLog *root = WLog_GetRoot();
        if (root)
            WLog_SetLogLevel(root, WLOG_FATAL);
    }
}

/*
 * The stall watchdog. A viewer that stops reading leaves its peer thread
 * blocked in a write inside FreeRDP, which retries for ever; so once a
 * second another thread looks at each logged-in peer's send queue
 * (SIOCOUTQ). A queue that is not empty and has not moved for
 * stall_timeout_ms means the client has read nothing for that long: the
 * peer is kicked (shutdown(2) wakes the blocked write). A client that
 * reads, however slowly, moves the queue.
 */
static gpointer watchdog_thread(gpointer data)
{
    vg_rdp_server *s = data;

    g_mutex_lock(&s->lock);
    while (!s->watchdog_stop) {
        int64_t now = vg_now_us();

        for (guint i = 0; i < s->peers->len; i++) {
            vg_rdp_peer *p = s->peers->pdata[i];
            bool live;
            int q = 0;

            g_mutex_lock(&p->lock);
            live = p->logged_in && !p->kicked && !p->closed;
            g_mutex_unlock(&p->lock);
            if (!live || ioctl(p->fd, SIOCOUTQ, &q) < 0 || q == 0 || q != p->outq_last) {
                p->outq_last = q;
                p->stall_since = 0;
                continue;
            }
            if (!p->stall_since) {
                p->stall_since = now;
            } else if (now - p->stall_since >= (int64_t)s->cfg.stall_timeout_ms * 1000) {
                end_stalled(p, "its send queue did not move", true);
            }
        }
        g_cond_wait_until(&s->watchdog_cond, &s->lock, g_get_monotonic_time() + G_TIME_SPAN_SECOND);
    }
    g_mutex_unlock(&s->lock);
    return NULL;
}

/* Forget a PEM buffer that may hold a private key. */
static void pem_free(char *pem)
{
    if (pem) {
        OPENSSL_cleanse(pem, strlen(pem));
        g_free(pem);
    }
}

/* Read @cert_file and @key_file and check that FreeRDP can use them.
 * @return 0 and the contents, or a negative errno and *error (g_free). */
static int load_pem(const char *cert_file, const char *key_file, char **cert_pem, char **key_pem,
                    char **error)
{
    g_autoptr(GError) gerr = NULL;
    char *cert = NULL, *key = NULL;
    rdpCertificate *c = NULL;
    rdpPrivateKey *k = NULL;
    int r = -EINVAL;

    if (!g_file_get_contents(cert_file, &cert, NULL, &gerr) ||
        !g_file_get_contents(key_file, &key, NULL, &gerr)) {
        *error = g_strdup(gerr->message);
        r = gerr->domain == G_FILE_ERROR && gerr->code == G_FILE_ERROR_NOENT ? -ENOENT : -EACCES;
        goto out;
    }
    if (!(c = freerdp_certificate_new_from_pem(cert))) {
        *error = g_strdup_printf("%s: not a usable PEM certificate", cert_file);
        goto out;
    }
    if (!(k = freerdp_key_new_from_pem(key))) {
        *error = g_strdup_printf("%s: not a usable PEM private key", key_file);
        goto out;
    }
    *cert_pem = cert;
    *key_pem = key;
    cert = key = NULL;
    r = 0;
out:
    freerdp_certificate_free(c);
    freerdp_key_free(k);
    g_free(cert);
    pem_free(key);
    return r;
}

int vg_rdp_server_reload_tls(vg_rdp_server *s, const char *cert_file, const char *key_file,
                             char **error)
{
    char *cert = NULL, *key = NULL, *old_cert, *old_key;
    int r = load_pem(cert_file, key_file, &cert, &key, error);

    if (r < 0)
        return r;
    g_mutex_lock(&s->lock);
    old_cert = s->cert_pem;
    old_key = s->key_pem;
    s->cert_pem = cert;
    s->key_pem = key;
    g_mutex_unlock(&s->lock);
    g_free(old_cert);
    pem_free(old_key);
    return 0;
}

int vg_rdp_server_new(const vg_rdp_server_config *cfg, const vg_rdp_server_ops *ops, void *opaque,
                      vg_rdp_server **out)
{
    static const vg_net_acceptor_ops aops = {.serve = serve};
    vg_net_acceptor_config ac = {.address = cfg->address,
                                 .port = cfg->port,
                                 .max_unauth = cfg->max_unauth ? cfg->max_unauth
                                                               : VG_RDP_DEFAULT_MAX_UNAUTH,
                                 .max_total = cfg->max_total ? cfg->max_total
                                                             : VG_RDP_DEFAULT_MAX_TOTAL,
                                 .max_unauth_per_source = cfg->max_unauth_per_source,
                                 .login_timeout_ms = cfg->login_timeout_ms
                                                         ? cfg->login_timeout_ms
                                                         : VG_RDP_LOGIN_TIMEOUT_MS,
                                 .fd_limit = VG_RDP_FD_LIMIT,
                                 .tag = TAG};
    vg_rdp_server *s;
    int r;

    g_autofree char *why = NULL;
    char *cert_pem = NULL, *key_pem = NULL;

    if (!cfg->cert_file || !cfg->key_file)
        return -EINVAL;
    /* Before WinPR and FreeRDP make any TLS context. */
    vg_tls_policy_install();
    winpr_InitializeSSL(WINPR_SSL_INIT_DEFAULT);
    if ((r = load_pem(cfg->cert_file, cfg->key_file, &cert_pem, &key_pem, &why)) < 0) {
        vg_error(TAG, "cannot load the TLS certificate and key: %s", why);
        return r;
    }
    /* Virtual channels through FreeRDP's own WTS API implementation. */
    if (!WTSRegisterWtsApiFunctionTable(FreeRDP_InitWtsApi()))
        return -ENOSYS;
    quiet_freerdp_logs();
    /* Planar's probe now, so that its warning, if any, is in the log at
     * start rather than at the first viewer. */
    (void)vg_rdp_planar_exact();
    s = g_new0(vg_rdp_server, 1);
    s->cfg = *cfg;
    s->cfg.address = NULL;
    s->cfg.login_timeout_ms = ac.login_timeout_ms;
    s->cert_file = g_strdup(cfg->cert_file);
    s->key_file = g_strdup(cfg->key_file);
    s->cfg.cert_file = s->cert_file;
    g_strlcpy(s->h264_preset, cfg->h264_preset ? cfg->h264_preset : "ultrafast",
              sizeof(s->h264_preset));
    s->cfg.h264_preset = s->h264_preset;
    s->cfg.key_file = s->key_file;
    s->cert_pem = cert_pem;
    s->key_pem = key_pem;
    s->ops = *ops;
    s->opaque = opaque;
    g_mutex_init(&s->lock);
    g_cond_init(&s->watchdog_cond);
    if (!s->cfg.stall_timeout_ms)
        s->cfg.stall_timeout_ms = VG_RDP_STALL_TIMEOUT_MS;
    s->peers = g_ptr_array_new();
    r = vg_net_acceptor_new(&ac, &aops, s, &s->acceptor);
    if (r == 0) {
        s->watchdog = g_thread_try_new("vg-rdp-watch", watchdog_thread, s, NULL);
        if (!s->watchdog) {
            vg_net_acceptor_free(s->acceptor);
            r = -EAGAIN;
        }
    }
    if (r < 0) {
        g_cond_clear(&s->watchdog_cond);
        g_ptr_array_unref(s->peers);
        g_mutex_clear(&s->lock);
        g_free(s->cert_file);
        g_free(s->key_file);
        g_free(s->cert_pem);
        pem_free(s->key_pem);
        g_free(s);
        return r;
    }
    *out = s;
    return 0;
}

unsigned vg_rdp_server_port(vg_rdp_server *s)
{
    return vg_net_acceptor_port(s->acceptor);
}

void vg_rdp_server_free(vg_rdp_server *s)
{
    if (!s)
        return;
    vg_net_acceptor_stop(s->acceptor);
    g_mutex_lock(&s->lock);
    s->watchdog_stop = true;
    g_cond_broadcast(&s->watchdog_cond);
    g_mutex_unlock(&s->lock);
    g_thread_join(s->watchdog);
    g_mutex_lock(&s->lock);
    s->stopping = true;
    for (guint i = 0; i < s->peers->len; i++)
        vg_rdp_peer_kick(s->peers->pdata[i], "the gateway is stopping");
    g_mutex_unlock(&s->lock);
    /* A peer still logging in ends when its login returns or times out. */
    vg_net_acceptor_wait(s->acceptor, true);
    vg_net_acceptor_free(s->acceptor);
    g_ptr_array_unref(s->peers);
    g_cond_clear(&s->watchdog_cond);
    g_mutex_clear(&s->lock);
    g_free(s->cert_file);
    g_free(s->key_file);
    g_free(s->cert_pem);
    pem_free(s->key_pem);
    g_free(s);
}
