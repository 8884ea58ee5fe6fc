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
/*
 * A local fault costs far more than mapping one more present page (the
 * exception, the source lookup, the notifier sequence, the locks): map up
 * to this many present pages per fault, an aligned block within the PMD.
 */
unsigned int xpmem_local_window = 128;
unsigned int xpmem_remote_timeout_ms = 5000;
unsigned int xpmem_ack_timeout_ms = 5000;

/* The bounded unsigned parameters: each one's value is in [1, max]. */
static const struct {
	unsigned int *var;
	unsigned int max;
} xpmem_bounded[] = {
	{ &xpmem_fault_window, XPMEM_MAX_FAULT_WINDOW },
	{ &xpmem_local_window, XPMEM_MAX_LOCAL_WINDOW },
	{ &xpmem_remote_timeout_ms, 600000 },
	/* the invalidation wait is uninterruptible: below the hung-task limit */
	{ &xpmem_ack_timeout_ms, 60000 },
};

static int xpmem_bounded_set(const char *val, const struct kernel_param *kp)
{
	unsigned int n, i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(xpmem_bounded); i++)
		if (xpmem_bounded[i].var == kp->arg)
			break;
	if (WARN_ON(i == ARRAY_SIZE(xpmem_bounded)))
		return -EINVAL;
	ret = kstrtouint(val, 0, &n);
	if (ret)
		return ret;
	if (n < 1 || n > xpmem_bounded[i].max)
		return -EINVAL;
	WRITE_ONCE(*xpmem_bounded[i].var, n);
	return 0;
}

static const struct kernel_param_ops xpmem_bounded_ops = {
	.set = xpmem_bounded_set,
	.get = param_get_uint,
};

module_param_cb(fault_window_pages, &xpmem_bounded_ops, &xpmem_fault_window,
		0644);
MODULE_PARM_DESC(fault_window_pages,
		 "Remote segments: pages resolved around a fault (1-64, default 16)");

module_param_cb(local_window_pages, &xpmem_bounded_ops, &xpmem_local_window,
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

module_param_cb(remote_timeout_ms, &xpmem_bounded_ops,
		&xpmem_remote_timeout_ms, 0644);
MODULE_PARM_DESC(remote_timeout_ms,
		 "How long a remote get or fault waits for xpmemd (1-600000 ms, default 5000)");
module_param_cb(ack_timeout_ms, &xpmem_bounded_ops, &xpmem_ack_timeout_ms,
		0644);
MODULE_PARM_DESC(ack_timeout_ms,
		 "How long an invalidation waits for peer acks before quarantining (1-60000 ms, default 5000)");

bool xpmem_ram_windows;
module_param_named(ram_windows, xpmem_ram_windows, bool, 0644);
MODULE_PARM_DESC(ram_windows,
		 "Accept PEER_WINDOWs over local System RAM (loopback testing only; default off)");
