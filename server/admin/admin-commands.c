/*
 * vmgate — the commands of the admin socket (see control.h for their names
 * and arguments, docs/control-protocol.md for their results). Each checks
 * its arguments, acts on the store, the sessions or the daemon's live ops,
 * records what it changed in the audit log, and answers with a result or a
 * one-line message that names what was wrong.
 *
 * Threading: commands run on their connection's thread; several may run at
 * once. The store, the sessions and the audit log serialise themselves;
 * the live ops must be thread-safe (admin.h).
 */
#include "admin-priv.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "auth.h"
#include "control-commands.h"
#include "control.h"
#include "keymap.h"
#include "log.h"
#include "type-text.h"

#define TAG "admin"

/* Longest text send-keys types at once, in bytes. */
#define SEND_TEXT_MAX 16384
/* Longest kick reason, in bytes: it is shown to the user in a dialog. */
#define REASON_MAX 256
/* Keys in a combo at most. */
#define COMBO_MAX 8
/* The audit log keeps at least what audit may ask for. */
G_STATIC_ASSERT(VG_AUDIT_TAIL_MAX >= VG_CONTROL_AUDIT_LINES_MAX);

#define NAME_RULE "1 to 64 characters of A-Z a-z 0-9 . _ @ -, not starting with '-'"

static const struct vg_admin_ctx *ctx(vg_admin_call *k)
{
    return vg_admin_ctx(k->admin);
}

/* ---- arguments ---- */

/* The string argument @key: the table checked it (required ones are there). */
static int arg_string(vg_admin_call *k, const char *key, const char **out)
{
    *out = vg_control_arg_string(k->args, key);
    return 0;
}

/* A required user, VM or pool name (@what says which, for the message). */
static int arg_name(vg_admin_call *k, const char *key, const char *what, const char **out)
{
    int r;

    if ((r = arg_string(k, key, out)) < 0)
        return r;
    if (!vg_name_valid(*out))
        return vg_admin_fail(k, -EINVAL, "invalid %s name '%s': use %s", what, *out, NAME_RULE);
    return 0;
}

static bool arg_bool(vg_admin_call *k, const char *key, bool *given)
{
    return vg_control_arg_bool(k->spec, k->args, key, given);
}

static int64_t arg_int(vg_admin_call *k, const char *key, bool *given)
{
    return vg_control_arg_int(k->spec, k->args, key, given);
}

/*
 * A VM named for a live operation. Looser than a store name: the
 * hypervisor's VM names may hold characters the store does not allow.
 */
static int arg_vm(vg_admin_call *k, const char **out)
{
    int r;

    if ((r = arg_string(k, "vm", out)) < 0)
        return r;
    for (const char *p = *out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return vg_admin_fail(k, -EINVAL, "invalid VM name");
    if (!**out || strlen(*out) >= sizeof(((vg_admin_vm *)NULL)->name) ||
        !g_utf8_validate(*out, -1, NULL))
        return vg_admin_fail(k, -EINVAL, "invalid VM name");
    return 0;
}

/* ---- common failures ---- */

static int store_failed(vg_admin_call *k, int r)
{
    if (r == -EIO)
        return vg_admin_fail(k, r, "the store failed (see the vmgated log)");
    return vg_admin_fail(k, r, "%s", g_strerror(-r));
}

static int user_exists(vg_admin_call *k, const char *name)
{
    vg_store_user *u = NULL;
    int r = vg_store_user_get(ctx(k)->store, name, &u);

    vg_store_user_free(u);
    if (r == -ENOENT)
        return vg_admin_fail(k, r, "unknown user '%s'", name);
    return r < 0 ? store_failed(k, r) : 0;
}

static int pool_exists(vg_admin_call *k, const char *name)
{
    vg_store_pool *p = NULL;
    int r = vg_store_pool_get(ctx(k)->store, name, &p);

    vg_store_pool_free(p);
    if (r == -ENOENT)
        return vg_admin_fail(k, r, "unknown pool '%s'", name);
    return r < 0 ? store_failed(k, r) : 0;
}

static int live_failed(vg_admin_call *k, int r, const char *vm)
{
    switch (r) {
    case -ENOENT:
        return vg_admin_fail(k, r, "unknown VM '%s'", vm);
    case -ENODEV:
        return vg_admin_fail(k, r, "VM '%s' is not running or has no console", vm);
    case -ENOTCONN:
        return vg_admin_fail(k, r, "the hypervisor is not reachable");
    case -ETIMEDOUT:
        return vg_admin_fail(k, r, "VM '%s' did not answer in time", vm);
    default:
        return vg_admin_fail(k, r, "VM '%s': %s", vm, g_strerror(-r));
    }
}

static int unsupported(vg_admin_call *k, const char *what)
{
    return vg_admin_fail(k, -ENOTSUP, "%s is not supported by this vmgated", what);
}

/*
 * Whether @vm is a VM the hypervisor knows, so that a typo is caught when
 * it is assigned. When the daemon cannot list VMs (no live ops, hypervisor
 * down) the name is taken on trust: the store may name VMs that do not
 * exist yet.
 */
static int vm_known(vg_admin_call *k, const char *vm)
{
    const struct vg_admin_ctx *c = ctx(k);
    GArray *vms = NULL;
    bool found = false;
    int r;

    if (!c->live || !c->live->vm_list)
        return 0;
    r = c->live->vm_list(c->live_opaque, &vms);
    if (r < 0) {
        vg_info(TAG, "cannot list VMs to check '%s' (%s); taking it on trust", vm, g_strerror(-r));
        return 0;
    }
    for (guint i = 0; vms && i < vms->len && !found; i++)
        found = strcmp(g_array_index(vms, vg_admin_vm, i).name, vm) == 0;
    if (vms)
        g_array_unref(vms);
    return found ? 0 : vg_admin_fail(k, -ENOENT, "unknown VM '%s'", vm);
}

/* ---- users ---- */

/* Hash @password (and its NT hash when @nla). */
static int make_hashes(vg_admin_call *k, const char *password, bool nla, char **hash,
                       char nt[VG_NT_HASH_LEN + 1])
{
    int r;

    if (!vg_auth_password_valid(password))
        return vg_admin_fail(k, -EINVAL, "invalid password: it must be 1 to %d bytes of UTF-8",
                             VG_PASSWORD_MAX);
    if ((r = vg_auth_hash_password(password, hash)) < 0)
        return vg_admin_fail(k, r, "cannot hash the password: %s", g_strerror(-r));
    if (nla && (r = vg_auth_nt_hash(password, nt)) < 0) {
        vg_auth_secret_free(*hash);
        *hash = NULL;
        if (r == -ENOTSUP)
            return vg_admin_fail(k, r,
                                 "cannot compute the NT hash for NLA: OpenSSL's legacy "
                                 "provider is not available");
        return vg_admin_fail(k, r, "cannot compute the NT hash: %s", g_strerror(-r));
    }
    return 0;
}

static JsonNode *user_result(const char *name, bool nla)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "nla");
    json_builder_add_boolean_value(b, nla);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static int cmd_user_add(vg_admin_call *k)
{
    vg_store_user *existing = NULL;
    const char *name, *password;
    char *hash = NULL;
    char nt[VG_NT_HASH_LEN + 1] = "";
    bool nla;
    int r;

    if ((r = arg_name(k, "name", "user", &name)) < 0)
        return r;
    arg_string(k, "password", &password);
    nla = arg_bool(k, "nla", NULL);
    /* Checked first only to spare a slow hash; the store's answer is what counts. */
    if ((r = vg_store_user_get(ctx(k)->store, name, &existing)) == 0)
        r = -EEXIST;
    vg_store_user_free(existing);
    if (r == -EEXIST)
        return vg_admin_fail(k, r, "user '%s' already exists", name);
    if (r != -ENOENT)
        return store_failed(k, r);

    if ((r = make_hashes(k, password, nla, &hash, nt)) < 0)
        return r;
    r = vg_store_user_add(ctx(k)->store, name, hash, nla ? nt : NULL);
    vg_auth_secret_free(hash);
    explicit_bzero(nt, sizeof(nt));
    if (r == -EEXIST)
        return vg_admin_fail(k, r, "user '%s' already exists", name);
    if (r < 0)
        return store_failed(k, r);
    k->result = user_result(name, nla);
    return 0;
}

static int cmd_user_passwd(vg_admin_call *k)
{
    const char *name, *password;
    vg_store_user *u = NULL;
    char *hash = NULL;
    char nt[VG_NT_HASH_LEN + 1] = "";
    bool nla, given;
    int r;

    if ((r = arg_name(k, "name", "user", &name)) < 0)
        return r;
    arg_string(k, "password", &password);
    nla = arg_bool(k, "nla", &given);
    r = vg_store_user_get(ctx(k)->store, name, &u);
    if (r == -ENOENT)
        return vg_admin_fail(k, r, "unknown user '%s'", name);
    if (r < 0)
        return store_failed(k, r);
    if (!given)
        nla = u->nla; /* keep NLA as it was */
    vg_store_user_free(u);

    if ((r = make_hashes(k, password, nla, &hash, nt)) < 0)
        return r;
    r = vg_store_user_set_password(ctx(k)->store, name, hash, nla ? nt : NULL);
    vg_auth_secret_free(hash);
    explicit_bzero(nt, sizeof(nt));
    if (r == -ENOENT)
        return vg_admin_fail(k, r, "unknown user '%s'", name);
    if (r < 0)
        return store_failed(k, r);
    k->result = user_result(name, nla);
    return 0;
}

/* Kick every viewer of @user, with @reason; @return how many. */
/* End @user's live viewers (of VM @vm only, unless NULL). @return how many. */
static unsigned kick_user_on(vg_admin_call *k, const char *user, const char *vm, const char *reason)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(GPtrArray) list = NULL;
    unsigned kicked = 0;

    if (!c->sessions)
        return 0;
    list = vg_sessions_list(c->sessions);
    for (guint i = 0; i < list->len; i++) {
        vg_session_info *s = g_ptr_array_index(list, i);
        if (vm && strcmp(s->vm, vm) != 0)
            continue;
        for (guint j = 0; j < s->viewers->len; j++) {
            vg_viewer_info *v = &g_array_index(s->viewers, vg_viewer_info, j);
            if (strcmp(v->user, user) != 0 || vg_sessions_kick(c->sessions, v->id, reason) <= 0)
                continue;
            kicked++;
            if (c->audit)
                vg_audit_kick(c->audit, k->user, v->id, reason, 1);
        }
    }
    return kicked;
}

static unsigned kick_user(vg_admin_call *k, const char *user, const char *reason)
{
    return kick_user_on(k, user, NULL, reason);
}

static int set_disabled(vg_admin_call *k, bool disabled)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    const char *name;
    unsigned kicked = 0;
    int r;

    if ((r = arg_name(k, "name", "user", &name)) < 0)
        return r;
    r = vg_store_user_set_disabled(ctx(k)->store, name, disabled);
    if (r == -ENOENT)
        return vg_admin_fail(k, r, "unknown user '%s'", name);
    if (r < 0)
        return store_failed(k, r);
    if (disabled)
        kicked = kick_user(k, name, "your account was disabled");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "disabled");
    json_builder_add_boolean_value(b, disabled);
    json_builder_set_member_name(b, "kicked");
    json_builder_add_int_value(b, kicked);
    json_builder_end_object(b);
    k->result = json_builder_get_root(b);
    return 0;
}

static int cmd_user_disable(vg_admin_call *k)
{
    return set_disabled(k, true);
}

static int cmd_user_enable(vg_admin_call *k)
{
    return set_disabled(k, false);
}

static int cmd_user_del(vg_admin_call *k)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    const char *name;
    unsigned kicked;
    int r;

    if ((r = arg_name(k, "name", "user", &name)) < 0)
        return r;
    r = vg_store_user_del(ctx(k)->store, name);
    if (r == -ENOENT)
        return vg_admin_fail(k, r, "unknown user '%s'", name);
    if (r < 0)
        return store_failed(k, r);
    kicked = kick_user(k, name, "your account was deleted");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "kicked");
    json_builder_add_int_value(b, kicked);
    json_builder_end_object(b);
    k->result = json_builder_get_root(b);
    return 0;
}

static int cmd_user_list(vg_admin_call *k)
{
    vg_store *store = ctx(k)->store;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) users = NULL;
    int r;

    if ((r = vg_store_user_list(store, &users)) < 0)
        return store_failed(k, r);
    json_builder_begin_array(b);
    for (guint i = 0; i < users->len; i++) {
        vg_store_user *u = g_ptr_array_index(users, i);
        g_autoptr(GPtrArray) assignments = NULL, pools = NULL;

        /* A user deleted meanwhile simply has none. */
        vg_store_assignments_for_user(store, u->name, &assignments);
        vg_store_entitlements_for_user(store, u->name, &pools);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, u->name);
        json_builder_set_member_name(b, "nla");
        json_builder_add_boolean_value(b, u->nla);
        json_builder_set_member_name(b, "disabled");
        json_builder_add_boolean_value(b, u->disabled);
        json_builder_set_member_name(b, "created");
        json_builder_add_int_value(b, u->created);
        json_builder_set_member_name(b, "updated");
        json_builder_add_int_value(b, u->updated);
        json_builder_set_member_name(b, "assignments");
        json_builder_begin_array(b);
        for (guint j = 0; assignments && j < assignments->len; j++) {
            vg_store_assignment *a = g_ptr_array_index(assignments, j);
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "vm");
            json_builder_add_string_value(b, a->vm);
            json_builder_set_member_name(b, "role");
            json_builder_add_string_value(b, vg_role_name(a->role));
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_set_member_name(b, "pools");
        json_builder_begin_array(b);
        for (guint j = 0; pools && j < pools->len; j++)
            json_builder_add_string_value(b, g_ptr_array_index(pools, j));
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    k->result = json_builder_get_root(b);
    return 0;
}

/* ---- VMs ---- */

/* The pool each VM belongs to: VM name → pool name (both borrowed from @pools). */
static GHashTable *pool_of_vm(GPtrArray *pools)
{
    GHashTable *h = g_hash_table_new(g_str_hash, g_str_equal);

    for (guint i = 0; pools && i < pools->len; i++) {
        vg_store_pool *p = g_ptr_array_index(pools, i);
        for (guint j = 0; j < p->members->len; j++) {
            vg_store_pool_member *m = g_ptr_array_index(p->members, j);
            g_hash_table_insert(h, m->vm, p->name);
        }
    }
    return h;
}

static int cmd_vm_list(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) pools = NULL;
    g_autoptr(GHashTable) in_pool = NULL;
    GArray *vms = NULL;
    int r;

    if (!c->live || !c->live->vm_list)
        return unsupported(k, "listing VMs");
    if ((r = c->live->vm_list(c->live_opaque, &vms)) < 0) {
        if (r == -ENOTCONN)
            return vg_admin_fail(k, r, "the hypervisor is not reachable");
        return vg_admin_fail(k, r, "cannot list VMs: %s", g_strerror(-r));
    }
    if (vg_store_pool_list(c->store, &pools) < 0)
        pools = NULL;
    in_pool = pool_of_vm(pools);

    json_builder_begin_array(b);
    for (guint i = 0; vms && i < vms->len; i++) {
        vg_admin_vm *vm = &g_array_index(vms, vg_admin_vm, i);
        const char *pool;

        vm->name[sizeof(vm->name) - 1] = '\0';
        vm->uuid[sizeof(vm->uuid) - 1] = '\0';
        pool = g_hash_table_lookup(in_pool, vm->name);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, vm->name);
        json_builder_set_member_name(b, "uuid");
        json_builder_add_string_value(b, vm->uuid);
        json_builder_set_member_name(b, "state");
        json_builder_add_string_value(b, vm->state ? vm->state : "unknown");
        json_builder_set_member_name(b, "viewers");
        json_builder_add_int_value(b, vm->viewers);
        json_builder_set_member_name(b, "pool");
        if (pool)
            json_builder_add_string_value(b, pool);
        else
            json_builder_add_null_value(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    if (vms)
        g_array_unref(vms);
    k->result = json_builder_get_root(b);
    return 0;
}

static int cmd_vm_power(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(JsonBuilder) b = json_builder_new();
    const char *vm, *action;
    int r;

    /* The table allows only the actions the live ops know. */
    if ((r = arg_vm(k, &vm)) < 0 || (r = arg_string(k, "action", &action)) < 0)
        return r;
    if (!c->live || !c->live->power)
        return unsupported(k, "power control");
    r = c->live->power(c->live_opaque, vm, action);
    if (c->audit)
        vg_audit_power(c->audit, k->user, vm, action, r);
    if (r == -ENODEV)
        return vg_admin_fail(k, r, "VM '%s' is not in a state where it can %s", vm, action);
    if (r == -EIO)
        return vg_admin_fail(k, r, "VM '%s': %s failed (see the vmgated log)", vm, action);
    if (r < 0)
        return live_failed(k, r, vm);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "vm");
    json_builder_add_string_value(b, vm);
    json_builder_set_member_name(b, "action");
    json_builder_add_string_value(b, action);
    json_builder_end_object(b);
    k->result = json_builder_get_root(b);
    return 0;
}

/* ---- assignments ---- */

/* @user's role on @vm: 0 and *role set, or -ENOENT. */
static int current_role(vg_admin_call *k, const char *user, const char *vm, vg_role *role)
{
    g_autoptr(GPtrArray) list = NULL;
    int r = vg_store_assignments_for_user(ctx(k)->store, user, &list);

    if (r < 0)
        return r;
    for (guint i = 0; i < list->len; i++) {
        vg_store_assignment *a = g_ptr_array_index(list, i);
        if (strcmp(a->vm, vm) == 0) {
            *role = a->role;
            return 0;
        }
    }
    return -ENOENT;
}

/* Whether @user may still reach @vm: by an assignment, or through a pool
 * they are entitled to that holds it. When the store cannot say, yes (a
 * revocation then ends no one rather than the wrong one). */
static bool user_reaches_vm(vg_admin_call *k, const char *user, const char *vm)
{
    vg_store *store = ctx(k)->store;
    g_autoptr(GPtrArray) names = NULL;
    vg_role role;

    if (current_role(k, user, vm, &role) == 0)
        return true;
    if (vg_store_entitlements_for_user(store, user, &names) < 0)
        return true;
    for (guint i = 0; i < names->len; i++) {
        vg_store_pool *pool = NULL;
        bool holds = false;
        if (vg_store_pool_get(store, g_ptr_array_index(names, i), &pool) < 0)
            continue;
        for (guint j = 0; j < pool->members->len && !holds; j++)
            holds = strcmp(((vg_store_pool_member *)pool->members->pdata[j])->vm, vm) == 0;
        vg_store_pool_free(pool);
        if (holds)
            return true;
    }
    return false;
}

/* After a revocation: end the live viewers of @vm (@user's only, unless
 * NULL) who can no longer reach it, with @reason. */
static void kick_revoked(vg_admin_call *k, const char *user, const char *vm, const char *reason)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(GPtrArray) list = NULL;
    g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func(g_free);

    if (!c->sessions)
        return;
    list = vg_sessions_list(c->sessions);
    for (guint i = 0; i < list->len; i++) {
        vg_session_info *s = g_ptr_array_index(list, i);
        if (strcmp(s->vm, vm) != 0)
            continue;
        for (guint j = 0; j < s->viewers->len; j++) {
            const char *who = g_array_index(s->viewers, vg_viewer_info, j).user;
            if ((!user || strcmp(who, user) == 0) &&
                !g_ptr_array_find_with_equal_func(users, who, g_str_equal, NULL))
                g_ptr_array_add(users, g_strdup(who));
        }
    }
    for (guint i = 0; i < users->len; i++)
        if (!user_reaches_vm(k, g_ptr_array_index(users, i), vm))
            kick_user_on(k, g_ptr_array_index(users, i), vm, reason);
}

static int cmd_assign(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(JsonBuilder) b = json_builder_new();
    const char *user, *vm, *role_name;
    vg_role role = VG_ROLE_OWNER, before = VG_ROLE_OWNER;
    bool had;
    int r;

    if ((r = arg_name(k, "user", "user", &user)) < 0 || (r = arg_name(k, "vm", "VM", &vm)) < 0 ||
        (r = arg_string(k, "role", &role_name)) < 0)
        return r;
    /* The table allows only role names; parsing cannot fail unless the two disagree. */
    if (role_name && vg_role_parse(role_name, &role) < 0)
        return vg_admin_fail(k, -EINVAL, "invalid role '%s'", role_name);
    if ((r = user_exists(k, user)) < 0 || (r = vm_known(k, vm)) < 0)
        return r;
    had = current_role(k, user, vm, &before) == 0;

    r = vg_store_assign(c->store, user, vm, role);
    if (r == -ENOENT)
        return vg_admin_fail(k, r, "unknown user '%s'", user);
    if (r < 0)
        return store_failed(k, r);
    if (c->audit && !had)
        vg_audit_assign(c->audit, k->user, user, vm, role);
    else if (c->audit && before != role)
        vg_audit_role_change(c->audit, k->user, user, vm, before, role);
    /* Live viewers take the new role with their next input event. */
    if (had && before != role && c->sessions)
        vg_sessions_set_role(c->sessions, vm, user, role);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "user");
    json_builder_add_string_value(b, user);
    json_builder_set_member_name(b, "vm");
    json_builder_add_string_value(b, vm);
    json_builder_set_member_name(b, "role");
    json_builder_add_string_value(b, vg_role_name(role));
    json_builder_set_member_name(b, "previous_role");
    if (had)
        json_builder_add_string_value(b, vg_role_name(before));
    else
        json_builder_add_null_value(b);
    json_builder_end_object(b);
    k->result = json_builder_get_root(b);
    return 0;
}

static JsonNode *pair_result(const char *k1, const char *v1, const char *k2, const char *v2)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, k1);
    json_builder_add_string_value(b, v1);
    json_builder_set_member_name(b, k2);
    json_builder_add_string_value(b, v2);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static int cmd_unassign(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    const char *user, *vm;
    int r;

    if ((r = arg_name(k, "user", "user", &user)) < 0 || (r = arg_name(k, "vm", "VM", &vm)) < 0)
        return r;
    if ((r = user_exists(k, user)) < 0)
        return r;
    r = vg_store_unassign(c->store, user, vm);
    if (r == -ENOENT)
        return vg_admin_fail(k, r, "user '%s' is not assigned to VM '%s'", user, vm);
    if (r < 0)
        return store_failed(k, r);
    if (c->audit)
        vg_audit_unassign(c->audit, k->user, user, vm);
    /* Revocation reaches live sessions: the user's viewers of the VM end. */
    {
        g_autofree char *reason = g_strdup_printf("your access to VM '%s' was removed", vm);
        kick_user_on(k, user, vm, reason);
    }
    k->result = pair_result("user", user, "vm", vm);
    return 0;
}

/* ---- pools ---- */

static void build_pool(JsonBuilder *b, const vg_store_pool *p, GPtrArray *users)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, p->name);
    json_builder_set_member_name(b, "idle_action");
    json_builder_add_string_value(b, vg_idle_action_name(p->idle_action));
    json_builder_set_member_name(b, "idle_minutes");
    json_builder_add_int_value(b, p->idle_minutes);
    json_builder_set_member_name(b, "assign_on_first_login");
    json_builder_add_boolean_value(b, p->assign_on_first_login);
    json_builder_set_member_name(b, "members");
    json_builder_begin_array(b);
    for (guint j = 0; p->members && j < p->members->len; j++) {
        vg_store_pool_member *m = g_ptr_array_index(p->members, j);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "vm");
        json_builder_add_string_value(b, m->vm);
        json_builder_set_member_name(b, "held_for");
        if (m->sticky_user)
            json_builder_add_string_value(b, m->sticky_user);
        else
            json_builder_add_null_value(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "users");
    json_builder_begin_array(b);
    for (guint j = 0; users && j < users->len; j++)
        json_builder_add_string_value(b, g_ptr_array_index(users, j));
    json_builder_end_array(b);
    json_builder_end_object(b);
}

static int cmd_pool_create(vg_admin_call *k)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    const char *name, *action_name;
    vg_idle_action action = VG_IDLE_NONE;
    vg_store_pool *p = NULL;
    int64_t minutes;
    bool first_login, minutes_given;
    int r;

    if ((r = arg_name(k, "name", "pool", &name)) < 0)
        return r;
    arg_string(k, "idle_action", &action_name);
    minutes = arg_int(k, "idle_minutes", &minutes_given);
    first_login = arg_bool(k, "assign_on_first_login", NULL);
    /* As for roles: the table allows only the names the store knows. */
    if (action_name && vg_idle_action_parse(action_name, &action) < 0)
        return vg_admin_fail(k, -EINVAL, "invalid idle action '%s'", action_name);
    if (action == VG_IDLE_NONE && minutes_given)
        return vg_admin_fail(k, -EINVAL, "idle minutes need an idle action (shutdown or suspend)");
    r = vg_store_pool_create(ctx(k)->store, name, action,
                             action == VG_IDLE_NONE ? 0 : (unsigned)minutes, first_login);
    if (r == -EEXIST)
        return vg_admin_fail(k, r, "pool '%s' already exists", name);
    if (r < 0)
        return store_failed(k, r);
    if ((r = vg_store_pool_get(ctx(k)->store, name, &p)) < 0)
        return store_failed(k, r);
    build_pool(b, p, NULL);
    vg_store_pool_free(p);
    k->result = json_builder_get_root(b);
    return 0;
}

/* The pool @vm is in, or NULL (g_free it). */
static char *pool_holding(vg_admin_call *k, const char *vm)
{
    g_autoptr(GPtrArray) pools = NULL;
    g_autoptr(GHashTable) in_pool = NULL;

    if (vg_store_pool_list(ctx(k)->store, &pools) < 0)
        return NULL;
    in_pool = pool_of_vm(pools);
    return g_strdup(g_hash_table_lookup(in_pool, vm));
}

static int cmd_pool_add(vg_admin_call *k)
{
    const char *pool, *vm;
    int r;

    if ((r = arg_name(k, "pool", "pool", &pool)) < 0 || (r = arg_name(k, "vm", "VM", &vm)) < 0)
        return r;
    if ((r = pool_exists(k, pool)) < 0 || (r = vm_known(k, vm)) < 0)
        return r;
    r = vg_store_pool_add_vm(ctx(k)->store, pool, vm);
    if (r == -EEXIST) {
        g_autofree char *holder = pool_holding(k, vm);
        return vg_admin_fail(k, r, "VM '%s' is already in pool '%s'", vm,
                             holder ? holder : "another");
    }
    if (r == -ENOENT)
        return vg_admin_fail(k, r, "unknown pool '%s'", pool);
    if (r < 0)
        return store_failed(k, r);
    k->result = pair_result("pool", pool, "vm", vm);
    return 0;
}

static int cmd_pool_remove(vg_admin_call *k)
{
    const char *pool, *vm;
    int r;

    if ((r = arg_name(k, "pool", "pool", &pool)) < 0 || (r = arg_name(k, "vm", "VM", &vm)) < 0)
        return r;
    if ((r = pool_exists(k, pool)) < 0)
        return r;
    r = vg_store_pool_remove_vm(ctx(k)->store, pool, vm);
    if (r == -ENOENT)
        return vg_admin_fail(k, r, "VM '%s' is not in pool '%s'", vm, pool);
    if (r < 0)
        return store_failed(k, r);
    {
        g_autofree char *reason = g_strdup_printf("VM '%s' was taken out of pool '%s'", vm, pool);
        kick_revoked(k, NULL, vm, reason);
    }
    k->result = pair_result("pool", pool, "vm", vm);
    return 0;
}

static int cmd_pool_del(vg_admin_call *k)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    const char *name;
    int r;

    vg_store_pool *gone = NULL;

    if ((r = arg_name(k, "name", "pool", &name)) < 0)
        return r;
    (void)vg_store_pool_get(ctx(k)->store, name, &gone); /* its VMs, for the revocation */
    r = vg_store_pool_del(ctx(k)->store, name);
    if (r == -ENOENT) {
        vg_store_pool_free(gone);
        return vg_admin_fail(k, r, "unknown pool '%s'", name);
    }
    if (r < 0) {
        vg_store_pool_free(gone);
        return store_failed(k, r);
    }
    if (gone) {
        g_autofree char *reason = g_strdup_printf("pool '%s' was deleted", name);
        for (guint i = 0; i < gone->members->len; i++)
            kick_revoked(k, NULL, ((vg_store_pool_member *)gone->members->pdata[i])->vm, reason);
        vg_store_pool_free(gone);
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_end_object(b);
    k->result = json_builder_get_root(b);
    return 0;
}

static void free_users(gpointer p)
{
    g_ptr_array_unref(p);
}

static int cmd_pool_list(vg_admin_call *k)
{
    vg_store *store = ctx(k)->store;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) pools = NULL, users = NULL;
    g_autoptr(GHashTable) entitled = NULL; /* pool name → GPtrArray of user names */
    int r;

    if ((r = vg_store_pool_list(store, &pools)) < 0 || (r = vg_store_user_list(store, &users)) < 0)
        return store_failed(k, r);
    /* The store lists entitlements per user; turn them around (users come sorted). */
    entitled = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, free_users);
    for (guint i = 0; i < users->len; i++) {
        vg_store_user *u = g_ptr_array_index(users, i);
        g_autoptr(GPtrArray) names = NULL;

        if (vg_store_entitlements_for_user(store, u->name, &names) < 0)
            continue;
        for (guint j = 0; j < names->len; j++) {
            const char *pool = g_ptr_array_index(names, j);
            GPtrArray *list = g_hash_table_lookup(entitled, pool);
            if (!list) {
                list = g_ptr_array_new_with_free_func(g_free);
                g_hash_table_insert(entitled, g_strdup(pool), list);
            }
            g_ptr_array_add(list, g_strdup(u->name));
        }
    }
    json_builder_begin_array(b);
    for (guint i = 0; i < pools->len; i++) {
        vg_store_pool *p = g_ptr_array_index(pools, i);
        build_pool(b, p, g_hash_table_lookup(entitled, p->name));
    }
    json_builder_end_array(b);
    k->result = json_builder_get_root(b);
    return 0;
}

static int entitlement(vg_admin_call *k, bool grant)
{
    const char *user, *pool;
    int r;

    if ((r = arg_name(k, "user", "user", &user)) < 0 ||
        (r = arg_name(k, "pool", "pool", &pool)) < 0)
        return r;
    if ((r = user_exists(k, user)) < 0 || (r = pool_exists(k, pool)) < 0)
        return r;
    r = grant ? vg_store_entitle(ctx(k)->store, user, pool)
              : vg_store_unentitle(ctx(k)->store, user, pool);
    if (r == -EEXIST)
        return vg_admin_fail(k, r, "user '%s' is already entitled to pool '%s'", user, pool);
    if (r == -ENOENT && !grant)
        return vg_admin_fail(k, r, "user '%s' is not entitled to pool '%s'", user, pool);
    if (r < 0)
        return store_failed(k, r);
    if (!grant) {
        vg_store_pool *p = NULL;
        if (vg_store_pool_get(ctx(k)->store, pool, &p) == 0) {
            g_autofree char *reason = g_strdup_printf("your access to pool '%s' was removed", pool);
            for (guint i = 0; i < p->members->len; i++)
                kick_revoked(k, user, ((vg_store_pool_member *)p->members->pdata[i])->vm, reason);
            vg_store_pool_free(p);
        }
    }
    k->result = pair_result("user", user, "pool", pool);
    return 0;
}

static int cmd_entitle(vg_admin_call *k)
{
    return entitlement(k, true);
}

static int cmd_unentitle(vg_admin_call *k)
{
    return entitlement(k, false);
}

/* ---- sessions ---- */

static int cmd_session_list(vg_admin_call *k)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) list = NULL;

    if (!ctx(k)->sessions)
        return unsupported(k, "listing sessions");
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

static int cmd_session_kick(vg_admin_call *k)
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
        return unsupported(k, "kicking sessions");
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

/* ---- the console ---- */

static int cmd_screenshot(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree uint8_t *png = NULL;
    g_autofree char *base64 = NULL;
    const char *vm;
    size_t len = 0;
    int r;

    if ((r = arg_vm(k, &vm)) < 0)
        return r;
    if (!c->live || !c->live->screenshot)
        return unsupported(k, "taking screenshots");
    if ((r = c->live->screenshot(c->live_opaque, vm, &png, &len)) < 0)
        return live_failed(k, r, vm);
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

static int cmd_send_text(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(JsonBuilder) b = json_builder_new();
    const char *vm, *text;
    uint32_t bad = 0;
    int r;

    if ((r = arg_vm(k, &vm)) < 0)
        return r;
    arg_string(k, "text", &text);
    if (!*text || strlen(text) > SEND_TEXT_MAX || !g_utf8_validate(text, -1, NULL))
        return vg_admin_fail(k, -EINVAL, "the text must be 1 to %d bytes of UTF-8", SEND_TEXT_MAX);
    if (vg_type_check(text, &bad) < 0)
        return vg_admin_fail(k, -EINVAL, "U+%04X cannot be typed on a US keyboard layout",
                             (unsigned)bad);
    if (!c->live || !c->live->send_text)
        return unsupported(k, "typing text");
    if ((r = c->live->send_text(c->live_opaque, vm, text)) < 0)
        return live_failed(k, r, vm);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "vm");
    json_builder_add_string_value(b, vm);
    json_builder_set_member_name(b, "characters");
    json_builder_add_int_value(b, g_utf8_strlen(text, -1));
    json_builder_end_object(b);
    k->result = json_builder_get_root(b);
    return 0;
}

static int cmd_send_combo(vg_admin_call *k)
{
    const struct vg_admin_ctx *c = ctx(k);
    g_autoptr(JsonBuilder) b = json_builder_new();
    const char *vm, *combo;
    uint16_t qnums[COMBO_MAX];
    int n, r;

    if ((r = arg_vm(k, &vm)) < 0)
        return r;
    arg_string(k, "combo", &combo);
    n = vg_keymap_parse_combo(combo, qnums, COMBO_MAX);
    if (n < 0)
        return vg_admin_fail(k, -EINVAL, "invalid key combination '%s'", combo);
    if (!c->live || !c->live->send_combo)
        return unsupported(k, "sending key combinations");
    if ((r = c->live->send_combo(c->live_opaque, vm, qnums, n)) < 0)
        return live_failed(k, r, vm);
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

/* ---- the audit log ---- */

static int cmd_audit(vg_admin_call *k)
{
    g_autoptr(JsonBuilder) b = NULL;
    g_autoptr(GPtrArray) lines = NULL;
    int64_t n;
    bool follow;
    int r;

    n = arg_int(k, "lines", NULL);
    follow = arg_bool(k, "follow", NULL);
    if (!ctx(k)->audit)
        return unsupported(k, "the audit log");
    if (follow)
        return vg_admin_stream_audit(k, (unsigned)n);

    if ((r = vg_audit_tail(ctx(k)->audit, (unsigned)n, &lines)) < 0)
        return vg_admin_fail(k, r, "cannot read the audit log: %s", g_strerror(-r));
    b = json_builder_new();
    json_builder_begin_array(b);
    for (guint i = 0; i < lines->len; i++) {
        JsonNode *node = json_from_string(g_ptr_array_index(lines, i), NULL);
        if (node)
            json_builder_add_value(b, node);
    }
    json_builder_end_array(b);
    k->result = json_builder_get_root(b);
    return 0;
}

/* The handler of each command of the table (protocol/control/control-commands.c). */
static const struct {
    const char *name;
    vg_admin_handler fn;
} handlers[] = {
    {VG_CONTROL_CMD_USER_ADD, cmd_user_add},
    {VG_CONTROL_CMD_USER_PASSWD, cmd_user_passwd},
    {VG_CONTROL_CMD_USER_DEL, cmd_user_del},
    {VG_CONTROL_CMD_USER_DISABLE, cmd_user_disable},
    {VG_CONTROL_CMD_USER_ENABLE, cmd_user_enable},
    {VG_CONTROL_CMD_USER_LIST, cmd_user_list},
    {VG_CONTROL_CMD_VM_LIST, cmd_vm_list},
    {VG_CONTROL_CMD_VM_POWER, cmd_vm_power},
    {VG_CONTROL_CMD_ASSIGN, cmd_assign},
    {VG_CONTROL_CMD_UNASSIGN, cmd_unassign},
    {VG_CONTROL_CMD_POOL_CREATE, cmd_pool_create},
    {VG_CONTROL_CMD_POOL_ADD, cmd_pool_add},
    {VG_CONTROL_CMD_POOL_REMOVE, cmd_pool_remove},
    {VG_CONTROL_CMD_POOL_DEL, cmd_pool_del},
    {VG_CONTROL_CMD_POOL_LIST, cmd_pool_list},
    {VG_CONTROL_CMD_ENTITLE, cmd_entitle},
    {VG_CONTROL_CMD_UNENTITLE, cmd_unentitle},
    {VG_CONTROL_CMD_SESSION_LIST, cmd_session_list},
    {VG_CONTROL_CMD_SESSION_KICK, cmd_session_kick},
    {VG_CONTROL_CMD_SCREENSHOT, cmd_screenshot},
    {VG_CONTROL_CMD_SEND_TEXT, cmd_send_text},
    {VG_CONTROL_CMD_SEND_COMBO, cmd_send_combo},
    {VG_CONTROL_CMD_AUDIT, cmd_audit},
};

vg_admin_handler vg_admin_find_command(const char *cmd, const vg_control_command **spec)
{
    *spec = vg_control_command_find(cmd);
    for (size_t i = 0; *spec && i < G_N_ELEMENTS(handlers); i++)
        if (strcmp(handlers[i].name, cmd) == 0)
            return handlers[i].fn;
    *spec = NULL;
    return NULL;
}
