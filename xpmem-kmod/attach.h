/* SPDX-License-Identifier: GPL-2.0 */
/* ATTACH/DETACH, the attachment vma and its fault handler (attach.c). */
#ifndef _XPMEM_ATTACH_H
#define _XPMEM_ATTACH_H

#include <linux/mm_types.h>
#include <linux/types.h>

struct file;
struct seq_file;
struct vm_area_struct;
struct xpmem_tg;

int xpmem_attach(struct file *file, struct xpmem_tg *tg, s64 apid,
		 s64 offset, u64 size, u64 *vaddr);
int xpmem_detach(struct xpmem_tg *tg, u64 vaddr);
int xpmem_mmap(struct file *file, struct vm_area_struct *vma);
void xpmem_show_memtypes(struct seq_file *m);

struct vm_fault;
struct xpmem_att;
vm_fault_t xpmem_local_fault_pte(struct vm_fault *vmf, struct xpmem_att *att);
vm_fault_t xpmem_local_fault_pmd(struct vm_fault *vmf, struct xpmem_att *att);
vm_fault_t xpmem_local_mkwrite(struct vm_fault *vmf, struct xpmem_att *att,
			       unsigned long src);

#endif /* _XPMEM_ATTACH_H */
