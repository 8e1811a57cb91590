/* SPDX-License-Identifier: Apache-2.0 */
/* Leader election on a coordination.k8s.io/v1 Lease, with client-go's leaderelection semantics.
 *
 * One elector runs on its own thread. A candidate GETs the Lease every retry period; it takes
 * the Lease when it is absent (create), free (empty holderIdentity, what a clean release
 * leaves) or expired, and renews it while it holds it. "Expired" is judged on this process's
 * monotonic clock, never on the remote renewTime: a record that has not changed for
 * leaseDurationSeconds since we first saw it is expired (client-go's observedTime rule, immune
 * to clock skew between replicas). Writes are PUTs with the resourceVersion read; a 409 means
 * another replica wrote first, and the elector reads again at once (at most twice per tick).
 *
 * The leader stops leading AT ONCE when it has not renewed successfully for the renew deadline:
 * ctl_lease_is_leader() compares the monotonic clock with the start of the last successful
 * renewal plus the renew deadline, so it turns false on time even while the elector thread is
 * stuck in a slow request. The writer calls it before every write. The change callback comes
 * from a second, small notifier thread that wakes at the renew deadline by itself, so it too is
 * on time (a flag the callback sets is as good as calling ctl_lease_is_leader(), give or take
 * the thread's wake-up).
 *
 * ctl_lease_stop() releases a held Lease the way client-go's ReleaseOnCancel does (empty
 * holderIdentity, leaseDurationSeconds 1) so a standby takes over within one retry period. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct kube_client;
struct hd_error;

/* Defaults, as client-go's leader election in kube-controller-manager. */
#define CTL_LEASE_DURATION_MS 15000
#define CTL_LEASE_RENEW_DEADLINE_MS 10000
#define CTL_LEASE_RETRY_PERIOD_MS 2000
/* holderIdentity length we write (the controller's reportingInstance shares it). */
#define CTL_LEASE_IDENTITY_MAX 128

struct ctl_lease;

/* Called on the notifier thread (one at a time, in order) when this process starts (true) or
 * stops (false) leading. Must not call ctl_lease_stop()/_free(). */
typedef void (*ctl_lease_changed_cb)(bool leading, void *userdata);

struct ctl_lease_options {
        const char *namespace; /* Lease namespace (DNS label) */
        const char *name;      /* Lease name (DNS subdomain, e.g. "<driver>-controller") */
        const char *identity;  /* holderIdentity; NULL = ctl_lease_default_identity() */
        int lease_duration_ms; /* 0 = CTL_LEASE_DURATION_MS; written in whole seconds */
        int renew_deadline_ms; /* 0 = CTL_LEASE_RENEW_DEADLINE_MS; must be < lease duration */
        int retry_period_ms;   /* 0 = CTL_LEASE_RETRY_PERIOD_MS; must be < renew deadline */
        bool no_release;       /* true: leave the Lease to expire on stop (tests) */
        ctl_lease_changed_cb changed_cb;
        void *userdata;
};

/* Counters for /metrics and tests. */
struct ctl_lease_stats {
        bool leader;               /* ctl_lease_is_leader() */
        uint64_t acquired;         /* times the callback was told "leading" */
        uint64_t lost;             /* times it was told "stopped" (deadline, take-over, stop) */
        uint64_t renew_failures;   /* failed attempts while leading */
        int64_t lease_transitions; /* spec.leaseTransitions last seen, -1 before any read */
        char holder[CTL_LEASE_IDENTITY_MAX + 1]; /* holderIdentity last seen, "" = none */
};

/* "<POD_NAME or hostname>_<16 hex random>", at most CTL_LEASE_IDENTITY_MAX bytes. Caller frees. */
char *ctl_lease_default_identity(void);

/* Create an elector (not started) on C, which must outlive it. Options are copied; invalid
 * names or timings (renew deadline >= duration, retry >= deadline) → -EINVAL with a message. */
int ctl_lease_new(struct kube_client *c, const struct ctl_lease_options *opts,
                  struct ctl_lease **ret, struct hd_error *reterr);
/* Start the elector thread (once). */
int ctl_lease_start(struct ctl_lease *l, struct hd_error *reterr);
/* Stop the thread; if leading, stop leading first (callback), then release the Lease.
 * Idempotent. Must not be called from the callback. */
void ctl_lease_stop(struct ctl_lease *l);
/* Stop and free. Takes NULL; returns NULL. */
struct ctl_lease *ctl_lease_free(struct ctl_lease *l);

/* true while this process holds the Lease and its last renewal is younger than the renew
 * deadline. Cheap (one mutex, one clock read); thread-safe. NULL → false. */
bool ctl_lease_is_leader(struct ctl_lease *l);
/* The identity this elector writes. Borrowed, valid until free. */
const char *ctl_lease_identity(const struct ctl_lease *l);
/* Snapshot of the counters. */
void ctl_lease_get_stats(struct ctl_lease *l, struct ctl_lease_stats *ret);

/* ---- the decision, pure (unit-tested with an injected clock) ------------------------------- */

/* The spec of a Lease as read. Strings borrowed from the JSON they came from. */
struct ctl_lease_record {
        const char *holder; /* NULL or "" = free */
        int64_t duration_s; /* leaseDurationSeconds; <= 0 treated as expired at once */
        int64_t transitions;
};

/* What a candidate remembers of the record it saw last: a copy of its spec and when (on the
 * local monotonic clock, ms) it first saw that exact spec. */
struct ctl_lease_observed {
        char *spec_json; /* compact, key-sorted JSON of the spec; NULL before the first read */
        int64_t observed_ms;
};

enum ctl_lease_verdict {
        CTL_LEASE_HELD_ELSEWHERE, /* another holder, not expired: wait */
        CTL_LEASE_RENEW,          /* ours: renew (acquireTime, transitions unchanged) */
        CTL_LEASE_TAKE_OVER,      /* free or expired: take it, transitions + 1 */
};

/* Record SPEC_JSON as seen at NOW_MS: the observed time moves only when the spec changed. */
void ctl_lease_observe(struct ctl_lease_observed *o, const char *spec_json, int64_t now_ms);
/* Release the copy. */
void ctl_lease_observed_done(struct ctl_lease_observed *o);
/* The verdict for REC (observed per O) for IDENTITY at NOW_MS. */
enum ctl_lease_verdict ctl_lease_decide(const struct ctl_lease_record *rec,
                                        const struct ctl_lease_observed *o, const char *identity,
                                        int64_t now_ms);
/* When (local ms) REC, as observed per O, expires. */
int64_t ctl_lease_expiry_ms(const struct ctl_lease_record *rec, const struct ctl_lease_observed *o);

/* Format UNIX time (µs) as a MicroTime, "2006-01-02T15:04:05.000000Z", into BUF. */
void ctl_format_micro_time(int64_t unix_us, char buf[static 32]);
