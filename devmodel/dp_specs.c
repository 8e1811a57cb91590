/* SPDX-License-Identifier: Apache-2.0 */
#include "devmodel/dp_specs.h"

#include <errno.h>
#include <stdlib.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "devmodel/cdi_specs.h"

char *dm_dp_resource_name(const struct dm_group *group, const char *driver)
{
        return group->resource_name ? hd_strdup(group->resource_name)
                                    : hd_asprintf("%s/%s", driver, group->name);
}

int dm_dp_device_edits(const struct dm_device *dev, const char *root, struct dm_edits *dst,
                       struct hd_error *reterr)
{
        struct dm_edits resolved = {0};
        int r = dm_edits_resolve(&dev->edits, root, &resolved, reterr);
        if (r >= 0)
                dm_edits_merge(dst, &resolved);
        dm_edits_done(&resolved);
        if (r < 0)
                return hd_error_wrap_r(reterr, r, "device '%s'", dev->name);
        return 0;
}

int dm_dp_spec_build(const struct dm_inventory *inv, const struct dm_group *group,
                     const char *driver, struct cdi_spec **ret, char ***ret_skipped,
                     struct hd_error *reterr)
{
        _cleanup_free_ char *kind = cdi_group_spec_kind(driver, group->name);
        struct cdi_spec *spec _cleanup_cdi_spec_ = cdi_spec_new(kind);

        *ret = NULL;
        for (size_t i = 0; i < inv->n_devices; i++) {
                const struct dm_device *d = &inv->devices[i];
                if (d->group != group)
                        continue;
                struct dm_edits edits = {0};
                struct hd_error e = HD_ERROR_INIT;
                int r = dm_dp_device_edits(d, dm_inventory_host_root(inv), &edits, &e);
                if (r >= 0)
                        dm_edits_to_cdi(&edits, &cdi_spec_add_device(spec, d->name)->edits);
                else if (ret_skipped)
                        hd_strv_push(ret_skipped, hd_error_message(&e));
                dm_edits_done(&edits);
                hd_error_done(&e);
        }
        if (spec->n_devices == 0)
                return hd_error_setf(reterr, ENODEV,
                                     "group '%s' has no usable device on this node; a CDI spec "
                                     "needs at least one",
                                     group->name);
        struct dm_edits common = {0};
        int r = dm_group_common_edits(group, dm_inventory_host_root(inv), &common, reterr);
        if (r >= 0)
                dm_edits_to_cdi(&common, &spec->edits);
        dm_edits_done(&common);
        if (r < 0)
                return r;
        r = cdi_spec_validate(spec, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "group '%s' spec", group->name);
        *ret = TAKE_PTR(spec);
        return 0;
}

/* Can E be said as device-plugin devices/mounts/envs? */
static int legacy_edits_check(const struct dm_group *g, const struct dm_edits_spec *e,
                              const char *where, struct hd_error *reterr)
{
        if (e->n_hooks > 0)
                return hd_error_setf(reterr, EINVAL,
                                     "group '%s' has hooks in %s (line %u): hooks need CDI, so "
                                     "the group cannot be served with --device-plugin-edits "
                                     "legacy; use --device-plugin-edits cdi",
                                     g->name, where, e->hooks[0].mark.line);
        for (size_t i = 0; i < e->n_mounts; i++)
                if (e->mounts[i].type && !hd_streq(e->mounts[i].type, "bind"))
                        return hd_error_setf(reterr, EINVAL,
                                             "group '%s' has a '%s' mount in %s (line %u): the "
                                             "device-plugin API only bind-mounts, so the group "
                                             "cannot be served with --device-plugin-edits "
                                             "legacy; use --device-plugin-edits cdi",
                                             g->name, e->mounts[i].type, where,
                                             e->mounts[i].mark.line);
        return 0;
}

int dm_dp_legacy_check(const struct dm_group *group, struct hd_error *reterr)
{
        int r = legacy_edits_check(group, &group->device_edits, "deviceEdits", reterr);
        if (r < 0)
                return r;
        return legacy_edits_check(group, &group->common_edits, "commonEdits", reterr);
}
