/* SPDX-License-Identifier: Apache-2.0 */
/* A small gRPC server over the C core, on one unix socket.
 *
 * Methods are looked up by wire path
 * ("/k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin/NodePrepareResources"). The layer unpacks requests
 * with the method's protobuf-c descriptor (garbage → INVALID_ARGUMENT), runs handlers on a worker
 * pool (never on the completion-queue thread), packs replies, answers unknown paths with
 * UNIMPLEMENTED, and honours deadlines (expired calls never reach a handler; the core cancels calls
 * whose deadline passes). Many calls are in flight at once.
 *
 * Unary handler: inspect the request, then call rpc_call_reply() or rpc_call_fail() exactly once
 * before returning (no reply → INTERNAL). The request is freed after the handler returns.
 *
 * Server-streaming handler: called once when the stream opens. To keep pushing, take a reference
 * with rpc_call_ref() and call rpc_stream_send() from any thread whenever state changes; the
 * stream stays open until the client cancels or the server stops. The method's stream_closed
 * callback then runs on a worker: drop your reference there with rpc_call_unref(). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

#include "rpc/status.h"

struct hd_error;
struct rpc_server;
struct rpc_call;

enum rpc_method_kind {
        RPC_UNARY,
        RPC_SERVER_STREAMING,
};

typedef void (*rpc_handler_cb)(struct rpc_call *call, const ProtobufCMessage *request,
                               void *userdata);
typedef void (*rpc_stream_closed_cb)(struct rpc_call *call, void *userdata);

struct rpc_method {
        const char *path; /* wire path, e.g. "/pkg.Svc/Method" */
        enum rpc_method_kind kind;
        const ProtobufCMessageDescriptor *request; /* how to unpack the request */
        rpc_handler_cb handler;
        rpc_stream_closed_cb stream_closed; /* streaming only; may be NULL */
        void *userdata;
};

struct rpc_server_options {
        unsigned workers;          /* handler threads; 0 → 4 */
        int max_message_bytes;     /* send and receive limit; 0 → 16 MiB */
        unsigned stream_queue_max; /* pending messages per stream before the oldest is
                                      dropped (streams carry full snapshots); 0 → 16 */
        int stop_timeout_ms;       /* how long stop waits for cancelled calls; 0 → 30000 */
};

/* Create a server for the unix socket at PATH with a copy of the method table (METHODS[0..N-1];
 * paths must be unique) into *RET (free with rpc_server_free()). Nothing is bound yet. Returns 0,
 * or -EINVAL with RETERR set on bad input. */
int rpc_server_new(const char *path, const struct rpc_method *methods, size_t n,
                   const struct rpc_server_options *opts, struct rpc_server **ret,
                   struct hd_error *reterr);

/* Bind (after checking that no live process serves PATH; a stale socket is replaced; the parent
 * dir is created 0700 and must not be a symlink) and start serving. The socket is bound in a
 * private directory and appears at PATH only once it is 0600. Returns 0 or -errno. */
int rpc_server_start(struct rpc_server *srv, struct hd_error *reterr);

/* Stop: refuse new calls, cancel the ones in flight, run stream_closed callbacks, wait up to
 * stop_timeout_ms for calls to end and for running handlers to return, tear down the core in the
 * order it requires and remove our socket file. A call still referenced afterwards
 * (rpc_call_ref()) stays safe to use: replies and sends fail with -EPIPE, and its last
 * rpc_call_unref() releases what the server left behind. Idempotent. */
void rpc_server_stop(struct rpc_server *srv);

/* Stop if needed and drop the owner's reference. Takes NULL; returns NULL. */
struct rpc_server *rpc_server_free(struct rpc_server *srv);

const char *rpc_server_path(const struct rpc_server *srv);

/* Calls currently alive (for tests and metrics). */
unsigned rpc_server_live_calls(struct rpc_server *srv);

/* --- inside handlers ------------------------------------------------------------------------ */

/* Reply OK with MSG, packed right away (the caller keeps ownership of MSG). Returns 0, or
 * -EALREADY if the call was already answered, -EPIPE if it has ended. */
int rpc_call_reply(struct rpc_call *call, const ProtobufCMessage *msg);

/* End the call with status CODE (not GRPC_STATUS_OK) and a formatted message. */
int rpc_call_fail(struct rpc_call *call, grpc_status_code code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* The wire path of the call's method. */
const char *rpc_call_method(const struct rpc_call *call);

/* Milliseconds left before the client's deadline (INT64_MAX when none). */
int64_t rpc_call_deadline_remaining_ms(const struct rpc_call *call);

/* true once the client cancelled, the deadline passed or the server is stopping. */
bool rpc_call_is_done(struct rpc_call *call);

/* --- streaming ------------------------------------------------------------------------------ */

struct rpc_call *rpc_call_ref(struct rpc_call *call);
void rpc_call_unref(struct rpc_call *call);

/* Queue MSG (packed now; caller keeps ownership) on a server-streaming call. Messages go out in
 * order with one send in flight. Thread-safe. Returns 0 or -EPIPE once the stream has ended. */
int rpc_stream_send(struct rpc_call *call, const ProtobufCMessage *msg);

/* End a stream from the server side with CODE/message after the queued messages. */
int rpc_stream_finish(struct rpc_call *call, grpc_status_code code, const char *message);
