#include "util.h"

#include <errno.h>
#include <time.h>

int vg_size_mul(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return -EOVERFLOW;
    *out = r;
    return 0;
}

int vg_size_add(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_add_overflow(a, b, &r))
        return -EOVERFLOW;
    *out = r;
    return 0;
}

int vg_image_size(uint32_t w, uint32_t h, uint32_t bpp, size_t *out)
{
    size_t row, total;
    if (w == 0 || h == 0 || w > VG_MAX_DIMENSION || h > VG_MAX_DIMENSION)
        return -EINVAL;
    if (bpp == 0 || bpp > 4)
        return -EINVAL;
    if (vg_size_mul(w, bpp, &row) < 0 || vg_size_mul(row, h, &total) < 0)
        return -EOVERFLOW;
    *out = total;
    return 0;
}

bool vg_rect_inside(uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint32_t width, uint32_t height)
{
    uint64_t x2 = (uint64_t)x + w, y2 = (uint64_t)y + h;
    return x <= width && y <= height && x2 <= width && y2 <= height;
}

int64_t vg_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
