// SPDX-License-Identifier: GPL-2.0
/*
 * vm_operations_struct.huge_fault(vmf, unsigned int order) (6.6): the
 * handler xpmem installs PMD mappings from. Before, it took an enum
 * page_entry_size, which C finds compatible with unsigned int, so the
 * assignment below compiles either way; 6.6 removed that enum, so declaring
 * one here compiles only on kernels with the order form.
 */
#include <linux/mm.h>

enum page_entry_size { XPMEM_PROBE_PE };

static vm_fault_t probe_fault(struct vm_fault *vmf, unsigned int order)
{
	return VM_FAULT_FALLBACK;
}

static const struct vm_operations_struct __maybe_unused probe_ops = {
	.huge_fault = probe_fault,
};
