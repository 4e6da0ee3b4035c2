/*
 * vmgate — a front end as vmgated sees it: one entry of the daemon's table
 * of front ends (VNC, RDP, the browser). Each is a small file of glue between a
 * protocol's server object (protocol/) and the gate (sessions/gate.h),
 * which does every login, admission and end the same way for all of them.
 *
 * Threading: start, port, reload_tls and stop run on the daemon's main
 * thread; stop with the main loop no longer running.
 */
#ifndef VG_FRONT_H
#define VG_FRONT_H

#include "config.h"
#include "gate.h"
#include "tls.h"
#include "vnc-forward.h"

/** What a front end gets to start with (all borrowed; they outlive it). */
typedef struct vg_front_env {
    const vg_config *cfg;
    vg_gate *gate;
    vg_tls *tls; /**< the certificate every port serves */
} vg_front_env;

typedef struct vg_front_ops {
    const char *name; /**< "VNC", "RDP", "web": for messages */
    /** Listen as @env->cfg says. 0 and *out, or a negative errno (logged). */
    int (*start)(const vg_front_env *env, void **out);
    /** The bound port. */
    unsigned (*port)(void *front);
    /** The certificate was reloaded (SIGHUP): serve @cfg's for new
     * connections. Optional. 0, or a negative errno and *error (g_free it)
     * with the previous one kept. */
    int (*reload_tls)(void *front, const vg_config *cfg, char **error);
    /** End every viewer (each one's logout is audited), stop listening,
     * free. NULL is fine. */
    void (*stop)(void *front);
} vg_front_ops;

extern const vg_front_ops vg_vnc_front_ops;
extern const vg_front_ops vg_rdp_front_ops;
extern const vg_front_ops vg_web_front_ops;

/**
 * The VNC and web front ends' half of an entrance: log in on the VNC port
 * of the instance @rd names, with its grant (login name
 * VG_BROKER_GRANT_LOGIN_PREFIX<id>:<user>, the secret as password, wiped
 * here), checking its certificate with @ctx, within @timeout_s.
 * @return 0 and *up; or a negative errno with @reason for the viewer.
 */
int vg_front_forward_connect(SSL_CTX *ctx, vg_gate_redirect *rd, int timeout_s,
                             vg_vnc_upstream **up, char *reason, size_t reason_len);

#endif /* VG_FRONT_H */
