/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The mmap_lock rules of the fault paths, as lockdep asserts. Not the
 * core's mmap_assert_locked()/mmap_assert_write_locked(): with
 * CONFIG_DEBUG_VM they call dump_mm(), which 6.1 does not export to
 * modules (the debug kernel's build fails at modpost).
 */
#ifndef _XPMEM_ASSERTS_H
#define _XPMEM_ASSERTS_H

#include <linux/lockdep.h>
#include <linux/mm_types.h>

/* @mm's mmap_lock is held, for read or write */
#define xpmem_mmap_assert_locked(mm)	lockdep_assert_held(&(mm)->mmap_lock)
/* @mm's mmap_lock is held for write */
#define xpmem_mmap_assert_write_locked(mm) \
	lockdep_assert_held_write(&(mm)->mmap_lock)

#endif /* _XPMEM_ASSERTS_H */
