/*
 * vmgate — planar or uncompressed, per piece. See rdp-planar.h.
 *
 * Planar's RLE costs 15-30 times a plain copy (tests/bench/rdp-encode-bench)
 * and buys nothing on noise or video, where its output is no smaller than
 * the alpha-less planes alone (three bytes a pixel). The lossless path
 * could then not follow a full-screen change at QEMU's update rate. So the
 * screen is cut into areas of one piece's size; an area where planar found
 * nothing to compress sends its next VG_RDP_RAW_PIECES pieces uncompressed
 * without trying, then tries planar again. A screen that calms down (text
 * after a video) is planar-coded again within that many updates.
 */
#include "rdp-planar.h"

#include <stdlib.h>
#include <string.h>

#include <freerdp/codec/color.h>
#include <freerdp/codec/planar.h>
#include <glib.h>

#include "util.h"

/* Pieces of an incompressible area sent uncompressed before planar is tried
 * there again. */
#define VG_RDP_RAW_PIECES 8

struct vg_rdp_planar {
    BITMAP_PLANAR_CONTEXT *ctx;
    bool topdown;
    uint32_t piece;
    uint32_t side; /* areas per screen side: VG_MAX_DIMENSION / piece, rounded up */
    uint8_t *skip; /* per area: pieces still to send without trying planar */
};

vg_rdp_planar *vg_rdp_planar_new(uint32_t piece, bool topdown)
{
    vg_rdp_planar *pl;

    if (piece == 0)
        return NULL;
    pl = g_new0(vg_rdp_planar, 1);
    pl->topdown = topdown;
    pl->piece = piece;
    pl->side = (VG_MAX_DIMENSION + piece - 1) / piece;
    pl->skip = g_malloc0((size_t)pl->side * pl->side);
    pl->ctx = freerdp_bitmap_planar_context_new(PLANAR_FORMAT_HEADER_NA | PLANAR_FORMAT_HEADER_RLE,
                                                piece, piece);
    if (!pl->ctx) {
        vg_rdp_planar_free(pl);
        return NULL;
    }
    return pl;
}

void vg_rdp_planar_free(vg_rdp_planar *pl)
{
    if (!pl)
        return;
    freerdp_bitmap_planar_context_free(pl->ctx);
    g_free(pl->skip);
    g_free(pl);
}

uint8_t *vg_rdp_planar_encode(vg_rdp_planar *pl, const uint8_t *src, size_t stride, uint32_t x,
                              uint32_t y, uint32_t w, uint32_t h, uint32_t *size)
{
    uint8_t *skip =
        &pl->skip[MIN(y / pl->piece, pl->side - 1) * pl->side + MIN(x / pl->piece, pl->side - 1)];
    uint8_t *out;

    *size = 0;
    if (*skip > 0) {
        (*skip)--;
        return NULL;
    }
    if (!freerdp_bitmap_planar_context_reset(pl->ctx, w, h))
        return NULL;
    if (pl->topdown)
        freerdp_planar_topdown_image(pl->ctx, TRUE);
    out = freerdp_bitmap_compress_planar(pl->ctx, src, PIXEL_FORMAT_BGRX32, w, h, (UINT32)stride,
                                         NULL, size);
    if (out && *size >= (size_t)w * h * 3)
        *skip = VG_RDP_RAW_PIECES;
    if (out && *size < (size_t)w * h * 4)
        return out;
    free(out);
    *size = 0;
    return NULL;
}

void vg_rdp_planar_forget(vg_rdp_planar *pl)
{
    memset(pl->skip, 0, (size_t)pl->side * pl->side);
}
