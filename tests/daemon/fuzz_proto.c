// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the gRPC request decoders (protobuf-c unpack of every
 * request message xpmemd serves), with a pack/unpack round trip of what
 * decodes. The first input byte picks the message type.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xpmem.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const ProtobufCMessageDescriptor *descs[] = {
		&xpmem__status_request__descriptor,
		&xpmem__list_peers_request__descriptor,
		&xpmem__list_segments_request__descriptor,
		&xpmem__list_remote_mappings_request__descriptor,
		&xpmem__stats_request__descriptor,
		&xpmem__fence_request__descriptor,
		/* replies, as decoded by xpmemctl */
		&xpmem__list_peers_reply__descriptor,
		&xpmem__stats_reply__descriptor,
		&xpmem__status_reply__descriptor,
	};
	ProtobufCMessage *m;
	size_t n;
	uint8_t *buf;

	if (!size)
		return 0;
	m = protobuf_c_message_unpack(descs[data[0] % (sizeof(descs) / sizeof(descs[0]))], NULL,
				      size - 1, data + 1);
	if (!m)
		return 0;
	n = protobuf_c_message_get_packed_size(m);
	buf = malloc(n ? n : 1);
	if (buf && protobuf_c_message_pack(m, buf) != n)
		abort();
	free(buf);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}
