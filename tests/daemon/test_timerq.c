// SPDX-License-Identifier: GPL-2.0
/* The daemon's timer heap (xpmemd/timerq.c): random sets, moves and
 * removals against a plain array; the top is always the smallest. */
#include "timerq.h"

#include <stdio.h>
#include <stdlib.h>

#define N 2000

int main(void)
{
	static struct tnode t[N];
	struct timerq q = { 0 };
	unsigned seed = 12345;

	for (int step = 0; step < 200000; step++) {
		int i = (int)(rand_r(&seed) % N), op = (int)(rand_r(&seed) % 3);
		struct tnode *top;
		uint64_t min = UINT64_MAX;
		int n = 0;

		if (op < 2) {
			if (timerq_set(&q, &t[i], (uint64_t)rand_r(&seed) % 100000)) {
				fprintf(stderr, "FAIL: timerq_set\n");
				return 1;
			}
		} else {
			timerq_del(&q, &t[i]);
		}
		for (int j = 0; j < N; j++)
			if (t[j].idx) {
				n++;
				if (t[j].when < min)
					min = t[j].when;
			}
		top = timerq_top(&q);
		if (n != q.n || (n && (!top || top->when != min)) || (!n && top)) {
			fprintf(stderr, "FAIL at step %d: %d armed, heap %d, top %llu, min %llu\n",
				step, n, q.n, top ? (unsigned long long)top->when : 0ull,
				(unsigned long long)min);
			return 1;
		}
		if (step % 1000 == 0)	/* drain a few in order */
			for (int k = 0; k < 50 && (top = timerq_top(&q)); k++) {
				uint64_t w = top->when;

				timerq_del(&q, top);
				if (timerq_top(&q) && timerq_top(&q)->when < w) {
					fprintf(stderr, "FAIL: out of order\n");
					return 1;
				}
			}
	}
	timerq_free(&q);
	printf("timerq: OK\n");
	return 0;
}
