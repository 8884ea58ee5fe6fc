/* SPDX-License-Identifier: GPL-2.0 */
/* Kernel side, out: every message to /dev/xpmem_channel goes through here
 * and its queue (chanq.h); nothing waits for the kernel. */
#ifndef XPMEMD_KOUT_H
#define XPMEMD_KOUT_H

#include <stddef.h>
#include <stdint.h>

struct dstate;

/* the channel device (or a simulated kernel's socket), non-blocking */
int kout_open(const char *path);
/* a whole channel message, written now or queued, never waited for: 0, or
 * -ENOBUFS (dropped, counted), or the channel's error (the daemon stops) */
int kout_write(struct dstate *d, const void *buf, size_t n);
/* built from header fields, body and tail, then as kout_write */
int kout_send(struct dstate *d, uint16_t type, uint64_t seq, const void *body, size_t blen,
	      const void *tail, size_t tlen);
/* as kout_send (no tail), on peer p's behalf: while it waits in the
 * channel queue it counts in p->chan_queued (the caller caps that) */
struct peer;
int kout_send_for(struct dstate *d, struct peer *p, uint16_t type, uint64_t seq,
		  const void *body, size_t blen);
/* the channel is writable: what waits goes */
void kout_flush(struct dstate *d);

#endif
