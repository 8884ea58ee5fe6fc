// SPDX-License-Identifier: GPL-2.0
/*
 * Owner side of cross-partition attach: RESOLVE (frames of a local segment
 * for a remote importer), the per-segment reverse map of what each peer
 * maps, and the grants. The revocation of what peers map (INVALIDATE and
 * its wait, the quarantine of pages a peer did not ack, the revoke after
 * RELEASE_GRANT) is invalidate.c's; it takes entries off the reverse map
 * through xpmem_rmap_take() and xpmem_grant_put().
 *
 * Reverse map: seg->rmap (under seg->lock), an interval tree of segment
 * offsets, holds one struct xpmem_rmap per RESOLVE: peer, its incarnation,
 * the offsets and the pfns handed out; each peer may hold at most
 * max_rmap_entries_per_peer entries (limits.c). An invalidation
 * (invalidate.c) takes every entry overlapping the range off the tree (the
 * INVALIDATE sent covers the union of those entries, which may be wider
 * than the source change), takes a reference on each of their pages while
 * the source PTEs still map them, and drops the references again when the
 * daemon answers ACKED. On TIMED_OUT (daemon's or ours) the entries of the
 * missing peers keep their references in a quarantine entry until
 * PEER_ACKED or PEER_RESET clear their peer.
 *
 * Grants: a CHECK_GET that succeeds records on the segment that the
 * requesting peer (under its daemon's incarnation) holds one more read-only
 * or read-write permit (seg->grants, under seg->lock). RESOLVE gives nothing
 * beyond the grant; RELEASE_GRANT takes a permit back and revokes what the
 * peer maps beyond what is left, by an ordinary INVALIDATE to it.
 */
#include <linux/bitmap.h>
#include <linux/hmm.h>
#include <linux/interval_tree_generic.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "channel.h"
#include "limits.h"
#include "params.h"
#include "rmap.h"
#include "segment.h"
#include "stats.h"

/* One RESOLVE maps at most this many pages (XPMEM_CHAN_MAX_EXTENTS extents). */
#define XPMEM_RESOLVE_MAX_PAGES	512
/*
 * RESOLVEs queued or running at most; more are answered -EAGAIN, as are
 * those of a peer over its share (max_resolves_per_peer, limits.c).
 */
#define XPMEM_MAX_RESOLVES	256

struct xpmem_resolve_work {
	struct work_struct work;
	struct xpmem_chan_hdr hdr;
	struct xpmem_chan_resolve r;
};

static struct workqueue_struct *xpmem_wq;
static atomic_t xpmem_resolves;

/*
 * What CHECK_GET granted @peer, running @incarnation, on one segment: @nr_ro
 * read-only and @nr_rw read-write permits. On seg->grants, under seg->lock.
 */
struct xpmem_grant {
	struct list_head node;
	u32 peer;
	u32 nr_ro;
	u32 nr_rw;
	u64 incarnation;
};

/* Permits of one kind one grant counts at most. */
#define XPMEM_GRANT_MAX_PERMITS	BIT(20)

static atomic_long_t xpmem_nr_grants;

#define XPMEM_RMAP_START(e)	((e)->start)
#define XPMEM_RMAP_LAST(e)	((e)->last)
INTERVAL_TREE_DEFINE(struct xpmem_rmap, rb, unsigned long, subtree_last,
		     XPMEM_RMAP_START, XPMEM_RMAP_LAST, static, xpmem_rmap_it)

/* First and next entries of seg->rmap overlapping offsets [start, end). */
static struct xpmem_rmap *xpmem_rmap_first(struct xpmem_seg *seg,
					   unsigned long start,
					   unsigned long end)
{
	return xpmem_rmap_it_iter_first(&seg->rmap, start, end - 1);
}

static struct xpmem_rmap *xpmem_rmap_next(struct xpmem_rmap *e,
					  unsigned long start,
					  unsigned long end)
{
	return xpmem_rmap_it_iter_next(e, start, end - 1);
}

static void xpmem_rmap_insert(struct xpmem_seg *seg, struct xpmem_rmap *e)
{
	lockdep_assert_held(&seg->lock);
	e->last = e->end - 1;
	xpmem_rmap_it_insert(e, &seg->rmap);
}

static void xpmem_rmap_remove(struct xpmem_seg *seg, struct xpmem_rmap *e)
{
	xpmem_rmap_it_remove(e, &seg->rmap);
}

static void xpmem_rmap_get_pages(struct xpmem_rmap *e)
{
	unsigned long i;

	for (i = 0; i < e->npages; i++)
		get_page(pfn_to_page(e->pfns[i]));
}

/**
 * xpmem_rmap_discard() - free the reverse map of a segment being freed
 * @seg: the segment; no page references are held by its entries
 */
void xpmem_rmap_discard(struct xpmem_seg *seg)
{
	struct xpmem_rmap *e, *te;

	for (e = xpmem_rmap_first(seg, 0, ULONG_MAX); e; e = te) {
		te = xpmem_rmap_next(e, 0, ULONG_MAX);
		xpmem_rmap_remove(seg, e);
		xpmem_rmap_entry_free(e);
	}
}

/**
 * xpmem_rmap_entry_free() - free a reverse-map entry holding no page refs
 * @e: the entry, off every list
 */
void xpmem_rmap_entry_free(struct xpmem_rmap *e)
{
	xpmem_peer_uncharge(e->peer, e->charged);
	kfree(e);
}

/**
 * xpmem_rmap_put_free() - drop an entry's page references and free it
 * @e: the entry, off every list, holding a reference on each of its pages
 */
void xpmem_rmap_put_free(struct xpmem_rmap *e)
{
	unsigned long i;

	for (i = 0; i < e->npages; i++)
		put_page(pfn_to_page(e->pfns[i]));
	xpmem_rmap_entry_free(e);
}

/* ---- grants ---------------------------------------------------------- */

static struct xpmem_grant *xpmem_grant_find(struct xpmem_seg *seg, u32 peer,
					    u64 incarnation)
{
	struct xpmem_grant *g;

	lockdep_assert_held(&seg->lock);
	list_for_each_entry(g, &seg->grants, node)
		if (g->peer == peer && g->incarnation == incarnation)
			return g;
	return NULL;
}

/* Does @peer, running @incarnation, hold a permit for @access? */
static bool xpmem_grant_allows(struct xpmem_seg *seg, u32 peer,
			       u64 incarnation, u32 access)
{
	struct xpmem_grant *g = xpmem_grant_find(seg, peer, incarnation);

	if (!g)
		return false;
	if (access & XPMEM_CHAN_ACCESS_WRITE)
		return g->nr_rw;
	return g->nr_ro || g->nr_rw;
}

static void xpmem_grant_free(struct xpmem_seg *seg, struct xpmem_grant *g)
{
	list_del(&g->node);
	seg->nr_grants--;
	atomic_long_dec(&xpmem_nr_grants);
	xpmem_peer_grant_uncharge(g->peer);
	kfree(g);
}

/**
 * xpmem_grant_add() - record a permit CHECK_GET granted
 * @seg: the local segment, permission already checked
 * @peer: the requesting node
 * @incarnation: its daemon's incarnation
 * @flags: XPMEM_RDONLY or XPMEM_RDWR
 *
 * The record is charged to the daemon's memory cgroup and counted for
 * @peer; at most max_grants_per_segment records per segment and
 * max_grants_per_peer per peer.
 *
 * Return: 0, -ENOENT (segment removed), -ENOSPC (a cap), -ENOMEM.
 */
int xpmem_grant_add(struct xpmem_seg *seg, u32 peer, u64 incarnation,
		    int flags)
{
	struct xpmem_grant *g, *fresh;
	u32 *nr;
	int err = 0;

	/* Allocated before seg->lock: nothing under it may reclaim. */
	fresh = kzalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);
	if (!fresh) {
		xpmem_fail(XPMEM_FAIL_grant_nomem, seg->segid, 0, -ENOMEM);
		return -ENOMEM;
	}
	mutex_lock(&seg->lock);
	if (seg->dead) {
		err = -ENOENT;
		xpmem_fail(XPMEM_FAIL_grant_dead, seg->segid, 0, err);
		goto out;
	}
	g = xpmem_grant_find(seg, peer, incarnation);
	if (!g) {
		if (seg->nr_grants >= xpmem_grants_per_seg_max()) {
			pr_warn_ratelimited("xpmem: segment %#llx has %u grants (max_grants_per_segment): remote get by node %u refused (ENOSPC)\n",
					    seg->segid, seg->nr_grants, peer);
			err = -ENOSPC;
			xpmem_fail(XPMEM_FAIL_grant_cap, seg->segid, 0, err);
			goto out;
		}
		err = xpmem_peer_grant_charge(peer);
		if (err) {
			xpmem_fail(XPMEM_FAIL_grant_cap, seg->segid, 0, err);
			goto out;
		}
		g = fresh;
		fresh = NULL;
		g->peer = peer;
		g->incarnation = incarnation;
		list_add_tail(&g->node, &seg->grants);
		seg->nr_grants++;
		atomic_long_inc(&xpmem_nr_grants);
	}
	nr = flags == XPMEM_RDWR ? &g->nr_rw : &g->nr_ro;
	if (*nr >= XPMEM_GRANT_MAX_PERMITS) {
		pr_warn_ratelimited("xpmem: node %u holds %u permits on segment %#llx: another remote get refused (ENOSPC)\n",
				    peer, *nr, seg->segid);
		err = -ENOSPC;
		xpmem_fail(XPMEM_FAIL_grant_cap, seg->segid, 0, err);
		goto out;
	}
	(*nr)++;
out:
	mutex_unlock(&seg->lock);
	kfree(fresh);
	return err;
}

/**
 * xpmem_grants_drop() - the segment is going: drop every grant on it
 * @seg: the segment, marked dead; caller holds seg->lock
 */
void xpmem_grants_drop(struct xpmem_seg *seg)
{
	struct xpmem_grant *g, *tg;

	lockdep_assert_held(&seg->lock);
	list_for_each_entry_safe(g, tg, &seg->grants, node)
		xpmem_grant_free(seg, g);
}

/**
 * xpmem_grants_discard() - free the grants of a segment being freed
 * @seg: the segment, unreachable by anyone else
 */
void xpmem_grants_discard(struct xpmem_seg *seg)
{
	struct xpmem_grant *g, *tg;

	list_for_each_entry_safe(g, tg, &seg->grants, node)
		xpmem_grant_free(seg, g);
}

/* Drop @peer's grants made under incarnations older than @incarnation. */
static void xpmem_grants_peer_reset(struct xpmem_seg *seg, u32 peer,
				    u64 incarnation)
{
	struct xpmem_grant *g, *tg;

	lockdep_assert_held(&seg->lock);
	list_for_each_entry_safe(g, tg, &seg->grants, node) {
		if (g->peer != peer || g->incarnation >= incarnation)
			continue;
		xpmem_grant_free(seg, g);
	}
}

/**
 * xpmem_grant_count() - grant records on all segments, for debugfs
 *
 * Return: the number of (segment, peer, incarnation) grants.
 */
unsigned long xpmem_grant_count(void)
{
	return atomic_long_read(&xpmem_nr_grants);
}

/**
 * xpmem_query_grants() - QUERY GRANTS
 * @peer: only this peer's grants, 0: every peer's
 * @emit: called with one record per (segment, peer, incarnation)
 * @ctx: passed to @emit
 */
void xpmem_query_grants(u32 peer, xpmem_emit_t emit, void *ctx)
{
	struct xpmem_chan_record rec = {};
	struct xpmem_seg *seg;
	struct xpmem_grant *g;
	unsigned long idx = 0;

	while ((seg = xpmem_seg_next(&idx))) {
		mutex_lock(&seg->lock);
		list_for_each_entry(g, &seg->grants, node) {
			if (peer && g->peer != peer)
				continue;
			rec.segid = seg->segid;
			rec.start = g->nr_ro;
			rec.len = g->nr_rw;
			rec.aux = g->incarnation;
			rec.peer = g->peer;
			rec.flags = g->nr_rw ? 0 : XPMEM_CHAN_REC_RDONLY;
			emit(ctx, &rec);
		}
		mutex_unlock(&seg->lock);
		xpmem_seg_put(seg);
	}
}

/* ---- RESOLVE --------------------------------------------------------- */

/* Pages after the first one resolve only if present (with write access). */
static unsigned long xpmem_present_prefix(const unsigned long *pfns,
					  unsigned long n, bool write)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		if (!(pfns[i] & HMM_PFN_VALID) || (pfns[i] & HMM_PFN_ERROR) ||
		    (write && !(pfns[i] & HMM_PFN_WRITE)))
			break;
	}
	return i;
}

/*
 * The hmm pfns of @e's range, under the source's mmap_lock. As the local
 * fault: only the first page is faulted in; the following ones are included
 * while they are present (hmm_range_fault() would fault every page after
 * the first one needing it, so they are looked up by a second, non-faulting
 * call under the same notifier sequence).
 *
 * Return: 0 (*@n pages), -EBUSY (an invalidation ran: again) or the first
 * page's error.
 */
static int xpmem_resolve_pfns(const struct xpmem_chan_resolve *r,
			      struct xpmem_rmap *e, struct hmm_range *first,
			      struct hmm_range *rest, unsigned long *n)
{
	bool write = r->access & XPMEM_CHAN_ACCESS_WRITE;
	int err;

	/*
	 * The importer reads ahead (sequentially, or a whole PMD): fault in
	 * the whole range if every page of it can be; if one cannot, resolve
	 * as without AHEAD.
	 */
	if ((r->access & XPMEM_CHAN_ACCESS_AHEAD) && e->npages > 1) {
		struct hmm_range all = *first;

		all.end = rest->end;
		err = hmm_range_fault(&all);
		if (!err)
			*n = (all.end - all.start) >> PAGE_SHIFT;
		if (!err || err == -EBUSY)
			return err;
	}
	err = hmm_range_fault(first);
	*n = 1;
	if (!err && e->npages > 1) {
		err = hmm_range_fault(rest);
		if (!err)
			*n += xpmem_present_prefix(e->pfns + 1,
						   (rest->end - rest->start) >>
						   PAGE_SHIFT, write);
		else if (err != -EBUSY)
			err = 0;	/* the rest is not resolvable */
	}
	return err;
}

/*
 * Fault in the first page of @e's range and look up the present pages after
 * it (xpmem_resolve_pfns()), in the source vma of the first page, again
 * while an invalidation races. On success *@n pages of e->pfns are hmm pfns
 * read under first->notifier_seq.
 */
static int xpmem_resolve_fault(struct xpmem_seg *seg,
			       const struct xpmem_chan_resolve *r,
			       struct xpmem_rmap *e, struct hmm_range *first,
			       struct hmm_range *rest, unsigned long *n,
			       enum xpmem_fail_reason *why)
{
	struct vm_area_struct *svma;
	int err;

again:
	*why = XPMEM_FAIL_resolve_no_segment;
	if (READ_ONCE(seg->dead))
		return -ENOENT;
	first->notifier_seq = mmu_interval_read_begin(&seg->notifier);
	rest->notifier_seq = first->notifier_seq;
	mmap_read_lock(seg->mm);
	svma = vma_lookup(seg->mm, first->start);
	if (!svma || !xpmem_vma_exportable(svma)) {
		mmap_read_unlock(seg->mm);
		*why = XPMEM_FAIL_resolve_no_source;
		return -EFAULT;
	}
	/* Neighbours only from the same source vma. */
	rest->end = min(rest->end, svma->vm_end);
	if (rest->end <= rest->start)
		e->npages = 1;
	err = xpmem_resolve_pfns(r, e, first, rest, n);
	mmap_read_unlock(seg->mm);
	if (err == -EBUSY) {
		cond_resched();
		goto again;
	}
	if (err) {
		/* -EPERM: a write to a read-only source (the asker may retry). */
		*why = err == -EPERM ? XPMEM_FAIL_resolve_readonly :
		       err == -ENOMEM ? XPMEM_FAIL_resolve_nomem :
		       XPMEM_FAIL_resolve_source_error;
		if (err == -EPERM)
			err = -EACCES;
		else if (err != -ENOMEM)
			err = -EFAULT;
	}
	return err;
}

/*
 * The hmm pfns of @e become plain pfns (of pages dirtied for a write) and
 * the answer @fr their physically contiguous runs. Caller: seg->lock, the
 * notifier sequence still valid.
 */
static void xpmem_resolve_frames(struct xpmem_rmap *e,
				 struct xpmem_chan_frames *fr, bool write)
{
	unsigned long i;

	fr->nextents = 0;
	for (i = 0; i < e->npages; i++) {
		struct page *page = hmm_pfn_to_page(e->pfns[i]);
		u64 phys;

		e->pfns[i] = page_to_pfn(page);
		/* The peer writes behind the source PTE's back. */
		if (write && !PageDirty(page))
			set_page_dirty(page);
		phys = PFN_PHYS(e->pfns[i]);
		if (fr->nextents &&
		    fr->extents[fr->nextents - 1].phys +
		    fr->extents[fr->nextents - 1].len == phys) {
			fr->extents[fr->nextents - 1].len += PAGE_SIZE;
		} else if (fr->nextents < XPMEM_CHAN_MAX_EXTENTS) {
			fr->extents[fr->nextents].phys = phys;
			fr->extents[fr->nextents].len = PAGE_SIZE;
			fr->nextents++;
		} else {
			/* The reply covers a prefix; the entry stays whole. */
			break;
		}
	}
}

/* Put @e on seg->rmap. Caller: seg->lock. */
static void xpmem_rmap_add(struct xpmem_seg *seg, struct xpmem_rmap *e)
{
	struct xpmem_rmap *o, *to;

	/* A new entry supersedes the same peer's entries inside it. */
	for (o = xpmem_rmap_first(seg, e->start, e->end); o; o = to) {
		to = xpmem_rmap_next(o, e->start, e->end);
		if (o->peer == e->peer && o->start >= e->start &&
		    o->end <= e->end) {
			/*
			 * The peer may still map those pages writable: a
			 * later revocation of its write mappings must find
			 * them.
			 */
			e->write |= o->write;
			xpmem_rmap_remove(seg, o);
			xpmem_rmap_entry_free(o);
		}
	}
	xpmem_rmap_insert(seg, e);
}

/*
 * Record the @n pages xpmem_resolve_fault() found read under @seq: trim @e
 * to them, answer their frames in @fr and put @e on seg->rmap, unless the
 * segment died, the grant went or an invalidation ran meanwhile (-EAGAIN:
 * fault again).
 */
static int xpmem_resolve_commit(struct xpmem_seg *seg,
				const struct xpmem_chan_resolve *r,
				struct xpmem_rmap *e, struct xpmem_chan_frames *fr,
				unsigned long n, unsigned long seq,
				enum xpmem_fail_reason *why)
{
	bool write = r->access & XPMEM_CHAN_ACCESS_WRITE;

	mutex_lock(&seg->lock);
	if (seg->dead) {
		mutex_unlock(&seg->lock);
		return -ENOENT;
	}
	/* The grant may have been released while we faulted. */
	if (!xpmem_grant_allows(seg, e->peer, e->incarnation, r->access)) {
		mutex_unlock(&seg->lock);
		*why = XPMEM_FAIL_resolve_no_grant;
		return -EACCES;
	}
	if (mmu_interval_read_retry(&seg->notifier, seq)) {
		mutex_unlock(&seg->lock);
		return -EAGAIN;
	}
	e->npages = n;
	e->write = write;
	e->end = e->start + (n << PAGE_SHIFT);
	/* Count what the entry holds, not what was asked for. */
	if (e->charged > n)
		xpmem_peer_uncharge(e->peer, e->charged - n);
	e->charged = n;
	xpmem_resolve_frames(e, fr, write);
	xpmem_rmap_add(seg, e);
	mutex_unlock(&seg->lock);
	return 0;
}

/*
 * Resolve r into @e (allocated for e->npages) and @fr (room for
 * XPMEM_CHAN_MAX_EXTENTS): fault (xpmem_resolve_fault()), then record under
 * seg->lock (xpmem_resolve_commit()), again while an invalidation raced.
 * On success @e, trimmed to what was resolved, is on seg->rmap.
 */
static int xpmem_resolve_seg(struct xpmem_seg *seg,
			     const struct xpmem_chan_resolve *r,
			     struct xpmem_rmap *e, struct xpmem_chan_frames *fr)
{
	bool write = r->access & XPMEM_CHAN_ACCESS_WRITE;
	struct hmm_range first = {
		.notifier = &seg->notifier,
		.hmm_pfns = e->pfns,
		.default_flags = HMM_PFN_REQ_FAULT |
				 (write ? HMM_PFN_REQ_WRITE : 0),
	};
	struct hmm_range rest = {
		.notifier = &seg->notifier,
		.hmm_pfns = e->pfns + 1,
	};
	enum xpmem_fail_reason why;
	unsigned long n;
	int err;

	first.start = seg->start + e->start;
	first.end = first.start + PAGE_SIZE;
	rest.start = first.end;
	rest.end = seg->start + e->end;
	if (!mmget_not_zero(seg->mm)) {
		xpmem_fail(XPMEM_FAIL_resolve_owner_gone, seg->segid, e->start,
			   -ENOENT);
		return -ENOENT;
	}
	do {
		err = xpmem_resolve_fault(seg, r, e, &first, &rest, &n, &why);
		if (!err)
			err = xpmem_resolve_commit(seg, r, e, fr, n,
						   first.notifier_seq, &why);
	} while (err == -EAGAIN);
	if (err)
		xpmem_fail(why, seg->segid, e->start, err);
	mmput(seg->mm);
	return err;
}

/*
 * Is @r within its requester's grant and the segment? Then a reverse-map
 * entry for it (at most XPMEM_RESOLVE_MAX_PAGES), charged to the requester.
 * Counts its failures.
 */
static int xpmem_resolve_admit(struct xpmem_seg *seg,
			       const struct xpmem_chan_resolve *r,
			       struct xpmem_rmap **ep)
{
	enum xpmem_fail_reason why;
	struct xpmem_rmap *e;
	unsigned long npages;
	bool ok;
	int err;

	/* Nothing beyond the requester's grant, checked before any work. */
	mutex_lock(&seg->lock);
	ok = xpmem_grant_allows(seg, r->requester, r->requester_incarnation,
				r->access);
	mutex_unlock(&seg->lock);
	err = -EACCES;
	why = XPMEM_FAIL_resolve_no_grant;
	if (!ok)
		goto refused;
	err = -EINVAL;
	why = XPMEM_FAIL_resolve_invalid;
	if (!r->len || !PAGE_ALIGNED(r->start) || !PAGE_ALIGNED(r->len) ||
	    r->start >= seg->end - seg->start ||
	    r->len > seg->end - seg->start - r->start)
		goto refused;
	npages = min_t(u64, r->len >> PAGE_SHIFT, XPMEM_RESOLVE_MAX_PAGES);
	err = -ENOMEM;
	why = XPMEM_FAIL_resolve_nomem;
	e = kzalloc(struct_size(e, pfns, npages), GFP_KERNEL_ACCOUNT);
	if (!e)
		goto refused;
	err = xpmem_peer_charge(r->requester, npages);
	if (err) {
		kfree(e);
		why = XPMEM_FAIL_resolve_peer_cap;
		goto refused;
	}
	e->charged = npages;
	e->peer = r->requester;
	e->incarnation = r->requester_incarnation;
	e->start = r->start;
	e->end = r->start + (npages << PAGE_SHIFT);
	e->npages = npages;
	*ep = e;
	return 0;
refused:
	xpmem_fail(why, r->segid, r->start, err);
	return err;
}

/* The answer to @r in @fr: 0 or the error RESOLVED carries. */
static int xpmem_resolve_one(const struct xpmem_chan_resolve *r,
			     struct xpmem_chan_frames *fr)
{
	struct xpmem_rmap *e;
	struct xpmem_seg *seg;
	int err;

	/*
	 * The permit was granted by this kernel instance: a segment id reused
	 * after the owner rebooted is another segment (xpmem_channel.h).
	 */
	if (r->owner_instance != xpmem_incarnation) {
		err = -ESTALE;
		xpmem_fail(XPMEM_FAIL_resolve_stale, r->segid, r->start, err);
		return err;
	}
	seg = xpmem_seg_lookup(r->segid);
	if (!seg) {
		err = -ENOENT;
		xpmem_fail(XPMEM_FAIL_resolve_no_segment, r->segid, r->start,
			   err);
		return err;
	}
	err = xpmem_resolve_admit(seg, r, &e);
	if (!err) {
		/* counts its own failures */
		err = xpmem_resolve_seg(seg, r, e, fr);
		if (err)
			xpmem_rmap_entry_free(e);
	}
	xpmem_seg_put(seg);
	return err;
}

static void xpmem_resolve_fn(struct work_struct *work)
{
	struct xpmem_resolve_work *w =
		container_of(work, struct xpmem_resolve_work, work);
	const struct xpmem_chan_resolve *r = &w->r;
	struct xpmem_chan_frames *fr;
	struct xpmem_chan_hdr *h;
	int err;

	h = xpmem_chan_alloc(XPMEM_CHAN_RESOLVED,
			     struct_size(fr, extents, XPMEM_CHAN_MAX_EXTENTS),
			     w->hdr.seq);
	if (!h) {
		/* no answer: the daemon's request times out */
		xpmem_fail(XPMEM_FAIL_resolve_nomem, r->segid, r->start,
			   -ENOMEM);
		goto done;
	}
	fr = XPMEM_CHAN_BODY(h);
	err = xpmem_resolve_one(r, fr);
	fr->error = err;
	if (err)
		fr->nextents = 0;
	h->len = sizeof(*h) + struct_size(fr, extents, fr->nextents);
	if (xpmem_chan_post(h))
		xpmem_fail(XPMEM_FAIL_resolve_reply_lost, r->segid, r->start,
			   -ENOTCONN);
done:
	xpmem_peer_resolve_put(r->requester);
	kfree(w);
	atomic_dec(&xpmem_resolves);
}

/**
 * xpmem_resolve_counts() - RESOLVEs refused since load
 * @stale: set to those naming another owner instance (-ESTALE)
 * @busy: set to those over their peer's share of slots (-EAGAIN)
 */
void xpmem_resolve_counts(u64 *stale, u64 *busy)
{
	*stale = xpmem_fail_count(XPMEM_FAIL_resolve_stale);
	*busy = xpmem_fail_count(XPMEM_FAIL_resolve_peer_busy);
}

/**
 * xpmem_resolve_queue() - RESOLVE from the daemon: queue it for the workqueue
 * @hdr: the request's header (its seq is echoed by RESOLVED)
 * @r: its body
 *
 * Checks the requester and access fields and takes a RESOLVE slot (at most
 * 256, max_resolves_per_peer of them per peer); xpmem_resolve_fn() answers.
 * A request refused here is answered at once: -EINVAL, -EAGAIN (no slot) or
 * -ENOMEM.
 *
 * Return: 0, or the error of queueing that immediate answer.
 */
int xpmem_resolve_queue(const struct xpmem_chan_hdr *hdr,
			const struct xpmem_chan_resolve *r)
{
	struct xpmem_chan_frames fr = { .error = -EINVAL };
	struct xpmem_resolve_work *w;

	enum xpmem_fail_reason why = XPMEM_FAIL_resolve_invalid;

	if (r->requester > XPMEM_ID_NODE_MAX ||
	    !(r->access & (XPMEM_CHAN_ACCESS_READ | XPMEM_CHAN_ACCESS_WRITE)) ||
	    (r->access & ~(XPMEM_CHAN_ACCESS_READ | XPMEM_CHAN_ACCESS_WRITE |
			   XPMEM_CHAN_ACCESS_AHEAD)))
		goto fail;
	fr.error = -EAGAIN;
	why = XPMEM_FAIL_resolve_busy;
	if (atomic_inc_return(&xpmem_resolves) > XPMEM_MAX_RESOLVES)
		goto fail_dec;
	fr.error = xpmem_peer_resolve_get(r->requester);
	why = XPMEM_FAIL_resolve_peer_busy;
	if (fr.error)
		goto fail_dec;
	fr.error = -ENOMEM;
	why = XPMEM_FAIL_resolve_nomem;
	w = kmalloc(sizeof(*w), GFP_KERNEL);
	if (!w)
		goto fail_put;
	INIT_WORK(&w->work, xpmem_resolve_fn);
	w->hdr = *hdr;
	w->r = *r;
	xpmem_rmap_queue(&w->work);
	return 0;

fail_put:
	xpmem_peer_resolve_put(r->requester);
fail_dec:
	atomic_dec(&xpmem_resolves);
fail:
	xpmem_fail(why, r->segid, r->start, fr.error);
	return xpmem_chan_reply(hdr, XPMEM_CHAN_RESOLVED, &fr, sizeof(fr));
}

/* ---- taking entries off the tree (revocations, invalidate.c) ------------ */

/**
 * xpmem_rmap_overlaps() - does a peer map any of segment offsets [@start, @end)?
 * @seg: the local segment; caller holds seg->lock
 * @start: first offset
 * @end: end offset
 *
 * Return: true if an entry of the reverse map overlaps the range.
 */
bool xpmem_rmap_overlaps(struct xpmem_seg *seg, unsigned long start,
			 unsigned long end)
{
	lockdep_assert_held(&seg->lock);
	return start < end &&
	       xpmem_rmap_it_iter_first(&seg->rmap, start, end - 1);
}

/**
 * xpmem_rmap_take() - take entries overlapping offsets [@start, @end) off
 * @seg: the local segment; caller holds seg->lock
 * @start: first segment offset
 * @end: end offset
 * @gone: the entries are moved here
 *
 * Move the entries overlapping segment offsets [start, end) to @gone and
 * take a reference on their pages (still mapped in the source: the caller
 * holds seg->lock and the notifier has not returned). Caller: seg->lock.
 */
void xpmem_rmap_take(struct xpmem_seg *seg, unsigned long start,
		     unsigned long end, struct list_head *gone)
{
	struct xpmem_rmap *e, *te;

	lockdep_assert_held(&seg->lock);
	if (start >= end)
		return;
	for (e = xpmem_rmap_first(seg, start, end); e; e = te) {
		te = xpmem_rmap_next(e, start, end);
		xpmem_rmap_remove(seg, e);
		xpmem_rmap_get_pages(e);
		list_add_tail(&e->node, gone);
	}
}

/* ---- RELEASE_GRANT: what the revocation takes (invalidate.c) ----------- */

/*
 * Move @peer's entries (made under @incarnation; only those resolved for
 * write if @write_only) to @gone with references on their pages, as an
 * invalidation does: still on the tree means still the source's pages.
 */
static void xpmem_rmap_take_peer(struct xpmem_seg *seg, u32 peer,
				 u64 incarnation, bool write_only,
				 struct list_head *gone)
{
	struct xpmem_rmap *e, *te;

	lockdep_assert_held(&seg->lock);
	for (e = xpmem_rmap_first(seg, 0, ULONG_MAX); e; e = te) {
		te = xpmem_rmap_next(e, 0, ULONG_MAX);
		if (e->peer != peer || e->incarnation != incarnation ||
		    (write_only && !e->write))
			continue;
		xpmem_rmap_remove(seg, e);
		xpmem_rmap_get_pages(e);
		list_add_tail(&e->node, gone);
	}
}

/**
 * xpmem_grant_put() - one permit less for a RELEASE_GRANT
 * @seg: the local segment; caller holds seg->lock
 * @r: the RELEASE_GRANT's body, fields checked
 * @gone: what the peer may no longer map is moved here
 *
 * One permit of @r's kind less in the grant of (@r->node, @r->incarnation)
 * on @seg; what the peer may no longer map goes from the reverse map to
 * @gone.
 *
 * Return: 0, -ENOENT (no grant) or -EINVAL (no permit of that kind left).
 */
int xpmem_grant_put(struct xpmem_seg *seg, const struct xpmem_chan_release *r,
		    struct list_head *gone)
{
	struct xpmem_grant *g;
	bool none;
	u32 *nr;

	lockdep_assert_held(&seg->lock);
	g = xpmem_grant_find(seg, r->node, r->incarnation);
	if (!g)
		return -ENOENT;
	nr = r->flags == XPMEM_RDWR ? &g->nr_rw : &g->nr_ro;
	if (!*nr)
		return -EINVAL;
	(*nr)--;
	if (g->nr_rw)
		return 0;
	none = !g->nr_ro;
	if (none)
		xpmem_grant_free(seg, g);
	xpmem_rmap_take_peer(seg, r->node, r->incarnation, !none, gone);
	return 0;
}

/**
 * xpmem_rmap_peer_reset() - forget what older incarnations of @peer hold
 * @peer: the peer node
 * @incarnation: its new incarnation
 *
 * On every segment: the grants older incarnations held, and their
 * reverse-map entries (which hold no page references).
 */
void xpmem_rmap_peer_reset(u32 peer, u64 incarnation)
{
	struct xpmem_rmap *e, *te;
	struct xpmem_seg *seg;
	unsigned long idx = 0;

	while ((seg = xpmem_seg_next(&idx))) {
		mutex_lock(&seg->lock);
		xpmem_grants_peer_reset(seg, peer, incarnation);
		for (e = xpmem_rmap_first(seg, 0, ULONG_MAX); e; e = te) {
			te = xpmem_rmap_next(e, 0, ULONG_MAX);
			if (e->peer == peer && e->incarnation < incarnation) {
				xpmem_rmap_remove(seg, e);
				xpmem_rmap_entry_free(e);
			}
		}
		mutex_unlock(&seg->lock);
		xpmem_seg_put(seg);
	}
}

/**
 * xpmem_query_mappings() - QUERY MAPPINGS: the reverse maps
 * @peer: only this peer's entries; 0: every peer's (node 0's too)
 * @emit: called with one record per entry
 * @ctx: passed to @emit
 */
void xpmem_query_mappings(u32 peer, xpmem_emit_t emit, void *ctx)
{
	struct xpmem_chan_record rec = {};
	struct xpmem_seg *seg;
	struct xpmem_rmap *e, *te;
	unsigned long idx = 0;

	while ((seg = xpmem_seg_next(&idx))) {
		mutex_lock(&seg->lock);
		for (e = xpmem_rmap_first(seg, 0, ULONG_MAX); e; e = te) {
			te = xpmem_rmap_next(e, 0, ULONG_MAX);
			if (peer && e->peer != peer)
				continue;
			rec.segid = seg->segid;
			rec.start = e->start;
			rec.len = e->end - e->start;
			rec.aux = e->incarnation;
			rec.peer = e->peer;
			rec.flags = 0;
			emit(ctx, &rec);
		}
		mutex_unlock(&seg->lock);
		xpmem_seg_put(seg);
	}
}

/**
 * xpmem_rmap_queue() - run @work on the owner side's workqueue
 * @work: a RESOLVE's, or a revocation's (invalidate.c)
 */
void xpmem_rmap_queue(struct work_struct *work)
{
	queue_work(xpmem_wq, work);
}

/**
 * xpmem_rmap_init() - allocate the workqueue
 *
 * Return: 0 or -ENOMEM.
 */
int xpmem_rmap_init(void)
{
	xpmem_wq = alloc_workqueue("xpmem", WQ_UNBOUND, 0);
	return xpmem_wq ? 0 : -ENOMEM;
}

/**
 * xpmem_rmap_exit() - destroy the workqueue at unload
 *
 * Waits for the RESOLVEs and revocations queued on it.
 */
void xpmem_rmap_exit(void)
{
	destroy_workqueue(xpmem_wq);
}

/* ---- the owner side's rows in the channel's table ----------------------- */

static int xpmem_rmap_chan_resolve(struct xpmem_chan_hdr *h, bool *taken)
{
	return xpmem_resolve_queue(h, XPMEM_CHAN_BODY(h));
}

const struct xpmem_chan_handler xpmem_rmap_chan[] = {
	{ XPMEM_CHAN_RESOLVE, xpmem_rmap_chan_resolve },
	{ }
};
