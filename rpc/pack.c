/* SPDX-License-Identifier: Apache-2.0 */
#include "rpc/pack.h"

#include <grpc/slice.h>

grpc_byte_buffer *rpc_pack(const ProtobufCMessage *msg)
{
        size_t len = protobuf_c_message_get_packed_size(msg);
        grpc_slice payload = grpc_slice_malloc(len);
        protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(payload));
        grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&payload, 1);
        grpc_slice_unref(payload);
        return bb;
}
