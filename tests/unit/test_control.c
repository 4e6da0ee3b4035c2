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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_control_request_round_trips),
        cmocka_unit_test(test_control_request_without_args_has_empty_object),
        cmocka_unit_test(test_control_result_round_trips),
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
