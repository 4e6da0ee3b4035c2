/*
 * vmgate — admin live ops for vmgated. Threading is in daemon-live.h.
 */
#include "daemon-live.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "hypervisor.h"
#include "log.h"
#include "type-text.h"
#include "util.h"

#define TAG "admin"
/* Pause between key events: the guest's keyboard buffer must keep up. */
#define VG_ADMIN_KEY_DELAY_MS  10
#define VG_ADMIN_FRAME_WAIT_US (10 * 1000 * 1000)

static int live_vm_list(void *opaque, GArray **out)
{
    vg_daemon_live *l = opaque;
    GArray *vms, *res;

    /* Without libvirt (not yet, or not any more) the VMs known are not all
     * there are: say so rather than give a list that may lack some. */
    if (!vg_registry_connected(l->registry))
        return -ENOTCONN;
    vms = vg_registry_list(l->registry);
    res = g_array_new(FALSE, TRUE, sizeof(vg_admin_vm));

    for (guint i = 0; i < vms->len; i++) {
        const vg_vm_info *v = &g_array_index(vms, vg_vm_info, i);
        vg_admin_vm a;
        memset(&a, 0, sizeof(a));
        g_strlcpy(a.name, v->name, sizeof(a.name));
        g_strlcpy(a.uuid, v->uuid, sizeof(a.uuid));
        a.state = vg_vm_info_state_text(v);
        a.viewers = vg_sessions_viewer_count(l->sessions, v->name);
        g_array_append_val(res, a);
    }
    g_array_unref(vms);
    *out = res;
    return 0;
}

/* The VM's console with its first frame, or an error saying why not. */
static int get_console(vg_daemon_live *l, const char *vm, vg_console **out)
{
    GArray *vms;
    bool known = false;
    vg_console *c = vg_registry_get_console(l->registry, vm);

    if (c) {
        if (vg_surface_wait_frame(vg_console_surface(c), vg_now_us() + VG_ADMIN_FRAME_WAIT_US) ==
            0) {
            *out = c;
            return 0;
        }
        vg_console_unref(c);
        return -ENODEV;
    }
    vms = vg_registry_list(l->registry);
    for (guint i = 0; i < vms->len; i++)
        if (strcmp(g_array_index(vms, vg_vm_info, i).name, vm) == 0)
            known = true;
    g_array_unref(vms);
    return known ? -ENODEV : -ENOENT;
}

static int live_screenshot(void *opaque, const char *vm, uint8_t **png, size_t *len)
{
    vg_console *c = NULL;
    int r = get_console(opaque, vm, &c);
    if (r < 0)
        return r;
    r = vg_surface_encode_png(vg_console_surface(c), png, len);
    vg_console_unref(c);
    return r;
}

static int live_send_text(void *opaque, const char *vm, const char *text)
{
    vg_console *c = NULL;
    uint32_t bad;
    int r = vg_type_check(text, &bad);
    if (r < 0)
        return -EINVAL;
    if ((r = get_console(opaque, vm, &c)) < 0)
        return r;
    r = vg_type_text(vg_console_source(c), text, VG_ADMIN_KEY_DELAY_MS);
    vg_console_unref(c);
    return r;
}

static int live_send_combo(void *opaque, const char *vm, const uint16_t *qnums, int n)
{
    vg_console *c = NULL;
    vg_display_source *src;
    int r;

    if (n <= 0)
        return -EINVAL;
    if ((r = get_console(opaque, vm, &c)) < 0)
        return r;
    src = vg_console_source(c);
    /* Press in order, release in reverse: a chord as a person types it. */
    for (int i = 0; i < n && r == 0; i++) {
        r = vg_display_source_send_key(src, qnums[i], 0, true);
        g_usleep(VG_ADMIN_KEY_DELAY_MS * 1000);
    }
    for (int i = n - 1; i >= 0; i--) {
        int r2 = vg_display_source_send_key(src, qnums[i], 0, false);
        if (r == 0)
            r = r2;
        g_usleep(VG_ADMIN_KEY_DELAY_MS * 1000);
    }
    vg_console_unref(c);
    return r;
}

static int live_power(void *opaque, const char *vm, const char *action)
{
    vg_daemon_live *l = opaque;
    vg_power_action a;

    if (vg_power_action_parse(action, &a) < 0 || a == VG_POWER_ON)
        return -EINVAL;
    return vg_registry_power(l->registry, vm, a);
}

const vg_admin_live_ops vg_daemon_live_ops = {
    .vm_list = live_vm_list,
    .screenshot = live_screenshot,
    .send_text = live_send_text,
    .send_combo = live_send_combo,
    .power = live_power,
};
