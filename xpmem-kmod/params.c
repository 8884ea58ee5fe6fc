// SPDX-License-Identifier: GPL-2.0
/*
 * The module's tunables (/sys/module/xpmem/parameters/), but the limits
 * (limits.c).
 */
#include <linux/kernel.h>
#include <linux/moduleparam.h>

#include "compat/xpmem_compat.h"
#include "params.h"

unsigned int xpmem_fault_window = 16;

static int window_set(const char *val, const struct kernel_param *kp,
		      unsigned int max)
{
	unsigned int n;
	int ret;

	ret = kstrtouint(val, 0, &n);
	if (ret)
		return ret;
	if (n < 1 || n > max)
		return -EINVAL;
	WRITE_ONCE(*(unsigned int *)kp->arg, n);
	return 0;
}

static int fault_window_set(const char *val, const struct kernel_param *kp)
{
	return window_set(val, kp, XPMEM_MAX_FAULT_WINDOW);
}

static const struct kernel_param_ops fault_window_ops = {
	.set = fault_window_set,
	.get = param_get_uint,
};

module_param_cb(fault_window_pages, &fault_window_ops, &xpmem_fault_window,
		0644);
MODULE_PARM_DESC(fault_window_pages,
		 "Remote segments: pages resolved around a fault (1-64, default 16)");

/*
 * A local fault costs far more than mapping one more present page (the
 * exception, the source lookup, the notifier sequence, the locks): map up
 * to this many present pages per fault, an aligned block within the PMD.
 */
unsigned int xpmem_local_window = 128;

static int local_window_set(const char *val, const struct kernel_param *kp)
{
	return window_set(val, kp, XPMEM_MAX_LOCAL_WINDOW);
}

static const struct kernel_param_ops local_window_ops = {
	.set = local_window_set,
	.get = param_get_uint,
};

module_param_cb(local_window_pages, &local_window_ops, &xpmem_local_window,
		0644);
MODULE_PARM_DESC(local_window_pages,
		 "Local segments: pages mapped around a fault if already present in the source (1-512, default 128)");

/*
 * Whether huge source pages map with one PMD: only where the kernel has
 * special huge PFN maps (pmd_special, 6.12), which GUP-fast refuses; before
 * that GUP-fast takes page references through any huge PMD, so a PMD-mapped
 * attachment could be pinned past its revocation (compat/xpmem_compat.h).
 * Shown read-only so tests and tools can tell.
 */
static bool xpmem_map_pmd = XPMEM_PMD_MAPPINGS;
module_param_named(map_pmd, xpmem_map_pmd, bool, 0444);
MODULE_PARM_DESC(map_pmd,
		 "Huge source pages map with one PMD (Y only on kernels with special huge PFN maps)");

unsigned int xpmem_remote_timeout_ms = 5000;
unsigned int xpmem_ack_timeout_ms = 5000;

static int timeout_set(const char *val, const struct kernel_param *kp,
		       unsigned int max)
{
	unsigned int n;
	int ret;

	ret = kstrtouint(val, 0, &n);
	if (ret)
		return ret;
	if (n < 1 || n > max)
		return -EINVAL;
	WRITE_ONCE(*(unsigned int *)kp->arg, n);
	return 0;
}

static int remote_timeout_set(const char *val, const struct kernel_param *kp)
{
	return timeout_set(val, kp, 600000);
}

/* The invalidation wait is uninterruptible: stay below the hung-task limit. */
static int ack_timeout_set(const char *val, const struct kernel_param *kp)
{
	return timeout_set(val, kp, 60000);
}

static const struct kernel_param_ops remote_timeout_ops = {
	.set = remote_timeout_set,
	.get = param_get_uint,
};

static const struct kernel_param_ops ack_timeout_ops = {
	.set = ack_timeout_set,
	.get = param_get_uint,
};

module_param_cb(remote_timeout_ms, &remote_timeout_ops,
		&xpmem_remote_timeout_ms, 0644);
MODULE_PARM_DESC(remote_timeout_ms,
		 "How long a remote get or fault waits for xpmemd (1-600000 ms, default 5000)");
module_param_cb(ack_timeout_ms, &ack_timeout_ops, &xpmem_ack_timeout_ms,
		0644);
MODULE_PARM_DESC(ack_timeout_ms,
		 "How long an invalidation waits for peer acks before quarantining (1-60000 ms, default 5000)");

bool xpmem_ram_windows;
module_param_named(ram_windows, xpmem_ram_windows, bool, 0644);
MODULE_PARM_DESC(ram_windows,
		 "Accept PEER_WINDOWs over local System RAM (loopback testing only; default off)");
