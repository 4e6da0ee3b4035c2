/* tests/bench/ws-shim.h — a minimal RFC 6455 WebSocket client that turns a
 * ws:// connection into a plain byte stream on a socketpair.
 *
 * Why by hand: the benchmark's RFB client is libvncclient, which cannot speak
 * WebSocket (it connects to plain TCP or Unix sockets only). With the shim the
 * benchmark keeps one RFB code path for every peer: for websockify it speaks
 * RFB on the socketpair and the shim does the WebSocket framing on a thread of
 * its own. Only what talking to websockify needs: ws:// (no TLS), one
 * subprotocol ("binary"), binary messages; it is not a general library.
 */
#ifndef VG_WS_SHIM_H
#define VG_WS_SHIM_H

#include <stdint.h>

typedef struct vg_ws_shim vg_ws_shim;

/* Connect to ws://host:port/path (TCP_NODELAY), do the HTTP Upgrade
 * (Sec-WebSocket-Version 13, Sec-WebSocket-Protocol: binary; the server's
 * Sec-WebSocket-Accept is checked), then relay on a thread of its own between
 * a socketpair and the WebSocket: bytes written to the returned fd go out as
 * masked binary frames, payloads of the server's binary frames (fragmented or
 * not, 7/16/64-bit lengths) come out of it; pings are answered, a Close is
 * answered and ends the stream (EOF on the fd). When the caller closes (or
 * shuts down for writing) its end, the shim sends a Close frame.
 *
 * deadline_us is an absolute g_get_monotonic_time() time for the TCP connect
 * and the handshake (name resolution is not bounded by it: use numeric
 * addresses or localhost).
 *
 * Returns the caller's end of the socketpair (blocking, close-on-exec; the
 * caller owns it and closes it, e.g. libvncclient does when given it as
 * cl->sock) and stores it in *fd_out when fd_out is not NULL, or a negative
 * errno: -ETIMEDOUT (deadline), -EPROTO (not a WebSocket answer, or a refused
 * upgrade), -EHOSTUNREACH (name not resolved), -EINVAL (bad arguments), or the
 * connect/socket error. *out gets the shim, to be freed with
 * vg_ws_shim_free(), on success only. */
int vg_ws_shim_connect(const char *host, unsigned port, const char *path, int64_t deadline_us,
                       vg_ws_shim **out, int *fd_out);

/* Stops the relay thread and closes the shim's sockets (the TCP connection and
 * its own end of the socketpair; not the caller's fd). NULL is allowed. */
void vg_ws_shim_free(vg_ws_shim *s);

/* Bytes received from the server on the TCP connection so far: the HTTP
 * response and every frame with its header (wire bytes, not payload).
 * Callable from any thread. */
uint64_t vg_ws_shim_bytes_in(vg_ws_shim *s);

#endif
