/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * The /dev/xpmem ioctl ABI, shared by xpmem.ko and libxpmem.
 *
 * Numbers and struct layouts match the classic XPMEM (2.7.x) that Open MPI,
 * UCX and MPICH are built against: _IO('x', n) with no size bits, natural
 * x86_64 layout. Fixed-width types spell out that layout (size_t and off_t
 * are 64-bit there); tests/unit/abi_layout.c pins every offset.
 */
#ifndef _UAPI_XPMEM_IOCTL_H
#define _UAPI_XPMEM_IOCTL_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* Major in the upper 16 bits; at least the 2.7.x line's 0x00027004. */
#define XPMEM_CURRENT_VERSION	0x00027005

#define XPMEM_DEVICE_NAME	"xpmem"

/* permit_type */
#define XPMEM_PERMIT_MODE	0x1
/* get flags */
#define XPMEM_RDONLY		0x1
#define XPMEM_RDWR		0x2

/* Classic errno for "this fd was opened by another thread group" (fork). */
#define XPMEM_ERRNO_NOPROC	2004

struct xpmem_cmd_make {
	__u64 vaddr;
	__u64 size;		/* size_t */
	__s32 permit_type;
	__u64 permit_value;
	__s64 segid;		/* out */
};

struct xpmem_cmd_remove {
	__s64 segid;
};

struct xpmem_cmd_get {
	__s64 segid;
	__s32 flags;
	__s32 permit_type;
	__u64 permit_value;
	__s64 apid;		/* out */
};

struct xpmem_cmd_release {
	__s64 apid;
};

struct xpmem_cmd_attach {
	__s64 apid;
	__s64 offset;		/* off_t */
	__u64 size;		/* size_t */
	__u64 vaddr;		/* in: requested address or 0; out: mapping */
	__s32 fd;		/* unused, kept for Cray compatibility */
	__s32 flags;		/* unused, kept for Cray compatibility */
};

struct xpmem_cmd_detach {
	__u64 vaddr;
};

#define XPMEM_CMD_VERSION	_IO('x', 0)
#define XPMEM_CMD_MAKE		_IO('x', 1)
#define XPMEM_CMD_REMOVE	_IO('x', 2)
#define XPMEM_CMD_GET		_IO('x', 3)
#define XPMEM_CMD_RELEASE	_IO('x', 4)
#define XPMEM_CMD_ATTACH	_IO('x', 5)
#define XPMEM_CMD_DETACH	_IO('x', 6)
#define XPMEM_CMD_FORK_BEGIN	_IO('x', 7)
#define XPMEM_CMD_FORK_END	_IO('x', 8)

#endif /* _UAPI_XPMEM_IOCTL_H */
