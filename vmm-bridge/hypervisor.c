/*
 * vmgate — libvirt connection management. Threading rules are in
 * hypervisor.h. The supervisor thread owns `conn`; other threads read it
 * under `lock` only to take a reference.
 */
#include "hypervisor.h"

#include <errno.h>
#include <string.h>

#include <glib.h>
#include <libvirt/virterror.h>

#include "log.h"

#define TAG "libvirt"
/* Keepalive: a probe every 2 s, give up after 3 unanswered ones. A daemon
 * restart closes the socket and is noticed at once; keepalive catches a
 * daemon that hangs. */
#define VG_KEEPALIVE_INTERVAL 2
#define VG_KEEPALIVE_COUNT    3
#define VG_BACKOFF_MIN_MS     100
#define VG_BACKOFF_MAX_MS     1000

typedef enum msg_kind { MSG_CLOSED, MSG_DOMAIN, MSG_POST, MSG_QUIT } msg_kind;

typedef struct msg {
    msg_kind kind;
    virConnectPtr conn; /* MSG_CLOSED, MSG_DOMAIN: which connection (not a reference) */
    int reason;
    char *name, *uuid;
    int event, detail;
    void (*fn)(void *);
    void *data;
} msg;

struct vg_hypervisor {
    char *uri;
    vg_hypervisor_events events;
    void *opaque;
    GAsyncQueue *queue;
    GThread *thread;

    GMutex lock;
    virConnectPtr conn;
    int event_cb_id;
};

/* ---- the process-wide event loop ---------------------------------- */

static gint event_loop_quit;
static GThread *event_loop;

static gpointer event_loop_thread(gpointer data)
{
    (void)data;
    while (!g_atomic_int_get(&event_loop_quit)) {
        if (virEventRunDefaultImpl() < 0)
            vg_warning(TAG, "event loop: %s", vg_libvirt_last_error());
    }
    return NULL;
}

static gsize event_loop_once;
static int event_loop_result;

static void wake_event_loop(int timer, void *opaque)
{
    (void)opaque;
    virEventRemoveTimeout(timer);
}

void vg_libvirt_event_loop_stop(void)
{
    if (!event_loop)
        return;
    g_atomic_int_set(&event_loop_quit, 1);
    /* A timer firing at once wakes the loop, which then sees the flag. */
    if (virEventAddTimeout(0, wake_event_loop, NULL, NULL) < 0)
        return; /* cannot wake it: leave it running rather than hang */
    g_thread_join(event_loop);
    event_loop = NULL;
}

int vg_libvirt_event_loop_start(void)
{
    if (g_once_init_enter(&event_loop_once)) {
        GThread *t;
        vg_libvirt_quiet();
        if (virEventRegisterDefaultImpl() < 0) {
            event_loop_result = -EIO;
        } else {
            t = g_thread_try_new("vg-libvirt-ev", event_loop_thread, NULL, NULL);
            if (t)
                event_loop = t;
            else
                event_loop_result = -EAGAIN;
        }
        g_once_init_leave(&event_loop_once, 1);
    }
    return event_loop_result;
}

static void quiet_error_func(void *data, virErrorPtr err)
{
    (void)data;
    (void)err;
}

void vg_libvirt_quiet(void)
{
    virSetErrorFunc(NULL, quiet_error_func);
}

const char *vg_libvirt_last_error(void)
{
    virErrorPtr e = virGetLastError();
    return e && e->message ? e->message : "unknown libvirt error";
}

int vg_libvirt_open_graphics(virDomainPtr dom, const char **why)
{
    int fd = virDomainOpenGraphicsFD(dom, 0, VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH);
    if (fd < 0)
        *why = vg_libvirt_last_error();
    return fd;
}

const char *vg_libvirt_stopped_reason(int detail)
{
    switch (detail) {
    case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
        return "the VM shut down";
    case VIR_DOMAIN_EVENT_STOPPED_DESTROYED:
        return "the VM was powered off (destroyed)";
    case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
        return "the VM crashed";
    case VIR_DOMAIN_EVENT_STOPPED_MIGRATED:
        return "the VM migrated to another host";
    case VIR_DOMAIN_EVENT_STOPPED_SAVED:
        return "the VM was saved to disk";
    case VIR_DOMAIN_EVENT_STOPPED_FAILED:
        return "the VM's emulator failed";
    case VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT:
        return "the VM was reverted to a snapshot";
    default:
        return "the VM stopped";
    }
}

const char *vg_libvirt_shutoff_reason(int reason)
{
    switch (reason) {
    case VIR_DOMAIN_SHUTOFF_SHUTDOWN:
        return vg_libvirt_stopped_reason(VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN);
    case VIR_DOMAIN_SHUTOFF_DESTROYED:
        return vg_libvirt_stopped_reason(VIR_DOMAIN_EVENT_STOPPED_DESTROYED);
    case VIR_DOMAIN_SHUTOFF_CRASHED:
        return vg_libvirt_stopped_reason(VIR_DOMAIN_EVENT_STOPPED_CRASHED);
    case VIR_DOMAIN_SHUTOFF_MIGRATED:
        return vg_libvirt_stopped_reason(VIR_DOMAIN_EVENT_STOPPED_MIGRATED);
    case VIR_DOMAIN_SHUTOFF_SAVED:
        return vg_libvirt_stopped_reason(VIR_DOMAIN_EVENT_STOPPED_SAVED);
    case VIR_DOMAIN_SHUTOFF_FAILED:
        return vg_libvirt_stopped_reason(VIR_DOMAIN_EVENT_STOPPED_FAILED);
    case VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT:
        return vg_libvirt_stopped_reason(VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT);
    default:
        return "the VM stopped";
    }
}

/* ---- libvirt callbacks (event loop thread): queue only -------------- */

static void msg_free(msg *m)
{
    g_free(m->name);
    g_free(m->uuid);
    g_free(m);
}

static void close_cb(virConnectPtr conn, int reason, void *opaque)
{
    vg_hypervisor *h = opaque;
    msg *m = g_new0(msg, 1);
    m->kind = MSG_CLOSED;
    m->conn = conn;
    m->reason = reason;
    g_async_queue_push(h->queue, m);
}

static int lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    vg_hypervisor *h = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN] = "";
    msg *m = g_new0(msg, 1);

    virDomainGetUUIDString(dom, uuid);
    m->kind = MSG_DOMAIN;
    m->conn = conn;
    m->name = g_strdup(virDomainGetName(dom));
    m->uuid = g_strdup(uuid);
    m->event = event;
    m->detail = detail;
    g_async_queue_push(h->queue, m);
    return 0;
}

/* ---- supervisor thread --------------------------------------------- */

static const char *close_reason_text(int reason)
{
    switch (reason) {
    case VIR_CONNECT_CLOSE_REASON_ERROR:
        return "connection error";
    case VIR_CONNECT_CLOSE_REASON_EOF:
        return "libvirtd closed the connection";
    case VIR_CONNECT_CLOSE_REASON_KEEPALIVE:
        return "libvirtd stopped answering keepalives";
    case VIR_CONNECT_CLOSE_REASON_CLIENT:
        return "closed by vmgate";
    default:
        return "connection lost";
    }
}

static void drop_connection(vg_hypervisor *h, const char *reason)
{
    virConnectPtr conn;

    g_mutex_lock(&h->lock);
    conn = h->conn;
    h->conn = NULL;
    g_mutex_unlock(&h->lock);
    if (!conn)
        return;
    if (h->event_cb_id >= 0)
        virConnectDomainEventDeregisterAny(conn, h->event_cb_id);
    h->event_cb_id = -1;
    virConnectUnregisterCloseCallback(conn, close_cb);
    virConnectClose(conn);
    vg_warning(TAG, "%s: disconnected: %s", h->uri, reason);
    if (h->events.disconnected)
        h->events.disconnected(h->opaque, reason);
}

static bool try_connect(vg_hypervisor *h, bool loud)
{
    virConnectPtr conn = virConnectOpen(h->uri);

    if (!conn) {
        if (loud)
            vg_warning(TAG, "%s: cannot connect: %s (retrying)", h->uri, vg_libvirt_last_error());
        else
            vg_debug(TAG, "%s: cannot connect: %s", h->uri, vg_libvirt_last_error());
        return false;
    }
    if (virConnectSetKeepAlive(conn, VG_KEEPALIVE_INTERVAL, VG_KEEPALIVE_COUNT) < 0)
        vg_debug(TAG, "%s: keepalive not supported: %s", h->uri, vg_libvirt_last_error());
    if (virConnectRegisterCloseCallback(conn, close_cb, h, NULL) < 0)
        vg_warning(TAG, "%s: no close callback: %s", h->uri, vg_libvirt_last_error());
    h->event_cb_id =
        virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                         VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb), h, NULL);
    if (h->event_cb_id < 0) {
        vg_warning(TAG, "%s: cannot register for domain events: %s", h->uri,
                   vg_libvirt_last_error());
        virConnectUnregisterCloseCallback(conn, close_cb);
        virConnectClose(conn);
        return false;
    }
    g_mutex_lock(&h->lock);
    h->conn = conn;
    g_mutex_unlock(&h->lock);
    vg_notice(TAG, "%s: connected", h->uri);
    if (h->events.connected)
        h->events.connected(h->opaque, conn);
    return true;
}

static gpointer supervisor_thread(gpointer data)
{
    vg_hypervisor *h = data;
    int backoff = VG_BACKOFF_MIN_MS;
    bool loud = true;

    for (;;) {
        int wait_ms = 1000;
        msg *m;

        if (!h->conn) {
            if (try_connect(h, loud)) {
                backoff = VG_BACKOFF_MIN_MS;
                loud = true;
            } else {
                loud = false;
                wait_ms = backoff;
                backoff = MIN(backoff * 2, VG_BACKOFF_MAX_MS);
            }
        }
        if (h->conn && h->events.tick) {
            int t = h->events.tick(h->opaque, h->conn);
            if (t >= 0 && t < wait_ms)
                wait_ms = t;
        }
        m = g_async_queue_timeout_pop(h->queue, (guint64)wait_ms * 1000);
        if (!m)
            continue;
        switch (m->kind) {
        case MSG_QUIT:
            msg_free(m);
            drop_connection(h, close_reason_text(VIR_CONNECT_CLOSE_REASON_CLIENT));
            return NULL;
        case MSG_CLOSED:
            if (m->conn == h->conn)
                drop_connection(h, close_reason_text(m->reason));
            break;
        case MSG_DOMAIN:
            if (m->conn == h->conn && h->events.domain_event)
                h->events.domain_event(h->opaque, h->conn, m->name, m->uuid, m->event, m->detail);
            break;
        case MSG_POST:
            m->fn(m->data);
            break;
        }
        msg_free(m);
    }
}

int vg_hypervisor_new(const char *uri, const vg_hypervisor_events *events, void *opaque,
                      vg_hypervisor **out)
{
    vg_hypervisor *h;
    int r = vg_libvirt_event_loop_start();

    if (r < 0)
        return r;
    h = g_new0(vg_hypervisor, 1);
    h->uri = g_strdup(uri);
    if (events)
        h->events = *events;
    h->opaque = opaque;
    h->event_cb_id = -1;
    h->queue = g_async_queue_new();
    g_mutex_init(&h->lock);
    h->thread = g_thread_try_new("vg-hypervisor", supervisor_thread, h, NULL);
    if (!h->thread) {
        g_async_queue_unref(h->queue);
        g_mutex_clear(&h->lock);
        g_free(h->uri);
        g_free(h);
        return -EAGAIN;
    }
    *out = h;
    return 0;
}

void vg_hypervisor_free(vg_hypervisor *h)
{
    msg *m;
    if (!h)
        return;
    m = g_new0(msg, 1);
    m->kind = MSG_QUIT;
    g_async_queue_push(h->queue, m);
    g_thread_join(h->thread);
    while ((m = g_async_queue_try_pop(h->queue)))
        msg_free(m);
    g_async_queue_unref(h->queue);
    g_mutex_clear(&h->lock);
    g_free(h->uri);
    g_free(h);
}

virConnectPtr vg_hypervisor_get_conn(vg_hypervisor *h)
{
    virConnectPtr c;
    g_mutex_lock(&h->lock);
    c = h->conn;
    if (c)
        virConnectRef(c);
    g_mutex_unlock(&h->lock);
    return c;
}

void vg_hypervisor_post(vg_hypervisor *h, void (*fn)(void *data), void *data)
{
    msg *m = g_new0(msg, 1);
    m->kind = MSG_POST;
    m->fn = fn;
    m->data = data;
    g_async_queue_push(h->queue, m);
}
