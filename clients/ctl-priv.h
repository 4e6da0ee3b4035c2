/*
 * vmgate — what vmgatectl's parts share: vmgatectl.c (the command line
 * from the table in protocol/control/control-commands.c, the connection to
 * vmgated) and the commands' bodies, one file per family (ctl-users.c,
 * ctl-vms.c, ctl-pools.c, ctl-sessions.c, ctl-audit.c).
 *
 * A body gets the command's positional arguments and its parsed options,
 * builds the request with vg_ctl_args (members from the table), sends it
 * and prints the answer.
 */
#ifndef VG_CTL_PRIV_H
#define VG_CTL_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <json-glib/json-glib.h>

#include "control-commands.h"
#include "control.h"

enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,      /* the daemon refused or failed the command; a local failure */
    EXIT_USAGE = 2,       /* bad command line */
    EXIT_UNREACHABLE = 3, /* vmgated is not running or the socket is wrong */
    EXIT_DENIED = 4,      /* permission denied */
};

/** Most options a vmgatectl command has. */
#define VG_CTL_OPTIONS_MAX 4

/** An option's value as GOption fills it. */
typedef union vg_ctl_value {
    gboolean flag;
    char *string;
    int number;
} vg_ctl_value;

typedef struct ctl {
    const char *socket;
    bool json;
    int fd;
    vg_control_reader *reader;
    int64_t next_id;
    const vg_control_command *cmd;           /**< the wire command of the command line */
    const vg_control_cli *cli;               /**< the command line's command */
    vg_ctl_value values[VG_CTL_OPTIONS_MAX]; /**< of cli->options, in order */
    char *socket_option;                     /**< --socket after the command */
    gboolean json_option;                    /**< --json after the command */
} ctl;

/** A command's body: @argv holds its positional arguments, NULL-terminated. */
typedef int (*vg_ctl_body)(ctl *c, char **argv);

/** Print "vmgatectl: " and the message on standard error. */
void vg_ctl_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* ---- options and requests ---- */

/** The value of option @name (without "--") of the command line's command. */
bool vg_ctl_opt_flag(ctl *c, const char *name);
const char *vg_ctl_opt_string(ctl *c, const char *name);
int vg_ctl_opt_int(ctl *c, const char *name);

/**
 * The request's arguments from the table, in the order it lists them: from
 * the positional arguments of @argv, the member the command always sets,
 * @extra_key (if not NULL) set to @extra_value (the password), or the
 * option that sets it (when given, or sent always). Options were checked
 * already.
 */
JsonObject *vg_ctl_args(ctl *c, char **argv, const char *extra_key, const char *extra_value);

/* ---- talking to vmgated ---- */

/** Connect unless connected. @return an exit status (the failure printed). */
int vg_ctl_connect(ctl *c);

/** Read the next response. @return an exit status; EXIT_OK with *out set. */
int vg_ctl_read_response(ctl *c, vg_control_response **out);

/** Print why a response failed. @return its exit status. */
int vg_ctl_response_failed(const vg_control_response *resp);

/**
 * Send @cmd with @args (consumed; a "password" member is wiped) and wait for
 * its answer. @return an exit status; EXIT_OK with *out set to a successful
 * response.
 */
int vg_ctl_call(ctl *c, const char *cmd, JsonObject *args, vg_control_response **out);

/**
 * Run @cmd and print its result: as JSON with --json, else with @human
 * (which may be NULL for commands whose JSON is all there is to say).
 */
int vg_ctl_run(ctl *c, const char *cmd, JsonObject *args,
               void (*human)(vg_control_response *resp, void *data), void *data);

/** Run the command with vg_ctl_args(@argv) and print @msg (consumed) when it succeeds. */
int vg_ctl_run_message(ctl *c, char **argv, char *msg);

/** A @human for vg_ctl_run: print @data, a string. */
void vg_ctl_print_message(vg_control_response *resp, void *data);

/* ---- reading results ---- */

JsonObject *vg_ctl_result_object(vg_control_response *resp);
JsonArray *vg_ctl_result_array(vg_control_response *resp);
const char *vg_ctl_str(JsonObject *o, const char *key);
int64_t vg_ctl_num(JsonObject *o, const char *key);
bool vg_ctl_flag(JsonObject *o, const char *key);
JsonArray *vg_ctl_member_array(JsonObject *o, const char *key);
/** "a (x), b (y)" from an array of objects, or of strings when @second is NULL. g_free it. */
char *vg_ctl_join_array(JsonArray *a, const char *first, const char *second);

/* ---- the bodies ---- */

int vg_ctl_user_add(ctl *c, char **argv);
int vg_ctl_user_passwd(ctl *c, char **argv);
int vg_ctl_user_del(ctl *c, char **argv);
int vg_ctl_user_disable(ctl *c, char **argv);
int vg_ctl_user_enable(ctl *c, char **argv);
int vg_ctl_user_list(ctl *c, char **argv);
int vg_ctl_vm_list(ctl *c, char **argv);
int vg_ctl_vm_power(ctl *c, char **argv);
int vg_ctl_assign(ctl *c, char **argv);
int vg_ctl_unassign(ctl *c, char **argv);
int vg_ctl_pool_create(ctl *c, char **argv);
int vg_ctl_pool_add(ctl *c, char **argv);
int vg_ctl_pool_remove(ctl *c, char **argv);
int vg_ctl_pool_del(ctl *c, char **argv);
int vg_ctl_pool_list(ctl *c, char **argv);
int vg_ctl_entitle(ctl *c, char **argv);
int vg_ctl_unentitle(ctl *c, char **argv);
int vg_ctl_session_list(ctl *c, char **argv);
int vg_ctl_session_kick(ctl *c, char **argv);
int vg_ctl_screenshot(ctl *c, char **argv);
int vg_ctl_send_keys(ctl *c, char **argv);
int vg_ctl_audit(ctl *c, char **argv);
int vg_ctl_instance_list(ctl *c, char **argv);

#endif /* VG_CTL_PRIV_H */
