// SPDX-License-Identifier: GPL-2.0
/*
 * Attachments: ATTACH/DETACH, the attachment vma and its fault handler.
 *
 * An attachment is a range of the device file, reserved for it alone, that
 * ATTACH maps into the caller with vm_mmap(). Its vmas are VM_PFNMAP and
 * start empty; the fault handler resolves source pages with
 * hmm_range_fault() under the segment's interval notifier and installs the
 * pfns without taking page references. The notifier zaps them again
 * (notifier.c) through the device file's i_mmap tree.
 */
#include <linux/hmm.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/pagemap.h>
#include <linux/pfn_t.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "xpmem_private.h"
#include "trace.h"

/*
 * File offsets (in pages) reserved for attachments. A file offset must stay
 * below MAX_LFS_FILESIZE, i.e. 2^51 pages. Attachments of up to 2^23 pages
 * (32 GiB) get a slot of that size in [0, 2^50); larger ones a slot of
 * 2^35 pages (the whole user address space) above 2^50. Within its slot an
 * attachment starts at the source address's page index modulo PTRS_PER_PMD,
 * so thp_get_unmapped_area() places it at the source's PMD alignment and
 * source THPs can be mapped with one PMD.
 */
#define XPMEM_SMALL_SHIFT	23
#define XPMEM_SMALL_MAX		((1U << (50 - XPMEM_SMALL_SHIFT)) - 1)
#define XPMEM_BIG_SHIFT		35
#define XPMEM_BIG_BASE		BIT(50)
#define XPMEM_BIG_MAX		((1U << (50 - XPMEM_BIG_SHIFT)) - 2)

static DEFINE_XARRAY_ALLOC1(xpmem_small_slots);
static DEFINE_XARRAY_ALLOC1(xpmem_big_slots);

static const struct vm_operations_struct xpmem_vm_ops;

int xpmem_attach_init(void)
{
	return 0;
}

void xpmem_attach_exit(void)
{
	WARN_ON(!xa_empty(&xpmem_small_slots));
	WARN_ON(!xa_empty(&xpmem_big_slots));
}

static int xpmem_slot_alloc(struct xpmem_att *att)
{
	unsigned long colour = (att->src_start >> PAGE_SHIFT) &
			       (PTRS_PER_PMD - 1);
	u32 slot;
	int ret;

	att->big = att->npages + colour > (1UL << XPMEM_SMALL_SHIFT);
	if (att->big) {
		ret = xa_alloc(&xpmem_big_slots, &slot, NULL,
			       XA_LIMIT(1, XPMEM_BIG_MAX), GFP_KERNEL);
		att->pgoff = XPMEM_BIG_BASE +
			     ((unsigned long)slot << XPMEM_BIG_SHIFT);
	} else {
		ret = xa_alloc(&xpmem_small_slots, &slot, NULL,
			       XA_LIMIT(1, XPMEM_SMALL_MAX), GFP_KERNEL);
		att->pgoff = (unsigned long)slot << XPMEM_SMALL_SHIFT;
	}
	if (ret)
		return ret == -EBUSY ? -ENOSPC : ret;
	att->slot = slot;
	att->pgoff += colour;
	xa_store(att->big ? &xpmem_big_slots : &xpmem_small_slots, slot, att,
		 GFP_KERNEL);
	return 0;
}

static struct xpmem_att *xpmem_slot_lookup(unsigned long pgoff)
{
	struct xpmem_att *att;
	struct xarray *xa;
	unsigned long idx;

	if (pgoff >= XPMEM_BIG_BASE) {
		xa = &xpmem_big_slots;
		idx = (pgoff - XPMEM_BIG_BASE) >> XPMEM_BIG_SHIFT;
	} else {
		xa = &xpmem_small_slots;
		idx = pgoff >> XPMEM_SMALL_SHIFT;
	}
	rcu_read_lock();
	att = xa_load(xa, idx);
	if (att && (att->pgoff != pgoff || !kref_get_unless_zero(&att->kref)))
		att = NULL;
	rcu_read_unlock();
	return att;
}

static void xpmem_att_free(struct kref *kref)
{
	struct xpmem_att *att = container_of(kref, struct xpmem_att, kref);

	xa_erase(att->big ? &xpmem_big_slots : &xpmem_small_slots, att->slot);
	xpmem_ap_put(att->ap);
	kfree_rcu(att, rcu);
	atomic_dec(&xpmem_objects[XPMEM_OBJ_ATT]);
}

static void xpmem_att_put(struct xpmem_att *att)
{
	kref_put(&att->kref, xpmem_att_free);
}

int xpmem_attach(struct file *file, struct xpmem_tg *tg, s64 apid,
		 s64 offset, u64 size, u64 *vaddr)
{
	unsigned long src, len, addr, prot, flags;
	struct xpmem_seg *seg;
	struct xpmem_att *att;
	struct xpmem_ap *ap;
	int ret;

	ap = xpmem_ap_lookup(apid);
	if (!ap)
		return -EINVAL;
	ret = -EINVAL;
	if (ap->tg != tg || READ_ONCE(ap->dead))
		goto err_ap;
	seg = ap->seg;
	if (offset < 0 || size == 0 || !PAGE_ALIGNED(*vaddr))
		goto err_ap;
	if (offset >= seg->end - seg->start ||
	    size > seg->end - seg->start - offset)
		goto err_ap;
	ret = -ENOENT;
	if (READ_ONCE(seg->dead))
		goto err_ap;

	/* Classic XPMEM: an unaligned offset maps its whole first page. */
	src = seg->start + offset;
	len = PAGE_ALIGN(offset_in_page(src) + size);

	ret = -ENOMEM;
	att = kzalloc(sizeof(*att), GFP_KERNEL);
	if (!att)
		goto err_ap;
	kref_init(&att->kref);
	INIT_LIST_HEAD(&att->seg_node);
	att->ap = ap;		/* takes over the lookup reference */
	att->seg = seg;
	att->mm = current->mm;
	att->src_start = src & PAGE_MASK;
	att->src_end = att->src_start + len;
	att->npages = len >> PAGE_SHIFT;
	att->writable = ap->flags == XPMEM_RDWR;
	ret = xpmem_slot_alloc(att);
	if (ret) {
		kfree(att);
		goto err_ap;
	}
	atomic_inc(&xpmem_objects[XPMEM_OBJ_ATT]);

	prot = PROT_READ | (att->writable ? PROT_WRITE : 0);
	flags = MAP_SHARED | (*vaddr ? MAP_FIXED : 0);
	addr = vm_mmap(file, *vaddr, len, prot, flags,
		       att->pgoff << PAGE_SHIFT);
	/* The vmas hold their own reference if the mapping was made. */
	xpmem_att_put(att);
	if (IS_ERR_VALUE(addr))
		return (int)addr;

	*vaddr = addr + offset_in_page(src);
	return 0;

err_ap:
	xpmem_ap_put(ap);
	return ret;
}

int xpmem_detach(struct xpmem_tg *tg, u64 vaddr)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	unsigned long start, len;
	struct xpmem_att *att;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, vaddr);
	if (!vma || vma->vm_ops != &xpmem_vm_ops) {
		mmap_read_unlock(mm);
		return -EINVAL;
	}
	att = vma->vm_private_data;
	if (att->ap->tg != tg) {
		mmap_read_unlock(mm);
		return -EINVAL;
	}
	start = vma->vm_start;
	len = vma->vm_end - vma->vm_start;
	mmap_read_unlock(mm);

	return vm_munmap(start, len);
}

/* ->mmap of the device: only the ranges ATTACH reserved can be mapped. */
int xpmem_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct xpmem_att *att;
	struct xpmem_seg *seg;
	int ret = -EINVAL;

	att = xpmem_slot_lookup(vma->vm_pgoff);
	if (!att)
		return -EINVAL;
	if (att->mm != vma->vm_mm || vma_pages(vma) != att->npages ||
	    !(vma->vm_flags & VM_SHARED))
		goto err;
	if (!att->writable && (vma->vm_flags & VM_WRITE)) {
		ret = -EACCES;
		goto err;
	}

	seg = att->seg;
	mutex_lock(&seg->lock);
	if (att->mapped || seg->dead || READ_ONCE(att->ap->dead)) {
		mutex_unlock(&seg->lock);
		ret = att->mapped ? -EINVAL : -ENOENT;
		goto err;
	}
	att->mapped = true;
	att->nr_vmas = 1;
	att->mapping = file->f_mapping;
	list_add_tail(&att->seg_node, &seg->atts);
	mutex_unlock(&seg->lock);

	vma->vm_flags |= VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP |
			 VM_DONTCOPY;
	if (!att->writable)
		vma->vm_flags &= ~VM_MAYWRITE;
	vma->vm_private_data = att;	/* the lookup reference */
	vma->vm_ops = &xpmem_vm_ops;
	return 0;

err:
	xpmem_att_put(att);
	return ret;
}

/* A vma of the attachment was split off or copied by mremap(). */
static void xpmem_vm_open(struct vm_area_struct *vma)
{
	struct xpmem_att *att = vma->vm_private_data;

	mutex_lock(&att->seg->lock);
	att->nr_vmas++;
	mutex_unlock(&att->seg->lock);
}

/*
 * The last vma of an attachment goes (munmap, exit). This can run long
 * after the device was closed and the segment removed; the attachment
 * keeps the segment's memory alive until here.
 */
static void xpmem_vm_close(struct vm_area_struct *vma)
{
	struct xpmem_att *att = vma->vm_private_data;
	struct xpmem_seg *seg = att->seg;
	bool last;

	mutex_lock(&seg->lock);
	last = --att->nr_vmas == 0;
	if (last) {
		list_del_init(&att->seg_node);
		att->mapping = NULL;
	}
	mutex_unlock(&seg->lock);
	if (last)
		xpmem_att_put(att);
}

/*
 * Lock the source mm for hmm_range_fault() while the attacher's mmap_lock is
 * held. Two processes attaching each other could deadlock on the two
 * mmap_locks behind waiting writers, so only trylock and otherwise drop
 * the attacher's lock and let the fault be retried.
 */
static vm_fault_t xpmem_lock_source(struct vm_fault *vmf,
				    struct mm_struct *src_mm)
{
	if (mmap_read_trylock(src_mm))
		return 0;
	if (!(vmf->flags & FAULT_FLAG_ALLOW_RETRY)) {
		mmap_read_lock(src_mm);
		return 0;
	}
	if (vmf->flags & FAULT_FLAG_RETRY_NOWAIT)
		return VM_FAULT_RETRY;
	mmap_read_unlock(vmf->vma->vm_mm);
	/* Wait for the writer, then start over. */
	mmap_read_lock(src_mm);
	mmap_read_unlock(src_mm);
	return VM_FAULT_RETRY;
}

static pgprot_t xpmem_prot(struct vm_area_struct *vma, bool writable)
{
	vm_flags_t flags = vma->vm_flags;

	if (!writable)
		flags &= ~VM_WRITE;
	return vm_get_page_prot(flags);
}

/*
 * Map the whole PMD around @vmf if the source maps the faulting page with a
 * PMD (THP or hugetlb) and both sides have the same alignment. Called with
 * seg->lock held and the notifier sequence validated. Returns 0 if a PMD
 * mapping does not apply.
 */
static vm_fault_t xpmem_try_pmd(struct vm_fault *vmf, struct xpmem_att *att,
				unsigned long hmm_pfn, unsigned long src)
{
	struct vm_area_struct *vma = vmf->vma;
	unsigned long haddr = vmf->address & PMD_MASK;
	unsigned long hsrc = src & PMD_MASK;
	struct page *page;
	bool writable;
	vm_fault_t ret;

	if (!READ_ONCE(xpmem_map_pmd) || !pmd_none(*vmf->pmd))
		return 0;
	if (hmm_pfn_to_map_order(hmm_pfn) < PMD_SHIFT - PAGE_SHIFT)
		return 0;
	if ((src & ~PMD_MASK) != (vmf->address & ~PMD_MASK & PAGE_MASK))
		return 0;
	if (haddr < vma->vm_start || haddr + PMD_SIZE > vma->vm_end ||
	    hsrc < att->src_start || hsrc + PMD_SIZE > att->src_end)
		return 0;

	writable = (hmm_pfn & HMM_PFN_WRITE) && (vma->vm_flags & VM_WRITE);
	page = hmm_pfn_to_page(hmm_pfn) - ((src & ~PMD_MASK) >> PAGE_SHIFT);
	/* Writability comes from the prot; write=true would WARN on a race. */
	ret = vmf_insert_pfn_pmd_prot(vmf, pfn_to_pfn_t(page_to_pfn(page)),
				      xpmem_prot(vma, writable), false);
	if (ret == VM_FAULT_NOPAGE) {
		if (writable && !PageDirty(page))
			set_page_dirty(page);
		atomic64_inc(&att->seg->nr_pmd_mapped);
		atomic64_add(PTRS_PER_PMD, &att->seg->nr_mapped);
	}
	return ret;
}

/*
 * hmm_range_fault() faults every page from the first one that needs it to
 * the end of the range, with that page's flags. So fault the touched page
 * alone, then read the window without faulting, under the same notifier
 * sequence: neighbours are mapped only if already present in the source.
 */
static int xpmem_hmm_window(struct hmm_range *range, unsigned long idx,
			    bool write)
{
	unsigned long n = (range->end - range->start) >> PAGE_SHIFT;
	struct hmm_range one = *range;
	int err;

	one.start = range->start + (idx << PAGE_SHIFT);
	one.end = one.start + PAGE_SIZE;
	one.hmm_pfns = range->hmm_pfns + idx;
	one.default_flags = HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0);
	one.pfn_flags_mask = 0;
	err = hmm_range_fault(&one);
	if (err || n == 1)
		return err;
	range->default_flags = 0;
	range->pfn_flags_mask = 0;
	return hmm_range_fault(range);
}

static vm_fault_t xpmem_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct xpmem_att *att = vma->vm_private_data;
	struct xpmem_seg *seg = att->seg;
	struct mm_struct *src_mm = seg->mm;
	bool same_mm = src_mm == vma->vm_mm;
	bool write = vmf->flags & FAULT_FLAG_WRITE;
	unsigned long pfns[XPMEM_MAX_FAULT_WINDOW];
	unsigned long addr = vmf->address & PAGE_MASK;
	unsigned long n, idx, wstart, wend, src, i;
	unsigned int noreclaim, mapped = 0;
	struct hmm_range range = {
		.notifier = &seg->notifier,
		.hmm_pfns = pfns,
	};
	vm_fault_t ret;
	int err;

	if (READ_ONCE(att->dead) || READ_ONCE(seg->dead))
		return VM_FAULT_SIGBUS;
	if (seg->remote)
		return xpmem_remote_fault(vmf, att);

	/* Window of already-present neighbours, within the vma and pmd. */
	n = READ_ONCE(xpmem_fault_window);
	n = clamp(n, 1UL, (unsigned long)XPMEM_MAX_FAULT_WINDOW);
	idx = (addr - vma->vm_start) >> PAGE_SHIFT;
	wstart = vma->vm_start + ((idx - idx % n) << PAGE_SHIFT);
	wstart = max(wstart, addr & PMD_MASK);
	wend = min(wstart + (n << PAGE_SHIFT), vma->vm_end);
	wend = min(wend, (addr & PMD_MASK) + PMD_SIZE);

	src = att->src_start + ((vma->vm_pgoff - att->pgoff) << PAGE_SHIFT) +
	      (wstart - vma->vm_start);
	if (src < att->src_start ||
	    src + (wend - wstart) > att->src_end)
		return VM_FAULT_SIGBUS;
	range.start = src;
	range.end = src + (wend - wstart);
	n = (wend - wstart) >> PAGE_SHIFT;
	idx = (addr - wstart) >> PAGE_SHIFT;

	if (!mmget_not_zero(src_mm))
		return VM_FAULT_SIGBUS;
	/* The vma, and with it @att, may go once VM_FAULT_RETRY drops locks. */
	kref_get(&seg->kref);
	atomic64_inc(&seg->nr_faults);

again:
	if (fatal_signal_pending(current)) {
		ret = VM_FAULT_SIGBUS;
		goto out;
	}
	range.notifier_seq = mmu_interval_read_begin(&seg->notifier);
	if (!same_mm) {
		ret = xpmem_lock_source(vmf, src_mm);
		if (ret)
			goto out;
	}
	err = xpmem_hmm_window(&range, idx, write);
	if (!same_mm)
		mmap_read_unlock(src_mm);
	if (err == -EBUSY) {
		cond_resched();
		goto again;
	}
	if (err) {
		ret = err == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
		goto out;
	}

	mutex_lock(&seg->lock);
	if (att->dead || seg->dead) {
		mutex_unlock(&seg->lock);
		ret = VM_FAULT_SIGBUS;
		goto out;
	}
	if (mmu_interval_read_retry(&seg->notifier, range.notifier_seq)) {
		mutex_unlock(&seg->lock);
		goto again;
	}
	/*
	 * Page-table allocation below must not enter reclaim: reclaim can
	 * invalidate a source range and our notifier would wait for seg->lock.
	 */
	noreclaim = memalloc_noreclaim_save();
	ret = xpmem_try_pmd(vmf, att, pfns[idx],
			    range.start + (idx << PAGE_SHIFT));
	if (ret) {
		memalloc_noreclaim_restore(noreclaim);
		mutex_unlock(&seg->lock);
		goto out;
	}
	ret = VM_FAULT_NOPAGE;
	for (i = 0; i < n; i++) {
		bool writable;
		struct page *page;
		vm_fault_t r;

		if (!(pfns[i] & HMM_PFN_VALID))
			continue;
		writable = (pfns[i] & HMM_PFN_WRITE) &&
			   (vma->vm_flags & VM_WRITE);
		page = hmm_pfn_to_page(pfns[i]);
		r = vmf_insert_pfn_prot(vma, wstart + (i << PAGE_SHIFT),
					page_to_pfn(page),
					xpmem_prot(vma, writable));
		if (r != VM_FAULT_NOPAGE) {
			if (i == idx)
				ret = r;
			continue;
		}
		/* Writes through the attachment bypass the source PTE. */
		if (writable && !PageDirty(page))
			set_page_dirty(page);
		mapped++;
	}
	memalloc_noreclaim_restore(noreclaim);
	mutex_unlock(&seg->lock);
	atomic64_add(mapped, &seg->nr_mapped);

out:
	trace_xpmem_fault(seg->segid, vmf->address, src, mapped,
			  (__force int)ret);
	xpmem_seg_put(seg);
	mmput_async(src_mm);
	return ret;
}

/*
 * Write to a PTE installed read-only (the source page was not writable,
 * e.g. shared copy-on-write or the zero page): drop it and let the access
 * fault again as a write, which breaks COW in the source first.
 */
static vm_fault_t xpmem_pfn_mkwrite(struct vm_fault *vmf)
{
	struct xpmem_zapper z;

	xpmem_zapper_enter(&z);
	zap_vma_ptes(vmf->vma, vmf->address & PAGE_MASK, PAGE_SIZE);
	xpmem_zapper_exit(&z);
	return VM_FAULT_NOPAGE;
}

static const struct vm_operations_struct xpmem_vm_ops = {
	.open		= xpmem_vm_open,
	.close		= xpmem_vm_close,
	.fault		= xpmem_fault,
	.pfn_mkwrite	= xpmem_pfn_mkwrite,
};
