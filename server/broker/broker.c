/*
 * vmgate — broker. See broker.h for what it does and its threading.
 * `lock` guards the settings that SIGHUP may replace; the store, registry
 * and session registry are thread-safe themselves.
 */
#include "broker.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <glib.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth.h"
#include "hypervisor.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "util.h"

#define TAG "broker"
/* Same words for every authentication failure: never reveal which part was wrong. */
#define MSG_AUTH_FAILED "Authentication failed"

struct vg_broker {
    vg_store *store;
    vg_registry *registry;
    vg_sessions *sessions;
    vg_broker_audit_fn audit;
    void *audit_opaque;

    GMutex lock;
    vg_ratelimit *rl;
    bool power_on_demand;
    bool pam;
    char *pam_service;
    vg_second_login second_login;
    bool audit_fail_open; /* logins go ahead when the audit log cannot be written */

    /* Pool VMs chosen by a login that has not joined the session yet (vm
     * name → claim, under lock). Choosing takes choose_lock, so two
     * logins never both see a pool VM free: the second sees the first's
     * claim, until the first joins (then its session shows) or fails. */
    GMutex choose_lock;
    GHashTable *claims;

    char *instance; /* this vmgated's name among the instances sharing the store */
};

typedef struct claim {
    char user[65];
    int64_t until_us; /* forgotten after this (a login that never came back) */
} claim;

/* Extra time a claim lasts beyond the login's own console wait. */
#define VG_CLAIM_SLACK_US (60 * G_USEC_PER_SEC)

static void on_lockout(void *opaque, const char *kind, const char *what, int64_t seconds);

static int apply_config(vg_broker *b, const vg_config *cfg)
{
    vg_ratelimit_config rc;
    vg_ratelimit *rl = NULL;
    int r;

    vg_ratelimit_config_defaults(&rc);
    rc.max_failures = cfg->max_failures;
    rc.window = cfg->failure_window;
    rc.lockout = cfg->lockout;
    /* A reload keeps the limiter, and so the failures it counted, and
     * changes its limits in place (logins in flight hold it unlocked). */
    if (b->rl)
        r = vg_ratelimit_reconfigure(b->rl, &rc);
    else if ((r = vg_ratelimit_new(&rc, &rl)) == 0)
        vg_ratelimit_set_lockout_fn(rl, on_lockout, b);
    if (r < 0)
        return r;
    g_mutex_lock(&b->lock);
    if (rl)
        b->rl = rl;
    b->power_on_demand = cfg->power_on_demand;
    b->pam = cfg->pam;
    b->second_login = cfg->second_login;
    b->audit_fail_open = cfg->audit_fail_open;
    g_free(b->pam_service);
    b->pam_service = g_strdup(cfg->pam_service);
    g_mutex_unlock(&b->lock);
    return 0;
}

int vg_broker_new(vg_store *store, vg_registry *registry, vg_sessions *sessions,
                  const vg_config *cfg, vg_broker_audit_fn audit, void *audit_opaque,
                  vg_broker **out)
{
    vg_broker *b = g_new0(vg_broker, 1);
    int r;

    b->store = store;
    b->registry = registry;
    b->sessions = sessions;
    b->audit = audit;
    b->audit_opaque = audit_opaque;
    b->instance = g_strdup(cfg->instance_name);
    g_mutex_init(&b->lock);
    g_mutex_init(&b->choose_lock);
    b->claims = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    if ((r = apply_config(b, cfg)) < 0) {
        vg_broker_free(b);
        return r;
    }
    *out = b;
    return 0;
}

void vg_broker_free(vg_broker *b)
{
    if (!b)
        return;
    vg_ratelimit_free(b->rl);
    g_free(b->pam_service);
    g_free(b->instance);
    g_hash_table_unref(b->claims);
    g_mutex_clear(&b->choose_lock);
    g_mutex_clear(&b->lock);
    g_free(b);
}

/* Forget @user's claim on @vm (it joined the session, or its login failed). */
static void drop_claim(vg_broker *b, const char *vm, const char *user)
{
    claim *c;

    g_mutex_lock(&b->lock);
    c = g_hash_table_lookup(b->claims, vm);
    if (c && strcmp(c->user, user) == 0)
        g_hash_table_remove(b->claims, vm);
    g_mutex_unlock(&b->lock);
}

bool vg_broker_vm_claimed(vg_broker *b, const char *vm, char user[65])
{
    claim *c;
    bool claimed;

    g_mutex_lock(&b->lock);
    c = g_hash_table_lookup(b->claims, vm);
    claimed = c && c->until_us > vg_now_us();
    if (claimed && user)
        g_strlcpy(user, c->user, 65);
    g_mutex_unlock(&b->lock);
    return claimed;
}

vg_registry *vg_broker_registry(vg_broker *b)
{
    return b->registry;
}

int vg_broker_reconfigure(vg_broker *b, const vg_config *cfg)
{
    return apply_config(b, cfg);
}

/* Facts about VMs for the policy. */
typedef struct facts {
    GArray *vms;           /* vg_vm_info from the registry */
    GHashTable *viewer_of; /* vm name → user viewing it */
    GPtrArray *placements; /* vg_store_placement: the VMs other instances hold */
    GHashTable *remote;    /* vm name → its placement, for other instances that are up */
    GHashTable *down;      /* vm name → its placement, for other instances that are not */
} facts;

/* A VM's state as another instance reported it (vg_vm_info_state_text's words). */
static vg_vm_state remote_state(const char *text)
{
    if (strcmp(text, "running") == 0 || strcmp(text, "blocked") == 0)
        return VG_VM_RUNNING;
    if (strcmp(text, "paused") == 0 || strcmp(text, "suspended") == 0)
        return VG_VM_PAUSED;
    if (strcmp(text, "shut-off") == 0)
        return VG_VM_SHUTOFF;
    return VG_VM_UNAVAILABLE;
}

static bool is_local(facts *f, const char *name)
{
    for (guint i = 0; i < f->vms->len; i++)
        if (strcmp(g_array_index(f->vms, vg_vm_info, i).name, name) == 0)
            return true;
    return false;
}

static void fill_vm(facts *f, const char *name, vg_policy_vm *out)
{
    const vg_store_placement *there;

    out->name = name;
    out->uuid = NULL;
    out->state = VG_VM_MISSING;
    out->session_user = g_hash_table_lookup(f->viewer_of, name);
    out->sticky_user = NULL;
    for (guint i = 0; i < f->vms->len; i++) {
        const vg_vm_info *vm = &g_array_index(f->vms, vg_vm_info, i);
        if (strcmp(vm->name, name) == 0) {
            out->uuid = vm->uuid;
            out->state = vg_vm_info_state(vm);
            return;
        }
    }
    /* Held by another instance that is up: as it reported it. Who views it
     * there is that instance's to know; its own login decides again. */
    if (f->remote && (there = g_hash_table_lookup(f->remote, name)))
        out->state = remote_state(there->state);
}

/* The VMs the other instances that are up hold, when the store is shared. */
static void load_remote(vg_broker *b, facts *f)
{
    if (!b->instance ||
        vg_store_placement_list(b->store, VG_STORE_INSTANCE_DOWN_MS, &f->placements) < 0)
        return;
    f->remote = g_hash_table_new(g_str_hash, g_str_equal);
    f->down = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < f->placements->len; i++) {
        vg_store_placement *p = g_ptr_array_index(f->placements, i);
        if (strcmp(p->instance, b->instance) != 0)
            g_hash_table_insert(p->instance_up ? f->remote : f->down, p->vm, p);
    }
}

static void facts_clear_remote(facts *f)
{
    if (f->remote)
        g_hash_table_unref(f->remote);
    if (f->down)
        g_hash_table_unref(f->down);
    if (f->placements)
        g_ptr_array_unref(f->placements);
}

/* Where instance @name is reached. @return 0; -ENOENT when it is not up; another errno. */
static int find_instance(vg_broker *b, const char *name, vg_broker_elsewhere *out)
{
    g_autoptr(GPtrArray) list = NULL;
    int r = vg_store_instance_list(b->store, VG_STORE_INSTANCE_DOWN_MS, &list);

    if (r < 0)
        return r;
    for (guint i = 0; i < list->len; i++) {
        const vg_store_instance *in = g_ptr_array_index(list, i);
        if (strcmp(in->name, name) != 0)
            continue;
        if (!in->up)
            return -ENOENT;
        g_strlcpy(out->instance, in->name, sizeof(out->instance));
        g_strlcpy(out->address, in->address, sizeof(out->address));
        out->vnc_port = in->vnc_port;
        out->rdp_port = in->rdp_port;
        out->web_port = in->web_port;
        return 0;
    }
    return -ENOENT;
}

static int audit(vg_broker *b, const char *event, const char *user, const char *addr,
                 const char *k1, const char *v1, const char *k2, const char *v2)
{
    if (b->audit)
        return b->audit(b->audit_opaque, event, "user", user, "address", addr, k1, v1, k2, v2,
                        NULL);
    return 0;
}

/* One login attempt's outcome, for vmgate_logins_total. */
static vg_metric_login login_metric(vg_broker_status status)
{
    switch (status) {
    case VG_BROKER_OK:
        return VG_METRIC_LOGIN_OK;
    case VG_BROKER_AUTH_FAILED:
        return VG_METRIC_LOGIN_BAD_CREDENTIALS;
    case VG_BROKER_REFUSED:
        return VG_METRIC_LOGIN_REFUSED;
    case VG_BROKER_UNAVAILABLE:
        return VG_METRIC_LOGIN_UNAVAILABLE;
    case VG_BROKER_ELSEWHERE:
        return VG_METRIC_LOGIN_REDIRECTED;
    case VG_BROKER_INTERNAL:
    default:
        return VG_METRIC_LOGIN_ERROR;
    }
}

/* The same for a refusal named as the audit names it ("rate-limited", ...). */
static vg_metric_login login_metric_why(const char *why)
{
    if (strcmp(why, "rate-limited") == 0)
        return VG_METRIC_LOGIN_THROTTLED;
    if (strcmp(why, "disabled") == 0)
        return VG_METRIC_LOGIN_DISABLED;
    if (strcmp(why, "store-error") == 0)
        return VG_METRIC_LOGIN_ERROR;
    return VG_METRIC_LOGIN_BAD_CREDENTIALS;
}

/* A user or an address was locked out after too many failed logins. */
static void on_lockout(void *opaque, const char *kind, const char *what, int64_t seconds)
{
    vg_broker *b = opaque;
    char secs[24];
    bool user = strcmp(kind, "user") == 0;

    vg_metrics_lockout(user ? VG_METRIC_LOCKOUT_USER : VG_METRIC_LOCKOUT_ADDRESS);
    g_snprintf(secs, sizeof(secs), "%" G_GINT64_FORMAT, seconds);
    vg_warning(TAG, "%s %s locked out for %s s after repeated failed logins", kind, what, secs);
    audit(b, "lockout", user ? what : "", user ? "-" : what, "kind", kind, "seconds", secs);
}

static bool audit_fail_open(vg_broker *b)
{
    bool open;
    g_mutex_lock(&b->lock);
    open = b->audit_fail_open;
    g_mutex_unlock(&b->lock);
    return open;
}

/* Start or resume @vm. */
static int power_on(vg_broker *b, const char *vm, const char **why)
{
    int r = vg_registry_power(b->registry, vm, VG_POWER_ON);

    if (r == -ENOTCONN)
        *why = "the hypervisor is not reachable";
    else if (r == -ENOENT)
        *why = "the VM does not exist";
    else if (r < 0)
        *why = "the VM could not be started";
    return r;
}

static const char *refusal_message(vg_policy_refusal r)
{
    switch (r) {
    case VG_POLICY_NO_VM:
        return "No VM is assigned to you";
    case VG_POLICY_NOT_ENTITLED:
        return "You may not use the requested VM";
    case VG_POLICY_POOL_EXHAUSTED:
        return "No VM is free in your pools";
    case VG_POLICY_VM_IN_USE:
        return "The requested VM is in use by someone else";
    case VG_POLICY_VM_NOT_RUNNING:
        return "Your VM is not running and may not be started";
    case VG_POLICY_VM_UNAVAILABLE:
    default:
        return "Your VM is not available right now";
    }
}

static int authenticate(vg_broker *b, const char *user, const char *password, const char *addr,
                        vg_auth_result *result)
{
    bool pam;
    g_autofree char *service = NULL;
    int r;

    g_mutex_lock(&b->lock);
    pam = b->pam;
    service = g_strdup(b->pam_service);
    g_mutex_unlock(&b->lock);

    r = vg_auth_login(b->store, b->rl, user, password, addr, vg_now_us() / 1000000, result);
    if (r < 0 || *result != VG_AUTH_BAD_CREDENTIALS || !pam)
        return r;
    /* A system account known to the store only by name (for its
     * assignments) may log in through PAM. PAM is asked whoever the name
     * is, known to the store or not: asking only for known names would
     * tell a prober, by the time PAM takes, which names exist. */
    if (vg_auth_pam(service, user, password) == 0) {
        vg_store_user *u = NULL;
        if (vg_store_user_get(b->store, user, &u) == 0) {
            if (!u->disabled) {
                vg_ratelimit_success(b->rl, user);
                *result = VG_AUTH_OK;
            }
            vg_store_user_free(u);
        }
    }
    return 0;
}

/* The user is who they say: choose the VM, power it on, wait for its console. */
static int choose_and_connect(vg_broker *b, const char *user, const char *vm_from_login,
                              const char *address, const char *requested, int timeout_s,
                              bool no_redirect, vg_broker_result *res);

static int grant_login(vg_broker *b, const char *rest, const char *password, const char *address,
                       int timeout_s, vg_broker_result *res);

int vg_broker_login(vg_broker *b, const char *login, const char *password, const char *address,
                    const char *requested, int timeout_s, vg_broker_result *res)
{
    g_autofree char *vm_from_login = NULL, *user = NULL;
    vg_auth_result ar = VG_AUTH_BAD_CREDENTIALS;
    int r;

    memset(res, 0, sizeof(*res));
    if (!address)
        address = "-";
    if (login && g_str_has_prefix(login, VG_BROKER_GRANT_LOGIN_PREFIX))
        return grant_login(b, login + strlen(VG_BROKER_GRANT_LOGIN_PREFIX), password, address,
                           timeout_s, res);
    if (vg_policy_split_login(login ? login : "", &vm_from_login, &user) < 0) {
        res->status = VG_BROKER_AUTH_FAILED;
        g_strlcpy(res->message, MSG_AUTH_FAILED, sizeof(res->message));
        audit(b, "login_failed", login ? login : "", address, "reason", "malformed-login", NULL,
              NULL);
        vg_metrics_login(VG_METRIC_LOGIN_BAD_CREDENTIALS);
        return 0;
    }
    g_strlcpy(res->user, user, sizeof(res->user));
    r = authenticate(b, user, password ? password : "", address, &ar);
    if (r < 0) {
        res->status = VG_BROKER_INTERNAL;
        g_strlcpy(res->message, "The gateway cannot check logins right now", sizeof(res->message));
        audit(b, "login_failed", user, address, "reason", "store-error", NULL, NULL);
        vg_metrics_login(VG_METRIC_LOGIN_ERROR);
        return 0;
    }
    if (ar != VG_AUTH_OK) {
        res->status = VG_BROKER_AUTH_FAILED;
        g_strlcpy(res->message, MSG_AUTH_FAILED, sizeof(res->message));
        vg_notice(TAG, "login failed: user=%s address=%s (%s)", user, address,
                  vg_auth_result_name(ar));
        audit(b, "login_failed", user, address, "reason", vg_auth_result_name(ar), NULL, NULL);
        vg_metrics_login(login_metric_why(vg_auth_result_name(ar)));
        return 0;
    }
    r = choose_and_connect(b, user, vm_from_login, address, requested, timeout_s, false, res);
    vg_metrics_login(login_metric(res->status));
    return r;
}

int vg_broker_nla_hash(vg_broker *b, const char *user, const char *address,
                       uint8_t nt_hash[VG_BROKER_NT_HASH_BYTES])
{
    vg_store_user *u = NULL;
    int64_t now = vg_now_us() / 1000000;
    const char *why = NULL;
    int r = -EACCES;

    if (!address)
        address = "-";
    if (!user || !vg_name_valid(user))
        why = "bad-credentials";
    else if (vg_ratelimit_check(b->rl, user, address, now) < 0)
        why = "rate-limited";
    else if ((r = vg_store_user_get(b->store, user, &u)) < 0 && r != -ENOENT)
        why = "store-error";
    else if (!u)
        why = "bad-credentials";
    else if (!u->nt_hash)
        why = "no-nla"; /* the user exists, but was not given a password with --nla */
    else {
        for (unsigned i = 0; i < VG_BROKER_NT_HASH_BYTES; i++) {
            int hi = g_ascii_xdigit_value(u->nt_hash[2 * i]);
            int lo = g_ascii_xdigit_value(u->nt_hash[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                why = "store-error";
                break;
            }
            nt_hash[i] = (uint8_t)(hi << 4 | lo);
        }
    }
    vg_store_user_free(u);
    if (!why)
        return 0;
    OPENSSL_cleanse(nt_hash, VG_BROKER_NT_HASH_BYTES);
    if (strcmp(why, "bad-credentials") == 0 || strcmp(why, "no-nla") == 0)
        vg_ratelimit_fail(b->rl, user ? user : "", address, now);
    vg_notice(TAG, "login failed: user=%s address=%s (%s, NLA)", user ? user : "", address, why);
    audit(b, "login_failed", user ? user : "", address, "reason", why, "method", "nla");
    vg_metrics_login(login_metric_why(why));
    return strcmp(why, "store-error") == 0 ? -EIO : -EACCES;
}

/* 32 hex digits into 16 bytes. @return false for anything else. */
static bool unhex16(const char *hex, uint8_t out[VG_BROKER_NT_HASH_BYTES])
{
    if (!hex || strlen(hex) != 2 * VG_BROKER_NT_HASH_BYTES)
        return false;
    for (unsigned i = 0; i < VG_BROKER_NT_HASH_BYTES; i++) {
        int hi = g_ascii_xdigit_value(hex[2 * i]), lo = g_ascii_xdigit_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

int vg_broker_grant_issue(vg_broker *b, const vg_broker_result *res, const char *address,
                          const char *protocol, char id[VG_BROKER_GRANT_ID_LEN + 1],
                          char secret[VG_BROKER_GRANT_SECRET_LEN + 1])
{
    uint8_t raw[VG_BROKER_GRANT_ID_LEN / 2 + 32];
    char hash[VG_NT_HASH_LEN + 1];
    vg_store_grant g = {0};
    int r;

    if (res->status != VG_BROKER_ELSEWHERE || !res->elsewhere.instance[0])
        return -EINVAL;
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -EIO;
    /* The id: random bytes in hex. The secret: 256 random bits in base64url
     * without padding (43 characters), a password no one chose. */
    for (unsigned i = 0; i < VG_BROKER_GRANT_ID_LEN / 2; i++)
        g_snprintf(id + 2 * i, 3, "%02x", raw[i]);
    {
        char *b64 = g_base64_encode(raw + VG_BROKER_GRANT_ID_LEN / 2, 32);
        G_STATIC_ASSERT(VG_BROKER_GRANT_SECRET_LEN == 43); /* 44 with its one '=' */
        for (char *c = b64; *c; c++)
            *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
        g_strlcpy(secret, b64, VG_BROKER_GRANT_SECRET_LEN + 1);
        OPENSSL_cleanse(b64, strlen(b64));
        g_free(b64);
    }
    OPENSSL_cleanse(raw, sizeof(raw));
    /* The client's NTLM password is the secret with its NUL (see auth.h). */
    if ((r = vg_auth_nt_hash_terminated(secret, hash)) < 0)
        goto fail;
    g.id = id;
    g.user = res->user;
    g.vm = res->vm;
    g.instance = res->elsewhere.instance;
    g.secret_hash = hash;
    g.ttl_ms = VG_BROKER_GRANT_TTL_MS;
    r = vg_store_grant_add(b->store, &g);
    OPENSSL_cleanse(hash, sizeof(hash));
    if (r < 0)
        goto fail;
    vg_notice(TAG, "redirect: user=%s address=%s vm=%s to instance %s (%s)", res->user,
              address ? address : "-", res->vm, res->elsewhere.instance, protocol);
    audit(b, "redirect", res->user, address ? address : "-", "vm", res->vm, "to",
          res->elsewhere.instance);
    return 0;
fail:
    OPENSSL_cleanse(secret, VG_BROKER_GRANT_SECRET_LEN + 1);
    vg_warning(TAG, "user=%s vm=%s: cannot issue a grant for instance %s: %s", res->user, res->vm,
               res->elsewhere.instance, g_strerror(-r));
    return r;
}

int vg_broker_grant_hash(vg_broker *b, const char *user, const char *id, const char *address,
                         uint8_t nt_hash[VG_BROKER_NT_HASH_BYTES], char vm[256])
{
    int64_t now = vg_now_us() / 1000000;
    char *gvm = NULL, *hash = NULL;
    const char *why = NULL;
    int r;

    if (!address)
        address = "-";
    if (!b->instance || !user || !vg_name_valid(user))
        why = "bad-grant";
    else if (vg_ratelimit_check(b->rl, user, address, now) < 0)
        why = "rate-limited";
    else if ((r = vg_store_grant_take(b->store, id, b->instance, user, &gvm, &hash)) < 0)
        why = r == -ENOENT || r == -EINVAL ? "bad-grant" : "store-error";
    else if (!unhex16(hash, nt_hash))
        why = "store-error";
    else
        g_strlcpy(vm, gvm, 256);
    g_free(gvm);
    vg_auth_secret_free(hash);
    if (!why)
        return 0;
    OPENSSL_cleanse(nt_hash, VG_BROKER_NT_HASH_BYTES);
    if (strcmp(why, "bad-grant") == 0)
        vg_ratelimit_fail(b->rl, user ? user : "", address, now);
    vg_notice(TAG, "login failed: user=%s address=%s (%s, grant)", user ? user : "", address, why);
    audit(b, "login_failed", user ? user : "", address, "reason", why, "method", "grant");
    vg_metrics_login(login_metric_why(why));
    return strcmp(why, "store-error") == 0 ? -EIO : -EACCES;
}

/*
 * A relayed login: "<grant id>:<user>" and the grant's secret as the
 * password (vg_broker_grant_issue). The grant is used up whatever the
 * password, as NLA's is.
 */
static int grant_login(vg_broker *b, const char *rest, const char *password, const char *address,
                       int timeout_s, vg_broker_result *res)
{
    uint8_t want[VG_BROKER_NT_HASH_BYTES], got[VG_BROKER_NT_HASH_BYTES];
    char id[VG_BROKER_GRANT_ID_LEN + 1], hash[VG_NT_HASH_LEN + 1], vm[256];
    const char *colon = strchr(rest, ':');
    const char *user = colon ? colon + 1 : "";
    bool ok;

    g_strlcpy(res->user, user, sizeof(res->user));
    res->status = VG_BROKER_AUTH_FAILED;
    g_strlcpy(res->message, MSG_AUTH_FAILED, sizeof(res->message));
    if (!colon || (size_t)(colon - rest) > VG_BROKER_GRANT_ID_LEN) {
        audit(b, "login_failed", user, address, "reason", "malformed-login", "method", "grant");
        vg_metrics_login(VG_METRIC_LOGIN_BAD_CREDENTIALS);
        return 0;
    }
    memcpy(id, rest, (size_t)(colon - rest));
    id[colon - rest] = '\0';
    if (vg_broker_grant_hash(b, user, id, address, want, vm) < 0)
        return 0; /* audited */
    ok = password && vg_auth_nt_hash_terminated(password, hash) == 0 && unhex16(hash, got) &&
         CRYPTO_memcmp(got, want, sizeof(got)) == 0;
    OPENSSL_cleanse(hash, sizeof(hash));
    OPENSSL_cleanse(got, sizeof(got));
    OPENSSL_cleanse(want, sizeof(want));
    if (!ok) {
        vg_ratelimit_fail(b->rl, user, address, vg_now_us() / 1000000);
        vg_notice(TAG, "login failed: user=%s address=%s (bad-grant)", user, address);
        audit(b, "login_failed", user, address, "reason", "bad-grant", "method", "grant");
        vg_metrics_login(VG_METRIC_LOGIN_BAD_CREDENTIALS);
        return 0;
    }
    return vg_broker_login_verified(b, user, address, "grant", vm, timeout_s, res);
}

void vg_broker_nla_failed(vg_broker *b, const char *user, const char *address)
{
    if (!address)
        address = "-";
    vg_ratelimit_fail(b->rl, user ? user : "", address, vg_now_us() / 1000000);
    vg_notice(TAG, "login failed: user=%s address=%s (bad-credentials, NLA)", user ? user : "",
              address);
    audit(b, "login_failed", user ? user : "", address, "reason", "bad-credentials", "method",
          "nla");
    vg_metrics_login(VG_METRIC_LOGIN_BAD_CREDENTIALS);
}

int vg_broker_login_verified(vg_broker *b, const char *user, const char *address,
                             const char *method, const char *requested, int timeout_s,
                             vg_broker_result *res)
{
    vg_store_user *u = NULL;
    int r;

    memset(res, 0, sizeof(*res));
    if (!address)
        address = "-";
    g_strlcpy(res->user, user ? user : "", sizeof(res->user));
    r = user && vg_name_valid(user) ? vg_store_user_get(b->store, user, &u) : -ENOENT;
    if (r < 0 || u->disabled) {
        const char *why = r == -ENOENT ? "bad-credentials" : r < 0 ? "store-error" : "disabled";
        res->status = r < 0 && r != -ENOENT ? VG_BROKER_INTERNAL : VG_BROKER_AUTH_FAILED;
        g_strlcpy(res->message, MSG_AUTH_FAILED, sizeof(res->message));
        vg_notice(TAG, "login failed: user=%s address=%s (%s)", res->user, address, why);
        audit(b, "login_failed", res->user, address, "reason", why, "method", method);
        vg_metrics_login(login_metric_why(why));
        vg_store_user_free(u);
        return 0;
    }
    vg_store_user_free(u);
    vg_ratelimit_success(b->rl, user);
    r = choose_and_connect(b, user, NULL, address, requested, timeout_s,
                           method && strcmp(method, "grant") == 0, res);
    vg_metrics_login(login_metric(res->status));
    return r;
}

int vg_broker_authenticate(vg_broker *b, const char *user, const char *password,
                           const char *address, const char *method, vg_broker_result *res)
{
    vg_auth_result ar = VG_AUTH_BAD_CREDENTIALS;
    int r;

    memset(res, 0, sizeof(*res));
    if (!address)
        address = "-";
    g_strlcpy(res->user, user ? user : "", sizeof(res->user));
    r = user && vg_name_valid(user) ? authenticate(b, user, password ? password : "", address, &ar)
                                    : 0;
    if (r < 0) {
        res->status = VG_BROKER_INTERNAL;
        g_strlcpy(res->message, "The gateway cannot check logins right now", sizeof(res->message));
        audit(b, "login_failed", res->user, address, "reason", "store-error", "method", method);
        vg_metrics_login(VG_METRIC_LOGIN_ERROR);
        return 0;
    }
    if (ar != VG_AUTH_OK) {
        res->status = VG_BROKER_AUTH_FAILED;
        g_strlcpy(res->message, MSG_AUTH_FAILED, sizeof(res->message));
        vg_notice(TAG, "login failed: user=%s address=%s (%s, %s)", res->user, address,
                  vg_auth_result_name(ar), method);
        audit(b, "login_failed", res->user, address, "reason", vg_auth_result_name(ar), "method",
              method);
        vg_metrics_login(login_metric_why(vg_auth_result_name(ar)));
        return 0;
    }
    if (audit(b, "authenticated", res->user, address, "method", method, NULL, NULL) < 0 &&
        !audit_fail_open(b)) {
        vg_error(TAG, "login refused: user=%s address=%s: the audit log cannot be written",
                 res->user, address);
        res->status = VG_BROKER_INTERNAL;
        g_strlcpy(res->message, "The gateway cannot record logins right now, try again later",
                  sizeof(res->message));
        return 0;
    }
    res->status = VG_BROKER_OK;
    g_strlcpy(res->message, "OK", sizeof(res->message));
    vg_notice(TAG, "authenticated: user=%s address=%s (%s)", res->user, address, method);
    return 0;
}

bool vg_broker_user_active(vg_broker *b, const char *user)
{
    vg_store_user *u = NULL;
    bool ok =
        user && vg_name_valid(user) && vg_store_user_get(b->store, user, &u) == 0 && !u->disabled;
    vg_store_user_free(u);
    return ok;
}

void vg_broker_signed_out(vg_broker *b, const char *user, const char *address, const char *method,
                          const char *why)
{
    vg_info(TAG, "signed out: user=%s address=%s (%s, %s)", user, address ? address : "-", method,
            why);
    audit(b, "signed_out", user, address ? address : "-", "method", method, "reason", why);
}

static vg_broker_vm_entry *reachable_find(GArray *list, const char *vm)
{
    for (guint i = 0; i < list->len; i++) {
        vg_broker_vm_entry *e = &g_array_index(list, vg_broker_vm_entry, i);
        if (strcmp(e->vm, vm) == 0)
            return e;
    }
    return NULL;
}

int vg_broker_reachable(vg_broker *b, const char *user, GArray **out)
{
    g_autoptr(GPtrArray) assigns = NULL, pool_names = NULL, sessions = NULL;
    g_autoptr(GArray) vms = NULL;
    g_autoptr(GHashTable) viewer_of = g_hash_table_new(g_str_hash, g_str_equal);
    GArray *list;
    int r;

    if ((r = vg_store_assignments_for_user(b->store, user, &assigns)) < 0 ||
        (r = vg_store_entitlements_for_user(b->store, user, &pool_names)) < 0)
        return r;
    vms = vg_registry_list(b->registry);
    sessions = vg_sessions_list(b->sessions);
    for (guint i = 0; i < sessions->len; i++) {
        vg_session_info *s = sessions->pdata[i];
        if (s->viewers->len > 0)
            g_hash_table_insert(viewer_of, s->vm,
                                g_array_index(s->viewers, vg_viewer_info, 0).user);
    }
    list = g_array_new(FALSE, TRUE, sizeof(vg_broker_vm_entry));
    for (guint i = 0; i < assigns->len; i++) {
        vg_store_assignment *a = assigns->pdata[i];
        vg_broker_vm_entry e = {0};
        g_strlcpy(e.vm, a->vm, sizeof(e.vm));
        e.role = a->role;
        g_array_append_val(list, e);
    }
    for (guint i = 0; i < pool_names->len; i++) {
        vg_store_pool *pool = NULL;
        if (vg_store_pool_get(b->store, pool_names->pdata[i], &pool) < 0)
            continue;
        for (guint j = 0; j < pool->members->len; j++) {
            vg_store_pool_member *m = pool->members->pdata[j];
            const char *viewer = g_hash_table_lookup(viewer_of, m->vm);
            char claimer[65];
            vg_broker_vm_entry e = {0};
            if (reachable_find(list, m->vm))
                continue;
            g_strlcpy(e.vm, m->vm, sizeof(e.vm));
            e.role = VG_ROLE_CONTROLLER;
            g_strlcpy(e.pool, pool->name, sizeof(e.pool));
            e.taken = (viewer && strcmp(viewer, user) != 0) ||
                      (m->sticky_user && strcmp(m->sticky_user, user) != 0) ||
                      (vg_broker_vm_claimed(b, m->vm, claimer) && strcmp(claimer, user) != 0);
            g_array_append_val(list, e);
        }
        vg_store_pool_free(pool);
    }
    {
        /* States as the policy sees them: this instance's VMs from libvirt,
         * the other instances' as they reported them. */
        facts f = {.vms = vms, .viewer_of = viewer_of};
        load_remote(b, &f);
        for (guint i = 0; i < list->len; i++) {
            vg_broker_vm_entry *e = &g_array_index(list, vg_broker_vm_entry, i);
            vg_policy_vm pv;
            const vg_store_placement *there;
            fill_vm(&f, e->vm, &pv);
            e->state = pv.state;
            if (!is_local(&f, e->vm) && f.remote && (there = g_hash_table_lookup(f.remote, e->vm)))
                g_strlcpy(e->instance, there->instance, sizeof(e->instance));
        }
        facts_clear_remote(&f);
    }
    *out = list;
    return 0;
}

/*
 * One choice of a VM and the way to its console. @last_try: whether a pool VM
 * whose sticky claim another gateway won meanwhile refuses the login (else
 * *lost is set and the caller chooses again, on facts that now show it held).
 */
static int choose_and_connect_once(vg_broker *b, const char *user, const char *vm_from_login,
                                   const char *address, const char *requested, int timeout_s,
                                   bool no_redirect, bool last_try, bool *lost,
                                   vg_broker_result *res)
{
    GPtrArray *assigns = NULL, *pool_names = NULL, *pools = NULL, *sessions = NULL;
    GArray *pa = NULL, *pp = NULL;
    GPtrArray *member_arrays = NULL;
    facts f = {0};
    vg_policy_request req = {0};
    vg_policy_choice choice = {0};
    g_autoptr(GPtrArray) claimers = g_ptr_array_new_with_free_func(g_free);
    bool recorded, choosing = true, claimed = false;
    int r;

    /* The facts, and the choice made on them, one login at a time. */
    g_mutex_lock(&b->choose_lock);
    f.vms = vg_registry_list(b->registry);
    f.viewer_of = g_hash_table_new(g_str_hash, g_str_equal);
    load_remote(b, &f);
    sessions = vg_sessions_list(b->sessions);
    for (guint i = 0; i < sessions->len; i++) {
        vg_session_info *s = sessions->pdata[i];
        if (s->viewers->len > 0)
            g_hash_table_insert(f.viewer_of, s->vm,
                                g_array_index(s->viewers, vg_viewer_info, 0).user);
    }
    /* A pool VM another login chose and has not joined yet is in use too. */
    {
        GHashTableIter it;
        gpointer k, v;
        int64_t now = vg_now_us();

        g_mutex_lock(&b->lock);
        g_hash_table_iter_init(&it, b->claims);
        while (g_hash_table_iter_next(&it, &k, &v)) {
            claim *c = v;
            if (c->until_us <= now) {
                g_hash_table_iter_remove(&it);
            } else if (!g_hash_table_contains(f.viewer_of, k)) {
                char *vm = g_strdup(k), *who = g_strdup(c->user);
                g_ptr_array_add(claimers, vm);
                g_ptr_array_add(claimers, who);
                g_hash_table_insert(f.viewer_of, vm, who);
            }
        }
        g_mutex_unlock(&b->lock);
    }
    if (vg_store_assignments_for_user(b->store, user, &assigns) < 0 ||
        vg_store_entitlements_for_user(b->store, user, &pool_names) < 0) {
        res->status = VG_BROKER_INTERNAL;
        g_strlcpy(res->message, "The gateway cannot read its policy right now",
                  sizeof(res->message));
        goto out;
    }
    pa = g_array_new(FALSE, TRUE, sizeof(vg_policy_assignment));
    for (guint i = 0; i < assigns->len; i++) {
        vg_store_assignment *a = assigns->pdata[i];
        vg_policy_assignment x = {0};
        fill_vm(&f, a->vm, &x.vm);
        x.role = a->role;
        g_array_append_val(pa, x);
    }
    pools = g_ptr_array_new_with_free_func((GDestroyNotify)vg_store_pool_free);
    member_arrays = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);
    pp = g_array_new(FALSE, TRUE, sizeof(vg_policy_pool));
    for (guint i = 0; i < pool_names->len; i++) {
        vg_store_pool *pool = NULL;
        GArray *members;
        vg_policy_pool x = {0};
        if (vg_store_pool_get(b->store, pool_names->pdata[i], &pool) < 0)
            continue;
        g_ptr_array_add(pools, pool);
        members = g_array_new(FALSE, TRUE, sizeof(vg_policy_vm));
        for (guint j = 0; j < pool->members->len; j++) {
            vg_store_pool_member *m = pool->members->pdata[j];
            vg_policy_vm v;
            fill_vm(&f, m->vm, &v);
            v.sticky_user = m->sticky_user;
            g_array_append_val(members, v);
        }
        g_ptr_array_add(member_arrays, members);
        x.name = pool->name;
        x.assign_on_first_login = pool->assign_on_first_login;
        x.members = (const vg_policy_vm *)(void *)members->data;
        x.n_members = members->len;
        g_array_append_val(pp, x);
    }
    req.user = user;
    req.requested = requested && *requested ? requested : vm_from_login;
    req.assignments = (const vg_policy_assignment *)(void *)pa->data;
    req.n_assignments = pa->len;
    req.pools = (const vg_policy_pool *)(void *)pp->data;
    req.n_pools = pp->len;
    g_mutex_lock(&b->lock);
    req.power_on_demand = b->power_on_demand;
    g_mutex_unlock(&b->lock);

    r = vg_policy_choose_vm(&req, &choice);
    if (r >= 0 && choice.pool) {
        claim *c = g_new0(claim, 1);
        g_strlcpy(c->user, user, sizeof(c->user));
        c->until_us = vg_now_us() + (int64_t)timeout_s * G_USEC_PER_SEC + VG_CLAIM_SLACK_US;
        g_mutex_lock(&b->lock);
        g_hash_table_replace(b->claims, g_strdup(choice.vm), c);
        g_mutex_unlock(&b->lock);
        claimed = true;
    }
    g_mutex_unlock(&b->choose_lock);
    choosing = false;
    if (r < 0 && choice.refusal == VG_POLICY_VM_UNAVAILABLE && choice.vm && f.down &&
        g_hash_table_contains(f.down, choice.vm)) {
        /* Its instance stopped beating: nothing here knows its state. */
        const vg_store_placement *there = g_hash_table_lookup(f.down, choice.vm);
        res->status = VG_BROKER_UNAVAILABLE;
        g_snprintf(res->message, sizeof(res->message),
                   "The gateway that holds your VM (%s) is not reachable", there->instance);
        vg_notice(TAG, "login refused: user=%s address=%s vm=%s (its instance %s is down)", user,
                  address, choice.vm, there->instance);
        audit(b, "login_failed", user, address, "reason", "instance-down", "vm", choice.vm);
        goto out;
    }
    if (r < 0) {
        res->status = VG_BROKER_REFUSED;
        g_strlcpy(res->message, refusal_message(choice.refusal), sizeof(res->message));
        vg_notice(TAG, "login refused: user=%s address=%s (%s)", user, address,
                  vg_policy_refusal_name(choice.refusal));
        audit(b, "login_failed", user, address, "reason", vg_policy_refusal_name(choice.refusal),
              NULL, NULL);
        goto out;
    }
    g_strlcpy(res->vm, choice.vm, sizeof(res->vm));
    res->role = choice.role;
    if (!is_local(&f, choice.vm) && f.remote && g_hash_table_contains(f.remote, choice.vm)) {
        /* Another instance holds it: the client goes there (a redirection, a
         * relay or a link, as the front end can), whose login decides again. */
        const vg_store_placement *there = g_hash_table_lookup(f.remote, choice.vm);
        if (no_redirect || find_instance(b, there->instance, &res->elsewhere) < 0) {
            res->status = VG_BROKER_UNAVAILABLE;
            g_strlcpy(res->message,
                      no_redirect ? "Your VM is not on this gateway any more"
                                  : "The gateway that holds your VM is not reachable",
                      sizeof(res->message));
            vg_notice(TAG, "login refused: user=%s address=%s vm=%s (on %s, %s)", user, address,
                      choice.vm, there->instance, no_redirect ? "redirected already" : "down");
            audit(b, "login_failed", user, address, "reason",
                  no_redirect ? "vm-moved" : "instance-down", "vm", choice.vm);
            goto out;
        }
        res->status = VG_BROKER_ELSEWHERE;
        g_snprintf(res->message, sizeof(res->message), "Your VM is on %s", there->instance);
        vg_info(TAG, "user=%s address=%s vm=%s: held by instance %s", user, address, choice.vm,
                there->instance);
        goto out;
    }
    if (choice.claim_sticky && choice.pool &&
        (r = vg_store_sticky_set(b->store, choice.pool, choice.vm, user)) < 0) {
        if (r == -EEXIST && !last_try) {
            /* Another gateway sharing the store held it for someone else since the facts
             * were read: the claim is the store's, so choose again. */
            vg_info(TAG, "vm=%s: held for another user meanwhile; choosing again for user=%s",
                    choice.vm, user);
            res->status = VG_BROKER_REFUSED; /* lets the in-memory claim go */
            *lost = true;
            goto out;
        }
        if (r == -EEXIST) {
            res->status = VG_BROKER_REFUSED;
            g_strlcpy(res->message, refusal_message(VG_POLICY_POOL_EXHAUSTED),
                      sizeof(res->message));
            vg_notice(TAG, "login refused: user=%s address=%s vm=%s (claimed meanwhile)", user,
                      address, choice.vm);
            audit(b, "login_failed", user, address, "reason", "pool-vm-claimed", "vm", choice.vm);
            goto out;
        }
        vg_warning(TAG, "vm=%s: could not record it as %s's", choice.vm, user);
    }
    if (choice.power_on) {
        const char *why = NULL;
        if (power_on(b, choice.vm, &why) < 0) {
            res->status = VG_BROKER_UNAVAILABLE;
            g_snprintf(res->message, sizeof(res->message), "Your VM could not be started");
            audit(b, "power", user, address, "vm", choice.vm, "result", why);
            goto out;
        }
        res->powered_on = true;
        vg_notice(TAG, "vm=%s: started for user=%s (power on demand)", choice.vm, user);
        audit(b, "power", user, address, "vm", choice.vm, "action", "start");
    }
    res->console = vg_registry_wait_console(b->registry, choice.vm,
                                            vg_now_us() + (int64_t)timeout_s * 1000000);
    if (!res->console) {
        res->status = VG_BROKER_UNAVAILABLE;
        g_strlcpy(res->message, "Your VM's console did not come up in time", sizeof(res->message));
        audit(b, "login_failed", user, address, "reason", "console-timeout", "vm", choice.vm);
        goto out;
    }
    recorded = audit(b, "login_ok", user, address, "vm", choice.vm, "role",
                     vg_role_name(choice.role)) == 0;
    if (!recorded && !audit_fail_open(b)) {
        /* No one gets in unrecorded, unless the operator chose so. */
        vg_error(TAG, "login refused: user=%s address=%s: the audit log cannot be written", user,
                 address);
        vg_console_unref(res->console);
        res->console = NULL;
        res->status = VG_BROKER_INTERNAL;
        g_strlcpy(res->message, "The gateway cannot record logins right now, try again later",
                  sizeof(res->message));
        goto out;
    }
    res->status = VG_BROKER_OK;
    g_strlcpy(res->message, "OK", sizeof(res->message));
    vg_notice(TAG, "login: user=%s address=%s vm=%s role=%s", user, address, choice.vm,
              vg_role_name(choice.role));

out:
    if (choosing)
        g_mutex_unlock(&b->choose_lock);
    if (claimed && res->status != VG_BROKER_OK)
        drop_claim(b, choice.vm, user);
    if (assigns)
        g_ptr_array_unref(assigns);
    if (pool_names)
        g_ptr_array_unref(pool_names);
    if (pools)
        g_ptr_array_unref(pools);
    if (member_arrays)
        g_ptr_array_unref(member_arrays);
    if (pa)
        g_array_unref(pa);
    if (pp)
        g_array_unref(pp);
    if (sessions)
        g_ptr_array_unref(sessions);
    g_hash_table_unref(f.viewer_of);
    facts_clear_remote(&f);
    g_array_unref(f.vms);
    return 0;
}

/* Times a login chooses a pool VM when other gateways keep winning its sticky claim. */
#define VG_CLAIM_TRIES 3

static int choose_and_connect(vg_broker *b, const char *user, const char *vm_from_login,
                              const char *address, const char *requested, int timeout_s,
                              bool no_redirect, vg_broker_result *res)
{
    bool lost = true;
    int r = 0;

    for (int i = 0; i < VG_CLAIM_TRIES && lost; i++) {
        lost = false;
        r = choose_and_connect_once(b, user, vm_from_login, address, requested, timeout_s,
                                    no_redirect, i == VG_CLAIM_TRIES - 1, &lost, res);
    }
    return r;
}

int vg_broker_admit(vg_broker *b, const vg_broker_result *res, const char *protocol,
                    const char *address, const vg_viewer_ops *ops, void *opaque, char viewer_id[24])
{
    vg_second_login mode;
    GPtrArray *sessions;
    GPtrArray *old = g_ptr_array_new_with_free_func(g_free);
    int taken = 0, r;

    g_mutex_lock(&b->lock);
    mode = b->second_login;
    g_mutex_unlock(&b->lock);

    sessions = vg_sessions_list(b->sessions);
    for (guint i = 0; i < sessions->len; i++) {
        vg_session_info *s = sessions->pdata[i];
        if (strcmp(s->vm, res->vm) != 0)
            continue;
        for (guint j = 0; j < s->viewers->len; j++) {
            vg_viewer_info *v = &g_array_index(s->viewers, vg_viewer_info, j);
            if (vg_policy_second_login(mode, v->user, res->user) == VG_SESSION_TAKEOVER)
                g_ptr_array_add(old, g_strdup(v->id));
        }
    }
    g_ptr_array_unref(sessions);

    for (guint i = 0; i < old->len; i++) {
        g_autofree char *reason = g_strdup_printf("%s signed in to this VM again from %s",
                                                  res->user, address ? address : "elsewhere");
        if (vg_sessions_kick(b->sessions, old->pdata[i], reason) > 0) {
            taken++;
            vg_notice(TAG, "vm=%s: user=%s took over viewer %s", res->vm, res->user,
                      (const char *)old->pdata[i]);
            if (b->audit)
                b->audit(b->audit_opaque, "kick", "by", res->user, "id",
                         (const char *)old->pdata[i], "reason", "takeover", "vm", res->vm, NULL);
        }
    }
    g_ptr_array_unref(old);
    r = vg_sessions_join(b->sessions, res->vm, res->user, protocol, res->role,
                         address ? address : "-", ops, opaque, viewer_id);
    /* Its session shows the VM in use now: the claim has done its job. */
    drop_claim(b, res->vm, res->user);
    return r < 0 ? r : taken;
}

void vg_broker_locked_out(vg_broker *b, unsigned *users, unsigned *addresses)
{
    vg_ratelimit_locked_out(b->rl, vg_now_us() / 1000000, users, addresses);
}
