/*
 * vmgate — the RDP graphics pipeline (MS-RDPEGFX) for one peer. See
 * rdp-priv.h.
 *
 * One surface, the size of the VM's screen, mapped at the origin. Each
 * frame carries the damaged rectangles, planar-coded (lossless RLE, good
 * for text and flat areas), or uncompressed when planar does not pay.
 *
 * Large damage (a quarter of the screen or more: video, scrolling, a new
 * window) goes as one AVC420 (H.264) frame when the client allows it and
 * lossless mode is off. What H.264 blurred is sent again losslessly as soon
 * as the motion pauses (VG_RDP_REFINE_MS), so a still screen is always
 * exact.
 *
 * At most VG_RDP_MAX_UNACKED frames wait for the client's acknowledgement;
 * damage meanwhile keeps accumulating in the peer, so a slow client gets
 * fewer, larger frames and never holds anyone else up. A client that
 * suspends acknowledgements gets a new frame only while the socket's send
 * queue holds less than VG_RDP_SUSPENDED_QUEUE_MAX bytes.
 *
 * The channel is driven from the peer's thread (no thread of its own):
 * its messages are handled when its event handle is signalled.
 */
#include <errno.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <freerdp/channels/rdpgfx.h>
#include <freerdp/codec/color.h>
#include <freerdp/server/rdpgfx.h>

#include "log.h"
#include "metrics.h"
#include "util.h"
#include "rdp-h264.h"
#include "rdp-planar.h"
#include "rdp-priv.h"

#define TAG        "rdp"
#define SURFACE_ID 1
/* Rectangles are sent in pieces of at most this size: bounded buffers, and
 * planar contexts of a fixed size. */
#define PIECE 256
/* After this long without an H.264 frame, its area is sent again losslessly. */
#define VG_RDP_REFINE_MS 200

struct vg_rdp_gfx {
    vg_rdp_peer *p;
    RdpgfxServerContext *ctx;
    vg_rdp_planar *planar;
    bool opened;
    bool ready;
    bool surface;
    uint32_t version;
    uint32_t frame_id;
    uint32_t acked;
    bool acks_suspended;

    bool avc;            /* the client takes AVC420 and lossless mode is off */
    vg_rdp_h264 *h264;   /* made on first use */
    bool h264_broken;    /* the encoder failed once: no more H.264 */
    bool avc_used;       /* logged once */
    pixman_region32_t lossy; /* sent with H.264, not yet refined */
    int64_t last_avc_us;
};

static UINT caps_advertise(RdpgfxServerContext *ctx, const RDPGFX_CAPS_ADVERTISE_PDU *adv);
static UINT frame_ack(RdpgfxServerContext *ctx, const RDPGFX_FRAME_ACKNOWLEDGE_PDU *ack);

int vg_rdp_gfx_open(vg_rdp_peer *p)
{
    vg_rdp_gfx *g;

    if (!freerdp_settings_get_bool(p->client->context->settings, FreeRDP_SupportGraphicsPipeline))
        return -ENOTSUP;
    g = g_new0(vg_rdp_gfx, 1);
    g->p = p;
    g->ctx = rdpgfx_server_context_new(p->vcm);
    g->planar = vg_rdp_planar_new(PIECE, true);
    if (!g->ctx || !g->planar) {
        vg_rdp_gfx_free(g);
        return -ENOMEM;
    }
    pixman_region32_init(&g->lossy);
    g->ctx->rdpcontext = p->client->context;
    g->ctx->custom = g;
    g->ctx->CapsAdvertise = caps_advertise;
    g->ctx->FrameAcknowledge = frame_ack;
    if (!g->ctx->Initialize(g->ctx, TRUE) || !g->ctx->Open(g->ctx)) {
        vg_info(TAG, "peer=%s: the client has no graphics pipeline channel", p->name);
        vg_rdp_gfx_free(g);
        return -ENOTSUP;
    }
    g->opened = true;
    p->gfx = g;
    return 0;
}

HANDLE vg_rdp_gfx_event(vg_rdp_gfx *g)
{
    return g->ctx ? rdpgfx_server_get_event_handle(g->ctx) : NULL;
}

bool vg_rdp_gfx_poll(vg_rdp_gfx *g)
{
    HANDLE h = vg_rdp_gfx_event(g);
    if (!h || WaitForSingleObject(h, 0) != WAIT_OBJECT_0)
        return true;
    return rdpgfx_server_handle_messages(g->ctx) == CHANNEL_RC_OK;
}

bool vg_rdp_gfx_ready(vg_rdp_gfx *g)
{
    return g->ready;
}

bool vg_rdp_gfx_busy(vg_rdp_gfx *g)
{
    int queued = 0;

    if (!g->acks_suspended)
        return g->frame_id - g->acked >= VG_RDP_MAX_UNACKED;
    /* The client sends no acknowledgements (queueDepth SUSPEND): bound what
     * waits for it by the bytes still in the socket's send queue instead,
     * so that a slow client gets fewer, newer frames, not a backlog. */
    return ioctl(g->p->fd, SIOCOUTQ, &queued) == 0 && queued >= VG_RDP_SUSPENDED_QUEUE_MAX;
}

bool vg_rdp_gfx_acks_suspended(vg_rdp_gfx *g)
{
    return g->acks_suspended;
}

/* Reset the graphics to the peer's size and make the surface. */
static bool make_surface(vg_rdp_gfx *g)
{
    vg_rdp_peer *p = g->p;
    MONITOR_DEF mon = {.left = 0,
                       .top = 0,
                       .right = (INT32)p->width - 1,
                       .bottom = (INT32)p->height - 1,
                       .flags = MONITOR_PRIMARY};
    RDPGFX_RESET_GRAPHICS_PDU reset = {
        .width = p->width, .height = p->height, .monitorCount = 1, .monitorDefArray = &mon};
    RDPGFX_CREATE_SURFACE_PDU create = {.surfaceId = SURFACE_ID,
                                        .width = (UINT16)p->width,
                                        .height = (UINT16)p->height,
                                        .pixelFormat = GFX_PIXEL_FORMAT_XRGB_8888};
    RDPGFX_MAP_SURFACE_TO_OUTPUT_PDU map = {.surfaceId = SURFACE_ID};

    if (g->surface) {
        RDPGFX_DELETE_SURFACE_PDU del = {.surfaceId = SURFACE_ID};
        if (g->ctx->DeleteSurface(g->ctx, &del) != CHANNEL_RC_OK)
            return false;
        g->surface = false;
    }
    freerdp_settings_set_uint32(p->client->context->settings, FreeRDP_DesktopWidth, p->width);
    freerdp_settings_set_uint32(p->client->context->settings, FreeRDP_DesktopHeight, p->height);
    if (g->ctx->ResetGraphics(g->ctx, &reset) != CHANNEL_RC_OK ||
        g->ctx->CreateSurface(g->ctx, &create) != CHANNEL_RC_OK ||
        g->ctx->MapSurfaceToOutput(g->ctx, &map) != CHANNEL_RC_OK)
        return false;
    g->surface = true;
    return true;
}

static UINT caps_advertise(RdpgfxServerContext *ctx, const RDPGFX_CAPS_ADVERTISE_PDU *adv)
{
    vg_rdp_gfx *g = ctx->custom;
    vg_rdp_peer *p = g->p;
    /* Versions vmgate speaks, best first. Planar and uncompressed exist in
     * all of them. */
    static const uint32_t wanted[] = {
        RDPGFX_CAPVERSION_107, RDPGFX_CAPVERSION_106, RDPGFX_CAPVERSION_105,
        RDPGFX_CAPVERSION_104, RDPGFX_CAPVERSION_103, RDPGFX_CAPVERSION_102,
        RDPGFX_CAPVERSION_101, RDPGFX_CAPVERSION_10,  RDPGFX_CAPVERSION_81,
        RDPGFX_CAPVERSION_8};
    const RDPGFX_CAPSET *chosen = NULL;
    RDPGFX_CAPSET confirm;
    RDPGFX_CAPS_CONFIRM_PDU pdu = {.capsSet = &confirm};
    pixman_region32_t all;

    for (size_t w = 0; w < G_N_ELEMENTS(wanted) && !chosen; w++)
        for (UINT16 i = 0; i < adv->capsSetCount; i++)
            if (adv->capsSets[i].version == wanted[w]) {
                chosen = &adv->capsSets[i];
                break;
            }
    if (!chosen) {
        vg_notice(TAG, "peer=%s: no graphics pipeline version in common", p->name);
        return ERROR_NOT_SUPPORTED;
    }
    confirm = *chosen;
    g->version = chosen->version;
    if (g->version >= RDPGFX_CAPVERSION_10)
        g->avc = !(chosen->flags & RDPGFX_CAPS_FLAG_AVC_DISABLED);
    else if (g->version == RDPGFX_CAPVERSION_81)
        g->avc = chosen->flags & RDPGFX_CAPS_FLAG_AVC420_ENABLED;
    else
        g->avc = false;
    if (p->lossless)
        g->avc = false;
    if (!g->avc && g->version >= RDPGFX_CAPVERSION_10)
        confirm.flags |= RDPGFX_CAPS_FLAG_AVC_DISABLED;
    else if (!g->avc)
        confirm.flags &= ~RDPGFX_CAPS_FLAG_AVC420_ENABLED;
    if (ctx->CapsConfirm(ctx, &pdu) != CHANNEL_RC_OK)
        return ERROR_INTERNAL_ERROR;
    if (!make_surface(g))
        return ERROR_INTERNAL_ERROR;
    g->ready = true;
    vg_info(TAG, "peer=%s user=%s: graphics pipeline version 0x%08x, %ux%u, %s", p->name,
            p->user, g->version, p->width, p->height,
            g->avc ? "H.264 for motion, lossless otherwise" : "lossless codecs");
    /* Everything, once. */
    pixman_region32_init_rect(&all, 0, 0, p->width, p->height);
    g_mutex_lock(&p->lock);
    pixman_region32_union(&p->damage, &p->damage, &all);
    g_mutex_unlock(&p->lock);
    pixman_region32_fini(&all);
    SetEvent(p->wake);
    return CHANNEL_RC_OK;
}

static UINT frame_ack(RdpgfxServerContext *ctx, const RDPGFX_FRAME_ACKNOWLEDGE_PDU *ack)
{
    vg_rdp_gfx *g = ctx->custom;
    bool suspended = ack->queueDepth == SUSPEND_FRAME_ACKNOWLEDGEMENT;
    if (suspended && !g->acks_suspended)
        vg_info(TAG, "peer=%s: the client suspended frame acknowledgements", g->p->name);
    g->acks_suspended = suspended;
    /* Frame ids only grow; an id from the future is a confused client. */
    if (ack->frameId <= g->frame_id && ack->frameId > g->acked)
        g->acked = ack->frameId;
    SetEvent(g->p->wake);
    return CHANNEL_RC_OK;
}

/* One encoded piece: its planar data, or its pixels uncompressed. */
static bool send_piece(vg_rdp_gfx *g, const vg_rdp_piece *pc)
{
    vg_rdp_peer *p = g->p;
    const uint8_t *src = p->pixels + (size_t)pc->y * p->stride + (size_t)pc->x * 4;
    RDPGFX_SURFACE_COMMAND cmd = {.surfaceId = SURFACE_ID,
                                  .format = PIXEL_FORMAT_BGRX32,
                                  .left = pc->x,
                                  .top = pc->y,
                                  .right = pc->x + pc->w,
                                  .bottom = pc->y + pc->h,
                                  .width = pc->w,
                                  .height = pc->h};
    uint8_t *raw = NULL;
    UINT rc;

    if (pc->planar) {
        cmd.codecId = RDPGFX_CODECID_PLANAR;
        cmd.data = pc->planar;
        cmd.length = pc->size;
    } else {
        raw = g_malloc((size_t)pc->w * pc->h * 4);
        for (uint32_t r = 0; r < pc->h; r++)
            memcpy(raw + (size_t)r * pc->w * 4, src + (size_t)r * p->stride, (size_t)pc->w * 4);
        cmd.codecId = RDPGFX_CODECID_UNCOMPRESSED;
        cmd.data = raw;
        cmd.length = pc->w * pc->h * 4;
    }
    rc = g->ctx->SurfaceCommand(g->ctx, &cmd);
    g_free(raw);
    vg_metrics_bytes(VG_METRIC_PROTO_RDP,
                     pc->planar ? VG_METRIC_CODEC_PLANAR : VG_METRIC_CODEC_UNCOMPRESSED,
                     cmd.length);
    return rc == CHANNEL_RC_OK;
}

static uint64_t region_area(const pixman_region32_t *region)
{
    int n = 0;
    const pixman_box32_t *b = pixman_region32_rectangles((pixman_region32_t *)region, &n);
    uint64_t area = 0;
    for (int i = 0; i < n; i++)
        area += (uint64_t)(b[i].x2 - b[i].x1) * (uint64_t)(b[i].y2 - b[i].y1);
    return area;
}

/* At most this many rectangles in an H.264 frame's metablock; more are
 * sent as their bounding box. */
#define AVC_MAX_RECTS 256
/* The quantisation parameter the metablock announces (informative: the
 * encoder's rate control picks the real one). */
#define AVC_QP 22

/* The whole surface as one H.264 frame, its damage in the metablock.
 * Returns 1 sent, 0 not possible (use lossless), -1 the connection failed. */
static int send_avc(vg_rdp_gfx *g, const pixman_region32_t *region)
{
    vg_rdp_peer *p = g->p;
    RDPGFX_AVC420_BITMAP_STREAM bs = {0};
    RDPGFX_SURFACE_COMMAND cmd = {.surfaceId = SURFACE_ID,
                                  .codecId = RDPGFX_CODECID_AVC420,
                                  .format = PIXEL_FORMAT_BGRX32,
                                  .right = p->width,
                                  .bottom = p->height,
                                  .width = p->width,
                                  .height = p->height,
                                  .extra = &bs};
    RECTANGLE_16 rects[AVC_MAX_RECTS];
    RDPGFX_H264_QUANT_QUALITY quality[AVC_MAX_RECTS];
    const pixman_box32_t *b;
    const uint8_t *data = NULL;
    size_t len = 0;
    int n = 0, rc;
    UINT crc;
    int64_t t0;

    /* The encoder takes even sizes only. */
    if (g->h264_broken || p->width % 2 || p->height % 2 || p->width > 4096 || p->height > 4096)
        return 0;
    if (!g->h264) {
        g_autofree char *err = NULL;
        g->h264 = vg_rdp_h264_new(p->width, p->height, p->h264_preset, &err);
        if (!g->h264) {
            vg_warning(TAG, "peer=%s: no H.264 encoder (%s): lossless codecs only", p->name, err);
            g->h264_broken = true;
            return 0;
        }
    }
    t0 = vg_now_us();
    rc = vg_rdp_h264_encode(g->h264, p->pixels, p->stride, &data, &len);
    vg_metrics_encode_ns(VG_METRIC_ENCODER_AVC420, (uint64_t)(vg_now_us() - t0) * 1000);
    if (rc < 0 || len > UINT32_MAX) {
        vg_warning(TAG, "peer=%s: H.264 encoding failed: lossless codecs only", p->name);
        g->h264_broken = true;
        return 0;
    }

    /* The client copies only the metablock's rectangles of the decoded
     * frame to its surface: the damage. */
    b = pixman_region32_rectangles((pixman_region32_t *)region, &n);
    if (n > AVC_MAX_RECTS) {
        b = pixman_region32_extents((pixman_region32_t *)region);
        n = 1;
    }
    for (int i = 0; i < n; i++) {
        rects[i] = (RECTANGLE_16){(UINT16)MAX(b[i].x1, 0), (UINT16)MAX(b[i].y1, 0),
                                  (UINT16)MIN((uint32_t)b[i].x2, p->width),
                                  (UINT16)MIN((uint32_t)b[i].y2, p->height)};
        quality[i] = (RDPGFX_H264_QUANT_QUALITY){.qp = AVC_QP, .qualityVal = 100 - AVC_QP};
    }
    bs.meta.numRegionRects = (UINT32)n;
    bs.meta.regionRects = rects;
    bs.meta.quantQualityVals = quality;
    bs.data = (BYTE *)data;
    bs.length = (UINT32)len;
    cmd.length = bs.length;
    cmd.data = bs.data;
    crc = g->ctx->SurfaceCommand(g->ctx, &cmd);
    if (crc != CHANNEL_RC_OK)
        return -1;
    vg_metrics_bytes(VG_METRIC_PROTO_RDP, VG_METRIC_CODEC_AVC420, bs.length);
    pixman_region32_union(&g->lossy, &g->lossy, (pixman_region32_t *)region);
    g->last_avc_us = g_get_monotonic_time();
    if (!g->avc_used) {
        g->avc_used = true;
        vg_info(TAG, "peer=%s user=%s: H.264 (libx264 %s) in use for motion", p->name, p->user,
                p->h264_preset);
    }
    return 1;
}

/* Sends the region's pieces; *@codec is the frame's main codec for the
 * frame count: planar when any piece is planar. */
static bool send_lossless(vg_rdp_gfx *g, const pixman_region32_t *region, vg_metric_codec *codec)
{
    vg_rdp_peer *p = g->p;
    size_t count = 0;
    g_autofree vg_rdp_piece *pieces = vg_rdp_pieces(region, PIECE, &count);
    bool ok = true;
    int64_t t0 = vg_now_us();

    vg_rdp_planar_encode_all(g->planar, p->pixels, p->stride, pieces, count);
    vg_metrics_encode_ns(VG_METRIC_ENCODER_PLANAR, (uint64_t)(vg_now_us() - t0) * 1000);
    *codec = VG_METRIC_CODEC_UNCOMPRESSED;
    for (size_t i = 0; i < count; i++) {
        if (pieces[i].planar)
            *codec = VG_METRIC_CODEC_PLANAR;
        ok = ok && send_piece(g, &pieces[i]);
        free(pieces[i].planar);
    }
    return ok;
}

bool vg_rdp_gfx_refine_due(vg_rdp_gfx *g, int *wait_ms)
{
    int64_t left;
    if (!pixman_region32_not_empty(&g->lossy))
        return false;
    left = g->last_avc_us + VG_RDP_REFINE_MS * 1000 - g_get_monotonic_time();
    if (left > 0) {
        if (wait_ms)
            *wait_ms = (int)(left / 1000) + 1;
        return false;
    }
    return true;
}

/* The client moves a band of its surface (the peer's copy moved already).
 * What H.264 left blurred in the band's source moves with it. */
static bool send_scroll(vg_rdp_gfx *g, const vg_scroll *s)
{
    RDPGFX_POINT16 to = {.x = (UINT16)s->x1, .y = (UINT16)s->y1};
    RDPGFX_SURFACE_TO_SURFACE_PDU pdu = {.surfaceIdSrc = SURFACE_ID,
                                         .surfaceIdDest = SURFACE_ID,
                                         .rectSrc = {.left = (UINT16)(s->x1 + s->dx),
                                                     .top = (UINT16)(s->y1 + s->dy),
                                                     .right = (UINT16)(s->x2 + s->dx),
                                                     .bottom = (UINT16)(s->y2 + s->dy)},
                                         .destPtsCount = 1,
                                         .destPts = &to};
    pixman_region32_t moved, band;

    if (g->ctx->SurfaceToSurface(g->ctx, &pdu) != CHANNEL_RC_OK)
        return false;
    /* Its data: two surface ids, the source rectangle, a count and a point. */
    vg_metrics_bytes(VG_METRIC_PROTO_RDP, VG_METRIC_CODEC_MOVE, 18);
    if (pixman_region32_not_empty(&g->lossy)) {
        pixman_region32_init(&moved);
        pixman_region32_intersect_rect(&moved, &g->lossy, s->x1 + s->dx, s->y1 + s->dy,
                                       (unsigned)(s->x2 - s->x1), (unsigned)(s->y2 - s->y1));
        pixman_region32_translate(&moved, -s->dx, -s->dy);
        /* The band now holds what was moved there, blurred or not. */
        vg_scroll_band(s, &band);
        pixman_region32_subtract(&g->lossy, &g->lossy, &band);
        pixman_region32_union(&g->lossy, &g->lossy, &moved);
        pixman_region32_fini(&band);
        pixman_region32_fini(&moved);
    }
    return true;
}

bool vg_rdp_gfx_send(vg_rdp_gfx *g, const pixman_region32_t *region, const vg_scroll *moves,
                     int n_moves)
{
    vg_rdp_peer *p = g->p;
    RDPGFX_START_FRAME_PDU start = {.timestamp = 0, .frameId = g->frame_id + 1};
    RDPGFX_END_FRAME_PDU end = {.frameId = start.frameId};
    pixman_region32_t todo;
    bool ok;
    int avc = 0;
    vg_metric_codec codec = VG_METRIC_CODEC_AVC420;

    if (!g->ready)
        return true;
    pixman_region32_init(&todo);
    pixman_region32_copy(&todo, (pixman_region32_t *)region);
    if (!n_moves && !pixman_region32_not_empty(&todo) && !vg_rdp_gfx_refine_due(g, NULL)) {
        pixman_region32_fini(&todo);
        return true;
    }
    g->frame_id++;
    ok = g->ctx->StartFrame(g->ctx, &start) == CHANNEL_RC_OK;
    for (int i = 0; ok && i < n_moves; i++)
        ok = send_scroll(g, &moves[i]);
    if (ok && g->avc && region_area(&todo) * 4 >= (uint64_t)p->width * p->height) {
        avc = send_avc(g, &todo);
        ok = avc >= 0;
    }
    if (ok && avc == 0) {
        /* Lossless: the damage, and whatever H.264 left blurred. */
        pixman_region32_union(&todo, &todo, &g->lossy);
        pixman_region32_clear(&g->lossy);
        ok = send_lossless(g, &todo, &codec);
    }
    if (ok)
        ok = g->ctx->EndFrame(g->ctx, &end) == CHANNEL_RC_OK;
    if (ok && n_moves && avc == 0)
        codec = VG_METRIC_CODEC_MOVE;
    if (ok)
        vg_metrics_frames(VG_METRIC_PROTO_RDP, codec, 1);
    pixman_region32_fini(&todo);
    return ok;
}

bool vg_rdp_gfx_resize(vg_rdp_gfx *g)
{
    if (!g->ready)
        return true; /* the surface is made at the right size when caps come */
    vg_rdp_h264_free(g->h264);
    g->h264 = NULL;
    pixman_region32_clear(&g->lossy);
    vg_rdp_planar_forget(g->planar);
    return make_surface(g);
}

void vg_rdp_gfx_free(vg_rdp_gfx *g)
{
    if (!g)
        return;
    if (g->ctx) {
        if (g->opened)
            g->ctx->Close(g->ctx);
        rdpgfx_server_context_free(g->ctx);
    }
    vg_rdp_planar_free(g->planar);
    vg_rdp_h264_free(g->h264);
    pixman_region32_fini(&g->lossy);
    if (g->p && g->p->gfx == g)
        g->p->gfx = NULL;
    g_free(g);
}
