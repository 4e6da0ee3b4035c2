/*
 * Unit tests: the log escapes what a peer could use to forge lines or
 * steer a terminal, and keeps UTF-8 names readable; lines carry sd-daemon
 * priority prefixes when stderr is the journal, and only then.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Write one warning with stderr on a fresh file and $JOURNAL_STREAM set to
 * @stream (NULL: the file's own device:inode); return what was written. */
static char *log_to_file(const char *stream)
{
    char path[] = "/tmp/vg-test-log-XXXXXX";
    char own[64], *buf = g_malloc0(512);
    int fd = mkstemp(path), saved;
    struct stat st;
    ssize_t n;

    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(fstat(fd, &st), 0);
    snprintf(own, sizeof(own), "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    assert_int_equal(setenv("JOURNAL_STREAM", stream ? stream : own, 1), 0);
    vg_log_detect_journal();
    vg_log_write(VG_LOG_WARNING, "auth", "login failed: user=%s", "mallory");
    vg_log_write(VG_LOG_DEBUG, "rdp", "peer %d", 7);
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    unsetenv("JOURNAL_STREAM");
    vg_log_detect_journal();
    n = pread(fd, buf, 511, 0);
    close(fd);
    assert_true(n > 0);
    return buf;
}

static void test_log_prefixes_priorities_when_stderr_is_the_journal(void **state)
{
    g_autofree char *out = log_to_file(NULL);
    (void)state;
    assert_string_equal(out, "<4>auth: login failed: user=mallory\n<7>rdp: peer 7\n");
}

/* A child that inherited $JOURNAL_STREAM but writes to a terminal or a file
 * keeps plain lines with their time and level name. */
static void test_log_plain_when_the_journal_is_another_file(void **state)
{
    struct stat st;
    char other[64];
    g_autofree char *out = NULL;
    (void)state;

    assert_int_equal(stat("/", &st), 0);
    snprintf(other, sizeof(other), "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
    out = log_to_file(other);
    assert_null(strchr(out, '<'));
    assert_non_null(strstr(out, "Z warning auth: login failed: user=mallory\n"));
    assert_non_null(strstr(out, "Z debug rdp: peer 7\n"));
}

static void test_journal_stream_must_be_device_colon_inode(void **state)
{
    struct stat st;
    char good[64], bad[80];
    (void)state;

    assert_int_equal(fstat(STDOUT_FILENO, &st), 0);
    snprintf(good, sizeof(good), "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
    assert_true(vg_log_fd_is_journal(good, STDOUT_FILENO));
    snprintf(bad, sizeof(bad), "%sx", good);
    assert_false(vg_log_fd_is_journal(bad, STDOUT_FILENO));
    assert_false(vg_log_fd_is_journal(NULL, STDOUT_FILENO));
    assert_false(vg_log_fd_is_journal("", STDOUT_FILENO));
    assert_false(vg_log_fd_is_journal("12", STDOUT_FILENO));
    assert_false(vg_log_fd_is_journal(good, -1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_controls_and_keeps_utf8),
        cmocka_unit_test(test_escape_cuts_whole_pieces),
        cmocka_unit_test(test_log_line_stays_one_line),
        cmocka_unit_test(test_log_prefixes_priorities_when_stderr_is_the_journal),
        cmocka_unit_test(test_log_plain_when_the_journal_is_another_file),
        cmocka_unit_test(test_journal_stream_must_be_device_colon_inode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
