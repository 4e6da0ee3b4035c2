/*
 * vmgate — surface: framebuffer, damage and listener fan-out.
 * Threading rules are in surface.h.
 */
#include "surface.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "png-writer.h"
#include "util.h"

typedef struct listener {
    const vg_surface_listener_ops *ops;
    void *opaque;
} listener;

struct vg_surface {
    gint refs;

    GMutex lock; /* pixels, size, damage, received, cursor, closed, serial */
    GCond cond;
    uint32_t width, height;
    size_t stride;
    uint8_t *pixels;
    pixman_region32_t damage;   /* changed since the last commit */
    pixman_region32_t received; /* received at least once since the last resize */
    bool complete;              /* received covers the whole surface */
    uint64_t serial;
    int64_t last_change_us;
    vg_cursor cursor;
    bool closed;
    char *reason;

    GMutex listeners_lock;
    GArray *listeners; /* of listener */
};

vg_surface *vg_surface_new(void)
{
    vg_surface *s = g_new0(vg_surface, 1);
    s->refs = 1;
    g_mutex_init(&s->lock);
    g_cond_init(&s->cond);
    g_mutex_init(&s->listeners_lock);
    pixman_region32_init(&s->damage);
    pixman_region32_init(&s->received);
    s->listeners = g_array_new(FALSE, FALSE, sizeof(listener));
    s->last_change_us = vg_now_us();
    return s;
}

vg_surface *vg_surface_ref(vg_surface *s)
{
    g_atomic_int_inc(&s->refs);
    return s;
}

void vg_surface_unref(vg_surface *s)
{
    if (!s || !g_atomic_int_dec_and_test(&s->refs))
        return;
    pixman_region32_fini(&s->damage);
    pixman_region32_fini(&s->received);
    g_array_free(s->listeners, TRUE);
    g_free(s->pixels);
    g_free(s->cursor.argb);
    g_free(s->reason);
    g_mutex_clear(&s->lock);
    g_cond_clear(&s->cond);
    g_mutex_clear(&s->listeners_lock);
    g_free(s);
}

int vg_surface_resize(vg_surface *s, uint32_t width, uint32_t height)
{
    size_t bytes;
    uint8_t *pixels;
    int r = vg_image_size(width, height, VG_SURFACE_BPP, &bytes);

    if (r < 0)
        return r;
    pixels = g_try_malloc0(bytes);
    if (!pixels)
        return -ENOMEM;

    g_mutex_lock(&s->lock);
    g_free(s->pixels);
    s->pixels = pixels;
    s->width = width;
    s->height = height;
    s->stride = (size_t)width * VG_SURFACE_BPP;
    pixman_region32_clear(&s->damage);
    pixman_region32_clear(&s->received);
    s->complete = false;
    s->serial++;
    s->last_change_us = vg_now_us();
    g_cond_broadcast(&s->cond);
    g_mutex_unlock(&s->lock);

    g_mutex_lock(&s->listeners_lock);
    for (guint i = 0; i < s->listeners->len; i++) {
        listener *l = &g_array_index(s->listeners, listener, i);
        l->ops->resize(l->opaque, width, height);
    }
    g_mutex_unlock(&s->listeners_lock);
    return 0;
}

int vg_surface_write(vg_surface *s, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
                     const uint8_t *src, size_t src_stride)
{
    int64_t first = -1, last = -1;
    size_t row_bytes = (size_t)w * VG_SURFACE_BPP;

    g_mutex_lock(&s->lock);
    if (!s->pixels || !vg_rect_inside(x, y, w, h, s->width, s->height)) {
        g_mutex_unlock(&s->lock);
        return -ERANGE;
    }
    if (w == 0 || h == 0) {
        g_mutex_unlock(&s->lock);
        return 0;
    }
    for (uint32_t row = 0; row < h; row++) {
        uint8_t *dst = s->pixels + (size_t)(y + row) * s->stride + (size_t)x * VG_SURFACE_BPP;
        const uint8_t *in = src + (size_t)row * src_stride;
        if (memcmp(dst, in, row_bytes) != 0) {
            memcpy(dst, in, row_bytes);
            if (first < 0)
                first = row;
            last = row;
        }
    }
    pixman_region32_union_rect(&s->received, &s->received, (int)x, (int)y, w, h);
    if (first >= 0)
        pixman_region32_union_rect(&s->damage, &s->damage, (int)x, (int)(y + first), w,
                                   (unsigned)(last - first + 1));
    g_mutex_unlock(&s->lock);
    return first >= 0;
}

void vg_surface_commit(vg_surface *s)
{
    pixman_region32_t damage;
    pixman_box32_t whole;
    bool changed;

    pixman_region32_init(&damage);
    g_mutex_lock(&s->lock);
    if (!s->complete && s->width > 0) {
        whole = (pixman_box32_t){0, 0, (int32_t)s->width, (int32_t)s->height};
        s->complete = pixman_region32_contains_rectangle(&s->received, &whole) == PIXMAN_REGION_IN;
    }
    changed = pixman_region32_not_empty(&s->damage);
    if (changed) {
        pixman_region32_copy(&damage, &s->damage);
        pixman_region32_clear(&s->damage);
        s->serial++;
        s->last_change_us = vg_now_us();
    }
    g_cond_broadcast(&s->cond);
    g_mutex_unlock(&s->lock);

    if (changed) {
        g_mutex_lock(&s->listeners_lock);
        for (guint i = 0; i < s->listeners->len; i++) {
            listener *l = &g_array_index(s->listeners, listener, i);
            l->ops->damage(l->opaque, &damage);
        }
        g_mutex_unlock(&s->listeners_lock);
    }
    pixman_region32_fini(&damage);
}

int vg_surface_set_cursor(vg_surface *s, const vg_cursor *cursor)
{
    size_t bytes;
    uint32_t *copy;
    int r = vg_image_size(cursor->width, cursor->height, 4, &bytes);

    if (r < 0)
        return r;
    if (cursor->hot_x >= cursor->width || cursor->hot_y >= cursor->height)
        return -EINVAL;
    copy = g_try_malloc(bytes);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, cursor->argb, bytes);

    /* The cursor is replaced with the listener lock held (lock order:
     * listeners, then pixels), so listeners — also a new one in
     * vg_surface_add_listener — read a stable shape under that lock. */
    g_mutex_lock(&s->listeners_lock);
    g_mutex_lock(&s->lock);
    g_free(s->cursor.argb);
    s->cursor = *cursor;
    s->cursor.argb = copy;
    g_mutex_unlock(&s->lock);
    for (guint i = 0; i < s->listeners->len; i++) {
        listener *l = &g_array_index(s->listeners, listener, i);
        if (l->ops->cursor)
            l->ops->cursor(l->opaque, &s->cursor);
    }
    g_mutex_unlock(&s->listeners_lock);
    return 0;
}

void vg_surface_close(vg_surface *s, const char *reason)
{
    g_mutex_lock(&s->listeners_lock);
    g_mutex_lock(&s->lock);
    if (s->closed) {
        g_mutex_unlock(&s->lock);
        g_mutex_unlock(&s->listeners_lock);
        return;
    }
    s->closed = true;
    s->reason = g_strdup(reason ? reason : "closed");
    g_cond_broadcast(&s->cond);
    g_mutex_unlock(&s->lock);

    for (guint i = 0; i < s->listeners->len; i++) {
        listener *l = &g_array_index(s->listeners, listener, i);
        l->ops->closed(l->opaque, s->reason);
    }
    g_array_set_size(s->listeners, 0);
    g_mutex_unlock(&s->listeners_lock);
}

int vg_surface_add_listener(vg_surface *s, const vg_surface_listener_ops *ops, void *opaque)
{
    listener l = {ops, opaque};
    uint32_t w, h;

    g_mutex_lock(&s->listeners_lock);
    g_mutex_lock(&s->lock);
    if (s->closed) {
        g_mutex_unlock(&s->lock);
        g_mutex_unlock(&s->listeners_lock);
        return -EPIPE;
    }
    w = s->width;
    h = s->height;
    g_mutex_unlock(&s->lock);
    g_array_append_val(s->listeners, l);
    if (w > 0)
        ops->resize(opaque, w, h);
    /* The producer only replaces the cursor with the listener lock held, so
     * it is stable here: a late listener learns the current shape too. */
    if (ops->cursor && s->cursor.argb)
        ops->cursor(opaque, &s->cursor);
    g_mutex_unlock(&s->listeners_lock);
    return 0;
}

void vg_surface_remove_listener(vg_surface *s, const vg_surface_listener_ops *ops, void *opaque)
{
    g_mutex_lock(&s->listeners_lock);
    for (guint i = 0; i < s->listeners->len; i++) {
        listener *l = &g_array_index(s->listeners, listener, i);
        if (l->ops == ops && l->opaque == opaque) {
            g_array_remove_index(s->listeners, i);
            break;
        }
    }
    g_mutex_unlock(&s->listeners_lock);
}

void vg_surface_lock(vg_surface *s)
{
    g_mutex_lock(&s->lock);
}

void vg_surface_unlock(vg_surface *s)
{
    g_mutex_unlock(&s->lock);
}

const uint8_t *vg_surface_pixels_locked(vg_surface *s)
{
    return s->pixels;
}

uint32_t vg_surface_width_locked(vg_surface *s)
{
    return s->width;
}

uint32_t vg_surface_height_locked(vg_surface *s)
{
    return s->height;
}

size_t vg_surface_stride_locked(vg_surface *s)
{
    return s->stride;
}

/* Wait on the condition until @deadline_us (monotonic); returns false on timeout. */
static bool wait_until_locked(vg_surface *s, int64_t deadline_us)
{
    int64_t now = vg_now_us();
    if (now >= deadline_us)
        return false;
    g_cond_wait_until(&s->cond, &s->lock, g_get_monotonic_time() + (deadline_us - now));
    return true;
}

int vg_surface_wait_frame(vg_surface *s, int64_t deadline_us)
{
    int r = 0;
    g_mutex_lock(&s->lock);
    while (!s->complete && !s->closed) {
        if (!wait_until_locked(s, deadline_us)) {
            r = -ETIMEDOUT;
            break;
        }
    }
    if (r == 0 && !s->complete)
        r = -EPIPE;
    g_mutex_unlock(&s->lock);
    return r;
}

int vg_surface_wait_stable(vg_surface *s, uint32_t stable_ms, int64_t deadline_us)
{
    int r = 0;
    g_mutex_lock(&s->lock);
    for (;;) {
        int64_t now = vg_now_us(), quiet_until;
        if (s->closed) {
            r = -EPIPE;
            break;
        }
        quiet_until = s->last_change_us + (int64_t)stable_ms * 1000;
        if (s->complete && now >= quiet_until)
            break;
        if (now >= deadline_us) {
            r = -ETIMEDOUT;
            break;
        }
        if (!s->complete || quiet_until > deadline_us)
            quiet_until = deadline_us;
        g_cond_wait_until(&s->cond, &s->lock, g_get_monotonic_time() + (quiet_until - now));
    }
    g_mutex_unlock(&s->lock);
    return r;
}

uint64_t vg_surface_serial(vg_surface *s)
{
    uint64_t v;
    g_mutex_lock(&s->lock);
    v = s->serial;
    g_mutex_unlock(&s->lock);
    return v;
}

int vg_surface_encode_png(vg_surface *s, uint8_t **out, size_t *out_len)
{
    int r;
    g_mutex_lock(&s->lock);
    if (!s->pixels) {
        g_mutex_unlock(&s->lock);
        return -ENODATA;
    }
    r = vg_png_encode_bgrx(s->pixels, s->width, s->height, s->stride, out, out_len);
    g_mutex_unlock(&s->lock);
    return r;
}

int vg_surface_encode_png_scaled(vg_surface *s, uint32_t max_w, uint32_t max_h, uint8_t **out,
                                 size_t *out_len)
{
    pixman_image_t *src, *dst;
    pixman_transform_t t;
    uint32_t w, h;
    int r;

    g_mutex_lock(&s->lock);
    if (!s->pixels) {
        g_mutex_unlock(&s->lock);
        return -ENODATA;
    }
    if (max_w == 0 || max_h == 0 || (s->width <= max_w && s->height <= max_h)) {
        r = vg_png_encode_bgrx(s->pixels, s->width, s->height, s->stride, out, out_len);
        g_mutex_unlock(&s->lock);
        return r;
    }
    /* The larger of the two ratios decides; each side at least 1 pixel. */
    if ((uint64_t)s->width * max_h >= (uint64_t)s->height * max_w) {
        w = max_w;
        h = MAX(1, (uint32_t)((uint64_t)s->height * max_w / s->width));
    } else {
        h = max_h;
        w = MAX(1, (uint32_t)((uint64_t)s->width * max_h / s->height));
    }
    src = pixman_image_create_bits(PIXMAN_x8r8g8b8, (int)s->width, (int)s->height,
                                   (uint32_t *)(void *)s->pixels, (int)s->stride);
    dst = pixman_image_create_bits(PIXMAN_x8r8g8b8, (int)w, (int)h, NULL, 0);
    if (!src || !dst) {
        g_mutex_unlock(&s->lock);
        if (src)
            pixman_image_unref(src);
        if (dst)
            pixman_image_unref(dst);
        return -ENOMEM;
    }
    pixman_transform_init_scale(&t, pixman_double_to_fixed((double)s->width / w),
                                pixman_double_to_fixed((double)s->height / h));
    pixman_image_set_transform(src, &t);
    pixman_image_set_filter(src, PIXMAN_FILTER_GOOD, NULL, 0);
    pixman_image_composite32(PIXMAN_OP_SRC, src, NULL, dst, 0, 0, 0, 0, 0, 0, (int)w, (int)h);
    pixman_image_unref(src);
    g_mutex_unlock(&s->lock);
    r = vg_png_encode_bgrx((const uint8_t *)pixman_image_get_data(dst), w, h,
                           (size_t)pixman_image_get_stride(dst), out, out_len);
    pixman_image_unref(dst);
    return r;
}

int vg_surface_write_png(vg_surface *s, const char *path)
{
    uint8_t *png = NULL;
    size_t len = 0;
    int r = vg_surface_encode_png(s, &png, &len);
    if (r < 0)
        return r;
    r = vg_png_save(path, png, len);
    g_free(png);
    return r;
}

bool vg_surface_closed_reason(vg_surface *s, char *buf, size_t len)
{
    bool closed;
    g_mutex_lock(&s->lock);
    closed = s->closed;
    if (closed && buf && len)
        g_strlcpy(buf, s->reason, len);
    g_mutex_unlock(&s->lock);
    return closed;
}
