/* SPDX-License-Identifier: Apache-2.0 */
#include "devmodel/claim.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/strutil.h"

/* ---- a small field-table decoder ---- */

enum jf_kind {
        JF_STRING, /* char * */
        JF_BOOL,   /* bool */
        JF_STRV,   /* char ** of at most MAX strings */
        JF_OBJECT, /* nested object decoded with SUB into the same struct (at OFFSET) */
        JF_ARRAY,  /* array of SUB->size elements: pointer at OFFSET, size_t count at COUNT */
        JF_RAW,    /* json_t * (new reference), serialized size at most MAX */
};

#define NO_OFFSET SIZE_MAX

struct jtable;

struct jfield {
        const char *name;
        enum jf_kind kind;
        size_t offset;
        const struct jtable *sub;
        size_t count_offset;   /* JF_ARRAY */
        size_t max;            /* JF_STRV/JF_ARRAY entries, JF_RAW bytes */
        size_t present_offset; /* bool set when the field is present and not null */
};

struct jtable {
        size_t size;
        const struct jfield *fields;
        size_t n;
};

struct jdec {
        struct hd_strbuf path;
        struct hd_error *err;
};

static int jerr(struct jdec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jerr(struct jdec *d, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *msg = hd_vasprintf(fmt, ap);
        va_end(ap);
        return hd_error_setf(d->err, EINVAL, "%s: %s", d->path.len ? d->path.buf : "(root)", msg);
}

static const char *jtype(const json_t *v)
{
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

static int dec_string(struct jdec *d, json_t *v, char **ret)
{
        if (!json_is_string(v))
                return jerr(d, "expected a string, got %s", jtype(v));
        if (json_string_length(v) > DM_CLAIM_MAX_STRING)
                return jerr(d, "string longer than %d bytes", DM_CLAIM_MAX_STRING);
        if (strlen(json_string_value(v)) != json_string_length(v))
                return jerr(d, "string contains a NUL character");
        *ret = hd_strdup(json_string_value(v));
        return 0;
}

static int dec_table(struct jdec *d, json_t *obj, const struct jtable *t, void *out);

static int dec_field(struct jdec *d, const struct jfield *f, json_t *v, char *out)
{
        int r;

        switch (f->kind) {
        case JF_STRING:
                return dec_string(d, v, (char **)(out + f->offset));
        case JF_BOOL:
                if (!json_is_boolean(v))
                        return jerr(d, "expected a boolean, got %s", jtype(v));
                *(bool *)(out + f->offset) = json_is_true(v);
                return 0;
        case JF_STRV: {
                char ***strv = (char ***)(out + f->offset);
                if (!json_is_array(v))
                        return jerr(d, "expected an array of strings, got %s", jtype(v));
                if (json_array_size(v) > f->max)
                        return jerr(d, "more than %zu entries", f->max);
                size_t base = d->path.len;
                for (size_t i = 0; i < json_array_size(v); i++) {
                        char *s = NULL;
                        hd_strbuf_printf(&d->path, "[%zu]", i);
                        r = dec_string(d, json_array_get(v, i), &s);
                        d->path.len = base;
                        d->path.buf[base] = '\0';
                        if (r < 0)
                                return r;
                        hd_strv_consume(strv, s);
                }
                /* An empty list is still "present": keep a non-NULL empty strv. */
                if (!*strv)
                        *strv = hd_new0(char *, 1);
                return 0;
        }
        case JF_OBJECT:
                return dec_table(d, v, f->sub, out + f->offset);
        case JF_ARRAY: {
                void **arr = (void **)(out + f->offset);
                size_t *count = (size_t *)(out + f->count_offset);
                if (!json_is_array(v))
                        return jerr(d, "expected an array, got %s", jtype(v));
                size_t n = json_array_size(v);
                if (n > f->max)
                        return jerr(d, "%zu entries; at most %zu are accepted", n, f->max);
                *arr = hd_calloc_(n ? n : 1, f->sub->size);
                size_t base = d->path.len;
                for (size_t i = 0; i < n; i++) {
                        hd_strbuf_printf(&d->path, "[%zu]", i);
                        (*count)++; /* count first: the owner frees half-decoded elements */
                        r = dec_table(d, json_array_get(v, i), f->sub,
                                      (char *)*arr + i * f->sub->size);
                        d->path.len = base;
                        d->path.buf[base] = '\0';
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        case JF_RAW: {
                _cleanup_free_ char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                if (!text || strlen(text) > f->max)
                        return jerr(d, "larger than %zu bytes", f->max);
                *(json_t **)(out + f->offset) = json_incref(v);
                return 0;
        }
        }
        return jerr(d, "internal: unknown field kind");
}

static int dec_table(struct jdec *d, json_t *obj, const struct jtable *t, void *out)
{
        if (!json_is_object(obj))
                return jerr(d, "expected an object, got %s", jtype(obj));
        for (size_t i = 0; i < t->n; i++) {
                const struct jfield *f = &t->fields[i];
                json_t *v = json_object_get(obj, f->name); /* borrowed */
                if (!v || json_is_null(v))
                        continue; /* absent and null both mean "not set" */
                size_t base = d->path.len;
                hd_strbuf_printf(&d->path, "%s%s", base ? "." : "", f->name);
                int r = dec_field(d, f, v, out);
                d->path.len = base;
                d->path.buf[base] = '\0';
                if (r < 0)
                        return r;
                if (f->present_offset != NO_OFFSET)
                        *(bool *)((char *)out + f->present_offset) = true;
        }
        return 0;
}

#define S(n, type, member)                                                  \
        {                                                                   \
                n, JF_STRING, offsetof(type, member), NULL, 0, 0, NO_OFFSET \
        }
#define B(n, type, member)                                                \
        {                                                                 \
                n, JF_BOOL, offsetof(type, member), NULL, 0, 0, NO_OFFSET \
        }
#define V(n, type, member, m)                                             \
        {                                                                 \
                n, JF_STRV, offsetof(type, member), NULL, 0, m, NO_OFFSET \
        }
#define O(n, sub, present)                             \
        {                                              \
                n, JF_OBJECT, 0, &(sub), 0, 0, present \
        }
#define A(n, type, member, count, sub, m)                                                        \
        {                                                                                        \
                n, JF_ARRAY, offsetof(type, member), &(sub), offsetof(type, count), m, NO_OFFSET \
        }
#define R(n, type, member, m)                                            \
        {                                                                \
                n, JF_RAW, offsetof(type, member), NULL, 0, m, NO_OFFSET \
        }
#define TABLE(type, fields)                                 \
        {                                                   \
                sizeof(type), fields, HD_ARRAY_SIZE(fields) \
        }

/* ---- ResourceClaim tables ---- */

static const struct jfield result_fields[] = {
        S("request", struct dm_claim_result, request),
        S("driver", struct dm_claim_result, driver),
        S("pool", struct dm_claim_result, pool),
        S("device", struct dm_claim_result, device),
        S("shareID", struct dm_claim_result, share_id),
        B("adminAccess", struct dm_claim_result, admin_access),
};
static const struct jtable result_table = TABLE(struct dm_claim_result, result_fields);

static const struct jfield opaque_fields[] = {
        S("driver", struct dm_claim_config, driver),
        R("parameters", struct dm_claim_config, parameters, DM_CLAIM_MAX_PARAMETERS),
};
static const struct jtable opaque_table = TABLE(struct dm_claim_config, opaque_fields);

static const struct jfield config_fields[] = {
        S("source", struct dm_claim_config, source),
        V("requests", struct dm_claim_config, requests, 256),
        O("opaque", opaque_table, NO_OFFSET),
};
static const struct jtable config_table = TABLE(struct dm_claim_config, config_fields);

static const struct jfield devalloc_fields[] = {
        A("results", struct dm_claim, results, n_results, result_table, DM_CLAIM_MAX_RESULTS),
        A("config", struct dm_claim, configs, n_configs, config_table, DM_CLAIM_MAX_CONFIGS),
};
static const struct jtable devalloc_table = TABLE(struct dm_claim, devalloc_fields);

static const struct jfield allocation_fields[] = {
        O("devices", devalloc_table, NO_OFFSET),
};
static const struct jtable allocation_table = TABLE(struct dm_claim, allocation_fields);

static const struct jfield status_fields[] = {
        O("allocation", allocation_table, offsetof(struct dm_claim, allocated)),
};
static const struct jtable status_table = TABLE(struct dm_claim, status_fields);

static const struct jfield meta_fields[] = {
        S("name", struct dm_claim, name),
        S("namespace", struct dm_claim, namespace),
        S("uid", struct dm_claim, uid),
};
static const struct jtable meta_table = TABLE(struct dm_claim, meta_fields);

static const struct jfield claim_fields[] = {
        O("metadata", meta_table, NO_OFFSET),
        O("status", status_table, NO_OFFSET),
};
static const struct jtable claim_table = TABLE(struct dm_claim, claim_fields);

struct dm_claim *dm_claim_free(struct dm_claim *c)
{
        if (!c)
                return NULL;
        free(c->name);
        free(c->namespace);
        free(c->uid);
        for (size_t i = 0; i < c->n_results; i++) {
                free(c->results[i].request);
                free(c->results[i].driver);
                free(c->results[i].pool);
                free(c->results[i].device);
                free(c->results[i].share_id);
        }
        free(c->results);
        for (size_t i = 0; i < c->n_configs; i++) {
                free(c->configs[i].source);
                hd_strv_free(c->configs[i].requests);
                free(c->configs[i].driver);
                json_decref(c->configs[i].parameters);
        }
        free(c->configs);
        free(c);
        return NULL;
}

int dm_claim_from_json_value(json_t *root, struct dm_claim **ret, struct hd_error *reterr)
{
        struct jdec d = {HD_STRBUF_INIT, reterr};
        struct dm_claim *c = hd_new0(struct dm_claim, 1);
        int r;

        *ret = NULL;
        hd_strbuf_puts(&d.path, "");
        r = dec_table(&d, root, &claim_table, c);
        hd_strbuf_done(&d.path);
        if (r < 0) {
                dm_claim_free(c);
                return hd_error_wrap(reterr, "decode ResourceClaim");
        }
        if (!c->uid || !c->name) {
                dm_claim_free(c);
                return hd_error_setf(reterr, EINVAL,
                                     "decode ResourceClaim: metadata.name and metadata.uid are "
                                     "required");
        }
        /* Results must name what they allocate; a result without a device is unusable. */
        for (size_t i = 0; i < c->n_results; i++) {
                const struct dm_claim_result *res = &c->results[i];
                if (!res->driver || !res->pool || !res->device || !res->request) {
                        r = hd_error_setf(reterr, EINVAL,
                                          "decode ResourceClaim: "
                                          "status.allocation.devices.results[%zu] lacks request, "
                                          "driver, pool or device",
                                          i);
                        dm_claim_free(c);
                        return r;
                }
        }
        *ret = c;
        return 0;
}

int dm_claim_from_json(const char *data, size_t len, struct dm_claim **ret, struct hd_error *reterr)
{
        json_error_t jerror;
        *ret = NULL;
        if (len > DM_CLAIM_MAX_BYTES)
                return hd_error_setf(reterr, EFBIG, "ResourceClaim JSON larger than %d bytes",
                                     DM_CLAIM_MAX_BYTES);
        json_t *root _cleanup_json_ = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerror);
        if (!root)
                return hd_error_setf(reterr, EINVAL, "ResourceClaim JSON: line %d column %d: %s",
                                     jerror.line, jerror.column, jerror.text);
        return dm_claim_from_json_value(root, ret, reterr);
}

int dm_claim_load(const char *file, struct dm_claim **ret, struct hd_error *reterr)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        *ret = NULL;
        int r = hd_read_file(file, DM_CLAIM_MAX_BYTES, false, &data, &len, reterr);
        if (r < 0)
                return r;
        r = dm_claim_from_json(data, len, ret, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "%s", file);
        return 0;
}
