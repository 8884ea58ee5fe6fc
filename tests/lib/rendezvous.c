// SPDX-License-Identifier: GPL-2.0
/* Rendezvous files and xpmemctl fields, see rendezvous.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rendezvous.h"

const char *rv_dir;
char rv_tag[32];
int rv_wait_seconds = 300;
const char *rv_abort_name;
void (*rv_on_fail)(void);

int rv_init(void)
{
	const char *id = getenv("XPMEM_NODE_ID");

	rv_dir = getenv("XPMEM_CLUSTER_DIR");
	if (!rv_dir || !id)
		return -1;
	snprintf(rv_tag, sizeof(rv_tag), "node%d", atoi(id));
	return 0;
}

static int rv_path(char *path, size_t len, const char *name)
{
	int n = snprintf(path, len, "%s/%s", rv_dir ? rv_dir : ".", name);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int rv_publish(const char *name, const char *text)
{
	char path[512], tmp[560];
	FILE *f;
	int n;

	if (rv_path(path, sizeof(path), name))
		return -1;
	/* the writer's pid: two processes may publish the same name */
	n = snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	if (fputs(text, f) < 0) {
		int e = errno;

		fclose(f);
		unlink(tmp);
		errno = e;
		return -1;
	}
	if (fclose(f) || rename(tmp, path)) {
		int e = errno;

		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

static int rv_vpublishf(const char *name, const char *fmt, va_list ap)
{
	char text[1024];
	int n = vsnprintf(text, sizeof(text), fmt, ap);

	if (n < 0 || (size_t)n >= sizeof(text)) {
		errno = EOVERFLOW;
		return -1;
	}
	return rv_publish(name, text);
}

int rv_publishf(const char *name, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = rv_vpublishf(name, fmt, ap);
	va_end(ap);
	return r;
}

static void rv_exit(void)
{
	if (rv_on_fail)
		rv_on_fail();
	fflush(stdout);
	exit(1);
}

void rv_put(const char *name, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = rv_vpublishf(name, fmt, ap);
	va_end(ap);
	if (r) {
		printf("FAIL %s: publish %s/%s: %s\n", rv_tag, rv_dir, name, strerror(errno));
		rv_exit();
	}
}

void rv_wait(const char *name, char *buf, size_t len)
{
	/* a slower kernel (the debug one) stretches the other side's steps */
	const char *sl = getenv("XPMEM_VM_SLOWDOWN");
	int secs = rv_wait_seconds * (sl && atoi(sl) > 1 ? atoi(sl) : 1);
	int r = rv_await(name, buf, len, secs, rv_abort_name);

	if (r == RV_ABORTED)
		printf("FAIL %s: no %s (the other partition aborted)\n", rv_tag, name);
	else if (r)
		printf("FAIL %s: no %s after %d s\n", rv_tag, name, secs);
	if (r)
		rv_exit();
}

int rv_exists(const char *name)
{
	char path[512];

	return rv_path(path, sizeof(path), name) == 0 && access(path, F_OK) == 0;
}

int rv_await(const char *name, char *buf, size_t len, int seconds, const char *abort_name)
{
	char path[512];
	struct timespec tick = { 0, 20 * 1000000L };
	time_t end = time(NULL) + seconds;

	if (rv_path(path, sizeof(path), name))
		return RV_TIMEOUT;
	for (;;) {
		FILE *f = fopen(path, "r");

		if (f && (!buf || !len)) {
			fclose(f);	/* existence is all that is asked */
			return 0;
		}
		if (f) {
			size_t n = fread(buf, 1, len - 1, f);

			fclose(f);
			buf[n] = 0;
			if (n)
				return 0;
		}
		if (abort_name && rv_exists(abort_name))
			return RV_ABORTED;
		if (time(NULL) > end)
			return RV_TIMEOUT;
		nanosleep(&tick, NULL);
	}
}

static FILE *ctl_run(const char *ctl, const char *cmd)
{
	char run[1024];
	/* 10 s: a call answered in milliseconds on an idle guest took more than
	 * 3 s, 30 s in a row, on a starved one (check-kernels' newest) */
	int n = snprintf(run, sizeof(run), "%s -t 10000 -j %s 2>/dev/null", ctl, cmd);

	if (n < 0 || (size_t)n >= sizeof(run))
		return NULL;
	return popen(run, "r");
}

static long ctl_field_once(const char *ctl, const char *cmd, const char *name)
{
	char line[4096], key[128];
	long v = -1;
	FILE *f;

	snprintf(key, sizeof(key), "\"%s\":", name);
	f = ctl_run(ctl, cmd);
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
	return pclose(f) == 0 ? v : -1;
}

/* xpmemctl can miss its deadline on a starved guest: try 3 times */
static long ctl_retry(long (*once)(const char *, const char *, const char *),
		      const char *ctl, const char *cmd, const char *arg)
{
	long v = -1;

	for (int i = 0; i < 3 && v < 0; i++) {
		if (i)
			usleep(300 * 1000);
		v = once(ctl, cmd, arg);
	}
	return v;
}

long rv_ctl_field(const char *ctl, const char *cmd, const char *name)
{
	return ctl_retry(ctl_field_once, ctl, cmd, name);
}

static long ctl_count_once(const char *ctl, const char *cmd, const char *key)
{
	char line[4096];
	long n = 0;
	FILE *f = ctl_run(ctl, cmd);

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		for (char *p = line; (p = strstr(p, key)); p += strlen(key))
			n++;
	return pclose(f) == 0 ? n : -1;
}

long rv_ctl_count(const char *ctl, const char *cmd, const char *key)
{
	return ctl_retry(ctl_count_once, ctl, cmd, key);
}
