/* SPDX-License-Identifier: Apache-2.0 */
/* ResourceSlice builder: the exact resource.k8s.io/v1 ResourceSlice objects a node publishes for
 * its inventory, with the API server's validation applied per device first so one bad device
 * is dropped (and reported) instead of the whole slice being rejected. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/cleanup-json.h"

#include "devmodel/discovery.h"

struct hd_error;

struct dm_slice_params {
        const char *driver; /* DNS subdomain, at most 63 */
        const char *node;   /* node name; also the pool name */
        int64_t generation; /* pool generation (>= 0) */
        size_t max_devices; /* per slice; 0 = DM_SLICE_DEVICES_MAX (128) */
};

/* Check DEV the way the API server checks a slice's device: DNS-label name, attribute names
 * (C identifier ≤ 32, optional DNS-subdomain prefix ≤ 63), exactly one typed value each, string
 * and version values ≤ 64, versions SemVer 2.0.0, at most 32 attributes. Returns 0 or -EINVAL
 * with a message naming the device and the field. */
int dm_device_validate(const struct dm_device *dev, struct hd_error *reterr);

/* The device as a v1 ResourceSlice device object {name, attributes}. New reference. DEV must
 * have passed dm_device_validate(). */
json_t *dm_device_to_json(const struct dm_device *dev);

/* Build the slices for INV: devices that fail dm_device_validate() are left out and one line
 * per device is added to *RET_DROPPED (strv, NULL when none; caller frees); the others are
 * chunked into slices of at most MAX_DEVICES, each with generateName "<node>-<driver>-",
 * spec.nodeName, spec.driver, spec.pool {name: node, generation, resourceSliceCount}. An
 * inventory with no devices gives one slice with an empty device list, so the pool exists.
 * *RET_SLICES is a new JSON array. Returns 0, or -EINVAL when driver or node name is invalid. */
int dm_slices_build(const struct dm_inventory *inv, const struct dm_slice_params *params,
                    json_t **ret_slices, char ***ret_dropped, struct hd_error *reterr);
