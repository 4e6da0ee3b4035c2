/*
 * vmgate — listening TCP sockets and peer names, shared by the public
 * listeners (VNC, RDP).
 */
#ifndef VG_NET_H
#define VG_NET_H

#include <stddef.h>
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

/** "a.b.c.d:port" or "[v6]:port" for @ss, or "?" for other families. */
void vg_net_peer_name(const struct sockaddr_storage *ss, char *out, size_t len);

#endif /* VG_NET_H */
