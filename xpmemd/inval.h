/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Invalidations our kernel asked for (INVALIDATE): posted to every peer
 * named, acks collected, re-sent to the silent, TIMED_OUT at the deadline,
 * late acks forwarded as PEER_ACKED.
 */
#ifndef XPMEMD_INVAL_H
#define XPMEMD_INVAL_H

#include <stdint.h>
#include <xpmem/xpmem_channel.h>

struct dstate;
struct inval;
struct peer;

/* INVALIDATE from our kernel (the peer list follows m): post it to them */
void inval_start(struct dstate *d, uint64_t kseq, const struct xpmem_chan_invalidate *m);
/* peer id acked generation gen (of our current incarnation, no error) */
void inval_ack(struct dstate *d, uint32_t id, uint64_t gen);
/* what p has not acked is sent again (it has a session again, or is back) */
void inval_resend_to(struct dstate *d, struct peer *p);
/* p restarted: the kernel releases its quarantine; late-ack records go */
void inval_forget_peer(struct dstate *d, uint32_t id);
/* id is fenced: nothing waits for it; returns the acks released */
uint32_t inval_release_peer(struct dstate *d, uint32_t id);
/* an invalidation's timer: its ack deadline, or a re-send */
void inval_due(struct dstate *d, struct inval *iv, uint64_t now);
/* bound the late-ack memory: forget the oldest timed-out entries */
void inval_trim(struct dstate *d);
/* at exit (or a fuzz input's end): every entry freed, nothing sent */
void inval_free_all(struct dstate *d);

#endif
