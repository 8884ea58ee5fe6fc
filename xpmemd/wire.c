// SPDX-License-Identifier: GPL-2.0
#include "wire.h"

#include <sodium.h>
#include <string.h>

_Static_assert(XW_TAG_LEN == crypto_aead_chacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(XW_KEY_LEN == crypto_aead_chacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(XW_KEY_LEN == crypto_kx_SESSIONKEYBYTES, "kx session key size");
_Static_assert(XW_KX_LEN == crypto_kx_PUBLICKEYBYTES, "kx public key size");
_Static_assert(XW_KX_LEN == crypto_kx_SECRETKEYBYTES, "kx secret key size");
_Static_assert(XW_SIG_LEN == crypto_sign_BYTES, "signature size");
_Static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12, "nonce size");
_Static_assert(sizeof(struct xw_hdr) == 40, "xw_hdr layout");

static const struct {
	size_t body;
	size_t elem;
} layout[XW_TYPE_MAX + 1] = {
	[XW_HELLO]        = { sizeof(struct xw_hello), 0 },
	[XW_HEARTBEAT]    = { 0, 0 },
	[XW_INVALIDATE]   = { sizeof(struct xw_invalidate), 0 },
	[XW_ACK]          = { sizeof(struct xw_ack), 0 },
	[XW_REMOTE_FAULT] = { sizeof(struct xw_remote_fault), 0 },
	[XW_FAULT_REPLY]  = { sizeof(struct xw_fault_reply), sizeof(struct xpmem_chan_extent) },
	[XW_GET]          = { sizeof(struct xw_get), 0 },
	[XW_GET_REPLY]    = { sizeof(struct xw_get_reply), 0 },
	[XW_RELEASE]      = { sizeof(struct xw_release), 0 },
};

const char *xw_type_name(int type)
{
	static const char *names[XW_TYPE_MAX + 1] = {
		"?", "HELLO", "HEARTBEAT", "INVALIDATE", "ACK", "REMOTE_FAULT",
		"FAULT_REPLY", "GET", "GET_REPLY", "RELEASE",
	};
	return (type >= 1 && type <= XW_TYPE_MAX) ? names[type] : "?";
}

static void put_hdr(unsigned char *p, uint16_t type, size_t total, uint32_t src, uint32_t dst,
		    uint32_t session, uint64_t incarnation, uint64_t seq)
{
	struct xw_hdr h = {
		.magic = XW_MAGIC, .version = XW_VERSION, .type = type,
		.len = (uint32_t)total, .src = src, .dst = dst, .session = session,
		.incarnation = incarnation, .seq = seq,
	};

	memcpy(p, &h, sizeof(h));
}

size_t xw_hello_build(void *buf, const uint8_t sk[64], uint32_t src, uint32_t dst,
		      uint64_t incarnation, uint64_t seq, const struct xw_hello *h)
{
	size_t total = sizeof(struct xw_hdr) + sizeof(*h) + XW_SIG_LEN;
	unsigned char *p = buf;

	put_hdr(p, XW_HELLO, total, src, dst, 0, incarnation, seq);
	memcpy(p + sizeof(struct xw_hdr), h, sizeof(*h));
	if (crypto_sign_detached(p + total - XW_SIG_LEN, NULL, p, total - XW_SIG_LEN, sk) != 0)
		return 0;
	return total;
}

/* the nonce: seq, unique per session key and direction (a session starts at 1) */
static void make_nonce(unsigned char nonce[12], uint64_t seq)
{
	memset(nonce, 0, 12);
	memcpy(nonce, &seq, sizeof(seq));
}

size_t xw_seal(void *buf, const uint8_t key[XW_KEY_LEN], uint32_t tag, uint16_t type,
	       uint32_t src, uint32_t dst, uint64_t incarnation, uint64_t seq,
	       const void *body, size_t body_len, const void *tail, size_t tail_len)
{
	size_t plen = body_len + tail_len, total = sizeof(struct xw_hdr) + plen + XW_TAG_LEN;
	unsigned char *p = buf, nonce[12];
	unsigned long long clen = 0;

	if (total > XW_MAX_MSG || type == XW_HELLO)
		return 0;
	put_hdr(p, type, total, src, dst, tag, incarnation, seq);
	/* plaintext in place, then encrypted in place (libsodium allows c == m) */
	if (body_len)
		memcpy(p + sizeof(struct xw_hdr), body, body_len);
	if (tail_len)
		memcpy(p + sizeof(struct xw_hdr) + body_len, tail, tail_len);
	make_nonce(nonce, seq);
	if (crypto_aead_chacha20poly1305_ietf_encrypt(p + sizeof(struct xw_hdr), &clen,
						      p + sizeof(struct xw_hdr), plen,
						      p, sizeof(struct xw_hdr), NULL,
						      nonce, key) != 0 ||
	    clen != plen + XW_TAG_LEN)
		return 0;
	return total;
}

int xw_parse(const void *buf, size_t n, struct xw_msg *out)
{
	const unsigned char *p = buf;
	struct xw_hdr h;
	size_t blen, trailer;

	if (n < sizeof(h) + XW_TAG_LEN || n > XW_MAX_MSG)
		return XW_EMALFORMED;
	memcpy(&h, p, sizeof(h));
	if (h.magic != XW_MAGIC || h.version != XW_VERSION || h.len != n ||
	    h.type < 1 || h.type > XW_TYPE_MAX)
		return XW_EMALFORMED;
	trailer = h.type == XW_HELLO ? XW_SIG_LEN : XW_TAG_LEN;
	if (n < sizeof(h) + trailer)
		return XW_EMALFORMED;
	blen = n - sizeof(h) - trailer;
	/* counted bodies: the count is checked after decryption (xw_open) */
	if (layout[h.type].elem ? blen < layout[h.type].body : blen != layout[h.type].body)
		return XW_EMALFORMED;
	if (layout[h.type].elem && (blen - layout[h.type].body) % layout[h.type].elem)
		return XW_EMALFORMED;
	out->hdr = h;
	out->body = p + sizeof(h);
	out->body_len = blen;
	return XW_OK;
}

int xw_hello_verify(const void *buf, const struct xw_msg *m, const uint8_t pk[32])
{
	const unsigned char *p = buf;
	size_t signed_len = sizeof(struct xw_hdr) + m->body_len;

	if (m->hdr.type != XW_HELLO || m->body_len != sizeof(struct xw_hello))
		return XW_EMALFORMED;
	if (crypto_sign_verify_detached(p + signed_len, p, signed_len, pk) != 0)
		return XW_EFORGED;
	return XW_OK;
}

int xw_open(const void *buf, const uint8_t key[XW_KEY_LEN], void *plain, struct xw_msg *m)
{
	const unsigned char *p = buf;
	unsigned char nonce[12];
	unsigned long long plen = 0;

	if (m->hdr.type == XW_HELLO)
		return XW_EMALFORMED;
	make_nonce(nonce, m->hdr.seq);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(plain, &plen, NULL,
						      p + sizeof(struct xw_hdr),
						      m->body_len + XW_TAG_LEN,
						      p, sizeof(struct xw_hdr), nonce, key) != 0 ||
	    plen != m->body_len)
		return XW_EFORGED;
	m->body = plain;
	if (layout[m->hdr.type].elem) {
		uint32_t cnt;

		memcpy(&cnt, (const unsigned char *)plain +
		       offsetof(struct xw_fault_reply, nextents), 4);
		if (cnt > XW_MAX_EXTENTS ||
		    m->body_len != layout[m->hdr.type].body + (size_t)cnt * layout[m->hdr.type].elem)
			return XW_EMALFORMED;
	}
	return XW_OK;
}

int xw_session_derive(struct xw_session *s, uint32_t self, uint64_t self_inc,
		      const uint8_t self_eph_pk[XW_KX_LEN], const uint8_t self_eph_sk[XW_KX_LEN],
		      uint32_t peer, uint64_t peer_inc, const uint8_t peer_eph_pk[XW_KX_LEN])
{
	static const char label[16] = "xpmem-session-2";
	uint8_t rx[XW_KEY_LEN], tx[XW_KEY_LEN], tag[32];
	struct {
		char label[16];
		uint32_t client, server;
		uint64_t client_inc, server_inc;
		uint8_t client_eph[XW_KX_LEN], server_eph[XW_KX_LEN];
	} ctx;
	int client = self < peer, rc = -1;

	if (self == peer)
		return -1;
	memset(&ctx, 0, sizeof(ctx));
	memcpy(ctx.label, label, sizeof(ctx.label));
	ctx.client = client ? self : peer;
	ctx.server = client ? peer : self;
	ctx.client_inc = client ? self_inc : peer_inc;
	ctx.server_inc = client ? peer_inc : self_inc;
	memcpy(ctx.client_eph, client ? self_eph_pk : peer_eph_pk, XW_KX_LEN);
	memcpy(ctx.server_eph, client ? peer_eph_pk : self_eph_pk, XW_KX_LEN);
	if (client ? crypto_kx_client_session_keys(rx, tx, self_eph_pk, self_eph_sk, peer_eph_pk) :
		     crypto_kx_server_session_keys(rx, tx, self_eph_pk, self_eph_sk, peer_eph_pk))
		goto out;
	/* bind the keys to both identities and incarnations: a session key can
	 * only ever be the key of this pair of daemons in these incarnations */
	if (crypto_generichash(s->rx, XW_KEY_LEN, (const unsigned char *)&ctx, sizeof(ctx),
			       rx, sizeof(rx)) ||
	    crypto_generichash(s->tx, XW_KEY_LEN, (const unsigned char *)&ctx, sizeof(ctx),
			       tx, sizeof(tx)) ||
	    crypto_generichash(tag, sizeof(tag), (const unsigned char *)&ctx, sizeof(ctx),
			       NULL, 0))
		goto out;
	memcpy(&s->tag, tag, sizeof(s->tag));
	if (!s->tag)
		s->tag = 1;	/* 0 is a HELLO's */
	rc = 0;
out:
	sodium_memzero(rx, sizeof(rx));
	sodium_memzero(tx, sizeof(tx));
	return rc;
}

int xw_replay_check(struct xw_replay *r, uint64_t incarnation, uint64_t seq)
{
	int ret = XW_REPLAY_OK;

	if (seq == 0)
		return XW_REPLAY_DUP;
	if (incarnation < r->incarnation)
		return XW_REPLAY_STALE_INCARNATION;
	if (incarnation > r->incarnation) {
		r->incarnation = incarnation;
		r->top = 0;
		r->bitmap = 0;
		ret = XW_REPLAY_NEW_INCARNATION;
	}
	if (seq > r->top) {
		uint64_t shift = seq - r->top;

		r->bitmap = shift >= 64 ? 0 : r->bitmap << shift;
		r->bitmap |= 1;
		r->top = seq;
		return ret;
	}
	if (r->top - seq >= 64)
		return XW_REPLAY_DUP;	/* too old to tell: treat as replay */
	if (r->bitmap & (1ULL << (r->top - seq)))
		return XW_REPLAY_DUP;
	r->bitmap |= 1ULL << (r->top - seq);
	return ret;
}
