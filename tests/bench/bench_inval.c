// SPDX-License-Identifier: GPL-2.0
/*
 * make bench, cross-partition part (tests/bench/run-bench, tests/bench/cluster-node):
 * run on both partitions of a 2-node tests/vm/run-cluster with xpmemd up.
 * Node 0 (A) owns the memory, node 1 (B) attaches it. A and B talk over a TCP
 * socket on the private link (10.77.0.x), not through 9p files (too slow for
 * thousands of rendezvous).
 *
 *   B: remote first touch per page (4 KiB and THP source; fault window 1 and
 *      the default) vs a local attach's first touch on B; copy bandwidth
 *      through the remote attachment vs a local attachment vs local memcpy.
 *   A: invalidation -> ack latency: A rewrites the range, tells B to touch it
 *      (B maps it through remote faults), B answers, A times
 *      madvise(MADV_DONTNEED) (or munmap + re-mmap) of the range, which returns
 *      only after B's daemon acked. 1 page, 512 pages, and a 1 GiB virtual
 *      range of which B maps 8 pages (the INVALIDATE count is read from both
 *      daemons' stats). Interleaved: the same operation on an exported range
 *      nobody remote maps.
 * Results: JSON files and raw samples (one value in us per line) in OUTDIR.
 *
 * usage: bench_inval OUTDIR [samples-1p [samples-512p [samples-1g [samples-munmap]]]]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xpmem.h>

#define PAGE 4096UL
#define HPAGE (2UL << 20)
#define FAULT_REGION (4UL << 20)	/* first-touch regions: 1024 pages, 2 THPs */
#define COPY_REGION (16UL << 20)
#define INVAL_PAGES 512
#define GIANT (1UL << 30)
#define GIANT_TOUCHED 8
#define CTL_PORT 7611
#define COPY_REPS 5

static const char *out;
static int me, sock;

static void die(const char *what)
{
	fprintf(stderr, "bench_inval node%d: %s: %s\n", me, what, strerror(errno));
	exit(1);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ---- control messages between A and B ---- */

enum { C_SEGS = 1, C_FAULT_DONE, C_TOUCH, C_TOUCHED, C_STATS, C_STATS_REPLY, C_PING, C_PONG, C_END };

struct msg {
	uint32_t cmd, n;
	uint64_t a, b;
	uint64_t v[GIANT_TOUCHED];
};

static void xwrite(const struct msg *m)
{
	const char *p = (const char *)m;
	size_t left = sizeof(*m);

	while (left) {
		ssize_t r = write(sock, p, left);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("control write");
		p += r;
		left -= (size_t)r;
	}
}

static void xread(struct msg *m, uint32_t want)
{
	char *p = (char *)m;
	size_t left = sizeof(*m);

	while (left) {
		ssize_t r = read(sock, p, left);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "bench_inval node%d: control connection closed\n", me);
			exit(1);
		}
		p += r;
		left -= (size_t)r;
	}
	if (want && m->cmd != want) {
		fprintf(stderr, "bench_inval node%d: got message %u, expected %u\n", me, m->cmd, want);
		exit(1);
	}
}

static void send_msg(uint32_t cmd, uint64_t a, uint64_t b)
{
	struct msg m = { .cmd = cmd, .a = a, .b = b };

	xwrite(&m);
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* the IP of node `id` from $XPMEM_CLUSTER ("id ip window" lines) */
static void node_ip(int id, char *ip, size_t len)
{
	const char *path = getenv("XPMEM_CLUSTER");
	char line[256];
	FILE *f = path ? fopen(path, "r") : NULL;
	int found = 0;

	if (!f)
		die("XPMEM_CLUSTER");
	while (fgets(line, sizeof(line), f)) {
		int n;
		char addr[64];

		if (line[0] != '#' && sscanf(line, "%d %63s", &n, addr) == 2 && n == id) {
			snprintf(ip, len, "%s", addr);
			found = 1;
		}
	}
	fclose(f);
	if (!found) {
		fprintf(stderr, "bench_inval: node %d not in %s\n", id, path);
		exit(1);
	}
}

static void connect_ctl(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(CTL_PORT) };
	char ip[64];

	if (me == 0) {
		int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

		sa.sin_addr.s_addr = htonl(INADDR_ANY);
		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1))
			die("listen");
		alarm(300);
		sock = accept(l, NULL, NULL);
		alarm(0);
		if (sock < 0)
			die("accept");
		close(l);
	} else {
		node_ip(0, ip, sizeof(ip));
		inet_pton(AF_INET, ip, &sa.sin_addr);
		for (int i = 0;; i++) {
			sock = socket(AF_INET, SOCK_STREAM, 0);
			if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) == 0)
				break;
			close(sock);
			if (i > 1200)
				die("connect to node 0");
			usleep(100000);
		}
	}
	nodelay(sock);
}

/* ---- helpers ---- */

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *v, int n, double p)
{
	return v[(int)(p * (n - 1) + 0.5)];
}

/* an anonymous region aligned to 2 MiB, THP or 4 KiB pages, optionally written */
static char *region(size_t len, int thp, int fill)
{
	char *raw = mmap(NULL, len + HPAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *p;

	if (raw == MAP_FAILED)
		die("mmap");
	p = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	if (madvise(p, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		die("madvise");
	if (fill)
		for (size_t off = 0; off < len; off += PAGE)
			p[off] = (char)(off >> 12 | 1);
	return p;
}

static xpmem_segid_t export(void *p, size_t len)
{
	xpmem_segid_t s = xpmem_make(p, len, XPMEM_PERMIT_MODE, (void *)0666);

	if (s == -1)
		die("xpmem_make");
	return s;
}

static char *attach(xpmem_segid_t segid, size_t len, xpmem_apid_t *apid)
{
	struct xpmem_addr a = { .offset = 0 };
	char *p;

	if (*apid <= 0) {
		*apid = xpmem_get(segid, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
		if (*apid == -1)
			die("xpmem_get");
	}
	a.apid = *apid;
	p = xpmem_attach(a, len, NULL);
	if (p == (void *)-1)
		die("xpmem_attach");
	return p;
}

/* kB of AnonHugePages in this process (did the THP source get THPs?) */
static long anon_huge_kb(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static FILE *outfile(const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out, name);
	f = fopen(path, "w");
	if (!f)
		die(path);
	return f;
}

/* a counter of this node's xpmemd (xpmemctl -j stats), -1 if unavailable */
static long long daemon_stat(const char *name)
{
	const char *d = getenv("XPMEM_XPMEMD");
	char cmd[600], line[256], key[80];
	long long v = -1, x;
	FILE *p;

	if (!d)
		return -1;
	snprintf(cmd, sizeof(cmd), "\"$(dirname \"%s\")/xpmemctl\" -j stats 2>/dev/null", d);
	snprintf(key, sizeof(key), "\"%s\": %%lld", name);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p)) {
		char *s = line;

		while (*s == ' ' || *s == '\t')
			s++;
		if (sscanf(s, key, &x) == 1)
			v = x;
	}
	pclose(p);
	return v;
}

static int fault_window(int set)
{
	const char *path = "/sys/module/xpmem/parameters/fault_window_pages";
	FILE *f = fopen(path, set > 0 ? "w" : "r");
	int v = -1;

	if (!f)
		die(path);
	if (set > 0)
		fprintf(f, "%d\n", v = set);
	else if (fscanf(f, "%d", &v) != 1)
		v = -1;
	if (fclose(f))
		die(path);
	return v;
}

/* ---- B: first touch and copy bandwidth ---- */

/*
 * A remote fault that fails is SIGBUS: e.g. the importer's daemon gave up
 * after its ack_timeout_ms, or declared the owner dead (heartbeats late by
 * 3 intervals) and fails faults at once, while the emulated host was
 * overloaded. The benchmark counts it, waits 0.2 s, touches the page again
 * (a new remote fault) and reports the count; it gives up after 20 s.
 */
static sigjmp_buf bus_jb;
static unsigned long sigbus_count;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(bus_jb, 1);
}

static unsigned long read_remote(volatile char *p)
{
	volatile int tries = 0;

	if (sigsetjmp(bus_jb, 0)) {	/* SA_NODEFER: nothing to unblock */
		sigbus_count++;
		if (tries == 0)
			fprintf(stderr, "B: SIGBUS touching %p (remote fault failed; peer thought dead?), "
				"retrying every 0.2 s\n", (void *)p);
		if (++tries > 100) {
			fprintf(stderr, "B: %p still faults after 20 s; giving up\n", (void *)p);
			exit(1);
		}
		usleep(200000);
	}
	return (unsigned char)*p;
}

/* ns per page to read one word of every page of a remote attachment */
static double touch_remote_ns(volatile char *p, size_t len)
{
	unsigned long sum = 0;
	double t = now_ns();

	for (size_t off = 0; off < len; off += PAGE)
		sum += read_remote(p + off);
	t = now_ns() - t;
	if (sum == 1)
		putchar(' ');
	return t / (len / PAGE);
}

/* ns per page to read one word of every page */
static double touch_ns(volatile char *p, size_t len)
{
	unsigned long sum = 0;
	double t = now_ns();

	for (size_t off = 0; off < len; off += PAGE)
		sum += p[off];
	t = now_ns() - t;
	if (sum == 1)
		putchar(' ');
	return t / (len / PAGE);
}

static double copy_gbs(void *dst, const void *src, size_t len)
{
	double best = 0;

	for (int i = 0; i < COPY_REPS; i++) {
		double t = now_ns();

		memcpy(dst, src, len);
		t = now_ns() - t;
		if (len / t > best)
			best = len / t;	/* bytes per ns = GB/s */
	}
	return best;
}

struct child {
	pid_t pid;
	int release;
	xpmem_segid_t seg[3];
	long huge_kb;
};

/* a local exporter on B: the same region shapes as A's */
static struct child local_source(void)
{
	int up[2], down[2];
	struct child c;

	if (pipe(up) || pipe(down))
		die("pipe");
	c.pid = fork();
	if (c.pid < 0)
		die("fork");
	if (c.pid == 0) {
		char x;

		close(up[0]);
		close(down[1]);
		c.seg[0] = export(region(FAULT_REGION, 0, 1), FAULT_REGION);
		c.seg[1] = export(region(FAULT_REGION, 1, 1), FAULT_REGION);
		c.seg[2] = export(region(COPY_REGION, 0, 1), COPY_REGION);
		c.huge_kb = anon_huge_kb();
		if (write(up[1], &c, sizeof(c)) != sizeof(c))
			die("write");
		if (read(down[0], &x, 1) < 0)
			die("read");
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	{
		pid_t pid = c.pid;

		if (read(up[0], &c, sizeof(c)) != sizeof(c)) {
			fprintf(stderr, "bench_inval: local source failed\n");
			exit(1);
		}
		c.pid = pid;
	}
	c.release = down[1];
	close(up[0]);
	return c;
}

static void node_b(void)
{
	struct msg m;
	xpmem_segid_t rseg[5];
	xpmem_apid_t rap[5] = { 0 }, lap[3] = { 0 };
	struct child lc;
	int def = fault_window(0), windows[2] = { 1, def };
	double rft[2][2], lft[2][2], bw_remote, bw_local_att, bw_memcpy;
	char *at, *dst, *src;
	FILE *f;
	long long zaps0;

	struct sigaction sa = { .sa_handler = on_sigbus, .sa_flags = SA_NODEFER };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	xread(&m, C_SEGS);
	for (int i = 0; i < 5; i++)
		rseg[i] = (xpmem_segid_t)m.v[i];
	printf("B: got A's segments; fault window default %d\n", def);
	lc = local_source();

	/* first touch per page: [window][4k/thp], fresh attachment each time */
	for (int w = 0; w < 2; w++) {
		fault_window(windows[w]);
		for (int t = 0; t < 2; t++) {
			at = attach(rseg[t], FAULT_REGION, &rap[t]);
			rft[w][t] = touch_remote_ns(at, FAULT_REGION);
			xpmem_detach(at);
			at = attach(lc.seg[t], FAULT_REGION, &lap[t]);
			lft[w][t] = touch_ns(at, FAULT_REGION);
			xpmem_detach(at);
			printf("B: first touch, %s source, window %d: remote %.0f ns/page, local %.0f ns/page\n",
			       t ? "THP" : "4 KiB", windows[w], rft[w][t], lft[w][t]);
		}
	}
	fault_window(def);

	/* copy bandwidth: attachments fully faulted in first */
	dst = region(COPY_REGION, 0, 1);
	src = region(COPY_REGION, 0, 1);
	at = attach(rseg[2], COPY_REGION, &rap[2]);
	touch_remote_ns(at, COPY_REGION);
	bw_remote = copy_gbs(dst, at, COPY_REGION);
	xpmem_detach(at);
	at = attach(lc.seg[2], COPY_REGION, &lap[2]);
	touch_ns(at, COPY_REGION);
	bw_local_att = copy_gbs(dst, at, COPY_REGION);
	xpmem_detach(at);
	bw_memcpy = copy_gbs(dst, src, COPY_REGION);
	printf("B: copy %lu MiB: remote attachment %.3f GB/s, local attachment %.3f GB/s, memcpy %.3f GB/s\n",
	       COPY_REGION >> 20, bw_remote, bw_local_att, bw_memcpy);
	if (write(lc.release, "x", 1) != 1)
		die("release");
	waitpid(lc.pid, NULL, 0);

	f = outfile("fault.json");
	fprintf(f, "{\"bench\":\"remote_fault\",\"region_pages\":%lu,\"default_window\":%d,"
		"\"a_thp_kb\":%lld,\"local_thp_kb\":%ld,\"sigbus_retries\":%lu,\"cases\":[",
		FAULT_REGION / PAGE, def, (long long)m.b, lc.huge_kb, sigbus_count);
	for (int w = 0; w < 2; w++)
		for (int t = 0; t < 2; t++)
			fprintf(f, "%s{\"source\":\"%s\",\"window\":%d,\"remote_ns_per_page\":%.0f,"
				"\"local_ns_per_page\":%.0f,\"ratio\":%.3f}", w + t ? "," : "",
				t ? "thp" : "4k", windows[w], rft[w][t], lft[w][t],
				rft[w][t] / lft[w][t]);
	fprintf(f, "]}\n");
	fclose(f);
	f = outfile("copy.json");
	fprintf(f, "{\"bench\":\"copy\",\"bytes\":%lu,\"remote_attach_gbs\":%.4f,"
		"\"local_attach_gbs\":%.4f,\"memcpy_gbs\":%.4f,\"remote_vs_memcpy\":%.3f,"
		"\"remote_vs_local_attach\":%.3f}\n", COPY_REGION, bw_remote, bw_local_att,
		bw_memcpy, bw_remote / bw_memcpy, bw_remote / bw_local_att);
	fclose(f);

	/* invalidation: touch what A asks, answer; a big window makes the
	 * 512-page touches cheaper (the invalidation is the same) */
	fault_window(64);
	char *inv = attach(rseg[3], INVAL_PAGES * PAGE, &rap[3]);
	char *giant = attach(rseg[4], GIANT, &rap[4]);

	send_msg(C_FAULT_DONE, 0, 0);
	zaps0 = daemon_stat("zaps");
	for (;;) {
		volatile char *base;
		unsigned long sum = 0, bus0 = sigbus_count;

		xread(&m, 0);
		if (m.cmd == C_END)
			break;
		if (m.cmd == C_PING) {
			send_msg(C_PONG, m.a, 0);
			continue;
		}
		if (m.cmd == C_STATS) {
			send_msg(C_STATS_REPLY, (uint64_t)(daemon_stat("zaps") - zaps0), 0);
			zaps0 = daemon_stat("zaps");
			continue;
		}
		if (m.cmd != C_TOUCH) {
			fprintf(stderr, "B: unexpected message %u\n", m.cmd);
			exit(1);
		}
		base = m.a ? giant : inv;
		if (m.n)	/* a list of page offsets */
			for (uint32_t i = 0; i < m.n; i++)
				sum += read_remote(base + m.v[i]);
		else
			for (uint64_t off = 0; off < m.b; off += PAGE)
				sum += read_remote(base + off);
		send_msg(C_TOUCHED, sum, sigbus_count - bus0);
	}
	fault_window(def);
	printf("B: done\n");
}

/* ---- A: invalidation -> ack ---- */

struct series {
	const char *name, *op;
	size_t pages;		/* range length */
	int n;
	double *remote, *local;
	long long invalidations, retransmits, timed_out, zaps, sigbus;
};

static void rewrite(char *p, size_t len)
{
	for (size_t off = 0; off < len; off += PAGE)
		p[off] = (char)(off >> 12 | 1);
}

/* one timed operation on [p, p+len); the range is writable and written after */
static double timed_op(char *p, size_t len, int munmap_op)
{
	double t = now_ns();

	if (munmap_op) {
		if (munmap(p, len))
			die("munmap");
		t = now_ns() - t;
		if (mmap(p, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) != p)
			die("mmap fixed");
		madvise(p, len, MADV_NOHUGEPAGE);
	} else {
		if (madvise(p, len, MADV_DONTNEED))
			die("madvise");
		t = now_ns() - t;
	}
	return t / 1000;	/* us */
}

static void run_series(struct series *s, char *p, int giant, const uint64_t *offs)
{
	size_t len = giant ? GIANT : s->pages * PAGE;
	int munmap_op = !strcmp(s->op, "munmap");
	long long inv0 = daemon_stat("invalidations"), rtx0 = daemon_stat("retransmits");
	long long to0 = daemon_stat("timed_out");
	struct msg m;
	double t0 = now_ns();

	s->remote = calloc(s->n, sizeof(double));
	s->local = calloc(s->n, sizeof(double));
	if (!s->remote || !s->local)
		die("calloc");
	for (int i = 0; i < s->n; i++) {
		struct msg t = { .cmd = C_TOUCH, .a = (uint64_t)giant, .b = len };

		/* remote: B maps the range, then A changes it */
		if (giant) {
			for (int k = 0; k < GIANT_TOUCHED; k++)
				p[offs[k]] = (char)(i | 1);
			t.n = GIANT_TOUCHED;
			memcpy(t.v, offs, sizeof(t.v));
		} else {
			rewrite(p, len);
		}
		xwrite(&t);
		xread(&m, C_TOUCHED);
		s->sigbus += (long long)m.b;
		s->remote[i] = timed_op(p, len, munmap_op);
		/* local: the same on the exported range nobody remote maps now */
		if (giant)
			for (int k = 0; k < GIANT_TOUCHED; k++)
				p[offs[k]] = (char)(i | 1);
		else
			rewrite(p, len);
		s->local[i] = timed_op(p, len, munmap_op);
	}
	s->invalidations = daemon_stat("invalidations") - inv0;
	s->retransmits = daemon_stat("retransmits") - rtx0;
	s->timed_out = daemon_stat("timed_out") - to0;
	send_msg(C_STATS, 0, 0);
	xread(&m, C_STATS_REPLY);
	s->zaps = (long long)m.a;
	printf("A: %s %s: %d samples in %.1f s; INVALIDATEs sent %lld, retransmits %lld, timed out %lld, "
	       "zaps on B %lld, SIGBUS retries on B %lld\n", s->name, s->op, s->n, (now_ns() - t0) / 1e9,
	       s->invalidations, s->retransmits, s->timed_out, s->zaps, s->sigbus);
}

static void dump_series(FILE *j, struct series *s, int first)
{
	char name[128];
	FILE *f;

	snprintf(name, sizeof(name), "inval-%s-%s.txt", s->name, s->op);
	f = outfile(name);
	for (int i = 0; i < s->n; i++)
		fprintf(f, "%.1f\n", s->remote[i]);
	fclose(f);
	snprintf(name, sizeof(name), "inval-%s-%s-local.txt", s->name, s->op);
	f = outfile(name);
	for (int i = 0; i < s->n; i++)
		fprintf(f, "%.1f\n", s->local[i]);
	fclose(f);
	qsort(s->remote, s->n, sizeof(double), cmp);
	qsort(s->local, s->n, sizeof(double), cmp);
	fprintf(j, "%s{\"range\":\"%s\",\"op\":\"%s\",\"range_pages\":%zu,\"samples\":%d,"
		"\"remote_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f},"
		"\"no_remote_mapping_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f},"
		"\"invalidate_msgs\":%lld,\"retransmits\":%lld,\"timed_out\":%lld,\"peer_zaps\":%lld,"
		"\"msgs_per_invalidation_per_peer\":%.3f,\"peer_sigbus_retries\":%lld}",
		first ? "" : ",", s->name, s->op, s->pages, s->n,
		pct(s->remote, s->n, .5), pct(s->remote, s->n, .9), pct(s->remote, s->n, .99),
		s->remote[s->n - 1], pct(s->local, s->n, .5), pct(s->local, s->n, .9),
		pct(s->local, s->n, .99), s->local[s->n - 1], s->invalidations, s->retransmits,
		s->timed_out, s->zaps, (double)(s->invalidations + s->retransmits) / s->n, s->sigbus);
	printf("A: %-5s %-8s n=%-5d remote p50 %8.1f p90 %8.1f p99 %8.1f max %8.1f us | "
	       "no remote mapping p50 %8.1f us\n", s->name, s->op, s->n, pct(s->remote, s->n, .5),
	       pct(s->remote, s->n, .9), pct(s->remote, s->n, .99), s->remote[s->n - 1],
	       pct(s->local, s->n, .5));
}

static void node_a(int n1, int n512, int ngiant, int nmunmap)
{
	char *f4k = region(FAULT_REGION, 0, 1), *fthp = region(FAULT_REGION, 1, 1);
	char *cp = region(COPY_REGION, 0, 1), *inv = region(INVAL_PAGES * PAGE, 0, 1);
	char *giant = region(GIANT, 0, 0);
	uint64_t offs[GIANT_TOUCHED];
	struct msg m = { .cmd = C_SEGS, .n = 5 };
	struct series s[4] = {
		{ .name = "1p", .op = "madvise", .pages = 1, .n = n1 },
		{ .name = "512p", .op = "madvise", .pages = INVAL_PAGES, .n = n512 },
		{ .name = "1g", .op = "madvise", .pages = GIANT / PAGE, .n = ngiant },
		{ .name = "1p", .op = "munmap", .pages = 1, .n = nmunmap },
	};
	FILE *j;
	double *ping;
	int nping;

	for (int k = 0; k < GIANT_TOUCHED; k++)
		offs[k] = (GIANT / GIANT_TOUCHED) * k + PAGE * (uint64_t)k;
	m.v[0] = (uint64_t)export(f4k, FAULT_REGION);
	m.v[1] = (uint64_t)export(fthp, FAULT_REGION);
	m.v[2] = (uint64_t)export(cp, COPY_REGION);
	m.v[3] = (uint64_t)export(inv, INVAL_PAGES * PAGE);
	m.v[4] = (uint64_t)export(giant, GIANT);
	m.b = (uint64_t)anon_huge_kb();
	printf("A: exported; AnonHugePages %lld kB\n", (long long)m.b);
	xwrite(&m);
	xread(&m, C_FAULT_DONE);

	/* the link's own round trip with sleeping waits (as xpmemd waits):
	 * 64-byte messages over TCP between the same two partitions */
	nping = n1 > 0 ? n1 : 1000;
	ping = calloc(nping, sizeof(double));
	if (!ping)
		die("calloc");
	for (int i = 0; i < nping; i++) {
		double t = now_ns();

		send_msg(C_PING, (uint64_t)i, 0);
		xread(&m, C_PONG);
		ping[i] = (now_ns() - t) / 1000;
	}
	{
		FILE *f = outfile("tcp-rtt.txt");

		for (int i = 0; i < nping; i++)
			fprintf(f, "%.1f\n", ping[i]);
		fclose(f);
	}
	qsort(ping, nping, sizeof(double), cmp);
	printf("A: TCP ping-pong over the private link: p50 %.1f us, p99 %.1f us (%d samples)\n",
	       pct(ping, nping, .5), pct(ping, nping, .99), nping);

	for (int i = 0; i < 4; i++)
		if (s[i].n > 0)
			run_series(&s[i], !strcmp(s[i].name, "1g") ? giant : inv,
				   !strcmp(s[i].name, "1g"), offs);
	send_msg(C_END, 0, 0);

	j = outfile("inval.json");
	fprintf(j, "{\"bench\":\"inval_ack\",\"peers\":1,\"giant_pages_mapped_by_peer\":%d,"
		"\"tcp_rtt_us\":{\"samples\":%d,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f},"
		"\"series\":[", GIANT_TOUCHED, nping, pct(ping, nping, .5), pct(ping, nping, .9),
		pct(ping, nping, .99), ping[nping - 1]);
	for (int i = 0, first = 1; i < 4; i++)
		if (s[i].n > 0) {
			dump_series(j, &s[i], first);
			first = 0;
		}
	fprintf(j, "]}\n");
	fclose(j);
}

int main(int argc, char **argv)
{
	const char *id = getenv("XPMEM_NODE_ID");

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || !id) {
		fprintf(stderr, "usage: bench_inval OUTDIR [n-1p [n-512p [n-1g [n-munmap]]]] "
			"(under tests/vm/run-cluster)\n");
		return 2;
	}
	out = argv[1];
	me = atoi(id);
	signal(SIGPIPE, SIG_IGN);
	if (me > 1)
		return 0;
	connect_ctl();
	if (me == 0)
		node_a(argc > 2 ? atoi(argv[2]) : 1000, argc > 3 ? atoi(argv[3]) : 1000,
		       argc > 4 ? atoi(argv[4]) : 100, argc > 5 ? atoi(argv[5]) : 300);
	else
		node_b();
	return 0;
}
