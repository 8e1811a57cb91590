/* SPDX-License-Identifier: Apache-2.0 */
#include "controller/metrics.h"

#include <stddef.h>

#include "base/strutil.h"

struct metric {
        const char *name, *type, *help;
        size_t offset; /* of a uint64_t in the snapshot */
};

#define M(name, type, field, help)                                             \
        {                                                                      \
                name, type, help, offsetof(struct ctl_metrics_snapshot, field) \
        }
static const struct metric metrics[] = {
        M("hostdev_controller_claims_tracked", "gauge", claims_tracked,
          "ResourceClaims holding at least one device of the driver."),
        M("hostdev_controller_allocations", "gauge", allocations,
          "Allocation results of the driver over all tracked claims."),
        M("hostdev_controller_nodes", "gauge", nodes, "Nodes (pools) the controller knows."),
        M("hostdev_controller_claim_events_total", "counter", claim_events,
          "ResourceClaim adds, updates and deletes handled."),
        M("hostdev_controller_slice_events_total", "counter", slice_events,
          "ResourceSlice adds, updates and deletes handled."),
        M("hostdev_controller_malformed_objects_total", "counter", malformed,
          "Claims and slices that could not be decoded (the last good version is kept)."),
        M("hostdev_controller_watch_restarts_total", "counter", watch_restarts,
          "List or watch failures the informers retried."),
        M("hostdev_controller_ledger_writes_total", "counter", ledger_writes,
          "Ledger objects created or status updates written."),
        M("hostdev_controller_ledger_unchanged_total", "counter", ledger_skipped,
          "Ledger renders that matched what was written and were not sent."),
        M("hostdev_controller_ledger_write_failures_total", "counter", ledger_failures,
          "Failed ledger write attempts (each retried)."),
        M("hostdev_controller_ledger_write_conflicts_total", "counter", ledger_conflicts,
          "Ledger writes answered 409 Conflict and retried after a fresh read."),
        M("hostdev_controller_ledger_pending_nodes", "gauge", ledger_pending,
          "Nodes whose ledger waits for a write."),
        M("hostdev_controller_device_conflicts", "gauge", device_conflicts,
          "Devices held by two claims without admin access (per pair of claims)."),
        M("hostdev_controller_events_total", "counter", events, "Warning Events emitted."),
        M("hostdev_controller_heap_bytes", "gauge", heap_bytes,
          "Heap bytes in use (allocated and not freed), from mallinfo2()."),
        M("hostdev_controller_leader_acquired_total", "counter", leader_acquired,
          "Times this replica started leading (took or renewed the Lease after a lapse)."),
        M("hostdev_controller_leader_lost_total", "counter", leader_lost,
          "Times this replica stopped leading (renew deadline passed, taken over, stopped)."),
        M("hostdev_controller_lease_transitions", "gauge", lease_transitions,
          "spec.leaseTransitions of the election Lease as last read (leader changes)."),
        M("hostdev_controller_event_creates_total", "counter", event_creates,
          "Events created by the recorder."),
        M("hostdev_controller_event_series_updates_total", "counter", event_updates,
          "Repeated occurrences written as a series update of an existing Event."),
        M("hostdev_controller_events_dropped_total", "counter", events_dropped,
          "Event occurrences given up after every attempt failed, or with the cache full."),
};
#undef M

char *ctl_metrics_render(const struct ctl_metrics_snapshot *s)
{
        struct hd_strbuf b = HD_STRBUF_INIT;
        for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
                const struct metric *m = &metrics[i];
                uint64_t v = *(const uint64_t *)((const char *)s + m->offset);
                hd_strbuf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n%s{driver=\"%s\"} %llu\n",
                                 m->name, m->help, m->name, m->type, m->name, s->driver,
                                 (unsigned long long)v);
        }
        hd_strbuf_printf(&b,
                         "# HELP hostdev_controller_leader 1 while this replica leads.\n"
                         "# TYPE hostdev_controller_leader gauge\n"
                         "hostdev_controller_leader{driver=\"%s\"} %d\n"
                         "# HELP hostdev_controller_ready 1 after the first full sync.\n"
                         "# TYPE hostdev_controller_ready gauge\n"
                         "hostdev_controller_ready{driver=\"%s\"} %d\n",
                         s->driver, s->leader, s->driver, s->ready);
        return hd_strbuf_take(&b);
}
