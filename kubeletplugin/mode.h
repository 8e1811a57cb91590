/* SPDX-License-Identifier: Apache-2.0 */
/* Which API the daemon serves on this node: DRA (ResourceSlices + NodePrepareResources) or the
 * classic device-plugin API. `--mode auto` decides once at start, per node:
 *
 *   DRA            when the API server serves resource.k8s.io (v1, v1beta2 or v1beta1), the
 *                  Node's status.nodeInfo.kubeletVersion is at least 1.32, and the kubelet's
 *                  plugin registry directory exists;
 *   device-plugin  otherwise, including a kubelet version that cannot be read or parsed.
 *
 * The daemon never serves both for one node. Every reason behind the choice is returned so that
 * start-up can log it. */
#pragma once

#include <stdbool.h>

struct hd_error;
struct kube_client;
struct kp_plugin_options;

enum kp_mode {
        KP_MODE_AUTO,
        KP_MODE_DRA,
        KP_MODE_DEVICE_PLUGIN,
};

/* The oldest kubelet auto mode runs DRA with: 1.32 serves v1beta1.DRAPlugin, the first API our
 * DRA service speaks. */
#define KP_MODE_DRA_MIN_MAJOR 1
#define KP_MODE_DRA_MIN_MINOR 32

/* "auto", "dra" or "device-plugin" → *RET. Returns 0 or -EINVAL. */
int kp_mode_parse(const char *s, enum kp_mode *ret);
/* "auto", "dra", "device-plugin". */
const char *kp_mode_name(enum kp_mode m);

/* Parse a kubelet version as Nodes report it ("v1.31.4", "v1.32.0-eks-4f2f3e1",
 * "v1.34.1+k3s1", "v1.30.5-gke.1014001", "1.33"): an optional 'v', MAJOR '.' MINOR, an
 * optional '.' PATCH, then nothing or a '-' / '+' suffix. Returns 0 or -EINVAL with a message
 * quoting S. */
int kp_kubelet_version_parse(const char *s, unsigned *ret_major, unsigned *ret_minor,
                             struct hd_error *reterr);

/* What auto mode looks at. */
struct kp_mode_facts {
        const char *resource_version; /* resource.k8s.io version served; NULL = not served */
        const char *kubelet_version;  /* the Node's kubeletVersion; NULL = unknown */
        const char *kubelet_problem;  /* why it is unknown (NULL: no reason known) */
        const char *registry_dir;     /* --kubelet-registry-dir */
        bool registry_dir_exists;
};

/* The mode for REQUESTED given FACTS (read only in auto mode). *RET_REASONS gets a new strv of
 * human-readable reasons, one per fact looked at (the caller frees it). */
enum kp_mode kp_mode_choose(enum kp_mode requested, const struct kp_mode_facts *facts,
                            char ***ret_reasons);

/* The mode for O->mode on this node, logged with its reasons ("plugin mode chosen"). Auto mode
 * asks the API server (O->kubeconfig) which resource.k8s.io versions it serves and reads
 * status.nodeInfo.kubeletVersion of Node O->node, and looks for O->registry_dir. A Node that
 * cannot be read (missing, forbidden) or a version that cannot be parsed counts as "unknown" and
 * selects the device-plugin mode; an API server that cannot be reached at all fails with -errno
 * (the daemon restarts and decides again rather than guess). Returns 0 with *RET set. */
int kp_mode_decide(const struct kp_plugin_options *o, enum kp_mode *ret, struct hd_error *reterr);
