/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xpmem.ko private definitions.
 *
 * Objects (see docs/kmod.md for the full picture and the lock order):
 *   xpmem_tg   one per open of /dev/xpmem, bound to the opener's thread group
 *   xpmem_seg  an exported range of the owner's address space (MAKE)
 *   xpmem_ap   a permission-checked handle on a segment (GET)
 *   xpmem_att  one attachment: a range of the device file mapped into the
 *              attacher; the vmas mapping it hold a reference
 */
#ifndef _XPMEM_PRIVATE_H
#define _XPMEM_PRIVATE_H

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

struct xpmem_tg {
	struct kref kref;
	struct pid *tgid;		/* opener's thread group */
	struct mm_struct *mm;		/* opener's mm (mmgrab), identity */
	struct mutex lock;		/* segs, aps, dead */
	struct list_head segs;
	struct list_head aps;
	bool dead;
};

/*
 * Reverse map entry (owner side): peer was given the frames of segment
 * offsets [start, end) by one RESOLVE, made under peer incarnation
 * incarnation. pfns[] are the source pages at that time; they stay the
 * source's pages until the next invalidation of the range, which removes
 * the entry (so get_page() on them is safe while it is on seg->rmap).
 */
struct xpmem_rmap {
	struct rb_node rb;		/* in seg->rmap, by [start, last] */
	unsigned long last;		/* end - 1 */
	unsigned long subtree_last;
	struct list_head node;		/* off the tree: revoke/quarantine lists */
	u32 peer;
	u64 incarnation;
	bool write;			/* resolved for write access */
	unsigned long start;
	unsigned long end;
	unsigned long npages;
	unsigned long charged;		/* pages counted for peer (limits.c) */
	unsigned long pfns[];
};

struct xpmem_seg {
	struct kref kref;
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
	/* the user charged for this attachment, and for a big slot (limits.c) */
	kuid_t charged;
	bool charged_big;
};

/* Live objects, for leak checks (debugfs "objects"). */
enum xpmem_obj { XPMEM_OBJ_TG, XPMEM_OBJ_SEG, XPMEM_OBJ_AP, XPMEM_OBJ_ATT,
		 XPMEM_OBJ_NR };
extern atomic_t xpmem_objects[XPMEM_OBJ_NR];

/* main.c */
#define XPMEM_MAX_FAULT_WINDOW	64
extern unsigned int xpmem_fault_window;
#define XPMEM_MAX_LOCAL_WINDOW	PTRS_PER_PMD
extern unsigned int xpmem_local_window;
extern unsigned int xpmem_remote_timeout_ms;
extern unsigned int xpmem_ack_timeout_ms;
extern bool xpmem_ram_windows;

/* channel.c: the kernel <-> xpmemd channel (/dev/xpmem_channel) */
extern u32 xpmem_node_id;		/* this node, set by HELLO */
extern u64 xpmem_incarnation;		/* random per module load */
int xpmem_chan_init(void);
void xpmem_chan_exit(void);
bool xpmem_chan_connected(void);
void *xpmem_chan_alloc(u16 type, size_t body_len, u64 seq);
void *xpmem_chan_alloc_gfp(u16 type, size_t body_len, u64 seq, gfp_t gfp);
void xpmem_chan_free(void *msg);
#define XPMEM_CHAN_BODY(hdr)	((void *)((struct xpmem_chan_hdr *)(hdr) + 1))
int xpmem_chan_post(void *msg);
int xpmem_chan_call(void *msg, u16 reply_type, u64 key, unsigned int ms,
		    bool killable, void **reply);
u64 xpmem_chan_next_seq(void);
struct seq_file;
struct xpmem_chan_hdr;
int xpmem_chan_reply(const struct xpmem_chan_hdr *req, u16 type,
		     const void *body, size_t len);
int xpmem_chan_status(const struct xpmem_chan_hdr *req, u16 type, int error);
bool xpmem_chan_complete(u16 type, u64 key, struct xpmem_chan_hdr *hdr);
void xpmem_chan_hello_done(u64 daemon_incarnation);
void xpmem_chan_show(struct seq_file *m);

/*
 * One row of the channel's table: the handler of a daemon -> kernel type,
 * run from write() once channel.c has checked the framing and the body's
 * size (the type's row of XPMEM_CHAN_MSGS). Returns 0 or -errno for
 * write(); sets *taken if it kept @h (a reply handed to its waiter).
 */
struct xpmem_chan_handler {
	u16 type;
	int (*handle)(struct xpmem_chan_hdr *h, bool *taken);
};

int xpmem_chan_register(const struct xpmem_chan_handler *rows);
extern const struct xpmem_chan_handler xpmem_control_chan[];
extern const struct xpmem_chan_handler xpmem_rmap_chan[];
extern const struct xpmem_chan_handler xpmem_remote_chan[];

/* remote.c: importer side */
struct vm_fault;
int xpmem_remote_get(s64 segid, int flags, struct xpmem_seg **segp);
vm_fault_t xpmem_remote_fault(struct vm_fault *vmf, struct xpmem_att *att);
void xpmem_remote_put(struct xpmem_seg *seg);
vm_fault_t xpmem_remote_huge_fault(struct vm_fault *vmf,
				   struct xpmem_att *att);
void xpmem_rfaults_drop(struct xpmem_att *att);
void xpmem_show_rsegs(struct seq_file *m);
void xpmem_rfaults_free(struct xpmem_att *att);
struct xpmem_chan_zap;
int xpmem_remote_zap(const struct xpmem_chan_zap *z);
void xpmem_remote_peer_reset(u32 peer);
int xpmem_window_set(u32 peer, u64 base, u64 size);
void xpmem_remote_release(struct xpmem_seg *seg, int flags);
void xpmem_windows_exit(void);

/* rmap.c: owner side (RESOLVE, reverse map, INVALIDATE, quarantine) */
int xpmem_rmap_init(void);
void xpmem_rmap_exit(void);
struct xpmem_chan_resolve;
void xpmem_resolve_counts(u64 *stale, u64 *busy);
int xpmem_resolve_queue(const struct xpmem_chan_hdr *hdr,
			const struct xpmem_chan_resolve *r);
bool xpmem_rmap_invalidate(struct xpmem_seg *seg,
			   const struct mmu_notifier_range *range,
			   bool blockable);
bool xpmem_rmap_overlaps(struct xpmem_seg *seg, unsigned long start,
			 unsigned long end);
void xpmem_rmap_free(struct xpmem_seg *seg);
void xpmem_rmap_entry_free(struct xpmem_rmap *e);
void xpmem_rmap_discard(struct xpmem_seg *seg);
void xpmem_quar_unsolicited(u16 type, const void *body);
void xpmem_quar_peer_acked(u64 generation, u32 peer);
void xpmem_quar_peer_reset(u32 peer, u64 incarnation);
void xpmem_quar_replay(void);
struct xpmem_chan_query;
struct xpmem_chan_record;
typedef void (*xpmem_emit_t)(void *ctx, const struct xpmem_chan_record *r);
void xpmem_query_mappings(u32 peer, xpmem_emit_t emit, void *ctx);
int xpmem_grant_add(struct xpmem_seg *seg, u32 peer, u64 incarnation,
		    int flags);
struct xpmem_chan_release;
int xpmem_grant_release(const struct xpmem_chan_hdr *hdr,
			const struct xpmem_chan_release *r);
void xpmem_grants_drop(struct xpmem_seg *seg);
void xpmem_grants_discard(struct xpmem_seg *seg);
void xpmem_query_grants(u32 peer, xpmem_emit_t emit, void *ctx);
unsigned long xpmem_grant_count(void);
void xpmem_query_quarantine(xpmem_emit_t emit, void *ctx);
void xpmem_quar_counts(unsigned long *entries, unsigned long *pages);

/* tg.c */
struct xpmem_tg *xpmem_tg_create(void);
void xpmem_tg_teardown(struct xpmem_tg *tg);
void xpmem_tg_put(struct xpmem_tg *tg);
bool xpmem_tg_is_current(struct xpmem_tg *tg);

/* segment.c */
int xpmem_ids_init(void);
void xpmem_ids_exit(void);
int xpmem_make(struct xpmem_tg *tg, u64 vaddr, u64 size, int permit_type,
	       u64 permit_value, s64 *segid);
int xpmem_remove(struct xpmem_tg *tg, s64 segid);
void xpmem_seg_destroy(struct xpmem_seg *seg);
void xpmem_seg_owner_exit(struct xpmem_seg *seg);
struct xpmem_seg *xpmem_seg_alloc(void);
void xpmem_seg_put(struct xpmem_seg *seg);
int xpmem_get(struct xpmem_tg *tg, s64 segid, int flags, int permit_type,
	      u64 permit_value, s64 *apid);
int xpmem_release(struct xpmem_tg *tg, s64 apid);
void xpmem_ap_destroy(struct xpmem_ap *ap);
struct xpmem_ap *xpmem_ap_lookup(s64 apid);
void xpmem_ap_put(struct xpmem_ap *ap);
struct seq_file;
void xpmem_show_segments(struct seq_file *m);
void xpmem_show_memtypes(struct seq_file *m);
struct xpmem_seg *xpmem_seg_lookup(s64 segid);
struct xpmem_seg *xpmem_seg_next(unsigned long *idx);
/* Whose permission xpmem_seg_check() checks. */
enum xpmem_check {
	XPMEM_CHECK_LOCAL,		/* the caller's, CAP_SYS_ADMIN bypasses */
	XPMEM_CHECK_REMOTE,		/* uid/gid given, no bypass */
	XPMEM_CHECK_REMOTE_ROOT,	/* uid/gid given, uid 0 bypasses */
};

int xpmem_seg_check(struct xpmem_seg *seg, int flags, kuid_t uid, kgid_t gid,
		    enum xpmem_check how);
int xpmem_seg_any_class(struct xpmem_seg *seg, int flags);
struct xpmem_ap *xpmem_ap_create(struct xpmem_tg *tg, struct xpmem_seg *seg,
				 int flags, s64 *apid);
void xpmem_query_segments(s64 segid, xpmem_emit_t emit, void *ctx);

/* attach.c */
int xpmem_attach_init(void);
void xpmem_att_get(struct xpmem_att *att);
void xpmem_att_put(struct xpmem_att *att);
bool xpmem_pmd_is_table(pmd_t *pmd);
int xpmem_prealloc_ptes(struct vm_area_struct *vma, pmd_t *pmd,
			unsigned long start, unsigned long end);
bool xpmem_vma_exportable(struct vm_area_struct *vma);
void xpmem_attach_exit(void);
int xpmem_attach(struct file *file, struct xpmem_tg *tg, s64 apid,
		 s64 offset, u64 size, u64 *vaddr);
int xpmem_detach(struct xpmem_tg *tg, u64 vaddr);
int xpmem_mmap(struct file *file, struct vm_area_struct *vma);

/* notifier.c */
extern const struct mmu_interval_notifier_ops xpmem_seg_notifier_ops;
void xpmem_zap_att_range(struct xpmem_att *att, unsigned long start,
			 unsigned long end);
struct xpmem_zapper {
	struct task_struct *task;
	struct hlist_node node;
};

void xpmem_zapper_enter(struct xpmem_zapper *z);
void xpmem_zapper_exit(struct xpmem_zapper *z);

/* limits.c */
enum xpmem_limit { XPMEM_LIMIT_SEG, XPMEM_LIMIT_ATT, XPMEM_LIMIT_AP,
		   XPMEM_LIMIT_BIG, XPMEM_LIMIT_NR };
kuid_t xpmem_charge_uid(void);
int xpmem_charge(kuid_t uid, enum xpmem_limit what);
void xpmem_uncharge(kuid_t uid, enum xpmem_limit what);
int xpmem_peer_charge(u32 peer, unsigned long npages);
void xpmem_peer_uncharge(u32 peer, unsigned long npages);
int xpmem_peer_resolve_get(u32 peer);
void xpmem_peer_resolve_put(u32 peer);
unsigned int xpmem_grants_per_seg_max(void);
int xpmem_peer_grant_charge(u32 peer);
void xpmem_peer_grant_uncharge(u32 peer);
void xpmem_limits_exit(void);

/* debugfs.c */
void xpmem_debugfs_init(void);
void xpmem_debugfs_exit(void);

#endif /* _XPMEM_PRIVATE_H */
