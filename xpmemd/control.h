/* SPDX-License-Identifier: GPL-2.0 */
#ifndef XPMEMD_CONTROL_H
#define XPMEMD_CONTROL_H

#include <stdint.h>
#include <xpmem/xpmem_channel.h>

struct dstate;

/* Start the gRPC servers; returns an fd for the main loop's epoll, or -1. */
int control_start(struct dstate *d);
/* Main thread: the fd is readable; run queued control jobs. */
void control_event(struct dstate *d);
/* Main thread: a QUERY_REPLY arrived from the kernel. */
void control_query_reply(struct dstate *d, uint64_t seq, const struct xpmem_chan_query_reply *r);
void control_stop(struct dstate *d);

#endif
