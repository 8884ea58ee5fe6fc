// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: network message parser (xw_parse), HELLO verification,
 * opening sealed messages, and the replay window. Inputs with bit 0 of the
 * first byte set are sealed under the fuzz key first (bit 1: as a HELLO,
 * signed), so the fuzzer also explores the checks behind authentication.
 */
#include <stdint.h>
#include <string.h>
#include <sodium.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[XW_KEY_LEN] = "fuzz-key-fuzz-key-fuzz-key-fuzz";
	static uint8_t pk[32], sk[64], buf[XW_MAX_MSG + 64], plain[XW_MAX_MSG];
	static struct xw_replay rp;
	static int init;
	volatile uint64_t sink = 0;
	struct xw_msg m;
	size_t n = size > XW_MAX_MSG ? XW_MAX_MSG : size;

	if (!init) {
		if (sodium_init() < 0)
			return 0;
		crypto_sign_seed_keypair(pk, sk, key);
		init = 1;
	}
	memcpy(buf, data, n);
	if (n >= sizeof(struct xw_hdr) && (data[0] & 1)) {
		struct xw_hdr h;

		memcpy(&h, buf, sizeof(h));
		if (data[0] & 2) {
			struct xw_hello hl;

			memset(&hl, 0, sizeof(hl));
			memcpy(&hl, buf + sizeof(h), n - sizeof(h) < sizeof(hl) ? n - sizeof(h) :
			       sizeof(hl));
			n = xw_hello_build(buf, sk, h.src, h.dst, h.incarnation, h.seq, &hl);
		} else {
			n = xw_seal(buf, key, h.session, h.type, h.src, h.dst, h.incarnation, h.seq,
				    data + sizeof(h), n - sizeof(h), NULL, 0);
		}
		if (!n)
			return 0;
	}
	if (xw_parse(buf, n, &m) != XW_OK)
		return 0;
	if (m.hdr.type == XW_HELLO) {
		if (xw_hello_verify(buf, &m, pk) != XW_OK)
			return 0;
	} else if (xw_open(buf, key, plain, &m) != XW_OK) {
		return 0;
	}
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
