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
/* The mode chosen at start ("dra", "device-plugin"; copied): hostdev_plugin_mode{mode} 1. */
void kp_metrics_set_mode(struct kp_metrics *m, const char *mode);
/* The mode set above, or NULL (borrowed; it never changes once set, before serving). */
const char *kp_metrics_mode(struct kp_metrics *m);
/* Devices kept out of the ResourceSlices because device-plugin pods still hold them. */
void kp_metrics_set_withheld(struct kp_metrics *m, unsigned n);

/* The exposition text. Caller frees. */
char *kp_metrics_render(struct kp_metrics *m);
