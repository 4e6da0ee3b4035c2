/*
 * Unit tests: the admin control protocol codec and its line reader —
 * round trips, bounds, malformed and incomplete lines.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>

#include "control-commands.h"
#include "control.h"

static void test_control_request_round_trips(void **state)
{
    g_autoptr(JsonObject) args = json_object_new();
    vg_control_request *req = NULL;
    char *line = NULL;
    size_t len = 0;
    int64_t id = -1;

    json_object_set_string_member(args, "name", "alice");
    json_object_set_boolean_member(args, "nla", TRUE);
    json_object_set_int_member(args, "lines", 7);
    assert_int_equal(vg_control_encode_request(42, "user.add", args, &line, &len), 0);
    assert_int_equal(len, strlen(line));
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', len - 1));

    assert_int_equal(vg_control_decode_request(line, len, &req, &id), 0);
    assert_int_equal(id, 42);
    assert_int_equal(req->id, 42);
    assert_string_equal(req->cmd, "user.add");
    assert_string_equal(json_object_get_string_member(req->args, "name"), "alice");
    assert_true(json_object_get_boolean_member(req->args, "nla"));
    assert_int_equal(json_object_get_int_member(req->args, "lines"), 7);
    vg_control_request_free(req);
    g_free(line);
}

static void test_control_request_without_args_has_empty_object(void **state)
{
    const char *text = "{\"id\":3,\"cmd\":\"user.list\"}";
    vg_control_request *req = NULL;

    assert_int_equal(vg_control_decode_request(text, strlen(text), &req, NULL), 0);
    assert_non_null(req->args);
    assert_int_equal(json_object_get_size(req->args), 0);
    vg_control_request_free(req);

    text = "{\"id\":4,\"cmd\":\"user.list\",\"args\":null,\"future\":[1,2]}";
    assert_int_equal(vg_control_decode_request(text, strlen(text), &req, NULL), 0);
    assert_int_equal(json_object_get_size(req->args), 0);
    vg_control_request_free(req);
}

static void test_control_result_round_trips(void **state)
{
    g_autoptr(JsonNode) result = json_from_string("{\"name\":\"a\\nb\",\"n\":[1,2,3]}", NULL);
    vg_control_response *resp = NULL;
    char *line = NULL;
    size_t len = 0;

    assert_int_equal(vg_control_encode_result(9, result, false, &line, &len), 0);
    assert_null(memchr(line, '\n', len - 1)); /* the embedded newline is escaped */
    assert_int_equal(vg_control_decode_response(line, len, &resp), 0);
    assert_int_equal(resp->id, 9);
    assert_true(resp->ok);
    assert_false(resp->more);
    assert_true(json_node_equal(resp->result, result));
    vg_control_response_free(resp);
    g_free(line);

    assert_int_equal(vg_control_encode_result(10, NULL, true, &line, &len), 0);
    assert_int_equal(vg_control_decode_response(line, len, &resp), 0);
    assert_true(resp->ok);
    assert_true(resp->more);
    assert_true(JSON_NODE_HOLDS_NULL(resp->result));
    vg_control_response_free(resp);
    g_free(line);
}

/* A success may carry a note: absent when none was given, bounded and valid UTF-8 when one was. */
static void test_control_result_carries_a_bounded_note(void **state)
{
    g_autoptr(JsonNode) result = json_from_string("[1]", NULL);
    g_autofree char *huge = g_strnfill(VG_CONTROL_NOTE_MAX + 100, 'x');
    vg_control_response *resp = NULL;
    char *line = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(vg_control_encode_result(3, result, false, &line, &len), 0);
    assert_null(strstr(line, "note"));
    assert_int_equal(vg_control_decode_response(line, len, &resp), 0);
    assert_null(resp->note);
    vg_control_response_free(resp);
    g_free(line);

    assert_int_equal(
        vg_control_encode_result_note(4, result, false, "from the file\n\xff", &line, &len), 0);
    assert_null(memchr(line, '\n', len - 1));
    assert_int_equal(vg_control_decode_response(line, len, &resp), 0);
    assert_true(json_node_equal(resp->result, result));
    assert_non_null(resp->note);
    assert_true(g_str_has_prefix(resp->note, "from the file\n"));
    assert_true(g_utf8_validate(resp->note, -1, NULL));
    vg_control_response_free(resp);
    g_free(line);

    assert_int_equal(vg_control_encode_result_note(5, result, false, huge, &line, &len), 0);
    assert_int_equal(vg_control_decode_response(line, len, &resp), 0);
    assert_int_equal(strlen(resp->note), VG_CONTROL_NOTE_MAX);
    vg_control_response_free(resp);
    g_free(line);
}

static void test_control_error_carries_message_and_errno_name(void **state)
{
    vg_control_response *resp = NULL;
    char *line = NULL;
    size_t len = 0;

    assert_int_equal(
        vg_control_encode_error(5, -ENOENT, "unknown user 'bob'\nsecond line", &line, &len), 0);
    assert_null(memchr(line, '\n', len - 1));
    assert_int_equal(vg_control_decode_response(line, len, &resp), 0);
    assert_int_equal(resp->id, 5);
    assert_false(resp->ok);
    assert_string_equal(resp->error, "unknown user 'bob'\nsecond line");
    assert_string_equal(resp->code, "ENOENT");
    assert_int_equal(vg_control_errno_parse(resp->code), ENOENT);
    vg_control_response_free(resp);
    g_free(line);

    /* Without a message, strerror's text; an unknown code parses as 0. */
    assert_int_equal(vg_control_encode_error(6, -EACCES, NULL, &line, &len), 0);
    assert_int_equal(vg_control_decode_response(line, len, &resp), 0);
    assert_string_equal(resp->code, "EACCES");
    assert_string_equal(resp->error, g_strerror(EACCES));
    vg_control_response_free(resp);
    g_free(line);
    assert_int_equal(vg_control_errno_parse("ENOTANERRNO"), 0);
    assert_string_equal(vg_control_errno_name(-EEXIST), "EEXIST");
}

static void test_control_refuses_oversized_request(void **state)
{
    size_t n = VG_CONTROL_REQUEST_MAX + 16;
    g_autofree char *big = g_malloc(n + 1);
    g_autoptr(JsonObject) args = json_object_new();
    vg_control_request *req = NULL;
    char *line = NULL;
    size_t len = 0;
    const char *head = "{\"id\":1,\"cmd\":\"x\",\"args\":{\"text\":\"";

    /* A line of exactly the limit (with its '\n') passes the length check. */
    memset(big, 'a', n);
    memcpy(big, head, strlen(head));
    memcpy(big + VG_CONTROL_REQUEST_MAX - 4, "\"}}\n", 4);
    assert_int_equal(vg_control_decode_request(big, VG_CONTROL_REQUEST_MAX, &req, NULL), 0);
    vg_control_request_free(req);
    req = NULL;

    memcpy(big + VG_CONTROL_REQUEST_MAX - 4, "aaaa", 4);
    memcpy(big + n - 4, "\"}}\n", 4);
    assert_int_equal(vg_control_decode_request(big, n, &req, NULL), -E2BIG);
    assert_null(req);

    big[n - 4] = '\0';
    json_object_set_string_member(args, "text", big + strlen(head));
    assert_int_equal(vg_control_encode_request(1, "x", args, &line, &len), -E2BIG);
    assert_null(line);
}

static void test_control_refuses_oversized_response(void **state)
{
    size_t n = VG_CONTROL_RESPONSE_MAX + 1;
    /* calloc'ed pages are not touched except the last one. */
    char *big = g_malloc0(n);
    vg_control_response *resp = NULL;

    big[n - 1] = '\n';
    assert_int_equal(vg_control_decode_response(big, n, &resp), -E2BIG);
    assert_null(resp);
    g_free(big);
}

static void test_control_refuses_malformed_json(void **state)
{
    static const char *const bad[] = {
        "",
        "{",
        "not json",
        "[1,2,3]",
        "\"string\"",
        "{\"id\":1,\"cmd\":\"x\",}",
        "{\"id\":1,\"cmd\":\"x\"} {\"id\":2,\"cmd\":\"y\"}",
        "{\"id\":1,\"cmd\":\"\xff\xfe\"}",
    };
    vg_control_request *req = NULL;
    vg_control_response *resp = NULL;

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        assert_int_equal(vg_control_decode_request(bad[i], strlen(bad[i]), &req, NULL), -EBADMSG);
        assert_null(req);
        assert_int_equal(vg_control_decode_response(bad[i], strlen(bad[i]), &resp), -EBADMSG);
        assert_null(resp);
    }
}

static void test_control_refuses_nul_byte_and_deep_nesting(void **state)
{
    const char with_nul[] = "{\"id\":1,\"cmd\":\"x\0y\"}";
    GString *deep = g_string_new("{\"id\":1,\"cmd\":\"x\",\"args\":{\"a\":");
    vg_control_request *req = NULL;

    assert_int_equal(vg_control_decode_request(with_nul, sizeof(with_nul) - 1, &req, NULL),
                     -EBADMSG);
    for (int i = 0; i < 1000; i++)
        g_string_append_c(deep, '[');
    for (int i = 0; i < 1000; i++)
        g_string_append_c(deep, ']');
    g_string_append(deep, "}}");
    assert_int_equal(vg_control_decode_request(deep->str, deep->len, &req, NULL), -EBADMSG);
    assert_null(req);
    g_string_free(deep, TRUE);

    /* Brackets inside strings do not count as nesting. */
    const char *brackets = "{\"id\":1,\"cmd\":\"x\",\"args\":{\"t\":\"[[[[[[[[[[[[[[[[[[[[[[[["
                           "[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}}";
    assert_int_equal(vg_control_decode_request(brackets, strlen(brackets), &req, NULL), 0);
    vg_control_request_free(req);
}

static void test_control_refuses_missing_or_mistyped_fields(void **state)
{
    static const struct {
        const char *line;
        int64_t id; /* reported for the error answer */
    } bad[] = {
        {"{\"cmd\":\"user.list\"}", 0},
        {"{\"id\":\"7\",\"cmd\":\"user.list\"}", 0},
        {"{\"id\":7.5,\"cmd\":\"user.list\"}", 0},
        {"{\"id\":7}", 7},
        {"{\"id\":7,\"cmd\":\"\"}", 7},
        {"{\"id\":7,\"cmd\":12}", 7},
        {"{\"id\":7,\"cmd\":\"user.list\",\"args\":[1]}", 7},
        {"{\"id\":7,\"cmd\":\"user.list\",\"args\":\"x\"}", 7},
    };
    vg_control_request *req = NULL;

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        int64_t id = -1;
        assert_int_equal(vg_control_decode_request(bad[i].line, strlen(bad[i].line), &req, &id),
                         -EBADMSG);
        assert_null(req);
        assert_int_equal(id, bad[i].id);
    }
}

static void test_control_response_needs_id_ok_and_error(void **state)
{
    static const char *const bad[] = {
        "{\"ok\":true,\"result\":1}",
        "{\"id\":1,\"result\":1}",
        "{\"id\":1,\"ok\":\"yes\"}",
        "{\"id\":1,\"ok\":false,\"code\":\"ENOENT\"}",
    };
    vg_control_response *resp = NULL;
    const char *no_code = "{\"id\":1,\"ok\":false,\"error\":\"boom\"}";

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        assert_int_equal(vg_control_decode_response(bad[i], strlen(bad[i]), &resp), -EBADMSG);
        assert_null(resp);
    }
    assert_int_equal(vg_control_decode_response(no_code, strlen(no_code), &resp), 0);
    assert_string_equal(resp->code, "EIO");
    vg_control_response_free(resp);
}

static void test_control_reader_splits_lines_across_writes(void **state)
{
    int sv[2];
    vg_control_reader *r;
    char *line;
    size_t len;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    r = vg_control_reader_new(sv[0], 64);
    assert_int_equal(vg_control_write_all(sv[1], "first\nsec", 9), 0);
    assert_int_equal(vg_control_reader_next(r, &line, &len), 0);
    assert_string_equal(line, "first");
    assert_int_equal(len, 5);
    assert_int_equal(vg_control_write_all(sv[1], "ond\n\nthird", 10), 0);
    assert_int_equal(vg_control_reader_next(r, &line, &len), 0);
    assert_string_equal(line, "second");
    assert_int_equal(vg_control_reader_next(r, &line, &len), 0);
    assert_string_equal(line, "");
    close(sv[1]);
    /* The stream ends inside "third". */
    assert_int_equal(vg_control_reader_next(r, &line, &len), -EPROTO);
    vg_control_reader_free(r);
    close(sv[0]);
}

static void test_control_reader_reports_clean_end(void **state)
{
    int sv[2];
    vg_control_reader *r;
    char *line = (char *)"x";
    size_t len;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    r = vg_control_reader_new(sv[0], 64);
    assert_int_equal(vg_control_write_all(sv[1], "only\n", 5), 0);
    close(sv[1]);
    assert_int_equal(vg_control_reader_next(r, &line, &len), 0);
    assert_string_equal(line, "only");
    assert_int_equal(vg_control_reader_next(r, &line, &len), 0);
    assert_null(line);
    vg_control_reader_free(r);
    close(sv[0]);
}

static void test_control_reader_refuses_too_long_line(void **state)
{
    int sv[2];
    vg_control_reader *r;
    char buf[100];
    char *line;
    size_t len;

    memset(buf, 'x', sizeof(buf));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    r = vg_control_reader_new(sv[0], 16);
    /* 15 bytes and '\n' is the longest line accepted. */
    assert_int_equal(vg_control_write_all(sv[1], buf, 15), 0);
    assert_int_equal(vg_control_write_all(sv[1], "\n", 1), 0);
    assert_int_equal(vg_control_reader_next(r, &line, &len), 0);
    assert_int_equal(len, 15);
    assert_int_equal(vg_control_write_all(sv[1], buf, sizeof(buf)), 0);
    assert_int_equal(vg_control_reader_next(r, &line, &len), -E2BIG);
    vg_control_reader_free(r);
    close(sv[0]);
    close(sv[1]);
}

static void test_control_connect_reports_missing_socket(void **state)
{
    int fd = -1;
    g_autofree char *longpath = g_strnfill(200, 'a');

    assert_int_equal(vg_control_connect("/nonexistent/vmgate/admin.sock", &fd), -ENOENT);
    assert_int_equal(vg_control_connect(longpath, &fd), -ENAMETOOLONG);
    assert_int_equal(fd, -1);
}

/* ---- the command table ---- */

static void test_control_table_has_every_wire_command_once(void **state)
{
    static const char *const names[] = {
        VG_CONTROL_CMD_USER_ADD,     VG_CONTROL_CMD_USER_PASSWD, VG_CONTROL_CMD_USER_DEL,
        VG_CONTROL_CMD_USER_DISABLE, VG_CONTROL_CMD_USER_ENABLE, VG_CONTROL_CMD_USER_LIST,
        VG_CONTROL_CMD_VM_LIST,      VG_CONTROL_CMD_VM_POWER,    VG_CONTROL_CMD_ASSIGN,
        VG_CONTROL_CMD_UNASSIGN,     VG_CONTROL_CMD_POOL_CREATE, VG_CONTROL_CMD_POOL_ADD,
        VG_CONTROL_CMD_POOL_REMOVE,  VG_CONTROL_CMD_POOL_DEL,    VG_CONTROL_CMD_POOL_LIST,
        VG_CONTROL_CMD_ENTITLE,      VG_CONTROL_CMD_UNENTITLE,   VG_CONTROL_CMD_SESSION_LIST,
        VG_CONTROL_CMD_SESSION_KICK, VG_CONTROL_CMD_SCREENSHOT,  VG_CONTROL_CMD_SEND_TEXT,
        VG_CONTROL_CMD_SEND_COMBO,   VG_CONTROL_CMD_AUDIT,       VG_CONTROL_CMD_INSTANCE_LIST,
    };

    (void)state;
    assert_int_equal(vg_control_n_commands, G_N_ELEMENTS(names));
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        const vg_control_command *c = vg_control_command_find(names[i]);
        assert_non_null(c);
        assert_string_equal(c->name, names[i]);
        for (size_t j = 0; j < vg_control_n_commands; j++)
            assert_true(&vg_control_commands[j] == c ||
                        strcmp(vg_control_commands[j].name, names[i]) != 0);
    }
    assert_null(vg_control_command_find("user.frob"));
    assert_null(vg_control_command_find(NULL));
}

static void test_control_table_read_only_commands(void **state)
{
    GString *ro = g_string_new(NULL);

    (void)state;
    for (size_t i = 0; i < vg_control_n_commands; i++)
        if (vg_control_commands[i].reads_only)
            g_string_append_printf(ro, "%s ", vg_control_commands[i].name);
    assert_string_equal(ro->str,
                        "user.list vm.list pool.list session.list screenshot audit instance.list ");
    g_string_free(ro, TRUE);
}

/* What vmgatectl sends is what vmgated checks: every member a command line sets is an
 * argument of its command, and every command's words are unique. */
static void test_control_table_cli_sets_only_known_arguments(void **state)
{
    g_autoptr(GHashTable) words = g_hash_table_new(g_str_hash, g_str_equal);

    (void)state;
    for (size_t i = 0; i < vg_control_n_commands; i++) {
        const vg_control_command *c = &vg_control_commands[i];
        for (const vg_control_cli *cli = c->cli; cli->words; cli++) {
            int n = 0;
            assert_true(g_hash_table_add(words, (gpointer)cli->words));
            assert_non_null(cli->usage);
            assert_non_null(cli->summary);
            for (; cli->params[n]; n++)
                assert_non_null(vg_control_command_arg(c, cli->params[n]));
            assert_true(cli->min_args <= n);
            if (cli->set_key) {
                const vg_control_arg *a = vg_control_command_arg(c, cli->set_key);
                assert_non_null(a);
                assert_true(vg_control_choice_valid(a, cli->set_value));
            }
            for (const vg_control_option *o = cli->options; o && o->name; o++) {
                const vg_control_arg *a;
                /* send-keys --combo belongs to send.combo */
                if (!o->key || strcmp(o->key, "combo") == 0)
                    continue;
                a = vg_control_command_arg(c, o->key);
                assert_non_null(a);
                assert_int_equal(a->type, o->type);
            }
        }
    }
    assert_int_equal(g_hash_table_size(words), 27);
    assert_non_null(
        vg_control_command_arg(vg_control_command_find(VG_CONTROL_CMD_SEND_COMBO), "combo"));
}

/* Check @json as the args of @cmd: the message, or NULL if they pass. */
static char *check(const char *cmd, const char *json)
{
    g_autoptr(JsonNode) node = json_from_string(json, NULL);
    char *error = (char *)"unset";
    int r;

    assert_non_null(node);
    r = vg_control_args_check(vg_control_command_find(cmd), json_node_get_object(node), &error);
    assert_true(r == 0 ? error == NULL : r == -EINVAL && error != NULL);
    return error;
}

#define assert_check(cmd, json, message)                                                           \
    do {                                                                                           \
        g_autofree char *m_ = check(cmd, json);                                                    \
        if (message)                                                                               \
            assert_string_equal(m_, message);                                                      \
        else                                                                                       \
            assert_null(m_);                                                                       \
    } while (0)

static void test_control_args_check_refuses_missing_mistyped_and_out_of_range(void **state)
{
    const char *none = NULL;

    (void)state;
    assert_check("user.add", "{\"name\":\"alice\",\"password\":\"pw\"}", none);
    assert_check("user.add", "{\"name\":\"alice\"}", "missing argument 'password'");
    assert_check("user.add", "{\"name\":\"alice\",\"password\":null}",
                 "missing argument 'password'");
    assert_check("user.add", "{\"name\":7,\"password\":\"pw\"}",
                 "argument 'name' must be a string");
    assert_check("user.add", "{\"name\":\"a\",\"password\":\"pw\",\"nla\":1}",
                 "argument 'nla' must be true or false");
    assert_check("audit", "{}", none);
    assert_check("audit", "{\"lines\":10000,\"follow\":true}", none);
    assert_check("audit", "{\"lines\":10001}",
                 "argument 'lines' must be an integer from 0 to 10000");
    assert_check("audit", "{\"lines\":-1}", "argument 'lines' must be an integer from 0 to 10000");
    assert_check("audit", "{\"lines\":\"5\"}",
                 "argument 'lines' must be an integer from 0 to 10000");
    assert_check("audit", "{\"lines\":5.0}", "argument 'lines' must be an integer from 0 to 10000");
    assert_check("pool.create", "{\"name\":\"p\",\"idle_minutes\":0}",
                 "argument 'idle_minutes' must be an integer from 1 to 10080");
    assert_check("pool.create", "{\"name\":\"p\",\"idle_action\":\"sleep\"}",
                 "invalid idle action 'sleep' (none, shutdown or suspend)");
    assert_check("assign", "{\"user\":\"u\",\"vm\":\"v\",\"role\":\"boss\"}",
                 "invalid role 'boss' (owner, controller or observer)");
    assert_check("vm.power", "{\"vm\":\"v\",\"action\":\"reboot\"}",
                 "invalid power action 'reboot' (start, shutdown, destroy, suspend or resume)");
    /* The first argument in the table's order is the one named. */
    assert_check("assign", "{}", "missing argument 'user'");
    /* Members the table does not name are ignored. */
    assert_check("user.list", "{\"extra\":[1,2]}", none);
}

static void test_control_args_give_defaults_when_absent(void **state)
{
    const vg_control_command *audit = vg_control_command_find(VG_CONTROL_CMD_AUDIT);
    const vg_control_command *pool = vg_control_command_find(VG_CONTROL_CMD_POOL_CREATE);
    g_autoptr(JsonNode) none = json_from_string("{\"lines\":null}", NULL);
    g_autoptr(JsonNode) some = json_from_string("{\"lines\":3,\"follow\":true,\"s\":\"x\"}", NULL);
    bool given = true;

    (void)state;
    assert_int_equal(vg_control_arg_int(audit, json_node_get_object(none), "lines", &given), 20);
    assert_false(given);
    assert_false(vg_control_arg_bool(audit, json_node_get_object(none), "follow", &given));
    assert_false(given);
    assert_int_equal(vg_control_arg_int(pool, json_node_get_object(none), "idle_minutes", NULL),
                     30);
    assert_int_equal(vg_control_arg_int(audit, json_node_get_object(some), "lines", &given), 3);
    assert_true(given);
    assert_true(vg_control_arg_bool(audit, json_node_get_object(some), "follow", NULL));
    assert_string_equal(vg_control_arg_string(json_node_get_object(some), "s"), "x");
    assert_null(vg_control_arg_string(json_node_get_object(none), "lines"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_control_request_round_trips),
        cmocka_unit_test(test_control_request_without_args_has_empty_object),
        cmocka_unit_test(test_control_result_round_trips),
        cmocka_unit_test(test_control_result_carries_a_bounded_note),
        cmocka_unit_test(test_control_error_carries_message_and_errno_name),
        cmocka_unit_test(test_control_refuses_oversized_request),
        cmocka_unit_test(test_control_refuses_oversized_response),
        cmocka_unit_test(test_control_refuses_malformed_json),
        cmocka_unit_test(test_control_refuses_nul_byte_and_deep_nesting),
        cmocka_unit_test(test_control_refuses_missing_or_mistyped_fields),
        cmocka_unit_test(test_control_response_needs_id_ok_and_error),
        cmocka_unit_test(test_control_reader_splits_lines_across_writes),
        cmocka_unit_test(test_control_reader_reports_clean_end),
        cmocka_unit_test(test_control_reader_refuses_too_long_line),
        cmocka_unit_test(test_control_connect_reports_missing_socket),
        cmocka_unit_test(test_control_table_has_every_wire_command_once),
        cmocka_unit_test(test_control_table_read_only_commands),
        cmocka_unit_test(test_control_table_cli_sets_only_known_arguments),
        cmocka_unit_test(test_control_args_check_refuses_missing_mistyped_and_out_of_range),
        cmocka_unit_test(test_control_args_give_defaults_when_absent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
