/*
 * Unit tests: admission of a logged-in client by the second-login policy
 * (takeover or join) with the real session registry and viewer doubles;
 * the NLA steps (NT hash, counted failures, verified login) against a real
 * store, with libvirt's in-process "test" driver as the hypervisor where a
 * login gets as far as choosing a VM.
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

#include "auth.h"
#include "broker.h"
#include "hypervisor.h"
#include "registry.h"
#include "util.h"

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
    vg_registry *registry; /* NULL unless the test needs a hypervisor */
    vg_broker *broker;
    int audits;
    GPtrArray *events; /* each a GPtrArray: event name, then key, value, ... */
    GMutex lock;       /* the registry reports from its own thread */
    GCond cond;
    bool test_vm_running;
    bool audit_fails; /* the audit sink answers -ENOSPC */
} fixture;

static int audit(void *opaque, const char *event, ...)
{
    fixture *f = opaque;
    GPtrArray *ev = g_ptr_array_new_with_free_func(g_free);
    const char *key;
    va_list ap;

    if (strcmp(event, "kick") == 0)
        f->audits++;
    g_ptr_array_add(ev, g_strdup(event));
    va_start(ap, event);
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *val = va_arg(ap, const char *);
        g_ptr_array_add(ev, g_strdup(key));
        g_ptr_array_add(ev, g_strdup(val ? val : "(null)"));
    }
    va_end(ap);
    g_ptr_array_add(f->events, ev);
    return f->audit_fails ? -ENOSPC : 0;
}

/* The value of @key in audit event @ev, or NULL. */
static const char *ev_get(const GPtrArray *ev, const char *key)
{
    for (guint i = 1; i + 1 < ev->len; i += 2)
        if (strcmp(ev->pdata[i], key) == 0)
            return ev->pdata[i + 1];
    return NULL;
}

static const GPtrArray *last_event(const fixture *f)
{
    assert_true(f->events->len > 0);
    return f->events->pdata[f->events->len - 1];
}

/* Exactly one event since @before: login_failed by @user from @addr for @reason, method nla. */
static void assert_nla_failure(const fixture *f, guint before, const char *user, const char *addr,
                               const char *reason)
{
    const GPtrArray *ev;
    assert_int_equal(f->events->len, before + 1);
    ev = last_event(f);
    assert_string_equal(ev->pdata[0], "login_failed");
    assert_non_null(ev_get(ev, "user"));
    assert_string_equal(ev_get(ev, "user"), user);
    assert_non_null(ev_get(ev, "address"));
    assert_string_equal(ev_get(ev, "address"), addr);
    assert_non_null(ev_get(ev, "reason"));
    assert_string_equal(ev_get(ev, "reason"), reason);
    assert_non_null(ev_get(ev, "method"));
    assert_string_equal(ev_get(ev, "method"), "nla");
}

static void r_vm_changed(void *opaque, const vg_vm_info *vm)
{
    fixture *f = opaque;
    g_mutex_lock(&f->lock);
    if (strcmp(vm->name, "test") == 0 && vm->state == VIR_DOMAIN_RUNNING)
        f->test_vm_running = true;
    g_cond_broadcast(&f->cond);
    g_mutex_unlock(&f->lock);
}

static const vg_registry_events r_events = {.vm_changed = r_vm_changed};

static int setup_full(void **state, vg_second_login mode, bool hypervisor)
{
    fixture *f = g_new0(fixture, 1);
    g_autofree char *db = NULL;
    g_mutex_init(&f->lock);
    g_cond_init(&f->cond);
    f->events = g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);
    f->dir = g_dir_make_tmp("vgbroker-XXXXXX", NULL);
    db = g_build_filename(f->dir, "s.db", NULL);
    assert_int_equal(vg_store_open(db, &f->store), 0);
    f->sessions = vg_sessions_new();
    f->cfg = vg_config_new_defaults();
    f->cfg->second_login = mode;
    if (hypervisor) {
        /* libvirt's test driver: one VM, "test", running, without a
         * graphics console (so no login ever gets a console here). */
        gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        vg_libvirt_quiet();
        assert_int_equal(vg_registry_new("test:///default", NULL, &r_events, f, &f->registry), 0);
        g_mutex_lock(&f->lock);
        while (!f->test_vm_running && g_cond_wait_until(&f->cond, &f->lock, end))
            ;
        g_mutex_unlock(&f->lock);
        assert_true(f->test_vm_running);
    }
    assert_int_equal(
        vg_broker_new(f->store, f->registry, f->sessions, f->cfg, audit, f, &f->broker), 0);
    *state = f;
    return 0;
}

static int setup_mode(void **state, vg_second_login mode)
{
    return setup_full(state, mode, false);
}

static int setup_hypervisor(void **state)
{
    return setup_full(state, VG_SECOND_LOGIN_TAKEOVER, true);
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
    vg_registry_free(f->registry);
    vg_sessions_free(f->sessions);
    vg_store_close(f->store);
    vg_config_free(f->cfg);
    g_unlink(db);
    g_unlink(wal);
    g_unlink(shm);
    g_rmdir(f->dir);
    g_free(f->dir);
    g_ptr_array_unref(f->events);
    g_mutex_clear(&f->lock);
    g_cond_clear(&f->cond);
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

/* ---- NLA ---- */

/* MD4 (RFC 1320), written out here so that the NT hashes the broker hands
 * out are checked against something that shares no code with it. */
static uint32_t rotl32(uint32_t x, int s)
{
    return x << s | x >> (32 - s);
}

static void md4_block(uint32_t h[4], const uint8_t blk[64])
{
    static const int k2[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
    static const int k3[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
    static const int s1[4] = {3, 7, 11, 19}, s2[4] = {3, 5, 9, 13}, s3[4] = {3, 9, 11, 15};
    uint32_t x[16], a = h[0], b = h[1], c = h[2], d = h[3];

    for (int i = 0; i < 16; i++)
        x[i] = (uint32_t)blk[4 * i] | (uint32_t)blk[4 * i + 1] << 8 |
               (uint32_t)blk[4 * i + 2] << 16 | (uint32_t)blk[4 * i + 3] << 24;
    for (int i = 0; i < 48; i++) {
        uint32_t fn, t;
        int k, s;
        if (i < 16) {
            fn = (b & c) | (~b & d);
            k = i;
            s = s1[i % 4];
        } else if (i < 32) {
            fn = ((b & c) | (b & d) | (c & d)) + 0x5a827999u;
            k = k2[i - 16];
            s = s2[i % 4];
        } else {
            fn = (b ^ c ^ d) + 0x6ed9eba1u;
            k = k3[i - 32];
            s = s3[i % 4];
        }
        t = rotl32(a + fn + x[k], s);
        a = d;
        d = c;
        c = b;
        b = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

static void md4(const uint8_t *msg, size_t len, uint8_t out[16])
{
    uint32_t h[4] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u};
    uint8_t blk[64];
    uint64_t bits = (uint64_t)len * 8;
    size_t i = 0, rest;

    for (; i + 64 <= len; i += 64)
        md4_block(h, msg + i);
    rest = len - i;
    memset(blk, 0, sizeof(blk));
    if (rest)
        memcpy(blk, msg + i, rest);
    blk[rest] = 0x80;
    if (rest >= 56) {
        md4_block(h, blk);
        memset(blk, 0, sizeof(blk));
    }
    for (int j = 0; j < 8; j++)
        blk[56 + j] = (uint8_t)(bits >> (8 * j));
    md4_block(h, blk);
    for (int j = 0; j < 16; j++)
        out[j] = (uint8_t)(h[j / 4] >> (8 * (j % 4)));
}

/* MD4 of the UTF-16LE form of @password. */
static void nt_hash_by_hand(const char *password, uint8_t out[16])
{
    glong units = 0;
    gunichar2 *u16 = g_utf8_to_utf16(password, -1, NULL, &units, NULL);
    uint8_t *le = g_malloc((size_t)units * 2 + 1);

    assert_non_null(u16);
    for (glong i = 0; i < units; i++) {
        le[2 * i] = (uint8_t)(u16[i] & 0xff);
        le[2 * i + 1] = (uint8_t)(u16[i] >> 8);
    }
    md4(le, (size_t)units * 2, out);
    g_free(le);
    g_free(u16);
}

static void assert_md4_hex(const char *msg, const char *hex)
{
    uint8_t d[16];
    char got[33];
    md4((const uint8_t *)msg, strlen(msg), d);
    for (int i = 0; i < 16; i++)
        g_snprintf(got + 2 * i, 3, "%02x", d[i]);
    assert_string_equal(got, hex);
}

/* The NT hash of "password", a well-known vector. */
static const uint8_t nt_of_password[VG_BROKER_NT_HASH_BYTES] = {
    0x88, 0x46, 0xf7, 0xea, 0xee, 0x8f, 0xb1, 0x17, 0xad, 0x06, 0xbd, 0xd8, 0x30, 0xb7, 0x58, 0x6c,
};

/* A user with @password, and its NT hash (NLA) if @nla. */
static void add_user(fixture *f, const char *name, const char *password, bool nla)
{
    char *hash = NULL;
    char nt[VG_NT_HASH_LEN + 1];

    assert_int_equal(vg_auth_hash_password(password, &hash), 0);
    if (nla)
        assert_int_equal(vg_auth_nt_hash(password, nt), 0);
    assert_int_equal(vg_store_user_add(f->store, name, hash, nla ? nt : NULL), 0);
    vg_auth_secret_free(hash);
    memset(nt, 0, sizeof(nt));
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static guint count_events(const fixture *f, const char *event)
{
    guint n = 0;
    for (guint i = 0; i < f->events->len; i++)
        if (strcmp(((GPtrArray *)f->events->pdata[i])->pdata[0], event) == 0)
            n++;
    return n;
}

/* vg_broker_nla_hash is refused with -EACCES, wipes @buf and audits @reason. */
static void assert_nla_hash_refused(fixture *f, const char *user, const char *addr,
                                    const char *reason)
{
    uint8_t buf[VG_BROKER_NT_HASH_BYTES];
    guint before = f->events->len;

    memset(buf, 0xa5, sizeof(buf));
    assert_int_equal(vg_broker_nla_hash(f->broker, user, addr, buf), -EACCES);
    assert_true(all_zero(buf, sizeof(buf)));
    assert_nla_failure(f, before, user ? user : "", addr, reason);
}

static void test_broker_nla_hash_is_md4_of_utf16le_password(void **state)
{
    fixture *f = *state;
    /* Two-byte, three-byte and four-byte (surrogate pair) UTF-8. */
    static const char other_pw[] = "P\xc3\xa4sswort \xe2\x82\xac \xf0\x9f\x98\x80";
    uint8_t buf[VG_BROKER_NT_HASH_BYTES], want[VG_BROKER_NT_HASH_BYTES];
    char hex[VG_NT_HASH_LEN + 1];

    /* The hand-written MD4 against RFC 1320's vectors, then the NT hash vector. */
    assert_md4_hex("", "31d6cfe0d16ae931b73c59d7e0c089c0");
    assert_md4_hex("abc", "a448017aaf21d8525fc10ae87aa6729d");
    assert_md4_hex(
        "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
        "e33b4ddc9c38f2199c3e7b164fcc0536");
    nt_hash_by_hand("password", want);
    assert_memory_equal(want, nt_of_password, sizeof(want));
    assert_int_equal(vg_auth_nt_hash("password", hex), 0);
    assert_string_equal(hex, "8846f7eaee8fb117ad06bdd830b7586c");

    add_user(f, "alice", "password", true);
    memset(buf, 0xa5, sizeof(buf));
    assert_int_equal(vg_broker_nla_hash(f->broker, "alice", "10.0.0.1", buf), 0);
    assert_memory_equal(buf, nt_of_password, sizeof(buf));

    add_user(f, "bob.x@corp", other_pw, true);
    nt_hash_by_hand(other_pw, want);
    memset(buf, 0xa5, sizeof(buf));
    assert_int_equal(vg_broker_nla_hash(f->broker, "bob.x@corp", NULL, buf), 0);
    assert_memory_equal(buf, want, sizeof(buf));
    assert_memory_not_equal(buf, nt_of_password, sizeof(buf));

    /* Handing out a hash is no failed login. */
    assert_int_equal(count_events(f, "login_failed"), 0);
}

static void test_broker_nla_hash_refusals(void **state)
{
    fixture *f = *state;
    uint8_t buf[VG_BROKER_NT_HASH_BYTES];

    add_user(f, "alice", "password", true);
    add_user(f, "carol", "password", false); /* password logins only: no NLA */

    assert_nla_hash_refused(f, "nobody", "192.0.2.1", "bad-credentials");
    /* The audit tells the operator why; the client sees the same failure. */
    assert_nla_hash_refused(f, "carol", "192.0.2.2", "no-nla");
    assert_nla_hash_refused(f, "bad name", "192.0.2.3", "bad-credentials");
    assert_nla_hash_refused(f, "-alice", "192.0.2.4", "bad-credentials");
    assert_nla_hash_refused(f, "", "192.0.2.5", "bad-credentials");
    assert_nla_hash_refused(f, NULL, "192.0.2.6", "bad-credentials");

    /* Other users' refusals did not touch alice. */
    memset(buf, 0, sizeof(buf));
    assert_int_equal(vg_broker_nla_hash(f->broker, "alice", "192.0.2.1", buf), 0);
    assert_memory_equal(buf, nt_of_password, sizeof(buf));
}

static void test_broker_nla_failures_lock_out(void **state)
{
    fixture *f = *state;
    unsigned n = f->cfg->max_failures;
    uint8_t buf[VG_BROKER_NT_HASH_BYTES];
    vg_broker_result res;

    assert_true(n >= 2);
    add_user(f, "alice", "password", true);
    add_user(f, "bob", "password", true);

    for (unsigned i = 0; i + 1 < n; i++) {
        guint before = f->events->len;
        vg_broker_nla_failed(f->broker, "alice", "198.51.100.1");
        assert_nla_failure(f, before, "alice", "198.51.100.1", "bad-credentials");
    }
    /* One below the limit: still allowed (and asking is not a failure). */
    assert_int_equal(vg_broker_nla_hash(f->broker, "alice", "198.51.100.1", buf), 0);
    assert_memory_equal(buf, nt_of_password, sizeof(buf));
    {
        /* The failure that reaches the limit locks out the user and the
         * address: each lockout is audited before the failure itself. */
        guint before = f->events->len;
        const GPtrArray *ev;
        vg_broker_nla_failed(f->broker, "alice", "198.51.100.1");
        assert_int_equal(f->events->len, before + 3);
        ev = f->events->pdata[before];
        assert_string_equal(ev->pdata[0], "lockout");
        assert_string_equal(ev_get(ev, "kind"), "user");
        assert_string_equal(ev_get(ev, "user"), "alice");
        ev = f->events->pdata[before + 1];
        assert_string_equal(ev->pdata[0], "lockout");
        assert_string_equal(ev_get(ev, "kind"), "address");
        assert_string_equal(ev_get(ev, "address"), "198.51.100.1");
        assert_non_null(ev_get(ev, "seconds"));
        g_ptr_array_remove_range(f->events, before, 2);
        assert_nla_failure(f, before, "alice", "198.51.100.1", "bad-credentials");
    }

    /* max_failures reached: the user is locked out from everywhere, and so
     * is the address for every user. */
    assert_nla_hash_refused(f, "alice", "198.51.100.1", "rate-limited");
    assert_nla_hash_refused(f, "alice", "203.0.113.9", "rate-limited");
    assert_nla_hash_refused(f, "bob", "198.51.100.1", "rate-limited");
    assert_int_equal(vg_broker_nla_hash(f->broker, "bob", "203.0.113.9", buf), 0);
    assert_memory_equal(buf, nt_of_password, sizeof(buf));

    /* The same limiter guards password logins. */
    assert_int_equal(vg_broker_login(f->broker, "alice", "password", "203.0.113.10", NULL, 0, &res),
                     0);
    assert_int_equal(res.status, VG_BROKER_AUTH_FAILED);
    assert_string_equal(ev_get(last_event(f), "reason"), "rate-limited");
}

/* A reload with new limits applies them to the running limiter, which keeps
 * the failures it counted: one failure under limit 5, then the limit made
 * 2, and the next failure locks the user out. */
static void test_broker_reload_applies_new_login_limits(void **state)
{
    fixture *f = *state;
    uint8_t buf[VG_BROKER_NT_HASH_BYTES];

    add_user(f, "alice", "password", true);
    vg_broker_nla_failed(f->broker, "alice", "198.51.100.7");
    assert_int_equal(vg_broker_nla_hash(f->broker, "alice", "198.51.100.8", buf), 0);
    f->cfg->max_failures = 2;
    assert_int_equal(vg_broker_reconfigure(f->broker, f->cfg), 0);
    assert_int_equal(vg_broker_nla_hash(f->broker, "alice", "198.51.100.8", buf), 0);
    vg_broker_nla_failed(f->broker, "alice", "198.51.100.9");
    assert_nla_hash_refused(f, "alice", "198.51.100.10", "rate-limited");
}

static void test_broker_login_verified_refuses_disabled_and_unknown(void **state)
{
    fixture *f = *state;
    vg_broker_result res, wrong;
    guint before;

    add_user(f, "erin", "password", true);
    assert_int_equal(vg_store_assign(f->store, "erin", "test", VG_ROLE_OWNER), 0);
    assert_int_equal(vg_store_user_set_disabled(f->store, "erin", true), 0);
    /* What a wrong password gets: the refusals below must look the same. */
    assert_int_equal(vg_broker_login(f->broker, "erin", "nope", "10.1.0.9", NULL, 0, &wrong), 0);
    assert_int_equal(wrong.status, VG_BROKER_AUTH_FAILED);

    before = f->events->len;
    assert_int_equal(vg_broker_login_verified(f->broker, "erin", "10.1.0.1", "nla", NULL, 0, &res),
                     0);
    assert_int_equal(res.status, VG_BROKER_AUTH_FAILED);
    assert_string_equal(res.message, wrong.message);
    assert_string_equal(res.vm, "");
    assert_null(res.console);
    assert_false(res.powered_on);
    assert_nla_failure(f, before, "erin", "10.1.0.1", "disabled");

    before = f->events->len;
    assert_int_equal(
        vg_broker_login_verified(f->broker, "nobody", "10.1.0.2", "nla", NULL, 0, &res), 0);
    assert_int_equal(res.status, VG_BROKER_AUTH_FAILED);
    assert_string_equal(res.message, wrong.message);
    assert_string_equal(res.vm, "");
    assert_null(res.console);
    assert_nla_failure(f, before, "nobody", "10.1.0.2", "bad-credentials");

    assert_int_equal(
        vg_broker_login_verified(f->broker, "bad name", "10.1.0.3", "nla", NULL, 0, &res), 0);
    assert_int_equal(res.status, VG_BROKER_AUTH_FAILED);
    assert_string_equal(ev_get(last_event(f), "reason"), "bad-credentials");
    assert_int_equal(vg_broker_login_verified(f->broker, NULL, "10.1.0.4", "nla", NULL, 0, &res),
                     0);
    assert_int_equal(res.status, VG_BROKER_AUTH_FAILED);

    /* Enabled again, erin gets past authentication to the VM choice. */
    assert_int_equal(vg_store_user_set_disabled(f->store, "erin", false), 0);
    assert_int_equal(vg_broker_login_verified(f->broker, "erin", "10.1.0.1", "nla", NULL, 0, &res),
                     0);
    assert_int_not_equal(res.status, VG_BROKER_AUTH_FAILED);
    assert_string_equal(res.vm, "test");
    if (res.console)
        vg_console_unref(res.console);
}

/* Log in as @user both ways and expect the same outcome. */
static void assert_verified_like_password(fixture *f, const char *user, const char *requested,
                                          vg_broker_status status, const char *reason)
{
    vg_broker_result v, p;
    g_autofree char *v_reason = NULL;

    assert_int_equal(vg_broker_login_verified(f->broker, user, "10.2.0.1", "nla", requested, 0, &v),
                     0);
    v_reason = g_strdup(ev_get(last_event(f), "reason"));
    assert_int_equal(vg_broker_login(f->broker, user, "password", "10.2.0.1", requested, 0, &p), 0);
    assert_int_equal(v.status, status);
    assert_int_equal(p.status, status);
    assert_string_equal(v.message, p.message);
    assert_string_equal(v.user, p.user);
    assert_string_equal(v.user, user);
    assert_string_equal(v.vm, p.vm);
    assert_int_equal(v.role, p.role);
    assert_int_equal(v.powered_on, p.powered_on);
    assert_non_null(v_reason);
    assert_string_equal(v_reason, reason);
    assert_string_equal(ev_get(last_event(f), "reason"), reason);
    /* libvirt's test driver has no graphics: no console either way. */
    assert_null(v.console);
    assert_null(p.console);
}

typedef struct pool_login {
    fixture *f;
    vg_broker_result res;
} pool_login;

static gpointer alice_pool_login(gpointer data)
{
    pool_login *pl = data;
    /* Its console never comes: it holds its choice for the 3 s it waits. */
    vg_broker_login(pl->f->broker, "alice", "password", "10.3.0.1", NULL, 3, &pl->res);
    return NULL;
}

/* Two logins to a pool with one VM: while the first has chosen it and not
 * yet joined its session, the second finds no free VM; once the first
 * gives up, the VM is free again. */
static void test_broker_pool_vm_is_claimed_until_the_login_joins(void **state)
{
    fixture *f = *state;
    pool_login pl = {.f = f};
    vg_broker_result res;
    char who[65] = "";
    GThread *t;
    int64_t deadline;

    add_user(f, "alice", "password", false);
    add_user(f, "bob", "password", false);
    assert_int_equal(vg_store_pool_create(f->store, "p", VG_IDLE_NONE, 0, false), 0);
    assert_int_equal(vg_store_pool_add_vm(f->store, "p", "test"), 0);
    assert_int_equal(vg_store_entitle(f->store, "alice", "p"), 0);
    assert_int_equal(vg_store_entitle(f->store, "bob", "p"), 0);

    t = g_thread_new("alice", alice_pool_login, &pl);
    deadline = vg_now_us() + 5 * G_USEC_PER_SEC;
    while (!vg_broker_vm_claimed(f->broker, "test", who)) {
        assert_true(vg_now_us() < deadline);
        g_usleep(10 * 1000);
    }
    assert_string_equal(who, "alice");
    assert_int_equal(vg_broker_login(f->broker, "bob", "password", "10.3.0.2", NULL, 0, &res), 0);
    assert_int_equal(res.status, VG_BROKER_REFUSED);
    assert_string_equal(res.message, "No VM is free in your pools");

    g_thread_join(t);
    assert_int_equal(pl.res.status, VG_BROKER_UNAVAILABLE); /* console-timeout */
    assert_false(vg_broker_vm_claimed(f->broker, "test", NULL));
    assert_int_equal(vg_broker_login(f->broker, "bob", "password", "10.3.0.2", NULL, 0, &res), 0);
    assert_string_equal(res.vm, "test");
    vg_console_unref(pl.res.console);
}

static void test_broker_login_verified_chooses_like_password_login(void **state)
{
    fixture *f = *state;
    vg_broker_result res;

    add_user(f, "carol", "password", true);
    assert_int_equal(vg_store_assign(f->store, "carol", "test", VG_ROLE_CONTROLLER), 0);
    add_user(f, "dave", "password", true);

    /* carol's VM is chosen; its console never comes (timeout 0). */
    assert_verified_like_password(f, "carol", NULL, VG_BROKER_UNAVAILABLE, "console-timeout");
    assert_int_equal(vg_broker_login_verified(f->broker, "carol", "10.2.0.1", "nla", NULL, 0, &res),
                     0);
    assert_string_equal(res.vm, "test");
    assert_int_equal(res.role, VG_ROLE_CONTROLLER);
    assert_string_equal(ev_get(last_event(f), "vm"), "test");
    /* The requested VM is passed on to the policy. */
    assert_verified_like_password(f, "carol", "not-hers", VG_BROKER_REFUSED, "not-entitled");
    /* Nothing assigned. */
    assert_verified_like_password(f, "dave", NULL, VG_BROKER_REFUSED, "no-vm");
    assert_int_equal(vg_broker_login_verified(f->broker, "dave", "10.2.0.1", "nla", NULL, 0, &res),
                     0);
    assert_string_equal(res.message, "No VM is assigned to you");
    assert_int_equal(count_events(f, "login_ok"), 0);
}

static void test_broker_login_verified_clears_user_failures(void **state)
{
    fixture *f = *state;
    unsigned n = f->cfg->max_failures;
    uint8_t buf[VG_BROKER_NT_HASH_BYTES];
    vg_broker_result res;

    add_user(f, "alice", "password", true);
    assert_int_equal(vg_store_assign(f->store, "alice", "test", VG_ROLE_OWNER), 0);
    for (unsigned i = 0; i + 1 < n; i++)
        vg_broker_nla_failed(f->broker, "alice", "198.51.100.1");
    assert_int_equal(
        vg_broker_login_verified(f->broker, "alice", "198.51.100.1", "nla", NULL, 0, &res), 0);
    assert_int_not_equal(res.status, VG_BROKER_AUTH_FAILED);
    /* One more failure from elsewhere would have been the n-th for alice. */
    vg_broker_nla_failed(f->broker, "alice", "198.51.100.2");
    assert_int_equal(vg_broker_nla_hash(f->broker, "alice", "198.51.100.3", buf), 0);
    assert_memory_equal(buf, nt_of_password, sizeof(buf));
}

/* With PAM on, a refused password goes to PAM whatever the name: a name the
 * store does not know is asked about too (the time PAM takes must not tell
 * which names exist), and PAM's yes lets in only a name the store knows.
 * The PAM service is a real one: pam_exec running a script that records
 * the user and answers as told. */
static void test_broker_pam_is_asked_for_every_name(void **state)
{
    fixture *f = *state;
    g_autofree char *service = g_strdup_printf("vgtest-broker-%d", (int)getpid());
    g_autofree char *conf = g_build_filename("/etc/pam.d", service, NULL);
    g_autofree char *script = g_build_filename(f->dir, "pam.sh", NULL);
    g_autofree char *log = g_build_filename(f->dir, "pam.log", NULL);
    g_autofree char *text = NULL, *seen = NULL;
    vg_broker_result res;

    if (geteuid() != 0) {
        skip();
        return;
    }
    {
        /* A run that failed half way left its service file behind. */
        GDir *d = g_dir_open("/etc/pam.d", 0, NULL);
        const char *n;
        while (d && (n = g_dir_read_name(d)))
            if (g_str_has_prefix(n, "vgtest-broker-")) {
                g_autofree char *old = g_build_filename("/etc/pam.d", n, NULL);
                g_unlink(old);
            }
        if (d)
            g_dir_close(d);
    }
    /* Yes for "sysuser" with "sys-pw", no for anything else. */
    text = g_strdup_printf("#!/bin/sh\necho \"$PAM_USER\" >> %s\nread -r pw\n"
                           "[ \"$PAM_USER\" = sysuser ] && [ \"$pw\" = sys-pw ]\n",
                           log);
    assert_true(g_file_set_contents(script, text, -1, NULL));
    assert_int_equal(g_chmod(script, 0755), 0);
    g_free(text);
    text = g_strdup_printf("auth required pam_exec.so quiet expose_authtok %s\n"
                           "account required pam_permit.so\n",
                           script);
    assert_true(g_file_set_contents(conf, text, -1, NULL));
    f->cfg->pam = true;
    g_free(f->cfg->pam_service);
    f->cfg->pam_service = g_strdup(service);
    assert_int_equal(vg_broker_reconfigure(f->broker, f->cfg), 0);

    assert_int_equal(vg_broker_login(f->broker, "stranger", "guess", "10.2.0.1", NULL, 0, &res), 0);
    assert_int_equal(res.status, VG_BROKER_AUTH_FAILED);
    /* PAM says yes, but the store does not know the name: still refused. */
    assert_int_equal(vg_broker_login(f->broker, "sysuser", "sys-pw", "10.2.0.2", NULL, 0, &res), 0);
    assert_int_equal(res.status, VG_BROKER_AUTH_FAILED);
    assert_true(g_file_get_contents(log, &seen, NULL, NULL));
    assert_string_equal(seen, "stranger\nsysuser\n");

    /* Known to the store (with a password of its own): PAM's yes lets it
     * in (no VM: refused later, for that reason, not for the password). */
    add_user(f, "sysuser", "local-pw", false);
    assert_int_equal(vg_broker_login(f->broker, "sysuser", "sys-pw", "10.2.0.3", NULL, 0, &res), 0);
    assert_int_not_equal(res.status, VG_BROKER_AUTH_FAILED);
    g_unlink(conf);
    g_unlink(script);
    g_unlink(log);
}

/* A login without a VM (the browser's): the same limiter and audit as any
 * login, "authenticated" when it passes, and nothing chosen. */
static void test_broker_authenticate_checks_only_the_password(void **state)
{
    fixture *f = *state;
    vg_broker_result res, wrong;
    guint before;

    add_user(f, "erin", "password", false);
    before = f->events->len;
    assert_int_equal(vg_broker_authenticate(f->broker, "erin", "password", "10.5.0.1", "web", &res),
                     0);
    assert_int_equal(res.status, VG_BROKER_OK);
    assert_string_equal(res.user, "erin");
    assert_string_equal(res.vm, "");
    assert_null(res.console);
    assert_int_equal(f->events->len, before + 1);
    assert_string_equal(last_event(f)->pdata[0], "authenticated");
    assert_string_equal(ev_get(last_event(f), "method"), "web");

    /* Wrong password, unknown user, a bad name: one answer, each audited. */
    assert_int_equal(vg_broker_login(f->broker, "erin", "nope", "10.5.0.9", NULL, 0, &wrong), 0);
    for (int i = 0; i < 3; i++) {
        const char *user = i == 0 ? "erin" : i == 1 ? "nobody" : "bad name";
        before = f->events->len;
        assert_int_equal(vg_broker_authenticate(f->broker, user, "nope", "10.5.0.2", "web", &res),
                         0);
        assert_int_equal(res.status, VG_BROKER_AUTH_FAILED);
        assert_string_equal(res.message, wrong.message);
        assert_int_equal(f->events->len, before + 1);
        assert_string_equal(last_event(f)->pdata[0], "login_failed");
        assert_string_equal(ev_get(last_event(f), "method"), "web");
    }
    /* The limiter counts them: after enough failures even the right
     * password is refused for that user. */
    for (int i = 0; i < 8; i++)
        vg_broker_authenticate(f->broker, "erin", "nope", "10.5.0.3", "web", &res);
    assert_int_equal(vg_broker_authenticate(f->broker, "erin", "password", "10.5.0.4", "web", &res),
                     0);
    assert_int_equal(res.status, VG_BROKER_AUTH_FAILED);

    /* A disabled account is no longer active. */
    assert_true(vg_broker_user_active(f->broker, "erin"));
    assert_int_equal(vg_store_user_set_disabled(f->store, "erin", true), 0);
    assert_false(vg_broker_user_active(f->broker, "erin"));
    assert_false(vg_broker_user_active(f->broker, "nobody"));
    assert_false(vg_broker_user_active(f->broker, NULL));
}

/* The picker's list: assignments with their role, then pool VMs, each VM
 * once, with the hypervisor's state and whether someone else holds it. */
static void test_broker_reachable_lists_assignments_then_pools(void **state)
{
    fixture *f = *state;
    GArray *list = NULL;
    const vg_broker_vm_entry *e;

    add_user(f, "erin", "password", false);
    add_user(f, "fred", "password", false);
    assert_int_equal(vg_broker_reachable(f->broker, "erin", &list), 0);
    assert_int_equal(list->len, 0);
    g_array_unref(list);

    assert_int_equal(vg_store_assign(f->store, "erin", "test", VG_ROLE_OBSERVER), 0);
    assert_int_equal(vg_store_pool_create(f->store, "p", VG_IDLE_NONE, 0, false), 0);
    assert_int_equal(vg_store_pool_add_vm(f->store, "p", "test"), 0);
    assert_int_equal(vg_store_pool_add_vm(f->store, "p", "gone"), 0);
    assert_int_equal(vg_store_entitle(f->store, "erin", "p"), 0);
    assert_int_equal(vg_store_entitle(f->store, "fred", "p"), 0);
    assert_int_equal(vg_store_sticky_set(f->store, "p", "gone", "fred"), 0);

    assert_int_equal(vg_broker_reachable(f->broker, "erin", &list), 0);
    assert_int_equal(list->len, 2);
    e = &g_array_index(list, vg_broker_vm_entry, 0);
    assert_string_equal(e->vm, "test"); /* the assignment wins over the pool */
    assert_int_equal(e->role, VG_ROLE_OBSERVER);
    assert_int_equal(e->state, VG_VM_RUNNING);
    assert_string_equal(e->pool, "");
    e = &g_array_index(list, vg_broker_vm_entry, 1);
    assert_string_equal(e->vm, "gone");
    assert_string_equal(e->pool, "p");
    assert_int_equal(e->role, VG_ROLE_CONTROLLER);
    assert_int_equal(e->state, VG_VM_MISSING);
    assert_true(e->taken); /* held for fred */
    g_array_unref(list);

    assert_int_equal(vg_broker_reachable(f->broker, "fred", &list), 0);
    assert_int_equal(list->len, 2);
    assert_false(g_array_index(list, vg_broker_vm_entry, 0).taken); /* his own sticky VM */
    assert_string_equal(g_array_index(list, vg_broker_vm_entry, 0).vm, "gone");
    assert_string_equal(g_array_index(list, vg_broker_vm_entry, 1).vm, "test");
    g_array_unref(list);
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
        cmocka_unit_test_setup_teardown(test_broker_nla_hash_is_md4_of_utf16le_password,
                                        setup_takeover, teardown),
        cmocka_unit_test_setup_teardown(test_broker_nla_hash_refusals, setup_takeover, teardown),
        cmocka_unit_test_setup_teardown(test_broker_nla_failures_lock_out, setup_takeover,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_broker_reload_applies_new_login_limits, setup_takeover,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_broker_login_verified_refuses_disabled_and_unknown,
                                        setup_hypervisor, teardown),
        cmocka_unit_test_setup_teardown(test_broker_login_verified_chooses_like_password_login,
                                        setup_hypervisor, teardown),
        cmocka_unit_test_setup_teardown(test_broker_pool_vm_is_claimed_until_the_login_joins,
                                        setup_hypervisor, teardown),
        cmocka_unit_test_setup_teardown(test_broker_login_verified_clears_user_failures,
                                        setup_hypervisor, teardown),
        cmocka_unit_test_setup_teardown(test_broker_pam_is_asked_for_every_name, setup_hypervisor,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_broker_authenticate_checks_only_the_password,
                                        setup_takeover, teardown),
        cmocka_unit_test_setup_teardown(test_broker_reachable_lists_assignments_then_pools,
                                        setup_hypervisor, teardown),
    };
    return cmocka_run_group_tests_name("broker", tests, NULL, NULL);
}
