/*
 * vmgate — planar or uncompressed, per piece. See rdp-planar.h.
 */
#include "rdp-planar.h"

#include <stdlib.h>

#include <freerdp/codec/color.h>
#include <freerdp/codec/planar.h>
#include <glib.h>

struct vg_rdp_planar {
    BITMAP_PLANAR_CONTEXT *ctx;
    bool topdown;
};

vg_rdp_planar *vg_rdp_planar_new(uint32_t piece, bool topdown)
{
    vg_rdp_planar *pl = g_new0(vg_rdp_planar, 1);

    pl->topdown = topdown;
    pl->ctx = freerdp_bitmap_planar_context_new(PLANAR_FORMAT_HEADER_NA | PLANAR_FORMAT_HEADER_RLE,
                                                piece, piece);
    if (!pl->ctx) {
        g_free(pl);
        return NULL;
    }
    return pl;
}

void vg_rdp_planar_free(vg_rdp_planar *pl)
{
    if (!pl)
        return;
    freerdp_bitmap_planar_context_free(pl->ctx);
    g_free(pl);
}

uint8_t *vg_rdp_planar_encode(vg_rdp_planar *pl, const uint8_t *src, size_t stride, uint32_t x,
                              uint32_t y, uint32_t w, uint32_t h, uint32_t *size)
{
    uint8_t *out;

    (void)x;
    (void)y;
    *size = 0;
    if (!freerdp_bitmap_planar_context_reset(pl->ctx, w, h))
        return NULL;
    if (pl->topdown)
        freerdp_planar_topdown_image(pl->ctx, TRUE);
    out = freerdp_bitmap_compress_planar(pl->ctx, src, PIXEL_FORMAT_BGRX32, w, h, (UINT32)stride,
                                         NULL, size);
    if (out && *size < (size_t)w * h * 4)
        return out;
    free(out);
    *size = 0;
    return NULL;
}

void vg_rdp_planar_forget(vg_rdp_planar *pl)
{
    (void)pl;
}
