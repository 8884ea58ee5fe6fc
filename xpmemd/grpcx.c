// SPDX-License-Identifier: GPL-2.0
#include "grpcx.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

grpc_byte_buffer *grpcx_pack(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	grpc_slice s = grpc_slice_malloc(n);
	grpc_byte_buffer *bb;

	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

uint8_t *grpcx_flatten(grpc_byte_buffer *bb, size_t *len)
{
	grpc_byte_buffer_reader r;
	grpc_slice s;
	uint8_t *out;

	*len = 0;
	if (!bb || !grpc_byte_buffer_reader_init(&r, bb))
		return NULL;
	s = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	*len = GRPC_SLICE_LENGTH(s);
	out = malloc(*len ? *len : 1);
	if (out)
		memcpy(out, GRPC_SLICE_START_PTR(s), *len);
	grpc_slice_unref(s);
	return out;
}

const char *grpcx_code_name(grpc_status_code c)
{
	static const char *names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
		"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
		"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
	};
	if ((int)c >= 0 && (size_t)c < sizeof(names) / sizeof(names[0]))
		return names[c];
	return "?";
}

/* long: one unary call from start to finish (call, batch of six ops, wait,
 * status, decode), each step's failure handled where it happens */
grpc_status_code grpcx_call_raw(grpc_channel *ch, const char *method,
				const uint8_t *req, size_t reqlen,
				const ProtobufCMessageDescriptor *reply_desc,
				ProtobufCMessage **reply, int timeout_ms,
				char *err, size_t errlen)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
					     gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
	grpc_slice mslice = grpc_slice_from_copied_string(method);
	grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
						   mslice, NULL, deadline, NULL);
	grpc_slice rs = grpc_slice_from_copied_buffer((const char *)req, reqlen);
	grpc_byte_buffer *send_bb = grpc_raw_byte_buffer_create(&rs, 1), *recv_bb = NULL;
	grpc_metadata_array init_md, trail_md;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_op ops[6];
	grpc_event ev;
	grpc_call_error ce;

	*reply = NULL;
	if (err && errlen)
		err[0] = 0;
	grpc_slice_unref(rs);
	grpc_metadata_array_init(&init_md);
	grpc_metadata_array_init(&trail_md);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send_bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv_bb;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	ce = grpc_call_start_batch(call, ops, 6, (void *)1, NULL);
	if (ce != GRPC_CALL_OK) {
		snprintf(err, errlen, "grpc_call_start_batch: %d", ce);
		status = GRPC_STATUS_INTERNAL;
		goto out;
	}
	ev = grpc_completion_queue_pluck(cq, (void *)1,
					 gpr_time_add(deadline, gpr_time_from_millis(1000, GPR_TIMESPAN)),
					 NULL);
	if (ev.type != GRPC_OP_COMPLETE) {
		snprintf(err, errlen, "call did not complete");
		status = GRPC_STATUS_DEADLINE_EXCEEDED;
		goto out;
	}
	if (status == GRPC_STATUS_OK) {
		size_t n;
		uint8_t *flat = grpcx_flatten(recv_bb, &n);

		*reply = flat ? protobuf_c_message_unpack(reply_desc, NULL, n, flat) : NULL;
		free(flat);
		if (!*reply) {
			snprintf(err, errlen, "undecodable reply");
			status = GRPC_STATUS_DATA_LOSS;
		}
	} else if (err) {
		snprintf(err, errlen, "%.*s", (int)GRPC_SLICE_LENGTH(details),
			 (const char *)GRPC_SLICE_START_PTR(details));
	}
out:
	grpc_slice_unref(details);
	grpc_slice_unref(mslice);
	grpc_metadata_array_destroy(&init_md);
	grpc_metadata_array_destroy(&trail_md);
	grpc_byte_buffer_destroy(send_bb);
	if (recv_bb)
		grpc_byte_buffer_destroy(recv_bb);
	grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME),
					   NULL).type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	return status;
}

grpc_status_code grpcx_call(grpc_channel *ch, const char *method,
			    const ProtobufCMessage *req,
			    const ProtobufCMessageDescriptor *reply_desc,
			    ProtobufCMessage **reply, int timeout_ms,
			    char *err, size_t errlen)
{
	size_t n = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = malloc(n ? n : 1);
	grpc_status_code st;

	if (!buf)
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	protobuf_c_message_pack(req, buf);
	st = grpcx_call_raw(ch, method, buf, n, reply_desc, reply, timeout_ms, err, errlen);
	free(buf);
	return st;
}
