/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pending requests, each with a deadline in the timer heap and a per-peer
 * cap (max_pending_per_peer): dreq, what this daemon asked its kernel on a
 * peer's behalf (ZAP, RESOLVE, CHECK_GET) or its own (PEER_WINDOW, ZAP_ALL);
 * rfault, what our kernel asked a peer (REMOTE_FAULT, REMOTE_GET).
 */
#ifndef XPMEMD_REQUESTS_H
#define XPMEMD_REQUESTS_H

#include <stddef.h>
#include <stdint.h>
#include <xpmem/xpmem_channel.h>

struct dstate;
struct peer;
struct dreq;
struct rfault;
struct tnode;

/* put t into the timer heap at when (kind: what embeds it) */
void core_arm(struct dstate *d, struct tnode *t, int kind, uint64_t when);

/* a request to our kernel for p (NULL: our own: no deadline before we are
 * ready, no cap); over p's cap: NULL with *err = -EBUSY */
struct dreq *dreq_new(struct dstate *d, int kind, struct peer *p, int *err);
/* p's RESOLVE r (req_id and what was asked set) is the same as one our
 * kernel still holds past its deadline: r waits for it (1) instead of being
 * sent; 0: send it */
int dreq_resolve_wait(struct dstate *d, struct dreq *r);
/* our kernel answered the RESOLVE dseq: its waiters are answered EAGAIN */
void dreq_resolve_wake(struct dstate *d, uint64_t dseq);
/* the pending request dseq of that kind, unlinked (NULL: none) */
struct dreq *dreq_take(struct dstate *d, uint64_t dseq, int kind);
/* p's request (ZAP, RESOLVE, CHECK_GET) failed here: its answer says so */
void dreq_answer_error(struct dstate *d, struct peer *p, int kind, uint64_t id,
		       uint64_t peer_inc, int error);
/* its deadline: the peer gets ETIMEDOUT (EAGAIN for a RESOLVE); the second
 * time, the entry goes */
void dreq_due(struct dstate *d, struct dreq *r, uint64_t now);

/* answers to our kernel's REMOTE_FAULT / REMOTE_GET */
void kreply_fault(struct dstate *d, uint64_t kseq, int error,
		  const struct xpmem_chan_extent *ext, uint32_t n);
void kreply_get(struct dstate *d, uint64_t kseq, int error, uint64_t size,
		uint64_t owner_instance);
/* a request of our kernel to p (linked, deadline armed); NULL over p's cap
 * (counted) or out of memory */
struct rfault *rfault_new(struct dstate *d, struct peer *p);
/* the pending request req_id to owner, a REMOTE_GET if get, else a
 * REMOTE_FAULT (a reply of the other type matches nothing), unlinked */
struct rfault *rfault_take(struct dstate *d, uint32_t owner, uint64_t req_id, int get);
/* f is unlinked: count it out and free it */
void rfault_free(struct dstate *d, struct rfault *f);
/* its deadline (3 * ack_timeout_ms): ETIMEDOUT to our kernel */
void rfault_due(struct dstate *d, struct rfault *f);
/* every request to owner fails with error (a fence) */
void rfault_fail_owner(struct dstate *d, uint32_t owner, int error);
/* at exit (or a fuzz input's end): every request freed, nothing sent */
void requests_free_all(struct dstate *d);

#endif
