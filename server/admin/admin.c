/*
 * vmgate — the admin socket server (see admin.h): the socket file, the
 * accept thread, peer credentials, one thread per connection reading
 * request lines and writing responses, and the audit stream. The commands
 * themselves are in admin-commands.c.
 *
 * Threading:
 *  - accept thread: polls the listening socket and an eventfd (woken by
 *    vg_admin_free), accepts, reaps finished connections, starts one
 *    thread per connection.
 *  - connection thread: checks the peer, then reads a request, answers it,
 *    and loops until the client closes. It never closes its fd (so
 *    vg_admin_free can shut it down without racing a reuse of the number):
 *    it shuts it down and the reaper closes it after joining the thread.
 *  - audit listener: runs on whatever thread writes a record, with the
 *    audit lock held; it only queues the line under the connection's lock.
 * Locks: admin->lock (connection list, stopping) and conn->lock (follow
 * queue) are never held together except in that order, by vg_admin_free.
 * Neither is held while calling the store, the sessions, the audit log or
 * the live ops.
 */
#include "admin-priv.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "log.h"

#define TAG "admin"

/* A client that does not read its answer for this long is dropped. */
#define SEND_TIMEOUT_S          30
#define VG_ADMIN_IDLE_TIMEOUT_S 300
/* New audit records queued for a follower at most; beyond, it fell behind. */
#define FOLLOW_QUEUE_MAX 4096
/* How often a follower checks that its client is still there. */
#define FOLLOW_POLL_US (500 * G_TIME_SPAN_MILLISECOND)

struct vg_admin_conn {
    vg_admin *admin;
    int fd;
    GThread *thread;
    gint done; /* atomic: the thread has finished */

    GMutex lock; /* guards the follow state below */
    GCond cond;
    GQueue queue; /* of char *, new audit lines */
    bool overflow;
};

struct vg_admin {
    struct vg_admin_ctx ctx;
    char *path;
    dev_t sock_dev; /* the socket file we made, so we remove only ours */
    ino_t sock_ino;
    gid_t gid;
    bool have_group;
    gid_t ro_gid; /* the read-only group */
    bool have_ro_group;
    unsigned idle_timeout_s;

    int listen_fd;
    int wake_fd;
    GThread *accept_thread;

    GMutex lock; /* guards conns and stopping */
    GList *conns;
    bool stopping;
};

const struct vg_admin_ctx *vg_admin_ctx(vg_admin *admin)
{
    return &admin->ctx;
}

int vg_admin_fail(vg_admin_call *k, int r, const char *fmt, ...)
{
    va_list ap;

    if (!k->error) {
        va_start(ap, fmt);
        k->error = g_strdup_vprintf(fmt, ap);
        va_end(ap);
    }
    return r;
}

/* ---- answering ---- */

static int send_line(vg_admin_conn *c, char *line, size_t len)
{
    int r = vg_control_write_all(c->fd, line, len);
    g_free(line);
    return r;
}

static int send_error(vg_admin_conn *c, int64_t id, int err, const char *message)
{
    char *line;
    size_t len;
    int r;

    if ((r = vg_control_encode_error(id, err, message, &line, &len)) < 0)
        return r;
    return send_line(c, line, len);
}

static int send_result_note(vg_admin_conn *c, int64_t id, JsonNode *result, bool more,
                            const char *note)
{
    char *line;
    size_t len;
    int r;

    if ((r = vg_control_encode_result_note(id, result, more, note, &line, &len)) < 0)
        return r;
    return send_line(c, line, len);
}

static int send_result(vg_admin_conn *c, int64_t id, JsonNode *result, bool more)
{
    return send_result_note(c, id, result, more, NULL);
}

/* The arguments worth recording: names and options, never a password or typed text. */
static JsonObject *audit_args(vg_admin_call *k)
{
    static const char *const keep[] = {
        "name",   "user",  "vm",     "pool",        "role",         "id",
        "reason", "combo", "action", "idle_action", "idle_minutes", "assign_on_first_login",
        "nla",    "lines", "follow",
    };
    JsonObject *o = json_object_new();
    const char *text;

    for (size_t i = 0; i < G_N_ELEMENTS(keep); i++) {
        JsonNode *n = json_object_get_member(k->args, keep[i]);
        if (n && JSON_NODE_HOLDS_VALUE(n))
            json_object_set_member(o, keep[i], json_node_copy(n));
    }
    /* What was typed may well be a password for the guest: record only its length. */
    if (strcmp(k->cmd, VG_CONTROL_CMD_SEND_TEXT) == 0 &&
        (text = json_object_get_string_member_with_default(k->args, "text", NULL)) &&
        g_utf8_validate(text, -1, NULL))
        json_object_set_int_member(o, "characters", g_utf8_strlen(text, -1));
    return o;
}

void vg_admin_audit_call(vg_admin_call *k, int r)
{
    JsonObject *args;

    if (k->audited || !k->admin->ctx.audit)
        return;
    k->audited = true;
    args = audit_args(k);
    vg_audit_admin(k->admin->ctx.audit, k->uid, k->user, k->cmd, args, r, k->error);
    json_object_unref(args);
}

/* Overwrite the password a request carried, so it does not linger in freed memory. */
static void wipe_secrets(JsonObject *args)
{
    JsonNode *n = json_object_get_member(args, "password");

    if (n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING) {
        char *s = (char *)json_node_get_string(n);
        explicit_bzero(s, strlen(s));
    }
}

static int handle(vg_admin_conn *c, vg_admin_call *k)
{
    vg_admin_handler fn = vg_admin_find_command(k->cmd, &k->spec);
    g_autofree char *invalid = NULL;
    int r;

    if (!fn)
        r = vg_admin_fail(k, -EOPNOTSUPP, "unknown command '%s'", k->cmd);
    else if (k->readonly && !k->spec->reads_only)
        r = vg_admin_fail(k, -EACCES, "permission denied: '%s' needs the admin group", k->cmd);
    else if ((r = vg_control_args_check(k->spec, k->args, &invalid)) < 0)
        r = vg_admin_fail(k, r, "%s", invalid);
    else
        r = fn(k);
    if (r < 0 && !k->error)
        k->error = g_strdup(g_strerror(-r));
    vg_admin_audit_call(k, r);
    if (k->replied)
        return 0;
    if (r < 0)
        return send_error(c, k->id, r, k->error);
    r = send_result_note(c, k->id, k->result, false, k->note);
    if (r == -E2BIG)
        return send_error(c, k->id, r, "the answer is too large for the control protocol");
    return r;
}

/* ---- the audit stream ---- */

static void follow_line(void *opaque, const char *line)
{
    vg_admin_conn *c = opaque;

    g_mutex_lock(&c->lock);
    if (c->queue.length < FOLLOW_QUEUE_MAX)
        g_queue_push_tail(&c->queue, g_strdup(line));
    else
        c->overflow = true;
    g_cond_signal(&c->cond);
    g_mutex_unlock(&c->lock);
}

/* Send one audit record as a stream item. A line that is not JSON is skipped. */
static int stream_record(vg_admin_call *k, const char *line)
{
    g_autoptr(JsonNode) node = json_from_string(line, NULL);

    if (!node)
        return 0;
    return send_result(k->conn, k->id, node, true);
}

/* Whether the client has closed its end (or the socket failed). */
static bool client_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};

    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

int vg_admin_stream_audit(vg_admin_call *k, unsigned lines)
{
    vg_admin_conn *c = k->conn;
    vg_admin *a = k->admin;
    g_autoptr(GPtrArray) tail = NULL;
    unsigned handle;
    int r;

    r = vg_audit_follow(a->ctx.audit, lines, follow_line, c, &tail, &handle);
    if (r < 0)
        return vg_admin_fail(k, r, "cannot read the audit log: %s", g_strerror(-r));
    /* Recorded now: the stream may last as long as the daemon does. */
    vg_admin_audit_call(k, 0);
    k->replied = true;

    for (guint i = 0; tail && i < tail->len && r == 0; i++)
        r = stream_record(k, g_ptr_array_index(tail, i));

    while (r == 0) {
        char *line;
        bool overflow, stopping;

        g_mutex_lock(&c->lock);
        if (c->queue.length == 0 && !c->overflow)
            g_cond_wait_until(&c->cond, &c->lock, g_get_monotonic_time() + FOLLOW_POLL_US);
        line = g_queue_pop_head(&c->queue);
        overflow = c->overflow;
        g_mutex_unlock(&c->lock);
        /* Read after the wait: vg_admin_free sets it before waking us. */
        g_mutex_lock(&a->lock);
        stopping = a->stopping;
        g_mutex_unlock(&a->lock);

        if (line) {
            r = stream_record(k, line);
            g_free(line);
        } else if (overflow) {
            send_error(c, k->id, -ENOBUFS, "the audit stream fell behind; follow again");
            break;
        } else if (stopping) {
            send_error(c, k->id, -ESHUTDOWN, "vmgated is stopping");
            break;
        } else if (client_gone(c->fd)) {
            break;
        }
    }

    vg_audit_unfollow(a->ctx.audit, handle);
    g_mutex_lock(&c->lock);
    g_queue_clear_full(&c->queue, g_free);
    c->overflow = false;
    g_mutex_unlock(&c->lock);
    return 0;
}

/* ---- peers ---- */

typedef struct peer {
    int64_t uid;
    char *user; /* name, or "uid:N" */
    bool allowed;
    bool readonly; /* allowed through the read-only group only */
} peer;

/* Whether @user (primary group @primary) is in group @gid, from the group database. */
static bool user_in_group(const char *user, gid_t primary, gid_t gid)
{
    int n = 32;
    g_autofree gid_t *groups = NULL;

    if (primary == gid)
        return true;
    for (int tries = 0; tries < 4; tries++) {
        int want = n;
        groups = g_renew(gid_t, groups, (gsize)want);
        if (getgrouplist(user, primary, groups, &n) >= 0) {
            for (int i = 0; i < n; i++)
                if (groups[i] == gid)
                    return true;
            return false;
        }
        if (n <= want) /* failed without telling us a size: give up */
            return false;
    }
    return false;
}

static void identify_peer(vg_admin *a, int fd, peer *p)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    struct passwd pw, *res = NULL;
    g_autofree char *buf = NULL;
    size_t size = 16384;

    p->uid = -1;
    p->allowed = false;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred)) {
        p->user = g_strdup("unknown");
        return;
    }
    p->uid = cred.uid;
    for (;;) {
        int e;
        buf = g_realloc(buf, size);
        e = getpwuid_r(cred.uid, &pw, buf, size, &res);
        if (e != ERANGE || size >= 1024 * 1024)
            break;
        size *= 2;
    }
    p->user = res ? g_strdup(res->pw_name) : g_strdup_printf("uid:%u", (unsigned)cred.uid);

    if (cred.uid == 0 || cred.uid == geteuid())
        p->allowed = true;
    else if (a->have_group && res)
        p->allowed = user_in_group(res->pw_name, res->pw_gid, a->gid);
    if (!p->allowed && a->have_ro_group && res)
        p->allowed = p->readonly = user_in_group(res->pw_name, res->pw_gid, a->ro_gid);
}

/* ---- connections ---- */

static gpointer conn_main(gpointer data)
{
    vg_admin_conn *c = data;
    vg_admin *a = c->admin;
    vg_control_reader *reader = NULL;
    struct timeval tv = {.tv_sec = SEND_TIMEOUT_S};
    struct timeval idle = {.tv_sec = a->idle_timeout_s};
    peer p = {0};

    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    /* A connection that sends nothing for idle_timeout_s ends (reads time
     * out); a command that streams does not read meanwhile. */
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
    identify_peer(a, c->fd, &p);
    if (!p.allowed) {
        vg_notice(TAG, "refused admin connection from uid %" G_GINT64_FORMAT " (%s)", p.uid,
                  p.user);
        if (a->ctx.audit)
            vg_audit_admin(a->ctx.audit, p.uid, p.user, "connect", NULL, -EACCES,
                           "permission denied");
        send_error(c, 0, -EACCES, "permission denied");
        goto out;
    }
    vg_debug(TAG, "admin connection from uid %" G_GINT64_FORMAT " (%s)%s", p.uid, p.user,
             p.readonly ? ", read-only" : "");

    reader = vg_control_reader_new(c->fd, VG_CONTROL_REQUEST_MAX);
    for (;;) {
        vg_control_request *req = NULL;
        vg_admin_call k = {
            .admin = a, .conn = c, .uid = p.uid, .user = p.user, .readonly = p.readonly};
        char *line;
        size_t len;
        int64_t id;
        int r;

        r = vg_control_reader_next(reader, &line, &len);
        if (r == -E2BIG) {
            send_error(c, 0, r, "request too long (the limit is 64 KiB)");
            break;
        }
        if (r == -EAGAIN || r == -EWOULDBLOCK) {
            vg_info(TAG, "admin connection from %s closed: idle for %u s", p.user,
                    a->idle_timeout_s);
            g_autofree char *msg = g_strdup_printf("closed: idle for %u s", a->idle_timeout_s);
            send_error(c, 0, -ETIMEDOUT, msg);
            break;
        }
        if (r < 0 || !line)
            break;
        r = vg_control_decode_request(line, len, &req, &id);
        explicit_bzero(line, len);
        if (r < 0) {
            if (send_error(c, id, r, "malformed request") < 0)
                break;
            continue;
        }
        k.id = req->id;
        k.cmd = req->cmd;
        k.args = req->args;
        r = handle(c, &k);
        wipe_secrets(req->args);
        vg_control_request_free(req);
        if (k.result)
            json_node_unref(k.result);
        g_free(k.error);
        g_free(k.note);
        if (r < 0 || k.replied)
            break;
    }

out:
    vg_control_reader_free(reader);
    g_free(p.user);
    shutdown(c->fd, SHUT_RDWR);
    g_atomic_int_set(&c->done, 1);
    return NULL;
}

static void conn_free(vg_admin_conn *c)
{
    if (!c)
        return;
    if (c->thread)
        g_thread_join(c->thread);
    if (c->fd >= 0)
        close(c->fd);
    g_queue_clear_full(&c->queue, g_free);
    g_cond_clear(&c->cond);
    g_mutex_clear(&c->lock);
    g_free(c);
}

/* Join and free the connections whose threads have finished. */
static guint reap(vg_admin *a)
{
    GList *done = NULL;
    guint live;

    g_mutex_lock(&a->lock);
    for (GList *l = a->conns; l;) {
        GList *next = l->next;
        if (g_atomic_int_get(&((vg_admin_conn *)l->data)->done)) {
            a->conns = g_list_remove_link(a->conns, l);
            done = g_list_concat(done, l);
        }
        l = next;
    }
    live = g_list_length(a->conns);
    g_mutex_unlock(&a->lock);
    g_list_free_full(done, (GDestroyNotify)conn_free);
    return live;
}

static void refuse_busy(int fd)
{
    char *line;
    size_t len;

    if (vg_control_encode_error(0, -EBUSY, "too many admin connections; try again", &line, &len) ==
        0) {
        vg_control_write_all(fd, line, len);
        g_free(line);
    }
    close(fd);
}

static gpointer accept_main(gpointer data)
{
    vg_admin *a = data;

    for (;;) {
        struct pollfd fds[2] = {{.fd = a->listen_fd, .events = POLLIN},
                                {.fd = a->wake_fd, .events = POLLIN}};
        vg_admin_conn *c;
        GError *err = NULL;
        int fd;

        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            vg_error(TAG, "poll on the admin socket failed: %s", g_strerror(errno));
            break;
        }
        if (fds[1].revents)
            break;
        fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
                vg_warning(TAG, "accept on the admin socket failed: %s", g_strerror(errno));
            if (errno == EMFILE || errno == ENFILE)
                g_usleep(100 * 1000); /* let connections finish rather than spin */
            continue;
        }
        if (reap(a) >= VG_ADMIN_MAX_CONNECTIONS) {
            vg_warning(TAG, "refusing an admin connection: %d are open", VG_ADMIN_MAX_CONNECTIONS);
            refuse_busy(fd);
            continue;
        }

        c = g_new0(vg_admin_conn, 1);
        c->admin = a;
        c->fd = fd;
        g_mutex_init(&c->lock);
        g_cond_init(&c->cond);
        g_queue_init(&c->queue);
        g_mutex_lock(&a->lock);
        c->thread = g_thread_try_new("vg-admin-conn", conn_main, c, &err);
        if (c->thread)
            a->conns = g_list_prepend(a->conns, c);
        g_mutex_unlock(&a->lock);
        if (!c->thread) {
            vg_warning(TAG, "cannot start an admin connection thread: %s", err->message);
            g_error_free(err);
            c->fd = -1;
            conn_free(c);
            refuse_busy(fd);
        }
    }
    return NULL;
}

/* ---- the socket file ---- */

/*
 * Make way for our socket at @path: replace a stale socket, refuse a live
 * one or anything that is not a socket.
 */
static int clear_path(const char *path)
{
    struct stat st;
    int fd, r;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode)) {
        vg_error(TAG, "%s exists and is not a socket; not replacing it", path);
        return -EEXIST;
    }
    r = vg_control_connect(path, &fd);
    if (r == 0) {
        close(fd);
        vg_error(TAG, "another process is listening on %s", path);
        return -EADDRINUSE;
    }
    if (r != -ECONNREFUSED) {
        vg_error(TAG, "cannot check the existing socket %s: %s", path, g_strerror(-r));
        return r;
    }
    vg_info(TAG, "replacing stale socket %s", path);
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

/* The id of group @name. @return whether it exists. */
static bool find_group(const char *name, gid_t *gid)
{
    struct group gr, *res = NULL;
    g_autofree char *buf = NULL;
    size_t size = 16384;
    int e;

    for (;;) {
        buf = g_realloc(buf, size);
        e = getgrnam_r(name, &gr, buf, size, &res);
        if (e != ERANGE || size >= 1024 * 1024)
            break;
        size *= 2;
    }
    if (res)
        *gid = res->gr_gid;
    return res != NULL;
}

static void lookup_groups(vg_admin *a, const char *name, const char *ro_name)
{
    a->have_group = find_group(name, &a->gid);
    if (!a->have_group)
        vg_warning(TAG, "group '%s' does not exist: the admin socket is for root only", name);
    a->have_ro_group = ro_name && find_group(ro_name, &a->ro_gid);
    if (ro_name && !a->have_ro_group)
        vg_info(TAG, "read-only admin group '%s' does not exist: no read-only access", ro_name);
}

static int make_socket(vg_admin *a)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    g_autofree char *dir = g_path_get_dirname(a->path);
    struct stat st;
    mode_t mode;
    int r;

    if (strlen(a->path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, a->path, strlen(a->path) + 1);

    /* A directory we create is 0755 whatever the umask, so group members can reach the
     * socket; an existing one is left as the administrator made it. */
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR) &&
        (g_mkdir_with_parents(dir, 0755) < 0 || chmod(dir, 0755) < 0)) {
        r = -errno;
        vg_error(TAG, "cannot create %s: %s", dir, g_strerror(-r));
        return r;
    }
    if ((r = clear_path(a->path)) < 0)
        return r;

    a->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (a->listen_fd < 0)
        return -errno;
    if (bind(a->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        r = -errno;
        vg_error(TAG, "cannot bind %s: %s", a->path, g_strerror(-r));
        return r;
    }
    /* Nobody can connect before listen(), so setting owner and mode now leaves no window. */
    if (a->have_group && chown(a->path, (uid_t)-1, a->gid) < 0) {
        vg_warning(TAG, "cannot give %s to its group: %s; root only (mode 0600)", a->path,
                   g_strerror(errno));
        a->have_group = false;
    }
    /* With a read-only group the socket is open to everyone, as libvirt's
     * read-only socket is: a file has one group, and SO_PEERCRED decides
     * each connection anyway (identify_peer: root and the admin group may
     * do everything, the read-only group may read, anyone else is refused
     * and audited). */
    mode = a->have_ro_group ? 0666 : a->have_group ? 0660 : 0600;
    if (chmod(a->path, mode) < 0 || lstat(a->path, &st) < 0) {
        r = -errno;
        unlink(a->path);
        return r;
    }
    a->sock_dev = st.st_dev;
    a->sock_ino = st.st_ino;
    if (listen(a->listen_fd, 16) < 0) {
        r = -errno;
        unlink(a->path);
        return r;
    }
    return 0;
}

/* Remove the socket file if it is still the one we made. */
static void remove_socket(vg_admin *a)
{
    struct stat st;

    if (lstat(a->path, &st) == 0 && st.st_dev == a->sock_dev && st.st_ino == a->sock_ino)
        unlink(a->path);
}

int vg_admin_new(const vg_admin_config *cfg, vg_store *store, vg_sessions *sessions,
                 vg_audit *audit, const vg_admin_live_ops *live, void *live_opaque, vg_admin **out)
{
    vg_admin *a;
    GError *err = NULL;
    int r;

    if (!store || !out)
        return -EINVAL;
    a = g_new0(vg_admin, 1);
    a->ctx = (struct vg_admin_ctx){store, sessions,    audit,
                                   live,  live_opaque, g_strdup(cfg ? cfg->instance : NULL)};
    a->path = g_strdup(cfg && cfg->socket_path ? cfg->socket_path : VG_CONTROL_DEFAULT_SOCKET);
    a->listen_fd = -1;
    a->wake_fd = -1;
    g_mutex_init(&a->lock);

    a->idle_timeout_s = cfg && cfg->idle_timeout_s ? cfg->idle_timeout_s : VG_ADMIN_IDLE_TIMEOUT_S;
    lookup_groups(a, cfg && cfg->group ? cfg->group : VG_ADMIN_DEFAULT_GROUP,
                  cfg ? cfg->readonly_group : NULL);
    if ((r = make_socket(a)) < 0)
        goto fail;
    a->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (a->wake_fd < 0) {
        r = -errno;
        goto fail;
    }
    a->accept_thread = g_thread_try_new("vg-admin-accept", accept_main, a, &err);
    if (!a->accept_thread) {
        vg_error(TAG, "cannot start the admin accept thread: %s", err->message);
        g_error_free(err);
        r = -EAGAIN;
        goto fail;
    }
    vg_notice(TAG, "admin socket %s (mode %s)", a->path,
              a->have_ro_group ? "0666, read-only group"
              : a->have_group  ? "0660"
                               : "0600");
    *out = a;
    return 0;

fail:
    vg_admin_free(a);
    return r;
}

void vg_admin_free(vg_admin *a)
{
    GList *conns;
    uint64_t one = 1;

    if (!a)
        return;
    if (a->accept_thread) {
        if (write(a->wake_fd, &one, sizeof(one)) != sizeof(one))
            vg_warning(TAG, "cannot wake the admin accept thread: %s", g_strerror(errno));
        g_thread_join(a->accept_thread);
    }
    if (a->listen_fd >= 0) {
        close(a->listen_fd);
        remove_socket(a);
    }

    g_mutex_lock(&a->lock);
    a->stopping = true;
    conns = a->conns;
    a->conns = NULL;
    for (GList *l = conns; l; l = l->next) {
        vg_admin_conn *c = l->data;
        /* Wake a reader with end-of-file and a follower through its queue. */
        shutdown(c->fd, SHUT_RD);
        g_mutex_lock(&c->lock);
        g_cond_signal(&c->cond);
        g_mutex_unlock(&c->lock);
    }
    g_mutex_unlock(&a->lock);
    g_list_free_full(conns, (GDestroyNotify)conn_free);

    if (a->wake_fd >= 0)
        close(a->wake_fd);
    g_mutex_clear(&a->lock);
    g_free(a->path);
    g_free(a->ctx.instance);
    g_free(a);
}
