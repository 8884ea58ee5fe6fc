/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-user and per-peer limits (limits.c): what each user may make, get and
 * attach, what each peer may map, resolve and be granted.
 */
#ifndef _XPMEM_LIMITS_H
#define _XPMEM_LIMITS_H

#include <linux/types.h>
#include <linux/uidgid.h>

enum xpmem_limit { XPMEM_LIMIT_SEG, XPMEM_LIMIT_ATT, XPMEM_LIMIT_AP,
		   XPMEM_LIMIT_BIG, XPMEM_LIMIT_NR };
kuid_t xpmem_charge_uid(void);
int xpmem_charge(kuid_t uid, enum xpmem_limit what);
void xpmem_uncharge(kuid_t uid, enum xpmem_limit what);
int xpmem_peer_charge(u32 peer, unsigned long npages);
void xpmem_peer_uncharge(u32 peer, unsigned long npages);
int xpmem_peer_resolve_get(u32 peer);
void xpmem_peer_resolve_put(u32 peer);
unsigned int xpmem_grants_per_seg_max(void);
int xpmem_peer_grant_charge(u32 peer);
void xpmem_peer_grant_uncharge(u32 peer);
void xpmem_limits_exit(void);

#endif /* _XPMEM_LIMITS_H */
