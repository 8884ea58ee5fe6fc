// SPDX-License-Identifier: GPL-2.0
/*
 * xpmemd core: one epoll loop over the kernel channel, the libfabric CQ wait
 * fd and a signalfd; timers are epoll timeouts computed from the nearest
 * deadline (no periodic wakeups beyond the heartbeat).
 */
#include "daemon.h"
#include "chan.h"
#include "chanq.h"
#include "control.h"
#include "fabric.h"
#include "log.h"
#include "service.h"
#include "state.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#define MAX_TIMED_OUT	4096	/* timed-out generations remembered for late acks */
#define HELLO_ANSWER_NS	(50 * 1000000ull)	/* answers to a peer's HELLOs, at most one per */
#define INC_MIN_NS	(1000 * 1000000ull)	/* a peer's new incarnations: at most one per, */
#define INC_MAX_NS	(16000 * 1000000ull)	/* doubling up to this while they keep coming */
#define HELLO_VERIFY_BUDGET 20			/* HELLO signature checks per peer per second */
#define HELLO_WARN_NS	(10000 * 1000000ull)	/* warnings about a peer's HELLOs, one per */
#define FAB_PROGRESS_BUDGET 256			/* completions per loop iteration */

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* Incarnation: a persisted counter (state_dir/incarnation) */

int incarnation_next(const char *dir, uint64_t *inc, char *err, size_t errlen)
{
	char path[600], tmp[620], buf[64];
	uint64_t stored = 0, now = realtime_ns();
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/incarnation", dir);
	snprintf(tmp, sizeof(tmp), "%s/incarnation.tmp", dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "state_dir %s: %s", dir, strerror(errno));
		return -1;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		char *end;

		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n < 0) {
			snprintf(err, errlen, "%s: read: %s", path, strerror(errno));
			return -1;
		}
		buf[n] = 0;
		errno = 0;
		stored = strtoull(buf, &end, 10);
		if (errno || end == buf || (*end && strcmp(end, "\n")) || stored == UINT64_MAX) {
			snprintf(err, errlen, "%s: expected the decimal incarnation counter; "
				 "remove the file to restart the counter from the clock", path);
			return -1;
		}
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* grows across restarts, clock steps (stored + 1) and lost state (clock) */
	*inc = stored + 1 > now ? stored + 1 : now;
	if (*inc >= INCARNATION_LIMIT) {
		/* peers refuse HELLOs of 2^63 and more (docs/protocol.md 2.2) */
		snprintf(err, errlen, "%s: the next incarnation would be %llu, not below 2^63; "
			 "remove the file to restart the counter from the clock", path,
			 (unsigned long long)*inc);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)*inc);
	errno = 0;	/* a short write sets none: EIO below */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, (size_t)n) != n || fsync(fd) < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno ? errno : EIO));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* the rename itself is durable once the directory is synced (a file
	 * system that cannot sync directories says EINVAL) */
	if (fd < 0 || (fsync(fd) < 0 && errno != EINVAL)) {
		snprintf(err, errlen, "state_dir %s: fsync: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Channel */

/* a repeated warning at most once per HELLO_WARN_NS (the rest are counted) */
static int warn_ok(uint64_t *at)
{
	uint64_t now = now_ns();

	if (*at && now - *at < HELLO_WARN_NS)
		return 0;
	*at = now;
	return 1;
}

static int chan_open(const char *path)
{
	struct stat st;
	int fd;

	if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(path) >= sizeof(sa.sun_path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		strcpy(sa.sun_path, path);
		fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		return fd;
	}
	/* the character device: non-blocking, what it cannot take waits in d->chq */
	return open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
}

/* EPOLLOUT on the channel while something waits in its queue */
static void chan_poll_out(struct dstate *d)
{
	int want = d->chq.n > 0;
	struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.u32 = 1 };

	if (want == d->chan_pollout || d->epfd <= 0 || d->chan_fd < 0)
		return;
	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, d->chan_fd, &ev) < 0) {
		log_err("channel: epoll_ctl: %s", strerror(errno));
		d->fatal = 1;
		return;
	}
	d->chan_pollout = want;
}

/* A message to the kernel, written now or queued (chanq.h), never waited
 * for. 0; -ENOBUFS: dropped, the queue is full (counted, logged: the kernel
 * times out what waits for it); another error: the channel failed, the
 * daemon stops (the kernel handles the hangup, docs/protocol.md 3.3). */
int daemon_chan_write(struct dstate *d, const void *buf, size_t n)
{
	const struct xpmem_chan_hdr *h = buf;
	int r = chanq_write(&d->chq, d->chan_fd, buf, n);

	if (r == -ENOBUFS) {
		d->st.chan_tx_dropped++;
		if (warn_ok(&d->chan_warn_at))
			log_err("channel: %u messages wait for the kernel: %s dropped "
				"(chan_tx_dropped counts them all)", d->chq.n,
				chan_type_name(h->type));
		return r;
	}
	if (r < 0 && !chanq_fatal(r)) {
		/* the kernel refused this one message: it is dropped (what
		 * waits for it times out); the channel and the daemon go on */
		d->st.chan_tx_rejected++;
		if (warn_ok(&d->chan_warn_at))
			log_err("channel: the kernel refused %s: %s (chan_tx_rejected counts them all)",
				chan_type_name(h->type), strerror(-r));
		return r;
	}
	if (r < 0) {
		d->st.chan_tx_errors++;
		log_err("channel write %s: %s", chan_type_name(h->type), strerror(-r));
		d->fatal = 1;
		return r;
	}
	log_debug("chan -> %s seq %llu%s", chan_type_name(h->type), (unsigned long long)h->seq,
		  d->chq.n ? " (queued)" : "");
	chan_poll_out(d);
	return 0;
}

static int chan_send(struct dstate *d, uint16_t type, uint64_t seq, const void *body,
		     size_t blen, const void *tail, size_t tlen)
{
	static char buf[XPMEM_CHAN_MAX_MSG];
	size_t n;

	if (sizeof(struct xpmem_chan_hdr) + blen + tlen > sizeof(buf))
		return -EMSGSIZE;
	n = chan_build(buf, type, seq, body, blen, tail, tlen);
	return daemon_chan_write(d, buf, n);
}

/* the channel is writable: what waits goes */
static void chan_flush(struct dstate *d)
{
	uint64_t rej = d->chq.rejected;
	int r = chanq_flush(&d->chq, d->chan_fd);

	if (d->chq.rejected != rej) {
		d->st.chan_tx_rejected += d->chq.rejected - rej;
		if (warn_ok(&d->chan_warn_at))
			log_err("channel: the kernel refused %llu queued messages: %s",
				(unsigned long long)(d->chq.rejected - rej),
				strerror(d->chq.last_reject));
	}
	if (r < 0) {
		d->st.chan_tx_errors++;
		log_err("channel write: %s", strerror(-r));
		d->fatal = 1;
		return;
	}
	chan_poll_out(d);
}

/* ------------------------------------------------------------------ */
/* Network send */

/* put t into the timer heap at when (kind: what embeds it) */
static void arm(struct dstate *d, struct tnode *t, int kind, uint64_t when)
{
	t->kind = kind;
	if (timerq_set(&d->tq, t, when)) {
		log_err("timer heap: out of memory");
		d->fatal = 1;
	}
}

struct peer *daemon_find_peer(struct dstate *d, uint32_t id)
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
static void sq_dropped(void *arg, const struct sq_meta *m, enum sq_why why)
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
						.flags = m->flags, .incarnation = m->inc };

		d->st.grants_undone++;
		chan_send(d, XPMEM_CHAN_RELEASE_GRANT, ++d->dseq, &r, sizeof(r), NULL, 0);
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
	return sendq_push(&p->sq, d->fab, p->addr, m, buf, n, may_queue, now_ns(), sq_dropped, d);
}

/* A sealed message in p's session; none yet: not sent (-ENOTCONN; what
 * matters is re-sent: invalidations, heartbeats). m: NULL, or what a lost
 * reply needs undone. */
static int net_send_m(struct dstate *d, struct peer *p, struct sq_meta *m, uint16_t type,
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

static int net_send(struct dstate *d, struct peer *p, uint16_t type, const void *body,
		    size_t blen, const void *tail, size_t tlen)
{
	return net_send_m(d, p, NULL, type, body, blen, tail, tlen);
}

/* HELLO: our incarnation and ephemeral key, and p's ephemeral as we know it */
static int send_hello(struct dstate *d, struct peer *p)
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

/* ------------------------------------------------------------------ */
/* Invalidations originated by the local kernel */

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
	arm(d, &iv->tn, T_INVAL, when);
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
	if (chan_send(d, XPMEM_CHAN_ACKED, iv->kseq, &a, sizeof(a), NULL, 0) == 0)
		d->st.acked++;
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
	if (chan_send(d, XPMEM_CHAN_TIMED_OUT, iv->kseq, &t, sizeof(t), missing,
		      t.nmissing * sizeof(uint32_t)) == 0)
		d->st.timed_out++;
	log_warn("generation %llu segid %lld timed out, %u of %u peers did not ack",
		 (unsigned long long)iv->gen, (long long)iv->segid, t.nmissing, iv->n);
	iv->timed_out = 1;
	d->n_pending--;
	d->n_timed_out++;
}

/* bound the late-ack memory: forget the oldest timed-out entries */
static void trim_timed_out(struct dstate *d)
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

		if (iv->acked[i] || !(p = daemon_find_peer(d, iv->peers[i])))
			continue;
		if (iv->timed_out && !p->alive)
			continue;
		d->st.retransmits++;
		net_send(d, p, XW_INVALIDATE, &w, sizeof(w), NULL, 0);
	}
}

static void handle_kernel_invalidate(struct dstate *d, uint64_t kseq,
				     const struct xpmem_chan_invalidate *m)
{
	struct inval *iv = calloc(1, sizeof(*iv));
	const uint32_t *peers = (const uint32_t *)(m + 1);
	struct xw_invalidate w = { .generation = m->generation, .segid = m->segid,
				   .start = m->start, .len = m->len };

	d->st.invalidations++;
	if (!iv)
		return;
	iv->gen = m->generation;
	iv->kseq = kseq;
	iv->segid = m->segid;
	iv->start = m->start;
	iv->len = m->len;
	iv->n = m->npeers;
	iv->peers = calloc(m->npeers ? m->npeers : 1, sizeof(uint32_t));
	iv->acked = calloc(m->npeers ? m->npeers : 1, 1);
	iv->deadline = now_ns() + (uint64_t)d->cfg->ack_timeout_ms * 1000000ull;
	iv->next_retx = now_ns() + retx_interval(d, 0);
	iv->remaining = m->npeers;
	if (!iv->peers || !iv->acked) {
		inval_free(iv);
		return;
	}
	/* a peer listed twice, or this node itself, must not block completion */
	iv->n = 0;
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
		struct peer *p = daemon_find_peer(d, iv->peers[i]);

		if (!p) {
			log_warn("INVALIDATE gen %llu names unknown node %u",
				 (unsigned long long)m->generation, iv->peers[i]);
			continue;	/* can never ack: times out */
		}
		net_send(d, p, XW_INVALIDATE, &w, sizeof(w), NULL, 0);
	}
}

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
	for (struct inval *iv = d->invals; iv; iv = iv->next) {
		if (iv->gen != a->generation)
			continue;
		for (uint32_t i = 0; i < iv->n; i++) {
			if (iv->peers[i] != p->id)
				continue;
			if (iv->acked[i]) {
				d->st.duplicate_acks++;
				return;
			}
			iv->acked[i] = 1;
			iv->remaining--;
			if (iv->timed_out) {
				struct xpmem_chan_peer_acked pa = {
					.generation = iv->gen, .peer = p->id };

				d->st.late_acks++;
				log_info("late ack from node %u for generation %llu",
					 p->id, (unsigned long long)iv->gen);
				chan_send(d, XPMEM_CHAN_PEER_ACKED, ++d->dseq, &pa,
					  sizeof(pa), NULL, 0);
				if (!iv->remaining) {
					inval_unlink(d, iv);
					inval_free(iv);
				}
			} else if (!iv->remaining) {
				inval_complete(d, iv);
			}
			return;
		}
		/* generation matches but this peer was not asked */
		d->st.stale_acks++;
		return;
	}
	d->st.stale_acks++;
	log_debug("stale ack from node %u for generation %llu", p->id,
		  (unsigned long long)a->generation);
}

/* ------------------------------------------------------------------ */
/* Requests towards the local kernel on behalf of peers */


/*
 * A request to our kernel for peer p (p NULL: our own, bounded by the
 * startup deadline) has a deadline (ack_timeout_ms: then p gets an error,
 * the entry waits a grace period for a late answer, then goes) and p has at
 * most max_pending_per_peer of them: over it NULL with *err = -EBUSY.
 */
static struct dreq *dreq_new(struct dstate *d, int kind, struct peer *p, int *err)
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
	r->dseq = ++d->dseq;
	r->next = d->dreqs;
	d->dreqs = r;
	d->n_dreqs++;
	if (p) {
		r->peer = p->id;
		r->peer_inc = p->hello_inc;
		r->deadline = now_ns() + (uint64_t)d->cfg->ack_timeout_ms * 1000000ull;
		arm(d, &r->tn, T_DREQ, r->deadline);
		p->n_dreqs++;
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
	if (r->deadline && (p = daemon_find_peer(d, r->peer)) && p->n_dreqs)
		p->n_dreqs--;
}

static struct dreq *dreq_take(struct dstate *d, uint64_t dseq, int kind)
{
	for (struct dreq *r = d->dreqs; r; r = r->next)
		if (r->dseq == dseq && r->kind == kind) {
			dreq_unlink(d, r);
			return r;
		}
	return NULL;
}

/* p's request (ZAP, RESOLVE, CHECK_GET) failed here: its answer says so */
static void answer_error(struct dstate *d, struct peer *p, int kind, uint64_t id,
			 uint64_t peer_inc, int error)
{
	if (kind == DREQ_ZAP) {
		struct xw_ack a = { .generation = id, .incarnation = peer_inc, .error = error };

		net_send(d, p, XW_ACK, &a, sizeof(a), NULL, 0);
	} else if (kind == DREQ_RESOLVE) {
		struct xw_fault_reply rep = { .req_id = id, .incarnation = peer_inc,
					      .error = error };
		struct sq_meta m = { .error = error };

		net_send_m(d, p, &m, XW_FAULT_REPLY, &rep, sizeof(rep), NULL, 0);
	} else if (kind == DREQ_CHECK_GET) {
		struct xw_get_reply rep = { .req_id = id, .incarnation = peer_inc, .error = error };
		struct sq_meta m = { .error = error };

		net_send_m(d, p, &m, XW_GET_REPLY, &rep, sizeof(rep), NULL, 0);
	}
}

/* the deadline of a request made to our kernel for a peer */
static void dreq_due(struct dstate *d, struct dreq *r, uint64_t now)
{
	struct peer *p;

	if (r->expired) {
		/* its answer never came: the entry goes */
		d->st.kernel_replies_lost++;
		dreq_unlink(d, r);
		free(r);
		return;
	}
	r->expired = 1;
	r->deadline = now + 4ull * d->cfg->ack_timeout_ms * 1000000ull;
	arm(d, &r->tn, T_DREQ, r->deadline);
	d->st.requests_expired++;
	if (warn_ok(&d->expire_warn_at))
		log_warn("kernel did not answer %s %llu for node %u within %u ms: "
			 "ETIMEDOUT to it (requests_expired counts them all)",
			 r->kind == DREQ_ZAP ? "ZAP" : r->kind == DREQ_RESOLVE ? "RESOLVE" :
			 "CHECK_GET", (unsigned long long)r->dseq, r->peer,
			 d->cfg->ack_timeout_ms);
	if ((p = daemon_find_peer(d, r->peer)) && p->hello_inc == r->peer_inc)
		answer_error(d, p, r->kind, r->kind == DREQ_ZAP ? r->gen : r->req_id,
			     r->peer_inc, -ETIMEDOUT);
	d->dirty = 1;
}

static void handle_net_invalidate(struct dstate *d, struct peer *p,
				  const struct xw_invalidate *w)
{
	struct dreq *r;
	int err = 0;

	/* a retransmission while our kernel is still zapping: the pending
	 * ZAP's completion will ack it */
	for (r = d->dreqs; r; r = r->next)
		if (r->kind == DREQ_ZAP && !r->zap_all && r->peer == p->id &&
		    r->gen == w->generation && r->peer_inc == p->hello_inc)
			return;
	r = dreq_new(d, DREQ_ZAP, p, &err);
	struct xpmem_chan_zap z = { .segid = w->segid, .start = w->start, .len = w->len,
				    .owner = p->id };

	if (!r) {
		answer_error(d, p, DREQ_ZAP, w->generation, p->hello_inc, err);
		return;
	}
	r->gen = w->generation;
	chan_send(d, XPMEM_CHAN_ZAP, r->dseq, &z, sizeof(z), NULL, 0);
}

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
	} else if ((p = daemon_find_peer(d, r->peer))) {
		/* also after its deadline: the late ack releases the owner's quarantine */
		struct xw_ack a = { .generation = r->gen, .incarnation = r->peer_inc,
				    .error = s->error };

		net_send(d, p, XW_ACK, &a, sizeof(a), NULL, 0);
	}
	free(r);
}

static void handle_net_remote_fault(struct dstate *d, struct peer *p,
				    const struct xw_remote_fault *f)
{
	int err = 0;
	struct dreq *r = dreq_new(d, DREQ_RESOLVE, p, &err);
	struct xpmem_chan_resolve rs = { .segid = f->segid, .start = f->start,
					 .len = f->len, .requester = p->id,
					 .access = f->access,
					 .requester_incarnation = p->hello_inc };

	if (!r) {
		answer_error(d, p, DREQ_RESOLVE, f->req_id, p->hello_inc, err);
		return;
	}
	r->req_id = f->req_id;
	d->st.resolves++;
	log_debug("RESOLVE for node %u: segid %#llx [%#llx,+%#llx) access %u",
		  p->id, (unsigned long long)f->segid, (unsigned long long)f->start,
		  (unsigned long long)f->len, f->access);
	chan_send(d, XPMEM_CHAN_RESOLVE, r->dseq, &rs, sizeof(rs), NULL, 0);
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
	/* after its deadline the peer was answered ETIMEDOUT: nothing to send */
	if (!r->expired && (p = daemon_find_peer(d, r->peer))) {
		struct xw_fault_reply rep = { .req_id = r->req_id, .incarnation = r->peer_inc,
					      .error = fr->error, .nextents = fr->nextents };
		struct sq_meta m = { .error = fr->error };

		net_send_m(d, p, &m, XW_FAULT_REPLY, &rep, sizeof(rep), fr->extents,
			 fr->nextents * sizeof(struct xpmem_chan_extent));
	}
	free(r);
}

/* ------------------------------------------------------------------ */
/* Remote faults originated by the local kernel */

static void fault_reply_kernel(struct dstate *d, uint64_t kseq, int error,
			       const struct xpmem_chan_extent *ext, uint32_t n)
{
	struct xpmem_chan_frames fr = { .error = error, .nextents = error ? 0 : n };

	if (error) {
		d->st.fault_errors++;
		log_debug("FAULT_REPLY seq %llu: %s", (unsigned long long)kseq, strerror(-error));
	}
	chan_send(d, XPMEM_CHAN_FAULT_REPLY, kseq, &fr, sizeof(fr), ext,
		  fr.nextents * sizeof(*ext));
}

/* the grant is recorded under our incarnation: the kernel keeps it with the
 * permit and names it in the permit's REMOTE_RELEASE */
static void get_reply_kernel(struct dstate *d, uint64_t kseq, int error, uint64_t size)
{
	struct xpmem_chan_get_reply r = { .error = error, .size = error ? 0 : size,
					  .incarnation = error ? 0 : d->incarnation };

	if (error) {
		d->st.get_errors++;
		log_debug("REMOTE_GET_REPLY seq %llu: %s", (unsigned long long)kseq, strerror(-error));
	}
	chan_send(d, XPMEM_CHAN_REMOTE_GET_REPLY, kseq, &r, sizeof(r), NULL, 0);
}

/* a pending remote request failed locally (timeout, fence, dead owner) */
static void rfault_fail(struct dstate *d, struct rfault *f, int error)
{
	if (f->get)
		get_reply_kernel(d, f->kseq, error, 0);
	else
		fault_reply_kernel(d, f->kseq, error, NULL, 0);
}

/* a request of our kernel to p: a deadline (ack_timeout_ms: ETIMEDOUT to the
 * kernel) and at most max_pending_per_peer per peer (over it NULL, EBUSY) */
static struct rfault *rfault_new(struct dstate *d, struct peer *p)
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
	f->deadline = now_ns() + (uint64_t)d->cfg->ack_timeout_ms * 1000000ull;
	arm(d, &f->tn, T_RFAULT, f->deadline);
	f->next = d->rfaults;
	d->rfaults = f;
	d->n_rfaults++;
	p->n_rfaults++;
	return f;
}

/* f is unlinked: count it out and free it */
static void rfault_free(struct dstate *d, struct rfault *f)
{
	struct peer *p = daemon_find_peer(d, f->owner);

	timerq_del(&d->tq, &f->tn);
	d->n_rfaults--;
	if (p && p->n_rfaults)
		p->n_rfaults--;
	free(f);
}

static void handle_kernel_remote_fault(struct dstate *d, uint64_t kseq,
				       const struct xpmem_chan_remote_fault *m)
{
	struct peer *p = daemon_find_peer(d, m->owner);
	struct rfault *f;
	struct xw_remote_fault w;

	d->st.remote_faults++;
	log_debug("REMOTE_FAULT segid %#llx [%#llx,+%#llx) of node %u, access %u",
		  (unsigned long long)m->segid, (unsigned long long)m->start,
		  (unsigned long long)m->len, m->owner, m->access);
	if (!p) {
		fault_reply_kernel(d, kseq, -EHOSTUNREACH, NULL, 0);
		return;
	}
	if (!p->alive && p->last_heard) {	/* known dead: fail fast */
		fault_reply_kernel(d, kseq, -EHOSTDOWN, NULL, 0);
		return;
	}
	f = rfault_new(d, p);
	if (!f) {
		fault_reply_kernel(d, kseq, p->n_rfaults ? -EBUSY : -ENOMEM, NULL, 0);
		return;
	}
	f->req_id = ++d->next_req_id;
	f->kseq = kseq;
	f->owner = m->owner;
	w = (struct xw_remote_fault){ .req_id = f->req_id, .segid = m->segid,
				      .start = m->start, .len = m->len,
				      .access = m->access };
	net_send(d, p, XW_REMOTE_FAULT, &w, sizeof(w), NULL, 0);
}

static void handle_net_fault_reply(struct dstate *d, struct peer *p,
				   const struct xw_fault_reply *w)
{
	if (w->incarnation != d->incarnation) {
		d->st.stale_acks++;
		return;
	}
	for (struct rfault **pp = &d->rfaults; *pp; pp = &(*pp)->next) {
		struct rfault *f = *pp;

		if (f->req_id == w->req_id && f->owner == p->id) {
			*pp = f->next;
			fault_reply_kernel(d, f->kseq, w->error, w->extents, w->nextents);
			rfault_free(d, f);
			return;
		}
	}
	d->st.stale_acks++;
}

/* ------------------------------------------------------------------ */
/* Remote xpmem_get: the owner's kernel checks permissions (CHECK_GET) */

static void handle_kernel_remote_get(struct dstate *d, uint64_t kseq,
				     const struct xpmem_chan_get *m)
{
	struct peer *p = daemon_find_peer(d, m->node);
	struct rfault *f;
	struct xw_get w;

	d->st.remote_gets++;
	if (!p) {		/* no such partition: no such segment */
		log_debug("REMOTE_GET segid %#llx of unknown node %u", (unsigned long long)m->segid,
			  m->node);
		get_reply_kernel(d, kseq, -ENOENT, 0);
		return;
	}
	if (!p->alive && p->last_heard) {
		get_reply_kernel(d, kseq, -EHOSTDOWN, 0);
		return;
	}
	f = rfault_new(d, p);
	if (!f) {
		get_reply_kernel(d, kseq, p->n_rfaults ? -EBUSY : -ENOMEM, 0);
		return;
	}
	f->get = 1;
	f->req_id = ++d->next_req_id;
	f->kseq = kseq;
	f->owner = m->node;
	w = (struct xw_get){ .req_id = f->req_id, .segid = m->segid, .flags = m->flags,
			     .uid = m->uid, .gid = m->gid };
	net_send(d, p, XW_GET, &w, sizeof(w), NULL, 0);
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
		answer_error(d, p, DREQ_CHECK_GET, w->req_id, p->hello_inc, err);
		return;
	}
	r->req_id = w->req_id;
	r->segid = w->segid;
	r->flags = w->flags;
	d->st.get_checks++;
	chan_send(d, XPMEM_CHAN_CHECK_GET, r->dseq, &g, sizeof(g), NULL, 0);
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
							  .incarnation = r->peer_inc };

			d->st.grants_undone++;
			chan_send(d, XPMEM_CHAN_RELEASE_GRANT, ++d->dseq, &rel, sizeof(rel),
				  NULL, 0);
		}
	} else if ((p = daemon_find_peer(d, r->peer))) {
		struct xw_get_reply rep = { .req_id = r->req_id, .incarnation = r->peer_inc,
					    .error = g->error, .size = g->error ? 0 : g->size };
		struct sq_meta m = { .error = g->error, .segid = r->segid, .flags = r->flags,
				     .inc = r->peer_inc };

		net_send_m(d, p, &m, XW_GET_REPLY, &rep, sizeof(rep), NULL, 0);
	}
	free(r);
}

static void handle_net_get_reply(struct dstate *d, struct peer *p, const struct xw_get_reply *w)
{
	if (w->incarnation != d->incarnation) {
		d->st.stale_acks++;
		return;
	}
	for (struct rfault **pp = &d->rfaults; *pp; pp = &(*pp)->next) {
		struct rfault *f = *pp;

		if (f->get && f->req_id == w->req_id && f->owner == p->id) {
			*pp = f->next;
			get_reply_kernel(d, f->kseq, w->error, w->size);
			rfault_free(d, f);
			return;
		}
	}
	d->st.stale_acks++;
}

/* ------------------------------------------------------------------ */
/* Release of a remote permit: the owner's kernel drops one from the grant */

static void handle_kernel_remote_release(struct dstate *d, const struct xpmem_chan_release *m)
{
	struct peer *p = daemon_find_peer(d, m->node);
	struct xw_release w = { .segid = m->segid, .flags = m->flags,
				.incarnation = m->incarnation };

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
	net_send(d, p, XW_RELEASE, &w, sizeof(w), NULL, 0);
}

static void handle_net_release(struct dstate *d, struct peer *p, const struct xw_release *w)
{
	struct xpmem_chan_release r = { .segid = w->segid, .node = p->id, .flags = w->flags,
					.incarnation = w->incarnation };

	/* only the peer's current incarnation gives back its own permits */
	if (w->incarnation != p->hello_inc) {
		d->st.releases_stale++;
		return;
	}
	d->st.releases_rx++;
	chan_send(d, XPMEM_CHAN_RELEASE_GRANT, ++d->dseq, &r, sizeof(r), NULL, 0);
}

static void handle_kernel_release_done(struct dstate *d, uint64_t seq,
				       const struct xpmem_chan_status *s)
{
	if (!s->error)
		return;
	d->st.release_errors++;
	log_debug("RELEASE_GRANT seq %llu: %s", (unsigned long long)seq, strerror(-s->error));
}

/* ------------------------------------------------------------------ */
/* Windows: where this node sees each peer's memory */

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
		if (chan_send(d, XPMEM_CHAN_PEER_WINDOW, r->dseq, &w, sizeof(w), NULL, 0))
			return -1;
	}
	return 0;
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
	p = daemon_find_peer(d, r->peer);
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

/* ------------------------------------------------------------------ */
/* Peers */

static void session_drop(struct peer *p)
{
	sodium_memzero(&p->sess, sizeof(p->sess));
	p->has_session = 0;
	p->established = 0;
	p->tx_seq = 0;
	p->rp = (struct xw_replay){ 0 };
}

static void peer_new_incarnation(struct dstate *d, struct peer *p, uint64_t inc);

/* what could not be sent to p (no session, or known dead) goes now */
static void resend_invalidations(struct dstate *d, struct peer *p)
{
	for (struct inval *iv = d->invals; iv; iv = iv->next)
		for (uint32_t i = 0; i < iv->n; i++)
			if (iv->peers[i] == p->id && !iv->acked[i]) {
				struct xw_invalidate w = { .generation = iv->gen, .segid = iv->segid,
							   .start = iv->start, .len = iv->len };

				d->st.retransmits++;
				net_send(d, p, XW_INVALIDATE, &w, sizeof(w), NULL, 0);
			}
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
	resend_invalidations(d, p);
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

static void handle_net_hello(struct dstate *d, struct peer *p, const void *buf, size_t len,
			     const struct xw_msg *m)
{
	const struct xw_hello *h = m->body;
	uint8_t hash[32];
	int adopted = 0, dup;

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
	if (m->hdr.incarnation == p->hello_inc) {
		/* one ephemeral per incarnation; a fenced incarnation has none */
		if (sodium_is_zero(p->eph, sizeof(p->eph)) ||
		    sodium_memcmp(h->eph, p->eph, sizeof(p->eph))) {
			d->st.rx_bad_hello++;
			if (hello_warn_ok(p))
				log_warn("dropped HELLO of node %u: incarnation %llu %s", p->id,
					 (unsigned long long)m->hdr.incarnation,
					 sodium_is_zero(p->eph, sizeof(p->eph)) ? "is fenced" :
					 "with another ephemeral key");
			return;
		}
	} else {
		struct xw_session s;

		if (xw_session_derive(&s, d->cfg->node_id, d->incarnation, d->eph_pk, d->eph_sk,
				      p->id, m->hdr.incarnation, h->eph)) {
			d->st.rx_bad_hello++;
			if (hello_warn_ok(p))
				log_warn("dropped HELLO of node %u: unusable ephemeral key", p->id);
			return;
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
		sendq_purge(&p->sq, 0, SQ_DROP_SESSION, sq_dropped, d);
		sendq_kick(&p->sq);
		session_drop(p);
		p->hello_inc = m->hdr.incarnation;
		memcpy(p->eph, h->eph, sizeof(p->eph));
		p->sess = s;
		p->has_session = 1;
		p->rp = (struct xw_replay){ .incarnation = p->hello_inc };
		sodium_memzero(&s, sizeof(s));
		adopted = 1;
	}
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
	send_hello(d, p);
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
	p->reset_pending = chan_send(d, XPMEM_CHAN_PEER_RESET, ++d->dseq, &r, sizeof(r),
				     NULL, 0) != 0;
	/* the kernel releases quarantine for p's older incarnations; if p really
	 * restarted (we knew an older one), forget our late-ack records. First
	 * contact after our own start proves nothing: p may still owe the acks
	 * of the kernel's replayed invalidations, so they stay and are re-sent. */
	for (struct inval *iv = d->invals, *next; known && iv; iv = next) {
		next = iv->next;
		if (!iv->timed_out)
			continue;
		for (uint32_t i = 0; i < iv->n; i++)
			if (iv->peers[i] == p->id && !iv->acked[i]) {
				iv->acked[i] = 1;
				iv->remaining--;
			}
		if (!iv->remaining) {
			inval_unlink(d, iv);
			inval_free(iv);
		}
	}
}

/*
 * Fence: the operator asserts node is down (fenced out of band). Everything
 * it mapped is treated as gone: the kernel gets PEER_RESET with a fence
 * incarnation (now), invalidations stop waiting for it, and messages of its
 * current incarnation are refused from now on; a restarted node (a newer
 * incarnation) is accepted as usual.
 */
int daemon_fence(struct dstate *d, uint32_t node, uint64_t *fenced_inc, uint32_t *released)
{
	struct peer *p = daemon_find_peer(d, node);
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
	sendq_purge(&p->sq, 0, SQ_DROP_SESSION, sq_dropped, d);
	session_drop(p);
	p->incarnation = inc;
	p->alive = 0;
	r = (struct xpmem_chan_peer_reset){ .incarnation = inc, .peer = node };
	d->st.peer_resets++;
	p->reset_pending = chan_send(d, XPMEM_CHAN_PEER_RESET, ++d->dseq, &r, sizeof(r),
				     NULL, 0) != 0;
	for (struct inval *iv = d->invals, *next; iv; iv = next) {
		next = iv->next;
		for (uint32_t i = 0; i < iv->n; i++)
			if (iv->peers[i] == node && !iv->acked[i]) {
				iv->acked[i] = 1;
				iv->remaining--;
				(*released)++;
			}
		if (iv->remaining)
			continue;
		if (iv->timed_out) {
			inval_unlink(d, iv);
			inval_free(iv);
		} else {
			inval_complete(d, iv);
		}
	}
	for (struct rfault **pp = &d->rfaults; *pp;) {
		struct rfault *f = *pp;

		if (f->owner == node) {
			*pp = f->next;
			rfault_fail(d, f, -EHOSTDOWN);
			rfault_free(d, f);
		} else {
			pp = &f->next;
		}
	}
	*fenced_inc = inc;
	d->dirty = 1;
	return 0;
}

/*
 * Receive path (docs/protocol.md 2.4). Nothing in the header is trusted
 * until it verifies: src only picks the key to try (HELLO: the peer's public
 * key; sealed: the session with that peer), and the sender is whoever holds
 * the key that verified.
 */
static void net_rx(void *arg, const void *buf, size_t len)
{
	static unsigned char plain[XW_MAX_MSG];
	struct dstate *d = arg;
	struct xw_msg m;
	struct peer *p;
	int r = xw_parse(buf, len, &m);

	d->dirty = 1;
	if (r != XW_OK) {
		d->st.rx_malformed++;
		return;
	}
	p = daemon_find_peer(d, m.hdr.src);
	if (!p) {
		d->st.rx_unknown_sender++;
		return;
	}
	if (m.hdr.dst != d->cfg->node_id) {
		d->st.rx_misaddressed++;
		return;
	}
	if (m.hdr.type == XW_HELLO) {
		handle_net_hello(d, p, buf, len, &m);
		return;
	}
	if (!p->has_session) {
		d->st.rx_no_session++;
		log_debug("dropped %s claiming node %u: no session with it",
			  xw_type_name(m.hdr.type), p->id);
		return;
	}
	if (m.hdr.incarnation != p->hello_inc) {
		if (m.hdr.incarnation < p->hello_inc)
			d->st.rx_stale_incarnation++;
		else
			d->st.rx_no_session++;	/* its HELLO has not arrived yet */
		return;
	}
	if (m.hdr.session != p->sess.tag) {
		/* sealed in another session (an earlier one of either side), or
		 * for another pair of nodes */
		d->st.rx_stale_session++;
		log_debug("dropped %s claiming node %u: another session", xw_type_name(m.hdr.type),
			  p->id);
		return;
	}
	r = xw_open(buf, p->sess.rx, plain, &m);
	if (r == XW_EFORGED) {
		d->st.rx_forged++;
		log_debug("dropped %s claiming node %u: does not verify", xw_type_name(m.hdr.type),
			  p->id);
		return;
	}
	if (r != XW_OK) {
		d->st.rx_malformed++;
		return;
	}
	r = xw_replay_check(&p->rp, m.hdr.incarnation, m.hdr.seq);
	if (r == XW_REPLAY_DUP || r == XW_REPLAY_STALE_INCARNATION) {
		d->st.rx_replayed++;
		log_debug("dropped replayed message from node %u seq %llu", p->id,
			  (unsigned long long)m.hdr.seq);
		return;
	}
	p->rx++;
	if (!p->established)
		session_established(d, p, "a sealed message verified");
	else if (peer_heard(d, p))
		resend_invalidations(d, p);	/* dropped while it was dead */
	log_debug("net <- node %u %s", p->id, xw_type_name(m.hdr.type));
	switch (m.hdr.type) {
	case XW_HEARTBEAT:
		d->st.heartbeats_rx++;
		break;
	case XW_INVALIDATE:
		handle_net_invalidate(d, p, m.body);
		break;
	case XW_ACK:
		handle_net_ack(d, p, m.body);
		break;
	case XW_REMOTE_FAULT:
		handle_net_remote_fault(d, p, m.body);
		break;
	case XW_FAULT_REPLY:
		handle_net_fault_reply(d, p, m.body);
		break;
	case XW_GET:
		handle_net_get(d, p, m.body);
		break;
	case XW_GET_REPLY:
		handle_net_get_reply(d, p, m.body);
		break;
	case XW_RELEASE:
		handle_net_release(d, p, m.body);
		break;
	}
	d->dirty = 1;
}

/* ------------------------------------------------------------------ */
/* Kernel messages */

static void chan_dispatch(struct dstate *d, void *buf, size_t n)
{
	struct xpmem_chan_hdr *h = buf;
	void *body = chan_body(buf);
	int type = chan_validate(buf, n);

	d->dirty = 1;	/* a counter changes, whatever it is */
	if (type < 0) {
		d->st.chan_malformed++;
		log_warn("malformed channel message (%zu bytes) dropped", n);
		return;
	}
	log_debug("chan <- %s seq %llu", chan_type_name(type), (unsigned long long)h->seq);
	switch (type) {
	case XPMEM_CHAN_INVALIDATE:
		handle_kernel_invalidate(d, h->seq, body);
		break;
	case XPMEM_CHAN_REMOTE_FAULT:
		handle_kernel_remote_fault(d, h->seq, body);
		break;
	case XPMEM_CHAN_RESOLVED:
		handle_kernel_resolved(d, h->seq, body);
		break;
	case XPMEM_CHAN_ZAP_DONE:
		handle_kernel_zap_done(d, h->seq, body);
		break;
	case XPMEM_CHAN_QUERY_REPLY:
		control_query_reply(d, h->seq, body);
		break;
	case XPMEM_CHAN_REMOTE_GET:
		handle_kernel_remote_get(d, h->seq, body);
		break;
	case XPMEM_CHAN_CHECK_GET_REPLY:
		handle_kernel_check_get_reply(d, h->seq, body);
		break;
	case XPMEM_CHAN_PEER_WINDOW_DONE:
		handle_kernel_window_done(d, h->seq, body);
		break;
	case XPMEM_CHAN_REMOTE_RELEASE:
		handle_kernel_remote_release(d, body);
		break;
	case XPMEM_CHAN_RELEASE_GRANT_DONE:
		handle_kernel_release_done(d, h->seq, body);
		break;
	case XPMEM_CHAN_HELLO_REPLY: {
		const struct xpmem_chan_hello *hr = body;

		if (hr->node_id && hr->node_id != d->cfg->node_id) {
			log_err("kernel says it is node %u, config says %u",
				hr->node_id, d->cfg->node_id);
			d->fatal = 1;
		}
		d->ready_hello = 1;
		break;
	}
	default:
		d->st.chan_malformed++;
		log_warn("unexpected %s from kernel", chan_type_name(type));
	}
	d->dirty = 1;
}

/* messages read from the channel per loop iteration (the fabric's turn
 * comes between; epoll is level-triggered, so the rest is read next time) */
#define CHAN_READ_BUDGET 256

/* returns 0, or -1 when the channel is gone */
static int chan_read_all(struct dstate *d)
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
			log_err("kernel channel closed");
			return -1;
		}
		chan_dispatch(d, buf, (size_t)n);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Timers */

static void heartbeat(struct dstate *d, uint64_t now)
{
	uint64_t dead_ns = (uint64_t)d->cfg->heartbeat_ms * d->cfg->dead_after * 1000000ull;

	for (int i = 0; i < d->npeers; i++) {
		struct peer *p = &d->peers[i];

		if (p->reset_pending) {
			struct xpmem_chan_peer_reset r = { .incarnation = p->incarnation,
							   .peer = p->id };

			p->reset_pending = chan_send(d, XPMEM_CHAN_PEER_RESET, ++d->dseq, &r,
						     sizeof(r), NULL, 0) != 0;
		}
		/* until the session is established, HELLO is what we repeat */
		if (p->established)
			net_send(d, p, XW_HEARTBEAT, NULL, 0, NULL, 0);
		else
			send_hello(d, p);
		if (p->alive && now - p->last_heard > dead_ns) {
			p->alive = 0;
			d->st.peer_deaths++;
			d->dirty = 1;
			log_warn("node %u missed %u heartbeats: marked dead", p->id,
				 d->cfg->dead_after);
			/* nothing waits for a dead peer but what its rejoin needs */
			sendq_purge(&p->sq, 1, SQ_DROP_DEAD, sq_dropped, d);
		}
	}
}

/* an invalidation's timer: its ack deadline, or a re-send */
static void inval_due(struct dstate *d, struct inval *iv, uint64_t now)
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

static void rfault_due(struct dstate *d, struct rfault *f)
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

/* everything due: the heartbeat, then the heap's deadlines in order */
static void run_timers(struct dstate *d, uint64_t now)
{
	struct tnode *t;

	if (now >= d->next_heartbeat) {
		heartbeat(d, now);
		d->next_heartbeat = now + (uint64_t)d->cfg->heartbeat_ms * 1000000ull;
	}
	while (!d->fatal && (t = timerq_top(&d->tq)) && t->when <= now) {
		switch (t->kind) {
		case T_INVAL:
			inval_due(d, TNODE_OWNER(t, struct inval), now);
			break;
		case T_DREQ:
			dreq_due(d, TNODE_OWNER(t, struct dreq), now);
			break;
		case T_RFAULT:
			rfault_due(d, TNODE_OWNER(t, struct rfault));
			break;
		default:
			timerq_del(&d->tq, t);
		}
	}
	trim_timed_out(d);
}

static int next_timeout_ms(struct dstate *d, uint64_t now)
{
	uint64_t next = d->next_heartbeat;
	struct tnode *t = timerq_top(&d->tq);

	if (t && t->when < next)
		next = t->when;
	if (d->dirty && d->cfg->stats_file[0] && d->next_stats_write < next)
		next = d->next_stats_write;
	for (int i = 0; i < d->npeers; i++) {
		uint64_t t = sendq_next(&d->peers[i].sq);	/* retries of refused sends */

		if (t < next)
			next = t;
	}
	if (next <= now)
		return 0;
	return (int)((next - now + 999999) / 1000000);
}

/* ------------------------------------------------------------------ */
/* Stats snapshot (also the source for the control API) */

/* VmRSS of this process, kB (0: unreadable) */
static long long self_rss_kb(void)
{
	char line[256];
	long long v = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			v = strtoll(line + 6, NULL, 10);
	fclose(f);
	return v;
}

json_t *daemon_snapshot(struct dstate *d)
{
	json_t *o = json_object(), *peers = json_array(), *st = json_object();
	struct fab_stats fs = { 0 };
	uint64_t now = now_ns();

	if (d->fab)
		fab_get_stats(d->fab, &fs);
#define S(f) json_object_set_new(st, #f, json_integer((json_int_t)d->st.f))
	S(rx_stale_session); S(rx_no_session); S(rx_bad_hello); S(hellos_rx); S(sessions);
	S(tx_no_session); S(hellos_unanswered); S(hellos_duplicate); S(rx_hello_rate);
	S(rx_hello_budget); S(rx_bad_incarnation);
	S(invalidations); S(acked); S(timed_out); S(late_acks); S(peer_resets);
	S(zaps); S(remote_faults); S(fault_errors); S(resolves); S(rx_malformed);
	S(rx_forged); S(rx_replayed); S(rx_stale_incarnation); S(rx_unknown_sender);
	S(rx_misaddressed); S(stale_acks); S(duplicate_acks); S(heartbeats_rx);
	S(peer_deaths); S(chan_malformed); S(retransmits); S(remote_gets); S(get_errors);
	S(get_checks); S(windows); S(releases_sent); S(releases_rx); S(release_errors);
	S(releases_stale); S(tx_dropped); S(tx_replies_dropped); S(grants_undone);
	S(ack_errors); S(chan_tx_dropped); S(chan_tx_errors); S(chan_tx_rejected); S(requests_refused); S(requests_expired); S(kernel_replies_lost);
#undef S
	json_object_set_new(st, "pending_kernel_requests", json_integer(d->n_dreqs));
	json_object_set_new(st, "chan_queue", json_integer(d->chq.n));
	json_object_set_new(st, "chan_queue_max", json_integer(d->chq.max_depth));
	json_object_set_new(st, "chan_queued", json_integer((json_int_t)d->chq.queued));
	json_object_set_new(st, "fabric_rx_post_errors",
			    json_integer((json_int_t)fs.rx_post_errors));
	json_object_set_new(st, "fabric_cq_errors", json_integer((json_int_t)fs.cq_errors));
	json_object_set_new(st, "pending_remote_requests", json_integer(d->n_rfaults));
	json_object_set_new(st, "fabric_tx", json_integer((json_int_t)fs.tx_msgs));
	json_object_set_new(st, "fabric_rx", json_integer((json_int_t)fs.rx_msgs));
	json_object_set_new(st, "fabric_tx_errors", json_integer((json_int_t)fs.tx_errors));
	json_object_set_new(st, "fabric_tx_dropped", json_integer((json_int_t)d->st.tx_dropped));
	json_object_set_new(st, "pending_invalidations", json_integer(d->n_pending));
	json_object_set_new(st, "timed_out_outstanding", json_integer(d->n_timed_out));
	for (int i = 0; i < d->npeers; i++) {
		struct peer *p = &d->peers[i];
		json_t *j = json_object();

		json_object_set_new(j, "id", json_integer(p->id));
		json_object_set_new(j, "address", json_string(p->address));
		json_object_set_new(j, "window", json_string(p->window));
		json_object_set_new(j, "window_base", json_integer((json_int_t)p->win_base));
		json_object_set_new(j, "window_size", json_integer((json_int_t)p->win_size));
		json_object_set_new(j, "alive", json_boolean(p->alive));
		json_object_set_new(j, "established", json_boolean(p->established));
		json_object_set_new(j, "hello_incarnation", json_integer((json_int_t)p->hello_inc));
		json_object_set_new(j, "incarnation", json_integer((json_int_t)p->incarnation));
		json_object_set_new(j, "last_heard_ms",
				    json_integer(p->last_heard ?
						 (json_int_t)((now - p->last_heard) / 1000000) : -1));
		json_object_set_new(j, "rx", json_integer((json_int_t)p->rx));
		json_object_set_new(j, "tx", json_integer((json_int_t)p->tx));
		json_object_set_new(j, "sendq", json_integer(p->sq.n));
		json_object_set_new(j, "pending_kernel_requests", json_integer(p->n_dreqs));
		json_object_set_new(j, "pending_remote_requests", json_integer(p->n_rfaults));
		json_object_set_new(j, "sendq_max", json_integer(p->sq.max_depth));
		json_object_set_new(j, "sendq_retries", json_integer((json_int_t)p->sq.tries));
		json_object_set_new(j, "sendq_dropped", json_integer((json_int_t)p->sq.dropped));
		json_object_set_new(j, "backoff_ms",
				    json_integer((json_int_t)(p->sq.backoff / 1000000)));
		json_array_append_new(peers, j);
	}
	json_object_set_new(o, "node_id", json_integer(d->cfg->node_id));
	json_object_set_new(o, "incarnation", json_integer((json_int_t)d->incarnation));
	json_object_set_new(o, "provider", json_string(d->fab ? fab_provider_name(d->fab) : ""));
	json_object_set_new(o, "listen", json_string(d->cfg->listen));
	json_object_set_new(o, "ready", json_boolean(d->ready));
	json_object_set_new(o, "rss_kb", json_integer(self_rss_kb()));
	json_object_set_new(o, "uptime_ms", json_integer((json_int_t)((now - d->start) / 1000000)));
	json_object_set_new(o, "peers", peers);
	json_object_set_new(o, "stats", st);
	return o;
}

static void write_stats(struct dstate *d)
{
	char tmp[300];
	json_t *o;

	if (!d->cfg->stats_file[0])
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->cfg->stats_file);
	o = daemon_snapshot(d);
	if (json_dump_file(o, tmp, JSON_INDENT(1)) == 0)
		rename(tmp, d->cfg->stats_file);
	json_decref(o);
	d->dirty = 0;
	d->next_stats_write = now_ns() + 50 * 1000000ull;
}

/* ------------------------------------------------------------------ */

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

/* their fabric addresses (once the fabric is open) */
static int setup_peers(struct dstate *d)
{
	for (int i = 0; i < d->npeers; i++) {
		struct peer *p = &d->peers[i];
		char host[128], port[16];

		if (split_hostport(p->address, host, sizeof(host), port, sizeof(port)) ||
		    fab_add_peer(d->fab, host, port, &p->addr)) {
			log_err("[peer %u]: cannot resolve address %s", p->id, p->address);
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* A peer added at runtime (SIGHUP, reload.c) */

int daemon_add_peer(struct dstate *d, const struct peer_conf *pc)
{
	struct peer *np, *p;
	char host[128], port[16], err[600];
	struct xconfig *cfg = d->cfg;

	if (d->npeers >= XPMEMD_MAX_PEERS || cfg->npeers >= XPMEMD_MAX_PEERS) {
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
	if (split_hostport(p->address, host, sizeof(host), port, sizeof(port)) ||
	    fab_add_peer(d->fab, host, port, &p->addr)) {
		log_warn("reload: [peer %u] not added: cannot resolve address %s", pc->id,
			 p->address);
		return -1;
	}
	d->npeers++;
	cfg->peers[cfg->npeers++] = *pc;
	if (p->win_size) {
		struct xpmem_chan_peer_window w = { .peer = p->id, .base = p->win_base,
						    .size = p->win_size };
		int e = 0;
		struct dreq *r = dreq_new(d, DREQ_WINDOW, NULL, &e);

		if (r) {
			r->peer = p->id;
			chan_send(d, XPMEM_CHAN_PEER_WINDOW, r->dseq, &w, sizeof(w), NULL, 0);
		}
	}
	log_info("reload: [peer %u] added (%s)", p->id, p->address);
	send_hello(d, p);
	return 0;
}

static volatile sig_atomic_t got_signal;

int daemon_run(struct xconfig *cfg)
{
	struct dstate D = { 0 }, *d = &D;
	char host[128], port[16], err[300];
	struct epoll_event ev;
	sigset_t mask;
	int sfd = -1, rc = 1, wdfd = -1;
	uint64_t startup_deadline;

	d->cfg = cfg;
	d->chan_fd = -1;
	d->start = now_ns();
	if (sodium_init() < 0) {
		log_err("libsodium init failed");
		return 1;
	}
	if (keys_load(cfg->node_key, d->sign_pk, d->sign_sk, err, sizeof(err))) {
		log_err("%s", err);
		return 1;
	}
	if (crypto_kx_keypair(d->eph_pk, d->eph_sk) != 0) {
		log_err("crypto_kx_keypair failed");
		return 1;
	}
	/* before anybody (the kernel included) hears it */
	if (incarnation_next(cfg->state_dir, &d->incarnation, err, sizeof(err))) {
		log_err("cannot persist the incarnation: %s", err);
		return 1;
	}
	if (split_hostport(cfg->listen, host, sizeof(host), port, sizeof(port))) {
		log_err("listen: expected HOST:PORT, got '%s'", cfg->listen);
		return 1;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		log_err("signals: %s", strerror(errno));
		return 1;
	}
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return 1;
	}

	if (init_peers(d) || resolve_windows(d))
		goto out;

	/* 1. kernel channel: HELLO, then drop every remote mapping of a previous
	 * incarnation before anybody hears the new one; tell the kernel where
	 * each peer's memory is (PEER_WINDOW). */
	d->chan_fd = chan_open(cfg->channel);
	if (d->chan_fd < 0) {
		log_err("kernel channel %s: %s%s", cfg->channel, strerror(errno),
			errno == ENOENT ? " (is xpmem.ko loaded?)" :
			errno == EBUSY ? " (another xpmemd has it open)" : "");
		goto out;
	}
	{
		struct stat st;

		d->chan_sock = fstat(d->chan_fd, &st) == 0 && S_ISSOCK(st.st_mode);
		log_info("kernel channel %s (%s)", cfg->channel,
			 d->chan_sock ? "simulated kernel" : "device");
	}
	{
		struct xpmem_chan_hello h = { .node_id = cfg->node_id,
					      .incarnation = d->incarnation };
		struct xpmem_chan_zap z = { .flags = XPMEM_CHAN_ZAP_ALL };
		struct dreq *r;
		int err = 0;

		chan_send(d, XPMEM_CHAN_HELLO, ++d->dseq, &h, sizeof(h), NULL, 0);
		r = dreq_new(d, DREQ_ZAP, NULL, &err);
		if (!r)
			goto out;
		r->zap_all = 1;
		chan_send(d, XPMEM_CHAN_ZAP, r->dseq, &z, sizeof(z), NULL, 0);
		if (send_windows(d))
			goto out;
	}
	/* Wait for both replies; kernel requests arriving meanwhile (e.g. the
	 * replay of quarantined invalidations) are held until the fabric is up. */
	startup_deadline = now_ns() + 10000000000ull;
	{
		struct held { struct held *next; size_t n; char buf[]; } *held = NULL, **tail = &held;

		while (!(d->ready_hello && d->ready_zapped && !d->windows_pending)) {
			static char buf[XPMEM_CHAN_MAX_MSG + 1];
			int t;
			ssize_t n;
			struct pollfd pfd = { .fd = d->chan_fd,
					      .events = POLLIN | (d->chq.n ? POLLOUT : 0) };

			if (now_ns() > startup_deadline) {
				log_err("kernel did not answer HELLO/ZAP_ALL/PEER_WINDOW");
				goto out;
			}
			t = poll(&pfd, 1, 100);
			if (t < 0 && errno != EINTR) {
				log_err("poll: %s", strerror(errno));
				goto out;
			}
			if (t <= 0)
				continue;
			if (pfd.revents & POLLOUT) {
				chan_flush(d);
				if (d->fatal)
					goto out;
			}
			if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(d->chan_fd, buf, sizeof(buf));
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n <= 0) {
				log_err("kernel channel closed during startup");
				goto out;
			}
			t = chan_validate(buf, (size_t)n);
			if (t == XPMEM_CHAN_HELLO_REPLY || t == XPMEM_CHAN_ZAP_DONE ||
			    t == XPMEM_CHAN_PEER_WINDOW_DONE) {
				chan_dispatch(d, buf, (size_t)n);
			} else {
				struct held *h = malloc(sizeof(*h) + (size_t)n);
				if (!h)
					goto out;
				h->next = NULL;
				h->n = (size_t)n;
				memcpy(h->buf, buf, (size_t)n);
				*tail = h;
				tail = &h->next;
			}
			if (d->fatal)
				goto out;
		}

		/* 2. fabric */
		if (fab_memory_defaults(cfg->fabric_rx_size, cfg->fabric_buffer_size))
			goto out;
		d->fab = fab_open(cfg->provider, host, port, XW_MAX_MSG);
		if (!d->fab)
			goto out;
		if (fab_set_source_filter(d->fab, cfg->peer_source_filter) ||
		    setup_peers(d))
			goto out;
		d->ready = 1;
		for (int i = 0; i < d->npeers; i++)
			send_hello(d, &d->peers[i]);
		d->next_heartbeat = now_ns() + (uint64_t)cfg->heartbeat_ms * 1000000ull;
		while (held) {
			struct held *h = held;
			held = h->next;
			chan_dispatch(d, h->buf, h->n);
			free(h);
		}
	}

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0) {
		log_err("epoll_create1: %s", strerror(errno));
		goto out;
	}
	ev = (struct epoll_event){ .events = EPOLLIN | (d->chq.n ? EPOLLOUT : 0), .data.u32 = 1 };
	d->chan_pollout = d->chq.n > 0;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->chan_fd, &ev) < 0)
		goto epoll_fail;
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 2 };
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fab_wait_fd(d->fab), &ev) < 0)
		goto epoll_fail;
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 3 };
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, sfd, &ev) < 0)
		goto epoll_fail;
	{
		int cfd = control_start(d);

		if (cfd < 0) {
			log_err("control plane did not start");
			goto out;
		}
		ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 4 };
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, cfd, &ev) < 0)
			goto epoll_fail;
	}
	/* systemd's watchdog: pinged from this loop, so a hung loop is restarted */
	wdfd = service_watchdog_open();
	if (wdfd >= 0) {
		ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 5 };
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, wdfd, &ev) < 0) {
			log_err("watchdog timer: epoll_ctl: %s", strerror(errno));
			goto out;
		}
	}

	log_info("node %u ready: listening on %s, %d peers, incarnation %llu",
		 cfg->node_id, cfg->listen, d->npeers, (unsigned long long)d->incarnation);
	sd_notifyf(0, "READY=1\nSTATUS=node %u, %d peers", cfg->node_id, d->npeers);
	d->dirty = 1;
	write_stats(d);

	while (!got_signal && !d->fatal) {
		struct epoll_event evs[8];
		uint64_t now = now_ns();
		int timeout, n, more;

		more = fab_progress(d->fab, net_rx, d, FAB_PROGRESS_BUDGET);
		for (int i = 0; i < d->npeers; i++)
			sendq_flush(&d->peers[i].sq, d->fab, d->peers[i].addr, now_ns(),
				    sq_dropped, d);
		run_timers(d, now_ns());
		if (d->dirty && now_ns() >= d->next_stats_write)
			write_stats(d);
		timeout = next_timeout_ms(d, now);
		if (more || (timeout > 0 && !fab_trywait(d->fab)))
			timeout = 0;
		n = epoll_wait(d->epfd, evs, 8, timeout);
		if (n < 0 && errno != EINTR) {
			log_err("epoll_wait: %s", strerror(errno));
			d->fatal = 1;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == 1) {
				if (evs[i].events & EPOLLOUT)
					chan_flush(d);
				if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
				    chan_read_all(d) < 0) {
					d->fatal = 1;
					break;
				}
			} else if (evs[i].data.u32 == 3) {
				struct signalfd_siginfo si;
				ssize_t r;

				while ((r = read(sfd, &si, sizeof(si))) == sizeof(si)) {
					if (si.ssi_signo == SIGUSR1) {
						d->dirty = 1;
						write_stats(d);
					} else if (si.ssi_signo == SIGHUP) {
						daemon_reload(d);
					} else {
						log_info("signal %u: shutting down", si.ssi_signo);
						got_signal = 1;
					}
				}
				if (r < 0 && errno != EAGAIN && errno != EINTR) {
					log_err("signalfd read: %s", strerror(errno));
					d->fatal = 1;
				}
			} else if (evs[i].data.u32 == 4) {
				control_event(d);
			} else if (evs[i].data.u32 == 5) {
				service_watchdog_event(wdfd);
			}
		}
	}
	rc = d->fatal ? 1 : 0;
	sd_notify(0, "STOPPING=1");
	goto out;
epoll_fail:
	log_err("epoll_ctl: %s", strerror(errno));
out:
	control_stop(d);
	if (d->ready || d->dirty)
		write_stats(d);
	fab_close(d->fab);
	if (d->chan_fd >= 0 && d->chq.n && chanq_flush(&d->chq, d->chan_fd) == 0 && d->chq.n)
		log_warn("%u channel messages not written at exit", d->chq.n);
	chanq_clear(&d->chq);
	timerq_free(&d->tq);
	if (d->chan_fd >= 0)
		close(d->chan_fd);
	if (d->epfd > 0)
		close(d->epfd);
	while (d->invals) {
		struct inval *iv = d->invals;
		d->invals = iv->next;
		inval_free(iv);
	}
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
	for (int i = 0; i < d->npeers; i++) {
		sendq_purge(&d->peers[i].sq, 0, SQ_DROP_SESSION, NULL, NULL);
		session_drop(&d->peers[i]);
	}
	free(d->peers);
	if (sfd >= 0)
		close(sfd);
	if (wdfd >= 0)
		close(wdfd);
	sodium_memzero(d->sign_sk, sizeof(d->sign_sk));
	sodium_memzero(d->eph_sk, sizeof(d->eph_sk));
	log_info("stopped (exit %d)", rc);
	return rc;
}
