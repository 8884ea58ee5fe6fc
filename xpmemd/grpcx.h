/* SPDX-License-Identifier: GPL-2.0 */
/* Small helpers over the gRPC core C API with protobuf-c messages. */
#ifndef XPMEMD_GRPCX_H
#define XPMEMD_GRPCX_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* protobuf-c message -> new byte buffer (caller destroys) */
grpc_byte_buffer *grpcx_pack(const ProtobufCMessage *m);
/* byte buffer -> malloc'ed flat copy; *len set; NULL if bb is NULL */
uint8_t *grpcx_flatten(grpc_byte_buffer *bb, size_t *len);
const char *grpcx_code_name(grpc_status_code c);

/*
 * Blocking unary call. On GRPC_STATUS_OK *reply holds the unpacked reply
 * (free with protobuf_c_message_free_unpacked). Otherwise err gets the
 * status details.
 */
grpc_status_code grpcx_call(grpc_channel *ch, const char *method,
			    const ProtobufCMessage *req,
			    const ProtobufCMessageDescriptor *reply_desc,
			    ProtobufCMessage **reply, int timeout_ms,
			    char *err, size_t errlen);
/* Same, with raw request bytes (tests: malformed requests). */
grpc_status_code grpcx_call_raw(grpc_channel *ch, const char *method,
				const uint8_t *req, size_t reqlen,
				const ProtobufCMessageDescriptor *reply_desc,
				ProtobufCMessage **reply, int timeout_ms,
				char *err, size_t errlen);

#endif
