// SPDX-License-Identifier: GPL-2.0
/*
 * zap_special_vma_range() (7.3): zap_vma_ptes() renamed, the zap of a range
 * of a VM_PFNMAP/VM_MIXEDMAP vma.
 */
#include <linux/mm.h>

static void __maybe_unused probe(struct vm_area_struct *vma)
{
	zap_special_vma_range(vma, vma->vm_start, PAGE_SIZE);
}
