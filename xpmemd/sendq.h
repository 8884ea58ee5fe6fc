/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-peer send queues (docs/protocol.md 2): what the provider cannot take
 * now (-FI_EAGAIN: the connection to that peer is being set up, or the peer
 * is down) waits in its peer's own queue, in order, bounded per peer, and is
 * retried with exponential backoff, so a dead peer costs a few connect()s a
 * second, never holds up another peer, and never fills a shared buffer.
 */
#ifndef XPMEMD_SENDQ_H
#define XPMEMD_SENDQ_H

#include <stddef.h>
#include <stdint.h>
#include <rdma/fabric.h>

#include "fabric.h"

/* what a message is, for the queue's policy and for the drop callback */
enum sq_class {
	SQ_PROBE = 1,	/* HELLO, HEARTBEAT: a newer one replaces a queued one;
			 * the only class queued to a peer known dead */
	SQ_RETX,	/* re-sent by the protocol if lost (INVALIDATE, REMOTE_FAULT, GET) */
	SQ_REPLY,	/* never re-sent by the protocol (ACK, FAULT_REPLY, GET_REPLY,
			 * RELEASE): a drop is reported to the caller */
};

#define SQ_CAP		256	/* messages queued per peer */
#define SQ_AGE_NS	(10ull * 1000000000ull)	/* unsent longer: dropped */
#define SQ_BACKOFF_MIN	(5ull * 1000000ull)	/* first retry after EAGAIN */
#define SQ_BACKOFF_MAX	(2000ull * 1000000ull)	/* retries of a dead peer: at most one per */
#define SQ_FLUSH_BUDGET	64	/* messages sent per peer per flush */

/* what the caller needs to undo or report a dropped message */
struct sq_meta {
	int cls;
	uint32_t peer;
	uint16_t type;		/* wire type */
	int32_t error;		/* a reply's error */
	int64_t segid;		/* GET_REPLY: the grant to undo */
	uint32_t flags;
	uint64_t inc;		/* GET_REPLY: the requester's incarnation */
};

enum sq_why {
	SQ_DROP_FULL = 1,	/* the peer's queue is at SQ_CAP */
	SQ_DROP_AGED,		/* unsent for SQ_AGE_NS */
	SQ_DROP_DEAD,		/* the peer is known dead (purged, or not queued) */
	SQ_DROP_SESSION,	/* sealed in a session that was replaced */
	SQ_DROP_ERROR,		/* the provider refused it (not EAGAIN), no memory */
};

typedef void (*sq_drop_cb)(void *arg, const struct sq_meta *m, enum sq_why why);

struct sq_msg;

struct sendq {
	struct sq_msg *head, *tail;
	uint32_t n;
	uint64_t next_try;	/* monotonic ns of the next attempt (0: now) */
	uint64_t backoff;	/* current retry interval (0: the last send went) */
	uint64_t tries;		/* attempts the provider refused (EAGAIN) */
	uint64_t dropped;	/* messages dropped (full, aged, purged, error) */
	uint32_t max_depth;	/* high-water mark of n */
};

/*
 * Send a message to dest now if the queue is empty and not backing off,
 * else queue it (copied) if may_queue (else it is dropped: SQ_DROP_DEAD).
 * 0: sent or queued; a drop (queue full, provider error) is reported through
 * cb before this returns -ENOBUFS / -EHOSTDOWN / the error.
 */
int sendq_push(struct sendq *q, struct fab *f, fi_addr_t dest, const struct sq_meta *m,
	       const void *buf, size_t len, int may_queue, uint64_t now, sq_drop_cb cb,
	       void *arg);
/* Retry the queue if its backoff has passed (at most SQ_FLUSH_BUDGET). */
void sendq_flush(struct sendq *q, struct fab *f, fi_addr_t dest, uint64_t now,
		 sq_drop_cb cb, void *arg);
/* Drop everything queued but probes (keep_probes) or everything, reported
 * as why; the backoff is kept. */
void sendq_purge(struct sendq *q, int keep_probes, enum sq_why why, sq_drop_cb cb, void *arg);
/* The peer answered (a verified message): retry at once. */
void sendq_kick(struct sendq *q);
/* Monotonic ns of the next retry, UINT64_MAX with nothing queued. */
uint64_t sendq_next(const struct sendq *q);

#endif
