/*
 * vmgate-shot — the step runner.
 *
 * Waiting steps look at the screen each time it changed (the surface's
 * serial), at most every POLL_MS, until their deadline; nothing waits
 * longer than its step's timeout. Text is read at most every OCR_EVERY_MS,
 * as reading a screen costs Tesseract a few hundred milliseconds.
 *
 * Threading: see shot-run.h.
 */
#include "shot-run.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "shot.h"
#include "surface.h"
#include "util.h"

#define POLL_MS       50
#define OCR_EVERY_MS  500
#define DRAG_STEPS    10
#define TEXT_IN_ERROR 300

typedef struct runner {
    vg_display_source *src;
    vg_surface *surface;
    const shot_script *script;
    const shot_run_options *opt;
    int32_t x, y;     /* pointer position */
    uint32_t buttons; /* buttons held */
    int exit_code;    /* for a failure: _TIMEOUT unless set otherwise */
    bool broken;      /* the step could not check at all: expect-fail keeps it failed */
} runner;

static void result_free(gpointer p)
{
    shot_result *r = p;
    if (!r)
        return;
    g_free(r->message);
    g_free(r->screen);
    g_free(r->diff);
    g_free(r->text);
    g_free(r);
}

GPtrArray *shot_results_new(void)
{
    return g_ptr_array_new_with_free_func(result_free);
}

void shot_results_add_connection_failure(GPtrArray *results, const shot_script *script,
                                         const char *message)
{
    shot_result *r = g_new0(shot_result, 1);

    r->status = SHOT_FAILED;
    r->similarity = -1;
    r->message = g_strdup(message);
    g_ptr_array_add(results, r);
    for (guint i = 0; script && i < script->steps->len; i++) {
        shot_result *s = g_new0(shot_result, 1);
        s->step = script->steps->pdata[i];
        s->index = (int)i + 1;
        s->status = SHOT_SKIPPED;
        s->similarity = -1;
        s->message = g_strdup("not run: no connection");
        g_ptr_array_add(results, s);
    }
}

static void G_GNUC_PRINTF(2, 3) set_message(shot_result *res, const char *fmt, ...)
{
    va_list ap;
    g_free(res->message);
    va_start(ap, fmt);
    res->message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

static bool lost(runner *r, shot_result *res)
{
    char reason[256];
    if (!vg_surface_closed_reason(r->surface, reason, sizeof(reason)))
        return false;
    set_message(res, "connection lost: %s", reason);
    r->exit_code = SHOT_EXIT_CONNECT;
    return true;
}

/* A failed send means the connection is gone. */
static int sent(runner *r, shot_result *res, int rc)
{
    if (rc < 0 && !lost(r, res)) {
        set_message(res, "connection lost: %s", g_strerror(-rc));
        r->exit_code = SHOT_EXIT_CONNECT;
    }
    return rc;
}

static void pause_ms(int ms)
{
    if (ms > 0)
        g_usleep((gulong)ms * 1000);
}

static int send_keys(runner *r, const shot_step *st, shot_result *res)
{
    for (guint i = 0; i < st->keys->len; i++) {
        const shot_key_event *e = &g_array_index(st->keys, shot_key_event, i);
        if (sent(r, res, vg_display_source_send_key(r->src, e->qnum, e->keysym, e->down)) < 0)
            return -1;
        pause_ms(r->opt->key_delay_ms);
    }
    return 0;
}

static bool inside_screen(runner *r, int x, int y, shot_result *res)
{
    uint32_t w, h;

    vg_surface_lock(r->surface);
    w = vg_surface_width_locked(r->surface);
    h = vg_surface_height_locked(r->surface);
    vg_surface_unlock(r->surface);
    if (x < 0 || y < 0 || (uint32_t)x >= w || (uint32_t)y >= h) {
        set_message(res, "%d,%d is outside the %ux%u screen", x, y, w, h);
        return false;
    }
    return true;
}

static int pointer(runner *r, shot_result *res, int x, int y, uint32_t buttons)
{
    r->x = x;
    r->y = y;
    r->buttons = buttons;
    if (sent(r, res, vg_display_source_send_pointer(r->src, x, y, buttons)) < 0)
        return -1;
    /* Each report apart, so the guest sees a press and its release. */
    pause_ms(r->opt->key_delay_ms > 20 ? r->opt->key_delay_ms : 20);
    return 0;
}

static int click(runner *r, const shot_step *st, shot_result *res, int x, int y, int times)
{
    if (!inside_screen(r, x, y, res))
        return -1;
    if ((x != r->x || y != r->y) && pointer(r, res, x, y, r->buttons) < 0)
        return -1;
    for (int i = 0; i < times; i++) {
        if (pointer(r, res, x, y, r->buttons | st->button) < 0 ||
            pointer(r, res, x, y, r->buttons & ~st->button) < 0)
            return -1;
    }
    return 0;
}

/* Save the failing screen (and a diff) under the artifacts directory. */
static void keep_screen(runner *r, shot_result *res, const shot_image *screen,
                        const shot_image *diff)
{
    const char *dir = r->opt->artifacts_dir;
    const char *prefix = r->opt->artifacts_prefix ? r->opt->artifacts_prefix : "";
    g_autofree char *base = NULL;
    int e;

    if (!dir || !screen || !screen->px)
        return;
    base = g_strdup_printf("%sstep%02d-%s", prefix, res->index, res->step->name);
    res->screen = g_strdup_printf("%s/%s-screen.png", dir, base);
    if ((e = shot_image_save_png(screen, res->screen)) < 0) {
        fprintf(stderr, "vmgate-shot: cannot write %s: %s\n", res->screen, g_strerror(-e));
        g_clear_pointer(&res->screen, g_free);
    }
    if (diff && diff->px) {
        res->diff = g_strdup_printf("%s/%s-diff.png", dir, base);
        if ((e = shot_image_save_png(diff, res->diff)) < 0) {
            fprintf(stderr, "vmgate-shot: cannot write %s: %s\n", res->diff, g_strerror(-e));
            g_clear_pointer(&res->diff, g_free);
        }
    }
}

/* wait-screen, wait-gone, click-needle, assert-screen. Returns true when
 * the step's condition held (before expect-fail is applied). */
static bool run_needle(runner *r, const shot_step *st, shot_result *res, shot_image *last,
                       shot_match *last_match)
{
    bool want_gone = st->kind == SHOT_STEP_WAIT_GONE;
    bool once = st->kind == SHOT_STEP_ASSERT_SCREEN;
    int64_t deadline = vg_now_us() + (int64_t)st->timeout_s * 1000000;
    uint64_t seen = 0;
    bool first = true;
    double best = -1, need = SHOT_NEEDLE_DEFAULT_MATCH;

    for (;;) {
        uint64_t serial = vg_surface_serial(r->surface);

        if (lost(r, res))
            return false;
        if (first || serial != seen) {
            seen = serial;
            first = false;
            shot_image_clear(last);
            shot_match_clear(last_match);
            if (shot_image_from_surface(r->surface, last) == 0 &&
                shot_needle_match(st->needle, last, last_match) == 0) {
                if (last_match->similarity > best) {
                    best = last_match->similarity;
                    need = st->needle->areas[last_match->worst].match;
                }
                res->similarity = best;
                if (last_match->matched != want_gone) {
                    if (want_gone)
                        set_message(res, "needle '%s' is gone (similarity %.1f%%)",
                                    st->needle->name, last_match->similarity);
                    else
                        set_message(res, "needle '%s' matched at %d,%d (similarity %.1f%%)",
                                    st->needle->name,
                                    st->needle->areas[last_match->first].rect.x +
                                        last_match->dx[last_match->first],
                                    st->needle->areas[last_match->first].rect.y +
                                        last_match->dy[last_match->first],
                                    last_match->similarity);
                    return true;
                }
            }
        }
        if (once || vg_now_us() >= deadline)
            break;
        pause_ms(POLL_MS);
    }
    if (!want_gone && last->px &&
        (last->width != st->needle->image.width || last->height != st->needle->image.height)) {
        /* Areas are where they were on the needle's screen: a screen of
         * another size rarely shows them there. */
        set_message(res,
                    "needle '%s' is from a %ux%u screen, this one is %ux%u: best "
                    "similarity %.1f%%, it needs %.1f%%",
                    st->needle->name, st->needle->image.width, st->needle->image.height,
                    last->width, last->height, best < 0 ? 0.0 : best, need);
        return false;
    }
    if (want_gone)
        set_message(res, "needle '%s' still on the screen after %d s (similarity %.1f%%)",
                    st->needle->name, st->timeout_s, last_match->similarity);
    else if (once)
        set_message(res, "needle '%s' is not on the screen: similarity %.1f%%, it needs %.1f%%",
                    st->needle->name, best < 0 ? 0.0 : best, need);
    else
        set_message(res,
                    "needle '%s' not found within %d s: best similarity %.1f%%, it needs "
                    "%.1f%%",
                    st->needle->name, st->timeout_s, best < 0 ? 0.0 : best, need);
    return false;
}

static bool run_wait_text(runner *r, const shot_step *st, shot_result *res, shot_image *last)
{
    int64_t deadline = vg_now_us() + (int64_t)st->timeout_s * 1000000;
    uint64_t seen = 0;
    bool first = true;

    for (;;) {
        uint64_t serial = vg_surface_serial(r->surface);
        int64_t started = vg_now_us();

        if (lost(r, res))
            return false;
        if (first || serial != seen) {
            g_autofree char *text = NULL;
            int e;

            seen = serial;
            first = false;
            shot_image_clear(last);
            if (shot_image_from_surface(r->surface, last) == 0) {
                if (st->has_area && !shot_rect_inside(&st->area, last->width, last->height)) {
                    set_message(res, "--area %d,%d,%d,%d is not inside the %ux%u screen",
                                st->area.x, st->area.y, st->area.w, st->area.h, last->width,
                                last->height);
                    r->broken = true;
                    return false;
                }
                e = shot_ocr_read(r->opt->ocr, last, st->has_area ? &st->area : NULL, &text);
                if (e < 0) {
                    set_message(res, "reading the screen failed: %s", g_strerror(-e));
                    r->broken = true;
                    return false;
                }
                g_free(res->text);
                res->text = g_strdup(text);
                if (shot_ocr_contains(text, st->text)) {
                    set_message(res, "text '%s' is on the screen", st->text);
                    return true;
                }
            }
        }
        if (vg_now_us() >= deadline)
            break;
        /* At most one reading per OCR_EVERY_MS, and a look at least
         * every POLL_MS for a change. */
        {
            int64_t spent_ms = (vg_now_us() - started) / 1000;
            pause_ms(spent_ms < OCR_EVERY_MS ? (int)(OCR_EVERY_MS - spent_ms) : POLL_MS);
        }
    }
    {
        g_autofree char *shown = g_strndup(res->text ? res->text : "", TEXT_IN_ERROR);
        g_strdelimit(shown, "\n\r\t", ' ');
        set_message(res, "text '%s' not found within %d s; the screen reads: %s", st->text,
                    st->timeout_s, g_strstrip(shown));
    }
    return false;
}

/* Run one step; true when it passed. */
static bool run_step(runner *r, const shot_step *st, shot_result *res)
{
    shot_image last = {0};
    shot_match match = {0};
    shot_image diff = {0};
    bool ok = false, check = false;
    int e;

    r->broken = false;
    switch (st->kind) {
    case SHOT_STEP_TYPE:
    case SHOT_STEP_KEY:
        ok = send_keys(r, st, res) == 0;
        break;
    case SHOT_STEP_MOVE:
        ok = inside_screen(r, st->x, st->y, res) && pointer(r, res, st->x, st->y, r->buttons) == 0;
        break;
    case SHOT_STEP_CLICK:
    case SHOT_STEP_DOUBLE_CLICK:
        ok = click(r, st, res, st->has_pos ? st->x : r->x, st->has_pos ? st->y : r->y,
                   st->kind == SHOT_STEP_CLICK ? 1 : 2) == 0;
        break;
    case SHOT_STEP_DRAG:
        if (!inside_screen(r, st->x, st->y, res) || !inside_screen(r, st->x2, st->y2, res))
            break;
        if (pointer(r, res, st->x, st->y, r->buttons) < 0 ||
            pointer(r, res, st->x, st->y, r->buttons | st->button) < 0)
            break;
        for (int i = 1; i <= DRAG_STEPS; i++) {
            int x = st->x + (st->x2 - st->x) * i / DRAG_STEPS;
            int y = st->y + (st->y2 - st->y) * i / DRAG_STEPS;
            if (pointer(r, res, x, y, r->buttons) < 0)
                goto done;
        }
        ok = pointer(r, res, st->x2, st->y2, r->buttons & ~st->button) == 0;
        break;
    case SHOT_STEP_SCROLL: {
        int x = st->has_pos ? st->x : r->x, y = st->has_pos ? st->y : r->y;
        if (!inside_screen(r, x, y, res))
            break;
        r->x = x;
        r->y = y;
        ok = sent(r, res, vg_display_source_send_wheel(r->src, x, y, r->buttons, st->count)) == 0;
        pause_ms(r->opt->key_delay_ms);
        break;
    }
    case SHOT_STEP_WAIT_STILL:
        check = true;
        e = vg_surface_wait_stable(r->surface, (uint32_t)st->ms,
                                   vg_now_us() + (int64_t)st->timeout_s * 1000000);
        if (e == 0) {
            set_message(res, "the screen was still for %d ms", st->ms);
            ok = true;
        } else if (!lost(r, res)) {
            set_message(res, "timed out after %d s: the screen did not stay still for %d ms",
                        st->timeout_s, st->ms);
            shot_image_from_surface(r->surface, &last);
        }
        break;
    case SHOT_STEP_WAIT_SCREEN:
    case SHOT_STEP_WAIT_GONE:
    case SHOT_STEP_ASSERT_SCREEN:
    case SHOT_STEP_CLICK_NEEDLE:
        check = true;
        ok = run_needle(r, st, res, &last, &match);
        if (ok && st->kind == SHOT_STEP_CLICK_NEEDLE && !st->expect_fail) {
            shot_step c = *st;
            c.button = st->button;
            g_autofree char *found = g_strdup(res->message);
            ok = click(r, &c, res, match.click_x, match.click_y, 1) == 0;
            if (ok)
                set_message(res, "%s; clicked %d,%d", found, match.click_x, match.click_y);
        }
        if (match.n_areas && ok == st->expect_fail)
            shot_needle_diff(st->needle, &last, &match, &diff);
        break;
    case SHOT_STEP_WAIT_TEXT:
        check = true;
        ok = run_wait_text(r, st, res, &last);
        break;
    case SHOT_STEP_SCREENSHOT:
        e = vg_surface_write_png(r->surface, st->text);
        if (e < 0) {
            set_message(res, "cannot write %s: %s", st->text, g_strerror(-e));
            r->exit_code = SHOT_EXIT_OUTPUT;
        } else {
            set_message(res, "wrote %s", st->text);
            ok = true;
        }
        break;
    case SHOT_STEP_SLEEP:
        pause_ms(st->ms);
        ok = !lost(r, res);
        break;
    case SHOT_STEP_LAYOUT:
        set_message(res, "typing on layout %s", st->text);
        ok = true;
        break;
    }
done:
    if (check && st->expect_fail && r->exit_code == SHOT_EXIT_TIMEOUT && !r->broken) {
        /* A negative check: failing is passing, and the other way round. */
        g_autofree char *m = g_strdup(res->message);
        ok = !ok;
        set_message(res, "%s: %s", ok ? "failed as expected" : "expected to fail, but", m);
    }
    if (!ok && r->exit_code == SHOT_EXIT_TIMEOUT)
        keep_screen(r, res, &last, &diff);
    shot_image_clear(&diff);
    shot_image_clear(&last);
    shot_match_clear(&match);
    return ok;
}

int shot_run_script(vg_display_source *src, const shot_script *script, const shot_run_options *opt,
                    GPtrArray *results)
{
    runner r = {
        .src = src,
        .surface = src->surface,
        .script = script,
        .opt = opt,
        .exit_code = SHOT_EXIT_TIMEOUT,
    };
    int rc = SHOT_EXIT_OK;

    vg_surface_lock(r.surface);
    /* Until a step moves it, the pointer is taken to be in the centre. */
    r.x = (int32_t)vg_surface_width_locked(r.surface) / 2;
    r.y = (int32_t)vg_surface_height_locked(r.surface) / 2;
    vg_surface_unlock(r.surface);
    for (guint i = 0; i < script->steps->len; i++) {
        const shot_step *st = script->steps->pdata[i];
        shot_result *res = g_new0(shot_result, 1);
        int64_t t0 = vg_now_us();

        res->step = st;
        res->index = (int)i + 1;
        res->similarity = -1;
        g_ptr_array_add(results, res);
        if (rc != SHOT_EXIT_OK) {
            res->status = SHOT_SKIPPED;
            res->message = g_strdup("not run: an earlier step failed");
            continue;
        }
        if (run_step(&r, st, res)) {
            res->status = SHOT_PASSED;
        } else {
            res->status = SHOT_FAILED;
            rc = r.exit_code;
            if (st->line > 0)
                fprintf(stderr, "vmgate-shot: %s:%d: %s: %s\n", st->file, st->line, st->name,
                        res->message ? res->message : "failed");
            else /* a shorthand option */
                fprintf(stderr, "vmgate-shot: %s: %s\n", st->file,
                        res->message ? res->message : "failed");
            if (res->screen)
                fprintf(stderr, "vmgate-shot: the screen: %s%s%s\n", res->screen,
                        res->diff ? ", the differences: " : "", res->diff ? res->diff : "");
        }
        res->seconds = (double)(vg_now_us() - t0) / 1e6;
    }
    /* Let go of whatever a failed step left held. */
    if (r.buttons)
        vg_display_source_send_pointer(src, r.x, r.y, 0);
    return rc;
}
