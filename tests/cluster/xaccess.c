// SPDX-License-Identifier: GPL-2.0
/*
 * Every access kind through a REMOTE attachment over every source state
 * (issue 9), run on every partition by tests/vm/run-cluster with xpmemd up.
 * Node 0 (A) owns the memory, node 1 (B) attaches it; further nodes idle.
 *
 * Source states on A, one segment each:
 *   untouched  never touched by A
 *   zero       A only read it (the shared zero page)
 *   written    A wrote it
 *   cow        A wrote it, then forked; the child stays alive (COW-shared)
 *   ro         A wrote it, then mprotect(PROT_READ)
 *   thp        A wrote a MADV_HUGEPAGE 2 MiB range (a THP if the guest has one)
 * Access kinds, each on a fresh page and a fresh attachment (one page; the
 * whole 2 MiB for thp), every word of the page:
 *   load       plain loads
 *   store      plain stores
 *   rmw        unlocked read-modify-write (addq $1,(mem))
 *   lockrmw    locked read-modify-write (lock addq $5,(mem))
 *   movsout    rep movsb into the attachment
 *   movsin     rep movsb out of the attachment
 * B runs each case in a worker process under a deadline: a case that does
 * not finish in time (a fault loop, a lost reply) is killed and FAILs with
 * its name. On ro, every writing kind must end in SIGBUS/SIGSEGV (nothing
 * lands, nothing hangs) and the reading kinds must work. B checks what it
 * read; A then checks its memory word by word (and the fork child its own
 * copy: the attacher's writes after the fork must not reach it).
 *
 * usage: xaccess [DEADLINE_SECONDS] [STATE/KIND ...]   (default: 10 s, every
 *        case; "any" matches every state or kind, e.g. any/rmw, thp/any);
 *        the deadline is multiplied by $XPMEM_VM_SLOWDOWN (debug kernel)
 * Rendezvous through files in $XPMEM_CLUSTER_DIR. Ends with
 * "nodeN: N passed, N failed".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
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

#include "clusterlib.h"

#define PAGE 4096UL
#define WORDS (PAGE / sizeof(uint64_t))
#define HUGE (2UL << 20)
#define THP_PAGE 7		/* the page of each 2 MiB the thp cases access */

enum { S_UNTOUCHED, S_ZERO, S_WRITTEN, S_COW, S_RO, S_THP, NSTATES };
enum { K_LOAD, K_STORE, K_RMW, K_LOCKRMW, K_MOVSOUT, K_MOVSIN, NKINDS };
#define NCASES (NSTATES * NKINDS)

static const char *const state_name[NSTATES] = {
	"untouched", "zero", "written", "cow", "ro", "thp" };
static const char *const kind_name[NKINDS] = {
	"load", "store", "rmw", "lockrmw", "movsout", "movsin" };

static int deadline = 10;
static int selected[NCASES];	/* cases to run (all unless named) */

/* ---- values ---- */

static int writes(int k)
{
	return k == K_STORE || k == K_RMW || k == K_LOCKRMW || k == K_MOVSOUT;
}

/* A's initial word i of page @pg of case (s, k) */
static uint64_t initial(int s, int k, unsigned int pg, unsigned int i)
{
	if (s == S_UNTOUCHED || s == S_ZERO)
		return 0;
	return 0xac00000000000000ULL | (uint64_t)s << 48 | (uint64_t)k << 40 |
	       (uint64_t)pg << 16 | i;
}

static uint64_t stored(int s, int k, unsigned int i)
{
	return 0x5700000000000000ULL | (uint64_t)s << 48 | (uint64_t)k << 40 | 0xee0000 | i;
}

/* what word i of the accessed page must hold after a completed access */
static uint64_t expected(int s, int k, unsigned int pg, unsigned int i)
{
	uint64_t v = initial(s, k, pg, i);

	if (s == S_RO)
		return v;
	switch (k) {
	case K_STORE:
	case K_MOVSOUT:
		return stored(s, k, i);
	case K_RMW:
		return v + 1;
	case K_LOCKRMW:
		return v + 5;
	default:
		return v;
	}
}

/* the page of case (s, k) within its segment, and the attachment */
static size_t case_offset(int s, int k)
{
	return s == S_THP ? k * HUGE : k * PAGE;
}

static size_t case_size(int s)
{
	return s == S_THP ? HUGE : PAGE;
}

static unsigned int case_page(int s)
{
	return s == S_THP ? THP_PAGE : 0;
}

/* ================= A: the owner ================= */

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok ? 0 : -1;
}

static int is_thp(void *p)
{
	uint64_t e = 0, f = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, 8, (uintptr_t)p / PAGE * 8) != 8 || !(e >> 63)) {
		close(fd);
		return 0;
	}
	close(fd);
	fd = open("/proc/kpageflags", O_RDONLY);
	if (fd < 0)
		return 0;
	if (pread(fd, &f, 8, (e & ((1ULL << 55) - 1)) * 8) != 8)
		f = 0;
	close(fd);
	return f >> 22 & 1;	/* KPF_THP */
}

static void fill_case(uint64_t *page, int s, int k, unsigned int pg)
{
	for (unsigned int i = 0; i < WORDS; i++)
		page[i] = initial(s, k, pg, i);
}

/* Compare one page of A's memory with what it must hold; 0 if equal. */
static int check_page(const char *what, const uint64_t *page, int s, int k, unsigned int pg,
		      int accessed, const char *note)
{
	unsigned int bad = 0, first = 0;

	for (unsigned int i = 0; i < WORDS; i++) {
		uint64_t want = accessed ? expected(s, k, pg, i) : initial(s, k, pg, i);

		if (page[i] != want && !bad++)
			first = i;
	}
	if (bad) {
		uint64_t want = accessed ? expected(s, k, pg, first) : initial(s, k, pg, first);

		FAIL("%s: A's page %u: %u words wrong; word %u is %#llx, expected %#llx%s", what,
		     pg, bad, first, (unsigned long long)page[first], (unsigned long long)want,
		     note);
		return 1;
	}
	return 0;
}

static void owner(void)
{
	char *region[NSTATES], text[512], *res, en[64] = "", df[64] = "";
	xpmem_segid_t segid[NSTATES];
	int outcome[NCASES], to_child[2], from_child[2], st, thp_ok = 0;
	size_t len[NSTATES];
	pid_t child;
	char *p;

	/* THP for MADV_HUGEPAGE ranges (the guest boots with "never") */
	{
		FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

		if (f) {
			if (!fgets(en, sizeof(en), f))
				en[0] = 0;
			fclose(f);
		}
		if (!strstr(en, "[always]"))
			write_file("/sys/kernel/mm/transparent_hugepage/enabled", "madvise");
		f = fopen("/sys/kernel/mm/transparent_hugepage/defrag", "r");
		if (f) {
			if (!fgets(df, sizeof(df), f))
				df[0] = 0;
			fclose(f);
		}
		write_file("/sys/kernel/mm/transparent_hugepage/defrag", "madvise");
	}

	for (int s = 0; s < NSTATES; s++) {
		len[s] = NKINDS * case_size(s);
		if (s == S_THP) {
			char *raw = mmap(NULL, len[s] + HUGE, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (raw == MAP_FAILED)
				die("mmap");
			region[s] = (char *)(((uintptr_t)raw + HUGE - 1) & ~(HUGE - 1));
			if (madvise(region[s], len[s], MADV_HUGEPAGE))
				SAY("madvise(MADV_HUGEPAGE): %s", strerror(errno));
		} else {
			region[s] = mmap(NULL, len[s], PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (region[s] == MAP_FAILED)
				die("mmap");
		}
		/* only the cow region is shared with the fork child */
		if (s != S_COW && madvise(region[s], len[s], MADV_DONTFORK))
			die("madvise(MADV_DONTFORK)");
		for (int k = 0; k < NKINDS; k++) {
			char *c = region[s] + case_offset(s, k);

			if (s == S_ZERO) {
				for (size_t o = 0; o < case_size(s); o += PAGE)
					(void)*(volatile uint64_t *)(c + o);
			} else if (s != S_UNTOUCHED) {
				for (size_t o = 0; o < case_size(s); o += PAGE)
					fill_case((uint64_t *)(c + o), s, k, o / PAGE);
			}
		}
		if (s == S_RO && mprotect(region[s], len[s], PROT_READ))
			die("mprotect(PROT_READ)");
	}
	for (int k = 0; k < NKINDS; k++)
		thp_ok += is_thp(region[S_THP] + case_offset(S_THP, k));
	if (thp_ok == NKINDS)
		SAY("thp: all %d 2 MiB ranges are THPs", NKINDS);
	else
		SAY("NOTE: thp: only %d of %d 2 MiB ranges are THPs (%s): those cases run on "
		    "4K pages", thp_ok, NKINDS, en);

	/* the fork child keeps the cow pages shared; 'c' = check its copy */
	if (pipe(to_child) || pipe(from_child))
		die("pipe");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		char c;

		close(to_child[1]);
		close(from_child[0]);
		while (read(to_child[0], &c, 1) == 1 && c == 'c') {
			unsigned int bad = 0;

			for (int k = 0; k < NKINDS; k++)
				for (unsigned int i = 0; i < WORDS; i++)
					bad += ((uint64_t *)(region[S_COW] + k * PAGE))[i] !=
					       initial(S_COW, k, 0, i);
			if (write(from_child[1], &bad, sizeof(bad)) != sizeof(bad))
				_exit(1);
		}
		_exit(0);
	}

	close(to_child[0]);
	close(from_child[1]);
	p = text;
	for (int s = 0; s < NSTATES; s++) {
		segid[s] = xpmem_make(region[s], len[s], XPMEM_PERMIT_MODE, (void *)0600);
		if (segid[s] == -1)
			die("xpmem_make");
		p += sprintf(p, "%llx ", (unsigned long long)segid[s]);
	}
	strcat(p, "\n");
	publish("acc-segs", text);
	SAY("exported %d segments (one per source state); waiting for node 1's accesses",
	    NSTATES);

	res = await("acc-results");
	{
		char *q = res;

		for (int c = 0; c < NCASES; c++)
			outcome[c] = (int)strtol(q, &q, 10);
		free(res);
	}
	/* A's memory, word by word */
	for (int s = 0; s < NSTATES; s++) {
		for (int k = 0; k < NKINDS; k++) {
			int c = s * NKINDS + k, bad = 0;
			char what[64];
			const char *note = outcome[c] == -1 ? " (the attacher's access hung)" :
					   outcome[c] == -2 ? " (the attacher's worker died)" :
					   outcome[c] > 0 && s != S_RO ?
					   " (the attacher's access faulted)" : "";
			char *base = region[s] + case_offset(s, k);

			if (outcome[c] == -3)
				continue;	/* not run */
			snprintf(what, sizeof(what), "%s/%s", state_name[s], kind_name[k]);
			for (unsigned int pg = 0; pg < case_size(s) / PAGE; pg++)
				bad += check_page(what, (uint64_t *)(base + pg * PAGE), s, k, pg,
						  pg == case_page(s), note);
			if (!bad)
				PASS("%s: A's memory holds %s, word by word", what,
				     s == S_RO ? "its data, unchanged (read-only)" :
				     k == K_LOAD || k == K_MOVSIN ? "its data, unchanged" :
				     k == K_RMW ? "its data + 1 in every word" :
				     k == K_LOCKRMW ? "its data + 5 in every word" :
				     "the attacher's data");
		}
	}
	{
		unsigned int bad = 0;

		if (write(to_child[1], "c", 1) != 1 ||
		    read(from_child[0], &bad, sizeof(bad)) != sizeof(bad))
			FAIL("cow: the fork child does not answer");
		else if (bad)
			FAIL("cow: %u words of the fork child's copy changed: the attacher's "
			     "writes after the fork reached the child", bad);
		else
			PASS("cow: the fork child's copy is unchanged (COW broken in A for the "
			     "attacher's writes)");
		close(to_child[1]);	/* the child ends on EOF */
		waitpid(child, &st, 0);
		close(from_child[0]);
	}
	publish("acc-verified", "1\n");
	await("acc-end");
	for (int s = 0; s < NSTATES; s++)
		xpmem_remove(segid[s]);
	if (en[0] && !strstr(en, "[always]")) {
		char *l = strchr(en, '['), *r = l ? strchr(l, ']') : NULL;

		if (l && r) {
			*r = 0;
			write_file("/sys/kernel/mm/transparent_hugepage/enabled", l + 1);
		}
	}
	if (df[0]) {
		char *l = strchr(df, '['), *r = l ? strchr(l, ']') : NULL;

		if (l && r) {
			*r = 0;
			write_file("/sys/kernel/mm/transparent_hugepage/defrag", l + 1);
		}
	}
}

/* ================= B: the attacher ================= */

static sigjmp_buf jb;

static void on_fault(int sig)
{
	siglongjmp(jb, sig);
}

static __attribute__((noinline)) void rep_movsb(void *dst, const void *src, size_t n)
{
	asm volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}

struct result {
	int c;			/* case */
	int sig;		/* 0, or the signal the access raised */
	unsigned int bad;	/* wrong words read (load, movsin) */
	unsigned int first;
	uint64_t got, want;
	double ms;
};

/* The access of case c on page @p (every word); fills r. */
static void do_access(int c, volatile uint64_t *p, struct result *r)
{
	int s = c / NKINDS, k = c % NKINDS;
	static uint64_t local[WORDS];
	unsigned int pg = case_page(s);
	double t0 = now();
	int sig;

	if (k == K_MOVSOUT)
		for (unsigned int i = 0; i < WORDS; i++)
			local[i] = stored(s, k, i);
	else
		memset(local, 0, sizeof(local));
	sig = sigsetjmp(jb, 1);
	if (!sig) {
		switch (k) {
		case K_LOAD:
			for (unsigned int i = 0; i < WORDS; i++)
				local[i] = p[i];
			break;
		case K_STORE:
			for (unsigned int i = 0; i < WORDS; i++)
				p[i] = stored(s, k, i);
			break;
		case K_RMW:
			for (unsigned int i = 0; i < WORDS; i++)
				asm volatile("addq $1, (%0)" : : "r"(p + i) : "memory", "cc");
			break;
		case K_LOCKRMW:
			for (unsigned int i = 0; i < WORDS; i++)
				asm volatile("lock addq $5, (%0)" : : "r"(p + i) : "memory", "cc");
			break;
		case K_MOVSOUT:
			rep_movsb((void *)p, local, PAGE);
			break;
		case K_MOVSIN:
			rep_movsb(local, (const void *)p, PAGE);
			break;
		}
	}
	r->ms = (now() - t0) * 1e3;
	r->sig = sig;
	r->bad = 0;
	if (!sig && (k == K_LOAD || k == K_MOVSIN)) {
		for (unsigned int i = 0; i < WORDS; i++) {
			uint64_t want = initial(s, k, pg, i);

			if (local[i] != want && !r->bad++) {
				r->first = i;
				r->got = local[i];
				r->want = want;
			}
		}
	}
}

/*
 * Worker process: gets every segment, then runs cases from @first on,
 * reporting 'S' case before and a struct result after each access.
 */
static void worker(int first, const xpmem_segid_t *segid, int out)
{
	xpmem_apid_t apid[NSTATES];
	struct sigaction sa = { .sa_handler = on_fault, .sa_flags = SA_NODEFER };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	for (int s = 0; s < NSTATES; s++) {
		apid[s] = xpmem_get(segid[s], XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
		if (apid[s] == -1) {
			printf("FAIL %s: xpmem_get(%s): %s\n", tag, state_name[s], strerror(errno));
			_exit(2);
		}
	}
	for (int c = first; c < NCASES; c++) {
		int s = c / NKINDS, k = c % NKINDS;
		struct xpmem_addr addr = { .apid = apid[s], .offset = case_offset(s, k) };
		volatile uint64_t *att;
		struct result r = { .c = c };
		char msg[8] = { 'S' };

		if (!selected[c])
			continue;

		att = xpmem_attach(addr, case_size(s), NULL);
		if (att == (void *)-1) {
			printf("FAIL %s: xpmem_attach(%s/%s): %s\n", tag, state_name[s],
			       kind_name[k], strerror(errno));
			_exit(3);
		}
		memcpy(msg + 4, &c, 4);
		if (write(out, msg, 8) != 8)
			_exit(4);
		do_access(c, att + case_page(s) * WORDS, &r);
		if (write(out, &r, sizeof(r)) != sizeof(r))
			_exit(4);
		xpmem_detach((void *)att);
	}
	_exit(0);
}

static int read_full(int fd, void *buf, size_t n, double until)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ms = (int)((until - now()) * 1000);
		ssize_t r;

		if (ms < 0 || poll(&p, 1, ms) <= 0)
			return got ? -1 : 0;	/* timeout */
		r = read(fd, (char *)buf + got, n - got);
		if (r <= 0)
			return -1;		/* EOF: the worker died */
		got += r;
	}
	return 1;
}

static void attacher(void)
{
	xpmem_segid_t segid[NSTATES];
	int outcome[NCASES], c = 0, hung = 0;
	char *segs = await("acc-segs"), *q = segs, text[512], *p = text;

	for (int s = 0; s < NSTATES; s++)
		segid[s] = (xpmem_segid_t)strtoull(q, &q, 16);
	free(segs);
	{
		int nsel = 0;

		for (c = 0; c < NCASES; c++)
			nsel += selected[c];
		c = 0;
		SAY("%d of %d cases (%d source states x %d access kinds), %d s deadline each",
		    nsel, NCASES, NSTATES, NKINDS, deadline);
	}
	while (c < NCASES && !selected[c])
		outcome[c++] = -3;
	while (c < NCASES) {
		int fd[2], st, started = -1;
		pid_t pid;

		if (pipe(fd))
			die("pipe");
		pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			close(fd[0]);
			worker(c, segid, fd[1]);
		}
		close(fd[1]);
		while (c < NCASES) {
			char msg[8];
			struct result r;
			int rc, s, k;
			char what[64];

			while (c < NCASES && !selected[c])
				outcome[c++] = -3;	/* not run */
			if (c == NCASES)
				break;
			s = c / NKINDS;
			k = c % NKINDS;

			snprintf(what, sizeof(what), "%s/%s", state_name[s], kind_name[k]);
			/* the worker's gets and attach: generous; the access: the deadline */
			rc = read_full(fd[0], msg, 8, now() + 60);
			if (rc == 1 && msg[0] == 'S')
				memcpy(&started, msg + 4, 4);
			if (rc != 1 || started != c) {
				FAIL("%s: the worker did not start the case (%s)", what,
				     rc ? "it died" : "no answer in 60 s");
				outcome[c++] = -2;
				break;
			}
			rc = read_full(fd[0], &r, sizeof(r), now() + deadline);
			if (rc == 0) {
				FAIL("%s: HUNG: the access did not complete within %d s "
				     "(killed)", what, deadline);
				outcome[c++] = -1;
				hung++;
				break;
			}
			if (rc < 0) {
				FAIL("%s: the worker died during the access", what);
				outcome[c++] = -2;
				break;
			}
			outcome[c] = r.sig;
			if (s == S_RO && writes(k)) {
				if (r.sig == SIGBUS || r.sig == SIGSEGV)
					PASS("%s: the write to a read-only source faults (%s) "
					     "in %.1f ms", what, strsignal(r.sig), r.ms);
				else
					FAIL("%s: the write to a read-only source %s", what,
					     r.sig ? strsignal(r.sig) : "went through");
			} else if (r.sig) {
				FAIL("%s: the access faults (%s)", what, strsignal(r.sig));
			} else if (r.bad) {
				FAIL("%s: %u words read wrong; word %u is %#llx, expected %#llx",
				     what, r.bad, r.first, (unsigned long long)r.got,
				     (unsigned long long)r.want);
			} else {
				PASS("%s: done in %.1f ms%s", what, r.ms,
				     k == K_LOAD || k == K_MOVSIN ? ", A's data read" : "");
			}
			c++;
		}
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		close(fd[0]);
	}
	for (c = 0; c < NCASES; c++)
		p += sprintf(p, "%d ", outcome[c]);
	strcat(p, "\n");
	publish("acc-results", text);
	if (hung)
		SAY("%d case(s) hung", hung);
	free(await("acc-verified"));
	publish("acc-end", "1\n");
}

int main(int argc, char **argv)
{
	if (cl_init("xaccess"))
		return 2;
	for (int c = 0; c < NCASES; c++)
		selected[c] = 1;
	for (int a = 1, any = 0; a < argc; a++) {
		char st[32] = "", kd[32] = "";

		if (argv[a][0] >= '0' && argv[a][0] <= '9') {
			deadline = atoi(argv[a]);
			continue;
		}
		if (sscanf(argv[a], "%31[^/]/%31s", st, kd) != 2) {
			fprintf(stderr, "xaccess: cases are STATE/KIND (any for every)\n");
			return 2;
		}
		if (!any++)
			memset(selected, 0, sizeof(selected));
		for (int c = 0; c < NCASES; c++)
			if ((!strcmp(st, "any") || !strcmp(st, state_name[c / NKINDS])) &&
			    (!strcmp(kd, "any") || !strcmp(kd, kind_name[c % NKINDS])))
				selected[c] = 1;
	}
	if (getenv("XPMEM_VM_SLOWDOWN") && atoi(getenv("XPMEM_VM_SLOWDOWN")) > 1)
		deadline *= atoi(getenv("XPMEM_VM_SLOWDOWN"));	/* a debug kernel */
	if (me == 0)
		owner();
	else if (me == 1)
		attacher();
	else
		SAY("idle (the test uses nodes 0 and 1)");
	printf("%s: %d passed, %d failed\n", tag, passes, fails);
	return fails ? 1 : 0;
}
