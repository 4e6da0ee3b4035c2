/*
 * vmgate — the graphics pipeline's H.264 encoder. See rdp-h264.h.
 */
#include "rdp-h264.h"

#include <freerdp/codec/color.h>
#include <freerdp/primitives.h>
#include <glib.h>
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>

/* A keyframe every 10 s at 30 frames a second: the stream runs over TCP and
 * loses nothing, so keyframes only cost bandwidth; a new viewer gets its
 * own encoder, whose first frame is one. */
#define GOP_FRAMES 300
/* The rate libx264 aims at; motion on a desktop is refined to lossless once
 * it pauses (rdp-gfx.c), so this only bounds the blur while it lasts. */
#define BIT_RATE 10000000

struct vg_rdp_h264 {
    AVCodecContext *ctx;
    AVFrame *frame;
    AVPacket *pkt;
    int64_t pts;
};

static char *av_message(const char *what, int r)
{
    char buf[AV_ERROR_MAX_STRING_SIZE] = "";
    av_strerror(r, buf, sizeof(buf));
    return g_strdup_printf("%s: %s", what, buf);
}

/* libavcodec and libx264 write their statistics and notes to stderr at
 * every encoder's end: only their errors belong in vmgated's log. */
static gpointer quiet_av_log(gpointer unused)
{
    (void)unused;
    av_log_set_level(AV_LOG_ERROR);
    return NULL;
}

vg_rdp_h264 *vg_rdp_h264_new(uint32_t width, uint32_t height, const char *preset, char **err)
{
    static GOnce quiet = G_ONCE_INIT;
    /* libx264 by name: another H.264 encoder would ignore the preset. */
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    vg_rdp_h264 *e;
    int r;

    g_once(&quiet, quiet_av_log, NULL);
    if (err)
        *err = NULL;
    if (!codec) {
        if (err)
            *err = g_strdup("libavcodec has no libx264 encoder");
        return NULL;
    }
    if (width == 0 || height == 0 || width % 2 || height % 2 || width > 4096 || height > 4096 ||
        !preset) {
        if (err)
            *err = g_strdup("unsupported size or preset");
        return NULL;
    }
    e = g_new0(vg_rdp_h264, 1);
    e->ctx = avcodec_alloc_context3(codec);
    e->frame = av_frame_alloc();
    e->pkt = av_packet_alloc();
    if (!e->ctx || !e->frame || !e->pkt) {
        if (err)
            *err = g_strdup("out of memory");
        goto fail;
    }
    e->ctx->width = (int)width;
    e->ctx->height = (int)height;
    e->ctx->pix_fmt = AV_PIX_FMT_YUV420P;
    e->ctx->time_base = (AVRational){1, 30};
    e->ctx->framerate = (AVRational){30, 1};
    e->ctx->bit_rate = BIT_RATE;
    e->ctx->gop_size = GOP_FRAMES;
    e->ctx->max_b_frames = 0;
    e->ctx->thread_count = 0; /* libx264 picks (sliced threads with zerolatency) */
    /* libx264 checks the preset when the encoder opens. */
    if ((r = av_opt_set(e->ctx->priv_data, "preset", preset, 0)) < 0 ||
        (r = av_opt_set(e->ctx->priv_data, "tune", "zerolatency", 0)) < 0) {
        if (err)
            *err = av_message("cannot set libx264's options", r);
        goto fail;
    }
    r = avcodec_open2(e->ctx, codec, NULL);
    if (r < 0) {
        if (err)
            *err = av_message("cannot open libx264", r);
        goto fail;
    }
    e->frame->format = AV_PIX_FMT_YUV420P;
    e->frame->width = (int)width;
    e->frame->height = (int)height;
    r = av_frame_get_buffer(e->frame, 0);
    if (r < 0) {
        if (err)
            *err = av_message("cannot allocate a frame", r);
        goto fail;
    }
    return e;

fail:
    vg_rdp_h264_free(e);
    return NULL;
}

void vg_rdp_h264_free(vg_rdp_h264 *e)
{
    if (!e)
        return;
    avcodec_free_context(&e->ctx);
    av_frame_free(&e->frame);
    av_packet_free(&e->pkt);
    g_free(e);
}

int vg_rdp_h264_encode(vg_rdp_h264 *e, const uint8_t *bgrx, size_t stride, const uint8_t **data,
                       size_t *len)
{
    primitives_t *prims = primitives_get();
    prim_size_t roi = {.width = (UINT32)e->ctx->width, .height = (UINT32)e->ctx->height};
    BYTE *planes[3];
    UINT32 steps[3];
    int r;

    /* libx264 may still hold the frame's buffer from the last call (it
     * references, not copies, its input): write into a buffer of our own. */
    if (av_frame_make_writable(e->frame) < 0)
        return -1;
    for (int i = 0; i < 3; i++) {
        planes[i] = e->frame->data[i];
        steps[i] = (UINT32)e->frame->linesize[i];
    }
    if (prims->RGBToYUV420_8u_P3AC4R(bgrx, PIXEL_FORMAT_BGRX32, (UINT32)stride, planes, steps,
                                     &roi) != PRIMITIVES_SUCCESS)
        return -1;
    e->frame->pts = e->pts++;
    av_packet_unref(e->pkt);
    if (avcodec_send_frame(e->ctx, e->frame) < 0)
        return -1;
    /* No B-frames, no lookahead: the frame's packet comes out now. */
    r = avcodec_receive_packet(e->ctx, e->pkt);
    if (r < 0)
        return -1;
    *data = e->pkt->data;
    *len = (size_t)e->pkt->size;
    return 1;
}
