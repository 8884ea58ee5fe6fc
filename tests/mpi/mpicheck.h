/* SPDX-License-Identifier: LGPL-2.1-or-later OR BSD-2-Clause */
/*
 * Shared by the MPI programs of make check-mpi (tests/mpi/): message sizes,
 * the per-iteration data pattern (with zero words) and its word-by-word check,
 * timing, and the result lines tests/mpi/check-mpi parses:
 *   RESULT <program> <size> <metric> <value>
 *   ERRORS <program> <n>        (words that differed, summed over all ranks)
 */
#ifndef MPICHECK_H
#define MPICHECK_H

#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

extern int mc_rank, mc_size;
extern long long mc_errors;	/* this rank's mismatched words */
extern const char *mc_prog;

/* MPI_Init, rank/size; prints usage and aborts on a bad call. */
void mc_init(int *argc, char ***argv, const char *prog);
/* Sums the errors over all ranks, prints ERRORS on rank 0, MPI_Finalize;
 * returns the exit status (0 only if every rank saw its data right). */
int mc_finish(void);

/* Message sizes 1 B .. 16 MiB; mc_nsizes of them. */
extern const size_t mc_sizes[];
extern const int mc_nsizes;
/* Iterations for a size: many for small messages, a few for large ones. */
int mc_iters(size_t size, int small, int large);

/* Fills @n bytes with the pattern of (@iter, @src, @salt): every 5th word 0. */
void mc_fill(void *buf, size_t n, uint64_t iter, int src, uint64_t salt);
/* Compares word by word (and the tail bytes); adds mismatches to mc_errors
 * and prints the first few. Returns the mismatches found. */
long long mc_check(const void *buf, size_t n, uint64_t iter, int src, uint64_t salt,
		   const char *what);

/* Page-aligned buffer of its own mapping (fresh pages; munmap in mc_free). */
void *mc_alloc(size_t n);
void mc_free(void *p, size_t n);

double mc_now(void);
/* MPI call returned something else than MPI_SUCCESS: abort with a message. */
void mc_mpi_fail(int rc, const char *call, const char *file, int line);
#define MC(call)                                                            \
	do {                                                                \
		int mc_rc_ = (call);                                        \
		if (mc_rc_ != MPI_SUCCESS)                                  \
			mc_mpi_fail(mc_rc_, #call, __FILE__, __LINE__);     \
	} while (0)

/* One RESULT line (rank 0 only). */
void mc_result(size_t size, const char *metric, double value);

#endif
