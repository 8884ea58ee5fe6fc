// SPDX-License-Identifier: GPL-2.0
/* Unit tests of the channel and network codecs and the replay window. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "wire.h"

static int fails;
#define T(cond) do { if (!(cond)) { fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); fails++; } } while (0)

static void test_replay(void)
{
	struct xw_replay r = { 0 };

	T(xw_replay_check(&r, 10, 1) == XW_REPLAY_NEW_INCARNATION);
	T(xw_replay_check(&r, 10, 2) == XW_REPLAY_OK);
	T(xw_replay_check(&r, 10, 2) == XW_REPLAY_DUP);
	T(xw_replay_check(&r, 10, 1) == XW_REPLAY_DUP);
	T(xw_replay_check(&r, 10, 0) == XW_REPLAY_DUP);
	T(xw_replay_check(&r, 10, 5) == XW_REPLAY_OK);	/* gap: 3, 4 still acceptable */
	T(xw_replay_check(&r, 10, 4) == XW_REPLAY_OK);
	T(xw_replay_check(&r, 10, 4) == XW_REPLAY_DUP);
	T(xw_replay_check(&r, 10, 3) == XW_REPLAY_OK);
	T(xw_replay_check(&r, 10, 100) == XW_REPLAY_OK);
	T(xw_replay_check(&r, 10, 37) == XW_REPLAY_OK);	/* 63 behind: inside */
	T(xw_replay_check(&r, 10, 37) == XW_REPLAY_DUP);
	T(xw_replay_check(&r, 10, 36) == XW_REPLAY_DUP);	/* 64 behind: outside */
	T(xw_replay_check(&r, 9, 1000) == XW_REPLAY_STALE_INCARNATION);
	T(xw_replay_check(&r, 11, 1) == XW_REPLAY_NEW_INCARNATION);
	T(xw_replay_check(&r, 11, 1) == XW_REPLAY_DUP);
	T(xw_replay_check(&r, 10, 101) == XW_REPLAY_STALE_INCARNATION);
	T(xw_replay_check(&r, 11, 1000000) == XW_REPLAY_OK);	/* big jump */
	T(xw_replay_check(&r, 11, 999999) == XW_REPLAY_OK);
}

/* seal with key, parse, open with key2: the result of xw_open */
static int seal_open(const uint8_t *key, const uint8_t *key2, uint16_t type, const void *body,
		     size_t blen, const void *tail, size_t tlen, struct xw_msg *m, uint8_t *plain)
{
	static uint8_t buf[XW_MAX_MSG];
	size_t n = xw_seal(buf, key, 9, type, 1, 2, 55, 3, body, blen, tail, tlen);

	if (!n || xw_parse(buf, n, m) != XW_OK)
		return XW_EMALFORMED;
	return xw_open(buf, key2, plain, m);
}

static void test_wire(void)
{
	uint8_t key[XW_KEY_LEN], key2[XW_KEY_LEN], buf[XW_MAX_MSG], plain[XW_MAX_MSG];
	uint8_t pk[32], sk[64], pk2[32], sk2[64];
	struct xw_invalidate iv = { .generation = 7, .segid = -3, .start = 4096, .len = 1 << 20 };
	struct xw_fault_reply fr = { .req_id = 9, .nextents = 2 };
	struct xpmem_chan_extent ext[2] = { { 0x1000, 0x2000 }, { 0x9000, 0x1000 } };
	struct xw_hello h;
	struct xw_msg m;
	size_t n;

	memset(key, 1, sizeof(key));
	memset(key2, 2, sizeof(key2));
	/* sealed: header in clear (associated data), body encrypted */
	n = xw_seal(buf, key, 9, XW_INVALIDATE, 1, 2, 55, 3, &iv, sizeof(iv), NULL, 0);
	T(n == sizeof(struct xw_hdr) + sizeof(iv) + XW_TAG_LEN);
	T(memcmp(buf + sizeof(struct xw_hdr), &iv, sizeof(iv)) != 0);
	T(xw_parse(buf, n, &m) == XW_OK);
	T(m.hdr.src == 1 && m.hdr.dst == 2 && m.hdr.incarnation == 55 && m.hdr.seq == 3 &&
	  m.hdr.session == 9);
	T(xw_open(buf, key, plain, &m) == XW_OK);
	T(m.body_len == sizeof(iv) && !memcmp(m.body, &iv, sizeof(iv)));
	T(xw_parse(buf, n, &m) == XW_OK && xw_open(buf, key2, plain, &m) == XW_EFORGED);
	T(xw_parse(buf, n - 1, &m) == XW_EMALFORMED);
	{	/* wire version 2 (owners that took an ACK with an error for an
		 * ack) and any other version are refused: review finding */
		struct xw_hdr *wh = (struct xw_hdr *)buf;

		T(XW_VERSION == 4);
		wh->version = 2;
		T(xw_parse(buf, n, &m) == XW_EMALFORMED);
		/* 3: importers that did not name the owner's kernel instance */
		wh->version = 3;
		T(xw_parse(buf, n, &m) == XW_EMALFORMED);
		wh->version = XW_VERSION;
		T(xw_parse(buf, n, &m) == XW_OK);
	}
	for (size_t i = 0; i < n; i++) {	/* any flipped bit is caught */
		int r;
		buf[i] ^= 0x10;
		r = xw_parse(buf, n, &m);
		if (r == XW_OK)
			r = xw_open(buf, key, plain, &m);
		T(r == XW_EFORGED || r == XW_EMALFORMED);
		buf[i] ^= 0x10;
	}
	T(seal_open(key, key, XW_FAULT_REPLY, &fr, sizeof(fr), ext, sizeof(ext), &m, plain) == XW_OK);
	T(((const struct xw_fault_reply *)m.body)->extents[1].phys == 0x9000);
	fr.nextents = 3;	/* count disagrees with length: seen after decryption */
	T(seal_open(key, key, XW_FAULT_REPLY, &fr, sizeof(fr), ext, sizeof(ext), &m, plain) ==
	  XW_EMALFORMED);
	T(seal_open(key, key, XW_HEARTBEAT, &iv, 8, NULL, 0, &m, plain) == XW_EMALFORMED);
	T(xw_seal(buf, key, 9, XW_FAULT_REPLY, 2, 1, 56, 1, buf, XW_MAX_MSG, NULL, 0) == 0);
	T(xw_seal(buf, key, 9, XW_HELLO, 2, 1, 56, 1, NULL, 0, NULL, 0) == 0);
	{	/* remote xpmem_get */
		struct xw_get g = { .req_id = 7, .segid = 0x1000, .flags = 2, .uid = 1000,
				    .gid = 100 };
		struct xw_get_reply gr = { .req_id = 7, .incarnation = 56, .size = 1 << 20 };

		T(seal_open(key, key, XW_GET, &g, sizeof(g), NULL, 0, &m, plain) == XW_OK &&
		  m.hdr.type == XW_GET && ((const struct xw_get *)m.body)->uid == 1000);
		T(seal_open(key, key, XW_GET, &g, sizeof(g) - 4, NULL, 0, &m, plain) ==
		  XW_EMALFORMED);
		T(seal_open(key, key, XW_GET_REPLY, &gr, sizeof(gr), NULL, 0, &m, plain) == XW_OK &&
		  ((const struct xw_get_reply *)m.body)->size == 1 << 20);
		T(!strcmp(xw_type_name(XW_GET_REPLY), "GET_REPLY"));
	}
	/* HELLO: signed with the sender's node key over header and body */
	T(crypto_sign_keypair(pk, sk) == 0 && crypto_sign_keypair(pk2, sk2) == 0);
	memset(&h, 0, sizeof(h));
	memset(h.eph, 7, sizeof(h.eph));
	n = xw_hello_build(buf, sk, 1, 2, 55, 1, &h);
	T(n == sizeof(struct xw_hdr) + sizeof(h) + XW_SIG_LEN);
	T(xw_parse(buf, n, &m) == XW_OK && m.hdr.type == XW_HELLO && m.hdr.session == 0);
	T(xw_hello_verify(buf, &m, pk) == XW_OK);
	T(xw_hello_verify(buf, &m, pk2) == XW_EFORGED);
	T(xw_open(buf, key, plain, &m) == XW_EMALFORMED);
	((struct xw_hdr *)buf)->src = 3;	/* the header is signed too */
	T(xw_parse(buf, n, &m) == XW_OK && xw_hello_verify(buf, &m, pk) == XW_EFORGED);
	((struct xw_hdr *)buf)->src = 1;
	((struct xw_hdr *)buf)->incarnation = ~0ull;
	T(xw_parse(buf, n, &m) == XW_OK && xw_hello_verify(buf, &m, pk) == XW_EFORGED);
	T(xw_parse(buf, n - 1, &m) == XW_EMALFORMED);
	{	/* sessions: both sides agree, directions differ, any change differs */
		uint8_t e1p[32], e1s[32], e2p[32], e2s[32], e3p[32], e3s[32];
		struct xw_session a, b, c;

		crypto_kx_keypair(e1p, e1s);
		crypto_kx_keypair(e2p, e2s);
		crypto_kx_keypair(e3p, e3s);
		T(xw_session_derive(&a, 1, 10, e1p, e1s, 2, 20, e2p) == 0);
		T(xw_session_derive(&b, 2, 20, e2p, e2s, 1, 10, e1p) == 0);
		T(!memcmp(a.tx, b.rx, 32) && !memcmp(a.rx, b.tx, 32) && a.tag == b.tag && a.tag);
		T(memcmp(a.tx, a.rx, 32) != 0);
		T(xw_session_derive(&c, 1, 10, e1p, e1s, 2, 21, e2p) == 0);	/* incarnation */
		T(memcmp(c.tx, a.tx, 32) && memcmp(c.rx, a.rx, 32) && c.tag != a.tag);
		T(xw_session_derive(&c, 1, 10, e1p, e1s, 3, 20, e2p) == 0);	/* node id */
		T(memcmp(c.tx, a.tx, 32) && memcmp(c.rx, a.rx, 32));
		T(xw_session_derive(&c, 1, 10, e1p, e1s, 2, 20, e3p) == 0);	/* ephemeral */
		T(memcmp(c.tx, a.tx, 32) && memcmp(c.rx, a.rx, 32));
		T(xw_session_derive(&c, 1, 10, e1p, e1s, 1, 10, e1p) == -1);	/* itself */
		memset(e3p, 0, sizeof(e3p));	/* a low-order point: refused */
		T(xw_session_derive(&c, 1, 10, e1p, e1s, 2, 20, e3p) == -1);
	}
}

static void test_chan(void)
{
	uint8_t buf[XPMEM_CHAN_MAX_MSG + 16];
	struct xpmem_chan_invalidate iv = { .segid = 1, .start = 0, .len = ~0ull, .generation = 1,
					    .npeers = 3 };
	uint32_t peers[3] = { 2, 3, 4 };
	struct xpmem_chan_hdr *h = (void *)buf;
	size_t n;

	n = chan_build(buf, XPMEM_CHAN_INVALIDATE, 1, &iv, sizeof(iv), peers, sizeof(peers));
	T(chan_validate(buf, n) == XPMEM_CHAN_INVALIDATE);
	T(chan_validate(buf, n - 4) == -EBADMSG);
	T(chan_validate(buf, n + 4) == -EBADMSG);
	iv.npeers = 4;
	n = chan_build(buf, XPMEM_CHAN_INVALIDATE, 1, &iv, sizeof(iv), peers, sizeof(peers));
	T(chan_validate(buf, n) == -EBADMSG);
	iv.npeers = XPMEM_CHAN_MAX_PEERS + 1;
	n = chan_build(buf, XPMEM_CHAN_INVALIDATE, 1, &iv, sizeof(iv), NULL, 0);
	T(chan_validate(buf, n) == -EBADMSG);
	iv.npeers = 0;
	n = chan_build(buf, XPMEM_CHAN_INVALIDATE, 1, &iv, sizeof(iv), NULL, 0);
	T(chan_validate(buf, n) == XPMEM_CHAN_INVALIDATE);
	h->magic ^= 1;
	T(chan_validate(buf, n) == -EPROTO);
	h->magic ^= 1;
	h->version = 1;		/* before owner_instance */
	T(chan_validate(buf, n) == -EPROTO);
	h->version = 3;
	T(chan_validate(buf, n) == -EPROTO);
	h->version = XPMEM_CHAN_VERSION;
	h->type = 0;
	T(chan_validate(buf, n) == -EBADMSG);
	h->type = XPMEM_CHAN_TYPE_MAX + 1;
	T(chan_validate(buf, n) == -EBADMSG);
	h->type = XPMEM_CHAN_ACKED;	/* fixed-size body of the wrong size */
	T(chan_validate(buf, n) == -EBADMSG);
	T(chan_validate(buf, 3) == -EBADMSG);
	{
		struct xpmem_chan_acked a = { 5 };
		n = chan_build(buf, XPMEM_CHAN_ACKED, 9, &a, sizeof(a), NULL, 0);
		T(chan_validate(buf, n) == XPMEM_CHAN_ACKED);
		h->flags = 1;
		T(chan_validate(buf, n) == -EBADMSG);
	}
	{	/* remote get, check, windows: fixed-size bodies */
		struct xpmem_chan_get g = { .segid = 1, .node = 2, .flags = 1 };
		struct xpmem_chan_get_reply gr = { .error = -13 };
		struct xpmem_chan_peer_window w = { .peer = 2, .base = 1ull << 32, .size = 1 << 29 };
		struct xpmem_chan_status st = { 0 };

		n = chan_build(buf, XPMEM_CHAN_REMOTE_GET, 3, &g, sizeof(g), NULL, 0);
		T(chan_validate(buf, n) == XPMEM_CHAN_REMOTE_GET);
		T(chan_validate(buf, n - 4) == -EBADMSG);
		n = chan_build(buf, XPMEM_CHAN_CHECK_GET, 3, &g, sizeof(g), NULL, 0);
		T(chan_validate(buf, n) == XPMEM_CHAN_CHECK_GET);
		n = chan_build(buf, XPMEM_CHAN_REMOTE_GET_REPLY, 3, &gr, sizeof(gr), NULL, 0);
		T(chan_validate(buf, n) == XPMEM_CHAN_REMOTE_GET_REPLY);
		n = chan_build(buf, XPMEM_CHAN_CHECK_GET_REPLY, 3, &gr, sizeof(gr), &st, 4);
		T(chan_validate(buf, n) == -EBADMSG);
		n = chan_build(buf, XPMEM_CHAN_PEER_WINDOW, 4, &w, sizeof(w), NULL, 0);
		T(chan_validate(buf, n) == XPMEM_CHAN_PEER_WINDOW);
		n = chan_build(buf, XPMEM_CHAN_PEER_WINDOW_DONE, 4, &st, sizeof(st), NULL, 0);
		T(chan_validate(buf, n) == XPMEM_CHAN_PEER_WINDOW_DONE);
		T(!strcmp(chan_type_name(XPMEM_CHAN_PEER_WINDOW_DONE), "PEER_WINDOW_DONE"));
	}
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_replay();
	test_wire();
	test_chan();
	printf("codec: %s\n", fails ? "FAILED" : "OK");
	return fails ? 1 : 0;
}
