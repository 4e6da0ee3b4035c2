/*
 * Unit tests for base/net.c: the acceptor hands its protocol a socket
 * with TCP_NODELAY set, on IPv4 and IPv6, and counts the connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>

#include "metrics.h"
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

    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) < 0)
        v = -errno;
    vg_net_acceptor_closed(s->a, peer, false);
    close(fd);
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

/* An IPv4 connection to @address:@port from the local address @from. */
static int connect_to_from(const char *address, unsigned port, const char *from)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in local = {.sin_family = AF_INET};
    int fd;

    assert_int_equal(inet_pton(AF_INET, address, &to.sin_addr), 1);
    assert_int_equal(inet_pton(AF_INET, from, &local.sin_addr), 1);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&local, sizeof(local)), 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
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

/* ---- caps: connections held open until released ---- */

typedef struct holder {
    GMutex lock;
    GCond cond;
    vg_net_acceptor *a;
    int served, refused;
    bool release, refuse_may_end;
    char reason[128];
} holder;

static bool wait_for(holder *h, const int *counter, int want)
{
    int64_t deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;
    bool ok = true;

    g_mutex_lock(&h->lock);
    while (*counter < want && ok)
        ok = g_cond_wait_until(&h->cond, &h->lock, deadline);
    ok = *counter >= want;
    g_mutex_unlock(&h->lock);
    return ok;
}

static void hold_serve(void *opaque, int fd, const char *peer)
{
    holder *h = opaque;

    g_mutex_lock(&h->lock);
    h->served++;
    g_cond_broadcast(&h->cond);
    while (!h->release)
        g_cond_wait(&h->cond, &h->lock);
    g_mutex_unlock(&h->lock);
    vg_net_acceptor_closed(h->a, peer, false);
    close(fd);
}

/* A refusal that waits on its peer for as long as the test says. */
static void slow_refuse(void *opaque, int fd, const char *reason)
{
    holder *h = opaque;

    (void)fd;
    g_mutex_lock(&h->lock);
    h->refused++;
    g_strlcpy(h->reason, reason, sizeof(h->reason));
    g_cond_broadcast(&h->cond);
    while (!h->refuse_may_end)
        g_cond_wait(&h->cond, &h->lock);
    g_mutex_unlock(&h->lock);
}

static const vg_net_acceptor_ops hold_ops = {.serve = hold_serve, .refuse = slow_refuse};

/* Four connections not logged in from one address fill its share; a fifth
 * is refused with a reason (and counted in the front end's metrics), while
 * other addresses still get in, also while that refusal is still talking
 * to its peer. */
static void test_acceptor_caps_each_source(void **state)
{
    vg_net_acceptor_config cfg = {.address = "127.0.0.1",
                                  .max_unauth = 16,
                                  .max_total = 16,
                                  .fd_limit = 1 << 20,
                                  .tag = "rdp"};
    holder h = {0};
    int fds[7];
    unsigned port;
    vg_counter *per_source = &vg_metrics.refused[VG_METRIC_PROTO_RDP][VG_METRIC_REFUSED_PER_SOURCE];
    vg_counter *full = &vg_metrics.refused[VG_METRIC_PROTO_RDP][VG_METRIC_REFUSED_FULL];
    uint64_t per_source0 = vg_counter_get(per_source), full0 = vg_counter_get(full);

    (void)state;
    g_mutex_init(&h.lock);
    g_cond_init(&h.cond);
    assert_int_equal(vg_net_acceptor_new(&cfg, &hold_ops, &h, &h.a), 0);
    port = vg_net_acceptor_port(h.a);
    for (int i = 0; i < 4; i++)
        fds[i] = connect_to("127.0.0.1", port);
    assert_true(wait_for(&h, &h.served, 4));
    fds[4] = connect_to_from("127.0.0.1", port, "127.0.0.1");
    assert_true(wait_for(&h, &h.refused, 1));
    assert_non_null(strstr(h.reason, "from your address"));
    assert_int_equal(vg_counter_get(per_source), per_source0 + 1);
    assert_int_equal(vg_counter_get(full), full0);
    /* The refusal is still blocked on its peer: the next address gets in. */
    fds[5] = connect_to_from("127.0.0.1", port, "127.0.0.2");
    assert_true(wait_for(&h, &h.served, 5));
    fds[6] = connect_to_from("127.0.0.1", port, "127.0.0.3");
    assert_true(wait_for(&h, &h.served, 6));

    g_mutex_lock(&h.lock);
    h.release = h.refuse_may_end = true;
    g_cond_broadcast(&h.cond);
    g_mutex_unlock(&h.lock);
    vg_net_acceptor_wait(h.a, true);
    /* The slots came back: 127.0.0.1 gets in again. */
    h.release = false;
    {
        int fd = connect_to("127.0.0.1", port);
        assert_true(wait_for(&h, &h.served, 7));
        g_mutex_lock(&h.lock);
        h.release = true;
        g_cond_broadcast(&h.cond);
        g_mutex_unlock(&h.lock);
        close(fd);
    }
    vg_net_acceptor_wait(h.a, true);
    vg_net_acceptor_free(h.a);
    for (int i = 0; i < 7; i++)
        close(fds[i]);
    assert_int_equal(h.refused, 1);
    g_mutex_clear(&h.lock);
    g_cond_clear(&h.cond);
}

/* ---- the login deadline ---- */

typedef struct reader {
    GMutex lock;
    GCond cond;
    vg_net_acceptor *a;
    bool done;
    ssize_t got; /* what the blocked read() returned */
} reader;

/* A protocol blocked reading a peer that never sends. */
static void read_serve(void *opaque, int fd, const char *peer)
{
    reader *r = opaque;
    char c;
    ssize_t n = read(fd, &c, 1);

    vg_net_acceptor_closed(r->a, peer, false);
    close(fd);
    g_mutex_lock(&r->lock);
    r->got = n;
    r->done = true;
    g_cond_broadcast(&r->cond);
    g_mutex_unlock(&r->lock);
}

static const vg_net_acceptor_ops read_ops = {.serve = read_serve};

/* A connection that has not logged in by the deadline is shut down, which
 * wakes a protocol blocked on it; the client sees the end. */
static void test_acceptor_cuts_off_a_login_past_the_deadline(void **state)
{
    vg_net_acceptor_config cfg = {.address = "127.0.0.1",
                                  .max_unauth = 4,
                                  .max_total = 4,
                                  .login_timeout_ms = 300,
                                  .fd_limit = 1 << 20,
                                  .tag = "test"};
    reader r = {.got = -2};
    int64_t start = g_get_monotonic_time(), took;
    int64_t deadline = start + 10 * G_TIME_SPAN_SECOND;
    char c;
    int fd;

    (void)state;
    g_mutex_init(&r.lock);
    g_cond_init(&r.cond);
    assert_int_equal(vg_net_acceptor_new(&cfg, &read_ops, &r, &r.a), 0);
    fd = connect_to("127.0.0.1", vg_net_acceptor_port(r.a));
    g_mutex_lock(&r.lock);
    while (!r.done && g_cond_wait_until(&r.cond, &r.lock, deadline))
        ;
    g_mutex_unlock(&r.lock);
    took = g_get_monotonic_time() - start;
    assert_true(r.done);
    assert_int_equal(r.got, 0);
    assert_true(took >= 300 * 1000);
    assert_int_equal(read(fd, &c, 1), 0);
    close(fd);
    vg_net_acceptor_wait(r.a, true);
    vg_net_acceptor_free(r.a);
    g_mutex_clear(&r.lock);
    g_cond_clear(&r.cond);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acceptor_sets_nodelay_ipv4),
        cmocka_unit_test(test_acceptor_sets_nodelay_ipv6),
        cmocka_unit_test(test_set_nodelay_reports_a_non_tcp_socket),
        cmocka_unit_test(test_acceptor_caps_each_source),
        cmocka_unit_test(test_acceptor_cuts_off_a_login_past_the_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
