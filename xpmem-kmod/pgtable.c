// SPDX-License-Identifier: GPL-2.0
/*
 * Page tables of attachment vmas, for both fault paths (attach.c: local,
 * remote.c: remote): a page table allocated before seg->lock, and the test
 * that one is there before PTEs go in under it.
 */
#include <linux/mm.h>
#include <linux/pgtable.h>

#include "asserts.h"
#include "compat/xpmem_compat.h"
#include "pgtable.h"

static int xpmem_pte_noop(pte_t *pte, unsigned long addr, void *data)
{
	return 0;
}

/**
 * xpmem_prealloc_ptes() - make sure the page table for [@start, @end) exists
 * @vma: attachment vma (its mm's mmap_lock held for read)
 * @pmd: the PMD covering the range (vmf->pmd)
 * @start: first address
 * @end: end of the range, within the same PMD as @start
 *
 * Inserting PTEs happens under seg->lock, which the segment's notifier
 * takes, and reclaim can invalidate a source range: a page-table allocation
 * there could recurse into that notifier. Allocating the table here, before
 * seg->lock, keeps reclaim out of the locked section without PF_MEMALLOC.
 * A table allocated under the mmap_lock stays (a VM_PFNMAP vma is never
 * collapsed).
 *
 * A racing fault of another thread may map the whole PMD meanwhile (on
 * kernels with PMD mappings): then the caller refaults and finds it.
 * Open: apply_to_page_range() WARNs if that PMD appears during its walk.
 *
 * Return: 0, -EAGAIN (a huge PMD is there: refault) or -ENOMEM.
 */
int xpmem_prealloc_ptes(struct vm_area_struct *vma, pmd_t *pmd,
			unsigned long start, unsigned long end)
{
	pmd_t val = pmdp_get_lockless(pmd);
	int err;

	xpmem_mmap_assert_locked(vma->vm_mm);
	if (likely(!pmd_none(val)))
		return pmd_leaf(val) ? -EAGAIN : 0;
	err = apply_to_page_range(vma->vm_mm, start, end - start,
				  xpmem_pte_noop, NULL);
	if (err && pmd_leaf(pmdp_get_lockless(pmd)))
		return -EAGAIN;
	return err;
}

/**
 * xpmem_pmd_is_table() - is @pmd a page table (not none, not a huge leaf)?
 * @pmd: the attachment's PMD of a fault (vmf->pmd)
 *
 * May apply_to_page_range() walk the window under @pmd, may PTEs be
 * inserted? Only into a page table that is there (xpmem_prealloc_ptes()):
 * a walk would allocate a missing one under seg->lock, and WARN on a huge
 * PMD a racing fault installed, where vmf_insert_pfn_prot() fails with
 * VM_FAULT_OOM. Caller: seg->lock held (no PMD of ours comes or goes) and
 * the mmap_lock (the page table stays).
 *
 * Return: true if it is a page table.
 */
bool xpmem_pmd_is_table(pmd_t *pmd)
{
	pmd_t val = pmdp_get_lockless(pmd);

	return pmd_present(val) && !pmd_none(val) && !pmd_leaf(val) &&
	       !pmd_bad(val);
}
