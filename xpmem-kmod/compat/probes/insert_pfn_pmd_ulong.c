// SPDX-License-Identifier: GPL-2.0
/*
 * vmf_insert_pfn_pmd(vmf, unsigned long pfn, write): after 6.12, when pfn_t
 * was removed from the kernel; 6.12 takes a pfn_t (pfn_to_pfn_t()).
 */
#include <linux/mm.h>
#include <linux/huge_mm.h>

static vm_fault_t __maybe_unused probe(struct vm_fault *vmf)
{
	unsigned long pfn = 0;

	return vmf_insert_pfn_pmd(vmf, pfn, false);
}
