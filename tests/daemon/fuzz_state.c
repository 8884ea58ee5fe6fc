// SPDX-License-Identifier: GPL-2.0
/* The stateful fuzzers' harness (fuzz_state.h). */
#include "fuzz_state.h"
#include "chan.h"
#include "clock.h"
#include "config.h"
#include "fabric.h"
#include "inval.h"
#include "kernel.h"
#include "kout.h"
#include "log.h"
#include "member.h"
#include "peer.h"
#include "pout.h"
#include "requests.h"
#include "state.h"
#include "stats.h"
#include "wire.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SELF	1
#define NFP	4	/* fake peers: ids 2..4 configured, 5 added at runtime */
#define NCONF	3

/* ------------------------------------------------------------------ */
/* Stubs: the clock, the fabric */

static uint64_t fake_now, fake_real;

uint64_t now_ns(void)
{
	return fake_now;
}

uint64_t realtime_ns(void)
{
	return fake_real;
}

static int provider_busy;
static uint64_t fab_sent;
static int fab_dummy;

int fab_try_send(struct fab *f, fi_addr_t dest, const void *buf, size_t len)
{
	(void)f; (void)dest; (void)buf; (void)len;
	if (provider_busy)
		return -EAGAIN;
	fab_sent++;
	return 0;
}

int fab_add_peer(struct fab *f, const char *host, const char *port, int numeric,
		 fi_addr_t *out)
{
	static fi_addr_t a;

	(void)f; (void)host; (void)port; (void)numeric;
	*out = ++a;
	return 0;
}

void fab_get_stats(struct fab *f, struct fab_stats *s)
{
	(void)f;
	memset(s, 0, sizeof(*s));
	s->tx_msgs = fab_sent;
}

const char *fab_provider_name(struct fab *f)
{
	(void)f;
	return "fuzz";
}

/* ------------------------------------------------------------------ */
/* Fake peers: real keys, so HELLOs verify and sealed messages open */

struct fpeer {
	uint32_t id;
	uint8_t sign_pk[32], sign_sk[64], eph_pk[32], eph_sk[32];
	uint64_t inc, seq, hello_seq;
	struct xw_session s;
};

static struct fpeer fp[NFP];
static uint8_t self_sign_pk[32], self_sign_sk[64], self_eph_pk[32], self_eph_sk[32];
static struct xconfig cfg;
static struct dstate D;
static int kfd = -1;		/* the kernel's end of the channel */
static uint64_t kseqs[8];	/* seqs of the daemon's last requests to the kernel */
static unsigned nkseq;
/* the kernel's requests to the daemon (unique seqs, as the kernel's): each
 * must be answered at most once, and with its own reply type */
static struct kreq {
	uint64_t seq;
	uint16_t type;
	int answered;
} kreqs[512];
static unsigned nkreq;
static uint64_t kreq_seq;

static void keys_init(void)
{
	static int done;
	uint8_t seed[32];

	if (done)
		return;
	if (sodium_init() < 0)
		abort();
	memset(seed, 1, sizeof(seed));
	crypto_sign_seed_keypair(self_sign_pk, self_sign_sk, seed);
	crypto_kx_seed_keypair(self_eph_pk, self_eph_sk, seed);
	for (int i = 0; i < NFP; i++) {
		memset(seed, i + 2, sizeof(seed));
		fp[i].id = (uint32_t)i + 2;
		crypto_sign_seed_keypair(fp[i].sign_pk, fp[i].sign_sk, seed);
		crypto_kx_seed_keypair(fp[i].eph_pk, fp[i].eph_sk, seed);
	}
	xlog_level = 0;	/* quiet: the fuzzer's output is its own */
	done = 1;
}

static void fp_derive(struct fpeer *f)
{
	if (xw_session_derive(&f->s, f->id, f->inc, f->eph_pk, f->eph_sk, SELF, D.incarnation,
			      self_eph_pk))
		abort();
	f->seq = 0;
}

/* a HELLO from f, as the daemon receives it (corrupt: one byte flipped) */
static void fp_hello(struct fpeer *f, int echo, int corrupt)
{
	char buf[XW_MAX_MSG];
	struct xw_hello h;
	size_t n;

	memcpy(h.eph, f->eph_pk, sizeof(h.eph));
	if (echo)
		memcpy(h.echo, self_eph_pk, sizeof(h.echo));
	else
		memset(h.echo, 0, sizeof(h.echo));
	n = xw_hello_build(buf, f->sign_sk, f->id, SELF, f->inc, ++f->hello_seq, &h);
	if (!n)
		abort();
	if (corrupt)
		buf[n - 1 - corrupt % 64] ^= 1;
	peer_rx(&D, buf, n);
}

static void fp_seal(struct fpeer *f, uint16_t type, uint64_t seq, const void *body, size_t blen,
		    const void *tail, size_t tlen)
{
	char buf[XW_MAX_MSG];
	size_t n = xw_seal(buf, f->s.tx, f->s.tag, type, f->id, SELF, f->inc, seq, body, blen,
			   tail, tlen);

	if (n)
		peer_rx(&D, buf, n);
}

/* ------------------------------------------------------------------ */
/* Input */

uint8_t fz_u8(struct fz *in)
{
	uint8_t v = 0;

	if (in->n) {
		v = *in->p++;
		in->n--;
	}
	return v;
}

uint32_t fz_u32(struct fz *in)
{
	uint32_t v;

	fz_bytes(in, &v, sizeof(v));
	return v;
}

void fz_bytes(struct fz *in, void *out, size_t n)
{
	size_t k = n < in->n ? n : in->n;

	memset(out, 0, n);
	memcpy(out, in->p, k);
	in->p += k;
	in->n -= k;
}

static void op_drain(struct dstate *d);

/* ------------------------------------------------------------------ */
/* Setup and teardown */

struct dstate *fz_setup(void)
{
	struct dstate *d = &D;
	int sv[2], small = 4096;

	keys_init();
	fake_now = 1000000000000ull;
	fake_real = 1700000000000000000ull;
	provider_busy = 0;
	nkseq = 0;
	nkreq = 0;
	kreq_seq = 1ull << 40;
	memset(d, 0, sizeof(*d));
	config_defaults(&cfg);
	cfg.node_id = SELF;
	cfg.ack_timeout_ms = 200;
	cfg.heartbeat_ms = 100;
	cfg.dead_after = 3;
	cfg.max_pending_per_peer = 4;	/* small: the caps are reached */
	cfg.npeers = NCONF;
	for (int i = 0; i < NCONF; i++) {
		struct peer_conf *pc = &cfg.peers[i];

		pc->id = fp[i].id;
		snprintf(pc->address, sizeof(pc->address), "127.0.0.1:%d", 9000 + i);
		snprintf(pc->window, sizeof(pc->window), "phys:%#llx+0x40000000",
			 (unsigned long long)pc->id << 40);
		memcpy(pc->public_key, fp[i].sign_pk, 32);
		pc->has_public_key = 1;
	}
	d->cfg = &cfg;
	memcpy(d->sign_pk, self_sign_pk, 32);
	memcpy(d->sign_sk, self_sign_sk, 64);
	memcpy(d->eph_pk, self_eph_pk, 32);
	memcpy(d->eph_sk, self_eph_sk, 32);
	d->incarnation = 5000;
	d->start = fake_now;
	d->epfd = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		abort();
	/* a small buffer: the channel fills, and chanq holds the rest */
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)))
		abort();
	d->chan_fd = sv[0];
	kfd = sv[1];
	if (member_init(d))
		abort();
	d->fab = (struct fab *)&fab_dummy;
	if (member_setup(d))
		abort();
	d->ready = d->ready_hello = d->ready_zapped = 1;
	d->next_heartbeat = fake_now + 100000000ull;
	for (int i = 0; i < NCONF; i++) {
		fp[i].inc = 100 + (uint64_t)i;
		fp[i].hello_seq = 0;
		fp_derive(&fp[i]);
		fp_hello(&fp[i], 1, 0);
	}
	return d;
}

void fz_teardown(struct dstate *d)
{
	if (!d->fatal)
		op_drain(d);	/* the last answers are checked too */
	inval_free_all(d);
	requests_free_all(d);
	timerq_free(&d->tq);
	chanq_clear(&d->chq);
	member_free_all(d);
	close(d->chan_fd);
	close(kfd);
	kfd = -1;
}

/* ------------------------------------------------------------------ */
/* Operations */

/* a reply of the daemon to one of the kernel's requests: to a request
 * made, of its type, the first answer */
static void check_answer(uint16_t type, uint64_t seq)
{
	uint16_t want = type == XPMEM_CHAN_FAULT_REPLY ? XPMEM_CHAN_REMOTE_FAULT :
			type == XPMEM_CHAN_REMOTE_GET_REPLY ? XPMEM_CHAN_REMOTE_GET :
			type == XPMEM_CHAN_ACKED || type == XPMEM_CHAN_TIMED_OUT ?
			XPMEM_CHAN_INVALIDATE : 0;

	if (!want)
		return;
	for (unsigned i = 0; i < nkreq; i++)
		if (kreqs[i].seq == seq) {
			if (kreqs[i].type != want || kreqs[i].answered) {
				/* the wrong reply type, or a second answer */
				fprintf(stderr, "fuzz_state: %s seq %llu answers a %s%s\n",
					chan_type_name(type), (unsigned long long)seq,
					chan_type_name(kreqs[i].type),
					kreqs[i].answered ? " answered before" : "");
				abort();
			}
			kreqs[i].answered = 1;
			return;
		}
	fprintf(stderr, "fuzz_state: %s seq %llu answers no request\n", chan_type_name(type),
		(unsigned long long)seq);
	abort();
}

/* the channel's kernel end read (seqs of the daemon's requests kept,
 * answers checked), then what waits in chanq flushed */
static void op_drain(struct dstate *d)
{
	static char buf[XPMEM_CHAN_MAX_MSG + 1];
	ssize_t n;

	while ((n = read(kfd, buf, sizeof(buf))) > 0) {
		int t = chan_validate(buf, (size_t)n);

		if (t < 0)
			abort();	/* the daemon wrote a malformed message */
		check_answer((uint16_t)t, ((struct xpmem_chan_hdr *)buf)->seq);
		kseqs[nkseq++ % 8] = ((struct xpmem_chan_hdr *)buf)->seq;
	}
	kout_flush(d);
}

static uint64_t pick_seq(struct dstate *d, struct fz *in)
{
	uint8_t b = fz_u8(in);

	if (b & 0x80)
		return kseqs[b % 8];
	return d->dseq - (b % 8);
}

static const uint16_t ktypes[] = {
	XPMEM_CHAN_INVALIDATE, XPMEM_CHAN_REMOTE_FAULT, XPMEM_CHAN_RESOLVED,
	XPMEM_CHAN_ZAP_DONE, XPMEM_CHAN_HELLO_REPLY, XPMEM_CHAN_QUERY_REPLY,
	XPMEM_CHAN_REMOTE_GET, XPMEM_CHAN_CHECK_GET_REPLY, XPMEM_CHAN_PEER_WINDOW_DONE,
	XPMEM_CHAN_REMOTE_RELEASE, XPMEM_CHAN_RELEASE_GRANT_DONE,
};

/* a kernel message's body from the input, its selector fields made small
 * (so generations, nodes and errors meet the daemon's); returns its size */
static size_t kbody(struct dstate *d, struct fz *in, uint16_t type, char *b)
{
	union {
		struct xpmem_chan_invalidate inv;
		struct xpmem_chan_remote_fault rf;
		struct xpmem_chan_frames fr;
		struct xpmem_chan_status st;
		struct xpmem_chan_hello h;
		struct xpmem_chan_query_reply qr;
		struct xpmem_chan_get g;
		struct xpmem_chan_get_reply gr;
		struct xpmem_chan_release rel;
	} *u = (void *)b;
	uint8_t sel = fz_u8(in);
	size_t n = 0, tail = 0;

	switch (type) {
	case XPMEM_CHAN_INVALIDATE:
		fz_bytes(in, &u->inv, n = sizeof(u->inv));
		u->inv.generation %= 8;
		u->inv.npeers = sel % 5;
		for (uint32_t i = 0; i < u->inv.npeers; i++)
			((uint32_t *)(b + n))[i] = fz_u8(in) % 7;
		tail = u->inv.npeers * 4;
		break;
	case XPMEM_CHAN_REMOTE_FAULT:
		fz_bytes(in, &u->rf, n = sizeof(u->rf));
		u->rf.owner = sel % 7;
		break;
	case XPMEM_CHAN_RESOLVED:
		fz_bytes(in, &u->fr, n = sizeof(u->fr));
		u->fr.nextents = sel % 3;
		u->fr.error = -(int32_t)(u->fr.error & 3);
		fz_bytes(in, b + n, tail = u->fr.nextents * sizeof(struct xpmem_chan_extent));
		break;
	case XPMEM_CHAN_HELLO_REPLY:
		fz_bytes(in, &u->h, n = sizeof(u->h));
		u->h.node_id = sel % 3 == 2 ? SELF + 1 : sel % 3;
		break;
	case XPMEM_CHAN_QUERY_REPLY:
		fz_bytes(in, &u->qr, n = sizeof(u->qr));
		u->qr.nrecords = sel % 3;
		fz_bytes(in, b + n, tail = u->qr.nrecords * sizeof(struct xpmem_chan_record));
		break;
	case XPMEM_CHAN_REMOTE_GET:
		fz_bytes(in, &u->g, n = sizeof(u->g));
		u->g.node = sel % 7;
		break;
	case XPMEM_CHAN_CHECK_GET_REPLY:
		fz_bytes(in, &u->gr, n = sizeof(u->gr));
		u->gr.error = -(int32_t)(sel & 3);
		break;
	case XPMEM_CHAN_REMOTE_RELEASE:
		fz_bytes(in, &u->rel, n = sizeof(u->rel));
		u->rel.node = sel % 7;
		if (sel & 0x80)
			u->rel.incarnation = d->incarnation;
		break;
	default:	/* ZAP_DONE, PEER_WINDOW_DONE, RELEASE_GRANT_DONE */
		fz_bytes(in, &u->st, n = sizeof(u->st));
		u->st.error = -(int32_t)(sel & 3);
		break;
	}
	return n + tail;
}

static void op_kernel(struct dstate *d, struct fz *in)
{
	static char buf[XPMEM_CHAN_MAX_MSG], body[XPMEM_CHAN_MAX_MSG];
	uint16_t type = ktypes[fz_u8(in) % (sizeof(ktypes) / sizeof(ktypes[0]))];
	uint64_t seq = pick_seq(d, in);
	size_t n = kbody(d, in, type, body);

	if ((type == XPMEM_CHAN_INVALIDATE || type == XPMEM_CHAN_REMOTE_FAULT ||
	     type == XPMEM_CHAN_REMOTE_GET) && nkreq < sizeof(kreqs) / sizeof(kreqs[0])) {
		seq = ++kreq_seq;
		kreqs[nkreq++] = (struct kreq){ .seq = seq, .type = type };
	} else if (type == XPMEM_CHAN_INVALIDATE || type == XPMEM_CHAN_REMOTE_FAULT ||
		   type == XPMEM_CHAN_REMOTE_GET) {
		return;	/* as many as it can check */
	}

	n = chan_build(buf, type, seq, body, n, NULL, 0);
	kernel_dispatch(d, buf, n);
}

static void op_kernel_raw(struct dstate *d, struct fz *in)
{
	static char buf[XPMEM_CHAN_MAX_MSG];
	size_t n = (size_t)fz_u8(in) * 4;

	fz_bytes(in, buf, n);
	kernel_dispatch(d, buf, n);
}

/* a sealed message's body from the input, made to meet the daemon's state */
static size_t pbody(struct dstate *d, struct fz *in, struct fpeer *f, uint16_t type, char *b,
		    size_t *tail)
{
	union {
		struct xw_invalidate inv;
		struct xw_ack ack;
		struct xw_remote_fault rf;
		struct xw_fault_reply fr;
		struct xw_get g;
		struct xw_get_reply gr;
		struct xw_release rel;
	} *u = (void *)b;
	uint8_t sel = fz_u8(in);
	uint64_t ours = sel & 0x80 ? d->incarnation : fz_u8(in);
	uint64_t req = d->next_req_id - (sel % 4);

	*tail = 0;
	switch (type) {
	case XW_INVALIDATE:
		fz_bytes(in, &u->inv, sizeof(u->inv));
		u->inv.generation %= 8;
		return sizeof(u->inv);
	case XW_ACK:
		fz_bytes(in, &u->ack, sizeof(u->ack));
		u->ack.generation %= 8;
		u->ack.incarnation = ours;
		u->ack.error = sel & 0x40 ? -EIO : 0;
		return sizeof(u->ack);
	case XW_REMOTE_FAULT:
		fz_bytes(in, &u->rf, sizeof(u->rf));
		return sizeof(u->rf);
	case XW_FAULT_REPLY:
		fz_bytes(in, &u->fr, sizeof(u->fr));
		u->fr.req_id = req;
		u->fr.incarnation = ours;
		u->fr.nextents = (sel >> 2) % 3;
		u->fr.error = sel & 0x40 ? -EFAULT : 0;
		*tail = u->fr.nextents * sizeof(struct xpmem_chan_extent);
		fz_bytes(in, b + sizeof(u->fr), *tail);
		return sizeof(u->fr);
	case XW_GET:
		fz_bytes(in, &u->g, sizeof(u->g));
		return sizeof(u->g);
	case XW_GET_REPLY:
		fz_bytes(in, &u->gr, sizeof(u->gr));
		u->gr.req_id = req;
		u->gr.incarnation = ours;
		u->gr.error = sel & 0x40 ? -EACCES : 0;
		return sizeof(u->gr);
	case XW_RELEASE:
		fz_bytes(in, &u->rel, sizeof(u->rel));
		u->rel.incarnation = sel & 0x80 ? f->inc : u->rel.incarnation;
		return sizeof(u->rel);
	default:	/* HEARTBEAT */
		return 0;
	}
}

static struct fpeer *pick_peer(struct dstate *d, struct fz *in)
{
	struct fpeer *f = &fp[fz_u8(in) % NFP];

	return peer_find(d, f->id) ? f : NULL;
}

static void op_sealed(struct dstate *d, struct fz *in)
{
	static char body[XW_MAX_MSG];
	struct fpeer *f = pick_peer(d, in);
	uint16_t type = 2 + fz_u8(in) % (XW_TYPE_MAX - 1);
	uint8_t r = fz_u8(in);
	size_t tail, n;
	uint64_t seq;

	if (!f)
		return;
	n = pbody(d, in, f, type, body, &tail);
	/* mostly the next seq; sometimes a replay or a jump ahead */
	seq = r < 0xe0 ? ++f->seq : r < 0xf0 ? f->seq - (r & 3) : (f->seq += r & 15);
	fp_seal(f, type, seq, body, n, tail ? body + n : NULL, tail);
}

/* a HELLO of f: same incarnation, the next (new keys), an older one, or a
 * forged one; echoing our key or not */
static void op_hello(struct dstate *d, struct fz *in)
{
	struct fpeer *f = pick_peer(d, in);
	uint8_t m = fz_u8(in);
	struct peer *p;
	uint64_t was;

	if (!f)
		return;
	was = f->inc;
	if (m % 4 == 1)
		f->inc++;
	else if (m % 4 == 2 && f->inc > 1)
		f->inc--;
	fp_hello(f, m & 0x10, m % 4 == 3 ? m : 0);
	p = peer_find(d, f->id);
	if (p && p->hello_inc == f->inc && f->inc != was)
		fp_derive(f);	/* adopted: the new session */
	else
		f->inc = was;
}

static void op_raw_net(struct dstate *d, struct fz *in)
{
	static char buf[XW_MAX_MSG];
	size_t n = (size_t)fz_u8(in) * 4;

	fz_bytes(in, buf, n);
	peer_rx(d, buf, n);
}

/* time passes: the loop's timer pass (daemon.c's run_timers) */
static void op_time(struct dstate *d, struct fz *in)
{
	struct tnode *t;

	fake_now += (uint64_t)(fz_u8(in) + 1) * 5000000ull;
	fake_real += 1000000ull;
	if (fake_now >= d->next_heartbeat) {
		member_heartbeat(d, fake_now);
		d->next_heartbeat = fake_now + (uint64_t)cfg.heartbeat_ms * 1000000ull;
	}
	while (!d->fatal && (t = timerq_top(&d->tq)) && t->when <= fake_now) {
		if (t->kind == T_INVAL)
			inval_due(d, TNODE_OWNER(t, struct inval), fake_now);
		else if (t->kind == T_DREQ)
			dreq_due(d, TNODE_OWNER(t, struct dreq), fake_now);
		else if (t->kind == T_RFAULT)
			rfault_due(d, TNODE_OWNER(t, struct rfault));
		else
			timerq_del(&d->tq, t);
	}
	inval_trim(d);
	pout_flush(d);
}

static void op_fence(struct dstate *d, struct fz *in)
{
	uint64_t inc;
	uint32_t rel;

	fake_real += 1000000ull;
	member_fence(d, fz_u8(in) % 7, &inc, &rel);
}

static void op_stats(struct dstate *d)
{
	struct stats_pod *s = stats_capture(d);
	json_t *o;
	char *str;

	if (!s)
		abort();
	o = stats_json(s);
	str = json_dumps(o, 0);
	free(str);
	json_decref(o);
	free(s);
}

static void op_add_peer(struct dstate *d)
{
	struct fpeer *f = &fp[NFP - 1];
	struct peer_conf pc = { .id = f->id, .address = "127.0.0.1:9100", .has_public_key = 1 };

	if (peer_find(d, f->id))
		return;
	memcpy(pc.public_key, f->sign_pk, 32);
	if (member_add(d, &pc))
		return;
	f->inc = 300;
	f->hello_seq = 0;
	fp_derive(f);
	fp_hello(f, 1, 0);
}

/* what must hold after every operation; a violation is a crash */
static void invariants(struct dstate *d)
{
	int ni = 0, np = 0, nr = 0, nf = 0;
	uint32_t pd = 0, pf = 0;

	for (struct inval *iv = d->invals; iv; iv = iv->next) {
		uint32_t left = 0;

		ni++;
		for (uint32_t i = 0; i < iv->n; i++)
			left += !iv->acked[i];
		if (left != iv->remaining || (!iv->timed_out && !iv->remaining))
			abort();	/* an invalidation's ack count is off */
		np += !iv->timed_out;
	}
	for (struct dreq *r = d->dreqs; r; r = r->next)
		nr++;
	for (struct rfault *f = d->rfaults; f; f = f->next)
		nf++;
	for (int i = 0; i < d->npeers; i++) {
		if (d->peers[i].n_dreqs > cfg.max_pending_per_peer ||
		    d->peers[i].n_rfaults > cfg.max_pending_per_peer)
			abort();	/* over the per-peer cap */
		pd += d->peers[i].n_dreqs;
		pf += d->peers[i].n_rfaults;
	}
	if (ni != d->n_pending + d->n_timed_out || np != d->n_pending || nr != d->n_dreqs ||
	    nf != d->n_rfaults || pd > (uint32_t)nr || pf != (uint32_t)nf)
		abort();	/* a count is off */
}

int fz_step(struct dstate *d, struct fz *in)
{
	if (!in->n || d->fatal)
		return 1;
	switch (fz_u8(in) % 11) {
	case 0: op_kernel(d, in); break;
	case 1: op_kernel_raw(d, in); break;
	case 2: op_sealed(d, in); break;
	case 3: op_hello(d, in); break;
	case 4: op_raw_net(d, in); break;
	case 5: op_time(d, in); break;
	case 6: op_fence(d, in); break;
	case 7: op_drain(d); break;
	case 8: provider_busy = !provider_busy; pout_flush(d); break;
	case 9: op_stats(d); break;
	case 10: op_add_peer(d); break;
	}
	invariants(d);
	return 0;
}
