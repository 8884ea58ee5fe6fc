/* SPDX-License-Identifier: GPL-2.0 */
/* MAKE, REMOVE, GET, RELEASE and their teardown (verbs.c). */
#ifndef _XPMEM_VERBS_H
#define _XPMEM_VERBS_H

#include <linux/types.h>

struct xpmem_ap;
struct xpmem_seg;
struct xpmem_tg;

int xpmem_make(struct xpmem_tg *tg, u64 vaddr, u64 size, int permit_type,
	       u64 permit_value, s64 *segid);
int xpmem_remove(struct xpmem_tg *tg, s64 segid);
void xpmem_seg_destroy(struct xpmem_seg *seg);
int xpmem_get(struct xpmem_tg *tg, s64 segid, int flags, int permit_type,
	      u64 permit_value, s64 *apid);
int xpmem_release(struct xpmem_tg *tg, s64 apid);
void xpmem_ap_destroy(struct xpmem_ap *ap);

#endif /* _XPMEM_VERBS_H */
