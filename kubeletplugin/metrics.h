/* SPDX-License-Identifier: Apache-2.0 */
/* Plugin metrics in Prometheus text format (served by http.h). Every kp_metrics_* recorder
 * accepts a NULL metrics object and does nothing. */
#pragma once

#include <stdbool.h>

struct kp_metrics;

enum kp_metric_op { KP_METRIC_PREPARE, KP_METRIC_UNPREPARE };

/* The steps of one prepare or unprepare, each its own histogram
 * (hostdev_phase_duration_seconds{phase=...}): the API server's share (claim_get) is apart from
 * the plugin's own (prepare_own = the whole prepare less claim_get). */
enum kp_phase {
        KP_PHASE_CLAIM_GET,    /* GET of the ResourceClaim (API server, rate limiter) */
        KP_PHASE_CLAIM_DECODE, /* decode it and its opaque configs */
        KP_PHASE_CKPT_STARTED, /* reserve: PrepareStarted saved (fsync) */
        KP_PHASE_SPEC_BUILD,   /* CDI spec built from the inventory */
        KP_PHASE_SPEC_WRITE,   /* CDI spec rendered and written (temp, fsync, rename) */
        KP_PHASE_CKPT_COMMIT,  /* PrepareCompleted saved (fsync) */
        KP_PHASE_PREPARE_OWN,  /* the whole prepare less claim_get */
        KP_PHASE_SPEC_REMOVE,  /* unprepare: CDI spec removed */
        KP_PHASE_CKPT_REMOVE,  /* unprepare: entry removed and saved */
        KP_PHASE_COUNT
};

struct kp_metrics *kp_metrics_new(const char *driver);
struct kp_metrics *kp_metrics_free(struct kp_metrics *m);

/* One claim prepared/unprepared (OK or not) in SECONDS. */
void kp_metrics_observe(struct kp_metrics *m, enum kp_metric_op op, bool ok, double seconds);
/* Monotonic clock in seconds, for the durations recorded here. */
double kp_metrics_now(void);

/* One step of a prepare or unprepare took SECONDS. */
void kp_metrics_phase(struct kp_metrics *m, enum kp_phase phase, double seconds);
/* A DRA call started (+1) or finished (-1). */
void kp_metrics_inflight(struct kp_metrics *m, int delta);
void kp_metrics_registered(struct kp_metrics *m, bool registered);
void kp_metrics_set_devices(struct kp_metrics *m, unsigned healthy, unsigned unhealthy);
void kp_metrics_set_prepared_claims(struct kp_metrics *m, unsigned n);
void kp_metrics_slice_publish(struct kp_metrics *m, bool ok);
/* The mode chosen at start ("dra", "device-plugin"; copied): hostdev_plugin_mode{mode} 1. */
void kp_metrics_set_mode(struct kp_metrics *m, const char *mode);
/* The mode set above, or NULL (borrowed; it never changes once set, before serving). */
const char *kp_metrics_mode(struct kp_metrics *m);
/* Devices kept out of the ResourceSlices because device-plugin pods still hold them. */
void kp_metrics_set_withheld(struct kp_metrics *m, unsigned n);

/* Device-plugin mode: one Allocate call answered (OK or not) after SECONDS. */
void kp_metrics_dp_allocate(struct kp_metrics *m, bool ok, double seconds);
/* Device-plugin mode: one Registration/Register call to the kubelet, accepted or not. */
void kp_metrics_dp_register(struct kp_metrics *m, bool ok);

/* The exposition text. Caller frees. */
char *kp_metrics_render(struct kp_metrics *m);
