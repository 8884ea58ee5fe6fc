// SPDX-License-Identifier: LGPL-2.1-or-later OR BSD-2-Clause
/*
 * Ping-pong between ranks 0 and 1 over 1 B .. 16 MiB: half the round trip
 * (us) from a timed loop whose last messages are checked, then a loop whose
 * every message carries its own pattern and is checked word by word.
 */
#include <stdio.h>

#include "mpicheck.h"

int main(int argc, char **argv)
{
	int s, i;

	mc_init(&argc, &argv, "pingpong");
	if (mc_size < 2) {
		fprintf(stderr, "pingpong: needs 2 ranks\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	for (s = 0; s < mc_nsizes; s++) {
		size_t n = mc_sizes[s];
		int iters = mc_iters(n, 500, 4), peer = 1 - mc_rank;
		char *sbuf = mc_alloc(n), *rbuf = mc_alloc(n);
		double t0 = 0, t;

		if (mc_rank < 2) {
			mc_fill(sbuf, n, n, mc_rank, 1);
			for (i = -2; i < iters; i++) {	/* 2 warm-up round trips */
				if (i == 0)
					t0 = mc_now();
				if (mc_rank == 0) {
					MC(MPI_Send(sbuf, (int)n, MPI_BYTE, peer, 1, MPI_COMM_WORLD));
					MC(MPI_Recv(rbuf, (int)n, MPI_BYTE, peer, 1, MPI_COMM_WORLD,
						    MPI_STATUS_IGNORE));
				} else {
					MC(MPI_Recv(rbuf, (int)n, MPI_BYTE, peer, 1, MPI_COMM_WORLD,
						    MPI_STATUS_IGNORE));
					MC(MPI_Send(sbuf, (int)n, MPI_BYTE, peer, 1, MPI_COMM_WORLD));
				}
			}
			t = mc_now() - t0;
			mc_check(rbuf, n, n, peer, 1, "timed");
			mc_result(n, "lat_us", t / iters / 2 * 1e6);
			/* every message its own pattern */
			for (i = 0; i < (iters < 8 ? iters : 8); i++) {
				if (mc_rank == 0) {
					mc_fill(sbuf, n, (uint64_t)i, 0, 2);
					MC(MPI_Send(sbuf, (int)n, MPI_BYTE, peer, 2, MPI_COMM_WORLD));
					MC(MPI_Recv(rbuf, (int)n, MPI_BYTE, peer, 2, MPI_COMM_WORLD,
						    MPI_STATUS_IGNORE));
					mc_check(rbuf, n, (uint64_t)i, 1, 2, "per-iteration");
				} else {
					MC(MPI_Recv(rbuf, (int)n, MPI_BYTE, peer, 2, MPI_COMM_WORLD,
						    MPI_STATUS_IGNORE));
					mc_check(rbuf, n, (uint64_t)i, 0, 2, "per-iteration");
					mc_fill(sbuf, n, (uint64_t)i, 1, 2);
					MC(MPI_Send(sbuf, (int)n, MPI_BYTE, peer, 2, MPI_COMM_WORLD));
				}
			}
		}
		mc_free(sbuf, n);
		mc_free(rbuf, n);
		MC(MPI_Barrier(MPI_COMM_WORLD));
	}
	return mc_finish();
}
