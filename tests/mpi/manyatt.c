// SPDX-License-Identifier: LGPL-2.1-or-later OR BSD-2-Clause
/*
 * Many live attachments: rank 0 sends NBUF buffers, each its own mapping
 * between inaccessible gaps (so each is its own attachment on the receiving
 * side), rank 1 checks each; then rank 0 rewrites them all in place and
 * sends them again (cached attachments must show the new data). Rank 1
 * reports how many attachments xpmem had live (debugfs, -1 if unreadable).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mpicheck.h"

#define NBUF 256
#define BUFSZ (1 << 20)	/* above UCX's rendezvous threshold for xpmem (256 KiB..1 MiB) */

static long live_atts(void)
{
	FILE *f = fopen("/sys/kernel/debug/xpmem/objects", "r");
	char key[16];
	long val, att = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%15s %ld", key, &val) == 2)
		if (key[0] == 'a' && key[1] == 't' && key[2] == 't' && key[3] == 0)
			att = val;
	if (fclose(f) != 0)
		return -1;
	return att;
}

int main(int argc, char **argv)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), stride = BUFSZ + 2 * pg;
	char *region, *rbuf;
	long att = -1;
	int round, b;

	mc_init(&argc, &argv, "manyatt");
	if (mc_size < 2) {
		fprintf(stderr, "manyatt: needs 2 ranks\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	region = mmap(NULL, stride * NBUF, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (region == MAP_FAILED) {
		perror("mmap");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	rbuf = mc_alloc(BUFSZ);
	for (round = 0; round < 2 && mc_rank < 2; round++) {
		double t0 = mc_now();

		for (b = 0; b < NBUF; b++) {
			char *buf = region + (size_t)b * stride;

			if (mc_rank == 0) {
				if (round == 0 && mprotect(buf, BUFSZ, PROT_READ | PROT_WRITE) != 0) {
					perror("mprotect");
					MPI_Abort(MPI_COMM_WORLD, 2);
				}
				mc_fill(buf, BUFSZ, (uint64_t)round, 0, (uint64_t)b << 8 | 7);
				MC(MPI_Send(buf, BUFSZ, MPI_BYTE, 1, 7, MPI_COMM_WORLD));
			} else {
				MC(MPI_Recv(rbuf, BUFSZ, MPI_BYTE, 0, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
				mc_check(rbuf, BUFSZ, (uint64_t)round, 0, (uint64_t)b << 8 | 7, "buffer");
			}
		}
		if (mc_rank == 1 && round == 0)
			att = live_atts();
		mc_result(BUFSZ, round ? "round2_s" : "round1_s", mc_now() - t0);
	}
	/* rank 1's count, printed by rank 0 */
	if (mc_rank < 2) {
		if (mc_rank == 1)
			MC(MPI_Send(&att, 1, MPI_LONG, 0, 10, MPI_COMM_WORLD));
		else
			MC(MPI_Recv(&att, 1, MPI_LONG, 1, 10, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
	}
	if (mc_rank == 0)
		printf("RESULT manyatt %d live_att %ld\n", NBUF, att);
	MC(MPI_Barrier(MPI_COMM_WORLD));
	mc_free(rbuf, BUFSZ);
	if (munmap(region, stride * NBUF) != 0) {
		perror("munmap");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	return mc_finish();
}
