/* SPDX-License-Identifier: Apache-2.0 */
/* Plugin metrics in Prometheus text format (served by http.h). Every kp_metrics_* recorder
 * accepts a NULL metrics object and does nothing. */
#pragma once

#include <stdbool.h>

struct kp_metrics;

enum kp_metric_op { KP_METRIC_PREPARE, KP_METRIC_UNPREPARE };

struct kp_metrics *kp_metrics_new(const char *driver);
struct kp_metrics *kp_metrics_free(struct kp_metrics *m);

/* One claim prepared/unprepared (OK or not) in SECONDS. */
void kp_metrics_observe(struct kp_metrics *m, enum kp_metric_op op, bool ok, double seconds);
/* A DRA call started (+1) or finished (-1). */
void kp_metrics_inflight(struct kp_metrics *m, int delta);
void kp_metrics_registered(struct kp_metrics *m, bool registered);
void kp_metrics_set_devices(struct kp_metrics *m, unsigned healthy, unsigned unhealthy);
void kp_metrics_set_prepared_claims(struct kp_metrics *m, unsigned n);
void kp_metrics_slice_publish(struct kp_metrics *m, bool ok);

/* Device-plugin mode: one Allocate call answered (OK or not) after SECONDS. */
void kp_metrics_dp_allocate(struct kp_metrics *m, bool ok, double seconds);
/* Device-plugin mode: one Registration/Register call to the kubelet, accepted or not. */
void kp_metrics_dp_register(struct kp_metrics *m, bool ok);

/* The exposition text. Caller frees. */
char *kp_metrics_render(struct kp_metrics *m);
