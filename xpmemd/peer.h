/* SPDX-License-Identifier: GPL-2.0 */
/* Peer side, in: every fabric message, verified, then handled. */
#ifndef XPMEMD_PEER_H
#define XPMEMD_PEER_H

#include <stddef.h>

/* a fabric message (fab_recv_cb; arg: the struct dstate) */
void peer_rx(void *arg, const void *buf, size_t len);

#endif
