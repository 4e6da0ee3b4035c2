/*
 * Unit tests: the audit log copied to the shared store (audit-ship.c), on
 * the private PostgreSQL cluster of tests/lib/pgcluster (VMGATE_PG_DIR),
 * in a database of this run's own: records reach the table as the file has
 * them, a writer of audit records never waits for a slow or stopped
 * database, what was queued meanwhile is written once it is back, the
 * queue's bound drops the newest records and counts them, and stopping
 * writes what is left.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <libpq-fe.h>

#include "audit-ship.h"
#include "log.h"
#include "metrics.h"

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
    vg_audit *audit;
    vg_store *store; /* to read the table back */
    vg_audit_ship *ship;
} fixture;

static vg_store_options store_options(void)
{
    return (vg_store_options){
        .backend = VG_STORE_POSTGRESQL, .dsn = pg.dsn, .password_file = pg.password_file};
}

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

static void pg_run(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);

    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

static void pg_exec(const char *dsn, const char *sql)
{
    PGconn *c = pg_connect(dsn);

    pg_run(c, sql);
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
    vg_store_options so = store_options();

    f->dir = g_dir_make_tmp("vg-ship-XXXXXX", NULL);
    assert_non_null(f->dir);
    f->path = g_build_filename(f->dir, "audit.log", NULL);
    pg_exec(pg.dsn, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    assert_int_equal(vg_store_open_with(&so, &f->store), 0);
    assert_int_equal(vg_audit_new(f->path, "gw-b", &f->audit), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    vg_audit_ship_stop(f->ship);
    vg_audit_free(f->audit);
    vg_store_close(f->store);
    g_unlink(f->path);
    g_rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
    g_free(f);
    return 0;
}

static void start_ship(fixture *f, unsigned queue_max)
{
    vg_store_options so = store_options();
    vg_audit_ship_options opt = {.queue_max = queue_max, .retry_ms = 100};

    assert_int_equal(vg_audit_ship_start(&so, f->audit, "gw-b", &opt, &f->ship), 0);
}

static vg_audit_ship_stats stats(fixture *f)
{
    vg_audit_ship_stats st;

    vg_audit_ship_get_stats(f->ship, &st);
    return st;
}

/* Wait (at most @ms) until the ship has written @n records in all. */
static void wait_written(fixture *f, uint64_t n, int ms)
{
    int64_t end = g_get_monotonic_time() + ms * G_TIME_SPAN_MILLISECOND;

    while (stats(f).written < n) {
        if (g_get_monotonic_time() > end)
            fail_msg("%" G_GUINT64_FORMAT " records written after %d ms, not %" G_GUINT64_FORMAT,
                     stats(f).written, ms, n);
        g_usleep(20 * 1000);
    }
}

/* The last @n lines of the file, and of the table. */
static GPtrArray *file_tail(fixture *f, unsigned n)
{
    GPtrArray *a = NULL;

    assert_int_equal(vg_audit_tail(f->audit, n, &a), 0);
    return a;
}

static GPtrArray *table_tail(fixture *f, unsigned n)
{
    GPtrArray *a = NULL;

    assert_int_equal(vg_store_audit_tail(f->store, n, &a), 0);
    return a;
}

static void assert_same_lines(GPtrArray *a, GPtrArray *b)
{
    assert_int_equal(a->len, b->len);
    for (guint i = 0; i < a->len; i++)
        assert_string_equal(a->pdata[i], b->pdata[i]);
}

/* An audit record as a login makes one, timed: @return its milliseconds. */
static int64_t timed_login(fixture *f, int i)
{
    g_autofree char *user = g_strdup_printf("user%d", i);
    int64_t t0 = g_get_monotonic_time();

    assert_int_equal(vg_audit_login_ok(f->audit, user, "vm1", "vnc", "192.0.2.7"), 0);
    return (g_get_monotonic_time() - t0) / 1000;
}

static void test_audit_ship_writes_records_as_the_file_has_them(void **state)
{
    fixture *f = *state;
    g_autoptr(GPtrArray) file = NULL, table = NULL;

    start_ship(f, 0);
    assert_int_equal(vg_audit_login_ok(f->audit, "alice", "vm1", "rdp", "192.0.2.7"), 0);
    assert_int_equal(vg_audit_login_failed(f->audit, "mallory", "192.0.2.8", "vnc", "bad"), 0);
    assert_int_equal(vg_audit_event(f->audit, "lockout", "user", "mallory", NULL), 0);
    assert_int_equal(vg_audit_logout(f->audit, "alice", "vm1", "rdp", "192.0.2.7", "left"), 0);
    wait_written(f, 4, 10000);

    file = file_tail(f, 100);
    table = table_tail(f, 100);
    assert_same_lines(file, table);
    assert_non_null(strstr(table->pdata[0], "\"instance\":\"gw-b\""));
    g_ptr_array_unref(table);
    table = table_tail(f, 2);
    assert_string_equal(table->pdata[1], file->pdata[3]);
    assert_int_equal(stats(f).dropped, 0);
}

/*
 * A database that takes nothing (another connection holds the table
 * locked): each record's writer returns at once, the queue keeps the first
 * records up to its bound and drops (and counts) the rest; once the table
 * is free the kept ones are written, in order.
 */
static void test_audit_ship_slow_database_blocks_no_writer(void **state)
{
    fixture *f = *state;
    g_autoptr(GPtrArray) file = NULL, table = NULL;
    uint64_t metric0 = vg_counter_get(&vg_metrics.audit_store_dropped);
    PGconn *locker = pg_connect(pg.dsn);
    int64_t slowest = 0;

    start_ship(f, 10);
    /* Should an assertion below end the test with the lock held, the server ends it. */
    pg_run(locker, "SET idle_in_transaction_session_timeout = '20s'");
    pg_run(locker, "BEGIN");
    pg_run(locker, "LOCK TABLE audit IN ACCESS EXCLUSIVE MODE");
    for (int i = 0; i < 25; i++) {
        int64_t ms = timed_login(f, i);
        slowest = MAX(slowest, ms);
    }
    assert_true(slowest < 500);
    g_usleep(300 * 1000);
    assert_int_equal(stats(f).written, 0);
    assert_int_equal(stats(f).queued, 10);
    assert_int_equal(stats(f).dropped, 15);
    assert_int_equal(vg_counter_get(&vg_metrics.audit_store_dropped) - metric0, 15);

    pg_run(locker, "COMMIT");
    PQfinish(locker);
    wait_written(f, 10, 10000);
    file = file_tail(f, 25);
    g_ptr_array_set_size(file, 10); /* the first ten */
    table = table_tail(f, 100);
    assert_same_lines(file, table);
}

/*
 * The server stopped: writers go on at once, the ship says it is failing;
 * the server started again: what was queued is written, with nothing lost
 * or doubled.
 */
static void test_audit_ship_outage_queues_and_writes_after(void **state)
{
    fixture *f = *state;
    g_autoptr(GPtrArray) file = NULL, table = NULL;
    int64_t slowest = 0, end;

    start_ship(f, 0);
    assert_int_equal(vg_audit_login_ok(f->audit, "before", "vm1", "vnc", "192.0.2.7"), 0);
    wait_written(f, 1, 10000);
    g_free(pgcluster("stop"));
    for (int i = 0; i < 20; i++) {
        int64_t ms = timed_login(f, i);
        slowest = MAX(slowest, ms);
    }
    assert_true(slowest < 500);
    end = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;
    while (!stats(f).failing && g_get_monotonic_time() < end)
        g_usleep(20 * 1000);
    assert_true(stats(f).failing);
    assert_int_equal(stats(f).queued, 20);
    /* Still no wait while it retries. */
    assert_true(timed_login(f, 20) < 500);

    g_free(pgcluster("start"));
    wait_written(f, 22, 20000);
    assert_false(stats(f).failing);
    assert_int_equal(stats(f).dropped, 0);
    file = file_tail(f, 100);
    table = table_tail(f, 100);
    assert_int_equal(table->len, 22);
    assert_same_lines(file, table);
}

static void test_audit_ship_stop_writes_what_is_left(void **state)
{
    fixture *f = *state;
    g_autoptr(GPtrArray) file = NULL, table = NULL;

    start_ship(f, 0);
    for (int i = 0; i < 300; i++) /* more than a batch */
        assert_int_equal(vg_audit_event(f->audit, "test", "n", "x", NULL), 0);
    vg_audit_ship_stop(f->ship);
    f->ship = NULL;
    file = file_tail(f, 1000);
    table = table_tail(f, 1000);
    assert_int_equal(table->len, 300);
    assert_same_lines(file, table);
}

static int group_setup(void **state)
{
    const char *dir = g_getenv("VMGATE_PG_DIR");
    char *sql;

    (void)state;
    if (!dir || !*dir) {
        fprintf(stderr, "test_audit_ship: VMGATE_PG_DIR names no cluster "
                        "(tests/lib/pgcluster up starts one)\n");
        return -1;
    }
    pg.dir = g_strdup(dir);
    pg.base_dsn = pgcluster("dsn");
    pg.password_file = g_build_filename(pg.dir, "password", NULL);
    pg.db = g_strdup_printf("vgship_%d_%08x", (int)getpid(), g_random_int());
    pg.dsn = g_strdup_printf("%s dbname=%s", pg.base_dsn, pg.db);
    sql = g_strdup_printf("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8'", pg.db);
    pg_exec(pg.base_dsn, sql);
    g_free(sql);
    return 0;
}

static int group_teardown(void **state)
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

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_audit_ship_writes_records_as_the_file_has_them),
        T(test_audit_ship_slow_database_blocks_no_writer),
        T(test_audit_ship_outage_queues_and_writes_after),
        T(test_audit_ship_stop_writes_what_is_left),
    };
#undef T
    vg_log_set_level(VG_LOG_ERROR); /* the outage's warnings are the point, not news */
    return cmocka_run_group_tests_name("audit_ship", tests, group_setup, group_teardown);
}
