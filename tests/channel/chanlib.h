/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Channel helpers shared by the tests that play xpmemd on /dev/xpmem_channel
 * (channel_test.c, chanfix_test.c, cluster_test.c): framing, send, receive,
 * wait for a message type; module parameters and debugfs counters come
 * from tests/lib/kmod.h.
 */
#ifndef XPMEM_TESTS_CHANLIB_H
#define XPMEM_TESTS_CHANLIB_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <xpmem/xpmem_channel.h>

/* now(), write_param(), debugfs_long(), fail_count() */
#include "kmod.h"

extern int cfd;			/* the channel, -1 until opened */
extern uint64_t dseq;		/* our request seq (csend uses the next one) */
extern FILE *chan_log;		/* where helpers and FAIL print, NULL: stderr */
#define CHAN_LOG (chan_log ? chan_log : stderr)

/* Print where and why to CHAN_LOG, return 1 from the calling test. */
#define FAIL(...) do { \
	fprintf(CHAN_LOG, "  %s:%d: ", __func__, __LINE__); \
	fprintf(CHAN_LOG, __VA_ARGS__); fputc('\n', CHAN_LOG); \
	return 1; } while (0)
#define CHECK(c) do { if (!(c)) FAIL("check failed: %s (errno %d %s)", \
	#c, errno, strerror(errno)); } while (0)

union msgbuf {
	struct xpmem_chan_hdr h;
	char b[XPMEM_CHAN_MAX_MSG];
};

void *body(union msgbuf *m);
/* Failure reason @name (xpmem_fails.h): its count in a QUERY FAILURES (-1:
 * no answer); fail_count() (kmod.h) reads it in debugfs "failures". */
long query_fail_count(const char *name);
/* Send one message; returns 0 or -errno of write() (-EIO if short). */
int csend_seq(uint16_t type, const void *b, size_t blen, uint64_t seq);
/* The same with the next request seq (atomically incremented dseq). */
int csend(uint16_t type, const void *b, size_t blen);
/* Receive one message within @ms; returns its length, 0 on timeout. */
int crecv(union msgbuf *m, int ms);
/* Receive a message of @type within @ms (others are reported and skipped). */
int cexpect(union msgbuf *m, uint16_t type, int ms);
/* Nothing to read within @ms. */
int cquiet(int ms);
/* QUERY: total count of @what (peer filter), -1 on error; the reply in @out. */
long query_total(uint32_t what, uint32_t peer, union msgbuf *out);
/*
 * Send @type with body @b and wait up to 5 s for @reply with the same seq,
 * into @m: 0, -999 (send failed) or -998 (no such reply).
 */
int ccall(uint16_t type, const void *b, size_t blen, uint16_t reply, union msgbuf *m);
/*
 * CHECK_GET of @segid for @peer running @inc, as root with remote root
 * trusted: the grant its RESOLVEs need. 0 or the reply's -errno.
 */
int grant(int64_t segid, uint32_t peer, uint64_t inc, uint32_t flags);
/* This kernel's instance (debugfs channel "incarnation"), which its RESOLVE
 * and RELEASE_GRANT must name; 0 if unreadable. */
uint64_t kinst(void);
/* Physical frame of our page at @p (/proc/self/pagemap), 0 if not present. */
uint64_t pfn_of(void *p);

#endif
