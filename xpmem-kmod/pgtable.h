/* SPDX-License-Identifier: GPL-2.0 */
/* Page tables of attachment vmas, for both fault paths (pgtable.c). */
#ifndef _XPMEM_PGTABLE_H
#define _XPMEM_PGTABLE_H

#include <linux/mm_types.h>
#include <linux/pgtable.h>

bool xpmem_pmd_is_table(pmd_t *pmd);
int xpmem_prealloc_ptes(struct vm_area_struct *vma, pmd_t *pmd,
			unsigned long start, unsigned long end);

#endif /* _XPMEM_PGTABLE_H */
