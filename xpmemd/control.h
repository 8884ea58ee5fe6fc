/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The control plane (gRPC Management on a unix socket). It reaches the
 * daemon's core only through struct core_ops, run on the main thread from
 * control_event; the core answers a QUERY through control_query_reply.
 */
#ifndef XPMEMD_CONTROL_H
#define XPMEMD_CONTROL_H

#include <stdint.h>
#include <xpmem/xpmem_channel.h>

struct control;
struct xconfig;
struct stats_pod;

struct core_ops {
	/* a copy of the stats (stats_capture; NULL: out of memory) */
	struct stats_pod *(*snapshot)(void *core);
	/* member_fence: 0, or -errno */
	int (*fence)(void *core, uint32_t node, uint64_t *fenced_inc, uint32_t *released);
	/* a QUERY to the kernel (through its queue), *seq set: 0, or -errno;
	 * its answer comes to control_query_reply */
	int (*query)(void *core, uint64_t *seq, const struct xpmem_chan_query *q);
};

/* Start the gRPC servers (*c set even on failure: control_stop it); returns
 * an fd for the main loop's epoll, or -1. */
int control_start(struct control **c, const struct xconfig *cfg, const struct core_ops *ops,
		  void *core);
/* Main thread: the fd is readable; run queued control jobs. */
void control_event(struct control *c);
/* Main thread: a QUERY_REPLY arrived from the kernel (arg: the control). */
void control_query_reply(void *arg, uint64_t seq, const struct xpmem_chan_query_reply *r);
void control_stop(struct control *c);

#endif
