/* SPDX-License-Identifier: Apache-2.0 */
#include "devmodel/prepare.h"

#include <errno.h>
#include <stdlib.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "cdi/cdi.h"
#include "devmodel/cdi_specs.h"

void dm_prepare_result_done(struct dm_prepare_result *r)
{
        if (!r)
                return;
        free(r->spec_file);
        for (size_t i = 0; i < r->n_devices; i++) {
                free(r->devices[i].request);
                free(r->devices[i].pool);
                free(r->devices[i].device);
                free(r->devices[i].share_id);
                free(r->devices[i].cdi_id);
        }
        free(r->devices);
        *r = (struct dm_prepare_result){0};
}

/* Append the entries of ENV (strv, may be NULL) that CD does not hold yet. */
static void add_env(struct cdi_device *cd, char *const *env)
{
        for (size_t i = 0; env && env[i]; i++)
                if (!hd_strv_contains(cd->edits.env, env[i]))
                        cdi_edits_add_env(&cd->edits, env[i]);
}

/* Add device DEV to SPEC as NAME, once, after checking its node and resolving its edits now;
 * ENV (per-result extra entries) goes into that device's edits. */
static int add_device(struct cdi_spec *spec, const struct dm_device *dev, const char *name,
                      char *const *env, struct hd_error *reterr)
{
        struct cdi_device *cd = cdi_spec_find_device(spec, name);
        if (cd) { /* the same device allocated twice (shared): one CDI device */
                add_env(cd, env);
                return 0;
        }
        int r = dm_device_check(dev, reterr);
        if (r < 0)
                return r;
        struct dm_edits resolved = {0};
        r = dm_edits_resolve(&dev->edits, &resolved, reterr);
        if (r >= 0) {
                cd = cdi_spec_add_device(spec, name);
                dm_edits_to_cdi(&resolved, &cd->edits);
                add_env(cd, env);
        }
        dm_edits_done(&resolved);
        return r;
}

static int build_spec(const struct dm_inventory *inv, const struct dm_claim *claim,
                      const struct dm_prepare_params *p, struct cdi_spec *spec,
                      struct dm_prepare_result *ret, struct hd_error *reterr)
{
        const struct dm_group **groups = NULL;
        size_t n_groups = 0;
        int r = 0;

        for (size_t i = 0; i < claim->n_results && r >= 0; i++) {
                const struct dm_claim_result *res = &claim->results[i];
                if (!hd_streq(res->driver, p->driver) || !hd_streq(res->pool, p->pool))
                        continue;
                const struct dm_device *dev = dm_inventory_find(inv, res->device);
                if (!dev) {
                        r = hd_error_setf(reterr, ENODEV,
                                          "device '%s' (request '%s') is not in this node's "
                                          "inventory",
                                          res->device, res->request);
                        break;
                }
                _cleanup_free_ char *name = NULL;
                r = cdi_claim_device_name(claim->uid, dev->name, &name, reterr);
                if (r >= 0)
                        r = add_device(spec, dev, name, p->result_env ? p->result_env[i] : NULL,
                                       reterr);
                if (r < 0) {
                        hd_error_wrap(reterr, "device '%s' (request '%s')", res->device,
                                      res->request);
                        break;
                }
                bool known = false;
                for (size_t g = 0; g < n_groups; g++)
                        known = known || groups[g] == dev->group;
                if (!known) {
                        groups = hd_realloc_array(groups, n_groups + 1, sizeof(*groups));
                        groups[n_groups++] = dev->group;
                }
                ret->devices =
                        hd_realloc_array(ret->devices, ret->n_devices + 1, sizeof(*ret->devices));
                ret->devices[ret->n_devices++] = (struct dm_prepared_device){
                        .request = hd_strdup(res->request),
                        .pool = hd_strdup(res->pool),
                        .device = hd_strdup(res->device),
                        .share_id = hd_strdup(res->share_id),
                        .cdi_id = cdi_qualified_id(spec->kind, name),
                };
        }

        /* Common edits of every group involved, once each, at spec level. */
        struct dm_edits common = {0};
        for (size_t g = 0; g < n_groups && r >= 0; g++) {
                struct dm_edits one = {0};
                r = dm_group_common_edits(groups[g], &one, reterr);
                if (r >= 0)
                        dm_edits_merge(&common, &one);
                dm_edits_done(&one);
        }
        if (r >= 0)
                dm_edits_to_cdi(&common, &spec->edits);
        dm_edits_done(&common);
        free(groups);
        return r;
}

int dm_prepare_claim(const struct dm_inventory *inv, const struct dm_claim *claim,
                     const struct dm_prepare_params *params, struct dm_prepare_result *ret,
                     struct hd_error *reterr)
{
        _cleanup_free_ char *kind = NULL;
        _cleanup_free_ char *file = NULL;
        int r;

        r = cdi_validate_claim_uid(claim->uid, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "prepare claim");
        if (!claim->allocated)
                return hd_error_setf(reterr, EINVAL, "prepare claim %s: not allocated", claim->uid);
        r = cdi_claim_spec_file_name(params->driver, claim->uid, &file, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "prepare claim %s", claim->uid);

        kind = cdi_claim_spec_kind(params->driver);
        struct cdi_spec *spec _cleanup_cdi_spec_ = cdi_spec_new(kind);
        r = build_spec(inv, claim, params, spec, ret, reterr);
        if (r < 0) {
                dm_prepare_result_done(ret);
                return hd_error_wrap(reterr, "prepare claim %s", claim->uid);
        }
        if (spec->n_devices == 0)
                return 0; /* nothing allocated to us here: no spec (CDI needs a device) */

        r = cdi_spec_write(params->cdi_root, file, spec, reterr);
        if (r < 0) {
                dm_prepare_result_done(ret);
                return hd_error_wrap(reterr, "prepare claim %s: write CDI spec", claim->uid);
        }
        ret->spec_file = TAKE_PTR(file);
        return 0;
}

int dm_unprepare_claim(const char *driver, const char *claim_uid, const char *cdi_root,
                       struct hd_error *reterr)
{
        _cleanup_free_ char *file = NULL;
        int r = cdi_claim_spec_file_name(driver, claim_uid, &file, reterr);
        if (r >= 0)
                r = cdi_spec_remove(cdi_root, file, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "unprepare claim %s", claim_uid);
        return 0;
}
