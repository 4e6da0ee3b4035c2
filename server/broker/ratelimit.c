/*
 * vmgate — failed-login rate limiter (see ratelimit.h).
 *
 * Threading: every exported function takes rl->lock; helpers named
 * *_locked expect it held.
 */
#include "ratelimit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include <glib.h>

#include "log.h"

#define TAG "auth"

/* Keys longer than this are cut: valid user names and addresses are far shorter. */
#define KEY_MAX 128

typedef struct entry {
    int64_t locked_until; /* refused while now < locked_until */
    unsigned n;           /* failures recorded in times[] */
    int64_t times[];      /* the last n failures, oldest first; capacity max_failures */
} entry;

struct vg_ratelimit {
    GMutex lock;
    vg_ratelimit_config cfg;
    GHashTable *keys; /* char * key -> entry * */
    int64_t last_sweep;
    bool warned_full;
    vg_ratelimit_lockout_fn lockout_fn;
    void *lockout_opaque;
};

void vg_ratelimit_config_defaults(vg_ratelimit_config *cfg)
{
    cfg->max_failures = VG_RATELIMIT_DEFAULT_MAX_FAILURES;
    cfg->window = VG_RATELIMIT_DEFAULT_WINDOW;
    cfg->lockout = VG_RATELIMIT_DEFAULT_LOCKOUT;
    cfg->max_entries = VG_RATELIMIT_DEFAULT_MAX_ENTRIES;
}

static bool config_valid(const vg_ratelimit_config *c)
{
    return c->max_failures >= 1 && c->max_failures <= 1000 && c->window >= 1 &&
           c->window <= 86400 && c->lockout >= 1 && c->lockout <= 86400 && c->max_entries >= 16;
}

int vg_ratelimit_new(const vg_ratelimit_config *cfg, vg_ratelimit **out)
{
    vg_ratelimit *rl;
    vg_ratelimit_config c;

    if (cfg)
        c = *cfg;
    else
        vg_ratelimit_config_defaults(&c);
    if (!config_valid(&c))
        return -EINVAL;
    rl = g_new0(vg_ratelimit, 1);
    g_mutex_init(&rl->lock);
    rl->cfg = c;
    rl->keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    rl->last_sweep = INT64_MIN;
    *out = rl;
    return 0;
}

void vg_ratelimit_free(vg_ratelimit *rl)
{
    if (!rl)
        return;
    g_hash_table_unref(rl->keys);
    g_mutex_clear(&rl->lock);
    g_free(rl);
}

static char *user_key(const char *user)
{
    if (!user)
        return NULL;
    return g_strdup_printf("u:%.*s", KEY_MAX, user);
}

/*
 * The host part of a peer string: "a.b.c.d:port" and "[v6]:port" (how the
 * front ends name a TCP peer) lose the port, a bare address stays as it is.
 * Writes into @buf; returns false when @peer has no such form.
 */
static bool peer_host(const char *peer, char *buf, size_t len)
{
    const char *colon, *end;
    size_t n;

    if (peer[0] == '[') {
        end = strchr(peer, ']');
        if (!end || (end[1] != '\0' && end[1] != ':'))
            return false;
        peer++;
    } else {
        colon = strchr(peer, ':');
        /* Two colons or more: a bare IPv6 address, no port. */
        if (!colon || strchr(colon + 1, ':'))
            return false;
        end = colon;
    }
    n = (size_t)(end - peer);
    if (n == 0 || n >= len)
        return false;
    memcpy(buf, peer, n);
    buf[n] = '\0';
    return true;
}

/* The address as counted: IPv6 by /64 prefix, IPv4-mapped IPv6 as IPv4, no port. */
static char *addr_key(const char *addr)
{
    unsigned char a6[16];
    struct in_addr a4;
    char buf[INET6_ADDRSTRLEN], host[INET6_ADDRSTRLEN];

    if (!addr)
        return NULL;
    if (peer_host(addr, host, sizeof(host)) &&
        (inet_pton(AF_INET6, host, a6) == 1 || inet_pton(AF_INET, host, &a4) == 1))
        addr = host;
    if (inet_pton(AF_INET6, addr, a6) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a6, mapped, sizeof(mapped)) == 0) {
            memcpy(&a4, a6 + 12, 4);
            inet_ntop(AF_INET, &a4, buf, sizeof(buf));
            return g_strdup_printf("a:%s", buf);
        }
        memset(a6 + 8, 0, 8);
        inet_ntop(AF_INET6, a6, buf, sizeof(buf));
        return g_strdup_printf("a:%s/64", buf);
    }
    if (inet_pton(AF_INET, addr, &a4) == 1) {
        inet_ntop(AF_INET, &a4, buf, sizeof(buf));
        return g_strdup_printf("a:%s", buf);
    }
    return g_strdup_printf("a:%.*s", KEY_MAX, addr);
}

/* Forget failures that fell out of the window. */
static void expire_locked(vg_ratelimit *rl, entry *e, int64_t now)
{
    unsigned keep = 0;

    for (unsigned i = 0; i < e->n; i++) {
        if (e->times[i] > now - rl->cfg.window)
            e->times[keep++] = e->times[i];
    }
    e->n = keep;
}

static bool entry_dead_locked(vg_ratelimit *rl, entry *e, int64_t now)
{
    expire_locked(rl, e, now);
    return e->n == 0 && e->locked_until <= now;
}

static gboolean sweep_one(gpointer key, gpointer value, gpointer data)
{
    struct {
        vg_ratelimit *rl;
        int64_t now;
    } *ctx = data;
    return entry_dead_locked(ctx->rl, value, ctx->now);
}

static bool locked_out_locked(vg_ratelimit *rl, const char *key, int64_t now)
{
    entry *e;

    if (!key)
        return false;
    e = g_hash_table_lookup(rl->keys, key);
    return e && now < e->locked_until;
}

int vg_ratelimit_check(vg_ratelimit *rl, const char *user, const char *addr, int64_t now)
{
    char *uk = user_key(user), *ak = addr_key(addr);
    bool refused;

    g_mutex_lock(&rl->lock);
    refused = locked_out_locked(rl, uk, now) || locked_out_locked(rl, ak, now);
    g_mutex_unlock(&rl->lock);
    g_free(uk);
    g_free(ak);
    return refused ? -EAGAIN : 0;
}

/*
 * The key to forget when the table is full: not locked out, fewest failures
 * in the window, and of those the one whose last failure is oldest. A flood
 * of new keys (one failure each) thus only ever pushes out keys with one
 * failure, never a source or user closer to a lockout, nor a lockout.
 * NULL when every key is locked out.
 *
 * A linear scan: it runs only when the table is full, at most once per
 * recorded failure, and a failure has already cost a password hash, which
 * is far dearer than walking max_entries pointers.
 */
static const char *victim_locked(vg_ratelimit *rl, int64_t now)
{
    GHashTableIter it;
    gpointer k, v;
    const char *best = NULL;
    unsigned best_n = UINT_MAX;
    int64_t best_last = INT64_MAX;

    g_hash_table_iter_init(&it, rl->keys);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        entry *e = v;
        int64_t last;

        if (now < e->locked_until)
            continue;
        expire_locked(rl, e, now);
        last = e->n ? e->times[e->n - 1] : INT64_MIN;
        if (e->n < best_n || (e->n == best_n && last < best_last)) {
            best = k;
            best_n = e->n;
            best_last = last;
        }
    }
    return best;
}

/* The entry for @key, created if there is room or room can be made; NULL if
 * every tracked key is locked out. Takes @key. */
static entry *entry_get_locked(vg_ratelimit *rl, char *key, int64_t now)
{
    entry *e = g_hash_table_lookup(rl->keys, key);

    if (e) {
        g_free(key);
        return e;
    }
    if (g_hash_table_size(rl->keys) >= rl->cfg.max_entries && rl->last_sweep != now) {
        struct {
            vg_ratelimit *rl;
            int64_t now;
        } ctx = {rl, now};
        /* At most one sweep per second: a full table under attack must stay cheap. */
        rl->last_sweep = now;
        g_hash_table_foreach_remove(rl->keys, sweep_one, &ctx);
    }
    if (g_hash_table_size(rl->keys) >= rl->cfg.max_entries) {
        const char *victim = victim_locked(rl, now);
        if (!rl->warned_full) {
            vg_warning(TAG,
                       "login rate limiter full (%u users and addresses); "
                       "forgetting those with the fewest failures",
                       rl->cfg.max_entries);
            rl->warned_full = true;
        }
        if (!victim) {
            g_free(key);
            return NULL;
        }
        g_hash_table_remove(rl->keys, victim);
    } else {
        rl->warned_full = false;
    }
    e = g_malloc0(sizeof(*e) + rl->cfg.max_failures * sizeof(e->times[0]));
    g_hash_table_insert(rl->keys, key, e);
    return e;
}

/* Count a failure of @key (taken); true if it locked the key out. */
static bool fail_locked(vg_ratelimit *rl, char *key, int64_t now)
{
    entry *e;

    if (!key)
        return false;
    e = entry_get_locked(rl, key, now);
    if (!e || now < e->locked_until)
        return false;
    expire_locked(rl, e, now);
    /* n < max_failures here: reaching it locks the key out and empties the list. */
    e->times[e->n++] = now;
    if (e->n >= rl->cfg.max_failures) {
        e->locked_until = now + rl->cfg.lockout;
        e->n = 0;
        return true;
    }
    return false;
}

int vg_ratelimit_reconfigure(vg_ratelimit *rl, const vg_ratelimit_config *cfg)
{
    GHashTableIter it;
    gpointer val;

    if (!config_valid(cfg))
        return -EINVAL;
    g_mutex_lock(&rl->lock);
    if (cfg->max_failures != rl->cfg.max_failures) {
        /* Each entry's list has room for max_failures: resize them all,
         * keeping the newest failures, one short of the new limit (the next
         * failure locks such a key out; a lockout running goes on). */
        g_hash_table_iter_init(&it, rl->keys);
        while (g_hash_table_iter_next(&it, NULL, &val)) {
            const entry *old = val;
            unsigned keep = MIN(old->n, cfg->max_failures - 1);
            entry *e = g_malloc0(sizeof(*e) + cfg->max_failures * sizeof(e->times[0]));
            e->locked_until = old->locked_until;
            e->n = keep;
            memcpy(e->times, old->times + (old->n - keep), keep * sizeof(e->times[0]));
            g_hash_table_iter_replace(&it, e); /* frees the old one */
        }
    }
    rl->cfg.max_failures = cfg->max_failures;
    rl->cfg.window = cfg->window;
    rl->cfg.lockout = cfg->lockout;
    g_mutex_unlock(&rl->lock);
    return 0;
}

void vg_ratelimit_set_lockout_fn(vg_ratelimit *rl, vg_ratelimit_lockout_fn fn, void *opaque)
{
    g_mutex_lock(&rl->lock);
    rl->lockout_fn = fn;
    rl->lockout_opaque = opaque;
    g_mutex_unlock(&rl->lock);
}

void vg_ratelimit_fail(vg_ratelimit *rl, const char *user, const char *addr, int64_t now)
{
    g_autofree char *uk = user_key(user), *ak = addr_key(addr);
    vg_ratelimit_lockout_fn fn;
    void *opaque;
    bool user_locked, addr_locked;

    g_mutex_lock(&rl->lock);
    user_locked = fail_locked(rl, g_strdup(uk), now);
    addr_locked = fail_locked(rl, g_strdup(ak), now);
    fn = rl->lockout_fn;
    opaque = rl->lockout_opaque;
    g_mutex_unlock(&rl->lock);
    /* Keys are "u:<user>" and "a:<address>". */
    if (fn && user_locked)
        fn(opaque, "user", uk + 2, rl->cfg.lockout);
    if (fn && addr_locked)
        fn(opaque, "address", ak + 2, rl->cfg.lockout);
}

void vg_ratelimit_success(vg_ratelimit *rl, const char *user)
{
    char *uk = user_key(user);

    if (!uk)
        return;
    g_mutex_lock(&rl->lock);
    g_hash_table_remove(rl->keys, uk);
    g_mutex_unlock(&rl->lock);
    g_free(uk);
}

void vg_ratelimit_locked_out(vg_ratelimit *rl, int64_t now, unsigned *users, unsigned *addresses)
{
    GHashTableIter it;
    gpointer k, v;

    *users = *addresses = 0;
    g_mutex_lock(&rl->lock);
    g_hash_table_iter_init(&it, rl->keys);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        const entry *e = v;
        if (now >= e->locked_until)
            continue;
        if (((const char *)k)[0] == 'u')
            (*users)++;
        else
            (*addresses)++;
    }
    g_mutex_unlock(&rl->lock);
}
