/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Simulated kernel side of the xpmem channel, for daemon tests.
 *
 * Listens on an AF_UNIX SOCK_SEQPACKET socket and speaks exactly the
 * structs of <xpmem/xpmem_channel.h>, so xpmemd runs unmodified against it
 * (--channel SOCKET). It keeps what the module keeps: exported segments,
 * the reverse map (peer X maps range R of segment S, made under peer
 * incarnation I), the grants CHECK_GET recorded (peer, incarnation,
 * read-only and read-write permits; RESOLVE is refused beyond them), the
 * imports of this node, pending invalidations with a kernel-side timeout,
 * and the quarantine of pages whose invalidation was not acknowledged by
 * every peer.
 *
 * Single-threaded: tests call simk_pump() to move messages.
 */
#ifndef XPMEMD_SIMKERNEL_H
#define XPMEMD_SIMKERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <xpmem/xpmem_channel.h>

struct simk;

enum simk_inval_state { SIMK_NONE = 0, SIMK_PENDING, SIMK_ACKED, SIMK_TIMED_OUT };

struct simk_stats {
	uint64_t invalidations, acked, timed_out;
	uint64_t kernel_timeouts;	/* timed out by the kernel itself */
	uint64_t resolves, resolve_errors, zaps, zap_alls;
	uint64_t peer_acked, peer_resets, malformed, connects;
	uint64_t quarantine_entries, quarantine_pages;
	uint64_t check_gets, check_get_errors, windows;
	uint64_t release_grants, release_grant_errors;
	uint64_t ignored;	/* requests swallowed (simk_ignore) */
	uint64_t resolves_held;	/* RESOLVEs kept by simk_hold_resolves */
};

/* kernel_timeout_ms: how long the kernel waits for ACKED/TIMED_OUT itself. */
struct simk *simk_create(const char *sock_path, uint32_t node_id, uint32_t kernel_timeout_ms);
void simk_destroy(struct simk *k);
/* Run every simulated kernel for up to timeout_ms (returns earlier if idle
 * work was done and timeout_ms is 0). */
void simk_pump(struct simk **v, int n, int timeout_ms);
int simk_connected(struct simk *k);
void simk_get_stats(struct simk *k, struct simk_stats *s);

/* Owner side */
int simk_add_segment(struct simk *k, int64_t segid, uint64_t phys, uint64_t size, int rdonly);
/* Permit mode of a segment for CHECK_GET (default: uid 0, gid 0, 0666);
 * checked like a file owned by uid:gid; a remote uid 0 passes only with
 * XPMEM_CHAN_GET_ROOT_TRUSTED. */
int simk_set_segment_perm(struct simk *k, int64_t segid, uint32_t uid, uint32_t gid,
			  uint32_t mode);
size_t simk_rmap_count(struct simk *k);
/* Grants on segid: records (peer, incarnation) and, if peer != 0, that
 * peer's read-only / read-write permits over its incarnations. */
size_t simk_grant_count(struct simk *k, int64_t segid, uint32_t peer, uint32_t *nr_ro,
			uint32_t *nr_rw);
/* Remove a segment: its grants go, every mapping of it is invalidated
 * (returns that generation, 0 if nobody mapped it). */
uint64_t simk_remove_segment(struct simk *k, int64_t segid);
/* Invalidate a range: peers come from the reverse map. Returns the
 * generation (0 if no peer mapped the range: nothing to do). */
uint64_t simk_invalidate(struct simk *k, int64_t segid, uint64_t start, uint64_t len);
/* Invalidate towards an explicit peer list (mappings assumed from incarnation 0). */
uint64_t simk_invalidate_peers(struct simk *k, int64_t segid, uint64_t start, uint64_t len,
			       const uint32_t *peers, uint32_t npeers);
enum simk_inval_state simk_inval_state(struct simk *k, uint64_t gen);

/* Importer side */
/* Start a remote fault; returns an id for simk_fault_state. It names the owner
 * instance of the permit held on segid (else of the last get). */
uint64_t simk_remote_fault(struct simk *k, uint32_t owner, int64_t segid,
			   uint64_t start, uint64_t len, uint32_t access);
/* The same naming owner instance @inst. */
uint64_t simk_remote_fault_inst(struct simk *k, uint32_t owner, int64_t segid,
				uint64_t start, uint64_t len, uint32_t access,
				uint64_t inst);
/* This simulated kernel's instance (HELLO_REPLY, CHECK_GET_REPLY). */
uint64_t simk_instance(const struct simk *k);
/* 0 while pending, 1 done (error, extent count and first extent filled). */
int simk_fault_state(struct simk *k, uint64_t id, int *error, uint32_t *nextents,
		     struct xpmem_chan_extent *first);
size_t simk_import_count(struct simk *k);
/* xpmem_get of a remote segid (REMOTE_GET); returns an id for simk_get_state. */
uint64_t simk_remote_get(struct simk *k, uint32_t owner, int64_t segid, uint32_t flags,
			 uint32_t uid, uint32_t gid);
/* 0 while pending, 1 done (error and size filled), -1 unknown id. */
int simk_get_state(struct simk *k, uint64_t id, int *error, uint64_t *size);
/* xpmem_release of a permit of owner's segid (REMOTE_RELEASE): the oldest
 * one held of that kind, named by the incarnation its REMOTE_GET_REPLY gave
 * (none held: the last reply's incarnation). */
int simk_remote_release(struct simk *k, uint32_t owner, int64_t segid, uint32_t flags);
/* The window the daemon announced for peer (PEER_WINDOW): 0, or -1 if none. */
int simk_peer_window(struct simk *k, uint32_t peer, uint64_t *base, uint64_t *size);
/* Send raw bytes as one channel message (tests of the daemon's decoder). */
int simk_send_raw(struct simk *k, const void *buf, size_t n);
/* on: the kernel stops reading its channel (a kernel that is slow to take
 * messages: the daemon's writes fill the socket); off: reads again. */
void simk_stall(struct simk *k, int on);
/* on: requests of channel type `type` (e.g. XPMEM_CHAN_CHECK_GET) are
 * swallowed, never answered (a kernel that loses a reply). */
void simk_ignore(struct simk *k, int type, int on);
/* While held, a HELLO is kept unanswered (a kernel that answers late);
 * off: the held HELLO is answered now. simk_hello_held: one is waiting. */
void simk_hold_hello(struct simk *k, int hold);
int simk_hello_held(struct simk *k);
/* While on, QUERY FAILURES is answered EINVAL, as by a kernel without it. */
void simk_no_failures(struct simk *k, int on);
/* While held, ZAP requests are applied but ZAP_DONE is not sent. */
void simk_hold_zaps(struct simk *k, int hold);
/* While held, RESOLVEs are kept unanswered (resolves_held counts them);
 * released, they are answered in arrival order. */
void simk_hold_resolves(struct simk *k, int hold);

#endif
