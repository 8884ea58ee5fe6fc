// SPDX-License-Identifier: GPL-2.0
/*
 * Peer side, out: a message to a peer is sealed in its session (wire.c) and
 * handed to the provider or its send queue (sendq.c); what a queue drops is
 * accounted here, and a lost granting GET_REPLY's grant given back to our
 * kernel.
 */
#include "pout.h"
#include "clock.h"
#include "fabric.h"
#include "kout.h"
#include "log.h"
#include "state.h"
#include "wire.h"

#include <errno.h>
#include <string.h>

struct peer *peer_find(struct dstate *d, uint32_t id)
{
	for (int i = 0; i < d->npeers; i++)
		if (d->peers[i].id == id)
			return &d->peers[i];
	return NULL;
}

/*
 * A message to p could not be sent (sendq.h). Requests and probes are re-sent
 * by the protocol; a reply is lost to p, whose request then fails on its side
 * (its timeout: -ETIMEDOUT to its kernel, or quarantine and retransmission of
 * an invalidation); a granting GET_REPLY's grant is given back to our kernel,
 * so the permit p never received does not outlive the request. A reply sealed
 * for a session p replaced needs nothing: PEER_RESET drops that incarnation's
 * grants.
 */
void pout_dropped(void *arg, const struct sq_meta *m, enum sq_why why)
{
	static const char *whys[] = { "?", "queue full", "unsent for 10 s", "peer dead",
				      "session replaced", "provider error" };
	struct dstate *d = arg;

	d->st.tx_dropped++;
	if (m->cls != SQ_REPLY)
		return;
	d->st.tx_replies_dropped++;
	if (warn_ok(&d->reply_warn_at))
		log_warn("%s to node %u lost (%s; tx_replies_dropped counts them all)",
			 xw_type_name(m->type), m->peer, whys[why <= SQ_DROP_ERROR ? why : 0]);
	if (m->type == XW_GET_REPLY && !m->error && why != SQ_DROP_SESSION) {
		struct xpmem_chan_release r = { .segid = m->segid, .node = m->peer,
						.flags = m->flags, .incarnation = m->inc,
						.owner_instance = d->kernel_instance };

		d->st.grants_undone++;
		kout_send(d, XPMEM_CHAN_RELEASE_GRANT, ++d->dseq, &r, sizeof(r), NULL, 0);
	}
}

static int sq_class(uint16_t type)
{
	switch (type) {
	case XW_HELLO:
	case XW_HEARTBEAT:
		return SQ_PROBE;
	case XW_INVALIDATE:
	case XW_REMOTE_FAULT:
	case XW_GET:
		return SQ_RETX;
	default:
		return SQ_REPLY;
	}
}

/* to p, or its send queue: nothing but probes (HELLO, HEARTBEAT) is queued
 * to a peer known dead (not heard for dead_after heartbeats); what the
 * provider takes at once is still sent (the peer may only be partitioned) */
static int peer_push(struct dstate *d, struct peer *p, struct sq_meta *m, const void *buf,
		     size_t n)
{
	int may_queue = p->alive || !p->last_heard || m->cls == SQ_PROBE;

	m->peer = p->id;
	p->tx++;
	return sendq_push(&p->sq, d->fab, p->addr, m, buf, n, may_queue, now_ns(), pout_dropped, d);
}

/* A sealed message in p's session; none yet: not sent (-ENOTCONN; what
 * matters is re-sent: invalidations, heartbeats). m: NULL, or what a lost
 * reply needs undone. */
int pout_send_m(struct dstate *d, struct peer *p, struct sq_meta *m, uint16_t type,
		const void *body, size_t blen, const void *tail, size_t tlen)
{
	char buf[XW_MAX_MSG];
	struct sq_meta dm = { 0 };
	size_t n;

	if (!m)
		m = &dm;
	m->cls = sq_class(type);
	m->type = type;
	if (!p->has_session) {
		d->st.tx_no_session++;
		log_debug("net -> node %u %s: no session yet, not sent", p->id, xw_type_name(type));
		return -ENOTCONN;
	}
	n = xw_seal(buf, p->sess.tx, p->sess.tag, type, d->cfg->node_id, p->id, d->incarnation,
		    ++p->tx_seq, body, blen, tail, tlen);
	if (!n)
		return -EMSGSIZE;
	log_debug("net -> node %u %s", p->id, xw_type_name(type));
	return peer_push(d, p, m, buf, n);
}

int pout_send(struct dstate *d, struct peer *p, uint16_t type, const void *body,
	      size_t blen, const void *tail, size_t tlen)
{
	return pout_send_m(d, p, NULL, type, body, blen, tail, tlen);
}

/* HELLO: our incarnation and ephemeral key, and p's ephemeral as we know it */
int pout_hello(struct dstate *d, struct peer *p)
{
	char buf[XW_MAX_MSG];
	struct xw_hello h;
	size_t n;

	memcpy(h.eph, d->eph_pk, sizeof(h.eph));
	memcpy(h.echo, p->eph, sizeof(h.echo));
	n = xw_hello_build(buf, d->sign_sk, d->cfg->node_id, p->id, d->incarnation,
			   ++d->hello_seq, &h);
	if (!n) {
		log_err("cannot sign HELLO to node %u", p->id);
		return -EINVAL;
	}
	log_debug("net -> node %u HELLO", p->id);
	{
		struct sq_meta m = { .cls = SQ_PROBE, .type = XW_HELLO };

		return peer_push(d, p, &m, buf, n);
	}
}

void pout_flush(struct dstate *d)
{
	for (int i = 0; i < d->npeers; i++)
		sendq_flush(&d->peers[i].sq, d->fab, d->peers[i].addr, now_ns(), pout_dropped, d);
}

uint64_t pout_next(struct dstate *d)
{
	uint64_t next = UINT64_MAX;

	for (int i = 0; i < d->npeers; i++) {
		uint64_t t = sendq_next(&d->peers[i].sq);

		if (t < next)
			next = t;
	}
	return next;
}
