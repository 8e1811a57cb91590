/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the config files: config_load.c → config_yaml.c (decoder) → config.c (model). */
#pragma once

#include "devmodel/config.h"

/* Decode the YAML text into *RET without semantic checks beyond types and known keys. */
int dm_config_decode_yaml(const char *file, const char *data, size_t len, struct dm_config **ret,
                          struct hd_error *reterr);

/* Release what an edits spec holds (config.c). */
void dm_edits_spec_done(struct dm_edits_spec *e);
