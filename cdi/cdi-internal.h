/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the cdi/ sources; not part of the interface. */
#pragma once

#include <stdbool.h>
#include <string.h>

#include "base/cleanup-json.h"
#include "base/error.h"
#include "cdi/cdi.h"

/* true when NODE's hostPath is written: set, non-empty and different from its path. A hostPath
 * equal to the path says nothing the runtime would not assume, so the writer omits it and the
 * spec does not need cdiVersion 0.5.0 for it. */
static inline bool cdi_device_node_writes_host_path(const struct cdi_device_node *node)
{
        return node->host_path && node->host_path[0] &&
               !(node->path && strcmp(node->host_path, node->path) == 0);
}

/* Decode ROOT (a JSON document tree, also produced from YAML) strictly into a new spec, then
 * check its version and validate it; the body of cdi_spec_from_json() (json_read.c). */
int cdi_spec_from_json_value(const json_t *root, struct cdi_spec **ret_spec,
                             struct hd_error *reterr);

/* Convert the YAML document TEXT into a JSON tree *RET_ROOT (new reference) the way the Go loader
 * reads CDI YAML: integers and booleans by field name, null for empty/~/null plain scalars.
 * Depth and alias expansion are capped. Returns 0 or -EINVAL (yaml_read.c). */
int cdi_yaml_to_json(const char *text, json_t **ret_root, struct hd_error *reterr);
