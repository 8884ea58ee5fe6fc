/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xpmemd <-> xpmemd messages carried over libfabric (see docs/protocol.md).
 *
 * HELLO:      header | struct xw_hello | Ed25519 signature (crypto_sign_detached
 *             with the sender's node key over header and body)
 * all others: header | body sealed with crypto_aead_chacha20poly1305_ietf under
 *             the per-session, per-direction key (header = associated data,
 *             nonce = seq) | 16-byte tag
 * Session keys come from crypto_kx over the two daemons' ephemeral keys carried
 * in HELLO (xw_session_derive). Fields are little-endian host structs
 * (x86_64/aarch64 clusters only). See docs/protocol.md section 2.
 */
#ifndef XPMEMD_WIRE_H
#define XPMEMD_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <xpmem/xpmem_channel.h>

#define XW_MAGIC	0x57504d58	/* "XMPW" */
/* 3: an ACK may carry an error (not an ack: the importer has not zapped).
 * A version-2 owner would take it for an ack, so versions never mix.
 * 4: REMOTE_FAULT, GET_REPLY and RELEASE carry the owner kernel's instance
 * (a version-3 importer would not send it: every refault would be refused). */
#define XW_VERSION	4
#define XW_TAG_LEN	16		/* crypto_aead_chacha20poly1305_ietf_ABYTES */
#define XW_SIG_LEN	64		/* crypto_sign_BYTES */
#define XW_KEY_LEN	32		/* session key, crypto_aead_chacha20poly1305_ietf_KEYBYTES */
#define XW_KX_LEN	32		/* crypto_kx_PUBLICKEYBYTES */
#define XW_MAX_EXTENTS	XPMEM_CHAN_MAX_EXTENTS
#define XW_MAX_MSG	8192

enum xw_type {
	XW_HELLO	= 1,	/* struct xw_hello, signed (the only unsealed type) */
	XW_HEARTBEAT	= 2,	/* no body */
	XW_INVALIDATE	= 3,	/* struct xw_invalidate */
	XW_ACK		= 4,	/* struct xw_ack */
	XW_REMOTE_FAULT	= 5,	/* struct xw_remote_fault */
	XW_FAULT_REPLY	= 6,	/* struct xw_fault_reply + extents */
	XW_GET		= 7,	/* struct xw_get */
	XW_GET_REPLY	= 8,	/* struct xw_get_reply */
	XW_RELEASE	= 9,	/* struct xw_release */
	XW_TYPE_MAX	= 9,
};

struct xw_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t len;		/* header + body + signature or tag */
	uint32_t src;		/* claimed sender node id: picks the key to try */
	uint32_t dst;		/* receiver node id */
	uint32_t session;	/* sealed: the session's tag (xw_session); HELLO: 0 */
	uint64_t incarnation;	/* sender's persisted counter; grows across restarts */
	uint64_t seq;		/* sealed: per session and direction, from 1 (the
				 * nonce); HELLO: the sender's HELLO count */
};

/* HELLO: what the sender is and what it knows of the receiver */
struct xw_hello {
	uint8_t eph[XW_KX_LEN];		/* sender's ephemeral crypto_kx public key */
	uint8_t echo[XW_KX_LEN];	/* receiver's ephemeral as the sender knows it
					 * (all zeros: none yet) */
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
	uint64_t owner_instance;	/* GET_REPLY's: the owner kernel checks it */
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
/* a permit GET granted was released on the sender's node (REMOTE_RELEASE):
 * the owner's kernel drops one permit of the sender's grant (RELEASE_GRANT)
 * if incarnation, the sender's the permit was granted under, is its current */
struct xw_release {
	int64_t segid;
	uint32_t flags;		/* XPMEM_RDONLY / XPMEM_RDWR */
	uint32_t reserved;
	uint64_t incarnation;	/* the permit's (REMOTE_RELEASE) */
	uint64_t owner_instance;	/* the permit's (REMOTE_RELEASE) */
};

struct xw_get_reply {
	uint64_t req_id;
	uint64_t incarnation;
	int32_t error;
	uint32_t reserved;
	uint64_t size;
	uint64_t owner_instance;	/* the owner kernel's (CHECK_GET_REPLY) */
};

/* A parsed message. After xw_parse, body points into the received buffer
 * (a HELLO's body, or a sealed message's ciphertext); after xw_open, to the
 * caller's plaintext buffer. body_len is the plaintext length. */
struct xw_msg {
	struct xw_hdr hdr;
	const void *body;
	size_t body_len;
};

enum xw_err {
	XW_OK = 0,
	XW_EMALFORMED = -1,	/* size/magic/version/type/len/body inconsistent */
	XW_EFORGED = -2,	/* signature or AEAD tag does not verify */
};

/* One session with one peer: keys per direction and the public tag that
 * names the session in the headers of its sealed messages. */
struct xw_session {
	uint8_t rx[XW_KEY_LEN], tx[XW_KEY_LEN];
	uint32_t tag;
};

/*
 * Derive the session between node self (incarnation self_inc, ephemeral key
 * pair self_eph_pk/self_eph_sk) and node peer (peer_inc, peer_eph_pk): the
 * lower node id is the crypto_kx client; both kx keys are then hashed
 * (crypto_generichash, keyed with the kx key) with both ids, incarnations and
 * ephemeral keys. Returns -1 if the peer's key is unusable (crypto_kx refuses).
 */
int xw_session_derive(struct xw_session *s, uint32_t self, uint64_t self_inc,
		      const uint8_t self_eph_pk[XW_KX_LEN], const uint8_t self_eph_sk[XW_KX_LEN],
		      uint32_t peer, uint64_t peer_inc, const uint8_t peer_eph_pk[XW_KX_LEN]);

/* Build a signed HELLO (sk: crypto_sign secret key); returns its length. */
size_t xw_hello_build(void *buf, const uint8_t sk[64], uint32_t src, uint32_t dst,
		      uint64_t incarnation, uint64_t seq, const struct xw_hello *h);

/* Build a sealed message with key (a session's tx) and tag; returns total
 * length (<= XW_MAX_MSG), or 0 if too large or type is HELLO. */
size_t xw_seal(void *buf, const uint8_t key[XW_KEY_LEN], uint32_t tag, uint16_t type,
	       uint32_t src, uint32_t dst, uint64_t incarnation, uint64_t seq,
	       const void *body, size_t body_len, const void *tail, size_t tail_len);

/* Check the format of n received bytes (nothing is trusted yet). */
int xw_parse(const void *buf, size_t n, struct xw_msg *out);

/* A parsed HELLO: does the signature verify with pk (crypto_sign public key)? */
int xw_hello_verify(const void *buf, const struct xw_msg *m, const uint8_t pk[32]);

/* A parsed sealed message: verify and decrypt with key (a session's rx) into
 * plain (XW_MAX_MSG bytes); then the body checks that need the plaintext. */
int xw_open(const void *buf, const uint8_t key[XW_KEY_LEN], void *plain, struct xw_msg *m);

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
