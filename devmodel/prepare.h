/* SPDX-License-Identifier: Apache-2.0 */
/* Prepare and unprepare of one allocated ResourceClaim on this node: the function the DRA
 * service calls per claim and `hostdevctl prepare` calls offline. */
#pragma once

#include <stddef.h>

#include "devmodel/claim.h"
#include "devmodel/discovery.h"

struct hd_error;

struct dm_prepare_params {
        const char *driver;   /* our driver name; results of other drivers are ignored */
        const char *pool;     /* our pool (the node name); results of other pools ignored */
        const char *cdi_root; /* where the per-claim spec goes, e.g. /var/run/cdi */
        /* Optional: extra "KEY=VALUE" entries per claim result, parallel to claim->results
         * (a NULL array or NULL entry adds nothing). They go into that device's CDI edits; the
         * daemon fills them from the claim's opaque HostDeviceConfig. */
        char **const *result_env;
};

struct dm_prepared_device {
        char *request;
        char *pool;
        char *device;
        char *share_id; /* NULL when absent */
        char *cdi_id;   /* "k8s.<driver>/claim=<claimUID>-<device>" */
};

struct dm_prepare_result {
        char *spec_file; /* file name inside cdi_root; NULL when nothing was ours */
        struct dm_prepared_device *devices;
        size_t n_devices;
};

/* Prepare CLAIM: take our driver's results for our pool, check each device's node on the host
 * right now (missing or changed fails the whole claim: never a spec missing a device), build
 * the per-claim CDI spec (kind "k8s.<driver>/claim", devices "<claimUID>-<device>" with each
 * device's edits, the groups' commonEdits at spec level, type/major/minor from stat) and write
 * it atomically as "k8s.<driver>-claim_<claimUID>.json". Idempotent. *RET (zeroed by the
 * caller) lists the devices with their CDI IDs; release it with dm_prepare_result_done().
 * Returns 0 or -errno; RETERR reads "prepare claim <uid>: ...". */
int dm_prepare_claim(const struct dm_inventory *inv, const struct dm_claim *claim,
                     const struct dm_prepare_params *params, struct dm_prepare_result *ret,
                     struct hd_error *reterr);

void dm_prepare_result_done(struct dm_prepare_result *r);

/* Remove the per-claim spec of CLAIM_UID; a missing spec is success. Returns 0 or -errno. */
int dm_unprepare_claim(const char *driver, const char *claim_uid, const char *cdi_root,
                       struct hd_error *reterr);
