// SPDX-License-Identifier: GPL-2.0
/* Channel helpers of the channel tests, see chanlib.h. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "chanlib.h"

int cfd = -1;
uint64_t dseq = 1;
FILE *chan_log;

void *body(union msgbuf *m)
{
	return m->b + sizeof(struct xpmem_chan_hdr);
}

/* the reasons of xpmem_fails.h by their number on the channel */
static const char *const fail_names[] = {
#define XPMEM_FAIL(path, name, desc) #name,
#include <xpmem/xpmem_fails.h>
#undef XPMEM_FAIL
};

long query_fail_count(const char *name)
{
	struct xpmem_chan_query q = { .what = XPMEM_CHAN_Q_FAILURES };
	struct xpmem_chan_query_reply *qr;
	uint64_t seq = __atomic_add_fetch(&dseq, 1, __ATOMIC_SEQ_CST);
	union msgbuf m;

	if (csend_seq(XPMEM_CHAN_QUERY, &q, sizeof(q), seq))
		return -1;
	if (!cexpect(&m, XPMEM_CHAN_QUERY_REPLY, 2000) || m.h.seq != seq)
		return -1;
	qr = body(&m);
	if (qr->error || qr->nrecords != qr->total)
		return -1;
	for (uint32_t i = 0; i < qr->nrecords; i++) {
		uint32_t idx = qr->records[i].flags;

		if (idx < sizeof(fail_names) / sizeof(fail_names[0]) &&
		    !strcmp(fail_names[idx], name))
			return (long)qr->records[i].aux;
	}
	return 0;
}

int csend_seq(uint16_t type, const void *b, size_t blen, uint64_t seq)
{
	union msgbuf m;
	ssize_t n;

	memset(&m.h, 0, sizeof(m.h));
	m.h.magic = XPMEM_CHAN_MAGIC;
	m.h.version = XPMEM_CHAN_VERSION;
	m.h.type = type;
	m.h.len = sizeof(m.h) + blen;
	m.h.seq = seq;
	memcpy(body(&m), b, blen);
	n = write(cfd, &m, m.h.len);
	if (n < 0)
		return -errno;
	return n == (ssize_t)m.h.len ? 0 : -EIO;
}

int csend(uint16_t type, const void *b, size_t blen)
{
	return csend_seq(type, b, blen, __atomic_add_fetch(&dseq, 1, __ATOMIC_SEQ_CST));
}

int crecv(union msgbuf *m, int ms)
{
	struct pollfd p = { .fd = cfd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return 0;
	n = read(cfd, m, sizeof(*m));
	if (n < (ssize_t)sizeof(m->h) || m->h.len != n ||
	    m->h.magic != XPMEM_CHAN_MAGIC) {
		fprintf(CHAN_LOG, "  crecv: bad read %zd errno %d\n", n, errno);
		return 0;
	}
	return n;
}

int cexpect(union msgbuf *m, uint16_t type, int ms)
{
	double end = now() + ms / 1000.0;

	while (now() < end) {
		if (!crecv(m, (int)((end - now()) * 1000) + 1))
			continue;
		if (m->h.type == type)
			return 1;
		fprintf(CHAN_LOG, "  (skipping message type %u while waiting for %u)\n",
			m->h.type, type);
	}
	fprintf(CHAN_LOG, "  no message of type %u within %d ms\n", type, ms);
	return 0;
}

int cquiet(int ms)
{
	struct pollfd p = { .fd = cfd, .events = POLLIN };

	return poll(&p, 1, ms) == 0;
}

long query_total(uint32_t what, uint32_t peer, union msgbuf *out)
{
	struct xpmem_chan_query q = { .what = what, .peer = peer };
	union msgbuf m, *r = out ? out : &m;
	struct xpmem_chan_query_reply *qr;
	uint64_t seq = __atomic_add_fetch(&dseq, 1, __ATOMIC_SEQ_CST);

	if (csend_seq(XPMEM_CHAN_QUERY, &q, sizeof(q), seq))
		return -1;
	if (!cexpect(r, XPMEM_CHAN_QUERY_REPLY, 2000) || r->h.seq != seq)
		return -1;
	qr = body(r);
	if (qr->error)
		return -1;
	return qr->total;
}

uint64_t pfn_of(void *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, 8, (uintptr_t)p / 4096 * 8) != 8)
		e = 0;
	close(fd);
	return (e >> 63) ? (e & ((1ULL << 55) - 1)) : 0;
}

int ccall(uint16_t type, const void *b, size_t blen, uint16_t reply, union msgbuf *m)
{
	uint64_t seq = __atomic_add_fetch(&dseq, 1, __ATOMIC_SEQ_CST);

	if (csend_seq(type, b, blen, seq))
		return -999;
	if (!cexpect(m, reply, 5000) || m->h.seq != seq)
		return -998;
	return 0;
}

uint64_t kinst(void)
{
	long v = debugfs_long("channel", "incarnation");

	return v > 0 ? (uint64_t)v : 0;
}

int grant(int64_t segid, uint32_t peer, uint64_t inc, uint32_t flags)
{
	struct xpmem_chan_get g = { .segid = segid, .node = peer, .flags = flags,
				    .check_flags = XPMEM_CHAN_GET_ROOT_TRUSTED,
				    .incarnation = inc };
	union msgbuf m;
	int r = ccall(XPMEM_CHAN_CHECK_GET, &g, sizeof(g), XPMEM_CHAN_CHECK_GET_REPLY, &m);

	return r ? r : ((struct xpmem_chan_get_reply *)body(&m))->error;
}
