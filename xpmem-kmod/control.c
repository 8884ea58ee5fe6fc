// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's control requests that span the owner and importer sides:
 * HELLO (this node's id), PEER_RESET (owner-side quarantine and grants,
 * importer-side mappings), QUERY (kernel state for xpmemctl) and CHECK_GET
 * (the permission check of a remote xpmem_get, which records a grant). One
 * row each in the channel's table (xpmem_control_chan).
 */
#include <linux/cred.h>
#include <linux/overflow.h>
#include <linux/uidgid.h>

#include "channel.h"
#include "control.h"
#include "invalidate.h"
#include "remote.h"
#include "rmap.h"
#include "segment.h"
#include "stats.h"

/* ---- QUERY --------------------------------------------------------------- */

struct xpmem_query_ctx {
	struct xpmem_chan_query_reply *rep;
	u32 offset;
	u32 total;
};

static void xpmem_query_emit(void *p, const struct xpmem_chan_record *r)
{
	struct xpmem_query_ctx *q = p;

	if (q->total >= q->offset && q->rep->nrecords < XPMEM_CHAN_MAX_RECORDS)
		q->rep->records[q->rep->nrecords++] = *r;
	if (q->total < U32_MAX)
		q->total++;
}

/* Emit the records @qr asks for; 0 or the QUERY's error. */
static int xpmem_query_collect(const struct xpmem_chan_query *qr,
			       struct xpmem_query_ctx *q)
{
	struct xpmem_seg *seg;
	int err;

	switch (qr->what) {
	case XPMEM_CHAN_Q_SEGMENTS:
		xpmem_query_segments(0, xpmem_query_emit, q);
		return 0;
	case XPMEM_CHAN_Q_SEGMENT:
		if (qr->access & ~(XPMEM_CHAN_ACCESS_READ |
				   XPMEM_CHAN_ACCESS_WRITE) ||
		    !xpmem_peer_valid(qr->peer))
			return -EINVAL;
		seg = xpmem_seg_lookup(qr->segid);
		if (!seg)
			return -ENOENT;
		/*
		 * No credentials here: -EACCES if no class of the mode grants
		 * the access (nobody but root could get it so). The per-user
		 * decision is CHECK_GET's.
		 */
		err = xpmem_seg_any_class(seg, qr->access &
					  XPMEM_CHAN_ACCESS_WRITE ?
					  XPMEM_RDWR : XPMEM_RDONLY);
		xpmem_seg_put(seg);
		if (!err)
			xpmem_query_segments(qr->segid, xpmem_query_emit, q);
		return err;
	case XPMEM_CHAN_Q_MAPPINGS:
		if (!xpmem_peer_valid(qr->peer))
			return -EINVAL;
		xpmem_query_mappings(qr->peer, xpmem_query_emit, q);
		return 0;
	case XPMEM_CHAN_Q_QUARANTINE:
		xpmem_query_quarantine(xpmem_query_emit, q);
		return 0;
	case XPMEM_CHAN_Q_GRANTS:
		if (!xpmem_peer_valid(qr->peer))
			return -EINVAL;
		xpmem_query_grants(qr->peer, xpmem_query_emit, q);
		return 0;
	case XPMEM_CHAN_Q_FAILURES:
		xpmem_query_fails(xpmem_query_emit, q);
		return 0;
	}
	return -EINVAL;
}

/* QUERY: one page of records, from qr->offset. */
static int xpmem_control_query(struct xpmem_chan_hdr *req, bool *taken)
{
	const struct xpmem_chan_query *qr = XPMEM_CHAN_BODY(req);
	struct xpmem_query_ctx q = { .offset = qr->offset };
	struct xpmem_chan_hdr *h;
	size_t body;
	int err;

	body = struct_size(q.rep, records, XPMEM_CHAN_MAX_RECORDS);
	h = xpmem_chan_alloc(XPMEM_CHAN_QUERY_REPLY, body, req->seq);
	if (!h)
		return -ENOMEM;
	q.rep = (void *)(h + 1);
	err = xpmem_query_collect(qr, &q);
	if (err)
		q.rep->nrecords = 0;
	q.rep->error = err;
	q.rep->total = err ? 0 : q.total;
	h->len = sizeof(*h) + struct_size(q.rep, records, q.rep->nrecords);
	return xpmem_chan_post(h);
}

/* ---- CHECK_GET (owner side of a remote xpmem_get) ---------------------- */

/*
 * The permission check of a remote get; on success the requester (node and
 * daemon incarnation) is granted the permit on the segment, which is what
 * its RESOLVEs are checked against (rmap.c).
 */
static int xpmem_control_check_get(struct xpmem_chan_hdr *req, bool *taken)
{
	const struct xpmem_chan_get *g = XPMEM_CHAN_BODY(req);
	struct xpmem_chan_get_reply rep = {};
	struct xpmem_seg *seg;
	kuid_t uid = make_kuid(&init_user_ns, g->uid);
	kgid_t gid = make_kgid(&init_user_ns, g->gid);
	enum xpmem_check how;
	int err;

	if (!xpmem_peer_valid(g->node) ||
	    (g->flags != XPMEM_RDONLY && g->flags != XPMEM_RDWR) ||
	    (g->check_flags & ~XPMEM_CHAN_GET_ROOT_TRUSTED) || g->reserved ||
	    !uid_valid(uid) || !gid_valid(gid)) {
		err = -EINVAL;
		goto out;
	}
	how = g->check_flags & XPMEM_CHAN_GET_ROOT_TRUSTED ?
	      XPMEM_CHECK_REMOTE_ROOT : XPMEM_CHECK_REMOTE;
	seg = xpmem_seg_lookup(g->segid);
	if (!seg) {
		err = -ENOENT;
		goto out;
	}
	err = READ_ONCE(seg->dead) ? -ENOENT :
	      xpmem_seg_check(seg, g->flags, uid, gid, how);
	if (!err)
		err = xpmem_grant_add(seg, g->node, g->incarnation, g->flags);
	if (!err)
		rep.size = seg->end - seg->start;
	xpmem_seg_put(seg);
out:
	rep.error = err;
	rep.owner_instance = xpmem_incarnation;
	return xpmem_chan_reply(req, XPMEM_CHAN_CHECK_GET_REPLY, &rep,
				sizeof(rep));
}

static int xpmem_control_hello(struct xpmem_chan_hdr *h, bool *taken)
{
	struct xpmem_chan_hello *hi = XPMEM_CHAN_BODY(h), rep = {};

	if (!xpmem_peer_valid(hi->node_id))
		return -EINVAL;
	WRITE_ONCE(xpmem_node_id, hi->node_id);
	xpmem_chan_hello_done(hi->incarnation);
	rep.node_id = hi->node_id;
	rep.incarnation = xpmem_incarnation;
	xpmem_chan_reply(h, XPMEM_CHAN_HELLO_REPLY, &rep, sizeof(rep));
	/* Quarantined ranges are invalidated again (their acks drain). */
	xpmem_quar_replay();
	return 0;
}

static int xpmem_control_peer_reset(struct xpmem_chan_hdr *h, bool *taken)
{
	struct xpmem_chan_peer_reset *pr = XPMEM_CHAN_BODY(h);

	if (!xpmem_peer_valid(pr->peer))
		return -EINVAL;
	xpmem_quar_peer_reset(pr->peer, pr->incarnation);
	xpmem_remote_peer_reset(pr->peer);
	return 0;
}

const struct xpmem_chan_handler xpmem_control_chan[] = {
	{ XPMEM_CHAN_HELLO, xpmem_control_hello },
	{ XPMEM_CHAN_PEER_RESET, xpmem_control_peer_reset },
	{ XPMEM_CHAN_QUERY, xpmem_control_query },
	{ XPMEM_CHAN_CHECK_GET, xpmem_control_check_get },
	{ }
};
