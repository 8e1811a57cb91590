/* SPDX-License-Identifier: Apache-2.0 */
/* From discovered devices to CDI specs: the per-group static specs of `hostdevctl cdi generate`
 * (and device-plugin mode) and the conversion of resolved edits into the cdi/ model. */
#pragma once

#include "cdi/cdi.h"
#include "devmodel/discovery.h"

struct hd_error;

/* Append resolved edits E (from dm_edits_resolve()) to DST. A node's hostPath is set only when
 * it differs from its container path, so specs stay at the lowest cdiVersion. */
void dm_edits_to_cdi(const struct dm_edits *e, struct cdi_edits *dst);

/* Render and resolve GROUP's commonEdits against the host now (seen under host root ROOT, NULL =
 * "/"), into *RET (zeroed by caller; released by the caller either way). Returns 0 or -errno. */
int dm_group_common_edits(const struct dm_group *group, const char *root, struct dm_edits *ret,
                          struct hd_error *reterr);

/* Build the static spec of GROUP: kind "k8s.<driver>/<group>", one device per physical device
 * of the group in INV (named by its base name; replicas share it), the group's commonEdits at
 * spec level, every node checked and stat-ed now. Returns 0, -ENODEV when the group has no
 * device (CDI specs need at least one), or another -errno. */
int dm_group_spec_build(const struct dm_inventory *inv, const struct dm_group *group,
                        const char *driver, struct cdi_spec **ret, struct hd_error *reterr);
