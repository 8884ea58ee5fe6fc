// SPDX-License-Identifier: LGPL-2.1-or-later OR BSD-2-Clause
/*
 * MPI_Alltoall with blocks of 1 B .. 16 MiB per peer: every block carries
 * (iteration, sender, destination) in its pattern and is checked word by word
 * by its receiver; the time per call is reported.
 */
#include <stdio.h>

#include "mpicheck.h"

int main(int argc, char **argv)
{
	int s, i, p;

	mc_init(&argc, &argv, "alltoall");
	for (s = 0; s < mc_nsizes; s++) {
		size_t n = mc_sizes[s], all = n * (size_t)mc_size;
		int iters = mc_iters(all, 20, 1);
		char *sbuf = mc_alloc(all), *rbuf = mc_alloc(all);
		double t = 0, t0;

		for (i = 0; i < iters; i++) {
			for (p = 0; p < mc_size; p++)
				mc_fill(sbuf + n * (size_t)p, n, (uint64_t)i, mc_rank, (uint64_t)p << 8 | 4);
			MC(MPI_Barrier(MPI_COMM_WORLD));
			t0 = mc_now();
			MC(MPI_Alltoall(sbuf, (int)n, MPI_BYTE, rbuf, (int)n, MPI_BYTE, MPI_COMM_WORLD));
			t += mc_now() - t0;
			for (p = 0; p < mc_size; p++)
				mc_check(rbuf + n * (size_t)p, n, (uint64_t)i, p,
					 (uint64_t)mc_rank << 8 | 4, "block");
		}
		mc_result(n, "us_per_call", t / iters * 1e6);
		mc_free(sbuf, all);
		mc_free(rbuf, all);
	}
	return mc_finish();
}
