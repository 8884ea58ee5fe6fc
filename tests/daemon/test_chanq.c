// SPDX-License-Identifier: GPL-2.0
/*
 * The channel write queue (xpmemd/chanq.c): a message the kernel refuses is
 * dropped and counted, the channel goes on; only the channel's own failure
 * is fatal. Review finding: every write error used to stop the daemon, and
 * the module returns a message's own error (EINVAL, ENOMEM, ENOTCONN of a
 * full reply queue) after applying it. /dev/full stands for a kernel that
 * refuses every message (ENOSPC); a pipe whose reader is gone for a dead
 * channel (EPIPE); a full non-blocking pipe for a channel that cannot take
 * more now (EAGAIN).
 */
#include "chanq.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int fails;

#define T(c) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
	fails++; } } while (0)

int main(void)
{
	struct chanq q = { 0 };
	char msg[64];
	int full, p[2], n = 0;

	memset(msg, 0xa5, sizeof(msg));
	T(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
	T(chanq_fatal(-EPIPE) && chanq_fatal(-EBADF) && chanq_fatal(-ENODEV));
	T(!chanq_fatal(-EINVAL) && !chanq_fatal(-ENOMEM) && !chanq_fatal(-ENOTCONN) &&
	  !chanq_fatal(-ENOSPC) && !chanq_fatal(-EMSGSIZE));

	/* refused now: the error, nothing queued */
	full = open("/dev/full", O_WRONLY);
	T(full >= 0);
	T(chanq_write(&q, full, msg, sizeof(msg)) == -ENOSPC);
	T(q.n == 0);

	/* queue behind a full pipe, then flush into a kernel that refuses
	 * each: all dropped and counted, the flush succeeds */
	T(pipe(p) == 0);
	T(fcntl(p[1], F_SETFL, O_NONBLOCK) == 0);
	while (q.n == 0 && n < 100000) {
		T(chanq_write(&q, p[1], msg, sizeof(msg)) == 0);
		n++;
	}
	T(q.n == 1);
	T(chanq_write(&q, p[1], msg, sizeof(msg)) == 0);
	T(chanq_write(&q, p[1], msg, sizeof(msg)) == 0);
	T(q.n == 3);
	T(chanq_flush(&q, full) == 0);
	T(q.n == 0 && q.rejected == 3 && q.last_reject == ENOSPC);

	/* a dead channel is fatal, and what waits stays for nobody */
	while (q.n == 0)
		T(chanq_write(&q, p[1], msg, sizeof(msg)) == 0);
	T(close(p[0]) == 0);
	T(chanq_flush(&q, p[1]) == -EPIPE);
	T(chanq_write(&q, -1, msg, sizeof(msg)) == -EPIPE);
	chanq_clear(&q);
	T(q.n == 0);
	close(p[1]);
	close(full);
	printf("%s: %d failures\n", fails ? "FAIL" : "PASS", fails);
	return fails != 0;
}
