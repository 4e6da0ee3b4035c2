/*
 * Unit tests: the console's decode path and its error paths, against a
 * scripted RFB server on a socketpair (the real QEMU is covered by the
 * integration tests). Sizes from the wire must be bounded.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#include <cmocka.h>
#include <glib.h>

#include "console.h"
#include "rfb-script.h"
#include "util.h"

typedef struct lost_rec {
    GMutex lock;
    GCond cond;
    int count;
    char why[128];
} lost_rec;

static void on_lost(void *opaque, vg_console *c, const char *why)
{
    lost_rec *l = opaque;
    (void)c;
    g_mutex_lock(&l->lock);
    l->count++;
    g_strlcpy(l->why, why, sizeof(l->why));
    g_cond_broadcast(&l->cond);
    g_mutex_unlock(&l->lock);
}

static bool wait_lost(lost_rec *l, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;
    bool ok;
    g_mutex_lock(&l->lock);
    while (l->count == 0 && g_cond_wait_until(&l->cond, &l->lock, end))
        ;
    ok = l->count > 0;
    g_mutex_unlock(&l->lock);
    return ok;
}

static const vg_console_events events = {.lost = on_lost};

static void test_console_decodes_raw_frame(void **state)
{
    int sv[2];
    vg_console *c = NULL;
    lost_rec l = {0};
    uint8_t fu[4 + 12 + 4 * 2 * 4];
    const uint32_t px[8] = {0x000000ff, 0x0000ff00, 0x00ff0000, 0x00ffffff,
                            0x00102030, 0x00405060, 0x00708090, 0x00a0b0c0};
    vg_surface *s;
    (void)state;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(vg_console_new("fake", sv[0], &events, &l, &c), 0);
    rfb_script_serve_handshake(sv[1], 4, 2);
    rfb_script_read_client_setup(sv[1]);
    memset(fu, 0, sizeof(fu));
    fu[0] = 0; /* FramebufferUpdate */
    rfb_script_be16(fu + 2, 1);
    rfb_script_be16(fu + 4 + 4, 4);
    rfb_script_be16(fu + 4 + 6, 2);
    rfb_script_be32(fu + 4 + 8, 0);  /* raw */
    memcpy(fu + 16, px, sizeof(px)); /* little-endian BGRX, as negotiated */
    rfb_script_write(sv[1], fu, sizeof(fu));

    s = vg_console_surface(c);
    assert_int_equal(vg_surface_wait_frame(s, vg_now_us() + 5000000), 0);
    vg_surface_lock(s);
    assert_int_equal(vg_surface_width_locked(s), 4);
    assert_int_equal(vg_surface_height_locked(s), 2);
    assert_memory_equal(vg_surface_pixels_locked(s), px, sizeof(px));
    vg_surface_unlock(s);
    assert_int_equal(l.count, 0);

    /* The server going away is reported once, with a reason. */
    close(sv[1]);
    assert_true(wait_lost(&l, 5000));
    assert_int_equal(l.count, 1);
    assert_true(strlen(l.why) > 0);
    assert_int_equal(vg_display_source_send_key(vg_console_source(c), 0x1e, 'a', true), -EPIPE);
    vg_console_free(c, "test over");
    g_mutex_clear(&l.lock);
    g_cond_clear(&l.cond);
}

static void test_console_refuses_oversized_screen(void **state)
{
    int sv[2];
    vg_console *c = NULL;
    lost_rec l = {0};
    (void)state;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(vg_console_new("huge", sv[0], &events, &l, &c), 0);
    rfb_script_serve_handshake(sv[1], 65535, 65535); /* beyond VG_MAX_DIMENSION */
    assert_true(wait_lost(&l, 5000));
    vg_surface_lock(vg_console_surface(c));
    assert_null(vg_surface_pixels_locked(vg_console_surface(c)));
    vg_surface_unlock(vg_console_surface(c));
    vg_console_free(c, "test over");
    close(sv[1]);
    g_mutex_clear(&l.lock);
    g_cond_clear(&l.cond);
}

static void test_console_refuses_zero_size_resize(void **state)
{
    int sv[2];
    vg_console *c = NULL;
    lost_rec l = {0};
    uint8_t fu[4 + 12];
    (void)state;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(vg_console_new("resize0", sv[0], &events, &l, &c), 0);
    rfb_script_serve_handshake(sv[1], 8, 8);
    rfb_script_read_client_setup(sv[1]);
    memset(fu, 0, sizeof(fu));
    rfb_script_be16(fu + 2, 1);
    rfb_script_be32(fu + 4 + 8, (uint32_t)-223); /* DesktopSize to 0 × 0 */
    rfb_script_write(sv[1], fu, sizeof(fu));
    assert_true(wait_lost(&l, 5000));
    vg_console_free(c, "test over");
    close(sv[1]);
    g_mutex_clear(&l.lock);
    g_cond_clear(&l.cond);
}

static void test_console_handshake_garbage_is_reported(void **state)
{
    int sv[2];
    vg_console *c = NULL;
    lost_rec l = {0};
    (void)state;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(vg_console_new("garbage", sv[0], &events, &l, &c), 0);
    rfb_script_write(sv[1], "HTTP/1.1 400 Bad\r\n", 18);
    assert_true(wait_lost(&l, 5000));
    assert_non_null(strstr(l.why, "handshake"));
    vg_console_free(c, "test over");
    close(sv[1]);
    g_mutex_clear(&l.lock);
    g_cond_clear(&l.cond);
}

static void test_console_refuses_fd_beyond_select_limit(void **state)
{
    struct rlimit rl;
    vg_console *c = NULL;
    int fd, high;
    (void)state;

    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 1100) {
        rl.rlim_cur = rl.rlim_max < 2048 ? rl.rlim_max : 2048;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    assert_true(rl.rlim_cur > 1100); /* root in the test environment can raise it */
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    high = dup2(fd, 1050);
    close(fd);
    assert_int_equal(high, 1050);
    assert_int_equal(vg_console_new("high", high, &events, NULL, &c), -EMFILE);
    assert_null(c);
    /* The fd was taken over and closed. */
    assert_int_equal(fcntl(high, F_GETFD), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_console_decodes_raw_frame),
        cmocka_unit_test(test_console_refuses_oversized_screen),
        cmocka_unit_test(test_console_refuses_zero_size_resize),
        cmocka_unit_test(test_console_handshake_garbage_is_reported),
        cmocka_unit_test(test_console_refuses_fd_beyond_select_limit),
    };
    return cmocka_run_group_tests_name("console", tests, NULL, NULL);
}
