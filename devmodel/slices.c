/* SPDX-License-Identifier: Apache-2.0 */
#include "devmodel/slices.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "devmodel/names.h"

int dm_device_validate(const struct dm_device *dev, struct hd_error *reterr)
{
        if (!dm_is_dns_label(dev->name))
                return hd_error_setf(reterr, EINVAL,
                                     "device '%s': name is not a lowercase RFC 1123 label "
                                     "([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63)",
                                     dev->name);
        if (dev->n_attrs > DM_ATTRS_PER_DEVICE_MAX)
                return hd_error_setf(reterr, EINVAL,
                                     "device '%s': %zu attributes; the total number of "
                                     "attributes and capacities must not exceed %d",
                                     dev->name, dev->n_attrs, DM_ATTRS_PER_DEVICE_MAX);
        for (size_t i = 0; i < dev->n_attrs; i++) {
                const struct dm_attr *a = &dev->attrs[i];
                for (size_t j = 0; j < i; j++)
                        if (hd_streq(dev->attrs[j].name, a->name))
                                return hd_error_setf(reterr, EINVAL,
                                                     "device '%s': duplicate attribute '%s'",
                                                     dev->name, a->name);
                if (dm_attr_name_check(a->name, reterr) < 0 ||
                    dm_attr_value_check(a->name, a->type, a->value, reterr) < 0)
                        return hd_error_wrap(reterr, "device '%s'", dev->name);
        }
        return 0;
}

static json_t *attr_value_json(const struct dm_attr *a)
{
        switch (a->type) {
        case DM_ATTR_INT:
                return json_pack("{sI}", "int", (json_int_t)strtoll(a->value, NULL, 10));
        case DM_ATTR_BOOL:
                return json_pack("{sb}", "bool", hd_streq(a->value, "true"));
        case DM_ATTR_STRING:
                return json_pack("{ss}", "string", a->value);
        case DM_ATTR_VERSION:
                return json_pack("{ss}", "version", a->value);
        }
        return json_object();
}

json_t *dm_device_to_json(const struct dm_device *dev)
{
        json_t *attrs = json_object();
        for (size_t i = 0; i < dev->n_attrs; i++)
                json_object_set_new(attrs, dev->attrs[i].name, attr_value_json(&dev->attrs[i]));
        return json_pack("{ssso}", "name", dev->name, "attributes", attrs);
}

static json_t *slice_new(const struct dm_slice_params *p, size_t count, json_t *devices)
{
        _cleanup_free_ char *gen_name = hd_asprintf("%s-%s-", p->node, p->driver);
        return json_pack("{ss ss s{ss} s{ss ss s{ss sI sI} so}}", "apiVersion",
                         "resource.k8s.io/v1", "kind", "ResourceSlice", "metadata", "generateName",
                         gen_name, "spec", "driver", p->driver, "nodeName", p->node, "pool", "name",
                         p->node, "generation", (json_int_t)p->generation, "resourceSliceCount",
                         (json_int_t)count, "devices", devices);
}

int dm_slices_build(const struct dm_inventory *inv, const struct dm_slice_params *params,
                    json_t **ret_slices, char ***ret_dropped, struct hd_error *reterr)
{
        size_t max = params->max_devices ? params->max_devices : DM_SLICE_DEVICES_MAX;
        char **dropped = NULL;

        *ret_slices = NULL;
        *ret_dropped = NULL;
        if (!dm_is_dns_subdomain(params->driver) || strlen(params->driver) > DM_DNS_LABEL_MAX)
                return hd_error_setf(reterr, EINVAL,
                                     "driver name '%s' must be a lowercase DNS subdomain of at "
                                     "most 63 characters",
                                     params->driver);
        if (!dm_is_dns_subdomain(params->node))
                return hd_error_setf(reterr, EINVAL,
                                     "node name '%s' must be a lowercase DNS subdomain (it is "
                                     "also the pool name)",
                                     params->node);
        if (params->generation < 0)
                return hd_error_setf(reterr, EINVAL, "pool generation must not be negative");
        if (max > DM_SLICE_DEVICES_MAX)
                max = DM_SLICE_DEVICES_MAX;

        json_t *valid = json_array();
        for (size_t i = 0; i < inv->n_devices; i++) {
                struct hd_error e = HD_ERROR_INIT;
                if (dm_device_validate(&inv->devices[i], &e) < 0)
                        hd_strv_consume(&dropped, hd_strdup(hd_error_message(&e)));
                else
                        json_array_append_new(valid, dm_device_to_json(&inv->devices[i]));
                hd_error_done(&e);
        }

        size_t n = json_array_size(valid);
        size_t count = n == 0 ? 1 : (n + max - 1) / max;
        json_t *slices = json_array();
        for (size_t s = 0; s < count; s++) {
                json_t *devices = json_array();
                for (size_t i = s * max; i < n && i < (s + 1) * max; i++)
                        json_array_append(devices, json_array_get(valid, i));
                json_array_append_new(slices, slice_new(params, count, devices));
        }
        json_decref(valid);
        *ret_slices = slices;
        *ret_dropped = dropped;
        return 0;
}
