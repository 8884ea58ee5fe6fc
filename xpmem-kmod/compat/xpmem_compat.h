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

#ifndef XPMEM_HAVE_ZAP_SPECIAL_VMA_RANGE
/* before 7.3: the same, named zap_vma_ptes() */
static inline void zap_special_vma_range(struct vm_area_struct *vma,
					 unsigned long address,
					 unsigned long size)
{
	zap_vma_ptes(vma, address, size);
}
#endif

#ifndef XPMEM_HAVE_PMDP_GET_LOCKLESS
/*
 * before 6.4: a PMD read without its lock; one word on 64-bit (32-bit PAE
 * had pmd_read_atomic(), and xpmem is built for 64-bit only)
 */
static inline pmd_t pmdp_get_lockless(pmd_t *pmdp)
{
	BUILD_BUG_ON(sizeof(pmd_t) > sizeof(long));
	return READ_ONCE(*pmdp);
}
#endif

#ifndef XPMEM_HAVE_FOLLOW_PFNMAP_START
/*
 * before 6.12: the part of the follow_pfnmap API xpmem uses (PTE-level
 * entries of its own PFN maps), read under the PTE lock by
 * apply_to_existing_page_range()
 */
struct follow_pfnmap_args {
	struct vm_area_struct *vma;
	unsigned long address;
	unsigned long pfn;
	pgprot_t pgprot;
	bool present;
	bool writable;
};

static inline int xpmem_compat_read_pte(pte_t *pte, unsigned long addr,
					void *data)
{
	struct follow_pfnmap_args *args = data;
	pte_t entry = ptep_get(pte);

	args->present = pte_present(entry);
	args->writable = pte_write(entry);
	args->pfn = pte_pfn(entry);
	args->pgprot = pte_pgprot(entry);
	return 0;
}

static inline int follow_pfnmap_start(struct follow_pfnmap_args *args)
{
	args->present = false;
	apply_to_existing_page_range(args->vma->vm_mm,
				     args->address & PAGE_MASK, PAGE_SIZE,
				     xpmem_compat_read_pte, args);
	return args->present ? 0 : -EINVAL;
}

static inline void follow_pfnmap_end(struct follow_pfnmap_args *args)
{
}
#endif

/*
 * PMD (2 MiB) mappings of huge sources need special huge PFN maps (GUP-fast
 * refuses them; see probes/pmd_pfnmap.c) and the order-shaped .huge_fault;
 * mainline has both since 6.12. Without either, attachments map PTEs only
 * and no .huge_fault handler is installed.
 */
#if defined(XPMEM_HAVE_PMD_PFNMAP) && defined(XPMEM_HAVE_HUGE_FAULT_ORDER)
#define XPMEM_PMD_MAPPINGS 1
#include <linux/huge_mm.h>
#ifndef XPMEM_HAVE_INSERT_PFN_PMD_ULONG
#include <linux/pfn_t.h>
/* 6.12: the pfn is a pfn_t; without PFN_DEV the PMD is made special */
static inline vm_fault_t xpmem_compat_insert_pfn_pmd(struct vm_fault *vmf,
						     unsigned long pfn,
						     bool write)
{
	return vmf_insert_pfn_pmd(vmf, pfn_to_pfn_t(pfn), write);
}

#define vmf_insert_pfn_pmd xpmem_compat_insert_pfn_pmd
#endif
#else
#define XPMEM_PMD_MAPPINGS 0
#endif

#endif /* XPMEM_COMPAT_H */
