/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The revoke path (invalidate.c): the zap of attachment PTEs, each local
 * segment's interval notifier, the remote INVALIDATE and its wait, the
 * quarantine, RELEASE_GRANT.
 */
#ifndef _XPMEM_INVALIDATE_H
#define _XPMEM_INVALIDATE_H

#include <linux/mmu_notifier.h>
#include <linux/types.h>

#include "channel.h"
#include "segment.h"

/* Which attachments xpmem_zap_atts() zaps. */
enum xpmem_zap {
	XPMEM_ZAP_LIVE,		/* those not dead (an invalidation) */
	XPMEM_ZAP_EVERY,	/* every one, dead or not (a remote ZAP) */
	XPMEM_ZAP_KILL,		/* each, marked dead first (REMOVE, RELEASE) */
};

extern const struct mmu_interval_notifier_ops xpmem_seg_notifier_ops;
extern const struct xpmem_chan_handler xpmem_invalidate_chan[];

void xpmem_zap_atts(struct xpmem_seg *seg, const struct xpmem_ap *ap,
		    unsigned long start, unsigned long end, enum xpmem_zap how);
void xpmem_zap_vma(struct vm_area_struct *vma, unsigned long start,
		   unsigned long len);

void xpmem_rmap_free(struct xpmem_seg *seg);

void xpmem_quar_peer_reset(u32 peer, u64 incarnation);
void xpmem_quar_replay(void);
void xpmem_quar_counts(unsigned long *entries, unsigned long *pages);
void xpmem_query_quarantine(xpmem_emit_t emit, void *ctx);

void xpmem_invalidate_init(void);
void xpmem_invalidate_exit(void);

#endif /* _XPMEM_INVALIDATE_H */
