// SPDX-License-Identifier: GPL-2.0
/*
 * Per-user and per-peer limits on what xpmem's objects may cost the kernel.
 *
 * Segments and attachments are counted per effective uid of the process
 * that made them (like inotify's max_user_watches, and with the same errno
 * past the cap: ENOSPC); reverse-map entries are counted per remote peer,
 * so one partition cannot grow another's kernel memory without bound.
 * The caps are module parameters, changeable at runtime.
 */
#include <linux/hashtable.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/xarray.h>

#include "xpmem_private.h"

static unsigned int xpmem_max_segs = 65536;
module_param_named(max_segments_per_user, xpmem_max_segs, uint, 0644);
MODULE_PARM_DESC(max_segments_per_user,
		 "Segments one user may have made at once (default 65536)");

static unsigned int xpmem_max_atts = 1048576;
module_param_named(max_attachments_per_user, xpmem_max_atts, uint, 0644);
MODULE_PARM_DESC(max_attachments_per_user,
		 "Attachments one user may have at once (default 1048576)");

static unsigned int xpmem_max_rmap = 262144;
module_param_named(max_rmap_entries_per_peer, xpmem_max_rmap, uint, 0644);
MODULE_PARM_DESC(max_rmap_entries_per_peer,
		 "Reverse-map entries (resolved ranges) one remote partition may hold (default 262144)");

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
	return what == XPMEM_LIMIT_SEG ? READ_ONCE(xpmem_max_segs) :
	       READ_ONCE(xpmem_max_atts);
}

/**
 * xpmem_charge() - count one more object of @what for @uid
 * @uid: the user (effective uid of the maker)
 * @what: XPMEM_LIMIT_SEG or XPMEM_LIMIT_ATT
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
	if (ret && !u->count[XPMEM_LIMIT_SEG] && !u->count[XPMEM_LIMIT_ATT]) {
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
		if (!u->count[XPMEM_LIMIT_SEG] && !u->count[XPMEM_LIMIT_ATT]) {
			hash_del(&u->node);
			gone = u;
		}
	}
	spin_unlock(&xpmem_users_lock);
	kfree(gone);
}

/* Reverse-map entries per peer: peer -> count, as an xarray value. */
static DEFINE_XARRAY(xpmem_peer_entries);

/**
 * xpmem_peer_charge() - count one more reverse-map entry of @peer
 * @peer: the remote node the entry is for
 *
 * Return: 0, or -ENOSPC if @peer holds max_rmap_entries_per_peer entries:
 * the peer is refused further RESOLVEs until invalidations shrink its share.
 */
int xpmem_peer_charge(u32 peer)
{
	unsigned long n;
	void *old;
	int ret = 0;

	xa_lock(&xpmem_peer_entries);
	n = xa_to_value(xa_load(&xpmem_peer_entries, peer) ?: xa_mk_value(0));
	if (n >= READ_ONCE(xpmem_max_rmap)) {
		ret = -ENOSPC;
	} else {
		old = __xa_store(&xpmem_peer_entries, peer, xa_mk_value(n + 1),
				 GFP_ATOMIC);
		if (xa_is_err(old))
			ret = xa_err(old);
	}
	xa_unlock(&xpmem_peer_entries);
	if (ret == -ENOSPC)
		pr_warn_ratelimited("xpmem: peer %u holds %lu resolved ranges (max_rmap_entries_per_peer): further RESOLVEs refused\n",
				    peer, n);
	return ret;
}

/**
 * xpmem_peer_uncharge() - count one reverse-map entry of @peer less
 * @peer: the peer passed to xpmem_peer_charge()
 */
void xpmem_peer_uncharge(u32 peer)
{
	unsigned long n;

	xa_lock(&xpmem_peer_entries);
	n = xa_to_value(xa_load(&xpmem_peer_entries, peer) ?: xa_mk_value(0));
	if (!WARN_ON_ONCE(!n)) {
		if (n == 1)
			__xa_erase(&xpmem_peer_entries, peer);
		else
			__xa_store(&xpmem_peer_entries, peer,
				   xa_mk_value(n - 1), GFP_ATOMIC);
	}
	xa_unlock(&xpmem_peer_entries);
}

/**
 * xpmem_limits_exit() - module unload: every charge must be gone
 */
void xpmem_limits_exit(void)
{
	struct hlist_node *t;
	struct xpmem_user *u;
	int bkt;

	WARN_ON(!xa_empty(&xpmem_peer_entries));
	xa_destroy(&xpmem_peer_entries);
	hash_for_each_safe(xpmem_users, bkt, t, u, node) {
		WARN_ON(1);
		hash_del(&u->node);
		kfree(u);
	}
}
