/*
 * vmgate — the client thread of an RFB connection, shared by vmgate's own
 * libvncclient clients (the VM console on the libvirt socket, vmgate-shot's
 * VNC mode): one thread owns the rfbClient, runs its owner's handshake,
 * reads server messages and writes every client message; other threads
 * queue keys and pointer positions, which the thread sends in order.
 */
#ifndef VG_RFB_LOOP_H
#define VG_RFB_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include <rfb/rfbclient.h>

/** Events a loop holds queued at most; the next one is refused with -EAGAIN. */
#define VG_RFB_LOOP_QUEUE_MAX 4096

typedef struct vg_rfb_loop vg_rfb_loop;

/** What the loop asks of its owner. Every callback runs on the loop's thread. */
typedef struct vg_rfb_loop_ops {
    /**
     * First thing on the thread: the RFB handshake and setup (e.g.
     * InitialiseRFBConnection() and vg_rfb_start()). Return 0 to go on into
     * the loop. On failure return a negative errno: the thread ends and no
     * other callback runs; start tells its owner why, itself or through
     * vg_rfb_loop_lost().
     */
    int (*start)(void *opaque, rfbClient *cl);
    /**
     * optional: whether data waits that polling the socket does not show
     * (TLS records already decrypted). libvncclient's own `buffered` bytes
     * are always looked at.
     */
    bool (*pending)(void *opaque, rfbClient *cl);
    /**
     * The connection ended by itself (the server closed it, a write or a
     * poll failed), or vg_rfb_loop_lost() said so. Runs at most once, never
     * once vg_rfb_loop_stop() has begun. Never free the loop from here.
     */
    void (*lost)(void *opaque, const char *why);
} vg_rfb_loop_ops;

typedef struct vg_rfb_loop_params {
    const char *tag;        /**< log tag of the owner's module */
    const char *prefix;     /**< put before the loop's log lines, e.g. "vm=NAME: "; NULL: none */
    const char *closed_why; /**< the reason lost() gets when the server ends the connection */
} vg_rfb_loop_params;

/**
 * Make a loop for @cl (connected, sock < FD_SETSIZE). Nothing runs until
 * vg_rfb_loop_start(); input can be queued before. The owner keeps @cl
 * and frees it after vg_rfb_loop_stop(). @params' strings are copied.
 * @return 0, -ENOMEM, or -errno if the loop's eventfd cannot be made.
 */
int vg_rfb_loop_new(rfbClient *cl, const vg_rfb_loop_params *params, const vg_rfb_loop_ops *ops,
                    void *opaque, vg_rfb_loop **out);

/**
 * Start the loop's thread (named @thread_name), which blocks SIGPIPE for
 * itself and calls ops->start. Once only.
 * @return 0, -EALREADY, or -EAGAIN if no thread could be started.
 */
int vg_rfb_loop_start(vg_rfb_loop *loop, const char *thread_name);

/**
 * Queue a key: sent as a QEMU extended key event when @qnum is set and the
 * server acknowledged those, else as a plain key event when @keysym is set,
 * else dropped (logged at debug). Any thread.
 * @return 0; -EINVAL if both are 0; -EAGAIN when VG_RFB_LOOP_QUEUE_MAX
 *         events wait; -EPIPE once the loop is stopping or lost.
 */
int vg_rfb_loop_send_key(vg_rfb_loop *loop, uint16_t qnum, uint32_t keysym, bool down);

/**
 * Queue a pointer position with the VG_BUTTON_* bits held; the position is
 * clamped to the screen when it is sent. Any thread. Returns as
 * vg_rfb_loop_send_key().
 */
int vg_rfb_loop_send_pointer(vg_rfb_loop *loop, int32_t x, int32_t y, uint32_t buttons);

/**
 * The connection is lost: input is refused (-EPIPE) from now on, and the
 * first time, unless the loop is stopping, ops->lost(@why) runs. For
 * ops->start to report a failed handshake; loop's thread only.
 */
void vg_rfb_loop_lost(vg_rfb_loop *loop, const char *why);

/**
 * Stop the thread and wait for it: wakes it, shuts the socket down (a read
 * blocked inside libvncclient then fails) and joins it. Queued input is
 * dropped, later input refused (-EPIPE). Idempotent; any thread but the
 * loop's, never from a loop callback.
 */
void vg_rfb_loop_stop(vg_rfb_loop *loop);

/** vg_rfb_loop_stop(), then free the loop (not its rfbClient). NULL is fine. */
void vg_rfb_loop_free(vg_rfb_loop *loop);

#endif /* VG_RFB_LOOP_H */
