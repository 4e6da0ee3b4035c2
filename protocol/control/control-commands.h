/*
 * vmgate — the admin commands, described once for both ends of the
 * control protocol: vmgated checks a request's arguments against this
 * table before a command runs (so a command gets arguments of the right
 * type and range and only does its job), and vmgatectl builds its command
 * line, its help and the requests it sends from it.
 *
 * Each wire command (VG_CONTROL_CMD_*) has one entry: its arguments (JSON
 * member, type, required or default, integer bounds, allowed values),
 * whether it only reads (the read-only admin group may run it), and the
 * vmgatectl commands that send it. Most wire commands have one vmgatectl
 * command; vm.power has one per action (vm start, vm shutdown, ...), and
 * send.combo has none of its own (send-keys --combo sends it).
 *
 * Threading: constant data; the functions keep no state.
 */
#ifndef VG_CONTROL_COMMANDS_H
#define VG_CONTROL_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-glib/json-glib.h>

/** Most records `audit` prints before following (its `lines` argument). */
#define VG_CONTROL_AUDIT_LINES_MAX 10000

/** The JSON type of an argument or an option's value. */
typedef enum vg_control_type {
    VG_CONTROL_STRING = 1,
    VG_CONTROL_BOOL,
    VG_CONTROL_INT,
} vg_control_type;

/** One member of a request's "args", as vmgated checks it. */
typedef struct vg_control_arg {
    const char *key;
    vg_control_type type;
    bool required;
    int64_t def;                /**< BOOL and INT: the value when absent */
    int64_t min, max;           /**< INT: the bounds */
    const char *what;           /**< with @choices: what the value is, for messages ("role") */
    const char *const *choices; /**< STRING: the values allowed (NULL-terminated), or NULL */
} vg_control_arg;

/** One option of a vmgatectl command. */
typedef struct vg_control_option {
    const char *name;       /**< the long name, without "--" */
    char short_name;        /**< 0: none */
    vg_control_type type;   /**< BOOL: a flag without a value */
    bool filename;          /**< STRING: a file name (not converted to UTF-8) */
    const char *key;        /**< the member of "args" it sets; NULL: vmgatectl uses it itself */
    bool always;            /**< sent when not given too (@def or @def_string) */
    bool negate;            /**< BOOL: sends false when given (--no-nla) */
    int64_t def;            /**< INT: the value when not given; not sent unless @always */
    const char *def_string; /**< STRING with @always: the value sent when not given */
    int64_t min, max;       /**< INT: bounds vmgatectl checks itself (0, 0: none) */
    const char *metavar;
    const char *help;
} vg_control_option;

/** The longest number of positional arguments a vmgatectl command takes. */
#define VG_CONTROL_PARAMS_MAX 2

/** One vmgatectl command. */
typedef struct vg_control_cli {
    const char *words;   /**< one or two words: "user add", "assign" */
    const char *usage;   /**< its arguments, then its options in brackets */
    const char *summary; /**< one line for the list of commands */
    const char *details; /**< more for 'vmgatectl COMMAND --help', or NULL */
    int min_args;        /**< positional arguments at least; at most: those in @params */
    const char *params[VG_CONTROL_PARAMS_MAX + 1]; /**< the members they set, in order */
    const char *set_key, *set_value;  /**< a member the command always sends, or NULL */
    const vg_control_option *options; /**< ends with a NULL name; NULL: none */
} vg_control_cli;

/** One command of the control protocol. */
typedef struct vg_control_command {
    const char *name; /**< VG_CONTROL_CMD_* */
    bool reads_only;  /**< changes nothing, controls no VM: the read-only group may run it */
    const vg_control_arg *args; /**< ends with a NULL key */
    const vg_control_cli *cli;  /**< its vmgatectl commands, ending with NULL words */
} vg_control_command;

/** Every command, in the order vmgatectl --help lists them. */
extern const vg_control_command vg_control_commands[];
/** How many vg_control_commands has. */
extern const size_t vg_control_n_commands;

/** The command named @name, or NULL. */
const vg_control_command *vg_control_command_find(const char *name);

/** The argument @key of @cmd, or NULL. */
const vg_control_arg *vg_control_command_arg(const vg_control_command *cmd, const char *key);

/**
 * Check @args against @cmd's arguments, in the table's order: present
 * when required, of the right type (a JSON null counts as absent), in
 * bounds, one of the allowed values. Members the table does not name are
 * ignored.
 * @return 0; -EINVAL with *error set to a one-line message (g_free it).
 */
int vg_control_args_check(const vg_control_command *cmd, JsonObject *args, char **error);

/**
 * The message for @value, which is not one of @arg's choices:
 * "invalid role 'x' (owner, controller or observer)". g_free it.
 */
char *vg_control_choice_error(const vg_control_arg *arg, const char *value);

/** Whether @value is one of @arg's choices (true when it has none). */
bool vg_control_choice_valid(const vg_control_arg *arg, const char *value);

/** String argument @key of checked @args, or NULL when absent. */
const char *vg_control_arg_string(JsonObject *args, const char *key);

/**
 * Boolean argument @key of @args checked against @cmd: its value, or the
 * table's default when absent. *given (may be NULL): whether it was there.
 */
bool vg_control_arg_bool(const vg_control_command *cmd, JsonObject *args, const char *key,
                         bool *given);

/** Integer argument @key, as vg_control_arg_bool. */
int64_t vg_control_arg_int(const vg_control_command *cmd, JsonObject *args, const char *key,
                           bool *given);

#endif /* VG_CONTROL_COMMANDS_H */
