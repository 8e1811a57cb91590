/* SPDX-License-Identifier: Apache-2.0 */
/* hostdev-controller's start-up and main loop: API discovery, the ResourceClaim and
 * ResourceSlice informers feeding the ledger model, the ledger writer, leader election, the
 * event recorder and the /metrics, /healthz, /readyz endpoint. */
#pragma once

#include <stdbool.h>

struct hd_error;

struct ctl_controller_options {
        const char *kubeconfig;   /* NULL = in-cluster */
        const char *driver;       /* DRA driver name */
        const char *metrics_addr; /* NULL = no HTTP endpoint */
        const char *namespace;    /* of the Lease; NULL = the config's namespace, else "default" */
        bool leader_elect;
        const char *lease_name; /* NULL = "<driver>-controller" */
        int lease_duration_ms, renew_deadline_ms, retry_period_ms; /* 0 = client-go defaults */
        double kube_qps;                                           /* 0 = 100 */
        int kube_burst;                                            /* 0 = 200 */
        int write_window_ms; /* per-node coalescing window; 0 = 200 */
        int writers;         /* ledger writer threads; 0 = 4 */
        int watch_timeout_s; /* server-side timeout of each watch; 0 = 300 */
};

/* Run until SIGTERM or SIGINT (the caller blocks both in every thread first). Returns 0 after a
 * clean stop, or -errno when start-up fails (RETERR says why). */
int ctl_controller_run(const struct ctl_controller_options *o, struct hd_error *reterr);
