/*
 * Unit tests: admission of a logged-in client by the second-login policy
 * (takeover or join) with the real session registry and viewer doubles.
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

#include "broker.h"

typedef struct viewer {
    int kicks;
    char reason[160];
} viewer;

static void v_kick(void *opaque, const char *reason)
{
    viewer *v = opaque;
    v->kicks++;
    g_strlcpy(v->reason, reason, sizeof(v->reason));
}

static const vg_viewer_ops vops = {.kick = v_kick};

typedef struct fixture {
    char *dir;
    vg_store *store;
    vg_sessions *sessions;
    vg_config *cfg;
    vg_broker *broker;
    int audits;
} fixture;

static void audit(void *opaque, const char *event, ...)
{
    fixture *f = opaque;
    if (strcmp(event, "kick") == 0)
        f->audits++;
}

static int setup_mode(void **state, vg_second_login mode)
{
    fixture *f = g_new0(fixture, 1);
    g_autofree char *db = NULL;
    f->dir = g_dir_make_tmp("vgbroker-XXXXXX", NULL);
    db = g_build_filename(f->dir, "s.db", NULL);
    assert_int_equal(vg_store_open(db, &f->store), 0);
    f->sessions = vg_sessions_new();
    f->cfg = vg_config_new_defaults();
    f->cfg->second_login = mode;
    assert_int_equal(vg_broker_new(f->store, NULL, f->sessions, f->cfg, audit, f, &f->broker), 0);
    *state = f;
    return 0;
}

static int setup_takeover(void **state)
{
    return setup_mode(state, VG_SECOND_LOGIN_TAKEOVER);
}

static int setup_join(void **state)
{
    return setup_mode(state, VG_SECOND_LOGIN_JOIN);
}

static int teardown(void **state)
{
    fixture *f = *state;
    g_autofree char *db = g_build_filename(f->dir, "s.db", NULL);
    g_autofree char *wal = g_strconcat(db, "-wal", NULL), *shm = g_strconcat(db, "-shm", NULL);
    vg_broker_free(f->broker);
    vg_sessions_free(f->sessions);
    vg_store_close(f->store);
    vg_config_free(f->cfg);
    g_unlink(db);
    g_unlink(wal);
    g_unlink(shm);
    g_rmdir(f->dir);
    g_free(f->dir);
    g_free(f);
    return 0;
}

static vg_broker_result login_as(const char *user, const char *vm, vg_role role)
{
    vg_broker_result r;
    memset(&r, 0, sizeof(r));
    g_strlcpy(r.user, user, sizeof(r.user));
    g_strlcpy(r.vm, vm, sizeof(r.vm));
    r.role = role;
    return r;
}

static void test_broker_second_login_takes_over(void **state)
{
    fixture *f = *state;
    viewer first = {0}, second = {0}, other = {0};
    char id1[24], id2[24], id3[24];
    vg_broker_result alice = login_as("alice", "vm1", VG_ROLE_OWNER);
    vg_broker_result bob = login_as("bob", "vm1", VG_ROLE_OBSERVER);

    assert_int_equal(vg_broker_admit(f->broker, &alice, "vnc", "10.0.0.1", &vops, &first, id1), 0);
    assert_int_equal(vg_broker_admit(f->broker, &bob, "rdp", "10.0.0.2", &vops, &other, id3), 0);
    assert_int_equal(vg_sessions_viewer_count(f->sessions, "vm1"), 2);
    /* alice again: her old viewer is told why and goes; bob stays. */
    assert_int_equal(vg_broker_admit(f->broker, &alice, "rdp", "10.0.0.9", &vops, &second, id2), 1);
    assert_int_equal(first.kicks, 1);
    assert_non_null(strstr(first.reason, "10.0.0.9"));
    assert_int_equal(other.kicks, 0);
    assert_int_equal(second.kicks, 0);
    assert_int_equal(vg_sessions_viewer_count(f->sessions, "vm1"), 2);
    assert_int_equal(f->audits, 1);
    /* Input permission follows the role of each viewer. */
    assert_true(vg_sessions_may_input(f->sessions, id2));
    assert_false(vg_sessions_may_input(f->sessions, id3));
    assert_false(vg_sessions_may_input(f->sessions, id1));
}

static void test_broker_second_login_joins_when_configured(void **state)
{
    fixture *f = *state;
    viewer first = {0}, second = {0};
    char id1[24], id2[24];
    vg_broker_result alice = login_as("alice", "vm1", VG_ROLE_OWNER);

    assert_int_equal(vg_broker_admit(f->broker, &alice, "vnc", "10.0.0.1", &vops, &first, id1), 0);
    assert_int_equal(vg_broker_admit(f->broker, &alice, "vnc", "10.0.0.2", &vops, &second, id2), 0);
    assert_int_equal(first.kicks, 0);
    assert_int_equal(vg_sessions_viewer_count(f->sessions, "vm1"), 2);
    assert_string_not_equal(id1, id2);
}

static void test_broker_other_vm_is_not_taken_over(void **state)
{
    fixture *f = *state;
    viewer a = {0}, b = {0};
    char id1[24], id2[24];
    vg_broker_result on1 = login_as("alice", "vm1", VG_ROLE_OWNER);
    vg_broker_result on2 = login_as("alice", "vm2", VG_ROLE_OWNER);

    assert_int_equal(vg_broker_admit(f->broker, &on1, "vnc", "10.0.0.1", &vops, &a, id1), 0);
    assert_int_equal(vg_broker_admit(f->broker, &on2, "vnc", "10.0.0.1", &vops, &b, id2), 0);
    assert_int_equal(a.kicks, 0);
    assert_int_equal(vg_sessions_viewer_count(f->sessions, "vm1"), 1);
    assert_int_equal(vg_sessions_viewer_count(f->sessions, "vm2"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_broker_second_login_takes_over, setup_takeover,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_broker_second_login_joins_when_configured, setup_join,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_broker_other_vm_is_not_taken_over, setup_takeover,
                                        teardown),
    };
    return cmocka_run_group_tests_name("broker", tests, NULL, NULL);
}
