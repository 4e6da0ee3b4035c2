/*
 * vmgate-shot — the tail every mode shares: type, wait, write.
 */
#include <errno.h>
#include <stdio.h>

#include <glib.h>

#include "shot.h"
#include "surface.h"
#include "type-text.h"

int shot_finish(vg_display_source *src, const shot_options *opt)
{
    vg_surface *surface = src->surface;
    char reason[256];
    int r = vg_surface_wait_frame(surface, opt->deadline_us);

    if (r == -ETIMEDOUT) {
        fprintf(stderr, "vmgate-shot: timed out after %d s waiting for the first screen\n",
                opt->timeout_s);
        return SHOT_EXIT_TIMEOUT;
    }
    if (r < 0)
        goto lost;
    if (opt->type_text) {
        r = vg_type_text(src, opt->type_text, opt->key_delay_ms);
        if (r < 0)
            goto lost;
    }
    if (opt->wait_stable_ms >= 0) {
        r = vg_surface_wait_stable(surface, (uint32_t)opt->wait_stable_ms, opt->deadline_us);
        if (r == -ETIMEDOUT) {
            fprintf(stderr,
                    "vmgate-shot: timed out after %d s: the screen did not stay still for "
                    "%d ms\n",
                    opt->timeout_s, opt->wait_stable_ms);
            return SHOT_EXIT_TIMEOUT;
        }
        if (r < 0)
            goto lost;
    }
    r = vg_surface_write_png(surface, opt->output);
    if (r < 0) {
        fprintf(stderr, "vmgate-shot: cannot write %s: %s\n", opt->output, g_strerror(-r));
        return SHOT_EXIT_OUTPUT;
    }
    return SHOT_EXIT_OK;

lost:
    if (!vg_surface_closed_reason(surface, reason, sizeof(reason)))
        g_strlcpy(reason, g_strerror(-r), sizeof(reason));
    fprintf(stderr, "vmgate-shot: connection lost: %s\n", reason);
    return SHOT_EXIT_CONNECT;
}
