// SPDX-License-Identifier: GPL-2.0
/*
 * Special huge PFN maps (6.12, CONFIG_ARCH_SUPPORTS_PMD_PFNMAP): a PMD that
 * vmf_insert_pfn_pmd() installs in a VM_PFNMAP vma carries the special bit
 * (pmd_mkspecial()), which GUP-fast and vm_normal_page_pmd() refuse, as they
 * refuse special PTEs. Without it GUP-fast takes a reference on the page
 * under any huge PMD, so a PMD-mapped attachment could be pinned past its
 * revocation: such kernels map attachments with PTEs only. The kernel's
 * fallback pmd_special() (always false) does not count.
 */
#include <linux/mm.h>
#include <linux/huge_mm.h>

#ifndef CONFIG_ARCH_SUPPORTS_PMD_PFNMAP
#error "no special huge PMDs"
#endif

static bool __maybe_unused probe(pmd_t pmd)
{
	return pmd_special(pmd_mkspecial(pmd));
}
