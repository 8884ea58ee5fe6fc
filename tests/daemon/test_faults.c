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

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define SEG 0x1000
#define SEGSIZE (64ull << 20)
#define MB (1ull << 20)

static struct cluster C;

static __attribute__((unused)) struct simk_stats kstats(struct cluster *c, int i)
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
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, flen) && line[flen] == ':')
			v = strtoll(line + flen + 1, NULL, 10);
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
 * Resident memory of a daemon with 2 peers (3 daemons, traffic on every
 * link) stays under RSS_BOUND_MB: the fabric's buffers are sized for the
 * cluster (rxm's defaults pre-post 4096 x 16 KiB receive buffers and a
 * large pool per connection: ~105 MB each). XPMEMD_TEST_PEERS=N measures a
 * daemon with N peers instead (reported, bound not checked).
 */
#define RSS_BOUND_MB 60

static void t_rss(const char *bin)
{
	const char *env = getenv("XPMEMD_TEST_PEERS");
	int npeers = env ? atoi(env) : 2;
	long long worst = 0;

	CHECK(npeers >= 1 && npeers < MAXN, "XPMEMD_TEST_PEERS");
	cluster_init(&C, bin, npeers + 1, 0);
	for (int i = 0; i < C.n; i++)
		simk_add_segment(C.nodes[i].k, SEG, 0x100000000ull, SEGSIZE, 0);
	start_all(&C);
	traffic(&C, npeers > 2 ? 1 : 3);
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
	fprintf(stderr, "largest VmRSS: %.1f MB (bound %d MB with 2 peers)\n",
		worst / 1024.0, RSS_BOUND_MB);
	if (npeers == 2)
		CHECK(worst <= RSS_BOUND_MB * 1024, "a daemon with 2 peers is %lld kB resident",
		      worst);
	cluster_stop(&C);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s CASE XPMEMD\n", argv[0]);
		return 2;
	}
	test_name = argv[1];
	alarm(170);	/* hard bound on any case */
	if (!strcmp(argv[1], "rss"))
		t_rss(argv[2]);
	else {
		fprintf(stderr, "unknown case %s\n", argv[1]);
		return 2;
	}
	printf("%s: OK\n", test_name);
	return 0;
}
