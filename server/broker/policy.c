/*
 * vmgate — broker policy (see policy.h for the rules).
 */
#include "policy.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include <glib.h>

static const char *const refusal_names[] = {
    [VG_POLICY_OK] = "ok",
    [VG_POLICY_NO_VM] = "no-vm",
    [VG_POLICY_NOT_ENTITLED] = "not-entitled",
    [VG_POLICY_POOL_EXHAUSTED] = "pool-exhausted",
    [VG_POLICY_VM_IN_USE] = "vm-in-use",
    [VG_POLICY_VM_NOT_RUNNING] = "vm-not-running",
    [VG_POLICY_VM_UNAVAILABLE] = "vm-unavailable",
};

const char *vg_policy_refusal_name(vg_policy_refusal refusal)
{
    if ((int)refusal < 0 || (size_t)refusal >= sizeof(refusal_names) / sizeof(refusal_names[0]))
        return "?";
    return refusal_names[refusal];
}

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static bool vm_matches(const vg_policy_vm *vm, const char *key)
{
    return same(vm->name, key) || (vm->uuid && strcasecmp(vm->uuid, key) == 0);
}

static int refuse(vg_policy_choice *out, vg_policy_refusal why)
{
    memset(out, 0, sizeof(*out));
    out->refusal = why;
    return -EACCES;
}

/* Rule 4: the chosen VM must be usable now or after powering it on. */
static int choose(const vg_policy_request *req, const vg_policy_vm *vm, vg_role role,
                  const char *pool, bool claim_sticky, vg_policy_choice *out)
{
    bool power_on = false;

    switch (vm->state) {
    case VG_VM_RUNNING:
        break;
    case VG_VM_PAUSED:
    case VG_VM_SHUTOFF:
        if (!req->power_on_demand)
            return refuse(out, VG_POLICY_VM_NOT_RUNNING);
        power_on = true;
        break;
    case VG_VM_MISSING:
    case VG_VM_UNAVAILABLE:
    default:
        refuse(out, VG_POLICY_VM_UNAVAILABLE);
        out->vm = vm->name; /* which one, for the caller's reason */
        return -EACCES;
    }
    memset(out, 0, sizeof(*out));
    out->refusal = VG_POLICY_OK;
    out->vm = vm->name;
    out->role = role;
    out->pool = pool;
    out->power_on = power_on;
    out->claim_sticky = claim_sticky;
    return 0;
}

/* The VM of @pool held for @user, or NULL. */
static const vg_policy_vm *held_for(const vg_policy_pool *pool, const char *user)
{
    for (size_t i = 0; i < pool->n_members; i++) {
        if (same(pool->members[i].sticky_user, user))
            return &pool->members[i];
    }
    return NULL;
}

/* Better assignment first: more rights, then VM name. */
static bool assignment_better(const vg_policy_assignment *a, const vg_policy_assignment *b)
{
    if (a->role != b->role)
        return a->role < b->role;
    return strcmp(a->vm.name, b->vm.name) < 0;
}

/* Rule 1. */
static int choose_requested(const vg_policy_request *req, const char *key, vg_policy_choice *out)
{
    const vg_policy_assignment *best = NULL;
    vg_policy_refusal why = VG_POLICY_NOT_ENTITLED;

    for (size_t i = 0; i < req->n_assignments; i++) {
        const vg_policy_assignment *a = &req->assignments[i];
        if (vm_matches(&a->vm, key) && (!best || assignment_better(a, best)))
            best = a;
    }
    if (best)
        return choose(req, &best->vm, best->role, NULL, false, out);

    for (size_t p = 0; p < req->n_pools; p++) {
        const vg_policy_pool *pool = &req->pools[p];
        const vg_policy_vm *mine = held_for(pool, req->user);
        for (size_t i = 0; i < pool->n_members; i++) {
            const vg_policy_vm *vm = &pool->members[i];
            if (!vm_matches(vm, key))
                continue;
            if (vm->sticky_user && !same(vm->sticky_user, req->user))
                continue; /* held for someone else: not reachable */
            if (pool->assign_on_first_login && mine && mine != vm)
                continue; /* they hold another VM of this pool */
            if (vm->session_user && !same(vm->session_user, req->user)) {
                why = VG_POLICY_VM_IN_USE;
                continue;
            }
            return choose(req, vm, VG_ROLE_CONTROLLER, pool->name,
                          pool->assign_on_first_login && !vm->sticky_user, out);
        }
    }
    return refuse(out, why);
}

/* Rule 2. */
static int choose_dedicated(const vg_policy_request *req, vg_policy_choice *out)
{
    const vg_policy_assignment *best = &req->assignments[0];

    for (size_t i = 1; i < req->n_assignments; i++) {
        if (assignment_better(&req->assignments[i], best))
            best = &req->assignments[i];
    }
    return choose(req, &best->vm, best->role, NULL, false, out);
}

enum candidate_class {
    CLASS_RECONNECT, /* the user's own session runs there */
    CLASS_HELD,      /* held (sticky) for the user */
    CLASS_RUNNING,   /* free and running */
    CLASS_PAUSED,    /* free and paused */
    CLASS_SHUTOFF,   /* free and shut off */
    CLASS_NONE,      /* not a candidate */
};

static enum candidate_class classify(const vg_policy_vm *vm, const char *user)
{
    if (vm->sticky_user && !same(vm->sticky_user, user))
        return CLASS_NONE;
    if (same(vm->session_user, user))
        return CLASS_RECONNECT;
    if (same(vm->sticky_user, user))
        return CLASS_HELD;
    if (vm->session_user)
        return CLASS_NONE;
    switch (vm->state) {
    case VG_VM_RUNNING:
        return CLASS_RUNNING;
    case VG_VM_PAUSED:
        return CLASS_PAUSED;
    case VG_VM_SHUTOFF:
        return CLASS_SHUTOFF;
    default:
        return CLASS_NONE;
    }
}

/* Rule 3. */
static int choose_pool(const vg_policy_request *req, vg_policy_choice *out)
{
    const vg_policy_pool *best_pool = NULL;
    const vg_policy_vm *best = NULL;
    enum candidate_class best_class = CLASS_NONE;

    for (size_t p = 0; p < req->n_pools; p++) {
        const vg_policy_pool *pool = &req->pools[p];
        for (size_t i = 0; i < pool->n_members; i++) {
            const vg_policy_vm *vm = &pool->members[i];
            enum candidate_class c = classify(vm, req->user);
            int by_pool;
            if (c == CLASS_NONE || c > best_class)
                continue;
            if (c == best_class) {
                by_pool = strcmp(pool->name, best_pool->name);
                if (by_pool > 0 || (by_pool == 0 && strcmp(vm->name, best->name) >= 0))
                    continue;
            }
            best_class = c;
            best_pool = pool;
            best = vm;
        }
    }
    if (!best)
        return refuse(out, VG_POLICY_POOL_EXHAUSTED);
    return choose(req, best, VG_ROLE_CONTROLLER, best_pool->name,
                  best_pool->assign_on_first_login && !best->sticky_user, out);
}

static bool vm_valid(const vg_policy_vm *vm)
{
    return vm->name != NULL;
}

static bool request_valid(const vg_policy_request *req)
{
    if (!req->user || (req->n_assignments && !req->assignments) || (req->n_pools && !req->pools))
        return false;
    for (size_t i = 0; i < req->n_assignments; i++) {
        if (!vm_valid(&req->assignments[i].vm))
            return false;
    }
    for (size_t p = 0; p < req->n_pools; p++) {
        const vg_policy_pool *pool = &req->pools[p];
        if (!pool->name || (pool->n_members && !pool->members))
            return false;
        for (size_t i = 0; i < pool->n_members; i++) {
            if (!vm_valid(&pool->members[i]))
                return false;
        }
    }
    return true;
}

int vg_policy_choose_vm(const vg_policy_request *req, vg_policy_choice *out)
{
    if (!req || !out || !request_valid(req))
        return -EINVAL;
    if (req->requested && req->requested[0])
        return choose_requested(req, req->requested, out);
    if (req->n_assignments > 0)
        return choose_dedicated(req, out);
    if (req->n_pools > 0)
        return choose_pool(req, out);
    return refuse(out, VG_POLICY_NO_VM);
}

int vg_policy_split_login(const char *login, char **vm, char **user)
{
    const char *slash;

    if (!login || !*login)
        return -EINVAL;
    slash = strchr(login, '/');
    if (!slash) {
        *vm = NULL;
        *user = g_strdup(login);
        return 0;
    }
    if (slash == login || slash[1] == '\0' || strchr(slash + 1, '/'))
        return -EINVAL;
    *vm = g_strndup(login, (gsize)(slash - login));
    *user = g_strdup(slash + 1);
    return 0;
}

vg_session_action vg_policy_second_login(vg_second_login mode, const char *session_user,
                                         const char *user)
{
    if (!session_user)
        return VG_SESSION_NEW;
    if (!same(session_user, user))
        return VG_SESSION_JOIN;
    return mode == VG_SECOND_LOGIN_JOIN ? VG_SESSION_JOIN : VG_SESSION_TAKEOVER;
}

bool vg_policy_may_input(vg_role role)
{
    return role == VG_ROLE_OWNER || role == VG_ROLE_CONTROLLER;
}

vg_idle_action vg_policy_idle(const vg_policy_idle_input *in, int64_t now, int64_t *due_at)
{
    bool applies;
    int64_t delay, due;

    if (due_at)
        *due_at = -1;
    switch (in->action) {
    case VG_IDLE_SHUTDOWN:
        applies = in->state == VG_VM_RUNNING || in->state == VG_VM_PAUSED;
        break;
    case VG_IDLE_SUSPEND:
        applies = in->state == VG_VM_RUNNING;
        break;
    default:
        applies = false;
        break;
    }
    if (!applies || in->viewers > 0 || in->idle_since < 0)
        return VG_IDLE_NONE;
    delay = (int64_t)in->minutes * 60;
    due = in->idle_since > INT64_MAX - delay ? INT64_MAX : in->idle_since + delay;
    if (due_at)
        *due_at = due;
    return now >= due ? in->action : VG_IDLE_NONE;
}
