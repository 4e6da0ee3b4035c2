#include "display.h"

#include <errno.h>

int vg_display_source_request_resize(vg_display_source *src, uint32_t width, uint32_t height)
{
    if (!src->ops->request_resize)
        return -ENOTSUP;
    return src->ops->request_resize(src, width, height);
}

int vg_display_source_send_wheel(vg_display_source *src, int32_t x, int32_t y, uint32_t buttons,
                                 int steps)
{
    uint32_t bit = steps > 0 ? VG_BUTTON_WHEEL_DOWN : VG_BUTTON_WHEEL_UP;
    int n = steps > 0 ? steps : -steps;
    int r;

    buttons &= ~(uint32_t)(VG_BUTTON_WHEEL_UP | VG_BUTTON_WHEEL_DOWN);
    if (n > 64)
        n = 64;
    for (int i = 0; i < n; i++) {
        if ((r = vg_display_source_send_pointer(src, x, y, buttons | bit)) < 0)
            return r;
        if ((r = vg_display_source_send_pointer(src, x, y, buttons)) < 0)
            return r;
    }
    return 0;
}
