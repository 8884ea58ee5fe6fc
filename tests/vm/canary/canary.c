// SPDX-License-Identifier: GPL-2.0
/*
 * Testbed canary, for tests/vm/debug-selftest only: on load it provokes one
 * real report of the debug kernel's checkers, chosen by fault=, so the
 * selftest can show that tests/vm/run catches each kind. It then refuses to
 * stay loaded (-ECANCELED), so it can be inserted again.
 *   kasan   a read one byte past a kmalloc'ed object (KASAN slab-out-of-bounds)
 *   lockdep two mutexes taken in both orders (lockdep: circular dependency)
 *   sleep   might_sleep() under a spinlock (DEBUG_ATOMIC_SLEEP)
 *   leak    a kmalloc'ed object nothing points to (kmemleak)
 */
#include <linux/compiler.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>

static char *fault = "none";
module_param(fault, charp, 0444);
MODULE_PARM_DESC(fault, "kasan, lockdep, sleep or leak");

static DEFINE_MUTEX(canary_a);
static DEFINE_MUTEX(canary_b);
static DEFINE_SPINLOCK(canary_lock);

static int __init canary_init(void)
{
	if (!strcmp(fault, "kasan")) {
		size_t past = 16;
		char *p = kmalloc(16, GFP_KERNEL);

		if (!p)
			return -ENOMEM;
		OPTIMIZER_HIDE_VAR(past);	/* no compile-time bound check */
		pr_info("canary: read past a 16-byte object: %d\n", p[past]);
		kfree(p);
	} else if (!strcmp(fault, "lockdep")) {
		mutex_lock(&canary_a);
		mutex_lock(&canary_b);
		mutex_unlock(&canary_b);
		mutex_unlock(&canary_a);
		mutex_lock(&canary_b);
		mutex_lock(&canary_a);
		mutex_unlock(&canary_a);
		mutex_unlock(&canary_b);
	} else if (!strcmp(fault, "sleep")) {
		spin_lock(&canary_lock);
		might_sleep();
		spin_unlock(&canary_lock);
	} else if (!strcmp(fault, "leak")) {
		if (!kmalloc(128, GFP_KERNEL))
			return -ENOMEM;
		pr_info("canary: leaked a 128-byte object\n");
	} else {
		pr_err("canary: unknown fault '%s'\n", fault);
		return -EINVAL;
	}
	return -ECANCELED;
}
module_init(canary_init);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("xpmem testbed canary: provokes debug-kernel reports");
