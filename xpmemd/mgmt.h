/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Management service's handlers: a request's bytes in, a reply message
 * out. What they need of the daemon comes through struct mgmt_env (the
 * control plane's job queue in xpmemd; direct calls in the fuzzer).
 */
#ifndef XPMEMD_MGMT_H
#define XPMEMD_MGMT_H

#include <grpc/status.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>
#include <xpmem/xpmem_channel.h>

struct mgmt_env {
	void *ctx;
	/* the daemon's stats as stats_json() builds them; NULL: no answer */
	json_t *(*snapshot)(void *ctx);
	/* member_fence's answer; -ETIMEDOUT: no answer */
	int (*fence)(void *ctx, uint32_t node, uint64_t *fenced_inc, uint32_t *released);
	/* a kernel QUERY, every page of it: 0 with *recs (malloc'ed) and *n, or
	 * -errno (-ETIMEDOUT: no answer) */
	int (*query)(void *ctx, const struct xpmem_chan_query *q,
		     struct xpmem_chan_record **recs, uint32_t *n);
	const char *admin_group;	/* for the PERMISSION_DENIED message */
};

/* the method's index (-1: unknown); *mutating: root or admin_group only */
int mgmt_find(const char *method, int *mutating);
/* call method idx for a caller (admin: on the admin server) with the
 * request's bytes; GRPC_STATUS_OK with *resp (free with
 * protobuf_c_message_free_unpacked), else err says why */
grpc_status_code mgmt_call(const struct mgmt_env *e, int idx, int admin, const uint8_t *req,
			   size_t len, ProtobufCMessage **resp, char *err, size_t errlen);
/* the method's name (for logs) */
const char *mgmt_name(int idx);

#endif
