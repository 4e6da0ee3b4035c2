/*
 * vmgate — the RDP front end in vmgated: logins from the RDP server
 * (protocol/rdp) go to the broker, active peers join their VM's session,
 * and their input is checked by the session (the one place that checks
 * roles).
 *
 * Threading: the server's ops run on each peer's own thread; kicks come
 * from any thread. `lock` guards the table of live viewers, so a kick never
 * reaches a peer that has ended.
 */
#ifndef VG_RDP_FRONT_H
#define VG_RDP_FRONT_H

#include <stdbool.h>

#include "audit.h"
#include "broker.h"
#include "sessions.h"

typedef struct vg_rdp_front vg_rdp_front;

typedef struct vg_rdp_front_config {
    const char *address;         /**< IP literal to bind */
    unsigned port;               /**< 0 picks a free port */
    const char *cert_file;       /**< PEM certificate (read once; vg_rdp_front_reload_tls) */
    const char *key_file;        /**< PEM private key */
    bool nla;                    /**< require NLA */
    bool lossless;               /**< no lossy codecs */
    unsigned logins_per_address; /**< connections not logged in from one address (0: 4) */
    unsigned login_timeout_s;    /**< from TCP to logged in, TLS and NLA included (0: 10) */
    unsigned stall_timeout_s;    /**< a viewer reading nothing this long is ended (0: 30) */
} vg_rdp_front_config;

/** Start serving RDP. @return 0 or a negative errno. */
int vg_rdp_front_new(const vg_rdp_front_config *cfg, vg_broker *broker, vg_sessions *sessions,
                     vg_audit *audit, vg_rdp_front **out);

/** The bound port. */
unsigned vg_rdp_front_port(vg_rdp_front *f);

/** Disconnect everyone, stop listening, free. NULL is fine. */
void vg_rdp_front_free(vg_rdp_front *f);

/** Swap in a new certificate and key for new connections (SIGHUP). 0, or a
 * negative errno and *error (g_free it) with the previous pair kept. */
int vg_rdp_front_reload_tls(vg_rdp_front *f, const char *cert_file, const char *key_file,
                            char **error);

#endif /* VG_RDP_FRONT_H */
