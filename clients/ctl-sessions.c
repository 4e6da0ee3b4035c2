/*
 * vmgatectl — the commands on live VMs: session list and kick, screenshot,
 * send-keys.
 */
#include "ctl-priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl-output.h"
#include "keymap.h"
#include "type-text.h"

#define COMBO_MAX 8

static char *local_time(int64_t t)
{
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local(t);
    return dt ? g_date_time_format(dt, "%Y-%m-%d %H:%M:%S") : g_strdup("?");
}

static void print_sessions(vg_control_response *resp, void *data)
{
    JsonArray *a = vg_ctl_result_array(resp);
    vg_ctl_table *t = vg_ctl_table_new("SESSION", "VM", "VIEWER", "USER", "PROTOCOL", "ROLE",
                                       "ADDRESS", "SINCE", "INSTANCE", NULL);

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *s = json_array_get_object_element(a, i);
        JsonArray *viewers = vg_ctl_member_array(s, "viewers");
        for (guint j = 0; viewers && j < json_array_get_length(viewers); j++) {
            JsonObject *v = json_array_get_object_element(viewers, j);
            g_autofree char *since = local_time(vg_ctl_num(v, "since"));
            vg_ctl_table_add(t, vg_ctl_str(s, "id"), vg_ctl_str(s, "vm"), vg_ctl_str(v, "id"),
                             vg_ctl_str(v, "user"), vg_ctl_str(v, "protocol"),
                             vg_ctl_str(v, "role"), vg_ctl_str(v, "address"), since,
                             vg_ctl_str(s, "instance"));
        }
    }
    if (vg_ctl_table_rows(t) == 0)
        puts("no sessions");
    else
        vg_ctl_table_print(t, stdout);
    vg_ctl_table_free(t);
}

/* Name the instances whose viewers the list leaves out (down or stopped: nothing says their
 * viewers are still there). Nothing when the instances cannot be listed. */
static void print_left_out(ctl *c)
{
    vg_control_response *resp = NULL;
    g_autoptr(GString) names = g_string_new("");
    JsonArray *a;

    if (vg_ctl_call(c, VG_CONTROL_CMD_INSTANCE_LIST, NULL, &resp) != EXIT_OK)
        return;
    a = vg_ctl_result_array(resp);
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        const char *status = vg_ctl_str(o, "status");
        if (vg_ctl_flag(o, "self") || !status || strcmp(status, "up") == 0)
            continue;
        g_string_append_printf(names, "%s%s (%s)", names->len ? ", " : "", vg_ctl_str(o, "name"),
                               status);
    }
    if (names->len)
        printf("(not listed: the viewers of %s)\n", names->str);
    vg_control_response_free(resp);
}

int vg_ctl_session_list(ctl *c, char **argv)
{
    int st = vg_ctl_run(c, VG_CONTROL_CMD_SESSION_LIST, NULL, print_sessions, NULL);

    (void)argv;
    if (st == EXIT_OK && !c->json)
        print_left_out(c);
    return st;
}

static void print_kick(vg_control_response *resp, void *data)
{
    JsonObject *o = vg_ctl_result_object(resp);
    int64_t n = vg_ctl_num(o, "kicked");

    if (vg_ctl_flag(o, "sent"))
        printf("kick of %s sent to instance %s: %" PRId64 " viewer%s to disconnect\n",
               vg_ctl_str(o, "id"), vg_ctl_str(o, "instance"), n, n == 1 ? "" : "s");
    else
        printf("kicked %s: %" PRId64 " viewer%s disconnected\n", vg_ctl_str(o, "id"), n,
               n == 1 ? "" : "s");
}

int vg_ctl_session_kick(ctl *c, char **argv)
{
    return vg_ctl_run(c, c->cmd->name, vg_ctl_args(c, argv, NULL, NULL), print_kick, NULL);
}

/* ---- the console ---- */

int vg_ctl_screenshot(ctl *c, char **argv)
{
    static const guchar magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    g_autoptr(GError) err = NULL;
    g_autofree guchar *png = NULL;
    vg_control_response *resp;
    const char *output = vg_ctl_opt_string(c, "output");
    const char *b64;
    gsize len = 0;
    int st;

    if (!output) {
        vg_ctl_error("screenshot needs --output FILE.png");
        return EXIT_USAGE;
    }
    if ((st = vg_ctl_call(c, c->cmd->name, vg_ctl_args(c, argv, NULL, NULL), &resp)) != EXIT_OK)
        return st;
    b64 = vg_ctl_str(vg_ctl_result_object(resp), "png");
    if (b64)
        png = g_base64_decode(b64, &len);
    if (!png || len < sizeof(magic) || memcmp(png, magic, sizeof(magic)) != 0) {
        vg_ctl_error("vmgated sent no PNG image");
        vg_control_response_free(resp);
        return EXIT_FAILED;
    }
    vg_control_response_free(resp);
    /* Temporary file, fsync, rename: a reader never sees half a PNG. */
    if (!g_file_set_contents_full(output, (const char *)png, (gssize)len,
                                  G_FILE_SET_CONTENTS_CONSISTENT, 0644, &err)) {
        vg_ctl_error("cannot write %s: %s", output, err->message);
        return EXIT_FAILED;
    }
    if (c->json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "vm");
        json_builder_add_string_value(b, argv[0]);
        json_builder_set_member_name(b, "output");
        json_builder_add_string_value(b, output);
        json_builder_set_member_name(b, "size");
        json_builder_add_int_value(b, (int64_t)len);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        vg_ctl_print_json(root, true, stdout);
    } else if (len >= 24 && memcmp(png + 12, "IHDR", 4) == 0) {
        uint32_t w = (uint32_t)png[16] << 24 | (uint32_t)png[17] << 16 | png[18] << 8 | png[19];
        uint32_t h = (uint32_t)png[20] << 24 | (uint32_t)png[21] << 16 | png[22] << 8 | png[23];
        printf("wrote %s (%" PRIu32 "x%" PRIu32 ", %zu bytes)\n", output, w, h, (size_t)len);
    } else {
        printf("wrote %s (%zu bytes)\n", output, (size_t)len);
    }
    return EXIT_OK;
}

int vg_ctl_send_keys(ctl *c, char **argv)
{
    const char *combo = vg_ctl_opt_string(c, "combo");
    g_autofree char *text = NULL;
    uint16_t qnums[COMBO_MAX];
    size_t bad_at = 0;
    uint32_t bad = 0;
    int r;

    if (combo && argv[1]) {
        vg_ctl_error("give either TEXT or --combo, not both");
        return EXIT_USAGE;
    }
    if (combo) {
        if (vg_keymap_parse_combo(combo, qnums, COMBO_MAX) < 0) {
            vg_ctl_error("invalid key combination '%s' (e.g. ctrl-alt-del, alt-f4, ctrl-alt-f2)",
                         combo);
            return EXIT_USAGE;
        }
        /* send.combo: the VM and the option. */
        c->cmd = vg_control_command_find(VG_CONTROL_CMD_SEND_COMBO);
        return vg_ctl_run_message(c, argv, g_strdup_printf("sent %s to VM '%s'", combo, argv[0]));
    }
    if (!argv[1]) {
        vg_ctl_error("send-keys needs TEXT or --combo COMBO");
        return EXIT_USAGE;
    }
    text = vg_type_unescape(argv[1], &bad_at);
    if (!text) {
        vg_ctl_error("unknown escape at offset %zu of the text (use \\n \\t \\e \\b or \\\\)",
                     bad_at);
        return EXIT_USAGE;
    }
    if (!*text) {
        vg_ctl_error("the text is empty");
        return EXIT_USAGE;
    }
    r = vg_type_check(text, &bad);
    if (r == -EINVAL) {
        vg_ctl_error("the text is not valid UTF-8");
        return EXIT_USAGE;
    }
    if (r < 0) {
        char ch[8] = "";
        if (bad >= 0x20 && bad != 0x7f)
            g_unichar_to_utf8(bad, ch);
        vg_ctl_error("U+%04" PRIX32 " %s%s%scannot be typed on a US keyboard layout", bad,
                     *ch ? "'" : "", ch, *ch ? "' " : "");
        return EXIT_USAGE;
    }
    {
        char *params[] = {argv[0], text, NULL}; /* the text as typed, escapes resolved */
        return vg_ctl_run_message(
            c, params,
            g_strdup_printf("typed %ld characters into VM '%s'", g_utf8_strlen(text, -1), argv[0]));
    }
}
