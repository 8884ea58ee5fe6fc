/* SPDX-License-Identifier: GPL-2.0 */
/* Encoding and validation of kernel<->daemon channel messages. */
#ifndef XPMEMD_CHAN_H
#define XPMEMD_CHAN_H

#include <stddef.h>
#include <stdint.h>
#include <xpmem/xpmem_channel.h>

/*
 * Validate one received message of n bytes: magic, version, len == n, a
 * known type, a body of the right size and counts within limits and
 * consistent with len. Returns the type (> 0) or -EBADMSG / -EPROTO.
 */
int chan_validate(const void *buf, size_t n);

/* Build a message into buf (XPMEM_CHAN_MAX_MSG bytes); returns total length. */
size_t chan_build(void *buf, uint16_t type, uint64_t seq, const void *body,
		  size_t body_len, const void *tail, size_t tail_len);

static inline void *chan_body(void *buf)
{
	return (char *)buf + sizeof(struct xpmem_chan_hdr);
}

const char *chan_type_name(int type);

#endif
