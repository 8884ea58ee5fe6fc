// SPDX-License-Identifier: GPL-2.0
/*
 * The coherence matrix across partitions (issue 5), run on every partition
 * by tests/vm/run-cluster with xpmemd up. Node 0 (A) owns the memory; every
 * other node (B, C, ...) gets and attaches it, touches it, and after each of
 * A's source events must see exactly what A sees now, or fault where A has
 * nothing: never stale data, never another process's memory.
 *
 *   remove      xpmem_remove                  -> B faults, a new get is ENOENT
 *   protnone    mprotect(PROT_NONE), restore  -> B faults, then sees new data
 *   protro      mprotect(PROT_READ)           -> B reads, B's write faults and
 *                                                does not land; restore: lands
 *   forkcow     fork; B writes (COW break in A from B's fault); A writes (COW
 *               break in A), the child overwrites its old frame
 *                                             -> B sees A's data, never the
 *                                                child's or the old page
 *   mremap      a page moved away             -> hole: B faults; a new page
 *               mapped there                  -> B sees it; whole range moved
 *                                                away -> B faults everywhere
 *   memfd       shared memfd source: hole punch -> B sees zeros; truncate ->
 *               B faults beyond EOF; pwrite(2) to the file -> B sees it
 *   thp         THP source: MADV_DONTNEED of one 4K page (split), mprotect of
 *               two pages -> zeros / faults exactly there, neighbours intact
 *   swap        source pages swapped out (zram, MADV_PAGEOUT) and rewritten
 *   migrate     no second NUMA node in the guest, so no move_pages(): pages
 *               the attachers map are migrated by MADV_SOFT_OFFLINE (or
 *               compaction; PFNs compared, SKIP if none moved) -> same data;
 *               then rewritten -> new data, never the old frames'
 *   bounds      attach beyond the segment -> EINVAL; offsets map the right
 *               pages; RDONLY apid (root and uid 65534 on a 0644 segment)
 *               -> writes fault, A's data unchanged; uid 65534 RDWR -> EACCES
 *   concurrent  2 reader threads on B while A cycles munmap+mmap / rewrite /
 *               MADV_DONTNEED with a generation per cycle under a seqlock in
 *               a control page of the same segment; B checks every read:
 *               never a generation older than the one completed before the
 *               read started, whole-page consistent if no cycle overlapped.
 * Rendezvous through files in $XPMEM_CLUSTER_DIR (9p: slow, bounded waits).
 * Each node ends with "N passed, N failed".
 *
 * usage: xcoherence [SECONDS of the concurrency phase, default 15]
 *        xcoherence --selftest   (host: the concurrency checker must catch an
 *                                 injected stale generation)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
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
#define WORDS (PAGE / sizeof(uint64_t))
#define WAIT_SECONDS 180
#define MAGIC 0xc0deULL
#define HUGE (2UL << 20)

static int me, nodes, passes, fails, conc_seconds = 15;
static char tag[32];

#define SAY(...) do { printf("%s: ", tag); printf(__VA_ARGS__); putchar('\n'); fflush(stdout); } while (0)
#define PASS(...) do { printf("PASS %s: ", tag); printf(__VA_ARGS__); putchar('\n'); fflush(stdout); passes++; } while (0)
#define FAIL(...) do { printf("FAIL %s: ", tag); printf(__VA_ARGS__); putchar('\n'); fflush(stdout); fails++; } while (0)
#define SKIP(...) do { printf("SKIP %s: ", tag); printf(__VA_ARGS__); putchar('\n'); fflush(stdout); } while (0)

static void die(const char *what)
{
	printf("FAIL %s: %s: %s\n", tag, what, strerror(errno));
	printf("%s: %d passed, %d failed\n", tag, passes, fails + 1);
	fflush(stdout);
	exit(1);
}

/* what a FAIL that exits adds (rv_on_fail): the counts, that failure included */
static void counts_on_fail(void)
{
	printf("%s: %d passed, %d failed\n", tag, passes, fails + 1);
}

/* ---- patterns: magic | generation (24 bits) | page (12) | word (12) ---- */

static uint64_t pat(uint64_t gen, uint64_t pg, uint64_t i)
{
	return MAGIC << 48 | (gen & 0xffffff) << 24 | (pg & 0xfff) << 12 | (i & 0xfff);
}

static int is_pat(uint64_t v) { return v >> 48 == MAGIC; }
static uint64_t pat_gen(uint64_t v) { return v >> 24 & 0xffffff; }
static uint64_t pat_page(uint64_t v) { return v >> 12 & 0xfff; }

/* generations: case number << 16 | step */
enum { C_REMOVE = 1, C_PROTNONE, C_PROTRO, C_FORK, C_MREMAP, C_THP, C_SWAP, C_BOUNDS,
       C_CONC, C_MIGRATE, C_MEMFD, C_CHILD = 0xff };
#define GEN(c, s) ((uint64_t)(c) << 16 | (s))

static void fill(void *addr, uint64_t gen, uint64_t pg)
{
	uint64_t *w = addr;

	for (uint64_t i = 0; i < WORDS; i++)
		w[i] = pat(gen, pg, i);
}

static const char *describe(uint64_t v)
{
	static __thread char s[96];

	if (!v)
		snprintf(s, sizeof(s), "zero");
	else if (is_pat(v))
		snprintf(s, sizeof(s), "%s gen %#llx page %llu word %llu",
			 pat_gen(v) >> 16 == C_CHILD ? "FOREIGN (A's fork child)" : "pattern",
			 (unsigned long long)pat_gen(v), (unsigned long long)pat_page(v),
			 (unsigned long long)(v & 0xfff));
	else
		snprintf(s, sizeof(s), "FOREIGN/unknown %#llx", (unsigned long long)v);
	return s;
}

/* ---- rendezvous ---- */

static void publish(const char *fmt, ...)
{
	char name[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	rv_put(name, "1\n");
}

/* the hex value file @name holds, once it exists */
static unsigned long long await_name(const char *name)
{
	char line[64];

	rv_wait(name, line, sizeof(line));
	return strtoull(line, NULL, 16);
}

static unsigned long long await(const char *fmt, ...)
{
	char name[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	return await_name(name);
}

/* A: wait for step NAME from every attacher */
static void await_all(const char *step)
{
	for (int n = 1; n < nodes; n++)
		await("%s-%d", step, n);
}

/* B: acknowledge step NAME */
static void ack(const char *step)
{
	publish("%s-%d", step, me);
}

/* ---- B's checks ---- */

/*
 * Page @p must hold exactly pat(gen, pg, *) except the words in @skip
 * (bitmap of the first 64 words, for marks written by attachers).
 * Returns 0 if so; else FAILs with what it saw (stale if older data).
 */
static int page_is(const char *what, const volatile void *p, uint64_t gen, uint64_t pg,
		   uint64_t skip, int quiet)
{
	uint64_t w[WORDS];
	unsigned int bad = 0, first = 0, stale = 0;
	int sig = probe_copy(w, p, WORDS);

	if (sig) {
		FAIL("%s: page faults (%s), expected A's data gen %#llx", what, strsignal(sig),
		     (unsigned long long)gen);
		return 1;
	}
	for (unsigned int i = 0; i < WORDS; i++) {
		if (i < 64 && (skip >> i & 1))
			continue;
		if (w[i] != pat(gen, pg, i)) {
			if (!bad++)
				first = i;
			stale += is_pat(w[i]) && pat_gen(w[i]) >> 16 == gen >> 16 &&
				 pat_gen(w[i]) < gen;
		}
	}
	if (bad) {
		FAIL("%s: %s%u words differ from A's current gen %#llx; word %u is %s", what,
		     stale ? "STALE: " : "", bad, (unsigned long long)gen, first,
		     describe(w[first]));
		return 1;
	}
	if (!quiet)
		PASS("%s: A's current data (gen %#llx)", what, (unsigned long long)gen);
	return 0;
}

static int page_zero(const char *what, const volatile void *p)
{
	uint64_t w[WORDS];
	unsigned int bad = 0, first = 0;
	int sig = probe_copy(w, p, WORDS);

	if (sig) {
		FAIL("%s: faults (%s), expected zeros (what A sees)", what, strsignal(sig));
		return 1;
	}
	for (unsigned int i = 0; i < WORDS; i++)
		if (w[i] && !bad++)
			first = i;
	if (bad) {
		FAIL("%s: %s%u words not zero (A sees zeros); word %u is %s", what,
		     is_pat(w[first]) ? "STALE: " : "", bad, first, describe(w[first]));
		return 1;
	}
	PASS("%s: zeros, as A sees", what);
	return 0;
}

static int faults(const char *what, const volatile void *p)
{
	uint64_t v;
	int sig = probe_read(p, &v);

	if (sig) {
		PASS("%s: faults (%s)", what, strsignal(sig));
		return 0;
	}
	FAIL("%s: readable, expected a fault; %s%s", what, is_pat(v) ? "STALE: " : "",
	     describe(v));
	return 1;
}

#define PG(base, n) ((volatile uint64_t *)((char *)(base) + (n) * PAGE))

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

static xpmem_segid_t a_export(const char *name, void *buf, size_t len, int mode)
{
	xpmem_segid_t segid = xpmem_make(buf, len, XPMEM_PERMIT_MODE, (void *)(long)mode);

	if (segid == -1)
		die("xpmem_make");
	rv_put(name, "%llx\n", (unsigned long long)segid);
	return segid;
}

struct att { xpmem_segid_t segid; xpmem_apid_t apid; volatile uint64_t *p; size_t len; };

static struct att b_attach(const char *name, int flags, size_t len)
{
	struct att a = { .len = len };

	a.segid = (xpmem_segid_t)await_name(name);
	a.apid = xpmem_get(a.segid, flags, XPMEM_PERMIT_MODE, NULL);
	if (a.apid == -1)
		die("xpmem_get");
	a.p = xpmem_attach((struct xpmem_addr){ .apid = a.apid, .offset = 0 }, len, NULL);
	if (a.p == (void *)-1)
		die("xpmem_attach");
	return a;
}

/*
 * Attach case @c's segment ("<c>-seg"), check that its @n pages hold A's
 * first generation, and tell A they are touched ("<c>-touched").
 */
static struct att b_attach_touched(const char *c, int gen_case, int n)
{
	char name[64], what[64];
	struct att a;
	int bad = 0;

	snprintf(name, sizeof(name), "%s-seg", c);
	snprintf(what, sizeof(what), "%s: before", c);
	a = b_attach(name, XPMEM_RDWR, n * PAGE);
	for (int i = 0; i < n; i++)
		bad += page_is(what, PG(a.p, i), GEN(gen_case, 1), i, 0, 1);
	if (!bad)
		PASS("%s: %d pages of A's data before", c, n);
	snprintf(name, sizeof(name), "%s-touched", c);
	ack(name);
	return a;
}

static void b_detach(struct att *a)
{
	xpmem_detach((void *)a->p);
	xpmem_release(a->apid);
}

/* ================= 1. the coherence matrix ================= */

/* ---- xpmem_remove ---- */
static void a_remove(void)
{
	char *buf = map_anon(2 * PAGE);
	xpmem_segid_t s;
	struct timespec t0, t1;

	fill(buf, GEN(C_REMOVE, 1), 0);
	fill(buf + PAGE, GEN(C_REMOVE, 1), 1);
	s = a_export("remove-seg", buf, 2 * PAGE, 0600);
	await_all("remove-touched");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (xpmem_remove(s))
		die("xpmem_remove");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	SAY("xpmem_remove of a segment %d partition(s) map: %.0f us", nodes - 1,
	    (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3);
	publish("remove-event");
	await_all("remove-done");
	munmap(buf, 2 * PAGE);
}

static void b_remove(void)
{
	struct att a = b_attach("remove-seg", XPMEM_RDWR, 2 * PAGE);
	xpmem_apid_t apid;

	page_is("remove: before", a.p, GEN(C_REMOVE, 1), 0, 0, 0);
	page_is("remove: before (page 1)", PG(a.p, 1), GEN(C_REMOVE, 1), 1, 0, 1);
	ack("remove-touched");
	await("remove-event");
	faults("remove: page 0 after A's xpmem_remove", a.p);
	faults("remove: page 1 after A's xpmem_remove", PG(a.p, 1));
	apid = xpmem_get(a.segid, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	if (apid == -1 && errno == ENOENT)
		PASS("remove: xpmem_get of the removed segid: ENOENT");
	else
		FAIL("remove: xpmem_get of the removed segid: %s",
		     apid == -1 ? strerror(errno) : "succeeded");
	b_detach(&a);
	ack("remove-done");
}

/* ---- mprotect(PROT_NONE), restore ---- */
static void a_protnone(void)
{
	char *buf = map_anon(3 * PAGE);
	xpmem_segid_t s;

	for (int i = 0; i < 3; i++)
		fill(buf + i * PAGE, GEN(C_PROTNONE, 1), i);
	s = a_export("protnone-seg", buf, 3 * PAGE, 0600);
	await_all("protnone-touched");
	if (mprotect(buf + PAGE, PAGE, PROT_NONE))
		die("mprotect(PROT_NONE)");
	publish("protnone-event");
	await_all("protnone-checked");
	if (mprotect(buf + PAGE, PAGE, PROT_READ | PROT_WRITE))
		die("mprotect(restore)");
	fill(buf + PAGE, GEN(C_PROTNONE, 2), 1);
	publish("protnone-restored");
	await_all("protnone-done");
	xpmem_remove(s);
	munmap(buf, 3 * PAGE);
}

static void b_protnone(void)
{
	struct att a = b_attach_touched("protnone", C_PROTNONE, 3);

	await("protnone-event");
	faults("protnone: page A made PROT_NONE", PG(a.p, 1));
	page_is("protnone: page before it", PG(a.p, 0), GEN(C_PROTNONE, 1), 0, 0, 0);
	page_is("protnone: page after it", PG(a.p, 2), GEN(C_PROTNONE, 1), 2, 0, 0);
	ack("protnone-checked");
	await("protnone-restored");
	page_is("protnone: restored and rewritten by A", PG(a.p, 1), GEN(C_PROTNONE, 2), 1, 0, 0);
	b_detach(&a);
	ack("protnone-done");
}

/* ---- mprotect(PROT_READ) ---- */
#define MARK(n, k) (0x4d41524b00000000ULL | (uint64_t)(n) << 16 | (k))

static void a_protro(void)
{
	uint64_t *buf = map_anon(2 * PAGE);
	xpmem_segid_t s;
	unsigned int bad = 0;

	fill(buf, GEN(C_PROTRO, 1), 0);
	fill(buf + WORDS, GEN(C_PROTRO, 1), 1);
	s = a_export("protro-seg", buf, 2 * PAGE, 0600);
	await_all("protro-touched");
	for (int n = 1; n < nodes; n++)
		bad += buf[n] != MARK(n, 1);
	if (bad)
		FAIL("protro: %u attachers' writes missing in A's page", bad);
	else
		PASS("protro: every attacher's write is in A's page");
	if (mprotect(buf, 2 * PAGE, PROT_READ))
		die("mprotect(PROT_READ)");
	publish("protro-event");
	await_all("protro-checked");
	bad = 0;
	for (int n = 1; n < nodes; n++)
		bad += buf[n] != MARK(n, 1);
	for (unsigned int i = nodes; i < WORDS; i++)
		bad += buf[i] != pat(GEN(C_PROTRO, 1), 0, i);
	for (unsigned int i = 0; i < WORDS; i++)
		bad += buf[WORDS + i] != pat(GEN(C_PROTRO, 1), 1, i);
	if (bad)
		FAIL("protro: %u words of A's read-only pages changed while PROT_READ", bad);
	else
		PASS("protro: A's read-only pages unchanged by the attachers' write attempts");
	if (mprotect(buf, 2 * PAGE, PROT_READ | PROT_WRITE))
		die("mprotect(restore)");
	fill(buf, GEN(C_PROTRO, 2), 0);
	publish("protro-restored");
	await_all("protro-written");
	bad = 0;
	for (int n = 1; n < nodes; n++)
		bad += buf[n] != MARK(n, 3);
	if (bad)
		FAIL("protro: after restoring PROT_WRITE, %u attachers' writes missing", bad);
	else
		PASS("protro: after restoring PROT_WRITE the attachers' writes land");
	publish("protro-end");
	await_all("protro-done");
	xpmem_remove(s);
	munmap(buf, 2 * PAGE);
}

static void b_protro(void)
{
	struct att a = b_attach("protro-seg", XPMEM_RDWR, 2 * PAGE);
	uint64_t skip = 0;
	int sig;

	for (int n = 1; n < nodes; n++)
		skip |= 1ULL << n;
	/* a write fault first: our PTE is writable when A drops PROT_WRITE */
	if ((sig = probe_write(a.p + me, MARK(me, 1))))
		FAIL("protro: write before the event faults (%s)", strsignal(sig));
	page_is("protro: before", a.p, GEN(C_PROTRO, 1), 0, skip, 0);
	page_is("protro: before (page 1)", PG(a.p, 1), GEN(C_PROTRO, 1), 1, 0, 1);
	ack("protro-touched");
	await("protro-event");
	page_is("protro: read after A's mprotect(PROT_READ)", a.p, GEN(C_PROTRO, 1), 0, skip, 0);
	sig = probe_write(a.p + me, MARK(me, 2));
	if (sig)
		PASS("protro: write after A's mprotect(PROT_READ) faults (%s)", strsignal(sig));
	else
		FAIL("protro: write after A's mprotect(PROT_READ) went through");
	sig = probe_write(PG(a.p, 1) + 5, MARK(me, 2));
	if (sig)
		PASS("protro: write to the other read-only page faults (%s)", strsignal(sig));
	else
		FAIL("protro: write to the other read-only page (never written before) went through");
	ack("protro-checked");
	await("protro-restored");
	page_is("protro: A restored PROT_WRITE and rewrote", a.p, GEN(C_PROTRO, 2), 0, skip, 0);
	if ((sig = probe_write(a.p + me, MARK(me, 3))))
		FAIL("protro: write after A restored PROT_WRITE faults (%s)", strsignal(sig));
	ack("protro-written");
	await("protro-end");
	b_detach(&a);
	ack("protro-done");
}

/* ---- fork: COW breaks in A ---- */
static void a_forkcow(void)
{
	uint64_t *buf = map_anon(2 * PAGE);
	xpmem_segid_t s;
	int to_child[2], from_child[2], st;
	char c;
	pid_t pid;
	unsigned int bad = 0;

	fill(buf, GEN(C_FORK, 1), 0);
	fill(buf + WORDS, GEN(C_FORK, 1), 1);
	s = a_export("fork-seg", buf, 2 * PAGE, 0600);
	await_all("fork-touched");
	if (pipe(to_child) || pipe(from_child))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		/* the child: 'r' reports ... */
		while (read(to_child[0], &c, 1) == 1) {
			if (c == 'r') {	/* ... its view of page 1 words 0-7 */
				uint64_t w8[8];

				memcpy(w8, buf + WORDS, sizeof(w8));
				if (write(from_child[1], w8, sizeof(w8)) != sizeof(w8))
					_exit(1);
			} else if (c == 'w') {	/* overwrite its frames */
				fill(buf, GEN(C_CHILD, 0), 0);
				fill(buf + WORDS, GEN(C_CHILD, 0), 1);
				if (write(from_child[1], &c, 1) != 1)
					_exit(1);
			} else {
				break;
			}
		}
		_exit(0);
	}
	publish("fork-forked");
	/* the attachers write page 1 word n: their write fault breaks COW in A */
	await_all("fork-bwrote");
	for (int n = 1; n < nodes; n++)
		bad += buf[WORDS + n] != MARK(n, 7);
	if (bad)
		FAIL("forkcow: %u attachers' writes after the fork missing in A's page", bad);
	else
		PASS("forkcow: attachers' writes after the fork are in A's page");
	{
		uint64_t w8[8];

		if (write(to_child[1], "r", 1) != 1 || read(from_child[0], w8, sizeof(w8)) != sizeof(w8))
			die("child pipe");
		bad = 0;
		for (int n = 1; n < nodes && n < 8; n++)
			if (w8[n] != MARK(n, 6) && !bad++)
				FAIL("forkcow: the fork child sees %s in its page 1 word %d, expected "
				     "the attacher's pre-fork write %#llx", describe(w8[n]), n,
				     (unsigned long long)MARK(n, 6));
		if (!bad)
			PASS("forkcow: the fork child does not see the attachers' post-fork writes "
			     "(their writable pre-fork PTEs did not survive the fork)");
	}
	/* page 0: A writes first: A gets a new frame, the child keeps the old */
	fill(buf, GEN(C_FORK, 2), 0);
	if (write(to_child[1], "w", 1) != 1 || read(from_child[0], &c, 1) != 1)
		die("child pipe");
	publish("fork-event");
	await_all("fork-checked");
	if (write(to_child[1], "q", 1) != 1)
		die("child pipe");
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		FAIL("forkcow: the fork child failed (status %#x)", st);
	close(to_child[0]); close(to_child[1]); close(from_child[0]); close(from_child[1]);
	publish("fork-end");
	await_all("fork-done");
	xpmem_remove(s);
	munmap(buf, 2 * PAGE);
}

static void b_forkcow(void)
{
	struct att a = b_attach("fork-seg", XPMEM_RDWR, 2 * PAGE);
	uint64_t skip = 0;
	int sig;

	for (int n = 1; n < nodes; n++)
		skip |= 1ULL << n;
	page_is("forkcow: before", a.p, GEN(C_FORK, 1), 0, skip, 0);
	page_is("forkcow: before (page 1)", PG(a.p, 1), GEN(C_FORK, 1), 1, skip, 1);
	/* writable PTEs on both pages when A forks */
	if ((sig = probe_write(a.p + me, MARK(me, 6))) ||
	    (sig = probe_write(PG(a.p, 1) + me, MARK(me, 6))))
		FAIL("forkcow: write before the fork faults (%s)", strsignal(sig));
	ack("fork-touched");
	await("fork-forked");
	page_is("forkcow: page 0 read after A forked", a.p, GEN(C_FORK, 1), 0, skip, 0);
	if ((sig = probe_write(PG(a.p, 1) + me, MARK(me, 7))))
		FAIL("forkcow: write after A forked faults (%s)", strsignal(sig));
	ack("fork-bwrote");
	await("fork-event");
	page_is("forkcow: page 0 after A's COW break and the child's overwrite of the old frame",
		a.p, GEN(C_FORK, 2), 0, 0, 0);
	page_is("forkcow: page 1 (broken by our write; the child overwrote its copy)",
		PG(a.p, 1), GEN(C_FORK, 1), 1, skip, 0);
	ack("fork-checked");
	await("fork-end");
	b_detach(&a);
	ack("fork-done");
}

/* ---- mremap ---- */
static void a_mremap(void)
{
	char *buf = map_anon(4 * PAGE), *away = map_anon(PAGE), *away4 = map_anon(4 * PAGE);
	uint64_t *moved;
	xpmem_segid_t s;
	unsigned int bad = 0;

	for (int i = 0; i < 4; i++)
		fill(buf + i * PAGE, GEN(C_MREMAP, 1), i);
	s = a_export("mremap-seg", buf, 4 * PAGE, 0600);
	await_all("mremap-touched");
	moved = mremap(buf + 2 * PAGE, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, away);
	if (moved == MAP_FAILED)
		die("mremap");
	for (unsigned int i = 0; i < WORDS; i++)
		bad += moved[i] != pat(GEN(C_MREMAP, 1), 2, i);
	if (bad)
		FAIL("mremap: the moved page lost its data in A (%u words)", bad);
	publish("mremap-event");
	await_all("mremap-checked");
	if (mmap(buf + 2 * PAGE, PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		die("mmap(MAP_FIXED) into the hole");
	fill(buf + 2 * PAGE, GEN(C_MREMAP, 2), 2);
	publish("mremap-refilled");
	await_all("mremap-checked2");
	if (mremap(buf, 4 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, away4) == MAP_FAILED)
		die("mremap (whole range)");
	publish("mremap-all");
	await_all("mremap-done");
	xpmem_remove(s);
	munmap(away, PAGE);
	munmap(away4, 4 * PAGE);
}

static void b_mremap(void)
{
	struct att a = b_attach_touched("mremap", C_MREMAP, 4);
	int bad = 0;

	await("mremap-event");
	faults("mremap: page A moved away (hole)", PG(a.p, 2));
	page_is("mremap: page before the hole", PG(a.p, 1), GEN(C_MREMAP, 1), 1, 0, 0);
	page_is("mremap: page after the hole", PG(a.p, 3), GEN(C_MREMAP, 1), 3, 0, 0);
	ack("mremap-checked");
	await("mremap-refilled");
	page_is("mremap: new page A mapped into the hole", PG(a.p, 2), GEN(C_MREMAP, 2), 2, 0, 0);
	ack("mremap-checked2");
	await("mremap-all");
	for (int i = 0; i < 4; i++) {
		uint64_t v;

		bad += probe_read(PG(a.p, i), &v) == 0;
	}
	if (bad)
		FAIL("mremap: A moved the whole range away: %d of 4 pages still readable", bad);
	else
		PASS("mremap: A moved the whole range away: every page faults");
	b_detach(&a);
	ack("mremap-done");
}

static int write_file(const char *path, const char *s);

/* ---- shared memfd source: hole punch, truncate, write(2) ---- */
static void a_memfd(void)
{
	int fd = memfd_create("xcoherence", 0);
	char *buf;
	uint64_t w[WORDS];
	xpmem_segid_t s;

	if (fd < 0 || ftruncate(fd, 4 * PAGE))
		die("memfd");
	buf = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (buf == MAP_FAILED)
		die("mmap(memfd)");
	for (int i = 0; i < 4; i++)
		fill(buf + i * PAGE, GEN(C_MEMFD, 1), i);
	s = a_export("memfd-seg", buf, 4 * PAGE, 0600);
	await_all("memfd-touched");
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, PAGE, PAGE))
		die("fallocate(PUNCH_HOLE)");
	publish("memfd-event1");
	await_all("memfd-checked1");
	if (ftruncate(fd, 2 * PAGE))
		die("ftruncate");
	publish("memfd-event2");
	await_all("memfd-checked2");
	fill(w, GEN(C_MEMFD, 2), 0);	/* through the file, not the mapping */
	if (pwrite(fd, w, PAGE, 0) != (ssize_t)PAGE)
		die("pwrite");
	publish("memfd-event3");
	await_all("memfd-done");
	xpmem_remove(s);
	munmap(buf, 4 * PAGE);
	close(fd);
}

static void b_memfd(void)
{
	struct att a = b_attach_touched("memfd", C_MEMFD, 4);

	await("memfd-event1");
	page_zero("memfd: page A punched a hole in (fallocate)", PG(a.p, 1));
	page_is("memfd: page after the hole", PG(a.p, 2), GEN(C_MEMFD, 1), 2, 0, 0);
	ack("memfd-checked1");
	await("memfd-event2");
	faults("memfd: page 2 beyond the file A truncated", PG(a.p, 2));
	faults("memfd: page 3 beyond the file A truncated", PG(a.p, 3));
	page_is("memfd: page 0 inside the truncated file", PG(a.p, 0), GEN(C_MEMFD, 1), 0, 0, 0);
	ack("memfd-checked2");
	await("memfd-event3");
	page_is("memfd: page 0 after A's pwrite(2) to the file", PG(a.p, 0), GEN(C_MEMFD, 2), 0,
		0, 0);
	b_detach(&a);
	ack("memfd-done");
}

/* ---- THP source split ---- */
static long anon_huge_kb(void *addr)
{
	char line[256];
	unsigned long lo, hi;
	long kb = -1;
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = (unsigned long)addr >= lo && (unsigned long)addr < hi;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

#define THP_PAGES (HUGE / PAGE)

#define THP_SYS "/sys/kernel/mm/transparent_hugepage/"

/* the current [choice] in a THP sysfs file, into @out */
static void thp_get(const char *file, char *out, size_t len)
{
	char line[128], *a, *b;
	FILE *f = fopen(file, "r");

	out[0] = 0;
	if (!f)
		return;
	if (fgets(line, sizeof(line), f) && (a = strchr(line, '[')) && (b = strchr(a, ']'))) {
		*b = 0;
		snprintf(out, len, "%s", a + 1);
	}
	fclose(f);
}

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#define NHUGE 3
#define ALL_PAGES (NHUGE * THP_PAGES)

/*
 * Three 2 MiB ranges: 0 and 1 are THPs (0: MADV_DONTNEED of a 4K page
 * splits it; 1: mprotect of two 4K pages splits it), 2 is made of 4K pages
 * while the attachers map it, then MADV_COLLAPSE copies it into a new THP
 * (the old frames are freed: the nearest to a migration one guest has).
 */
static void a_thp(void)
{
	char *raw, *buf, en[32], df[32];
	xpmem_segid_t s;
	long kb0, kb1, kb2;
	int r = -1, tries;

	/* the guest boots with THP "never": allow it for MADV_HUGEPAGE regions */
	thp_get(THP_SYS "enabled", en, sizeof(en));
	thp_get(THP_SYS "defrag", df, sizeof(df));
	if (strcmp(en, "always") && write_file(THP_SYS "enabled", "madvise"))
		SAY("thp: cannot set %senabled to madvise: %s", THP_SYS, strerror(errno));
	if (write_file(THP_SYS "defrag", "madvise"))
		SAY("thp: cannot set %sdefrag to madvise: %s", THP_SYS, strerror(errno));
	raw = map_anon((NHUGE + 1) * HUGE);
	buf = (char *)(((uintptr_t)raw + HUGE - 1) & ~(HUGE - 1));
	if (madvise(buf, 2 * HUGE, MADV_HUGEPAGE))
		SAY("madvise(MADV_HUGEPAGE): %s", strerror(errno));
	madvise(buf + 2 * HUGE, HUGE, MADV_NOHUGEPAGE);
	for (unsigned int i = 0; i < ALL_PAGES; i++)
		fill(buf + i * PAGE, GEN(C_THP, 1), i);
	kb0 = anon_huge_kb(buf);
	kb1 = anon_huge_kb(buf + HUGE);
	kb2 = anon_huge_kb(buf + 2 * HUGE);
	if (kb0 >= 4096 || (kb0 >= 2048 && kb1 >= 2048))
		SAY("thp: ranges 0 and 1 are THPs (AnonHugePages %ld kB), range 2 is 4K pages "
		    "(%ld kB)", kb0, kb2);
	else
		SKIP("thp: source is NOT a THP (AnonHugePages %ld/%ld kB; "
		     "/sys/kernel/mm/transparent_hugepage/enabled?): the split is not exercised, "
		     "the checks still run on 4K pages", kb0, kb1);
	rv_put("thp-huge", "%llx\n", (unsigned long long)(kb0 >= 2048));
	s = a_export("thp-seg", buf, NHUGE * HUGE, 0600);
	await_all("thp-touched");
	if (madvise(buf + 100 * PAGE, PAGE, MADV_DONTNEED))
		die("madvise(MADV_DONTNEED) in the THP");
	SAY("thp: after MADV_DONTNEED of page 100: AnonHugePages %ld kB in ranges 0+1 "
	    "(range 0 split)", anon_huge_kb(buf));
	publish("thp-event1");
	await_all("thp-checked1");
	if (mprotect(buf + (512 + 200) * PAGE, 2 * PAGE, PROT_NONE))
		die("mprotect(PROT_NONE) in the THP");
	SAY("thp: after mprotect of pages 712-713: AnonHugePages %ld kB in ranges 0+1 "
	    "(range 1 split too)", anon_huge_kb(buf) + anon_huge_kb(buf + 713 * PAGE) +
	    anon_huge_kb(buf + 714 * PAGE));
	publish("thp-event2");
	await_all("thp-checked2");
	if (mprotect(buf + (512 + 200) * PAGE, 2 * PAGE, PROT_READ | PROT_WRITE))
		die("mprotect(restore)");
	fill(buf + 100 * PAGE, GEN(C_THP, 2), 100);
	fill(buf + 712 * PAGE, GEN(C_THP, 2), 712);
	fill(buf + 713 * PAGE, GEN(C_THP, 2), 713);
	publish("thp-event3");
	await_all("thp-checked3");
	/* collapse range 2 (the attachers map its 4K frames) into a new THP */
	madvise(buf + 2 * HUGE, HUGE, MADV_HUGEPAGE);
	for (tries = 1; tries <= 5; tries++) {
		r = madvise(buf + 2 * HUGE, HUGE, MADV_COLLAPSE);
		if (r == 0 || errno != EAGAIN)
			break;
		usleep(200000);
	}
	kb2 = anon_huge_kb(buf + 2 * HUGE);
	if (r)
		SKIP("thp: MADV_COLLAPSE of range 2 failed (%s): collapse not exercised, "
		     "the checks still run", strerror(errno));
	else if (kb2 < 2048)
		FAIL("thp: MADV_COLLAPSE returned 0 but AnonHugePages is %ld kB", kb2);
	else
		SAY("thp: range 2 collapsed into a THP (AnonHugePages %ld kB)", kb2);
	/* the attachers must see these through the new frames */
	for (unsigned int i = 2 * THP_PAGES; i < ALL_PAGES; i += 64)
		fill(buf + i * PAGE, GEN(C_THP, 3), i);
	rv_put("thp-event4", "%llx\n", (unsigned long long)(r == 0 && kb2 >= 2048));
	await_all("thp-done");
	xpmem_remove(s);
	munmap(raw, (NHUGE + 1) * HUGE);
	if (en[0])
		write_file(THP_SYS "enabled", en);
	if (df[0])
		write_file(THP_SYS "defrag", df);
}

/* sampled check (first and last word of each page) of pages [from, to) except
 * those for which @gen_of returns 0 */
static int thp_sample(const volatile uint64_t *p, unsigned int from, unsigned int to,
		      uint64_t (*gen_of)(unsigned int))
{
	int bad = 0;

	for (unsigned int i = from; i < to; i++) {
		uint64_t a = 0, b = 0, gen = gen_of(i);
		int sig;

		if (!gen)
			continue;
		sig = probe_read(PG(p, i), &a);
		if (!sig)
			sig = probe_read(PG(p, i) + WORDS - 1, &b);
		if (sig || a != pat(gen, i, 0) || b != pat(gen, i, WORDS - 1)) {
			if (!bad++)
				FAIL("sampled check: page %u: %s (expected gen %#llx)", i,
				     sig ? strsignal(sig) : describe(sig || a != pat(gen, i, 0) ? a : b),
				     (unsigned long long)gen);
		}
	}
	return bad;
}

static uint64_t g_initial(unsigned int i) { (void)i; return GEN(C_THP, 1); }
static uint64_t g_split(unsigned int i) { return i == 100 ? 0 : GEN(C_THP, 1); }
static uint64_t g_prot(unsigned int i)
{
	return i == 100 || i == 712 || i == 713 ? 0 : GEN(C_THP, 1);
}
static uint64_t g_rewritten(unsigned int i)
{
	return i == 100 || i == 712 || i == 713 ? GEN(C_THP, 2) : GEN(C_THP, 1);
}
static uint64_t g_collapsed(unsigned int i)
{
	if (i >= 2 * THP_PAGES && i % 64 == 0)
		return GEN(C_THP, 3);
	return g_rewritten(i);
}

static void b_thp(void)
{
	int huge = (int)await_name("thp-huge");
	struct att a = b_attach("thp-seg", XPMEM_RDWR, NHUGE * HUGE);
	const char *src = huge ? "THP source" : "source (not a THP)";
	char what[160];

	if (!thp_sample(a.p, 0, ALL_PAGES, g_initial))
		PASS("thp: all %lu pages of the %s read", ALL_PAGES, src);
	ack("thp-touched");
	await("thp-event1");
	snprintf(what, sizeof(what), "thp: 4K page A dropped (MADV_DONTNEED) in the %s", src);
	page_zero(what, PG(a.p, 100));
	page_is("thp: page 99", PG(a.p, 99), GEN(C_THP, 1), 99, 0, 0);
	page_is("thp: page 101", PG(a.p, 101), GEN(C_THP, 1), 101, 0, 0);
	if (!thp_sample(a.p, 0, ALL_PAGES, g_split))
		PASS("thp: the other pages unchanged after the split");
	ack("thp-checked1");
	await("thp-event2");
	snprintf(what, sizeof(what), "thp: page 712 A made PROT_NONE in the %s", src);
	faults(what, PG(a.p, 712));
	faults("thp: page 713 A made PROT_NONE", PG(a.p, 713));
	page_is("thp: page 711", PG(a.p, 711), GEN(C_THP, 1), 711, 0, 0);
	page_is("thp: page 714", PG(a.p, 714), GEN(C_THP, 1), 714, 0, 0);
	if (!thp_sample(a.p, 0, ALL_PAGES, g_prot))
		PASS("thp: the other pages unchanged after the mprotect split");
	ack("thp-checked2");
	await("thp-event3");
	page_is("thp: page 100 rewritten", PG(a.p, 100), GEN(C_THP, 2), 100, 0, 0);
	page_is("thp: page 712 restored, rewritten", PG(a.p, 712), GEN(C_THP, 2), 712, 0, 0);
	page_is("thp: page 713 restored, rewritten", PG(a.p, 713), GEN(C_THP, 2), 713, 0, 1);
	ack("thp-checked3");
	huge = (int)await_name("thp-event4");
	if (!thp_sample(a.p, 0, ALL_PAGES, g_collapsed))
		PASS("thp: after %s of range 2 and A's writes: A's current data everywhere",
		     huge ? "MADV_COLLAPSE into a new THP" : "a failed MADV_COLLAPSE");
	b_detach(&a);
	ack("thp-done");
}
/* ---- swap-out (zram) ---- */
#define ZRAM "/sys/block/zram0"
#define SWAP_PAGES 8

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok ? 0 : -1;
}

static int swap_on(char *why, size_t len)
{
	if (access(ZRAM, F_OK) &&
	    system("modprobe zram num_devices=1 >/dev/null 2>&1") != 0 &&
	    system("insmod \"$(modinfo -n zsmalloc)\" 2>/dev/null; "
		   "insmod \"$(modinfo -n zram)\" 2>/dev/null") != 0) {
		snprintf(why, len, "neither modprobe zram nor insmod of zram worked");
		return -1;
	}
	for (int t = 0; t < 100 && access("/dev/zram0", F_OK); t++)
		usleep(10000);
	if (access(ZRAM, F_OK) || access("/dev/zram0", F_OK)) {
		snprintf(why, len, "zram loaded but no %s or /dev/zram0", ZRAM);
		return -1;
	}
	write_file(ZRAM "/reset", "1");
	if (write_file(ZRAM "/disksize", "64M")) {
		snprintf(why, len, "writing %s/disksize: %s", ZRAM, strerror(errno));
		return -1;
	}
	if (system("mkswap /dev/zram0 >/dev/null 2>&1") != 0 ||
	    system("swapon /dev/zram0 2>/dev/null") != 0) {
		snprintf(why, len, "mkswap/swapon /dev/zram0 failed");
		return -1;
	}
	return 0;
}

static void swap_off(void)
{
	if (system("swapoff /dev/zram0 2>/dev/null") != 0)
		SAY("swapoff /dev/zram0 failed");
	write_file(ZRAM "/reset", "1");
}

static int swapped_pages(char *buf, int n)
{
	int fd = open("/proc/self/pagemap", O_RDONLY), k = 0;

	if (fd < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		uint64_t e = 0;

		if (pread(fd, &e, 8, ((uintptr_t)buf / PAGE + i) * 8) == 8 && (e >> 62 & 1))
			k++;
	}
	close(fd);
	return k;
}

static int page_out(char *buf, int n)
{
	int k = 0;

	for (int t = 0; t < 10; t++) {
		if (madvise(buf, n * PAGE, MADV_PAGEOUT))
			return -1;
		k = swapped_pages(buf, n);
		if (k == n)
			break;
		usleep(100000);
	}
	return k;
}

static void a_swap(void)
{
	char why[200], *buf;
	xpmem_segid_t s;
	int k;

	if (swap_on(why, sizeof(why))) {
		SKIP("swap: cannot enable swap in the guest: %s", why);
		swap_off();
		rv_put("swap-seg", "%llx\n", (unsigned long long)(0));
		return;
	}
	buf = map_anon(SWAP_PAGES * PAGE);
	madvise(buf, SWAP_PAGES * PAGE, MADV_NOHUGEPAGE);
	for (int i = 0; i < SWAP_PAGES; i++)
		fill(buf + i * PAGE, GEN(C_SWAP, 1), i);
	s = a_export("swap-seg", buf, SWAP_PAGES * PAGE, 0600);
	await_all("swap-touched");
	k = page_out(buf, SWAP_PAGES);
	if (k == SWAP_PAGES)
		PASS("swap: all %d pages the attachers map went to swap", SWAP_PAGES);
	else
		FAIL("swap: %d of %d pages the attachers map went to swap (madvise: %s)", k,
		     SWAP_PAGES, k < 0 ? strerror(errno) : "ok");
	publish("swap-event1");	/* attachers' faults swap the pages in */
	await_all("swap-checked1");
	k = page_out(buf, SWAP_PAGES);
	SAY("swap: paged out again: %d of %d", k, SWAP_PAGES);
	for (int i = 0; i < SWAP_PAGES; i++)	/* A's writes swap them in */
		fill(buf + i * PAGE, GEN(C_SWAP, 2), i);
	publish("swap-event2");
	await_all("swap-done");
	xpmem_remove(s);
	munmap(buf, SWAP_PAGES * PAGE);
	swap_off();
}

static void b_swap(void)
{
	struct att a;
	int bad = 0;

	if (!await_name("swap-seg")) {
		SKIP("swap: A has no swap");
		return;
	}
	a = b_attach_touched("swap", C_SWAP, SWAP_PAGES);
	await("swap-event1");
	bad = 0;
	for (int i = 0; i < SWAP_PAGES; i++)
		bad += page_is("swap: after A's pages were swapped out", PG(a.p, i),
			       GEN(C_SWAP, 1), i, 0, 1);
	if (!bad)
		PASS("swap: A's pages swapped out: our faults read them back");
	ack("swap-checked1");
	await("swap-event2");
	bad = 0;
	for (int i = 0; i < SWAP_PAGES; i++)
		bad += page_is("swap: swapped out again, rewritten by A", PG(a.p, i),
			       GEN(C_SWAP, 2), i, 0, 1);
	if (!bad)
		PASS("swap: swapped out again and rewritten by A: new data");
	b_detach(&a);
	ack("swap-done");
}

/* ---- migration ---- */
/*
 * No second NUMA node in the guest (run-cluster has no --numa), so no
 * move_pages(): migrate by MADV_SOFT_OFFLINE instead (the kernel migrates
 * the page to a new frame and retires the old one), or failing that by
 * compaction. A compares the PFNs before and after (pagemap, root) and says
 * how many of the pages the attachers map moved; none moved -> SKIP, loudly.
 */
#define MIG_PAGES 256
#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE 101
#endif

static uint64_t pfn_of(int fd, void *addr)
{
	uint64_t e = 0;

	if (pread(fd, &e, 8, (uintptr_t)addr / PAGE * 8) != 8 || !(e >> 63 & 1))
		return 0;
	return e & ((1ULL << 55) - 1);
}

static void a_migrate(void)
{
	char *buf = map_anon(MIG_PAGES * PAGE);
	uint64_t pfn[MIG_PAGES];
	int fd = open("/proc/self/pagemap", O_RDONLY), moved = 0, tries;
	xpmem_segid_t s;

	if (!access("/sys/devices/system/node/node1", F_OK))
		SAY("migrate: two NUMA nodes, but this case uses compaction");
	else
		SAY("migrate: one NUMA node (run-cluster has no --numa): no move_pages(); "
		    "migrating by MADV_SOFT_OFFLINE (or compaction)");
	madvise(buf, MIG_PAGES * PAGE, MADV_NOHUGEPAGE);
	for (int i = 0; i < MIG_PAGES; i++)
		fill(buf + i * PAGE, GEN(C_MIGRATE, 1), i);
	for (int i = 0; i < MIG_PAGES; i++)
		pfn[i] = fd < 0 ? 0 : pfn_of(fd, buf + i * PAGE);
	s = a_export("migrate-seg", buf, MIG_PAGES * PAGE, 0600);
	await_all("migrate-touched");
	/* soft offline (root, CONFIG_MEMORY_FAILURE): the kernel migrates the
	 * page to a new frame and retires the old one, never to be reused */
	for (int i = 0; i < 16; i++)
		if (madvise(buf + i * PAGE * 3, PAGE, MADV_SOFT_OFFLINE)) {
			SAY("migrate: madvise(MADV_SOFT_OFFLINE): %s", strerror(errno));
			break;
		}
	for (int i = 0; i < MIG_PAGES; i++)
		moved += fd >= 0 && pfn[i] && pfn_of(fd, buf + i * PAGE) != pfn[i];
	if (moved)
		SAY("migrate: MADV_SOFT_OFFLINE migrated %d pages", moved);
	for (tries = 0; tries < 2 && !moved; tries++) {
		if (write_file("/proc/sys/vm/compact_memory", "1"))
			SAY("migrate: writing /proc/sys/vm/compact_memory: %s", strerror(errno));
		moved = 0;
		for (int i = 0; i < MIG_PAGES; i++)
			moved += fd >= 0 && pfn[i] && pfn_of(fd, buf + i * PAGE) != pfn[i];
	}
	if (fd < 0 || !pfn[0])
		SKIP("migrate: cannot read PFNs from /proc/self/pagemap: page migration NOT "
		     "verified (the checks still run)");
	else if (!moved)
		SKIP("migrate: neither MADV_SOFT_OFFLINE nor compaction moved any of the %d "
		     "pages the attachers map: page migration NOT exercised (the checks still "
		     "run)", MIG_PAGES);
	else
		SAY("migrate: %d of the %d pages the attachers map are on new frames", moved,
		    MIG_PAGES);
	publish("migrate-event1");	/* same data, new frames */
	await_all("migrate-checked1");
	for (int i = 0; i < MIG_PAGES; i++)	/* old frames would show gen 1 */
		fill(buf + i * PAGE, GEN(C_MIGRATE, 2), i);
	rv_put("migrate-event2", "%llx\n", (unsigned long long)(moved));
	await_all("migrate-done");
	if (fd >= 0)
		close(fd);
	xpmem_remove(s);
	munmap(buf, MIG_PAGES * PAGE);
}

static uint64_t g_mig1(unsigned int i) { (void)i; return GEN(C_MIGRATE, 1); }
static uint64_t g_mig2(unsigned int i) { (void)i; return GEN(C_MIGRATE, 2); }

static void b_migrate(void)
{
	struct att a = b_attach("migrate-seg", XPMEM_RDWR, MIG_PAGES * PAGE);
	int moved, bad;

	if (!thp_sample(a.p, 0, MIG_PAGES, g_mig1))
		PASS("migrate: %d pages of A's data before", MIG_PAGES);
	ack("migrate-touched");
	await("migrate-event1");
	if (!thp_sample(a.p, 0, MIG_PAGES, g_mig1))
		PASS("migrate: A's data after the migration (sampled, all pages)");
	moved = 0;
	for (int i = 0; i < 16; i++)	/* the soft-offlined pages, whole */
		moved += page_is("migrate: soft-offlined page after the migration",
				 PG(a.p, 3 * i), GEN(C_MIGRATE, 1), 3 * i, 0, 1);
	if (!moved)
		PASS("migrate: the 16 soft-offlined pages whole: A's data");
	ack("migrate-checked1");
	moved = (int)await_name("migrate-event2");
	bad = thp_sample(a.p, 0, MIG_PAGES, g_mig2);
	for (int i = 0; i < 16; i++)
		bad += page_is("migrate: soft-offlined page rewritten by A", PG(a.p, 3 * i),
			       GEN(C_MIGRATE, 2), 3 * i, 0, 1);
	if (!bad)
		PASS("migrate: A rewrote all pages after the migration (%d of them on new frames): "
		     "new data everywhere, nothing stale", moved);
	b_detach(&a);
	ack("migrate-done");
}

/* ================= 3. only what the apid grants ================= */

static void a_bounds(void)
{
	char *buf = map_anon(6 * PAGE);
	xpmem_segid_t s;
	unsigned int bad = 0;

	for (int i = 0; i < 6; i++)
		fill(buf + i * PAGE, GEN(C_BOUNDS, i == 0 || i == 5 ? 0xee : 1), i);
	/* pages 1..4 exported, 0 and 5 are A's secrets */
	s = a_export("bounds-seg", buf + PAGE, 4 * PAGE, 0644);
	await_all("bounds-done");
	for (int i = 0; i < 6; i++)
		for (unsigned int w = 0; w < WORDS; w++)
			bad += ((uint64_t *)(buf + i * PAGE))[w] !=
			       pat(GEN(C_BOUNDS, i == 0 || i == 5 ? 0xee : 1), i, w);
	if (bad)
		FAIL("bounds: %u words of A's memory changed by read-only attachers", bad);
	else
		PASS("bounds: A's memory unchanged by the read-only attachers' writes");
	publish("bounds-end");
	xpmem_remove(s);
	munmap(buf, 6 * PAGE);
}

static int attach_errno(xpmem_apid_t apid, off_t off, size_t size)
{
	void *p = xpmem_attach((struct xpmem_addr){ .apid = apid, .offset = off }, size, NULL);

	if (p != (void *)-1) {
		xpmem_detach(p);
		return 0;
	}
	return errno;
}

/* uid 65534 on the 0644 segment: RDWR refused, RDONLY maps read-only */
static int nobody_child(xpmem_segid_t segid)
{
	xpmem_apid_t apid;
	volatile uint64_t *p;
	uint64_t v;

	if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
		return 10;
	apid = xpmem_get(segid, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	if (apid != -1 || errno != EACCES)
		return 11;
	apid = xpmem_get(segid, XPMEM_RDONLY, XPMEM_PERMIT_MODE, NULL);
	if (apid == -1)
		return 12;
	p = xpmem_attach((struct xpmem_addr){ .apid = apid, .offset = 0 }, 4 * PAGE, NULL);
	if (p == (void *)-1)
		return 13;
	if (probe_read(PG(p, 3), &v) || v != pat(GEN(C_BOUNDS, 1), 4, 0))
		return 14;
	if (probe_write(PG(p, 3), 0xbad) != SIGSEGV)
		return 15;
	if (!mprotect((void *)p, PAGE, PROT_READ | PROT_WRITE) && !probe_write(p, 0xbad))
		return 16;
	return 0;
}

static void b_bounds(void)
{
	xpmem_segid_t segid = (xpmem_segid_t)await_name("bounds-seg");
	xpmem_apid_t apid = xpmem_get(segid, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL), ro;
	static const struct { off_t off; size_t size; const char *what; } out[] = {
		{ 4 * PAGE, PAGE, "offset = segment size" },
		{ 2 * PAGE, 3 * PAGE, "offset 2 pages, 3 pages (one beyond)" },
		{ 0, 5 * PAGE, "size one page beyond" },
		{ 3 * PAGE + 8, PAGE, "unaligned offset, reaching beyond" },
		{ -(off_t)PAGE, PAGE, "negative offset" },
		{ 0, 0, "size 0" },
		{ 1UL << 40, PAGE, "offset 1 TiB" },
	};
	volatile uint64_t *p;
	uint64_t v;
	int r, sig, st;
	pid_t pid;

	if (apid == -1)
		die("xpmem_get");
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
		r = attach_errno(apid, out[i].off, out[i].size);
		if (r == EINVAL)
			PASS("bounds: attach %s: EINVAL", out[i].what);
		else
			FAIL("bounds: attach %s: %s", out[i].what, r ? strerror(r) : "succeeded");
	}
	/* offsets map exactly the segment's pages: segment page k = A's page k+1 */
	p = xpmem_attach((struct xpmem_addr){ .apid = apid, .offset = 3 * PAGE }, PAGE, NULL);
	if (p == (void *)-1)
		die("xpmem_attach(offset 3 pages)");
	page_is("bounds: attach at offset 3 pages: A's page 4", p, GEN(C_BOUNDS, 1), 4, 0, 0);
	xpmem_detach((void *)p);
	p = xpmem_attach((struct xpmem_addr){ .apid = apid, .offset = PAGE + 16 }, 8, NULL);
	if (p == (void *)-1)
		die("xpmem_attach(unaligned offset)");
	if ((sig = probe_read(p, &v)) || v != pat(GEN(C_BOUNDS, 1), 2, 2))
		FAIL("bounds: attach at offset PAGE+16: %s", sig ? strsignal(sig) : describe(v));
	else
		PASS("bounds: attach at offset PAGE+16: A's page 2 word 2");
	xpmem_detach((void *)((uintptr_t)p & ~(PAGE - 1)));
	p = xpmem_attach((struct xpmem_addr){ .apid = apid, .offset = 0 }, 4 * PAGE, NULL);
	if (p == (void *)-1)
		die("xpmem_attach");
	r = 0;
	for (int i = 0; i < 4; i++)
		r += page_is("bounds: whole segment", PG(p, i), GEN(C_BOUNDS, 1), i + 1, 0, 1);
	if (!r)
		PASS("bounds: whole segment = A's pages 1..4, none of A's neighbouring pages");
	xpmem_detach((void *)p);
	xpmem_release(apid);

	/* a RDONLY apid: reads, writes fault, mprotect cannot make it writable */
	ro = xpmem_get(segid, XPMEM_RDONLY, XPMEM_PERMIT_MODE, NULL);
	if (ro == -1)
		die("xpmem_get(RDONLY)");
	p = xpmem_attach((struct xpmem_addr){ .apid = ro, .offset = 0 }, 4 * PAGE, NULL);
	if (p == (void *)-1)
		die("xpmem_attach(RDONLY apid)");
	page_is("bounds: RDONLY apid read", PG(p, 1), GEN(C_BOUNDS, 1), 2, 0, 0);
	/* the module issue: a RDONLY attachment faults with SIGSEGV on write */
	sig = probe_write(PG(p, 1) + 3, 0xbadbad);
	if (sig == SIGSEGV)
		PASS("bounds: write through a RDONLY apid: SIGSEGV");
	else
		FAIL("bounds: write through a RDONLY apid: %s, expected SIGSEGV",
		     sig ? strsignal(sig) : "went through");
	sig = probe_write(PG(p, 2), 0xbadbad);	/* a page not faulted in yet */
	if (sig == SIGSEGV)
		PASS("bounds: first touch by write through a RDONLY apid: SIGSEGV");
	else
		FAIL("bounds: first touch by write through a RDONLY apid: %s, expected SIGSEGV",
		     sig ? strsignal(sig) : "went through");
	if (mprotect((void *)p, 4 * PAGE, PROT_READ | PROT_WRITE) == 0) {
		sig = probe_write(PG(p, 3), 0xbadbad);
		if (sig)
			PASS("bounds: mprotect(PROT_WRITE) of a RDONLY attachment allowed, but "
			     "writes still fault");
		else
			FAIL("bounds: mprotect(PROT_WRITE) made a RDONLY attachment writable");
	} else {
		PASS("bounds: mprotect(PROT_WRITE) of a RDONLY attachment refused (%s)",
		     strerror(errno));
	}
	xpmem_detach((void *)p);
	xpmem_release(ro);

	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		_exit(nobody_child(segid));
	if (waitpid(pid, &st, 0) != pid)
		die("waitpid");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		PASS("bounds: uid 65534 on a 0644 segment: RDWR get EACCES, RDONLY reads, its "
		     "writes fault");
	else
		FAIL("bounds: uid 65534 on a 0644 segment: child status %#x (10 setuid, 11 RDWR "
		     "get not EACCES, 12 RDONLY get, 13 attach, 14 read, 15 write not SIGSEGV, "
		     "16 mprotect made it writable)", st);
	ack("bounds-done");
	await("bounds-end");
}

/* ================= 2. concurrency ================= */

/*
 * Segment: page 0 = control (word 0 seqlock: 2g = generation g complete,
 * 2g+1 = replacing g by g+1; word 1 = stop), page 1 = data, pat(g, 1, i).
 */
static void a_conc(void)
{
	uint64_t *buf = map_anon(2 * PAGE);
	volatile uint64_t *ctl = buf;
	char *data = (char *)buf + PAGE;
	struct timespec t0, t;
	uint64_t g = 1, kinds[3] = { 0 }, holes = 0;
	xpmem_segid_t s;
	unsigned int seed = 12345;

	fill(data, GEN(C_CONC, 0) + g, 1);
	ctl[0] = 2 * g;
	ctl[1] = 0;
	s = a_export("conc-seg", buf, 2 * PAGE, 0600);
	await_all("conc-ready");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int kind = g % 3;

		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= conc_seconds)
			break;
		__atomic_store_n(&ctl[0], 2 * g + 1, __ATOMIC_SEQ_CST);
		switch (kind) {
		case 0:	/* unmap, map a new page, fill */
			if (munmap(data, PAGE))
				die("munmap");
			if (rand_r(&seed) % 4 == 0) {	/* leave the hole open a while */
				usleep(2000);
				holes++;
			}
			if (mmap(data, PAGE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
				die("mmap(MAP_FIXED)");
			break;
		case 1:	/* rewrite in place */
			break;
		case 2:	/* drop, then fill */
			if (madvise(data, PAGE, MADV_DONTNEED))
				die("madvise");
			break;
		}
		fill(data, GEN(C_CONC, 0) + g + 1, 1);
		__atomic_store_n(&ctl[0], 2 * (g + 1), __ATOMIC_SEQ_CST);
		kinds[kind]++;
		g++;
		usleep(rand_r(&seed) % 3000);
	}
	ctl[1] = 1;
	SAY("concurrent: %llu generations in %d s (%llu munmap+mmap, %llu of them with a 2 ms "
	    "hole; %llu rewrites in place; %llu MADV_DONTNEED)", (unsigned long long)g - 1,
	    conc_seconds, (unsigned long long)kinds[0], (unsigned long long)holes,
	    (unsigned long long)kinds[1], (unsigned long long)kinds[2]);
	rv_put("conc-gens", "%llx\n", (unsigned long long)(g));
	await_all("conc-done");
	xpmem_remove(s);
	munmap(buf, 2 * PAGE);
}

struct reader {
	pthread_t th;
	volatile uint64_t *att;
	unsigned long reads, strong, weak, faults, spurious, stale, torn, foreign, ctl_faults;
	uint64_t maxgen, first_bad_word;
	int timed_out;
	char first_bad[200];
};

static void *reader(void *arg)
{
	struct reader *r = arg;
	volatile uint64_t *ctl = r->att, *data = PG(r->att, 1);
	uint64_t w[WORDS], s0, s1, stop;
	time_t end = time(NULL) + conc_seconds + 90;

	for (;;) {
		int sig;

		if (probe_read(ctl, &s0) || probe_read(ctl + 1, &stop)) {
			r->ctl_faults++;
			continue;
		}
		if (stop)
			break;
		if (time(NULL) > end) {
			r->timed_out = 1;
			break;
		}
		sig = probe_copy(w, data, WORDS);
		if (probe_read(ctl, &s1)) {
			r->ctl_faults++;
			continue;
		}
		r->reads++;
		if (sig) {
			r->faults++;
			/* nothing changed in A during the access: A had the page */
			if (s0 == s1 && !(s0 & 1))
				r->spurious++;
			continue;
		}
		uint64_t ming = GEN(C_CONC, 0) + (s0 >> 1), maxg = GEN(C_CONC, 0) + (s1 >> 1) + 1;
		int strong = s0 == s1 && !(s0 & 1), bad = 0;

		if (strong)
			r->strong++;
		else
			r->weak++;
		for (unsigned int i = 0; i < WORDS && !bad; i++) {
			uint64_t v = w[i];
			const char *kind = NULL;

			if (strong) {
				if (v == pat(ming, 1, i))
					continue;
				if (is_pat(v) && pat_gen(v) < ming)
					r->stale++, kind = "STALE";
				else
					r->torn++, kind = "torn/wrong";
			} else {
				if (!v)
					continue;	/* a fresh page A is filling */
				if (v == pat(pat_gen(v), 1, i) && pat_gen(v) >= ming &&
				    pat_gen(v) <= maxg)
					continue;
				if (is_pat(v) && pat_gen(v) < ming)
					r->stale++, kind = "STALE";
				else if (is_pat(v))
					r->torn++, kind = "wrong";
				else
					r->foreign++, kind = "FOREIGN";
			}
			bad = 1;
			if (!r->first_bad[0])
				snprintf(r->first_bad, sizeof(r->first_bad),
					 "%s read (seq %#llx..%#llx): word %u is %s", kind,
					 (unsigned long long)s0, (unsigned long long)s1, i,
					 describe(v));
		}
		if (pat_gen(w[0]) > r->maxgen && is_pat(w[0]))
			r->maxgen = pat_gen(w[0]);
	}
	return NULL;
}

static void b_conc(void)
{
	struct att a = b_attach("conc-seg", XPMEM_RDWR, 2 * PAGE);
	struct reader r[2];
	unsigned long reads = 0, strong = 0, weak = 0, flt = 0, spur = 0, stale = 0, torn = 0,
		      foreign = 0, cf = 0;
	uint64_t gens;
	int to = 0;

	memset(r, 0, sizeof(r));
	page_is("concurrent: initial data", PG(a.p, 1), GEN(C_CONC, 1), 1, 0, 0);
	for (int i = 0; i < 2; i++) {
		r[i].att = a.p;
		if (pthread_create(&r[i].th, NULL, reader, &r[i]))
			die("pthread_create");
	}
	ack("conc-ready");
	for (int i = 0; i < 2; i++) {
		pthread_join(r[i].th, NULL);
		reads += r[i].reads; strong += r[i].strong; weak += r[i].weak;
		flt += r[i].faults; spur += r[i].spurious; stale += r[i].stale;
		torn += r[i].torn; foreign += r[i].foreign; cf += r[i].ctl_faults;
		to |= r[i].timed_out;
		if (r[i].first_bad[0])
			SAY("concurrent: reader %d: first bad %s", i, r[i].first_bad);
	}
	gens = await_name("conc-gens");
	SAY("concurrent: %lu reads (%lu with no generation change during the read, %lu "
	    "overlapping one), %lu faulted (%lu with A's page present throughout), %lu stale, "
	    "%lu torn/wrong, %lu foreign, %lu control-page faults; newest gen seen %#llx of %#llx",
	    reads, strong, weak, flt, spur, stale, torn, foreign, cf,
	    (unsigned long long)(r[0].maxgen > r[1].maxgen ? r[0].maxgen : r[1].maxgen) & 0xffff,
	    (unsigned long long)gens);
	if (to)
		FAIL("concurrent: readers never saw A's stop word (control page not coherent?)");
	if (stale)
		FAIL("concurrent: %lu STALE reads (a generation older than the one A had "
		     "completed when the read started)", stale);
	else
		PASS("concurrent: 0 stale reads in %lu", reads);
	if (torn + foreign)
		FAIL("concurrent: %lu wrong/torn reads, %lu with foreign data", torn, foreign);
	else
		PASS("concurrent: every read whole-page consistent (or a page A was filling)");
	if (spur)
		FAIL("concurrent: %lu reads faulted although A's page was present throughout",
		     spur);
	if (cf)
		FAIL("concurrent: %lu faults on the control page A never unmaps", cf);
	if (strong < 10 || gens < 20)
		FAIL("concurrent: too little coverage (%lu consistent reads, %llu generations)",
		     strong, (unsigned long long)gens);
	else
		PASS("concurrent: %lu consistent reads across %llu generations", strong,
		     (unsigned long long)gens);
	b_detach(&a);
	ack("conc-done");
}

/*
 * --selftest: the readers' checker against a local writer (no VMs, no
 * xpmem): with the seqlock honoured it must count 0 stale; with the writer
 * publishing a generation before writing it (a stale page, as a missed
 * invalidation would leave) it must count stale reads.
 */
static uint64_t st_buf[2 * WORDS] __attribute__((aligned(4096)));
static int st_inject;

static void *st_writer(void *arg)
{
	volatile uint64_t *ctl = st_buf;
	uint64_t *data = st_buf + WORDS;
	time_t end = time(NULL) + 2;

	(void)arg;
	for (uint64_t g = 1; time(NULL) < end; g++) {
		if (st_inject && g % 16 == 0) {	/* the bug: data not replaced */
			__atomic_store_n(&ctl[0], 2 * (g + 1), __ATOMIC_SEQ_CST);
			usleep(200);
			__atomic_store_n(&ctl[0], 2 * g + 1, __ATOMIC_SEQ_CST);
		} else {
			__atomic_store_n(&ctl[0], 2 * g + 1, __ATOMIC_SEQ_CST);
		}
		fill(data, GEN(C_CONC, 0) + g + 1, 1);
		__atomic_store_n(&ctl[0], 2 * (g + 1), __ATOMIC_SEQ_CST);
		usleep(50);
	}
	ctl[1] = 1;
	return NULL;
}

static int selftest(void)
{
	int rc = 0;

	for (st_inject = 0; st_inject < 2; st_inject++) {
		struct reader r;
		pthread_t w;

		memset(&r, 0, sizeof(r));
		fill(st_buf + WORDS, GEN(C_CONC, 0) + 1, 1);
		st_buf[0] = 2;
		st_buf[1] = 0;
		r.att = st_buf;
		pthread_create(&w, NULL, st_writer, NULL);
		reader(&r);
		pthread_join(w, NULL);
		printf("selftest %s: %lu reads (%lu consistent), %lu stale, %lu torn, %s\n",
		       st_inject ? "with a stale generation injected" : "honest writer", r.reads,
		       r.strong, r.stale, r.torn, r.first_bad[0] ? r.first_bad : "-");
		if (st_inject ? r.stale == 0 : r.stale + r.torn + r.foreign != 0)
			rc = 1;
	}
	printf("selftest: %s\n", rc ? "FAIL" : "PASS");
	return rc;
}

/* ================= main ================= */

static void owner(void)
{
	SAY("remove"); a_remove();
	SAY("protnone"); a_protnone();
	SAY("protro"); a_protro();
	SAY("forkcow"); a_forkcow();
	SAY("mremap"); a_mremap();
	SAY("memfd"); a_memfd();
	SAY("bounds"); a_bounds();
	SAY("concurrent"); a_conc();
	SAY("thp"); a_thp();
	SAY("swap"); a_swap();
	SAY("migrate"); a_migrate();
}

static void attacher(void)
{
	b_remove();
	b_protnone();
	b_protro();
	b_forkcow();
	b_mremap();
	b_memfd();
	b_bounds();
	b_conc();
	b_thp();
	b_swap();
	b_migrate();
}

int main(int argc, char **argv)
{
	const char *id = getenv("XPMEM_NODE_ID"), *n = getenv("XPMEM_NODES");

	if (argc > 1 && !strcmp(argv[1], "--selftest")) {
		snprintf(tag, sizeof(tag), "selftest");
		if (probe_setup())
			die("sigaction");
		return selftest();
	}
	if (rv_init() || !n) {
		fprintf(stderr, "xcoherence: run under tests/vm/run-cluster\n");
		return 2;
	}
	if (argc > 1)
		conc_seconds = atoi(argv[1]);
	me = atoi(id);
	nodes = atoi(n);
	snprintf(tag, sizeof(tag), "node%d", me);
	rv_wait_seconds = WAIT_SECONDS;
	rv_on_fail = counts_on_fail;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (probe_setup())
		die("sigaction");
	if (me == 0)
		owner();
	else
		attacher();
	printf("%s: %d passed, %d failed\n", tag, passes, fails);
	return fails ? 1 : 0;
}
