/*
 * Unit tests: the route of libvncclient's own log into vmgate's
 * (vmm-bridge/rfb-setup.c): what reaches stderr at which level, and what an
 * observer sees.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>

#include "log.h"
#include "rfb-setup.h"

/* Run @fn with stderr going to a pipe; what it wrote, NUL-terminated. */
static void capture_stderr(void (*fn)(void), char *buf, size_t len)
{
    int fds[2], saved;
    ssize_t n;

    assert_int_equal(pipe(fds), 0);
    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    fflush(stderr);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    fn();
    fprintf(stderr, "end\n"); /* so that the read below never waits */
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    close(fds[1]);
    n = read(fds[0], buf, len - 1);
    close(fds[0]);
    assert_true(n > 0);
    buf[n] = '\0';
}

static void log_both(void)
{
    rfbClientLog("VNC server closed %s\n", "connection");
    rfbClientErr("read (%d: %s)\n", 104, "reset\tby peer");
}

static void test_rfb_log_goes_to_vmgate_log_at_debug(void **state)
{
    char out[1024];
    (void)state;

    vg_rfb_log_install();
    vg_log_set_level(VG_LOG_DEBUG);
    capture_stderr(log_both, out, sizeof(out));
    assert_non_null(strstr(out, " debug libvncclient: VNC server closed connection\n"));
    /* Escaped like every line, the newline libvncclient ends with dropped. */
    assert_non_null(strstr(out, " debug libvncclient: read (104: reset\\x09by peer)\n"));

    vg_log_set_level(VG_LOG_INFO);
    capture_stderr(log_both, out, sizeof(out));
    assert_string_equal(out, "end\n");
}

typedef struct seen {
    int count;
    char last[600];
} seen;

static void on_line(void *opaque, const char *line)
{
    seen *s = opaque;

    s->count++;
    g_strlcpy(s->last, line, sizeof(s->last));
}

static void test_rfb_log_observer_sees_lines_until_removed(void **state)
{
    seen s = {0};
    char out[1024];
    char long_reason[700];
    (void)state;

    vg_log_set_level(VG_LOG_WARNING); /* the observer sees lines whatever the level */
    vg_rfb_log_observe(on_line, &s);
    rfbClientLog("VNC connection failed: %s\n", "no VM is free");
    assert_int_equal(s.count, 1);
    assert_string_equal(s.last, "VNC connection failed: no VM is free");
    memset(long_reason, 'x', sizeof(long_reason) - 1);
    long_reason[sizeof(long_reason) - 1] = '\0';
    rfbClientErr("TLS handshake failed: %s\n", long_reason);
    assert_int_equal(s.count, 2);
    assert_int_equal(strlen(s.last), 511); /* cut, never overrun */
    assert_true(g_str_has_prefix(s.last, "TLS handshake failed: xxx"));

    vg_rfb_log_observe(NULL, NULL);
    capture_stderr(log_both, out, sizeof(out));
    assert_int_equal(s.count, 2);
    assert_string_equal(out, "end\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfb_log_goes_to_vmgate_log_at_debug),
        cmocka_unit_test(test_rfb_log_observer_sees_lines_until_removed),
    };
    return cmocka_run_group_tests_name("rfb_setup", tests, NULL, NULL);
}
