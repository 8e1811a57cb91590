/* SPDX-License-Identifier: Apache-2.0 */
/* gRPC status codes as people read them; shared by the server and the client. */
#pragma once

#include <grpc/status.h>

/* Offset added to a gRPC status code in hd_error.http_status by rpc_client_unary(). */
#define RPC_STATUS_BASE 1000

/* Name of a status code ("UNIMPLEMENTED"); "UNKNOWN_STATUS" for codes outside the table. */
const char *rpc_status_name(grpc_status_code code);
