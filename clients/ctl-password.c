/*
 * vmgate — reading a new password for vmgatectl (see ctl-password.h).
 *
 * Threading: single-threaded; the signal handler only restores the saved
 * terminal mode (tcsetattr is async-signal-safe) and re-raises.
 */
#include "ctl-password.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <glib.h>

static struct termios saved_mode;
static volatile sig_atomic_t echo_off;

static void restore_and_reraise(int sig)
{
    if (echo_off)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_mode);
    signal(sig, SIG_DFL);
    raise(sig);
}

/*
 * Read one line from @fd into @buf (capacity VG_CTL_PASSWORD_MAX + 1),
 * byte by byte so nothing after the line is consumed or buffered.
 * @return 0 with the line NUL-terminated (without "\n" or "\r\n");
 *         -ENODATA if empty; -E2BIG; -EIO.
 */
static int read_line(int fd, char *buf)
{
    size_t len = 0;
    bool too_long = false;

    for (;;) {
        char c;
        ssize_t n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -EIO;
        if (n == 0 || c == '\n')
            break;
        if (len < VG_CTL_PASSWORD_MAX)
            buf[len++] = c;
        else
            too_long = true;
    }
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    buf[len] = '\0';
    if (too_long)
        return -E2BIG;
    return len == 0 ? -ENODATA : 0;
}

/* Not SIGTSTP: after a stop and SIGCONT the prompt would go on reading with echo on. */
static const int caught[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

static int ask(const char *prompt, char *buf)
{
    struct sigaction sa = {.sa_handler = restore_and_reraise}, old[G_N_ELEMENTS(caught)];
    struct termios quiet;
    int r;

    if (tcgetattr(STDIN_FILENO, &saved_mode) < 0)
        return -ENOTTY;
    for (size_t i = 0; i < G_N_ELEMENTS(caught); i++)
        sigaction(caught[i], &sa, &old[i]);
    quiet = saved_mode;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
    quiet.c_lflag |= ICANON;
    /* Echo off (dropping anything typed ahead) before the prompt invites typing. */
    echo_off = 1;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    fputs(prompt, stderr);
    fflush(stderr);
    r = read_line(STDIN_FILENO, buf);
    tcsetattr(STDIN_FILENO, TCSANOW, &saved_mode);
    echo_off = 0;
    fputc('\n', stderr);
    for (size_t i = 0; i < G_N_ELEMENTS(caught); i++)
        sigaction(caught[i], &old[i], NULL);
    return r;
}

int vg_ctl_prompt_password(const char *user, char **out)
{
    char *first = g_malloc0(VG_CTL_PASSWORD_MAX + 1);
    char *second = g_malloc0(VG_CTL_PASSWORD_MAX + 1);
    g_autofree char *prompt = g_strdup_printf("New password for %s: ", user);
    int r;

    if (!isatty(STDIN_FILENO)) {
        r = -ENOTTY;
        goto fail;
    }
    if ((r = ask(prompt, first)) < 0)
        goto fail;
    if ((r = ask("Retype the new password: ", second)) < 0)
        goto fail;
    if (strcmp(first, second) != 0) {
        r = -EKEYREJECTED;
        goto fail;
    }
    vg_ctl_password_free(second);
    *out = first;
    return 0;

fail:
    vg_ctl_password_free(first);
    vg_ctl_password_free(second);
    return r;
}

int vg_ctl_read_password_stdin(char **out)
{
    char *buf = g_malloc0(VG_CTL_PASSWORD_MAX + 1);
    int r = read_line(STDIN_FILENO, buf);

    if (r < 0) {
        vg_ctl_password_free(buf);
        return r;
    }
    *out = buf;
    return 0;
}

void vg_ctl_password_free(char *password)
{
    if (!password)
        return;
    explicit_bzero(password, VG_CTL_PASSWORD_MAX + 1);
    g_free(password);
}
