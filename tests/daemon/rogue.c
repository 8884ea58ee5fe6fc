// SPDX-License-Identifier: GPL-2.0
/* A rogue on the fabric: recording relay and a keyed node (see rogue.h). */
#include "rogue.h"
#include "config.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t relay_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int relay_inject(struct relay *r, int dir, const void *buf, size_t len);

static void relay_unstash(struct relay *r, int dir)
{
	struct relay_rec *m = r->stash[dir];

	if (!m)
		return;
	r->stash[dir] = NULL;
	relay_inject(r, dir, m->buf, m->len);
	free(m);
}

static int add_local(struct fab *f, int port, fi_addr_t *out)
{
	char p[16];

	snprintf(p, sizeof(p), "%d", port);
	return fab_add_peer(f, "127.0.0.1", p, 1, out);
}

static struct fab *open_port(int port)
{
	struct xconfig def;
	char p[16];

	/* rxm refuses connections between endpoints of different buffer sizes:
	 * the daemons' (config defaults) */
	config_defaults(&def);
	if (fab_memory_defaults(def.fabric_rx_size, def.fabric_buffer_size))
		return NULL;
	snprintf(p, sizeof(p), "%d", port);
	return fab_open("tcp", "127.0.0.1", p, XW_MAX_MSG);
}

int relay_open(struct relay *r, int port_a, int port_b)
{
	memset(r, 0, sizeof(*r));
	r->pass[0] = r->pass[1] = 1;
	r->record = 1;
	r->face[RELAY_AB] = open_port(port_a);
	r->face[RELAY_BA] = open_port(port_b);
	return r->face[0] && r->face[1] ? 0 : -1;
}

int relay_connect(struct relay *r, int real_a, int real_b)
{
	/* what arrives from A (face AB) leaves through the face B talks to */
	if (add_local(r->face[RELAY_BA], real_b, &r->to[RELAY_AB]) ||
	    add_local(r->face[RELAY_AB], real_a, &r->to[RELAY_BA]))
		return -1;
	return 0;
}

struct relay_arg { struct relay *r; int dir; };

static void relay_rx(void *arg, const void *buf, size_t len)
{
	struct relay_arg *a = arg;
	struct relay *r = a->r;

	if (r->record && len >= sizeof(struct xw_hdr) && len <= XW_MAX_MSG) {
		if (r->nrec == r->cap) {
			size_t cap = r->cap ? 2 * r->cap : 256;
			struct relay_rec *n = realloc(r->rec, cap * sizeof(*n));

			if (!n) {
				fprintf(stderr, "relay: out of memory\n");
				abort();
			}
			r->rec = n;
			r->cap = cap;
		}
		r->rec[r->nrec].dir = a->dir;
		r->rec[r->nrec].len = len;
		memcpy(&r->rec[r->nrec].hdr, buf, sizeof(struct xw_hdr));
		memcpy(r->rec[r->nrec].buf, buf, len);
		r->nrec++;
	}
	if (!r->pass[a->dir]) {
		r->held[a->dir]++;
		return;
	}
	if (r->loss_pct || r->dup_pct || r->reorder_pct) {
		int roll = (int)(rand_r(&r->seed) % 100), dir = a->dir;

		if (roll < r->loss_pct) {
			r->lost[dir]++;
			return;
		}
		if (roll < r->loss_pct + r->dup_pct) {
			r->duplicated[dir]++;
			relay_inject(r, dir, buf, len);
		} else if (roll < r->loss_pct + r->dup_pct + r->reorder_pct && !r->stash[dir] &&
			   len <= XW_MAX_MSG && (r->stash[dir] = malloc(sizeof(struct relay_rec)))) {
			r->reordered[dir]++;
			r->stash[dir]->len = len;
			memcpy(r->stash[dir]->buf, buf, len);
			r->stash_ms[dir] = relay_ms();
			return;		/* goes after the next one */
		}
		r->forwarded[dir]++;
		relay_inject(r, dir, buf, len);
		relay_unstash(r, dir);
		return;
	}
	r->forwarded[a->dir]++;
	relay_inject(r, a->dir, buf, len);
}

void relay_progress(struct relay *r)
{
	for (int dir = 0; dir < 2; dir++) {
		struct relay_arg a = { r, dir };

		fab_progress(r->face[dir], relay_rx, &a, 0);
		/* a held-back message nothing followed goes after 50 ms */
		if (r->stash[dir] && relay_ms() - r->stash_ms[dir] > 50)
			relay_unstash(r, dir);
	}
}

void relay_chaos(struct relay *r, int loss_pct, int dup_pct, int reorder_pct, unsigned seed)
{
	r->loss_pct = loss_pct;
	r->dup_pct = dup_pct;
	r->reorder_pct = reorder_pct;
	r->seed = seed;
	for (int dir = 0; dir < 2; dir++)
		relay_unstash(r, dir);
}

long relay_find(struct relay *r, int dir, int type, uint64_t inc, long nth)
{
	long found = -1, k = 0;

	for (size_t i = 0; i < r->nrec; i++) {
		if (r->rec[i].dir != dir || r->rec[i].hdr.type != type ||
		    (inc && r->rec[i].hdr.incarnation != inc))
			continue;
		if (nth >= 0 && k++ == nth)
			return (long)i;
		found = (long)i;
	}
	return nth >= 0 ? -1 : found;
}

int relay_inject(struct relay *r, int dir, const void *buf, size_t len)
{
	/* to B through the face B knows as A, to A through the face A knows as B */
	return fab_send(r->face[dir == RELAY_AB ? RELAY_BA : RELAY_AB], r->to[dir], buf, len);
}

int relay_replay(struct relay *r, long idx)
{
	if (idx < 0 || (size_t)idx >= r->nrec)
		return -1;
	return relay_inject(r, r->rec[idx].dir, r->rec[idx].buf, r->rec[idx].len);
}

void relay_close(struct relay *r)
{
	fab_close(r->face[0]);
	fab_close(r->face[1]);
	free(r->stash[0]);
	free(r->stash[1]);
	free(r->rec);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------------ */

int rogue_node_open(struct rogue_node *n, uint32_t id, uint64_t inc, const char *keyfile,
		    int port)
{
	char err[600];

	memset(n, 0, sizeof(*n));
	n->id = id;
	n->inc = inc;
	if (keys_load(keyfile, n->pk, n->sk, err, sizeof(err))) {
		fprintf(stderr, "rogue: %s\n", err);
		return -1;
	}
	if (crypto_kx_keypair(n->eph_pk, n->eph_sk) != 0)
		return -1;
	n->fab = open_port(port);
	return n->fab ? 0 : -1;
}

int rogue_node_add_peer(struct rogue_node *n, uint32_t id, int port, const char *pub_b64)
{
	struct rogue_peer *p;

	if (n->npeers >= (int)(sizeof(n->peers) / sizeof(n->peers[0])))
		return -1;
	p = &n->peers[n->npeers];
	memset(p, 0, sizeof(*p));
	p->id = id;
	if (keys_pk_from_base64(p->pk, pub_b64) || add_local(n->fab, port, &p->addr))
		return -1;
	n->npeers++;
	return 0;
}

struct rogue_peer *rogue_node_peer(struct rogue_node *n, uint32_t id)
{
	for (int i = 0; i < n->npeers; i++)
		if (n->peers[i].id == id)
			return &n->peers[i];
	return NULL;
}

int rogue_node_hello(struct rogue_node *n, uint32_t peer)
{
	struct rogue_peer *p = rogue_node_peer(n, peer);
	uint8_t buf[XW_MAX_MSG];
	struct xw_hello h;
	size_t len;

	if (!p)
		return -1;
	memcpy(h.eph, n->eph_pk, sizeof(h.eph));
	memcpy(h.echo, p->eph, sizeof(h.echo));
	len = xw_hello_build(buf, n->sk, n->id, p->id, n->inc, ++n->hello_seq, &h);
	return len ? fab_send(n->fab, p->addr, buf, len) : -1;
}

static void node_rx(void *arg, const void *buf, size_t len)
{
	static uint8_t plain[XW_MAX_MSG];
	struct rogue_node *n = arg;
	struct rogue_peer *p;
	struct xw_msg m;

	if (xw_parse(buf, len, &m) != XW_OK || m.hdr.dst != n->id ||
	    !(p = rogue_node_peer(n, m.hdr.src))) {
		n->rx_bad++;
		return;
	}
	if (m.hdr.type == XW_HELLO) {
		const struct xw_hello *h = m.body;
		int adopted = 0;

		if (xw_hello_verify(buf, &m, p->pk) != XW_OK || m.hdr.incarnation < p->inc) {
			n->rx_bad++;
			return;
		}
		if (m.hdr.incarnation > p->inc) {
			if (xw_session_derive(&p->sess, n->id, n->inc, n->eph_pk, n->eph_sk, p->id,
					      m.hdr.incarnation, h->eph)) {
				n->rx_bad++;
				return;
			}
			p->inc = m.hdr.incarnation;
			memcpy(p->eph, h->eph, sizeof(p->eph));
			p->has_session = 1;
			p->established = 0;
			p->tx_seq = 0;
			adopted = 1;
		}
		n->rx_count[XW_HELLO]++;
		if (!sodium_memcmp(h->echo, n->eph_pk, sizeof(n->eph_pk))) {
			p->established = 1;
			if (!adopted)
				return;
		}
		rogue_node_hello(n, p->id);
		return;
	}
	if (!p->has_session || m.hdr.session != p->sess.tag ||
	    xw_open(buf, p->sess.rx, plain, &m) != XW_OK) {
		n->rx_bad++;
		return;
	}
	p->established = 1;
	n->rx_count[m.hdr.type]++;
	n->last_hdr = m.hdr;
	n->last_len = m.body_len;
	memcpy(n->last_body, plain, m.body_len);
}

void rogue_node_progress(struct rogue_node *n)
{
	fab_progress(n->fab, node_rx, n, 0);
}

int rogue_node_send(struct rogue_node *n, uint32_t peer, uint16_t type, uint64_t seq,
		    const void *body, size_t len)
{
	struct rogue_peer *p = rogue_node_peer(n, peer);
	uint8_t buf[XW_MAX_MSG];
	size_t total;

	if (!p || !p->has_session)
		return -1;
	total = xw_seal(buf, p->sess.tx, p->sess.tag, type, n->id, p->id, n->inc,
			seq ? seq : ++p->tx_seq, body, len, NULL, 0);
	return total ? fab_send(n->fab, p->addr, buf, total) : -1;
}

int rogue_node_send_raw(struct rogue_node *n, uint32_t peer, const void *buf, size_t len)
{
	struct rogue_peer *p = rogue_node_peer(n, peer);

	return p ? fab_send(n->fab, p->addr, buf, len) : -1;
}

void rogue_node_close(struct rogue_node *n)
{
	fab_close(n->fab);
	sodium_memzero(n, sizeof(*n));
}
