// SPDX-License-Identifier: GPL-2.0
/*
 * The memory side of the cluster chaos soak (tests/cluster/soak, make soak):
 *
 *   xsoak owner END STOP   on every partition until time END (epoch s),
 *                          churning until STOP: one exported segment of
 *                          1 + NPAGES pages. Page 0 is the generation table
 *                          (never churned): word 0 the owner's nonce, then
 *                          per data page its current generation G and the
 *                          last generation Z at which it was zeroed. Every
 *                          op on a data page first raises its G (Z too if
 *                          it zeroes), then changes the page: rewrite the
 *                          stamps of G, MADV_DONTNEED, munmap + mmap (zero),
 *                          fork + COW break (the child then scribbles its
 *                          copy with foreign words), mprotect none and back,
 *                          mremap away and back. Each op's wall time is the
 *                          invalidation's: it must end (acked or quarantined)
 *                          within the ack timeout plus slack. A scribbler
 *                          child fills and frees memory with foreign words so
 *                          a freed frame that a peer still maps shows up.
 *   xsoak reader OWNER END  on the other partitions: attach OWNER's segment
 *                          (segid and nonce published in
 *                          $XPMEM_CLUSTER_DIR/seg-nodeOWNER) and verify page
 *                          after page, word by word: G0 = table before, copy
 *                          the page, G1/Z1 = table after. A stamp of
 *                          generation s is good iff G0 - 1 <= s <= G1 (s was
 *                          current at some point of the read); a zero word
 *                          iff Z1 >= G0 - 1; anything else is stale (an older
 *                          stamp), foreign (a scribbled/reused frame, another
 *                          page's or node's stamp, a dead incarnation's
 *                          table) or corrupt. A fault (SIGBUS/SIGSEGV) is a
 *                          clean failure; repeated faults re-get. When the
 *                          owner's partition reboots (new nonce), one read
 *                          through the old attachment must fault.
 *
 * Counters go to $XPMEM_CLUSTER_DIR/st/ every 2 s (they survive a power
 * cycle of this partition); the soak script sums them. Every stale/foreign
 * word is printed (the first 20 per process).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xpmem.h>

#include "probe.h"
#include "rendezvous.h"

#define PAGE 4096UL
#define WORDS (PAGE / 8)
#define NPAGES 64
#define STAMP_MAGIC 0xa5ULL
#define GEN_MAGIC 0x5aULL
#define ZGEN_MAGIC 0x5bULL
#define NONCE_MAGIC 0xc0deULL
#define FOREIGN_MAGIC 0xf0f0ULL

static int me;
static char tag[32];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t stamp(int node, unsigned long p, unsigned long w, uint64_t s)
{
	return STAMP_MAGIC << 56 | (uint64_t)(node & 0xf) << 52 | (uint64_t)(p & 0xfff) << 40 |
	       (uint64_t)(w & 0x1ff) << 31 | (s & 0x7fffffff);
}

static uint64_t tword(uint64_t magic, int node, unsigned long p, uint64_t g)
{
	return magic << 56 | (uint64_t)(node & 0xf) << 52 | (uint64_t)(p & 0xfff) << 40 |
	       (g & 0xffffffffffULL);
}

static uint64_t foreign(int node, uint64_t n)
{
	return FOREIGN_MAGIC << 48 | (uint64_t)(node & 0xf) << 44 | (n & 0xfffffffffffULL);
}

static void die(const char *what)
{
	printf("FAIL %s: %s: %s\n", tag, what, strerror(errno));
	exit(1);
}

static void put_file(const char *name, const char *text)
{
	if (rv_publish(name, text))
		die(name);
}

/* ---- owner -------------------------------------------------------------- */

enum { OP_WRITE, OP_DONTNEED, OP_REMAP, OP_COW, OP_MPROTECT, OP_MREMAP, NOPS };
static const char *const op_name[NOPS] = { "write", "dontneed", "remap", "cow", "mprotect",
					   "mremap" };

static volatile uint64_t *table;
static char *data;
static uint64_t gen[NPAGES], zgen[NPAGES];

static void set_gen(unsigned long p, int zero)
{
	gen[p]++;
	if (zero) {
		zgen[p] = gen[p];
		table[2 + 2 * p] = tword(ZGEN_MAGIC, me, p, zgen[p]);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	table[1 + 2 * p] = tword(GEN_MAGIC, me, p, gen[p]);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void write_page(unsigned long p)
{
	volatile uint64_t *w = (volatile uint64_t *)(data + p * PAGE);

	for (unsigned long i = 0; i < WORDS; i++)
		w[i] = stamp(me, p, i, gen[p]);
}

static void scribble(void *buf, size_t len, uint64_t *n)
{
	uint64_t *w = buf;

	for (size_t i = 0; i < len / 8; i++)
		w[i] = foreign(me, (*n)++);
}

/* frees and refills memory with foreign words, so reused frames are visible */
static void scribbler(time_t stop)
{
	uint64_t n = 0;

	while (time(NULL) < stop && getppid() != 1) {
		size_t len = (size_t)(1 + rand() % 4) << 20;
		char *b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (b == MAP_FAILED)
			_exit(1);
		scribble(b, len, &n);
		usleep(100000);
		munmap(b, len);
	}
	_exit(0);
}

static int owner(time_t end, time_t stop)
{
	unsigned long long ops[NOPS] = { 0 }, nchild = 0;
	double max_op = 0, t0, dt, last = 0;
	char *seg, *scratch, text[256], name[64];
	xpmem_segid_t segid;
	uint64_t nonce, fn = 1;
	pid_t scrib;
	FILE *ur;

	ur = fopen("/dev/urandom", "r");
	if (!ur || fread(&nonce, sizeof(nonce), 1, ur) != 1)
		die("urandom");
	fclose(ur);
	nonce &= 0xffffffffffffULL;
	srand((unsigned int)nonce);
	seg = mmap(NULL, (NPAGES + 1) * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	scratch = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (seg == MAP_FAILED || scratch == MAP_FAILED)
		die("mmap");
	table = (volatile uint64_t *)seg;
	data = seg + PAGE;
	table[0] = NONCE_MAGIC << 48 | nonce;
	for (unsigned long p = 0; p < NPAGES; p++) {
		set_gen(p, 1);
		set_gen(p, 0);
		write_page(p);
	}
	segid = xpmem_make(seg, (NPAGES + 1) * PAGE, XPMEM_PERMIT_MODE, (void *)0666);
	if (segid == -1)
		die("xpmem_make");
	scrib = fork();
	if (scrib < 0)
		die("fork");
	if (scrib == 0)
		scribbler(stop);
	snprintf(text, sizeof(text), "%llx %" PRIx64 "\n", (unsigned long long)segid, nonce);
	snprintf(name, sizeof(name), "seg-node%d", me);
	put_file(name, text);
	printf("%s: owner: segment %llx (nonce %" PRIx64 ", %d pages) published\n", tag,
	       (unsigned long long)segid, nonce, NPAGES);
	fflush(stdout);

	while (time(NULL) < stop) {
		unsigned long p = (unsigned long)rand() % NPAGES;
		int op = rand() % 10 < 4 ? OP_WRITE : 1 + rand() % (NOPS - 1);
		char *pg = data + p * PAGE;
		pid_t c;

		t0 = now();
		switch (op) {
		case OP_WRITE:
			set_gen(p, 0);
			write_page(p);
			break;
		case OP_DONTNEED:
			set_gen(p, 1);
			if (madvise(pg, PAGE, MADV_DONTNEED))
				die("madvise");
			break;
		case OP_REMAP:
			set_gen(p, 1);
			if (munmap(pg, PAGE))
				die("munmap");
			if (mmap(pg, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				 -1, 0) != pg)
				die("mmap fixed");
			break;
		case OP_COW:
			set_gen(p, 0);
			c = fork();
			if (c < 0)
				die("fork");
			if (c == 0) {
				/* wait for the parent's COW break, then scribble our copy */
				usleep(200000);
				scribble(pg, PAGE, &fn);
				usleep(1000000);
				_exit(0);
			}
			nchild++;
			write_page(p);
			break;
		case OP_MPROTECT:
			set_gen(p, 0);
			if (mprotect(pg, PAGE, PROT_NONE))
				die("mprotect none");
			usleep(rand() % 20000);
			if (mprotect(pg, PAGE, PROT_READ | PROT_WRITE))
				die("mprotect rw");
			write_page(p);
			break;
		case OP_MREMAP:
			set_gen(p, 0);
			if (mremap(pg, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, scratch) != scratch)
				die("mremap away");
			usleep(rand() % 20000);
			if (mremap(scratch, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, pg) != pg)
				die("mremap back");
			/* mremap left a hole at scratch; keep it reserved */
			if (mmap(scratch, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
			    scratch)
				die("mmap scratch");
			write_page(p);
			break;
		}
		dt = now() - t0;
		if (dt > max_op)
			max_op = dt;
		ops[op]++;
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (now() - last > 2) {
			last = now();
			snprintf(text, sizeof(text),
				 "write %llu\ndontneed %llu\nremap %llu\ncow %llu\nmprotect %llu\n"
				 "mremap %llu\nmax_op_ms %.0f\n",
				 ops[0], ops[1], ops[2], ops[3], ops[4], ops[5], max_op * 1e3);
			snprintf(name, sizeof(name), "st/own-node%d-%" PRIx64, me, nonce);
			put_file(name, text);
		}
		usleep(2000 + rand() % 20000);
	}
	snprintf(text, sizeof(text),
		 "write %llu\ndontneed %llu\nremap %llu\ncow %llu\nmprotect %llu\nmremap %llu\n"
		 "max_op_ms %.0f\n",
		 ops[0], ops[1], ops[2], ops[3], ops[4], ops[5], max_op * 1e3);
	snprintf(name, sizeof(name), "st/own-node%d-%" PRIx64, me, nonce);
	put_file(name, text);
	printf("%s: owner: churn stopped:", tag);
	for (int i = 0; i < NOPS; i++)
		printf(" %s %llu", op_name[i], ops[i]);
	printf(", slowest op %.0f ms\n", max_op * 1e3);
	fflush(stdout);
	/* the segment stays until END, so the readers keep verifying */
	while (time(NULL) < end)
		sleep(1);
	kill(scrib, SIGKILL);
	while (wait(NULL) > 0)
		;
	return 0;
}

/* ---- reader ------------------------------------------------------------- */

static int read_seg_file(int owner, xpmem_segid_t *segid, uint64_t *nonce)
{
	char path[512];
	unsigned long long s;
	uint64_t n;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/seg-node%d", rv_dir, owner);
	f = fopen(path, "r");
	if (!f)
		return -1;
	ok = fscanf(f, "%llx %" SCNx64, &s, &n) == 2;
	fclose(f);
	if (!ok)
		return -1;
	*segid = (xpmem_segid_t)s;
	*nonce = n;
	return 0;
}

struct rstat {
	unsigned long long reads, words, zero_words, faults, stale, foreign, corrupt, regets,
		old_probe_faulted, old_probe_read;
};

static int reader(int owner, time_t end)
{
	uint64_t nonce = 0, fnonce, buf[WORDS], t0[1 + 2 * NPAGES], t1[1 + 2 * NPAGES];
	volatile uint64_t *att = NULL, *prev = NULL;
	xpmem_apid_t apid = -1, prev_apid = -1;
	uint64_t prev_nonce = 0;
	xpmem_segid_t segid, fsegid;
	struct rstat st = { 0 };
	unsigned long p = 0, consecutive = 0, reported = 0;
	double last_file = 0, last_stat = 0;
	char text[512], name[64];
	int sig;

	time_t t_start = time(NULL);	/* "secs": how long this reader had */

	if (probe_setup())
		die("sigaction");
	snprintf(name, sizeof(name), "st/read-node%d-of%d-%d", me, owner, getpid());

#define BAD(kind, ...) do { \
	st.kind++; \
	if (reported++ < 20) { \
		printf("STALE %s: reading node%d page %lu: ", tag, owner, p); \
		printf(__VA_ARGS__); putchar('\n'); fflush(stdout); \
	} } while (0)

	while (time(NULL) < end) {
		if (now() - last_stat > 2) {
			last_stat = now();
			snprintf(text, sizeof(text),
				 "reads %llu\nwords %llu\nzero_words %llu\nfaults %llu\nstale %llu\n"
				 "foreign %llu\ncorrupt %llu\nregets %llu\nold_probe_faulted %llu\n"
				 "old_probe_read %llu\nsecs %ld\n",
				 st.reads, st.words, st.zero_words, st.faults, st.stale, st.foreign,
				 st.corrupt, st.regets, st.old_probe_faulted, st.old_probe_read,
				 (long)(time(NULL) - t_start));
			put_file(name, text);
		}
		if (now() - last_file > 1 || !att) {
			last_file = now();
			if (read_seg_file(owner, &fsegid, &fnonce)) {
				usleep(200000);
				continue;
			}
			if (prev && fnonce != prev_nonce) {
				/*
				 * The owner's partition rebooted: no page of the
				 * attachment to its old incarnation may still read
				 * (its frames are the new kernel's to reuse).
				 */
				for (unsigned long i = 0; i <= NPAGES; i++) {
					sig = probe_copy(buf, prev + i * WORDS, 1);
					if (sig) {
						st.old_probe_faulted++;
						continue;
					}
					st.old_probe_read++;
					p = i - 1;
					BAD(stale, "the owner rebooted (nonce %" PRIx64 " -> %" PRIx64
						   ") and segment page %lu of its old incarnation still "
						   "reads: %016" PRIx64, prev_nonce, fnonce, i, buf[0]);
				}
				xpmem_detach((void *)prev);
				xpmem_release(prev_apid);
				prev = NULL;
			}
			if (att && fnonce != nonce)
				consecutive = 1000;
			if (!att || consecutive >= 20) {
				if (att) {
					/*
					 * Kept until the owner publishes again: if it
					 * rebooted, the old mapping is probed above.
					 */
					if (prev) {
						xpmem_detach((void *)prev);
						xpmem_release(prev_apid);
					}
					prev = att;
					prev_apid = apid;
					prev_nonce = nonce;
					att = NULL;
					st.regets++;
				}
				apid = xpmem_get(fsegid, XPMEM_RDONLY, XPMEM_PERMIT_MODE, NULL);
				if (apid == -1) {
					usleep(300000);
					continue;
				}
				att = xpmem_attach((struct xpmem_addr){ .apid = apid, .offset = 0 },
						   (NPAGES + 1) * PAGE, NULL);
				if (att == (void *)-1) {
					att = NULL;
					xpmem_release(apid);
					usleep(300000);
					continue;
				}
				segid = fsegid;
				nonce = fnonce;
				consecutive = 0;
				(void)segid;
			}
		}
		p = (p + 1 + (unsigned long)rand() % 7) % NPAGES;
		if ((sig = probe_copy(t0, att, 1 + 2 * NPAGES)) ||
		    (sig = probe_copy(buf, att + (1 + p) * WORDS, WORDS)) ||
		    (sig = probe_copy(t1, att, 1 + 2 * NPAGES))) {
			st.faults++;
			consecutive++;
			usleep(consecutive > 3 ? 100000 : 1000);
			continue;
		}
		consecutive = 0;
		st.reads++;
		/* the table itself: our owner's incarnation, page p's words */
		if (t0[0] != (NONCE_MAGIC << 48 | nonce) || t1[0] != t0[0]) {
			BAD(foreign, "table nonce word %016" PRIx64 "/%016" PRIx64 ", want nonce %" PRIx64,
			    t0[0], t1[0], nonce);
			continue;
		}
		uint64_t g0w = t0[1 + 2 * p], g1w = t1[1 + 2 * p], z1w = t1[2 + 2 * p];
		uint64_t mask = ~0xffffffffffULL;

		if ((g0w & mask) != (tword(GEN_MAGIC, owner, p, 0) & mask) ||
		    (g1w & mask) != (tword(GEN_MAGIC, owner, p, 0) & mask) ||
		    (z1w & mask) != (tword(ZGEN_MAGIC, owner, p, 0) & mask)) {
			BAD(foreign, "table words %016" PRIx64 " %016" PRIx64 " %016" PRIx64, g0w, g1w,
			    z1w);
			continue;
		}
		uint64_t g0 = g0w & 0xffffffffffULL, g1 = g1w & 0xffffffffffULL,
			 z1 = z1w & 0xffffffffffULL;

		if (g1 < g0) {
			BAD(stale, "generation went back: %" PRIu64 " then %" PRIu64, g0, g1);
			continue;
		}
		for (unsigned long w = 0; w < WORDS; w++) {
			uint64_t v = buf[w], s = v & 0x7fffffff;

			st.words++;
			if (v == 0) {
				st.zero_words++;
				if (z1 + 1 < g0)
					BAD(stale, "word %lu zero, but the page was last zeroed at "
						   "generation %" PRIu64 " and the read began at %" PRIu64,
					    w, z1, g0);
				continue;
			}
			if (v >> 48 == FOREIGN_MAGIC) {
				BAD(foreign, "word %lu = %016" PRIx64 ": a freed/COW frame's scribble "
					     "(generation %" PRIu64 "..%" PRIu64 ")", w, v, g0, g1);
				break;
			}
			if ((v & ~0x7fffffffULL) != (stamp(owner, p, w, 0) & ~0x7fffffffULL)) {
				BAD(corrupt, "word %lu = %016" PRIx64 ", want a stamp of page %lu word %lu",
				    w, v, p, w);
				break;
			}
			if (s + 1 < g0 || s > g1) {
				BAD(stale, "word %lu has generation %" PRIu64 ", the read saw %" PRIu64
					   "..%" PRIu64, w, s, g0, g1);
				break;
			}
		}
	}
	snprintf(text, sizeof(text),
		 "reads %llu\nwords %llu\nzero_words %llu\nfaults %llu\nstale %llu\nforeign %llu\n"
		 "corrupt %llu\nregets %llu\nold_probe_faulted %llu\nold_probe_read %llu\n"
		 "secs %ld\n",
		 st.reads, st.words, st.zero_words, st.faults, st.stale, st.foreign, st.corrupt,
		 st.regets, st.old_probe_faulted, st.old_probe_read, (long)(time(NULL) - t_start));
	put_file(name, text);
	printf("%s: reader of node%d: %llu pages verified (%llu words, %llu zero), %llu faults, "
	       "%llu re-gets, stale %llu, foreign %llu, corrupt %llu\n",
	       tag, owner, st.reads, st.words, st.zero_words, st.faults, st.regets, st.stale,
	       st.foreign, st.corrupt);
	return st.stale || st.foreign || st.corrupt ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *id = getenv("XPMEM_NODE_ID");

	if (rv_init() || !id) {
		fprintf(stderr, "xsoak: run under tests/vm/run-cluster (tests/cluster/soak)\n");
		return 2;
	}
	me = atoi(id);
	snprintf(tag, sizeof(tag), "node%d", me);
	setvbuf(stdout, NULL, _IOLBF, 0);
	srand((unsigned int)(getpid() * 7919 + time(NULL)));
	if (argc == 4 && !strcmp(argv[1], "owner"))
		return owner((time_t)atoll(argv[2]), (time_t)atoll(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "reader"))
		return reader(atoi(argv[2]), (time_t)atoll(argv[3]));
	fprintf(stderr, "usage: xsoak owner END STOP | xsoak reader OWNER END\n");
	return 2;
}
