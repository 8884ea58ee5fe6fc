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
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "asserts.h"
#include "channel.h"
#include "invalidate.h"
#include "params.h"
#include "pgtable.h"
#include "remote.h"
#include "segment.h"
#include "stats.h"

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

/* What a remote segment does unlike a local one (end of this file). */
static const struct xpmem_seg_ops xpmem_remote_seg_ops;

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
	mutex_lock(&seg->lock);
	seg->zap_seq++;
	seg->zaps[seg->zap_seq % XPMEM_ZAP_RING].seq = seg->zap_seq;
	seg->zaps[seg->zap_seq % XPMEM_ZAP_RING].start = start;
	seg->zaps[seg->zap_seq % XPMEM_ZAP_RING].end = end;
	xpmem_zap_atts(seg, NULL, start, end, XPMEM_ZAP_EVERY);
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

/**
 * xpmem_remote_zap() - ZAP: drop this node's mappings of an owner's range
 * @z: the ZAP's body (fields not validated yet): every remote segment
 *	(XPMEM_CHAN_ZAP_ALL), every segment of @z->owner
 *	(XPMEM_CHAN_ZAP_OWNER, as xpmem_remote_peer_reset()), or the range
 *	[@z->start, +@z->len) of segment @z->segid of @z->owner
 *
 * Return: 0 or -EINVAL (bad fields, counted as zap_invalid).
 */
int xpmem_remote_zap(const struct xpmem_chan_zap *z)
{
	u64 end;

	if (z->flags & ~(XPMEM_CHAN_ZAP_ALL | XPMEM_CHAN_ZAP_OWNER))
		goto invalid;
	if (z->flags & XPMEM_CHAN_ZAP_ALL) {
		xpmem_rsegs_zap(true, 0, true, 0, 0, ULONG_MAX);
		return 0;
	}
	if (z->flags & XPMEM_CHAN_ZAP_OWNER) {
		if (z->owner > XPMEM_ID_NODE_MAX)
			goto invalid;
		xpmem_remote_peer_reset(z->owner);
		return 0;
	}
	if (z->owner > XPMEM_ID_NODE_MAX || z->segid <= 0 || !z->len ||
	    check_add_overflow(z->start, z->len, &end))
		goto invalid;
	xpmem_rsegs_zap(false, z->owner, false, z->segid, z->start, end);
	return 0;
invalid:
	xpmem_fail(XPMEM_FAIL_zap_invalid, z->segid, z->start, -EINVAL);
	return -EINVAL;
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

/**
 * xpmem_show_rsegs() - one line per remote segment, for debugfs "remote"
 * @m: the seq_file
 *
 * faults counts REMOTE_FAULT round trips (requests to the owner).
 */
void xpmem_show_rsegs(struct seq_file *m)
{
	struct xpmem_seg *seg;

	mutex_lock(&xpmem_rseg_mutex);
	list_for_each_entry(seg, &xpmem_rsegs, rseg_node)
		seq_printf(m, "0x%016llx %u 0x%lx %lld %lld %lld %lld %lld %lld\n",
			   seg->segid, seg->owner, seg->end,
			   (long long)atomic64_read(&seg->nr_faults),
			   (long long)atomic64_read(&seg->nr_mapped),
			   (long long)atomic64_read(&seg->nr_zapped),
			   (long long)atomic64_read(&seg->nr_pmd_mapped),
			   (long long)atomic64_read(&seg->nr_pmd_fallback),
			   (long long)atomic64_read(&seg->nr_order_fallback));
	mutex_unlock(&xpmem_rseg_mutex);
}

/**
 * xpmem_window_set() - PEER_WINDOW: where @peer's frames appear here
 * @peer: the owner node
 * @base: physical base of its window
 * @size: its size; 0 removes the window
 *
 * Mappings made through a window it replaces or removes are zapped. Local
 * RAM is refused unless the ram_windows parameter (testing) allows it.
 *
 * Return: 0, -EINVAL (bad fields), -EPERM (RAM) or -ENOMEM.
 */
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

/**
 * xpmem_windows_exit() - free every peer window at unload
 */
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

	/* kref_put_mutex() took it for the last reference */
	lockdep_assert_held(&xpmem_rseg_mutex);
	list_del(&seg->rseg_node);
	mutex_unlock(&xpmem_rseg_mutex);
	WARN_ON(!list_empty(&seg->atts));
	kfree(seg);
	atomic_dec(&xpmem_objects[XPMEM_OBJ_SEG]);
}

static void xpmem_remote_put(struct xpmem_seg *seg)
{
	kref_put_mutex(&seg->kref, xpmem_rseg_free, &xpmem_rseg_mutex);
}

/**
 * xpmem_remote_get() - xpmem_get of a segid owned by another node
 * @segid: the segment id; its node bits name the owner
 * @flags: XPMEM_RDONLY or XPMEM_RDWR
 * @segp: on 0, a new remote segment with one reference
 *
 * The daemon asks the owner (REMOTE_GET, CHECK_GET there) with the caller's
 * fsuid/fsgid. The segment holds the daemon incarnation the owner granted
 * the permit under, for its release, and the owner kernel's instance, which
 * every REMOTE_FAULT and release names.
 *
 * Return: 0, -ENOTCONN (no daemon), -ENOMEM, xpmem_chan_call()'s error, the
 * owner's error, or -EIO (a reply without size or owner instance).
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

	seg = xpmem_seg_alloc(&xpmem_remote_seg_ops);
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
 * Pages one REMOTE_FAULT asks for at most: a PMD's worth, what one RESOLVE
 * answers and one FAULT_REPLY carries even as scattered 4 KiB pages.
 */
#define XPMEM_MAX_RWINDOW	512
static_assert(XPMEM_MAX_RWINDOW <= XPMEM_CHAN_MAX_EXTENTS);

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
static void xpmem_rfaults_free(struct xpmem_att *att)
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
 * Send REMOTE_FAULT for [@off, +@n pages) with @access and wait for its
 * FAULT_REPLY (*@reply). Returns 0, or -EINTR (retry the access), -ENOMEM
 * or -EIO, counted.
 */
static int xpmem_rfault_request(struct xpmem_seg *seg, unsigned long off,
				unsigned long n, u32 access, void **reply)
{
	struct xpmem_chan_remote_fault *req;
	struct xpmem_chan_hdr *h;
	u64 seq;
	int err;

	seq = xpmem_chan_next_seq();
	h = xpmem_chan_alloc(XPMEM_CHAN_REMOTE_FAULT, sizeof(*req), seq);
	if (!h) {
		xpmem_fail(XPMEM_FAIL_rfault_nomem, seg->segid, off, -ENOMEM);
		return -ENOMEM;
	}
	req = XPMEM_CHAN_BODY(h);
	req->segid = seg->segid;
	req->start = off;
	req->len = n << PAGE_SHIFT;
	req->owner = seg->owner;
	req->owner_instance = seg->owner_instance;
	req->access = access;
	atomic64_inc(&seg->nr_faults);
	err = xpmem_chan_call(h, XPMEM_CHAN_FAULT_REPLY, seq,
			      READ_ONCE(xpmem_remote_timeout_ms), true, reply);
	if (!err)
		return 0;
	xpmem_fail(err == -EINTR ? XPMEM_FAIL_rfault_interrupted :
		   err == -ETIMEDOUT ? XPMEM_FAIL_rfault_timeout :
		   XPMEM_FAIL_rfault_no_daemon, seg->segid, off, err);
	return err == -EINTR ? -EINTR : -EIO;
}

/*
 * The answer @fr (no error) to a request for @n pages at @off, its frames
 * translated through the window [@base, +@wsize): an xpmem_rfault, or an
 * ERR_PTR (-EIO: an extent outside the window; -ENOMEM), counted.
 */
static struct xpmem_rfault *xpmem_rfault_frames(struct xpmem_seg *seg,
						struct xpmem_chan_frames *fr,
						unsigned long off,
						unsigned long n, u64 base,
						u64 wsize)
{
	struct xpmem_rfault *rf;
	unsigned long left, i;
	u64 p;

	for (i = 0; i < fr->nextents; i++) {
		struct xpmem_chan_extent *e = &fr->extents[i];

		if (!e->len || !PAGE_ALIGNED(e->phys) || !PAGE_ALIGNED(e->len) ||
		    e->phys >= wsize || e->len > wsize - e->phys) {
			xpmem_fail(XPMEM_FAIL_rfault_bad_reply, seg->segid, off,
				   -EIO);
			return ERR_PTR(-EIO);
		}
	}
	rf = kzalloc(struct_size(rf, pfns, n), GFP_KERNEL_ACCOUNT);
	if (!rf) {
		xpmem_fail(XPMEM_FAIL_rfault_nomem, seg->segid, off, -ENOMEM);
		return ERR_PTR(-ENOMEM);
	}
	rf->off = off;
	left = n;
	for (i = 0; i < fr->nextents && left; i++) {
		struct xpmem_chan_extent *e = &fr->extents[i];

		for (p = 0; p < e->len && left; p += PAGE_SIZE, left--)
			rf->pfns[rf->n++] = (base + e->phys + p) >> PAGE_SHIFT;
	}
	return rf;
}

/*
 * Ask the owner for the frames of segment offsets [off, off + n pages).
 * Sleeps up to remote_timeout_ms; the caller holds no lock the daemon's
 * requests need. A writable request the owner refuses (-EACCES: its source
 * is read-only) is asked again read-only unless the access is a store.
 * Returns the answer (frames already translated through the window) or an
 * ERR_PTR, each failure counted once: -EAGAIN and -EINTR mean "retry the
 * access"; -ENXIO: no window for the owner (nothing asked); the owner's
 * (or its daemon's) error as answered, which is -EFAULT or -EACCES for a
 * page it cannot give (xpmem_rfault_fetch() then asks from the touched page);
 * -EIO or -ENOMEM for a failure on this side.
 */
static struct xpmem_rfault *xpmem_rfault_ask(struct xpmem_seg *seg,
					     unsigned long off, unsigned long n,
					     bool want_write, bool store,
					     bool ahead, u64 zseq)
{
	struct xpmem_chan_frames *fr;
	struct xpmem_rfault *rf;
	bool write = want_write;
	u64 base, wsize;
	void *reply;
	int err;

	/* After zseq: a window replaced from here on bumps zap_seq. */
	if (!xpmem_window_get(seg->owner, &base, &wsize)) {
		xpmem_fail(XPMEM_FAIL_rfault_no_window, seg->segid, off,
			   -ENXIO);
		return ERR_PTR(-ENXIO);
	}
again:
	err = xpmem_rfault_request(seg, off, n, XPMEM_CHAN_ACCESS_READ |
				   (write ? XPMEM_CHAN_ACCESS_WRITE : 0) |
				   (ahead ? XPMEM_CHAN_ACCESS_AHEAD : 0),
				   &reply);
	if (err)
		return ERR_PTR(err);
	fr = XPMEM_CHAN_BODY(reply);
	err = fr->error;
	if (err == -EACCES && write && !store) {
		xpmem_chan_free(reply);
		write = false;
		goto again;
	}
	if (err) {
		/*
		 * The answer's errno is the owner's (over the wire): only
		 * -EAGAIN means "ask again"; a remote -EINTR would make the
		 * fault retry without end (a signal here is our own).
		 */
		if (err > 0 || err < -MAX_ERRNO || err == -EINTR)
			err = -EIO;
		xpmem_fail(err == -EAGAIN ? XPMEM_FAIL_rfault_owner_busy :
			   XPMEM_FAIL_rfault_refused, seg->segid, off, err);
		rf = ERR_PTR(err);
	} else if (!fr->nextents) {
		xpmem_fail(XPMEM_FAIL_rfault_bad_reply, seg->segid, off, -EIO);
		rf = ERR_PTR(-EIO);
	} else {
		rf = xpmem_rfault_frames(seg, fr, off, n, base, wsize);
	}
	xpmem_chan_free(reply);
	if (!IS_ERR(rf)) {
		rf->zseq = zseq;
		rf->writable = write;
	}
	return rf;
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
	if (att->dead || seg->dead) {
		xpmem_fail(XPMEM_FAIL_rfault_dead, seg->segid, fault_addr,
			   -ENOENT);
		return VM_FAULT_SIGBUS;
	}
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
	if (ret != VM_FAULT_NOPAGE)
		xpmem_fail(XPMEM_FAIL_rfault_insert, seg->segid, fault_addr,
			   ret & VM_FAULT_OOM ? -ENOMEM : -EFAULT);
	return ret;
}

/* Take the kept answer covering segment offset @off, if any. */
static struct xpmem_rfault *xpmem_rfault_take(struct xpmem_att *att,
					      unsigned long off, bool store)
{
	struct xpmem_rfault *rf, *t;

	lockdep_assert_held(&att->seg->lock);
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

	lockdep_assert_held(&att->seg->lock);
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

/*
 * Pages to ask for at segment offset @off: the window doubles, up to
 * XPMEM_MAX_RWINDOW, while faults come where the previous answer ended
 * (sequential access) and shrinks back towards fault_window_pages when
 * they do not. A grown window asks the owner to fault in every page of it
 * (*@ahead): a sequential reader touches them next. Caller: seg->lock.
 */
static unsigned long xpmem_rwin_next(struct xpmem_att *att, unsigned long off,
				     bool *ahead)
{
	unsigned int base = clamp(READ_ONCE(xpmem_fault_window), 1U,
				  (unsigned int)XPMEM_MAX_FAULT_WINDOW);
	unsigned int w = max(att->rwin, base);

	lockdep_assert_held(&att->seg->lock);
	if (att->rnext == off + 1)
		w = min(w * 2, (unsigned int)XPMEM_MAX_RWINDOW);
	else
		w = max(w / 4, base);
	att->rwin = w;
	*ahead = w > base;
	return w;
}

/*
 * Pages before @addr (the touched page) a window of @w pages starts with:
 * none while faults are sequential (@seq: the window runs ahead of the
 * reader) or when the last ask from a block's start did not give the
 * touched page (att->rnoback), else back to the start of the @w-page
 * block of the PMD that holds @addr, no lower than @lo nor than the
 * attachment's first page. Random faults then ask each block once, instead
 * of asking again for pages an earlier window (which ran forward from its
 * touched page) already mapped. Caller: seg->lock.
 */
static unsigned long xpmem_rwin_back(struct xpmem_att *att, unsigned long off,
				     unsigned long addr, unsigned long lo,
				     unsigned long w, bool seq)
{
	unsigned long back;

	lockdep_assert_held(&att->seg->lock);
	if (att->rnoback == off + 1) {
		att->rnoback = 0;
		return 0;
	}
	if (seq)
		return 0;
	back = ((addr & ~PMD_MASK) >> PAGE_SHIFT) % w;
	back = min(back, (addr - lo) >> PAGE_SHIFT);
	return min(back, (off - att->src_start) >> PAGE_SHIFT);
}

/*
 * Ask the owner for @n pages at segment offset @off with the attacher's
 * mmap_lock dropped, and keep the answer for the retried fault (which
 * installs it if no ZAP came in between). A failure is noted for the page
 * at offset @touched (ULONG_MAX: for none): its retried fault fails. If
 * @off is before @touched (a block asked from its start) and the owner's
 * answer stops short of @touched or a ZAP made it stale, or the owner
 * cannot give the block's start (-EFAULT, -EACCES), the retried fault asks
 * from @touched instead (att->rnoback): the block start's error is not the
 * touched page's.
 * Return: VM_FAULT_RETRY.
 */
static vm_fault_t xpmem_rfault_fetch(struct vm_fault *vmf,
				     struct xpmem_att *att, unsigned long off,
				     unsigned long n, unsigned long touched,
				     bool store, bool ahead, u64 zseq)
{
	bool want_write = vmf->vma->vm_flags & VM_WRITE;
	bool back = touched != ULONG_MAX && touched > off;
	struct xpmem_seg *seg = att->seg;
	struct xpmem_rfault *rf;
	long err;

	/* The vma may go while unlocked; @att and @seg may not. */
	xpmem_mmap_assert_locked(vmf->vma->vm_mm);
	xpmem_att_get(att);
	mmap_read_unlock(vmf->vma->vm_mm);
	rf = xpmem_rfault_ask(seg, off, n, want_write, store, ahead, zseq);
	err = PTR_ERR_OR_ZERO(rf);
	mutex_lock(&seg->lock);
	if (!err) {
		bool stale = att->dead || seg->dead ||
			     xpmem_rfault_stale(seg, off,
						off + (rf->n << PAGE_SHIFT), zseq);

		/*
		 * A short answer, or one a ZAP made stale (a page of the
		 * block before @touched may change on every round trip):
		 * the retry asks from @touched, so the block's other pages
		 * cannot starve it.
		 */
		if (back && (stale || rf->off + (rf->n << PAGE_SHIFT) <= touched))
			att->rnoback = touched + 1;
		if (!stale) {
			att->rnext = rf->off + (rf->n << PAGE_SHIFT) + 1;
			xpmem_rfault_keep(att, rf);
			rf = NULL;
		}
	} else if (back && (err == -EFAULT || err == -EACCES)) {
		att->rnoback = touched + 1;
	} else if (err != -EINTR && err != -EAGAIN && touched != ULONG_MAX) {
		/* Retried with the error noted: the fault fails then. */
		att->rfault_error = touched + 1;
		att->rfault_error_zseq = zseq;
	}
	mutex_unlock(&seg->lock);
	if (!err)
		kfree(rf);
	xpmem_att_put(att);
	return VM_FAULT_RETRY;
}

/*
 * Without FAULT_FLAG_ALLOW_RETRY (fixup_user_fault()): ask for @n pages at
 * @off, the faulting page's, with the mmap_lock held, and map the answer
 * within [@lo, @hi).
 */
static vm_fault_t xpmem_rfault_sync(struct vm_fault *vmf,
				    struct xpmem_att *att, unsigned long off,
				    unsigned long n, unsigned long lo,
				    unsigned long hi, bool store, bool ahead,
				    u64 zseq)
{
	bool want_write = vmf->vma->vm_flags & VM_WRITE;
	unsigned long addr = vmf->address & PAGE_MASK;
	struct xpmem_seg *seg = att->seg;
	struct xpmem_rfault *rf;
	vm_fault_t ret;

	/*
	 * A caller that cannot retry (fixup_user_fault() from futex, also from
	 * the robust-list walk at exit) loops on VM_FAULT_NOPAGE without
	 * looking at signals: a dying task would ask the owner without end,
	 * each ask cut short at once (-EINTR), and an exiting one (its SIGKILL
	 * already taken) on every "ask again". Both get VM_FAULT_SIGBUS (the
	 * caller's -EFAULT), as handle_userfault() does; they are going anyway.
	 */
	if (fatal_signal_pending(current))
		goto killed;
	rf = xpmem_rfault_ask(seg, off, n, want_write, store, ahead, zseq);
	if (IS_ERR(rf)) {
		switch (PTR_ERR(rf)) {
		case -EINTR:	/* only a fatal signal interrupts the wait */
		case -EAGAIN:
			if (fatal_signal_pending(current) ||
			    (current->flags & PF_EXITING))
				goto killed;
			return VM_FAULT_NOPAGE;
		default:
			xpmem_fail(XPMEM_FAIL_rfault_failed, seg->segid,
				   vmf->address, PTR_ERR(rf));
			return PTR_ERR(rf) == -ENOMEM ? VM_FAULT_OOM :
			       VM_FAULT_SIGBUS;
		}
	}
	mutex_lock(&seg->lock);
	att->rnext = rf->off + (rf->n << PAGE_SHIFT) + 1;
	ret = xpmem_pmd_is_table(vmf->pmd) ?
	      xpmem_rfault_install(vmf->vma, att, rf, addr, addr, lo, hi) :
	      VM_FAULT_NOPAGE;
	mutex_unlock(&seg->lock);
	kfree(rf);
	return ret;
killed:
	xpmem_fail(XPMEM_FAIL_fault_killed, seg->segid, vmf->address, -EINTR);
	return VM_FAULT_SIGBUS;
}

/*
 * The faulting page's segment offset (*@off) and the part of its PMD in the
 * vma ([*@lo, *@hi)), whose page tables are allocated here. Returns 0 to go
 * on, or the fault's result.
 */
static vm_fault_t xpmem_rfault_where(struct vm_fault *vmf,
				     struct xpmem_att *att, unsigned long *off,
				     unsigned long *lo, unsigned long *hi)
{
	struct vm_area_struct *vma = vmf->vma;
	unsigned long addr = vmf->address & PAGE_MASK;
	struct xpmem_seg *seg = att->seg;

	*off = att->src_start + ((vma->vm_pgoff - att->pgoff) << PAGE_SHIFT) +
	       (addr - vma->vm_start);
	if (*off < att->src_start || *off >= att->src_end) {
		xpmem_fail(XPMEM_FAIL_rfault_range, seg->segid, vmf->address,
			   -EFAULT);
		return VM_FAULT_SIGBUS;
	}
	*lo = max(vma->vm_start, addr & PMD_MASK);
	*hi = min(vma->vm_end, (addr & PMD_MASK) + PMD_SIZE);
	switch (xpmem_prealloc_ptes(vma, vmf->pmd, *lo, *hi)) {
	case 0:
		return 0;
	case -EAGAIN:		/* a racing fault mapped the PMD */
		return VM_FAULT_NOPAGE;
	default:
		xpmem_fail(XPMEM_FAIL_rfault_nomem, seg->segid, vmf->address,
			   -ENOMEM);
		return VM_FAULT_OOM;
	}
}

/*
 * What the fault at segment offset @off finds before asking the owner: the
 * attachment gone, its PMD mapped meanwhile, the failed request it was
 * retried for, or a kept answer that covers it (installed within [@lo,
 * @hi)). Returns 0 to ask, or the fault's result. *@store is set if a store
 * hit a read-only PTE here. Caller: seg->lock.
 */
static vm_fault_t xpmem_rfault_pending(struct vm_fault *vmf,
				       struct xpmem_att *att, unsigned long off,
				       unsigned long lo, unsigned long hi,
				       bool *store)
{
	unsigned long addr = vmf->address & PAGE_MASK;
	struct xpmem_seg *seg = att->seg;
	struct xpmem_rfault *rf;
	vm_fault_t ret;

	lockdep_assert_held(&seg->lock);
	if (att->dead || seg->dead) {
		xpmem_fail(XPMEM_FAIL_rfault_dead, seg->segid, vmf->address,
			   -ENOENT);
		return VM_FAULT_SIGBUS;
	}
	if (!xpmem_pmd_is_table(vmf->pmd))
		return VM_FAULT_NOPAGE;
	/* The request this fault was retried for failed (and still holds). */
	if (att->rfault_error == off + 1) {
		att->rfault_error = 0;
		if (!xpmem_rfault_stale(seg, off, off + PAGE_SIZE,
					att->rfault_error_zseq)) {
			xpmem_fail(XPMEM_FAIL_rfault_failed, seg->segid,
				   vmf->address, -EIO);
			return VM_FAULT_SIGBUS;
		}
	}
	/* A store hit a read-only PTE here (xpmem_pfn_mkwrite()). */
	if (att->wr_intent == off + 1) {
		att->wr_intent = 0;
		*store = true;
	}
	rf = xpmem_rfault_take(att, off, *store);
	if (!rf)
		return 0;
	ret = xpmem_rfault_install(vmf->vma, att, rf, addr - (off - rf->off),
				   addr, lo, hi);
	kfree(rf);
	return ret;
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
	bool may_drop = vmf->flags & FAULT_FLAG_ALLOW_RETRY;
	bool store = vmf->flags & FAULT_FLAG_WRITE;
	unsigned long addr = vmf->address & PAGE_MASK;
	unsigned long off, n, nmax, lo, hi, back;
	struct xpmem_seg *seg = att->seg;
	bool ahead, seq;
	vm_fault_t ret;
	u64 zseq;

	/* ->fault gets here with the mmap_lock only, never the vma lock */
	xpmem_mmap_assert_locked(vmf->vma->vm_mm);
	ret = xpmem_rfault_where(vmf, att, &off, &lo, &hi);
	if (ret)
		return ret;
	nmax = min((hi - addr) >> PAGE_SHIFT, (att->src_end - off) >> PAGE_SHIFT);

	mutex_lock(&seg->lock);
	ret = xpmem_rfault_pending(vmf, att, off, lo, hi, &store);
	/* Not allowed to wait: let the caller come back. */
	if (!ret && may_drop && (vmf->flags & FAULT_FLAG_RETRY_NOWAIT))
		ret = VM_FAULT_RETRY;
	if (ret) {
		mutex_unlock(&seg->lock);
		return ret;
	}
	seq = att->rnext == off + 1;
	n = xpmem_rwin_next(att, off, &ahead);
	back = may_drop ? xpmem_rwin_back(att, off, addr, lo, n, seq) : 0;
	n = min(n, nmax + back);
	zseq = seg->zap_seq;
	mutex_unlock(&seg->lock);

	if (!may_drop)
		return xpmem_rfault_sync(vmf, att, off, n, lo, hi, store, ahead,
					 zseq);
	/*
	 * A block asked from its start asks the owner to fault in all of it
	 * (it faults only the first page otherwise, and its answer would stop
	 * at the first page not present there, maybe short of the touched one).
	 */
	return xpmem_rfault_fetch(vmf, att, off - (back << PAGE_SHIFT), n, off,
				  store, ahead || back, zseq);
}

#if XPMEM_PMD_MAPPINGS
/*
 * Map @rf with one PMD at the faulting PMD (segment offset @hoff) if it is
 * exactly that: the PMD's 512 pages, one physically contiguous run starting
 * 2 MiB aligned (the owner's THP or hugetlb page, seen through a window that
 * is itself 2 MiB aligned: a PCI BAR is aligned to its size), frames that
 * xpmem_rfault_ask() checked are inside the owner's window. As the local
 * path (xpmem_insert_pmd()): read-only first, then upgraded if the owner
 * granted write access and the attachment is writable. Caller: seg->lock,
 * so no ZAP runs until the PMD is complete.
 *
 * Return: VM_FAULT_FALLBACK if @rf is not such a PMD (the caller keeps it for
 * the PTE path), else the fault's result (@rf is used up).
 */
static vm_fault_t xpmem_rfault_install_pmd(struct vm_fault *vmf,
					   struct xpmem_att *att,
					   struct xpmem_rfault *rf,
					   unsigned long hoff)
{
	struct xpmem_seg *seg = att->seg;
	unsigned long pfn, i;
	vm_fault_t ret;
	pmd_t pmd;

	lockdep_assert_held(&seg->lock);
	if (att->dead || seg->dead) {
		xpmem_fail(XPMEM_FAIL_rfault_dead, seg->segid, vmf->address,
			   -ENOENT);
		return VM_FAULT_SIGBUS;
	}
	if (xpmem_rfault_stale(seg, rf->off, rf->off + (rf->n << PAGE_SHIFT),
			       rf->zseq))
		return VM_FAULT_NOPAGE;		/* refault */
	if (rf->off != hoff || rf->n < PTRS_PER_PMD)
		return VM_FAULT_FALLBACK;
	pfn = rf->pfns[0];
	if (!IS_ALIGNED(pfn, PTRS_PER_PMD))
		return VM_FAULT_FALLBACK;
	for (i = 1; i < PTRS_PER_PMD; i++)
		if (rf->pfns[i] != pfn + i)
			return VM_FAULT_FALLBACK;
	ret = vmf_insert_pfn_pmd(vmf, pfn, false);
	if (ret != VM_FAULT_NOPAGE)
		goto insert_failed;
	pmd = pmdp_get_lockless(vmf->pmd);
	if (!pmd_leaf(pmd) || pmd_pfn(pmd) != pfn)
		return VM_FAULT_FALLBACK;	/* a page table came first */
	if (rf->writable && (vmf->vma->vm_flags & VM_WRITE)) {
		ret = vmf_insert_pfn_pmd(vmf, pfn, true);
		if (ret != VM_FAULT_NOPAGE)
			goto insert_failed;
	}
	atomic64_inc(&seg->nr_pmd_mapped);
	atomic64_add(PTRS_PER_PMD, &seg->nr_mapped);
	return VM_FAULT_NOPAGE;
insert_failed:
	xpmem_fail(XPMEM_FAIL_rfault_insert, seg->segid, vmf->address,
		   ret & VM_FAULT_OOM ? -ENOMEM : -EFAULT);
	return ret;
}

/**
 * xpmem_remote_huge_fault() - first fault in an empty PMD of a remote attachment
 * @vmf: the fault, under the mmap_lock (not the per-vma lock)
 * @att: the attachment; its vma covers the whole PMD and so does the
 *	 attachment's segment range, at the same alignment
 *
 * Asks the owner for the PMD's 512 pages in one round trip (not
 * XPMEM_CHAN_ACCESS_AHEAD: a THP's pages are present once its first is, and
 * other sources cannot give one PMD, so a load must not make the owner
 * write-fault 2 MiB), and maps the answer with one PMD where it is one
 * (xpmem_rfault_install_pmd()). Any other answer is kept for the PTE path,
 * which the core runs next on VM_FAULT_FALLBACK: it installs the same
 * answer with PTEs, without another round trip. The PMD is asked for once
 * (att->huge_asked): an answer that stops short of the touched page, or
 * fails for the PMD's first page, sends the fault to the PTE path, which
 * asks from the touched page (never a retry loop, never that page's error).
 *
 * Return: VM_FAULT_NOPAGE, VM_FAULT_RETRY (mmap_lock dropped),
 * VM_FAULT_FALLBACK or an error.
 */
vm_fault_t xpmem_remote_huge_fault(struct vm_fault *vmf, struct xpmem_att *att)
{
	struct vm_area_struct *vma = vmf->vma;
	struct xpmem_seg *seg = att->seg;
	unsigned long haddr = vmf->address & PMD_MASK;
	unsigned long hoff, off;
	bool store = vmf->flags & FAULT_FLAG_WRITE;
	struct xpmem_rfault *rf;
	vm_fault_t ret;
	u64 zseq;

	/* xpmem_huge_fault() sent a fault under the vma lock back */
	xpmem_mmap_assert_locked(vma->vm_mm);
	/* Waiting for the owner needs the mmap_lock dropped. */
	if (!(vmf->flags & FAULT_FLAG_ALLOW_RETRY) ||
	    (vmf->flags & FAULT_FLAG_RETRY_NOWAIT))
		return VM_FAULT_FALLBACK;
	hoff = att->src_start + ((vma->vm_pgoff - att->pgoff) << PAGE_SHIFT) +
	       (haddr - vma->vm_start);
	off = hoff + ((vmf->address & PAGE_MASK) - haddr);

	mutex_lock(&seg->lock);
	if (att->dead || seg->dead) {
		mutex_unlock(&seg->lock);
		xpmem_fail(XPMEM_FAIL_rfault_dead, seg->segid, vmf->address,
			   -ENOENT);
		return VM_FAULT_SIGBUS;
	}
	/* A failed request or a store's refault: the PTE path's rules. */
	if (att->rfault_error == off + 1 || att->wr_intent == off + 1) {
		mutex_unlock(&seg->lock);
		return VM_FAULT_FALLBACK;
	}
	rf = xpmem_rfault_take(att, off, store);
	if (rf) {
		ret = xpmem_rfault_install_pmd(vmf, att, rf, hoff);
		if (ret == VM_FAULT_FALLBACK) {
			xpmem_rfault_keep(att, rf);
			rf = NULL;
		}
		att->huge_asked = 0;
		mutex_unlock(&seg->lock);
		kfree(rf);
		return ret;
	}
	if (att->huge_asked == hoff + 1) {
		att->huge_asked = 0;
		mutex_unlock(&seg->lock);
		atomic64_inc(&att->seg->nr_pmd_fallback);
		return VM_FAULT_FALLBACK;
	}
	att->huge_asked = hoff + 1;
	zseq = seg->zap_seq;
	mutex_unlock(&seg->lock);
	return xpmem_rfault_fetch(vmf, att, hoff, PTRS_PER_PMD, ULONG_MAX, store,
				  false, zseq);
}
#endif

/*
 * A store to a read-only PTE (zapped already) of source offset @src: noted
 * for the refault of this page, which asks the owner for write access.
 */
static vm_fault_t xpmem_remote_mkwrite(struct vm_fault *vmf,
				       struct xpmem_att *att, unsigned long src)
{
	mutex_lock(&att->seg->lock);
	att->wr_intent = src + 1;
	mutex_unlock(&att->seg->lock);
	return VM_FAULT_NOPAGE;
}

static const struct xpmem_seg_ops xpmem_remote_seg_ops = {
	.put = xpmem_remote_put,
	.att_free = xpmem_rfaults_free,
	.att_unmapped = xpmem_rfaults_drop,
	.fault = xpmem_remote_fault,
#if XPMEM_PMD_MAPPINGS
	.huge_fault = xpmem_remote_huge_fault,
#endif
	.mkwrite = xpmem_remote_mkwrite,
	.release = xpmem_remote_release,
};

/* ---- the importer side's rows in the channel's table -------------------- */

/* FAULT_REPLY, REMOTE_GET_REPLY: to the request waiting with that seq. */
static int xpmem_remote_chan_reply(struct xpmem_chan_hdr *h, bool *taken)
{
	*taken = xpmem_chan_complete(h->type, h->seq, h);
	return 0;
}

static int xpmem_remote_chan_zap(struct xpmem_chan_hdr *h, bool *taken)
{
	return xpmem_chan_status(h, XPMEM_CHAN_ZAP_DONE,
				 xpmem_remote_zap(XPMEM_CHAN_BODY(h)));
}

static int xpmem_remote_chan_window(struct xpmem_chan_hdr *h, bool *taken)
{
	struct xpmem_chan_peer_window *pw = XPMEM_CHAN_BODY(h);

	return xpmem_chan_status(h, XPMEM_CHAN_PEER_WINDOW_DONE,
				 xpmem_window_set(pw->peer, pw->base,
						  pw->size));
}

const struct xpmem_chan_handler xpmem_remote_chan[] = {
	{ XPMEM_CHAN_FAULT_REPLY, xpmem_remote_chan_reply },
	{ XPMEM_CHAN_REMOTE_GET_REPLY, xpmem_remote_chan_reply },
	{ XPMEM_CHAN_ZAP, xpmem_remote_chan_zap },
	{ XPMEM_CHAN_PEER_WINDOW, xpmem_remote_chan_window },
	{ }
};
