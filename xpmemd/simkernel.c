// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include "simkernel.h"
#include "chan.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ull
#define MAXP 64		/* peers with a known incarnation */
#define MAX_GRANTS_PER_SEG 1024		/* the module's max_grants_per_segment */
#define MAX_GRANTS_PER_PEER 65536	/* ... max_grants_per_peer */
#define RDONLY 1			/* XPMEM_RDONLY */
#define RDWR 2				/* XPMEM_RDWR */

struct seg {
	struct seg *next;
	int64_t segid;
	uint64_t phys, size;
	int rdonly;
	uint32_t uid, gid, mode;
};

struct rmap {
	struct rmap *next;
	uint32_t peer;
	uint64_t inc;
	int64_t segid;
	uint64_t start, len;
	int write;
};

struct grant {			/* what CHECK_GET granted peer (incarnation inc) */
	struct grant *next;
	int64_t segid;
	uint32_t peer;
	uint64_t inc;
	uint32_t nr_ro, nr_rw;
};

struct import {
	struct import *next;
	uint32_t owner;
	int64_t segid;
	uint64_t start, len;
};

struct qentry {			/* quarantined range */
	struct qentry *next;
	uint64_t gen;		/* generation of the latest INVALIDATE for it */
	int64_t segid;
	uint64_t start, len;
	uint32_t n;
	uint32_t peers[XPMEM_CHAN_MAX_PEERS];
	uint64_t incs[XPMEM_CHAN_MAX_PEERS];
};

struct pinval {			/* INVALIDATE sent, no answer yet */
	struct pinval *next;
	uint64_t gen, seq;
	int64_t segid;
	uint64_t start, len;
	uint32_t n;
	uint32_t *peers;
	uint64_t *incs;
	uint64_t deadline;
	struct qentry *reissue;	/* replay of this quarantine entry */
};

struct done_gen {		/* final state of finished generations */
	struct done_gen *next;
	uint64_t gen;
	int state;
};

struct fault {			/* REMOTE_FAULT or REMOTE_GET */
	struct fault *next;
	uint64_t id;
	int get;
	uint64_t size;		/* REMOTE_GET_REPLY */
	uint64_t inc;		/* ... the permit's daemon incarnation */
	uint64_t inst;		/* ... the owner kernel's instance */
	int held;		/* a permit not released yet */
	int done, error;
	uint32_t owner, nextents;
	uint32_t flags;		/* REMOTE_GET */
	int64_t segid;
	uint64_t start, len;
	struct xpmem_chan_extent first;
};

struct held_zap {
	struct held_zap *next;
	uint64_t seq;
};

struct held_resolve {
	struct held_resolve *next;
	uint64_t seq;
	struct xpmem_chan_resolve r;
};

/* the kernel's failure reasons (xpmem_fails.h); the RESOLVE refusals
 * simulated here count theirs, answered to QUERY FAILURES */
enum {
#define XPMEM_FAIL(path, name, desc) SK_FAIL_##name,
#include <xpmem/xpmem_fails.h>
#undef XPMEM_FAIL
	SK_FAIL_NR
};

struct simk {
	uint64_t get_inc;	/* the last REMOTE_GET_REPLY's incarnation */
	uint64_t get_inst;	/* ... and owner instance */
	uint64_t instance;	/* ours: HELLO_REPLY, CHECK_GET_REPLY; RESOLVE checks it */
	int lfd, cfd;
	uint32_t node_id;
	uint32_t timeout_ms;
	uint64_t next_gen, next_seq;
	struct seg *segs;
	struct rmap *rmap;
	struct grant *grants;
	struct import *imports;
	struct qentry *quarantine;
	struct pinval *pending;
	struct done_gen *done;
	struct fault *faults;
	struct held_zap *held;
	struct held_resolve *held_res;	/* simk_hold_resolves, newest first */
	int hold_resolves;
	int hold_zaps;
	int no_failures;	/* QUERY FAILURES answered EINVAL (an older kernel) */
	int hold_hello, hello_held;	/* simk_hold_hello; a HELLO is waiting */
	uint64_t hello_seq;		/* the held HELLO's seq */
	uint64_t ignore;	/* bit t: requests of type t are never answered */
	int stalled;		/* the channel is not read (simk_stall) */
	uint32_t known_peer[MAXP];
	uint64_t known_inc[MAXP];
	int nknown;
	uint32_t win_peer[MAXP];
	uint64_t win_base[MAXP], win_size[MAXP];
	int nwin;
	struct simk_stats st;
	uint64_t fails[SK_FAIL_NR];
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int overlaps(uint64_t s1, uint64_t l1, uint64_t s2, uint64_t l2)
{
	return s1 < s2 + l2 && s2 < s1 + l1;
}

struct simk *simk_create(const char *path, uint32_t node_id, uint32_t timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct simk *k = calloc(1, sizeof(*k));

	if (!k || strlen(path) >= sizeof(sa.sun_path))
		goto fail;
	k->cfd = -1;
	k->node_id = node_id;
	k->timeout_ms = timeout_ms;
	k->next_gen = 1;
	/* random per start, as the module's per load; never 0 */
	if (getrandom(&k->instance, sizeof(k->instance), 0) != sizeof(k->instance))
		goto fail;
	k->instance = (k->instance >> 1) | 1;
	strcpy(sa.sun_path, path);
	unlink(path);
	k->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (k->lfd < 0 || bind(k->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(k->lfd, 4) < 0)
		goto fail;
	return k;
fail:
	if (k && k->lfd > 0)
		close(k->lfd);
	free(k);
	return NULL;
}

#define FREE_LIST(type, head) do { while (head) { type *x_ = head; head = x_->next; free(x_); } } while (0)

void simk_destroy(struct simk *k)
{
	if (!k)
		return;
	if (k->cfd >= 0)
		close(k->cfd);
	close(k->lfd);
	FREE_LIST(struct seg, k->segs);
	FREE_LIST(struct rmap, k->rmap);
	FREE_LIST(struct grant, k->grants);
	FREE_LIST(struct import, k->imports);
	FREE_LIST(struct qentry, k->quarantine);
	FREE_LIST(struct done_gen, k->done);
	FREE_LIST(struct fault, k->faults);
	FREE_LIST(struct held_zap, k->held);
	FREE_LIST(struct held_resolve, k->held_res);
	while (k->pending) {
		struct pinval *p = k->pending;
		k->pending = p->next;
		free(p->peers);
		free(p->incs);
		free(p);
	}
	free(k);
}

int simk_connected(struct simk *k)
{
	return k->cfd >= 0;
}

static void recount(struct simk *k)
{
	k->st.quarantine_entries = 0;
	k->st.quarantine_pages = 0;
	for (struct qentry *q = k->quarantine; q; q = q->next) {
		k->st.quarantine_entries++;
		k->st.quarantine_pages += (q->len + PAGE - 1) / PAGE;
	}
}

void simk_get_stats(struct simk *k, struct simk_stats *s)
{
	recount(k);
	*s = k->st;
}

static int ksend(struct simk *k, uint16_t type, uint64_t seq, const void *body, size_t blen,
		 const void *tail, size_t tlen)
{
	char buf[XPMEM_CHAN_MAX_MSG];
	size_t n;

	if (k->cfd < 0)
		return -EPIPE;
	n = chan_build(buf, type, seq, body, blen, tail, tlen);
	if (send(k->cfd, buf, n, MSG_NOSIGNAL) != (ssize_t)n)
		return -EIO;
	return 0;
}

static uint64_t known_inc(struct simk *k, uint32_t peer)
{
	for (int i = 0; i < k->nknown; i++)
		if (k->known_peer[i] == peer)
			return k->known_inc[i];
	return 0;
}

static void set_done(struct simk *k, uint64_t gen, int state)
{
	struct done_gen *d;

	for (d = k->done; d; d = d->next)
		if (d->gen == gen) {
			d->state = state;
			return;
		}
	d = calloc(1, sizeof(*d));
	if (!d)
		return;
	d->gen = gen;
	d->state = state;
	d->next = k->done;
	k->done = d;
}

static void q_remove(struct simk *k, struct qentry *q)
{
	for (struct qentry **pp = &k->quarantine; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			free(q);
			return;
		}
}

static int q_live(struct simk *k, struct qentry *q)
{
	for (struct qentry *x = k->quarantine; x; x = x->next)
		if (x == q)
			return 1;
	return 0;
}

/* drop peer from q; frees q (returns 1) when nothing is left */
static int q_release_peer(struct simk *k, struct qentry *q, uint32_t peer)
{
	for (uint32_t i = 0; i < q->n; i++)
		if (q->peers[i] == peer) {
			q->peers[i] = q->peers[q->n - 1];
			q->incs[i] = q->incs[q->n - 1];
			q->n--;
			break;
		}
	if (!q->n) {
		q_remove(k, q);
		return 1;
	}
	return 0;
}

static void pinval_unlink(struct simk *k, struct pinval *p)
{
	for (struct pinval **pp = &k->pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	free(p->peers);
	free(p->incs);
	free(p);
}

/* The invalidation p ended with `missing` peers not acknowledged. */
static void quarantine(struct simk *k, struct pinval *p, const uint32_t *missing, uint32_t nm)
{
	struct qentry *q = p->reissue && q_live(k, p->reissue) ? p->reissue : NULL;
	struct qentry fresh;

	memset(&fresh, 0, sizeof(fresh));
	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q)
			return;
		q->segid = p->segid;
		q->start = p->start;
		q->len = p->len;
		q->next = k->quarantine;
		k->quarantine = q;
	}
	q->gen = p->gen;
	/* keep only peers still missing whose mappings may still exist */
	for (uint32_t i = 0; i < nm; i++) {
		uint64_t inc = 0;

		for (uint32_t j = 0; j < p->n; j++)
			if (p->peers[j] == missing[i])
				inc = p->incs[j];
		if (known_inc(k, missing[i]) > inc)
			continue;	/* peer restarted since it mapped: gone */
		fresh.peers[fresh.n] = missing[i];
		fresh.incs[fresh.n++] = inc;
	}
	q->n = fresh.n;
	memcpy(q->peers, fresh.peers, sizeof(q->peers));
	memcpy(q->incs, fresh.incs, sizeof(q->incs));
	if (!q->n)
		q_remove(k, q);
}

static void kernel_timeout_all(struct simk *k, int only_expired)
{
	uint64_t now = mono_ms();

	for (struct pinval *p = k->pending, *next; p; p = next) {
		next = p->next;
		if (only_expired && now < p->deadline)
			continue;
		k->st.kernel_timeouts++;
		k->st.timed_out++;
		quarantine(k, p, p->peers, p->n);
		set_done(k, p->gen, SIMK_TIMED_OUT);
		pinval_unlink(k, p);
	}
}

static uint64_t send_invalidate(struct simk *k, int64_t segid, uint64_t start, uint64_t len,
				const uint32_t *peers, const uint64_t *incs, uint32_t n,
				struct qentry *reissue)
{
	struct pinval *p = calloc(1, sizeof(*p));
	struct xpmem_chan_invalidate m = { .segid = segid, .start = start, .len = len,
					   .npeers = n };

	if (!p)
		return 0;
	p->gen = k->next_gen++;
	p->seq = ++k->next_seq;
	p->segid = segid;
	p->start = start;
	p->len = len;
	p->n = n;
	p->peers = calloc(n ? n : 1, sizeof(uint32_t));
	p->incs = calloc(n ? n : 1, sizeof(uint64_t));
	memcpy(p->peers, peers, n * sizeof(uint32_t));
	memcpy(p->incs, incs, n * sizeof(uint64_t));
	p->deadline = mono_ms() + k->timeout_ms;
	p->reissue = reissue;
	p->next = k->pending;
	k->pending = p;
	k->st.invalidations++;
	set_done(k, p->gen, SIMK_PENDING);
	m.generation = p->gen;
	if (ksend(k, XPMEM_CHAN_INVALIDATE, p->seq, &m, sizeof(m), peers,
		  n * sizeof(uint32_t))) {
		/* no daemon: nobody can collect acks, time out at once */
		k->st.kernel_timeouts++;
		k->st.timed_out++;
		quarantine(k, p, p->peers, p->n);
		set_done(k, p->gen, SIMK_TIMED_OUT);
		uint64_t gen = p->gen;
		pinval_unlink(k, p);
		return gen;
	}
	return p->gen;
}

uint64_t simk_invalidate_peers(struct simk *k, int64_t segid, uint64_t start, uint64_t len,
			       const uint32_t *peers, uint32_t npeers)
{
	uint64_t incs[XPMEM_CHAN_MAX_PEERS] = { 0 };

	if (npeers > XPMEM_CHAN_MAX_PEERS)
		return 0;
	return send_invalidate(k, segid, start, len, peers, incs, npeers, NULL);
}

uint64_t simk_invalidate(struct simk *k, int64_t segid, uint64_t start, uint64_t len)
{
	uint32_t peers[XPMEM_CHAN_MAX_PEERS];
	uint64_t incs[XPMEM_CHAN_MAX_PEERS];
	uint32_t n = 0;

	for (struct rmap **pp = &k->rmap; *pp;) {
		struct rmap *r = *pp;
		uint32_t i;

		if (r->segid != segid || !overlaps(r->start, r->len, start, len)) {
			pp = &r->next;
			continue;
		}
		for (i = 0; i < n && peers[i] != r->peer; i++)
			;
		if (i == n) {
			if (n == XPMEM_CHAN_MAX_PEERS)
				break;
			peers[n] = r->peer;
			incs[n++] = r->inc;
		} else if (r->inc > incs[i]) {
			incs[i] = r->inc;
		}
		*pp = r->next;	/* the mapping is being revoked */
		free(r);
	}
	if (!n)
		return 0;
	return send_invalidate(k, segid, start, len, peers, incs, n, NULL);
}

enum simk_inval_state simk_inval_state(struct simk *k, uint64_t gen)
{
	for (struct done_gen *d = k->done; d; d = d->next)
		if (d->gen == gen)
			return d->state;
	return SIMK_NONE;
}

int simk_add_segment(struct simk *k, int64_t segid, uint64_t phys, uint64_t size, int rdonly)
{
	struct seg *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->segid = segid;
	s->phys = phys;
	s->size = size;
	s->rdonly = rdonly;
	s->mode = 0666;
	s->next = k->segs;
	k->segs = s;
	return 0;
}

int simk_set_segment_perm(struct simk *k, int64_t segid, uint32_t uid, uint32_t gid,
			  uint32_t mode)
{
	for (struct seg *s = k->segs; s; s = s->next)
		if (s->segid == segid) {
			s->uid = uid;
			s->gid = gid;
			s->mode = mode;
			return 0;
		}
	return -ENOENT;
}

size_t simk_rmap_count(struct simk *k)
{
	size_t n = 0;

	for (struct rmap *r = k->rmap; r; r = r->next)
		n++;
	return n;
}

static struct grant *grant_find(struct simk *k, int64_t segid, uint32_t peer, uint64_t inc)
{
	for (struct grant *g = k->grants; g; g = g->next)
		if (g->segid == segid && g->peer == peer && g->inc == inc)
			return g;
	return NULL;
}

static void grant_free(struct simk *k, struct grant *g)
{
	for (struct grant **pp = &k->grants; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			free(g);
			return;
		}
}

size_t simk_grant_count(struct simk *k, int64_t segid, uint32_t peer, uint32_t *nr_ro,
			uint32_t *nr_rw)
{
	uint32_t ro = 0, rw = 0;
	size_t n = 0;

	for (struct grant *g = k->grants; g; g = g->next) {
		if (g->segid != segid || (peer && g->peer != peer))
			continue;
		n++;
		ro += g->nr_ro;
		rw += g->nr_rw;
	}
	if (nr_ro)
		*nr_ro = ro;
	if (nr_rw)
		*nr_rw = rw;
	return n;
}

uint64_t simk_remove_segment(struct simk *k, int64_t segid)
{
	struct seg **pp, *s;
	uint64_t gen;

	for (pp = &k->segs; *pp && (*pp)->segid != segid; pp = &(*pp)->next)
		;
	if (!*pp)
		return 0;
	s = *pp;
	gen = simk_invalidate(k, segid, 0, s->size);
	*pp = s->next;
	free(s);
	for (struct grant *g = k->grants, *next; g; g = next) {
		next = g->next;
		if (g->segid == segid)
			grant_free(k, g);
	}
	return gen;
}

size_t simk_import_count(struct simk *k)
{
	size_t n = 0;

	for (struct import *i = k->imports; i; i = i->next)
		n++;
	return n;
}

uint64_t simk_remote_fault_inst(struct simk *k, uint32_t owner, int64_t segid,
				uint64_t start, uint64_t len, uint32_t access,
				uint64_t inst)
{
	struct fault *f = calloc(1, sizeof(*f));
	struct xpmem_chan_remote_fault m = { .segid = segid, .start = start, .len = len,
					     .owner = owner, .access = access,
					     .owner_instance = inst };

	if (!f)
		return 0;
	f->id = ++k->next_seq;
	f->owner = owner;
	f->segid = segid;
	f->start = start;
	f->len = len;
	f->next = k->faults;
	k->faults = f;
	if (ksend(k, XPMEM_CHAN_REMOTE_FAULT, f->id, &m, sizeof(m), NULL, 0)) {
		f->done = 1;
		f->error = -EHOSTDOWN;
	}
	return f->id;
}

uint64_t simk_remote_fault(struct simk *k, uint32_t owner, int64_t segid,
			   uint64_t start, uint64_t len, uint32_t access)
{
	uint64_t inst = k->get_inst;

	/* the instance of the permit held on it, as the module's remote segment */
	for (struct fault *g = k->faults; g; g = g->next)
		if (g->get && g->held && g->owner == owner && g->segid == segid) {
			inst = g->inst;
			break;
		}
	return simk_remote_fault_inst(k, owner, segid, start, len, access, inst);
}

uint64_t simk_instance(const struct simk *k)
{
	return k->instance;
}

int simk_fault_state(struct simk *k, uint64_t id, int *error, uint32_t *nextents,
		     struct xpmem_chan_extent *first)
{
	for (struct fault *f = k->faults; f; f = f->next)
		if (f->id == id) {
			if (!f->done)
				return 0;
			if (error)
				*error = f->error;
			if (nextents)
				*nextents = f->nextents;
			if (first)
				*first = f->first;
			return 1;
		}
	return -1;
}

uint64_t simk_remote_get(struct simk *k, uint32_t owner, int64_t segid, uint32_t flags,
			 uint32_t uid, uint32_t gid)
{
	struct fault *f = calloc(1, sizeof(*f));
	struct xpmem_chan_get m = { .segid = segid, .node = owner, .flags = flags,
				    .uid = uid, .gid = gid };

	if (!f)
		return 0;
	f->id = ++k->next_seq;
	f->get = 1;
	f->flags = flags;
	f->owner = owner;
	f->segid = segid;
	f->next = k->faults;
	k->faults = f;
	if (ksend(k, XPMEM_CHAN_REMOTE_GET, f->id, &m, sizeof(m), NULL, 0)) {
		f->done = 1;
		f->error = -EHOSTDOWN;
	}
	return f->id;
}

int simk_get_state(struct simk *k, uint64_t id, int *error, uint64_t *size)
{
	for (struct fault *f = k->faults; f; f = f->next)
		if (f->id == id && f->get) {
			if (!f->done)
				return 0;
			if (error)
				*error = f->error;
			if (size)
				*size = f->size;
			return 1;
		}
	return -1;
}

int simk_remote_release(struct simk *k, uint32_t owner, int64_t segid, uint32_t flags)
{
	struct xpmem_chan_release m = { .segid = segid, .node = owner, .flags = flags,
					.incarnation = k->get_inc,
					.owner_instance = k->get_inst };
	struct fault *old = NULL;

	/* the oldest permit of that kind held: under the incarnation it got */
	for (struct fault *f = k->faults; f; f = f->next)
		if (f->get && f->held && f->owner == owner && f->segid == segid &&
		    f->flags == flags)
			old = f;	/* the list is newest first */
	if (old) {
		old->held = 0;
		m.incarnation = old->inc;
		m.owner_instance = old->inst;
	}

	return ksend(k, XPMEM_CHAN_REMOTE_RELEASE, ++k->next_seq, &m, sizeof(m), NULL, 0);
}

int simk_peer_window(struct simk *k, uint32_t peer, uint64_t *base, uint64_t *size)
{
	for (int i = 0; i < k->nwin; i++)
		if (k->win_peer[i] == peer) {
			*base = k->win_base[i];
			*size = k->win_size[i];
			return 0;
		}
	return -1;
}

static void zap_done(struct simk *k, uint64_t seq)
{
	struct xpmem_chan_status s = { 0 };

	ksend(k, XPMEM_CHAN_ZAP_DONE, seq, &s, sizeof(s), NULL, 0);
}

int simk_send_raw(struct simk *k, const void *buf, size_t n)
{
	if (k->cfd < 0)
		return -EPIPE;
	return send(k->cfd, buf, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -EIO;
}

void simk_stall(struct simk *k, int on)
{
	k->stalled = on;
}

void simk_ignore(struct simk *k, int type, int on)
{
	if (on)
		k->ignore |= 1ull << type;
	else
		k->ignore &= ~(1ull << type);
}

void simk_no_failures(struct simk *k, int on)
{
	k->no_failures = on;
}

void simk_hold_zaps(struct simk *k, int hold)
{
	k->hold_zaps = hold;
	if (hold)
		return;
	/* release in arrival order */
	while (k->held) {
		struct held_zap **pp = &k->held, *h;

		while ((*pp)->next)
			pp = &(*pp)->next;
		h = *pp;
		*pp = NULL;
		zap_done(k, h->seq);
		free(h);
	}
}

static void on_resolve(struct simk *k, uint64_t seq, const struct xpmem_chan_resolve *r);

void simk_hold_resolves(struct simk *k, int hold)
{
	k->hold_resolves = hold;
	if (hold)
		return;
	while (k->held_res) {	/* answered in arrival order */
		struct held_resolve **pp = &k->held_res, *h;

		while ((*pp)->next)
			pp = &(*pp)->next;
		h = *pp;
		*pp = NULL;
		on_resolve(k, h->seq, &h->r);
		free(h);
	}
}

/* ------------------------------------------------------------------ */

static void on_answer(struct simk *k, uint64_t seq, int acked, const uint32_t *missing,
		      uint32_t nm)
{
	struct pinval *p;

	for (p = k->pending; p && p->seq != seq; p = p->next)
		;
	if (!p)
		return;	/* already timed out by the kernel: handled below */
	if (acked) {
		k->st.acked++;
		if (p->reissue && q_live(k, p->reissue))
			q_remove(k, p->reissue);
		set_done(k, p->gen, SIMK_ACKED);
	} else {
		k->st.timed_out++;
		quarantine(k, p, missing, nm);
		set_done(k, p->gen, SIMK_TIMED_OUT);
	}
	pinval_unlink(k, p);
}

static void on_acked_after_kernel_timeout(struct simk *k, uint64_t gen)
{
	/* every peer acked a generation the kernel had already given up on */
	for (struct qentry *q = k->quarantine; q; q = q->next)
		if (q->gen == gen) {
			q_remove(k, q);
			return;
		}
}

static void on_resolve(struct simk *k, uint64_t seq, const struct xpmem_chan_resolve *r)
{
	struct xpmem_chan_frames fr = { .error = 0, .nextents = 1 };
	struct xpmem_chan_extent ext;
	struct seg *s;

	k->st.resolves++;
	for (s = k->segs; s && s->segid != r->segid; s = s->next)
		;
	int why = SK_FAIL_NR;

	if (r->owner_instance != k->instance) {
		fr.error = -ESTALE;	/* a permit of a previous instance */
		why = SK_FAIL_resolve_stale;
	} else if (!s) {
		fr.error = -ENOENT;
		why = SK_FAIL_resolve_no_segment;
	} else {
		/* nothing beyond the requester's grant, checked first */
		struct grant *g = grant_find(k, r->segid, r->requester,
					     r->requester_incarnation);

		if (!g || ((r->access & XPMEM_CHAN_ACCESS_WRITE) ? !g->nr_rw :
			   !g->nr_ro && !g->nr_rw)) {
			fr.error = -EACCES;
			why = SK_FAIL_resolve_no_grant;
		}
	}
	if (!fr.error && (r->len == 0 || r->start >= s->size || r->len > s->size - r->start)) {
		fr.error = -EINVAL;
		why = SK_FAIL_resolve_invalid;
	} else if (!fr.error && (r->access & XPMEM_CHAN_ACCESS_WRITE) && s->rdonly) {
		fr.error = -EACCES;
		why = SK_FAIL_resolve_readonly;
	}
	if (fr.error) {
		if (why < SK_FAIL_NR)
			k->fails[why]++;
		k->st.resolve_errors++;
		fr.nextents = 0;
		ksend(k, XPMEM_CHAN_RESOLVED, seq, &fr, sizeof(fr), NULL, 0);
		return;
	}
	{
		struct rmap *m = calloc(1, sizeof(*m));
		if (m) {
			m->peer = r->requester;
			m->inc = r->requester_incarnation;
			m->segid = r->segid;
			m->start = r->start;
			m->len = r->len;
			m->write = !!(r->access & XPMEM_CHAN_ACCESS_WRITE);
			m->next = k->rmap;
			k->rmap = m;
		}
	}
	ext.phys = s->phys + r->start;
	ext.len = r->len;
	ksend(k, XPMEM_CHAN_RESOLVED, seq, &fr, sizeof(fr), &ext, sizeof(ext));
}

static void on_zap(struct simk *k, uint64_t seq, const struct xpmem_chan_zap *z)
{
	for (struct import **pp = &k->imports; *pp;) {
		struct import *i = *pp;

		if ((z->flags & XPMEM_CHAN_ZAP_ALL) ||
		    ((z->flags & XPMEM_CHAN_ZAP_OWNER) && i->owner == z->owner) ||
		    (i->owner == z->owner && i->segid == z->segid &&
		     overlaps(i->start, i->len, z->start, z->len))) {
			*pp = i->next;
			free(i);
		} else {
			pp = &i->next;
		}
	}
	if (z->flags & XPMEM_CHAN_ZAP_ALL) {
		k->st.zap_alls++;
		zap_done(k, seq);	/* never held: startup path */
		return;
	}
	if (z->flags & XPMEM_CHAN_ZAP_OWNER) {
		zap_done(k, seq);	/* a dead owner's: never held */
		return;
	}
	k->st.zaps++;
	if (k->hold_zaps) {
		struct held_zap *h = calloc(1, sizeof(*h));
		if (h) {
			h->seq = seq;
			h->next = k->held;
			k->held = h;
			return;
		}
	}
	zap_done(k, seq);
}

static void on_fault_reply(struct simk *k, uint64_t seq, const struct xpmem_chan_frames *fr)
{
	for (struct fault *f = k->faults; f; f = f->next) {
		if (f->id != seq || f->done || f->get)
			continue;
		f->done = 1;
		f->error = fr->error;
		f->nextents = fr->nextents;
		if (fr->nextents)
			f->first = fr->extents[0];
		if (!fr->error) {
			struct import *i = calloc(1, sizeof(*i));
			if (i) {
				i->owner = f->owner;
				i->segid = f->segid;
				i->start = f->start;
				i->len = f->len;
				i->next = k->imports;
				k->imports = i;
			}
		}
		return;
	}
}

static void on_peer_reset(struct simk *k, const struct xpmem_chan_peer_reset *r)
{
	int i;

	k->st.peer_resets++;
	/* as an importer: r->peer's segments are unmapped (it may have rebooted) */
	for (struct import **pp = &k->imports; *pp;) {
		struct import *im = *pp;

		if (im->owner == r->peer) {
			*pp = im->next;
			free(im);
		} else {
			pp = &im->next;
		}
	}
	for (i = 0; i < k->nknown && k->known_peer[i] != r->peer; i++)
		;
	if (i == k->nknown) {
		if (k->nknown == MAXP)
			return;
		k->known_peer[k->nknown] = r->peer;
		k->known_inc[k->nknown++] = 0;
	}
	if (r->incarnation > k->known_inc[i])
		k->known_inc[i] = r->incarnation;
	/* grants of older incarnations go */
	for (struct grant *g = k->grants, *next; g; g = next) {
		next = g->next;
		if (g->peer == r->peer && g->inc < r->incarnation)
			grant_free(k, g);
	}
	/* mappings of older incarnations are gone: quarantine and rmap */
	for (struct qentry *q = k->quarantine, *next; q; q = next) {
		next = q->next;
		for (uint32_t j = 0; j < q->n; j++)
			if (q->peers[j] == r->peer && q->incs[j] < r->incarnation) {
				q_release_peer(k, q, r->peer);
				break;
			}
	}
	for (struct rmap **pp = &k->rmap; *pp;) {
		struct rmap *m = *pp;

		if (m->peer == r->peer && m->inc < r->incarnation) {
			*pp = m->next;
			free(m);
		} else {
			pp = &m->next;
		}
	}
}

/* long: one case per query kind (the kernel's table, simulated) */
static void on_query(struct simk *k, uint64_t seq, const struct xpmem_chan_query *q)
{
	struct {
		struct xpmem_chan_query_reply r;
		struct xpmem_chan_record rec[XPMEM_CHAN_MAX_RECORDS];
	} out;
	uint32_t idx = 0;

	memset(&out, 0, sizeof(out));
	if (q->what == XPMEM_CHAN_Q_SEGMENTS || q->what == XPMEM_CHAN_Q_SEGMENT) {
		int found = 0;

		for (struct seg *s = k->segs; s; s = s->next) {
			if (q->what == XPMEM_CHAN_Q_SEGMENT && s->segid != q->segid)
				continue;
			found = 1;
			if (q->what == XPMEM_CHAN_Q_SEGMENT && s->rdonly &&
			    (q->access & XPMEM_CHAN_ACCESS_WRITE)) {
				out.r.error = -EACCES;
				break;
			}
			if (idx++ < q->offset || out.r.nrecords >= XPMEM_CHAN_MAX_RECORDS)
				continue;
			out.rec[out.r.nrecords++] = (struct xpmem_chan_record){
				.segid = s->segid, .start = 0, .len = s->size, .aux = s->phys,
				.flags = s->rdonly ? XPMEM_CHAN_REC_RDONLY : 0 };
		}
		if (q->what == XPMEM_CHAN_Q_SEGMENT && !found)
			out.r.error = -ENOENT;
	} else if (q->what == XPMEM_CHAN_Q_MAPPINGS) {
		for (struct rmap *m = k->rmap; m; m = m->next) {
			if (q->peer && m->peer != q->peer)
				continue;
			if (idx++ < q->offset || out.r.nrecords >= XPMEM_CHAN_MAX_RECORDS)
				continue;
			out.rec[out.r.nrecords++] = (struct xpmem_chan_record){
				.segid = m->segid, .start = m->start, .len = m->len,
				.aux = m->inc, .peer = m->peer };
		}
	} else if (q->what == XPMEM_CHAN_Q_GRANTS) {
		for (struct grant *g = k->grants; g; g = g->next) {
			if (q->peer && g->peer != q->peer)
				continue;
			if (idx++ < q->offset || out.r.nrecords >= XPMEM_CHAN_MAX_RECORDS)
				continue;
			out.rec[out.r.nrecords++] = (struct xpmem_chan_record){
				.segid = g->segid, .start = g->nr_ro, .len = g->nr_rw,
				.aux = g->inc, .peer = g->peer,
				.flags = g->nr_rw ? 0 : XPMEM_CHAN_REC_RDONLY };
		}
	} else if (q->what == XPMEM_CHAN_Q_FAILURES && !k->no_failures) {
		for (uint32_t i = 0; i < SK_FAIL_NR; i++) {
			if (!k->fails[i])
				continue;
			if (idx++ < q->offset || out.r.nrecords >= XPMEM_CHAN_MAX_RECORDS)
				continue;
			out.rec[out.r.nrecords++] = (struct xpmem_chan_record){
				.aux = k->fails[i], .flags = i };
		}
	} else if (q->what == XPMEM_CHAN_Q_QUARANTINE) {
		for (struct qentry *e = k->quarantine; e; e = e->next) {
			if (idx++ < q->offset || out.r.nrecords >= XPMEM_CHAN_MAX_RECORDS)
				continue;
			out.rec[out.r.nrecords++] = (struct xpmem_chan_record){
				.segid = e->segid, .start = e->start, .len = e->len,
				.aux = e->gen, .peer = e->n ? e->peers[0] : 0, .flags = e->n };
		}
	} else {
		out.r.error = -EINVAL;
	}
	if (out.r.error)
		out.r.nrecords = 0;
	out.r.total = idx;
	ksend(k, XPMEM_CHAN_QUERY_REPLY, seq, &out.r, sizeof(out.r), out.rec,
	      out.r.nrecords * sizeof(out.rec[0]));
}

static void on_get_reply(struct simk *k, uint64_t seq, const struct xpmem_chan_get_reply *r)
{
	for (struct fault *f = k->faults; f; f = f->next)
		if (f->id == seq && f->get && !f->done) {
			f->done = 1;
			f->error = r->error;
			f->size = r->size;
			f->inc = r->incarnation;
			f->inst = r->owner_instance;
			f->held = !r->error;
			if (!r->error) {
				k->get_inc = r->incarnation;
				k->get_inst = r->owner_instance;
			}
			return;
		}
}

/* a new grant record for (segid, peer, inc), within the module's bounds */
static int grant_add(struct simk *k, int64_t segid, uint32_t peer, uint64_t inc, uint32_t flags)
{
	struct grant *g = grant_find(k, segid, peer, inc);

	if (!g) {
		size_t on_seg = 0, of_peer = 0;

		for (struct grant *x = k->grants; x; x = x->next) {
			on_seg += x->segid == segid;
			of_peer += x->peer == peer;
		}
		if (on_seg >= MAX_GRANTS_PER_SEG || of_peer >= MAX_GRANTS_PER_PEER)
			return -ENOSPC;
		g = calloc(1, sizeof(*g));
		if (!g)
			return -ENOMEM;
		g->segid = segid;
		g->peer = peer;
		g->inc = inc;
		g->next = k->grants;
		k->grants = g;
	}
	if (flags == RDWR)
		g->nr_rw++;
	else
		g->nr_ro++;
	return 0;
}

/* the owner-side permission check of a remote xpmem_get: a local get's;
 * success records a grant for the requester's incarnation */
static void on_check_get(struct simk *k, uint64_t seq, const struct xpmem_chan_get *g)
{
	struct xpmem_chan_get_reply r = { 0 };
	struct seg *s;

	k->st.check_gets++;
	for (s = k->segs; s && s->segid != g->segid; s = s->next)
		;
	if ((g->flags != RDONLY && g->flags != RDWR) || g->reserved ||
	    (g->check_flags & ~XPMEM_CHAN_GET_ROOT_TRUSTED)) {
		r.error = -EINVAL;
	} else if (!s) {
		r.error = -ENOENT;
	} else {
		uint32_t want = g->flags == RDWR ? 6 : 4, bits;
		int root = g->uid == 0 && (g->check_flags & XPMEM_CHAN_GET_ROOT_TRUSTED);

		bits = g->uid == s->uid ? (s->mode >> 6) & 7 :
		       g->gid == s->gid ? (s->mode >> 3) & 7 : s->mode & 7;
		if (g->flags == RDWR && s->rdonly)
			r.error = -EACCES;
		else if (!root && (bits & want) != want)
			r.error = -EACCES;
		else
			r.error = grant_add(k, g->segid, g->node, g->incarnation, g->flags);
		if (!r.error)
			r.size = s->size;
	}
	if (r.error)
		k->st.check_get_errors++;
	r.owner_instance = k->instance;
	ksend(k, XPMEM_CHAN_CHECK_GET_REPLY, seq, &r, sizeof(r), NULL, 0);
}

/*
 * RELEASE_GRANT: one permit of (peer, incarnation) less. With no read-write
 * permit left its write mappings of the segment are revoked, with none at
 * all every mapping: an INVALIDATE to that peer, as the module does (the
 * peer's word that it released is not taken for its pages being unmapped).
 */
static void on_release_grant(struct simk *k, uint64_t seq, const struct xpmem_chan_release *r)
{
	struct xpmem_chan_status st = { 0 };
	struct grant *g = NULL;
	struct seg *s;
	uint32_t *nr;

	k->st.release_grants++;
	for (s = k->segs; s && s->segid != r->segid; s = s->next)
		;
	if (r->segid <= 0 || r->node > 32767 || (r->flags != RDONLY && r->flags != RDWR))
		st.error = -EINVAL;
	else if (r->owner_instance != k->instance)
		st.error = -ESTALE;
	else if (!s || !(g = grant_find(k, r->segid, r->node, r->incarnation)))
		st.error = -ENOENT;
	else if (!*(nr = r->flags == RDWR ? &g->nr_rw : &g->nr_ro))
		st.error = -EINVAL;
	if (st.error) {
		k->st.release_grant_errors++;
		ksend(k, XPMEM_CHAN_RELEASE_GRANT_DONE, seq, &st, sizeof(st), NULL, 0);
		return;
	}
	(*nr)--;
	/* the answer first, then the revocation's INVALIDATE (as the module) */
	ksend(k, XPMEM_CHAN_RELEASE_GRANT_DONE, seq, &st, sizeof(st), NULL, 0);
	if (!g->nr_rw) {
		int none = !g->nr_ro;
		uint64_t lo = UINT64_MAX, hi = 0;
		uint32_t peer = r->node;
		uint64_t inc = r->incarnation;

		if (none)
			grant_free(k, g);
		for (struct rmap **pp = &k->rmap; *pp;) {
			struct rmap *m = *pp;

			if (m->segid != r->segid || m->peer != r->node || m->inc != r->incarnation ||
			    (!none && !m->write)) {
				pp = &m->next;
				continue;
			}
			if (m->start < lo)
				lo = m->start;
			if (m->start + m->len > hi)
				hi = m->start + m->len;
			*pp = m->next;
			free(m);
		}
		if (hi)
			send_invalidate(k, r->segid, lo, hi - lo, &peer, &inc, 1, NULL);
	}
}

static void on_peer_window(struct simk *k, uint64_t seq, const struct xpmem_chan_peer_window *w)
{
	struct xpmem_chan_status st = { 0 };
	int i;

	if (!w->peer || w->peer == k->node_id || !w->size || w->base + w->size < w->base) {
		st.error = -EINVAL;
	} else {
		for (i = 0; i < k->nwin && k->win_peer[i] != w->peer; i++)
			;
		if (i == MAXP) {
			st.error = -ENOSPC;
		} else {
			if (i == k->nwin)
				k->nwin++;
			k->win_peer[i] = w->peer;
			k->win_base[i] = w->base;
			k->win_size[i] = w->size;
			k->st.windows++;
		}
	}
	ksend(k, XPMEM_CHAN_PEER_WINDOW_DONE, seq, &st, sizeof(st), NULL, 0);
}

static void on_hello(struct simk *k, uint64_t seq)
{
	struct xpmem_chan_hello h = { .node_id = k->node_id, .incarnation = k->instance };

	ksend(k, XPMEM_CHAN_HELLO_REPLY, seq, &h, sizeof(h), NULL, 0);
	/* reconcile: replay every quarantined range to the new daemon */
	for (struct qentry *q = k->quarantine; q; q = q->next)
		send_invalidate(k, q->segid, q->start, q->len, q->peers, q->incs, q->n, q);
}

void simk_hold_hello(struct simk *k, int hold)
{
	k->hold_hello = hold;
	if (!hold && k->hello_held) {
		k->hello_held = 0;
		on_hello(k, k->hello_seq);
	}
}

int simk_hello_held(struct simk *k)
{
	return k->hello_held;
}

/* long: one case per channel message type */
static void dispatch(struct simk *k, char *buf, size_t n)
{
	struct xpmem_chan_hdr *h = (void *)buf;
	void *b = chan_body(buf);
	int t = chan_validate(buf, n);

	if (t < 0) {
		k->st.malformed++;
		return;
	}
	if (k->ignore & (1ull << t)) {
		k->st.ignored++;
		return;
	}
	switch (t) {
	case XPMEM_CHAN_ACKED: {
		const struct xpmem_chan_acked *a = b;
		int found = 0;
		for (struct pinval *p = k->pending; p; p = p->next)
			found |= p->seq == h->seq;
		if (found)
			on_answer(k, h->seq, 1, NULL, 0);
		else
			on_acked_after_kernel_timeout(k, a->generation);
		break;
	}
	case XPMEM_CHAN_TIMED_OUT: {
		const struct xpmem_chan_timed_out *o = b;
		on_answer(k, h->seq, 0, o->missing, o->nmissing);
		break;
	}
	case XPMEM_CHAN_RESOLVE:
		if (k->hold_resolves) {
			struct held_resolve *hr = calloc(1, sizeof(*hr));

			if (hr) {
				hr->seq = h->seq;
				memcpy(&hr->r, b, sizeof(hr->r));
				hr->next = k->held_res;
				k->held_res = hr;
				k->st.resolves_held++;
				break;
			}
		}
		on_resolve(k, h->seq, b);
		break;
	case XPMEM_CHAN_ZAP:
		on_zap(k, h->seq, b);
		break;
	case XPMEM_CHAN_FAULT_REPLY:
		on_fault_reply(k, h->seq, b);
		break;
	case XPMEM_CHAN_HELLO:
		if (k->hold_hello) {
			k->hello_held = 1;	/* answered by simk_hold_hello(k, 0) */
			k->hello_seq = h->seq;
		} else {
			on_hello(k, h->seq);
		}
		break;
	case XPMEM_CHAN_PEER_ACKED: {
		const struct xpmem_chan_peer_acked *pa = b;
		k->st.peer_acked++;
		for (struct qentry *q = k->quarantine; q; q = q->next)
			if (q->gen == pa->generation) {
				q_release_peer(k, q, pa->peer);
				break;
			}
		break;
	}
	case XPMEM_CHAN_PEER_RESET:
		on_peer_reset(k, b);
		break;
	case XPMEM_CHAN_QUERY:
		on_query(k, h->seq, b);
		break;
	case XPMEM_CHAN_REMOTE_GET_REPLY:
		on_get_reply(k, h->seq, b);
		break;
	case XPMEM_CHAN_CHECK_GET:
		on_check_get(k, h->seq, b);
		break;
	case XPMEM_CHAN_PEER_WINDOW:
		on_peer_window(k, h->seq, b);
		break;
	case XPMEM_CHAN_RELEASE_GRANT:
		on_release_grant(k, h->seq, b);
		break;
	default:
		k->st.malformed++;
	}
}

static void disconnect(struct simk *k)
{
	close(k->cfd);
	k->cfd = -1;
	/* the daemon is gone: nobody will answer, time out pending at once */
	kernel_timeout_all(k, 0);
	FREE_LIST(struct held_zap, k->held);
	FREE_LIST(struct held_resolve, k->held_res);
	k->hello_held = 0;	/* that daemon's HELLO: nobody to answer */
	for (struct fault *f = k->faults; f; f = f->next)
		if (!f->done) {
			f->done = 1;
			f->error = -EHOSTDOWN;
		}
}

void simk_pump(struct simk **v, int n, int timeout_ms)
{
	struct pollfd pfd[2 * 64];
	int np = 0;

	for (int i = 0; i < n && i < 64; i++) {
		pfd[np++] = (struct pollfd){ .fd = v[i]->lfd, .events = POLLIN };
		pfd[np++] = (struct pollfd){ .fd = v[i]->stalled ? -1 : v[i]->cfd, .events = POLLIN };
	}
	poll(pfd, np, timeout_ms);
	for (int i = 0; i < n && i < 64; i++) {
		struct simk *k = v[i];
		struct pollfd *lp = &pfd[2 * i], *cp = &pfd[2 * i + 1];

		if (cp->fd >= 0 && cp->fd == k->cfd && (cp->revents & (POLLIN | POLLHUP | POLLERR))) {
			for (;;) {
				char buf[XPMEM_CHAN_MAX_MSG + 1];
				ssize_t r = recv(k->cfd, buf, sizeof(buf), MSG_DONTWAIT);

				if (r < 0 && (errno == EAGAIN || errno == EINTR))
					break;
				if (r <= 0) {
					disconnect(k);
					break;
				}
				dispatch(k, buf, (size_t)r);
			}
		}
		if (lp->revents & POLLIN) {
			int fd = accept4(k->lfd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0 && k->cfd >= 0) {
				close(fd);	/* one daemon at a time */
			} else if (fd >= 0) {
				k->cfd = fd;
				k->st.connects++;
			}
		}
		kernel_timeout_all(k, 1);
	}
}
