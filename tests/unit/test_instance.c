/*
 * Unit tests: vmgated's instance (server/daemon/instance.c) against a real
 * SQLite store and a registry on libvirt's test driver (test:///default,
 * one running VM "test"): it registers with its ports, beats, writes its
 * VMs, takes new ports, comes back when its row is gone, and is marked
 * stopped when it stops; it writes the session registry's viewers as they
 * come, change and go, and stops at once when asked (SQLite: no bus, it
 * waits on its wake-up alone). Every wait is bounded.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "instance.h"
#include "log.h"
#include "registry.h"
#include "sessions.h"
#include "store.h"

typedef struct fixture {
    char *dir, *path;
    vg_store *store; /* the test's own connection, as another instance would read */
    vg_registry *registry;
    vg_instance *instance;
} fixture;

static int setup(void **state)
{
    fixture *f = g_new0(fixture, 1);

    f->dir = g_dir_make_tmp("vg-instance-XXXXXX", NULL);
    assert_non_null(f->dir);
    f->path = g_build_filename(f->dir, "vmgate.db", NULL);
    assert_int_equal(vg_store_open(f->path, &f->store), 0);
    assert_int_equal(vg_registry_new("test:///default", "*", NULL, NULL, &f->registry), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    const char *suffixes[] = {"", "-wal", "-shm", "-probe"};

    vg_instance_stop(f->instance);
    vg_registry_free(f->registry);
    vg_store_close(f->store);
    for (size_t i = 0; i < G_N_ELEMENTS(suffixes); i++) {
        g_autofree char *p = g_strconcat(f->path, suffixes[i], NULL);
        g_unlink(p);
    }
    g_rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
    g_free(f);
    return 0;
}

static void start(fixture *f)
{
    vg_store_options so = {.backend = VG_STORE_SQLITE, .path = f->path};
    vg_store_instance_info info = {"gw-t", "gw-t.example.org", 5900, 0, 8443};

    assert_int_equal(vg_instance_start(&so, &info, f->registry, NULL, NULL, &f->instance), 0);
}

/* The one instance the store lists (its row must be there). */
static vg_store_instance *the_instance(fixture *f)
{
    g_autoptr(GPtrArray) a = NULL;
    vg_store_instance *i;

    assert_int_equal(vg_store_instance_list(f->store, 60000, &a), 0);
    assert_int_equal(a->len, 1);
    i = g_ptr_array_steal_index(a, 0);
    return i;
}

/* Whether the store holds VM "test" on gw-t, running. */
static bool placed(fixture *f)
{
    g_autoptr(GPtrArray) a = NULL;
    vg_store_placement *p;

    assert_int_equal(vg_store_placement_list(f->store, 60000, &a), 0);
    if (a->len != 1)
        return false;
    p = g_ptr_array_index(a, 0);
    return strcmp(p->vm, "test") == 0 && strcmp(p->instance, "gw-t") == 0 &&
           strcmp(p->state, "running") == 0;
}

/* Poll @cond for at most @ms milliseconds. */
#define WAIT_FOR(cond, ms)                                                                         \
    do {                                                                                           \
        gint64 end_ = g_get_monotonic_time() + (ms)*G_TIME_SPAN_MILLISECOND;                       \
        while (!(cond) && g_get_monotonic_time() < end_)                                           \
            g_usleep(20 * 1000);                                                                   \
        assert_true(cond);                                                                         \
    } while (0)

static void test_instance_registers_beats_writes_its_vms_and_stops(void **state)
{
    fixture *f = *state;
    vg_store_instance *i;
    int64_t first;

    start(f);
    /* Registered before the start returned: listed at once, with its ports. */
    i = the_instance(f);
    assert_string_equal(i->name, "gw-t");
    assert_string_equal(i->address, "gw-t.example.org");
    assert_int_equal(i->vnc_port, 5900);
    assert_int_equal(i->rdp_port, 0);
    assert_int_equal(i->web_port, 8443);
    assert_true(i->up);
    first = i->heartbeat;
    vg_store_instance_free(i);

    /* The registry's VM, once libvirt is connected (a beat after). */
    WAIT_FOR(placed(f), 5000);
    /* It beats on its own: a later heartbeat within two periods and a bit. */
    WAIT_FOR(((i = the_instance(f))->heartbeat > first ? (vg_store_instance_free(i), true)
                                                       : (vg_store_instance_free(i), false)),
             2 * VG_INSTANCE_HEARTBEAT_MS + 500);

    /* The front ends started on a reload: registered again with their ports. */
    vg_instance_set_ports(f->instance, 5900, 3389, 8443);
    WAIT_FOR(((i = the_instance(f))->rdp_port == 3389 ? (vg_store_instance_free(i), true)
                                                      : (vg_store_instance_free(i), false)),
             2000);
    assert_true(placed(f));

    /* A clean stop: stopped (not down), its VM kept, unreachable through it. */
    vg_instance_stop(f->instance);
    f->instance = NULL;
    i = the_instance(f);
    assert_true(i->stopped);
    assert_false(i->up);
    assert_int_equal(i->vms, 1);
    vg_store_instance_free(i);
}

/* Its row removed behind its back (a database restored, an operator's DELETE): at the next
 * beat it is registered again and writes its VMs again, all of them. */
static void test_instance_registers_again_when_its_row_is_gone(void **state)
{
    fixture *f = *state;
    sqlite3 *db;

    start(f);
    WAIT_FOR(placed(f), 5000);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA foreign_keys = ON; "
                                  "DELETE FROM instances WHERE name = 'gw-t'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_changes(db), 1); /* its placement went with it (cascade) */
    sqlite3_close(db);
    WAIT_FOR(placed(f), 2 * VG_INSTANCE_HEARTBEAT_MS + 500);
    {
        vg_store_instance *i = the_instance(f);
        assert_true(i->up);
        vg_store_instance_free(i);
    }
}

/* The viewers the store lists for gw-t, as "id session vm user role" lines joined by ';'. */
static char *stored_viewers(fixture *f)
{
    g_autoptr(GPtrArray) a = NULL;
    GString *g = g_string_new("");

    assert_int_equal(vg_store_viewer_list(f->store, 60000, &a), 0);
    for (guint i = 0; i < a->len; i++) {
        vg_store_viewer *v = g_ptr_array_index(a, i);
        assert_string_equal(v->instance, "gw-t");
        g_string_append_printf(g, "%s%s %s %s %s %s", i ? ";" : "", v->id, v->session, v->vm,
                               v->user, vg_role_name(v->role));
    }
    return g_string_free(g, FALSE);
}

static bool viewers_are(fixture *f, const char *want)
{
    g_autofree char *got = stored_viewers(f);
    return strcmp(got, want) == 0;
}

static void test_instance_writes_its_viewers_as_they_change(void **state)
{
    fixture *f = *state;
    vg_store_options so = {.backend = VG_STORE_SQLITE, .path = f->path};
    vg_store_instance_info info = {"gw-t", "gw-t.example.org", 5900, 0, 8443};
    vg_sessions *sessions = vg_sessions_new();
    char v1[24], v2[24];
    int64_t t0;

    assert_int_equal(vg_sessions_join(sessions, "test", "alice", "vnc", VG_ROLE_OWNER, "192.0.2.1",
                                      NULL, NULL, v1),
                     0);
    assert_int_equal(vg_instance_start(&so, &info, f->registry, sessions, NULL, &f->instance), 0);
    /* Written with the registration, before the start returned. */
    assert_true(viewers_are(f, "v1 s1 test alice owner"));

    assert_int_equal(vg_sessions_join(sessions, "test", "bob", "rdp", VG_ROLE_OBSERVER, "192.0.2.2",
                                      NULL, NULL, v2),
                     0);
    WAIT_FOR(viewers_are(f, "v1 s1 test alice owner;v2 s1 test bob observer"),
             2 * VG_INSTANCE_HEARTBEAT_MS + 500);
    assert_int_equal(vg_sessions_set_role(sessions, "test", "bob", VG_ROLE_CONTROLLER), 1);
    WAIT_FOR(viewers_are(f, "v1 s1 test alice owner;v2 s1 test bob controller"),
             2 * VG_INSTANCE_HEARTBEAT_MS + 500);
    vg_sessions_leave(sessions, v1);
    WAIT_FOR(viewers_are(f, "v2 s1 test bob controller"), 2 * VG_INSTANCE_HEARTBEAT_MS + 500);

    /* Asked to stop, it does at once (not at its next beat), and its viewers go. */
    t0 = g_get_monotonic_time();
    vg_instance_stop(f->instance);
    f->instance = NULL;
    assert_true(g_get_monotonic_time() - t0 < 500 * G_TIME_SPAN_MILLISECOND);
    assert_true(viewers_are(f, ""));
    vg_sessions_free(sessions);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_instance_registers_beats_writes_its_vms_and_stops),
        T(test_instance_registers_again_when_its_row_is_gone),
        T(test_instance_writes_its_viewers_as_they_change),
#undef T
    };
    /* libvirt's test driver has no graphics: the registry's console warnings are expected. */
    vg_log_set_level(VG_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
