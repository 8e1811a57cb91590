/* SPDX-License-Identifier: Apache-2.0 */
#include "rpc/status.h"

#include "base/cleanup.h"

const char *rpc_status_name(grpc_status_code code)
{
        static const char *const names[] = {
                "OK",
                "CANCELLED",
                "UNKNOWN",
                "INVALID_ARGUMENT",
                "DEADLINE_EXCEEDED",
                "NOT_FOUND",
                "ALREADY_EXISTS",
                "PERMISSION_DENIED",
                "RESOURCE_EXHAUSTED",
                "FAILED_PRECONDITION",
                "ABORTED",
                "OUT_OF_RANGE",
                "UNIMPLEMENTED",
                "INTERNAL",
                "UNAVAILABLE",
                "DATA_LOSS",
                "UNAUTHENTICATED",
        };
        if ((unsigned)code < HD_ARRAY_SIZE(names))
                return names[code];
        return "UNKNOWN_STATUS";
}
