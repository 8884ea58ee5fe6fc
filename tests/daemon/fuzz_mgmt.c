// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer, stateful: the Management service's handlers (xpmemd/mgmt.c)
 * over a live daemon core (fuzz_state.c). The input's first part drives
 * the core (its length: the first byte x 4); the rest is calls: method,
 * caller (admin or not), the request's bytes, and for a kernel QUERY its
 * answer (records, or an error). Every reply is packed, as gRPC would.
 */
#include "fuzz_state.h"
#include "member.h"
#include "mgmt.h"
#include "state.h"
#include "stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	struct dstate *d;
	struct fz *in;
};

static json_t *env_snapshot(void *c)
{
	struct ctx *x = c;
	struct stats_pod *s = stats_capture(x->d);
	json_t *o;

	if (!s)
		return NULL;
	o = stats_json(s);
	free(s);
	return o;
}

static int env_fence(void *c, uint32_t node, uint64_t *inc, uint32_t *rel)
{
	struct ctx *x = c;

	return member_fence(x->d, node, inc, rel);
}

/* the kernel's answer, from the input: -ETIMEDOUT, an error, or records */
static int env_query(void *c, const struct xpmem_chan_query *q,
		     struct xpmem_chan_record **recs, uint32_t *n)
{
	struct ctx *x = c;
	uint8_t a = fz_u8(x->in);

	(void)q;
	if (a % 4 == 1)
		return -ETIMEDOUT;
	if (a % 4 == 2)
		return -(int)(a % 40) - 1;
	*n = a / 4 % 8;
	*recs = calloc(*n ? *n : 1, sizeof(**recs));
	if (!*recs)
		return -ENOMEM;
	fz_bytes(x->in, *recs, *n * sizeof(**recs));
	return 0;
}

static void call_one(struct ctx *x)
{
	static uint8_t req[4096];
	int idx = fz_u8(x->in) % 7 - 1, admin = fz_u8(x->in) & 1;	/* -1: unknown */
	size_t len = fz_u8(x->in) % 64;
	struct mgmt_env env = { .ctx = x, .snapshot = env_snapshot, .fence = env_fence,
				.query = env_query, .admin_group = "wheel" };
	ProtobufCMessage *resp = NULL;
	char err[256];

	fz_bytes(x->in, req, len);
	if (mgmt_call(&env, idx, admin, req, len, &resp, err, sizeof(err)) == GRPC_STATUS_OK) {
		size_t n;
		uint8_t *out;

		if (!resp)
			abort();	/* OK without a reply */
		n = protobuf_c_message_get_packed_size(resp);
		out = malloc(n ? n : 1);
		if (!out || protobuf_c_message_pack(resp, out) != n)
			abort();
		free(out);
		protobuf_c_message_free_unpacked(resp, NULL);
	} else if (resp || !err[0]) {
		abort();	/* an error without a reason, or a reply too */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz all = { data, size }, core;
	size_t k = (size_t)fz_u8(&all) * 4;
	struct ctx x;

	core.p = all.p;
	core.n = k < all.n ? k : all.n;
	all.p += core.n;
	all.n -= core.n;
	x.d = fz_setup();
	x.in = &all;
	while (!fz_step(x.d, &core))
		;
	while (all.n && !x.d->fatal)
		call_one(&x);
	fz_teardown(x.d);
	return 0;
}
