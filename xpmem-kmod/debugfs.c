// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/debug/xpmem/segments: one line per live segment with its
 * fault/mapping/invalidation counters; remote: the same for the remote
 * segments this node attaches (faults: round trips to the owner); memtype:
 * the memory type of the reader's attachment PTEs; failures: the non-zero
 * failure counters (stats.c). Also instantiates the tracepoints.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "attach.h"
#include "channel.h"
#include "debugfs.h"
#include "invalidate.h"
#include "remote.h"
#include "rmap.h"
#include "segment.h"
#include "stats.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

static struct dentry *xpmem_debugfs_dir;

static int xpmem_segments_show(struct seq_file *m, void *v)
{
	seq_puts(m, "segid range mode faults pages_mapped invalidations pages_zapped pmds_mapped pmd_fallbacks batched other_fallbacks\n");
	xpmem_show_segments(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(xpmem_segments);

static int xpmem_remote_show(struct seq_file *m, void *v)
{
	seq_puts(m, "segid owner size faults pages_mapped pages_zapped pmds_mapped pmd_fallbacks other_fallbacks\n");
	xpmem_show_rsegs(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(xpmem_remote);

static int xpmem_objects_show(struct seq_file *m, void *v)
{
	seq_printf(m, "tg %d\nseg %d\nap %d\natt %d\n",
		   atomic_read(&xpmem_objects[XPMEM_OBJ_TG]),
		   atomic_read(&xpmem_objects[XPMEM_OBJ_SEG]),
		   atomic_read(&xpmem_objects[XPMEM_OBJ_AP]),
		   atomic_read(&xpmem_objects[XPMEM_OBJ_ATT]));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(xpmem_objects);

/* The reader's own attachments: the memory type of their PTEs. */
static int xpmem_memtype_show(struct seq_file *m, void *v)
{
	seq_puts(m, "range present pages by memory type\n");
	xpmem_show_memtypes(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(xpmem_memtype);

/* The transport's state, then the owner side's state the daemon shapes. */
static int xpmem_channel_show(struct seq_file *m, void *v)
{
	unsigned long qe, qp;
	u64 rs, rb;

	xpmem_chan_show(m);
	xpmem_quar_counts(&qe, &qp);
	xpmem_resolve_counts(&rs, &rb);
	seq_printf(m, "quarantine_entries %lu\nquarantine_pages %lu\ngrants %lu\n"
		   "resolve_stale %llu\nresolve_peer_busy %llu\n",
		   qe, qp, xpmem_grant_count(), rs, rb);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(xpmem_channel);

/* "name count" per failure reason taken since load (stats.h). */
static int xpmem_failures_show(struct seq_file *m, void *v)
{
	xpmem_fails_show(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(xpmem_failures);

/**
 * xpmem_debugfs_init() - create /sys/kernel/debug/xpmem and its files
 */
void xpmem_debugfs_init(void)
{
	xpmem_debugfs_dir = debugfs_create_dir("xpmem", NULL);
	debugfs_create_file("segments", 0444, xpmem_debugfs_dir, NULL,
			    &xpmem_segments_fops);
	debugfs_create_file("remote", 0444, xpmem_debugfs_dir, NULL,
			    &xpmem_remote_fops);
	debugfs_create_file("objects", 0444, xpmem_debugfs_dir, NULL,
			    &xpmem_objects_fops);
	debugfs_create_file("memtype", 0444, xpmem_debugfs_dir, NULL,
			    &xpmem_memtype_fops);
	debugfs_create_file("channel", 0444, xpmem_debugfs_dir, NULL,
			    &xpmem_channel_fops);
	debugfs_create_file("failures", 0444, xpmem_debugfs_dir, NULL,
			    &xpmem_failures_fops);
}

/**
 * xpmem_debugfs_exit() - remove /sys/kernel/debug/xpmem
 */
void xpmem_debugfs_exit(void)
{
	debugfs_remove_recursive(xpmem_debugfs_dir);
}
