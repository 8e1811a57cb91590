/* SPDX-License-Identifier: Apache-2.0 */
/* hostdev-kubelet-plugin in device-plugin mode: start-up, the switch from DRA (claims prepared
 * before are drained: their devices stay Unhealthy, the DRA socket serves only
 * NodeUnprepareResources until the last is gone, and this node's ResourceSlices are deleted),
 * and the wait for a stop signal. */
#pragma once

struct hd_error;
struct kp_plugin_options;

/* Run until SIGTERM/SIGINT (blocked by the caller in every thread). OPTS were checked by
 * kp_plugin_check_options(). Returns 0 on a clean stop or -errno when start-up failed. */
int kp_dp_plugin_run(const struct kp_plugin_options *opts, struct hd_error *reterr);
