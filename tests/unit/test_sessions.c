/*
 * Unit tests: the session registry — joining and leaving, listing, kicking
 * by session and by viewer (callbacks once, with the reason, outside the
 * lock), input permission by role, unknown ids.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "sessions.h"

typedef struct kick_log {
    vg_sessions *sessions;
    int calls;
    char reason[128];
    char viewer[24];    /* leave this viewer from inside the callback, if set */
    gint in_callback;   /* atomic */
    gulong delay_us;    /* stay in the callback this long */
    gint callback_done; /* atomic */
} kick_log;

static void on_kick(void *opaque, const char *reason)
{
    kick_log *k = opaque;

    g_atomic_int_set(&k->in_callback, 1);
    k->calls++;
    g_strlcpy(k->reason, reason, sizeof(k->reason));
    /* Re-entering the registry from the callback must not deadlock. */
    if (k->viewer[0])
        vg_sessions_leave(k->sessions, k->viewer);
    g_assert_cmpuint(vg_sessions_viewer_count(k->sessions, "nothing"), ==, 0);
    if (k->delay_us)
        g_usleep(k->delay_us);
    g_atomic_int_set(&k->callback_done, 1);
}

static const vg_viewer_ops kick_ops = {.kick = on_kick};

static void join(vg_sessions *s, const char *vm, const char *user, vg_role role, kick_log *k,
                 char id[24])
{
    /* Without a log, no kick callback at all. */
    assert_int_equal(
        vg_sessions_join(s, vm, user, "vnc", role, "192.0.2.7", k ? &kick_ops : NULL, k, id), 0);
}

static void test_sessions_join_creates_session_listed_with_viewer(void **state)
{
    vg_sessions *s = vg_sessions_new();
    char v1[24], v2[24], v3[24];
    kick_log k = {.sessions = s};
    GPtrArray *list;
    vg_session_info *info;
    vg_viewer_info *v;
    int64_t before = g_get_real_time() / G_USEC_PER_SEC;

    assert_int_equal(vg_sessions_join(s, "vm1", "alice", "rdp", VG_ROLE_OWNER, "[2001:db8::1]",
                                      &kick_ops, &k, v1),
                     0);
    join(s, "vm1", "bob", VG_ROLE_OBSERVER, &k, v2);
    join(s, "vm0", "carol", VG_ROLE_CONTROLLER, &k, v3);
    assert_string_not_equal(v1, v2);
    assert_int_equal(v1[0], 'v');

    list = vg_sessions_list(s);
    assert_int_equal(list->len, 2);
    info = g_ptr_array_index(list, 0); /* sorted by VM */
    assert_string_equal(info->vm, "vm0");
    info = g_ptr_array_index(list, 1);
    assert_string_equal(info->vm, "vm1");
    assert_int_equal(info->id[0], 's');
    assert_int_equal(info->viewers->len, 2);
    v = &g_array_index(info->viewers, vg_viewer_info, 0);
    assert_string_equal(v->id, v1);
    assert_string_equal(v->user, "alice");
    assert_string_equal(v->protocol, "rdp");
    assert_int_equal(v->role, VG_ROLE_OWNER);
    assert_string_equal(v->address, "[2001:db8::1]");
    assert_true(v->since >= before && v->since <= before + 5);
    v = &g_array_index(info->viewers, vg_viewer_info, 1);
    assert_string_equal(v->user, "bob");
    g_ptr_array_unref(list);

    assert_int_equal(vg_sessions_viewer_count(s, "vm1"), 2);
    assert_int_equal(vg_sessions_viewer_count(s, "vm0"), 1);
    assert_int_equal(vg_sessions_viewer_count(s, "vm9"), 0);
    assert_int_equal(k.calls, 0);
    vg_sessions_free(s);
}

static void test_sessions_leave_of_last_viewer_ends_session(void **state)
{
    vg_sessions *s = vg_sessions_new();
    char v1[24], v2[24], v3[24];
    char first_session[24];
    GPtrArray *list;

    join(s, "vm1", "alice", VG_ROLE_OWNER, NULL, v1);
    join(s, "vm1", "bob", VG_ROLE_OWNER, NULL, v2);
    list = vg_sessions_list(s);
    g_strlcpy(first_session, ((vg_session_info *)g_ptr_array_index(list, 0))->id, 24);
    g_ptr_array_unref(list);

    vg_sessions_leave(s, v1);
    assert_int_equal(vg_sessions_viewer_count(s, "vm1"), 1);
    assert_false(vg_sessions_may_input(s, v1));
    vg_sessions_leave(s, v2);
    assert_int_equal(vg_sessions_viewer_count(s, "vm1"), 0);
    list = vg_sessions_list(s);
    assert_int_equal(list->len, 0);
    g_ptr_array_unref(list);
    vg_sessions_leave(s, v2);     /* twice is harmless */
    vg_sessions_leave(s, "v999"); /* so is an unknown id */

    /* A new session on the same VM gets a new id. */
    join(s, "vm1", "alice", VG_ROLE_OWNER, NULL, v3);
    list = vg_sessions_list(s);
    assert_string_not_equal(((vg_session_info *)g_ptr_array_index(list, 0))->id, first_session);
    g_ptr_array_unref(list);
    vg_sessions_free(s);
}

static void test_sessions_kick_viewer_calls_it_once_with_reason(void **state)
{
    vg_sessions *s = vg_sessions_new();
    kick_log a = {.sessions = s}, b = {.sessions = s};
    char v1[24], v2[24];

    join(s, "vm1", "alice", VG_ROLE_OWNER, &a, v1);
    join(s, "vm1", "bob", VG_ROLE_CONTROLLER, &b, v2);
    assert_int_equal(vg_sessions_kick(s, v1, "maintenance at 18:00"), 1);
    assert_int_equal(a.calls, 1);
    assert_string_equal(a.reason, "maintenance at 18:00");
    assert_int_equal(b.calls, 0);
    /* Gone from the registry: not listed, not counted, no input, not kicked again. */
    assert_int_equal(vg_sessions_viewer_count(s, "vm1"), 1);
    assert_false(vg_sessions_may_input(s, v1));
    assert_int_equal(vg_sessions_kick(s, v1, "again"), -ENOENT);
    assert_int_equal(a.calls, 1);
    vg_sessions_leave(s, v1); /* the front end's own leave is a no-op now */
    assert_true(vg_sessions_may_input(s, v2));
    vg_sessions_free(s);
}

static void test_sessions_kick_session_kicks_every_viewer(void **state)
{
    vg_sessions *s = vg_sessions_new();
    kick_log a = {.sessions = s}, b = {.sessions = s}, c = {.sessions = s};
    char v1[24], v2[24], v3[24];
    GPtrArray *list;
    char sid[24];

    join(s, "vm1", "alice", VG_ROLE_OWNER, &a, v1);
    join(s, "vm1", "bob", VG_ROLE_OBSERVER, &b, v2);
    join(s, "vm2", "carol", VG_ROLE_OWNER, &c, v3);
    list = vg_sessions_list(s);
    g_strlcpy(sid, ((vg_session_info *)g_ptr_array_index(list, 0))->id, sizeof(sid));
    g_ptr_array_unref(list);

    assert_int_equal(vg_sessions_kick(s, sid, NULL), 2);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(c.calls, 0);
    assert_true(strlen(a.reason) > 0); /* a default reason is shown */
    assert_int_equal(vg_sessions_viewer_count(s, "vm1"), 0);
    list = vg_sessions_list(s);
    assert_int_equal(list->len, 1);
    g_ptr_array_unref(list);
    assert_int_equal(vg_sessions_kick(s, sid, "x"), -ENOENT);
    vg_sessions_free(s);
}

static void test_sessions_kick_unknown_id_is_enoent(void **state)
{
    vg_sessions *s = vg_sessions_new();
    char v1[24];

    join(s, "vm1", "alice", VG_ROLE_OWNER, NULL, v1);
    assert_int_equal(vg_sessions_kick(s, "s999", "x"), -ENOENT);
    assert_int_equal(vg_sessions_kick(s, "v999", "x"), -ENOENT);
    assert_int_equal(vg_sessions_kick(s, "vm1", "x"), -ENOENT);
    assert_int_equal(vg_sessions_kick(s, "", "x"), -ENOENT);
    assert_int_equal(vg_sessions_kick(s, NULL, "x"), -ENOENT);
    /* A viewer without a kick callback is still removed. */
    assert_int_equal(vg_sessions_kick(s, v1, "x"), 1);
    assert_int_equal(vg_sessions_viewer_count(s, "vm1"), 0);
    vg_sessions_free(s);
}

static void test_sessions_may_input_follows_role(void **state)
{
    vg_sessions *s = vg_sessions_new();
    char owner[24], controller[24], observer[24];

    join(s, "vm1", "alice", VG_ROLE_OWNER, NULL, owner);
    join(s, "vm1", "bob", VG_ROLE_CONTROLLER, NULL, controller);
    join(s, "vm1", "carol", VG_ROLE_OBSERVER, NULL, observer);
    assert_true(vg_sessions_may_input(s, owner));
    assert_true(vg_sessions_may_input(s, controller));
    assert_false(vg_sessions_may_input(s, observer));
    assert_false(vg_sessions_may_input(s, "v999"));
    assert_false(vg_sessions_may_input(s, NULL));
    vg_sessions_free(s);
}

/* A changed assignment reaches live viewers: the user's viewers of that VM
 * take the new role at once, others keep theirs. */
static void test_sessions_set_role_changes_live_viewers(void **state)
{
    vg_sessions *s = vg_sessions_new();
    char a1[24], a2[24], a_other[24], bob[24];
    (void)state;

    join(s, "vm1", "alice", VG_ROLE_CONTROLLER, NULL, a1);
    join(s, "vm1", "alice", VG_ROLE_CONTROLLER, NULL, a2);
    join(s, "vm2", "alice", VG_ROLE_CONTROLLER, NULL, a_other);
    join(s, "vm1", "bob", VG_ROLE_CONTROLLER, NULL, bob);
    assert_int_equal(vg_sessions_set_role(s, "vm1", "alice", VG_ROLE_OBSERVER), 2);
    assert_false(vg_sessions_may_input(s, a1));
    assert_false(vg_sessions_may_input(s, a2));
    assert_true(vg_sessions_may_input(s, a_other));
    assert_true(vg_sessions_may_input(s, bob));
    assert_int_equal(vg_sessions_set_role(s, "vm1", "alice", VG_ROLE_OBSERVER), 0);
    assert_int_equal(vg_sessions_set_role(s, "vm1", "alice", VG_ROLE_OWNER), 2);
    assert_true(vg_sessions_may_input(s, a1));
    vg_sessions_free(s);
}

static void test_sessions_join_refuses_bad_arguments(void **state)
{
    vg_sessions *s = vg_sessions_new();
    g_autofree char *long_name = g_strnfill(65, 'a');
    g_autofree char *long_address = g_strnfill(200, '1');
    char id[24];
    GPtrArray *list;

    assert_int_equal(vg_sessions_join(s, NULL, "u", "vnc", VG_ROLE_OWNER, "", NULL, NULL, id),
                     -EINVAL);
    assert_int_equal(vg_sessions_join(s, "", "u", "vnc", VG_ROLE_OWNER, "", NULL, NULL, id),
                     -EINVAL);
    assert_int_equal(vg_sessions_join(s, long_name, "u", "vnc", VG_ROLE_OWNER, "", NULL, NULL, id),
                     -EINVAL);
    assert_int_equal(vg_sessions_join(s, "vm", long_name, "vnc", VG_ROLE_OWNER, "", NULL, NULL, id),
                     -EINVAL);
    assert_int_equal(vg_sessions_join(s, "vm", "u", "websocket", VG_ROLE_OWNER, "", NULL, NULL, id),
                     -EINVAL);
    assert_int_equal(vg_sessions_join(s, "vm", "u", "vnc", (vg_role)7, "", NULL, NULL, id),
                     -EINVAL);
    /* An over-long address is cut, not refused. */
    assert_int_equal(
        vg_sessions_join(s, "vm", "u", "vnc", VG_ROLE_OWNER, long_address, NULL, NULL, id), 0);
    list = vg_sessions_list(s);
    assert_int_equal(list->len, 1);
    assert_int_equal(strlen(g_array_index(((vg_session_info *)g_ptr_array_index(list, 0))->viewers,
                                          vg_viewer_info, 0)
                                .address),
                     63);
    g_ptr_array_unref(list);
    vg_sessions_free(s);
}

static void test_sessions_kick_callback_may_leave_itself(void **state)
{
    vg_sessions *s = vg_sessions_new();
    kick_log k = {.sessions = s};
    char v1[24];

    join(s, "vm1", "alice", VG_ROLE_OWNER, &k, v1);
    g_strlcpy(k.viewer, v1, sizeof(k.viewer));
    assert_int_equal(vg_sessions_kick(s, v1, "bye"), 1);
    assert_int_equal(k.calls, 1);
    assert_int_equal(vg_sessions_viewer_count(s, "vm1"), 0);
    vg_sessions_free(s);
}

typedef struct leaver {
    vg_sessions *s;
    const char *viewer;
    kick_log *k;
    bool callback_was_done;
} leaver;

static gpointer leave_thread(gpointer data)
{
    leaver *l = data;

    while (!g_atomic_int_get(&l->k->in_callback))
        g_usleep(1000);
    vg_sessions_leave(l->s, l->viewer);
    /* The front end may free its viewer now: the callback must be over. */
    l->callback_was_done = g_atomic_int_get(&l->k->callback_done);
    return NULL;
}

static void test_sessions_leave_waits_for_running_kick_callback(void **state)
{
    vg_sessions *s = vg_sessions_new();
    kick_log k = {.sessions = s, .delay_us = 200 * 1000};
    leaver l = {.s = s, .k = &k};
    char v1[24];
    GThread *t;

    join(s, "vm1", "alice", VG_ROLE_OWNER, &k, v1);
    l.viewer = v1;
    t = g_thread_new("leaver", leave_thread, &l);
    assert_int_equal(vg_sessions_kick(s, v1, "bye"), 1);
    g_thread_join(t);
    assert_true(l.callback_was_done);
    assert_int_equal(k.calls, 1);
    vg_sessions_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sessions_join_creates_session_listed_with_viewer),
        cmocka_unit_test(test_sessions_leave_of_last_viewer_ends_session),
        cmocka_unit_test(test_sessions_kick_viewer_calls_it_once_with_reason),
        cmocka_unit_test(test_sessions_kick_session_kicks_every_viewer),
        cmocka_unit_test(test_sessions_kick_unknown_id_is_enoent),
        cmocka_unit_test(test_sessions_may_input_follows_role),
        cmocka_unit_test(test_sessions_set_role_changes_live_viewers),
        cmocka_unit_test(test_sessions_join_refuses_bad_arguments),
        cmocka_unit_test(test_sessions_kick_callback_may_leave_itself),
        cmocka_unit_test(test_sessions_leave_waits_for_running_kick_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
