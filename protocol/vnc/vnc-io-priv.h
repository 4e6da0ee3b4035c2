/*
 * vmgate — VNC front end: blocking-with-deadline I/O on non-blocking
 * sockets, plain and TLS. Private to protocol/vnc.
 *
 * Every call takes an absolute deadline (monotonic µs, vg_now_us()) so that
 * a client that stops mid-way cannot hold a thread longer than its budget.
 * The functions keep no state; any thread may call them on its own fds.
 * Writes use MSG_NOSIGNAL; TLS writes go through OpenSSL's socket BIO,
 * which uses write(): threads that call them block SIGPIPE (the relay
 * thread does) or the process ignores it.
 */
#ifndef VG_VNC_IO_PRIV_H
#define VG_VNC_IO_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/** Put @fd in non-blocking mode. @return 0 or -errno. */
int vg_vnc_set_nonblock(int fd);

/** Read exactly @n bytes. @return 0, -ECONNRESET at end of stream, -ETIMEDOUT, -errno. */
int vg_vnc_read_full(int fd, void *buf, size_t n, int64_t deadline_us);

/** Write all @n bytes. @return 0, -ETIMEDOUT, -errno. */
int vg_vnc_write_full(int fd, const void *buf, size_t n, int64_t deadline_us);

/** Read exactly @n bytes over TLS. @return 0, -ECONNRESET, -EPROTO, -ETIMEDOUT. */
int vg_vnc_ssl_read_full(SSL *ssl, int fd, void *buf, size_t n, int64_t deadline_us);

/** Write all @n bytes over TLS. @return 0, -ECONNRESET, -EPROTO, -ETIMEDOUT. */
int vg_vnc_ssl_write_full(SSL *ssl, int fd, const void *buf, size_t n, int64_t deadline_us);

/** Big-endian helpers for RFB fields. */
static inline uint32_t vg_vnc_get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void vg_vnc_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif /* VG_VNC_IO_PRIV_H */
