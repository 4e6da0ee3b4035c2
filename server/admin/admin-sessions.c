/*
 * vmgate — the admin commands on live sessions and consoles: session.list,
 * session.kick, screenshot, send.text, send.combo. session.list and
 * session.kick reach the other instances sharing the store too: their
 * viewers from the store's table, their kicks over its bus (cluster.h).
 *
 * Threading: see admin-commands-priv.h.
 */
#include "admin-commands-priv.h"

#include <errno.h>
#include <string.h>

#include "cluster.h"
#include "keymap.h"
#include "type-text.h"

/* Longest text send-keys types at once, in bytes. */
#define SEND_TEXT_MAX 16384
/* Longest kick reason, in bytes: it is shown to the user in a dialog. */
#define REASON_MAX VG_CLUSTER_REASON_MAX
/* Keys in a combo at most. */
#define COMBO_MAX 8

static void add_viewer(JsonBuilder *b, const char *id, const char *user, const char *protocol,
                       vg_role role, const char *address, int64_t since)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, id);
    json_builder_set_member_name(b, "user");
    json_builder_add_string_value(b, user);
    json_builder_set_member_name(b, "protocol");
    json_builder_add_string_value(b, protocol);
    json_builder_set_member_name(b, "role");
    json_builder_add_string_value(b, vg_role_name(role));
    json_builder_set_member_name(b, "address");
    json_builder_add_string_value(b, address);
    json_builder_set_member_name(b, "since");
    json_builder_add_int_value(b, since);
    json_builder_end_object(b);
}

static void begin_session(JsonBuilder *b, const char *id, const char *vm, const char *instance)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, id);
    json_builder_set_member_name(b, "vm");
    json_builder_add_string_value(b, vm);
    json_builder_set_member_name(b, "instance");
    if (instance)
        json_builder_add_string_value(b, instance);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "viewers");
    json_builder_begin_array(b);
}

static void end_session(JsonBuilder *b)
{
    json_builder_end_array(b);
    json_builder_end_object(b);
}

/* The other instances' viewers, as their heartbeats last wrote them (at most a beat old); those
 * of an instance that is down or stopped are left out: nothing says they are still there. */
static void add_other_instances(const struct vg_admin_ctx *c, JsonBuilder *b)
{
    g_autoptr(GPtrArray) viewers = NULL;
    const vg_store_viewer *open = NULL;

    if (!c->instance)
        return;
    /* Left out when the store cannot answer (it said why in the log): this instance's own
     * viewers are still worth seeing. */
    if (vg_store_viewer_list(c->store, VG_STORE_INSTANCE_DOWN_MS, &viewers) < 0)
        return;
    for (guint i = 0; i < viewers->len; i++) {
        const vg_store_viewer *v = g_ptr_array_index(viewers, i);
        if (strcmp(v->instance, c->instance) == 0 || !v->instance_up)
            continue;
        /* The list is sorted by instance, VM and session: a session's viewers are together. */
        if (!open || strcmp(open->instance, v->instance) != 0 ||
            strcmp(open->session, v->session) != 0) {
            if (open)
                end_session(b);
            begin_session(b, v->session, v->vm, v->instance);
            open = v;
        }
        add_viewer(b, v->id, v->user, v->protocol, v->role, v->address, v->since);
    }
    if (open)
        end_session(b);
}

int vg_admin_cmd_session_list(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) list = NULL;

    if (!c->sessions)
        return vg_admin_unsupported(k, "listing sessions");
    list = vg_sessions_list(c->sessions);
    json_builder_begin_array(b);
    for (guint i = 0; i < list->len; i++) {
        vg_session_info *s = g_ptr_array_index(list, i);
        begin_session(b, s->id, s->vm, c->instance);
        for (guint j = 0; j < s->viewers->len; j++) {
            vg_viewer_info *v = &g_array_index(s->viewers, vg_viewer_info, j);
            add_viewer(b, v->id, v->user, v->protocol, v->role, v->address, v->since);
        }
        end_session(b);
    }
    add_other_instances(c, b);
    json_builder_end_array(b);
    k->result = json_builder_get_root(b);
    return 0;
}

static JsonNode *kick_result(const char *id, const char *instance, int n, const char *reason,
                             bool sent)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, id);
    json_builder_set_member_name(b, "instance");
    if (instance)
        json_builder_add_string_value(b, instance);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "kicked");
    json_builder_add_int_value(b, n);
    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, reason);
    json_builder_set_member_name(b, "sent");
    json_builder_add_boolean_value(b, sent);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/*
 * Kick INSTANCE/ID, a session or viewer of another instance: checked against the store (the
 * instance is up, the table lists the id), then sent on the bus; that instance kicks it when
 * the event arrives (within a second). @return 0 or a negative errno (failed).
 */
static int kick_elsewhere(vg_admin_call *k, const char *full, const char *instance, const char *id,
                          const char *reason)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(GPtrArray) instances = NULL, viewers = NULL;
    const vg_store_instance *target = NULL;
    int n = 0, r;

    if (!vg_name_valid(instance))
        return vg_admin_fail(k, -EINVAL, "invalid instance name in '%s': use %s", full, NAME_RULE);
    if (!c->instance)
        return vg_admin_fail(k, -ENOENT,
                             "unknown instance '%s': this vmgated is not one of "
                             "several sharing a store",
                             instance);
    if ((r = vg_store_instance_list(c->store, VG_STORE_INSTANCE_DOWN_MS, &instances)) < 0)
        return vg_admin_store_failed(k, r);
    for (guint i = 0; i < instances->len && !target; i++) {
        const vg_store_instance *in = g_ptr_array_index(instances, i);
        if (strcmp(in->name, instance) == 0)
            target = in;
    }
    if (!target)
        return vg_admin_fail(k, -ENOENT, "unknown instance '%s'", instance);
    if (!target->up)
        return vg_admin_fail(k, -EHOSTDOWN, "instance '%s' is %s: its viewers are not live",
                             instance, target->stopped ? "stopped" : "down");
    if ((r = vg_store_viewer_list(c->store, VG_STORE_INSTANCE_DOWN_MS, &viewers)) < 0)
        return vg_admin_store_failed(k, r);
    for (guint i = 0; i < viewers->len; i++) {
        const vg_store_viewer *v = g_ptr_array_index(viewers, i);
        if (strcmp(v->instance, instance) == 0 &&
            (strcmp(v->id, id) == 0 || strcmp(v->session, id) == 0))
            n++;
    }
    if (n == 0)
        return vg_admin_fail(k, -ENOENT, "unknown session or viewer '%s'", full);
    r = vg_cluster_send_kick(c->store, c->instance, k->user, instance, id, reason);
    if (r == -ENOTSUP)
        return vg_admin_fail(k, r,
                             "the store has no event bus to reach instance '%s' "
                             "(PostgreSQL's is needed)",
                             instance);
    if (r < 0)
        return vg_admin_fail(k, r, "cannot send the kick to instance '%s': %s", instance,
                             r == -ECONNREFUSED ? "the store's database cannot be reached"
                                                : g_strerror(-r));
    if (c->audit)
        vg_audit_kick(c->audit, k->user, full, reason, (unsigned)n);
    k->result = kick_result(full, instance, n, reason, true);
    return 0;
}

int vg_admin_cmd_session_kick(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autofree char *instance = NULL;
    const char *id, *reason, *slash;
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
    /* INSTANCE/ID: a session or viewer of that instance (instance names hold no '/'). */
    slash = strchr(id, '/');
    if (slash) {
        instance = g_strndup(id, (gsize)(slash - id));
        if (!c->instance || strcmp(instance, c->instance) != 0)
            return kick_elsewhere(k, id, instance, slash + 1, reason);
    }
    n = vg_sessions_kick(c->sessions, slash ? slash + 1 : id, reason);
    if (n == -ENOENT)
        return vg_admin_fail(k, n, "unknown session or viewer '%s'", id);
    if (n < 0)
        return vg_admin_fail(k, n, "cannot kick '%s': %s", id, g_strerror(-n));
    if (c->audit)
        vg_audit_kick(c->audit, k->user, id, reason, (unsigned)n);
    k->result = kick_result(id, c->instance, n, reason, false);
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
