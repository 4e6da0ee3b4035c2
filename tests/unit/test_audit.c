/*
 * Unit tests: the audit log on a real file in a temporary directory —
 * every line a JSON object with time, event and the event's fields, no
 * secrets, tailing, following, and lines kept whole under concurrency.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "audit.h"

typedef struct fixture {
    char *dir;
    char *path;
    vg_audit *audit;
} fixture;

static int setup(void **state)
{
    fixture *f = g_new0(fixture, 1);

    f->dir = g_dir_make_tmp("vg-audit-XXXXXX", NULL);
    assert_non_null(f->dir);
    f->path = g_build_filename(f->dir, "log", "audit.log", NULL);
    assert_int_equal(vg_audit_new(f->path, "gw-test", &f->audit), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    g_autofree char *sub = g_path_get_dirname(f->path);

    vg_audit_free(f->audit);
    g_unlink(f->path);
    g_rmdir(sub);
    g_rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
    g_free(f);
    return 0;
}

/* The file's lines, each parsed (the test fails on one that is not a JSON object). */
static GPtrArray *read_records(const char *path)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);

    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    assert_true(*text == '\0' || g_str_has_suffix(text, "\n"));
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        JsonNode *n;
        if (!**l)
            continue;
        n = json_from_string(*l, NULL);
        assert_non_null(n);
        assert_true(JSON_NODE_HOLDS_OBJECT(n));
        g_ptr_array_add(out, n);
    }
    return out;
}

static JsonObject *record(GPtrArray *records, guint i)
{
    assert_true(i < records->len);
    return json_node_get_object(g_ptr_array_index(records, i));
}

static void assert_time_rfc3339_utc(const char *t)
{
    g_autoptr(GRegex) re =
        g_regex_new("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$", 0, 0, NULL);
    g_autoptr(GDateTime) dt = g_date_time_new_from_iso8601(t, NULL);
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();

    assert_true(g_regex_match(re, t, 0, NULL));
    assert_non_null(dt);
    assert_true(g_date_time_difference(now, dt) < 60 * G_TIME_SPAN_SECOND);
}

/* The members of @o, in order, joined by commas. */
static char *member_names(JsonObject *o)
{
    GString *s = g_string_new(NULL);
    JsonObjectIter it;
    const char *name;

    json_object_iter_init_ordered(&it, o);
    while (json_object_iter_next_ordered(&it, &name, NULL))
        g_string_append_printf(s, "%s%s", s->len ? "," : "", name);
    return g_string_free(s, FALSE);
}

static void test_audit_records_are_json_lines_with_time_event_and_fields(void **state)
{
    fixture *f = *state;
    g_autoptr(GPtrArray) r = NULL;
    static const char *const expected[] = {
        "time,event,instance,user,vm,protocol,address",
        "time,event,instance,user,address,protocol,reason",
        "time,event,instance,user,vm,protocol,address,reason",
        "time,event,instance,by,user,vm,role",
        "time,event,instance,by,user,vm",
        "time,event,instance,by,user,vm,from,to",
        "time,event,instance,by,id,reason,viewers",
        "time,event,instance,by,vm,action,ok,error",
        "time,event,instance,uid,user,command,args,ok",
    };
    JsonObject *o;

    assert_int_equal(vg_audit_login_ok(f->audit, "alice", "vm1", "rdp", "192.0.2.1"), 0);
    assert_int_equal(vg_audit_login_failed(f->audit, "bob", "192.0.2.2", "vnc", "bad-credentials"),
                     0);
    assert_int_equal(vg_audit_logout(f->audit, "alice", "vm1", "rdp", "192.0.2.1", "closed"), 0);
    assert_int_equal(vg_audit_assign(f->audit, "root", "alice", "vm1", VG_ROLE_OWNER), 0);
    assert_int_equal(vg_audit_unassign(f->audit, "root", "alice", "vm1"), 0);
    assert_int_equal(vg_audit_role_change(f->audit, "root", "alice", "vm1", VG_ROLE_OBSERVER,
                                          VG_ROLE_CONTROLLER),
                     0);
    assert_int_equal(vg_audit_kick(f->audit, "root", "s3", "maintenance", 2), 0);
    assert_int_equal(vg_audit_power(f->audit, "root", "vm1", "start", -ENODEV), 0);
    assert_int_equal(vg_audit_admin(f->audit, 0, "root", "user.list", NULL, 0, NULL), 0);

    r = read_records(f->path);
    assert_int_equal(r->len, G_N_ELEMENTS(expected));
    for (guint i = 0; i < r->len; i++) {
        g_autofree char *names = member_names(record(r, i));
        assert_string_equal(names, expected[i]);
        assert_time_rfc3339_utc(json_object_get_string_member(record(r, i), "time"));
        assert_string_equal(json_object_get_string_member(record(r, i), "instance"), "gw-test");
    }
    o = record(r, 1);
    assert_string_equal(json_object_get_string_member(o, "event"), "login_failed");
    assert_string_equal(json_object_get_string_member(o, "user"), "bob");
    assert_string_equal(json_object_get_string_member(o, "address"), "192.0.2.2");
    assert_string_equal(json_object_get_string_member(o, "reason"), "bad-credentials");
    o = record(r, 5);
    assert_string_equal(json_object_get_string_member(o, "from"), "observer");
    assert_string_equal(json_object_get_string_member(o, "to"), "controller");
    o = record(r, 6);
    assert_int_equal(json_object_get_int_member(o, "viewers"), 2);
    o = record(r, 7);
    assert_false(json_object_get_boolean_member(o, "ok"));
    o = record(r, 8);
    assert_int_equal(json_object_get_int_member(o, "uid"), 0);
    assert_true(json_object_get_boolean_member(o, "ok"));
}

static void test_audit_never_records_secret_fields(void **state)
{
    fixture *f = *state;
    g_autoptr(GPtrArray) r = NULL;
    g_autoptr(JsonObject) args = json_object_new();
    g_autofree char *text = NULL;
    JsonObject *a;

    json_object_set_string_member(args, "name", "alice");
    json_object_set_string_member(args, "password", "hunter2-secret");
    json_object_set_string_member(args, "password_hash", "$y$j9T$abc");
    json_object_set_string_member(args, "NT_Hash", "8846f7eaee8fb117ad06bdd830b7586c");
    json_object_set_boolean_member(args, "nla", TRUE);
    json_object_set_object_member(args, "nested", json_object_new());
    assert_int_equal(vg_audit_admin(f->audit, 1000, "admin", "user.add", args, -EEXIST,
                                    "user 'alice' already exists"),
                     0);
    assert_int_equal(vg_audit_event(f->audit, "custom", "user", "bob", "password", "pw-secret",
                                    "secret", "s3", "vm", NULL, "note", "kept", "instance",
                                    "forged", NULL),
                     0);

    assert_true(g_file_get_contents(f->path, &text, NULL, NULL));
    assert_null(strstr(text, "hunter2"));
    assert_null(strstr(text, "pw-secret"));
    assert_null(strstr(text, "$y$"));
    assert_null(strstr(text, "8846f7ea"));
    assert_null(strstr(text, "\"s3\""));
    assert_null(strstr(text, "forged")); /* the instance is the log's own, never a caller's */

    r = read_records(f->path);
    assert_int_equal(r->len, 2);
    a = json_object_get_object_member(record(r, 0), "args");
    assert_string_equal(json_object_get_string_member(a, "name"), "alice");
    assert_true(json_object_get_boolean_member(a, "nla"));
    assert_false(json_object_has_member(a, "nested"));
    assert_int_equal(json_object_get_size(a), 2);
    assert_false(json_object_get_boolean_member(record(r, 0), "ok"));
    assert_string_equal(json_object_get_string_member(record(r, 0), "code"), "EEXIST");
    assert_string_equal(json_object_get_string_member(record(r, 0), "error"),
                        "user 'alice' already exists");
    {
        g_autofree char *names = member_names(record(r, 1));
        assert_string_equal(names, "time,event,instance,user,note");
    }
}

static void test_audit_cleans_hostile_strings(void **state)
{
    fixture *f = *state;
    g_autoptr(GPtrArray) r = NULL;
    g_autofree char *huge = g_strnfill(100000, 'x');
    const char *user;

    assert_int_equal(
        vg_audit_login_failed(f->audit, "bad\xff\xfe\nname\"}", "addr", "vnc", "bad-credentials"),
        0);
    assert_int_equal(vg_audit_login_failed(f->audit, huge, "addr", "vnc", "bad-credentials"), 0);
    r = read_records(f->path);
    assert_int_equal(r->len, 2);
    user = json_object_get_string_member(record(r, 0), "user");
    assert_true(g_utf8_validate(user, -1, NULL));
    assert_true(g_str_has_prefix(user, "bad"));
    assert_non_null(strstr(user, "\nname\"}"));
    assert_int_equal(strlen(json_object_get_string_member(record(r, 1), "user")),
                     VG_AUDIT_FIELD_MAX);
}

static void test_audit_file_is_private_and_appended(void **state)
{
    fixture *f = *state;
    struct stat st;
    vg_audit *again = NULL;
    g_autoptr(GPtrArray) r = NULL;
    int fd;

    assert_int_equal(vg_audit_logout(f->audit, "a", "vm", "vnc", "x", "closed"), 0);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    vg_audit_free(f->audit);
    f->audit = NULL;

    /* A record cut short by a crash is ended so the next one starts a line. */
    fd = open(f->path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "{\"time\":\"cut", 12), 12);
    close(fd);
    assert_int_equal(vg_audit_new(f->path, "gw-test", &again), 0);
    assert_int_equal(vg_audit_logout(again, "b", "vm", "vnc", "x", "closed"), 0);
    f->audit = again;

    {
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        assert_true(g_file_get_contents(f->path, &text, NULL, NULL));
        lines = g_strsplit(text, "\n", -1);
        assert_int_equal(g_strv_length(lines), 4); /* 3 lines and the empty tail */
        assert_string_equal(lines[1], "{\"time\":\"cut");
        assert_true(g_str_has_prefix(lines[2], "{\"time\":"));
        assert_non_null(strstr(lines[2], "\"user\":\"b\""));
    }
    (void)r;
}

static void test_audit_tail_returns_last_lines_in_order(void **state)
{
    fixture *f = *state;
    g_autoptr(GPtrArray) lines = NULL;
    g_autoptr(GPtrArray) none = NULL;
    g_autoptr(GPtrArray) all = NULL;
    g_autofree char *pad = g_strnfill(900, 'p');

    /* Enough bytes that tailing crosses several read chunks. */
    for (int i = 0; i < 300; i++) {
        char user[16];
        g_snprintf(user, sizeof(user), "u%03d", i);
        assert_int_equal(vg_audit_logout(f->audit, user, "vm", "vnc", pad, "closed"), 0);
    }
    assert_int_equal(vg_audit_tail(f->audit, 3, &lines), 0);
    assert_int_equal(lines->len, 3);
    assert_non_null(strstr(g_ptr_array_index(lines, 0), "\"u297\""));
    assert_non_null(strstr(g_ptr_array_index(lines, 2), "\"u299\""));
    assert_int_equal(vg_audit_tail(f->audit, 0, &none), 0);
    assert_int_equal(none->len, 0);
    assert_int_equal(vg_audit_tail(f->audit, 1000, &all), 0);
    assert_int_equal(all->len, 300);
    assert_non_null(strstr(g_ptr_array_index(all, 0), "\"u000\""));
}

typedef struct follower {
    GPtrArray *lines;
} follower;

static void on_line(void *opaque, const char *line)
{
    follower *fl = opaque;
    g_ptr_array_add(fl->lines, g_strdup(line));
}

static void test_audit_follow_listener_gets_new_lines(void **state)
{
    fixture *f = *state;
    follower fl = {.lines = g_ptr_array_new_with_free_func(g_free)};
    g_autoptr(GPtrArray) tail = NULL;
    unsigned handle = 0;

    assert_int_equal(vg_audit_login_ok(f->audit, "old1", "vm", "vnc", "a"), 0);
    assert_int_equal(vg_audit_login_ok(f->audit, "old2", "vm", "vnc", "a"), 0);
    assert_int_equal(vg_audit_follow(f->audit, 1, on_line, &fl, &tail, &handle), 0);
    assert_int_equal(tail->len, 1);
    assert_non_null(strstr(g_ptr_array_index(tail, 0), "old2"));
    assert_int_equal(fl.lines->len, 0);

    assert_int_equal(vg_audit_kick(f->audit, "root", "v1", "bye", 1), 0);
    assert_int_equal(fl.lines->len, 1);
    {
        g_autoptr(JsonNode) n = json_from_string(g_ptr_array_index(fl.lines, 0), NULL);
        assert_non_null(n);
        assert_string_equal(json_object_get_string_member(json_node_get_object(n), "event"),
                            "kick");
        assert_null(strchr(g_ptr_array_index(fl.lines, 0), '\n'));
    }

    vg_audit_unfollow(f->audit, handle);
    assert_int_equal(vg_audit_kick(f->audit, "root", "v2", "bye", 1), 0);
    assert_int_equal(fl.lines->len, 1);
    vg_audit_unfollow(f->audit, 12345); /* unknown: ignored */
    g_ptr_array_unref(fl.lines);
}

static gpointer writer(gpointer data)
{
    vg_audit *a = data;
    g_autofree char *pad = g_strnfill(3000, 'z');

    for (int i = 0; i < 50; i++)
        g_assert_cmpint(vg_audit_logout(a, "user", "vm", "vnc", pad, "closed"), ==, 0);
    return NULL;
}

static void test_audit_keeps_lines_whole_across_threads(void **state)
{
    fixture *f = *state;
    GThread *t[4];
    g_autoptr(GPtrArray) r = NULL;

    for (size_t i = 0; i < G_N_ELEMENTS(t); i++)
        t[i] = g_thread_new("writer", writer, f->audit);
    for (size_t i = 0; i < G_N_ELEMENTS(t); i++)
        g_thread_join(t[i]);
    r = read_records(f->path); /* fails on any interleaved line */
    assert_int_equal(r->len, 200);
}

static void test_audit_refuses_unopenable_path(void **state)
{
    fixture *f = *state;
    vg_audit *a = NULL;

    assert_int_equal(vg_audit_new(f->dir, "gw-test", &a), -EISDIR);
    assert_null(a);
    assert_int_equal(vg_audit_new("", "gw-test", &a), -EINVAL);
    assert_int_equal(vg_audit_new(f->path, "-bad", &a), -EINVAL);
    assert_int_equal(vg_audit_new(f->path, NULL, &a), -EINVAL);
    assert_null(a);
}

/* A write that fails part way (here: the file size limit, as a full disk
 * would) leaves no half record: the next one starts its own line. */
static void test_audit_record_is_whole_or_absent(void **state)
{
    fixture *f = *state;
    struct rlimit old, lim;
    struct stat st;
    g_autoptr(GPtrArray) recs = NULL;

    assert_int_equal(vg_audit_login_ok(f->audit, "alice", "vm1", "vnc", "192.0.2.1"), 0);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)st.st_size + 20; /* room for 20 bytes of the next record */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    assert_true(vg_audit_login_ok(f->audit, "bob", "vm2", "rdp", "192.0.2.2") < 0);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(vg_audit_login_ok(f->audit, "carol", "vm3", "vnc", "192.0.2.3"), 0);

    recs = read_records(f->path); /* fails on a glued or cut line */
    assert_int_equal(recs->len, 2);
    assert_string_equal(json_object_get_string_member(json_node_get_object(recs->pdata[1]), "user"),
                        "carol");
}

/* Failed logins (which anyone can cause) need not each wait for the disk;
 * vg_audit_flush makes them durable, and they are in the file at once. */
static void test_audit_failed_logins_are_written_at_once_and_flushed(void **state)
{
    fixture *f = *state;
    g_autoptr(GPtrArray) recs = NULL;

    for (int i = 0; i < 50; i++)
        assert_int_equal(
            vg_audit_login_failed(f->audit, "mallory", "192.0.2.66", "vnc", "bad-credentials"), 0);
    assert_int_equal(vg_audit_flush(f->audit), 0);
    recs = read_records(f->path);
    assert_int_equal(recs->len, 50);
}

/* After the file was moved away (logrotate), reopen starts a new one there. */
static void test_audit_reopen_follows_rotation(void **state)
{
    fixture *f = *state;
    g_autofree char *old = g_strconcat(f->path, ".1", NULL);
    g_autoptr(GPtrArray) a = NULL, b = NULL;

    assert_int_equal(vg_audit_login_ok(f->audit, "alice", "vm1", "vnc", "192.0.2.1"), 0);
    assert_int_equal(rename(f->path, old), 0);
    assert_int_equal(vg_audit_reopen(f->audit), 0);
    assert_int_equal(vg_audit_login_ok(f->audit, "bob", "vm2", "vnc", "192.0.2.2"), 0);
    a = read_records(old);
    b = read_records(f->path);
    assert_int_equal(a->len, 1);
    assert_int_equal(b->len, 1);
    g_unlink(old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_audit_records_are_json_lines_with_time_event_and_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_never_records_secret_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_cleans_hostile_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_file_is_private_and_appended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_tail_returns_last_lines_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_follow_listener_gets_new_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_keeps_lines_whole_across_threads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_refuses_unopenable_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_record_is_whole_or_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_failed_logins_are_written_at_once_and_flushed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_reopen_follows_rotation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
