// SPDX-License-Identifier: GPL-2.0
/*
 * make bench, fan-out part (host, no VM): real xpmemd daemons on 127.0.0.1
 * (libfabric tcp;ofi_rxm), one simulated kernel each (tests/daemon/harness.c).
 * Node 1 owns a segment; each of k peers maps its first page (a remote fault
 * through the daemons); then node 1's kernel invalidates that page and the
 * time until its daemon answers ACKED (every peer's kernel zapped and every
 * peer's daemon acked) is one sample. k = 1, 2, 4, 8, 16, 64 by default.
 * One JSON object per k on stdout (with raw samples), a table on stderr.
 *
 * The simulated kernels run in this process and are pumped by one poll loop
 * (simk_pump handles at most 64 kernels per call; beyond that a second call
 * with a 1 ms first poll is used, so the 64-peer case has 1 ms granularity).
 * Heartbeats are every 1 s (idle daemons sleep in epoll).
 *
 * The verdict on 2 cores cannot be the wall clock (k+1 daemons and this
 * process share them): per k, also
 *   - the owner daemon's CPU time per invalidation: the sum over its threads
 *     of /proc/PID/task/TID/schedstat's run time (ns), read just before
 *     simk_invalidate() and just after ACKED, summed over the samples (and,
 *     coarser, utime+stime of /proc/PID/stat over the whole sample loop);
 *   - proof that the owner sends all k INVALIDATEs before any ack can come
 *     back: every peer's simulated kernel holds its ZAP_DONE (so no peer
 *     daemon can ack), the owner's kernel invalidates, and the k peers'
 *     kernels must each receive their ZAP while the invalidation is still
 *     pending; then the ZAP_DONEs go and it must complete. An owner that
 *     waited for one ack before the next INVALIDATE would get 1 of k.
 * "nproc" in the JSON says whether the wall-clock series can be judged
 * (report.pl: only where the host has at least k+2 cores).
 *
 * Then poll_us (issue 13), measured both ways: one peer, POLL_BLOCKS blocks
 * alternating daemons started with poll_us = 0 and poll_us = XPMEM_BENCH_POLL_US
 * (default 200; 0 skips it), samples/POLL_BLOCKS invalidations each, so both
 * series see the same host; "poll" in the JSON gives both distributions and
 * the owner's CPU per invalidation.
 *
 * usage: bench_fanout PATH-TO-XPMEMD [samples [k...]]
 */
#define _GNU_SOURCE
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SEG 0x1000
#define SEGSIZE (64ull << 20)
#define PG 4096ull
#define SIMK_MAX 64		/* simk_pump() handles this many kernels per call */
#define PROOF_TRIALS 3
#define PROOF_WAIT_US 1500000.0	/* below the owner's first retransmission (ack_timeout / 3) */
#define POLL_BLOCKS 4

static struct cluster C;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void pump_extra(void)
{
	if (C.n > SIMK_MAX)
		simk_pump(C.ks + SIMK_MAX, C.n - SIMK_MAX, 0);
}

static void pump_all(void)
{
	if (C.n > SIMK_MAX) {
		simk_pump(C.ks, SIMK_MAX, 1);
		simk_pump(C.ks + SIMK_MAX, C.n - SIMK_MAX, 0);
	} else {
		simk_pump(C.ks, C.n, 5);
	}
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *v, int n, double p)
{
	return v[(int)(p * (n - 1) + 0.5)];
}

/* run time of every thread of pid so far, ns (schedstat); -1 if unreadable */
static long long cpu_ns(pid_t pid)
{
	char path[64];
	struct dirent *e;
	long long sum = 0;
	int bad = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir))) {
		char f[sizeof(path) + sizeof(e->d_name) + 16];
		long long ns;
		FILE *fp;

		if (e->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "%s/%s/schedstat", path, e->d_name);
		fp = fopen(f, "r");
		if (!fp)
			continue;	/* the thread just ended */
		if (fscanf(fp, "%lld", &ns) == 1)
			sum += ns;
		else
			bad = 1;
		fclose(fp);
	}
	closedir(dir);
	return bad ? -1 : sum;
}

static uint64_t peer_zaps(int i)
{
	struct simk_stats st;

	simk_get_stats(C.nodes[i].k, &st);
	return st.zaps;
}

/*
 * One proof trial (peers already map page 0): the number of peers whose
 * kernel got its ZAP while every ZAP_DONE was held (k: all INVALIDATEs left
 * before any ack); -1 if the invalidation completed while acks were held
 * or did not complete after they were released. *spread_us: invalidate ->
 * last ZAP seen.
 */
static int proof_trial(int k, double *spread_us)
{
	uint64_t z0[SIMK_MAX + 8], gen;
	double t0, end;
	int seen = 0;
	enum simk_inval_state st;

	for (int i = 1; i <= k; i++) {
		z0[i] = peer_zaps(i);
		simk_hold_zaps(C.nodes[i].k, 1);
	}
	t0 = now_us();
	end = t0 + PROOF_WAIT_US;
	*spread_us = -1;
	gen = simk_invalidate(C.nodes[0].k, SEG, 0, PG);
	while (gen && now_us() < end) {
		pump_all();
		seen = 0;
		for (int i = 1; i <= k; i++)
			seen += peer_zaps(i) > z0[i];
		if (seen == k) {
			*spread_us = now_us() - t0;
			break;
		}
	}
	st = gen ? simk_inval_state(C.nodes[0].k, gen) : SIMK_NONE;
	for (int i = 1; i <= k; i++)
		simk_hold_zaps(C.nodes[i].k, 0);
	if (st != SIMK_PENDING) {
		fprintf(stderr, "bench_fanout: proof with %d peers: invalidation %s while every ack "
			"was held\n", k, gen ? "not pending" : "had nobody to invalidate");
		return -1;
	}
	end = now_us() + 10e6;
	while ((st = simk_inval_state(C.nodes[0].k, gen)) == SIMK_PENDING && now_us() < end)
		pump_all();
	if (st != SIMK_ACKED) {
		fprintf(stderr, "bench_fanout: proof with %d peers: not acked after the acks were "
			"released (state %d)\n", k, (int)st);
		return -1;
	}
	return seen;
}

/* every peer gets node 1's segment (the owner's kernel resolves only under
 * the grant of a get); 0 on success */
static int get_everywhere(int k)
{
	uint64_t ids[SIMK_MAX + 8];
	double end = now_us() + 10e6;
	int done;

	for (int i = 1; i <= k; i++)
		ids[i] = simk_remote_get(C.nodes[i].k, C.nodes[0].id, SEG, 2, 1000, 1000);
	do {
		int err = 0;

		done = 0;
		for (int i = 1; i <= k; i++) {
			if (simk_get_state(C.nodes[i].k, ids[i], &err, NULL) == 1) {
				if (err) {
					fprintf(stderr, "bench_fanout: get on node %d: %d\n", i + 1, err);
					return -1;
				}
				done++;
			}
		}
		if (done == k)
			return 0;
		pump_all();
	} while (now_us() < end);
	fprintf(stderr, "bench_fanout: %d of %d remote gets done after 10 s\n", done, k);
	return -1;
}

/* every peer maps page 0 of node 1's segment; 0 on success */
static int map_everywhere(int k)
{
	uint64_t ids[SIMK_MAX + 8];
	double end = now_us() + 10e6;
	int done;

	for (int i = 1; i <= k; i++)
		ids[i] = simk_remote_fault(C.nodes[i].k, C.nodes[0].id, SEG, 0, PG,
					   XPMEM_CHAN_ACCESS_READ);
	do {
		int err = 0;

		done = 0;
		for (int i = 1; i <= k; i++) {
			if (simk_fault_state(C.nodes[i].k, ids[i], &err, NULL, NULL) == 1) {
				if (err) {
					fprintf(stderr, "bench_fanout: fault on node %d: %d\n", i + 1, err);
					return -1;
				}
				done++;
			}
		}
		if (done == k)
			return 0;
		pump_all();
	} while (now_us() < end);
	fprintf(stderr, "bench_fanout: %d of %d remote faults done after 10 s\n", done, k);
	return -1;
}

static int run(const char *bin, int k, int samples, int first)
{
	double *lat = calloc(samples, sizeof(double)), t0 = now_us(), setup, spread[PROOF_TRIALS];
	long long inv0, inv1, zaps = 0, timed_out = 0, cpu = 0, ticks0, ticks1;
	int bad = 0, cpu_ok = 1, proof[PROOF_TRIALS];
	pid_t owner;

	if (!lat || k < 1 || k > SIMK_MAX + 7)
		return -1;
	cluster_init(&C, bin, k + 1, 0);
	C.heartbeat_ms = 1000;
	C.ack_timeout_ms = 2000;
	harness_idle = pump_extra;
	simk_add_segment(C.nodes[0].k, SEG, 0x100000000ull, SEGSIZE, 0);
	for (int i = 0; i < C.n; i++)
		node_start(&C, i);
	CHECK(wait_ready(&C, 240000), "%d daemons did not come up", C.n);
	setup = (now_us() - t0) / 1e6;
	CHECK(get_everywhere(k) == 0, "remote gets");
	for (int w = 0; w < 3; w++) {	/* warm-up: connections, first messages */
		CHECK(map_everywhere(k) == 0, "warm-up faults");
		uint64_t gen = simk_invalidate(C.nodes[0].k, SEG, 0, PG);

		while (gen && simk_inval_state(C.nodes[0].k, gen) == SIMK_PENDING)
			pump_all();
	}
	pump(&C, 300);	/* let the stats file catch up */
	owner = C.nodes[0].pid;
	inv0 = node_stat(&C, 0, "invalidations");
	ticks0 = cpu_ticks(owner);
	for (int s = 0; s < samples; s++) {
		uint64_t gen;
		double t;
		long long c0, c1;
		enum simk_inval_state st;

		CHECK(map_everywhere(k) == 0, "faults");
		c0 = cpu_ns(owner);
		t = now_us();
		gen = simk_invalidate(C.nodes[0].k, SEG, 0, PG);
		CHECK(gen, "nothing to invalidate");
		while ((st = simk_inval_state(C.nodes[0].k, gen)) == SIMK_PENDING)
			pump_all();
		lat[s] = now_us() - t;
		c1 = cpu_ns(owner);
		if (c0 < 0 || c1 < 0)
			cpu_ok = 0;
		else
			cpu += c1 - c0;
		if (st != SIMK_ACKED)
			bad++;
	}
	ticks1 = cpu_ticks(owner);
	for (int t = 0; t < PROOF_TRIALS; t++) {
		CHECK(map_everywhere(k) == 0, "proof faults");
		proof[t] = proof_trial(k, &spread[t]);
	}
	pump(&C, 1200);	/* stats file is rewritten periodically */
	inv1 = node_stat(&C, 0, "invalidations");
	timed_out = node_stat(&C, 0, "timed_out");
	for (int i = 1; i <= k; i++)
		zaps += node_stat(&C, i, "zaps");
	cluster_stop(&C);
	harness_idle = NULL;

	printf("%s{\"peers\":%d,\"samples\":%d,\"not_acked\":%d,\"timed_out\":%lld,"
	       "\"owner_invalidations\":%lld,\"peer_zaps_total\":%lld,\"setup_s\":%.1f,",
	       first ? "" : ",\n", k, samples, bad, timed_out, inv1 - inv0, zaps, setup);
	printf("\"owner_cpu_us_per_invalidation\":%.2f,\"owner_cpu_source\":\"schedstat, invalidate to ACKED\","
	       "\"owner_cpu_ticks_per_invalidation\":%.4f,\"ticks_per_s\":%ld,",
	       cpu_ok ? cpu / 1e3 / samples : -1.0,
	       ticks0 >= 0 && ticks1 >= 0 ? (double)(ticks1 - ticks0) / samples : -1.0,
	       sysconf(_SC_CLK_TCK));
	printf("\"proof_trials\":[");
	for (int t = 0; t < PROOF_TRIALS; t++)
		printf("%s{\"peers_zapped_with_acks_held\":%d,\"last_zap_us\":%.0f}", t ? "," : "",
		       proof[t], spread[t]);
	printf("],");
	printf("\"raw_us\":[");
	for (int s = 0; s < samples; s++)
		printf("%s%.1f", s ? "," : "", lat[s]);
	qsort(lat, samples, sizeof(double), cmp);
	printf("],\"us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f}}", pct(lat, samples, .5),
	       pct(lat, samples, .9), pct(lat, samples, .99), lat[samples - 1]);
	fflush(stdout);
	fprintf(stderr, "| %3d | %5d | %8.1f | %8.1f | %8.1f | %8.1f | %d | %8.1f | %d/%d/%d of %d |\n",
		k, samples, pct(lat, samples, .5), pct(lat, samples, .9), pct(lat, samples, .99),
		lat[samples - 1], bad, cpu_ok ? cpu / 1e3 / samples : -1.0, proof[0], proof[1],
		proof[2], k);
	free(lat);
	return 0;
}

/* one block of poll_compare(): n one-peer samples into lat, owner CPU into *cpu */
static void poll_block(const char *bin, unsigned int poll_us, int n, double *lat, long long *cpu)
{
	cluster_init(&C, bin, 2, 0);
	C.heartbeat_ms = 1000;
	C.ack_timeout_ms = 2000;
	snprintf(C.extra_conf, sizeof(C.extra_conf), "poll_us = %u", poll_us);
	simk_add_segment(C.nodes[0].k, SEG, 0x100000000ull, SEGSIZE, 0);
	for (int i = 0; i < C.n; i++)
		node_start(&C, i);
	CHECK(wait_ready(&C, 60000), "poll_us %u: daemons did not come up", poll_us);
	CHECK(get_everywhere(1) == 0, "remote get");
	for (int s = -3; s < n; s++) {	/* 3 warm-up rounds */
		long long c0, c1;
		uint64_t gen;
		double t;

		CHECK(map_everywhere(1) == 0, "faults");
		c0 = cpu_ns(C.nodes[0].pid);
		t = now_us();
		gen = simk_invalidate(C.nodes[0].k, SEG, 0, PG);
		CHECK(gen, "nothing to invalidate");
		while (simk_inval_state(C.nodes[0].k, gen) == SIMK_PENDING)
			pump_all();
		CHECK(simk_inval_state(C.nodes[0].k, gen) == SIMK_ACKED, "poll_us %u: not acked",
		      poll_us);
		c1 = cpu_ns(C.nodes[0].pid);
		if (s >= 0) {
			lat[s] = now_us() - t;
			*cpu += c0 >= 0 && c1 >= 0 ? c1 - c0 : 0;
		}
	}
	pump(&C, 300);
	CHECK(poll_us == 0 || node_stat(&C, 0, "poll_passes") > 0,
	      "poll_us %u: the owner never spun", poll_us);
	cluster_stop(&C);
}

static void poll_json(const char *name, double *lat, int n, long long cpu)
{
	qsort(lat, n, sizeof(double), cmp);
	printf("\"%s\":{\"samples\":%d,\"us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
	       "\"max\":%.1f},\"owner_cpu_us_per_invalidation\":%.2f}", name, n, pct(lat, n, .5),
	       pct(lat, n, .9), pct(lat, n, .99), lat[n - 1], cpu / 1e3 / n);
}

/* one peer's invalidation -> ACKED with poll_us off and on, blocks interleaved */
static void poll_compare(const char *bin, unsigned int poll_us, int samples)
{
	int per = samples / POLL_BLOCKS, n = per * POLL_BLOCKS;
	double *off = calloc(n, sizeof(double)), *on = calloc(n, sizeof(double));
	long long cpu_off = 0, cpu_on = 0;

	CHECK(off && on && per >= 5, "poll_compare: %d samples", samples);
	for (int b = 0; b < POLL_BLOCKS; b++) {
		poll_block(bin, 0, per, off + b * per, &cpu_off);
		poll_block(bin, poll_us, per, on + b * per, &cpu_on);
	}
	printf(",\n\"poll\":{\"poll_us\":%u,\"blocks\":%d,", poll_us, POLL_BLOCKS);
	poll_json("off", off, n, cpu_off);
	printf(",");
	poll_json("on", on, n, cpu_on);
	printf("}");
	fprintf(stderr, "| 1 (poll_us %u / 0) | %d | %.1f / %.1f | %.1f / %.1f | p50 ratio %.2f | "
		"owner CPU us/inval %.1f / %.1f |\n", poll_us, n, pct(on, n, .5), pct(off, n, .5),
		pct(on, n, .99), pct(off, n, .99), pct(on, n, .5) / pct(off, n, .5),
		cpu_on / 1e3 / n, cpu_off / 1e3 / n);
	free(off);
	free(on);
}

int main(int argc, char **argv)
{
	int samples = argc > 2 ? atoi(argv[2]) : 200;
	int def[] = { 1, 2, 4, 8, 16, 64 }, nk = 6, *ks = def;
	const char *pe = getenv("XPMEM_BENCH_POLL_US");
	long poll_us = pe ? strtol(pe, NULL, 10) : 200;

	test_name = "bench_fanout";
	if (poll_us < 0 || poll_us > 1000) {
		fprintf(stderr, "bench_fanout: XPMEM_BENCH_POLL_US: 0..1000\n");
		return 2;
	}
	if (argc < 2 || samples < 10) {
		fprintf(stderr, "usage: bench_fanout PATH-TO-XPMEMD [samples [k...]]\n");
		return 2;
	}
	if (argc > 3) {
		nk = argc - 3;
		ks = calloc(nk, sizeof(int));
		for (int i = 0; i < nk; i++)
			ks[i] = atoi(argv[3 + i]);
	}
	fprintf(stderr, "| peers | samples | p50 us | p90 us | p99 us | max us | not acked | "
		"owner CPU us/inval | ZAPs with acks held |\n|---|---|---|---|---|---|---|---|---|\n");
	printf("{\"bench\":\"fanout\",\"transport\":\"tcp;ofi_rxm on 127.0.0.1, simulated kernels\","
	       "\"nproc\":%ld,\"results\":[\n", sysconf(_SC_NPROCESSORS_ONLN));
	for (int i = 0; i < nk; i++)
		if (run(argv[1], ks[i], samples, i == 0))
			return 1;
	printf("]");
	if (poll_us)
		poll_compare(argv[1], (unsigned int)poll_us, samples);
	printf("}\n");
	return 0;
}
