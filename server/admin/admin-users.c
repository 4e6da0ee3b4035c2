/*
 * vmgate — the admin commands on users: user.add, user.passwd, user.del,
 * user.disable, user.enable, user.list.
 *
 * Threading: see admin-commands-priv.h.
 */
#include "admin-commands-priv.h"

#include <errno.h>
#include <string.h>

#include "auth.h"

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

int vg_admin_cmd_user_add(vg_admin_call *k)
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
        return vg_admin_store_failed(k, r);

    if ((r = make_hashes(k, password, nla, &hash, nt)) < 0)
        return r;
    r = vg_store_user_add(ctx(k)->store, name, hash, nla ? nt : NULL);
    vg_auth_secret_free(hash);
    explicit_bzero(nt, sizeof(nt));
    if (r == -EEXIST)
        return vg_admin_fail(k, r, "user '%s' already exists", name);
    if (r < 0)
        return vg_admin_store_failed(k, r);
    k->result = user_result(name, nla);
    return 0;
}

int vg_admin_cmd_user_passwd(vg_admin_call *k)
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
        return vg_admin_store_failed(k, r);
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
        return vg_admin_store_failed(k, r);
    k->result = user_result(name, nla);
    return 0;
}

/* End @user's viewers here, and have the other instances end theirs (the store says the user
 * is disabled or gone, so none is allowed). @return how many ended here. */
static unsigned kick_user(vg_admin_call *k, const char *user, const char *reason)
{
    unsigned n = vg_admin_kick_user_on(k, user, NULL, reason);

    vg_admin_revoke_elsewhere(k, user, NULL, reason);
    return n;
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
        return vg_admin_store_failed(k, r);
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

int vg_admin_cmd_user_disable(vg_admin_call *k)
{
    return set_disabled(k, true);
}

int vg_admin_cmd_user_enable(vg_admin_call *k)
{
    return set_disabled(k, false);
}

int vg_admin_cmd_user_del(vg_admin_call *k)
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
        return vg_admin_store_failed(k, r);
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

int vg_admin_cmd_user_list(vg_admin_call *k)
{
    vg_store *store = ctx(k)->store;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) users = NULL;
    int r;

    if ((r = vg_store_user_list(store, &users)) < 0)
        return vg_admin_store_failed(k, r);
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
