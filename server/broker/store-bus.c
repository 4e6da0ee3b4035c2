/*
 * vmgate — the store's event bus (see store.h): channels listened to,
 * notifications sent and waited for, on the back end's own mechanism
 * (PostgreSQL's LISTEN/NOTIFY); a back end without one answers -ENOTSUP.
 *
 * Threading: every exported function takes s->lock for its whole duration,
 * except that vg_store_wait_notifications calls its callback after
 * letting it go.
 */
#include "store-priv.h"

#include <errno.h>
#include <string.h>

vg_store_notification *vg_store_notification_new(const char *channel, const char *payload)
{
    vg_store_notification *n = g_new0(vg_store_notification, 1);

    n->channel = g_strdup(channel);
    n->payload = g_strdup(payload);
    return n;
}

void vg_store_notification_free(void *p)
{
    vg_store_notification *n = p;

    if (!n)
        return;
    g_free(n->channel);
    g_free(n->payload);
    g_free(n);
}

/* A channel name that needs no quoting on any back end: [a-z_], 1 to 63 bytes. */
static bool channel_valid(const char *channel)
{
    size_t len;

    if (!channel)
        return false;
    len = strnlen(channel, VG_STORE_CHANNEL_MAX + 1);
    if (len == 0 || len > VG_STORE_CHANNEL_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(g_ascii_islower(channel[i]) || channel[i] == '_'))
            return false;
    return true;
}

int vg_store_listen(vg_store *s, const char *channel)
{
    int r;

    if (!s || !channel_valid(channel))
        return -EINVAL;
    if (!s->ops->listen_locked)
        return -ENOTSUP;
    g_mutex_lock(&s->lock);
    r = s->ops->listen_locked(s, channel);
    g_mutex_unlock(&s->lock);
    return r;
}

int vg_store_notify(vg_store *s, const char *channel, const char *payload)
{
    int r;

    if (!s || !channel_valid(channel) || !payload || !g_utf8_validate(payload, -1, NULL))
        return -EINVAL;
    if (strnlen(payload, VG_STORE_NOTIFY_PAYLOAD_MAX + 1) > VG_STORE_NOTIFY_PAYLOAD_MAX)
        return -EMSGSIZE;
    if (!s->ops->notify_locked)
        return -ENOTSUP;
    g_mutex_lock(&s->lock);
    r = s->ops->notify_locked(s, channel, payload);
    g_mutex_unlock(&s->lock);
    return r;
}

int vg_store_wait_notifications(vg_store *s, int wake_fd, int timeout_ms, vg_store_notify_fn fn,
                                void *opaque)
{
    g_autoptr(GPtrArray) got = NULL;
    int r;

    if (!s || !fn || timeout_ms < 0 || timeout_ms > 60000)
        return -EINVAL;
    if (!s->ops->wait_locked)
        return -ENOTSUP;
    got = g_ptr_array_new_with_free_func(vg_store_notification_free);
    g_mutex_lock(&s->lock);
    r = s->ops->wait_locked(s, wake_fd, timeout_ms, got);
    g_mutex_unlock(&s->lock);
    /* What arrived before a failure is still delivered. */
    for (guint i = 0; i < got->len; i++) {
        vg_store_notification *n = g_ptr_array_index(got, i);
        fn(opaque, n->channel, n->payload);
    }
    return r;
}
