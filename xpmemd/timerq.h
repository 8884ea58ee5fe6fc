/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's deadlines in a binary min-heap: each timed object embeds a
 * struct tnode, so the nearest deadline is O(1) and setting, moving or
 * removing one is O(log n) (no scan of every pending request per loop).
 */
#ifndef XPMEMD_TIMERQ_H
#define XPMEMD_TIMERQ_H

#include <stdint.h>

struct tnode {
	uint64_t when;		/* monotonic ns */
	int idx;		/* position in the heap + 1; 0: not in it */
	int kind;		/* what embeds it (the caller's tag) */
};

struct timerq {
	struct tnode **v;
	int n, cap;
};

/* insert t at when, or move it there: 0, or -ENOMEM (t then not armed) */
int timerq_set(struct timerq *q, struct tnode *t, uint64_t when);
/* remove t if armed */
void timerq_del(struct timerq *q, struct tnode *t);
/* the nearest deadline's node, NULL if none */
struct tnode *timerq_top(const struct timerq *q);
void timerq_free(struct timerq *q);

#endif
