/*
 * Fuzz target: RDP's routing token (/load-balance-info), the other way a
 * client names its VM, as FreeRDP hands it over from the X.224 Connection
 * Request.
 */
#include <string.h>

#include "fuzz.h"
#include "rdp-pcb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[VG_RDP_PCB_BLOB_SIZE];

    if (vg_rdp_routing_token_parse((const char *)data, size, out, sizeof(out)) == 0) {
        size_t n = strnlen(out, sizeof(out));
        if (n == 0 || n >= sizeof(out))
            __builtin_trap();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] == 0x7f)
                __builtin_trap();
    }
    return 0;
}
