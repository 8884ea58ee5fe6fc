// SPDX-License-Identifier: GPL-2.0
/*
 * xpmemd under faults (issue 10): bounded memory, per-peer send queues and
 * reconnect backoff, bounded pending requests, a loop that never blocks,
 * SIGHUP reload. Real daemons on 127.0.0.1 against simulated kernels.
 *
 * usage: test_faults CASE PATH-TO-XPMEMD
 */
#define _GNU_SOURCE
#include "harness.h"
#include "keys.h"
#include "rogue.h"
#include "sendq.h"

#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SEG 0x1000
#define SEGSIZE (64ull << 20)
#define MB (1ull << 20)

static struct cluster C;

static struct simk_stats kstats(struct cluster *c, int i)
{
	struct simk_stats s;

	simk_get_stats(c->nodes[i].k, &s);
	return s;
}

/* a field of /proc/PID/status in kB (VmRSS, VmHWM), -1 if unreadable */
static long long proc_status_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		/* a child forked to exec the daemon is still a copy of this test
		 * (its RSS is ours) until the exec: not measured */
		if (!strncmp(line, "Name:", 5) && !strstr(line, "xpmemd")) {
			v = -1;
			break;
		}
		if (!strncmp(line, field, flen) && line[flen] == ':')
			v = strtoll(line + flen + 1, NULL, 10);
	}
	fclose(f);
	return v;
}

struct get_arg { int node; uint64_t id; };

static int get_cond(struct cluster *c, void *a)
{
	struct get_arg *g = a;

	return simk_get_state(c->nodes[g->node].k, g->id, NULL, NULL) == 1;
}

static int fault_cond(struct cluster *c, void *a)
{
	struct get_arg *g = a;

	return simk_fault_state(c->nodes[g->node].k, g->id, NULL, NULL, NULL) == 1;
}

/* node imp gets (RDWR) and faults the first MB of node own's SEG */
static void get_and_fault(struct cluster *c, int imp, int own)
{
	struct get_arg a = { imp, 0 };
	int err = -1;

	a.id = simk_remote_get(c->nodes[imp].k, c->nodes[own].id, SEG, 2, 1000, 1000);
	CHECK(wait_for(c, get_cond, &a, 10000), "get %d -> %d did not finish", imp + 1, own + 1);
	simk_get_state(c->nodes[imp].k, a.id, &err, NULL);
	CHECK(err == 0, "get %d -> %d: error %d", imp + 1, own + 1, err);
	a.id = simk_remote_fault(c->nodes[imp].k, c->nodes[own].id, SEG, 0, MB,
				 XPMEM_CHAN_ACCESS_READ | XPMEM_CHAN_ACCESS_WRITE);
	CHECK(wait_for(c, fault_cond, &a, 10000), "fault %d -> %d did not finish", imp + 1,
	      own + 1);
	simk_fault_state(c->nodes[imp].k, a.id, &err, NULL, NULL);
	CHECK(err == 0, "fault %d -> %d: error %d", imp + 1, own + 1, err);
}

static void start_all(struct cluster *c)
{
	for (int i = 0; i < c->n; i++)
		node_start(c, i);
	CHECK(wait_ready(c, 20000), "cluster did not come up");
}

/* every node gets, faults and invalidates every other node's segment, so
 * every connection carried traffic both ways */
static void traffic(struct cluster *c, int rounds)
{
	for (int r = 0; r < rounds; r++)
		for (int own = 0; own < c->n; own++) {
			uint64_t gen;

			for (int imp = 0; imp < c->n; imp++)
				if (imp != own)
					get_and_fault(c, imp, own);
			gen = simk_invalidate(c->nodes[own].k, SEG, 0, SEGSIZE);
			CHECK(gen, "node %d: nothing to invalidate", own + 1);
			for (int t = 0; t < 1000 && simk_inval_state(c->nodes[own].k, gen) ==
			     SIMK_PENDING; t++)
				pump(c, 10);
			CHECK(simk_inval_state(c->nodes[own].k, gen) == SIMK_ACKED,
			      "node %d generation %llu not acked", own + 1,
			      (unsigned long long)gen);
		}
}

/* ------------------------------------------------------------------ */

/*
 * Resident memory of a daemon with 8 peers (9 daemons, traffic on every
 * link, one of them killed and restarted) stays under RSS_BOUND_MB (issue
 * 10: <= 40 MB with 8 peers): the fabric's buffers are sized for the
 * cluster (rxm's defaults pre-post 4096 x 16 KiB receive buffers and a
 * large pool per connection: ~105 MB each). Measured 2026-12-02: 37.2-37.5
 * MB with 8 peers, as with 2. XPMEMD_TEST_PEERS=N measures a daemon with N
 * peers instead (reported, bound not checked).
 */
#define RSS_BOUND_MB 40
#define RSS_PEERS 8

static void t_rss(const char *bin)
{
	const char *env = getenv("XPMEMD_TEST_PEERS");
	int npeers = env ? atoi(env) : RSS_PEERS;
	long long worst = 0;

	CHECK(npeers >= 1 && npeers < MAXN, "XPMEMD_TEST_PEERS");
	cluster_init(&C, bin, npeers + 1, 0);
	for (int i = 0; i < C.n; i++)
		simk_add_segment(C.nodes[i].k, SEG, 0x100000000ull, SEGSIZE, 0);
	start_all(&C);
	traffic(&C, npeers > 2 ? 1 : 3);
	/* and a daemon restarted while its peers run (its peers reconnect) */
	node_kill(&C, C.n - 1, SIGKILL);
	node_start(&C, C.n - 1);
	CHECK(wait_ready(&C, 20000), "restarted node did not rejoin");
	traffic(&C, 1);
	pump(&C, 500);
	for (int i = 0; i < C.n; i++) {
		long long rss = proc_status_kb(C.nodes[i].pid, "VmRSS");
		long long hwm = proc_status_kb(C.nodes[i].pid, "VmHWM");

		CHECK(rss > 0, "node %d: no VmRSS", i + 1);
		fprintf(stderr, "node %d (%d peers): VmRSS %lld kB, VmHWM %lld kB\n", i + 1,
			npeers, rss, hwm);
		if (rss > worst)
			worst = rss;
	}
	fprintf(stderr, "largest VmRSS: %.1f MB (bound %d MB with %d peers)\n",
		worst / 1024.0, RSS_BOUND_MB, RSS_PEERS);
	/* xpmemctl status shows it */
	{
		char ctl[300], args[400], out[4096];
		char *dup = strdup(bin);

		snprintf(ctl, sizeof(ctl), "%s/xpmemctl", dirname(dup));
		free(dup);
		snprintf(args, sizeof(args), "-s %s status", C.nodes[0].grpc);
		CHECK(run_ctl(&C, ctl, -1, NULL, 0, args, out, sizeof(out)) == 0, "status");
		CHECK(strstr(out, "MB resident"), "xpmemctl status does not show the RSS");
	}
	if (npeers == RSS_PEERS)
		CHECK(worst <= RSS_BOUND_MB * 1024, "a daemon with %d peers is %lld kB resident",
		      RSS_PEERS, worst);
	cluster_stop(&C);
}

/* a listener on a dead daemon's port that accepts and closes every
 * connection (a peer whose host answers but whose daemon is gone), counting
 * them: every connect() the other daemons make to that peer */
static int sink_fd = -1;
static long sink_accepts;

static void sink_idle(void)
{
	int fd;

	while ((fd = accept4(sink_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		sink_accepts++;
		close(fd);
	}
}

static void sink_open(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int on = 1;

	sink_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(sink_fd >= 0, "socket");
	CHECK(setsockopt(sink_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0, "reuseaddr");
	for (int t = 0; t < 100 && bind(sink_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0; t++)
		pump(&C, 50);
	CHECK(listen(sink_fd, 512) == 0, "listen on %d: %s", port, strerror(errno));
	sink_accepts = 0;
	harness_idle = sink_idle;
}

static void sink_close(void)
{
	harness_idle = NULL;
	close(sink_fd);
	sink_fd = -1;
}

/*
 * A dead peer is not reconnected in a tight loop: connect()s to it (counted
 * by a listener on its port that accepts and closes) stay at a few per
 * second per daemon (exponential backoff), while the healthy peers keep
 * working, and the dead peer rejoins when it comes back.
 */
#define MAX_CONNECTS_PER_S 3

static void t_backoff(const char *bin)
{
	long before;
	double rate;
	int window_ms = 4000;

	cluster_init(&C, bin, 3, 0);
	for (int i = 0; i < C.n; i++)
		simk_add_segment(C.nodes[i].k, SEG, 0x100000000ull, SEGSIZE, 0);
	start_all(&C);
	traffic(&C, 1);
	node_kill(&C, 2, SIGKILL);
	sink_open(C.nodes[2].port);
	CHECK(wait_stat(&C, 0, "peer_deaths", 1, 5000) && wait_stat(&C, 1, "peer_deaths", 1, 5000),
	      "node 3's death not detected");
	pump(&C, 2000);		/* the backoff grows */
	before = sink_accepts;
	pump(&C, window_ms);
	rate = (double)(sink_accepts - before) * 1000.0 / window_ms;
	fprintf(stderr, "connect() to the dead node 3: %.1f/s from 2 daemons (%ld in %d ms)\n",
		rate, sink_accepts - before, window_ms);
	CHECK(rate <= 2 * MAX_CONNECTS_PER_S, "%.1f connect()/s to a dead peer", rate);
	/* the healthy pair is unaffected */
	get_and_fault(&C, 0, 1);
	get_and_fault(&C, 1, 0);
	sink_close();
	node_start(&C, 2);
	CHECK(wait_ready(&C, 20000), "node 3 did not rejoin");
	get_and_fault(&C, 2, 0);
	get_and_fault(&C, 0, 2);
	cluster_stop(&C);
}

/*
 * A dead peer costs the others nothing: node 3 is dead while node 1's kernel
 * invalidates towards nodes 2 and 3 and node 2 makes a burst of remote gets
 * to node 1 (more at once than the provider's send queue to node 2 takes:
 * node 1's replies wait in node 2's own queue). Nothing is queued to node 3
 * but one probe, every get is answered, no reply is lost.
 */
#define BURST 250

static void t_isolation(const char *bin)
{
	static uint64_t ids[BURST];
	uint32_t peers[2] = { 2, 3 };
	uint64_t gens[100];
	long long q3;

	cluster_init(&C, bin, 3, 0);
	for (int i = 0; i < C.n; i++)
		simk_add_segment(C.nodes[i].k, SEG, 0x100000000ull, SEGSIZE, 0);
	start_all(&C);
	get_and_fault(&C, 1, 0);
	node_kill(&C, 2, SIGKILL);
	CHECK(wait_stat(&C, 0, "peer_deaths", 1, 5000), "node 3's death not detected");
	for (int i = 0; i < 100; i++)
		gens[i] = simk_invalidate_peers(C.nodes[0].k, SEG, (uint64_t)i * 4096, 4096,
						peers, 2);
	for (int i = 0; i < BURST; i++)
		ids[i] = simk_remote_get(C.nodes[1].k, 1, SEG, 2, 1000, 1000);
	for (int i = 0; i < BURST; i++) {
		struct get_arg a = { 1, ids[i] };
		int err = -1;

		CHECK(wait_for(&C, get_cond, &a, 20000), "get #%d never answered", i);
		simk_get_state(C.nodes[1].k, ids[i], &err, NULL);
		CHECK(err == 0, "get #%d: error %d", i, err);
	}
	for (int i = 0; i < 100; i++) {
		for (int t = 0; t < 500 && simk_inval_state(C.nodes[0].k, gens[i]) ==
		     SIMK_PENDING; t++)
			pump(&C, 10);
		CHECK(simk_inval_state(C.nodes[0].k, gens[i]) == SIMK_TIMED_OUT,
		      "generation %llu: state %d", (unsigned long long)gens[i],
		      simk_inval_state(C.nodes[0].k, gens[i]));
	}
	pump(&C, 300);
	q3 = node_peer_field(&C, 0, 3, "sendq");
	fprintf(stderr, "node 1: queued to dead node 3 %lld (max %lld), to node 2 max %lld; "
		"replies dropped %lld\n", q3, node_peer_field(&C, 0, 3, "sendq_max"),
		node_peer_field(&C, 0, 2, "sendq_max"), node_stat(&C, 0, "tx_replies_dropped"));
	CHECK(q3 >= 0 && q3 <= 1, "%lld messages queued to a dead peer", q3);
	CHECK(node_stat(&C, 0, "tx_replies_dropped") == 0, "node 1 lost replies");
	CHECK(node_stat(&C, 1, "tx_replies_dropped") == 0, "node 2 lost replies");
	CHECK(node_stat(&C, 1, "get_errors") == 0, "node 2: get errors");
	cluster_stop(&C);
}

struct stat0_arg { int node; const char *name; };

static int stat_zero(struct cluster *c, void *a)
{
	struct stat0_arg *s = a;

	return node_stat(c, s->node, s->name) == 0;
}

/* node imp makes n gets of node own's SEG at once; counts the answers by error */
static void get_burst(struct cluster *c, int imp, int own, int n, int *ok, int *busy,
		      int *timedout)
{
	uint64_t ids[64];

	CHECK(n <= 64, "burst");
	*ok = *busy = *timedout = 0;
	for (int i = 0; i < n; i++)
		ids[i] = simk_remote_get(c->nodes[imp].k, c->nodes[own].id, SEG, 2, 1000, 1000);
	for (int i = 0; i < n; i++) {
		struct get_arg a = { imp, ids[i] };
		int err = 1;

		CHECK(wait_for(c, get_cond, &a, 20000), "get #%d never answered", i);
		simk_get_state(c->nodes[imp].k, ids[i], &err, NULL);
		*ok += err == 0;
		*busy += err == -EBUSY;
		*timedout += err == -ETIMEDOUT;
		CHECK(err == 0 || err == -EBUSY || err == -ETIMEDOUT, "get #%d: error %d", i, err);
	}
	fprintf(stderr, "%d gets %d -> %d: %d ok, %d EBUSY, %d ETIMEDOUT\n", n, imp + 1, own + 1,
		*ok, *busy, *timedout);
}

/*
 * Every pending request has a deadline and a per-peer cap: node 1's kernel
 * loses its CHECK_GET answers. Node 1's daemon answers node 2 ETIMEDOUT at
 * the deadline and frees the entries after a grace period; with
 * max_pending_per_peer = 8 on node 1, a burst of 30 gets from node 2 has 8
 * pending there and 22 refused EBUSY; with 4 on node 2, its own daemon
 * refuses all but 4. A ZAP its kernel never answers is acked with
 * ETIMEDOUT, which acks nothing: the owner quarantines.
 */
static void t_pending(const char *bin)
{
	struct stat0_arg z1 = { 0, "pending_kernel_requests" };
	int ok, busy, to;
	uint64_t gen;

	cluster_init(&C, bin, 2, 0);
	for (int i = 0; i < C.n; i++)
		simk_add_segment(C.nodes[i].k, SEG, 0x100000000ull, SEGSIZE, 0);
	snprintf(C.extra_conf, sizeof(C.extra_conf), "max_pending_per_peer = 8");
	node_start(&C, 0);
	snprintf(C.extra_conf, sizeof(C.extra_conf), "max_pending_per_peer = 64");
	node_start(&C, 1);
	CHECK(wait_ready(&C, 20000), "cluster did not come up");
	get_and_fault(&C, 1, 0);

	simk_ignore(C.nodes[0].k, XPMEM_CHAN_CHECK_GET, 1);
	get_burst(&C, 1, 0, 5, &ok, &busy, &to);
	CHECK(to == 5, "lost kernel answers: %d of 5 ETIMEDOUT", to);
	CHECK(wait_stat(&C, 0, "requests_expired", 5, 5000), "node 1: requests_expired %lld",
	      node_stat(&C, 0, "requests_expired"));
	CHECK(wait_for(&C, stat_zero, &z1, 10000), "node 1 keeps %lld entries of lost answers",
	      node_stat(&C, 0, "pending_kernel_requests"));
	CHECK(node_stat(&C, 0, "kernel_replies_lost") >= 5, "kernel_replies_lost %lld",
	      node_stat(&C, 0, "kernel_replies_lost"));

	/* node 1's cap on node 2's requests */
	get_burst(&C, 1, 0, 30, &ok, &busy, &to);
	CHECK(busy >= 20 && to >= 1 && to <= 8, "cap 8 at the owner: %d EBUSY, %d ETIMEDOUT",
	      busy, to);
	CHECK(node_stat(&C, 0, "requests_refused") >= 20, "node 1 requests_refused %lld",
	      node_stat(&C, 0, "requests_refused"));
	CHECK(wait_for(&C, stat_zero, &z1, 10000), "node 1 keeps %lld entries",
	      node_stat(&C, 0, "pending_kernel_requests"));

	/* node 2's own cap on its kernel's requests to node 1 */
	node_kill(&C, 1, SIGTERM);
	snprintf(C.extra_conf, sizeof(C.extra_conf), "max_pending_per_peer = 4");
	node_start(&C, 1);
	CHECK(wait_ready(&C, 20000), "node 2 did not come back");
	get_burst(&C, 1, 0, 30, &ok, &busy, &to);
	CHECK(busy >= 26 && to <= 4, "cap 4 at the importer: %d EBUSY, %d ETIMEDOUT", busy, to);
	CHECK(node_stat(&C, 1, "requests_refused") >= 26, "node 2 requests_refused %lld",
	      node_stat(&C, 1, "requests_refused"));
	simk_ignore(C.nodes[0].k, XPMEM_CHAN_CHECK_GET, 0);

	/* a ZAP node 2's kernel never answers: ETIMEDOUT acks nothing */
	get_and_fault(&C, 1, 0);
	simk_ignore(C.nodes[1].k, XPMEM_CHAN_ZAP, 1);
	gen = simk_invalidate(C.nodes[0].k, SEG, 0, MB);
	for (int t = 0; t < 1000 && simk_inval_state(C.nodes[0].k, gen) == SIMK_PENDING; t++)
		pump(&C, 10);
	CHECK(simk_inval_state(C.nodes[0].k, gen) == SIMK_TIMED_OUT, "generation %llu: %d",
	      (unsigned long long)gen, simk_inval_state(C.nodes[0].k, gen));
	CHECK(wait_stat(&C, 0, "ack_errors", 1, 5000), "no ACK with an error");
	CHECK(kstats(&C, 0).quarantine_entries >= 1, "not quarantined");

	/* node 2's own requests have a deadline too: node 1 dies, node 2's
	 * ZAP_OWNER is never answered; the entry goes after the grace period */
	{
		struct stat0_arg z2 = { 1, "pending_kernel_requests" };
		long long lost;

		CHECK(wait_for(&C, stat_zero, &z2, 10000), "node 2 keeps %lld entries",
		      node_stat(&C, 1, "pending_kernel_requests"));
		lost = node_stat(&C, 1, "kernel_replies_lost");
		node_kill(&C, 0, SIGKILL);
		CHECK(wait_stat(&C, 1, "pending_kernel_requests", 1, 5000),
		      "node 2 made no ZAP_OWNER for the dead node 1");
		CHECK(wait_for(&C, stat_zero, &z2, 10000), "node 2 keeps its unanswered ZAP_OWNER "
		      "(%lld entries)", node_stat(&C, 1, "pending_kernel_requests"));
		CHECK(node_stat(&C, 1, "kernel_replies_lost") >= lost + 1,
		      "kernel_replies_lost %lld, was %lld", node_stat(&C, 1, "kernel_replies_lost"),
		      lost);
	}
	cluster_stop(&C);
}

static int quarantine_zero(struct cluster *c, void *a)
{
	return kstats(c, *(int *)a).quarantine_entries == 0;
}

/*
 * The loop never blocks on the channel: node 2's kernel stops reading while
 * node 1 invalidates towards node 2 (more ZAPs than the channel holds). Node
 * 2's daemon queues them and keeps serving the fabric (node 1 never sees it
 * die); when its kernel reads again, everything queued is delivered and the
 * invalidations are acked (late: quarantine drains).
 */
#define STALL_INVALS 800

static void t_stall(const char *bin)
{
	uint32_t peer2 = 2;
	int zero = 0;
	long long qmax;

	cluster_init(&C, bin, 2, 0);
	for (int i = 0; i < C.n; i++)
		simk_add_segment(C.nodes[i].k, SEG, 0x100000000ull, SEGSIZE, 0);
	start_all(&C);
	simk_stall(C.nodes[1].k, 1);
	for (int i = 0; i < STALL_INVALS; i++)
		CHECK(simk_invalidate_peers(C.nodes[0].k, SEG, (uint64_t)(i % 16384) * 4096, 4096,
					    &peer2, 1), "invalidate");
	pump(&C, 1500);
	qmax = node_stat(&C, 1, "chan_queue_max");
	fprintf(stderr, "node 2 while its kernel does not read: chan_queue %lld (max %lld); "
		"node 1 sees it alive %lld, deaths %lld\n", node_stat(&C, 1, "chan_queue"), qmax,
		node_peer_field(&C, 0, 2, "alive"), node_stat(&C, 0, "peer_deaths"));
	CHECK(qmax > 0, "node 2 never had to queue a channel message (%lld)", qmax);
	CHECK(node_peer_field(&C, 0, 2, "alive") == 1 && node_stat(&C, 0, "peer_deaths") == 0,
	      "node 2's loop stopped while its channel was full");
	simk_stall(C.nodes[1].k, 0);
	CHECK(wait_for(&C, quarantine_zero, &zero, 30000), "node 1 quarantine %llu not drained",
	      (unsigned long long)kstats(&C, 0).quarantine_entries);
	CHECK(node_stat(&C, 1, "chan_tx_dropped") == 0, "node 2 dropped channel messages");
	cluster_stop(&C);
}

static int log_has(struct cluster *c, int i, const char *what)
{
	static char buf[1 << 20];
	FILE *f = fopen(c->nodes[i].log, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = 0;
	return strstr(buf, what) != NULL;
}

struct log_arg { int node; const char *what; };

static int log_cond(struct cluster *c, void *a)
{
	struct log_arg *l = a;

	return log_has(c, l->node, l->what);
}

/*
 * SIGHUP reloads instead of killing: nodes 1 and 2 start without [peer 3];
 * node 3 is added to their files with a new log level and a changed listen
 * address; on SIGHUP they take node 3 and the log level, refuse the listen
 * address with a line naming it, and keep running.
 */
static void t_sighup(const char *bin)
{
	struct log_arg reloaded = { 0, "configuration reloaded (log_level info, 2 peers)" };
	struct log_arg refused = { 0, "listen cannot change at runtime" };

	cluster_init(&C, bin, 3, 0);
	C.n = 2;		/* nodes 1 and 2 know only each other */
	node_start(&C, 0);
	node_start(&C, 1);
	CHECK(wait_ready(&C, 20000), "nodes 1, 2 did not come up");
	C.n = 3;
	node_start(&C, 2);
	snprintf(C.extra_conf, sizeof(C.extra_conf), "log_level = info\nlisten = 127.0.0.1:1");
	for (int i = 0; i < 2; i++) {
		node_write_conf(&C, i);
		CHECK(kill(C.nodes[i].pid, SIGHUP) == 0, "kill");
	}
	CHECK(wait_for(&C, log_cond, &reloaded, 5000), "node 1 did not reload");
	CHECK(log_has(&C, 0, refused.what), "the listen change was not refused by name");
	CHECK(wait_ready(&C, 20000), "node 3 was not taken into the peer table");
	for (int i = 0; i < 3; i++)
		CHECK(kill(C.nodes[i].pid, 0) == 0, "node %d died", i + 1);
	/* a peer added at runtime by host name is refused: the lookup would
	 * block the loop (and the watchdog) */
	{
		struct log_arg named = { 0, "[peer 9] not added: cannot add address localhost:4000 "
					    "(at runtime it must be a numeric IPv4 address:port" };
		char path[200], pub[KEYS_B64_LEN], err[200];
		FILE *f;

		snprintf(path, sizeof(path), "%s/peer9.key", C.dir);
		CHECK(keys_generate(path, pub, err, sizeof(err)) == 0, "%s", err);
		f = fopen(C.nodes[0].conf, "a");
		CHECK(f && fprintf(f, "[peer 9]\naddress = localhost:4000\npublic_key = %s\n",
				   pub) > 0 && fclose(f) == 0, "append");
		CHECK(kill(C.nodes[0].pid, SIGHUP) == 0, "kill");
		CHECK(wait_for(&C, log_cond, &named, 5000), "a peer named by host was not refused");
		CHECK(node_peer_field(&C, 0, 9, "alive") == -1, "node 1 took [peer 9]");
	}
	/* a file that does not parse changes nothing */
	{
		FILE *f = fopen(C.nodes[1].conf, "a");
		struct log_arg bad = { 1, "configuration not reloaded" };

		CHECK(f && fputs("this is not ini\n", f) >= 0 && fclose(f) == 0, "append");
		CHECK(kill(C.nodes[1].pid, SIGHUP) == 0, "kill");
		CHECK(wait_for(&C, log_cond, &bad, 5000), "a bad file was not reported");
		CHECK(kill(C.nodes[1].pid, 0) == 0, "node 2 died on a bad file");
	}
	CHECK(wait_ready(&C, 5000), "cluster broke after a refused reload");
	cluster_stop(&C);
}

/*
 * poll_us (issue 13): node 1 busy-polls for 1000 us after each message,
 * node 2 (poll_us = 0) never does; invalidations both ways are acked as
 * before. Garbage and replayed frames (through a relay on the 1-2 link) and
 * heartbeats do not make node 1 spin: only verified work does (review P1: a
 * peer's tenant could pin a core with one forged frame per ms). A SIGHUP
 * to node 1 with poll_us = 0 stops its spinning: from then on poll_passes
 * does not move, whatever the traffic.
 */
static struct relay RP;

static void poll_idle(void)
{
	relay_progress(&RP);
}

static long long rejected(int i)
{
	return node_stat(&C, i, "rx_malformed") + node_stat(&C, i, "rx_replayed") +
	       node_stat(&C, i, "rx_forged");
}

static void t_poll(const char *bin)
{
	struct log_arg reloaded = { 0, "configuration reloaded" };
	long long p1, p2, h1, r1;
	uint8_t junk[96];
	long idx = -1;

	cluster_init(&C, bin, 2, 0);
	C.via[0][1] = C.spare[0];
	C.via[1][0] = C.spare[1];
	CHECK(relay_open(&RP, C.spare[0], C.spare[1]) == 0 &&
	      relay_connect(&RP, C.ports[0], C.ports[1]) == 0, "relay 1-2");
	harness_idle = poll_idle;
	snprintf(C.extra_conf, sizeof(C.extra_conf), "poll_us = 1000");
	node_start(&C, 0);
	C.extra_conf[0] = 0;
	node_start(&C, 1);
	CHECK(wait_ready(&C, 20000), "cluster did not come up");
	for (int i = 0; i < 2; i++)
		simk_add_segment(C.nodes[i].k, SEG, 0x100000000ull, SEGSIZE, 0);
	traffic(&C, 10);
	pump(&C, 300);		/* the stats file catches up */
	p1 = node_stat(&C, 0, "poll_passes");
	h1 = node_stat(&C, 0, "poll_hits");
	p2 = node_stat(&C, 1, "poll_passes");
	fprintf(stderr, "poll_us 1000: %lld passes spun, %lld found a message; poll_us 0: %lld\n",
		p1, h1, p2);
	CHECK(p1 > 0, "node 1 (poll_us = 1000) never spun: poll_passes %lld", p1);
	CHECK(h1 >= 0 && h1 <= p1 + node_stat(&C, 0, "chan_rx") + node_stat(&C, 0, "fabric_rx"),
	      "poll_hits %lld out of range", h1);
	CHECK(p2 == 0, "node 2 (poll_us = 0) spun: poll_passes %lld", p2);
	/* frames that do not verify, replays and heartbeats: no spinning */
	for (size_t i = 0; i < RP.nrec; i++)
		if (RP.rec[i].dir == RELAY_BA && RP.rec[i].hdr.type != XW_HEARTBEAT &&
		    RP.rec[i].hdr.type != XW_HELLO)
			idx = (long)i;
	CHECK(idx >= 0, "no message from node 2 to node 1 recorded");
	RP.record = 0;
	r1 = rejected(0);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	for (int i = 0; i < 100; i++) {
		CHECK(relay_inject(&RP, RELAY_BA, junk, sizeof(junk)) == 0, "inject");
		CHECK(relay_replay(&RP, idx) == 0, "replay");
		pump(&C, 2);
	}
	pump(&C, 1500);		/* heartbeats too (every 500 ms) */
	CHECK(rejected(0) >= r1 + 100, "node 1 rejected %lld of 200 bad frames", rejected(0) - r1);
	CHECK(node_stat(&C, 0, "poll_passes") == p1,
	      "node 1 spun for frames that did not verify, replays or heartbeats: %lld -> %lld",
	      p1, node_stat(&C, 0, "poll_passes"));
	/* reload with poll_us = 0 (the default): no more spinning */
	node_write_conf(&C, 0);
	CHECK(kill(C.nodes[0].pid, SIGHUP) == 0, "kill");
	CHECK(wait_for(&C, log_cond, &reloaded, 5000), "node 1 did not reload");
	pump(&C, 300);
	p1 = node_stat(&C, 0, "poll_passes");
	traffic(&C, 5);
	pump(&C, 300);
	CHECK(node_stat(&C, 0, "poll_passes") == p1, "node 1 still spins after poll_us = 0: %lld -> %lld",
	      p1, node_stat(&C, 0, "poll_passes"));
	CHECK(node_stat(&C, 1, "poll_passes") == 0, "node 2 spun");
	cluster_stop(&C);
	harness_idle = NULL;
	relay_close(&RP);
}

/* ------------------------------------------------------------------ */
/*
 * The chaos soak on the unit testbed (issue 10): three daemons, nodes 1-2
 * and 1-3 through relays that lose 5 %, duplicate 2 % and reorder 5 % of
 * the messages, while the test kills and restarts random daemons, stops
 * them (a flapping peer: longer than dead_after), and partitions a relayed
 * link for a second; meanwhile every node gets, faults and invalidates the
 * others' segments. Invariants: every invalidation ends ACKED or TIMED_OUT
 * and every get/fault is answered within a bound, daemon RSS and pending
 * counts stay under their caps, and once the faults stop the quarantine
 * drains to zero everywhere. XPMEMD_SOAK_S sets the length (default 30 s).
 */
static struct relay R12, R13;

static void chaos_idle(void)
{
	relay_progress(&R12);
	relay_progress(&R13);
}

struct chaos_op { int node, get, owner; uint64_t id, t0; };
struct chaos_gen { int node; uint64_t gen, t0; int done; };

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#define OP_BOUND_MS 10000	/* a get/fault is answered within */
#define GEN_BOUND_MS 10000	/* an invalidation ends within */

static void t_chaos(const char *bin)
{
	static struct chaos_op ops[64];
	static struct chaos_gen gens[8192];
	const char *env = getenv("XPMEMD_SOAK_S");
	uint64_t soak_ms = (env ? (uint64_t)atoi(env) : 30) * 1000, start, next_fault, now;
	uint64_t stopped_until[3] = { 0 }, drain_ms;
	int nops = 0, ngens = 0, passed = 0, failed = 0, zero[3] = { 0, 1, 2 };
	long kills = 0, flaps = 0, partitions = 0, gets_ok = 0, gets_err = 0, faults_ok = 0;
	long faults_err = 0, late_ops = 0, late_gens = 0, acked = 0, timed_out = 0;
	long long max_rss = 0, max_pending = 0, max_sendq = 0, max_quarantine = 0;
	unsigned seed = (unsigned)getpid();

	cluster_init(&C, bin, 3, 0);
	for (int i = 0; i < C.n; i++)
		simk_add_segment(C.nodes[i].k, SEG, 0x100000000ull, SEGSIZE, 0);
	C.via[0][1] = C.spare[0];
	C.via[1][0] = C.spare[1];
	C.via[0][2] = C.spare[2];
	C.via[2][0] = C.spare[3];
	CHECK(relay_open(&R12, C.spare[0], C.spare[1]) == 0 &&
	      relay_connect(&R12, C.ports[0], C.ports[1]) == 0, "relay 1-2");
	CHECK(relay_open(&R13, C.spare[2], C.spare[3]) == 0 &&
	      relay_connect(&R13, C.ports[0], C.ports[2]) == 0, "relay 1-3");
	R12.record = R13.record = 0;
	harness_idle = chaos_idle;
	start_all(&C);
	relay_chaos(&R12, 5, 2, 5, seed);
	relay_chaos(&R13, 5, 2, 5, seed + 1);
	fprintf(stderr, "chaos: %llu s, seed %u\n", (unsigned long long)soak_ms / 1000, seed);
	start = mono_ms();
	next_fault = start + 2000;
	while ((now = mono_ms()) < start + soak_ms) {
		/* faults: one every ~2 s */
		if (now >= next_fault) {
			int kind = (int)(rand_r(&seed) % 3), victim = (int)(rand_r(&seed) % 3);

			if (getenv("XPMEMD_SOAK_VERBOSE"))
				fprintf(stderr, "%llu ms: fault %s node %d\n",
					(unsigned long long)(now - start),
					kind == 0 ? "kill" : kind == 1 ? "stop" : "partition",
					victim + 1);

			if (kind == 0 && !stopped_until[victim]) {
				kills++;
				node_kill(&C, victim, SIGKILL);
				node_start(&C, victim);
			} else if (kind == 1 && !stopped_until[victim]) {
				flaps++;
				CHECK(kill(C.nodes[victim].pid, SIGSTOP) == 0, "SIGSTOP");
				stopped_until[victim] = now + 1000 + rand_r(&seed) % 1000;
			} else {
				struct relay *r = rand_r(&seed) % 2 ? &R12 : &R13;

				partitions++;
				r->pass[0] = r->pass[1] = 0;
				pump(&C, 1000);
				r->pass[0] = r->pass[1] = 1;
			}
			next_fault = mono_ms() + 1500 + rand_r(&seed) % 1000;
		}
		for (int i = 0; i < 3; i++)
			if (stopped_until[i] && mono_ms() >= stopped_until[i]) {
				CHECK(kill(C.nodes[i].pid, SIGCONT) == 0, "SIGCONT");
				stopped_until[i] = 0;
			}
		/* traffic: gets, then faults of what was granted */
		if (nops < 16) {
			int imp = (int)(rand_r(&seed) % 3), own = (imp + 1 + (int)(rand_r(&seed) % 2)) % 3;

			ops[nops] = (struct chaos_op){ imp, 1, own,
				simk_remote_get(C.nodes[imp].k, C.nodes[own].id, SEG, 2, 1000, 1000),
				mono_ms() };
			nops++;
		}
		for (int k = 0; k < nops; k++) {
			struct chaos_op *o = &ops[k];
			int err = 1, done = o->get ? simk_get_state(C.nodes[o->node].k, o->id, &err, NULL)
						  : simk_fault_state(C.nodes[o->node].k, o->id, &err,
								     NULL, NULL);

			if (done != 1) {
				if (mono_ms() - o->t0 > OP_BOUND_MS) {
					late_ops++;
					ops[k--] = ops[--nops];
				}
				continue;
			}
			if (o->get) {
				if (err) {
					gets_err++;
					ops[k--] = ops[--nops];
					continue;
				}
				gets_ok++;
				o->get = 0;
				o->id = simk_remote_fault(C.nodes[o->node].k, C.nodes[o->owner].id, SEG,
							  (uint64_t)(rand_r(&seed) % 64) * MB, MB,
							  XPMEM_CHAN_ACCESS_READ);
				o->t0 = mono_ms();
				continue;
			}
			if (err)
				faults_err++;
			else
				faults_ok++;
			ops[k--] = ops[--nops];
		}
		/* invalidations of what was mapped */
		if (ngens < (int)(sizeof(gens) / sizeof(gens[0])) && rand_r(&seed) % 4 == 0) {
			int own = (int)(rand_r(&seed) % 3);
			uint64_t g = simk_invalidate(C.nodes[own].k, SEG, 0, SEGSIZE);

			if (g)
				gens[ngens++] = (struct chaos_gen){ own, g, mono_ms(), 0 };
		}
		for (int k = 0; k < ngens; k++) {
			struct chaos_gen *g = &gens[k];
			int st;

			if (g->done)
				continue;
			st = (int)simk_inval_state(C.nodes[g->node].k, g->gen);
			if (st == SIMK_ACKED || st == SIMK_TIMED_OUT) {
				g->done = 1;
				acked += st == SIMK_ACKED;
				timed_out += st == SIMK_TIMED_OUT;
			} else if (mono_ms() - g->t0 > GEN_BOUND_MS) {
				g->done = 1;
				late_gens++;
			}
		}
		/* caps, sampled */
		for (int i = 0; i < 3; i++) {
			long long rss = proc_status_kb(C.nodes[i].pid, "VmRSS"), v;

			if (rss > max_rss) {
				if (getenv("XPMEMD_SOAK_VERBOSE"))
					fprintf(stderr, "%llu ms: node %d VmRSS %lld kB\n",
						(unsigned long long)(mono_ms() - start), i + 1, rss);
				max_rss = rss;
			}
			v = node_stat(&C, i, "pending_kernel_requests");
			if (v > max_pending)
				max_pending = v;
			v = node_stat(&C, i, "pending_remote_requests");
			if (v > max_pending)
				max_pending = v;
			for (uint32_t j = 1; j <= 3; j++) {
				v = node_peer_field(&C, i, j, "sendq");
				if (v > max_sendq)
					max_sendq = v;
			}
			if ((long long)kstats(&C, i).quarantine_entries > max_quarantine)
				max_quarantine = (long long)kstats(&C, i).quarantine_entries;
		}
		pump(&C, 20);
	}
	/* the faults stop: clean links, every daemon running */
	relay_chaos(&R12, 0, 0, 0, 0);
	relay_chaos(&R13, 0, 0, 0, 0);
	for (int i = 0; i < 3; i++)
		if (stopped_until[i])
			CHECK(kill(C.nodes[i].pid, SIGCONT) == 0, "SIGCONT");
	CHECK(wait_ready(&C, 30000), "the cluster did not come back together");
	now = mono_ms();
	for (int i = 0; i < 3; i++)
		CHECK(wait_for(&C, quarantine_zero, &zero[i], 60000),
		      "node %d: quarantine %llu not drained", i + 1,
		      (unsigned long long)kstats(&C, i).quarantine_entries);
	drain_ms = mono_ms() - now;

	fprintf(stderr, "\n%-44s %s\n", "chaos soak (unit testbed)", "");
	fprintf(stderr, "%-44s %llu s\n", "duration", (unsigned long long)soak_ms / 1000);
	fprintf(stderr, "%-44s %ld\n", "faults: kill -9 + restart", kills);
	fprintf(stderr, "%-44s %ld\n", "faults: SIGSTOP 1-2 s (flapping peer)", flaps);
	fprintf(stderr, "%-44s %ld\n", "faults: 1 s full partition of a link", partitions);
	fprintf(stderr, "%-44s %llu / %llu / %llu\n", "relayed msgs lost / duplicated / reordered",
		(unsigned long long)(R12.lost[0] + R12.lost[1] + R13.lost[0] + R13.lost[1]),
		(unsigned long long)(R12.duplicated[0] + R12.duplicated[1] + R13.duplicated[0] +
				     R13.duplicated[1]),
		(unsigned long long)(R12.reordered[0] + R12.reordered[1] + R13.reordered[0] +
				     R13.reordered[1]));
	fprintf(stderr, "%-44s %d (%ld acked, %ld timed out)\n", "invalidations", ngens, acked,
		timed_out);
	fprintf(stderr, "%-44s %ld ok, %ld failed\n", "remote gets", gets_ok, gets_err);
	fprintf(stderr, "%-44s %ld ok, %ld failed\n", "remote faults", faults_ok, faults_err);
	fprintf(stderr, "%-44s %lld\n", "max quarantine entries (one node)", max_quarantine);
	fprintf(stderr, "%-44s %llu ms\n", "quarantine drain after the faults", (unsigned long long)drain_ms);
	fprintf(stderr, "%-44s %.1f MB\n", "max daemon VmRSS", max_rss / 1024.0);
	fprintf(stderr, "%-44s %lld (cap 1024)\n", "max pending requests (one node, one kind)",
		max_pending);
	fprintf(stderr, "%-44s %lld (cap %d)\n", "max send queue (one peer)", max_sendq, SQ_CAP);
#define INV(cond, ...) do { if (cond) passed++; else { failed++; \
	fprintf(stderr, "invariant failed: " __VA_ARGS__); fputc('\n', stderr); } } while (0)
	INV(late_gens == 0, "%ld invalidations neither acked nor timed out within %d ms",
	    late_gens, GEN_BOUND_MS);
	INV(late_ops == 0, "%ld gets/faults unanswered within %d ms", late_ops, OP_BOUND_MS);
	INV(max_rss > 0 && max_rss <= RSS_BOUND_MB * 1024, "daemon RSS %lld kB", max_rss);
	INV(max_pending <= 1024, "pending requests %lld over the cap", max_pending);
	INV(max_sendq <= SQ_CAP, "send queue %lld over the cap", max_sendq);
	INV(acked > 0 && gets_ok > 0 && faults_ok > 0, "no traffic got through");
	INV(kills + flaps + partitions > 0, "no faults injected");
	fprintf(stderr, "%d passed, %d failed\n", passed, failed);
	CHECK(!failed, "%d invariants failed", failed);
	harness_idle = NULL;
	cluster_stop(&C);
	relay_close(&R12);
	relay_close(&R13);
}

/*
 * A keyed peer floods RELEASEs while node 1's kernel does not read: each
 * would be a RELEASE_GRANT in node 1's channel queue, which every peer
 * shares. Only max_pending_per_peer of them may wait there (the rest are
 * dropped, releases_dropped), so node 2's GET (a CHECK_GET in the same
 * queue) still reaches the kernel when it reads again.
 */
#define RELEASE_FLOOD 17000	/* more than the channel queue holds (CHANQ_CAP) */

static struct rogue_node rn;

static void rn_idle(void)
{
	rogue_node_progress(&rn);
}

static int rn_established(struct cluster *c, void *a)
{
	(void)c;
	(void)a;
	return rogue_node_peer(&rn, 1)->established;
}

static int releases_seen(struct cluster *c, void *a)
{
	long long rx = node_stat(c, 0, "releases_rx"), dr = node_stat(c, 0, "releases_dropped");

	return rx >= 0 && dr >= 0 && rx + dr >= *(long long *)a;
}

static void t_release_flood(const char *bin)
{
	struct xw_release rel = { .segid = SEG, .flags = 2, .incarnation = 500 };
	long long want = RELEASE_FLOOD;
	struct get_arg a = { 1, 0 };
	int err = -1;

	cluster_init(&C, bin, 2, 1);	/* nodes 1 and 2 real, node 3 keyed, ours */
	for (int i = 0; i < C.n; i++)
		simk_add_segment(C.nodes[i].k, SEG, 0x100000000ull, SEGSIZE, 0);
	CHECK(rogue_node_open(&rn, 3, rel.incarnation, C.key[2], C.ports[2]) == 0, "rogue node");
	CHECK(rogue_node_add_peer(&rn, 1, C.ports[0], C.pub[0]) == 0, "rogue node's peer");
	harness_idle = rn_idle;
	start_all(&C);
	CHECK(wait_for(&C, rn_established, NULL, 5000), "no session with the rogue node");
	get_and_fault(&C, 1, 0);
	simk_stall(C.nodes[0].k, 1);
	for (int i = 0; i < RELEASE_FLOOD; i++) {
		int r;

		while ((r = rogue_node_send(&rn, 1, XW_RELEASE, 0, &rel, sizeof(rel))) == -ENOBUFS)
			pump(&C, 1);
		CHECK(r == 0, "RELEASE #%d: %d", i, r);
		if (i % 128 == 0)
			pump(&C, 1);
	}
	CHECK(wait_for(&C, releases_seen, &want, 30000), "node 1 got %lld + %lld of %d RELEASEs",
	      node_stat(&C, 0, "releases_rx"), node_stat(&C, 0, "releases_dropped"),
	      RELEASE_FLOOD);
	fprintf(stderr, "node 1: releases_rx %lld, releases_dropped %lld, chan_queue %lld\n",
		node_stat(&C, 0, "releases_rx"), node_stat(&C, 0, "releases_dropped"),
		node_stat(&C, 0, "chan_queue"));
	/* node 2's GET: its CHECK_GET waits in the same queue */
	a.id = simk_remote_get(C.nodes[1].k, 1, SEG, 2, 1000, 1000);
	pump(&C, 300);
	simk_stall(C.nodes[0].k, 0);
	CHECK(wait_for(&C, get_cond, &a, 20000), "node 2's get never answered");
	simk_get_state(C.nodes[1].k, a.id, &err, NULL);
	CHECK(err == 0, "node 2's get behind the flood: error %d", err);
	CHECK(node_stat(&C, 0, "chan_tx_dropped") == 0, "node 1 dropped %lld channel messages",
	      node_stat(&C, 0, "chan_tx_dropped"));
	CHECK(node_stat(&C, 0, "releases_dropped") >= RELEASE_FLOOD / 2,
	      "releases_dropped %lld", node_stat(&C, 0, "releases_dropped"));
	harness_idle = NULL;
	rogue_node_close(&rn);
	cluster_stop(&C);
}


/* one fault of node imp on node own's SEG: its error and how long it took */
static int timed_fault(struct cluster *c, int imp, int own, uint64_t *ms)
{
	struct get_arg a = { imp, 0 };
	uint64_t t0 = mono_ms();
	int err = 1;

	a.id = simk_remote_fault(c->nodes[imp].k, c->nodes[own].id, SEG, 0, MB,
				 XPMEM_CHAN_ACCESS_READ);
	CHECK(wait_for(c, fault_cond, &a, 15000), "fault %d -> %d did not finish", imp + 1,
	      own + 1);
	simk_fault_state(c->nodes[imp].k, a.id, &err, NULL, NULL);
	*ms = mono_ms() - t0;
	return err;
}

/*
 * A RESOLVE the owner's kernel holds past ack_timeout_ms (as it does while an
 * invalidation of its range waits for acks) is answered -EAGAIN, so the
 * importer's kernel asks again instead of failing the access (SIGBUS); the
 * importer's own deadline on the fault (3 * ack_timeout_ms) comes after it.
 * Before: -ETIMEDOUT at the owner's deadline, the same as the importer's.
 * The same ask again while the first RESOLVE is held waits for it: no second
 * RESOLVE reaches the kernel (review: each ask took another of the peer's 64
 * kernel RESOLVE slots, then every fault spun on an immediate EAGAIN); when
 * the held one ends, the waiter is told at once to ask again, and that ask
 * is answered.
 */
static void t_resolve_late(const char *bin)
{
	struct get_arg a = { 1, 0 };
	long long expired, waited, stale, woken;
	uint64_t ms, t0;
	int err;

	cluster_init(&C, bin, 2, 0);
	/* wide margins on a loaded host (make check runs guests beside it):
	 * the waiter's deadline must not pass before the release below */
	C.ack_timeout_ms = 5000;
	for (int i = 0; i < C.n; i++)
		simk_add_segment(C.nodes[i].k, SEG, 0x100000000ull, SEGSIZE, 0);
	/* a stopped owner is declared dead after 30 s, after the importer's
	 * 15 s deadline */
	snprintf(C.extra_conf, sizeof(C.extra_conf), "dead_after = 150");
	start_all(&C);
	CHECK(wait_ready(&C, 20000), "cluster did not come up");
	get_and_fault(&C, 1, 0);

	expired = node_stat(&C, 0, "requests_expired");
	waited = node_stat(&C, 0, "resolves_waited");
	simk_hold_resolves(C.nodes[0].k, 1);
	for (int i = 0; i < 3; i++) {
		err = timed_fault(&C, 1, 0, &ms);
		fprintf(stderr, "held RESOLVE, ask %d: error %d after %llu ms\n", i + 1, err,
			(unsigned long long)ms);
		CHECK(err == -EAGAIN, "ask %d: a RESOLVE held past the owner's deadline gave %d, "
		      "expected -EAGAIN (ask again), not a failed access", i + 1, err);
		CHECK(ms >= 4900, "ask %d answered after %llu ms, before the owner's 5 s deadline",
		      i + 1, (unsigned long long)ms);
	}
	CHECK(kstats(&C, 0).resolves_held == 1, "the owner's kernel got %llu RESOLVEs for 3 "
	      "asks of the same pages while the first was held",
	      (unsigned long long)kstats(&C, 0).resolves_held);
	CHECK(wait_stat(&C, 0, "requests_expired", expired + 1, 3000),
	      "requests_expired %lld, was %lld", node_stat(&C, 0, "requests_expired"), expired);
	CHECK(wait_stat(&C, 0, "resolves_waited", waited + 2, 3000), "resolves_waited %lld, was %lld",
	      node_stat(&C, 0, "resolves_waited"), waited);

	/* a fourth ask waits; the held RESOLVE ends: told at once to ask again;
	 * its late answer is not sent (nothing stale reaches node 2) */
	stale = node_stat(&C, 1, "stale_acks");
	t0 = mono_ms();
	a.id = simk_remote_fault(C.nodes[1].k, C.nodes[0].id, SEG, 0, MB, XPMEM_CHAN_ACCESS_READ);
	CHECK(wait_stat(&C, 0, "resolves_waited", waited + 3, 4000), "the fourth ask did not "
	      "wait (resolves_waited %lld)", node_stat(&C, 0, "resolves_waited"));
	woken = node_stat(&C, 0, "resolves_woken");
	simk_hold_resolves(C.nodes[0].k, 0);
	CHECK(wait_for(&C, fault_cond, &a, 15000), "the waiting ask did not finish");
	simk_fault_state(C.nodes[1].k, a.id, &err, NULL, NULL);
	ms = mono_ms() - t0;
	fprintf(stderr, "held RESOLVE ended: waiter got %d after %llu ms\n", err,
		(unsigned long long)ms);
	CHECK(err == -EAGAIN, "the waiter got %d, expected -EAGAIN", err);
	CHECK(wait_stat(&C, 0, "resolves_woken", woken + 1, 3000), "the waiter was answered "
	      "after %llu ms at its deadline, not when the held RESOLVE ended "
	      "(resolves_woken %lld)", (unsigned long long)ms,
	      node_stat(&C, 0, "resolves_woken"));
	pump(&C, 300);
	CHECK(node_stat(&C, 1, "stale_acks") == stale, "node 2 got a late answer (stale_acks "
	      "%lld, was %lld)", node_stat(&C, 1, "stale_acks"), stale);
	err = timed_fault(&C, 1, 0, &ms);
	CHECK(err == 0, "the fault asked again got %d", err);

	/* an owner that answers nothing: the importer's deadline, 3 * 5 s */
	node_kill(&C, 0, SIGSTOP);
	err = timed_fault(&C, 1, 0, &ms);
	node_kill(&C, 0, SIGCONT);
	fprintf(stderr, "silent owner: error %d after %llu ms\n", err, (unsigned long long)ms);
	CHECK(err == -ETIMEDOUT, "a silent owner gave %d, expected -ETIMEDOUT", err);
	CHECK(ms >= 14900 && ms < 29000, "ETIMEDOUT after %llu ms, expected 3 * 5 s",
	      (unsigned long long)ms);
	cluster_stop(&C);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s CASE XPMEMD\n", argv[0]);
		return 2;
	}
	test_name = argv[1];
	/* hard bound on any case (the soak: its length and 3 minutes) */
	alarm(170 + (getenv("XPMEMD_SOAK_S") ? (unsigned)atoi(getenv("XPMEMD_SOAK_S")) : 0));
	if (!strcmp(argv[1], "rss"))
		t_rss(argv[2]);
	else if (!strcmp(argv[1], "chaos"))
		t_chaos(argv[2]);
	else if (!strcmp(argv[1], "stall"))
		t_stall(argv[2]);
	else if (!strcmp(argv[1], "sighup"))
		t_sighup(argv[2]);
	else if (!strcmp(argv[1], "pending"))
		t_pending(argv[2]);
	else if (!strcmp(argv[1], "resolve_late"))
		t_resolve_late(argv[2]);
	else if (!strcmp(argv[1], "isolation"))
		t_isolation(argv[2]);
	else if (!strcmp(argv[1], "backoff"))
		t_backoff(argv[2]);
	else if (!strcmp(argv[1], "poll"))
		t_poll(argv[2]);
	else if (!strcmp(argv[1], "release_flood"))
		t_release_flood(argv[2]);
	else {
		fprintf(stderr, "unknown case %s\n", argv[1]);
		return 2;
	}
	printf("%s: OK\n", test_name);
	return 0;
}
