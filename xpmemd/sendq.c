// SPDX-License-Identifier: GPL-2.0
/* Per-peer send queues with caps and exponential backoff (sendq.h). */
#include "sendq.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct sq_msg {
	struct sq_msg *next;
	struct sq_meta meta;
	uint64_t queued;	/* monotonic ns */
	size_t len;
	char data[];
};

static void backoff_grow(struct sendq *q, uint64_t now)
{
	q->tries++;
	q->backoff = !q->backoff ? SQ_BACKOFF_MIN :
		     q->backoff * 2 > SQ_BACKOFF_MAX ? SQ_BACKOFF_MAX : q->backoff * 2;
	q->next_try = now + q->backoff;
}

static void drop(struct sendq *q, const struct sq_meta *m, enum sq_why why, sq_drop_cb cb,
		 void *arg)
{
	q->dropped++;
	if (cb)
		cb(arg, m, why);
}

static struct sq_msg *msg_new(const struct sq_meta *m, const void *buf, size_t len,
			      uint64_t now)
{
	struct sq_msg *x = malloc(sizeof(*x) + len);

	if (!x)
		return NULL;
	x->next = NULL;
	x->meta = *m;
	x->queued = now;
	x->len = len;
	memcpy(x->data, buf, len);
	return x;
}

static void append(struct sendq *q, struct sq_msg *x)
{
	if (q->tail)
		q->tail->next = x;
	else
		q->head = x;
	q->tail = x;
	q->n++;
	if (q->n > q->max_depth)
		q->max_depth = q->n;
}

int sendq_push(struct sendq *q, struct fab *f, fi_addr_t dest, const struct sq_meta *m,
	       const void *buf, size_t len, int may_queue, uint64_t now, sq_drop_cb cb,
	       void *arg)
{
	struct sq_msg *x;

	if (!q->n && now >= q->next_try) {
		int r = fab_try_send(f, dest, buf, len);

		if (r == 0) {
			q->backoff = 0;
			q->next_try = 0;
			return 0;
		}
		if (r != -EAGAIN) {
			drop(q, m, SQ_DROP_ERROR, cb, arg);
			return r;
		}
		backoff_grow(q, now);
	}
	if (!may_queue) {
		drop(q, m, SQ_DROP_DEAD, cb, arg);
		return -EHOSTDOWN;
	}
	if (m->cls == SQ_PROBE) {
		/* a newer HELLO/HEARTBEAT supersedes a queued one */
		struct sq_msg **pp = &q->head, *prev = NULL;

		for (; *pp; prev = *pp, pp = &(*pp)->next)
			if ((*pp)->meta.cls == SQ_PROBE) {
				x = *pp;
				*pp = x->next;
				if (q->tail == x)
					q->tail = prev;
				q->n--;
				free(x);
				break;
			}
	}
	if (q->n >= SQ_CAP) {
		drop(q, m, SQ_DROP_FULL, cb, arg);
		return -ENOBUFS;
	}
	x = msg_new(m, buf, len, now);
	if (!x) {
		drop(q, m, SQ_DROP_ERROR, cb, arg);
		return -ENOMEM;
	}
	append(q, x);
	return 0;
}

static void pop(struct sendq *q)
{
	struct sq_msg *x = q->head;

	q->head = x->next;
	if (!q->head)
		q->tail = NULL;
	q->n--;
	free(x);
}

void sendq_flush(struct sendq *q, struct fab *f, fi_addr_t dest, uint64_t now,
		 sq_drop_cb cb, void *arg)
{
	int budget = SQ_FLUSH_BUDGET;

	if (!q->n || now < q->next_try)
		return;
	while (q->head && budget-- > 0) {
		struct sq_msg *x = q->head;
		int r;

		if (x->meta.cls != SQ_PROBE && now - x->queued >= SQ_AGE_NS) {
			struct sq_meta m = x->meta;

			pop(q);
			drop(q, &m, SQ_DROP_AGED, cb, arg);
			continue;
		}
		r = fab_try_send(f, dest, x->data, x->len);
		if (r == -EAGAIN) {
			backoff_grow(q, now);
			return;
		}
		q->backoff = 0;
		q->next_try = 0;
		if (r) {
			struct sq_meta m = x->meta;

			pop(q);
			drop(q, &m, SQ_DROP_ERROR, cb, arg);
			continue;
		}
		pop(q);
	}
}

void sendq_purge(struct sendq *q, int keep_probes, enum sq_why why, sq_drop_cb cb, void *arg)
{
	struct sq_msg **pp = &q->head, *prev = NULL;

	while (*pp) {
		struct sq_msg *x = *pp;

		if (keep_probes && x->meta.cls == SQ_PROBE) {
			prev = x;
			pp = &x->next;
			continue;
		}
		*pp = x->next;
		if (q->tail == x)
			q->tail = prev;
		q->n--;
		drop(q, &x->meta, why, cb, arg);
		free(x);
	}
}

void sendq_kick(struct sendq *q)
{
	q->backoff = 0;
	q->next_try = 0;
}

uint64_t sendq_next(const struct sendq *q)
{
	return q->n ? q->next_try : UINT64_MAX;
}
