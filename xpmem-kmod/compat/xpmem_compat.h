/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place where xpmem.ko adapts to the kernel it is built for: every
 * shim here is chosen by a feature probe (compat/probes/NAME.c, compiled by
 * Kbuild into xpmem_probes.h as XPMEM_HAVE_NAME), never by the kernel's
 * version number, so the rest of the module is written against current
 * mainline and a distribution backport is simply found.
 */
#ifndef XPMEM_COMPAT_H
#define XPMEM_COMPAT_H

#include <linux/mm.h>
#include "xpmem_probes.h"

#ifndef XPMEM_HAVE_VM_FLAGS_SET
/* before 6.3: vma->vm_flags is written directly, under mmap_lock */
static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}

static inline void vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags &= ~flags;
}
#endif

#endif /* XPMEM_COMPAT_H */
