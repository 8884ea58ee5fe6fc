/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's writes to the kernel channel, never blocking: a message the
 * channel cannot take now (EAGAIN) waits here, in order, and is written when
 * the channel is writable again (EPOLLOUT in the daemon's loop).
 */
#ifndef XPMEMD_CHANQ_H
#define XPMEMD_CHANQ_H

#include <stddef.h>
#include <stdint.h>

#define CHANQ_CAP	16384	/* messages waiting for the channel */

struct chanq_msg;

struct chanq {
	struct chanq_msg *head, *tail;
	uint32_t n, max_depth;
	uint64_t queued;	/* messages that had to wait (EAGAIN) */
	uint64_t dropped;	/* not written: queue full */
	uint64_t rejected;	/* refused by the kernel (one message's error) */
	int last_reject;	/* the errno of the last of those */
	/* a queued message with a tag left the queue (written, refused or
	 * cleared): done(done_arg, tag), so its owner can count what it has
	 * waiting here */
	void (*done)(void *arg, uint32_t tag);
	void *done_arg;
};

/*
 * An error of the channel itself (it is gone: the daemon stops), as opposed
 * to the kernel refusing one message (EINVAL, ENOMEM, ENOTCONN of a full
 * reply queue...: that message is dropped, the channel goes on). The module
 * handles each write inline and returns that message's own error.
 */
int chanq_fatal(int err);

/*
 * Write one message to fd now if nothing waits, else queue it (copied).
 * 0: written or queued; -ENOBUFS: the queue is full (dropped); another
 * negative errno: the kernel refused this message, or the channel failed
 * (chanq_fatal() tells which).
 */
int chanq_write(struct chanq *q, int fd, const void *buf, size_t n);
/* as chanq_write; if queued, the message carries tag (0: none) to q->done */
int chanq_write_tag(struct chanq *q, int fd, const void *buf, size_t n, uint32_t tag);
/* Write what waits until the channel says EAGAIN: 0, or a fatal error. A
 * message the kernel refuses is dropped (rejected, last_reject). */
int chanq_flush(struct chanq *q, int fd);
void chanq_clear(struct chanq *q);

#endif
