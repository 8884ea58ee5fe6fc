// SPDX-License-Identifier: GPL-2.0
/*
 * gRPC control plane (gRPC core C API + protobuf-c).
 *
 * One thread runs both servers (Management on the unix socket, Peer on the
 * network) over one completion queue, handling unary calls one at a time.
 * Handlers never touch daemon state: they queue a job for the main loop
 * (eventfd wakeup) and wait for it, so all daemon state stays
 * single-threaded.
 */
#include "control.h"
#include "chan.h"
#include "grpcx.h"
#include "log.h"
#include "state.h"
#include "xpmem.pb-c.h"

#include <errno.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef XPMEM_VERSION
#define XPMEM_VERSION "unknown"
#endif

#define JOB_TIMEOUT_MS 5000
#define AUTH_WINDOW_NS (60ull * 1000000000ull)

enum job_kind { JOB_SNAPSHOT = 1, JOB_FENCE, JOB_QUERY };

struct job {
	struct job *next;
	enum job_kind kind;
	/* in */
	uint32_t node;
	struct xpmem_chan_query q;
	/* out */
	int done, abandoned, error;
	json_t *snapshot;
	struct xpmem_chan_record *recs;
	uint32_t nrecs, total;
	uint64_t qseq;
	uint64_t fenced_inc;
	uint32_t released;
};

struct srv {
	grpc_server *server;
	int is_peer;		/* serves Peer (network) rather than Management */
};

struct control {
	struct dstate *d;
	int efd;
	pthread_t thread;
	int thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *queue;	/* submitted, not yet taken by the main loop */
	struct job *waiting;	/* QUERY jobs waiting for the kernel (main thread only) */
	grpc_completion_queue *cq;
	struct srv mgmt, peer;
	int nservers, nshutdown;	/* shutdown notifications seen by the thread */
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

static uint64_t realtime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

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
	if (j->snapshot)
		json_decref(j->snapshot);
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

static void query_send(struct control *c, struct job *j)
{
	j->qseq = ++c->d->dseq;
	j->q.offset = j->nrecs;
	if (c->d->chan_fd < 0) {
		j->error = -EPIPE;
		job_finish(c, j);
		return;
	}
	{
		char buf[XPMEM_CHAN_MAX_MSG];
		size_t n = chan_build(buf, XPMEM_CHAN_QUERY, j->qseq, &j->q, sizeof(j->q), NULL, 0);

		if (write(c->d->chan_fd, buf, n) != (ssize_t)n) {
			j->error = -EIO;
			job_finish(c, j);
			return;
		}
	}
	j->next = c->waiting;
	c->waiting = j;
}

void control_event(struct dstate *d)
{
	struct control *c = d->control;
	struct job *list;
	uint64_t v;

	if (!c)
		return;
	if (read(c->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("control eventfd: %s", strerror(errno));
	pthread_mutex_lock(&c->lock);
	list = c->queue;
	c->queue = NULL;
	pthread_mutex_unlock(&c->lock);
	while (list) {
		struct job *j = list;

		list = j->next;
		j->next = NULL;
		switch (j->kind) {
		case JOB_SNAPSHOT:
			j->snapshot = daemon_snapshot(d);
			job_finish(c, j);
			break;
		case JOB_FENCE:
			j->error = daemon_fence(d, j->node, &j->fenced_inc, &j->released);
			job_finish(c, j);
			break;
		case JOB_QUERY:
			query_send(c, j);
			break;
		}
	}
}

void control_query_reply(struct dstate *d, uint64_t seq, const struct xpmem_chan_query_reply *r)
{
	struct control *c = d->control;
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
/* Handlers (control thread) */

typedef grpc_status_code (*handler_fn)(struct control *c, const uint8_t *req, size_t len,
				       ProtobufCMessage **resp, char *err, size_t errlen);

#define UNPACK(type, fn, var) \
	type *var = fn(NULL, len, req); \
	if (!var) { snprintf(err, errlen, "request does not decode as " #type); \
		return GRPC_STATUS_INVALID_ARGUMENT; }

static struct job *query(struct control *c, uint32_t what, uint32_t peer, int64_t segid,
			 uint32_t access, grpc_status_code *code, char *err, size_t errlen);

static json_t *snapshot(struct control *c)
{
	struct job *j = calloc(1, sizeof(*j)), *done;
	json_t *s;

	if (!j)
		return NULL;
	j->kind = JOB_SNAPSHOT;
	done = job_run(c, j);
	if (!done)
		return NULL;
	s = done->snapshot;
	done->snapshot = NULL;
	job_free(done);
	return s;
}

static uint64_t jint(json_t *o, const char *k)
{
	return (uint64_t)json_integer_value(json_object_get(o, k));
}

static char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return strdup(s ? s : "");
}

static grpc_status_code h_status(struct control *c, const uint8_t *req, size_t len,
				 ProtobufCMessage **resp, char *err, size_t errlen)
{
	UNPACK(Xpmem__StatusRequest, xpmem__status_request__unpack, in);
	xpmem__status_request__free_unpacked(in, NULL);
	json_t *s = snapshot(c), *st, *peers, *p;
	Xpmem__StatusReply *r;
	grpc_status_code qcode;
	char qerr[128];
	struct job *q;
	size_t i;

	if (!s) {
		snprintf(err, errlen, "daemon main loop did not answer");
		return GRPC_STATUS_UNAVAILABLE;
	}
	r = malloc(sizeof(*r));
	xpmem__status_reply__init(r);
	st = json_object_get(s, "stats");
	peers = json_object_get(s, "peers");
	r->node_id = (uint32_t)jint(s, "node_id");
	r->incarnation = jint(s, "incarnation");
	r->provider = jstr(s, "provider");
	r->listen = jstr(s, "listen");
	r->ready = json_is_true(json_object_get(s, "ready"));
	r->uptime_ms = jint(s, "uptime_ms");
	r->peers_total = (uint32_t)json_array_size(peers);
	json_array_foreach(peers, i, p)
		r->peers_alive += json_is_true(json_object_get(p, "alive"));
	r->pending_invalidations = jint(st, "pending_invalidations");
	r->timed_out_outstanding = jint(st, "timed_out_outstanding");
	r->version = strdup(XPMEM_VERSION);
	json_decref(s);
	/* the kernel's quarantine, which also pins the module */
	q = query(c, XPMEM_CHAN_Q_QUARANTINE, 0, 0, 0, &qcode, qerr, sizeof(qerr));
	if (q) {
		r->quarantine_entries = q->nrecs;
		for (uint32_t n = 0; n < q->nrecs; n++)
			r->quarantine_pages += (q->recs[n].len + 4095) / 4096;
		job_free(q);
	}
	*resp = &r->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code h_list_peers(struct control *c, const uint8_t *req, size_t len,
				     ProtobufCMessage **resp, char *err, size_t errlen)
{
	UNPACK(Xpmem__ListPeersRequest, xpmem__list_peers_request__unpack, in);
	xpmem__list_peers_request__free_unpacked(in, NULL);
	json_t *s = snapshot(c), *peers, *p;
	Xpmem__ListPeersReply *r;
	size_t i;

	if (!s) {
		snprintf(err, errlen, "daemon main loop did not answer");
		return GRPC_STATUS_UNAVAILABLE;
	}
	peers = json_object_get(s, "peers");
	r = malloc(sizeof(*r));
	xpmem__list_peers_reply__init(r);
	r->n_peers = json_array_size(peers);
	r->peers = calloc(r->n_peers ? r->n_peers : 1, sizeof(*r->peers));
	json_array_foreach(peers, i, p) {
		Xpmem__PeerInfo *pi = malloc(sizeof(*pi));

		xpmem__peer_info__init(pi);
		pi->id = (uint32_t)jint(p, "id");
		pi->address = jstr(p, "address");
		pi->window = jstr(p, "window");
		pi->alive = json_is_true(json_object_get(p, "alive"));
		pi->incarnation = jint(p, "incarnation");
		pi->last_heard_ms = json_integer_value(json_object_get(p, "last_heard_ms"));
		pi->rx = jint(p, "rx");
		pi->tx = jint(p, "tx");
		r->peers[i] = pi;
	}
	json_decref(s);
	*resp = &r->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code h_stats(struct control *c, const uint8_t *req, size_t len,
				ProtobufCMessage **resp, char *err, size_t errlen)
{
	UNPACK(Xpmem__StatsRequest, xpmem__stats_request__unpack, in);
	xpmem__stats_request__free_unpacked(in, NULL);
	json_t *s = snapshot(c), *st, *v;
	Xpmem__StatsReply *r;
	const char *k;
	size_t i = 0;
	struct job *q;
	grpc_status_code qcode;
	char qerr[128];

	if (!s) {
		snprintf(err, errlen, "daemon main loop did not answer");
		return GRPC_STATUS_UNAVAILABLE;
	}
	st = json_object_get(s, "stats");
	/* the kernel's quarantine: pages withheld from reuse (invariant 1) */
	q = query(c, XPMEM_CHAN_Q_QUARANTINE, 0, 0, 0, &qcode, qerr, sizeof(qerr));
	if (q) {
		uint64_t pages = 0;

		for (uint32_t n = 0; n < q->nrecs; n++)
			pages += (q->recs[n].len + 4095) / 4096;
		json_object_set_new(st, "quarantine_entries", json_integer(q->nrecs));
		json_object_set_new(st, "quarantine_pages", json_integer((json_int_t)pages));
		job_free(q);
	}
	r = malloc(sizeof(*r));
	xpmem__stats_reply__init(r);
	r->n_counters = json_object_size(st);
	r->counters = calloc(r->n_counters ? r->n_counters : 1, sizeof(*r->counters));
	json_object_foreach(st, k, v) {
		Xpmem__Counter *ctr = malloc(sizeof(*ctr));

		xpmem__counter__init(ctr);
		ctr->name = strdup(k);
		ctr->value = (uint64_t)json_integer_value(v);
		r->counters[i++] = ctr;
	}
	json_decref(s);
	*resp = &r->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code errno_status(int e, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, strerror(-e));
	switch (-e) {
	case ENOENT: return GRPC_STATUS_NOT_FOUND;
	case EACCES: case EPERM: return GRPC_STATUS_PERMISSION_DENIED;
	case EINVAL: return GRPC_STATUS_INVALID_ARGUMENT;
	default: return GRPC_STATUS_UNAVAILABLE;
	}
}

/* run a kernel QUERY; returns the finished job or NULL (err set) */
static struct job *query(struct control *c, uint32_t what, uint32_t peer, int64_t segid,
			 uint32_t access, grpc_status_code *code, char *err, size_t errlen)
{
	struct job *j = calloc(1, sizeof(*j)), *done;

	if (!j) {
		*code = GRPC_STATUS_RESOURCE_EXHAUSTED;
		return NULL;
	}
	j->kind = JOB_QUERY;
	j->q = (struct xpmem_chan_query){ .what = what, .peer = peer, .segid = segid,
					  .access = access };
	done = job_run(c, j);
	if (!done) {
		snprintf(err, errlen, "kernel did not answer the query");
		*code = GRPC_STATUS_UNAVAILABLE;
		return NULL;
	}
	if (done->error) {
		*code = errno_status(done->error, err, errlen, "kernel");
		job_free(done);
		return NULL;
	}
	*code = GRPC_STATUS_OK;
	return done;
}

static Xpmem__Segment *seg_from_rec(const struct xpmem_chan_record *rec)
{
	Xpmem__Segment *s = malloc(sizeof(*s));

	xpmem__segment__init(s);
	s->segid = rec->segid;
	s->size = rec->len;
	s->phys = rec->aux;
	s->readonly = !!(rec->flags & XPMEM_CHAN_REC_RDONLY);
	return s;
}

static grpc_status_code h_list_segments(struct control *c, const uint8_t *req, size_t len,
					ProtobufCMessage **resp, char *err, size_t errlen)
{
	UNPACK(Xpmem__ListSegmentsRequest, xpmem__list_segments_request__unpack, in);
	xpmem__list_segments_request__free_unpacked(in, NULL);
	grpc_status_code code;
	struct job *j = query(c, XPMEM_CHAN_Q_SEGMENTS, 0, 0, 0, &code, err, errlen);
	Xpmem__ListSegmentsReply *r;

	if (!j)
		return code;
	r = malloc(sizeof(*r));
	xpmem__list_segments_reply__init(r);
	r->n_segments = j->nrecs;
	r->segments = calloc(j->nrecs ? j->nrecs : 1, sizeof(*r->segments));
	for (uint32_t i = 0; i < j->nrecs; i++)
		r->segments[i] = seg_from_rec(&j->recs[i]);
	job_free(j);
	*resp = &r->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code h_list_mappings(struct control *c, const uint8_t *req, size_t len,
					ProtobufCMessage **resp, char *err, size_t errlen)
{
	UNPACK(Xpmem__ListRemoteMappingsRequest, xpmem__list_remote_mappings_request__unpack, in);
	uint32_t peer = in->peer;
	xpmem__list_remote_mappings_request__free_unpacked(in, NULL);
	grpc_status_code code;
	struct job *j = query(c, XPMEM_CHAN_Q_MAPPINGS, peer, 0, 0, &code, err, errlen);
	Xpmem__ListRemoteMappingsReply *r;

	if (!j)
		return code;
	r = malloc(sizeof(*r));
	xpmem__list_remote_mappings_reply__init(r);
	r->n_mappings = j->nrecs;
	r->mappings = calloc(j->nrecs ? j->nrecs : 1, sizeof(*r->mappings));
	for (uint32_t i = 0; i < j->nrecs; i++) {
		Xpmem__RemoteMapping *m = malloc(sizeof(*m));

		xpmem__remote_mapping__init(m);
		m->segid = j->recs[i].segid;
		m->start = j->recs[i].start;
		m->len = j->recs[i].len;
		m->peer = j->recs[i].peer;
		m->peer_incarnation = j->recs[i].aux;
		r->mappings[i] = m;
	}
	job_free(j);
	*resp = &r->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code h_fence(struct control *c, const uint8_t *req, size_t len,
				ProtobufCMessage **resp, char *err, size_t errlen)
{
	UNPACK(Xpmem__FenceRequest, xpmem__fence_request__unpack, in);
	struct job *j = calloc(1, sizeof(*j)), *done;
	Xpmem__FenceReply *r;

	j->kind = JOB_FENCE;
	j->node = in->node_id;
	xpmem__fence_request__free_unpacked(in, NULL);
	if (!j->node) {
		free(j);
		snprintf(err, errlen, "node_id must be set");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	done = job_run(c, j);
	if (!done) {
		snprintf(err, errlen, "daemon main loop did not answer");
		return GRPC_STATUS_UNAVAILABLE;
	}
	if (done->error) {
		uint32_t node = done->node;
		int e = done->error;

		job_free(done);
		if (e != -ENOENT)
			return errno_status(e, err, errlen, "fence");
		snprintf(err, errlen, "node %u is not a configured peer", node);
		return GRPC_STATUS_NOT_FOUND;
	}
	r = malloc(sizeof(*r));
	xpmem__fence_reply__init(r);
	r->node_id = done->node;
	r->fenced_incarnation = done->fenced_inc;
	r->invalidations_released = done->released;
	job_free(done);
	*resp = &r->base;
	return GRPC_STATUS_OK;
}

/* Peer requests: a configured peer, fresh timestamp, valid MAC */
static grpc_status_code peer_auth(struct control *c, const char *method, uint32_t node,
				  uint64_t inc, int64_t segid, uint32_t access, uint64_t ts,
				  ProtobufCBinaryData auth, char *err, size_t errlen)
{
	char s[256];
	size_t n;
	uint64_t now = realtime_now();
	int known = 0;

	for (int i = 0; i < c->d->cfg->npeers; i++)
		known |= c->d->cfg->peers[i].id == node;
	if (!known) {
		snprintf(err, errlen, "node %u is not a configured peer", node);
		return GRPC_STATUS_UNAUTHENTICATED;
	}
	if (ts + AUTH_WINDOW_NS < now || ts > now + AUTH_WINDOW_NS) {
		snprintf(err, errlen, "timestamp outside the accepted window");
		return GRPC_STATUS_UNAUTHENTICATED;
	}
	n = grpcx_peer_auth_string(s, sizeof(s), method, node, inc, segid, access, ts);
	if (auth.len != crypto_auth_BYTES ||
	    crypto_auth_verify(auth.data, (const unsigned char *)s, n, c->d->key) != 0) {
		snprintf(err, errlen, "bad authenticator");
		return GRPC_STATUS_UNAUTHENTICATED;
	}
	return GRPC_STATUS_OK;
}

static grpc_status_code h_hello(struct control *c, const uint8_t *req, size_t len,
				ProtobufCMessage **resp, char *err, size_t errlen)
{
	UNPACK(Xpmem__HelloRequest, xpmem__hello_request__unpack, in);
	grpc_status_code code = peer_auth(c, "Hello", in->node_id, in->incarnation, 0, 0,
					  in->timestamp_ns, in->auth, err, errlen);
	Xpmem__HelloReply *r;

	xpmem__hello_request__free_unpacked(in, NULL);
	if (code != GRPC_STATUS_OK)
		return code;
	r = malloc(sizeof(*r));
	xpmem__hello_reply__init(r);
	r->node_id = c->d->cfg->node_id;	/* constant after start */
	r->incarnation = c->d->incarnation;
	*resp = &r->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code h_remote_get(struct control *c, const uint8_t *req, size_t len,
				     ProtobufCMessage **resp, char *err, size_t errlen)
{
	UNPACK(Xpmem__RemoteGetRequest, xpmem__remote_get_request__unpack, in);
	uint32_t node = in->node_id, access = in->access;
	int64_t segid = in->segid;
	grpc_status_code code = peer_auth(c, "RemoteGet", node, in->incarnation, segid, access,
					  in->timestamp_ns, in->auth, err, errlen);
	Xpmem__RemoteGetReply *r;
	struct job *j;

	xpmem__remote_get_request__free_unpacked(in, NULL);
	if (code != GRPC_STATUS_OK)
		return code;
	if (!access || (access & ~(uint32_t)(XPMEM_CHAN_ACCESS_READ | XPMEM_CHAN_ACCESS_WRITE))) {
		snprintf(err, errlen, "access must be 1 (read), 2 (write) or 3");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	j = query(c, XPMEM_CHAN_Q_SEGMENT, node, segid, access, &code, err, errlen);
	if (!j)
		return code;
	if (!j->nrecs) {
		job_free(j);
		snprintf(err, errlen, "segment %lld not found", (long long)segid);
		return GRPC_STATUS_NOT_FOUND;
	}
	r = malloc(sizeof(*r));
	xpmem__remote_get_reply__init(r);
	r->owner = c->d->cfg->node_id;
	r->segment = seg_from_rec(&j->recs[0]);
	job_free(j);
	*resp = &r->base;
	return GRPC_STATUS_OK;
}

static const struct {
	const char *method;
	int peer_service;
	handler_fn fn;
} methods[] = {
	{ "/xpmem.Management/Status", 0, h_status },
	{ "/xpmem.Management/ListPeers", 0, h_list_peers },
	{ "/xpmem.Management/ListSegments", 0, h_list_segments },
	{ "/xpmem.Management/ListRemoteMappings", 0, h_list_mappings },
	{ "/xpmem.Management/Stats", 0, h_stats },
	{ "/xpmem.Management/Fence", 0, h_fence },
	{ "/xpmem.Peer/Hello", 1, h_hello },
	{ "/xpmem.Peer/RemoteGet", 1, h_remote_get },
};

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
	grpc_status_code code = GRPC_STATUS_UNIMPLEMENTED;
	ProtobufCMessage *resp = NULL;
	grpc_op ops[3];
	int nops = 0;
	size_t len = 0;
	uint8_t *req = grpcx_flatten(r->req, &len);

	snprintf(method, sizeof(method), "%.*s", (int)GRPC_SLICE_LENGTH(m),
		 (const char *)GRPC_SLICE_START_PTR(m));
	snprintf(err, sizeof(err), "unknown method %s", method);
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strcmp(methods[i].method, method))
			continue;
		if (methods[i].peer_service != r->srv->is_peer) {
			snprintf(err, sizeof(err), "%s is not served on this %s", method,
				 r->srv->is_peer ? "network port" : "unix socket");
			break;
		}
		if (!r->req) {
			code = GRPC_STATUS_INVALID_ARGUMENT;
			snprintf(err, sizeof(err), "missing request message");
			break;
		}
		code = methods[i].fn(r->c, req ? req : (const uint8_t *)"", len, &resp, err,
				     sizeof(err));
		break;
	}
	free(req);
	log_debug("gRPC %s -> %s %s", method, grpcx_code_name(code), code ? err : "");
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
		if (ev.tag == (void *)&c->mgmt || ev.tag == (void *)&c->peer) {
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

static int add_server(struct control *c, struct srv *s, const char *addr, int is_peer)
{
	grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
	int port;

	s->is_peer = is_peer;
	s->server = grpc_server_create(NULL, NULL);
	grpc_server_register_completion_queue(s->server, c->cq, NULL);
	port = grpc_server_add_http2_port(s->server, addr, creds);
	grpc_server_credentials_release(creds);
	if (port <= 0) {
		log_err("gRPC: cannot listen on %s", addr);
		grpc_server_destroy(s->server);
		s->server = NULL;
		return -1;
	}
	grpc_server_start(s->server);
	c->nservers++;
	rpc_request(c, s);
	return 0;
}

int control_start(struct dstate *d)
{
	struct control *c = calloc(1, sizeof(*c));
	char addr[300];

	if (!c)
		return -1;
	c->d = d;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	d->control = c;
	if (c->efd < 0)
		return -1;
	if (!d->cfg->grpc_socket[0] && !d->cfg->peer_grpc_listen[0]) {
		/* both set to "none" */
		log_info("gRPC control plane disabled");
		return c->efd;
	}
	grpc_init();
	c->cq = grpc_completion_queue_create_for_next(NULL);
	if (d->cfg->grpc_socket[0]) {
		unlink(d->cfg->grpc_socket);
		snprintf(addr, sizeof(addr), "unix:%s", d->cfg->grpc_socket);
		if (add_server(c, &c->mgmt, addr, 0))
			return -1;
		chmod(d->cfg->grpc_socket, 0660);	/* root (and group) only */
		log_info("gRPC Management on %s", addr);
	}
	if (d->cfg->peer_grpc_listen[0]) {
		if (add_server(c, &c->peer, d->cfg->peer_grpc_listen, 1))
			return -1;
		log_info("gRPC Peer on %s", d->cfg->peer_grpc_listen);
	}
	if (pthread_create(&c->thread, NULL, control_thread, c))
		return -1;
	c->thread_started = 1;
	return c->efd;
}

void control_stop(struct dstate *d)
{
	struct control *c = d->control;

	if (!c)
		return;
	/* fail whatever is still waiting so the thread can finish its calls */
	while (c->waiting) {
		struct job *j = c->waiting;
		c->waiting = j->next;
		j->error = -ESHUTDOWN;
		job_finish(c, j);
	}
	if (c->cq) {
		struct srv *srvs[2] = { &c->mgmt, &c->peer };

		for (int i = 0; i < 2; i++)
			if (srvs[i]->server) {
				grpc_server_shutdown_and_notify(srvs[i]->server, c->cq, srvs[i]);
				grpc_server_cancel_all_calls(srvs[i]->server);
			}
		/* wait for the thread to see both shutdowns; it may be blocked
		 * in a job meanwhile, so keep failing queued ones */
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
		if (d->cfg->grpc_socket[0])
			unlink(d->cfg->grpc_socket);
	}
	close(c->efd);
	d->control = NULL;
	free(c);
}
