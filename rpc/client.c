/* SPDX-License-Identifier: Apache-2.0 */
#include "rpc/client.h"

#include <errno.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "rpc/pack.h"
#include "rpc/status.h"

static int status_to_errno(grpc_status_code code)
{
        switch (code) {
        case GRPC_STATUS_UNAVAILABLE:
                return ECONNREFUSED;
        case GRPC_STATUS_DEADLINE_EXCEEDED:
                return ETIMEDOUT;
        case GRPC_STATUS_UNIMPLEMENTED:
                return EOPNOTSUPP;
        case GRPC_STATUS_INVALID_ARGUMENT:
                return EINVAL;
        default:
                return EPROTO;
        }
}

/* One unary exchange: the channel, its call and what the batch fills in. */
struct unary {
        grpc_channel *ch;
        grpc_completion_queue *cq;
        grpc_call *call;
        grpc_byte_buffer *send_buf;
        grpc_byte_buffer *recv_buf;
        grpc_metadata_array initial_md, trailing_md;
        grpc_status_code status;
        grpc_slice details;
};

static void unary_open(struct unary *u, const char *target, const char *method,
                       const ProtobufCMessage *request, int timeout_ms)
{
        grpc_init();
        grpc_channel_credentials *creds = grpc_insecure_credentials_create();
        u->ch = grpc_channel_create(target, creds, NULL);
        grpc_channel_credentials_release(creds);
        u->cq = grpc_completion_queue_create_for_pluck(NULL);
        gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                             gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
        grpc_slice method_slice = grpc_slice_from_copied_string(method);
        u->call = grpc_channel_create_call(u->ch, NULL, GRPC_PROPAGATE_DEFAULTS, u->cq,
                                           method_slice, NULL, deadline, NULL);
        grpc_slice_unref(method_slice);
        u->send_buf = rpc_pack(request);
        grpc_metadata_array_init(&u->initial_md);
        grpc_metadata_array_init(&u->trailing_md);
        u->status = GRPC_STATUS_OK;
        u->details = grpc_empty_slice();
}

/* Send the request and wait for the status (the deadline bounds the wait). */
static grpc_call_error unary_exchange(struct unary *u)
{
        grpc_op ops[6];
        memset(ops, 0, sizeof(ops));
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = u->send_buf;
        ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[3].data.recv_initial_metadata.recv_initial_metadata = &u->initial_md;
        ops[4].op = GRPC_OP_RECV_MESSAGE;
        ops[4].data.recv_message.recv_message = &u->recv_buf;
        ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[5].data.recv_status_on_client.status = &u->status;
        ops[5].data.recv_status_on_client.status_details = &u->details;
        ops[5].data.recv_status_on_client.trailing_metadata = &u->trailing_md;

        grpc_call_error err = grpc_call_start_batch(u->call, ops, HD_ARRAY_SIZE(ops), u, NULL);
        if (err == GRPC_CALL_OK)
                grpc_completion_queue_pluck(u->cq, u, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        return err;
}

/* The outcome of a finished exchange: *RET_REPLY or an error naming METHOD. */
static int unary_result(struct unary *u, const char *method,
                        const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **ret_reply,
                        struct hd_error *reterr)
{
        if (u->status != GRPC_STATUS_OK) {
                _cleanup_free_ char *msg = grpc_slice_to_c_string(u->details);
                int r = hd_error_setf(reterr, status_to_errno(u->status), "%s: %s: %s", method,
                                      rpc_status_name(u->status), msg);
                if (reterr)
                        reterr->http_status = RPC_STATUS_BASE + (int)u->status;
                return r;
        }
        if (!u->recv_buf)
                return hd_error_setf(reterr, EPROTO, "%s: reply carried no message", method);
        grpc_byte_buffer_reader reader;
        if (!grpc_byte_buffer_reader_init(&reader, u->recv_buf))
                return hd_error_setf(reterr, EPROTO, "%s: unreadable reply", method);
        grpc_slice s = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);
        ProtobufCMessage *reply = protobuf_c_message_unpack(reply_desc, NULL, GRPC_SLICE_LENGTH(s),
                                                            GRPC_SLICE_START_PTR(s));
        grpc_slice_unref(s);
        if (!reply)
                return hd_error_setf(reterr, EPROTO, "%s: cannot decode reply as %s", method,
                                     reply_desc->name);
        *ret_reply = reply;
        return 0;
}

static void unary_close(struct unary *u)
{
        grpc_slice_unref(u->details);
        grpc_metadata_array_destroy(&u->initial_md);
        grpc_metadata_array_destroy(&u->trailing_md);
        grpc_byte_buffer_destroy(u->send_buf);
        if (u->recv_buf)
                grpc_byte_buffer_destroy(u->recv_buf);
        grpc_call_unref(u->call);
        grpc_completion_queue_shutdown(u->cq);
        while (grpc_completion_queue_pluck(u->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                       .type != GRPC_QUEUE_SHUTDOWN)
                ;
        grpc_completion_queue_destroy(u->cq);
        grpc_channel_destroy(u->ch);
        grpc_shutdown();
}

int rpc_client_unary(const char *target, const char *method, const ProtobufCMessage *request,
                     const ProtobufCMessageDescriptor *reply_desc, int timeout_ms,
                     ProtobufCMessage **ret_reply, struct hd_error *reterr)
{
        struct unary u = {0};
        unary_open(&u, target, method, request, timeout_ms);
        grpc_call_error err = unary_exchange(&u);
        int r = err != GRPC_CALL_OK
                        ? hd_error_setf(reterr, EPROTO, "%s: cannot start call (%d)", method, err)
                        : unary_result(&u, method, reply_desc, ret_reply, reterr);
        unary_close(&u);
        return r;
}
