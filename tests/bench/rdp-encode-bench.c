/*
 * rdp-encode-bench — what the RDP front end's encoders cost, side by side
 * in one run: per frame, the time and bytes of the lossless codecs the
 * gateway uses (planar in 256 × 256 pieces as on the GFX path, planar in
 * 64 × 64 tiles as on the bitmap-update path, a plain copy as for
 * "uncompressed") and of H.264 (AVC420, whole frame: FreeRDP's encoder and
 * vmgate's with three of libx264's presets), on a text-like screen
 * with a small change per frame and on full-screen noise, at 1024 × 768 and
 * 1920 × 1080.
 *
 * Figures, not verdicts: compare the ratios printed in the same run (this
 * machine's other load shifts every absolute number).
 *
 *   rdp-encode-bench [--frames N]     (default 20)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <freerdp/codec/color.h>
#include <freerdp/codec/h264.h>
#include <freerdp/codec/planar.h>
#include <glib.h>
#include <winpr/wlog.h>

#include "rdp-h264.h"

typedef struct result {
    double ms;    /* mean time per frame */
    double bytes; /* mean output per frame */
    bool ok;
} result;

static uint32_t rng = 0x9e3779b9u;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* A terminal-like screen: dark background, rows of light 6x12 "glyphs". */
static void draw_text(uint8_t *px, uint32_t w, uint32_t h, uint32_t frame)
{
    memset(px, 0x10, (size_t)w * h * 4);
    for (uint32_t row = 0; row * 16 + 16 <= h; row++)
        for (uint32_t col = 0; col * 8 + 8 <= w * 3 / 4; col++) {
            uint32_t g =
                (row * 131 + col * 31 + (row == frame % (h / 16) ? frame : 0)) * 2654435761u;
            for (uint32_t y = 2; y < 14; y++)
                for (uint32_t x = 1; x < 7; x++)
                    if ((g >> ((x * 3 + y) % 31)) & 1)
                        memset(px + ((size_t)(row * 16 + y) * w + col * 8 + x) * 4, 0xd0, 4);
        }
}

static void draw_noise(uint8_t *px, uint32_t w, uint32_t h, uint32_t frame)
{
    (void)frame;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        uint32_t v = next();
        memcpy(px + i * 4, &v, 4);
    }
}

typedef void (*draw_fn)(uint8_t *, uint32_t, uint32_t, uint32_t);

static result run_planar(draw_fn draw, uint32_t w, uint32_t h, int frames, uint32_t piece,
                         bool topdown, bool rle)
{
    BITMAP_PLANAR_CONTEXT *pl = freerdp_bitmap_planar_context_new(
        PLANAR_FORMAT_HEADER_NA | (rle ? PLANAR_FORMAT_HEADER_RLE : 0), piece, piece);
    uint8_t *px = g_malloc((size_t)w * h * 4);
    result r = {.ok = pl != NULL};
    double total_us = 0, total_bytes = 0;

    for (int f = 0; f < frames && r.ok; f++) {
        gint64 t0;
        draw(px, w, h, (uint32_t)f);
        t0 = g_get_monotonic_time();
        for (uint32_t y = 0; y < h; y += piece)
            for (uint32_t x = 0; x < w; x += piece) {
                uint32_t pw = MIN(piece, w - x), ph = MIN(piece, h - y), size = 0;
                BYTE *out;
                freerdp_bitmap_planar_context_reset(pl, pw, ph);
                freerdp_planar_topdown_image(pl, topdown);
                out =
                    freerdp_bitmap_compress_planar(pl, px + ((size_t)y * w + x) * 4,
                                                   PIXEL_FORMAT_BGRX32, pw, ph, w * 4, NULL, &size);
                /* The gateway sends a piece raw when planar does not pay. */
                total_bytes += out && size < pw * ph * 4 ? size : pw * ph * 4;
                free(out);
            }
        total_us += (double)(g_get_monotonic_time() - t0);
    }
    r.ms = total_us / frames / 1000.0;
    r.bytes = total_bytes / frames;
    freerdp_bitmap_planar_context_free(pl);
    g_free(px);
    return r;
}

static result run_copy(draw_fn draw, uint32_t w, uint32_t h, int frames)
{
    uint8_t *px = g_malloc((size_t)w * h * 4), *out = g_malloc((size_t)w * h * 4);
    double total_us = 0;
    result r = {.ok = true, .bytes = (double)w * h * 4};

    for (int f = 0; f < frames; f++) {
        gint64 t0;
        draw(px, w, h, (uint32_t)f);
        t0 = g_get_monotonic_time();
        memcpy(out, px, (size_t)w * h * 4);
        total_us += (double)(g_get_monotonic_time() - t0);
    }
    r.ms = total_us / frames / 1000.0;
    g_free(px);
    g_free(out);
    return r;
}

static result run_h264(draw_fn draw, uint32_t w, uint32_t h, int frames)
{
    H264_CONTEXT *enc = h264_context_new(TRUE);
    uint8_t *px = g_malloc((size_t)w * h * 4);
    RECTANGLE_16 all = {0, 0, (UINT16)w, (UINT16)h};
    double total_us = 0, total_bytes = 0;
    result r = {.ok = enc && h264_context_reset(enc, w, h)};

    if (r.ok) {
        h264_context_set_option(enc, H264_CONTEXT_OPTION_RATECONTROL, H264_RATECONTROL_VBR);
        h264_context_set_option(enc, H264_CONTEXT_OPTION_BITRATE, 10000000);
        h264_context_set_option(enc, H264_CONTEXT_OPTION_FRAMERATE, 30);
    }
    for (int f = 0; f < frames && r.ok; f++) {
        RDPGFX_H264_METABLOCK meta = {0};
        BYTE *out = NULL;
        UINT32 size = 0;
        gint64 t0;
        draw(px, w, h, (uint32_t)f);
        t0 = g_get_monotonic_time();
        r.ok = avc420_compress(enc, px, PIXEL_FORMAT_BGRX32, w * 4, w, h, &all, &out, &size,
                               &meta) >= 0;
        total_us += (double)(g_get_monotonic_time() - t0);
        total_bytes += size;
        free_h264_metablock(&meta);
    }
    r.ms = total_us / frames / 1000.0;
    r.bytes = total_bytes / frames;
    h264_context_free(enc);
    g_free(px);
    return r;
}

/* vmgate's own H.264 encoder (rdp-h264.c) with libx264's @preset. */
static result run_vg_h264(draw_fn draw, uint32_t w, uint32_t h, int frames, const char *preset)
{
    vg_rdp_h264 *enc = vg_rdp_h264_new(w, h, preset, NULL);
    uint8_t *px = g_malloc((size_t)w * h * 4);
    double total_us = 0, total_bytes = 0;
    result r = {.ok = enc != NULL};

    for (int f = 0; f < frames && r.ok; f++) {
        const uint8_t *out = NULL;
        size_t size = 0;
        gint64 t0;
        draw(px, w, h, (uint32_t)f);
        t0 = g_get_monotonic_time();
        r.ok = vg_rdp_h264_encode(enc, px, (size_t)w * 4, &out, &size) > 0;
        total_us += (double)(g_get_monotonic_time() - t0);
        total_bytes += (double)size;
    }
    r.ms = total_us / frames / 1000.0;
    r.bytes = total_bytes / frames;
    vg_rdp_h264_free(enc);
    g_free(px);
    return r;
}

static void print_row(const char *what, result r, double raw_bytes)
{
    if (!r.ok) {
        printf("  %-38s  (not available)\n", what);
        return;
    }
    printf("  %-38s %9.2f ms %11.0f bytes  %6.3f of raw\n", what, r.ms, r.bytes,
           r.bytes / raw_bytes);
}

int main(int argc, char **argv)
{
    static const struct {
        uint32_t w, h;
    } sizes[] = {{1024, 768}, {1920, 1080}};
    static const struct {
        const char *name;
        draw_fn draw;
    } contents[] = {{"text, one row changes a frame", draw_text},
                    {"full-screen noise", draw_noise}};
    static const char *const presets[] = {"ultrafast", "superfast", "veryfast"};
    int frames = 20;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc) {
            frames = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--frames N]  (N frames per row, default 20)\n", argv[0]);
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (frames < 1 || frames > 10000) {
        fprintf(stderr, "%s: --frames wants 1..10000\n", argv[0]);
        return 2;
    }
    WLog_SetLogLevel(WLog_GetRoot(), WLOG_FATAL);
    printf("rdp-encode-bench: %d frames per row; time and output per frame\n", frames);
    for (size_t s = 0; s < G_N_ELEMENTS(sizes); s++)
        for (size_t c = 0; c < G_N_ELEMENTS(contents); c++) {
            uint32_t w = sizes[s].w, h = sizes[s].h;
            double raw = (double)w * h * 4;
            printf("\n%ux%u, %s:\n", w, h, contents[c].name);
            print_row("copy (uncompressed)", run_copy(contents[c].draw, w, h, frames), raw);
            print_row("planar, 256x256 pieces (GFX)",
                      run_planar(contents[c].draw, w, h, frames, 256, true, true), raw);
            print_row("planar without RLE, 256x256 pieces",
                      run_planar(contents[c].draw, w, h, frames, 256, true, false), raw);
            print_row("planar, 64x64 tiles (bitmap updates)",
                      run_planar(contents[c].draw, w, h, frames, 64, false, true), raw);
            print_row("H.264, FreeRDP's encoder (medium)", run_h264(contents[c].draw, w, h, frames),
                      raw);
            for (size_t p = 0; p < G_N_ELEMENTS(presets); p++) {
                g_autofree char *what = g_strdup_printf("H.264, vmgate's encoder (%s)", presets[p]);
                print_row(what, run_vg_h264(contents[c].draw, w, h, frames, presets[p]), raw);
            }
        }
    return 0;
}
