/*
 * vmgate — the store's instances and placements (see store.h): which
 * vmgated share the store, their heartbeats, and which of them holds each
 * VM. Every time is the database's (vg_now_ms() in SQL), so instances on
 * different hosts are compared on one clock.
 *
 * Threading: every exported function takes s->lock for its whole duration.
 */
#include "store-priv.h"

#include <errno.h>
#include <string.h>

static bool info_valid(const vg_store_instance_info *i)
{
    return i && vg_name_valid(i->name) && i->address && *i->address && strlen(i->address) <= 255 &&
           i->vnc_port <= 65535 && i->rdp_port <= 65535 && i->web_port <= 65535;
}

/* Register, and forget the viewers an earlier run of the instance left. */
static int register_body(vg_store *s, void *data)
{
    const vg_store_instance_info *i = data;
    int r;

    r = vg_store_run_locked(s,
                            "INSERT INTO instances (name, address, vnc_port, rdp_port, web_port, "
                            "started, heartbeat, stopped) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, vg_now_ms(), vg_now_ms(), 0) "
                            "ON CONFLICT (name) DO UPDATE SET address = excluded.address, "
                            "vnc_port = excluded.vnc_port, rdp_port = excluded.rdp_port, "
                            "web_port = excluded.web_port, started = excluded.started, "
                            "heartbeat = excluded.heartbeat, stopped = 0",
                            "register instance", "ttiii", i->name, i->address, (int64_t)i->vnc_port,
                            (int64_t)i->rdp_port, (int64_t)i->web_port);
    if (r == 0)
        r = vg_store_run_locked(s, "DELETE FROM viewers WHERE instance = ?1", "clear viewers", "t",
                                i->name);
    return r;
}

int vg_store_instance_register(vg_store *s, const vg_store_instance_info *i)
{
    if (!info_valid(i))
        return -EINVAL;
    return vg_store_transact(s, register_body, (void *)i);
}

int vg_store_instance_heartbeat(vg_store *s, const char *name)
{
    if (!vg_name_valid(name))
        return -EINVAL;
    return vg_store_change(s, true,
                           "UPDATE instances SET heartbeat = vg_now_ms(), stopped = 0 "
                           "WHERE name = ?1",
                           "heartbeat", "t", name);
}

/* Stopped, and its viewers gone with it. */
static int stop_body(vg_store *s, void *data)
{
    const char *name = data;
    int64_t changed = 0;
    int r;

    r = vg_store_run_changes_locked(s, "UPDATE instances SET stopped = 1 WHERE name = ?1",
                                    "stop instance", &changed, "t", name);
    if (r == 0 && changed == 0)
        r = -ENOENT;
    if (r == 0)
        r = vg_store_run_locked(s, "DELETE FROM viewers WHERE instance = ?1", "clear viewers", "t",
                                name);
    return r;
}

int vg_store_instance_stop(vg_store *s, const char *name)
{
    if (!vg_name_valid(name))
        return -EINVAL;
    return vg_store_transact(s, stop_body, (void *)name);
}

void vg_store_instance_free(vg_store_instance *i)
{
    if (!i)
        return;
    g_free(i->name);
    g_free(i->address);
    g_free(i);
}

void vg_store_placement_free(vg_store_placement *p)
{
    if (!p)
        return;
    g_free(p->vm);
    g_free(p->instance);
    g_free(p->state);
    g_free(p);
}

static void *make_instance(const vg_store_row *row)
{
    vg_store_instance *i = g_new0(vg_store_instance, 1);

    i->name = vg_store_row_strdup(row, 0);
    i->address = vg_store_row_strdup(row, 1);
    i->vnc_port = (unsigned)vg_store_row_int(row, 2);
    i->rdp_port = (unsigned)vg_store_row_int(row, 3);
    i->web_port = (unsigned)vg_store_row_int(row, 4);
    i->started = vg_store_row_int(row, 5);
    i->heartbeat = vg_store_row_int(row, 6);
    i->stopped = vg_store_row_int(row, 7) != 0;
    i->age_ms = vg_store_row_int(row, 8);
    i->vms = (unsigned)vg_store_row_int(row, 9);
    return i;
}

int vg_store_instance_list(vg_store *s, int64_t down_after_ms, GPtrArray **out)
{
    int r;

    if (!out || down_after_ms < 0)
        return -EINVAL;
    g_mutex_lock(&s->lock);
    r = vg_store_list_locked(s,
                             "SELECT i.name, i.address, i.vnc_port, i.rdp_port, i.web_port, "
                             "i.started, i.heartbeat, i.stopped, vg_now_ms() - i.heartbeat, "
                             "(SELECT count(*) FROM placements p WHERE p.instance = i.name) "
                             "FROM instances i ORDER BY i.name",
                             NULL, NULL, make_instance, (GDestroyNotify)vg_store_instance_free,
                             out);
    g_mutex_unlock(&s->lock);
    for (guint k = 0; r == 0 && k < (*out)->len; k++) {
        vg_store_instance *i = g_ptr_array_index(*out, k);
        i->up = vg_store_instance_is_up(i->stopped, i->age_ms, down_after_ms);
    }
    return r;
}

/* A placement row, and its instance's stopped flag and heartbeat age (columns 4, 5). */
typedef struct placement_row {
    vg_store_placement p;
    bool stopped;
    int64_t age_ms;
} placement_row;

static void *make_placement(const vg_store_row *row)
{
    placement_row *pr = g_new0(placement_row, 1);

    pr->p.vm = vg_store_row_strdup(row, 0);
    pr->p.instance = vg_store_row_strdup(row, 1);
    pr->p.state = vg_store_row_strdup(row, 2);
    pr->p.updated = vg_store_row_int(row, 3);
    pr->stopped = vg_store_row_int(row, 4) != 0;
    pr->age_ms = vg_store_row_int(row, 5);
    return pr;
}

/* placement_row embeds vg_store_placement first, so this frees either. */
static void placement_row_free(void *p)
{
    vg_store_placement_free(p);
}

int vg_store_placement_list(vg_store *s, int64_t down_after_ms, GPtrArray **out)
{
    int r;

    if (!out || down_after_ms < 0)
        return -EINVAL;
    g_mutex_lock(&s->lock);
    r = vg_store_list_locked(s,
                             "SELECT p.vm, p.instance, p.state, p.updated, i.stopped, "
                             "vg_now_ms() - i.heartbeat "
                             "FROM placements p JOIN instances i ON i.name = p.instance "
                             "ORDER BY p.vm",
                             NULL, NULL, make_placement, placement_row_free, out);
    g_mutex_unlock(&s->lock);
    for (guint k = 0; r == 0 && k < (*out)->len; k++) {
        placement_row *pr = g_ptr_array_index(*out, k);
        pr->p.instance_up = vg_store_instance_is_up(pr->stopped, pr->age_ms, down_after_ms);
    }
    return r;
}

int vg_store_instance_known_locked(vg_store *s, const char *name)
{
    int64_t exists = 0;
    int r = vg_store_query_int_locked(s, "SELECT count(*) FROM instances WHERE name = ?1", &exists,
                                      "t", name);
    if (r < 0)
        return r;
    return exists > 0 ? 0 : -ENOENT;
}

static bool placements_valid(GPtrArray *vms)
{
    for (guint k = 0; vms && k < vms->len; k++) {
        const vg_store_placement *p = g_ptr_array_index(vms, k);
        if (!p || !vg_vm_name_valid(p->vm) || !p->state || !*p->state)
            return false;
    }
    return true;
}

typedef struct placement_change {
    const char *instance;
    GPtrArray *set, *removed;
    bool replace;
} placement_change;

static int placement_body(vg_store *s, void *data)
{
    placement_change *c = data;
    int r;

    /* A placement of an instance that is not registered is refused, not made up. */
    if ((r = vg_store_instance_known_locked(s, c->instance)) < 0)
        return r;
    if (c->replace)
        r = vg_store_run_locked(s, "DELETE FROM placements WHERE instance = ?1",
                                "replace placements", "t", c->instance);
    for (guint k = 0; r == 0 && c->removed && k < c->removed->len; k++)
        r = vg_store_run_locked(s, "DELETE FROM placements WHERE vm = ?1 AND instance = ?2",
                                "remove placement", "tt",
                                (const char *)g_ptr_array_index(c->removed, k), c->instance);
    for (guint k = 0; r == 0 && c->set && k < c->set->len; k++) {
        const vg_store_placement *p = g_ptr_array_index(c->set, k);
        /* A VM another instance held (it moved, or that one is gone) is this one's now. */
        r = vg_store_run_locked(s,
                                "INSERT INTO placements (vm, instance, state, updated) "
                                "VALUES (?1, ?2, ?3, vg_now_ms()) "
                                "ON CONFLICT (vm) DO UPDATE SET instance = excluded.instance, "
                                "state = excluded.state, updated = excluded.updated",
                                "set placement", "ttt", p->vm, c->instance, p->state);
    }
    return r;
}

int vg_store_placement_replace(vg_store *s, const char *instance, GPtrArray *vms)
{
    placement_change c = {.instance = instance, .set = vms, .replace = true};

    if (!vg_name_valid(instance) || !placements_valid(vms))
        return -EINVAL;
    return vg_store_transact(s, placement_body, &c);
}

int vg_store_placement_update(vg_store *s, const char *instance, GPtrArray *set, GPtrArray *removed)
{
    placement_change c = {.instance = instance, .set = set, .removed = removed};

    if (!vg_name_valid(instance) || !placements_valid(set))
        return -EINVAL;
    for (guint k = 0; removed && k < removed->len; k++)
        if (!vg_vm_name_valid(g_ptr_array_index(removed, k)))
            return -EINVAL;
    return vg_store_transact(s, placement_body, &c);
}
