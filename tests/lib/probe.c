// SPDX-License-Identifier: GPL-2.0
/* Fault-surviving memory probes, see probe.h. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/time.h>

#include "probe.h"

static __thread sigjmp_buf *volatile probe_jb;

static void probe_handler(int sig, siginfo_t *si, void *uc)
{
	(void)si; (void)uc;
	if (probe_jb)
		siglongjmp(*probe_jb, sig);
	if (sig == SIGALRM)	/* a probe_call deadline that came late */
		return;
	signal(sig, SIG_DFL);
	raise(sig);
}

int probe_setup(void)
{
	struct sigaction sa = { .sa_sigaction = probe_handler,
				.sa_flags = SA_SIGINFO | SA_NODEFER };

	if (sigemptyset(&sa.sa_mask) || sigaction(SIGBUS, &sa, NULL) ||
	    sigaction(SIGSEGV, &sa, NULL) || sigaction(SIGALRM, &sa, NULL))
		return -1;
	return 0;
}

/* out of line: the accesses happen inside the probe's sigsetjmp frame */
static __attribute__((noinline)) void copy_words(uint64_t *dst, const volatile uint64_t *src,
						 size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i];
}

int probe_copy(uint64_t *dst, const volatile uint64_t *src, size_t n)
{
	sigjmp_buf jb;
	int sig = sigsetjmp(jb, 1);

	if (sig) {
		probe_jb = NULL;
		return sig;
	}
	probe_jb = &jb;
	copy_words(dst, src, n);
	probe_jb = NULL;
	return 0;
}

static __attribute__((noinline)) void copy_bytes(char *dst, const volatile char *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i];
}

int probe_bytes(void *dst, const volatile void *src, size_t n)
{
	sigjmp_buf jb;
	int sig = sigsetjmp(jb, 1);

	if (sig) {
		probe_jb = NULL;
		return sig;
	}
	probe_jb = &jb;
	copy_bytes(dst, src, n);
	probe_jb = NULL;
	return 0;
}

int probe_read(const volatile uint64_t *p, uint64_t *out)
{
	return probe_copy(out, p, 1);
}

int probe_write(volatile uint64_t *p, uint64_t v)
{
	sigjmp_buf jb;
	int sig = sigsetjmp(jb, 1);

	if (sig) {
		probe_jb = NULL;
		return sig;
	}
	probe_jb = &jb;
	*p = v;
	probe_jb = NULL;
	return 0;
}

int probe_call(void (*fn)(void *), void *arg, unsigned int timeout_ms)
{
	struct itimerval off = { { 0, 0 }, { 0, 0 } }, it = off;
	sigjmp_buf jb;
	int sig;

	it.it_value.tv_sec = timeout_ms / 1000;
	it.it_value.tv_usec = (timeout_ms % 1000) * 1000;
	sig = sigsetjmp(jb, 1);
	if (sig) {
		setitimer(ITIMER_REAL, &off, NULL);
		probe_jb = NULL;
		return sig == SIGALRM ? PROBE_HUNG : sig;
	}
	probe_jb = &jb;
	if (setitimer(ITIMER_REAL, &it, NULL)) {
		probe_jb = NULL;
		return -1;
	}
	fn(arg);
	setitimer(ITIMER_REAL, &off, NULL);
	probe_jb = NULL;
	return 0;
}
