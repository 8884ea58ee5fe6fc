/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The stateful fuzzers' harness: one daemon core (xpmemd's kernel side, peer
 * side, membership, pending requests, stats) with the fabric and the clock
 * stubbed and the channel a socketpair, built afresh for every input and
 * torn down after it (so a crash reproduces from its input alone, and
 * LeakSanitizer sees whatever an input leaves behind). Fake peers hold
 * real keys: their HELLOs are signed and their messages sealed, so the
 * input reaches the handlers, not just the parsers.
 */
#ifndef XPMEMD_FUZZ_STATE_H
#define XPMEMD_FUZZ_STATE_H

#include <stddef.h>
#include <stdint.h>

struct dstate;

struct fz {
	const uint8_t *p;
	size_t n;
};

/* a fresh core: node 1, peers 2..4, sessions established */
struct dstate *fz_setup(void);
/* everything freed, fds closed */
void fz_teardown(struct dstate *d);
/* one operation taken from the input (kernel message, peer message, HELLO,
 * time passing, fence, a full channel, a busy provider, stats, a peer
 * added); 0 while input is left */
int fz_step(struct dstate *d, struct fz *in);
uint8_t fz_u8(struct fz *in);
uint32_t fz_u32(struct fz *in);
void fz_bytes(struct fz *in, void *out, size_t n);

#endif
