// SPDX-License-Identifier: GPL-2.0
/*
 * xpmemd's loop: one epoll over the kernel channel, the libfabric CQ wait
 * fd, a signalfd, the control plane and the watchdog timer; timers are epoll
 * timeouts computed from the nearest deadline (the heartbeat, the timer
 * heap, the send queues' retries, the stats file). Each iteration has a
 * budget: FAB_PROGRESS_BUDGET completions, CHAN_READ_BUDGET channel
 * messages (kernel.c). What a message means is the kernel side's (kernel.c)
 * or the peer side's (peer.c, member.c) business, not this file's.
 */
#include "daemon.h"
#include "clock.h"
#include "control.h"
#include "fabric.h"
#include "incarnation.h"
#include "inval.h"
#include "kernel.h"
#include "kout.h"
#include "log.h"
#include "member.h"
#include "peer.h"
#include "pout.h"
#include "reload.h"
#include "requests.h"
#include "service.h"
#include "state.h"
#include "stats.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#define FAB_PROGRESS_BUDGET 256			/* completions per loop iteration */
#define STATS_FILE_NS	(50 * 1000000ull)	/* the stats file, at most once per */


struct loop {
	struct dstate d;
	int sfd, wdfd, stop;
	int reload_pending;	/* a SIGHUP before ready: reloaded once ready */
	uint64_t last_work;	/* monotonic ns: the last pass that received a message */
	int polled;		/* the last pass spun (poll_us) instead of sleeping */
	char host[128], port[16];
};

/* ------------------------------------------------------------------ */
/* What the control plane may ask (control.h), run on this thread */

static struct stats_pod *op_snapshot(void *core)
{
	return stats_capture(core);
}

static int op_fence(void *core, uint32_t node, uint64_t *fenced_inc, uint32_t *released)
{
	struct dstate *d = core;

	/* before the kernel's ZAP_DONE the new incarnation is not ours to
	 * tell (docs/protocol.md 3.3): no PEER_RESET goes out yet */
	if (!d->ready)
		return -EAGAIN;
	return member_fence(core, node, fenced_inc, released);
}

static int op_query(void *core, uint64_t *seq, const struct xpmem_chan_query *q)
{
	struct dstate *d = core;

	*seq = ++d->dseq;
	if (d->chan_fd < 0)
		return -EPIPE;
	return kout_send(d, XPMEM_CHAN_QUERY, *seq, q, sizeof(*q), NULL, 0) ? -EIO : 0;
}

static const struct core_ops core_ops = {
	.snapshot = op_snapshot, .fence = op_fence, .query = op_query,
};

/* ------------------------------------------------------------------ */
/* Timers */

/* everything due: the heartbeat, then the heap's deadlines in order */
static void run_timers(struct dstate *d, uint64_t now)
{
	struct tnode *t;

	if (now >= d->next_heartbeat) {
		member_heartbeat(d, now);
		d->next_heartbeat = now + (uint64_t)d->cfg->heartbeat_ms * 1000000ull;
	}
	while (!d->fatal && (t = timerq_top(&d->tq)) && t->when <= now) {
		switch (t->kind) {
		case T_INVAL:
			inval_due(d, TNODE_OWNER(t, struct inval), now);
			break;
		case T_DREQ:
			dreq_due(d, TNODE_OWNER(t, struct dreq), now);
			break;
		case T_RFAULT:
			rfault_due(d, TNODE_OWNER(t, struct rfault));
			break;
		default:
			timerq_del(&d->tq, t);
		}
	}
	inval_trim(d);
}

static int next_timeout_ms(struct dstate *d, uint64_t now)
{
	/* until ready: no peers to beat for, the handshake's deadline */
	uint64_t next = d->ready ? d->next_heartbeat : d->start_deadline, q = pout_next(d);
	struct tnode *t = timerq_top(&d->tq);

	if (t && t->when < next)
		next = t->when;
	if (d->dirty && d->statsw && d->next_stats_write < next)
		next = d->next_stats_write;
	if (q < next)
		next = q;	/* retries of refused sends */
	if (next <= now)
		return 0;
	return (int)((next - now + 999999) / 1000000);
}

/* the stats file: a copy handed to its writer thread (stats.c) while
 * something changed, at most once per STATS_FILE_NS, or now (force) */
static void stats_tick(struct dstate *d, int force)
{
	uint64_t now = now_ns();
	struct stats_pod *s;

	if (!d->statsw || (!force && (!d->dirty || now < d->next_stats_write)))
		return;
	s = stats_capture(d);
	if (!s)
		return;	/* no memory for the copy: still dirty, tried again */
	statsw_post(d->statsw, s);
	d->dirty = 0;
	d->next_stats_write = now + STATS_FILE_NS;
}

/* ------------------------------------------------------------------ */
/* Start */

/* keys, this run's ephemeral pair, the incarnation: 0, or -1 (logged) */
static int core_init(struct loop *l, struct xconfig *cfg)
{
	struct dstate *d = &l->d;
	char err[300];

	d->cfg = cfg;
	d->chan_fd = -1;
	d->start = now_ns();
	if (sodium_init() < 0) {
		log_err("libsodium init failed");
		return -1;
	}
	if (keys_load(cfg->node_key, d->sign_pk, d->sign_sk, err, sizeof(err))) {
		log_err("%s", err);
		return -1;
	}
	if (crypto_kx_keypair(d->eph_pk, d->eph_sk) != 0) {
		log_err("crypto_kx_keypair failed");
		return -1;
	}
	/* before anybody (the kernel included) hears it */
	if (incarnation_next(cfg->state_dir, &d->incarnation, err, sizeof(err))) {
		log_err("cannot persist the incarnation: %s", err);
		return -1;
	}
	if (split_hostport(cfg->listen, l->host, sizeof(l->host), l->port, sizeof(l->port))) {
		log_err("listen: expected HOST:PORT, got '%s'", cfg->listen);
		return -1;
	}
	return 0;
}

/* SIGTERM, SIGINT, SIGUSR1, SIGHUP through a signalfd: 0, or -1 (logged) */
static int signals_open(struct loop *l)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		log_err("signals: %s", strerror(errno));
		return -1;
	}
	l->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (l->sfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int chan_up(struct dstate *d)
{
	struct stat st;

	d->chan_fd = kout_open(d->cfg->channel);
	if (d->chan_fd < 0) {
		log_err("kernel channel %s: %s%s", d->cfg->channel, strerror(errno),
			errno == ENOENT ? " (is xpmem.ko loaded?)" :
			errno == EBUSY ? " (another xpmemd has it open)" : "");
		return -1;
	}
	d->chan_sock = fstat(d->chan_fd, &st) == 0 && S_ISSOCK(st.st_mode);
	log_info("kernel channel %s (%s)", d->cfg->channel,
		 d->chan_sock ? "simulated kernel" : "device");
	return 0;
}

/* the fabric, the peers' addresses, a HELLO to each: 0, or -1 (logged) */
static int fabric_up(struct loop *l)
{
	struct dstate *d = &l->d;
	struct xconfig *cfg = d->cfg;

	if (fab_memory_defaults(cfg->fabric_rx_size, cfg->fabric_buffer_size))
		return -1;
	d->fab = fab_open(cfg->provider, l->host, l->port, XW_MAX_MSG);
	if (!d->fab)
		return -1;
	if (fab_set_source_filter(d->fab, cfg->peer_source_filter) || member_setup(d))
		return -1;
	d->ready = 1;
	for (int i = 0; i < d->npeers; i++)
		pout_hello(d, &d->peers[i]);
	d->next_heartbeat = now_ns() + (uint64_t)cfg->heartbeat_ms * 1000000ull;
	return 0;
}

static int ep_add(struct dstate *d, int fd, uint32_t events, uint32_t tag)
{
	struct epoll_event ev = { .events = events, .data.u32 = tag };

	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_err("epoll_ctl: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* the epoll set, the control plane, the watchdog: 0, or -1 (logged) */
static int loop_setup(struct loop *l)
{
	struct dstate *d = &l->d;
	int cfd;

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0) {
		log_err("epoll_create1: %s", strerror(errno));
		return -1;
	}
	d->chan_pollout = d->chq.n > 0;
	if (ep_add(d, d->chan_fd, EPOLLIN | (d->chq.n ? EPOLLOUT : 0), EV_CHAN) ||
	    ep_add(d, l->sfd, EPOLLIN, EV_SIG))
		return -1;
	cfd = control_start(&d->control, d->cfg, &core_ops, d);
	if (cfd < 0) {
		log_err("control plane did not start");
		return -1;
	}
	d->query_reply = control_query_reply;
	d->query_arg = d->control;
	if (ep_add(d, cfd, EPOLLIN, EV_CONTROL))
		return -1;
	/* systemd's watchdog: pinged from this loop, so a hung loop is restarted */
	l->wdfd = service_watchdog_open();
	if (l->wdfd >= 0 && ep_add(d, l->wdfd, EPOLLIN, EV_WATCHDOG))
		return -1;
	return 0;
}

/*
 * Everything before the loop: 0, or -1 (logged). The kernel's handshake is
 * not waited for here: the loop runs (control plane, watchdog, signals)
 * while its answers come, and daemon_ready brings the fabric up after them.
 */
static int daemon_start(struct loop *l, struct xconfig *cfg)
{
	struct dstate *d = &l->d;

	if (core_init(l, cfg) || signals_open(l) || member_init(d))
		return -1;
	d->statsw = statsw_start(cfg->stats_file);
	/* 1. kernel channel and its handshake, 2. (daemon_ready) the fabric */
	if (chan_up(d) || kernel_start(d) || loop_setup(l))
		return -1;
	/*
	 * The handshake's 10 s count from here: loop_setup (gRPC) took 10 s
	 * on a loaded debug guest, and the deadline set with HELLO had passed
	 * before the loop read the kernel's answer (cluster-mutual-2).
	 */
	kernel_wait_from(d, now_ns());
	log_info("node %u: waiting for the kernel's answers (HELLO, ZAP_ALL, %d windows)",
		 cfg->node_id, d->windows_pending);
	sd_notifyf(0, "STATUS=node %u, waiting for the kernel", cfg->node_id);
	stats_tick(d, 1);
	return 0;
}

/* The kernel answered the handshake: the fabric, the kernel requests held
 * meanwhile (the replay of quarantined invalidations), READY. 0, or -1. */
static int daemon_ready(struct loop *l)
{
	struct dstate *d = &l->d;
	struct xconfig *cfg = d->cfg;

	if (fabric_up(l) || ep_add(d, fab_wait_fd(d->fab), EPOLLIN, EV_FAB))
		return -1;
	if (d->n_held)
		log_info("%u kernel messages held during startup: handled now", d->n_held);
	kernel_replay(d, 1);
	log_info("node %u ready: listening on %s, %d peers, incarnation %llu",
		 cfg->node_id, cfg->listen, d->npeers, (unsigned long long)d->incarnation);
	sd_notifyf(0, "READY=1\nSTATUS=node %u, %d peers", cfg->node_id, d->npeers);
	stats_tick(d, 1);
	if (l->reload_pending) {
		l->reload_pending = 0;
		daemon_reload(d);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The loop */

static void on_signals(struct loop *l)
{
	struct dstate *d = &l->d;
	struct signalfd_siginfo si;
	ssize_t r;

	while ((r = read(l->sfd, &si, sizeof(si))) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			stats_tick(d, 1);
		} else if (si.ssi_signo == SIGHUP && !d->ready) {
			log_info("SIGHUP before the kernel answered: reloading once ready");
			l->reload_pending = 1;
		} else if (si.ssi_signo == SIGHUP) {
			daemon_reload(d);
		} else {
			log_info("signal %u: shutting down", si.ssi_signo);
			l->stop = 1;
		}
	}
	if (r < 0 && errno != EAGAIN && errno != EINTR) {
		log_err("signalfd read: %s", strerror(errno));
		d->fatal = 1;
	}
}

static void on_event(struct loop *l, const struct epoll_event *ev)
{
	struct dstate *d = &l->d;

	switch (ev->data.u32) {
	case EV_CHAN:
		if (ev->events & EPOLLOUT)
			kout_flush(d);
		if ((ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && kernel_read(d) < 0)
			d->fatal = 1;
		break;
	case EV_SIG:
		on_signals(l);
		break;
	case EV_CONTROL:
		control_event(d->control);
		break;
	case EV_WATCHDOG:
		service_watchdog_event(l->wdfd);
		break;
	}
}

/*
 * Messages received so far that may be followed by more work: the kernel's,
 * and peers' that passed verification (a forged or replayed frame, or a
 * heartbeat, never makes the loop spin).
 */
static uint64_t work_done(struct dstate *d)
{
	return d->st.rx_work + d->st.chan_rx;
}

/*
 * poll_us: within poll_us of the last pass that received a message (see
 * work_done()), the
 * loop does not sleep in epoll_wait but passes again at once (timeout 0):
 * an ACK or ZAP_DONE that follows a message closely is read without a
 * wakeup's latency, at the cost of a core while traffic flows. Bounded by
 * XPMEMD_POLL_US_MAX; 0 (the default) never spins.
 */
static int busy_poll(struct loop *l, uint64_t now)
{
	struct dstate *d = &l->d;
	uint64_t us = d->cfg->poll_us;

	return us && d->ready && now - l->last_work < us * 1000;
}

/* one pass: completions, send queues, timers, stats, then wait */
static void loop_once(struct loop *l)
{
	struct dstate *d = &l->d;
	struct epoll_event evs[8];
	uint64_t now = now_ns(), work0 = work_done(d);
	int timeout, n, more, polling = 0;

	if (!d->ready) {
		/* startup: the kernel's answers, nothing of the fabric yet */
		int r = kernel_started(d, now);

		if (r < 0 || (r > 0 && daemon_ready(l))) {
			d->fatal = 1;
			return;
		}
	}
	more = 0;
	if (d->ready) {
		more = fab_progress(d->fab, peer_rx, d, FAB_PROGRESS_BUDGET);
		pout_flush(d);
		run_timers(d, now_ns());
	}
	stats_tick(d, 0);
	timeout = next_timeout_ms(d, now);
	if (timeout > 0 && !more && busy_poll(l, now_ns())) {
		polling = 1;
		d->st.poll_passes++;
		d->dirty = 1;
		timeout = 0;
	}
	if (more || (d->ready && timeout > 0 && !fab_trywait(d->fab)))
		timeout = 0;
	n = epoll_wait(d->epfd, evs, 8, timeout);
	if (n < 0 && errno != EINTR) {
		log_err("epoll_wait: %s", strerror(errno));
		d->fatal = 1;
		return;
	}
	for (int i = 0; i < n && !d->fatal; i++)
		on_event(l, &evs[i]);
	/* a message in a pass that follows a spin, or in the spin itself */
	if (work_done(d) != work0) {
		l->last_work = now_ns();
		d->st.poll_hits += polling || l->polled;
	}
	l->polled = polling;
}

/* everything freed; what waits for the channel gets one more try */
static void daemon_stop(struct loop *l)
{
	struct dstate *d = &l->d;

	control_stop(d->control);
	d->control = NULL;
	d->query_reply = NULL;	/* query_arg was the control plane, now freed */
	d->query_arg = NULL;
	if (d->ready || d->dirty)
		stats_tick(d, 1);
	statsw_stop(d->statsw);	/* after the last copy is written */
	fab_close(d->fab);
	if (d->chan_fd >= 0 && d->chq.n && chanq_flush(&d->chq, d->chan_fd) == 0 && d->chq.n)
		log_warn("%u channel messages not written at exit", d->chq.n);
	chanq_clear(&d->chq);
	kernel_replay(d, 0);	/* held at a stop during startup: dropped */
	inval_free_all(d);
	requests_free_all(d);
	timerq_free(&d->tq);
	member_free_all(d);
	if (d->chan_fd >= 0)
		close(d->chan_fd);
	if (d->epfd > 0)
		close(d->epfd);
	if (l->sfd >= 0)
		close(l->sfd);
	if (l->wdfd >= 0)
		close(l->wdfd);
	sodium_memzero(d->sign_sk, sizeof(d->sign_sk));
	sodium_memzero(d->eph_sk, sizeof(d->eph_sk));
}

int daemon_run(struct xconfig *cfg)
{
	static struct loop L;	/* large (keys, queues): not on the stack */
	struct loop *l = &L;
	int rc = 1;

	memset(l, 0, sizeof(*l));
	l->sfd = l->wdfd = -1;
	if (daemon_start(l, cfg) == 0) {
		while (!l->stop && !l->d.fatal)
			loop_once(l);
		rc = l->d.fatal ? 1 : 0;
		sd_notify(0, "STOPPING=1");
	}
	daemon_stop(l);
	log_info("stopped (exit %d)", rc);
	return rc;
}
