// SPDX-License-Identifier: GPL-2.0
/*
 * Invalidations originated by the local kernel (inval.h): the whole life of
 * one, from INVALIDATE to ACKED, or TIMED_OUT and late PEER_ACKED.
 */
#include "inval.h"
#include "clock.h"
#include "kout.h"
#include "log.h"
#include "pout.h"
#include "requests.h"
#include "state.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TIMED_OUT	4096	/* timed-out generations remembered for late acks */

static void inval_free(struct inval *iv)
{
	free(iv->peers);
	free(iv->acked);
	free(iv);
}

/* its next timer: the ack deadline while pending, the next re-send */
static void inval_arm(struct dstate *d, struct inval *iv)
{
	uint64_t when = iv->next_retx;

	if (!iv->timed_out && iv->deadline < when)
		when = iv->deadline;
	core_arm(d, &iv->tn, T_INVAL, when);
}

static void inval_unlink(struct dstate *d, struct inval *iv)
{
	struct inval **pp = &d->invals;

	timerq_del(&d->tq, &iv->tn);
	while (*pp && *pp != iv)
		pp = &(*pp)->next;
	if (*pp)
		*pp = iv->next;
	if (iv->timed_out)
		d->n_timed_out--;
	else
		d->n_pending--;
}

static void inval_complete(struct dstate *d, struct inval *iv)
{
	struct xpmem_chan_acked a = { .generation = iv->gen };

	/* not taken (channel queue full, counted): the kernel times it out
	 * itself and quarantines; its replay after a restart is acked again */
	if (kout_send(d, XPMEM_CHAN_ACKED, iv->kseq, &a, sizeof(a), NULL, 0) == 0) {
		d->st.acked++;
		if (iv->n) {
			d->st.t_inval_ns += now_ns() - iv->t0;
			d->st.t_inval_n++;
		}
	}
	log_debug("generation %llu acked by all %u peers", (unsigned long long)iv->gen, iv->n);
	inval_unlink(d, iv);
	inval_free(iv);
}

static void inval_timeout(struct dstate *d, struct inval *iv)
{
	struct xpmem_chan_timed_out t = { .generation = iv->gen, .nmissing = 0 };
	uint32_t missing[XPMEM_CHAN_MAX_PEERS];

	for (uint32_t i = 0; i < iv->n; i++)
		if (!iv->acked[i])
			missing[t.nmissing++] = iv->peers[i];
	if (kout_send(d, XPMEM_CHAN_TIMED_OUT, iv->kseq, &t, sizeof(t), missing,
		      t.nmissing * sizeof(uint32_t)) == 0)
		d->st.timed_out++;
	log_warn("generation %llu segid %lld timed out, %u of %u peers did not ack",
		 (unsigned long long)iv->gen, (long long)iv->segid, t.nmissing, iv->n);
	iv->timed_out = 1;
	d->n_pending--;
	d->n_timed_out++;
}

/* bound the late-ack memory: forget the oldest timed-out entries */
void inval_trim(struct dstate *d)
{
	while (d->n_timed_out > MAX_TIMED_OUT) {
		struct inval *old = NULL;
		for (struct inval *x = d->invals; x; x = x->next)
			if (x->timed_out)
				old = x;	/* list is newest-first: last is oldest */
		if (!old)
			break;
		inval_unlink(d, old);
		inval_free(old);
	}
}

/*
 * Messages can be lost when a connection breaks (peer restart, network
 * hiccup); an invalidation is re-sent to peers that have not acked: a few
 * times within ack_timeout, then, once timed out, every other heartbeat to
 * peers that are alive, so a late ack can still release the quarantine.
 * A peer zaps again (idempotent) and acks again (counted as duplicate).
 */
static uint64_t retx_interval(struct dstate *d, int timed_out)
{
	uint64_t ms = timed_out ? 2ull * d->cfg->heartbeat_ms : d->cfg->ack_timeout_ms / 3;

	return (ms < 10 ? 10 : ms) * 1000000ull;
}

static void inval_retransmit(struct dstate *d, struct inval *iv, uint64_t now)
{
	struct xw_invalidate w = { .generation = iv->gen, .segid = iv->segid,
				   .start = iv->start, .len = iv->len };

	iv->next_retx = now + retx_interval(d, iv->timed_out);
	for (uint32_t i = 0; i < iv->n; i++) {
		struct peer *p;

		if (iv->acked[i] || !(p = peer_find(d, iv->peers[i])))
			continue;
		if (iv->timed_out && !p->alive)
			continue;
		d->st.retransmits++;
		pout_send(d, p, XW_INVALIDATE, &w, sizeof(w), NULL, 0);
	}
}

/* a new entry for m, its peers de-duplicated and this node left out
 * (neither may block completion); NULL: out of memory */
static struct inval *inval_new(struct dstate *d, uint64_t kseq,
			       const struct xpmem_chan_invalidate *m)
{
	struct inval *iv = calloc(1, sizeof(*iv));
	const uint32_t *peers = (const uint32_t *)(m + 1);

	if (!iv)
		return NULL;
	iv->gen = m->generation;
	iv->kseq = kseq;
	iv->segid = m->segid;
	iv->start = m->start;
	iv->len = m->len;
	iv->peers = calloc(m->npeers ? m->npeers : 1, sizeof(uint32_t));
	iv->acked = calloc(m->npeers ? m->npeers : 1, 1);
	iv->t0 = now_ns();
	iv->deadline = iv->t0 + (uint64_t)d->cfg->ack_timeout_ms * 1000000ull;
	iv->next_retx = now_ns() + retx_interval(d, 0);
	if (!iv->peers || !iv->acked) {
		inval_free(iv);
		return NULL;
	}
	for (uint32_t i = 0; i < m->npeers; i++) {
		uint32_t j;

		if (peers[i] == d->cfg->node_id)
			continue;
		for (j = 0; j < iv->n && iv->peers[j] != peers[i]; j++)
			;
		if (j == iv->n)
			iv->peers[iv->n++] = peers[i];
	}
	iv->remaining = iv->n;
	return iv;
}

void inval_start(struct dstate *d, uint64_t kseq, const struct xpmem_chan_invalidate *m)
{
	struct inval *iv = inval_new(d, kseq, m);
	struct xw_invalidate w = { .generation = m->generation, .segid = m->segid,
				   .start = m->start, .len = m->len };

	d->st.invalidations++;
	if (!iv)
		return;
	iv->next = d->invals;
	d->invals = iv;
	d->n_pending++;
	inval_arm(d, iv);
	log_debug("INVALIDATE gen %llu segid %lld [%#llx,+%#llx) to %u peers",
		  (unsigned long long)m->generation, (long long)m->segid,
		  (unsigned long long)m->start, (unsigned long long)m->len, m->npeers);
	if (!iv->n) {
		inval_complete(d, iv);
		return;
	}
	/* post to all k peers at once; acks are collected independently */
	for (uint32_t i = 0; i < iv->n; i++) {
		struct peer *p = peer_find(d, iv->peers[i]);

		if (!p) {
			log_warn("INVALIDATE gen %llu names unknown node %u",
				 (unsigned long long)m->generation, iv->peers[i]);
			continue;	/* can never ack: times out */
		}
		pout_send(d, p, XW_INVALIDATE, &w, sizeof(w), NULL, 0);
	}
}

/* peer slot i of iv acked: complete it, or (timed out) tell the kernel */
static void inval_acked(struct dstate *d, struct inval *iv, uint32_t i)
{
	iv->acked[i] = 1;
	iv->remaining--;
	if (iv->timed_out) {
		struct xpmem_chan_peer_acked pa = { .generation = iv->gen, .peer = iv->peers[i] };

		d->st.late_acks++;
		log_info("late ack from node %u for generation %llu", iv->peers[i],
			 (unsigned long long)iv->gen);
		kout_send(d, XPMEM_CHAN_PEER_ACKED, ++d->dseq, &pa, sizeof(pa), NULL, 0);
		if (!iv->remaining) {
			inval_unlink(d, iv);
			inval_free(iv);
		}
	} else if (!iv->remaining) {
		inval_complete(d, iv);
	}
}

void inval_ack(struct dstate *d, uint32_t id, uint64_t gen)
{
	for (struct inval *iv = d->invals; iv; iv = iv->next) {
		if (iv->gen != gen)
			continue;
		for (uint32_t i = 0; i < iv->n; i++) {
			if (iv->peers[i] != id)
				continue;
			if (iv->acked[i])
				d->st.duplicate_acks++;
			else
				inval_acked(d, iv, i);
			return;
		}
		/* generation matches but this peer was not asked */
		d->st.stale_acks++;
		return;
	}
	d->st.stale_acks++;
	log_debug("stale ack from node %u for generation %llu", id, (unsigned long long)gen);
}

void inval_resend_to(struct dstate *d, struct peer *p)
{
	for (struct inval *iv = d->invals; iv; iv = iv->next)
		for (uint32_t i = 0; i < iv->n; i++)
			if (iv->peers[i] == p->id && !iv->acked[i]) {
				struct xw_invalidate w = { .generation = iv->gen, .segid = iv->segid,
							   .start = iv->start, .len = iv->len };

				d->st.retransmits++;
				pout_send(d, p, XW_INVALIDATE, &w, sizeof(w), NULL, 0);
			}
}

/* id's slots in iv marked acked without telling anyone; returns how many */
static uint32_t inval_drop_peer(struct inval *iv, uint32_t id)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < iv->n; i++)
		if (iv->peers[i] == id && !iv->acked[i]) {
			iv->acked[i] = 1;
			iv->remaining--;
			n++;
		}
	return n;
}

void inval_forget_peer(struct dstate *d, uint32_t id)
{
	for (struct inval *iv = d->invals, *next; iv; iv = next) {
		next = iv->next;
		if (!iv->timed_out)
			continue;
		inval_drop_peer(iv, id);
		if (!iv->remaining) {
			inval_unlink(d, iv);
			inval_free(iv);
		}
	}
}

uint32_t inval_release_peer(struct dstate *d, uint32_t id)
{
	uint32_t released = 0;

	for (struct inval *iv = d->invals, *next; iv; iv = next) {
		next = iv->next;
		released += inval_drop_peer(iv, id);
		if (iv->remaining)
			continue;
		if (iv->timed_out) {
			inval_unlink(d, iv);
			inval_free(iv);
		} else {
			inval_complete(d, iv);
		}
	}
	return released;
}

void inval_free_all(struct dstate *d)
{
	while (d->invals) {
		struct inval *iv = d->invals;

		d->invals = iv->next;
		timerq_del(&d->tq, &iv->tn);
		inval_free(iv);
	}
	d->n_pending = d->n_timed_out = 0;
}
/* an invalidation's timer: its ack deadline, or a re-send */
void inval_due(struct dstate *d, struct inval *iv, uint64_t now)
{
	if (!iv->timed_out && now >= iv->deadline) {
		inval_timeout(d, iv);
		iv->next_retx = now + retx_interval(d, 1);
		d->dirty = 1;
	} else if (now >= iv->next_retx) {
		inval_retransmit(d, iv, now);
	}
	inval_arm(d, iv);
}
