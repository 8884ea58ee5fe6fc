// SPDX-License-Identifier: GPL-2.0
/*
 * Segments (MAKE/REMOVE) and access permits (GET/RELEASE), and the id
 * tables both are looked up in.
 */
#include <linux/capability.h>
#include <linux/mm.h>
#include <linux/cred.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "xpmem_private.h"

static DEFINE_XARRAY_ALLOC1(xpmem_segs);
static DEFINE_XARRAY_ALLOC1(xpmem_aps);
static u32 xpmem_seg_next_idx;
static u32 xpmem_ap_next;

/**
 * xpmem_ids_init() - set up the id tables at module load
 *
 * Return: 0 (the tables are static: nothing to allocate).
 */
int xpmem_ids_init(void)
{
	return 0;
}

/**
 * xpmem_ids_exit() - at unload: WARN if a segment or permit id is left
 */
void xpmem_ids_exit(void)
{
	WARN_ON(!xa_empty(&xpmem_segs));
	WARN_ON(!xa_empty(&xpmem_aps));
}

/*
 * Reserve a slot in @xa and build an id for it. The slot holds no entry
 * (lookups fail) until xpmem_id_publish().
 */
static int xpmem_id_alloc(struct xarray *xa, u32 *next, u32 node, s64 *id)
{
	u32 idx;
	int ret;

	ret = xa_alloc_cyclic(xa, &idx, NULL, XA_LIMIT(1, U32_MAX), next,
			      GFP_KERNEL);
	if (ret < 0)
		return ret;
	*id = xpmem_id_encode(node, get_random_u32(), idx);
	return 0;
}

static void xpmem_id_publish(struct xarray *xa, s64 id, void *entry)
{
	xa_store(xa, xpmem_id_idx(id), entry, GFP_KERNEL);
}

/*
 * A segment counts against its maker until it is removed (or its owner
 * exits), not until the last attachment of someone else goes.
 */
static void xpmem_seg_uncharge(struct xpmem_seg *seg)
{
	if (seg->charged) {
		seg->charged = false;
		xpmem_uncharge(seg->charged_uid, XPMEM_LIMIT_SEG);
	}
}

/* Unpublish @seg's id if it still names @seg (it may already be gone). */
static void xpmem_seg_unpublish(struct xpmem_seg *seg)
{
	xa_cmpxchg(&xpmem_segs, xpmem_id_idx(seg->segid), seg, NULL, 0);
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
void xpmem_seg_owner_exit(struct xpmem_seg *seg)
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

static void xpmem_seg_free(struct kref *kref)
{
	struct xpmem_seg *seg = container_of(kref, struct xpmem_seg, kref);

	WARN_ON(!list_empty(&seg->atts));
	/* Only entries of a segment whose notifier never ran remain. */
	xpmem_rmap_discard(seg);
	xpmem_grants_discard(seg);
	xpmem_seg_uncharge(seg);
	mmdrop(seg->mm);
	kfree(seg);
	atomic_dec(&xpmem_objects[XPMEM_OBJ_SEG]);
}

/**
 * xpmem_seg_put() - drop a reference on a segment, local or remote
 * @seg: the segment; the last reference frees it
 */
void xpmem_seg_put(struct xpmem_seg *seg)
{
	if (seg->remote)
		xpmem_remote_put(seg);
	else
		kref_put(&seg->kref, xpmem_seg_free);
}

/**
 * xpmem_seg_alloc() - a new segment, local or remote
 *
 * Return: the segment with one reference and empty lists, or NULL.
 */
struct xpmem_seg *xpmem_seg_alloc(void)
{
	struct xpmem_seg *seg = kzalloc(sizeof(*seg), GFP_KERNEL_ACCOUNT);

	if (!seg)
		return NULL;
	kref_init(&seg->kref);
	atomic_inc(&xpmem_objects[XPMEM_OBJ_SEG]);
	mutex_init(&seg->lock);
	INIT_LIST_HEAD(&seg->atts);
	INIT_LIST_HEAD(&seg->tg_node);
	INIT_LIST_HEAD(&seg->grants);
	seg->rmap = RB_ROOT_CACHED;
	return seg;
}

/**
 * xpmem_seg_lookup() - a local segment by its exact id
 * @segid: the id; its node bits are part of it (a segment made before
 *	HELLO keeps node 0 and is still found)
 *
 * Return: the segment with a reference, or NULL.
 */
struct xpmem_seg *xpmem_seg_lookup(s64 segid)
{
	struct xpmem_seg *seg;

	if (segid <= 0)
		return NULL;
	xa_lock(&xpmem_segs);
	seg = xa_load(&xpmem_segs, xpmem_id_idx(segid));
	if (seg && (seg->segid != segid || !kref_get_unless_zero(&seg->kref)))
		seg = NULL;
	xa_unlock(&xpmem_segs);
	return seg;
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
	/* XPMEM_MAXADDR_SIZE: the whole address space. */
	if (vaddr == 0 && size == (u64)-1)
		size = TASK_SIZE;
	if (!size || !PAGE_ALIGNED(vaddr) || !PAGE_ALIGNED(size))
		return -EINVAL;
	if (check_add_overflow(vaddr, size, &end) || vaddr >= TASK_SIZE)
		return -EINVAL;
	end = min_t(u64, end, TASK_SIZE);

	seg = xpmem_seg_alloc();
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

	ret = xpmem_id_alloc(&xpmem_segs, &xpmem_seg_next_idx,
			     READ_ONCE(xpmem_node_id), &seg->segid);
	if (ret)
		goto err_notifier;

	mutex_lock(&tg->lock);
	if (tg->dead) {
		mutex_unlock(&tg->lock);
		ret = -EINVAL;
		goto err_id;
	}
	list_add_tail(&seg->tg_node, &tg->segs);
	xpmem_id_publish(&xpmem_segs, seg->segid, seg);
	mutex_unlock(&tg->lock);

	*segid = seg->segid;
	return 0;

err_id:
	xa_erase(&xpmem_segs, xpmem_id_idx(seg->segid));
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
	struct xpmem_zapper z;
	struct xpmem_att *att;

	xpmem_seg_unpublish(seg);

	mutex_lock(&seg->lock);
	seg->dead = true;
	xpmem_seg_uncharge(seg);
	xpmem_grants_drop(seg);
	xpmem_zapper_enter(&z);
	list_for_each_entry(att, &seg->atts, seg_node) {
		att->dead = true;
		xpmem_zap_att_range(att, att->src_start, att->src_end);
	}
	xpmem_zapper_exit(&z);
	/* Peers lose their mappings too (drops seg->lock). */
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

/**
 * xpmem_seg_check() - may a getter have @flags access to @seg?
 * @seg: the segment
 * @flags: XPMEM_RDONLY or XPMEM_RDWR
 * @uid: the remote getter's uid (remote checks only)
 * @gid: the remote getter's primary gid (remote checks only)
 * @how: XPMEM_CHECK_LOCAL, _REMOTE or _REMOTE_ROOT
 *
 * @seg->mode is checked like a file mode owned by the segment creator's
 * euid/egid. Read permission is always needed, write too for XPMEM_RDWR.
 * Local: against the caller's fsuid/fsgid and groups; CAP_SYS_ADMIN
 * bypasses. Remote (CHECK_GET): against the @uid/@gid the daemon passed,
 * no supplementary groups, no capabilities of anyone; uid 0 bypasses only
 * with XPMEM_CHECK_REMOTE_ROOT (the owner's daemon trusts remote root).
 *
 * Return: 0 or -EACCES.
 */
int xpmem_seg_check(struct xpmem_seg *seg, int flags, kuid_t uid, kgid_t gid,
		    enum xpmem_check how)
{
	unsigned int want = MAY_READ | (flags == XPMEM_RDWR ? MAY_WRITE : 0);
	unsigned int mode = seg->mode;

	if (how != XPMEM_CHECK_LOCAL) {
		if (how == XPMEM_CHECK_REMOTE_ROOT &&
		    uid_eq(uid, GLOBAL_ROOT_UID))
			return 0;
		if (uid_eq(uid, seg->uid))
			mode >>= 6;
		else if (gid_eq(gid, seg->gid))
			mode >>= 3;
		return (mode & want) == want ? 0 : -EACCES;
	}
	if (uid_eq(current_fsuid(), seg->uid))
		mode >>= 6;
	else if (in_group_p(seg->gid))
		mode >>= 3;
	if ((mode & want) == want)
		return 0;
	if (capable(CAP_SYS_ADMIN))
		return 0;
	return -EACCES;
}

/**
 * xpmem_seg_any_class() - could anybody get @flags access to @seg?
 * @seg: the segment
 * @flags: XPMEM_RDONLY or XPMEM_RDWR
 *
 * Return: 0 if some class (owner, group, other) of its mode grants it,
 * else -EACCES.
 */
int xpmem_seg_any_class(struct xpmem_seg *seg, int flags)
{
	unsigned int want = MAY_READ | (flags == XPMEM_RDWR ? MAY_WRITE : 0);
	unsigned int mode = seg->mode;

	if ((mode & want) == want || ((mode >> 3) & want) == want ||
	    ((mode >> 6) & want) == want)
		return 0;
	return -EACCES;
}

static void xpmem_ap_free(struct kref *kref)
{
	struct xpmem_ap *ap = container_of(kref, struct xpmem_ap, kref);

	xpmem_seg_put(ap->seg);
	put_pid(ap->tgid);
	if (ap->charged)
		xpmem_uncharge(ap->charged_uid, XPMEM_LIMIT_AP);
	kfree(ap);
	atomic_dec(&xpmem_objects[XPMEM_OBJ_AP]);
}

/**
 * xpmem_ap_put() - drop a reference on an access permit
 * @ap: the permit; the last reference frees it, its segment reference and
 *	its charge
 */
void xpmem_ap_put(struct xpmem_ap *ap)
{
	kref_put(&ap->kref, xpmem_ap_free);
}

/**
 * xpmem_ap_lookup() - an access permit by its exact id
 * @apid: the id
 *
 * Return: the permit with a reference, or NULL.
 */
struct xpmem_ap *xpmem_ap_lookup(s64 apid)
{
	struct xpmem_ap *ap;

	if (apid <= 0)
		return NULL;
	xa_lock(&xpmem_aps);
	ap = xa_load(&xpmem_aps, xpmem_id_idx(apid));
	if (ap && (ap->apid != apid || !kref_get_unless_zero(&ap->kref)))
		ap = NULL;
	xa_unlock(&xpmem_aps);
	return ap;
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

	seg = xpmem_seg_lookup(segid);
	if (!seg) {
		/* Another node's segment: ask its owner through xpmemd. */
		if (segid <= 0 ||
		    xpmem_segid_node(segid) == READ_ONCE(xpmem_node_id))
			ret = -ENOENT;
		else
			ret = xpmem_remote_get(segid, flags, &seg);
		if (ret)
			goto err_charge;
	} else {
		ret = READ_ONCE(seg->dead) ? -ENOENT :
		      xpmem_seg_check(seg, flags, INVALID_UID, INVALID_GID,
				      XPMEM_CHECK_LOCAL);
		if (ret)
			goto err_seg;
	}

	ap = kzalloc(sizeof(*ap), GFP_KERNEL_ACCOUNT);
	if (!ap) {
		ret = -ENOMEM;
		/* The owner granted a permit nobody holds. */
		if (seg->remote)
			xpmem_remote_release(seg, flags);
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

	ret = xpmem_id_alloc(&xpmem_aps, &xpmem_ap_next, 0, &ap->apid);
	if (ret)
		goto err_ap;

	mutex_lock(&tg->lock);
	if (tg->dead) {
		mutex_unlock(&tg->lock);
		xa_erase(&xpmem_aps, xpmem_id_idx(ap->apid));
		ret = -EINVAL;
		goto err_ap;
	}
	list_add_tail(&ap->tg_node, &tg->aps);
	xpmem_id_publish(&xpmem_aps, ap->apid, ap);
	mutex_unlock(&tg->lock);

	*apid = ap->apid;
	return 0;

err_ap:
	if (seg->remote)
		xpmem_remote_release(seg, flags);
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
	struct xpmem_zapper z;
	struct xpmem_att *att;

	xa_erase(&xpmem_aps, xpmem_id_idx(ap->apid));

	mutex_lock(&seg->lock);
	xpmem_zapper_enter(&z);
	list_for_each_entry(att, &seg->atts, seg_node) {
		if (att->ap != ap)
			continue;
		att->dead = true;
		xpmem_zap_att_range(att, att->src_start, att->src_end);
	}
	xpmem_zapper_exit(&z);
	mutex_unlock(&seg->lock);

	/* After the zap: no attachment of this permit maps anything now. */
	if (seg->remote)
		xpmem_remote_release(seg, ap->flags);
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

/**
 * xpmem_show_segments() - debugfs "segments": one line per live segment
 * @m: the seq_file
 */
void xpmem_show_segments(struct seq_file *m)
{
	struct xpmem_seg *seg;
	unsigned long idx;

	xa_lock(&xpmem_segs);
	xa_for_each(&xpmem_segs, idx, seg)
		seq_printf(m, "0x%016llx 0x%lx-0x%lx %o %lld %lld %lld %lld %lld %lld %lld\n",
			   seg->segid, seg->start, seg->end, seg->mode,
			   (long long)atomic64_read(&seg->nr_faults),
			   (long long)atomic64_read(&seg->nr_mapped),
			   (long long)atomic64_read(&seg->nr_invalidates),
			   (long long)atomic64_read(&seg->nr_zapped),
			   (long long)atomic64_read(&seg->nr_pmd_mapped),
			   (long long)atomic64_read(&seg->nr_pmd_fallback),
			   (long long)atomic64_read(&seg->nr_batched));
	xa_unlock(&xpmem_segs);
}

/**
 * xpmem_seg_next() - iterate over the local segments
 * @idx: in: where to look from (start at 0); out: where to go on
 *
 * Return: the next segment at or after *@idx with a reference (drop it
 * with xpmem_seg_put()), or NULL at the end.
 */
struct xpmem_seg *xpmem_seg_next(unsigned long *idx)
{
	struct xpmem_seg *seg;

	xa_lock(&xpmem_segs);
	for (;;) {
		seg = xa_find(&xpmem_segs, idx, ULONG_MAX, XA_PRESENT);
		if (!seg || kref_get_unless_zero(&seg->kref))
			break;
		(*idx)++;
	}
	xa_unlock(&xpmem_segs);
	if (seg)
		(*idx)++;
	return seg;
}

/**
 * xpmem_query_segments() - QUERY SEGMENTS or SEGMENT
 * @segid: the one segment, or 0 for every segment
 * @emit: called with one record per segment
 * @ctx: passed to @emit
 */
void xpmem_query_segments(s64 segid, xpmem_emit_t emit, void *ctx)
{
	struct xpmem_chan_record rec = {};
	struct xpmem_seg *seg;
	unsigned long idx;

	xa_lock(&xpmem_segs);
	xa_for_each(&xpmem_segs, idx, seg) {
		if (segid && seg->segid != segid)
			continue;
		rec.segid = seg->segid;
		rec.start = seg->start;
		rec.len = seg->end - seg->start;
		rec.aux = 0;
		rec.peer = xpmem_segid_node(seg->segid);
		rec.flags = seg->mode & 0222 ? 0 : XPMEM_CHAN_REC_RDONLY;
		emit(ctx, &rec);
	}
	xa_unlock(&xpmem_segs);
}
