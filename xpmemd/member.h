/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Membership: the configured peers, their HELLOs, sessions and
 * incarnations, heartbeats and deaths, fences, peers added at runtime.
 */
#ifndef XPMEMD_MEMBER_H
#define XPMEMD_MEMBER_H

#include <stddef.h>
#include <stdint.h>

struct dstate;
struct peer;
struct peer_conf;
struct xw_msg;

/* the configured peers, their keys checked and windows resolved (before the
 * channel): 0, or -1 (logged) */
int member_init(struct dstate *d);
/* their fabric addresses (once the fabric is open): 0, or -1 (logged) */
int member_setup(struct dstate *d);
/* a [peer N] added at runtime: key checks, window, fabric address, PEER_WINDOW,
 * HELLO; 0, or -1 (logged, nothing added) */
int member_add(struct dstate *d, const struct peer_conf *pc);
/* a HELLO claiming to be from p (docs/protocol.md 2.2) */
void member_hello(struct dstate *d, struct peer *p, const void *buf, size_t len,
		  const struct xw_msg *m);
/* a sealed message from p verified: p is live (and its session established) */
void member_heard(struct dstate *d, struct peer *p);
/* the heartbeat: HELLO or HEARTBEAT to every peer, deaths, PEER_RESET retries */
void member_heartbeat(struct dstate *d, uint64_t now);
/* the operator says node is down: 0, or -ENOENT (not a peer) */
int member_fence(struct dstate *d, uint32_t node, uint64_t *fenced_inc, uint32_t *released);
/* at exit (or a fuzz input's end): sessions wiped, send queues emptied,
 * the peer table freed */
void member_free_all(struct dstate *d);

#endif
