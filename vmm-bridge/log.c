/*
 * vmgate — logging to stderr. One fprintf per line under stdio's own lock
 * keeps lines from different threads whole.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

int vg_log_threshold = VG_LOG_NOTICE;
static int use_syslog;

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
    vg_log_threshold = level;
}

int vg_log_parse_level(const char *name)
{
    for (int l = VG_LOG_ERROR; l <= VG_LOG_DEBUG; l++) {
        if (strcasecmp(name, level_names[l]) == 0)
            return l;
    }
    return -1;
}

void vg_log_write(int level, const char *tag, const char *fmt, ...)
{
    char msg[1024];
    struct timespec ts;
    struct tm tm;
    va_list ap;

    if (level < VG_LOG_ERROR || level > VG_LOG_DEBUG)
        level = VG_LOG_ERROR;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (use_syslog) {
        /* VG_LOG_* are syslog's own priorities. */
        syslog(level, "%s: %s", tag, msg);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            level_names[level], tag, msg);
}
