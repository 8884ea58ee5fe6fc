/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Failure counters (stats.c): every failure exit of the fault, resolve and
 * invalidate paths counts one reason of XPMEM_FAILS
 * (include/uapi/xpmem/xpmem_fails.h) and fires the xpmem:xpmem_fail
 * tracepoint. Shown in debugfs "failures" and answered to QUERY FAILURES.
 */
#ifndef _XPMEM_STATS_H
#define _XPMEM_STATS_H

#include <linux/types.h>

/* XPMEM_FAIL_<name>: lower case, the name debugfs, trace and xpmemctl show */
enum xpmem_fail_reason {
#define XPMEM_FAIL(path, name, desc) XPMEM_FAIL_##name,
#include <xpmem/xpmem_fails.h>
#undef XPMEM_FAIL
	XPMEM_FAIL_NR
};

struct seq_file;
struct xpmem_chan_record;

void xpmem_fail(enum xpmem_fail_reason why, s64 segid, unsigned long addr,
		int err);
u64 xpmem_fail_count(enum xpmem_fail_reason why);
void xpmem_fails_show(struct seq_file *m);
void xpmem_query_fails(void (*emit)(void *ctx,
				    const struct xpmem_chan_record *r),
		       void *ctx);

#endif /* _XPMEM_STATS_H */
