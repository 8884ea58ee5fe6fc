// SPDX-License-Identifier: GPL-2.0
/*
 * Peer side, in (docs/protocol.md 2.4): a fabric message is parsed, its
 * sender authenticated (HELLO: member.c; sealed: the session's keys), replays
 * dropped, then handled: requests become requests to our kernel (ZAP,
 * RESOLVE, CHECK_GET, RELEASE_GRANT), replies answer our kernel's.
 */
#include "peer.h"
#include "clock.h"
#include "inval.h"
#include "kout.h"
#include "log.h"
#include "member.h"
#include "pout.h"
#include "requests.h"
#include "state.h"
#include "wire.h"

#include <errno.h>
#include <string.h>

static void handle_net_ack(struct dstate *d, struct peer *p, const struct xw_ack *a)
{
	if (a->incarnation != d->incarnation) {
		d->st.stale_acks++;	/* answers a previous incarnation of ours */
		return;
	}
	if (a->error) {
		/* its kernel could not unmap: not acked; the invalidation is
		 * re-sent, and times out into quarantine if it never is */
		d->st.ack_errors++;
		if (warn_ok(&p->ack_warn_at))
			log_warn("node %u could not unmap generation %llu: %s (ack_errors counts "
				 "them all)", p->id, (unsigned long long)a->generation,
				 strerror(-a->error));
		return;
	}
	inval_ack(d, p->id, a->generation);
}

static void handle_net_fault_reply(struct dstate *d, struct peer *p,
				   const struct xw_fault_reply *w)
{
	struct rfault *f;

	if (w->incarnation != d->incarnation ||
	    !(f = rfault_take(d, p->id, w->req_id, 0))) {
		d->st.stale_acks++;
		return;
	}
	kreply_fault(d, f->kseq, w->error, w->extents, w->nextents);
	d->st.t_rfault_ns += now_ns() - f->t0;
	d->st.t_rfault_n++;
	rfault_free(d, f);
}

static void handle_net_get_reply(struct dstate *d, struct peer *p, const struct xw_get_reply *w)
{
	struct rfault *f;

	if (w->incarnation != d->incarnation ||
	    !(f = rfault_take(d, p->id, w->req_id, 1))) {
		d->st.stale_acks++;
		return;
	}
	kreply_get(d, f->kseq, w->error, w->size, w->owner_instance);
	rfault_free(d, f);
}

static void handle_net_invalidate(struct dstate *d, struct peer *p,
				  const struct xw_invalidate *w)
{
	struct dreq *r;
	int err = 0;

	/* a retransmission while our kernel is still zapping: the pending
	 * ZAP's completion will ack it */
	for (r = d->dreqs; r; r = r->next)
		if (r->kind == DREQ_ZAP && !r->zap_all && !r->zap_owner && r->peer == p->id &&
		    r->gen == w->generation && r->peer_inc == p->hello_inc)
			return;
	r = dreq_new(d, DREQ_ZAP, p, &err);
	struct xpmem_chan_zap z = { .segid = w->segid, .start = w->start, .len = w->len,
				    .owner = p->id };

	if (!r) {
		dreq_answer_error(d, p, DREQ_ZAP, w->generation, p->hello_inc, err);
		return;
	}
	r->gen = w->generation;
	kout_send(d, XPMEM_CHAN_ZAP, r->dseq, &z, sizeof(z), NULL, 0);
}

static void handle_net_remote_fault(struct dstate *d, struct peer *p,
				    const struct xw_remote_fault *f)
{
	int err = 0;
	struct dreq *r = dreq_new(d, DREQ_RESOLVE, p, &err);
	struct xpmem_chan_resolve rs = { .segid = f->segid, .start = f->start,
					 .len = f->len, .requester = p->id,
					 .access = f->access,
					 .requester_incarnation = p->hello_inc,
					 .owner_instance = f->owner_instance };

	if (!r) {
		dreq_answer_error(d, p, DREQ_RESOLVE, f->req_id, p->hello_inc, err);
		return;
	}
	r->req_id = f->req_id;
	r->segid = f->segid;
	r->start = f->start;
	r->len = f->len;
	r->access = f->access;
	r->owner_instance = f->owner_instance;
	if (dreq_resolve_wait(d, r))
		return;
	d->st.resolves++;
	log_debug("RESOLVE for node %u: segid %#llx [%#llx,+%#llx) access %u",
		  p->id, (unsigned long long)f->segid, (unsigned long long)f->start,
		  (unsigned long long)f->len, f->access);
	if (kout_send(d, XPMEM_CHAN_RESOLVE, r->dseq, &rs, sizeof(rs), NULL, 0)) {
		/* never reached our kernel: not held there, ask again */
		free(dreq_take(d, r->dseq, DREQ_RESOLVE));
		dreq_answer_error(d, p, DREQ_RESOLVE, f->req_id, p->hello_inc, -EAGAIN);
	}
}

static void handle_net_get(struct dstate *d, struct peer *p, const struct xw_get *w)
{
	int err = 0;
	struct dreq *r = dreq_new(d, DREQ_CHECK_GET, p, &err);
	/* the grant the kernel records is the requester's incarnation's */
	struct xpmem_chan_get g = { .segid = w->segid, .node = p->id, .flags = w->flags,
				    .uid = w->uid, .gid = w->gid,
				    .check_flags = d->cfg->remote_root_trusted ?
						   XPMEM_CHAN_GET_ROOT_TRUSTED : 0,
				    .incarnation = p->hello_inc };

	if (!r) {
		dreq_answer_error(d, p, DREQ_CHECK_GET, w->req_id, p->hello_inc, err);
		return;
	}
	r->req_id = w->req_id;
	r->segid = w->segid;
	r->flags = w->flags;
	d->st.get_checks++;
	kout_send(d, XPMEM_CHAN_CHECK_GET, r->dseq, &g, sizeof(g), NULL, 0);
}

static void handle_net_release(struct dstate *d, struct peer *p, const struct xw_release *w)
{
	struct xpmem_chan_release r = { .segid = w->segid, .node = p->id, .flags = w->flags,
					.incarnation = w->incarnation,
					.owner_instance = w->owner_instance };

	/* only the peer's current incarnation gives back its own permits */
	if (w->incarnation != p->hello_inc) {
		d->st.releases_stale++;
		return;
	}
	/* what waits for the channel on p's behalf is capped (as its requests
	 * are): a flood of RELEASEs cannot fill the queue other peers need */
	if (p->chan_queued >= d->cfg->max_pending_per_peer) {
		d->st.releases_dropped++;
		if (warn_ok(&p->release_warn_at))
			log_warn("node %u: %u RELEASEs wait for the kernel already: dropped "
				 "(releases_dropped counts them all)", p->id, p->chan_queued);
		return;
	}
	d->st.releases_rx++;
	kout_send_for(d, p, XPMEM_CHAN_RELEASE_GRANT, ++d->dseq, &r, sizeof(r));
}

/* a verified message of p's session: handled by type */
static void peer_dispatch(struct dstate *d, struct peer *p, const struct xw_msg *m)
{
	log_debug("net <- node %u %s", p->id, xw_type_name(m->hdr.type));
	switch (m->hdr.type) {
	case XW_HEARTBEAT:
		d->st.heartbeats_rx++;
		break;
	case XW_INVALIDATE:
		handle_net_invalidate(d, p, m->body);
		break;
	case XW_ACK:
		handle_net_ack(d, p, m->body);
		break;
	case XW_REMOTE_FAULT:
		handle_net_remote_fault(d, p, m->body);
		break;
	case XW_FAULT_REPLY:
		handle_net_fault_reply(d, p, m->body);
		break;
	case XW_GET:
		handle_net_get(d, p, m->body);
		break;
	case XW_GET_REPLY:
		handle_net_get_reply(d, p, m->body);
		break;
	case XW_RELEASE:
		handle_net_release(d, p, m->body);
		break;
	}
}

/* a sealed message claiming p: in p's current session, opened with its
 * keys, not a replay; 0 (m->body is the plaintext), or -1 (counted) */
static int peer_open(struct dstate *d, struct peer *p, const void *buf, struct xw_msg *m)
{
	static unsigned char plain[XW_MAX_MSG];
	int r;

	if (!p->has_session) {
		d->st.rx_no_session++;
		log_debug("dropped %s claiming node %u: no session with it",
			  xw_type_name(m->hdr.type), p->id);
		return -1;
	}
	if (m->hdr.incarnation != p->hello_inc) {
		if (m->hdr.incarnation < p->hello_inc)
			d->st.rx_stale_incarnation++;
		else
			d->st.rx_no_session++;	/* its HELLO has not arrived yet */
		return -1;
	}
	if (m->hdr.session != p->sess.tag) {
		/* sealed in another session (an earlier one of either side), or
		 * for another pair of nodes */
		d->st.rx_stale_session++;
		log_debug("dropped %s claiming node %u: another session",
			  xw_type_name(m->hdr.type), p->id);
		return -1;
	}
	r = xw_open(buf, p->sess.rx, plain, m);
	if (r != XW_OK) {
		if (r == XW_EFORGED)
			d->st.rx_forged++;
		else
			d->st.rx_malformed++;
		log_debug("dropped %s claiming node %u: does not open", xw_type_name(m->hdr.type),
			  p->id);
		return -1;
	}
	r = xw_replay_check(&p->rp, m->hdr.incarnation, m->hdr.seq);
	if (r == XW_REPLAY_DUP || r == XW_REPLAY_STALE_INCARNATION) {
		d->st.rx_replayed++;
		log_debug("dropped replayed message from node %u seq %llu", p->id,
			  (unsigned long long)m->hdr.seq);
		return -1;
	}
	return 0;
}

/*
 * Receive path (docs/protocol.md 2.4). Nothing in the header is trusted
 * until it verifies: src only picks the key to try (HELLO: the peer's public
 * key; sealed: the session with that peer), and the sender is whoever holds
 * the key that verified.
 */
void peer_rx(void *arg, const void *buf, size_t len)
{
	struct dstate *d = arg;
	struct xw_msg m;
	struct peer *p;

	d->dirty = 1;
	if (xw_parse(buf, len, &m) != XW_OK) {
		d->st.rx_malformed++;
		return;
	}
	p = peer_find(d, m.hdr.src);
	if (!p) {
		d->st.rx_unknown_sender++;
		return;
	}
	if (m.hdr.dst != d->cfg->node_id) {
		d->st.rx_misaddressed++;
		return;
	}
	if (m.hdr.type == XW_HELLO) {
		member_hello(d, p, buf, len, &m);
		return;
	}
	if (peer_open(d, p, buf, &m))
		return;
	p->rx++;
	if (m.hdr.type != XW_HEARTBEAT)
		d->st.rx_work++;	/* what poll_us spins for (daemon.c) */
	member_heard(d, p);
	peer_dispatch(d, p, &m);
}
