/* SPDX-License-Identifier: GPL-2.0 */
/* Per-thread-group state, one per open of /dev/xpmem (tg.c). */
#ifndef _XPMEM_TG_H
#define _XPMEM_TG_H

#include <linux/types.h>

struct xpmem_tg;

struct xpmem_tg *xpmem_tg_create(void);
void xpmem_tg_teardown(struct xpmem_tg *tg);
void xpmem_tg_put(struct xpmem_tg *tg);
bool xpmem_tg_is_current(struct xpmem_tg *tg);

#endif /* _XPMEM_TG_H */
