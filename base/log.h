/*
 * vmgate — logging.
 *
 * Levels follow syslog. Every module passes its own tag; lines about a
 * connection carry its id, user and VM in the message. Debug lines cost a
 * single comparison when the level is below debug.
 */
#ifndef VG_LOG_H
#define VG_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum vg_log_level {
    VG_LOG_ERROR = 3,
    VG_LOG_WARNING = 4,
    VG_LOG_NOTICE = 5,
    VG_LOG_INFO = 6,
    VG_LOG_DEBUG = 7,
} vg_log_level;

/** The current threshold; lines above it are dropped. Read it with
 * vg_log_level_now(): a reload (SIGHUP) changes it while other threads log. */
extern int vg_log_threshold;

/** The current threshold (a relaxed atomic read: one load on x86). */
static inline int vg_log_level_now(void)
{
    return __atomic_load_n(&vg_log_threshold, __ATOMIC_RELAXED);
}

/** Set the threshold (VG_LOG_*). */
void vg_log_set_level(int level);

/**
 * Parse a level name ("error", "warning", "notice", "info", "debug").
 * @return the level, or -1 if the name is unknown.
 */
int vg_log_parse_level(const char *name);

/** Send log lines to syslog(3) as @ident (daemon facility) instead of stderr. */
void vg_log_use_syslog(const char *ident);

/**
 * Look again at whether stderr is the systemd journal: $JOURNAL_STREAM
 * ("device:inode", set by systemd for a service whose stderr goes to the
 * journal) names the file stderr is open on now. A child that inherited
 * the variable but writes elsewhere (a terminal, a file) is not the
 * journal. vg_log_write checks once by itself; call this after changing
 * stderr or the variable. Not thread-safe: call it before logging threads run.
 */
void vg_log_detect_journal(void);

/**
 * Whether @journal_stream ("device:inode", as in $JOURNAL_STREAM; NULL is
 * fine) names the file open on @fd.
 */
int vg_log_fd_is_journal(const char *journal_stream, int fd);

/**
 * Write one line to stderr: "<time> <level> <tag>: message", or, when
 * stderr is the journal, "<N><tag>: message" with sd-daemon's priority
 * prefix (N is the VG_LOG_* level; the journal stamps the time). Thread-safe. The
 * message is escaped (vg_log_escape): peer-supplied strings in it (user
 * names, VM names, reasons) cannot start a new line or move the cursor of
 * whoever reads the log on a terminal.
 */
void vg_log_write(int level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * Copy @in to @out (@len bytes, @len >= 1), always NUL-terminated and cut
 * if needed: control characters (C0, DEL, C1) and bytes that are not valid
 * UTF-8 become "\\xNN" (C1 code points "\\u00NN"); everything else,
 * UTF-8 included, is kept. A sequence is never cut in the middle.
 */
void vg_log_escape(const char *in, char *out, size_t len);

#define vg_log(level, tag, ...)                                                                    \
    do {                                                                                           \
        if ((level) <= vg_log_level_now())                                                         \
            vg_log_write((level), (tag), __VA_ARGS__);                                             \
    } while (0)

#define vg_error(tag, ...)   vg_log(VG_LOG_ERROR, tag, __VA_ARGS__)
#define vg_warning(tag, ...) vg_log(VG_LOG_WARNING, tag, __VA_ARGS__)
#define vg_notice(tag, ...)  vg_log(VG_LOG_NOTICE, tag, __VA_ARGS__)
#define vg_info(tag, ...)    vg_log(VG_LOG_INFO, tag, __VA_ARGS__)
#define vg_debug(tag, ...)   vg_log(VG_LOG_DEBUG, tag, __VA_ARGS__)

#endif /* VG_LOG_H */
