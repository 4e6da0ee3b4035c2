/*
 * vmgate — logging to stderr. One fprintf per line under stdio's own lock
 * keeps lines from different threads whole. When stderr is the journal the
 * line starts with sd-daemon's "<N>" priority prefix instead of a time and
 * a level name, so journald files each line at its own priority (printed
 * by hand: the prefix is the whole protocol, and base/ needs no libsystemd).
 */
#include "log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

int vg_log_threshold = VG_LOG_NOTICE;
static int use_syslog;
static int to_journal;
static pthread_once_t journal_once = PTHREAD_ONCE_INIT;

int vg_log_fd_is_journal(const char *journal_stream, int fd)
{
    uintmax_t dev, ino;
    int used = 0;
    struct stat st;

    if (!journal_stream ||
        sscanf(journal_stream, "%" SCNuMAX ":%" SCNuMAX "%n", &dev, &ino, &used) != 2 ||
        journal_stream[used] != '\0')
        return 0;
    if (fstat(fd, &st) < 0)
        return 0;
    return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

void vg_log_detect_journal(void)
{
    to_journal = vg_log_fd_is_journal(getenv("JOURNAL_STREAM"), STDERR_FILENO);
}

void vg_log_use_syslog(const char *ident)
{
    openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    use_syslog = 1;
}

static const char *const level_names[] = {
    [VG_LOG_ERROR] = "error", [VG_LOG_WARNING] = "warning", [VG_LOG_NOTICE] = "notice",
    [VG_LOG_INFO] = "info",   [VG_LOG_DEBUG] = "debug",
};

void vg_log_set_level(int level)
{
    if (level < VG_LOG_ERROR)
        level = VG_LOG_ERROR;
    if (level > VG_LOG_DEBUG)
        level = VG_LOG_DEBUG;
    __atomic_store_n(&vg_log_threshold, level, __ATOMIC_RELAXED);
}

int vg_log_parse_level(const char *name)
{
    for (int l = VG_LOG_ERROR; l <= VG_LOG_DEBUG; l++) {
        if (strcasecmp(name, level_names[l]) == 0)
            return l;
    }
    return -1;
}

/*
 * By hand rather than g_strescape(): that one also escapes every non-ASCII
 * byte, which would turn a UTF-8 user or VM name into octal noise.
 */
void vg_log_escape(const char *in, char *out, size_t len)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)in;

    while (*p) {
        char piece[8];
        size_t n;
        int seq = 1;

        if (*p < 0x20 || *p == 0x7f) {
            n = (size_t)snprintf(piece, sizeof(piece), "\\x%02x", *p);
        } else if (*p < 0x80) {
            piece[0] = (char)*p;
            n = 1;
        } else {
            /* The length of a valid UTF-8 sequence here, or 0. */
            seq = (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
            for (int i = 1; i < seq; i++) {
                if ((p[i] & 0xc0) != 0x80) {
                    seq = 0;
                    break;
                }
            }
            if (seq && !g_utf8_validate((const char *)p, seq, NULL))
                seq = 0;
            if (!seq) {
                seq = 1;
                n = (size_t)snprintf(piece, sizeof(piece), "\\x%02x", *p);
            } else if (seq == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
                n = (size_t)snprintf(piece, sizeof(piece), "\\u%04x", p[1]); /* C1 control */
            } else {
                memcpy(piece, p, (size_t)seq);
                n = (size_t)seq;
            }
        }
        if (o + n >= len)
            break;
        memcpy(out + o, piece, n);
        o += n;
        p += seq;
    }
    out[o] = '\0';
}

void vg_log_write(int level, const char *tag, const char *fmt, ...)
{
    char raw[1024], msg[1024];
    struct timespec ts;
    struct tm tm;
    va_list ap;

    if (level < VG_LOG_ERROR || level > VG_LOG_DEBUG)
        level = VG_LOG_ERROR;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    vg_log_escape(raw, msg, sizeof(msg));
    if (use_syslog) {
        /* VG_LOG_* are syslog's own priorities. */
        syslog(level, "%s: %s", tag, msg);
        return;
    }
    pthread_once(&journal_once, vg_log_detect_journal);
    if (to_journal) {
        fprintf(stderr, "<%d>%s: %s\n", level, tag, msg);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            level_names[level], tag, msg);
}
