// SPDX-License-Identifier: GPL-2.0
/*
 * Pending requests (requests.h): their tables, deadlines and caps, and the
 * answers a request gets when it fails here (refused, expired, fenced).
 */
#include "requests.h"
#include "clock.h"
#include "kout.h"
#include "log.h"
#include "pout.h"
#include "state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* put t into the timer heap at when (kind: what embeds it) */
void core_arm(struct dstate *d, struct tnode *t, int kind, uint64_t when)
{
	t->kind = kind;
	if (timerq_set(&d->tq, t, when)) {
		log_err("timer heap: out of memory");
		d->fatal = 1;
	}
}

/*
 * A request to our kernel for peer p has a deadline (ack_timeout_ms: then p
 * gets an error, the entry waits a grace period for a late answer, then
 * goes) and p has at most max_pending_per_peer of them: over it NULL with
 * *err = -EBUSY. p NULL: our own, bounded by the startup deadline before
 * we are ready, after it by the same deadline and grace, answering no one.
 */
struct dreq *dreq_new(struct dstate *d, int kind, struct peer *p, int *err)
{
	struct dreq *r;

	if (p && p->n_dreqs >= d->cfg->max_pending_per_peer) {
		d->st.requests_refused++;
		if (warn_ok(&p->refuse_warn_at))
			log_warn("node %u has %u requests pending at our kernel "
				 "(max_pending_per_peer): refusing more (EBUSY)", p->id, p->n_dreqs);
		*err = -EBUSY;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		*err = -ENOMEM;
		return NULL;
	}
	r->kind = kind;
	r->t0 = now_ns();
	r->dseq = ++d->dseq;
	r->next = d->dreqs;
	d->dreqs = r;
	d->n_dreqs++;
	if (p || d->ready) {
		r->deadline = now_ns() + (uint64_t)d->cfg->ack_timeout_ms * 1000000ull;
		core_arm(d, &r->tn, T_DREQ, r->deadline);
	}
	if (p) {
		r->peer = p->id;
		r->peer_inc = p->hello_inc;
		p->n_dreqs++;
	} else {
		r->own = 1;
	}
	return r;
}

static void dreq_unlink(struct dstate *d, struct dreq *r)
{
	struct peer *p;

	timerq_del(&d->tq, &r->tn);
	for (struct dreq **pp = &d->dreqs; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	d->n_dreqs--;
	if (r->held) {
		r->held = 0;
		d->n_held_resolves--;
	}
	if (!r->own && (p = peer_find(d, r->peer)) && p->n_dreqs)
		p->n_dreqs--;
}

struct dreq *dreq_take(struct dstate *d, uint64_t dseq, int kind)
{
	for (struct dreq *r = d->dreqs; r; r = r->next)
		if (r->dseq == dseq && r->kind == kind) {
			dreq_unlink(d, r);
			return r;
		}
	return NULL;
}

/* p's request (ZAP, RESOLVE, CHECK_GET) failed here: its answer says so */
void dreq_answer_error(struct dstate *d, struct peer *p, int kind, uint64_t id,
		       uint64_t peer_inc, int error)
{
	if (kind == DREQ_ZAP) {
		struct xw_ack a = { .generation = id, .incarnation = peer_inc, .error = error };

		pout_send(d, p, XW_ACK, &a, sizeof(a), NULL, 0);
	} else if (kind == DREQ_RESOLVE) {
		struct xw_fault_reply rep = { .req_id = id, .incarnation = peer_inc,
					      .error = error };
		struct sq_meta m = { .error = error };

		pout_send_m(d, p, &m, XW_FAULT_REPLY, &rep, sizeof(rep), NULL, 0);
	} else if (kind == DREQ_CHECK_GET) {
		struct xw_get_reply rep = { .req_id = id, .incarnation = peer_inc, .error = error };
		struct sq_meta m = { .error = error };

		pout_send_m(d, p, &m, XW_GET_REPLY, &rep, sizeof(rep), NULL, 0);
	}
}

/*
 * An expired RESOLVE is kept for its waiters this long at most from when it
 * was sent (then the next ask sends a new one, in case the kernel's answer
 * was lost): one kernel slot per stuck request and minute, not one per ask.
 */
#define RESOLVE_HOLD_TIMEOUTS 60

static int same_resolve(const struct dreq *a, const struct dreq *b)
{
	return a->kind == DREQ_RESOLVE && b->kind == DREQ_RESOLVE && a->peer == b->peer &&
	       a->peer_inc == b->peer_inc && a->start == b->start && a->len == b->len &&
	       a->segid == b->segid && a->access == b->access &&
	       a->owner_instance == b->owner_instance;
}

int dreq_resolve_wait(struct dstate *d, struct dreq *r)
{
	uint64_t ack = (uint64_t)d->cfg->ack_timeout_ms * 1000000ull, now = now_ns();

	if (!d->n_held_resolves)
		return 0;
	for (struct dreq *h = d->dreqs; h; h = h->next) {
		if (h == r || h->waiter || !h->expired || !same_resolve(h, r))
			continue;
		/* our kernel still holds h (its asker was answered EAGAIN):
		 * r waits for it, h waits on for its waiters */
		r->waiter = 1;
		r->waits_for = h->dseq;
		if (h->deadline < now + 4 * ack && h->t0 + RESOLVE_HOLD_TIMEOUTS * ack > now + 4 * ack) {
			h->deadline = now + 4 * ack;
			core_arm(d, &h->tn, T_DREQ, h->deadline);
		}
		d->st.resolves_waited++;
		return 1;
	}
	return 0;
}

void dreq_resolve_wake(struct dstate *d, uint64_t dseq)
{
	struct dreq **pp = &d->dreqs, *w;
	struct peer *p;

	while ((w = *pp)) {
		if (!w->waiter || w->waits_for != dseq) {
			pp = &w->next;
			continue;
		}
		/* the held RESOLVE ended: ask again, now it can be answered;
		 * unlinked here (dreq_unlink would walk the list again) */
		*pp = w->next;
		w->next = NULL;
		p = peer_find(d, w->peer);
		if (p && p->hello_inc == w->peer_inc)
			dreq_answer_error(d, p, DREQ_RESOLVE, w->req_id, w->peer_inc, -EAGAIN);
		d->st.resolves_woken++;
		if (p && p->n_dreqs)	/* a waiter is a peer's, never our own */
			p->n_dreqs--;
		timerq_del(&d->tq, &w->tn);
		d->n_dreqs--;
		free(w);
		d->dirty = 1;
	}
}

/* the deadline of a request made to our kernel for a peer */
void dreq_due(struct dstate *d, struct dreq *r, uint64_t now)
{
	struct peer *p;

	if (r->waiter) {
		/* the RESOLVE it waits for is still held: ask again (and wait
		 * again) */
		if ((p = peer_find(d, r->peer)) && p->hello_inc == r->peer_inc)
			dreq_answer_error(d, p, DREQ_RESOLVE, r->req_id, r->peer_inc, -EAGAIN);
		dreq_unlink(d, r);
		free(r);
		d->dirty = 1;
		return;
	}
	if (r->expired) {
		/* its answer never came: the entry goes */
		d->st.kernel_replies_lost++;
		dreq_unlink(d, r);
		free(r);
		d->dirty = 1;
		return;
	}
	r->expired = 1;
	r->deadline = now + 4ull * d->cfg->ack_timeout_ms * 1000000ull;
	core_arm(d, &r->tn, T_DREQ, r->deadline);
	d->st.requests_expired++;
	if (r->kind == DREQ_RESOLVE && !r->own) {
		r->held = 1;
		d->n_held_resolves++;
	}
	if (r->own) {
		log_warn("kernel did not answer our %s %llu (node %u) within %u ms: "
			 "waiting out a late answer", r->kind == DREQ_ZAP ? "ZAP_OWNER" :
			 "PEER_WINDOW", (unsigned long long)r->dseq, r->peer,
			 d->cfg->ack_timeout_ms);
		d->dirty = 1;
		return;
	}
	if (warn_ok(&d->expire_warn_at))
		log_warn("kernel did not answer %s %llu for node %u within %u ms: "
			 "%s to it (requests_expired counts them all)",
			 r->kind == DREQ_ZAP ? "ZAP" : r->kind == DREQ_RESOLVE ? "RESOLVE" :
			 "CHECK_GET", (unsigned long long)r->dseq, r->peer,
			 d->cfg->ack_timeout_ms,
			 r->kind == DREQ_RESOLVE ? "EAGAIN (ask again)" : "ETIMEDOUT");
	/*
	 * A RESOLVE our kernel holds past the deadline mostly waits behind an
	 * invalidation (bounded by its ack timeout): the asker's kernel asks
	 * again (-EAGAIN) rather than failing the access; its own deadline on
	 * the fault (rfault_new) is 3 of ours. The same ask again waits for
	 * this one (dreq_resolve_wait): a RESOLVE that never ends (a source
	 * blocked in a file system) holds one kernel slot, not one per ask.
	 */
	if ((p = peer_find(d, r->peer)) && p->hello_inc == r->peer_inc)
		dreq_answer_error(d, p, r->kind, r->kind == DREQ_ZAP ? r->gen : r->req_id,
			     r->peer_inc, r->kind == DREQ_RESOLVE ? -EAGAIN : -ETIMEDOUT);
	d->dirty = 1;
}

void kreply_fault(struct dstate *d, uint64_t kseq, int error,
		  const struct xpmem_chan_extent *ext, uint32_t n)
{
	struct xpmem_chan_frames fr = { .error = error, .nextents = error ? 0 : n };

	if (error) {
		d->st.fault_errors++;
		log_debug("FAULT_REPLY seq %llu: %s", (unsigned long long)kseq, strerror(-error));
	}
	kout_send(d, XPMEM_CHAN_FAULT_REPLY, kseq, &fr, sizeof(fr), ext,
		  fr.nextents * sizeof(*ext));
}

/* the grant is recorded under our incarnation: the kernel keeps it with the
 * permit and names it in the permit's REMOTE_RELEASE */
void kreply_get(struct dstate *d, uint64_t kseq, int error, uint64_t size,
		uint64_t owner_instance)
{
	struct xpmem_chan_get_reply r = { .error = error, .size = error ? 0 : size,
					  .incarnation = error ? 0 : d->incarnation,
					  .owner_instance = error ? 0 : owner_instance };

	if (error) {
		d->st.get_errors++;
		log_debug("REMOTE_GET_REPLY seq %llu: %s", (unsigned long long)kseq, strerror(-error));
	}
	kout_send(d, XPMEM_CHAN_REMOTE_GET_REPLY, kseq, &r, sizeof(r), NULL, 0);
}

/* a pending remote request failed locally (timeout, fence, dead owner) */
static void rfault_fail(struct dstate *d, struct rfault *f, int error)
{
	if (f->get)
		kreply_get(d, f->kseq, error, 0, 0);
	else
		kreply_fault(d, f->kseq, error, NULL, 0);
}

/*
 * A request of our kernel to p: a deadline (3 * ack_timeout_ms: ETIMEDOUT to
 * the kernel, whose own wait, remote_timeout_ms, is longer) and at most
 * max_pending_per_peer per peer (over it NULL, EBUSY). The owner's daemon
 * answers a RESOLVE its kernel holds past ack_timeout_ms with -EAGAIN (ask
 * again): our deadline must come after that answer, or a fault waiting
 * behind an invalidation at the owner gets ETIMEDOUT, then SIGBUS.
 */
struct rfault *rfault_new(struct dstate *d, struct peer *p)
{
	struct rfault *f;

	if (p->n_rfaults >= d->cfg->max_pending_per_peer) {
		d->st.requests_refused++;
		if (warn_ok(&p->refuse_warn_at))
			log_warn("%u requests of our kernel to node %u pending "
				 "(max_pending_per_peer): refusing more (EBUSY)", p->n_rfaults, p->id);
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->t0 = now_ns();
	f->deadline = f->t0 + 3ull * d->cfg->ack_timeout_ms * 1000000ull;
	core_arm(d, &f->tn, T_RFAULT, f->deadline);
	f->next = d->rfaults;
	d->rfaults = f;
	d->n_rfaults++;
	p->n_rfaults++;
	return f;
}

/* f is unlinked: count it out and free it */
void rfault_free(struct dstate *d, struct rfault *f)
{
	struct peer *p = peer_find(d, f->owner);

	timerq_del(&d->tq, &f->tn);
	d->n_rfaults--;
	if (p && p->n_rfaults)
		p->n_rfaults--;
	free(f);
}

void rfault_due(struct dstate *d, struct rfault *f)
{
	for (struct rfault **pp = &d->rfaults; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	rfault_fail(d, f, -ETIMEDOUT);
	rfault_free(d, f);
	d->dirty = 1;
}

struct rfault *rfault_take(struct dstate *d, uint32_t owner, uint64_t req_id, int get)
{
	for (struct rfault **pp = &d->rfaults; *pp; pp = &(*pp)->next) {
		struct rfault *f = *pp;

		/* its own reply type only: a FAULT_REPLY naming a GET's req_id
		 * (or the reverse) must not answer our kernel's other request */
		if (f->req_id == req_id && f->owner == owner && f->get == get) {
			*pp = f->next;
			return f;
		}
	}
	return NULL;
}

void rfault_fail_owner(struct dstate *d, uint32_t owner, int error)
{
	for (struct rfault **pp = &d->rfaults; *pp;) {
		struct rfault *f = *pp;

		if (f->owner == owner) {
			*pp = f->next;
			rfault_fail(d, f, error);
			rfault_free(d, f);
		} else {
			pp = &f->next;
		}
	}
}

void requests_free_all(struct dstate *d)
{
	while (d->dreqs) {
		struct dreq *r = d->dreqs;

		d->dreqs = r->next;
		free(r);
	}
	while (d->rfaults) {
		struct rfault *f = d->rfaults;

		d->rfaults = f->next;
		free(f);
	}
	d->n_dreqs = d->n_rfaults = 0;
	for (int i = 0; i < d->npeers; i++)
		d->peers[i].n_dreqs = d->peers[i].n_rfaults = 0;
}
