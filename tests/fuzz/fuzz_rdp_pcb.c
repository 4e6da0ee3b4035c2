/*
 * Fuzz target: RDP's preconnection PDU (the first bytes a client sends on
 * the RDP port, before TLS), and the VM it names.
 */
#include <string.h>

#include "fuzz.h"
#include "model.h"
#include "rdp-pcb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vg_rdp_pcb pcb;

    memset(&pcb, 0, sizeof(pcb));
    if (vg_rdp_pcb_parse(data, size, &pcb) == 0 && pcb.present) {
        /* What the parser hands on is a NUL-terminated string. */
        size_t n = strnlen(pcb.blob, sizeof(pcb.blob));
        if (n >= sizeof(pcb.blob))
            __builtin_trap();
        (void)vg_vm_name_valid(pcb.blob);
    }
    return 0;
}
