/* SPDX-License-Identifier: GPL-2.0 */
/* Kernel side, in: channel messages from /dev/xpmem_channel, handled. */
#ifndef XPMEMD_KERNEL_H
#define XPMEMD_KERNEL_H

#include <stddef.h>

struct dstate;
struct kheld;

/* one channel message (validated here; malformed ones are counted) */
void kernel_dispatch(struct dstate *d, void *buf, size_t n);
/* what the channel has, up to a budget per call: 0, or -1 (the channel is gone) */
int kernel_read(struct dstate *d);
/*
 * Startup: HELLO, ZAP_ALL (every remote mapping of a previous incarnation
 * goes before anybody hears the new one) and a PEER_WINDOW per peer, then
 * wait (at most 10 s) for their answers; other kernel requests arriving
 * meanwhile are held (*held) until kernel_replay. 0, or -1 (logged).
 */
int kernel_handshake(struct dstate *d, struct kheld **held);
/* the held messages dispatched (the fabric is up), and freed */
void kernel_replay(struct dstate *d, struct kheld *held);

#endif
