// SPDX-License-Identifier: GPL-2.0
/*
 * make demo: partition 0 (A) exports a buffer with xpmem_make; partition 1 (B)
 * gets and attaches it, reads A's greeting and writes an answer A sees in its
 * own memory. Then A unmaps pages B has mapped, one at a time: each munmap
 * returns only after B's kernel dropped its mapping and B's xpmemd acked the
 * invalidation; the time munmap takes is that invalidation -> ack round trip.
 * B checks that the unmapped pages fault. Rendezvous: files in
 * $XPMEM_CLUSTER_DIR. Run by tests/cluster/demo.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <xpmem.h>

#include "rendezvous.h"

#define PAGE 4096UL
#define NPAGES 64
#define ROUNDS 5
#define FIRST 8			/* the pages A unmaps: FIRST .. FIRST+ROUNDS-1 */
#define IDLE_PAGE 48		/* a page B never maps (baseline) */

static int me;

static void die(const char *what)
{
	printf("partition %d: %s: %s\n", me, what, strerror(errno));
	exit(1);
}

/* the demo's rendezvous files are $XPMEM_CLUSTER_DIR/demo-NAME */
static void put(const char *name, const char *text)
{
	char path[64];

	snprintf(path, sizeof(path), "demo-%s", name);
	rv_put(path, "%s", text);
}

static void get(const char *name, char *buf, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "demo-%s", name);
	rv_wait(path, buf, len);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int partition_a(void)
{
	char *buf = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	char name[32], text[64];
	double t0, lat[ROUNDS], sum = 0, idle;
	xpmem_segid_t segid;

	if (buf == MAP_FAILED)
		die("mmap");
	for (unsigned long i = 0; i < NPAGES; i++)
		snprintf(buf + i * PAGE, PAGE, "page %lu of partition 0", i);
	snprintf(buf, PAGE, "hello from partition 0 (pid %d)", getpid());
	segid = xpmem_make(buf, NPAGES * PAGE, XPMEM_PERMIT_MODE, (void *)0600);
	if (segid == -1)
		die("xpmem_make");
	printf("A: exported %lu KiB at %p: segid %#llx\n", NPAGES * PAGE / 1024, buf,
	       (unsigned long long)segid);
	snprintf(text, sizeof(text), "%llx\n", (unsigned long long)segid);
	put("segid", text);

	get("attached", NULL, 0);
	printf("A: my own memory now says: \"%s\"\n", buf + PAGE);

	t0 = now_us();
	if (munmap(buf + IDLE_PAGE * PAGE, PAGE))
		die("munmap");
	idle = now_us() - t0;
	for (int r = 0; r < ROUNDS; r++) {
		snprintf(name, sizeof(name), "mapped-%d", r);
		get(name, NULL, 0);
		t0 = now_us();
		if (munmap(buf + (FIRST + r) * PAGE, PAGE))
			die("munmap");
		lat[r] = now_us() - t0;
		sum += lat[r];
		printf("A: munmap of page %d while B maps it: %.2f ms (invalidate -> B zaps -> ack)\n",
		       FIRST + r, lat[r] / 1000);
		snprintf(name, sizeof(name), "unmapped-%d", r);
		put(name, "1\n");
	}
	get("done", text, sizeof(text));
	printf("A: invalidation -> ack round trip: %.2f ms on average over %d munmaps "
	       "(a page nobody else maps: %.2f ms)\n", sum / ROUNDS / 1000, ROUNDS, idle / 1000);
	printf("A: B reports: %s", text);
	return strncmp(text, "ok", 2) != 0;
}

static sigjmp_buf jb;

static void on_fault(int sig)
{
	siglongjmp(jb, sig);
}

static int partition_b(void)
{
	struct sigaction sa = { .sa_handler = on_fault };
	char line[64], name[32];
	volatile char *p;
	xpmem_apid_t apid;
	xpmem_segid_t segid;
	volatile int faults = 0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	get("segid", line, sizeof(line));
	segid = (xpmem_segid_t)strtoull(line, NULL, 16);
	apid = xpmem_get(segid, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	if (apid == -1)
		die("xpmem_get");
	p = xpmem_attach((struct xpmem_addr){ .apid = apid, .offset = 0 }, NPAGES * PAGE, NULL);
	if (p == (void *)-1)
		die("xpmem_attach");
	printf("B: attached segid %#llx of partition 0 at %p; it says: \"%s\"\n",
	       (unsigned long long)segid, (void *)p, (const char *)p);
	snprintf((char *)p + PAGE, PAGE, "hello back from partition 1 (pid %d)", getpid());
	put("attached", "1\n");

	for (int r = 0; r < ROUNDS; r++) {
		volatile char *page = p + (FIRST + r) * PAGE;
		char c;

		if (sigsetjmp(jb, 1)) {
			printf("B: page %d faults before A unmapped it\n", FIRST + r);
			return 1;
		}
		c = *page;	/* map it (a remote fault the first time) */
		(void)c;
		snprintf(name, sizeof(name), "mapped-%d", r);
		put(name, "1\n");
		snprintf(name, sizeof(name), "unmapped-%d", r);
		get(name, NULL, 0);
		if (sigsetjmp(jb, 1)) {
			faults++;
			continue;
		}
		c = *page;
		printf("B: page %d still readable after A unmapped it: \"%.30s\"\n", FIRST + r,
		       (const char *)page);
	}
	printf("B: %d of %d pages A unmapped fault here now, as they must\n", faults, ROUNDS);
	snprintf(line, sizeof(line), "%s: %d of %d unmapped pages fault\n",
		 faults == ROUNDS ? "ok" : "FAILED", faults, ROUNDS);
	put("done", line);
	return faults != ROUNDS;
}

int main(void)
{
	const char *id = getenv("XPMEM_NODE_ID");

	if (rv_init() || !id) {
		fprintf(stderr, "xpmem_demo: run under tests/vm/run-cluster\n");
		return 2;
	}
	me = atoi(id);
	rv_wait_seconds = 240;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (me == 0)
		return partition_a();
	if (me == 1)
		return partition_b();
	return 0;
}
