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
#include <freerdp/freerdp.h>
#include <glib.h>

#include "log.h"
#include "util.h"

#define TAG "rdp"

/* Pieces of an incompressible area sent uncompressed before planar is tried
 * there again. */
#define VG_RDP_RAW_PIECES 8
#define FLAGS             (PLANAR_FORMAT_HEADER_NA | PLANAR_FORMAT_HEADER_RLE)

struct vg_rdp_planar {
    BITMAP_PLANAR_CONTEXT *ctx; /* the caller's thread */
    bool topdown;
    uint32_t piece;
    uint32_t side; /* areas per screen side: VG_MAX_DIMENSION / piece, rounded up */
    uint8_t *skip; /* per area: pieces still to send without trying planar */
};

/* ---- encoding on all cores ----
 *
 * Pieces are independent, so a frame's pieces are encoded by a pool shared
 * by every peer, one thread per core, each with a planar context of its own
 * (thread-local, freed when the thread ends). The peer's thread waits for
 * its batch and then sends the pieces in order. */

typedef struct batch {
    const uint8_t *pixels;
    size_t stride;
    bool topdown;
    GMutex lock;
    GCond cond;
    size_t left; /* under lock */
} batch;

typedef struct job {
    batch *b;
    vg_rdp_piece *piece;
} job;

static void free_thread_ctx(gpointer ctx)
{
    freerdp_bitmap_planar_context_free(ctx);
}

static GPrivate thread_ctx = G_PRIVATE_INIT(free_thread_ctx);

static uint8_t *compress(BITMAP_PLANAR_CONTEXT *ctx, bool topdown, const uint8_t *pixels,
                         size_t stride, vg_rdp_piece *pc)
{
    const uint8_t *src = pixels + (size_t)pc->y * stride + (size_t)pc->x * 4;

    pc->size = 0;
    if (!ctx || !freerdp_bitmap_planar_context_reset(ctx, pc->w, pc->h))
        return NULL;
    /* Always set: a pool thread's context serves both orientations, and a
     * reset keeps the last one. */
    freerdp_planar_topdown_image(ctx, topdown);
    return freerdp_bitmap_compress_planar(ctx, src, PIXEL_FORMAT_BGRX32, pc->w, pc->h,
                                          (UINT32)stride, NULL, &pc->size);
}

static void run_job(gpointer data, gpointer user_data)
{
    job *j = data;
    BITMAP_PLANAR_CONTEXT *ctx = g_private_get(&thread_ctx);

    (void)user_data;
    if (!ctx) {
        ctx = freerdp_bitmap_planar_context_new(FLAGS, VG_RDP_PLANAR_MAX_PIECE,
                                                VG_RDP_PLANAR_MAX_PIECE);
        g_private_set(&thread_ctx, ctx);
    }
    j->piece->planar = compress(ctx, j->b->topdown, j->b->pixels, j->b->stride, j->piece);
    g_mutex_lock(&j->b->lock);
    if (--j->b->left == 0)
        g_cond_signal(&j->b->cond);
    g_mutex_unlock(&j->b->lock);
}

static gpointer make_pool(gpointer unused)
{
    guint cores = g_get_num_processors();

    (void)unused;
    /* One core: nothing to share the work with. */
    return cores > 1 ? g_thread_pool_new(run_job, NULL, (gint)cores, FALSE, NULL) : NULL;
}

static GThreadPool *shared_pool(void)
{
    static GOnce once = G_ONCE_INIT;

    return g_once(&once, make_pool, NULL);
}

/* ---- is the library's planar encoder exact? ----
 *
 * FreeRDP 3.15 (Debian 13) gets the sign of row-to-row deltas wrong: its
 * planar output decodes, with 3.10's decoder and its own alike, to other
 * colours wherever a channel's difference to the one above it, taken as a
 * signed byte, is negative: text's light strokes on a dark background come
 * back with their top bit cleared. 3.10 (Debian 12's backports) is exact. The decoder
 * of either takes correct planar data back exactly, so one probe, whose
 * rows step through every delta of every plane, encoded and decoded in both
 * orientations, tells whether planar output can be sent. */

#define PROBE_W 256
#define PROBE_H 3

static bool probe_orientation(bool topdown)
{
    uint32_t px[PROBE_W * PROBE_H];
    uint8_t out[PROBE_W * PROBE_H * 4] = {0};
    BITMAP_PLANAR_CONTEXT *enc = freerdp_bitmap_planar_context_new(FLAGS, PROBE_W, PROBE_H);
    BITMAP_PLANAR_CONTEXT *dec = freerdp_bitmap_planar_context_new(0, PROBE_W, PROBE_H);
    uint8_t *data = NULL;
    uint32_t size = 0;
    bool exact = false;

    /* Rows 0 and 2 alike, row 1 through every value: rows 0 to 1 and 1 to 2
     * make every delta modulo 256, up and down, in each of B, G and R. */
    for (uint32_t x = 0; x < PROBE_W; x++) {
        uint32_t edge = 0x80FF00u, mid = ((x ^ 0x80u) << 16) | ((0xFFu - x) << 8) | x;
        px[x] = px[2 * PROBE_W + x] = edge;
        px[PROBE_W + x] = mid;
    }
    if (!enc || !dec)
        goto out;
    freerdp_planar_topdown_image(enc, topdown);
    data = freerdp_bitmap_compress_planar(enc, (const uint8_t *)px, PIXEL_FORMAT_BGRX32, PROBE_W,
                                          PROBE_H, PROBE_W * 4, NULL, &size);
    if (!data || !planar_decompress(dec, data, size, PROBE_W, PROBE_H, out, PIXEL_FORMAT_BGRX32,
                                    PROBE_W * 4, 0, 0, PROBE_W, PROBE_H, !topdown))
        goto out;
    exact = true;
    for (size_t i = 0; i < PROBE_W * PROBE_H && exact; i++) {
        uint32_t got;
        memcpy(&got, out + i * 4, 4);
        exact = (got & 0xFFFFFFu) == px[i];
    }
out:
    free(data);
    freerdp_bitmap_planar_context_free(dec);
    freerdp_bitmap_planar_context_free(enc);
    return exact;
}

static gpointer probe(gpointer unused)
{
    bool exact = probe_orientation(true) && probe_orientation(false);

    (void)unused;
    if (!exact)
        vg_warning(TAG,
                   "FreeRDP %s's planar encoder does not decode back to its input: "
                   "lossless pieces are sent uncompressed (more bandwidth, same pixels)",
                   freerdp_get_version_string());
    return GINT_TO_POINTER(exact ? 1 : 2);
}

bool vg_rdp_planar_exact(void)
{
    static GOnce once = G_ONCE_INIT;

    return GPOINTER_TO_INT(g_once(&once, probe, NULL)) == 1;
}

/* ---- the encoder ---- */

vg_rdp_planar *vg_rdp_planar_new(uint32_t piece, bool topdown)
{
    vg_rdp_planar *pl;

    if (piece == 0 || piece > VG_RDP_PLANAR_MAX_PIECE)
        return NULL;
    pl = g_new0(vg_rdp_planar, 1);
    pl->topdown = topdown;
    pl->piece = piece;
    pl->side = (VG_MAX_DIMENSION + piece - 1) / piece;
    pl->skip = g_malloc0((size_t)pl->side * pl->side);
    pl->ctx = freerdp_bitmap_planar_context_new(FLAGS, piece, piece);
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

static uint8_t *skip_of(vg_rdp_planar *pl, const vg_rdp_piece *pc)
{
    return &pl->skip[MIN(pc->y / pl->piece, pl->side - 1) * pl->side +
                     MIN(pc->x / pl->piece, pl->side - 1)];
}

void vg_rdp_planar_encode_all(vg_rdp_planar *pl, const uint8_t *pixels, size_t stride,
                              vg_rdp_piece *pieces, size_t n)
{
    g_autofree job *jobs = NULL;
    g_autofree bool *tried = g_new0(bool, n);
    batch b = {.pixels = pixels, .stride = stride, .topdown = pl->topdown};
    GThreadPool *pool = n > 1 ? shared_pool() : NULL;
    size_t ntried = 0;
    bool exact = vg_rdp_planar_exact();

    for (size_t i = 0; i < n; i++) {
        uint8_t *skip = skip_of(pl, &pieces[i]);
        pieces[i].planar = NULL;
        pieces[i].size = 0;
        if (!exact)
            continue;
        if (*skip > 0)
            (*skip)--;
        else
            tried[i] = true, ntried++;
    }
    if (pool && ntried > 1) {
        jobs = g_new(job, ntried);
        g_mutex_init(&b.lock);
        g_cond_init(&b.cond);
        b.left = ntried;
        for (size_t i = 0, k = 0; i < n; i++) {
            if (!tried[i])
                continue;
            jobs[k] = (job){&b, &pieces[i]};
            /* Not pushed (no thread could be made): done here. */
            if (!g_thread_pool_push(pool, &jobs[k], NULL))
                run_job(&jobs[k], NULL);
            k++;
        }
        g_mutex_lock(&b.lock);
        while (b.left > 0)
            g_cond_wait(&b.cond, &b.lock);
        g_mutex_unlock(&b.lock);
        g_mutex_clear(&b.lock);
        g_cond_clear(&b.cond);
    } else {
        for (size_t i = 0; i < n; i++)
            if (tried[i])
                pieces[i].planar = compress(pl->ctx, pl->topdown, pixels, stride, &pieces[i]);
    }
    for (size_t i = 0; i < n; i++) {
        vg_rdp_piece *pc = &pieces[i];
        size_t raw = (size_t)pc->w * pc->h * 4;
        if (!tried[i])
            continue;
        /* No better than three bytes a pixel: RLE found nothing to do. */
        if (pc->planar && pc->size >= raw / 4 * 3)
            *skip_of(pl, pc) = VG_RDP_RAW_PIECES;
        if (pc->planar && pc->size >= raw) {
            free(pc->planar);
            pc->planar = NULL;
        }
        if (!pc->planar)
            pc->size = 0;
    }
}

vg_rdp_piece *vg_rdp_pieces(const pixman_region32_t *region, uint32_t piece, size_t *count)
{
    int n = 0;
    const pixman_box32_t *b = pixman_region32_rectangles((pixman_region32_t *)region, &n);
    GArray *out = g_array_new(FALSE, FALSE, sizeof(vg_rdp_piece));

    for (int i = 0; i < n; i++)
        for (int y = b[i].y1; y < b[i].y2; y += (int)piece)
            for (int x = b[i].x1; x < b[i].x2; x += (int)piece) {
                vg_rdp_piece pc = {.x = (uint32_t)x,
                                   .y = (uint32_t)y,
                                   .w = (uint32_t)MIN((int)piece, b[i].x2 - x),
                                   .h = (uint32_t)MIN((int)piece, b[i].y2 - y)};
                g_array_append_val(out, pc);
            }
    *count = out->len;
    return (vg_rdp_piece *)g_array_free(out, FALSE);
}

void vg_rdp_planar_forget(vg_rdp_planar *pl)
{
    memset(pl->skip, 0, (size_t)pl->side * pl->side);
}
