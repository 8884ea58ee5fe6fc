/* SPDX-License-Identifier: GPL-2.0 */
/* The daemon's counters (data only: every part of the core counts here). */
#ifndef XPMEMD_COUNTERS_H
#define XPMEMD_COUNTERS_H

#include <stdint.h>

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
	uint64_t fault_replies_trimmed;	/* RESOLVED with more extents than a FAULT_REPLY carries */
	/* fabric messages dropped (docs/protocol.md 2.4), one counter per reason */
	uint64_t rx_malformed;		/* format: size, magic, version, type, body */
	uint64_t rx_forged;		/* HELLO signature or AEAD tag does not verify */
	uint64_t rx_replayed;		/* (incarnation, seq) seen, or older than the window */
	uint64_t rx_stale_incarnation;	/* an older incarnation than its HELLO's */
	uint64_t rx_unknown_sender;	/* src is not a configured peer */
	uint64_t rx_misaddressed;	/* dst is not this node */
	uint64_t rx_stale_session;	/* sealed in another session (earlier, or another pair) */
	uint64_t rx_no_session;		/* sealed, but no session with src (yet) */
	uint64_t rx_bad_hello;		/* signed HELLO we cannot use (key, fenced incarnation) */
	uint64_t hellos_rx;		/* HELLOs verified and accepted */
	uint64_t sessions;		/* sessions established */
	uint64_t tx_no_session;		/* not sent: no session with that peer yet */
	uint64_t hellos_unanswered;	/* HELLOs of a known incarnation not answered (rate) */
	uint64_t hellos_duplicate;	/* HELLOs identical to the last verified one (not re-verified) */
	uint64_t rx_hello_rate;		/* HELLOs of a newer incarnation within the adoption interval */
	uint64_t rx_hello_budget;	/* HELLOs over the peer's signature-check budget */
	uint64_t rx_bad_incarnation;	/* HELLOs claiming an incarnation >= 2^63 */
	uint64_t stale_acks;		/* ack for no known generation */
	uint64_t duplicate_acks;	/* ack from a peer that already acked */
	uint64_t heartbeats_rx;
	uint64_t peer_deaths;
	uint64_t chan_malformed;
	uint64_t chan_tx_dropped;	/* channel messages dropped: its queue was full */
	uint64_t chan_tx_errors;	/* channel writes that failed (the daemon stops) */
	uint64_t chan_tx_rejected;	/* messages the kernel refused (dropped) */
	uint64_t retransmits;		/* INVALIDATEs re-sent to silent peers */
	uint64_t remote_gets;		/* REMOTE_GET from the kernel (xpmem_get of a remote segid) */
	uint64_t get_errors;		/* ... answered with an error */
	uint64_t get_checks;		/* CHECK_GET sent on behalf of peers */
	uint64_t windows;		/* PEER_WINDOW accepted by the kernel */
	uint64_t releases_sent;		/* REMOTE_RELEASE forwarded to the owner */
	uint64_t releases_rx;		/* RELEASE from peers, sent as RELEASE_GRANT */
	uint64_t release_errors;	/* ... the kernel refused (RELEASE_GRANT_DONE error) */
	uint64_t releases_stale;	/* releases of another incarnation's permit, dropped */
	uint64_t releases_dropped;	/* a peer's RELEASEs over its cap in the channel queue */
	/* send queues (sendq.h) */
	uint64_t tx_dropped;		/* messages dropped: queue full, aged, peer dead, ... */
	uint64_t tx_replies_dropped;	/* ... of them replies (ACK, FAULT_REPLY, GET_REPLY, RELEASE) */
	uint64_t grants_undone;		/* a granting GET_REPLY lost: RELEASE_GRANT to our kernel */
	uint64_t requests_refused;	/* over max_pending_per_peer: EBUSY to the asker */
	uint64_t requests_expired;	/* our kernel did not answer in time: ETIMEDOUT to the peer
					 * (EAGAIN for a RESOLVE), or our own request waits on */
	uint64_t resolves_waited;	/* a RESOLVE asked again while our kernel held the first:
					 * no second one sent (EAGAIN when it ends) */
	uint64_t resolves_woken;	/* waiters answered EAGAIN as their held RESOLVE ended */
	uint64_t kernel_replies_lost;	/* ... nor within the grace period: entry freed */
	uint64_t ack_errors;		/* ACKs whose peer could not unmap (error set): not acked */
	uint64_t chan_rx;		/* messages read from the kernel channel */
	uint64_t rx_work;		/* peers' messages verified, heartbeats aside */
	uint64_t poll_passes;		/* loop passes that busy-polled (poll_us) instead of sleeping */
	uint64_t poll_hits;		/* passes that found a message in or right after a spin */
	/* Stage times (sum of ns, count; tests/bench breaks a round trip down
	 * with them): owner, INVALIDATE from the kernel -> ACKED to it (every
	 * peer acked); peer, INVALIDATE from the fabric -> ZAP_DONE from the
	 * kernel (ACK sent); importer, REMOTE_FAULT from the kernel ->
	 * FAULT_REPLY to it; owner, RESOLVE from the fabric -> RESOLVED from the
	 * kernel (reply sent). */
	uint64_t t_inval_ns, t_inval_n, t_zap_ns, t_zap_n;
	uint64_t t_rfault_ns, t_rfault_n, t_resolve_ns, t_resolve_n;
};

#endif
