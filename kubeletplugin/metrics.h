/* SPDX-License-Identifier: Apache-2.0 */
/* Plugin metrics in Prometheus text format, and the HTTP endpoint serving /metrics and /healthz
 * (libmicrohttpd). Every kp_metrics_* recorder accepts a NULL metrics object and does nothing. */
#pragma once

#include <stdbool.h>

struct hd_error;
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

/* The exposition text. Caller frees. */
char *kp_metrics_render(struct kp_metrics *m);

/* /healthz check: return 0 when healthy, else -errno with a reason in RETERR. */
typedef int (*kp_healthz_cb)(void *userdata, struct hd_error *reterr);

struct kp_http;

/* Serve GET /metrics and /healthz on ADDR ("host:port" or ":port"; port 0 picks a free one).
 * *RET_PORT gets the bound port. */
int kp_http_start(const char *addr, struct kp_metrics *m, kp_healthz_cb healthz, void *userdata,
                  struct kp_http **ret, unsigned *ret_port, struct hd_error *reterr);
struct kp_http *kp_http_stop(struct kp_http *h);
