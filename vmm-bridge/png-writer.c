/*
 * vmgate — PNG writer. libpng reports errors by longjmp; everything that
 * must survive the jump is volatile or lives outside the jump's scope.
 */
#include "png-writer.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <png.h>

#include "util.h"

typedef struct membuf {
    uint8_t *data;
    size_t len, cap;
    bool failed;
} membuf;

static void membuf_write(png_structp png, png_bytep data, png_size_t len)
{
    membuf *b = png_get_io_ptr(png);
    size_t need;

    if (b->failed)
        return;
    if (vg_size_add(b->len, len, &need) < 0) {
        b->failed = true;
        return;
    }
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < need) {
            if (vg_size_mul(cap, 2, &cap) < 0) {
                b->failed = true;
                return;
            }
        }
        uint8_t *n = g_try_realloc(b->data, cap);
        if (!n) {
            b->failed = true;
            return;
        }
        b->data = n;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len = need;
}

static void membuf_flush(png_structp png)
{
    (void)png;
}

int vg_png_encode_bgrx(const uint8_t *pixels, uint32_t width, uint32_t height, size_t stride,
                       uint8_t **out, size_t *out_len)
{
    png_structp png = NULL;
    png_infop info = NULL;
    membuf buf = {0};
    size_t bytes;
    int r = vg_image_size(width, height, 4, &bytes);
    int volatile result = -EIO;

    if (r < 0)
        return r;
    if (stride < (size_t)width * 4)
        return -EINVAL;

    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    if (!png)
        return -ENOMEM;
    info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return -ENOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        g_free(buf.data);
        return result;
    }
    png_set_write_fn(png, &buf, membuf_write, membuf_flush);
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    /* Screens are mostly flat text or photos; a fast level keeps a 1080p
     * screenshot in the tens of milliseconds. */
    png_set_compression_level(png, 2);
    png_write_info(png, info);
    png_set_bgr(png);
    png_set_filler(png, 0, PNG_FILLER_AFTER);
    for (uint32_t y = 0; y < height; y++)
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * stride));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);

    if (buf.failed) {
        g_free(buf.data);
        return -ENOMEM;
    }
    *out = buf.data;
    *out_len = buf.len;
    return 0;
}

int vg_png_save(const char *path, const uint8_t *data, size_t len)
{
    char *tmp = g_strdup_printf("%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int r = 0;

    if (fd < 0) {
        r = -errno;
        g_free(tmp);
        return r;
    }
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        data += n;
        len -= (size_t)n;
    }
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0)
        unlink(tmp);
    g_free(tmp);
    return r;
}
