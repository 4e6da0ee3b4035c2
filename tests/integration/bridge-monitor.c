/*
 * bridge-monitor — drives vmm-bridge's registry against a real libvirtd for
 * the integration tests. It prints one line per event on stdout and takes
 * commands on stdin, so a test can watch consoles open, resize and close
 * while it starts, stops and restarts things.
 *
 * Events:   CONNECTED | DISCONNECTED <reason> | VM <name> <state> <console>
 *           | REMOVED <name> | CONSOLE-OPEN <name> | RESIZE <name> <w>x<h>
 *           | CLOSED <name> <reason>
 * Commands: shot <name> <file.png> <stable-ms> <timeout-s>
 *             → SHOT-OK <name> <w>x<h> | SHOT-FAIL <name> <why>
 *           pointer <name> <x> <y> <buttons> → POINTER-OK | POINTER-FAIL <why>
 *           wheel <name> <x> <y> <steps>     → WHEEL-OK | WHEEL-FAIL <why>
 *           type <name> <text with \n escapes> → TYPE-OK | TYPE-FAIL <why>
 *           quit
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "log.h"
#include "registry.h"
#include "type-text.h"
#include "util.h"

static GMutex out_lock;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    g_mutex_lock(&out_lock);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    g_mutex_unlock(&out_lock);
}

typedef struct watcher {
    char *name;
} watcher;

static GHashTable *watchers; /* name → watcher; supervisor thread only */

static void w_damage(void *opaque, const pixman_region32_t *d)
{
    (void)opaque;
    (void)d;
}

static void w_resize(void *opaque, uint32_t w, uint32_t h)
{
    watcher *wt = opaque;
    say("RESIZE %s %ux%u", wt->name, w, h);
}

static void w_closed(void *opaque, const char *reason)
{
    (void)opaque;
    (void)reason;
}

static const vg_surface_listener_ops watcher_ops = {w_damage, w_resize, NULL, w_closed};

static void watcher_free(gpointer p)
{
    watcher *w = p;
    g_free(w->name);
    g_free(w);
}

static const char *state_name(int s)
{
    switch (s) {
    case VIR_DOMAIN_RUNNING:
        return "running";
    case VIR_DOMAIN_PAUSED:
        return "paused";
    case VIR_DOMAIN_SHUTDOWN:
        return "shutting-down";
    case VIR_DOMAIN_SHUTOFF:
        return "shut-off";
    case VIR_DOMAIN_CRASHED:
        return "crashed";
    case VIR_DOMAIN_BLOCKED:
        return "blocked";
    default:
        return "unknown";
    }
}

static void ev_connection(void *opaque, bool up, const char *reason)
{
    (void)opaque;
    if (up)
        say("CONNECTED");
    else
        say("DISCONNECTED %s", reason);
}

static void ev_vm_changed(void *opaque, const vg_vm_info *vm)
{
    (void)opaque;
    say("VM %s %s %d", vm->name, state_name(vm->state), vm->console);
}

static void ev_vm_removed(void *opaque, const char *name)
{
    (void)opaque;
    say("REMOVED %s", name);
}

static void ev_console_opened(void *opaque, const char *name, vg_console *console)
{
    watcher *w = g_new0(watcher, 1);
    (void)opaque;
    w->name = g_strdup(name);
    say("CONSOLE-OPEN %s", name);
    g_hash_table_replace(watchers, g_strdup(name), w);
    vg_surface_add_listener(vg_console_surface(console), &watcher_ops, w);
}

static void ev_console_closed(void *opaque, const char *name, const char *reason)
{
    (void)opaque;
    /* The surface has dropped its listeners: the watcher can go. */
    g_hash_table_remove(watchers, name);
    say("CLOSED %s %s", name, reason);
}

static const vg_registry_events events = {
    .connection = ev_connection,
    .vm_changed = ev_vm_changed,
    .vm_removed = ev_vm_removed,
    .console_opened = ev_console_opened,
    .console_closed = ev_console_closed,
};

static void cmd_shot(vg_registry *reg, char **a, int n)
{
    vg_console *c;
    vg_surface *s;
    int r;
    int64_t deadline;

    if (n != 5) {
        say("SHOT-FAIL - usage: shot NAME FILE STABLE_MS TIMEOUT_S");
        return;
    }
    c = vg_registry_get_console(reg, a[1]);
    if (!c) {
        say("SHOT-FAIL %s no console", a[1]);
        return;
    }
    s = vg_console_surface(c);
    deadline = vg_now_us() + (int64_t)atoi(a[4]) * 1000000;
    r = vg_surface_wait_stable(s, (uint32_t)atoi(a[3]), deadline);
    if (r == 0)
        r = vg_surface_write_png(s, a[2]);
    if (r < 0) {
        say("SHOT-FAIL %s %s", a[1], g_strerror(-r));
    } else {
        vg_surface_lock(s);
        say("SHOT-OK %s %ux%u", a[1], vg_surface_width_locked(s), vg_surface_height_locked(s));
        vg_surface_unlock(s);
    }
    vg_console_unref(c);
}

static void cmd_input(vg_registry *reg, char **a, int n, const char *what)
{
    vg_console *c;
    int r;

    if (n < 3) {
        say("%s-FAIL usage", what);
        return;
    }
    c = vg_registry_get_console(reg, a[1]);
    if (!c) {
        say("%s-FAIL no console", what);
        return;
    }
    if (strcmp(what, "POINTER") == 0 && n == 5) {
        r = vg_display_source_send_pointer(vg_console_source(c), atoi(a[2]), atoi(a[3]),
                                           (uint32_t)atoi(a[4]));
    } else if (strcmp(what, "WHEEL") == 0 && n == 5) {
        r = vg_display_source_send_wheel(vg_console_source(c), atoi(a[2]), atoi(a[3]), 0,
                                         atoi(a[4]));
    } else if (strcmp(what, "TYPE") == 0) {
        size_t bad;
        g_autofree char *joined = g_strjoinv(" ", a + 2);
        g_autofree char *text = vg_type_unescape(joined, &bad);
        r = text ? vg_type_text(vg_console_source(c), text, 10) : -EINVAL;
    } else {
        r = -EINVAL;
    }
    if (r < 0)
        say("%s-FAIL %s", what, g_strerror(-r));
    else
        say("%s-OK", what);
    vg_console_unref(c);
}

int main(int argc, char **argv)
{
    vg_registry *reg = NULL;
    char line[4096];
    int r;

    if (argc != 2) {
        fprintf(stderr, "usage: bridge-monitor LIBVIRT-URI\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (getenv("VMGATE_LOG_LEVEL") && vg_log_parse_level(getenv("VMGATE_LOG_LEVEL")) > 0)
        vg_log_set_level(vg_log_parse_level(getenv("VMGATE_LOG_LEVEL")));
    watchers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, watcher_free);
    r = vg_registry_new(argv[1], NULL, &events, NULL, &reg);
    if (r < 0) {
        fprintf(stderr, "bridge-monitor: %s\n", g_strerror(-r));
        return 1;
    }
    while (fgets(line, sizeof(line), stdin)) {
        int n;
        char **a;
        g_strchomp(line);
        a = g_strsplit(line, " ", -1);
        n = (int)g_strv_length(a);
        if (n == 0) {
            g_strfreev(a);
            continue;
        }
        if (strcmp(a[0], "quit") == 0) {
            g_strfreev(a);
            break;
        } else if (strcmp(a[0], "shot") == 0) {
            cmd_shot(reg, a, n);
        } else if (strcmp(a[0], "pointer") == 0) {
            cmd_input(reg, a, n, "POINTER");
        } else if (strcmp(a[0], "wheel") == 0) {
            cmd_input(reg, a, n, "WHEEL");
        } else if (strcmp(a[0], "type") == 0) {
            cmd_input(reg, a, n, "TYPE");
        } else {
            say("ERROR unknown command %s", a[0]);
        }
        g_strfreev(a);
    }
    vg_registry_free(reg);
    g_hash_table_unref(watchers);
    say("BYE");
    return 0;
}
