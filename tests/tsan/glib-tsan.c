/*
 * vmgate — ThreadSanitizer and GLib's locks (the VMGATE_TSAN build only).
 *
 * Debian's GLib implements GMutex and GCond on futexes, which
 * ThreadSanitizer cannot see: every access guarded by a GMutex would look
 * like a race. This file, linked into each program of the TSan build,
 * interposes the lock functions vmgate calls and tells TSan about each
 * lock and unlock with its mutex annotations (sanitizer/tsan_interface.h),
 * around GLib's own implementation (looked up with RTLD_NEXT). Hand-overs
 * through a GAsyncQueue, a GThreadPool or a GSource's callback, whose
 * locking happens inside GLib where no interposition reaches, are annotated
 * as a release where the data goes in (push, attach) and an acquire where
 * it comes out (pop; the pool's function and the source's callback,
 * wrapped). Nothing here is built into vmgate itself; the wrappers of pools
 * and callbacks are never freed (test builds only).
 */
#include <dlfcn.h>
#include <glib.h>
#include <sanitizer/tsan_interface.h>

/* GLib's own @name, looked up once (atomically: any thread may be first). */
#define REAL(name, type)                                                                           \
    static gpointer cache_##name;                                                                  \
    type real_##name = (type)g_atomic_pointer_get(&cache_##name);                                  \
    if (!real_##name) {                                                                            \
        real_##name = (type)dlsym(RTLD_NEXT, #name);                                               \
        g_atomic_pointer_set(&cache_##name, (gpointer)real_##name);                                \
    }

typedef void (*mutex_fn)(GMutex *);
typedef gboolean (*mutex_try_fn)(GMutex *);
typedef void (*rec_fn)(GRecMutex *);
typedef void (*rw_fn)(GRWLock *);
typedef void (*cond_wait_fn)(GCond *, GMutex *);
typedef gboolean (*cond_until_fn)(GCond *, GMutex *, gint64);
typedef void (*queue_push_fn)(GAsyncQueue *, gpointer);
typedef gpointer (*queue_pop_fn)(GAsyncQueue *);
typedef gpointer (*queue_timeout_fn)(GAsyncQueue *, guint64);
typedef gboolean (*pool_push_fn)(GThreadPool *, gpointer, GError **);
typedef GThreadPool *(*pool_new_fn)(GFunc, gpointer, gint, gboolean, GError **);
typedef void (*set_callback_fn)(GSource *, GSourceFunc, gpointer, GDestroyNotify);
typedef guint (*attach_fn)(GSource *, GMainContext *);

void g_mutex_lock(GMutex *m)
{
    REAL(g_mutex_lock, mutex_fn);
    __tsan_mutex_pre_lock(m, 0);
    real_g_mutex_lock(m);
    __tsan_mutex_post_lock(m, 0, 0);
}

gboolean g_mutex_trylock(GMutex *m)
{
    gboolean ok;
    REAL(g_mutex_trylock, mutex_try_fn);
    __tsan_mutex_pre_lock(m, __tsan_mutex_try_lock);
    ok = real_g_mutex_trylock(m);
    __tsan_mutex_post_lock(m, ok ? __tsan_mutex_try_lock : __tsan_mutex_try_lock_failed, 0);
    return ok;
}

void g_mutex_unlock(GMutex *m)
{
    REAL(g_mutex_unlock, mutex_fn);
    __tsan_mutex_pre_unlock(m, 0);
    real_g_mutex_unlock(m);
    __tsan_mutex_post_unlock(m, 0);
}

void g_rec_mutex_lock(GRecMutex *m)
{
    REAL(g_rec_mutex_lock, rec_fn);
    __tsan_mutex_pre_lock(m, 0);
    real_g_rec_mutex_lock(m);
    __tsan_mutex_post_lock(m, 0, 0);
}

void g_rec_mutex_unlock(GRecMutex *m)
{
    REAL(g_rec_mutex_unlock, rec_fn);
    __tsan_mutex_pre_unlock(m, 0);
    real_g_rec_mutex_unlock(m);
    __tsan_mutex_post_unlock(m, 0);
}

void g_rw_lock_writer_lock(GRWLock *l)
{
    REAL(g_rw_lock_writer_lock, rw_fn);
    __tsan_mutex_pre_lock(l, 0);
    real_g_rw_lock_writer_lock(l);
    __tsan_mutex_post_lock(l, 0, 0);
}

void g_rw_lock_writer_unlock(GRWLock *l)
{
    REAL(g_rw_lock_writer_unlock, rw_fn);
    __tsan_mutex_pre_unlock(l, 0);
    real_g_rw_lock_writer_unlock(l);
    __tsan_mutex_post_unlock(l, 0);
}

void g_rw_lock_reader_lock(GRWLock *l)
{
    REAL(g_rw_lock_reader_lock, rw_fn);
    __tsan_mutex_pre_lock(l, __tsan_mutex_read_lock);
    real_g_rw_lock_reader_lock(l);
    __tsan_mutex_post_lock(l, __tsan_mutex_read_lock, 0);
}

void g_rw_lock_reader_unlock(GRWLock *l)
{
    REAL(g_rw_lock_reader_unlock, rw_fn);
    __tsan_mutex_pre_unlock(l, __tsan_mutex_read_lock);
    real_g_rw_lock_reader_unlock(l);
    __tsan_mutex_post_unlock(l, __tsan_mutex_read_lock);
}

/* A wait lets go of the mutex and takes it again. */
void g_cond_wait(GCond *c, GMutex *m)
{
    REAL(g_cond_wait, cond_wait_fn);
    __tsan_mutex_pre_unlock(m, 0);
    __tsan_mutex_post_unlock(m, 0);
    __tsan_release(c);
    real_g_cond_wait(c, m);
    __tsan_acquire(c);
    __tsan_mutex_pre_lock(m, 0);
    __tsan_mutex_post_lock(m, 0, 0);
}

gboolean g_cond_wait_until(GCond *c, GMutex *m, gint64 end_time)
{
    gboolean ok;
    REAL(g_cond_wait_until, cond_until_fn);
    __tsan_mutex_pre_unlock(m, 0);
    __tsan_mutex_post_unlock(m, 0);
    __tsan_release(c);
    ok = real_g_cond_wait_until(c, m, end_time);
    __tsan_acquire(c);
    __tsan_mutex_pre_lock(m, 0);
    __tsan_mutex_post_lock(m, 0, 0);
    return ok;
}

void g_async_queue_push(GAsyncQueue *q, gpointer data)
{
    REAL(g_async_queue_push, queue_push_fn);
    __tsan_release(q);
    real_g_async_queue_push(q, data);
}

gpointer g_async_queue_pop(GAsyncQueue *q)
{
    gpointer data;
    REAL(g_async_queue_pop, queue_pop_fn);
    data = real_g_async_queue_pop(q);
    __tsan_acquire(q);
    return data;
}

gpointer g_async_queue_timeout_pop(GAsyncQueue *q, guint64 timeout)
{
    gpointer data;
    REAL(g_async_queue_timeout_pop, queue_timeout_fn);
    data = real_g_async_queue_timeout_pop(q, timeout);
    __tsan_acquire(q);
    return data;
}

gpointer g_async_queue_try_pop(GAsyncQueue *q)
{
    gpointer data;
    REAL(g_async_queue_try_pop, queue_pop_fn);
    data = real_g_async_queue_try_pop(q);
    __tsan_acquire(q);
    return data;
}

/* A pool's function, called with each pushed item after an acquire on it. */
typedef struct pool_fn {
    GFunc func;
    gpointer user_data;
} pool_fn;

static void pool_trampoline(gpointer data, gpointer user_data)
{
    pool_fn *f = user_data;
    __tsan_acquire(data);
    f->func(data, f->user_data);
}

GThreadPool *g_thread_pool_new(GFunc func, gpointer user_data, gint max_threads, gboolean exclusive,
                               GError **error)
{
    pool_fn *f = g_new0(pool_fn, 1);
    REAL(g_thread_pool_new, pool_new_fn);
    f->func = func;
    f->user_data = user_data;
    return real_g_thread_pool_new(pool_trampoline, f, max_threads, exclusive, error);
}

gboolean g_thread_pool_push(GThreadPool *pool, gpointer data, GError **error)
{
    REAL(g_thread_pool_push, pool_push_fn);
    __tsan_release(data);
    return real_g_thread_pool_push(pool, data, error);
}

/* A source's callback, called after an acquire on the source it was
 * attached with. */
typedef struct source_cb {
    GSourceFunc func;
    gpointer data;
    GDestroyNotify notify;
    GSource *source;
} source_cb;

static gboolean source_trampoline(gpointer p)
{
    source_cb *cb = p;
    __tsan_acquire(cb->source);
    return cb->func(cb->data);
}

static void source_notify(gpointer p)
{
    source_cb *cb = p;
    __tsan_acquire(cb->source);
    if (cb->notify)
        cb->notify(cb->data);
    g_free(cb);
}

void g_source_set_callback(GSource *source, GSourceFunc func, gpointer data, GDestroyNotify notify)
{
    source_cb *cb;
    REAL(g_source_set_callback, set_callback_fn);
    /* Only idle and timeout sources call a plain GSourceFunc; others (fd,
     * socket, child watch sources) call theirs with more arguments. */
    if (source->source_funcs != &g_idle_funcs && source->source_funcs != &g_timeout_funcs) {
        real_g_source_set_callback(source, func, data, notify);
        return;
    }
    cb = g_new0(source_cb, 1);
    cb->func = func;
    cb->data = data;
    cb->notify = notify;
    cb->source = source;
    real_g_source_set_callback(source, func ? source_trampoline : NULL, cb, source_notify);
}

guint g_source_attach(GSource *source, GMainContext *context)
{
    REAL(g_source_attach, attach_fn);
    __tsan_release(source);
    return real_g_source_attach(source, context);
}
