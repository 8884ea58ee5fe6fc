/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Memory probes that survive the fault (tests/api, tests/cluster): an access
 * that raises SIGBUS or SIGSEGV returns the signal instead of killing the
 * test. Per thread (the jump buffer is thread-local), after probe_setup.
 */
#ifndef XPMEM_TESTS_PROBE_H
#define XPMEM_TESTS_PROBE_H

#include <stddef.h>
#include <stdint.h>

/*
 * SIGBUS, SIGSEGV and SIGALRM (for probe_call) jump back into the probe
 * running on the thread; outside a probe they keep their default action
 * (SIGALRM: ignored). 0, or -1 (errno set).
 */
int probe_setup(void);
/* Reads/writes *p; 0, or the signal the access raised. */
int probe_read(const volatile uint64_t *p, uint64_t *out);
int probe_write(volatile uint64_t *p, uint64_t v);
/* Copies @n words from @src word by word; 0, or the signal that stopped it. */
int probe_copy(uint64_t *dst, const volatile uint64_t *src, size_t n);
/* The same, byte by byte (@n bytes). */
int probe_bytes(void *dst, const volatile void *src, size_t n);
/*
 * Runs fn(arg) with a deadline: 0 if it returned, the signal it raised
 * (SIGBUS, SIGSEGV), or PROBE_HUNG if it was still running after
 * @timeout_ms (interrupted by SIGALRM). Single-threaded callers only.
 */
#define PROBE_HUNG 1000
int probe_call(void (*fn)(void *), void *arg, unsigned int timeout_ms);

#endif
