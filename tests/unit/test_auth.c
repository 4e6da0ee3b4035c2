/*
 * Unit tests: password hashing and checking, NT hashes, the failed-login
 * rate limiter with an injected clock, the login decision against a real
 * store, and PAM's refusal path.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "auth.h"
#include "log.h"
#include "ratelimit.h"
#include "store.h"

/* ---- password hashes ---- */

static void test_auth_hash_is_yescrypt_and_verifies(void **state)
{
    char *hash = NULL;
    (void)state;

    assert_int_equal(vg_auth_hash_password("correct horse", &hash), 0);
    assert_true(g_str_has_prefix(hash, "$y$"));
    assert_int_equal(vg_auth_verify_password("correct horse", hash), 0);
    vg_auth_secret_free(hash);
}

static void test_auth_wrong_password_is_refused(void **state)
{
    char *hash = NULL;
    (void)state;

    assert_int_equal(vg_auth_hash_password("correct horse", &hash), 0);
    assert_int_equal(vg_auth_verify_password("correct horsf", hash), -EACCES);
    assert_int_equal(vg_auth_verify_password("correct hors", hash), -EACCES);
    assert_int_equal(vg_auth_verify_password("Correct horse", hash), -EACCES);
    vg_auth_secret_free(hash);
}

static void test_auth_hashes_are_salted(void **state)
{
    char *a = NULL, *b = NULL;
    (void)state;

    assert_int_equal(vg_auth_hash_password("same", &a), 0);
    assert_int_equal(vg_auth_hash_password("same", &b), 0);
    assert_string_not_equal(a, b);
    vg_auth_secret_free(a);
    vg_auth_secret_free(b);
}

static void test_auth_password_bounds(void **state)
{
    char *max = g_strnfill(VG_PASSWORD_MAX, 'p');
    char *over = g_strnfill(VG_PASSWORD_MAX + 1, 'p');
    char *hash = NULL;
    (void)state;

    assert_false(vg_auth_password_valid(NULL));
    assert_false(vg_auth_password_valid(""));
    assert_false(vg_auth_password_valid(over));
    assert_false(vg_auth_password_valid("bad \xc3\x28 utf-8"));
    assert_true(vg_auth_password_valid(max));
    assert_true(vg_auth_password_valid("p\xc3\xa4ss"));

    assert_int_equal(vg_auth_hash_password("", &hash), -EINVAL);
    assert_int_equal(vg_auth_hash_password(over, &hash), -EINVAL);
    assert_int_equal(vg_auth_hash_password("\xff", &hash), -EINVAL);
    assert_int_equal(vg_auth_hash_password(max, &hash), 0);
    assert_int_equal(vg_auth_verify_password(max, hash), 0);
    assert_int_equal(vg_auth_verify_password(over, hash), -EINVAL);
    assert_int_equal(vg_auth_verify_password("x", ""), -EINVAL);
    vg_auth_secret_free(hash);
    g_free(max);
    g_free(over);
}

static void test_auth_locked_hashes_match_nothing(void **state)
{
    (void)state;
    assert_int_equal(vg_auth_verify_password("x", "!"), -EACCES);
    assert_int_equal(vg_auth_verify_password("x", "*"), -EACCES);
    assert_int_equal(vg_auth_verify_password("*0", "*0"), -EACCES);
    assert_int_equal(vg_auth_verify_password("x", "$y$garbage"), -EACCES);
}

/* ---- NT hashes ---- */

static void test_auth_nt_hash_of_password(void **state)
{
    char nt[VG_NT_HASH_LEN + 1];
    (void)state;

    assert_int_equal(vg_auth_nt_hash("password", nt), 0);
    assert_string_equal(nt, "8846f7eaee8fb117ad06bdd830b7586c");
}

static void test_auth_nt_hash_uses_utf16_with_surrogates(void **state)
{
    char nt[VG_NT_HASH_LEN + 1];
    (void)state;

    /* "päss€𝄞": Latin-1, BMP and a character needing a surrogate pair. */
    assert_int_equal(vg_auth_nt_hash("p\xc3\xa4ss\xe2\x82\xac\xf0\x9d\x84\x9e", nt), 0);
    assert_string_equal(nt, "2ac4302b4ed92dcdac3e6bef58fea2d8");
    assert_int_equal(vg_auth_nt_hash("", nt), -EINVAL);
    assert_int_equal(vg_auth_nt_hash("\xc3", nt), -EINVAL);
}

static void test_auth_nt_hash_terminated_counts_the_nul(void **state)
{
    char nt[VG_NT_HASH_LEN + 1];
    (void)state;

    /* MD4 of "password" in UTF-16LE and two zero bytes: what a FreeRDP
     * client before 3.17 answers with for a redirected password. */
    assert_int_equal(vg_auth_nt_hash_terminated("password", nt), 0);
    assert_string_equal(nt, "535de4ad9c863b4137f0aefc90b18cae");
    assert_int_equal(vg_auth_nt_hash_terminated("", nt), -EINVAL);
}

/* ---- rate limiter ---- */

static vg_ratelimit *limiter(void)
{
    vg_ratelimit *rl = NULL;
    assert_int_equal(vg_ratelimit_new(NULL, &rl), 0);
    return rl;
}

static void fail_n(vg_ratelimit *rl, const char *user, const char *addr, int n, int64_t now)
{
    for (int i = 0; i < n; i++)
        vg_ratelimit_fail(rl, user, addr, now);
}

static void test_ratelimit_five_failures_lock_the_user_out(void **state)
{
    vg_ratelimit *rl = limiter();
    (void)state;

    fail_n(rl, "alice", "192.0.2.1", 4, 1000);
    assert_int_equal(vg_ratelimit_check(rl, "alice", "192.0.2.1", 1000), 0);
    vg_ratelimit_fail(rl, "alice", "192.0.2.1", 1000);
    assert_int_equal(vg_ratelimit_check(rl, "alice", "192.0.2.1", 1000), -EAGAIN);
    /* From another address too: the user is locked out, not just the address. */
    assert_int_equal(vg_ratelimit_check(rl, "alice", "198.51.100.7", 1000), -EAGAIN);
    assert_int_equal(vg_ratelimit_check(rl, "bob", "198.51.100.7", 1000), 0);
    vg_ratelimit_free(rl);
}

static void test_ratelimit_lockout_expires_with_the_clock(void **state)
{
    vg_ratelimit *rl = limiter();
    (void)state;

    fail_n(rl, "alice", NULL, 5, 1000);
    assert_int_equal(vg_ratelimit_check(rl, "alice", NULL, 1000 + 299), -EAGAIN);
    assert_int_equal(vg_ratelimit_check(rl, "alice", NULL, 1000 + 300), 0);
    /* The counter started afresh: one more failure does not lock again. */
    vg_ratelimit_fail(rl, "alice", NULL, 1300);
    assert_int_equal(vg_ratelimit_check(rl, "alice", NULL, 1300), 0);
    vg_ratelimit_free(rl);
}

static void test_ratelimit_failures_outside_the_window_do_not_count(void **state)
{
    vg_ratelimit *rl = limiter();
    (void)state;

    fail_n(rl, "alice", NULL, 4, 1000);
    vg_ratelimit_fail(rl, "alice", NULL, 1000 + 300); /* the first four have expired */
    assert_int_equal(vg_ratelimit_check(rl, "alice", NULL, 1300), 0);
    fail_n(rl, "alice", NULL, 3, 1301);
    assert_int_equal(vg_ratelimit_check(rl, "alice", NULL, 1301), 0);
    vg_ratelimit_fail(rl, "alice", NULL, 1302);
    assert_int_equal(vg_ratelimit_check(rl, "alice", NULL, 1302), -EAGAIN);
    vg_ratelimit_free(rl);
}

static void test_ratelimit_limits_an_address_across_users(void **state)
{
    vg_ratelimit *rl = limiter();
    const char *users[] = {"u1", "u2", "u3", "u4", "u5"};
    (void)state;

    for (size_t i = 0; i < G_N_ELEMENTS(users); i++)
        vg_ratelimit_fail(rl, users[i], "203.0.113.9", 50);
    assert_int_equal(vg_ratelimit_check(rl, "alice", "203.0.113.9", 50), -EAGAIN);
    assert_int_equal(vg_ratelimit_check(rl, "alice", "203.0.113.10", 50), 0);
    /* The same address written as IPv4-mapped IPv6 is the same address. */
    assert_int_equal(vg_ratelimit_check(rl, "alice", "::ffff:203.0.113.9", 50), -EAGAIN);
    vg_ratelimit_free(rl);
}

static void test_ratelimit_counts_ipv6_by_64_prefix(void **state)
{
    vg_ratelimit *rl = limiter();
    (void)state;

    vg_ratelimit_fail(rl, "a", "2001:db8:1:2::1", 10);
    vg_ratelimit_fail(rl, "b", "2001:db8:1:2::2", 10);
    vg_ratelimit_fail(rl, "c", "2001:db8:1:2:ffff::3", 10);
    vg_ratelimit_fail(rl, "d", "2001:DB8:1:2:abcd:0:0:4", 10);
    vg_ratelimit_fail(rl, "e", "2001:db8:1:2::5", 10);
    assert_int_equal(vg_ratelimit_check(rl, "z", "2001:db8:1:2::99", 10), -EAGAIN);
    assert_int_equal(vg_ratelimit_check(rl, "z", "2001:db8:1:3::1", 10), 0);
    vg_ratelimit_free(rl);
}

static void test_ratelimit_success_clears_the_user(void **state)
{
    vg_ratelimit *rl = limiter();
    (void)state;

    fail_n(rl, "alice", "192.0.2.1", 4, 10);
    vg_ratelimit_success(rl, "alice");
    fail_n(rl, "alice", "192.0.2.2", 4, 11);
    assert_int_equal(vg_ratelimit_check(rl, "alice", "192.0.2.3", 11), 0);
    vg_ratelimit_fail(rl, "alice", "192.0.2.3", 11);
    assert_int_equal(vg_ratelimit_check(rl, "alice", "192.0.2.3", 11), -EAGAIN);
    vg_ratelimit_free(rl);
}

static void test_ratelimit_is_configurable(void **state)
{
    vg_ratelimit_config cfg;
    vg_ratelimit *rl = NULL;
    (void)state;

    vg_ratelimit_config_defaults(&cfg);
    assert_int_equal(cfg.max_failures, 5);
    assert_int_equal(cfg.window, 300);
    assert_int_equal(cfg.lockout, 300);
    cfg.max_failures = 2;
    cfg.lockout = 60;
    assert_int_equal(vg_ratelimit_new(&cfg, &rl), 0);
    fail_n(rl, "alice", NULL, 2, 0);
    assert_int_equal(vg_ratelimit_check(rl, "alice", NULL, 59), -EAGAIN);
    assert_int_equal(vg_ratelimit_check(rl, "alice", NULL, 60), 0);
    vg_ratelimit_free(rl);

    cfg.max_failures = 0;
    assert_int_equal(vg_ratelimit_new(&cfg, &rl), -EINVAL);
    cfg.max_failures = 5;
    cfg.window = 0;
    assert_int_equal(vg_ratelimit_new(&cfg, &rl), -EINVAL);
}

/* A reload changes the limits of the running limiter and keeps its counts. */
static void test_ratelimit_reconfigure_keeps_what_it_counted(void **state)
{
    vg_ratelimit_config cfg;
    vg_ratelimit *rl = NULL;
    (void)state;

    vg_ratelimit_config_defaults(&cfg);
    assert_int_equal(vg_ratelimit_new(&cfg, &rl), 0);
    fail_n(rl, "alice", NULL, 3, 0);
    fail_n(rl, "bob", NULL, 1, 0);
    fail_n(rl, "carol", NULL, 5, 0); /* locked out until 300 */
    assert_int_equal(vg_ratelimit_check(rl, "alice", NULL, 1), 0);

    /* Lower: alice's three failures count, one short of the new limit of 2. */
    cfg.max_failures = 2;
    cfg.lockout = 30;
    assert_int_equal(vg_ratelimit_reconfigure(rl, &cfg), 0);
    assert_int_equal(vg_ratelimit_check(rl, "alice", NULL, 1), 0);
    fail_n(rl, "alice", NULL, 1, 1);
    assert_int_equal(vg_ratelimit_check(rl, "alice", NULL, 2), -EAGAIN);
    assert_int_equal(vg_ratelimit_check(rl, "alice", NULL, 31), 0);        /* the new lockout */
    assert_int_equal(vg_ratelimit_check(rl, "carol", NULL, 200), -EAGAIN); /* runs on */

    /* Raise: bob's one failure still counts against the new limit of 4. */
    cfg.max_failures = 4;
    assert_int_equal(vg_ratelimit_reconfigure(rl, &cfg), 0);
    fail_n(rl, "bob", NULL, 2, 3);
    assert_int_equal(vg_ratelimit_check(rl, "bob", NULL, 4), 0);
    fail_n(rl, "bob", NULL, 1, 4);
    assert_int_equal(vg_ratelimit_check(rl, "bob", NULL, 5), -EAGAIN);

    cfg.max_failures = 0;
    assert_int_equal(vg_ratelimit_reconfigure(rl, &cfg), -EINVAL);
    vg_ratelimit_free(rl);
}

static void test_ratelimit_full_table_keeps_existing_lockouts(void **state)
{
    vg_ratelimit_config cfg;
    vg_ratelimit *rl = NULL;
    (void)state;

    vg_ratelimit_config_defaults(&cfg);
    cfg.max_entries = 16;
    assert_int_equal(vg_ratelimit_new(&cfg, &rl), 0);
    fail_n(rl, "alice", NULL, 5, 100);
    /* Flood it with fresh keys. */
    for (int i = 0; i < 100; i++) {
        char user[16];
        g_snprintf(user, sizeof(user), "x%d", i);
        vg_ratelimit_fail(rl, user, NULL, 100);
    }
    assert_int_equal(vg_ratelimit_check(rl, "alice", NULL, 100), -EAGAIN);
    /* Once the flood has expired, its keys are swept and new ones are counted again. */
    fail_n(rl, "bob", NULL, 5, 100 + 301);
    assert_int_equal(vg_ratelimit_check(rl, "bob", NULL, 100 + 301), -EAGAIN);
    vg_ratelimit_free(rl);
}

/* The front ends pass the peer as "address:port" ("[v6]:port" for IPv6):
 * every connection has a new port, and it must still count as one source. */
static void test_ratelimit_counts_a_peer_by_address_not_port(void **state)
{
    vg_ratelimit *rl = limiter();
    char peer[64];
    (void)state;

    for (int i = 0; i < 5; i++) {
        g_snprintf(peer, sizeof(peer), "127.0.0.1:%d", 40000 + i);
        vg_ratelimit_fail(rl, "u", peer, 10);
        vg_ratelimit_success(rl, "u"); /* only the address may lock */
    }
    assert_int_equal(vg_ratelimit_check(rl, "other", "127.0.0.1:50000", 10), -EAGAIN);
    assert_int_equal(vg_ratelimit_check(rl, "other", "127.0.0.1", 10), -EAGAIN);
    assert_int_equal(vg_ratelimit_check(rl, "other", "[::ffff:127.0.0.1]:1", 10), -EAGAIN);
    assert_int_equal(vg_ratelimit_check(rl, "other", "127.0.0.2:40000", 10), 0);

    for (int i = 0; i < 5; i++) {
        g_snprintf(peer, sizeof(peer), "[2001:db8:7::%x]:%d", i + 1, 3389 + i);
        vg_ratelimit_fail(rl, "v", peer, 10);
        vg_ratelimit_success(rl, "v");
    }
    assert_int_equal(vg_ratelimit_check(rl, "other", "[2001:db8:7::99]:1", 10), -EAGAIN);
    assert_int_equal(vg_ratelimit_check(rl, "other", "2001:db8:7::99", 10), -EAGAIN);
    assert_int_equal(vg_ratelimit_check(rl, "other", "[2001:db8:8::1]:1", 10), 0);
    vg_ratelimit_free(rl);
}

/* A full table makes room by forgetting the keys with the fewest failures:
 * a flood of one-failure keys cannot wipe the count of a source that is
 * one failure short of a lockout, nor anyone's lockout. */
static void test_ratelimit_flood_cannot_make_it_forget_an_offender(void **state)
{
    vg_ratelimit_config cfg;
    vg_ratelimit *rl = NULL;
    (void)state;

    vg_ratelimit_config_defaults(&cfg);
    cfg.max_entries = 16;
    assert_int_equal(vg_ratelimit_new(&cfg, &rl), 0);
    fail_n(rl, "mallory", "192.0.2.66:1000", 4, 100);
    for (int i = 0; i < 200; i++) {
        char addr[32];
        g_snprintf(addr, sizeof(addr), "198.51.100.%d:%d", i % 250, 2000 + i);
        vg_ratelimit_fail(rl, NULL, addr, 100);
    }
    /* New keys are still counted while the table is full... */
    assert_int_equal(vg_ratelimit_check(rl, "mallory", "192.0.2.66:1001", 100), 0);
    vg_ratelimit_fail(rl, "mallory", "192.0.2.66:1001", 100);
    /* ...and the fifth failure of each locks both out. */
    assert_int_equal(vg_ratelimit_check(rl, "mallory", NULL, 100), -EAGAIN);
    assert_int_equal(vg_ratelimit_check(rl, NULL, "192.0.2.66:7", 100), -EAGAIN);
    fail_n(rl, "trudy", "203.0.113.5:1", 5, 101);
    assert_int_equal(vg_ratelimit_check(rl, "trudy", NULL, 101), -EAGAIN);
    assert_int_equal(vg_ratelimit_check(rl, NULL, "192.0.2.66", 101), -EAGAIN);
    vg_ratelimit_free(rl);
}

static void record_lockout(void *opaque, const char *kind, const char *what, int64_t seconds)
{
    g_ptr_array_add(opaque, g_strdup_printf("%s %s %" G_GINT64_FORMAT, kind, what, seconds));
}

/* Each lockout is reported once, by what was locked, without the port. */
static void test_ratelimit_reports_each_lockout_once(void **state)
{
    vg_ratelimit *rl = limiter();
    g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
    (void)state;

    vg_ratelimit_set_lockout_fn(rl, record_lockout, seen);
    fail_n(rl, "alice", "[2001:db8:5::1]:4000", 4, 10);
    assert_int_equal(seen->len, 0);
    vg_ratelimit_fail(rl, "alice", "[2001:db8:5::2]:4001", 10);
    assert_int_equal(seen->len, 2);
    assert_string_equal(g_ptr_array_index(seen, 0), "user alice 300");
    assert_string_equal(g_ptr_array_index(seen, 1), "address 2001:db8:5::/64 300");
    /* Failures while locked out lock nothing again. */
    fail_n(rl, "alice", "[2001:db8:5::3]:4002", 5, 11);
    assert_int_equal(seen->len, 2);
    vg_ratelimit_free(rl);
}

/* ---- login ---- */

typedef struct login_fixture {
    char *dir, *path;
    vg_store *store;
    vg_ratelimit *rl;
} login_fixture;

static int login_setup(void **state)
{
    login_fixture *f = g_new0(login_fixture, 1);
    char *hash = NULL;

    f->dir = g_dir_make_tmp("vg-auth-XXXXXX", NULL);
    assert_non_null(f->dir);
    f->path = g_build_filename(f->dir, "vmgate.db", NULL);
    assert_int_equal(vg_store_open(f->path, &f->store), 0);
    assert_int_equal(vg_auth_hash_password("s3cret", &hash), 0);
    assert_int_equal(vg_store_user_add(f->store, "alice", hash, NULL), 0);
    assert_int_equal(vg_store_user_add(f->store, "dora", hash, NULL), 0);
    assert_int_equal(vg_store_user_set_disabled(f->store, "dora", true), 0);
    vg_auth_secret_free(hash);
    f->rl = limiter();
    *state = f;
    return 0;
}

static int login_teardown(void **state)
{
    login_fixture *f = *state;
    const char *suffixes[] = {"", "-wal", "-shm"};

    vg_ratelimit_free(f->rl);
    vg_store_close(f->store);
    for (size_t i = 0; i < G_N_ELEMENTS(suffixes); i++) {
        char *p = g_strconcat(f->path, suffixes[i], NULL);
        g_unlink(p);
        g_free(p);
    }
    g_rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
    g_free(f);
    return 0;
}

static vg_auth_result login(login_fixture *f, const char *user, const char *password,
                            const char *addr, int64_t now)
{
    vg_auth_result res = (vg_auth_result)-1;
    assert_int_equal(vg_auth_login(f->store, f->rl, user, password, addr, now, &res), 0);
    return res;
}

static void test_login_accepts_right_password(void **state)
{
    login_fixture *f = *state;
    assert_int_equal(login(f, "alice", "s3cret", "192.0.2.1", 0), VG_AUTH_OK);
    assert_string_equal(vg_auth_result_name(VG_AUTH_OK), "ok");
}

static void test_login_unknown_user_answers_like_wrong_password(void **state)
{
    login_fixture *f = *state;
    char *long_password = g_strnfill(VG_PASSWORD_MAX + 1, 'x');

    assert_int_equal(login(f, "alice", "wrong", NULL, 0), VG_AUTH_BAD_CREDENTIALS);
    assert_int_equal(login(f, "mallory", "wrong", NULL, 0), VG_AUTH_BAD_CREDENTIALS);
    assert_int_equal(login(f, "mallory", "s3cret", NULL, 0), VG_AUTH_BAD_CREDENTIALS);
    assert_int_equal(login(f, "-bad name", "s3cret", NULL, 0), VG_AUTH_BAD_CREDENTIALS);
    assert_int_equal(login(f, NULL, "s3cret", NULL, 0), VG_AUTH_BAD_CREDENTIALS);
    assert_int_equal(login(f, "bob", long_password, NULL, 0), VG_AUTH_BAD_CREDENTIALS);
    assert_int_equal(login(f, "alice", "", NULL, 0), VG_AUTH_BAD_CREDENTIALS);
    g_free(long_password);
}

static double median3(double a, double b, double c)
{
    return a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));
}

/* CPU time of this thread: the hash check runs here, and unlike the wall
 * clock it does not count the time other processes had the CPU (the
 * comparisons below failed under load when they used the wall clock). */
static double cpu_seconds(void)
{
    struct timespec ts;
    assert_int_equal(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts), 0);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double login_seconds(login_fixture *f, const char *user)
{
    double t[3];
    for (int i = 0; i < 3; i++) {
        double start = cpu_seconds();
        assert_int_equal(login(f, user, "wrong", NULL, 0), VG_AUTH_BAD_CREDENTIALS);
        t[i] = cpu_seconds() - start;
        vg_ratelimit_success(f->rl, user); /* keep the limiter out of the way */
    }
    return median3(t[0], t[1], t[2]);
}

static void test_login_unknown_user_costs_a_hash_check(void **state)
{
    login_fixture *f = *state;
    double known = login_seconds(f, "alice");
    double unknown = login_seconds(f, "mallory");

    /* Without the dummy check an unknown user would answer thousands of times faster. */
    assert_true(unknown > known * 0.5);
    assert_true(known > unknown * 0.5);
}

static void test_login_throttled_costs_a_hash_check(void **state)
{
    login_fixture *f = *state;
    double t[3], wrong = login_seconds(f, "alice"), throttled;

    for (int i = 0; i < 5; i++)
        assert_int_equal(login(f, "dora", "wrong", "192.0.2.9", 100), VG_AUTH_BAD_CREDENTIALS);
    for (int i = 0; i < 3; i++) {
        double start = cpu_seconds();
        assert_int_equal(login(f, "alice", "s3cret", "192.0.2.9", 101), VG_AUTH_RATE_LIMITED);
        t[i] = cpu_seconds() - start;
    }
    throttled = median3(t[0], t[1], t[2]);
    /* A refusal that skipped the check would answer thousands of times faster. */
    assert_true(throttled > wrong * 0.5);
    assert_true(wrong > throttled * 0.5);
}

static void test_login_is_rate_limited_even_with_right_password(void **state)
{
    login_fixture *f = *state;

    for (int i = 0; i < 5; i++)
        assert_int_equal(login(f, "alice", "wrong", "192.0.2.1", 100), VG_AUTH_BAD_CREDENTIALS);
    assert_int_equal(login(f, "alice", "s3cret", "192.0.2.1", 101), VG_AUTH_RATE_LIMITED);
    assert_int_equal(login(f, "alice", "s3cret", "192.0.2.50", 101), VG_AUTH_RATE_LIMITED);
    assert_int_equal(login(f, "alice", "s3cret", "192.0.2.50", 100 + 300), VG_AUTH_OK);
}

static void test_login_unknown_users_count_against_the_address(void **state)
{
    login_fixture *f = *state;
    char user[16];

    for (int i = 0; i < 5; i++) {
        g_snprintf(user, sizeof(user), "ghost%d", i);
        assert_int_equal(login(f, user, "guess", "203.0.113.5", 7), VG_AUTH_BAD_CREDENTIALS);
    }
    assert_int_equal(login(f, "alice", "s3cret", "203.0.113.5", 8), VG_AUTH_RATE_LIMITED);
    assert_int_equal(login(f, "alice", "s3cret", "203.0.113.6", 8), VG_AUTH_OK);
}

static void test_login_disabled_account_only_after_right_password(void **state)
{
    login_fixture *f = *state;

    assert_int_equal(login(f, "dora", "s3cret", NULL, 0), VG_AUTH_DISABLED);
    assert_int_equal(login(f, "dora", "wrong", NULL, 0), VG_AUTH_BAD_CREDENTIALS);
    assert_string_equal(vg_auth_result_name(VG_AUTH_DISABLED), "disabled");
}

static void test_login_success_clears_failures(void **state)
{
    login_fixture *f = *state;

    for (int i = 0; i < 4; i++)
        login(f, "alice", "wrong", NULL, 0);
    assert_int_equal(login(f, "alice", "s3cret", NULL, 0), VG_AUTH_OK);
    for (int i = 0; i < 4; i++)
        login(f, "alice", "wrong", NULL, 0);
    assert_int_equal(login(f, "alice", "s3cret", NULL, 0), VG_AUTH_OK);
}

/* ---- PAM ---- */

static void test_pam_refuses_unknown_user_of_unknown_service(void **state)
{
    (void)state;
    /* An unknown service falls back to /etc/pam.d/other, which knows no such user. */
    assert_int_equal(
        vg_auth_pam("vmgate-test-no-such-service", "vmgate-no-such-user-x9", "password"), -EACCES);
    assert_int_equal(vg_auth_pam("../etc/passwd", "root", "password"), -EINVAL);
    assert_int_equal(vg_auth_pam("vmgate", "", "password"), -EINVAL);
    assert_int_equal(vg_auth_pam("vmgate", "root", ""), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_hash_is_yescrypt_and_verifies),
        cmocka_unit_test(test_auth_wrong_password_is_refused),
        cmocka_unit_test(test_auth_hashes_are_salted),
        cmocka_unit_test(test_auth_password_bounds),
        cmocka_unit_test(test_auth_locked_hashes_match_nothing),
        cmocka_unit_test(test_auth_nt_hash_of_password),
        cmocka_unit_test(test_auth_nt_hash_uses_utf16_with_surrogates),
        cmocka_unit_test(test_auth_nt_hash_terminated_counts_the_nul),
        cmocka_unit_test(test_ratelimit_five_failures_lock_the_user_out),
        cmocka_unit_test(test_ratelimit_lockout_expires_with_the_clock),
        cmocka_unit_test(test_ratelimit_failures_outside_the_window_do_not_count),
        cmocka_unit_test(test_ratelimit_limits_an_address_across_users),
        cmocka_unit_test(test_ratelimit_counts_ipv6_by_64_prefix),
        cmocka_unit_test(test_ratelimit_success_clears_the_user),
        cmocka_unit_test(test_ratelimit_is_configurable),
        cmocka_unit_test(test_ratelimit_reconfigure_keeps_what_it_counted),
        cmocka_unit_test(test_ratelimit_full_table_keeps_existing_lockouts),
        cmocka_unit_test(test_ratelimit_counts_a_peer_by_address_not_port),
        cmocka_unit_test(test_ratelimit_flood_cannot_make_it_forget_an_offender),
        cmocka_unit_test(test_ratelimit_reports_each_lockout_once),
#define L(fn) cmocka_unit_test_setup_teardown(fn, login_setup, login_teardown)
        L(test_login_accepts_right_password),
        L(test_login_unknown_user_answers_like_wrong_password),
        L(test_login_unknown_user_costs_a_hash_check),
        L(test_login_throttled_costs_a_hash_check),
        L(test_login_is_rate_limited_even_with_right_password),
        L(test_login_unknown_users_count_against_the_address),
        L(test_login_disabled_account_only_after_right_password),
        L(test_login_success_clears_failures),
#undef L
        cmocka_unit_test(test_pam_refuses_unknown_user_of_unknown_service),
    };
    vg_log_set_level(VG_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
