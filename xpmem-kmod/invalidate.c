// SPDX-License-Identifier: GPL-2.0
/*
 * The whole revoke path, in the order it runs:
 *
 * - the zap: xpmem_zap_atts(), the one loop that drops attachment PTEs
 *   (the notifier, a remote segment's ZAP, REMOVE, RELEASE), and
 *   xpmem_zap_vma() for the fault paths' own drops; the zapper registry
 *   that makes our notifier return at once when a zap runs it nested;
 * - the mmu_interval_notifier of each local segment: it zaps the attacher
 *   PTEs covering an invalidated source range before the source page can
 *   go away, then revokes the peers' part;
 * - the remote INVALIDATE and its wait: the reverse-map entries overlapping
 *   the range (rmap.c) are taken off with a reference on each page, one
 *   INVALIDATE goes to their peers, and the references drop on ACKED;
 * - the quarantine: on TIMED_OUT (daemon's or ours) the entries of the
 *   missing peers keep their references in a quarantine entry until
 *   PEER_ACKED or PEER_RESET clear their peer; a new daemon's HELLO
 *   replays every quarantined INVALIDATE;
 * - RELEASE_GRANT: what a peer maps beyond the permits it has left is
 *   revoked by the same INVALIDATE, from the workqueue.
 */
#include <linux/hashtable.h>
#include <linux/ktime.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

#include "channel.h"
#include "invalidate.h"
#include "params.h"
#include "rmap.h"
#include "segment.h"
#include "stats.h"
#include "trace.h"

static atomic64_t xpmem_generation;

/* A quarantined invalidation: rmap entries of peers that did not ack. */
struct xpmem_quar {
	struct list_head node;
	u64 generation;
	s64 segid;
	unsigned long start;
	unsigned long len;
	struct list_head entries;	/* struct xpmem_rmap, page refs held */
};

static DEFINE_MUTEX(xpmem_quar_lock);
static LIST_HEAD(xpmem_quar_list);
static unsigned long xpmem_quar_nr;
static unsigned long xpmem_quar_pages;

/* Where entries go when no quarantine entry can be allocated (generation 0). */
static struct xpmem_quar xpmem_quar_orphans = {
	.entries = LIST_HEAD_INIT(xpmem_quar_orphans.entries),
};

/*
 * While anything is quarantined the module cannot be unloaded: the pages
 * may still be mapped by a peer that never acked, and unloading would drop
 * the references that keep them from being reused. Caller: xpmem_quar_lock,
 * after changing xpmem_quar_nr.
 */
static void xpmem_quar_pin(unsigned long was)
{
	lockdep_assert_held(&xpmem_quar_lock);
	if (!was && xpmem_quar_nr) {
		__module_get(THIS_MODULE);
		pr_warn("xpmem: pages quarantined for peers that did not ack; module unload refused until they ack or rejoin (xpmemctl status)\n");
	} else if (was && !xpmem_quar_nr) {
		module_put(THIS_MODULE);
		pr_info("xpmem: quarantine empty\n");
	}
}

/* Revocation of what a peer maps beyond its grant, after RELEASE_GRANT. */
struct xpmem_revoke_work {
	struct work_struct work;
	struct xpmem_seg *seg;		/* reference */
	struct list_head gone;		/* struct xpmem_rmap, page refs held */
};

/* ---- the zap ----------------------------------------------------- */

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

/* A task zapping attachment PTEs, on xpmem_zappers; on its stack. */
struct xpmem_zapper {
	struct task_struct *task;
	struct hlist_node node;
};

/*
 * Register current as zapping attachment PTEs, until xpmem_zapper_exit():
 * the segment notifier returns at once when it runs nested in a zapper
 * (see xpmem_zappers above).
 */
static void xpmem_zapper_enter(struct xpmem_zapper *z)
{
	z->task = current;
	spin_lock(&xpmem_zapper_lock);
	hash_add(xpmem_zappers, &z->node, (unsigned long)current);
	atomic_inc(&xpmem_nr_zappers);
	spin_unlock(&xpmem_zapper_lock);
}

/* End the registration of xpmem_zapper_enter(). */
static void xpmem_zapper_exit(struct xpmem_zapper *z)
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

/*
 * Zap @att's PTEs of source addresses [@start, @end) (segment offsets for a
 * remote segment; partial pages count whole). The caller holds its
 * seg->lock (so the vmas, their file and mapping stay alive) and is
 * registered as a zapper.
 *
 * unmap_mapping_range() finds the vmas through the device file's i_mmap
 * tree: no mmap_lock of the attacher is needed.
 */
static void xpmem_zap_att_range(struct xpmem_att *att, unsigned long start,
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
 * xpmem_zap_atts() - zap @seg's attachments' PTEs of [@start, @end)
 * @seg: the segment; caller holds seg->lock (so the vmas, their file and
 *	mapping stay alive)
 * @ap: only the attachments made through this permit; NULL: all of them
 * @start: first source address (segment offset for a remote segment)
 * @end: end of the range; partial pages count whole (0, ULONG_MAX: each
 *	attachment's whole range)
 * @how: which attachments, and whether they die first (enum xpmem_zap)
 *
 * The one zap of every revocation: the notifier's invalidation, a remote
 * segment's ZAP, REMOVE and RELEASE. Current is registered as a zapper
 * meanwhile (see xpmem_zappers).
 */
void xpmem_zap_atts(struct xpmem_seg *seg, const struct xpmem_ap *ap,
		    unsigned long start, unsigned long end, enum xpmem_zap how)
{
	struct xpmem_zapper z;
	struct xpmem_att *att;

	lockdep_assert_held(&seg->lock);
	if (list_empty(&seg->atts))
		return;
	xpmem_zapper_enter(&z);
	list_for_each_entry(att, &seg->atts, seg_node) {
		if (ap && att->ap != ap)
			continue;
		if (how == XPMEM_ZAP_KILL)
			att->dead = true;
		else if (how == XPMEM_ZAP_LIVE && att->dead)
			continue;
		xpmem_zap_att_range(att, start, end);
	}
	xpmem_zapper_exit(&z);
}

/**
 * xpmem_zap_vma() - zap [@start, +@len) of one attachment vma
 * @vma: the attachment vma a fault handler runs on
 * @start: first address
 * @len: bytes
 *
 * The fault paths' own drop of a PTE or PMD they are about to replace
 * (pfn_mkwrite, a store to a read-only PMD): this vma only, not the other
 * mappings of the attachment. Current is registered as a zapper meanwhile.
 */
void xpmem_zap_vma(struct vm_area_struct *vma, unsigned long start,
		   unsigned long len)
{
	struct xpmem_zapper z;

	xpmem_zapper_enter(&z);
	zap_special_vma_range(vma, start, len);
	xpmem_zapper_exit(&z);
}

/* ---- remote INVALIDATE, its wait, the quarantine ----------------- */

static int xpmem_u32_cmp(const void *a, const void *b)
{
	u32 x = *(const u32 *)a, y = *(const u32 *)b;

	return x < y ? -1 : x > y;
}

static bool xpmem_peer_in(u32 peer, const u32 *peers, u32 n)
{
	u32 i;

	for (i = 0; i < n; i++)
		if (peers[i] == peer)
			return true;
	return false;
}

/* Release the entries of @list whose peer is (@in) / is not in @peers. */
static unsigned long xpmem_release_peers(struct list_head *list,
					 const u32 *peers, u32 n, bool in)
{
	struct xpmem_rmap *e, *te;
	unsigned long pages = 0;

	list_for_each_entry_safe(e, te, list, node) {
		if (xpmem_peer_in(e->peer, peers, n) != in)
			continue;
		list_del(&e->node);
		pages += e->npages;
		xpmem_rmap_put_free(e);
	}
	return pages;
}

/* Distinct peers of @list into @peers (room for @max), sorted. */
static u32 xpmem_list_peers(struct list_head *list, u32 *peers, u32 max)
{
	struct xpmem_rmap *e;
	u32 n = 0;

	list_for_each_entry(e, list, node)
		if (!xpmem_peer_in(e->peer, peers, n) && n < max)
			peers[n++] = e->peer;
	sort(peers, n, sizeof(*peers), xpmem_u32_cmp, NULL);
	return n;
}

static void xpmem_quarantine(struct xpmem_seg *seg, u64 gen,
			     unsigned long start, unsigned long end,
			     struct list_head *entries)
{
	struct xpmem_quar *q;
	struct xpmem_rmap *e;
	unsigned long pages = 0;

	if (list_empty(entries))
		return;
	list_for_each_entry(e, entries, node)
		pages += e->npages;
	q = kzalloc(sizeof(*q), GFP_ATOMIC | __GFP_NOWARN);
	mutex_lock(&xpmem_quar_lock);
	if (!q) {
		/*
		 * Never free what a peer may map: keep the entries (and their
		 * references) in the static catch-all entry, which only
		 * PEER_RESET (a new incarnation of their peer) releases.
		 */
		pr_warn_ratelimited("xpmem: no memory for a quarantine entry: %lu pages held until their peers rejoin\n",
				    pages);
		xpmem_fail(XPMEM_FAIL_inval_quar_nomem, seg->segid, start,
			   -ENOMEM);
		q = &xpmem_quar_orphans;
		if (list_empty(&q->entries))
			list_add_tail(&q->node, &xpmem_quar_list);
		else
			xpmem_quar_nr--;	/* counted once */
	} else {
		q->generation = gen;
		q->segid = seg->segid;
		q->start = start;
		q->len = end - start;
		INIT_LIST_HEAD(&q->entries);
		list_add_tail(&q->node, &xpmem_quar_list);
	}
	list_splice_tail_init(entries, &q->entries);
	xpmem_quar_nr++;
	xpmem_quar_pin(xpmem_quar_nr - 1);
	xpmem_quar_pages += pages;
	mutex_unlock(&xpmem_quar_lock);
}

/*
 * The union [*@start, *@end) of the entries of @gone; return how many
 * distinct peers they have.
 */
static u32 xpmem_revoke_span(struct list_head *gone, unsigned long *start,
			     unsigned long *end)
{
	struct xpmem_rmap *e, *f;
	u32 npeers = 0;

	*start = ULONG_MAX;
	*end = 0;
	list_for_each_entry(e, gone, node) {
		*start = min(*start, e->start);
		*end = max(*end, e->end);
		/* distinct peers: count e if no earlier entry has its peer */
		list_for_each_entry(f, gone, node) {
			if (f == e)
				npeers++;
			if (f == e || f->peer == e->peer)
				break;
		}
	}
	return npeers;
}

/*
 * The INVALIDATE of @gone was answered @reply (ACKED or TIMED_OUT) or failed
 * with @err: drop the references of the entries whose peers acked; the
 * others stay on @gone for the quarantine. @overflow: it could not name
 * every peer, so none counts as acked.
 */
static void xpmem_revoke_acked(struct xpmem_seg *seg, struct list_head *gone,
			       unsigned long start, bool overflow, int err,
			       struct xpmem_chan_hdr *reply)
{
	if (err || overflow) {
		/* no answer: every entry stays quarantined */
		if (overflow)
			xpmem_fail(XPMEM_FAIL_inval_too_many_peers, seg->segid,
				   start, -E2BIG);
		else
			xpmem_fail(err == -ETIMEDOUT ?
				   XPMEM_FAIL_inval_timeout :
				   XPMEM_FAIL_inval_no_daemon, seg->segid,
				   start, err);
	} else if (reply->type == XPMEM_CHAN_TIMED_OUT) {
		struct xpmem_chan_timed_out *t = XPMEM_CHAN_BODY(reply);

		/* The peers not listed as missing acked. */
		if (t->nmissing)
			xpmem_fail(XPMEM_FAIL_inval_peers_missing, seg->segid,
				   start, -ETIMEDOUT);
		xpmem_release_peers(gone, t->missing, t->nmissing, false);
	} else {
		xpmem_release_peers(gone, NULL, 0, false);
	}
}

/*
 * Revoke the entries of @gone from their peers: one INVALIDATE for all of
 * them, wait for ACKED/TIMED_OUT (at most ack_timeout_ms; at once if there
 * is no daemon), then drop the page references or quarantine them.
 * Called without seg->lock: the daemon may need it meanwhile (QUERY,
 * RESOLVE of other ranges).
 */
static void xpmem_rmap_revoke(struct xpmem_seg *seg, struct list_head *gone)
{
	struct xpmem_chan_invalidate *inv;
	unsigned long start, end;
	struct xpmem_chan_hdr *h, *reply = NULL;
	bool overflow = false;
	u32 npeers;
	u64 gen;
	int err;

	npeers = xpmem_revoke_span(gone, &start, &end);
	/* More than MAX_PEERS peers: every entry stays quarantined. */
	if (npeers > XPMEM_CHAN_MAX_PEERS) {
		overflow = true;
		npeers = XPMEM_CHAN_MAX_PEERS;
	}
	gen = atomic64_inc_return(&xpmem_generation);
	/* Atomic reserves: this must not reclaim, and rarely fail. */
	h = xpmem_chan_alloc_gfp(XPMEM_CHAN_INVALIDATE,
				 struct_size(inv, peers, npeers),
				 xpmem_chan_next_seq(),
				 GFP_ATOMIC | __GFP_NOWARN);
	if (!h) {
		err = -ENOMEM;
		xpmem_fail(XPMEM_FAIL_inval_nomem, seg->segid, start, err);
		goto timed_out;
	}
	inv = XPMEM_CHAN_BODY(h);
	inv->segid = seg->segid;
	inv->start = start;
	inv->len = end - start;
	inv->generation = gen;
	inv->npeers = xpmem_list_peers(gone, inv->peers, npeers);
	err = xpmem_chan_call(h, XPMEM_CHAN_ACKED, gen,
			      READ_ONCE(xpmem_ack_timeout_ms), false,
			      (void **)&reply);
	xpmem_revoke_acked(seg, gone, start, overflow, err, reply);
	xpmem_chan_free(reply);
timed_out:
	xpmem_quarantine(seg, gen, start, end, gone);
}

/*
 * xpmem_rmap_invalidate() - revoke peers' mappings of an invalidated range
 * @seg: the local segment; caller holds seg->lock, which is dropped here
 * @range: the source range being invalidated
 * @blockable: whether the invalidation may sleep (unused: a non-blockable
 *	one only gets here with nothing overlapping, xpmem_invalidate())
 *
 * Called from the segment's notifier after the local attachments were
 * zapped: takes the overlapping reverse-map entries (with references on
 * their pages) and revokes them, sleeping for the peers' acks
 * (xpmem_rmap_revoke()).
 *
 * Return: true (it never refuses).
 */
static bool xpmem_rmap_invalidate(struct xpmem_seg *seg,
				  const struct mmu_notifier_range *range,
				  bool blockable)
{
	unsigned long s = max(range->start, seg->start) - seg->start;
	unsigned long e = min(range->end, seg->end) - seg->start;
	LIST_HEAD(gone);

	lockdep_assert_held(&seg->lock);
	xpmem_rmap_take(seg, s, e, &gone);
	mutex_unlock(&seg->lock);
	if (!list_empty(&gone))
		xpmem_rmap_revoke(seg, &gone);
	return true;
}

/**
 * xpmem_rmap_free() - segment teardown: revoke every remote mapping
 * @seg: the local segment, already marked dead under seg->lock (so no
 *	RESOLVE adds an entry: xpmem_resolve_commit() checks it under the
 *	lock); the caller does not hold seg->lock
 *
 * Takes every reverse-map entry and revokes it as an invalidation does,
 * waiting for the peers' acks or the timeout (quarantine); frees nothing
 * else of the segment.
 */
void xpmem_rmap_free(struct xpmem_seg *seg)
{
	LIST_HEAD(gone);

	mutex_lock(&seg->lock);
	WARN_ON_ONCE(!seg->dead);
	xpmem_rmap_take(seg, 0, ULONG_MAX, &gone);
	mutex_unlock(&seg->lock);
	if (!list_empty(&gone))
		xpmem_rmap_revoke(seg, &gone);
}

/* ---- the segment notifier ---------------------------------------- */

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

	xpmem_zap_atts(seg, NULL, range->start, range->end, XPMEM_ZAP_LIVE);
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

/* ---- RELEASE_GRANT ----------------------------------------------- */

static void xpmem_revoke_fn(struct work_struct *work)
{
	struct xpmem_revoke_work *w =
		container_of(work, struct xpmem_revoke_work, work);

	xpmem_rmap_revoke(w->seg, &w->gone);
	xpmem_seg_put(w->seg);
	kfree(w);
}

/**
 * xpmem_grant_release() - RELEASE_GRANT: a peer gave a permit back
 * @hdr: the request, answered with RELEASE_GRANT_DONE
 * @r: its body (fields not validated yet)
 *
 * One permit of @r->flags' kind less for (@r->node, @r->incarnation). If
 * the peer has no read-write permit left, its write mappings of the segment
 * are revoked; with no permit at all the grant goes and every mapping of it
 * is revoked. Revoked means an ordinary INVALIDATE to that peer, waited for
 * on the workqueue (the daemon must stay free to answer it): the peer's
 * word that it released is not taken for its pages being unmapped, so a
 * peer that lies only gets its pages quarantined. The answer,
 * RELEASE_GRANT_DONE {0, -EINVAL (bad fields, or no permit of that kind
 * left), -ENOENT (no such segment or grant), -ENOMEM}, is queued before
 * that INVALIDATE.
 *
 * Return: 0, or the error of queueing the answer.
 */
static int xpmem_grant_release(const struct xpmem_chan_hdr *hdr,
			       const struct xpmem_chan_release *r)
{
	struct xpmem_chan_status st = {};
	enum xpmem_fail_reason why;
	struct xpmem_revoke_work *w;
	struct xpmem_seg *seg;
	int ret;

	if (r->node > XPMEM_ID_NODE_MAX || r->segid <= 0 ||
	    (r->flags != XPMEM_RDONLY && r->flags != XPMEM_RDWR)) {
		st.error = -EINVAL;
		why = XPMEM_FAIL_release_invalid;
		goto answer;
	}
	if (r->owner_instance != xpmem_incarnation) {
		st.error = -ESTALE;	/* a permit of a previous instance */
		why = XPMEM_FAIL_release_stale;
		goto answer;
	}
	seg = xpmem_seg_lookup(r->segid);
	if (!seg) {
		st.error = -ENOENT;
		why = XPMEM_FAIL_release_no_segment;
		goto answer;
	}
	w = kzalloc(sizeof(*w), GFP_KERNEL);
	if (!w) {
		xpmem_seg_put(seg);
		st.error = -ENOMEM;
		why = XPMEM_FAIL_release_nomem;
		goto answer;
	}
	INIT_LIST_HEAD(&w->gone);
	mutex_lock(&seg->lock);
	st.error = xpmem_grant_put(seg, r, &w->gone);
	mutex_unlock(&seg->lock);
	if (st.error)
		xpmem_fail(st.error == -ENOENT ? XPMEM_FAIL_release_no_grant :
			   XPMEM_FAIL_release_no_permit, r->segid, 0, st.error);
	ret = xpmem_chan_reply(hdr, XPMEM_CHAN_RELEASE_GRANT_DONE, &st,
			       sizeof(st));
	if (list_empty(&w->gone)) {
		kfree(w);
		xpmem_seg_put(seg);
		return ret;
	}
	w->seg = seg;			/* the lookup's reference */
	INIT_WORK(&w->work, xpmem_revoke_fn);
	xpmem_rmap_queue(&w->work);
	return ret;
answer:
	xpmem_fail(why, r->segid, 0, st.error);
	return xpmem_chan_reply(hdr, XPMEM_CHAN_RELEASE_GRANT_DONE, &st,
				sizeof(st));
}

/* ---- quarantine -------------------------------------------------- */

static void xpmem_quar_free(struct xpmem_quar *q)
{
	if (q != &xpmem_quar_orphans)
		kfree(q);
}

static void xpmem_quar_release(struct xpmem_quar *q, const u32 *peers, u32 n,
			       bool in)
{
	lockdep_assert_held(&xpmem_quar_lock);
	xpmem_quar_pages -= xpmem_release_peers(&q->entries, peers, n, in);
	if (list_empty(&q->entries)) {
		list_del(&q->node);
		xpmem_quar_nr--;
		xpmem_quar_pin(xpmem_quar_nr + 1);
		xpmem_quar_free(q);
	}
}

/**
 * xpmem_quar_unsolicited() - ACKED / TIMED_OUT that no waiter took
 * @type: XPMEM_CHAN_ACKED or XPMEM_CHAN_TIMED_OUT
 * @body: its body, validated by the channel
 *
 * Answers to a replay (HELLO): the quarantine entry of that generation is
 * released for every peer that acked (all, for ACKED).
 */
static void xpmem_quar_unsolicited(u16 type, const void *body)
{
	const struct xpmem_chan_timed_out *t = body;
	struct xpmem_quar *q, *tq;

	mutex_lock(&xpmem_quar_lock);
	list_for_each_entry_safe(q, tq, &xpmem_quar_list, node) {
		if (q->generation != t->generation || q == &xpmem_quar_orphans)
			continue;
		if (type == XPMEM_CHAN_ACKED)
			xpmem_quar_release(q, NULL, 0, false);
		else
			xpmem_quar_release(q, t->missing, t->nmissing, false);
	}
	mutex_unlock(&xpmem_quar_lock);
}

/**
 * xpmem_quar_peer_acked() - PEER_ACKED: a late ack of a quarantined range
 * @generation: the INVALIDATE's generation
 * @peer: the peer that acked; its part of that entry is released
 */
static void xpmem_quar_peer_acked(u64 generation, u32 peer)
{
	struct xpmem_quar *q, *tq;

	mutex_lock(&xpmem_quar_lock);
	list_for_each_entry_safe(q, tq, &xpmem_quar_list, node)
		if (q->generation == generation && q != &xpmem_quar_orphans)
			xpmem_quar_release(q, &peer, 1, true);
	mutex_unlock(&xpmem_quar_lock);
}

/**
 * xpmem_quar_peer_reset() - PEER_RESET: @peer runs @incarnation
 * @peer: the peer node
 * @incarnation: its new incarnation
 *
 * Every mapping @peer made under an older incarnation is gone, in the
 * quarantine and in every reverse map, and so is every grant an older
 * incarnation held.
 */
void xpmem_quar_peer_reset(u32 peer, u64 incarnation)
{
	struct xpmem_rmap *e, *te;
	struct xpmem_quar *q, *tq;

	mutex_lock(&xpmem_quar_lock);
	list_for_each_entry_safe(q, tq, &xpmem_quar_list, node) {
		list_for_each_entry_safe(e, te, &q->entries, node) {
			if (e->peer != peer || e->incarnation >= incarnation)
				continue;
			list_del(&e->node);
			xpmem_quar_pages -= e->npages;
			xpmem_rmap_put_free(e);
		}
		if (list_empty(&q->entries)) {
			list_del(&q->node);
			xpmem_quar_nr--;
			xpmem_quar_pin(xpmem_quar_nr + 1);
			xpmem_quar_free(q);
		}
	}
	mutex_unlock(&xpmem_quar_lock);

	xpmem_rmap_peer_reset(peer, incarnation);
}

/* What one replayed INVALIDATE says, copied out of the quarantine. */
struct xpmem_replay {
	s64 segid;
	u64 start, len, generation;
	u32 npeers;
	u32 peers[XPMEM_CHAN_MAX_PEERS];
};

/**
 * xpmem_quar_replay() - a (new) daemon said HELLO: invalidate every
 * quarantined range again
 *
 * Nothing is allocated under xpmem_quar_lock: reclaim may invalidate an
 * exported range, time out and quarantine it, which takes that lock.
 */
void xpmem_quar_replay(void)
{
	struct xpmem_chan_invalidate *inv;
	struct xpmem_replay *snap = NULL;
	struct xpmem_chan_hdr *h;
	unsigned long n, room = 0, i;
	struct xpmem_quar *q;

	for (;;) {
		mutex_lock(&xpmem_quar_lock);
		if (xpmem_quar_nr <= room)
			break;
		n = xpmem_quar_nr;
		mutex_unlock(&xpmem_quar_lock);
		kvfree(snap);
		room = n;
		snap = kvcalloc(room, sizeof(*snap), GFP_KERNEL);
		if (!snap) {
			pr_warn("xpmem: no memory to replay %lu quarantined ranges\n",
				n);
			xpmem_fail(XPMEM_FAIL_inval_replay_nomem, 0, 0, -ENOMEM);
			return;
		}
	}
	n = 0;
	list_for_each_entry(q, &xpmem_quar_list, node) {
		snap[n].segid = q->segid;
		snap[n].start = q->start;
		snap[n].len = q->len;
		snap[n].generation = q->generation;
		snap[n].npeers = xpmem_list_peers(&q->entries, snap[n].peers,
						  XPMEM_CHAN_MAX_PEERS);
		n++;
	}
	mutex_unlock(&xpmem_quar_lock);

	for (i = 0; i < n; i++) {
		h = xpmem_chan_alloc(XPMEM_CHAN_INVALIDATE,
				     struct_size(inv, peers, snap[i].npeers),
				     xpmem_chan_next_seq());
		if (!h) {
			xpmem_fail(XPMEM_FAIL_inval_replay_nomem,
				   snap[i].segid, snap[i].start, -ENOMEM);
			break;
		}
		inv = XPMEM_CHAN_BODY(h);
		inv->segid = snap[i].segid;
		inv->start = snap[i].start;
		inv->len = snap[i].len;
		inv->generation = snap[i].generation;
		inv->npeers = snap[i].npeers;
		memcpy(inv->peers, snap[i].peers,
		       snap[i].npeers * sizeof(inv->peers[0]));
		xpmem_chan_post(h);
	}
	kvfree(snap);
}

/**
 * xpmem_quar_counts() - the quarantine's size, for debugfs
 * @entries: set to the quarantined ranges
 * @pages: set to the pages they hold
 */
void xpmem_quar_counts(unsigned long *entries, unsigned long *pages)
{
	mutex_lock(&xpmem_quar_lock);
	*entries = xpmem_quar_nr;
	*pages = xpmem_quar_pages;
	mutex_unlock(&xpmem_quar_lock);
}

/**
 * xpmem_query_quarantine() - QUERY QUARANTINE
 * @emit: called with one record per (entry, missing peer)
 * @ctx: passed to @emit
 */
void xpmem_query_quarantine(xpmem_emit_t emit, void *ctx)
{
	struct xpmem_chan_record rec = {};
	u32 peers[64], n, i;
	struct xpmem_quar *q;

	mutex_lock(&xpmem_quar_lock);
	list_for_each_entry(q, &xpmem_quar_list, node) {
		n = xpmem_list_peers(&q->entries, peers, ARRAY_SIZE(peers));
		for (i = 0; i < n; i++) {
			rec.segid = q->segid;
			rec.start = q->start;
			rec.len = q->len;
			rec.aux = q->generation;
			rec.peer = peers[i];
			rec.flags = n;
			emit(ctx, &rec);
		}
	}
	mutex_unlock(&xpmem_quar_lock);
}

/**
 * xpmem_invalidate_init() - start the generations
 */
void xpmem_invalidate_init(void)
{
	/* Generations keep growing across module reloads too. */
	atomic64_set(&xpmem_generation, ktime_get_real_ns());
}

/**
 * xpmem_invalidate_exit() - at unload, after the workqueue is gone
 *
 * The quarantine pins the module, so it is empty here (WARNs if not).
 */
void xpmem_invalidate_exit(void)
{
	struct xpmem_quar *q, *tq;

	/* The quarantine pins the module: nothing can be left here. */
	mutex_lock(&xpmem_quar_lock);
	list_for_each_entry_safe(q, tq, &xpmem_quar_list, node) {
		WARN_ON(1);
		list_del(&q->node);
		xpmem_quar_free(q);
	}
	mutex_unlock(&xpmem_quar_lock);
}

/* ---- the revoke path's rows in the channel's table --------------- */

/* ACKED and TIMED_OUT of an INVALIDATE, matched by generation only. */
static int xpmem_inval_chan_acked(struct xpmem_chan_hdr *h, bool *taken)
{
	void *b = XPMEM_CHAN_BODY(h);

	/* The body starts with the generation for both. */
	*taken = xpmem_chan_complete(XPMEM_CHAN_ACKED, *(u64 *)b, h);
	if (!*taken)
		xpmem_quar_unsolicited(h->type, b);
	return 0;
}

static int xpmem_inval_chan_peer_acked(struct xpmem_chan_hdr *h, bool *taken)
{
	struct xpmem_chan_peer_acked *pa = XPMEM_CHAN_BODY(h);

	if (!xpmem_peer_valid(pa->peer))
		return -EINVAL;
	xpmem_quar_peer_acked(pa->generation, pa->peer);
	return 0;
}

static int xpmem_inval_chan_release(struct xpmem_chan_hdr *h, bool *taken)
{
	return xpmem_grant_release(h, XPMEM_CHAN_BODY(h));
}

const struct xpmem_chan_handler xpmem_invalidate_chan[] = {
	{ XPMEM_CHAN_ACKED, xpmem_inval_chan_acked },
	{ XPMEM_CHAN_TIMED_OUT, xpmem_inval_chan_acked },
	{ XPMEM_CHAN_PEER_ACKED, xpmem_inval_chan_peer_acked },
	{ XPMEM_CHAN_RELEASE_GRANT, xpmem_inval_chan_release },
	{ }
};
