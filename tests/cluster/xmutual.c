// SPDX-License-Identifier: GPL-2.0
/*
 * Mutual remote attachments with concurrent mmap/munmap on both partitions
 * (issue 9), run on two partitions by tests/vm/run-cluster with xpmemd up.
 *
 * The process on each partition exports a region and attaches the other
 * partition's export. On each side, for SECONDS (default 20):
 *   3 fault threads  read random pages of the remote attachment (every word
 *                    must be the owner's pattern, or 0 while the owner
 *                    refills a dropped page) and count with a locked add in
 *                    their own counter page of the remote region
 *   1 churn thread   drops (MADV_DONTNEED) and refills random pages of the
 *                    local export, so the other side's mappings are
 *                    invalidated and it keeps faulting
 *   2 mmap threads   mmap / touch / mprotect / munmap on their own mm in a
 *                    loop (mmap_lock writers), timing every call
 * A remote fault that sleeps for the daemon round trip holding the
 * attacher's mmap_lock stalls these writers; with both sides doing it, a
 * queued writer on each side blocks the other side's RESOLVE: both sides
 * stall until the remote fault times out (SIGBUS). The test fails on any
 * SIGBUS, a wrong word, a counter mismatch (the owner compares the counts
 * the attacher reports with its memory), a thread without progress for 30 s
 * (watchdog: names the thread, prints the kernel stacks), or a writer that
 * waited 15 s or more (both limits times $XPMEM_VM_SLOWDOWN; remote_timeout_ms
 * is raised to 60 s meanwhile, so only a stall, not a slow host, SIGBUSes); it
 * prints the max and p99 mmap/mprotect/munmap
 * latencies next to the remote fault round trip.
 *
 * usage: xmutual [SECONDS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
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

#include "clusterlib.h"

#define PAGE 4096UL
#define WORDS (PAGE / sizeof(uint64_t))
#define NREAD 48		/* pages read (and churned) */
#define NFAULT 3		/* fault threads per side */
#define NMMAP 2			/* mmap threads per side */
#define NPAGES (NREAD + NFAULT)	/* + one counter page per fault thread */
#define MMAP_PAGES 16
#define STUCK_S 30
/*
 * A hang detector, not a latency target (the figures are printed): before
 * the fix both sides' writers stalled until the remote timeout.
 */
#define WRITER_LIMIT_MS 15000.0
/* Remote faults wait this long here, so a loaded host does not SIGBUS them. */
#define REMOTE_TIMEOUT_MS "60000"

static int peer, seconds = 20;
static int slowdown = 1;	/* $XPMEM_VM_SLOWDOWN (debug kernel): limits scale */
static volatile int stop;

static uint64_t pat(int node, unsigned int pg, unsigned int i)
{
	return 0x3c00000000000000ULL | (uint64_t)node << 48 | (uint64_t)pg << 16 | i;
}

/* ---- latency histogram: 1 us .. 100 s, 20 buckets per decade ---- */

#define HBUCKETS 160
struct hist {
	unsigned long n, b[HBUCKETS];
	double max, sum;
};

static void hist_add(struct hist *h, double s)
{
	int i = s <= 1e-6 ? 0 : (int)(log10(s * 1e6) * 20);

	if (i >= HBUCKETS)
		i = HBUCKETS - 1;
	h->b[i]++;
	h->n++;
	h->sum += s;
	if (s > h->max)
		h->max = s;
}

static void hist_merge(struct hist *d, const struct hist *s)
{
	for (int i = 0; i < HBUCKETS; i++)
		d->b[i] += s->b[i];
	d->n += s->n;
	d->sum += s->sum;
	if (s->max > d->max)
		d->max = s->max;
}

/* upper edge of the bucket holding quantile q, in ms */
static double hist_q(const struct hist *h, double q)
{
	unsigned long want = (unsigned long)ceil(q * h->n), acc = 0;

	for (int i = 0; i < HBUCKETS; i++) {
		acc += h->b[i];
		if (acc >= want && want)
			return pow(10, (i + 1) / 20.0) / 1e3;
	}
	return 0;
}

/* ---- threads ---- */

struct thr {
	pthread_t th;
	const char *kind;
	int idx;
	volatile double beat;		/* last progress */
	/* fault threads */
	unsigned long reads, bad, sigbus, incs;
	uint64_t bad_got;
	unsigned int bad_pg, bad_i;
	struct hist rd;			/* time of one page read (faults included) */
	/* mmap threads */
	struct hist h_mmap, h_mprot, h_munmap, h_touch;
	/* churn */
	struct hist h_drop;
	unsigned long drops;
};

static volatile uint64_t *remote;	/* the attachment of the peer's region */
static uint64_t *local;			/* our export */
static struct thr fthr[NFAULT], mthr[NMMAP], cthr;
static __thread sigjmp_buf *tjb;

static void on_sigbus(int sig)
{
	if (tjb)
		siglongjmp(*tjb, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void *fault_thread(void *arg)
{
	struct thr *t = arg;
	unsigned int seed = 1000 * me + t->idx;
	volatile uint64_t *cnt = remote + (NREAD + t->idx) * WORDS;
	sigjmp_buf jb;

	while (!stop) {
		unsigned int pg = rand_r(&seed) % NREAD;
		volatile uint64_t *p = remote + pg * WORDS;
		double t0 = now();
		unsigned int i = 0;

		tjb = &jb;
		if (sigsetjmp(jb, 1)) {
			tjb = NULL;
			t->sigbus++;
			t->beat = now();
			continue;
		}
		for (i = 0; i < WORDS; i++) {
			uint64_t w = p[i];

			if (w && w != pat(peer, pg, i) && !t->bad++) {
				t->bad_got = w;
				t->bad_pg = pg;
				t->bad_i = i;
			}
		}
		hist_add(&t->rd, now() - t0);
		t->reads++;
		__atomic_fetch_add(cnt, 1, __ATOMIC_SEQ_CST);	/* lock xadd */
		tjb = NULL;
		t->incs++;
		t->beat = now();
	}
	return NULL;
}

static void *mmap_thread(void *arg)
{
	struct thr *t = arg;

	while (!stop) {
		double t0 = now(), t1, t2, t3;
		char *q = mmap(NULL, MMAP_PAGES * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		t1 = now();
		if (q == MAP_FAILED)
			die("mmap");
		hist_add(&t->h_mmap, t1 - t0);
		for (unsigned int i = 0; i < MMAP_PAGES; i++)
			q[i * PAGE] = (char)i;
		t2 = now();
		hist_add(&t->h_touch, t2 - t1);
		if (mprotect(q, MMAP_PAGES * PAGE, PROT_READ))
			die("mprotect");
		t3 = now();
		hist_add(&t->h_mprot, t3 - t2);
		if (munmap(q, MMAP_PAGES * PAGE))
			die("munmap");
		hist_add(&t->h_munmap, now() - t3);
		t->beat = now();
	}
	return NULL;
}

static void fill(unsigned int pg)
{
	for (unsigned int i = 0; i < WORDS; i++)
		local[pg * WORDS + i] = pat(me, pg, i);
}

static void *churn_thread(void *arg)
{
	struct thr *t = arg;
	unsigned int seed = 77 + me;

	while (!stop) {
		unsigned int pg = rand_r(&seed) % NREAD;
		double t0 = now();

		if (madvise(local + pg * WORDS, PAGE, MADV_DONTNEED))
			die("madvise");
		hist_add(&t->h_drop, now() - t0);
		fill(pg);
		t->drops++;
		t->beat = now();
		usleep(2000 + rand_r(&seed) % 3000);
	}
	return NULL;
}

static void dump_stacks(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "for t in /proc/%d/task/*; do echo \"  -- $t\"; "
		 "sed 's/^/     /' $t/stack; done", getpid());
	if (system(cmd) < 0)
		perror("system");
}

static void report_hist(const char *what, const struct hist *h)
{
	SAY("  %-22s n=%-7lu mean %8.3f ms  p99 %8.3f ms  max %8.3f ms", what, h->n,
	    h->n ? h->sum / h->n * 1e3 : 0, hist_q(h, 0.99), h->max * 1e3);
}

int main(int argc, char **argv)
{
	char name[64], text[256], *s;
	xpmem_segid_t mine, theirs;
	xpmem_apid_t apid;
	struct sigaction sa = { .sa_handler = on_sigbus, .sa_flags = SA_NODEFER };
	struct hist rd = { 0 }, hm = { 0 }, hp = { 0 }, hu = { 0 }, ht = { 0 };
	unsigned long reads = 0, bad = 0, sigbus = 0, incs[NFAULT];
	double t0, rtt = 0, stuck_for = 0;
	const char *stuck = NULL;
	int stuck_idx = 0;

	if (cl_init("xmutual"))
		return 2;
	cl_wait_seconds = 240;
	if (argc > 1)
		seconds = atoi(argv[1]);
	if (getenv("XPMEM_VM_SLOWDOWN") && atoi(getenv("XPMEM_VM_SLOWDOWN")) > 1)
		slowdown = atoi(getenv("XPMEM_VM_SLOWDOWN"));
	if (me > 1) {
		SAY("idle (the test uses nodes 0 and 1)");
		return 0;
	}
	{
		FILE *f = fopen("/sys/module/xpmem/parameters/remote_timeout_ms", "w");

		if (!f || fputs(REMOTE_TIMEOUT_MS, f) < 0 || fclose(f))
			die("remote_timeout_ms");
	}
	peer = !me;
	snprintf(cl_abort_name, sizeof(cl_abort_name), "mut-abort-%d", peer);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);

	local = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1, 0);
	if (local == MAP_FAILED)
		die("mmap");
	for (unsigned int pg = 0; pg < NPAGES; pg++)
		if (pg < NREAD)
			fill(pg);
		else
			memset(local + pg * WORDS, 0, PAGE);
	mine = xpmem_make(local, NPAGES * PAGE, XPMEM_PERMIT_MODE, (void *)0600);
	if (mine == -1)
		die("xpmem_make");
	snprintf(text, sizeof(text), "%llx\n", (unsigned long long)mine);
	snprintf(name, sizeof(name), "mut-seg-%d", me);
	publish(name, text);
	snprintf(name, sizeof(name), "mut-seg-%d", peer);
	s = await(name);
	theirs = (xpmem_segid_t)strtoull(s, NULL, 16);
	free(s);
	apid = xpmem_get(theirs, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	if (apid == -1)
		die("xpmem_get");
	remote = xpmem_attach((struct xpmem_addr){ .apid = apid, .offset = 0 }, NPAGES * PAGE,
			      NULL);
	if (remote == (void *)-1)
		die("xpmem_attach");
	/* the remote fault round trip, before the load */
	for (unsigned int pg = 0; pg < NREAD; pg += 16) {
		double a = now();
		uint64_t w = remote[pg * WORDS];

		rtt += now() - a;
		if (w != pat(peer, pg, 0))
			FAIL("setup: remote page %u word 0 is %#llx", pg, (unsigned long long)w);
	}
	rtt /= (NREAD + 15) / 16;
	SAY("exported %d pages, attached node%d's %d pages; remote first touch %.2f ms "
	    "(one fault round trip)", NPAGES, peer, NPAGES, rtt * 1e3);

	snprintf(name, sizeof(name), "mut-ready-%d", me);
	publish(name, "1\n");
	snprintf(name, sizeof(name), "mut-ready-%d", peer);
	free(await(name));

	t0 = now();
	for (int i = 0; i < NFAULT; i++) {
		fthr[i] = (struct thr){ .kind = "fault", .idx = i, .beat = t0 };
		if (pthread_create(&fthr[i].th, NULL, fault_thread, &fthr[i]))
			die("pthread_create");
	}
	for (int i = 0; i < NMMAP; i++) {
		mthr[i] = (struct thr){ .kind = "mmap", .idx = i, .beat = t0 };
		if (pthread_create(&mthr[i].th, NULL, mmap_thread, &mthr[i]))
			die("pthread_create");
	}
	cthr = (struct thr){ .kind = "churn", .idx = 0, .beat = t0 };
	if (pthread_create(&cthr.th, NULL, churn_thread, &cthr))
		die("pthread_create");
	SAY("%d fault + %d mmap/munmap/mprotect + 1 churn threads for %d s", NFAULT, NMMAP,
	    seconds);

	/* watchdog: every thread must make progress */
	struct thr *all[NFAULT + NMMAP + 1];
	int na = 0, joined[NFAULT + NMMAP + 1] = { 0 };

	for (int i = 0; i < NFAULT; i++)
		all[na++] = &fthr[i];
	for (int i = 0; i < NMMAP; i++)
		all[na++] = &mthr[i];
	all[na++] = &cthr;
	for (;;) {
		double t = now();

		for (int i = 0; i < na; i++) {
			if (!joined[i] && t - all[i]->beat > STUCK_S * slowdown && !stuck) {
				stuck = all[i]->kind;
				stuck_idx = all[i]->idx;
				stuck_for = t - all[i]->beat;
			}
		}
		if (stuck) {
			FAIL("watchdog: %s thread %d made no progress for %.0f s (hang); kernel "
			     "stacks:", stuck, stuck_idx, stuck_for);
			dump_stacks();
			snprintf(name, sizeof(name), "mut-abort-%d", me);
			publish(name, "1\n");
			printf("%s: %d passed, %d failed\n", tag, passes, fails);
			fflush(stdout);
			_exit(1);
		}
		if (t - t0 >= seconds)
			stop = 1;
		if (stop) {
			int alive = 0;

			for (int i = 0; i < na; i++) {
				if (!joined[i] && pthread_tryjoin_np(all[i]->th, NULL) == 0)
					joined[i] = 1;
				alive += !joined[i];
			}
			if (!alive)
				break;
		}
		usleep(200000);
	}

	/* figures */
	for (int i = 0; i < NFAULT; i++) {
		reads += fthr[i].reads;
		bad += fthr[i].bad;
		sigbus += fthr[i].sigbus;
		incs[i] = fthr[i].incs;
		hist_merge(&rd, &fthr[i].rd);
		if (fthr[i].bad)
			SAY("fault thread %d: first wrong word: page %u word %u is %#llx "
			    "(expected %#llx or 0)", i, fthr[i].bad_pg, fthr[i].bad_i,
			    (unsigned long long)fthr[i].bad_got,
			    (unsigned long long)pat(peer, fthr[i].bad_pg, fthr[i].bad_i));
	}
	for (int i = 0; i < NMMAP; i++) {
		hist_merge(&hm, &mthr[i].h_mmap);
		hist_merge(&hp, &mthr[i].h_mprot);
		hist_merge(&hu, &mthr[i].h_munmap);
		hist_merge(&ht, &mthr[i].h_touch);
	}
	SAY("%.0f s: %lu remote page reads, %lu SIGBUS, %lu wrong words; %lu local pages "
	    "dropped+refilled (the other side refaults)", now() - t0, reads, sigbus, bad,
	    cthr.drops);
	SAY("latencies on node%d (remote fault round trip at rest: %.2f ms):", me, rtt * 1e3);
	report_hist("remote page read", &rd);
	report_hist("mmap", &hm);
	report_hist("mprotect", &hp);
	report_hist("munmap", &hu);
	report_hist("touch 16 pages", &ht);
	report_hist("MADV_DONTNEED (inval)", &cthr.h_drop);
	{
		double wmax = fmax(fmax(hm.max, hp.max), hu.max) * 1e3;

		printf("LATENCY %s: max mmap %.1f ms, mprotect %.1f ms, munmap %.1f ms; p99 "
		       "%.1f/%.1f/%.1f ms; remote round trip %.2f ms, max remote page read "
		       "%.1f ms\n", tag, hm.max * 1e3, hp.max * 1e3, hu.max * 1e3,
		       hist_q(&hm, 0.99), hist_q(&hp, 0.99), hist_q(&hu, 0.99), rtt * 1e3,
		       rd.max * 1e3);
		if (wmax >= WRITER_LIMIT_MS * slowdown)
			FAIL("an mmap_lock writer waited %.0f ms (limit %.0f ms): remote faults "
			     "stall the attacher's mmap_lock", wmax, WRITER_LIMIT_MS * slowdown);
		else
			PASS("mmap_lock writers: max %.1f ms (limit %.0f ms)", wmax,
			     WRITER_LIMIT_MS * slowdown);
	}
	if (sigbus)
		FAIL("%lu SIGBUS on the remote attachment (remote faults timed out)", sigbus);
	else
		PASS("no SIGBUS in %lu remote page reads", reads);
	if (bad)
		FAIL("%lu wrong words read through the remote attachment", bad);
	else
		PASS("every word read was node%d's data (or 0 while it refilled a page)", peer);
	/* progress, not speed: the debug kernel (KASAN, lockdep) runs the same
	 * 20 s at a fraction of the pace (check-debug saw 43 mmaps on a busy host) */
	if (reads < 20 || hm.n < (unsigned long)(50 / slowdown))
		FAIL("too little progress: %lu remote reads, %lu mmaps (at least 20 and %d)", reads,
		     hm.n, 50 / slowdown);

	/* the counters: our locked adds in the peer's memory, and theirs in ours */
	{
		char *p = text;

		for (int i = 0; i < NFAULT; i++)
			p += sprintf(p, "%lu ", incs[i]);
		strcat(p, "\n");
		snprintf(name, sizeof(name), "mut-counts-%d", me);
		publish(name, text);
		snprintf(name, sizeof(name), "mut-counts-%d", peer);
		s = await(name);
		p = s;
		for (int i = 0; i < NFAULT; i++) {
			unsigned long want = strtoul(p, &p, 10);
			uint64_t got = local[(NREAD + i) * WORDS];

			if (got != want)
				FAIL("counter of node%d's fault thread %d: my memory holds %llu, "
				     "it counted %lu locked adds", peer, i, (unsigned long long)got,
				     want);
			else
				PASS("counter of node%d's fault thread %d: %lu locked adds landed "
				     "in my memory", peer, i, want);
		}
		free(s);
	}
	snprintf(name, sizeof(name), "mut-end-%d", me);
	publish(name, "1\n");
	snprintf(name, sizeof(name), "mut-end-%d", peer);
	free(await(name));
	xpmem_detach((void *)remote);
	xpmem_release(apid);
	xpmem_remove(mine);
	printf("%s: %d passed, %d failed\n", tag, passes, fails);
	return fails ? 1 : 0;
}
