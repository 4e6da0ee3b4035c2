/*
 * vmgate-shot — a headless console client for CI: connect to a VM's
 * screen and run a script of steps over that one connection (type, keys,
 * pointer, wait for needles or text, screenshots), with JUnit and JSON
 * results; --type, --wait-stable and --output are one-step shorthands.
 * "vmgate-shot needle" cuts and checks needles offline.
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
#include "shot-needle.h"
#include "shot-ocr.h"
#include "shot-report.h"
#include "shot-run.h"
#include "shot-script.h"
#include "shot.h"
#include "util.h"

/* A script is text someone wrote: far below this. */
#define SCRIPT_MAX_BYTES (1024 * 1024)

static const char summary[] =
    "Connects to a virtual machine's console and runs steps over that one\n"
    "connection: typing, keys, pointer, waiting for needles or text on the\n"
    "screen, screenshots. Results per step as JUnit XML or JSON.\n"
    "\n"
    "Mode (one is required):\n"
    "  --libvirt URI --domain NAME   straight to the VM through libvirt (local\n"
    "                                UNIX connection, e.g. qemu:///system; the\n"
    "                                console's VNC socket, so keys and pointer)\n"
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
    "Steps (--script FILE, or - for standard input; one a line, words split\n"
    "as by a shell, # starts a comment; all checked before connecting):\n"
    "  type TEXT                     type on the current layout (escapes below)\n"
    "  key COMBO...                  ctrl-alt-del, alt-f2, shift-tab, super, tab*3\n"
    "  move X Y                      move the pointer\n"
    "  click [left|right|middle] [X Y], double-click [BUTTON] [X Y]\n"
    "  drag X1 Y1 X2 Y2 [BUTTON], scroll up|down [N] [X Y]\n"
    "  wait-still MS [--timeout S]   until the screen has not changed for MS ms\n"
    "  wait-screen NEEDLE [--timeout S], wait-gone NEEDLE [--timeout S]\n"
    "  click-needle NEEDLE [BUTTON] [--timeout S]  wait, then click its area\n"
    "  assert-screen NEEDLE          the needle is on the screen now\n"
    "  wait-text TEXT [--area X,Y,W,H] [--timeout S]  text read by Tesseract\n"
    "  screenshot FILE, sleep MS, layout NAME (us, de, fr, gb, ...)\n"
    "  expect-fail CHECK...          passes when the check fails\n"
    "A NEEDLE is NAME.png with NAME.json beside it (openQA's format), looked\n"
    "up in --needles DIR (default: the script's directory).\n"
    "\n"
    "--type TEXT, --wait-stable MS and --output FILE are the steps type,\n"
    "wait-still and screenshot, run in that order after the script's steps.\n"
    "Text for type: \\n is Enter, \\t Tab, \\e Escape, \\b BackSpace, \\\\ a\n"
    "backslash (in a script, in single quotes). Characters are typed as keys\n"
    "of the --layout keyboard layout (default us) through libxkbcommon.\n"
    "\n"
    "Offline, without a VM (see vmgate-shot(1)):\n"
    "  vmgate-shot needle --from SCREEN.png --area X,Y,W,H --name NAME\n"
    "                                cut a needle: NAME.png and NAME.json\n"
    "  vmgate-shot needle --check NAME --from SCREEN.png [--diff FILE.png]\n"
    "                                does the needle match that screen?\n"
    "  vmgate-shot text --from SCREEN.png [--area X,Y,W,H]\n"
    "                                the text wait-text reads there\n"
    "\n"
    "Exit status:\n"
    "  0  every step passed\n"
    "  1  a step failed or timed out (or no complete first screen)\n"
    "  2  usage error, or a script that does not check out\n"
    "  3  authentication failed\n"
    "  4  could not connect, TLS or certificate error (or the connection was lost)\n"
    "  5  could not write an output file (screenshot or report)";

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

/* A script's text from FILE or "-" (standard input), bounded. */
static int read_script(const char *path, char **out)
{
    g_autoptr(GError) err = NULL;
    gsize len = 0;

    if (strcmp(path, "-") != 0) {
        if (!g_file_get_contents(path, out, &len, &err)) {
            fprintf(stderr, "vmgate-shot: --script %s: %s\n", path, err->message);
            return SHOT_EXIT_USAGE;
        }
    } else {
        GString *buf = g_string_new(NULL);
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0 && buf->len <= SCRIPT_MAX_BYTES)
            g_string_append_len(buf, chunk, (gssize)n);
        len = buf->len;
        *out = g_string_free(buf, FALSE);
    }
    if (len > SCRIPT_MAX_BYTES || strlen(*out) != len) {
        fprintf(stderr, "vmgate-shot: --script %s: %s\n", path,
                len > SCRIPT_MAX_BYTES ? "larger than 1 MiB" : "contains a NUL byte");
        g_clear_pointer(out, g_free);
        return SHOT_EXIT_USAGE;
    }
    return SHOT_EXIT_OK;
}

/* Append one shorthand step given as words. */
static int add_shorthand(shot_script *script, const char *option, int argc, char **argv)
{
    char why[512];
    g_autofree char *source = g_strjoinv(" ", argv);

    if (shot_script_add_argv(script, "command line", 0, source, argc, argv, why, sizeof(why)) < 0) {
        fprintf(stderr, "vmgate-shot: %s: %s\n", option, why);
        return SHOT_EXIT_USAGE;
    }
    return SHOT_EXIT_OK;
}

/* "vmgate-shot needle": cut a needle from a screenshot, or check one
 * against a screenshot. */
static int needle_main(int argc, char **argv)
{
    g_autofree char *from = NULL, *name = NULL, *check = NULL, *diff = NULL;
    g_auto(GStrv) areas = NULL, tags = NULL;
    double match = SHOT_NEEDLE_DEFAULT_MATCH;
    int margin = SHOT_NEEDLE_DEFAULT_MARGIN;
    GOptionEntry entries[] = {
        {"from", 0, 0, G_OPTION_ARG_FILENAME, &from, "the screenshot (PNG)", "SCREEN.png"},
        {"area", 0, 0, G_OPTION_ARG_STRING_ARRAY, &areas, "an area to match (repeat for more)",
         "X,Y,W,H"},
        {"name", 0, 0, G_OPTION_ARG_FILENAME, &name,
         "write NAME.png and NAME.json (NAME may hold a directory)", "NAME"},
        {"match", 0, 0, G_OPTION_ARG_DOUBLE, &match,
         "similarity each area needs, percent (default 96)", "P"},
        {"margin", 0, 0, G_OPTION_ARG_INT, &margin, "how far an area may move, pixels (default 20)",
         "PX"},
        {"tag", 0, 0, G_OPTION_ARG_STRING_ARRAY, &tags, "a tag (default: the name)", "TAG"},
        {"check", 0, 0, G_OPTION_ARG_FILENAME, &check,
         "instead: does needle NEEDLE match SCREEN.png?", "NEEDLE"},
        {"diff", 0, 0, G_OPTION_ARG_FILENAME, &diff, "with --check: write a diff image",
         "FILE.png"},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("- cut or check a needle");
    g_autoptr(GError) err = NULL;
    shot_image screen = {0};
    char why[512];
    int rc = SHOT_EXIT_USAGE;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(
        ctx, "Cut: vmgate-shot needle --from SCREEN.png --area X,Y,W,H --name NAME\n"
             "  writes NAME.png (the whole screen) and NAME.json (openQA's needle format)\n"
             "  with one \"match\" area per --area.\n"
             "Check: vmgate-shot needle --check NEEDLE --from SCREEN.png [--diff FILE.png]\n"
             "  prints the similarity; exit 0 when the needle matches, 1 when not.");
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "vmgate-shot needle: %s\nTry 'vmgate-shot needle --help'.\n", err->message);
        return SHOT_EXIT_USAGE;
    }
    if (argc > 1) {
        fprintf(stderr, "vmgate-shot needle: unexpected argument '%s'\n", argv[1]);
        return SHOT_EXIT_USAGE;
    }
    if (!from || (!check && (!name || !areas)) || (check && (name || areas))) {
        fprintf(stderr, "vmgate-shot needle: give --from SCREEN.png and either --area X,Y,W,H "
                        "and --name NAME, or --check NEEDLE\n");
        return SHOT_EXIT_USAGE;
    }
    if (!(match > 0 && match <= 100) || margin < 0 || margin > SHOT_NEEDLE_MAX_MARGIN) {
        fprintf(stderr,
                "vmgate-shot needle: --match is above 0 and at most 100, --margin 0 to %d\n",
                SHOT_NEEDLE_MAX_MARGIN);
        return SHOT_EXIT_USAGE;
    }
    if (shot_image_load_png(from, &screen, why, sizeof(why)) < 0) {
        fprintf(stderr, "vmgate-shot needle: %s\n", why);
        return SHOT_EXIT_USAGE;
    }
    if (check) {
        shot_needle *n = NULL;
        shot_match m = {0};
        if (shot_needle_load(check, &n, why, sizeof(why)) < 0) {
            fprintf(stderr, "vmgate-shot needle: %s\n", why);
            goto out;
        }
        shot_needle_match(n, &screen, &m);
        printf("%s: %s, similarity %.1f%%", n->name, m.matched ? "matches" : "does not match",
               m.similarity);
        printf(" (first area at %d,%d)", n->areas[m.first].rect.x + m.dx[m.first],
               n->areas[m.first].rect.y + m.dy[m.first]);
        printf("\n");
        rc = m.matched ? SHOT_EXIT_OK : SHOT_EXIT_TIMEOUT;
        if (diff) {
            shot_image d = {0};
            int e = shot_needle_diff(n, &screen, &m, &d);
            if (e == 0)
                e = shot_image_save_png(&d, diff);
            if (e < 0) {
                fprintf(stderr, "vmgate-shot needle: cannot write %s: %s\n", diff, g_strerror(-e));
                rc = SHOT_EXIT_OUTPUT;
            }
            shot_image_clear(&d);
        }
        shot_match_clear(&m);
        shot_needle_free(n);
        goto out;
    }
    {
        guint n = g_strv_length(areas);
        g_autofree shot_rect *rects = g_new0(shot_rect, n);
        for (guint i = 0; i < n; i++) {
            if (shot_rect_parse(areas[i], &rects[i]) < 0) {
                fprintf(stderr, "vmgate-shot needle: --area '%s' is not X,Y,W,H\n", areas[i]);
                goto out;
            }
        }
        if (g_str_has_suffix(name, ".png") || g_str_has_suffix(name, ".json"))
            *strrchr(name, '.') = '\0';
        {
            g_autofree char *dir = g_path_get_dirname(name);
            if (g_mkdir_with_parents(dir, 0755) < 0) {
                fprintf(stderr, "vmgate-shot needle: cannot create %s: %s\n", dir,
                        g_strerror(errno));
                rc = SHOT_EXIT_OUTPUT;
                goto out;
            }
        }
        if (shot_needle_write(&screen, name, rects, n, match, margin, tags, why, sizeof(why)) < 0) {
            fprintf(stderr, "vmgate-shot needle: %s\n", why);
            rc = strstr(why, "inside") ? SHOT_EXIT_USAGE : SHOT_EXIT_OUTPUT;
            goto out;
        }
        printf("wrote %s.png and %s.json\n", name, name);
        rc = SHOT_EXIT_OK;
    }
out:
    shot_image_clear(&screen);
    return rc;
}

/* "vmgate-shot text": what wait-text reads on a screenshot. */
static int text_main(int argc, char **argv)
{
    g_autofree char *from = NULL, *area = NULL;
    GOptionEntry entries[] = {
        {"from", 0, 0, G_OPTION_ARG_FILENAME, &from, "the screenshot (PNG)", "SCREEN.png"},
        {"area", 0, 0, G_OPTION_ARG_STRING, &area, "only this area", "X,Y,W,H"},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("- read the text on a screenshot");
    g_autoptr(GError) err = NULL;
    g_autofree char *text = NULL;
    shot_image screen = {0};
    shot_ocr *ocr = NULL;
    shot_rect r;
    char why[512];
    int rc = SHOT_EXIT_USAGE, e;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(
        ctx, "Prints the text the wait-text step reads (Tesseract) on SCREEN.png.");
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "vmgate-shot text: %s\nTry 'vmgate-shot text --help'.\n", err->message);
        return SHOT_EXIT_USAGE;
    }
    if (argc > 1 || !from) {
        fprintf(stderr, "vmgate-shot text: give --from SCREEN.png [--area X,Y,W,H]\n");
        return SHOT_EXIT_USAGE;
    }
    if (area && shot_rect_parse(area, &r) < 0) {
        fprintf(stderr, "vmgate-shot text: --area '%s' is not X,Y,W,H\n", area);
        return SHOT_EXIT_USAGE;
    }
    if (shot_image_load_png(from, &screen, why, sizeof(why)) < 0) {
        fprintf(stderr, "vmgate-shot text: %s\n", why);
        return SHOT_EXIT_USAGE;
    }
    if (shot_ocr_new("eng", &ocr, why, sizeof(why)) < 0) {
        fprintf(stderr, "vmgate-shot text: %s\n", why);
        goto out;
    }
    e = shot_ocr_read(ocr, &screen, area ? &r : NULL, &text);
    if (e < 0) {
        fprintf(stderr, "vmgate-shot text: %s\n",
                e == -EINVAL ? "the area is not inside the screenshot" : g_strerror(-e));
        goto out;
    }
    fputs(text, stdout);
    rc = SHOT_EXIT_OK;
out:
    shot_ocr_free(ocr);
    shot_image_clear(&screen);
    return rc;
}

/* The artifacts directory and prefix: --artifacts DIR, else beside the
 * first report, named after it. */
static void artifacts_place(const char *dir, const char *junit, const char *json, char **out_dir,
                            char **out_prefix)
{
    const char *report = junit ? junit : json;

    *out_dir = *out_prefix = NULL;
    if (dir) {
        *out_dir = g_strdup(dir);
        *out_prefix = g_strdup("");
    } else if (report) {
        g_autofree char *base = g_path_get_basename(report);
        char *dot = strrchr(base, '.');
        if (dot && dot != base)
            *dot = '\0';
        *out_dir = g_path_get_dirname(report);
        *out_prefix = g_strdup_printf("%s-", base);
    }
}

static int write_reports(const char *junit, const char *json, const shot_script *script,
                         GPtrArray *results, int rc, int64_t started_us)
{
    double seconds = (double)(vg_now_us() - started_us) / 1e6;
    char why[512];
    int out = rc;

    if (junit && shot_report_junit(junit, script, results, seconds, why, sizeof(why)) < 0) {
        fprintf(stderr, "vmgate-shot: --junit: %s\n", why);
        if (out == SHOT_EXIT_OK)
            out = SHOT_EXIT_OUTPUT;
    }
    if (json && shot_report_json(json, script, results, rc, seconds, why, sizeof(why)) < 0) {
        fprintf(stderr, "vmgate-shot: --json: %s\n", why);
        if (out == SHOT_EXIT_OK)
            out = SHOT_EXIT_OUTPUT;
    }
    return out;
}

static const char *connection_failure(int rc)
{
    switch (rc) {
    case SHOT_EXIT_AUTH:
        return "authentication failed";
    case SHOT_EXIT_TIMEOUT:
        return "timed out connecting";
    case SHOT_EXIT_USAGE:
        return "the connection's parameters were refused";
    default:
        return "could not connect";
    }
}

int main(int argc, char **argv)
{
    g_autofree char *uri = NULL, *domain = NULL, *output = NULL, *type = NULL, *log_level = NULL;
    g_autofree char *vnc = NULL, *rdp = NULL, *vm = NULL, *user = NULL, *password_file = NULL;
    g_autofree char *ca = NULL, *script_path = NULL, *layout = NULL, *junit = NULL;
    g_autofree char *json = NULL, *artifacts = NULL, *needles = NULL;
    g_autofree char *host = NULL, *port = NULL, *art_dir = NULL, *art_prefix = NULL;
    g_autofree char *needle_dir = NULL;
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
        {"script", 0, 0, G_OPTION_ARG_FILENAME, &script_path,
         "run the steps of FILE (- for standard input)", "FILE"},
        {"layout", 0, 0, G_OPTION_ARG_STRING, &layout,
         "the guest's keyboard layout for typing (default us)", "NAME"},
        {"needles", 0, 0, G_OPTION_ARG_FILENAME, &needles,
         "where needles are looked up (default: the script's directory)", "DIR"},
        {"junit", 0, 0, G_OPTION_ARG_FILENAME, &junit, "write JUnit XML results", "FILE"},
        {"json", 0, 0, G_OPTION_ARG_FILENAME, &json, "write JSON results", "FILE"},
        {"artifacts", 0, 0, G_OPTION_ARG_FILENAME, &artifacts,
         "keep failing screens and diffs here (default: beside the report)", "DIR"},
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "PNG file to write at the end",
         "FILE.png"},
        {"type", 0, 0, G_OPTION_ARG_STRING, &type, "a type step after the script's steps", "TEXT"},
        {"wait-stable", 0, 0, G_OPTION_ARG_INT, &wait_stable,
         "then a wait-still step: the screen unchanged for MS milliseconds", "MS"},
        {"timeout", 0, 0, G_OPTION_ARG_INT, &timeout,
         "give up connecting after S seconds; also each waiting step's default (30)", "S"},
        {"key-delay", 0, 0, G_OPTION_ARG_INT, &key_delay,
         "pause after each key or pointer event (default 10)", "MS"},
        {"log-level", 0, 0, G_OPTION_ARG_STRING, &log_level,
         "error, warning, notice (default), info or debug", "LEVEL"},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "same as --log-level=info", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- run steps on a VM console: screenshots, keys, pointer, needles");
    shot_options opt = {0};
    shot_script *script = NULL;
    shot_ocr *ocr = NULL;
    GPtrArray *results = NULL;
    int64_t started = vg_now_us();
    char why[512], failure[512] = "";

    setlocale(LC_ALL, "");
    if (argc > 1 && strcmp(argv[1], "needle") == 0)
        return needle_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "text") == 0)
        return text_main(argc - 1, argv + 1);
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
    if (!output && !script_path) {
        fprintf(stderr, "vmgate-shot: give --script FILE, or --output FILE.png for a "
                        "screenshot\n");
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
    /* A report that cannot be written is better known before the run. */
    {
        const char *reports[] = {junit, json};
        const char *names[] = {"--junit", "--json"};
        for (size_t i = 0; i < G_N_ELEMENTS(reports); i++) {
            g_autofree char *dir = reports[i] ? g_path_get_dirname(reports[i]) : NULL;
            if (dir && access(dir, W_OK) < 0) {
                fprintf(stderr, "vmgate-shot: %s %s: %s: %s\n", names[i], reports[i], dir,
                        g_strerror(errno));
                return SHOT_EXIT_USAGE;
            }
        }
    }
    if (artifacts && g_mkdir_with_parents(artifacts, 0755) < 0) {
        fprintf(stderr, "vmgate-shot: --artifacts %s: %s\n", artifacts, g_strerror(errno));
        return SHOT_EXIT_USAGE;
    }

    /* The whole script is read and checked before anything connects. */
    if (needles)
        needle_dir = g_strdup(needles);
    else if (script_path && strcmp(script_path, "-") != 0)
        needle_dir = g_path_get_dirname(script_path);
    script = shot_script_new(script_path ? (strcmp(script_path, "-") ? script_path : "-")
                                         : "command line",
                             layout, needle_dir, timeout, why, sizeof(why));
    if (!script) {
        fprintf(stderr, "vmgate-shot: --layout: %s\n", why);
        return SHOT_EXIT_USAGE;
    }
    rc = SHOT_EXIT_OK;
    if (script_path) {
        g_autofree char *text = NULL;
        g_autoptr(GString) errors = g_string_new(NULL);
        rc = read_script(script_path, &text);
        if (rc == SHOT_EXIT_OK &&
            shot_script_add_text(script, strcmp(script_path, "-") ? script_path : "<stdin>", text,
                                 errors) > 0) {
            fprintf(stderr, "%s", errors->str);
            fprintf(stderr, "vmgate-shot: the script has errors; nothing was run\n");
            rc = SHOT_EXIT_USAGE;
        }
    }
    if (rc == SHOT_EXIT_OK && type) {
        char *words[] = {"type", type, NULL};
        rc = add_shorthand(script, "--type", 2, words);
    }
    if (rc == SHOT_EXIT_OK && wait_stable >= 0) {
        g_autofree char *ms = g_strdup_printf("%d", wait_stable);
        char *words[] = {"wait-still", ms, NULL};
        rc = add_shorthand(script, "--wait-stable", 2, words);
    }
    if (rc == SHOT_EXIT_OK && output) {
        char *words[] = {"screenshot", output, NULL};
        rc = add_shorthand(script, "--output", 2, words);
    }
    /* An empty script would pass without looking at anything. */
    if (rc == SHOT_EXIT_OK && script->steps->len == 0) {
        fprintf(stderr, "vmgate-shot: --script %s has no steps\n", script_path);
        rc = SHOT_EXIT_USAGE;
    }
    if (rc == SHOT_EXIT_OK && script->needs_ocr &&
        shot_ocr_new("eng", &ocr, why, sizeof(why)) < 0) {
        fprintf(stderr, "vmgate-shot: wait-text: %s\n", why);
        rc = SHOT_EXIT_USAGE;
    }
    if (rc == SHOT_EXIT_OK && (vnc || rdp))
        rc = read_password_file(password_file, &password);
    if (rc != SHOT_EXIT_OK)
        goto out;

    artifacts_place(artifacts, junit, json, &art_dir, &art_prefix);
    results = shot_results_new();
    opt.script = script;
    opt.ocr = ocr;
    opt.results = results;
    opt.artifacts_dir = art_dir;
    opt.artifacts_prefix = art_prefix;
    opt.timeout_s = timeout;
    opt.key_delay_ms = key_delay;
    opt.deadline_us = vg_now_us() + (int64_t)timeout * 1000000;
    opt.failure = failure;
    opt.failure_len = sizeof(failure);
    if (uri) {
        rc = shot_run_libvirt(uri, domain, &opt);
    } else if (rdp) {
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
    /* A mode that failed before the first screen added no results. */
    if (results->len == 0 && rc != SHOT_EXIT_OK)
        shot_results_add_connection_failure(results, script,
                                            failure[0] ? failure : connection_failure(rc));
    rc = write_reports(junit, json, script, results, rc, started);
out:
    if (password) {
        explicit_bzero(password, strlen(password));
        g_free(password);
    }
    if (results)
        g_ptr_array_unref(results);
    shot_ocr_free(ocr);
    shot_script_free(script);
    return rc;
}
