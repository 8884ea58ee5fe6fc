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
#include <setjmp.h>
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

#define PAGE 4096UL
#define NPAGES 4
#define WAIT_SECONDS 240

static const char *dir;
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

static void publish(const char *name, const char *fmt, ...)
{
	char tmp[600], path[512], text[128];
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) || rename(tmp, path))
		die(path);
}

static void await(const char *name, char *buf, size_t len)
{
	char path[512];
	time_t end = time(NULL) + WAIT_SECONDS;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (;;) {
		FILE *f = fopen(path, "r");

		if (f) {
			char *ok = buf ? fgets(buf, (int)len, f) : path;

			fclose(f);
			if (ok)
				return;
		}
		if (time(NULL) > end) {
			printf("FAIL %s: no %s after %d s\n", tag, name, WAIT_SECONDS);
			exit(1);
		}
		usleep(20000);
	}
}

/* a field of `xpmemctl -j CMD` (integer; true = 1, false = 0), -1 if absent */
static long ctl_field(const char *cmd, const char *name)
{
	char line[512], key[80], run[700];
	long v = -1;
	FILE *f;

	snprintf(run, sizeof(run), "%s -t 3000 -j %s 2>/dev/null", ctl, cmd);
	snprintf(key, sizeof(key), "\"%s\":", name);
	f = popen(run, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, key);

		if (!p)
			continue;
		p += strlen(key);
		while (*p == ' ')
			p++;
		v = !strncmp(p, "true", 4) ? 1 : !strncmp(p, "false", 5) ? 0 : strtol(p, NULL, 10);
	}
	pclose(f);
	return v;
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
	publish(name, "%llx\n", (unsigned long long)segid);
	return buf;
}

static int node_a(void)
{
	char *buf = export_pages("r-segid");
	double t0, t;
	long q = -1;

	await("r-daemon-killed", NULL, 0);

	t0 = now_ms();
	if (munmap(buf, PAGE))
		die("munmap");
	t = now_ms() - t0;
	SAY("munmap of a page node 1 maps, node 1's xpmemd dead: %.0f ms (ack timeout 1000 ms)", t);
	q = ctl_field("stats", "quarantine_entries");
	if (q >= 1)
		PASS("invalidation timed out: %ld quarantined range(s) (xpmemctl stats)", q);
	else
		FAIL("no quarantine after the timed-out invalidation (quarantine_entries %ld, "
		     "timed_out %ld)", q, ctl_field("stats", "timed_out"));
	/* status says so too (rmmod's refusal: vm-quarantine-unload) */
	if (ctl_field("status", "quarantine_entries") == q &&
	    ctl_field("status", "quarantine_pages") >= 1)
		PASS("xpmemctl status shows the quarantine (%ld range(s))", q);
	else
		FAIL("xpmemctl status: quarantine_entries %ld pages %ld, want %ld and >= 1",
		     ctl_field("status", "quarantine_entries"),
		     ctl_field("status", "quarantine_pages"), q);
	publish("r-unmapped", "1\n");

	await("r-restarted", NULL, 0);
	t0 = now_ms();
	while ((q = ctl_field("stats", "quarantine_entries")) != 0 && now_ms() - t0 < 30000)
		usleep(100000);
	if (q == 0)
		PASS("node 1's xpmemd came back with a new incarnation: quarantine released "
		     "after %.0f ms", now_ms() - t0);
	else
		FAIL("quarantine not released after node 1's restart (%ld entries)", q);
	publish("r-a-checked", "1\n");
	await("r-done", NULL, 0);
	return fails ? 1 : 0;
}

static sigjmp_buf jb;

static void on_fault(int sig)
{
	siglongjmp(jb, sig);
}

static int try_read(volatile char *p, char *out)
{
	int sig = sigsetjmp(jb, 1);

	if (sig)
		return sig;
	*out = *p;
	return 0;
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

	await(name, line, sizeof(line));
	apid = xpmem_get((xpmem_segid_t)strtoull(line, NULL, 16), XPMEM_RDWR, XPMEM_PERMIT_MODE,
			 NULL);
	if (apid == -1)
		die("xpmem_get");
	p = xpmem_attach((struct xpmem_addr){ .apid = apid, .offset = 0 }, NPAGES * PAGE, NULL);
	if (p == (void *)-1)
		die("xpmem_attach");
	if ((sig = try_read(p, &c)) || strcmp((const char *)p, "page 0 of node 0")) {
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
	struct sigaction sa = { .sa_handler = on_fault };
	volatile char *p;
	pid_t dpid;
	char c;
	FILE *f;
	int sig;
	double t0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
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
	publish("r-daemon-killed", "1\n");
	await("r-unmapped", NULL, 0);

	t0 = now_ms();
	dpid = start_daemon();
	f = fopen(pidfile, "w");
	if (!f || fprintf(f, "%d\n", dpid) < 0 || fclose(f))
		die(pidfile);
	while (ctl_field("status", "ready") != 1 && now_ms() - t0 < 60000)
		usleep(200000);
	while (ctl_field("status", "peers_alive") < 1 && now_ms() - t0 < 60000)
		usleep(200000);
	if (ctl_field("status", "peers_alive") < 1) {
		FAIL("restarted xpmemd not ready with its peer after 60 s");
		publish("r-restarted", "1\n");
		publish("r-done", "1\n");
		return 1;
	}
	PASS("xpmemd restarted (pid %d), ready after %.0f ms", dpid, now_ms() - t0);
	publish("r-restarted", "1\n");
	await("r-a-checked", NULL, 0);

	sig = try_read(p, &c);
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
	sig = try_read(p + PAGE, &c);
	if (sig)
		PASS("page 1 through the permit of the old incarnation faults (%s)",
		     strsignal(sig));
	else
		FAIL("page 1 readable through the permit of the old daemon's incarnation");
	{
		char line[64];
		xpmem_apid_t apid;

		await("r-segid", line, sizeof(line));
		apid = xpmem_get((xpmem_segid_t)strtoull(line, NULL, 16), XPMEM_RDWR,
				 XPMEM_PERMIT_MODE, NULL);
		p = apid == -1 ? (void *)-1 :
		    xpmem_attach((struct xpmem_addr){ .apid = apid, .offset = 0 },
				 NPAGES * PAGE, NULL);
	}
	sig = p != (void *)-1 ? try_read(p + PAGE, &c) : -1;
	if (!sig && !strcmp((const char *)p + PAGE, "page 1 of node 0"))
		PASS("page 1 of node 0 readable again through the new daemon (a new get)");
	else
		FAIL("page 1 of node 0 after the restart and a new get: signal %d", sig);
	publish("r-done", "1\n");
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

	await(".killed-node1", NULL, 0);

	t0 = now_ms();
	if (munmap(buf, PAGE))
		die("munmap");
	t = now_ms() - t0;
	if (t < 1000 + 2000)
		PASS("munmap of a page the dead partition mapped returned in %.0f ms (ack timeout 1000 ms)", t);
	else
		FAIL("munmap with a dead peer took %.0f ms (ack timeout 1000 ms)", t);
	q = ctl_field("stats", "quarantine_entries");
	if (q >= 1)
		PASS("the page went to quarantine (%ld range(s))", q);
	else
		FAIL("no quarantine after the dead partition's timeout (quarantine_entries %ld)", q);

	t0 = now_ms();
	while ((q = ctl_field("stats", "quarantine_entries")) != 0 && now_ms() - t0 < 180000)
		usleep(250000);
	if (q == 0)
		PASS("node 1 rebooted and rejoined: quarantine drained to 0 after %.0f s",
		     (now_ms() - t0) / 1000);
	else
		FAIL("quarantine not drained 180 s after node 1's reboot (%ld entries)", q);
	publish("v-done", "1\n");
	return fails ? 1 : 0;
}

static int node_b_vm(void)
{
	struct sigaction sa = { .sa_handler = on_fault };
	volatile char *p;

	if (getenv("XPMEM_RESTARTED")) {
		PASS("booted again after the power cycle; xpmemd up with a new incarnation");
		await("v-done", NULL, 0);
		return 0;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	p = attach_pages("v-segid");
	if (!p)
		return 1;
	PASS("mapped node 0's page 0; asking for this partition to be killed");
	publish(".restart-node1", "1\n");
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
		if (try_read(p + i * PAGE, &c))
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
	struct sigaction sa = { .sa_handler = on_fault };
	volatile char *p;
	xpmem_apid_t apid;
	char line[64], c;
	double t0;
	long alive;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	await("w-segid", line, sizeof(line));
	apid = xpmem_get((xpmem_segid_t)strtoull(line, NULL, 16), XPMEM_RDONLY,
			 XPMEM_PERMIT_MODE, NULL);
	if (apid == -1)
		die("xpmem_get");
	p = xpmem_attach((struct xpmem_addr){ .apid = apid, .offset = 0 }, NPAGES * PAGE, NULL);
	if (p == (void *)-1)
		die("xpmem_attach");
	for (unsigned long i = 0; i < NPAGES; i++) {
		snprintf(line, sizeof(line), "page %lu of node 1", i);
		if (try_read(p + i * PAGE, &c) || strcmp((const char *)p + i * PAGE, line)) {
			FAIL("page %lu of node 1 not readable", i);
			return 1;
		}
	}
	PASS("mapped every page of node 1's segment; node 1 power-cycles now");
	publish(".restart-node1", "1\n");
	await(".killed-node1", NULL, 0);
	probe_old(p, "node 1 killed, its death not noticed yet", 0);

	t0 = now_ms();
	while ((alive = ctl_field("status", "peers_alive")) != 0 && now_ms() - t0 < 120000)
		usleep(100000);
	if (alive != 0)
		FAIL("node 1's death not noticed after 120 s (peers_alive %ld)", alive);
	else
		probe_old(p, "node 1 declared dead (its new boot may run)", 1);

	await("w-back", NULL, 0);
	probe_old(p, "node 1 rebooted, its daemon back", 1);
	xpmem_detach((void *)p);
	xpmem_release(apid);
	publish("w-done", "1\n");
	return fails ? 1 : 0;
}

static int node_o_owner_vm(void)
{
	char *buf;
	xpmem_segid_t segid;

	if (getenv("XPMEM_RESTARTED")) {
		PASS("booted again after the power cycle; xpmemd up with a new incarnation");
		publish("w-back", "1\n");
		await("w-done", NULL, 0);
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
	publish("w-segid", "%llx\n", (unsigned long long)segid);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	int vm = argc > 1 && !strcmp(argv[1], "vm");
	int owner_vm = argc > 1 && !strcmp(argv[1], "owner-vm");

	const char *id = getenv("XPMEM_NODE_ID"), *bin = getenv("XPMEM_XPMEMD");
	char *b;

	dir = getenv("XPMEM_CLUSTER_DIR");
	if (!dir || !id || !bin) {
		fprintf(stderr, "xrestart: run under tests/vm/run-cluster (with xpmemd)\n");
		return 2;
	}
	b = strdup(bin);
	snprintf(ctl, sizeof(ctl), "%s/xpmemctl", dirname(b));
	free(b);
	snprintf(tag, sizeof(tag), "node%s", id);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (owner_vm)
		return atoi(id) == 0 ? node_i_owner_vm() : atoi(id) == 1 ? node_o_owner_vm() : 0;
	if (atoi(id) == 0)
		return vm ? node_a_vm() : node_a();
	if (atoi(id) == 1)
		return vm ? node_b_vm() : node_b();
	return 0;
}
