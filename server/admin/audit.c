/*
 * vmgate — the audit log (see audit.h).
 *
 * Threading: a->lock guards the file descriptor and the listener list.
 * Records are built without the lock; the timestamp is taken under it, so
 * the times in the file never go backwards between lines written by
 * different threads (unless the wall clock itself is set back). Listeners
 * run under the lock, right after the record reached the disk.
 */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

#define TAG "audit"

/* Bytes of the file vg_audit_tail reads at most, so a huge log cannot exhaust memory. */
#define TAIL_BYTES_MAX (32 * 1024 * 1024)
#define TAIL_CHUNK     (64 * 1024)

typedef struct listener {
    unsigned handle;
    vg_audit_listener fn;
    void *opaque;
} listener;

/* Records that may wait for the next fsync (see commit): at most this long. */
#define LAZY_SYNC_US (1 * G_USEC_PER_SEC)

struct vg_audit {
    GMutex lock;
    char *path;
    char *instance; /* this vmgated's [instance] name, in every record */
    int fd;
    bool dirty;        /* written since the last fsync */
    int64_t last_sync; /* g_get_monotonic_time() of the last fsync */
    GArray *listeners; /* of listener */
    unsigned next_handle;
    int last_error; /* negative errno of the last record or fsync that failed; 0 after a success */
};

/* Open @path for appending and make sure the next record starts a line. */
static int open_log(const char *path, int *out)
{
    g_autofree char *dir = g_path_get_dirname(path);
    struct stat st;
    int fd, r;

    if (!g_file_test(dir, G_FILE_TEST_IS_DIR) &&
        (g_mkdir_with_parents(dir, 0750) < 0 || chmod(dir, 0750) < 0))
        return -errno;
    /* Created 0640 whatever the umask; an existing file keeps the mode it was given. */
    fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd >= 0 && fchmod(fd, 0640) < 0) {
        r = -errno;
        goto fail;
    }
    if (fd < 0 && errno == EEXIST)
        fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        r = -EINVAL;
        goto fail;
    }
    if (st.st_size > 0) {
        char last;
        /* A crash may have cut the last record short: end it so the next one is whole. */
        if (pread(fd, &last, 1, st.st_size - 1) != 1) {
            r = -EIO;
            goto fail;
        }
        if (last != '\n' && write(fd, "\n", 1) != 1) {
            r = -EIO;
            goto fail;
        }
    }
    *out = fd;
    return 0;

fail:
    close(fd);
    return r;
}

int vg_audit_new(const char *path, const char *instance, vg_audit **out)
{
    vg_audit *a;
    int fd, r;

    if (!path || !*path || !vg_name_valid(instance) || !out)
        return -EINVAL;
    if ((r = open_log(path, &fd)) < 0) {
        vg_error(TAG, "cannot open audit log %s: %s", path, g_strerror(-r));
        return r;
    }
    a = g_new0(vg_audit, 1);
    g_mutex_init(&a->lock);
    a->path = g_strdup(path);
    a->instance = g_strdup(instance);
    a->fd = fd;
    a->listeners = g_array_new(FALSE, FALSE, sizeof(listener));
    a->next_handle = 1;
    *out = a;
    return 0;
}

void vg_audit_free(vg_audit *a)
{
    if (!a)
        return;
    if (a->fd >= 0) {
        if (a->dirty)
            (void)fsync(a->fd);
        close(a->fd);
    }
    g_array_unref(a->listeners);
    g_free(a->path);
    g_free(a->instance);
    g_mutex_clear(&a->lock);
    g_free(a);
}

int vg_audit_flush(vg_audit *a)
{
    int r = 0;

    g_mutex_lock(&a->lock);
    if (a->dirty) {
        if (fsync(a->fd) < 0) {
            r = -errno;
            a->last_error = r;
        } else {
            a->dirty = false;
            a->last_sync = g_get_monotonic_time();
        }
    }
    g_mutex_unlock(&a->lock);
    return r;
}

int vg_audit_reopen(vg_audit *a)
{
    int fd, r;

    if ((r = open_log(a->path, &fd)) < 0) {
        vg_warning(TAG, "cannot reopen audit log %s: %s", a->path, g_strerror(-r));
        return r;
    }
    g_mutex_lock(&a->lock);
    if (a->dirty)
        (void)fsync(a->fd);
    a->dirty = false;
    close(a->fd);
    a->fd = fd;
    g_mutex_unlock(&a->lock);
    vg_notice(TAG, "audit log %s reopened", a->path);
    return 0;
}

/* RFC 3339 UTC with milliseconds: "2025-05-04T09:12:33.041Z". */
static void format_time(char buf[32])
{
    int64_t us = g_get_real_time();
    time_t secs = (time_t)(us / G_USEC_PER_SEC);
    struct tm tm;
    size_t n;

    gmtime_r(&secs, &tm);
    n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    g_snprintf(buf + n, 32 - n, ".%03dZ", (int)((us % G_USEC_PER_SEC) / 1000));
}

/* @s as valid UTF-8 of at most VG_AUDIT_FIELD_MAX bytes. */
static char *clean_string(const char *s)
{
    char *t = g_utf8_make_valid(s, -1);

    if (strlen(t) > VG_AUDIT_FIELD_MAX) {
        const char *end;
        t[VG_AUDIT_FIELD_MAX] = '\0';
        if (!g_utf8_validate(t, -1, &end)) /* the cut split a character */
            t[end - t] = '\0';
    }
    return t;
}

static void set_string(JsonObject *o, const char *key, const char *value)
{
    g_autofree char *clean = NULL;

    if (!value)
        return;
    clean = clean_string(value);
    json_object_set_string_member(o, key, clean);
}

/* Events an unauthenticated client can cause at will: their fsync may wait
 * (see commit), so that a flood of bad logins does not set the fsync rate. */
static bool lazy_event(const char *event)
{
    return strcmp(event, "login_failed") == 0 || strcmp(event, "lockout") == 0;
}

/*
 * Write one record: "time", "event" and "instance" first, then @fields in
 * their order.
 * Consumes @fields.
 *
 * A record is in the file whole or not at all: a write that fails part way
 * (a full disk) is cut back off, so the next record starts on a line of its
 * own. It is durable on return, except a lazy_event()'s: it is synced with
 * the next record, by vg_audit_flush, or at once when the last fsync is
 * LAZY_SYNC_US old.
 */
static int commit(vg_audit *a, const char *event, JsonObject *fields)
{
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree char *text = NULL;
    JsonObject *rec = json_object_new();
    JsonObjectIter it;
    const char *name;
    JsonNode *value;
    char stamp[32];
    gsize len = 0;
    size_t done = 0;
    int r = 0;

    json_node_take_object(root, rec);
    json_generator_set_root(gen, root);

    g_mutex_lock(&a->lock);
    format_time(stamp);
    json_object_set_string_member(rec, "time", stamp);
    json_object_set_string_member(rec, "event", event);
    json_object_set_string_member(rec, "instance", a->instance);
    json_object_iter_init_ordered(&it, fields);
    while (json_object_iter_next_ordered(&it, &name, &value))
        json_object_set_member(rec, name, json_node_copy(value));
    json_object_unref(fields);

    text = json_generator_to_data(gen, &len);
    text = g_realloc(text, len + 2);
    text[len] = '\n';
    text[len + 1] = '\0';
    {
        struct stat st;
        off_t start = fstat(a->fd, &st) == 0 ? st.st_size : -1;

        while (done < len + 1) {
            ssize_t n = write(a->fd, text + done, len + 1 - done);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                r = -errno;
                break;
            }
            done += (size_t)n;
        }
        if (r < 0 && done > 0 && (start < 0 || ftruncate(a->fd, start) < 0))
            vg_error(TAG, "%s: a part-written record could not be cut off: %s", a->path,
                     g_strerror(errno));
    }
    if (r == 0) {
        int64_t now = g_get_monotonic_time();
        a->dirty = true;
        if (!lazy_event(event) || now - a->last_sync >= LAZY_SYNC_US) {
            if (fsync(a->fd) < 0) {
                r = -errno;
            } else {
                a->dirty = false;
                a->last_sync = now;
            }
        }
    }
    if (r == 0) {
        text[len] = '\0';
        for (guint i = 0; i < a->listeners->len; i++) {
            listener *l = &g_array_index(a->listeners, listener, i);
            l->fn(l->opaque, text);
        }
    }
    a->last_error = r;
    g_mutex_unlock(&a->lock);

    if (r < 0) {
        vg_counter_add(&vg_metrics.audit_write_failures, 1);
        vg_error(TAG, "cannot write %s record to %s: %s", event, a->path, g_strerror(-r));
    }
    return r;
}

int vg_audit_login_ok(vg_audit *a, const char *user, const char *vm, const char *protocol,
                      const char *address)
{
    JsonObject *f = json_object_new();

    set_string(f, "user", user);
    set_string(f, "vm", vm);
    set_string(f, "protocol", protocol);
    set_string(f, "address", address);
    return commit(a, "login_ok", f);
}

int vg_audit_login_failed(vg_audit *a, const char *user, const char *address, const char *protocol,
                          const char *reason)
{
    JsonObject *f = json_object_new();

    set_string(f, "user", user);
    set_string(f, "address", address);
    set_string(f, "protocol", protocol);
    set_string(f, "reason", reason);
    return commit(a, "login_failed", f);
}

int vg_audit_logout(vg_audit *a, const char *user, const char *vm, const char *protocol,
                    const char *address, const char *reason)
{
    JsonObject *f = json_object_new();

    set_string(f, "user", user);
    set_string(f, "vm", vm);
    set_string(f, "protocol", protocol);
    set_string(f, "address", address);
    set_string(f, "reason", reason);
    return commit(a, "logout", f);
}

int vg_audit_assign(vg_audit *a, const char *by, const char *user, const char *vm, vg_role role)
{
    JsonObject *f = json_object_new();

    set_string(f, "by", by);
    set_string(f, "user", user);
    set_string(f, "vm", vm);
    set_string(f, "role", vg_role_name(role));
    return commit(a, "assign", f);
}

int vg_audit_unassign(vg_audit *a, const char *by, const char *user, const char *vm)
{
    JsonObject *f = json_object_new();

    set_string(f, "by", by);
    set_string(f, "user", user);
    set_string(f, "vm", vm);
    return commit(a, "unassign", f);
}

int vg_audit_role_change(vg_audit *a, const char *by, const char *user, const char *vm,
                         vg_role from, vg_role to)
{
    JsonObject *f = json_object_new();

    set_string(f, "by", by);
    set_string(f, "user", user);
    set_string(f, "vm", vm);
    set_string(f, "from", vg_role_name(from));
    set_string(f, "to", vg_role_name(to));
    return commit(a, "role_change", f);
}

int vg_audit_kick(vg_audit *a, const char *by, const char *id, const char *reason, unsigned viewers)
{
    JsonObject *f = json_object_new();

    set_string(f, "by", by);
    set_string(f, "id", id);
    set_string(f, "reason", reason);
    json_object_set_int_member(f, "viewers", viewers);
    return commit(a, "kick", f);
}

int vg_audit_power(vg_audit *a, const char *by, const char *vm, const char *action, int result)
{
    JsonObject *f = json_object_new();

    set_string(f, "by", by ? by : "vmgated");
    set_string(f, "vm", vm);
    set_string(f, "action", action);
    json_object_set_boolean_member(f, "ok", result == 0);
    if (result < 0)
        set_string(f, "error", g_strerror(-result));
    return commit(a, "power", f);
}

/* Whether an argument named @key could hold a secret. */
static bool secret_name(const char *key)
{
    static const char *const words[] = {"password", "passwd", "hash", "secret", "token", "key"};
    g_autofree char *lower = g_ascii_strdown(key, -1);

    for (size_t i = 0; i < G_N_ELEMENTS(words); i++)
        if (strstr(lower, words[i]))
            return true;
    return false;
}

int vg_audit_admin(vg_audit *a, int64_t uid, const char *user, const char *command,
                   JsonObject *args, int result, const char *error)
{
    JsonObject *f = json_object_new(), *copy;

    json_object_set_int_member(f, "uid", uid);
    set_string(f, "user", user);
    set_string(f, "command", command);
    copy = json_object_new();
    if (args) {
        JsonObjectIter it;
        const char *name;
        JsonNode *value;

        json_object_iter_init_ordered(&it, args);
        while (json_object_iter_next_ordered(&it, &name, &value)) {
            /* Scalars only, so a record stays small and flat. */
            if (secret_name(name) || !JSON_NODE_HOLDS_VALUE(value))
                continue;
            if (json_node_get_value_type(value) == G_TYPE_STRING)
                set_string(copy, name, json_node_get_string(value));
            else
                json_object_set_member(copy, name, json_node_copy(value));
        }
    }
    json_object_set_object_member(f, "args", copy);
    json_object_set_boolean_member(f, "ok", result == 0);
    if (result < 0) {
        set_string(f, "error", error ? error : g_strerror(-result));
        set_string(f, "code", strerrorname_np(-result));
    }
    return commit(a, "admin", f);
}

int vg_audit_eventv(vg_audit *a, const char *event, va_list ap)
{
    JsonObject *f;
    const char *name;

    if (!a || !event || !*event)
        return -EINVAL;
    f = json_object_new();
    while ((name = va_arg(ap, const char *))) {
        const char *value = va_arg(ap, const char *);
        if (value && *name && !secret_name(name) && strcmp(name, "time") != 0 &&
            strcmp(name, "event") != 0 && strcmp(name, "instance") != 0)
            set_string(f, name, value);
    }
    return commit(a, event, f);
}

int vg_audit_event(vg_audit *a, const char *event, ...)
{
    va_list ap;
    int r;

    va_start(ap, event);
    r = vg_audit_eventv(a, event, ap);
    va_end(ap);
    return r;
}

/* The last @n lines of the file; the caller holds a->lock. */
static int tail_locked(vg_audit *a, unsigned n, GPtrArray **out)
{
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *chunk = NULL, *data = NULL;
    struct stat st;
    off_t size, pos, start = 0;
    unsigned found = 0;

    if (n > VG_AUDIT_TAIL_MAX)
        n = VG_AUDIT_TAIL_MAX;
    if (fstat(a->fd, &st) < 0)
        return -errno;
    size = st.st_size;
    pos = size;
    if (n == 0 || size == 0)
        goto done;

    /* Walk back until n line starts are found, the file starts, or the cap is hit. */
    chunk = g_malloc(TAIL_CHUNK);
    while (pos > 0) {
        size_t want = (size_t)MIN((off_t)TAIL_CHUNK, pos);
        ssize_t got = pread(a->fd, chunk, want, pos - (off_t)want);
        if (got != (ssize_t)want)
            return got < 0 ? -errno : -EIO;
        pos -= (off_t)want;
        for (size_t i = want; i-- > 0;) {
            off_t at = pos + (off_t)i;
            if (chunk[i] != '\n' || at == size - 1)
                continue;
            start = at + 1;
            if (++found == n)
                goto read;
        }
        if (size - pos >= TAIL_BYTES_MAX) {
            if (found == 0)
                goto done; /* no whole line within the cap */
            goto read;     /* fewer lines, from the oldest whole one found */
        }
    }
    start = 0;

read:
    data = g_malloc((size_t)(size - start) + 1);
    if (pread(a->fd, data, (size_t)(size - start), start) != (ssize_t)(size - start))
        return -EIO;
    data[size - start] = '\0';
    for (char *p = data; *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        if (*p)
            g_ptr_array_add(lines, g_strdup(p));
        if (!nl)
            break;
        p = nl + 1;
    }
    /* The cap or a very long final line may have left more than asked. */
    if (lines->len > n)
        g_ptr_array_remove_range(lines, 0, lines->len - n);

done:
    *out = g_steal_pointer(&lines);
    return 0;
}

int vg_audit_tail(vg_audit *a, unsigned n, GPtrArray **lines)
{
    int r;

    if (!a || !lines)
        return -EINVAL;
    g_mutex_lock(&a->lock);
    r = tail_locked(a, n, lines);
    g_mutex_unlock(&a->lock);
    return r;
}

int vg_audit_follow(vg_audit *a, unsigned tail, vg_audit_listener fn, void *opaque,
                    GPtrArray **lines, unsigned *handle)
{
    listener l = {.fn = fn, .opaque = opaque};
    int r = 0;

    if (!a || !fn || !handle || (tail > 0 && !lines))
        return -EINVAL;
    g_mutex_lock(&a->lock);
    if (tail > 0 && (r = tail_locked(a, tail, lines)) < 0)
        goto out;
    l.handle = a->next_handle++;
    if (a->next_handle == 0)
        a->next_handle = 1;
    g_array_append_val(a->listeners, l);
    *handle = l.handle;
out:
    g_mutex_unlock(&a->lock);
    return r;
}

void vg_audit_unfollow(vg_audit *a, unsigned handle)
{
    if (!a)
        return;
    g_mutex_lock(&a->lock);
    for (guint i = 0; i < a->listeners->len; i++) {
        if (g_array_index(a->listeners, listener, i).handle == handle) {
            g_array_remove_index(a->listeners, i);
            break;
        }
    }
    g_mutex_unlock(&a->lock);
}

int vg_audit_check_writable(vg_audit *a, char *why, size_t why_len)
{
    struct statvfs vfs;
    int last;

    g_mutex_lock(&a->lock);
    last = a->last_error;
    g_mutex_unlock(&a->lock);
    if (last < 0) {
        g_snprintf(why, why_len, "the last record could not be written: %s", g_strerror(-last));
        return last;
    }
    if (access(a->path, W_OK) < 0) {
        int e = errno;
        g_snprintf(why, why_len, "%s: %s", a->path, g_strerror(e));
        return -e;
    }
    if (statvfs(a->path, &vfs) < 0) {
        int e = errno;
        g_snprintf(why, why_len, "%s: %s", a->path, g_strerror(e));
        return -e;
    }
    if (vfs.f_flag & ST_RDONLY) {
        g_snprintf(why, why_len, "%s: its file system is read-only", a->path);
        return -EROFS;
    }
    /* Root may use the reserved blocks (f_bfree); nobody can write past f_bfree. */
    if (vfs.f_bfree == 0) {
        g_snprintf(why, why_len, "%s: its file system is full", a->path);
        return -ENOSPC;
    }
    return 0;
}
