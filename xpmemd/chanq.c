// SPDX-License-Identifier: GPL-2.0
/* Non-blocking writes to the kernel channel with a bounded queue (chanq.h). */
#include "chanq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct chanq_msg {
	struct chanq_msg *next;
	size_t n;
	uint32_t tag;
	char buf[];
};

/* 1 written, 0 not now (EAGAIN), or -errno; one record per write() */
static int write_one(int fd, const void *buf, size_t n)
{
	for (;;) {
		ssize_t w = write(fd, buf, n);

		if (w == (ssize_t)n)
			return 1;
		if (w >= 0)
			return -EIO;	/* a record is written whole or not at all */
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 0;
		return -errno;
	}
}

int chanq_fatal(int err)
{
	switch (err) {
	case -EPIPE: case -EBADF: case -ENODEV: case -EIO: case -ECONNRESET:
	case -ESHUTDOWN: case -ENXIO:
		return 1;
	default:
		return 0;
	}
}

static void msg_done(struct chanq *q, struct chanq_msg *m)
{
	if (m->tag && q->done)
		q->done(q->done_arg, m->tag);
	free(m);
}

int chanq_write(struct chanq *q, int fd, const void *buf, size_t n)
{
	return chanq_write_tag(q, fd, buf, n, 0);
}

int chanq_write_tag(struct chanq *q, int fd, const void *buf, size_t n, uint32_t tag)
{
	struct chanq_msg *m;

	if (fd < 0)
		return -EPIPE;
	if (!q->n) {
		int r = write_one(fd, buf, n);

		if (r)
			return r < 0 ? r : 0;
	}
	if (q->n >= CHANQ_CAP) {
		q->dropped++;
		return -ENOBUFS;
	}
	m = malloc(sizeof(*m) + n);
	if (!m) {
		q->dropped++;
		return -ENOBUFS;
	}
	m->next = NULL;
	m->n = n;
	m->tag = tag;
	memcpy(m->buf, buf, n);
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->n++;
	q->queued++;
	if (q->n > q->max_depth)
		q->max_depth = q->n;
	return 0;
}

int chanq_flush(struct chanq *q, int fd)
{
	while (q->head) {
		struct chanq_msg *m = q->head;
		int r = write_one(fd, m->buf, m->n);

		if (r == 0 || (r < 0 && chanq_fatal(r)))
			return r;
		if (r < 0) {
			q->rejected++;
			q->last_reject = -r;
		}
		q->head = m->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
		msg_done(q, m);
	}
	return 0;
}

void chanq_clear(struct chanq *q)
{
	while (q->head) {
		struct chanq_msg *m = q->head;

		q->head = m->next;
		msg_done(q, m);
	}
	q->tail = NULL;
	q->n = 0;
}
