/*
 * vmgate — listening TCP sockets, peer names, and the acceptor the public
 * listeners (VNC, RDP) share: an accept thread, one thread per connection,
 * and the connection caps that keep the gateway alive under load (a cap on
 * connections not yet logged in, each bounded by its protocol's deadline;
 * a cap on all connections; descriptors kept below a limit).
 *
 * Threading: one accept thread; serve() runs on a new thread per
 * connection. `lock` guards the counters; the count functions may be
 * called from any thread.
 */
#ifndef VG_NET_H
#define VG_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/** Room for "[v6-address]:port" and a NUL. */
#define VG_PEER_NAME_SIZE 80

/**
 * A listening TCP socket on the IP literal @address (IPv4 or IPv6; an IPv6
 * socket is v6-only) and @port (0 picks a free one), close-on-exec,
 * SO_REUSEADDR, backlog 64.
 * @param bound_port  receives the port actually bound
 * @return the descriptor, or a negative errno (-EINVAL for an address that is
 *         not an IP literal or a port above 65535).
 */
int vg_net_listen(const char *address, unsigned port, unsigned *bound_port);

/**
 * Turn off Nagle's algorithm on the connected TCP socket @fd. Every socket a
 * viewer talks to needs it: a screen update or a key is a small write that
 * must leave at once, not wait for the peer's ACK of the previous one (that
 * wait, with delayed ACKs, cost about 50 ms per frame).
 * @return 0 or a negative errno.
 */
int vg_net_set_nodelay(int fd);

/**
 * Wait for @events (POLLIN/POLLOUT) on @fd until the monotonic deadline
 * @deadline_us (vg_now_us()). @return 0 (ready, or an error the next call
 * on @fd reports), -ETIMEDOUT, or a negative errno.
 */
int vg_net_wait_fd(int fd, short events, int64_t deadline_us);

/** "a.b.c.d:port" or "[v6]:port" for @ss, or "?" for other families. */
void vg_net_peer_name(const struct sockaddr_storage *ss, char *out, size_t len);

typedef struct vg_net_acceptor vg_net_acceptor;

typedef struct vg_net_acceptor_config {
    const char *address;            /**< IP literal to bind */
    unsigned port;                  /**< 0 picks a free port */
    unsigned max_unauth;            /**< connections not yet logged in */
    unsigned max_unauth_per_source; /**< of those, from one address (IPv6: one /64); 0: 4 */
    unsigned login_timeout_ms;      /**< not logged in by then: cut off (0: 10 s) */
    unsigned max_total;             /**< all connections */
    int fd_limit;                   /**< refuse connections whose descriptor is this or above */
    const char *tag;                /**< log tag ("vnc", "rdp"); a front end's name in metrics.h
                                         counts its refusals in vmgate_connections_refused_total */
} vg_net_acceptor_config;

typedef struct vg_net_acceptor_ops {
    /**
     * A new connection, counted as not logged in, on a thread of its own
     * (SIGPIPE blocked), with TCP_NODELAY set. @fd is yours. Call
     * vg_net_acceptor_logged_in once it logs in and vg_net_acceptor_closed
     * when it ends (from any thread, also after serve returned), each with
     * this @peer string, and vg_net_acceptor_closed before closing @fd. A
     * connection not logged in within login_timeout_ms is shut down
     * (shutdown(2)) by the acceptor: every blocking step of the protocol,
     * a library's TLS or NLA step included, then fails and the connection
     * ends.
     */
    void (*serve)(void *opaque, int fd, const char *peer);
    /**
     * Optional: over a cap. Tell the peer @reason in the protocol's words;
     * the acceptor closes @fd afterwards. Runs on a small pool of its own,
     * never on the accept thread; when that pool is busy, over-cap
     * connections are closed without a word. Must bound its own waits.
     */
    void (*refuse)(void *opaque, int fd, const char *reason);
} vg_net_acceptor_ops;

/** Bind and start accepting. @return 0 or a negative errno (see vg_net_listen). */
int vg_net_acceptor_new(const vg_net_acceptor_config *cfg, const vg_net_acceptor_ops *ops,
                        void *opaque, vg_net_acceptor **out);

/** The port actually bound. */
unsigned vg_net_acceptor_port(vg_net_acceptor *a);

/** The connection from @peer (as serve() got it) logged in: it no longer counts against the
 * caps on connections not logged in. */
void vg_net_acceptor_logged_in(vg_net_acceptor *a, const char *peer);

/** The connection from @peer ended; @logged_in says whether vg_net_acceptor_logged_in was
 * called for it (then @peer may be NULL). */
void vg_net_acceptor_closed(vg_net_acceptor *a, const char *peer, bool logged_in);

/** Stop accepting (joins the accept thread and waits for refusals in progress). Counting goes
 * on. */
void vg_net_acceptor_stop(vg_net_acceptor *a);

/** Wait until no connection is left that is not logged in (@all: no connection at all). */
void vg_net_acceptor_wait(vg_net_acceptor *a, bool all);

/** Stop accepting and free. Wait first for what must end. NULL is fine. */
void vg_net_acceptor_free(vg_net_acceptor *a);

#endif /* VG_NET_H */
