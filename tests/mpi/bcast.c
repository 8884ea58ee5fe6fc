// SPDX-License-Identifier: LGPL-2.1-or-later OR BSD-2-Clause
/*
 * MPI_Bcast of 1 B .. 16 MiB with the root rotating every iteration (every
 * rank exports, every rank attaches): each iteration's pattern names the
 * iteration and the root, and every receiver checks it word by word.
 */
#include <stdio.h>
#include <string.h>

#include "mpicheck.h"

int main(int argc, char **argv)
{
	int s, i;

	mc_init(&argc, &argv, "bcast");
	for (s = 0; s < mc_nsizes; s++) {
		size_t n = mc_sizes[s];
		int iters = mc_iters(n, 4 * mc_size, mc_size);	/* every rank the root */
		char *buf = mc_alloc(n);
		double t = 0, t0;

		for (i = 0; i < iters; i++) {
			int root = i % mc_size;

			if (mc_rank == root)
				mc_fill(buf, n, (uint64_t)i, root, 5);
			else
				memset(buf, 0xa5, n);	/* no leftover of the last round */
			MC(MPI_Barrier(MPI_COMM_WORLD));
			t0 = mc_now();
			MC(MPI_Bcast(buf, (int)n, MPI_BYTE, root, MPI_COMM_WORLD));
			t += mc_now() - t0;
			if (mc_rank != root)
				mc_check(buf, n, (uint64_t)i, root, 5, "bcast");
		}
		mc_result(n, "us_per_call", t / iters * 1e6);
		mc_free(buf, n);
	}
	return mc_finish();
}
