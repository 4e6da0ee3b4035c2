/*
 * Unit tests: libvirt error paths, against libvirt's own "test" driver
 * (test:///default, in-process, no daemon) and unreachable URIs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>
#include <libvirt/libvirt.h>

#include "hypervisor.h"
#include "registry.h"
#include "util.h"

typedef struct watch {
    GMutex lock;
    GCond cond;
    int connected, vm_changed;
    bool saw_test_running;
    int test_state; /* the last state seen of VM "test" (virDomainState) */
} watch;

static void w_connection(void *opaque, bool up, const char *reason)
{
    watch *w = opaque;
    (void)reason;
    g_mutex_lock(&w->lock);
    if (up)
        w->connected++;
    g_cond_broadcast(&w->cond);
    g_mutex_unlock(&w->lock);
}

static void w_vm_changed(void *opaque, const vg_vm_info *vm)
{
    watch *w = opaque;
    g_mutex_lock(&w->lock);
    w->vm_changed++;
    if (strcmp(vm->name, "test") == 0 && vm->state == VIR_DOMAIN_RUNNING)
        w->saw_test_running = true;
    if (strcmp(vm->name, "test") == 0)
        w->test_state = vm->state;
    g_cond_broadcast(&w->cond);
    g_mutex_unlock(&w->lock);
}

static const vg_registry_events w_events = {.connection = w_connection, .vm_changed = w_vm_changed};

static void test_open_graphics_failure_gives_reason(void **state)
{
    virConnectPtr conn;
    virDomainPtr dom;
    const char *why = NULL;
    (void)state;

    vg_libvirt_quiet();
    conn = virConnectOpen("test:///default");
    assert_non_null(conn);
    dom = virDomainLookupByName(conn, "test");
    assert_non_null(dom);
    /* The test driver has no graphics console to hand out. */
    assert_int_equal(vg_libvirt_open_graphics(dom, &why), -1);
    assert_non_null(why);
    assert_true(strlen(why) > 0);
    virDomainFree(dom);
    virConnectClose(conn);
}

static void test_stopped_reasons_are_specific(void **state)
{
    (void)state;
    assert_non_null(
        strstr(vg_libvirt_stopped_reason(VIR_DOMAIN_EVENT_STOPPED_DESTROYED), "destroyed"));
    assert_non_null(strstr(vg_libvirt_stopped_reason(VIR_DOMAIN_EVENT_STOPPED_CRASHED), "crashed"));
    assert_non_null(
        strstr(vg_libvirt_stopped_reason(VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN), "shut down"));
    assert_string_equal(vg_libvirt_stopped_reason(9999), "the VM stopped");
}

static void test_registry_lists_vms_when_console_cannot_open(void **state)
{
    watch w = {0};
    vg_registry *reg = NULL;
    GArray *list;
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    (void)state;

    assert_int_equal(vg_registry_new("test:///default", NULL, &w_events, &w, &reg), 0);
    /* Connected is said once the VMs are known: the list is whole then. */
    g_mutex_lock(&w.lock);
    while (!w.connected && g_cond_wait_until(&w.cond, &w.lock, end))
        ;
    g_mutex_unlock(&w.lock);
    assert_true(w.saw_test_running);
    assert_true(vg_registry_connected(reg));
    list = vg_registry_list(reg);
    assert_int_equal(list->len, 1);
    assert_string_equal(g_array_index(list, vg_vm_info, 0).name, "test");
    assert_false(g_array_index(list, vg_vm_info, 0).console);
    g_array_unref(list);
    assert_null(vg_registry_get_console(reg, "test"));
    assert_null(vg_registry_get_console(reg, "no-such-vm"));
    vg_registry_free(reg);
    g_mutex_clear(&w.lock);
    g_cond_clear(&w.cond);
}

/* VMs whose names match none of the patterns are not the registry's: not
 * listed, not powered; a bad pattern list is refused. */
static void test_registry_serves_only_vms_matching_its_patterns(void **state)
{
    static const struct {
        const char *vms;
        guint listed;
    } cases[] = {{"te?t", 1}, {"other-*, tes", 0}, {"x, *", 1}};
    (void)state;

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        watch w = {0};
        vg_registry *reg = NULL;
        GArray *list;
        gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

        assert_int_equal(vg_registry_new("test:///default", cases[i].vms, &w_events, &w, &reg), 0);
        g_mutex_lock(&w.lock);
        while (!w.connected && g_cond_wait_until(&w.cond, &w.lock, end))
            ;
        g_mutex_unlock(&w.lock);
        assert_true(vg_registry_connected(reg));
        list = vg_registry_list(reg);
        assert_int_equal(list->len, cases[i].listed);
        g_array_unref(list);
        if (!cases[i].listed) {
            assert_false(w.saw_test_running);
            assert_int_equal(vg_registry_power(reg, "test", VG_POWER_DESTROY), -ENOENT);
        }
        vg_registry_free(reg);
        g_mutex_clear(&w.lock);
        g_cond_clear(&w.cond);
    }
    {
        vg_registry *reg = NULL;
        assert_int_equal(vg_registry_new("test:///default", " , ", &w_events, NULL, &reg), -EINVAL);
        assert_null(reg);
    }
}

/* Wait until the registry has seen VM "test" in @state; the state it was in. */
static int wait_test_state(watch *w, int state)
{
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    int seen;

    g_mutex_lock(&w->lock);
    while (w->test_state != state && g_cond_wait_until(&w->cond, &w->lock, end))
        ;
    seen = w->test_state;
    g_mutex_unlock(&w->lock);
    return seen;
}

static void test_registry_power_actions(void **state)
{
    watch w = {0};
    vg_registry *reg = NULL;
    vg_power_action a;
    (void)state;

    assert_int_equal(vg_registry_new("test:///default", NULL, &w_events, &w, &reg), 0);
    assert_int_equal(wait_test_state(&w, VIR_DOMAIN_RUNNING), VIR_DOMAIN_RUNNING);

    assert_int_equal(vg_registry_power(reg, "test", VG_POWER_SUSPEND), 0);
    assert_int_equal(wait_test_state(&w, VIR_DOMAIN_PAUSED), VIR_DOMAIN_PAUSED);
    /* "on" resumes a paused VM ... */
    assert_int_equal(vg_registry_power(reg, "test", VG_POWER_ON), 0);
    assert_int_equal(wait_test_state(&w, VIR_DOMAIN_RUNNING), VIR_DOMAIN_RUNNING);
    /* ... does nothing to a running one (a start would fail) ... */
    assert_int_equal(vg_registry_power(reg, "test", VG_POWER_ON), 0);
    assert_int_equal(vg_registry_power(reg, "test", VG_POWER_START), -EIO);
    assert_int_equal(vg_registry_power(reg, "test", VG_POWER_DESTROY), 0);
    assert_int_equal(wait_test_state(&w, VIR_DOMAIN_SHUTOFF), VIR_DOMAIN_SHUTOFF);
    /* ... and starts a shut-off one. */
    assert_int_equal(vg_registry_power(reg, "test", VG_POWER_ON), 0);
    assert_int_equal(wait_test_state(&w, VIR_DOMAIN_RUNNING), VIR_DOMAIN_RUNNING);

    assert_int_equal(vg_registry_power(reg, "no-such-vm", VG_POWER_START), -ENOENT);
    assert_int_equal(vg_registry_power(reg, "test", (vg_power_action)99), -EINVAL);
    vg_registry_free(reg);

    assert_int_equal(vg_power_action_parse("shutdown", &a), 0);
    assert_int_equal(a, VG_POWER_SHUTDOWN);
    assert_string_equal(vg_power_action_name(a), "shutdown");
    assert_int_equal(vg_power_action_parse("Shutdown", &a), -EINVAL);
    assert_int_equal(vg_power_action_parse(NULL, &a), -EINVAL);
    assert_string_equal(vg_power_action_name((vg_power_action)99), "?");
    g_mutex_clear(&w.lock);
    g_cond_clear(&w.cond);
}

static void test_registry_unreachable_daemon_keeps_retrying_and_frees(void **state)
{
    watch w = {0};
    vg_registry *reg = NULL;
    gint64 end = g_get_monotonic_time() + 400 * 1000;
    (void)state;

    assert_int_equal(vg_registry_new("qemu+unix:///system?socket=/nonexistent/vmgate-test.sock",
                                     NULL, &w_events, &w, &reg),
                     0);
    g_mutex_lock(&w.lock);
    while (w.connected == 0 && g_cond_wait_until(&w.cond, &w.lock, end))
        ;
    g_mutex_unlock(&w.lock);
    assert_int_equal(w.connected, 0);
    assert_false(vg_registry_connected(reg));
    assert_int_equal(vg_registry_power(reg, "test", VG_POWER_ON), -ENOTCONN);
    vg_registry_free(reg); /* must not hang while reconnecting */
    g_mutex_clear(&w.lock);
    g_cond_clear(&w.cond);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_graphics_failure_gives_reason),
        cmocka_unit_test(test_stopped_reasons_are_specific),
        cmocka_unit_test(test_registry_lists_vms_when_console_cannot_open),
        cmocka_unit_test(test_registry_serves_only_vms_matching_its_patterns),
        cmocka_unit_test(test_registry_power_actions),
        cmocka_unit_test(test_registry_unreachable_daemon_keeps_retrying_and_frees),
    };
    return cmocka_run_group_tests_name("libvirt", tests, NULL, NULL);
}
