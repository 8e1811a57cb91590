/* SPDX-License-Identifier: Apache-2.0 */
/* A resource.k8s.io/v1 ResourceClaim as the node plugin needs it, decoded from JSON at the edge
 * (field tables; unknown fields ignored, wrong types refused, sizes capped). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/cleanup-json.h"

struct hd_error;

#define DM_CLAIM_MAX_BYTES (4 * 1024 * 1024)
#define DM_CLAIM_MAX_RESULTS 256
#define DM_CLAIM_MAX_CONFIGS 256
#define DM_CLAIM_MAX_STRING 4096
#define DM_CLAIM_MAX_PARAMETERS 10240 /* bytes of opaque parameters, as the API server */

struct dm_claim_result {
        char *request; /* "main" or "main/sub" */
        char *driver;
        char *pool;
        char *device;
        char *share_id; /* NULL when absent */
        bool admin_access;
};

struct dm_claim_config {
        char *source;       /* "FromClass" | "FromClaim" */
        char **requests;    /* strv; NULL = all requests */
        char *driver;       /* opaque.driver */
        json_t *parameters; /* opaque.parameters (owned reference) or NULL */
};

struct dm_claim {
        char *name;
        char *namespace;
        char *uid;
        bool allocated; /* status.allocation present */
        struct dm_claim_result *results;
        size_t n_results;
        struct dm_claim_config *configs;
        size_t n_configs;
};

/* Decode the claim in JSON text DATA (at most 4 MiB). Returns 0 or -EINVAL with a message
 * naming the field ("status.allocation.devices.results[1].device: expected a string"). */
int dm_claim_from_json(const char *data, size_t len, struct dm_claim **ret,
                       struct hd_error *reterr);

/* Decode from an already parsed JSON value (borrowed). */
int dm_claim_from_json_value(json_t *root, struct dm_claim **ret, struct hd_error *reterr);

/* Read FILE and decode it. Returns 0 or -errno. */
int dm_claim_load(const char *file, struct dm_claim **ret, struct hd_error *reterr);

/* Takes NULL; returns NULL. */
struct dm_claim *dm_claim_free(struct dm_claim *c);
