/* SPDX-License-Identifier: Apache-2.0 */
/* Keeps this node's ResourceSlices equal to the devices we want published.
 *
 * It watches our own slices (fieldSelector spec.driver=<driver>,spec.nodeName=<node>) and
 * reconciles on every change: a restarting kubelet deletes all slices of its node, and they are
 * re-created at once instead of after a resync period. One pool named after the node; at most
 * 128 devices per slice (64 when any device has taints); pool.generation is bumped whenever
 * content changes and resourceSliceCount always matches; every slice has spec.nodeName, an
 * owner reference to the Node and generateName "<node>-<driver>-". Identical content is never
 * rewritten. On stop the slices stay in place (the kubelet removes them 30 s after the plugin
 * is gone, so a quick restart leaves no gap). */
#pragma once

#include "base/cleanup-json.h"

struct hd_error;
struct kube_client;
struct kp_metrics;
struct kp_publisher;

struct kp_publisher_options {
        const char *driver;
        const char *node;
        const char *api_version;    /* served resource.k8s.io version: v1, v1beta2 or v1beta1 */
        struct kube_client *client; /* borrowed; must outlive the publisher */
        struct kp_metrics *metrics; /* may be NULL */
        int resync_ms;              /* periodic reconcile; 0 = 30000 */
};

struct kp_publisher *kp_publisher_new(const struct kp_publisher_options *opts);

/* Replace the desired device list: DEVICES is a JSON array of v1-shaped device objects
 * ({name, attributes, taints?}); the publisher takes the reference. Wakes the reconciler. */
void kp_publisher_set_devices(struct kp_publisher *p, json_t *devices);

/* Keep devices out of the slices while something else holds them (device-plugin pods on this
 * node): devices named in DEVICES and every device of the groups in GROUPS (its "group"
 * attribute) are left out of what is published, and hostdev_devices_withheld counts them. Both
 * strvs are taken; NULL = none. Call before kp_publisher_start() so that they are never
 * published at all. Wakes the reconciler. */
void kp_publisher_set_withheld(struct kp_publisher *p, char **devices, char **groups);

/* Start watching and reconciling. Returns 0 or -errno. */
int kp_publisher_start(struct kp_publisher *p, struct hd_error *reterr);

/* Block until the published slices match the desired devices, or TIMEOUT_MS passes.
 * Returns 0 or -ETIMEDOUT. */
int kp_publisher_wait_in_sync(struct kp_publisher *p, int timeout_ms);

/* Stop (slices are left in place) and free. Takes NULL; returns NULL. */
struct kp_publisher *kp_publisher_free(struct kp_publisher *p);

/* Build the slice objects for DEVICES (borrowed) in the shape of API_VERSION: chunks of at most
 * 128 devices (64 when any has taints), pool generation GENERATION, owner NODE_UID (NULL = no
 * owner reference). New array. Exposed for tests and hostdevctl. */
json_t *kp_slices_for_devices(json_t *devices, const char *driver, const char *node,
                              const char *node_uid, const char *api_version, long long generation);
