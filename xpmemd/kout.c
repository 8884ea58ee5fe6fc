// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel side, out: opening the channel and every write to it, through the
 * channel queue (chanq.c); EPOLLOUT on the channel while the queue holds
 * something. Nothing here blocks.
 */
#include "kout.h"
#include "chan.h"
#include "chanq.h"
#include "clock.h"
#include "log.h"
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int kout_open(const char *path)
{
	struct stat st;
	int fd;

	if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(path) >= sizeof(sa.sun_path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		strcpy(sa.sun_path, path);
		fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		return fd;
	}
	/* the character device: non-blocking, what it cannot take waits in d->chq */
	return open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
}

/* EPOLLOUT on the channel while something waits in its queue */
static void chan_poll_out(struct dstate *d)
{
	int want = d->chq.n > 0;
	struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.u32 = EV_CHAN };

	if (want == d->chan_pollout || d->epfd <= 0 || d->chan_fd < 0)
		return;
	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, d->chan_fd, &ev) < 0) {
		log_err("channel: epoll_ctl: %s", strerror(errno));
		d->fatal = 1;
		return;
	}
	d->chan_pollout = want;
}

/* A message to the kernel, written now or queued (chanq.h), never waited
 * for. 0; -ENOBUFS: dropped, the queue is full (counted, logged: the kernel
 * times out what waits for it); another error: the channel failed, the
 * daemon stops (the kernel handles the hangup, docs/protocol.md 3.3). */
static int kout_write_tag(struct dstate *d, const void *buf, size_t n, uint32_t tag)
{
	const struct xpmem_chan_hdr *h = buf;
	int r = chanq_write_tag(&d->chq, d->chan_fd, buf, n, tag);

	if (r == -ENOBUFS) {
		d->st.chan_tx_dropped++;
		if (warn_ok(&d->chan_warn_at))
			log_err("channel: %u messages wait for the kernel: %s dropped "
				"(chan_tx_dropped counts them all)", d->chq.n,
				chan_type_name(h->type));
		return r;
	}
	if (r < 0 && !chanq_fatal(r)) {
		/* the kernel refused this one message: it is dropped (what
		 * waits for it times out); the channel and the daemon go on */
		d->st.chan_tx_rejected++;
		if (warn_ok(&d->chan_warn_at))
			log_err("channel: the kernel refused %s: %s (chan_tx_rejected counts them all)",
				chan_type_name(h->type), strerror(-r));
		return r;
	}
	if (r < 0) {
		d->st.chan_tx_errors++;
		log_err("channel write %s: %s", chan_type_name(h->type), strerror(-r));
		d->fatal = 1;
		return r;
	}
	log_debug("chan -> %s seq %llu%s", chan_type_name(h->type), (unsigned long long)h->seq,
		  d->chq.n ? " (queued)" : "");
	chan_poll_out(d);
	return 0;
}

int kout_write(struct dstate *d, const void *buf, size_t n)
{
	return kout_write_tag(d, buf, n, 0);
}

/* a message made on peer `tag`'s behalf left the channel queue */
static void peer_chan_done(void *arg, uint32_t tag)
{
	struct dstate *d = arg;

	for (int i = 0; i < d->npeers; i++)
		if (d->peers[i].id == tag && d->peers[i].chan_queued) {
			d->peers[i].chan_queued--;
			return;
		}
}

int kout_send_for(struct dstate *d, struct peer *p, uint16_t type, uint64_t seq,
		  const void *body, size_t blen)
{
	static char buf[XPMEM_CHAN_MAX_MSG];	/* the loop's only */
	uint64_t queued = d->chq.queued;
	size_t n;
	int r;

	if (sizeof(struct xpmem_chan_hdr) + blen > sizeof(buf))
		return -EMSGSIZE;
	d->chq.done = peer_chan_done;
	d->chq.done_arg = d;
	n = chan_build(buf, type, seq, body, blen, NULL, 0);
	r = kout_write_tag(d, buf, n, p->id);
	if (r == 0 && d->chq.queued != queued)
		p->chan_queued++;	/* waits in the queue, until peer_chan_done */
	return r;
}

int kout_send(struct dstate *d, uint16_t type, uint64_t seq, const void *body,
	      size_t blen, const void *tail, size_t tlen)
{
	static char buf[XPMEM_CHAN_MAX_MSG];
	size_t n;

	if (sizeof(struct xpmem_chan_hdr) + blen + tlen > sizeof(buf))
		return -EMSGSIZE;
	n = chan_build(buf, type, seq, body, blen, tail, tlen);
	return kout_write(d, buf, n);
}

/* the channel is writable: what waits goes */
void kout_flush(struct dstate *d)
{
	uint64_t rej = d->chq.rejected;
	int r = chanq_flush(&d->chq, d->chan_fd);

	if (d->chq.rejected != rej) {
		d->st.chan_tx_rejected += d->chq.rejected - rej;
		if (warn_ok(&d->chan_warn_at))
			log_err("channel: the kernel refused %llu queued messages: %s",
				(unsigned long long)(d->chq.rejected - rej),
				strerror(d->chq.last_reject));
	}
	if (r < 0) {
		d->st.chan_tx_errors++;
		log_err("channel write: %s", strerror(-r));
		d->fatal = 1;
		return;
	}
	chan_poll_out(d);
}
