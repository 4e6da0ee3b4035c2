/*
 * vmgate — the store's SQLite back end (see store-priv.h): one database
 * file in WAL mode with synchronous=FULL, secure_delete and foreign keys
 * on; the schema version in PRAGMA user_version.
 *
 * Threading: every function here but vg_store_sqlite_open expects s->lock
 * held. The connection is opened with SQLITE_OPEN_NOMUTEX because that
 * lock already serialises it.
 */
#include "store-priv.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"

#define TAG VG_STORE_TAG

/* Long enough to ride out a checkpoint or a backup tool holding the file. */
#define BUSY_TIMEOUT_MS 5000

typedef struct store_sqlite {
    vg_store base;
    sqlite3 *db;
} store_sqlite;

static sqlite3 *db_of(vg_store *s)
{
    return ((store_sqlite *)s)->db;
}

/*
 * Why the database's file system refuses writes, asked of the file system
 * itself: a probe file next to the database is created, written and
 * synced. SQLite's own errno is not enough: it is that of the last failed
 * call by then, often 0. @return -EROFS, -ENOSPC, or 0 when the probe
 * passed or failed otherwise.
 */
static int probe_file_system(const char *db_path)
{
    g_autofree char *probe = g_strconcat(db_path, "-probe", NULL);
    static const char block[4096];
    int fd, e = 0;

    fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        e = errno;
    } else {
        if (write(fd, block, sizeof(block)) < 0 || fsync(fd) < 0)
            e = errno;
        close(fd);
        unlink(probe);
    }
    if (e == EROFS)
        return -EROFS;
    if (e == ENOSPC || e == EDQUOT)
        return -ENOSPC;
    return 0;
}

/*
 * Log the connection's last SQLite error (never bound values: messages name
 * tables and constraints).
 * @return -ENOSPC when the database's file system is full, -EROFS when it is
 *         read-only, else -EIO.
 */
static int fail_locked(vg_store *s, const char *what)
{
    sqlite3 *db = db_of(s);
    int code = sqlite3_extended_errcode(db);
    bool os_error = (code & 0xff) == SQLITE_IOERR || (code & 0xff) == SQLITE_CANTOPEN;
    int r = -EIO;

    /* What an administrator can act on: the file system, named as such. */
    if ((code & 0xff) == SQLITE_FULL)
        r = -ENOSPC;
    else if ((code & 0xff) == SQLITE_READONLY)
        r = -EROFS;
    else if (os_error && (r = probe_file_system(s->path)) == 0)
        r = -EIO;
    if (r == -EIO)
        vg_store_fail_log(s, "%s: %s: %s", s->path, what, sqlite3_errmsg(db));
    else
        vg_store_fail_log(s, "%s: %s: %s (%s)", s->path, what, sqlite3_errmsg(db), g_strerror(-r));
    return r;
}

/* Map a failed step to an errno; constraint failures are expected outcomes, not logged. */
static int step_error_locked(vg_store *s, int rc, const char *what)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return -EEXIST;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return -ENOENT;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
        return -EINVAL;
    default:
        return fail_locked(s, what);
    }
}

static int prepare_locked(vg_store *s, const char *sql, sqlite3_stmt **stmt)
{
    if (sqlite3_prepare_v2(db_of(s), sql, -1, stmt, NULL) != SQLITE_OK) {
        *stmt = NULL;
        return fail_locked(s, "prepare");
    }
    return 0;
}

static int sqlite_exec_locked(vg_store *s, const char *sql, const char *what)
{
    if (sqlite3_exec(db_of(s), sql, NULL, NULL, NULL) != SQLITE_OK)
        return fail_locked(s, what);
    return 0;
}

static int sqlite_run_locked(vg_store *s, const char *sql, const char *what,
                             const vg_store_param *p, int n, vg_store_row_fn row, void *opaque,
                             int64_t *changes)
{
    const char **values = NULL;
    sqlite3_stmt *st;
    int rc = SQLITE_DONE, r, cols;

    r = prepare_locked(s, sql, &st);
    if (r < 0)
        return r;
    for (int i = 0; i < n; i++) {
        if (p[i].type == 'i')
            sqlite3_bind_int64(st, i + 1, p[i].num);
        else
            sqlite3_bind_text(st, i + 1, p[i].text, -1, SQLITE_STATIC);
    }
    cols = sqlite3_column_count(st);
    if (cols > 0)
        values = g_new0(const char *, cols);
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        vg_store_row rw = {cols, values};
        if (!row)
            continue;
        for (int i = 0; i < cols; i++)
            values[i] = (const char *)sqlite3_column_text(st, i);
        r = row(&rw, opaque);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = step_error_locked(s, sqlite3_extended_errcode(db_of(s)), what);
    if (r == 0 && changes)
        *changes = sqlite3_changes(db_of(s));
    sqlite3_finalize(st);
    g_free(values);
    return r;
}

static int sqlite_begin_locked(vg_store *s)
{
    /* IMMEDIATE: take the write lock now, so checks and writes see one state. */
    return sqlite_exec_locked(s, "BEGIN IMMEDIATE", "begin");
}

static int sqlite_commit_locked(vg_store *s)
{
    return sqlite_exec_locked(s, "COMMIT", "commit");
}

static void sqlite_rollback_locked(vg_store *s)
{
    if (!sqlite3_get_autocommit(db_of(s)))
        sqlite3_exec(db_of(s), "ROLLBACK", NULL, NULL, NULL);
}

static int sqlite_version_get_locked(vg_store *s, int64_t *version)
{
    int r = vg_store_query_int_locked(s, "PRAGMA user_version", version, "");
    return r == -ENOENT ? -EIO : r;
}

static int sqlite_version_set_locked(vg_store *s, int64_t version)
{
    g_autofree char *bump = g_strdup_printf("PRAGMA user_version = %" G_GINT64_FORMAT, version);
    return sqlite_exec_locked(s, bump, "migration");
}

static int sqlite_migrated_locked(vg_store *s)
{
    sqlite3_stmt *st;
    int r = prepare_locked(s, "PRAGMA foreign_key_check", &st);

    if (r < 0)
        return r;
    if (sqlite3_step(st) != SQLITE_DONE) {
        vg_error(TAG, "%s: foreign key check failed after migration", s->path);
        r = -EIO;
    }
    sqlite3_finalize(st);
    return r;
}

static void sqlite_close(vg_store *s)
{
    store_sqlite *q = (store_sqlite *)s;

    if (q->db && sqlite3_close(q->db) != SQLITE_OK)
        vg_warning(TAG, "%s: close: %s", s->path, sqlite3_errmsg(q->db));
    q->db = NULL;
}

/*
 * vg_now_ms(): the clock the schema's times are in, as PostgreSQL's
 * migration defines it there. On SQLite the database's clock is this
 * host's: the file is never shared between hosts.
 */
static void now_ms(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_int64(ctx, g_get_real_time() / 1000);
}

static const vg_store_ops sqlite_ops = {
    .backend = VG_STORE_SQLITE,
    .migrations = vg_store_sqlite_migrations,
    .exec_locked = sqlite_exec_locked,
    .run_locked = sqlite_run_locked,
    .begin_locked = sqlite_begin_locked,
    .commit_locked = sqlite_commit_locked,
    .rollback_locked = sqlite_rollback_locked,
    .migrate_begin_locked = sqlite_begin_locked,
    .version_get_locked = sqlite_version_get_locked,
    .version_set_locked = sqlite_version_set_locked,
    .migrated_locked = sqlite_migrated_locked,
    .close = sqlite_close,
};

static int configure_locked(vg_store *s)
{
    sqlite3 *db = db_of(s);
    sqlite3_stmt *st;
    int64_t v;
    int r;

    sqlite3_extended_result_codes(db, 1);
    if (sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        return fail_locked(s, "busy timeout");

    /* Fails for a file that is not a database, so it comes first. */
    r = prepare_locked(s, "PRAGMA journal_mode = WAL", &st);
    if (r < 0)
        return r;
    if (sqlite3_step(st) != SQLITE_ROW) {
        r = fail_locked(s, "journal_mode");
    } else if (g_ascii_strcasecmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
        vg_error(TAG, "%s: the database cannot use WAL mode (journal mode is %s)", s->path,
                 (const char *)sqlite3_column_text(st, 0));
        r = -EIO;
    }
    sqlite3_finalize(st);
    if (r < 0)
        return r;

    r = sqlite_exec_locked(s, "PRAGMA synchronous = FULL; PRAGMA secure_delete = ON", "pragma");
    if (r < 0)
        return r;
    r = vg_store_migrate_locked(s);
    if (r < 0)
        return r;
    r = sqlite_exec_locked(s, "PRAGMA foreign_keys = ON", "pragma");
    if (r < 0)
        return r;
    r = vg_store_query_int_locked(s, "PRAGMA foreign_keys", &v, "");
    if (r < 0 || v != 1) {
        vg_error(TAG, "%s: this SQLite cannot enforce foreign keys", s->path);
        return -EIO;
    }
    return 0;
}

int vg_store_sqlite_open(const char *path, vg_store **out)
{
    store_sqlite *q;
    struct stat sb;
    int fd, r;

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

    q = g_new0(store_sqlite, 1);
    vg_store_base_init(&q->base, &sqlite_ops, path);

    if (sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        vg_error(TAG, "%s: %s", path, q->db ? sqlite3_errmsg(q->db) : "out of memory");
        r = -EIO;
        goto fail;
    }
    if (sqlite3_create_function(q->db, "vg_now_ms", 0, SQLITE_UTF8, NULL, now_ms, NULL, NULL) !=
        SQLITE_OK) {
        vg_error(TAG, "%s: vg_now_ms: %s", path, sqlite3_errmsg(q->db));
        r = -EIO;
        goto fail;
    }
    g_mutex_lock(&q->base.lock);
    r = configure_locked(&q->base);
    g_mutex_unlock(&q->base.lock);
    if (r < 0)
        goto fail;
    *out = &q->base;
    return 0;

fail:
    vg_store_close(&q->base);
    return r;
}
