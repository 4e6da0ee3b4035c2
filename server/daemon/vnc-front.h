/*
 * vmgate — the VNC front end in vmgated: logins from the VNC server
 * (protocol/vnc) go to the broker, attached viewers join their VM's
 * session, and their input is checked by the session (the one place that
 * checks roles).
 *
 * Threading: login and attach run on a connection's thread (login blocks
 * in the broker); may_input on a screen's thread; ended on the daemon's
 * main loop; kicks come from any thread.
 */
#ifndef VG_VNC_FRONT_H
#define VG_VNC_FRONT_H

#include <stdbool.h>

#include "audit.h"
#include "broker.h"
#include "sessions.h"
#include "tls.h"

typedef struct vg_vnc_front vg_vnc_front;

typedef struct vg_vnc_front_config {
    const char *address;          /**< IP literal to bind */
    unsigned port;                /**< 0 picks a free port */
    bool allow_insecure_loopback; /**< VeNCrypt Plain without TLS from loopback peers */
    unsigned logins_per_address;  /**< connections not logged in from one address (0: 4) */
    unsigned login_timeout_s;     /**< from TCP to logged in (0: 10) */
    unsigned stall_timeout_s;     /**< a viewer taking nothing this long is ended (0: 30) */
} vg_vnc_front_config;

/**
 * Start serving VNC on cfg->address:cfg->port.
 * @return 0 or a negative errno (the port is taken, a bad address).
 */
int vg_vnc_front_new(const vg_vnc_front_config *cfg, vg_broker *broker, vg_sessions *sessions,
                     vg_audit *audit, vg_tls *tls, vg_vnc_front **out);

/** The bound port (useful with port 0). */
unsigned vg_vnc_front_port(vg_vnc_front *f);

/** Disconnect everyone, stop listening, free. Call from the main loop's thread. */
void vg_vnc_front_free(vg_vnc_front *f);

#endif /* VG_VNC_FRONT_H */
