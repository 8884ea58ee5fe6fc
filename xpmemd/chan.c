// SPDX-License-Identifier: GPL-2.0
#include "chan.h"

#include <errno.h>
#include <string.h>

static const struct {
	size_t body;		/* fixed part */
	size_t elem;		/* size of one trailing element, 0 if none */
} layout[XPMEM_CHAN_TYPE_MAX + 1] = {
	[XPMEM_CHAN_INVALIDATE]   = { sizeof(struct xpmem_chan_invalidate), sizeof(__u32) },
	[XPMEM_CHAN_ACKED]        = { sizeof(struct xpmem_chan_acked), 0 },
	[XPMEM_CHAN_TIMED_OUT]    = { sizeof(struct xpmem_chan_timed_out), sizeof(__u32) },
	[XPMEM_CHAN_REMOTE_FAULT] = { sizeof(struct xpmem_chan_remote_fault), 0 },
	[XPMEM_CHAN_FAULT_REPLY]  = { sizeof(struct xpmem_chan_frames), sizeof(struct xpmem_chan_extent) },
	[XPMEM_CHAN_RESOLVE]      = { sizeof(struct xpmem_chan_resolve), 0 },
	[XPMEM_CHAN_RESOLVED]     = { sizeof(struct xpmem_chan_frames), sizeof(struct xpmem_chan_extent) },
	[XPMEM_CHAN_ZAP]          = { sizeof(struct xpmem_chan_zap), 0 },
	[XPMEM_CHAN_ZAP_DONE]     = { sizeof(struct xpmem_chan_status), 0 },
	[XPMEM_CHAN_HELLO]        = { sizeof(struct xpmem_chan_hello), 0 },
	[XPMEM_CHAN_HELLO_REPLY]  = { sizeof(struct xpmem_chan_hello), 0 },
	[XPMEM_CHAN_PEER_ACKED]   = { sizeof(struct xpmem_chan_peer_acked), 0 },
	[XPMEM_CHAN_PEER_RESET]   = { sizeof(struct xpmem_chan_peer_reset), 0 },
	[XPMEM_CHAN_QUERY]        = { sizeof(struct xpmem_chan_query), 0 },
	[XPMEM_CHAN_QUERY_REPLY]  = { sizeof(struct xpmem_chan_query_reply), sizeof(struct xpmem_chan_record) },
	[XPMEM_CHAN_REMOTE_GET]   = { sizeof(struct xpmem_chan_get), 0 },
	[XPMEM_CHAN_REMOTE_GET_REPLY] = { sizeof(struct xpmem_chan_get_reply), 0 },
	[XPMEM_CHAN_CHECK_GET]    = { sizeof(struct xpmem_chan_get), 0 },
	[XPMEM_CHAN_CHECK_GET_REPLY] = { sizeof(struct xpmem_chan_get_reply), 0 },
	[XPMEM_CHAN_PEER_WINDOW]  = { sizeof(struct xpmem_chan_peer_window), 0 },
	[XPMEM_CHAN_PEER_WINDOW_DONE] = { sizeof(struct xpmem_chan_status), 0 },
	[XPMEM_CHAN_REMOTE_RELEASE] = { sizeof(struct xpmem_chan_release), 0 },
	[XPMEM_CHAN_RELEASE_GRANT] = { sizeof(struct xpmem_chan_release), 0 },
	[XPMEM_CHAN_RELEASE_GRANT_DONE] = { sizeof(struct xpmem_chan_status), 0 },
};

const char *chan_type_name(int type)
{
	static const char *names[XPMEM_CHAN_TYPE_MAX + 1] = {
		"?", "INVALIDATE", "ACKED", "TIMED_OUT", "REMOTE_FAULT",
		"FAULT_REPLY", "RESOLVE", "RESOLVED", "ZAP", "ZAP_DONE",
		"HELLO", "HELLO_REPLY", "PEER_ACKED", "PEER_RESET", "QUERY",
		"QUERY_REPLY", "REMOTE_GET", "REMOTE_GET_REPLY", "CHECK_GET",
		"CHECK_GET_REPLY", "PEER_WINDOW", "PEER_WINDOW_DONE",
		"REMOTE_RELEASE", "RELEASE_GRANT", "RELEASE_GRANT_DONE",
	};
	if (type < 1 || type > XPMEM_CHAN_TYPE_MAX || !names[type])
		return "?";
	return names[type];
}

int chan_validate(const void *buf, size_t n)
{
	struct xpmem_chan_hdr h;
	const char *body = (const char *)buf + sizeof(h);
	size_t blen, count, max;
	__u32 c32;

	if (n < sizeof(h) || n > XPMEM_CHAN_MAX_MSG)
		return -EBADMSG;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != XPMEM_CHAN_MAGIC || h.version != XPMEM_CHAN_VERSION)
		return -EPROTO;
	if (h.len != n || h.flags != 0)
		return -EBADMSG;
	if (h.type < 1 || h.type > XPMEM_CHAN_TYPE_MAX || !layout[h.type].body)
		return -EBADMSG;	/* a type this build does not know */
	blen = n - sizeof(h);
	if (blen < layout[h.type].body)
		return -EBADMSG;
	if (!layout[h.type].elem)
		return blen == layout[h.type].body ? h.type : -EBADMSG;

	/* every variable-length body has its __u32 count at offset 4 or 32 */
	switch (h.type) {
	case XPMEM_CHAN_INVALIDATE:
		memcpy(&c32, body + offsetof(struct xpmem_chan_invalidate, npeers), 4);
		max = XPMEM_CHAN_MAX_PEERS;
		break;
	case XPMEM_CHAN_TIMED_OUT:
		memcpy(&c32, body + offsetof(struct xpmem_chan_timed_out, nmissing), 4);
		max = XPMEM_CHAN_MAX_PEERS;
		break;
	case XPMEM_CHAN_QUERY_REPLY:
		memcpy(&c32, body + offsetof(struct xpmem_chan_query_reply, nrecords), 4);
		max = XPMEM_CHAN_MAX_RECORDS;
		break;
	default: /* FAULT_REPLY, RESOLVED */
		memcpy(&c32, body + offsetof(struct xpmem_chan_frames, nextents), 4);
		max = XPMEM_CHAN_MAX_EXTENTS;
		break;
	}
	count = c32;
	if (count > max)
		return -EBADMSG;
	if (blen != layout[h.type].body + count * layout[h.type].elem)
		return -EBADMSG;
	return h.type;
}

size_t chan_build(void *buf, uint16_t type, uint64_t seq, const void *body,
		  size_t body_len, const void *tail, size_t tail_len)
{
	struct xpmem_chan_hdr h = {
		.magic = XPMEM_CHAN_MAGIC,
		.version = XPMEM_CHAN_VERSION,
		.type = type,
		.len = (__u32)(sizeof(h) + body_len + tail_len),
		.flags = 0,
		.seq = seq,
	};
	char *p = buf;

	memcpy(p, &h, sizeof(h));
	if (body_len)
		memcpy(p + sizeof(h), body, body_len);
	if (tail_len)
		memcpy(p + sizeof(h) + body_len, tail, tail_len);
	return h.len;
}
