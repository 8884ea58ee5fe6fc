// SPDX-License-Identifier: GPL-2.0
/* libFuzzer target: kernel<->daemon channel decoder (chan_validate). */
#include <stdint.h>
#include <string.h>

#include "chan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[XPMEM_CHAN_MAX_MSG + 64] __attribute__((aligned(8)));
	volatile uint64_t sink = 0;
	int t;

	if (size > sizeof(buf))
		size = sizeof(buf);
	memcpy(buf, data, size);
	/* let the fuzzer skip the boring header: fix it up on request */
	if (size >= sizeof(struct xpmem_chan_hdr) && (data[0] & 1)) {
		struct xpmem_chan_hdr *h = (void *)buf;
		h->magic = XPMEM_CHAN_MAGIC;
		h->version = XPMEM_CHAN_VERSION;
		h->len = (uint32_t)size;
		h->flags = 0;
	}
	t = chan_validate(buf, size);
	if (t <= 0)
		return 0;
	/* a validated message: every element the counts promise is readable */
	{
		void *b = chan_body(buf);
		switch (t) {
		case XPMEM_CHAN_INVALIDATE: {
			struct xpmem_chan_invalidate *m = b;
			for (uint32_t i = 0; i < m->npeers; i++)
				sink += m->peers[i];
			break;
		}
		case XPMEM_CHAN_TIMED_OUT: {
			struct xpmem_chan_timed_out *m = b;
			for (uint32_t i = 0; i < m->nmissing; i++)
				sink += m->missing[i];
			break;
		}
		case XPMEM_CHAN_QUERY_REPLY: {
			struct xpmem_chan_query_reply *m = b;
			for (uint32_t i = 0; i < m->nrecords; i++)
				sink += m->records[i].len + m->records[i].peer;
			break;
		}
		case XPMEM_CHAN_FAULT_REPLY:
		case XPMEM_CHAN_RESOLVED: {
			struct xpmem_chan_frames *m = b;
			for (uint32_t i = 0; i < m->nextents; i++)
				sink += m->extents[i].phys + m->extents[i].len;
			break;
		}
		}
	}
	(void)sink;
	return 0;
}
