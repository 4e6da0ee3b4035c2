/*
 * Unit tests: the log escapes what a peer could use to forge lines or
 * steer a terminal, and keeps UTF-8 names readable.
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

static void check(const char *in, const char *want)
{
    char out[256];
    vg_log_escape(in, out, sizeof(out));
    assert_string_equal(out, want);
}

static void test_escape_controls_and_keeps_utf8(void **state)
{
    (void)state;
    check("alice", "alice");
    check("evil\nnotice auth: login ok", "evil\\x0anotice auth: login ok");
    check("a\rb\tc\x1b[2Jd\x7f", "a\\x0db\\x09c\\x1b[2Jd\\x7f");
    check("ünïcode Windows 11 (dev)", "ünïcode Windows 11 (dev)");
    check("\xe2\x82\xac \xf0\x9f\x96\xa5", "\xe2\x82\xac \xf0\x9f\x96\xa5"); /* € 🖥 */
    /* C1 controls (CSI is U+009B) and bytes that are not UTF-8. */
    check("x\xc2\x9b"
          "2Jy",
          "x\\u009b2Jy");
    check("\xff\xc3(\xe2\x82", "\\xff\\xc3(\\xe2\\x82");
    check("\xc0\xaf", "\\xc0\\xaf"); /* overlong "/" */
}

static void test_escape_cuts_whole_pieces(void **state)
{
    char out[6];
    (void)state;
    vg_log_escape("ab\ncd", out, sizeof(out));
    assert_string_equal(out, "ab"); /* "\x0a" does not fit after "ab" */
    vg_log_escape("abcü", out, sizeof(out));
    assert_string_equal(out, "abcü");
    vg_log_escape("abcdü", out, sizeof(out));
    assert_string_equal(out, "abcd");
    vg_log_escape("", out, 1);
    assert_string_equal(out, "");
}

/* A line written with a newline in an argument stays one line. */
static void test_log_line_stays_one_line(void **state)
{
    int fds[2], saved;
    char buf[512] = {0};
    ssize_t n;
    (void)state;

    assert_int_equal(pipe(fds), 0);
    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    vg_log_write(VG_LOG_NOTICE, "auth", "login failed: user=%s",
                 "x\n2026-01-01T00:00:00Z notice auth: ok");
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    close(fds[1]);
    n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "user=x\\x0a2026"));
    assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_controls_and_keeps_utf8),
        cmocka_unit_test(test_escape_cuts_whole_pieces),
        cmocka_unit_test(test_log_line_stays_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
