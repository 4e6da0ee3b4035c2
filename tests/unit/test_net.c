/*
 * Unit tests for vmm-bridge/net.c: the acceptor hands its protocol a socket
 * with TCP_NODELAY set, on IPv4 and IPv6, and counts the connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>

#include "net.h"

typedef struct served {
    GMutex lock;
    GCond cond;
    int count;
    int nodelay; /* the option as serve() found it, -errno on failure */
    vg_net_acceptor *a;
} served;

static void serve(void *opaque, int fd, const char *peer)
{
    served *s = opaque;
    int v = -1;
    socklen_t len = sizeof(v);

    (void)peer;
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) < 0)
        v = -errno;
    close(fd);
    vg_net_acceptor_closed(s->a, false);
    g_mutex_lock(&s->lock);
    s->nodelay = v;
    s->count++;
    g_cond_broadcast(&s->cond);
    g_mutex_unlock(&s->lock);
}

static const vg_net_acceptor_ops ops = {.serve = serve};

static int connect_to(const char *address, unsigned port)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    socklen_t sl;
    int fd;

    if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        sl = sizeof(*v4);
    } else {
        assert_int_equal(inet_pton(AF_INET6, address, &v6->sin6_addr), 1);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        sl = sizeof(*v6);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, sl), 0);
    return fd;
}

static void check_nodelay_on(const char *address)
{
    vg_net_acceptor_config cfg = {
        .address = address, .max_unauth = 4, .max_total = 4, .fd_limit = 1 << 20, .tag = "test"};
    served s = {.nodelay = -1};
    int64_t deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;
    int fd, r;

    g_mutex_init(&s.lock);
    g_cond_init(&s.cond);
    r = vg_net_acceptor_new(&cfg, &ops, &s, &s.a);
    assert_int_equal(r, 0);
    fd = connect_to(address, vg_net_acceptor_port(s.a));
    g_mutex_lock(&s.lock);
    while (s.count == 0 && g_cond_wait_until(&s.cond, &s.lock, deadline))
        ;
    g_mutex_unlock(&s.lock);
    close(fd);
    vg_net_acceptor_wait(s.a, true);
    vg_net_acceptor_free(s.a);
    assert_int_equal(s.count, 1);
    /* Without it every frame waits for the viewer's delayed ACK. */
    assert_int_equal(s.nodelay, 1);
    g_mutex_clear(&s.lock);
    g_cond_clear(&s.cond);
}

static void test_acceptor_sets_nodelay_ipv4(void **state)
{
    (void)state;
    check_nodelay_on("127.0.0.1");
}

static void test_acceptor_sets_nodelay_ipv6(void **state)
{
    (void)state;
    check_nodelay_on("::1");
}

static void test_set_nodelay_reports_a_non_tcp_socket(void **state)
{
    int sv[2];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_true(vg_net_set_nodelay(sv[0]) < 0);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acceptor_sets_nodelay_ipv4),
        cmocka_unit_test(test_acceptor_sets_nodelay_ipv6),
        cmocka_unit_test(test_set_nodelay_reports_a_non_tcp_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
