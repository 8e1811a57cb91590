/* SPDX-License-Identifier: Apache-2.0 */
/* Scope-bound cleanups for gRPC and protobuf-c types, kept out of base/cleanup.h so that base/
 * users do not pull in the gRPC headers. Same rules as there: initialise where declared, hand
 * ownership on with TAKE_PTR(). */
#pragma once

#include <grpc/byte_buffer.h>
#include <protobuf-c/protobuf-c.h>

#include "base/cleanup.h"

HD_DEFINE_PTR_CLEANUP(rpc_byte_buffer_destroy, grpc_byte_buffer, grpc_byte_buffer_destroy)

/* For any unpacked protobuf-c message pointer (ProtobufCMessage * or a generated type *). */
static inline void rpc_message_freep(void *p)
{
        ProtobufCMessage **m = p;
        if (*m)
                protobuf_c_message_free_unpacked(*m, NULL);
}

#define _cleanup_byte_buffer_ _cleanup_(rpc_byte_buffer_destroyp)
#define _cleanup_message_ _cleanup_(rpc_message_freep)
