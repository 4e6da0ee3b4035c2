/*
 * Unit tests: the gate, the one path from a login to a viewer and its end.
 * Real sessions, broker admission, audit log and console; the console's
 * RFB peer is scripted on a socketpair (rfb-script.h), so the test reads
 * exactly which key events reach the "guest".
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "audit.h"
#include "broker.h"
#include "console.h"
#include "gate.h"
#include "rfb-script.h"
#include "sessions.h"
#include "store.h"
#include "util.h"

#define XK_SHIFT_L 0xffe1

typedef struct fixture {
    char *dir;
    char *audit_path;
    vg_store *store;
    vg_sessions *sessions;
    vg_config *cfg;
    vg_broker *broker;
    vg_audit *audit;
    vg_gate *gate;
    vg_console *console;
    int peer; /* the scripted RFB server's end */
} fixture;

/* What a front end's connection records of the gate's `end`. */
typedef struct conn {
    GMutex lock;
    int ends;
    char reason[160];
} conn;

static int broker_audit(void *opaque, const char *event, ...)
{
    (void)opaque;
    (void)event;
    return 0;
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* The next key event the "guest" receives: a QEMU extended key event (its
 * key number) or, before the console knows the server takes those, a plain
 * KeyEvent (key number 0). */
static void next_key(fixture *f, uint16_t *qnum, bool *down)
{
    uint8_t m[12];
    rfb_script_read(f->peer, m, 1);
    while (m[0] == 3) { /* a FramebufferUpdateRequest: not input */
        rfb_script_read(f->peer, m + 1, 9);
        rfb_script_read(f->peer, m, 1);
    }
    if (m[0] == 4) {
        rfb_script_read(f->peer, m + 1, 7);
        *down = m[1] != 0;
        *qnum = 0;
        return;
    }
    assert_int_equal(m[0], 255); /* QEMU client message */
    rfb_script_read(f->peer, m + 1, 11);
    assert_int_equal(m[1], 0); /* extended key event */
    *down = m[3] != 0;
    *qnum = (uint16_t)get32(m + 8);
}

static void expect_key(fixture *f, uint16_t qnum, bool down)
{
    uint16_t q;
    bool d;
    next_key(f, &q, &d);
    assert_int_equal(q, qnum);
    assert_int_equal(d, down);
}

/* A marker sent straight to the console: every event queued before it has
 * reached the "guest" when the marker does. */
static void expect_nothing_before_marker(fixture *f)
{
    vg_display_source *src = vg_console_source(f->console);
    assert_int_equal(vg_display_source_send_key(src, 0x32, 'm', true), 0);
    expect_key(f, 0x32, true);
    assert_int_equal(vg_display_source_send_key(src, 0x32, 'm', false), 0);
    expect_key(f, 0x32, false);
}

/* Announce QEMU extended key events (a pseudo-rectangle, as QEMU does) and
 * wait until the console sends them: from then on every key carries its
 * key number, also a release that knows no keysym. */
static void enable_ext_keys(fixture *f)
{
    uint8_t fu[4 + 12] = {0};
    vg_display_source *src = vg_console_source(f->console);
    uint16_t q;
    bool d;

    rfb_script_be16(fu + 2, 1);
    fu[4 + 8] = 0xff;
    fu[4 + 9] = 0xff;
    fu[4 + 10] = 0xfe;
    fu[4 + 11] = 0xfe; /* -258 */
    rfb_script_write(f->peer, fu, sizeof(fu));
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(vg_display_source_send_key(src, 0x32, 'm', false), 0);
        next_key(f, &q, &d);
        if (q == 0x32)
            return;
    }
    fail_msg("the console never sent a QEMU extended key event");
}

static int setup(void **state)
{
    fixture *f = g_new0(fixture, 1);
    g_autofree char *db = NULL;
    int sv[2];

    f->dir = g_dir_make_tmp("vggate-XXXXXX", NULL);
    db = g_build_filename(f->dir, "s.db", NULL);
    f->audit_path = g_build_filename(f->dir, "audit.log", NULL);
    assert_int_equal(vg_store_open(db, &f->store), 0);
    f->sessions = vg_sessions_new();
    f->cfg = vg_config_new_defaults();
    assert_int_equal(
        vg_broker_new(f->store, NULL, f->sessions, f->cfg, broker_audit, f, &f->broker), 0);
    assert_int_equal(vg_audit_new(f->audit_path, "gw-test", &f->audit), 0);
    f->gate = vg_gate_new(f->broker, f->sessions, f->audit);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(vg_console_new("vm1", sv[0], NULL, NULL, &f->console), 0);
    f->peer = sv[1];
    /* Every read of the scripted server is bounded: a key that never
     * comes fails the test instead of hanging it. */
    {
        struct timeval tv = {.tv_sec = 5};
        assert_int_equal(setsockopt(f->peer, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    }
    rfb_script_serve_handshake(f->peer, 64, 48);
    rfb_script_read_client_setup(f->peer);
    enable_ext_keys(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    vg_gate_free(f->gate);
    vg_console_free(f->console, "test over");
    close(f->peer);
    vg_audit_free(f->audit);
    vg_broker_free(f->broker);
    vg_config_free(f->cfg);
    vg_sessions_free(f->sessions);
    vg_store_close(f->store);
    g_unlink(f->audit_path);
    {
        g_autofree char *db = g_build_filename(f->dir, "s.db", NULL);
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->dir);
        g_unlink(db);
        (void)system(cmd);
    }
    g_free(f->audit_path);
    g_free(f->dir);
    g_free(f);
    return 0;
}

/* A logged-in @user of vm1 with @role, as the broker hands it over. */
static vg_gate_viewer *logged_in(fixture *f, const char *user, vg_role role)
{
    vg_broker_result res;
    memset(&res, 0, sizeof(res));
    res.status = VG_BROKER_OK;
    g_strlcpy(res.user, user, sizeof(res.user));
    g_strlcpy(res.vm, "vm1", sizeof(res.vm));
    res.role = role;
    res.console = vg_console_ref(f->console);
    return vg_gate_viewer_new(f->gate, "vnc", "127.0.0.1:5000", &res);
}

static void conn_end(void *opaque, const char *reason)
{
    conn *c = opaque;
    g_mutex_lock(&c->lock);
    c->ends++;
    g_strlcpy(c->reason, reason, sizeof(c->reason));
    g_mutex_unlock(&c->lock);
}

static const vg_gate_viewer_ops conn_ops = {.end = conn_end};

/* The logout records in the audit log, as "user:reason" strings. */
static GPtrArray *logouts(fixture *f)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

    vg_audit_flush(f->audit);
    assert_true(g_file_get_contents(f->audit_path, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        const char *u, *r;
        if (!strstr(*l, "\"event\":\"logout\""))
            continue;
        u = strstr(*l, "\"user\":\"");
        r = strstr(*l, "\"reason\":\"");
        assert_non_null(u);
        assert_non_null(r);
        u += 8;
        r += 10;
        g_ptr_array_add(out, g_strdup_printf("%.*s:%.*s", (int)(strchr(u, '"') - u), u,
                                             (int)(strchr(r, '"') - r), r));
    }
    return out;
}

static void assert_last_logout(fixture *f, const char *want, guint count)
{
    g_autoptr(GPtrArray) l = logouts(f);
    assert_int_equal(l->len, count);
    assert_string_equal(l->pdata[l->len - 1], want);
}

/* Each kind of ending lets go of the Shift the viewer holds, and audits
 * the logout once with the first reason. */
static void test_held_keys_released_on_each_ending(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *how;
        const char *reason; /* what the audit says */
    } endings[] = {
        {"left", "the viewer closed the connection"},
        {"kick", "maintenance window"},
        {"takeover", "alice signed in to this VM again from 127.0.0.1:5000"},
        {"revoked", "your access to VM 'vm1' was removed"},
        {"vm", "the VM was shut down"},
        {"stop", "the gateway is stopping"},
    };
    guint audited = 0;

    for (size_t i = 0; i < G_N_ELEMENTS(endings); i++) {
        conn c = {0}, c2 = {0};
        vg_gate_viewer *v = logged_in(f, "alice", VG_ROLE_OWNER), *v2;
        vg_viewer *in = vg_gate_viewer_admit(v, &conn_ops, &c);
        g_autofree char *want = g_strdup_printf("alice:%s", endings[i].reason);

        assert_non_null(in);
        vg_viewer_key(in, 0x2a, XK_SHIFT_L, true);
        expect_key(f, 0x2a, true);
        if (strcmp(endings[i].how, "kick") == 0 || strcmp(endings[i].how, "revoked") == 0) {
            assert_int_equal(vg_sessions_kick(f->sessions, vg_gate_viewer_id(v), endings[i].reason),
                             1);
            assert_int_equal(c.ends, 1);
            assert_string_equal(c.reason, endings[i].reason);
            /* The connection then ends in its own words; the kick's are kept. */
            vg_gate_viewer_ended(v, "the connection closed");
        } else if (strcmp(endings[i].how, "takeover") == 0) {
            v2 = logged_in(f, "alice", VG_ROLE_OWNER);
            assert_non_null(vg_gate_viewer_admit(v2, &conn_ops, &c2));
            assert_int_equal(c.ends, 1);
            assert_string_equal(c.reason, endings[i].reason);
            vg_gate_viewer_ended(v, "the connection closed");
            expect_key(f, 0x2a, false);
            assert_last_logout(f, want, ++audited);
            vg_gate_viewer_ended(v2, "the viewer closed the connection");
            assert_int_equal(c2.ends, 0);
            assert_last_logout(f, "alice:the viewer closed the connection", ++audited);
            expect_nothing_before_marker(f); /* v2 held nothing, let go of nothing */
            continue;
        } else {
            /* The protocol saw the end first: the viewer left, the VM's
             * screen ended, the gateway stops. */
            vg_gate_viewer_ended(v, endings[i].reason);
            assert_int_equal(c.ends, 0);
        }
        expect_key(f, 0x2a, false);
        assert_last_logout(f, want, ++audited);
        g_mutex_clear(&c.lock);
    }
    assert_int_equal(vg_sessions_viewer_count(f->sessions, "vm1"), 0);
}

/* A viewer demoted to observer: its next key never reaches the guest, and
 * the key it held is let go at that event. */
static void test_role_change_applies_to_the_next_event(void **state)
{
    fixture *f = *state;
    conn c = {0};
    vg_gate_viewer *v = logged_in(f, "alice", VG_ROLE_CONTROLLER);
    vg_viewer *in = vg_gate_viewer_admit(v, &conn_ops, &c);

    assert_non_null(in);
    vg_viewer_key(in, 0x2a, XK_SHIFT_L, true);
    expect_key(f, 0x2a, true);
    vg_viewer_key(in, 0x1e, 'a', true);
    expect_key(f, 0x1e, true);
    vg_viewer_key(in, 0x1e, 'a', false);
    expect_key(f, 0x1e, false);

    assert_int_equal(vg_sessions_set_role(f->sessions, "vm1", "alice", VG_ROLE_OBSERVER), 1);
    vg_viewer_key(in, 0x30, 'b', true);
    expect_key(f, 0x2a, false); /* let go at the first event after the demotion */
    vg_viewer_key(in, 0x30, 'b', false);
    expect_nothing_before_marker(f);

    assert_int_equal(vg_sessions_set_role(f->sessions, "vm1", "alice", VG_ROLE_CONTROLLER), 1);
    vg_viewer_key(in, 0x2e, 'c', true);
    expect_key(f, 0x2e, true);
    vg_gate_viewer_ended(v, "the viewer closed the connection");
    expect_key(f, 0x2e, false);
    assert_int_equal(c.ends, 0);
    g_mutex_clear(&c.lock);
}

typedef struct race {
    fixture *f;
    char id[24];
    gint ready, go;
    unsigned delay; /* spins before the kick, to vary who comes first */
} race;

static gpointer kicker(gpointer data)
{
    race *r = data;
    g_atomic_int_set(&r->ready, 1);
    while (!g_atomic_int_get(&r->go))
        ;
    for (volatile unsigned i = 0; i < r->delay; i++)
        ;
    (void)vg_sessions_kick(r->f->sessions, r->id, "kicked");
    return NULL;
}

/* A kick racing the viewer's own end: `end` never runs after ended()
 * returned (the connection is freed right after it: ASan sees a late
 * call), and each viewer's logout is audited exactly once. */
static void test_kick_racing_the_end(void **state)
{
    fixture *f = *state;
    const unsigned rounds = 300;
    g_autoptr(GPtrArray) l = NULL;
    unsigned kicked = 0;

    for (unsigned i = 0; i < rounds; i++) {
        conn *c = g_new0(conn, 1);
        vg_gate_viewer *v = logged_in(f, "alice", VG_ROLE_OWNER);
        race r = {.f = f, .delay = (i * 7919u) % 2000u};
        GThread *t;

        assert_non_null(vg_gate_viewer_admit(v, &conn_ops, c));
        g_strlcpy(r.id, vg_gate_viewer_id(v), sizeof(r.id));
        t = g_thread_new("kicker", kicker, &r);
        while (!g_atomic_int_get(&r.ready))
            ;
        g_atomic_int_set(&r.go, 1);
        vg_gate_viewer_ended(v, "the viewer closed the connection");
        g_mutex_lock(&c->lock);
        kicked += (unsigned)c->ends;
        assert_true(c->ends <= 1);
        g_mutex_unlock(&c->lock);
        g_mutex_clear(&c->lock);
        g_free(c);
        g_thread_join(t);
    }
    l = logouts(f);
    assert_int_equal(l->len, rounds);
    for (guint i = 0; i < l->len; i++)
        assert_true(strcmp(l->pdata[i], "alice:kicked") == 0 ||
                    strcmp(l->pdata[i], "alice:the viewer closed the connection") == 0);
    print_message("%u of %u ends raced a kick that reached the connection\n", kicked, rounds);
    assert_int_equal(vg_sessions_viewer_count(f->sessions, "vm1"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_held_keys_released_on_each_ending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_change_applies_to_the_next_event, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kick_racing_the_end, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
