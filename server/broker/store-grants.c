/*
 * vmgate — the store's redirection grants (see store.h): an entrance
 * instance records one, the instance that holds the VM uses it up. Expiry
 * is by the database's clock (vg_now_ms() in SQL).
 *
 * Threading: every exported function takes s->lock for its whole duration.
 */
#include "store-priv.h"

#include <errno.h>
#include <string.h>

#define GRANT_TTL_MAX_MS 600000

static bool grant_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!g_ascii_isalnum(id[i]))
            return false;
    return true;
}

static bool hex32(const char *h)
{
    if (!h || strlen(h) != 32)
        return false;
    for (int i = 0; i < 32; i++)
        if (!g_ascii_isxdigit(h[i]))
            return false;
    return true;
}

static int add_body(vg_store *s, void *data)
{
    const vg_store_grant *g = data;
    int r = vg_store_run_locked(s, "DELETE FROM grants WHERE expires <= vg_now_ms()",
                                "forget expired grants", "");
    if (r < 0)
        return r;
    return vg_store_run_locked(s,
                               "INSERT INTO grants (id, user_name, vm, instance, secret_hash, "
                               "expires) VALUES (?1, ?2, ?3, ?4, ?5, vg_now_ms() + ?6)",
                               "add grant", "ttttti", g->id, g->user, g->vm, g->instance,
                               g->secret_hash, g->ttl_ms);
}

int vg_store_grant_add(vg_store *s, const vg_store_grant *g)
{
    if (!g || !grant_id_valid(g->id) || !vg_name_valid(g->user) || !vg_vm_name_valid(g->vm) ||
        !vg_name_valid(g->instance) || !hex32(g->secret_hash) || g->ttl_ms < 1 ||
        g->ttl_ms > GRANT_TTL_MAX_MS)
        return -EINVAL;
    return vg_store_transact(s, add_body, (void *)g);
}

typedef struct take {
    const char *id, *instance, *user;
    char *vm, *secret_hash;
} take;

static int take_row(const vg_store_row *row, void *opaque)
{
    take *t = opaque;
    if (t->vm)
        return 0; /* the id is the primary key: one row at most */
    t->vm = vg_store_row_strdup(row, 0);
    t->secret_hash = vg_store_row_strdup(row, 1);
    return 0;
}

static int take_body(vg_store *s, void *data)
{
    take *t = data;
    vg_store_param p[3] = {{'t', t->id, 0}, {'t', t->instance, 0}, {'t', t->user, 0}};
    int64_t gone = 0;
    int r;

    r = s->ops->run_locked(s,
                           "SELECT vm, secret_hash FROM grants WHERE id = ?1 AND instance = ?2 "
                           "AND user_name = ?3 AND expires > vg_now_ms()",
                           "read grant", p, 3, take_row, t, NULL);
    if (r < 0)
        return r;
    if (!t->vm || !t->secret_hash)
        return -ENOENT;
    /* Single use: whoever deletes the row has it (a concurrent taker deletes nothing). */
    r = vg_store_run_changes_locked(s, "DELETE FROM grants WHERE id = ?1", "use grant", &gone, "t",
                                    t->id);
    if (r < 0)
        return r;
    return gone == 1 ? 0 : -ENOENT;
}

int vg_store_grant_take(vg_store *s, const char *id, const char *instance, const char *user,
                        char **vm, char **secret_hash)
{
    take t = {.id = id, .instance = instance, .user = user};
    int r;

    if (!grant_id_valid(id) || !vg_name_valid(instance) || !vg_name_valid(user) || !vm ||
        !secret_hash)
        return -EINVAL;
    r = vg_store_transact(s, take_body, &t);
    if (r == 0 && t.vm && t.secret_hash) {
        *vm = t.vm;
        *secret_hash = t.secret_hash;
        return 0;
    }
    g_free(t.vm);
    if (t.secret_hash) {
        memset(t.secret_hash, 0, strlen(t.secret_hash));
        g_free(t.secret_hash);
    }
    return r < 0 ? r : -ENOENT;
}
