/*
 * Unit tests: a viewer's input (vmm-bridge/viewer.h) over a recording
 * display source: what it forwards, what it drops when the viewer may not
 * give input, and what it lets go of when the viewer ends.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "viewer.h"

typedef struct rec_source {
    vg_display_source base; /* first */
    GString *log;           /* "k30+ k30- p10,20,1 r800x600 ..." */
} rec_source;

static int rec_key(vg_display_source *src, uint16_t qnum, uint32_t keysym, bool down)
{
    (void)keysym;
    g_string_append_printf(((rec_source *)src)->log, "k%x%c ", qnum, down ? '+' : '-');
    return 0;
}

static int rec_pointer(vg_display_source *src, int32_t x, int32_t y, uint32_t buttons)
{
    g_string_append_printf(((rec_source *)src)->log, "p%d,%d,%x ", x, y, buttons);
    return 0;
}

static int rec_resize(vg_display_source *src, uint32_t w, uint32_t h)
{
    g_string_append_printf(((rec_source *)src)->log, "r%ux%u ", w, h);
    return 0;
}

static const vg_display_source_ops rec_ops = {
    .send_key = rec_key, .send_pointer = rec_pointer, .request_resize = rec_resize};

static bool role_allows; /* what may_input answers */

static bool may_input(void *opaque)
{
    (void)opaque;
    return role_allows;
}

static int setup(void **state)
{
    rec_source *s = g_new0(rec_source, 1);
    s->base.ops = &rec_ops;
    s->log = g_string_new(NULL);
    role_allows = true;
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    rec_source *s = *state;
    g_string_free(s->log, TRUE);
    g_free(s);
    return 0;
}

/* What the source got since the last call. */
static char *take(rec_source *s)
{
    char *out = g_strdup(s->log->str);
    g_string_truncate(s->log, 0);
    return out;
}

static void test_viewer_forwards_input(void **state)
{
    rec_source *s = *state;
    vg_viewer *v = vg_viewer_new(&s->base, may_input, NULL);
    g_autofree char *got = NULL;

    vg_viewer_key(v, 0x2a, 0xffe1, true);
    vg_viewer_key(v, 0x2a, 0xffe1, false);
    vg_viewer_pointer(v, 10, 20, VG_BUTTON_LEFT);
    vg_viewer_pointer(v, 11, 21, 0);
    vg_viewer_wheel(v, 11, 21, 0, 1);
    assert_int_equal(vg_viewer_request_resize(v, 800, 600), 0);
    got = take(s);
    assert_string_equal(got, "k2a+ k2a- p10,20,1 p11,21,0 p11,21,10 p11,21,0 r800x600 ");
    vg_viewer_free(v);
    g_free(got);
    got = take(s);
    assert_string_equal(got, ""); /* nothing held: nothing to let go */
}

/* A viewer that ends holding Shift, another key and a button lets them go. */
static void test_viewer_lets_go_of_what_it_holds_when_it_ends(void **state)
{
    rec_source *s = *state;
    vg_viewer *v = vg_viewer_new(&s->base, may_input, NULL);
    g_autofree char *got = NULL;

    vg_viewer_key(v, 0x2a, 0xffe1, true);
    vg_viewer_key(v, 0x9d, 0, true); /* right Ctrl, an extended key */
    vg_viewer_key(v, 0x1e, 'a', true);
    vg_viewer_key(v, 0x1e, 'a', false);
    vg_viewer_pointer(v, 5, 6, VG_BUTTON_RIGHT);
    g_free(take(s));
    vg_viewer_release(v);
    got = take(s);
    assert_string_equal(got, "k2a- k9d- p5,6,0 ");
    vg_viewer_release(v); /* idempotent */
    g_free(got);
    got = take(s);
    assert_string_equal(got, "");
    vg_viewer_free(v);
    g_free(got);
    got = take(s);
    assert_string_equal(got, "");
}

/* The role is asked at each event: an observer's input goes nowhere, and a
 * change of role applies to the next event. */
static void test_viewer_asks_the_role_at_each_event(void **state)
{
    rec_source *s = *state;
    vg_viewer *v = vg_viewer_new(&s->base, may_input, NULL);
    g_autofree char *got = NULL;

    role_allows = false;
    vg_viewer_key(v, 0x1e, 'a', true);
    vg_viewer_pointer(v, 1, 2, VG_BUTTON_LEFT);
    assert_int_equal(vg_viewer_request_resize(v, 800, 600), -EPERM);
    got = take(s);
    assert_string_equal(got, "");
    role_allows = true;
    vg_viewer_key(v, 0x1f, 's', true);
    vg_viewer_pointer(v, 3, 4, VG_BUTTON_LEFT);
    g_free(got);
    got = take(s);
    assert_string_equal(got, "k1f+ p3,4,1 ");
    /* Demoted while holding: its next event lets go of the key and button,
     * and goes nowhere itself. */
    role_allows = false;
    vg_viewer_key(v, 0x20, 'd', true);
    g_free(got);
    got = take(s);
    assert_string_equal(got, "k1f- p3,4,0 ");
    vg_viewer_free(v);
    g_free(got);
    got = take(s);
    assert_string_equal(got, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_viewer_forwards_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_viewer_lets_go_of_what_it_holds_when_it_ends, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_viewer_asks_the_role_at_each_event, setup, teardown),
    };
    return cmocka_run_group_tests_name("viewer", tests, NULL, NULL);
}
