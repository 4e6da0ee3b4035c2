/*
 * vmgate — VNC front end: deadline-bounded socket and TLS I/O.
 *
 * Threading: stateless; each call works on the caller's own fd and SSL.
 */
#include "vnc-io-priv.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "net.h"
#include "tls-policy.h"
#include "util.h"

int vg_vnc_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

int vg_vnc_read_full(int fd, void *buf, size_t n, int64_t deadline_us)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
            continue;
        }
        if (r == 0)
            return -ECONNRESET;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int err = vg_net_wait_fd(fd, POLLIN, deadline_us);
        if (err < 0)
            return err;
    }
    return 0;
}

int vg_vnc_write_full(int fd, const void *buf, size_t n, int64_t deadline_us)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
        if (r >= 0) {
            p += r;
            n -= (size_t)r;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EPIPE)
            return -ECONNRESET;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int err = vg_net_wait_fd(fd, POLLOUT, deadline_us);
        if (err < 0)
            return err;
    }
    return 0;
}

int vg_vnc_ssl_read_full(SSL *ssl, int fd, void *buf, size_t n, int64_t deadline_us)
{
    uint8_t *p = buf;
    while (n > 0) {
        size_t got = 0;
        errno = 0;
        int r = SSL_read_ex(ssl, p, n, &got);
        if (r == 1) {
            p += got;
            n -= got;
            continue;
        }
        short events = 0;
        int err = vg_tls_want(ssl, r, &events);
        if (err == 0)
            err = vg_net_wait_fd(fd, events, deadline_us);
        if (err < 0)
            return err;
    }
    return 0;
}

int vg_vnc_ssl_write_full(SSL *ssl, int fd, const void *buf, size_t n, int64_t deadline_us)
{
    const uint8_t *p = buf;
    while (n > 0) {
        size_t put = 0;
        errno = 0;
        int r = SSL_write_ex(ssl, p, n, &put);
        if (r == 1) {
            p += put;
            n -= put;
            continue;
        }
        short events = 0;
        int err = vg_tls_want(ssl, r, &events);
        if (err == 0)
            err = vg_net_wait_fd(fd, events, deadline_us);
        if (err < 0)
            return err;
    }
    return 0;
}
