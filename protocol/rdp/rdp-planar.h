/*
 * vmgate — the lossless choice both RDP graphics paths make for each piece
 * of damage: planar (RLE, alpha plane skipped) when it is smaller than the
 * raw pixels, else uncompressed. Areas of the screen where planar found
 * nothing to compress (noise, video) skip it for a while (see rdp-planar.c).
 *
 * Threading: one encoder per peer, used on the peer's thread only; it hands
 * a frame's pieces to a pool of threads shared by every peer and waits.
 */
#ifndef VG_RDP_PLANAR_H
#define VG_RDP_PLANAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pixman.h>

typedef struct vg_rdp_planar vg_rdp_planar;

/** The largest piece an encoder takes. */
#define VG_RDP_PLANAR_MAX_PIECE 256

/**
 * An encoder for pieces of at most @piece × @piece pixels. @topdown: the
 * output rows run top-down (the graphics pipeline) or bottom-up (bitmap
 * updates). @return NULL when out of memory or @piece is above
 * VG_RDP_PLANAR_MAX_PIECE.
 */
vg_rdp_planar *vg_rdp_planar_new(uint32_t piece, bool topdown);

/** NULL is fine. */
void vg_rdp_planar_free(vg_rdp_planar *pl);

/**
 * Whether FreeRDP's planar encoder decodes back to its input, found once by
 * a probe (FreeRDP 3.15, Debian 13's, does not; rdp-planar.c says how). When
 * it does not, the first call logs a warning and vg_rdp_planar_encode_all()
 * leaves every piece uncompressed. Any thread.
 */
bool vg_rdp_planar_exact(void);

/** One piece of damage and, after vg_rdp_planar_encode_all(), its encoding. */
typedef struct vg_rdp_piece {
    uint32_t x, y, w, h; /**< on the screen; w and h at most the encoder's piece */
    uint8_t *planar;     /**< out: planar data (free() it), or NULL: send it uncompressed */
    uint32_t size;       /**< out: its length */
} vg_rdp_piece;

/**
 * Encode @n pieces of the screen at @pixels (BGRX32, rows @stride bytes
 * apart): each gets planar data when that is smaller than its raw pixels and
 * planar paid lately in its area (never when !vg_rdp_planar_exact()). The
 * pieces are encoded on all cores at once (a pool shared by every peer);
 * returns when all are done.
 */
void vg_rdp_planar_encode_all(vg_rdp_planar *pl, const uint8_t *pixels, size_t stride,
                              vg_rdp_piece *pieces, size_t n);

/**
 * @region cut into pieces of at most @piece × @piece (row by row within each
 * rectangle), ready for vg_rdp_planar_encode_all(). g_free() the array.
 */
vg_rdp_piece *vg_rdp_pieces(const pixman_region32_t *region, uint32_t piece, size_t *count);

/** The screen changed size: what was learnt about its areas is void. */
void vg_rdp_planar_forget(vg_rdp_planar *pl);

#endif /* VG_RDP_PLANAR_H */
