/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Importer side of cross-partition attach (remote.c): remote segments,
 * their fault, ZAP, peer windows.
 */
#ifndef _XPMEM_REMOTE_H
#define _XPMEM_REMOTE_H

#include <linux/mm_types.h>
#include <linux/types.h>

#include "channel.h"
#include "segment.h"

struct seq_file;
struct vm_fault;
int xpmem_remote_get(s64 segid, int flags, struct xpmem_seg **segp);
vm_fault_t xpmem_remote_fault(struct vm_fault *vmf, struct xpmem_att *att);
vm_fault_t xpmem_remote_huge_fault(struct vm_fault *vmf,
				   struct xpmem_att *att);
void xpmem_rfaults_drop(struct xpmem_att *att);
void xpmem_show_rsegs(struct seq_file *m);
struct xpmem_chan_zap;
int xpmem_remote_zap(const struct xpmem_chan_zap *z);
void xpmem_remote_peer_reset(u32 peer);
int xpmem_window_set(u32 peer, u64 base, u64 size);
void xpmem_remote_release(struct xpmem_seg *seg, int flags);
void xpmem_windows_exit(void);

extern const struct xpmem_chan_handler xpmem_remote_chan[];

#endif /* _XPMEM_REMOTE_H */
