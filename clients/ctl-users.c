/*
 * vmgatectl — the user commands: add, passwd, del, disable, enable, list.
 */
#include "ctl-priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl-output.h"
#include "ctl-password.h"

static int get_password(ctl *c, const char *user, char **pw)
{
    int r = vg_ctl_opt_flag(c, "password-stdin") ? vg_ctl_read_password_stdin(pw)
                                                 : vg_ctl_prompt_password(user, pw);

    switch (r) {
    case 0:
        return EXIT_OK;
    case -ENOTTY:
        vg_ctl_error("standard input is not a terminal: use --password-stdin to read the password "
                     "from it");
        return EXIT_USAGE;
    case -ENODATA:
        vg_ctl_error("empty password refused");
        return EXIT_FAILED;
    case -EKEYREJECTED:
        vg_ctl_error("the passwords do not match");
        return EXIT_FAILED;
    case -E2BIG:
        vg_ctl_error("the password is too long");
        return EXIT_FAILED;
    default:
        vg_ctl_error("cannot read the password: %s", g_strerror(-r));
        return EXIT_FAILED;
    }
}

static int set_password(ctl *c, char **argv, const char *done)
{
    vg_control_response *resp;
    JsonObject *args;
    char *pw = NULL;
    int st;

    /* Find out whether vmgated can be reached before anyone types a password. */
    if ((st = vg_ctl_connect(c)) != EXIT_OK)
        return st;
    if ((st = get_password(c, argv[0], &pw)) != EXIT_OK)
        return st;
    args = vg_ctl_args(c, argv, "password", pw);
    vg_ctl_password_free(pw);
    if ((st = vg_ctl_call(c, c->cmd->name, args, &resp)) != EXIT_OK)
        return st;
    if (c->json) {
        vg_ctl_print_json(resp->result, true, stdout);
    } else {
        JsonObject *o = vg_ctl_result_object(resp);
        printf("%s '%s' %s%s\n", strcmp(done, "added") == 0 ? "user" : "password of", argv[0], done,
               vg_ctl_flag(o, "nla") ? " (NLA enabled)" : "");
    }
    vg_control_response_free(resp);
    return EXIT_OK;
}

int vg_ctl_user_add(ctl *c, char **argv)
{
    return set_password(c, argv, "added");
}

int vg_ctl_user_passwd(ctl *c, char **argv)
{
    if (vg_ctl_opt_flag(c, "nla") && vg_ctl_opt_flag(c, "no-nla")) {
        vg_ctl_error("--nla and --no-nla exclude each other");
        return EXIT_USAGE;
    }
    return set_password(c, argv, "changed");
}

static void print_kicked(vg_control_response *resp, void *data)
{
    int64_t kicked = vg_ctl_num(vg_ctl_result_object(resp), "kicked");

    fputs((const char *)data, stdout);
    if (kicked > 0)
        printf("; %" PRId64 " viewer%s disconnected", kicked, kicked == 1 ? "" : "s");
    putchar('\n');
}

/* A command on user argv[0] that may end their sessions; @done: what happened to them. */
static int user_change(ctl *c, char **argv, const char *done)
{
    g_autofree char *msg = g_strdup_printf("user '%s' %s", argv[0], done);
    return vg_ctl_run(c, c->cmd->name, vg_ctl_args(c, argv, NULL, NULL), print_kicked, msg);
}

int vg_ctl_user_del(ctl *c, char **argv)
{
    return user_change(c, argv, "deleted");
}

int vg_ctl_user_disable(ctl *c, char **argv)
{
    return user_change(c, argv, "disabled");
}

int vg_ctl_user_enable(ctl *c, char **argv)
{
    return user_change(c, argv, "enabled");
}

static void print_users(vg_control_response *resp, void *data)
{
    JsonArray *a = vg_ctl_result_array(resp);
    vg_ctl_table *t = vg_ctl_table_new("NAME", "NLA", "STATUS", "ASSIGNED VMS", "POOLS", NULL);

    (void)data;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *u = json_array_get_object_element(a, i);
        g_autofree char *vms =
            vg_ctl_join_array(vg_ctl_member_array(u, "assignments"), "vm", "role");
        g_autofree char *pools = vg_ctl_join_array(vg_ctl_member_array(u, "pools"), NULL, NULL);
        vg_ctl_table_add(t, vg_ctl_str(u, "name"), vg_ctl_flag(u, "nla") ? "yes" : "no",
                         vg_ctl_flag(u, "disabled") ? "disabled" : "enabled", vms, pools);
    }
    if (vg_ctl_table_rows(t) == 0)
        puts("no users");
    else
        vg_ctl_table_print(t, stdout);
    vg_ctl_table_free(t);
}

int vg_ctl_user_list(ctl *c, char **argv)
{
    (void)argv;
    return vg_ctl_run(c, c->cmd->name, NULL, print_users, NULL);
}
