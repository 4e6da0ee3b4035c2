/*
 * vmgate — store internals shared by store.c (schema, users, VMs,
 * assignments), store-pools.c (pools, entitlements, sticky VMs) and
 * store-sql.c (the SQLite plumbing below).
 *
 * Threading: functions named *_locked expect s->lock held.
 */
#ifndef VG_STORE_PRIV_H
#define VG_STORE_PRIV_H

#include <stdint.h>

#include <glib.h>
#include <sqlite3.h>

#include "store.h"

#define VG_STORE_TAG "store"

struct vg_store {
    GMutex lock; /* held for the whole of every exported function */
    sqlite3 *db;
    char *path;
};

/**
 * Log the connection's last SQLite error (never bound values).
 * @return -ENOSPC when the database's file system is full, -EROFS when it is
 *         read-only, else -EIO.
 */
int vg_store_fail_locked(vg_store *s, const char *what);

/** Prepare @sql. @return 0 and *stmt set, or -EIO (logged). */
int vg_store_prepare_locked(vg_store *s, const char *sql, sqlite3_stmt **stmt);

/** Run SQL without parameters or rows. @return 0 or -EIO (logged). */
int vg_store_exec_locked(vg_store *s, const char *sql, const char *what);

/**
 * Run a statement that returns no rows, binding parameters ?1..?n as
 * @types says, one character each: 't' a const char * (NULL binds SQL
 * NULL), 'i' an int64_t.
 * @return 0; -EEXIST for a UNIQUE or PRIMARY KEY conflict; -ENOENT for a
 *         FOREIGN KEY failure; -EINVAL for a CHECK or NOT NULL failure; -EIO
 *         for anything else (logged).
 */
int vg_store_run_locked(vg_store *s, const char *sql, const char *what, const char *types, ...);

/**
 * Run a statement that yields one integer, parameters as for
 * vg_store_run_locked.
 * @return 0 and *out set; -ENOENT if it yields no row; -EIO (logged).
 */
int vg_store_query_int_locked(vg_store *s, const char *sql, int64_t *out, const char *types, ...);

/**
 * Collect the rows of a query with up to two text parameters (NULL: not
 * bound) into a new GPtrArray, building each element with @make.
 * @return 0 and *out set; -EIO (logged).
 */
int vg_store_list_locked(vg_store *s, const char *sql, const char *p1, const char *p2,
                         void *(*make)(sqlite3_stmt *st), GDestroyNotify free_fn, GPtrArray **out);

/** What a mutation does inside its transaction (s->lock held): 0 to commit, a negative errno to
 * roll back. */
typedef int (*vg_store_body)(vg_store *s, void *data);

/**
 * Run @body as one mutation: take s->lock, BEGIN IMMEDIATE, run @body,
 * COMMIT if it returned 0 (durable once this returns 0) or ROLLBACK, let
 * the lock go. Every exported mutation goes through here.
 * @return what @body returned; -EIO if BEGIN or COMMIT failed.
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

/** BEGIN IMMEDIATE. @return 0 or -EIO. */
int vg_store_begin_locked(vg_store *s);

/**
 * End the transaction begun by vg_store_begin_locked: commit if @r is 0
 * (durable once this returns 0), roll back otherwise.
 * @return @r, or -EIO if the commit failed (then rolled back).
 */
int vg_store_finish_locked(vg_store *s, int r);

/** A text column as a new string, or NULL for SQL NULL. */
char *vg_store_column_strdup(sqlite3_stmt *st, int col);

/** The row id of user @name. @return 0; -ENOENT; -EIO. */
int vg_store_user_id_locked(vg_store *s, const char *name, int64_t *id);

/** The row id of pool @name. @return 0; -ENOENT; -EIO. */
int vg_store_pool_id_locked(vg_store *s, const char *name, int64_t *id);

#endif /* VG_STORE_PRIV_H */
