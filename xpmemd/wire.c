// SPDX-License-Identifier: GPL-2.0
#include "wire.h"

#include <sodium.h>
#include <string.h>

_Static_assert(XW_MAC_LEN == crypto_auth_BYTES, "mac size");
_Static_assert(XW_KEY_LEN == crypto_auth_KEYBYTES, "key size");
_Static_assert(sizeof(struct xw_hdr) == 40, "xw_hdr layout");

static const struct {
	size_t body;
	size_t elem;
} layout[XW_TYPE_MAX + 1] = {
	[XW_HELLO]        = { 0, 0 },
	[XW_HEARTBEAT]    = { 0, 0 },
	[XW_INVALIDATE]   = { sizeof(struct xw_invalidate), 0 },
	[XW_ACK]          = { sizeof(struct xw_ack), 0 },
	[XW_REMOTE_FAULT] = { sizeof(struct xw_remote_fault), 0 },
	[XW_FAULT_REPLY]  = { sizeof(struct xw_fault_reply), sizeof(struct xpmem_chan_extent) },
	[XW_GET]          = { sizeof(struct xw_get), 0 },
	[XW_GET_REPLY]    = { sizeof(struct xw_get_reply), 0 },
};

const char *xw_type_name(int type)
{
	static const char *names[XW_TYPE_MAX + 1] = {
		"?", "HELLO", "HEARTBEAT", "INVALIDATE", "ACK", "REMOTE_FAULT",
		"FAULT_REPLY", "GET", "GET_REPLY",
	};
	return (type >= 1 && type <= XW_TYPE_MAX) ? names[type] : "?";
}

size_t xw_build(void *buf, const uint8_t key[XW_KEY_LEN], uint16_t type,
		uint32_t src, uint32_t dst, uint64_t incarnation, uint64_t seq,
		const void *body, size_t body_len, const void *tail, size_t tail_len)
{
	size_t total = sizeof(struct xw_hdr) + body_len + tail_len + XW_MAC_LEN;
	struct xw_hdr h = {
		.magic = XW_MAGIC, .version = XW_VERSION, .type = type,
		.len = (uint32_t)total, .src = src, .dst = dst,
		.incarnation = incarnation, .seq = seq,
	};
	unsigned char *p = buf;

	if (total > XW_MAX_MSG)
		return 0;
	memcpy(p, &h, sizeof(h));
	if (body_len)
		memcpy(p + sizeof(h), body, body_len);
	if (tail_len)
		memcpy(p + sizeof(h) + body_len, tail, tail_len);
	crypto_auth(p + total - XW_MAC_LEN, p, total - XW_MAC_LEN, key);
	return total;
}

int xw_decode(const void *buf, size_t n, const uint8_t key[XW_KEY_LEN],
	      struct xw_msg *out)
{
	const unsigned char *p = buf;
	struct xw_hdr h;
	size_t blen;

	if (n < sizeof(h) + XW_MAC_LEN || n > XW_MAX_MSG)
		return XW_EMALFORMED;
	memcpy(&h, p, sizeof(h));
	if (h.magic != XW_MAGIC || h.version != XW_VERSION || h.len != n ||
	    h.type < 1 || h.type > XW_TYPE_MAX)
		return XW_EMALFORMED;
	blen = n - sizeof(h) - XW_MAC_LEN;
	if (layout[h.type].elem) {
		uint32_t cnt;

		if (blen < layout[h.type].body)
			return XW_EMALFORMED;
		memcpy(&cnt, p + sizeof(h) + offsetof(struct xw_fault_reply, nextents), 4);
		if (cnt > XW_MAX_EXTENTS ||
		    blen != layout[h.type].body + (size_t)cnt * layout[h.type].elem)
			return XW_EMALFORMED;
	} else if (blen != layout[h.type].body) {
		return XW_EMALFORMED;
	}
	if (crypto_auth_verify(p + n - XW_MAC_LEN, p, n - XW_MAC_LEN, key) != 0)
		return XW_EFORGED;
	out->hdr = h;
	out->body = p + sizeof(h);
	out->body_len = blen;
	return XW_OK;
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
