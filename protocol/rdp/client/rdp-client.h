/*
 * vmgate — a headless RDP client whose screen is a vg_surface.
 *
 * Built on FreeRDP 3's client library, but no FreeRDP or WinPR type shows
 * here: callers see a display source (vmm-bridge/display.h) whose surface
 * mirrors the session's screen (BGRX32, damage, resized when the server
 * resizes) and whose send_key / send_pointer reach the server.
 *
 * The connection offers NLA (CredSSP with NTLM) and TLS, never standard RDP
 * security, TLS 1.2 at least. The server's certificate is checked by this
 * module (the chain against a CA file or the system's trust store, and the
 * host name or address), or not at all when asked; nothing is read from or
 * written to FreeRDP's known-hosts or license stores in $HOME. Only lossless
 * codecs are advertised (no H.264/AVC, RemoteFX, progressive or NSCodec).
 *
 * Threading: vg_rdp_client_connect() and vg_rdp_client_free() are called
 * from one (owner) thread; the display source's send_key / send_pointer
 * from any thread (they queue); FreeRDP runs on the client's own thread.
 */
#ifndef VG_RDP_CLIENT_H
#define VG_RDP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "display.h"

typedef struct vg_rdp_client vg_rdp_client;

/** Outcome of vg_rdp_client_connect(). 0 is success, failures are negative. */
typedef enum vg_rdp_result {
    VG_RDP_OK = 0,
    /** The parameters were refused before connecting (e.g. an unusable CA file). */
    VG_RDP_INVALID = -1,
    /** The server refused the credentials (NLA failure, logon failure). */
    VG_RDP_AUTH_FAILED = -2,
    /** TCP, TLS, certificate or RDP protocol failure, or the server ended the connection. */
    VG_RDP_CONNECT_FAILED = -3,
    /** The deadline passed before the session was up. */
    VG_RDP_TIMEOUT = -4,
} vg_rdp_result;

/** Which graphics the client asks for. */
typedef enum vg_rdp_graphics {
    /** The graphics pipeline with lossless codecs only (planar, uncompressed): exact pixels. */
    VG_RDP_GRAPHICS_LOSSLESS = 0,
    /** No graphics pipeline: bitmap updates (what older clients get). */
    VG_RDP_GRAPHICS_LEGACY,
    /** The graphics pipeline with H.264 (AVC420) allowed besides the lossless codecs. */
    VG_RDP_GRAPHICS_H264,
} vg_rdp_graphics;

/** Bytes of graphics-pipeline surface commands received, by codec. */
typedef struct vg_rdp_client_stats {
    uint64_t uncompressed;
    uint64_t planar;
    uint64_t h264;  /**< AVC420 and AVC444 */
    uint64_t other; /**< RemoteFX, progressive, ClearCodec, ... */
} vg_rdp_client_stats;

/** What to connect to and how; the caller owns every string. */
typedef struct vg_rdp_client_params {
    const char *host;         /**< name or address, IPv6 without brackets */
    uint16_t port;            /**< TCP port, 1..65535 */
    const char *user;         /**< user name; "DOMAIN\\user" or "user@domain" are passed as is */
    const char *password;     /**< never logged; copied, the caller wipes its own */
    const char *vm;           /**< sent as the MS-RDPEPS preconnection blob; NULL: no PDU */
    const char *ca_file;      /**< PEM trust anchors; NULL: the system's trust store */
    bool insecure;            /**< accept any server certificate (tests only) */
    uint32_t width;           /**< desktop size to ask for; 0: 1024 (the server decides) */
    uint32_t height;          /**< 0: 768 */
    int64_t deadline_us;      /**< monotonic (vg_now_us) deadline for the whole connection */
    vg_rdp_graphics graphics; /**< default: lossless graphics pipeline */
    bool suspend_frame_acks;  /**< graphics pipeline: ask the server not to wait for frame
                                   acknowledgements, and send none (tests of that server path) */
} vg_rdp_client_params;

/**
 * Connect and start the session; returns once the connection sequence has
 * ended (pixels arrive afterwards: wait on the surface for a frame).
 *
 * @param params  what to connect to; only used during the call
 * @param out     receives the client on VG_RDP_OK, NULL otherwise
 * @param why     receives a one-line reason for people on failure (may be
 *                NULL); never contains the password
 * @param why_len size of @why
 * @return VG_RDP_OK or a failure code (see vg_rdp_result)
 */
vg_rdp_result vg_rdp_client_connect(const vg_rdp_client_params *params, vg_rdp_client **out,
                                    char *why, size_t why_len);

/**
 * The client's display source. Its surface lives as long as the client;
 * when the session ends the surface is closed with the reason.
 */
vg_display_source *vg_rdp_client_source(vg_rdp_client *c);

/**
 * Whether the server reported refused credentials (a logon error of the
 * bad-password kind) after the connection sequence, before ending the
 * session. Useful when the surface was closed: the session ended because of
 * the credentials, not the network.
 */
bool vg_rdp_client_auth_refused(vg_rdp_client *c);

/** What the graphics pipeline has carried so far (any thread). */
void vg_rdp_client_get_stats(vg_rdp_client *c, vg_rdp_client_stats *out);

/** Disconnect, stop the client's thread and free everything. NULL is fine. */
void vg_rdp_client_free(vg_rdp_client *c);

#endif /* VG_RDP_CLIENT_H */
