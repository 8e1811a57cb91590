/* SPDX-License-Identifier: Apache-2.0 */
/* The writer's state, shared by writer.c (scheduling) and ledger_write.c (one write). */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/cleanup-json.h"
#include "controller/writer.h"

/* One node. Scheduling fields are guarded by w->lock; the rest belongs to the worker that has
 * the node in flight (only one at a time). */
struct wnode {
        char *key; /* node name; first member (tsearch) */
        /* guarded by w->lock */
        bool dirty, inflight, forget;
        int64_t due_ms, last_write_ms;
        int failures;
        /* owned by the worker holding the node */
        bool have_hash;
        uint64_t hash;      /* of the status content last written or read */
        char *rv;           /* the ledger's resourceVersion, NULL = read it first */
        char *node_uid;     /* the Node's uid for the ownerReference */
        int64_t generation; /* the ledger's metadata.generation */
        bool conflict_true;
        char *conflict_since, *synced_since; /* lastTransitionTime of the conditions */
        json_t *emitted;                     /* finding keys already reported as Events */
        int64_t n_conflicts;
};

struct ctl_writer {
        struct ctl_writer_options o;
        char *driver;
        int window_ms, n_workers, backoff_max_ms;
        pthread_t *threads;
        int started;
        atomic_bool leader;

        pthread_mutex_t lock; /* guards everything below and wnode scheduling fields */
        pthread_cond_t wake, idle;
        bool ready, stopping;
        void *nodes; /* tree of struct wnode */
        uint64_t pending, inflight;
        struct ctl_writer_stats stats;
};

/* Whether writes may go out now: the lead flag and the caller's leader_cb. */
bool ctl_writer_leading(struct ctl_writer *w);
/* Monotonic milliseconds. */
int64_t ctl_now_ms(void);
/* Add N to the counter FIELD of w->stats under the lock. */
void ctl_writer_count(struct ctl_writer *w, uint64_t *field, int64_t n);
/* Forget what is known of the server's copy (after a change of leader). */
void ctl_wnode_forget(struct wnode *n);
/* Render and write node N: 1 written, 0 nothing to write, -errno (retry later). */
int ctl_writer_write_node(struct ctl_writer *w, struct wnode *n, struct hd_error *reterr);
