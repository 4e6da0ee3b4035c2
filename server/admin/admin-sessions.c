/*
 * vmgate — the admin commands on live sessions and consoles: session.list,
 * session.kick, screenshot, send.text, send.combo.
 *
 * Threading: see admin-commands-priv.h.
 */
#include "admin-commands-priv.h"

#include <errno.h>
#include <string.h>

#include "keymap.h"
#include "type-text.h"

/* Longest text send-keys types at once, in bytes. */
#define SEND_TEXT_MAX 16384
/* Longest kick reason, in bytes: it is shown to the user in a dialog. */
#define REASON_MAX 256
/* Keys in a combo at most. */
#define COMBO_MAX 8

int vg_admin_cmd_session_list(vg_admin_call *k)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) list = NULL;

    if (!ctx(k)->sessions)
        return vg_admin_unsupported(k, "listing sessions");
    list = vg_sessions_list(ctx(k)->sessions);
    json_builder_begin_array(b);
    for (guint i = 0; i < list->len; i++) {
        vg_session_info *s = g_ptr_array_index(list, i);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, s->id);
        json_builder_set_member_name(b, "vm");
        json_builder_add_string_value(b, s->vm);
        json_builder_set_member_name(b, "viewers");
        json_builder_begin_array(b);
        for (guint j = 0; j < s->viewers->len; j++) {
            vg_viewer_info *v = &g_array_index(s->viewers, vg_viewer_info, j);
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "id");
            json_builder_add_string_value(b, v->id);
            json_builder_set_member_name(b, "user");
            json_builder_add_string_value(b, v->user);
            json_builder_set_member_name(b, "protocol");
            json_builder_add_string_value(b, v->protocol);
            json_builder_set_member_name(b, "role");
            json_builder_add_string_value(b, vg_role_name(v->role));
            json_builder_set_member_name(b, "address");
            json_builder_add_string_value(b, v->address);
            json_builder_set_member_name(b, "since");
            json_builder_add_int_value(b, v->since);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    k->result = json_builder_get_root(b);
    return 0;
}

int vg_admin_cmd_session_kick(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(JsonBuilder) b = json_builder_new();
    const char *id, *reason;
    int n;

    arg_string(k, "id", &id);
    arg_string(k, "reason", &reason);
    if (reason && (strlen(reason) > REASON_MAX || !g_utf8_validate(reason, -1, NULL)))
        return vg_admin_fail(k, -EINVAL, "the reason must be at most %d bytes of UTF-8",
                             REASON_MAX);
    if (!reason || !*reason)
        reason = "disconnected by an administrator";
    if (!c->sessions)
        return vg_admin_unsupported(k, "kicking sessions");
    n = vg_sessions_kick(c->sessions, id, reason);
    if (n == -ENOENT)
        return vg_admin_fail(k, n, "unknown session or viewer '%s'", id);
    if (n < 0)
        return vg_admin_fail(k, n, "cannot kick '%s': %s", id, g_strerror(-n));
    if (c->audit)
        vg_audit_kick(c->audit, k->user, id, reason, (unsigned)n);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, id);
    json_builder_set_member_name(b, "kicked");
    json_builder_add_int_value(b, n);
    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, reason);
    json_builder_end_object(b);
    k->result = json_builder_get_root(b);
    return 0;
}

int vg_admin_cmd_screenshot(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree uint8_t *png = NULL;
    g_autofree char *base64 = NULL;
    const char *vm;
    char vm_name[VG_VM_NAME_MAX + 1];
    size_t len = 0;
    int r;

    if ((r = arg_vm(k, &vm)) < 0 || (r = vg_admin_vm_resolve(k, &vm, false, vm_name)) < 0)
        return r;
    if (!c->live || !c->live->screenshot)
        return vg_admin_unsupported(k, "taking screenshots");
    if ((r = c->live->screenshot(c->live_opaque, vm, &png, &len)) < 0)
        return vg_admin_live_failed(k, r, vm);
    if (!png || len == 0)
        return vg_admin_fail(k, -EIO, "VM '%s': the screenshot is empty", vm);
    if (len > VG_CONTROL_PNG_MAX)
        return vg_admin_fail(k, -EFBIG, "VM '%s': the screenshot is larger than %d MiB", vm,
                             VG_CONTROL_PNG_MAX / (1024 * 1024));
    base64 = g_base64_encode(png, len);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "vm");
    json_builder_add_string_value(b, vm);
    json_builder_set_member_name(b, "size");
    json_builder_add_int_value(b, (int64_t)len);
    json_builder_set_member_name(b, "png");
    json_builder_add_string_value(b, base64);
    json_builder_end_object(b);
    k->result = json_builder_get_root(b);
    return 0;
}

int vg_admin_cmd_send_text(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(JsonBuilder) b = json_builder_new();
    const char *vm, *text;
    char vm_name[VG_VM_NAME_MAX + 1];
    uint32_t bad = 0;
    int r;

    if ((r = arg_vm(k, &vm)) < 0 || (r = vg_admin_vm_resolve(k, &vm, false, vm_name)) < 0)
        return r;
    arg_string(k, "text", &text);
    if (!*text || strlen(text) > SEND_TEXT_MAX || !g_utf8_validate(text, -1, NULL))
        return vg_admin_fail(k, -EINVAL, "the text must be 1 to %d bytes of UTF-8", SEND_TEXT_MAX);
    if (vg_type_check(text, &bad) < 0)
        return vg_admin_fail(k, -EINVAL, "U+%04X cannot be typed on a US keyboard layout",
                             (unsigned)bad);
    if (!c->live || !c->live->send_text)
        return vg_admin_unsupported(k, "typing text");
    if ((r = c->live->send_text(c->live_opaque, vm, text)) < 0)
        return vg_admin_live_failed(k, r, vm);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "vm");
    json_builder_add_string_value(b, vm);
    json_builder_set_member_name(b, "characters");
    json_builder_add_int_value(b, g_utf8_strlen(text, -1));
    json_builder_end_object(b);
    k->result = json_builder_get_root(b);
    return 0;
}

int vg_admin_cmd_send_combo(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(JsonBuilder) b = json_builder_new();
    const char *vm, *combo;
    char vm_name[VG_VM_NAME_MAX + 1];
    uint16_t qnums[COMBO_MAX];
    int n, r;

    if ((r = arg_vm(k, &vm)) < 0 || (r = vg_admin_vm_resolve(k, &vm, false, vm_name)) < 0)
        return r;
    arg_string(k, "combo", &combo);
    n = vg_keymap_parse_combo(combo, qnums, COMBO_MAX);
    if (n < 0)
        return vg_admin_fail(k, -EINVAL, "invalid key combination '%s'", combo);
    if (!c->live || !c->live->send_combo)
        return vg_admin_unsupported(k, "sending key combinations");
    if ((r = c->live->send_combo(c->live_opaque, vm, qnums, n)) < 0)
        return vg_admin_live_failed(k, r, vm);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "vm");
    json_builder_add_string_value(b, vm);
    json_builder_set_member_name(b, "combo");
    json_builder_add_string_value(b, combo);
    json_builder_set_member_name(b, "keys");
    json_builder_add_int_value(b, n);
    json_builder_end_object(b);
    k->result = json_builder_get_root(b);
    return 0;
}
