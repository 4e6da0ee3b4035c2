/*
 * vmgate — store internals shared by store.c (schema, users, VMs,
 * assignments), store-pools.c (pools, entitlements, sticky VMs),
 * store-sql.c (the back-end-neutral statement and row layer) and the back
 * ends (store-sqlite.c, store-pg.c).
 *
 * The seam: the store's SQL is written once, with numbered parameters
 * (?1, ?2, ...) and values passed as text or 64-bit integers, and each row
 * comes back as text columns (vg_store_row). A back end is a const
 * vg_store_ops table with its struct embedding vg_store first; it runs
 * statements, transactions and the schema version, maps its errors to the
 * store's errno codes, and logs what it could not do (never a bound
 * value). Where the SQL of the two back ends must differ (the DDL of the
 * migrations), both are kept side by side.
 *
 * Threading: functions named *_locked expect s->lock held.
 */
#ifndef VG_STORE_PRIV_H
#define VG_STORE_PRIV_H

#include <stdint.h>

#include <glib.h>

#include "log.h"
#include "store.h"

#define VG_STORE_TAG "store"

/** One bound parameter: 't' text (NULL binds SQL NULL) or 'i' a 64-bit integer. */
typedef struct vg_store_param {
    char type;
    const char *text;
    int64_t num;
} vg_store_param;

/** Parameters of one statement: ?1..?n, at most VG_STORE_PARAMS_MAX. */
#define VG_STORE_PARAMS_MAX 10

/**
 * A row of a result, every column as text (integers in decimal): values[i]
 * is NULL for SQL NULL. Valid only during the row callback.
 */
typedef struct vg_store_row {
    int n;
    const char *const *values;
} vg_store_row;

/** Called once per row. @return 0 to go on; a negative errno stops and is returned. */
typedef int (*vg_store_row_fn)(const vg_store_row *row, void *opaque);

typedef struct vg_store_ops {
    vg_store_backend backend;
    /** Migration i takes the schema from version i to i + 1 (vg_store_schema_latest of them). */
    const char *const *migrations;
    /** Run SQL without parameters or rows (it may hold several statements). */
    int (*exec_locked)(vg_store *s, const char *sql, const char *what);
    /**
     * Run one statement with @n parameters, each row to @row (NULL: rows are
     * not expected); *changes (if not NULL) set to the rows it inserted,
     * updated or deleted.
     * @return 0; -EEXIST for a unique violation; -ENOENT for a foreign key
     *         violation; -EINVAL for a check or not-null violation (none of
     *         them logged); what @row returned; another negative errno
     *         (logged).
     */
    int (*run_locked)(vg_store *s, const char *sql, const char *what, const vg_store_param *p,
                      int n, vg_store_row_fn row, void *opaque, int64_t *changes);
    /** Begin a transaction that writes (its checks and writes see one state). */
    int (*begin_locked)(vg_store *s);
    /** Commit; durable once it returns 0. */
    int (*commit_locked)(vg_store *s);
    /** Roll back the transaction, if one is open. */
    void (*rollback_locked)(vg_store *s);
    /**
     * Begin the transaction of one migration step: like begin_locked, and
     * no other process migrates the same database until it ends.
     */
    int (*migrate_begin_locked)(vg_store *s);
    /** The schema version, read inside the migration's transaction (or outside one). */
    int (*version_get_locked)(vg_store *s, int64_t *version);
    /** Record the schema version, inside the migration's transaction. */
    int (*version_set_locked)(vg_store *s, int64_t version);
    /** Checks after migrations ran (optional). */
    int (*migrated_locked)(vg_store *s);
    /**
     * The event bus (optional: a back end without one leaves these NULL and
     * the store answers -ENOTSUP). listen_locked subscribes this connection
     * to @channel, for good: a connection made again listens again.
     */
    int (*listen_locked)(vg_store *s, const char *channel);
    /** Send @payload on @channel, delivered once the statement ends (no transaction open). */
    int (*notify_locked)(vg_store *s, const char *channel, const char *payload);
    /**
     * Wait at most @timeout_ms for a notification of a channel listened to
     * or for @wake_fd (< 0: none) to be readable (it is not read), and
     * append what arrived to @out (of vg_store_notification). One of
     * channel NULL says the connection was made again since the last
     * wait, so notifications may have been missed.
     * @return 0; -ECONNREFUSED if the connection is gone (the next call
     *         connects again); another negative errno.
     */
    int (*wait_locked)(vg_store *s, int wake_fd, int timeout_ms, GPtrArray *out);
    /** Close the connection and free the back end's part. */
    void (*close)(vg_store *s);
} vg_store_ops;

/* The base every back end embeds first. */
struct vg_store {
    const vg_store_ops *ops;
    GMutex lock; /* held for the whole of every exported function */
    char *path;  /* what logs and messages call the database */
    bool quiet;  /* failures at debug level (vg_store_set_quiet) */
};

/**
 * Log a failure of a call: a warning, or at debug level on a quiet store
 * (whose caller reports failures itself).
 */
#define vg_store_fail_log(s, ...)                                                                  \
    vg_log((s)->quiet ? VG_LOG_DEBUG : VG_LOG_WARNING, VG_STORE_TAG, __VA_ARGS__)

/** A notification received (wait_locked); channel NULL: some may have been missed. */
typedef struct vg_store_notification {
    char *channel;
    char *payload;
} vg_store_notification;

/** Make a notification for wait_locked's list (strings copied; NULL stays NULL). */
vg_store_notification *vg_store_notification_new(const char *channel, const char *payload);

/** Free one (the list's free func). */
void vg_store_notification_free(void *n);

/** Set up the base of a back end's store (ops, lock, display name). */
void vg_store_base_init(vg_store *s, const vg_store_ops *ops, const char *path);

/** Free the base (vg_store_close calls it after the back end's close). */
void vg_store_base_clear(vg_store *s);

/** The migrations of each back end (store-schema.c). */
extern const char *const vg_store_sqlite_migrations[];
extern const char *const vg_store_pg_migrations[];

/** Open the SQLite back end's connection to @path (store-sqlite.c). */
int vg_store_sqlite_open(const char *path, vg_store **out);

/**
 * Open the PostgreSQL back end (store-pg.c): connect with libpq to @dsn,
 * with the password read from @password_file (NULL: libpq's own ways),
 * within @connect_timeout seconds unless the DSN says otherwise (0: 5).
 */
int vg_store_pg_open(const char *dsn, const char *password_file, unsigned connect_timeout,
                     vg_store **out);

/** Bring the schema up to date (store.c); called by each back end's open. */
int vg_store_migrate_locked(vg_store *s);

/** Run SQL without parameters or rows. @return 0 or a negative errno (logged). */
int vg_store_exec_locked(vg_store *s, const char *sql, const char *what);

/**
 * Run a statement that returns no rows, binding parameters ?1..?n as
 * @types says, one character each: 't' a const char * (NULL binds SQL
 * NULL), 'i' an int64_t.
 * @return 0; -EEXIST for a UNIQUE or PRIMARY KEY conflict; -ENOENT for a
 *         FOREIGN KEY failure; -EINVAL for a CHECK or NOT NULL failure; another
 *         negative errno for anything else (logged).
 */
int vg_store_run_locked(vg_store *s, const char *sql, const char *what, const char *types, ...);

/** As vg_store_run_locked, and *changes set to the rows the statement changed. */
int vg_store_run_changes_locked(vg_store *s, const char *sql, const char *what, int64_t *changes,
                                const char *types, ...);

/**
 * Run a statement that yields one integer, parameters as for
 * vg_store_run_locked.
 * @return 0 and *out set; -ENOENT if it yields no row; another negative errno (logged).
 */
int vg_store_query_int_locked(vg_store *s, const char *sql, int64_t *out, const char *types, ...);

/**
 * Collect the rows of a query with up to two text parameters (NULL: not
 * bound) into a new GPtrArray, building each element with @make.
 * @return 0 and *out set; a negative errno (logged).
 */
int vg_store_list_locked(vg_store *s, const char *sql, const char *p1, const char *p2,
                         void *(*make)(const vg_store_row *row), GDestroyNotify free_fn,
                         GPtrArray **out);

/** What a mutation does inside its transaction (s->lock held): 0 to commit, a negative errno to
 * roll back. */
typedef int (*vg_store_body)(vg_store *s, void *data);

/**
 * Run @body as one mutation: take s->lock, begin a transaction that writes,
 * run @body, commit if it returned 0 (durable once this returns 0) or roll
 * back, let the lock go. Every exported mutation goes through here.
 * @return what @body returned; a negative errno if BEGIN or COMMIT failed.
 */
int vg_store_transact(vg_store *s, vg_store_body body, void *data);

/**
 * A mutation of one statement (vg_store_transact around
 * vg_store_run_locked, parameters as for it).
 * @param must_change  whether changing no row is -ENOENT (an UPDATE or
 *                     DELETE of something that is not there)
 */
int vg_store_change(vg_store *s, bool must_change, const char *sql, const char *what,
                    const char *types, ...);

/** Begin a transaction that writes. @return 0 or a negative errno. */
int vg_store_begin_locked(vg_store *s);

/**
 * End the transaction begun by vg_store_begin_locked: commit if @r is 0
 * (durable once this returns 0), roll back otherwise.
 * @return @r, or a negative errno if the commit failed (then rolled back).
 */
int vg_store_finish_locked(vg_store *s, int r);

/** A column as text, or NULL for SQL NULL (valid during the row callback). */
const char *vg_store_row_text(const vg_store_row *row, int col);

/** A text column as a new string, or NULL for SQL NULL. */
char *vg_store_row_strdup(const vg_store_row *row, int col);

/** An integer column; 0 for SQL NULL. */
int64_t vg_store_row_int(const vg_store_row *row, int col);

/** Whether a column is SQL NULL. */
bool vg_store_row_is_null(const vg_store_row *row, int col);

/** Up: not stopped, and the heartbeat younger than the bound (a list's rows carry both). */
static inline bool vg_store_instance_is_up(bool stopped, int64_t age_ms, int64_t down_after_ms)
{
    return !stopped && age_ms < down_after_ms;
}

/** The row id of user @name. @return 0; -ENOENT; another negative errno. */
int vg_store_user_id_locked(vg_store *s, const char *name, int64_t *id);

/** The row id of pool @name. @return 0; -ENOENT; another negative errno. */
int vg_store_pool_id_locked(vg_store *s, const char *name, int64_t *id);

/** Whether instance @name is registered. @return 0; -ENOENT; another negative errno. */
int vg_store_instance_known_locked(vg_store *s, const char *name);

#endif /* VG_STORE_PRIV_H */
