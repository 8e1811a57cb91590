/* SPDX-License-Identifier: Apache-2.0 */
/* hostdev-kubelet-plugin in DRA mode: everything between flag parsing and exit. */
#pragma once

#include <stdbool.h>

#include "kubeletplugin/mode.h"

/* malloc arenas the daemon uses (kp_plugin_run(); MALLOC_ARENA_MAX overrides). */
#define KP_MALLOC_ARENAS 2

struct hd_error;

/* --mode (enum kp_mode, kp_mode_parse(), kp_mode_decide()): kubeletplugin/mode.h. */

struct kp_plugin_options {
        const char *config_path;         /* --config */
        const char *driver;              /* --driver-name */
        const char *node;                /* --node-name / NODE_NAME */
        const char *pod_uid;             /* --pod-uid / POD_UID; NULL = no suffix */
        const char *kubeconfig;          /* --kubeconfig; NULL = in-cluster */
        const char *registry_dir;        /* --kubelet-registry-dir */
        const char *plugins_dir;         /* --kubelet-plugins-dir */
        const char *device_plugins_dir;  /* --device-plugins-dir */
        const char *cdi_root;            /* --cdi-root */
        const char *host_root;           /* --host-root: the host's / seen here; NULL = "/" */
        const char *mode;                /* auto | dra | device-plugin */
        const char *device_plugin_edits; /* --device-plugin-edits cdi | legacy; NULL = cdi */
        const char *sysfs_root;          /* --sysfs-root (NUMA nodes; tests); NULL = /sys */
        const char *metrics_addr;        /* --metrics-addr; NULL = off */
        int rescan_ms;                   /* --health-interval-ms */
        double kube_qps;                 /* --kube-api-qps; 0 = 50 (as the kubelet) */
        int kube_burst;                  /* --kube-api-burst; 0 = 100 */
};

/* Validate OPTS and the names that become paths. Returns 0 or -EINVAL naming the flag. */
int kp_plugin_check_options(const struct kp_plugin_options *opts, struct hd_error *reterr);

/* Run until SIGTERM/SIGINT (which the caller must have blocked in every thread). Returns 0 on a
 * clean stop, -errno when start-up failed (RETERR says why). */
int kp_plugin_run(const struct kp_plugin_options *opts, struct hd_error *reterr);
