/*
 * vmgate — the store's SQLite plumbing (see store-priv.h).
 *
 * Threading: every function here expects s->lock held.
 */
#include "store-priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>

#include "log.h"

#define TAG VG_STORE_TAG

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

/* Log an SQLite failure. Messages name tables and constraints, never bound values. */
int vg_store_fail_locked(vg_store *s, const char *what)
{
    int code = sqlite3_extended_errcode(s->db);
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
        vg_warning(TAG, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
    else
        vg_warning(TAG, "%s: %s: %s (%s)", s->path, what, sqlite3_errmsg(s->db), g_strerror(-r));
    return r;
}

const char *vg_store_path(vg_store *s)
{
    return s->path;
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
        return vg_store_fail_locked(s, what);
    }
}

int vg_store_prepare_locked(vg_store *s, const char *sql, sqlite3_stmt **stmt)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, stmt, NULL) != SQLITE_OK) {
        *stmt = NULL;
        return vg_store_fail_locked(s, "prepare");
    }
    return 0;
}

int vg_store_exec_locked(vg_store *s, const char *sql, const char *what)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return vg_store_fail_locked(s, what);
    return 0;
}

/*
 * Bind parameters 1..n described by @types, one character each: 't' a
 * const char * (NULL binds SQL NULL), 'i' an int64_t.
 */
static void bind_va(sqlite3_stmt *st, const char *types, va_list ap)
{
    for (int i = 0; types[i]; i++) {
        if (types[i] == 'i')
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        else
            sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_STATIC);
    }
}

/* Run a statement that returns no rows, its parameters in @ap. */
static int run_va_locked(vg_store *s, const char *sql, const char *what, const char *types,
                         va_list ap)
{
    sqlite3_stmt *st;
    int r;

    r = vg_store_prepare_locked(s, sql, &st);
    if (r < 0)
        return r;
    bind_va(st, types, ap);
    if (sqlite3_step(st) != SQLITE_DONE)
        r = step_error_locked(s, sqlite3_extended_errcode(s->db), what);
    sqlite3_finalize(st);
    return r;
}

int vg_store_run_locked(vg_store *s, const char *sql, const char *what, const char *types, ...)
{
    va_list ap;
    int r;

    va_start(ap, types);
    r = run_va_locked(s, sql, what, types, ap);
    va_end(ap);
    return r;
}

/* Run a statement that yields one integer; -ENOENT when it yields no row. */
int vg_store_query_int_locked(vg_store *s, const char *sql, int64_t *out, const char *types, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    int rc, r;

    r = vg_store_prepare_locked(s, sql, &st);
    if (r < 0)
        return r;
    va_start(ap, types);
    bind_va(st, types, ap);
    va_end(ap);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        r = 0;
    } else if (rc == SQLITE_DONE) {
        r = -ENOENT;
    } else {
        r = vg_store_fail_locked(s, "query");
    }
    sqlite3_finalize(st);
    return r;
}

int vg_store_begin_locked(vg_store *s)
{
    /* IMMEDIATE: take the write lock now, so checks and writes see one state. */
    return vg_store_exec_locked(s, "BEGIN IMMEDIATE", "begin");
}

/* End the transaction begun by vg_store_begin_locked: commit if r is 0, else roll back. Returns r.
 */
int vg_store_finish_locked(vg_store *s, int r)
{
    if (r == 0) {
        if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
            return 0;
        r = vg_store_fail_locked(s, "commit");
    }
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return r;
}

int vg_store_transact(vg_store *s, vg_store_body body, void *data)
{
    int r;

    g_mutex_lock(&s->lock);
    r = vg_store_begin_locked(s);
    if (r == 0)
        r = vg_store_finish_locked(s, body(s, data));
    g_mutex_unlock(&s->lock);
    return r;
}

typedef struct change {
    bool must_change;
    const char *sql, *what, *types;
    va_list ap;
} change;

static int change_body(vg_store *s, void *data)
{
    change *c = data;
    int r = run_va_locked(s, c->sql, c->what, c->types, c->ap);

    if (r == 0 && c->must_change && sqlite3_changes(s->db) == 0)
        r = -ENOENT;
    return r;
}

int vg_store_change(vg_store *s, bool must_change, const char *sql, const char *what,
                    const char *types, ...)
{
    change c = {.must_change = must_change, .sql = sql, .what = what, .types = types};
    int r;

    va_start(c.ap, types);
    r = vg_store_transact(s, change_body, &c);
    va_end(c.ap);
    return r;
}

char *vg_store_column_strdup(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? g_strdup((const char *)t) : NULL;
}

int vg_store_user_id_locked(vg_store *s, const char *name, int64_t *id)
{
    return vg_store_query_int_locked(s, "SELECT id FROM users WHERE name = ?1", id, "t", name);
}

int vg_store_pool_id_locked(vg_store *s, const char *name, int64_t *id)
{
    return vg_store_query_int_locked(s, "SELECT id FROM pools WHERE name = ?1", id, "t", name);
}

/*
 * Collect the rows of a query with up to two text parameters into a GPtrArray,
 * building each element with @make.
 */
int vg_store_list_locked(vg_store *s, const char *sql, const char *p1, const char *p2,
                         void *(*make)(sqlite3_stmt *st), GDestroyNotify free_fn, GPtrArray **out)
{
    sqlite3_stmt *st;
    GPtrArray *a;
    int rc, r;

    r = vg_store_prepare_locked(s, sql, &st);
    if (r < 0)
        return r;
    if (p1)
        sqlite3_bind_text(st, 1, p1, -1, SQLITE_STATIC);
    if (p2)
        sqlite3_bind_text(st, 2, p2, -1, SQLITE_STATIC);
    a = g_ptr_array_new_with_free_func(free_fn);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_ptr_array_add(a, make(st));
    if (rc != SQLITE_DONE) {
        r = vg_store_fail_locked(s, "list");
        g_ptr_array_unref(a);
    } else {
        *out = a;
    }
    sqlite3_finalize(st);
    return r;
}
