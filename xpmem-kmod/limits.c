// SPDX-License-Identifier: GPL-2.0
/*
 * Per-user and per-peer limits on what xpmem's objects may cost the kernel.
 *
 * Segments, access permits and attachments are counted per user (see
 * xpmem_charge_uid(); like inotify's max_user_watches, and with the same
 * errno past the cap: ENOSPC); resolved pages are counted per remote peer,
 * so one partition cannot grow another's kernel memory without bound.
 * The caps are module parameters, changeable at runtime.
 */
#include <linux/hashtable.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/user_namespace.h>
#include <linux/cred.h>
#include <linux/mm.h>
#include <linux/xarray.h>

#include "limits.h"

static unsigned int xpmem_max_segs = 65536;
module_param_named(max_segments_per_user, xpmem_max_segs, uint, 0644);
MODULE_PARM_DESC(max_segments_per_user,
		 "Segments one user may have made at once (default 65536)");

static unsigned int xpmem_max_atts = 1048576;
module_param_named(max_attachments_per_user, xpmem_max_atts, uint, 0644);
MODULE_PARM_DESC(max_attachments_per_user,
		 "Attachments one user may have at once (default 1048576)");

static unsigned int xpmem_max_aps = 1048576;
module_param_named(max_permits_per_user, xpmem_max_aps, uint, 0644);
MODULE_PARM_DESC(max_permits_per_user,
		 "Access permits (xpmem_get) one user may hold at once (default 1048576)");

/* Attachments over 32 GiB share 32766 file-offset slots between all users. */
static unsigned int xpmem_max_big = 1024;
module_param_named(max_big_attachments_per_user, xpmem_max_big, uint, 0644);
MODULE_PARM_DESC(max_big_attachments_per_user,
		 "Attachments larger than 32 GiB one user may have at once (default 1024 of 32766 in all)");

/* 0: as many pages as this node has RAM (set at load). */
static unsigned long xpmem_max_rmap_pages;
module_param_named(max_rmap_pages_per_peer, xpmem_max_rmap_pages, ulong, 0644);
MODULE_PARM_DESC(max_rmap_pages_per_peer,
		 "Pages one remote partition may hold resolved at once (default: this node's RAM pages)");

/* Grants (CHECK_GET): records per segment and per peer. */
static unsigned int xpmem_max_grants_seg = 1024;
module_param_named(max_grants_per_segment, xpmem_max_grants_seg, uint, 0644);
MODULE_PARM_DESC(max_grants_per_segment,
		 "Remote (peer, incarnation) grants one segment may hold (default 1024)");

static unsigned int xpmem_max_grants_peer = 65536;
module_param_named(max_grants_per_peer, xpmem_max_grants_peer, uint, 0644);
MODULE_PARM_DESC(max_grants_per_peer,
		 "Segments one remote partition may hold grants on at once (default 65536)");

/* RESOLVEs of one peer queued or running at once (of 256 in all). */
static unsigned int xpmem_max_resolves_peer = 64;
module_param_named(max_resolves_per_peer, xpmem_max_resolves_peer, uint, 0644);
MODULE_PARM_DESC(max_resolves_per_peer,
		 "RESOLVEs one remote partition may have queued or running at once, of 256 in all (default 64)");

static DEFINE_XARRAY(xpmem_peer_resolves);

struct xpmem_user {
	struct hlist_node node;
	kuid_t uid;
	unsigned int count[XPMEM_LIMIT_NR];
};

static DEFINE_SPINLOCK(xpmem_users_lock);
static DEFINE_HASHTABLE(xpmem_users, 7);

static struct xpmem_user *xpmem_user_find(kuid_t uid)
{
	struct xpmem_user *u;

	hash_for_each_possible(xpmem_users, u, node, __kuid_val(uid))
		if (uid_eq(u->uid, uid))
			return u;
	return NULL;
}

static unsigned int xpmem_limit(enum xpmem_limit what)
{
	switch (what) {
	case XPMEM_LIMIT_SEG:
		return READ_ONCE(xpmem_max_segs);
	case XPMEM_LIMIT_ATT:
		return READ_ONCE(xpmem_max_atts);
	case XPMEM_LIMIT_AP:
		return READ_ONCE(xpmem_max_aps);
	default:
		return READ_ONCE(xpmem_max_big);
	}
}

static bool xpmem_user_unused(struct xpmem_user *u)
{
	int i;

	for (i = 0; i < XPMEM_LIMIT_NR; i++)
		if (u->count[i])
			return false;
	return true;
}

/**
 * xpmem_charge_uid() - the user the current task's objects are counted for
 *
 * The effective uid in the initial user namespace; inside a user namespace,
 * the (initial-namespace) owner of its outermost ancestor below the initial
 * one, as ucounts-based limits do: the uids mapped into a namespace (e.g.
 * 65536 subordinate ids) do not each get a quota of their own.
 *
 * Return: the uid to pass to xpmem_charge().
 */
kuid_t xpmem_charge_uid(void)
{
	const struct user_namespace *ns = current_user_ns();

	if (ns == &init_user_ns)
		return current_euid();
	while (ns->parent != &init_user_ns)
		ns = ns->parent;
	return ns->owner;
}

/**
 * xpmem_charge() - count one more object of @what for @uid
 * @uid: the user (effective uid of the maker)
 * @what: XPMEM_LIMIT_SEG, _ATT, _AP or _BIG
 *
 * Return: 0, -ENOSPC if @uid is at its cap, -ENOMEM.
 */
int xpmem_charge(kuid_t uid, enum xpmem_limit what)
{
	struct xpmem_user *u, *fresh = NULL;
	int ret = 0;

	for (;;) {
		spin_lock(&xpmem_users_lock);
		u = xpmem_user_find(uid);
		if (u || fresh)
			break;
		spin_unlock(&xpmem_users_lock);
		fresh = kzalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);
		if (!fresh)
			return -ENOMEM;
		fresh->uid = uid;
	}
	if (!u) {
		u = fresh;
		fresh = NULL;
		hash_add(xpmem_users, &u->node, __kuid_val(uid));
	}
	if (u->count[what] >= xpmem_limit(what))
		ret = -ENOSPC;
	else
		u->count[what]++;
	if (ret && xpmem_user_unused(u)) {
		hash_del(&u->node);
		fresh = u;
	}
	spin_unlock(&xpmem_users_lock);
	kfree(fresh);
	return ret;
}

/**
 * xpmem_uncharge() - count one object of @what less for @uid
 * @uid: the user charged by xpmem_charge()
 * @what: what was charged
 */
void xpmem_uncharge(kuid_t uid, enum xpmem_limit what)
{
	struct xpmem_user *u, *gone = NULL;

	spin_lock(&xpmem_users_lock);
	u = xpmem_user_find(uid);
	if (!WARN_ON_ONCE(!u || !u->count[what])) {
		u->count[what]--;
		if (xpmem_user_unused(u)) {
			hash_del(&u->node);
			gone = u;
		}
	}
	spin_unlock(&xpmem_users_lock);
	kfree(gone);
}

/* Resolved pages per peer: peer -> count, as an xarray value. */
static DEFINE_XARRAY(xpmem_peer_pages);

/**
 * xpmem_peer_charge() - count @npages more resolved pages for @peer
 * @peer: the remote node the reverse-map entry is for
 * @npages: pages in the entry
 *
 * Return: 0, or -ENOSPC if that would exceed max_rmap_pages_per_peer: the
 * peer is fenced (its RESOLVEs fail) until invalidations shrink its share.
 */
int xpmem_peer_charge(u32 peer, unsigned long npages)
{
	unsigned long n, max = READ_ONCE(xpmem_max_rmap_pages);
	void *old;
	int ret = 0;

	if (!max)
		max = totalram_pages();
	xa_lock(&xpmem_peer_pages);
	n = xa_to_value(xa_load(&xpmem_peer_pages, peer) ?: xa_mk_value(0));
	if (npages > max || n > max - npages) {
		ret = -ENOSPC;
	} else {
		old = __xa_store(&xpmem_peer_pages, peer,
				 xa_mk_value(n + npages), GFP_ATOMIC);
		if (xa_is_err(old))
			ret = xa_err(old);
	}
	xa_unlock(&xpmem_peer_pages);
	if (ret == -ENOSPC)
		pr_warn_ratelimited("xpmem: peer %u holds %lu resolved pages (max_rmap_pages_per_peer): its RESOLVEs are refused until invalidations shrink that\n",
				    peer, n);
	return ret;
}

/**
 * xpmem_peer_resolve_get() - take one of @peer's RESOLVE slots
 * @peer: the requesting remote node
 *
 * A keyed peer that floods RESOLVEs fills at most max_resolves_per_peer of
 * the kernel's 256 slots, so other partitions' faults still get through.
 *
 * Return: 0, -EAGAIN if @peer has max_resolves_per_peer in flight, or
 * -ENOMEM.
 */
int xpmem_peer_resolve_get(u32 peer)
{
	unsigned long n;
	void *old;
	int ret = 0;

	xa_lock(&xpmem_peer_resolves);
	n = xa_to_value(xa_load(&xpmem_peer_resolves, peer) ?: xa_mk_value(0));
	if (n >= READ_ONCE(xpmem_max_resolves_peer)) {
		ret = -EAGAIN;
	} else {
		old = __xa_store(&xpmem_peer_resolves, peer, xa_mk_value(n + 1),
				 GFP_ATOMIC);
		if (xa_is_err(old))
			ret = xa_err(old);
	}
	xa_unlock(&xpmem_peer_resolves);
	return ret;
}

/**
 * xpmem_peer_resolve_put() - give back a slot xpmem_peer_resolve_get() took
 * @peer: the peer passed to it
 */
void xpmem_peer_resolve_put(u32 peer)
{
	unsigned long n;

	xa_lock(&xpmem_peer_resolves);
	n = xa_to_value(xa_load(&xpmem_peer_resolves, peer) ?: xa_mk_value(0));
	if (!WARN_ON_ONCE(!n)) {
		if (n == 1)
			__xa_erase(&xpmem_peer_resolves, peer);
		else
			__xa_store(&xpmem_peer_resolves, peer,
				   xa_mk_value(n - 1), GFP_ATOMIC);
	}
	xa_unlock(&xpmem_peer_resolves);
}

/**
 * xpmem_peer_uncharge() - count @npages resolved pages of @peer less
 * @peer: the peer passed to xpmem_peer_charge()
 * @npages: the pages charged then
 */
void xpmem_peer_uncharge(u32 peer, unsigned long npages)
{
	unsigned long n;

	xa_lock(&xpmem_peer_pages);
	n = xa_to_value(xa_load(&xpmem_peer_pages, peer) ?: xa_mk_value(0));
	if (!WARN_ON_ONCE(n < npages)) {
		if (n == npages)
			__xa_erase(&xpmem_peer_pages, peer);
		else
			__xa_store(&xpmem_peer_pages, peer,
				   xa_mk_value(n - npages), GFP_ATOMIC);
	}
	xa_unlock(&xpmem_peer_pages);
}

/**
 * xpmem_grants_per_seg_max() - the cap on grant records of one segment
 *
 * Return: max_grants_per_segment.
 */
unsigned int xpmem_grants_per_seg_max(void)
{
	return READ_ONCE(xpmem_max_grants_seg);
}

/* Grant records per peer: peer -> count, as an xarray value. */
static DEFINE_XARRAY(xpmem_peer_grants);

/**
 * xpmem_peer_grant_charge() - count one more grant record for @peer
 * @peer: the remote node CHECK_GET granted a permit
 *
 * Return: 0, -ENOSPC if @peer holds max_grants_per_peer records already
 * (its remote gets fail until it releases some), -ENOMEM.
 */
int xpmem_peer_grant_charge(u32 peer)
{
	unsigned long n, max = READ_ONCE(xpmem_max_grants_peer);
	void *old;
	int ret = 0;

	xa_lock(&xpmem_peer_grants);
	n = xa_to_value(xa_load(&xpmem_peer_grants, peer) ?: xa_mk_value(0));
	if (n >= max) {
		ret = -ENOSPC;
	} else {
		old = __xa_store(&xpmem_peer_grants, peer, xa_mk_value(n + 1),
				 GFP_ATOMIC);
		if (xa_is_err(old))
			ret = xa_err(old);
	}
	xa_unlock(&xpmem_peer_grants);
	if (ret == -ENOSPC)
		pr_warn_ratelimited("xpmem: peer %u holds grants on %lu segments (max_grants_per_peer): its remote gets are refused (ENOSPC) until it releases some\n",
				    peer, n);
	return ret;
}

/**
 * xpmem_peer_grant_uncharge() - count one grant record of @peer less
 * @peer: the peer passed to xpmem_peer_grant_charge()
 */
void xpmem_peer_grant_uncharge(u32 peer)
{
	unsigned long n;

	xa_lock(&xpmem_peer_grants);
	n = xa_to_value(xa_load(&xpmem_peer_grants, peer) ?: xa_mk_value(0));
	if (!WARN_ON_ONCE(!n)) {
		if (n == 1)
			__xa_erase(&xpmem_peer_grants, peer);
		else
			__xa_store(&xpmem_peer_grants, peer, xa_mk_value(n - 1),
				   GFP_ATOMIC);
	}
	xa_unlock(&xpmem_peer_grants);
}

/**
 * xpmem_limits_exit() - module unload: every charge must be gone
 */
void xpmem_limits_exit(void)
{
	struct hlist_node *t;
	struct xpmem_user *u;
	int bkt;

	WARN_ON(!xa_empty(&xpmem_peer_pages));
	xa_destroy(&xpmem_peer_pages);
	WARN_ON(!xa_empty(&xpmem_peer_grants));
	xa_destroy(&xpmem_peer_grants);
	hash_for_each_safe(xpmem_users, bkt, t, u, node) {
		WARN_ON(1);
		hash_del(&u->node);
		kfree(u);
	}
}
