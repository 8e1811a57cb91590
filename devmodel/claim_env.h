/* SPDX-License-Identifier: Apache-2.0 */
/* Which environment variables a claim's opaque HostDeviceConfig may set in a container.
 *
 * The admin's device config decides what a container gets; a claim only adds variables. A
 * claim's variable is refused (the claim fails, naming it) when:
 *   1. the device config sets that name anywhere (deviceEdits or commonEdits env of any group;
 *      a template "{...}" in a name matches any text): the later entry would win in the
 *      runtime, so a claim could override the admin's value for any device of the container;
 *   2. a claimEnv.allow list applies (top level, the device's group, or both) and no pattern
 *      of one of them matches it (lists only narrow: every list that applies must match);
 *   3. it is a dynamic-loader variable (LD_*, GCONV_PATH, ...; glibc's list of variables it
 *      drops for set-uid programs) and no applicable claimEnv.allow pattern other than a bare
 *      "*" names it. */
#pragma once

#include <stdbool.h>

#include "devmodel/config.h"

struct hd_error;

/* True for the dynamic-loader variables of rule 2. */
bool dm_env_is_loader(const char *name);

/* Check ENV ("NAME=VALUE" strv, may be NULL), the claim's variables for one device of GROUP
 * under CONFIG (either may be NULL: that part is skipped). Returns 0, or -EPERM with RETERR
 * naming the first refused variable and why ("claim env 'VISIBLE_DEVICES': ... a claim may not
 * set it"). */
int dm_claim_env_check(const struct dm_config *config, const struct dm_group *group,
                       char *const *env, struct hd_error *reterr);
