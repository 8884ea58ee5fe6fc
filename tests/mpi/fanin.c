// SPDX-License-Identifier: LGPL-2.1-or-later OR BSD-2-Clause
/*
 * Several ranks attaching one exporter: rank 0 sends the same buffer to every
 * other rank at once (they all map it), rewrites it in place with the next
 * iteration's pattern, and again; every receiver checks every word.
 */
#include <stdio.h>
#include <stdlib.h>

#include "mpicheck.h"

#define ITERS 12

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 65536, 1 << 20, 16 << 20 };
	MPI_Request *req;
	int s, i, p;

	mc_init(&argc, &argv, "fanin");
	req = calloc((size_t)mc_size, sizeof(*req));
	if (!req) {
		perror("calloc");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	for (s = 0; s < 3; s++) {
		size_t n = sizes[s];
		char *buf = mc_alloc(n);
		double t = 0, t0;

		for (i = 0; i < ITERS; i++) {
			if (mc_rank == 0)
				mc_fill(buf, n, (uint64_t)i, 0, 8);
			MC(MPI_Barrier(MPI_COMM_WORLD));
			t0 = mc_now();
			if (mc_rank == 0) {
				for (p = 1; p < mc_size; p++)
					MC(MPI_Isend(buf, (int)n, MPI_BYTE, p, 8, MPI_COMM_WORLD, &req[p - 1]));
				MC(MPI_Waitall(mc_size - 1, req, MPI_STATUSES_IGNORE));
			} else {
				MC(MPI_Recv(buf, (int)n, MPI_BYTE, 0, 8, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
			}
			MC(MPI_Barrier(MPI_COMM_WORLD));
			t += mc_now() - t0;
			if (mc_rank != 0)
				mc_check(buf, n, (uint64_t)i, 0, 8, "fan-in");
		}
		mc_result(n, "us_per_iter", t / ITERS * 1e6);
		mc_free(buf, n);
	}
	free(req);
	return mc_finish();
}
