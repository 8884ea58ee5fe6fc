// SPDX-License-Identifier: GPL-2.0
/* Reporting of the two-partition tests, their rendezvous on rendezvous.c;
 * see clusterlib.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clusterlib.h"
#include "rendezvous.h"

const char *dir;
int me, nodes;
char tag[32];
int passes, fails;
char cl_abort_name[64];
int cl_wait_seconds = 300;

/* what a FAIL that exits adds: the counts, that failure included */
static void cl_counts(void)
{
	printf("%s: %d passed, %d failed\n", tag, passes, fails + 1);
}

int cl_init(const char *prog)
{
	const char *n = getenv("XPMEM_NODES");

	if (rv_init() || !n) {
		fprintf(stderr, "%s: run under tests/vm/run-cluster\n", prog);
		return -1;
	}
	dir = rv_dir;
	me = atoi(getenv("XPMEM_NODE_ID"));
	nodes = atoi(n);
	snprintf(tag, sizeof(tag), "%s", rv_tag);
	rv_on_fail = cl_counts;
	setvbuf(stdout, NULL, _IOLBF, 0);
	return 0;
}

void die(const char *what)
{
	printf("FAIL %s: %s: %s\n", tag, what, strerror(errno));
	cl_counts();
	fflush(stdout);
	exit(1);
}

void publish(const char *name, const char *text)
{
	rv_put(name, "%s", text);
}

int exists(const char *name)
{
	return rv_exists(name);
}

char *await(const char *name)
{
	char *buf = malloc(8192);

	if (!buf)
		die("malloc");
	rv_wait_seconds = cl_wait_seconds;
	rv_abort_name = cl_abort_name[0] ? cl_abort_name : NULL;
	rv_wait(name, buf, 8192);
	return buf;
}
