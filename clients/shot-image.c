/*
 * vmgate-shot — screen images: surface copies and PNG files (libpng's
 * simplified API reads any PNG as BGRA).
 */
#include "shot-image.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <png.h>

#include "png-writer.h"
#include "surface.h"

void shot_image_clear(shot_image *img)
{
    if (!img)
        return;
    g_free(img->px);
    memset(img, 0, sizeof(*img));
}

int shot_image_from_surface(vg_surface *surface, shot_image *out)
{
    uint32_t w, h;
    size_t stride;
    const uint8_t *src;

    memset(out, 0, sizeof(*out));
    vg_surface_lock(surface);
    w = vg_surface_width_locked(surface);
    h = vg_surface_height_locked(surface);
    stride = vg_surface_stride_locked(surface);
    src = vg_surface_pixels_locked(surface);
    if (w == 0 || h == 0 || !src) {
        vg_surface_unlock(surface);
        return -ENODATA;
    }
    /* The surface bounds its size (VG_MAX_DIMENSION): no overflow here. */
    out->px = g_try_malloc((size_t)w * h * 4);
    if (!out->px) {
        vg_surface_unlock(surface);
        return -ENOMEM;
    }
    for (uint32_t y = 0; y < h; y++)
        memcpy(out->px + (size_t)y * w * 4, src + (size_t)y * stride, (size_t)w * 4);
    vg_surface_unlock(surface);
    out->width = w;
    out->height = h;
    return 0;
}

int shot_image_load_png(const char *path, shot_image *out, char *why, size_t why_len)
{
    png_image png;
    FILE *f;
    int r = -EINVAL;

    memset(out, 0, sizeof(*out));
    memset(&png, 0, sizeof(png));
    png.version = PNG_IMAGE_VERSION;
    f = fopen(path, "rbe");
    if (!f) {
        r = -errno;
        snprintf(why, why_len, "%s: %s", path, g_strerror(errno));
        return r;
    }
    if (!png_image_begin_read_from_stdio(&png, f)) {
        snprintf(why, why_len, "%s: not a PNG file (%s)", path, png.message);
        goto out;
    }
    if (png.width == 0 || png.height == 0 || png.width > SHOT_IMAGE_MAX_DIM ||
        png.height > SHOT_IMAGE_MAX_DIM) {
        snprintf(why, why_len, "%s: %ux%u is not a screen size (1 to %d pixels a side)", path,
                 png.width, png.height, SHOT_IMAGE_MAX_DIM);
        png_image_free(&png);
        goto out;
    }
    /* BGRA is the surface's BGRX with the fourth byte set; transparent
     * pixels are composed on black. */
    png.format = PNG_FORMAT_BGRA;
    out->px = g_malloc((size_t)png.width * png.height * 4);
    if (!png_image_finish_read(&png, NULL, out->px, (png_int_32)png.width * 4, NULL)) {
        snprintf(why, why_len, "%s: cannot decode (%s)", path, png.message);
        shot_image_clear(out);
        goto out;
    }
    out->width = png.width;
    out->height = png.height;
    for (size_t i = 0; i < (size_t)out->width * out->height; i++) {
        uint8_t *p = out->px + i * 4;
        unsigned a = p[3];
        if (a != 255) {
            p[0] = (uint8_t)(p[0] * a / 255);
            p[1] = (uint8_t)(p[1] * a / 255);
            p[2] = (uint8_t)(p[2] * a / 255);
        }
        p[3] = 0;
    }
    r = 0;
out:
    fclose(f);
    return r;
}

int shot_image_save_png(const shot_image *img, const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int r =
        vg_png_encode_bgrx(img->px, img->width, img->height, (size_t)img->width * 4, &data, &len);
    if (r < 0)
        return r;
    r = vg_png_save(path, data, len);
    g_free(data);
    return r;
}

static bool parse_int(const char *s, int min, int max, int *out)
{
    char *end;
    long v;

    if (!*s || !(g_ascii_isdigit(*s) || *s == '-'))
        return false;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

int shot_rect_parse(const char *text, shot_rect *out)
{
    g_auto(GStrv) parts = g_strsplit(text, ",", -1);
    shot_rect r;

    if (g_strv_length(parts) != 4 || !parse_int(parts[0], 0, SHOT_IMAGE_MAX_DIM, &r.x) ||
        !parse_int(parts[1], 0, SHOT_IMAGE_MAX_DIM, &r.y) ||
        !parse_int(parts[2], 1, SHOT_IMAGE_MAX_DIM, &r.w) ||
        !parse_int(parts[3], 1, SHOT_IMAGE_MAX_DIM, &r.h))
        return -EINVAL;
    *out = r;
    return 0;
}

bool shot_rect_inside(const shot_rect *r, uint32_t width, uint32_t height)
{
    return r->x >= 0 && r->y >= 0 && r->w > 0 && r->h > 0 && (int64_t)r->x + r->w <= width &&
           (int64_t)r->y + r->h <= height;
}
