/*
 * vmgate — the client thread of an RFB connection. See rfb-loop.h.
 *
 * Threading: the loop's thread owns the rfbClient from vg_rfb_loop_start()
 * until vg_rfb_loop_stop() has joined it: it runs ops->start, reads server
 * messages and writes every client message, since libvncclient's writes
 * are not thread-safe. Other threads queue input under `lock` and wake the
 * thread through an eventfd; vg_rfb_loop_stop() sets `stop` under `lock`,
 * wakes the thread, shuts the socket down and joins. No other lock is taken
 * with `lock` held, and no callback runs with it held.
 *
 * libvncclient 0.9.14: WaitForMessage() ignores bytes already in
 * client->buffered (and knows nothing of TLS records GnuTLS has decrypted
 * but not handed out), so the thread polls the socket itself and asks
 * those first.
 */
#include "rfb-loop.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "display.h"
#include "log.h"

typedef struct input_event {
    bool is_key;
    bool down;
    uint16_t qnum;
    uint32_t keysym;
    int32_t x, y;
    uint32_t buttons;
} input_event;

struct vg_rfb_loop {
    rfbClient *cl;
    const vg_rfb_loop_ops *ops;
    void *opaque;
    char *tag;
    char *prefix;
    char *closed_why;
    int wake_fd; /* eventfd: input queued, or stop */
    GThread *thread;
    bool started;

    GMutex lock;
    /* under lock */
    GArray *queue; /* input_event */
    bool stop;
    bool lost;
};

int vg_rfb_loop_new(rfbClient *cl, const vg_rfb_loop_params *params, const vg_rfb_loop_ops *ops,
                    void *opaque, vg_rfb_loop **out)
{
    vg_rfb_loop *loop;
    int r;

    *out = NULL;
    loop = g_new0(vg_rfb_loop, 1);
    loop->cl = cl;
    loop->ops = ops;
    loop->opaque = opaque;
    loop->tag = g_strdup(params->tag);
    loop->prefix = g_strdup(params->prefix ? params->prefix : "");
    loop->closed_why = g_strdup(params->closed_why);
    g_mutex_init(&loop->lock);
    loop->queue = g_array_new(FALSE, FALSE, sizeof(input_event));
    loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->wake_fd < 0) {
        r = -errno;
        goto fail;
    }
    *out = loop;
    return 0;

fail:
    vg_rfb_loop_free(loop);
    return r;
}

static void send_input(vg_rfb_loop *loop, const input_event *ev)
{
    rfbClient *cl = loop->cl;

    if (ev->is_key) {
        if (ev->qnum && SupportsClient2Server(cl, rfbQemuEvent))
            SendExtendedKeyEvent(cl, ev->keysym, ev->qnum, ev->down);
        else if (ev->keysym)
            SendKeyEvent(cl, ev->keysym, ev->down);
        else
            vg_debug(loop->tag, "%skey 0x%x dropped: no extended key events and no keysym",
                     loop->prefix, ev->qnum);
    } else {
        int32_t x = CLAMP(ev->x, 0, MAX(cl->width - 1, 0));
        int32_t y = CLAMP(ev->y, 0, MAX(cl->height - 1, 0));
        SendPointerEvent(cl, x, y, (int)(ev->buttons & VG_BUTTON_MASK));
    }
}

/* Send what is queued; false when asked to stop. */
static bool drain_queue(vg_rfb_loop *loop)
{
    GArray *batch;
    bool stop;
    uint64_t v;

    if (read(loop->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        vg_debug(loop->tag, "%seventfd read: %s", loop->prefix, g_strerror(errno));
    g_mutex_lock(&loop->lock);
    stop = loop->stop;
    batch = loop->queue;
    loop->queue = g_array_new(FALSE, FALSE, sizeof(input_event));
    g_mutex_unlock(&loop->lock);
    if (!stop) {
        for (guint i = 0; i < batch->len; i++)
            send_input(loop, &g_array_index(batch, input_event, i));
    }
    g_array_free(batch, TRUE);
    return !stop;
}

void vg_rfb_loop_lost(vg_rfb_loop *loop, const char *why)
{
    bool first;

    g_mutex_lock(&loop->lock);
    first = !loop->lost && !loop->stop;
    loop->lost = true;
    g_mutex_unlock(&loop->lock);
    if (first)
        loop->ops->lost(loop->opaque, why);
}

static bool data_pending(vg_rfb_loop *loop)
{
    rfbClient *cl = loop->cl;

    return cl->buffered > 0 || (loop->ops->pending && loop->ops->pending(loop->opaque, cl));
}

static gpointer loop_thread(gpointer data)
{
    vg_rfb_loop *loop = data;
    rfbClient *cl = loop->cl;
    sigset_t pipe_set;

    /* libvncclient writes with write(): a peer that went away must give
     * EPIPE on this thread, not kill the process. A SIGPIPE raised by this
     * thread's write stays pending on the (blocked) thread. */
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);

    if (loop->ops->start(loop->opaque, cl) < 0)
        return NULL;

    for (;;) {
        struct pollfd fds[2] = {{.fd = cl->sock, .events = POLLIN},
                                {.fd = loop->wake_fd, .events = POLLIN}};

        /* Unbounded: data, input or vg_rfb_loop_stop() ends the wait. */
        if (!data_pending(loop)) {
            if (poll(fds, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                vg_rfb_loop_lost(loop, "poll failed");
                break;
            }
        } else {
            fds[0].revents = POLLIN;
            if (poll(&fds[1], 1, 0) < 0)
                fds[1].revents = 0;
        }
        if ((fds[1].revents & POLLIN) && !drain_queue(loop))
            break;
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (!HandleRFBServerMessage(cl)) {
                vg_rfb_loop_lost(loop, loop->closed_why);
                break;
            }
        }
    }
    return NULL;
}

int vg_rfb_loop_start(vg_rfb_loop *loop, const char *thread_name)
{
    if (loop->started)
        return -EALREADY;
    loop->thread = g_thread_try_new(thread_name, loop_thread, loop, NULL);
    if (!loop->thread)
        return -EAGAIN;
    loop->started = true;
    return 0;
}

static int queue_input(vg_rfb_loop *loop, const input_event *ev)
{
    uint64_t one = 1;
    int r = 0;

    g_mutex_lock(&loop->lock);
    if (loop->stop || loop->lost)
        r = -EPIPE;
    else if (loop->queue->len >= VG_RFB_LOOP_QUEUE_MAX)
        r = -EAGAIN;
    else
        g_array_append_val(loop->queue, *ev);
    g_mutex_unlock(&loop->lock);
    if (r == 0 && write(loop->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        return -errno;
    return r;
}

int vg_rfb_loop_send_key(vg_rfb_loop *loop, uint16_t qnum, uint32_t keysym, bool down)
{
    input_event ev = {.is_key = true, .qnum = qnum, .keysym = keysym, .down = down};

    if (qnum == 0 && keysym == 0)
        return -EINVAL;
    return queue_input(loop, &ev);
}

int vg_rfb_loop_send_pointer(vg_rfb_loop *loop, int32_t x, int32_t y, uint32_t buttons)
{
    input_event ev = {.x = x, .y = y, .buttons = buttons};

    return queue_input(loop, &ev);
}

void vg_rfb_loop_stop(vg_rfb_loop *loop)
{
    uint64_t one = 1;

    g_mutex_lock(&loop->lock);
    loop->stop = true;
    g_mutex_unlock(&loop->lock);
    if (!loop->thread)
        return;
    if (write(loop->wake_fd, &one, sizeof(one)) < 0)
        vg_debug(loop->tag, "%seventfd write: %s", loop->prefix, g_strerror(errno));
    /* A thread blocked in a read of a half-sent message wakes up when the
     * socket is shut down. */
    if (loop->cl->sock != RFB_INVALID_SOCKET)
        shutdown(loop->cl->sock, SHUT_RDWR);
    g_thread_join(loop->thread);
    loop->thread = NULL;
}

void vg_rfb_loop_free(vg_rfb_loop *loop)
{
    if (!loop)
        return;
    vg_rfb_loop_stop(loop);
    if (loop->wake_fd >= 0)
        close(loop->wake_fd);
    g_array_free(loop->queue, TRUE);
    g_mutex_clear(&loop->lock);
    g_free(loop->tag);
    g_free(loop->prefix);
    g_free(loop->closed_why);
    g_free(loop);
}
