/*
 * Unit tests: the admin socket server, driven by the real vmgatectl binary
 * (VMGATECTL_PATH) over a socket in a temporary directory, with a real
 * store and audit log there and a fake live-ops table standing in for the
 * hypervisor. Checks each command in table and --json form, exit codes,
 * that what was reported done is in the store, the peer credential check
 * (vmgatectl run as nobody), and the raw protocol's error paths.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "admin.h"
#include "auth.h"
#include "admin-priv.h"
#include "control-commands.h"
#include "control.h"
#include "log.h"
#include "png-writer.h"
#include "util.h"

#ifndef VMGATECTL_PATH
#error "VMGATECTL_PATH must name the vmgatectl binary"
#endif

#define UUID1 "6f1c3a52-4b7e-4d2a-9f3e-0a1b2c3d4e5f"
#define UUID2 "0e2f3a52-4b7e-4d2a-9f3e-0a1b2c3d4e60"

/* ---- the fake backend ---- */

typedef struct fake {
    GMutex lock;
    vg_sessions *sessions;
    uint8_t *png;
    size_t png_len;
    char *text;
    uint16_t qnums[8];
    int n_qnums;
    char *power;
    int calls;
} fake;

static void add_vm(GArray *a, const char *name, const char *uuid, const char *state,
                   unsigned viewers)
{
    vg_admin_vm vm = {.state = state, .viewers = viewers};

    g_strlcpy(vm.name, name, sizeof(vm.name));
    g_strlcpy(vm.uuid, uuid, sizeof(vm.uuid));
    g_array_append_val(a, vm);
}

static int fake_vm_list(void *opaque, GArray **out)
{
    fake *f = opaque;

    *out = g_array_new(FALSE, TRUE, sizeof(vg_admin_vm));
    add_vm(*out, "vm1", UUID1, "running", vg_sessions_viewer_count(f->sessions, "vm1"));
    add_vm(*out, "vm2", UUID2, "shut-off", 0);
    return 0;
}

/* vm1 runs, vm2 is off, anything else does not exist. */
static int fake_check(const char *vm)
{
    if (strcmp(vm, "vm1") == 0)
        return 0;
    return strcmp(vm, "vm2") == 0 ? -ENODEV : -ENOENT;
}

static int fake_screenshot(void *opaque, const char *vm, uint8_t **png, size_t *len)
{
    fake *f = opaque;
    int r = fake_check(vm);

    if (r < 0)
        return r;
    *png = g_memdup2(f->png, f->png_len);
    *len = f->png_len;
    return 0;
}

static int fake_send_text(void *opaque, const char *vm, const char *text)
{
    fake *f = opaque;
    int r = fake_check(vm);

    if (r < 0)
        return r;
    g_mutex_lock(&f->lock);
    g_free(f->text);
    f->text = g_strdup(text);
    f->calls++;
    g_mutex_unlock(&f->lock);
    return 0;
}

static int fake_send_combo(void *opaque, const char *vm, const uint16_t *qnums, int n)
{
    fake *f = opaque;
    int r = fake_check(vm);

    if (r < 0)
        return r;
    g_mutex_lock(&f->lock);
    memcpy(f->qnums, qnums, sizeof(uint16_t) * (size_t)MIN(n, 8));
    f->n_qnums = n;
    f->calls++;
    g_mutex_unlock(&f->lock);
    return 0;
}

static int fake_power(void *opaque, const char *vm, const char *action)
{
    fake *f = opaque;

    if (strcmp(vm, "vm1") != 0 && strcmp(vm, "vm2") != 0)
        return -ENOENT;
    g_mutex_lock(&f->lock);
    g_free(f->power);
    f->power = g_strdup_printf("%s %s", action, vm);
    f->calls++;
    g_mutex_unlock(&f->lock);
    return 0;
}

static const vg_admin_live_ops fake_ops = {
    .vm_list = fake_vm_list,
    .screenshot = fake_screenshot,
    .send_text = fake_send_text,
    .send_combo = fake_send_combo,
    .power = fake_power,
};

/* ---- fixture ---- */

typedef struct fixture {
    char *dir;
    char *sock;
    char *db;
    char *audit_path;
    vg_store *store;
    vg_audit *audit;
    vg_sessions *sessions;
    vg_admin *admin;
    fake fake;
} fixture;

/* A group that surely does not exist: the socket is then root-only. */
#define NO_GROUP "vg-test-no-such-group"

static int setup(void **state)
{
    fixture *f = g_new0(fixture, 1);
    vg_admin_config cfg = {0};
    uint8_t pixels[4 * 3 * 4];

    vg_log_set_level(VG_LOG_ERROR);
    f->dir = g_dir_make_tmp("vg-admin-XXXXXX", NULL);
    assert_non_null(f->dir);
    /* Unprivileged test peers must reach the socket through it. */
    assert_int_equal(chmod(f->dir, 0755), 0);
    f->sock = g_build_filename(f->dir, "run", "admin.sock", NULL);
    f->db = g_build_filename(f->dir, "vmgate.db", NULL);
    f->audit_path = g_build_filename(f->dir, "audit.log", NULL);
    assert_int_equal(vg_store_open(f->db, &f->store), 0);
    assert_int_equal(vg_audit_new(f->audit_path, "gw-test", &f->audit), 0);
    f->sessions = vg_sessions_new();

    g_mutex_init(&f->fake.lock);
    f->fake.sessions = f->sessions;
    for (size_t i = 0; i < sizeof(pixels); i++)
        pixels[i] = (uint8_t)(i * 7);
    assert_int_equal(vg_png_encode_bgrx(pixels, 4, 3, 16, &f->fake.png, &f->fake.png_len), 0);

    cfg.socket_path = f->sock;
    cfg.group = NO_GROUP;
    cfg.instance = "gw-a";
    assert_int_equal(
        vg_admin_new(&cfg, f->store, f->sessions, f->audit, &fake_ops, &f->fake, &f->admin), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    g_autofree char *rundir = g_path_get_dirname(f->sock);
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};

    vg_admin_free(f->admin);
    vg_sessions_free(f->sessions);
    vg_audit_free(f->audit);
    vg_store_close(f->store);
    for (size_t i = 0; i < G_N_ELEMENTS(suffixes); i++) {
        g_autofree char *p = g_strconcat(f->db, suffixes[i], NULL);
        g_unlink(p);
    }
    g_unlink(f->audit_path);
    g_unlink(f->sock);
    g_rmdir(rundir);
    g_rmdir(f->dir);
    g_free(f->fake.png);
    g_free(f->fake.text);
    g_free(f->fake.power);
    g_mutex_clear(&f->fake.lock);
    g_free(f->sock);
    g_free(f->db);
    g_free(f->audit_path);
    g_free(f->dir);
    g_free(f);
    return 0;
}

/* ---- running vmgatectl ---- */

typedef struct run_result {
    int status; /* exit status, or 128 + signal */
    char *out;
    char *err;
} run_result;

static void run_result_free(run_result *r)
{
    if (!r)
        return;
    g_free(r->out);
    g_free(r->err);
    g_free(r);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(run_result, run_result_free)

static bool is_root(void)
{
    return geteuid() == 0;
}

/*
 * Run vmgatectl --socket @sock with the NULL-terminated arguments after
 * @input (fed to its standard input; NULL for none), as root or, with
 * @as_nobody, as the unprivileged user nobody.
 */
static run_result *run_ctl_v(const char *sock, bool as_nobody, const char *input, va_list ap)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) err = NULL;
    GString *out = g_string_new(NULL), *errs = g_string_new(NULL);
    run_result *res = g_new0(run_result, 1);
    int in_fd, out_fd, err_fd, status;
    GPid pid;
    const char *a;

    if (as_nobody) {
        g_ptr_array_add(argv, (char *)"setpriv");
        g_ptr_array_add(argv, (char *)"--reuid=nobody");
        g_ptr_array_add(argv, (char *)"--regid=nogroup");
        g_ptr_array_add(argv, (char *)"--clear-groups");
    }
    g_ptr_array_add(argv, (char *)VMGATECTL_PATH);
    if (sock) {
        g_ptr_array_add(argv, (char *)"--socket");
        g_ptr_array_add(argv, (char *)sock);
    }
    while ((a = va_arg(ap, const char *)))
        g_ptr_array_add(argv, (char *)a);
    g_ptr_array_add(argv, NULL);

    assert_true(g_spawn_async_with_pipes(NULL, (char **)argv->pdata, NULL,
                                         G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH, NULL,
                                         NULL, &pid, &in_fd, &out_fd, &err_fd, &err));
    if (input) {
        /* A vmgatectl that refuses its arguments exits without reading
         * stdin: the write may then meet a closed pipe. */
        ssize_t w = write(in_fd, input, strlen(input));
        assert_true(w == (ssize_t)strlen(input) || (w < 0 && errno == EPIPE));
    }
    close(in_fd);

    for (int open_fds = 2; open_fds > 0;) {
        struct pollfd p[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
        assert_true(poll(p, 2, 30000) > 0);
        for (int i = 0; i < 2; i++) {
            char buf[4096];
            ssize_t n;
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            n = read(p[i].fd, buf, sizeof(buf));
            if (n <= 0) {
                close(p[i].fd);
                if (i == 0)
                    out_fd = -1;
                else
                    err_fd = -1;
                open_fds--;
                continue;
            }
            g_string_append_len(i == 0 ? out : errs, buf, n);
        }
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    g_spawn_close_pid(pid);
    res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    res->out = g_string_free(out, FALSE);
    res->err = g_string_free(errs, FALSE);
    return res;
}

/* Kicks (on_kick) come on the admin server's thread. */
G_LOCK_DEFINE_STATIC(kicks);

static run_result *ctl(fixture *f, const char *input, ...) G_GNUC_NULL_TERMINATED;
static run_result *ctl(fixture *f, const char *input, ...)
{
    va_list ap;
    run_result *r;

    /* The server's thread does the command (under these locks) after this
     * thread started vmgatectl, and before vmgatectl got its answer and
     * exited; taking the locks on both sides shows that order to
     * ThreadSanitizer, which cannot follow it through another process. */
    g_mutex_lock(&f->fake.lock);
    g_mutex_unlock(&f->fake.lock);
    G_LOCK(kicks);
    G_UNLOCK(kicks);
    va_start(ap, input);
    r = run_ctl_v(f->sock, false, input, ap);
    va_end(ap);
    g_mutex_lock(&f->fake.lock);
    g_mutex_unlock(&f->fake.lock);
    G_LOCK(kicks);
    G_UNLOCK(kicks);
    return r;
}

static run_result *ctl_as_nobody(const char *sock, ...) G_GNUC_NULL_TERMINATED;
static run_result *ctl_as_nobody(const char *sock, ...)
{
    va_list ap;
    run_result *r;

    va_start(ap, sock);
    r = run_ctl_v(sock, true, NULL, ap);
    va_end(ap);
    return r;
}

/* Print what vmgatectl said when an expectation fails. */
static void expect(run_result *r, int status, const char *in_out, const char *in_err)
{
    if (r->status != status || (in_out && !strstr(r->out, in_out)) ||
        (in_err && !strstr(r->err, in_err)))
        print_error("exit %d (expected %d)\nstdout:\n%s\nstderr:\n%s\n", r->status, status, r->out,
                    r->err);
    assert_int_equal(r->status, status);
    if (in_out)
        assert_non_null(strstr(r->out, in_out));
    if (in_err)
        assert_non_null(strstr(r->err, in_err));
    /* Errors are one clear line. */
    if (status != 0 && status != 2)
        assert_non_null(g_str_has_suffix(r->err, "\n") ? r->err : NULL);
}

static JsonNode *parse_json(const char *text)
{
    JsonNode *n = json_from_string(text, NULL);
    assert_non_null(n);
    return n;
}

static void add_user(fixture *f, const char *name, const char *password, bool nla)
{
    g_autofree char *input = g_strdup_printf("%s\n", password);
    g_autoptr(run_result) r =
        ctl(f, input, "user", "add", name, "--password-stdin", nla ? "--nla" : NULL, NULL);
    expect(r, 0, "added", NULL);
}

/* ---- users ---- */

static void test_vmgatectl_user_add_stores_hashes_not_password(void **state)
{
    fixture *f = *state;
    vg_store_user *u = NULL;
    g_autofree char *audit = NULL;

    add_user(f, "alice", "correct horse", false);
    assert_int_equal(vg_store_user_get(f->store, "alice", &u), 0);
    assert_int_equal(vg_auth_verify_password("correct horse", u->password_hash), 0);
    assert_false(u->nla);
    assert_null(u->nt_hash);
    vg_store_user_free(u);

    {
        g_autoptr(run_result) r = ctl(f, "battery staple\n", "--json", "user", "add", "bob",
                                      "--password-stdin", "--nla", NULL);
        g_autoptr(JsonNode) n = NULL;
        expect(r, 0, NULL, NULL);
        n = parse_json(r->out);
        assert_string_equal(json_object_get_string_member(json_node_get_object(n), "name"), "bob");
        assert_true(json_object_get_boolean_member(json_node_get_object(n), "nla"));
    }
    assert_int_equal(vg_store_user_get(f->store, "bob", &u), 0);
    assert_true(u->nla);
    assert_non_null(u->nt_hash);
    vg_store_user_free(u);

    /* Neither the password nor a hash reaches the audit log. */
    assert_true(g_file_get_contents(f->audit_path, &audit, NULL, NULL));
    assert_null(strstr(audit, "correct horse"));
    assert_null(strstr(audit, "battery"));
    assert_null(strstr(audit, "$y$"));
    assert_non_null(strstr(audit, "\"command\":\"user.add\""));
}

static void test_vmgatectl_user_add_errors(void **state)
{
    fixture *f = *state;

    add_user(f, "alice", "pw1", false);
    {
        g_autoptr(run_result) r = ctl(f, "pw2\n", "user", "add", "alice", "--password-stdin", NULL);
        expect(r, 1, NULL, "vmgatectl: user 'alice' already exists\n");
    }
    {
        g_autoptr(run_result) r = ctl(f, "\n", "user", "add", "carol", "--password-stdin", NULL);
        expect(r, 1, NULL, "empty password refused");
    }
    {
        /* Standard input is a pipe, not a terminal: no prompting. */
        g_autoptr(run_result) r = ctl(f, "pw\npw\n", "user", "add", "carol", NULL);
        expect(r, 2, NULL, "--password-stdin");
    }
    {
        g_autoptr(run_result) r =
            ctl(f, "pw\n", "user", "add", "-bad", "--password-stdin", "--", NULL);
        assert_int_equal(r->status, 2); /* "-bad" is taken for an option */
    }
    {
        g_autoptr(run_result) r =
            ctl(f, "pw\n", "user", "add", "--password-stdin", "--", "bad name!", NULL);
        expect(r, 1, NULL, "invalid user name 'bad name!'");
    }
    {
        g_autofree char *huge = g_strnfill(600, 'p');
        g_autofree char *input = g_strdup_printf("%s\n", huge);
        g_autoptr(run_result) r = ctl(f, input, "user", "add", "dave", "--password-stdin", NULL);
        expect(r, 1, NULL, "invalid password");
    }
}

/* Read from @fd into @buf until it holds @what (within 20 s). */
static void wait_for_text(int fd, GString *buf, const char *what)
{
    while (!strstr(buf->str, what)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char chunk[256];
        ssize_t n;

        assert_true(poll(&p, 1, 20000) > 0);
        n = read(fd, chunk, sizeof(chunk));
        assert_true(n > 0);
        g_string_append_len(buf, chunk, n);
    }
}

/*
 * Run "user add @name" on a pseudo-terminal, answering the two prompts
 * with @first and @second. @return the exit status; *echo receives what
 * the terminal showed.
 */
static int add_user_on_tty(fixture *f, const char *name, const char *first, const char *second,
                           char **echo)
{
    const char *argv[] = {VMGATECTL_PATH, "--socket", f->sock, "user", "add", name, NULL};
    g_autoptr(GString) err = g_string_new(NULL);
    g_autoptr(GString) shown = g_string_new(NULL);
    int master, slave, err_fd, status;
    g_autofree char *line1 = g_strdup_printf("%s\n", first);
    g_autofree char *line2 = g_strdup_printf("%s\n", second);
    GPid pid;

    master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    assert_true(slave >= 0);
    assert_true(g_spawn_async_with_pipes_and_fds(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                                 NULL, slave, -1, -1, NULL, NULL, 0, &pid, NULL,
                                                 NULL, &err_fd, NULL));
    close(slave);

    /* Answer each prompt only once it is shown: turning echo off flushes typed-ahead input. */
    wait_for_text(err_fd, err, "New password for");
    assert_int_equal(write(master, line1, strlen(line1)), (ssize_t)strlen(line1));
    wait_for_text(err_fd, err, "Retype");
    assert_int_equal(write(master, line2, strlen(line2)), (ssize_t)strlen(line2));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    g_spawn_close_pid(pid);

    for (;;) {
        struct pollfd p = {.fd = master, .events = POLLIN};
        char chunk[256];
        ssize_t n;
        if (poll(&p, 1, 100) <= 0 || (n = read(master, chunk, sizeof(chunk))) <= 0)
            break;
        g_string_append_len(shown, chunk, n);
    }
    close(master);
    close(err_fd);
    *echo = g_strdup(shown->str);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void test_vmgatectl_user_add_prompts_twice_without_echo(void **state)
{
    fixture *f = *state;
    vg_store_user *u = NULL;
    g_autofree char *echo = NULL, *echo2 = NULL;

    assert_int_equal(add_user_on_tty(f, "alice", "tty-secret-1", "tty-secret-1", &echo), 0);
    assert_null(strstr(echo, "tty-secret"));
    assert_int_equal(vg_store_user_get(f->store, "alice", &u), 0);
    assert_int_equal(vg_auth_verify_password("tty-secret-1", u->password_hash), 0);
    vg_store_user_free(u);

    assert_int_equal(add_user_on_tty(f, "bob", "one", "two", &echo2), 1);
    assert_int_equal(vg_store_user_get(f->store, "bob", &u), -ENOENT);
}

static void test_vmgatectl_user_passwd_list_and_del(void **state)
{
    fixture *f = *state;
    vg_store_user *u = NULL;

    add_user(f, "alice", "old-password", true);
    {
        g_autoptr(run_result) r =
            ctl(f, "new-password\n", "user", "passwd", "alice", "--password-stdin", NULL);
        expect(r, 0, "password of 'alice' changed (NLA enabled)", NULL);
    }
    assert_int_equal(vg_store_user_get(f->store, "alice", &u), 0);
    assert_int_equal(vg_auth_verify_password("new-password", u->password_hash), 0);
    assert_true(u->nla); /* kept */
    vg_store_user_free(u);
    {
        g_autoptr(run_result) r =
            ctl(f, "x\n", "user", "passwd", "nobody-here", "--password-stdin", NULL);
        expect(r, 1, NULL, "unknown user 'nobody-here'");
    }

    add_user(f, "bob", "pw", false);
    assert_int_equal(vg_store_assign(f->store, "bob", "vm1", VG_ROLE_OBSERVER), 0);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "user", "list", NULL);
        expect(r, 0, "NAME", NULL);
        assert_non_null(strstr(r->out, "ASSIGNED VMS"));
        assert_non_null(strstr(r->out, "alice"));
        assert_non_null(strstr(r->out, "vm1 (observer)"));
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "user", "list", "--json", NULL);
        g_autoptr(JsonNode) n = NULL;
        JsonArray *a;
        expect(r, 0, NULL, NULL);
        n = parse_json(r->out);
        a = json_node_get_array(n);
        assert_int_equal(json_array_get_length(a), 2);
        assert_string_equal(
            json_object_get_string_member(json_array_get_object_element(a, 0), "name"), "alice");
        assert_true(json_object_get_boolean_member(json_array_get_object_element(a, 0), "nla"));
        assert_null(strstr(r->out, "hash"));
    }

    {
        g_autoptr(run_result) r = ctl(f, NULL, "user", "del", "bob", NULL);
        expect(r, 0, "user 'bob' deleted", NULL);
    }
    assert_int_equal(vg_store_user_get(f->store, "bob", &u), -ENOENT);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "user", "del", "bob", NULL);
        expect(r, 1, NULL, "vmgatectl: unknown user 'bob'\n");
    }
}

static void test_vmgatectl_user_disable_kicks_sessions(void **state)
{
    fixture *f = *state;
    vg_store_user *u = NULL;
    char v[24];

    add_user(f, "alice", "pw", false);
    assert_int_equal(vg_sessions_join(f->sessions, "vm1", "alice", "vnc", VG_ROLE_OWNER,
                                      "192.0.2.1", NULL, NULL, v),
                     0);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "user", "disable", "alice", NULL);
        expect(r, 0, "user 'alice' disabled; 1 viewer disconnected", NULL);
    }
    assert_int_equal(vg_store_user_get(f->store, "alice", &u), 0);
    assert_true(u->disabled);
    vg_store_user_free(u);
    assert_int_equal(vg_sessions_viewer_count(f->sessions, "vm1"), 0);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "user", "enable", "alice", NULL);
        expect(r, 0, "user 'alice' enabled", NULL);
    }
    assert_int_equal(vg_store_user_get(f->store, "alice", &u), 0);
    assert_false(u->disabled);
    vg_store_user_free(u);
}

/* ---- instances ---- */

static void register_instance(fixture *f, const char *name, const char *address, unsigned web)
{
    vg_store_instance_info info = {name, address, 5900, 3389, web};
    assert_int_equal(vg_store_instance_register(f->store, &info), 0);
}

/* session list shows this instance's viewers and the other instances' from the store; kick
 * takes INSTANCE/ID, refused with a reason for what cannot be reached (SQLite: no bus). */
static void test_vmgatectl_sessions_of_other_instances_and_their_kicks(void **state)
{
    fixture *f = *state;
    g_autoptr(GPtrArray) theirs = g_ptr_array_new();
    vg_store_viewer bob = {.id = (char *)"v1",
                           .session = (char *)"s1",
                           .vm = (char *)"vm3",
                           .user = (char *)"bob",
                           .protocol = (char *)"rdp",
                           .address = (char *)"192.0.2.9",
                           .role = VG_ROLE_OBSERVER,
                           .since = 1700000000};
    char id[24];

    register_instance(f, "gw-a", "127.0.0.11", 8443);
    register_instance(f, "gw-b", "127.0.0.12", 0);
    assert_int_equal(vg_sessions_join(f->sessions, "vm1", "alice", "vnc", VG_ROLE_OWNER,
                                      "192.0.2.1", NULL, NULL, id),
                     0);
    g_ptr_array_add(theirs, &bob);
    assert_int_equal(vg_store_viewer_replace(f->store, "gw-b", theirs), 0);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "session", "list", NULL);
        g_auto(GStrv) lines = NULL;
        expect(r, 0, NULL, NULL);
        lines = g_strsplit(r->out, "\n", -1);
        assert_non_null(strstr(lines[0], "INSTANCE"));
        assert_non_null(strstr(lines[1], "alice"));
        assert_true(g_str_has_suffix(lines[1], "gw-a"));
        assert_non_null(strstr(lines[2], "bob"));
        assert_non_null(strstr(lines[2], "observer"));
        assert_true(g_str_has_suffix(lines[2], "gw-b"));
        assert_string_equal(lines[3], "");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "--json", "session", "list", NULL);
        g_autoptr(JsonNode) n = NULL;
        JsonObject *o, *v;
        expect(r, 0, NULL, NULL);
        n = parse_json(r->out);
        assert_int_equal(json_array_get_length(json_node_get_array(n)), 2);
        o = json_array_get_object_element(json_node_get_array(n), 1);
        assert_string_equal(json_object_get_string_member(o, "instance"), "gw-b");
        assert_string_equal(json_object_get_string_member(o, "id"), "s1");
        assert_string_equal(json_object_get_string_member(o, "vm"), "vm3");
        v = json_array_get_object_element(json_object_get_array_member(o, "viewers"), 0);
        assert_string_equal(json_object_get_string_member(v, "id"), "v1");
        assert_string_equal(json_object_get_string_member(v, "user"), "bob");
        assert_int_equal(json_object_get_int_member(v, "since"), 1700000000);
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "session", "kick", "gw-b/v9", NULL);
        expect(r, 1, NULL, "unknown session or viewer 'gw-b/v9'");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "session", "kick", "gw-x/v1", NULL);
        expect(r, 1, NULL, "unknown instance 'gw-x'");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "session", "kick", "gw-b/v1", NULL);
        expect(r, 1, NULL, "no event bus");
    }
    {
        /* This instance's own, named with its instance: a local kick. */
        g_autoptr(run_result) r = ctl(f, NULL, "session", "kick", "gw-a/v1", NULL);
        expect(r, 0, "kicked gw-a/v1: 1 viewer disconnected", NULL);
    }
    assert_int_equal(vg_sessions_viewer_count(f->sessions, "vm1"), 0);
    /* gw-b stopped, with rows left as a killed instance would leave them: its viewers are not
     * listed, and cannot be kicked. */
    assert_int_equal(vg_store_instance_stop(f->store, "gw-b"), 0);
    assert_int_equal(vg_store_viewer_replace(f->store, "gw-b", theirs), 0);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "session", "list", NULL);
        expect(r, 0, "no sessions\n(not listed: the viewers of gw-b (stopped))\n", NULL);
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "session", "kick", "gw-b/v1", NULL);
        expect(r, 1, NULL, "instance 'gw-b' is stopped: its viewers are not live");
    }
}

static void test_vmgatectl_instance_list_and_vms_of_other_instances(void **state)
{
    fixture *f = *state;
    g_autoptr(GPtrArray) mine = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) theirs = g_ptr_array_new_with_free_func(g_free);
    vg_store_placement p1 = {.vm = (char *)"vm1", .state = (char *)"running"};
    vg_store_placement p3 = {.vm = (char *)"vm3", .state = (char *)"running"};

    {
        g_autoptr(run_result) r = ctl(f, NULL, "instance", "list", NULL);
        expect(r, 0, "no instances", NULL);
    }
    register_instance(f, "gw-a", "127.0.0.11", 8443);
    register_instance(f, "gw-b", "127.0.0.12", 0);
    g_ptr_array_set_free_func(mine, NULL);
    g_ptr_array_set_free_func(theirs, NULL);
    g_ptr_array_add(mine, &p1);
    g_ptr_array_add(theirs, &p3);
    assert_int_equal(vg_store_placement_replace(f->store, "gw-a", mine), 0);
    assert_int_equal(vg_store_placement_replace(f->store, "gw-b", theirs), 0);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "instance", "list", NULL);
        g_auto(GStrv) lines = NULL;
        expect(r, 0, NULL, NULL);
        lines = g_strsplit(r->out, "\n", -1);
        assert_true(g_str_has_prefix(lines[0], "NAME"));
        assert_non_null(strstr(lines[0], "HEARTBEAT"));
        assert_true(g_str_has_prefix(lines[1], "gw-a *"));
        assert_non_null(strstr(lines[1], "127.0.0.11"));
        assert_non_null(strstr(lines[1], "8443"));
        assert_non_null(strstr(lines[1], " up "));
        assert_true(g_str_has_prefix(lines[2], "gw-b "));
        assert_non_null(strstr(lines[2], " - ")); /* no web port */
        assert_non_null(strstr(lines[2], " up "));
    }
    {
        /* vm1 once (this instance's, from libvirt), vm3 from gw-b's placements. */
        g_autoptr(run_result) r = ctl(f, NULL, "vm", "list", NULL);
        g_auto(GStrv) lines = NULL;
        expect(r, 0, NULL, NULL);
        lines = g_strsplit(r->out, "\n", -1);
        assert_non_null(strstr(lines[0], "INSTANCE"));
        assert_non_null(strstr(lines[1], "vm1"));
        assert_true(g_str_has_suffix(lines[1], "gw-a"));
        assert_non_null(strstr(lines[2], "vm2"));
        assert_non_null(strstr(lines[3], "vm3"));
        assert_non_null(strstr(lines[3], "running"));
        assert_true(g_str_has_suffix(lines[3], "gw-b"));
        assert_string_equal(lines[4], "");
    }
    /* gw-b goes: its VM is unreachable, not shut off. */
    assert_int_equal(vg_store_instance_stop(f->store, "gw-b"), 0);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "--json", "vm", "list", NULL);
        g_autoptr(JsonNode) n = NULL;
        JsonArray *a;
        JsonObject *o;
        expect(r, 0, NULL, NULL);
        n = parse_json(r->out);
        a = json_node_get_array(n);
        assert_int_equal(json_array_get_length(a), 3);
        o = json_array_get_object_element(a, 0);
        assert_string_equal(json_object_get_string_member(o, "instance"), "gw-a");
        o = json_array_get_object_element(a, 2);
        assert_string_equal(json_object_get_string_member(o, "name"), "vm3");
        assert_string_equal(json_object_get_string_member(o, "state"), "unreachable");
        assert_string_equal(json_object_get_string_member(o, "instance"), "gw-b");
        assert_true(json_node_is_null(json_object_get_member(o, "viewers")));
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "--json", "instance", "list", NULL);
        g_autoptr(JsonNode) n = NULL;
        JsonObject *o;
        expect(r, 0, NULL, NULL);
        n = parse_json(r->out);
        o = json_array_get_object_element(json_node_get_array(n), 0);
        assert_string_equal(json_object_get_string_member(o, "name"), "gw-a");
        assert_string_equal(json_object_get_string_member(o, "status"), "up");
        assert_true(json_object_get_boolean_member(o, "self"));
        assert_int_equal(json_object_get_int_member(o, "vnc_port"), 5900);
        assert_int_equal(json_object_get_int_member(o, "vms"), 1);
        assert_true(json_object_get_int_member(o, "heartbeat_age_ms") >= 0);
        o = json_array_get_object_element(json_node_get_array(n), 1);
        assert_string_equal(json_object_get_string_member(o, "status"), "stopped");
        assert_false(json_object_get_boolean_member(o, "self"));
        assert_int_equal(json_object_get_int_member(o, "web_port"), 0);
    }
}

/* ---- VMs ---- */

static void test_vmgatectl_vm_list_shows_name_uuid_state_viewers(void **state)
{
    fixture *f = *state;
    char v[24];

    assert_int_equal(
        vg_sessions_join(f->sessions, "vm1", "alice", "rdp", VG_ROLE_OWNER, "a", NULL, NULL, v), 0);
    assert_int_equal(vg_store_pool_create(f->store, "lab", VG_IDLE_NONE, 0, false), 0);
    assert_int_equal(vg_store_pool_add_vm(f->store, "lab", "vm2"), 0);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "vm", "list", NULL);
        g_auto(GStrv) lines = NULL;
        expect(r, 0, NULL, NULL);
        lines = g_strsplit(r->out, "\n", -1);
        assert_true(g_str_has_prefix(lines[0], "NAME"));
        assert_non_null(strstr(lines[0], "UUID"));
        assert_non_null(strstr(lines[0], "STATE"));
        assert_non_null(strstr(lines[0], "VIEWERS"));
        assert_non_null(strstr(lines[1], "vm1"));
        assert_non_null(strstr(lines[1], UUID1));
        assert_non_null(strstr(lines[1], "running"));
        assert_non_null(strstr(lines[1], " 1 "));
        assert_non_null(strstr(lines[2], "shut-off"));
        assert_non_null(strstr(lines[2], "lab"));
        /* Columns line up: UUIDs start at the same offset. */
        assert_int_equal(strstr(lines[1], UUID1) - lines[1], strstr(lines[2], UUID2) - lines[2]);
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "--json", "vm", "list", NULL);
        g_autoptr(JsonNode) n = NULL;
        JsonObject *o;
        expect(r, 0, NULL, NULL);
        n = parse_json(r->out);
        o = json_array_get_object_element(json_node_get_array(n), 0);
        assert_string_equal(json_object_get_string_member(o, "name"), "vm1");
        assert_string_equal(json_object_get_string_member(o, "uuid"), UUID1);
        assert_string_equal(json_object_get_string_member(o, "state"), "running");
        assert_int_equal(json_object_get_int_member(o, "viewers"), 1);
    }
}

static void test_vmgatectl_vm_power_reaches_backend(void **state)
{
    fixture *f = *state;

    {
        g_autoptr(run_result) r = ctl(f, NULL, "vm", "start", "vm2", NULL);
        expect(r, 0, "VM 'vm2': start done", NULL);
    }
    assert_string_equal(f->fake.power, "start vm2");
    {
        g_autoptr(run_result) r = ctl(f, NULL, "vm", "destroy", "vm9", NULL);
        expect(r, 1, NULL, "unknown VM 'vm9'");
    }
}

/* ---- assignments ---- */

static void test_vmgatectl_assign_and_unassign_reach_store(void **state)
{
    fixture *f = *state;
    g_autoptr(GPtrArray) list = NULL;
    g_autofree char *audit = NULL;

    add_user(f, "alice", "pw", false);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "assign", "alice", "vm1", NULL);
        expect(r, 0, "assigned VM 'vm1' to 'alice' as owner", NULL);
    }
    assert_int_equal(vg_store_assignments_for_user(f->store, "alice", &list), 0);
    assert_int_equal(list->len, 1);
    assert_int_equal(((vg_store_assignment *)g_ptr_array_index(list, 0))->role, VG_ROLE_OWNER);
    g_clear_pointer(&list, g_ptr_array_unref);
    {
        g_autoptr(run_result) r =
            ctl(f, NULL, "--json", "assign", "alice", "vm1", "--role", "observer", NULL);
        g_autoptr(JsonNode) n = NULL;
        expect(r, 0, NULL, NULL);
        n = parse_json(r->out);
        assert_string_equal(json_object_get_string_member(json_node_get_object(n), "role"),
                            "observer");
        assert_string_equal(json_object_get_string_member(json_node_get_object(n), "previous_role"),
                            "owner");
    }
    assert_int_equal(vg_store_assignments_for_user(f->store, "alice", &list), 0);
    assert_int_equal(((vg_store_assignment *)g_ptr_array_index(list, 0))->role, VG_ROLE_OBSERVER);
    g_clear_pointer(&list, g_ptr_array_unref);
    assert_true(g_file_get_contents(f->audit_path, &audit, NULL, NULL));
    assert_non_null(strstr(audit, "\"event\":\"assign\""));
    assert_non_null(strstr(audit, "\"event\":\"role_change\""));

    {
        g_autoptr(run_result) r = ctl(f, NULL, "assign", "zed", "vm1", NULL);
        expect(r, 1, NULL, "unknown user 'zed'");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "assign", "alice", "vm9", NULL);
        expect(r, 1, NULL, "unknown VM 'vm9'");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "assign", "alice", "vm1", "--role", "boss", NULL);
        expect(r, 2, NULL, "invalid role 'boss'");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "unassign", "alice", "vm1", NULL);
        expect(r, 0, "unassigned VM 'vm1' from 'alice'", NULL);
    }
    assert_int_equal(vg_store_assignments_for_user(f->store, "alice", &list), 0);
    assert_int_equal(list->len, 0);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "unassign", "alice", "vm1", NULL);
        expect(r, 1, NULL, "'alice' is not assigned to VM 'vm1'");
    }
}

/* ---- pools ---- */

static void test_vmgatectl_pools_reach_store(void **state)
{
    fixture *f = *state;
    vg_store_pool *p = NULL;
    g_autoptr(GPtrArray) pools = NULL;

    add_user(f, "alice", "pw", false);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "pool", "create", "lab", "--idle-action", "shutdown",
                                      "--idle-minutes", "15", "--assign-on-first-login", NULL);
        expect(r, 0, "pool 'lab' created (idle action: shutdown after 15 min; assign on first",
               NULL);
    }
    assert_int_equal(vg_store_pool_get(f->store, "lab", &p), 0);
    assert_int_equal(p->idle_action, VG_IDLE_SHUTDOWN);
    assert_int_equal(p->idle_minutes, 15);
    assert_true(p->assign_on_first_login);
    vg_store_pool_free(p);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "pool", "create", "lab", NULL);
        expect(r, 1, NULL, "pool 'lab' already exists");
    }
    {
        g_autoptr(run_result) r =
            ctl(f, NULL, "pool", "create", "x", "--idle-action", "explode", NULL);
        expect(r, 2, NULL, "invalid idle action");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "pool", "add", "lab", "vm1", NULL);
        expect(r, 0, "VM 'vm1' added to pool 'lab'", NULL);
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "pool", "add", "lab", "vm1", NULL);
        expect(r, 1, NULL, "VM 'vm1' is already in pool 'lab'");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "pool", "add", "nopool", "vm2", NULL);
        expect(r, 1, NULL, "unknown pool 'nopool'");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "pool", "add", "lab", "vm9", NULL);
        expect(r, 1, NULL, "unknown VM 'vm9'");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "entitle", "alice", "lab", NULL);
        expect(r, 0, "'alice' may use pool 'lab'", NULL);
    }
    {
        g_autoptr(GPtrArray) e = NULL;
        assert_int_equal(vg_store_entitlements_for_user(f->store, "alice", &e), 0);
        assert_int_equal(e->len, 1);
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "entitle", "alice", "lab", NULL);
        expect(r, 1, NULL, "already entitled");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "entitle", "zed", "lab", NULL);
        expect(r, 1, NULL, "unknown user 'zed'");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "pool", "list", NULL);
        expect(r, 0, "POOL", NULL);
        assert_non_null(strstr(r->out, "shutdown after 15 min"));
        assert_non_null(strstr(r->out, "vm1"));
        assert_non_null(strstr(r->out, "alice"));
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "pool", "list", "--json", NULL);
        g_autoptr(JsonNode) n = NULL;
        JsonObject *o;
        expect(r, 0, NULL, NULL);
        n = parse_json(r->out);
        o = json_array_get_object_element(json_node_get_array(n), 0);
        assert_string_equal(json_object_get_string_member(o, "name"), "lab");
        assert_int_equal(json_array_get_length(json_object_get_array_member(o, "members")), 1);
        assert_string_equal(
            json_array_get_string_element(json_object_get_array_member(o, "users"), 0), "alice");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "pool", "remove", "lab", "vm1", NULL);
        expect(r, 0, "VM 'vm1' removed from pool 'lab'", NULL);
    }
    assert_int_equal(vg_store_pool_get(f->store, "lab", &p), 0);
    assert_int_equal(p->members->len, 0);
    vg_store_pool_free(p);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "pool", "remove", "lab", "vm1", NULL);
        expect(r, 1, NULL, "VM 'vm1' is not in pool 'lab'");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "pool", "del", "lab", NULL);
        expect(r, 0, "pool 'lab' deleted", NULL);
    }
    assert_int_equal(vg_store_pool_list(f->store, &pools), 0);
    assert_int_equal(pools->len, 0);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "pool", "del", "lab", NULL);
        expect(r, 1, NULL, "unknown pool 'lab'");
    }
}

/* ---- sessions ---- */

typedef struct kicked {
    int calls;
    char reason[300];
} kicked;

static void on_kick(void *opaque, const char *reason)
{
    kicked *k = opaque;
    G_LOCK(kicks);
    k->calls++;
    g_strlcpy(k->reason, reason, sizeof(k->reason));
    G_UNLOCK(kicks);
}

static const vg_viewer_ops kick_ops = {.kick = on_kick};

static void test_vmgatectl_session_list_and_kick(void **state)
{
    fixture *f = *state;
    kicked a = {0}, b = {0};
    char v1[24], v2[24];
    g_autofree char *sid = NULL;
    g_autofree char *audit = NULL;

    assert_int_equal(vg_sessions_join(f->sessions, "vm1", "alice", "rdp", VG_ROLE_OWNER,
                                      "192.0.2.10", &kick_ops, &a, v1),
                     0);
    assert_int_equal(vg_sessions_join(f->sessions, "vm1", "bob", "vnc", VG_ROLE_OBSERVER,
                                      "192.0.2.11", &kick_ops, &b, v2),
                     0);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "session", "list", NULL);
        expect(r, 0, "SESSION", NULL);
        assert_non_null(strstr(r->out, "VIEWER"));
        assert_non_null(strstr(r->out, "192.0.2.10"));
        assert_non_null(strstr(r->out, "observer"));
        assert_non_null(strstr(r->out, v2));
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "session", "list", "--json", NULL);
        g_autoptr(JsonNode) n = NULL;
        JsonObject *s;
        expect(r, 0, NULL, NULL);
        n = parse_json(r->out);
        s = json_array_get_object_element(json_node_get_array(n), 0);
        sid = g_strdup(json_object_get_string_member(s, "id"));
        assert_string_equal(json_object_get_string_member(s, "vm"), "vm1");
        assert_int_equal(json_array_get_length(json_object_get_array_member(s, "viewers")), 2);
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "session", "kick", v2, NULL);
        expect(r, 0, "1 viewer disconnected", NULL);
    }
    assert_int_equal(b.calls, 1);
    assert_int_equal(a.calls, 0);
    {
        g_autoptr(run_result) r =
            ctl(f, NULL, "session", "kick", sid, "--reason", "VM maintenance at 18:00", NULL);
        expect(r, 0, "kicked", NULL);
    }
    assert_int_equal(a.calls, 1);
    assert_string_equal(a.reason, "VM maintenance at 18:00");
    {
        g_autoptr(run_result) r = ctl(f, NULL, "session", "kick", sid, NULL);
        expect(r, 1, NULL, "unknown session or viewer");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "session", "list", NULL);
        expect(r, 0, "no sessions", NULL);
    }
    assert_true(g_file_get_contents(f->audit_path, &audit, NULL, NULL));
    assert_non_null(strstr(audit, "\"event\":\"kick\""));
    assert_non_null(strstr(audit, "VM maintenance at 18:00"));
}

/* ---- screenshots and keys ---- */

static void test_vmgatectl_screenshot_writes_png(void **state)
{
    fixture *f = *state;
    g_autofree char *out = g_build_filename(f->dir, "shot.png", NULL);
    g_autofree char *data = NULL;
    gsize len = 0;

    {
        g_autoptr(run_result) r = ctl(f, NULL, "screenshot", "vm1", "--output", out, NULL);
        expect(r, 0, "(4x3,", NULL);
    }
    assert_true(g_file_get_contents(out, &data, &len, NULL));
    assert_int_equal(len, f->fake.png_len);
    assert_memory_equal(data, f->fake.png, len);
    g_unlink(out);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "--json", "screenshot", "vm1", "-o", out, NULL);
        g_autoptr(JsonNode) n = NULL;
        expect(r, 0, NULL, NULL);
        n = parse_json(r->out);
        assert_int_equal(json_object_get_int_member(json_node_get_object(n), "size"),
                         (int64_t)f->fake.png_len);
    }
    g_unlink(out);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "screenshot", "vm2", "--output", out, NULL);
        expect(r, 1, NULL, "VM 'vm2' is not running or has no console");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "screenshot", "vm9", "--output", out, NULL);
        expect(r, 1, NULL, "unknown VM 'vm9'");
    }
    assert_false(g_file_test(out, G_FILE_TEST_EXISTS));
    {
        g_autoptr(run_result) r = ctl(f, NULL, "screenshot", "vm1", NULL);
        expect(r, 2, NULL, "--output");
    }
    {
        g_autofree char *bad = g_build_filename(f->dir, "missing-dir", "shot.png", NULL);
        g_autoptr(run_result) r = ctl(f, NULL, "screenshot", "vm1", "--output", bad, NULL);
        expect(r, 1, NULL, "cannot write");
    }
}

static void test_vmgatectl_send_keys_types_text_and_combos(void **state)
{
    fixture *f = *state;

    {
        g_autoptr(run_result) r = ctl(f, NULL, "send-keys", "vm1", "root\\n\\tA\\\\b", NULL);
        expect(r, 0, "typed 9 characters into VM 'vm1'", NULL);
    }
    assert_string_equal(f->fake.text, "root\n\tA\\b");
    {
        g_autoptr(run_result) r = ctl(f, NULL, "send-keys", "vm1", "--combo", "ctrl-alt-del", NULL);
        expect(r, 0, "sent ctrl-alt-del to VM 'vm1'", NULL);
    }
    assert_int_equal(f->fake.n_qnums, 3);
    assert_int_equal(f->fake.qnums[0], 0x1d);
    assert_int_equal(f->fake.qnums[1], 0x38);
    assert_int_equal(f->fake.qnums[2], 0xd3);

    f->fake.calls = 0;
    {
        g_autoptr(run_result) r = ctl(f, NULL, "send-keys", "vm1", "--combo", "ctrl-nokey", NULL);
        expect(r, 2, NULL, "invalid key combination");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "send-keys", "vm1", "caf\xc3\xa9", NULL);
        expect(r, 2, NULL, "U+00E9");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "send-keys", "vm1", "bad \\q escape", NULL);
        expect(r, 2, NULL, "unknown escape");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "send-keys", "vm1", NULL);
        expect(r, 2, NULL, "TEXT or --combo");
    }
    assert_int_equal(f->fake.calls, 0); /* refused before reaching the daemon */
    {
        g_autoptr(run_result) r = ctl(f, NULL, "send-keys", "vm2", "x", NULL);
        expect(r, 1, NULL, "VM 'vm2' is not running");
    }
    {
        g_autofree char *audit = NULL;
        assert_true(g_file_get_contents(f->audit_path, &audit, NULL, NULL));
        assert_null(strstr(audit, "root\\n")); /* typed text is not recorded */
        assert_non_null(strstr(audit, "\"characters\":9"));
    }
}

/* ---- the audit log ---- */

/* Read one line from @fd within 20 s. */
static char *read_line_from(int fd, GString *buf)
{
    for (;;) {
        char *nl = memchr(buf->str, '\n', buf->len);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char chunk[4096];
        ssize_t n;

        if (nl) {
            char *line = g_strndup(buf->str, (gsize)(nl - buf->str));
            g_string_erase(buf, 0, nl - buf->str + 1);
            return line;
        }
        assert_true(poll(&p, 1, 20000) > 0);
        n = read(fd, chunk, sizeof(chunk));
        assert_true(n > 0);
        g_string_append_len(buf, chunk, n);
    }
}

static void test_vmgatectl_audit_prints_and_follows(void **state)
{
    fixture *f = *state;
    const char *argv[] = {VMGATECTL_PATH, "--socket", f->sock, "--json", "audit",
                          "--follow",     "--lines",  "0",     NULL};
    g_autoptr(GString) buf = g_string_new(NULL);
    int out_fd, status;
    GPid pid;

    assert_int_equal(
        vg_audit_login_failed(f->audit, "mallory", "198.51.100.9", "rdp", "bad-credentials"), 0);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "audit", "--lines", "5", NULL);
        expect(r, 0, "login_failed", NULL);
        assert_non_null(strstr(r->out, "user=mallory"));
        assert_non_null(strstr(r->out, "address=198.51.100.9"));
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "--json", "audit", "--lines", "1", NULL);
        g_autoptr(JsonNode) n = NULL;
        expect(r, 0, NULL, NULL);
        n = parse_json(r->out);
        assert_int_equal(json_array_get_length(json_node_get_array(n)), 1);
    }

    assert_true(g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                         NULL, &pid, NULL, &out_fd, NULL, NULL));
    {
        /* Its own command is the first new record: the stream is live from then on. */
        g_autofree char *first = read_line_from(out_fd, buf);
        g_autoptr(JsonNode) n = parse_json(first);
        assert_string_equal(json_object_get_string_member(json_node_get_object(n), "command"),
                            "audit");
    }
    assert_int_equal(vg_audit_kick(f->audit, "root", "s42", "follow me", 1), 0);
    {
        g_autofree char *line = read_line_from(out_fd, buf);
        g_autoptr(JsonNode) n = parse_json(line);
        assert_string_equal(json_object_get_string_member(json_node_get_object(n), "event"),
                            "kick");
        assert_string_equal(json_object_get_string_member(json_node_get_object(n), "id"), "s42");
    }
    kill(pid, SIGTERM);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    g_spawn_close_pid(pid);
    close(out_fd);
}

/* ---- reaching the daemon ---- */

static void test_vmgatectl_reports_daemon_not_running(void **state)
{
    fixture *f = *state;
    g_autofree char *missing = g_build_filename(f->dir, "nothing.sock", NULL);
    g_autofree char *stale = g_build_filename(f->dir, "stale.sock", NULL);
    g_autofree char *expected =
        g_strdup_printf("vmgatectl: vmgated is not running (no socket at %s)\n", missing);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    {
        g_autoptr(run_result) r = ctl(f, NULL, "--socket", missing, "user", "list", NULL);
        expect(r, 3, NULL, expected);
    }
    {
        /* Said before asking for a password that could not be used. */
        g_autoptr(run_result) r = ctl(f, NULL, "--socket", missing, "user", "add", "alice", NULL);
        expect(r, 3, NULL, expected);
    }
    /* A socket file nobody listens on. */
    g_strlcpy(sa.sun_path, stale, sizeof(sa.sun_path));
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    {
        g_autoptr(run_result) r = ctl(f, NULL, "--socket", stale, "vm", "list", NULL);
        expect(r, 3, NULL, "vmgated is not running");
    }
    g_unlink(stale);
}

static void test_vmgatectl_usage_errors_exit_2_with_hint(void **state)
{
    fixture *f = *state;

    {
        g_autoptr(run_result) r = ctl(f, NULL, NULL);
        expect(r, 2, NULL, "no command given");
        assert_non_null(strstr(r->err, "Try 'vmgatectl --help'"));
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "frobnicate", NULL);
        expect(r, 2, NULL, "unknown command 'frobnicate'");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "user", "frob", NULL);
        expect(r, 2, NULL, "Try 'vmgatectl user --help'");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "assign", "alice", NULL);
        expect(r, 2, NULL, "Try 'vmgatectl assign --help'");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "user", "list", "extra", NULL);
        expect(r, 2, NULL, "unexpected argument 'extra'");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "session", "kick", "s1", "--bogus", NULL);
        expect(r, 2, NULL, "Try 'vmgatectl session kick --help'");
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "--help", NULL);
        expect(r, 0, "Exit status:", NULL);
        assert_non_null(strstr(r->out, "send-keys VM TEXT"));
        assert_non_null(strstr(r->out, "4  permission denied"));
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "screenshot", "--help", NULL);
        expect(r, 0, "--output", NULL);
    }
    {
        g_autoptr(run_result) r = ctl(f, NULL, "pool", "--help", NULL);
        expect(r, 0, "pool create", NULL);
    }
}

/* vmgatectl takes its commands from the table: each has a body, a usage line and help. */
static void test_vmgatectl_knows_every_command_of_the_table(void **state)
{
    fixture *f = *state;

    for (size_t i = 0; i < vg_control_n_commands; i++) {
        for (const vg_control_cli *cli = vg_control_commands[i].cli; cli->words; cli++) {
            g_auto(GStrv) words = g_strsplit(cli->words, " ", 2);
            g_autoptr(run_result) r = words[1] ? ctl(f, NULL, words[0], words[1], "--help", NULL)
                                               : ctl(f, NULL, words[0], "--help", NULL);
            g_autofree char *usage = g_strdup_printf("vmgatectl %s", cli->words);
            expect(r, 0, usage, NULL);
            assert_non_null(strstr(r->out, cli->summary));
        }
    }
}

/* ---- who may use the socket ---- */

static void test_admin_socket_is_root_only_without_group(void **state)
{
    fixture *f = *state;
    struct stat st;

    g_autofree char *dir = g_path_get_dirname(f->sock);
    assert_int_equal(stat(f->sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(dir, &st), 0); /* created by the server */
    assert_int_equal(st.st_mode & 0777, 0755);
}

static void test_vmgatectl_as_unprivileged_user_is_denied(void **state)
{
    fixture *f = *state;
    g_autofree char *audit = NULL;

    if (!is_root()) {
        skip();
        return;
    }
    {
        /* The file's mode already keeps nobody out. */
        g_autoptr(run_result) r = ctl_as_nobody(f->sock, "user", "list", NULL);
        expect(r, 4, NULL, "permission denied");
    }
    /* A socket opened too widely: the daemon's own credential check refuses. */
    assert_int_equal(chmod(f->sock, 0666), 0);
    {
        g_autoptr(run_result) r = ctl_as_nobody(f->sock, "user", "list", NULL);
        expect(r, 4, NULL, "vmgatectl: permission denied\n");
    }
    {
        g_autoptr(run_result) r = ctl_as_nobody(f->sock, "pool", "create", "sneaky", NULL);
        expect(r, 4, NULL, "permission denied");
    }
    {
        vg_store_pool *p = NULL;
        assert_int_equal(vg_store_pool_get(f->store, "sneaky", &p), -ENOENT);
    }
    assert_true(g_file_get_contents(f->audit_path, &audit, NULL, NULL));
    assert_non_null(strstr(audit, "\"uid\":65534"));
    assert_non_null(strstr(audit, "\"command\":\"connect\""));
    {
        /* Root is allowed. */
        g_autoptr(run_result) r = ctl(f, NULL, "user", "list", NULL);
        expect(r, 0, "no users", NULL);
    }
}

static void test_admin_group_member_is_allowed(void **state)
{
    fixture *f = *state;
    g_autofree char *sock = g_build_filename(f->dir, "group.sock", NULL);
    vg_admin_config cfg = {.socket_path = sock, .group = "nogroup"};
    vg_admin *admin = NULL;
    struct stat st;

    if (!is_root()) {
        skip();
        return;
    }
    assert_int_equal(
        vg_admin_new(&cfg, f->store, f->sessions, f->audit, &fake_ops, &f->fake, &admin), 0);
    assert_int_equal(stat(sock, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);
    assert_int_equal(st.st_gid, 65534);
    {
        /* nobody's primary group is nogroup. */
        g_autoptr(run_result) r = ctl_as_nobody(sock, "vm", "list", NULL);
        expect(r, 0, "vm1", NULL);
    }
    vg_admin_free(admin);
    assert_false(g_file_test(sock, G_FILE_TEST_EXISTS)); /* removed on the way out */
}

/* A member of the read-only group may look (lists, screenshots, the audit
 * log) and nothing else; the refusal says why and is audited. */
static void test_readonly_group_member_may_only_look(void **state)
{
    fixture *f = *state;
    g_autofree char *sock = g_build_filename(f->dir, "ro.sock", NULL);
    g_autofree char *audit = NULL;
    vg_admin_config cfg = {.socket_path = sock, .group = NO_GROUP, .readonly_group = "nogroup"};
    vg_admin *admin = NULL;
    struct stat st;

    if (!is_root()) {
        skip();
        return;
    }
    assert_int_equal(
        vg_admin_new(&cfg, f->store, f->sessions, f->audit, &fake_ops, &f->fake, &admin), 0);
    assert_int_equal(stat(sock, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0666);
    {
        g_autoptr(run_result) r = ctl_as_nobody(sock, "vm", "list", NULL);
        expect(r, 0, "vm1", NULL);
    }
    {
        g_autoptr(run_result) r = ctl_as_nobody(sock, "session", "list", NULL);
        expect(r, 0, NULL, NULL);
    }
    {
        g_autoptr(run_result) r = ctl_as_nobody(sock, "instance", "list", NULL);
        expect(r, 0, NULL, NULL);
    }
    {
        g_autoptr(run_result) r = ctl_as_nobody(sock, "pool", "create", "sneaky", NULL);
        expect(r, 4, NULL, "'pool.create' needs the admin group");
    }
    {
        vg_store_pool *p = NULL;
        assert_int_equal(vg_store_pool_get(f->store, "sneaky", &p), -ENOENT);
    }
    {
        g_autoptr(run_result) r = ctl_as_nobody(sock, "send-keys", "vm1", "hello", NULL);
        expect(r, 4, NULL, "needs the admin group");
    }
    {
        /* Nor another instance's viewers. */
        g_autoptr(run_result) r = ctl_as_nobody(sock, "session", "kick", "gw-b/v1", NULL);
        expect(r, 4, NULL, "'session.kick' needs the admin group");
    }
    assert_true(g_file_get_contents(f->audit_path, &audit, NULL, NULL));
    assert_non_null(strstr(audit, "\"command\":\"pool.create\""));
    assert_non_null(strstr(audit, "needs the admin group"));
    vg_admin_free(admin);
}

/* An admin connection that sends nothing for the idle timeout is told so
 * and closed. */
static void test_idle_admin_connection_is_closed(void **state)
{
    fixture *f = *state;
    g_autofree char *sock = g_build_filename(f->dir, "idle.sock", NULL);
    vg_admin_config cfg = {.socket_path = sock, .group = NO_GROUP, .idle_timeout_s = 1};
    vg_admin *admin = NULL;
    vg_control_reader *reader;
    vg_control_response *resp = NULL;
    char *line;
    size_t len;
    int fd = -1;
    int64_t start;

    assert_int_equal(vg_admin_new(&cfg, f->store, NULL, NULL, NULL, NULL, &admin), 0);
    assert_int_equal(vg_control_connect(sock, &fd), 0);
    reader = vg_control_reader_new(fd, VG_CONTROL_RESPONSE_MAX);
    start = vg_now_us();
    assert_int_equal(vg_control_reader_next(reader, &line, &len), 0);
    assert_non_null(line);
    assert_true(vg_now_us() - start >= 900000);
    assert_true(vg_now_us() - start < 5000000);
    assert_int_equal(vg_control_decode_response(line, len, &resp), 0);
    assert_false(resp->ok);
    assert_string_equal(resp->error, "closed: idle for 1 s");
    assert_string_equal(resp->code, "ETIMEDOUT");
    vg_control_response_free(resp);
    assert_int_equal(vg_control_reader_next(reader, &line, &len), 0);
    assert_null(line); /* then the end */
    vg_control_reader_free(reader);
    close(fd);
    vg_admin_free(admin);
}

/* ---- the socket file and the raw protocol ---- */

static void test_admin_replaces_stale_socket_but_not_live_one(void **state)
{
    fixture *f = *state;
    g_autofree char *stale = g_build_filename(f->dir, "stale.sock", NULL);
    g_autofree char *file = g_build_filename(f->dir, "plain-file", NULL);
    vg_admin_config cfg = {.socket_path = stale, .group = NO_GROUP};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    vg_admin *admin = NULL;
    int fd;

    g_strlcpy(sa.sun_path, stale, sizeof(sa.sun_path));
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    assert_int_equal(vg_admin_new(&cfg, f->store, NULL, NULL, NULL, NULL, &admin), 0);
    vg_admin_free(admin);

    cfg.socket_path = f->sock; /* the fixture's server listens there */
    assert_int_equal(vg_admin_new(&cfg, f->store, NULL, NULL, NULL, NULL, &admin), -EADDRINUSE);
    assert_true(g_file_set_contents(file, "x", 1, NULL));
    cfg.socket_path = file;
    assert_int_equal(vg_admin_new(&cfg, f->store, NULL, NULL, NULL, NULL, &admin), -EEXIST);
    g_unlink(file);
}

static int raw_connect(fixture *f, vg_control_reader **reader)
{
    int fd = -1;

    assert_int_equal(vg_control_connect(f->sock, &fd), 0);
    *reader = vg_control_reader_new(fd, VG_CONTROL_RESPONSE_MAX);
    return fd;
}

static vg_control_response *raw_read(vg_control_reader *reader)
{
    vg_control_response *resp = NULL;
    char *line;
    size_t len;

    assert_int_equal(vg_control_reader_next(reader, &line, &len), 0);
    assert_non_null(line);
    assert_int_equal(vg_control_decode_response(line, len, &resp), 0);
    return resp;
}

static void test_admin_answers_malformed_and_unknown_requests(void **state)
{
    fixture *f = *state;
    vg_control_reader *reader;
    vg_control_response *resp;
    int fd = raw_connect(f, &reader);
    const char *garbage = "this is not json\n";
    const char *unknown = "{\"id\":8,\"cmd\":\"frobnicate\"}\n";
    const char *missing = "{\"id\":9,\"cmd\":\"assign\",\"args\":{\"user\":\"a\"}}\n";

    assert_int_equal(vg_control_write_all(fd, garbage, strlen(garbage)), 0);
    resp = raw_read(reader);
    assert_false(resp->ok);
    assert_string_equal(resp->code, "EBADMSG");
    vg_control_response_free(resp);

    /* The connection stays usable after a malformed line. */
    assert_int_equal(vg_control_write_all(fd, unknown, strlen(unknown)), 0);
    resp = raw_read(reader);
    assert_int_equal(resp->id, 8);
    assert_false(resp->ok);
    assert_non_null(strstr(resp->error, "unknown command 'frobnicate'"));
    vg_control_response_free(resp);

    assert_int_equal(vg_control_write_all(fd, missing, strlen(missing)), 0);
    resp = raw_read(reader);
    assert_int_equal(resp->id, 9);
    assert_string_equal(resp->code, "EINVAL");
    assert_non_null(strstr(resp->error, "missing argument 'vm'"));
    vg_control_response_free(resp);

    vg_control_reader_free(reader);
    close(fd);
}

/* Every command of the table has a handler, and vmgated has no handler the table lacks. */
static void test_admin_has_a_handler_for_every_command_of_the_table(void **state)
{
    const vg_control_command *spec = NULL;

    (void)state;
    for (size_t i = 0; i < vg_control_n_commands; i++) {
        assert_non_null(vg_admin_find_command(vg_control_commands[i].name, &spec));
        assert_ptr_equal(spec, &vg_control_commands[i]);
    }
    assert_null(vg_admin_find_command("frobnicate", &spec));
    assert_null(spec);
}

/* Send @line, expect EINVAL with @message. */
static void expect_invalid(int fd, vg_control_reader *reader, const char *line, const char *message)
{
    vg_control_response *resp;

    assert_int_equal(vg_control_write_all(fd, line, strlen(line)), 0);
    resp = raw_read(reader);
    assert_false(resp->ok);
    assert_string_equal(resp->code, "EINVAL");
    assert_string_equal(resp->error, message);
    vg_control_response_free(resp);
}

/* Arguments are checked against the table before a command runs, with the same messages. */
static void test_admin_checks_arguments_from_the_table(void **state)
{
    fixture *f = *state;
    vg_control_reader *reader;
    vg_store_pool *p = NULL;
    int fd = raw_connect(f, &reader);

    expect_invalid(fd, reader, "{\"id\":1,\"cmd\":\"user.add\",\"args\":{\"name\":\"zoe\"}}\n",
                   "missing argument 'password'");
    expect_invalid(fd, reader,
                   "{\"id\":2,\"cmd\":\"user.add\",\"args\":{\"name\":\"zoe\",\"password\":\"x\","
                   "\"nla\":\"yes\"}}\n",
                   "argument 'nla' must be true or false");
    expect_invalid(fd, reader, "{\"id\":3,\"cmd\":\"pool.del\",\"args\":{\"name\":[1]}}\n",
                   "argument 'name' must be a string");
    expect_invalid(fd, reader,
                   "{\"id\":4,\"cmd\":\"pool.create\",\"args\":{\"name\":\"p9\","
                   "\"idle_action\":\"shutdown\",\"idle_minutes\":10081}}\n",
                   "argument 'idle_minutes' must be an integer from 1 to 10080");
    expect_invalid(fd, reader, "{\"id\":5,\"cmd\":\"audit\",\"args\":{\"lines\":-1}}\n",
                   "argument 'lines' must be an integer from 0 to 10000");
    expect_invalid(fd, reader,
                   "{\"id\":6,\"cmd\":\"assign\",\"args\":{\"user\":\"a\",\"vm\":\"v\","
                   "\"role\":\"boss\"}}\n",
                   "invalid role 'boss' (owner, controller or observer)");
    expect_invalid(
        fd, reader,
        "{\"id\":7,\"cmd\":\"vm.power\",\"args\":{\"vm\":\"v\",\"action\":\"reboot\"}}\n",
        "invalid power action 'reboot' (start, shutdown, destroy, suspend or resume)");
    /* Nothing was done. */
    assert_int_equal(vg_store_pool_get(f->store, "p9", &p), -ENOENT);
    vg_control_reader_free(reader);
    close(fd);
}

static void test_admin_closes_connection_on_oversized_request(void **state)
{
    fixture *f = *state;
    vg_control_reader *reader;
    vg_control_response *resp;
    int fd = raw_connect(f, &reader);
    g_autofree char *big = g_strnfill(VG_CONTROL_REQUEST_MAX + 100, 'x');
    char *line = (char *)"x";
    size_t len;

    assert_int_equal(vg_control_write_all(fd, big, strlen(big)), 0);
    resp = raw_read(reader);
    assert_false(resp->ok);
    assert_string_equal(resp->code, "E2BIG");
    vg_control_response_free(resp);
    assert_int_equal(vg_control_reader_next(reader, &line, &len), 0);
    assert_null(line); /* closed */
    vg_control_reader_free(reader);
    close(fd);
}

static void test_admin_free_ends_audit_stream_with_reason(void **state)
{
    fixture *f = *state;
    vg_control_reader *reader;
    vg_control_response *resp;
    int fd = raw_connect(f, &reader);
    const char *follow = "{\"id\":5,\"cmd\":\"audit\",\"args\":{\"follow\":true,\"lines\":0}}\n";

    assert_int_equal(vg_control_write_all(fd, follow, strlen(follow)), 0);
    resp = raw_read(reader); /* the stream's first item: its own admin record */
    assert_true(resp->ok);
    assert_true(resp->more);
    assert_int_equal(resp->id, 5);
    vg_control_response_free(resp);

    vg_admin_free(f->admin);
    f->admin = NULL;
    resp = raw_read(reader);
    assert_int_equal(resp->id, 5);
    assert_false(resp->ok);
    assert_string_equal(resp->code, "ESHUTDOWN");
    vg_control_response_free(resp);
    assert_false(g_file_test(f->sock, G_FILE_TEST_EXISTS));
    vg_control_reader_free(reader);
    close(fd);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_vmgatectl_user_add_stores_hashes_not_password),
        T(test_vmgatectl_user_add_errors),
        T(test_vmgatectl_user_add_prompts_twice_without_echo),
        T(test_vmgatectl_user_passwd_list_and_del),
        T(test_vmgatectl_user_disable_kicks_sessions),
        T(test_vmgatectl_vm_list_shows_name_uuid_state_viewers),
        T(test_vmgatectl_instance_list_and_vms_of_other_instances),
        T(test_vmgatectl_sessions_of_other_instances_and_their_kicks),
        T(test_vmgatectl_vm_power_reaches_backend),
        T(test_vmgatectl_assign_and_unassign_reach_store),
        T(test_vmgatectl_pools_reach_store),
        T(test_vmgatectl_session_list_and_kick),
        T(test_vmgatectl_screenshot_writes_png),
        T(test_vmgatectl_send_keys_types_text_and_combos),
        T(test_vmgatectl_audit_prints_and_follows),
        T(test_vmgatectl_reports_daemon_not_running),
        T(test_vmgatectl_usage_errors_exit_2_with_hint),
        T(test_vmgatectl_knows_every_command_of_the_table),
        T(test_admin_has_a_handler_for_every_command_of_the_table),
        T(test_admin_checks_arguments_from_the_table),
        T(test_admin_socket_is_root_only_without_group),
        T(test_vmgatectl_as_unprivileged_user_is_denied),
        T(test_admin_group_member_is_allowed),
        T(test_readonly_group_member_may_only_look),
        T(test_idle_admin_connection_is_closed),
        T(test_admin_replaces_stale_socket_but_not_live_one),
        T(test_admin_answers_malformed_and_unknown_requests),
        T(test_admin_closes_connection_on_oversized_request),
        T(test_admin_free_ends_audit_stream_with_reason),
    };
#undef T
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
