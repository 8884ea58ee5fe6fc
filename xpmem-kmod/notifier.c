// SPDX-License-Identifier: GPL-2.0
/*
 * Source-side invalidation: the mmu_interval_notifier of each segment zaps
 * the attacher PTEs covering an invalidated source range before the source
 * page can go away.
 */
#include <linux/hashtable.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/spinlock.h>

#include "notifier.h"
#include "rmap.h"
#include "segment.h"
#include "stats.h"
#include "trace.h"

/*
 * Tasks currently zapping attachment PTEs. Zapping an attachment vma runs
 * the mmu notifiers of the attacher's mm for the vma's range; if that mm
 * exports a segment covering the vma (a whole-address-space segment, or a
 * process attaching its own memory) our callback would run nested and take
 * a segment lock the zapper may already hold. An attachment vma is
 * VM_PFNMAP|VM_IO, which a fault never resolves, so no PTE anywhere is
 * derived from it and the nested call has nothing to do.
 */
static DEFINE_SPINLOCK(xpmem_zapper_lock);
static DEFINE_HASHTABLE(xpmem_zappers, 6);
/*
 * Number of registered zappers: lets every other invalidation skip the
 * global lock. A zapper registers before it zaps, so it always sees itself.
 */
static atomic_t xpmem_nr_zappers = ATOMIC_INIT(0);

/**
 * xpmem_zapper_enter() - register current as zapping attachment PTEs
 * @z: the registration, on the caller's stack until xpmem_zapper_exit()
 *
 * The segment notifier returns at once when it runs nested in a zapper
 * (see xpmem_zappers above).
 */
void xpmem_zapper_enter(struct xpmem_zapper *z)
{
	z->task = current;
	spin_lock(&xpmem_zapper_lock);
	hash_add(xpmem_zappers, &z->node, (unsigned long)current);
	atomic_inc(&xpmem_nr_zappers);
	spin_unlock(&xpmem_zapper_lock);
}

/**
 * xpmem_zapper_exit() - end the registration of xpmem_zapper_enter()
 * @z: the registration
 */
void xpmem_zapper_exit(struct xpmem_zapper *z)
{
	spin_lock(&xpmem_zapper_lock);
	atomic_dec(&xpmem_nr_zappers);
	hash_del(&z->node);
	spin_unlock(&xpmem_zapper_lock);
}

static bool xpmem_current_is_zapping(void)
{
	struct xpmem_zapper *z;
	bool found = false;

	if (!atomic_read(&xpmem_nr_zappers))
		return false;
	spin_lock(&xpmem_zapper_lock);
	hash_for_each_possible(xpmem_zappers, z, node, (unsigned long)current) {
		if (z->task == current) {
			found = true;
			break;
		}
	}
	spin_unlock(&xpmem_zapper_lock);
	return found;
}

/**
 * xpmem_zap_att_range() - zap @att's PTEs of source addresses [@start, @end)
 * @att: the attachment; the caller holds its seg->lock (so the vmas, their
 *	file and mapping stay alive) and is registered as a zapper
 * @start: first source address (segment offset for a remote segment)
 * @end: end of the range; partial pages count whole
 *
 * unmap_mapping_range() finds the vmas through the device file's i_mmap
 * tree: no mmap_lock of the attacher is needed.
 */
void xpmem_zap_att_range(struct xpmem_att *att, unsigned long start,
			 unsigned long end)
{
	/* Whole pages: a range may start or end inside one (a ZAP's may). */
	unsigned long s = max(round_down(start, PAGE_SIZE), att->src_start);
	unsigned long e = end >= att->src_end ? att->src_end :
			  min(PAGE_ALIGN(end), att->src_end);

	lockdep_assert_held(&att->seg->lock);
	if (s >= e || !att->mapping)
		return;
	/*
	 * unmap_mapping_range() runs the attacher mm's notifiers, which
	 * lockdep models as one global lock map: taken again inside our own
	 * notifier callback it reads as recursive locking, and taken under
	 * seg->lock (REMOVE, RELEASE, ZAP) it reads as the inverse of the
	 * callback's map -> seg->lock. Neither can deadlock: the only callback
	 * that could nest is ours on the attacher's own segments, and the
	 * zapper registry makes it return at once (see above). The unmap
	 * itself is core code; lockdep stays on for everything of ours.
	 */
	lockdep_off();
	unmap_mapping_range(att->mapping,
			    ((loff_t)att->pgoff << PAGE_SHIFT) +
			    (s - att->src_start), e - s, 1);
	lockdep_on();
	atomic64_add((e - s) >> PAGE_SHIFT, &att->seg->nr_zapped);
}

/**
 * xpmem_seg_owner_exit() - the exporter's address space is going away
 * @seg: a local segment whose notifier saw MMU_NOTIFY_RELEASE
 *
 * Called from the notifier at exit_mmap() with seg->lock held. The owner's
 * file may live on in a fork child that inherited it, so the final release
 * (which removes the segment) can be far off: stop publishing the id now
 * and let every attachment fault. Attacher PTEs were zapped by the same
 * invalidation.
 */
static void xpmem_seg_owner_exit(struct xpmem_seg *seg)
{
	struct xpmem_att *att;

	lockdep_assert_held(&seg->lock);
	xpmem_seg_unpublish(seg);
	seg->dead = true;
	xpmem_seg_uncharge(seg);
	xpmem_grants_drop(seg);
	list_for_each_entry(att, &seg->atts, seg_node)
		att->dead = true;
}

/*
 * Would invalidating @range zap attacher PTEs or INVALIDATE peers? Both
 * sleep (i_mmap_rwsem, the acks): a non-blockable call only succeeds if
 * there is nothing to do. Caller: seg->lock.
 */
static bool xpmem_invalidate_has_work(struct xpmem_seg *seg,
				      const struct mmu_notifier_range *range)
{
	struct xpmem_att *att;

	lockdep_assert_held(&seg->lock);
	list_for_each_entry(att, &seg->atts, seg_node) {
		if (att->src_start < range->end && range->start < att->src_end)
			return true;
	}
	return xpmem_rmap_overlaps(seg,
				   max(range->start, seg->start) - seg->start,
				   min(range->end, seg->end) - seg->start);
}

static bool xpmem_invalidate(struct mmu_interval_notifier *mni,
			     const struct mmu_notifier_range *range,
			     unsigned long cur_seq)
{
	struct xpmem_seg *seg = container_of(mni, struct xpmem_seg, notifier);
	bool blockable = mmu_notifier_range_blockable(range);
	struct xpmem_zapper z;
	struct xpmem_att *att;

	if (xpmem_current_is_zapping())
		return true;

	if (blockable)
		mutex_lock(&seg->lock);
	else if (!mutex_trylock(&seg->lock))
		goto refused;

	if (!blockable && xpmem_invalidate_has_work(seg, range)) {
		mutex_unlock(&seg->lock);
		goto refused;
	}

	mmu_interval_set_seq(mni, cur_seq);
	atomic64_inc(&seg->nr_invalidates);
	trace_xpmem_invalidate(seg->segid, range->start, range->end,
			       range->event);

	if (!list_empty(&seg->atts)) {
		xpmem_zapper_enter(&z);
		list_for_each_entry(att, &seg->atts, seg_node) {
			if (!att->dead)
				xpmem_zap_att_range(att, range->start,
						    range->end);
		}
		xpmem_zapper_exit(&z);
	}
	if (range->event == MMU_NOTIFY_RELEASE)
		xpmem_seg_owner_exit(seg);

	/* Remote peers: INVALIDATE and wait for the acks (drops the lock). */
	return xpmem_rmap_invalidate(seg, range, blockable);
refused:
	xpmem_fail(XPMEM_FAIL_inval_nonblock, seg->segid, range->start,
		   -EAGAIN);
	return false;
}

const struct mmu_interval_notifier_ops xpmem_seg_notifier_ops = {
	.invalidate = xpmem_invalidate,
};
