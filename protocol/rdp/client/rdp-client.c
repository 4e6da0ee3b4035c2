/*
 * vmgate — a headless RDP client whose screen is a vg_surface (FreeRDP 3).
 *
 * Threading:
 *  - The owner thread calls vg_rdp_client_connect() and vg_rdp_client_free().
 *    It sets up the FreeRDP context and the settings, starts the client
 *    thread and waits (on `cond`) for the connection sequence's outcome. If
 *    the deadline passes first it aborts the connection
 *    (freerdp_abort_connect_context(), an event FreeRDP's connect waits on).
 *  - The client thread runs freerdp_connect() and then the event loop. It
 *    is the only thread that touches the FreeRDP context after the start:
 *    every callback (certificate, GDI paint, channels, resize) runs on it,
 *    because channels are set to synchronous (no drdynvc thread), and it is
 *    the surface's only producer.
 *  - Input (send_key / send_pointer, any thread) is queued under `lock` and
 *    wakes the client thread through a WinPR event in its wait set; the
 *    client thread sends it. free() sets `stop` and wakes it the same way.
 * Lock order: `lock` is never held while calling FreeRDP or the surface.
 *
 * FreeRDP 3.10, and how this file works with it:
 *  - Certificates: ExternalCertificateManagement hands the whole chain (PEM)
 *    to VerifyX509Certificate and skips FreeRDP's own checks and its
 *    known-hosts store in ~/.config/freerdp. We verify the chain with
 *    OpenSSL against --ca or the system's trust store, then the host name or
 *    address (X509_check_host / X509_check_ip_asc). VerifyCertificateEx and
 *    VerifyChangedCertificateEx are set to refuse, should a FreeRDP path
 *    ever reach them instead.
 *  - Nothing is written to $HOME: no certificate store (above), no license
 *    store (OldLicenseBehaviour), and ConfigPath points at a path that
 *    cannot be created, so a FreeRDP path we missed fails instead of writing.
 *  - freerdp_client_context_new() installs the command-line callbacks that
 *    prompt on the terminal; ClientNew replaces every one of them.
 *  - freerdp_connect() retries once by itself after a transport failure and
 *    resets the abort event when it does, so free() repeats the abort until
 *    the thread has left freerdp_connect().
 *  - Pixels: GDI draws into its own BGRX32 buffer; EndPaint copies the
 *    rectangles GDI invalidated into the surface. With the graphics
 *    pipeline, GDI's gfx code paints through the same Begin/EndPaint. After
 *    a resize nothing is copied until the server paints, so a frame counts
 *    as complete only when the server has sent every pixel.
 *  - Lossless: H.264/AVC, RemoteFX, progressive and NSCodec are turned off.
 *    The graphics pipeline has no capability to refuse RemoteFX or
 *    progressive, so surface commands are watched and a lossy codec is
 *    reported once as a warning.
 *  - Logging: WLog is process-wide. Unless WLOG_LEVEL is set, FreeRDP's
 *    lines go through vg_log: errors and warnings at info, the rest at
 *    debug, so FreeRDP is quiet unless the caller asked for more.
 */
#include "rdp-client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/tls1.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <freerdp/channels/rdpgfx.h>
#include <freerdp/client.h>
#include <freerdp/client/rdpgfx.h>
#include <freerdp/constants.h>
#include <freerdp/error.h>
#include <freerdp/event.h>
#include <freerdp/freerdp.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/gdi/gfx.h>
#include <freerdp/input.h>
#include <freerdp/settings.h>
#include <freerdp/update.h>
#include <winpr/synch.h>
#include <winpr/wlog.h>

#include "keymap.h"
#include "log.h"
#include "surface.h"
#include "util.h"

#define TAG "rdp-client"

#define VG_RDP_QUEUE_MAX 4096
/* Longest certificate chain looked at. */
#define VG_RDP_MAX_CHAIN 16
/* A chain in PEM larger than this is refused unread. */
#define VG_RDP_MAX_PEM (1024 * 1024)
/* One wheel notch, as Windows reports it. */
#define VG_RDP_WHEEL_STEP 0x78
/* Negotiated security protocols (MS-RDPBCGR 2.2.1.2.1); FreeRDP keeps its names private. */
#define VG_RDP_PROTOCOL_SSL       0x00000001u
#define VG_RDP_PROTOCOL_HYBRID    0x00000002u
#define VG_RDP_PROTOCOL_HYBRID_EX 0x00000008u
/* A path under a regular file: mkdir fails there, so FreeRDP cannot store anything. */
#define VG_RDP_NO_CONFIG_PATH "/dev/null/vmgate-rdp-client"

typedef enum vg_rdp_phase { PHASE_CONNECTING, PHASE_READY, PHASE_FAILED } vg_rdp_phase;

typedef struct vg_rdp_input {
    bool is_key;
    bool down;
    uint16_t qnum;
    int32_t x, y;
    uint32_t buttons;
} vg_rdp_input;

typedef struct vg_rdp_context {
    rdpClientContext common; /* first: FreeRDP allocates ContextSize bytes */
    vg_rdp_client *client;
} vg_rdp_context;

struct vg_rdp_client {
    vg_display_source base; /* first */
    rdpContext *context;
    GThread *thread;
    HANDLE wake;       /* WinPR event: input queued or stop */
    X509_STORE *trust; /* NULL with insecure */
    char *host;        /* for messages and the host check */
    char *host_port;   /* "host:port" or "[v6]:port" for messages */
    int64_t deadline_us;
    vg_rdp_graphics graphics;

    GMutex lock;
    GCond cond;
    /* under lock */
    vg_rdp_phase phase;
    vg_rdp_result result;
    char why[512];
    GArray *queue; /* vg_rdp_input */
    bool stop;
    bool lost;
    bool thread_done;
    bool auth_refused;

    /* client thread only */
    char cert_error[512];
    char end_reason[256]; /* why we ended the session ourselves */
    bool cert_checked;
    uint32_t width, height; /* the surface's size */
    int32_t pointer_x, pointer_y;
    uint32_t buttons;
    bool pointer_known;
    uint32_t lossy_warned;     /* bit per codec already reported */
    vg_rdp_client_stats stats; /* written here, read with atomics from any thread */
    pcRdpgfxSurfaceCommand gdi_surface_command;
    pSurfaceBits gdi_surface_bits;
};

static vg_rdp_client *client_of(rdpContext *context)
{
    return ((vg_rdp_context *)context)->client;
}

/* FreeRDP's texts end with a full stop; ours are embedded in sentences. */
static void copy_reason(char *dst, size_t len, const char *src)
{
    size_t n;

    g_strlcpy(dst, src && src[0] ? src : "unknown error", len);
    n = strlen(dst);
    if (n > 0 && dst[n - 1] == '.')
        dst[n - 1] = '\0';
}

/* ---- logging ---- */

static BOOL wlog_message(const wLogMessage *msg)
{
    const char *text = msg->TextString ? msg->TextString : "";
    const char *module = msg->PrefixString ? msg->PrefixString : "";

    if (msg->Level >= WLOG_WARN)
        vg_info("freerdp", "%s: %s", module, text);
    else
        vg_debug("freerdp", "%s: %s", module, text);
    return TRUE;
}

static gpointer setup_wlog_once(gpointer data)
{
    wLog *root = WLog_GetRoot();
    wLogCallbacks callbacks = {.message = wlog_message};
    wLogAppender *appender;
    DWORD level = WLOG_OFF;

    if (getenv("WLOG_LEVEL") || !root)
        return NULL; /* someone debugging FreeRDP itself: leave WLog as they set it */
    if (vg_log_level_now() >= VG_LOG_DEBUG)
        level = WLOG_DEBUG;
    else if (vg_log_level_now() >= VG_LOG_INFO)
        level = WLOG_WARN;
    if (!WLog_SetLogAppenderType(root, WLOG_APPENDER_CALLBACK))
        goto quiet;
    appender = WLog_GetLogAppender(root);
    if (!appender || !WLog_ConfigureAppender(appender, "callbacks", &callbacks))
        goto quiet;
    WLog_Layout_SetPrefixFormat(root, WLog_GetLogLayout(root), "%mn");
    WLog_SetLogLevel(root, level);
    return NULL;
quiet:
    WLog_SetLogLevel(root, WLOG_OFF);
    return NULL;
}

static void setup_wlog(void)
{
    static GOnce once = G_ONCE_INIT;

    g_once(&once, setup_wlog_once, NULL);
}

/* ---- certificates ---- */

/* The chain in @pem, leaf first: the leaf in *leaf, the rest returned.
 * NULL (and *leaf NULL) on failure, with the reason in c->cert_error. */
static STACK_OF(X509) * parse_chain(vg_rdp_client *c, const BYTE *pem, size_t len, X509 **leaf)
{
    STACK_OF(X509) *rest = NULL;
    BIO *bio = NULL;
    X509 *x;
    int n = 0;

    *leaf = NULL;
    if (!pem || len == 0 || len > VG_RDP_MAX_PEM) {
        g_strlcpy(c->cert_error, "the server sent no usable certificate", sizeof(c->cert_error));
        return NULL;
    }
    rest = sk_X509_new_null();
    bio = BIO_new_mem_buf(pem, (int)len);
    if (!rest || !bio) {
        g_strlcpy(c->cert_error, "out of memory", sizeof(c->cert_error));
        goto fail;
    }
    while (n < VG_RDP_MAX_CHAIN && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        if (n++ == 0)
            *leaf = x;
        else if (!sk_X509_push(rest, x))
            X509_free(x);
    }
    ERR_clear_error(); /* the end of the data reads as an error */
    BIO_free(bio);
    if (*leaf)
        return rest;
    g_strlcpy(c->cert_error, "cannot parse the server's certificate", sizeof(c->cert_error));
    bio = NULL;
fail:
    BIO_free(bio);
    sk_X509_pop_free(rest, X509_free);
    return NULL;
}

/* Chain and name; 0 when trusted, otherwise c->cert_error says why. */
static int check_certificate(vg_rdp_client *c, const BYTE *pem, size_t len, const char *host)
{
    X509 *leaf = NULL;
    STACK_OF(X509) *rest = parse_chain(c, pem, len, &leaf);
    X509_STORE_CTX *ctx = NULL;
    int r = -EINVAL;

    if (!rest)
        goto out;
    ctx = X509_STORE_CTX_new();
    if (!ctx || !X509_STORE_CTX_init(ctx, c->trust, leaf, rest) ||
        !X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER)) {
        g_strlcpy(c->cert_error, "cannot set up certificate verification", sizeof(c->cert_error));
        r = -ENOMEM;
        goto out;
    }
    if (X509_verify_cert(ctx) != 1) {
        int err = X509_STORE_CTX_get_error(ctx);
        X509 *bad = X509_STORE_CTX_get_current_cert(ctx);
        char subject[256] = "";

        if (bad)
            X509_NAME_oneline(X509_get_subject_name(bad), subject, sizeof(subject));
        snprintf(c->cert_error, sizeof(c->cert_error), "%s%s%s%s",
                 X509_verify_cert_error_string(err), subject[0] ? " (certificate " : "", subject,
                 subject[0] ? ")" : "");
        r = -EPERM;
        goto out;
    }
    if (g_hostname_is_ip_address(host))
        r = X509_check_ip_asc(leaf, host, 0);
    else
        r = X509_check_host(leaf, host, strlen(host), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL);
    if (r != 1) {
        snprintf(c->cert_error, sizeof(c->cert_error),
                 r == 0 ? "the certificate is not for %s" : "cannot match the certificate to %s",
                 host);
        r = -EPERM;
        goto out;
    }
    r = 0;
out:
    X509_STORE_CTX_free(ctx);
    X509_free(leaf);
    sk_X509_pop_free(rest, X509_free);
    ERR_clear_error();
    return r;
}

/* 2: accept for this session (nothing is stored), 0: refuse. */
static int cb_verify_x509(freerdp *instance, const BYTE *data, size_t length, const char *hostname,
                          UINT16 port, DWORD flags)
{
    vg_rdp_client *c = client_of(instance->context);

    if (flags & VERIFY_CERT_FLAG_GATEWAY) {
        g_strlcpy(c->cert_error, "an RD Gateway is not supported", sizeof(c->cert_error));
        return 0;
    }
    if (!c->trust) { /* insecure */
        c->cert_checked = true;
        return 2;
    }
    /* After a server redirection FreeRDP names the new host. */
    if (check_certificate(c, data, length, hostname && hostname[0] ? hostname : c->host) < 0)
        return 0;
    c->cert_checked = true;
    return 2;
}

static DWORD cb_verify_certificate(freerdp *instance, const char *host, UINT16 port,
                                   const char *common_name, const char *subject, const char *issuer,
                                   const char *fingerprint, DWORD flags)
{
    vg_rdp_client *c = client_of(instance->context);

    if (!c->cert_error[0])
        g_strlcpy(c->cert_error, "FreeRDP asked to trust an unchecked certificate",
                  sizeof(c->cert_error));
    return 0;
}

static DWORD cb_verify_changed_certificate(freerdp *instance, const char *host, UINT16 port,
                                           const char *common_name, const char *subject,
                                           const char *issuer, const char *new_fingerprint,
                                           const char *old_subject, const char *old_issuer,
                                           const char *old_fingerprint, DWORD flags)
{
    return cb_verify_certificate(instance, host, port, common_name, subject, issuer,
                                 new_fingerprint, flags);
}

/* Never prompt. FreeRDP asks even when the credentials are set (always for
 * TLS security): keep what the settings hold, refuse when they are empty or
 * something else (a smartcard PIN, a gateway) is wanted. */
static BOOL cb_authenticate(freerdp *instance, char **username, char **password, char **domain,
                            rdp_auth_reason reason)
{
    if (reason != AUTH_NLA && reason != AUTH_TLS && reason != AUTH_RDP)
        return FALSE;
    return *username && (*username)[0] && *password && (*password)[0];
}

static BOOL cb_choose_smartcard(freerdp *instance, SmartcardCertInfo **cert_list, DWORD count,
                                DWORD *choice, BOOL gateway)
{
    return FALSE;
}

static BOOL cb_present_gateway_message(freerdp *instance, UINT32 type, BOOL display_mandatory,
                                       BOOL consent_mandatory, size_t length, const WCHAR *message)
{
    return !consent_mandatory;
}

static int cb_logon_error_info(freerdp *instance, UINT32 data, UINT32 type)
{
    vg_rdp_client *c = client_of(instance->context);

    vg_info(TAG, "%s: logon error %s (%s)", c->host_port, freerdp_get_logon_error_info_data(data),
            freerdp_get_logon_error_info_type(type));
    /* FreeRDP passes the LOGON_FAILED_* code as data and LOGON_MSG_* as type.
     * With "continue" kinds of type the data is a session id, which may be 0
     * or 1 too: those are not refusals. Only used if the session then ends. */
    if ((data == LOGON_FAILED_BAD_PASSWORD || data == LOGON_FAILED_UPDATE_PASSWORD) &&
        type != LOGON_MSG_SESSION_CONTINUE && type != LOGON_MSG_RECONNECT_OPTIONS &&
        type != LOGON_MSG_BUMP_OPTIONS) {
        g_mutex_lock(&c->lock);
        c->auth_refused = true;
        g_mutex_unlock(&c->lock);
    }
    return 1;
}

/* ---- pixels ---- */

/* Follow GDI's size; nothing of the new size counts as received yet. */
static bool sync_surface_size(vg_rdp_client *c, rdpGdi *gdi)
{
    int r;

    if (gdi->width <= 0 || gdi->height <= 0)
        return false;
    if ((uint32_t)gdi->width == c->width && (uint32_t)gdi->height == c->height)
        return true;
    r = vg_surface_resize(c->base.surface, (uint32_t)gdi->width, (uint32_t)gdi->height);
    if (r < 0) {
        snprintf(c->end_reason, sizeof(c->end_reason), "cannot use the screen size %dx%d: %s",
                 gdi->width, gdi->height, g_strerror(-r));
        return false;
    }
    c->width = (uint32_t)gdi->width;
    c->height = (uint32_t)gdi->height;
    vg_info(TAG, "%s: screen %ux%u", c->host_port, c->width, c->height);
    return true;
}

static BOOL cb_begin_paint(rdpContext *context)
{
    return TRUE;
}

static void copy_rect(vg_rdp_client *c, rdpGdi *gdi, const GDI_RGN *rgn)
{
    int64_t x0 = MAX(rgn->x, 0), y0 = MAX(rgn->y, 0);
    int64_t x1 = MIN((int64_t)rgn->x + rgn->w, (int64_t)c->width);
    int64_t y1 = MIN((int64_t)rgn->y + rgn->h, (int64_t)c->height);

    if (rgn->null || x0 >= x1 || y0 >= y1)
        return;
    vg_surface_write(
        c->base.surface, (uint32_t)x0, (uint32_t)y0, (uint32_t)(x1 - x0), (uint32_t)(y1 - y0),
        gdi->primary_buffer + (size_t)y0 * gdi->stride + (size_t)x0 * VG_SURFACE_BPP, gdi->stride);
}

static BOOL cb_end_paint(rdpContext *context)
{
    vg_rdp_client *c = client_of(context);
    rdpGdi *gdi = context->gdi;
    HGDI_WND hwnd;

    if (!gdi || !gdi->primary || !gdi->primary->hdc || !gdi->primary->hdc->hwnd)
        return TRUE;
    hwnd = gdi->primary->hdc->hwnd;
    if (!sync_surface_size(c, gdi)) {
        freerdp_abort_connect_context(context); /* ends the event loop: see session_lost */
        return FALSE;
    }
    for (INT32 i = 0; i < hwnd->ninvalid; i++)
        copy_rect(c, gdi, &hwnd->cinvalid[i]);
    hwnd->invalid->null = TRUE;
    hwnd->ninvalid = 0;
    vg_surface_commit(c->base.surface);
    return TRUE;
}

static BOOL cb_desktop_resize(rdpContext *context)
{
    vg_rdp_client *c = client_of(context);
    uint32_t w = freerdp_settings_get_uint32(context->settings, FreeRDP_DesktopWidth);
    uint32_t h = freerdp_settings_get_uint32(context->settings, FreeRDP_DesktopHeight);

    if (!context->gdi)
        return TRUE; /* before PostConnect: gdi_init takes the size from the settings */
    if (w == 0 || h == 0 || w > VG_MAX_DIMENSION || h > VG_MAX_DIMENSION)
        snprintf(c->end_reason, sizeof(c->end_reason), "the server asked for a screen of %ux%u", w,
                 h);
    else if (!gdi_resize(context->gdi, w, h))
        snprintf(c->end_reason, sizeof(c->end_reason), "cannot resize the screen to %ux%u", w, h);
    else if (sync_surface_size(c, context->gdi))
        return TRUE;
    /* The graphics pipeline ignores what this returns: end the session ourselves. */
    freerdp_abort_connect_context(context);
    return FALSE;
}

static void warn_lossy(vg_rdp_client *c, unsigned int bit, const char *codec)
{
    if (c->lossy_warned & (1u << bit))
        return;
    c->lossy_warned |= 1u << bit;
    vg_warning(TAG, "%s: the server sends %s, a lossy codec: the screenshot may not be exact",
               c->host_port, codec);
}

static UINT cb_gfx_surface_command(RdpgfxClientContext *gfx, const RDPGFX_SURFACE_COMMAND *cmd)
{
    rdpGdi *gdi = gfx->custom;
    vg_rdp_client *c = client_of(gdi->context);

    uint64_t *counter = &c->stats.other;

    switch (cmd->codecId) {
    case RDPGFX_CODECID_UNCOMPRESSED:
        counter = &c->stats.uncompressed;
        break;
    case RDPGFX_CODECID_PLANAR:
        counter = &c->stats.planar;
        break;
    case RDPGFX_CODECID_CAVIDEO:
        warn_lossy(c, 0, "RemoteFX");
        break;
    case RDPGFX_CODECID_CAPROGRESSIVE:
    case RDPGFX_CODECID_CAPROGRESSIVE_V2:
        warn_lossy(c, 1, "RemoteFX progressive");
        break;
    case RDPGFX_CODECID_AVC420:
    case RDPGFX_CODECID_AVC444:
    case RDPGFX_CODECID_AVC444v2:
        if (c->graphics != VG_RDP_GRAPHICS_H264)
            warn_lossy(c, 2, "H.264");
        counter = &c->stats.h264;
        break;
    default:
        break;
    }
    __atomic_add_fetch(counter, cmd->length, __ATOMIC_RELAXED);
    return c->gdi_surface_command(gfx, cmd);
}

static BOOL cb_surface_bits(rdpContext *context, const SURFACE_BITS_COMMAND *cmd)
{
    vg_rdp_client *c = client_of(context);

    if (cmd->bmp.codecID != RDP_CODEC_ID_NONE)
        warn_lossy(c, 3, cmd->bmp.codecID == RDP_CODEC_ID_NSCODEC ? "NSCodec" : "RemoteFX");
    return c->gdi_surface_bits(context, cmd);
}

static void on_channel_connected(void *ctx, const ChannelConnectedEventArgs *e)
{
    rdpContext *context = ctx;
    vg_rdp_client *c = client_of(context);

    vg_debug(TAG, "%s: channel %s connected", c->host_port, e->name);
    /* The common handler starts GDI's graphics pipeline for rdpgfx. */
    freerdp_client_OnChannelConnectedEventHandler(ctx, e);
    if (strcmp(e->name, RDPGFX_DVC_CHANNEL_NAME) == 0) {
        RdpgfxClientContext *gfx = e->pInterface;

        if (gfx && gfx->SurfaceCommand && gfx->SurfaceCommand != cb_gfx_surface_command) {
            c->gdi_surface_command = gfx->SurfaceCommand;
            gfx->SurfaceCommand = cb_gfx_surface_command;
        }
    }
}

static void on_channel_disconnected(void *ctx, const ChannelDisconnectedEventArgs *e)
{
    freerdp_client_OnChannelDisconnectedEventHandler(ctx, e);
}

/* ---- connection callbacks ---- */

static BOOL cb_pre_connect(freerdp *instance)
{
    rdpContext *context = instance->context;

    PubSub_SubscribeChannelConnected(context->pubSub, on_channel_connected);
    PubSub_SubscribeChannelDisconnected(context->pubSub, on_channel_disconnected);
    return TRUE;
}

static BOOL cb_post_connect(freerdp *instance)
{
    rdpContext *context = instance->context;
    vg_rdp_client *c = client_of(context);
    rdpUpdate *update = context->update;

    if (!gdi_init(instance, PIXEL_FORMAT_BGRX32))
        return FALSE;
    update->BeginPaint = cb_begin_paint;
    update->EndPaint = cb_end_paint;
    update->DesktopResize = cb_desktop_resize;
    if (update->SurfaceBits && update->SurfaceBits != cb_surface_bits) {
        c->gdi_surface_bits = update->SurfaceBits;
        update->SurfaceBits = cb_surface_bits;
    }
    return sync_surface_size(c, context->gdi);
}

static void cb_post_disconnect(freerdp *instance)
{
    rdpContext *context = instance->context;

    PubSub_UnsubscribeChannelConnected(context->pubSub, on_channel_connected);
    PubSub_UnsubscribeChannelDisconnected(context->pubSub, on_channel_disconnected);
    gdi_free(instance);
}

/*
 * The common loader picks the channels from the settings. It also loads
 * rdpdr and a fake rdpsnd as soon as heartbeats are supported, which we do
 * not want; heartbeats are therefore turned on only afterwards. We want
 * them: they make FreeRDP ask for the MCS message channel, without which
 * FreeRDP 3.10's own server (shadow) sends a PDU on channel 0 during
 * capability exchange and the connection fails.
 */
static BOOL cb_load_channels(freerdp *instance)
{
    rdpSettings *settings = instance->context->settings;

    if (!freerdp_settings_set_bool(settings, FreeRDP_SupportHeartbeatPdu, FALSE) ||
        !freerdp_client_load_channels(instance))
        return FALSE;
    return freerdp_settings_set_bool(settings, FreeRDP_SupportHeartbeatPdu, TRUE);
}

static BOOL client_new(freerdp *instance, rdpContext *context)
{
    /* Replace every callback freerdp_client_context_new() set to prompt. */
    instance->LoadChannels = cb_load_channels;
    instance->PreConnect = cb_pre_connect;
    instance->PostConnect = cb_post_connect;
    instance->PostDisconnect = cb_post_disconnect;
    instance->AuthenticateEx = cb_authenticate;
    instance->ChooseSmartcard = cb_choose_smartcard;
    instance->VerifyX509Certificate = cb_verify_x509;
    instance->VerifyCertificateEx = cb_verify_certificate;
    instance->VerifyChangedCertificateEx = cb_verify_changed_certificate;
    instance->PresentGatewayMessage = cb_present_gateway_message;
    instance->LogonErrorInfo = cb_logon_error_info;
    instance->GetAccessToken = NULL;
    instance->RetryDialog = NULL; /* no retries */
    return TRUE;
}

/* ---- settings ---- */

typedef struct vg_rdp_bool_setting {
    FreeRDP_Settings_Keys_Bool key;
    BOOL value;
} vg_rdp_bool_setting;

static const vg_rdp_bool_setting bool_settings[] = {
    /* Security: NLA or TLS, never standard RDP security. */
    {FreeRDP_RdpSecurity, FALSE},
    {FreeRDP_UseRdpSecurityLayer, FALSE},
    {FreeRDP_TlsSecurity, TRUE},
    {FreeRDP_NlaSecurity, TRUE},
    {FreeRDP_ExtSecurity, FALSE},
    {FreeRDP_RdstlsSecurity, FALSE},
    {FreeRDP_AadSecurity, FALSE},
    {FreeRDP_NegotiateSecurityLayer, TRUE},
    {FreeRDP_RestrictedAdminModeRequired, FALSE},
    {FreeRDP_RemoteCredentialGuard, FALSE},
    /* Certificates and $HOME: see the file comment. */
    {FreeRDP_ExternalCertificateManagement, TRUE},
    {FreeRDP_IgnoreCertificate, FALSE},
    {FreeRDP_AutoAcceptCertificate, FALSE},
    {FreeRDP_AutoDenyCertificate, FALSE},
    {FreeRDP_OldLicenseBehaviour, TRUE},
    {FreeRDP_UseCommonStdioCallbacks, FALSE},
    /* Graphics: the pipeline with lossless codecs only. */
    {FreeRDP_SupportGraphicsPipeline, TRUE},
    {FreeRDP_GfxH264, FALSE},
    {FreeRDP_GfxAVC444, FALSE},
    {FreeRDP_GfxAVC444v2, FALSE},
    {FreeRDP_GfxProgressive, FALSE},
    {FreeRDP_GfxProgressiveV2, FALSE},
    {FreeRDP_GfxPlanar, TRUE},
    {FreeRDP_GfxThinClient, FALSE},
    {FreeRDP_RemoteFxCodec, FALSE},
    {FreeRDP_NSCodec, FALSE},
    {FreeRDP_SoftwareGdi, TRUE},
    {FreeRDP_SupportDynamicChannels, TRUE},
    /* Everything on the client thread (no drdynvc thread). */
    {FreeRDP_SynchronousDynamicChannels, TRUE},
    {FreeRDP_SynchronousStaticChannels, TRUE},
    /* Nothing else. */
    {FreeRDP_AudioPlayback, FALSE},
    {FreeRDP_AudioCapture, FALSE},
    {FreeRDP_RemoteConsoleAudio, FALSE},
    {FreeRDP_RedirectClipboard, FALSE},
    {FreeRDP_DeviceRedirection, FALSE},
    {FreeRDP_RedirectDrives, FALSE},
    {FreeRDP_RedirectHomeDrive, FALSE},
    {FreeRDP_RedirectPrinters, FALSE},
    {FreeRDP_RedirectSmartCards, FALSE},
    {FreeRDP_RedirectSerialPorts, FALSE},
    {FreeRDP_RedirectParallelPorts, FALSE},
    {FreeRDP_SupportDisplayControl, FALSE},
    {FreeRDP_SupportEchoChannel, FALSE},
    {FreeRDP_SupportGeometryTracking, FALSE},
    {FreeRDP_SupportVideoOptimized, FALSE},
    {FreeRDP_MultiTouchInput, FALSE},
    {FreeRDP_EncomspVirtualChannel, FALSE},
    {FreeRDP_RemdeskVirtualChannel, FALSE},
    {FreeRDP_RemoteApplicationMode, FALSE},
    {FreeRDP_NetworkAutoDetect, FALSE},
    {FreeRDP_SupportHeartbeatPdu, FALSE}, /* set after loading channels, see cb_load_channels */
    {FreeRDP_SupportMultitransport, FALSE},
    {FreeRDP_AutoReconnectionEnabled, FALSE},
    {FreeRDP_BitmapCachePersistEnabled, FALSE},
    {FreeRDP_AuthenticationOnly, FALSE},
};

/* Returns 0 or -ENOMEM (FreeRDP's setters only fail on allocation). */
static int apply_settings(const vg_rdp_client_params *p, rdpSettings *s)
{
    int64_t left_ms = (p->deadline_us - vg_now_us()) / 1000;
    bool ok = true;

    for (size_t i = 0; i < G_N_ELEMENTS(bool_settings); i++)
        ok = ok && freerdp_settings_set_bool(s, bool_settings[i].key, bool_settings[i].value);
    ok = ok && freerdp_settings_set_string(s, FreeRDP_ServerHostname, p->host) &&
         freerdp_settings_set_uint32(s, FreeRDP_ServerPort, p->port) &&
         freerdp_settings_set_string(s, FreeRDP_Username, p->user) &&
         freerdp_settings_set_string(s, FreeRDP_Password, p->password) &&
         freerdp_settings_set_string(s, FreeRDP_Domain, NULL) &&
         /* NTLM only: Kerberos would go looking for a KDC first. */
         freerdp_settings_set_string(s, FreeRDP_AuthenticationPackageList, "ntlm,!kerberos") &&
         freerdp_settings_set_uint16(s, FreeRDP_TLSMinVersion, TLS1_2_VERSION) &&
         freerdp_settings_set_uint32(s, FreeRDP_TlsSecLevel, 2) &&
         freerdp_settings_set_string(s, FreeRDP_ConfigPath, VG_RDP_NO_CONFIG_PATH) &&
         freerdp_settings_set_uint32(s, FreeRDP_ColorDepth, 32) &&
         freerdp_settings_set_uint32(s, FreeRDP_DesktopWidth, p->width ? p->width : 1024) &&
         freerdp_settings_set_uint32(s, FreeRDP_DesktopHeight, p->height ? p->height : 768) &&
         /* A second past our own deadline, so a silent host times out on our side. */
         freerdp_settings_set_uint32(s, FreeRDP_TcpConnectTimeout,
                                     (uint32_t)CLAMP(left_ms + 1000, 1000, 24 * 3600 * 1000)) &&
         freerdp_settings_set_uint32(s, FreeRDP_OsMajorType, OSMAJORTYPE_UNIX) &&
         freerdp_settings_set_uint32(s, FreeRDP_OsMinorType, OSMINORTYPE_PSEUDO_XSERVER);
    if (ok && p->suspend_frame_acks)
        ok = freerdp_settings_set_bool(s, FreeRDP_GfxSuspendFrameAck, TRUE);
    if (ok && p->graphics == VG_RDP_GRAPHICS_LEGACY)
        ok = freerdp_settings_set_bool(s, FreeRDP_SupportGraphicsPipeline, FALSE);
    else if (ok && p->graphics == VG_RDP_GRAPHICS_H264)
        ok = freerdp_settings_set_bool(s, FreeRDP_GfxH264, TRUE);
    if (ok && p->vm) {
        ok = freerdp_settings_set_bool(s, FreeRDP_SendPreconnectionPdu, TRUE) &&
             freerdp_settings_set_uint32(s, FreeRDP_PreconnectionId, 0) &&
             freerdp_settings_set_string(s, FreeRDP_PreconnectionBlob, p->vm);
    }
    return ok ? 0 : -ENOMEM;
}

/* ---- input, on the client thread ---- */

static void send_key_now(vg_rdp_client *c, const vg_rdp_input *in)
{
    rdpInput *input = c->context->input;
    uint16_t scancode = 0, flags = 0, kbd;

    if (vg_keymap_qnum_to_rdp(in->qnum, &scancode, &flags) < 0)
        return; /* checked when queued */
    if (in->qnum == VG_QNUM_PAUSE) {
        /* Pause has no release: E1 1D 45 and their releases, on press. */
        if (in->down)
            freerdp_input_send_keyboard_pause_event(input);
        return;
    }
    kbd = (flags & VG_RDP_KBDFLAGS_EXTENDED) ? KBD_FLAGS_EXTENDED : 0;
    kbd |= in->down ? KBD_FLAGS_DOWN : KBD_FLAGS_RELEASE;
    freerdp_input_send_keyboard_event(input, kbd, (UINT8)scancode);
}

static void send_pointer_now(vg_rdp_client *c, const vg_rdp_input *in)
{
    static const struct {
        uint32_t bit;
        UINT16 flag;
    } buttons[] = {{VG_BUTTON_LEFT, PTR_FLAGS_BUTTON1},
                   {VG_BUTTON_RIGHT, PTR_FLAGS_BUTTON2},
                   {VG_BUTTON_MIDDLE, PTR_FLAGS_BUTTON3}};
    rdpInput *input = c->context->input;
    uint32_t held = in->buttons & VG_BUTTON_MASK;
    uint32_t pressed = held & ~c->buttons, changed = held ^ c->buttons;
    UINT16 x = (UINT16)CLAMP(in->x, 0, (int32_t)MAX(c->width, 1u) - 1);
    UINT16 y = (UINT16)CLAMP(in->y, 0, (int32_t)MAX(c->height, 1u) - 1);
    bool hwheel = freerdp_settings_get_bool(c->context->settings, FreeRDP_HasHorizontalWheel);

    if (!c->pointer_known || x != c->pointer_x || y != c->pointer_y)
        freerdp_input_send_mouse_event(input, PTR_FLAGS_MOVE, x, y);
    c->pointer_known = true;
    c->pointer_x = x;
    c->pointer_y = y;
    for (size_t i = 0; i < G_N_ELEMENTS(buttons); i++) {
        if (changed & buttons[i].bit)
            freerdp_input_send_mouse_event(
                input, buttons[i].flag | ((held & buttons[i].bit) ? PTR_FLAGS_DOWN : 0), x, y);
    }
    /* A wheel step is a press and a release of a wheel bit: one notch per press. */
    if (pressed & VG_BUTTON_WHEEL_UP)
        freerdp_input_send_mouse_event(input, PTR_FLAGS_WHEEL | VG_RDP_WHEEL_STEP, x, y);
    if (pressed & VG_BUTTON_WHEEL_DOWN)
        freerdp_input_send_mouse_event(
            input, PTR_FLAGS_WHEEL | PTR_FLAGS_WHEEL_NEGATIVE | (0x100 - VG_RDP_WHEEL_STEP), x, y);
    if ((pressed & VG_BUTTON_WHEEL_LEFT) && hwheel)
        freerdp_input_send_mouse_event(
            input, PTR_FLAGS_HWHEEL | PTR_FLAGS_WHEEL_NEGATIVE | (0x100 - VG_RDP_WHEEL_STEP), x, y);
    if ((pressed & VG_BUTTON_WHEEL_RIGHT) && hwheel)
        freerdp_input_send_mouse_event(input, PTR_FLAGS_HWHEEL | VG_RDP_WHEEL_STEP, x, y);
#ifdef VG_BUTTON_SIDE
    if ((changed & VG_BUTTON_SIDE) &&
        freerdp_settings_get_bool(c->context->settings, FreeRDP_HasExtendedMouseEvent))
        freerdp_input_send_extended_mouse_event(
            input, PTR_XFLAGS_BUTTON1 | ((held & VG_BUTTON_SIDE) ? PTR_XFLAGS_DOWN : 0), x, y);
#endif
    c->buttons = held;
}

/* Send what is queued; false when asked to stop. */
static bool drain_queue(vg_rdp_client *c)
{
    GArray *batch;
    bool stop;

    ResetEvent(c->wake); /* before taking the queue: a later append sets it again */
    g_mutex_lock(&c->lock);
    stop = c->stop;
    batch = c->queue;
    c->queue = g_array_new(FALSE, FALSE, sizeof(vg_rdp_input));
    g_mutex_unlock(&c->lock);
    for (guint i = 0; !stop && i < batch->len; i++) {
        const vg_rdp_input *in = &g_array_index(batch, vg_rdp_input, i);
        if (in->is_key)
            send_key_now(c, in);
        else
            send_pointer_now(c, in);
    }
    g_array_free(batch, TRUE);
    return !stop;
}

/* ---- the client thread ---- */

static void set_phase(vg_rdp_client *c, vg_rdp_phase phase, vg_rdp_result result, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

static void set_phase(vg_rdp_client *c, vg_rdp_phase phase, vg_rdp_result result, const char *fmt,
                      ...)
{
    va_list ap;

    g_mutex_lock(&c->lock);
    c->phase = phase;
    c->result = result;
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(c->why, sizeof(c->why), fmt, ap);
        va_end(ap);
    }
    g_cond_broadcast(&c->cond);
    g_mutex_unlock(&c->lock);
}

static bool is_auth_error(UINT32 err)
{
    switch (err) {
    case FREERDP_ERROR_AUTHENTICATION_FAILED:
    case FREERDP_ERROR_CONNECT_LOGON_FAILURE:
    case FREERDP_ERROR_CONNECT_WRONG_PASSWORD:
    case FREERDP_ERROR_CONNECT_NO_OR_MISSING_CREDENTIALS:
    case FREERDP_ERROR_CONNECT_ACCESS_DENIED:
    case FREERDP_ERROR_CONNECT_ACCOUNT_DISABLED:
    case FREERDP_ERROR_CONNECT_ACCOUNT_RESTRICTION:
    case FREERDP_ERROR_CONNECT_ACCOUNT_LOCKED_OUT:
    case FREERDP_ERROR_CONNECT_ACCOUNT_EXPIRED:
    case FREERDP_ERROR_CONNECT_LOGON_TYPE_NOT_GRANTED:
    case FREERDP_ERROR_CONNECT_PASSWORD_EXPIRED:
    case FREERDP_ERROR_CONNECT_PASSWORD_CERTAINLY_EXPIRED:
    case FREERDP_ERROR_CONNECT_PASSWORD_MUST_CHANGE:
    case FREERDP_ERROR_CONNECT_CLIENT_REVOKED:
    case FREERDP_ERROR_INSUFFICIENT_PRIVILEGES:
    case FREERDP_ERROR_SERVER_INSUFFICIENT_PRIVILEGES:
    case FREERDP_ERROR_SERVER_FRESH_CREDENTIALS_REQUIRED:
        return true;
    default:
        return false;
    }
}

/* Why freerdp_connect() failed, as a result and a message. */
static void connect_failed(vg_rdp_client *c)
{
    UINT32 err = freerdp_get_last_error(c->context);
    char text[256];
    bool refused;

    copy_reason(text, sizeof(text), freerdp_get_last_error_string(err));
    g_mutex_lock(&c->lock);
    refused = c->auth_refused;
    g_mutex_unlock(&c->lock);
    vg_debug(TAG, "%s: connect failed: %s (0x%08x)", c->host_port, freerdp_get_last_error_name(err),
             err);
    if (c->cert_error[0])
        set_phase(c, PHASE_FAILED, VG_RDP_CONNECT_FAILED,
                  "the certificate of %s is not trusted: %s", c->host_port, c->cert_error);
    else if (c->end_reason[0])
        set_phase(c, PHASE_FAILED, VG_RDP_CONNECT_FAILED, "RDP connection to %s failed: %s",
                  c->host_port, c->end_reason);
    else if (is_auth_error(err))
        set_phase(c, PHASE_FAILED, VG_RDP_AUTH_FAILED, "authentication failed: %s", text);
    else if (refused)
        set_phase(c, PHASE_FAILED, VG_RDP_AUTH_FAILED, "authentication failed: %s",
                  "the server refused the user name or password");
    else if (err == FREERDP_ERROR_CONNECT_CANCELLED && vg_now_us() >= c->deadline_us)
        set_phase(c, PHASE_FAILED, VG_RDP_TIMEOUT, "timed out connecting to %s", c->host_port);
    else if (err == FREERDP_ERROR_DNS_NAME_NOT_FOUND || err == FREERDP_ERROR_DNS_ERROR)
        set_phase(c, PHASE_FAILED, VG_RDP_CONNECT_FAILED, "cannot resolve %s: %s", c->host, text);
    else if (err == FREERDP_ERROR_CONNECT_TRANSPORT_FAILED || err == FREERDP_ERROR_CONNECT_FAILED)
        set_phase(c, PHASE_FAILED, VG_RDP_CONNECT_FAILED, "cannot connect to %s: %s", c->host_port,
                  text);
    else if (err == FREERDP_ERROR_TLS_CONNECT_FAILED)
        set_phase(c, PHASE_FAILED, VG_RDP_CONNECT_FAILED, "TLS with %s failed: %s", c->host_port,
                  text);
    else if (err == FREERDP_ERROR_SECURITY_NEGO_CONNECT_FAILED)
        set_phase(c, PHASE_FAILED, VG_RDP_CONNECT_FAILED,
                  "security negotiation with %s failed (NLA or TLS required): %s", c->host_port,
                  text);
    else
        set_phase(c, PHASE_FAILED, VG_RDP_CONNECT_FAILED, "RDP connection to %s failed: %s",
                  c->host_port, text);
}

/* The session ended on the server's side or ours: tell the surface's waiters. */
static void session_lost(vg_rdp_client *c, const char *fallback)
{
    UINT32 err = freerdp_get_last_error(c->context);
    char why[300];

    if (c->end_reason[0])
        g_strlcpy(why, c->end_reason, sizeof(why));
    else if (err != FREERDP_ERROR_SUCCESS)
        copy_reason(why, sizeof(why), freerdp_get_last_error_string(err));
    else
        g_strlcpy(why, fallback, sizeof(why));
    g_mutex_lock(&c->lock);
    c->lost = true;
    g_mutex_unlock(&c->lock);
    vg_info(TAG, "%s: session ended: %s", c->host_port, why);
    vg_surface_close(c->base.surface, why);
}

static gpointer client_main(gpointer data)
{
    vg_rdp_client *c = data;
    freerdp *instance = c->context->instance;
    HANDLE handles[MAXIMUM_WAIT_OBJECTS];
    uint32_t protocol;

    if (!freerdp_connect(instance)) { /* it disconnects itself on failure */
        connect_failed(c);
        goto done;
    }
    if (c->trust && !c->cert_checked) {
        /* Every TLS connection passes the check; refuse if one did not. */
        set_phase(c, PHASE_FAILED, VG_RDP_CONNECT_FAILED, "the certificate of %s was never checked",
                  c->host_port);
        freerdp_disconnect(instance);
        goto done;
    }
    /* The password is not needed any more (no reconnection): wipe FreeRDP's copy. */
    freerdp_settings_set_string(c->context->settings, FreeRDP_Password, NULL);
    protocol = freerdp_settings_get_uint32(c->context->settings, FreeRDP_SelectedProtocol);
    vg_info(TAG, "%s: connected with %s security", c->host_port,
            (protocol & (VG_RDP_PROTOCOL_HYBRID | VG_RDP_PROTOCOL_HYBRID_EX)) ? "NLA"
            : (protocol & VG_RDP_PROTOCOL_SSL)                                ? "TLS"
                                                                              : "unknown");
    set_phase(c, PHASE_READY, VG_RDP_OK, NULL);

    for (;;) {
        DWORD n = freerdp_get_event_handles(c->context, handles, G_N_ELEMENTS(handles) - 1);
        DWORD status;

        if (n == 0) {
            session_lost(c, "cannot wait for the connection");
            break;
        }
        handles[n++] = c->wake;
        status = WaitForMultipleObjects(n, handles, FALSE, 1000);
        if (status == WAIT_FAILED) {
            session_lost(c, "cannot wait for the connection");
            break;
        }
        if (WaitForSingleObject(c->wake, 0) == WAIT_OBJECT_0 && !drain_queue(c))
            break;
        if (!freerdp_check_event_handles(c->context) ||
            freerdp_shall_disconnect_context(c->context)) {
            session_lost(c, "the server closed the connection");
            break;
        }
    }
    freerdp_disconnect(instance);
done:
    g_mutex_lock(&c->lock);
    c->thread_done = true;
    g_cond_broadcast(&c->cond);
    g_mutex_unlock(&c->lock);
    return NULL;
}

/* ---- the display source ---- */

static int queue_input(vg_rdp_client *c, const vg_rdp_input *in)
{
    int r = 0;

    g_mutex_lock(&c->lock);
    if (c->stop || c->lost || c->phase != PHASE_READY)
        r = -EPIPE;
    else if (c->queue->len >= VG_RDP_QUEUE_MAX)
        r = -EAGAIN;
    else
        g_array_append_val(c->queue, *in);
    g_mutex_unlock(&c->lock);
    if (r == 0 && !SetEvent(c->wake))
        r = -EIO;
    return r;
}

static int rdp_send_key(vg_display_source *src, uint16_t qnum, uint32_t keysym, bool down)
{
    vg_rdp_input in = {.is_key = true, .down = down};
    uint16_t scancode, flags;

    /* RDP sends keys, not symbols: a symbol alone is looked up on the US layout. */
    in.qnum = qnum ? qnum : vg_keymap_keysym_to_qnum(keysym);
    if (in.qnum == 0)
        return -EINVAL;
    if (vg_keymap_qnum_to_rdp(in.qnum, &scancode, &flags) < 0)
        return -ENOENT;
    return queue_input((vg_rdp_client *)src, &in);
}

static int rdp_send_pointer(vg_display_source *src, int32_t x, int32_t y, uint32_t buttons)
{
    vg_rdp_input in = {.x = x, .y = y, .buttons = buttons};

    return queue_input((vg_rdp_client *)src, &in);
}

static const vg_display_source_ops rdp_source_ops = {
    .send_key = rdp_send_key,
    .send_pointer = rdp_send_pointer,
    .request_resize = NULL, /* the display control channel is not loaded */
};

vg_display_source *vg_rdp_client_source(vg_rdp_client *c)
{
    return &c->base;
}

bool vg_rdp_client_auth_refused(vg_rdp_client *c)
{
    bool refused;

    g_mutex_lock(&c->lock);
    refused = c->auth_refused;
    g_mutex_unlock(&c->lock);
    return refused;
}

/* ---- connecting ---- */

/* The trust anchors; VG_RDP_OK or VG_RDP_INVALID with a reason. */
static vg_rdp_result load_trust(const vg_rdp_client_params *p, X509_STORE **out, char *why,
                                size_t why_len)
{
    X509_STORE *store;
    unsigned long e;

    *out = NULL;
    if (p->insecure)
        return VG_RDP_OK;
    store = X509_STORE_new();
    if (!store) {
        g_strlcpy(why, "out of memory", why_len);
        return VG_RDP_INVALID;
    }
    if (p->ca_file) {
        if (X509_STORE_load_file(store, p->ca_file) != 1) {
            e = ERR_peek_last_error();
            snprintf(why, why_len, "cannot load CA certificates from %s: %s", p->ca_file,
                     e ? ERR_reason_error_string(e) : "no certificate in the file");
            goto fail;
        }
    } else if (X509_STORE_set_default_paths(store) != 1) {
        g_strlcpy(why, "cannot load the system's certificate authorities", why_len);
        goto fail;
    }
    ERR_clear_error();
    *out = store;
    return VG_RDP_OK;
fail:
    ERR_clear_error();
    X509_STORE_free(store);
    return VG_RDP_INVALID;
}

/* Wait for the client thread's verdict on the connection sequence. */
static vg_rdp_phase wait_connected(vg_rdp_client *c, int64_t deadline_us)
{
    vg_rdp_phase phase;

    g_mutex_lock(&c->lock);
    while (c->phase == PHASE_CONNECTING) {
        int64_t left = deadline_us - vg_now_us();
        if (left <= 0)
            break;
        g_cond_wait_until(&c->cond, &c->lock, g_get_monotonic_time() + left);
    }
    phase = c->phase;
    g_mutex_unlock(&c->lock);
    return phase;
}

void vg_rdp_client_get_stats(vg_rdp_client *c, vg_rdp_client_stats *out)
{
    out->uncompressed = __atomic_load_n(&c->stats.uncompressed, __ATOMIC_RELAXED);
    out->planar = __atomic_load_n(&c->stats.planar, __ATOMIC_RELAXED);
    out->h264 = __atomic_load_n(&c->stats.h264, __ATOMIC_RELAXED);
    out->other = __atomic_load_n(&c->stats.other, __ATOMIC_RELAXED);
}

void vg_rdp_client_free(vg_rdp_client *c)
{
    if (!c)
        return;
    if (c->thread) {
        g_mutex_lock(&c->lock);
        c->stop = true;
        g_mutex_unlock(&c->lock);
        SetEvent(c->wake);
        /* Still connecting: abort, and again should FreeRDP's own retry reset the abort. */
        g_mutex_lock(&c->lock);
        while (!c->thread_done) {
            if (c->phase == PHASE_CONNECTING) {
                g_mutex_unlock(&c->lock);
                freerdp_abort_connect_context(c->context);
                g_mutex_lock(&c->lock);
            }
            g_cond_wait_until(&c->cond, &c->lock, g_get_monotonic_time() + 200 * 1000);
        }
        g_mutex_unlock(&c->lock);
        g_thread_join(c->thread);
    }
    if (c->context)
        freerdp_client_context_free(c->context);
    if (c->wake)
        CloseHandle(c->wake);
    X509_STORE_free(c->trust);
    if (c->base.surface) {
        vg_surface_close(c->base.surface, "the client closed the connection");
        vg_surface_unref(c->base.surface);
    }
    if (c->queue)
        g_array_free(c->queue, TRUE);
    g_free(c->host);
    g_free(c->host_port);
    g_cond_clear(&c->cond);
    g_mutex_clear(&c->lock);
    g_free(c);
}

vg_rdp_result vg_rdp_client_connect(const vg_rdp_client_params *p, vg_rdp_client **out, char *why,
                                    size_t why_len)
{
    RDP_CLIENT_ENTRY_POINTS entry = {
        .Size = sizeof(RDP_CLIENT_ENTRY_POINTS),
        .Version = RDP_CLIENT_INTERFACE_VERSION,
        .ContextSize = sizeof(vg_rdp_context),
        .ClientNew = client_new,
    };
    char scratch[8];
    vg_rdp_client *c;
    vg_rdp_result rc;

    if (!why) {
        why = scratch;
        why_len = sizeof(scratch);
    }
    if (why_len > 0)
        why[0] = '\0';
    *out = NULL;
    if (!p->host || !p->host[0] || p->port == 0 || !p->user || !p->password) {
        g_strlcpy(why, "host, port, user and password are required", why_len);
        return VG_RDP_INVALID;
    }
    if (p->width > VG_MAX_DIMENSION || p->height > VG_MAX_DIMENSION) {
        g_strlcpy(why, "the desktop size is too large", why_len);
        return VG_RDP_INVALID;
    }
    setup_wlog();

    c = g_new0(vg_rdp_client, 1);
    g_mutex_init(&c->lock);
    g_cond_init(&c->cond);
    c->base.ops = &rdp_source_ops;
    c->base.surface = vg_surface_new();
    c->queue = g_array_new(FALSE, FALSE, sizeof(vg_rdp_input));
    c->host = g_strdup(p->host);
    c->graphics = p->graphics;
    c->host_port = strchr(p->host, ':') ? g_strdup_printf("[%s]:%u", p->host, p->port)
                                        : g_strdup_printf("%s:%u", p->host, p->port);
    c->phase = PHASE_CONNECTING;
    c->deadline_us = p->deadline_us;
    rc = load_trust(p, &c->trust, why, why_len);
    if (rc != VG_RDP_OK)
        goto fail;
    if (p->insecure)
        vg_warning(TAG, "%s: insecure: the server's certificate is not checked", c->host_port);

    c->wake = CreateEventA(NULL, TRUE, FALSE, NULL);
    c->context = freerdp_client_context_new(&entry);
    if (!c->wake || !c->context) {
        g_strlcpy(why, "cannot set up FreeRDP", why_len);
        rc = VG_RDP_CONNECT_FAILED;
        goto fail;
    }
    ((vg_rdp_context *)c->context)->client = c;
    if (apply_settings(p, c->context->settings) < 0) {
        g_strlcpy(why, "cannot set up FreeRDP's settings", why_len);
        rc = VG_RDP_CONNECT_FAILED;
        goto fail;
    }

    c->thread = g_thread_try_new("vg-rdp-client", client_main, c, NULL);
    if (!c->thread) {
        g_strlcpy(why, "cannot start a thread", why_len);
        rc = VG_RDP_CONNECT_FAILED;
        goto fail;
    }
    switch (wait_connected(c, p->deadline_us)) {
    case PHASE_READY:
        *out = c;
        return VG_RDP_OK;
    case PHASE_FAILED:
        g_mutex_lock(&c->lock);
        rc = c->result;
        g_strlcpy(why, c->why, why_len);
        g_mutex_unlock(&c->lock);
        break;
    default:
        snprintf(why, why_len, "timed out connecting to %s", c->host_port);
        rc = VG_RDP_TIMEOUT;
        break;
    }
fail:
    vg_rdp_client_free(c);
    return rc;
}
