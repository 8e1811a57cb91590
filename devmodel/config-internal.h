/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between config.c (semantic checks, ownership) and config_yaml.c (YAML decoding). */
#pragma once

#include "devmodel/config.h"

/* Decode the YAML text into *RET without semantic checks beyond types and known keys. */
int dm_config_decode_yaml(const char *file, const char *data, size_t len, struct dm_config **ret,
                          struct hd_error *reterr);

/* Semantic checks over a decoded config (names, paths, templates, limits). */
int dm_config_check(const struct dm_config *c, struct hd_error *reterr);

void dm_edits_spec_done(struct dm_edits_spec *e);
