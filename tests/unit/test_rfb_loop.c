/*
 * Unit tests: the RFB client loop (vmm-bridge/rfb-loop.c) against a
 * scripted RFB server on a socketpair: the input queue (queued before the
 * thread runs, bounded, refused once stopped or lost), the order and form
 * of what is sent (extended or plain keys, clamped pointer), and how the
 * end of the connection is reported.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>

#include "display.h"
#include "rfb-loop.h"
#include "rfb-script.h"
#include "rfb-setup.h"
#include "util.h"

#define CLOSED_WHY "the test server closed the connection"

typedef struct fixture {
    int sv[2]; /* sv[0]: the client's, owned by cl; sv[1]: the script's */
    rfbClient *cl;
    vg_rfb_loop *loop;
    GMutex lock;
    GCond cond;
    int lost_count; /* under lock */
    char why[128];  /* under lock */
} fixture;

static int fx_start(void *opaque, rfbClient *cl)
{
    fixture *f = opaque;

    if (!InitialiseRFBConnection(cl)) {
        vg_rfb_loop_lost(f->loop, "handshake failed");
        return -EPROTO;
    }
    if (!vg_rfb_start(cl)) {
        vg_rfb_loop_lost(f->loop, "setup failed");
        return -EPROTO;
    }
    return 0;
}

static void fx_lost(void *opaque, const char *why)
{
    fixture *f = opaque;

    g_mutex_lock(&f->lock);
    f->lost_count++;
    g_strlcpy(f->why, why, sizeof(f->why));
    g_cond_broadcast(&f->cond);
    g_mutex_unlock(&f->lock);
}

static const vg_rfb_loop_ops fx_ops = {.start = fx_start, .lost = fx_lost};
static const vg_rfb_loop_params fx_params = {
    .tag = "test", .prefix = "test: ", .closed_why = CLOSED_WHY};

static void fx_setup(fixture *f)
{
    memset(f, 0, sizeof(*f));
    vg_rfb_log_install(); /* libvncclient's lines at debug level */
    g_mutex_init(&f->lock);
    g_cond_init(&f->cond);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv), 0);
    f->cl = rfbGetClient(8, 3, 4);
    assert_non_null(f->cl);
    f->cl->sock = f->sv[0];
    f->cl->listenSpecified = TRUE;
    f->cl->readTimeout = 5; /* a test that goes wrong ends */
    assert_int_equal(vg_rfb_loop_new(f->cl, &fx_params, &fx_ops, f, &f->loop), 0);
}

static void fx_teardown(fixture *f)
{
    vg_rfb_loop_free(f->loop);
    free(f->cl->frameBuffer);
    f->cl->frameBuffer = NULL;
    rfbClientCleanup(f->cl); /* closes sv[0] */
    close(f->sv[1]);
    g_cond_clear(&f->cond);
    g_mutex_clear(&f->lock);
}

/* Start the loop and play the server's side of the handshake and setup. */
static void fx_connect(fixture *f, uint16_t w, uint16_t h)
{
    assert_int_equal(vg_rfb_loop_start(f->loop, "test-rfb-loop"), 0);
    rfb_script_serve_handshake(f->sv[1], w, h);
    rfb_script_read_client_setup(f->sv[1]);
}

static int lost_count_within(fixture *f, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;
    int n;

    g_mutex_lock(&f->lock);
    while (f->lost_count == 0 && g_cond_wait_until(&f->cond, &f->lock, end))
        ;
    n = f->lost_count;
    g_mutex_unlock(&f->lock);
    return n;
}

/* Whether the bytes written to the client's socket were read within @ms. */
static bool socket_drained_within(int fd, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;
    int queued = -1;

    while (ioctl(fd, FIONREAD, &queued) == 0 && queued > 0 && g_get_monotonic_time() < end)
        g_usleep(1000);
    return queued == 0;
}

typedef struct stopper {
    fixture *f;
    GMutex lock;
    GCond cond;
    bool done;
} stopper;

static gpointer stop_thread(gpointer data)
{
    stopper *st = data;

    vg_rfb_loop_stop(st->f->loop);
    g_mutex_lock(&st->lock);
    st->done = true;
    g_cond_broadcast(&st->cond);
    g_mutex_unlock(&st->lock);
    return NULL;
}

/* vg_rfb_loop_stop() on another thread; whether it returned within @ms.
 * If not, the socket is shut down here so that the loop (and the test) end. */
static bool stop_within(fixture *f, int ms)
{
    stopper st = {.f = f};
    gint64 end = g_get_monotonic_time() + ms * 1000;
    GThread *t;
    bool done;

    g_mutex_init(&st.lock);
    g_cond_init(&st.cond);
    t = g_thread_new("test-stop", stop_thread, &st);
    g_mutex_lock(&st.lock);
    while (!st.done && g_cond_wait_until(&st.cond, &st.lock, end))
        ;
    done = st.done;
    g_mutex_unlock(&st.lock);
    if (!done)
        shutdown(f->sv[0], SHUT_RDWR);
    g_thread_join(t);
    g_cond_clear(&st.cond);
    g_mutex_clear(&st.lock);
    return done;
}

static void expect_key(int fd, uint32_t keysym, bool down)
{
    uint8_t msg[8], want[8] = {4, down, 0, 0};

    rfb_script_be32(want + 4, keysym);
    rfb_script_read(fd, msg, sizeof(msg));
    assert_memory_equal(msg, want, sizeof(want));
}

static void expect_ext_key(int fd, uint16_t qnum, uint32_t keysym, bool down)
{
    uint8_t msg[12], want[12] = {255, 0, 0, down};

    rfb_script_be32(want + 4, keysym);
    rfb_script_be32(want + 8, qnum);
    rfb_script_read(fd, msg, sizeof(msg));
    assert_memory_equal(msg, want, sizeof(want));
}

static void expect_pointer(int fd, uint16_t x, uint16_t y, uint8_t mask)
{
    uint8_t msg[6], want[6] = {5, mask};

    rfb_script_be16(want + 2, x);
    rfb_script_be16(want + 4, y);
    rfb_script_read(fd, msg, sizeof(msg));
    assert_memory_equal(msg, want, sizeof(want));
}

static void test_rfb_loop_sends_input_queued_before_connect_in_order(void **state)
{
    fixture f;
    (void)state;

    fx_setup(&f);
    /* Before the server acknowledged extended key events: a key with a
     * keysym goes as a plain key event, one without is dropped. */
    assert_int_equal(vg_rfb_loop_send_key(f.loop, 0x1e, 'a', true), 0);
    assert_int_equal(vg_rfb_loop_send_pointer(f.loop, -5, 9999, 0x101), 0);
    assert_int_equal(vg_rfb_loop_send_key(f.loop, 0x30, 0, true), 0);
    assert_int_equal(vg_rfb_loop_send_key(f.loop, 0, 'b', false), 0);
    assert_int_equal(vg_rfb_loop_send_pointer(f.loop, 100, 20, VG_BUTTON_LEFT), 0);
    fx_connect(&f, 640, 480);

    expect_key(f.sv[1], 'a', true);
    expect_pointer(f.sv[1], 0, 479, 0x01); /* clamped; buttons masked */
    expect_key(f.sv[1], 'b', false);       /* the keysym-less key sent nothing */
    expect_pointer(f.sv[1], 100, 20, VG_BUTTON_LEFT);
    assert_int_equal(lost_count_within(&f, 0), 0);
    fx_teardown(&f);
}

static void test_rfb_loop_sends_extended_keys_once_acknowledged(void **state)
{
    fixture f;
    uint8_t fu[4 + 12] = {0};
    (void)state;

    fx_setup(&f);
    fx_connect(&f, 64, 32);
    /* A FramebufferUpdate whose one rectangle acknowledges -258. */
    rfb_script_be16(fu + 2, 1);
    rfb_script_be32(fu + 4 + 8, (uint32_t)VG_ENC_QEMU_EXT_KEY);
    rfb_script_write(f.sv[1], fu, sizeof(fu));
    rfb_script_read(f.sv[1], NULL, 10); /* the next update request: the update was handled */

    assert_int_equal(vg_rfb_loop_send_key(f.loop, 0x1e, 'a', true), 0);
    assert_int_equal(vg_rfb_loop_send_key(f.loop, 0x30, 0, true), 0);
    assert_int_equal(vg_rfb_loop_send_key(f.loop, 0, 'c', false), 0);
    expect_ext_key(f.sv[1], 0x1e, 'a', true);
    expect_ext_key(f.sv[1], 0x30, 0, true);
    expect_key(f.sv[1], 'c', false); /* no scan code: a plain key event */
    fx_teardown(&f);
}

static void test_rfb_loop_bounds_its_queue(void **state)
{
    fixture f;
    (void)state;

    fx_setup(&f);
    assert_int_equal(vg_rfb_loop_send_key(f.loop, 0, 0, true), -EINVAL);
    for (int i = 0; i < VG_RFB_LOOP_QUEUE_MAX; i++)
        assert_int_equal(vg_rfb_loop_send_pointer(f.loop, i, 0, 0), 0);
    assert_int_equal(vg_rfb_loop_send_pointer(f.loop, 0, 0, 0), -EAGAIN);
    assert_int_equal(vg_rfb_loop_send_key(f.loop, 0x1e, 'a', true), -EAGAIN);
    /* Stopping a loop that never ran refuses input without blocking. */
    vg_rfb_loop_stop(f.loop);
    assert_int_equal(vg_rfb_loop_send_key(f.loop, 0x1e, 'a', true), -EPIPE);
    fx_teardown(&f);
}

static void test_rfb_loop_reports_server_close_once(void **state)
{
    fixture f;
    (void)state;

    fx_setup(&f);
    fx_connect(&f, 64, 32);
    close(f.sv[1]);
    f.sv[1] = -1;
    assert_int_equal(lost_count_within(&f, 5000), 1);
    assert_string_equal(f.why, CLOSED_WHY);
    assert_int_equal(vg_rfb_loop_send_key(f.loop, 0x1e, 'a', true), -EPIPE);
    assert_int_equal(vg_rfb_loop_send_pointer(f.loop, 1, 1, 0), -EPIPE);
    vg_rfb_loop_stop(f.loop);
    assert_int_equal(f.lost_count, 1);
    fx_teardown(&f);
}

static void test_rfb_loop_failed_start_reports_its_reason(void **state)
{
    fixture f;
    (void)state;

    fx_setup(&f);
    assert_int_equal(vg_rfb_loop_start(f.loop, "test-rfb-loop"), 0);
    assert_int_equal(vg_rfb_loop_start(f.loop, "test-rfb-loop"), -EALREADY);
    rfb_script_write(f.sv[1], "HTTP/1.1 400 Bad\r\n", 18);
    assert_int_equal(lost_count_within(&f, 5000), 1);
    assert_string_equal(f.why, "handshake failed");
    assert_int_equal(vg_rfb_loop_send_key(f.loop, 0x1e, 'a', true), -EPIPE);
    fx_teardown(&f);
}

static void test_rfb_loop_stop_ends_a_blocked_read_without_lost(void **state)
{
    fixture f;
    const uint8_t half_update[2] = {0, 0}; /* FramebufferUpdate, cut short */
    (void)state;

    fx_setup(&f);
    fx_connect(&f, 64, 32);
    rfb_script_write(f.sv[1], half_update, sizeof(half_update));
    /* Once the thread has taken those bytes it waits inside libvncclient
     * for the rest of the header, which never comes (a blocking read:
     * readTimeout does not end it): only the socket's shutdown does. */
    assert_true(socket_drained_within(f.sv[0], 5000));
    assert_true(stop_within(&f, 2000));
    assert_int_equal(f.lost_count, 0);
    assert_int_equal(vg_rfb_loop_send_key(f.loop, 0x1e, 'a', true), -EPIPE);
    vg_rfb_loop_stop(f.loop); /* twice is harmless */
    fx_teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfb_loop_sends_input_queued_before_connect_in_order),
        cmocka_unit_test(test_rfb_loop_sends_extended_keys_once_acknowledged),
        cmocka_unit_test(test_rfb_loop_bounds_its_queue),
        cmocka_unit_test(test_rfb_loop_reports_server_close_once),
        cmocka_unit_test(test_rfb_loop_failed_start_reports_its_reason),
        cmocka_unit_test(test_rfb_loop_stop_ends_a_blocked_read_without_lost),
    };
    return cmocka_run_group_tests_name("rfb_loop", tests, NULL, NULL);
}
