/* SPDX-License-Identifier: GPL-2.0 */
/* xpmemd core state: the loop's, the kernel side's and the peer side's (not
 * the control plane's: it reaches the core through control.h's operations). */
#ifndef XPMEMD_STATE_H
#define XPMEMD_STATE_H

#include <jansson.h>
#include <rdma/fabric.h>
#include <stddef.h>
#include <stdint.h>

#include "chanq.h"
#include "config.h"
#include "counters.h"
#include "keys.h"
#include "sendq.h"
#include "timerq.h"
#include "wire.h"
#include <xpmem/xpmem_channel.h>

struct kheld;

struct peer {
	uint32_t id;
	char address[128];
	char window[128];	/* as configured */
	uint64_t win_base, win_size;	/* resolved; size 0: no window */
	fi_addr_t addr;
	uint8_t pk[KEYS_PK_LEN];	/* its identity (configured public_key) */
	/* handshake: from its newest validly signed HELLO (docs/protocol.md 2.2) */
	uint64_t hello_inc;	/* its incarnation; HELLOs of older ones are stale */
	uint8_t eph[XW_KX_LEN];	/* its ephemeral key (zeros: none, or fenced) */
	/* session: keys derived from both ephemerals; established once it
	 * proved it knows ours (a HELLO echoing it, or a sealed message) */
	int has_session, established;
	struct xw_session sess;
	uint64_t tx_seq;	/* our seq in this session (the nonce) */
	uint64_t hello_answered;	/* monotonic ns of our last answer to a HELLO */
	uint8_t hello_hash[32];	/* BLAKE2b of the last HELLO that verified (duplicates) */
	uint64_t inc_adopted;	/* monotonic ns we last adopted a new incarnation (0: never) */
	uint64_t inc_interval;	/* ns until the next may be adopted (backoff) */
	uint64_t verify_window;	/* monotonic ns: start of the HELLO signature budget's second */
	uint32_t verify_count;	/* HELLO signatures checked in that second */
	uint64_t warn_at, warn_suppressed;	/* rate-limited warnings about p's HELLOs */
	struct xw_replay rp;	/* its (incarnation, seq) window in this session */
	uint64_t incarnation;	/* last announced to the kernel (PEER_RESET) */
	uint64_t last_heard;	/* monotonic ns, verified sealed traffic only */
	int alive;
	uint64_t rx, tx;
	struct sendq sq;	/* what the provider could not take yet (sendq.h) */
	uint32_t n_dreqs;	/* its requests pending at our kernel (cap: max_pending_per_peer) */
	uint32_t n_rfaults;	/* our kernel's requests pending at it (same cap) */
	uint32_t chan_queued;	/* its RELEASE_GRANTs waiting in d->chq (same cap) */
	uint64_t release_warn_at;	/* last warning about dropped RELEASEs */
	int reset_pending;	/* PEER_RESET not taken by the channel: re-sent */
	uint64_t refuse_warn_at;	/* monotonic ns of the last warning about the cap */
	uint64_t ack_warn_at;	/* last warning about its ACKs with an error */
};

/* An INVALIDATE from the local kernel: pending, or timed out and waiting
 * for late acks (which become PEER_ACKED). */
enum { T_INVAL = 1, T_DREQ, T_RFAULT };	/* tnode.kind */
#define TNODE_OWNER(t, type) ((type *)((char *)(t) - offsetof(type, tn)))

struct inval {
	struct inval *next;
	struct tnode tn;	/* min(deadline while pending, next_retx) */
	uint64_t gen, kseq;
	int64_t segid;
	uint64_t start, len;
	uint32_t n, remaining;
	uint32_t *peers;
	uint8_t *acked;
	uint64_t deadline;
	uint64_t next_retx;	/* re-send to peers that have not acked */
	uint64_t t0;		/* monotonic ns: INVALIDATE from the kernel (stats) */
	int timed_out;
};

/* A request the daemon made to its kernel on behalf of a peer. */
enum { DREQ_ZAP = 1, DREQ_RESOLVE = 2, DREQ_CHECK_GET = 3, DREQ_WINDOW = 4 };
struct dreq {
	struct dreq *next;
	struct tnode tn;	/* deadline, if any */
	int kind;
	uint64_t dseq;
	uint32_t peer;
	uint64_t gen;		/* ZAP: generation to ack */
	uint64_t req_id;	/* RESOLVE, CHECK_GET: peer's request id */
	uint64_t peer_inc;	/* requester's incarnation, echoed in the answer */
	int64_t segid;		/* CHECK_GET: the grant to undo if the reply is lost */
	uint32_t flags;
	uint64_t deadline;	/* monotonic ns (0: none, our own request at startup) */
	int own;		/* our own request after startup (ZAP_OWNER, a new
				 * peer's window): a deadline, no peer's cap */
	/* RESOLVE: what was asked, so that the same request asked again while
	 * our kernel still holds it waits for that one (waiter, waits_for its
	 * dseq) instead of taking another kernel RESOLVE slot */
	uint64_t start, len, owner_instance;
	uint32_t access;
	int waiter;
	uint64_t waits_for;
	int held;		/* counted in n_held_resolves */
	int expired;		/* the peer was answered ETIMEDOUT; waiting out a late reply */
	int zap_all;
	int zap_owner;		/* ZAP_OWNER of a dead peer: nobody to ack */
	uint64_t t0;		/* monotonic ns: made (stats) */
};

/* A REMOTE_FAULT (or REMOTE_GET) of the local kernel waiting for the
 * owner's reply. */
struct rfault {
	struct rfault *next;
	struct tnode tn;	/* deadline */
	int get;		/* REMOTE_GET: answered with REMOTE_GET_REPLY */
	uint64_t req_id, kseq;
	uint32_t owner;
	uint64_t deadline;
	uint64_t t0;		/* monotonic ns: made (stats) */
};

/* the epoll data.u32 of each fd in the loop's set (daemon.c); kout.c
 * re-arms EV_CHAN's EPOLLOUT */
enum { EV_CHAN = 1, EV_FAB, EV_SIG, EV_CONTROL, EV_WATCHDOG };

struct dstate {
	struct xconfig *cfg;
	uint8_t sign_pk[KEYS_PK_LEN], sign_sk[KEYS_SK_LEN];	/* node identity */
	uint8_t eph_pk[XW_KX_LEN], eph_sk[XW_KX_LEN];	/* this run's crypto_kx pair */
	uint64_t incarnation;	/* persisted counter (state_dir/incarnation) */
	uint64_t kernel_instance;	/* our kernel's incarnation (HELLO_REPLY) */
	uint64_t hello_seq;
	uint64_t dseq;
	uint64_t next_req_id;
	uint64_t start;
	int chan_fd, epfd;
	int chan_sock;		/* channel is a simulated kernel's socket */
	struct chanq chq;	/* messages waiting for the channel to take them */
	int chan_pollout;	/* EPOLLOUT set on chan_fd */
	uint64_t chan_warn_at;	/* last warning about a full channel queue */
	uint64_t reply_warn_at;	/* last warning about a lost reply */
	struct fab *fab;
	int npeers;
	struct peer *peers;
	struct inval *invals;	/* newest first */
	int n_pending, n_timed_out;
	struct dreq *dreqs;
	struct rfault *rfaults;
	int n_dreqs, n_rfaults;
	int n_held_resolves;	/* expired RESOLVEs our kernel still holds (waiters may wait) */
	struct timerq tq;	/* every inval, dreq and rfault deadline */
	uint64_t expire_warn_at;	/* last warning about a request our kernel did not answer */
	uint64_t next_heartbeat;
	uint64_t next_stats_write;
	int dirty, fatal;
	/* ready: the kernel handshake ended and the fabric is up (daemon.c);
	 * until then kernel messages other than its answers wait in held */
	int ready, ready_hello, ready_zapped, windows_pending;
	uint64_t start_deadline;	/* the handshake's answers are due by */
	struct kheld *held, **held_tail;
	unsigned int n_held;
	struct dstats st;
	struct control *control;	/* control plane (gRPC) state */
	struct statsw *statsw;	/* the stats file's writer (NULL: no file) */
	/* a QUERY_REPLY from the kernel goes here (set with the control plane) */
	void (*query_reply)(void *arg, uint64_t seq, const struct xpmem_chan_query_reply *r);
	void *query_arg;
};

#endif
