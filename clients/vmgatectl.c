/*
 * vmgatectl — the admin command line of vmgated: users, VM assignments,
 * pools, live sessions, screenshots and keys, and the audit log, over the
 * admin socket (protocol/control).
 *
 * Each command is one request and one response (audit --follow: a
 * stream). Results are printed as aligned tables or one-line messages, or
 * with --json as the JSON the daemon returned. Errors are one line on
 * standard error, and the exit status says what kind (see EXIT_* below and
 * --help).
 */
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "control.h"
#include "ctl-output.h"
#include "ctl-password.h"
#include "keymap.h"
#include "model.h"
#include "type-text.h"

enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,      /* the daemon refused or failed the command; a local failure */
    EXIT_USAGE = 2,       /* bad command line */
    EXIT_UNREACHABLE = 3, /* vmgated is not running or the socket is wrong */
    EXIT_DENIED = 4,      /* permission denied */
};

#define COMBO_MAX 8

typedef struct ctl {
    const char *socket;
    bool json;
    int fd;
    vg_control_reader *reader;
    int64_t next_id;
} ctl;

/* Options of every command (each command's table points at the ones it takes). */
static struct {
    char *socket;
    gboolean json;
    gboolean password_stdin;
    gboolean nla;
    gboolean no_nla;
    char *role;
    char *idle_action;
    int idle_minutes;
    gboolean first_login;
    char *reason;
    char *output;
    char *combo;
    gboolean follow;
    int lines;
} opt = {.idle_minutes = -1, .lines = 20};

static void errorf(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void errorf(const char *fmt, ...)
{
    va_list ap;

    fputs("vmgatectl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- talking to vmgated ---- */

static int connect_daemon(ctl *c)
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
        errorf("vmgated is not running (no socket at %s)", c->socket);
        return EXIT_UNREACHABLE;
    case -ECONNREFUSED:
        errorf("vmgated is not running (nothing listening on %s)", c->socket);
        return EXIT_UNREACHABLE;
    case -EACCES:
    case -EPERM:
        errorf("permission denied: cannot connect to %s (run as root or as a member of the "
               "admin group, vmgate by default)",
               c->socket);
        return EXIT_DENIED;
    default:
        errorf("cannot connect to %s: %s", c->socket, g_strerror(-r));
        return EXIT_UNREACHABLE;
    }
}

/* Read the next response. @return an exit status; EXIT_OK with *out set. */
static int read_response(ctl *c, vg_control_response **out)
{
    char *line;
    size_t len;
    int r = vg_control_reader_next(c->reader, &line, &len);

    if (r == 0 && !line) {
        errorf("vmgated closed the connection");
        return EXIT_UNREACHABLE;
    }
    if (r == -E2BIG) {
        errorf("the answer of vmgated is too long");
        return EXIT_FAILED;
    }
    if (r < 0) {
        errorf("cannot read from %s: %s", c->socket, g_strerror(-r));
        return EXIT_UNREACHABLE;
    }
    if (vg_control_decode_response(line, len, out) < 0) {
        errorf("malformed answer from vmgated");
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

/* Print why a response failed. @return its exit status. */
static int response_failed(const vg_control_response *resp)
{
    int e = vg_control_errno_parse(resp->code);

    errorf("%s", resp->error);
    return e == EACCES || e == EPERM ? EXIT_DENIED : EXIT_FAILED;
}

/*
 * Send @cmd with @args (consumed; a "password" member is wiped) and wait for
 * its answer. @return an exit status; EXIT_OK with *out set to a successful
 * response.
 */
static int call(ctl *c, const char *cmd, JsonObject *args, vg_control_response **out)
{
    vg_control_response *resp = NULL;
    char *line = NULL;
    size_t len = 0;
    int64_t id = ++c->next_id;
    int r, st;
    JsonNode *pw;

    *out = NULL;
    if ((st = connect_daemon(c)) != EXIT_OK)
        goto out;
    r = vg_control_encode_request(id, cmd, args, &line, &len);
    if (r < 0) {
        errorf(r == -E2BIG ? "the request is too long (the limit is 64 KiB)"
                           : "cannot encode the request: %s",
               g_strerror(-r));
        st = EXIT_USAGE;
        goto out;
    }
    /* If vmgated refused us it may have closed already: its answer is still there to read. */
    r = vg_control_write_all(c->fd, line, len);
    if (r < 0 && r != -EPIPE && r != -ECONNRESET) {
        errorf("cannot write to %s: %s", c->socket, g_strerror(-r));
        st = EXIT_UNREACHABLE;
        goto out;
    }
    for (;;) {
        if ((st = read_response(c, &resp)) != EXIT_OK)
            goto out;
        if (resp->id == id || resp->id == 0)
            break;
        vg_control_response_free(resp); /* not ours: ignore */
        resp = NULL;
    }
    if (!resp->ok) {
        st = response_failed(resp);
        vg_control_response_free(resp);
        goto out;
    }
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

static JsonObject *args_new(const char *key, const char *value, ...) G_GNUC_NULL_TERMINATED;
/* An argument object from string pairs key, value, ..., NULL. */
static JsonObject *args_new(const char *key, const char *value, ...)
{
    JsonObject *o = json_object_new();
    va_list ap;

    va_start(ap, value);
    while (key) {
        json_object_set_string_member(o, key, value);
        key = va_arg(ap, const char *);
        if (key)
            value = va_arg(ap, const char *);
    }
    va_end(ap);
    return o;
}

static JsonObject *result_object(vg_control_response *resp)
{
    return JSON_NODE_HOLDS_OBJECT(resp->result) ? json_node_get_object(resp->result) : NULL;
}

static JsonArray *result_array(vg_control_response *resp)
{
    return JSON_NODE_HOLDS_ARRAY(resp->result) ? json_node_get_array(resp->result) : NULL;
}

static const char *str(JsonObject *o, const char *key)
{
    return o ? json_object_get_string_member_with_default(o, key, NULL) : NULL;
}

static int64_t num(JsonObject *o, const char *key)
{
    return o ? json_object_get_int_member_with_default(o, key, 0) : 0;
}

static bool flag(JsonObject *o, const char *key)
{
    return o ? json_object_get_boolean_member_with_default(o, key, FALSE) : false;
}

/*
 * Run @cmd and print its result: as JSON with --json, else with @human
 * (which may be NULL for commands whose JSON is all there is to say).
 */
static int run(ctl *c, const char *cmd, JsonObject *args,
               void (*human)(vg_control_response *resp, void *data), void *data)
{
    vg_control_response *resp;
    int st = call(c, cmd, args, &resp);

    if (st != EXIT_OK)
        return st;
    if (c->json || !human)
        vg_ctl_print_json(resp->result, true, stdout);
    else
        human(resp, data);
    vg_control_response_free(resp);
    return EXIT_OK;
}

static void print_message(vg_control_response *resp, void *data)
{
    (void)resp;
    puts((const char *)data);
}

static char *local_time(int64_t t)
{
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local(t);
    return dt ? g_date_time_format(dt, "%Y-%m-%d %H:%M:%S") : g_strdup("?");
}

/* ---- users ---- */

static int get_password(const char *user, char **pw)
{
    int r = opt.password_stdin ? vg_ctl_read_password_stdin(pw) : vg_ctl_prompt_password(user, pw);

    switch (r) {
    case 0:
        return EXIT_OK;
    case -ENOTTY:
        errorf("standard input is not a terminal: use --password-stdin to read the password "
               "from it");
        return EXIT_USAGE;
    case -ENODATA:
        errorf("empty password refused");
        return EXIT_FAILED;
    case -EKEYREJECTED:
        errorf("the passwords do not match");
        return EXIT_FAILED;
    case -E2BIG:
        errorf("the password is too long");
        return EXIT_FAILED;
    default:
        errorf("cannot read the password: %s", g_strerror(-r));
        return EXIT_FAILED;
    }
}

static int set_password(ctl *c, const char *cmd, char **argv)
{
    vg_control_response *resp;
    JsonObject *args;
    char *pw = NULL;
    int st;

    if (opt.nla && opt.no_nla) {
        errorf("--nla and --no-nla exclude each other");
        return EXIT_USAGE;
    }
    /* Find out whether vmgated can be reached before anyone types a password. */
    if ((st = connect_daemon(c)) != EXIT_OK)
        return st;
    if ((st = get_password(argv[0], &pw)) != EXIT_OK)
        return st;
    args = args_new("name", argv[0], "password", pw, NULL);
    vg_ctl_password_free(pw);
    if (opt.nla || opt.no_nla)
        json_object_set_boolean_member(args, "nla", opt.nla);
    if ((st = call(c, cmd, args, &resp)) != EXIT_OK)
        return st;
    if (c->json) {
        vg_ctl_print_json(resp->result, true, stdout);
    } else {
        JsonObject *o = result_object(resp);
        const char *nla = flag(o, "nla") ? " (NLA enabled)" : "";
        if (strcmp(cmd, VG_CONTROL_CMD_USER_ADD) == 0)
            printf("user '%s' added%s\n", argv[0], nla);
        else
            printf("password of '%s' changed%s\n", argv[0], nla);
    }
    vg_control_response_free(resp);
    return EXIT_OK;
}

static int cmd_user_add(ctl *c, char **argv)
{
    if (opt.no_nla) {
        errorf("user add takes --nla, not --no-nla");
        return EXIT_USAGE;
    }
    return set_password(c, VG_CONTROL_CMD_USER_ADD, argv);
}

static int cmd_user_passwd(ctl *c, char **argv)
{
    return set_password(c, VG_CONTROL_CMD_USER_PASSWD, argv);
}

static void print_kicked(vg_control_response *resp, void *data)
{
    int64_t kicked = num(result_object(resp), "kicked");

    fputs((const char *)data, stdout);
    if (kicked > 0)
        printf("; %" PRId64 " viewer%s disconnected", kicked, kicked == 1 ? "" : "s");
    putchar('\n');
}

static int cmd_user_del(ctl *c, char **argv)
{
    g_autofree char *msg = g_strdup_printf("user '%s' deleted", argv[0]);
    return run(c, VG_CONTROL_CMD_USER_DEL, args_new("name", argv[0], NULL), print_kicked, msg);
}

static int cmd_user_disable(ctl *c, char **argv)
{
    g_autofree char *msg = g_strdup_printf("user '%s' disabled", argv[0]);
    return run(c, VG_CONTROL_CMD_USER_DISABLE, args_new("name", argv[0], NULL), print_kicked, msg);
}

static int cmd_user_enable(ctl *c, char **argv)
{
    g_autofree char *msg = g_strdup_printf("user '%s' enabled", argv[0]);
    return run(c, VG_CONTROL_CMD_USER_ENABLE, args_new("name", argv[0], NULL), print_kicked, msg);
}

/* "a (x), b (y)" from an array of objects, or of strings when @second is NULL. */
static char *join_array(JsonArray *a, const char *first, const char *second)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        if (s->len)
            g_string_append(s, ", ");
        if (JSON_NODE_HOLDS_OBJECT(n)) {
            JsonObject *o = json_node_get_object(n);
            const char *extra = second ? str(o, second) : NULL;
            g_string_append(s, str(o, first) ? str(o, first) : "?");
            if (extra)
                g_string_append_printf(s, " (%s)", extra);
        } else if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING) {
            g_string_append(s, json_node_get_string(n));
        }
    }
    return g_string_free(s, FALSE);
}

static JsonArray *member_array(JsonObject *o, const char *key)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;
    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

static void print_users(vg_control_response *resp, void *data)
{
    JsonArray *a = result_array(resp);
    vg_ctl_table *t = vg_ctl_table_new("NAME", "NLA", "STATUS", "ASSIGNED VMS", "POOLS", NULL);

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *u = json_array_get_object_element(a, i);
        g_autofree char *vms = join_array(member_array(u, "assignments"), "vm", "role");
        g_autofree char *pools = join_array(member_array(u, "pools"), NULL, NULL);
        vg_ctl_table_add(t, str(u, "name"), flag(u, "nla") ? "yes" : "no",
                         flag(u, "disabled") ? "disabled" : "enabled", vms, pools);
    }
    if (vg_ctl_table_rows(t) == 0)
        puts("no users");
    else
        vg_ctl_table_print(t, stdout);
    vg_ctl_table_free(t);
}

static int cmd_user_list(ctl *c, char **argv)
{
    return run(c, VG_CONTROL_CMD_USER_LIST, NULL, print_users, NULL);
}

/* ---- VMs ---- */

static void print_vms(vg_control_response *resp, void *data)
{
    JsonArray *a = result_array(resp);
    vg_ctl_table *t = vg_ctl_table_new("NAME", "UUID", "STATE", "VIEWERS", "POOL", NULL);

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *v = json_array_get_object_element(a, i);
        g_autofree char *viewers = g_strdup_printf("%" PRId64, num(v, "viewers"));
        vg_ctl_table_add(t, str(v, "name"), str(v, "uuid"), str(v, "state"), viewers,
                         str(v, "pool"));
    }
    if (vg_ctl_table_rows(t) == 0)
        puts("no VMs");
    else
        vg_ctl_table_print(t, stdout);
    vg_ctl_table_free(t);
}

static int cmd_vm_list(ctl *c, char **argv)
{
    return run(c, VG_CONTROL_CMD_VM_LIST, NULL, print_vms, NULL);
}

static int power(ctl *c, const char *action, const char *vm)
{
    g_autofree char *msg = g_strdup_printf("VM '%s': %s done", vm, action);
    return run(c, VG_CONTROL_CMD_VM_POWER, args_new("vm", vm, "action", action, NULL),
               print_message, msg);
}

static int cmd_vm_start(ctl *c, char **argv)
{
    return power(c, "start", argv[0]);
}

static int cmd_vm_shutdown(ctl *c, char **argv)
{
    return power(c, "shutdown", argv[0]);
}

static int cmd_vm_destroy(ctl *c, char **argv)
{
    return power(c, "destroy", argv[0]);
}

static int cmd_vm_suspend(ctl *c, char **argv)
{
    return power(c, "suspend", argv[0]);
}

static int cmd_vm_resume(ctl *c, char **argv)
{
    return power(c, "resume", argv[0]);
}

/* ---- assignments ---- */

static void print_assign(vg_control_response *resp, void *data)
{
    JsonObject *o = result_object(resp);
    const char *user = str(o, "user"), *vm = str(o, "vm"), *role = str(o, "role");
    const char *before = str(o, "previous_role");

    if (!before)
        printf("assigned VM '%s' to '%s' as %s\n", vm, user, role);
    else if (strcmp(before, role) != 0)
        printf("role of '%s' on VM '%s' changed from %s to %s\n", user, vm, before, role);
    else
        printf("'%s' already had VM '%s' as %s\n", user, vm, role);
}

static int cmd_assign(ctl *c, char **argv)
{
    JsonObject *args = args_new("user", argv[0], "vm", argv[1], NULL);
    vg_role role;

    if (opt.role && vg_role_parse(opt.role, &role) < 0) {
        errorf("invalid role '%s' (owner, controller or observer)", opt.role);
        return EXIT_USAGE;
    }
    json_object_set_string_member(args, "role", opt.role ? opt.role : "owner");
    return run(c, VG_CONTROL_CMD_ASSIGN, args, print_assign, NULL);
}

static int cmd_unassign(ctl *c, char **argv)
{
    g_autofree char *msg = g_strdup_printf("unassigned VM '%s' from '%s'", argv[1], argv[0]);
    return run(c, VG_CONTROL_CMD_UNASSIGN, args_new("user", argv[0], "vm", argv[1], NULL),
               print_message, msg);
}

/* ---- pools ---- */

static char *pool_policy(JsonObject *p)
{
    const char *action = str(p, "idle_action");

    if (!action || strcmp(action, "none") == 0)
        return g_strdup("none");
    return g_strdup_printf("%s after %" PRId64 " min", action, num(p, "idle_minutes"));
}

static void print_pool_created(vg_control_response *resp, void *data)
{
    JsonObject *p = result_object(resp);
    g_autofree char *policy = pool_policy(p);

    printf("pool '%s' created (idle action: %s%s)\n", str(p, "name"), policy,
           flag(p, "assign_on_first_login") ? "; assign on first login" : "");
}

static int cmd_pool_create(ctl *c, char **argv)
{
    JsonObject *args = args_new("name", argv[0], NULL);
    vg_idle_action action;

    if (opt.idle_action && vg_idle_action_parse(opt.idle_action, &action) < 0) {
        errorf("invalid idle action '%s' (none, shutdown or suspend)", opt.idle_action);
        json_object_unref(args);
        return EXIT_USAGE;
    }
    if (opt.idle_minutes != -1 && opt.idle_minutes < 1) {
        errorf("--idle-minutes must be at least 1");
        json_object_unref(args);
        return EXIT_USAGE;
    }
    if (opt.idle_action)
        json_object_set_string_member(args, "idle_action", opt.idle_action);
    if (opt.idle_minutes != -1)
        json_object_set_int_member(args, "idle_minutes", opt.idle_minutes);
    json_object_set_boolean_member(args, "assign_on_first_login", opt.first_login);
    return run(c, VG_CONTROL_CMD_POOL_CREATE, args, print_pool_created, NULL);
}

static int cmd_pool_add(ctl *c, char **argv)
{
    g_autofree char *msg = g_strdup_printf("VM '%s' added to pool '%s'", argv[1], argv[0]);
    return run(c, VG_CONTROL_CMD_POOL_ADD, args_new("pool", argv[0], "vm", argv[1], NULL),
               print_message, msg);
}

static int cmd_pool_remove(ctl *c, char **argv)
{
    g_autofree char *msg = g_strdup_printf("VM '%s' removed from pool '%s'", argv[1], argv[0]);
    return run(c, VG_CONTROL_CMD_POOL_REMOVE, args_new("pool", argv[0], "vm", argv[1], NULL),
               print_message, msg);
}

static int cmd_pool_del(ctl *c, char **argv)
{
    g_autofree char *msg = g_strdup_printf("pool '%s' deleted", argv[0]);
    return run(c, VG_CONTROL_CMD_POOL_DEL, args_new("name", argv[0], NULL), print_message, msg);
}

static void print_pools(vg_control_response *resp, void *data)
{
    JsonArray *a = result_array(resp);
    vg_ctl_table *t =
        vg_ctl_table_new("POOL", "IDLE ACTION", "FIRST LOGIN", "VMS (HELD FOR)", "USERS", NULL);

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *p = json_array_get_object_element(a, i);
        g_autofree char *policy = pool_policy(p);
        g_autofree char *vms = join_array(member_array(p, "members"), "vm", "held_for");
        g_autofree char *users = join_array(member_array(p, "users"), NULL, NULL);
        vg_ctl_table_add(t, str(p, "name"), policy,
                         flag(p, "assign_on_first_login") ? "assign" : "-", vms, users);
    }
    if (vg_ctl_table_rows(t) == 0)
        puts("no pools");
    else
        vg_ctl_table_print(t, stdout);
    vg_ctl_table_free(t);
}

static int cmd_pool_list(ctl *c, char **argv)
{
    return run(c, VG_CONTROL_CMD_POOL_LIST, NULL, print_pools, NULL);
}

static int cmd_entitle(ctl *c, char **argv)
{
    g_autofree char *msg = g_strdup_printf("'%s' may use pool '%s'", argv[0], argv[1]);
    return run(c, VG_CONTROL_CMD_ENTITLE, args_new("user", argv[0], "pool", argv[1], NULL),
               print_message, msg);
}

static int cmd_unentitle(ctl *c, char **argv)
{
    g_autofree char *msg = g_strdup_printf("'%s' may no longer use pool '%s'", argv[0], argv[1]);
    return run(c, VG_CONTROL_CMD_UNENTITLE, args_new("user", argv[0], "pool", argv[1], NULL),
               print_message, msg);
}

/* ---- sessions ---- */

static void print_sessions(vg_control_response *resp, void *data)
{
    JsonArray *a = result_array(resp);
    vg_ctl_table *t = vg_ctl_table_new("SESSION", "VM", "VIEWER", "USER", "PROTOCOL", "ROLE",
                                       "ADDRESS", "SINCE", NULL);

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *s = json_array_get_object_element(a, i);
        JsonArray *viewers = member_array(s, "viewers");
        for (guint j = 0; viewers && j < json_array_get_length(viewers); j++) {
            JsonObject *v = json_array_get_object_element(viewers, j);
            g_autofree char *since = local_time(num(v, "since"));
            vg_ctl_table_add(t, str(s, "id"), str(s, "vm"), str(v, "id"), str(v, "user"),
                             str(v, "protocol"), str(v, "role"), str(v, "address"), since);
        }
    }
    if (vg_ctl_table_rows(t) == 0)
        puts("no sessions");
    else
        vg_ctl_table_print(t, stdout);
    vg_ctl_table_free(t);
}

static int cmd_session_list(ctl *c, char **argv)
{
    return run(c, VG_CONTROL_CMD_SESSION_LIST, NULL, print_sessions, NULL);
}

static void print_kick(vg_control_response *resp, void *data)
{
    JsonObject *o = result_object(resp);
    int64_t n = num(o, "kicked");

    printf("kicked %s: %" PRId64 " viewer%s disconnected\n", str(o, "id"), n, n == 1 ? "" : "s");
}

static int cmd_session_kick(ctl *c, char **argv)
{
    JsonObject *args = args_new("id", argv[0], NULL);

    if (opt.reason)
        json_object_set_string_member(args, "reason", opt.reason);
    return run(c, VG_CONTROL_CMD_SESSION_KICK, args, print_kick, NULL);
}

/* ---- the console ---- */

static int cmd_screenshot(ctl *c, char **argv)
{
    static const guchar magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    g_autoptr(GError) err = NULL;
    g_autofree guchar *png = NULL;
    vg_control_response *resp;
    const char *b64;
    gsize len = 0;
    int st;

    if (!opt.output) {
        errorf("screenshot needs --output FILE.png");
        return EXIT_USAGE;
    }
    if ((st = call(c, VG_CONTROL_CMD_SCREENSHOT, args_new("vm", argv[0], NULL), &resp)) != EXIT_OK)
        return st;
    b64 = str(result_object(resp), "png");
    if (b64)
        png = g_base64_decode(b64, &len);
    if (!png || len < sizeof(magic) || memcmp(png, magic, sizeof(magic)) != 0) {
        errorf("vmgated sent no PNG image");
        vg_control_response_free(resp);
        return EXIT_FAILED;
    }
    vg_control_response_free(resp);
    /* Temporary file, fsync, rename: a reader never sees half a PNG. */
    if (!g_file_set_contents_full(opt.output, (const char *)png, (gssize)len,
                                  G_FILE_SET_CONTENTS_CONSISTENT, 0644, &err)) {
        errorf("cannot write %s: %s", opt.output, err->message);
        return EXIT_FAILED;
    }
    if (c->json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "vm");
        json_builder_add_string_value(b, argv[0]);
        json_builder_set_member_name(b, "output");
        json_builder_add_string_value(b, opt.output);
        json_builder_set_member_name(b, "size");
        json_builder_add_int_value(b, (int64_t)len);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        vg_ctl_print_json(root, true, stdout);
    } else if (len >= 24 && memcmp(png + 12, "IHDR", 4) == 0) {
        uint32_t w = (uint32_t)png[16] << 24 | (uint32_t)png[17] << 16 | png[18] << 8 | png[19];
        uint32_t h = (uint32_t)png[20] << 24 | (uint32_t)png[21] << 16 | png[22] << 8 | png[23];
        printf("wrote %s (%" PRIu32 "x%" PRIu32 ", %zu bytes)\n", opt.output, w, h, (size_t)len);
    } else {
        printf("wrote %s (%zu bytes)\n", opt.output, (size_t)len);
    }
    return EXIT_OK;
}

static int cmd_send_keys(ctl *c, char **argv)
{
    g_autofree char *msg = NULL;
    g_autofree char *text = NULL;
    uint16_t qnums[COMBO_MAX];
    size_t bad_at = 0;
    uint32_t bad = 0;
    int r;

    if (opt.combo && argv[1]) {
        errorf("give either TEXT or --combo, not both");
        return EXIT_USAGE;
    }
    if (opt.combo) {
        if (vg_keymap_parse_combo(opt.combo, qnums, COMBO_MAX) < 0) {
            errorf("invalid key combination '%s' (e.g. ctrl-alt-del, alt-f4, ctrl-alt-f2)",
                   opt.combo);
            return EXIT_USAGE;
        }
        msg = g_strdup_printf("sent %s to VM '%s'", opt.combo, argv[0]);
        return run(c, VG_CONTROL_CMD_SEND_COMBO, args_new("vm", argv[0], "combo", opt.combo, NULL),
                   print_message, msg);
    }
    if (!argv[1]) {
        errorf("send-keys needs TEXT or --combo COMBO");
        return EXIT_USAGE;
    }
    text = vg_type_unescape(argv[1], &bad_at);
    if (!text) {
        errorf("unknown escape at offset %zu of the text (use \\n \\t \\e \\b or \\\\)", bad_at);
        return EXIT_USAGE;
    }
    if (!*text) {
        errorf("the text is empty");
        return EXIT_USAGE;
    }
    r = vg_type_check(text, &bad);
    if (r == -EINVAL) {
        errorf("the text is not valid UTF-8");
        return EXIT_USAGE;
    }
    if (r < 0) {
        char ch[8] = "";
        if (bad >= 0x20 && bad != 0x7f)
            g_unichar_to_utf8(bad, ch);
        errorf("U+%04" PRIX32 " %s%s%scannot be typed on a US keyboard layout", bad, *ch ? "'" : "",
               ch, *ch ? "' " : "");
        return EXIT_USAGE;
    }
    msg = g_strdup_printf("typed %ld characters into VM '%s'", g_utf8_strlen(text, -1), argv[0]);
    return run(c, VG_CONTROL_CMD_SEND_TEXT, args_new("vm", argv[0], "text", text, NULL),
               print_message, msg);
}

/* ---- the audit log ---- */

static int print_record(ctl *c, JsonNode *record)
{
    if (c->json) {
        vg_ctl_print_json(record, false, stdout);
    } else {
        g_autofree char *line = vg_ctl_format_record(record);
        puts(line);
    }
    fflush(stdout);
    return ferror(stdout) ? -EIO : 0;
}

static int cmd_audit(ctl *c, char **argv)
{
    vg_control_response *resp = NULL;
    JsonObject *args = json_object_new();
    int st;

    if (opt.lines < 0 || opt.lines > 10000) {
        errorf("--lines must be from 0 to 10000");
        json_object_unref(args);
        return EXIT_USAGE;
    }
    json_object_set_int_member(args, "lines", opt.lines);
    json_object_set_boolean_member(args, "follow", opt.follow);
    if ((st = call(c, VG_CONTROL_CMD_AUDIT, args, &resp)) != EXIT_OK)
        return st;

    if (!opt.follow) {
        JsonArray *a = result_array(resp);
        if (c->json)
            vg_ctl_print_json(resp->result, true, stdout);
        for (guint i = 0; !c->json && a && i < json_array_get_length(a); i++)
            print_record(c, json_array_get_element(a, i));
        vg_control_response_free(resp);
        return EXIT_OK;
    }
    /* A stream: records until vmgated ends it or we are interrupted. */
    for (;;) {
        bool more = resp->more;
        if (more && print_record(c, resp->result) < 0) {
            vg_control_response_free(resp);
            return EXIT_FAILED;
        }
        vg_control_response_free(resp);
        resp = NULL;
        if (!more)
            return EXIT_OK;
        if ((st = read_response(c, &resp)) != EXIT_OK)
            return st;
        if (!resp->ok) {
            st = response_failed(resp);
            vg_control_response_free(resp);
            return st;
        }
    }
}

/* ---- the command table ---- */

#define OPT_PASSWORD_STDIN                                                                         \
    {                                                                                              \
        "password-stdin", 0, 0, G_OPTION_ARG_NONE, &opt.password_stdin,                            \
            "read the password from standard input (one line) instead of asking", NULL             \
    }
#define OPT_END                                                                                    \
    {                                                                                              \
        NULL, 0, 0, 0, NULL, NULL, NULL                                                            \
    }

static const GOptionEntry user_add_options[] = {
    OPT_PASSWORD_STDIN,
    {"nla", 0, 0, G_OPTION_ARG_NONE, &opt.nla,
     "also store the NT hash, so the user can log in with RDP NLA", NULL},
    OPT_END,
};
static const GOptionEntry user_passwd_options[] = {
    OPT_PASSWORD_STDIN,
    {"nla", 0, 0, G_OPTION_ARG_NONE, &opt.nla, "store the NT hash for RDP NLA", NULL},
    {"no-nla", 0, 0, G_OPTION_ARG_NONE, &opt.no_nla, "remove the NT hash (no RDP NLA)", NULL},
    OPT_END,
};
static const GOptionEntry assign_options[] = {
    {"role", 0, 0, G_OPTION_ARG_STRING, &opt.role, "owner (default), controller or observer",
     "ROLE"},
    OPT_END,
};
static const GOptionEntry pool_create_options[] = {
    {"idle-action", 0, 0, G_OPTION_ARG_STRING, &opt.idle_action,
     "what to do with a VM nobody views: none (default), shutdown or suspend", "ACTION"},
    {"idle-minutes", 0, 0, G_OPTION_ARG_INT, &opt.idle_minutes,
     "minutes without viewers before the idle action (default 30)", "N"},
    {"assign-on-first-login", 0, 0, G_OPTION_ARG_NONE, &opt.first_login,
     "a user keeps the VM they first get from the pool", NULL},
    OPT_END,
};
static const GOptionEntry kick_options[] = {
    {"reason", 0, 0, G_OPTION_ARG_STRING, &opt.reason, "shown to the user (at most 256 bytes)",
     "TEXT"},
    OPT_END,
};
static const GOptionEntry screenshot_options[] = {
    {"output", 'o', 0, G_OPTION_ARG_FILENAME, &opt.output, "PNG file to write (atomically)",
     "FILE.png"},
    OPT_END,
};
static const GOptionEntry send_keys_options[] = {
    {"combo", 0, 0, G_OPTION_ARG_STRING, &opt.combo,
     "press a key combination such as ctrl-alt-del instead of typing text", "COMBO"},
    OPT_END,
};
static const GOptionEntry audit_options[] = {
    {"follow", 'f', 0, G_OPTION_ARG_NONE, &opt.follow, "keep printing new records as they come",
     NULL},
    {"lines", 'n', 0, G_OPTION_ARG_INT, &opt.lines, "print the last N records first (default 20)",
     "N"},
    OPT_END,
};

typedef struct command {
    const char *name;  /* one or two words */
    const char *usage; /* arguments, then options in brackets */
    const char *summary;
    int min_args, max_args;
    const GOptionEntry *options;
    int (*run)(ctl *c, char **argv);
    const char *details;
} command;

static const command commands[] = {
    {"user add", "NAME [--password-stdin] [--nla]", "add a user", 1, 1, user_add_options,
     cmd_user_add,
     "Asks for the password twice on the terminal, or reads one line from standard\n"
     "input with --password-stdin:\n"
     "  printf '%s\\n' \"$pw\" | vmgatectl user add alice --password-stdin --nla"},
    {"user passwd", "NAME [--password-stdin] [--nla|--no-nla]", "change a user's password", 1, 1,
     user_passwd_options, cmd_user_passwd,
     "NLA stays as it was unless --nla or --no-nla is given."},
    {"user del", "NAME", "delete a user (their sessions are ended)", 1, 1, NULL, cmd_user_del,
     NULL},
    {"user disable", "NAME", "refuse a user's logins (their sessions are ended)", 1, 1, NULL,
     cmd_user_disable, NULL},
    {"user enable", "NAME", "allow a disabled user to log in again", 1, 1, NULL, cmd_user_enable,
     NULL},
    {"user list", "", "list users with their VMs and pools", 0, 0, NULL, cmd_user_list, NULL},
    {"vm list", "", "list VMs: name, UUID, state, viewers, pool", 0, 0, NULL, cmd_vm_list, NULL},
    {"vm start", "VM", "start a shut-off VM", 1, 1, NULL, cmd_vm_start, NULL},
    {"vm shutdown", "VM", "ask a VM's guest to shut down (ACPI)", 1, 1, NULL, cmd_vm_shutdown,
     NULL},
    {"vm destroy", "VM", "power a VM off at once", 1, 1, NULL, cmd_vm_destroy, NULL},
    {"vm suspend", "VM", "pause a VM", 1, 1, NULL, cmd_vm_suspend, NULL},
    {"vm resume", "VM", "resume a paused VM", 1, 1, NULL, cmd_vm_resume, NULL},
    {"assign", "USER VM [--role owner|controller|observer]", "give a user a VM (default: owner)", 2,
     2, assign_options, cmd_assign, "Assigning again with another role changes the role."},
    {"unassign", "USER VM", "take a VM away from a user", 2, 2, NULL, cmd_unassign, NULL},
    {"pool create",
     "NAME [--idle-action none|shutdown|suspend] [--idle-minutes N] [--assign-on-first-login]",
     "create a pool of VMs", 1, 1, pool_create_options, cmd_pool_create, NULL},
    {"pool add", "POOL VM", "add a VM to a pool", 2, 2, NULL, cmd_pool_add, NULL},
    {"pool remove", "POOL VM", "remove a VM from a pool", 2, 2, NULL, cmd_pool_remove, NULL},
    {"pool del", "NAME", "delete a pool", 1, 1, NULL, cmd_pool_del, NULL},
    {"pool list", "", "list pools with their VMs and users", 0, 0, NULL, cmd_pool_list, NULL},
    {"entitle", "USER POOL", "let a user take VMs from a pool", 2, 2, NULL, cmd_entitle, NULL},
    {"unentitle", "USER POOL", "withdraw a user's entitlement to a pool", 2, 2, NULL, cmd_unentitle,
     NULL},
    {"session list", "", "list live sessions, one line per viewer", 0, 0, NULL, cmd_session_list,
     NULL},
    {"session kick", "ID [--reason TEXT]", "disconnect a session (s…) or one viewer (v…)", 1, 1,
     kick_options, cmd_session_kick, NULL},
    {"screenshot", "VM --output FILE.png", "save a VM's screen as PNG", 1, 1, screenshot_options,
     cmd_screenshot, NULL},
    {"send-keys", "VM TEXT | VM --combo COMBO", "type text, or press a key combination", 1, 2,
     send_keys_options, cmd_send_keys,
     "In TEXT, \\n is Enter, \\t Tab, \\e Escape, \\b BackSpace, \\\\ a backslash;\n"
     "characters are typed as keys of a US keyboard layout. Examples:\n"
     "  vmgatectl send-keys vm1 'root\\n'\n"
     "  vmgatectl send-keys vm1 --combo ctrl-alt-del"},
    {"audit", "[--follow] [--lines N]", "print the audit log", 0, 0, audit_options, cmd_audit,
     "With --json, records are printed as JSON (one per line with --follow)."},
};

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
                                     "admin group, vmgate)\n";

static void main_help(FILE *out)
{
    fprintf(out, "Usage: vmgatectl [--socket PATH] [--json] COMMAND [ARGS...]\n\n"
                 "Manages vmgated through its admin socket: users, VM assignments, pools,\n"
                 "live sessions, screenshots and keys, and the audit log.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        fprintf(out, "  %s%s%s\n      %s\n", commands[i].name, *commands[i].usage ? " " : "",
                commands[i].usage, commands[i].summary);
    fprintf(out,
            "\nOptions:\n"
            "  --socket PATH  the admin socket (default %s)\n"
            "  --json         print results as JSON, for scripts\n"
            "  -h, --help     this help; 'vmgatectl COMMAND --help' for one command\n\n"
            "%s",
            VG_CONTROL_DEFAULT_SOCKET, exit_help);
}

/* Help for the commands of group @word ("user", "pool", ...). */
static void group_help(const char *word, FILE *out)
{
    size_t n = strlen(word);

    fprintf(out, "Usage: vmgatectl %s SUBCOMMAND ...\n\n", word);
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        if (strncmp(commands[i].name, word, n) == 0 && commands[i].name[n] == ' ')
            fprintf(out, "  vmgatectl %s%s%s\n      %s\n", commands[i].name,
                    *commands[i].usage ? " " : "", commands[i].usage, commands[i].summary);
    fprintf(out, "\n'vmgatectl %s SUBCOMMAND --help' says more.\n", word);
}

static bool is_group(const char *word)
{
    size_t n = strlen(word);

    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        if (strncmp(commands[i].name, word, n) == 0 && commands[i].name[n] == ' ')
            return true;
    return false;
}

/* The command named by argv[0] and maybe argv[1]; *words says how many it took. */
static const command *find_command(int argc, char **argv, int *words)
{
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        g_autofree char *two = argc >= 2 ? g_strconcat(argv[0], " ", argv[1], NULL) : NULL;
        if (two && strcmp(commands[i].name, two) == 0) {
            *words = 2;
            return &commands[i];
        }
        if (strcmp(commands[i].name, argv[0]) == 0) {
            *words = 1;
            return &commands[i];
        }
    }
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

/* Parse the options of @cmd in argv[0..argc) (argv[0] is the command's name). */
static int parse_command(const command *cmd, int *argc, char ***argv)
{
    const GOptionEntry common[] = {
        {"socket", 0, 0, G_OPTION_ARG_FILENAME, &opt.socket, "the admin socket", "PATH"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &opt.json, "print results as JSON", NULL},
        OPT_END,
    };
    g_autofree char *prgname = g_strdup_printf("vmgatectl %s", cmd->name);
    g_autofree char *description =
        cmd->details ? g_strdup_printf("%s\n\n%s", cmd->details, exit_help) : g_strdup(exit_help);
    g_autofree char *params = positional(cmd->usage);
    g_autoptr(GOptionContext) ctx = g_option_context_new(params);
    g_autoptr(GError) err = NULL;

    g_set_prgname(prgname);
    g_option_context_set_summary(ctx, cmd->summary);
    g_option_context_set_description(ctx, description);
    if (cmd->options)
        g_option_context_add_main_entries(ctx, cmd->options, NULL);
    g_option_context_add_main_entries(ctx, common, NULL);
    if (!g_option_context_parse(ctx, argc, argv, &err))
        return usage_error(cmd->name, "%s", err->message);
    /* GOption keeps a "--" that ends the options; it is not an argument. */
    for (int i = 1; i < *argc; i++) {
        if (strcmp((*argv)[i], "--") == 0) {
            memmove(&(*argv)[i], &(*argv)[i + 1], sizeof(char *) * (size_t)(*argc - i));
            (*argc)--;
            break;
        }
    }
    if (*argc - 1 < cmd->min_args)
        return usage_error(cmd->name, "%s needs %s", cmd->name, cmd->usage);
    if (*argc - 1 > cmd->max_args)
        return usage_error(cmd->name, "unexpected argument '%s'", (*argv)[1 + cmd->max_args]);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    ctl c = {.fd = -1};
    const command *cmd;
    char **rest;
    int i, words = 0, n, st;
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
            opt.json = TRUE;
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

    cmd = find_command(n, rest, &words);
    if (!cmd) {
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

    /* The command's own argv: its name, then what follows it. */
    n -= words - 1;
    sub = g_new0(char *, (gsize)n + 1);
    cmd_argv0 = g_strdup_printf("vmgatectl %s", cmd->name);
    sub[0] = cmd_argv0;
    for (int j = 1; j < n; j++)
        sub[j] = rest[words - 1 + j];
    {
        char **parsed = sub;
        if ((st = parse_command(cmd, &n, &parsed)) != EXIT_OK)
            return st;
        /* A --socket after the command wins over one before it. */
        c.socket = opt.socket && *opt.socket         ? opt.socket
                   : global_socket && *global_socket ? global_socket
                                                     : VG_CONTROL_DEFAULT_SOCKET;
        c.json = opt.json;
        st = cmd->run(&c, parsed + 1);
    }

    vg_control_reader_free(c.reader);
    if (c.fd >= 0)
        close(c.fd);
    if (fflush(stdout) != 0 && st == EXIT_OK) {
        errorf("cannot write the output: %s", g_strerror(errno));
        st = EXIT_FAILED;
    }
    return st;
}
