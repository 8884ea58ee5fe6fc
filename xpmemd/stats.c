// SPDX-License-Identifier: GPL-2.0
/*
 * Stats (stats.h): the copy taken on the loop, its JSON built elsewhere, and
 * the stats file's writer thread (written at most every 50 ms while
 * something changes, on SIGUSR1, and at exit: by the thread, never the loop).
 */
#include "stats.h"
#include "clock.h"
#include "log.h"
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void capture_peer(struct stats_peer *s, const struct peer *p, uint64_t now)
{
	s->id = p->id;
	snprintf(s->address, sizeof(s->address), "%s", p->address);
	snprintf(s->window, sizeof(s->window), "%s", p->window);
	s->win_base = p->win_base;
	s->win_size = p->win_size;
	s->alive = p->alive;
	s->established = p->established;
	s->hello_inc = p->hello_inc;
	s->incarnation = p->incarnation;
	s->last_heard_ms = p->last_heard ? (int64_t)((now - p->last_heard) / 1000000) : -1;
	s->rx = p->rx;
	s->tx = p->tx;
	s->sendq = p->sq.n;
	s->sendq_max = p->sq.max_depth;
	s->pending_kernel = p->n_dreqs;
	s->pending_remote = p->n_rfaults;
	s->sendq_retries = p->sq.tries;
	s->sendq_dropped = p->sq.dropped;
	s->backoff_ms = p->sq.backoff / 1000000;
}

struct stats_pod *stats_capture(struct dstate *d)
{
	struct stats_pod *s = calloc(1, sizeof(*s) + (size_t)d->npeers * sizeof(s->peers[0]));
	uint64_t now = now_ns();

	if (!s)
		return NULL;
	s->st = d->st;
	if (d->fab) {
		fab_get_stats(d->fab, &s->fs);
		snprintf(s->provider, sizeof(s->provider), "%s", fab_provider_name(d->fab));
	}
	s->node_id = d->cfg->node_id;
	s->incarnation = d->incarnation;
	s->uptime_ms = (now - d->start) / 1000000;
	snprintf(s->listen, sizeof(s->listen), "%s", d->cfg->listen);
	s->ready = d->ready;
	s->n_dreqs = d->n_dreqs;
	s->n_rfaults = d->n_rfaults;
	s->n_pending = d->n_pending;
	s->n_timed_out = d->n_timed_out;
	s->chan_queue = d->chq.n;
	s->chan_queue_max = d->chq.max_depth;
	s->chan_queued = d->chq.queued;
	s->npeers = d->npeers;
	for (int i = 0; i < d->npeers; i++)
		capture_peer(&s->peers[i], &d->peers[i], now);
	return s;
}

long long stats_rss_kb(void)
{
	char line[256];
	long long v = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			v = strtoll(line + 6, NULL, 10);
	fclose(f);
	return v;
}

#define SET(o, k, v) json_object_set_new(o, k, json_integer((json_int_t)(v)))

/* the daemon's counters (struct dstats), each under its own name */
static void json_counters(json_t *st, const struct dstats *c)
{
#define S(f) SET(st, #f, c->f)
	S(rx_stale_session); S(rx_no_session); S(rx_bad_hello); S(hellos_rx); S(sessions);
	S(tx_no_session); S(hellos_unanswered); S(hellos_duplicate); S(rx_hello_rate);
	S(rx_hello_budget); S(rx_bad_incarnation);
	S(invalidations); S(acked); S(timed_out); S(late_acks); S(peer_resets);
	S(zaps); S(remote_faults); S(fault_errors); S(resolves); S(fault_replies_trimmed);
	S(rx_malformed);
	S(rx_forged); S(rx_replayed); S(rx_stale_incarnation); S(rx_unknown_sender);
	S(rx_misaddressed); S(stale_acks); S(duplicate_acks); S(heartbeats_rx);
	S(peer_deaths); S(chan_malformed); S(retransmits); S(remote_gets); S(get_errors);
	S(get_checks); S(windows); S(releases_sent); S(releases_rx); S(release_errors);
	S(releases_stale); S(releases_dropped); S(tx_dropped); S(tx_replies_dropped); S(grants_undone);
	S(ack_errors); S(chan_tx_dropped); S(chan_tx_errors); S(chan_tx_rejected);
	S(requests_refused); S(requests_expired); S(kernel_replies_lost);
	S(resolves_waited); S(resolves_woken);
	S(chan_rx); S(rx_work); S(poll_passes); S(poll_hits);
	S(t_inval_ns); S(t_inval_n); S(t_zap_ns); S(t_zap_n);
	S(t_rfault_ns); S(t_rfault_n); S(t_resolve_ns); S(t_resolve_n);
#undef S
}

/* gauges: what is pending or queued now */
static void json_gauges(json_t *st, const struct stats_pod *s)
{
	SET(st, "pending_kernel_requests", s->n_dreqs);
	SET(st, "chan_queue", s->chan_queue);
	SET(st, "chan_queue_max", s->chan_queue_max);
	SET(st, "chan_queued", s->chan_queued);
	SET(st, "fabric_rx_post_errors", s->fs.rx_post_errors);
	SET(st, "fabric_cq_errors", s->fs.cq_errors);
	SET(st, "pending_remote_requests", s->n_rfaults);
	SET(st, "fabric_tx", s->fs.tx_msgs);
	SET(st, "fabric_rx", s->fs.rx_msgs);
	SET(st, "fabric_tx_errors", s->fs.tx_errors);
	SET(st, "fabric_tx_dropped", s->st.tx_dropped);
	SET(st, "pending_invalidations", s->n_pending);
	SET(st, "timed_out_outstanding", s->n_timed_out);
}

static json_t *json_peer(const struct stats_peer *p)
{
	json_t *j = json_object();

	SET(j, "id", p->id);
	json_object_set_new(j, "address", json_string(p->address));
	json_object_set_new(j, "window", json_string(p->window));
	SET(j, "window_base", p->win_base);
	SET(j, "window_size", p->win_size);
	json_object_set_new(j, "alive", json_boolean(p->alive));
	json_object_set_new(j, "established", json_boolean(p->established));
	SET(j, "hello_incarnation", p->hello_inc);
	SET(j, "incarnation", p->incarnation);
	SET(j, "last_heard_ms", p->last_heard_ms);
	SET(j, "rx", p->rx);
	SET(j, "tx", p->tx);
	SET(j, "sendq", p->sendq);
	SET(j, "pending_kernel_requests", p->pending_kernel);
	SET(j, "pending_remote_requests", p->pending_remote);
	SET(j, "sendq_max", p->sendq_max);
	SET(j, "sendq_retries", p->sendq_retries);
	SET(j, "sendq_dropped", p->sendq_dropped);
	SET(j, "backoff_ms", p->backoff_ms);
	return j;
}

json_t *stats_json(const struct stats_pod *s)
{
	json_t *o = json_object(), *peers = json_array(), *st = json_object();

	json_counters(st, &s->st);
	json_gauges(st, s);
	for (int i = 0; i < s->npeers; i++)
		json_array_append_new(peers, json_peer(&s->peers[i]));
	SET(o, "node_id", s->node_id);
	SET(o, "incarnation", s->incarnation);
	json_object_set_new(o, "provider", json_string(s->provider));
	json_object_set_new(o, "listen", json_string(s->listen));
	json_object_set_new(o, "ready", json_boolean(s->ready));
	SET(o, "rss_kb", stats_rss_kb());
	SET(o, "uptime_ms", s->uptime_ms);
	json_object_set_new(o, "peers", peers);
	json_object_set_new(o, "stats", st);
	return o;
}

/* ------------------------------------------------------------------ */
/* The stats file's writer */

struct statsw {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct stats_pod *next;	/* posted, not written yet */
	int stop;
	char path[300], tmp[310];
};

/* the tmp file, created here and now, 0600 (never followed, never an
 * existing file: the daemon runs as root): an fd, or -1 (logged). What is
 * in the way is removed if it is our regular file or a symlink (unlink
 * removes the link, never its target); anything else stops the write. */
static int statsw_open_tmp(struct statsw *w)
{
	struct stat st;
	int fd;

	if (lstat(w->tmp, &st) == 0) {
		if (!S_ISLNK(st.st_mode) && (!S_ISREG(st.st_mode) || st.st_uid != geteuid())) {
			log_warn("stats file %s: %s is in the way (not our regular file); "
				 "not writing", w->path, w->tmp);
			return -1;
		}
		if (unlink(w->tmp) < 0 && errno != ENOENT) {
			log_warn("stats file %s: unlink %s: %s", w->path, w->tmp, strerror(errno));
			return -1;
		}
	}
	fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		log_warn("stats file %s: create %s: %s", w->path, w->tmp, strerror(errno));
	return fd;
}

static void statsw_write(struct statsw *w, struct stats_pod *s)
{
	json_t *o = stats_json(s);
	int fd, r;

	free(s);
	fd = statsw_open_tmp(w);
	if (fd < 0) {
		json_decref(o);
		return;
	}
	r = json_dumpfd(o, fd, JSON_INDENT(1));
	json_decref(o);
	if (close(fd) < 0 || r < 0) {
		log_warn("stats file %s: write %s failed", w->path, w->tmp);
		if (unlink(w->tmp) < 0)
			log_warn("stats file %s: unlink %s: %s", w->path, w->tmp, strerror(errno));
		return;
	}
	if (rename(w->tmp, w->path) < 0)
		log_warn("stats file %s: rename: %s", w->path, strerror(errno));
}

static void *statsw_thread(void *arg)
{
	struct statsw *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct stats_pod *s;

		while (!w->next && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		s = w->next;
		w->next = NULL;
		if (!s)
			break;	/* stopping, nothing left */
		pthread_mutex_unlock(&w->lock);
		statsw_write(w, s);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct statsw *statsw_start(const char *path)
{
	struct statsw *w;

	if (!path[0])
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	snprintf(w->path, sizeof(w->path), "%s", path);
	snprintf(w->tmp, sizeof(w->tmp), "%s.tmp", path);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(&w->thread, NULL, statsw_thread, w)) {
		log_err("stats file %s: no writer thread", path);
		free(w);
		return NULL;
	}
	return w;
}

void statsw_post(struct statsw *w, struct stats_pod *s)
{
	if (!w || !s) {
		free(s);
		return;
	}
	pthread_mutex_lock(&w->lock);
	free(w->next);
	w->next = s;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void statsw_stop(struct statsw *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	free(w->next);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}
