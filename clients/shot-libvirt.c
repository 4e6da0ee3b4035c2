/*
 * vmgate-shot, libvirt mode: the console straight from libvirt
 * (virDomainOpenGraphicsFD), the same path the gateway uses.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "console.h"
#include "hypervisor.h"
#include "shot.h"
#include "util.h"

typedef struct lost_state {
    GMutex lock;
    char why[256];
} lost_state;

static void on_lost(void *opaque, vg_console *console, const char *why)
{
    lost_state *st = opaque;
    g_mutex_lock(&st->lock);
    g_strlcpy(st->why, why, sizeof(st->why));
    g_mutex_unlock(&st->lock);
    /* Wake the waiters; the surface's own close carries the reason. */
    vg_surface_close(vg_console_surface(console), why);
}

int shot_run_libvirt(const char *uri, const char *domain, const shot_options *opt)
{
    virConnectPtr conn;
    virDomainPtr dom;
    vg_console *console = NULL;
    const char *why = NULL;
    int state = 0, reason = 0, fd, r, rc;
    lost_state st;
    vg_console_events ev = {.lost = on_lost};

    vg_libvirt_quiet();
    conn = virConnectOpen(uri);
    if (!conn) {
        shot_fail(opt->failure, opt->failure_len, "cannot connect to %s: %s", uri,
                  vg_libvirt_last_error());
        return SHOT_EXIT_CONNECT;
    }
    dom = virDomainLookupByName(conn, domain);
    if (!dom) {
        shot_fail(opt->failure, opt->failure_len, "no domain '%s' on %s", domain, uri);
        virConnectClose(conn);
        return SHOT_EXIT_CONNECT;
    }
    if (virDomainGetState(dom, &state, &reason, 0) == 0 && state != VIR_DOMAIN_RUNNING &&
        state != VIR_DOMAIN_PAUSED) {
        shot_fail(opt->failure, opt->failure_len, "domain '%s' is not running", domain);
        virDomainFree(dom);
        virConnectClose(conn);
        return SHOT_EXIT_CONNECT;
    }
    fd = vg_libvirt_open_graphics(dom, &why);
    if (fd < 0) {
        shot_fail(opt->failure, opt->failure_len, "cannot open the console of '%s': %s", domain,
                  why);
        virDomainFree(dom);
        virConnectClose(conn);
        return SHOT_EXIT_CONNECT;
    }
    g_mutex_init(&st.lock);
    st.why[0] = 0;
    r = vg_console_new(domain, fd, &ev, &st, &console);
    if (r < 0) {
        shot_fail(opt->failure, opt->failure_len, "cannot start the console: %s", g_strerror(-r));
        rc = SHOT_EXIT_CONNECT;
    } else {
        rc = shot_finish(vg_console_source(console), opt);
        vg_console_free(console, "vmgate-shot done");
    }
    g_mutex_clear(&st.lock);
    virDomainFree(dom);
    virConnectClose(conn);
    return rc;
}
