/* SPDX-License-Identifier: Apache-2.0 */
/* Prepare and unprepare of one allocated ResourceClaim on this node: the function the DRA
 * service calls per claim and `hostdevctl prepare` calls offline.
 *
 * One record describes a prepared claim all the way: the node daemon keeps it in its
 * checkpoint, prepare fills it in place, and the DRA service turns it into the kubelet's answer.
 * Extra env (from opaque configuration) is held once per claim as a list of distinct env sets;
 * each device names the set it gets, so a config matching many devices is stored once. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "devmodel/claim.h"
#include "devmodel/discovery.h"

struct cdi_spec;
struct hd_error;

/* What the opaque env of one claim may take in its CDI spec (and so in the checkpoint): a
 * config that applies to every device is written once, at spec level; one that applies to
 * some requests only is written into each device it applies to. */
#define DM_PREPARE_MAX_CLAIM_ENV (128 * 1024)

struct dm_prepare_params {
        const char *driver;   /* our driver name; results of other drivers are ignored */
        const char *pool;     /* our pool (the node name); results of other pools ignored */
        const char *cdi_root; /* where the per-claim spec goes, e.g. /var/run/cdi */
        /* Optional: extra "KEY=VALUE" entries per claim result, parallel to claim->results
         * (a NULL array or NULL entry adds nothing). They go into that device's CDI edits; the
         * daemon fills them from the claim's opaque HostDeviceConfig. */
        char **const *result_env;
        /* Optional: set to the seconds the spec's render and atomic write took. */
        double *spec_write_seconds;
};

/* One device of ours in a prepared claim. */
struct dm_prepared_device {
        char *request; /* "main" or "main/sub" */
        char *pool;
        char *device;
        char *share_id;    /* NULL when absent */
        bool admin_access; /* adminAccess result: gets the device, holds it for nobody */
        char **cdi_ids;    /* strv, "k8s.<driver>/claim=<claimUID>-<device>"; set by prepare */
        int env_set;       /* index into the claim's env_sets; -1 = no extra env */
};

/* One prepared claim. */
struct dm_prepared_claim {
        char *uid;
        char *namespace; /* NULL when unknown (recovered from a spec) */
        char *name;
        char *spec_file; /* file name inside cdi_root; NULL when nothing was ours */
        struct dm_prepared_device *devices;
        size_t n_devices;
        char ***env_sets; /* distinct strvs of KEY=VALUE */
        size_t n_env_sets;
};

/* Fill REC (zeroed by the caller) with CLAIM's identity and the results of DRIVER in POOL, in
 * claim order, without CDI IDs. RESULT_ENV is as in struct dm_prepare_params. */
void dm_prepared_claim_init(struct dm_prepared_claim *rec, const struct dm_claim *claim,
                            const char *driver, const char *pool, char **const *result_env);

/* Give device I of REC the extra env ENV (strv, copied; NULL = none), sharing an equal set. */
void dm_prepared_claim_set_env(struct dm_prepared_claim *rec, size_t i, char *const *env);

/* The extra env of device I (borrowed strv), or NULL. */
char *const *dm_prepared_device_env(const struct dm_prepared_claim *rec, size_t i);

/* Bytes REC's extra env takes in the CDI spec (entries plus one per entry). */
size_t dm_prepared_claim_env_bytes(const struct dm_prepared_claim *rec);

/* Check REC against DM_PREPARE_MAX_CLAIM_ENV. Returns 0 or -EFBIG with a message naming the
 * claim and the limit. */
int dm_prepared_claim_check_size(const struct dm_prepared_claim *rec, struct hd_error *reterr);

/* Recover the claim's extra env of REC (devices filled, no env yet) from SPEC, the claim's CDI
 * spec as written: whatever env SPEC has beyond what INV's edits give those devices now is the
 * claim's (the claim cannot set names the admin's edits set). Fails, leaving REC without env,
 * when a device is no longer in INV or cannot be resolved. Returns 0 or -errno. */
int dm_prepared_claim_recover_env(const struct dm_inventory *inv, struct dm_prepared_claim *rec,
                                  const struct cdi_spec *spec, struct hd_error *reterr);

/* Deep copy into *DST (zeroed by the caller). */
void dm_prepared_claim_copy(struct dm_prepared_claim *dst, const struct dm_prepared_claim *src);
void dm_prepared_claim_done(struct dm_prepared_claim *rec);

/* Prepare the devices REC lists: check each device's node on the host right now (missing or
 * changed fails the whole claim: never a spec missing a device), build the per-claim CDI spec
 * (kind "k8s.<driver>/claim", devices "<claimUID>-<device>" with each device's edits and env,
 * the groups' commonEdits at spec level, and the env too when every device has the same one,
 * type/major/minor from stat) and write it atomically
 * as "k8s.<driver>-claim_<claimUID>.json". Fills in place each device's cdi_ids and
 * REC->spec_file (left NULL when REC has no device). Idempotent. Returns 0 or -errno (-EFBIG
 * past DM_PREPARE_MAX_CLAIM_ENV, before anything is written); RETERR reads "prepare claim
 * <uid>: ...". Only DRIVER and CDI_ROOT of PARAMS are used. */
int dm_prepare_record(const struct dm_inventory *inv, const struct dm_prepare_params *params,
                      struct dm_prepared_claim *rec, struct hd_error *reterr);

/* Prepare CLAIM offline: dm_prepared_claim_init() then dm_prepare_record(). *RET (zeroed by
 * the caller) is the record; release it with dm_prepared_claim_done(). */
int dm_prepare_claim(const struct dm_inventory *inv, const struct dm_claim *claim,
                     const struct dm_prepare_params *params, struct dm_prepared_claim *ret,
                     struct hd_error *reterr);

/* Remove the per-claim spec of CLAIM_UID; a missing spec is success. Returns 0 or -errno. */
int dm_unprepare_claim(const char *driver, const char *claim_uid, const char *cdi_root,
                       struct hd_error *reterr);
