/*
 * vmgate — idle policy. See idle.h.
 */
#include "idle.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "broker.h"
#include "hypervisor.h"
#include "log.h"
#include "policy.h"

#define TAG "idle"

struct vg_idle {
    vg_store *store;
    vg_registry *registry;
    vg_sessions *sessions;
    vg_audit *audit;
    GHashTable *idle_since; /* vm name → int64 seconds (boxed) */
};

vg_idle *vg_idle_new(vg_store *store, vg_registry *registry, vg_sessions *sessions, vg_audit *audit)
{
    vg_idle *i = g_new0(vg_idle, 1);
    i->store = store;
    i->registry = registry;
    i->sessions = sessions;
    i->audit = audit;
    i->idle_since = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return i;
}

void vg_idle_free(vg_idle *i)
{
    if (!i)
        return;
    g_hash_table_unref(i->idle_since);
    g_free(i);
}

static int act(vg_idle *i, const char *vm, vg_idle_action action)
{
    int r = vg_registry_power(i->registry, vm,
                              action == VG_IDLE_SHUTDOWN ? VG_POWER_SHUTDOWN : VG_POWER_SUSPEND);

    vg_audit_power(i->audit, "idle-policy", vm, vg_idle_action_name(action), r);
    return r;
}

int vg_idle_check(vg_idle *i, int64_t now)
{
    GPtrArray *pools = NULL;
    GArray *vms;
    int actions = 0;

    if (vg_store_pool_list(i->store, &pools) < 0)
        return 0;
    vms = vg_registry_list(i->registry);
    for (guint p = 0; p < pools->len; p++) {
        vg_store_pool *pool = pools->pdata[p];
        if (pool->idle_action == VG_IDLE_NONE)
            continue;
        for (guint m = 0; m < pool->members->len; m++) {
            vg_store_pool_member *mem = pool->members->pdata[m];
            vg_policy_idle_input in = {pool->idle_action, pool->idle_minutes, VG_VM_MISSING, 0, -1};
            int64_t *since;
            for (guint v = 0; v < vms->len; v++) {
                const vg_vm_info *info = &g_array_index(vms, vg_vm_info, v);
                if (strcmp(info->name, mem->vm) == 0)
                    in.state = vg_vm_info_state(info);
            }
            in.viewers = vg_sessions_viewer_count(i->sessions, mem->vm);
            since = g_hash_table_lookup(i->idle_since, mem->vm);
            if (in.viewers > 0 || in.state == VG_VM_SHUTOFF || in.state == VG_VM_MISSING) {
                /* Viewed or off: the idle clock starts again when it runs unviewed. */
                g_hash_table_remove(i->idle_since, mem->vm);
                continue;
            }
            if (!since) {
                since = g_new(int64_t, 1);
                *since = now;
                g_hash_table_insert(i->idle_since, g_strdup(mem->vm), since);
            }
            in.idle_since = *since;
            if (vg_policy_idle(&in, now, NULL) != VG_IDLE_NONE) {
                vg_notice(TAG, "vm=%s: unviewed for %u min: %s (pool %s)", mem->vm,
                          pool->idle_minutes, vg_idle_action_name(pool->idle_action), pool->name);
                act(i, mem->vm, pool->idle_action);
                g_hash_table_remove(i->idle_since, mem->vm);
                actions++;
            }
        }
    }
    g_array_unref(vms);
    g_ptr_array_unref(pools);
    return actions;
}
