/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The rendezvous of the programs tests/vm/run-cluster runs on every partition
 * (tests/cluster, tests/channel): files in $XPMEM_CLUSTER_DIR, a directory
 * every partition reads and writes, each written whole (a temporary file
 * renamed into place) and waited for with a deadline; and the daemon's
 * counters as `xpmemctl -j` prints them.
 */
#ifndef XPMEM_TESTS_RENDEZVOUS_H
#define XPMEM_TESTS_RENDEZVOUS_H

#include <stddef.h>

extern const char *rv_dir;	/* $XPMEM_CLUSTER_DIR, set by rv_init */
extern char rv_tag[32];		/* "nodeN" ($XPMEM_NODE_ID), set by rv_init */
extern int rv_wait_seconds;	/* how long rv_wait waits (default 300), times
				 * $XPMEM_VM_SLOWDOWN */
extern const char *rv_abort_name;	/* rv_wait gives up once it exists; NULL: none */
extern void (*rv_on_fail)(void);	/* called before rv_put/rv_wait exit(1) */

/* rv_dir and rv_tag from the environment: 0, or -1 if not run by
 * tests/vm/run-cluster ($XPMEM_CLUSTER_DIR or $XPMEM_NODE_ID unset) */
int rv_init(void);
/* Writes @text to file @name in rv_dir, atomically: 0, or -1 (errno set). */
int rv_publish(const char *name, const char *text);
/* The same with printf-style text. */
int rv_publishf(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Does @name exist in rv_dir? */
int rv_exists(const char *name);
/*
 * Waits up to @seconds for @name to exist (@buf NULL) or to exist with some
 * text, which goes into @buf (at most @len - 1 bytes, NUL-terminated);
 * polls every 20 ms. Gives up early once @abort_name (if not NULL) exists: a peer
 * that failed. 0, RV_TIMEOUT or RV_ABORTED.
 */
#define RV_TIMEOUT (-1)
#define RV_ABORTED (-2)
int rv_await(const char *name, char *buf, size_t len, int seconds, const char *abort_name);

/*
 * The same, or else print "FAIL nodeN: ..." and exit(1) (after rv_on_fail):
 * rv_put publishes file @name with printf-style text; rv_wait waits
 * rv_wait_seconds for it (its text into @buf unless NULL).
 */
void rv_put(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rv_wait(const char *name, char *buf, size_t len);

/*
 * An integer field "NAME": N of `CTL -t 3000 -j CMD` (true: 1, false: 0;
 * the last one printed), -1 if absent or if xpmemctl could not be run.
 */
long rv_ctl_field(const char *ctl, const char *cmd, const char *name);
/* How many times @key occurs in `CTL -t 3000 -j CMD`; -1 if it failed. */
long rv_ctl_count(const char *ctl, const char *cmd, const char *key);

#endif
