/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the two-partition tests xaccess.c and xmutual.c (run on every
 * partition by tests/vm/run-cluster): who we are, PASS/FAIL counting with the
 * node's tag, and the rendezvous through files in $XPMEM_CLUSTER_DIR
 * (rendezvous.h, whose failures here also print the counts).
 */
#ifndef XPMEM_TESTS_CLUSTERLIB_H
#define XPMEM_TESTS_CLUSTERLIB_H

#include <stdio.h>
#include <time.h>

extern const char *dir;		/* $XPMEM_CLUSTER_DIR */
extern int me, nodes;		/* $XPMEM_NODE_ID, $XPMEM_NODES */
extern char tag[32];		/* "nodeN": prefixes every line */
extern int passes, fails;
/* await() also gives up once this file exists (a peer's abort); "" = none */
extern char cl_abort_name[64];
extern int cl_wait_seconds;	/* how long await() waits (default 300) */

#define SAY(...) do { printf("%s: ", tag); printf(__VA_ARGS__); putchar('\n'); fflush(stdout); } while (0)
#define PASS(...) do { printf("PASS %s: ", tag); printf(__VA_ARGS__); putchar('\n'); fflush(stdout); passes++; } while (0)
#define FAIL(...) do { printf("FAIL %s: ", tag); printf(__VA_ARGS__); putchar('\n'); fflush(stdout); fails++; } while (0)

/*
 * dir, me, nodes and tag from the environment, stdout line-buffered;
 * -1 (after a message naming @prog) if not run by tests/vm/run-cluster.
 */
int cl_init(const char *prog);
/* FAIL with errno, the counts (this failure included), exit(1). */
void die(const char *what) __attribute__((noreturn));
/* Monotonic seconds (inline: the fault loops' sigsetjmp frames stay as they were). */
static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Writes file @name in dir atomically (rename); die()s on error. */
void publish(const char *name, const char *text);
/* Does file @name exist in dir? */
int exists(const char *name);
/* The contents of @name once it exists (malloc'd); FAIL and exit(1) if the
 * peer aborted (cl_abort_name) or after cl_wait_seconds. */
char *await(const char *name);

#endif
