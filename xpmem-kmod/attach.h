/* SPDX-License-Identifier: GPL-2.0 */
/* ATTACH/DETACH, the attachment vma and its fault handler (attach.c). */
#ifndef _XPMEM_ATTACH_H
#define _XPMEM_ATTACH_H

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

#endif /* _XPMEM_ATTACH_H */
