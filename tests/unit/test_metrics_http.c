/*
 * Unit tests: the metrics listener (server/metrics/metrics-http.c) over
 * real sockets: the paths, the methods, requests with a body, the
 * connection cap and the connection lifetime.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "metrics-http.h"
#include "util.h"

typedef struct fixture {
    vg_metrics_http *h;
    bool ready;
    unsigned collected;
} fixture;

static void collect(void *opaque, GString *out)
{
    fixture *f = opaque;
    f->collected++;
    g_string_append(out, "# HELP vmgate_test A test.\n# TYPE vmgate_test gauge\nvmgate_test 1\n");
}

static bool ready(void *opaque, GString *out)
{
    fixture *f = opaque;
    g_string_append(out, f->ready ? "libvirt: ok\n" : "libvirt: not connected\n");
    return f->ready;
}

static const vg_metrics_http_ops ops = {.collect = collect, .ready = ready};

static int setup(void **state)
{
    fixture *f = g_new0(fixture, 1);
    g_autofree char *err = NULL;

    f->ready = true;
    if (vg_metrics_http_new("127.0.0.1", 0, &ops, f, &f->h, &err) < 0) {
        print_error("%s\n", err);
        g_free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    vg_metrics_http_free(f->h);
    g_free(f);
    return 0;
}

static int connect_to(fixture *f)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)vg_metrics_http_port(f->h))};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Read until the peer closes or @timeout_ms pass. @return what came; *closed says whether
 * the peer closed. */
static char *read_all(int fd, int timeout_ms, bool *closed)
{
    GString *in = g_string_new(NULL);
    int64_t deadline = vg_now_us() + (int64_t)timeout_ms * 1000;

    *closed = false;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = (deadline - vg_now_us()) / 1000;
        char buf[4096];
        ssize_t n;
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        n = read(fd, buf, sizeof(buf));
        if (n <= 0) {
            *closed = true;
            break;
        }
        g_string_append_len(in, buf, n);
    }
    return g_string_free(in, FALSE);
}

/* One request on a connection of its own; the whole response. */
static char *request(fixture *f, const char *req)
{
    int fd = connect_to(f);
    bool closed;
    char *resp;

    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    resp = read_all(fd, 5000, &closed);
    assert_true(closed);
    close(fd);
    return resp;
}

static void test_metrics_page_is_served_with_the_text_format_type(void **state)
{
    fixture *f = *state;
    g_autofree char *r =
        request(f, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

    assert_true(g_str_has_prefix(r, "HTTP/1.1 200 "));
    assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert_true(g_str_has_suffix(r, "\r\n\r\n# HELP vmgate_test A test.\n"
                                    "# TYPE vmgate_test gauge\nvmgate_test 1\n"));
    assert_int_equal(f->collected, 1);
}

static void test_head_has_no_body(void **state)
{
    fixture *f = *state;
    g_autofree char *r =
        request(f, "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

    assert_true(g_str_has_prefix(r, "HTTP/1.1 200 "));
    assert_true(g_str_has_suffix(r, "\r\n\r\n"));
}

static void test_healthz_says_ok(void **state)
{
    fixture *f = *state;
    g_autofree char *r =
        request(f, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

    assert_true(g_str_has_prefix(r, "HTTP/1.1 200 "));
    assert_true(g_str_has_suffix(r, "\r\n\r\nok\n"));
}

static void test_readyz_is_503_naming_the_failed_check(void **state)
{
    fixture *f = *state;
    g_autofree char *ok = NULL, *bad = NULL;

    ok = request(f, "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_true(g_str_has_prefix(ok, "HTTP/1.1 200 "));
    assert_true(g_str_has_suffix(ok, "\r\n\r\nready\nlibvirt: ok\n"));
    f->ready = false;
    bad = request(f, "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_true(g_str_has_prefix(bad, "HTTP/1.1 503 "));
    assert_true(g_str_has_suffix(bad, "\r\n\r\nnot ready\nlibvirt: not connected\n"));
}

static void test_other_methods_are_405_and_other_paths_404(void **state)
{
    fixture *f = *state;
    g_autofree char *post = NULL, *del = NULL, *missing = NULL, *dotdot = NULL;

    post = request(f, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                      "Connection: close\r\n\r\n");
    assert_true(g_str_has_prefix(post, "HTTP/1.1 405 "));
    assert_non_null(strstr(post, "Allow: GET, HEAD\r\n"));
    del = request(f, "DELETE /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_true(g_str_has_prefix(del, "HTTP/1.1 405 "));
    missing = request(f, "GET /metrics/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_true(g_str_has_prefix(missing, "HTTP/1.1 404 "));
    dotdot = request(f, "GET /../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_false(g_str_has_prefix(dotdot, "HTTP/1.1 200 "));
    assert_int_equal(f->collected, 0);
}

/* A body is refused before it is read: the server answers while the
 * client has sent none of the 100 MB it announced. */
static void test_a_request_body_is_refused_unread(void **state)
{
    fixture *f = *state;
    g_autofree char *r = request(f, "GET /metrics HTTP/1.1\r\nHost: x\r\n"
                                    "Content-Length: 100000000\r\nConnection: close\r\n\r\n");

    assert_true(g_str_has_prefix(r, "HTTP/1.1 413 "));
    assert_int_equal(f->collected, 0);
}

/* Connections that hold their slot: one over the cap is answered 503 and
 * closed at once, and the cap leaves room again once they are gone. */
static void test_connections_over_the_cap_are_closed(void **state)
{
    fixture *f = *state;
    int held[VG_METRICS_HTTP_MAX_CONNS];
    int extra;
    bool closed;
    g_autofree char *none = NULL, *after = NULL;
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    for (int i = 0; i < VG_METRICS_HTTP_MAX_CONNS; i++)
        held[i] = connect_to(f);
    /* The server has accepted all of them once one of them is answered. */
    assert_int_equal(write(held[0], req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    none = read_all(held[0], 5000, &closed);
    assert_true(g_str_has_prefix(none, "HTTP/1.1 200 "));
    close(held[0]);
    held[0] = connect_to(f);
    /* 16 open again (the server forgot the one it closed): the next is over the cap. */
    extra = connect_to(f);
    assert_int_equal(write(extra, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    g_free(none);
    none = read_all(extra, 5000, &closed);
    assert_true(closed);
    assert_true(g_str_has_prefix(none, "HTTP/1.1 503 "));
    close(extra);
    for (int i = 0; i < VG_METRICS_HTTP_MAX_CONNS; i++)
        close(held[i]);
    /* With the held ones gone, a new connection is served (the server
     * notices closed connections on its next accept or tick). */
    {
        int64_t deadline = vg_now_us() + 5 * G_USEC_PER_SEC;
        for (;;) {
            g_free(after);
            after = request(f, req);
            if (g_str_has_prefix(after, "HTTP/1.1 200 ") || vg_now_us() > deadline)
                break;
            g_usleep(100 * 1000); /* polling a condition with a deadline */
        }
    }
    assert_true(g_str_has_prefix(after, "HTTP/1.1 200 "));
}

/* A client that connects and trickles (or sends nothing) is cut off at the
 * connection's lifetime, not held forever. */
static void test_a_silent_connection_is_cut_off_at_its_lifetime(void **state)
{
    fixture *f = *state;
    int fd = connect_to(f);
    int64_t t0 = vg_now_us(), took;
    bool closed;
    g_autofree char *got = NULL;

    assert_int_equal(write(fd, "GET /metr", 9), 9);
    got = read_all(fd, (VG_METRICS_HTTP_CONN_SECONDS + 5) * 1000, &closed);
    took = vg_now_us() - t0;
    assert_true(closed);
    assert_true(took >= (VG_METRICS_HTTP_CONN_SECONDS - 1) * G_USEC_PER_SEC);
    assert_int_equal(f->collected, 0);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_page_is_served_with_the_text_format_type,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_has_no_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_healthz_says_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readyz_is_503_naming_the_failed_check, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_other_methods_are_405_and_other_paths_404, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_request_body_is_refused_unread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connections_over_the_cap_are_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_silent_connection_is_cut_off_at_its_lifetime, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
