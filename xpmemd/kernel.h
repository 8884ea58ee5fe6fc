/* SPDX-License-Identifier: GPL-2.0 */
/* Kernel side, in: channel messages from /dev/xpmem_channel, handled. */
#ifndef XPMEMD_KERNEL_H
#define XPMEMD_KERNEL_H

#include <stddef.h>

#include <stdint.h>

struct dstate;

/* one channel message (validated here; malformed ones are counted) */
void kernel_dispatch(struct dstate *d, void *buf, size_t n);
/* what the channel has, up to a budget per call: 0, or -1 (the channel is gone) */
int kernel_read(struct dstate *d);
/*
 * Startup, without blocking the loop: kernel_start sends HELLO, ZAP_ALL
 * (every remote mapping of a previous incarnation goes before anybody hears
 * the new one) and a PEER_WINDOW per peer, and sets the deadline (10 s) for
 * their answers; until d->ready, kernel_read handles those answers and holds
 * every other kernel message (in order) for kernel_replay. 0, or -1 (logged).
 */
int kernel_start(struct dstate *d);
/* 1: every answer came; 0: not yet; -1: the deadline passed (logged) */
int kernel_started(struct dstate *d, uint64_t now);
/* (Re)arms the handshake's deadline: STARTUP_NS from @now. */
void kernel_wait_from(struct dstate *d, uint64_t now);
/* the held messages dispatched (dispatch: the fabric is up) or dropped, freed */
void kernel_replay(struct dstate *d, int dispatch);

#endif
