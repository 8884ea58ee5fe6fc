// SPDX-License-Identifier: GPL-2.0
/*
 * Cross-partition attach through the real memory fabric, kernel paths only:
 * run on two partitions by `tests/vm/run-cluster --no-daemon`, this program
 * plays xpmemd on both, relaying through files in $XPMEM_CLUSTER_DIR.
 *
 *   node 0 (owner, id 1)                 node 1 (importer, id 2)
 *   source child exports 4 pages         PEER_WINDOW {1, BAR2 of the window}
 *                                        child: xpmem_get -> REMOTE_GET
 *                                        child touches -> REMOTE_FAULT
 *   RESOLVE as requester 2 <- fault.N    -> frames.N -> FAULT_REPLY
 *                                        child reads the owner's pattern
 *                                        through the window, writes 'W'
 *   source sees the write
 *   source munmaps -> INVALIDATE -> inval -> ZAP -> ZAP_DONE -> zapped
 *   ACKED, munmap returns, rmap empty    next touch faults again
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xpmem/xpmem_channel.h>
#include <xpmem/xpmem_ioctl.h>

#include "chanlib.h"

#define PG 4096UL
#define NPAGES 4
#define OWNER 1
#define IMPORTER 2

static const char *dir;

static void publish(const char *name, const char *text)
{
	char tmp[600], path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) || rename(tmp, path)) {
		perror(path);
		exit(1);
	}
}

static void await(const char *name, char *buf, size_t len)
{
	char path[512];
	time_t end = time(NULL) + 60;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	while (!(f = fopen(path, "r"))) {
		if (time(NULL) > end) {
			fprintf(stderr, "timed out waiting for %s\n", path);
			exit(1);
		}
		usleep(20000);
	}
	if (!fgets(buf, (int)len, f))
		buf[0] = 0;
	fclose(f);
}

static int hello(uint32_t node)
{
	struct xpmem_chan_hello h = { .node_id = node, .incarnation = 1 };
	union msgbuf m;

	cfd = open("/dev/" XPMEM_CHAN_DEVICE_NAME, O_RDWR | O_CLOEXEC);
	CHECK(cfd >= 0);
	CHECK(csend(XPMEM_CHAN_HELLO, &h, sizeof(h)) == 0);
	CHECK(cexpect(&m, XPMEM_CHAN_HELLO_REPLY, 5000));
	CHECK(((struct xpmem_chan_hello *)body(&m))->node_id == node);
	return 0;
}

/*
 * A child process on the end of two pipes: the parent sends a command byte,
 * the child answers. Returns the child's pid.
 */
static pid_t child(void (*fn)(int in, int out, void *arg), void *arg,
		   int *cmd, int *rep)
{
	int a[2], b[2];
	pid_t pid;

	if (pipe(a) || pipe(b))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(a[1]);
		close(b[0]);
		close(cfd);
		fn(a[0], b[1], arg);
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	*cmd = a[1];
	*rep = b[0];
	return pid;
}

/* ---- owner ------------------------------------------------------------ */

static void source_fn(int in, int out, void *arg)
{
	struct xpmem_cmd_make mk = { .size = NPAGES * PG,
				     .permit_type = XPMEM_PERMIT_MODE,
				     .permit_value = 0666 };
	int xfd = open("/dev/xpmem", O_RDWR);
	char *p = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char c;

	(void)arg;
	for (int i = 0; i < NPAGES; i++)
		memset(p + i * PG, 'A' + i, PG);
	mk.vaddr = (uintptr_t)p;
	if (ioctl(xfd, XPMEM_CMD_MAKE, &mk))
		mk.segid = -1;
	if (write(out, &mk.segid, 8) != 8)
		return;
	while (read(in, &c, 1) == 1) {
		if (c == 'c')
			c = p[PG + 100] == 'W' ? 'y' : 'n';
		else if (c == 'u')
			munmap(p, NPAGES * PG);
		else
			return;
		if (write(out, &c, 1) != 1)
			return;
	}
}

static int owner(void)
{
	char buf[256], name[32], text[1024];
	struct xpmem_chan_invalidate *inv;
	struct xpmem_chan_frames *fr;
	int cmd, rep, n, st;
	int64_t segid;
	union msgbuf m;
	pid_t pid;
	char c;

	if (hello(OWNER))
		return 1;
	pid = child(source_fn, NULL, &cmd, &rep);
	CHECK(read(rep, &segid, 8) == 8 && segid > 0);
	CHECK(((uint64_t)segid >> 48) == OWNER);
	snprintf(text, sizeof(text), "%" PRId64 " %lu %llu\n", segid, NPAGES * PG,
		 (unsigned long long)kinst());
	/* What the importer's xpmem_get got from the owner's CHECK_GET. */
	CHECK(grant(segid, IMPORTER, 1, XPMEM_RDWR) == 0);
	publish("seg", text);

	/* Serve the importer's faults until it says it is done. */
	for (n = 1; ; n++) {
		struct xpmem_chan_resolve r = { .segid = segid,
						.requester = IMPORTER,
						.requester_incarnation = 1 };
		unsigned long long start, len, inst;
		unsigned int access;
		int k;

		snprintf(name, sizeof(name), "fault.%d", n);
		await(name, buf, sizeof(buf));
		if (!strncmp(buf, "done", 4))
			break;
		CHECK(sscanf(buf, "%llu %llu %u %llu", &start, &len, &access, &inst) == 4);
		/* what the importer's kernel named: this kernel's instance */
		CHECK(inst == kinst());
		r.owner_instance = inst;
		r.start = start;
		r.len = len;
		r.access = access;
		CHECK(csend(XPMEM_CHAN_RESOLVE, &r, sizeof(r)) == 0);
		CHECK(cexpect(&m, XPMEM_CHAN_RESOLVED, 5000));
		fr = body(&m);
		k = snprintf(text, sizeof(text), "%d %u", fr->error, fr->nextents);
		for (unsigned int i = 0; i < fr->nextents; i++)
			k += snprintf(text + k, sizeof(text) - k, " %llu %llu",
				      (unsigned long long)fr->extents[i].phys,
				      (unsigned long long)fr->extents[i].len);
		snprintf(text + k, sizeof(text) - k, "\n");
		printf("node0: RESOLVE %llu+%llu access %u -> %s", start, len,
		       access, text);
		snprintf(name, sizeof(name), "frames.%d", n);
		publish(name, text);
	}

	/* The importer's store went through the fabric into our page. */
	CHECK(write(cmd, "c", 1) == 1 && read(rep, &c, 1) == 1);
	CHECK(c == 'y');
	printf("node0: the importer's write is in the source page\n");

	/* munmap: INVALIDATE for node 2, held until it zapped. */
	CHECK(write(cmd, "u", 1) == 1);
	CHECK(cexpect(&m, XPMEM_CHAN_INVALIDATE, 5000));
	inv = body(&m);
	CHECK(inv->segid == segid && inv->npeers == 1 &&
	      inv->peers[0] == IMPORTER);
	snprintf(text, sizeof(text), "%llu %llu %llu\n",
		 (unsigned long long)inv->generation,
		 (unsigned long long)inv->start, (unsigned long long)inv->len);
	publish("inval", text);
	await("zapped", buf, sizeof(buf));
	{
		struct pollfd p = { .fd = rep, .events = POLLIN };
		struct xpmem_chan_acked a = { .generation = inv->generation };

		CHECK(poll(&p, 1, 0) == 0);	/* munmap still waiting */
		CHECK(csend(XPMEM_CHAN_ACKED, &a, sizeof(a)) == 0);
	}
	CHECK(read(rep, &c, 1) == 1 && c == 'u');
	printf("node0: munmap returned after the importer zapped\n");
	publish("done", "1\n");
	CHECK(write(cmd, "q", 1) == 1);
	CHECK(waitpid(pid, &st, 0) == pid);
	return 0;
}

/* ---- importer ----------------------------------------------------------- */

static void importer_fn(int in, int out, void *arg)
{
	struct xpmem_cmd_get g = { .segid = *(int64_t *)arg,
				   .flags = XPMEM_RDWR,
				   .permit_type = XPMEM_PERMIT_MODE };
	struct xpmem_cmd_attach at = { .size = NPAGES * PG };
	int xfd = open("/dev/xpmem", O_RDWR);
	volatile char *p;
	char c, o[NPAGES];

	if (ioctl(xfd, XPMEM_CMD_GET, &g))
		return;
	at.apid = g.apid;
	if (ioctl(xfd, XPMEM_CMD_ATTACH, &at))
		return;
	p = (volatile char *)(uintptr_t)at.vaddr;
	if (write(out, "a", 1) != 1)
		return;
	while (read(in, &c, 1) == 1) {
		if (c == 'r') {
			for (int i = 0; i < NPAGES; i++)
				o[i] = p[i * PG];
			if (write(out, o, NPAGES) != NPAGES)
				return;
		} else if (c == 'w') {
			p[PG + 100] = 'W';
			if (write(out, "w", 1) != 1)
				return;
		} else {
			return;
		}
	}
}

/* BAR2 of the window onto node 0: physical base and size. */
static int window(__u64 *base, __u64 *size)
{
	const char *tab = getenv("XPMEM_CLUSTER");
	char line[256], ip[64], win[64], path[256];
	unsigned long long s, e, f;
	FILE *t = tab ? fopen(tab, "r") : NULL;
	int id, found = 0;

	CHECK(t);
	while (!found && fgets(line, sizeof(line), t))
		if (sscanf(line, "%d %63s %63s", &id, ip, win) == 3 && id == 0)
			found = 1;
	fclose(t);
	CHECK(found);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", win);
	t = fopen(path, "r");
	CHECK(t);
	for (int i = 0; i <= 2; i++)
		CHECK(fscanf(t, "%llx %llx %llx", &s, &e, &f) == 3);
	fclose(t);
	*base = s;
	*size = e - s + 1;
	printf("node1: window onto node 0 = %s BAR2 %#llx + %#llx\n", win,
	       s, e - s + 1);
	return 0;
}

/* Relay the next REMOTE_FAULT to the owner, answer with its frames. */
static int relay_fault(int n, uint32_t want_access)
{
	struct xpmem_chan_remote_fault *rf;
	struct {
		struct xpmem_chan_frames f;
		struct xpmem_chan_extent e[XPMEM_CHAN_MAX_EXTENTS];
	} fr = {};
	char name[32], text[256], buf[1024], *s;
	unsigned long long phys, len;
	union msgbuf m;
	uint64_t seq;
	int off;

	CHECK(cexpect(&m, XPMEM_CHAN_REMOTE_FAULT, 10000));
	rf = body(&m);
	seq = m.h.seq;
	CHECK(rf->owner == OWNER && rf->access == want_access);
	snprintf(text, sizeof(text), "%llu %llu %u %llu\n",
		 (unsigned long long)rf->start, (unsigned long long)rf->len,
		 rf->access, (unsigned long long)rf->owner_instance);
	snprintf(name, sizeof(name), "fault.%d", n);
	publish(name, text);
	snprintf(name, sizeof(name), "frames.%d", n);
	await(name, buf, sizeof(buf));
	CHECK(sscanf(buf, "%d %u%n", &fr.f.error, &fr.f.nextents, &off) == 2);
	CHECK(fr.f.nextents <= XPMEM_CHAN_MAX_EXTENTS);
	s = buf + off;
	for (unsigned int i = 0; i < fr.f.nextents; i++) {
		CHECK(sscanf(s, " %llu %llu%n", &phys, &len, &off) == 2);
		s += off;
		fr.e[i].phys = phys;
		fr.e[i].len = len;
	}
	CHECK(csend_seq(XPMEM_CHAN_FAULT_REPLY, &fr,
			sizeof(fr.f) + fr.f.nextents * sizeof(fr.e[0]),
			seq) == 0);
	return 0;
}

static int importer(void)
{
	struct xpmem_chan_peer_window pw = { .peer = OWNER };
	struct xpmem_chan_get_reply gr = {};
	unsigned long long gen, start, len, inst;
	char buf[256], o[NPAGES];
	int cmd, rep, st;
	unsigned long size;
	int64_t segid;
	union msgbuf m;
	pid_t pid;

	if (hello(IMPORTER) || window(&pw.base, &pw.size))
		return 1;
	CHECK(csend(XPMEM_CHAN_PEER_WINDOW, &pw, sizeof(pw)) == 0);
	CHECK(cexpect(&m, XPMEM_CHAN_PEER_WINDOW_DONE, 5000));
	CHECK(((struct xpmem_chan_status *)body(&m))->error == 0);

	await("seg", buf, sizeof(buf));
	CHECK(sscanf(buf, "%" SCNd64 " %lu %llu", &segid, &size, &inst) == 3);
	gr.owner_instance = inst;	/* what the owner's CHECK_GET_REPLY says */
	pid = child(importer_fn, &segid, &cmd, &rep);
	CHECK(cexpect(&m, XPMEM_CHAN_REMOTE_GET, 10000));
	CHECK(((struct xpmem_chan_get *)body(&m))->node == OWNER);
	gr.size = size;		/* the owner's CHECK_GET is not exercised here */
	CHECK(csend_seq(XPMEM_CHAN_REMOTE_GET_REPLY, &gr, sizeof(gr),
			m.h.seq) == 0);
	CHECK(read(rep, o, 1) == 1 && o[0] == 'a');

	/* A load through a writable attachment asks for write access. */
	CHECK(write(cmd, "r", 1) == 1);
	if (relay_fault(1, XPMEM_CHAN_ACCESS_READ | XPMEM_CHAN_ACCESS_WRITE))
		return 1;
	CHECK(read(rep, o, NPAGES) == NPAGES && !memcmp(o, "ABCD", NPAGES));
	printf("node1: read the owner's pages through the window\n");
	/* ... so the store goes straight through, no second fault. */
	CHECK(write(cmd, "w", 1) == 1);
	CHECK(read(rep, o, 1) == 1);
	CHECK(cquiet(200));
	publish("fault.2", "done\n");

	await("inval", buf, sizeof(buf));
	CHECK(sscanf(buf, "%llu %llu %llu", &gen, &start, &len) == 3);
	{
		struct xpmem_chan_zap z = { .segid = segid, .start = start,
					    .len = len, .owner = OWNER };

		CHECK(csend(XPMEM_CHAN_ZAP, &z, sizeof(z)) == 0);
		CHECK(cexpect(&m, XPMEM_CHAN_ZAP_DONE, 5000));
		CHECK(((struct xpmem_chan_status *)body(&m))->error == 0);
	}
	publish("zapped", "1\n");
	await("done", buf, sizeof(buf));
	/* Zapped: the next touch asks again; the owner's pages are gone. */
	CHECK(write(cmd, "r", 1) == 1);
	CHECK(cexpect(&m, XPMEM_CHAN_REMOTE_FAULT, 10000));
	{
		struct xpmem_chan_frames f = { .error = -EFAULT };

		CHECK(csend_seq(XPMEM_CHAN_FAULT_REPLY, &f, sizeof(f),
				m.h.seq) == 0);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS);
	printf("node1: after ZAP the attachment faulted again (SIGBUS on error)\n");
	return 0;
}

int main(void)
{
	const char *id = getenv("XPMEM_NODE_ID");
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	dseq = 0;	/* requests are numbered from 1 */
	dir = getenv("XPMEM_CLUSTER_DIR");
	if (!id || !dir) {
		fprintf(stderr, "run me under tests/vm/run-cluster --no-daemon\n");
		return 2;
	}
	if (atoi(id) > 1)
		return 0;	/* two partitions are enough */
	rc = atoi(id) == 0 ? owner() : importer();
	printf("%s cross-partition attach (node %s)\n", rc ? "FAIL" : "PASS", id);
	return rc;
}
