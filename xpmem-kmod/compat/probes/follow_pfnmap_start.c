// SPDX-License-Identifier: GPL-2.0
/*
 * follow_pfnmap_start() and follow_pfnmap_end() (6.12): read a PFN map's
 * entry under its page-table lock. apply_to_existing_page_range(), which
 * did it before, is no longer exported to modules since 7.3.
 */
#include <linux/mm.h>

static bool __maybe_unused probe(struct vm_area_struct *vma)
{
	struct follow_pfnmap_args args = { .vma = vma, .address = 0 };
	bool writable;

	if (follow_pfnmap_start(&args))
		return false;
	writable = args.writable;
	follow_pfnmap_end(&args);
	return writable;
}
