/*
 * vmgate — the audit log: an append-only file of structured records, one
 * JSON object per line, each with "time" (RFC 3339, UTC, milliseconds),
 * "event" and "instance" (the [instance] name of the vmgated that wrote it,
 * so the logs of several instances can be merged), then the event's fields:
 *
 *   {"time":"2025-05-04T09:12:33.041Z","event":"login_failed","instance":"gw1",
 *    "user":"bob","address":"192.0.2.7","protocol":"rdp","reason":"bad-credentials"}
 *
 * Events and their fields (a field whose value is NULL is left out):
 *
 *   login_ok      user, vm, protocol, address
 *   login_failed  user, address, protocol, reason
 *   logout        user, vm, protocol, address, reason
 *   assign        by, user, vm, role
 *   unassign      by, user, vm
 *   role_change   by, user, vm, from, to
 *   kick          by, id, reason, viewers
 *   power         by, vm, action, ok, [error]
 *   admin         uid, user, command, args (an object, maybe empty), ok, [error, code]
 *
 * No record ever holds a password or a password hash: no function takes
 * one, and members of an admin record's args whose names are those of
 * secrets ("password", "hash", "nt_hash", "secret", ...) are dropped.
 * Strings are made valid UTF-8 and cut at VG_AUDIT_FIELD_MAX bytes, so a
 * hostile client cannot make a record unreadable or huge.
 *
 * Each record is written with one write(2) to a file opened O_APPEND, whole
 * or not at all (a write that fails part way is cut back off), and made
 * durable with fsync(2) before the function returns; except login_failed
 * and lockout records, which an unauthenticated client can cause at will:
 * those are synced with the next record, by vg_audit_flush, or at once when
 * the last fsync is a second old. Listeners (for
 * `vmgatectl audit --follow`) get every record written after they
 * subscribed.
 *
 * Threading: every function may be called from any thread; one mutex
 * serialises writes, which keeps lines whole and in order. Listeners are
 * called on the writing thread with that mutex held: they must be quick,
 * must not block, and must not call back into the audit log. Once
 * vg_audit_unfollow returns, the listener is not called again.
 */
#ifndef VG_AUDIT_H
#define VG_AUDIT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "model.h"

/** Longest string field in a record, in bytes; longer ones are cut. */
#define VG_AUDIT_FIELD_MAX 1024

/** Most lines vg_audit_tail and vg_audit_follow return. */
#define VG_AUDIT_TAIL_MAX 10000

/** An open audit log (see vg_audit_new). */
typedef struct vg_audit vg_audit;

/**
 * Called with each new record: @line is the JSON object without its '\n',
 * valid only during the call. See the threading rules above.
 */
typedef void (*vg_audit_listener)(void *opaque, const char *line);

/**
 * Open (creating it mode 0640, and its directory 0750, if needed) the
 * audit log at @path for appending. Every record names @instance (this
 * vmgated's [instance] name, copied) as "instance", after "time" and
 * "event".
 * @return 0 and *out set (free with vg_audit_free); -EINVAL for a bad
 *         instance name; a negative errno if the file cannot be opened.
 */
int vg_audit_new(const char *path, const char *instance, vg_audit **out);

/** Close the log. Listeners still subscribed are dropped. NULL is fine. */
void vg_audit_free(vg_audit *audit);

/** fsync records still waiting for it (see above). @return 0 or a negative errno. */
int vg_audit_flush(vg_audit *audit);

/**
 * Reopen the file at the same path (after logrotate moved it away).
 * @return 0; a negative errno (the old file stays in use).
 */
int vg_audit_reopen(vg_audit *audit);

/** A user logged in to @vm. @return 0 or a negative errno (logged). */
int vg_audit_login_ok(vg_audit *audit, const char *user, const char *vm, const char *protocol,
                      const char *address);

/**
 * A login failed. @user is the name the client gave; @reason a short word
 * such as vg_auth_result_name() or vg_policy_refusal_name() gives.
 * @return 0 or a negative errno (logged).
 */
int vg_audit_login_failed(vg_audit *audit, const char *user, const char *address,
                          const char *protocol, const char *reason);

/** A viewer's session ended, for @reason. @return 0 or a negative errno (logged). */
int vg_audit_logout(vg_audit *audit, const char *user, const char *vm, const char *protocol,
                    const char *address, const char *reason);

/** @by gave @user role @role on @vm. @return 0 or a negative errno (logged). */
int vg_audit_assign(vg_audit *audit, const char *by, const char *user, const char *vm,
                    vg_role role);

/** @by removed @user's assignment to @vm. @return 0 or a negative errno (logged). */
int vg_audit_unassign(vg_audit *audit, const char *by, const char *user, const char *vm);

/** @by changed @user's role on @vm. @return 0 or a negative errno (logged). */
int vg_audit_role_change(vg_audit *audit, const char *by, const char *user, const char *vm,
                         vg_role from, vg_role to);

/**
 * @by kicked session or viewer @id (@viewers viewers) with @reason.
 * @return 0 or a negative errno (logged).
 */
int vg_audit_kick(vg_audit *audit, const char *by, const char *id, const char *reason,
                  unsigned viewers);

/**
 * A power action on @vm, asked by @by (NULL: by vmgated itself, e.g. power
 * on demand or an idle action), with its outcome @result (0 or a negative
 * errno).
 * @return 0 or a negative errno (logged).
 */
int vg_audit_power(vg_audit *audit, const char *by, const char *vm, const char *action, int result);

/**
 * An admin command @command run by the peer @uid / @user (NULL when the uid
 * has no name) with @args (a copy is recorded without secret members; may
 * be NULL) and its outcome @result (0 or a negative errno) with @error.
 * @return 0 or a negative errno (logged).
 */
int vg_audit_admin(vg_audit *audit, int64_t uid, const char *user, const char *command,
                   JsonObject *args, int result, const char *error);

/**
 * Any other event: @event, then pairs of member name and string value, up
 * to a NULL name. A pair whose value is NULL is left out, and so is one
 * whose name is that of a secret (see above).
 * @return 0 or a negative errno (logged); -EINVAL for an empty @event.
 */
int vg_audit_event(vg_audit *audit, const char *event, ...) G_GNUC_NULL_TERMINATED;

/** vg_audit_event with a va_list of the name and value pairs. */
int vg_audit_eventv(vg_audit *audit, const char *event, va_list ap);

/**
 * The last @n records in the file (at most VG_AUDIT_TAIL_MAX), oldest
 * first, as strings without '\n'.
 * @return 0 and *lines set (g_ptr_array_unref frees it); a negative errno.
 */
int vg_audit_tail(vg_audit *audit, unsigned n, GPtrArray **lines);

/**
 * Subscribe @fn to new records, and atomically with it read the last
 * @tail records (as vg_audit_tail), so that no record is missed or seen
 * twice between the two.
 * @param lines   receives the last records when @tail > 0 (else may be NULL)
 * @param handle  receives the subscription for vg_audit_unfollow
 * @return 0; a negative errno (then nothing is subscribed).
 */
int vg_audit_follow(vg_audit *audit, unsigned tail, vg_audit_listener fn, void *opaque,
                    GPtrArray **lines, unsigned *handle);

/** End a subscription. Unknown handles are ignored. */
void vg_audit_unfollow(vg_audit *audit, unsigned handle);

/**
 * Whether records can be written now (for vmgated's /readyz): the last
 * record and fsync succeeded (a failure counts until a record is written
 * again), the file is writable and its file system is neither read-only nor
 * full.
 * @return 0, or a negative errno with @why (a sentence, no newline) set.
 */
int vg_audit_check_writable(vg_audit *audit, char *why, size_t why_len);

#endif /* VG_AUDIT_H */
