// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel side, in: messages read from the channel are validated (chan.c)
 * and handled: the kernel's requests (INVALIDATE: inval.c; REMOTE_FAULT,
 * REMOTE_GET, REMOTE_RELEASE) go to peers, its answers to our requests (ZAP,
 * RESOLVE, CHECK_GET, PEER_WINDOW) go back to the peer that asked. A
 * QUERY_REPLY goes to the control plane through d->query_reply.
 */
#include "kernel.h"
#include "chan.h"
#include "clock.h"
#include "inval.h"
#include "kout.h"
#include "log.h"
#include "pout.h"
#include "requests.h"
#include "state.h"
#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* messages read from the channel per loop iteration (the fabric's turn
 * comes between; epoll is level-triggered, so the rest is read next time) */
#define CHAN_READ_BUDGET 256
#define STARTUP_NS	10000000000ull	/* the kernel answers the handshake within */

struct kheld {
	struct kheld *next;
	size_t n;
	char buf[];
};

static void handle_kernel_zap_done(struct dstate *d, uint64_t seq,
				   const struct xpmem_chan_status *s)
{
	struct dreq *r = dreq_take(d, seq, DREQ_ZAP);
	struct peer *p;

	if (!r) {
		log_warn("ZAP_DONE for unknown request %llu", (unsigned long long)seq);
		return;
	}
	d->st.zaps++;
	if (r->zap_all) {
		d->ready_zapped = 1;
	} else if (r->zap_owner) {
		if (s->error)
			log_warn("kernel could not drop the mappings of node %u's segments: %s",
				 r->peer, strerror(-s->error));
	} else if ((p = peer_find(d, r->peer))) {
		/* also after its deadline: the late ack releases the owner's quarantine */
		struct xw_ack a = { .generation = r->gen, .incarnation = r->peer_inc,
				    .error = s->error };

		pout_send(d, p, XW_ACK, &a, sizeof(a), NULL, 0);
		d->st.t_zap_ns += now_ns() - r->t0;
		d->st.t_zap_n++;
	}
	free(r);
}

static void handle_kernel_resolved(struct dstate *d, uint64_t seq,
				   const struct xpmem_chan_frames *fr)
{
	struct dreq *r = dreq_take(d, seq, DREQ_RESOLVE);
	struct peer *p;

	if (!r) {
		log_warn("RESOLVED for unknown request %llu", (unsigned long long)seq);
		return;
	}
	if (r->expired)
		dreq_resolve_wake(d, seq);
	/* after its deadline the peer was answered EAGAIN: nothing to send */
	if (!r->expired && (p = peer_find(d, r->peer))) {
		/* more extents than one message carries: a prefix of the pages
		 * (the importer maps in order from start), never an error */
		uint32_t n = fr->nextents < XW_FAULT_REPLY_EXTENTS ? fr->nextents :
			     (uint32_t)XW_FAULT_REPLY_EXTENTS;
		struct xw_fault_reply rep = { .req_id = r->req_id, .incarnation = r->peer_inc,
					      .error = fr->error, .nextents = n };
		struct sq_meta m = { .error = fr->error };

		if (n < fr->nextents)
			d->st.fault_replies_trimmed++;
		pout_send_m(d, p, &m, XW_FAULT_REPLY, &rep, sizeof(rep), fr->extents,
			 n * sizeof(struct xpmem_chan_extent));
		d->st.t_resolve_ns += now_ns() - r->t0;
		d->st.t_resolve_n++;
	}
	free(r);
}

static void handle_kernel_remote_fault(struct dstate *d, uint64_t kseq,
				       const struct xpmem_chan_remote_fault *m)
{
	struct peer *p = peer_find(d, m->owner);
	struct rfault *f;
	struct xw_remote_fault w;

	d->st.remote_faults++;
	log_debug("REMOTE_FAULT segid %#llx [%#llx,+%#llx) of node %u, access %u",
		  (unsigned long long)m->segid, (unsigned long long)m->start,
		  (unsigned long long)m->len, m->owner, m->access);
	if (!p) {
		kreply_fault(d, kseq, -EHOSTUNREACH, NULL, 0);
		return;
	}
	if (!p->alive && p->last_heard) {	/* known dead: fail fast */
		kreply_fault(d, kseq, -EHOSTDOWN, NULL, 0);
		return;
	}
	f = rfault_new(d, p);
	if (!f) {
		kreply_fault(d, kseq, p->n_rfaults ? -EBUSY : -ENOMEM, NULL, 0);
		return;
	}
	f->req_id = ++d->next_req_id;
	f->kseq = kseq;
	f->owner = m->owner;
	w = (struct xw_remote_fault){ .req_id = f->req_id, .segid = m->segid,
				      .start = m->start, .len = m->len,
				      .access = m->access,
				      .owner_instance = m->owner_instance };
	pout_send(d, p, XW_REMOTE_FAULT, &w, sizeof(w), NULL, 0);
}

static void handle_kernel_remote_get(struct dstate *d, uint64_t kseq,
				     const struct xpmem_chan_get *m)
{
	struct peer *p = peer_find(d, m->node);
	struct rfault *f;
	struct xw_get w;

	d->st.remote_gets++;
	if (!p) {		/* no such partition: no such segment */
		log_debug("REMOTE_GET segid %#llx of unknown node %u", (unsigned long long)m->segid,
			  m->node);
		kreply_get(d, kseq, -ENOENT, 0, 0);
		return;
	}
	if (!p->alive && p->last_heard) {
		kreply_get(d, kseq, -EHOSTDOWN, 0, 0);
		return;
	}
	f = rfault_new(d, p);
	if (!f) {
		kreply_get(d, kseq, p->n_rfaults ? -EBUSY : -ENOMEM, 0, 0);
		return;
	}
	f->get = 1;
	f->req_id = ++d->next_req_id;
	f->kseq = kseq;
	f->owner = m->node;
	w = (struct xw_get){ .req_id = f->req_id, .segid = m->segid, .flags = m->flags,
			     .uid = m->uid, .gid = m->gid };
	pout_send(d, p, XW_GET, &w, sizeof(w), NULL, 0);
}

static void handle_kernel_check_get_reply(struct dstate *d, uint64_t seq,
					  const struct xpmem_chan_get_reply *g)
{
	struct dreq *r = dreq_take(d, seq, DREQ_CHECK_GET);
	struct peer *p;

	if (!r) {
		log_warn("CHECK_GET_REPLY for unknown request %llu", (unsigned long long)seq);
		return;
	}
	if (r->expired) {
		/* the peer was answered ETIMEDOUT: a grant made since is given back */
		if (!g->error) {
			struct xpmem_chan_release rel = { .segid = r->segid, .node = r->peer,
							  .flags = r->flags,
							  .incarnation = r->peer_inc,
							  .owner_instance = g->owner_instance };

			d->st.grants_undone++;
			kout_send(d, XPMEM_CHAN_RELEASE_GRANT, ++d->dseq, &rel, sizeof(rel),
				  NULL, 0);
		}
	} else if ((p = peer_find(d, r->peer))) {
		struct xw_get_reply rep = { .req_id = r->req_id, .incarnation = r->peer_inc,
					    .error = g->error, .size = g->error ? 0 : g->size,
					    .owner_instance = g->error ? 0 : g->owner_instance };
		struct sq_meta m = { .error = g->error, .segid = r->segid, .flags = r->flags,
				     .inc = r->peer_inc };

		pout_send_m(d, p, &m, XW_GET_REPLY, &rep, sizeof(rep), NULL, 0);
	}
	free(r);
}

static void handle_kernel_remote_release(struct dstate *d, const struct xpmem_chan_release *m)
{
	struct peer *p = peer_find(d, m->node);
	struct xw_release w = { .segid = m->segid, .flags = m->flags,
				.incarnation = m->incarnation,
				.owner_instance = m->owner_instance };

	/* a permit of our previous incarnation: its grant went with our
	 * restart's PEER_RESET, and one of ours is not its to give back */
	if (m->incarnation != d->incarnation) {
		d->st.releases_stale++;
		log_debug("REMOTE_RELEASE segid %#llx of incarnation %llu (ours %llu): dropped",
			  (unsigned long long)m->segid, (unsigned long long)m->incarnation,
			  (unsigned long long)d->incarnation);
		return;
	}
	if (!p) {
		log_debug("REMOTE_RELEASE segid %#llx of unknown node %u",
			  (unsigned long long)m->segid, m->node);
		return;
	}
	d->st.releases_sent++;
	pout_send(d, p, XW_RELEASE, &w, sizeof(w), NULL, 0);
}

static void handle_kernel_release_done(struct dstate *d, uint64_t seq,
				       const struct xpmem_chan_status *s)
{
	if (!s->error)
		return;
	d->st.release_errors++;
	log_debug("RELEASE_GRANT seq %llu: %s", (unsigned long long)seq, strerror(-s->error));
}

static void handle_kernel_window_done(struct dstate *d, uint64_t seq,
				      const struct xpmem_chan_status *s)
{
	struct dreq *r = dreq_take(d, seq, DREQ_WINDOW);
	struct peer *p;

	if (!r) {
		log_warn("PEER_WINDOW_DONE for unknown request %llu", (unsigned long long)seq);
		return;
	}
	p = peer_find(d, r->peer);
	if (d->windows_pending > 0)
		d->windows_pending--;
	if (s->error) {
		log_err("kernel refused the window onto node %u (%s: phys %#llx + %#llx): %s",
			r->peer, p ? p->window : "?", p ? (unsigned long long)p->win_base : 0ull,
			p ? (unsigned long long)p->win_size : 0ull, strerror(-s->error));
		if (!d->ready)
			d->fatal = 1;	/* at start: the daemon stops; on reload: logged */
	} else {
		d->st.windows++;
	}
	free(r);
}

static int send_windows(struct dstate *d)
{
	for (int i = 0; i < d->npeers; i++) {
		struct peer *p = &d->peers[i];
		struct xpmem_chan_peer_window w = { .peer = p->id, .base = p->win_base,
						    .size = p->win_size };
		struct dreq *r;
		int err = 0;

		if (!p->win_size)
			continue;
		r = dreq_new(d, DREQ_WINDOW, NULL, &err);
		if (!r)
			return -1;
		r->peer = p->id;
		d->windows_pending++;
		if (kout_send(d, XPMEM_CHAN_PEER_WINDOW, r->dseq, &w, sizeof(w), NULL, 0))
			return -1;
	}
	return 0;
}

static void handle_kernel_hello_reply(struct dstate *d, const struct xpmem_chan_hello *hr)
{
	if (hr->node_id && hr->node_id != d->cfg->node_id) {
		log_err("kernel says it is node %u, config says %u", hr->node_id,
			d->cfg->node_id);
		d->fatal = 1;
	}
	d->kernel_instance = hr->incarnation;
	d->ready_hello = 1;
}

static void handle_kernel_query_reply(struct dstate *d, uint64_t seq,
				      const struct xpmem_chan_query_reply *r)
{
	if (d->query_reply)
		d->query_reply(d->query_arg, seq, r);
	else
		log_warn("QUERY_REPLY for unknown request %llu", (unsigned long long)seq);
}

/* a valid message of type, handled */
static void kernel_handle(struct dstate *d, int type, uint64_t seq, void *body)
{
	switch (type) {
	case XPMEM_CHAN_INVALIDATE:
		inval_start(d, seq, body);
		break;
	case XPMEM_CHAN_REMOTE_FAULT:
		handle_kernel_remote_fault(d, seq, body);
		break;
	case XPMEM_CHAN_RESOLVED:
		handle_kernel_resolved(d, seq, body);
		break;
	case XPMEM_CHAN_ZAP_DONE:
		handle_kernel_zap_done(d, seq, body);
		break;
	case XPMEM_CHAN_QUERY_REPLY:
		handle_kernel_query_reply(d, seq, body);
		break;
	case XPMEM_CHAN_REMOTE_GET:
		handle_kernel_remote_get(d, seq, body);
		break;
	case XPMEM_CHAN_CHECK_GET_REPLY:
		handle_kernel_check_get_reply(d, seq, body);
		break;
	case XPMEM_CHAN_PEER_WINDOW_DONE:
		handle_kernel_window_done(d, seq, body);
		break;
	case XPMEM_CHAN_REMOTE_RELEASE:
		handle_kernel_remote_release(d, body);
		break;
	case XPMEM_CHAN_RELEASE_GRANT_DONE:
		handle_kernel_release_done(d, seq, body);
		break;
	case XPMEM_CHAN_HELLO_REPLY:
		handle_kernel_hello_reply(d, body);
		break;
	default:
		d->st.chan_malformed++;
		log_warn("unexpected %s from kernel", chan_type_name(type));
	}
}

void kernel_dispatch(struct dstate *d, void *buf, size_t n)
{
	struct xpmem_chan_hdr *h = buf;
	int type = chan_validate(buf, n);

	d->dirty = 1;	/* a counter changes, whatever it is */
	if (type < 0) {
		d->st.chan_malformed++;
		log_warn("malformed channel message (%zu bytes) dropped", n);
		return;
	}
	log_debug("chan <- %s seq %llu", chan_type_name(type), (unsigned long long)h->seq);
	kernel_handle(d, type, h->seq, chan_body(buf));
}

/* a message read before the handshake ended: the answers to it (and a
 * QUERY_REPLY the control plane waits for) are handled, the rest held in
 * order until kernel_replay; 0, or -1 (out of memory) */
static int kernel_hold(struct dstate *d, char *buf, size_t n)
{
	int t = chan_validate(buf, n);
	struct kheld *h;

	if (t == XPMEM_CHAN_HELLO_REPLY || t == XPMEM_CHAN_ZAP_DONE ||
	    t == XPMEM_CHAN_PEER_WINDOW_DONE || t == XPMEM_CHAN_QUERY_REPLY || t < 0) {
		kernel_dispatch(d, buf, n);
		return 0;
	}
	h = malloc(sizeof(*h) + n);
	if (!h) {
		log_err("out of memory holding a kernel message during startup");
		return -1;
	}
	h->next = NULL;
	h->n = n;
	memcpy(h->buf, buf, n);
	*d->held_tail = h;
	d->held_tail = &h->next;
	d->n_held++;
	return 0;
}

/* returns 0, or -1 when the channel is gone */
int kernel_read(struct dstate *d)
{
	static char buf[XPMEM_CHAN_MAX_MSG + 1];

	for (int budget = CHAN_READ_BUDGET; budget > 0; budget--) {
		/* non-blocking; one record per read() either way */
		ssize_t n = read(d->chan_fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			log_err("channel read: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			log_err("kernel channel closed%s", d->ready ? "" : " during startup");
			return -1;
		}
		d->st.chan_rx++;
		if (d->ready)
			kernel_dispatch(d, buf, (size_t)n);
		else if (kernel_hold(d, buf, (size_t)n))
			return -1;
	}
	return 0;
}

int kernel_start(struct dstate *d)
{
	struct xpmem_chan_hello h = { .node_id = d->cfg->node_id, .incarnation = d->incarnation };
	struct xpmem_chan_zap z = { .flags = XPMEM_CHAN_ZAP_ALL };
	struct dreq *r;
	int err = 0;

	d->held = NULL;
	d->held_tail = &d->held;
	kernel_wait_from(d, now_ns());
	kout_send(d, XPMEM_CHAN_HELLO, ++d->dseq, &h, sizeof(h), NULL, 0);
	r = dreq_new(d, DREQ_ZAP, NULL, &err);
	if (!r) {
		log_err("startup ZAP_ALL: %s", strerror(-err));
		return -1;
	}
	r->zap_all = 1;
	kout_send(d, XPMEM_CHAN_ZAP, r->dseq, &z, sizeof(z), NULL, 0);
	if (send_windows(d)) {
		log_err("startup PEER_WINDOWs: out of memory or channel error");
		return -1;
	}
	return 0;
}

/* the handshake's deadline, STARTUP_NS from @now */
void kernel_wait_from(struct dstate *d, uint64_t now)
{
	d->start_deadline = now + STARTUP_NS;
}

int kernel_started(struct dstate *d, uint64_t now)
{
	if (d->ready_hello && d->ready_zapped && !d->windows_pending)
		return 1;
	if (now < d->start_deadline)
		return 0;
	log_err("kernel did not answer %s within %llu s",
		!d->ready_hello ? "HELLO" : !d->ready_zapped ? "ZAP_ALL" : "PEER_WINDOW",
		STARTUP_NS / 1000000000ull);
	return -1;
}

void kernel_replay(struct dstate *d, int dispatch)
{
	while (d->held) {
		struct kheld *h = d->held;

		d->held = h->next;
		if (dispatch)
			kernel_dispatch(d, h->buf, h->n);
		free(h);
	}
	d->held_tail = &d->held;
	d->n_held = 0;
}
