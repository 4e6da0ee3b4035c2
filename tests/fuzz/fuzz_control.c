/*
 * Fuzz target: the admin protocol as vmgated reads it (one request line,
 * then the arguments checked against the command table) and as vmgatectl
 * reads the answers.
 */
#include <glib.h>

#include "control-commands.h"
#include "control.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vg_control_request *req = NULL;
    vg_control_response *resp = NULL;
    int64_t id = 0;

    if (vg_control_decode_request((const char *)data, size, &req, &id) == 0) {
        const vg_control_command *cmd = vg_control_command_find(req->cmd);
        char *error = NULL;
        if (cmd && vg_control_args_check(cmd, req->args, &error) < 0 && !error)
            __builtin_trap(); /* a refusal always says why */
        g_free(error);
        vg_control_request_free(req);
    }
    if (vg_control_decode_response((const char *)data, size, &resp) == 0)
        vg_control_response_free(resp);
    return 0;
}
