// SPDX-License-Identifier: GPL-2.0
/*
 * make bench, cross-partition part (tests/bench/run-bench, tests/bench/cluster-node):
 * run on both partitions of a 2-node tests/vm/run-cluster with xpmemd up.
 * Node 0 (A) owns the memory, node 1 (B) attaches it. A and B talk over a TCP
 * socket on the private link (10.77.0.x), not through 9p files (too slow for
 * thousands of rendezvous).
 *
 *   B: remote first touch of 64 MiB (fresh attachment each pass):
 *      - sequential, 4 KiB-page source, vs a local attach's first touch of the
 *        same size on B (passes alternate, best of FT_REPS);
 *      - sequential, THP source, vs a local THP attach;
 *      - window held at 16: the module has no knob that pins the window
 *        (fault_window_pages is the adaptive window's floor), so a pass
 *        touches every 17th page: no fault lands where the previous answer
 *        ended, the window never grows, each round trip maps 16 pages; the
 *        figure is per page mapped (the old window-16 module's sequential
 *        first touch);
 *      - random: every page once, in a random permutation;
 *      each with the round trips it took (B's daemon's remote_faults) and the
 *      stage times of both daemons; copy bandwidth through the remote
 *      attachment vs a local attachment vs local memcpy.
 *   A: invalidation -> ack latency: A rewrites the range, tells B to touch it
 *      (B maps it through remote faults), B answers, A times
 *      madvise(MADV_DONTNEED) (or munmap + re-mmap) of the range, which returns
 *      only after B's daemon acked. 1 page, 512 pages, and a 1 GiB virtual
 *      range of which B maps 8 pages (the INVALIDATE count is read from both
 *      daemons' stats). Interleaved: the same operation on an exported range
 *      nobody remote maps.
 *   Floors interleaved in time with those samples: BLOCKS blocks alternate
 *      floor and xpmem phases (floor first in even blocks, xpmem first in
 *      odd ones); a floor phase is one fi_pingpong run (server on A, client on
 *      B, same link) and a blocking TCP ping-pong on the control socket; an
 *      xpmem phase is 1/BLOCKS of every invalidation series.
 * Results: JSON files and raw samples (one value in us per line) in OUTDIR.
 *
 * usage: bench_inval OUTDIR [n-1p [n-512p [n-1g [n-munmap [blocks [pp-iters]]]]]]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xpmem.h>

#define PAGE 4096UL
#define HPAGE (2UL << 20)
#define FAULT_REGION (64UL << 20)	/* first-touch regions: 16384 pages, 32 THPs */
#define FAULT_PAGES (FAULT_REGION / PAGE)
#define COPY_REGION (16UL << 20)
#define INVAL_PAGES 512
#define GIANT (1UL << 30)
#define GIANT_TOUCHED 8
#define CTL_PORT 7611
#define COPY_REPS 5
#define FT_REPS 3			/* sequential first-touch passes, remote and local */
#define W16 16				/* the old module's window */
#define PP_PORT 47600			/* fi_pingpong's control port, + 2 * block + short:
					 * a new one per run (the last one's TIME_WAIT) */
#define MAX_BLOCKS 100

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

enum { C_SEGS = 1, C_FAULT_DONE, C_TOUCH, C_TOUCHED, C_STATS, C_STATS_REPLY, C_PING, C_PONG,
	C_PP, C_PP_DONE, C_END };

#define NV 16
struct msg {
	uint32_t cmd, n;
	uint64_t a, b;
	uint64_t v[NV];
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

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		die("TCP_NODELAY");
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
		if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
		    bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1))
			die("listen");
		alarm(300);
		sock = accept(l, NULL, NULL);
		alarm(0);
		if (sock < 0)
			die("accept");
		close(l);
	} else {
		node_ip(0, ip, sizeof(ip));
		if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
			die("node 0's address");
		for (int i = 0;; i++) {
			sock = socket(AF_INET, SOCK_STREAM, 0);
			if (sock < 0)
				die("socket");
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

/* p50 of v[0..n) without reordering it */
static double median_of(const double *v, int n)
{
	double *c, m;

	if (n <= 0)
		return -1;
	c = malloc(n * sizeof(double));
	if (!c)
		die("malloc");
	memcpy(c, v, n * sizeof(double));
	qsort(c, n, sizeof(double), cmp);
	m = pct(c, n, .5);
	free(c);
	return m;
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

static void detach(void *p)
{
	if (xpmem_detach(p))
		die("xpmem_detach");
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

/*
 * Counters of this node's xpmemd (xpmemctl -j stats), one call for all;
 * -1 for one the daemon does not have. The t_* pairs are the daemon's stage
 * times (sum of ns, count): t_inval owner INVALIDATE from its kernel -> ACKED
 * to it; t_zap peer INVALIDATE from the fabric -> ZAP_DONE from its kernel
 * (ack sent); t_rfault importer REMOTE_FAULT from its kernel -> FAULT_REPLY
 * to it; t_resolve owner RESOLVE request from the fabric -> RESOLVED from its
 * kernel (reply sent).
 */
enum { S_INVALIDATIONS, S_RETRANSMITS, S_TIMED_OUT, S_ZAPS, S_RESOLVES, S_REMOTE_FAULTS,
	S_T_INVAL_NS, S_T_INVAL_N, S_T_ZAP_NS, S_T_ZAP_N, S_T_RESOLVE_NS, S_T_RESOLVE_N,
	S_T_RFAULT_NS, S_T_RFAULT_N, S_NR };
static const char *const stat_names[S_NR] = {
	"invalidations", "retransmits", "timed_out", "zaps", "resolves", "remote_faults",
	"t_inval_ns", "t_inval_n", "t_zap_ns", "t_zap_n", "t_resolve_ns", "t_resolve_n",
	"t_rfault_ns", "t_rfault_n",
};

/* counters from an indented JSON stream ("name": value lines) */
static void parse_stats(FILE *p, long long *v)
{
	char line[256];

	for (int i = 0; i < S_NR; i++)
		v[i] = -1;
	while (fgets(line, sizeof(line), p)) {
		char *s = line, key[80];
		long long x;

		while (*s == ' ' || *s == '\t')
			s++;
		for (int i = 0; i < S_NR; i++) {
			snprintf(key, sizeof(key), "\"%s\": %%lld", stat_names[i]);
			if (sscanf(s, key, &x) == 1)
				v[i] = x;
		}
	}
}

/*
 * Exact, from the daemon itself. Starting xpmemctl (a gRPC client) costs
 * seconds in a loaded TCG guest, so callers reuse a snapshot as the start of
 * the next interval. (The stats file is no substitute: in the guest it lagged
 * the counters by more than a second even when two reads 0.1 s apart agreed.)
 */
static void daemon_stats(long long *v)
{
	const char *d = getenv("XPMEM_XPMEMD");
	char cmd[600];
	FILE *p;

	for (int i = 0; i < S_NR; i++)
		v[i] = -1;
	if (!d)
		return;
	snprintf(cmd, sizeof(cmd), "\"$(dirname \"%s\")/xpmemctl\" -j stats 2>/dev/null", d);
	p = popen(cmd, "r");
	if (!p)
		return;
	parse_stats(p, v);
	pclose(p);
}

/* the other node's counters (it answers C_STATS in its loop) */
static void peer_stats(long long *v)
{
	struct msg m;

	send_msg(C_STATS, 0, 0);
	xread(&m, C_STATS_REPLY);
	for (int i = 0; i < S_NR; i++)
		v[i] = (long long)m.v[i];
}

static void serve_stats(void)
{
	struct msg m = { .cmd = C_STATS_REPLY };
	long long v[S_NR];

	daemon_stats(v);
	for (int i = 0; i < S_NR; i++)
		m.v[i] = (uint64_t)v[i];
	xwrite(&m);
}

/* b - a for counter i, -1 if either is unavailable */
static long long delta(const long long *a, const long long *b, int i)
{
	return a[i] < 0 || b[i] < 0 ? -1 : b[i] - a[i];
}

/* mean stage time in us from counter pairs, -1 if unavailable */
static double stage_us(const long long *a, const long long *b, int ns, int n)
{
	long long dn = delta(a, b, n), dns = delta(a, b, ns);

	return dn > 0 && dns >= 0 ? dns / 1e3 / dn : -1;
}

static const char *param_path(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "/sys/module/xpmem/parameters/%s", name);
	return path;
}

/* a module parameter's value as text into buf ("" if absent) */
static const char *param_text(const char *name, char *buf, size_t len)
{
	FILE *f = fopen(param_path(name), "r");

	buf[0] = 0;
	if (f) {
		if (!fgets(buf, (int)len, f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

static int fault_window(int set)
{
	const char *path = param_path("fault_window_pages");
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

/* ---- fi_pingpong (the fabric's own round trip), one run per floor phase ---- */

static pid_t spawn(const char *outname, char *const argv[])
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		char path[512];
		int fd;

		snprintf(path, sizeof(path), "%s/%s", out, outname);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		close(fd);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* TCP port `port` is in LISTEN state here */
static int pp_listening(int port)
{
	const char *files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	char hex[16];
	int found = 0;

	snprintf(hex, sizeof(hex), ":%04X", port);
	for (int i = 0; i < 2 && !found; i++) {
		FILE *f = fopen(files[i], "r");
		char line[512], local[128], rem[128], st[8];

		if (!f)
			continue;
		while (!found && fgets(line, sizeof(line), f))
			if (sscanf(line, "%*s %127s %127s %7s", local, rem, st) == 3 &&
			    strstr(local, hex) && !strcmp(st, "0A"))
				found = 1;
		fclose(f);
	}
	return found;
}

/* wait for pid up to ms; its exit status, -1 if still running (then killed) */
static int wait_child(pid_t pid, int ms)
{
	int st;

	for (int i = 0; i <= ms / 50; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0)
			die("waitpid");
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/*
 * A: server side of one fi_pingpong run in floor block b (short: the
 * PP_SHORT-iteration run); 0 if both ends succeeded. fi_pingpong's elapsed
 * time includes its connection setup (160-570 ms on an idle host's loopback,
 * against 15 us per transfer), so each floor phase runs it twice, PP_SHORT
 * and `iters` iterations: report.pl takes the round trip from the difference
 * as well as from the long run alone.
 */
#define PP_SHORT 10
static int pingpong_a(int b, int iters, int short_run)
{
	char it[16], name[64], port[16];
	char *argv[] = { "fi_pingpong", "-p", "tcp", "-e", "rdm", "-I", it, "-S", "64", "-B", port,
			 NULL };
	struct msg m;
	pid_t pid = -1;
	int up = 0, st, pn = PP_PORT + 2 * b + short_run;

	if (short_run)
		iters = PP_SHORT;
	snprintf(it, sizeof(it), "%d", iters);
	snprintf(port, sizeof(port), "%d", pn);
	snprintf(name, sizeof(name), "pingpong-b%d%s-server.txt", b, short_run ? "-short" : "");
	for (int try = 0; try < 3 && !up; try++) {
		pid = spawn(name, argv);
		for (int i = 0; i < 600 && !up; i++) {
			if (pp_listening(pn)) {
				up = 1;
				break;
			}
			if (waitpid(pid, &st, WNOHANG) == pid) {
				pid = -1;
				break;	/* e.g. the port still in use: again */
			}
			usleep(50000);
		}
		if (!up) {
			if (pid > 0)
				wait_child(pid, 0);
			sleep(1);
		}
	}
	m = (struct msg){ .cmd = C_PP, .n = (uint32_t)short_run, .a = (uint64_t)b,
			  .b = up ? (uint64_t)iters : 0, .v = { (uint64_t)pn } };
	xwrite(&m);
	xread(&m, C_PP_DONE);
	if (!up) {
		fprintf(stderr, "A: fi_pingpong block %d: the server never listened\n", b);
		return -1;
	}
	st = wait_child(pid, m.a == 0 ? 60000 : 0);
	if (st || m.a)
		fprintf(stderr, "A: fi_pingpong block %d failed: server %d, client %lld\n", b, st,
			(long long)m.a);
	return st || m.a ? -1 : 0;
}

/* B: client side; answers C_PP_DONE with its status */
static void pingpong_b(const struct msg *req)
{
	char it[24], name[64], ip[64], port[24];
	char *argv[] = { "timeout", "180", "fi_pingpong", "-p", "tcp", "-e", "rdm", "-I", it,
			 "-S", "64", "-P", port, ip, NULL };
	int st = 1;

	if (req->b) {
		snprintf(it, sizeof(it), "%llu", (unsigned long long)req->b);
		snprintf(port, sizeof(port), "%llu", (unsigned long long)req->v[0]);
		snprintf(name, sizeof(name), "pingpong-b%llu%s-client.txt", (unsigned long long)req->a,
			 req->n ? "-short" : "");
		node_ip(0, ip, sizeof(ip));
		for (int try = 0; try < 3 && st; try++) {
			st = wait_child(spawn(name, argv), 200000);
			if (st)
				sleep(1);
		}
	}
	send_msg(C_PP_DONE, (uint64_t)(st < 0 ? 255 : st), 0);
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

/* ns per page to read one word of pages idx[0..n) of a remote attachment */
static double touch_remote_ns(volatile char *p, const uint32_t *idx, size_t n)
{
	unsigned long sum = 0;
	double t = now_ns();

	for (size_t i = 0; i < n; i++)
		sum += read_remote(p + idx[i] * PAGE);
	t = now_ns() - t;
	if (sum == 1)
		putchar(' ');
	return t / n;
}

/* the same on a local attachment (no SIGBUS expected) */
static double touch_ns(volatile char *p, const uint32_t *idx, size_t n)
{
	unsigned long sum = 0;
	double t = now_ns();

	for (size_t i = 0; i < n; i++)
		sum += p[idx[i] * PAGE];
	t = now_ns() - t;
	if (sum == 1)
		putchar(' ');
	return t / n;
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

enum { P_SEQ, P_STRIDE, P_RANDOM };

struct fcase {
	const char *name, *source, *pattern;
	int rseg, lseg;		/* remote / local segment index (-1: no local) */
	int pat, reps;
	/* results */
	double remote_ns[FT_REPS], local_ns[FT_REPS];
	size_t touched, mapped;	/* pages touched, pages the remote pass mapped */
	long long round_trips;	/* B's daemon's remote_faults over the (last) remote pass */
	double rt_us, rfault_us, resolve_us;	/* per round trip: elapsed, B's daemon, A's daemon */
	int window;		/* fault_window_pages during the pass */
};

/*
 * Page indices for a pattern; *mapped: pages a remote pass maps on an
 * attachment whose first page is page `vpage` of the address space (a
 * window ends at the attacher's PMD boundary).
 */
static uint32_t *pattern(int pat, size_t *n, size_t *mapped, uintptr_t vpage)
{
	uint32_t *idx = calloc(FAULT_PAGES, sizeof(uint32_t));
	size_t k = 0;

	if (!idx)
		die("calloc");
	*mapped = FAULT_PAGES;
	if (pat == P_STRIDE) {
		/* every 17th page: each answer maps 16 pages, clipped at the PMD
		 * end (a window never crosses it) and the region's end */
		*mapped = 0;
		for (size_t p = 0; p < FAULT_PAGES; p += W16 + 1) {
			size_t room = 512 - (vpage + p) % 512, left = FAULT_PAGES - p, w = W16;

			if (w > room)
				w = room;
			if (w > left)
				w = left;
			idx[k++] = (uint32_t)p;
			*mapped += w;
		}
	} else {
		for (k = 0; k < FAULT_PAGES; k++)
			idx[k] = (uint32_t)k;
		if (pat == P_RANDOM) {
			unsigned int seed = 13;

			for (size_t i = FAULT_PAGES - 1; i > 0; i--) {
				size_t j = (size_t)rand_r(&seed) % (i + 1);
				uint32_t t = idx[i];

				idx[i] = idx[j];
				idx[j] = t;
			}
		}
	}
	*n = k;
	return idx;
}

static double best(const double *v, int n)
{
	double b = v[0];

	for (int i = 1; i < n; i++)
		if (v[i] < b)
			b = v[i];
	return b;
}

/* b, a: this node's and the owner's counters now (updated to the end of the passes) */
static void run_fcase(struct fcase *c, const xpmem_segid_t *rseg, xpmem_apid_t *rap,
		      const struct child *lc, xpmem_apid_t *lap, long long *b, long long *a)
{
	c->window = fault_window(0);
	for (int r = 0; r < c->reps; r++) {
		long long b0[S_NR], b1[S_NR], a0[S_NR], a1[S_NR];
		char *at = attach(rseg[c->rseg], FAULT_REGION, &rap[c->rseg]);
		size_t n, mapped;
		uint32_t *idx = pattern(c->pat, &n, &mapped, (uintptr_t)at / PAGE);
		double t;

		c->touched = n;
		c->mapped = mapped;
		memcpy(b0, b, sizeof(b0));
		memcpy(a0, a, sizeof(a0));
		t = now_ns();
		touch_remote_ns(at, idx, n);
		t = now_ns() - t;
		daemon_stats(b1);
		peer_stats(a1);
		memcpy(b, b1, sizeof(b1));
		memcpy(a, a1, sizeof(a1));
		detach(at);
		c->remote_ns[r] = t / mapped;
		c->round_trips = delta(b0, b1, S_REMOTE_FAULTS);
		c->rt_us = c->round_trips > 0 ? t / 1e3 / c->round_trips : -1;
		c->rfault_us = stage_us(b0, b1, S_T_RFAULT_NS, S_T_RFAULT_N);
		c->resolve_us = stage_us(a0, a1, S_T_RESOLVE_NS, S_T_RESOLVE_N);
		if (c->lseg >= 0) {
			at = attach(lc->seg[c->lseg], FAULT_REGION, &lap[c->lseg]);
			c->local_ns[r] = touch_ns(at, idx, n);
			detach(at);
		}
		printf("B: first touch %s (%s source, %s, fault_window_pages %d): remote %.0f ns/page "
		       "(%lld round trips, %.0f us each; daemons: B %.0f us, A %.0f us), local %.0f ns/page\n",
		       c->name, c->source, c->pattern, c->window, c->remote_ns[r], c->round_trips,
		       c->rt_us, c->rfault_us, c->resolve_us, c->lseg >= 0 ? c->local_ns[r] : -1);
		free(idx);
	}
}

static void node_b(void)
{
	struct msg m;
	xpmem_segid_t rseg[5];
	xpmem_apid_t rap[5] = { 0 }, lap[3] = { 0 };
	struct child lc;
	int def = fault_window(0);
	struct fcase fc[] = {
		{ .name = "seq", .source = "4k", .pattern = "sequential", .rseg = 0, .lseg = 0,
		  .pat = P_SEQ, .reps = FT_REPS },
		{ .name = "thp", .source = "thp", .pattern = "sequential", .rseg = 1, .lseg = 1,
		  .pat = P_SEQ, .reps = FT_REPS },
		{ .name = "w16", .source = "4k", .pattern = "every 17th page (window held at 16)",
		  .rseg = 0, .lseg = -1, .pat = P_STRIDE, .reps = 1 },
		{ .name = "random", .source = "4k", .pattern = "random permutation", .rseg = 0,
		  .lseg = 0, .pat = P_RANDOM, .reps = 1 },
	};
	int nfc = sizeof(fc) / sizeof(fc[0]);
	double bw_remote, bw_local_att, bw_memcpy;
	char *at, *dst, *src, lwin[64], pmd[64];
	long long bnow[S_NR], anow[S_NR];
	struct utsname u;
	FILE *f;

	struct sigaction sa = { .sa_handler = on_sigbus, .sa_flags = SA_NODEFER };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL))
		die("sigaction");
	if (uname(&u))
		die("uname");
	xread(&m, C_SEGS);
	for (int i = 0; i < 5; i++)
		rseg[i] = (xpmem_segid_t)m.v[i];
	param_text("local_window_pages", lwin, sizeof(lwin));
	param_text("map_pmd", pmd, sizeof(pmd));
	printf("B: got A's segments; kernel %s, fault_window_pages %d, local_window_pages %s, "
	       "map_pmd %s\n", u.release, def, lwin, pmd);
	lc = local_source();

	daemon_stats(bnow);
	peer_stats(anow);
	for (int i = 0; i < nfc; i++) {
		if (fc[i].pat == P_STRIDE)
			fault_window(W16);
		run_fcase(&fc[i], rseg, rap, &lc, lap, bnow, anow);
		if (fc[i].pat == P_STRIDE)
			fault_window(def);
	}

	/* copy bandwidth: attachments fully faulted in first */
	{
		size_t n, mapped;
		uint32_t *idx = pattern(P_SEQ, &n, &mapped, 0);

		dst = region(COPY_REGION, 0, 1);
		src = region(COPY_REGION, 0, 1);
		at = attach(rseg[2], COPY_REGION, &rap[2]);
		touch_remote_ns(at, idx, COPY_REGION / PAGE);
		bw_remote = copy_gbs(dst, at, COPY_REGION);
		detach(at);
		at = attach(lc.seg[2], COPY_REGION, &lap[2]);
		touch_ns(at, idx, COPY_REGION / PAGE);
		bw_local_att = copy_gbs(dst, at, COPY_REGION);
		detach(at);
		bw_memcpy = copy_gbs(dst, src, COPY_REGION);
		free(idx);
	}
	printf("B: copy %lu MiB: remote attachment %.3f GB/s, local attachment %.3f GB/s, memcpy %.3f GB/s\n",
	       COPY_REGION >> 20, bw_remote, bw_local_att, bw_memcpy);
	if (write(lc.release, "x", 1) != 1)
		die("release");
	waitpid(lc.pid, NULL, 0);

	f = outfile("fault.json");
	fprintf(f, "{\"bench\":\"remote_fault\",\"region_pages\":%lu,\"kernel\":\"%s\","
		"\"fault_window_pages\":%d,\"local_window_pages\":\"%s\",\"map_pmd\":\"%s\","
		"\"a_thp_kb\":%lld,\"local_thp_kb\":%ld,\"sigbus_retries\":%lu,\"cases\":[",
		FAULT_PAGES, u.release, def, lwin, pmd,
		(long long)m.b, lc.huge_kb, sigbus_count);
	for (int i = 0; i < nfc; i++) {
		struct fcase *c = &fc[i];

		fprintf(f, "%s{\"case\":\"%s\",\"source\":\"%s\",\"pattern\":\"%s\",\"window\":%d,"
			"\"pages_touched\":%zu,\"pages_mapped\":%zu,\"round_trips\":%lld,"
			"\"us_per_round_trip\":%.1f,\"importer_daemon_us\":%.1f,\"owner_daemon_us\":%.1f,"
			"\"remote_ns_per_page\":%.0f,\"remote_reps\":[", i ? "," : "", c->name, c->source,
			c->pattern, c->window, c->touched, c->mapped, c->round_trips, c->rt_us,
			c->rfault_us, c->resolve_us, best(c->remote_ns, c->reps));
		for (int r = 0; r < c->reps; r++)
			fprintf(f, "%s%.0f", r ? "," : "", c->remote_ns[r]);
		fprintf(f, "]");
		if (c->lseg >= 0) {
			fprintf(f, ",\"local_ns_per_page\":%.0f,\"local_reps\":[", best(c->local_ns, c->reps));
			for (int r = 0; r < c->reps; r++)
				fprintf(f, "%s%.0f", r ? "," : "", c->local_ns[r]);
			fprintf(f, "],\"ratio\":%.3f", best(c->remote_ns, c->reps) / best(c->local_ns, c->reps));
		}
		fprintf(f, "}");
	}
	fprintf(f, "]}\n");
	fclose(f);
	f = outfile("copy.json");
	fprintf(f, "{\"bench\":\"copy\",\"bytes\":%lu,\"remote_attach_gbs\":%.4f,"
		"\"local_attach_gbs\":%.4f,\"memcpy_gbs\":%.4f,\"remote_vs_memcpy\":%.3f,"
		"\"remote_vs_local_attach\":%.3f}\n", COPY_REGION, bw_remote, bw_local_att,
		bw_memcpy, bw_remote / bw_memcpy, bw_remote / bw_local_att);
	fclose(f);

	/* invalidation: touch what A asks, answer */
	char *inv = attach(rseg[3], INVAL_PAGES * PAGE, &rap[3]);
	char *giant = attach(rseg[4], GIANT, &rap[4]);

	send_msg(C_FAULT_DONE, 0, 0);
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
			serve_stats();
			continue;
		}
		if (m.cmd == C_PP) {
			pingpong_b(&m);
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
	printf("B: done\n");
}

/* ---- A: invalidation -> ack, floors interleaved ---- */

struct series {
	const char *name, *op;
	size_t pages;		/* range length */
	int n, done;
	double *remote, *local;
	long long invalidations, retransmits, timed_out, zaps, sigbus;
	/* stage sums over the samples (ns, count): owner daemon, peer daemon */
	long long t_inval_ns, t_inval_n, t_zap_ns, t_zap_n;
	int stats_ok, stages_ok;
	double block_p50[MAX_BLOCKS];
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
		if (madvise(p, len, MADV_NOHUGEPAGE))
			die("madvise");
	} else {
		if (madvise(p, len, MADV_DONTNEED))
			die("madvise");
		t = now_ns() - t;
	}
	return t / 1000;	/* us */
}

static void add(long long *acc, const long long *a, const long long *b, int i, int *ok)
{
	long long d = delta(a, b, i);

	if (d < 0)
		*ok = 0;
	else
		*acc += d;
}

/*
 * Samples [s->done, s->done + n) of series s, block blk; a, b: A's and B's
 * counters now (updated to the end of the chunk).
 */
static void run_chunk(struct series *s, char *p, int giant, const uint64_t *offs, int n, int blk,
		      long long *a, long long *b)
{
	size_t len = giant ? GIANT : s->pages * PAGE;
	int munmap_op = !strcmp(s->op, "munmap");
	long long a0[S_NR], a1[S_NR], b0[S_NR], b1[S_NR];
	struct msg m;
	int first = s->done;

	if (n <= 0)
		return;
	memcpy(a0, a, sizeof(a0));
	memcpy(b0, b, sizeof(b0));
	for (int i = s->done; i < s->done + n; i++) {
		struct msg t = { .cmd = C_TOUCH, .a = (uint64_t)giant, .b = len };

		/* remote: B maps the range, then A changes it */
		if (giant) {
			for (int k = 0; k < GIANT_TOUCHED; k++)
				p[offs[k]] = (char)(i | 1);
			t.n = GIANT_TOUCHED;
			memcpy(t.v, offs, GIANT_TOUCHED * sizeof(uint64_t));
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
	s->done += n;
	daemon_stats(a1);
	peer_stats(b1);
	memcpy(a, a1, sizeof(a1));
	memcpy(b, b1, sizeof(b1));
	add(&s->invalidations, a0, a1, S_INVALIDATIONS, &s->stats_ok);
	add(&s->retransmits, a0, a1, S_RETRANSMITS, &s->stats_ok);
	add(&s->timed_out, a0, a1, S_TIMED_OUT, &s->stats_ok);
	add(&s->zaps, b0, b1, S_ZAPS, &s->stats_ok);
	/* stage times: optional (a daemon without them gives -1) */
	if (delta(a0, a1, S_T_INVAL_N) >= 0 && delta(b0, b1, S_T_ZAP_N) >= 0) {
		s->t_inval_ns += delta(a0, a1, S_T_INVAL_NS);
		s->t_inval_n += delta(a0, a1, S_T_INVAL_N);
		s->t_zap_ns += delta(b0, b1, S_T_ZAP_NS);
		s->t_zap_n += delta(b0, b1, S_T_ZAP_N);
	} else {
		s->stages_ok = 0;
	}
	if (blk < MAX_BLOCKS)
		s->block_p50[blk] = median_of(s->remote + first, n);
}

static void dump_series(FILE *j, struct series *s, int first, int blocks)
{
	char name[128];
	FILE *f;
	double total = 0;

	snprintf(name, sizeof(name), "inval-%s-%s.txt", s->name, s->op);
	f = outfile(name);
	for (int i = 0; i < s->n; i++) {
		fprintf(f, "%.1f\n", s->remote[i]);
		total += s->remote[i];
	}
	fclose(f);
	snprintf(name, sizeof(name), "inval-%s-%s-local.txt", s->name, s->op);
	f = outfile(name);
	for (int i = 0; i < s->n; i++)
		fprintf(f, "%.1f\n", s->local[i]);
	fclose(f);
	qsort(s->remote, s->n, sizeof(double), cmp);
	qsort(s->local, s->n, sizeof(double), cmp);
	fprintf(j, "%s{\"range\":\"%s\",\"op\":\"%s\",\"range_pages\":%zu,\"samples\":%d,"
		"\"remote_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f,\"mean\":%.1f},"
		"\"no_remote_mapping_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f},",
		first ? "" : ",", s->name, s->op, s->pages, s->n,
		pct(s->remote, s->n, .5), pct(s->remote, s->n, .9), pct(s->remote, s->n, .99),
		s->remote[s->n - 1], total / s->n, pct(s->local, s->n, .5), pct(s->local, s->n, .9),
		pct(s->local, s->n, .99), s->local[s->n - 1]);
	if (s->stats_ok)
		fprintf(j, "\"invalidate_msgs\":%lld,\"retransmits\":%lld,\"timed_out\":%lld,"
			"\"peer_zaps\":%lld,\"msgs_per_invalidation_per_peer\":%.3f,",
			s->invalidations, s->retransmits, s->timed_out, s->zaps,
			(double)(s->invalidations + s->retransmits) / s->n);
	if (s->stages_ok && s->t_inval_n > 0 && s->t_zap_n > 0)
		fprintf(j, "\"stages_us\":{\"owner_daemon\":%.1f,\"owner_daemon_n\":%lld,"
			"\"peer_daemon\":%.1f,\"peer_daemon_n\":%lld},",
			s->t_inval_ns / 1e3 / s->t_inval_n, s->t_inval_n,
			s->t_zap_ns / 1e3 / s->t_zap_n, s->t_zap_n);
	fprintf(j, "\"block_p50_us\":[");
	for (int b = 0; b < blocks && b < MAX_BLOCKS; b++)
		fprintf(j, "%s%.1f", b ? "," : "", s->block_p50[b]);
	fprintf(j, "],\"peer_sigbus_retries\":%lld}", s->sigbus);
	printf("A: %-5s %-8s n=%-5d remote p50 %8.1f p90 %8.1f p99 %8.1f max %8.1f us | "
	       "no remote mapping p50 %8.1f us\n", s->name, s->op, s->n, pct(s->remote, s->n, .5),
	       pct(s->remote, s->n, .9), pct(s->remote, s->n, .99), s->remote[s->n - 1],
	       pct(s->local, s->n, .5));
}

/* blocking TCP ping-pong over the control socket: n samples into v */
static void tcp_pingpong(double *v, int n)
{
	struct msg m;

	for (int i = 0; i < n; i++) {
		double t = now_ns();

		send_msg(C_PING, (uint64_t)i, 0);
		xread(&m, C_PONG);
		v[i] = (now_ns() - t) / 1000;
	}
}

static void node_a(int n1, int n512, int ngiant, int nmunmap, int blocks, int ppi)
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
	int ntcp = n1 > 0 ? n1 : 1000, pp_ok[MAX_BLOCKS], tdone = 0;
	double *tcp, tcp_block[MAX_BLOCKS], t0;
	FILE *j;

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
	for (;;) {	/* B's fault part; it asks for our daemon's counters */
		xread(&m, 0);
		if (m.cmd == C_FAULT_DONE)
			break;
		if (m.cmd != C_STATS) {
			fprintf(stderr, "A: unexpected message %u\n", m.cmd);
			exit(1);
		}
		serve_stats();
	}

	tcp = calloc(ntcp, sizeof(double));
	if (!tcp)
		die("calloc");
	for (int i = 0; i < 4; i++) {
		s[i].stats_ok = 1;
		s[i].stages_ok = 1;
		s[i].remote = calloc(s[i].n > 0 ? s[i].n : 1, sizeof(double));
		s[i].local = calloc(s[i].n > 0 ? s[i].n : 1, sizeof(double));
		if (!s[i].remote || !s[i].local)
			die("calloc");
	}
	t0 = now_ns();
	for (int b = 0; b < blocks; b++) {
		for (int ph = 0; ph < 2; ph++) {
			if ((ph == 0) == (b % 2 == 0)) {	/* floor phase */
				int nt = (int)((long long)ntcp * (b + 1) / blocks) - tdone;

				pp_ok[b] = pingpong_a(b, ppi, 1) == 0;
				pp_ok[b] = pingpong_a(b, ppi, 0) == 0 && pp_ok[b];
				tcp_pingpong(tcp + tdone, nt);
				tcp_block[b] = median_of(tcp + tdone, nt);
				tdone += nt;
			} else {
				long long an[S_NR], bn[S_NR];

				daemon_stats(an);
				peer_stats(bn);
				for (int i = 0; i < 4; i++) {
					int n = (int)((long long)s[i].n * (b + 1) / blocks) - s[i].done;

					run_chunk(&s[i], !strcmp(s[i].name, "1g") ? giant : inv,
						  !strcmp(s[i].name, "1g"), offs, n, b, an, bn);
				}
			}
		}
		printf("A: block %d of %d (%s first) done at %.0f s: fi_pingpong %s, TCP p50 %.1f us, "
		       "inval->ack 1 page p50 %.1f us\n", b + 1, blocks, b % 2 ? "xpmem" : "floor",
		       (now_ns() - t0) / 1e9, pp_ok[b] ? "ok" : "FAILED", tcp_block[b],
		       s[0].n > 0 ? s[0].block_p50[b] : -1);
	}
	send_msg(C_END, 0, 0);
	for (int i = 0; i < 4; i++)
		if (s[i].n > 0)
			printf("A: %s %s: %d samples; INVALIDATEs sent %lld, retransmits %lld, timed out %lld, "
			       "zaps on B %lld, SIGBUS retries on B %lld\n", s[i].name, s[i].op, s[i].n,
			       s[i].invalidations, s[i].retransmits, s[i].timed_out, s[i].zaps, s[i].sigbus);

	{
		FILE *f = outfile("tcp-rtt.txt");

		for (int i = 0; i < ntcp; i++)
			fprintf(f, "%.1f\n", tcp[i]);
		fclose(f);
	}
	qsort(tcp, ntcp, sizeof(double), cmp);
	printf("A: TCP ping-pong over the private link: p50 %.1f us, p99 %.1f us (%d samples in %d blocks)\n",
	       pct(tcp, ntcp, .5), pct(tcp, ntcp, .99), ntcp, blocks);

	j = outfile("inval.json");
	fprintf(j, "{\"bench\":\"inval_ack\",\"peers\":1,\"giant_pages_mapped_by_peer\":%d,"
		"\"blocks\":%d,\"pingpong_iterations_per_block\":%d,"
		"\"tcp_rtt_us\":{\"samples\":%d,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f},"
		"\"block_order\":[", GIANT_TOUCHED, blocks, ppi, ntcp, pct(tcp, ntcp, .5),
		pct(tcp, ntcp, .9), pct(tcp, ntcp, .99), tcp[ntcp - 1]);
	for (int b = 0; b < blocks && b < MAX_BLOCKS; b++)
		fprintf(j, "%s\"%s\"", b ? "," : "", b % 2 ? "xpmem,floor" : "floor,xpmem");
	fprintf(j, "],\"tcp_block_p50_us\":[");
	for (int b = 0; b < blocks && b < MAX_BLOCKS; b++)
		fprintf(j, "%s%.1f", b ? "," : "", tcp_block[b]);
	fprintf(j, "],\"pingpong_block_ok\":[");
	for (int b = 0; b < blocks && b < MAX_BLOCKS; b++)
		fprintf(j, "%s%d", b ? "," : "", pp_ok[b]);
	fprintf(j, "],\"series\":[");
	for (int i = 0, first = 1; i < 4; i++)
		if (s[i].n > 0) {
			dump_series(j, &s[i], first, blocks);
			first = 0;
		}
	fprintf(j, "]}\n");
	fclose(j);
}

int main(int argc, char **argv)
{
	const char *id = getenv("XPMEM_NODE_ID");
	int blocks = argc > 6 ? atoi(argv[6]) : 10;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || !id || blocks < 1 || blocks > MAX_BLOCKS) {
		fprintf(stderr, "usage: bench_inval OUTDIR [n-1p [n-512p [n-1g [n-munmap [blocks (1-%d) "
			"[pp-iters]]]]]] (under tests/vm/run-cluster)\n", MAX_BLOCKS);
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
		       argc > 4 ? atoi(argv[4]) : 100, argc > 5 ? atoi(argv[5]) : 300, blocks,
		       argc > 7 ? atoi(argv[7]) : 500);
	else
		node_b();
	return 0;
}
