// SPDX-License-Identifier: GPL-2.0
/*
 * Attachments: ATTACH/DETACH, the attachment vma and its fault handler.
 *
 * An attachment is a range of the device file, reserved for it alone, that
 * ATTACH maps into the caller with vm_mmap(). Its vmas are VM_PFNMAP and
 * start empty; the fault handler resolves source pages with
 * hmm_range_fault() under the segment's interval notifier and installs the
 * pfns without taking page references. The notifier zaps them again
 * (invalidate.c) through the device file's i_mmap tree.
 */
#include <linux/delay.h>
#include <linux/hmm.h>
#include <linux/magic.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/pagemap.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/userfaultfd_k.h>
#include <linux/xarray.h>

#include "asserts.h"
#include "attach.h"
#include "invalidate.h"
#include "params.h"
#include "pgtable.h"
#include "segment.h"
#include "stats.h"
#include "trace.h"

static const struct vm_operations_struct xpmem_vm_ops;

/**
 * xpmem_attach() - ATTACH: map a range of a segment into the caller
 * @file: the caller's open /dev/xpmem, mapped with vm_mmap()
 * @tg: the caller's thread group state (of @file)
 * @apid: an access permit of @tg
 * @offset: byte offset in the segment; an unaligned one maps its whole page
 * @size: bytes to map, within the segment
 * @vaddr: in: the address to map at (MAP_FIXED) or 0; out: the address of
 *	@offset in the mapping
 *
 * Reserves a slot of the device file for a new attachment, charged to the
 * caller's user, and maps it; the vmas hold the attachment from then on and
 * start empty (xpmem_fault() fills them).
 *
 * Return: 0, -EINVAL (bad permit, range or address), -ENOENT (segment
 * removed), -ENOMEM, a limit's error (xpmem_charge()), -ENOSPC (no slot) or
 * vm_mmap()'s error.
 */
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

	att = xpmem_att_create(ap, src, len);
	if (IS_ERR(att)) {
		ret = PTR_ERR(att);
		goto err_ap;
	}

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

/**
 * xpmem_detach() - DETACH: unmap the attachment vma at @vaddr
 * @tg: the caller's thread group state; the attachment must be made under
 *	one of its permits
 * @vaddr: an address inside the vma
 *
 * Return: 0, -EINVAL (no attachment of @tg there) or vm_munmap()'s error.
 */
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

/**
 * xpmem_mmap() - ->mmap of /dev/xpmem
 * @file: the device file
 * @vma: the new vma; only a range ATTACH reserved, whole, by the process
 *	that attached it, shared, and writable only for a read-write permit
 *
 * Makes @vma the attachment's first vma (VM_PFNMAP, empty).
 *
 * Return: 0, -EINVAL, -EACCES (write mapping of a read-only permit) or
 * -ENOENT (segment removed or permit released).
 */
int xpmem_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct xpmem_att *att;
	struct xpmem_seg *seg;
	int ret = -EINVAL;

	xpmem_mmap_assert_write_locked(vma->vm_mm);
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

	vm_flags_set(vma, VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP |
		     VM_DONTCOPY);
	/*
	 * The core calls ->huge_fault only if THP is enabled for the vma:
	 * sysfs "always", or "madvise" and VM_HUGEPAGE ("never" keeps PTEs).
	 */
	if (XPMEM_PMD_MAPPINGS)
		vm_flags_set(vma, VM_HUGEPAGE);
	if (!att->writable)
		vm_flags_clear(vma, VM_MAYWRITE);
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
		if (seg->ops->att_unmapped)
			seg->ops->att_unmapped(att);
	}
	mutex_unlock(&seg->lock);
	if (last)
		xpmem_att_put(att);
}

/*
 * How long the non-retry fault path (fixup_user_fault(), e.g. FUTEX_WAKE_OP
 * on an unpopulated attachment page) tries for the source mm's lock before
 * it fails the access: it holds the attacher's mmap_lock and must not wait
 * behind a writer of the source mm, which may itself wait for us.
 */
#define XPMEM_NORETRY_LOCK_MS	100

/* Rounds of the fault's sequence retry before it lets go of the mmap_lock. */
#define XPMEM_FAULT_ROUNDS	8

/*
 * Lock the source mm for hmm_range_fault() while the attacher's mmap_lock is
 * held. Two processes attaching each other could deadlock on the two
 * mmap_locks behind waiting writers, so only trylock: with FAULT_FLAG_ALLOW_RETRY
 * drop the attacher's lock, wait for the source's writer, and let the fault
 * be retried; without it, poll for a bounded time and fail.
 */
static vm_fault_t xpmem_lock_source(struct vm_fault *vmf,
				    struct mm_struct *src_mm)
{
	unsigned long deadline;

	if (mmap_read_trylock(src_mm))
		return 0;
	if (!(vmf->flags & FAULT_FLAG_ALLOW_RETRY)) {
		deadline = jiffies + msecs_to_jiffies(XPMEM_NORETRY_LOCK_MS);
		do {
			if (fatal_signal_pending(current))
				return VM_FAULT_SIGBUS;
			usleep_range(50, 200);
			if (mmap_read_trylock(src_mm))
				return 0;
		} while (time_before(jiffies, deadline));
		return VM_FAULT_SIGBUS;
	}
	if (vmf->flags & FAULT_FLAG_RETRY_NOWAIT)
		return VM_FAULT_RETRY;
	mmap_read_unlock(vmf->vma->vm_mm);
	/* Wait for the writer, then start over. */
	if (!mmap_read_lock_killable(src_mm))
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

/*
 * Fault window of the attachment page at @addr: the block of @n pages around
 * it (aligned from the vma's start), within the vma, the PMD and the source
 * vma.
 * Caller: the source mm is locked.
 */
struct xpmem_window_calc {
	unsigned long wstart, wend;	/* attacher addresses */
	unsigned long src;		/* source address of wstart */
	unsigned long n, idx;		/* pages, index of the touched one */
};

static unsigned long xpmem_src_of(struct vm_area_struct *vma,
				  struct xpmem_att *att, unsigned long addr)
{
	return att->src_start + ((vma->vm_pgoff - att->pgoff) << PAGE_SHIFT) +
	       (addr - vma->vm_start);
}

static void xpmem_fault_window_calc(struct vm_area_struct *vma,
				    struct vm_area_struct *svma,
				    struct xpmem_att *att, unsigned long addr,
				    unsigned long n, struct xpmem_window_calc *w)
{
	unsigned long idx, lo, hi, src = xpmem_src_of(vma, att, addr);

	xpmem_mmap_assert_locked(svma->vm_mm);
	idx = (addr - vma->vm_start) >> PAGE_SHIFT;
	lo = max(vma->vm_start + ((idx - idx % n) << PAGE_SHIFT),
		 addr & PMD_MASK);
	hi = min(lo + (n << PAGE_SHIFT), vma->vm_end);
	hi = min(hi, (addr & PMD_MASK) + PMD_SIZE);
	/* Same distances in the source: clip to the source vma and range. */
	lo = addr - min(addr - lo, src - max(svma->vm_start, att->src_start));
	hi = addr + min(hi - addr, min(svma->vm_end, att->src_end) - src);
	w->wstart = lo;
	w->wend = hi;
	w->src = src - (addr - lo);
	w->n = (hi - lo) >> PAGE_SHIFT;
	w->idx = (addr - lo) >> PAGE_SHIFT;
}

#if XPMEM_PMD_MAPPINGS
/**
 * xpmem_insert_pmd() - map a whole PMD of a huge source page
 * @vmf: the fault (vmf->pmd empty when the caller looked)
 * @hpfn: hmm_range_fault() answer for the touched page
 * @src: source address of the touched page
 * @write: write access was asked for (the source broke COW)
 * @want_write: the attachment is writable
 *
 * Caller: seg->lock held and the notifier sequence still valid, so no
 * invalidation of the source (and no zap of ours) runs until it is dropped.
 * The answer's map order says that the source maps the touched page with a
 * PMD (THP) or a huge page table entry (hugetlb): the 2 MiB around it are
 * physically contiguous and have its access. The PMD is installed
 * read-only first: a page table a racing PTE fault put there makes that a
 * no-op, where a write insert would WARN on the mismatch; the same PMD is
 * then made writable.
 *
 * Return: VM_FAULT_NOPAGE if the PMD maps the source, VM_FAULT_FALLBACK if
 * anything is not exactly right (the PTE path handles the fault then), or
 * an error.
 */
static vm_fault_t xpmem_insert_pmd(struct vm_fault *vmf, unsigned long hpfn,
				   unsigned long src, bool write,
				   bool want_write)
{
	struct xpmem_att *att = vmf->vma->vm_private_data;
	bool writable = hpfn & HMM_PFN_WRITE;
	struct folio *folio;
	struct page *page;
	unsigned long pfn;
	vm_fault_t ret;
	pmd_t pmd;

	lockdep_assert_held(&att->seg->lock);
	if (!(hpfn & HMM_PFN_VALID) || (hpfn & HMM_PFN_ERROR) ||
	    !pfn_valid(hpfn & ~HMM_PFN_FLAGS) ||
	    hmm_pfn_to_map_order(hpfn) < PMD_ORDER)
		return VM_FAULT_FALLBACK;
	/* no read-only mapping over a writable source (see the PTE path) */
	if (write && !writable)
		return VM_FAULT_FALLBACK;
	writable &= want_write;
	page = hmm_pfn_to_page(hpfn);
	/*
	 * Only anonymous, page-cache and hugetlb folios: not the huge zero
	 * folio a read of an untouched THP source maps, which the core
	 * treats as its own wherever it finds its pfn under a PMD (7.x's
	 * zap withdraws a page table deposited only for its own use).
	 */
	folio = page_folio(page);
	if (!folio_test_anon(folio) && !folio_test_hugetlb(folio) &&
	    !READ_ONCE(folio->mapping))
		return VM_FAULT_FALLBACK;
	pfn = page_to_pfn(page) - ((src & ~PMD_MASK) >> PAGE_SHIFT);
	if (!IS_ALIGNED(pfn, PTRS_PER_PMD))
		return VM_FAULT_FALLBACK;
	/*
	 * write=false inserts with vma->vm_page_prot, which is write-protected
	 * only because xpmem_vm_ops has ->pfn_mkwrite (writenotify): keep it.
	 */
	ret = vmf_insert_pfn_pmd(vmf, pfn, false);
	if (ret != VM_FAULT_NOPAGE)
		return ret;
	pmd = pmdp_get_lockless(vmf->pmd);
	if (!pmd_leaf(pmd) || pmd_pfn(pmd) != pfn)
		return VM_FAULT_FALLBACK;	/* a page table came first */
	if (writable) {
		ret = vmf_insert_pfn_pmd(vmf, pfn, true);
		if (ret != VM_FAULT_NOPAGE)
			return ret;
		/* Writes through the attachment bypass the source PMD. */
		if (!PageDirty(page))
			set_page_dirty(page);
	}
	return VM_FAULT_NOPAGE;
}

#else
static vm_fault_t xpmem_insert_pmd(struct vm_fault *vmf, unsigned long hpfn,
				   unsigned long src, bool write,
				   bool want_write)
{
	return VM_FAULT_FALLBACK;
}
#endif

/* Is the hmm_range_fault() answer @hpfn a page the PTE path may map? */
static bool xpmem_hpfn_mappable(unsigned long hpfn, bool write)
{
	if (!(hpfn & HMM_PFN_VALID) || (hpfn & HMM_PFN_ERROR) ||
	    !pfn_valid(hpfn & ~HMM_PFN_FLAGS))
		return false;
	/* See xpmem_local_fault(): no read-only PTE over a writable source. */
	return !write || (hpfn & HMM_PFN_WRITE);
}

/*
 * Does @prot map normal, cached memory? The batched PTE path below sets it
 * as is, where vmf_insert_pfn_prot() would look up the pfn's memory type
 * (x86 PAT) for every page: a walk of the system RAM resources each time.
 */
static bool xpmem_prot_cached(pgprot_t prot)
{
#ifdef CONFIG_X86
	/* PAT entry 0 is write-back in every layout the kernel sets up */
	return !(pgprot_val(prot) & _PAGE_CACHE_MASK);
#else
	return false;
#endif
}

/*
 * May the pages of source vma @svma be mapped by the batched PTE path? Only
 * where their memory type is known without a lookup: a vma that maps them
 * cached and holds nothing but anonymous, page-cache and hugetlb pages (no
 * VM_MIXEDMAP driver mapping, whose pages may have another memory type).
 * The folio test follows for each page in xpmem_set_pte().
 */
static bool xpmem_src_batchable(struct vm_area_struct *svma)
{
	return !(svma->vm_flags & (VM_MIXEDMAP | VM_IO | VM_PFNMAP)) &&
	       xpmem_prot_cached(svma->vm_page_prot);
}

struct xpmem_pte_batch {
	struct vm_area_struct *vma;
	unsigned long start;		/* attacher address of pfns[0] */
	const unsigned long *pfns;
	unsigned long *done;		/* bitmap: installed, or not to be */
	pgprot_t prot_rw, prot_ro;
	bool write, want_write;
	unsigned int mapped;
};

/*
 * apply_to_page_range() callback, under the PTE lock, for every entry of
 * the window (a none one too): install the window's page at @addr as
 * vmf_insert_pfn_prot() would, a special PTE of the pfn with the vma's
 * protection, without its per-page memory type lookup and lock round trip.
 * The lookup would answer write-back: the page is RAM (no ZONE_DEVICE
 * memory) that the core maps through a write-back source vma, and
 * pfn_modify_allowed() allows any valid pfn. The PTE is already young (and
 * dirty if writable) so that the first access needs no accessed/dirty-bit
 * update. A present entry is left alone, as insert_pfn() does.
 */
static int xpmem_set_pte(pte_t *pte, unsigned long addr, void *data)
{
	struct xpmem_pte_batch *b = data;
	unsigned long i = (addr - b->start) >> PAGE_SHIFT;
	unsigned long hpfn = b->pfns[i];
	bool writable = (hpfn & HMM_PFN_WRITE) && b->want_write;
	struct page *page;
	struct folio *folio;
	pte_t entry;

	if (!xpmem_hpfn_mappable(hpfn, b->write)) {
		__set_bit(i, b->done);
		return 0;
	}
	page = hmm_pfn_to_page(hpfn);
	folio = page_folio(page);
	if (is_zone_device_page(page) ||
	    (!folio_test_anon(folio) && !folio_test_hugetlb(folio) &&
	     !READ_ONCE(folio->mapping)))
		return 0;	/* left to vmf_insert_pfn_prot() */
	__set_bit(i, b->done);
	if (!pte_none(ptep_get(pte)))
		return 0;	/* a racing fault was first */
	entry = pte_mkspecial(pfn_pte(hpfn & ~HMM_PFN_FLAGS,
				      writable ? b->prot_rw : b->prot_ro));
	entry = pte_mkyoung(entry);
	if (writable)
		entry = pte_mkdirty(entry);
	set_pte_at(b->vma->vm_mm, addr, pte, entry);
	update_mmu_cache(b->vma, addr, pte);
	b->mapped++;
	return 0;
}

/*
 * The page-by-page pass of xpmem_map_window(): every page of @w the batched
 * pass @b did not set (b->done) goes through vmf_insert_pfn_prot(); the
 * writable ones it set are dirtied. Return: the PTEs installed; *@ret is
 * the touched page's result if it could not be mapped.
 */
static unsigned int xpmem_map_pages(const struct xpmem_window_calc *w,
				    const struct xpmem_pte_batch *b,
				    vm_fault_t *ret)
{
	unsigned int mapped = 0;
	unsigned long i;

	for (i = 0; i < w->n; i++) {
		unsigned long hpfn = b->pfns[i];
		bool writable = (hpfn & HMM_PFN_WRITE) && b->want_write;
		struct page *page;
		vm_fault_t r;

		if (test_bit(i, b->done)) {
			if (writable && xpmem_hpfn_mappable(hpfn, b->write)) {
				/* writes through the attachment bypass the
				 * source PTE
				 */
				page = hmm_pfn_to_page(hpfn);
				if (!PageDirty(page))
					set_page_dirty(page);
			}
			continue;
		}
		if (!xpmem_hpfn_mappable(hpfn, b->write))
			continue;
		page = hmm_pfn_to_page(hpfn);
		r = vmf_insert_pfn_prot(b->vma, w->wstart + (i << PAGE_SHIFT),
					page_to_pfn(page),
					writable ? b->prot_rw : b->prot_ro);
		if (r != VM_FAULT_NOPAGE) {
			if (i == w->idx)
				*ret = r;
			continue;
		}
		if (writable && !PageDirty(page))
			set_page_dirty(page);
		mapped++;
	}
	return mapped;
}

/**
 * xpmem_map_window() - install the PTEs of a fault window
 * @vmf: the fault
 * @w: the window
 * @pfns: hmm_range_fault() answers, w->n of them
 * @write: write access was asked for (read-only sources pages are skipped)
 * @batch: the source vma allows xpmem_src_batchable()
 * @ret: set to the result for the touched page if it could not be mapped
 * @batched: set to the number of PTEs the batched pass installed
 *
 * Caller: seg->lock held and the notifier sequence of @pfns still valid.
 * Pages of cached anonymous/page-cache/hugetlb folios are set in one pass
 * under one PTE lock; any other page goes through vmf_insert_pfn_prot().
 *
 * Return: the number of PTEs installed.
 */
static unsigned int xpmem_map_window(struct vm_fault *vmf,
				     struct xpmem_window_calc *w,
				     const unsigned long *pfns, bool write,
				     bool batch, vm_fault_t *ret,
				     unsigned int *batched)
{
	struct vm_area_struct *vma = vmf->vma;
	DECLARE_BITMAP(done, XPMEM_MAX_LOCAL_WINDOW);
	bool want_write = vma->vm_flags & VM_WRITE;
	struct xpmem_pte_batch b = {
		.vma = vma,
		.start = w->wstart,
		.pfns = pfns,
		.done = done,
		.prot_rw = xpmem_prot(vma, true),
		.prot_ro = xpmem_prot(vma, false),
		.write = write,
		.want_write = want_write,
	};
	struct xpmem_att *att = vma->vm_private_data;

	lockdep_assert_held(&att->seg->lock);
	xpmem_mmap_assert_locked(vma->vm_mm);
	/* A racing fault mapped the PMD: the refault finds it. */
	if (!xpmem_pmd_is_table(vmf->pmd)) {
		*batched = 0;
		*ret = VM_FAULT_NOPAGE;
		return 0;
	}
	bitmap_zero(done, w->n);
	/*
	 * apply_to_existing_page_range() would not do: it calls back for
	 * present entries only (and modules lost it in 7.3).
	 */
	if (batch && xpmem_prot_cached(b.prot_rw) &&
	    xpmem_prot_cached(b.prot_ro) && xpmem_pmd_is_table(vmf->pmd))
		apply_to_page_range(vma->vm_mm, w->wstart,
				    w->wend - w->wstart, xpmem_set_pte, &b);
	*batched = b.mapped;
	return b.mapped + xpmem_map_pages(w, &b, ret);
}

/* One local fault's state through its steps (xpmem_local_fault()). */
struct xpmem_lfault {
	struct vm_fault *vmf;
	struct xpmem_att *att;
	struct xpmem_seg *seg;
	struct mm_struct *src_mm;
	unsigned long addr;		/* the touched page */
	unsigned long *pfns;		/* the window's hmm answers */
	unsigned long nwin;		/* room in pfns */
	struct xpmem_window_calc w;
	struct hmm_range range;
	bool same_mm, want_write, store, mkwrite, huge;
	bool write, batch;
	unsigned int rounds;
	/* the reason counted if the fault fails (VM_FAULT_SIGBUS or _OOM) */
	enum xpmem_fail_reason why;
	int err;
};

/*
 * The start of each round: 0 to go on, or the fault's result (killed, or
 * the attacher's mmap writers let in after XPMEM_FAULT_ROUNDS rounds).
 */
static vm_fault_t xpmem_lfault_round(struct xpmem_lfault *f)
{
	struct vm_fault *vmf = f->vmf;

	f->err = 0;
	if (fatal_signal_pending(current)) {
		f->why = XPMEM_FAIL_fault_killed;
		f->err = -EINTR;
		return VM_FAULT_SIGBUS;
	}
	/*
	 * An exporter invalidating the range over and over keeps us here:
	 * after a few rounds let the attacher's mmap writers in.
	 */
	if (++f->rounds > XPMEM_FAULT_ROUNDS) {
		if (f->mkwrite)
			return VM_FAULT_NOPAGE;	/* the page faults again */
		if (vmf->flags & FAULT_FLAG_ALLOW_RETRY) {
			if (!(vmf->flags & FAULT_FLAG_RETRY_NOWAIT))
				mmap_read_unlock(vmf->vma->vm_mm);
			return VM_FAULT_RETRY;
		}
	}
	return 0;
}

/* Another mm's source: its mmap_lock (0), or the fault's result. */
static vm_fault_t xpmem_lfault_lock_src(struct xpmem_lfault *f)
{
	vm_fault_t ret;

	/*
	 * From pfn_mkwrite the mmap_lock cannot be dropped: on
	 * contention let the (zapped) page fault again.
	 */
	if (f->mkwrite)
		ret = mmap_read_trylock(f->src_mm) ? 0 : VM_FAULT_NOPAGE;
	else
		ret = xpmem_lock_source(f->vmf, f->src_mm);
	/* SIGBUS: killed, or the lock not had in time */
	if (ret)
		f->why = fatal_signal_pending(current) ?
			 XPMEM_FAIL_fault_killed : XPMEM_FAIL_fault_src_lock;
	return ret;
}

/*
 * Under the source's mmap_lock: the window (one page for a PMD attempt)
 * and its hmm answers in f->pfns; f->err says how that went.
 */
static void xpmem_lfault_source(struct xpmem_lfault *f)
{
	struct vm_area_struct *vma = f->vmf->vma;
	struct vm_area_struct *svma;

	svma = vma_lookup(f->src_mm, xpmem_src_of(vma, f->att, f->addr));
	if (!svma || !xpmem_vma_exportable(svma)) {
		f->err = -EFAULT;
		f->why = XPMEM_FAIL_fault_no_source;
		return;
	}
	f->why = XPMEM_FAIL_fault_source_error;
	if (f->huge) {
		/* the touched page; its map order tells the rest */
		f->w.wstart = f->addr;
		f->w.wend = f->addr + PAGE_SIZE;
		f->w.src = xpmem_src_of(vma, f->att, f->addr);
		f->w.n = 1;
		f->w.idx = 0;
	} else {
		xpmem_fault_window_calc(vma, svma, f->att, f->addr, f->nwin,
					&f->w);
	}
	f->batch = xpmem_src_batchable(svma);
	/*
	 * A load does not ask for write access where the source
	 * write-protects pages with userfaultfd: hmm_range_fault()
	 * cannot wait for the handler, the write fault would fail.
	 */
	f->write = f->want_write && (svma->vm_flags & VM_WRITE) &&
		   (f->store || !userfaultfd_wp(svma));
	f->range.start = f->w.src;
	f->range.end = f->w.src + (f->w.n << PAGE_SHIFT);
	f->err = f->store && !f->write ? -EACCES :
		 xpmem_hmm_window(&f->range, f->w.idx, f->write);
	/*
	 * A load where the source cannot take a write fault now
	 * (uffd write-protect, no memory for the COW copy): map it
	 * read-only; a store then goes through pfn_mkwrite.
	 */
	if (f->err && f->err != -EBUSY && f->write && !f->store) {
		f->write = false;
		f->err = xpmem_hmm_window(&f->range, f->w.idx, false);
	}
}

/* The result of a fault whose source lookup failed with f->err. */
static vm_fault_t xpmem_lfault_error(struct xpmem_lfault *f)
{
	int err = f->err;

	if (err == -ENOMEM)
		f->why = XPMEM_FAIL_fault_nomem;
	else if (err == -EACCES)
		f->why = XPMEM_FAIL_fault_readonly;
	/* a PMD attempt leaves errors to the PTE path */
	return f->huge ? VM_FAULT_FALLBACK :
	       err == -EAGAIN ? VM_FAULT_NOPAGE :
	       err == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
}

/*
 * Map what the round found, under seg->lock, unless an invalidation ran
 * since (*@again). *@mapped: the pages mapped. Return: the fault's result.
 */
static vm_fault_t xpmem_lfault_install(struct xpmem_lfault *f,
				       unsigned int *mapped, bool *again)
{
	struct xpmem_seg *seg = f->seg;
	unsigned int batched;
	vm_fault_t ret;

	*again = false;
	mutex_lock(&seg->lock);
	if (f->att->dead || seg->dead) {
		mutex_unlock(&seg->lock);
		f->why = XPMEM_FAIL_fault_dead;
		return VM_FAULT_SIGBUS;
	}
	if (mmu_interval_read_retry(&seg->notifier, f->range.notifier_seq)) {
		mutex_unlock(&seg->lock);
		*again = true;
		return 0;
	}
	f->why = XPMEM_FAIL_fault_insert;
	if (f->huge) {
		ret = xpmem_insert_pmd(f->vmf, f->pfns[0], f->w.src, f->write,
				       f->want_write);
		mutex_unlock(&seg->lock);
		if (ret == VM_FAULT_NOPAGE) {
			atomic64_inc(&seg->nr_faults);
			atomic64_inc(&seg->nr_pmd_mapped);
			*mapped = PTRS_PER_PMD;
		}
		return ret;
	}
	ret = VM_FAULT_NOPAGE;
	*mapped = xpmem_map_window(f->vmf, &f->w, f->pfns, f->write, f->batch,
				   &ret, &batched);
	mutex_unlock(&seg->lock);
	atomic64_add(batched, &seg->nr_batched);
	return ret;
}

/* f->pfns: room for @room on the stack; a larger window is allocated. */
static void xpmem_lfault_pfns(struct xpmem_lfault *f, unsigned long room)
{
	unsigned long *stack_pfns = f->pfns;

	/* a window larger than the stack's; without memory, the stack's */
	if (f->nwin > room) {
		f->pfns = kmalloc_array(f->nwin, sizeof(*f->pfns), GFP_KERNEL);
		if (!f->pfns) {
			f->pfns = stack_pfns;
			f->nwin = room;
		}
	}
	f->range.hmm_pfns = f->pfns;
}

/*
 * The rounds of a local fault, until one maps what it found (or fails):
 * *@mapped pages. Return: the fault's result.
 */
static vm_fault_t xpmem_lfault_run(struct xpmem_lfault *f,
				   unsigned int *mapped)
{
	struct vm_fault *vmf = f->vmf;
	bool again;
	vm_fault_t ret;

	do {
		ret = xpmem_lfault_round(f);
		if (ret)
			break;
		f->range.notifier_seq =
			mmu_interval_read_begin(&f->seg->notifier);
		if (!f->same_mm) {
			ret = xpmem_lfault_lock_src(f);
			if (ret)
				break;
		}
		xpmem_lfault_source(f);
		if (!f->same_mm)
			mmap_read_unlock(f->src_mm);
		if (f->err == -EBUSY) {
			cond_resched();
			again = true;
			continue;
		}
		if (!f->err && !f->huge)
			f->err = xpmem_prealloc_ptes(vmf->vma, vmf->pmd,
						     f->w.wstart, f->w.wend);
		if (f->err) {
			ret = xpmem_lfault_error(f);
			break;
		}
		ret = xpmem_lfault_install(f, mapped, &again);
	} while (again);
	return ret;
}

/*
 * Fault on a local attachment, in rounds: each one looks the source up
 * (xpmem_lfault_source()) and maps what it found unless an invalidation ran
 * meanwhile (xpmem_lfault_install()).
 *
 * A writable attachment (the vma has VM_WRITE) asks for write access on
 * every fault, read or write, as the classic module does: the source breaks
 * COW or replaces the zero page first, and the attacher gets a writable PTE.
 * Otherwise a store after a load-installed read-only PTE would have to clear
 * it and refault; an instruction that the CPU (or an emulator) retries as a
 * load would never complete. A read-only PTE in a writable vma therefore
 * only maps a source vma without VM_WRITE, and a store to it fails
 * (xpmem_pfn_mkwrite()).
 */
static vm_fault_t xpmem_local_fault(struct vm_fault *vmf, struct xpmem_att *att,
				    bool mkwrite, bool huge)
{
	struct vm_area_struct *vma = vmf->vma;
	struct xpmem_seg *seg = att->seg;
	unsigned long stack_pfns[XPMEM_MAX_FAULT_WINDOW];
	struct xpmem_lfault f = {
		.vmf = vmf, .att = att, .seg = seg, .src_mm = seg->mm,
		.addr = vmf->address & PAGE_MASK, .pfns = stack_pfns,
		.nwin = huge ? 1 : clamp(READ_ONCE(xpmem_local_window), 1U,
					 (unsigned int)XPMEM_MAX_LOCAL_WINDOW),
		.range = { .notifier = &seg->notifier },
		.same_mm = seg->mm == vma->vm_mm,
		.want_write = vma->vm_flags & VM_WRITE,
		.store = mkwrite || (vmf->flags & FAULT_FLAG_WRITE),
		.mkwrite = mkwrite, .huge = huge,
		.why = XPMEM_FAIL_fault_insert,
	};
	unsigned int mapped = 0;
	vm_fault_t ret;

	/* ->fault, ->huge_fault and ->pfn_mkwrite get here with it only */
	xpmem_mmap_assert_locked(vma->vm_mm);
	f.w.src = xpmem_src_of(vma, att, f.addr);
	if (f.w.src < att->src_start || f.w.src >= att->src_end) {
		xpmem_fail(XPMEM_FAIL_fault_range, seg->segid, vmf->address,
			   -EFAULT);
		return VM_FAULT_SIGBUS;
	}
	if (!mmget_not_zero(f.src_mm)) {
		xpmem_fail(XPMEM_FAIL_fault_owner_gone, seg->segid,
			   vmf->address, -ENOENT);
		return VM_FAULT_SIGBUS;
	}
	xpmem_lfault_pfns(&f, ARRAY_SIZE(stack_pfns));
	/* The vma, and with it @att, may go once VM_FAULT_RETRY drops locks. */
	kref_get(&seg->kref);
	/* a PMD attempt counts as a fault only if it is not handed to PTEs */
	if (!huge)
		atomic64_inc(&seg->nr_faults);

	ret = xpmem_lfault_run(&f, &mapped);

	if (ret & (VM_FAULT_SIGBUS | VM_FAULT_OOM | VM_FAULT_SIGSEGV))
		xpmem_fail(f.why, seg->segid, vmf->address,
			   f.err ?: (ret & VM_FAULT_OOM ? -ENOMEM : -EFAULT));
	atomic64_add(mapped, &seg->nr_mapped);
	trace_xpmem_fault(seg->segid, vmf->address, f.w.src, mapped,
			  (__force int)ret);
	xpmem_seg_put(seg);
	mmput_async(f.src_mm);
	if (f.pfns != stack_pfns)
		kfree(f.pfns);
	return ret;
}

/**
 * xpmem_local_fault_pte() - a local segment's ->fault (struct xpmem_seg_ops)
 * @vmf: the fault
 * @att: its attachment, alive
 *
 * Return: as xpmem_local_fault().
 */
vm_fault_t xpmem_local_fault_pte(struct vm_fault *vmf, struct xpmem_att *att)
{
	return xpmem_local_fault(vmf, att, false, false);
}

/**
 * xpmem_local_mkwrite() - a local segment's ->mkwrite (struct xpmem_seg_ops)
 * @vmf: the store's fault
 * @att: its attachment, alive
 * @src: the source address (unused: the fault finds it again)
 *
 * The store is redone right here (xpmem_pfn_mkwrite()).
 *
 * Return: as xpmem_local_fault().
 */
vm_fault_t xpmem_local_mkwrite(struct vm_fault *vmf, struct xpmem_att *att,
			       unsigned long src)
{
	return xpmem_local_fault(vmf, att, true, false);
}

/*
 * Is @att or its segment gone? Then count the fault and fail it with
 * SIGBUS. seg->remote only picks the counter (data, not behaviour).
 */
static bool xpmem_fault_dead(struct xpmem_att *att, unsigned long addr)
{
	if (!READ_ONCE(att->dead) && !READ_ONCE(att->seg->dead))
		return false;
	xpmem_fail(att->seg->remote ? XPMEM_FAIL_rfault_dead :
		   XPMEM_FAIL_fault_dead, att->seg->segid, addr, -ENOENT);
	return true;
}

static vm_fault_t xpmem_fault(struct vm_fault *vmf)
{
	struct xpmem_att *att = vmf->vma->vm_private_data;

	if (xpmem_fault_dead(att, vmf->address))
		return VM_FAULT_SIGBUS;
	return att->seg->ops->fault(vmf, att);
}

#if XPMEM_PMD_MAPPINGS
/**
 * xpmem_local_fault_pmd() - a local segment's ->huge_fault (xpmem_seg_ops)
 * @vmf: the first fault in an empty PMD
 * @att: its attachment, alive, covering the PMD whole
 *
 * Return: as xpmem_local_fault().
 */
vm_fault_t xpmem_local_fault_pmd(struct vm_fault *vmf, struct xpmem_att *att)
{
	return xpmem_local_fault(vmf, att, false, true);
}

/* Zap the PMD at @haddr of attachment @vma under @seg's lock. */
static void xpmem_zap_pmd(struct vm_area_struct *vma, struct xpmem_seg *seg,
			  unsigned long haddr)
{
	unsigned long start = max(haddr, vma->vm_start);
	unsigned long end = min(haddr + PMD_SIZE, vma->vm_end);

	mutex_lock(&seg->lock);
	xpmem_zap_vma(vma, start, end - start);
	mutex_unlock(&seg->lock);
}

/*
 * First fault in an empty PMD of an attachment (the core calls this only
 * there, or on a store to a read-only PMD): map the source's huge page with
 * one PMD if the vma covers the whole 2 MiB, the source range does too at
 * the same alignment, and the source maps it huge (remote: the owner's
 * answer is one 2 MiB-aligned physical run, xpmem_remote_huge_fault());
 * otherwise count a fallback (pmd_fallbacks) and let the PTE path handle
 * the fault. A huge fault of another order (a PUD) falls back at once,
 * counted in other_fallbacks.
 */
static vm_fault_t xpmem_huge_fault(struct vm_fault *vmf, unsigned int order)
{
	struct vm_area_struct *vma = vmf->vma;
	struct xpmem_att *att = vma->vm_private_data;
	unsigned long haddr = vmf->address & PMD_MASK;
	unsigned long hsrc = xpmem_src_of(vma, att, haddr);
	vm_fault_t ret = VM_FAULT_FALLBACK;

	/* Only PMDs map huge: another order (a PUD) falls back, counted. */
	if (order != PMD_ORDER) {
		atomic64_inc(&att->seg->nr_order_fallback);
		return VM_FAULT_FALLBACK;
	}
	if (xpmem_fault_dead(att, vmf->address))
		return VM_FAULT_SIGBUS;
	/*
	 * The core calls ->huge_fault under the per-vma lock too (->fault
	 * only under the mmap_lock, which the source lookup and the retry
	 * logic need): drop it and let the fault come back with the
	 * mmap_lock, as the core does for ->fault.
	 */
	if (vmf->flags & FAULT_FLAG_VMA_LOCK) {
		release_fault_lock(vmf);
		return VM_FAULT_RETRY;
	}
	/*
	 * A store to a read-only PMD: zap it here, under seg->lock, and let
	 * the PTE path decide (pfn_mkwrite rules); the core's split then
	 * finds nothing. Left to the core, the split could clear the PMD
	 * between xpmem_insert_pmd()'s read-only insert and its upgrade, a
	 * racing PTE fault could put a page table there, and the upgrade
	 * would WARN on it.
	 */
	if (!pmd_none(pmdp_get_lockless(vmf->pmd))) {
		xpmem_zap_pmd(vma, att->seg, haddr);
		return VM_FAULT_FALLBACK;
	}
	if (haddr >= vma->vm_start && haddr + PMD_SIZE <= vma->vm_end &&
	    IS_ALIGNED(hsrc, PMD_SIZE) && hsrc >= att->src_start &&
	    hsrc + PMD_SIZE <= att->src_end)
		ret = att->seg->ops->huge_fault(vmf, att);
	if (ret & VM_FAULT_FALLBACK)
		atomic64_inc(&att->seg->nr_pmd_fallback);
	return ret;
}
#endif

/*
 * Is the PTE at @addr still present and read-only? (PTE lock taken inside;
 * called from pfn_mkwrite, under the mmap_lock)
 */
static bool xpmem_pte_readonly(struct vm_area_struct *vma, unsigned long addr)
{
	struct follow_pfnmap_args args = { .vma = vma, .address = addr };
	bool ro;

	if (follow_pfnmap_start(&args))
		return false;
	ro = !args.writable;
	follow_pfnmap_end(&args);
	return ro;
}

/*
 * Store to a read-only PTE of a writable attachment. The fault paths map a
 * writable source page writable, so this PTE maps a source the owner has
 * made read-only, or the attacher's own mprotect() left it read-only. Drop
 * it and redo the fault as a store right here, so that the next attempt of
 * the instruction finds a writable PTE (or the store fails because the
 * source is read-only) whether the CPU retries it as a load or a store.
 * Remote: the store is noted for the refault of this page, which asks the
 * owner for write access.
 */
static vm_fault_t xpmem_pfn_mkwrite(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct xpmem_att *att = vma->vm_private_data;
	struct xpmem_seg *seg = att->seg;
	unsigned long addr = vmf->address & PAGE_MASK;

	if (!xpmem_pte_readonly(vma, addr))
		return VM_FAULT_NOPAGE;
	if (xpmem_fault_dead(att, vmf->address))
		return VM_FAULT_SIGBUS;
	xpmem_zap_vma(vma, addr, PAGE_SIZE);
	return seg->ops->mkwrite(vmf, att, xpmem_src_of(vma, att, addr));
}

static const struct vm_operations_struct xpmem_vm_ops = {
	.open		= xpmem_vm_open,
	.close		= xpmem_vm_close,
	.fault		= xpmem_fault,
#if XPMEM_PMD_MAPPINGS
	.huge_fault	= xpmem_huge_fault,
#endif
	.pfn_mkwrite	= xpmem_pfn_mkwrite,
};

#ifdef CONFIG_X86
/* Names of the cache modes a PTE's PAT/PCD/PWT bits select, as PAT says. */
static const struct {
	enum page_cache_mode pcm;
	const char *name;
} xpmem_memtypes[] = {
	/* UC- before WC: without PAT, "WC" is UC-'s bits */
	{ _PAGE_CACHE_MODE_WB, "WB" },
	{ _PAGE_CACHE_MODE_UC_MINUS, "UC-" },
	{ _PAGE_CACHE_MODE_UC, "UC" },
	{ _PAGE_CACHE_MODE_WC, "WC" },
	{ _PAGE_CACHE_MODE_WT, "WT" },
	{ _PAGE_CACHE_MODE_WP, "WP" },
};

/*
 * The PMD leaf that maps @addr of @mm, or an empty entry. A lockless read
 * for statistics: the page tables above it stay while the mmap_lock is held.
 */
static pmd_t xpmem_pmd_leaf(struct mm_struct *mm, unsigned long addr)
{
	pgd_t *pgd = pgd_offset(mm, addr);
	p4d_t *p4d;
	pud_t *pud, pudv;
	pmd_t pmd;

	if (pgd_none(READ_ONCE(*pgd)) || pgd_bad(READ_ONCE(*pgd)))
		return __pmd(0);
	p4d = p4d_offset(pgd, addr);
	if (p4d_none(READ_ONCE(*p4d)) || p4d_bad(READ_ONCE(*p4d)))
		return __pmd(0);
	pud = pud_offset(p4d, addr);
	pudv = READ_ONCE(*pud);
	if (pud_none(pudv) || pud_leaf(pudv) || pud_bad(pudv))
		return __pmd(0);
	pmd = pmdp_get_lockless(pmd_offset(pud, addr));
	return pmd_present(pmd) && pmd_leaf(pmd) ? pmd : __pmd(0);
}

/**
 * xpmem_show_memtypes() - memory types of the reader's attachment PTEs
 * @m: seq_file of debugfs "memtype"
 *
 * One line per attachment vma of the reading process: its range, the pages
 * mapped, and how many of them each cache mode maps. A PMD leaf counts for
 * each of its pages in the vma; its PAT bit is bit 12, not 7 (that is PSE).
 */
void xpmem_show_memtypes(struct seq_file *m)
{
	VMA_ITERATOR(vmi, current->mm, 0);
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	unsigned long addr, next, other, present;
	unsigned long count[ARRAY_SIZE(xpmem_memtypes)];
	unsigned int j;

	if (!mm || mmap_read_lock_killable(mm))
		return;
	for_each_vma(vmi, vma) {
		if (vma->vm_ops != &xpmem_vm_ops)
			continue;
		memset(count, 0, sizeof(count));
		other = 0;
		present = 0;
		for (addr = vma->vm_start; addr < vma->vm_end; addr = next) {
			struct follow_pfnmap_args args = {
				.vma = vma, .address = addr,
			};
			pmd_t pmd = xpmem_pmd_leaf(mm, addr);
			unsigned long bits, n = 1;

			next = addr + PAGE_SIZE;
			if (pmd_val(pmd)) {
				next = min((addr & PMD_MASK) + PMD_SIZE,
					   vma->vm_end);
				n = (next - addr) >> PAGE_SHIFT;
				bits = protval_large_2_4k(pmd_flags(pmd)) &
				       _PAGE_CACHE_MASK;
			} else {
				if (follow_pfnmap_start(&args))
					continue;
				bits = pgprot_val(args.pgprot) &
				       _PAGE_CACHE_MASK;
				follow_pfnmap_end(&args);
			}
			present += n;
			for (j = 0; j < ARRAY_SIZE(xpmem_memtypes); j++) {
				if (bits ==
				    cachemode2protval(xpmem_memtypes[j].pcm)) {
					count[j] += n;
					break;
				}
			}
			if (j == ARRAY_SIZE(xpmem_memtypes))
				other += n;
			if (fatal_signal_pending(current))
				break;
		}
		seq_printf(m, "%lx-%lx present %lu", vma->vm_start,
			   vma->vm_end, present);
		for (j = 0; j < ARRAY_SIZE(xpmem_memtypes); j++)
			seq_printf(m, " %s %lu", xpmem_memtypes[j].name,
				   count[j]);
		seq_printf(m, " other %lu\n", other);
	}
	mmap_read_unlock(mm);
}
#else
/* No cache modes to tell apart off x86: nothing to show. */
void xpmem_show_memtypes(struct seq_file *m)
{
}
#endif
