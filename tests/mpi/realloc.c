// SPDX-License-Identifier: LGPL-2.1-or-later OR BSD-2-Clause
/*
 * Freed and reallocated send buffers (UCX caches its xpmem attachments by the
 * source's address, without memory hooks, and relies on xpmem following the
 * source's current mapping): every iteration rank 0 frees its buffer, gets a
 * new one (often at the same address, counted), fills it with that
 * iteration's pattern and sends it; rank 1 checks every word. Variants:
 * munmap + mmap, free + malloc, and a size that changes at the same address.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mpicheck.h"

#define ITERS 24

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* A new mapping of @n bytes at @hint if that range is free, else anywhere. */
static char *alloc_at(char *hint, size_t n)
{
	void *p = MAP_FAILED;

	if (hint)
		p = mmap(hint, n, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		return mc_alloc(n);
	return p;	/* at @hint, or elsewhere on a kernel without the flag */
}

enum variant { V_MMAP, V_MALLOC, V_RESIZE, V_NR };
static const char *const vname[V_NR] = { "mmap", "malloc", "resize" };

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 1 << 20, 2 << 20, 4 << 20 };	/* rendezvous: attached */
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	int s, v, i;

	mc_init(&argc, &argv, "realloc");
	if (mc_size < 2) {
		fprintf(stderr, "realloc: needs 2 ranks\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	for (s = 0; s < 3; s++) {
		for (v = 0; v < V_NR; v++) {
			size_t max = sizes[s], n = max;
			char *rbuf = mc_alloc(max), *sbuf = NULL, *last = NULL;
			int same = 0;

			for (i = 0; i < ITERS && mc_rank < 2; i++) {
				uint64_t salt = (uint64_t)(s * V_NR + v) << 8 | 6;

				if (v == V_RESIZE)
					n = i % 2 ? max : max / 2 + pg;
				if (mc_rank == 0) {
					if (v == V_MALLOC) {
						sbuf = malloc(n);
						if (!sbuf) {
							perror("malloc");
							MPI_Abort(MPI_COMM_WORLD, 2);
						}
					} else if (v == V_RESIZE) {
						sbuf = alloc_at(last, n);
					} else {
						sbuf = mc_alloc(n);
					}
					same += sbuf == last;
					mc_fill(sbuf, n, (uint64_t)i, 0, salt);
					MC(MPI_Send(sbuf, (int)n, MPI_BYTE, 1, 6, MPI_COMM_WORLD));
					last = sbuf;
					if (v == V_MALLOC)
						free(sbuf);
					else
						mc_free(sbuf, n);
				} else {
					MC(MPI_Recv(rbuf, (int)n, MPI_BYTE, 0, 6, MPI_COMM_WORLD,
						    MPI_STATUS_IGNORE));
					mc_check(rbuf, n, (uint64_t)i, 0, salt, vname[v]);
				}
			}
			if (mc_rank == 0)
				printf("RESULT realloc-%s %zu same_addr %d\n", vname[v], max, same);
			mc_free(rbuf, max);
			MC(MPI_Barrier(MPI_COMM_WORLD));
		}
	}
	return mc_finish();
}
