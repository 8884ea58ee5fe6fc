// SPDX-License-Identifier: GPL-2.0
/*
 * Per-thread-group state: what one process made (segments) and got (access
 * permits) through one open of /dev/xpmem.
 */
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "segment.h"
#include "tg.h"
#include "verbs.h"

/**
 * xpmem_tg_create() - state for an open of /dev/xpmem by current
 *
 * Return: the new state with one reference, or ERR_PTR(-ENOMEM).
 */
struct xpmem_tg *xpmem_tg_create(void)
{
	struct xpmem_tg *tg;

	tg = kzalloc(sizeof(*tg), GFP_KERNEL);
	if (!tg)
		return ERR_PTR(-ENOMEM);
	kref_init(&tg->kref);
	atomic_inc(&xpmem_objects[XPMEM_OBJ_TG]);
	tg->tgid = get_pid(task_tgid(current));
	tg->mm = current->mm;
	mmgrab(tg->mm);
	mutex_init(&tg->lock);
	INIT_LIST_HEAD(&tg->segs);
	INIT_LIST_HEAD(&tg->aps);
	return tg;
}

static void xpmem_tg_free(struct kref *kref)
{
	struct xpmem_tg *tg = container_of(kref, struct xpmem_tg, kref);

	put_pid(tg->tgid);
	mmdrop(tg->mm);
	kfree(tg);
	atomic_dec(&xpmem_objects[XPMEM_OBJ_TG]);
}

/**
 * xpmem_tg_put() - drop a reference on thread group state
 * @tg: the state; the last reference frees it
 */
void xpmem_tg_put(struct xpmem_tg *tg)
{
	kref_put(&tg->kref, xpmem_tg_free);
}

/**
 * xpmem_tg_is_current() - is current the opener of @tg?
 * @tg: the state
 *
 * A fork child, or the same pid after exec, is not.
 *
 * Return: true if current is the thread group (and address space) that
 * opened the device.
 */
bool xpmem_tg_is_current(struct xpmem_tg *tg)
{
	return tg->tgid == task_tgid(current) && tg->mm == current->mm;
}

/**
 * xpmem_tg_teardown() - release every permit and remove every segment of @tg
 * @tg: the state
 *
 * Idempotent; called from flush by the owner and from the final release of
 * the file.
 */
void xpmem_tg_teardown(struct xpmem_tg *tg)
{
	struct xpmem_seg *seg, *tseg;
	struct xpmem_ap *ap, *tap;
	LIST_HEAD(segs);
	LIST_HEAD(aps);

	mutex_lock(&tg->lock);
	tg->dead = true;
	list_splice_init(&tg->aps, &aps);
	list_splice_init(&tg->segs, &segs);
	list_for_each_entry(ap, &aps, tg_node)
		WRITE_ONCE(ap->dead, true);
	mutex_unlock(&tg->lock);

	list_for_each_entry_safe(ap, tap, &aps, tg_node) {
		list_del_init(&ap->tg_node);
		xpmem_ap_destroy(ap);
	}
	list_for_each_entry_safe(seg, tseg, &segs, tg_node) {
		list_del_init(&seg->tg_node);
		xpmem_seg_destroy(seg);
	}
}
