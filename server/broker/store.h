/*
 * vmgate — the broker's durable store: users and their password hashes,
 * VMs the broker knows by name and UUID, dedicated assignments with roles,
 * pools with their idle policy, entitlements to pools and the sticky
 * (assign-on-first-login) pool VMs.
 *
 * Two back ends with the same schema, migrations and answers:
 *
 * - SQLite (the default, one host): a file in WAL mode with
 *   synchronous=FULL and foreign keys on; the schema version in PRAGMA
 *   user_version.
 * - PostgreSQL (several vmgated sharing one database): libpq, with
 *   synchronous_commit on; the schema version in the table vmgate_schema;
 *   migrations take an advisory lock so instances starting together do not
 *   both migrate. Pool claims (vg_store_sticky_set) are one conditional
 *   statement, so of two instances claiming one VM exactly one wins.
 *
 * Every mutating function runs in its own transaction and returns 0 only
 * after the commit, so whatever is reported as done survives a crash or
 * power loss. vg_store_open applies the missing migrations in order, one
 * transaction each.
 *
 * VMs themselves come from libvirt: assignments and pool members name a VM
 * and do not require it to be in the vms table, which only remembers UUIDs
 * so that clients may ask for a VM by UUID.
 *
 * Errors: -EINVAL for a bad argument (user and pool names are checked with
 * vg_name_valid, VM names with vg_vm_name_valid), -ENOENT for a missing user, pool, VM or link,
 * -EEXIST for a duplicate, -ENOSPC when the database's file system is full and -EROFS when it is
 * read-only (a mutation is then not done; what was committed stays), -ECONNREFUSED when the
 * PostgreSQL server cannot be reached or went away (the next call connects again), -EIO for
 * another failure (all logged with vg_warning; secrets and bound values are never logged).
 *
 * Secrets: password and NT hashes are wiped from memory when a record is
 * freed; the SQLite file is created mode 0600 and deleted rows are
 * overwritten (secure_delete). Lists never carry secrets.
 *
 * Threading: a vg_store may be used from any thread; every function takes
 * the store's own mutex for its whole duration, so calls are serialised.
 * No callback runs with the mutex held. Records returned are the caller's.
 */
#ifndef VG_STORE_H
#define VG_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "model.h"

typedef struct vg_store vg_store;

/** The schema version a freshly opened store has (the number of migrations). */
extern const int vg_store_schema_latest;

/** Longest password hash accepted, in bytes. */
#define VG_STORE_HASH_MAX 512

/** A user. Free with vg_store_user_free, which wipes the secrets. */
typedef struct vg_store_user {
    char *name;
    char *password_hash; /**< crypt(3) string; secret; NULL in lists */
    char *nt_hash;       /**< 32 lower-case hex digits, only for NLA users; secret; NULL in lists */
    bool nla;            /**< an NT hash is stored */
    bool disabled;       /**< may not log in */
    int64_t created;     /**< Unix time, seconds */
    int64_t updated;     /**< Unix time of the last change, seconds */
} vg_store_user;

/** A dedicated assignment of a VM to a user. */
typedef struct vg_store_assignment {
    char *user;
    char *vm;
    vg_role role;
} vg_store_assignment;

/** A VM the broker knows by name and, optionally, UUID. */
typedef struct vg_store_vm {
    char *name;
    char *uuid; /**< lower-case canonical form, or NULL */
} vg_store_vm;

/** A pool member and the user it is sticky to, if any. */
typedef struct vg_store_pool_member {
    char *vm;
    char *sticky_user; /**< NULL if the VM is not held for anyone */
} vg_store_pool_member;

/** A pool and its members. */
typedef struct vg_store_pool {
    char *name;
    vg_idle_action idle_action;
    unsigned idle_minutes; /**< 0 when idle_action is VG_IDLE_NONE */
    bool assign_on_first_login;
    GPtrArray *members; /**< of vg_store_pool_member, sorted by VM name */
} vg_store_pool;

/** The store's back ends. */
typedef enum vg_store_backend {
    VG_STORE_SQLITE,
    VG_STORE_POSTGRESQL,
} vg_store_backend;

/** Where a store is. */
typedef struct vg_store_options {
    vg_store_backend backend;
    const char *path;          /**< SQLite: the database file */
    const char *dsn;           /**< PostgreSQL: a libpq connection string (keyword=value pairs or
                                    a postgresql:// URI); TLS as its sslmode/sslrootcert say */
    const char *password_file; /**< PostgreSQL: a file whose first line is the password, not
                                    readable by others; NULL: the DSN, PGPASSFILE or ~/.pgpass */
    unsigned connect_timeout;  /**< PostgreSQL: seconds to connect unless the DSN sets
                                    connect_timeout; 0: 5 */
} vg_store_options;

/** Parse a back end's name ("sqlite", "postgresql"). @return 0; -EINVAL. */
int vg_store_backend_parse(const char *name, vg_store_backend *out);

/**
 * Open the store @o describes and bring its schema up to date (SQLite: as
 * vg_store_open).
 * @return 0 and *out set; -ENOTSUP if the database was written by a newer
 *         vmgate (or, PostgreSQL, is not in UTF8); -EINVAL for a DSN libpq
 *         cannot parse or a bad password file; -EACCES when the server
 *         refused the password (or the password file is readable by
 *         others); -ECONNREFUSED when the server cannot be reached within
 *         the connect timeout; -EIO for another failure (logged, naming the
 *         database's host, never the password).
 */
int vg_store_open_with(const vg_store_options *o, vg_store **out);

/**
 * Open (creating if needed) the SQLite store at @path and bring its schema up to
 * date. A new file is created mode 0600 (it holds password hashes).
 * @return 0 and *out set; -ENOTSUP if the database was written by a newer
 *         vmgate (its schema version is above vg_store_schema_latest);
 *         -EIO if it cannot be opened, is not a database or cannot use WAL;
 *         another negative errno if the file cannot be created.
 */
int vg_store_open(const char *path, vg_store **out);

/** Close the store. Everything was committed already. NULL is fine. */
void vg_store_close(vg_store *store);

/**
 * What messages call the database: SQLite's file path, as given to
 * vg_store_open; for PostgreSQL postgresql://USER@HOST:PORT/NAME (no
 * password).
 */
const char *vg_store_path(vg_store *store);

/** The back end of an open store. */
vg_store_backend vg_store_get_backend(vg_store *store);

/**
 * Whether the database answers now (PostgreSQL: connecting again if the
 * connection was lost), for readiness checks.
 * @return 0; -ECONNREFUSED when the server cannot be reached; another
 *         negative errno (logged).
 */
int vg_store_ping(vg_store *store);

/**
 * Log the failures of @store's calls at debug level instead of as
 * warnings, for a caller that reports them itself (vmgated's heartbeat,
 * once per outage rather than every second). Opening is not affected.
 */
void vg_store_set_quiet(vg_store *store, bool quiet);

/** The schema version of the open database (equals vg_store_schema_latest). */
int vg_store_schema_version(vg_store *store);

/* ---- users ---- */

/**
 * Add a user. @hash is a crypt(3) string (see vg_auth_hash_password);
 * @nt_hash is 32 hex digits for a user with NLA, or NULL. Both are copied.
 * @return 0; -EEXIST if the name is taken; -EINVAL for a bad name or hash.
 */
int vg_store_user_add(vg_store *store, const char *name, const char *hash, const char *nt_hash);

/**
 * Replace a user's password hash and NT hash (NULL removes the NT hash, as
 * when NLA is turned off for the user).
 * @return 0; -ENOENT if there is no such user; -EINVAL.
 */
int vg_store_user_set_password(vg_store *store, const char *name, const char *hash,
                               const char *nt_hash);

/**
 * Disable (refuse every login) or enable a user.
 * @return 0; -ENOENT; -EINVAL.
 */
int vg_store_user_set_disabled(vg_store *store, const char *name, bool disabled);

/**
 * Delete a user with their assignments, entitlements and sticky pool VMs.
 * @return 0; -ENOENT; -EINVAL.
 */
int vg_store_user_del(vg_store *store, const char *name);

/**
 * Look up a user, secrets included.
 * @return 0 and *out set (free with vg_store_user_free); -ENOENT; -EINVAL.
 */
int vg_store_user_get(vg_store *store, const char *name, vg_store_user **out);

/**
 * All users sorted by name, without secrets (password_hash and nt_hash are
 * NULL; nla says whether an NT hash is stored).
 * @return 0 and *out set to a GPtrArray of vg_store_user (g_ptr_array_unref
 *         frees everything); -EIO.
 */
int vg_store_user_list(vg_store *store, GPtrArray **out);

/** Free a user record, wiping its secrets. NULL is fine. */
void vg_store_user_free(vg_store_user *user);

/* ---- VMs known by UUID ---- */

/**
 * Record a VM's UUID (or, with @uuid NULL, just its name); replaces what was
 * recorded for @name.
 * @return 0; -EEXIST if another VM has this UUID; -EINVAL for a bad name or
 *         a UUID not in the 8-4-4-4-12 hex form.
 */
int vg_store_vm_set(vg_store *store, const char *name, const char *uuid);

/**
 * Forget a VM (its assignments and pool memberships stay: they follow the
 * name).
 * @return 0; -ENOENT; -EINVAL.
 */
int vg_store_vm_del(vg_store *store, const char *name);

/**
 * Find a VM by name, or by UUID in any letter case.
 * @return 0 and *out set (free with vg_store_vm_free); -ENOENT; -EINVAL.
 */
int vg_store_vm_get(vg_store *store, const char *name_or_uuid, vg_store_vm **out);

/**
 * All recorded VMs sorted by name.
 * @return 0 and *out set to a GPtrArray of vg_store_vm; -EIO.
 */
int vg_store_vm_list(vg_store *store, GPtrArray **out);

/** Free a VM record. NULL is fine. */
void vg_store_vm_free(vg_store_vm *vm);

/* ---- dedicated assignments ---- */

/**
 * Give @user role @role on VM @vm; replaces the role if the user already
 * has one there.
 * @return 0; -ENOENT if there is no such user; -EINVAL.
 */
int vg_store_assign(vg_store *store, const char *user, const char *vm, vg_role role);

/**
 * Remove @user's assignment to @vm.
 * @return 0; -ENOENT if there was none (or no such user); -EINVAL.
 */
int vg_store_unassign(vg_store *store, const char *user, const char *vm);

/**
 * @user's assignments sorted by VM name.
 * @return 0 and *out set to a GPtrArray of vg_store_assignment; -ENOENT if
 *         there is no such user; -EINVAL; -EIO.
 */
int vg_store_assignments_for_user(vg_store *store, const char *user, GPtrArray **out);

/**
 * Assignments to @vm sorted by user name (empty if none).
 * @return 0 and *out set to a GPtrArray of vg_store_assignment; -EINVAL; -EIO.
 */
int vg_store_assignments_for_vm(vg_store *store, const char *vm, GPtrArray **out);

/** Free an assignment record. NULL is fine. */
void vg_store_assignment_free(vg_store_assignment *a);

/* ---- pools ---- */

/**
 * Create an empty pool. With @idle_action VG_IDLE_NONE, @idle_minutes is
 * ignored; otherwise it must be 1..10080 (a week).
 * @return 0; -EEXIST; -EINVAL.
 */
int vg_store_pool_create(vg_store *store, const char *name, vg_idle_action idle_action,
                         unsigned idle_minutes, bool assign_on_first_login);

/**
 * Change a pool's idle policy and assign-on-first-login flag (same rules as
 * vg_store_pool_create). Sticky VMs stay held when the flag is turned off.
 * @return 0; -ENOENT; -EINVAL.
 */
int vg_store_pool_set_policy(vg_store *store, const char *name, vg_idle_action idle_action,
                             unsigned idle_minutes, bool assign_on_first_login);

/**
 * Delete a pool with its members, entitlements and sticky VMs.
 * @return 0; -ENOENT; -EINVAL.
 */
int vg_store_pool_del(vg_store *store, const char *name);

/**
 * Add VM @vm to pool @pool. A VM belongs to at most one pool.
 * @return 0; -ENOENT if there is no such pool; -EEXIST if the VM is already
 *         in this or another pool; -EINVAL.
 */
int vg_store_pool_add_vm(vg_store *store, const char *pool, const char *vm);

/**
 * Remove VM @vm from pool @pool (and release it if it was sticky).
 * @return 0; -ENOENT if it was not a member; -EINVAL.
 */
int vg_store_pool_remove_vm(vg_store *store, const char *pool, const char *vm);

/**
 * Look up a pool with its members and their sticky users.
 * @return 0 and *out set (free with vg_store_pool_free); -ENOENT; -EINVAL.
 */
int vg_store_pool_get(vg_store *store, const char *name, vg_store_pool **out);

/**
 * All pools sorted by name, with their members.
 * @return 0 and *out set to a GPtrArray of vg_store_pool; -EIO.
 */
int vg_store_pool_list(vg_store *store, GPtrArray **out);

/** Free a pool record. NULL is fine. */
void vg_store_pool_free(vg_store_pool *pool);

/**
 * Allow @user to take VMs from @pool.
 * @return 0; -ENOENT if the user or pool does not exist; -EEXIST if already
 *         entitled; -EINVAL.
 */
int vg_store_entitle(vg_store *store, const char *user, const char *pool);

/**
 * Withdraw @user's entitlement to @pool, releasing their sticky VM there.
 * @return 0; -ENOENT if there was none; -EINVAL.
 */
int vg_store_unentitle(vg_store *store, const char *user, const char *pool);

/**
 * Names of the pools @user is entitled to, sorted.
 * @return 0 and *out set to a GPtrArray of char * (g_free'd by unref);
 *         -ENOENT if there is no such user; -EINVAL; -EIO.
 */
int vg_store_entitlements_for_user(vg_store *store, const char *user, GPtrArray **out);

/**
 * The VM of @pool held for @user.
 * @return 0 and *vm set (g_free it); -ENOENT if none; -EINVAL.
 */
int vg_store_sticky_get(vg_store *store, const char *pool, const char *user, char **vm);

/**
 * Hold pool VM @vm for @user (assign on first login). Setting the same pair
 * again is a no-op.
 * @return 0; -ENOENT if the user or pool does not exist or @vm is not a
 *         member of @pool; -EEXIST if @vm is held for someone else or @user
 *         already holds another VM of @pool (clear it first); -EINVAL.
 */
int vg_store_sticky_set(vg_store *store, const char *pool, const char *vm, const char *user);

/**
 * Release pool VM @vm.
 * @return 0; -ENOENT if it was not held; -EINVAL.
 */
int vg_store_sticky_clear(vg_store *store, const char *pool, const char *vm);

/* ---- instances and placements ---- */

/*
 * Each vmgated sharing the store is an instance: it registers itself, beats
 * a heartbeat, and lists the VMs it serves (placements). Every time here is
 * milliseconds since the epoch by the database's clock (SQL vg_now_ms()),
 * never by an instance's own, so instances on hosts whose clocks differ
 * agree on how old a heartbeat is. Whether an instance is up is decided
 * when listing, against a bound the caller passes.
 */

/** Heartbeat age after which vmgate calls an instance down: 3 missed beats of 1 s. */
#define VG_STORE_INSTANCE_DOWN_MS 3000

/** What an instance registers. Ports are 0 for a front end it does not serve. */
typedef struct vg_store_instance_info {
    const char *name;    /**< vg_name_valid */
    const char *address; /**< host name or IP address clients reach it at */
    unsigned vnc_port, rdp_port, web_port;
} vg_store_instance_info;

/** An instance as listed. */
typedef struct vg_store_instance {
    char *name;
    char *address;
    unsigned vnc_port, rdp_port, web_port; /**< 0: not served */
    int64_t started;   /**< registered, ms since the epoch (the database's clock) */
    int64_t heartbeat; /**< last heartbeat, same clock */
    int64_t age_ms;    /**< since the last heartbeat, when listed */
    bool stopped;      /**< it said it stopped (a clean exit) */
    bool up;           /**< not stopped and heartbeat younger than the bound given */
    unsigned vms;      /**< placements it holds */
} vg_store_instance;

/** Where a VM is, as an instance reported it. */
typedef struct vg_store_placement {
    char *vm;
    char *instance;
    char *state;      /**< the VM's state as that instance saw it ("running", ...) */
    int64_t updated;  /**< ms since the epoch (the database's clock) */
    bool instance_up; /**< its instance is up (vg_store_instance.up), when listed */
} vg_store_placement;

/**
 * Register instance @info->name (again): its address and ports replaced,
 * started and heartbeat set to now, no longer stopped; the viewers an
 * earlier run left are removed (one transaction). Its placements stay
 * until replaced.
 * @return 0; -EINVAL for a bad name, an empty address or a port above 65535.
 */
int vg_store_instance_register(vg_store *store, const vg_store_instance_info *info);

/**
 * Record a heartbeat of instance @name (and that it runs).
 * @return 0; -ENOENT if it is not registered (register it again); -EINVAL.
 */
int vg_store_instance_heartbeat(vg_store *store, const char *name);

/**
 * Mark instance @name stopped (a clean exit): listed as stopped, its
 * placements kept (their VMs are unreachable until it registers again),
 * its viewers removed (one transaction).
 * @return 0; -ENOENT; -EINVAL.
 */
int vg_store_instance_stop(vg_store *store, const char *name);

/**
 * All instances sorted by name, each up when not stopped and its heartbeat
 * younger than @down_after_ms (VG_STORE_INSTANCE_DOWN_MS for vmgate's own
 * rule; 0 makes every instance down).
 * @return 0 and *out set to a GPtrArray of vg_store_instance; -EINVAL; -EIO.
 */
int vg_store_instance_list(vg_store *store, int64_t down_after_ms, GPtrArray **out);

/** Free an instance record. NULL is fine. */
void vg_store_instance_free(vg_store_instance *instance);

/**
 * Replace instance @instance's placements by @vms (of vg_store_placement;
 * vm and state are read, the rest ignored): the VMs it no longer has are
 * removed, a VM another instance held becomes this one's.
 * @return 0; -ENOENT if the instance is not registered; -EINVAL for a bad
 *         name or a NULL state.
 */
int vg_store_placement_replace(vg_store *store, const char *instance, GPtrArray *vms);

/**
 * Change some of instance @instance's placements: set @set (of
 * vg_store_placement, vm and state read; NULL for none), remove the VMs
 * named in @removed (of char *; NULL for none) if this instance holds them.
 * One transaction.
 * @return 0; -ENOENT if the instance is not registered; -EINVAL.
 */
int vg_store_placement_update(vg_store *store, const char *instance, GPtrArray *set,
                              GPtrArray *removed);

/**
 * All placements sorted by VM name, each with whether its instance is up
 * (as vg_store_instance_list decides with @down_after_ms).
 * @return 0 and *out set to a GPtrArray of vg_store_placement; -EINVAL; -EIO.
 */
int vg_store_placement_list(vg_store *store, int64_t down_after_ms, GPtrArray **out);

/** Free a placement record. NULL is fine. */
void vg_store_placement_free(vg_store_placement *placement);

/* ---- redirection grants ---- */

/**
 * A grant lets a user who logged in on one instance (the entrance) in on
 * the instance that holds the VM (@instance), once, before it expires,
 * without asking for the password again: the entrance hands the client a
 * secret, the store keeps only its NT hash (NLA checks the client's answer
 * with it). The id names the row; it is no secret.
 */
typedef struct vg_store_grant {
    const char *id;          /**< 1..64 of [A-Za-z0-9] */
    const char *user;        /**< vg_name_valid */
    const char *vm;          /**< vg_vm_name_valid */
    const char *instance;    /**< vg_name_valid: where it may be used */
    const char *secret_hash; /**< the secret's NT hash, 32 hex digits */
    int64_t ttl_ms;          /**< 1..600000: valid this long (the database's clock) */
} vg_store_grant;

/**
 * Record grant @g (and forget the expired ones).
 * @return 0; -EEXIST for an id in use; -EINVAL; another negative errno.
 */
int vg_store_grant_add(vg_store *store, const vg_store_grant *g);

/**
 * Use grant @id: it must be for @user on @instance and not expired. It is
 * gone afterwards, whatever the client then does (single use); of two
 * instances taking it at once, one gets it.
 * @return 0 with *vm and *secret_hash (wipe with vg_auth_secret_free) set;
 *         -ENOENT for an unknown, used, expired or mismatched grant (one
 *         answer for all); -EINVAL; another negative errno.
 */
int vg_store_grant_take(vg_store *store, const char *id, const char *instance, const char *user,
                        char **vm, char **secret_hash);
/* ---- the audit log the instances share ---- */

/*
 * With several instances on one database, each writes its audit records to
 * the table audit as well as to its own file (which stays the record of
 * truth), so that any instance can show all of them. A row holds the
 * record's JSON text exactly as its instance wrote it, the instance's name,
 * the event, and when the store took it (milliseconds by the database's
 * clock, vg_now_ms()); the record's own "time" is when it happened.
 */

/** Longest record the table takes, in bytes. */
#define VG_STORE_AUDIT_RECORD_MAX (64 * 1024)

/** Longest event name, in bytes. */
#define VG_STORE_AUDIT_EVENT_MAX 64

/** Most records one vg_store_audit_append writes, and one vg_store_audit_tail returns. */
#define VG_STORE_AUDIT_BATCH_MAX 1000
#define VG_STORE_AUDIT_TAIL_MAX  10000

/** One record to append (both strings the caller's). */
typedef struct vg_store_audit_record {
    const char *event;  /**< 1 to VG_STORE_AUDIT_EVENT_MAX of a-z A-Z 0-9 _ - . */
    const char *record; /**< the JSON text, valid UTF-8, 1 to VG_STORE_AUDIT_RECORD_MAX bytes */
} vg_store_audit_record;

/**
 * Append @n records of instance @instance, in their order, in one
 * transaction (all or none).
 * @return 0; -EINVAL for a bad name, event or record, or @n above
 *         VG_STORE_AUDIT_BATCH_MAX; another negative errno (nothing written).
 */
int vg_store_audit_append(vg_store *store, const char *instance,
                          const vg_store_audit_record *records, size_t n);

/**
 * The last @n records of every instance (at most VG_STORE_AUDIT_TAIL_MAX),
 * oldest first: by the time the store took them, then by row id.
 * @return 0 and *out set to a GPtrArray of char * (the JSON texts);
 *         a negative errno.
 */
int vg_store_audit_tail(vg_store *store, unsigned n, GPtrArray **out);
/*
 * Live viewers across instances. Each instance writes its own viewers
 * (vg_store_viewer_replace after it registers, then vg_store_viewer_update
 * with what changed); registering and stopping clear them. Ids are the
 * instance's own ("v12", session "s3"): an instance and an id name one.
 */

/** A live viewer as its instance last wrote it. */
typedef struct vg_store_viewer {
    char *instance; /**< when listed (ignored when written) */
    char *id;       /**< viewer id, at most 23 bytes */
    char *session;  /**< its session's id, at most 23 bytes */
    char *vm;       /**< vg_vm_name_valid */
    char *user;     /**< vg_name_valid */
    char *protocol; /**< "vnc", "rdp", "web"; at most 7 bytes */
    char *address;  /**< source address, at most 63 bytes */
    vg_role role;
    int64_t since;    /**< wall clock, seconds since the epoch */
    bool instance_up; /**< its instance is up, when listed */
} vg_store_viewer;

/**
 * Replace instance @instance's viewers by @viewers (of vg_store_viewer).
 * @return 0; -ENOENT if the instance is not registered; -EINVAL for a bad
 *         field.
 */
int vg_store_viewer_replace(vg_store *store, const char *instance, GPtrArray *viewers);

/**
 * Set @set (of vg_store_viewer, new or changed) and remove the ids in
 * @removed (of char *) of instance @instance's viewers; NULL for none. One
 * transaction.
 * @return 0; -ENOENT if the instance is not registered; -EINVAL.
 */
int vg_store_viewer_update(vg_store *store, const char *instance, GPtrArray *set,
                           GPtrArray *removed);

/**
 * Every instance's viewers, sorted by instance, VM, session and id, each
 * with whether its instance is up (as vg_store_instance_list decides with
 * @down_after_ms).
 * @return 0 and *out set to a GPtrArray of vg_store_viewer; -EINVAL; -EIO.
 */
int vg_store_viewer_list(vg_store *store, int64_t down_after_ms, GPtrArray **out);

/** Free a viewer record. NULL is fine. */
void vg_store_viewer_free(vg_store_viewer *viewer);

/**
 * Whether user @user may reach VM @vm now: the user exists, is not
 * disabled, and is assigned to the VM or entitled to a pool that holds
 * it. The rule every instance applies to its live viewers when another
 * one says access was taken away.
 * @return 0 and *yes set; -EINVAL; a negative errno when the store cannot say.
 */
int vg_store_user_may_reach(vg_store *store, const char *user, const char *vm, bool *yes);

/*
 * The event bus between the instances sharing a store: PostgreSQL's
 * LISTEN/NOTIFY. SQLite serves one host and has none: -ENOTSUP.
 */

/** Longest payload in bytes (PostgreSQL requires fewer than 8000). */
#define VG_STORE_NOTIFY_PAYLOAD_MAX 7999

/** Longest channel name (PostgreSQL's identifiers: 63 bytes); [a-z_] only. */
#define VG_STORE_CHANNEL_MAX 63

/** A notification received; @channel NULL: the connection was made again and some may have been
 * missed (@payload NULL). */
typedef void (*vg_store_notify_fn)(void *opaque, const char *channel, const char *payload);

/**
 * Listen to @channel on this connection from now on (again on every new
 * connection, even when this call failed for want of one).
 * @return 0; -EINVAL for a bad name; -ENOTSUP without a bus; -ECONNREFUSED.
 */
int vg_store_listen(vg_store *store, const char *channel);

/**
 * Send @payload (UTF-8 text, at most VG_STORE_NOTIFY_PAYLOAD_MAX bytes) on
 * @channel to every connection listening to it, this one included.
 * @return 0 once the server took it; -EMSGSIZE; -EINVAL; -ENOTSUP;
 *         -ECONNREFUSED.
 */
int vg_store_notify(vg_store *store, const char *channel, const char *payload);

/**
 * Wait at most @timeout_ms (0 to 60000) for notifications of the channels
 * listened to, or for @wake_fd (< 0: none) to be readable (it is not
 * read), then call @fn for each notification received (without the
 * store's lock: @fn may use the store).
 * @return 0; -ENOTSUP without a bus; -ECONNREFUSED when the connection is
 *         gone (the next store call connects again); -EINVAL.
 */
int vg_store_wait_notifications(vg_store *store, int wake_fd, int timeout_ms, vg_store_notify_fn fn,
                                void *opaque);

#endif /* VG_STORE_H */
