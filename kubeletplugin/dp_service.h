/* SPDX-License-Identifier: Apache-2.0 */
/* Device-plugin mode: the classic kubelet device-plugin API (v1beta1) over the same device
 * config. One resource per config group (its resourceName, default "<driver>/<group>"), whose
 * device IDs are the device names the DRA mode publishes. Per resource a gRPC server on
 * "<device-plugins-dir>/<driver>-<group>.sock" serves GetDevicePluginOptions, ListAndWatch
 * (the full list on open and again on every change), GetPreferredAllocation (must-include,
 * then fewest NUMA nodes, then device order), Allocate (every ID checked: ours, healthy, its
 * node there now; answered with CDI IDs into the static per-group spec
 * "k8s.<driver>-<group>.json", or with devices/mounts/envs in legacy mode) and
 * PreStartContainer (empty). Registration with the kubelet is dp_register.h's job. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct hd_error;
struct dm_config;
struct kp_driver;
struct kp_health;
struct kp_metrics;
struct kp_dp;

/* Most device IDs one GetPreferredAllocation or Allocate container request may carry, and
 * most ListAndWatch streams open at once per resource. */
#define KP_DP_MAX_IDS 4096
#define KP_DP_MAX_STREAMS 16
/* The health monitor's settling time after a device-directory event in this mode: the kubelet
 * is to hear of a change within 100 ms. */
#define KP_DP_SETTLE_MS 10

struct kp_dp_options {
        const char *driver;             /* driver name */
        const char *dir;                /* --device-plugins-dir */
        const char *cdi_root;           /* where the static specs go */
        const char *sysfs_root;         /* NULL = /sys (NUMA nodes) */
        bool legacy;                    /* --device-plugin-edits legacy */
        const struct dm_config *config; /* borrowed */
        struct kp_driver *kdriver;      /* borrowed: current inventory */
        struct kp_metrics *metrics;     /* may be NULL */
};

/* Check the config for this mode (legacy edits, resource names) and set up the resources.
 * *RET is set even on failure (free it). Returns 0 or -EINVAL naming the group. */
int kp_dp_new(const struct kp_dp_options *opts, struct kp_dp **ret, struct hd_error *reterr);

/* Use H (borrowed) for device health; call before kp_dp_start(). */
void kp_dp_set_health(struct kp_dp *dp, struct kp_health *h);

/* The health monitor's changed_cb: the inventory or a device's health changed. Rewrites the
 * static specs and sends every open ListAndWatch stream the new list. */
void kp_dp_changed_cb(void *dp);

/* Devices HELD (strv, taken; NULL = none) are held by DRA claims from before the switch: they
 * are reported Unhealthy and refused by Allocate until released. */
void kp_dp_set_held(struct kp_dp *dp, char **held);

/* Write the specs, serve every resource and register with the kubelet. Returns 0 or -errno. */
int kp_dp_start(struct kp_dp *dp, struct hd_error *reterr);

/* For /healthz: every resource's socket answers. Returns 0 or -errno naming the socket. */
int kp_dp_check_live(struct kp_dp *dp, struct hd_error *reterr);

/* Number of resources (groups). */
size_t kp_dp_resources(struct kp_dp *dp);

/* Stop serving (the sockets go) and free. The static specs stay. Takes NULL; returns NULL. */
struct kp_dp *kp_dp_free(struct kp_dp *dp);
