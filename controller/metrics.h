/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's /metrics: a snapshot of its counters rendered in the Prometheus text
 * format. Pure: the controller gathers the snapshot, this formats it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct ctl_metrics_snapshot {
        const char *driver;
        uint64_t claims_tracked;    /* claims holding one of our devices */
        uint64_t allocations;       /* our results over all claims */
        uint64_t nodes;             /* nodes with a ledger model */
        uint64_t claim_events;      /* informer add/update/delete of claims */
        uint64_t slice_events;      /* same for slices */
        uint64_t malformed;         /* objects that could not be decoded */
        uint64_t watch_restarts;    /* list/watch failures retried by the informers */
        uint64_t ledger_writes;     /* ledger creates + status updates */
        uint64_t ledger_skipped;    /* renders that changed nothing */
        uint64_t ledger_failures;   /* failed write attempts (retried) */
        uint64_t ledger_conflicts;  /* 409 retries */
        uint64_t ledger_pending;    /* nodes waiting for a write */
        uint64_t device_conflicts;  /* current conflicting (device, claim pair)s */
        uint64_t events;            /* Warning Events emitted */
        uint64_t heap_bytes;        /* malloc-ed bytes in use (glibc mallinfo2) */
        uint64_t leader_acquired;   /* times this replica started leading */
        uint64_t leader_lost;       /* times it stopped (renew deadline, take-over, stop) */
        uint64_t lease_transitions; /* spec.leaseTransitions of the Lease as last read */
        uint64_t event_creates;     /* Events created by the recorder */
        uint64_t event_updates;     /* series updates (PATCH) of existing Events */
        uint64_t events_dropped;    /* occurrences given up (attempts exhausted, cache full) */
        bool leader, ready;
};

/* The exposition text. Caller frees. */
char *ctl_metrics_render(const struct ctl_metrics_snapshot *s);
