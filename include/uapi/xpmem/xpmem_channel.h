/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * The kernel <-> xpmemd channel.
 *
 * The kernel module exposes a character device; xpmemd read()s kernel
 * requests, write()s replies and requests of its own, and poll()s for
 * readability. Every read() returns exactly one message and every write()
 * carries exactly one message (record semantics). The simulated kernel used
 * by the daemon tests speaks the identical byte format over an AF_UNIX
 * SOCK_SEQPACKET socket, so the daemon's channel code is the same for both.
 *
 * Layout: struct xpmem_chan_hdr followed by a type-specific body. All fields
 * are fixed width, naturally aligned, in host byte order (the channel never
 * leaves the node). hdr.len is the total size including the header.
 *
 * Requests carry a sequence number chosen by the sender (hdr.seq); the reply
 * echoes it. Requests of the kernel and of the daemon use separate sequence
 * spaces, told apart by the message type.
 *
 *   kernel -> daemon                       daemon -> kernel
 *   INVALIDATE      -> ACKED | TIMED_OUT
 *   REMOTE_FAULT    -> FAULT_REPLY
 *                                          HELLO        -> HELLO_REPLY
 *                                          RESOLVE      -> RESOLVED
 *                                          ZAP          -> ZAP_DONE
 *                                          PEER_ACKED   (notification)
 *                                          PEER_RESET   (notification)
 *                                          QUERY        -> QUERY_REPLY
 *   REMOTE_GET      -> REMOTE_GET_REPLY
 *                                          CHECK_GET    -> CHECK_GET_REPLY
 *                                          PEER_WINDOW  -> PEER_WINDOW_DONE
 *   REMOTE_RELEASE  (notification)
 *                                          RELEASE_GRANT -> RELEASE_GRANT_DONE
 *
 * One INVALIDATE covers an arbitrary [start, start + len) range of one
 * segment and any number of peers (up to XPMEM_CHAN_MAX_PEERS): the kernel
 * batches; the daemon fans out and collects.
 */
#ifndef _UAPI_XPMEM_CHANNEL_H
#define _UAPI_XPMEM_CHANNEL_H

#include <linux/types.h>

#define XPMEM_CHAN_MAGIC	0x584d4348	/* "XMCH" */
/*
 * 2: REMOTE_FAULT, RESOLVE, REMOTE_GET_REPLY/CHECK_GET_REPLY and
 * REMOTE_RELEASE/RELEASE_GRANT carry owner_instance.
 */
#define XPMEM_CHAN_VERSION	2

#define XPMEM_CHAN_DEVICE_NAME	"xpmem_channel"

/* Upper bounds a receiver enforces before trusting counts. */
#define XPMEM_CHAN_MAX_PEERS	1024
/* a 2 MiB fault window of scattered 4 KiB pages (512 pages) */
#define XPMEM_CHAN_MAX_EXTENTS	512
#define XPMEM_CHAN_MAX_RECORDS	256
#define XPMEM_CHAN_MAX_MSG	(16 * 1024)

/* The numbers are the ABI; the direction and body of each: xpmem_chan_msgs.h. */
enum xpmem_chan_type {
	XPMEM_CHAN_INVALIDATE	= 1,
	XPMEM_CHAN_ACKED	= 2,
	XPMEM_CHAN_TIMED_OUT	= 3,
	XPMEM_CHAN_REMOTE_FAULT	= 4,
	XPMEM_CHAN_FAULT_REPLY	= 5,
	XPMEM_CHAN_RESOLVE	= 6,
	XPMEM_CHAN_RESOLVED	= 7,
	XPMEM_CHAN_ZAP		= 8,
	XPMEM_CHAN_ZAP_DONE	= 9,
	XPMEM_CHAN_HELLO	= 10,
	XPMEM_CHAN_HELLO_REPLY	= 11,
	XPMEM_CHAN_PEER_ACKED	= 12,
	XPMEM_CHAN_PEER_RESET	= 13,
	XPMEM_CHAN_QUERY	= 14,
	XPMEM_CHAN_QUERY_REPLY	= 15,
	XPMEM_CHAN_REMOTE_GET	= 16,
	XPMEM_CHAN_REMOTE_GET_REPLY = 17,
	XPMEM_CHAN_CHECK_GET	= 18,
	XPMEM_CHAN_CHECK_GET_REPLY = 19,
	XPMEM_CHAN_PEER_WINDOW	= 20,
	XPMEM_CHAN_PEER_WINDOW_DONE = 21,
	XPMEM_CHAN_REMOTE_RELEASE = 22,
	XPMEM_CHAN_RELEASE_GRANT = 23,
	XPMEM_CHAN_RELEASE_GRANT_DONE = 24,
	XPMEM_CHAN_TYPE_MAX	= 24,
};

/* Directions of the rows of xpmem_chan_msgs.h (XPMEM_CHAN_DIR_<dir>). */
#define XPMEM_CHAN_DIR_K2D	1	/* kernel -> daemon */
#define XPMEM_CHAN_DIR_D2K	2	/* daemon -> kernel */

/*
 * The direction and body layout of every type: xpmem_chan_msgs.h, one row
 * each, which the kernel and xpmemd both expand into their size checks.
 */

struct xpmem_chan_hdr {
	__u32 magic;		/* XPMEM_CHAN_MAGIC */
	__u16 version;		/* XPMEM_CHAN_VERSION */
	__u16 type;		/* enum xpmem_chan_type */
	__u32 len;		/* header + body, bytes */
	__u32 flags;		/* reserved, 0 */
	__u64 seq;		/* request id; echoed by the reply */
};

/* access bits (REMOTE_FAULT, RESOLVE) */
#define XPMEM_CHAN_ACCESS_READ	0x1
#define XPMEM_CHAN_ACCESS_WRITE	0x2
/*
 * Fault in every page of the range, not only the first (the importer's
 * access is sequential, or it fills a whole PMD). Without it the owner
 * faults in the first page and includes the following ones while present.
 */
#define XPMEM_CHAN_ACCESS_AHEAD	0x4

/*
 * INVALIDATE: the owner kernel revokes [start, start+len) of segid from the
 * listed peers. generation is unique and increasing per kernel boot; every
 * ack names it, so an ack for an older generation can never complete a newer
 * invalidation. Followed by npeers __u32 node ids.
 */
struct xpmem_chan_invalidate {
	__s64 segid;
	__u64 start;
	__u64 len;
	__u64 generation;
	__u32 npeers;
	__u32 reserved;
	__u32 peers[];
};

/* ACKED: every listed peer acknowledged generation. */
struct xpmem_chan_acked {
	__u64 generation;
};

/*
 * TIMED_OUT: ack_timeout expired; the peers listed (nmissing __u32 node ids)
 * did not ack. The kernel quarantines the pages: they are not reused until
 * PEER_ACKED / PEER_RESET clears every missing peer.
 */
struct xpmem_chan_timed_out {
	__u64 generation;
	__u32 nmissing;
	__u32 reserved;
	__u32 missing[];
};

/*
 * Owner instance: the owner kernel's incarnation (random at module load,
 * HELLO_REPLY's incarnation), which CHECK_GET_REPLY gives and the importer
 * keeps with its remote segment. Segment ids are reused by a rebooted owner
 * (low indices, a 16-bit tag), so every later message about the permit names
 * the instance too, and the owner's kernel refuses one naming another
 * instance (-ESTALE): a refault or release of a permit granted before the
 * owner rebooted can never reach a new segment that happens to have its id.
 */

/* REMOTE_FAULT: an importer on this node touched a remote segment. */
struct xpmem_chan_remote_fault {
	__s64 segid;
	__u64 start;
	__u64 len;
	__u32 owner;		/* node id owning segid */
	__u32 access;		/* XPMEM_CHAN_ACCESS_* */
	__u64 owner_instance;	/* the remote segment's (REMOTE_GET_REPLY) */
};

/*
 * RESOLVE: a remote importer (requester) asks for frames of a local segment.
 * The kernel records the mapping in its reverse map together with
 * requester_incarnation: mappings made by an incarnation are known to be
 * gone once the peer runs a newer one (see PEER_RESET).
 */
struct xpmem_chan_resolve {
	__s64 segid;
	__u64 start;
	__u64 len;
	__u32 requester;
	__u32 access;
	__u64 requester_incarnation;
	__u64 owner_instance;	/* must be this kernel's, else -ESTALE */
};

/* A physically contiguous run of shared memory. */
struct xpmem_chan_extent {
	__u64 phys;
	__u64 len;
};

/* FAULT_REPLY, RESOLVED: error is 0 or a negative errno. */
struct xpmem_chan_frames {
	__s32 error;
	__u32 nextents;
	struct xpmem_chan_extent extents[];
};

/*
 * ZAP: drop this node's mappings of [start, start+len) of owner's segid.
 * With XPMEM_CHAN_ZAP_ALL the kernel drops every remote mapping it holds
 * (used by a starting daemon before it announces a new incarnation); with
 * XPMEM_CHAN_ZAP_OWNER every mapping of owner's segments (segid, start and
 * len are ignored; sent when owner is declared dead: its frames may belong
 * to a rebooted kernel by now).
 */
#define XPMEM_CHAN_ZAP_ALL	0x1
#define XPMEM_CHAN_ZAP_OWNER	0x2
struct xpmem_chan_zap {
	__s64 segid;
	__u64 start;
	__u64 len;
	__u32 owner;
	__u32 flags;
};

struct xpmem_chan_status {
	__s32 error;
	__u32 reserved;
};

/* HELLO (d->k) and HELLO_REPLY (k->d). */
struct xpmem_chan_hello {
	__u32 node_id;
	__u32 reserved;
	__u64 incarnation;
};

/* PEER_ACKED: a peer acked generation after TIMED_OUT was sent. */
struct xpmem_chan_peer_acked {
	__u64 generation;
	__u32 peer;
	__u32 reserved;
};

/*
 * PEER_RESET: the daemon heard peer running incarnation (sent on first
 * contact and whenever it changes). Every mapping the peer made under an
 * older incarnation is gone (a starting daemon ZAP_ALLs before it talks), so
 * the kernel releases quarantine held for those mappings and does not
 * quarantine them on a later TIMED_OUT. As an importer, the kernel drops
 * every mapping of peer's segments: a new incarnation may be a rebooted
 * partition, whose frames its new kernel reuses (a later fault asks anew).
 */
struct xpmem_chan_peer_reset {
	__u64 incarnation;
	__u32 peer;
	__u32 reserved;
};

/*
 * QUERY: the daemon's control plane reads kernel state.
 *   SEGMENTS  every exported segment (record: segid, len = size, aux = phys
 *             base, flags = XPMEM_CHAN_REC_RDONLY)
 *   MAPPINGS  the reverse map (record: segid, start, len, peer, aux = the
 *             peer incarnation the mapping was made under); peer != 0 filters
 *   SEGMENT   one segment, permission-checked for a remote xpmem_get by
 *             peer with access (error -ENOENT / -EACCES)
 *   QUARANTINE  quarantined ranges (record: segid, start, len, aux =
 *             generation, peer = one missing peer, flags = peers missing)
 *   GRANTS    what CHECK_GET granted (record: segid, peer, aux = the peer
 *             incarnation, start = read-only permits, len = read-write
 *             permits, flags = XPMEM_CHAN_REC_RDONLY if no read-write one);
 *             peer != 0 filters
 *   FAILURES  the failure exits taken since the module was loaded, one
 *             record per reason taken at least once (record: flags = the
 *             reason's index in xpmem_fails.h, aux = the count)
 * Replies are paged: records [offset, offset + nrecords) of total.
 */
#define XPMEM_CHAN_Q_SEGMENTS	1
#define XPMEM_CHAN_Q_MAPPINGS	2
#define XPMEM_CHAN_Q_SEGMENT	3
#define XPMEM_CHAN_Q_QUARANTINE	4
#define XPMEM_CHAN_Q_GRANTS	5
#define XPMEM_CHAN_Q_FAILURES	6
struct xpmem_chan_query {
	__u32 what;
	__u32 peer;
	__s64 segid;
	__u32 access;
	__u32 offset;
};

#define XPMEM_CHAN_REC_RDONLY	0x1
struct xpmem_chan_record {
	__s64 segid;
	__u64 start;
	__u64 len;
	__u64 aux;
	__u32 peer;
	__u32 flags;
};

struct xpmem_chan_query_reply {
	__s32 error;
	__u32 nrecords;
	__u32 total;
	__u32 reserved;
	struct xpmem_chan_record records[];
};

/*
 * REMOTE_GET (k->d): xpmem_get on this node of a segid owned by node. The
 * daemon asks the owner's daemon (authenticated GET/GET_REPLY over the fabric),
 * which asks its kernel with
 * CHECK_GET (d->k) carrying the requester's node, its daemon's incarnation
 * and credentials; the owner kernel applies the permit-mode check of a local
 * get. uid/gid are cluster-wide (one user database, as on HPC clusters); a
 * remote uid 0 passes the mode only with XPMEM_CHAN_GET_ROOT_TRUSTED (the
 * owner's daemon configuration says so, remote_root = trusted).
 *
 * A CHECK_GET that succeeds records a grant on the segment: (requester,
 * incarnation) holds one more read-only or read-write permit. RESOLVE is
 * refused (-EACCES) beyond the requester's grant: without one, or WRITE with
 * read-only permits only. RELEASE_GRANT gives one permit back; PEER_RESET
 * drops the grants of older incarnations, segment removal all of its grants.
 * Grants are bounded per segment and per peer (-ENOSPC).
 */
#define XPMEM_CHAN_GET_ROOT_TRUSTED	0x1
struct xpmem_chan_get {
	__s64 segid;
	__u32 node;		/* REMOTE_GET: owner; CHECK_GET: requester */
	__u32 flags;		/* XPMEM_RDONLY / XPMEM_RDWR */
	__u32 uid;		/* fsuid of the getter */
	__u32 gid;		/* fsgid of the getter */
	__u32 check_flags;	/* CHECK_GET: XPMEM_CHAN_GET_*; REMOTE_GET: 0 */
	__u32 reserved;		/* 0 */
	__u64 incarnation;	/* CHECK_GET: requester's; REMOTE_GET: 0 */
};

/*
 * REMOTE_RELEASE (k->d, notification): a permit of this node on owner's
 * segid was released (xpmem_release, or its holder's exit/close); its
 * attachments are already zapped. incarnation is the one REMOTE_GET_REPLY
 * gave the permit: the daemon incarnation it was granted under. The daemon
 * drops a release of another incarnation than its own (that grant went with
 * the PEER_RESET of its restart) and tells the owner's daemon (RELEASE over
 * the fabric, with the incarnation), which drops it unless it is the
 * releasing peer's current one and sends RELEASE_GRANT (d->k) {segid, node =
 * the releasing peer, flags, incarnation} to its kernel: one permit of that
 * kind less of the grant of (peer, incarnation). When the peer has no read-write permit left its
 * write mappings of the segment are revoked, when it has none at all every
 * mapping of it: by an ordinary INVALIDATE to that peer (a peer's word that
 * it maps nothing is not enough to reuse a page). RELEASE_GRANT_DONE {0,
 * -EINVAL (bad fields, or no permit of that kind left), -ENOENT (no such
 * segment or grant)} comes before that INVALIDATE.
 */
struct xpmem_chan_release {
	__s64 segid;
	__u32 node;		/* REMOTE_RELEASE: owner; RELEASE_GRANT: peer */
	__u32 flags;		/* XPMEM_RDONLY / XPMEM_RDWR: the permit's */
	__u64 incarnation;	/* the permit's daemon incarnation (GET_REPLY) */
	__u64 owner_instance;	/* RELEASE_GRANT: must be this kernel's */
};

/*
 * REMOTE_GET_REPLY, CHECK_GET_REPLY: error 0 or -errno; size of the segment.
 * REMOTE_GET_REPLY: incarnation is the importer daemon's, which the grant is
 * recorded under; the kernel keeps it with the permit and REMOTE_RELEASE
 * names it. CHECK_GET_REPLY: 0.
 */
struct xpmem_chan_get_reply {
	__s32 error;
	__u32 reserved;
	__u64 size;
	__u64 incarnation;
	__u64 owner_instance;	/* the owner kernel's incarnation */
};

/*
 * PEER_WINDOW (d->k): where this node sees peer's memory: peer physical
 * address X is at local physical address base + X, for X < size (a CXL
 * window, or the ivshmem BAR2 in the emulated cluster). Frames a peer
 * resolves are mapped through it; frames outside it are refused.
 */
struct xpmem_chan_peer_window {
	__u32 peer;
	__u32 reserved;
	__u64 base;
	__u64 size;
};

/*
 * Notes on the kernel's side (xpmem.ko, see docs/kmod.md):
 * - Every range on the channel (REMOTE_FAULT, RESOLVE, INVALIDATE, ZAP,
 *   QUERY records) is a byte offset within the segment, page aligned.
 * - ACKED / TIMED_OUT are matched by generation only (seq is not looked at).
 * - RESOLVED may cover only a prefix of the range: the first page is
 *   faulted in (every page with XPMEM_CHAN_ACCESS_AHEAD, if they all can
 *   be), the following ones are included while present in the source (at
 *   most 512 pages and XPMEM_CHAN_MAX_EXTENTS extents: physically
 *   contiguous pages are one extent, so a THP is one); extents are in order
 *   from start. A daemon that cannot carry every extent passes on a prefix
 *   of them (fewer pages, never an error).
 *   FAULT_REPLY extents are mapped in order from the REMOTE_FAULT's start
 *   and must cover its first page; error -EAGAIN makes the importer refault.
 * - INVALIDATE names the union of the reverse-map entries it revokes, which
 *   can be wider than the change that caused it.
 * - Malformed messages fail write() with EINVAL; requests with bad fields get
 *   their reply with a negative errno.
 */

#endif /* _UAPI_XPMEM_CHANNEL_H */
