/* SPDX-License-Identifier: Apache-2.0 */
#include "devmodel/prepare.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "cdi/cdi.h"
#include "devmodel/cdi_specs.h"
#include "devmodel/claim_env.h"

void dm_prepared_claim_init(struct dm_prepared_claim *rec, const struct dm_claim *claim,
                            const char *driver, const char *pool, char **const *result_env)
{
        rec->uid = hd_strdup(claim->uid);
        rec->namespace = hd_strdup(claim->namespace);
        rec->name = hd_strdup(claim->name);
        rec->devices = hd_new0(struct dm_prepared_device, claim->n_results);
        for (size_t i = 0; i < claim->n_results; i++) {
                const struct dm_claim_result *res = &claim->results[i];
                if (!hd_streq(res->driver, driver) || !hd_streq(res->pool, pool))
                        continue;
                size_t k = rec->n_devices++;
                rec->devices[k] = (struct dm_prepared_device){
                        .request = hd_strdup(res->request),
                        .pool = hd_strdup(res->pool),
                        .device = hd_strdup(res->device),
                        .share_id = hd_strdup(res->share_id),
                        .admin_access = res->admin_access,
                        .env_set = -1,
                };
                if (result_env)
                        dm_prepared_claim_set_env(rec, k, result_env[i]);
        }
}

void dm_prepared_claim_set_env(struct dm_prepared_claim *rec, size_t i, char *const *env)
{
        struct dm_prepared_device *dev = &rec->devices[i];
        dev->env_set = -1;
        if (!env || !env[0])
                return;
        for (size_t s = 0; s < rec->n_env_sets; s++)
                if (hd_strv_equal(rec->env_sets[s], env)) {
                        dev->env_set = (int)s;
                        return;
                }
        rec->env_sets =
                hd_realloc_array(rec->env_sets, rec->n_env_sets + 1, sizeof(*rec->env_sets));
        rec->env_sets[rec->n_env_sets] = hd_strv_copy(env);
        dev->env_set = (int)rec->n_env_sets++;
}

char *const *dm_prepared_device_env(const struct dm_prepared_claim *rec, size_t i)
{
        int s = rec->devices[i].env_set;
        return s >= 0 && (size_t)s < rec->n_env_sets ? rec->env_sets[s] : NULL;
}

void dm_prepared_claim_copy(struct dm_prepared_claim *dst, const struct dm_prepared_claim *src)
{
        dst->uid = hd_strdup(src->uid);
        dst->namespace = hd_strdup(src->namespace);
        dst->name = hd_strdup(src->name);
        dst->spec_file = hd_strdup(src->spec_file);
        dst->n_devices = src->n_devices;
        dst->devices = hd_new0(struct dm_prepared_device, src->n_devices);
        for (size_t i = 0; i < src->n_devices; i++) {
                const struct dm_prepared_device *s = &src->devices[i];
                dst->devices[i] = (struct dm_prepared_device){
                        .request = hd_strdup(s->request),
                        .pool = hd_strdup(s->pool),
                        .device = hd_strdup(s->device),
                        .share_id = hd_strdup(s->share_id),
                        .admin_access = s->admin_access,
                        .cdi_ids = hd_strv_copy(s->cdi_ids),
                        .env_set = s->env_set,
                };
        }
        dst->n_env_sets = src->n_env_sets;
        dst->env_sets = hd_new0(char **, src->n_env_sets);
        for (size_t s = 0; s < src->n_env_sets; s++)
                dst->env_sets[s] = hd_strv_copy(src->env_sets[s]);
}

void dm_prepared_claim_done(struct dm_prepared_claim *rec)
{
        if (!rec)
                return;
        free(rec->uid);
        free(rec->namespace);
        free(rec->name);
        free(rec->spec_file);
        for (size_t i = 0; i < rec->n_devices; i++) {
                struct dm_prepared_device *dev = &rec->devices[i];
                free(dev->request);
                free(dev->pool);
                free(dev->device);
                free(dev->share_id);
                hd_strv_free(dev->cdi_ids);
        }
        free(rec->devices);
        for (size_t s = 0; s < rec->n_env_sets; s++)
                hd_strv_free(rec->env_sets[s]);
        free(rec->env_sets);
        *rec = (struct dm_prepared_claim){0};
}

/* Append the entries of ENV (strv, may be NULL) that CD does not hold yet. */
static void add_env(struct cdi_edits *edits, char *const *env)
{
        for (size_t i = 0; env && env[i]; i++)
                if (!hd_strv_contains(edits->env, env[i]))
                        cdi_edits_add_env(edits, env[i]);
}

/* Add device DEV to SPEC as NAME, once, after checking its node and resolving its edits now;
 * ENV (per-result extra entries) goes into that device's edits. */
static int add_device(struct cdi_spec *spec, const struct dm_device *dev, const char *root,
                      const char *name, char *const *env, struct hd_error *reterr)
{
        struct cdi_device *cd = cdi_spec_find_device(spec, name);
        if (cd) { /* the same device allocated twice (shared): one CDI device */
                add_env(&cd->edits, env);
                return 0;
        }
        int r = dm_device_check(dev, root, reterr);
        if (r < 0)
                return r;
        struct dm_edits resolved = {0};
        r = dm_edits_resolve(&dev->edits, root, &resolved, reterr);
        if (r >= 0) {
                cd = cdi_spec_add_device(spec, name);
                dm_edits_to_cdi(&resolved, &cd->edits);
                add_env(&cd->edits, env);
        }
        dm_edits_done(&resolved);
        return r;
}

/* The env set every device of REC has, or -1 when they differ or there is none. */
static int shared_env_set(const struct dm_prepared_claim *rec)
{
        int set = rec->n_devices ? rec->devices[0].env_set : -1;
        for (size_t i = 1; i < rec->n_devices && set >= 0; i++)
                if (rec->devices[i].env_set != set)
                        set = -1;
        return set;
}

static size_t strv_bytes(char *const *v)
{
        size_t n = 0;
        for (size_t i = 0; v && v[i]; i++)
                n += strlen(v[i]) + 1;
        return n;
}

size_t dm_prepared_claim_env_bytes(const struct dm_prepared_claim *rec)
{
        int shared = shared_env_set(rec);
        if (shared >= 0)
                return strv_bytes(rec->env_sets[shared]);
        size_t n = 0;
        for (size_t i = 0; i < rec->n_devices; i++) {
                bool again = false; /* a shared device with the same env: one CDI device */
                for (size_t j = 0; j < i && !again; j++)
                        again = rec->devices[j].env_set == rec->devices[i].env_set &&
                                hd_streq(rec->devices[j].device, rec->devices[i].device);
                if (!again)
                        n += strv_bytes(dm_prepared_device_env(rec, i));
        }
        return n;
}

int dm_prepared_claim_check_size(const struct dm_prepared_claim *rec, struct hd_error *reterr)
{
        size_t n = dm_prepared_claim_env_bytes(rec);
        if (n > DM_PREPARE_MAX_CLAIM_ENV)
                return hd_error_setf(reterr, EFBIG,
                                     "opaque env of claim %s needs %zu bytes in its CDI spec, "
                                     "more than the %d bytes one claim may write "
                                     "(DM_PREPARE_MAX_CLAIM_ENV); use fewer or smaller env "
                                     "entries, or configs that apply to all requests",
                                     rec->uid ? rec->uid : "", n, DM_PREPARE_MAX_CLAIM_ENV);
        return 0;
}

/* Add every device of REC to SPEC, filling their CDI IDs; *RET_GROUPS lists the groups
 * involved, once each. */
static int add_devices(const struct dm_inventory *inv, struct dm_prepared_claim *rec,
                       struct cdi_spec *spec, const struct dm_group ***ret_groups,
                       size_t *ret_n_groups, struct hd_error *reterr)
{
        for (size_t i = 0; i < rec->n_devices; i++) {
                struct dm_prepared_device *pd = &rec->devices[i];
                const struct dm_device *dev = dm_inventory_find(inv, pd->device);
                if (!dev)
                        return hd_error_setf(reterr, ENODEV,
                                             "device '%s' (request '%s') is not in this node's "
                                             "inventory",
                                             pd->device, pd->request);
                char *const *env = dm_prepared_device_env(rec, i);
                _cleanup_free_ char *name = NULL;
                int r = dm_claim_env_check(inv->config, dev->group, env, reterr);
                if (r >= 0)
                        r = cdi_claim_device_name(rec->uid, dev->name, &name, reterr);
                if (r >= 0) /* env every device shares goes in once, at spec level */
                        r = add_device(spec, dev, dm_inventory_host_root(inv), name,
                                       shared_env_set(rec) < 0 ? env : NULL, reterr);
                if (r < 0)
                        return hd_error_wrap(reterr, "device '%s' (request '%s')", pd->device,
                                             pd->request);
                bool known = false;
                for (size_t g = 0; g < *ret_n_groups; g++)
                        known = known || (*ret_groups)[g] == dev->group;
                if (!known) {
                        *ret_groups = hd_realloc_array(*ret_groups, *ret_n_groups + 1,
                                                       sizeof(**ret_groups));
                        (*ret_groups)[(*ret_n_groups)++] = dev->group;
                }
                pd->cdi_ids = hd_strv_free(pd->cdi_ids);
                hd_strv_consume(&pd->cdi_ids, cdi_qualified_id(spec->kind, name));
        }
        return 0;
}

static int build_spec(const struct dm_inventory *inv, struct dm_prepared_claim *rec,
                      struct cdi_spec *spec, struct hd_error *reterr)
{
        const struct dm_group **groups = NULL;
        size_t n_groups = 0;
        int r = add_devices(inv, rec, spec, &groups, &n_groups, reterr);

        /* Common edits of every group involved, once each, at spec level. */
        struct dm_edits common = {0};
        for (size_t g = 0; g < n_groups && r >= 0; g++) {
                struct dm_edits one = {0};
                r = dm_group_common_edits(groups[g], dm_inventory_host_root(inv), &one, reterr);
                if (r >= 0)
                        dm_edits_merge(&common, &one);
                dm_edits_done(&one);
        }
        if (r >= 0) {
                dm_edits_to_cdi(&common, &spec->edits);
                int shared = shared_env_set(rec);
                if (shared >= 0) /* once for the claim, not once per device */
                        add_env(&spec->edits, rec->env_sets[shared]);
        }
        dm_edits_done(&common);
        free(groups);
        return r;
}

/* Entries of HAVE that BASE lacks (a new strv, NULL when none). */
static char **strv_minus(char *const *have, char *const *base)
{
        char **out = NULL;
        for (size_t i = 0; have && have[i]; i++)
                if (!hd_strv_contains(base, have[i]))
                        hd_strv_push(&out, have[i]);
        return out;
}

int dm_prepared_claim_recover_env(const struct dm_inventory *inv, struct dm_prepared_claim *rec,
                                  const struct cdi_spec *spec, struct hd_error *reterr)
{
        /* What prepare writes for these devices today without any claim env. */
        struct cdi_spec *base _cleanup_cdi_spec_ = cdi_spec_new(spec->kind);
        int r = build_spec(inv, rec, base, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "recover env of claim %s", rec->uid);
        char **shared _cleanup_strv_ = strv_minus(spec->edits.env, base->edits.env);
        for (size_t i = 0; i < rec->n_devices; i++) {
                const struct dm_device *dev = dm_inventory_find(inv, rec->devices[i].device);
                _cleanup_free_ char *name = NULL;
                if (cdi_claim_device_name(rec->uid, dev->name, &name, NULL) < 0)
                        continue;
                const struct cdi_device *have = cdi_spec_find_device(spec, name);
                const struct cdi_device *want = cdi_spec_find_device(base, name);
                char **env _cleanup_strv_ =
                        have && want ? strv_minus(have->edits.env, want->edits.env) : NULL;
                for (size_t k = 0; shared && shared[k]; k++)
                        if (!hd_strv_contains(env, shared[k]))
                                hd_strv_push(&env, shared[k]);
                if (env)
                        dm_prepared_claim_set_env(rec, i, env);
        }
        return 0;
}

int dm_prepare_record(const struct dm_inventory *inv, const struct dm_prepare_params *params,
                      struct dm_prepared_claim *rec, struct hd_error *reterr)
{
        _cleanup_free_ char *kind = NULL;
        _cleanup_free_ char *file = NULL;

        int r = cdi_validate_claim_uid(rec->uid, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "prepare claim");
        r = cdi_claim_spec_file_name(params->driver, rec->uid, &file, reterr);
        if (r >= 0)
                r = dm_prepared_claim_check_size(rec, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "prepare claim %s", rec->uid);

        kind = cdi_claim_spec_kind(params->driver);
        struct cdi_spec *spec _cleanup_cdi_spec_ = cdi_spec_new(kind);
        r = build_spec(inv, rec, spec, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "prepare claim %s", rec->uid);
        if (spec->n_devices == 0)
                return 0; /* nothing allocated to us here: no spec (CDI needs a device) */

        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = cdi_spec_write(params->cdi_root, file, spec, reterr);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (params->spec_write_seconds)
                *params->spec_write_seconds =
                        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (r < 0)
                return hd_error_wrap(reterr, "prepare claim %s", rec->uid);
        free(rec->spec_file);
        rec->spec_file = TAKE_PTR(file);
        return 0;
}

int dm_prepare_claim(const struct dm_inventory *inv, const struct dm_claim *claim,
                     const struct dm_prepare_params *params, struct dm_prepared_claim *ret,
                     struct hd_error *reterr)
{
        int r = cdi_validate_claim_uid(claim->uid, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "prepare claim");
        if (!claim->allocated)
                return hd_error_setf(reterr, EINVAL, "prepare claim %s: not allocated", claim->uid);
        dm_prepared_claim_init(ret, claim, params->driver, params->pool, params->result_env);
        r = dm_prepare_record(inv, params, ret, reterr);
        if (r < 0)
                dm_prepared_claim_done(ret);
        return r;
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
