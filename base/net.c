/*
 * vmgate — listening sockets and peer names. See net.h.
 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <glib.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

int vg_net_listen(const char *address, unsigned port, unsigned *bound_port)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    socklen_t sl;
    int one = 1, fd, r;

    if (!address || port > 65535)
        return -EINVAL;
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        sl = sizeof(*v4);
    } else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        sl = sizeof(*v6);
    } else {
        return -EINVAL;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 64) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    if (bound_port)
        *bound_port = ss.ss_family == AF_INET ? ntohs(v4->sin_port) : ntohs(v6->sin6_port);
    return fd;
}

int vg_net_set_nodelay(int fd)
{
    int one = 1;

    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ? -errno : 0;
}

void vg_net_peer_name(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        snprintf(out, len, "%s:%u", host, ntohs(a->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        snprintf(out, len, "[%s]:%u", host, ntohs(a->sin6_port));
    } else if (len > 0) {
        snprintf(out, len, "?");
    }
}

struct vg_net_acceptor {
    vg_net_acceptor_config cfg;
    char tag[16];
    int proto; /* vg_metric_proto of the tag, for refusals; -1: not counted */
    vg_net_acceptor_ops ops;
    void *opaque;
    int fd, wake_fd;
    unsigned port;
    GThread *thread;

    GMutex lock;
    GCond cond;
    unsigned unauth, total;
    GHashTable *unauth_by_source; /* source key -> count (GUINT_TO_POINTER), under lock */
    GHashTable *pending;          /* peer -> pending *: not logged in yet, under lock */
    GThreadPool *refusals;        /* refuse() off the accept thread */
};

#define DEFAULT_MAX_UNAUTH_PER_SOURCE 4
#define DEFAULT_LOGIN_TIMEOUT_MS      10000

/* A connection not logged in yet, and when it must have. */
typedef struct pending {
    int fd;
    int64_t deadline; /* vg_now_us(); INT64_MAX once it has been cut off */
} pending;
#define REFUSAL_THREADS     4
#define REFUSALS_QUEUED_MAX 16

/*
 * The source a peer string counts against: its address without the port,
 * an IPv6 address by its /64 (one host gets a whole /64), an IPv4-mapped
 * one as the IPv4 address. @peer is what vg_net_peer_name wrote.
 */
static void source_key(const char *peer, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN];
    const char *end;
    unsigned char a6[16];
    size_t n;

    if (peer[0] == '[' && (end = strchr(peer, ']')) != NULL) {
        n = (size_t)(end - peer - 1);
        if (n < sizeof(host)) {
            memcpy(host, peer + 1, n);
            host[n] = '\0';
            if (inet_pton(AF_INET6, host, a6) == 1) {
                static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
                if (memcmp(a6, mapped, sizeof(mapped)) == 0) {
                    inet_ntop(AF_INET, a6 + 12, out, (socklen_t)len);
                    return;
                }
                memset(a6 + 8, 0, 8);
                inet_ntop(AF_INET6, a6, host, sizeof(host));
                snprintf(out, len, "%s/64", host);
                return;
            }
        }
    }
    end = strrchr(peer, ':');
    n = end ? (size_t)(end - peer) : strlen(peer);
    snprintf(out, len, "%.*s", (int)n, peer);
}

/* Count one connection not logged in from @peer out. Under a->lock. */
static void source_release_locked(vg_net_acceptor *a, const char *peer)
{
    char key[VG_PEER_NAME_SIZE];
    guint n;

    source_key(peer, key, sizeof(key));
    n = GPOINTER_TO_UINT(g_hash_table_lookup(a->unauth_by_source, key));
    if (n <= 1)
        g_hash_table_remove(a->unauth_by_source, key);
    else
        g_hash_table_insert(a->unauth_by_source, g_strdup(key), GUINT_TO_POINTER(n - 1));
}

typedef struct refusal {
    vg_net_acceptor *a;
    int fd;
    const char *reason; /* static */
} refusal;

static void refuse_job(gpointer data, gpointer user_data)
{
    refusal *r = data;
    (void)user_data;
    r->a->ops.refuse(r->a->opaque, r->fd, r->reason);
    close(r->fd);
    g_free(r);
}

typedef struct conn {
    vg_net_acceptor *a;
    int fd;
    char peer[VG_PEER_NAME_SIZE];
} conn;

static gpointer conn_thread(gpointer data)
{
    conn *c = data;
    sigset_t pipe_set;

    /* TLS libraries write with write(): a vanished client must not kill us. */
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    c->a->ops.serve(c->a->opaque, c->fd, c->peer);
    g_free(c);
    return NULL;
}

/*
 * Cut off the connections whose login deadline has passed: shutdown() wakes
 * whatever the protocol is blocked in (a TLS or NLA step of a library
 * included), which then ends the connection and reports it closed. Returns
 * the poll timeout until the next deadline (ms), or -1 if none.
 */
static int expire_pending(vg_net_acceptor *a)
{
    GHashTableIter it;
    gpointer k, v;
    int64_t now = vg_now_us(), next = INT64_MAX;

    g_mutex_lock(&a->lock);
    g_hash_table_iter_init(&it, a->pending);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        pending *pe = v;
        if (pe->deadline <= now) {
            vg_notice(a->tag, "peer=%s: dropped: not logged in within %.1f s", (const char *)k,
                      a->cfg.login_timeout_ms / 1000.0);
            shutdown(pe->fd, SHUT_RDWR);
            pe->deadline = INT64_MAX;
        } else if (pe->deadline < next) {
            next = pe->deadline;
        }
    }
    g_mutex_unlock(&a->lock);
    if (next == INT64_MAX)
        return -1;
    /* Round up: waking early would only poll again. */
    return (int)MIN((next - now + 999) / 1000, 60 * 1000);
}

static gpointer accept_thread(gpointer data)
{
    vg_net_acceptor *a = data;

    for (;;) {
        struct pollfd fds[2] = {{.fd = a->fd, .events = POLLIN},
                                {.fd = a->wake_fd, .events = POLLIN}};
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        const char *full = NULL;
        vg_metric_refusal cap = VG_METRIC_REFUSED_FULL;
        char key[VG_PEER_NAME_SIZE];
        guint from_source;
        pending *pe;
        GThread *t;
        conn *c;
        int fd, r;

        int timeout_ms = expire_pending(a);

        if (poll(fds, 2, timeout_ms) < 0) {
            if (errno == EINTR)
                continue;
            vg_error(a->tag, "poll: %s", g_strerror(errno));
            return NULL;
        }
        if (fds[1].revents)
            return NULL;
        if (!fds[0].revents)
            continue; /* a deadline is due */
        fd = accept4(a->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                vg_warning(a->tag, "accept: %s", g_strerror(errno));
            continue;
        }
        c = g_new0(conn, 1);
        c->a = a;
        c->fd = fd;
        vg_net_peer_name(&ss, c->peer, sizeof(c->peer));
        r = vg_net_set_nodelay(fd);
        if (r < 0)
            vg_warning(a->tag, "peer=%s: TCP_NODELAY: %s", c->peer, g_strerror(-r));
        source_key(c->peer, key, sizeof(key));
        g_mutex_lock(&a->lock);
        from_source = GPOINTER_TO_UINT(g_hash_table_lookup(a->unauth_by_source, key));
        if (fd >= a->cfg.fd_limit || a->total >= a->cfg.max_total) {
            full = "the gateway is full, try again later";
            cap = VG_METRIC_REFUSED_FULL;
        } else if (a->unauth >= a->cfg.max_unauth) {
            full = "too many connections are logging in, try again later";
            cap = VG_METRIC_REFUSED_LOGGING_IN;
        } else if (from_source >= a->cfg.max_unauth_per_source) {
            full = "too many connections from your address are logging in, try again later";
            cap = VG_METRIC_REFUSED_PER_SOURCE;
        }
        if (!full) {
            a->unauth++;
            a->total++;
            g_hash_table_insert(a->unauth_by_source, g_strdup(key),
                                GUINT_TO_POINTER(from_source + 1));
            pe = g_new(pending, 1);
            pe->fd = fd;
            pe->deadline = vg_now_us() + (int64_t)a->cfg.login_timeout_ms * 1000;
            g_hash_table_insert(a->pending, g_strdup(c->peer), pe);
        }
        g_mutex_unlock(&a->lock);
        if (full) {
            vg_warning(a->tag, "peer=%s: refused: %s", c->peer, full);
            if (a->proto >= 0)
                vg_metrics_refused((vg_metric_proto)a->proto, cap);
            /* Telling the peer why waits on the peer: never here. */
            if (a->ops.refuse && a->refusals &&
                g_thread_pool_unprocessed(a->refusals) < REFUSALS_QUEUED_MAX) {
                refusal *job = g_new(refusal, 1);
                *job = (refusal){a, fd, full};
                g_thread_pool_push(a->refusals, job, NULL);
            } else {
                close(fd);
            }
            g_free(c);
            continue;
        }
        t = g_thread_try_new("vg-conn", conn_thread, c, NULL);
        if (!t) {
            vg_warning(a->tag, "peer=%s: refused: no thread for it", c->peer);
            vg_net_acceptor_closed(a, c->peer, false);
            close(fd);
            g_free(c);
            continue;
        }
        g_thread_unref(t);
    }
}

int vg_net_acceptor_new(const vg_net_acceptor_config *cfg, const vg_net_acceptor_ops *ops,
                        void *opaque, vg_net_acceptor **out)
{
    vg_net_acceptor *a = g_new0(vg_net_acceptor, 1);
    int r;

    a->cfg = *cfg;
    a->cfg.address = NULL;
    g_strlcpy(a->tag, cfg->tag ? cfg->tag : "net", sizeof(a->tag));
    a->cfg.tag = a->tag;
    a->proto = vg_metric_proto_parse(a->tag);
    if (!a->cfg.max_unauth_per_source)
        a->cfg.max_unauth_per_source = DEFAULT_MAX_UNAUTH_PER_SOURCE;
    if (!a->cfg.login_timeout_ms)
        a->cfg.login_timeout_ms = DEFAULT_LOGIN_TIMEOUT_MS;
    a->pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    a->ops = *ops;
    a->opaque = opaque;
    a->unauth_by_source = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    if (ops->refuse)
        a->refusals = g_thread_pool_new(refuse_job, NULL, REFUSAL_THREADS, FALSE, NULL);
    g_mutex_init(&a->lock);
    g_cond_init(&a->cond);
    a->fd = -1;
    a->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (a->wake_fd < 0) {
        r = -errno;
        goto fail;
    }
    a->fd = vg_net_listen(cfg->address, cfg->port, &a->port);
    if (a->fd < 0) {
        r = a->fd;
        a->fd = -1;
        goto fail;
    }
    a->thread = g_thread_try_new("vg-accept", accept_thread, a, NULL);
    if (!a->thread) {
        r = -EAGAIN;
        goto fail;
    }
    *out = a;
    return 0;

fail:
    if (a->refusals)
        g_thread_pool_free(a->refusals, FALSE, TRUE);
    g_hash_table_unref(a->unauth_by_source);
    g_hash_table_unref(a->pending);
    if (a->fd >= 0)
        close(a->fd);
    if (a->wake_fd >= 0)
        close(a->wake_fd);
    g_mutex_clear(&a->lock);
    g_cond_clear(&a->cond);
    g_free(a);
    return r;
}

unsigned vg_net_acceptor_port(vg_net_acceptor *a)
{
    return a->port;
}

void vg_net_acceptor_logged_in(vg_net_acceptor *a, const char *peer)
{
    g_mutex_lock(&a->lock);
    if (a->unauth > 0)
        a->unauth--;
    if (peer) {
        source_release_locked(a, peer);
        g_hash_table_remove(a->pending, peer);
    }
    g_cond_broadcast(&a->cond);
    g_mutex_unlock(&a->lock);
}

void vg_net_acceptor_closed(vg_net_acceptor *a, const char *peer, bool logged_in)
{
    g_mutex_lock(&a->lock);
    if (!logged_in && a->unauth > 0)
        a->unauth--;
    if (!logged_in && peer) {
        source_release_locked(a, peer);
        g_hash_table_remove(a->pending, peer);
    }
    if (a->total > 0)
        a->total--;
    g_cond_broadcast(&a->cond);
    g_mutex_unlock(&a->lock);
}

void vg_net_acceptor_stop(vg_net_acceptor *a)
{
    uint64_t one = 1;
    if (!a->thread)
        return;
    if (write(a->wake_fd, &one, sizeof(one)) < 0)
        vg_debug(a->tag, "eventfd: %s", g_strerror(errno));
    g_thread_join(a->thread);
    a->thread = NULL;
    close(a->fd);
    a->fd = -1;
    if (a->refusals) {
        g_thread_pool_free(a->refusals, FALSE, TRUE); /* each refusal bounds its own waits */
        a->refusals = NULL;
    }
}

void vg_net_acceptor_wait(vg_net_acceptor *a, bool all)
{
    g_mutex_lock(&a->lock);
    while (all ? a->total > 0 : a->unauth > 0)
        g_cond_wait(&a->cond, &a->lock);
    g_mutex_unlock(&a->lock);
}

void vg_net_acceptor_free(vg_net_acceptor *a)
{
    if (!a)
        return;
    vg_net_acceptor_stop(a);
    g_hash_table_unref(a->unauth_by_source);
    g_hash_table_unref(a->pending);
    close(a->wake_fd);
    g_mutex_clear(&a->lock);
    g_cond_clear(&a->cond);
    g_free(a);
}

int vg_net_wait_fd(int fd, short events, int64_t deadline_us)
{
    for (;;) {
        int64_t left = deadline_us - vg_now_us();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd pfd = {.fd = fd, .events = events};
        int ms = (int)((left + 999) / 1000);
        int r = poll(&pfd, 1, ms);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r > 0)
            return 0; /* readable, writable, or an error the next call reports */
    }
}
