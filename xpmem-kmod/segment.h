/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The objects at the bottom of xpmem.ko (segment.c), which every other file
 * builds on (see docs/kmod.md for the full picture and the lock order):
 *   xpmem_tg   one per open of /dev/xpmem, bound to the opener's thread group
 *   xpmem_seg  an exported range of the owner's address space (MAKE), or
 *              another node's segment (remote.c)
 *   xpmem_ap   a permission-checked handle on a segment (GET)
 *   xpmem_att  one attachment: a range of the device file mapped into the
 *              attacher; the vmas mapping it hold a reference
 */
#ifndef _XPMEM_SEGMENT_H
#define _XPMEM_SEGMENT_H

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mm_types.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/rbtree.h>
#include <linux/types.h>
#include <linux/uidgid.h>

#include <xpmem/xpmem_channel.h>
#include <xpmem/xpmem_ioctl.h>

#include "compat/xpmem_compat.h"

/*
 * Segment and access-permit ids: bit 63 is always clear (ids are positive),
 * bits 48..62 carry the owner's node, bits 32..47 a random tag checked on
 * lookup (ids of other processes are not guessable from a counter) and
 * bits 0..31 the index in the id table (never 0, so an id is never 0).
 */
#define XPMEM_ID_IDX_BITS	32
#define XPMEM_ID_TAG_BITS	16
#define XPMEM_ID_NODE_BITS	15
#define XPMEM_ID_TAG_SHIFT	XPMEM_ID_IDX_BITS
#define XPMEM_ID_NODE_SHIFT	(XPMEM_ID_IDX_BITS + XPMEM_ID_TAG_BITS)
#define XPMEM_ID_NODE_MAX	((1U << XPMEM_ID_NODE_BITS) - 1)

static inline s64 xpmem_id_encode(u32 node, u32 tag, u32 idx)
{
	u64 id = ((u64)(node & XPMEM_ID_NODE_MAX) << XPMEM_ID_NODE_SHIFT) |
		 ((u64)(tag & ((1U << XPMEM_ID_TAG_BITS) - 1)) <<
		  XPMEM_ID_TAG_SHIFT) |
		 idx;

	return (s64)id;
}

static inline u32 xpmem_id_idx(s64 id)
{
	return (u32)id;
}

static inline u32 xpmem_id_tag(s64 id)
{
	return ((u64)id >> XPMEM_ID_TAG_SHIFT) & ((1U << XPMEM_ID_TAG_BITS) - 1);
}

/* A node id the daemon sent is one an id can carry. */
static inline bool xpmem_peer_valid(u32 peer)
{
	return peer <= XPMEM_ID_NODE_MAX;
}

/* The node that owns a segment (the node id HELLO set when it was made). */
static inline u32 xpmem_segid_node(s64 segid)
{
	return ((u64)segid >> XPMEM_ID_NODE_SHIFT) & XPMEM_ID_NODE_MAX;
}

struct xpmem_seg_ops;

struct xpmem_tg {
	struct kref kref;
	struct pid *tgid;		/* opener's thread group */
	struct mm_struct *mm;		/* opener's mm (mmgrab), identity */
	struct mutex lock;		/* segs, aps, dead */
	struct list_head segs;
	struct list_head aps;
	bool dead;
};

struct xpmem_seg {
	struct kref kref;
	const struct xpmem_seg_ops *ops;	/* local (verbs.c) or remote */
	s64 segid;
	struct xpmem_tg *tg;		/* owner, valid while on tg->segs */
	struct mm_struct *mm;		/* source mm (mmgrab) */
	unsigned long start;		/* source range [start, end) */
	unsigned long end;
	kuid_t uid;			/* maker's euid */
	kgid_t gid;
	umode_t mode;
	struct mmu_interval_notifier notifier;
	/*
	 * lock: attachment list, dead, and the notifier sequence (the
	 * "user lock" of mmu_interval_set_seq / mmu_interval_read_retry).
	 */
	struct mutex lock;
	struct list_head atts;
	bool dead;
	bool notifier_live;
	bool charged;			/* counted for charged_uid (limits.c) */
	kuid_t charged_uid;
	struct list_head tg_node;
	struct rb_root_cached rmap;	/* xpmem_rmap interval tree, under lock */
	/* what CHECK_GET granted peers (rmap.c), under lock */
	struct list_head grants;
	unsigned int nr_grants;
	/*
	 * Remote segment (importer side), one per permit: segid of node
	 * owner, granted under daemon incarnation, [start, end) = [0, size)
	 * are segment offsets, no mm and no notifier. zap_seq
	 * (under lock) is bumped by every ZAP so a fault that raced with one
	 * does not install stale frames.
	 */
	bool remote;
	u32 owner;
	u64 incarnation;		/* the daemon's, that the permit is under */
	u64 owner_instance;		/* the owner kernel's (REMOTE_GET_REPLY) */
	u64 zap_seq;
	/* the last ZAPs' ranges, by zap_seq % XPMEM_ZAP_RING (remote.c) */
#define XPMEM_ZAP_RING	8
	struct {
		u64 seq;
		unsigned long start, end;
	} zaps[XPMEM_ZAP_RING];
	struct list_head rseg_node;	/* on the remote segment list */
	/* counters, shown in debugfs */
	atomic64_t nr_faults;
	atomic64_t nr_mapped;
	atomic64_t nr_pmd_mapped;
	atomic64_t nr_pmd_fallback;	/* first faults of a PMD left to PTEs */
	atomic64_t nr_order_fallback;	/* huge faults of another order (PUD) */
	atomic64_t nr_batched;		/* PTEs set by xpmem_map_window()'s pass */
	atomic64_t nr_invalidates;
	atomic64_t nr_zapped;
};

struct xpmem_ap {
	struct kref kref;
	s64 apid;
	struct xpmem_tg *tg;		/* owner, valid while on tg->aps */
	struct pid *tgid;		/* owner's thread group (reference) */
	struct xpmem_seg *seg;		/* reference */
	int flags;			/* XPMEM_RDONLY or XPMEM_RDWR */
	bool dead;			/* under tg->lock */
	bool charged;			/* counted for charged_uid (limits.c) */
	kuid_t charged_uid;
	struct list_head tg_node;
};

struct xpmem_att {
	struct kref kref;
	struct rcu_head rcu;
	struct xpmem_ap *ap;		/* reference */
	struct xpmem_seg *seg;		/* == ap->seg */
	struct mm_struct *mm;		/* attacher mm, identity only */
	unsigned long src_start;	/* source range [src_start, src_end) */
	unsigned long src_end;
	unsigned long pgoff;		/* first page in the device file */
	unsigned long npages;
	u32 slot;			/* index in the pgoff slot table */
	bool big;			/* slot from the large-attachment table */
	bool writable;
	/* under seg->lock: */
	struct address_space *mapping;	/* of the mapped device file */
	int nr_vmas;			/* vmas mapping this attachment */
	bool mapped;			/* ->mmap has run */
	bool dead;			/* ap released or seg removed */
	struct list_head seg_node;	/* on seg->atts while nr_vmas > 0 */
	/* remote segments only, under seg->lock: */
	struct list_head rfaults;	/* REMOTE_FAULT answers to install */
	unsigned int nr_rfaults;
	unsigned long wr_intent;	/* offset + 1 a store wants writable */
	unsigned long rfault_error;	/* offset + 1 whose request failed */
	unsigned long huge_asked;	/* PMD offset + 1 asked for once */
	u64 rfault_error_zseq;		/* zap_seq that request was made at */
	unsigned int rwin;		/* pages the next sequential ask asks */
	unsigned long rnext;		/* offset + 1 where the last answer ended */
	unsigned long rnoback;		/* offset + 1 to ask from itself */
	/* the user charged for this attachment, and for a big slot (limits.c) */
	kuid_t charged;
	bool charged_big;
};

struct vm_fault;

/*
 * What a local and a remote segment do differently, below the verbs: the
 * local one's ops are verbs.c's (its faults attach.c's), the remote one's
 * remote.c's.
 */
struct xpmem_seg_ops {
	/* drop a reference (xpmem_seg_put()); the last one frees */
	void (*put)(struct xpmem_seg *seg);
	/* an attachment of the segment is freed; optional */
	void (*att_free)(struct xpmem_att *att);
	/* the last vma of @att is unmapped; caller holds seg->lock; optional */
	void (*att_unmapped)(struct xpmem_att *att);
	/* a fault on an attachment page, @att and the segment alive */
	vm_fault_t (*fault)(struct vm_fault *vmf, struct xpmem_att *att);
	/* the first fault in an empty PMD @att covers whole (PMD mappings) */
	vm_fault_t (*huge_fault)(struct vm_fault *vmf, struct xpmem_att *att);
	/* a store to a read-only PTE, zapped already, of source address @src */
	vm_fault_t (*mkwrite)(struct vm_fault *vmf, struct xpmem_att *att,
			      unsigned long src);
	/* a permit of @flags' kind was given up (or never handed out); optional */
	void (*release)(struct xpmem_seg *seg, int flags);
};

/* Live objects, for leak checks (debugfs "objects"). */
enum xpmem_obj { XPMEM_OBJ_TG, XPMEM_OBJ_SEG, XPMEM_OBJ_AP, XPMEM_OBJ_ATT,
		 XPMEM_OBJ_NR };
extern atomic_t xpmem_objects[XPMEM_OBJ_NR];

/* Whose permission xpmem_seg_check() checks. */
enum xpmem_check {
	XPMEM_CHECK_LOCAL,		/* the caller's, CAP_SYS_ADMIN bypasses */
	XPMEM_CHECK_REMOTE,		/* uid/gid given, no bypass */
	XPMEM_CHECK_REMOTE_ROOT,	/* uid/gid given, uid 0 bypasses */
};

/* QUERY: one record of a reply (control.c collects them). */
typedef void (*xpmem_emit_t)(void *ctx, const struct xpmem_chan_record *r);

struct seq_file;
struct vm_area_struct;

int xpmem_ids_init(void);
void xpmem_ids_exit(void);

struct xpmem_seg *xpmem_seg_alloc(const struct xpmem_seg_ops *ops);
int xpmem_seg_id_alloc(struct xpmem_seg *seg, u32 node);
void xpmem_seg_id_publish(struct xpmem_seg *seg);
void xpmem_seg_id_free(struct xpmem_seg *seg);
void xpmem_seg_unpublish(struct xpmem_seg *seg);
void xpmem_seg_uncharge(struct xpmem_seg *seg);
struct xpmem_seg *xpmem_seg_lookup(s64 segid);
struct xpmem_seg *xpmem_seg_next(unsigned long *idx);
void xpmem_seg_put(struct xpmem_seg *seg);
void xpmem_seg_free(struct xpmem_seg *seg);
int xpmem_seg_check(struct xpmem_seg *seg, int flags, kuid_t uid, kgid_t gid,
		    enum xpmem_check how);
int xpmem_seg_any_class(struct xpmem_seg *seg, int flags);
bool xpmem_vma_exportable(struct vm_area_struct *vma);

int xpmem_ap_id_alloc(struct xpmem_ap *ap);
void xpmem_ap_id_publish(struct xpmem_ap *ap);
void xpmem_ap_id_free(struct xpmem_ap *ap);
struct xpmem_ap *xpmem_ap_lookup(s64 apid);
void xpmem_ap_put(struct xpmem_ap *ap);

struct xpmem_att *xpmem_att_create(struct xpmem_ap *ap, unsigned long src,
				   unsigned long len);
struct xpmem_att *xpmem_slot_lookup(unsigned long pgoff);
void xpmem_att_get(struct xpmem_att *att);
void xpmem_att_put(struct xpmem_att *att);

void xpmem_show_segments(struct seq_file *m);
void xpmem_query_segments(s64 segid, xpmem_emit_t emit, void *ctx);

#endif /* _XPMEM_SEGMENT_H */
