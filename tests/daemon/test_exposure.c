// SPDX-License-Identifier: GPL-2.0
/*
 * Exposure of a running xpmemd (issue 15): what it listens on and what a
 * flood of its fabric port does to it. Real daemons on 127.0.0.1 against
 * simulated kernels, as in test_daemon.
 *
 * usage: test_exposure CASE PATH-TO-XPMEMD
 *   listen  the daemon's TCP listeners (ss -ltnp): the fabric port on the
 *           configured address only, nothing else (no Peer gRPC port)
 *   flood   started with RLIMIT_NOFILE 1024 soft / 8192 hard (systemd's
 *           default shape): 2000 idle TCP connections to the fabric port
 *           while invalidations keep flowing between two daemons. No fd
 *           exhaustion (the daemon raised its soft limit), xpmemctl status
 *           answers, inval->ack p50 stays within 2x of the unloaded runs
 *           (unloaded and flooded blocks alternate, 3 of each), and the fds
 *           come back each time the flood closes.
 *   foreign 500 connections from 127.0.0.2 (not a peer's address): refused
 *           in the kernel by the listener's source filter, no fd; admitted
 *           with peer_source_filter = no. A node with no peers admits
 *           nobody.
 *   watchdog with WATCHDOG_USEC set, WATCHDOG=1 at least twice per half
 *           period from the event loop; none while the daemon is stopped.
 *   socket  grpc_socket_mode = 0600: created so; an unprivileged
 *           xpmemctl cannot connect, root's can.
 *   mgmtfds the daemon's fd limit lowered to 256 (prlimit), then 400 idle
 *           Management connections (what any local user may open): once
 *           the spare fd is used, the listener pauses instead of waking
 *           the loop for an accept that fails (before: ~700k "accept: Too
 *           many open files" warnings in 17 s); the peer still gets its
 *           session back after a restart, and status answers once the
 *           connections close. (Review finding, issue 15.)
 */
#define _GNU_SOURCE
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <arpa/inet.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEG 0x1000
#define SEGSIZE (64ull << 20)
#define MB (1ull << 20)
#define FLOOD_CONNS 2000
#define ROUNDS 50	/* invalidations per block */
#define CYCLES 3	/* unloaded/flooded block pairs */

static struct cluster C;
static char ctl_bin[512];
static char out[65536];

static uint64_t us_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

static void start_all(struct cluster *c)
{
	for (int i = 0; i < c->n; i++)
		node_start(c, i);
	CHECK(wait_ready(c, 15000), "cluster did not come up");
}

static int ctl_nobody;	/* ctl() runs xpmemctl as nobody (65534) */

/* run xpmemctl ARGS (shell words); returns its exit status, output in out */
static int ctl(const char *args)
{
	return run_ctl(&C, ctl_bin, ctl_nobody ? 65534 : -1, NULL, 0, args, out, sizeof(out));
}

static int count_fds(pid_t pid)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* the soft RLIMIT_NOFILE of pid, from /proc/PID/limits */
static long long nofile_limit(pid_t pid)
{
	char path[64], line[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Max open files", 14) && sscanf(line + 14, "%lld", &v) != 1)
			v = -1;
	fclose(f);
	return v;
}

/*
 * The TCP listeners of pid as `ss -ltnpH` shows them ("ADDR:PORT" each,
 * space separated, into buf); returns how many.
 */
static int tcp_listeners(pid_t pid, char *buf, size_t len)
{
	char line[512], pidtag[32];
	FILE *p = popen("ss -ltnpH 2>&1", "r");
	int n = 0;
	size_t used = 0;

	CHECK(p, "popen ss");
	buf[0] = 0;
	snprintf(pidtag, sizeof(pidtag), "pid=%d,", (int)pid);
	while (fgets(line, sizeof(line), p)) {
		char state[32], local[160];
		int rq, sq;

		if (!strstr(line, pidtag))
			continue;
		if (sscanf(line, "%31s %d %d %159s", state, &rq, &sq, local) != 4)
			continue;
		n++;
		used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s",
					 used ? " " : "", local);
	}
	CHECK(pclose(p) == 0, "ss -ltnpH failed (iproute2 installed?)");
	return n;
}

static void t_listen(const char *bin)
{
	char want[64], got[1024];

	cluster_init(&C, bin, 2, 0);
	start_all(&C);
	for (int i = 0; i < 2; i++) {
		int n = tcp_listeners(C.nodes[i].pid, got, sizeof(got));

		snprintf(want, sizeof(want), "127.0.0.1:%d", C.nodes[i].port);
		fprintf(stderr, "node %d (listen = %s): TCP listeners: %s\n", i + 1, want, got);
		CHECK(n == 1 && !strcmp(got, want),
		      "node %d listens on '%s', expected exactly the fabric port %s", i + 1, got,
		      want);
	}
	cluster_stop(&C);
}

struct gen_arg { int node; uint64_t gen; int state; };

static int gen_cond(struct cluster *c, void *a)
{
	struct gen_arg *g = a;

	return (int)simk_inval_state(c->nodes[g->node].k, g->gen) == g->state;
}

struct id_arg { int node; uint64_t id; int get; };

static int id_cond(struct cluster *c, void *a)
{
	struct id_arg *f = a;

	if (f->get)
		return simk_get_state(c->nodes[f->node].k, f->id, NULL, NULL) == 1;
	return simk_fault_state(c->nodes[f->node].k, f->id, NULL, NULL, NULL) == 1;
}

/* node 2 gets and faults 1 MiB of node 1's SEG */
static void map_remote(void)
{
	struct id_arg a = { 1, 0, 1 };
	int err = -1;

	a.id = simk_remote_get(C.nodes[1].k, C.nodes[0].id, SEG, 1 /* XPMEM_RDONLY */, 1000, 1000);
	CHECK(wait_for(&C, id_cond, &a, 5000), "remote get did not finish");
	simk_get_state(C.nodes[1].k, a.id, &err, NULL);
	CHECK(err == 0, "remote get: %d", err);
	a.get = 0;
	a.id = simk_remote_fault(C.nodes[1].k, C.nodes[0].id, SEG, 0, MB, XPMEM_CHAN_ACCESS_READ);
	CHECK(wait_for(&C, id_cond, &a, 5000), "remote fault did not finish");
	simk_fault_state(C.nodes[1].k, a.id, &err, NULL, NULL);
	CHECK(err == 0, "remote fault: %d", err);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* n invalidations of a range node 2 maps: inval -> ACKED latency (us) into lat */
static void inval_block(uint64_t *lat, int n)
{
	for (int r = 0; r < n; r++) {
		struct gen_arg g = { 0, 0, SIMK_ACKED };
		uint64_t t0;

		map_remote();
		t0 = us_now();
		g.gen = simk_invalidate(C.nodes[0].k, SEG, 0, SEGSIZE);
		CHECK(g.gen, "nothing to invalidate");
		CHECK(wait_for(&C, gen_cond, &g, 5000), "generation %llu not ACKED (state %d)",
		      (unsigned long long)g.gen, simk_inval_state(C.nodes[0].k, g.gen));
		lat[r] = us_now() - t0;
	}
}

static void percentiles(uint64_t *lat, int n, uint64_t *p50, uint64_t *p99)
{
	qsort(lat, (size_t)n, sizeof(lat[0]), cmp_u64);
	*p50 = lat[n / 2];
	*p99 = lat[n * 99 / 100];
}

/*
 * child: n idle connections to port from source address src (host order),
 * connected without blocking; after up to 3 s it reports how many completed
 * their handshake, then holds them until killed
 */
static pid_t flood(int port, uint32_t src, int n, int *ready_fd)
{
	int pfd[2];
	pid_t pid;

	CHECK(pipe(pfd) == 0, "pipe");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		struct sockaddr_in me = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(src) };
		static struct pollfd pf[FLOOD_CONNS];
		struct rlimit rl;
		int opened = 0, done = 0;

		close(pfd[0]);
		rl.rlim_cur = rl.rlim_max = FLOOD_CONNS + 64;	/* root may raise it */
		if (setrlimit(RLIMIT_NOFILE, &rl) && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
			rl.rlim_cur = rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &rl))
				perror("flood: setrlimit");
		}
		for (int i = 0; i < n && i < FLOOD_CONNS; i++) {
			int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

			if (s < 0 || bind(s, (struct sockaddr *)&me, sizeof(me)) < 0) {
				perror("flood: socket/bind");
				break;
			}
			if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
			    errno != EINPROGRESS) {
				perror("flood: connect");
				close(s);
				break;
			}
			pf[opened].fd = s;
			pf[opened++].events = POLLOUT;
		}
		for (int t = 0; t < 30 && done < opened; t++) {
			done = 0;
			if (poll(pf, (nfds_t)opened, 100) < 0)
				break;
			for (int i = 0; i < opened; i++) {
				int err = 1;
				socklen_t l = sizeof(err);

				if ((pf[i].revents & POLLOUT) &&
				    getsockopt(pf[i].fd, SOL_SOCKET, SO_ERROR, &err, &l) == 0 && !err)
					done++;
			}
		}
		if (write(pfd[1], &done, sizeof(done)) != sizeof(done))
			_exit(1);
		for (;;)	/* held open, never written to */
			pause();
	}
	close(pfd[1]);
	CHECK(fcntl(pfd[0], F_SETFL, O_NONBLOCK) == 0, "fcntl");
	*ready_fd = pfd[0];
	return pid;
}

/* start a flood and wait for its report: connections that completed */
static int flood_wait(int fd)
{
	int n = -1;

	for (int t = 0; t < 3000 && n < 0; t++) {
		if (read(fd, &n, sizeof(n)) != sizeof(n))
			n = -1;
		pump(&C, 5);
	}
	close(fd);
	return n;
}

static void flood_stop(pid_t pid)
{
	CHECK(kill(pid, SIGKILL) == 0 && waitpid(pid, NULL, 0) == pid, "flood child");
}

/*
 * 500 connections from 127.0.0.2, not a peer's address: with the source
 * filter (default) none completes its handshake and the daemon holds no fd
 * for them; from 127.0.0.1 (the peers' address) they complete. With
 * peer_source_filter = no the same foreign flood gets in.
 */
static void t_foreign(const char *bin)
{
	int fds0, fds, n, rfd;
	pid_t fp;

	for (int filter = 1; filter >= 0; filter--) {
		cluster_init(&C, bin, 2, 0);
		if (!filter)
			snprintf(C.extra_conf, sizeof(C.extra_conf), "peer_source_filter = no");
		start_all(&C);
		fds0 = count_fds(C.nodes[0].pid);
		fp = flood(C.nodes[0].port, 0x7f000002, 500, &rfd);	/* 127.0.0.2 */
		n = flood_wait(rfd);
		pump(&C, 200);
		fds = count_fds(C.nodes[0].pid);
		fprintf(stderr, "filter %s: 500 connections from 127.0.0.2: %d completed, daemon fds %d -> %d\n",
			filter ? "on" : "off", n, fds0, fds);
		if (filter)
			CHECK(n == 0 && fds <= fds0 + 2,
			      "non-peer connections got in: %d completed, fds %d -> %d", n, fds0, fds);
		else
			CHECK(n == 500 && fds >= fds0 + 450,
			      "without the filter the flood should get in (%d, fds %d)", n, fds);
		flood_stop(fp);
		CHECK(wait_ready(&C, 5000), "peers lost each other");
		if (filter) {
			fp = flood(C.nodes[0].port, 0x7f000001, 100, &rfd);	/* 127.0.0.1 */
			n = flood_wait(rfd);
			fprintf(stderr, "filter on: 100 connections from 127.0.0.1: %d completed\n", n);
			CHECK(n == 100, "connections from the peers' address refused (%d)", n);
			flood_stop(fp);
		}
		cluster_stop(&C);
	}
	/*
	 * No peer configured: the listener admits nobody (before: the filter
	 * went on only with the first peer, so until then, or on a node with
	 * no peers, any connection got in). Review finding.
	 */
	cluster_init(&C, bin, 1, 0);
	start_all(&C);
	fds0 = count_fds(C.nodes[0].pid);
	fp = flood(C.nodes[0].port, 0x7f000001, 100, &rfd);
	n = flood_wait(rfd);
	pump(&C, 200);
	fds = count_fds(C.nodes[0].pid);
	fprintf(stderr, "filter on, no peers: 100 connections from 127.0.0.1: %d completed, "
		"daemon fds %d -> %d\n", n, fds0, fds);
	CHECK(n == 0 && fds <= fds0 + 2, "a node with no peers admitted %d connections", n);
	flood_stop(fp);
	cluster_stop(&C);
}

static void t_flood(const char *bin)
{
	struct rlimit rl = { .rlim_cur = 1024, .rlim_max = 8192 };
	static uint64_t lat_u[CYCLES * ROUNDS], lat_l[CYCLES * ROUNDS];
	uint64_t p50_u, p99_u, p50_l, p99_l;
	int fds0, fds = 0, fds_max = 0, ready_fd, nconn;
	long long lim;
	pid_t fpid, d0;
	char sock[300];

	/* the daemons start as systemd would start them without LimitNOFILE */
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit: %s", strerror(errno));
	cluster_init(&C, bin, 2, 0);
	simk_add_segment(C.nodes[0].k, SEG, 0x100000000ull, SEGSIZE, 0);
	start_all(&C);
	d0 = C.nodes[0].pid;
	snprintf(sock, sizeof(sock), "-s %s status", C.nodes[0].grpc);
	lim = nofile_limit(d0);
	fds0 = count_fds(d0);
	fprintf(stderr, "daemon: fd limit %lld, %d fds open\n", lim, fds0);
	CHECK(lim == 8192, "the daemon did not raise its soft fd limit to the hard limit (%lld)",
	      lim);

	/*
	 * Unloaded and flooded blocks alternate (CYCLES times), so the host's
	 * own load, which drifts over seconds, weighs on both alike.
	 */
	for (int cyc = 0; cyc < CYCLES; cyc++) {
		inval_block(lat_u + cyc * ROUNDS, ROUNDS);

		/* from 127.0.0.1: the peers' own address, which the source
		 * filter admits (a tenant on a peer node) */
		fpid = flood(C.nodes[0].port, 0x7f000001, FLOOD_CONNS, &ready_fd);
		nconn = flood_wait(ready_fd);
		CHECK(nconn == FLOOD_CONNS, "flood opened %d of %d connections", nconn, FLOOD_CONNS);
		/* the provider accepts each one (an fd apiece) as it progresses */
		for (int t = 0; t < 400; t++) {
			fds = count_fds(d0);
			if (fds >= fds0 + FLOOD_CONNS)
				break;
			pump(&C, 25);
		}
		fprintf(stderr, "flooded: %d idle connections, daemon holds %d fds (was %d, limit %lld)\n",
			nconn, fds, fds0, lim);
		CHECK(fds >= fds0 + FLOOD_CONNS * 9 / 10,
		      "the flood did not reach the daemon (%d fds): the test measures nothing", fds);
		CHECK(fds < lim - 64, "fd table nearly full: %d of %lld", fds, lim);
		if (fds > fds_max)
			fds_max = fds;
		CHECK(ctl(sock) == 0 && strstr(out, "node           1") &&
		      strstr(out, "1 alive / 1"), "xpmemctl status did not answer under the flood");

		inval_block(lat_l + cyc * ROUNDS, ROUNDS);

		flood_stop(fpid);
		/* the connections close: the provider lets their fds go */
		for (int t = 0; t < 400; t++) {
			fds = count_fds(d0);
			if (fds <= fds0 + 16)
				break;
			pump(&C, 25);
		}
		fprintf(stderr, "flood over: daemon holds %d fds\n", fds);
		CHECK(fds <= fds0 + 16, "%d fds still held after the flood closed (was %d)", fds,
		      fds0);
	}
	percentiles(lat_u, CYCLES * ROUNDS, &p50_u, &p99_u);
	percentiles(lat_l, CYCLES * ROUNDS, &p50_l, &p99_l);
	printf("flood: %d connections x %d, daemon fds %d -> %d (limit %lld) -> %d after; "
	       "inval->ack (n=%d each) p50 unloaded %llu us, flooded %llu us (%.2fx); "
	       "p99 unloaded %llu us, flooded %llu us\n",
	       FLOOD_CONNS, CYCLES, fds0, fds_max, lim, fds, CYCLES * ROUNDS,
	       (unsigned long long)p50_u, (unsigned long long)p50_l,
	       (double)p50_l / (double)(p50_u ? p50_u : 1), (unsigned long long)p99_u,
	       (unsigned long long)p99_l);
	CHECK(p50_l <= 2 * p50_u, "inval->ack p50 under the flood %llu us > 2x unloaded %llu us",
	      (unsigned long long)p50_l, (unsigned long long)p50_u);
	cluster_stop(&C);
}

/* a datagram and the time (us, CLOCK_REALTIME) the kernel queued it on the
 * socket (SO_TIMESTAMPNS): when this test gets to read it does not matter */
static ssize_t recv_stamped(int fd, char *buf, size_t len, uint64_t *at_us)
{
	char cbuf[CMSG_SPACE(sizeof(struct timespec))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(fd, &mh, 0);

	*at_us = 0;
	for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;

			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			*at_us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
		}
	return n;
}

/*
 * systemd's watchdog: with WATCHDOG_USEC set (as systemd sets it from
 * WatchdogSec), WATCHDOG=1 arrives on NOTIFY_SOCKET from the event loop,
 * which pings every period/4; stopped loop (SIGSTOP), no pings.
 *
 * The verdict is on the times the pings reached the socket (kernel
 * timestamps, not when this busy test read them), with margins derived
 * from the period, so a loaded machine does not fail it but a daemon that
 * pings too rarely does: at least half the pings due (3 s / (period/4) =
 * 12, so >= 6); no gap of 3/4 period or more (three ping intervals: systemd
 * kills at one period); at most one ping "late" (a gap over two ping
 * intervals, period/2), i.e. a single scheduling hiccup of the daemon.
 */
static void t_watchdog(const char *bin)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const uint64_t period_us = 1000000;	/* WatchdogSec=1s */
	const uint64_t interval_us = period_us / 4;	/* the daemon's ping interval */
	uint64_t t0, at, last = 0, gap = 0;
	int nfd, pings = 0, ready = 0, late = 0, one = 1;
	char msg[256];

	cluster_init(&C, bin, 1, 0);
	snprintf(C.notify, sizeof(C.notify), "%s/notify", C.dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", C.notify);
	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(nfd >= 0 && bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind notify");
	CHECK(setsockopt(nfd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) == 0,
	      "SO_TIMESTAMPNS");
	CHECK(setenv("WATCHDOG_USEC", "1000000", 1) == 0, "setenv");
	start_all(&C);
	CHECK(unsetenv("WATCHDOG_USEC") == 0, "unsetenv");
	/* 3 s of notifications after READY=1 */
	for (t0 = us_now(); us_now() - t0 < 3000000;) {
		ssize_t n = recv_stamped(nfd, msg, sizeof(msg) - 1, &at);

		if (n <= 0) {
			pump(&C, 5);
			continue;
		}
		msg[n] = 0;
		ready |= !!strstr(msg, "READY=1");
		if (!ready || !strstr(msg, "WATCHDOG=1"))
			continue;
		CHECK(at, "no SCM_TIMESTAMPNS on the notification");
		if (last && at > last) {
			if (at - last > gap)
				gap = at - last;
			late += at - last > 2 * interval_us;
		}
		last = at;
		pings++;
	}
	fprintf(stderr, "watchdog: %d pings in 3 s, longest gap %llu ms, %d over %llu ms "
		"(WatchdogSec %llu ms, pings due every %llu ms)\n", pings,
		(unsigned long long)gap / 1000, late, (unsigned long long)2 * interval_us / 1000,
		(unsigned long long)period_us / 1000, (unsigned long long)interval_us / 1000);
	CHECK(ready, "no READY=1");
	CHECK(pings >= 6, "%d WATCHDOG=1 in 3 s: fewer than half of the 12 due", pings);
	CHECK(gap < 3 * interval_us, "a gap of %llu us between pings (3 ping intervals: %llu us)",
	      (unsigned long long)gap, (unsigned long long)3 * interval_us);
	CHECK(late <= 1, "%d gaps between pings over %llu us (two ping intervals)", late,
	      (unsigned long long)2 * interval_us);
	/* the pings come from the daemon's loop: a stopped daemon sends none */
	CHECK(kill(C.nodes[0].pid, SIGSTOP) == 0, "SIGSTOP");
	pump(&C, 50);
	while (recv(nfd, msg, sizeof(msg), 0) > 0)
		;
	pings = 0;
	for (t0 = us_now(); us_now() - t0 < 500000;) {
		if (recv(nfd, msg, sizeof(msg), 0) > 0)
			pings++;
		pump(&C, 5);
	}
	CHECK(kill(C.nodes[0].pid, SIGCONT) == 0, "SIGCONT");
	CHECK(pings == 0, "%d pings from a stopped daemon", pings);
	close(nfd);
	cluster_stop(&C);
}

static long count_in_log(const char *log, const char *what)
{
	char cmd[700];
	long n = -1;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "grep -c '%s' %s", what, log);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &n) != 1)
		n = -1;
	pclose(f);
	return n;
}

/* sd_notify messages on @nfd for @us (until READY=1 if @until_ready),
 * pumping the kernels: READY=1 seen into *ready, WATCHDOG=1s added to *pings */
static void read_notify(int nfd, uint64_t us, int until_ready, int *ready, int *pings)
{
	char msg[256];

	for (uint64_t t0 = us_now(); !(until_ready && *ready) && us_now() - t0 < us;) {
		ssize_t n = recv(nfd, msg, sizeof(msg) - 1, 0);

		if (n <= 0) {
			pump(&C, 5);
			continue;
		}
		msg[n] = 0;
		*ready |= !!strstr(msg, "READY=1");
		*pings += !!strstr(msg, "WATCHDOG=1");
	}
}

static int connected_cond(struct cluster *c, void *a)
{
	(void)c;
	return simk_connected(((struct node *)a)->k);
}

static int hello_held_cond(struct cluster *c, void *a)
{
	(void)c;
	return simk_hello_held(a);
}

/*
 * Startup does not block the loop (issue 10): node 1's kernel holds its
 * HELLO unanswered for 3 s. Meanwhile the daemon pings the watchdog from its
 * loop, answers the management API ("starting", ready false), refuses a fence
 * (EAGAIN: no PEER_RESET before ZAP_DONE) and says nothing to its peer (node 2
 * never hears it: docs/protocol.md 3.3); no READY=1. Once HELLO_REPLY comes:
 * READY=1, the peers see each other. Then a kernel that never answers HELLO:
 * the daemon gives up after its 10 s deadline (exit 1, said in its log).
 */
static void t_starting(const char *bin)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char args[300];
	int nfd, pings = 0, ready = 0, st = 0;
	uint64_t t0, took;
	pid_t pid;

	cluster_init(&C, bin, 2, 0);
	node_start(&C, 1);	/* node 2, an ordinary peer, without the notify socket */
	CHECK(wait_for(&C, connected_cond, &C.nodes[1], 10000), "node 2 did not open its kernel");
	snprintf(C.notify, sizeof(C.notify), "%s/notify", C.dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", C.notify);
	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(nfd >= 0 && bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind notify");
	CHECK(setenv("WATCHDOG_USEC", "1000000", 1) == 0, "setenv");
	simk_hold_hello(C.nodes[0].k, 1);
	node_start(&C, 0);
	CHECK(unsetenv("WATCHDOG_USEC") == 0, "unsetenv");
	CHECK(wait_for(&C, hello_held_cond, C.nodes[0].k, 10000), "node 1 sent no HELLO");
	read_notify(nfd, 3000000, 0, &ready, &pings);
	CHECK(!ready, "READY=1 before the kernel answered HELLO");
	CHECK(pings >= 6, "%d WATCHDOG=1 in 3 s of startup: fewer than half of the 12 due", pings);
	snprintf(args, sizeof(args), "-s %s status", C.nodes[0].grpc);
	CHECK(ctl(args) == 0 && strstr(out, "starting"), "status while starting: %s", out);
	snprintf(args, sizeof(args), "-s %s -j status", C.nodes[0].grpc);
	CHECK(ctl(args) == 0 && strstr(out, "\"ready\": false"), "-j status while starting: %s", out);
	snprintf(args, sizeof(args), "-s %s fence 2", C.nodes[0].grpc);
	CHECK(ctl(args) != 0 && strstr(out, "UNAVAILABLE"), "fence while starting: %s", out);
	pump(&C, 200);
	CHECK(node_peer_field(&C, 1, 1, "alive") != 1, "node 2 heard node 1 before its ZAP_DONE");
	CHECK(simk_hello_held(C.nodes[0].k), "the held HELLO went away");
	fprintf(stderr, "starting: %d watchdog pings and a status in 3 s without HELLO_REPLY\n",
		pings);
	/* the kernel answers: READY=1, the peers meet */
	simk_hold_hello(C.nodes[0].k, 0);
	read_notify(nfd, 10000000, 1, &ready, &pings);
	CHECK(ready, "no READY=1 within 10 s of the HELLO_REPLY");
	CHECK(wait_ready(&C, 15000), "the peers did not meet after the handshake");
	snprintf(args, sizeof(args), "-s %s -j status", C.nodes[0].grpc);
	CHECK(ctl(args) == 0 && strstr(out, "\"ready\": true"), "-j status once ready: %s", out);
	close(nfd);
	C.notify[0] = 0;
	/* a kernel that never answers HELLO: the deadline, not a hang */
	node_kill(&C, 0, SIGTERM);
	simk_ignore(C.nodes[0].k, XPMEM_CHAN_HELLO, 1);
	node_start(&C, 0);
	pid = C.nodes[0].pid;
	t0 = us_now();
	while (waitpid(pid, &st, WNOHANG) == 0 && us_now() - t0 < 30000000)
		pump(&C, 10);
	took = us_now() - t0;
	CHECK(took < 30000000, "xpmemd still running 30 s after a HELLO that is never answered");
	C.nodes[0].pid = 0;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %#x", st);
	CHECK(took >= 9000000, "gave up after %llu ms, before the 10 s deadline",
	      (unsigned long long)took / 1000);
	CHECK(count_in_log(C.nodes[0].log, "kernel did not answer HELLO within 10 s") == 1,
	      "no 'kernel did not answer HELLO' in %s", C.nodes[0].log);
	fprintf(stderr, "starting: without HELLO_REPLY xpmemd stopped after %llu ms\n",
		(unsigned long long)took / 1000);
	cluster_stop(&C);
}

/*
 * grpc_socket_mode = 0600: the socket is created 0600, so only root can
 * connect at all (an unprivileged status fails to connect); root's works.
 */
static void t_socket(const char *bin)
{
	char args[300];
	struct stat st;

	cluster_init(&C, bin, 1, 0);
	snprintf(C.extra_conf, sizeof(C.extra_conf), "grpc_socket_mode = 0600");
	start_all(&C);
	CHECK(stat(C.nodes[0].grpc, &st) == 0 && S_ISSOCK(st.st_mode) &&
	      (st.st_mode & 0777) == 0600, "socket mode %o", (unsigned)(st.st_mode & 0777));
	snprintf(args, sizeof(args), "-s %s status", C.nodes[0].grpc);
	CHECK(ctl(args) == 0 && strstr(out, "node           1"), "root's status");
	if (geteuid() == 0) {
		CHECK(chmod(C.dir, 0755) == 0, "chmod");
		ctl_nobody = 1;
		CHECK(ctl(args) == 1 && strstr(out, "UNAVAILABLE"),
		      "an unprivileged user reached a 0600 socket");
		ctl_nobody = 0;
	}
	cluster_stop(&C);
}

static int est_cond(struct cluster *c, void *a)
{
	(void)a;
	return node_peer_field(c, 1, 1, "established") == 1;
}

static void t_mgmtfds(const char *bin)
{
	struct rlimit rl = { 256, 256 };
	static int fds[400];
	int nconn = 0;
	long warn;
	char args[300];

	cluster_init(&C, bin, 2, 0);
	start_all(&C);
	CHECK(prlimit(C.nodes[0].pid, RLIMIT_NOFILE, &rl, NULL) == 0, "prlimit: %s",
	      strerror(errno));
	for (int i = 0; i < 400; i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		CHECK(strlen(C.nodes[0].grpc) < sizeof(sa.sun_path), "socket path too long");
		memcpy(sa.sun_path, C.nodes[0].grpc, strlen(C.nodes[0].grpc));
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			if (fd >= 0)
				close(fd);
			break;
		}
		fds[nconn++] = fd;
		if (i % 32 == 0)
			pump(&C, 50);	/* let node 1 accept them */
	}
	pump(&C, 3000);		/* node 1's table stays full for 3 s */
	warn = count_in_log(C.nodes[0].log, "grpc_socket accept");
	fprintf(stderr, "%d idle management connections to node 1; %ld accept warnings "
		"in its log\n", nconn, warn);
	CHECK(nconn > 256, "only %d connections: the table never filled", nconn);
	CHECK(warn >= 1 && warn < 100, "%ld accept warnings: the full fd table spins the "
	      "loop (a level-triggered listener with no fd to accept with)", warn);
	node_kill(&C, 1, SIGKILL);
	node_start(&C, 1);
	CHECK(wait_for(&C, est_cond, NULL, 20000),
	      "node 2 did not get a session with node 1 back");
	for (int i = 0; i < nconn; i++)
		close(fds[i]);
	pump(&C, 500);
	snprintf(args, sizeof(args), "-s %s status", C.nodes[0].grpc);
	CHECK(ctl(args) == 0 && strstr(out, "node           1"),
	      "status after the connections closed: %s", out);
	cluster_stop(&C);
}

int main(int argc, char **argv)
{
	char *dup;

	if (argc != 3) {
		fprintf(stderr, "usage: %s listen|flood|foreign|watchdog|socket|mgmtfds|starting XPMEMD\n", argv[0]);
		return 2;
	}
	test_name = argv[1];
	dup = strdup(argv[2]);
	CHECK(dup, "strdup");
	snprintf(ctl_bin, sizeof(ctl_bin), "%s/xpmemctl", dirname(dup));
	free(dup);
	alarm(170);	/* hard bound on any case */
	if (!strcmp(argv[1], "listen"))
		t_listen(argv[2]);
	else if (!strcmp(argv[1], "flood"))
		t_flood(argv[2]);
	else if (!strcmp(argv[1], "foreign"))
		t_foreign(argv[2]);
	else if (!strcmp(argv[1], "watchdog"))
		t_watchdog(argv[2]);
	else if (!strcmp(argv[1], "socket"))
		t_socket(argv[2]);
	else if (!strcmp(argv[1], "mgmtfds"))
		t_mgmtfds(argv[2]);
	else if (!strcmp(argv[1], "starting"))
		t_starting(argv[2]);
	else {
		fprintf(stderr, "unknown case %s\n", argv[1]);
		return 2;
	}
	printf("%s: OK\n", test_name);
	return 0;
}
