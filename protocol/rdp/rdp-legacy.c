/*
 * vmgate — RDP graphics for clients without the graphics pipeline: bitmap
 * updates, desktop resize by reactivation, and pointer shapes (used on both
 * paths). See rdp-priv.h.
 *
 * Bitmap updates go in tiles of at most 64 × 64 at 32 bits per pixel,
 * planar-compressed (lossless RLE; "compressed" 32 bpp bitmap data is
 * planar) when the client may skip the alpha plane and it pays, else
 * uncompressed. Either way the pixels are exact.
 */
#include <stdlib.h>
#include <string.h>

#include <freerdp/codec/color.h>
#include <freerdp/pointer.h>
#include <freerdp/update.h>

#include "log.h"
#include "metrics.h"
#include "rdp-planar.h"
#include "rdp-priv.h"
#include "util.h"

#define TAG       "rdp"
#define TILE      64
#define TILE_SIZE (TILE * TILE * 4)

bool vg_rdp_legacy_send(vg_rdp_peer *p, const pixman_region32_t *region)
{
    rdpUpdate *update = p->client->context->update;
    uint8_t *tile = g_malloc(TILE_SIZE);
    g_autofree vg_rdp_piece *pieces = NULL;
    size_t count = 0;
    bool ok = true;
    vg_metric_codec codec = VG_METRIC_CODEC_UNCOMPRESSED;
    uint64_t sent[VG_METRIC_CODEC_N] = {0};

    /* Planar without an alpha plane needs the client's consent, and a
     * FreeRDP whose planar encoder is exact. */
    if (!p->planar && !p->planar_off) {
        bool skip_alpha =
            freerdp_settings_get_bool(p->client->context->settings, FreeRDP_DrawAllowSkipAlpha);
        bool exact = vg_rdp_planar_exact();
        /* Bottom-up output, as bitmap updates want, from a top-down source. */
        if (skip_alpha && exact)
            p->planar = vg_rdp_planar_new(TILE, false);
        p->planar_off = !p->planar;
        vg_info(TAG, "peer=%s user=%s: bitmap updates, %s", p->name, p->user,
                p->planar ? "planar-compressed"
                : !exact  ? "uncompressed (FreeRDP's planar encoder is not exact)"
                          : "uncompressed (the client wants alpha)");
    }

    pieces = vg_rdp_pieces(region, TILE, &count);
    if (p->planar) {
        int64_t t0 = vg_now_us();
        vg_rdp_planar_encode_all(p->planar, p->pixels, p->stride, pieces, count);
        vg_metrics_encode_ns(VG_METRIC_ENCODER_PLANAR, (uint64_t)(vg_now_us() - t0) * 1000);
    }
    for (size_t i = 0; i < count; i++) {
        const vg_rdp_piece *pc = &pieces[i];
        const uint8_t *src = p->pixels + (size_t)pc->y * p->stride + (size_t)pc->x * 4;
        BITMAP_DATA bd = {0};
        BITMAP_UPDATE bu = {.number = 1, .rectangles = &bd, .skipCompression = TRUE};

        if (pc->planar) {
            bd.compressed = TRUE;
            bd.bitmapLength = pc->size;
            bd.bitmapDataStream = pc->planar;
            bd.cbScanWidth = pc->w * 4;
            bd.cbUncompressedSize = pc->w * pc->h * 4;
            bd.cbCompMainBodySize = pc->size;
        } else {
            /* Uncompressed bitmap data is bottom-up. */
            for (uint32_t y = 0; y < pc->h; y++)
                memcpy(tile + (size_t)(pc->h - 1 - y) * pc->w * 4, src + (size_t)y * p->stride,
                       (size_t)pc->w * 4);
            bd.compressed = FALSE;
            bd.bitmapLength = pc->w * pc->h * 4;
            bd.bitmapDataStream = tile;
        }
        bd.destLeft = pc->x;
        bd.destTop = pc->y;
        bd.destRight = pc->x + pc->w - 1;
        bd.destBottom = pc->y + pc->h - 1;
        bd.width = pc->w;
        bd.height = pc->h;
        bd.bitsPerPixel = 32;
        ok = ok && update->BitmapUpdate(p->client->context, &bu);
        sent[pc->planar ? VG_METRIC_CODEC_PLANAR : VG_METRIC_CODEC_UNCOMPRESSED] += bd.bitmapLength;
        if (pc->planar)
            codec = VG_METRIC_CODEC_PLANAR;
        free(pieces[i].planar);
    }
    g_free(tile);
    /* One frame per batch of damage, under its main codec; bytes per codec. */
    if (ok && count > 0) {
        vg_metrics_frames(VG_METRIC_PROTO_RDP, codec, 1);
        for (unsigned c = 0; c < VG_METRIC_CODEC_N; c++)
            if (sent[c])
                vg_metrics_bytes(VG_METRIC_PROTO_RDP, (vg_metric_codec)c, sent[c]);
    }
    return ok;
}

bool vg_rdp_legacy_resize(vg_rdp_peer *p)
{
    rdpContext *ctx = p->client->context;

    if (!freerdp_settings_get_bool(ctx->settings, FreeRDP_DesktopResize)) {
        /* The client cannot follow: it keeps the old size, and the screen
         * it shows is cut or padded until it reconnects. */
        vg_warning(TAG, "peer=%s: the client does not support desktop resize", p->name);
        return true;
    }
    freerdp_settings_set_uint32(ctx->settings, FreeRDP_DesktopWidth, p->width);
    freerdp_settings_set_uint32(ctx->settings, FreeRDP_DesktopHeight, p->height);
    p->active = false; /* until the client reactivates */
    return ctx->update->DesktopResize(ctx);
}

bool vg_rdp_send_pointer(vg_rdp_peer *p, const vg_cursor *c)
{
    rdpContext *ctx = p->client->context;
    rdpPointerUpdate *pu = ctx->update->pointer;
    uint32_t w = c->width, h = c->height;
    size_t and_stride = ((w + 15) / 16) * 2; /* 1 bpp, rows padded to 16 bits */
    g_autofree uint8_t *xor_mask = NULL, *and_mask = NULL;
    bool ok;

    if (w == 0 || h == 0 || w > 384 || h > 384 || !c->argb) {
        POINTER_SYSTEM_UPDATE sys = {.type = SYSPTR_NULL};
        return pu->PointerSystem(ctx, &sys);
    }
    /* 32 bpp with alpha, bottom-up; the AND mask is all zero (alpha rules). */
    xor_mask = g_malloc((size_t)w * h * 4);
    and_mask = g_malloc0(and_stride * h);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            uint32_t px = c->argb[(size_t)y * w + x];
            uint8_t *d = xor_mask + ((size_t)(h - 1 - y) * w + x) * 4;
            d[0] = (uint8_t)px;         /* B */
            d[1] = (uint8_t)(px >> 8);  /* G */
            d[2] = (uint8_t)(px >> 16); /* R */
            d[3] = (uint8_t)(px >> 24); /* A */
        }
    if ((w > 96 || h > 96) &&
        !(freerdp_settings_get_uint32(ctx->settings, FreeRDP_LargePointerFlag) &
          LARGE_POINTER_FLAG_384x384)) {
        POINTER_SYSTEM_UPDATE sys = {.type = SYSPTR_DEFAULT};
        return pu->PointerSystem(ctx, &sys); /* too big for this client */
    }
    if (w <= 96 && h <= 96) {
        POINTER_NEW_UPDATE pn = {0};
        pn.xorBpp = 32;
        pn.colorPtrAttr.cacheIndex = 0;
        pn.colorPtrAttr.hotSpotX = (UINT16)MIN(c->hot_x, w - 1);
        pn.colorPtrAttr.hotSpotY = (UINT16)MIN(c->hot_y, h - 1);
        pn.colorPtrAttr.width = (UINT16)w;
        pn.colorPtrAttr.height = (UINT16)h;
        pn.colorPtrAttr.lengthXorMask = (UINT16)(w * h * 4);
        pn.colorPtrAttr.lengthAndMask = (UINT16)(and_stride * h);
        pn.colorPtrAttr.xorMaskData = xor_mask;
        pn.colorPtrAttr.andMaskData = and_mask;
        ok = pu->PointerNew(ctx, &pn);
    } else {
        POINTER_LARGE_UPDATE pl = {0};
        pl.xorBpp = 32;
        pl.cacheIndex = 0;
        pl.hotSpotX = (UINT16)MIN(c->hot_x, w - 1);
        pl.hotSpotY = (UINT16)MIN(c->hot_y, h - 1);
        pl.width = (UINT16)w;
        pl.height = (UINT16)h;
        pl.lengthXorMask = w * h * 4;
        pl.lengthAndMask = (UINT32)(and_stride * h);
        pl.xorMaskData = xor_mask;
        pl.andMaskData = and_mask;
        ok = pu->PointerLarge(ctx, &pl);
    }
    return ok;
}
