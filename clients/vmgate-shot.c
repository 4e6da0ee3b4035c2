/*
 * vmgate-shot — a headless console client for CI: connect to a VM's
 * screen, optionally type into it, wait until the screen is still, and
 * write a PNG.
 */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "log.h"
#include "shot.h"
#include "type-text.h"
#include "util.h"

static const char summary[] =
    "Connects to a virtual machine's console, optionally types text into it,\n"
    "waits until the screen is still, and writes a PNG screenshot.\n"
    "\n"
    "Mode (one is required):\n"
    "  --libvirt URI --domain NAME   straight to the VM through libvirt (local\n"
    "                                UNIX connection, e.g. qemu:///system)\n"
    "  --vnc HOST:PORT --user USER --password-file FILE [--ca FILE | --insecure]\n"
    "                                through vmgate's VNC front end (VeNCrypt\n"
    "                                X509Plain: TLS, then user and password);\n"
    "                                an IPv6 HOST goes in brackets, [::1]:5900.\n"
    "                                The password is the file's first line. The\n"
    "                                certificate must match HOST and be signed by\n"
    "                                a CA in --ca FILE (default: the system's);\n"
    "                                --insecure skips that check.\n"
    "  --rdp HOST:PORT --user USER --password-file FILE [--vm ID]\n"
    "      [--ca FILE | --insecure]  through vmgate's RDP front end: NLA or TLS\n"
    "                                (never standard RDP security), TLS 1.2 or\n"
    "                                newer, asking for lossless codecs only (a\n"
    "                                server that sends lossy ones anyway gets a\n"
    "                                warning). --vm ID is sent as the\n"
    "                                preconnection blob that chooses the VM.\n"
    "                                Password, IPv6 HOST and certificate checks\n"
    "                                as for --vnc.\n"
    "\n"
    "Text for --type: \\n is Enter, \\t Tab, \\e Escape, \\b BackSpace, \\\\ a\n"
    "backslash. Characters are typed as keys of a US keyboard layout.\n"
    "\n"
    "Exit status:\n"
    "  0  screenshot written\n"
    "  1  timed out (no complete screen, or the screen never became still)\n"
    "  2  usage error\n"
    "  3  authentication failed\n"
    "  4  could not connect, TLS or certificate error (or the connection was lost)\n"
    "  5  could not write the output file";

/* The first line of @path without its line end (LF or CRLF): the password.
 * Bounded like the gateway's limit; the caller wipes and frees it.
 * Returns an exit code. */
static int read_password_file(const char *path, char **out)
{
    enum { PASSWORD_MAX = 1024 };
    char buf[PASSWORD_MAX + 3]; /* the longest password, CR, LF, NUL */
    size_t len = 0, line;
    char *nl;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = SHOT_EXIT_USAGE;

    if (fd < 0) {
        fprintf(stderr, "vmgate-shot: --password-file %s: %s\n", path, g_strerror(errno));
        return SHOT_EXIT_USAGE;
    }
    while (len < sizeof(buf) - 1 && !memchr(buf, '\n', len)) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "vmgate-shot: --password-file %s: %s\n", path, g_strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    nl = memchr(buf, '\n', len);
    line = nl ? (size_t)(nl - buf) : len;
    if (line > 0 && buf[line - 1] == '\r')
        line--;
    buf[line] = '\0';
    if (line > PASSWORD_MAX)
        fprintf(stderr, "vmgate-shot: --password-file %s: the password is longer than %d bytes\n",
                path, PASSWORD_MAX);
    else if (line == 0)
        fprintf(stderr, "vmgate-shot: --password-file %s: the first line is empty\n", path);
    else if (strlen(buf) != line)
        fprintf(stderr, "vmgate-shot: --password-file %s: the password contains a NUL byte\n",
                path);
    else {
        *out = g_strdup(buf);
        rc = SHOT_EXIT_OK;
    }
out:
    explicit_bzero(buf, sizeof(buf));
    close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    g_autofree char *uri = NULL, *domain = NULL, *output = NULL, *type = NULL, *log_level = NULL;
    g_autofree char *vnc = NULL, *rdp = NULL, *vm = NULL, *user = NULL, *password_file = NULL;
    g_autofree char *ca = NULL;
    g_autofree char *host = NULL, *port = NULL;
    char *password = NULL;
    int wait_stable = -1, timeout = 30, key_delay = 10, rc;
    gboolean verbose = FALSE, insecure = FALSE;
    g_autoptr(GError) err = NULL;
    GOptionEntry entries[] = {
        {"libvirt", 0, 0, G_OPTION_ARG_STRING, &uri, "libvirt connection URI", "URI"},
        /* Names are taken as the UTF-8 bytes given, whatever the locale:
         * VM names are libvirt's (spaces, Unicode), and under a C locale
         * GOption would refuse a string argument that is not ASCII. */
        {"domain", 0, 0, G_OPTION_ARG_FILENAME, &domain, "libvirt domain (VM) name", "NAME"},
        {"vnc", 0, 0, G_OPTION_ARG_STRING, &vnc, "vmgate's VNC front end", "HOST:PORT"},
        {"rdp", 0, 0, G_OPTION_ARG_STRING, &rdp, "vmgate's RDP front end", "HOST:PORT"},
        {"user", 0, 0, G_OPTION_ARG_FILENAME, &user, "user name for --vnc or --rdp", "USER"},
        {"password-file", 0, 0, G_OPTION_ARG_FILENAME, &password_file,
         "file whose first line is the password for --vnc or --rdp", "FILE"},
        {"vm", 0, 0, G_OPTION_ARG_FILENAME, &vm, "VM to ask the RDP front end for", "ID"},
        {"ca", 0, 0, G_OPTION_ARG_FILENAME, &ca,
         "CA certificates (PEM) that sign the server's certificate", "FILE"},
        {"insecure", 0, 0, G_OPTION_ARG_NONE, &insecure,
         "do not check the server's certificate (tests only)", NULL},
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "PNG file to write", "FILE.png"},
        {"type", 0, 0, G_OPTION_ARG_STRING, &type, "type TEXT before the screenshot", "TEXT"},
        {"wait-stable", 0, 0, G_OPTION_ARG_INT, &wait_stable,
         "wait until the screen has not changed for MS milliseconds", "MS"},
        {"timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "give up after S seconds (default 30)", "S"},
        {"key-delay", 0, 0, G_OPTION_ARG_INT, &key_delay,
         "pause after each key event while typing (default 10)", "MS"},
        {"log-level", 0, 0, G_OPTION_ARG_STRING, &log_level,
         "error, warning, notice (default), info or debug", "LEVEL"},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "same as --log-level=info", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("- screenshot and type into a VM console");
    shot_options opt = {0};
    g_autofree char *text = NULL;

    setlocale(LC_ALL, "");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx, summary);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "vmgate-shot: %s\nTry 'vmgate-shot --help'.\n", err->message);
        return SHOT_EXIT_USAGE;
    }
    {
        const char *names[] = {domain, user, vm};
        for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
            if (names[i] && !g_utf8_validate(names[i], -1, NULL)) {
                fprintf(stderr, "vmgate-shot: --domain, --user and --vm take UTF-8 text\n");
                return SHOT_EXIT_USAGE;
            }
        }
    }
    if (argc > 1) {
        fprintf(stderr, "vmgate-shot: unexpected argument '%s'\nTry 'vmgate-shot --help'.\n",
                argv[1]);
        return SHOT_EXIT_USAGE;
    }
    if (log_level) {
        int l = vg_log_parse_level(log_level);
        if (l < 0) {
            fprintf(stderr, "vmgate-shot: unknown log level '%s'\n", log_level);
            return SHOT_EXIT_USAGE;
        }
        vg_log_set_level(l);
    } else if (verbose) {
        vg_log_set_level(VG_LOG_INFO);
    }
    if ((uri != NULL) + (vnc != NULL) + (rdp != NULL) != 1) {
        fprintf(stderr, "vmgate-shot: choose one mode: --libvirt URI --domain NAME, --vnc "
                        "HOST:PORT or --rdp HOST:PORT\nTry 'vmgate-shot --help'.\n");
        return SHOT_EXIT_USAGE;
    }
    if (vm && !rdp) {
        fprintf(stderr, "vmgate-shot: --vm is for --rdp\n");
        return SHOT_EXIT_USAGE;
    }
    if (uri) {
        if (!domain) {
            fprintf(stderr, "vmgate-shot: --libvirt needs --domain NAME\n");
            return SHOT_EXIT_USAGE;
        }
        if (user || password_file || ca || insecure) {
            fprintf(stderr, "vmgate-shot: --user, --password-file, --ca and --insecure are for "
                            "--vnc and --rdp\n");
            return SHOT_EXIT_USAGE;
        }
    } else {
        const char *mode = vnc ? "--vnc" : "--rdp";
        const char *where = vnc ? vnc : rdp;

        if (domain) {
            fprintf(stderr, "vmgate-shot: --domain is for --libvirt\n");
            return SHOT_EXIT_USAGE;
        }
        if (shot_parse_host_port(where, &host, &port) < 0) {
            fprintf(stderr,
                    "vmgate-shot: %s '%s' is not HOST:PORT (IPv6 in brackets: "
                    "[::1]:%s; port 1 to 65535)\n",
                    mode, where, vnc ? "5900" : "3389");
            return SHOT_EXIT_USAGE;
        }
        if (!user || !user[0] || !password_file) {
            fprintf(stderr, "vmgate-shot: %s needs --user USER and --password-file FILE\n", mode);
            return SHOT_EXIT_USAGE;
        }
        if (vm && (!vm[0] || strlen(vm) > 255 || !g_utf8_validate(vm, -1, NULL))) {
            fprintf(stderr, "vmgate-shot: --vm must be 1 to 255 bytes of UTF-8\n");
            return SHOT_EXIT_USAGE;
        }
        if (strlen(user) > 255) {
            fprintf(stderr, "vmgate-shot: --user is longer than 255 bytes\n");
            return SHOT_EXIT_USAGE;
        }
        if (ca && insecure) {
            fprintf(stderr, "vmgate-shot: --ca and --insecure exclude each other\n");
            return SHOT_EXIT_USAGE;
        }
        if (ca && access(ca, R_OK) < 0) {
            fprintf(stderr, "vmgate-shot: --ca %s: %s\n", ca, g_strerror(errno));
            return SHOT_EXIT_USAGE;
        }
    }
    if (!output) {
        fprintf(stderr, "vmgate-shot: --output FILE.png is required\n");
        return SHOT_EXIT_USAGE;
    }
    if (timeout <= 0 || timeout > 24 * 3600) {
        fprintf(stderr, "vmgate-shot: --timeout must be between 1 and 86400 seconds\n");
        return SHOT_EXIT_USAGE;
    }
    if (wait_stable < -1 || wait_stable > 3600 * 1000) {
        fprintf(stderr, "vmgate-shot: --wait-stable must be between 0 and 3600000 ms\n");
        return SHOT_EXIT_USAGE;
    }
    if (key_delay < 0 || key_delay > 10000) {
        fprintf(stderr, "vmgate-shot: --key-delay must be between 0 and 10000 ms\n");
        return SHOT_EXIT_USAGE;
    }
    if (type) {
        size_t bad_at = 0;
        uint32_t bad = 0;
        text = vg_type_unescape(type, &bad_at);
        if (!text) {
            fprintf(stderr, "vmgate-shot: --type: unknown escape '\\%c' at offset %zu\n",
                    type[bad_at + 1], bad_at);
            return SHOT_EXIT_USAGE;
        }
        int r = vg_type_check(text, &bad);
        if (r == -EINVAL) {
            fprintf(stderr, "vmgate-shot: --type: text is not valid UTF-8\n");
            return SHOT_EXIT_USAGE;
        }
        if (r < 0) {
            fprintf(stderr, "vmgate-shot: --type: U+%04X has no key on the US layout\n", bad);
            return SHOT_EXIT_USAGE;
        }
    }
    if (vnc || rdp) {
        rc = read_password_file(password_file, &password);
        if (rc != SHOT_EXIT_OK)
            return rc;
    }
    opt.output = output;
    opt.type_text = text;
    opt.wait_stable_ms = wait_stable;
    opt.timeout_s = timeout;
    opt.key_delay_ms = key_delay;
    opt.deadline_us = vg_now_us() + (int64_t)timeout * 1000000;
    if (uri)
        return shot_run_libvirt(uri, domain, &opt);

    if (rdp) {
        shot_rdp_params rp = {
            .host = host,
            .port = port,
            .user = user,
            .password = password,
            .vm = vm,
            .ca_file = ca,
            .insecure = insecure,
        };
        rc = shot_run_rdp(&rp, &opt);
    } else {
        shot_vnc_params vp = {
            .host = host,
            .port = port,
            .user = user,
            .password = password,
            .ca_file = ca,
            .insecure = insecure,
        };
        rc = shot_run_vnc(&vp, &opt);
    }
    explicit_bzero(password, strlen(password));
    g_free(password);
    return rc;
}
