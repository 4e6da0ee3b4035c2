/*
 * Unit tests: what vmgated's /metrics and /readyz say
 * (server/metrics/metrics-collect.c), from a real session registry, store,
 * broker, audit log and VM registry on libvirt's test driver.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "audit.h"
#include "broker.h"
#include "config.h"
#include "hypervisor.h"
#include "metrics-collect.h"
#include "metrics.h"
#include "registry.h"
#include "sessions.h"
#include "store.h"
#include "util.h"

typedef struct fixture {
    char *dir;
    char *db;
    vg_store *store;
    vg_sessions *sessions;
    vg_registry *registry;
    vg_broker *broker;
    vg_audit *audit;
    vg_config *cfg;
    vg_metrics_sources src;
} fixture;

static int setup(void **state)
{
    fixture *f = g_new0(fixture, 1);
    g_autofree char *audit = NULL;
    int64_t end = vg_now_us() + 10 * G_USEC_PER_SEC;

    f->dir = g_dir_make_tmp("vgmetrics-XXXXXX", NULL);
    f->db = g_build_filename(f->dir, "s.db", NULL);
    audit = g_build_filename(f->dir, "audit.log", NULL);
    assert_int_equal(vg_store_open(f->db, &f->store), 0);
    assert_int_equal(vg_audit_new(audit, "gw-test", &f->audit), 0);
    f->sessions = vg_sessions_new();
    f->cfg = vg_config_new_defaults();
    vg_libvirt_quiet();
    assert_int_equal(vg_registry_new("test:///default", NULL, NULL, NULL, &f->registry), 0);
    while (!vg_registry_connected(f->registry) && vg_now_us() < end)
        g_usleep(10 * 1000); /* polling a condition with a deadline */
    assert_true(vg_registry_connected(f->registry));
    assert_int_equal(
        vg_broker_new(f->store, f->registry, f->sessions, f->cfg, NULL, NULL, &f->broker), 0);
    f->src = (vg_metrics_sources){.sessions = f->sessions,
                                  .registry = f->registry,
                                  .broker = f->broker,
                                  .audit = f->audit,
                                  .store_path = f->db,
                                  .instance = "gw-test"};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    g_autofree char *audit = g_build_filename(f->dir, "audit.log", NULL);
    g_autofree char *wal = g_strconcat(f->db, "-wal", NULL),
                    *shm = g_strconcat(f->db, "-shm", NULL);

    vg_broker_free(f->broker);
    vg_registry_free(f->registry);
    vg_sessions_free(f->sessions);
    vg_audit_free(f->audit);
    vg_store_close(f->store);
    vg_config_free(f->cfg);
    g_unlink(f->db);
    g_unlink(wal);
    g_unlink(shm);
    g_unlink(audit);
    g_rmdir(f->dir);
    g_free(f->db);
    g_free(f->dir);
    g_free(f);
    return 0;
}

static void no_kick(void *opaque, const char *reason)
{
    (void)opaque;
    (void)reason;
}

static const vg_viewer_ops viewer_ops = {.kick = no_kick};

/* The page has exactly the line @line. */
static bool has_line(const char *page, const char *line)
{
    g_autofree char *needle = g_strdup_printf("\n%s\n", line);
    return strstr(page, needle) != NULL;
}

/* Viewers are read from the session registry: a front end that joins
 * sessions with its protocol's name (here "web") shows without any
 * change to the metrics code. */
static void test_viewers_come_from_the_session_registry(void **state)
{
    fixture *f = *state;
    char id[4][24];
    g_autoptr(GString) out = g_string_new(NULL);

    assert_int_equal(vg_sessions_join(f->sessions, "vm1", "alice", "web", VG_ROLE_OWNER,
                                      "192.0.2.1:1", &viewer_ops, NULL, id[0]),
                     0);
    assert_int_equal(vg_sessions_join(f->sessions, "vm1", "bob", "web", VG_ROLE_OBSERVER,
                                      "192.0.2.2:1", &viewer_ops, NULL, id[1]),
                     0);
    assert_int_equal(vg_sessions_join(f->sessions, "vm1", "carol", "rdp", VG_ROLE_OBSERVER,
                                      "192.0.2.3:1", &viewer_ops, NULL, id[2]),
                     0);
    assert_int_equal(vg_sessions_join(f->sessions, "vm2", "dave", "vnc", VG_ROLE_CONTROLLER,
                                      "192.0.2.4:1", &viewer_ops, NULL, id[3]),
                     0);
    vg_metrics_collect(&f->src, out);
    assert_true(has_line(out->str, "vmgate_viewers{protocol=\"web\",role=\"owner\"} 1"));
    assert_true(has_line(out->str, "vmgate_viewers{protocol=\"web\",role=\"observer\"} 1"));
    assert_true(has_line(out->str, "vmgate_viewers{protocol=\"rdp\",role=\"observer\"} 1"));
    assert_true(has_line(out->str, "vmgate_viewers{protocol=\"vnc\",role=\"controller\"} 1"));
    assert_true(has_line(out->str, "vmgate_viewers{protocol=\"vnc\",role=\"owner\"} 0"));
    assert_true(has_line(out->str, "vmgate_sessions 2"));

    vg_sessions_leave(f->sessions, id[0]);
    g_string_truncate(out, 0);
    vg_metrics_collect(&f->src, out);
    assert_true(has_line(out->str, "vmgate_viewers{protocol=\"web\",role=\"owner\"} 0"));
    for (int i = 1; i < 4; i++)
        vg_sessions_leave(f->sessions, id[i]);
    g_string_truncate(out, 0);
    vg_metrics_collect(&f->src, out);
    assert_true(has_line(out->str, "vmgate_sessions 0"));
}

/* Failed logins are counted by result; a lockout shows as a throttled
 * user and address, and the next attempt is counted as throttled. */
static void test_failed_logins_lockouts_and_throttling_are_counted(void **state)
{
    fixture *f = *state;
    vg_broker_result res;
    g_autoptr(GString) out = g_string_new(NULL);
    uint64_t bad0 = vg_counter_get(&vg_metrics.logins[VG_METRIC_LOGIN_BAD_CREDENTIALS]);
    uint64_t thr0 = vg_counter_get(&vg_metrics.logins[VG_METRIC_LOGIN_THROTTLED]);
    uint64_t lock0 = vg_counter_get(&vg_metrics.lockouts[VG_METRIC_LOCKOUT_USER]);

    vg_metrics_collect(&f->src, out);
    assert_true(has_line(out->str, "vmgate_throttled{kind=\"user\"} 0"));
    for (unsigned i = 0; i < f->cfg->max_failures; i++)
        vg_broker_login(f->broker, "mallory", "guess", "192.0.2.9:4000", NULL, 1, &res);
    assert_int_equal(vg_counter_get(&vg_metrics.logins[VG_METRIC_LOGIN_BAD_CREDENTIALS]),
                     bad0 + f->cfg->max_failures);
    assert_int_equal(vg_counter_get(&vg_metrics.lockouts[VG_METRIC_LOCKOUT_USER]), lock0 + 1);
    vg_broker_login(f->broker, "mallory", "guess", "192.0.2.9:4000", NULL, 1, &res);
    assert_int_equal(res.status, VG_BROKER_AUTH_FAILED);
    assert_int_equal(vg_counter_get(&vg_metrics.logins[VG_METRIC_LOGIN_THROTTLED]), thr0 + 1);

    g_string_truncate(out, 0);
    vg_metrics_collect(&f->src, out);
    assert_true(has_line(out->str, "vmgate_throttled{kind=\"user\"} 1"));
    assert_true(has_line(out->str, "vmgate_throttled{kind=\"address\"} 1"));
}

static void test_page_has_build_info_and_the_libvirt_connection(void **state)
{
    fixture *f = *state;
    g_autoptr(GString) out = g_string_new(NULL);

    vg_metrics_collect(&f->src, out);
    assert_non_null(strstr(out->str, "\nvmgate_build_info{version=\""));
    /* The instance's name, so that the pages of several instances can be told apart. */
    assert_non_null(strstr(out->str, "\",instance=\"gw-test\"} 1\n"));
    assert_true(has_line(out->str, "vmgate_libvirt_connected 1"));
    /* libvirt's test driver has one running VM, "test". */
    assert_true(has_line(out->str, "vmgate_vms{state=\"running\"} 1"));
    /* The counters of base/metrics.h follow. */
    assert_non_null(strstr(out->str, "\n# TYPE vmgate_logins_total counter\n"));
}

static void test_ready_names_each_check(void **state)
{
    fixture *f = *state;
    g_autoptr(GString) out = g_string_new(NULL);

    assert_true(vg_metrics_ready(&f->src, out));
    assert_string_equal(out->str, "libvirt: ok\nstore: ok\naudit: ok\n");
    /* The store's file gone: its check names it. */
    g_string_truncate(out, 0);
    f->src.store_path = "/nonexistent-vmgate-dir/s.db";
    assert_false(vg_metrics_ready(&f->src, out));
    assert_non_null(strstr(out->str, "store: /nonexistent-vmgate-dir/s.db: "));
    assert_non_null(strstr(out->str, "libvirt: ok\n"));
    assert_non_null(strstr(out->str, "audit: ok\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_viewers_come_from_the_session_registry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_logins_lockouts_and_throttling_are_counted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_has_build_info_and_the_libvirt_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ready_names_each_check, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
