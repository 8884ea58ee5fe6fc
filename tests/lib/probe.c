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

/*
 * Runs op(arg) with the thread's probe armed: 0, or the signal it raised.
 * @op runs inside this frame, whose sigsetjmp the handler jumps back to.
 */
static int probe_run(void (*op)(void *), void *arg)
{
	sigjmp_buf jb;
	int sig = sigsetjmp(jb, 1);

	if (sig) {
		probe_jb = NULL;
		return sig;
	}
	probe_jb = &jb;
	op(arg);
	probe_jb = NULL;
	return 0;
}

struct copy {
	void *dst;
	const volatile void *src;
	size_t n;
	uint64_t v;
};

static void copy_words(void *a)
{
	struct copy *c = a;
	const volatile uint64_t *src = c->src;
	uint64_t *dst = c->dst;

	for (size_t i = 0; i < c->n; i++)
		dst[i] = src[i];
}

static void copy_bytes(void *a)
{
	struct copy *c = a;
	const volatile char *src = c->src;
	char *dst = c->dst;

	for (size_t i = 0; i < c->n; i++)
		dst[i] = src[i];
}

static void store_word(void *a)
{
	struct copy *c = a;

	*(volatile uint64_t *)c->dst = c->v;
}

int probe_copy(uint64_t *dst, const volatile uint64_t *src, size_t n)
{
	struct copy c = { .dst = dst, .src = src, .n = n };

	return probe_run(copy_words, &c);
}

int probe_bytes(void *dst, const volatile void *src, size_t n)
{
	struct copy c = { .dst = dst, .src = src, .n = n };

	return probe_run(copy_bytes, &c);
}

int probe_read(const volatile uint64_t *p, uint64_t *out)
{
	return probe_copy(out, p, 1);
}

int probe_write(volatile uint64_t *p, uint64_t v)
{
	struct copy c = { .dst = (void *)p, .v = v };

	return probe_run(store_word, &c);
}

struct timed {
	void (*fn)(void *);
	void *arg;
	const struct itimerval *it;
	int timer_err;
};

static void run_timed(void *a)
{
	struct timed *t = a;

	if (setitimer(ITIMER_REAL, t->it, NULL)) {
		t->timer_err = 1;
		return;
	}
	t->fn(t->arg);
}

int probe_call(void (*fn)(void *), void *arg, unsigned int timeout_ms)
{
	struct itimerval off = { { 0, 0 }, { 0, 0 } }, it = off;
	struct timed t = { .fn = fn, .arg = arg, .it = &it };
	int sig;

	it.it_value.tv_sec = timeout_ms / 1000;
	it.it_value.tv_usec = (timeout_ms % 1000) * 1000;
	sig = probe_run(run_timed, &t);
	setitimer(ITIMER_REAL, &off, NULL);
	if (t.timer_err)
		return -1;
	return sig == SIGALRM ? PROBE_HUNG : sig;
}
