/*
 * vmgatectl — the admin command line of vmgated: users, VM assignments,
 * pools, live sessions, screenshots and keys, and the audit log, over the
 * admin socket (protocol/control).
 *
 * The commands, their arguments, options and help come from the table in
 * protocol/control/control-commands.c; this file turns it into the command
 * line and talks to vmgated, and each command's body (ctl-*.c) builds its
 * request and prints the answer.
 *
 * Each command is one request and one response (audit --follow: a
 * stream). Results are printed as aligned tables or one-line messages, or
 * with --json as the JSON the daemon returned. Errors are one line on
 * standard error, and the exit status says what kind (see EXIT_* in
 * ctl-priv.h and --help).
 */
#include "ctl-priv.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "ctl-output.h"

/* The body of each vmgatectl command of the table, by its words. */
static const struct {
    const char *words;
    vg_ctl_body run;
} bodies[] = {
    {"user add", vg_ctl_user_add},
    {"user passwd", vg_ctl_user_passwd},
    {"user del", vg_ctl_user_del},
    {"user disable", vg_ctl_user_disable},
    {"user enable", vg_ctl_user_enable},
    {"user list", vg_ctl_user_list},
    {"vm list", vg_ctl_vm_list},
    {"vm start", vg_ctl_vm_power},
    {"vm shutdown", vg_ctl_vm_power},
    {"vm destroy", vg_ctl_vm_power},
    {"vm suspend", vg_ctl_vm_power},
    {"vm resume", vg_ctl_vm_power},
    {"assign", vg_ctl_assign},
    {"unassign", vg_ctl_unassign},
    {"pool create", vg_ctl_pool_create},
    {"pool add", vg_ctl_pool_add},
    {"pool remove", vg_ctl_pool_remove},
    {"pool del", vg_ctl_pool_del},
    {"pool list", vg_ctl_pool_list},
    {"entitle", vg_ctl_entitle},
    {"unentitle", vg_ctl_unentitle},
    {"session list", vg_ctl_session_list},
    {"session kick", vg_ctl_session_kick},
    {"screenshot", vg_ctl_screenshot},
    {"send-keys", vg_ctl_send_keys},
    {"audit", vg_ctl_audit},
    {"instance list", vg_ctl_instance_list},
};

/* @text as a terminal shows it safely: names (a VM's may hold a tab, a
 * carriage return or C1 controls) cannot move the cursor or fake a line. */
static void put_escaped(const char *text, FILE *out)
{
    char buf[8192];
    vg_log_escape(text, buf, sizeof(buf));
    fputs(buf, out);
}

void vg_ctl_error(const char *fmt, ...)
{
    g_autofree char *text = NULL;
    va_list ap;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fputs("vmgatectl: ", stderr);
    put_escaped(text, stderr);
    fputc('\n', stderr);
}

/* ---- options and requests ---- */

/* The index of option @name in the command's options. */
static int opt_index(ctl *c, const char *name)
{
    for (int i = 0; c->cli->options && c->cli->options[i].name; i++)
        if (strcmp(c->cli->options[i].name, name) == 0)
            return i;
    g_error("vmgatectl %s has no option --%s", c->cli->words, name);
}

bool vg_ctl_opt_flag(ctl *c, const char *name)
{
    return c->values[opt_index(c, name)].flag;
}

const char *vg_ctl_opt_string(ctl *c, const char *name)
{
    return c->values[opt_index(c, name)].string;
}

int vg_ctl_opt_int(ctl *c, const char *name)
{
    return c->values[opt_index(c, name)].number;
}

/* Whether option @i was given (an integer: whether it differs from its default). */
static bool opt_given(ctl *c, int i)
{
    const vg_control_option *o = &c->cli->options[i];

    switch (o->type) {
    case VG_CONTROL_BOOL:
        return c->values[i].flag;
    case VG_CONTROL_STRING:
        return c->values[i].string != NULL;
    default:
        return c->values[i].number != o->def;
    }
}

/* Check the options that set a member as vmgated would, before anything is asked or sent. */
static int check_options(ctl *c)
{
    for (int i = 0; c->cli->options && c->cli->options[i].name; i++) {
        const vg_control_option *o = &c->cli->options[i];
        const vg_control_arg *a = o->key ? vg_control_command_arg(c->cmd, o->key) : NULL;

        if (!opt_given(c, i) && !o->always)
            continue;
        if (o->type == VG_CONTROL_STRING && a && c->values[i].string &&
            !vg_control_choice_valid(a, c->values[i].string)) {
            g_autofree char *msg = vg_control_choice_error(a, c->values[i].string);
            vg_ctl_error("%s", msg);
            return EXIT_USAGE;
        }
        if (o->type == VG_CONTROL_INT && (o->min || o->max) &&
            (c->values[i].number < o->min || c->values[i].number > o->max)) {
            if (o->max == INT64_MAX)
                vg_ctl_error("--%s must be at least %" PRId64, o->name, o->min);
            else
                vg_ctl_error("--%s must be from %" PRId64 " to %" PRId64, o->name, o->min, o->max);
            return EXIT_USAGE;
        }
    }
    return EXIT_OK;
}

/* Set member @a->key of @args from the option that sets it, if given or always sent. */
static void set_from_option(ctl *c, const vg_control_arg *a, JsonObject *args)
{
    const vg_control_option *always = NULL;
    int always_i = 0;

    for (int i = 0; c->cli->options && c->cli->options[i].name; i++) {
        const vg_control_option *o = &c->cli->options[i];

        if (!o->key || strcmp(o->key, a->key) != 0)
            continue;
        if (!opt_given(c, i)) {
            if (o->always && !always) {
                always = o;
                always_i = i;
            }
            continue;
        }
        if (o->type == VG_CONTROL_BOOL)
            json_object_set_boolean_member(args, o->key, !o->negate);
        else if (o->type == VG_CONTROL_INT)
            json_object_set_int_member(args, o->key, c->values[i].number);
        else
            json_object_set_string_member(args, o->key, c->values[i].string);
        return;
    }
    if (!always)
        return;
    if (always->type == VG_CONTROL_BOOL)
        json_object_set_boolean_member(args, a->key, false);
    else if (always->type == VG_CONTROL_INT)
        json_object_set_int_member(args, a->key, c->values[always_i].number);
    else
        json_object_set_string_member(args, a->key, always->def_string);
}

/* The members in the order the table lists the command's arguments. */
JsonObject *vg_ctl_args(ctl *c, char **argv, const char *extra_key, const char *extra_value)
{
    JsonObject *args = json_object_new();

    for (const vg_control_arg *a = c->cmd->args; a->key; a++) {
        const char *value = NULL;

        for (int i = 0; i < VG_CONTROL_PARAMS_MAX && c->cli->params[i] && argv[i]; i++)
            if (strcmp(c->cli->params[i], a->key) == 0)
                value = argv[i];
        if (c->cli->set_key && strcmp(c->cli->set_key, a->key) == 0)
            value = c->cli->set_value;
        if (extra_key && strcmp(extra_key, a->key) == 0)
            value = extra_value;
        if (value)
            json_object_set_string_member(args, a->key, value);
        else
            set_from_option(c, a, args);
    }
    return args;
}

/* ---- talking to vmgated ---- */

int vg_ctl_connect(ctl *c)
{
    int r;

    if (c->fd >= 0)
        return EXIT_OK;
    r = vg_control_connect(c->socket, &c->fd);
    switch (r) {
    case 0:
        c->reader = vg_control_reader_new(c->fd, VG_CONTROL_RESPONSE_MAX);
        return EXIT_OK;
    case -ENOENT:
        vg_ctl_error("vmgated is not running (no socket at %s)", c->socket);
        return EXIT_UNREACHABLE;
    case -ECONNREFUSED:
        vg_ctl_error("vmgated is not running (nothing listening on %s)", c->socket);
        return EXIT_UNREACHABLE;
    case -EACCES:
    case -EPERM:
        vg_ctl_error("permission denied: cannot connect to %s (run as root or as a member of the "
                     "admin group, vmgate-admin by default)",
                     c->socket);
        return EXIT_DENIED;
    default:
        vg_ctl_error("cannot connect to %s: %s", c->socket, g_strerror(-r));
        return EXIT_UNREACHABLE;
    }
}

int vg_ctl_read_response(ctl *c, vg_control_response **out)
{
    char *line;
    size_t len;
    int r = vg_control_reader_next(c->reader, &line, &len);

    if (r == 0 && !line) {
        vg_ctl_error("vmgated closed the connection");
        return EXIT_UNREACHABLE;
    }
    if (r == -E2BIG) {
        vg_ctl_error("the answer of vmgated is too long");
        return EXIT_FAILED;
    }
    if (r < 0) {
        vg_ctl_error("cannot read from %s: %s", c->socket, g_strerror(-r));
        return EXIT_UNREACHABLE;
    }
    if (vg_control_decode_response(line, len, out) < 0) {
        vg_ctl_error("malformed answer from vmgated");
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

int vg_ctl_response_failed(const vg_control_response *resp)
{
    int e = vg_control_errno_parse(resp->code);

    vg_ctl_error("%s", resp->error);
    return e == EACCES || e == EPERM ? EXIT_DENIED : EXIT_FAILED;
}

int vg_ctl_call(ctl *c, const char *cmd, JsonObject *args, vg_control_response **out)
{
    vg_control_response *resp = NULL;
    char *line = NULL;
    size_t len = 0;
    int64_t id = ++c->next_id;
    int r, st;
    JsonNode *pw;

    *out = NULL;
    if ((st = vg_ctl_connect(c)) != EXIT_OK)
        goto out;
    r = vg_control_encode_request(id, cmd, args, &line, &len);
    if (r < 0) {
        vg_ctl_error(r == -E2BIG ? "the request is too long (the limit is 64 KiB)"
                                 : "cannot encode the request: %s",
                     g_strerror(-r));
        st = EXIT_USAGE;
        goto out;
    }
    /* If vmgated refused us it may have closed already: its answer is still there to read. */
    r = vg_control_write_all(c->fd, line, len);
    if (r < 0 && r != -EPIPE && r != -ECONNRESET) {
        vg_ctl_error("cannot write to %s: %s", c->socket, g_strerror(-r));
        st = EXIT_UNREACHABLE;
        goto out;
    }
    for (;;) {
        if ((st = vg_ctl_read_response(c, &resp)) != EXIT_OK)
            goto out;
        if (resp->id == id || resp->id == 0)
            break;
        vg_control_response_free(resp); /* not ours: ignore */
        resp = NULL;
    }
    if (!resp->ok) {
        st = vg_ctl_response_failed(resp);
        vg_control_response_free(resp);
        goto out;
    }
    /* On stderr, so that what a script reads on stdout stays the answer alone. */
    if (resp->note)
        vg_ctl_error("note: %s", resp->note);
    *out = resp;
    st = EXIT_OK;

out:
    if (line) {
        explicit_bzero(line, len);
        g_free(line);
    }
    pw = args ? json_object_get_member(args, "password") : NULL;
    if (pw && JSON_NODE_HOLDS_VALUE(pw) && json_node_get_value_type(pw) == G_TYPE_STRING) {
        char *s = (char *)json_node_get_string(pw);
        explicit_bzero(s, strlen(s));
    }
    if (args)
        json_object_unref(args);
    return st;
}

/* ---- small helpers ---- */

JsonObject *vg_ctl_result_object(vg_control_response *resp)
{
    return JSON_NODE_HOLDS_OBJECT(resp->result) ? json_node_get_object(resp->result) : NULL;
}

JsonArray *vg_ctl_result_array(vg_control_response *resp)
{
    return JSON_NODE_HOLDS_ARRAY(resp->result) ? json_node_get_array(resp->result) : NULL;
}

const char *vg_ctl_str(JsonObject *o, const char *key)
{
    return o ? json_object_get_string_member_with_default(o, key, NULL) : NULL;
}

int64_t vg_ctl_num(JsonObject *o, const char *key)
{
    return o ? json_object_get_int_member_with_default(o, key, 0) : 0;
}

bool vg_ctl_flag(JsonObject *o, const char *key)
{
    return o ? json_object_get_boolean_member_with_default(o, key, FALSE) : false;
}

int vg_ctl_run(ctl *c, const char *cmd, JsonObject *args,
               void (*human)(vg_control_response *resp, void *data), void *data)
{
    vg_control_response *resp;
    int st = vg_ctl_call(c, cmd, args, &resp);

    if (st != EXIT_OK)
        return st;
    if (c->json || !human)
        vg_ctl_print_json(resp->result, true, stdout);
    else
        human(resp, data);
    vg_control_response_free(resp);
    return EXIT_OK;
}

int vg_ctl_run_message(ctl *c, char **argv, char *msg)
{
    int st =
        vg_ctl_run(c, c->cmd->name, vg_ctl_args(c, argv, NULL, NULL), vg_ctl_print_message, msg);

    g_free(msg);
    return st;
}

void vg_ctl_print_message(vg_control_response *resp, void *data)
{
    (void)resp;
    put_escaped(data, stdout);
    fputc('\n', stdout);
}

char *vg_ctl_join_array(JsonArray *a, const char *first, const char *second)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        if (s->len)
            g_string_append(s, ", ");
        if (JSON_NODE_HOLDS_OBJECT(n)) {
            JsonObject *o = json_node_get_object(n);
            const char *extra = second ? vg_ctl_str(o, second) : NULL;
            g_string_append(s, vg_ctl_str(o, first) ? vg_ctl_str(o, first) : "?");
            if (extra)
                g_string_append_printf(s, " (%s)", extra);
        } else if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING) {
            g_string_append(s, json_node_get_string(n));
        }
    }
    return g_string_free(s, FALSE);
}

JsonArray *vg_ctl_member_array(JsonObject *o, const char *key)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;
    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

/* ---- the command line ---- */

static const char *const exit_help = "Exit status:\n"
                                     "  0  success\n"
                                     "  1  vmgated refused or failed the command (unknown user, "
                                     "VM or pool, already\n"
                                     "     exists, VM not running, ...), or a local file could "
                                     "not be written\n"
                                     "  2  usage error\n"
                                     "  3  vmgated cannot be reached (not running, wrong "
                                     "--socket)\n"
                                     "  4  permission denied (use root or a member of the "
                                     "admin group, vmgate-admin)\n";

/* Walks through each vmgatectl command of the table, in order. */
typedef struct cli_iter {
    size_t i;
    const vg_control_command *cmd;
    const vg_control_cli *cli;
} cli_iter;

/* The next command: true with it->cmd and it->cli set, or false at the end. */
static bool next_cli(cli_iter *it)
{
    if (it->cli && it->cli[1].words) {
        it->cli++;
        return true;
    }
    for (it->i = it->cli ? it->i + 1 : 0; it->i < vg_control_n_commands; it->i++) {
        it->cmd = &vg_control_commands[it->i];
        it->cli = it->cmd->cli;
        if (it->cli->words)
            return true;
    }
    return false;
}

static void main_help(FILE *out)
{
    fprintf(out, "Usage: vmgatectl [--socket PATH] [--json] COMMAND [ARGS...]\n\n"
                 "Manages vmgated through its admin socket: users, VM assignments, pools,\n"
                 "live sessions, screenshots and keys, and the audit log.\n\n"
                 "Commands:\n");
    for (cli_iter it = {0}; next_cli(&it);)
        fprintf(out, "  %s%s%s\n      %s\n", it.cli->words, *it.cli->usage ? " " : "",
                it.cli->usage, it.cli->summary);
    fprintf(out,
            "\nOptions:\n"
            "  --socket PATH  the admin socket (default %s)\n"
            "  --json         print results as JSON, for scripts\n"
            "  -h, --help     this help; 'vmgatectl COMMAND --help' for one command\n\n"
            "%s",
            VG_CONTROL_DEFAULT_SOCKET, exit_help);
}

/* Whether @words is a command of group @word ("user", "pool", ...). */
static bool in_group(const char *words, const char *word)
{
    size_t n = strlen(word);
    return strncmp(words, word, n) == 0 && words[n] == ' ';
}

/* Help for the commands of group @word. */
static void group_help(const char *word, FILE *out)
{
    fprintf(out, "Usage: vmgatectl %s SUBCOMMAND ...\n\n", word);
    for (cli_iter it = {0}; next_cli(&it);)
        if (in_group(it.cli->words, word))
            fprintf(out, "  vmgatectl %s%s%s\n      %s\n", it.cli->words, *it.cli->usage ? " " : "",
                    it.cli->usage, it.cli->summary);
    fprintf(out, "\n'vmgatectl %s SUBCOMMAND --help' says more.\n", word);
}

static bool is_group(const char *word)
{
    for (cli_iter it = {0}; next_cli(&it);)
        if (in_group(it.cli->words, word))
            return true;
    return false;
}

/* The command named by argv[0] and maybe argv[1]; *words says how many it took. */
static bool find_command(ctl *c, int argc, char **argv, int *words)
{
    g_autofree char *two = argc >= 2 ? g_strconcat(argv[0], " ", argv[1], NULL) : NULL;

    for (cli_iter it = {0}; next_cli(&it);) {
        *words = two && strcmp(it.cli->words, two) == 0 ? 2 : strcmp(it.cli->words, argv[0]) == 0;
        if (*words) {
            c->cmd = it.cmd;
            c->cli = it.cli;
            return true;
        }
    }
    return false;
}

static vg_ctl_body find_body(const vg_control_cli *cli)
{
    for (size_t i = 0; i < G_N_ELEMENTS(bodies); i++)
        if (strcmp(bodies[i].words, cli->words) == 0)
            return bodies[i].run;
    return NULL;
}

static int usage_error(const char *hint_cmd, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static int usage_error(const char *hint_cmd, const char *fmt, ...)
{
    va_list ap;

    fputs("vmgatectl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'vmgatectl %s%s--help'.\n", hint_cmd ? hint_cmd : "",
            hint_cmd ? " " : "");
    return EXIT_USAGE;
}

/*
 * The arguments of a usage line without its options, for GOption's usage
 * line ("USER VM [--role R]" → "USER VM"; of alternatives "A | B", A).
 */
static char *positional(const char *usage)
{
    GString *out = g_string_new(NULL);
    g_auto(GStrv) words = g_strsplit(usage, " ", -1);
    bool value = false; /* the word is the value of the option before it */
    int depth = 0;

    for (char **w = words; *w && strcmp(*w, "|") != 0; w++) {
        bool skip = depth > 0 || value || **w == '[' || **w == '-' || !**w;
        value = g_str_has_prefix(*w, "--");
        for (const char *p = *w; *p; p++)
            depth += *p == '[' ? 1 : *p == ']' ? -1 : 0;
        if (skip)
            continue;
        if (out->len)
            g_string_append_c(out, ' ');
        g_string_append(out, *w);
    }
    return g_string_free(out, FALSE);
}

/* Parse the options of the command in argv[0..argc) (argv[0] is the command's name). */
static int parse_command(ctl *c, int *argc, char ***argv)
{
    const vg_control_cli *cli = c->cli;
    GOptionEntry entries[VG_CTL_OPTIONS_MAX + 3] = {{0}};
    g_autofree char *prgname = g_strdup_printf("vmgatectl %s", cli->words);
    g_autofree char *description =
        cli->details ? g_strdup_printf("%s\n\n%s", cli->details, exit_help) : g_strdup(exit_help);
    g_autofree char *params = positional(cli->usage);
    g_autoptr(GOptionContext) ctx = g_option_context_new(params);
    g_autoptr(GError) err = NULL;
    int n = 0, max_args = 0;

    for (const vg_control_option *o = cli->options; o && o->name; o++, n++) {
        g_assert(n < VG_CTL_OPTIONS_MAX);
        entries[n] = (GOptionEntry){o->name,       o->short_name, 0,         G_OPTION_ARG_NONE,
                                    &c->values[n], o->help,       o->metavar};
        if (o->type == VG_CONTROL_STRING)
            entries[n].arg = o->filename ? G_OPTION_ARG_FILENAME : G_OPTION_ARG_STRING;
        else if (o->type == VG_CONTROL_INT)
            entries[n].arg = G_OPTION_ARG_INT;
        if (o->type == VG_CONTROL_INT)
            c->values[n].number = (int)o->def;
    }
    entries[n] = (GOptionEntry){
        "socket", 0, 0, G_OPTION_ARG_FILENAME, &c->socket_option, "the admin socket", "PATH"};
    entries[n + 1] = (GOptionEntry){
        "json", 0, 0, G_OPTION_ARG_NONE, &c->json_option, "print results as JSON", NULL};
    while (max_args < VG_CONTROL_PARAMS_MAX && cli->params[max_args])
        max_args++;

    g_set_prgname(prgname);
    g_option_context_set_summary(ctx, cli->summary);
    g_option_context_set_description(ctx, description);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, argc, argv, &err))
        return usage_error(cli->words, "%s", err->message);
    /* GOption keeps a "--" that ends the options; it is not an argument. */
    for (int i = 1; i < *argc; i++) {
        if (strcmp((*argv)[i], "--") == 0) {
            memmove(&(*argv)[i], &(*argv)[i + 1], sizeof(char *) * (size_t)(*argc - i));
            (*argc)--;
            break;
        }
    }
    if (*argc - 1 < cli->min_args)
        return usage_error(cli->words, "%s needs %s", cli->words, cli->usage);
    if (*argc - 1 > max_args)
        return usage_error(cli->words, "unexpected argument '%s'", (*argv)[1 + max_args]);
    return EXIT_OK;
}

/* Free what GOption allocated for the options' values. */
static void free_values(ctl *c)
{
    g_free(c->socket_option);
    for (int i = 0; c->cli && c->cli->options && c->cli->options[i].name; i++)
        if (c->cli->options[i].type == VG_CONTROL_STRING)
            g_free(c->values[i].string);
}

int main(int argc, char **argv)
{
    ctl c = {.fd = -1};
    vg_ctl_body body;
    char **rest;
    int i, words = 0, n, st;
    gboolean json = FALSE;
    g_autofree char *cmd_argv0 = NULL, *global_socket = NULL;
    g_autofree char **sub = NULL;

    signal(SIGPIPE, SIG_IGN);
    setlocale(LC_ALL, "");

    /* Options before the command. */
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            main_help(stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = TRUE;
        } else if (strcmp(a, "--socket") == 0) {
            if (i + 1 >= argc)
                return usage_error(NULL, "--socket needs a PATH");
            g_free(global_socket);
            global_socket = g_strdup(argv[++i]);
        } else if (g_str_has_prefix(a, "--socket=")) {
            g_free(global_socket);
            global_socket = g_strdup(a + strlen("--socket="));
        } else {
            return usage_error(NULL, "unknown option '%s'", a);
        }
    }
    if (i >= argc)
        return usage_error(NULL, "no command given");
    rest = argv + i;
    n = argc - i;

    if (!find_command(&c, n, rest, &words)) {
        if (is_group(rest[0])) {
            if (n >= 2 && (strcmp(rest[1], "--help") == 0 || strcmp(rest[1], "-h") == 0)) {
                group_help(rest[0], stdout);
                return EXIT_OK;
            }
            if (n < 2)
                return usage_error(rest[0], "'%s' needs a subcommand", rest[0]);
            return usage_error(rest[0], "unknown command '%s %s'", rest[0], rest[1]);
        }
        return usage_error(NULL, "unknown command '%s'", rest[0]);
    }
    body = find_body(c.cli);
    g_assert(body); /* every command of the table has a body */

    /* The command's own argv: its name, then what follows it. */
    n -= words - 1;
    sub = g_new0(char *, (gsize)n + 1);
    cmd_argv0 = g_strdup_printf("vmgatectl %s", c.cli->words);
    sub[0] = cmd_argv0;
    for (int j = 1; j < n; j++)
        sub[j] = rest[words - 1 + j];
    {
        char **parsed = sub;
        st = parse_command(&c, &n, &parsed);
        if (st == EXIT_OK) {
            /* A --socket after the command wins over one before it. */
            c.socket = c.socket_option && *c.socket_option ? c.socket_option
                       : global_socket && *global_socket   ? global_socket
                                                           : VG_CONTROL_DEFAULT_SOCKET;
            c.json = json || c.json_option;
            st = check_options(&c);
        }
        if (st == EXIT_OK)
            st = body(&c, parsed + 1);
    }

    vg_control_reader_free(c.reader);
    if (c.fd >= 0)
        close(c.fd);
    free_values(&c);
    if (fflush(stdout) != 0 && st == EXIT_OK) {
        vg_ctl_error("cannot write the output: %s", g_strerror(errno));
        st = EXIT_FAILED;
    }
    return st;
}
