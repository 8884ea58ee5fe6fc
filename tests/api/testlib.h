/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the VM test programs in tests/api (api_test.c, isolation_test.c):
 * the case driver (every case in its own forked process group, with a
 * deadline enforced by the parent), check macros that record why a case
 * failed or was skipped, signal-catching memory probes, helper processes
 * driven over pipes, and debugfs/sysfs readers.
 */
#ifndef XPMEM_TESTLIB_H
#define XPMEM_TESTLIB_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include <xpmem.h>

#define SKIP_RC 77
#define PG 4096UL
#define HPAGE (2UL << 20)
#define PERMIT ((void *)0666)

/* ---- failure / skip reasons ---------------------------------------------- */

/* Prints "  func:line: msg" and keeps the first such message as the reason
 * the driver shows on the case's FAIL line. */
void tl_fail_note(const char *func, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prints "  SKIP: msg", keeps it as the reason; returns SKIP_RC. */
int tl_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A one-line summary shown after PASS (what the case actually did). */
void tl_summary(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* What the case is doing now: shown if the case runs past its deadline. */
void tl_step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define FAIL(...) do { tl_fail_note(__func__, __LINE__, __VA_ARGS__); \
	return 1; } while (0)
#define CHECK(c) do { if (!(c)) FAIL("check failed: %s (errno %d %s)", \
	#c, errno, strerror(errno)); } while (0)
#define CHECK_ERR(expr, err) do { errno = 0; long long _r = (long long)(expr); \
	if (_r != -1 || errno != (err)) \
		FAIL("%s: want -1/%s, got %lld/%s", #expr, strerror(err), _r, \
		     strerror(errno)); } while (0)

/* Stress durations scale with XPMEM_STRESS_SECS (seconds, default @def). */
int stress_secs(int def);

/* ---- fault probes: tests/lib/probe.h ------------------------------------- */

#include "probe.h"

/* ---- now(), module parameters, fail_count(): tests/lib/kmod.h ------------ */

#include "kmod.h"

/* ---- helper processes ---------------------------------------------------- */

struct cmd {
	char op;
	uint64_t arg;
};

struct peer {
	pid_t pid;
	int to;
	int from;
};

int xwrite(int fd, const void *b, size_t n);
int xread(int fd, void *b, size_t n);
/*
 * In a helper fn(in, out): the next command into @c, 0 at the end of the
 * commands or on 'X' (then the helper exits: _exit(0)). Its reply goes back
 * with peer_reply(), which exits the helper (_exit(1)) if the parent is gone.
 */
int peer_next(int in, struct cmd *c);
void peer_reply(int out, uint64_t r);
/* Forks a helper running fn(in, out), commands in, one uint64_t reply out. */
int peer_start_fn(struct peer *p, void (*fn)(int in, int out));
/* Sends a command, returns the reply; (uint64_t)-2 if the helper is gone. */
uint64_t peer_cmd(struct peer *p, char op, uint64_t arg);
/* Closes the pipes and reaps the helper. */
void peer_stop(struct peer *p);
/* Tells the helper to exit ('X'), then peer_stop(). */
void peer_quit(struct peer *p);

/* ---- memory, debugfs, sysfs ---------------------------------------------- */

void *map_anon(size_t len);
/* An anonymous RW mapping of @len bytes aligned to @align (leaks the slack). */
void *map_aligned(size_t len, size_t align);
/* AnonHugePages (kB) of the vma containing @addr in this process, or -1. */
long smaps_anon_huge(void *addr);
/* Counters of segment @s from debugfs: faults, pages_mapped,
 * invalidations, pages_zapped, pmds_mapped. -1 if not listed. */
int seg_counters(xpmem_segid_t s, long long c[5]);
/* First faults of a 2 MiB range of segment @s's attachments that the PMD
 * path left to PTEs (debugfs pmd_fallbacks), -1 if not listed. */
long long seg_pmd_fallbacks(xpmem_segid_t s);
/* PTEs the batched pass of local faults set for @s; -1: no debugfs. */
long long seg_batched(xpmem_segid_t s);
/* Is segment @s listed in /sys/kernel/debug/xpmem/segments? -1: no debugfs. */
int seg_listed(xpmem_segid_t s);
/* The number in @path, -1 if unreadable. */
long read_long(const char *path);
/*
 * Whether attachments of PMD-mapped sources may be mapped with one PMD:
 * the module's map_pmd parameter (N on kernels whose GUP-fast could pin
 * a huge PMD, i.e. without pmd_special). Missing parameter: 0.
 */
int pmd_mappings_expected(void);

/* Sum of live module objects (debugfs objects), -1 without debugfs. */
long live_objects(char *desc, size_t len);
/* 0 once every module object is gone (waits up to 2 s), else 1. */
int check_leaks(void);

/* ---- driver ------------------------------------------------------------- */

struct tcase {
	const char *name;
	int (*fn)(void);
	int timeout;		/* seconds, plus 2 x XPMEM_STRESS_SECS */
};

/*
 * Runs the cases named in @sel (all if @nsel is 0), each in its own
 * process group, and prints "PASS|FAIL|SKIP name: reason" per case and a
 * total. @after (may be NULL) runs after each case that passed, in the
 * parent; nonzero turns it into a failure. Returns the exit status.
 */
int tl_run(const struct tcase *cases, size_t n, char **sel, int nsel,
	   int (*after)(void));

#endif
