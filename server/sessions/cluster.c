/*
 * vmgate — the events between instances (see cluster.h).
 */
#include "cluster.h"

#include <errno.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "log.h"

#define TAG "cluster"

/* Longest admin name carried (a Unix user name, or what the admin socket calls its peer). */
#define BY_MAX 64
/* Longest viewer or session id ("v" and a 64-bit number). */
#define ID_MAX 23

#define DEFAULT_REASON "disconnected by an administrator"
#define REVOKED_REASON "your access was removed"

int vg_cluster_listen(vg_store *store)
{
    /* Both, even when the first fails: a channel is listened to on the next connection. */
    const char *const channels[] = {VG_CLUSTER_KICK_CHANNEL, VG_CLUSTER_REVOKE_CHANNEL,
                                    VG_CLUSTER_ROLE_CHANNEL};
    int r = 0;

    for (size_t i = 0; i < G_N_ELEMENTS(channels); i++) {
        int ri = vg_store_listen(store, channels[i]);
        if (r == 0)
            r = ri;
    }
    return r;
}

static void add_member(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

static bool reason_ok(const char *reason)
{
    return reason && strnlen(reason, VG_CLUSTER_REASON_MAX + 1) <= VG_CLUSTER_REASON_MAX &&
           g_utf8_validate(reason, -1, NULL);
}

static bool by_ok(const char *by)
{
    return by && *by && strnlen(by, BY_MAX + 1) <= BY_MAX && g_utf8_validate(by, -1, NULL);
}

static bool id_ok(const char *id)
{
    size_t len;

    if (!id || (id[0] != 's' && id[0] != 'v'))
        return false;
    len = strnlen(id, ID_MAX + 1);
    if (len < 2 || len > ID_MAX)
        return false;
    for (size_t i = 1; i < len; i++)
        if (!g_ascii_isdigit(id[i]))
            return false;
    return true;
}

/* Send the object @b built on @channel. */
static int send_event(vg_store *store, const char *channel, JsonBuilder *b)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *payload = NULL;

    json_generator_set_root(gen, root);
    payload = json_generator_to_data(gen, NULL);
    return vg_store_notify(store, channel, payload);
}

int vg_cluster_send_kick(vg_store *store, const char *from, const char *by, const char *instance,
                         const char *id, const char *reason)
{
    g_autoptr(JsonBuilder) b = NULL;

    if (!store || !vg_name_valid(from) || !by_ok(by) || !vg_name_valid(instance) || !id_ok(id) ||
        !reason_ok(reason))
        return -EINVAL;
    b = json_builder_new();
    json_builder_begin_object(b);
    add_member(b, "from", from);
    add_member(b, "by", by);
    add_member(b, "instance", instance);
    add_member(b, "id", id);
    add_member(b, "reason", reason);
    json_builder_end_object(b);
    return send_event(store, VG_CLUSTER_KICK_CHANNEL, b);
}

int vg_cluster_send_revoke(vg_store *store, const char *from, const char *by, const char *user,
                           const char *vm, const char *reason)
{
    g_autoptr(JsonBuilder) b = NULL;

    if (!store || !vg_name_valid(from) || !by_ok(by) || (user && !vg_name_valid(user)) ||
        (vm && !vg_vm_name_valid(vm)) || (!user && !vm) || !reason_ok(reason))
        return -EINVAL;
    b = json_builder_new();
    json_builder_begin_object(b);
    add_member(b, "from", from);
    add_member(b, "by", by);
    add_member(b, "user", user);
    add_member(b, "vm", vm);
    add_member(b, "reason", reason);
    json_builder_end_object(b);
    return send_event(store, VG_CLUSTER_REVOKE_CHANNEL, b);
}

int vg_cluster_send_role(vg_store *store, const char *from, const char *by, const char *user,
                         const char *vm, vg_role role)
{
    g_autoptr(JsonBuilder) b = NULL;

    if (!store || !vg_name_valid(from) || !by_ok(by) || !vg_name_valid(user) ||
        !vg_vm_name_valid(vm) || (unsigned)role > VG_ROLE_OBSERVER)
        return -EINVAL;
    b = json_builder_new();
    json_builder_begin_object(b);
    add_member(b, "from", from);
    add_member(b, "by", by);
    add_member(b, "user", user);
    add_member(b, "vm", vm);
    add_member(b, "role", vg_role_name(role));
    json_builder_end_object(b);
    return send_event(store, VG_CLUSTER_ROLE_CHANNEL, b);
}

/* Remembers each (user, VM) answer of one recheck: a user with many viewers is asked once. */
static bool may_reach(vg_store *store, GHashTable *seen, const char *user, const char *vm)
{
    g_autofree char *key = g_strdup_printf("%s/%s", user, vm);
    gpointer known;
    bool yes = true;

    if (g_hash_table_lookup_extended(seen, key, NULL, &known))
        return GPOINTER_TO_INT(known);
    /* When the store cannot say, the viewer stays: better no one ended than the wrong one. */
    if (vg_store_user_may_reach(store, user, vm, &yes) < 0)
        yes = true;
    g_hash_table_insert(seen, g_steal_pointer(&key), GINT_TO_POINTER(yes));
    return yes;
}

unsigned vg_cluster_recheck(vg_store *store, vg_sessions *sessions, vg_audit *audit, const char *by,
                            const char *user, const char *vm, const char *reason)
{
    g_autoptr(GPtrArray) list = NULL;
    g_autoptr(GHashTable) seen = NULL;
    unsigned ended = 0;

    if (!store || !sessions)
        return 0;
    if (!reason || !*reason)
        reason = REVOKED_REASON;
    seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    list = vg_sessions_list(sessions);
    for (guint i = 0; i < list->len; i++) {
        vg_session_info *s = g_ptr_array_index(list, i);
        if (vm && strcmp(s->vm, vm) != 0)
            continue;
        for (guint j = 0; j < s->viewers->len; j++) {
            vg_viewer_info *v = &g_array_index(s->viewers, vg_viewer_info, j);
            if ((user && strcmp(v->user, user) != 0) || may_reach(store, seen, v->user, s->vm))
                continue;
            if (vg_sessions_kick(sessions, v->id, reason) <= 0)
                continue;
            ended++;
            vg_notice(TAG, "viewer %s (user %s, VM %s) ended: %s", v->id, v->user, s->vm, reason);
            if (audit && by)
                vg_audit_kick(audit, by, v->id, reason, 1);
        }
    }
    return ended;
}

/* A string member, or NULL when it is missing, null or not a string. */
static const char *member(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    if (!n || JSON_NODE_TYPE(n) != JSON_NODE_VALUE || json_node_get_value_type(n) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(n);
}

static void handle_kick(vg_sessions *sessions, vg_audit *audit, const char *self, JsonObject *o,
                        const char *by)
{
    const char *instance = member(o, "instance"), *id = member(o, "id");
    const char *reason = member(o, "reason");
    int n;

    if (!instance || strcmp(instance, self) != 0)
        return; /* another instance's */
    if (!id_ok(id)) {
        vg_warning(TAG, "a kick event from %s names no valid viewer or session id: dropped", by);
        return;
    }
    if (!reason_ok(reason) || !*reason)
        reason = DEFAULT_REASON;
    n = vg_sessions_kick(sessions, id, reason);
    if (n == -ENOENT) {
        vg_info(TAG, "kick of %s asked by %s: no such session or viewer (it left)", id, by);
        return;
    }
    if (n < 0)
        return;
    vg_notice(TAG, "kicked %s (%d viewer%s) as %s asked: %s", id, n, n == 1 ? "" : "s", by, reason);
    if (audit)
        vg_audit_kick(audit, by, id, reason, (unsigned)n);
}

static void handle_revoke(vg_store *store, vg_sessions *sessions, vg_audit *audit, JsonObject *o,
                          const char *by)
{
    const char *user = member(o, "user"), *vm = member(o, "vm"), *reason = member(o, "reason");

    if ((user && !vg_name_valid(user)) || (vm && !vg_vm_name_valid(vm)) || (!user && !vm)) {
        vg_warning(TAG, "a revocation event from %s names no valid user or VM: dropped", by);
        return;
    }
    if (!reason_ok(reason) || !*reason)
        reason = REVOKED_REASON;
    vg_cluster_recheck(store, sessions, audit, by, user, vm, reason);
}

static void handle_role(vg_sessions *sessions, JsonObject *o, const char *by)
{
    const char *user = member(o, "user"), *vm = member(o, "vm"), *name = member(o, "role");
    vg_role role;
    unsigned n;

    if (!vg_name_valid(user) || !vg_vm_name_valid(vm) || !name || vg_role_parse(name, &role) < 0) {
        vg_warning(TAG, "a role event from %s names no valid user, VM or role: dropped", by);
        return;
    }
    n = vg_sessions_set_role(sessions, vm, user, role);
    if (n > 0)
        vg_notice(TAG, "%u viewer%s of user %s on VM %s now %s, as %s changed it", n,
                  n == 1 ? "" : "s", user, vm, vg_role_name(role), by);
}

void vg_cluster_handle(vg_store *store, vg_sessions *sessions, vg_audit *audit, const char *self,
                       const char *channel, const char *payload)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autofree char *by = NULL;
    const char *from, *admin;
    JsonNode *root;
    JsonObject *o;

    if (!store || !sessions || !self)
        return;
    if (!channel) {
        /* Revocations sent while the bus was away are lost: check every viewer instead. */
        unsigned n =
            vg_cluster_recheck(store, sessions, audit, "vmgated", NULL, NULL, REVOKED_REASON);
        vg_info(TAG, "the event bus is back: live viewers checked against the store (%u ended)", n);
        return;
    }
    if (!payload || strnlen(payload, VG_STORE_NOTIFY_PAYLOAD_MAX + 1) > VG_STORE_NOTIFY_PAYLOAD_MAX)
        return;
    parser = json_parser_new();
    if (!json_parser_load_from_data(parser, payload, -1, NULL) ||
        !(root = json_parser_get_root(parser)) || !JSON_NODE_HOLDS_OBJECT(root)) {
        vg_warning(TAG, "an event on %s is not a JSON object: dropped", channel);
        return;
    }
    o = json_node_get_object(root);
    from = member(o, "from");
    admin = member(o, "by");
    if (!vg_name_valid(from) || !by_ok(admin)) {
        vg_warning(TAG, "an event on %s names no valid sender: dropped", channel);
        return;
    }
    by = g_strdup_printf("%s@%s", admin, from);
    if (strcmp(channel, VG_CLUSTER_KICK_CHANNEL) == 0)
        handle_kick(sessions, audit, self, o, by);
    else if (strcmp(from, self) == 0)
        return; /* the sender ended or changed its own viewers itself */
    else if (strcmp(channel, VG_CLUSTER_REVOKE_CHANNEL) == 0)
        handle_revoke(store, sessions, audit, o, by);
    else if (strcmp(channel, VG_CLUSTER_ROLE_CHANNEL) == 0)
        handle_role(sessions, o, by);
}
