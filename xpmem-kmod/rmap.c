// SPDX-License-Identifier: GPL-2.0
/*
 * Owner side of cross-partition attach: RESOLVE (frames of a local segment
 * for a remote importer), the per-segment reverse map of what each peer
 * maps, INVALIDATE from the segment's interval notifier, and the quarantine
 * of pages a peer did not ack.
 *
 * Reverse map: seg->rmap (under seg->lock), an interval tree of segment
 * offsets, holds one struct xpmem_rmap per RESOLVE: peer, its incarnation,
 * the offsets and the pfns handed out; each peer may hold at most
 * max_rmap_entries_per_peer entries (limits.c). An
 * invalidation takes every entry overlapping the range off the tree (the
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
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/sort.h>
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

/* Revocation of what a peer maps beyond its grant, after RELEASE_GRANT. */
struct xpmem_revoke_work {
	struct work_struct work;
	struct xpmem_seg *seg;		/* reference */
	struct list_head gone;		/* struct xpmem_rmap, page refs held */
};

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

static void xpmem_rmap_put_free(struct xpmem_rmap *e)
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
 * Resolve r into @e (allocated for e->npages) and @fr (room for
 * XPMEM_CHAN_MAX_EXTENTS). As the local fault: only the first page is
 * faulted in; the following ones are included while they are present
 * (hmm_range_fault() would fault every page after the first one needing it,
 * so they are looked up by a second, non-faulting call under the same
 * notifier sequence). On success @e, trimmed to what was resolved, is on
 * seg->rmap.
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
	unsigned long i, n = e->npages;
	enum xpmem_fail_reason why;
	struct vm_area_struct *svma;
	struct xpmem_rmap *o, *to;
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
again:
	why = XPMEM_FAIL_resolve_no_segment;
	if (READ_ONCE(seg->dead)) {
		err = -ENOENT;
		goto out;
	}
	first.notifier_seq = mmu_interval_read_begin(&seg->notifier);
	rest.notifier_seq = first.notifier_seq;
	mmap_read_lock(seg->mm);
	svma = vma_lookup(seg->mm, first.start);
	if (!svma || !xpmem_vma_exportable(svma)) {
		mmap_read_unlock(seg->mm);
		err = -EFAULT;
		why = XPMEM_FAIL_resolve_no_source;
		goto out;
	}
	/* Neighbours only from the same source vma. */
	rest.end = min(rest.end, svma->vm_end);
	if (rest.end <= rest.start)
		e->npages = 1;
	/*
	 * The importer reads ahead (sequentially, or a whole PMD): fault in
	 * the whole range if every page of it can be; if one cannot, resolve
	 * as without AHEAD.
	 */
	if ((r->access & XPMEM_CHAN_ACCESS_AHEAD) && e->npages > 1) {
		struct hmm_range all = first;

		all.end = rest.end;
		err = hmm_range_fault(&all);
		if (err == -EBUSY) {
			mmap_read_unlock(seg->mm);
			cond_resched();
			goto again;
		}
		if (!err) {
			n = (all.end - all.start) >> PAGE_SHIFT;
			mmap_read_unlock(seg->mm);
			goto resolved;
		}
	}
	err = hmm_range_fault(&first);
	n = 1;
	if (!err && e->npages > 1) {
		err = hmm_range_fault(&rest);
		if (!err)
			n += xpmem_present_prefix(e->pfns + 1,
						  (rest.end - rest.start) >>
						  PAGE_SHIFT, write);
		else if (err != -EBUSY)
			err = 0;	/* the rest is not resolvable */
	}
	mmap_read_unlock(seg->mm);
	if (err == -EBUSY) {
		cond_resched();
		goto again;
	}
	if (err) {
		/* -EPERM: a write to a read-only source (the asker may retry). */
		why = err == -EPERM ? XPMEM_FAIL_resolve_readonly :
		      err == -ENOMEM ? XPMEM_FAIL_resolve_nomem :
		      XPMEM_FAIL_resolve_source_error;
		if (err == -EPERM)
			err = -EACCES;
		else if (err != -ENOMEM)
			err = -EFAULT;
		goto out;
	}

resolved:
	mutex_lock(&seg->lock);
	if (seg->dead) {
		mutex_unlock(&seg->lock);
		err = -ENOENT;
		goto out;
	}
	/* The grant may have been released while we faulted. */
	if (!xpmem_grant_allows(seg, e->peer, e->incarnation, r->access)) {
		mutex_unlock(&seg->lock);
		err = -EACCES;
		why = XPMEM_FAIL_resolve_no_grant;
		goto out;
	}
	if (mmu_interval_read_retry(&seg->notifier, first.notifier_seq)) {
		mutex_unlock(&seg->lock);
		goto again;
	}
	e->npages = n;
	e->write = write;
	e->end = e->start + (n << PAGE_SHIFT);
	/* Count what the entry holds, not what was asked for. */
	if (e->charged > n)
		xpmem_peer_uncharge(e->peer, e->charged - n);
	e->charged = n;
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
	mutex_unlock(&seg->lock);
	err = 0;
out:
	if (err)
		xpmem_fail(why, seg->segid, e->start, err);
	mmput(seg->mm);
	return err;
}

static void xpmem_resolve_fn(struct work_struct *work)
{
	struct xpmem_resolve_work *w =
		container_of(work, struct xpmem_resolve_work, work);
	const struct xpmem_chan_resolve *r = &w->r;
	struct xpmem_chan_frames *fr;
	struct xpmem_chan_hdr *h;
	enum xpmem_fail_reason why;
	struct xpmem_rmap *e = NULL;
	struct xpmem_seg *seg;
	unsigned long npages;
	bool ok;
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

	/*
	 * The permit was granted by this kernel instance: a segment id reused
	 * after the owner rebooted is another segment (xpmem_channel.h).
	 */
	if (r->owner_instance != xpmem_incarnation) {
		err = -ESTALE;
		xpmem_fail(XPMEM_FAIL_resolve_stale, r->segid, r->start, err);
		goto reply;
	}
	seg = xpmem_seg_lookup(r->segid);
	if (!seg) {
		err = -ENOENT;
		xpmem_fail(XPMEM_FAIL_resolve_no_segment, r->segid, r->start,
			   err);
		goto reply;
	}
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
	/* counts its own failures */
	err = xpmem_resolve_seg(seg, r, e, fr);
	if (err)
		xpmem_rmap_entry_free(e);
	goto put;
refused:
	xpmem_fail(why, r->segid, r->start, err);
put:
	xpmem_seg_put(seg);
reply:
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
	queue_work(xpmem_wq, &w->work);
	return 0;

fail_put:
	xpmem_peer_resolve_put(r->requester);
fail_dec:
	atomic_dec(&xpmem_resolves);
fail:
	xpmem_fail(why, r->segid, r->start, fr.error);
	return xpmem_chan_reply(hdr, XPMEM_CHAN_RESOLVED, &fr, sizeof(fr));
}

/* ---- invalidation ------------------------------------------------------ */

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

/*
 * Move the entries overlapping segment offsets [start, end) to @gone and
 * take a reference on their pages (still mapped in the source: the caller
 * holds seg->lock and the notifier has not returned). Caller: seg->lock.
 */
static void xpmem_rmap_take(struct xpmem_seg *seg, unsigned long start,
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
 * Revoke the entries of @gone from their peers: one INVALIDATE for all of
 * them, wait for ACKED/TIMED_OUT (at most ack_timeout_ms; at once if there
 * is no daemon), then drop the page references or quarantine them.
 * Called without seg->lock: the daemon may need it meanwhile (QUERY,
 * RESOLVE of other ranges).
 */
static void xpmem_rmap_revoke(struct xpmem_seg *seg, struct list_head *gone)
{
	struct xpmem_chan_invalidate *inv;
	unsigned long start = ULONG_MAX, end = 0;
	struct xpmem_chan_hdr *h, *reply = NULL;
	struct xpmem_rmap *e, *f;
	bool overflow = false;
	u32 npeers = 0;
	u64 gen;
	int err;

	list_for_each_entry(e, gone, node) {
		start = min(start, e->start);
		end = max(end, e->end);
		/* distinct peers: count e if no earlier entry has its peer */
		list_for_each_entry(f, gone, node) {
			if (f == e)
				npeers++;
			if (f == e || f->peer == e->peer)
				break;
		}
	}
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
	xpmem_chan_free(reply);
timed_out:
	xpmem_quarantine(seg, gen, start, end, gone);
}

/**
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
bool xpmem_rmap_invalidate(struct xpmem_seg *seg,
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
 * @seg: the local segment, marked dead; caller holds seg->lock, which is
 *	dropped here
 *
 * Takes every reverse-map entry and revokes it as an invalidation does,
 * waiting for the peers' acks or the timeout (quarantine); frees nothing
 * else of the segment.
 */
void xpmem_rmap_free(struct xpmem_seg *seg)
{
	LIST_HEAD(gone);

	lockdep_assert_held(&seg->lock);
	xpmem_rmap_take(seg, 0, ULONG_MAX, &gone);
	mutex_unlock(&seg->lock);
	if (!list_empty(&gone))
		xpmem_rmap_revoke(seg, &gone);
}

/* ---- RELEASE_GRANT ------------------------------------------------------- */

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

static void xpmem_revoke_fn(struct work_struct *work)
{
	struct xpmem_revoke_work *w =
		container_of(work, struct xpmem_revoke_work, work);

	xpmem_rmap_revoke(w->seg, &w->gone);
	xpmem_seg_put(w->seg);
	kfree(w);
}

/*
 * One permit of @r's kind less in the grant of (@r->node, @r->incarnation)
 * on @seg; what the peer may no longer map goes from the reverse map to
 * @gone. Caller: seg->lock. Return: 0, -ENOENT (no grant) or -EINVAL (no
 * permit of that kind left).
 */
static int xpmem_grant_put(struct xpmem_seg *seg,
			   const struct xpmem_chan_release *r,
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
int xpmem_grant_release(const struct xpmem_chan_hdr *hdr,
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
	queue_work(xpmem_wq, &w->work);
	return ret;
answer:
	xpmem_fail(why, r->segid, 0, st.error);
	return xpmem_chan_reply(hdr, XPMEM_CHAN_RELEASE_GRANT_DONE, &st,
				sizeof(st));
}

/* ---- quarantine ---------------------------------------------------------- */

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
void xpmem_quar_unsolicited(u16 type, const void *body)
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
void xpmem_quar_peer_acked(u64 generation, u32 peer)
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
	struct xpmem_seg *seg;
	unsigned long idx = 0;

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
 * xpmem_rmap_init() - start the generations, allocate the workqueue
 *
 * Return: 0 or -ENOMEM.
 */
int xpmem_rmap_init(void)
{
	/* Generations keep growing across module reloads too. */
	atomic64_set(&xpmem_generation, ktime_get_real_ns());
	xpmem_wq = alloc_workqueue("xpmem", WQ_UNBOUND, 0);
	return xpmem_wq ? 0 : -ENOMEM;
}

/**
 * xpmem_rmap_exit() - destroy the workqueue at unload
 *
 * The quarantine pins the module, so it is empty here (WARNs if not).
 */
void xpmem_rmap_exit(void)
{
	struct xpmem_quar *q, *tq;

	destroy_workqueue(xpmem_wq);
	/* The quarantine pins the module: nothing can be left here. */
	mutex_lock(&xpmem_quar_lock);
	list_for_each_entry_safe(q, tq, &xpmem_quar_list, node) {
		WARN_ON(1);
		list_del(&q->node);
		xpmem_quar_free(q);
	}
	mutex_unlock(&xpmem_quar_lock);
}

/* ---- the owner side's rows in the channel's table ----------------------- */

static int xpmem_rmap_chan_resolve(struct xpmem_chan_hdr *h, bool *taken)
{
	return xpmem_resolve_queue(h, XPMEM_CHAN_BODY(h));
}

/* ACKED and TIMED_OUT of an INVALIDATE, matched by generation only. */
static int xpmem_rmap_chan_acked(struct xpmem_chan_hdr *h, bool *taken)
{
	void *b = XPMEM_CHAN_BODY(h);

	/* The body starts with the generation for both. */
	*taken = xpmem_chan_complete(XPMEM_CHAN_ACKED, *(u64 *)b, h);
	if (!*taken)
		xpmem_quar_unsolicited(h->type, b);
	return 0;
}

static int xpmem_rmap_chan_peer_acked(struct xpmem_chan_hdr *h, bool *taken)
{
	struct xpmem_chan_peer_acked *pa = XPMEM_CHAN_BODY(h);

	if (!xpmem_peer_valid(pa->peer))
		return -EINVAL;
	xpmem_quar_peer_acked(pa->generation, pa->peer);
	return 0;
}

static int xpmem_rmap_chan_release(struct xpmem_chan_hdr *h, bool *taken)
{
	return xpmem_grant_release(h, XPMEM_CHAN_BODY(h));
}

const struct xpmem_chan_handler xpmem_rmap_chan[] = {
	{ XPMEM_CHAN_RESOLVE, xpmem_rmap_chan_resolve },
	{ XPMEM_CHAN_ACKED, xpmem_rmap_chan_acked },
	{ XPMEM_CHAN_TIMED_OUT, xpmem_rmap_chan_acked },
	{ XPMEM_CHAN_PEER_ACKED, xpmem_rmap_chan_peer_acked },
	{ XPMEM_CHAN_RELEASE_GRANT, xpmem_rmap_chan_release },
	{ }
};
