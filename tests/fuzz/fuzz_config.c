/*
 * Fuzz target: vmgated's configuration file (strict INI: every key checked,
 * errors name file, line and key).
 */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>

#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("vmgated.conf", MFD_CLOEXEC);
    char path[64];
    vg_config *cfg = NULL;
    char *error = NULL;

    if (fd < 0)
        return 0;
    if (write(fd, data, size) == (ssize_t)size) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (vg_config_load(path, &cfg, &error) == 0) {
            if (!cfg)
                __builtin_trap();
            vg_config_free(cfg);
        } else if (!error) {
            __builtin_trap(); /* a refusal always says why */
        }
        g_free(error);
    }
    close(fd);
    return 0;
}
