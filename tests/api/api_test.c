// SPDX-License-Identifier: GPL-2.0
/*
 * XPMEM API tests, run as root inside the test VM (tests/vm/run) with
 * xpmem.ko loaded. Every case runs in its own forked process with a time
 * limit; a PASS/FAIL/SKIP line per case, then "N passed, N failed".
 *
 * usage: xpmem-api-test [-k path/to/xpmem.ko] [case-name...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xpmem.h>
#include <xpmem/xpmem_ioctl.h>

#ifndef XPMEM_KO_DEFAULT
#define XPMEM_KO_DEFAULT "xpmem-kmod/xpmem.ko"
#endif

#define SKIP_RC 77
#define PG 4096UL

static const char *ko_path = XPMEM_KO_DEFAULT;

#define FAIL(...) do { \
	fprintf(stderr, "  %s:%d: ", __func__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); \
	return 1; } while (0)
#define CHECK(c) do { if (!(c)) FAIL("check failed: %s (errno %d %s)", \
	#c, errno, strerror(errno)); } while (0)
#define CHECK_ERR(expr, err) do { errno = 0; long long _r = (long long)(expr); \
	if (_r != -1 || errno != (err)) \
		FAIL("%s: want -1/%s, got %lld/%s", #expr, strerror(err), _r, \
		     strerror(errno)); } while (0)

#define PERMIT ((void *)0666)

/* Stress durations scale with XPMEM_STRESS_SECS (seconds, default @def). */
static int stress_secs(int def)
{
	const char *e = getenv("XPMEM_STRESS_SECS");

	return e && atoi(e) > 0 ? atoi(e) : def;
}

/* ---- fault probes ------------------------------------------------------ */

static __thread sigjmp_buf *volatile probe_jb;

static void probe_handler(int sig, siginfo_t *si, void *uc)
{
	(void)si; (void)uc;
	if (probe_jb)
		siglongjmp(*probe_jb, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void probe_setup(void)
{
	struct sigaction sa = { .sa_sigaction = probe_handler,
				.sa_flags = SA_SIGINFO | SA_NODEFER };

	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

/* Reads *p; returns 0, or the signal the access raised. */
static int probe_read(volatile uint64_t *p, uint64_t *out)
{
	sigjmp_buf jb;
	int sig;

	sig = sigsetjmp(jb, 1);
	if (sig) {
		probe_jb = NULL;
		return sig;
	}
	probe_jb = &jb;
	*out = *p;
	probe_jb = NULL;
	return 0;
}

static int probe_write(volatile uint64_t *p, uint64_t v)
{
	sigjmp_buf jb;
	int sig;

	sig = sigsetjmp(jb, 1);
	if (sig) {
		probe_jb = NULL;
		return sig;
	}
	probe_jb = &jb;
	*p = v;
	probe_jb = NULL;
	return 0;
}

/* ---- patterns ---------------------------------------------------------- */

static uint64_t pat(uint64_t gen, size_t page)
{
	return (gen << 32) | page;
}

static void fill_at(void *addr, size_t npages, uint64_t gen, size_t first)
{
	for (size_t i = 0; i < npages; i++) {
		uint64_t *w = (uint64_t *)((char *)addr + i * PG);

		for (size_t j = 0; j < PG / 8; j++)
			w[j] = pat(gen, first + i);
	}
}

static void fill(void *addr, size_t npages, uint64_t gen)
{
	fill_at(addr, npages, gen, 0);
}

/*
 * Number of pages whose first/last word differ from @gen's pattern, @addr
 * being page @first of the filled range.
 */
static int check_gen_at(void *addr, size_t npages, uint64_t gen, size_t first)
{
	int bad = 0;

	for (size_t i = 0; i < npages; i++) {
		volatile uint64_t *w = (uint64_t *)((char *)addr + i * PG);
		uint64_t a, b;

		if (probe_read(&w[0], &a) || probe_read(&w[PG / 8 - 1], &b) ||
		    a != pat(gen, first + i) || b != pat(gen, first + i))
			bad++;
	}
	return bad;
}

static int check_gen(void *addr, size_t npages, uint64_t gen)
{
	return check_gen_at(addr, npages, gen, 0);
}

/* Count pages that fault on read through @addr. */
static int count_faults(void *addr, size_t npages)
{
	int n = 0;
	uint64_t v;

	for (size_t i = 0; i < npages; i++)
		if (probe_read((uint64_t *)((char *)addr + i * PG), &v))
			n++;
	return n;
}

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* ---- exporter process ---------------------------------------------------- */

struct peer {
	pid_t pid;
	int to;
	int from;
};

static int xwrite(int fd, const void *b, size_t n)
{
	return write(fd, b, n) == (ssize_t)n ? 0 : -1;
}

static int xread(int fd, void *b, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)b + got, n - got);

		if (r <= 0)
			return -1;
		got += r;
	}
	return 0;
}

struct cmd {
	char op;
	uint64_t arg;
};

#define EXP_PAGES 16

/*
 * Exporter: owns a region of EXP_PAGES pages filled with pattern gen 1,
 * exported as one segment (or the whole address space with 'A').
 */
static void exporter_main(int in, int out)
{
	size_t len = EXP_PAGES * PG;
	char *region = map_anon(len);
	xpmem_segid_t segid = -1;
	struct cmd c;
	uint64_t r;

	fill(region, EXP_PAGES, 1);
	while (xread(in, &c, sizeof(c)) == 0) {
		r = 0;
		switch (c.op) {
		case 'S':	/* segment over the region */
			segid = xpmem_make(region, len, XPMEM_PERMIT_MODE,
					   (void *)c.arg);
			r = segid;
			break;
		case 'A':	/* whole address space */
			segid = xpmem_make(0, XPMEM_MAXADDR_SIZE,
					   XPMEM_PERMIT_MODE, (void *)c.arg);
			r = segid;
			break;
		case 'a':
			r = (uintptr_t)region;
			break;
		case 'W':
			fill(region, EXP_PAGES, c.arg);
			break;
		case 'Q':
			r = ((volatile uint64_t *)region)[c.arg * PG / 8];
			break;
		case 'U':
			r = munmap(region, len);
			break;
		case 'N':
			r = mprotect(region, len, PROT_NONE);
			break;
		case 'Y':
			r = mprotect(region, len, PROT_READ | PROT_WRITE);
			break;
		case 'D':
			r = madvise(region, len, MADV_DONTNEED);
			break;
		case 'F': {	/* fork; the child writes gen arg and exits */
			pid_t p = fork();
			int st;

			if (p == 0) {
				fill(region, EXP_PAGES, c.arg);
				_exit(0);
			}
			waitpid(p, &st, 0);
			break;
		}
		case 'C': {	/* fork; we write gen arg while the child shares */
			int pp[2];
			pid_t p;
			char x;
			int st;

			if (pipe(pp))
				break;
			p = fork();
			if (p == 0) {
				close(pp[1]);
				(void)!read(pp[0], &x, 1);
				_exit(0);
			}
			fill(region, EXP_PAGES, c.arg);
			close(pp[1]);
			waitpid(p, &st, 0);
			close(pp[0]);
			break;
		}
		case 'M': {	/* mremap the region elsewhere */
			char *dst = mmap(NULL, len, PROT_NONE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			char *n = mremap(region, len, len,
					 MREMAP_MAYMOVE | MREMAP_FIXED, dst);

			r = n == MAP_FAILED ? (uint64_t)-1 : 0;
			if (n != MAP_FAILED)
				region = n;
			break;
		}
		case 'R':
			r = xpmem_remove(segid);
			break;
		case 'G': {	/* move_pages to node arg; r = pages moved */
			void *pages[EXP_PAGES];
			int nodes[EXP_PAGES], status[EXP_PAGES];
			long ret;

			for (int i = 0; i < EXP_PAGES; i++) {
				pages[i] = region + i * PG;
				nodes[i] = c.arg;
				status[i] = -1;
			}
			ret = syscall(SYS_move_pages, 0, EXP_PAGES, pages,
				      nodes, status, 0);
			r = 0;
			if (ret == 0)
				for (int i = 0; i < EXP_PAGES; i++)
					r += status[i] == (int)c.arg;
			break;
		}
		case 'X':
			_exit(0);
		}
		if (xwrite(out, &r, sizeof(r)))
			_exit(1);
	}
	_exit(0);
}

static int peer_start(struct peer *p)
{
	int a[2], b[2];

	if (pipe(a) || pipe(b))
		return -1;
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		close(a[1]);
		close(b[0]);
		exporter_main(a[0], b[1]);
	}
	close(a[0]);
	close(b[1]);
	p->to = a[1];
	p->from = b[0];
	return 0;
}

static uint64_t peer_cmd(struct peer *p, char op, uint64_t arg)
{
	struct cmd c = { .op = op, .arg = arg };
	uint64_t r = (uint64_t)-2;

	if (xwrite(p->to, &c, sizeof(c)) || xread(p->from, &r, sizeof(r)))
		return (uint64_t)-2;
	return r;
}

static void peer_stop(struct peer *p)
{
	int st;

	close(p->to);
	close(p->from);
	waitpid(p->pid, &st, 0);
}

/* Start an exporter and attach its region read-write. */
static int peer_attach(struct peer *p, void **att, xpmem_apid_t *apid)
{
	xpmem_segid_t segid;
	struct xpmem_addr a;

	if (peer_start(p))
		return -1;
	segid = peer_cmd(p, 'S', 0666);
	if ((int64_t)segid <= 0)
		return -1;
	*apid = xpmem_get(segid, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	if (*apid == -1)
		return -1;
	a.apid = *apid;
	a.offset = 0;
	*att = xpmem_attach(a, EXP_PAGES * PG, NULL);
	return *att == (void *)-1 ? -1 : 0;
}

/* ---- cases ------------------------------------------------------------- */

static int t_version(void)
{
	int v = xpmem_version();

	CHECK(v >= 0x00027004);
	return 0;
}

static int t_make_errors(void)
{
	char *buf = map_anon(4 * PG);
	xpmem_segid_t s;

	CHECK(buf);
	CHECK_ERR(xpmem_make(buf + 1, PG, XPMEM_PERMIT_MODE, PERMIT), EINVAL);
	CHECK_ERR(xpmem_make(buf, PG + 1, XPMEM_PERMIT_MODE, PERMIT), EINVAL);
	CHECK_ERR(xpmem_make(buf, 0, XPMEM_PERMIT_MODE, PERMIT), EINVAL);
	CHECK_ERR(xpmem_make(buf, -PG, XPMEM_PERMIT_MODE, PERMIT), EINVAL);
	CHECK_ERR(xpmem_make((void *)-PG, 2 * PG, XPMEM_PERMIT_MODE, PERMIT),
		  EINVAL);
	CHECK_ERR(xpmem_make(buf, PG, 0, PERMIT), EINVAL);
	CHECK_ERR(xpmem_make(buf, PG, 2, PERMIT), EINVAL);
	CHECK_ERR(xpmem_make(buf, PG, XPMEM_PERMIT_MODE, (void *)01000),
		  EINVAL);
	s = xpmem_make(buf, 4 * PG, XPMEM_PERMIT_MODE, PERMIT);
	CHECK(s > 0);
	CHECK(xpmem_remove(s) == 0);
	s = xpmem_make(0, XPMEM_MAXADDR_SIZE, XPMEM_PERMIT_MODE, PERMIT);
	CHECK(s > 0);
	CHECK(xpmem_remove(s) == 0);
	return 0;
}

static int t_remove_errors(void)
{
	char *buf = map_anon(PG);
	xpmem_segid_t s;

	CHECK(buf);
	CHECK_ERR(xpmem_remove(-1), EINVAL);
	CHECK_ERR(xpmem_remove(0), EINVAL);
	CHECK_ERR(xpmem_remove(0x123456789), EINVAL);
	s = xpmem_make(buf, PG, XPMEM_PERMIT_MODE, PERMIT);
	CHECK(s > 0);
	CHECK(xpmem_remove(s) == 0);
	CHECK_ERR(xpmem_remove(s), EINVAL);
	return 0;
}

static int t_get_release_errors(void)
{
	char *buf = map_anon(PG);
	xpmem_segid_t s;
	xpmem_apid_t a;

	CHECK(buf);
	s = xpmem_make(buf, PG, XPMEM_PERMIT_MODE, PERMIT);
	CHECK(s > 0);
	CHECK_ERR(xpmem_get(-1, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL), ENOENT);
	CHECK_ERR(xpmem_get(0, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL), ENOENT);
	CHECK_ERR(xpmem_get(s ^ (1LL << 40), XPMEM_RDWR, XPMEM_PERMIT_MODE,
			    NULL), ENOENT);
	CHECK_ERR(xpmem_get(s, 0, XPMEM_PERMIT_MODE, NULL), EINVAL);
	CHECK_ERR(xpmem_get(s, 3, XPMEM_PERMIT_MODE, NULL), EINVAL);
	CHECK_ERR(xpmem_get(s, 4, XPMEM_PERMIT_MODE, NULL), EINVAL);
	CHECK_ERR(xpmem_get(s, XPMEM_RDWR, 0, NULL), EINVAL);
	CHECK_ERR(xpmem_get(s, XPMEM_RDWR, 2, NULL), EINVAL);
	a = xpmem_get(s, XPMEM_RDONLY, XPMEM_PERMIT_MODE, NULL);
	CHECK(a > 0);
	CHECK_ERR(xpmem_release(-1), EINVAL);
	CHECK_ERR(xpmem_release(0x7777777), EINVAL);
	CHECK(xpmem_release(a) == 0);
	CHECK_ERR(xpmem_release(a), EINVAL);
	CHECK(xpmem_remove(s) == 0);
	CHECK_ERR(xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL), ENOENT);
	return 0;
}

static int t_attach_errors(void)
{
	char *buf = map_anon(4 * PG);
	struct xpmem_addr ad;
	xpmem_segid_t s;
	xpmem_apid_t a;
	char *p;

	CHECK(buf);
	s = xpmem_make(buf, 4 * PG, XPMEM_PERMIT_MODE, PERMIT);
	CHECK(s > 0);
	a = xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	CHECK(a > 0);
	ad.apid = a;
	ad.offset = 0;
	CHECK_ERR(xpmem_attach(ad, 5 * PG, NULL), EINVAL);
	CHECK_ERR(xpmem_attach(ad, 0, NULL), EINVAL);
	ad.offset = 4 * PG;
	CHECK_ERR(xpmem_attach(ad, PG, NULL), EINVAL);
	ad.offset = 3 * PG;
	CHECK_ERR(xpmem_attach(ad, 2 * PG, NULL), EINVAL);
	ad.offset = -PG;
	CHECK_ERR(xpmem_attach(ad, PG, NULL), EINVAL);
	ad.offset = 0;
	CHECK_ERR(xpmem_attach(ad, PG, (void *)(buf + 1)), EINVAL);
	ad.apid = 0x55555;
	CHECK_ERR(xpmem_attach(ad, PG, NULL), EINVAL);
	ad.apid = a;
	/* raw mmap of the device outside ATTACH is refused */
	{
		int fd = open("/dev/xpmem", O_RDWR);

		CHECK(fd >= 0);
		CHECK(mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0) ==
		      MAP_FAILED);
		close(fd);
	}
	/* unaligned offset: whole first page mapped, address keeps offset */
	buf[PG + 100] = 42;
	ad.offset = PG + 100;
	p = xpmem_attach(ad, 10, NULL);
	CHECK(p != (void *)-1);
	CHECK(((uintptr_t)p & (PG - 1)) == 100);
	CHECK(*p == 42);
	CHECK(xpmem_detach(p) == 0);
	CHECK_ERR(xpmem_detach(buf), EINVAL);
	CHECK(xpmem_release(a) == 0);
	ad.offset = 0;
	CHECK_ERR(xpmem_attach(ad, PG, NULL), EINVAL);
	CHECK(xpmem_remove(s) == 0);
	return 0;
}

static int t_self_attach(void)
{
	size_t n = 32;
	char *buf = map_anon(n * PG);
	struct xpmem_addr ad;
	xpmem_segid_t s;
	xpmem_apid_t a;
	char *p, *q;

	CHECK(buf);
	fill(buf, n, 7);
	s = xpmem_make(buf, n * PG, XPMEM_PERMIT_MODE, (void *)0600);
	CHECK(s > 0);
	a = xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	CHECK(a > 0);
	ad.apid = a;
	ad.offset = 0;
	p = xpmem_attach(ad, n * PG, NULL);
	CHECK(p != (void *)-1);
	CHECK(check_gen(p, n, 7) == 0);
	fill(p, n, 8);
	CHECK(check_gen(buf, n, 8) == 0);
	fill(buf, n, 9);
	CHECK(check_gen(p, n, 9) == 0);
	/* fixed address, second attachment of the same range */
	q = mmap(NULL, n * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(q != MAP_FAILED);
	CHECK(xpmem_attach(ad, n * PG, q) == q);
	CHECK(check_gen(q, n, 9) == 0);
	/* partial munmap of an attachment splits it; the rest keeps working */
	CHECK(munmap(q + 4 * PG, 4 * PG) == 0);
	fill(buf, n, 10);
	CHECK(check_gen(q, 4, 10) == 0);
	CHECK(check_gen_at(q + 8 * PG, n - 8, 10, 8) == 0);
	/* move part of the attachment: still coherent at the new address */
	{
		char *dst = mmap(NULL, 8 * PG, PROT_NONE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char *r = mremap(q + 8 * PG, 8 * PG, 8 * PG,
				 MREMAP_MAYMOVE | MREMAP_FIXED, dst);

		CHECK(dst != MAP_FAILED && r == dst);
		CHECK(check_gen_at(r, 8, 10, 8) == 0);
		fill(buf, n, 11);
		CHECK(check_gen_at(r, 8, 11, 8) == 0);
		CHECK(xpmem_detach(r) == 0);
		CHECK(count_faults(r, 8) == 8);
		CHECK(check_gen_at(q + 16 * PG, n - 16, 11, 16) == 0);
	}
	CHECK(xpmem_detach(q + 16 * PG) == 0);
	CHECK(count_faults(q + 16 * PG, n - 16) == (int)(n - 16));
	CHECK(xpmem_detach(p) == 0);
	CHECK(count_faults(p, n) == (int)n);
	CHECK(xpmem_release(a) == 0);
	CHECK(count_faults(q, 4) == 4);	/* released: SIGBUS */
	CHECK(xpmem_remove(s) == 0);
	return 0;
}

/* Whole-address-space segment of our own mm (what UCX does). */
static int t_self_maxaddr(void)
{
	size_t n = 8;
	char *buf = map_anon(n * PG);
	struct xpmem_addr ad;
	xpmem_segid_t s;
	xpmem_apid_t a;
	char *p;

	CHECK(buf);
	fill(buf, n, 3);
	s = xpmem_make(0, XPMEM_MAXADDR_SIZE, XPMEM_PERMIT_MODE, PERMIT);
	CHECK(s > 0);
	a = xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	CHECK(a > 0);
	ad.apid = a;
	ad.offset = (uintptr_t)buf;
	p = xpmem_attach(ad, n * PG, NULL);
	CHECK(p != (void *)-1);
	CHECK(check_gen(p, n, 3) == 0);
	fill(p, n, 4);
	CHECK(check_gen(buf, n, 4) == 0);
	/* the attachment itself lies in the segment: touching it via a
	 * second attachment is a fault, not a deadlock */
	ad.offset = (uintptr_t)p;
	{
		char *pp = xpmem_attach(ad, n * PG, NULL);
		uint64_t v;

		CHECK(pp != (void *)-1);
		CHECK(probe_read((uint64_t *)pp, &v) != 0);
		CHECK(xpmem_detach(pp) == 0);
	}
	CHECK(madvise(buf, n * PG, MADV_DONTNEED) == 0);
	for (size_t i = 0; i < n; i++) {
		uint64_t v;

		CHECK(probe_read((uint64_t *)(p + i * PG), &v) == 0 && v == 0);
	}
	CHECK(munmap(buf, n * PG) == 0);
	CHECK(count_faults(p, n) == (int)n);
	CHECK(xpmem_detach(p) == 0);
	CHECK(xpmem_release(a) == 0);
	CHECK(xpmem_remove(s) == 0);
	return 0;
}

/* Child does GET RDONLY + attach itself and writes: must die by SIGSEGV. */
static int t_rdonly_write_segv(void)
{
	size_t n = 2;
	char *buf = map_anon(n * PG);
	xpmem_segid_t s;
	pid_t pid;
	int st;

	CHECK(buf);
	fill(buf, n, 5);
	s = xpmem_make(buf, n * PG, XPMEM_PERMIT_MODE, PERMIT);
	CHECK(s > 0);
	pid = fork();
	if (pid == 0) {
		struct xpmem_addr ad;
		xpmem_apid_t a;
		char *p;

		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		a = xpmem_get(s, XPMEM_RDONLY, XPMEM_PERMIT_MODE, NULL);
		if (a == -1)
			_exit(2);
		ad.apid = a;
		ad.offset = 0;
		p = xpmem_attach(ad, n * PG, NULL);
		if (p == (void *)-1)
			_exit(3);
		if (check_gen(p, n, 5))
			_exit(4);
		if (mprotect(p, n * PG, PROT_READ | PROT_WRITE) == 0)
			_exit(5);
		*(volatile char *)p = 1;
		_exit(6);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFSIGNALED(st))
		FAIL("child exited %d", WEXITSTATUS(st));
	CHECK(WTERMSIG(st) == SIGSEGV);
	CHECK(check_gen(buf, n, 5) == 0);
	CHECK(xpmem_remove(s) == 0);
	return 0;
}

/* Inherited fd: NOPROC for the child; the library reopens; no attachments
 * are inherited. */
static int t_fork_child(void)
{
	char *buf = map_anon(PG);
	struct xpmem_addr ad;
	xpmem_segid_t s;
	xpmem_apid_t a;
	char *p;
	pid_t pid;
	int fd, st;

	CHECK(buf);
	fd = open("/dev/xpmem", O_RDWR);
	CHECK(fd >= 0);
	buf[0] = 11;
	s = xpmem_make(buf, PG, XPMEM_PERMIT_MODE, PERMIT);
	CHECK(s > 0);
	a = xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	ad.apid = a;
	ad.offset = 0;
	p = xpmem_attach(ad, PG, NULL);
	CHECK(p != (void *)-1);
	pid = fork();
	if (pid == 0) {
		struct xpmem_cmd_remove rm = { .segid = s };
		uint64_t v;

		if (ioctl(fd, XPMEM_CMD_REMOVE, &rm) != -1 ||
		    errno != XPMEM_ERRNO_NOPROC)
			_exit(2);
		if (ioctl(fd, XPMEM_CMD_VERSION, NULL) < 0x00027004)
			_exit(3);
		/* not the parent: cannot remove or release its ids */
		if (xpmem_remove(s) != -1 || xpmem_release(a) != -1)
			_exit(4);
		/* attachment not inherited */
		if (probe_read((uint64_t *)p, &v) != SIGSEGV)
			_exit(5);
		/* the child can use the segment itself */
		a = xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
		ad.apid = a;
		p = xpmem_attach(ad, PG, NULL);
		if (a == -1 || p == (void *)-1 || *p != 11)
			_exit(6);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		FAIL("child status 0x%x", st);
	CHECK(*p == 11);
	CHECK(xpmem_remove(s) == 0);
	close(fd);
	return 0;
}

/* Permission matrix, as non-root users. */
static int t_permissions(void)
{
	static const int modes[] = { 0000, 0200, 0400, 0600, 0040, 0060,
				     0004, 0006, 0777, 0444 };
	enum { NM = sizeof(modes) / sizeof(modes[0]) };
	struct { uid_t uid; gid_t gid; int shift; } who[] = {
		{ 1000, 2000, 6 },	/* owner */
		{ 2000, 1000, 3 },	/* group */
		{ 2000, 2000, 0 },	/* other */
		{ 0, 0, -1 },		/* root */
	};
	xpmem_segid_t segs[NM];
	int a[2], b[2];
	pid_t maker;
	int st;

	CHECK(pipe(a) == 0 && pipe(b) == 0);
	maker = fork();
	if (maker == 0) {
		char x;

		if (setgroups(0, NULL) || setresgid(1000, 1000, 1000) ||
		    setresuid(1000, 1000, 1000))
			_exit(2);
		char *buf = map_anon(PG);

		for (int i = 0; i < NM; i++)
			segs[i] = xpmem_make(buf, PG, XPMEM_PERMIT_MODE,
					     (void *)(uintptr_t)modes[i]);
		(void)!write(a[1], segs, sizeof(segs));
		(void)!read(b[0], &x, 1);
		_exit(0);
	}
	CHECK(xread(a[0], segs, sizeof(segs)) == 0);
	for (int i = 0; i < NM; i++)
		CHECK(segs[i] > 0);

	int fails = 0;

	for (size_t w = 0; w < sizeof(who) / sizeof(who[0]); w++) {
		pid_t p = fork();

		if (p == 0) {
			int bad = 0;

			if (who[w].uid &&
			    (setgroups(0, NULL) ||
			     setresgid(who[w].gid, who[w].gid, who[w].gid) ||
			     setresuid(who[w].uid, who[w].uid, who[w].uid)))
				_exit(100);
			for (int i = 0; i < NM; i++) {
				for (int f = XPMEM_RDONLY; f <= XPMEM_RDWR; f++) {
					int bits = who[w].shift < 0 ? 7 :
						   (modes[i] >> who[w].shift) & 7;
					int want = (bits & 4) &&
						   (f == XPMEM_RDONLY || (bits & 2));
					xpmem_apid_t ap;

					errno = 0;
					ap = xpmem_get(segs[i], f,
						       XPMEM_PERMIT_MODE, NULL);
					if (want ? ap <= 0 :
					    (ap != -1 || errno != EACCES)) {
						fprintf(stderr,
							"  uid %d gid %d mode %04o flags %d: got %lld errno %d\n",
							who[w].uid, who[w].gid,
							modes[i], f,
							(long long)ap, errno);
						bad++;
					}
				}
			}
			_exit(bad);
		}
		waitpid(p, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "  tester %zu status 0x%x\n", w, st);
			fails++;
		}
	}
	(void)!write(b[1], "x", 1);
	waitpid(maker, &st, 0);
	CHECK(fails == 0);
	return 0;
}

/* Another process exports; we read and write both ways. */
static int t_multiprocess(void)
{
	struct peer pe;
	xpmem_apid_t a;
	void *p;

	CHECK(peer_attach(&pe, &p, &a) == 0);
	CHECK(check_gen(p, EXP_PAGES, 1) == 0);
	fill(p, EXP_PAGES, 2);
	for (int i = 0; i < EXP_PAGES; i++)
		CHECK(peer_cmd(&pe, 'Q', i) == pat(2, i));
	CHECK(peer_cmd(&pe, 'W', 3) == 0);
	CHECK(check_gen(p, EXP_PAGES, 3) == 0);
	CHECK(xpmem_detach(p) == 0);
	CHECK(xpmem_release(a) == 0);

	/* whole address space of the peer, attach at its region's address */
	{
		xpmem_segid_t s = peer_cmd(&pe, 'A', 0644);
		uint64_t addr = peer_cmd(&pe, 'a', 0);
		struct xpmem_addr ad;
		char *q;

		CHECK((int64_t)s > 0);
		ad.apid = xpmem_get(s, XPMEM_RDONLY, XPMEM_PERMIT_MODE, NULL);
		CHECK(ad.apid > 0);
		ad.offset = addr;
		q = xpmem_attach(ad, EXP_PAGES * PG, NULL);
		CHECK(q != (void *)-1);
		CHECK(check_gen(q, EXP_PAGES, 3) == 0);
	}
	peer_cmd(&pe, 'X', 0);
	peer_stop(&pe);
	return 0;
}

/*
 * Coherence: after each source-side change the attacher sees what the
 * source sees now, or faults; never the old data.
 */
static int t_coherence(void)
{
	struct peer pe;
	xpmem_apid_t a;
	char *p;

	CHECK(peer_attach(&pe, (void **)&p, &a) == 0);
	CHECK(check_gen(p, EXP_PAGES, 1) == 0);

	/* MADV_DONTNEED: zero pages */
	CHECK(peer_cmd(&pe, 'D', 0) == 0);
	for (int i = 0; i < EXP_PAGES; i++) {
		uint64_t v;

		CHECK(probe_read((uint64_t *)(p + i * PG), &v) == 0 && v == 0);
	}
	/* rewrite from the source */
	CHECK(peer_cmd(&pe, 'W', 2) == 0);
	CHECK(check_gen(p, EXP_PAGES, 2) == 0);
	/* fork + the child writes: the source keeps gen 2 */
	CHECK(peer_cmd(&pe, 'F', 3) == 0);
	CHECK(check_gen(p, EXP_PAGES, 2) == 0);
	/* fork + the source writes (COW break in the source) */
	CHECK(peer_cmd(&pe, 'C', 4) == 0);
	CHECK(check_gen(p, EXP_PAGES, 4) == 0);
	/* attacher writes after COW are seen by the source */
	fill(p, EXP_PAGES, 5);
	CHECK(peer_cmd(&pe, 'Q', 3) == pat(5, 3));
	/* mprotect(PROT_NONE): faults; restored: data back */
	CHECK(peer_cmd(&pe, 'N', 0) == 0);
	CHECK(count_faults(p, EXP_PAGES) == EXP_PAGES);
	CHECK(peer_cmd(&pe, 'Y', 0) == 0);
	CHECK(check_gen(p, EXP_PAGES, 5) == 0);
	/* mremap away: the old range is a hole now */
	CHECK(peer_cmd(&pe, 'M', 0) == 0);
	CHECK(count_faults(p, EXP_PAGES) == EXP_PAGES);
	peer_cmd(&pe, 'X', 0);
	peer_stop(&pe);

	/* munmap */
	CHECK(peer_attach(&pe, (void **)&p, &a) == 0);
	CHECK(check_gen(p, EXP_PAGES, 1) == 0);
	CHECK(peer_cmd(&pe, 'U', 0) == 0);
	CHECK(count_faults(p, EXP_PAGES) == EXP_PAGES);
	peer_cmd(&pe, 'X', 0);
	peer_stop(&pe);

	/* xpmem_remove */
	CHECK(peer_attach(&pe, (void **)&p, &a) == 0);
	CHECK(check_gen(p, EXP_PAGES, 1) == 0);
	CHECK(peer_cmd(&pe, 'R', 0) == 0);
	CHECK(count_faults(p, EXP_PAGES) == EXP_PAGES);
	CHECK(xpmem_detach(p) == 0);
	CHECK(xpmem_release(a) == 0);
	peer_cmd(&pe, 'X', 0);
	peer_stop(&pe);

	/* source exit, attachment touched before and after */
	CHECK(peer_attach(&pe, (void **)&p, &a) == 0);
	CHECK(check_gen(p, EXP_PAGES / 2, 1) == 0);
	peer_cmd(&pe, 'X', 0);
	peer_stop(&pe);
	CHECK(count_faults(p, EXP_PAGES) == EXP_PAGES);
	CHECK(xpmem_detach(p) == 0);
	CHECK(xpmem_release(a) == 0);
	return 0;
}

/* Zero page mapped read-only, then a write through the attachment. */
static int t_zero_page_write(void)
{
	struct peer pe;
	xpmem_apid_t a;
	uint64_t v;
	char *p;

	CHECK(peer_attach(&pe, (void **)&p, &a) == 0);
	CHECK(peer_cmd(&pe, 'D', 0) == 0);
	for (int i = 0; i < EXP_PAGES; i++)
		CHECK(probe_read((uint64_t *)(p + i * PG), &v) == 0 && v == 0);
	for (int i = 0; i < EXP_PAGES; i += 3)
		*(volatile uint64_t *)(p + i * PG) = pat(7, i);
	for (int i = 0; i < EXP_PAGES; i++)
		CHECK(peer_cmd(&pe, 'Q', i) == (i % 3 ? 0 : pat(7, i)));
	peer_cmd(&pe, 'X', 0);
	peer_stop(&pe);
	return 0;
}

/* Attachments outlive the device fd: closing it releases them (SIGBUS),
 * exiting with live attachments and segments is clean. */
static int t_close_with_attachments(void)
{
	size_t n = 4;
	char *buf = map_anon(n * PG);
	struct xpmem_addr ad;
	xpmem_segid_t s;
	pid_t pid;
	char *p;
	int st;

	CHECK(buf);
	fill(buf, n, 2);
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/xpmem", O_RDWR);
		struct xpmem_cmd_make mk = { .vaddr = (uintptr_t)buf,
			.size = n * PG, .permit_type = XPMEM_PERMIT_MODE,
			.permit_value = 0600 };
		struct xpmem_cmd_get g = { .flags = XPMEM_RDWR,
			.permit_type = XPMEM_PERMIT_MODE };
		struct xpmem_cmd_attach at = { .size = n * PG };

		if (fd < 0 || ioctl(fd, XPMEM_CMD_MAKE, &mk))
			_exit(2);
		g.segid = mk.segid;
		if (ioctl(fd, XPMEM_CMD_GET, &g))
			_exit(3);
		at.apid = g.apid;
		if (ioctl(fd, XPMEM_CMD_ATTACH, &at))
			_exit(4);
		p = (char *)(uintptr_t)at.vaddr;
		if (check_gen(p, n, 2))
			_exit(5);
		close(fd);
		if (count_faults(p, n) != (int)n)
			_exit(6);
		if (munmap(p, n * PG))
			_exit(7);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		FAIL("child status 0x%x", st);

	/* exit with everything live; the attacher is another process */
	s = xpmem_make(buf, n * PG, XPMEM_PERMIT_MODE, PERMIT);
	CHECK(s > 0);
	pid = fork();
	if (pid == 0) {
		ad.apid = xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
		ad.offset = 0;
		p = xpmem_attach(ad, n * PG, NULL);
		if (p == (void *)-1 || check_gen(p, n, 2))
			_exit(2);
		_exit(0);	/* no detach, no release */
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* self attachment + segment left for exit to clean */
	ad.apid = xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	ad.offset = 0;
	p = xpmem_attach(ad, n * PG, NULL);
	CHECK(p != (void *)-1);
	CHECK(check_gen(p, n, 2) == 0);
	return 0;
}

/* Threads faulting the same pages while the source remaps them. */
#define MT_THREADS 3
static char *mt_att;
static _Atomic int mt_stop;
static _Atomic long mt_bad;

static void *mt_toucher(void *arg)
{
	unsigned int seed = (uintptr_t)arg;

	while (!atomic_load(&mt_stop)) {
		size_t i = rand_r(&seed) % EXP_PAGES;
		uint64_t v;

		if (probe_read((uint64_t *)(mt_att + i * PG), &v) == 0 &&
		    (v & 0xffffffff) != i && v != 0)
			atomic_fetch_add(&mt_bad, 1);
		if (rand_r(&seed) % 4 == 0)
			probe_write((uint64_t *)(mt_att + i * PG) + 1, v);
	}
	return NULL;
}

static int t_mt_faults(void)
{
	pthread_t th[MT_THREADS];
	struct peer pe;
	xpmem_apid_t a;
	time_t end;

	CHECK(peer_attach(&pe, (void **)&mt_att, &a) == 0);
	for (int i = 0; i < MT_THREADS; i++)
		pthread_create(&th[i], NULL, mt_toucher,
			       (void *)(uintptr_t)(i + 1));
	end = time(NULL) + stress_secs(2);
	for (uint64_t g = 2; time(NULL) < end; g++) {
		char op = "DWNYFCW"[g % 7];

		if (peer_cmd(&pe, op, g) == (uint64_t)-2)
			FAIL("exporter died");
		if (op == 'N')
			peer_cmd(&pe, 'Y', 0);
	}
	atomic_store(&mt_stop, 1);
	for (int i = 0; i < MT_THREADS; i++)
		pthread_join(th[i], NULL);
	CHECK(mt_bad == 0);
	CHECK(peer_cmd(&pe, 'W', 99) == 0);
	CHECK(check_gen(mt_att, EXP_PAGES, 99) == 0);
	peer_cmd(&pe, 'X', 0);
	peer_stop(&pe);
	return 0;
}

/* Segment teardown (exit, remove, release, detach) while threads fault. */
static char *tr_att;
static _Atomic int tr_stop;

static void *tr_reader(void *arg)
{
	uint64_t v;
	size_t i = (uintptr_t)arg;

	while (!atomic_load(&tr_stop)) {
		probe_read((uint64_t *)(tr_att + (i % EXP_PAGES) * PG), &v);
		i += 5;
	}
	return NULL;
}

static int t_teardown_race(void)
{
	time_t end = time(NULL) + stress_secs(2);
	int rounds = 0;

	while (time(NULL) < end || rounds < 8) {
		pthread_t th[2];
		struct peer pe;
		xpmem_apid_t a;
		int how = rounds++ % 4;

		CHECK(peer_attach(&pe, (void **)&tr_att, &a) == 0);
		atomic_store(&tr_stop, 0);
		for (int i = 0; i < 2; i++)
			pthread_create(&th[i], NULL, tr_reader,
				       (void *)(uintptr_t)i);
		usleep(2000);
		switch (how) {
		case 0:	/* exited = reaped: its fd was closed too */
			peer_cmd(&pe, 'X', 0);
			peer_stop(&pe);
			break;
		case 1:
			CHECK(peer_cmd(&pe, 'R', 0) == 0);
			break;
		case 2:
			CHECK(xpmem_release(a) == 0);
			break;
		case 3:
			CHECK(xpmem_detach(tr_att) == 0);
			break;
		}
		usleep(2000);
		if (how != 3)
			CHECK(count_faults(tr_att, EXP_PAGES) == EXP_PAGES);
		atomic_store(&tr_stop, 1);
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		if (how != 3)
			CHECK(xpmem_detach(tr_att) == 0);
		if (how == 1 || how == 3)
			CHECK(xpmem_release(a) == 0);
		if (how) {
			peer_cmd(&pe, 'X', 0);
			peer_stop(&pe);
		}
	}
	fprintf(stderr, "  %d rounds\n", rounds);
	return 0;
}

/* Counters of segment @s from debugfs; -1 if not found. */
static int seg_counters(xpmem_segid_t s, long long c[5])
{
	char line[256], want[32];
	FILE *f = fopen("/sys/kernel/debug/xpmem/segments", "r");

	for (int i = 0; i < 5; i++)
		c[i] = -1;
	if (!f)
		return -1;
	snprintf(want, sizeof(want), "0x%016llx ", (long long)s);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want)))
			sscanf(line, "%*s %*s %*s %lld %lld %lld %lld %lld",
			       &c[0], &c[1], &c[2], &c[3], &c[4]);
	fclose(f);
	return c[0] < 0 ? -1 : 0;
}

static long smaps_anon_huge(void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	int in = 0;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;

		if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, ' ') &&
		    line[strspn(line, "0123456789abcdef")] == '-')
			in = (uintptr_t)addr >= a && (uintptr_t)addr < b;
		else if (in && !strncmp(line, "AnonHugePages:", 14))
			kb = strtol(line + 14, NULL, 10);
	}
	fclose(f);
	return kb;
}

/* Source THPs are mapped with one PMD; splitting/COW/munmap stay coherent. */
static int t_thp(void)
{
	const size_t H = 2UL << 20, len = 2 * H, n = len / PG;
	char *raw = mmap(NULL, len + H, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *buf = (char *)(((uintptr_t)raw + H - 1) & ~(H - 1));
	long long c[5];
	struct xpmem_addr ad;
	xpmem_segid_t s;
	char *p;
	pid_t pid;
	int st;

	CHECK(raw != MAP_FAILED);
	CHECK(madvise(buf, len, MADV_HUGEPAGE) == 0);
	fill(buf, n, 1);
	if (smaps_anon_huge(buf) < 2048) {
		fprintf(stderr, "  no THP for the source (AnonHugePages %ld kB)\n",
			smaps_anon_huge(buf));
		return SKIP_RC;
	}
	s = xpmem_make(buf, len, XPMEM_PERMIT_MODE, PERMIT);
	CHECK(s > 0);
	ad.apid = xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	ad.offset = 0;
	p = xpmem_attach(ad, len, NULL);
	CHECK(p != (void *)-1);
	CHECK(((uintptr_t)p & (H - 1)) == 0);
	CHECK(check_gen(p, n, 1) == 0);
	CHECK(seg_counters(s, c) == 0);
	fprintf(stderr, "  faults %lld pmds %lld\n", c[0], c[4]);
	CHECK(c[4] >= 2 && c[0] <= 4);
	/* writes both ways through the PMD */
	fill(p, n, 2);
	CHECK(check_gen(buf, n, 2) == 0);
	fill(buf, n, 3);
	CHECK(check_gen(p, n, 3) == 0);
	/* another process attaching the same THP */
	pid = fork();
	if (pid == 0) {
		struct xpmem_addr a2 = { .offset = 0 };
		char *q;

		a2.apid = xpmem_get(s, XPMEM_RDONLY, XPMEM_PERMIT_MODE, NULL);
		q = xpmem_attach(a2, len, NULL);
		_exit(q == (void *)-1 || check_gen(q, n, 3));
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	      WEXITSTATUS(st) == 0);
	/* COW: fork the source, write in the source */
	pid = fork();
	if (pid == 0) {
		sleep(2);
		_exit(0);
	}
	fill(buf, n / 2, 4);
	CHECK(check_gen(p, n / 2, 4) == 0);
	CHECK(check_gen_at(p + len / 2, n / 2, 3, n / 2) == 0);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	/* COW again, first read (read-only PMD), then write through it */
	pid = fork();
	if (pid == 0) {
		sleep(2);
		_exit(0);
	}
	CHECK(check_gen_at(p + len / 2, n / 2, 3, n / 2) == 0);
	fill_at(p + len / 2, n / 4, 5, n / 2);
	CHECK(check_gen_at(buf + len / 2, n / 4, 5, n / 2) == 0);
	CHECK(check_gen_at(buf + 3 * len / 4, n / 4, 3, 3 * n / 4) == 0);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	/* split the second THP by punching one page out of its last quarter */
	{
		size_t q = 3 * n / 4;	/* first page of the last quarter */

		CHECK(munmap(buf + (q + 5) * PG, PG) == 0);
		CHECK(count_faults(p + (q + 5) * PG, 1) == 1);
		CHECK(check_gen_at(p + q * PG, 5, 3, q) == 0);
		CHECK(check_gen_at(p + (q + 6) * PG, n - q - 6, 3, q + 6) == 0);
		CHECK(check_gen_at(p + H, n / 4, 5, n / 2) == 0);
	}
	CHECK(xpmem_detach(p) == 0);
	CHECK(xpmem_remove(s) == 0);
	return 0;
}

/* 2 MiB hugetlb source: PMD mappings, coherent after munmap. */
static int t_hugetlb(void)
{
	const size_t H = 2UL << 20, len = 2 * H, n = len / PG;
	struct xpmem_addr ad;
	long long c[5];
	xpmem_segid_t s;
	char *buf, *p;
	FILE *f;

	f = fopen("/proc/sys/vm/nr_hugepages", "w");
	if (f) {
		fprintf(f, "4\n");
		fclose(f);
	}
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (buf == MAP_FAILED) {
		fprintf(stderr, "  no hugetlb pages (%s)\n", strerror(errno));
		return SKIP_RC;
	}
	fill(buf, n, 1);
	s = xpmem_make(buf, len, XPMEM_PERMIT_MODE, PERMIT);
	CHECK(s > 0);
	ad.apid = xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	ad.offset = 0;
	p = xpmem_attach(ad, len, NULL);
	CHECK(p != (void *)-1);
	CHECK(check_gen(p, n, 1) == 0);
	fill(p, n, 2);
	CHECK(check_gen(buf, n, 2) == 0);
	CHECK(seg_counters(s, c) == 0);
	fprintf(stderr, "  faults %lld pmds %lld\n", c[0], c[4]);
	CHECK(c[4] >= 2);
	CHECK(munmap(buf, H) == 0);
	CHECK(count_faults(p, n / 2) == (int)n / 2);
	CHECK(check_gen_at(p + H, n / 2, 2, n / 2) == 0);
	CHECK(xpmem_detach(p) == 0);
	CHECK(xpmem_remove(s) == 0);
	return 0;
}

static int write_param(const char *name, const char *val)
{
	char path[128];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/sys/module/xpmem/parameters/%s", name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	ok = fputs(val, f) >= 0;
	ok &= fclose(f) == 0;
	return ok ? 0 : -1;
}

/* fault_window_pages: 1 = one fault per page, 16 = neighbours mapped too. */
static int t_fault_window(void)
{
	size_t n = 8;
	char *buf = map_anon(n * PG);
	long long c[5];
	struct xpmem_addr ad;
	xpmem_segid_t s;
	char *p;
	int rc = 0;

	CHECK(buf);
	fill(buf, n, 1);
	s = xpmem_make(buf, n * PG, XPMEM_PERMIT_MODE, PERMIT);
	ad.apid = xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	ad.offset = 0;
	CHECK(write_param("fault_window_pages", "0") == -1);
	CHECK(write_param("fault_window_pages", "65") == -1);
	CHECK(write_param("fault_window_pages", "1") == 0);
	p = xpmem_attach(ad, n * PG, NULL);
	CHECK(p != (void *)-1);
	if (check_gen(p, n, 1) || seg_counters(s, c) || c[0] != (long long)n) {
		fprintf(stderr, "  window 1: %lld faults for %zu pages\n", c[0], n);
		rc = 1;
	}
	CHECK(xpmem_detach(p) == 0);
	CHECK(write_param("fault_window_pages", "16") == 0);
	p = xpmem_attach(ad, n * PG, NULL);
	CHECK(p != (void *)-1);
	if (check_gen(p, n, 1) || seg_counters(s, c) ||
	    c[0] != (long long)n + 1) {
		fprintf(stderr, "  window 16: %lld faults in all\n", c[0]);
		rc = 1;
	}
	return rc;
}

/* debugfs counters move with faults and invalidations. */
static int t_debugfs_counters(void)
{
	size_t n = 4;
	char *buf = map_anon(n * PG);
	long long faults = -1, mapped = -1, inval = -1, zapped = -1;
	char line[256], want[32];
	struct xpmem_addr ad;
	xpmem_segid_t s;
	FILE *f;
	char *p;

	CHECK(buf);
	fill(buf, n, 1);
	s = xpmem_make(buf, n * PG, XPMEM_PERMIT_MODE, PERMIT);
	CHECK(s > 0);
	ad.apid = xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	ad.offset = 0;
	p = xpmem_attach(ad, n * PG, NULL);
	CHECK(p != (void *)-1);
	CHECK(check_gen(p, n, 1) == 0);
	CHECK(madvise(buf, n * PG, MADV_DONTNEED) == 0);
	f = fopen("/sys/kernel/debug/xpmem/segments", "r");
	if (!f) {
		fprintf(stderr, "  no debugfs\n");
		return SKIP_RC;
	}
	snprintf(want, sizeof(want), "0x%016llx ", (long long)s);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want)))
			sscanf(line, "%*s %*s %*s %lld %lld %lld %lld", &faults,
			       &mapped, &inval, &zapped);
	fclose(f);
	fprintf(stderr, "  faults %lld mapped %lld invalidations %lld zapped %lld\n",
		faults, mapped, inval, zapped);
	CHECK(faults >= 1 && mapped >= (long long)n);
	CHECK(inval >= 1 && zapped >= (long long)n);
	return 0;
}

/* Attachment over a source hole: the hole faults, the rest works. */
static int t_holes(void)
{
	size_t n = 8;
	char *buf = map_anon(n * PG);
	struct xpmem_addr ad;
	xpmem_segid_t s;
	char *p;

	CHECK(buf);
	fill(buf, n, 6);
	CHECK(munmap(buf + 2 * PG, 2 * PG) == 0);
	s = xpmem_make(buf, n * PG, XPMEM_PERMIT_MODE, PERMIT);
	CHECK(s > 0);
	ad.apid = xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	ad.offset = 0;
	p = xpmem_attach(ad, n * PG, NULL);
	CHECK(p != (void *)-1);
	CHECK(check_gen(p, 2, 6) == 0);
	CHECK(count_faults(p + 2 * PG, 2) == 2);
	for (size_t i = 4; i < n; i++) {
		uint64_t v;

		CHECK(probe_read((uint64_t *)(p + i * PG), &v) == 0 &&
		      v == pat(6, i));
	}
	CHECK(probe_write((uint64_t *)(p + 2 * PG), 1) != 0);
	/* fill the hole: now visible */
	CHECK(mmap(buf + 2 * PG, 2 * PG, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
	      buf + 2 * PG);
	buf[2 * PG] = 9;
	CHECK(p[2 * PG] == 9);
	CHECK(xpmem_remove(s) == 0);
	return 0;
}

static int numa_nodes(void)
{
	int n = 0;
	char path[64];

	for (int i = 0; i < 64; i++) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d",
			 i);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

/* move_pages(2) of attached, touched source pages succeeds: no pins. */
static int t_migrate(void)
{
	struct peer pe;
	xpmem_apid_t a;
	char *p;

	if (numa_nodes() < 2) {
		fprintf(stderr, "  needs 2 NUMA nodes (tests/vm/run --numa)\n");
		return SKIP_RC;
	}
	CHECK(peer_attach(&pe, (void **)&p, &a) == 0);
	CHECK(check_gen(p, EXP_PAGES, 1) == 0);
	for (int round = 0; round < 2; round++) {
		int node = round == 0 ? 1 : 0;
		uint64_t moved = peer_cmd(&pe, 'G', node);

		if (moved != EXP_PAGES)
			FAIL("round %d: %llu of %d pages moved to node %d",
			     round, (unsigned long long)moved, EXP_PAGES,
			     node);
		CHECK(check_gen(p, EXP_PAGES, 1 + round) == 0);
		/* new page: a write in the source is seen through the
		 * attachment, and one through the attachment in the source */
		CHECK(peer_cmd(&pe, 'W', 2 + round) == 0);
		CHECK(check_gen(p, EXP_PAGES, 2 + round) == 0);
	}
	fill(p, EXP_PAGES, 9);
	CHECK(peer_cmd(&pe, 'Q', 5) == pat(9, 5));
	peer_cmd(&pe, 'X', 0);
	peer_stop(&pe);
	return 0;
}

/* ---- stress: readers vs. a source that remaps and rewrites ---------------- */

#define ST_PAGES 8
#define ST_READERS 2

struct stress {
	_Atomic uint64_t gen;	/* last generation fully written */
	_Atomic int stop;
};

static struct stress *st;
static char *st_att;
static _Atomic long st_reads, st_stale, st_faults;

static void *stress_reader(void *arg)
{
	unsigned int seed = (uintptr_t)arg;

	while (!atomic_load(&st->stop)) {
		size_t i = rand_r(&seed) % ST_PAGES;
		size_t w = rand_r(&seed) % (PG / 8);
		uint64_t g0 = atomic_load(&st->gen);
		uint64_t v;

		if (probe_read((uint64_t *)(st_att + i * PG) + w, &v)) {
			atomic_fetch_add(&st_faults, 1);
			continue;
		}
		atomic_fetch_add(&st_reads, 1);
		/* 0: freshly mapped, not written yet; else >= g0 */
		if (v != 0 && ((v >> 32) < g0 || (v & 0xffffffff) != i)) {
			if (atomic_fetch_add(&st_stale, 1) < 5)
				fprintf(stderr,
					"  stale: page %zu word %zu = %llx, gen was %llu\n",
					i, w, (unsigned long long)v,
					(unsigned long long)g0);
		}
	}
	return NULL;
}

static int t_stress_remap(void)
{
	size_t len = ST_PAGES * PG;
	pthread_t th[ST_READERS];
	struct xpmem_addr ad;
	xpmem_segid_t s;
	int pp[2], st_status;
	char *region;
	pid_t src;

	st = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		  -1, 0);
	CHECK(st != MAP_FAILED);
	CHECK(pipe(pp) == 0);
	region = map_anon(len);
	CHECK(region);
	fill(region, ST_PAGES, 1);
	atomic_store(&st->gen, 1);
	src = fork();
	if (src == 0) {
		time_t end = time(NULL) + stress_secs(3);
		uint64_t g = 1;

		s = xpmem_make(region, len, XPMEM_PERMIT_MODE, PERMIT);
		(void)!write(pp[1], &s, sizeof(s));
		while (time(NULL) < end) {
			g++;
			if (g & 1) {
				munmap(region, len);
				sched_yield();
			}
			if (mmap(region, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
				 0) != region)
				_exit(2);
			fill(region, ST_PAGES, g);
			atomic_store(&st->gen, g);
		}
		atomic_store(&st->stop, 1);
		fprintf(stderr, "  source: %llu generations\n",
			(unsigned long long)g);
		_exit(0);
	}
	CHECK(xread(pp[0], &s, sizeof(s)) == 0);
	CHECK(s > 0);
	ad.apid = xpmem_get(s, XPMEM_RDONLY, XPMEM_PERMIT_MODE, NULL);
	CHECK(ad.apid > 0);
	ad.offset = 0;
	st_att = xpmem_attach(ad, len, NULL);
	CHECK(st_att != (void *)-1);
	for (int i = 0; i < ST_READERS; i++)
		pthread_create(&th[i], NULL, stress_reader,
			       (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < ST_READERS; i++)
		pthread_join(th[i], NULL);
	CHECK(waitpid(src, &st_status, 0) == src);
	CHECK(WIFEXITED(st_status) && WEXITSTATUS(st_status) == 0);
	fprintf(stderr, "  %ld reads, %ld faults, %ld stale\n",
		(long)st_reads, (long)st_faults, (long)st_stale);
	CHECK(st_reads > 0);
	CHECK(st_stale == 0);
	return 0;
}

/*
 * Two processes export their whole address space and attach each other's
 * buffer (what UCX does), each remapping its own buffer while reading the
 * other's: no deadlock, no stale data.
 */
static int mutual_side(int in, int out, int seconds)
{
	size_t n = 8, len = n * PG;
	char *mine = map_anon(len);
	struct xpmem_addr ad;
	xpmem_segid_t s, peer_s;
	uint64_t peer_addr, me[2];
	char *peer;
	time_t end;
	long bad = 0;

	if (!mine)
		return 2;
	fill(mine, n, 1);
	s = xpmem_make(0, XPMEM_MAXADDR_SIZE, XPMEM_PERMIT_MODE, PERMIT);
	me[0] = s;
	me[1] = (uintptr_t)mine;
	if (s <= 0 || xwrite(out, me, sizeof(me)) ||
	    xread(in, &peer_s, sizeof(peer_s)) ||
	    xread(in, &peer_addr, sizeof(peer_addr)))
		return 3;
	ad.apid = xpmem_get(peer_s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	ad.offset = peer_addr;
	peer = xpmem_attach(ad, len, NULL);
	if (ad.apid == -1 || peer == (void *)-1)
		return 4;
	end = time(NULL) + seconds;
	for (uint64_t g = 2; time(NULL) < end; g++) {
		if (mmap(mine, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != mine)
			return 5;
		fill(mine, n, g);
		for (size_t i = 0; i < n; i++) {
			uint64_t v;

			if (probe_read((uint64_t *)(peer + i * PG), &v) == 0 &&
			    v != 0 && (v & 0xffffffff) != i)
				bad++;
		}
		/* write into the peer through the attachment too */
		probe_write((uint64_t *)(peer + (g % n) * PG) + 7, pat(g, g % n));
	}
	/* sync, then the final values must match */
	me[0] = 0;
	if (xwrite(out, me, 8) || xread(in, me, 8))
		return 6;
	return bad ? 7 : 0;
}

static int t_mutual(void)
{
	int a[2], b[2], st, rc;
	pid_t pid;

	CHECK(pipe(a) == 0 && pipe(b) == 0);
	pid = fork();
	if (pid == 0)
		_exit(mutual_side(a[0], b[1], stress_secs(3)));
	rc = mutual_side(b[0], a[1], stress_secs(3));
	CHECK(waitpid(pid, &st, 0) == pid);
	if (rc || !WIFEXITED(st) || WEXITSTATUS(st))
		FAIL("sides: %d, child status 0x%x", rc, st);
	return 0;
}

/*
 * Readers through PMD-mapped THPs while the source splits, zaps, COWs and
 * rewrites them: never a generation older than the one published.
 */
#define TS_LEN (4UL << 20)

static char *ts_att;

/* First and last word of every page only: cheap enough for many rounds. */
static void ts_fill(char *buf, uint64_t gen)
{
	for (size_t i = 0; i < TS_LEN / PG; i++) {
		uint64_t *w = (uint64_t *)(buf + i * PG);

		w[0] = pat(gen, i);
		w[PG / 8 - 1] = pat(gen, i);
	}
}

static void *ts_reader(void *arg)
{
	unsigned int seed = (uintptr_t)arg;

	while (!atomic_load(&st->stop)) {
		size_t i = rand_r(&seed) % (TS_LEN / PG);
		uint64_t g0 = atomic_load(&st->gen);
		uint64_t v;

		if (probe_read((uint64_t *)(ts_att + i * PG) +
			       (rand_r(&seed) & 1) * (PG / 8 - 1), &v)) {
			atomic_fetch_add(&st_faults, 1);
			continue;
		}
		atomic_fetch_add(&st_reads, 1);
		if (v != 0 && ((v >> 32) < g0 || (v & 0xffffffff) != i) &&
		    atomic_fetch_add(&st_stale, 1) < 5)
			fprintf(stderr, "  stale: page %zu = %llx, gen was %llu\n",
				i, (unsigned long long)v,
				(unsigned long long)g0);
	}
	return NULL;
}

static struct xpmem_addr ts_ad;

/* Fresh attachments get PMD mappings on first touch. */
static void *ts_reattacher(void *arg)
{
	/* page tables stay after detach: use fresh 2 MiB-aligned slots */
	const size_t nslots = 64;
	char *area = mmap(NULL, (nslots + 1) * TS_LEN, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	size_t slot = 0;

	(void)arg;
	if (area == MAP_FAILED)
		return NULL;
	area = (char *)(((uintptr_t)area + TS_LEN - 1) & ~(TS_LEN - 1));
	while (!atomic_load(&st->stop)) {
		char *q = xpmem_attach(ts_ad, TS_LEN,
				       area + (slot++ % nslots) * TS_LEN);

		if (q == (void *)-1) {
			atomic_fetch_add(&st_stale, 1000);
			return NULL;
		}
		for (size_t i = 0; i < TS_LEN / PG; i += 7) {
			uint64_t g0 = atomic_load(&st->gen);
			uint64_t v;

			if (probe_read((uint64_t *)(q + i * PG), &v))
				continue;
			if (v != 0 && ((v >> 32) < g0 || (v & 0xffffffff) != i) &&
			    atomic_fetch_add(&st_stale, 1) < 5)
				fprintf(stderr, "  stale (fresh attachment): page %zu = %llx, gen was %llu\n",
					i, (unsigned long long)v,
					(unsigned long long)g0);
		}
		xpmem_detach(q);
		mmap(q, TS_LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		     MAP_NORESERVE | MAP_FIXED, -1, 0);
	}
	return NULL;
}

static int t_thp_stress(void)
{
	const size_t H = 2UL << 20, n = TS_LEN / PG;
	char *raw = mmap(NULL, TS_LEN + H, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *buf = (char *)(((uintptr_t)raw + H - 1) & ~(H - 1));
	pthread_t th[ST_READERS];
	struct xpmem_addr ad;
	xpmem_segid_t s;
	int pp[2], pp2[2], status;
	char c0 = 0;
	pid_t src;

	CHECK(raw != MAP_FAILED);
	CHECK(pipe(pp2) == 0);
	st = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		  -1, 0);
	CHECK(st != MAP_FAILED);
	CHECK(pipe(pp) == 0);
	atomic_store(&st->gen, 1);
	src = fork();
	if (src == 0) {
		time_t end = time(NULL) + stress_secs(3);
		unsigned int seed = 42;
		uint64_t g = 1;

		/* populate here: no COW sharing with the parent */
		madvise(buf, TS_LEN, MADV_HUGEPAGE);
		ts_fill(buf, 1);

		s = xpmem_make(buf, TS_LEN, XPMEM_PERMIT_MODE, PERMIT);
		(void)!write(pp[1], &s, sizeof(s));
		while (time(NULL) < end) {
			pid_t c = -1;

			switch (rand_r(&seed) % 8) {
			case 0:	/* split a THP: drop one page */
				madvise(buf + (rand_r(&seed) % n) * PG, PG,
					MADV_DONTNEED);
				break;
			case 1:
			case 2: {	/* replace a whole THP (page table too) */
				char *h = buf + (rand_r(&seed) % 2) * H;

				mmap(h, H, PROT_READ | PROT_WRITE, MAP_PRIVATE |
				     MAP_ANONYMOUS | MAP_FIXED, -1, 0);
				madvise(h, H, MADV_HUGEPAGE);
				break;
			}
			case 3:	/* COW: a child shares the pages */
				c = fork();
				if (c == 0) {
					usleep(20000);
					_exit(0);
				}
				break;
			case 4:
			case 5:
				mprotect(buf, TS_LEN, PROT_READ);
				mprotect(buf, TS_LEN, PROT_READ | PROT_WRITE);
				break;
			default:	/* just rewrite */
				break;
			}
			g++;
			ts_fill(buf, g);
			atomic_store(&st->gen, g);
			if (c > 0)
				waitpid(c, NULL, 0);
		}
		atomic_store(&st->stop, 1);
		fprintf(stderr, "  source: %llu generations\n",
			(unsigned long long)g);
		(void)!read(pp2[0], &c0, 1);
		_exit(0);
	}
	CHECK(xread(pp[0], &s, sizeof(s)) == 0);
	CHECK(s > 0);
	ad.apid = xpmem_get(s, XPMEM_RDONLY, XPMEM_PERMIT_MODE, NULL);
	CHECK(ad.apid > 0);
	ad.offset = 0;
	ts_att = xpmem_attach(ad, TS_LEN, NULL);
	CHECK(ts_att != (void *)-1);
	ts_ad = ad;
	pthread_create(&th[0], NULL, ts_reader, (void *)1);
	pthread_create(&th[1], NULL, ts_reattacher, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	{
		long long c[5];

		seg_counters(s, c);
		fprintf(stderr, "  %ld reads, %ld faults, %ld stale; faults %lld pmds mapped %lld invalidations %lld\n",
			(long)st_reads, (long)st_faults, (long)st_stale, c[0],
			c[4], c[2]);
	}
	(void)!write(pp2[1], &c0, 1);
	CHECK(waitpid(src, &status, 0) == src);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(st_reads > 0);
	CHECK(st_stale == 0);
	return 0;
}

/* ---- module reload ------------------------------------------------------- */

static long meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = strtol(line + strlen(key) + 1, NULL, 10);
	fclose(f);
	return v;
}

/* One make/get/attach/touch/exit round trip, in a child. */
static int roundtrip(void)
{
	pid_t p = fork();
	int st;

	if (p == 0) {
		char *buf = map_anon(4 * PG);
		struct xpmem_addr ad;
		xpmem_segid_t s;
		char *q;

		buf[0] = 1;
		s = xpmem_make(buf, 4 * PG, XPMEM_PERMIT_MODE, PERMIT);
		ad.apid = xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
		ad.offset = 0;
		q = xpmem_attach(ad, 4 * PG, NULL);
		_exit(q == (void *)-1 || q[0] != 1);
	}
	waitpid(p, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static int t_reload(void)
{
	char cmd[4096];
	long before, after;

	if (access(ko_path, R_OK)) {
		fprintf(stderr, "  %s not readable\n", ko_path);
		return 1;
	}
	CHECK(roundtrip() == 0);
	before = meminfo("MemAvailable:");
	for (int i = 0; i < 20; i++) {
		snprintf(cmd, sizeof(cmd), "rmmod xpmem && insmod '%s'",
			 ko_path);
		if (system(cmd))
			FAIL("cycle %d: %s failed", i, cmd);
		for (int t = 0; t < 100 && access("/dev/xpmem", F_OK); t++)
			usleep(10000);
		if (roundtrip())
			FAIL("cycle %d: round trip failed", i);
	}
	after = meminfo("MemAvailable:");
	fprintf(stderr, "  MemAvailable %ld -> %ld kB\n", before, after);
	CHECK(after > before - 8192);
	return 0;
}

/* ---- driver ------------------------------------------------------------- */

struct tcase {
	const char *name;
	int (*fn)(void);
	int timeout;
};

static const struct tcase cases[] = {
	{ "version", t_version, 30 },
	{ "make_errors", t_make_errors, 30 },
	{ "remove_errors", t_remove_errors, 30 },
	{ "get_release_errors", t_get_release_errors, 30 },
	{ "attach_errors", t_attach_errors, 30 },
	{ "self_attach", t_self_attach, 60 },
	{ "self_maxaddr", t_self_maxaddr, 60 },
	{ "rdonly_write_segv", t_rdonly_write_segv, 60 },
	{ "fork_child", t_fork_child, 60 },
	{ "permissions", t_permissions, 60 },
	{ "multiprocess", t_multiprocess, 60 },
	{ "coherence", t_coherence, 120 },
	{ "holes", t_holes, 60 },
	{ "zero_page_write", t_zero_page_write, 60 },
	{ "close_with_attachments", t_close_with_attachments, 60 },
	{ "mt_faults", t_mt_faults, 120 },
	{ "teardown_race", t_teardown_race, 120 },
	{ "debugfs_counters", t_debugfs_counters, 60 },
	{ "fault_window", t_fault_window, 60 },
	{ "thp", t_thp, 60 },
	{ "hugetlb", t_hugetlb, 60 },
	{ "migrate", t_migrate, 120 },
	{ "stress_remap", t_stress_remap, 120 },
	{ "mutual", t_mutual, 120 },
	{ "thp_stress", t_thp_stress, 120 },
	{ "reload", t_reload, 300 },	/* last: needs no xpmem users */
};

#define OBJECTS "/sys/kernel/debug/xpmem/objects"

/* Sum of live module objects, or -1 if debugfs is not available. */
static long live_objects(char *desc, size_t len)
{
	FILE *f = fopen(OBJECTS, "r");
	char name[32];
	long n, sum = 0;
	size_t off = 0;

	if (!f)
		return -1;
	desc[0] = 0;
	while (fscanf(f, "%31s %ld", name, &n) == 2) {
		sum += n;
		off += snprintf(desc + off, len > off ? len - off : 0,
				"%s=%ld ", name, n);
	}
	fclose(f);
	return sum;
}

/* Everything a case made, got and attached is gone once it exited. */
static int check_leaks(void)
{
	char desc[128];
	long n = 0;

	for (int i = 0; i < 200; i++) {
		n = live_objects(desc, sizeof(desc));
		if (n <= 0)
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "  leaked module objects: %s\n", desc);
	return 1;
}

static int run_case(const struct tcase *c)
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		probe_setup();
		alarm(c->timeout + 2 * stress_secs(0));
		_exit(c->fn());
	}
	waitpid(pid, &st, 0);
	kill(-pid, SIGKILL);	/* leftover helpers of the case */
	while (waitpid(-pid, NULL, 0) > 0)
		;
	if (WIFEXITED(st))
		return WEXITSTATUS(st) ? WEXITSTATUS(st) : check_leaks();
	fprintf(stderr, "  killed by signal %d%s\n", WTERMSIG(st),
		WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
	return 1;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;
	int opt;

	while ((opt = getopt(argc, argv, "k:")) != -1) {
		if (opt == 'k')
			ko_path = optarg;
		else
			return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *c = &cases[i];
		int sel = optind >= argc, rc;

		for (int j = optind; j < argc; j++)
			sel |= !strcmp(argv[j], c->name);
		if (!sel)
			continue;
		rc = run_case(c);
		if (rc == SKIP_RC) {
			printf("SKIP %s\n", c->name);
			skipped++;
		} else if (rc) {
			printf("FAIL %s\n", c->name);
			failed++;
		} else {
			printf("PASS %s\n", c->name);
			passed++;
		}
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
