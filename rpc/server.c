/* SPDX-License-Identifier: Apache-2.0 */
#include "rpc/server.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strutil.h"
#include "rpc/cleanup.h"
#include "rpc/pack.h"
#include "rpc/socket.h"
#include "rpc/workqueue.h"

/* Outstanding grpc_server_request_call()s: how many new calls the core can hand us at once
 * before it queues them. Each completion posts a replacement. */
#define REQUESTS_IN_FLIGHT 16

enum op_kind { OP_REQUEST, OP_RECV, OP_CLOSE, OP_SEND, OP_STATUS, OP_SHUTDOWN };

/* Completion-queue tag: every batch we start carries one, embedded in its call. */
struct op {
        enum op_kind kind;
        struct rpc_call *call;
};

struct pending_msg {
        grpc_byte_buffer *buf;
        struct pending_msg *next;
};

struct rpc_call {
        struct rpc_server *srv;
        atomic_int refs; /* one per started batch, queued job and rpc_call_ref() */
        grpc_call *call;
        grpc_call_details details;
        grpc_metadata_array request_md;
        char *method_path;
        const struct rpc_method *method; /* NULL for unknown paths */
        grpc_byte_buffer *recv_buf;
        int cancelled; /* written by the core on RECV_CLOSE_ON_SERVER */
        struct op op_request, op_recv, op_close, op_send, op_status;

        pthread_mutex_t lock; /* guards everything below */
        bool answered;        /* status sent or scheduled */
        bool closed;          /* the core reported the call over */
        bool stream_open;     /* streaming handler ran; stream_closed is owed */
        bool md_sent;
        bool send_in_flight;
        grpc_byte_buffer *inflight;
        struct pending_msg *queue_head, *queue_tail;
        unsigned queue_len;
        bool finish_pending;
        grpc_status_code finish_code;
        char *finish_message;
        grpc_slice status_details;
        bool has_status_details;
        grpc_byte_buffer *status_msg; /* unary reply sent with the status */
};

/* The server object lives as long as anything refers to it: the owner (until rpc_server_free())
 * and every call object. A call that outlives rpc_server_stop() (a handler or another thread
 * still holding rpc_call_ref()) therefore finds its locks and flags intact; its replies fail with
 * -EPIPE and its last rpc_call_unref() frees the server if the owner has already let go. */
struct rpc_server {
        atomic_int refs;
        char *path;
        struct rpc_method *methods;
        size_t n_methods;
        struct rpc_server_options opts;
        grpc_server *server;
        grpc_completion_queue *cq;
        pthread_t cq_thread;
        bool cq_thread_started;
        struct rpc_workqueue *wq;
        ino_t sock_ino;
        bool started, stopped;
        atomic_bool stopping;

        pthread_mutex_t batch_lock; /* serialises batch starts against CQ shutdown */
        bool cq_shut;

        pthread_mutex_t state_lock; /* guards live_calls, shutdown_done */
        pthread_cond_t state_cond;
        unsigned live_calls;
        bool shutdown_done;
        struct op shutdown_op;
};

/* --- server lifetime ---------------------------------------------------------------------- */

static struct rpc_server *server_ref(struct rpc_server *srv)
{
        atomic_fetch_add(&srv->refs, 1);
        return srv;
}

/* Drop a reference; the last one frees the server and releases gRPC. */
static void server_unref(struct rpc_server *srv)
{
        if (atomic_fetch_sub(&srv->refs, 1) != 1)
                return;
        pthread_cond_destroy(&srv->state_cond);
        pthread_mutex_destroy(&srv->state_lock);
        pthread_mutex_destroy(&srv->batch_lock);
        free(srv->methods);
        free(srv->path);
        free(srv);
        grpc_shutdown();
}

/* --- call lifetime ------------------------------------------------------------------------ */

static struct rpc_call *call_new(struct rpc_server *srv)
{
        struct rpc_call *c = hd_malloc0(sizeof(*c));
        c->srv = server_ref(srv);
        atomic_init(&c->refs, 0);
        grpc_call_details_init(&c->details);
        grpc_metadata_array_init(&c->request_md);
        pthread_mutex_init(&c->lock, NULL);
        c->op_request = (struct op){OP_REQUEST, c};
        c->op_recv = (struct op){OP_RECV, c};
        c->op_close = (struct op){OP_CLOSE, c};
        c->op_send = (struct op){OP_SEND, c};
        c->op_status = (struct op){OP_STATUS, c};
        return c;
}

static void call_destroy(struct rpc_call *c)
{
        struct rpc_server *srv = c->srv;
        bool counted = c->call != NULL;
        if (c->call)
                grpc_call_unref(c->call);
        grpc_call_details_destroy(&c->details);
        grpc_metadata_array_destroy(&c->request_md);
        if (c->recv_buf)
                grpc_byte_buffer_destroy(c->recv_buf);
        if (c->inflight)
                grpc_byte_buffer_destroy(c->inflight);
        if (c->status_msg)
                grpc_byte_buffer_destroy(c->status_msg);
        for (struct pending_msg *m = c->queue_head, *next; m; m = next) {
                next = m->next;
                grpc_byte_buffer_destroy(m->buf);
                free(m);
        }
        if (c->has_status_details)
                grpc_slice_unref(c->status_details);
        free(c->finish_message);
        free(c->method_path);
        pthread_mutex_destroy(&c->lock);
        free(c);

        if (counted) {
                pthread_mutex_lock(&srv->state_lock);
                srv->live_calls--;
                pthread_cond_broadcast(&srv->state_cond);
                pthread_mutex_unlock(&srv->state_lock);
        }
        server_unref(srv);
}

struct rpc_call *rpc_call_ref(struct rpc_call *c)
{
        atomic_fetch_add(&c->refs, 1);
        return c;
}

void rpc_call_unref(struct rpc_call *c)
{
        if (c && atomic_fetch_sub(&c->refs, 1) == 1)
                call_destroy(c);
}

/* Start a batch holding a call reference until its completion arrives. */
static bool start_batch(struct rpc_call *c, const grpc_op *ops, size_t n, struct op *tag)
{
        struct rpc_server *srv = c->srv;
        grpc_call_error err = GRPC_CALL_ERROR;
        rpc_call_ref(c);
        pthread_mutex_lock(&srv->batch_lock);
        if (!srv->cq_shut)
                err = grpc_call_start_batch(c->call, ops, n, tag, NULL);
        pthread_mutex_unlock(&srv->batch_lock);
        if (err != GRPC_CALL_OK) {
                hd_log_v(4, "rpc: start batch failed", "method", c->method_path, "err",
                         HD_INT(err));
                rpc_call_unref(c);
                return false;
        }
        return true;
}

/* Send the final status (with an optional last message). Call with c->lock held. */
static void send_status_locked(struct rpc_call *c, grpc_status_code code, const char *message,
                               grpc_byte_buffer *last)
{
        grpc_op ops[3];
        size_t n = 0;
        memset(ops, 0, sizeof(ops));
        c->answered = true;
        if (!c->md_sent) {
                ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
                n++;
                c->md_sent = true;
        }
        if (last) {
                c->status_msg = last;
                ops[n].op = GRPC_OP_SEND_MESSAGE;
                ops[n].data.send_message.send_message = last;
                n++;
        }
        if (c->has_status_details)
                grpc_slice_unref(c->status_details);
        c->status_details = grpc_slice_from_copied_string(message ? message : "");
        c->has_status_details = true;
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = code;
        ops[n].data.send_status_from_server.status_details =
                code == GRPC_STATUS_OK ? NULL : &c->status_details;
        n++;
        start_batch(c, ops, n, &c->op_status);
}

/* --- handler side ------------------------------------------------------------------------- */

const char *rpc_call_method(const struct rpc_call *c)
{
        return c->method_path;
}

int64_t rpc_call_deadline_remaining_ms(const struct rpc_call *c)
{
        gpr_timespec dl = gpr_convert_clock_type(c->details.deadline, GPR_CLOCK_MONOTONIC);
        if (gpr_time_cmp(dl, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 0)
                return INT64_MAX;
        gpr_timespec left = gpr_time_sub(dl, gpr_now(GPR_CLOCK_MONOTONIC));
        int64_t ms = (int64_t)left.tv_sec * 1000 + left.tv_nsec / 1000000;
        return ms < 0 ? 0 : ms;
}

bool rpc_call_is_done(struct rpc_call *c)
{
        pthread_mutex_lock(&c->lock);
        bool done = c->closed;
        pthread_mutex_unlock(&c->lock);
        return done || atomic_load(&c->srv->stopping) || rpc_call_deadline_remaining_ms(c) == 0;
}

/* End a unary call once: status CODE with MESSAGE, and reply LAST (taken) when OK. */
static int answer(struct rpc_call *c, grpc_status_code code, const char *message,
                  grpc_byte_buffer *last)
{
        _cleanup_byte_buffer_ grpc_byte_buffer *owned = last;
        pthread_mutex_lock(&c->lock);
        int r = c->answered ? -EALREADY : c->closed ? -EPIPE : 0;
        if (r == 0)
                send_status_locked(c, code, message, TAKE_PTR(owned));
        pthread_mutex_unlock(&c->lock);
        return r;
}

int rpc_call_reply(struct rpc_call *c, const ProtobufCMessage *msg)
{
        return answer(c, GRPC_STATUS_OK, NULL, rpc_pack(msg));
}

int rpc_call_fail(struct rpc_call *c, grpc_status_code code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *msg = hd_vasprintf(fmt, ap);
        va_end(ap);
        return answer(c, code == GRPC_STATUS_OK ? GRPC_STATUS_UNKNOWN : code, msg, NULL);
}

/* Start sending the head of the stream queue. Call with c->lock held and nothing in flight. */
static void stream_kick_locked(struct rpc_call *c)
{
        struct pending_msg *m = c->queue_head;
        if (!m) {
                if (c->finish_pending && !c->answered)
                        send_status_locked(c, c->finish_code, c->finish_message, NULL);
                return;
        }
        c->queue_head = m->next;
        if (!c->queue_head)
                c->queue_tail = NULL;
        c->queue_len--;
        c->inflight = m->buf;
        free(m);

        grpc_op ops[2];
        size_t n = 0;
        memset(ops, 0, sizeof(ops));
        if (!c->md_sent) {
                ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
                c->md_sent = true;
        }
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = c->inflight;
        n++;
        c->send_in_flight = start_batch(c, ops, n, &c->op_send);
        if (!c->send_in_flight) {
                grpc_byte_buffer_destroy(c->inflight);
                c->inflight = NULL;
        }
}

int rpc_stream_send(struct rpc_call *c, const ProtobufCMessage *msg)
{
        _cleanup_byte_buffer_ grpc_byte_buffer *bb = rpc_pack(msg);
        pthread_mutex_lock(&c->lock);
        if (c->closed || c->answered || c->finish_pending || atomic_load(&c->srv->stopping)) {
                pthread_mutex_unlock(&c->lock);
                return -EPIPE;
        }
        struct pending_msg *m = hd_malloc0(sizeof(*m));
        m->buf = TAKE_PTR(bb);
        if (c->queue_tail)
                c->queue_tail->next = m;
        else
                c->queue_head = m;
        c->queue_tail = m;
        c->queue_len++;
        /* Streams carry full snapshots: when the client reads slowly, older ones can go. */
        while (c->queue_len > c->srv->opts.stream_queue_max) {
                struct pending_msg *old = c->queue_head;
                c->queue_head = old->next;
                c->queue_len--;
                grpc_byte_buffer_destroy(old->buf);
                free(old);
        }
        if (!c->send_in_flight)
                stream_kick_locked(c);
        pthread_mutex_unlock(&c->lock);
        return 0;
}

int rpc_stream_finish(struct rpc_call *c, grpc_status_code code, const char *message)
{
        pthread_mutex_lock(&c->lock);
        int r = 0;
        if (c->closed || c->answered || c->finish_pending) {
                r = -EPIPE;
        } else {
                c->finish_pending = true;
                c->finish_code = code;
                c->finish_message = hd_strdup(message ? message : "");
                if (!c->send_in_flight)
                        stream_kick_locked(c);
        }
        pthread_mutex_unlock(&c->lock);
        return r;
}

/* --- dispatch ----------------------------------------------------------------------------- */

struct handler_job {
        struct rpc_call *call;
        ProtobufCMessage *request;
};

static void handler_job_run(void *arg)
{
        struct handler_job *job = arg;
        struct rpc_call *c = job->call;
        const struct rpc_method *m = c->method;

        if (rpc_call_is_done(c)) {
                rpc_call_fail(c, GRPC_STATUS_DEADLINE_EXCEEDED,
                              "call ended before a worker picked it up");
        } else if (m->kind == RPC_UNARY) {
                m->handler(c, job->request, m->userdata);
                /* No answer: a handler that gave up on an expired call gets the status the
                 * client would see anyway; anything else is a handler bug. */
                if (rpc_call_is_done(c))
                        rpc_call_fail(c, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline exceeded");
                else if (rpc_call_fail(c, GRPC_STATUS_INTERNAL, "handler for %s returned no reply",
                                       c->method_path) == 0)
                        hd_log_v(1, "rpc: handler returned no reply", "method", c->method_path);
        } else {
                /* Decide under the lock whether the stream is still alive: on_close() reads
                 * stream_open under the same lock, so stream_closed runs exactly once for
                 * every stream whose handler ran. */
                pthread_mutex_lock(&c->lock);
                bool alive = !c->closed;
                c->stream_open = alive;
                pthread_mutex_unlock(&c->lock);
                if (alive)
                        m->handler(c, job->request, m->userdata);
        }
        protobuf_c_message_free_unpacked(job->request, NULL);
        free(job);
        rpc_call_unref(c);
}

static void stream_closed_run(void *arg)
{
        struct rpc_call *c = arg;
        if (c->method->stream_closed)
                c->method->stream_closed(c, c->method->userdata);
        rpc_call_unref(c);
}

static const struct rpc_method *method_lookup(struct rpc_server *srv, const char *path)
{
        for (size_t i = 0; i < srv->n_methods; i++)
                if (strcmp(srv->methods[i].path, path) == 0)
                        return &srv->methods[i];
        return NULL;
}

static void post_request(struct rpc_server *srv)
{
        if (atomic_load(&srv->stopping))
                return;
        struct rpc_call *c = call_new(srv);
        grpc_call_error err =
                grpc_server_request_call(srv->server, &c->call, &c->details, &c->request_md,
                                         srv->cq, srv->cq, &c->op_request);
        if (err != GRPC_CALL_OK) {
                hd_log_v(4, "rpc: request_call failed", "err", HD_INT(err));
                call_destroy(c);
        }
}

static void on_request(struct rpc_call *c, bool ok)
{
        struct rpc_server *srv = c->srv;
        if (!ok) { /* server shutting down: this slot never got a call */
                if (c->call)
                        grpc_call_unref(c->call);
                c->call = NULL;
                call_destroy(c);
                return;
        }
        pthread_mutex_lock(&srv->state_lock);
        srv->live_calls++;
        pthread_mutex_unlock(&srv->state_lock);
        post_request(srv);

        rpc_call_ref(c); /* held until this function is done starting batches */
        c->method_path = hd_strndup((const char *)GRPC_SLICE_START_PTR(c->details.method),
                                    GRPC_SLICE_LENGTH(c->details.method));
        c->method = method_lookup(srv, c->method_path);

        grpc_op close_op = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
        close_op.data.recv_close_on_server.cancelled = &c->cancelled;
        start_batch(c, &close_op, 1, &c->op_close);

        if (!c->method) {
                hd_log_v(4, "rpc: unknown method", "method", c->method_path);
                pthread_mutex_lock(&c->lock);
                _cleanup_free_ char *msg = hd_asprintf("unknown method %s", c->method_path);
                send_status_locked(c, GRPC_STATUS_UNIMPLEMENTED, msg, NULL);
                pthread_mutex_unlock(&c->lock);
        } else {
                grpc_op recv = {.op = GRPC_OP_RECV_MESSAGE};
                recv.data.recv_message.recv_message = &c->recv_buf;
                start_batch(c, &recv, 1, &c->op_recv);
        }
        rpc_call_unref(c);
}

static void on_recv(struct rpc_call *c, bool ok)
{
        if (!ok || !c->recv_buf) {
                rpc_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "no request message for %s",
                              c->method_path);
                return;
        }
        grpc_byte_buffer_reader reader;
        if (!grpc_byte_buffer_reader_init(&reader, c->recv_buf)) {
                rpc_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "unreadable request for %s",
                              c->method_path);
                return;
        }
        grpc_slice s = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);
        grpc_byte_buffer_destroy(c->recv_buf);
        c->recv_buf = NULL;
        _cleanup_message_ ProtobufCMessage *req = protobuf_c_message_unpack(
                c->method->request, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
        grpc_slice_unref(s);
        if (!req) {
                rpc_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "cannot decode request for %s as %s",
                              c->method_path, c->method->request->name);
                return;
        }
        _cleanup_free_ struct handler_job *job = hd_malloc0(sizeof(*job));
        job->call = rpc_call_ref(c);
        job->request = req;
        if (rpc_workqueue_push(c->srv->wq, handler_job_run, job) < 0) {
                rpc_call_fail(c, GRPC_STATUS_UNAVAILABLE, "server is stopping");
                rpc_call_unref(c);
                return;
        }
        /* handler_job_run() owns the job and the request now */
        (void)TAKE_PTR(job);
        (void)TAKE_PTR(req);
}

static void on_close(struct rpc_call *c)
{
        pthread_mutex_lock(&c->lock);
        c->closed = true;
        bool owe_closed_cb = c->stream_open;
        c->stream_open = false;
        pthread_mutex_unlock(&c->lock);
        if (owe_closed_cb) {
                rpc_call_ref(c);
                if (rpc_workqueue_push(c->srv->wq, stream_closed_run, c) < 0)
                        stream_closed_run(c); /* pool gone: only during teardown */
        }
}

static void on_send(struct rpc_call *c, bool ok)
{
        pthread_mutex_lock(&c->lock);
        grpc_byte_buffer_destroy(c->inflight);
        c->inflight = NULL;
        c->send_in_flight = false;
        if (ok && !c->closed)
                stream_kick_locked(c);
        pthread_mutex_unlock(&c->lock);
}

static void *cq_main(void *p)
{
        struct rpc_server *srv = p;
        pthread_setname_np(pthread_self(), "rpc-cq");
        for (;;) {
                grpc_event ev = grpc_completion_queue_next(
                        srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
                if (ev.type == GRPC_QUEUE_SHUTDOWN)
                        break;
                if (ev.type != GRPC_OP_COMPLETE)
                        continue;
                struct op *op = ev.tag;
                struct rpc_call *c = op->call;
                switch (op->kind) {
                case OP_SHUTDOWN:
                        pthread_mutex_lock(&srv->state_lock);
                        srv->shutdown_done = true;
                        pthread_cond_broadcast(&srv->state_cond);
                        pthread_mutex_unlock(&srv->state_lock);
                        continue;
                case OP_REQUEST:
                        on_request(c, ev.success);
                        continue; /* no batch reference to drop */
                case OP_RECV:
                        on_recv(c, ev.success);
                        break;
                case OP_CLOSE:
                        on_close(c);
                        break;
                case OP_SEND:
                        on_send(c, ev.success);
                        break;
                case OP_STATUS:
                        break;
                }
                rpc_call_unref(c);
        }
        return NULL;
}

/* --- server ------------------------------------------------------------------------------- */

int rpc_server_new(const char *path, const struct rpc_method *methods, size_t n,
                   const struct rpc_server_options *opts, struct rpc_server **ret,
                   struct hd_error *reterr)
{
        if (!path || path[0] != '/')
                return hd_error_setf(reterr, EINVAL, "socket path '%s' is not absolute",
                                     path ? path : "");
        for (size_t i = 0; i < n; i++) {
                const struct rpc_method *m = &methods[i];
                if (!m->path || m->path[0] != '/' || !m->request || !m->handler)
                        return hd_error_setf(reterr, EINVAL, "method table entry %zu is incomplete",
                                             i);
                for (size_t j = 0; j < i; j++)
                        if (strcmp(methods[j].path, m->path) == 0)
                                return hd_error_setf(reterr, EINVAL, "method %s listed twice",
                                                     m->path);
        }
        struct rpc_server *srv = hd_malloc0(sizeof(*srv));
        atomic_init(&srv->refs, 1);
        srv->path = hd_strdup(path);
        srv->methods = hd_new0(struct rpc_method, n);
        memcpy(srv->methods, methods, n * sizeof(*methods));
        srv->n_methods = n;
        if (opts)
                srv->opts = *opts;
        if (!srv->opts.workers)
                srv->opts.workers = 4;
        if (srv->opts.max_message_bytes <= 0)
                srv->opts.max_message_bytes = 16 * 1024 * 1024;
        if (!srv->opts.stream_queue_max)
                srv->opts.stream_queue_max = 16;
        if (srv->opts.stop_timeout_ms <= 0)
                srv->opts.stop_timeout_ms = 30000;
        atomic_init(&srv->stopping, false);
        pthread_mutex_init(&srv->batch_lock, NULL);
        pthread_mutex_init(&srv->state_lock, NULL);
        pthread_cond_init(&srv->state_cond, NULL);
        srv->shutdown_op = (struct op){OP_SHUTDOWN, NULL};
        grpc_init();
        *ret = srv;
        return 0;
}

const char *rpc_server_path(const struct rpc_server *srv)
{
        return srv->path;
}

unsigned rpc_server_live_calls(struct rpc_server *srv)
{
        pthread_mutex_lock(&srv->state_lock);
        unsigned n = srv->live_calls;
        pthread_mutex_unlock(&srv->state_lock);
        return n;
}

int rpc_server_start(struct rpc_server *srv, struct hd_error *reterr)
{
        if (srv->started)
                return hd_error_setf(reterr, EALREADY, "server for '%s' already started",
                                     srv->path);
        int r = rpc_socket_prepare(srv->path, reterr);
        if (r < 0)
                return r;
        _cleanup_(rpc_socket_stage_done) struct rpc_socket_stage stage = {0};
        r = rpc_socket_stage_new(srv->path, &stage, reterr);
        if (r < 0)
                return r;

        grpc_arg args[2] = {
                {.type = GRPC_ARG_INTEGER,
                 .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                 .value.integer = srv->opts.max_message_bytes},
                {.type = GRPC_ARG_INTEGER,
                 .key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
                 .value.integer = srv->opts.max_message_bytes},
        };
        grpc_channel_args chargs = {.num_args = 2, .args = args};
        srv->server = grpc_server_create(&chargs, NULL);
        srv->cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(srv->server, srv->cq, NULL);

        _cleanup_free_ char *addr = hd_asprintf("unix:%s", stage.path);
        grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
        int port = grpc_server_add_http2_port(srv->server, addr, creds);
        grpc_server_credentials_release(creds);
        if (port == 0) {
                r = hd_error_setf(reterr, EADDRNOTAVAIL, "cannot listen on '%s'", srv->path);
                goto fail;
        }
        /* The socket exists now but accepts nothing until grpc_server_start(); it gets its
         * public name only once it is 0600. */
        r = rpc_socket_publish(&stage, srv->path, &srv->sock_ino, reterr);
        if (r < 0)
                goto fail;

        r = rpc_workqueue_new(srv->opts.workers, &srv->wq, reterr);
        if (r < 0)
                goto fail;
        grpc_server_start(srv->server);
        if (pthread_create(&srv->cq_thread, NULL, cq_main, srv) != 0) {
                r = hd_error_setf(reterr, EAGAIN, "cannot start completion-queue thread");
                srv->started = true;
                rpc_server_stop(srv);
                return r;
        }
        srv->cq_thread_started = true;
        srv->started = true;
        for (int i = 0; i < REQUESTS_IN_FLIGHT; i++)
                post_request(srv);
        return 0;
fail:
        grpc_server_destroy(srv->server);
        srv->server = NULL;
        grpc_completion_queue_shutdown(srv->cq);
        while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
                ;
        grpc_completion_queue_destroy(srv->cq);
        srv->cq = NULL;
        srv->wq = rpc_workqueue_free(srv->wq);
        return r;
}

void rpc_server_stop(struct rpc_server *srv)
{
        if (!srv || !srv->started || srv->stopped)
                return;
        srv->stopped = true;
        atomic_store(&srv->stopping, true);

        /* The order the core requires: shutdown_and_notify, cancel_all_calls, wait for the
         * tag, destroy the server, then shut down and drain the completion queue. */
        grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_op);
        grpc_server_cancel_all_calls(srv->server);

        struct timespec until = hd_deadline_after_ms(CLOCK_REALTIME, srv->opts.stop_timeout_ms);
        pthread_mutex_lock(&srv->state_lock);
        while (srv->cq_thread_started && !srv->shutdown_done)
                if (pthread_cond_timedwait(&srv->state_cond, &srv->state_lock, &until) == ETIMEDOUT)
                        break;
        /* Cancelled calls finish through the CQ thread and the workers (stream_closed
         * callbacks drop handler references). A call still referenced after the timeout keeps
         * the server object alive (see struct rpc_server) and only ever sees -EPIPE. */
        while (srv->live_calls > 0)
                if (pthread_cond_timedwait(&srv->state_cond, &srv->state_lock, &until) ==
                    ETIMEDOUT) {
                        hd_log_v(1, "rpc: calls still referenced at shutdown", "calls",
                                 HD_INT(srv->live_calls));
                        break;
                }
        pthread_mutex_unlock(&srv->state_lock);

        srv->wq = rpc_workqueue_free(srv->wq);
        grpc_server_destroy(srv->server);
        srv->server = NULL;

        pthread_mutex_lock(&srv->batch_lock);
        srv->cq_shut = true;
        pthread_mutex_unlock(&srv->batch_lock);
        grpc_completion_queue_shutdown(srv->cq);
        if (srv->cq_thread_started)
                pthread_join(srv->cq_thread, NULL);
        else
                while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                               .type != GRPC_QUEUE_SHUTDOWN)
                        ;
        grpc_completion_queue_destroy(srv->cq);
        srv->cq = NULL;
        rpc_socket_remove(srv->path, srv->sock_ino);
}

struct rpc_server *rpc_server_free(struct rpc_server *srv)
{
        if (!srv)
                return NULL;
        rpc_server_stop(srv);
        server_unref(srv);
        return NULL;
}
