/*
 * vmgate — VM registry. Threading rules are in registry.h; `lock` guards
 * the table for readers on other threads, the supervisor thread is the only
 * writer.
 */
#include "registry.h"

#include <errno.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "hypervisor.h"
#include "log.h"
#include "metrics.h"
#include "util.h"
#include "vm-filter.h"

#define TAG "registry"
/* After the console socket ends while libvirt still says the domain runs,
 * wait this long for libvirt to learn its fate (QEMU closes its sockets while
 * it quits, a moment before libvirt reaps it) before deciding it was only the
 * display connection. libvirt is asked again every 100 ms meanwhile. */
#define VG_LOST_GRACE_US (1500 * 1000)
/* A VM libvirt no longer has after its console ended: its STOPPED or
 * UNDEFINED event, which says why, is waited for this long. */
#define VG_GONE_GRACE_US (5 * 1000 * 1000)
/* How long a domain may sit in "being shut down" before we stop waiting for
 * the event that says why it stopped. */
#define VG_STOPPING_GRACE_US (15 * 1000 * 1000)
#define VG_REOPEN_MIN_US     (200 * 1000)
#define VG_REOPEN_MAX_US     (5 * 1000 * 1000)

typedef struct vm {
    vg_vm_info info;
    vg_console *console;
    int64_t lost_at;      /* console ended at (0: not lost) */
    bool reconnect;       /* the console was lost while the VM ran: the next open is a reconnect */
    int64_t next_open_at; /* earliest retry of a failed open */
    int64_t open_backoff;
    bool seen; /* resync mark */
} vm;

struct vg_registry {
    vg_hypervisor *hv;
    vg_registry_events events;
    void *opaque;
    GMutex lock;
    GHashTable *vms;      /* name → vm */
    vg_vm_filter *filter; /* the VMs served; NULL: all */
    bool connected;
};

typedef struct lost_msg {
    vg_registry *reg;
    vg_console *console; /* reference */
} lost_msg;

static void vm_free(gpointer p)
{
    vm *v = p;
    vg_console_free(v->console, "the gateway is shutting down");
    g_free(v);
}

static void notify_vm(vg_registry *reg, vm *v)
{
    vg_vm_info info;

    g_mutex_lock(&reg->lock);
    v->info.console = v->console != NULL;
    info = v->info;
    g_mutex_unlock(&reg->lock);
    if (reg->events.vm_changed)
        reg->events.vm_changed(reg->opaque, &info);
}

static void close_console(vg_registry *reg, vm *v, const char *reason)
{
    vg_console *c;

    g_mutex_lock(&reg->lock);
    c = v->console;
    v->console = NULL;
    v->lost_at = 0;
    v->reconnect = false;
    g_mutex_unlock(&reg->lock);
    if (!c)
        return;
    vg_notice(TAG, "vm=%s: console closed: %s", v->info.name, reason);
    vg_console_free(c, reason);
    if (reg->events.console_closed)
        reg->events.console_closed(reg->opaque, v->info.name, reason);
}

static void console_lost_on_supervisor(void *data)
{
    lost_msg *m = data;
    vg_registry *reg = m->reg;
    GHashTableIter it;
    gpointer val;

    g_hash_table_iter_init(&it, reg->vms);
    while (g_hash_table_iter_next(&it, NULL, &val)) {
        vm *v = val;
        if (v->console == m->console && !v->lost_at)
            v->lost_at = vg_now_us();
    }
    vg_console_unref(m->console);
    g_free(m);
}

/* Console thread: hand over to the supervisor thread. */
static void console_lost(void *opaque, vg_console *console, const char *why)
{
    vg_registry *reg = opaque;
    lost_msg *m = g_new0(lost_msg, 1);
    (void)why;
    m->reg = reg;
    m->console = vg_console_ref(console);
    vg_hypervisor_post(reg->hv, console_lost_on_supervisor, m);
}

static const vg_console_events console_events = {.lost = console_lost};

static void open_console(vg_registry *reg, virConnectPtr conn, vm *v)
{
    virDomainPtr dom;
    const char *why = NULL;
    vg_console *c;
    int fd, r;
    int64_t now = vg_now_us();

    if (v->console || v->info.state != VIR_DOMAIN_RUNNING || now < v->next_open_at)
        return;
    dom = virDomainLookupByUUIDString(conn, v->info.uuid);
    if (!dom) {
        vg_warning(TAG, "vm=%s: lookup failed: %s", v->info.name, vg_libvirt_last_error());
        return;
    }
    fd = vg_libvirt_open_graphics(dom, &why);
    if (fd < 0) {
        /* why points into libvirt's error, which virDomainFree resets: log first. */
        vg_warning(TAG, "vm=%s: cannot open console: %s", v->info.name, why);
        virDomainFree(dom);
        v->open_backoff =
            v->open_backoff ? MIN(v->open_backoff * 2, VG_REOPEN_MAX_US) : VG_REOPEN_MIN_US;
        v->next_open_at = now + v->open_backoff;
        return;
    }
    virDomainFree(dom);
    r = vg_console_new(v->info.name, fd, &console_events, reg, &c);
    if (r < 0) {
        vg_warning(TAG, "vm=%s: cannot start console: %s", v->info.name, g_strerror(-r));
        v->next_open_at = now + VG_REOPEN_MAX_US;
        return;
    }
    v->open_backoff = 0;
    v->next_open_at = 0;
    if (v->reconnect) {
        v->reconnect = false;
        vg_counter_add(&vg_metrics.console_reconnects, 1);
    }
    g_mutex_lock(&reg->lock);
    v->console = c;
    g_mutex_unlock(&reg->lock);
    vg_info(TAG, "vm=%s: console opened", v->info.name);
    if (reg->events.console_opened)
        reg->events.console_opened(reg->opaque, v->info.name, c);
    notify_vm(reg, v);
}

/* What other threads read of a VM (vg_registry_list) is written under the
 * lock, by the supervisor thread, the only writer. */
static void set_state(vg_registry *reg, vm *v, int state)
{
    g_mutex_lock(&reg->lock);
    v->info.state = state;
    g_mutex_unlock(&reg->lock);
}

static vm *get_or_add(vg_registry *reg, const char *name, const char *uuid)
{
    vm *v = g_hash_table_lookup(reg->vms, name);
    if (!v) {
        v = g_new0(vm, 1);
        g_strlcpy(v->info.name, name, sizeof(v->info.name));
        v->info.state = VIR_DOMAIN_NOSTATE;
        g_mutex_lock(&reg->lock);
        g_hash_table_insert(reg->vms, g_strdup(name), v);
        g_mutex_unlock(&reg->lock);
    }
    g_mutex_lock(&reg->lock);
    g_strlcpy(v->info.uuid, uuid, sizeof(v->info.uuid));
    g_mutex_unlock(&reg->lock);
    return v;
}

static void remove_vm(vg_registry *reg, vm *v, const char *reason)
{
    char name[sizeof(v->info.name)];
    close_console(reg, v, reason);
    g_strlcpy(name, v->info.name, sizeof(name));
    g_mutex_lock(&reg->lock);
    g_hash_table_remove(reg->vms, name);
    g_mutex_unlock(&reg->lock);
    if (reg->events.vm_removed)
        reg->events.vm_removed(reg->opaque, name);
}

/* Learn a domain's state from libvirt; false if it no longer exists. */
static bool refresh_state(vg_registry *reg, virConnectPtr conn, vm *v, int *reason)
{
    virDomainPtr dom = virDomainLookupByUUIDString(conn, v->info.uuid);
    int state = VIR_DOMAIN_NOSTATE, why = 0;
    if (!dom)
        return false;
    if (virDomainGetState(dom, &state, &why, 0) < 0) {
        virDomainFree(dom);
        return false;
    }
    virDomainFree(dom);
    set_state(reg, v, state);
    if (reason)
        *reason = why;
    return true;
}

static void on_connected(void *opaque, virConnectPtr conn)
{
    vg_registry *reg = opaque;
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, 0);
    GHashTableIter it;
    gpointer val;
    GPtrArray *gone = g_ptr_array_new();

    if (n < 0) {
        vg_warning(TAG, "cannot list domains: %s", vg_libvirt_last_error());
        n = 0;
    }
    g_hash_table_iter_init(&it, reg->vms);
    while (g_hash_table_iter_next(&it, NULL, &val))
        ((vm *)val)->seen = false;
    for (int i = 0; i < n; i++) {
        char uuid[VIR_UUID_STRING_BUFLEN] = "";
        int state = VIR_DOMAIN_NOSTATE, why = 0;
        vm *v;

        if (!vg_vm_filter_match(reg->filter, virDomainGetName(doms[i]))) {
            virDomainFree(doms[i]);
            continue;
        }
        virDomainGetUUIDString(doms[i], uuid);
        virDomainGetState(doms[i], &state, &why, 0);
        v = get_or_add(reg, virDomainGetName(doms[i]), uuid);
        v->seen = true;
        set_state(reg, v, state);
        virDomainFree(doms[i]);
        if (state != VIR_DOMAIN_RUNNING && state != VIR_DOMAIN_PAUSED && v->console)
            close_console(reg, v, "the VM stopped");
        open_console(reg, conn, v);
        notify_vm(reg, v);
    }
    free(doms);
    g_hash_table_iter_init(&it, reg->vms);
    while (g_hash_table_iter_next(&it, NULL, &val))
        if (!((vm *)val)->seen)
            g_ptr_array_add(gone, val);
    for (guint i = 0; i < gone->len; i++)
        remove_vm(reg, gone->pdata[i], "the VM no longer exists");
    g_ptr_array_free(gone, TRUE);
    /* Connected once the VMs are known: until then a list of them would be
     * partial, and a VM missing from it taken for one that does not exist. */
    g_mutex_lock(&reg->lock);
    reg->connected = true;
    g_mutex_unlock(&reg->lock);
    if (reg->events.connection)
        reg->events.connection(reg->opaque, true, "connected");
}

static void on_disconnected(void *opaque, const char *reason)
{
    vg_registry *reg = opaque;
    /* Consoles talk to QEMU directly and survive a libvirtd restart. */
    g_mutex_lock(&reg->lock);
    reg->connected = false;
    g_mutex_unlock(&reg->lock);
    if (reg->events.connection)
        reg->events.connection(reg->opaque, false, reason);
}

static void on_domain_event(void *opaque, virConnectPtr conn, const char *name, const char *uuid,
                            int event, int detail)
{
    vg_registry *reg = opaque;
    vm *v;

    if (!vg_vm_filter_match(reg->filter, name))
        return; /* not one of ours */
    vg_debug(TAG, "vm=%s: lifecycle event %d detail %d", name, event, detail);
    if (event != VIR_DOMAIN_EVENT_STARTED && event != VIR_DOMAIN_EVENT_DEFINED &&
        event != VIR_DOMAIN_EVENT_RESUMED && !g_hash_table_lookup(reg->vms, name))
        return; /* already gone (a transient VM's stop is followed by its undefine) */
    v = get_or_add(reg, name, uuid);
    switch (event) {
    case VIR_DOMAIN_EVENT_STOPPED:
        set_state(reg, v, VIR_DOMAIN_SHUTOFF);
        close_console(reg, v, vg_libvirt_stopped_reason(detail));
        if (!refresh_state(reg, conn, v, NULL)) {
            remove_vm(reg, v, vg_libvirt_stopped_reason(detail));
            return;
        }
        break;
    case VIR_DOMAIN_EVENT_UNDEFINED:
        if (!refresh_state(reg, conn, v, NULL)) {
            remove_vm(reg, v, "the VM was undefined");
            return;
        }
        break;
    case VIR_DOMAIN_EVENT_SHUTDOWN:
        /* The guest finished shutting down; STOPPED follows with the reason. */
        if (refresh_state(reg, conn, v, NULL))
            notify_vm(reg, v);
        return;
    case VIR_DOMAIN_EVENT_STARTED:
    case VIR_DOMAIN_EVENT_RESUMED:
    case VIR_DOMAIN_EVENT_SUSPENDED:
    case VIR_DOMAIN_EVENT_DEFINED:
    default:
        if (!refresh_state(reg, conn, v, NULL)) {
            remove_vm(reg, v, "the VM no longer exists");
            return;
        }
        if (event == VIR_DOMAIN_EVENT_STARTED) {
            v->next_open_at = 0;
            v->open_backoff = 0;
        }
        open_console(reg, conn, v);
        break;
    }
    notify_vm(reg, v);
}

/* Consoles whose socket ended: decide why once libvirt knows, reopen if the
 * VM is still running. Retry failed opens. */
static int on_tick(void *opaque, virConnectPtr conn)
{
    vg_registry *reg = opaque;
    GHashTableIter it;
    gpointer val;
    int64_t now = vg_now_us();
    int wait_ms = 1000;
    GPtrArray *work = g_ptr_array_new();

    g_hash_table_iter_init(&it, reg->vms);
    while (g_hash_table_iter_next(&it, NULL, &val))
        g_ptr_array_add(work, val);
    for (guint i = 0; i < work->len; i++) {
        vm *v = work->pdata[i];
        if (v->lost_at) {
            int why = 0;
            int64_t waited = now - v->lost_at;
            bool known = refresh_state(reg, conn, v, &why);
            /* libvirt's state says why as soon as libvirt knows (the
             * lifecycle event follows); while it still says running, give
             * it a moment before deciding only the display was lost. (While
             * libvirt destroys a VM, asking blocks until it is done.) A VM
             * libvirt no longer has waits for the event that says why. */
            if ((known && v->info.state == VIR_DOMAIN_RUNNING && waited < VG_LOST_GRACE_US) ||
                (!known && waited < VG_GONE_GRACE_US)) {
                wait_ms = MIN(wait_ms, 100);
                continue;
            }
            if (!known) {
                remove_vm(reg, v, "the VM stopped and no longer exists");
                continue;
            }
            switch (v->info.state) {
            case VIR_DOMAIN_SHUTOFF:
                close_console(reg, v, vg_libvirt_shutoff_reason(why));
                break;
            case VIR_DOMAIN_CRASHED:
                close_console(reg, v, "the VM crashed");
                break;
            case VIR_DOMAIN_SHUTDOWN:
                /* Being stopped: the lifecycle event with the reason follows. */
                if (waited < VG_STOPPING_GRACE_US) {
                    wait_ms = MIN(wait_ms, 100);
                    continue;
                }
                close_console(reg, v, "the VM is shutting down");
                break;
            default: {
                /* The console refused the VM's screen mode: say so, and do
                 * not reconnect at once to be refused again. */
                const char *refusal = v->console ? vg_console_refusal(v->console) : NULL;
                g_autofree char *reason =
                    g_strdup(refusal ? refusal : "the connection to the VM's display was lost");
                close_console(reg, v, reason);
                v->reconnect = true;
                if (refusal)
                    v->next_open_at = now + VG_REOPEN_MAX_US;
                break;
            }
            }
            notify_vm(reg, v);
        }
        if (!v->console && v->info.state == VIR_DOMAIN_RUNNING) {
            open_console(reg, conn, v);
            if (!v->console && v->next_open_at)
                wait_ms = MIN(wait_ms, (int)MAX(1, (v->next_open_at - now) / 1000));
        }
    }
    g_ptr_array_free(work, TRUE);
    return wait_ms;
}

static const vg_hypervisor_events hv_events = {
    .connected = on_connected,
    .disconnected = on_disconnected,
    .domain_event = on_domain_event,
    .tick = on_tick,
};

int vg_registry_new(const char *uri, const char *vms, const vg_registry_events *events,
                    void *opaque, vg_registry **out)
{
    g_autofree char *err = NULL;
    vg_vm_filter *filter = NULL;
    vg_registry *reg;
    int r;

    if (vg_vm_filter_parse(vms, &filter, &err) < 0) {
        vg_warning(TAG, "VM name patterns refused: %s", err);
        return -EINVAL;
    }
    reg = g_new0(vg_registry, 1);
    reg->filter = filter;
    if (events)
        reg->events = *events;
    reg->opaque = opaque;
    g_mutex_init(&reg->lock);
    reg->vms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, vm_free);
    r = vg_hypervisor_new(uri, &hv_events, reg, &reg->hv);
    if (r < 0) {
        g_hash_table_unref(reg->vms);
        g_mutex_clear(&reg->lock);
        vg_vm_filter_free(reg->filter);
        g_free(reg);
        return r;
    }
    *out = reg;
    return 0;
}

void vg_registry_free(vg_registry *reg)
{
    if (!reg)
        return;
    vg_hypervisor_free(reg->hv);
    g_hash_table_unref(reg->vms);
    g_mutex_clear(&reg->lock);
    vg_vm_filter_free(reg->filter);
    g_free(reg);
}

static gint cmp_info(gconstpointer a, gconstpointer b)
{
    return strcmp(((const vg_vm_info *)a)->name, ((const vg_vm_info *)b)->name);
}

GArray *vg_registry_list(vg_registry *reg)
{
    GArray *out = g_array_new(FALSE, FALSE, sizeof(vg_vm_info));
    GHashTableIter it;
    gpointer val;

    g_mutex_lock(&reg->lock);
    g_hash_table_iter_init(&it, reg->vms);
    while (g_hash_table_iter_next(&it, NULL, &val)) {
        vm *v = val;
        vg_vm_info info = v->info;
        info.console = v->console != NULL;
        g_array_append_val(out, info);
    }
    g_mutex_unlock(&reg->lock);
    g_array_sort(out, cmp_info);
    return out;
}

vg_console *vg_registry_get_console(vg_registry *reg, const char *name)
{
    vg_console *c = NULL;
    vm *v;
    g_mutex_lock(&reg->lock);
    v = g_hash_table_lookup(reg->vms, name);
    if (v && v->console)
        c = vg_console_ref(v->console);
    g_mutex_unlock(&reg->lock);
    return c;
}

vg_vm_state vg_vm_info_state(const vg_vm_info *info)
{
    switch (info->state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
        return VG_VM_RUNNING;
    case VIR_DOMAIN_PAUSED:
    case VIR_DOMAIN_PMSUSPENDED:
        return VG_VM_PAUSED;
    case VIR_DOMAIN_SHUTOFF:
        return VG_VM_SHUTOFF;
    default:
        return VG_VM_UNAVAILABLE;
    }
}

const char *vg_vm_info_state_text(const vg_vm_info *info)
{
    switch (info->state) {
    case VIR_DOMAIN_RUNNING:
        return "running";
    case VIR_DOMAIN_BLOCKED:
        return "blocked";
    case VIR_DOMAIN_PAUSED:
        return "paused";
    case VIR_DOMAIN_SHUTDOWN:
        return "shutting-down";
    case VIR_DOMAIN_SHUTOFF:
        return "shut-off";
    case VIR_DOMAIN_CRASHED:
        return "crashed";
    case VIR_DOMAIN_PMSUSPENDED:
        return "suspended";
    default:
        return "unknown";
    }
}

static const char *const power_names[] = {
    [VG_POWER_START] = "start",     [VG_POWER_SHUTDOWN] = "shutdown",
    [VG_POWER_DESTROY] = "destroy", [VG_POWER_SUSPEND] = "suspend",
    [VG_POWER_RESUME] = "resume",   [VG_POWER_ON] = "on",
};

const char *vg_power_action_name(vg_power_action action)
{
    return (unsigned)action < G_N_ELEMENTS(power_names) ? power_names[action] : "?";
}

int vg_power_action_parse(const char *name, vg_power_action *out)
{
    for (size_t i = 0; name && i < G_N_ELEMENTS(power_names); i++)
        if (strcmp(name, power_names[i]) == 0) {
            *out = (vg_power_action)i;
            return 0;
        }
    return -EINVAL;
}

/* VG_POWER_ON: what brings @dom to running from the state it is in. */
static int power_on(virDomainPtr dom)
{
    int state = 0, reason = 0;

    if (virDomainGetState(dom, &state, &reason, 0) < 0)
        return -1;
    if (state == VIR_DOMAIN_PAUSED || state == VIR_DOMAIN_PMSUSPENDED)
        return virDomainResume(dom);
    if (state == VIR_DOMAIN_SHUTOFF)
        return virDomainCreate(dom);
    return 0;
}

int vg_registry_power(vg_registry *reg, const char *name, vg_power_action action)
{
    virConnectPtr conn;
    virDomainPtr dom;
    int r;

    if ((unsigned)action >= G_N_ELEMENTS(power_names))
        return -EINVAL;
    if (!vg_vm_filter_match(reg->filter, name))
        return -ENOENT; /* not one of ours, whatever libvirt has */
    conn = vg_hypervisor_get_conn(reg->hv);
    if (!conn)
        return -ENOTCONN;
    dom = virDomainLookupByName(conn, name);
    if (!dom) {
        virConnectClose(conn);
        return -ENOENT;
    }
    switch (action) {
    case VG_POWER_START:
        r = virDomainCreate(dom);
        break;
    case VG_POWER_SHUTDOWN:
        r = virDomainShutdown(dom);
        break;
    case VG_POWER_DESTROY:
        r = virDomainDestroy(dom);
        break;
    case VG_POWER_SUSPEND:
        r = virDomainSuspend(dom);
        break;
    case VG_POWER_RESUME:
        r = virDomainResume(dom);
        break;
    default:
        r = power_on(dom);
        break;
    }
    if (r < 0)
        vg_warning(TAG, "vm=%s: %s failed: %s", name, vg_power_action_name(action),
                   vg_libvirt_last_error());
    virDomainFree(dom);
    virConnectClose(conn);
    return r < 0 ? -EIO : 0;
}

vg_console *vg_registry_wait_console(vg_registry *reg, const char *name, int64_t deadline_us)
{
    for (;;) {
        vg_console *c = vg_registry_get_console(reg, name);
        if (c) {
            if (vg_surface_wait_frame(vg_console_surface(c), deadline_us) == 0)
                return c;
            vg_console_unref(c);
        }
        if (vg_now_us() >= deadline_us)
            return NULL;
        /* The console opens on the supervisor thread when libvirt reports
         * the start; poll for it at a short interval. */
        g_usleep(20 * 1000);
    }
}

bool vg_registry_connected(vg_registry *reg)
{
    bool up;
    g_mutex_lock(&reg->lock);
    up = reg->connected;
    g_mutex_unlock(&reg->lock);
    return up;
}
