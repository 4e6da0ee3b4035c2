/*
 * vmgate — a console's WebSocket: the ticket first, then RFB between the
 * browser and the stream ops.console took. See web-server.h.
 *
 * Close codes the page shows (with the reason text):
 *   4000  the console ended (kick, takeover, the VM stopped, ...)
 *   4001  no ticket came in time
 *   4002  the console could not be opened (the broker's reason)
 *   4003  the ticket was refused (unknown, used, expired, another session's)
 *   4004  the browser sent more than the console takes
 *
 * Flow control: libsoup queues what it is given to send without a bound,
 * so the screen's side is read only while the connection's socket to the
 * TLS relay has room (libsoup writes eagerly; no room means it has a
 * backlog). What then waits, waits in the RFB relay behind this stream,
 * which holds a slow viewer's updates back and ends one that reads nothing
 * for the stall timeout, as for VNC clients. The browser's side is bounded
 * by the largest message (VG_WEB_MAX_WS_MESSAGE) and MAX_TO_VM.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "log.h"
#include "web-check.h"
#include "web-priv.h"

#define TAG "web"

#define TICKET_WAIT_S 10
#define READ_CHUNK    65536
#define MAX_TO_VM     (1024 * 1024)

enum console_state { WAIT_TICKET, OPENING, OPEN, CLOSED };

struct vg_web_console {
    gint refs; /* the web thread's, the front end's from ops.console until ended, a job's */
    vg_web_link *link;
    /* web thread only */
    vg_web_server *s;
    SoupWebsocketConnection *ws;
    int soup_fd; /* the connection's socket to the TLS relay (libsoup's; not ours to close) */
    enum console_state state;
    int fd; /* our end of the RFB stream */
    char token[VG_WEB_TOKEN_LEN + 1];
    char peer[VG_PEER_NAME_SIZE];
    char user[65];
    char vm[256];
    GSource *ticket_timer, *in_src, *out_src, *room_src;
    GByteArray *to_vm;
    bool vm_eof;
};

static vg_web_console *console_ref(vg_web_console *c)
{
    g_atomic_int_inc(&c->refs);
    return c;
}

static void console_unref(vg_web_console *c)
{
    if (!g_atomic_int_dec_and_test(&c->refs))
        return;
    if (c->fd >= 0)
        close(c->fd);
    if (c->to_vm)
        g_byte_array_unref(c->to_vm);
    vg_web_link_unref(c->link);
    g_free(c);
}

static void drop_source(GSource **src)
{
    if (*src) {
        g_source_destroy(*src);
        g_source_unref(*src);
        *src = NULL;
    }
}

static GSource *watch_fd(vg_web_console *c, int fd, GIOCondition cond, GUnixFDSourceFunc fn)
{
    GSource *src = g_unix_fd_source_new(fd, cond);
    g_source_set_callback(src, G_SOURCE_FUNC(fn), c, NULL);
    g_source_attach(src, vg_web_server_context(c->s));
    return src;
}

/* A close reason fits a control frame: at most 123 bytes, whole characters. */
static void close_ws(vg_web_console *c, gushort code, const char *reason)
{
    char buf[124];
    const char *end;

    if (!c->ws || soup_websocket_connection_get_state(c->ws) != SOUP_WEBSOCKET_STATE_OPEN)
        return;
    g_strlcpy(buf, reason, sizeof(buf));
    if (!g_utf8_validate(buf, -1, &end))
        buf[end - buf] = '\0';
    soup_websocket_connection_close(c->ws, code, buf);
}

/* The page is gone (or the server stops): let go of everything here. */
static void release(vg_web_console *c)
{
    if (c->state == CLOSED)
        return;
    c->state = CLOSED;
    drop_source(&c->ticket_timer);
    drop_source(&c->in_src);
    drop_source(&c->out_src);
    drop_source(&c->room_src);
    if (c->fd >= 0) {
        /* The RFB side sees the end and ends the viewer. */
        shutdown(c->fd, SHUT_RDWR);
        close(c->fd);
        c->fd = -1;
    }
    g_hash_table_remove(vg_web_server_consoles(c->s), c);
    if (c->ws) {
        g_signal_handlers_disconnect_by_data(c->ws, c);
        g_clear_object(&c->ws);
    }
    console_unref(c); /* the web thread's */
}

/* ---- screen → browser ------------------------------------------------------- */

static gboolean on_vm_readable(int fd, GIOCondition cond, gpointer p);

static gboolean on_room(int fd, GIOCondition cond, gpointer p)
{
    vg_web_console *c = p;
    (void)fd;
    (void)cond;
    drop_source(&c->room_src);
    c->in_src = watch_fd(c, c->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_vm_readable);
    return G_SOURCE_REMOVE;
}

static gboolean on_vm_readable(int fd, GIOCondition cond, gpointer p)
{
    vg_web_console *c = p;
    (void)fd;
    (void)cond;
    struct pollfd room = {.fd = c->soup_fd, .events = POLLOUT};
    uint8_t *buf;
    ssize_t n;

    if (c->soup_fd >= 0 && poll(&room, 1, 0) == 0) {
        /* libsoup has a backlog: wait until its socket has room. */
        drop_source(&c->in_src);
        c->room_src = watch_fd(c, c->soup_fd, G_IO_OUT | G_IO_HUP | G_IO_ERR, on_room);
        return G_SOURCE_REMOVE;
    }
    buf = g_malloc(READ_CHUNK);
    n = recv(c->fd, buf, READ_CHUNK, 0);
    if (n > 0) {
        soup_websocket_connection_send_binary(c->ws, buf, (gsize)n);
        g_free(buf);
        return G_SOURCE_CONTINUE;
    }
    g_free(buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    /* The RFB side ended: its reason comes with vg_web_console_ended. */
    c->vm_eof = true;
    drop_source(&c->in_src);
    return G_SOURCE_REMOVE;
}

/* ---- browser → screen ----------------------------------------------------- */

static gboolean on_vm_writable(int fd, GIOCondition cond, gpointer p);

static void flush_to_vm(vg_web_console *c)
{
    while (c->to_vm->len > 0) {
        ssize_t n = send(c->fd, c->to_vm->data, c->to_vm->len, MSG_NOSIGNAL);
        if (n > 0) {
            g_byte_array_remove_range(c->to_vm, 0, (guint)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->out_src)
                c->out_src = watch_fd(c, c->fd, G_IO_OUT | G_IO_ERR, on_vm_writable);
            return;
        }
        g_byte_array_set_size(c->to_vm, 0); /* the RFB side is gone */
        break;
    }
    drop_source(&c->out_src);
}

static gboolean on_vm_writable(int fd, GIOCondition cond, gpointer p)
{
    vg_web_console *c = p;
    (void)fd;
    (void)cond;
    flush_to_vm(c);
    return c->out_src ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* ---- opening ---------------------------------------------------------------- */

typedef struct open_job {
    vg_web_console *c;
    int fd; /* the stream's other end, for ops.console */
    int result;
    char reason[160];
} open_job;

static void open_job_free(gpointer p)
{
    open_job *j = p;
    if (j->fd >= 0)
        close(j->fd);
    console_unref(j->c);
    g_free(j);
}

static void open_job_run(gpointer p, gpointer unused)
{
    open_job *j = p;
    void *opaque;
    const vg_web_server_ops *ops = vg_web_server_ops_of(j->c->s, &opaque);
    (void)unused;

    console_ref(j->c); /* the front end's, until vg_web_console_ended */
    j->result = ops->console(opaque, j->c->user, j->c->vm, j->c->peer, j->fd, j->c, j->reason,
                             sizeof(j->reason));
    if (j->result < 0)
        console_unref(j->c);
    else
        j->fd = -1; /* taken */
}

static void open_job_done(gpointer p, gpointer unused)
{
    open_job *j = p;
    vg_web_console *c = j->c;
    (void)unused;

    if (c->state != OPENING)
        return; /* the page left meanwhile; the stream's end ends the viewer */
    if (j->result < 0) {
        vg_info(TAG, "peer=%s user=%s vm=%s: console refused: %s", c->peer, c->user, c->vm,
                j->reason);
        close_ws(c, 4002, j->reason);
        return;
    }
    c->state = OPEN;
    c->in_src = watch_fd(c, c->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_vm_readable);
    flush_to_vm(c);
}

static void take_ticket(vg_web_console *c, GBytes *message)
{
    gsize len = 0;
    const char *data = g_bytes_get_data(message, &len);
    char id[80];
    int sp[2];
    open_job *j;

    drop_source(&c->ticket_timer);
    if (len == 0 || len >= sizeof(id)) {
        close_ws(c, 4003, "The console ticket was refused");
        return;
    }
    memcpy(id, data, len);
    id[len] = '\0';
    if (vg_web_server_take_ticket(c->s, id, c->token, c->user, c->vm) < 0) {
        vg_notice(TAG,
                  "peer=%s: console ticket refused (unknown, used, expired or another "
                  "session's)",
                  c->peer);
        close_ws(c, 4003, "The console ticket was refused");
        return;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0) {
        close_ws(c, 4002, "The gateway cannot open a console right now");
        return;
    }
    c->fd = sp[0];
    c->state = OPENING;
    j = g_new0(open_job, 1);
    j->c = console_ref(c);
    j->fd = sp[1];
    vg_web_server_run_job(c->s, open_job_run, open_job_done, j, open_job_free);
}

static void on_message(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer p)
{
    vg_web_console *c = p;
    (void)ws;

    if (c->state == WAIT_TICKET) {
        if (type == SOUP_WEBSOCKET_DATA_TEXT)
            take_ticket(c, message);
        else
            close_ws(c, 4003, "The console ticket was refused");
        return;
    }
    if (c->state == OPENING || c->state == OPEN) {
        gsize len = 0;
        const guint8 *data = g_bytes_get_data(message, &len);
        if (type != SOUP_WEBSOCKET_DATA_BINARY)
            return;
        if (c->to_vm->len + len > MAX_TO_VM) {
            close_ws(c, 4004, "The browser sent more than the console takes");
            return;
        }
        g_byte_array_append(c->to_vm, data, (guint)len);
        if (c->state == OPEN)
            flush_to_vm(c);
    }
}

static void on_closed(SoupWebsocketConnection *ws, gpointer p)
{
    (void)ws;
    release(p);
}

static gboolean on_ticket_timeout(gpointer p)
{
    vg_web_console *c = p;
    g_source_unref(c->ticket_timer);
    c->ticket_timer = NULL;
    close_ws(c, 4001, "No console ticket came in time");
    return G_SOURCE_REMOVE;
}

void vg_web_console_start(vg_web_server *s, SoupWebsocketConnection *ws, SoupServerMessage *msg,
                          const char *session_token, const char *peer)
{
    vg_web_console *c = g_new0(vg_web_console, 1);
    GSocket *sock = soup_server_message_get_socket(msg);

    c->refs = 1;
    c->link = vg_web_server_link(s);
    c->s = s;
    c->ws = g_object_ref(ws);
    c->soup_fd = sock ? g_socket_get_fd(sock) : -1;
    c->fd = -1;
    c->to_vm = g_byte_array_new();
    g_strlcpy(c->token, session_token ? session_token : "", sizeof(c->token));
    g_strlcpy(c->peer, peer, sizeof(c->peer));
    g_hash_table_add(vg_web_server_consoles(s), c);
    soup_websocket_connection_set_max_incoming_payload_size(ws, VG_WEB_MAX_WS_MESSAGE);
    g_signal_connect(ws, "message", G_CALLBACK(on_message), c);
    g_signal_connect(ws, "closed", G_CALLBACK(on_closed), c);
    c->ticket_timer = g_timeout_source_new_seconds(TICKET_WAIT_S);
    g_source_set_callback(c->ticket_timer, on_ticket_timeout, c, NULL);
    g_source_attach(c->ticket_timer, vg_web_server_context(s));
}

void vg_web_console_close_all(vg_web_server *s)
{
    g_autoptr(GList) all = g_hash_table_get_keys(vg_web_server_consoles(s));
    for (GList *l = all; l; l = l->next) {
        vg_web_console *c = l->data;
        close_ws(c, 1001, "The gateway is stopping");
        release(c);
    }
}

/* ---- the end, from the front end ----------------------------------------------- */

typedef struct ending {
    vg_web_console *c;
    char reason[160];
} ending;

static void ending_free(gpointer p)
{
    ending *e = p;
    console_unref(e->c); /* the front end's */
    g_free(e);
}

static gboolean ended_on_web(gpointer p)
{
    ending *e = p;
    if (e->c->state != CLOSED)
        close_ws(e->c, 4000, e->reason);
    return G_SOURCE_REMOVE;
}

void vg_web_console_ended(vg_web_console *c, const char *reason)
{
    ending *e = g_new0(ending, 1);
    e->c = c;
    g_strlcpy(e->reason, reason && *reason ? reason : "The console ended", sizeof(e->reason));
    vg_web_link_post(c->link, ended_on_web, e, ending_free);
}
