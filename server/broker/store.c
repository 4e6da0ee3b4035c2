/*
 * vmgate — the broker's durable store (see store.h): opening a back end,
 * migrations, users, VMs and dedicated assignments. Pools are in
 * store-pools.c, statements and transactions in store-sql.c, the
 * migrations themselves in store-schema.c, the back ends in
 * store-sqlite.c and store-pg.c.
 *
 * Threading: every exported function takes s->lock for its whole duration;
 * helpers named *_locked expect it held.
 */
#include "store-priv.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "log.h"

#define TAG VG_STORE_TAG

static int64_t unix_now(void)
{
    return g_get_real_time() / G_USEC_PER_SEC;
}

static void secret_free(char *secret)
{
    if (secret) {
        OPENSSL_cleanse(secret, strlen(secret));
        g_free(secret);
    }
}

/* ---- open, migrate, close ---- */

/* Apply missing migrations, each in one transaction that also records the new version. */
int vg_store_migrate_locked(vg_store *s)
{
    bool migrated = false;
    int64_t version;
    int r;

    for (;;) {
        r = s->ops->migrate_begin_locked(s);
        if (r < 0)
            return r;
        /* Read inside the transaction: another process may have migrated meanwhile. */
        r = s->ops->version_get_locked(s, &version);
        if (r < 0)
            return vg_store_finish_locked(s, r);
        if (version > vg_store_schema_latest) {
            vg_error(TAG,
                     "%s: schema version %" G_GINT64_FORMAT " is newer than this vmgate's (%d)",
                     s->path, version, vg_store_schema_latest);
            return vg_store_finish_locked(s, -ENOTSUP);
        }
        if (version == vg_store_schema_latest) {
            r = vg_store_finish_locked(s, 0);
            break;
        }
        if (version < 0) {
            vg_error(TAG, "%s: bad schema version %" G_GINT64_FORMAT, s->path, version);
            return vg_store_finish_locked(s, -EIO);
        }
        r = vg_store_exec_locked(s, s->ops->migrations[version], "migration");
        if (r == 0)
            r = s->ops->version_set_locked(s, version + 1);
        r = vg_store_finish_locked(s, r);
        if (r < 0) {
            vg_error(TAG, "%s: migration to schema version %" G_GINT64_FORMAT " failed", s->path,
                     version + 1);
            return r;
        }
        vg_notice(TAG, "%s: schema migrated to version %" G_GINT64_FORMAT, s->path, version + 1);
        migrated = true;
    }
    if (r == 0 && migrated && s->ops->migrated_locked)
        r = s->ops->migrated_locked(s);
    return r;
}

int vg_store_open(const char *path, vg_store **out)
{
    if (!path || !*path || !out)
        return -EINVAL;
    return vg_store_sqlite_open(path, out);
}

int vg_store_backend_parse(const char *name, vg_store_backend *out)
{
    if (g_strcmp0(name, "sqlite") == 0)
        *out = VG_STORE_SQLITE;
    else if (g_strcmp0(name, "postgresql") == 0)
        *out = VG_STORE_POSTGRESQL;
    else
        return -EINVAL;
    return 0;
}

int vg_store_open_with(const vg_store_options *o, vg_store **out)
{
    if (!o || !out)
        return -EINVAL;
    switch (o->backend) {
    case VG_STORE_SQLITE:
        return vg_store_open(o->path, out);
    case VG_STORE_POSTGRESQL:
        if (!o->dsn)
            return -EINVAL;
        return vg_store_pg_open(o->dsn, o->password_file, o->connect_timeout, out);
    }
    return -EINVAL;
}

vg_store_backend vg_store_get_backend(vg_store *s)
{
    return s->ops->backend;
}

void vg_store_close(vg_store *s)
{
    if (!s)
        return;
    s->ops->close(s);
    vg_store_base_clear(s);
    g_free(s);
}

int vg_store_ping(vg_store *s)
{
    int64_t one = 0;
    int r;

    g_mutex_lock(&s->lock);
    r = vg_store_query_int_locked(s, "SELECT 1", &one, "");
    g_mutex_unlock(&s->lock);
    return r;
}

int vg_store_schema_version(vg_store *s)
{
    int64_t v = -1;
    int r;

    g_mutex_lock(&s->lock);
    r = s->ops->version_get_locked(s, &v);
    g_mutex_unlock(&s->lock);
    return r < 0 ? r : (int)v;
}

/* ---- users ---- */

static bool hash_valid(const char *hash)
{
    size_t len;

    if (!hash)
        return false;
    len = strnlen(hash, VG_STORE_HASH_MAX + 1);
    if (len == 0 || len > VG_STORE_HASH_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (hash[i] <= ' ' || hash[i] > '~')
            return false;
    }
    return true;
}

/* Checks an NT hash and returns it in lower case (g_free with secret_free), or NULL. */
static char *nt_hash_normalise(const char *nt)
{
    char *low;

    if (strnlen(nt, 33) != 32)
        return NULL;
    for (size_t i = 0; i < 32; i++) {
        if (!g_ascii_isxdigit(nt[i]))
            return NULL;
    }
    low = g_strdup(nt);
    for (size_t i = 0; i < 32; i++)
        low[i] = g_ascii_tolower(low[i]);
    return low;
}

static int set_password(vg_store *s, const char *name, const char *hash, const char *nt_hash,
                        bool add)
{
    char *nt = NULL;
    int64_t now = unix_now();
    int r;

    if (!vg_name_valid(name) || !hash_valid(hash))
        return -EINVAL;
    if (nt_hash && !(nt = nt_hash_normalise(nt_hash)))
        return -EINVAL;

    if (add)
        r = vg_store_change(s, false,
                            "INSERT INTO users (name, password_hash, nt_hash, created, updated) "
                            "VALUES (?1, ?2, ?3, ?4, ?4)",
                            "add user", "ttti", name, hash, nt, now);
    else
        r = vg_store_change(s, true,
                            "UPDATE users SET password_hash = ?2, nt_hash = ?3, "
                            "updated = ?4 WHERE name = ?1",
                            "set password", "ttti", name, hash, nt, now);
    secret_free(nt);
    return r;
}

int vg_store_user_add(vg_store *s, const char *name, const char *hash, const char *nt_hash)
{
    return set_password(s, name, hash, nt_hash, true);
}

int vg_store_user_set_password(vg_store *s, const char *name, const char *hash, const char *nt_hash)
{
    return set_password(s, name, hash, nt_hash, false);
}

int vg_store_user_set_disabled(vg_store *s, const char *name, bool disabled)
{
    if (!vg_name_valid(name))
        return -EINVAL;
    return vg_store_change(s, true, "UPDATE users SET disabled = ?2, updated = ?3 WHERE name = ?1",
                           "set disabled", "tii", name, (int64_t)disabled, unix_now());
}

int vg_store_user_del(vg_store *s, const char *name)
{
    if (!vg_name_valid(name))
        return -EINVAL;
    /* Assignments, entitlements and sticky VMs go by ON DELETE CASCADE. */
    return vg_store_change(s, true, "DELETE FROM users WHERE name = ?1", "delete user", "t", name);
}

void vg_store_user_free(vg_store_user *u)
{
    if (!u)
        return;
    g_free(u->name);
    secret_free(u->password_hash);
    secret_free(u->nt_hash);
    g_free(u);
}

static vg_store_user *user_from_row(const vg_store_row *row, bool secrets)
{
    vg_store_user *u = g_new0(vg_store_user, 1);

    u->name = vg_store_row_strdup(row, 0);
    if (secrets) {
        u->password_hash = vg_store_row_strdup(row, 1);
        u->nt_hash = vg_store_row_strdup(row, 2);
    }
    u->nla = !vg_store_row_is_null(row, 2);
    u->created = vg_store_row_int(row, 3);
    u->updated = vg_store_row_int(row, 4);
    u->disabled = vg_store_row_int(row, 5) != 0;
    return u;
}

#define USER_COLUMNS "name, password_hash, nt_hash, created, updated, disabled"

static void *make_user_secret(const vg_store_row *row)
{
    return user_from_row(row, true);
}

int vg_store_user_get(vg_store *s, const char *name, vg_store_user **out)
{
    GPtrArray *a = NULL;
    int r;

    if (!vg_name_valid(name))
        return -EINVAL;
    g_mutex_lock(&s->lock);
    r = vg_store_list_locked(s, "SELECT " USER_COLUMNS " FROM users WHERE name = ?1", name, NULL,
                             make_user_secret, (GDestroyNotify)vg_store_user_free, &a);
    g_mutex_unlock(&s->lock);
    if (r < 0)
        return r;
    if (a->len == 0)
        r = -ENOENT;
    else
        *out = g_ptr_array_steal_index(a, 0);
    g_ptr_array_unref(a);
    return r;
}

static void *make_user_public(const vg_store_row *row)
{
    return user_from_row(row, false);
}

int vg_store_user_list(vg_store *s, GPtrArray **out)
{
    int r;

    g_mutex_lock(&s->lock);
    r = vg_store_list_locked(s, "SELECT " USER_COLUMNS " FROM users ORDER BY name", NULL, NULL,
                             make_user_public, (GDestroyNotify)vg_store_user_free, out);
    g_mutex_unlock(&s->lock);
    return r;
}

/* ---- VMs ---- */

int vg_store_vm_set(vg_store *s, const char *name, const char *uuid)
{
    char *low = NULL;
    int r;

    if (!vg_vm_name_valid(name))
        return -EINVAL;
    if (uuid) {
        if (!g_uuid_string_is_valid(uuid))
            return -EINVAL;
        low = g_ascii_strdown(uuid, -1);
    }
    r = vg_store_change(s, false,
                        "INSERT INTO vms (name, uuid) VALUES (?1, ?2) "
                        "ON CONFLICT (name) DO UPDATE SET uuid = excluded.uuid",
                        "set vm", "tt", name, low);
    g_free(low);
    return r;
}

int vg_store_vm_del(vg_store *s, const char *name)
{
    if (!vg_vm_name_valid(name))
        return -EINVAL;
    return vg_store_change(s, true, "DELETE FROM vms WHERE name = ?1", "delete vm", "t", name);
}

void vg_store_vm_free(vg_store_vm *vm)
{
    if (!vm)
        return;
    g_free(vm->name);
    g_free(vm->uuid);
    g_free(vm);
}

static void *make_vm(const vg_store_row *row)
{
    vg_store_vm *vm = g_new0(vg_store_vm, 1);
    vm->name = vg_store_row_strdup(row, 0);
    vm->uuid = vg_store_row_strdup(row, 1);
    return vm;
}

int vg_store_vm_get(vg_store *s, const char *name_or_uuid, vg_store_vm **out)
{
    GPtrArray *a = NULL;
    char *key;
    int r;

    if (!name_or_uuid)
        return -EINVAL;
    if (g_uuid_string_is_valid(name_or_uuid))
        key = g_ascii_strdown(name_or_uuid, -1);
    else if (vg_vm_name_valid(name_or_uuid))
        key = g_strdup(name_or_uuid);
    else
        return -EINVAL;
    g_mutex_lock(&s->lock);
    /* A name wins over a UUID: a VM may be named like another's UUID. */
    r = vg_store_list_locked(s,
                             "SELECT name, uuid FROM vms WHERE name = ?1 OR uuid = ?2 "
                             "ORDER BY name <> ?1 LIMIT 1",
                             name_or_uuid, key, make_vm, (GDestroyNotify)vg_store_vm_free, &a);
    g_mutex_unlock(&s->lock);
    g_free(key);
    if (r < 0)
        return r;
    if (a->len == 0) {
        r = -ENOENT;
    } else {
        *out = g_ptr_array_steal_index(a, 0);
    }
    g_ptr_array_unref(a);
    return r;
}

int vg_store_vm_list(vg_store *s, GPtrArray **out)
{
    int r;

    g_mutex_lock(&s->lock);
    r = vg_store_list_locked(s, "SELECT name, uuid FROM vms ORDER BY name", NULL, NULL, make_vm,
                             (GDestroyNotify)vg_store_vm_free, out);
    g_mutex_unlock(&s->lock);
    return r;
}

/* ---- assignments ---- */

int vg_store_assign(vg_store *s, const char *user, const char *vm, vg_role role)
{
    if (!vg_name_valid(user) || !vg_vm_name_valid(vm) || role < VG_ROLE_OWNER ||
        role > VG_ROLE_OBSERVER)
        return -EINVAL;
    /* No row changed: the SELECT found no such user (-ENOENT). */
    return vg_store_change(s, true,
                           "INSERT INTO assignments (user_id, vm, role) "
                           "SELECT id, ?2, ?3 FROM users WHERE name = ?1 "
                           "ON CONFLICT (user_id, vm) DO UPDATE SET role = excluded.role",
                           "assign", "ttt", user, vm, vg_role_name(role));
}

int vg_store_unassign(vg_store *s, const char *user, const char *vm)
{
    if (!vg_name_valid(user) || !vg_vm_name_valid(vm))
        return -EINVAL;
    return vg_store_change(s, true,
                           "DELETE FROM assignments WHERE vm = ?2 "
                           "AND user_id = (SELECT id FROM users WHERE name = ?1)",
                           "unassign", "tt", user, vm);
}

void vg_store_assignment_free(vg_store_assignment *a)
{
    if (!a)
        return;
    g_free(a->user);
    g_free(a->vm);
    g_free(a);
}

static void *make_assignment(const vg_store_row *row)
{
    vg_store_assignment *a = g_new0(vg_store_assignment, 1);
    a->user = vg_store_row_strdup(row, 0);
    a->vm = vg_store_row_strdup(row, 1);
    /* The CHECK constraint keeps the role valid; observer is the safe fallback. */
    if (vg_role_parse(vg_store_row_text(row, 2), &a->role) < 0)
        a->role = VG_ROLE_OBSERVER;
    return a;
}

#define ASSIGNMENT_SELECT                                                                          \
    "SELECT users.name, assignments.vm, assignments.role FROM assignments "                        \
    "JOIN users ON users.id = assignments.user_id "

int vg_store_assignments_for_user(vg_store *s, const char *user, GPtrArray **out)
{
    int64_t id;
    int r;

    if (!vg_name_valid(user))
        return -EINVAL;
    g_mutex_lock(&s->lock);
    r = vg_store_user_id_locked(s, user, &id);
    if (r == 0)
        r = vg_store_list_locked(
            s, ASSIGNMENT_SELECT "WHERE users.name = ?1 ORDER BY assignments.vm", user, NULL,
            make_assignment, (GDestroyNotify)vg_store_assignment_free, out);
    g_mutex_unlock(&s->lock);
    return r;
}

int vg_store_assignments_for_vm(vg_store *s, const char *vm, GPtrArray **out)
{
    int r;

    if (!vg_vm_name_valid(vm))
        return -EINVAL;
    g_mutex_lock(&s->lock);
    r = vg_store_list_locked(s, ASSIGNMENT_SELECT "WHERE assignments.vm = ?1 ORDER BY users.name",
                             vm, NULL, make_assignment, (GDestroyNotify)vg_store_assignment_free,
                             out);
    g_mutex_unlock(&s->lock);
    return r;
}
