// SPDX-License-Identifier: LGPL-2.1-or-later OR BSD-2-Clause
/*
 * Streaming bandwidth from rank 0 to rank 1 over 1 B .. 16 MiB: windows of
 * nonblocking sends into distinct receive buffers, an ack per window (the
 * osu_bw scheme). Only the transfer is timed: rank 0 fills each window with
 * that window's own pattern before it starts, and rank 1 checks every buffer
 * word by word after the ack, before it says it is ready again. The figure is
 * the median window's bandwidth (at least 7 windows): a guest vCPU descheduled
 * for a window under TCG moves one sample, not the result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpicheck.h"

#define MAXWIN 16
#define MAXWINDOWS 64

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int s, w, k;

	mc_init(&argc, &argv, "bandwidth");
	if (mc_size < 2) {
		fprintf(stderr, "bandwidth: needs 2 ranks\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	for (s = 0; s < mc_nsizes; s++) {
		size_t n = mc_sizes[s];
		/* about 32 MiB per size: up to MAXWIN buffers a window, 3..64 windows */
		size_t target = (size_t)32 << 20;
		int win = (int)(target / n), windows;
		MPI_Request req[MAXWIN];
		char *buf[MAXWIN];
		double secs[MAXWINDOWS], t0;
		char token = 0;

		if (win > MAXWIN)
			win = MAXWIN;
		if (win < 2)
			win = 2;
		windows = (int)(target / (n * (size_t)win));
		if (windows > MAXWINDOWS)
			windows = MAXWINDOWS;
		if (windows < 7)
			windows = 7;
		memset(secs, 0, sizeof(secs));
		for (k = 0; k < win; k++)
			buf[k] = mc_alloc(n);
		for (w = -1; w < windows && mc_rank < 2; w++) {	/* w = -1: warm-up */
			uint64_t it = (uint64_t)(w + 1);

			if (mc_rank == 0) {
				for (k = 0; k < win; k++)
					mc_fill(buf[k], n, it * MAXWIN + (uint64_t)k, 0, 3);
				MC(MPI_Recv(&token, 1, MPI_BYTE, 1, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
				t0 = mc_now();
				for (k = 0; k < win; k++)
					MC(MPI_Isend(buf[k], (int)n, MPI_BYTE, 1, 3, MPI_COMM_WORLD, &req[k]));
				MC(MPI_Waitall(win, req, MPI_STATUSES_IGNORE));
				MC(MPI_Recv(&token, 1, MPI_BYTE, 1, 8, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
				if (w >= 0)
					secs[w] = mc_now() - t0;
			} else {
				for (k = 0; k < win; k++)
					MC(MPI_Irecv(buf[k], (int)n, MPI_BYTE, 0, 3, MPI_COMM_WORLD, &req[k]));
				MC(MPI_Send(&token, 1, MPI_BYTE, 0, 9, MPI_COMM_WORLD));
				MC(MPI_Waitall(win, req, MPI_STATUSES_IGNORE));
				MC(MPI_Send(&token, 1, MPI_BYTE, 0, 8, MPI_COMM_WORLD));
				for (k = 0; k < win; k++)
					mc_check(buf[k], n, it * MAXWIN + (uint64_t)k, 0, 3, "window");
			}
		}
		if (mc_rank == 0) {
			qsort(secs, (size_t)windows, sizeof(secs[0]), cmp_double);
			if (secs[windows / 2] > 0)
				mc_result(n, "bw_MiBps",
					  (double)n * win / secs[windows / 2] / 1048576.0);
		}
		for (k = 0; k < win; k++)
			mc_free(buf[k], n);
		MC(MPI_Barrier(MPI_COMM_WORLD));
	}
	return mc_finish();
}
