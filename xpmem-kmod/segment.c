// SPDX-License-Identifier: GPL-2.0
/*
 * The objects at the bottom: segments, access permits and attachments,
 * their references, the id tables segments and permits are looked up in,
 * the device-file slots of attachments, and the permission checks. What a
 * local and a remote segment do differently is the segment's ops
 * (verbs.c, remote.c); the verbs that make and tear them down are verbs.c's.
 */
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/mm.h>
#include <linux/cred.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "limits.h"
#include "segment.h"

atomic_t xpmem_objects[XPMEM_OBJ_NR];

static DEFINE_XARRAY_ALLOC1(xpmem_segs);
static DEFINE_XARRAY_ALLOC1(xpmem_aps);
static u32 xpmem_seg_next_idx;
static u32 xpmem_ap_next;

/*
 * File offsets (in pages) reserved for attachments. A file offset must stay
 * below MAX_LFS_FILESIZE, i.e. 2^51 pages. Attachments of up to 2^23 pages
 * (32 GiB) get a slot of that size in [0, 2^50); larger ones a slot of
 * 2^35 pages (the whole user address space) above 2^50. Within its slot an
 * attachment starts at the source address's page index modulo PTRS_PER_PMD,
 * so thp_get_unmapped_area() places it at the source's PMD alignment and
 * source THPs can be mapped with one PMD.
 */
#define XPMEM_SMALL_SHIFT	23
#define XPMEM_SMALL_MAX		((1U << (50 - XPMEM_SMALL_SHIFT)) - 1)
#define XPMEM_BIG_SHIFT		35
#define XPMEM_BIG_BASE		BIT(50)
#define XPMEM_BIG_MAX		((1U << (50 - XPMEM_BIG_SHIFT)) - 2)

static DEFINE_XARRAY_ALLOC1(xpmem_small_slots);
static DEFINE_XARRAY_ALLOC1(xpmem_big_slots);

/**
 * xpmem_ids_init() - set up the id tables at module load
 *
 * Return: 0 (the tables are static: nothing to allocate).
 */
int xpmem_ids_init(void)
{
	return 0;
}

/**
 * xpmem_ids_exit() - at unload: WARN if a segment or permit id is left
 */
void xpmem_ids_exit(void)
{
	WARN_ON(!xa_empty(&xpmem_segs));
	WARN_ON(!xa_empty(&xpmem_aps));
	WARN_ON(!xa_empty(&xpmem_small_slots));
	WARN_ON(!xa_empty(&xpmem_big_slots));
}

/*
 * Reserve a slot in @xa and build an id for it. The slot holds no entry
 * (lookups fail) until xpmem_id_publish().
 */
static int xpmem_id_alloc(struct xarray *xa, u32 *next, u32 node, s64 *id)
{
	u32 idx;
	int ret;

	ret = xa_alloc_cyclic(xa, &idx, NULL, XA_LIMIT(1, U32_MAX), next,
			      GFP_KERNEL);
	if (ret < 0)
		return ret;
	*id = xpmem_id_encode(node, get_random_u32(), idx);
	return 0;
}

static void xpmem_id_publish(struct xarray *xa, s64 id, void *entry)
{
	xa_store(xa, xpmem_id_idx(id), entry, GFP_KERNEL);
}

/**
 * xpmem_seg_id_alloc() - reserve an id for a new local segment
 * @seg: the segment; its segid is set
 * @node: the node bits of the id
 *
 * Lookups do not find @seg until xpmem_seg_id_publish().
 *
 * Return: 0, or xa_alloc()'s error.
 */
int xpmem_seg_id_alloc(struct xpmem_seg *seg, u32 node)
{
	return xpmem_id_alloc(&xpmem_segs, &xpmem_seg_next_idx, node,
			      &seg->segid);
}

/**
 * xpmem_seg_id_publish() - make a reserved segment id find its segment
 * @seg: the segment, its id from xpmem_seg_id_alloc()
 */
void xpmem_seg_id_publish(struct xpmem_seg *seg)
{
	xpmem_id_publish(&xpmem_segs, seg->segid, seg);
}

/**
 * xpmem_seg_id_free() - give back a segment id reserved and never published
 * @seg: the segment
 */
void xpmem_seg_id_free(struct xpmem_seg *seg)
{
	xa_erase(&xpmem_segs, xpmem_id_idx(seg->segid));
}

/**
 * xpmem_ap_id_alloc() - reserve an id for a new access permit
 * @ap: the permit; its apid is set
 *
 * Lookups do not find @ap until xpmem_ap_id_publish().
 *
 * Return: 0, or xa_alloc()'s error.
 */
int xpmem_ap_id_alloc(struct xpmem_ap *ap)
{
	return xpmem_id_alloc(&xpmem_aps, &xpmem_ap_next, 0, &ap->apid);
}

/**
 * xpmem_ap_id_publish() - make a reserved permit id find its permit
 * @ap: the permit, its id from xpmem_ap_id_alloc()
 */
void xpmem_ap_id_publish(struct xpmem_ap *ap)
{
	xpmem_id_publish(&xpmem_aps, ap->apid, ap);
}

/**
 * xpmem_ap_id_free() - unpublish or give back a permit's id
 * @ap: the permit; lookups of its id fail from now on
 */
void xpmem_ap_id_free(struct xpmem_ap *ap)
{
	xa_erase(&xpmem_aps, xpmem_id_idx(ap->apid));
}

/**
 * xpmem_seg_uncharge() - stop counting a segment against its maker
 * @seg: the segment
 *
 * A segment counts against its maker until it is removed (or its owner
 * exits), not until the last attachment of someone else goes. Idempotent.
 */
void xpmem_seg_uncharge(struct xpmem_seg *seg)
{
	if (seg->charged) {
		seg->charged = false;
		xpmem_uncharge(seg->charged_uid, XPMEM_LIMIT_SEG);
	}
}

/**
 * xpmem_seg_unpublish() - unpublish a segment's id if it still names it
 * @seg: the segment (its id may already be gone)
 */
void xpmem_seg_unpublish(struct xpmem_seg *seg)
{
	xa_cmpxchg(&xpmem_segs, xpmem_id_idx(seg->segid), seg, NULL, 0);
}

/**
 * xpmem_seg_free() - free a local segment; its ops' put calls it last
 * @seg: the segment, unreachable by anyone else
 */
void xpmem_seg_free(struct xpmem_seg *seg)
{
	WARN_ON(!list_empty(&seg->atts));
	xpmem_seg_uncharge(seg);
	mmdrop(seg->mm);
	kfree(seg);
	atomic_dec(&xpmem_objects[XPMEM_OBJ_SEG]);
}

/**
 * xpmem_seg_put() - drop a reference on a segment, local or remote
 * @seg: the segment; the last reference frees it
 */
void xpmem_seg_put(struct xpmem_seg *seg)
{
	seg->ops->put(seg);
}

/**
 * xpmem_seg_alloc() - a new segment, local or remote
 * @ops: its operations (struct xpmem_seg_ops: verbs.c's or remote.c's)
 *
 * Return: the segment with one reference and empty lists, or NULL.
 */
struct xpmem_seg *xpmem_seg_alloc(const struct xpmem_seg_ops *ops)
{
	struct xpmem_seg *seg = kzalloc(sizeof(*seg), GFP_KERNEL_ACCOUNT);

	if (!seg)
		return NULL;
	seg->ops = ops;
	kref_init(&seg->kref);
	atomic_inc(&xpmem_objects[XPMEM_OBJ_SEG]);
	mutex_init(&seg->lock);
	INIT_LIST_HEAD(&seg->atts);
	INIT_LIST_HEAD(&seg->tg_node);
	INIT_LIST_HEAD(&seg->grants);
	seg->rmap = RB_ROOT_CACHED;
	return seg;
}

/**
 * xpmem_seg_lookup() - a local segment by its exact id
 * @segid: the id; its node bits are part of it (a segment made before
 *	HELLO keeps node 0 and is still found)
 *
 * Return: the segment with a reference, or NULL.
 */
struct xpmem_seg *xpmem_seg_lookup(s64 segid)
{
	struct xpmem_seg *seg;

	if (segid <= 0)
		return NULL;
	xa_lock(&xpmem_segs);
	seg = xa_load(&xpmem_segs, xpmem_id_idx(segid));
	if (seg && (seg->segid != segid || !kref_get_unless_zero(&seg->kref)))
		seg = NULL;
	xa_unlock(&xpmem_segs);
	return seg;
}

/**
 * xpmem_seg_check() - may a getter have @flags access to @seg?
 * @seg: the segment
 * @flags: XPMEM_RDONLY or XPMEM_RDWR
 * @uid: the remote getter's uid (remote checks only)
 * @gid: the remote getter's primary gid (remote checks only)
 * @how: XPMEM_CHECK_LOCAL, _REMOTE or _REMOTE_ROOT
 *
 * @seg->mode is checked like a file mode owned by the segment creator's
 * euid/egid. Read permission is always needed, write too for XPMEM_RDWR.
 * Local: against the caller's fsuid/fsgid and groups; CAP_SYS_ADMIN
 * bypasses. Remote (CHECK_GET): against the @uid/@gid the daemon passed,
 * no supplementary groups, no capabilities of anyone; uid 0 bypasses only
 * with XPMEM_CHECK_REMOTE_ROOT (the owner's daemon trusts remote root).
 *
 * Return: 0 or -EACCES.
 */
int xpmem_seg_check(struct xpmem_seg *seg, int flags, kuid_t uid, kgid_t gid,
		    enum xpmem_check how)
{
	unsigned int want = MAY_READ | (flags == XPMEM_RDWR ? MAY_WRITE : 0);
	unsigned int mode = seg->mode;

	if (how != XPMEM_CHECK_LOCAL) {
		if (how == XPMEM_CHECK_REMOTE_ROOT &&
		    uid_eq(uid, GLOBAL_ROOT_UID))
			return 0;
		if (uid_eq(uid, seg->uid))
			mode >>= 6;
		else if (gid_eq(gid, seg->gid))
			mode >>= 3;
		return (mode & want) == want ? 0 : -EACCES;
	}
	if (uid_eq(current_fsuid(), seg->uid))
		mode >>= 6;
	else if (in_group_p(seg->gid))
		mode >>= 3;
	if ((mode & want) == want)
		return 0;
	if (capable(CAP_SYS_ADMIN))
		return 0;
	return -EACCES;
}

/**
 * xpmem_seg_any_class() - could anybody get @flags access to @seg?
 * @seg: the segment
 * @flags: XPMEM_RDONLY or XPMEM_RDWR
 *
 * Return: 0 if some class (owner, group, other) of its mode grants it,
 * else -EACCES.
 */
int xpmem_seg_any_class(struct xpmem_seg *seg, int flags)
{
	unsigned int want = MAY_READ | (flags == XPMEM_RDWR ? MAY_WRITE : 0);
	unsigned int mode = seg->mode;

	if ((mode & want) == want || ((mode >> 3) & want) == want ||
	    ((mode >> 6) & want) == want)
		return 0;
	return -EACCES;
}

static void xpmem_ap_free(struct kref *kref)
{
	struct xpmem_ap *ap = container_of(kref, struct xpmem_ap, kref);

	xpmem_seg_put(ap->seg);
	put_pid(ap->tgid);
	if (ap->charged)
		xpmem_uncharge(ap->charged_uid, XPMEM_LIMIT_AP);
	kfree(ap);
	atomic_dec(&xpmem_objects[XPMEM_OBJ_AP]);
}

/**
 * xpmem_ap_put() - drop a reference on an access permit
 * @ap: the permit; the last reference frees it, its segment reference and
 *	its charge
 */
void xpmem_ap_put(struct xpmem_ap *ap)
{
	kref_put(&ap->kref, xpmem_ap_free);
}

/**
 * xpmem_ap_lookup() - an access permit by its exact id
 * @apid: the id
 *
 * Return: the permit with a reference, or NULL.
 */
struct xpmem_ap *xpmem_ap_lookup(s64 apid)
{
	struct xpmem_ap *ap;

	if (apid <= 0)
		return NULL;
	xa_lock(&xpmem_aps);
	ap = xa_load(&xpmem_aps, xpmem_id_idx(apid));
	if (ap && (ap->apid != apid || !kref_get_unless_zero(&ap->kref)))
		ap = NULL;
	xa_unlock(&xpmem_aps);
	return ap;
}

/*
 * An attachment's slot: its range of device-file offsets, reserved for it
 * alone (xpmem_mmap() finds the attachment by it).
 */
static int xpmem_slot_alloc(struct xpmem_att *att)
{
	unsigned long colour = (att->src_start >> PAGE_SHIFT) &
			       (PTRS_PER_PMD - 1);
	u32 slot;
	int ret;

	/* A slot must hold the whole attachment (5-level paging allows more). */
	if (att->npages + colour > (1UL << XPMEM_BIG_SHIFT))
		return -EINVAL;
	att->big = att->npages + colour > (1UL << XPMEM_SMALL_SHIFT);
	if (att->big) {
		/* A shared pool: no user may take more than their share. */
		ret = xpmem_charge(att->charged, XPMEM_LIMIT_BIG);
		if (ret)
			return ret;
		att->charged_big = true;
		ret = xa_alloc(&xpmem_big_slots, &slot, NULL,
			       XA_LIMIT(1, XPMEM_BIG_MAX), GFP_KERNEL);
		att->pgoff = XPMEM_BIG_BASE +
			     ((unsigned long)slot << XPMEM_BIG_SHIFT);
	} else {
		ret = xa_alloc(&xpmem_small_slots, &slot, NULL,
			       XA_LIMIT(1, XPMEM_SMALL_MAX), GFP_KERNEL);
		att->pgoff = (unsigned long)slot << XPMEM_SMALL_SHIFT;
	}
	if (ret) {
		if (att->charged_big)
			xpmem_uncharge(att->charged, XPMEM_LIMIT_BIG);
		att->charged_big = false;
		return ret == -EBUSY ? -ENOSPC : ret;
	}
	att->slot = slot;
	att->pgoff += colour;
	xa_store(att->big ? &xpmem_big_slots : &xpmem_small_slots, slot, att,
		 GFP_KERNEL);
	return 0;
}

/**
 * xpmem_slot_lookup() - the attachment whose slot starts at @pgoff
 * @pgoff: a device-file offset in pages (a vma's vm_pgoff)
 *
 * Return: the attachment with a reference taken, or NULL if no live
 * attachment starts exactly there.
 */
struct xpmem_att *xpmem_slot_lookup(unsigned long pgoff)
{
	struct xpmem_att *att;
	struct xarray *xa;
	unsigned long idx;

	if (pgoff >= XPMEM_BIG_BASE) {
		xa = &xpmem_big_slots;
		idx = (pgoff - XPMEM_BIG_BASE) >> XPMEM_BIG_SHIFT;
	} else {
		xa = &xpmem_small_slots;
		idx = pgoff >> XPMEM_SMALL_SHIFT;
	}
	rcu_read_lock();
	att = xa_load(xa, idx);
	if (att && (att->pgoff != pgoff || !kref_get_unless_zero(&att->kref)))
		att = NULL;
	rcu_read_unlock();
	return att;
}

static void xpmem_att_free(struct kref *kref)
{
	struct xpmem_att *att = container_of(kref, struct xpmem_att, kref);

	xa_erase(att->big ? &xpmem_big_slots : &xpmem_small_slots, att->slot);
	/* Nobody else can reach @att now: no lock for what the ops keep. */
	if (att->seg->ops->att_free)
		att->seg->ops->att_free(att);
	xpmem_uncharge(att->charged, XPMEM_LIMIT_ATT);
	if (att->charged_big)
		xpmem_uncharge(att->charged, XPMEM_LIMIT_BIG);
	xpmem_ap_put(att->ap);
	kfree_rcu(att, rcu);
	atomic_dec(&xpmem_objects[XPMEM_OBJ_ATT]);
}

/**
 * xpmem_att_get() - take a reference on an attachment
 * @att: attachment the caller already holds a reference on (its vma's)
 */
void xpmem_att_get(struct xpmem_att *att)
{
	kref_get(&att->kref);
}

/**
 * xpmem_att_put() - drop a reference; the last one frees the attachment
 * @att: the attachment
 */
void xpmem_att_put(struct xpmem_att *att)
{
	kref_put(&att->kref, xpmem_att_free);
}

/**
 * xpmem_att_create() - a new attachment of a permit's segment
 * @ap: the permit; the attachment takes over the caller's reference
 * @src: source address (segment offset, remote) of the first byte attached
 * @len: bytes attached from the page of @src, page aligned
 *
 * The attachment has its slot of device-file offsets and is charged to the
 * caller; no vma maps it yet.
 *
 * Return: the attachment (one reference), or an ERR_PTR (the caller keeps
 * its reference on @ap).
 */
struct xpmem_att *xpmem_att_create(struct xpmem_ap *ap, unsigned long src,
				   unsigned long len)
{
	struct xpmem_att *att;
	int ret;

	att = kzalloc(sizeof(*att), GFP_KERNEL_ACCOUNT);
	if (!att)
		return ERR_PTR(-ENOMEM);
	att->charged = xpmem_charge_uid();
	ret = xpmem_charge(att->charged, XPMEM_LIMIT_ATT);
	if (ret) {
		kfree(att);
		return ERR_PTR(ret);
	}
	kref_init(&att->kref);
	INIT_LIST_HEAD(&att->seg_node);
	INIT_LIST_HEAD(&att->rfaults);
	att->ap = ap;
	att->seg = ap->seg;
	att->mm = current->mm;
	att->src_start = src & PAGE_MASK;
	att->src_end = att->src_start + len;
	att->npages = len >> PAGE_SHIFT;
	att->writable = ap->flags == XPMEM_RDWR;
	ret = xpmem_slot_alloc(att);
	if (ret) {
		xpmem_uncharge(att->charged, XPMEM_LIMIT_ATT);
		kfree(att);
		return ERR_PTR(ret);
	}
	atomic_inc(&xpmem_objects[XPMEM_OBJ_ATT]);
	return att;
}

/**
 * xpmem_vma_exportable() - may pages of this source vma be handed out?
 * @vma: a vma of the exporter
 *
 * secretmem pages are removed from the kernel's direct map so that nothing
 * but their owner can read them; no attachment may map them. PFN and I/O
 * mappings have no struct pages to follow (hmm_range_fault() refuses them
 * too).
 *
 * Return: true if the vma's pages can be mapped by an attacher.
 */
bool xpmem_vma_exportable(struct vm_area_struct *vma)
{
	if (vma->vm_flags & (VM_IO | VM_PFNMAP))
		return false;
	if (vma->vm_file &&
	    file_inode(vma->vm_file)->i_sb->s_magic == SECRETMEM_MAGIC)
		return false;
	return true;
}

/**
 * xpmem_show_segments() - debugfs "segments": one line per live segment
 * @m: the seq_file
 */
void xpmem_show_segments(struct seq_file *m)
{
	struct xpmem_seg *seg;
	unsigned long idx;

	xa_lock(&xpmem_segs);
	xa_for_each(&xpmem_segs, idx, seg)
		seq_printf(m, "0x%016llx 0x%lx-0x%lx %o %lld %lld %lld %lld %lld %lld %lld %lld\n",
			   seg->segid, seg->start, seg->end, seg->mode,
			   (long long)atomic64_read(&seg->nr_faults),
			   (long long)atomic64_read(&seg->nr_mapped),
			   (long long)atomic64_read(&seg->nr_invalidates),
			   (long long)atomic64_read(&seg->nr_zapped),
			   (long long)atomic64_read(&seg->nr_pmd_mapped),
			   (long long)atomic64_read(&seg->nr_pmd_fallback),
			   (long long)atomic64_read(&seg->nr_batched),
			   (long long)atomic64_read(&seg->nr_order_fallback));
	xa_unlock(&xpmem_segs);
}

/**
 * xpmem_seg_next() - iterate over the local segments
 * @idx: in: where to look from (start at 0); out: where to go on
 *
 * Return: the next segment at or after *@idx with a reference (drop it
 * with xpmem_seg_put()), or NULL at the end.
 */
struct xpmem_seg *xpmem_seg_next(unsigned long *idx)
{
	struct xpmem_seg *seg;

	xa_lock(&xpmem_segs);
	for (;;) {
		seg = xa_find(&xpmem_segs, idx, ULONG_MAX, XA_PRESENT);
		if (!seg || kref_get_unless_zero(&seg->kref))
			break;
		(*idx)++;
	}
	xa_unlock(&xpmem_segs);
	if (seg)
		(*idx)++;
	return seg;
}

/**
 * xpmem_query_segments() - QUERY SEGMENTS or SEGMENT
 * @segid: the one segment, or 0 for every segment
 * @emit: called with one record per segment
 * @ctx: passed to @emit
 */
void xpmem_query_segments(s64 segid, xpmem_emit_t emit, void *ctx)
{
	struct xpmem_chan_record rec = {};
	struct xpmem_seg *seg;
	unsigned long idx;

	xa_lock(&xpmem_segs);
	xa_for_each(&xpmem_segs, idx, seg) {
		if (segid && seg->segid != segid)
			continue;
		rec.segid = seg->segid;
		rec.start = seg->start;
		rec.len = seg->end - seg->start;
		rec.aux = 0;
		rec.peer = xpmem_segid_node(seg->segid);
		rec.flags = seg->mode & 0222 ? 0 : XPMEM_CHAN_REC_RDONLY;
		emit(ctx, &rec);
	}
	xa_unlock(&xpmem_segs);
}
