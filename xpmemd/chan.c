// SPDX-License-Identifier: GPL-2.0
#include "chan.h"

#include <errno.h>
#include <string.h>

/* The size rules of every type, from the rows the kernel expands too. */
static const struct {
	size_t body;		/* fixed part */
	size_t elem;		/* size of one trailing element, 0 if none */
	size_t count;		/* offset of the __u32 element count */
	size_t max;		/* most elements */
} layout[XPMEM_CHAN_TYPE_MAX + 1] = {
#define XPMEM_CHAN_FIXED(name, dir, type) \
	[XPMEM_CHAN_##name] = { sizeof(struct type), 0, 0, 0 },
#define XPMEM_CHAN_ARRAY(name, dir, type, cnt, arr, mx) \
	[XPMEM_CHAN_##name] = { sizeof(struct type), \
				sizeof(((struct type *)0)->arr[0]), \
				offsetof(struct type, cnt), mx },
#include <xpmem/xpmem_chan_msgs.h>
#undef XPMEM_CHAN_FIXED
#undef XPMEM_CHAN_ARRAY
};

/* Every count field is a __u32 (chan_validate() reads 4 bytes). */
#define XPMEM_CHAN_FIXED(name, dir, type)
#define XPMEM_CHAN_ARRAY(name, dir, type, cnt, arr, mx) \
	_Static_assert(sizeof(((struct type *)0)->cnt) == sizeof(__u32), \
		       #type "." #cnt " is not a __u32");
#include <xpmem/xpmem_chan_msgs.h>
#undef XPMEM_CHAN_FIXED
#undef XPMEM_CHAN_ARRAY

const char *chan_type_name(int type)
{
	static const char *names[XPMEM_CHAN_TYPE_MAX + 1] = {
#define XPMEM_CHAN_FIXED(name, dir, type) [XPMEM_CHAN_##name] = #name,
#define XPMEM_CHAN_ARRAY(name, dir, type, cnt, arr, mx) [XPMEM_CHAN_##name] = #name,
#include <xpmem/xpmem_chan_msgs.h>
#undef XPMEM_CHAN_FIXED
#undef XPMEM_CHAN_ARRAY
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

	memcpy(&c32, body + layout[h.type].count, sizeof(c32));
	max = layout[h.type].max;
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
