/* SPDX-License-Identifier: Apache-2.0 */
/* Strict reader for CDI spec JSON. Like the CDI library's loader (which unmarshals strictly),
 * an unknown or duplicate field is an error, and so is a wrong type or an out-of-range number.
 * Every message names the field path, e.g. "devices[0].containerEdits.mounts[2].options".
 * JSON null counts as absent, as it does for the Go structs' optional fields. The field tables
 * below fill the model's structs directly; cdi_spec_free() releases them. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "base/error.h"
#include "base/jsonfield.h"
#include "base/strutil.h"
#include "cdi/cdi-internal.h"
#include "cdi/cdi.h"

#define STRICT(name_) .name = (name_), .strict = true

#define NODE(jtype, member, path, ...) \
        HD_JSON_FIELD(jtype, struct cdi_device_node, member, path, __VA_ARGS__)
#define NODE_OPT(jtype, member, path) \
        NODE(jtype, member, path, HD_JSON_PRESENT(struct cdi_device_node, has_##member))
static const struct hd_json_field node_fields[] = {
        NODE(HD_JSON_STRING, path, "path", .required = true),
        NODE(HD_JSON_STRING, host_path, "hostPath"),
        NODE(HD_JSON_STRING, type, "type"),
        NODE_OPT(HD_JSON_INT, major, "major"),
        NODE_OPT(HD_JSON_INT, minor, "minor"),
        NODE_OPT(HD_JSON_UINT32, file_mode, "fileMode"),
        NODE(HD_JSON_STRING, permissions, "permissions"),
        NODE_OPT(HD_JSON_UINT32, uid, "uid"),
        NODE_OPT(HD_JSON_UINT32, gid, "gid"),
};
#undef NODE_OPT
#undef NODE
static const struct hd_json_table node_table =
        HD_JSON_TABLE(struct cdi_device_node, node_fields, STRICT("deviceNode"));

#define MOUNT(jtype, member, path, ...) \
        HD_JSON_FIELD(jtype, struct cdi_mount, member, path, __VA_ARGS__)
static const struct hd_json_field mount_fields[] = {
        MOUNT(HD_JSON_STRING, host_path, "hostPath", .required = true),
        MOUNT(HD_JSON_STRING, container_path, "containerPath", .required = true),
        MOUNT(HD_JSON_STRING, type, "type"),
        MOUNT(HD_JSON_STRV, options, "options"),
};
#undef MOUNT
static const struct hd_json_table mount_table =
        HD_JSON_TABLE(struct cdi_mount, mount_fields, STRICT("mount"));

#define HOOK(jtype, member, path, ...) \
        HD_JSON_FIELD(jtype, struct cdi_hook, member, path, __VA_ARGS__)
static const struct hd_json_field hook_fields[] = {
        HOOK(HD_JSON_STRING, hook_name, "hookName", .required = true),
        HOOK(HD_JSON_STRING, path, "path", .required = true),
        HOOK(HD_JSON_STRV, args, "args"),
        HOOK(HD_JSON_STRV, env, "env"),
        HOOK(HD_JSON_UINT32, timeout, "timeout", HD_JSON_PRESENT(struct cdi_hook, has_timeout)),
};
#undef HOOK
static const struct hd_json_table hook_table =
        HD_JSON_TABLE(struct cdi_hook, hook_fields, STRICT("hook"));

static const struct hd_json_field net_fields[] = {
        HD_JSON_FIELD(HD_JSON_STRING, struct cdi_net_device, host_interface_name,
                      "hostInterfaceName", .required = true),
        HD_JSON_FIELD(HD_JSON_STRING, struct cdi_net_device, name, "name", .required = true),
};
static const struct hd_json_table net_table =
        HD_JSON_TABLE(struct cdi_net_device, net_fields, STRICT("netDevice"));

#define RDT(jtype, member, path) HD_JSON_FIELD(jtype, struct cdi_intel_rdt, member, path)
static const struct hd_json_field rdt_fields[] = {
        RDT(HD_JSON_STRING, clos_id, "closID"),
        RDT(HD_JSON_STRING, l3_cache_schema, "l3CacheSchema"),
        RDT(HD_JSON_STRING, mem_bw_schema, "memBwSchema"),
        RDT(HD_JSON_STRV, schemata, "schemata"),
        RDT(HD_JSON_BOOL, enable_monitoring, "enableMonitoring"),
};
#undef RDT
static const struct hd_json_table rdt_table =
        HD_JSON_TABLE(struct cdi_intel_rdt, rdt_fields, STRICT("intelRdt"));

/* additionalGids: an array of uint32 appended to the edits at SLOT. */
static int gids_decode_cb(json_t *value, void *slot, const char *path, struct hd_error *reterr)
{
        size_t i;
        json_t *item;

        if (!json_is_array(value))
                return hd_error_setf(reterr, EINVAL, "%s: expected an array", path);
        json_array_foreach(value, i, item)
        {
                _cleanup_free_ char *item_path = hd_asprintf("%s[%zu]", path, i);
                uint32_t gid = 0;
                int r = hd_json_decode_scalar(item, HD_JSON_UINT32, 0, &gid, item_path, reterr);
                if (r < 0)
                        return r;
                cdi_edits_add_additional_gid(slot, gid);
        }
        return 0;
}

/* annotations: an object of strings into the struct cdi_annotations at SLOT. */
static int annotations_decode_cb(json_t *value, void *slot, const char *path,
                                 struct hd_error *reterr)
{
        const char *key;
        json_t *item;

        if (!json_is_object(value))
                return hd_error_setf(reterr, EINVAL, "%s: expected an object of strings", path);
        json_object_foreach(value, key, item)
        {
                _cleanup_free_ char *item_path = hd_asprintf("%s.%s", path, key);
                _cleanup_free_ char *s = NULL;
                int r = hd_json_decode_scalar(item, HD_JSON_STRING, 0, &s, item_path, reterr);
                if (r < 0)
                        return r;
                cdi_annotations_set(slot, key, s);
        }
        return 0;
}

#define EDITS(jtype, member, path, ...) \
        HD_JSON_FIELD(jtype, struct cdi_edits, member, path, __VA_ARGS__)
#define EDITS_LIST(member, path, table)                        \
        EDITS(HD_JSON_PTR_LIST, member, path, .sub = &(table), \
              HD_JSON_COUNT(struct cdi_edits, n_##member))
static const struct hd_json_field edits_fields[] = {
        EDITS(HD_JSON_STRV, env, "env"),
        EDITS_LIST(device_nodes, "deviceNodes", node_table),
        EDITS_LIST(mounts, "mounts", mount_table),
        EDITS_LIST(hooks, "hooks", hook_table),
        EDITS_LIST(net_devices, "netDevices", net_table),
        EDITS(HD_JSON_STRUCT_PTR, intel_rdt, "intelRdt", .sub = &rdt_table),
        {.path = "additionalGids", .type = HD_JSON_CUSTOM, .decode_cb = gids_decode_cb},
};
#undef EDITS_LIST
#undef EDITS
static const struct hd_json_table edits_table =
        HD_JSON_TABLE(struct cdi_edits, edits_fields, STRICT("containerEdits"));

#define ANNOTATIONS(st)                                               \
        HD_JSON_FIELD(HD_JSON_CUSTOM, st, annotations, "annotations", \
                      .decode_cb = annotations_decode_cb)
static const struct hd_json_field device_fields[] = {
        HD_JSON_FIELD(HD_JSON_STRING, struct cdi_device, name, "name", .required = true),
        ANNOTATIONS(struct cdi_device),
        HD_JSON_FIELD(HD_JSON_STRUCT, struct cdi_device, edits, "containerEdits", .required = true,
                      .sub = &edits_table),
};
static const struct hd_json_table device_table =
        HD_JSON_TABLE(struct cdi_device, device_fields, STRICT("device"));

#define SPEC(jtype, member, path, ...) \
        HD_JSON_FIELD(jtype, struct cdi_spec, member, path, __VA_ARGS__)
static const struct hd_json_field spec_fields[] = {
        SPEC(HD_JSON_STRING, cdi_version, "cdiVersion", .required = true),
        SPEC(HD_JSON_STRING, kind, "kind", .required = true),
        ANNOTATIONS(struct cdi_spec),
        SPEC(HD_JSON_PTR_LIST, devices, "devices", .required = true, .sub = &device_table,
             HD_JSON_COUNT(struct cdi_spec, n_devices)),
        SPEC(HD_JSON_STRUCT, edits, "containerEdits", .sub = &edits_table),
};
#undef SPEC
#undef ANNOTATIONS
static const struct hd_json_table spec_table =
        HD_JSON_TABLE(struct cdi_spec, spec_fields, STRICT("spec"));

int cdi_spec_from_json_value(const json_t *root, struct cdi_spec **ret_spec,
                             struct hd_error *reterr)
{
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_spec_new(NULL);
        int r;

        r = hd_json_decode((json_t *)root, &spec_table, spec, NULL, reterr);
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
        int r;

        text = text ? text : "";
        r = hd_json_parse(text, strlen(text), JSON_REJECT_DUPLICATES, "invalid JSON", &root,
                          reterr);
        if (r < 0)
                return r;
        return cdi_spec_from_json_value(root, ret_spec, reterr);
}
