// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: network message decoder (xw_decode) and replay window.
 * Inputs with bit 0 of the first byte set get a valid MAC appended, so the
 * fuzzer also explores the body checks behind authentication.
 */
#include <stdint.h>
#include <string.h>
#include <sodium.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[XW_KEY_LEN] = "fuzz-key-fuzz-key-fuzz-key-fuzz";
	static uint8_t buf[XW_MAX_MSG + XW_MAC_LEN];
	static struct xw_replay rp;
	volatile uint64_t sink = 0;
	struct xw_msg m;
	size_t n = size > XW_MAX_MSG ? XW_MAX_MSG : size;

	memcpy(buf, data, n);
	if (n && (data[0] & 1)) {
		if (n >= sizeof(struct xw_hdr)) {
			struct xw_hdr *h = (void *)buf;
			h->magic = XW_MAGIC;
			h->version = XW_VERSION;
			h->len = (uint32_t)(n + XW_MAC_LEN);
		}
		crypto_auth(buf + n, buf, n, key);
		n += XW_MAC_LEN;
	}
	if (xw_decode(buf, n, key, &m) != XW_OK)
		return 0;
	xw_replay_check(&rp, m.hdr.incarnation, m.hdr.seq);
	if (m.hdr.type == XW_FAULT_REPLY) {
		const struct xw_fault_reply *r = m.body;
		for (uint32_t i = 0; i < r->nextents; i++)
			sink += r->extents[i].phys ^ r->extents[i].len;
	} else {
		for (size_t i = 0; i < m.body_len; i++)
			sink += ((const uint8_t *)m.body)[i];
	}
	(void)sink;
	return 0;
}
