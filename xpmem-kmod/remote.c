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

	if (z->flags & ~XPMEM_CHAN_ZAP_ALL)
		return -EINVAL;
	if (z->flags & XPMEM_CHAN_ZAP_ALL) {
		xpmem_rsegs_zap(true, 0, true, 0, 0, ULONG_MAX);
		return 0;
	}
	if (z->owner > XPMEM_ID_NODE_MAX || z->segid <= 0 || !z->len ||
	    check_add_overflow(z->start, z->len, &end))
		return -EINVAL;
	xpmem_rsegs_zap(false, z->owner, false, z->segid, z->start, end);
	return 0;
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
 * *@segp is a new remote segment (one reference).
 */
int xpmem_remote_get(s64 segid, int flags, struct xpmem_seg **segp)
{
	struct xpmem_chan_get_reply *rep;
	struct xpmem_chan_get *g;
	struct xpmem_chan_hdr *h;
	struct xpmem_seg *seg;
	u64 seq, size;
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
	xpmem_chan_free(reply);
	if (err > 0 || err < -MAX_ERRNO)
		return -EIO;
	if (err)
		return err;
	if (!size || !PAGE_ALIGNED(size) || size > TASK_SIZE)
		return -EIO;

	seg = xpmem_seg_alloc();
	if (!seg)
		return -ENOMEM;
	seg->remote = true;
	seg->segid = segid;
	seg->owner = xpmem_segid_node(segid);
	seg->start = 0;
	seg->end = size;
	mutex_lock(&xpmem_rseg_mutex);
	list_add_tail(&seg->rseg_node, &xpmem_rsegs);
	mutex_unlock(&xpmem_rseg_mutex);
	*segp = seg;
	return 0;
}

/*
 * Fault on an attachment of a remote segment. The attacher's mmap_lock is
 * held (read) while the daemon answers; nothing the daemon's requests need
 * is held. A ZAP between the request and the insertion bumps zap_seq and
 * the fault is retried.
 */
vm_fault_t xpmem_remote_fault(struct vm_fault *vmf, struct xpmem_att *att)
{
	struct vm_area_struct *vma = vmf->vma;
	struct xpmem_seg *seg = att->seg;
	bool write = vmf->flags & FAULT_FLAG_WRITE;
	unsigned long addr = vmf->address & PAGE_MASK;
	struct xpmem_chan_remote_fault *rf;
	unsigned long off, n, left, va;
	struct xpmem_chan_frames *fr;
	u64 base, wsize, zseq, seq, p;
	unsigned int noreclaim, i;
	vm_fault_t ret, r;
	struct xpmem_chan_hdr *h;
	pgprot_t prot;
	void *reply;
	int err;

	if (READ_ONCE(att->dead))
		return VM_FAULT_SIGBUS;
	if (!xpmem_window_get(seg->owner, &base, &wsize))
		return VM_FAULT_SIGBUS;
	off = att->src_start + ((vma->vm_pgoff - att->pgoff) << PAGE_SHIFT) +
	      (addr - vma->vm_start);
	if (off < att->src_start || off >= att->src_end)
		return VM_FAULT_SIGBUS;
	n = clamp(READ_ONCE(xpmem_fault_window), 1U,
		  (unsigned int)XPMEM_MAX_FAULT_WINDOW);
	n = min(n, (vma->vm_end - addr) >> PAGE_SHIFT);
	n = min(n, (att->src_end - off) >> PAGE_SHIFT);

	mutex_lock(&seg->lock);
	zseq = seg->zap_seq;
	mutex_unlock(&seg->lock);

	seq = xpmem_chan_next_seq();
	h = xpmem_chan_alloc(XPMEM_CHAN_REMOTE_FAULT, sizeof(*rf), seq);
	if (!h)
		return VM_FAULT_OOM;
	rf = XPMEM_CHAN_BODY(h);
	rf->segid = seg->segid;
	rf->start = off;
	rf->len = n << PAGE_SHIFT;
	rf->owner = seg->owner;
	rf->access = XPMEM_CHAN_ACCESS_READ |
		     (write ? XPMEM_CHAN_ACCESS_WRITE : 0);
	atomic64_inc(&seg->nr_faults);
	err = xpmem_chan_call(h, XPMEM_CHAN_FAULT_REPLY, seq,
			      READ_ONCE(xpmem_remote_timeout_ms), true, &reply);
	if (err == -EINTR)
		return VM_FAULT_NOPAGE;	/* dying anyway */
	if (err)
		return VM_FAULT_SIGBUS;
	fr = XPMEM_CHAN_BODY(reply);
	if (fr->error == -EAGAIN) {
		ret = VM_FAULT_NOPAGE;	/* refault */
		goto out;
	}
	ret = VM_FAULT_SIGBUS;
	if (fr->error || !fr->nextents)
		goto out;
	for (i = 0; i < fr->nextents; i++) {
		struct xpmem_chan_extent *e = &fr->extents[i];

		if (!e->len || !PAGE_ALIGNED(e->phys) || !PAGE_ALIGNED(e->len) ||
		    e->phys >= wsize || e->len > wsize - e->phys)
			goto out;
	}

	prot = vm_get_page_prot(write ? vma->vm_flags :
				vma->vm_flags & ~VM_WRITE);
	mutex_lock(&seg->lock);
	if (att->dead || seg->zap_seq != zseq) {
		mutex_unlock(&seg->lock);
		ret = VM_FAULT_NOPAGE;
		goto out;
	}
	noreclaim = memalloc_noreclaim_save();
	va = addr;
	left = n;
	for (i = 0; i < fr->nextents && left; i++) {
		struct xpmem_chan_extent *e = &fr->extents[i];

		for (p = 0; p < e->len && left; p += PAGE_SIZE) {
			r = vmf_insert_pfn_prot(vma, va,
						(base + e->phys + p) >> PAGE_SHIFT,
						prot);
			if (va == addr)
				ret = r;
			else if (r == VM_FAULT_NOPAGE)
				atomic64_inc(&seg->nr_mapped);
			va += PAGE_SIZE;
			left--;
		}
	}
	if (ret == VM_FAULT_NOPAGE)
		atomic64_inc(&seg->nr_mapped);
	memalloc_noreclaim_restore(noreclaim);
	mutex_unlock(&seg->lock);
out:
	xpmem_chan_free(reply);
	return ret;
}
