/* SPDX-License-Identifier: Apache-2.0 */
#include "base/jsonfield.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/strutil.h"

/* Decoding state: the path of the value at hand, for messages. */
struct dec {
        struct hd_strbuf path;
        struct hd_error *reterr;
};

static int fail(struct dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct dec *d, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *msg = hd_vasprintf(fmt, ap);
        va_end(ap);
        return hd_error_setf(d->reterr, EINVAL, "%s: %s", d->path.len ? d->path.buf : "(root)",
                             msg);
}

/* Append ".NAME" (or "NAME" at the root) to the path; returns the length to restore. */
static size_t push_member(struct dec *d, const char *name, size_t len)
{
        size_t base = d->path.len;
        hd_strbuf_printf(&d->path, "%s%.*s", base ? "." : "", (int)len, name);
        return base;
}

static size_t push_index(struct dec *d, size_t i)
{
        size_t base = d->path.len;
        hd_strbuf_printf(&d->path, "[%zu]", i);
        return base;
}

static void pop(struct dec *d, size_t base)
{
        hd_strbuf_truncate(&d->path, base);
}

static const char *got(const json_t *v)
{
        if (!v)
                return "nothing";
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "an object";
        case JSON_ARRAY:
                return "an array";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
        case JSON_REAL:
                return "a number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        default:
                return "null";
        }
}

static int expected(struct dec *d, const char *want, const json_t *v)
{
        return fail(d, "expected %s, got %s", want, got(v));
}

/* Walk the dotted PATH below OBJ, extending d->path as it goes (the caller restores it).
 * 1 and *RET: found, not null. 0: absent or null and not REQUIRED. -EINVAL otherwise. */
static int lookup(struct dec *d, json_t *obj, const char *path, bool required, json_t **ret)
{
        json_t *cur = obj;
        const char *seg = path;

        for (;;) {
                size_t n = strcspn(seg, ".");
                if (!json_is_object(cur))
                        return expected(d, "an object", cur);
                push_member(d, seg, n);
                cur = json_object_getn(cur, seg, n);
                if (!cur || json_is_null(cur)) {
                        if (!required)
                                return 0;
                        hd_strbuf_puts(&d->path, seg + n); /* name the whole path */
                        return fail(d, "required field missing");
                }
                if (seg[n] == '\0')
                        break;
                seg += n + 1;
        }
        *ret = cur;
        return 1;
}

static int decode_string(struct dec *d, json_t *v, size_t max, char **slot)
{
        if (!json_is_string(v))
                return expected(d, "a string", v);
        if (max && json_string_length(v) > max)
                return fail(d, "string longer than %zu bytes", max);
        if (strlen(json_string_value(v)) != json_string_length(v))
                return fail(d, "string contains a NUL character");
        *slot = hd_strdup(json_string_value(v));
        return 0;
}

static int decode_integer(struct dec *d, json_t *v, int64_t min, int64_t max, int64_t *ret)
{
        if (!json_is_integer(v))
                return expected(d, "an integer", v);
        json_int_t n = json_integer_value(v);
        if (n < min || n > max)
                return fail(d, "%lld out of range %lld..%lld", (long long)n, (long long)min,
                            (long long)max);
        *ret = n;
        return 0;
}

static int decode_scalar(struct dec *d, json_t *v, enum hd_json_type type, size_t max_string,
                         void *slot)
{
        int64_t n = 0;
        int r;

        switch (type) {
        case HD_JSON_STRING:
                return decode_string(d, v, max_string, slot);
        case HD_JSON_INT:
                return decode_integer(d, v, INT64_MIN, INT64_MAX, slot);
        case HD_JSON_UINT32:
                r = decode_integer(d, v, 0, UINT32_MAX, &n);
                if (r >= 0)
                        *(uint32_t *)slot = (uint32_t)n;
                return r;
        case HD_JSON_BOOL:
                if (!json_is_boolean(v))
                        return expected(d, "a boolean", v);
                *(bool *)slot = json_is_true(v);
                return 0;
        default:
                return fail(d, "internal: not a scalar field type");
        }
}

static int check_entries(struct dec *d, size_t n, size_t max)
{
        if (max && n > max)
                return fail(d, "%zu entries; at most %zu are accepted", n, max);
        return 0;
}

static int decode_strv(struct dec *d, json_t *v, const struct hd_json_field *f, size_t max_string,
                       char ***slot)
{
        if (!json_is_array(v))
                return expected(d, "an array of strings", v);
        int r = check_entries(d, json_array_size(v), f->max);
        if (r < 0)
                return r;
        _cleanup_strv_ char **l = hd_new0(char *, 1);
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
                char *s = NULL;
                size_t base = push_index(d, i);
                r = decode_string(d, e, max_string, &s);
                pop(d, base);
                if (r < 0)
                        return r;
                hd_strv_consume(&l, s);
        }
        *slot = TAKE_PTR(l);
        return 0;
}

static int decode_strmap(struct dec *d, json_t *v, const struct hd_json_field *f, size_t max_string,
                         char ***slot)
{
        if (!json_is_object(v))
                return expected(d, "an object of strings", v);
        int r = check_entries(d, json_object_size(v), f->max);
        if (r < 0)
                return r;
        _cleanup_strv_ char **m = hd_new0(char *, 1);
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
        {
                char *s = NULL;
                size_t base = push_member(d, k, strlen(k));
                r = decode_string(d, e, max_string, &s);
                pop(d, base);
                if (r < 0)
                        return r;
                hd_strv_push(&m, k);
                hd_strv_consume(&m, s);
        }
        *slot = TAKE_PTR(m);
        return 0;
}

static int decode_table(struct dec *d, json_t *obj, const struct hd_json_table *t, void *out);

/* LIST (elements in one array) and PTR_LIST (an array of pointers to elements). */
static int decode_list(struct dec *d, json_t *v, const struct hd_json_field *f, char *out)
{
        bool by_ptr = f->type == HD_JSON_PTR_LIST;
        size_t *count = (size_t *)(out + f->count_offset);
        void **arr = (void **)(out + f->offset);

        if (!json_is_array(v))
                return expected(d, "an array", v);
        size_t n = json_array_size(v);
        int r = check_entries(d, n, f->max);
        if (r < 0)
                return r;
        *arr = hd_calloc_(n ? n : 1, by_ptr ? sizeof(void *) : f->sub->size);
        for (size_t i = 0; i < n; i++) {
                void *elem = (char *)*arr + i * f->sub->size;
                if (by_ptr)
                        elem = ((void **)*arr)[i] = hd_calloc_(1, f->sub->size);
                (*count)++; /* count first: the owner frees half-decoded elements */
                size_t base = push_index(d, i);
                r = decode_table(d, json_array_get(v, i), f->sub, elem);
                pop(d, base);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int decode_json(struct dec *d, json_t *v, const struct hd_json_field *f, json_t **slot)
{
        if (f->type == HD_JSON_OBJECT && !json_is_object(v))
                return expected(d, "an object", v);
        if (f->type == HD_JSON_ARRAY && !json_is_array(v))
                return expected(d, "an array", v);
        if (f->max) {
                _cleanup_free_ char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                if (!text || strlen(text) > f->max)
                        return fail(d, "larger than %zu bytes", f->max);
        }
        *slot = json_incref(v);
        return 0;
}

static int decode_field(struct dec *d, const struct hd_json_field *f, const struct hd_json_table *t,
                        json_t *v, char *out)
{
        void *slot = out + f->offset;

        switch (f->type) {
        case HD_JSON_STRING:
        case HD_JSON_INT:
        case HD_JSON_UINT32:
        case HD_JSON_BOOL:
                return decode_scalar(d, v, f->type, t->max_string, slot);
        case HD_JSON_OBJECT:
        case HD_JSON_ARRAY:
        case HD_JSON_ANY:
                return decode_json(d, v, f, slot);
        case HD_JSON_STRV:
                return decode_strv(d, v, f, t->max_string, slot);
        case HD_JSON_STRMAP:
                return decode_strmap(d, v, f, t->max_string, slot);
        case HD_JSON_STRUCT:
                return decode_table(d, v, f->sub, slot);
        case HD_JSON_STRUCT_PTR:
                if (!*(void **)slot)
                        *(void **)slot = hd_calloc_(1, f->sub->size);
                return decode_table(d, v, f->sub, *(void **)slot);
        case HD_JSON_LIST:
        case HD_JSON_PTR_LIST:
                return decode_list(d, v, f, out);
        case HD_JSON_CUSTOM:
                return f->decode_cb(v, slot, d->path.len ? d->path.buf : "(root)", d->reterr);
        }
        return fail(d, "internal: unknown field type");
}

/* A strict table names every member: KEY must be some field's path or its first segment. */
static bool table_names(const struct hd_json_table *t, const char *key)
{
        size_t n = strlen(key);
        for (size_t i = 0; i < t->n_fields; i++) {
                const char *p = t->fields[i].path;
                if (strncmp(p, key, n) == 0 && (p[n] == '\0' || p[n] == '.'))
                        return true;
        }
        return false;
}

static int check_object(struct dec *d, json_t *obj, const struct hd_json_table *t)
{
        const char *key;
        json_t *v;

        if (!json_is_object(obj)) {
                if (t->name)
                        return fail(d, "expected a %s object, got %s", t->name, got(obj));
                return expected(d, "an object", obj);
        }
        if (!t->strict)
                return 0;
        json_object_foreach(obj, key, v)
        {
                if (!table_names(t, key))
                        return fail(d, "unknown field \"%s\" in %s", key,
                                    t->name ? t->name : "object");
        }
        return 0;
}

static int decode_table(struct dec *d, json_t *obj, const struct hd_json_table *t, void *out)
{
        int r = check_object(d, obj, t);
        if (r < 0)
                return r;
        for (size_t i = 0; i < t->n_fields; i++) {
                const struct hd_json_field *f = &t->fields[i];
                size_t base = d->path.len;
                json_t *v = NULL;

                r = lookup(d, obj, f->path, f->required, &v);
                if (r > 0)
                        r = decode_field(d, f, t, v, out);
                if (r >= 0 && v && f->has_present)
                        *(bool *)((char *)out + f->present_offset) = true;
                pop(d, base);
                if (r < 0)
                        return r;
        }
        return 0;
}

int hd_json_decode(json_t *json, const struct hd_json_table *table, void *out, const char *where,
                   struct hd_error *reterr)
{
        struct dec d = {HD_STRBUF_INIT, reterr};
        hd_strbuf_puts(&d.path, where ? where : "");
        int r = decode_table(&d, json, table, out);
        hd_strbuf_done(&d.path);
        return r < 0 ? r : 0;
}

static void list_done(const struct hd_json_field *f, char *p)
{
        bool by_ptr = f->type == HD_JSON_PTR_LIST;
        size_t *count = (size_t *)(p + f->count_offset);
        void **arr = (void **)(p + f->offset);

        for (size_t i = 0; *arr && i < *count; i++) {
                void *elem = by_ptr ? ((void **)*arr)[i] : (char *)*arr + i * f->sub->size;
                hd_json_decode_done(f->sub, elem);
                if (by_ptr)
                        free(elem);
        }
        free(*arr);
        *arr = NULL;
        *count = 0;
}

static void field_done(const struct hd_json_field *f, char *p)
{
        void *slot = p + f->offset;

        switch (f->type) {
        case HD_JSON_STRING:
                free(*(char **)slot);
                *(char **)slot = NULL;
                break;
        case HD_JSON_OBJECT:
        case HD_JSON_ARRAY:
        case HD_JSON_ANY:
                json_decref(*(json_t **)slot);
                *(json_t **)slot = NULL;
                break;
        case HD_JSON_STRV:
        case HD_JSON_STRMAP:
                *(char ***)slot = hd_strv_free(*(char ***)slot);
                break;
        case HD_JSON_STRUCT:
                hd_json_decode_done(f->sub, slot);
                break;
        case HD_JSON_STRUCT_PTR:
                if (*(void **)slot)
                        hd_json_decode_done(f->sub, *(void **)slot);
                free(*(void **)slot);
                *(void **)slot = NULL;
                break;
        case HD_JSON_LIST:
        case HD_JSON_PTR_LIST:
                list_done(f, p);
                break;
        case HD_JSON_CUSTOM:
                if (f->done_cb)
                        f->done_cb(slot);
                break;
        case HD_JSON_INT:
                *(int64_t *)slot = 0;
                break;
        case HD_JSON_UINT32:
                *(uint32_t *)slot = 0;
                break;
        case HD_JSON_BOOL:
                *(bool *)slot = false;
                break;
        }
        if (f->has_present)
                *(bool *)(p + f->present_offset) = false;
}

void hd_json_decode_done(const struct hd_json_table *table, void *p)
{
        for (size_t i = 0; p && i < table->n_fields; i++)
                field_done(&table->fields[i], p);
}

int hd_json_decode_scalar(json_t *value, enum hd_json_type type, size_t max_string, void *slot,
                          const char *path, struct hd_error *reterr)
{
        struct dec d = {HD_STRBUF_INIT, reterr};
        hd_strbuf_puts(&d.path, path ? path : "");
        int r = decode_scalar(&d, value, type, max_string, slot);
        hd_strbuf_done(&d.path);
        return r;
}

/* ---- getters ---- */

/* The value at PATH below OBJ when it is of jansson TYPE, in *RET (borrowed). */
static int get(json_t *obj, const char *path, bool required, json_type type, const char *want,
               json_t **ret, struct hd_error *reterr)
{
        struct dec d = {HD_STRBUF_INIT, reterr};
        json_t *v = NULL;
        int r = lookup(&d, obj, path, required, &v);
        if (r > 0 && json_typeof(v) != type)
                r = expected(&d, want, v);
        else if (r > 0)
                *ret = v;
        hd_strbuf_done(&d.path);
        return r < 0 ? r : 0;
}

/* The scalar at PATH below OBJ decoded as TYPE into *RET. */
static int get_scalar(json_t *obj, const char *path, bool required, enum hd_json_type type,
                      void *ret, struct hd_error *reterr)
{
        struct dec d = {HD_STRBUF_INIT, reterr};
        json_t *v = NULL;
        int r = lookup(&d, obj, path, required, &v);
        if (r > 0)
                r = decode_scalar(&d, v, type, 0, ret);
        hd_strbuf_done(&d.path);
        return r < 0 ? r : 0;
}

int hd_json_get_string(json_t *obj, const char *path, bool required, const char **ret,
                       struct hd_error *reterr)
{
        json_t *v = NULL;
        int r = get(obj, path, required, JSON_STRING, "a string", &v, reterr);
        if (v)
                *ret = json_string_value(v);
        return r;
}

int hd_json_get_int(json_t *obj, const char *path, bool required, int64_t *ret,
                    struct hd_error *reterr)
{
        return get_scalar(obj, path, required, HD_JSON_INT, ret, reterr);
}

int hd_json_get_bool(json_t *obj, const char *path, bool required, bool *ret,
                     struct hd_error *reterr)
{
        return get_scalar(obj, path, required, HD_JSON_BOOL, ret, reterr);
}

int hd_json_get_object(json_t *obj, const char *path, bool required, json_t **ret,
                       struct hd_error *reterr)
{
        return get(obj, path, required, JSON_OBJECT, "an object", ret, reterr);
}

int hd_json_get_array(json_t *obj, const char *path, bool required, json_t **ret,
                      struct hd_error *reterr)
{
        return get(obj, path, required, JSON_ARRAY, "an array", ret, reterr);
}

int hd_json_parse(const char *data, size_t len, size_t flags, const char *what, json_t **ret,
                  struct hd_error *reterr)
{
        json_error_t jerr;

        if (memchr(data, '\0', len))
                return hd_error_setf(reterr, EINVAL, "%s: contains a NUL byte", what);
        *ret = json_loadb(data, len, flags, &jerr);
        if (!*ret)
                return hd_error_setf(reterr, EINVAL, "%s: line %d column %d: %s", what, jerr.line,
                                     jerr.column, jerr.text);
        return 0;
}
