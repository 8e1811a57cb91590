/* SPDX-License-Identifier: Apache-2.0 */
/* Strict reader for CDI spec JSON. Like the CDI library's loader (which unmarshals strictly),
 * an unknown or duplicate field is an error, and so is a wrong type or an out-of-range number.
 * Every message names the field path, e.g. "devices[0].containerEdits.mounts[2].options".
 * JSON null counts as absent, as it does for the Go structs' optional fields. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/strutil.h"
#include "cdi/cdi-internal.h"
#include "cdi/cdi.h"

/* The field table of one object type: the keys it may hold. */
struct fields {
        const char *type_name;
        const char *const *keys;
};

static const char *const spec_keys[] = {"cdiVersion", "kind",           "annotations",
                                        "devices",    "containerEdits", NULL};
static const char *const device_keys[] = {"name", "annotations", "containerEdits", NULL};
static const char *const edits_keys[] = {"env",        "deviceNodes", "mounts",         "hooks",
                                         "netDevices", "intelRdt",    "additionalGids", NULL};
static const char *const node_keys[] = {"path",     "hostPath",    "type", "major", "minor",
                                        "fileMode", "permissions", "uid",  "gid",   NULL};
static const char *const mount_keys[] = {"hostPath", "containerPath", "type", "options", NULL};
static const char *const hook_keys[] = {"hookName", "path", "args", "env", "timeout", NULL};
static const char *const net_keys[] = {"hostInterfaceName", "name", NULL};
static const char *const rdt_keys[] = {"closID",   "l3CacheSchema",    "memBwSchema",
                                       "schemata", "enableMonitoring", NULL};

static const struct fields spec_fields = {"spec", spec_keys};
static const struct fields device_fields = {"device", device_keys};
static const struct fields edits_fields = {"containerEdits", edits_keys};
static const struct fields node_fields = {"deviceNode", node_keys};
static const struct fields mount_fields = {"mount", mount_keys};
static const struct fields hook_fields = {"hook", hook_keys};
static const struct fields net_fields = {"netDevice", net_keys};
static const struct fields rdt_fields = {"intelRdt", rdt_keys};

/* "PATH.KEY", or "KEY" at the top level. Caller frees. */
static char *field_path(const char *path, const char *key)
{
        return *path ? hd_asprintf("%s.%s", path, key) : hd_strdup(key);
}

static int check_object(const json_t *v, const char *path, const struct fields *f,
                        struct hd_error *reterr)
{
        const char *key;
        json_t *value;

        if (!json_is_object(v))
                return hd_error_setf(reterr, EINVAL, "%s: expected a %s object",
                                     *path ? path : "document", f->type_name);
        json_object_foreach((json_t *)v, key, value)
        {
                bool known = false;

                for (const char *const *k = f->keys; *k; k++)
                        known = known || strcmp(*k, key) == 0;
                if (!known)
                        return hd_error_setf(reterr, EINVAL, "%s%sunknown field \"%s\" in %s", path,
                                             *path ? ": " : "", key, f->type_name);
        }
        return 0;
}

/* The member KEY of OBJ, or NULL when absent or null. Borrowed. */
static json_t *member(const json_t *obj, const char *key)
{
        json_t *v = json_object_get(obj, key);

        return json_is_null(v) ? NULL : v;
}

static int get_string(const json_t *obj, const char *path, const char *key, bool required,
                      char **ret, struct hd_error *reterr)
{
        json_t *v = member(obj, key);
        _cleanup_free_ char *fp = NULL;

        if (!v) {
                if (!required)
                        return 0;
                fp = field_path(path, key);
                return hd_error_setf(reterr, EINVAL, "%s: required field missing", fp);
        }
        if (!json_is_string(v)) {
                fp = field_path(path, key);
                return hd_error_setf(reterr, EINVAL, "%s: expected a string", fp);
        }
        *ret = hd_strdup(json_string_value(v));
        return 0;
}

static int get_strv(const json_t *obj, const char *path, const char *key, char ***ret,
                    struct hd_error *reterr)
{
        json_t *v = member(obj, key), *item;
        _cleanup_free_ char *fp = NULL;
        size_t i;

        if (!v)
                return 0;
        fp = field_path(path, key);
        if (!json_is_array(v))
                return hd_error_setf(reterr, EINVAL, "%s: expected an array of strings", fp);
        json_array_foreach(v, i, item)
        {
                if (!json_is_string(item))
                        return hd_error_setf(reterr, EINVAL, "%s[%zu]: expected a string", fp, i);
                hd_strv_push(ret, json_string_value(item));
        }
        return 0;
}

static int get_int(const json_t *obj, const char *path, const char *key, int64_t min, int64_t max,
                   bool *ret_has, int64_t *ret, struct hd_error *reterr)
{
        json_t *v = member(obj, key);
        _cleanup_free_ char *fp = NULL;
        json_int_t n;

        if (!v)
                return 0;
        fp = field_path(path, key);
        if (!json_is_integer(v))
                return hd_error_setf(reterr, EINVAL, "%s: expected an integer", fp);
        n = json_integer_value(v);
        if (n < min || n > max)
                return hd_error_setf(reterr, EINVAL, "%s: %lld out of range %lld..%lld", fp,
                                     (long long)n, (long long)min, (long long)max);
        *ret_has = true;
        *ret = n;
        return 0;
}

static int get_u32(const json_t *obj, const char *path, const char *key, bool *ret_has,
                   uint32_t *ret, struct hd_error *reterr)
{
        int64_t n = 0;
        bool has = false;
        int r;

        r = get_int(obj, path, key, 0, UINT32_MAX, &has, &n, reterr);
        if (r < 0)
                return r;
        if (has) {
                *ret_has = true;
                *ret = (uint32_t)n;
        }
        return 0;
}

/* Parses one array element found at PATH into USERDATA. */
typedef int (*parse_item_cb)(const json_t *item, const char *path, void *userdata,
                             struct hd_error *reterr);

/* Call PARSE_CB for each element of the optional array member KEY of OBJ, with the element's
 * path "PATH.KEY[i]"; stop at the first failure. */
static int parse_array(const json_t *obj, const char *path, const char *key, parse_item_cb parse_cb,
                       void *userdata, struct hd_error *reterr)
{
        json_t *arr = member(obj, key);
        _cleanup_free_ char *fp = NULL;

        if (!arr)
                return 0;
        fp = field_path(path, key);
        if (!json_is_array(arr))
                return hd_error_setf(reterr, EINVAL, "%s: expected an array", fp);
        for (size_t i = 0; i < json_array_size(arr); i++) {
                _cleanup_free_ char *item_path = hd_asprintf("%s[%zu]", fp, i);
                int r = parse_cb(json_array_get(arr, i), item_path, userdata, reterr);

                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_annotations(const json_t *obj, const char *path, struct cdi_annotations *a,
                             struct hd_error *reterr)
{
        json_t *v = member(obj, "annotations"), *value;
        _cleanup_free_ char *fp = NULL;
        const char *key;

        if (!v)
                return 0;
        fp = field_path(path, "annotations");
        if (!json_is_object(v))
                return hd_error_setf(reterr, EINVAL, "%s: expected an object of strings", fp);
        json_object_foreach(v, key, value)
        {
                if (!json_is_string(value))
                        return hd_error_setf(reterr, EINVAL, "%s.%s: expected a string", fp, key);
                cdi_annotations_set(a, key, json_string_value(value));
        }
        return 0;
}

static int parse_device_node_cb(const json_t *v, const char *path, void *userdata,
                                struct hd_error *reterr)
{
        struct cdi_edits *e = userdata;
        _cleanup_free_ char *p = NULL, *host_path = NULL;
        struct cdi_device_node *d;
        int64_t file_mode = 0;
        bool has_file_mode = false;
        int r;

        r = check_object(v, path, &node_fields, reterr);
        if (r < 0)
                return r;
        r = get_string(v, path, "path", true, &p, reterr);
        if (r < 0)
                return r;
        r = get_string(v, path, "hostPath", false, &host_path, reterr);
        if (r < 0)
                return r;
        d = cdi_edits_add_device_node(e, p, host_path);
        if ((r = get_string(v, path, "type", false, &d->type, reterr)) < 0 ||
            (r = get_int(v, path, "major", INT64_MIN, INT64_MAX, &d->has_major, &d->major,
                         reterr)) < 0 ||
            (r = get_int(v, path, "minor", INT64_MIN, INT64_MAX, &d->has_minor, &d->minor,
                         reterr)) < 0 ||
            (r = get_int(v, path, "fileMode", 0, UINT32_MAX, &has_file_mode, &file_mode, reterr)) <
                    0 ||
            (r = get_string(v, path, "permissions", false, &d->permissions, reterr)) < 0 ||
            (r = get_u32(v, path, "uid", &d->has_uid, &d->uid, reterr)) < 0 ||
            (r = get_u32(v, path, "gid", &d->has_gid, &d->gid, reterr)) < 0)
                return r;
        d->has_file_mode = has_file_mode;
        d->file_mode = (uint32_t)file_mode;
        return 0;
}

static int parse_mount_cb(const json_t *v, const char *path, void *userdata,
                          struct hd_error *reterr)
{
        struct cdi_edits *e = userdata;
        _cleanup_free_ char *host_path = NULL, *container_path = NULL, *type = NULL;
        struct cdi_mount *m;
        int r;

        if ((r = check_object(v, path, &mount_fields, reterr)) < 0 ||
            (r = get_string(v, path, "hostPath", true, &host_path, reterr)) < 0 ||
            (r = get_string(v, path, "containerPath", true, &container_path, reterr)) < 0 ||
            (r = get_string(v, path, "type", false, &type, reterr)) < 0)
                return r;
        m = cdi_edits_add_mount(e, host_path, container_path, type);
        return get_strv(v, path, "options", &m->options, reterr);
}

static int parse_hook_cb(const json_t *v, const char *path, void *userdata, struct hd_error *reterr)
{
        struct cdi_edits *e = userdata;
        _cleanup_free_ char *name = NULL, *p = NULL;
        struct cdi_hook *h;
        int r;

        if ((r = check_object(v, path, &hook_fields, reterr)) < 0 ||
            (r = get_string(v, path, "hookName", true, &name, reterr)) < 0 ||
            (r = get_string(v, path, "path", true, &p, reterr)) < 0)
                return r;
        h = cdi_edits_add_hook(e, name, p);
        if ((r = get_strv(v, path, "args", &h->args, reterr)) < 0 ||
            (r = get_strv(v, path, "env", &h->env, reterr)) < 0 ||
            (r = get_u32(v, path, "timeout", &h->has_timeout, &h->timeout, reterr)) < 0)
                return r;
        return 0;
}

static int parse_net_device_cb(const json_t *v, const char *path, void *userdata,
                               struct hd_error *reterr)
{
        struct cdi_edits *e = userdata;
        _cleanup_free_ char *host = NULL, *name = NULL;
        int r;

        if ((r = check_object(v, path, &net_fields, reterr)) < 0 ||
            (r = get_string(v, path, "hostInterfaceName", true, &host, reterr)) < 0 ||
            (r = get_string(v, path, "name", true, &name, reterr)) < 0)
                return r;
        cdi_edits_add_net_device(e, host, name);
        return 0;
}

static int parse_intel_rdt(const json_t *obj, const char *path, struct cdi_edits *e,
                           struct hd_error *reterr)
{
        json_t *v = member(obj, "intelRdt"), *mon;
        _cleanup_free_ char *fp = NULL;
        struct cdi_intel_rdt *rdt;
        int r;

        if (!v)
                return 0;
        fp = field_path(path, "intelRdt");
        r = check_object(v, fp, &rdt_fields, reterr);
        if (r < 0)
                return r;
        rdt = cdi_edits_intel_rdt(e);
        if ((r = get_string(v, fp, "closID", false, &rdt->clos_id, reterr)) < 0 ||
            (r = get_string(v, fp, "l3CacheSchema", false, &rdt->l3_cache_schema, reterr)) < 0 ||
            (r = get_string(v, fp, "memBwSchema", false, &rdt->mem_bw_schema, reterr)) < 0 ||
            (r = get_strv(v, fp, "schemata", &rdt->schemata, reterr)) < 0)
                return r;
        mon = member(v, "enableMonitoring");
        if (mon && !json_is_boolean(mon))
                return hd_error_setf(reterr, EINVAL, "%s.enableMonitoring: expected a boolean", fp);
        rdt->enable_monitoring = mon && json_is_true(mon);
        return 0;
}

static int parse_gid_cb(const json_t *v, const char *path, void *userdata, struct hd_error *reterr)
{
        struct cdi_edits *e = userdata;
        json_int_t n;

        if (!json_is_integer(v))
                return hd_error_setf(reterr, EINVAL, "%s: expected an integer", path);
        n = json_integer_value(v);
        if (n < 0 || n > UINT32_MAX)
                return hd_error_setf(reterr, EINVAL, "%s: %lld out of range 0..%u", path,
                                     (long long)n, UINT32_MAX);
        cdi_edits_add_additional_gid(e, (uint32_t)n);
        return 0;
}

static int parse_edits(const json_t *v, const char *path, struct cdi_edits *e,
                       struct hd_error *reterr)
{
        int r;

        if ((r = check_object(v, path, &edits_fields, reterr)) < 0 ||
            (r = get_strv(v, path, "env", &e->env, reterr)) < 0)
                return r;
        r = parse_array(v, path, "deviceNodes", parse_device_node_cb, e, reterr);
        if (r >= 0)
                r = parse_array(v, path, "mounts", parse_mount_cb, e, reterr);
        if (r >= 0)
                r = parse_array(v, path, "hooks", parse_hook_cb, e, reterr);
        if (r >= 0)
                r = parse_array(v, path, "netDevices", parse_net_device_cb, e, reterr);
        if (r >= 0)
                r = parse_intel_rdt(v, path, e, reterr);
        if (r >= 0)
                r = parse_array(v, path, "additionalGids", parse_gid_cb, e, reterr);
        return r;
}

static int parse_device_cb(const json_t *v, const char *path, void *userdata,
                           struct hd_error *reterr)
{
        struct cdi_spec *spec = userdata;
        _cleanup_free_ char *name = NULL, *edits_path = NULL;
        struct cdi_device *d;
        json_t *edits;
        int r;

        if ((r = check_object(v, path, &device_fields, reterr)) < 0 ||
            (r = get_string(v, path, "name", true, &name, reterr)) < 0)
                return r;
        d = cdi_spec_add_device(spec, name);
        r = parse_annotations(v, path, &d->annotations, reterr);
        if (r < 0)
                return r;
        edits_path = field_path(path, "containerEdits");
        edits = member(v, "containerEdits");
        if (!edits)
                return hd_error_setf(reterr, EINVAL, "%s: required field missing", edits_path);
        return parse_edits(edits, edits_path, &d->edits, reterr);
}

static int parse_spec(const json_t *root, struct cdi_spec *spec, struct hd_error *reterr)
{
        json_t *devices, *edits;
        int r;

        if ((r = check_object(root, "", &spec_fields, reterr)) < 0 ||
            (r = get_string(root, "", "cdiVersion", true, &spec->cdi_version, reterr)) < 0 ||
            (r = get_string(root, "", "kind", true, &spec->kind, reterr)) < 0 ||
            (r = parse_annotations(root, "", &spec->annotations, reterr)) < 0)
                return r;
        devices = member(root, "devices");
        if (!devices)
                return hd_error_setf(reterr, EINVAL, "devices: required field missing");
        r = parse_array(root, "", "devices", parse_device_cb, spec, reterr);
        if (r < 0)
                return r;
        edits = member(root, "containerEdits");
        if (edits)
                return parse_edits(edits, "containerEdits", &spec->edits, reterr);
        return 0;
}

int cdi_spec_from_json_value(const json_t *root, struct cdi_spec **ret_spec,
                             struct hd_error *reterr)
{
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_spec_new(NULL);
        int r;

        r = parse_spec(root, spec, reterr);
        if (r < 0)
                return r;
        r = cdi_spec_check_version(spec, reterr);
        if (r < 0)
                return r;
        r = cdi_spec_validate(spec, reterr);
        if (r < 0)
                return r;
        *ret_spec = TAKE_PTR(spec);
        return 0;
}

int cdi_spec_from_json(const char *text, struct cdi_spec **ret_spec, struct hd_error *reterr)
{
        _cleanup_json_ json_t *root = NULL;
        json_error_t jerr;

        root = json_loads(text ? text : "", JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return hd_error_setf(reterr, EINVAL, "invalid JSON at line %d column %d: %s",
                                     jerr.line, jerr.column, jerr.text);
        return cdi_spec_from_json_value(root, ret_spec, reterr);
}

int cdi_spec_load_file(const char *path, struct cdi_spec **ret_spec, struct hd_error *reterr)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r;

        r = hd_read_file(path, CDI_SPEC_MAX_SIZE, true, &text, &len, reterr);
        if (r < 0)
                return r;
        if (strlen(text) != len)
                return hd_error_setf(reterr, EINVAL, "%s: contains a NUL byte", path);
        if (hd_endswith(path, ".yaml") || hd_endswith(path, ".yml"))
                r = cdi_spec_from_yaml(text, ret_spec, reterr);
        else
                r = cdi_spec_from_json(text, ret_spec, reterr);
        if (r < 0)
                return hd_error_wrap_r(reterr, r, "%s", path);
        return 0;
}
