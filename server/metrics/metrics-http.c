/*
 * vmgate — the metrics listener (see metrics-http.h).
 *
 * HTTP comes from libsoup 3 rather than by hand: it is GLib-native (its
 * server runs on a GMainContext, like the rest of vmgated), well kept, in
 * Debian, and the web front end uses it too. It has no connection cap or
 * deadline of its own, so vmgate accepts the connections itself (the
 * listening socket from base/net.h), counts them, and hands each to the
 * SoupServer with soup_server_accept_iostream; a once-a-second tick forgets
 * the connections libsoup closed and shuts down (shutdown(2): libsoup then
 * sees the end and closes it itself) those past their lifetime.
 *
 * Threading: the SoupServer, the accept source, the tick and the list of
 * connections belong to the server's thread and its own GMainContext
 * (pushed as that thread's default, so libsoup's own sources land there
 * too); the owner thread touches them only before the thread starts and
 * after it was joined.
 */
#include "metrics-http.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <libsoup/soup.h>

#include "log.h"
#include "net.h"
#include "util.h"

#define TAG "metrics"

/* After a connection was shut down, how long libsoup may take to close it
 * before it no longer counts (it is then libsoup's alone). */
#define CUT_GRACE_US (5 * G_USEC_PER_SEC)

typedef struct conn {
    GSocketConnection *stream;
    GSocket *socket;     /* borrowed from stream */
    int64_t deadline_us; /* vg_now_us() */
    bool cut;            /* shut down at the deadline */
} conn;

struct vg_metrics_http {
    vg_metrics_http_ops ops;
    void *opaque;
    unsigned port;
    GMainContext *context;
    GMainLoop *loop;
    GThread *thread;
    SoupServer *server;
    GSocket *listener;
    GSource *accept_source;
    GSource *tick_source;
    GPtrArray *conns; /* of conn *, the server thread's */
};

static void conn_free(gpointer p)
{
    conn *c = p;
    g_object_unref(c->stream);
    g_free(c);
}

static bool conn_closed(const conn *c)
{
    return g_io_stream_is_closed(G_IO_STREAM(c->stream)) || g_socket_is_closed(c->socket);
}

/* Forget closed connections; shut down those past their lifetime. */
static void sweep(vg_metrics_http *h)
{
    int64_t now = vg_now_us();

    for (guint i = h->conns->len; i-- > 0;) {
        conn *c = h->conns->pdata[i];
        if (conn_closed(c) || (c->cut && now >= c->deadline_us + CUT_GRACE_US)) {
            g_ptr_array_remove_index_fast(h->conns, i);
            continue;
        }
        if (!c->cut && now >= c->deadline_us) {
            c->cut = true;
            vg_debug(TAG, "a connection reached its %d s lifetime: shut down",
                     VG_METRICS_HTTP_CONN_SECONDS);
            (void)g_socket_shutdown(c->socket, TRUE, TRUE, NULL);
        }
    }
}

static gboolean on_tick(gpointer data)
{
    sweep(data);
    return G_SOURCE_CONTINUE;
}

static gboolean on_accept(GSocket *listener, GIOCondition cond, gpointer data)
{
    vg_metrics_http *h = data;
    (void)cond;

    for (;;) {
        g_autoptr(GError) err = NULL;
        g_autoptr(GSocketAddress) local = NULL, remote = NULL;
        GSocket *s = g_socket_accept(listener, NULL, &err);
        conn *c;

        if (!s) {
            if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
                vg_debug(TAG, "accept: %s", err->message);
            break;
        }
        sweep(h);
        if (h->conns->len >= VG_METRICS_HTTP_MAX_CONNS) {
            /* Say why in one short write into the new socket's empty
             * buffer; never wait for the peer. */
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                       "Connection: close\r\nContent-Length: 0\r\n\r\n";
            vg_debug(TAG, "refused a connection: %u open", h->conns->len);
            g_socket_set_blocking(s, FALSE);
            (void)g_socket_send(s, busy, sizeof(busy) - 1, NULL, NULL);
            g_socket_close(s, NULL);
            g_object_unref(s);
            continue;
        }
        local = g_socket_get_local_address(s, NULL);
        remote = g_socket_get_remote_address(s, NULL);
        c = g_new0(conn, 1);
        c->stream = g_socket_connection_factory_create_connection(s);
        c->socket = s;
        g_object_unref(s); /* the connection holds it */
        c->deadline_us = vg_now_us() + (int64_t)VG_METRICS_HTTP_CONN_SECONDS * G_USEC_PER_SEC;
        if (!soup_server_accept_iostream(h->server, G_IO_STREAM(c->stream), local, remote, &err)) {
            vg_debug(TAG, "cannot serve a connection: %s", err ? err->message : "?");
            g_io_stream_close(G_IO_STREAM(c->stream), NULL, NULL);
            conn_free(c);
            continue;
        }
        g_ptr_array_add(h->conns, c);
    }
    return G_SOURCE_CONTINUE;
}

static bool known_path(const char *path)
{
    return strcmp(path, "/metrics") == 0 || strcmp(path, "/healthz") == 0 ||
           strcmp(path, "/readyz") == 0;
}

static void respond_text(SoupServerMessage *msg, guint status, char *text)
{
    soup_server_message_set_status(msg, status, NULL);
    soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_TAKE, text,
                                     strlen(text));
}

/*
 * A request announcing a body: libsoup would read all of it (into memory)
 * before answering, whatever an early handler says. Take the connection
 * from libsoup instead, say 413 in one short non-blocking write (a few
 * bytes into an empty socket buffer) and close it.
 */
static void refuse_body(SoupServerMessage *msg)
{
    static const char answer[] = "HTTP/1.1 413 Request Entity Too Large\r\n"
                                 "Connection: close\r\nContent-Length: 0\r\n\r\n";
    GIOStream *stream = soup_server_message_steal_connection(msg);
    GOutputStream *out;

    if (!stream)
        return;
    out = g_io_stream_get_output_stream(stream);
    if (G_IS_POLLABLE_OUTPUT_STREAM(out))
        (void)g_pollable_output_stream_write_nonblocking(G_POLLABLE_OUTPUT_STREAM(out), answer,
                                                         sizeof(answer) - 1, NULL, NULL);
    g_io_stream_close(stream, NULL, NULL);
    g_object_unref(stream);
}

/* Before any body is read: anything but GET or HEAD of our paths, without
 * a body, is answered here, and libsoup then reads no body. */
static void early_handler(SoupServer *server, SoupServerMessage *msg, const char *path,
                          GHashTable *query, gpointer data)
{
    const char *method = soup_server_message_get_method(msg);
    SoupMessageHeaders *req = soup_server_message_get_request_headers(msg);
    (void)server;
    (void)query;
    (void)data;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
                                     "GET, HEAD");
        respond_text(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, g_strdup("only GET and HEAD\n"));
    } else if (!path || !known_path(path)) {
        respond_text(msg, SOUP_STATUS_NOT_FOUND,
                     g_strdup("not found: /metrics, /healthz, /readyz\n"));
    } else if (soup_message_headers_get_encoding(req) != SOUP_ENCODING_NONE &&
               !(soup_message_headers_get_encoding(req) == SOUP_ENCODING_CONTENT_LENGTH &&
                 soup_message_headers_get_content_length(req) == 0)) {
        refuse_body(msg);
    }
}

static void handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                    gpointer data)
{
    vg_metrics_http *h = data;
    GString *out;
    (void)server;
    (void)query;

    if (soup_server_message_get_status(msg) != 0)
        return; /* answered early */
    if (strcmp(path, "/healthz") == 0) {
        respond_text(msg, SOUP_STATUS_OK, g_strdup("ok\n"));
    } else if (strcmp(path, "/readyz") == 0) {
        bool ok;
        out = g_string_new(NULL);
        ok = h->ops.ready(h->opaque, out);
        g_string_prepend(out, ok ? "ready\n" : "not ready\n");
        respond_text(msg, ok ? SOUP_STATUS_OK : SOUP_STATUS_SERVICE_UNAVAILABLE,
                     g_string_free(out, FALSE));
    } else {
        gsize len;
        char *text;
        out = g_string_sized_new(16384);
        h->ops.collect(h->opaque, out);
        len = out->len;
        text = g_string_free(out, FALSE);
        soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
        soup_server_message_set_response(msg, "text/plain; version=0.0.4; charset=utf-8",
                                         SOUP_MEMORY_TAKE, text, len);
    }
}

static gpointer server_thread(gpointer data)
{
    vg_metrics_http *h = data;

    g_main_context_push_thread_default(h->context);
    g_main_loop_run(h->loop);
    g_main_context_pop_thread_default(h->context);
    return NULL;
}

/* Everything but the thread; on the owner's thread with h->context pushed. */
static void teardown(vg_metrics_http *h)
{
    if (h->accept_source) {
        g_source_destroy(h->accept_source);
        g_source_unref(h->accept_source);
    }
    if (h->tick_source) {
        g_source_destroy(h->tick_source);
        g_source_unref(h->tick_source);
    }
    for (guint i = 0; i < h->conns->len; i++) {
        conn *c = h->conns->pdata[i];
        (void)g_socket_shutdown(c->socket, TRUE, TRUE, NULL);
    }
    if (h->server) {
        soup_server_disconnect(h->server);
        g_object_unref(h->server);
    }
    g_ptr_array_unref(h->conns);
    /* Let what libsoup left on the context run down (bounded). */
    for (int i = 0; i < 100 && g_main_context_iteration(h->context, FALSE); i++)
        ;
    if (h->listener) {
        g_socket_close(h->listener, NULL);
        g_object_unref(h->listener);
    }
}

int vg_metrics_http_new(const char *address, unsigned port, const vg_metrics_http_ops *ops,
                        void *opaque, vg_metrics_http **out, char **error)
{
    vg_metrics_http *h = g_new0(vg_metrics_http, 1);
    g_autoptr(GError) err = NULL;
    int fd, r;

    h->ops = *ops;
    h->opaque = opaque;
    h->conns = g_ptr_array_new_with_free_func(conn_free);
    h->context = g_main_context_new();
    h->loop = g_main_loop_new(h->context, FALSE);
    g_main_context_push_thread_default(h->context);

    fd = vg_net_listen(address, port, &h->port);
    if (fd < 0) {
        r = fd;
        *error = g_strdup_printf("cannot listen on %s port %u: %s", address, port, g_strerror(-r));
        goto fail;
    }
    h->listener = g_socket_new_from_fd(fd, &err);
    if (!h->listener) {
        close(fd);
        r = -EIO;
        *error = g_strdup_printf("cannot listen on %s port %u: %s", address, port, err->message);
        goto fail;
    }
    g_socket_set_blocking(h->listener, FALSE);
    h->server = soup_server_new("server-header", "vmgated", NULL);
    soup_server_add_early_handler(h->server, NULL, early_handler, h, NULL);
    soup_server_add_handler(h->server, NULL, handler, h, NULL);

    h->accept_source = g_socket_create_source(h->listener, G_IO_IN, NULL);
    g_source_set_callback(h->accept_source, G_SOURCE_FUNC(on_accept), h, NULL);
    g_source_attach(h->accept_source, h->context);
    h->tick_source = g_timeout_source_new_seconds(1);
    g_source_set_callback(h->tick_source, on_tick, h, NULL);
    g_source_attach(h->tick_source, h->context);

    g_main_context_pop_thread_default(h->context);
    h->thread = g_thread_try_new("vg-metrics", server_thread, h, &err);
    if (!h->thread) {
        r = -EAGAIN;
        *error = g_strdup_printf("cannot start the metrics thread: %s", err->message);
        g_main_context_push_thread_default(h->context);
        goto fail;
    }
    *out = h;
    return 0;

fail:
    teardown(h);
    g_main_context_pop_thread_default(h->context);
    g_main_loop_unref(h->loop);
    g_main_context_unref(h->context);
    g_free(h);
    return r;
}

unsigned vg_metrics_http_port(vg_metrics_http *h)
{
    return h->port;
}

static gboolean quit_loop(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

void vg_metrics_http_free(vg_metrics_http *h)
{
    GSource *quit;

    if (!h)
        return;
    /* Quit from inside the loop: g_main_loop_quit before it runs would be lost. */
    quit = g_idle_source_new();
    g_source_set_callback(quit, quit_loop, h->loop, NULL);
    g_source_attach(quit, h->context);
    g_source_unref(quit);
    g_thread_join(h->thread);
    g_main_context_push_thread_default(h->context);
    teardown(h);
    g_main_context_pop_thread_default(h->context);
    g_main_loop_unref(h->loop);
    g_main_context_unref(h->context);
    g_free(h);
}
