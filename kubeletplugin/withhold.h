/* SPDX-License-Identifier: Apache-2.0 */
/* One device, one world: in DRA mode, devices that pods on this node still hold through the
 * device-plugin API (the kubelet's device-manager checkpoint, kubeletplugin/dp_checkpoint.h)
 * are kept out of the ResourceSlices until those pods are gone, so the scheduler can never hand
 * one device to a DRA claim and a device-plugin pod at once (migration from device-plugin mode,
 * or from another device plugin serving the same resource names).
 *
 * At start the checkpoint is read and every hold on one of our resources (<driver>/<group> by
 * default) is withheld before the publisher publishes anything. If there is none, that is all:
 * no watch, no pod permissions needed. Otherwise a pod informer on this node
 * (fieldSelector spec.nodeName=<node>) re-checks on every pod event, and the checkpoint is
 * re-read every recheck period (the kubelet drops entries of finished pods only at its next
 * device-plugin allocation, so the file alone would keep devices withheld forever). A hold is
 * released when its pod is no longer on the node or has finished (Succeeded / Failed); a hold
 * whose pod is unknown (damaged entry) is released only when the entry leaves the file. When
 * nothing is withheld any more the watch ends. Changes are logged; the publisher counts the
 * devices in hostdev_devices_withheld. */
#pragma once

struct dm_config;
struct dm_group;
struct hd_error;
struct kp_metrics;
struct kp_publisher;
struct kube_client;
struct kp_withhold;

struct kp_withhold_options {
        const char *driver;
        const char *node;
        const char *checkpoint_path; /* <device-plugins-dir>/kubelet_internal_checkpoint */
        const struct dm_config *config;
        struct kube_client *client;     /* borrowed; must outlive the withholder */
        struct kp_publisher *publisher; /* gets the withheld set */
        int recheck_ms;                 /* checkpoint re-read period; 0 = 10000 */
};

struct kp_withhold *kp_withhold_new(const struct kp_withhold_options *opts);

/* Read the checkpoint, hand the publisher its first withheld set, and when anything is held
 * start watching this node's pods. Returns 0 or -errno (the watch could not start). */
int kp_withhold_start(struct kp_withhold *w, struct hd_error *reterr);

/* Stop and free. Takes NULL; returns NULL. */
struct kp_withhold *kp_withhold_free(struct kp_withhold *w);

/* The resource name a group is served under in device-plugin mode: <driver>/<group> unless the
 * config names one. New string. */
char *kp_group_resource_name(const char *driver, const struct dm_group *group);
