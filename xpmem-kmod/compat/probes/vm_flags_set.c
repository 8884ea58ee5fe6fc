// SPDX-License-Identifier: GPL-2.0
/*
 * vm_flags_set() and vm_flags_clear() (6.3; backported to some 6.1.y):
 * vma->vm_flags is read-only where they exist.
 */
#include <linux/mm.h>

static void __maybe_unused probe(struct vm_area_struct *vma)
{
	vm_flags_set(vma, VM_IO);
	vm_flags_clear(vma, VM_MAYWRITE);
}
