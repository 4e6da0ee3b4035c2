/*
 * Unit tests: the events between instances (server/sessions/cluster.c) as
 * they arrive, against a real SQLite store and session registry: a kick
 * for this instance ends that viewer, one for another does nothing; a
 * revocation ends exactly the viewers the store no longer allows, and not
 * on the instance that sent it; a role changed elsewhere applies to the
 * viewers concerned; a bus that came back checks every viewer;
 * malformed or oversized events change nothing. Sending needs a bus:
 * SQLite says so (-ENOTSUP); test_store_pg covers delivery.
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

#include "cluster.h"
#include "log.h"
#include "sessions.h"
#include "store.h"

#define HASH "$y$j9T$abcdefghijklmnop$0123456789012345678901234567890123456789012"

typedef struct fixture {
    char *dir, *path;
    vg_store *store;
    vg_sessions *sessions;
    GPtrArray *kicked; /* "viewer id: reason" of each kick callback */
    char ids[4][24];
} fixture;

typedef struct kicked_viewer {
    fixture *f;
    int n;
} kicked_viewer;

static kicked_viewer viewers[4];

static void on_kick(void *opaque, const char *reason)
{
    kicked_viewer *k = opaque;
    g_ptr_array_add(k->f->kicked, g_strdup_printf("%s: %s", k->f->ids[k->n], reason));
}

static const vg_viewer_ops ops = {.kick = on_kick};

static void join(fixture *f, int n, const char *vm, const char *user)
{
    viewers[n] = (kicked_viewer){f, n};
    assert_int_equal(vg_sessions_join(f->sessions, vm, user, "vnc", VG_ROLE_OWNER, "192.0.2.1",
                                      &ops, &viewers[n], f->ids[n]),
                     0);
}

/* alice on vm1 (assigned) and lab1 (through pool lab), bob on vm1 (assigned), carol on vm2. */
static int setup(void **state)
{
    fixture *f = g_new0(fixture, 1);

    f->dir = g_dir_make_tmp("vg-cluster-XXXXXX", NULL);
    f->path = g_build_filename(f->dir, "vmgate.db", NULL);
    assert_int_equal(vg_store_open(f->path, &f->store), 0);
    for (const char *const *u = (const char *const[]){"alice", "bob", "carol", NULL}; *u; u++)
        assert_int_equal(vg_store_user_add(f->store, *u, HASH, NULL), 0);
    assert_int_equal(vg_store_assign(f->store, "alice", "vm1", VG_ROLE_OWNER), 0);
    assert_int_equal(vg_store_assign(f->store, "bob", "vm1", VG_ROLE_OBSERVER), 0);
    assert_int_equal(vg_store_assign(f->store, "carol", "vm2", VG_ROLE_OWNER), 0);
    assert_int_equal(vg_store_pool_create(f->store, "lab", VG_IDLE_NONE, 0, false), 0);
    assert_int_equal(vg_store_pool_add_vm(f->store, "lab", "lab1"), 0);
    assert_int_equal(vg_store_entitle(f->store, "alice", "lab"), 0);
    f->sessions = vg_sessions_new();
    f->kicked = g_ptr_array_new_with_free_func(g_free);
    join(f, 0, "vm1", "alice");
    join(f, 1, "lab1", "alice");
    join(f, 2, "vm1", "bob");
    join(f, 3, "vm2", "carol");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    const char *suffixes[] = {"", "-wal", "-shm", "-probe"};

    vg_sessions_free(f->sessions);
    vg_store_close(f->store);
    for (size_t i = 0; i < G_N_ELEMENTS(suffixes); i++) {
        g_autofree char *p = g_strconcat(f->path, suffixes[i], NULL);
        g_unlink(p);
    }
    g_rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
    g_ptr_array_unref(f->kicked);
    g_free(f);
    return 0;
}

/* The kicks so far, joined by ";". */
static char *kicks(fixture *f)
{
    g_ptr_array_add(f->kicked, NULL);
    char *s = g_strjoinv(";", (char **)f->kicked->pdata);
    g_ptr_array_remove_index(f->kicked, f->kicked->len - 1);
    return s;
}

static void assert_kicks(fixture *f, const char *want)
{
    g_autofree char *got = kicks(f);
    assert_string_equal(got, want);
}

static void handle(fixture *f, const char *channel, const char *payload)
{
    vg_cluster_handle(f->store, f->sessions, NULL, "gw-b", channel, payload);
}

static void test_cluster_kick_ends_the_named_viewer_of_this_instance_only(void **state)
{
    fixture *f = *state;

    /* Another instance's: nothing. */
    handle(f, VG_CLUSTER_KICK_CHANNEL,
           "{\"from\":\"gw-a\",\"by\":\"root\",\"instance\":\"gw-c\",\"id\":\"v1\","
           "\"reason\":\"x\"}");
    assert_kicks(f, "");
    handle(f, VG_CLUSTER_KICK_CHANNEL,
           "{\"from\":\"gw-a\",\"by\":\"root\",\"instance\":\"gw-b\",\"id\":\"v3\","
           "\"reason\":\"moved\"}");
    assert_kicks(f, "v3: moved");
    /* A whole session; an id that left; no reason: the default. */
    handle(f, VG_CLUSTER_KICK_CHANNEL,
           "{\"from\":\"gw-a\",\"by\":\"root\",\"instance\":\"gw-b\",\"id\":\"v3\"}");
    assert_kicks(f, "v3: moved");
    handle(f, VG_CLUSTER_KICK_CHANNEL,
           "{\"from\":\"gw-a\",\"by\":\"root\",\"instance\":\"gw-b\",\"id\":\"s1\"}");
    assert_kicks(f, "v3: moved;v1: disconnected by an administrator");
}

static void test_cluster_malformed_events_change_nothing(void **state)
{
    fixture *f = *state;
    g_autofree char *long_reason = g_strnfill(VG_CLUSTER_REASON_MAX + 1, 'r');
    g_autofree char *with_long =
        g_strdup_printf("{\"from\":\"gw-a\",\"by\":\"root\",\"instance\":\"gw-b\",\"id\":\"v4\","
                        "\"reason\":\"%s\"}",
                        long_reason);
    g_autofree char *huge = g_strnfill(VG_STORE_NOTIFY_PAYLOAD_MAX + 1, ' ');
    static const char *const bad[] = {
        "",
        "not json",
        "[1, 2]",
        "{\"from\":\"gw-a\",\"by\":\"root\",\"instance\":\"gw-b\",\"id\":\"x1\"}",
        "{\"from\":\"gw-a\",\"by\":\"root\",\"instance\":\"gw-b\",\"id\":\"v\"}",
        "{\"from\":\"gw-a\",\"by\":\"root\",\"instance\":\"gw-b\",\"id\":\"v1x\"}",
        "{\"from\":\"gw-a\",\"by\":\"root\",\"instance\":\"gw-b\",\"id\":1}",
        "{\"from\":\"-bad\",\"by\":\"root\",\"instance\":\"gw-b\",\"id\":\"v1\"}",
        "{\"by\":\"root\",\"instance\":\"gw-b\",\"id\":\"v1\"}",
        "{\"from\":\"gw-a\",\"instance\":\"gw-b\",\"id\":\"v1\"}",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        handle(f, VG_CLUSTER_KICK_CHANNEL, bad[i]);
    handle(f, VG_CLUSTER_KICK_CHANNEL, huge);
    handle(f, "another_channel",
           "{\"from\":\"gw-a\",\"by\":\"root\",\"instance\":\"gw-b\",\"id\":\"v1\"}");
    /* A revocation must name a user or a VM, valid ones. */
    handle(f, VG_CLUSTER_REVOKE_CHANNEL, "{\"from\":\"gw-a\",\"by\":\"root\"}");
    handle(f, VG_CLUSTER_REVOKE_CHANNEL,
           "{\"from\":\"gw-a\",\"by\":\"root\",\"user\":\"-x\",\"vm\":null}");
    handle(f, VG_CLUSTER_REVOKE_CHANNEL,
           "{\"from\":\"gw-a\",\"by\":\"root\",\"user\":null,\"vm\":\"a/b\"}");
    assert_kicks(f, "");
    /* An over-long reason is not shown: the default is. */
    handle(f, VG_CLUSTER_KICK_CHANNEL, with_long);
    assert_kicks(f, "v4: disconnected by an administrator");
}

static void test_cluster_revocation_ends_only_viewers_the_store_no_longer_allows(void **state)
{
    fixture *f = *state;

    /* Unassigned from vm1 elsewhere: alice's vm1 viewer goes, her pool VM and bob stay. */
    assert_int_equal(vg_store_unassign(f->store, "alice", "vm1"), 0);
    handle(f, VG_CLUSTER_REVOKE_CHANNEL,
           "{\"from\":\"gw-a\",\"by\":\"root\",\"user\":\"alice\",\"vm\":\"vm1\","
           "\"reason\":\"your access to VM 'vm1' was removed\"}");
    assert_kicks(f, "v1: your access to VM 'vm1' was removed");

    /* The sender's own event: it ended its viewers itself. */
    assert_int_equal(vg_store_unentitle(f->store, "alice", "lab"), 0);
    vg_cluster_handle(f->store, f->sessions, NULL, "gw-a", VG_CLUSTER_REVOKE_CHANNEL,
                      "{\"from\":\"gw-a\",\"by\":\"root\",\"user\":\"alice\",\"vm\":null,"
                      "\"reason\":\"gone\"}");
    assert_kicks(f, "v1: your access to VM 'vm1' was removed");
    /* Any VM of the user (an unentitle, a disable). */
    handle(f, VG_CLUSTER_REVOKE_CHANNEL,
           "{\"from\":\"gw-a\",\"by\":\"root\",\"user\":\"alice\",\"vm\":null,"
           "\"reason\":\"your access to pool 'lab' was removed\"}");
    assert_kicks(f, "v1: your access to VM 'vm1' was removed;"
                    "v2: your access to pool 'lab' was removed");

    /* Any user of a VM (a pool change), and a disabled user. */
    assert_int_equal(vg_store_user_set_disabled(f->store, "carol", true), 0);
    handle(f, VG_CLUSTER_REVOKE_CHANNEL,
           "{\"from\":\"gw-a\",\"by\":\"root\",\"user\":null,\"vm\":\"vm1\",\"reason\":\"r\"}");
    assert_int_equal(f->kicked->len, 2); /* bob is still assigned */
    handle(f, VG_CLUSTER_REVOKE_CHANNEL,
           "{\"from\":\"gw-a\",\"by\":\"root\",\"user\":\"carol\",\"vm\":null,"
           "\"reason\":\"your account was disabled\"}");
    assert_kicks(f, "v1: your access to VM 'vm1' was removed;"
                    "v2: your access to pool 'lab' was removed;"
                    "v4: your account was disabled");
}

/* A role changed elsewhere applies to this instance's viewers of that user and VM only. */
static void test_cluster_role_change_reaches_the_users_viewers_of_that_vm(void **state)
{
    fixture *f = *state;

    assert_true(vg_sessions_may_input(f->sessions, f->ids[0]));
    assert_true(vg_sessions_may_input(f->sessions, f->ids[1]));
    handle(f, VG_CLUSTER_ROLE_CHANNEL,
           "{\"from\":\"gw-a\",\"by\":\"root\",\"user\":\"alice\",\"vm\":\"vm1\","
           "\"role\":\"observer\"}");
    assert_false(vg_sessions_may_input(f->sessions, f->ids[0]));
    assert_true(vg_sessions_may_input(f->sessions, f->ids[1])); /* her other VM */
    assert_true(vg_sessions_may_input(f->sessions, f->ids[3]));
    /* Not a role, or the sender's own event: nothing. */
    handle(f, VG_CLUSTER_ROLE_CHANNEL,
           "{\"from\":\"gw-a\",\"by\":\"root\",\"user\":\"alice\",\"vm\":\"vm1\","
           "\"role\":\"admin\"}");
    vg_cluster_handle(f->store, f->sessions, NULL, "gw-a", VG_CLUSTER_ROLE_CHANNEL,
                      "{\"from\":\"gw-a\",\"by\":\"root\",\"user\":\"alice\","
                      "\"vm\":\"vm1\",\"role\":\"owner\"}");
    assert_false(vg_sessions_may_input(f->sessions, f->ids[0]));
    handle(f, VG_CLUSTER_ROLE_CHANNEL,
           "{\"from\":\"gw-a\",\"by\":\"root\",\"user\":\"alice\",\"vm\":\"vm1\","
           "\"role\":\"controller\"}");
    assert_true(vg_sessions_may_input(f->sessions, f->ids[0]));
    assert_int_equal(
        vg_cluster_send_role(f->store, "gw-a", "root", "alice", "vm1", VG_ROLE_OBSERVER), -ENOTSUP);
    assert_int_equal(
        vg_cluster_send_role(f->store, "gw-a", "root", "alice", "a/b", VG_ROLE_OBSERVER), -EINVAL);
    assert_kicks(f, "");
}

/* Events sent while the bus was away are lost: every viewer is checked. */
static void test_cluster_bus_back_checks_every_viewer(void **state)
{
    fixture *f = *state;

    assert_int_equal(vg_store_user_del(f->store, "bob"), 0);
    assert_int_equal(vg_store_unassign(f->store, "carol", "vm2"), 0);
    handle(f, NULL, NULL);
    assert_kicks(f, "v3: your access was removed;v4: your access was removed");
}

static void test_cluster_sending_needs_a_bus_and_valid_fields(void **state)
{
    fixture *f = *state;
    g_autofree char *long_reason = g_strnfill(VG_CLUSTER_REASON_MAX + 1, 'r');

    assert_int_equal(vg_cluster_send_kick(f->store, "gw-a", "root", "gw-b", "v1", "r"), -ENOTSUP);
    assert_int_equal(vg_cluster_send_revoke(f->store, "gw-a", "root", "alice", NULL, "r"),
                     -ENOTSUP);
    assert_int_equal(vg_cluster_listen(f->store), -ENOTSUP);
    assert_int_equal(vg_cluster_send_kick(f->store, "gw-a", "root", "gw-b", "x1", "r"), -EINVAL);
    assert_int_equal(vg_cluster_send_kick(f->store, "gw-a", "root", "-b", "v1", "r"), -EINVAL);
    assert_int_equal(vg_cluster_send_kick(f->store, "gw-a", "root", "gw-b", "v1", long_reason),
                     -EINVAL);
    assert_int_equal(vg_cluster_send_revoke(f->store, "gw-a", "root", NULL, NULL, "r"), -EINVAL);
    assert_int_equal(vg_cluster_send_revoke(f->store, "gw-a", "", "alice", NULL, "r"), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_cluster_kick_ends_the_named_viewer_of_this_instance_only),
        T(test_cluster_malformed_events_change_nothing),
        T(test_cluster_revocation_ends_only_viewers_the_store_no_longer_allows),
        T(test_cluster_role_change_reaches_the_users_viewers_of_that_vm),
        T(test_cluster_bus_back_checks_every_viewer),
        T(test_cluster_sending_needs_a_bus_and_valid_fields),
#undef T
    };
    vg_log_set_level(VG_LOG_ERROR); /* the dropped events are logged as warnings */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
