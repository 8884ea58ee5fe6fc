/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A rogue on the fabric, for the trust tests (tests/daemon/test_trust.c),
 * built on xpmemd's own wire and fabric code.
 *
 * relay: sits between two daemons. xpmemd never trusts the libfabric source
 *   address, so node A's [peer B] address can be the relay's port facing A
 *   and B's [peer A] the port facing B: the relay forwards every message
 *   unchanged while recording it, and can hold a direction, replay any
 *   recorded message, or inject its own bytes.
 * node: a node with a valid identity key of its own (a configured peer),
 *   speaking the protocol (HELLO handshake, sealed messages) and able to
 *   build messages that claim any other sender.
 */
#ifndef XPMEMD_TEST_ROGUE_H
#define XPMEMD_TEST_ROGUE_H

#include <stddef.h>
#include <stdint.h>

#include "fabric.h"
#include "keys.h"
#include "wire.h"

enum { RELAY_AB = 0, RELAY_BA = 1 };	/* A -> B, B -> A */

struct relay_rec {
	int dir;
	size_t len;
	struct xw_hdr hdr;	/* as sent (unverified) */
	uint8_t buf[XW_MAX_MSG];
};

struct relay {
	struct fab *face[2];	/* [RELAY_AB]: faces A (A sends here), [RELAY_BA]: faces B */
	fi_addr_t to[2];	/* [RELAY_AB]: B's real endpoint, [RELAY_BA]: A's */
	int pass[2];		/* forward this direction (default 1) */
	int record;		/* record (default 1) */
	struct relay_rec *rec;
	size_t nrec, cap;
	uint64_t forwarded[2], held[2];
	/* a lossy link (relay_chaos): percent of messages dropped, sent twice,
	 * or held back until the next one in that direction has passed */
	int loss_pct, dup_pct, reorder_pct;
	unsigned seed;
	struct relay_rec *stash[2];	/* a held-back message per direction */
	uint64_t stash_ms[2];
	uint64_t lost[2], duplicated[2], reordered[2];
};

/* port_a: the port A is told B is at; port_b: the port B is told A is at */
int relay_open(struct relay *r, int port_a, int port_b);
/* the daemons' real ports */
int relay_connect(struct relay *r, int real_a, int real_b);
void relay_progress(struct relay *r);
/* loss, duplication and reordering in percent (0, 0, 0: a clean link) */
void relay_chaos(struct relay *r, int loss_pct, int dup_pct, int reorder_pct, unsigned seed);
/* index of the last (nth >= 0: the nth, from 0) recorded message of type in
 * dir, with the header's incarnation inc (0: any); -1 if none */
long relay_find(struct relay *r, int dir, int type, uint64_t inc, long nth);
/* send recorded message idx again, in its direction */
int relay_replay(struct relay *r, long idx);
/* send bytes in a direction (RELAY_AB: to B, RELAY_BA: to A) */
int relay_inject(struct relay *r, int dir, const void *buf, size_t len);
void relay_close(struct relay *r);

struct rogue_peer {
	uint32_t id;
	fi_addr_t addr;
	uint8_t pk[KEYS_PK_LEN];
	uint64_t inc;		/* its incarnation (from its HELLO) */
	uint8_t eph[XW_KX_LEN];
	int has_session, established;
	struct xw_session sess;
	uint64_t tx_seq;
};

struct rogue_node {
	uint32_t id;
	uint64_t inc;
	struct fab *fab;
	uint8_t pk[KEYS_PK_LEN], sk[KEYS_SK_LEN];
	uint8_t eph_pk[XW_KX_LEN], eph_sk[XW_KX_LEN];
	struct rogue_peer peers[4];
	int npeers;
	uint64_t hello_seq;
	/* what it received, verified */
	int rx_count[XW_TYPE_MAX + 1];
	struct xw_hdr last_hdr;
	uint8_t last_body[XW_MAX_MSG];
	size_t last_len;
	uint64_t rx_bad;	/* did not verify */
};

/* a node with identity id (key file), incarnation inc, listening on port */
int rogue_node_open(struct rogue_node *n, uint32_t id, uint64_t inc, const char *keyfile,
		    int port);
int rogue_node_add_peer(struct rogue_node *n, uint32_t id, int port, const char *pub_b64);
struct rogue_peer *rogue_node_peer(struct rogue_node *n, uint32_t id);
/* receive: answers HELLOs like a daemon, opens sealed messages */
void rogue_node_progress(struct rogue_node *n);
int rogue_node_hello(struct rogue_node *n, uint32_t peer);
/* a sealed message in its session with peer (claiming to be itself) */
int rogue_node_send(struct rogue_node *n, uint32_t peer, uint16_t type, uint64_t seq,
		    const void *body, size_t len);
int rogue_node_send_raw(struct rogue_node *n, uint32_t peer, const void *buf, size_t len);
void rogue_node_close(struct rogue_node *n);

#endif
