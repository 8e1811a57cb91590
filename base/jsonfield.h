/* SPDX-License-Identifier: Apache-2.0 */
/* Decoding JSON into C structs at the edge, with one set of rules for every reader (ResourceClaim,
 * checkpoint, Kubernetes Status/ObjectMeta, CDI specs):
 *   - a field table per struct names each member, its type, where it goes and its limits;
 *   - JSON null counts as absent; an absent required field is an error;
 *   - a strict table refuses members it does not name, a lenient one ignores them;
 *   - strings with a NUL byte are refused; strings, lists and raw values can be capped;
 *   - every error is EINVAL with a message naming the field path, e.g.
 *     "status.allocation.devices.results[1].device: expected a string, got an array".
 * Paths in tables and getters may be dotted ("metadata.name") to reach into nested objects. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/cleanup-json.h"

struct hd_error;

enum hd_json_type {
        HD_JSON_STRING,     /* char *, owned copy */
        HD_JSON_INT,        /* int64_t */
        HD_JSON_UINT32,     /* uint32_t; an integer in 0..UINT32_MAX */
        HD_JSON_BOOL,       /* bool */
        HD_JSON_OBJECT,     /* json_t *, new reference to an object */
        HD_JSON_ARRAY,      /* json_t *, new reference to an array */
        HD_JSON_ANY,        /* json_t *, new reference to any value; MAX caps its compact size */
        HD_JSON_STRV,       /* char **, owned NULL-terminated strv (empty, not NULL, for []) */
        HD_JSON_STRMAP,     /* char **: key, value, key, value, ..., NULL (owned strv) */
        HD_JSON_STRUCT,     /* nested object decoded with SUB into the struct at OFFSET */
        HD_JSON_STRUCT_PTR, /* nested object decoded with SUB into a new struct at OFFSET */
        HD_JSON_LIST,       /* array of SUB structs: pointer at OFFSET, size_t count at COUNT */
        HD_JSON_PTR_LIST,   /* array of pointers to SUB structs: same, each element allocated */
        HD_JSON_CUSTOM,     /* DECODE_CB decodes the value into the slot at OFFSET */
};

/* Decodes VALUE (present, not null) found at PATH into SLOT. Returns 0 or -errno with a message
 * naming PATH. */
typedef int (*hd_json_decode_cb)(json_t *value, void *slot, const char *path,
                                 struct hd_error *reterr);
/* Frees what a DECODE_CB stored in SLOT. */
typedef void (*hd_json_done_cb)(void *slot);

struct hd_json_table;

struct hd_json_field {
        const char *path; /* member name, dotted to reach into nested objects */
        enum hd_json_type type;
        size_t offset; /* of the slot in the struct */
        bool required; /* absent or null is an error */
        size_t max;    /* entries of STRV/STRMAP/LIST/PTR_LIST, bytes of ANY; 0 = no cap */
        const struct hd_json_table *sub; /* STRUCT, STRUCT_PTR, LIST, PTR_LIST */
        size_t count_offset;             /* LIST, PTR_LIST: size_t element count */
        bool has_present;                /* set the bool at PRESENT_OFFSET when present */
        size_t present_offset;
        hd_json_decode_cb decode_cb; /* CUSTOM */
        hd_json_done_cb done_cb;     /* CUSTOM, optional */
};

struct hd_json_table {
        const char *name; /* type name for messages ("expected a spec object"); NULL: "an object" */
        size_t size;      /* sizeof the struct: for LIST, PTR_LIST and STRUCT_PTR */
        bool strict;      /* a member no field names is an error */
        size_t max_string; /* bytes of every string in this table's fields; 0 = no cap */
        const struct hd_json_field *fields;
        size_t n_fields;
};

/* One field of struct TYPE's MEMBER at JSON PATH; more designated initialisers may follow
 * (.required = true, .max = 16, .sub = &t, ...). */
#define HD_JSON_FIELD(jtype, st, member, json_path, ...)                                          \
        {                                                                                         \
                .path = (json_path), .type = (jtype), .offset = offsetof(st, member), __VA_ARGS__ \
        }
/* Initialisers for LIST/PTR_LIST fields and for a "present" flag. */
#define HD_JSON_COUNT(st, member) .count_offset = offsetof(st, member)
#define HD_JSON_PRESENT(st, member) .has_present = true, .present_offset = offsetof(st, member)
/* A table for struct TYPE from the array FIELDS; more initialisers may follow. */
#define HD_JSON_TABLE(st, field_array, ...)                                             \
        {                                                                               \
                .size = sizeof(st), .fields = (field_array),                            \
                .n_fields = sizeof(field_array) / sizeof((field_array)[0]), __VA_ARGS__ \
        }

/* Decode the object JSON into the struct at OUT (zero-initialised by the caller) following
 * TABLE. WHERE is the path of JSON for messages (NULL or "" for the document root, named
 * "(root)"). On failure OUT holds what was decoded so far, consistently (a list's count covers
 * every element allocated), for the caller to free with hd_json_decode_done() or the struct's
 * own free function. Returns 0 or -EINVAL. */
int hd_json_decode(json_t *json, const struct hd_json_table *table, void *out, const char *where,
                   struct hd_error *reterr);

/* Free what hd_json_decode() stored in the struct at P and zero those fields. */
void hd_json_decode_done(const struct hd_json_table *table, void *p);

/* Decode the scalar VALUE (STRING, INT, UINT32 or BOOL; present, not null) at PATH into SLOT,
 * with MAX_STRING capping a string's bytes (0 = none). For decode callbacks. Returns 0 or
 * -EINVAL. */
int hd_json_decode_scalar(json_t *value, enum hd_json_type type, size_t max_string, void *slot,
                          const char *path, struct hd_error *reterr);

/* Typed getters for the value at the dotted PATH below OBJ. Present: the value goes to *RET
 * (borrowed from OBJ) and they return 0. Absent or null: an optional value leaves *RET as it is
 * (preset the default) and returns 0, a REQUIRED one fails. A present value of the wrong type,
 * or an intermediate that is not an object, fails. Failures return -EINVAL with a message
 * naming the path. */
int hd_json_get_string(json_t *obj, const char *path, bool required, const char **ret,
                       struct hd_error *reterr);
int hd_json_get_int(json_t *obj, const char *path, bool required, int64_t *ret,
                    struct hd_error *reterr);
int hd_json_get_bool(json_t *obj, const char *path, bool required, bool *ret,
                     struct hd_error *reterr);
int hd_json_get_object(json_t *obj, const char *path, bool required, json_t **ret,
                       struct hd_error *reterr);
int hd_json_get_array(json_t *obj, const char *path, bool required, json_t **ret,
                      struct hd_error *reterr);

/* Parse the JSON document in DATA (LEN bytes; NUL bytes refused) with jansson FLAGS (e.g.
 * JSON_REJECT_DUPLICATES) into *RET (new reference). A syntax error is -EINVAL: "WHAT: line L
 * column C: text". Returns 0 or -EINVAL. */
int hd_json_parse(const char *data, size_t len, size_t flags, const char *what, json_t **ret,
                  struct hd_error *reterr);
