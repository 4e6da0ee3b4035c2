/*
 * Unit tests: the public VNC listener's limits — too many unauthenticated
 * connections get an RFB failure with a reason, a slot frees up when a
 * connection ends, and bad bind parameters are reported.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>

#include "vnc-listener.h"

static SSL_CTX *no_ctx(void *opaque)
{
    (void)opaque;
    return NULL; /* the listener then refuses with a reason after the greeting */
}

static int never(void *opaque, const char *user, const char *password, const char *peer,
                 void **conn, char *reason, size_t len)
{
    (void)opaque;
    (void)user;
    (void)password;
    (void)peer;
    (void)conn;
    g_strlcpy(reason, "no", len);
    return -1;
}

static void no_attach(void *opaque, void *conn, SSL *ssl, int fd, const char *peer)
{
    (void)opaque;
    (void)conn;
    (void)ssl;
    (void)peer;
    close(fd);
}

static const vg_vnc_listener_ops ops = {no_ctx, never, no_attach};

static int dial(unsigned port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {10, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Greeting, our version, then the failure: count 0 and a reason. */
static void expect_refusal(int fd, const char *want)
{
    char ver[12], reason[256];
    uint8_t hdr[5];
    uint32_t n;
    assert_int_equal(recv(fd, ver, 12, MSG_WAITALL), 12);
    assert_memory_equal(ver, "RFB 003.008\n", 12);
    assert_int_equal(send(fd, "RFB 003.008\n", 12, 0), 12);
    assert_int_equal(recv(fd, hdr, 5, MSG_WAITALL), 5);
    assert_int_equal(hdr[0], 0);
    n = ((uint32_t)hdr[1] << 24) | ((uint32_t)hdr[2] << 16) | ((uint32_t)hdr[3] << 8) | hdr[4];
    assert_true(n > 0 && n < sizeof(reason));
    assert_int_equal(recv(fd, reason, n, MSG_WAITALL), (ssize_t)n);
    reason[n] = 0;
    assert_non_null(strstr(reason, want));
}

static void test_listener_caps_unauthenticated_connections(void **state)
{
    vg_vnc_listener_config cfg = {.address = "127.0.0.1", .port = 0, .max_unauth = 1};
    vg_vnc_listener *l = NULL;
    char buf[16];
    int a, b, c;
    (void)state;

    assert_int_equal(vg_vnc_listener_new(&cfg, &ops, NULL, &l), 0);
    assert_true(vg_vnc_listener_port(l) > 0);
    /* a holds the only slot: it says nothing after the greeting. */
    a = dial(vg_vnc_listener_port(l));
    assert_int_equal(recv(a, buf, 12, MSG_WAITALL), 12);
    b = dial(vg_vnc_listener_port(l));
    expect_refusal(b, "too many connections");
    close(b);
    /* a's slot frees when the server gives up on it (its deadline). */
    assert_int_equal(recv(a, buf, sizeof(buf), 0), 0);
    close(a);
    /* Now a new client gets past the cap (and learns there is no certificate). */
    c = dial(vg_vnc_listener_port(l));
    expect_refusal(c, "no TLS certificate");
    close(c);
    vg_vnc_listener_free(l);
}

static void test_listener_reports_bad_bind(void **state)
{
    vg_vnc_listener_config cfg = {.address = "127.0.0.1", .port = 0};
    vg_vnc_listener_config bad = {.address = "not-an-address", .port = 0};
    vg_vnc_listener *l = NULL, *l2 = NULL;
    (void)state;

    assert_int_equal(vg_vnc_listener_new(&bad, &ops, NULL, &l2), -EINVAL);
    assert_int_equal(vg_vnc_listener_new(&cfg, &ops, NULL, &l), 0);
    cfg.port = vg_vnc_listener_port(l);
    assert_int_equal(vg_vnc_listener_new(&cfg, &ops, NULL, &l2), -EADDRINUSE);
    assert_null(l2);
    vg_vnc_listener_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listener_caps_unauthenticated_connections),
        cmocka_unit_test(test_listener_reports_bad_bind),
    };
    return cmocka_run_group_tests_name("vnc_listener", tests, NULL, NULL);
}
