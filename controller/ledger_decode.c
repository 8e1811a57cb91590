/* SPDX-License-Identifier: Apache-2.0 */
/* JSON → the ledger's compact records. Claims decode through the device model's claim decoder
 * (field tables, capped), then keep only our driver's results; slices are read field by field,
 * in the layout of the version that served them (v1beta1 nests attributes and taints under
 * "basic"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/jsonfield.h"
#include "base/strutil.h"
#include "controller/ledger-internal.h"
#include "devmodel/claim.h"

HD_DEFINE_PTR_CLEANUP(dm_claim_free, struct dm_claim, dm_claim_free)
HD_DEFINE_PTR_CLEANUP(ctl_claim_free, struct ctl_claim, ctl_claim_free)
HD_DEFINE_PTR_CLEANUP(ctl_slice_free, struct ctl_slice, ctl_slice_free)

char *ctl_object_key(json_t *obj)
{
        const char *ns = NULL, *name = NULL;
        if (hd_json_get_string(obj, "metadata.name", true, &name, NULL) < 0 || !*name)
                return NULL;
        if (hd_json_get_string(obj, "metadata.namespace", false, &ns, NULL) < 0)
                ns = NULL;
        return ns && *ns ? hd_asprintf("%s/%s", ns, name) : hd_strdup(name);
}

struct ctl_claim *ctl_claim_free(struct ctl_claim *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_results; i++) {
                free(c->results[i].request);
                free(c->results[i].pool);
                free(c->results[i].device);
                free(c->results[i].share_id);
        }
        free(c->results);
        hd_strv_free(c->pods);
        free(c->key);
        free(c->namespace);
        free(c->name);
        free(c->uid);
        free(c);
        return NULL;
}

/* The pods of status.reservedFor, capped. */
static int decode_pods(json_t *obj, char ***ret, struct hd_error *reterr)
{
        json_t *list = NULL, *e;
        size_t i;
        int r = hd_json_get_array(obj, "status.reservedFor", false, &list, reterr);
        if (r < 0)
                return r;
        if (json_array_size(list) > CTL_LEDGER_PODS_MAX)
                return hd_error_setf(reterr, EINVAL, "status.reservedFor: %zu entries; at most %d",
                                     json_array_size(list), CTL_LEDGER_PODS_MAX);
        json_array_foreach(list, i, e)
        {
                const char *resource = NULL, *name = NULL;
                if (hd_json_get_string(e, "resource", false, &resource, reterr) < 0 ||
                    hd_json_get_string(e, "name", true, &name, reterr) < 0)
                        return hd_error_wrap(reterr, "status.reservedFor[%zu]", i);
                if (hd_streq(resource, "pods"))
                        hd_strv_push(ret, name);
        }
        return 0;
}

int ctl_claim_decode(json_t *obj, const char *driver, struct ctl_claim **ret,
                     struct hd_error *reterr)
{
        _cleanup_(dm_claim_freep) struct dm_claim *dc = NULL;
        *ret = NULL;
        int r = dm_claim_from_json_value(obj, &dc, reterr);
        if (r < 0)
                return r;
        if (!dc->namespace || !*dc->namespace)
                return hd_error_setf(reterr, EINVAL, "decode ResourceClaim: no namespace");

        size_t ours = 0;
        for (size_t i = 0; dc->allocated && i < dc->n_results; i++)
                ours += hd_streq(dc->results[i].driver, driver);
        if (ours == 0)
                return 0;
        if (ours > CTL_LEDGER_RESULTS_MAX)
                return hd_error_setf(reterr, EINVAL,
                                     "decode ResourceClaim: %zu results; at most %d", ours,
                                     CTL_LEDGER_RESULTS_MAX);

        _cleanup_(ctl_claim_freep) struct ctl_claim *c = hd_new0(struct ctl_claim, 1);
        c->results = hd_new0(struct ctl_result, ours);
        for (size_t i = 0; i < dc->n_results; i++) {
                struct dm_claim_result *dr = &dc->results[i];
                if (!hd_streq(dr->driver, driver))
                        continue;
                c->results[c->n_results++] = (struct ctl_result){
                        .request = TAKE_PTR(dr->request),
                        .pool = TAKE_PTR(dr->pool),
                        .device = TAKE_PTR(dr->device),
                        .share_id = TAKE_PTR(dr->share_id),
                        .admin_access = dr->admin_access,
                };
        }
        r = decode_pods(obj, &c->pods, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "decode ResourceClaim");
        c->namespace = TAKE_PTR(dc->namespace);
        c->name = TAKE_PTR(dc->name);
        c->uid = TAKE_PTR(dc->uid);
        c->key = hd_asprintf("%s/%s", c->namespace, c->name);
        *ret = TAKE_PTR(c);
        return 0;
}

struct ctl_slice *ctl_slice_free(struct ctl_slice *s)
{
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_devices; i++) {
                free(s->devices[i].name);
                free(s->devices[i].group);
        }
        free(s->devices);
        free(s->key);
        free(s->pool);
        free(s->node_name);
        free(s);
        return NULL;
}

/* The device's group: attribute "group", or "<driver>/group" when the slice qualifies it. */
static int device_group(json_t *attrs, const char *driver, const char **ret,
                        struct hd_error *reterr)
{
        json_t *a = json_object_get(attrs, "group");
        if (!a) {
                _cleanup_free_ char *qualified = hd_asprintf("%s/group", driver);
                a = json_object_get(attrs, qualified);
        }
        *ret = NULL;
        return a ? hd_json_get_string(a, "string", false, ret, reterr) : 0;
}

static bool has_blocking_taint(json_t *taints)
{
        size_t i;
        json_t *t;
        json_array_foreach(taints, i, t)
        {
                const char *effect = json_string_value(json_object_get(t, "effect"));
                if (hd_streq(effect, "NoSchedule") || hd_streq(effect, "NoExecute"))
                        return true;
        }
        return false;
}

static int decode_device(json_t *d, const char *driver, struct ctl_pubdev *ret,
                         struct hd_error *reterr)
{
        const char *name = NULL, *group = NULL;
        json_t *holder = json_object_get(d, "basic"), *attrs = NULL, *taints = NULL;
        if (!json_is_object(holder))
                holder = d; /* v1, v1beta2 */
        int r = hd_json_get_string(d, "name", true, &name, reterr);
        if (r >= 0)
                r = hd_json_get_object(holder, "attributes", false, &attrs, reterr);
        if (r >= 0)
                r = hd_json_get_array(holder, "taints", false, &taints, reterr);
        if (r >= 0)
                r = device_group(attrs, driver, &group, reterr);
        if (r < 0)
                return r;
        *ret = (struct ctl_pubdev){hd_strdup(name), hd_strdup(group ? group : ""),
                                   has_blocking_taint(taints)};
        return 0;
}

static int decode_devices(json_t *obj, const char *driver, struct ctl_slice *s,
                          struct hd_error *reterr)
{
        json_t *devices = NULL, *d;
        size_t i;
        int r = hd_json_get_array(obj, "spec.devices", false, &devices, reterr);
        if (r < 0)
                return r;
        if (json_array_size(devices) > CTL_LEDGER_DEVICES_MAX)
                return hd_error_setf(reterr, EINVAL, "spec.devices: %zu devices; at most %d",
                                     json_array_size(devices), CTL_LEDGER_DEVICES_MAX);
        s->devices = hd_new0(struct ctl_pubdev, json_array_size(devices) + 1);
        json_array_foreach(devices, i, d)
        {
                r = decode_device(d, driver, &s->devices[s->n_devices], reterr);
                if (r < 0)
                        return hd_error_wrap(reterr, "spec.devices[%zu]", i);
                s->n_devices++;
        }
        return 0;
}

int ctl_slice_decode(json_t *obj, const char *driver, struct ctl_slice **ret,
                     struct hd_error *reterr)
{
        const char *name = NULL, *drv = NULL, *pool = NULL, *node = NULL;
        int64_t generation = 0;
        *ret = NULL;
        int r = hd_json_get_string(obj, "metadata.name", true, &name, reterr);
        if (r >= 0)
                r = hd_json_get_string(obj, "spec.driver", true, &drv, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "decode ResourceSlice");
        if (!hd_streq(drv, driver))
                return 0;
        r = hd_json_get_string(obj, "spec.pool.name", true, &pool, reterr);
        if (r >= 0)
                r = hd_json_get_int(obj, "spec.pool.generation", false, &generation, reterr);
        if (r >= 0)
                r = hd_json_get_string(obj, "spec.nodeName", false, &node, reterr);
        if (r >= 0 && !*pool)
                r = hd_error_setf(reterr, EINVAL, "spec.pool.name: empty");
        if (r < 0)
                return hd_error_wrap(reterr, "decode ResourceSlice '%s'", name);

        _cleanup_(ctl_slice_freep) struct ctl_slice *s = hd_new0(struct ctl_slice, 1);
        r = decode_devices(obj, driver, s, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "decode ResourceSlice '%s'", name);
        s->key = hd_strdup(name);
        s->pool = hd_strdup(pool);
        s->node_name = node && *node ? hd_strdup(node) : NULL;
        s->generation = generation;
        *ret = TAKE_PTR(s);
        return 0;
}
