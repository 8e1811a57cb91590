/* SPDX-License-Identifier: Apache-2.0 */
#include "devmodel/claim.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/fileio.h"
#include "base/jsonfield.h"
#include "base/strutil.h"

/* ---- ResourceClaim tables: unknown fields ignored, every string capped ---- */

#define RES(jtype, member, path) HD_JSON_FIELD(jtype, struct dm_claim_result, member, path)
static const struct hd_json_field result_fields[] = {
        RES(HD_JSON_STRING, request, "request"),  RES(HD_JSON_STRING, driver, "driver"),
        RES(HD_JSON_STRING, pool, "pool"),        RES(HD_JSON_STRING, device, "device"),
        RES(HD_JSON_STRING, share_id, "shareID"), RES(HD_JSON_BOOL, admin_access, "adminAccess"),
};
#undef RES
static const struct hd_json_table result_table =
        HD_JSON_TABLE(struct dm_claim_result, result_fields, .max_string = DM_CLAIM_MAX_STRING);

#define CFG(jtype, member, path, ...) \
        HD_JSON_FIELD(jtype, struct dm_claim_config, member, path, __VA_ARGS__)
static const struct hd_json_field config_fields[] = {
        CFG(HD_JSON_STRING, source, "source"),
        CFG(HD_JSON_STRV, requests, "requests", .max = 256),
        CFG(HD_JSON_STRING, driver, "opaque.driver"),
        CFG(HD_JSON_ANY, parameters, "opaque.parameters", .max = DM_CLAIM_MAX_PARAMETERS),
};
#undef CFG
static const struct hd_json_table config_table =
        HD_JSON_TABLE(struct dm_claim_config, config_fields, .max_string = DM_CLAIM_MAX_STRING);

/* status.allocation decodes into the claim itself and marks it allocated. */
static const struct hd_json_field allocation_fields[] = {
        HD_JSON_FIELD(HD_JSON_LIST, struct dm_claim, results, "devices.results",
                      .sub = &result_table, .max = DM_CLAIM_MAX_RESULTS,
                      HD_JSON_COUNT(struct dm_claim, n_results)),
        HD_JSON_FIELD(HD_JSON_LIST, struct dm_claim, configs, "devices.config",
                      .sub = &config_table, .max = DM_CLAIM_MAX_CONFIGS,
                      HD_JSON_COUNT(struct dm_claim, n_configs)),
};
static const struct hd_json_table allocation_table =
        HD_JSON_TABLE(struct dm_claim, allocation_fields, .max_string = DM_CLAIM_MAX_STRING);

static const struct hd_json_field claim_fields[] = {
        HD_JSON_FIELD(HD_JSON_STRING, struct dm_claim, name, "metadata.name"),
        HD_JSON_FIELD(HD_JSON_STRING, struct dm_claim, namespace, "metadata.namespace"),
        HD_JSON_FIELD(HD_JSON_STRING, struct dm_claim, uid, "metadata.uid"),
        {.path = "status.allocation",
         .type = HD_JSON_STRUCT,
         .offset = 0,
         .sub = &allocation_table,
         HD_JSON_PRESENT(struct dm_claim, allocated)},
};
static const struct hd_json_table claim_table =
        HD_JSON_TABLE(struct dm_claim, claim_fields, .max_string = DM_CLAIM_MAX_STRING);

struct dm_claim *dm_claim_free(struct dm_claim *c)
{
        hd_json_decode_done(&claim_table, c);
        free(c);
        return NULL;
}

int dm_claim_from_json_value(json_t *root, struct dm_claim **ret, struct hd_error *reterr)
{
        struct dm_claim *c = hd_new0(struct dm_claim, 1);
        int r;

        *ret = NULL;
        r = hd_json_decode(root, &claim_table, c, NULL, reterr);
        if (r < 0) {
                dm_claim_free(c);
                return hd_error_wrap(reterr, "decode ResourceClaim");
        }
        if (!c->uid || !c->name) {
                dm_claim_free(c);
                return hd_error_setf(reterr, EINVAL,
                                     "decode ResourceClaim: metadata.name and metadata.uid are "
                                     "required");
        }
        /* Results must name what they allocate; a result without a device is unusable. */
        for (size_t i = 0; i < c->n_results; i++) {
                const struct dm_claim_result *res = &c->results[i];
                if (!res->driver || !res->pool || !res->device || !res->request) {
                        r = hd_error_setf(reterr, EINVAL,
                                          "decode ResourceClaim: "
                                          "status.allocation.devices.results[%zu] lacks request, "
                                          "driver, pool or device",
                                          i);
                        dm_claim_free(c);
                        return r;
                }
        }
        *ret = c;
        return 0;
}

int dm_claim_from_json(const char *data, size_t len, struct dm_claim **ret, struct hd_error *reterr)
{
        _cleanup_json_ json_t *root = NULL;
        *ret = NULL;
        if (len > DM_CLAIM_MAX_BYTES)
                return hd_error_setf(reterr, EFBIG, "ResourceClaim JSON larger than %d bytes",
                                     DM_CLAIM_MAX_BYTES);
        int r = hd_json_parse(data, len, JSON_REJECT_DUPLICATES, "ResourceClaim JSON", &root,
                              reterr);
        if (r < 0)
                return r;
        return dm_claim_from_json_value(root, ret, reterr);
}

static int claim_parse_cb(const char *path, const char *data, size_t len, void *userdata,
                          struct hd_error *reterr)
{
        int r = dm_claim_from_json(data, len, userdata, reterr);
        return r < 0 ? hd_error_wrap_r(reterr, r, "%s", path) : 0;
}

int dm_claim_load(const char *file, struct dm_claim **ret, struct hd_error *reterr)
{
        *ret = NULL;
        return hd_read_file_parse(file, DM_CLAIM_MAX_BYTES, false, NULL, claim_parse_cb, ret,
                                  reterr);
}
