// SPDX-License-Identifier: GPL-2.0
/* xpmem.ko's parameters and debugfs counters, see kmod.h. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kmod.h"

#define DEBUGFS "/sys/kernel/debug/xpmem/"

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int write_file(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	ok = fputs(val, f) >= 0;
	ok &= fclose(f) == 0;
	return ok ? 0 : -1;
}

int write_param(const char *name, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/module/xpmem/parameters/%s", name);
	return write_file(path, val);
}

long kv_long(const char *path, const char *key, long absent)
{
	char k[64];
	long v, r = absent;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", k, &v) == 2)
		if (!strcmp(k, key))
			r = v;
	fclose(f);
	return r;
}

long debugfs_long(const char *file, const char *key)
{
	char path[128];

	snprintf(path, sizeof(path), DEBUGFS "%s", file);
	return kv_long(path, key, -1);
}

long fail_count(const char *name)
{
	return kv_long(DEBUGFS "failures", name, 0);
}
