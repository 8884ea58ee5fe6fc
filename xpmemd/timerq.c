// SPDX-License-Identifier: GPL-2.0
/* Binary min-heap of deadlines (timerq.h). */
#include "timerq.h"

#include <errno.h>
#include <stdlib.h>

static void put(struct timerq *q, int i, struct tnode *t)
{
	q->v[i] = t;
	t->idx = i + 1;
}

static void up(struct timerq *q, int i)
{
	struct tnode *t = q->v[i];

	while (i > 0) {
		int parent = (i - 1) / 2;

		if (q->v[parent]->when <= t->when)
			break;
		put(q, i, q->v[parent]);
		i = parent;
	}
	put(q, i, t);
}

static void down(struct timerq *q, int i)
{
	struct tnode *t = q->v[i];

	for (;;) {
		int c = 2 * i + 1;

		if (c >= q->n)
			break;
		if (c + 1 < q->n && q->v[c + 1]->when < q->v[c]->when)
			c++;
		if (t->when <= q->v[c]->when)
			break;
		put(q, i, q->v[c]);
		i = c;
	}
	put(q, i, t);
}

int timerq_set(struct timerq *q, struct tnode *t, uint64_t when)
{
	if (t->idx) {
		uint64_t old = t->when;

		t->when = when;
		if (when < old)
			up(q, t->idx - 1);
		else
			down(q, t->idx - 1);
		return 0;
	}
	if (q->n == q->cap) {
		int cap = q->cap ? 2 * q->cap : 64;
		struct tnode **v = realloc(q->v, (size_t)cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		q->v = v;
		q->cap = cap;
	}
	t->when = when;
	put(q, q->n++, t);
	up(q, q->n - 1);
	return 0;
}

void timerq_del(struct timerq *q, struct tnode *t)
{
	int i = t->idx - 1;

	if (!t->idx)
		return;
	t->idx = 0;
	if (i == --q->n)
		return;
	put(q, i, q->v[q->n]);
	up(q, i);
	down(q, q->v[i]->idx - 1);
}

struct tnode *timerq_top(const struct timerq *q)
{
	return q->n ? q->v[0] : NULL;
}

void timerq_free(struct timerq *q)
{
	free(q->v);
	q->v = NULL;
	q->n = q->cap = 0;
}
