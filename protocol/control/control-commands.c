/*
 * vmgate — the table of admin commands (see control-commands.h) and the
 * argument check vmgated runs before each command.
 */
#include "control-commands.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "control.h"

/* Idle minutes when a pool gets an idle action without a time; the longest (a week). */
#define IDLE_MINUTES_DEFAULT 30
#define IDLE_MINUTES_MAX     10080

static const char *const roles[] = {"owner", "controller", "observer", NULL};
static const char *const idle_actions[] = {"none", "shutdown", "suspend", NULL};
static const char *const power_actions[] = {"start",   "shutdown", "destroy",
                                            "suspend", "resume",   NULL};

/* clang-format off */
#define ARG_STRING(k)     {.key = (k), .type = VG_CONTROL_STRING, .required = true}
#define ARG_STRING_OPT(k) {.key = (k), .type = VG_CONTROL_STRING}
#define ARG_BOOL(k)       {.key = (k), .type = VG_CONTROL_BOOL}
#define ARGS(...)         (const vg_control_arg[]){__VA_ARGS__, {0}}
#define NO_ARGS           (const vg_control_arg[]){{0}}
#define OPTIONS(...)      (const vg_control_option[]){__VA_ARGS__, {0}}
#define CLI(...)          (const vg_control_cli[]){__VA_ARGS__, {0}}

#define OPT_PASSWORD_STDIN                                                                    \
    {.name = "password-stdin", .type = VG_CONTROL_BOOL,                                       \
     .help = "read the password from standard input (one line) instead of asking"}

/* A power action's vmgatectl command: vm ACTION VM. */
#define POWER(action, text)                                                                   \
    {.words = "vm " action, .usage = "VM", .summary = (text), .min_args = 1, .params = {"vm"}, \
     .set_key = "action", .set_value = (action)}
/* clang-format on */

const vg_control_command vg_control_commands[] = {
    {VG_CONTROL_CMD_USER_ADD, false,
     ARGS(ARG_STRING("name"), ARG_STRING("password"), ARG_BOOL("nla")),
     CLI({.words = "user add",
          .usage = "NAME [--password-stdin] [--nla]",
          .summary = "add a user",
          .details =
              "Asks for the password twice on the terminal, or reads one line from standard\n"
              "input with --password-stdin:\n"
              "  printf '%s\\n' \"$pw\" | vmgatectl user add alice --password-stdin --nla",
          .min_args = 1,
          .params = {"name"},
          .options =
              OPTIONS(OPT_PASSWORD_STDIN,
                      {.name = "nla",
                       .type = VG_CONTROL_BOOL,
                       .key = "nla",
                       .help = "also store the NT hash, so the user can log in with RDP NLA"})})},
    {VG_CONTROL_CMD_USER_PASSWD, false,
     ARGS(ARG_STRING("name"), ARG_STRING("password"), ARG_BOOL("nla")),
     CLI({.words = "user passwd",
          .usage = "NAME [--password-stdin] [--nla|--no-nla]",
          .summary = "change a user's password",
          .details = "NLA stays as it was unless --nla or --no-nla is given.",
          .min_args = 1,
          .params = {"name"},
          .options = OPTIONS(OPT_PASSWORD_STDIN,
                             {.name = "nla",
                              .type = VG_CONTROL_BOOL,
                              .key = "nla",
                              .help = "store the NT hash for RDP NLA"},
                             {.name = "no-nla",
                              .type = VG_CONTROL_BOOL,
                              .key = "nla",
                              .negate = true,
                              .help = "remove the NT hash (no RDP NLA)"})})},
    {VG_CONTROL_CMD_USER_DEL, false, ARGS(ARG_STRING("name")),
     CLI({.words = "user del",
          .usage = "NAME",
          .summary = "delete a user (their sessions are ended)",
          .min_args = 1,
          .params = {"name"}})},
    {VG_CONTROL_CMD_USER_DISABLE, false, ARGS(ARG_STRING("name")),
     CLI({.words = "user disable",
          .usage = "NAME",
          .summary = "refuse a user's logins (their sessions are ended)",
          .min_args = 1,
          .params = {"name"}})},
    {VG_CONTROL_CMD_USER_ENABLE, false, ARGS(ARG_STRING("name")),
     CLI({.words = "user enable",
          .usage = "NAME",
          .summary = "allow a disabled user to log in again",
          .min_args = 1,
          .params = {"name"}})},
    {VG_CONTROL_CMD_USER_LIST, true, NO_ARGS,
     CLI({.words = "user list", .usage = "", .summary = "list users with their VMs and pools"})},
    {VG_CONTROL_CMD_VM_LIST, true, NO_ARGS,
     CLI({.words = "vm list",
          .usage = "",
          .summary = "list VMs: name, UUID, state, viewers, pool"})},
    {VG_CONTROL_CMD_VM_POWER, false,
     ARGS(ARG_STRING("vm"), {.key = "action",
                             .type = VG_CONTROL_STRING,
                             .required = true,
                             .what = "power action",
                             .choices = power_actions}),
     CLI(POWER("start", "start a shut-off VM"),
         POWER("shutdown", "ask a VM's guest to shut down (ACPI)"),
         POWER("destroy", "power a VM off at once"), POWER("suspend", "pause a VM"),
         POWER("resume", "resume a paused VM"))},
    {VG_CONTROL_CMD_ASSIGN, false,
     ARGS(ARG_STRING("user"), ARG_STRING("vm"),
          {.key = "role", .type = VG_CONTROL_STRING, .what = "role", .choices = roles}),
     CLI({.words = "assign",
          .usage = "USER VM [--role owner|controller|observer]",
          .summary = "give a user a VM (default: owner)",
          .details = "Assigning again with another role changes the role.",
          .min_args = 2,
          .params = {"user", "vm"},
          .options = OPTIONS({.name = "role",
                              .type = VG_CONTROL_STRING,
                              .key = "role",
                              .always = true,
                              .def_string = "owner",
                              .metavar = "ROLE",
                              .help = "owner (default), controller or observer"})})},
    {VG_CONTROL_CMD_UNASSIGN, false, ARGS(ARG_STRING("user"), ARG_STRING("vm")),
     CLI({.words = "unassign",
          .usage = "USER VM",
          .summary = "take a VM away from a user",
          .min_args = 2,
          .params = {"user", "vm"}})},
    {VG_CONTROL_CMD_POOL_CREATE, false,
     ARGS(ARG_STRING("name"),
          {.key = "idle_action",
           .type = VG_CONTROL_STRING,
           .what = "idle action",
           .choices = idle_actions},
          {.key = "idle_minutes",
           .type = VG_CONTROL_INT,
           .def = IDLE_MINUTES_DEFAULT,
           .min = 1,
           .max = IDLE_MINUTES_MAX},
          ARG_BOOL("assign_on_first_login")),
     CLI({.words = "pool create",
          .usage = "NAME [--idle-action none|shutdown|suspend] [--idle-minutes N] "
                   "[--assign-on-first-login]",
          .summary = "create a pool of VMs",
          .min_args = 1,
          .params = {"name"},
          /* vmgatectl leaves the upper bound of --idle-minutes to vmgated, whose message names it.
           */
          .options = OPTIONS(
              {.name = "idle-action",
               .type = VG_CONTROL_STRING,
               .key = "idle_action",
               .metavar = "ACTION",
               .help = "what to do with a VM nobody views: none (default), shutdown or suspend"},
              {.name = "idle-minutes",
               .type = VG_CONTROL_INT,
               .key = "idle_minutes",
               .def = -1,
               .min = 1,
               .max = INT64_MAX,
               .metavar = "N",
               .help = "minutes without viewers before the idle action (default 30)"},
              {.name = "assign-on-first-login",
               .type = VG_CONTROL_BOOL,
               .key = "assign_on_first_login",
               .always = true,
               .help = "a user keeps the VM they first get from the pool"})})},
    {VG_CONTROL_CMD_POOL_ADD, false, ARGS(ARG_STRING("pool"), ARG_STRING("vm")),
     CLI({.words = "pool add",
          .usage = "POOL VM",
          .summary = "add a VM to a pool",
          .min_args = 2,
          .params = {"pool", "vm"}})},
    {VG_CONTROL_CMD_POOL_REMOVE, false, ARGS(ARG_STRING("pool"), ARG_STRING("vm")),
     CLI({.words = "pool remove",
          .usage = "POOL VM",
          .summary = "remove a VM from a pool",
          .min_args = 2,
          .params = {"pool", "vm"}})},
    {VG_CONTROL_CMD_POOL_DEL, false, ARGS(ARG_STRING("name")),
     CLI({.words = "pool del",
          .usage = "NAME",
          .summary = "delete a pool",
          .min_args = 1,
          .params = {"name"}})},
    {VG_CONTROL_CMD_POOL_LIST, true, NO_ARGS,
     CLI({.words = "pool list", .usage = "", .summary = "list pools with their VMs and users"})},
    {VG_CONTROL_CMD_ENTITLE, false, ARGS(ARG_STRING("user"), ARG_STRING("pool")),
     CLI({.words = "entitle",
          .usage = "USER POOL",
          .summary = "let a user take VMs from a pool",
          .min_args = 2,
          .params = {"user", "pool"}})},
    {VG_CONTROL_CMD_UNENTITLE, false, ARGS(ARG_STRING("user"), ARG_STRING("pool")),
     CLI({.words = "unentitle",
          .usage = "USER POOL",
          .summary = "withdraw a user's entitlement to a pool",
          .min_args = 2,
          .params = {"user", "pool"}})},
    {VG_CONTROL_CMD_SESSION_LIST, true, NO_ARGS,
     CLI({.words = "session list",
          .usage = "",
          .summary = "list live sessions, one line per viewer, of every instance"})},
    {VG_CONTROL_CMD_SESSION_KICK, false, ARGS(ARG_STRING("id"), ARG_STRING_OPT("reason")),
     CLI({.words = "session kick",
          .usage = "[INSTANCE/]ID [--reason TEXT]",
          .summary = "disconnect a session (s…) or one viewer (v…), of another instance as "
                     "INSTANCE/ID",
          .min_args = 1,
          .params = {"id"},
          .options = OPTIONS({.name = "reason",
                              .type = VG_CONTROL_STRING,
                              .key = "reason",
                              .metavar = "TEXT",
                              .help = "shown to the user (at most 256 bytes)"})})},
    {VG_CONTROL_CMD_SCREENSHOT, true, ARGS(ARG_STRING("vm")),
     CLI({.words = "screenshot",
          .usage = "VM --output FILE.png",
          .summary = "save a VM's screen as PNG",
          .min_args = 1,
          .params = {"vm"},
          .options = OPTIONS({.name = "output",
                              .short_name = 'o',
                              .type = VG_CONTROL_STRING,
                              .filename = true,
                              .metavar = "FILE.png",
                              .help = "PNG file to write (atomically)"})})},
    {VG_CONTROL_CMD_SEND_TEXT, false, ARGS(ARG_STRING("vm"), ARG_STRING("text")),
     CLI({.words = "send-keys",
          .usage = "VM TEXT | VM --combo COMBO",
          .summary = "type text, or press a key combination",
          .details =
              "In TEXT, \\n is Enter, \\t Tab, \\e Escape, \\b BackSpace, \\\\ a backslash;\n"
              "characters are typed as keys of a US keyboard layout. Examples:\n"
              "  vmgatectl send-keys vm1 'root\\n'\n"
              "  vmgatectl send-keys vm1 --combo ctrl-alt-del",
          .min_args = 1,
          .params = {"vm", "text"},
          /* With --combo, send-keys sends send.combo instead. */
          .options = OPTIONS(
              {.name = "combo",
               .type = VG_CONTROL_STRING,
               .key = "combo",
               .metavar = "COMBO",
               .help = "press a key combination such as ctrl-alt-del instead of typing text"})})},
    {VG_CONTROL_CMD_SEND_COMBO, false, ARGS(ARG_STRING("vm"), ARG_STRING("combo")), CLI({0})},
    {VG_CONTROL_CMD_AUDIT, true,
     ARGS({.key = "lines",
           .type = VG_CONTROL_INT,
           .def = 20,
           .min = 0,
           .max = VG_CONTROL_AUDIT_LINES_MAX},
          ARG_BOOL("follow")),
     CLI({.words = "audit",
          .usage = "[--follow] [--lines N]",
          .summary = "print the audit log",
          .details = "With a PostgreSQL store, the last records of every instance sharing it, "
                     "oldest first; with SQLite, or when that database cannot be read (a note "
                     "on stderr says so), this instance's own audit file. --follow prints this "
                     "instance's new records only. With --json, records are printed as JSON "
                     "(one per line with --follow).",
          .options = OPTIONS({.name = "follow",
                              .short_name = 'f',
                              .type = VG_CONTROL_BOOL,
                              .key = "follow",
                              .always = true,
                              .help = "keep printing new records as they come"},
                             {.name = "lines",
                              .short_name = 'n',
                              .type = VG_CONTROL_INT,
                              .key = "lines",
                              .always = true,
                              .def = 20,
                              .min = 0,
                              .max = VG_CONTROL_AUDIT_LINES_MAX,
                              .metavar = "N",
                              .help = "print the last N records first (default 20)"})})},
    {VG_CONTROL_CMD_INSTANCE_LIST, true, NO_ARGS,
     CLI({.words = "instance list",
          .usage = "",
          .summary = "list the vmgated instances sharing the store: address, ports, up, down or "
                     "stopped, seconds since the heartbeat, VMs",
          .details = "An instance is down when its last heartbeat (one a second) is 3 s old or\n"
                     "more by the database's clock; stopped after a clean exit."})},
};

const size_t vg_control_n_commands = G_N_ELEMENTS(vg_control_commands);

const vg_control_command *vg_control_command_find(const char *name)
{
    for (size_t i = 0; name && i < vg_control_n_commands; i++)
        if (strcmp(vg_control_commands[i].name, name) == 0)
            return &vg_control_commands[i];
    return NULL;
}

const vg_control_arg *vg_control_command_arg(const vg_control_command *cmd, const char *key)
{
    for (const vg_control_arg *a = cmd->args; a->key; a++)
        if (strcmp(a->key, key) == 0)
            return a;
    return NULL;
}

bool vg_control_choice_valid(const vg_control_arg *arg, const char *value)
{
    if (!arg->choices)
        return true;
    for (const char *const *c = arg->choices; *c; c++)
        if (strcmp(*c, value) == 0)
            return true;
    return false;
}

char *vg_control_choice_error(const vg_control_arg *arg, const char *value)
{
    GString *s = g_string_new(NULL);

    g_string_printf(s, "invalid %s '%s' (", arg->what, value);
    for (const char *const *c = arg->choices; *c; c++) {
        if (c != arg->choices)
            g_string_append(s, c[1] ? ", " : " or ");
        g_string_append(s, *c);
    }
    g_string_append_c(s, ')');
    return g_string_free(s, FALSE);
}

/* The member @key, or NULL when absent or JSON null (both mean "not given"). */
static JsonNode *member(JsonObject *args, const char *key)
{
    JsonNode *n = args ? json_object_get_member(args, key) : NULL;
    return n && !JSON_NODE_HOLDS_NULL(n) ? n : NULL;
}

static bool holds(JsonNode *n, GType type)
{
    return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == type;
}

int vg_control_args_check(const vg_control_command *cmd, JsonObject *args, char **error)
{
    *error = NULL;
    for (const vg_control_arg *a = cmd->args; a->key; a++) {
        JsonNode *n = member(args, a->key);

        if (!n) {
            if (a->required)
                *error = g_strdup_printf("missing argument '%s'", a->key);
        } else if (a->type == VG_CONTROL_STRING) {
            if (!holds(n, G_TYPE_STRING))
                *error = g_strdup_printf("argument '%s' must be a string", a->key);
            else if (!vg_control_choice_valid(a, json_node_get_string(n)))
                *error = vg_control_choice_error(a, json_node_get_string(n));
        } else if (a->type == VG_CONTROL_BOOL) {
            if (!holds(n, G_TYPE_BOOLEAN))
                *error = g_strdup_printf("argument '%s' must be true or false", a->key);
        } else if (!holds(n, G_TYPE_INT64) || json_node_get_int(n) < a->min ||
                   json_node_get_int(n) > a->max) {
            *error =
                g_strdup_printf("argument '%s' must be an integer from %" PRId64 " to %" PRId64,
                                a->key, a->min, a->max);
        }
        if (*error)
            return -EINVAL;
    }
    return 0;
}

const char *vg_control_arg_string(JsonObject *args, const char *key)
{
    JsonNode *n = member(args, key);
    return n && holds(n, G_TYPE_STRING) ? json_node_get_string(n) : NULL;
}

bool vg_control_arg_bool(const vg_control_command *cmd, JsonObject *args, const char *key,
                         bool *given)
{
    JsonNode *n = member(args, key);
    const vg_control_arg *a = vg_control_command_arg(cmd, key);
    bool ok = n && holds(n, G_TYPE_BOOLEAN);

    if (given)
        *given = ok;
    return ok ? json_node_get_boolean(n) : a && a->def;
}

int64_t vg_control_arg_int(const vg_control_command *cmd, JsonObject *args, const char *key,
                           bool *given)
{
    JsonNode *n = member(args, key);
    const vg_control_arg *a = vg_control_command_arg(cmd, key);
    bool ok = n && holds(n, G_TYPE_INT64);

    if (given)
        *given = ok;
    return ok ? json_node_get_int(n) : a ? a->def : 0;
}
