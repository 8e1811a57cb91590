/* SPDX-License-Identifier: Apache-2.0 */
/* What device-plugin mode hands the kubelet for a device: the static per-group CDI spec its
 * Allocate answers point into, or, for runtimes without CDI ("legacy" edits), the device's
 * nodes, mounts and env themselves. */
#pragma once

#include "cdi/cdi.h"
#include "devmodel/discovery.h"

struct hd_error;

/* The extended resource GROUP is advertised as: its resourceName, else "<DRIVER>/<group>".
 * New string. */
char *dm_dp_resource_name(const struct dm_group *group, const char *driver);

/* Build the device-plugin spec of GROUP: kind "k8s.<driver>/<group>", one CDI device per
 * device of GROUP in INV named by its device name (each of a count: N device's N names, with
 * the same edits), every node checked and stat-ed now, the group's commonEdits at spec level.
 * A device whose edits do not resolve is left out and named in *RET_SKIPPED (strv, "device
 * 'x': why"; may be NULL). Returns 0, -ENODEV when no device is left (a CDI spec needs one),
 * or another -errno; *RET is NULL on failure. */
int dm_dp_spec_build(const struct dm_inventory *inv, const struct dm_group *group,
                     const char *driver, struct cdi_spec **ret, char ***ret_skipped,
                     struct hd_error *reterr);

/* Can GROUP be served without CDI? Hooks and mounts of a type other than bind cannot be said
 * in the device-plugin API's devices/mounts/envs. Returns 0 or -EINVAL naming the group. */
int dm_dp_legacy_check(const struct dm_group *group, struct hd_error *reterr);

/* Append DEV's edits, resolved against the host (seen under ROOT, NULL = "/") now, to *DST
 * (dm_edits_merge() rules). Returns 0 or -errno naming the device. */
int dm_dp_device_edits(const struct dm_device *dev, const char *root, struct dm_edits *dst,
                       struct hd_error *reterr);
