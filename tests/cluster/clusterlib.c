// SPDX-License-Identifier: GPL-2.0
/* Rendezvous and reporting of the two-partition tests, see clusterlib.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clusterlib.h"

const char *dir;
int me, nodes;
char tag[32];
int passes, fails;
char cl_abort_name[64];
int cl_wait_seconds = 300;

int cl_init(const char *prog)
{
	const char *id = getenv("XPMEM_NODE_ID"), *n = getenv("XPMEM_NODES");

	dir = getenv("XPMEM_CLUSTER_DIR");
	if (!dir || !id || !n) {
		fprintf(stderr, "%s: run under tests/vm/run-cluster\n", prog);
		return -1;
	}
	me = atoi(id);
	nodes = atoi(n);
	snprintf(tag, sizeof(tag), "node%d", me);
	setvbuf(stdout, NULL, _IOLBF, 0);
	return 0;
}

void die(const char *what)
{
	printf("FAIL %s: %s: %s\n", tag, what, strerror(errno));
	printf("%s: %d passed, %d failed\n", tag, passes, fails + 1);
	fflush(stdout);
	exit(1);
}

void publish(const char *name, const char *text)
{
	char tmp[600], path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) || rename(tmp, path))
		die(path);
}

int exists(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

char *await(const char *name)
{
	char path[512];
	time_t end = time(NULL) + cl_wait_seconds;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (;;) {
		FILE *f = fopen(path, "r");
		int aborted;

		if (f) {
			char *buf = calloc(1, 8192);
			size_t n = buf ? fread(buf, 1, 8191, f) : 0;

			fclose(f);
			if (n)
				return buf;
			free(buf);
		}
		aborted = cl_abort_name[0] && exists(cl_abort_name);
		if (aborted || time(NULL) > end) {
			printf("FAIL %s: no %s %s\n", tag, name,
			       aborted ? "(the other partition aborted)" : "in time");
			printf("%s: %d passed, %d failed\n", tag, passes, fails + 1);
			exit(1);
		}
		usleep(20000);
	}
}
