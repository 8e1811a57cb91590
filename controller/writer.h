/* SPDX-License-Identifier: Apache-2.0 */
/* The ledger writer: per-node coalescing writes of HostDeviceLedger objects.
 *
 * ctl_writer_mark() records that a node changed. Worker threads pick nodes whose window has
 * passed (at most one write per node per window under churn), render them through the caller's
 * callback, skip the write when the content (the status without its timestamps) equals what
 * was last written or what the server holds, create the ledger with an ownerReference to its
 * Node when it is missing, and PUT the status subresource with the resourceVersion they read: a
 * 409 re-reads and retries, any other failure re-marks the node with backoff, so no change is
 * dropped. Nothing is written unless the writer is both ready (first full sync) and leading;
 * losing the lead stops writes at once (checked before every request). New conflicts and
 * missing devices found while rendering go to the event callback once per occurrence. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "controller/ledger.h"

struct hd_error;
struct kube_client;
struct ctl_writer;

#define CTL_LEDGER_GROUP "hostdev.example.com"
#define CTL_LEDGER_VERSION "v1alpha1"
#define CTL_LEDGER_RESOURCE "hostdeviceledgers"
#define CTL_LEDGER_KIND "HostDeviceLedger"
#define CTL_WRITER_WORKERS_MAX 64

/* Render NODE into *RET (see ctl_ledger_render(); the callback takes the model's lock). */
typedef int (*ctl_writer_render_cb)(const char *node, struct ctl_node_report *ret, void *userdata);
/* A Warning Event REASON with MESSAGE about CLAIM. */
typedef void (*ctl_writer_event_cb)(const struct ctl_claim_ref *claim, const char *reason,
                                    const char *message, void *userdata);

struct ctl_writer_options {
        struct kube_client *client; /* borrowed; outlives the writer */
        const char *driver;
        int window_ms;      /* coalescing window per node; 0 = 200 */
        int workers;        /* 0 = 4 */
        int backoff_max_ms; /* cap of the retry delay after failed writes; 0 = 10000 */
        ctl_writer_render_cb render_cb;
        ctl_writer_event_cb event_cb; /* may be NULL */
        /* Asked before every request on top of ctl_writer_set_leader(): false stops writes at
         * once (the lease's renew deadline). NULL = the flag alone. */
        bool (*leader_cb)(void *userdata);
        void *userdata;
};

struct ctl_writer_stats {
        uint64_t writes;       /* status updates and creates that succeeded */
        uint64_t skipped;      /* renders whose content was unchanged */
        uint64_t failures;     /* failed attempts (each retried later) */
        uint64_t conflicts409; /* optimistic-concurrency retries */
        uint64_t events;       /* events handed to the event callback */
        uint64_t pending;      /* nodes marked and not yet written */
        uint64_t conflicts;    /* conflicting (device, claim pair)s in the last renders */
};

int ctl_writer_new(const struct ctl_writer_options *opts, struct ctl_writer **ret,
                   struct hd_error *reterr);
/* Start the worker threads. */
int ctl_writer_start(struct ctl_writer *w, struct hd_error *reterr);
/* Stop and join the workers (an in-flight request finishes or fails first). Idempotent. */
void ctl_writer_stop(struct ctl_writer *w);
/* Stop and free. Takes NULL; returns NULL. */
struct ctl_writer *ctl_writer_free(struct ctl_writer *w);

/* NODE changed. Thread-safe; callable from the ledger's dirty callback. */
void ctl_writer_mark(struct ctl_writer *w, const char *node);
/* The informers have synced: writes may start. */
void ctl_writer_set_ready(struct ctl_writer *w, bool ready);
/* Gained (true) or lost (false) the lead. Gaining it forgets what was written before, so every
 * marked node is compared with the server again. */
void ctl_writer_set_leader(struct ctl_writer *w, bool leader);
bool ctl_writer_is_leader(struct ctl_writer *w);
void ctl_writer_stats(struct ctl_writer *w, struct ctl_writer_stats *ret);
/* Wait up to TIMEOUT_MS for no node to be pending or in flight: 0 or -ETIMEDOUT. */
int ctl_writer_wait_idle(struct ctl_writer *w, int timeout_ms);
