/*
 * vmgate — line I/O for the admin control protocol (see control.h): a
 * bounded line reader, a SIGPIPE-free writer, and connecting to the admin
 * socket.
 *
 * Threading: a reader belongs to the thread that reads with it.
 */
#include "control.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Bytes asked of read(2) at most at a time. */
#define READ_CHUNK (64 * 1024)

struct vg_control_reader {
    int fd;
    size_t max; /* longest line, '\n' included */
    char *buf;  /* cap bytes */
    size_t cap;
    size_t start; /* first byte not yet returned */
    size_t end;   /* end of the data read */
    size_t scan;  /* bytes from start known to hold no '\n' */
};

vg_control_reader *vg_control_reader_new(int fd, size_t max_line)
{
    vg_control_reader *r = g_new0(vg_control_reader, 1);

    r->fd = fd;
    r->max = max_line < 2 ? 2 : max_line;
    r->cap = MIN(r->max, (size_t)4096);
    r->buf = g_malloc(r->cap);
    return r;
}

void vg_control_reader_free(vg_control_reader *r)
{
    if (!r)
        return;
    explicit_bzero(r->buf, r->cap);
    g_free(r->buf);
    g_free(r);
}

/* Drop the lines already returned, wiping the bytes they leave behind. */
static void compact(vg_control_reader *r)
{
    size_t keep = r->end - r->start;

    if (r->start == 0)
        return;
    memmove(r->buf, r->buf + r->start, keep);
    explicit_bzero(r->buf + keep, r->end - keep);
    r->end = keep;
    r->start = 0;
}

/* Grow the buffer, up to max bytes, without leaving a copy in freed memory. */
static void grow(vg_control_reader *r)
{
    size_t cap = r->cap > r->max / 2 ? r->max : r->cap * 2;
    char *buf = g_malloc(cap);

    memcpy(buf, r->buf, r->end);
    explicit_bzero(r->buf, r->cap);
    g_free(r->buf);
    r->buf = buf;
    r->cap = cap;
}

int vg_control_reader_next(vg_control_reader *r, char **line, size_t *len)
{
    *line = NULL;
    *len = 0;
    compact(r);
    for (;;) {
        char *nl = memchr(r->buf + r->scan, '\n', r->end - r->scan);
        ssize_t n;

        if (nl) {
            size_t l = (size_t)(nl - r->buf);
            *nl = '\0';
            *line = r->buf;
            *len = l;
            r->start = l + 1;
            r->scan = 0;
            return 0;
        }
        r->scan = r->end;
        if (r->end >= r->max)
            return -E2BIG;
        if (r->end == r->cap)
            grow(r);
        n = read(r->fd, r->buf + r->end, MIN(r->cap - r->end, (size_t)READ_CHUNK));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return r->end == 0 ? 0 : -EPROTO;
        r->end += (size_t)n;
    }
}

int vg_control_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int vg_control_connect(const char *path, int *fd)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int s;

    if (!path || !*path)
        return -EINVAL;
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);

    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(s);
        return -e;
    }
    *fd = s;
    return 0;
}
