/* SPDX-License-Identifier: GPL-2.0 */
/* This node's incarnation: a counter persisted in state_dir/incarnation. */
#ifndef XPMEMD_INCARNATION_H
#define XPMEMD_INCARNATION_H

#include <stddef.h>
#include <stdint.h>

/* incarnation = max(stored + 1, CLOCK_REALTIME ns), stored in dir/incarnation
 * (temp file, fsync, rename) before it is used; -1 with err set */
int incarnation_next(const char *dir, uint64_t *inc, char *err, size_t errlen);
/* incarnations are below 2^63: HELLOs claiming more are refused, a fence
 * saturates at it, incarnation_next refuses to produce one */
#define INCARNATION_LIMIT (1ull << 63)

#endif
