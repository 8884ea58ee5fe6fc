// SPDX-License-Identifier: GPL-2.0
/*
 * Membership (member.h): who the peers are, which incarnation and session
 * each has (HELLO, docs/protocol.md 2.2), whether it is alive (heartbeats),
 * and the fence. PEER_RESET tells the kernel of every new incarnation.
 */
#include "member.h"
#include "clock.h"
#include "fabric.h"
#include "incarnation.h"
#include "inval.h"
#include "kout.h"
#include "log.h"
#include "pout.h"
#include "requests.h"
#include "state.h"
#include "wire.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HELLO_ANSWER_NS	(50 * 1000000ull)	/* answers to a peer's HELLOs, at most one per */
#define INC_MIN_NS	(1000 * 1000000ull)	/* a peer's new incarnations: at most one per, */
#define INC_MAX_NS	(16000 * 1000000ull)	/* doubling up to this while they keep coming */
#define HELLO_VERIFY_BUDGET 20			/* HELLO signature checks per peer per second */
#define HELLO_WARN_NS	WARN_NS			/* warnings about a peer's HELLOs, one per */

static void session_drop(struct peer *p)
{
	sodium_memzero(&p->sess, sizeof(p->sess));
	p->has_session = 0;
	p->established = 0;
	p->tx_seq = 0;
	p->rp = (struct xw_replay){ 0 };
}

/* verified sealed traffic, or the session just established: p is alive
 * (returns 1 if it was not); its send queue is retried at once */
static int peer_heard(struct dstate *d, struct peer *p)
{
	p->last_heard = now_ns();
	sendq_kick(&p->sq);
	if (p->alive)
		return 0;
	p->alive = 1;
	if (p->incarnation == p->hello_inc)
		log_info("node %u is reachable again", p->id);
	(void)d;
	return 1;
}

static void peer_new_incarnation(struct dstate *d, struct peer *p, uint64_t inc)
{
	struct xpmem_chan_peer_reset r = { .incarnation = inc, .peer = p->id };
	uint64_t known = p->incarnation;

	if (known)
		log_info("node %u restarted (incarnation %llu -> %llu)", p->id,
			 (unsigned long long)p->incarnation, (unsigned long long)inc);
	else
		log_info("node %u is up (incarnation %llu)", p->id, (unsigned long long)inc);
	p->incarnation = inc;
	d->st.peer_resets++;
	/* not taken (the channel's queue full): re-sent on the next heartbeat */
	p->reset_pending = kout_send(d, XPMEM_CHAN_PEER_RESET, ++d->dseq, &r, sizeof(r),
				     NULL, 0) != 0;
	/* the kernel releases quarantine for p's older incarnations; if p really
	 * restarted (we knew an older one), forget our late-ack records. First
	 * contact after our own start proves nothing: p may still owe the acks
	 * of the kernel's replayed invalidations, so they stay and are re-sent. */
	if (known)
		inval_forget_peer(d, p->id);
}

/*
 * p proved it is live in this session (it knows our current ephemeral key):
 * only now is it alive, and a new incarnation reported to the kernel.
 */
static void session_established(struct dstate *d, struct peer *p, const char *how)
{
	p->established = 1;
	d->st.sessions++;
	log_info("node %u: session established (incarnation %llu, %s)", p->id,
		 (unsigned long long)p->hello_inc, how);
	peer_heard(d, p);
	if (p->hello_inc != p->incarnation)
		peer_new_incarnation(d, p, p->hello_inc);
	inval_resend_to(d, p);
}

/*
 * A HELLO claiming to be from p (docs/protocol.md 2.2): verified with p's
 * public key; an older incarnation than known is stale; a newer one replaces
 * the session (new keys from both ephemerals, not established); one echoing
 * our current ephemeral establishes the session. Answered when p does not
 * know our ephemeral yet or we adopted its new one.
 */
/* at most one warning per HELLO_WARN_NS about p's HELLOs; 1: log this one */
static int hello_warn_ok(struct peer *p)
{
	uint64_t now = now_ns();

	if (p->warn_at && now - p->warn_at < HELLO_WARN_NS) {
		p->warn_suppressed++;
		return 0;
	}
	if (p->warn_suppressed)
		log_warn("node %u: %llu more warnings about its HELLOs suppressed", p->id,
			 (unsigned long long)p->warn_suppressed);
	p->warn_at = now;
	p->warn_suppressed = 0;
	return 1;
}

/*
 * Before any signature check (docs/protocol.md 2.2), in this order: an
 * incarnation of 2^63 or more is refused, an older one than known is stale,
 * a byte-identical copy of the last HELLO that verified is a duplicate (no
 * need to verify it again), a newer incarnation within the adoption interval
 * is dropped; then at most HELLO_VERIFY_BUDGET signature checks per second
 * per peer. 0: verify it; 1: a verified duplicate; -1: dropped. Nothing
 * about p changes here but the budget and warning bookkeeping.
 */
static int hello_precheck(struct dstate *d, struct peer *p, const void *buf, size_t len,
			  const struct xw_msg *m, uint8_t hash[32])
{
	uint64_t inc = m->hdr.incarnation, now = now_ns();

	if (inc >= INCARNATION_LIMIT) {
		d->st.rx_bad_incarnation++;
		if (hello_warn_ok(p))
			log_warn("dropped HELLO claiming node %u: incarnation %llu is not below 2^63",
				 p->id, (unsigned long long)inc);
		return -1;
	}
	if (inc < p->hello_inc) {
		d->st.rx_stale_incarnation++;
		log_debug("dropped HELLO of node %u: incarnation %llu < %llu", p->id,
			  (unsigned long long)inc, (unsigned long long)p->hello_inc);
		return -1;
	}
	crypto_generichash(hash, 32, buf, len, NULL, 0);
	if (inc == p->hello_inc && !sodium_is_zero(p->eph, sizeof(p->eph)) &&
	    sodium_memcmp(hash, p->hello_hash, 32) == 0) {
		d->st.hellos_duplicate++;
		return 1;
	}
	if (inc > p->hello_inc && p->inc_adopted && now - p->inc_adopted < p->inc_interval) {
		d->st.rx_hello_rate++;
		log_debug("dropped HELLO claiming node %u: incarnation %llu within %llu ms of "
			  "the last new one", p->id, (unsigned long long)inc,
			  (unsigned long long)(p->inc_interval / 1000000));
		return -1;
	}
	if (now - p->verify_window >= 1000000000ull) {
		p->verify_window = now;
		p->verify_count = 0;
	}
	if (p->verify_count >= HELLO_VERIFY_BUDGET) {
		d->st.rx_hello_budget++;
		if (hello_warn_ok(p))
			log_warn("dropping HELLOs claiming node %u: over %d signature checks per "
				 "second", p->id, HELLO_VERIFY_BUDGET);
		return -1;
	}
	p->verify_count++;
	return 0;
}


/*
 * p's HELLO names a newer incarnation and a usable ephemeral key (verified):
 * new session keys from both ephemerals, not established yet; what was
 * sealed in the old session is dropped. 0, or -1 (the key is unusable).
 */
static int hello_adopt(struct dstate *d, struct peer *p, const struct xw_msg *m)
{
	const struct xw_hello *h = m->body;
	struct xw_session s;

	if (xw_session_derive(&s, d->cfg->node_id, d->incarnation, d->eph_pk, d->eph_sk,
			      p->id, m->hdr.incarnation, h->eph)) {
		d->st.rx_bad_hello++;
		if (hello_warn_ok(p))
			log_warn("dropped HELLO of node %u: unusable ephemeral key", p->id);
		return -1;
	}
	log_info("node %u: HELLO of incarnation %llu (had %llu): new session keys", p->id,
		 (unsigned long long)m->hdr.incarnation, (unsigned long long)p->hello_inc);
	/* the next new incarnation no sooner than INC_MIN_NS from now; twice
	 * as long (up to INC_MAX_NS) while they come back to back */
	if (p->inc_adopted && now_ns() - p->inc_adopted < 2 * p->inc_interval)
		p->inc_interval = p->inc_interval * 2 < INC_MAX_NS ?
				  p->inc_interval * 2 : INC_MAX_NS;
	else
		p->inc_interval = INC_MIN_NS;
	p->inc_adopted = now_ns();
	/* what was sealed in the old session cannot open in the new one */
	sendq_purge(&p->sq, 0, SQ_DROP_SESSION, pout_dropped, d);
	sendq_kick(&p->sq);
	session_drop(p);
	p->hello_inc = m->hdr.incarnation;
	memcpy(p->eph, h->eph, sizeof(p->eph));
	p->sess = s;
	p->has_session = 1;
	p->rp = (struct xw_replay){ .incarnation = p->hello_inc };
	sodium_memzero(&s, sizeof(s));
	return 0;
}

/* a HELLO of p's current incarnation must carry the same ephemeral key
 * (one per incarnation; a fenced incarnation has none): 0 if it does */
static int hello_same_key(struct dstate *d, struct peer *p, const struct xw_msg *m)
{
	const struct xw_hello *h = m->body;

	if (!sodium_is_zero(p->eph, sizeof(p->eph)) &&
	    !sodium_memcmp(h->eph, p->eph, sizeof(p->eph)))
		return 0;
	d->st.rx_bad_hello++;
	if (hello_warn_ok(p))
		log_warn("dropped HELLO of node %u: incarnation %llu %s", p->id,
			 (unsigned long long)m->hdr.incarnation,
			 sodium_is_zero(p->eph, sizeof(p->eph)) ? "is fenced" :
			 "with another ephemeral key");
	return -1;
}

void member_hello(struct dstate *d, struct peer *p, const void *buf, size_t len,
		  const struct xw_msg *m)
{
	const struct xw_hello *h = m->body;
	uint8_t hash[32];
	int adopted, dup;

	dup = hello_precheck(d, p, buf, len, m, hash);
	if (dup < 0)
		return;
	if (!dup && xw_hello_verify(buf, m, p->pk) != XW_OK) {
		d->st.rx_forged++;
		log_debug("dropped HELLO claiming node %u: signature does not verify", p->id);
		return;
	}
	/* verified (or identical to a HELLO that did): from here p may change */
	if (sodium_is_zero(h->eph, sizeof(h->eph))) {
		d->st.rx_bad_hello++;
		return;
	}
	adopted = m->hdr.incarnation != p->hello_inc;
	if (adopted ? hello_adopt(d, p, m) : hello_same_key(d, p, m))
		return;
	memcpy(p->hello_hash, hash, sizeof(p->hello_hash));
	if (!dup)
		d->st.hellos_rx++;
	p->rx++;
	if (sodium_memcmp(h->echo, d->eph_pk, sizeof(d->eph_pk)) == 0) {
		if (!p->established)
			session_established(d, p, "its HELLO echoes our key");
		if (!adopted)
			return;
	}
	/* a replayed HELLO gets no more than one answer per HELLO_ANSWER_NS;
	 * a new incarnation is always answered */
	if (!adopted && now_ns() - p->hello_answered < HELLO_ANSWER_NS) {
		d->st.hellos_unanswered++;
		return;
	}
	p->hello_answered = now_ns();
	pout_hello(d, p);
}

/* a sealed message from p verified */
void member_heard(struct dstate *d, struct peer *p)
{
	if (!p->established)
		session_established(d, p, "a sealed message verified");
	else if (peer_heard(d, p))
		inval_resend_to(d, p);	/* dropped while it was dead */
}

/*
 * Fence: the operator asserts node is down (fenced out of band). Everything
 * it mapped is treated as gone: the kernel gets PEER_RESET with a fence
 * incarnation (now), invalidations stop waiting for it, and messages of its
 * current incarnation are refused from now on; a restarted node (a newer
 * incarnation) is accepted as usual.
 */
int member_fence(struct dstate *d, uint32_t node, uint64_t *fenced_inc, uint32_t *released)
{
	struct peer *p = peer_find(d, node);
	struct xpmem_chan_peer_reset r;
	uint64_t inc = realtime_ns();

	*released = 0;
	if (!p)
		return -ENOENT;
	/* HELLOs are below INCARNATION_LIMIT, so hello_inc + 1 cannot wrap and a
	 * fence at the limit covers them all (a second one stays there) */
	if (inc <= p->hello_inc)
		inc = p->hello_inc < INCARNATION_LIMIT ? p->hello_inc + 1 : INCARNATION_LIMIT;
	if (inc > INCARNATION_LIMIT)
		inc = INCARNATION_LIMIT;
	log_warn("fencing node %u (incarnation %llu and older are dead)", node,
		 (unsigned long long)(inc - 1));
	/* its current session ends; HELLOs of older incarnations are stale */
	p->hello_inc = inc;
	sodium_memzero(p->eph, sizeof(p->eph));
	sendq_purge(&p->sq, 0, SQ_DROP_SESSION, pout_dropped, d);
	session_drop(p);
	p->incarnation = inc;
	p->alive = 0;
	r = (struct xpmem_chan_peer_reset){ .incarnation = inc, .peer = node };
	d->st.peer_resets++;
	p->reset_pending = kout_send(d, XPMEM_CHAN_PEER_RESET, ++d->dseq, &r, sizeof(r),
				     NULL, 0) != 0;
	*released = inval_release_peer(d, node);
	rfault_fail_owner(d, node, -EHOSTDOWN);
	*fenced_inc = inc;
	d->dirty = 1;
	return 0;
}

/*
 * p is dead: it may be rebooting, and its new kernel reuses the frames this
 * node maps through its window, before its daemon can tell us. Our kernel
 * drops every mapping of p's segments (a fault asks p again, which fails
 * while it is dead; PEER_RESET zaps them again on its new incarnation).
 */
static void zap_owner(struct dstate *d, struct peer *p)
{
	struct xpmem_chan_zap z = { .owner = p->id, .flags = XPMEM_CHAN_ZAP_OWNER };
	struct dreq *r;
	int err = 0;

	r = dreq_new(d, DREQ_ZAP, NULL, &err);
	if (!r) {
		log_warn("node %u is dead but its segments stay mapped here: %s", p->id,
			 strerror(-err));
		return;
	}
	r->peer = p->id;
	r->zap_owner = 1;
	kout_send(d, XPMEM_CHAN_ZAP, r->dseq, &z, sizeof(z), NULL, 0);
}

void member_heartbeat(struct dstate *d, uint64_t now)
{
	uint64_t dead_ns = (uint64_t)d->cfg->heartbeat_ms * d->cfg->dead_after * 1000000ull;

	for (int i = 0; i < d->npeers; i++) {
		struct peer *p = &d->peers[i];

		if (p->reset_pending) {
			struct xpmem_chan_peer_reset r = { .incarnation = p->incarnation,
							   .peer = p->id };

			p->reset_pending = kout_send(d, XPMEM_CHAN_PEER_RESET, ++d->dseq, &r,
						     sizeof(r), NULL, 0) != 0;
		}
		/* until the session is established, HELLO is what we repeat */
		if (p->established)
			pout_send(d, p, XW_HEARTBEAT, NULL, 0, NULL, 0);
		else
			pout_hello(d, p);
		if (p->alive && now - p->last_heard > dead_ns) {
			p->alive = 0;
			d->st.peer_deaths++;
			d->dirty = 1;
			log_warn("node %u missed %u heartbeats: marked dead", p->id,
				 d->cfg->dead_after);
			/* nothing waits for a dead peer but what its rejoin needs */
			sendq_purge(&p->sq, 1, SQ_DROP_DEAD, pout_dropped, d);
			zap_owner(d, p);
		}
	}
}

/* the configured peers (before the channel: windows are resolved first) */
static int init_peers(struct dstate *d)
{
	d->npeers = d->cfg->npeers;
	d->peers = calloc(d->npeers ? d->npeers : 1, sizeof(*d->peers));
	if (!d->peers)
		return -1;
	for (int i = 0; i < d->npeers; i++) {
		struct peer *p = &d->peers[i];

		p->id = d->cfg->peers[i].id;
		snprintf(p->address, sizeof(p->address), "%s", d->cfg->peers[i].address);
		snprintf(p->window, sizeof(p->window), "%s", d->cfg->peers[i].window);
		memcpy(p->pk, d->cfg->peers[i].public_key, sizeof(p->pk));
		/* a key may name one node only: the sender is whoever verifies */
		if (!sodium_memcmp(p->pk, d->sign_pk, sizeof(p->pk))) {
			log_err("[peer %u] public_key is this node's own key (%s)", p->id,
				d->cfg->node_key);
			return -1;
		}
		for (int j = 0; j < i; j++)
			if (!sodium_memcmp(p->pk, d->peers[j].pk, sizeof(p->pk))) {
				log_err("[peer %u] and [peer %u] have the same public_key",
					d->peers[j].id, p->id);
				return -1;
			}
	}
	return 0;
}

static int resolve_windows(struct dstate *d)
{
	for (int i = 0; i < d->npeers; i++) {
		struct peer *p = &d->peers[i];
		char err[600];

		if (!p->window[0]) {
			log_warn("[peer %u] has no window: its segments cannot be attached here",
				 p->id);
			continue;
		}
		if (window_resolve(p->window, &p->win_base, &p->win_size, err, sizeof(err))) {
			log_err("[peer %u] %s", p->id, err);
			return -1;
		}
		log_info("node %u window %s: local phys %#llx, %llu MiB", p->id, p->window,
			 (unsigned long long)p->win_base,
			 (unsigned long long)(p->win_size >> 20));
	}
	return 0;
}

/* their fabric addresses (once the fabric is open) */
int member_setup(struct dstate *d)
{
	for (int i = 0; i < d->npeers; i++) {
		struct peer *p = &d->peers[i];
		char host[128], port[16];

		if (split_hostport(p->address, host, sizeof(host), port, sizeof(port)) ||
		    fab_add_peer(d->fab, host, port, 0, &p->addr)) {
			log_err("[peer %u]: cannot resolve address %s", p->id, p->address);
			return -1;
		}
	}
	return 0;
}

int member_init(struct dstate *d)
{
	return init_peers(d) || resolve_windows(d) ? -1 : 0;
}

/* a [peer N] at runtime may name neither our key nor another peer's;
 * 0, or -1 (logged) */
static int add_check_key(struct dstate *d, const struct peer_conf *pc)
{
	if (d->npeers >= XPMEMD_MAX_PEERS || d->cfg->npeers >= XPMEMD_MAX_PEERS) {
		log_warn("reload: [peer %u] not added: at most %d peers", pc->id, XPMEMD_MAX_PEERS);
		return -1;
	}
	if (!sodium_memcmp(pc->public_key, d->sign_pk, sizeof(d->sign_pk))) {
		log_warn("reload: [peer %u] not added: its public_key is this node's own", pc->id);
		return -1;
	}
	for (int i = 0; i < d->npeers; i++)
		if (!sodium_memcmp(pc->public_key, d->peers[i].pk, sizeof(d->peers[i].pk))) {
			log_warn("reload: [peer %u] not added: node %u has the same public_key",
				 pc->id, d->peers[i].id);
			return -1;
		}
	return 0;
}

/* PEER_WINDOW for a peer added at runtime (its answer is only logged) */
static void add_window(struct dstate *d, struct peer *p)
{
	struct xpmem_chan_peer_window w = { .peer = p->id, .base = p->win_base,
					    .size = p->win_size };
	int e = 0;
	struct dreq *r;

	if (!p->win_size)
		return;
	r = dreq_new(d, DREQ_WINDOW, NULL, &e);
	if (r) {
		r->peer = p->id;
		kout_send(d, XPMEM_CHAN_PEER_WINDOW, r->dseq, &w, sizeof(w), NULL, 0);
	}
}

int member_add(struct dstate *d, const struct peer_conf *pc)
{
	struct peer *np, *p;
	char host[128], port[16], err[600];
	struct xconfig *cfg = d->cfg;

	if (add_check_key(d, pc))
		return -1;
	np = realloc(d->peers, (size_t)(d->npeers + 1) * sizeof(*np));
	if (!np) {
		log_warn("reload: [peer %u] not added: out of memory", pc->id);
		return -1;
	}
	d->peers = np;
	p = &d->peers[d->npeers];
	memset(p, 0, sizeof(*p));
	p->id = pc->id;
	snprintf(p->address, sizeof(p->address), "%s", pc->address);
	snprintf(p->window, sizeof(p->window), "%s", pc->window);
	memcpy(p->pk, pc->public_key, sizeof(p->pk));
	if (p->window[0] &&
	    window_resolve(p->window, &p->win_base, &p->win_size, err, sizeof(err))) {
		log_warn("reload: [peer %u] not added: %s", pc->id, err);
		return -1;
	}
	/* numeric only: a name lookup would block the event loop */
	if (split_hostport(p->address, host, sizeof(host), port, sizeof(port)) ||
	    fab_add_peer(d->fab, host, port, 1, &p->addr)) {
		log_warn("reload: [peer %u] not added: cannot add address %s (at runtime "
			 "it must be a numeric IPv4 address:port: a name lookup would block "
			 "the loop; restart the daemon to add a peer by name)", pc->id,
			 p->address);
		return -1;
	}
	d->npeers++;
	cfg->peers[cfg->npeers++] = *pc;
	add_window(d, p);
	log_info("reload: [peer %u] added (%s)", p->id, p->address);
	pout_hello(d, p);
	return 0;
}

void member_free_all(struct dstate *d)
{
	for (int i = 0; i < d->npeers; i++) {
		sendq_purge(&d->peers[i].sq, 0, SQ_DROP_SESSION, NULL, NULL);
		session_drop(&d->peers[i]);
	}
	free(d->peers);
	d->peers = NULL;
	d->npeers = 0;
}
