/*
 * vmgatectl — the audit command: the last records of the audit log, then
 * (--follow) each new one as vmgated streams it.
 */
#include "ctl-priv.h"

#include <errno.h>
#include <stdio.h>

#include "ctl-output.h"

static int print_record(ctl *c, JsonNode *record)
{
    if (c->json) {
        vg_ctl_print_json(record, false, stdout);
    } else {
        g_autofree char *line = vg_ctl_format_record(record);
        puts(line);
    }
    fflush(stdout);
    return ferror(stdout) ? -EIO : 0;
}

int vg_ctl_audit(ctl *c, char **argv)
{
    vg_control_response *resp = NULL;
    bool follow = vg_ctl_opt_flag(c, "follow");
    int st;

    if ((st = vg_ctl_call(c, c->cmd->name, vg_ctl_args(c, argv, NULL, NULL), &resp)) != EXIT_OK)
        return st;

    if (!follow) {
        JsonArray *a = vg_ctl_result_array(resp);
        if (c->json)
            vg_ctl_print_json(resp->result, true, stdout);
        for (guint i = 0; !c->json && a && i < json_array_get_length(a); i++)
            print_record(c, json_array_get_element(a, i));
        vg_control_response_free(resp);
        return EXIT_OK;
    }
    /* A stream: records until vmgated ends it or we are interrupted. */
    for (;;) {
        bool more = resp->more;
        if (more && print_record(c, resp->result) < 0) {
            vg_control_response_free(resp);
            return EXIT_FAILED;
        }
        vg_control_response_free(resp);
        resp = NULL;
        if (!more)
            return EXIT_OK;
        if ((st = vg_ctl_read_response(c, &resp)) != EXIT_OK)
            return st;
        if (!resp->ok) {
            st = vg_ctl_response_failed(resp);
            vg_control_response_free(resp);
            return st;
        }
    }
}
