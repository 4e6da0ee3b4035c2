/*
 * vmgate — what the admin commands share (admin-commands.c and the files of
 * each family of commands): reading their arguments, which vmgated checked
 * against the table of commands before the handler runs, and the failures,
 * checks and kicks several families use.
 *
 * A handler answers with 0 and k->result set, or a negative errno with
 * k->error set (vg_admin_fail); it checks what the table cannot (names,
 * lengths, whether things exist), acts on the store, the sessions or the
 * daemon's live ops, and records what it changed in the audit log.
 *
 * Threading: commands run on their connection's thread; several may run at
 * once. The store, the sessions and the audit log serialise themselves;
 * the live ops must be thread-safe (admin.h).
 */
#ifndef VG_ADMIN_COMMANDS_PRIV_H
#define VG_ADMIN_COMMANDS_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "admin-priv.h"
#include "cluster.h"
#include "control-commands.h"
#include "control.h"

#define NAME_RULE "1 to 64 characters of A-Z a-z 0-9 . _ @ -, not starting with '-'"
#define VM_NAME_RULE                                                                               \
    "a libvirt domain name (1 to 255 bytes of UTF-8, no '/' or newline) or a VM's UUID"

static inline const struct vg_admin_ctx *ctx(vg_admin_call *k)
{
    return vg_admin_ctx(k->admin);
}

/* ---- arguments ---- */

/* The string argument @key: the table checked it (required ones are there). */
static inline int arg_string(vg_admin_call *k, const char *key, const char **out)
{
    *out = vg_control_arg_string(k->args, key);
    return 0;
}

/* A required user, VM or pool name (@what says which, for the message). */
static inline int arg_name(vg_admin_call *k, const char *key, const char *what, const char **out)
{
    int r;

    if ((r = arg_string(k, key, out)) < 0)
        return r;
    if (!vg_name_valid(*out))
        return vg_admin_fail(k, -EINVAL, "invalid %s name '%s': use %s", what, *out, NAME_RULE);
    return 0;
}

static inline bool arg_bool(vg_admin_call *k, const char *key, bool *given)
{
    return vg_control_arg_bool(k->spec, k->args, key, given);
}

static inline int64_t arg_int(vg_admin_call *k, const char *key, bool *given)
{
    return vg_control_arg_int(k->spec, k->args, key, given);
}

/*
 * A VM named for a live operation. Looser than a store name: the
 * hypervisor's VM names may hold characters the store does not allow.
 */
static inline int arg_vm(vg_admin_call *k, const char **out)
{
    int r;

    if ((r = arg_string(k, "vm", out)) < 0)
        return r;
    if (!vg_vm_name_valid(*out))
        return vg_admin_fail(k, -EINVAL, "invalid VM name '%s': use %s", *out, VM_NAME_RULE);
    return 0;
}

/* ---- shared by several families ---- */

/** Fail @k for a store error @r ("the store failed" for -EIO). @return @r. */
int vg_admin_store_failed(vg_admin_call *k, int r);

/** 0 if user @name exists; else fail @k ("unknown user"). */
int vg_admin_user_exists(vg_admin_call *k, const char *name);

/** 0 if pool @name exists; else fail @k ("unknown pool"). */
int vg_admin_pool_exists(vg_admin_call *k, const char *name);

/** Fail @k for a live operation's error @r on VM @vm. @return @r. */
int vg_admin_live_failed(vg_admin_call *k, int r, const char *vm);

/** Fail @k with -ENOTSUP: @what is not supported by this vmgated. */
int vg_admin_unsupported(vg_admin_call *k, const char *what);

/**
 * The VM *@vm names, as the store keeps it: a VM the hypervisor knows by
 * that name stays as it is; a VM's UUID becomes that VM's name (copied to
 * @name, and *@vm points there). A name the hypervisor does not know fails
 * @k ("unknown VM") when @must_exist, else stays (a VM undefined since it was
 * assigned). When the hypervisor cannot list its VMs the name is taken on
 * trust. @return 0 or a negative errno (failed).
 */
int vg_admin_vm_resolve(vg_admin_call *k, const char **vm, bool must_exist,
                        char name[VG_VM_NAME_MAX + 1]);

/** End @user's live viewers (of VM @vm only, unless NULL), audited. @return how many. */
unsigned vg_admin_kick_user_on(vg_admin_call *k, const char *user, const char *vm,
                               const char *reason);

/** After a revocation: end the live viewers of @vm (@user's only, unless NULL) who can
 * no longer reach it by an assignment or a pool, with @reason (admin-assign.c). */
void vg_admin_kick_revoked(vg_admin_call *k, const char *user, const char *vm, const char *reason);

/**
 * Tell the other instances sharing the store that @user (NULL: any) lost
 * access to @vm (NULL: any): each ends its own live viewers no longer
 * allowed (cluster.h). A failure to send is logged, not the command's.
 */
void vg_admin_revoke_elsewhere(vg_admin_call *k, const char *user, const char *vm,
                               const char *reason);

/** Tell the other instances that @user's role on @vm is now @role: each gives its own live
 * viewers of them that role (cluster.h). A failure to send is logged, not the command's. */
void vg_admin_role_elsewhere(vg_admin_call *k, const char *user, const char *vm, vg_role role);

/** {k1: v1, k2: v2}. */
JsonNode *vg_admin_pair_result(const char *k1, const char *v1, const char *k2, const char *v2);

/** The pool each VM belongs to: VM name → pool name (both borrowed from @pools). */
GHashTable *vg_admin_pool_of_vm(GPtrArray *pools);

/* ---- the handlers, one file per family ---- */

int vg_admin_cmd_user_add(vg_admin_call *k);
int vg_admin_cmd_user_passwd(vg_admin_call *k);
int vg_admin_cmd_user_disable(vg_admin_call *k);
int vg_admin_cmd_user_enable(vg_admin_call *k);
int vg_admin_cmd_user_del(vg_admin_call *k);
int vg_admin_cmd_user_list(vg_admin_call *k);
int vg_admin_cmd_vm_list(vg_admin_call *k);
int vg_admin_cmd_vm_power(vg_admin_call *k);
int vg_admin_cmd_assign(vg_admin_call *k);
int vg_admin_cmd_unassign(vg_admin_call *k);
int vg_admin_cmd_pool_create(vg_admin_call *k);
int vg_admin_cmd_pool_add(vg_admin_call *k);
int vg_admin_cmd_pool_remove(vg_admin_call *k);
int vg_admin_cmd_pool_del(vg_admin_call *k);
int vg_admin_cmd_pool_list(vg_admin_call *k);
int vg_admin_cmd_entitle(vg_admin_call *k);
int vg_admin_cmd_unentitle(vg_admin_call *k);
int vg_admin_cmd_session_list(vg_admin_call *k);
int vg_admin_cmd_session_kick(vg_admin_call *k);
int vg_admin_cmd_screenshot(vg_admin_call *k);
int vg_admin_cmd_send_text(vg_admin_call *k);
int vg_admin_cmd_send_combo(vg_admin_call *k);
int vg_admin_cmd_audit(vg_admin_call *k);
int vg_admin_cmd_instance_list(vg_admin_call *k);

#endif /* VG_ADMIN_COMMANDS_PRIV_H */
