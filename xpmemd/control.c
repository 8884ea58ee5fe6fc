// SPDX-License-Identifier: GPL-2.0
/*
 * gRPC control plane (gRPC core C API + protobuf-c): the Management service
 * on a local unix socket. There is no network service (docs/security.md).
 *
 * The daemon creates, binds and accepts the socket itself, in its main
 * loop: the socket gets its final mode and group before listen(), and every accepted
 * connection's SO_PEERCRED (uid, gid) and SO_PEERGROUPS decide which of two
 * gRPC servers gets it (grpc_server_add_channel_from_fd): "admin" (uid 0 or
 * a member of admin_group) or "read-only". A call is judged by the server it
 * arrived on, so no connection-to-credentials map can go stale. Mutating
 * calls on the read-only server get PERMISSION_DENIED before their request
 * is decoded.
 *
 * One thread runs both servers over one completion queue, handling unary
 * calls one at a time (the handlers: mgmt.c). Handlers never touch daemon
 * state: they queue a job for the main loop (eventfd wakeup) and wait for
 * it; the main loop runs it through the core's operations (control.h), so
 * all daemon state stays single-threaded and this file knows none of it.
 */
#define _GNU_SOURCE	/* struct ucred, accept4 */
#include "control.h"
#include "config.h"
#include "grpcx.h"
#include "log.h"
#include "mgmt.h"
#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define JOB_TIMEOUT_MS 5000
/* a QUERY the kernel has not answered (every page) in this long leaves
 * c->waiting, answered -ETIMEDOUT: before its caller stops waiting */
#define QUERY_TIMEOUT_MS (JOB_TIMEOUT_MS - 1000)
/* a management connection is closed after this long without a call, and
 * after MAX_AGE in any case (bounds the fds a local user can hold) */
#define MGMT_IDLE_MS 30000
#define MGMT_MAX_AGE_MS 300000
#define MGMT_ACCEPT_BATCH 64

enum job_kind { JOB_SNAPSHOT = 1, JOB_FENCE, JOB_QUERY };

struct job {
	struct job *next;
	enum job_kind kind;
	/* in */
	uint32_t node;
	struct xpmem_chan_query q;
	/* out */
	int done, abandoned, error;
	struct stats_pod *pod;
	struct xpmem_chan_record *recs;
	uint32_t nrecs, total;
	uint64_t qseq;
	uint64_t qdeadline;	/* CLOCK_MONOTONIC ns: QUERY_TIMEOUT_MS after the first page */
	uint64_t fenced_inc;
	uint32_t released;
};

struct srv {
	grpc_server *server;
	int admin;		/* connections of root or admin_group members */
};

struct control {
	const struct xconfig *cfg;
	const struct core_ops *ops;
	void *core;
	int efd;
	pthread_t thread;
	int thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *queue;	/* submitted, not yet taken by the main loop */
	struct job *waiting;	/* QUERY jobs waiting for the kernel (main thread only) */
	grpc_completion_queue *cq;
	struct srv ro, adm;
	int nservers, nshutdown;	/* shutdown notifications seen by the thread */
	int pfd;		/* epoll over efd and lfd, polled by the main loop */
	int lfd;		/* the listening Management socket */
	int reserve_fd;		/* spare fd, given up to accept when the table is full */
	/*
	 * fd table full and no spare fd: the (level-triggered) listener leaves
	 * the epoll set for MGMT_PAUSE_MS, timed by tfd, instead of waking the
	 * loop on every pass for an accept that cannot succeed
	 */
	int tfd;
	int paused;
	int qtfd;		/* timerfd: the oldest waiting QUERY's deadline */
	uint64_t queries_expired;
	uint64_t pauses;
	uint64_t accepted, accepted_admin, accept_errors;
};

enum rpc_state { RPC_WAIT_CALL, RPC_WAIT_MSG, RPC_WAIT_DONE };

struct rpc {
	struct control *c;
	struct srv *srv;
	enum rpc_state state;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
	grpc_byte_buffer *req, *resp;
	grpc_slice status_details;
	int cancelled;
};

/* ------------------------------------------------------------------ */
/* Jobs: control thread side */

static struct job *job_run(struct control *c, struct job *j)
{
	struct timespec ts;
	uint64_t one = 1;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += JOB_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&c->lock);
	j->next = c->queue;
	c->queue = j;
	pthread_mutex_unlock(&c->lock);
	if (write(c->efd, &one, sizeof(one)) != sizeof(one))
		log_warn("control eventfd write failed");
	pthread_mutex_lock(&c->lock);
	while (!j->done && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	if (!j->done) {
		j->abandoned = 1;	/* the main loop frees it */
		pthread_mutex_unlock(&c->lock);
		return NULL;
	}
	pthread_mutex_unlock(&c->lock);
	return j;
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->pod);
	free(j->recs);
	free(j);
}

/* ------------------------------------------------------------------ */
/* Jobs: main thread side */

static void job_finish(struct control *c, struct job *j)
{
	pthread_mutex_lock(&c->lock);
	if (j->abandoned) {
		pthread_mutex_unlock(&c->lock);
		job_free(j);
		return;
	}
	j->done = 1;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* qtfd at the earliest deadline in c->waiting (disarmed if none) */
static void query_timer_arm(struct control *c)
{
	struct itimerspec its = { 0 };
	uint64_t first = 0;

	for (struct job *j = c->waiting; j; j = j->next)
		if (!first || j->qdeadline < first)
			first = j->qdeadline;
	if (first) {
		its.it_value.tv_sec = (time_t)(first / 1000000000ull);
		its.it_value.tv_nsec = (long)(first % 1000000000ull);
	}
	if (c->qtfd >= 0 && timerfd_settime(c->qtfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		log_warn("control: query timer: %s", strerror(errno));
}

/* QUERYs the kernel did not answer in time: out of c->waiting, their
 * callers answered -ETIMEDOUT (or, if they gave up, freed) */
static void query_reap(struct control *c)
{
	uint64_t now = mono_ns(), n;
	struct job **pp = &c->waiting;

	if (c->qtfd >= 0 && read(c->qtfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("control: query timer read: %s", strerror(errno));
	while (*pp) {
		struct job *j = *pp;

		if (j->qdeadline > now) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		j->next = NULL;
		c->queries_expired++;
		log_warn("kernel QUERY %llu not answered in %d ms: given up (%llu so far)",
			 (unsigned long long)j->qseq, QUERY_TIMEOUT_MS,
			 (unsigned long long)c->queries_expired);
		j->error = -ETIMEDOUT;
		job_finish(c, j);
	}
	query_timer_arm(c);
}

static void query_send(struct control *c, struct job *j)
{
	int r;

	if (!j->qdeadline)
		j->qdeadline = mono_ns() + QUERY_TIMEOUT_MS * 1000000ull;
	j->q.offset = j->nrecs;
	r = c->ops->query(c->core, &j->qseq, &j->q);
	if (r) {
		j->error = r;
		job_finish(c, j);
		return;
	}
	j->next = c->waiting;
	c->waiting = j;
	query_timer_arm(c);
}

static void mgmt_accept(struct control *c);
static void mgmt_resume(struct control *c);

/* the queued jobs, run on the main thread */
static void jobs_run(struct control *c, struct job *list)
{
	while (list) {
		struct job *j = list;

		list = j->next;
		j->next = NULL;
		switch (j->kind) {
		case JOB_SNAPSHOT:
			j->pod = c->ops->snapshot(c->core);
			job_finish(c, j);
			break;
		case JOB_FENCE:
			j->error = c->ops->fence(c->core, j->node, &j->fenced_inc, &j->released);
			job_finish(c, j);
			break;
		case JOB_QUERY:
			query_send(c, j);
			break;
		}
	}
}

void control_event(struct control *c)
{
	struct job *list;
	uint64_t v;

	if (!c)
		return;
	if (c->paused)
		mgmt_resume(c);
	if (c->lfd >= 0 && !c->paused)
		mgmt_accept(c);
	if (read(c->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("control eventfd: %s", strerror(errno));
	pthread_mutex_lock(&c->lock);
	list = c->queue;
	c->queue = NULL;
	pthread_mutex_unlock(&c->lock);
	jobs_run(c, list);
	query_reap(c);	/* always: it also reads qtfd (level-triggered) */
}

void control_query_reply(void *arg, uint64_t seq, const struct xpmem_chan_query_reply *r)
{
	struct control *c = arg;
	struct job *j = NULL;

	if (!c)
		return;
	for (struct job **pp = &c->waiting; *pp; pp = &(*pp)->next)
		if ((*pp)->qseq == seq) {
			j = *pp;
			*pp = j->next;
			j->next = NULL;
			break;
		}
	if (!j) {
		log_warn("QUERY_REPLY for unknown request %llu", (unsigned long long)seq);
		return;
	}
	if (r->error) {
		j->error = r->error;
		job_finish(c, j);
		return;
	}
	if (r->nrecords) {
		struct xpmem_chan_record *n = realloc(j->recs, (j->nrecs + r->nrecords) * sizeof(*n));

		if (!n) {
			j->error = -ENOMEM;
			job_finish(c, j);
			return;
		}
		j->recs = n;
		memcpy(j->recs + j->nrecs, r->records, r->nrecords * sizeof(*n));
		j->nrecs += r->nrecords;
	}
	j->total = r->total;
	if (r->nrecords && j->nrecs < r->total && j->nrecs < 1000000)
		query_send(c, j);	/* next page */
	else
		job_finish(c, j);
}

/* ------------------------------------------------------------------ */
/* The handlers' view of the daemon (mgmt.h): jobs (control thread) */

static json_t *env_snapshot(void *ctx)
{
	struct job *j = calloc(1, sizeof(*j)), *done;
	json_t *s;

	if (!j)
		return NULL;
	j->kind = JOB_SNAPSHOT;
	done = job_run(ctx, j);
	if (!done || !done->pod) {
		job_free(done);
		return NULL;
	}
	s = stats_json(done->pod);	/* here, not on the main loop */
	job_free(done);
	return s;
}

static int env_fence(void *ctx, uint32_t node, uint64_t *fenced_inc, uint32_t *released)
{
	struct job *j = calloc(1, sizeof(*j)), *done;
	int e;

	if (!j)
		return -ENOMEM;
	j->kind = JOB_FENCE;
	j->node = node;
	done = job_run(ctx, j);
	if (!done)
		return -ETIMEDOUT;
	e = done->error;
	*fenced_inc = done->fenced_inc;
	*released = done->released;
	job_free(done);
	return e;
}

static int env_query(void *ctx, const struct xpmem_chan_query *q,
		     struct xpmem_chan_record **recs, uint32_t *n)
{
	struct job *j = calloc(1, sizeof(*j)), *done;
	int e;

	if (!j)
		return -ENOMEM;
	j->kind = JOB_QUERY;
	j->q = *q;
	done = job_run(ctx, j);
	if (!done)
		return -ETIMEDOUT;
	e = done->error;
	if (!e) {
		*recs = done->recs;
		*n = done->nrecs;
		done->recs = NULL;
	}
	job_free(done);
	return e;
}

/* ------------------------------------------------------------------ */
/* Call state machine (control thread) */

static void rpc_request(struct control *c, struct srv *s)
{
	struct rpc *r = calloc(1, sizeof(*r));

	if (!r)
		return;
	r->c = c;
	r->srv = s;
	r->state = RPC_WAIT_CALL;
	grpc_call_details_init(&r->details);
	grpc_metadata_array_init(&r->md);
	if (grpc_server_request_call(s->server, &r->call, &r->details, &r->md, c->cq, c->cq, r) !=
	    GRPC_CALL_OK) {
		grpc_call_details_destroy(&r->details);
		grpc_metadata_array_destroy(&r->md);
		free(r);
	}
}

static void rpc_free(struct rpc *r)
{
	if (r->call)
		grpc_call_unref(r->call);
	if (r->req)
		grpc_byte_buffer_destroy(r->req);
	if (r->resp)
		grpc_byte_buffer_destroy(r->resp);
	if (r->state == RPC_WAIT_DONE)
		grpc_slice_unref(r->status_details);
	grpc_call_details_destroy(&r->details);
	grpc_metadata_array_destroy(&r->md);
	free(r);
}

static void rpc_respond(struct rpc *r)
{
	char method[128], err[256] = "";
	grpc_slice m = r->details.method;
	grpc_status_code code;
	ProtobufCMessage *resp = NULL;
	grpc_op ops[3];
	int nops = 0, idx, mutating = 0;
	size_t len = 0;
	uint8_t *req = grpcx_flatten(r->req, &len);
	struct mgmt_env env = { .ctx = r->c, .snapshot = env_snapshot, .fence = env_fence,
				.query = env_query, .admin_group = r->c->cfg->admin_group };

	snprintf(method, sizeof(method), "%.*s", (int)GRPC_SLICE_LENGTH(m),
		 (const char *)GRPC_SLICE_START_PTR(m));
	idx = mgmt_find(method, &mutating);
	if (idx < 0) {
		code = GRPC_STATUS_UNIMPLEMENTED;
		snprintf(err, sizeof(err), "unknown method %s", method);
	} else if (!r->req && (!mutating || r->srv->admin)) {
		code = GRPC_STATUS_INVALID_ARGUMENT;
		snprintf(err, sizeof(err), "missing request message");
	} else {
		code = mgmt_call(&env, idx, r->srv->admin, req, len, &resp, err, sizeof(err));
	}
	free(req);
	log_debug("gRPC %s (%s) -> %s %s", method, r->srv->admin ? "admin" : "read-only",
		  grpcx_code_name(code), code ? err : "");
	memset(ops, 0, sizeof(ops));
	if (code == GRPC_STATUS_OK && resp) {
		r->resp = grpcx_pack(resp);
		ops[nops].op = GRPC_OP_SEND_MESSAGE;
		ops[nops++].data.send_message.send_message = r->resp;
		err[0] = 0;
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);	/* malloc'ed tree */
	r->status_details = grpc_slice_from_copied_string(err);
	ops[nops].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[nops].data.send_status_from_server.status = code;
	ops[nops++].data.send_status_from_server.status_details = &r->status_details;
	ops[nops].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[nops++].data.recv_close_on_server.cancelled = &r->cancelled;
	r->state = RPC_WAIT_DONE;
	if (grpc_call_start_batch(r->call, ops, (size_t)nops, r, NULL) != GRPC_CALL_OK)
		rpc_free(r);
}

static void rpc_step(struct rpc *r, int success)
{
	grpc_op ops[2];

	switch (r->state) {
	case RPC_WAIT_CALL:
		if (!success) {		/* server shutting down */
			rpc_free(r);
			return;
		}
		rpc_request(r->c, r->srv);	/* keep one call outstanding */
		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
		ops[1].op = GRPC_OP_RECV_MESSAGE;
		ops[1].data.recv_message.recv_message = &r->req;
		r->state = RPC_WAIT_MSG;
		if (grpc_call_start_batch(r->call, ops, 2, r, NULL) != GRPC_CALL_OK)
			rpc_free(r);
		return;
	case RPC_WAIT_MSG:
		if (!success) {
			r->state = RPC_WAIT_CALL;	/* nothing else started */
			rpc_free(r);
			return;
		}
		rpc_respond(r);
		return;
	case RPC_WAIT_DONE:
		rpc_free(r);
		return;
	}
}

static void *control_thread(void *arg)
{
	struct control *c = arg;

	for (;;) {
		grpc_event ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
							   NULL);

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE || !ev.tag)
			continue;
		if (ev.tag == (void *)&c->ro || ev.tag == (void *)&c->adm) {
			pthread_mutex_lock(&c->lock);
			c->nshutdown++;
			pthread_mutex_unlock(&c->lock);
			continue;
		}
		rpc_step(ev.tag, ev.success);
	}
	return NULL;
}

/* ------------------------------------------------------------------ */

static int add_server(struct control *c, struct srv *s, int admin)
{
	grpc_arg args[3] = {
		{ .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_CONNECTION_IDLE_MS,
		  .value.integer = MGMT_IDLE_MS },
		{ .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_CONNECTION_AGE_MS,
		  .value.integer = MGMT_MAX_AGE_MS },
		{ .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
		  .value.integer = JOB_TIMEOUT_MS + 1000 },
	};
	grpc_channel_args ca = { .num_args = 3, .args = args };

	s->admin = admin;
	s->server = grpc_server_create(&ca, NULL);
	if (!s->server)
		return -1;
	grpc_server_register_completion_queue(s->server, c->cq, NULL);
	grpc_server_start(s->server);	/* no ports: connections come from mgmt_accept */
	c->nservers++;
	rpc_request(c, s);
	return 0;
}

/*
 * The Management socket: bound, given to admin_group, chmod'ed to `mode`,
 * and only then listen()ed on. A connect() to a unix socket that does not
 * listen yet is refused, so whatever mode bind() left (the process umask)
 * never admits anyone. The umask is not touched: it is process-wide and
 * other threads (the stats writer, libfabric's, gRPC's) create files.
 */
static int mgmt_listen(const struct xconfig *cfg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = cfg->grpc_socket;
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("grpc_socket %s: path too long for a unix socket", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("grpc_socket %s exists and is not a socket; not replacing it", path);
			return -1;
		}
		if (unlink(path) < 0) {
			log_err("grpc_socket %s: cannot remove the old socket: %s", path,
				strerror(errno));
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_err("grpc_socket: socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_err("grpc_socket %s: bind: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (cfg->admin_gid >= 0 && lchown(path, (uid_t)-1, (gid_t)cfg->admin_gid) < 0) {
		log_err("grpc_socket %s: chown to group %lld: %s", path, cfg->admin_gid,
			strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	/* after the chown (which may clear mode bits); lstat: never a symlink's target */
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    chmod(path, (mode_t)cfg->grpc_socket_mode) < 0) {
		log_err("grpc_socket %s: chmod %o: %s", path, (unsigned)cfg->grpc_socket_mode,
			strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (listen(fd, 128) < 0) {
		log_err("grpc_socket %s: listen: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

/* is gid among the connection's supplementary groups (at connect time)? */
static int peer_in_group(int fd, gid_t gid)
{
	gid_t small[256], *g = small;
	socklen_t len = sizeof(small);
	int found = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
		if (errno != ERANGE)
			return 0;
		g = malloc(len);
		if (!g || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
			free(g);
			return 0;
		}
	}
	for (size_t i = 0; i < len / sizeof(gid_t) && !found; i++)
		found = g[i] == gid;
	if (g != small)
		free(g);
	return found;
}

static void mgmt_adopt(struct control *c, int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	long long ag = c->cfg->admin_gid;
	grpc_server_credentials *creds;
	int admin;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || len != sizeof(cr)) {
		log_warn("management connection without SO_PEERCRED (%s): closed",
			 strerror(errno));
		c->accept_errors++;
		close(fd);
		return;
	}
	admin = cr.uid == 0 ||
		(ag >= 0 && (cr.gid == (gid_t)ag || peer_in_group(fd, (gid_t)ag)));
	log_debug("management connection: pid %d uid %u gid %u -> %s", (int)cr.pid,
		  (unsigned)cr.uid, (unsigned)cr.gid, admin ? "admin" : "read-only");
	c->accepted++;
	c->accepted_admin += admin;
	creds = grpc_insecure_server_credentials_create();
	/* gRPC owns fd from here (and closes it) */
	grpc_server_add_channel_from_fd(admin ? c->adm.server : c->ro.server, fd, creds);
	grpc_server_credentials_release(creds);
}

#define MGMT_PAUSE_MS 100

/* No fd to accept with: stop listening for MGMT_PAUSE_MS (one warning). */
static void mgmt_pause(struct control *c, int err)
{
	struct itimerspec its = { .it_value.tv_nsec = MGMT_PAUSE_MS * 1000000L };

	if (epoll_ctl(c->pfd, EPOLL_CTL_DEL, c->lfd, NULL) < 0 ||
	    timerfd_settime(c->tfd, 0, &its, NULL) < 0) {
		/* cannot pause: stop listening rather than spin */
		log_err("management socket: cannot pause accepting (%s): closed",
			strerror(errno));
		close(c->lfd);
		c->lfd = -1;
		return;
	}
	c->paused = 1;
	if (c->pauses++ % 600 == 0)	/* at most once a minute while it lasts */
		log_warn("grpc_socket accept: %s and no spare fd: management connections "
			 "wait (%llu pauses of %d ms so far)", strerror(err),
			 (unsigned long long)c->pauses, MGMT_PAUSE_MS);
}

/* The pause is over (tfd expired): listen again. */
static void mgmt_resume(struct control *c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 2 };
	uint64_t n;

	if (read(c->tfd, &n, sizeof(n)) != sizeof(n))
		return;		/* not yet (EAGAIN) */
	c->paused = 0;
	if (epoll_ctl(c->pfd, EPOLL_CTL_ADD, c->lfd, &ev) < 0) {
		log_err("management socket: cannot listen again (%s): closed",
			strerror(errno));
		close(c->lfd);
		c->lfd = -1;
	}
}

/*
 * Main thread: take every pending connection. If the fd table is full, the
 * spare fd is given up for it, so the Management socket keeps answering
 * while something else (e.g. a flood of the fabric port) holds fds; with no
 * spare left the listener pauses (mgmt_pause) rather than spin the loop.
 */
static void mgmt_accept(struct control *c)
{
	for (int k = 0; k < MGMT_ACCEPT_BATCH; k++) {
		int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			mgmt_adopt(c, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if ((errno == EMFILE || errno == ENFILE) && c->reserve_fd >= 0) {
			log_warn("fd table full: spare fd used for a management connection");
			close(c->reserve_fd);
			c->reserve_fd = -1;
			continue;
		}
		if (errno == EMFILE || errno == ENFILE) {
			c->accept_errors++;
			mgmt_pause(c, errno);
			break;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			c->accept_errors++;
			log_warn("grpc_socket accept: %s", strerror(errno));
		}
		break;
	}
	if (c->reserve_fd < 0)
		c->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int control_start(struct control **cp, const struct xconfig *cfg, const struct core_ops *ops,
		  void *core)
{
	struct control *c = calloc(1, sizeof(*c));
	struct epoll_event ev;

	*cp = c;
	if (!c)
		return -1;
	c->cfg = cfg;
	c->ops = ops;
	c->core = core;
	c->lfd = c->reserve_fd = c->pfd = c->tfd = c->qtfd = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	c->pfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->efd < 0 || c->pfd < 0)
		return -1;
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 1 };
	if (epoll_ctl(c->pfd, EPOLL_CTL_ADD, c->efd, &ev) < 0)
		return -1;
	c->qtfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 4 };
	if (c->qtfd < 0 || epoll_ctl(c->pfd, EPOLL_CTL_ADD, c->qtfd, &ev) < 0)
		return -1;
	if (!cfg->grpc_socket[0]) {
		log_info("gRPC control plane disabled");
		return c->pfd;
	}
	c->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 3 };
	if (c->tfd < 0 || epoll_ctl(c->pfd, EPOLL_CTL_ADD, c->tfd, &ev) < 0)
		return -1;
	c->lfd = mgmt_listen(cfg);
	if (c->lfd < 0)
		return -1;
	grpc_init();
	c->cq = grpc_completion_queue_create_for_next(NULL);
	if (add_server(c, &c->ro, 0) || add_server(c, &c->adm, 1))
		return -1;
	if (pthread_create(&c->thread, NULL, control_thread, c))
		return -1;
	c->thread_started = 1;
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 2 };
	if (epoll_ctl(c->pfd, EPOLL_CTL_ADD, c->lfd, &ev) < 0)
		return -1;
	log_info("gRPC Management on unix:%s (mode %04o%s%s%s)", cfg->grpc_socket,
		 cfg->grpc_socket_mode, cfg->admin_group[0] ? ", admin_group " : "",
		 cfg->admin_group, cfg->admin_group[0] ? "" : ", mutating calls root only");
	return c->pfd;
}

/* wait for the thread to see both servers' shutdowns; it may be blocked
 * in a job meanwhile, so keep failing queued ones (at most ~5 s) */
static void shutdown_wait(struct control *c)
{
	for (int k = 0; k < 5000; k++) {
		int done;

		pthread_mutex_lock(&c->lock);
		while (c->queue) {
			struct job *j = c->queue;
			c->queue = j->next;
			j->error = -ESHUTDOWN;
			if (j->abandoned) {
				job_free(j);
			} else {
				j->done = 1;
			}
		}
		pthread_cond_broadcast(&c->cond);
		done = c->nshutdown >= c->nservers;
		pthread_mutex_unlock(&c->lock);
		if (done || !c->thread_started)
			break;
		usleep(1000);
	}
}

void control_stop(struct control *c)
{

	if (!c)
		return;
	/* fail whatever is still waiting so the thread can finish its calls */
	while (c->waiting) {
		struct job *j = c->waiting;
		c->waiting = j->next;
		j->error = -ESHUTDOWN;
		job_finish(c, j);
	}
	if (c->lfd >= 0) {
		close(c->lfd);	/* no new connections */
		c->lfd = -1;
	}
	if (c->cq) {
		struct srv *srvs[2] = { &c->ro, &c->adm };

		for (int i = 0; i < 2; i++)
			if (srvs[i]->server) {
				grpc_server_shutdown_and_notify(srvs[i]->server, c->cq, srvs[i]);
				grpc_server_cancel_all_calls(srvs[i]->server);
			}
		shutdown_wait(c);
		for (int i = 0; i < 2; i++)
			if (srvs[i]->server) {
				grpc_server_destroy(srvs[i]->server);
				srvs[i]->server = NULL;
			}
		grpc_completion_queue_shutdown(c->cq);
		if (c->thread_started)
			pthread_join(c->thread, NULL);
		grpc_completion_queue_destroy(c->cq);
		grpc_shutdown();
		if (c->cfg->grpc_socket[0])
			unlink(c->cfg->grpc_socket);
	}
	if (c->reserve_fd >= 0)
		close(c->reserve_fd);
	if (c->tfd >= 0)
		close(c->tfd);
	if (c->qtfd >= 0)
		close(c->qtfd);
	if (c->pfd >= 0)
		close(c->pfd);
	close(c->efd);
	free(c);
}
