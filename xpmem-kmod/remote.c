// SPDX-License-Identifier: GPL-2.0
/*
 * Importer side of cross-partition attach: remote segments (xpmem_get of a
 * segid owned by another node), their fault handler, ZAP, peer windows.
 *
 * A remote segment is a struct xpmem_seg with remote set: [start, end) =
 * [0, size) are segment offsets, there is no mm and no notifier. Access
 * permits and attachments work on it as on a local segment; only the fault
 * differs: it asks the daemon (REMOTE_FAULT) for the owner's physical
 * extents and maps them through the owner's window with
 * vmf_insert_pfn_prot(). The owner revokes them with ZAP.
 */
#include <linux/cred.h>
#include <linux/ioport.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "xpmem_private.h"

/* Every remote segment, for ZAP. Lock order: xpmem_rseg_mutex -> seg->lock */
static struct lock_class_key xpmem_rseg_lock_key;
static DEFINE_MUTEX(xpmem_rseg_mutex);
static LIST_HEAD(xpmem_rsegs);

/* PEER_WINDOW: peer -> struct xpmem_window, RCU for the fault path. */
struct xpmem_window {
	struct rcu_head rcu;
	u64 base;
	u64 size;
};

static DEFINE_XARRAY(xpmem_windows);

static bool xpmem_window_get(u32 peer, u64 *base, u64 *size)
{
	struct xpmem_window *w;

	rcu_read_lock();
	w = xa_load(&xpmem_windows, peer);
	if (w) {
		*base = w->base;
		*size = w->size;
	}
	rcu_read_unlock();
	return w;
}

static void xpmem_rseg_zap(struct xpmem_seg *seg, unsigned long start,
			   unsigned long end)
{
	struct xpmem_zapper z;
	struct xpmem_att *att;

	mutex_lock(&seg->lock);
	seg->zap_seq++;
	seg->zaps[seg->zap_seq % XPMEM_ZAP_RING].seq = seg->zap_seq;
	seg->zaps[seg->zap_seq % XPMEM_ZAP_RING].start = start;
	seg->zaps[seg->zap_seq % XPMEM_ZAP_RING].end = end;
	xpmem_zapper_enter(&z);
	list_for_each_entry(att, &seg->atts, seg_node)
		xpmem_zap_att_range(att, start, end);
	xpmem_zapper_exit(&z);
	mutex_unlock(&seg->lock);
}

/* Drop this node's mappings of [start, end) of owner's segid (all: every). */
static void xpmem_rsegs_zap(bool all, u32 owner, bool any_segid, s64 segid,
			    unsigned long start, unsigned long end)
{
	struct xpmem_seg *seg;

	mutex_lock(&xpmem_rseg_mutex);
	list_for_each_entry(seg, &xpmem_rsegs, rseg_node) {
		if (!all && (seg->owner != owner ||
			     (!any_segid && seg->segid != segid)))
			continue;
		xpmem_rseg_zap(seg, start, end);
	}
	mutex_unlock(&xpmem_rseg_mutex);
}

int xpmem_remote_zap(const struct xpmem_chan_zap *z)
{
	u64 end;

	if (z->flags & ~(XPMEM_CHAN_ZAP_ALL | XPMEM_CHAN_ZAP_OWNER))
		return -EINVAL;
	if (z->flags & XPMEM_CHAN_ZAP_ALL) {
		xpmem_rsegs_zap(true, 0, true, 0, 0, ULONG_MAX);
		return 0;
	}
	if (z->flags & XPMEM_CHAN_ZAP_OWNER) {
		if (z->owner > XPMEM_ID_NODE_MAX)
			return -EINVAL;
		xpmem_remote_peer_reset(z->owner);
		return 0;
	}
	if (z->owner > XPMEM_ID_NODE_MAX || z->segid <= 0 || !z->len ||
	    check_add_overflow(z->start, z->len, &end))
		return -EINVAL;
	xpmem_rsegs_zap(false, z->owner, false, z->segid, z->start, end);
	return 0;
}

/**
 * xpmem_remote_peer_reset() - @peer died or runs a new incarnation
 * @peer: the owner node
 *
 * Its partition may have rebooted: the frames this node maps through its
 * window are then its new kernel's to reuse. Every mapping of its segments
 * goes (answers kept or in flight go stale with the zap); a later fault asks
 * the owner again, which a rebooted one (the segid unknown) refuses.
 */
void xpmem_remote_peer_reset(u32 peer)
{
	xpmem_rsegs_zap(false, peer, true, 0, 0, ULONG_MAX);
}

int xpmem_window_set(u32 peer, u64 base, u64 size)
{
	struct xpmem_window *w = NULL, *old;
	u64 end;

	if (peer > XPMEM_ID_NODE_MAX || !PAGE_ALIGNED(base) ||
	    !PAGE_ALIGNED(size) || check_add_overflow(base, size, &end) ||
	    end > BIT_ULL(52))
		return -EINVAL;
	/*
	 * A window is fabric memory (a CXL window, an ivshmem BAR): frames in
	 * it are mapped into user processes at the daemon's word. Local RAM
	 * is only accepted for loopback testing.
	 */
	if (size && !READ_ONCE(xpmem_ram_windows) &&
	    region_intersects(base, size, IORESOURCE_SYSTEM_RAM,
			      IORES_DESC_NONE) != REGION_DISJOINT)
		return -EPERM;
	if (size) {
		w = kmalloc(sizeof(*w), GFP_KERNEL);
		if (!w)
			return -ENOMEM;
		w->base = base;
		w->size = size;
		old = xa_store(&xpmem_windows, peer, w, GFP_KERNEL);
		if (xa_is_err(old)) {
			kfree(w);
			return xa_err(old);
		}
	} else {
		old = xa_erase(&xpmem_windows, peer);
	}
	/* Mappings made through the old window go. */
	if (old) {
		xpmem_rsegs_zap(false, peer, true, 0, 0, ULONG_MAX);
		kfree_rcu(old, rcu);
	}
	return 0;
}

void xpmem_windows_exit(void)
{
	struct xpmem_window *w;
	unsigned long idx;

	xa_for_each(&xpmem_windows, idx, w)
		kfree(w);
	xa_destroy(&xpmem_windows);
}

static void xpmem_rseg_free(struct kref *kref)
{
	struct xpmem_seg *seg = container_of(kref, struct xpmem_seg, kref);

	list_del(&seg->rseg_node);
	mutex_unlock(&xpmem_rseg_mutex);
	WARN_ON(!list_empty(&seg->atts));
	kfree(seg);
	atomic_dec(&xpmem_objects[XPMEM_OBJ_SEG]);
}

void xpmem_remote_put(struct xpmem_seg *seg)
{
	kref_put_mutex(&seg->kref, xpmem_rseg_free, &xpmem_rseg_mutex);
}

/*
 * xpmem_get of a segid owned by another node: the daemon asks the owner
 * (REMOTE_GET -> CHECK_GET there) with the caller's fsuid/fsgid. On success
 * *@segp is a new remote segment (one reference) holding the daemon
 * incarnation the owner granted the permit under, for its release, and the
 * owner kernel's instance, which every REMOTE_FAULT and release names.
 */
int xpmem_remote_get(s64 segid, int flags, struct xpmem_seg **segp)
{
	struct xpmem_chan_get_reply *rep;
	struct xpmem_chan_get *g;
	struct xpmem_chan_hdr *h;
	struct xpmem_seg *seg;
	u64 seq, size, inc, inst;
	void *reply;
	int err;

	if (!xpmem_chan_connected())
		return -ENOTCONN;
	seq = xpmem_chan_next_seq();
	h = xpmem_chan_alloc(XPMEM_CHAN_REMOTE_GET, sizeof(*g), seq);
	if (!h)
		return -ENOMEM;
	g = XPMEM_CHAN_BODY(h);
	g->segid = segid;
	g->node = xpmem_segid_node(segid);
	g->flags = flags;
	g->uid = from_kuid_munged(&init_user_ns, current_fsuid());
	g->gid = from_kgid_munged(&init_user_ns, current_fsgid());
	err = xpmem_chan_call(h, XPMEM_CHAN_REMOTE_GET_REPLY, seq,
			      READ_ONCE(xpmem_remote_timeout_ms), true, &reply);
	if (err)
		return err;
	rep = XPMEM_CHAN_BODY(reply);
	err = rep->error;
	size = rep->size;
	inc = rep->incarnation;
	inst = rep->owner_instance;
	xpmem_chan_free(reply);
	if (err > 0 || err < -MAX_ERRNO)
		return -EIO;
	if (err)
		return err;
	/* No owner instance: refaults would be refused; fail the get now. */
	if (!size || !PAGE_ALIGNED(size) || size > TASK_SIZE || !inst)
		return -EIO;

	seg = xpmem_seg_alloc();
	if (!seg)
		return -ENOMEM;
	/* Never taken in a notifier, unlike a local segment's lock. */
	lockdep_set_class(&seg->lock, &xpmem_rseg_lock_key);
	seg->remote = true;
	seg->segid = segid;
	seg->owner = xpmem_segid_node(segid);
	seg->incarnation = inc;
	seg->owner_instance = inst;
	seg->start = 0;
	seg->end = size;
	mutex_lock(&xpmem_rseg_mutex);
	list_add_tail(&seg->rseg_node, &xpmem_rsegs);
	mutex_unlock(&xpmem_rseg_mutex);
	*segp = seg;
	return 0;
}

/**
 * xpmem_remote_release() - tell the owner a permit on its segment is gone
 * @seg: the remote segment
 * @flags: the permit's XPMEM_RDONLY / XPMEM_RDWR
 *
 * REMOTE_RELEASE, a notification: the owner's kernel drops one permit of
 * this node's grant, of the daemon incarnation the permit was granted under
 * (a newer incarnation's permits are not this one's to give back). If it
 * cannot be sent (no daemon, no memory), the owner keeps the grant until
 * this node's daemon runs a new incarnation.
 */
void xpmem_remote_release(struct xpmem_seg *seg, int flags)
{
	struct xpmem_chan_release *rel;
	struct xpmem_chan_hdr *h;

	h = xpmem_chan_alloc(XPMEM_CHAN_REMOTE_RELEASE, sizeof(*rel),
			     xpmem_chan_next_seq());
	if (!h)
		return;
	rel = XPMEM_CHAN_BODY(h);
	rel->segid = seg->segid;
	rel->node = seg->owner;
	rel->flags = flags;
	rel->incarnation = seg->incarnation;
	rel->owner_instance = seg->owner_instance;
	xpmem_chan_post(h);
}

/*
 * A REMOTE_FAULT answer, kept on att->rfaults until the retried fault
 * installs it. zseq is the segment's zap_seq sampled before the request
 * (and before the window was read): a ZAP or window change since then makes
 * it stale.
 */
struct xpmem_rfault {
	struct list_head node;
	unsigned long off;		/* segment offset of the first page */
	unsigned long n;		/* pages */
	u64 zseq;
	bool writable;
	unsigned long pfns[];
};

/* Answers kept per attachment; the oldest goes first. */
#define XPMEM_MAX_RFAULTS	16

/*
 * Has a ZAP since @zseq covered segment offsets [start, end)? ZAPs of other
 * ranges do not make an answer stale, so an owner busy invalidating one
 * part of a segment cannot starve faults on another. Caller: seg->lock.
 */
static bool xpmem_rfault_stale(struct xpmem_seg *seg, unsigned long start,
			       unsigned long end, u64 zseq)
{
	u64 q;

	lockdep_assert_held(&seg->lock);
	if (seg->zap_seq - zseq > XPMEM_ZAP_RING)
		return true;	/* too many to tell */
	for (q = zseq + 1; q <= seg->zap_seq; q++) {
		typeof(seg->zaps[0]) *z = &seg->zaps[q % XPMEM_ZAP_RING];

		if (z->seq != q || (z->start < end && start < z->end))
			return true;
	}
	return false;
}

/**
 * xpmem_rfaults_free() - free the kept answers of an attachment being freed
 * @att: the attachment, unreachable by anyone else
 */
void xpmem_rfaults_free(struct xpmem_att *att)
{
	struct xpmem_rfault *rf, *t;

	list_for_each_entry_safe(rf, t, &att->rfaults, node)
		kfree(rf);
	INIT_LIST_HEAD(&att->rfaults);
	att->nr_rfaults = 0;
}

/**
 * xpmem_rfaults_drop() - forget the kept REMOTE_FAULT answers of @att
 * @att: an attachment of a remote segment; caller holds seg->lock
 */
void xpmem_rfaults_drop(struct xpmem_att *att)
{
	struct xpmem_rfault *rf, *t;

	lockdep_assert_held(&att->seg->lock);
	list_for_each_entry_safe(rf, t, &att->rfaults, node) {
		list_del(&rf->node);
		kfree(rf);
	}
	att->nr_rfaults = 0;
}

/*
 * Ask the owner for the frames of segment offsets [off, off + n pages).
 * Sleeps up to remote_timeout_ms; the caller holds no lock the daemon's
 * requests need. A writable request the owner refuses (-EACCES: its source
 * is read-only) is asked again read-only unless the access is a store.
 * Returns the answer (frames already translated through the window) or an
 * ERR_PTR; -EAGAIN and -EINTR mean "retry the access".
 */
static struct xpmem_rfault *xpmem_rfault_ask(struct xpmem_seg *seg,
					     unsigned long off, unsigned long n,
					     bool want_write, bool store,
					     u64 zseq)
{
	struct xpmem_chan_remote_fault *req;
	struct xpmem_chan_frames *fr;
	struct xpmem_rfault *rf;
	struct xpmem_chan_hdr *h;
	unsigned long left, i;
	u64 base, wsize, seq, p;
	bool write = want_write;
	void *reply;
	int err;

	/* After zseq: a window replaced from here on bumps zap_seq. */
	if (!xpmem_window_get(seg->owner, &base, &wsize))
		return ERR_PTR(-EFAULT);
again:
	seq = xpmem_chan_next_seq();
	h = xpmem_chan_alloc(XPMEM_CHAN_REMOTE_FAULT, sizeof(*req), seq);
	if (!h)
		return ERR_PTR(-ENOMEM);
	req = XPMEM_CHAN_BODY(h);
	req->segid = seg->segid;
	req->start = off;
	req->len = n << PAGE_SHIFT;
	req->owner = seg->owner;
	req->owner_instance = seg->owner_instance;
	req->access = XPMEM_CHAN_ACCESS_READ |
		      (write ? XPMEM_CHAN_ACCESS_WRITE : 0);
	atomic64_inc(&seg->nr_faults);
	err = xpmem_chan_call(h, XPMEM_CHAN_FAULT_REPLY, seq,
			      READ_ONCE(xpmem_remote_timeout_ms), true, &reply);
	if (err)
		return ERR_PTR(err == -EINTR ? -EINTR : -EIO);
	fr = XPMEM_CHAN_BODY(reply);
	err = fr->error;
	if (err == -EACCES && write && !store) {
		xpmem_chan_free(reply);
		write = false;
		goto again;
	}
	if (!err && !fr->nextents)
		err = -EIO;
	if (err)
		goto fail;
	err = -EIO;
	for (i = 0; i < fr->nextents; i++) {
		struct xpmem_chan_extent *e = &fr->extents[i];

		if (!e->len || !PAGE_ALIGNED(e->phys) || !PAGE_ALIGNED(e->len) ||
		    e->phys >= wsize || e->len > wsize - e->phys)
			goto fail;
	}
	err = -ENOMEM;
	rf = kzalloc(struct_size(rf, pfns, n), GFP_KERNEL_ACCOUNT);
	if (!rf)
		goto fail;
	rf->off = off;
	rf->zseq = zseq;
	rf->writable = write;
	left = n;
	for (i = 0; i < fr->nextents && left; i++) {
		struct xpmem_chan_extent *e = &fr->extents[i];

		for (p = 0; p < e->len && left; p += PAGE_SIZE, left--)
			rf->pfns[rf->n++] = (base + e->phys + p) >> PAGE_SHIFT;
	}
	xpmem_chan_free(reply);
	return rf;
fail:
	xpmem_chan_free(reply);
	if (err > 0 || err < -MAX_ERRNO)
		err = -EIO;
	return ERR_PTR(err);
}

/*
 * Map @rf at @addr (its first page) if no ZAP came since it was asked,
 * within [lo, hi) (the vma and PMD of @fault_addr, whose page table the
 * caller allocated). Caller: seg->lock. Returns the result for the page at
 * @fault_addr.
 */
static vm_fault_t xpmem_rfault_install(struct vm_area_struct *vma,
				       struct xpmem_att *att,
				       struct xpmem_rfault *rf,
				       unsigned long addr,
				       unsigned long fault_addr,
				       unsigned long lo, unsigned long hi)
{
	struct xpmem_seg *seg = att->seg;
	vm_fault_t ret = VM_FAULT_NOPAGE, r;
	unsigned long i, va;
	pgprot_t prot;

	lockdep_assert_held(&seg->lock);
	if (att->dead || seg->dead)
		return VM_FAULT_SIGBUS;
	if (xpmem_rfault_stale(seg, rf->off, rf->off + (rf->n << PAGE_SHIFT),
			       rf->zseq))
		return VM_FAULT_NOPAGE;		/* refault */
	prot = vm_get_page_prot(rf->writable ? vma->vm_flags :
				vma->vm_flags & ~VM_WRITE);
	for (i = 0, va = addr; i < rf->n && va < hi; i++, va += PAGE_SIZE) {
		if (va < lo)
			continue;
		r = vmf_insert_pfn_prot(vma, va, rf->pfns[i], prot);
		if (va == fault_addr)
			ret = r;
		if (r == VM_FAULT_NOPAGE)
			atomic64_inc(&seg->nr_mapped);
	}
	return ret;
}

/* Take the kept answer covering segment offset @off, if any. */
static struct xpmem_rfault *xpmem_rfault_take(struct xpmem_att *att,
					      unsigned long off, bool store)
{
	struct xpmem_rfault *rf, *t;

	list_for_each_entry_safe(rf, t, &att->rfaults, node) {
		if (off < rf->off || off >= rf->off + (rf->n << PAGE_SHIFT))
			continue;
		list_del(&rf->node);
		att->nr_rfaults--;
		if (store && !rf->writable) {
			kfree(rf);
			return NULL;
		}
		return rf;
	}
	return NULL;
}

static void xpmem_rfault_keep(struct xpmem_att *att, struct xpmem_rfault *rf)
{
	struct xpmem_rfault *old;

	if (att->nr_rfaults >= XPMEM_MAX_RFAULTS) {
		old = list_first_entry(&att->rfaults, struct xpmem_rfault,
				       node);
		list_del(&old->node);
		kfree(old);
		att->nr_rfaults--;
	}
	list_add_tail(&rf->node, &att->rfaults);
	att->nr_rfaults++;
}

/**
 * xpmem_remote_fault() - fault on an attachment of a remote segment
 * @vmf: the fault
 * @att: the attachment (vmf->vma's)
 *
 * The owner's frames come from the daemon, which may take a fabric round
 * trip. With FAULT_FLAG_ALLOW_RETRY the attacher's mmap_lock is dropped for
 * that wait (mmap writers of the attacher, which the owner's side may be
 * waiting on, proceed) and the answer is kept on the attachment for the
 * retried fault, which installs it if no ZAP came in between. Without it
 * (fixup_user_fault()), the wait holds the lock, bounded by
 * remote_timeout_ms.
 *
 * Writable attachments ask for write access on every fault, as local ones
 * do (see xpmem_local_fault()); a store after the owner granted a page
 * read-only fails.
 *
 * Return: VM_FAULT_NOPAGE, VM_FAULT_RETRY (lock dropped) or an error.
 */
vm_fault_t xpmem_remote_fault(struct vm_fault *vmf, struct xpmem_att *att)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_struct *mm = vma->vm_mm;
	struct xpmem_seg *seg = att->seg;
	bool want_write = vma->vm_flags & VM_WRITE;
	bool store = vmf->flags & FAULT_FLAG_WRITE;
	unsigned long addr = vmf->address & PAGE_MASK;
	bool may_drop = vmf->flags & FAULT_FLAG_ALLOW_RETRY;
	unsigned long off, n, lo, hi;
	struct xpmem_rfault *rf;
	vm_fault_t ret;
	u64 zseq;

	off = att->src_start + ((vma->vm_pgoff - att->pgoff) << PAGE_SHIFT) +
	      (addr - vma->vm_start);
	if (off < att->src_start || off >= att->src_end)
		return VM_FAULT_SIGBUS;
	n = clamp(READ_ONCE(xpmem_fault_window), 1U,
		  (unsigned int)XPMEM_MAX_FAULT_WINDOW);
	n = min(n, (vma->vm_end - addr) >> PAGE_SHIFT);
	n = min(n, (att->src_end - off) >> PAGE_SHIFT);
	lo = max(vma->vm_start, addr & PMD_MASK);
	hi = min(vma->vm_end, (addr & PMD_MASK) + PMD_SIZE);
	n = min(n, (hi - addr) >> PAGE_SHIFT);
	if (xpmem_prealloc_ptes(vma, vmf->pmd, lo, hi))
		return VM_FAULT_OOM;

	mutex_lock(&seg->lock);
	if (att->dead || seg->dead) {
		mutex_unlock(&seg->lock);
		return VM_FAULT_SIGBUS;
	}
	/* The request this fault was retried for failed (and still holds). */
	if (att->rfault_error == off + 1) {
		att->rfault_error = 0;
		if (!xpmem_rfault_stale(seg, off, off + PAGE_SIZE,
					att->rfault_error_zseq)) {
			mutex_unlock(&seg->lock);
			return VM_FAULT_SIGBUS;
		}
	}
	/* A store hit a read-only PTE here (xpmem_pfn_mkwrite()). */
	if (att->wr_intent == off + 1) {
		att->wr_intent = 0;
		store = true;
	}
	rf = xpmem_rfault_take(att, off, store);
	if (rf) {
		ret = xpmem_rfault_install(vma, att, rf,
					   addr - (off - rf->off), addr, lo, hi);
		mutex_unlock(&seg->lock);
		kfree(rf);
		return ret;
	}
	zseq = seg->zap_seq;
	mutex_unlock(&seg->lock);

	if (may_drop) {
		/* Not allowed to wait: let the caller come back. */
		if (vmf->flags & FAULT_FLAG_RETRY_NOWAIT)
			return VM_FAULT_RETRY;
		/* The vma may go while unlocked; @att and @seg may not. */
		xpmem_att_get(att);
		mmap_read_unlock(mm);
		rf = xpmem_rfault_ask(seg, off, n, want_write, store, zseq);
		if (!IS_ERR(rf)) {
			mutex_lock(&seg->lock);
			if (!att->dead && !seg->dead &&
			    !xpmem_rfault_stale(seg, off,
						off + (rf->n << PAGE_SHIFT),
						zseq)) {
				xpmem_rfault_keep(att, rf);
				rf = NULL;
			}
			mutex_unlock(&seg->lock);
			kfree(rf);
		} else if (PTR_ERR(rf) != -EINTR && PTR_ERR(rf) != -EAGAIN) {
			/* Retried with the error noted: the fault fails then. */
			mutex_lock(&seg->lock);
			att->rfault_error = off + 1;
			att->rfault_error_zseq = zseq;
			mutex_unlock(&seg->lock);
		}
		xpmem_att_put(att);
		return VM_FAULT_RETRY;
	}

	rf = xpmem_rfault_ask(seg, off, n, want_write, store, zseq);
	if (IS_ERR(rf)) {
		switch (PTR_ERR(rf)) {
		case -EINTR:
		case -EAGAIN:
			return VM_FAULT_NOPAGE;
		case -ENOMEM:
			return VM_FAULT_OOM;
		default:
			return VM_FAULT_SIGBUS;
		}
	}
	mutex_lock(&seg->lock);
	ret = xpmem_rfault_install(vma, att, rf, addr, addr, lo, hi);
	mutex_unlock(&seg->lock);
	kfree(rf);
	return ret;
}
