// SPDX-License-Identifier: GPL-2.0
/*
 * Quarantine and daemon restart across partitions (2 partitions, run by
 * tests/vm/run-cluster with xpmemd, see tests/cluster/with-xpmemd):
 *   B (node 1) maps a page of A's (node 0) segment, then B's xpmemd is killed.
 *   A unmaps the page: nobody acks, so after ack_timeout the invalidation
 *   times out and A's kernel quarantines the page (xpmemctl stats:
 *   quarantine_entries) instead of reusing a frame B may still map.
 *   B starts xpmemd again: it zaps every remote mapping (ZAP_ALL) before it
 *   announces its new incarnation, on which A's kernel releases the
 *   quarantine (and the grants of B's old incarnation). B then faults on
 *   the unmapped page; its old permit resolves nothing any more, a new
 *   xpmem_get reads the other pages.
 * With the argument "vm", B's whole partition is killed instead (node_a_vm).
 * With "owner-vm" the owner's partition is killed instead (node_i_owner_vm):
 * the importer's mappings of its segment must be gone before its RAM is the
 * rebooted kernel's.
 * Rendezvous through files in $XPMEM_CLUSTER_DIR.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <xpmem.h>

#include "probe.h"
#include "rendezvous.h"

#define PAGE 4096UL
#define NPAGES 4
#define WAIT_SECONDS 240

static char ctl[512], tag[16];
static int fails;

#define PASS(...) do { printf("PASS %s: ", tag); printf(__VA_ARGS__); putchar('\n'); } while (0)
#define FAIL(...) do { printf("FAIL %s: ", tag); printf(__VA_ARGS__); putchar('\n'); fails++; } while (0)
#define SAY(...) do { printf("%s: ", tag); printf(__VA_ARGS__); putchar('\n'); } while (0)

static void die(const char *what)
{
	printf("FAIL %s: %s: %s\n", tag, what, strerror(errno));
	exit(1);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Node 0: NPAGES labelled pages, exported; the segid is published as @name. */
static char *export_pages(const char *name)
{
	char *buf = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	xpmem_segid_t segid;

	if (buf == MAP_FAILED)
		die("mmap");
	for (unsigned long i = 0; i < NPAGES; i++)
		snprintf(buf + i * PAGE, PAGE, "page %lu of node 0", i);
	segid = xpmem_make(buf, NPAGES * PAGE, XPMEM_PERMIT_MODE, (void *)0666);
	if (segid == -1)
		die("xpmem_make");
	rv_put(name, "%llx\n", (unsigned long long)segid);
	return buf;
}

static int node_a(void)
{
	char *buf = export_pages("r-segid");
	double t0, t;
	long q = -1;

	rv_wait("r-daemon-killed", NULL, 0);

	t0 = now_ms();
	if (munmap(buf, PAGE))
		die("munmap");
	t = now_ms() - t0;
	SAY("munmap of a page node 1 maps, node 1's xpmemd dead: %.0f ms (ack timeout 1000 ms)", t);
	q = rv_ctl_field(ctl, "stats", "quarantine_entries");
	if (q >= 1)
		PASS("invalidation timed out: %ld quarantined range(s) (xpmemctl stats)", q);
	else
		FAIL("no quarantine after the timed-out invalidation (quarantine_entries %ld, "
		     "timed_out %ld)", q, rv_ctl_field(ctl, "stats", "timed_out"));
	/* status says so too (rmmod's refusal: vm-quarantine-unload) */
	if (rv_ctl_field(ctl, "status", "quarantine_entries") == q &&
	    rv_ctl_field(ctl, "status", "quarantine_pages") >= 1)
		PASS("xpmemctl status shows the quarantine (%ld range(s))", q);
	else
		FAIL("xpmemctl status: quarantine_entries %ld pages %ld, want %ld and >= 1",
		     rv_ctl_field(ctl, "status", "quarantine_entries"),
		     rv_ctl_field(ctl, "status", "quarantine_pages"), q);
	rv_put("r-unmapped", "1\n");

	rv_wait("r-restarted", NULL, 0);
	t0 = now_ms();
	while ((q = rv_ctl_field(ctl, "stats", "quarantine_entries")) != 0 && now_ms() - t0 < 30000)
		usleep(100000);
	if (q == 0)
		PASS("node 1's xpmemd came back with a new incarnation: quarantine released "
		     "after %.0f ms", now_ms() - t0);
	else
		FAIL("quarantine not released after node 1's restart (%ld entries)", q);
	rv_put("r-a-checked", "1\n");
	rv_wait("r-done", NULL, 0);
	return fails ? 1 : 0;
}

/*
 * Node 1: attach node 0's pages (segid published as @name) and check page 0
 * reads; NULL (and a FAIL) if it does not. Needs the fault handlers.
 */
static volatile char *attach_pages(const char *name)
{
	volatile char *p;
	xpmem_apid_t apid;
	char line[64], c;
	int sig;

	rv_wait(name, line, sizeof(line));
	apid = xpmem_get((xpmem_segid_t)strtoull(line, NULL, 16), XPMEM_RDWR, XPMEM_PERMIT_MODE,
			 NULL);
	if (apid == -1)
		die("xpmem_get");
	p = xpmem_attach((struct xpmem_addr){ .apid = apid, .offset = 0 }, NPAGES * PAGE, NULL);
	if (p == (void *)-1)
		die("xpmem_attach");
	if ((sig = probe_bytes(&c, p, 1)) || strcmp((const char *)p, "page 0 of node 0")) {
		FAIL("page 0 of node 0 not readable (signal %d)", sig);
		return NULL;
	}
	return p;
}

static pid_t start_daemon(void)
{
	const char *bin = getenv("XPMEM_XPMEMD"), *conf = getenv("XPMEM_DAEMON_CONF"),
		   *log = getenv("XPMEM_DAEMON_LOG");
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int fd = open(log ? log : "/dev/null", O_WRONLY | O_APPEND | O_CREAT, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		setsid();
		execl(bin, bin, "-c", conf, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int node_b(void)
{
	const char *pidfile = getenv("XPMEM_DAEMON_PIDFILE");
	volatile char *p;
	pid_t dpid;
	char c;
	FILE *f;
	int sig;
	double t0;

	if (probe_setup())
		die("sigaction");
	if (!pidfile || !(f = fopen(pidfile, "r")) || fscanf(f, "%d", &dpid) != 1)
		die("daemon pid file");
	fclose(f);
	p = attach_pages("r-segid");
	if (!p)
		return 1;
	PASS("mapped node 0's page 0: \"%s\"", (const char *)p);

	if (kill(dpid, SIGKILL))
		die("kill xpmemd");
	usleep(500000);
	SAY("killed xpmemd (pid %d) while mapping node 0's page", dpid);
	rv_put("r-daemon-killed", "1\n");
	rv_wait("r-unmapped", NULL, 0);

	t0 = now_ms();
	dpid = start_daemon();
	f = fopen(pidfile, "w");
	if (!f || fprintf(f, "%d\n", dpid) < 0 || fclose(f))
		die(pidfile);
	while (rv_ctl_field(ctl, "status", "ready") != 1 && now_ms() - t0 < 60000)
		usleep(200000);
	while (rv_ctl_field(ctl, "status", "peers_alive") < 1 && now_ms() - t0 < 60000)
		usleep(200000);
	if (rv_ctl_field(ctl, "status", "peers_alive") < 1) {
		FAIL("restarted xpmemd not ready with its peer after 60 s");
		rv_put("r-restarted", "1\n");
		rv_put("r-done", "1\n");
		return 1;
	}
	PASS("xpmemd restarted (pid %d), ready after %.0f ms", dpid, now_ms() - t0);
	rv_put("r-restarted", "1\n");
	rv_wait("r-a-checked", NULL, 0);

	sig = probe_bytes(&c, p, 1);
	if (sig)
		PASS("the page node 0 unmapped faults after the restart (%s)", strsignal(sig));
	else
		FAIL("the page node 0 unmapped is still readable after the restart: \"%.20s\"",
		     (const char *)p);
	/*
	 * The owner granted the permit to the old daemon's incarnation, which
	 * it dropped when the new one appeared: the old permit resolves
	 * nothing any more (issue 15); a new xpmem_get does.
	 */
	sig = probe_bytes(&c, p + PAGE, 1);
	if (sig)
		PASS("page 1 through the permit of the old incarnation faults (%s)",
		     strsignal(sig));
	else
		FAIL("page 1 readable through the permit of the old daemon's incarnation");
	{
		char line[64];
		xpmem_apid_t apid;

		rv_wait("r-segid", line, sizeof(line));
		apid = xpmem_get((xpmem_segid_t)strtoull(line, NULL, 16), XPMEM_RDWR,
				 XPMEM_PERMIT_MODE, NULL);
		p = apid == -1 ? (void *)-1 :
		    xpmem_attach((struct xpmem_addr){ .apid = apid, .offset = 0 },
				 NPAGES * PAGE, NULL);
	}
	sig = p != (void *)-1 ? probe_bytes(&c, p + PAGE, 1) : -1;
	if (!sig && !strcmp((const char *)p + PAGE, "page 1 of node 0"))
		PASS("page 1 of node 0 readable again through the new daemon (a new get)");
	else
		FAIL("page 1 of node 0 after the restart and a new get: signal %d", sig);
	rv_put("r-done", "1\n");
	return fails ? 1 : 0;
}

/*
 * Partition B's whole machine dies (SIGKILL of its VM, via run-cluster's
 * power-cycle request) while it maps A's page: A's munmap must finish within
 * the ack timeout with the page quarantined, and the quarantine must drain
 * when B has booted again and its xpmemd rejoins with a new incarnation.
 */
static int node_a_vm(void)
{
	char *buf = export_pages("v-segid");
	double t0, t;
	long q;

	rv_wait(".killed-node1", NULL, 0);

	t0 = now_ms();
	if (munmap(buf, PAGE))
		die("munmap");
	t = now_ms() - t0;
	if (t < 1000 + 2000)
		PASS("munmap of a page the dead partition mapped returned in %.0f ms (ack timeout 1000 ms)", t);
	else
		FAIL("munmap with a dead peer took %.0f ms (ack timeout 1000 ms)", t);
	q = rv_ctl_field(ctl, "stats", "quarantine_entries");
	if (q >= 1)
		PASS("the page went to quarantine (%ld range(s))", q);
	else
		FAIL("no quarantine after the dead partition's timeout (quarantine_entries %ld)", q);

	t0 = now_ms();
	while ((q = rv_ctl_field(ctl, "stats", "quarantine_entries")) != 0 && now_ms() - t0 < 180000)
		usleep(250000);
	if (q == 0)
		PASS("node 1 rebooted and rejoined: quarantine drained to 0 after %.0f s",
		     (now_ms() - t0) / 1000);
	else
		FAIL("quarantine not drained 180 s after node 1's reboot (%ld entries)", q);
	rv_put("v-done", "1\n");
	return fails ? 1 : 0;
}

static int node_b_vm(void)
{
	volatile char *p;

	if (getenv("XPMEM_RESTARTED")) {
		PASS("booted again after the power cycle; xpmemd up with a new incarnation");
		rv_wait("v-done", NULL, 0);
		return 0;
	}
	if (probe_setup())
		die("sigaction");
	p = attach_pages("v-segid");
	if (!p)
		return 1;
	PASS("mapped node 0's page 0; asking for this partition to be killed");
	rv_put(".restart-node1", "1\n");
	for (;;)
		pause();
}

/*
 * The owner's partition (node 1) power-cycles while node 0 maps every page of
 * its segment: node 0's PTEs point at node 1's RAM, which its next kernel
 * reuses. Once node 0's daemon has declared node 1 dead (its new boot may
 * run by then), and again once node 1's new daemon is up, no page of the old
 * attachment may read. Reads before the death is noticed are reported, not
 * failed: nothing can tell them apart from a live owner's (the residual
 * window of a reboot faster than heartbeat_ms x dead_after).
 */
static int probe_old(volatile char *p, const char *when, int must_fault)
{
	char c, label[32];
	int readable = 0, changed = 0;

	for (unsigned long i = 0; i < NPAGES; i++) {
		if (probe_bytes(&c, p + i * PAGE, 1))
			continue;
		readable++;
		snprintf(label, sizeof(label), "page %lu of node 1", i);
		if (strncmp((const char *)p + i * PAGE, label, strlen(label) + 1))
			changed++;
	}
	if (!readable)
		PASS("%s: every page of the old attachment faults", when);
	else if (must_fault)
		FAIL("%s: %d of %d pages of the old attachment still read (%d no longer hold "
		     "the owner's data: another kernel's memory)", when, readable, NPAGES, changed);
	else
		SAY("%s: %d of %d pages of the old attachment still read (%d changed)", when,
		    readable, NPAGES, changed);
	return readable;
}

static int node_i_owner_vm(void)
{
	volatile char *p;
	xpmem_apid_t apid;
	char line[64], c;
	double t0;
	long alive;

	if (probe_setup())
		die("sigaction");
	rv_wait("w-segid", line, sizeof(line));
	apid = xpmem_get((xpmem_segid_t)strtoull(line, NULL, 16), XPMEM_RDONLY,
			 XPMEM_PERMIT_MODE, NULL);
	if (apid == -1)
		die("xpmem_get");
	p = xpmem_attach((struct xpmem_addr){ .apid = apid, .offset = 0 }, NPAGES * PAGE, NULL);
	if (p == (void *)-1)
		die("xpmem_attach");
	for (unsigned long i = 0; i < NPAGES; i++) {
		snprintf(line, sizeof(line), "page %lu of node 1", i);
		if (probe_bytes(&c, p + i * PAGE, 1) || strcmp((const char *)p + i * PAGE, line)) {
			FAIL("page %lu of node 1 not readable", i);
			return 1;
		}
	}
	PASS("mapped every page of node 1's segment; node 1 power-cycles now");
	rv_put(".restart-node1", "1\n");
	rv_wait(".killed-node1", NULL, 0);
	probe_old(p, "node 1 killed, its death not noticed yet", 0);

	t0 = now_ms();
	while ((alive = rv_ctl_field(ctl, "status", "peers_alive")) != 0 && now_ms() - t0 < 120000)
		usleep(100000);
	if (alive != 0)
		FAIL("node 1's death not noticed after 120 s (peers_alive %ld)", alive);
	else
		probe_old(p, "node 1 declared dead (its new boot may run)", 1);

	rv_wait("w-back", NULL, 0);
	probe_old(p, "node 1 rebooted, its daemon back", 1);
	xpmem_detach((void *)p);
	xpmem_release(apid);
	rv_put("w-done", "1\n");
	return fails ? 1 : 0;
}

static int node_o_owner_vm(void)
{
	char *buf;
	xpmem_segid_t segid;

	if (getenv("XPMEM_RESTARTED")) {
		PASS("booted again after the power cycle; xpmemd up with a new incarnation");
		rv_put("w-back", "1\n");
		rv_wait("w-done", NULL, 0);
		return 0;
	}
	buf = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap");
	for (unsigned long i = 0; i < NPAGES; i++)
		snprintf(buf + i * PAGE, PAGE, "page %lu of node 1", i);
	segid = xpmem_make(buf, NPAGES * PAGE, XPMEM_PERMIT_MODE, (void *)0666);
	if (segid == -1)
		die("xpmem_make");
	rv_put("w-segid", "%llx\n", (unsigned long long)segid);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	int vm = argc > 1 && !strcmp(argv[1], "vm");
	int owner_vm = argc > 1 && !strcmp(argv[1], "owner-vm");

	const char *id = getenv("XPMEM_NODE_ID"), *bin = getenv("XPMEM_XPMEMD");
	char *b;

	if (rv_init() || !id || !bin) {
		fprintf(stderr, "xrestart: run under tests/vm/run-cluster (with xpmemd)\n");
		return 2;
	}
	b = strdup(bin);
	snprintf(ctl, sizeof(ctl), "%s/xpmemctl", dirname(b));
	free(b);
	snprintf(tag, sizeof(tag), "node%s", id);
	rv_wait_seconds = WAIT_SECONDS;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (owner_vm)
		return atoi(id) == 0 ? node_i_owner_vm() : atoi(id) == 1 ? node_o_owner_vm() : 0;
	if (atoi(id) == 0)
		return vm ? node_a_vm() : node_a();
	if (atoi(id) == 1)
		return vm ? node_b_vm() : node_b();
	return 0;
}
