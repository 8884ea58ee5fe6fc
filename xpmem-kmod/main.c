// SPDX-License-Identifier: GPL-2.0
/*
 * xpmem.ko: the /dev/xpmem misc device and ioctl dispatch.
 *
 * Cross-process memory attachments without long-term page pins: every
 * exported range carries an mmu_interval_notifier and attacher PTEs are
 * installed lazily from the fault handler and zapped on invalidation.
 */
#include <linux/mm.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/uaccess.h>

#include "attach.h"
#include "channel.h"
#include "control.h"
#include "debugfs.h"
#include "invalidate.h"
#include "limits.h"
#include "remote.h"
#include "rmap.h"
#include "segment.h"
#include "tg.h"
#include "verbs.h"

static int xpmem_open(struct inode *inode, struct file *file)
{
	struct xpmem_tg *tg;

	if (!current->mm)
		return -EINVAL;
	tg = xpmem_tg_create();
	if (IS_ERR(tg))
		return PTR_ERR(tg);
	file->private_data = tg;
	return 0;
}

/*
 * Called on every close(). Only the owning thread group tears down what it
 * made and got: a fork child closing its inherited copy changes nothing.
 */
static int xpmem_flush(struct file *file, fl_owner_t id)
{
	struct xpmem_tg *tg = file->private_data;

	if (xpmem_tg_is_current(tg))
		xpmem_tg_teardown(tg);
	return 0;
}

static int xpmem_release_file(struct inode *inode, struct file *file)
{
	struct xpmem_tg *tg = file->private_data;

	xpmem_tg_teardown(tg);
	xpmem_tg_put(tg);
	return 0;
}

static long xpmem_ioctl_make(struct xpmem_tg *tg, void __user *arg)
{
	struct xpmem_cmd_make cmd;
	s64 segid;
	int ret;

	if (copy_from_user(&cmd, arg, sizeof(cmd)))
		return -EFAULT;
	ret = xpmem_make(tg, cmd.vaddr, cmd.size, cmd.permit_type,
			 cmd.permit_value, &segid);
	if (ret)
		return ret;
	if (put_user(segid, &((struct xpmem_cmd_make __user *)arg)->segid)) {
		xpmem_remove(tg, segid);
		return -EFAULT;
	}
	return 0;
}

static long xpmem_ioctl_get(struct xpmem_tg *tg, void __user *arg)
{
	struct xpmem_cmd_get cmd;
	s64 apid;
	int ret;

	if (copy_from_user(&cmd, arg, sizeof(cmd)))
		return -EFAULT;
	ret = xpmem_get(tg, cmd.segid, cmd.flags, cmd.permit_type,
			cmd.permit_value, &apid);
	if (ret)
		return ret;
	if (put_user(apid, &((struct xpmem_cmd_get __user *)arg)->apid)) {
		xpmem_release(tg, apid);
		return -EFAULT;
	}
	return 0;
}

static long xpmem_ioctl_attach(struct file *file, struct xpmem_tg *tg,
			       void __user *arg)
{
	struct xpmem_cmd_attach cmd;
	u64 vaddr;
	int ret;

	if (copy_from_user(&cmd, arg, sizeof(cmd)))
		return -EFAULT;
	vaddr = cmd.vaddr;
	ret = xpmem_attach(file, tg, cmd.apid, cmd.offset, cmd.size, &vaddr);
	if (ret)
		return ret;
	if (put_user(vaddr, &((struct xpmem_cmd_attach __user *)arg)->vaddr)) {
		xpmem_detach(tg, vaddr);
		return -EFAULT;
	}
	return 0;
}

static long xpmem_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct xpmem_tg *tg = file->private_data;
	void __user *uarg = (void __user *)arg;

	if (cmd == XPMEM_CMD_VERSION)
		return XPMEM_CURRENT_VERSION;

	/* State belongs to the opener; a fork child must open its own fd. */
	if (!xpmem_tg_is_current(tg))
		return -XPMEM_ERRNO_NOPROC;

	switch (cmd) {
	case XPMEM_CMD_MAKE:
		return xpmem_ioctl_make(tg, uarg);
	case XPMEM_CMD_REMOVE: {
		struct xpmem_cmd_remove c;

		if (copy_from_user(&c, uarg, sizeof(c)))
			return -EFAULT;
		return xpmem_remove(tg, c.segid);
	}
	case XPMEM_CMD_GET:
		return xpmem_ioctl_get(tg, uarg);
	case XPMEM_CMD_RELEASE: {
		struct xpmem_cmd_release c;

		if (copy_from_user(&c, uarg, sizeof(c)))
			return -EFAULT;
		return xpmem_release(tg, c.apid);
	}
	case XPMEM_CMD_ATTACH:
		return xpmem_ioctl_attach(file, tg, uarg);
	case XPMEM_CMD_DETACH: {
		struct xpmem_cmd_detach c;

		if (copy_from_user(&c, uarg, sizeof(c)))
			return -EFAULT;
		return xpmem_detach(tg, c.vaddr);
	}
	case XPMEM_CMD_FORK_BEGIN:
	case XPMEM_CMD_FORK_END:
		/* Attachments are VM_DONTCOPY and nothing is pinned. */
		return 0;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations xpmem_fops = {
	.owner		= THIS_MODULE,
	.open		= xpmem_open,
	.flush		= xpmem_flush,
	.release	= xpmem_release_file,
	.unlocked_ioctl	= xpmem_ioctl,
	.mmap		= xpmem_mmap,
	.get_unmapped_area = thp_get_unmapped_area,
	.llseek		= noop_llseek,
};

static struct miscdevice xpmem_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= XPMEM_DEVICE_NAME,
	.fops	= &xpmem_fops,
	.mode	= 0666,
};

static int __init xpmem_init(void)
{
	int ret;

	ret = xpmem_ids_init();
	if (ret)
		return ret;
	xpmem_invalidate_init();
	ret = xpmem_rmap_init();
	if (ret)
		goto err_ids;
	/* The channel's table: each file's rows of the types it handles. */
	ret = xpmem_chan_register(xpmem_control_chan) ?:
	      xpmem_chan_register(xpmem_rmap_chan) ?:
	      xpmem_chan_register(xpmem_invalidate_chan) ?:
	      xpmem_chan_register(xpmem_remote_chan) ?:
	      xpmem_chan_init();
	if (ret)
		goto err_rmap;
	ret = misc_register(&xpmem_misc);
	if (ret)
		goto err_chan;
	xpmem_debugfs_init();
	return 0;

err_chan:
	xpmem_chan_exit();
err_rmap:
	xpmem_rmap_exit();
	xpmem_invalidate_exit();
err_ids:
	xpmem_ids_exit();
	return ret;
}

static void __exit xpmem_exit(void)
{
	xpmem_debugfs_exit();
	misc_deregister(&xpmem_misc);
	xpmem_chan_exit();
	xpmem_rmap_exit();
	xpmem_invalidate_exit();
	xpmem_windows_exit();
	xpmem_ids_exit();
	xpmem_limits_exit();
}

module_init(xpmem_init);
module_exit(xpmem_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("XPMEM cross-process memory without long-term page pins");
MODULE_VERSION("2.7.5");
