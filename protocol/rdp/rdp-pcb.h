/*
 * vmgate — the MS-RDPEPS preconnection PDU: what a client (xfreerdp /pcb:,
 * `pcb:s:` in .rdp files, RD Connection Broker) sends before the X.224
 * connection request to name the desktop it wants.
 *
 * FreeRDP 3.10's server does not parse it (the connection dies with
 * "fast path - invalid pduLength"), so vmgate reads it off the socket
 * itself before it hands the connection to FreeRDP, and reads no byte more:
 * the X.224 request that follows stays in the socket for FreeRDP.
 *
 * Wire format (little-endian): u32 cbSize, u32 flags, u32 version (1 or 2),
 * u32 id; version 2 adds u16 cchPCB and cchPCB UTF-16 code units (the
 * blob, usually NUL-terminated). cbSize covers the whole PDU.
 *
 * Threading: no shared state.
 */
#ifndef VG_RDP_PCB_H
#define VG_RDP_PCB_H

#include <stddef.h>
#include <stdint.h>

/** Longest blob accepted, in UTF-16 code units (a UUID needs 36, a VM name 64). */
#define VG_RDP_PCB_MAX_CHARS 256
/** Largest PDU accepted: the header, the count and the longest blob. */
#define VG_RDP_PCB_MAX_SIZE (16 + 2 + 2 * VG_RDP_PCB_MAX_CHARS)
/** Room for the blob as UTF-8 (3 bytes per UTF-16 unit at most) and a NUL. */
#define VG_RDP_PCB_BLOB_SIZE (3 * VG_RDP_PCB_MAX_CHARS + 1)

typedef struct vg_rdp_pcb {
    int present;      /**< a preconnection PDU was sent */
    uint32_t version; /**< 1 or 2 */
    uint32_t id;
    char blob[VG_RDP_PCB_BLOB_SIZE]; /**< UTF-8, without the trailing NULs; "" for version 1 */
} vg_rdp_pcb;

/**
 * Parse one whole preconnection PDU of @len bytes (len must equal its
 * cbSize field).
 * @return 0 and @out filled; -EBADMSG for anything malformed: a size out of
 *         bounds or inconsistent with the blob, an unknown version, a blob
 *         that is not valid UTF-16 or holds a NUL before its end, control
 *         characters.
 */
int vg_rdp_pcb_parse(const uint8_t *buf, size_t len, vg_rdp_pcb *out);

/**
 * Read a preconnection PDU from the connected socket @fd if the client sent
 * one (a TPKT, byte 0x03 0x00, means it did not: nothing is consumed).
 * Waits at most @timeout_ms in all. Consumes exactly the PDU's bytes.
 * @return 0 (out->present says whether there was one); -EBADMSG for a
 *         malformed PDU; -ETIMEDOUT; -ECONNRESET if the peer closed; another
 *         negative errno for socket errors.
 */
int vg_rdp_pcb_read(int fd, int timeout_ms, vg_rdp_pcb *out);

/** Longest VM name a routing token may carry, in bytes. */
#define VG_RDP_TOKEN_MAX 255

/**
 * The VM a client's routing token names (/load-balance-info: the X.224
 * Connection Request's "Cookie: msts=VM" line, or the bare token): @token
 * of @len bytes as FreeRDP hands it over, the "Cookie: msts=" prefix
 * (any case) and trailing CR, LF and NUL bytes dropped.
 * @return 0 and @out (@out_len bytes) holding the name; -EBADMSG for a
 *         token longer than VG_RDP_TOKEN_MAX with the prefix and a line end,
 *         an empty name, one that does not fit @out, or one with control
 *         characters.
 */
int vg_rdp_routing_token_parse(const char *token, size_t len, char *out, size_t out_len);

#endif /* VG_RDP_PCB_H */
