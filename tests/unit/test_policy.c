/*
 * Unit tests: broker policy on plain structs — which VM and role a login
 * reaches, second logins, input permission and idle actions.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "policy.h"

#define RUNNING(n)                                                                                 \
    {                                                                                              \
        .name = (n), .state = VG_VM_RUNNING                                                        \
    }
#define SHUTOFF(n)                                                                                 \
    {                                                                                              \
        .name = (n), .state = VG_VM_SHUTOFF                                                        \
    }
#define PAUSED(n)                                                                                  \
    {                                                                                              \
        .name = (n), .state = VG_VM_PAUSED                                                         \
    }
#define IN_USE(n, u)                                                                               \
    {                                                                                              \
        .name = (n), .state = VG_VM_RUNNING, .session_user = (u)                                   \
    }
#define HELD(n, st, u)                                                                             \
    {                                                                                              \
        .name = (n), .state = (st), .sticky_user = (u)                                             \
    }
#define N(a) (sizeof(a) / sizeof((a)[0]))

static vg_policy_request request(const char *user)
{
    vg_policy_request r;
    memset(&r, 0, sizeof(r));
    r.user = user;
    r.power_on_demand = true;
    return r;
}

static int choose(const vg_policy_request *req, vg_policy_choice *c)
{
    memset(c, 0xa5, sizeof(*c)); /* the answer must not depend on what was there */
    return vg_policy_choose_vm(req, c);
}

static void assert_refused(const vg_policy_request *req, vg_policy_refusal why)
{
    vg_policy_choice c;
    assert_int_equal(choose(req, &c), -EACCES);
    assert_int_equal(c.refusal, why);
    if (why != VG_POLICY_VM_UNAVAILABLE) /* that one names the VM */
        assert_null(c.vm);
}

/* ---- dedicated assignments ---- */

static void test_policy_nothing_assigned_is_refused(void **state)
{
    vg_policy_request req = request("alice");
    (void)state;
    assert_refused(&req, VG_POLICY_NO_VM);
    assert_string_equal(vg_policy_refusal_name(VG_POLICY_NO_VM), "no-vm");
}

static void test_policy_single_assignment_with_its_role(void **state)
{
    vg_policy_assignment as[] = {{RUNNING("vm1"), VG_ROLE_OBSERVER}};
    vg_policy_request req = request("alice");
    vg_policy_choice c;
    (void)state;

    req.assignments = as;
    req.n_assignments = N(as);
    assert_int_equal(choose(&req, &c), 0);
    assert_int_equal(c.refusal, VG_POLICY_OK);
    assert_string_equal(c.vm, "vm1");
    assert_int_equal(c.role, VG_ROLE_OBSERVER);
    assert_null(c.pool);
    assert_false(c.power_on);
    assert_false(c.claim_sticky);
}

static void test_policy_several_assignments_owner_first_then_alphabetical(void **state)
{
    vg_policy_assignment as[] = {
        {RUNNING("alpha"), VG_ROLE_CONTROLLER},
        {RUNNING("zulu"), VG_ROLE_OWNER},
        {RUNNING("mike"), VG_ROLE_OWNER},
    };
    vg_policy_request req = request("alice");
    vg_policy_choice c;
    (void)state;

    req.assignments = as;
    req.n_assignments = N(as);
    assert_int_equal(choose(&req, &c), 0);
    assert_string_equal(c.vm, "mike");
    assert_int_equal(c.role, VG_ROLE_OWNER);

    /* Without an owner role: the controller one before observers, then by name. */
    as[1].role = VG_ROLE_OBSERVER;
    as[2].role = VG_ROLE_CONTROLLER;
    assert_int_equal(choose(&req, &c), 0);
    assert_string_equal(c.vm, "alpha");
    assert_int_equal(c.role, VG_ROLE_CONTROLLER);
}

static void test_policy_dedicated_vm_off_is_powered_on_on_demand(void **state)
{
    vg_policy_assignment as[] = {{SHUTOFF("vm1"), VG_ROLE_OWNER}};
    vg_policy_request req = request("alice");
    vg_policy_choice c;
    (void)state;

    req.assignments = as;
    req.n_assignments = N(as);
    assert_int_equal(choose(&req, &c), 0);
    assert_true(c.power_on);
    as[0].vm.state = VG_VM_PAUSED;
    assert_int_equal(choose(&req, &c), 0);
    assert_true(c.power_on);

    req.power_on_demand = false;
    assert_refused(&req, VG_POLICY_VM_NOT_RUNNING);
    as[0].vm.state = VG_VM_SHUTOFF;
    assert_refused(&req, VG_POLICY_VM_NOT_RUNNING);
}

static void test_policy_missing_or_busy_vm_is_unavailable(void **state)
{
    vg_policy_assignment as[] = {{{.name = "vm1", .state = VG_VM_MISSING}, VG_ROLE_OWNER}};
    vg_policy_request req = request("alice");
    vg_policy_choice c;
    (void)state;

    req.assignments = as;
    req.n_assignments = N(as);
    assert_refused(&req, VG_POLICY_VM_UNAVAILABLE);
    as[0].vm.state = VG_VM_UNAVAILABLE;
    assert_refused(&req, VG_POLICY_VM_UNAVAILABLE);
    /* The refusal names the VM it is about. */
    assert_int_equal(choose(&req, &c), -EACCES);
    assert_string_equal(c.vm, "vm1");
}

static void test_policy_dedicated_assignment_wins_over_pools(void **state)
{
    vg_policy_vm members[] = {RUNNING("pool1")};
    vg_policy_pool pools[] = {{"lab", false, members, N(members)}};
    vg_policy_assignment as[] = {{SHUTOFF("mine"), VG_ROLE_OWNER}};
    vg_policy_request req = request("alice");
    vg_policy_choice c;
    (void)state;

    req.assignments = as;
    req.n_assignments = N(as);
    req.pools = pools;
    req.n_pools = N(pools);
    assert_int_equal(choose(&req, &c), 0);
    assert_string_equal(c.vm, "mine");
}

/* ---- requested VM ---- */

static void test_policy_requested_vm_by_name_or_uuid(void **state)
{
    vg_policy_assignment as[] = {
        {RUNNING("a-vm"), VG_ROLE_OWNER},
        {{.name = "b-vm", .uuid = "6f1c3a52-4b7e-4d2a-9f3e-0a1b2c3d4e5f", .state = VG_VM_RUNNING},
         VG_ROLE_OBSERVER},
    };
    vg_policy_request req = request("alice");
    vg_policy_choice c;
    (void)state;

    req.assignments = as;
    req.n_assignments = N(as);
    req.requested = "b-vm";
    assert_int_equal(choose(&req, &c), 0);
    assert_string_equal(c.vm, "b-vm");
    assert_int_equal(c.role, VG_ROLE_OBSERVER);

    req.requested = "6F1C3A52-4B7E-4D2A-9F3E-0A1B2C3D4E5F";
    assert_int_equal(choose(&req, &c), 0);
    assert_string_equal(c.vm, "b-vm");

    req.requested = ""; /* an empty request is no request */
    assert_int_equal(choose(&req, &c), 0);
    assert_string_equal(c.vm, "a-vm");
}

static void test_policy_requested_vm_not_entitled_is_refused(void **state)
{
    vg_policy_vm members[] = {RUNNING("pool1"), HELD("pool2", VG_VM_RUNNING, "bob")};
    vg_policy_pool pools[] = {{"lab", false, members, N(members)}};
    vg_policy_assignment as[] = {{RUNNING("mine"), VG_ROLE_OWNER}};
    vg_policy_request req = request("alice");
    (void)state;

    req.assignments = as;
    req.n_assignments = N(as);
    req.pools = pools;
    req.n_pools = N(pools);
    req.requested = "someone-elses";
    assert_refused(&req, VG_POLICY_NOT_ENTITLED);
    /* Held for bob: not reachable, not even named. */
    req.requested = "pool2";
    assert_refused(&req, VG_POLICY_NOT_ENTITLED);
    assert_string_equal(vg_policy_refusal_name(VG_POLICY_NOT_ENTITLED), "not-entitled");
}

static void test_policy_requested_pool_vm(void **state)
{
    vg_policy_vm members[] = {RUNNING("pool1"), SHUTOFF("pool2"), IN_USE("pool3", "bob")};
    vg_policy_pool pools[] = {{"lab", false, members, N(members)}};
    vg_policy_request req = request("alice");
    vg_policy_choice c;
    (void)state;

    req.pools = pools;
    req.n_pools = N(pools);
    req.requested = "pool2";
    assert_int_equal(choose(&req, &c), 0);
    assert_string_equal(c.vm, "pool2");
    assert_string_equal(c.pool, "lab");
    assert_int_equal(c.role, VG_ROLE_CONTROLLER);
    assert_true(c.power_on);

    req.requested = "pool3";
    assert_refused(&req, VG_POLICY_VM_IN_USE);
}

static void test_policy_requested_vm_in_sticky_pool(void **state)
{
    vg_policy_vm members[] = {HELD("lab1", VG_VM_RUNNING, "alice"), RUNNING("lab2")};
    vg_policy_pool pools[] = {{"lab", true, members, N(members)}};
    vg_policy_request req = request("alice");
    vg_policy_choice c;
    (void)state;

    req.pools = pools;
    req.n_pools = N(pools);
    req.requested = "lab1";
    assert_int_equal(choose(&req, &c), 0);
    assert_string_equal(c.vm, "lab1");
    assert_false(c.claim_sticky); /* already theirs */
    /* They hold lab1: another VM of the pool is not theirs to take. */
    req.requested = "lab2";
    assert_refused(&req, VG_POLICY_NOT_ENTITLED);
    /* Bob holds nothing yet: asking for lab2 gives it to him for good. */
    req.user = "bob";
    assert_int_equal(choose(&req, &c), 0);
    assert_string_equal(c.vm, "lab2");
    assert_true(c.claim_sticky);
}

/* ---- pools ---- */

static void test_policy_pool_prefers_free_running_vm(void **state)
{
    vg_policy_vm members[] = {
        SHUTOFF("a-off"),  IN_USE("b-busy", "bob"), RUNNING("d-free"),
        RUNNING("c-free"), PAUSED("a-paused"),
    };
    vg_policy_pool pools[] = {{"lab", false, members, N(members)}};
    vg_policy_request req = request("alice");
    vg_policy_choice c;
    (void)state;

    req.pools = pools;
    req.n_pools = N(pools);
    assert_int_equal(choose(&req, &c), 0);
    assert_string_equal(c.vm, "c-free");
    assert_string_equal(c.pool, "lab");
    assert_int_equal(c.role, VG_ROLE_CONTROLLER);
    assert_false(c.power_on);
    assert_false(c.claim_sticky);

    /* No free running one: paused before shut off, and it needs powering on. */
    members[2].session_user = "carol";
    members[3].session_user = "dave";
    assert_int_equal(choose(&req, &c), 0);
    assert_string_equal(c.vm, "a-paused");
    assert_true(c.power_on);
    members[4].session_user = "erin";
    assert_int_equal(choose(&req, &c), 0);
    assert_string_equal(c.vm, "a-off");
    assert_true(c.power_on);
}

static void test_policy_pool_exhausted(void **state)
{
    vg_policy_vm members[] = {
        IN_USE("a", "bob"),
        HELD("b", VG_VM_RUNNING, "carol"),
        {.name = "c", .state = VG_VM_MISSING},
        {.name = "d", .state = VG_VM_UNAVAILABLE},
    };
    vg_policy_pool pools[] = {{"lab", false, members, N(members)}, {"empty", false, NULL, 0}};
    vg_policy_request req = request("alice");
    (void)state;

    req.pools = pools;
    req.n_pools = N(pools);
    assert_refused(&req, VG_POLICY_POOL_EXHAUSTED);
}

static void test_policy_pool_free_vm_off_without_power_on_demand(void **state)
{
    vg_policy_vm members[] = {SHUTOFF("a"), IN_USE("b", "bob")};
    vg_policy_pool pools[] = {{"lab", false, members, N(members)}};
    vg_policy_request req = request("alice");
    (void)state;

    req.pools = pools;
    req.n_pools = N(pools);
    req.power_on_demand = false;
    assert_refused(&req, VG_POLICY_VM_NOT_RUNNING);
}

static void test_policy_pool_reconnect_returns_to_own_session(void **state)
{
    vg_policy_vm members[] = {RUNNING("a"), IN_USE("z", "alice")};
    vg_policy_pool pools[] = {{"lab", false, members, N(members)}};
    vg_policy_request req = request("alice");
    vg_policy_choice c;
    (void)state;

    req.pools = pools;
    req.n_pools = N(pools);
    assert_int_equal(choose(&req, &c), 0);
    assert_string_equal(c.vm, "z");
}

static void test_policy_sticky_pool_first_login_claims_a_vm(void **state)
{
    vg_policy_vm members[] = {HELD("a", VG_VM_RUNNING, "bob"), RUNNING("b"), RUNNING("c")};
    vg_policy_pool pools[] = {{"lab", true, members, N(members)}};
    vg_policy_request req = request("alice");
    vg_policy_choice c;
    (void)state;

    req.pools = pools;
    req.n_pools = N(pools);
    assert_int_equal(choose(&req, &c), 0);
    assert_string_equal(c.vm, "b");
    assert_true(c.claim_sticky);
}

static void test_policy_sticky_vm_is_returned_even_when_others_run(void **state)
{
    vg_policy_vm members[] = {RUNNING("a"), HELD("b", VG_VM_SHUTOFF, "alice")};
    vg_policy_pool pools[] = {{"lab", true, members, N(members)}};
    vg_policy_request req = request("alice");
    vg_policy_choice c;
    (void)state;

    req.pools = pools;
    req.n_pools = N(pools);
    assert_int_equal(choose(&req, &c), 0);
    assert_string_equal(c.vm, "b");
    assert_true(c.power_on);
    assert_false(c.claim_sticky);
    /* Their VM or nothing: no fallback to the running one. */
    req.power_on_demand = false;
    assert_refused(&req, VG_POLICY_VM_NOT_RUNNING);
}

static void test_policy_pools_tie_break_by_pool_then_vm_name(void **state)
{
    vg_policy_vm zm[] = {RUNNING("a")};
    vg_policy_vm am[] = {RUNNING("z"), RUNNING("y")};
    vg_policy_pool pools[] = {{"zoo", false, zm, N(zm)}, {"art", true, am, N(am)}};
    vg_policy_request req = request("alice");
    vg_policy_choice c;
    (void)state;

    req.pools = pools;
    req.n_pools = N(pools);
    assert_int_equal(choose(&req, &c), 0);
    assert_string_equal(c.pool, "art");
    assert_string_equal(c.vm, "y");
    assert_true(c.claim_sticky);
}

static void test_policy_rejects_malformed_request(void **state)
{
    vg_policy_request req = request(NULL);
    vg_policy_choice c;
    (void)state;

    assert_int_equal(vg_policy_choose_vm(&req, &c), -EINVAL);
    req.user = "alice";
    req.n_pools = 1;
    assert_int_equal(vg_policy_choose_vm(&req, &c), -EINVAL);
    assert_int_equal(vg_policy_choose_vm(NULL, &c), -EINVAL);
}

/* ---- login names ---- */

static void test_policy_split_login_vm_slash_user(void **state)
{
    char *vm = NULL, *user = NULL;
    (void)state;

    assert_int_equal(vg_policy_split_login("vm1/alice", &vm, &user), 0);
    assert_string_equal(vm, "vm1");
    assert_string_equal(user, "alice");
    g_free(vm);
    g_free(user);
    assert_int_equal(vg_policy_split_login("alice", &vm, &user), 0);
    assert_null(vm);
    assert_string_equal(user, "alice");
    g_free(user);
    assert_int_equal(vg_policy_split_login("/alice", &vm, &user), -EINVAL);
    assert_int_equal(vg_policy_split_login("vm1/", &vm, &user), -EINVAL);
    assert_int_equal(vg_policy_split_login("a/b/c", &vm, &user), -EINVAL);
    assert_int_equal(vg_policy_split_login("", &vm, &user), -EINVAL);
}

/* ---- second login, roles ---- */

static void test_policy_second_login_takeover_by_default(void **state)
{
    vg_second_login mode;
    (void)state;

    assert_int_equal(vg_second_login_parse("takeover", &mode), 0);
    assert_int_equal(mode, VG_SECOND_LOGIN_TAKEOVER);
    assert_int_equal(mode, 0); /* zero-initialised settings take over */
    assert_int_equal(vg_policy_second_login(mode, NULL, "alice"), VG_SESSION_NEW);
    assert_int_equal(vg_policy_second_login(mode, "alice", "alice"), VG_SESSION_TAKEOVER);
}

static void test_policy_second_login_join_mode(void **state)
{
    vg_second_login mode;
    (void)state;

    assert_int_equal(vg_second_login_parse("join", &mode), 0);
    assert_int_equal(vg_policy_second_login(mode, "alice", "alice"), VG_SESSION_JOIN);
    assert_int_equal(vg_policy_second_login(mode, NULL, "alice"), VG_SESSION_NEW);
    assert_int_equal(vg_second_login_parse("steal", &mode), -EINVAL);
}

static void test_policy_other_user_joins_shared_vm(void **state)
{
    (void)state;
    /* An observer never kicks the owner out, whatever the mode. */
    assert_int_equal(vg_policy_second_login(VG_SECOND_LOGIN_TAKEOVER, "alice", "bob"),
                     VG_SESSION_JOIN);
    assert_int_equal(vg_policy_second_login(VG_SECOND_LOGIN_JOIN, "alice", "bob"), VG_SESSION_JOIN);
}

static void test_policy_only_owner_and_controller_send_input(void **state)
{
    vg_role r;
    (void)state;

    assert_true(vg_policy_may_input(VG_ROLE_OWNER));
    assert_true(vg_policy_may_input(VG_ROLE_CONTROLLER));
    assert_false(vg_policy_may_input(VG_ROLE_OBSERVER));
    assert_false(vg_policy_may_input((vg_role)42));
    assert_int_equal(vg_role_parse("controller", &r), 0);
    assert_int_equal(r, VG_ROLE_CONTROLLER);
    assert_string_equal(vg_role_name(VG_ROLE_OBSERVER), "observer");
    assert_int_equal(vg_role_parse("Owner", &r), -EINVAL);
}

/* ---- idle ---- */

static void test_policy_idle_action_due_after_idle_minutes(void **state)
{
    vg_policy_idle_input in = {VG_IDLE_SHUTDOWN, 10, VG_VM_RUNNING, 0, 1000};
    int64_t due = 0;
    (void)state;

    assert_int_equal(vg_policy_idle(&in, 1000 + 599, &due), VG_IDLE_NONE);
    assert_int_equal(due, 1600);
    assert_int_equal(vg_policy_idle(&in, 1600, &due), VG_IDLE_SHUTDOWN);
    assert_int_equal(vg_policy_idle(&in, 99999, NULL), VG_IDLE_SHUTDOWN);
    in.state = VG_VM_PAUSED; /* a suspended VM may still be shut down */
    assert_int_equal(vg_policy_idle(&in, 1600, NULL), VG_IDLE_SHUTDOWN);

    in.action = VG_IDLE_SUSPEND;
    in.state = VG_VM_RUNNING;
    assert_int_equal(vg_policy_idle(&in, 1600, NULL), VG_IDLE_SUSPEND);
    in.state = VG_VM_PAUSED; /* already suspended */
    assert_int_equal(vg_policy_idle(&in, 1600, &due), VG_IDLE_NONE);
    assert_int_equal(due, -1);
}

static void test_policy_idle_nothing_while_viewed_or_unset(void **state)
{
    vg_policy_idle_input in = {VG_IDLE_SUSPEND, 5, VG_VM_RUNNING, 1, 0};
    int64_t due = 0;
    (void)state;

    assert_int_equal(vg_policy_idle(&in, 100000, &due), VG_IDLE_NONE);
    assert_int_equal(due, -1);
    in.viewers = 0;
    in.idle_since = -1;
    assert_int_equal(vg_policy_idle(&in, 100000, NULL), VG_IDLE_NONE);
    in.idle_since = 0;
    in.action = VG_IDLE_NONE;
    assert_int_equal(vg_policy_idle(&in, 100000, NULL), VG_IDLE_NONE);
    in.action = VG_IDLE_SHUTDOWN;
    in.state = VG_VM_SHUTOFF;
    assert_int_equal(vg_policy_idle(&in, 100000, NULL), VG_IDLE_NONE);
    in.state = VG_VM_RUNNING;
    in.idle_since = INT64_MAX - 10; /* no overflow */
    assert_int_equal(vg_policy_idle(&in, 0, &due), VG_IDLE_NONE);
    assert_int_equal(due, INT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_nothing_assigned_is_refused),
        cmocka_unit_test(test_policy_single_assignment_with_its_role),
        cmocka_unit_test(test_policy_several_assignments_owner_first_then_alphabetical),
        cmocka_unit_test(test_policy_dedicated_vm_off_is_powered_on_on_demand),
        cmocka_unit_test(test_policy_missing_or_busy_vm_is_unavailable),
        cmocka_unit_test(test_policy_dedicated_assignment_wins_over_pools),
        cmocka_unit_test(test_policy_requested_vm_by_name_or_uuid),
        cmocka_unit_test(test_policy_requested_vm_not_entitled_is_refused),
        cmocka_unit_test(test_policy_requested_pool_vm),
        cmocka_unit_test(test_policy_requested_vm_in_sticky_pool),
        cmocka_unit_test(test_policy_pool_prefers_free_running_vm),
        cmocka_unit_test(test_policy_pool_exhausted),
        cmocka_unit_test(test_policy_pool_free_vm_off_without_power_on_demand),
        cmocka_unit_test(test_policy_pool_reconnect_returns_to_own_session),
        cmocka_unit_test(test_policy_sticky_pool_first_login_claims_a_vm),
        cmocka_unit_test(test_policy_sticky_vm_is_returned_even_when_others_run),
        cmocka_unit_test(test_policy_pools_tie_break_by_pool_then_vm_name),
        cmocka_unit_test(test_policy_rejects_malformed_request),
        cmocka_unit_test(test_policy_split_login_vm_slash_user),
        cmocka_unit_test(test_policy_second_login_takeover_by_default),
        cmocka_unit_test(test_policy_second_login_join_mode),
        cmocka_unit_test(test_policy_other_user_joins_shared_vm),
        cmocka_unit_test(test_policy_only_owner_and_controller_send_input),
        cmocka_unit_test(test_policy_idle_action_due_after_idle_minutes),
        cmocka_unit_test(test_policy_idle_nothing_while_viewed_or_unset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
