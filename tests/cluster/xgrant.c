// SPDX-License-Identifier: GPL-2.0
/*
 * Grants across two partitions (issue 15), run on both by
 * tests/vm/run-cluster with xpmemd (rendezvous through $XPMEM_CLUSTER_DIR):
 *
 *   node 0 (owner, id 1) exports two segments: R as root (mode 0644) and P
 *   as uid 1000 (mode 0600).
 *   node 1 (importer, id 2), as uid 65534: xpmem_get(R, RDWR) is refused by
 *   the owner (EACCES), RDONLY granted; the read-only attachment reads R word
 *   by word, a store faults (SIGSEGV/SIGBUS), a write(2) into it is EFAULT,
 *   mprotect(PROT_WRITE) is refused. As root: xpmem_get(P) is EACCES (the
 *   owner does not trust remote root: remote_root defaults to untrusted).
 *   node 0: `xpmemctl mappings` shows node 2's mappings of R and debugfs one
 *   grant; after node 1's xpmem_release both are gone (the owner revoked the
 *   mappings, node 2 acked), xpmemd counted the release, and R is unchanged
 *   word by word.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xpmem.h>

#include "clusterlib.h"
#include "rendezvous.h"

#define PAGE 4096UL
#define NPAGES 4

static char ctl[512];

static uint64_t word(unsigned int i)
{
	return 0x4772616e74000000ULL | i;	/* "Grant" */
}

/* "grants N" of /sys/kernel/debug/xpmem/channel, -1 if unreadable. */
static long debugfs_grants(void)
{
	char line[128];
	long v = -1;
	FILE *f = fopen("/sys/kernel/debug/xpmem/channel", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "grants ", 7))
			v = strtol(line + 7, NULL, 10);
	fclose(f);
	return v;
}

static void owner(void)
{
	uint64_t *r = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	xpmem_segid_t sr, sp;
	char text[128];
	long n = -1, g = -1;
	unsigned int bad = 0;

	if (r == MAP_FAILED || p == MAP_FAILED)
		die("mmap");
	if (debugfs_grants() < 0 &&
	    system("mount -t debugfs none /sys/kernel/debug 2>/dev/null") < 0)
		die("mount debugfs");
	for (unsigned int i = 0; i < NPAGES * PAGE / 8; i++)
		r[i] = word(i);
	sr = xpmem_make(r, NPAGES * PAGE, XPMEM_PERMIT_MODE, (void *)0644);
	/* P belongs to uid 1000: root elsewhere is nobody special to it */
	if (seteuid(1000))
		die("seteuid");
	sp = xpmem_make(p, PAGE, XPMEM_PERMIT_MODE, (void *)0600);
	if (seteuid(0))
		die("seteuid back");
	if (sr < 0 || sp < 0)
		die("xpmem_make");
	snprintf(text, sizeof(text), "%llx %llx\n", (unsigned long long)sr,
		 (unsigned long long)sp);
	publish("g-seg", text);

	free(await("g-mapped"));
	n = rv_ctl_count(ctl, "mappings 2", "\"segid\"");
	g = debugfs_grants();
	if (n >= 1 && g == 1)
		PASS("node 2 maps R (%ld mapping(s) in xpmemctl mappings), one grant", n);
	else
		FAIL("before the release: %ld mapping(s) of node 2, %ld grant(s); want >= 1 and 1",
		     n, g);
	publish("g-checked", "1\n");

	free(await("g-released"));
	for (double end = now() + 30; now() < end; usleep(100000)) {
		n = rv_ctl_count(ctl, "mappings 2", "\"segid\"");
		g = debugfs_grants();
		if (n == 0 && g == 0)
			break;
	}
	if (n == 0 && g == 0)
		PASS("after node 2's xpmem_release: its grant and its mappings are gone");
	else
		FAIL("after node 2's xpmem_release: %ld mapping(s), %ld grant(s) left", n, g);
	/* the counters are read while the daemon may still be counting */
	for (int i = 0; i < 20 && !(rv_ctl_field(ctl, "stats", "releases_rx") >= 1 &&
				    rv_ctl_field(ctl, "stats", "release_errors") == 0); i++)
		usleep(250 * 1000);
	if (rv_ctl_field(ctl, "stats", "releases_rx") >= 1 && rv_ctl_field(ctl, "stats", "release_errors") == 0)
		PASS("xpmemd: releases_rx %ld, release_errors 0", rv_ctl_field(ctl, "stats", "releases_rx"));
	else
		FAIL("xpmemd: releases_rx %ld, release_errors %ld",
		     rv_ctl_field(ctl, "stats", "releases_rx"), rv_ctl_field(ctl, "stats", "release_errors"));
	if (rv_ctl_field(ctl, "stats", "quarantine_entries") == 0)
		PASS("nothing quarantined (node 2 acked the revocation)");
	else
		FAIL("quarantine_entries %ld", rv_ctl_field(ctl, "stats", "quarantine_entries"));
	for (unsigned int i = 0; i < NPAGES * PAGE / 8; i++)
		bad += r[i] != word(i);
	if (!bad && !p[0])
		PASS("R and P unchanged, word by word");
	else
		FAIL("%u word(s) of R changed, P[0] = %d", bad, p[0]);
	publish("g-done", "1\n");
}

static sigjmp_buf jb;

static void on_fault(int sig)
{
	siglongjmp(jb, sig);
}

/*
 * The unprivileged part of node 1, in a child as uid/gid 65534 (which may
 * not write the rendezvous directory): 'm' on @out once it mapped R, then
 * waits for a byte on @in, releases, 'r' on @out, waits for a byte again.
 */
static int importer_user(xpmem_segid_t sr, int in, int out)
{
	char c;
	volatile uint64_t *a;
	xpmem_apid_t apid;
	unsigned int bad = 0;
	int sig, fd;
	struct sigaction sa = { .sa_handler = on_fault };

	apid = xpmem_get(sr, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	if (apid < 0 && errno == EACCES)
		PASS("xpmem_get(R, RDWR) as uid 65534 refused by the owner (mode 0644): EACCES");
	else
		FAIL("xpmem_get(R, RDWR) as uid 65534: %s", apid < 0 ? strerror(errno) : "granted");
	apid = xpmem_get(sr, XPMEM_RDONLY, XPMEM_PERMIT_MODE, NULL);
	if (apid < 0) {
		FAIL("xpmem_get(R, RDONLY) as uid 65534: %s", strerror(errno));
		return 1;
	}
	a = xpmem_attach((struct xpmem_addr){ .apid = apid, .offset = 0 }, NPAGES * PAGE, NULL);
	if (a == (void *)-1) {
		FAIL("xpmem_attach: %s", strerror(errno));
		return 1;
	}
	for (unsigned int i = 0; i < NPAGES * PAGE / 8; i++)
		bad += a[i] != word(i);
	if (!bad)
		PASS("the read-only attachment reads the owner's R word by word");
	else
		FAIL("%u word(s) differ through the attachment", bad);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sig = sigsetjmp(jb, 1);
	if (!sig) {
		a[1] = 0xbad;
		FAIL("a store through the read-only attachment went through");
	} else {
		PASS("a store through the read-only attachment faults (%s)", strsignal(sig));
	}
	fd = open("/dev/zero", O_RDONLY);
	errno = 0;
	if (fd >= 0 && read(fd, (void *)a, 8) < 0 && errno == EFAULT)
		PASS("read(2) into the read-only attachment: EFAULT");
	else
		FAIL("read(2) into the read-only attachment: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	if (mprotect((void *)a, PAGE, PROT_READ | PROT_WRITE) && errno == EACCES)
		PASS("mprotect(PROT_WRITE) of the read-only attachment: EACCES");
	else
		FAIL("mprotect(PROT_WRITE) of the read-only attachment: %s", strerror(errno));
	if (write(out, "m", 1) != 1 || read(in, &c, 1) != 1)
		return 1;
	if (xpmem_release(apid)) {
		FAIL("xpmem_release: %s", strerror(errno));
		return 1;
	}
	if (write(out, "r", 1) != 1 || read(in, &c, 1) != 1)
		return 1;
	return 0;
}

static void importer(void)
{
	unsigned long long r, p;
	char *line = await("g-seg");
	int st, a[2], b[2];
	pid_t pid;
	char c;

	if (sscanf(line, "%llx %llx", &r, &p) != 2)
		die("g-seg");
	free(line);
	/* root on this node is not root on the owner's */
	errno = 0;
	if (xpmem_get((xpmem_segid_t)p, XPMEM_RDONLY, XPMEM_PERMIT_MODE, NULL) < 0 &&
	    errno == EACCES)
		PASS("xpmem_get(P: uid 1000, mode 0600) as root of another partition: EACCES");
	else
		FAIL("xpmem_get(P: uid 1000, mode 0600) as root of another partition: %s",
		     errno ? strerror(errno) : "granted");
	fflush(stdout);
	if (pipe(a) || pipe(b))
		die("pipe");
	pid = fork();
	if (pid == 0) {
		close(a[1]);
		close(b[0]);
		if (setgid(65534) || setuid(65534))
			die("setuid");
		passes = fails = 0;
		_exit(importer_user((xpmem_segid_t)r, a[0], b[1]) || fails ? 1 : 0);
	}
	close(a[0]);
	close(b[1]);
	if (read(b[0], &c, 1) == 1) {
		publish("g-mapped", "1\n");
		free(await("g-checked"));
		if (write(a[1], "c", 1) == 1 && read(b[0], &c, 1) == 1)
			publish("g-released", "1\n");
		free(await("g-done"));
		if (write(a[1], "q", 1) != 1)
			FAIL("the unprivileged importer went away");
	}
	close(a[1]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		FAIL("the unprivileged importer failed (status %#x)", st);
	if (!exists("g-done"))
		publish("g-done", "1\n");	/* do not leave the owner waiting */
}

int main(int argc, char **argv)
{
	char *b = strdup(argv[0]);

	(void)argc;
	if (cl_init("xgrant"))
		return 2;
	/* xpmemctl: next to xpmemd ($XPMEM_XPMEMD) */
	if (getenv("XPMEM_XPMEMD")) {
		char *x = strdup(getenv("XPMEM_XPMEMD"));

		snprintf(ctl, sizeof(ctl), "%s/xpmemctl", dirname(x));
		free(x);
	} else {
		snprintf(ctl, sizeof(ctl), "%s/../../xpmemd/xpmemctl", dirname(b));
	}
	free(b);
	if (me == 0)
		owner();
	else if (me == 1)
		importer();
	else
		SAY("idle (the test uses nodes 0 and 1)");
	printf("%s: %d passed, %d failed\n", tag, passes, fails);
	return fails ? 1 : 0;
}
