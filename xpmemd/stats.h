/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Stats: the loop copies its counters and state (stats_capture, a memcpy's
 * worth of work); JSON is built from the copy on another thread (the control
 * plane's, or the stats file writer's), with the process's RSS added there.
 */
#ifndef XPMEMD_STATS_H
#define XPMEMD_STATS_H

#include <jansson.h>
#include <stdint.h>

#include "counters.h"
#include "fabric.h"

struct dstate;

struct stats_peer {
	uint32_t id;
	char address[128], window[128];
	uint64_t win_base, win_size, hello_inc, incarnation, rx, tx;
	int alive, established;
	int64_t last_heard_ms;	/* -1: never */
	uint32_t sendq, sendq_max, pending_kernel, pending_remote;
	uint64_t sendq_retries, sendq_dropped, backoff_ms;
};

struct stats_pod {
	struct dstats st;
	struct fab_stats fs;
	uint32_t node_id;
	uint64_t incarnation, uptime_ms, chan_queued;
	char provider[64], listen[128];
	int ready;
	int n_dreqs, n_rfaults, n_pending, n_timed_out;
	uint32_t chan_queue, chan_queue_max;
	int npeers;
	struct stats_peer peers[];
};

/* main thread: a copy of what stats show (malloc'ed; NULL: out of memory) */
struct stats_pod *stats_capture(struct dstate *d);
/* any thread: the JSON of xpmemctl --json and the stats file (fields are
 * only ever added); rss_kb included */
json_t *stats_json(const struct stats_pod *s);
/* VmRSS of this process, kB (0: unreadable) */
long long stats_rss_kb(void);

/* The stats file, written by a thread of its own (never by the loop). */
struct statsw;
/* NULL: no file configured (path empty) or no thread (logged) */
struct statsw *statsw_start(const char *path);
/* the newest copy to write (ownership passes; an unwritten older one goes) */
void statsw_post(struct statsw *w, struct stats_pod *s);
/* writes what was posted last, stops the thread */
void statsw_stop(struct statsw *w);

#endif
