/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Owner side of cross-partition attach (rmap.c): RESOLVE, the reverse map
 * of what peers map, grants. Their revocation is invalidate.c's.
 */
#ifndef _XPMEM_RMAP_H
#define _XPMEM_RMAP_H

#include <linux/list.h>
#include <linux/rbtree.h>
#include <linux/types.h>
#include <linux/workqueue.h>

#include "channel.h"
#include "segment.h"

/*
 * Reverse map entry (owner side): peer was given the frames of segment
 * offsets [start, end) by one RESOLVE, made under peer incarnation
 * incarnation. pfns[] are the source pages at that time; they stay the
 * source's pages until the next invalidation of the range, which removes
 * the entry (so get_page() on them is safe while it is on seg->rmap).
 */
struct xpmem_rmap {
	struct rb_node rb;		/* in seg->rmap, by [start, last] */
	unsigned long last;		/* end - 1 */
	unsigned long subtree_last;
	struct list_head node;		/* off the tree: revoke/quarantine lists */
	u32 peer;
	u64 incarnation;
	bool write;			/* resolved for write access */
	unsigned long start;
	unsigned long end;
	unsigned long npages;
	unsigned long charged;		/* pages counted for peer (limits.c) */
	unsigned long pfns[];
};

int xpmem_rmap_init(void);
void xpmem_rmap_exit(void);
struct xpmem_chan_resolve;
void xpmem_resolve_counts(u64 *stale, u64 *busy);
int xpmem_resolve_queue(const struct xpmem_chan_hdr *hdr,
			const struct xpmem_chan_resolve *r);
bool xpmem_rmap_overlaps(struct xpmem_seg *seg, unsigned long start,
			 unsigned long end);
void xpmem_rmap_take(struct xpmem_seg *seg, unsigned long start,
		     unsigned long end, struct list_head *gone);
void xpmem_rmap_put_free(struct xpmem_rmap *e);
void xpmem_rmap_entry_free(struct xpmem_rmap *e);
void xpmem_rmap_discard(struct xpmem_seg *seg);
void xpmem_rmap_peer_reset(u32 peer, u64 incarnation);
void xpmem_rmap_queue(struct work_struct *work);
void xpmem_query_mappings(u32 peer, xpmem_emit_t emit, void *ctx);
int xpmem_grant_add(struct xpmem_seg *seg, u32 peer, u64 incarnation,
		    int flags);
struct xpmem_chan_release;
int xpmem_grant_put(struct xpmem_seg *seg,
		    const struct xpmem_chan_release *r,
		    struct list_head *gone);
void xpmem_grants_drop(struct xpmem_seg *seg);
void xpmem_grants_discard(struct xpmem_seg *seg);
void xpmem_query_grants(u32 peer, xpmem_emit_t emit, void *ctx);
unsigned long xpmem_grant_count(void);

extern const struct xpmem_chan_handler xpmem_rmap_chan[];

#endif /* _XPMEM_RMAP_H */
