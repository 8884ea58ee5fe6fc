/* SPDX-License-Identifier: GPL-2.0 */
/* Peer side, out: sealing messages for a peer's session and its send queue. */
#ifndef XPMEMD_POUT_H
#define XPMEMD_POUT_H

#include <stddef.h>
#include <stdint.h>

#include "sendq.h"

struct dstate;
struct peer;

struct peer *peer_find(struct dstate *d, uint32_t id);
/* a message to a peer could not be sent (sendq.h's drop callback, arg: d) */
void pout_dropped(void *arg, const struct sq_meta *m, enum sq_why why);
/* A sealed message in p's session; none yet: not sent (-ENOTCONN; what
 * matters is re-sent: invalidations, heartbeats). m: NULL, or what a lost
 * reply needs undone. */
int pout_send_m(struct dstate *d, struct peer *p, struct sq_meta *m, uint16_t type,
		const void *body, size_t blen, const void *tail, size_t tlen);
int pout_send(struct dstate *d, struct peer *p, uint16_t type, const void *body,
	      size_t blen, const void *tail, size_t tlen);
/* HELLO: our incarnation and ephemeral key, and p's ephemeral as we know it */
int pout_hello(struct dstate *d, struct peer *p);
/* every peer's send queue: what the provider takes now goes */
void pout_flush(struct dstate *d);
/* monotonic ns of the earliest send-queue retry (UINT64_MAX: none) */
uint64_t pout_next(struct dstate *d);

#endif
