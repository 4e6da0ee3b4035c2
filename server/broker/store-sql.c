/*
 * vmgate — the store's statements, rows and transactions, the same on
 * every back end (see store-priv.h): parameters from a type string, rows
 * as text columns, one transaction per mutation.
 *
 * Threading: every function here but vg_store_transact and
 * vg_store_change expects s->lock held; those two take it.
 */
#include "store-priv.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "log.h"

#define TAG VG_STORE_TAG

void vg_store_base_init(vg_store *s, const vg_store_ops *ops, const char *path)
{
    s->ops = ops;
    g_mutex_init(&s->lock);
    s->path = g_strdup(path);
}

void vg_store_base_clear(vg_store *s)
{
    g_mutex_clear(&s->lock);
    g_free(s->path);
}

void vg_store_set_quiet(vg_store *s, bool quiet)
{
    g_mutex_lock(&s->lock);
    s->quiet = quiet;
    g_mutex_unlock(&s->lock);
}

const char *vg_store_path(vg_store *s)
{
    return s->path;
}

const char *vg_store_row_text(const vg_store_row *row, int col)
{
    return col >= 0 && col < row->n ? row->values[col] : NULL;
}

char *vg_store_row_strdup(const vg_store_row *row, int col)
{
    return g_strdup(vg_store_row_text(row, col));
}

int64_t vg_store_row_int(const vg_store_row *row, int col)
{
    const char *t = vg_store_row_text(row, col);
    return t ? g_ascii_strtoll(t, NULL, 10) : 0;
}

bool vg_store_row_is_null(const vg_store_row *row, int col)
{
    return vg_store_row_text(row, col) == NULL;
}

/*
 * Parameters 1..n described by @types, one character each: 't' a const
 * char * (NULL binds SQL NULL), 'i' an int64_t. @return n.
 */
static int params_va(vg_store_param p[VG_STORE_PARAMS_MAX], const char *types, va_list ap)
{
    int n = 0;

    for (; types[n]; n++) {
        g_assert(n < VG_STORE_PARAMS_MAX);
        p[n].type = types[n];
        if (types[n] == 'i')
            p[n].num = va_arg(ap, int64_t);
        else
            p[n].text = va_arg(ap, const char *);
    }
    return n;
}

static int run_va_locked(vg_store *s, const char *sql, const char *what, int64_t *changes,
                         const char *types, va_list ap)
{
    vg_store_param p[VG_STORE_PARAMS_MAX];
    int n = params_va(p, types, ap);

    return s->ops->run_locked(s, sql, what, p, n, NULL, NULL, changes);
}

int vg_store_exec_locked(vg_store *s, const char *sql, const char *what)
{
    return s->ops->exec_locked(s, sql, what);
}

int vg_store_run_locked(vg_store *s, const char *sql, const char *what, const char *types, ...)
{
    va_list ap;
    int r;

    va_start(ap, types);
    r = run_va_locked(s, sql, what, NULL, types, ap);
    va_end(ap);
    return r;
}

int vg_store_run_changes_locked(vg_store *s, const char *sql, const char *what, int64_t *changes,
                                const char *types, ...)
{
    va_list ap;
    int r;

    va_start(ap, types);
    r = run_va_locked(s, sql, what, changes, types, ap);
    va_end(ap);
    return r;
}

typedef struct one_int {
    bool seen;
    int64_t value;
} one_int;

static int take_int(const vg_store_row *row, void *opaque)
{
    one_int *o = opaque;

    if (!o->seen) {
        o->seen = true;
        o->value = vg_store_row_int(row, 0);
    }
    return 0;
}

/* Run a statement that yields one integer; -ENOENT when it yields no row. */
int vg_store_query_int_locked(vg_store *s, const char *sql, int64_t *out, const char *types, ...)
{
    vg_store_param p[VG_STORE_PARAMS_MAX];
    one_int o = {0};
    va_list ap;
    int n, r;

    va_start(ap, types);
    n = params_va(p, types, ap);
    va_end(ap);
    r = s->ops->run_locked(s, sql, "query", p, n, take_int, &o, NULL);
    if (r < 0)
        return r;
    if (!o.seen)
        return -ENOENT;
    *out = o.value;
    return 0;
}

int vg_store_begin_locked(vg_store *s)
{
    return s->ops->begin_locked(s);
}

/* End the transaction begun by vg_store_begin_locked: commit if r is 0, else roll back. Returns r.
 */
int vg_store_finish_locked(vg_store *s, int r)
{
    if (r == 0) {
        r = s->ops->commit_locked(s);
        if (r == 0)
            return 0;
    }
    s->ops->rollback_locked(s);
    return r;
}

int vg_store_transact(vg_store *s, vg_store_body body, void *data)
{
    int r;

    g_mutex_lock(&s->lock);
    r = vg_store_begin_locked(s);
    if (r == 0)
        r = vg_store_finish_locked(s, body(s, data));
    g_mutex_unlock(&s->lock);
    return r;
}

typedef struct change {
    bool must_change;
    const char *sql, *what, *types;
    va_list ap;
} change;

static int change_body(vg_store *s, void *data)
{
    change *c = data;
    int64_t changes = 0;
    int r = run_va_locked(s, c->sql, c->what, &changes, c->types, c->ap);

    if (r == 0 && c->must_change && changes == 0)
        r = -ENOENT;
    return r;
}

int vg_store_change(vg_store *s, bool must_change, const char *sql, const char *what,
                    const char *types, ...)
{
    change c = {.must_change = must_change, .sql = sql, .what = what, .types = types};
    int r;

    va_start(c.ap, types);
    r = vg_store_transact(s, change_body, &c);
    va_end(c.ap);
    return r;
}

int vg_store_user_id_locked(vg_store *s, const char *name, int64_t *id)
{
    return vg_store_query_int_locked(s, "SELECT id FROM users WHERE name = ?1", id, "t", name);
}

int vg_store_pool_id_locked(vg_store *s, const char *name, int64_t *id)
{
    return vg_store_query_int_locked(s, "SELECT id FROM pools WHERE name = ?1", id, "t", name);
}

typedef struct list {
    void *(*make)(const vg_store_row *row);
    GPtrArray *a;
} list;

static int list_row(const vg_store_row *row, void *opaque)
{
    list *l = opaque;
    g_ptr_array_add(l->a, l->make(row));
    return 0;
}

/*
 * Collect the rows of a query with up to two text parameters into a GPtrArray,
 * building each element with @make.
 */
int vg_store_list_locked(vg_store *s, const char *sql, const char *p1, const char *p2,
                         void *(*make)(const vg_store_row *row), GDestroyNotify free_fn,
                         GPtrArray **out)
{
    vg_store_param p[2] = {{'t', p1, 0}, {'t', p2, 0}};
    list l = {make, g_ptr_array_new_with_free_func(free_fn)};
    int r;

    /* The parameters the statement names; a NULL one binds SQL NULL. */
    r = s->ops->run_locked(s, sql, "list", p,
                           strstr(sql, "?2")   ? 2
                           : strstr(sql, "?1") ? 1
                                               : 0,
                           list_row, &l, NULL);
    if (r < 0) {
        g_ptr_array_unref(l.a);
        return r;
    }
    *out = l.a;
    return 0;
}
