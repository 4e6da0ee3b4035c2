/*
 * vmgate-shot, RDP mode: a client of vmgate's RDP front end (or any RDP
 * server offering NLA or TLS) through vg_rdp_client, then the shared tail.
 *
 * Threading: the main thread connects and runs shot_finish(); the RDP
 * session runs on vg_rdp_client's own thread (see rdp-client.c).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "rdp-client.h"
#include "shot.h"

int shot_run_rdp(const shot_rdp_params *p, const shot_options *opt)
{
    g_autofree char *hp = strchr(p->host, ':') ? g_strdup_printf("[%s]:%s", p->host, p->port)
                                               : g_strdup_printf("%s:%s", p->host, p->port);
    unsigned long port = strtoul(p->port, NULL, 10);
    vg_rdp_client_params rp = {
        .host = p->host,
        .port = (uint16_t)port,
        .user = p->user,
        .password = p->password,
        .vm = p->vm,
        .ca_file = p->ca_file,
        .insecure = p->insecure,
        .deadline_us = opt->deadline_us,
    };
    vg_rdp_client *client = NULL;
    char why[512];
    int rc;

    if (port == 0 || port > 65535) {
        shot_fail(opt->failure, opt->failure_len, "bad port '%s'", p->port);
        return SHOT_EXIT_USAGE;
    }
    /* A server that goes away must give EPIPE, not end the process. */
    signal(SIGPIPE, SIG_IGN);
    switch (vg_rdp_client_connect(&rp, &client, why, sizeof(why))) {
    case VG_RDP_OK:
        rc = shot_finish(vg_rdp_client_source(client), opt);
        /* The server may refuse the credentials only after the connection
         * sequence (a logon error, then the end of the session). */
        if (rc == SHOT_EXIT_CONNECT && vg_rdp_client_auth_refused(client)) {
            shot_fail(opt->failure, opt->failure_len,
                      "authentication failed: the server refused the user "
                      "name or password");
            rc = SHOT_EXIT_AUTH;
        }
        break;
    case VG_RDP_AUTH_FAILED:
        shot_fail(opt->failure, opt->failure_len, "%s", why);
        rc = SHOT_EXIT_AUTH;
        break;
    case VG_RDP_TIMEOUT:
        shot_fail(opt->failure, opt->failure_len, "timed out after %d s connecting to %s",
                  opt->timeout_s, hp);
        rc = SHOT_EXIT_TIMEOUT;
        break;
    case VG_RDP_INVALID:
        shot_fail(opt->failure, opt->failure_len, "%s", why);
        rc = SHOT_EXIT_USAGE;
        break;
    case VG_RDP_CONNECT_FAILED:
    default:
        shot_fail(opt->failure, opt->failure_len, "%s", why);
        rc = SHOT_EXIT_CONNECT;
        break;
    }
    vg_rdp_client_free(client);
    return rc;
}
