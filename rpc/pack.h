/* SPDX-License-Identifier: Apache-2.0 */
/* Protobuf-c messages to and from gRPC byte buffers; shared by the server and the client. */
#pragma once

#include <grpc/byte_buffer.h>
#include <protobuf-c/protobuf-c.h>

/* Pack MSG into a new byte buffer; the caller owns it (grpc_byte_buffer_destroy). */
grpc_byte_buffer *rpc_pack(const ProtobufCMessage *msg);
