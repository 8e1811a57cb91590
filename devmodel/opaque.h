/* SPDX-License-Identifier: Apache-2.0 */
/* Opaque device configuration for our driver, carried in status.allocation.devices.config:
 *
 *   {"apiVersion": "<driver>/v1alpha1", "kind": "HostDeviceConfig", "env": {"NAME": "value"}}
 *
 * Only env is accepted: users cannot widen what the admin's device config allows (no host
 * paths, mounts or device nodes). Entries from the DeviceClass come before the claim's; later
 * entries win per variable; an entry with no requests applies to all of them, "main" applies to
 * "main" and "main/<sub>". The schema is documented in crds/hostdeviceconfig.yaml. */
#pragma once

#include "devmodel/claim.h"

struct hd_error;

#define DM_OPAQUE_KIND "HostDeviceConfig"
#define DM_OPAQUE_MAX_ENV 128
#define DM_OPAQUE_MAX_VALUE 4096

/* Compute the env of each result of CLAIM from the config entries whose opaque.driver is
 * DRIVER (others are ignored). *RET is an array of CLAIM->n_results strvs (NULL entries when
 * none); free with dm_opaque_env_free(). Returns 0 or -EINVAL with a message naming the entry
 * and field ("config[1] (FromClaim): env.1BAD: not a valid variable name"). */
int dm_opaque_env(const struct dm_claim *claim, const char *driver, char ****ret,
                  struct hd_error *reterr);

void dm_opaque_env_free(char ***env, size_t n);

/* true when a result with request name REQUEST is covered by a config entry's REQUESTS. */
bool dm_opaque_request_matches(char *const *requests, const char *request);
