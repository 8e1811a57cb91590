/* SPDX-License-Identifier: Apache-2.0 */
/* Serialise a CDI spec to JSON with jansson. Keys appear in a fixed order (jansson keeps
 * insertion order) and empty fields are omitted, so equal specs give byte-identical files and
 * older CDI parsers never meet a field they do not know unless the declared version says so. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "cdi/cdi-internal.h"
#include "cdi/cdi.h"

/* Remembers the first string jansson refused (it accepts only UTF-8); the writer substitutes a
 * placeholder so it stays infallible, and cdi_spec_write() refuses to write such a spec. */
struct writer {
        const char *invalid_utf8;
};

static void oom_if_null(const void *p)
{
        if (!p)
                abort();
}

static json_t *jstr(struct writer *w, const char *s)
{
        json_t *j = json_string(s);

        if (!j) {
                if (!w->invalid_utf8)
                        w->invalid_utf8 = s;
                j = json_string("<invalid UTF-8>");
        }
        oom_if_null(j);
        return j;
}

static void set_new(json_t *obj, const char *key, json_t *value)
{
        oom_if_null(value);
        if (json_object_set_new(obj, key, value) < 0)
                abort();
}

/* Set KEY to the string S unless S is NULL or empty. */
static void set_str(struct writer *w, json_t *obj, const char *key, const char *s)
{
        if (s && *s)
                set_new(obj, key, jstr(w, s));
}

static void append_new(json_t *arr, json_t *value)
{
        oom_if_null(value);
        if (json_array_append_new(arr, value) < 0)
                abort();
}

static void set_strv(struct writer *w, json_t *obj, const char *key, char *const *v)
{
        json_t *arr;

        if (hd_strv_len(v) == 0)
                return;
        arr = json_array();
        oom_if_null(arr);
        for (size_t i = 0; v[i]; i++)
                append_new(arr, jstr(w, v[i]));
        set_new(obj, key, arr);
}

static int annotation_cmp(const void *a, const void *b)
{
        const struct cdi_annotation *const *x = a, *const *y = b;

        return strcmp((*x)->key, (*y)->key);
}

static void set_annotations(struct writer *w, json_t *obj, const struct cdi_annotations *a)
{
        _cleanup_free_ const struct cdi_annotation **sorted = NULL;
        json_t *map;

        if (a->n == 0)
                return;
        sorted = hd_new0(const struct cdi_annotation *, a->n);
        for (size_t i = 0; i < a->n; i++)
                sorted[i] = &a->items[i];
        qsort(sorted, a->n, sizeof(*sorted), annotation_cmp);

        map = json_object();
        oom_if_null(map);
        for (size_t i = 0; i < a->n; i++) {
                json_t *probe = json_string(sorted[i]->key);

                /* An object key must be UTF-8 too; skip (and remember) one that is not. */
                if (!probe) {
                        if (!w->invalid_utf8)
                                w->invalid_utf8 = sorted[i]->key;
                        continue;
                }
                json_decref(probe);
                set_new(map, sorted[i]->key, jstr(w, sorted[i]->value ? sorted[i]->value : ""));
        }
        set_new(obj, "annotations", map);
}

static json_t *device_node_to_json(struct writer *w, const struct cdi_device_node *d)
{
        json_t *o = json_object();

        oom_if_null(o);
        set_str(w, o, "path", d->path);
        if (cdi_device_node_writes_host_path(d))
                set_str(w, o, "hostPath", d->host_path);
        set_str(w, o, "type", d->type);
        if (d->has_major)
                set_new(o, "major", json_integer(d->major));
        if (d->has_minor)
                set_new(o, "minor", json_integer(d->minor));
        if (d->has_file_mode)
                set_new(o, "fileMode", json_integer(d->file_mode));
        set_str(w, o, "permissions", d->permissions);
        if (d->has_uid)
                set_new(o, "uid", json_integer(d->uid));
        if (d->has_gid)
                set_new(o, "gid", json_integer(d->gid));
        return o;
}

static json_t *mount_to_json(struct writer *w, const struct cdi_mount *m)
{
        json_t *o = json_object();

        oom_if_null(o);
        set_str(w, o, "hostPath", m->host_path);
        set_str(w, o, "containerPath", m->container_path);
        set_str(w, o, "type", m->type);
        set_strv(w, o, "options", m->options);
        return o;
}

static json_t *hook_to_json(struct writer *w, const struct cdi_hook *h)
{
        json_t *o = json_object();

        oom_if_null(o);
        set_str(w, o, "hookName", h->hook_name);
        set_str(w, o, "path", h->path);
        set_strv(w, o, "args", h->args);
        set_strv(w, o, "env", h->env);
        if (h->has_timeout)
                set_new(o, "timeout", json_integer(h->timeout));
        return o;
}

static json_t *intel_rdt_to_json(struct writer *w, const struct cdi_intel_rdt *r)
{
        json_t *o = json_object();

        oom_if_null(o);
        set_str(w, o, "closID", r->clos_id);
        set_str(w, o, "l3CacheSchema", r->l3_cache_schema);
        set_str(w, o, "memBwSchema", r->mem_bw_schema);
        set_strv(w, o, "schemata", r->schemata);
        if (r->enable_monitoring)
                set_new(o, "enableMonitoring", json_true());
        return o;
}

#define SET_ARRAY(obj, key, items, n, to_json)                             \
        do {                                                               \
                if ((n) > 0) {                                             \
                        json_t *_arr = json_array();                       \
                        oom_if_null(_arr);                                 \
                        for (size_t _i = 0; _i < (n); _i++)                \
                                append_new(_arr, to_json(w, (items)[_i])); \
                        set_new((obj), (key), _arr);                       \
                }                                                          \
        } while (0)

static json_t *net_device_to_json(struct writer *w, const struct cdi_net_device *n)
{
        json_t *o = json_object();

        oom_if_null(o);
        set_str(w, o, "hostInterfaceName", n->host_interface_name);
        set_str(w, o, "name", n->name);
        return o;
}

static json_t *gid_to_json(struct writer *w, uint32_t gid)
{
        return json_integer(gid);
}

static json_t *edits_to_json(struct writer *w, const struct cdi_edits *e)
{
        json_t *o = json_object();

        oom_if_null(o);
        set_strv(w, o, "env", e->env);
        SET_ARRAY(o, "deviceNodes", e->device_nodes, e->n_device_nodes, device_node_to_json);
        SET_ARRAY(o, "mounts", e->mounts, e->n_mounts, mount_to_json);
        SET_ARRAY(o, "hooks", e->hooks, e->n_hooks, hook_to_json);
        SET_ARRAY(o, "netDevices", e->net_devices, e->n_net_devices, net_device_to_json);
        if (e->intel_rdt)
                set_new(o, "intelRdt", intel_rdt_to_json(w, e->intel_rdt));
        SET_ARRAY(o, "additionalGids", e->additional_gids, e->n_additional_gids, gid_to_json);
        return o;
}

static json_t *device_to_json(struct writer *w, const struct cdi_device *d)
{
        json_t *o = json_object();

        oom_if_null(o);
        set_str(w, o, "name", d->name);
        set_annotations(w, o, &d->annotations);
        /* containerEdits is required on a device, even when (invalidly) empty. */
        set_new(o, "containerEdits", edits_to_json(w, &d->edits));
        return o;
}

static char *spec_to_json(struct writer *w, const struct cdi_spec *spec)
{
        _cleanup_json_ json_t *root = json_object();
        _cleanup_free_ char *text = NULL;
        json_t *devices;

        oom_if_null(root);
        set_new(root, "cdiVersion", jstr(w, cdi_spec_min_version(spec)));
        set_str(w, root, "kind", spec->kind);
        set_annotations(w, root, &spec->annotations);

        devices = json_array();
        oom_if_null(devices);
        for (size_t i = 0; i < spec->n_devices; i++)
                append_new(devices, device_to_json(w, spec->devices[i]));
        set_new(root, "devices", devices);

        if (!cdi_edits_is_empty(&spec->edits))
                set_new(root, "containerEdits", edits_to_json(w, &spec->edits));

        text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        oom_if_null(text);
        return hd_asprintf("%s\n", text);
}

char *cdi_spec_to_json(const struct cdi_spec *spec)
{
        struct writer w = {0};

        return spec_to_json(&w, spec);
}

int cdi_spec_to_json_checked(const struct cdi_spec *spec, char **ret_text, struct hd_error *reterr)
{
        struct writer w = {0};
        _cleanup_free_ char *text = spec_to_json(&w, spec);

        if (w.invalid_utf8)
                return hd_error_setf(reterr, EILSEQ, "string \"%.64s\" is not valid UTF-8",
                                     w.invalid_utf8);
        *ret_text = TAKE_PTR(text);
        return 0;
}
