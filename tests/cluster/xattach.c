// SPDX-License-Identifier: GPL-2.0
/*
 * Cross-partition attach, run on every partition by tests/cluster/xattach
 * (under tests/vm/run-cluster with xpmemd up). Node 0 (A) exports four pages;
 * every other node (B, C, ...) gets and attaches them, checks A's pattern and
 * writes a reply A sees. Then A changes its pages while the others map them:
 *   page 1  rewritten in place           -> attachers see the new data
 *   page 2  MADV_DONTNEED, then rewritten -> attachers see the new data, never
 *                                           the old (their mapping was zapped)
 *   page 3  munmap                        -> attachers fault (SIGBUS/SIGSEGV)
 *   A exits                               -> attachers fault on every page,
 *                                           a new xpmem_get fails
 * plus permissions: a mode 0600 segment refuses uid 65534 (EACCES); an unknown
 * segid of A's is ENOENT. A prints how long munmap/madvise took while remote
 * partitions mapped the page (invalidation -> ack round trip).
 * Rendezvous through files in $XPMEM_CLUSTER_DIR.
 *
 * usage: xattach [--quiet]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xpmem.h>

#include "probe.h"
#include "rendezvous.h"

#define PAGE 4096UL
#define NPAGES 4
#define WORDS (PAGE / sizeof(uint64_t))
#define REPLY_AT 256		/* replies in page 0 start at this word */
#define REPLY_WORDS 32
#define WAIT_SECONDS 240

static int me, nodes, fails;
static char tag[32];

#define SAY(...) do { printf("%s: ", tag); printf(__VA_ARGS__); putchar('\n'); fflush(stdout); } while (0)
#define PASS(...) do { printf("PASS %s: ", tag); printf(__VA_ARGS__); putchar('\n'); fflush(stdout); } while (0)
#define FAIL(...) do { printf("FAIL %s: ", tag); printf(__VA_ARGS__); putchar('\n'); fflush(stdout); fails++; } while (0)

static void die(const char *what)
{
	printf("FAIL %s: %s: %s\n", tag, what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static uint64_t pat(uint64_t nonce, unsigned int page, unsigned int i)
{
	return (nonce * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)page << 56) ^ (i * 0x100000001b3ULL);
}

static uint64_t reply(uint64_t nonce, int node, unsigned int i)
{
	return ~pat(nonce + 1000 + node, 0, i);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void await_all(const char *prefix)
{
	char name[64];

	for (int n = 1; n < nodes; n++) {
		snprintf(name, sizeof(name), "%s-%d", prefix, n);
		rv_wait(name, NULL, 0);
	}
}

/* ---- A: the exporter (a child, so the parent outlives it) ---- */

static int exporter(uint64_t nonce)
{
	uint64_t *buf = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	xpmem_segid_t segid;
	double t0, t1;
	unsigned int bad = 0;

	if (buf == MAP_FAILED)
		die("mmap");
	for (unsigned int p = 0; p < NPAGES; p++)
		for (unsigned int i = 0; i < WORDS; i++)
			buf[p * WORDS + i] = pat(nonce, p, i);
	segid = xpmem_make(buf, NPAGES * PAGE, XPMEM_PERMIT_MODE, (void *)0600);
	if (segid == -1)
		die("xpmem_make");
	SAY("exported %d pages at %p as segid %#llx (mode 0600)", NPAGES, (void *)buf,
	    (unsigned long long)segid);
	rv_put("segid", "%llx %llx\n", (unsigned long long)segid, (unsigned long long)nonce);

	await_all("attached");
	for (int n = 1; n < nodes; n++)
		for (unsigned int i = 0; i < REPLY_WORDS; i++)
			bad += buf[REPLY_AT + (n - 1) * REPLY_WORDS + i] != reply(nonce, n, i);
	if (bad)
		FAIL("%u reply words from the attachers missing in my page", bad);
	else
		PASS("every attacher's reply is in my memory");

	for (unsigned int i = 0; i < WORDS; i++)
		buf[WORDS + i] = pat(nonce + 1, 1, i);
	rv_put("rewrote", "1\n");
	await_all("saw-rewrite");

	t0 = now_us();
	if (madvise(buf + 2 * WORDS, PAGE, MADV_DONTNEED))
		die("madvise");
	t1 = now_us();
	SAY("LATENCY madvise(MADV_DONTNEED) of a page %d remote partition(s) map: %.0f us",
	    nodes - 1, t1 - t0);
	for (unsigned int i = 0; i < WORDS; i++)
		buf[2 * WORDS + i] = pat(nonce + 2, 2, i);
	rv_put("dontneed", "1\n");
	await_all("saw-dontneed");

	t0 = now_us();
	if (munmap(buf + 3 * WORDS, PAGE))
		die("munmap");
	t1 = now_us();
	SAY("LATENCY munmap of a page %d remote partition(s) map: %.0f us", nodes - 1, t1 - t0);
	rv_put("latency", "%.0f\n", t1 - t0);
	rv_put("unmapped", "1\n");
	await_all("saw-unmapped");
	SAY("exiting with the segment still exported");
	return fails ? 1 : 0;
}

static int owner(void)
{
	uint64_t nonce = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
	pid_t pid = fork();
	int st;

	if (pid < 0)
		die("fork");
	if (pid == 0)
		_exit(exporter(nonce));
	if (waitpid(pid, &st, 0) != pid)
		die("waitpid");
	rv_put("owner-exited", "1\n");
	await_all("done");
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return 1;
	return 0;
}

/* ---- B, C, ...: attachers ---- */

static int get_as_nobody(xpmem_segid_t segid, int flags)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		xpmem_apid_t apid;

		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(100);
		apid = xpmem_get(segid, flags, XPMEM_PERMIT_MODE, NULL);
		_exit(apid == -1 ? (errno & 0x7f) : 0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* count pages of the attachment that fault */
static int faulting_pages(volatile uint64_t *p, unsigned int from, unsigned int to)
{
	int n = 0;
	uint64_t v;

	for (unsigned int pg = from; pg < to; pg++)
		n += probe_read(p + pg * WORDS, &v) != 0;
	return n;
}

static int attacher(void)
{
	char line[128];
	unsigned long long segid_u, nonce_u;
	xpmem_segid_t segid;
	uint64_t nonce, v;
	xpmem_apid_t apid;
	volatile uint64_t *p, *q;
	unsigned int bad = 0, stale = 0;
	double t0;
	int r, sig;

	if (probe_setup())
		die("sigaction");

	rv_wait("segid", line, sizeof(line));
	if (sscanf(line, "%llx %llx", &segid_u, &nonce_u) != 2)
		die("bad segid file");
	segid = (xpmem_segid_t)segid_u;
	nonce = nonce_u;
	SAY("got segid %#llx from node 0", segid_u);

	/* permissions: checked by the owner's kernel with our credentials */
	r = get_as_nobody(segid, XPMEM_RDONLY);
	if (r == EACCES)
		PASS("uid 65534: xpmem_get of a mode 0600 segment fails with EACCES");
	else
		FAIL("uid 65534: xpmem_get of a mode 0600 segment: %s",
		     r == 0 ? "succeeded" : r < 0 ? "child died" : strerror(r));
	apid = xpmem_get((xpmem_segid_t)(segid_u ^ (1ULL << 32)), XPMEM_RDWR, XPMEM_PERMIT_MODE,
			 NULL);
	if (apid == -1 && errno == ENOENT)
		PASS("unknown segid of node 0: ENOENT");
	else
		FAIL("unknown segid of node 0: %s", apid == -1 ? strerror(errno) : "succeeded");

	t0 = now_us();
	apid = xpmem_get(segid, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	if (apid == -1)
		die("xpmem_get");
	SAY("xpmem_get across partitions: %.0f us", now_us() - t0);
	p = xpmem_attach((struct xpmem_addr){ .apid = apid, .offset = 0 }, NPAGES * PAGE, NULL);
	if (p == (void *)-1)
		die("xpmem_attach");
	t0 = now_us();
	sig = probe_read(p, &v);
	if (sig) {
		FAIL("first touch of the attachment: signal %d", sig);
		exit(1);
	}
	SAY("first touch (remote fault): %.0f us", now_us() - t0);
	for (unsigned int pg = 0; pg < NPAGES; pg++)
		for (unsigned int i = 0; i < WORDS; i++) {
			if (pg == 0 && i >= REPLY_AT)
				continue;	/* the attachers' replies */
			if ((sig = probe_read(p + pg * WORDS + i, &v))) {
				FAIL("page %u faults (signal %d)", pg, sig);
				exit(1);
			}
			bad += v != pat(nonce, pg, i);
		}
	if (bad)
		FAIL("%u words differ from node 0's pattern", bad);
	else
		PASS("read node 0's pattern through the attachment (%d pages)", NPAGES);
	for (unsigned int i = 0; i < REPLY_WORDS; i++)
		p[REPLY_AT + (me - 1) * REPLY_WORDS + i] = reply(nonce, me, i);
	snprintf(line, sizeof(line), "attached-%d", me);
	rv_put(line, "1\n");

	rv_wait("rewrote", NULL, 0);
	bad = 0;
	for (unsigned int i = 0; i < WORDS; i++) {
		if (probe_read(p + WORDS + i, &v)) {
			bad = WORDS;
			break;
		}
		bad += v != pat(nonce + 1, 1, i);
	}
	if (bad)
		FAIL("page rewritten in place: %u words not the new data", bad);
	else
		PASS("page rewritten in place by node 0: new data seen");
	snprintf(line, sizeof(line), "saw-rewrite-%d", me);
	rv_put(line, "1\n");

	rv_wait("dontneed", NULL, 0);
	bad = stale = 0;
	for (unsigned int i = 0; i < WORDS; i++) {
		if ((sig = probe_read(p + 2 * WORDS + i, &v))) {
			FAIL("page after MADV_DONTNEED + rewrite faults (signal %d)", sig);
			bad = 1;
			break;
		}
		stale += v == pat(nonce, 2, i);
		bad += v != pat(nonce + 2, 2, i);
	}
	if (stale)
		FAIL("STALE: %u words of the page node 0 dropped (MADV_DONTNEED) still visible",
		     stale);
	else if (bad)
		FAIL("page after MADV_DONTNEED + rewrite: %u words not the new data", bad);
	else
		PASS("page dropped (MADV_DONTNEED) and rewritten by node 0: new data, nothing stale");
	snprintf(line, sizeof(line), "saw-dontneed-%d", me);
	rv_put(line, "1\n");

	rv_wait("unmapped", NULL, 0);
	sig = probe_read(p + 3 * WORDS, &v);
	if (sig)
		PASS("page node 0 unmapped: access faults (%s)", strsignal(sig));
	else if (v == pat(nonce, 3, 0))
		FAIL("STALE: page node 0 unmapped still shows its old data");
	else
		FAIL("page node 0 unmapped: readable (%#llx), expected a fault",
		     (unsigned long long)v);
	/*
	 * Page 2 is still there. Through the first attachment its fault asks
	 * for a fault-around window that reaches the unmapped page 3.
	 */
	sig = probe_read(p + 2 * WORDS, &v);
	if (!sig && v == pat(nonce + 2, 2, 0))
		PASS("page 2 next to the unmapped page 3: current data");
	else if (sig)
		FAIL("page 2 next to the unmapped page 3 faults (%s): the fault-around window "
		     "reaching an unmapped page must not fail the page that is there",
		     strsignal(sig));
	else
		FAIL("page 2 next to the unmapped page 3: %#llx, not the current data",
		     (unsigned long long)v);
	/* a second attachment of pages 0-2, mapped when node 0 exits */
	q = xpmem_attach((struct xpmem_addr){ .apid = apid, .offset = 0 }, 3 * PAGE, NULL);
	if (q == (void *)-1)
		die("xpmem_attach (pages 0-2)");
	bad = 0;
	for (unsigned int pg = 0; pg < 3; pg++)
		for (unsigned int i = 0; i < WORDS; i++) {
			if (pg == 0 && i >= REPLY_AT)
				continue;
			if (probe_read(q + pg * WORDS + i, &v)) {
				bad += WORDS;
				break;
			}
			bad += v != pat(nonce + pg, pg, i);
		}
	if (bad)
		FAIL("second attachment (pages 0-2): %u words wrong or faulting", bad);
	else
		PASS("second attachment (pages 0-2): current data of node 0");
	snprintf(line, sizeof(line), "saw-unmapped-%d", me);
	rv_put(line, "1\n");

	rv_wait("owner-exited", NULL, 0);
	r = faulting_pages(p, 0, 3) + faulting_pages(q, 0, 3);
	if (r == 6)
		PASS("node 0's exporter exited: every page of the attachment faults");
	else
		FAIL("node 0's exporter exited: %d of 6 attached pages fault", r);
	apid = xpmem_get(segid, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	if (apid == -1 && errno == ENOENT)
		PASS("xpmem_get after the owner exited: ENOENT");
	else
		FAIL("xpmem_get after the owner exited: %s", apid == -1 ? strerror(errno) : "succeeded");
	snprintf(line, sizeof(line), "done-%d", me);
	rv_put(line, "%d\n", fails);
	return fails ? 1 : 0;
}

int main(void)
{
	const char *id = getenv("XPMEM_NODE_ID"), *n = getenv("XPMEM_NODES");

	if (rv_init() || !n) {
		fprintf(stderr, "xattach: run under tests/vm/run-cluster\n");
		return 2;
	}
	me = atoi(id);
	nodes = atoi(n);
	snprintf(tag, sizeof(tag), "node%d", me);
	rv_wait_seconds = WAIT_SECONDS;
	setvbuf(stdout, NULL, _IOLBF, 0);
	return me == 0 ? owner() : attacher();
}
