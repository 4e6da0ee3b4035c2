/*
 * vmgate — the metrics listener: plain HTTP for Prometheus and health
 * checks, meant for loopback or a management network (no TLS, no login).
 *
 *   GET /metrics  the text exposition format (ops->collect writes it)
 *   GET /healthz  200 "ok": the process is alive and its listener answers
 *   GET /readyz   200 "ready", or 503 naming each check that failed
 *                 (ops->ready writes one line per check)
 *
 * HEAD is answered like GET without a body; every other method is 405, every
 * other path 404, a request with a body 413, each before any body is read.
 * At most VG_METRICS_HTTP_MAX_CONNS connections at once (the next gets a 503
 * in one non-blocking write and is closed at once), and a connection is cut off
 * VG_METRICS_HTTP_CONN_SECONDS after it was accepted whatever it is doing, so a local client that
 * trickles or holds connections costs a bounded amount and never holds the daemon.
 *
 * Threading: the server runs on a thread of its own with a GMainContext of
 * its own (never GLib's default context, which libvirt's event thread
 * iterates; nor vmgated's). The ops run on that thread, one request at a
 * time; they must be thread-safe with respect to the rest of the daemon
 * and must not block for long. vg_metrics_http_new and vg_metrics_http_free
 * are called from one owner thread.
 */
#ifndef VG_METRICS_HTTP_H
#define VG_METRICS_HTTP_H

#include <stdbool.h>

#include <glib.h>

/** Connections served at once; one more is answered 503 and closed on accept. */
#define VG_METRICS_HTTP_MAX_CONNS 16
/** Lifetime of a connection, in seconds, from accept (the read deadline included). */
#define VG_METRICS_HTTP_CONN_SECONDS 10

typedef struct vg_metrics_http vg_metrics_http;

typedef struct vg_metrics_http_ops {
    /** Append the whole /metrics page to @out. */
    void (*collect)(void *opaque, GString *out);
    /** Append one line per readiness check ("name: ok" or "name: why") to
     * @out. @return whether every check passed. */
    bool (*ready)(void *opaque, GString *out);
} vg_metrics_http_ops;

/**
 * Listen on @address (an IP literal) and @port (0: any free port) and start
 * serving.
 * @return 0 and *out; or a negative errno with *error set (g_free it).
 */
int vg_metrics_http_new(const char *address, unsigned port, const vg_metrics_http_ops *ops,
                        void *opaque, vg_metrics_http **out, char **error);

/** The port actually bound. */
unsigned vg_metrics_http_port(vg_metrics_http *h);

/** Stop serving (every connection is closed, the thread joined) and free. NULL is fine. */
void vg_metrics_http_free(vg_metrics_http *h);

#endif /* VG_METRICS_HTTP_H */
