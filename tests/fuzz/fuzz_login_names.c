/*
 * Fuzz target: the names a client sends: a login "VM/user" or "user" as the
 * broker splits it, VM and user names as the rules check them, and the log
 * escaping every such name passes through.
 */
#include <string.h>

#include <glib.h>

#include "fuzz.h"
#include "log.h"
#include "model.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *login = g_strndup((const char *)data, size);
    char *vm = NULL, *user = NULL;
    char escaped[512];

    if (vg_policy_split_login(login, &vm, &user) == 0) {
        if (!user || strchr(user, '/') || (vm && strchr(vm, '/')))
            __builtin_trap();
        (void)vg_name_valid(user);
        if (vm)
            (void)vg_vm_name_valid(vm);
    }
    g_free(vm);
    g_free(user);
    vg_log_escape(login, escaped, sizeof(escaped));
    /* The escaped text has no control characters left and is valid UTF-8. */
    for (const char *p = escaped; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            __builtin_trap();
    if (!g_utf8_validate(escaped, -1, NULL))
        __builtin_trap();
    return 0;
}
