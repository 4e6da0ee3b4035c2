/*
 * vmgate — the graphics pipeline's H.264 (AVC420) encoder: libavcodec's
 * libx264 with a preset chosen for latency.
 *
 * FreeRDP's own encoder (avc420_compress) opens libx264 with the "medium"
 * preset and a keyframe every 12 frames, and offers no setting for either:
 * on full-screen change it cost about 48 CPU ms per 1024x768 frame here,
 * which a viewer waits for. This one converts with FreeRDP's primitives
 * (the colour conversion its decoders invert) and encodes with the preset
 * it is given, without B-frames or lookahead, so every frame comes out at
 * once.
 *
 * Threading: one encoder per peer, used on the peer's thread only
 * (libx264 may use threads of its own).
 */
#ifndef VG_RDP_H264_H
#define VG_RDP_H264_H

#include <stddef.h>
#include <stdint.h>

typedef struct vg_rdp_h264 vg_rdp_h264;

/**
 * An encoder for frames of @width × @height (both even, at most 4096) with
 * libx264's @preset ("ultrafast" ... "veryslow"). @return NULL with @err
 * (if not NULL) set to a message to free when libavcodec has no libx264 or
 * it refused the settings (an unknown preset among them).
 */
vg_rdp_h264 *vg_rdp_h264_new(uint32_t width, uint32_t height, const char *preset, char **err);

/** NULL is fine. */
void vg_rdp_h264_free(vg_rdp_h264 *e);

/**
 * Encode one frame of BGRX pixels (@stride bytes a row, the encoder's size)
 * into an Annex B stream. @return 1 with *@data and *@len set (valid until
 * the next call), or -1 when the encoder failed.
 */
int vg_rdp_h264_encode(vg_rdp_h264 *e, const uint8_t *bgrx, size_t stride, const uint8_t **data,
                       size_t *len);

#endif
