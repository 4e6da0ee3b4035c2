/*
 * vmgate — the broker's durable store on SQLite (see store.h): schema and
 * migrations, users, VMs and dedicated assignments. Pools are in
 * store-pools.c, the SQLite plumbing in store-sql.c.
 *
 * Threading: every exported function takes s->lock for its whole duration;
 * helpers named *_locked expect it held. The SQLite connection is opened
 * with SQLITE_OPEN_NOMUTEX because that lock already serialises it.
 */
#include "store-priv.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"

#define TAG VG_STORE_TAG

/* Long enough to ride out a checkpoint or a backup tool holding the file. */
#define BUSY_TIMEOUT_MS 5000

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

/*
 * Migrations, oldest first. Migration i takes the schema from version i to
 * i + 1. Never edit one that has been released: append a new one. Foreign
 * keys are off while migrations run (so a migration may rebuild a table the
 * way SQLite documents) and checked afterwards.
 */
static const char *const migrations[] = {
    /* 1: the initial schema. */
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  password_hash TEXT NOT NULL,"
    "  nt_hash TEXT,"
    "  created INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))"
    ");"
    "CREATE TABLE vms ("
    "  name TEXT PRIMARY KEY,"
    "  uuid TEXT UNIQUE"
    ");"
    "CREATE TABLE assignments ("
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  vm TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('owner', 'controller', 'observer')),"
    "  PRIMARY KEY (user_id, vm)"
    ");"
    "CREATE INDEX assignments_vm ON assignments(vm);"
    "CREATE TABLE pools ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  idle_action TEXT NOT NULL DEFAULT 'none'"
    "    CHECK (idle_action IN ('none', 'shutdown', 'suspend')),"
    "  idle_minutes INTEGER NOT NULL DEFAULT 0 CHECK (idle_minutes >= 0),"
    "  assign_on_first_login INTEGER NOT NULL DEFAULT 0"
    "    CHECK (assign_on_first_login IN (0, 1))"
    ");"
    "CREATE TABLE pool_members ("
    "  pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE CASCADE,"
    "  vm TEXT NOT NULL UNIQUE,"
    "  PRIMARY KEY (pool_id, vm)"
    ");"
    "CREATE TABLE entitlements ("
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE CASCADE,"
    "  PRIMARY KEY (user_id, pool_id)"
    ");"
    "CREATE INDEX entitlements_pool ON entitlements(pool_id);"
    "CREATE TABLE sticky ("
    "  pool_id INTEGER NOT NULL,"
    "  vm TEXT NOT NULL,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  PRIMARY KEY (pool_id, vm),"
    "  UNIQUE (pool_id, user_id),"
    "  FOREIGN KEY (pool_id, vm) REFERENCES pool_members(pool_id, vm) ON DELETE CASCADE"
    ");"
    "CREATE INDEX sticky_user ON sticky(user_id);",
};

const int vg_store_schema_latest = (int)(sizeof(migrations) / sizeof(migrations[0]));

/* ---- open, migrate, close ---- */

static int pragma_int_locked(vg_store *s, const char *sql, int64_t *out)
{
    return vg_store_query_int_locked(s, sql, out, "");
}

/* Apply missing migrations, each in one transaction that also bumps user_version. */
static int migrate_locked(vg_store *s)
{
    bool migrated = false;
    int64_t version;
    int r;

    for (;;) {
        r = vg_store_begin_locked(s);
        if (r < 0)
            return r;
        /* Read inside the transaction: another process may have migrated meanwhile. */
        r = pragma_int_locked(s, "PRAGMA user_version", &version);
        if (r < 0)
            return vg_store_finish_locked(s, r == -ENOENT ? -EIO : r);
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
        r = vg_store_exec_locked(s, migrations[version], "migration");
        if (r == 0) {
            char *bump = g_strdup_printf("PRAGMA user_version = %" G_GINT64_FORMAT, version + 1);
            r = vg_store_exec_locked(s, bump, "migration");
            g_free(bump);
        }
        r = vg_store_finish_locked(s, r);
        if (r < 0) {
            vg_error(TAG, "%s: migration to schema version %" G_GINT64_FORMAT " failed", s->path,
                     version + 1);
            return r;
        }
        vg_notice(TAG, "%s: schema migrated to version %" G_GINT64_FORMAT, s->path, version + 1);
        migrated = true;
    }
    if (r == 0 && migrated) {
        sqlite3_stmt *st;
        r = vg_store_prepare_locked(s, "PRAGMA foreign_key_check", &st);
        if (r < 0)
            return r;
        if (sqlite3_step(st) != SQLITE_DONE) {
            vg_error(TAG, "%s: foreign key check failed after migration", s->path);
            r = -EIO;
        }
        sqlite3_finalize(st);
    }
    return r;
}

static int configure_locked(vg_store *s)
{
    sqlite3_stmt *st;
    int64_t v;
    int r;

    sqlite3_extended_result_codes(s->db, 1);
    if (sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        return vg_store_fail_locked(s, "busy timeout");

    /* Fails for a file that is not a database, so it comes first. */
    r = vg_store_prepare_locked(s, "PRAGMA journal_mode = WAL", &st);
    if (r < 0)
        return r;
    if (sqlite3_step(st) != SQLITE_ROW) {
        r = vg_store_fail_locked(s, "journal_mode");
    } else if (g_ascii_strcasecmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
        vg_error(TAG, "%s: the database cannot use WAL mode (journal mode is %s)", s->path,
                 (const char *)sqlite3_column_text(st, 0));
        r = -EIO;
    }
    sqlite3_finalize(st);
    if (r < 0)
        return r;

    r = vg_store_exec_locked(s, "PRAGMA synchronous = FULL; PRAGMA secure_delete = ON", "pragma");
    if (r < 0)
        return r;
    r = migrate_locked(s);
    if (r < 0)
        return r;
    r = vg_store_exec_locked(s, "PRAGMA foreign_keys = ON", "pragma");
    if (r < 0)
        return r;
    r = pragma_int_locked(s, "PRAGMA foreign_keys", &v);
    if (r < 0 || v != 1) {
        vg_error(TAG, "%s: this SQLite cannot enforce foreign keys", s->path);
        return -EIO;
    }
    return 0;
}

int vg_store_open(const char *path, vg_store **out)
{
    vg_store *s;
    struct stat sb;
    int fd, r;

    if (!path || !*path || !out)
        return -EINVAL;

    /* SQLite would create the file 0644; the -wal and -shm files copy its mode. */
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        r = -errno;
        vg_error(TAG, "%s: %s", path, g_strerror(errno));
        return r;
    }
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 0077))
        vg_warning(TAG, "%s: readable by group or others; it holds password hashes", path);
    close(fd);

    s = g_new0(vg_store, 1);
    g_mutex_init(&s->lock);
    s->path = g_strdup(path);

    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        vg_error(TAG, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        r = -EIO;
        goto fail;
    }
    g_mutex_lock(&s->lock);
    r = configure_locked(s);
    g_mutex_unlock(&s->lock);
    if (r < 0)
        goto fail;
    *out = s;
    return 0;

fail:
    vg_store_close(s);
    return r;
}

void vg_store_close(vg_store *s)
{
    if (!s)
        return;
    if (s->db && sqlite3_close(s->db) != SQLITE_OK)
        vg_warning(TAG, "%s: close: %s", s->path, sqlite3_errmsg(s->db));
    g_mutex_clear(&s->lock);
    g_free(s->path);
    g_free(s);
}

int vg_store_schema_version(vg_store *s)
{
    int64_t v = -1;
    int r;

    g_mutex_lock(&s->lock);
    r = pragma_int_locked(s, "PRAGMA user_version", &v);
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

static vg_store_user *user_from_row(sqlite3_stmt *st, bool secrets)
{
    vg_store_user *u = g_new0(vg_store_user, 1);

    u->name = vg_store_column_strdup(st, 0);
    if (secrets) {
        u->password_hash = vg_store_column_strdup(st, 1);
        u->nt_hash = vg_store_column_strdup(st, 2);
    }
    u->nla = sqlite3_column_type(st, 2) != SQLITE_NULL;
    u->created = sqlite3_column_int64(st, 3);
    u->updated = sqlite3_column_int64(st, 4);
    u->disabled = sqlite3_column_int(st, 5) != 0;
    return u;
}

#define USER_COLUMNS "name, password_hash, nt_hash, created, updated, disabled"

int vg_store_user_get(vg_store *s, const char *name, vg_store_user **out)
{
    sqlite3_stmt *st = NULL;
    int rc, r;

    if (!vg_name_valid(name))
        return -EINVAL;
    g_mutex_lock(&s->lock);
    r = vg_store_prepare_locked(s, "SELECT " USER_COLUMNS " FROM users WHERE name = ?1", &st);
    if (r == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *out = user_from_row(st, true);
        else
            r = rc == SQLITE_DONE ? -ENOENT : vg_store_fail_locked(s, "get user");
    }
    sqlite3_finalize(st);
    g_mutex_unlock(&s->lock);
    return r;
}

static void *make_user_public(sqlite3_stmt *st)
{
    return user_from_row(st, false);
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

static void *make_vm(sqlite3_stmt *st)
{
    vg_store_vm *vm = g_new0(vg_store_vm, 1);
    vm->name = vg_store_column_strdup(st, 0);
    vm->uuid = vg_store_column_strdup(st, 1);
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

static void *make_assignment(sqlite3_stmt *st)
{
    vg_store_assignment *a = g_new0(vg_store_assignment, 1);
    a->user = vg_store_column_strdup(st, 0);
    a->vm = vg_store_column_strdup(st, 1);
    /* The CHECK constraint keeps the role valid; observer is the safe fallback. */
    if (vg_role_parse((const char *)sqlite3_column_text(st, 2), &a->role) < 0)
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
