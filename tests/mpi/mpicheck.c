// SPDX-License-Identifier: LGPL-2.1-or-later OR BSD-2-Clause
#include "mpicheck.h"

#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

int mc_rank, mc_size;
long long mc_errors;
const char *mc_prog = "?";

const size_t mc_sizes[] = {
	1, 8, 64, 512, 4096, 8192, 32768, 65536, 262144, 1 << 20, 4 << 20, 16 << 20,
};
const int mc_nsizes = (int)(sizeof(mc_sizes) / sizeof(mc_sizes[0]));

void mc_mpi_fail(int rc, const char *call, const char *file, int line)
{
	char msg[MPI_MAX_ERROR_STRING] = "";
	int len = 0;

	if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
		snprintf(msg, sizeof(msg), "error %d", rc);
	fprintf(stderr, "%s rank %d: %s:%d: %s: %s\n", mc_prog, mc_rank, file, line, call, msg);
	MPI_Abort(MPI_COMM_WORLD, 2);
	exit(2);
}

/* Prints the file of every loaded UCX library (which libucp pml ucx got). */
static int mc_print_lib(struct dl_phdr_info *info, size_t size, void *data)
{
	const char *name = info->dlpi_name, *base;

	(void)size;
	(void)data;
	if (!name || !*name)
		return 0;
	base = strrchr(name, '/');
	base = base ? base + 1 : name;
	if (strncmp(base, "libucp.so", 9) == 0 || strncmp(base, "libxpmem.so", 11) == 0)
		printf("LIB %s %s\n", mc_prog, name);
	return 0;
}

void mc_init(int *argc, char ***argv, const char *prog)
{
	mc_prog = prog;
	MC(MPI_Init(argc, argv));
	MC(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
	MC(MPI_Comm_rank(MPI_COMM_WORLD, &mc_rank));
	MC(MPI_Comm_size(MPI_COMM_WORLD, &mc_size));
	if (mc_rank == 0) {
		dl_iterate_phdr(mc_print_lib, NULL);
		printf("RANKS %s %d\n", mc_prog, mc_size);
	}
}

int mc_finish(void)
{
	long long total = 0;

	MC(MPI_Reduce(&mc_errors, &total, 1, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD));
	MC(MPI_Bcast(&total, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD));
	if (mc_rank == 0) {
		printf("ERRORS %s %lld\n", mc_prog, total);
		if (fflush(stdout) != 0)
			total++;
	}
	MC(MPI_Finalize());
	return total ? 1 : 0;
}

int mc_iters(size_t size, int small, int large)
{
	/* about 16 MiB moved per size (TCG is slow), within [large, small] */
	size_t it = ((size_t)16 << 20) / size;

	if (it > (size_t)small)
		it = (size_t)small;
	if (it < (size_t)large)
		it = (size_t)large;
	return (int)it;
}

static uint64_t mc_word(uint64_t i, uint64_t iter, int src, uint64_t salt)
{
	uint64_t x;

	if (i % 5 == 2)
		return 0;	/* zero words: a page of zeros is no proof */
	x = i * 0x9e3779b97f4a7c15ull ^ (iter + 1) * 0xbf58476d1ce4e5b9ull ^
	    ((uint64_t)src + 1) * 0x94d049bb133111ebull ^ salt;
	x ^= x >> 31;
	x *= 0xd6e8feb86659fd93ull;
	x ^= x >> 32;
	return x ? x : 1;
}

void mc_fill(void *buf, size_t n, uint64_t iter, int src, uint64_t salt)
{
	uint64_t *w = buf;
	size_t i, nw = n / 8;

	for (i = 0; i < nw; i++)
		w[i] = mc_word(i, iter, src, salt);
	if (n % 8) {
		uint64_t last = mc_word(nw, iter, src, salt);

		memcpy((char *)buf + nw * 8, &last, n % 8);
	}
}

long long mc_check(const void *buf, size_t n, uint64_t iter, int src, uint64_t salt,
		   const char *what)
{
	const uint64_t *w = buf;
	size_t i, nw = n / 8;
	long long bad = 0;

	for (i = 0; i <= nw; i++) {
		uint64_t want = mc_word(i, iter, src, salt), got = 0;
		size_t len = i < nw ? 8 : n % 8;

		if (len == 0)
			break;
		if (i < nw)
			got = w[i];
		else
			memcpy(&got, (const char *)buf + i * 8, len);
		if (len < 8) {
			uint64_t mask = (1ull << (8 * len)) - 1;

			want &= mask;
			got &= mask;
		}
		if (got != want) {
			if (bad < 3 && mc_errors + bad < 10)
				fprintf(stderr,
					"%s rank %d: %s size %zu iter %llu from %d: word %zu is %#llx, want %#llx\n",
					mc_prog, mc_rank, what, n, (unsigned long long)iter, src, i,
					(unsigned long long)got, (unsigned long long)want);
			bad++;
		}
	}
	mc_errors += bad;
	return bad;
}

void *mc_alloc(size_t n)
{
	void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "%s rank %d: mmap %zu: %s\n", mc_prog, mc_rank, n, strerror(errno));
		MPI_Abort(MPI_COMM_WORLD, 2);
		exit(2);
	}
	return p;
}

void mc_free(void *p, size_t n)
{
	if (munmap(p, n ? n : 1) != 0) {
		fprintf(stderr, "%s rank %d: munmap: %s\n", mc_prog, mc_rank, strerror(errno));
		MPI_Abort(MPI_COMM_WORLD, 2);
		exit(2);
	}
}

double mc_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
		perror("clock_gettime");
		MPI_Abort(MPI_COMM_WORLD, 2);
		exit(2);
	}
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void mc_result(size_t size, const char *metric, double value)
{
	if (mc_rank == 0)
		printf("RESULT %s %zu %s %.3f\n", mc_prog, size, metric, value);
}
