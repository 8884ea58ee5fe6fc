// SPDX-License-Identifier: GPL-2.0
/*
 * Failure counters: one atomic64 per reason of xpmem_fails.h, bumped with a
 * tracepoint by every failure exit of the fault, resolve and invalidate
 * paths (stats.h). Failures are rare, so one shared counter per reason is
 * cheap enough; reading them takes no lock.
 */
#include <linux/atomic.h>
#include <linux/seq_file.h>

#include <xpmem/xpmem_channel.h>

#include "stats.h"
#include "trace.h"

static atomic64_t xpmem_fails[XPMEM_FAIL_NR];

static const char *const xpmem_fail_names[XPMEM_FAIL_NR] = {
#define XPMEM_FAIL(path, name, desc) \
	[XPMEM_FAIL_##name] = #name,
#include <xpmem/xpmem_fails.h>
#undef XPMEM_FAIL
};

static const char *const xpmem_fail_paths[XPMEM_FAIL_NR] = {
#define XPMEM_FAIL(path, name, desc) \
	[XPMEM_FAIL_##name] = #path,
#include <xpmem/xpmem_fails.h>
#undef XPMEM_FAIL
};

/**
 * xpmem_fail() - count a failure exit and trace it
 * @why: the reason, a row of xpmem_fails.h
 * @segid: the segment concerned, 0 if none is known
 * @addr: the faulting address (fault, rfault), the segment offset (resolve,
 *	  grant, invalidate), or 0
 * @err: the -errno the exit returns or that caused it, 0 if none
 *
 * Callable in any context, with any lock held.
 */
void xpmem_fail(enum xpmem_fail_reason why, s64 segid, unsigned long addr,
		int err)
{
	if (WARN_ON_ONCE((unsigned int)why >= XPMEM_FAIL_NR))
		return;
	atomic64_inc(&xpmem_fails[why]);
	trace_xpmem_fail(xpmem_fail_paths[why], xpmem_fail_names[why], segid,
			 addr, err);
}

/**
 * xpmem_fail_count() - how often a failure exit was taken since load
 * @why: the reason
 *
 * Return: the count.
 */
u64 xpmem_fail_count(enum xpmem_fail_reason why)
{
	/* QUERY FAILURES answers every reason in one reply */
	BUILD_BUG_ON(XPMEM_FAIL_NR > XPMEM_CHAN_MAX_RECORDS);
	if (WARN_ON_ONCE((unsigned int)why >= XPMEM_FAIL_NR))
		return 0;
	return atomic64_read(&xpmem_fails[why]);
}

/**
 * xpmem_fails_show() - debugfs "failures": "name count", non-zero only
 * @m: the seq_file
 */
void xpmem_fails_show(struct seq_file *m)
{
	unsigned int i;
	s64 n;

	for (i = 0; i < XPMEM_FAIL_NR; i++) {
		n = atomic64_read(&xpmem_fails[i]);
		if (n)
			seq_printf(m, "%s %lld\n", xpmem_fail_names[i],
				   (long long)n);
	}
}

/**
 * xpmem_query_fails() - QUERY FAILURES: one record per non-zero counter
 * @emit: called with each record: flags = the reason's index in
 *	  xpmem_fails.h, aux = its count
 * @ctx: passed to @emit
 */
void xpmem_query_fails(void (*emit)(void *ctx,
				    const struct xpmem_chan_record *r),
		       void *ctx)
{
	struct xpmem_chan_record rec = {};
	unsigned int i;

	for (i = 0; i < XPMEM_FAIL_NR; i++) {
		rec.aux = atomic64_read(&xpmem_fails[i]);
		if (!rec.aux)
			continue;
		rec.flags = i;
		emit(ctx, &rec);
	}
}
