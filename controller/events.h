/* SPDX-License-Identifier: Apache-2.0 */
/* Event recorder: best-effort Kubernetes Events about the objects the controller checks.
 *
 * ctl_events_record() never blocks on the network: it files the occurrence in a bounded cache
 * keyed by (regarding object, type, reason, action, note) and a worker thread writes it.
 *   - The first occurrence creates an Event named "<regarding-name>.<hex>" in the regarding
 *     object's namespace (events.k8s.io/v1, or core v1 when discovery says the group is not
 *     served), reportingController "<driver>/controller".
 *   - Further occurrences of the same key update that one Event's series (count,
 *     lastObservedTime) with a merge PATCH, like client-go's EventSeries; occurrences that pile
 *     up while a write is pending go out together in one PATCH. After CTL_EVENTS_SERIES_IDLE_MS
 *     without an occurrence the next one starts a new Event (the server's TTL may have removed
 *     the old one; a PATCH answered 404 also starts a new Event).
 *   - Writes pass a token bucket (qps/burst). A failed write is tried CTL_EVENTS_ATTEMPTS_MAX
 *     times in all, then dropped with a warning and counted: Events are best-effort, unlike the
 *     ledger.
 *   - The cache holds at most CTL_EVENTS_CACHE_MAX keys; the least recently used key without a
 *     pending write makes room. When every key has a pending write the new occurrence is
 *     dropped and counted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kube_client;
struct hd_error;

#define CTL_EVENTS_CACHE_MAX 4096
#define CTL_EVENTS_ATTEMPTS_MAX 3
#define CTL_EVENTS_SERIES_IDLE_MS (6 * 60 * 1000)
/* the API server's limits (events.k8s.io/v1 validation) */
#define CTL_EVENTS_NOTE_MAX 1024
#define CTL_EVENTS_FIELD_MAX 128 /* reason, action, reportingInstance */

struct ctl_events;

/* The object an Event is about (strings borrowed). NAMESPACE must be a DNS label: it is the
 * Event's namespace too. */
struct ctl_event_ref {
        const char *api_version; /* "resource.k8s.io/v1" */
        const char *kind;        /* "ResourceClaim" */
        const char *namespace;
        const char *name;
        const char *uid;
};

enum ctl_event_type { CTL_EVENT_NORMAL, CTL_EVENT_WARNING };

struct ctl_events_options {
        const char *driver_name; /* reportingController = "<driver_name>/controller" */
        const char *instance;    /* reportingInstance, e.g. the lease identity; cut to 128 */
        double qps;              /* writes per second; 0 = 5 */
        int burst;               /* 0 = 25 */
        size_t cache_max;        /* 0 = CTL_EVENTS_CACHE_MAX (and never more) */
        int retry_delay_ms;      /* first delay between attempts; 0 = 500, doubled each time */
        int series_idle_ms;      /* 0 = CTL_EVENTS_SERIES_IDLE_MS */
};

struct ctl_events_stats {
        uint64_t recorded;        /* occurrences accepted */
        uint64_t created;         /* Events created */
        uint64_t patched;         /* series updates written */
        uint64_t failed_attempts; /* writes that failed (and were retried or dropped) */
        uint64_t dropped;         /* occurrences lost: write attempts exhausted, cache full, bad
                                   * input */
        size_t cached;            /* keys in the cache */
};

/* Create a recorder on C (which must outlive it); not started. */
int ctl_events_new(struct kube_client *c, const struct ctl_events_options *opts,
                   struct ctl_events **ret, struct hd_error *reterr);
/* Start the writer thread. */
int ctl_events_start(struct ctl_events *ev, struct hd_error *reterr);
/* Stop the writer; occurrences not yet written are dropped (counted). Idempotent. */
void ctl_events_stop(struct ctl_events *ev);
/* Stop and free. Takes NULL; returns NULL. */
struct ctl_events *ctl_events_free(struct ctl_events *ev);

/* File one occurrence; thread-safe, never blocks on I/O. REASON and ACTION are UpperCamelCase
 * words (cut to 128 bytes), NOTE a printf format (the result cut to 1024 bytes on a UTF-8
 * boundary). EV NULL is a no-op. Returns 0, or -EINVAL for a REGARDING without namespace or
 * name, -ENOBUFS when the cache is full of pending writes (both counted as dropped). */
int ctl_events_record(struct ctl_events *ev, const struct ctl_event_ref *regarding,
                      enum ctl_event_type type, const char *reason, const char *action,
                      const char *note_fmt, ...) __attribute__((format(printf, 6, 7)));

void ctl_events_get_stats(struct ctl_events *ev, struct ctl_events_stats *ret);

/* Wait up to TIMEOUT_MS until nothing is pending or being written (tests, clean shutdown).
 * 0 or -ETIMEDOUT. */
int ctl_events_flush(struct ctl_events *ev, int timeout_ms);

/* ---- pure helpers (unit-tested) ----------------------------------------------------------- */

/* The dedup key of an occurrence. Caller frees. */
char *ctl_event_key(const struct ctl_event_ref *regarding, enum ctl_event_type type,
                    const char *reason, const char *action, const char *note);
/* "<name>.<hex of UNIQUE>", a DNS subdomain of at most 253 bytes (NAME cut, and stripped of a
 * trailing '-' or '.', when needed). Caller frees. */
char *ctl_event_name(const char *name, uint64_t unique);
/* Cut S in place to at most MAX bytes without splitting a UTF-8 sequence. */
void ctl_utf8_truncate(char *s, size_t max);

/* The bounded LRU of series, without locking or I/O. */
struct ctl_event_cache;
struct ctl_event_series {
        char *key;
        char *event_name;          /* NULL until an Event exists */
        int64_t count;             /* occurrences the Event shows */
        int64_t pending;           /* occurrences not yet written */
        bool busy;                 /* queued or being written: not evictable */
        int64_t first_us, last_us; /* wall clock of the first/last occurrence in this series */
        int64_t written_ms;        /* monotonic time of the last successful write */
        void *data;                /* the recorder's copy of the occurrence; freed by data_free */
};
struct ctl_event_cache *ctl_event_cache_new(size_t max, void (*data_free)(void *));
struct ctl_event_cache *ctl_event_cache_free(struct ctl_event_cache *c);
/* The series for KEY, created (zeroed, key copied) when absent. A new key evicts the least
 * recently used series that is not busy when the cache is full; NULL when all are busy.
 * *RET_NEW tells whether it was created. Marks the series most recently used. */
struct ctl_event_series *ctl_event_cache_get(struct ctl_event_cache *c, const char *key,
                                             bool *ret_new);
size_t ctl_event_cache_size(const struct ctl_event_cache *c);
