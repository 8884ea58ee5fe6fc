/* SPDX-License-Identifier: LGPL-2.1-or-later OR BSD-2-Clause */
/*
 * libxpmem: the classic XPMEM user API over /dev/xpmem.
 *
 * Source compatible with the hpc/xpmem library that Open MPI, UCX and MPICH
 * are built against. Calls return -1 ((void *)-1 for xpmem_attach) and set
 * errno on failure.
 */
#ifndef _XPMEM_H
#define _XPMEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ioctl numbers and structs for xpmem_ioctl(), as the classic header has */
#include <xpmem/xpmem_ioctl.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int64_t xpmem_segid_t;	/* segment id */
typedef int64_t xpmem_apid_t;	/* access permit id */

struct xpmem_addr {
	xpmem_apid_t apid;	/* from xpmem_get() */
	off_t offset;		/* offset into the segment */
};

#ifndef XPMEM_DEV_PATH
#define XPMEM_DEV_PATH		"/dev/xpmem"
#endif

#define XPMEM_MAXADDR_SIZE	((size_t)-1)

/* xpmem_get() flags */
#define XPMEM_RDONLY		0x1
#define XPMEM_RDWR		0x2

/* permit_type */
#define XPMEM_PERMIT_MODE	0x1

/* Opens /dev/xpmem (done on first use by every call below): 0 or -1. */
int xpmem_init(void);
/* ioctl(2) on the library's /dev/xpmem fd, opened if needed (classic API). */
int xpmem_ioctl(int cmd, void *arg);
int xpmem_version(void);
xpmem_segid_t xpmem_make(void *vaddr, size_t size, int permit_type,
			 void *permit_value);
int xpmem_remove(xpmem_segid_t segid);
xpmem_apid_t xpmem_get(xpmem_segid_t segid, int flags, int permit_type,
		       void *permit_value);
int xpmem_release(xpmem_apid_t apid);
void *xpmem_attach(struct xpmem_addr addr, size_t size, void *vaddr);
int xpmem_detach(void *vaddr);

#ifdef __cplusplus
}
#endif

#endif /* _XPMEM_H */
