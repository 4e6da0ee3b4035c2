/*
 * vmgate — internals shared by the admin socket server (admin.c: sockets,
 * peers, connections, streaming) and its commands (admin-commands.c).
 */
#ifndef VG_ADMIN_PRIV_H
#define VG_ADMIN_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <json-glib/json-glib.h>

#include "admin.h"
#include "control-commands.h"

/** One client connection and its thread (admin.c). */
typedef struct vg_admin_conn vg_admin_conn;

/** One request being answered, on its connection's thread. */
typedef struct vg_admin_call {
    vg_admin *admin;
    vg_admin_conn *conn;
    int64_t id;
    const char *cmd;
    const vg_control_command *spec; /**< cmd's entry in the table of commands */
    JsonObject *args;               /**< checked against spec before the command runs */
    int64_t uid;                    /**< the peer's */
    const char *user;               /**< the peer's user name ("uid:N" if it has none) */
    bool readonly;                  /**< the peer is in the read-only group only */
    JsonNode *result;               /**< set by a command that succeeded (NULL: JSON null) */
    char *error;                    /**< set by vg_admin_fail: the message for the client */
    char *note;                     /**< a success's note for people (the response's "note") */
    bool replied;                   /**< the command answered itself (a stream) */
    bool audited;                   /**< the command's admin record is written already */
} vg_admin_call;

/** A command: 0 with k->result set, or a negative errno with k->error set. */
typedef int (*vg_admin_handler)(vg_admin_call *k);

/** What the commands reach of the server. */
struct vg_admin_ctx {
    vg_store *store;
    vg_sessions *sessions;
    vg_audit *audit;
    const vg_admin_live_ops *live;
    void *live_opaque;
    char *instance; /* this vmgated's instance name, or NULL (vm.list names it) */
};

/** The handler of command @cmd, or NULL; *spec: its entry in the table of commands. */
vg_admin_handler vg_admin_find_command(const char *cmd, const vg_control_command **spec);

/** The store, sessions, audit log and live ops of @admin. */
const struct vg_admin_ctx *vg_admin_ctx(vg_admin *admin);

/**
 * Record why @k failed (the first message wins) and return @r, a negative
 * errno.
 */
int vg_admin_fail(vg_admin_call *k, int r, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/** Write @k's admin record to the audit log (once), with outcome @r. */
void vg_admin_audit_call(vg_admin_call *k, int r);

/**
 * Stream the audit log to @k's client: the last @lines records, then each
 * new one, until the client goes, falls behind, or the server stops.
 * Answers the client itself (k->replied).
 * @return 0, or a negative errno with k->error set if it could not start.
 */
int vg_admin_stream_audit(vg_admin_call *k, unsigned lines);

#endif /* VG_ADMIN_PRIV_H */
