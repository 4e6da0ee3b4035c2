/*
 * Unit tests: the broker store, on both back ends with the same test
 * bodies — schema creation and migration bookkeeping, reopening,
 * constraint errors, cascades and durability.
 *
 *   test_store                 SQLite: a real file in a temporary directory
 *   test_store --postgresql    PostgreSQL: the private cluster of
 *                              tests/lib/pgcluster (VMGATE_PG_DIR), a
 *                              database of its own for the run (dropped
 *                              after), the schema emptied before each test;
 *                              also what only a server has: two connections
 *                              racing for one pool VM, the server stopped
 *                              and started under the store, passwords, the
 *                              LISTEN/NOTIFY bus between two connections
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "log.h"
#include "store.h"

#define HASH  "$y$j9T$abcdefghijklmnop$0123456789012345678901234567890123456789012"
#define HASH2 "$y$j9T$qrstuvwxyzABCDEF$0123456789012345678901234567890123456789012"
#define NT    "8846F7EAEE8FB117AD06BDD830B7586C"
#define UUID1 "6f1c3a52-4b7e-4d2a-9f3e-0a1b2c3d4e5f"

/* The back end of this run, and for PostgreSQL where its database is. */
static vg_store_backend backend = VG_STORE_SQLITE;
static struct {
    char *dir;           /* the cluster's directory (VMGATE_PG_DIR) */
    char *base_dsn;      /* the role vmgate, database postgres */
    char *dsn;           /* the role vmgate, this run's database */
    char *password_file; /* the role's password */
    char *db;            /* this run's database */
} pg;

typedef struct fixture {
    char *dir;
    char *path;
    vg_store *store;
} fixture;

static vg_store_options store_options(fixture *f)
{
    vg_store_options o = {.backend = backend};

    if (backend == VG_STORE_SQLITE) {
        o.path = f->path;
    } else {
        o.dsn = pg.dsn;
        o.password_file = pg.password_file;
    }
    return o;
}

static int open_store(fixture *f, vg_store **out)
{
    vg_store_options o = store_options(f);
    return vg_store_open_with(&o, out);
}

/* A connection of libpq's own to @dsn with the role's password. */
static PGconn *pg_connect(const char *dsn)
{
    g_autofree char *pw = NULL;
    const char *keys[] = {"dbname", "password", "options", NULL};
    const char *values[] = {dsn, NULL, "-c client_min_messages=warning", NULL};
    PGconn *c;

    assert_true(g_file_get_contents(pg.password_file, &pw, NULL, NULL));
    g_strstrip(pw);
    values[1] = pw;
    c = PQconnectdbParams(keys, values, 1);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("%s", PQerrorMessage(c));
    return c;
}

static void pg_exec(const char *dsn, const char *sql)
{
    PGconn *c = pg_connect(dsn);
    PGresult *r = PQexec(c, sql);

    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* Run tests/lib/pgcluster COMMAND on this run's cluster; its output (g_free it). */
static char *pgcluster(const char *command)
{
    const char *argv[] = {PGCLUSTER_PATH, "--dir", pg.dir, command, NULL};
    char *out = NULL;
    int status = -1;

    assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                             &out, NULL, &status, NULL));
    if (!g_spawn_check_wait_status(status, NULL))
        fail_msg("pgcluster %s failed", command);
    return g_strstrip(out);
}

static int setup(void **state)
{
    fixture *f = g_new0(fixture, 1);
    f->dir = g_dir_make_tmp("vg-store-XXXXXX", NULL);
    assert_non_null(f->dir);
    f->path = g_build_filename(f->dir, "vmgate.db", NULL);
    if (backend == VG_STORE_POSTGRESQL) /* every test starts from an empty database */
        pg_exec(pg.dsn, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    assert_int_equal(open_store(f, &f->store), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};

    vg_store_close(f->store);
    for (size_t i = 0; i < G_N_ELEMENTS(suffixes); i++) {
        char *p = g_strconcat(f->path, suffixes[i], NULL);
        g_unlink(p);
        g_free(p);
    }
    g_rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
    g_free(f);
    return 0;
}

static void reopen(fixture *f)
{
    vg_store_close(f->store);
    f->store = NULL;
    assert_int_equal(open_store(f, &f->store), 0);
}

/* A second, independent connection: what another process (or a crash survivor) would see. */
static int64_t raw_count(fixture *f, const char *sql)
{
    int64_t n = -1;

    if (backend == VG_STORE_POSTGRESQL) {
        PGconn *c = pg_connect(pg.dsn);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", sql, PQerrorMessage(c));
        if (PQntuples(r) > 0)
            n = g_ascii_strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        PQfinish(c);
    } else {
        sqlite3 *db;
        sqlite3_stmt *st;

        assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    return n;
}

/* The schema version as another connection reads it. */
static int64_t raw_version(fixture *f)
{
    return raw_count(f, backend == VG_STORE_SQLITE ? "PRAGMA user_version"
                                                   : "SELECT version FROM vmgate_schema");
}

/* Run @sql on a second, independent connection that may write. */
static void raw_exec(fixture *f, const char *sql)
{
    if (backend == VG_STORE_POSTGRESQL) {
        pg_exec(pg.dsn, sql);
    } else {
        sqlite3 *db;

        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
}

static void add_user(fixture *f, const char *name)
{
    assert_int_equal(vg_store_user_add(f->store, name, HASH, NULL), 0);
}

/* ---- schema ---- */

static void test_store_creates_latest_schema_in_empty_file(void **state)
{
    fixture *f = *state;
    struct stat sb;

    assert_true(vg_store_schema_latest >= 1);
    assert_int_equal(vg_store_schema_version(f->store), vg_store_schema_latest);
    assert_int_equal(raw_version(f), vg_store_schema_latest);
    if (backend == VG_STORE_POSTGRESQL) {
        assert_int_equal(raw_count(f, "SELECT count(*) FROM information_schema.tables "
                                      "WHERE table_schema = 'public' AND table_name IN "
                                      "('users', 'vms', 'assignments', 'pools', "
                                      "'pool_members', 'entitlements', 'sticky', "
                                      "'instances', 'placements')"),
                         9);
        return;
    }
    assert_int_equal(raw_count(f, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                  "name IN ('users', 'vms', 'assignments', 'pools', "
                                  "'pool_members', 'entitlements', 'sticky', 'instances', "
                                  "'placements')"),
                     9);
    /* It holds password hashes: nobody else may read it. */
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

static void test_store_uses_wal_and_foreign_keys(void **state)
{
    fixture *f = *state;
    sqlite3 *db;
    sqlite3_stmt *st;

    (void)f;
    /* journal_mode is persistent in the file; a fresh connection sees WAL. */
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* Foreign keys are on: an assignment for a missing user cannot exist. */
    assert_int_equal(vg_store_assign(f->store, "ghost", "vm1", VG_ROLE_OWNER), -ENOENT);
}

static void test_store_reopen_keeps_schema_without_migrating_again(void **state)
{
    fixture *f = *state;

    add_user(f, "alice");
    reopen(f);
    assert_int_equal(vg_store_ping(f->store), 0);
    assert_int_equal(vg_store_schema_version(f->store), vg_store_schema_latest);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM users"), 1);
}

static void test_store_refuses_database_from_newer_version(void **state)
{
    fixture *f = *state;
    vg_store *s = NULL;
    char *sql;

    vg_store_close(f->store);
    f->store = NULL;
    if (backend == VG_STORE_POSTGRESQL) {
        sql = g_strdup_printf("UPDATE vmgate_schema SET version = %d", vg_store_schema_latest + 1);
        pg_exec(pg.dsn, sql);
    } else {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        sql = g_strdup_printf("PRAGMA user_version = %d", vg_store_schema_latest + 1);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    g_free(sql);

    assert_int_equal(open_store(f, &s), -ENOTSUP);
    assert_null(s);
    /* Refusing did not touch the database. */
    assert_int_equal(raw_version(f), vg_store_schema_latest + 1);
}

static void test_store_refuses_file_that_is_not_a_database(void **state)
{
    fixture *f = *state;
    char *path = g_build_filename(f->dir, "junk.db", NULL);
    char junk[4096];
    vg_store *s = NULL;

    memset(junk, 'x', sizeof(junk));
    assert_true(g_file_set_contents(path, junk, sizeof(junk), NULL));
    assert_int_equal(vg_store_open(path, &s), -EIO);
    assert_null(s);
    g_unlink(path);
    g_free(path);
}

static void test_store_open_reports_missing_directory(void **state)
{
    fixture *f = *state;
    char *path = g_build_filename(f->dir, "no-such-dir", "vmgate.db", NULL);
    vg_store *s = NULL;

    assert_int_equal(vg_store_open(path, &s), -ENOENT);
    assert_null(s);
    g_free(path);
}

/* ---- durability ---- */

static void test_store_changes_are_committed_before_return(void **state)
{
    fixture *f = *state;

    /* While the store is still open, another connection already sees each change. */
    add_user(f, "alice");
    assert_int_equal(raw_count(f, "SELECT count(*) FROM users WHERE name = 'alice'"), 1);
    assert_int_equal(vg_store_assign(f->store, "alice", "vm1", VG_ROLE_OWNER), 0);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM assignments"), 1);
    assert_int_equal(vg_store_pool_create(f->store, "lab", VG_IDLE_NONE, 0, false), 0);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM pools"), 1);
    assert_int_equal(vg_store_user_del(f->store, "alice"), 0);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM users"), 0);
}

static void test_store_data_survives_close_and_reopen(void **state)
{
    fixture *f = *state;
    vg_store_user *u = NULL;
    vg_store_pool *p = NULL;
    vg_store_vm *vm = NULL;
    GPtrArray *a = NULL;
    char *sticky = NULL;

    assert_int_equal(vg_store_user_add(f->store, "alice", HASH, NT), 0);
    add_user(f, "bob");
    assert_int_equal(vg_store_user_set_disabled(f->store, "bob", true), 0);
    assert_int_equal(vg_store_vm_set(f->store, "vm1", UUID1), 0);
    assert_int_equal(vg_store_assign(f->store, "alice", "vm1", VG_ROLE_CONTROLLER), 0);
    assert_int_equal(vg_store_pool_create(f->store, "lab", VG_IDLE_SUSPEND, 30, true), 0);
    assert_int_equal(vg_store_pool_add_vm(f->store, "lab", "lab1"), 0);
    assert_int_equal(vg_store_entitle(f->store, "alice", "lab"), 0);
    assert_int_equal(vg_store_sticky_set(f->store, "lab", "lab1", "alice"), 0);
    reopen(f);

    assert_int_equal(vg_store_user_get(f->store, "alice", &u), 0);
    assert_string_equal(u->password_hash, HASH);
    assert_string_equal(u->nt_hash, "8846f7eaee8fb117ad06bdd830b7586c");
    assert_false(u->disabled);
    vg_store_user_free(u);
    assert_int_equal(vg_store_user_get(f->store, "bob", &u), 0);
    assert_true(u->disabled);
    assert_null(u->nt_hash);
    vg_store_user_free(u);

    assert_int_equal(vg_store_vm_get(f->store, "vm1", &vm), 0);
    assert_string_equal(vm->uuid, UUID1);
    vg_store_vm_free(vm);

    assert_int_equal(vg_store_assignments_for_user(f->store, "alice", &a), 0);
    assert_int_equal(a->len, 1);
    assert_int_equal(((vg_store_assignment *)a->pdata[0])->role, VG_ROLE_CONTROLLER);
    g_ptr_array_unref(a);

    assert_int_equal(vg_store_pool_get(f->store, "lab", &p), 0);
    assert_int_equal(p->idle_action, VG_IDLE_SUSPEND);
    assert_int_equal(p->idle_minutes, 30);
    assert_true(p->assign_on_first_login);
    assert_int_equal(p->members->len, 1);
    vg_store_pool_free(p);

    assert_int_equal(vg_store_entitlements_for_user(f->store, "alice", &a), 0);
    assert_int_equal(a->len, 1);
    assert_string_equal(a->pdata[0], "lab");
    g_ptr_array_unref(a);

    assert_int_equal(vg_store_sticky_get(f->store, "lab", "alice", &sticky), 0);
    assert_string_equal(sticky, "lab1");
    g_free(sticky);
}

/* ---- users ---- */

static void test_store_names_follow_the_one_rule(void **state)
{
    fixture *f = *state;
    char long_name[VG_NAME_MAX + 2];

    assert_true(vg_name_valid("alice"));
    assert_true(vg_name_valid("a.b_c@d-e9"));
    assert_true(vg_name_valid("x-"));
    assert_false(vg_name_valid(NULL));
    assert_false(vg_name_valid(""));
    assert_false(vg_name_valid("-alice"));
    assert_false(vg_name_valid("al ice"));
    assert_false(vg_name_valid("al/ice"));
    assert_false(vg_name_valid("al\xc3\xa9"));
    memset(long_name, 'a', VG_NAME_MAX);
    long_name[VG_NAME_MAX] = '\0';
    assert_true(vg_name_valid(long_name));
    long_name[VG_NAME_MAX] = 'a';
    long_name[VG_NAME_MAX + 1] = '\0';
    assert_false(vg_name_valid(long_name));

    assert_int_equal(vg_store_user_add(f->store, "-alice", HASH, NULL), -EINVAL);
    assert_int_equal(vg_store_user_add(f->store, long_name, HASH, NULL), -EINVAL);
    assert_int_equal(vg_store_assign(f->store, "alice", "bad/vm", VG_ROLE_OWNER), -EINVAL);
    assert_int_equal(vg_store_assign(f->store, "alice", "", VG_ROLE_OWNER), -EINVAL);
    assert_int_equal(vg_store_pool_create(f->store, "", VG_IDLE_NONE, 0, false), -EINVAL);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM users"), 0);
}

/* VM names are libvirt's: spaces, Unicode and a leading '-' are kept as they are. */
static void test_store_keeps_vm_names_as_libvirt_allows_them(void **state)
{
    fixture *f = *state;
    static const char *const names[] = {"Windows 11 (dev)",
                                        "\xc3\xbc"
                                        "n"
                                        "\xc3\xaf"
                                        "code",
                                        "-dash", "it's \"quoted\" & <tagged>"};
    GPtrArray *a = NULL;
    vg_store_pool *p = NULL;

    add_user(f, "alice");
    assert_int_equal(vg_store_pool_create(f->store, "lab", VG_IDLE_NONE, 0, false), 0);
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        assert_int_equal(vg_store_assign(f->store, "alice", names[i], VG_ROLE_OWNER), 0);
        assert_int_equal(vg_store_pool_add_vm(f->store, "lab", names[i]), 0);
        assert_int_equal(vg_store_vm_set(f->store, names[i], NULL), 0);
    }
    assert_int_equal(vg_store_assignments_for_user(f->store, "alice", &a), 0);
    assert_int_equal(a->len, G_N_ELEMENTS(names));
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        bool found = false;
        for (guint j = 0; j < a->len; j++)
            found |= strcmp(((vg_store_assignment *)a->pdata[j])->vm, names[i]) == 0;
        assert_true(found);
    }
    g_ptr_array_unref(a);
    assert_int_equal(vg_store_pool_get(f->store, "lab", &p), 0);
    assert_int_equal(p->members->len, G_N_ELEMENTS(names));
    vg_store_pool_free(p);
    assert_int_equal(vg_store_unassign(f->store, "alice", names[0]), 0);
    assert_int_equal(vg_store_pool_remove_vm(f->store, "lab", names[1]), 0);
}

static void test_store_user_add_refuses_duplicate_name(void **state)
{
    fixture *f = *state;

    add_user(f, "alice");
    assert_int_equal(vg_store_user_add(f->store, "alice", HASH2, NULL), -EEXIST);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM users"), 1);
}

static void test_store_user_add_refuses_bad_hashes(void **state)
{
    fixture *f = *state;
    char *huge = g_strnfill(VG_STORE_HASH_MAX + 1, 'h');

    assert_int_equal(vg_store_user_add(f->store, "alice", "", NULL), -EINVAL);
    assert_int_equal(vg_store_user_add(f->store, "alice", "has space", NULL), -EINVAL);
    assert_int_equal(vg_store_user_add(f->store, "alice", huge, NULL), -EINVAL);
    assert_int_equal(vg_store_user_add(f->store, "alice", HASH, "1234"), -EINVAL);
    assert_int_equal(vg_store_user_add(f->store, "alice", HASH, "zz46f7eaee8fb117ad06bdd830b7586c"),
                     -EINVAL);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM users"), 0);
    g_free(huge);
}

static void test_store_user_list_hides_secrets(void **state)
{
    fixture *f = *state;
    GPtrArray *a = NULL;
    vg_store_user *u;

    assert_int_equal(vg_store_user_add(f->store, "zoe", HASH, NULL), 0);
    assert_int_equal(vg_store_user_add(f->store, "alice", HASH, NT), 0);
    assert_int_equal(vg_store_user_list(f->store, &a), 0);
    assert_int_equal(a->len, 2);
    u = a->pdata[0];
    assert_string_equal(u->name, "alice");
    assert_true(u->nla);
    assert_null(u->password_hash);
    assert_null(u->nt_hash);
    assert_true(u->created > 0);
    u = a->pdata[1];
    assert_string_equal(u->name, "zoe");
    assert_false(u->nla);
    g_ptr_array_unref(a);
}

static void test_store_set_password_replaces_hashes(void **state)
{
    fixture *f = *state;
    vg_store_user *u = NULL;
    char *data = NULL;
    gsize len = 0;

    assert_int_equal(vg_store_user_add(f->store, "alice", HASH, NT), 0);
    assert_int_equal(vg_store_user_set_password(f->store, "alice", HASH2, NULL), 0);
    assert_int_equal(vg_store_user_get(f->store, "alice", &u), 0);
    assert_string_equal(u->password_hash, HASH2);
    assert_null(u->nt_hash); /* NLA turned off: the NT hash is gone */
    assert_false(u->nla);
    assert_true(u->updated >= u->created);
    vg_store_user_free(u);
    if (backend == VG_STORE_SQLITE) {
        /* The old NT hash is overwritten in the file, not just unlinked from the b-tree. */
        reopen(f); /* closing checkpoints the WAL into the database file */
        vg_store_close(f->store);
        f->store = NULL;
        assert_true(g_file_get_contents(f->path, &data, &len, NULL));
        assert_null(memmem(data, len, "8846f7eaee8fb117ad06bdd830b7586c", 32));
        g_free(data);
        assert_int_equal(vg_store_open(f->path, &f->store), 0);
    }

    assert_int_equal(vg_store_user_set_password(f->store, "nobody", HASH, NULL), -ENOENT);
    assert_int_equal(vg_store_user_set_disabled(f->store, "nobody", true), -ENOENT);
}

static void test_store_user_get_and_del_report_unknown_user(void **state)
{
    fixture *f = *state;
    vg_store_user *u = NULL;

    assert_int_equal(vg_store_user_get(f->store, "nobody", &u), -ENOENT);
    assert_null(u);
    assert_int_equal(vg_store_user_del(f->store, "nobody"), -ENOENT);
}

static void test_store_user_delete_cascades(void **state)
{
    fixture *f = *state;
    GPtrArray *a = NULL;
    vg_store_pool *p = NULL;

    add_user(f, "alice");
    add_user(f, "bob");
    assert_int_equal(vg_store_assign(f->store, "alice", "vm1", VG_ROLE_OWNER), 0);
    assert_int_equal(vg_store_assign(f->store, "bob", "vm1", VG_ROLE_OBSERVER), 0);
    assert_int_equal(vg_store_pool_create(f->store, "lab", VG_IDLE_NONE, 0, true), 0);
    assert_int_equal(vg_store_pool_add_vm(f->store, "lab", "lab1"), 0);
    assert_int_equal(vg_store_entitle(f->store, "alice", "lab"), 0);
    assert_int_equal(vg_store_sticky_set(f->store, "lab", "lab1", "alice"), 0);

    assert_int_equal(vg_store_user_del(f->store, "alice"), 0);

    assert_int_equal(vg_store_assignments_for_vm(f->store, "vm1", &a), 0);
    assert_int_equal(a->len, 1);
    assert_string_equal(((vg_store_assignment *)a->pdata[0])->user, "bob");
    g_ptr_array_unref(a);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM entitlements"), 0);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM sticky"), 0);
    assert_int_equal(vg_store_pool_get(f->store, "lab", &p), 0);
    assert_int_equal(p->members->len, 1); /* the pool and its VM stay */
    assert_null(((vg_store_pool_member *)p->members->pdata[0])->sticky_user);
    vg_store_pool_free(p);

    /* A new user of the same name inherits nothing. */
    add_user(f, "alice");
    assert_int_equal(vg_store_assignments_for_user(f->store, "alice", &a), 0);
    assert_int_equal(a->len, 0);
    g_ptr_array_unref(a);
    assert_int_equal(vg_store_entitlements_for_user(f->store, "alice", &a), 0);
    assert_int_equal(a->len, 0);
    g_ptr_array_unref(a);
}

/* ---- VMs ---- */

static void test_store_vm_found_by_name_or_uuid(void **state)
{
    fixture *f = *state;
    vg_store_vm *vm = NULL;
    GPtrArray *a = NULL;
    char *upper = g_ascii_strup(UUID1, -1);

    assert_int_equal(vg_store_vm_set(f->store, "vm1", upper), 0);
    assert_int_equal(vg_store_vm_get(f->store, UUID1, &vm), 0);
    assert_string_equal(vm->name, "vm1");
    assert_string_equal(vm->uuid, UUID1); /* stored in lower case */
    vg_store_vm_free(vm);
    assert_int_equal(vg_store_vm_get(f->store, upper, &vm), 0);
    assert_string_equal(vm->name, "vm1");
    vg_store_vm_free(vm);

    assert_int_equal(vg_store_vm_set(f->store, "vm2", UUID1), -EEXIST);
    assert_int_equal(vg_store_vm_set(f->store, "vm2", "not-a-uuid"), -EINVAL);
    assert_int_equal(vg_store_vm_set(f->store, "vm2", NULL), 0);
    assert_int_equal(vg_store_vm_set(f->store, "vm1", NULL), 0); /* replaces the UUID */
    assert_int_equal(vg_store_vm_get(f->store, UUID1, &vm), -ENOENT);
    assert_int_equal(vg_store_vm_list(f->store, &a), 0);
    assert_int_equal(a->len, 2);
    g_ptr_array_unref(a);
    assert_int_equal(vg_store_vm_del(f->store, "vm2"), 0);
    assert_int_equal(vg_store_vm_del(f->store, "vm2"), -ENOENT);
    g_free(upper);
}

/* ---- assignments ---- */

static void test_store_assign_replaces_existing_role(void **state)
{
    fixture *f = *state;
    GPtrArray *a = NULL;

    add_user(f, "alice");
    assert_int_equal(vg_store_assign(f->store, "alice", "vm1", VG_ROLE_OBSERVER), 0);
    assert_int_equal(vg_store_assign(f->store, "alice", "vm1", VG_ROLE_OWNER), 0);
    assert_int_equal(vg_store_assignments_for_user(f->store, "alice", &a), 0);
    assert_int_equal(a->len, 1);
    assert_string_equal(((vg_store_assignment *)a->pdata[0])->vm, "vm1");
    assert_int_equal(((vg_store_assignment *)a->pdata[0])->role, VG_ROLE_OWNER);
    g_ptr_array_unref(a);
    assert_int_equal(vg_store_assign(f->store, "alice", "vm1", (vg_role)7), -EINVAL);
}

static void test_store_assignment_errors(void **state)
{
    fixture *f = *state;
    GPtrArray *a = NULL;

    assert_int_equal(vg_store_assign(f->store, "nobody", "vm1", VG_ROLE_OWNER), -ENOENT);
    assert_int_equal(vg_store_assignments_for_user(f->store, "nobody", &a), -ENOENT);
    add_user(f, "alice");
    assert_int_equal(vg_store_unassign(f->store, "alice", "vm1"), -ENOENT);
    assert_int_equal(vg_store_unassign(f->store, "nobody", "vm1"), -ENOENT);
    assert_int_equal(vg_store_assign(f->store, "alice", "vm1", VG_ROLE_OWNER), 0);
    assert_int_equal(vg_store_unassign(f->store, "alice", "vm1"), 0);
    assert_int_equal(vg_store_unassign(f->store, "alice", "vm1"), -ENOENT);
    assert_int_equal(vg_store_assignments_for_vm(f->store, "vm1", &a), 0);
    assert_int_equal(a->len, 0);
    g_ptr_array_unref(a);
}

static void test_store_assignments_for_vm_are_sorted_by_user(void **state)
{
    fixture *f = *state;
    GPtrArray *a = NULL;

    add_user(f, "carol");
    add_user(f, "alice");
    add_user(f, "bob");
    assert_int_equal(vg_store_assign(f->store, "carol", "vm1", VG_ROLE_OBSERVER), 0);
    assert_int_equal(vg_store_assign(f->store, "alice", "vm1", VG_ROLE_OWNER), 0);
    assert_int_equal(vg_store_assign(f->store, "bob", "vm2", VG_ROLE_OWNER), 0);
    assert_int_equal(vg_store_assignments_for_vm(f->store, "vm1", &a), 0);
    assert_int_equal(a->len, 2);
    assert_string_equal(((vg_store_assignment *)a->pdata[0])->user, "alice");
    assert_string_equal(((vg_store_assignment *)a->pdata[1])->user, "carol");
    assert_int_equal(((vg_store_assignment *)a->pdata[1])->role, VG_ROLE_OBSERVER);
    g_ptr_array_unref(a);
}

/* ---- pools ---- */

static void test_store_pool_constraints(void **state)
{
    fixture *f = *state;
    vg_store_pool *p = NULL;
    GPtrArray *a = NULL;

    assert_int_equal(vg_store_pool_create(f->store, "lab", VG_IDLE_SHUTDOWN, 15, false), 0);
    assert_int_equal(vg_store_pool_create(f->store, "lab", VG_IDLE_NONE, 0, false), -EEXIST);
    assert_int_equal(vg_store_pool_create(f->store, "x", VG_IDLE_SHUTDOWN, 0, false), -EINVAL);
    assert_int_equal(vg_store_pool_create(f->store, "x", VG_IDLE_SUSPEND, 10081, false), -EINVAL);
    assert_int_equal(vg_store_pool_create(f->store, "x", (vg_idle_action)9, 5, false), -EINVAL);
    assert_int_equal(vg_store_pool_create(f->store, "other", VG_IDLE_NONE, 99, false), 0);

    assert_int_equal(vg_store_pool_add_vm(f->store, "lab", "b1"), 0);
    assert_int_equal(vg_store_pool_add_vm(f->store, "lab", "a1"), 0);
    assert_int_equal(vg_store_pool_add_vm(f->store, "lab", "a1"), -EEXIST);
    assert_int_equal(vg_store_pool_add_vm(f->store, "other", "a1"), -EEXIST); /* one pool per VM */
    assert_int_equal(vg_store_pool_add_vm(f->store, "nope", "c1"), -ENOENT);
    assert_int_equal(vg_store_pool_remove_vm(f->store, "other", "a1"), -ENOENT);
    assert_int_equal(vg_store_pool_remove_vm(f->store, "lab", "zz"), -ENOENT);

    assert_int_equal(vg_store_pool_get(f->store, "lab", &p), 0);
    assert_int_equal(p->idle_action, VG_IDLE_SHUTDOWN);
    assert_int_equal(p->idle_minutes, 15);
    assert_int_equal(p->members->len, 2);
    assert_string_equal(((vg_store_pool_member *)p->members->pdata[0])->vm, "a1");
    assert_string_equal(((vg_store_pool_member *)p->members->pdata[1])->vm, "b1");
    vg_store_pool_free(p);

    assert_int_equal(vg_store_pool_set_policy(f->store, "lab", VG_IDLE_NONE, 42, true), 0);
    assert_int_equal(vg_store_pool_get(f->store, "lab", &p), 0);
    assert_int_equal(p->idle_action, VG_IDLE_NONE);
    assert_int_equal(p->idle_minutes, 0);
    assert_true(p->assign_on_first_login);
    vg_store_pool_free(p);
    assert_int_equal(vg_store_pool_set_policy(f->store, "nope", VG_IDLE_NONE, 0, true), -ENOENT);

    assert_int_equal(vg_store_pool_list(f->store, &a), 0);
    assert_int_equal(a->len, 2);
    assert_string_equal(((vg_store_pool *)a->pdata[0])->name, "lab");
    assert_int_equal(((vg_store_pool *)a->pdata[0])->members->len, 2);
    assert_string_equal(((vg_store_pool *)a->pdata[1])->name, "other");
    assert_int_equal(((vg_store_pool *)a->pdata[1])->members->len, 0);
    g_ptr_array_unref(a);
    assert_int_equal(vg_store_pool_get(f->store, "nope", &p), -ENOENT);
}

static void test_store_pool_delete_cascades(void **state)
{
    fixture *f = *state;

    add_user(f, "alice");
    assert_int_equal(vg_store_pool_create(f->store, "lab", VG_IDLE_NONE, 0, true), 0);
    assert_int_equal(vg_store_pool_add_vm(f->store, "lab", "lab1"), 0);
    assert_int_equal(vg_store_entitle(f->store, "alice", "lab"), 0);
    assert_int_equal(vg_store_sticky_set(f->store, "lab", "lab1", "alice"), 0);
    assert_int_equal(vg_store_pool_del(f->store, "lab"), 0);
    assert_int_equal(vg_store_pool_del(f->store, "lab"), -ENOENT);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM pool_members"), 0);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM entitlements"), 0);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM sticky"), 0);
    /* Its VM may join another pool now. */
    assert_int_equal(vg_store_pool_create(f->store, "lab2", VG_IDLE_NONE, 0, false), 0);
    assert_int_equal(vg_store_pool_add_vm(f->store, "lab2", "lab1"), 0);
}

static void test_store_entitlement_errors(void **state)
{
    fixture *f = *state;
    GPtrArray *a = NULL;

    add_user(f, "alice");
    assert_int_equal(vg_store_pool_create(f->store, "lab", VG_IDLE_NONE, 0, false), 0);
    assert_int_equal(vg_store_entitle(f->store, "nobody", "lab"), -ENOENT);
    assert_int_equal(vg_store_entitle(f->store, "alice", "nope"), -ENOENT);
    assert_int_equal(vg_store_entitle(f->store, "alice", "lab"), 0);
    assert_int_equal(vg_store_entitle(f->store, "alice", "lab"), -EEXIST);
    assert_int_equal(vg_store_entitlements_for_user(f->store, "nobody", &a), -ENOENT);
    assert_int_equal(vg_store_unentitle(f->store, "alice", "lab"), 0);
    assert_int_equal(vg_store_unentitle(f->store, "alice", "lab"), -ENOENT);
}

/* ---- sticky ---- */

static void test_store_sticky_holds_one_vm_per_user_and_pool(void **state)
{
    fixture *f = *state;
    char *vm = NULL;

    add_user(f, "alice");
    add_user(f, "bob");
    assert_int_equal(vg_store_pool_create(f->store, "lab", VG_IDLE_NONE, 0, true), 0);
    assert_int_equal(vg_store_pool_add_vm(f->store, "lab", "lab1"), 0);
    assert_int_equal(vg_store_pool_add_vm(f->store, "lab", "lab2"), 0);

    assert_int_equal(vg_store_sticky_get(f->store, "lab", "alice", &vm), -ENOENT);
    assert_int_equal(vg_store_sticky_set(f->store, "lab", "lab1", "alice"), 0);
    assert_int_equal(vg_store_sticky_set(f->store, "lab", "lab1", "alice"), 0); /* idempotent */
    assert_int_equal(vg_store_sticky_set(f->store, "lab", "lab1", "bob"), -EEXIST);
    assert_int_equal(vg_store_sticky_set(f->store, "lab", "lab2", "alice"), -EEXIST);
    assert_int_equal(vg_store_sticky_set(f->store, "lab", "lab9", "bob"), -ENOENT);
    assert_int_equal(vg_store_sticky_set(f->store, "nope", "lab2", "bob"), -ENOENT);
    assert_int_equal(vg_store_sticky_set(f->store, "lab", "lab2", "nobody"), -ENOENT);
    assert_int_equal(vg_store_sticky_set(f->store, "lab", "lab2", "bob"), 0);

    assert_int_equal(vg_store_sticky_get(f->store, "lab", "alice", &vm), 0);
    assert_string_equal(vm, "lab1");
    g_free(vm);

    assert_int_equal(vg_store_sticky_clear(f->store, "lab", "lab1"), 0);
    assert_int_equal(vg_store_sticky_clear(f->store, "lab", "lab1"), -ENOENT);
    assert_int_equal(vg_store_sticky_get(f->store, "lab", "alice", &vm), -ENOENT);
}

static void test_store_sticky_released_with_member_or_entitlement(void **state)
{
    fixture *f = *state;
    vg_store_pool *p = NULL;
    char *vm = NULL;

    add_user(f, "alice");
    add_user(f, "bob");
    assert_int_equal(vg_store_pool_create(f->store, "lab", VG_IDLE_NONE, 0, true), 0);
    assert_int_equal(vg_store_pool_add_vm(f->store, "lab", "lab1"), 0);
    assert_int_equal(vg_store_pool_add_vm(f->store, "lab", "lab2"), 0);
    assert_int_equal(vg_store_entitle(f->store, "alice", "lab"), 0);
    assert_int_equal(vg_store_entitle(f->store, "bob", "lab"), 0);
    assert_int_equal(vg_store_sticky_set(f->store, "lab", "lab1", "alice"), 0);
    assert_int_equal(vg_store_sticky_set(f->store, "lab", "lab2", "bob"), 0);

    assert_int_equal(vg_store_pool_get(f->store, "lab", &p), 0);
    assert_string_equal(((vg_store_pool_member *)p->members->pdata[0])->sticky_user, "alice");
    assert_string_equal(((vg_store_pool_member *)p->members->pdata[1])->sticky_user, "bob");
    vg_store_pool_free(p);

    assert_int_equal(vg_store_pool_remove_vm(f->store, "lab", "lab1"), 0);
    assert_int_equal(vg_store_sticky_get(f->store, "lab", "alice", &vm), -ENOENT);
    assert_int_equal(vg_store_unentitle(f->store, "bob", "lab"), 0);
    assert_int_equal(vg_store_sticky_get(f->store, "lab", "bob", &vm), -ENOENT);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM sticky"), 0);
}

#define HASH_A "0123456789abcdef0123456789abcdef"

static vg_store_grant grant(const char *id, const char *user, const char *instance)
{
    return (vg_store_grant){.id = id,
                            .user = user,
                            .vm = "vm-b",
                            .instance = instance,
                            .secret_hash = HASH_A,
                            .ttl_ms = 30000};
}

/* ---- PostgreSQL only ---- */

/* Two store handles (two connections, as two vmgated would have) race for one pool VM. */
typedef struct racer {
    vg_store *store;
    const char *user;
    gint *go;
    int result;
    const char *vm;
} racer;

static gpointer race(gpointer data)
{
    racer *r = data;

    while (!g_atomic_int_get(r->go))
        ;
    r->result = vg_store_sticky_set(r->store, "lab", r->vm ? r->vm : "lab1", r->user);
    return NULL;
}

/* Two racers at once; returns which one won (exactly one must). */
static int race_two(racer r[2])
{
    gint go = 0;
    GThread *t[2];

    for (int k = 0; k < 2; k++) {
        r[k].go = &go;
        t[k] = g_thread_new("racer", race, &r[k]);
    }
    g_atomic_int_set(&go, 1);
    for (int k = 0; k < 2; k++)
        g_thread_join(t[k]);
    /* Exactly one holds it; the other is told it is taken. */
    assert_true((r[0].result == 0 && r[1].result == -EEXIST) ||
                (r[0].result == -EEXIST && r[1].result == 0));
    return r[0].result == 0 ? 0 : 1;
}

static void test_store_pg_concurrent_claims_have_one_winner(void **state)
{
    fixture *f = *state;
    vg_store *other = NULL;
    int wins[2] = {0, 0};

    assert_int_equal(open_store(f, &other), 0);
    add_user(f, "u0");
    add_user(f, "u1");
    assert_int_equal(vg_store_pool_create(f->store, "lab", VG_IDLE_NONE, 0, true), 0);
    assert_int_equal(vg_store_pool_add_vm(f->store, "lab", "lab1"), 0);
    for (int i = 0; i < 100; i++) {
        racer r[2] = {{f->store, "u0", NULL, 1, NULL}, {other, "u1", NULL, 1, NULL}};
        int winner = race_two(r);
        char *vm = NULL;

        wins[winner]++;
        assert_int_equal(raw_count(f, "SELECT count(*) FROM sticky"), 1);
        assert_int_equal(vg_store_sticky_get(other, "lab", r[winner].user, &vm), 0);
        assert_string_equal(vm, "lab1");
        g_free(vm);
        assert_int_equal(vg_store_sticky_clear(f->store, "lab", "lab1"), 0);
    }
    /* One user logging in on two instances at once, each choosing a different free VM: the
     * user ends up holding one VM of the pool, not two. */
    assert_int_equal(vg_store_pool_add_vm(f->store, "lab", "lab2"), 0);
    for (int i = 0; i < 50; i++) {
        racer r[2] = {{f->store, "u0", NULL, 1, "lab1"}, {other, "u0", NULL, 1, "lab2"}};
        int winner = race_two(r);

        assert_int_equal(raw_count(f, "SELECT count(*) FROM sticky"), 1);
        assert_int_equal(vg_store_sticky_clear(f->store, "lab", r[winner].vm), 0);
    }
    vg_store_close(other);
    /* Not a test of fairness; only that both sides really raced. */
    print_message("claims won: %d and %d\n", wins[0], wins[1]);
}

/* Two instances taking one grant at once (a replayed redirection): one gets it. */
typedef struct grant_taker {
    vg_store *store;
    gint *go;
    int r;
} grant_taker;

static gpointer take_grant(gpointer data)
{
    grant_taker *t = data;
    char *vm = NULL, *hash = NULL;

    while (!g_atomic_int_get(t->go))
        ;
    t->r = vg_store_grant_take(t->store, "00aa00aa00aa00aa", "gw-b", "alice", &vm, &hash);
    g_free(vm);
    g_free(hash);
    return NULL;
}

static void test_store_pg_concurrent_grant_takers_have_one_winner(void **state)
{
    fixture *f = *state;
    vg_store *other = NULL;

    assert_int_equal(open_store(f, &other), 0);
    for (int i = 0; i < 50; i++) {
        vg_store_grant g = grant("00aa00aa00aa00aa", "alice", "gw-b");
        gint go = 0;
        grant_taker t[2] = {{f->store, &go, 1}, {other, &go, 1}};
        GThread *th[2];

        assert_int_equal(vg_store_grant_add(f->store, &g), 0);
        for (int k = 0; k < 2; k++)
            th[k] = g_thread_new("taker", take_grant, &t[k]);
        g_atomic_int_set(&go, 1);
        for (int k = 0; k < 2; k++)
            g_thread_join(th[k]);
        assert_true((t[0].r == 0 && t[1].r == -ENOENT) || (t[0].r == -ENOENT && t[1].r == 0));
        assert_int_equal(raw_count(f, "SELECT count(*) FROM grants"), 0);
    }
    vg_store_close(other);
}

/* Two instances starting at once on an empty database: one migrates, the other waits. */
static gpointer open_in_thread(gpointer data)
{
    fixture *f = data;
    vg_store *s = NULL;
    int r = open_store(f, &s);

    vg_store_close(s);
    return GINT_TO_POINTER(r);
}

static void test_store_pg_instances_starting_together_migrate_once(void **state)
{
    fixture *f = *state;

    for (int i = 0; i < 5; i++) {
        GThread *t[3];

        vg_store_close(f->store);
        f->store = NULL;
        pg_exec(pg.dsn, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
        for (int k = 0; k < 3; k++)
            t[k] = g_thread_new("opener", open_in_thread, f);
        for (int k = 0; k < 3; k++)
            assert_int_equal(GPOINTER_TO_INT(g_thread_join(t[k])), 0);
        assert_int_equal(raw_version(f), vg_store_schema_latest);
        assert_int_equal(open_store(f, &f->store), 0);
    }
}

static int64_t elapsed_ms(int64_t since_us)
{
    return (g_get_monotonic_time() - since_us) / 1000;
}

/* The server stopped under the store: clear errors, quickly; then it works again. */
static void test_store_pg_survives_a_server_restart(void **state)
{
    fixture *f = *state;
    GPtrArray *a = NULL;
    vg_store_user *u = NULL;
    int64_t t0;
    int r;

    add_user(f, "alice");
    g_free(pgcluster("stop"));

    t0 = g_get_monotonic_time();
    r = vg_store_user_list(f->store, &a);
    assert_int_equal(r, -ECONNREFUSED);
    r = vg_store_user_add(f->store, "bob", HASH, NULL);
    assert_int_equal(r, -ECONNREFUSED);
    r = vg_store_user_get(f->store, "alice", &u);
    assert_int_equal(r, -ECONNREFUSED);
    assert_int_equal(vg_store_ping(f->store), -ECONNREFUSED); /* what /readyz asks */
    assert_true(elapsed_ms(t0) < 10000);

    g_free(pgcluster("start"));
    assert_int_equal(vg_store_ping(f->store), 0);
    /* The next calls after the restart work. */
    assert_int_equal(vg_store_user_get(f->store, "alice", &u), 0);
    vg_store_user_free(u);
    assert_int_equal(vg_store_user_add(f->store, "bob", HASH, NULL), 0);
    assert_int_equal(vg_store_user_list(f->store, &a), 0);
    assert_int_equal(a->len, 2); /* what was acknowledged before is there; the refused add is not */
    g_ptr_array_unref(a);

    /* A restart between two calls: the next call (a mutation, even) reconnects by itself. */
    g_free(pgcluster("stop"));
    g_free(pgcluster("start"));
    assert_int_equal(vg_store_user_set_disabled(f->store, "bob", true), 0);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM users WHERE disabled = 1"), 1);
}

static void test_store_pg_unreachable_server_fails_in_bounded_time(void **state)
{
    fixture *f = *state;
    /* A port nothing listens on, then an address nothing answers (TEST-NET-1). */
    static const char *const dsns[] = {
        "host=127.0.0.1 port=1 dbname=x user=vmgate sslmode=disable",
        "host=192.0.2.1 port=5432 dbname=x user=vmgate connect_timeout=2",
    };

    (void)f;
    for (size_t i = 0; i < G_N_ELEMENTS(dsns); i++) {
        vg_store_options o = {.backend = VG_STORE_POSTGRESQL, .dsn = dsns[i]};
        vg_store *s = NULL;
        int64_t t0 = g_get_monotonic_time();

        assert_int_equal(vg_store_open_with(&o, &s), -ECONNREFUSED);
        assert_null(s);
        assert_true(elapsed_ms(t0) < 5000);
    }
}

static void test_store_pg_password_file_and_wrong_password(void **state)
{
    fixture *f = *state;
    g_autofree char *wrong = g_build_filename(f->dir, "wrong", NULL);
    g_autofree char *open_file = g_build_filename(f->dir, "world-readable", NULL);
    g_autofree char *missing = g_build_filename(f->dir, "missing", NULL);
    g_autofree char *right = NULL;
    vg_store_options o = store_options(f);
    vg_store *s = NULL;

    /* Not from anywhere else: no ~/.pgpass, no PGPASSWORD. */
    g_setenv("PGPASSFILE", "/nonexistent", TRUE);
    g_unsetenv("PGPASSWORD");

    assert_true(g_file_set_contents(wrong, "not-the-password\n", -1, NULL));
    assert_int_equal(chmod(wrong, 0600), 0);
    o.password_file = wrong;
    assert_int_equal(vg_store_open_with(&o, &s), -EACCES);
    assert_null(s);

    /* A password file others may read is refused before anything is sent. */
    assert_true(g_file_set_contents(open_file, "whatever\n", -1, NULL));
    assert_int_equal(chmod(open_file, 0644), 0);
    o.password_file = open_file;
    assert_int_equal(vg_store_open_with(&o, &s), -EACCES);

    o.password_file = missing;
    assert_int_equal(vg_store_open_with(&o, &s), -ENOENT);

    /* No password at all: the server asks for one. */
    o.password_file = NULL;
    assert_int_equal(vg_store_open_with(&o, &s), -EACCES);

    /* The right one works, also from a file its group may read (mode 0640). */
    assert_true(g_file_get_contents(pg.password_file, &right, NULL, NULL));
    assert_true(g_file_set_contents(wrong, right, -1, NULL));
    assert_int_equal(chmod(wrong, 0640), 0);
    o.password_file = wrong;
    assert_int_equal(vg_store_open_with(&o, &s), 0);
    vg_store_close(s);

    g_unlink(wrong);
    g_unlink(open_file);
}

static void test_store_pg_refuses_bad_dsn(void **state)
{
    vg_store_options o = {.backend = VG_STORE_POSTGRESQL, .dsn = "host=x password"};
    vg_store *s = NULL;

    (void)state;
    assert_int_equal(vg_store_open_with(&o, &s), -EINVAL);
    o.dsn = NULL;
    assert_int_equal(vg_store_open_with(&o, &s), -EINVAL);
    assert_null(s);
}

/* Names sort by their bytes on both back ends, whatever the database's collation. */
/* ---- instances and placements ---- */

static void register_instance(fixture *f, const char *name, const char *address, unsigned vnc,
                              unsigned rdp, unsigned web)
{
    vg_store_instance_info info = {name, address, vnc, rdp, web};
    assert_int_equal(vg_store_instance_register(f->store, &info), 0);
}

static vg_store_instance *instance_at(GPtrArray *a, guint i)
{
    assert_true(i < a->len);
    return g_ptr_array_index(a, i);
}

static vg_store_placement *placement_at(GPtrArray *a, guint i)
{
    assert_true(i < a->len);
    return g_ptr_array_index(a, i);
}

/* A GPtrArray of placements to set, from "vm", "state" pairs ending with NULL. */
static GPtrArray *placements(const char *vm, ...)
{
    GPtrArray *a = g_ptr_array_new_with_free_func((GDestroyNotify)vg_store_placement_free);
    va_list ap;

    va_start(ap, vm);
    for (; vm; vm = va_arg(ap, const char *)) {
        vg_store_placement *p = g_new0(vg_store_placement, 1);
        p->vm = g_strdup(vm);
        p->state = g_strdup(va_arg(ap, const char *));
        g_ptr_array_add(a, p);
    }
    va_end(ap);
    return a;
}

static void test_store_instances_register_beat_and_stop(void **state)
{
    fixture *f = *state;
    g_autoptr(GPtrArray) a = NULL;
    vg_store_instance_info bad = {"-x", "gw", 1, 2, 3};
    vg_store_instance *i;

    register_instance(f, "gw-b", "127.0.0.12", 5900, 3389, 0);
    register_instance(f, "gw-a", "127.0.0.11", 5900, 0, 8443);
    assert_int_equal(vg_store_instance_list(f->store, 60000, &a), 0);
    assert_int_equal(a->len, 2);
    i = instance_at(a, 0);
    assert_string_equal(i->name, "gw-a");
    assert_string_equal(i->address, "127.0.0.11");
    assert_int_equal(i->vnc_port, 5900);
    assert_int_equal(i->rdp_port, 0);
    assert_int_equal(i->web_port, 8443);
    assert_true(i->up);
    assert_false(i->stopped);
    assert_true(i->started > 0 && i->heartbeat >= i->started);
    assert_true(i->age_ms >= 0 && i->age_ms < 60000);
    assert_int_equal(i->vms, 0);
    assert_string_equal(instance_at(a, 1)->name, "gw-b");
    g_clear_pointer(&a, g_ptr_array_unref);

    /* Nothing is younger than no time at all. */
    assert_int_equal(vg_store_instance_list(f->store, 0, &a), 0);
    assert_false(instance_at(a, 0)->up);
    assert_false(instance_at(a, 1)->up);
    g_clear_pointer(&a, g_ptr_array_unref);

    /* A clean exit: stopped, whatever its heartbeat's age; a heartbeat brings it back. */
    assert_int_equal(vg_store_instance_stop(f->store, "gw-a"), 0);
    assert_int_equal(vg_store_instance_list(f->store, 60000, &a), 0);
    assert_true(instance_at(a, 0)->stopped);
    assert_false(instance_at(a, 0)->up);
    assert_true(instance_at(a, 1)->up);
    g_clear_pointer(&a, g_ptr_array_unref);
    assert_int_equal(vg_store_instance_heartbeat(f->store, "gw-a"), 0);
    /* Registering again replaces the address and ports. */
    register_instance(f, "gw-b", "gw-b.example.org", 5901, 0, 0);
    assert_int_equal(vg_store_instance_list(f->store, 60000, &a), 0);
    assert_true(instance_at(a, 0)->up);
    assert_false(instance_at(a, 0)->stopped);
    i = instance_at(a, 1);
    assert_string_equal(i->address, "gw-b.example.org");
    assert_int_equal(i->vnc_port, 5901);
    assert_int_equal(i->rdp_port, 0);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM instances"), 2);

    assert_int_equal(vg_store_instance_heartbeat(f->store, "gw-c"), -ENOENT);
    assert_int_equal(vg_store_instance_stop(f->store, "gw-c"), -ENOENT);
    assert_int_equal(vg_store_instance_heartbeat(f->store, "-x"), -EINVAL);
    assert_int_equal(vg_store_instance_register(f->store, &bad), -EINVAL);
    bad = (vg_store_instance_info){"gw-c", "", 1, 2, 3};
    assert_int_equal(vg_store_instance_register(f->store, &bad), -EINVAL);
    bad = (vg_store_instance_info){"gw-c", "gw-c", 65536, 2, 3};
    assert_int_equal(vg_store_instance_register(f->store, &bad), -EINVAL);
    if (backend == VG_STORE_POSTGRESQL) /* the times are the server's clock */
        assert_int_equal(raw_count(f, "SELECT count(*) FROM instances "
                                      "WHERE abs(vg_now_ms() - heartbeat) < 60000"),
                         2);
}

static void test_store_placements_follow_their_instance(void **state)
{
    fixture *f = *state;
    g_autoptr(GPtrArray) a = NULL, set = NULL, removed = NULL;
    vg_store_placement *p;

    register_instance(f, "gw-a", "127.0.0.11", 5900, 3389, 8443);
    register_instance(f, "gw-b", "127.0.0.12", 5900, 3389, 8443);
    set = placements("vm1", "running", "vm2", "shut off", "vm3", "running", NULL);
    assert_int_equal(vg_store_placement_replace(f->store, "gw-a", set), 0);
    g_clear_pointer(&set, g_ptr_array_unref);

    /* A diff: vm2 changed, vm4 is new, vm1 went. */
    set = placements("vm2", "running", "vm4", "paused", NULL);
    removed = g_ptr_array_new();
    g_ptr_array_add(removed, "vm1");
    assert_int_equal(vg_store_placement_update(f->store, "gw-a", set, removed), 0);
    g_clear_pointer(&set, g_ptr_array_unref);

    /* vm3 moves to gw-b; gw-a removing it later does not take it from gw-b. */
    set = placements("vm3", "running", "vm5", "running", NULL);
    assert_int_equal(vg_store_placement_replace(f->store, "gw-b", set), 0);
    g_clear_pointer(&set, g_ptr_array_unref);
    g_ptr_array_set_size(removed, 0);
    g_ptr_array_add(removed, "vm3");
    assert_int_equal(vg_store_placement_update(f->store, "gw-a", NULL, removed), 0);

    assert_int_equal(vg_store_placement_list(f->store, 60000, &a), 0);
    assert_int_equal(a->len, 4);
    p = placement_at(a, 0);
    assert_string_equal(p->vm, "vm2");
    assert_string_equal(p->instance, "gw-a");
    assert_string_equal(p->state, "running");
    assert_true(p->updated > 0);
    assert_true(p->instance_up);
    assert_string_equal(placement_at(a, 1)->vm, "vm3");
    assert_string_equal(placement_at(a, 1)->instance, "gw-b");
    assert_string_equal(placement_at(a, 2)->vm, "vm4");
    assert_string_equal(placement_at(a, 2)->state, "paused");
    assert_string_equal(placement_at(a, 3)->vm, "vm5");
    g_clear_pointer(&a, g_ptr_array_unref);
    assert_int_equal(vg_store_instance_list(f->store, 60000, &a), 0);
    assert_int_equal(instance_at(a, 0)->vms, 2);
    assert_int_equal(instance_at(a, 1)->vms, 2);
    g_clear_pointer(&a, g_ptr_array_unref);

    /* Replacing with nothing empties an instance's placements only. */
    assert_int_equal(vg_store_placement_replace(f->store, "gw-a", NULL), 0);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM placements"), 2);

    /* An instance that is not registered holds nothing. */
    set = placements("vm9", "running", NULL);
    assert_int_equal(vg_store_placement_replace(f->store, "gw-c", set), -ENOENT);
    assert_int_equal(vg_store_placement_update(f->store, "gw-c", set, NULL), -ENOENT);
    assert_int_equal(vg_store_placement_replace(f->store, "-x", set), -EINVAL);
    g_clear_pointer(&set, g_ptr_array_unref);
    set = placements("a/b", "running", NULL);
    assert_int_equal(vg_store_placement_replace(f->store, "gw-a", set), -EINVAL);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM placements"), 2);
}

/* An instance that stopped beating (killed, its host gone) is down; its VMs with it. */
static void test_store_instance_down_when_its_heartbeat_is_old(void **state)
{
    fixture *f = *state;
    g_autoptr(GPtrArray) a = NULL, set = NULL;

    register_instance(f, "gw-a", "127.0.0.11", 5900, 3389, 8443);
    register_instance(f, "gw-b", "127.0.0.12", 5900, 3389, 8443);
    set = placements("vm-a", "running", NULL);
    assert_int_equal(vg_store_placement_replace(f->store, "gw-a", set), 0);
    g_clear_pointer(&set, g_ptr_array_unref);
    set = placements("vm-b", "running", NULL);
    assert_int_equal(vg_store_placement_replace(f->store, "gw-b", set), 0);
    /* gw-b's last heartbeat, 10 s ago by the database's clock. */
    raw_exec(f, "UPDATE instances SET heartbeat = heartbeat - 10000 WHERE name = 'gw-b'");

    assert_int_equal(vg_store_instance_list(f->store, VG_STORE_INSTANCE_DOWN_MS, &a), 0);
    assert_true(instance_at(a, 0)->up);
    assert_false(instance_at(a, 1)->up);
    assert_false(instance_at(a, 1)->stopped);
    assert_true(instance_at(a, 1)->age_ms >= 10000);
    g_clear_pointer(&a, g_ptr_array_unref);
    assert_int_equal(vg_store_placement_list(f->store, VG_STORE_INSTANCE_DOWN_MS, &a), 0);
    assert_int_equal(a->len, 2);
    assert_true(placement_at(a, 0)->instance_up);
    assert_string_equal(placement_at(a, 1)->vm, "vm-b");
    assert_false(placement_at(a, 1)->instance_up);
    assert_string_equal(placement_at(a, 1)->state, "running"); /* as last seen: not "stopped" */
    g_clear_pointer(&a, g_ptr_array_unref);

    /* It beats again: up, and its VMs with it. */
    assert_int_equal(vg_store_instance_heartbeat(f->store, "gw-b"), 0);
    assert_int_equal(vg_store_placement_list(f->store, VG_STORE_INSTANCE_DOWN_MS, &a), 0);
    assert_true(placement_at(a, 1)->instance_up);
}

static void test_store_grants_are_used_once_by_their_user_on_their_instance(void **state)
{
    fixture *f = *state;
    vg_store_grant g = grant("0a1b2c3d4e5f6a7b", "alice", "gw-b");
    char *vm = NULL, *hash = NULL;

    assert_int_equal(vg_store_grant_add(f->store, &g), 0);
    assert_int_equal(vg_store_grant_add(f->store, &g), -EEXIST);
    /* Someone else, or elsewhere: no grant, and it stays for its own. */
    assert_int_equal(vg_store_grant_take(f->store, g.id, "gw-b", "bob", &vm, &hash), -ENOENT);
    assert_int_equal(vg_store_grant_take(f->store, g.id, "gw-c", "alice", &vm, &hash), -ENOENT);
    assert_int_equal(vg_store_grant_take(f->store, "ffffffffffffffff", "gw-b", "alice", &vm,
                                         &hash),
                     -ENOENT);
    assert_null(vm);
    assert_int_equal(vg_store_grant_take(f->store, g.id, "gw-b", "alice", &vm, &hash), 0);
    assert_string_equal(vm, "vm-b");
    assert_string_equal(hash, HASH_A);
    g_free(vm);
    g_free(hash);
    vm = hash = NULL;
    /* Once. */
    assert_int_equal(vg_store_grant_take(f->store, g.id, "gw-b", "alice", &vm, &hash), -ENOENT);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM grants"), 0);

    /* Expired: refused, and forgotten by the next grant added. */
    g = grant("1111222233334444", "alice", "gw-b");
    assert_int_equal(vg_store_grant_add(f->store, &g), 0);
    raw_exec(f, "UPDATE grants SET expires = 1"); /* long ago */
    assert_int_equal(vg_store_grant_take(f->store, g.id, "gw-b", "alice", &vm, &hash), -ENOENT);
    g = grant("5555666677778888", "bob", "gw-a");
    assert_int_equal(vg_store_grant_add(f->store, &g), 0);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM grants"), 1);

    /* What the store refuses to keep. */
    g = grant("", "alice", "gw-b");
    assert_int_equal(vg_store_grant_add(f->store, &g), -EINVAL);
    g = grant("not-hex!", "alice", "gw-b");
    assert_int_equal(vg_store_grant_add(f->store, &g), -EINVAL);
    g = grant("abc", "-alice", "gw-b");
    assert_int_equal(vg_store_grant_add(f->store, &g), -EINVAL);
    g = grant("abc", "alice", "gw-b");
    g.secret_hash = "0123";
    assert_int_equal(vg_store_grant_add(f->store, &g), -EINVAL);
    g = grant("abc", "alice", "gw-b");
    g.ttl_ms = 0;
    assert_int_equal(vg_store_grant_add(f->store, &g), -EINVAL);
    g.ttl_ms = 600001;
    assert_int_equal(vg_store_grant_add(f->store, &g), -EINVAL);
    assert_int_equal(vg_store_grant_take(f->store, "a b", "gw-b", "alice", &vm, &hash), -EINVAL);
}

/* The texts of a tail, joined with spaces. */
static char *audit_tail_text(fixture *f, unsigned n)
{
    g_autoptr(GPtrArray) a = NULL;
    GString *s = g_string_new(NULL);

    assert_int_equal(vg_store_audit_tail(f->store, n, &a), 0);
    for (guint i = 0; i < a->len; i++)
        g_string_append_printf(s, "%s%s", i ? " " : "", (const char *)a->pdata[i]);
    return g_string_free(s, FALSE);
}

static void test_store_audit_tail_is_by_time_then_id(void **state)
{
    fixture *f = *state;
    const vg_store_audit_record a[] = {
        {"login_ok", "{\"r\":1}"}, {"admin", "{\"r\":2}"}, {"logout", "{\"r\":3}"}};
    const vg_store_audit_record b[] = {{"login_ok", "{\"r\":4}"}, {"logout", "{\"r\":5}"}};
    g_autofree char *all = NULL, *last3 = NULL, *none = NULL;

    assert_int_equal(vg_store_audit_append(f->store, "gw-a", a, G_N_ELEMENTS(a)), 0);
    assert_int_equal(vg_store_audit_append(f->store, "gw-b", b, G_N_ELEMENTS(b)), 0);
    assert_int_equal(vg_store_audit_append(f->store, "gw-b", NULL, 0), 0);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM audit WHERE instance = 'gw-b' AND "
                                  "event = 'logout' AND record = '{\"r\":5}'"),
                     1);
    /* One time for all but r2, which the store took later: time first, then the row id. */
    raw_exec(f, "UPDATE audit SET at = 1000");
    raw_exec(f, "UPDATE audit SET at = 2000 WHERE record = '{\"r\":2}'");
    all = audit_tail_text(f, 100);
    assert_string_equal(all, "{\"r\":1} {\"r\":3} {\"r\":4} {\"r\":5} {\"r\":2}");
    last3 = audit_tail_text(f, 3);
    assert_string_equal(last3, "{\"r\":4} {\"r\":5} {\"r\":2}");
    none = audit_tail_text(f, 0);
    assert_string_equal(none, "");
}

static void test_store_audit_tail_is_bounded(void **state)
{
    fixture *f = *state;
    g_autoptr(GPtrArray) a = NULL;

    raw_exec(f, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10005) "
                "INSERT INTO audit (at, instance, event, record) "
                "SELECT x, 'gw-a', 'e', '{\"n\":' || x || '}' FROM c");
    assert_int_equal(vg_store_audit_tail(f->store, 20000, &a), 0);
    assert_int_equal(a->len, VG_STORE_AUDIT_TAIL_MAX);
    assert_string_equal(a->pdata[0], "{\"n\":6}");
    assert_string_equal(a->pdata[a->len - 1], "{\"n\":10005}");
}

static void test_store_audit_refuses_bad_records(void **state)
{
    fixture *f = *state;
    g_autofree char *huge = g_strnfill(VG_STORE_AUDIT_RECORD_MAX + 1, 'x');
    g_autofree char *long_event = g_strnfill(VG_STORE_AUDIT_EVENT_MAX + 1, 'e');
    g_autofree vg_store_audit_record *many =
        g_new0(vg_store_audit_record, VG_STORE_AUDIT_BATCH_MAX + 1);
    const vg_store_audit_record bad[][2] = {
        {{"login_ok", "{}"}, {"", "{}"}},
        {{"login_ok", "{}"}, {"two words", "{}"}},
        {{"login_ok", "{}"}, {long_event, "{}"}},
        {{"login_ok", "{}"}, {"logout", ""}},
        {{"login_ok", "{}"}, {"logout", huge}},
        {{"login_ok", "{}"}, {"logout", "{\"u\":\"\xff\"}"}},
        {{"login_ok", "{}"}, {NULL, "{}"}},
        {{"login_ok", "{}"}, {"logout", NULL}},
    };
    const vg_store_audit_record good = {"login_ok", "{}"};

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        assert_int_equal(vg_store_audit_append(f->store, "gw-a", bad[i], 2), -EINVAL);
    assert_int_equal(vg_store_audit_append(f->store, "-bad", &good, 1), -EINVAL);
    assert_int_equal(vg_store_audit_append(f->store, NULL, &good, 1), -EINVAL);
    for (size_t i = 0; i <= VG_STORE_AUDIT_BATCH_MAX; i++)
        many[i] = good;
    assert_int_equal(vg_store_audit_append(f->store, "gw-a", many, VG_STORE_AUDIT_BATCH_MAX + 1),
                     -EINVAL);
    /* A batch is written whole or not at all: the good first records of the bad ones are not. */
    assert_int_equal(raw_count(f, "SELECT count(*) FROM audit"), 0);
    assert_int_equal(vg_store_audit_append(f->store, "gw-a", many, VG_STORE_AUDIT_BATCH_MAX), 0);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM audit"), VG_STORE_AUDIT_BATCH_MAX);
}

/* ---- live viewers of every instance ---- */

static vg_store_viewer *viewer_new(const char *id, const char *session, const char *vm,
                                   const char *user, vg_role role)
{
    vg_store_viewer *v = g_new0(vg_store_viewer, 1);

    v->id = g_strdup(id);
    v->session = g_strdup(session);
    v->vm = g_strdup(vm);
    v->user = g_strdup(user);
    v->protocol = g_strdup("vnc");
    v->address = g_strdup("192.0.2.7");
    v->role = role;
    v->since = 1700000000;
    return v;
}

static GPtrArray *viewer_set(void)
{
    return g_ptr_array_new_with_free_func((GDestroyNotify)vg_store_viewer_free);
}

static vg_store_viewer *viewer_at(GPtrArray *a, guint i)
{
    assert_true(i < a->len);
    return g_ptr_array_index(a, i);
}

static void test_store_viewers_follow_their_instance(void **state)
{
    fixture *f = *state;
    g_autoptr(GPtrArray) a = NULL, set = viewer_set(), removed = g_ptr_array_new();
    vg_store_viewer *v;

    register_instance(f, "gw-a", "127.0.0.11", 5900, 3389, 8443);
    register_instance(f, "gw-b", "127.0.0.12", 5900, 3389, 8443);
    g_ptr_array_add(set, viewer_new("v1", "s1", "vm1", "alice", VG_ROLE_OWNER));
    g_ptr_array_add(set, viewer_new("v2", "s1", "vm1", "bob", VG_ROLE_OBSERVER));
    assert_int_equal(vg_store_viewer_replace(f->store, "gw-a", set), 0);
    g_ptr_array_set_size(set, 0);
    g_ptr_array_add(set, viewer_new("v1", "s1", "vm-b", "carol", VG_ROLE_CONTROLLER));
    assert_int_equal(vg_store_viewer_replace(f->store, "gw-b", set), 0);

    /* A diff: bob's role changed, v10 is new (sorted after v2, not before), v1 left. */
    g_ptr_array_set_size(set, 0);
    g_ptr_array_add(set, viewer_new("v2", "s1", "vm1", "bob", VG_ROLE_CONTROLLER));
    g_ptr_array_add(set, viewer_new("v10", "s1", "vm1", "dave", VG_ROLE_OBSERVER));
    g_ptr_array_add(removed, "v1");
    assert_int_equal(vg_store_viewer_update(f->store, "gw-a", set, removed), 0);

    assert_int_equal(vg_store_viewer_list(f->store, 60000, &a), 0);
    assert_int_equal(a->len, 3);
    v = viewer_at(a, 0);
    assert_string_equal(v->instance, "gw-a");
    assert_string_equal(v->id, "v2");
    assert_string_equal(v->session, "s1");
    assert_string_equal(v->vm, "vm1");
    assert_string_equal(v->user, "bob");
    assert_string_equal(v->protocol, "vnc");
    assert_string_equal(v->address, "192.0.2.7");
    assert_int_equal(v->role, VG_ROLE_CONTROLLER);
    assert_int_equal(v->since, 1700000000);
    assert_true(v->instance_up);
    assert_string_equal(viewer_at(a, 1)->id, "v10");
    /* Ids are each instance's own: gw-b's v1 is not gw-a's. */
    assert_string_equal(viewer_at(a, 2)->instance, "gw-b");
    assert_string_equal(viewer_at(a, 2)->id, "v1");
    g_clear_pointer(&a, g_ptr_array_unref);

    /* An instance that stopped beating: its viewers are listed as not up. */
    raw_exec(f, "UPDATE instances SET heartbeat = heartbeat - 10000 WHERE name = 'gw-b'");
    assert_int_equal(vg_store_viewer_list(f->store, VG_STORE_INSTANCE_DOWN_MS, &a), 0);
    assert_true(viewer_at(a, 0)->instance_up);
    assert_false(viewer_at(a, 2)->instance_up);
    g_clear_pointer(&a, g_ptr_array_unref);

    /* Registering again (a restart) and stopping clear an instance's viewers, only its. */
    register_instance(f, "gw-b", "127.0.0.12", 5900, 3389, 8443);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM viewers WHERE instance = 'gw-b'"), 0);
    assert_int_equal(vg_store_instance_stop(f->store, "gw-a"), 0);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM viewers"), 0);

    /* Not registered, or a field the table would not hold. */
    assert_int_equal(vg_store_viewer_replace(f->store, "gw-c", set), -ENOENT);
    assert_int_equal(vg_store_viewer_update(f->store, "gw-c", set, NULL), -ENOENT);
    g_ptr_array_set_size(set, 0);
    g_ptr_array_add(set, viewer_new("v1", "s1", "vm1", "-bad", VG_ROLE_OWNER));
    assert_int_equal(vg_store_viewer_replace(f->store, "gw-b", set), -EINVAL);
    g_ptr_array_set_size(set, 0);
    g_ptr_array_add(set, viewer_new("v123456789012345678901234", "s1", "vm1", "al", VG_ROLE_OWNER));
    assert_int_equal(vg_store_viewer_replace(f->store, "gw-b", set), -EINVAL);
    g_ptr_array_set_size(set, 0);
    g_ptr_array_add(set, viewer_new("v1", "s1", "a/b", "al", VG_ROLE_OWNER));
    assert_int_equal(vg_store_viewer_update(f->store, "gw-b", set, NULL), -EINVAL);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM viewers"), 0);
}

static void test_store_user_may_reach_by_assignment_or_pool_while_enabled(void **state)
{
    fixture *f = *state;
    bool yes = true;

    add_user(f, "alice");
    assert_int_equal(vg_store_assign(f->store, "alice", "vm1", VG_ROLE_OBSERVER), 0);
    assert_int_equal(vg_store_pool_create(f->store, "lab", VG_IDLE_NONE, 0, false), 0);
    assert_int_equal(vg_store_pool_add_vm(f->store, "lab", "lab1"), 0);

    assert_int_equal(vg_store_user_may_reach(f->store, "alice", "vm1", &yes), 0);
    assert_true(yes);
    assert_int_equal(vg_store_user_may_reach(f->store, "alice", "lab1", &yes), 0);
    assert_false(yes);
    assert_int_equal(vg_store_entitle(f->store, "alice", "lab"), 0);
    assert_int_equal(vg_store_user_may_reach(f->store, "alice", "lab1", &yes), 0);
    assert_true(yes);
    assert_int_equal(vg_store_unentitle(f->store, "alice", "lab"), 0);
    assert_int_equal(vg_store_user_may_reach(f->store, "alice", "lab1", &yes), 0);
    assert_false(yes);

    /* Disabled: nothing, whatever is assigned; enabled again: back. */
    assert_int_equal(vg_store_user_set_disabled(f->store, "alice", true), 0);
    assert_int_equal(vg_store_user_may_reach(f->store, "alice", "vm1", &yes), 0);
    assert_false(yes);
    assert_int_equal(vg_store_user_set_disabled(f->store, "alice", false), 0);
    yes = false;
    assert_int_equal(vg_store_user_may_reach(f->store, "alice", "vm1", &yes), 0);
    assert_true(yes);
    assert_int_equal(vg_store_unassign(f->store, "alice", "vm1"), 0);
    assert_int_equal(vg_store_user_may_reach(f->store, "alice", "vm1", &yes), 0);
    assert_false(yes);

    /* Unknown users reach nothing; bad names are refused. */
    yes = true;
    assert_int_equal(vg_store_user_may_reach(f->store, "nobody", "vm1", &yes), 0);
    assert_false(yes);
    assert_int_equal(vg_store_user_may_reach(f->store, "-x", "vm1", &yes), -EINVAL);
    assert_int_equal(vg_store_user_may_reach(f->store, "alice", "a/b", &yes), -EINVAL);
}

/* ---- the event bus ---- */

typedef struct received {
    GPtrArray *channels, *payloads; /* "(missed)" and NULL for a channel NULL */
} received;

static void on_notification(void *opaque, const char *channel, const char *payload)
{
    received *r = opaque;

    g_ptr_array_add(r->channels, g_strdup(channel ? channel : "(missed)"));
    g_ptr_array_add(r->payloads, g_strdup(payload));
}

static void received_init(received *r)
{
    r->channels = g_ptr_array_new_with_free_func(g_free);
    r->payloads = g_ptr_array_new_with_free_func(g_free);
}

static void received_clear(received *r)
{
    g_ptr_array_unref(r->channels);
    g_ptr_array_unref(r->payloads);
}

static void test_store_sqlite_has_no_bus(void **state)
{
    fixture *f = *state;
    received r;

    received_init(&r);
    assert_int_equal(vg_store_listen(f->store, "vmgate_kick"), -ENOTSUP);
    assert_int_equal(vg_store_notify(f->store, "vmgate_kick", "{}"), -ENOTSUP);
    assert_int_equal(vg_store_wait_notifications(f->store, -1, 10, on_notification, &r), -ENOTSUP);
    assert_int_equal(r.channels->len, 0);
    received_clear(&r);
}

/* A connection that listens gets what another sends, at once; bounds are checked first. */
static void test_store_pg_notify_reaches_a_listening_connection(void **state)
{
    fixture *f = *state;
    vg_store *listener = NULL;
    g_autofree char *big = g_malloc(VG_STORE_NOTIFY_PAYLOAD_MAX + 2);
    int wake[2];
    int64_t t0;
    received r;

    received_init(&r);
    assert_int_equal(open_store(f, &listener), 0);
    assert_int_equal(vg_store_listen(listener, "vg_test_a"), 0);
    assert_int_equal(vg_store_listen(listener, "vg_test_a"), 0); /* twice is once */

    assert_int_equal(vg_store_notify(f->store, "vg_test_b", "not listened to"), 0);
    assert_int_equal(vg_store_notify(f->store, "vg_test_a", "{\"id\":\"v1\"}"), 0);
    t0 = g_get_monotonic_time();
    while (r.channels->len == 0 && elapsed_ms(t0) < 5000)
        assert_int_equal(vg_store_wait_notifications(listener, -1, 1000, on_notification, &r), 0);
    assert_true(elapsed_ms(t0) < 1000);
    assert_int_equal(r.channels->len, 1);
    assert_string_equal(g_ptr_array_index(r.channels, 0), "vg_test_a");
    assert_string_equal(g_ptr_array_index(r.payloads, 0), "{\"id\":\"v1\"}");

    /* The longest payload goes through whole; one byte more is refused before sending. */
    memset(big, 'x', VG_STORE_NOTIFY_PAYLOAD_MAX);
    big[VG_STORE_NOTIFY_PAYLOAD_MAX] = '\0';
    assert_int_equal(vg_store_notify(f->store, "vg_test_a", big), 0);
    t0 = g_get_monotonic_time();
    while (r.channels->len == 1 && elapsed_ms(t0) < 5000)
        assert_int_equal(vg_store_wait_notifications(listener, -1, 1000, on_notification, &r), 0);
    assert_int_equal(r.channels->len, 2);
    assert_string_equal(g_ptr_array_index(r.payloads, 1), big);
    big[VG_STORE_NOTIFY_PAYLOAD_MAX] = 'x';
    big[VG_STORE_NOTIFY_PAYLOAD_MAX + 1] = '\0';
    assert_int_equal(vg_store_notify(f->store, "vg_test_a", big), -EMSGSIZE);
    assert_int_equal(vg_store_notify(f->store, "vg_test_a", "\xff"), -EINVAL);
    assert_int_equal(vg_store_notify(f->store, "Bad-Name", "x"), -EINVAL);
    assert_int_equal(vg_store_listen(listener, "a;DROP"), -EINVAL);
    assert_int_equal(vg_store_wait_notifications(listener, -1, 60001, on_notification, &r),
                     -EINVAL);

    /* Nothing comes: the wait ends at its timeout; a readable wake-up ends it at once. */
    t0 = g_get_monotonic_time();
    assert_int_equal(vg_store_wait_notifications(listener, -1, 200, on_notification, &r), 0);
    assert_true(elapsed_ms(t0) >= 150);
    assert_int_equal(pipe(wake), 0);
    assert_int_equal(write(wake[1], "x", 1), 1);
    t0 = g_get_monotonic_time();
    assert_int_equal(vg_store_wait_notifications(listener, wake[0], 5000, on_notification, &r), 0);
    assert_true(elapsed_ms(t0) < 1000);
    assert_int_equal(r.channels->len, 2);
    close(wake[0]);
    close(wake[1]);
    vg_store_close(listener);
    received_clear(&r);
}

/* The server goes away: sending fails at once, the wait says the connection is gone; once the
 * server is back the connection listens again and says events may have been missed. */
static void test_store_pg_bus_outage_is_reported_and_recovered(void **state)
{
    fixture *f = *state;
    vg_store *listener = NULL;
    int64_t t0;
    received r;
    int rc = 0;

    received_init(&r);
    assert_int_equal(open_store(f, &listener), 0);
    vg_store_set_quiet(listener, true);
    assert_int_equal(vg_store_listen(listener, "vg_test_a"), 0);
    g_free(pgcluster("stop"));

    t0 = g_get_monotonic_time();
    assert_int_equal(vg_store_notify(f->store, "vg_test_a", "lost"), -ECONNREFUSED);
    while (rc == 0 && elapsed_ms(t0) < 5000)
        rc = vg_store_wait_notifications(listener, -1, 500, on_notification, &r);
    assert_int_equal(rc, -ECONNREFUSED);
    assert_true(elapsed_ms(t0) < 5000);
    assert_int_equal(vg_store_wait_notifications(listener, -1, 100, on_notification, &r),
                     -ECONNREFUSED);
    assert_int_equal(r.channels->len, 0);

    g_free(pgcluster("start"));
    assert_int_equal(vg_store_ping(listener), 0); /* the heartbeat's next call reconnects */
    assert_int_equal(vg_store_notify(f->store, "vg_test_a", "after"), 0);
    t0 = g_get_monotonic_time();
    while (r.channels->len < 2 && elapsed_ms(t0) < 5000)
        assert_int_equal(vg_store_wait_notifications(listener, -1, 1000, on_notification, &r), 0);
    assert_int_equal(r.channels->len, 2);
    assert_string_equal(g_ptr_array_index(r.channels, 0), "(missed)");
    assert_null(g_ptr_array_index(r.payloads, 0));
    assert_string_equal(g_ptr_array_index(r.channels, 1), "vg_test_a");
    assert_string_equal(g_ptr_array_index(r.payloads, 1), "after");
    vg_store_close(listener);
    received_clear(&r);
}

static void test_store_sorts_names_by_bytes(void **state)
{
    fixture *f = *state;
    GPtrArray *a = NULL;
    static const char *const sorted[] = {"Zed", "_x", "alice", "bob"};

    add_user(f, "bob");
    add_user(f, "_x");
    add_user(f, "alice");
    add_user(f, "Zed");
    assert_int_equal(vg_store_user_list(f->store, &a), 0);
    assert_int_equal(a->len, G_N_ELEMENTS(sorted));
    for (guint i = 0; i < a->len; i++)
        assert_string_equal(((vg_store_user *)a->pdata[i])->name, sorted[i]);
    g_ptr_array_unref(a);
}

/* This run's database: created before the PostgreSQL tests, dropped after. */
static int pg_group_setup(void **state)
{
    const char *dir = g_getenv("VMGATE_PG_DIR");
    PGresult *r;
    PGconn *c;
    char *sql;

    (void)state;
    if (!dir || !*dir) {
        fprintf(stderr, "test_store --postgresql: VMGATE_PG_DIR names no cluster "
                        "(tests/lib/pgcluster up starts one)\n");
        return -1;
    }
    pg.dir = g_strdup(dir);
    pg.base_dsn = pgcluster("dsn");
    pg.password_file = g_build_filename(pg.dir, "password", NULL);
    pg.db = g_strdup_printf("vgtest_%d_%08x", (int)getpid(), g_random_int());
    pg.dsn = g_strdup_printf("%s dbname=%s", pg.base_dsn, pg.db);
    /* A collation that does not sort by bytes (ICU's English) where the server has it, so that
     * test_store_sorts_names_by_bytes can fail. */
    sql = g_strdup_printf("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' "
                          "LOCALE 'C.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE 'en'",
                          pg.db);
    c = pg_connect(pg.base_dsn);
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        g_free(sql);
        sql = g_strdup_printf("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8'", pg.db);
        pg_exec(pg.base_dsn, sql);
    }
    PQclear(r);
    PQfinish(c);
    g_free(sql);
    return 0;
}

static int pg_group_teardown(void **state)
{
    char *sql = g_strdup_printf("DROP DATABASE IF EXISTS %s WITH (FORCE)", pg.db);

    (void)state;
    g_free(pgcluster("start")); /* should a test have left it stopped */
    pg_exec(pg.base_dsn, sql);
    g_free(sql);
    g_free(pg.dir);
    g_free(pg.base_dsn);
    g_free(pg.password_file);
    g_free(pg.db);
    g_free(pg.dsn);
    return 0;
}

int main(int argc, char **argv)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    /* The same bodies on both back ends. */
#define SHARED_TESTS                                                                               \
    T(test_store_creates_latest_schema_in_empty_file),                                             \
        T(test_store_reopen_keeps_schema_without_migrating_again),                                 \
        T(test_store_refuses_database_from_newer_version),                                         \
        T(test_store_changes_are_committed_before_return),                                         \
        T(test_store_data_survives_close_and_reopen), T(test_store_names_follow_the_one_rule),     \
        T(test_store_keeps_vm_names_as_libvirt_allows_them),                                       \
        T(test_store_user_add_refuses_duplicate_name), T(test_store_user_add_refuses_bad_hashes),  \
        T(test_store_user_list_hides_secrets), T(test_store_set_password_replaces_hashes),         \
        T(test_store_user_get_and_del_report_unknown_user), T(test_store_user_delete_cascades),    \
        T(test_store_vm_found_by_name_or_uuid), T(test_store_assign_replaces_existing_role),       \
        T(test_store_assignment_errors), T(test_store_assignments_for_vm_are_sorted_by_user),      \
        T(test_store_pool_constraints), T(test_store_pool_delete_cascades),                        \
        T(test_store_entitlement_errors), T(test_store_sticky_holds_one_vm_per_user_and_pool),     \
        T(test_store_sticky_released_with_member_or_entitlement),                                  \
        T(test_store_sorts_names_by_bytes), T(test_store_instances_register_beat_and_stop),        \
        T(test_store_placements_follow_their_instance),                                            \
        T(test_store_instance_down_when_its_heartbeat_is_old),                                     \
        T(test_store_grants_are_used_once_by_their_user_on_their_instance),                         \
        T(test_store_audit_tail_is_by_time_then_id), T(test_store_audit_tail_is_bounded),          \
        T(test_store_audit_refuses_bad_records),                                                  \
        T(test_store_viewers_follow_their_instance),                                               \
        T(test_store_user_may_reach_by_assignment_or_pool_while_enabled)
    const struct CMUnitTest sqlite_tests[] = {
        SHARED_TESTS,
        T(test_store_uses_wal_and_foreign_keys),
        T(test_store_refuses_file_that_is_not_a_database),
        T(test_store_open_reports_missing_directory),
        T(test_store_sqlite_has_no_bus),
    };
    const struct CMUnitTest pg_tests[] = {
        SHARED_TESTS,
        T(test_store_pg_concurrent_claims_have_one_winner),
        T(test_store_pg_concurrent_grant_takers_have_one_winner),
        T(test_store_pg_instances_starting_together_migrate_once),
        T(test_store_pg_survives_a_server_restart),
        T(test_store_pg_unreachable_server_fails_in_bounded_time),
        T(test_store_pg_password_file_and_wrong_password),
        T(test_store_pg_refuses_bad_dsn),
        T(test_store_pg_notify_reaches_a_listening_connection),
        T(test_store_pg_bus_outage_is_reported_and_recovered),
    };
#undef SHARED_TESTS
#undef T
    vg_log_set_level(VG_LOG_WARNING); /* no "schema migrated" notice per test */
    if (argc > 1 && strcmp(argv[1], "--postgresql") == 0) {
        backend = VG_STORE_POSTGRESQL;
        return cmocka_run_group_tests_name("store_postgresql", pg_tests, pg_group_setup,
                                           pg_group_teardown);
    }
    return cmocka_run_group_tests_name("store_sqlite", sqlite_tests, NULL, NULL);
}
