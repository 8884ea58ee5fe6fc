// SPDX-License-Identifier: GPL-2.0
/*
 * The cost xpmem adds to a source munmap when nobody remote maps the range:
 * munmap of an exported range (segment made, interval notifier registered,
 * no attacher) against munmap of the same, unexported range. Samples of the
 * two cases alternate so drift in the (emulated) machine hits both alike.
 * Prints one JSON object per size on stdout and a table on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <xpmem.h>

#define PAGE 4096UL
#define HPAGE (2UL << 20)

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
	return v[(int)(p * (n - 1) + 0.5)];
}

/* One sample: map and populate, optionally export, time the munmap. */
static double sample(size_t len, int exported)
{
	char *raw = mmap(NULL, len + HPAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *p;
	xpmem_segid_t segid = -1;
	double t;

	if (raw == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	p = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	madvise(p, len, MADV_NOHUGEPAGE);
	for (size_t off = 0; off < len; off += PAGE)
		p[off] = 1;
	if (exported) {
		segid = xpmem_make(p, len, XPMEM_PERMIT_MODE, (void *)0600);
		if (segid == -1) {
			perror("xpmem_make");
			exit(1);
		}
	}
	t = now_ns();
	munmap(p, len);
	t = now_ns() - t;
	if (exported)
		xpmem_remove(segid);
	munmap(raw, len + HPAGE); /* the alignment slack */
	return t;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	size_t sizes[] = { PAGE, 512 * PAGE };
	double *plain = calloc(n, sizeof(double)), *exp = calloc(n, sizeof(double));

	if (!plain || !exp || n < 10)
		return 1;
	fprintf(stderr, "| munmap, no remote mapping | samples | unexported p50/p90/p99 ns | exported p50/p90/p99 ns | ratio p50 | target |\n|---|---|---|---|---|---|\n");
	for (unsigned int s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (int i = 0; i < n; i++) {
			plain[i] = sample(sizes[s], 0);
			exp[i] = sample(sizes[s], 1);
		}
		qsort(plain, n, sizeof(double), cmp);
		qsort(exp, n, sizeof(double), cmp);
		double ratio = pct(exp, n, 0.5) / pct(plain, n, 0.5);

		printf("{\"bench\":\"munmap_local\",\"pages\":%zu,\"samples\":%d,"
		       "\"unexported_ns\":{\"p50\":%.0f,\"p90\":%.0f,\"p99\":%.0f,\"max\":%.0f},"
		       "\"exported_ns\":{\"p50\":%.0f,\"p90\":%.0f,\"p99\":%.0f,\"max\":%.0f},"
		       "\"ratio_p50\":%.3f,\"target\":1.05,\"pass\":%s}\n",
		       sizes[s] / PAGE, n, pct(plain, n, .5), pct(plain, n, .9), pct(plain, n, .99),
		       plain[n - 1], pct(exp, n, .5), pct(exp, n, .9), pct(exp, n, .99), exp[n - 1],
		       ratio, ratio <= 1.05 ? "true" : "false");
		fprintf(stderr, "| %zu page(s) | %d | %.0f / %.0f / %.0f | %.0f / %.0f / %.0f | %.3fx | <= 1.05x %s |\n",
			sizes[s] / PAGE, n, pct(plain, n, .5), pct(plain, n, .9), pct(plain, n, .99),
			pct(exp, n, .5), pct(exp, n, .9), pct(exp, n, .99), ratio,
			ratio <= 1.05 ? "PASS" : "MISS");
	}
	return 0;
}
