/* SPDX-License-Identifier: GPL-2.0 */
/* xpmemd clocks, and the rate limit of repeated warnings. */
#ifndef XPMEMD_CLOCK_H
#define XPMEMD_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC and CLOCK_REALTIME in ns (the fuzzers supply their own) */
uint64_t now_ns(void);
uint64_t realtime_ns(void);

#define WARN_NS	(10000 * 1000000ull)	/* a repeated warning at most once per */

/* 1: log this warning (*at: when the last one was logged); the rest are counted */
static inline int warn_ok(uint64_t *at)
{
	uint64_t now = now_ns();

	if (*at && now - *at < WARN_NS)
		return 0;
	*at = now;
	return 1;
}

#endif
