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
#include "rpc/server.h"

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

int rpc_client_unary(const char *target, const char *method, const ProtobufCMessage *request,
                     const ProtobufCMessageDescriptor *reply_desc, int timeout_ms,
                     ProtobufCMessage **ret_reply, struct hd_error *reterr)
{
        int r = 0;
        grpc_init();
        grpc_channel_credentials *creds = grpc_insecure_credentials_create();
        grpc_channel *ch = grpc_channel_create(target, creds, NULL);
        grpc_channel_credentials_release(creds);
        grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
        gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                             gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
        grpc_slice method_slice = grpc_slice_from_copied_string(method);
        grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                                   method_slice, NULL, deadline, NULL);
        grpc_slice_unref(method_slice);

        size_t len = protobuf_c_message_get_packed_size(request);
        grpc_slice payload = grpc_slice_malloc(len);
        protobuf_c_message_pack(request, GRPC_SLICE_START_PTR(payload));
        grpc_byte_buffer *send_buf = grpc_raw_byte_buffer_create(&payload, 1);
        grpc_slice_unref(payload);

        grpc_metadata_array initial_md, trailing_md;
        grpc_metadata_array_init(&initial_md);
        grpc_metadata_array_init(&trailing_md);
        grpc_byte_buffer *recv_buf = NULL;
        grpc_status_code status = GRPC_STATUS_OK;
        grpc_slice details = grpc_empty_slice();

        grpc_op ops[6];
        memset(ops, 0, sizeof(ops));
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = send_buf;
        ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
        ops[4].op = GRPC_OP_RECV_MESSAGE;
        ops[4].data.recv_message.recv_message = &recv_buf;
        ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[5].data.recv_status_on_client.status = &status;
        ops[5].data.recv_status_on_client.status_details = &details;
        ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;

        static int tag;
        grpc_call_error err = grpc_call_start_batch(call, ops, 6, &tag, NULL);
        if (err != GRPC_CALL_OK) {
                r = hd_error_setf(reterr, EPROTO, "%s: cannot start call (%d)", method, err);
        } else {
                grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
                if (status != GRPC_STATUS_OK) {
                        _cleanup_free_ char *msg = grpc_slice_to_c_string(details);
                        r = hd_error_setf(reterr, status_to_errno(status), "%s: %s: %s", method,
                                          rpc_status_name(status), msg);
                        if (reterr)
                                reterr->http_status = RPC_STATUS_BASE + (int)status;
                } else if (!recv_buf) {
                        r = hd_error_setf(reterr, EPROTO, "%s: reply carried no message", method);
                } else {
                        grpc_byte_buffer_reader reader;
                        grpc_byte_buffer_reader_init(&reader, recv_buf);
                        grpc_slice s = grpc_byte_buffer_reader_readall(&reader);
                        grpc_byte_buffer_reader_destroy(&reader);
                        ProtobufCMessage *reply = protobuf_c_message_unpack(
                                reply_desc, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
                        grpc_slice_unref(s);
                        if (!reply)
                                r = hd_error_setf(reterr, EPROTO, "%s: cannot decode reply as %s",
                                                  method, reply_desc->name);
                        else
                                *ret_reply = reply;
                }
        }

        grpc_slice_unref(details);
        grpc_metadata_array_destroy(&initial_md);
        grpc_metadata_array_destroy(&trailing_md);
        grpc_byte_buffer_destroy(send_buf);
        if (recv_buf)
                grpc_byte_buffer_destroy(recv_buf);
        grpc_call_unref(call);
        grpc_completion_queue_shutdown(cq);
        while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                       .type != GRPC_QUEUE_SHUTDOWN)
                ;
        grpc_completion_queue_destroy(cq);
        grpc_channel_destroy(ch);
        grpc_shutdown();
        return r;
}
