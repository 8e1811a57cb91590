/* SPDX-License-Identifier: Apache-2.0 */
/* Unary gRPC client over a unix socket (the device plugin calls the kubelet's Register). */
#pragma once

#include <protobuf-c/protobuf-c.h>

#include "rpc/status.h"

struct hd_error;

/* Call METHOD (wire path) on "unix:/abs/path" TARGET with REQUEST and wait at most TIMEOUT_MS.
 * On success *RET_REPLY is the unpacked reply (free with protobuf_c_message_free_unpacked()).
 * On failure returns -errno and RETERR reads "<method>: <STATUS_NAME>: <details>"; the gRPC
 * status code is kept in reterr->http_status as 1000 + code so callers can tell them apart:
 * UNAVAILABLE → -ECONNREFUSED, DEADLINE_EXCEEDED → -ETIMEDOUT, UNIMPLEMENTED → -EOPNOTSUPP,
 * INVALID_ARGUMENT → -EINVAL, anything else → -EPROTO. */
int rpc_client_unary(const char *target, const char *method, const ProtobufCMessage *request,
                     const ProtobufCMessageDescriptor *reply_desc, int timeout_ms,
                     ProtobufCMessage **ret_reply, struct hd_error *reterr);
