/* SPDX-License-Identifier: Apache-2.0 */
/* Typed decoding at the edge: dotted-path getters, field tables, ObjectMeta and Status. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "kube/kube.h"

static const char *type_name(const json_t *j)
{
        if (!j)
                return "nothing";
        switch (json_typeof(j)) {
        case JSON_OBJECT:
                return "object";
        case JSON_ARRAY:
                return "array";
        case JSON_STRING:
                return "string";
        case JSON_INTEGER:
                return "integer";
        case JSON_REAL:
                return "number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "boolean";
        default:
                return "null";
        }
}

/* Name of PATH for messages: "<prefix>.<path>" or just path. */
static char *field_name(const char *prefix, const char *path, size_t path_len)
{
        if (prefix && *prefix)
                return hd_asprintf("%s.%.*s", prefix, (int)path_len, path);
        return hd_strndup(path, path_len);
}

/* Walk PATH below OBJ. 1 found (non-null), 0 absent or null, -EINVAL when an intermediate is
 * not an object or a required value is missing. */
static int lookup(json_t *obj, const char *prefix, const char *path, bool required, json_t **ret,
                  struct hd_error *reterr)
{
        json_t *cur = obj;
        const char *seg = path;

        for (;;) {
                size_t n = strcspn(seg, ".");
                if (!json_is_object(cur)) {
                        _cleanup_free_ char *f = field_name(
                                prefix, path, (size_t)(seg - path) - (seg > path ? 1 : 0));
                        return hd_error_setf(reterr, EINVAL, "%s: expected object, got %s",
                                             *f ? f : "(document)", type_name(cur));
                }
                cur = json_object_getn(cur, seg, n);
                if (!cur || json_is_null(cur)) {
                        if (!required)
                                return 0;
                        _cleanup_free_ char *f = field_name(prefix, path, strlen(path));
                        return hd_error_setf(reterr, EINVAL, "%s: required field missing", f);
                }
                if (seg[n] == '\0')
                        break;
                seg += n + 1;
        }
        *ret = cur;
        return 1;
}

static int type_error(struct hd_error *reterr, const char *prefix, const char *path,
                      const char *want, const json_t *got)
{
        _cleanup_free_ char *f = field_name(prefix, path, strlen(path));
        return hd_error_setf(reterr, EINVAL, "%s: expected %s, got %s", f, want, type_name(got));
}

int kube_json_get_string(json_t *obj, const char *path, bool required, const char **ret,
                         struct hd_error *reterr)
{
        json_t *v = NULL;
        int r = lookup(obj, NULL, path, required, &v, reterr);
        if (r <= 0)
                return r;
        if (!json_is_string(v))
                return type_error(reterr, NULL, path, "string", v);
        *ret = json_string_value(v);
        return 1;
}

int kube_json_get_int(json_t *obj, const char *path, bool required, int64_t *ret,
                      struct hd_error *reterr)
{
        json_t *v = NULL;
        int r = lookup(obj, NULL, path, required, &v, reterr);
        if (r <= 0)
                return r;
        if (!json_is_integer(v))
                return type_error(reterr, NULL, path, "integer", v);
        *ret = json_integer_value(v);
        return 1;
}

int kube_json_get_bool(json_t *obj, const char *path, bool required, bool *ret,
                       struct hd_error *reterr)
{
        json_t *v = NULL;
        int r = lookup(obj, NULL, path, required, &v, reterr);
        if (r <= 0)
                return r;
        if (!json_is_boolean(v))
                return type_error(reterr, NULL, path, "boolean", v);
        *ret = json_is_true(v);
        return 1;
}

int kube_json_get_object(json_t *obj, const char *path, bool required, json_t **ret,
                         struct hd_error *reterr)
{
        json_t *v = NULL;
        int r = lookup(obj, NULL, path, required, &v, reterr);
        if (r <= 0)
                return r;
        if (!json_is_object(v))
                return type_error(reterr, NULL, path, "object", v);
        *ret = v;
        return 1;
}

int kube_json_get_array(json_t *obj, const char *path, bool required, json_t **ret,
                        struct hd_error *reterr)
{
        json_t *v = NULL;
        int r = lookup(obj, NULL, path, required, &v, reterr);
        if (r <= 0)
                return r;
        if (!json_is_array(v))
                return type_error(reterr, NULL, path, "array", v);
        *ret = v;
        return 1;
}

/* ---- field tables -------------------------------------------------------------------------- */

static int decode_field(json_t *json, const struct kube_field *f, void *base, const char *prefix,
                        struct hd_error *reterr)
{
        void *slot = (char *)base + f->offset;
        json_t *v = NULL;
        int r = lookup(json, prefix, f->path, f->required, &v, reterr);
        if (r <= 0)
                return r;

        switch (f->type) {
        case KUBE_FIELD_STRING:
                if (!json_is_string(v))
                        return type_error(reterr, prefix, f->path, "string", v);
                *(char **)slot = hd_strdup(json_string_value(v));
                return 1;
        case KUBE_FIELD_INT:
                if (!json_is_integer(v))
                        return type_error(reterr, prefix, f->path, "integer", v);
                *(int64_t *)slot = json_integer_value(v);
                return 1;
        case KUBE_FIELD_BOOL:
                if (!json_is_boolean(v))
                        return type_error(reterr, prefix, f->path, "boolean", v);
                *(bool *)slot = json_is_true(v);
                return 1;
        case KUBE_FIELD_OBJECT:
                if (!json_is_object(v))
                        return type_error(reterr, prefix, f->path, "object", v);
                *(json_t **)slot = json_incref(v);
                return 1;
        case KUBE_FIELD_ARRAY:
                if (!json_is_array(v))
                        return type_error(reterr, prefix, f->path, "array", v);
                *(json_t **)slot = json_incref(v);
                return 1;
        case KUBE_FIELD_STRING_MAP: {
                if (!json_is_object(v))
                        return type_error(reterr, prefix, f->path, "object", v);
                _cleanup_strv_ char **m = hd_new0(char *, 1);
                const char *k;
                json_t *e;
                json_object_foreach(v, k, e)
                {
                        if (!json_is_string(e)) {
                                _cleanup_free_ char *sub = hd_asprintf("%s[%s]", f->path, k);
                                return type_error(reterr, prefix, sub, "string", e);
                        }
                        hd_strv_push(&m, k);
                        hd_strv_push(&m, json_string_value(e));
                }
                *(char ***)slot = TAKE_PTR(m);
                return 1;
        }
        case KUBE_FIELD_STRING_LIST: {
                if (!json_is_array(v))
                        return type_error(reterr, prefix, f->path, "array", v);
                _cleanup_strv_ char **l = hd_new0(char *, 1);
                size_t i;
                json_t *e;
                json_array_foreach(v, i, e)
                {
                        if (!json_is_string(e)) {
                                _cleanup_free_ char *sub = hd_asprintf("%s[%zu]", f->path, i);
                                return type_error(reterr, prefix, sub, "string", e);
                        }
                        hd_strv_push(&l, json_string_value(e));
                }
                *(char ***)slot = TAKE_PTR(l);
                return 1;
        }
        }
        return hd_error_setf(reterr, EINVAL, "%s: unknown field type", f->path);
}

void kube_json_decode_done(const struct kube_field *table, void *p)
{
        for (const struct kube_field *f = table; f->path; f++) {
                void *slot = (char *)p + f->offset;
                switch (f->type) {
                case KUBE_FIELD_STRING:
                        free(*(char **)slot);
                        *(char **)slot = NULL;
                        break;
                case KUBE_FIELD_OBJECT:
                case KUBE_FIELD_ARRAY:
                        json_decref(*(json_t **)slot);
                        *(json_t **)slot = NULL;
                        break;
                case KUBE_FIELD_STRING_MAP:
                case KUBE_FIELD_STRING_LIST:
                        *(char ***)slot = hd_strv_free(*(char ***)slot);
                        break;
                case KUBE_FIELD_INT:
                        *(int64_t *)slot = 0;
                        break;
                case KUBE_FIELD_BOOL:
                        *(bool *)slot = false;
                        break;
                }
        }
}

static int decode_prefixed(json_t *json, const struct kube_field *table, void *ret,
                           const char *prefix, struct hd_error *reterr)
{
        for (const struct kube_field *f = table; f->path; f++) {
                int r = decode_field(json, f, ret, prefix, reterr);
                if (r < 0) {
                        kube_json_decode_done(table, ret);
                        return r;
                }
        }
        return 0;
}

int kube_json_decode(json_t *json, const struct kube_field *table, void *ret,
                     struct hd_error *reterr)
{
        return decode_prefixed(json, table, ret, NULL, reterr);
}

/* ---- ObjectMeta ---------------------------------------------------------------------------- */

#define META(field, path, type)                                             \
        {                                                                   \
                path, type, offsetof(struct kube_object_meta, field), false \
        }
static const struct kube_field meta_fields[] = {
        META(name, "metadata.name", KUBE_FIELD_STRING),
        META(namespace, "metadata.namespace", KUBE_FIELD_STRING),
        META(uid, "metadata.uid", KUBE_FIELD_STRING),
        META(resource_version, "metadata.resourceVersion", KUBE_FIELD_STRING),
        META(generate_name, "metadata.generateName", KUBE_FIELD_STRING),
        META(creation_timestamp, "metadata.creationTimestamp", KUBE_FIELD_STRING),
        META(deletion_timestamp, "metadata.deletionTimestamp", KUBE_FIELD_STRING),
        META(generation, "metadata.generation", KUBE_FIELD_INT),
        META(labels, "metadata.labels", KUBE_FIELD_STRING_MAP),
        META(annotations, "metadata.annotations", KUBE_FIELD_STRING_MAP),
        META(finalizers, "metadata.finalizers", KUBE_FIELD_STRING_LIST),
        {NULL, 0, 0, false},
};
#undef META

#define OREF(field, path, type, req)                                          \
        {                                                                     \
                path, type, offsetof(struct kube_owner_reference, field), req \
        }
static const struct kube_field owner_fields[] = {
        OREF(api_version, "apiVersion", KUBE_FIELD_STRING, true),
        OREF(kind, "kind", KUBE_FIELD_STRING, true),
        OREF(name, "name", KUBE_FIELD_STRING, true),
        OREF(uid, "uid", KUBE_FIELD_STRING, true),
        OREF(controller, "controller", KUBE_FIELD_BOOL, false),
        OREF(block_owner_deletion, "blockOwnerDeletion", KUBE_FIELD_BOOL, false),
        {NULL, 0, 0, false},
};
#undef OREF

void kube_object_meta_done(struct kube_object_meta *m)
{
        if (!m)
                return;
        kube_json_decode_done(meta_fields, m);
        for (size_t i = 0; i < m->n_owner_references; i++)
                kube_json_decode_done(owner_fields, &m->owner_references[i]);
        free(m->owner_references);
        *m = (struct kube_object_meta){0};
}

static int decode_owner_references(json_t *obj, struct kube_object_meta *m, struct hd_error *reterr)
{
        json_t *refs = NULL;
        size_t i;
        json_t *e;
        int r;

        r = kube_json_get_array(obj, "metadata.ownerReferences", false, &refs, reterr);
        if (r <= 0 || json_array_size(refs) == 0)
                return r;
        m->owner_references = hd_new0(struct kube_owner_reference, json_array_size(refs));
        json_array_foreach(refs, i, e)
        {
                _cleanup_free_ char *prefix = hd_asprintf("metadata.ownerReferences[%zu]", i);
                r = decode_prefixed(e, owner_fields, &m->owner_references[i], prefix, reterr);
                if (r < 0)
                        return r;
                m->n_owner_references = i + 1;
        }
        return 0;
}

int kube_object_meta_decode(json_t *obj, struct kube_object_meta *ret, struct hd_error *reterr)
{
        int r;

        *ret = (struct kube_object_meta){0};
        r = kube_json_decode(obj, meta_fields, ret, reterr);
        if (r < 0)
                return r;
        r = decode_owner_references(obj, ret, reterr);
        if (r < 0) {
                kube_object_meta_done(ret);
                return r;
        }
        return 0;
}

const char *kube_strmap_get(char *const *map, const char *key)
{
        for (char *const *p = map; p && p[0] && p[1]; p += 2)
                if (strcmp(p[0], key) == 0)
                        return p[1];
        return NULL;
}

const char *kube_object_meta_label(const struct kube_object_meta *m, const char *key)
{
        return kube_strmap_get(m->labels, key);
}

/* ---- Status -------------------------------------------------------------------------------- */

#define ST(field, path, type)                                          \
        {                                                              \
                path, type, offsetof(struct kube_status, field), false \
        }
static const struct kube_field status_fields[] = {
        ST(status, "status", KUBE_FIELD_STRING),
        ST(reason, "reason", KUBE_FIELD_STRING),
        ST(message, "message", KUBE_FIELD_STRING),
        ST(retry_after_seconds, "details.retryAfterSeconds", KUBE_FIELD_INT),
        {NULL, 0, 0, false},
};
#undef ST

int kube_status_decode(json_t *obj, struct kube_status *ret, struct hd_error *reterr)
{
        int64_t code = 0;
        int r;

        *ret = (struct kube_status){0};
        r = kube_json_get_int(obj, "code", false, &code, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "Status");
        r = kube_json_decode(obj, status_fields, ret, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "Status");
        ret->code = (int)code;
        return 0;
}

void kube_status_done(struct kube_status *s)
{
        if (!s)
                return;
        kube_json_decode_done(status_fields, s);
        s->code = 0;
}
