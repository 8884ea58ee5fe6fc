// SPDX-License-Identifier: GPL-2.0
/*
 * unit-tests-lib: tests/lib on the host. The probes return the signal of a
 * faulting access (and the data of one that does not), probe_call turns a
 * hang into PROBE_HUNG; the rendezvous hands text over, times out, and
 * gives up when the abort file appears; kv_long finds the last line of
 * its key (the absent value without one, -1 without the file) and
 * write_file writes what it reads.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kmod.h"
#include "probe.h"
#include "rendezvous.h"

static int fails;

#define CHECK(c, ...) do { if (c) { printf("PASS: "); } else { printf("FAIL: "); fails++; } \
	printf(__VA_ARGS__); putchar('\n'); } while (0)

static void spin(void *arg)
{
	(void)arg;
	for (;;)
		;
}

static void touch(void *arg)
{
	*(volatile char *)arg = 1;
}

int main(void)
{
	char tmpl[] = "/tmp/xpmem-tests-lib.XXXXXX", buf[64];
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t *p, v = 0, w[4];
	time_t t0;
	double t1, t2;
	int r;

	CHECK(probe_setup() == 0, "probe_setup");
	p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	p[0] = 0x1234;
	p[pg / 8 - 2] = 5;
	p[pg / 8 - 1] = 6;
	CHECK(probe_read(p, &v) == 0 && v == 0x1234, "probe_read of a mapped word: %#llx",
	      (unsigned long long)v);
	CHECK(probe_write(p + 1, 7) == 0 && p[1] == 7, "probe_write of a mapped word");
	CHECK(mprotect((char *)p + pg, pg, PROT_NONE) == 0, "mprotect PROT_NONE");
	CHECK(probe_read((uint64_t *)((char *)p + pg), &v) == SIGSEGV, "probe_read: SIGSEGV");
	CHECK(probe_copy(w, p + pg / 8 - 2, 4) == SIGSEGV && w[0] == 5 && w[1] == 6,
	      "probe_copy into PROT_NONE: SIGSEGV after the mapped words");
	CHECK(probe_bytes(buf, (char *)p + pg, 1) == SIGSEGV, "probe_bytes: SIGSEGV");
	CHECK(mprotect(p, pg, PROT_READ) == 0, "mprotect PROT_READ");
	CHECK(probe_write(p, 1) == SIGSEGV && p[0] == 0x1234, "probe_write of a read-only page: SIGSEGV");
	CHECK(probe_call(touch, p, 1000) == SIGSEGV, "probe_call of a faulting fn: SIGSEGV");
	CHECK(probe_call(spin, NULL, 200) == PROBE_HUNG, "probe_call of a spinning fn: PROBE_HUNG");
	CHECK(probe_call(touch, buf, 1000) == 0 && buf[0] == 1, "probe_call of a harmless fn: 0");

	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 1;
	}
	CHECK(setenv("XPMEM_CLUSTER_DIR", tmpl, 1) == 0 && setenv("XPMEM_NODE_ID", "3", 1) == 0,
	      "setenv");
	CHECK(rv_init() == 0 && !strcmp(rv_tag, "node3"), "rv_init: %s", rv_tag);
	CHECK(!rv_exists("a") && rv_publishf("a", "%x\n", 0xab) == 0 && rv_exists("a"),
	      "rv_publishf makes the file");
	r = rv_await("a", buf, sizeof(buf), 1, NULL);
	CHECK(r == 0 && !strcmp(buf, "ab\n"), "rv_await reads it: %d '%s'", r, buf);
	CHECK(rv_await("a", NULL, 0, 1, NULL) == 0, "rv_await of its existence");
	t0 = time(NULL);
	r = rv_await("none", buf, sizeof(buf), 1, NULL);
	CHECK(r == RV_TIMEOUT && time(NULL) - t0 >= 1, "rv_await of a missing file: RV_TIMEOUT");
	CHECK(rv_publish("stop", "1\n") == 0, "rv_publish");
	CHECK(rv_await("none", buf, sizeof(buf), 30, "stop") == RV_ABORTED,
	      "rv_await gives up once the abort file exists");
	CHECK(rv_publish("no/such/dir", "x") == -1, "rv_publish into a missing directory: -1");

	snprintf(buf, sizeof(buf), "%s/kv", tmpl);
	CHECK(write_file(buf, "a 1\nbb 2\na 3\n") == 0, "write_file");
	CHECK(kv_long(buf, "a", -7) == 3, "kv_long: the last line of the key");
	CHECK(kv_long(buf, "bb", -7) == 2, "kv_long of a key in the middle");
	CHECK(kv_long(buf, "b", -7) == -7, "kv_long of a missing key: the absent value");
	CHECK(write_file(buf, "c 4\n") == 0 && kv_long(buf, "a", 0) == 0 &&
	      kv_long(buf, "c", 0) == 4, "write_file replaces the text");
	CHECK(kv_long("/nonexistent/kv", "a", 0) == -1, "kv_long of a missing file: -1");
	CHECK(write_file("/nonexistent/kv", "x") == -1, "write_file into a missing directory: -1");
	t1 = now();
	t2 = now();
	CHECK(t1 > 0 && t1 <= t2, "now() runs forward: %f, %f", t1, t2);
	for (const char *const *f = (const char *const[]){ "a", "stop", "kv", NULL }; *f; f++) {
		snprintf(buf, sizeof(buf), "%s/%s", tmpl, *f);
		if (unlink(buf))
			perror(buf);
	}
	if (rmdir(tmpl))
		perror(tmpl);
	printf("%d failed\n", fails);
	return fails ? 1 : 0;
}
