/* SPDX-License-Identifier: GPL-2.0 */
/* The module's tunables (params.c). */
#ifndef _XPMEM_PARAMS_H
#define _XPMEM_PARAMS_H

#include <linux/pgtable.h>
#include <linux/types.h>

#define XPMEM_MAX_FAULT_WINDOW	64
extern unsigned int xpmem_fault_window;
#define XPMEM_MAX_LOCAL_WINDOW	PTRS_PER_PMD
extern unsigned int xpmem_local_window;
extern unsigned int xpmem_remote_timeout_ms;
extern unsigned int xpmem_ack_timeout_ms;
extern bool xpmem_ram_windows;

#endif /* _XPMEM_PARAMS_H */
