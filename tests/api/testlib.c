// SPDX-License-Identifier: GPL-2.0
/* Shared test helpers for tests/api; see testlib.h. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"

/* ---- failure / skip reasons ---------------------------------------------- */

/* One shared page per case run: reason, summary and current step. */
#define TL_FIELD 1024
static char *tl_shared;
#define TL_REASON (tl_shared)
#define TL_SUMMARY (tl_shared + TL_FIELD)
#define TL_STEP (tl_shared + 2 * TL_FIELD)

static void tl_set(char *field, int only_first, const char *prefix,
		   const char *fmt, va_list ap)
{
	size_t off;

	if (!tl_shared || (only_first && field[0]))
		return;
	off = snprintf(field, TL_FIELD, "%s", prefix);
	if (off < TL_FIELD)
		vsnprintf(field + off, TL_FIELD - off, fmt, ap);
}

void tl_fail_note(const char *func, int line, const char *fmt, ...)
{
	char where[96];
	va_list ap;

	snprintf(where, sizeof(where), "%s:%d: ", func, line);
	va_start(ap, fmt);
	fprintf(stderr, "  %s", where);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	va_start(ap, fmt);
	tl_set(TL_REASON, 1, where, fmt, ap);
	va_end(ap);
}

int tl_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "  SKIP: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	va_start(ap, fmt);
	tl_set(TL_REASON, 1, "", fmt, ap);
	va_end(ap);
	return SKIP_RC;
}

void tl_summary(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tl_set(TL_SUMMARY, 0, "", fmt, ap);
	va_end(ap);
}

void tl_step(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tl_set(TL_STEP, 0, "", fmt, ap);
	va_end(ap);
}

int stress_secs(int def)
{
	const char *e = getenv("XPMEM_STRESS_SECS");

	return e && atoi(e) > 0 ? atoi(e) : def;
}

/* ---- helper processes ---------------------------------------------------- */

int xwrite(int fd, const void *b, size_t n)
{
	return write(fd, b, n) == (ssize_t)n ? 0 : -1;
}

int xread(int fd, void *b, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)b + got, n - got);

		if (r <= 0)
			return -1;
		got += r;
	}
	return 0;
}

int peer_next(int in, struct cmd *c)
{
	return xread(in, c, sizeof(*c)) == 0 && c->op != 'X';
}

void peer_reply(int out, uint64_t r)
{
	if (xwrite(out, &r, sizeof(r)))
		_exit(1);
}

int peer_start_fn(struct peer *p, void (*fn)(int in, int out))
{
	int a[2], b[2];

	if (pipe(a) || pipe(b))
		return -1;
	fflush(NULL);
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		close(a[1]);
		close(b[0]);
		fn(a[0], b[1]);
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	p->to = a[1];
	p->from = b[0];
	return 0;
}

uint64_t peer_cmd(struct peer *p, char op, uint64_t arg)
{
	struct cmd c = { .op = op, .arg = arg };
	uint64_t r = (uint64_t)-2;

	if (xwrite(p->to, &c, sizeof(c)) || xread(p->from, &r, sizeof(r)))
		return (uint64_t)-2;
	return r;
}

void peer_stop(struct peer *p)
{
	int st;

	close(p->to);
	close(p->from);
	waitpid(p->pid, &st, 0);
}

void peer_quit(struct peer *p)
{
	peer_cmd(p, 'X', 0);
	peer_stop(p);
}

/* ---- memory, debugfs, sysfs ---------------------------------------------- */

void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void *map_aligned(size_t len, size_t align)
{
	char *raw = mmap(NULL, len + align, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (raw == MAP_FAILED)
		return NULL;
	return (void *)(((uintptr_t)raw + align - 1) & ~(align - 1));
}

long smaps_anon_huge(void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	int in = 0;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;

		if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, ' ') &&
		    line[strspn(line, "0123456789abcdef")] == '-')
			in = (uintptr_t)addr >= a && (uintptr_t)addr < b;
		else if (in && !strncmp(line, "AnonHugePages:", 14))
			kb = strtol(line + 14, NULL, 10);
	}
	fclose(f);
	return kb;
}

#define SEGMENTS "/sys/kernel/debug/xpmem/segments"

/* The (last) line of segment @s in SEGMENTS into @line: 1, 0 if @s is not
 * listed, -1 without debugfs. */
static int seg_line(xpmem_segid_t s, char *line, size_t len)
{
	char buf[256], want[32];
	FILE *f = fopen(SEGMENTS, "r");
	int found = 0;

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "0x%016llx ", (long long)s);
	while (fgets(buf, sizeof(buf), f))
		if (!strncmp(buf, want, strlen(want))) {
			snprintf(line, len, "%s", buf);
			found = 1;
		}
	fclose(f);
	return found;
}

int seg_counters(xpmem_segid_t s, long long c[5])
{
	char line[256];

	for (int i = 0; i < 5; i++)
		c[i] = -1;
	if (seg_line(s, line, sizeof(line)) == 1)
		sscanf(line, "%*s %*s %*s %lld %lld %lld %lld %lld",
		       &c[0], &c[1], &c[2], &c[3], &c[4]);
	return c[0] < 0 ? -1 : 0;
}

/* Column @col (0: the segid) of segment @s's line as a number; -1 if @s is
 * not listed, the column is missing or not a number, or without debugfs. */
static long long seg_column(xpmem_segid_t s, int col)
{
	char line[256], *p = line;
	long long n;

	if (seg_line(s, line, sizeof(line)) != 1)
		return -1;
	for (int i = 0; i < col; i++) {
		p += strspn(p, " \t\n");
		p += strcspn(p, " \t\n");
	}
	return sscanf(p, "%lld", &n) == 1 ? n : -1;
}

long long seg_pmd_fallbacks(xpmem_segid_t s)
{
	return seg_column(s, 8);
}

long long seg_batched(xpmem_segid_t s)
{
	return seg_column(s, 9);
}

int seg_listed(xpmem_segid_t s)
{
	char line[256];

	return seg_line(s, line, sizeof(line));
}

long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

int pmd_mappings_expected(void)
{
	FILE *f = fopen("/sys/module/xpmem/parameters/map_pmd", "r");
	int c;

	if (!f) {
		fprintf(stderr, "  (no map_pmd parameter: expecting no PMD mappings)\n");
		return 0;
	}
	c = fgetc(f);
	fclose(f);
	return c == 'Y' || c == 'y' || c == '1';
}

#define OBJECTS "/sys/kernel/debug/xpmem/objects"

long live_objects(char *desc, size_t len)
{
	FILE *f = fopen(OBJECTS, "r");
	char name[32];
	long n, sum = 0;
	size_t off = 0;

	if (!f)
		return -1;
	desc[0] = 0;
	while (fscanf(f, "%31s %ld", name, &n) == 2) {
		sum += n;
		off += snprintf(desc + off, len > off ? len - off : 0,
				"%s=%ld ", name, n);
	}
	fclose(f);
	return sum;
}

int check_leaks(void)
{
	char desc[128];
	long n = 0;

	for (int i = 0; i < 200; i++) {
		n = live_objects(desc, sizeof(desc));
		if (n <= 0)
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "  leaked module objects: %s\n", desc);
	if (tl_shared && !TL_REASON[0])
		snprintf(TL_REASON, TL_FIELD,
			 "module objects still live after the case: %s", desc);
	return 1;
}

/* ---- driver ------------------------------------------------------------- */

/* 0 ok, SKIP_RC, or another status; *why says how it ended badly. */
static int run_case(const struct tcase *c, char *why, size_t len)
{
	/* a hang detector: the debug kernel's slowdown scales it, as the
	 * testbed's own timeouts (lifecycle_leak ran 84 of 100 cycles in its
	 * 300 s on a busy host under KASAN) */
	const char *sd = getenv("XPMEM_VM_SLOWDOWN");
	double slow = sd && atof(sd) > 1 ? atof(sd) : 1;
	double t0 = now(), limit = c->timeout * slow + 2 * stress_secs(0);
	int st = 0, timed_out = 0;
	pid_t pid;

	memset(tl_shared, 0, 3 * TL_FIELD);
	why[0] = 0;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		if (probe_setup()) {
			perror("sigaction");
			_exit(1);
		}
		_exit(c->fn());
	}
	setpgid(pid, pid);
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			break;
		if (now() - t0 > limit) {
			timed_out = 1;
			kill(-pid, SIGKILL);
			waitpid(pid, &st, 0);
			break;
		}
		usleep(20000);
	}
	kill(-pid, SIGKILL);	/* leftover helpers of the case */
	while (waitpid(-pid, NULL, 0) > 0)
		;
	if (timed_out) {
		snprintf(why, len, "timed out after %.0f s%s%s", limit,
			 TL_STEP[0] ? " while: " : "", TL_STEP);
		return 1;
	}
	if (WIFSIGNALED(st)) {
		snprintf(why, len, "killed by signal %d%s%s", WTERMSIG(st),
			 TL_STEP[0] ? " while: " : "", TL_STEP);
		return 1;
	}
	return WEXITSTATUS(st);
}

int tl_run(const struct tcase *cases, size_t n, char **sel, int nsel,
	   int (*after)(void))
{
	int passed = 0, failed = 0, skipped = 0;
	char why[TL_FIELD + 64];
	double t0 = now();

	setvbuf(stdout, NULL, _IOLBF, 0);
	tl_shared = mmap(NULL, 4 * TL_FIELD, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (tl_shared == MAP_FAILED)
		return 2;
	/* orphaned helpers of a case come back to us to be reaped */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	for (size_t i = 0; i < n; i++) {
		const struct tcase *c = &cases[i];
		int chosen = nsel == 0, rc;
		double t1 = now();

		for (int j = 0; j < nsel; j++)
			chosen |= !strcmp(sel[j], c->name);
		if (!chosen)
			continue;
		printf("---- %s\n", c->name);
		rc = run_case(c, why, sizeof(why));
		if (rc == 0 && after)
			rc = after();
		if (rc == SKIP_RC) {
			printf("SKIP %s: %s\n", c->name,
			       TL_REASON[0] ? TL_REASON : "(no reason given)");
			skipped++;
		} else if (rc) {
			printf("FAIL %s: %s [%.1f s]\n", c->name,
			       why[0] ? why : TL_REASON[0] ? TL_REASON :
			       "(no reason given)", now() - t1);
			failed++;
		} else {
			printf("PASS %s%s%s [%.1f s]\n", c->name,
			       TL_SUMMARY[0] ? ": " : "", TL_SUMMARY,
			       now() - t1);
			passed++;
		}
	}
	printf("%d passed, %d failed, %d skipped (%.0f s)\n", passed, failed,
	       skipped, now() - t0);
	return failed ? 1 : 0;
}
