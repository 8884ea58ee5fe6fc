/* SPDX-License-Identifier: LGPL-2.1-or-later OR BSD-2-Clause */
/*
 * libxpmem: thin wrappers around the /dev/xpmem ioctls.
 *
 * The device is opened lazily with O_CLOEXEC. Kernel state belongs to the
 * process that opened it: a fork child still holding the parent's fd gets
 * errno XPMEM_ERRNO_NOPROC, on which the library opens its own fd and
 * retries once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xpmem/xpmem_ioctl.h>

#include "xpmem.h"

_Static_assert(XPMEM_RDONLY == 0x1 && XPMEM_RDWR == 0x2, "flags");
_Static_assert(sizeof(off_t) == 8 && sizeof(size_t) == 8, "64-bit ABI");

static pthread_mutex_t xpmem_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t xpmem_once = PTHREAD_ONCE_INIT;
static int xpmem_fd = -1;
static pid_t xpmem_fd_pid;	/* the process that opened xpmem_fd */

/* a fork taken while another thread holds xpmem_lock must not leave the
 * child's copy of it locked for good */
static void xpmem_prefork(void)
{
	pthread_mutex_lock(&xpmem_lock);
}

static void xpmem_postfork(void)
{
	pthread_mutex_unlock(&xpmem_lock);
}

static void xpmem_setup(void)
{
	/* on failure the child may deadlock only if fork races a call, as
	 * before; nothing else depends on it */
	(void)pthread_atfork(xpmem_prefork, xpmem_postfork, xpmem_postfork);
}

/* Opens the device as the classic library does: it must be a character
 * device; the fd is close-on-exec. Returns the fd or -1 (errno set). */
static int xpmem_open(void)
{
	struct stat st = { .st_mode = S_IFCHR };
	int fd = open(XPMEM_DEV_PATH, O_RDWR | O_CLOEXEC);
	int err;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode))
		return fd;
	err = S_ISCHR(st.st_mode) ? errno : ENODEV;
	close(fd);
	errno = err;
	return -1;
}

/*
 * Returns the device fd, opening it if needed. @stale: the fd a call found
 * inherited across fork (XPMEM_ERRNO_NOPROC); it is replaced only if it was
 * opened by another process (a number compare alone let a second thread
 * close the fd the first one had just reopened under the same number, and
 * the module tear down that thread's new segments).
 */
static int xpmem_dev(int stale)
{
	int fd;

	(void)pthread_once(&xpmem_once, xpmem_setup);
	pthread_mutex_lock(&xpmem_lock);
	if (xpmem_fd >= 0 && xpmem_fd == stale && xpmem_fd_pid != getpid()) {
		/*
		 * The parent's fd is left open, not closed: another thread may
		 * have fetched its number and be about to use it (it gets
		 * NOPROC and retries on ours; closed, it got EBADF or, with
		 * the number reused, our new file), and a close here would
		 * flush under our tg. It is close-on-exec and goes at exit.
		 */
		int nfd = xpmem_open();

		if (nfd < 0) {
			fd = -1;
			goto out;
		}
		xpmem_fd = nfd;
		xpmem_fd_pid = getpid();
	}
	if (xpmem_fd < 0) {
		xpmem_fd = xpmem_open();
		xpmem_fd_pid = getpid();
	}
	fd = xpmem_fd;
out:
	pthread_mutex_unlock(&xpmem_lock);
	return fd;
}

/*
 * Exported as in the classic library (UCX's configure links against
 * xpmem_init). Opens /dev/xpmem for the calls that follow: 0 on success, -1
 * with errno set. The classic library opens a new fd on every call (leaking
 * the previous one); here a second call keeps the fd already open.
 */
int xpmem_init(void)
{
	return xpmem_dev(-1) < 0 ? -1 : 0;
}

/*
 * The classic library's ioctl wrapper, exported with its prototype: opens
 * the device if needed, passes @cmd and @arg to ioctl(2) and returns its
 * result (-1 and errno on failure). A fork child still holding its parent's
 * fd gets XPMEM_ERRNO_NOPROC; the device is then opened again and the call
 * retried once.
 */
int xpmem_ioctl(int cmd, void *arg)
{
	int fd = xpmem_dev(-1);
	int ret;

	if (fd < 0)
		return -1;
	ret = ioctl(fd, (unsigned int)cmd, arg);
	if (ret == -1 && errno == XPMEM_ERRNO_NOPROC) {
		/* Inherited across fork: get our own fd and retry once. */
		fd = xpmem_dev(fd);
		if (fd < 0)
			return -1;
		ret = ioctl(fd, (unsigned int)cmd, arg);
	}
	return ret;
}

int xpmem_version(void)
{
	return xpmem_ioctl(XPMEM_CMD_VERSION, NULL);
}

xpmem_segid_t xpmem_make(void *vaddr, size_t size, int permit_type,
			 void *permit_value)
{
	struct xpmem_cmd_make cmd = {
		.vaddr = (uintptr_t)vaddr,
		.size = size,
		.permit_type = permit_type,
		.permit_value = (uintptr_t)permit_value,
	};

	if (xpmem_ioctl(XPMEM_CMD_MAKE, &cmd) == -1)
		return -1;
	if (cmd.segid == 0) {
		errno = EIO;
		return -1;
	}
	return cmd.segid;
}

int xpmem_remove(xpmem_segid_t segid)
{
	struct xpmem_cmd_remove cmd = { .segid = segid };

	return xpmem_ioctl(XPMEM_CMD_REMOVE, &cmd) == -1 ? -1 : 0;
}

xpmem_apid_t xpmem_get(xpmem_segid_t segid, int flags, int permit_type,
		       void *permit_value)
{
	struct xpmem_cmd_get cmd = {
		.segid = segid,
		.flags = flags,
		.permit_type = permit_type,
		.permit_value = (uintptr_t)permit_value,
	};

	if (xpmem_ioctl(XPMEM_CMD_GET, &cmd) == -1)
		return -1;
	return cmd.apid;
}

int xpmem_release(xpmem_apid_t apid)
{
	struct xpmem_cmd_release cmd = { .apid = apid };

	return xpmem_ioctl(XPMEM_CMD_RELEASE, &cmd) == -1 ? -1 : 0;
}

void *xpmem_attach(struct xpmem_addr addr, size_t size, void *vaddr)
{
	struct xpmem_cmd_attach cmd = {
		.apid = addr.apid,
		.offset = addr.offset,
		.size = size,
		.vaddr = (uintptr_t)vaddr,
		.fd = -1,
	};

	if (xpmem_ioctl(XPMEM_CMD_ATTACH, &cmd) == -1)
		return (void *)-1;
	return (void *)(uintptr_t)cmd.vaddr;
}

int xpmem_detach(void *vaddr)
{
	struct xpmem_cmd_detach cmd = { .vaddr = (uintptr_t)vaddr };

	return xpmem_ioctl(XPMEM_CMD_DETACH, &cmd) == -1 ? -1 : 0;
}
