/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xpmemd <-> xpmemd messages carried over libfabric (see docs/protocol.md).
 *
 * header | body | MAC. The MAC is libsodium crypto_auth (HMAC-SHA-512-256)
 * over header and body, keyed with the cluster secret. Fields are
 * little-endian host structs (x86_64/aarch64 clusters only).
 */
#ifndef XPMEMD_WIRE_H
#define XPMEMD_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <xpmem/xpmem_channel.h>

#define XW_MAGIC	0x57504d58	/* "XMPW" */
#define XW_VERSION	1
#define XW_MAC_LEN	32		/* crypto_auth_BYTES */
#define XW_KEY_LEN	32		/* crypto_auth_KEYBYTES */
#define XW_MAX_EXTENTS	XPMEM_CHAN_MAX_EXTENTS
#define XW_MAX_MSG	8192

enum xw_type {
	XW_HELLO	= 1,	/* no body; announces incarnation */
	XW_HEARTBEAT	= 2,	/* no body */
	XW_INVALIDATE	= 3,	/* struct xw_invalidate */
	XW_ACK		= 4,	/* struct xw_ack */
	XW_REMOTE_FAULT	= 5,	/* struct xw_remote_fault */
	XW_FAULT_REPLY	= 6,	/* struct xw_fault_reply + extents */
	XW_GET		= 7,	/* struct xw_get */
	XW_GET_REPLY	= 8,	/* struct xw_get_reply */
	XW_TYPE_MAX	= 8,
};

struct xw_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t len;		/* header + body + MAC */
	uint32_t src;		/* sender node id */
	uint32_t dst;		/* receiver node id */
	uint32_t reserved;
	uint64_t incarnation;	/* sender start time, ns; grows across restarts */
	uint64_t seq;		/* per (sender, incarnation), starts at 1 */
};

struct xw_invalidate {
	uint64_t generation;
	int64_t segid;
	uint64_t start;
	uint64_t len;
};

/* incarnation: of the daemon that sent the INVALIDATE, echoed so an ack can
 * never complete an invalidation of a later incarnation (whose kernel may
 * reuse the generation after a reboot) */
struct xw_ack {
	uint64_t generation;
	uint64_t incarnation;
	int32_t error;
	uint32_t reserved;
};

struct xw_remote_fault {
	uint64_t req_id;
	int64_t segid;
	uint64_t start;
	uint64_t len;
	uint32_t access;
	uint32_t reserved;
};

/* incarnation: of the daemon that sent REMOTE_FAULT (req_ids restart with it) */
struct xw_fault_reply {
	uint64_t req_id;
	uint64_t incarnation;
	int32_t error;
	uint32_t nextents;
	struct xpmem_chan_extent extents[];
};

/* a remote xpmem_get: the owner's kernel checks flags against the segment's
 * permit mode for uid/gid (cluster-wide ids) */
struct xw_get {
	uint64_t req_id;
	int64_t segid;
	uint32_t flags;		/* XPMEM_RDONLY / XPMEM_RDWR */
	uint32_t uid;
	uint32_t gid;
	uint32_t reserved;
};

/* incarnation: of the daemon that sent GET (req_ids restart with it) */
struct xw_get_reply {
	uint64_t req_id;
	uint64_t incarnation;
	int32_t error;
	uint32_t reserved;
	uint64_t size;
};

/* Decoded, authenticated message. body points into the caller's buffer. */
struct xw_msg {
	struct xw_hdr hdr;
	const void *body;
	size_t body_len;
};

enum xw_err {
	XW_OK = 0,
	XW_EMALFORMED = -1,	/* size/magic/version/type/len inconsistent */
	XW_EFORGED = -2,	/* MAC does not verify */
};

/* Build a message; returns total length (<= XW_MAX_MSG) or 0 if too large. */
size_t xw_build(void *buf, const uint8_t key[XW_KEY_LEN], uint16_t type,
		uint32_t src, uint32_t dst, uint64_t incarnation, uint64_t seq,
		const void *body, size_t body_len, const void *tail, size_t tail_len);

/* Parse and authenticate n received bytes. */
int xw_decode(const void *buf, size_t n, const uint8_t key[XW_KEY_LEN],
	      struct xw_msg *out);

const char *xw_type_name(int type);

/*
 * Replay window per sender: accepts each (incarnation, seq) at most once.
 * Messages of an older incarnation are rejected; a newer incarnation resets
 * the window (and is reported so the caller can treat it as a peer restart).
 */
struct xw_replay {
	uint64_t incarnation;
	uint64_t top;		/* highest seq seen */
	uint64_t bitmap;	/* bit i: top - i seen */
};

enum { XW_REPLAY_OK = 0, XW_REPLAY_NEW_INCARNATION = 1, XW_REPLAY_DUP = -1,
       XW_REPLAY_STALE_INCARNATION = -2 };
int xw_replay_check(struct xw_replay *r, uint64_t incarnation, uint64_t seq);

#endif
