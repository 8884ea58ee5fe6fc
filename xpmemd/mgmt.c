// SPDX-License-Identifier: GPL-2.0
/*
 * The Management service's handlers (mgmt.h): requests decoded (protobuf-c),
 * the daemon asked through struct mgmt_env, replies built from its answers.
 * Physical addresses are shown to admin callers only.
 */
#include "mgmt.h"
#include "xpmem.pb-c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef XPMEM_VERSION
#define XPMEM_VERSION "unknown"
#endif

typedef grpc_status_code (*handler_fn)(const struct mgmt_env *e, int admin, const uint8_t *req,
				       size_t len, ProtobufCMessage **resp, char *err,
				       size_t errlen);

/* a request that does not decode is INVALID_ARGUMENT; one that does is
 * only checked for decoding (its fields are read where needed) */
#define UNPACK(type, fn, var) \
	type *var = fn(NULL, len, req); \
	if (!var) { snprintf(err, errlen, "request does not decode as " #type); \
		return GRPC_STATUS_INVALID_ARGUMENT; }

static uint64_t jint(json_t *o, const char *k)
{
	return (uint64_t)json_integer_value(json_object_get(o, k));
}

static char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return strdup(s ? s : "");
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

struct qres {
	struct xpmem_chan_record *recs;
	uint32_t n;
};

/* run a kernel QUERY: GRPC_STATUS_OK with res filled, or a code (err set) */
static grpc_status_code query(const struct mgmt_env *e, uint32_t what, uint32_t peer,
			      struct qres *res, char *err, size_t errlen)
{
	struct xpmem_chan_query q = { .what = what, .peer = peer };
	int r = e->query(e->ctx, &q, &res->recs, &res->n);

	if (r == -ETIMEDOUT) {
		snprintf(err, errlen, "kernel did not answer the query");
		return GRPC_STATUS_UNAVAILABLE;
	}
	if (r)
		return errno_status(r, err, errlen, "kernel");
	return GRPC_STATUS_OK;
}

/* the kernel's quarantine: ranges and pages held for peers that did not ack */
static int quarantine(const struct mgmt_env *e, uint64_t *entries, uint64_t *pages)
{
	struct qres q = { 0 };
	char qerr[128];

	*entries = *pages = 0;
	if (query(e, XPMEM_CHAN_Q_QUARANTINE, 0, &q, qerr, sizeof(qerr)) != GRPC_STATUS_OK)
		return -1;
	*entries = q.n;
	for (uint32_t n = 0; n < q.n; n++)
		*pages += (q.recs[n].len + 4095) / 4096;
	free(q.recs);
	return 0;
}

/* the kernel's failure reasons by their number (QUERY FAILURES flags) */
static const char *const kfail_names[] = {
#define XPMEM_FAIL(path, name, desc) #name,
#include <xpmem/xpmem_fails.h>
#undef XPMEM_FAIL
};

/* the kernel's failure counters (QUERY FAILURES: the reasons taken at
 * least once), each as kfail_<name> into st (NULL: none), their sum into
 * *total; -1 if the kernel did not answer (one without FAILURES: EINVAL) */
static int kernel_failures(const struct mgmt_env *e, json_t *st, uint64_t *total)
{
	struct qres q = { 0 };
	char qerr[128], name[64];

	*total = 0;
	if (query(e, XPMEM_CHAN_Q_FAILURES, 0, &q, qerr, sizeof(qerr)) != GRPC_STATUS_OK)
		return -1;
	for (uint32_t n = 0; n < q.n; n++) {
		uint32_t i = q.recs[n].flags;

		*total += q.recs[n].aux;
		if (!st)
			continue;
		/* a newer kernel's reason this daemon has no name for: its number */
		if (i < sizeof(kfail_names) / sizeof(kfail_names[0]))
			snprintf(name, sizeof(name), "kfail_%s", kfail_names[i]);
		else
			snprintf(name, sizeof(name), "kfail_%u", i);
		json_object_set_new(st, name, json_integer((json_int_t)q.recs[n].aux));
	}
	free(q.recs);
	return 0;
}

static json_t *snapshot(const struct mgmt_env *e, char *err, size_t errlen)
{
	json_t *s = e->snapshot(e->ctx);

	if (!s)
		snprintf(err, errlen, "daemon main loop did not answer");
	return s;
}

static grpc_status_code h_status(const struct mgmt_env *e, int admin, const uint8_t *req,
				 size_t len, ProtobufCMessage **resp, char *err, size_t errlen)
{
	(void)admin;
	UNPACK(Xpmem__StatusRequest, xpmem__status_request__unpack, in);
	xpmem__status_request__free_unpacked(in, NULL);
	json_t *s = snapshot(e, err, errlen), *st, *peers, *p;
	Xpmem__StatusReply *r;
	size_t i;

	if (!s)
		return GRPC_STATUS_UNAVAILABLE;
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
	r->rss_kb = jint(s, "rss_kb");
	r->version = strdup(XPMEM_VERSION);
	json_decref(s);
	/* the kernel's quarantine, which also pins the module */
	quarantine(e, &r->quarantine_entries, &r->quarantine_pages);
	/* failure exits the kernel took (their reasons: Stats, kfail_*) */
	r->kernel_failures_known = kernel_failures(e, NULL, &r->kernel_failures) == 0;
	*resp = &r->base;
	return GRPC_STATUS_OK;
}

/* a window as configured, for admin callers; for others a phys:BASE+SIZE
 * window is "phys" (a physical address, as seg_from_rec), a PCI address
 * (what lspci shows anyone) stays */
static char *window_for(json_t *p, int admin)
{
	const char *w = json_string_value(json_object_get(p, "window"));

	if (!admin && w && !strncmp(w, "phys:", 5))
		return strdup("phys");
	return jstr(p, "window");
}

static Xpmem__PeerInfo *peer_info(json_t *p, int admin)
{
	Xpmem__PeerInfo *pi = malloc(sizeof(*pi));

	xpmem__peer_info__init(pi);
	pi->id = (uint32_t)jint(p, "id");
	pi->address = jstr(p, "address");
	pi->window = window_for(p, admin);
	pi->alive = json_is_true(json_object_get(p, "alive"));
	pi->incarnation = jint(p, "incarnation");
	pi->last_heard_ms = json_integer_value(json_object_get(p, "last_heard_ms"));
	pi->rx = jint(p, "rx");
	pi->tx = jint(p, "tx");
	pi->established = json_is_true(json_object_get(p, "established"));
	pi->sendq = jint(p, "sendq");
	pi->sendq_max = jint(p, "sendq_max");
	pi->sendq_dropped = jint(p, "sendq_dropped");
	pi->backoff_ms = jint(p, "backoff_ms");
	pi->pending_kernel_requests = jint(p, "pending_kernel_requests");
	pi->pending_remote_requests = jint(p, "pending_remote_requests");
	return pi;
}

static grpc_status_code h_list_peers(const struct mgmt_env *e, int admin, const uint8_t *req,
				     size_t len, ProtobufCMessage **resp, char *err, size_t errlen)
{
	UNPACK(Xpmem__ListPeersRequest, xpmem__list_peers_request__unpack, in);
	xpmem__list_peers_request__free_unpacked(in, NULL);
	json_t *s = snapshot(e, err, errlen), *peers, *p;
	Xpmem__ListPeersReply *r;
	size_t i;

	if (!s)
		return GRPC_STATUS_UNAVAILABLE;
	peers = json_object_get(s, "peers");
	r = malloc(sizeof(*r));
	xpmem__list_peers_reply__init(r);
	r->n_peers = json_array_size(peers);
	r->peers = calloc(r->n_peers ? r->n_peers : 1, sizeof(*r->peers));
	json_array_foreach(peers, i, p)
		r->peers[i] = peer_info(p, admin);
	json_decref(s);
	*resp = &r->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code h_stats(const struct mgmt_env *e, int admin, const uint8_t *req,
				size_t len, ProtobufCMessage **resp, char *err, size_t errlen)
{
	(void)admin;
	UNPACK(Xpmem__StatsRequest, xpmem__stats_request__unpack, in);
	xpmem__stats_request__free_unpacked(in, NULL);
	json_t *s = snapshot(e, err, errlen), *st, *v;
	Xpmem__StatsReply *r;
	uint64_t entries, pages;
	const char *k;
	size_t i = 0;

	if (!s)
		return GRPC_STATUS_UNAVAILABLE;
	st = json_object_get(s, "stats");
	/* the kernel's quarantine: pages withheld from reuse (invariant 1) */
	if (quarantine(e, &entries, &pages) == 0) {
		json_object_set_new(st, "quarantine_entries", json_integer((json_int_t)entries));
		json_object_set_new(st, "quarantine_pages", json_integer((json_int_t)pages));
	}
	/* the kernel's failure exits, by reason (xpmem_fails.h) */
	{
		uint64_t total;	/* Status has it; by reason here */

		kernel_failures(e, st, &total);
	}
	json_object_set_new(st, "rss_kb", json_integer((json_int_t)jint(s, "rss_kb")));
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

/* physical addresses only for admin callers (as /proc/iomem shows zeros) */
static Xpmem__Segment *seg_from_rec(const struct xpmem_chan_record *rec, int admin)
{
	Xpmem__Segment *s = malloc(sizeof(*s));

	xpmem__segment__init(s);
	s->segid = rec->segid;
	s->size = rec->len;
	s->phys = admin ? rec->aux : 0;
	s->readonly = !!(rec->flags & XPMEM_CHAN_REC_RDONLY);
	return s;
}

static grpc_status_code h_list_segments(const struct mgmt_env *e, int admin, const uint8_t *req,
					size_t len, ProtobufCMessage **resp, char *err,
					size_t errlen)
{
	UNPACK(Xpmem__ListSegmentsRequest, xpmem__list_segments_request__unpack, in);
	xpmem__list_segments_request__free_unpacked(in, NULL);
	struct qres q = { 0 };
	grpc_status_code code = query(e, XPMEM_CHAN_Q_SEGMENTS, 0, &q, err, errlen);
	Xpmem__ListSegmentsReply *r;

	if (code != GRPC_STATUS_OK)
		return code;
	r = malloc(sizeof(*r));
	xpmem__list_segments_reply__init(r);
	r->n_segments = q.n;
	r->segments = calloc(q.n ? q.n : 1, sizeof(*r->segments));
	for (uint32_t i = 0; i < q.n; i++)
		r->segments[i] = seg_from_rec(&q.recs[i], admin);
	free(q.recs);
	*resp = &r->base;
	return GRPC_STATUS_OK;
}

static Xpmem__RemoteMapping *mapping_from_rec(const struct xpmem_chan_record *rec)
{
	Xpmem__RemoteMapping *m = malloc(sizeof(*m));

	xpmem__remote_mapping__init(m);
	m->segid = rec->segid;
	m->start = rec->start;
	m->len = rec->len;
	m->peer = rec->peer;
	m->peer_incarnation = rec->aux;
	return m;
}

static grpc_status_code h_list_mappings(const struct mgmt_env *e, int admin, const uint8_t *req,
					size_t len, ProtobufCMessage **resp, char *err,
					size_t errlen)
{
	(void)admin;
	UNPACK(Xpmem__ListRemoteMappingsRequest, xpmem__list_remote_mappings_request__unpack, in);
	uint32_t peer = in->peer;
	xpmem__list_remote_mappings_request__free_unpacked(in, NULL);
	struct qres q = { 0 };
	grpc_status_code code = query(e, XPMEM_CHAN_Q_MAPPINGS, peer, &q, err, errlen);
	Xpmem__ListRemoteMappingsReply *r;

	if (code != GRPC_STATUS_OK)
		return code;
	r = malloc(sizeof(*r));
	xpmem__list_remote_mappings_reply__init(r);
	r->n_mappings = q.n;
	r->mappings = calloc(q.n ? q.n : 1, sizeof(*r->mappings));
	for (uint32_t i = 0; i < q.n; i++)
		r->mappings[i] = mapping_from_rec(&q.recs[i]);
	free(q.recs);
	*resp = &r->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code h_fence(const struct mgmt_env *e, int admin, const uint8_t *req,
				size_t len, ProtobufCMessage **resp, char *err, size_t errlen)
{
	(void)admin;
	UNPACK(Xpmem__FenceRequest, xpmem__fence_request__unpack, in);
	uint32_t node = in->node_id, released = 0;
	uint64_t inc = 0;
	Xpmem__FenceReply *r;
	int rc;

	xpmem__fence_request__free_unpacked(in, NULL);
	if (!node) {
		snprintf(err, errlen, "node_id must be set");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	rc = e->fence(e->ctx, node, &inc, &released);
	if (rc == -ETIMEDOUT) {
		snprintf(err, errlen, "daemon main loop did not answer");
		return GRPC_STATUS_UNAVAILABLE;
	}
	if (rc == -ENOENT) {
		snprintf(err, errlen, "node %u is not a configured peer", node);
		return GRPC_STATUS_NOT_FOUND;
	}
	if (rc == -EAGAIN) {
		snprintf(err, errlen, "starting: the kernel has not answered HELLO/ZAP_ALL yet");
		return GRPC_STATUS_UNAVAILABLE;
	}
	if (rc)
		return errno_status(rc, err, errlen, "fence");
	r = malloc(sizeof(*r));
	xpmem__fence_reply__init(r);
	r->node_id = node;
	r->fenced_incarnation = inc;
	r->invalidations_released = released;
	*resp = &r->base;
	return GRPC_STATUS_OK;
}

/* mutating: changes daemon or kernel state; root or admin_group only */
static const struct {
	const char *method;
	int mutating;
	handler_fn fn;
} methods[] = {
	{ "/xpmem.Management/Status", 0, h_status },
	{ "/xpmem.Management/ListPeers", 0, h_list_peers },
	{ "/xpmem.Management/ListSegments", 0, h_list_segments },
	{ "/xpmem.Management/ListRemoteMappings", 0, h_list_mappings },
	{ "/xpmem.Management/Stats", 0, h_stats },
	{ "/xpmem.Management/Fence", 1, h_fence },
};
#define NMETHODS ((int)(sizeof(methods) / sizeof(methods[0])))

int mgmt_find(const char *method, int *mutating)
{
	for (int i = 0; i < NMETHODS; i++)
		if (!strcmp(methods[i].method, method)) {
			*mutating = methods[i].mutating;
			return i;
		}
	return -1;
}

const char *mgmt_name(int idx)
{
	return idx >= 0 && idx < NMETHODS ? methods[idx].method : "?";
}

grpc_status_code mgmt_call(const struct mgmt_env *e, int idx, int admin, const uint8_t *req,
			   size_t len, ProtobufCMessage **resp, char *err, size_t errlen)
{
	const char *ag = e->admin_group ? e->admin_group : "";

	*resp = NULL;
	if (idx < 0 || idx >= NMETHODS) {
		snprintf(err, errlen, "unknown method");
		return GRPC_STATUS_UNIMPLEMENTED;
	}
	if (methods[idx].mutating && !admin) {
		snprintf(err, errlen, "%.60s changes daemon state: only root%s%.60s%s may "
			 "call it, and this caller is not (SO_PEERCRED)", methods[idx].method,
			 ag[0] ? " or members of admin_group '" : "", ag, ag[0] ? "'" : "");
		return GRPC_STATUS_PERMISSION_DENIED;
	}
	return methods[idx].fn(e, admin, req ? req : (const uint8_t *)"", len, resp, err, errlen);
}
