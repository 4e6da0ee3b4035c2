/*
 * vmgate — the store's PostgreSQL back end (see store-priv.h), through
 * libpq, so that several vmgated instances can share one database.
 *
 * - One connection per store handle, behind the store's mutex, with
 *   synchronous_commit on (a commit is acknowledged once its WAL is flushed)
 *   and UTF-8 as the client encoding.
 * - SQL is shared with SQLite: its ?N parameters become $N here (outside
 *   quotes), text parameters are sent as text and integers as int8.
 * - Errors by SQLSTATE: 23505 -EEXIST, 23503 -ENOENT, 23514 and 23502
 *   -EINVAL (not logged: expected outcomes), 53100 -ENOSPC, 25006 -EROFS;
 *   a server that cannot be reached or went away -ECONNREFUSED; anything
 *   else -EIO. Logs name the database (user, host, port, name) and the
 *   SQLSTATE, never a bound value, the DSN itself or the password.
 * - Bounded waits: connect_timeout (5 s unless the DSN says otherwise),
 *   tcp_user_timeout for a peer that vanished without a reset, and a
 *   statement_timeout.
 * - Reconnection: a call finding the connection gone connects again first.
 *   A call that lost the connection before its transaction began (a read,
 *   or the BEGIN of a mutation) is run once more on a new connection; a
 *   connection lost inside a transaction fails that mutation (and a COMMIT
 *   whose answer was lost may or may not have been applied, as with any
 *   client of a database server).
 * - The event bus: LISTEN on the store's connection for each channel asked
 *   (again on every new connection, which then reports that events may
 *   have been missed: NOTIFY is not queued for a connection that is
 *   gone), pg_notify() outside a transaction, and a bounded wait on the
 *   connection's socket (PQconsumeInput, PQnotifies).
 * - Schema version in the table vmgate_schema; each migration step takes
 *   pg_advisory_xact_lock, so two instances starting at once migrate one
 *   after the other.
 *
 * Threading: every function here but vg_store_pg_open expects s->lock held.
 */
#include "store-priv.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "log.h"

#define TAG VG_STORE_TAG

/* PostgreSQL's fixed type OIDs (catalog/pg_type.h is a server header). */
#define OID_INT8 20
#define OID_TEXT 25

/* The advisory lock key of migrations ("vmgate" in ASCII). */
#define MIGRATION_LOCK_KEY "126943511750501"

/* Longest password file read. */
#define PASSWORD_MAX 1024

typedef struct store_pg {
    vg_store base;
    PGconn *conn;
    char *dsn;      /* secret if it holds a password: never logged */
    char *password; /* from password_file, or NULL; secret */
    char connect_timeout[16];
    bool in_tx;          /* a transaction is open on conn */
    bool lost;           /* the last call found the server gone (for the "reconnected" notice) */
    GPtrArray *channels; /* listened to on every connection (of char *), or NULL */
    bool connected_once; /* a connection was made before: a new one may have missed events */
    bool missed;         /* a new connection since the last wait: notifications may be lost */
} store_pg;

static store_pg *pg_of(vg_store *s)
{
    return (store_pg *)s;
}

static void secret_free(char *secret)
{
    if (secret) {
        OPENSSL_cleanse(secret, strlen(secret));
        g_free(secret);
    }
}

/* libpq's own message, on one line and without its final newline. */
static char *conn_message(PGconn *conn)
{
    char *m = g_strdup(conn ? PQerrorMessage(conn) : "out of memory");
    g_strstrip(m);
    for (char *p = m; *p; p++) {
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    }
    return m;
}

/* Notices (such as "relation already exists, skipping") are for debugging only. */
static void on_notice(void *opaque, const char *message)
{
    vg_debug(TAG, "%s: %s", ((vg_store *)opaque)->path, message);
}

/*
 * The SQLSTATE a failed connection attempt most likely ended with. libpq
 * keeps no SQLSTATE for it, so an authentication failure is told by the
 * server having asked for a password.
 */
static int connect_error(PGconn *conn)
{
    if (conn && PQconnectionNeedsPassword(conn))
        return -EACCES;
    if (conn && PQconnectionUsedPassword(conn) &&
        strstr(PQerrorMessage(conn), "password authentication failed"))
        return -EACCES;
    return -ECONNREFUSED;
}

/* Connect (again): the old connection, if any, is dropped. */
static int connect_locked(vg_store *s)
{
    store_pg *q = pg_of(s);
    /* Keywords before dbname are defaults the DSN may override; those after it override it. */
    const char *keys[] = {"connect_timeout",
                          "tcp_user_timeout",
                          "application_name",
                          "dbname",
                          "client_encoding",
                          "password",
                          NULL};
    const char *values[] = {q->connect_timeout, "10000", "vmgated", q->dsn, "UTF8",
                            q->password,        NULL};
    PGresult *res;
    char *m;
    int r;

    if (q->conn)
        PQfinish(q->conn);
    q->in_tx = false;
    q->conn = PQconnectdbParams(keys, values, 1);
    if (!q->conn || PQstatus(q->conn) != CONNECTION_OK) {
        r = connect_error(q->conn);
        m = conn_message(q->conn);
        vg_store_fail_log(s, "%s: cannot connect: %s", s->path, m);
        g_free(m);
        q->lost = true;
        return r;
    }
    PQsetNoticeProcessor(q->conn, on_notice, s);
    /* Every acknowledged mutation is on disk; no statement waits forever. */
    res = PQexec(q->conn, "SET synchronous_commit = on; SET statement_timeout = '30s'");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        m = conn_message(q->conn);
        vg_store_fail_log(s, "%s: session settings: %s", s->path, m);
        g_free(m);
        PQclear(res);
        return -EIO;
    }
    PQclear(res);
    /* Channels are per connection: listen again; what was sent meanwhile is lost. */
    for (guint i = 0; q->channels && i < q->channels->len; i++) {
        g_autofree char *sql =
            g_strdup_printf("LISTEN %s", (const char *)g_ptr_array_index(q->channels, i));
        res = PQexec(q->conn, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            m = conn_message(q->conn);
            vg_store_fail_log(s, "%s: listen: %s", s->path, m);
            g_free(m);
            PQclear(res);
            PQfinish(q->conn);
            q->conn = NULL;
            return -EIO;
        }
        PQclear(res);
    }
    if (q->connected_once && q->channels && q->channels->len > 0)
        q->missed = true;
    q->connected_once = true;
    if (q->lost)
        vg_notice(TAG, "%s: connected again", s->path);
    q->lost = false;
    return 0;
}

static bool connected(store_pg *q)
{
    return q->conn && PQstatus(q->conn) == CONNECTION_OK;
}

/* ?N (SQLite's and the store's numbered parameters) → $N, outside quotes. */
static char *dollar_params(const char *sql)
{
    char *out = g_strdup(sql);
    char quote = 0;

    for (char *p = out; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '?' && g_ascii_isdigit(p[1])) {
            *p = '$';
        }
    }
    return out;
}

/*
 * Map a failed result to an errno, logging what is not an expected
 * outcome: the SQLSTATE and the primary message, never the detail (which
 * quotes key values).
 */
static int result_error_locked(vg_store *s, PGresult *res, const char *what)
{
    store_pg *q = pg_of(s);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    int r = -EIO;

    if (!connected(q) || !state) {
        char *m = conn_message(q->conn);
        vg_store_fail_log(s, "%s: %s: the connection to the database was lost: %s", s->path, what,
                          m);
        g_free(m);
        q->lost = true;
        q->in_tx = false;
        return -ECONNREFUSED;
    }
    if (strcmp(state, "23505") == 0)
        return -EEXIST;
    if (strcmp(state, "23503") == 0)
        return -ENOENT;
    if (strcmp(state, "23514") == 0 || strcmp(state, "23502") == 0)
        return -EINVAL;
    if (strcmp(state, "53100") == 0)
        r = -ENOSPC;
    else if (strcmp(state, "25006") == 0)
        r = -EROFS;
    else if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
        r = -ECONNREFUSED;
    /* A data exception's message may quote the value: say only its SQLSTATE. */
    if (strncmp(state, "22", 2) == 0)
        primary = "invalid data";
    vg_store_fail_log(s, "%s: %s: %s (SQLSTATE %s)", s->path, what, primary ? primary : "failed",
                      state);
    return r;
}

/*
 * Run one statement. A connection found gone is made again first; one lost
 * outside a transaction (a read, or a BEGIN) is retried once on a new one.
 */
static int pg_run_locked(vg_store *s, const char *sql, const char *what, const vg_store_param *p,
                         int n, vg_store_row_fn row, void *opaque, int64_t *changes)
{
    store_pg *q = pg_of(s);
    const char *values[VG_STORE_PARAMS_MAX];
    Oid types[VG_STORE_PARAMS_MAX];
    char nums[VG_STORE_PARAMS_MAX][24];
    char *text = NULL;
    PGresult *res = NULL;
    int r = 0;

    g_assert(n <= VG_STORE_PARAMS_MAX);
    for (int i = 0; i < n; i++) {
        if (p[i].type == 'i') {
            g_snprintf(nums[i], sizeof(nums[i]), "%" G_GINT64_FORMAT, p[i].num);
            values[i] = nums[i];
            types[i] = OID_INT8;
        } else {
            values[i] = p[i].text;
            types[i] = OID_TEXT;
        }
    }
    text = dollar_params(sql);
    for (int attempt = 0;; attempt++) {
        ExecStatusType st;

        if (!connected(q)) {
            if (q->in_tx) {
                q->in_tx = false;
                r = -ECONNREFUSED;
                break;
            }
            r = connect_locked(s);
            if (r < 0)
                break;
        }
        res = PQexecParams(q->conn, text, n, types, values, NULL, NULL, 0);
        st = PQresultStatus(res);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            r = 0;
            break;
        }
        if (!connected(q) && !q->in_tx && attempt == 0) {
            /* Gone since the last call (a server restart): nothing was done yet. */
            vg_notice(TAG, "%s: the connection to the database was lost; connecting again",
                      s->path);
            PQclear(res);
            res = NULL;
            continue;
        }
        r = result_error_locked(s, res, what);
        break;
    }
    if (r == 0) {
        int rows = PQntuples(res), cols = PQnfields(res);
        const char **v = cols ? g_new0(const char *, cols) : NULL;

        for (int i = 0; r == 0 && row && i < rows; i++) {
            vg_store_row rw = {cols, v};
            for (int c = 0; c < cols; c++)
                v[c] = PQgetisnull(res, i, c) ? NULL : PQgetvalue(res, i, c);
            r = row(&rw, opaque);
        }
        g_free(v);
        if (r == 0 && changes) {
            const char *t = PQcmdTuples(res);
            *changes = *t ? g_ascii_strtoll(t, NULL, 10) : 0;
        }
    }
    PQclear(res);
    g_free(text);
    return r;
}

static int pg_exec_locked(vg_store *s, const char *sql, const char *what)
{
    store_pg *q = pg_of(s);
    PGresult *res;
    int r = 0;

    /* Several statements: the simple query protocol, without parameters. */
    if (!connected(q)) {
        if (q->in_tx) {
            q->in_tx = false;
            return -ECONNREFUSED;
        }
        r = connect_locked(s);
        if (r < 0)
            return r;
    }
    res = PQexec(q->conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        r = result_error_locked(s, res, what);
    PQclear(res);
    return r;
}

static int pg_begin_locked(vg_store *s)
{
    /* Through run: a connection lost while idle is made again here, before anything is done. */
    int r = pg_run_locked(s, "BEGIN", "begin", NULL, 0, NULL, NULL, NULL);

    pg_of(s)->in_tx = r == 0;
    return r;
}

static int pg_commit_locked(vg_store *s)
{
    store_pg *q = pg_of(s);
    PGresult *res;
    int r = 0;

    if (!connected(q)) {
        q->in_tx = false;
        return -ECONNREFUSED;
    }
    res = PQexec(q->conn, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        r = result_error_locked(s, res, "commit");
    } else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        /* The transaction had failed: COMMIT rolled it back. */
        vg_store_fail_log(s, "%s: commit: the transaction was rolled back", s->path);
        r = -EIO;
    }
    PQclear(res);
    q->in_tx = false;
    return r;
}

static void pg_rollback_locked(vg_store *s)
{
    store_pg *q = pg_of(s);

    if (q->in_tx && connected(q))
        PQclear(PQexec(q->conn, "ROLLBACK"));
    q->in_tx = false;
}

static int pg_migrate_begin_locked(vg_store *s)
{
    int r = pg_begin_locked(s);

    /* One instance migrates at a time; the lock goes with the transaction. */
    if (r == 0)
        r = pg_exec_locked(s,
                           "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ");"
                           "CREATE TABLE IF NOT EXISTS vmgate_schema ("
                           "  id INTEGER PRIMARY KEY CHECK (id = 1),"
                           "  version INTEGER NOT NULL);"
                           "INSERT INTO vmgate_schema (id, version) VALUES (1, 0) "
                           "ON CONFLICT (id) DO NOTHING",
                           "migration lock");
    if (r < 0)
        pg_rollback_locked(s);
    return r;
}

static int pg_version_get_locked(vg_store *s, int64_t *version)
{
    int r =
        vg_store_query_int_locked(s, "SELECT version FROM vmgate_schema WHERE id = 1", version, "");
    return r == -ENOENT ? -EIO : r;
}

static int pg_version_set_locked(vg_store *s, int64_t version)
{
    return vg_store_run_locked(s, "UPDATE vmgate_schema SET version = ?1 WHERE id = 1", "migration",
                               "i", version);
}

/* The channel names are [a-z_] (store-bus.c checked): no quoting needed. */
static int pg_listen_locked(vg_store *s, const char *channel)
{
    store_pg *q = pg_of(s);
    g_autofree char *sql = g_strdup_printf("LISTEN %s", channel);

    if (!q->channels)
        q->channels = g_ptr_array_new_with_free_func(g_free);
    if (!g_ptr_array_find_with_equal_func(q->channels, channel, g_str_equal, NULL))
        g_ptr_array_add(q->channels, g_strdup(channel));
    /* A connection made now listens to it already. */
    if (!connected(q))
        return connect_locked(s);
    return pg_exec_locked(s, sql, "listen");
}

static int pg_notify_locked(vg_store *s, const char *channel, const char *payload)
{
    /* Outside a transaction: delivered as soon as the statement ends. */
    return pg_run_locked(s, "SELECT pg_notify(?1, ?2)", "notify",
                         (const vg_store_param[]){{'t', channel, 0}, {'t', payload, 0}}, 2, NULL,
                         NULL, NULL);
}

/* Move the notifications libpq has read into @out. */
static void take_notifies(store_pg *q, GPtrArray *out)
{
    PGnotify *n;

    while ((n = PQnotifies(q->conn)) != NULL) {
        g_ptr_array_add(out, vg_store_notification_new(n->relname, n->extra));
        PQfreemem(n);
    }
}

static int pg_wait_locked(vg_store *s, int wake_fd, int timeout_ms, GPtrArray *out)
{
    store_pg *q = pg_of(s);
    struct pollfd fds[2];
    nfds_t nfds = 1;
    char *m;
    int r;

    if (q->missed) {
        q->missed = false;
        g_ptr_array_add(out, vg_store_notification_new(NULL, NULL));
    }
    if (!connected(q))
        return -ECONNREFUSED;
    /* Those that came with the answers to other statements first. */
    take_notifies(q, out);
    if (out->len > 0)
        return 0;
    fds[0] = (struct pollfd){.fd = PQsocket(q->conn), .events = POLLIN};
    if (wake_fd >= 0)
        fds[nfds++] = (struct pollfd){.fd = wake_fd, .events = POLLIN};
    do
        r = poll(fds, nfds, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    if (r == 0 || !(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
        return 0;
    if (!PQconsumeInput(q->conn) || !connected(q)) {
        m = conn_message(q->conn);
        vg_store_fail_log(s, "%s: the connection to the database was lost: %s", s->path, m);
        g_free(m);
        q->lost = true;
        /* The next call connects again (and listens again). */
        PQfinish(q->conn);
        q->conn = NULL;
        return -ECONNREFUSED;
    }
    take_notifies(q, out);
    return 0;
}

static void pg_close(vg_store *s)
{
    store_pg *q = pg_of(s);

    if (q->conn)
        PQfinish(q->conn);
    q->conn = NULL;
    secret_free(q->dsn);
    secret_free(q->password);
    q->dsn = q->password = NULL;
    g_clear_pointer(&q->channels, g_ptr_array_unref);
}

static const vg_store_ops pg_ops = {
    .backend = VG_STORE_POSTGRESQL,
    .migrations = vg_store_pg_migrations,
    .exec_locked = pg_exec_locked,
    .run_locked = pg_run_locked,
    .begin_locked = pg_begin_locked,
    .commit_locked = pg_commit_locked,
    .rollback_locked = pg_rollback_locked,
    .migrate_begin_locked = pg_migrate_begin_locked,
    .version_get_locked = pg_version_get_locked,
    .version_set_locked = pg_version_set_locked,
    .listen_locked = pg_listen_locked,
    .notify_locked = pg_notify_locked,
    .wait_locked = pg_wait_locked,
    .close = pg_close,
};

/* The value of @keyword in parsed connection options, or NULL. */
static const char *option(PQconninfoOption *opts, const char *keyword)
{
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, keyword) == 0)
            return o->val && *o->val ? o->val : NULL;
    }
    return NULL;
}

/*
 * A server reached over a network with a TLS mode that does not check its
 * name lets anyone on the path see or change the store: say so. Local
 * sockets and loopback addresses need no TLS.
 */
static void warn_unverified_tls(PQconninfoOption *opts, const char *name)
{
    const char *host = option(opts, "host"), *addr = option(opts, "hostaddr");
    const char *mode = option(opts, "sslmode");
    const char *where = addr ? addr : host;

    if (!where || where[0] == '/' || where[0] == '@' || strcmp(where, "localhost") == 0 ||
        g_str_has_prefix(where, "127.") || strcmp(where, "::1") == 0)
        return;
    if (!mode || strcmp(mode, "verify-full") != 0)
        vg_warning(TAG,
                   "%s: the server's certificate and name are not checked (sslmode=%s); "
                   "use sslmode=verify-full with sslrootcert",
                   name, mode ? mode : "prefer");
}

/*
 * What logs call the database: postgresql://USER@HOST:PORT/NAME from the
 * DSN's parts (never its password), with what the DSN leaves out omitted.
 */
static char *display_name(PQconninfoOption *opts)
{
    const char *user = NULL, *host = NULL, *port = NULL, *db = NULL;
    GString *g = g_string_new("postgresql://");

    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (strcmp(o->keyword, "user") == 0)
            user = o->val;
        else if (strcmp(o->keyword, "host") == 0 || (strcmp(o->keyword, "hostaddr") == 0 && !host))
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            db = o->val;
    }
    if (user)
        g_string_append_printf(g, "%s@", user);
    g_string_append(g, host ? host : "(default socket)");
    if (port)
        g_string_append_printf(g, ":%s", port);
    if (db)
        g_string_append_printf(g, "/%s", db);
    return g_string_free(g, FALSE);
}

/*
 * Read the password file: one line (a final newline is not part of it), a
 * regular file not readable by others (group is allowed, for a group the
 * daemon runs in).
 */
static int read_password_file(const char *path, char **out)
{
    char buf[PASSWORD_MAX + 2];
    struct stat sb;
    ssize_t n;
    int fd, r = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        r = -errno;
        vg_error(TAG, "password file %s: %s", path, g_strerror(errno));
        return r;
    }
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        vg_error(TAG, "password file %s: not a regular file", path);
        r = -EINVAL;
    } else if (sb.st_mode & 0007) {
        vg_error(TAG,
                 "password file %s: readable or writable by others (mode %04o); "
                 "make it 0600 or 0640",
                 path, (unsigned)(sb.st_mode & 07777));
        r = -EACCES;
    } else if ((n = read(fd, buf, sizeof(buf) - 1)) < 0) {
        r = -errno;
        vg_error(TAG, "password file %s: %s", path, g_strerror(errno));
    } else if (n > PASSWORD_MAX) {
        vg_error(TAG, "password file %s: longer than %d bytes", path, PASSWORD_MAX);
        r = -EINVAL;
    } else {
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        if (!*buf) {
            vg_error(TAG, "password file %s: empty", path);
            r = -EINVAL;
        } else {
            *out = g_strdup(buf);
        }
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    close(fd);
    return r;
}

int vg_store_pg_open(const char *dsn, const char *password_file, unsigned connect_timeout,
                     vg_store **out)
{
    PQconninfoOption *opts;
    char *err = NULL, *name;
    PGresult *res;
    store_pg *q;
    int r;

    opts = PQconninfoParse(dsn, &err);
    if (!opts) {
        /* libpq's message may quote a piece of the string, which may be a password. */
        vg_error(TAG, "the dsn is not a libpq connection string (keyword=value pairs or a "
                      "postgresql:// URI)");
        PQfreemem(err);
        return -EINVAL;
    }
    name = display_name(opts);
    warn_unverified_tls(opts, name);
    if (option(opts, "password"))
        vg_warning(TAG, "%s: the dsn holds a password; keep it in [store] password_file instead",
                   name);
    PQconninfoFree(opts);

    q = g_new0(store_pg, 1);
    vg_store_base_init(&q->base, &pg_ops, name);
    g_free(name);
    q->dsn = g_strdup(dsn);
    g_snprintf(q->connect_timeout, sizeof(q->connect_timeout), "%u",
               connect_timeout ? connect_timeout : 5);
    if (password_file && (r = read_password_file(password_file, &q->password)) < 0)
        goto fail;

    g_mutex_lock(&q->base.lock);
    r = connect_locked(&q->base);
    if (r == 0) {
        /* Names are UTF-8; a database in another encoding could not hold every one. */
        res = PQexec(q->conn, "SHOW server_encoding");
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            r = result_error_locked(&q->base, res, "server encoding");
        } else if (strcmp(PQgetvalue(res, 0, 0), "UTF8") != 0) {
            vg_error(TAG,
                     "%s: the database's encoding is %s; vmgate needs UTF8 "
                     "(CREATE DATABASE ... ENCODING 'UTF8')",
                     q->base.path, PQgetvalue(res, 0, 0));
            r = -ENOTSUP;
        }
        PQclear(res);
    }
    if (r == 0)
        r = vg_store_migrate_locked(&q->base);
    g_mutex_unlock(&q->base.lock);
    if (r < 0)
        goto fail;
    vg_info(TAG, "%s: connected (PostgreSQL %d, %s)", q->base.path, PQserverVersion(q->conn),
            PQsslInUse(q->conn) ? "TLS" : "no TLS");
    *out = &q->base;
    return 0;

fail:
    vg_store_close(&q->base);
    return r;
}
