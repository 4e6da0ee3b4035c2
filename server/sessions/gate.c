/*
 * vmgate — the gate: login → viewer → one end, for every front end. See
 * gate.h.
 */
#include "gate.h"

#include <string.h>

#include <glib.h>

#include "log.h"

struct vg_gate {
    vg_broker *broker;
    vg_sessions *sessions;
    vg_audit *audit;
};

struct vg_gate_viewer {
    vg_gate *gate;
    vg_broker_result res; /* user, vm, role, and a reference to the console shown */
    char protocol[8];
    char peer[80];
    char id[24];
    bool admitted;
    vg_viewer *input;
    const vg_gate_viewer_ops *ops;
    void *opaque;
    /* The session's reason when it ended the viewer (kick, takeover,
     * revocation): written by the kick's thread before ops->end, read after
     * vg_sessions_leave, which waits for a running kick. */
    GMutex lock;
    char kick_reason[160];
};

vg_gate *vg_gate_new(vg_broker *broker, vg_sessions *sessions, vg_audit *audit)
{
    vg_gate *g = g_new0(vg_gate, 1);
    g->broker = broker;
    g->sessions = sessions;
    g->audit = audit;
    return g;
}

void vg_gate_free(vg_gate *g)
{
    g_free(g);
}

vg_broker *vg_gate_broker(vg_gate *g)
{
    return g->broker;
}

vg_gate_viewer *vg_gate_viewer_new(vg_gate *g, const char *protocol, const char *peer,
                                   const vg_broker_result *res)
{
    vg_gate_viewer *v = g_new0(vg_gate_viewer, 1);

    v->gate = g;
    v->res = *res;
    g_strlcpy(v->protocol, protocol, sizeof(v->protocol));
    g_strlcpy(v->peer, peer, sizeof(v->peer));
    g_mutex_init(&v->lock);
    return v;
}

int vg_gate_login(vg_gate *g, const vg_gate_login_params *l, vg_gate_viewer **out, char *reason,
                  size_t reason_len)
{
    vg_broker_result res;

    memset(&res, 0, sizeof(res));
    if (l->password)
        vg_broker_login(g->broker, l->user, l->password, l->peer, l->requested, l->timeout_s, &res);
    else
        vg_broker_login_verified(g->broker, l->user, l->peer, l->method ? l->method : "nla",
                                 l->requested, l->timeout_s, &res);
    if (res.status == VG_BROKER_ELSEWHERE && l->redirect) {
        vg_gate_redirect *rd = l->redirect;
        if (vg_broker_grant_issue(g->broker, &res, l->peer, l->protocol, rd->grant_id,
                                  rd->grant_secret) < 0) {
            g_strlcpy(reason, "The gateway cannot hand you over to your VM's gateway right now",
                      reason_len);
            return -1;
        }
        rd->to = res.elsewhere;
        g_strlcpy(rd->vm, res.vm, sizeof(rd->vm));
        g_strlcpy(rd->user, res.user, sizeof(rd->user));
        return 1;
    }
    if (res.status == VG_BROKER_ELSEWHERE) {
        /* This front end cannot send the client there: say where to go. */
        unsigned port = strcmp(l->protocol, "rdp") == 0   ? res.elsewhere.rdp_port
                        : strcmp(l->protocol, "web") == 0 ? res.elsewhere.web_port
                                                          : res.elsewhere.vnc_port;
        g_snprintf(reason, reason_len, "Your VM is on gateway %s: connect to %s port %u",
                   res.elsewhere.instance, res.elsewhere.address, port);
        return -1;
    }
    if (res.status != VG_BROKER_OK) {
        g_strlcpy(reason, res.message, reason_len);
        return -1;
    }
    *out = vg_gate_viewer_new(g, l->protocol, l->peer, &res);
    return 0;
}

vg_display_source *vg_gate_viewer_source(vg_gate_viewer *v)
{
    return vg_console_source(v->res.console);
}

const char *vg_gate_viewer_user(vg_gate_viewer *v)
{
    return v->res.user;
}

const char *vg_gate_viewer_vm(vg_gate_viewer *v)
{
    return v->res.vm;
}

const char *vg_gate_viewer_id(vg_gate_viewer *v)
{
    return v->id;
}

/* The session ends the viewer: remember why, then have the front end end
 * the connection. */
static void viewer_kick(void *opaque, const char *reason)
{
    vg_gate_viewer *v = opaque;

    vg_notice(v->protocol, "peer=%s user=%s vm=%s: ended: %s", v->peer, v->res.user, v->res.vm,
              reason);
    g_mutex_lock(&v->lock);
    if (!v->kick_reason[0])
        g_strlcpy(v->kick_reason, reason, sizeof(v->kick_reason));
    g_mutex_unlock(&v->lock);
    v->ops->end(v->opaque, reason);
}

static const vg_viewer_ops kick_ops = {.kick = viewer_kick};

/* Asked at each input event: a role changed since joining applies to the
 * next event. */
static bool viewer_may_input(void *opaque)
{
    vg_gate_viewer *v = opaque;
    return vg_sessions_may_input(v->gate->sessions, v->id);
}

vg_viewer *vg_gate_viewer_admit(vg_gate_viewer *v, const vg_gate_viewer_ops *ops, void *opaque)
{
    int r;

    v->ops = ops;
    v->opaque = opaque;
    r = vg_broker_admit(v->gate->broker, &v->res, v->protocol, v->peer, &kick_ops, v, v->id);
    if (r < 0) {
        vg_warning(v->protocol, "peer=%s user=%s vm=%s: cannot join the session: %s", v->peer,
                   v->res.user, v->res.vm, g_strerror(-r));
        return NULL;
    }
    v->admitted = true;
    v->input = vg_viewer_new(vg_console_source(v->res.console), viewer_may_input, v);
    vg_notice(v->protocol, "peer=%s user=%s vm=%s: viewer %s attached as %s", v->peer, v->res.user,
              v->res.vm, v->id, vg_role_name(v->res.role));
    return v->input;
}

void vg_gate_viewer_ended(vg_gate_viewer *v, const char *reason)
{
    vg_gate *g;

    if (!v)
        return;
    g = v->gate;
    /* Whatever ended it: keys and buttons it still held are let go while
     * the console is still there. */
    vg_viewer_free(v->input);
    if (v->admitted) {
        /* Waits for a kick that is running; no kick comes after it. */
        vg_sessions_leave(g->sessions, v->id);
        g_mutex_lock(&v->lock);
        if (v->kick_reason[0])
            reason = v->kick_reason;
        g_mutex_unlock(&v->lock);
        vg_audit_logout(g->audit, v->res.user, v->res.vm, v->protocol, v->peer, reason);
        vg_notice(v->protocol, "peer=%s user=%s vm=%s: viewer %s left", v->peer, v->res.user,
                  v->res.vm, v->id);
    }
    vg_console_unref(v->res.console);
    g_mutex_clear(&v->lock);
    g_free(v);
}
