/* SPDX-License-Identifier: GPL-2.0 */
#ifndef XPMEMD_DAEMON_H
#define XPMEMD_DAEMON_H

#include <stdint.h>
#include "config.h"

/* Counters exported through stats (file, gRPC Stats, xpmemctl stats). */
struct dstats {
	uint64_t invalidations;		/* INVALIDATE requests from the kernel */
	uint64_t acked;			/* answered ACKED */
	uint64_t timed_out;		/* answered TIMED_OUT */
	uint64_t late_acks;		/* acks after TIMED_OUT, forwarded as PEER_ACKED */
	uint64_t peer_resets;		/* PEER_RESET sent to the kernel */
	uint64_t zaps;			/* remote INVALIDATEs applied (ZAP) */
	uint64_t remote_faults;		/* REMOTE_FAULT from the kernel */
	uint64_t fault_errors;
	uint64_t resolves;		/* RESOLVE sent on behalf of peers */
	uint64_t rx_malformed;
	uint64_t rx_forged;
	uint64_t rx_replayed;
	uint64_t rx_stale_incarnation;
	uint64_t rx_unknown_sender;
	uint64_t rx_misaddressed;
	uint64_t stale_acks;		/* ack for no known generation */
	uint64_t duplicate_acks;	/* ack from a peer that already acked */
	uint64_t heartbeats_rx;
	uint64_t peer_deaths;
	uint64_t chan_malformed;
	uint64_t retransmits;		/* INVALIDATEs re-sent to silent peers */
	uint64_t remote_gets;		/* REMOTE_GET from the kernel (xpmem_get of a remote segid) */
	uint64_t get_errors;		/* ... answered with an error */
	uint64_t get_checks;		/* CHECK_GET sent on behalf of peers */
	uint64_t windows;		/* PEER_WINDOW accepted by the kernel */
};

/* Run the daemon until SIGTERM/SIGINT; returns the exit status. */
int daemon_run(struct xconfig *cfg);

#endif
