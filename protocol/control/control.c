/*
 * vmgate — the admin control protocol codec (see control.h): requests and
 * responses to and from single JSON lines, with json-glib.
 *
 * Every line is checked before json-glib parses it: its length, that it is
 * UTF-8 without NUL bytes, that it holds one object and nothing after it,
 * and how deeply it nests (json-glib's parser is recursive, so a line of
 * 64 KiB of '[' would otherwise recurse that deep).
 */
#include "control.h"

#include <errno.h>
#include <string.h>

#define MALFORMED (-EBADMSG)

/*
 * Whether the JSON text is one object (and nothing after it but white
 * space) whose arrays and objects nest at most @max deep. json-glib would
 * accept a second value after the first and silently use the last one.
 */
static bool shape_ok(const char *s, size_t len, int max)
{
    int depth = 0;
    bool in_string = false, escaped = false, closed = false;
    size_t i = 0;

    while (i < len && g_ascii_isspace(s[i]))
        i++;
    if (i == len || s[i] != '{')
        return false;
    for (; i < len; i++) {
        char c = s[i];
        if (closed) {
            if (!g_ascii_isspace(c))
                return false;
        } else if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return false;
        } else if (c == ']' || c == '}') {
            closed = --depth == 0;
        }
    }
    return true;
}

/*
 * Check and parse one line into its root object. @max bounds the line with
 * its '\n'. @return 0 and *root set (json_node_unref it); -E2BIG; -EBADMSG.
 */
static int parse_line(const char *line, size_t len, size_t max, JsonNode **root)
{
    g_autoptr(JsonParser) parser = NULL;
    JsonNode *node;

    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len + 1 > max)
        return -E2BIG;
    if (len == 0 || memchr(line, '\0', len) || !g_utf8_validate(line, (gssize)len, NULL))
        return MALFORMED;
    if (!shape_ok(line, len, VG_CONTROL_DEPTH_MAX))
        return MALFORMED;

    parser = json_parser_new_immutable();
    if (!json_parser_load_from_data(parser, line, (gssize)len, NULL))
        return MALFORMED;
    node = json_parser_get_root(parser);
    if (!node || !JSON_NODE_HOLDS_OBJECT(node))
        return MALFORMED;
    *root = json_node_ref(node);
    return 0;
}

/* The integer member @key of @o. @return 0 and *out set; -EBADMSG. */
static int get_int(JsonObject *o, const char *key, int64_t *out)
{
    JsonNode *n = json_object_get_member(o, key);

    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
        return MALFORMED;
    *out = json_node_get_int(n);
    return 0;
}

/* The string member @key of @o, or NULL when absent or not a string. */
static const char *get_string(JsonObject *o, const char *key)
{
    JsonNode *n = json_object_get_member(o, key);

    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(n);
}

/*
 * Generate @root as one line ending in '\n'.
 * @return 0 and *line, *len set; -E2BIG when longer than @max.
 */
static int finish_line(JsonNode *root, size_t max, char **line, size_t *len)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    gsize n = 0;
    char *text;

    json_generator_set_root(gen, root);
    text = json_generator_to_data(gen, &n);
    if (n + 1 > max) {
        explicit_bzero(text, n);
        g_free(text);
        return -E2BIG;
    }
    /* A fresh block rather than g_realloc, so no copy of a secret is left behind. */
    *line = g_malloc(n + 2);
    memcpy(*line, text, n);
    (*line)[n] = '\n';
    (*line)[n + 1] = '\0';
    *len = n + 1;
    explicit_bzero(text, n);
    g_free(text);
    return 0;
}

int vg_control_encode_request(int64_t id, const char *cmd, JsonObject *args, char **line,
                              size_t *len)
{
    g_autoptr(JsonBuilder) b = NULL;
    g_autoptr(JsonNode) root = NULL;
    JsonNode *args_node;

    if (!cmd || !*cmd || strlen(cmd) > VG_CONTROL_CMD_MAX || !line || !len)
        return -EINVAL;

    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, id);
    json_builder_set_member_name(b, "cmd");
    json_builder_add_string_value(b, cmd);
    json_builder_set_member_name(b, "args");
    args_node = json_node_new(JSON_NODE_OBJECT);
    if (args) {
        json_node_set_object(args_node, args);
    } else {
        JsonObject *empty = json_object_new();
        json_node_take_object(args_node, empty);
    }
    json_builder_add_value(b, args_node);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    return finish_line(root, VG_CONTROL_REQUEST_MAX, line, len);
}

int vg_control_decode_request(const char *line, size_t len, vg_control_request **out, int64_t *id)
{
    g_autoptr(JsonNode) root = NULL;
    vg_control_request *req = NULL;
    JsonObject *o;
    JsonNode *args;
    const char *cmd;
    int64_t req_id = 0;
    int r;

    if (id)
        *id = 0;
    if (!line || !out)
        return -EINVAL;
    if ((r = parse_line(line, len, VG_CONTROL_REQUEST_MAX, &root)) < 0)
        return r;
    o = json_node_get_object(root);
    if (get_int(o, "id", &req_id) < 0)
        return MALFORMED;
    if (id)
        *id = req_id;

    cmd = get_string(o, "cmd");
    if (!cmd || !*cmd || strlen(cmd) > VG_CONTROL_CMD_MAX)
        return MALFORMED;
    args = json_object_get_member(o, "args");
    if (args && !JSON_NODE_HOLDS_OBJECT(args) && !JSON_NODE_HOLDS_NULL(args))
        return MALFORMED;

    req = g_new0(vg_control_request, 1);
    req->id = req_id;
    req->cmd = g_strdup(cmd);
    if (args && JSON_NODE_HOLDS_OBJECT(args))
        req->args = json_object_ref(json_node_get_object(args));
    else
        req->args = json_object_new();
    *out = req;
    return 0;
}

void vg_control_request_free(vg_control_request *req)
{
    if (!req)
        return;
    g_free(req->cmd);
    if (req->args)
        json_object_unref(req->args);
    g_free(req);
}

int vg_control_encode_result(int64_t id, JsonNode *result, bool more, char **line, size_t *len)
{
    return vg_control_encode_result_note(id, result, more, NULL, line, len);
}

/* @text as valid UTF-8 of at most @max bytes, cut on a character boundary. */
static char *bounded_text(const char *text, size_t max)
{
    char *t = g_utf8_make_valid(text, -1);

    if (strlen(t) > max) {
        const char *end;
        t[max] = '\0';
        if (!g_utf8_validate(t, -1, &end)) /* the cut split a character */
            t[end - t] = '\0';
    }
    return t;
}

int vg_control_encode_result_note(int64_t id, JsonNode *result, bool more, const char *note,
                                  char **line, size_t *len)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    if (!line || !len)
        return -EINVAL;
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, id);
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, TRUE);
    if (more) {
        json_builder_set_member_name(b, "more");
        json_builder_add_boolean_value(b, TRUE);
    }
    json_builder_set_member_name(b, "result");
    if (result)
        json_builder_add_value(b, json_node_ref(result));
    else
        json_builder_add_null_value(b);
    if (note) {
        g_autofree char *text = bounded_text(note, VG_CONTROL_NOTE_MAX);
        json_builder_set_member_name(b, "note");
        json_builder_add_string_value(b, text);
    }
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    return finish_line(root, VG_CONTROL_RESPONSE_MAX, line, len);
}

int vg_control_encode_error(int64_t id, int err, const char *message, char **line, size_t *len)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;
    int e = err < 0 ? -err : err;

    if (!line || !len)
        return -EINVAL;
    if (e == 0)
        e = EIO;
    /* Bound and repair a message that came from elsewhere (a backend, a name). */
    text = bounded_text(message ? message : g_strerror(e), 4096);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, id);
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, FALSE);
    json_builder_set_member_name(b, "error");
    json_builder_add_string_value(b, text);
    json_builder_set_member_name(b, "code");
    json_builder_add_string_value(b, vg_control_errno_name(e));
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    return finish_line(root, VG_CONTROL_RESPONSE_MAX, line, len);
}

int vg_control_decode_response(const char *line, size_t len, vg_control_response **out)
{
    g_autoptr(JsonNode) root = NULL;
    vg_control_response *resp;
    JsonObject *o;
    JsonNode *n;
    int64_t id;
    const char *error, *code;
    int r;

    if (!line || !out)
        return -EINVAL;
    if ((r = parse_line(line, len, VG_CONTROL_RESPONSE_MAX, &root)) < 0)
        return r;
    o = json_node_get_object(root);
    if (get_int(o, "id", &id) < 0)
        return MALFORMED;
    n = json_object_get_member(o, "ok");
    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
        return MALFORMED;

    resp = g_new0(vg_control_response, 1);
    resp->id = id;
    resp->ok = json_node_get_boolean(n);
    if (resp->ok) {
        n = json_object_get_member(o, "more");
        if (n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN)
            resp->more = json_node_get_boolean(n);
        n = json_object_get_member(o, "result");
        resp->result = n ? json_node_ref(n) : json_node_new(JSON_NODE_NULL);
        if ((error = get_string(o, "note")) && *error)
            resp->note = bounded_text(error, VG_CONTROL_NOTE_MAX);
    } else {
        error = get_string(o, "error");
        if (!error) {
            vg_control_response_free(resp);
            return MALFORMED;
        }
        code = get_string(o, "code");
        resp->error = g_strdup(error);
        resp->code = g_strdup(code && *code ? code : "EIO");
    }
    *out = resp;
    return 0;
}

void vg_control_response_free(vg_control_response *resp)
{
    if (!resp)
        return;
    if (resp->result)
        json_node_unref(resp->result);
    g_free(resp->error);
    g_free(resp->code);
    g_free(resp->note);
    g_free(resp);
}

const char *vg_control_errno_name(int err)
{
    const char *name = strerrorname_np(err < 0 ? -err : err);
    return name ? name : "EIO";
}

int vg_control_errno_parse(const char *name)
{
    if (!name)
        return 0;
    /* Linux errno values stop below 200; strerrorname_np knows each one's name. */
    for (int e = 1; e < 200; e++) {
        const char *n = strerrorname_np(e);
        if (n && strcmp(n, name) == 0)
            return e;
    }
    return 0;
}
