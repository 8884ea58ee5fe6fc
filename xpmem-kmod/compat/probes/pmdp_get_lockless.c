// SPDX-License-Identifier: GPL-2.0
/*
 * pmdp_get_lockless() (6.4; generic in <linux/pgtable.h>): read a PMD that
 * may change under the reader without tearing it.
 */
#include <linux/mm.h>
#include <linux/pgtable.h>

static pmd_t __maybe_unused probe(pmd_t *pmdp)
{
	return pmdp_get_lockless(pmdp);
}
