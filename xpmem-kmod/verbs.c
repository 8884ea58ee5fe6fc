// SPDX-License-Identifier: GPL-2.0
/*
 * The ioctl verbs on segments and access permits: MAKE and REMOVE, GET and
 * RELEASE, and the teardown of each (from the verb, or from tg.c when the
 * owner closes the device). A local segment's ops are here: it is MAKE
 * that makes one.
 */
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "attach.h"
#include "channel.h"
#include "invalidate.h"
#include "limits.h"
#include "remote.h"
#include "rmap.h"
#include "segment.h"
#include "verbs.h"

/* A local segment's last reference: what RESOLVE and CHECK_GET left. */
static void xpmem_local_seg_release(struct kref *kref)
{
	struct xpmem_seg *seg = container_of(kref, struct xpmem_seg, kref);

	/* Only entries of a segment whose notifier never ran remain. */
	xpmem_rmap_discard(seg);
	xpmem_grants_discard(seg);
	xpmem_seg_free(seg);
}

static void xpmem_local_seg_put(struct xpmem_seg *seg)
{
	kref_put(&seg->kref, xpmem_local_seg_release);
}

static const struct xpmem_seg_ops xpmem_local_seg_ops = {
	.put = xpmem_local_seg_put,
	.fault = xpmem_local_fault_pte,
#if XPMEM_PMD_MAPPINGS
	.huge_fault = xpmem_local_fault_pmd,
#endif
	.mkwrite = xpmem_local_mkwrite,
};

/*
 * The end of the source range MAKE asks for, clipped to the user address
 * space; 0 if the range is not one.
 */
static u64 xpmem_make_end(u64 vaddr, u64 size)
{
	u64 end;

	/* XPMEM_MAXADDR_SIZE: the whole address space. */
	if (vaddr == 0 && size == (u64)-1)
		size = TASK_SIZE;
	if (!size || !PAGE_ALIGNED(vaddr) || !PAGE_ALIGNED(size))
		return 0;
	if (check_add_overflow(vaddr, size, &end) || vaddr >= TASK_SIZE)
		return 0;
	return min_t(u64, end, TASK_SIZE);
}

/* Put @seg on @tg's list and publish its id; -EINVAL if @tg is closing. */
static int xpmem_seg_publish(struct xpmem_tg *tg, struct xpmem_seg *seg)
{
	mutex_lock(&tg->lock);
	if (tg->dead) {
		mutex_unlock(&tg->lock);
		return -EINVAL;
	}
	list_add_tail(&seg->tg_node, &tg->segs);
	xpmem_seg_id_publish(seg);
	mutex_unlock(&tg->lock);
	return 0;
}

/**
 * xpmem_make() - MAKE: export [@vaddr, +@size) of the caller's address space
 * @tg: the caller's thread group state
 * @vaddr: page-aligned start; 0 with @size (u64)-1: the whole address space
 * @size: page-aligned size, clipped to TASK_SIZE
 * @permit_type: XPMEM_PERMIT_MODE
 * @permit_value: the mode bits (0777 at most)
 * @segid: on 0, the new segment's id
 *
 * Return: 0, -EINVAL, -ENOMEM, a limit's error (xpmem_charge()), or the
 * error of inserting the interval notifier or allocating the id.
 */
int xpmem_make(struct xpmem_tg *tg, u64 vaddr, u64 size, int permit_type,
	       u64 permit_value, s64 *segid)
{
	struct xpmem_seg *seg;
	u64 end;
	int ret;

	if (permit_type != XPMEM_PERMIT_MODE || (permit_value & ~0777ULL))
		return -EINVAL;
	end = xpmem_make_end(vaddr, size);
	if (!end)
		return -EINVAL;

	seg = xpmem_seg_alloc(&xpmem_local_seg_ops);
	if (!seg)
		return -ENOMEM;
	seg->tg = tg;
	seg->start = vaddr;
	seg->end = end;
	seg->uid = current_euid();
	seg->gid = current_egid();
	seg->mode = permit_value;
	seg->mm = current->mm;
	mmgrab(seg->mm);
	seg->charged_uid = xpmem_charge_uid();
	ret = xpmem_charge(seg->charged_uid, XPMEM_LIMIT_SEG);
	if (ret)
		goto err_free;
	seg->charged = true;

	ret = mmu_interval_notifier_insert(&seg->notifier, seg->mm, seg->start,
					   seg->end - seg->start,
					   &xpmem_seg_notifier_ops);
	if (ret)
		goto err_free;
	seg->notifier_live = true;

	ret = xpmem_seg_id_alloc(seg, READ_ONCE(xpmem_node_id));
	if (ret)
		goto err_notifier;

	ret = xpmem_seg_publish(tg, seg);
	if (ret)
		goto err_id;

	*segid = seg->segid;
	return 0;

err_id:
	xpmem_seg_id_free(seg);
err_notifier:
	mmu_interval_notifier_remove(&seg->notifier);
err_free:
	xpmem_seg_put(seg);
	return ret;
}

/**
 * xpmem_seg_destroy() - tear a segment down
 * @seg: the segment, taken off its owner's list by the caller, who passes
 *	the list's reference
 *
 * Attachments lose their PTEs and fault with SIGBUS from now on, peers'
 * mappings are revoked (xpmem_rmap_free()), the notifier goes and the id
 * stops resolving.
 */
void xpmem_seg_destroy(struct xpmem_seg *seg)
{
	xpmem_seg_unpublish(seg);

	mutex_lock(&seg->lock);
	seg->dead = true;
	xpmem_seg_uncharge(seg);
	xpmem_grants_drop(seg);
	xpmem_zap_atts(seg, NULL, 0, ULONG_MAX, XPMEM_ZAP_KILL);
	mutex_unlock(&seg->lock);
	/* Peers lose their mappings too (dead: no RESOLVE adds one now). */
	xpmem_rmap_free(seg);

	/* Not under seg->lock: this waits for running invalidations. */
	if (seg->notifier_live) {
		mmu_interval_notifier_remove(&seg->notifier);
		seg->notifier_live = false;
	}
	xpmem_seg_put(seg);
}

/**
 * xpmem_remove() - REMOVE: tear down a segment @tg made
 * @tg: the caller's thread group state
 * @segid: the segment
 *
 * Return: 0, or -EINVAL if @tg has no such segment.
 */
int xpmem_remove(struct xpmem_tg *tg, s64 segid)
{
	struct xpmem_seg *seg;
	bool mine;

	seg = xpmem_seg_lookup(segid);
	if (!seg)
		return -EINVAL;

	mutex_lock(&tg->lock);
	mine = seg->tg == tg && !list_empty(&seg->tg_node);
	if (mine)
		list_del_init(&seg->tg_node);
	mutex_unlock(&tg->lock);

	if (mine)
		xpmem_seg_destroy(seg);
	xpmem_seg_put(seg);
	return mine ? 0 : -EINVAL;
}

/*
 * Put @ap on @tg's list and publish its id; if @tg is closing, give the id
 * back and fail with -EINVAL.
 */
static int xpmem_ap_publish(struct xpmem_tg *tg, struct xpmem_ap *ap)
{
	mutex_lock(&tg->lock);
	if (tg->dead) {
		mutex_unlock(&tg->lock);
		xpmem_ap_id_free(ap);
		return -EINVAL;
	}
	list_add_tail(&ap->tg_node, &tg->aps);
	xpmem_ap_id_publish(ap);
	mutex_unlock(&tg->lock);
	return 0;
}

/*
 * The segment @segid names, with a reference, if the caller may have @flags
 * access to it: a local one by its mode, another node's by its owner
 * (through xpmemd).
 */
static int xpmem_get_seg(s64 segid, int flags, struct xpmem_seg **segp)
{
	struct xpmem_seg *seg = xpmem_seg_lookup(segid);
	int ret;

	if (!seg) {
		/* Another node's segment: ask its owner through xpmemd. */
		if (segid <= 0 ||
		    xpmem_segid_node(segid) == READ_ONCE(xpmem_node_id))
			return -ENOENT;
		return xpmem_remote_get(segid, flags, segp);
	}
	ret = READ_ONCE(seg->dead) ? -ENOENT :
	      xpmem_seg_check(seg, flags, INVALID_UID, INVALID_GID,
			      XPMEM_CHECK_LOCAL);
	if (ret) {
		xpmem_seg_put(seg);
		return ret;
	}
	*segp = seg;
	return 0;
}

/**
 * xpmem_get() - GET: an access permit on a segment
 * @tg: the caller's thread group state
 * @segid: a local segment, or another node's (xpmem_remote_get())
 * @flags: XPMEM_RDONLY or XPMEM_RDWR
 * @permit_type: XPMEM_PERMIT_MODE
 * @permit_value: unused
 * @apid: on 0, the new permit's id
 *
 * Return: 0, -EINVAL, -ENOENT (no such segment), -EACCES, -ENOMEM, a
 * limit's error, or xpmem_remote_get()'s.
 */
int xpmem_get(struct xpmem_tg *tg, s64 segid, int flags, int permit_type,
	      u64 permit_value, s64 *apid)
{
	kuid_t cuid = xpmem_charge_uid();
	struct xpmem_seg *seg;
	struct xpmem_ap *ap;
	int ret;

	if (flags != XPMEM_RDONLY && flags != XPMEM_RDWR)
		return -EINVAL;
	if (permit_type != XPMEM_PERMIT_MODE)
		return -EINVAL;
	ret = xpmem_charge(cuid, XPMEM_LIMIT_AP);
	if (ret)
		return ret;
	ret = xpmem_get_seg(segid, flags, &seg);
	if (ret)
		goto err_charge;

	ap = kzalloc(sizeof(*ap), GFP_KERNEL_ACCOUNT);
	if (!ap) {
		ret = -ENOMEM;
		/* The owner granted a permit nobody holds. */
		if (seg->ops->release)
			seg->ops->release(seg, flags);
		goto err_seg;
	}
	kref_init(&ap->kref);
	atomic_inc(&xpmem_objects[XPMEM_OBJ_AP]);
	INIT_LIST_HEAD(&ap->tg_node);
	ap->tg = tg;
	ap->tgid = get_pid(tg->tgid);
	ap->seg = seg;
	ap->flags = flags;
	ap->charged = true;
	ap->charged_uid = cuid;

	ret = xpmem_ap_id_alloc(ap);
	if (ret)
		goto err_ap;

	ret = xpmem_ap_publish(tg, ap);
	if (ret)
		goto err_ap;

	*apid = ap->apid;
	return 0;

err_ap:
	if (seg->ops->release)
		seg->ops->release(seg, flags);
	xpmem_ap_put(ap);	/* drops the segment and the charge too */
	return ret;
err_seg:
	xpmem_seg_put(seg);
err_charge:
	xpmem_uncharge(cuid, XPMEM_LIMIT_AP);
	return ret;
}

/**
 * xpmem_ap_destroy() - release an access permit
 * @ap: the permit, taken off its owner's list and marked dead by the
 *	caller, who passes the list's reference
 *
 * Its attachments lose their PTEs and fault with SIGBUS from now on; the
 * owner of a remote segment is told it may drop the grant.
 */
void xpmem_ap_destroy(struct xpmem_ap *ap)
{
	struct xpmem_seg *seg = ap->seg;

	xpmem_ap_id_free(ap);

	mutex_lock(&seg->lock);
	xpmem_zap_atts(seg, ap, 0, ULONG_MAX, XPMEM_ZAP_KILL);
	mutex_unlock(&seg->lock);

	/* After the zap: no attachment of this permit maps anything now. */
	if (seg->ops->release)
		seg->ops->release(seg, ap->flags);
	xpmem_ap_put(ap);
}

/**
 * xpmem_release() - RELEASE: release an access permit @tg got
 * @tg: the caller's thread group state
 * @apid: the permit
 *
 * Return: 0, or -EINVAL if @tg has no such permit.
 */
int xpmem_release(struct xpmem_tg *tg, s64 apid)
{
	struct xpmem_ap *ap;
	bool mine;

	ap = xpmem_ap_lookup(apid);
	if (!ap)
		return -EINVAL;

	mutex_lock(&tg->lock);
	mine = ap->tg == tg && !list_empty(&ap->tg_node);
	if (mine) {
		list_del_init(&ap->tg_node);
		WRITE_ONCE(ap->dead, true);
	}
	mutex_unlock(&tg->lock);

	if (mine)
		xpmem_ap_destroy(ap);
	xpmem_ap_put(ap);
	return mine ? 0 : -EINVAL;
}
