/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Source-side invalidation (notifier.c): each local segment's interval
 * notifier, and the zap of attachment PTEs every revocation uses.
 */
#ifndef _XPMEM_NOTIFIER_H
#define _XPMEM_NOTIFIER_H

#include <linux/list.h>
#include <linux/mmu_notifier.h>

struct task_struct;
struct xpmem_att;

extern const struct mmu_interval_notifier_ops xpmem_seg_notifier_ops;
void xpmem_zap_att_range(struct xpmem_att *att, unsigned long start,
			 unsigned long end);
struct xpmem_zapper {
	struct task_struct *task;
	struct hlist_node node;
};

void xpmem_zapper_enter(struct xpmem_zapper *z);
void xpmem_zapper_exit(struct xpmem_zapper *z);

#endif /* _XPMEM_NOTIFIER_H */
