/*
 * vmgate — the lossless choice both RDP graphics paths make for each piece
 * of damage: planar (RLE, alpha plane skipped) when it is smaller than the
 * raw pixels, else uncompressed. Areas of the screen where planar found
 * nothing to compress (noise, video) skip it for a while (see rdp-planar.c).
 *
 * Threading: one per peer, used on the peer's thread only.
 */
#ifndef VG_RDP_PLANAR_H
#define VG_RDP_PLANAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vg_rdp_planar vg_rdp_planar;

/**
 * An encoder for pieces of at most @piece × @piece pixels. @topdown: the
 * output rows run top-down (the graphics pipeline) or bottom-up (bitmap
 * updates). @return NULL when out of memory.
 */
vg_rdp_planar *vg_rdp_planar_new(uint32_t piece, bool topdown);

/** NULL is fine. */
void vg_rdp_planar_free(vg_rdp_planar *pl);

/**
 * The piece of @w × @h BGRX32 pixels at @src (rows @stride bytes apart),
 * which sits at (@x, @y) on the screen, planar-coded.
 * @return the planar data (free() it) with its length in *size, or NULL:
 *         send the piece uncompressed (planar does not pay, or did not pay
 *         lately in this area).
 */
uint8_t *vg_rdp_planar_encode(vg_rdp_planar *pl, const uint8_t *src, size_t stride, uint32_t x,
                              uint32_t y, uint32_t w, uint32_t h, uint32_t *size);

/** The screen changed size: what was learnt about its areas is void. */
void vg_rdp_planar_forget(vg_rdp_planar *pl);

#endif /* VG_RDP_PLANAR_H */
