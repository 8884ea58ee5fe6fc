// SPDX-License-Identifier: GPL-2.0
/*
 * Big remote fault windows and remote PMDs (issue 13, issue 14), run on
 * every partition by tests/vm/run-cluster with xpmemd up. Node 0 (A) owns
 * the memory, node 1 (B) attaches it; further nodes idle.
 *
 *   seq    A exports 64 MiB of 4 KiB pages (MADV_NOHUGEPAGE): 56 MiB
 *          written word by word, the last 8 MiB never touched. B reads every
 *          word of it in order through one attachment: each must be A's
 *          (zero in the untouched part), and the remote round trips (B's
 *          debugfs xpmem/remote "faults") at most 3 x 64 MiB / 2 MiB.
 *   thp    A exports 16 MiB of THPs (MADV_HUGEPAGE, 2 MiB aligned); B reads
 *          every word; where B's module maps PMDs (map_pmd=Y) and A got
 *          THPs, every THP must be one remote PMD (pmds_mapped), else none.
 *          Then, B still mapped, A invalidates: MADV_DONTNEED of one page
 *          of THP 1 and of the whole THP 2, munmap + fresh mmap of THP 3
 *          with new words, a split (mprotect of one page) of THP 4 and
 *          MADV_DONTNEED of its second half. B must read the fresh data
 *          (zeros, new words) word by word: a PMD left mapped would show
 *          the old words, which the freed or still-allocated frames hold.
 *   race   A rewrites a 2 MiB range (stamps: generation, page, word) and
 *          MADV_DONTNEEDs parts of it in a loop, a scribbler fills freed
 *          memory with foreign words; B attaches it afresh each round and
 *          4 threads read the same 2 MiB at once. Every word must be 0 or a
 *          stamp of its own page and word, of at least the generation A
 *          published when the round started, minus one (A rewrites every
 *          word each generation); finally A writes one
 *          generation and B's last, raced attachment must read exactly it.
 *   edge   PMD faults whose one 2 MiB ask cannot give the touched page
 *          (review B1). A exports 4 MiB (4 KiB pages, zero words and
 *          never-touched pages among its words): block 0 is two source vmas,
 *          the first 1 MiB PROT_READ, the second read-write, so A's answer
 *          for the block's start stops at 1 MiB; block 1's first page is
 *          PROT_NONE, so A fails the block's start. B attaches read-only and
 *          first loads block 0 + 1.5 MiB (no RETRY loop: the load must
 *          complete within 20 s), then every word of block 0; then block 1
 *          + 1 MiB (no SIGBUS for the valid page) and every word of block 1
 *          past its first page; a load of that PROT_NONE page must SIGBUS.
 *
 *   rand   Random first touches ask each fault_window_pages block once.
 *          A exports 8 MiB (4 KiB pages, zero words and never-touched pages
 *          among its words; page 528, a block's first page, PROT_NONE). B
 *          first loads page 530 (its block starts at the PROT_NONE page: the
 *          ask from there fails, the retried one from page 530 must not:
 *          no SIGBUS for a valid page), then page 528 (SIGBUS), then one
 *          word of every other page in a random order, then every word;
 *          the round trips must stay within 1.5 x pages / window + 8 (a
 *          window that only runs forward from each touched page asks again
 *          for pages it mapped: about pages / 7).
 *
 * usage: xwindow [seq|thp|race|edge|rand ...]  (default: all). Ends with
 *        "nodeN: N passed, N failed".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xpmem.h>

#include "clusterlib.h"
#include "probe.h"

#define PAGE 4096UL
#define HUGE (2UL << 20)
#define SEQ_LEN (64UL << 20)
#define SEQ_WRITTEN (56UL << 20)
#define THP_LEN (16UL << 20)
#define RACE_THREADS 4
#define RACE_SECONDS 15
#define EDGE_LEN (2 * HUGE)
#define EDGE_DEADLINE_MS 20000	/* one load; a fault that loops is a hang */

static uint64_t seq_word(size_t i)
{
	return 0x5100000000000000ULL | i;
}

static uint64_t thp_word(size_t i, unsigned int gen)
{
	return 0x7400000000000000ULL | ((uint64_t)gen << 40) | i;
}

/* race: generation, page, word */
static uint64_t stamp(uint64_t gen, size_t pg, size_t w)
{
	return 0xA500000000000000ULL | (gen << 24) | (pg << 12) | w;
}

static void on_sigbus(int sig)
{
	(void)sig;
	static const char msg[] = "FAIL xwindow: SIGBUS (a remote fault failed)\n";

	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

static void *map_aligned(size_t len, int advice)
{
	char *p = mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		die("mmap");
	a = (char *)(((uintptr_t)p + HUGE - 1) & ~(HUGE - 1));
	if (madvise(a, len, advice))
		die("madvise");
	return a;
}

static void thp_madvise(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "w");

	if (!f || fputs("madvise\n", f) < 0 || fclose(f))
		SAY("cannot set THP to madvise: %s", strerror(errno));
}

static int map_pmd(void)
{
	FILE *f = fopen("/sys/module/xpmem/parameters/map_pmd", "r");
	int c = f ? fgetc(f) : 'N';

	if (f)
		fclose(f);
	return c == 'Y';
}

/* THP kB of this process (smaps_rollup AnonHugePages) */
static long anon_huge_kb(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	long kb = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

struct rstat {
	long faults, mapped, zapped, pmds, fallbacks;
};

/* B's debugfs xpmem/remote line of @segid */
static int remote_stat(xpmem_segid_t segid, struct rstat *s)
{
	FILE *f = fopen("/sys/kernel/debug/xpmem/remote", "r");
	char line[256];
	unsigned long long id;
	int found = 0;

	if (!f && system("mount -t debugfs none /sys/kernel/debug 2>/dev/null") >= 0)
		f = fopen("/sys/kernel/debug/xpmem/remote", "r");
	if (!f)
		die("debugfs xpmem/remote");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx %*u %*x %ld %ld %ld %ld %ld", &id, &s->faults,
			   &s->mapped, &s->zapped, &s->pmds, &s->fallbacks) == 6 &&
		    id == (unsigned long long)segid) {
			found = 1;
			break;
		}
	fclose(f);
	return found;
}

static xpmem_segid_t await_segid(const char *name, long *aux)
{
	char *t = await(name);
	unsigned long long s = 0;
	long a = 0;

	if (sscanf(t, "%llx %ld", &s, &a) < 1)
		die("rendezvous");
	free(t);
	if (aux)
		*aux = a;
	return (xpmem_segid_t)s;
}

static char *attach(xpmem_segid_t segid, size_t len, xpmem_apid_t *apid)
{
	struct xpmem_addr addr;
	void *p;

	if (*apid <= 0) {
		*apid = xpmem_get(segid, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
		if (*apid < 0)
			die("xpmem_get");
	}
	addr.apid = *apid;
	addr.offset = 0;
	p = xpmem_attach(addr, len, NULL);
	if (p == (void *)-1)
		die("xpmem_attach");
	return p;
}

/* ---- seq ---- */

static void seq_owner(void)
{
	uint64_t *p = map_aligned(SEQ_LEN, MADV_NOHUGEPAGE);
	xpmem_segid_t s;
	char text[64];
	size_t bad = 0;

	for (size_t i = 0; i < SEQ_WRITTEN / 8; i++)
		p[i] = seq_word(i);
	s = xpmem_make(p, SEQ_LEN, XPMEM_PERMIT_MODE, (void *)0600);
	if (s < 0)
		die("xpmem_make");
	snprintf(text, sizeof(text), "%llx\n", (unsigned long long)s);
	publish("w-seq-seg", text);
	free(await("w-seq-done"));
	for (size_t i = 0; i < SEQ_LEN / 8; i++)
		bad += p[i] != (i < SEQ_WRITTEN / 8 ? seq_word(i) : 0);
	if (!bad)
		PASS("seq: A's 64 MiB unchanged word by word");
	else
		FAIL("seq: %zu word(s) of A's memory changed", bad);
	xpmem_remove(s);
	munmap(p, SEQ_LEN);
}

static void seq_importer(void)
{
	xpmem_segid_t s = await_segid("w-seq-seg", NULL);
	xpmem_apid_t apid = 0;
	volatile uint64_t *a = (volatile uint64_t *)attach(s, SEQ_LEN, &apid);
	long limit = 3 * (SEQ_LEN / HUGE);
	struct rstat st = { 0 };
	size_t bad = 0, first = 0;
	double t = now();

	for (size_t i = 0; i < SEQ_LEN / 8; i++) {
		uint64_t want = i < SEQ_WRITTEN / 8 ? seq_word(i) : 0;

		if (a[i] != want && !bad++)
			first = i;
	}
	t = now() - t;
	if (!bad)
		PASS("seq: 64 MiB read word by word through the remote attachment (%.2f s)", t);
	else
		FAIL("seq: %zu bad word(s), first at word %zu: %#llx", bad, first,
		     (unsigned long long)a[first]);
	if (!remote_stat(s, &st))
		FAIL("seq: segment not in debugfs xpmem/remote");
	else if (st.faults <= limit && st.faults > 0)
		PASS("seq: %ld remote round trips for 64 MiB (at most %ld)", st.faults, limit);
	else
		FAIL("seq: %ld remote round trips for 64 MiB, want 1..%ld", st.faults, limit);
	xpmem_detach((void *)a);
	xpmem_release(apid);
	publish("w-seq-done", "1\n");
}

/* ---- thp: PMDs and their invalidation ---- */

#define THP_WORDS (THP_LEN / 8)
#define HW (HUGE / 8)		/* words per 2 MiB */
#define PW (PAGE / 8)		/* words per page */

/* what A's THP range holds after the invalidations (phase 1) */
static uint64_t thp_expect(size_t i, int phase)
{
	size_t h = i / HW, w = i % HW;

	if (!phase)
		return thp_word(i, 1);
	if (h == 1 && w / PW == 5)
		return 0;			/* one page dropped */
	if (h == 2)
		return 0;			/* whole THP dropped */
	if (h == 3)
		return thp_word(i, 2);		/* fresh mapping, new words */
	if (h == 4 && w >= HW / 2)
		return 0;			/* split, second half dropped */
	return thp_word(i, 1);
}

static void thp_owner(void)
{
	uint64_t *p = map_aligned(THP_LEN, MADV_HUGEPAGE);
	xpmem_segid_t s;
	char text[64];
	long kb;
	size_t bad = 0;

	for (size_t i = 0; i < THP_WORDS; i++)
		p[i] = thp_word(i, 1);
	kb = anon_huge_kb();
	s = xpmem_make(p, THP_LEN, XPMEM_PERMIT_MODE, (void *)0600);
	if (s < 0)
		die("xpmem_make");
	snprintf(text, sizeof(text), "%llx %ld\n", (unsigned long long)s, kb / 2048);
	SAY("thp: %ld kB of THPs in the exported 16 MiB", kb);
	publish("w-thp-seg", text);
	free(await("w-thp-mapped"));

	if (madvise((char *)p + HUGE + 5 * PAGE, PAGE, MADV_DONTNEED) ||
	    madvise((char *)p + 2 * HUGE, HUGE, MADV_DONTNEED))
		die("MADV_DONTNEED");
	if (munmap((char *)p + 3 * HUGE, HUGE) ||
	    mmap((char *)p + 3 * HUGE, HUGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		die("munmap + mmap");
	for (size_t i = 3 * HW; i < 4 * HW; i++)
		p[i] = thp_word(i, 2);
	if (mprotect((char *)p + 4 * HUGE, PAGE, PROT_READ) ||
	    mprotect((char *)p + 4 * HUGE, PAGE, PROT_READ | PROT_WRITE) ||
	    madvise((char *)p + 4 * HUGE + HUGE / 2, HUGE / 2, MADV_DONTNEED))
		die("split");
	publish("w-thp-inval", "1\n");
	free(await("w-thp-done"));
	for (size_t i = 0; i < THP_WORDS; i++)
		bad += p[i] != thp_expect(i, 1);
	if (!bad)
		PASS("thp: A's memory as A left it, word by word");
	else
		FAIL("thp: %zu word(s) of A's memory changed", bad);
	xpmem_remove(s);
}

static size_t thp_check(volatile uint64_t *a, int phase, size_t *first)
{
	size_t bad = 0;

	for (size_t i = 0; i < THP_WORDS; i++)
		if (a[i] != thp_expect(i, phase) && !bad++)
			*first = i;
	return bad;
}

static void thp_importer(void)
{
	long thps;
	xpmem_segid_t s = await_segid("w-thp-seg", &thps);
	xpmem_apid_t apid = 0;
	volatile uint64_t *a = (volatile uint64_t *)attach(s, THP_LEN, &apid);
	struct rstat st = { 0 }, st2 = { 0 };
	size_t bad, first = 0;
	int pmd = map_pmd();

	bad = thp_check(a, 0, &first);
	if (!bad)
		PASS("thp: 16 MiB of A's THPs read word by word");
	else
		FAIL("thp: %zu bad word(s), first at word %zu: %#llx", bad, first,
		     (unsigned long long)a[first]);
	if (!remote_stat(s, &st))
		FAIL("thp: segment not in debugfs xpmem/remote");
	SAY("thp: A has %ld THPs; remote round trips %ld, pmds_mapped %ld, pmd_fallbacks %ld, "
	    "map_pmd %c", thps, st.faults, st.pmds, st.fallbacks, pmd ? 'Y' : 'N');
	if (pmd && thps < 8)
		SAY("thp: A got %ld of 8 THPs: PMD count not checked", thps);
	else if (pmd ? st.pmds >= 8 : st.pmds == 0)
		PASS("thp: %ld remote PMDs mapped (map_pmd %c)", st.pmds, pmd ? 'Y' : 'N');
	else
		FAIL("thp: %ld remote PMDs mapped, want %s", st.pmds, pmd ? ">= 8" : "0");
	if (st.faults <= 3 * (long)(THP_LEN / HUGE))
		PASS("thp: %ld remote round trips for 16 MiB", st.faults);
	else
		FAIL("thp: %ld remote round trips for 16 MiB, want <= %lu", st.faults,
		     3 * (THP_LEN / HUGE));
	publish("w-thp-mapped", "1\n");
	free(await("w-thp-inval"));
	bad = thp_check(a, 1, &first);
	remote_stat(s, &st2);
	if (!bad)
		PASS("thp: after A's DONTNEED/munmap/split every word is fresh (%ld pages zapped)",
		     st2.zapped - st.zapped);
	else
		FAIL("thp: %zu stale word(s) after A's invalidations, first at word %zu: %#llx, "
		     "want %#llx", bad, first, (unsigned long long)a[first],
		     (unsigned long long)thp_expect(first, 1));
	xpmem_detach((void *)a);
	xpmem_release(apid);
	publish("w-thp-done", "1\n");
}

/* ---- race ---- */

#define RACE_PAGES (HUGE / PAGE)

static volatile uint64_t *race_a;
static volatile uint64_t race_gen_lo;	/* the oldest generation a word may have */
static pthread_barrier_t race_bar;
static long race_bad[RACE_THREADS];

static void *race_reader(void *arg)
{
	long t = (long)arg;
	uint64_t lo = race_gen_lo;

	pthread_barrier_wait(&race_bar);
	for (size_t k = 0; k < HUGE / 8; k++) {
		/* each thread starts elsewhere in the same 2 MiB */
		size_t i = (k + t * (HUGE / 8 / RACE_THREADS) + t * 7 * PW) % (HUGE / 8);
		uint64_t v = race_a[i];
		uint64_t gen = (v >> 24) & 0xffffffff;

		if (v && (v - gen * (1ULL << 24) != stamp(0, i / PW, i % PW) || gen + 1 < lo) &&
		    !race_bad[t]++)
			printf("FAIL node1: race: thread %ld word %zu = %#llx (oldest gen %llu)\n",
			       t, i, (unsigned long long)v, (unsigned long long)lo);
	}
	return NULL;
}

static void race_owner(void)
{
	double t0;
	uint64_t *p = map_aligned(HUGE, MADV_HUGEPAGE);
	volatile uint64_t *g = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	xpmem_segid_t s, sg;
	char text[96];
	uint64_t gen = 1;
	unsigned int seed = 1, rounds = 0;
	size_t bad = 0;
	pid_t scr;

	if (g == MAP_FAILED)
		die("mmap");
	for (size_t i = 0; i < HUGE / 8; i++)
		p[i] = stamp(gen, i / PW, i % PW);
	g[0] = gen;
	s = xpmem_make(p, HUGE, XPMEM_PERMIT_MODE, (void *)0600);
	sg = xpmem_make((void *)g, PAGE, XPMEM_PERMIT_MODE, (void *)0600);
	if (s < 0 || sg < 0)
		die("xpmem_make");
	/* the scribbler: freed frames come back with foreign words */
	scr = fork();
	if (scr == 0) {
		/* gently: a starved xpmemd misses heartbeats (TCG, 2 vCPUs) */
		if (nice(19) < 0)
			_exit(1);
		for (;;) {
			uint64_t *q = mmap(NULL, 2 * HUGE, PROT_READ | PROT_WRITE,
					   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (q == MAP_FAILED)
				_exit(1);
			for (size_t i = 0; i < 2 * HUGE / 8; i++)
				q[i] = 0xdeadbeef00000000ULL | i;
			munmap(q, 2 * HUGE);
			usleep(2000);
		}
	}
	snprintf(text, sizeof(text), "%llx %llx\n", (unsigned long long)s, (unsigned long long)sg);
	publish("w-race-seg", text);
	free(await("w-race-go"));
	t0 = now();
	while (!exists("w-race-stop")) {
		/* an importer that died never says stop: do not wait out the guest */
		if (now() - t0 > 300) {
			FAIL("race: no w-race-stop from the importer after 300 s");
			break;
		}
		size_t pg = rand_r(&seed) % RACE_PAGES, n = 1 + rand_r(&seed) % RACE_PAGES;

		if (pg + n > RACE_PAGES)
			n = RACE_PAGES - pg;
		g[0] = ++gen;		/* published before any word has it */
		if (madvise((char *)p + pg * PAGE, n * PAGE, MADV_DONTNEED))
			die("MADV_DONTNEED");
		/* every word: none is older than the previous generation */
		for (size_t i = 0; i < HUGE / 8; i++)
			p[i] = stamp(gen, i / PW, i % PW);
		rounds++;
		usleep(5000);
	}
	g[0] = ++gen;
	for (size_t i = 0; i < HUGE / 8; i++)
		p[i] = stamp(gen, i / PW, i % PW);
	snprintf(text, sizeof(text), "%llu\n", (unsigned long long)gen);
	publish("w-race-final", text);
	free(await("w-race-done"));
	kill(scr, SIGKILL);
	for (size_t i = 0; i < HUGE / 8; i++)
		bad += p[i] != stamp(gen, i / PW, i % PW);
	SAY("race: %u owner rounds, final generation %llu", rounds, (unsigned long long)gen);
	if (!bad)
		PASS("race: A's 2 MiB hold the final generation word by word");
	else
		FAIL("race: %zu word(s) of A's memory changed", bad);
	xpmem_remove(s);
	xpmem_remove(sg);
}

static void race_importer(void)
{
	char *t = await("w-race-seg");
	unsigned long long s, sg;
	xpmem_apid_t apid = 0, gapid = 0;
	volatile uint64_t *g;
	pthread_t th[RACE_THREADS];
	unsigned int rounds = 0;
	long bad = 0;
	size_t stale = 0, first = 0;
	uint64_t fin;

	if (sscanf(t, "%llx %llx", &s, &sg) != 2)
		die("rendezvous");
	free(t);
	g = (volatile uint64_t *)attach((xpmem_segid_t)sg, PAGE, &gapid);
	publish("w-race-go", "1\n");
	for (double end = now() + RACE_SECONDS; now() < end; rounds++) {
		if (race_a)
			xpmem_detach((void *)race_a);
		race_a = (volatile uint64_t *)attach((xpmem_segid_t)s, HUGE, &apid);
		race_gen_lo = g[0];
		if (pthread_barrier_init(&race_bar, NULL, RACE_THREADS))
			die("barrier");
		for (long i = 0; i < RACE_THREADS; i++)
			if (pthread_create(&th[i], NULL, race_reader, (void *)i))
				die("pthread_create");
		for (long i = 0; i < RACE_THREADS; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&race_bar);
	}
	publish("w-race-stop", "1\n");
	for (long i = 0; i < RACE_THREADS; i++)
		bad += race_bad[i];
	if (!bad)
		PASS("race: %u rounds of %d threads on a fresh remote 2 MiB: no foreign or stale "
		     "word", rounds, RACE_THREADS);
	else
		FAIL("race: %ld foreign or stale word(s) in %u rounds", bad, rounds);
	t = await("w-race-final");
	fin = strtoull(t, NULL, 10);
	free(t);
	for (size_t i = 0; i < HUGE / 8; i++)
		if (race_a[i] != stamp(fin, i / PW, i % PW) && !stale++)
			first = i;
	if (!stale)
		PASS("race: the last raced attachment reads A's final generation word by word");
	else
		FAIL("race: %zu stale word(s) after the race, first %zu: %#llx, want %#llx", stale,
		     first, (unsigned long long)race_a[first],
		     (unsigned long long)stamp(fin, first / PW, first % PW));
	xpmem_detach((void *)race_a);
	xpmem_detach((void *)g);
	xpmem_release(apid);
	xpmem_release(gapid);
	publish("w-race-done", "1\n");
}

/* ---- edge: PMD asks that stop short of, or fail before, the touched page ---- */

/* A's words: zero words in every page, one never-touched page in 64 */
static uint64_t edge_word(size_t i)
{
	if (i % PW % 5 == 3 || i / PW % 64 == 7)
		return 0;
	return 0xED00000000000000ULL | i;
}

#define EDGE_WORDS (EDGE_LEN / 8)
#define EDGE_NONE (HW)		/* word index of block 1's PROT_NONE page */

static void edge_owner(void)
{
	uint64_t *p = map_aligned(EDGE_LEN, MADV_NOHUGEPAGE);
	xpmem_segid_t s;
	char text[64];
	size_t bad = 0;

	for (size_t i = 0; i < EDGE_WORDS; i++)
		if (edge_word(i))
			p[i] = edge_word(i);
	/* block 0: two vmas that cannot merge; block 1: first page PROT_NONE */
	if (mprotect(p, HUGE / 2, PROT_READ) ||
	    mprotect((char *)p + HUGE, PAGE, PROT_NONE))
		die("mprotect");
	s = xpmem_make(p, EDGE_LEN, XPMEM_PERMIT_MODE, (void *)0600);
	if (s < 0)
		die("xpmem_make");
	snprintf(text, sizeof(text), "%llx\n", (unsigned long long)s);
	publish("w-edge-seg", text);
	free(await("w-edge-done"));
	for (size_t i = 0; i < EDGE_WORDS; i++)
		if (i / PW != EDGE_NONE / PW)
			bad += p[i] != edge_word(i);
	if (!bad)
		PASS("edge: A's 4 MiB unchanged word by word");
	else
		FAIL("edge: %zu word(s) of A's memory changed", bad);
	xpmem_remove(s);
	munmap(p, EDGE_LEN);
}

struct edge_scan {
	volatile uint64_t *a;
	size_t from, to;	/* words */
	size_t bad, first;
	uint64_t got;
};

static void edge_scan_fn(void *arg)
{
	struct edge_scan *e = arg;

	for (size_t i = e->from; i < e->to; i++) {
		uint64_t v = e->a[i];

		if (v != edge_word(i) && !e->bad++) {
			e->first = i;
			e->got = v;
		}
	}
}

static void edge_load_fn(void *arg)
{
	struct edge_scan *e = arg;

	e->got = *e->a;
}

/*
 * Reads words [from, to) of @a against A's within the deadline: 0, or
 * PROBE_HUNG / the signal, said as FAIL with @what.
 */
static int edge_scan(volatile uint64_t *a, size_t from, size_t to, unsigned int ms,
		     const char *what)
{
	struct edge_scan e = { .a = a, .from = from, .to = to };
	double t = now();
	int r = probe_call(edge_scan_fn, &e, ms);

	t = now() - t;
	if (r == PROBE_HUNG)
		FAIL("edge: %s: still faulting after %.1f s: hang (a remote PMD fault retrying "
		     "forever?)", what, t);
	else if (r == SIGBUS)
		FAIL("edge: %s: SIGBUS (a valid page of A's failed)", what);
	else if (r)
		FAIL("edge: %s: signal %d", what, r);
	else if (e.bad)
		FAIL("edge: %s: %zu bad word(s), first at word %zu: %#llx, want %#llx", what,
		     e.bad, e.first, (unsigned long long)e.got,
		     (unsigned long long)edge_word(e.first));
	else
		PASS("edge: %s: %zu word(s) A's (%.2f s)", what, to - from, t);
	return r ? r : e.bad ? -1 : 0;
}

static void edge_importer(void)
{
	xpmem_segid_t s = await_segid("w-edge-seg", NULL);
	xpmem_apid_t apid = xpmem_get(s, XPMEM_RDONLY, XPMEM_PERMIT_MODE, NULL);
	volatile uint64_t *a;
	struct rstat st = { 0 };
	struct edge_scan e = { 0 };
	int r;

	if (apid < 0)
		die("xpmem_get");
	a = (volatile uint64_t *)attach(s, EDGE_LEN, &apid);
	if ((uintptr_t)a & (HUGE - 1))
		SAY("edge: attachment at %p is not 2 MiB aligned: no PMD fault", (void *)a);
	if (probe_setup())
		die("probe_setup");
	/* block 0: the touched page is in A's second vma, past the first's answer */
	if (!edge_scan(a, HW * 3 / 4, HW * 3 / 4 + 1, EDGE_DEADLINE_MS,
		       "first load at block 0 + 1.5 MiB (A's second vma)"))
		edge_scan(a, 0, HW, 3 * EDGE_DEADLINE_MS, "block 0 (two source vmas)");
	/* block 1: A fails the PMD's first page, not the touched one */
	if (!edge_scan(a, HW + HW / 2, HW + HW / 2 + 1, EDGE_DEADLINE_MS,
		       "first load at block 1 + 1 MiB (block 1's first page PROT_NONE at A)"))
		edge_scan(a, HW + PW, 2 * HW, 3 * EDGE_DEADLINE_MS,
			  "block 1 past its PROT_NONE first page");
	e.a = a + EDGE_NONE;
	r = probe_call(edge_load_fn, &e, EDGE_DEADLINE_MS);
	if (r == SIGBUS)
		PASS("edge: a load of A's PROT_NONE page raises SIGBUS");
	else if (r == PROBE_HUNG)
		FAIL("edge: a load of A's PROT_NONE page: still faulting after %d s: hang",
		     EDGE_DEADLINE_MS / 1000);
	else if (r)
		FAIL("edge: a load of A's PROT_NONE page: signal %d, want SIGBUS", r);
	else
		FAIL("edge: a load of A's PROT_NONE page read %#llx, want SIGBUS",
		     (unsigned long long)e.got);
	signal(SIGBUS, on_sigbus);
	if (remote_stat(s, &st))
		SAY("edge: remote round trips %ld, pmds_mapped %ld, pmd_fallbacks %ld, map_pmd %c",
		    st.faults, st.pmds, st.fallbacks, map_pmd() ? 'Y' : 'N');
	xpmem_detach((void *)a);
	xpmem_release(apid);
	publish("w-edge-done", "1\n");
}

/* ---- rand: random first touches, one ask per window block ---- */

#define RAND_LEN (8UL << 20)
#define RAND_PAGES (RAND_LEN / PAGE)
#define RAND_NONE 528		/* a 16-page block's first page: PROT_NONE */

static void rand_owner(void)
{
	uint64_t *p = map_aligned(RAND_LEN, MADV_NOHUGEPAGE);
	xpmem_segid_t s;
	char text[64];
	size_t bad = 0;

	for (size_t i = 0; i < RAND_LEN / 8; i++)
		if (edge_word(i))
			p[i] = edge_word(i);
	if (mprotect((char *)p + RAND_NONE * PAGE, PAGE, PROT_NONE))
		die("mprotect");
	s = xpmem_make(p, RAND_LEN, XPMEM_PERMIT_MODE, (void *)0600);
	if (s < 0)
		die("xpmem_make");
	snprintf(text, sizeof(text), "%llx\n", (unsigned long long)s);
	publish("w-rand-seg", text);
	free(await("w-rand-done"));
	for (size_t i = 0; i < RAND_LEN / 8; i++)
		if (i / PW != RAND_NONE)
			bad += p[i] != edge_word(i);
	if (!bad)
		PASS("rand: A's 8 MiB unchanged word by word");
	else
		FAIL("rand: %zu word(s) of A's memory changed", bad);
	xpmem_remove(s);
	munmap(p, RAND_LEN);
}

struct rand_touch {
	volatile uint64_t *a;
	size_t *order, n;
	uint64_t sum;
};

static void rand_touch_fn(void *arg)
{
	struct rand_touch *r = arg;

	for (size_t i = 0; i < r->n; i++)
		r->sum += r->a[r->order[i] * PW];
}

static long fault_window(void)
{
	FILE *f = fopen("/sys/module/xpmem/parameters/fault_window_pages", "r");
	long w = 16;

	if (!f || fscanf(f, "%ld", &w) != 1 || w < 1)
		SAY("rand: fault_window_pages unreadable, taken as 16");
	if (f)
		fclose(f);
	return w;
}

static void rand_importer(void)
{
	xpmem_segid_t s = await_segid("w-rand-seg", NULL);
	xpmem_apid_t apid = xpmem_get(s, XPMEM_RDONLY, XPMEM_PERMIT_MODE, NULL);
	size_t order[RAND_PAGES], n = 0;
	struct rand_touch t = { 0 };
	struct edge_scan e = { 0 };
	struct rstat st = { 0 };
	long w = fault_window(), limit;
	volatile uint64_t *a;
	int r;

	if (apid < 0)
		die("xpmem_get");
	a = (volatile uint64_t *)attach(s, RAND_LEN, &apid);
	if (probe_setup())
		die("probe_setup");
	/* its block starts at A's PROT_NONE page */
	edge_scan(a, (RAND_NONE + 2) * PW, (RAND_NONE + 2) * PW + 1, EDGE_DEADLINE_MS,
		  "rand: first load at page 530 (its block's first page PROT_NONE at A)");
	e.a = a + RAND_NONE * PW;
	r = probe_call(edge_load_fn, &e, EDGE_DEADLINE_MS);
	if (r == SIGBUS)
		PASS("rand: a load of A's PROT_NONE page raises SIGBUS");
	else
		FAIL("rand: a load of A's PROT_NONE page: %s %d, want SIGBUS",
		     r == PROBE_HUNG ? "hung" : r ? "signal" : "read, status", r);
	for (size_t pg = 0; pg < RAND_PAGES; pg++)
		if (pg != RAND_NONE && pg != RAND_NONE + 2)
			order[n++] = pg;
	srand(4242);
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)rand() % (i + 1), x = order[i];

		order[i] = order[j];
		order[j] = x;
	}
	t.a = a;
	t.order = order;
	t.n = n;
	r = probe_call(rand_touch_fn, &t, 6 * EDGE_DEADLINE_MS);
	if (r)
		FAIL("rand: random first touches: %s %d", r == PROBE_HUNG ? "hung" : "signal", r);
	else
		PASS("rand: %zu pages first touched in a random order", n);
	edge_scan(a, 0, RAND_NONE * PW, 3 * EDGE_DEADLINE_MS, "rand: every word before 528");
	edge_scan(a, (RAND_NONE + 1) * PW, RAND_LEN / 8, 3 * EDGE_DEADLINE_MS,
		  "rand: every word after 528");
	signal(SIGBUS, on_sigbus);
	limit = 3 * (long)RAND_PAGES / (2 * w) + 8;
	if (!remote_stat(s, &st))
		FAIL("rand: segment not in debugfs xpmem/remote");
	else if (st.faults <= limit)
		PASS("rand: %ld remote round trips for %lu pages in a random order (window %ld, "
		     "at most %ld)", st.faults, RAND_PAGES, w, limit);
	else
		FAIL("rand: %ld remote round trips for %lu pages in a random order (window %ld), "
		     "want at most %ld", st.faults, RAND_PAGES, w, limit);
	xpmem_detach((void *)a);
	xpmem_release(apid);
	publish("w-rand-done", "1\n");
}

int main(int argc, char **argv)
{
	int all = argc < 2, want[5] = { all, all, all, all, all };
	static const char *const names[5] = { "seq", "thp", "race", "edge", "rand" };

	if (cl_init("xwindow"))
		return 2;
	for (int i = 1; i < argc; i++)
		for (int k = 0; k < 5; k++)
			if (!strcmp(argv[i], names[k]))
				want[k] = 1;
	if (me > 1)
		return 0;
	signal(SIGBUS, on_sigbus);
	thp_madvise();
	if (want[0])
		me ? seq_importer() : seq_owner();
	if (want[1])
		me ? thp_importer() : thp_owner();
	if (want[2])
		me ? race_importer() : race_owner();
	if (want[3])
		me ? edge_importer() : edge_owner();
	if (want[4])
		me ? rand_importer() : rand_owner();
	printf("%s: %d passed, %d failed\n", tag, passes, fails);
	return fails ? 1 : 0;
}
