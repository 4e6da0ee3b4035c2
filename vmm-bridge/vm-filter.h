/*
 * vmgate — which of the hypervisor's VMs a vmgated serves, by name: glob
 * patterns ('*' any run of characters, '?' one character, as GLib's
 * GPatternSpec matches them) separated by commas, spaces around each one
 * ignored, e.g. "web-*, build-?". A VM matching none is left alone: never
 * listed, opened or powered, as if the hypervisor did not have it. For a
 * host shared with VMs vmgate does not manage, and for several vmgated
 * sharing one libvirtd, each with its own VMs.
 *
 * Threading: a filter is immutable once parsed; match from any thread.
 */
#ifndef VG_VM_FILTER_H
#define VG_VM_FILTER_H

#include <stdbool.h>

typedef struct vg_vm_filter vg_vm_filter;

/** Longest filter accepted, in bytes. */
#define VG_VM_FILTER_MAX 4096

/**
 * Parse @spec. NULL, "*" and a list holding "*" give NULL (every VM).
 * @return 0 and *out set; -EINVAL and *err (g_free it) for an empty list,
 *         an empty pattern, a control character or more than
 *         VG_VM_FILTER_MAX bytes.
 */
int vg_vm_filter_parse(const char *spec, vg_vm_filter **out, char **err);

/** Whether VM @name is served. A NULL filter serves every VM. */
bool vg_vm_filter_match(const vg_vm_filter *filter, const char *name);

/** Free. NULL is fine. */
void vg_vm_filter_free(vg_vm_filter *filter);

#endif /* VG_VM_FILTER_H */
