/*
 * vmgate-shot — the tail every mode shares: the first screen, then the
 * script's steps.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include <glib.h>

#include "shot-run.h"
#include "shot.h"
#include "surface.h"

void shot_fail(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "vmgate-shot: %s\n", msg);
    if (buf && len)
        g_strlcpy(buf, msg, len);
}

int shot_finish(vg_display_source *src, const shot_options *opt)
{
    vg_surface *surface = src->surface;
    char reason[256];
    shot_run_options run = {
        .key_delay_ms = opt->key_delay_ms,
        .artifacts_dir = opt->artifacts_dir,
        .artifacts_prefix = opt->artifacts_prefix,
        .ocr = opt->ocr,
    };
    int r = vg_surface_wait_frame(surface, opt->deadline_us);

    if (r == -ETIMEDOUT) {
        g_autofree char *m =
            g_strdup_printf("timed out after %d s waiting for the first screen", opt->timeout_s);
        fprintf(stderr, "vmgate-shot: %s\n", m);
        shot_results_add_connection_failure(opt->results, opt->script, m);
        return SHOT_EXIT_TIMEOUT;
    }
    if (r < 0) {
        g_autofree char *m = NULL;
        if (!vg_surface_closed_reason(surface, reason, sizeof(reason)))
            g_strlcpy(reason, g_strerror(-r), sizeof(reason));
        m = g_strdup_printf("connection lost: %s", reason);
        fprintf(stderr, "vmgate-shot: %s\n", m);
        shot_results_add_connection_failure(opt->results, opt->script, m);
        return SHOT_EXIT_CONNECT;
    }
    return shot_run_script(src, opt->script, &run, opt->results);
}
