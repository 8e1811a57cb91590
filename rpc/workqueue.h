/* SPDX-License-Identifier: Apache-2.0 */
/* A fixed pool of worker threads running queued jobs in FIFO order. gRPC handlers run here so the
 * completion-queue thread never blocks on HTTP or fsync. */
#pragma once

#include <stddef.h>

struct rpc_workqueue;

typedef void (*rpc_job_cb)(void *arg);

struct hd_error;

/* Start NTHREADS workers (clamped to 1..64) into *RET. Returns 0, or -errno with RETERR set when
 * a thread cannot be created (nothing is left running then). */
int rpc_workqueue_new(unsigned nthreads, struct rpc_workqueue **ret, struct hd_error *reterr);

/* Queue FN(ARG). Returns 0, or -ESHUTDOWN once rpc_workqueue_free() has begun (FN not run). */
int rpc_workqueue_push(struct rpc_workqueue *wq, rpc_job_cb fn, void *arg);

/* Jobs queued or running right now. */
size_t rpc_workqueue_pending(struct rpc_workqueue *wq);

/* Run every job already queued, join the workers and free the pool. Takes NULL; returns NULL. */
struct rpc_workqueue *rpc_workqueue_free(struct rpc_workqueue *wq);
