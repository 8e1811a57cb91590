/* SPDX-License-Identifier: Apache-2.0 */
/* The plugin's HTTP endpoint (libmicrohttpd): GET /metrics (the kp_metrics exposition text)
 * and /healthz (a caller-supplied check). */
#pragma once

struct hd_error;
struct kp_http;
struct kp_metrics;

/* /healthz check: return 0 when healthy, else -errno with a reason in RETERR. */
typedef int (*kp_http_healthz_cb)(void *userdata, struct hd_error *reterr);

/* Serve GET /metrics and /healthz on ADDR ("host:port" or ":port"; port 0 picks a free one).
 * *RET_PORT gets the bound port. */
int kp_http_start(const char *addr, struct kp_metrics *m, kp_http_healthz_cb healthz,
                  void *userdata, struct kp_http **ret, unsigned *ret_port,
                  struct hd_error *reterr);
struct kp_http *kp_http_stop(struct kp_http *h);
