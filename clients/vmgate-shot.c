/*
 * vmgate-shot — a headless console client for CI: connect to a VM's
 * screen, optionally type into it, wait until the screen is still, and
 * write a PNG.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    "\n"
    "Text for --type: \\n is Enter, \\t Tab, \\e Escape, \\b BackSpace, \\\\ a\n"
    "backslash. Characters are typed as keys of a US keyboard layout.\n"
    "\n"
    "Exit status:\n"
    "  0  screenshot written\n"
    "  1  timed out (no complete screen, or the screen never became still)\n"
    "  2  usage error\n"
    "  3  authentication failed\n"
    "  4  could not connect (or the connection was lost)\n"
    "  5  could not write the output file";

int main(int argc, char **argv)
{
    g_autofree char *uri = NULL, *domain = NULL, *output = NULL, *type = NULL, *log_level = NULL;
    int wait_stable = -1, timeout = 30, key_delay = 10;
    gboolean verbose = FALSE;
    g_autoptr(GError) err = NULL;
    GOptionEntry entries[] = {
        {"libvirt", 0, 0, G_OPTION_ARG_STRING, &uri, "libvirt connection URI", "URI"},
        {"domain", 0, 0, G_OPTION_ARG_STRING, &domain, "libvirt domain (VM) name", "NAME"},
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

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx, summary);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "vmgate-shot: %s\nTry 'vmgate-shot --help'.\n", err->message);
        return SHOT_EXIT_USAGE;
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
    if (!uri) {
        fprintf(stderr, "vmgate-shot: choose a mode: --libvirt URI --domain NAME\n"
                        "Try 'vmgate-shot --help'.\n");
        return SHOT_EXIT_USAGE;
    }
    if (!domain) {
        fprintf(stderr, "vmgate-shot: --libvirt needs --domain NAME\n");
        return SHOT_EXIT_USAGE;
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
    opt.output = output;
    opt.type_text = text;
    opt.wait_stable_ms = wait_stable;
    opt.timeout_s = timeout;
    opt.key_delay_ms = key_delay;
    opt.deadline_us = vg_now_us() + (int64_t)timeout * 1000000;
    return shot_run_libvirt(uri, domain, &opt);
}
