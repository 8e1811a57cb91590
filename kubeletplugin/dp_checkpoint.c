/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/dp_checkpoint.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/cleanup-json.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/jsonfield.h"
#include "base/strutil.h"

static void add_hold(struct kp_dp_checkpoint *c, const char *resource, const char *pod_uid,
                     const char *container, char **device_ids /* taken */)
{
        c->holds = hd_realloc_array(c->holds, c->n_holds + 1, sizeof(*c->holds));
        c->holds[c->n_holds++] = (struct kp_dp_hold){.resource = hd_strdup(resource),
                                                     .pod_uid = hd_strdup(pod_uid),
                                                     .container = hd_strdup(container),
                                                     .device_ids = device_ids};
}

static void problem(struct kp_dp_checkpoint *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void problem(struct kp_dp_checkpoint *c, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        hd_strv_consume(&c->problems, hd_vasprintf(fmt, ap));
        va_end(ap);
}

/* The fail-safe hold: every resource of interest TEXT names (as a JSON string), or every one
 * when TEXT is NULL, is held whole by someone unknown. */
static void hold_named(struct kp_dp_checkpoint *c, char *const *resources, const char *text)
{
        for (char *const *r = resources; r && *r; r++) {
                _cleanup_free_ char *quoted = hd_asprintf("\"%s\"", *r);
                if (!text || strstr(text, quoted))
                        add_hold(c, *r, NULL, NULL, NULL);
        }
}

/* The IDs of one entry: {"<numa>": [ids], ...} (kubelet >= 1.20) or [ids] (older). NULL when
 * the value is anything else; the caller then holds the whole resource. */
static char **device_ids(json_t *v)
{
        _cleanup_strv_ char **ids = hd_new0(char *, 1);
        json_t *lists = json_is_array(v) ? json_pack("{s:O}", "-1", v) : json_incref(v);
        _cleanup_json_ json_t *owner = lists;
        if (!json_is_object(lists))
                return NULL;
        const char *numa;
        json_t *list, *id;
        size_t i;
        json_object_foreach(lists, numa, list)
        {
                if (!json_is_array(list))
                        return NULL;
                json_array_foreach(list, i, id)
                {
                        if (!json_is_string(id))
                                return NULL;
                        if (!hd_strv_contains(ids, json_string_value(id)))
                                hd_strv_push(&ids, json_string_value(id));
                }
        }
        return TAKE_PTR(ids);
}

/* One PodDeviceEntries element. Fields are read one by one, not through a table, so that one
 * damaged field costs only what it must: the entry's resource is still known, or its pod. */
static void parse_entry(struct kp_dp_checkpoint *c, const char *what, size_t i, json_t *e,
                        char *const *resources)
{
        const char *resource = NULL, *pod = NULL, *ctr = NULL;
        struct hd_error err = HD_ERROR_INIT;
        if (!json_is_object(e) ||
            hd_json_get_string(e, "ResourceName", true, &resource, &err) < 0) {
                _cleanup_free_ char *text = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
                problem(c, "%s: PodDeviceEntries[%zu]: no ResourceName%s%s", what, i,
                        err.message ? ": " : "", hd_error_message(&err));
                hd_error_done(&err);
                hold_named(c, resources, text ? text : "");
                return;
        }
        if (!hd_strv_contains(resources, resource))
                return;
        if (hd_json_get_string(e, "PodUID", true, &pod, &err) < 0 || !pod || !*pod) {
                problem(c, "%s: PodDeviceEntries[%zu] (%s): no PodUID; held until the entry goes",
                        what, i, resource);
                pod = NULL;
        }
        hd_error_done(&err);
        (void)hd_json_get_string(e, "ContainerName", false, &ctr, NULL);
        char **ids = device_ids(json_object_get(e, "DeviceIDs"));
        if (!ids)
                problem(c,
                        "%s: PodDeviceEntries[%zu] (%s): DeviceIDs unreadable; holding every "
                        "device of the resource",
                        what, i, resource);
        add_hold(c, resource, pod, ctr, ids);
}

void kp_dp_checkpoint_parse(const char *what, const char *data, size_t len, char *const *resources,
                            struct kp_dp_checkpoint *ret)
{
        _cleanup_json_ json_t *doc = NULL;
        struct hd_error e = HD_ERROR_INIT;
        json_t *entries = NULL;
        int r = hd_json_parse(data, len, 0, what, &doc, &e);
        if (r >= 0 && !json_is_object(doc))
                r = hd_error_setf(&e, EINVAL, "%s: expected an object", what);
        if (r >= 0)
                r = hd_json_get_array(doc, "Data.PodDeviceEntries", false, &entries, &e);
        if (r < 0) {
                problem(ret, "%s", hd_error_message(&e));
                hd_error_done(&e);
                hold_named(ret, resources, data);
                return;
        }
        size_t i;
        json_t *entry;
        json_array_foreach(entries, i, entry) parse_entry(ret, what, i, entry, resources);
}

void kp_dp_checkpoint_read(const char *path, char *const *resources, struct kp_dp_checkpoint *ret)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        struct hd_error e = HD_ERROR_INIT;
        int r = hd_read_file(path, KP_DP_CHECKPOINT_MAX_BYTES, true, &data, &len, &e);
        if (r == -ENOENT || r == -ENOTDIR) {
                hd_error_done(&e);
                return;
        }
        if (r < 0) {
                problem(ret, "read '%s': %s", path, hd_error_message(&e));
                hd_error_done(&e);
                hold_named(ret, resources, NULL);
                return;
        }
        kp_dp_checkpoint_parse(path, data, len, resources, ret);
}

void kp_dp_checkpoint_done(struct kp_dp_checkpoint *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n_holds; i++) {
                free(c->holds[i].resource);
                free(c->holds[i].pod_uid);
                free(c->holds[i].container);
                hd_strv_free(c->holds[i].device_ids);
        }
        free(c->holds);
        hd_strv_free(c->problems);
        *c = (struct kp_dp_checkpoint){0};
}
