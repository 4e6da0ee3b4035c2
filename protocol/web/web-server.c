/*
 * vmgate — the web front end's server: the acceptor, the web thread with
 * libsoup's server, the routes, logins (sessions and CSRF) and tickets. See
 * web-server.h for the design and threading; sessions and tickets live on
 * the web thread only.
 *
 * Routes:
 *   GET  /                      → /vms with a session, else /login
 *   GET  /login /vms /console   the pages (the last two need a session)
 *   GET  /static/NAME           the pages' script and style (built in)
 *   GET  /novnc/core/… /novnc/vendor/…   noVNC's modules, from novnc_dir
 *   POST /api/login             user, password → the session cookie
 *   POST /api/logout            ends the session
 *   GET  /api/session           the user and the CSRF token
 *   GET  /api/vms               the VMs the user may reach (JSON)
 *   GET  /api/thumb?vm=NAME     a VM's thumbnail (PNG)
 *   POST /api/ticket            vm → a single-use console ticket
 *   GET  /ws/console            the console's WebSocket
 * Every POST needs an Origin equal to this server's, and (with a session)
 * the session's CSRF token in X-CSRF-Token; the login POST needs
 * X-Requested-With, which no cross-site form can send.
 */
#include "web-server.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "log.h"
#include "util.h"
#include "web-check.h"
#include "web-priv.h"

#define TAG "web"

/* The pages, built in (web-pages.c, made by glib-compile-resources). */
void vg_web_pages_register_resource(void);

#define COOKIE_NAME      "__Host-vmgate"
#define MAX_BODY         8192
#define MAX_SESSIONS     4096
#define MAX_TICKETS      1024
#define TICKETS_PER_USER 8
#define TICKET_TTL_US    (30 * G_USEC_PER_SEC)
#define MAX_STATIC_FILE  (4 * 1024 * 1024)
#define WORKERS          8
#define DEFAULT_NOVNC    "/usr/share/novnc"

#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "        \
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

typedef struct session {
    char token[VG_WEB_TOKEN_LEN + 1];
    char csrf[VG_WEB_TOKEN_LEN + 1];
    char user[65];
    char peer[VG_PEER_NAME_SIZE];
    int64_t created_us, last_us;
} session;

typedef struct ticket {
    char id[VG_WEB_TOKEN_LEN + 1];
    char session[VG_WEB_TOKEN_LEN + 1];
    char user[65];
    char vm[256];
    int64_t expires_us;
} ticket;

struct vg_web_server {
    vg_web_server_ops ops;
    void *opaque;
    char *novnc_dir;
    unsigned login_timeout_ms;
    int64_t lifetime_us, idle_us;

    vg_net_acceptor *acceptor;
    GMutex lock;
    GHashTable *conns; /* peer → vg_web_conn (under lock) */
    bool stopping;     /* under lock */

    vg_web_link *link;
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
    SoupServer *soup; /* web thread */
    GThreadPool *pool;
    GMutex ready_lock;
    GCond ready_cond;
    bool ready;

    /* web thread only */
    GHashTable *sessions; /* token → session */
    GHashTable *tickets;  /* id → ticket */
    GHashTable *consoles; /* web-console.c's */
};

/* ---- link to the web thread ----------------------------------------------- */

vg_web_link *vg_web_link_ref(vg_web_link *l)
{
    g_atomic_int_inc(&l->refs);
    return l;
}

void vg_web_link_unref(vg_web_link *l)
{
    if (l && g_atomic_int_dec_and_test(&l->refs)) {
        g_mutex_clear(&l->lock);
        g_free(l);
    }
}

void vg_web_link_post(vg_web_link *l, GSourceFunc fn, gpointer data, GDestroyNotify free_fn)
{
    g_mutex_lock(&l->lock);
    if (l->ctx) {
        GSource *src = g_idle_source_new();
        g_source_set_callback(src, fn, data, free_fn);
        g_source_attach(src, l->ctx);
        g_source_unref(src);
        data = NULL;
    }
    g_mutex_unlock(&l->lock);
    if (data && free_fn)
        free_fn(data);
}

vg_web_link *vg_web_server_link(vg_web_server *s)
{
    return vg_web_link_ref(s->link);
}

GMainContext *vg_web_server_context(vg_web_server *s)
{
    return s->ctx;
}

GHashTable *vg_web_server_consoles(vg_web_server *s)
{
    return s->consoles;
}

const vg_web_server_ops *vg_web_server_ops_of(vg_web_server *s, void **opaque)
{
    *opaque = s->opaque;
    return &s->ops;
}

SSL_CTX *vg_web_server_ssl_ctx(vg_web_server *s)
{
    return s->ops.get_ssl_ctx(s->opaque);
}

unsigned vg_web_server_login_timeout_ms(vg_web_server *s)
{
    return s->login_timeout_ms;
}

/* ---- jobs on the worker pool ------------------------------------------------ */

typedef struct job {
    vg_web_link *link;
    GFunc fn, done;
    gpointer data;
    GDestroyNotify free_fn;
} job;

static void job_free(gpointer p)
{
    job *j = p;
    if (j->free_fn)
        j->free_fn(j->data);
    vg_web_link_unref(j->link);
    g_free(j);
}

static gboolean job_done(gpointer p)
{
    job *j = p;
    j->done(j->data, NULL);
    return G_SOURCE_REMOVE;
}

static void job_run(gpointer p, gpointer user_data)
{
    job *j = p;
    (void)user_data;
    j->fn(j->data, NULL);
    vg_web_link_post(j->link, job_done, j, job_free);
}

void vg_web_server_run_job(vg_web_server *s, GFunc fn, GFunc done, gpointer data,
                           GDestroyNotify free_fn)
{
    job *j = g_new0(job, 1);
    j->link = vg_web_link_ref(s->link);
    j->fn = fn;
    j->done = done;
    j->data = data;
    j->free_fn = free_fn;
    if (!g_thread_pool_push(s->pool, j, NULL))
        job_free(j);
}

/* ---- connections -------------------------------------------------------------- */

typedef struct handoff {
    vg_web_server *s;
    int fd;
    GSocketAddress *local, *remote; /* the TCP connection's, for libsoup and the handlers */
} handoff;

static void handoff_free(gpointer p)
{
    handoff *h = p;
    if (h->fd >= 0)
        close(h->fd);
    g_clear_object(&h->local);
    g_clear_object(&h->remote);
    g_free(h);
}

/* Web thread: give libsoup the connection in clear. */
static gboolean handoff_accept(gpointer p)
{
    handoff *h = p;
    g_autoptr(GError) err = NULL;
    g_autoptr(GSocket) sock = g_socket_new_from_fd(h->fd, &err);
    g_autoptr(GSocketConnection) gc = NULL;

    if (!sock) {
        vg_warning(TAG, "cannot take a connection: %s", err->message);
        return G_SOURCE_REMOVE;
    }
    h->fd = -1; /* the socket's now */
    gc = g_socket_connection_factory_create_connection(sock);
    if (!h->local || !h->remote) {
        vg_warning(TAG, "cannot name a connection's addresses");
        return G_SOURCE_REMOVE;
    }
    if (!soup_server_accept_iostream(h->s->soup, G_IO_STREAM(gc), h->local, h->remote, &err))
        vg_warning(TAG, "cannot serve a connection: %s", err->message);
    return G_SOURCE_REMOVE;
}

vg_web_conn *vg_web_server_conn_open(vg_web_server *s, int tcp, int soup_fd, const char *peer)
{
    vg_web_conn *c = g_new0(vg_web_conn, 1);
    handoff *h = g_new0(handoff, 1);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    g_strlcpy(c->peer, peer, sizeof(c->peer));
    c->tcp = tcp;
    c->soup_fd = soup_fd;
    g_mutex_lock(&s->lock);
    g_hash_table_replace(s->conns, c->peer, c);
    if (s->stopping)
        shutdown(tcp, SHUT_RDWR);
    g_mutex_unlock(&s->lock);

    h->s = s;
    h->fd = soup_fd;
    if (getpeername(tcp, (struct sockaddr *)&ss, &len) == 0)
        h->remote = g_socket_address_new_from_native(&ss, len);
    len = sizeof(ss);
    if (getsockname(tcp, (struct sockaddr *)&ss, &len) == 0)
        h->local = g_socket_address_new_from_native(&ss, len);
    vg_web_link_post(s->link, handoff_accept, h, handoff_free);
    return c;
}

void vg_web_server_conn_closed(vg_web_server *s, vg_web_conn *c, const char *peer)
{
    bool logged_in = false;

    if (c) {
        g_mutex_lock(&s->lock);
        if (g_hash_table_lookup(s->conns, c->peer) == c)
            g_hash_table_remove(s->conns, c->peer);
        g_mutex_unlock(&s->lock);
        logged_in = g_atomic_int_get(&c->logged_in);
        g_free(c);
    }
    vg_net_acceptor_closed(s->acceptor, logged_in ? NULL : peer, logged_in);
}

/* The "address:port" of the client of @msg, as the acceptor named it. */
static void msg_peer(SoupServerMessage *msg, char out[VG_PEER_NAME_SIZE])
{
    GSocketAddress *a = soup_server_message_get_remote_address(msg);
    struct sockaddr_storage ss;

    g_strlcpy(out, "?", VG_PEER_NAME_SIZE);
    if (a && g_socket_address_to_native(a, &ss, sizeof(ss), NULL))
        vg_net_peer_name(&ss, out, VG_PEER_NAME_SIZE);
}

/* A request on this connection carried a session: it no longer counts as
 * not logged in (caps, deadline). */
static void mark_logged_in(vg_web_server *s, SoupServerMessage *msg)
{
    char peer[VG_PEER_NAME_SIZE];
    vg_web_conn *c;

    msg_peer(msg, peer);
    g_mutex_lock(&s->lock);
    c = g_hash_table_lookup(s->conns, peer);
    if (c && g_atomic_int_compare_and_exchange(&c->logged_in, 0, 1))
        vg_net_acceptor_logged_in(s->acceptor, peer);
    g_mutex_unlock(&s->lock);
}

void vg_web_server_mark_upgraded(vg_web_server *s, SoupServerMessage *msg)
{
    char peer[VG_PEER_NAME_SIZE];
    vg_web_conn *c;

    msg_peer(msg, peer);
    g_mutex_lock(&s->lock);
    c = g_hash_table_lookup(s->conns, peer);
    if (c)
        g_atomic_int_set(&c->upgraded, 1);
    g_mutex_unlock(&s->lock);
}

static void acceptor_serve(void *opaque, int fd, const char *peer)
{
    vg_web_tls_serve(opaque, fd, peer);
}

/* ---- tokens, sessions, tickets (web thread) ------------------------------------- */

static bool new_token(char out[VG_WEB_TOKEN_LEN + 1])
{
    uint8_t raw[VG_WEB_TOKEN_BYTES];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return false;
    for (int i = 0; i < VG_WEB_TOKEN_BYTES; i++)
        g_snprintf(out + 2 * i, 3, "%02x", raw[i]);
    OPENSSL_cleanse(raw, sizeof(raw));
    return true;
}

static bool session_expired(vg_web_server *s, const session *se, int64_t now)
{
    return now - se->created_us > s->lifetime_us || now - se->last_us > s->idle_us;
}

static void end_session(vg_web_server *s, session *se, const char *why)
{
    GHashTableIter it;
    gpointer v;

    if (s->ops.logout)
        s->ops.logout(s->opaque, se->user, se->peer, why);
    g_hash_table_iter_init(&it, s->tickets);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (strcmp(((ticket *)v)->session, se->token) == 0)
            g_hash_table_iter_remove(&it);
    g_hash_table_remove(s->sessions, se->token);
}

static void expire_all(vg_web_server *s)
{
    int64_t now = vg_now_us();
    GHashTableIter it;
    gpointer v;
    g_autoptr(GPtrArray) old = g_ptr_array_new();

    g_hash_table_iter_init(&it, s->sessions);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (session_expired(s, v, now))
            g_ptr_array_add(old, v);
    for (guint i = 0; i < old->len; i++)
        end_session(s, old->pdata[i], "expired");
    g_hash_table_iter_init(&it, s->tickets);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (((ticket *)v)->expires_us <= now)
            g_hash_table_iter_remove(&it);
}

static gboolean expire_tick(gpointer p)
{
    expire_all(p);
    return G_SOURCE_CONTINUE;
}

/* The session cookie's value in @msg's request, or NULL. */
static char *request_cookie(SoupServerMessage *msg)
{
    return vg_web_cookie_value(
        soup_message_headers_get_list(soup_server_message_get_request_headers(msg), "Cookie"),
        COOKIE_NAME);
}

/* The live session @msg carries (its use recorded), or NULL. */
static session *request_session(vg_web_server *s, SoupServerMessage *msg)
{
    g_autofree char *token = request_cookie(msg);
    session *se;
    int64_t now = vg_now_us();

    if (!vg_web_token_ok(token))
        return NULL;
    se = g_hash_table_lookup(s->sessions, token);
    if (!se)
        return NULL;
    if (session_expired(s, se, now)) {
        end_session(s, se, "expired");
        return NULL;
    }
    if (!s->ops.user_ok(s->opaque, se->user)) {
        end_session(s, se, "account disabled or deleted");
        return NULL;
    }
    se->last_us = now;
    mark_logged_in(s, msg);
    return se;
}

int vg_web_server_take_ticket(vg_web_server *s, const char *id, const char *session_token,
                              char user[65], char vm[256])
{
    ticket *t;
    int r = -1;

    if (!vg_web_token_ok(id))
        return -1;
    t = g_hash_table_lookup(s->tickets, id);
    if (!t)
        return -1;
    /* Used once whatever the outcome: a ticket shown to the wrong session is burnt. */
    if (t->expires_us > vg_now_us() && session_token &&
        CRYPTO_memcmp(t->session, session_token, sizeof(t->session)) == 0 &&
        g_hash_table_contains(s->sessions, session_token)) {
        g_strlcpy(user, t->user, 65);
        g_strlcpy(vm, t->vm, 256);
        r = 0;
    }
    g_hash_table_remove(s->tickets, id);
    return r;
}

/* ---- responses ------------------------------------------------------------------ */

static void security_headers(SoupServerMessage *msg)
{
    SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
    soup_message_headers_replace(h, "Content-Security-Policy", CSP);
    soup_message_headers_replace(h, "X-Content-Type-Options", "nosniff");
    soup_message_headers_replace(h, "Referrer-Policy", "no-referrer");
    soup_message_headers_replace(h, "X-Frame-Options", "DENY");
    soup_message_headers_replace(h, "Strict-Transport-Security", "max-age=31536000");
    soup_message_headers_replace(h, "Cross-Origin-Opener-Policy", "same-origin");
    if (!soup_message_headers_get_one(h, "Cache-Control"))
        soup_message_headers_replace(h, "Cache-Control", "no-store");
}

static void respond(SoupServerMessage *msg, guint status, const char *type, const void *body,
                    size_t len)
{
    soup_server_message_set_status(msg, status, NULL);
    if (type)
        soup_server_message_set_response(msg, type, SOUP_MEMORY_COPY, body, len);
    security_headers(msg);
}

static void respond_text(SoupServerMessage *msg, guint status, const char *text)
{
    respond(msg, status, "text/plain; charset=utf-8", text, strlen(text));
}

static void respond_json(SoupServerMessage *msg, guint status, JsonBuilder *b)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    gsize len = 0;
    g_autofree char *text = NULL;

    json_generator_set_root(gen, root);
    text = json_generator_to_data(gen, &len);
    respond(msg, status, "application/json", text, len);
}

static void respond_error(SoupServerMessage *msg, guint status, const char *message)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "error");
    json_builder_add_string_value(b, message);
    json_builder_end_object(b);
    respond_json(msg, status, b);
}

static void redirect(SoupServerMessage *msg, const char *to)
{
    soup_server_message_set_redirect(msg, SOUP_STATUS_SEE_OTHER, to);
    security_headers(msg);
}

static void serve_resource(SoupServerMessage *msg, const char *name)
{
    g_autofree char *path = g_strconcat("/vmgate/web/", name, NULL);
    g_autoptr(GBytes) data = g_resources_lookup_data(path, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
    const char *type = g_str_has_suffix(name, ".html")  ? "text/html; charset=utf-8"
                       : g_str_has_suffix(name, ".js")  ? "text/javascript; charset=utf-8"
                       : g_str_has_suffix(name, ".css") ? "text/css; charset=utf-8"
                                                        : NULL;
    gsize len = 0;
    const void *bytes;

    if (!data || !type) {
        respond_text(msg, SOUP_STATUS_NOT_FOUND, "not found");
        return;
    }
    bytes = g_bytes_get_data(data, &len);
    respond(msg, SOUP_STATUS_OK, type, bytes, len);
}

/* /novnc/core/… and /novnc/vendor/…: JavaScript modules from noVNC's
 * package, names of plain characters only, no "..". */
static void serve_novnc(vg_web_server *s, SoupServerMessage *msg, const char *path)
{
    const char *rel = path + strlen("/novnc/");
    g_autofree char *file = NULL, *data = NULL;
    gsize len = 0;

    if (!vg_web_novnc_path_ok(rel)) {
        respond_text(msg, SOUP_STATUS_NOT_FOUND, "not found");
        return;
    }
    file = g_build_filename(s->novnc_dir, rel, NULL);
    if (!g_file_get_contents(file, &data, &len, NULL) || len > MAX_STATIC_FILE) {
        respond_text(msg, SOUP_STATUS_NOT_FOUND, "not found");
        return;
    }
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Cache-Control",
                                 "private, max-age=3600");
    respond(msg, SOUP_STATUS_OK, "text/javascript; charset=utf-8", data, len);
}

/* ---- request checks ------------------------------------------------------------- */

/* The Origin a page of this server sends: https:// and the Host header. */
static bool same_origin(SoupServerMessage *msg)
{
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    return vg_web_same_origin(soup_message_headers_get_one(h, "Origin"),
                              soup_message_headers_get_one(h, "Host"));
}

static bool csrf_ok(SoupServerMessage *msg, const session *se)
{
    const char *t =
        soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "X-CSRF-Token");
    return t && strlen(t) == strlen(se->csrf) && CRYPTO_memcmp(t, se->csrf, strlen(se->csrf)) == 0;
}

/* Field @key of the urlencoded form in @msg's body (bounded by the early
 * handler), at most @max bytes of UTF-8, or NULL. */
static char *request_field(SoupServerMessage *msg, const char *key, size_t max)
{
    g_autoptr(GBytes) bytes = soup_message_body_flatten(soup_server_message_get_request_body(msg));
    gsize len = 0;
    const char *data = g_bytes_get_data(bytes, &len);

    return vg_web_form_field(data, len, key, max);
}

/* ---- handlers ------------------------------------------------------------------- */

typedef struct login_job {
    vg_web_server *s;
    SoupServerMessage *msg;
    char *user, *password;
    char peer[VG_PEER_NAME_SIZE];
    int result;
    char reason[160];
} login_job;

static void login_job_free(gpointer p)
{
    login_job *j = p;
    if (j->password) {
        OPENSSL_cleanse(j->password, strlen(j->password));
        g_free(j->password);
    }
    g_free(j->user);
    g_object_unref(j->msg);
    g_free(j);
}

static void login_job_run(gpointer p, gpointer unused)
{
    login_job *j = p;
    (void)unused;
    j->result = j->s->ops.authenticate(j->s->opaque, j->user, j->password, j->peer, j->reason,
                                       sizeof(j->reason));
}

static void login_job_done(gpointer p, gpointer unused)
{
    login_job *j = p;
    vg_web_server *s = j->s;
    (void)unused;

    if (j->result < 0) {
        respond_error(j->msg, SOUP_STATUS_UNAUTHORIZED, j->reason);
    } else if (g_hash_table_size(s->sessions) >= MAX_SESSIONS) {
        respond_error(j->msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
                      "Too many sessions are open; try again later");
    } else {
        session *se = g_new0(session, 1);
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autofree char *cookie = NULL;

        if (!new_token(se->token) || !new_token(se->csrf)) {
            g_free(se);
            respond_error(j->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "Internal error");
            soup_server_message_unpause(j->msg);
            return;
        }
        g_strlcpy(se->user, j->user, sizeof(se->user));
        g_strlcpy(se->peer, j->peer, sizeof(se->peer));
        se->created_us = se->last_us = vg_now_us();
        g_hash_table_replace(s->sessions, se->token, se);
        /* __Host-: Secure, this host only, Path=/. The value is random and
         * means something only to this gateway's memory. */
        cookie = g_strdup_printf("%s=%s; Path=/; Max-Age=%" G_GINT64_FORMAT
                                 "; Secure; HttpOnly; SameSite=Strict",
                                 COOKIE_NAME, se->token, s->lifetime_us / G_USEC_PER_SEC);
        soup_message_headers_append(soup_server_message_get_response_headers(j->msg), "Set-Cookie",
                                    cookie);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "user");
        json_builder_add_string_value(b, se->user);
        json_builder_set_member_name(b, "csrf");
        json_builder_add_string_value(b, se->csrf);
        json_builder_end_object(b);
        respond_json(j->msg, SOUP_STATUS_OK, b);
        mark_logged_in(s, j->msg);
    }
    soup_server_message_unpause(j->msg);
}

static void handle_login(vg_web_server *s, SoupServerMessage *msg)
{
    char *user, *password;
    login_job *j;

    if (!soup_message_headers_get_one(soup_server_message_get_request_headers(msg),
                                      "X-Requested-With")) {
        respond_error(msg, SOUP_STATUS_FORBIDDEN, "Refused: not sent by the login page");
        return;
    }
    user = request_field(msg, "user", 64);
    password = request_field(msg, "password", 1024);
    if (!user || !password || !*user) {
        if (password)
            OPENSSL_cleanse(password, strlen(password));
        g_free(password);
        g_free(user);
        respond_error(msg, SOUP_STATUS_BAD_REQUEST, "Give a user name and a password");
        return;
    }
    j = g_new0(login_job, 1);
    j->s = s;
    j->msg = g_object_ref(msg);
    j->user = user;
    j->password = password;
    msg_peer(msg, j->peer);
    soup_server_message_pause(msg);
    vg_web_server_run_job(s, login_job_run, login_job_done, j, login_job_free);
}

typedef struct vms_job {
    vg_web_server *s;
    SoupServerMessage *msg;
    char user[65];
    char vm[256]; /* thumbnails */
    int result;
    GArray *vms;
    uint8_t *png;
    size_t png_len;
} vms_job;

static void vms_job_free(gpointer p)
{
    vms_job *j = p;
    if (j->vms)
        g_array_unref(j->vms);
    g_free(j->png);
    g_object_unref(j->msg);
    g_free(j);
}

static void vms_job_run(gpointer p, gpointer unused)
{
    vms_job *j = p;
    (void)unused;
    if (j->vm[0])
        j->result = j->s->ops.thumbnail(j->s->opaque, j->user, j->vm, &j->png, &j->png_len);
    else
        j->result = j->s->ops.list_vms(j->s->opaque, j->user, &j->vms);
}

static void vms_job_done(gpointer p, gpointer unused)
{
    vms_job *j = p;
    (void)unused;

    if (j->vm[0]) {
        if (j->result == 0)
            respond(j->msg, SOUP_STATUS_OK, "image/png", j->png, j->png_len);
        else if (j->result == -ENOENT)
            respond_text(j->msg, SOUP_STATUS_NOT_FOUND, "no such VM for you");
        else
            respond_text(j->msg, SOUP_STATUS_NO_CONTENT, "");
    } else if (j->result < 0) {
        respond_error(j->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR,
                      "The gateway cannot read its policy right now");
    } else {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_array(b);
        for (guint i = 0; i < j->vms->len; i++) {
            vg_web_vm *vm = &g_array_index(j->vms, vg_web_vm, i);
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "name");
            json_builder_add_string_value(b, vm->name);
            json_builder_set_member_name(b, "role");
            json_builder_add_string_value(b, vm->role);
            json_builder_set_member_name(b, "state");
            json_builder_add_string_value(b, vm->state);
            json_builder_set_member_name(b, "pool");
            json_builder_add_string_value(b, vm->pool);
            json_builder_set_member_name(b, "taken");
            json_builder_add_boolean_value(b, vm->taken);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        respond_json(j->msg, SOUP_STATUS_OK, b);
    }
    soup_server_message_unpause(j->msg);
}

static void start_vms_job(vg_web_server *s, SoupServerMessage *msg, const session *se,
                          const char *vm)
{
    vms_job *j = g_new0(vms_job, 1);
    j->s = s;
    j->msg = g_object_ref(msg);
    g_strlcpy(j->user, se->user, sizeof(j->user));
    if (vm)
        g_strlcpy(j->vm, vm, sizeof(j->vm));
    soup_server_message_pause(msg);
    vg_web_server_run_job(s, vms_job_run, vms_job_done, j, vms_job_free);
}

static void handle_ticket(vg_web_server *s, SoupServerMessage *msg, session *se)
{
    g_autofree char *vm = request_field(msg, "vm", 255);
    g_autoptr(JsonBuilder) b = NULL;
    GHashTableIter it;
    gpointer v;
    unsigned mine = 0;
    ticket *t;

    if (!vm || !*vm) {
        respond_error(msg, SOUP_STATUS_BAD_REQUEST, "Name a VM");
        return;
    }
    expire_all(s);
    g_hash_table_iter_init(&it, s->tickets);
    while (g_hash_table_iter_next(&it, NULL, &v))
        mine += strcmp(((ticket *)v)->session, se->token) == 0;
    if (mine >= TICKETS_PER_USER || g_hash_table_size(s->tickets) >= MAX_TICKETS) {
        respond_error(msg, 429 /* Too Many Requests */, "Too many consoles are opening");
        return;
    }
    t = g_new0(ticket, 1);
    if (!new_token(t->id)) {
        g_free(t);
        respond_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "Internal error");
        return;
    }
    g_strlcpy(t->session, se->token, sizeof(t->session));
    g_strlcpy(t->user, se->user, sizeof(t->user));
    g_strlcpy(t->vm, vm, sizeof(t->vm));
    t->expires_us = vg_now_us() + TICKET_TTL_US;
    g_hash_table_replace(s->tickets, t->id, t);
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "ticket");
    json_builder_add_string_value(b, t->id);
    json_builder_end_object(b);
    respond_json(msg, SOUP_STATUS_OK, b);
}

static void handle_logout(vg_web_server *s, SoupServerMessage *msg, session *se)
{
    g_autofree char *cookie =
        g_strdup_printf("%s=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict", COOKIE_NAME);
    end_session(s, se, "logout");
    soup_message_headers_append(soup_server_message_get_response_headers(msg), "Set-Cookie",
                                cookie);
    respond_text(msg, SOUP_STATUS_OK, "logged out");
}

static void handle_session(SoupServerMessage *msg, const session *se)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "user");
    json_builder_add_string_value(b, se->user);
    json_builder_set_member_name(b, "csrf");
    json_builder_add_string_value(b, se->csrf);
    json_builder_end_object(b);
    respond_json(msg, SOUP_STATUS_OK, b);
}

static void handle(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                   gpointer data)
{
    vg_web_server *s = data;
    const char *method = soup_server_message_get_method(msg);
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    /* Any request with a live session makes its connection a logged-in one
     * (the page's modules and pictures come on several). */
    session *se = request_session(s, msg);
    (void)server;

    if (get && strcmp(path, "/login") == 0) {
        serve_resource(msg, "login.html");
        return;
    }
    if (get && g_str_has_prefix(path, "/static/")) {
        const char *name = path + strlen("/static/");
        if (strchr(name, '/') ||
            (!g_str_has_suffix(name, ".js") && !g_str_has_suffix(name, ".css")))
            respond_text(msg, SOUP_STATUS_NOT_FOUND, "not found");
        else
            serve_resource(msg, name);
        return;
    }
    if (get && g_str_has_prefix(path, "/novnc/")) {
        serve_novnc(s, msg, path);
        return;
    }
    if (post && strcmp(path, "/api/login") == 0) {
        if (!same_origin(msg))
            respond_error(msg, SOUP_STATUS_FORBIDDEN, "Refused: cross-site request");
        else
            handle_login(s, msg);
        return;
    }
    if (get &&
        (strcmp(path, "/") == 0 || strcmp(path, "/vms") == 0 || strcmp(path, "/console") == 0)) {
        if (!se)
            redirect(msg, "/login");
        else if (strcmp(path, "/") == 0)
            redirect(msg, "/vms");
        else
            serve_resource(msg, strcmp(path, "/vms") == 0 ? "vms.html" : "console.html");
        return;
    }
    if (!g_str_has_prefix(path, "/api/")) {
        respond_text(msg, SOUP_STATUS_NOT_FOUND, "not found");
        return;
    }
    if (!se) {
        respond_error(msg, SOUP_STATUS_UNAUTHORIZED, "Log in first");
        return;
    }
    if (post && !(same_origin(msg) && csrf_ok(msg, se))) {
        respond_error(msg, SOUP_STATUS_FORBIDDEN, "Refused: cross-site request");
        return;
    }
    if (get && strcmp(path, "/api/session") == 0)
        handle_session(msg, se);
    else if (get && strcmp(path, "/api/vms") == 0)
        start_vms_job(s, msg, se, NULL);
    else if (get && strcmp(path, "/api/thumb") == 0) {
        const char *vm = query ? g_hash_table_lookup(query, "vm") : NULL;
        if (!vm || !*vm || strlen(vm) > 255)
            respond_text(msg, SOUP_STATUS_BAD_REQUEST, "name a VM");
        else
            start_vms_job(s, msg, se, vm);
    } else if (post && strcmp(path, "/api/ticket") == 0)
        handle_ticket(s, msg, se);
    else if (post && strcmp(path, "/api/logout") == 0)
        handle_logout(s, msg, se);
    else
        respond_text(msg, SOUP_STATUS_NOT_FOUND, "not found");
}

/* Refuse a request with a body at once and end its connection. libsoup
 * would read a refused request's body to the end before answering (to
 * keep the connection in step), so the connection is taken from it and
 * this one fixed answer written by hand. */
static void refuse_body(SoupServerMessage *msg, const char *status_line)
{
    GIOStream *io = soup_server_message_steal_connection(msg);
    g_autofree char *reply = g_strdup_printf(
        "HTTP/1.1 %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", status_line);

    if (!io)
        return;
    /* A few bytes into an empty socket: never blocks in practice; the
     * relay sends them and closes. */
    (void)g_output_stream_write_all(g_io_stream_get_output_stream(io), reply, strlen(reply), NULL,
                                    NULL, NULL);
    g_io_stream_close(io, NULL, NULL);
    g_object_unref(io);
}

/* After the headers, before any body: refuse what no page of ours sends,
 * so that libsoup never reads a body it would have to hold. */
static void early(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                  gpointer data)
{
    vg_web_server *s = data;
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    const char *method = soup_server_message_get_method(msg);
    goffset len = soup_message_headers_get_content_length(h);
    SoupEncoding enc = soup_message_headers_get_encoding(h);
    (void)server;
    (void)query;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 && strcmp(method, "POST") != 0) {
        respond_text(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method not allowed");
        return;
    }
    if (strchr(soup_message_headers_get_list(h, "Content-Length") ?: "", ',')) {
        /* Two lengths: which one a proxy in front believed is anyone's guess. */
        refuse_body(msg, "400 Bad Request");
    } else if (strcmp(method, "POST") == 0) {
        if (enc != SOUP_ENCODING_CONTENT_LENGTH)
            refuse_body(msg, "411 Length Required");
        else if (len > MAX_BODY)
            refuse_body(msg, "413 Content Too Large");
    } else if (enc != SOUP_ENCODING_NONE && !(enc == SOUP_ENCODING_CONTENT_LENGTH && len == 0)) {
        refuse_body(msg, "400 Bad Request");
    }
    (void)path;
    (void)s;
}

/* /ws/console, before libsoup's WebSocket handshake: only this site's page,
 * with a session; a status set here refuses the handshake. */
static void handle_ws_check(SoupServer *server, SoupServerMessage *msg, const char *path,
                            GHashTable *query, gpointer data)
{
    vg_web_server *s = data;
    (void)server;
    (void)path;
    (void)query;

    if (!same_origin(msg) || !request_session(s, msg))
        respond_text(msg, SOUP_STATUS_FORBIDDEN, "refused");
}

static void on_websocket(SoupServer *server, SoupServerMessage *msg, const char *path,
                         SoupWebsocketConnection *ws, gpointer data)
{
    vg_web_server *s = data;
    g_autofree char *token = request_cookie(msg);
    char peer[VG_PEER_NAME_SIZE];
    (void)server;
    (void)path;

    msg_peer(msg, peer);
    vg_web_server_mark_upgraded(s, msg);
    vg_web_console_start(s, ws, msg, token, peer);
}

/* ---- the web thread ------------------------------------------------------------- */

static gpointer web_main(gpointer data)
{
    vg_web_server *s = data;
    GSource *tick;

    g_main_context_push_thread_default(s->ctx);
    s->soup = soup_server_new("server-header", "vmgate", NULL);
    soup_server_add_early_handler(s->soup, NULL, early, s, NULL);
    soup_server_add_handler(s->soup, NULL, handle, s, NULL);
    /* Handlers are looked up by path: /ws/console has its own entry. */
    soup_server_add_early_handler(s->soup, "/ws/console", early, s, NULL);
    soup_server_add_handler(s->soup, "/ws/console", handle_ws_check, s, NULL);
    soup_server_add_websocket_handler(s->soup, "/ws/console", NULL, NULL, on_websocket, s, NULL);
    tick = g_timeout_source_new_seconds(30);
    g_source_set_callback(tick, expire_tick, s, NULL);
    g_source_attach(tick, s->ctx);

    g_mutex_lock(&s->ready_lock);
    s->ready = true;
    g_cond_signal(&s->ready_cond);
    g_mutex_unlock(&s->ready_lock);

    g_main_loop_run(s->loop);

    g_source_destroy(tick);
    g_source_unref(tick);
    vg_web_console_close_all(s);
    soup_server_disconnect(s->soup);
    g_clear_object(&s->soup);
    g_mutex_lock(&s->link->lock);
    s->link->ctx = NULL; /* nothing is posted here any more */
    g_mutex_unlock(&s->link->lock);
    /* What is still pending on the context (connections handed over, jobs'
     * answers) is let go here, on the thread that owns it. */
    while (g_main_context_iteration(s->ctx, FALSE))
        ;
    g_main_context_pop_thread_default(s->ctx);
    return NULL;
}

static gboolean quit_loop(gpointer p)
{
    g_main_loop_quit(p);
    return G_SOURCE_REMOVE;
}

int vg_web_server_new(const vg_web_server_config *cfg, const vg_web_server_ops *ops, void *opaque,
                      vg_web_server **out)
{
    static const vg_net_acceptor_ops aops = {.serve = acceptor_serve};
    vg_web_server *s = g_new0(vg_web_server, 1);
    vg_net_acceptor_config ac = {
        .address = cfg->address,
        .port = cfg->port,
        /* Twice the other ports' caps: a browser opens
         * several connections where a client opens one. */
        .max_unauth = 128,
        /* A browser opens up to six connections to a site at
         * once, before it has a session too. */
        .max_unauth_per_source = 2 * (cfg->max_unauth_per_source ? cfg->max_unauth_per_source : 4),
        .max_total = 512,
        .fd_limit = 65536,
        .tag = TAG};
    int r;

    static gsize pages_registered;
    if (g_once_init_enter(&pages_registered)) {
        vg_web_pages_register_resource();
        g_once_init_leave(&pages_registered, 1);
    }
    s->ops = *ops;
    s->opaque = opaque;
    s->novnc_dir = g_strdup(cfg->novnc_dir ? cfg->novnc_dir : DEFAULT_NOVNC);
    s->login_timeout_ms = cfg->login_timeout_ms ? cfg->login_timeout_ms : 10000;
    ac.login_timeout_ms = s->login_timeout_ms;
    s->lifetime_us =
        (int64_t)(cfg->session_lifetime_s ? cfg->session_lifetime_s : 8 * 3600) * G_USEC_PER_SEC;
    s->idle_us = (int64_t)(cfg->session_idle_s ? cfg->session_idle_s : 1800) * G_USEC_PER_SEC;
    g_mutex_init(&s->lock);
    s->conns = g_hash_table_new(g_str_hash, g_str_equal);
    s->sessions = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    s->tickets = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    s->consoles = g_hash_table_new(g_direct_hash, g_direct_equal);
    s->ctx = g_main_context_new();
    s->loop = g_main_loop_new(s->ctx, FALSE);
    s->link = g_new0(vg_web_link, 1);
    s->link->refs = 1;
    g_mutex_init(&s->link->lock);
    s->link->ctx = s->ctx;
    s->pool = g_thread_pool_new(job_run, NULL, WORKERS, FALSE, NULL);
    g_mutex_init(&s->ready_lock);
    g_cond_init(&s->ready_cond);
    s->thread = g_thread_new("web", web_main, s);
    g_mutex_lock(&s->ready_lock);
    while (!s->ready)
        g_cond_wait(&s->ready_cond, &s->ready_lock);
    g_mutex_unlock(&s->ready_lock);

    r = vg_net_acceptor_new(&ac, &aops, s, &s->acceptor);
    if (r < 0) {
        vg_web_server_free(s);
        return r;
    }
    *out = s;
    return 0;
}

unsigned vg_web_server_port(vg_web_server *s)
{
    return vg_net_acceptor_port(s->acceptor);
}

void vg_web_server_free(vg_web_server *s)
{
    GHashTableIter it;
    gpointer v;

    if (!s)
        return;
    if (s->acceptor)
        vg_net_acceptor_stop(s->acceptor);
    /* Every connection's relay ends. */
    g_mutex_lock(&s->lock);
    s->stopping = true;
    g_hash_table_iter_init(&it, s->conns);
    while (g_hash_table_iter_next(&it, NULL, &v))
        shutdown(((vg_web_conn *)v)->tcp, SHUT_RDWR);
    g_mutex_unlock(&s->lock);
    if (s->acceptor)
        vg_net_acceptor_wait(s->acceptor, true);
    /* Jobs finish (a console login may wait for its VM), then the web
     * thread closes what is open and ends. */
    g_thread_pool_free(s->pool, FALSE, TRUE);
    vg_web_link_post(s->link, quit_loop, s->loop, NULL);
    g_thread_join(s->thread);
    vg_web_link_unref(s->link);
    vg_net_acceptor_free(s->acceptor);
    g_main_loop_unref(s->loop);
    g_main_context_unref(s->ctx);
    g_hash_table_unref(s->sessions);
    g_hash_table_unref(s->tickets);
    g_hash_table_unref(s->consoles);
    g_hash_table_unref(s->conns);
    g_mutex_clear(&s->lock);
    g_mutex_clear(&s->ready_lock);
    g_cond_clear(&s->ready_cond);
    g_free(s->novnc_dir);
    g_free(s);
}
