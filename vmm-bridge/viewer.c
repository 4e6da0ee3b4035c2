/*
 * vmgate — a viewer's input. See viewer.h.
 */
#include "viewer.h"

#include <errno.h>

#include <glib.h>

/* QEMU key numbers are 1..0xff (an 0xe0-prefixed scancode is 0x80 | code). */
#define QNUMS 256

struct vg_viewer {
    GMutex lock;
    vg_display_source *source;
    vg_viewer_may_input_fn may_input;
    void *opaque;
    uint64_t keys_down[QNUMS / 64]; /* sent pressed and not released */
    uint32_t buttons;               /* VG_BUTTON_* last sent held */
    int32_t x, y;                   /* last pointer position sent */
};

vg_viewer *vg_viewer_new(vg_display_source *source, vg_viewer_may_input_fn may_input, void *opaque)
{
    vg_viewer *v = g_new0(vg_viewer, 1);

    g_mutex_init(&v->lock);
    v->source = source;
    v->may_input = may_input;
    v->opaque = opaque;
    return v;
}

static void release_locked(vg_viewer *v);

/* Whether the viewer may give input now. A viewer whose role no longer
 * allows it (demoted while holding a key) lets go of what it holds, or the
 * key would stay down until someone else pressed it. */
static bool allowed(vg_viewer *v)
{
    if (!v->may_input || v->may_input(v->opaque))
        return true;
    release_locked(v);
    return false;
}

void vg_viewer_key(vg_viewer *v, uint16_t qnum, uint32_t keysym, bool down)
{
    g_mutex_lock(&v->lock);
    if (allowed(v)) {
        if (qnum && qnum < QNUMS) {
            if (down)
                v->keys_down[qnum / 64] |= 1ull << (qnum % 64);
            else
                v->keys_down[qnum / 64] &= ~(1ull << (qnum % 64));
        }
        vg_display_source_send_key(v->source, qnum, keysym, down);
    }
    g_mutex_unlock(&v->lock);
}

void vg_viewer_pointer(vg_viewer *v, int32_t x, int32_t y, uint32_t buttons)
{
    g_mutex_lock(&v->lock);
    if (allowed(v)) {
        v->x = x;
        v->y = y;
        v->buttons = buttons & VG_BUTTON_MASK;
        vg_display_source_send_pointer(v->source, x, y, v->buttons);
    }
    g_mutex_unlock(&v->lock);
}

void vg_viewer_wheel(vg_viewer *v, int32_t x, int32_t y, uint32_t buttons, int steps)
{
    g_mutex_lock(&v->lock);
    if (allowed(v)) {
        v->x = x;
        v->y = y;
        v->buttons =
            buttons & VG_BUTTON_MASK & ~(uint32_t)(VG_BUTTON_WHEEL_UP | VG_BUTTON_WHEEL_DOWN);
        vg_display_source_send_wheel(v->source, x, y, v->buttons, steps);
    }
    g_mutex_unlock(&v->lock);
}

int vg_viewer_request_resize(vg_viewer *v, uint32_t width, uint32_t height)
{
    int r = -EPERM;

    g_mutex_lock(&v->lock);
    if (allowed(v))
        r = vg_display_source_request_resize(v->source, width, height);
    g_mutex_unlock(&v->lock);
    return r;
}

static void release_locked(vg_viewer *v)
{
    for (unsigned q = 1; q < QNUMS; q++) {
        if (v->keys_down[q / 64] & (1ull << (q % 64))) {
            v->keys_down[q / 64] &= ~(1ull << (q % 64));
            vg_display_source_send_key(v->source, (uint16_t)q, 0, false);
        }
    }
    if (v->buttons) {
        v->buttons = 0;
        vg_display_source_send_pointer(v->source, v->x, v->y, 0);
    }
}

void vg_viewer_release(vg_viewer *v)
{
    g_mutex_lock(&v->lock);
    release_locked(v);
    g_mutex_unlock(&v->lock);
}

void vg_viewer_free(vg_viewer *v)
{
    if (!v)
        return;
    vg_viewer_release(v);
    g_mutex_clear(&v->lock);
    g_free(v);
}
