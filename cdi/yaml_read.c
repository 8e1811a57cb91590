/* SPDX-License-Identifier: Apache-2.0 */
/* Turn a CDI spec written as YAML (the CDI library's default output format) into a jansson
 * tree, which the loader (load.c) hands to the strict JSON decoder, so both formats obey one set
 * of rules. The Go loader converts YAML to JSON guided by the target
 * struct's field types; we do the same by field name, which is unambiguous in the CDI schema:
 * plain scalars under the integer fields become integers, under enableMonitoring a boolean, and
 * everything else stays a string. A plain empty, "~" or "null" scalar is null (absent). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "base/cleanup-json.h"
#include "base/cleanup-yaml.h"
#include "base/error.h"
#include "base/strutil.h"
#include "cdi/cdi-internal.h"

#define YAML_MAX_DEPTH 64
#define YAML_MAX_NODES                                                            \
        200000 /* converted nodes, aliases counted each time: no "billion laughs" \
                */

enum scalar_kind { SCALAR_STRING, SCALAR_INT, SCALAR_BOOL };

struct converter {
        yaml_document_t *doc;
        size_t nodes;
        struct hd_error *reterr;
};

static const char *const int_fields[] = {"major", "minor",   "fileMode",       "uid",
                                         "gid",   "timeout", "additionalGids", NULL};

static enum scalar_kind kind_for_key(const char *key)
{
        for (const char *const *k = int_fields; *k; k++)
                if (strcmp(*k, key) == 0)
                        return SCALAR_INT;
        if (strcmp(key, "enableMonitoring") == 0)
                return SCALAR_BOOL;
        return SCALAR_STRING;
}

static bool is_null_text(const char *s)
{
        return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
               strcmp(s, "NULL") == 0;
}

/* YAML 1.1 integers as go-yaml reads them: decimal, 0x hex, 0o or leading-0 octal, optional
 * sign, '_' separators. */
static bool parse_int(const char *s, json_int_t *ret)
{
        _cleanup_free_ char *digits = hd_new0(char, strlen(s) + 1);
        const char *p = s;
        bool negative = false;
        char *end = NULL, *d = digits;
        unsigned long long v;
        int base = 10;

        if (*p == '+' || *p == '-')
                negative = *p++ == '-';
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
                base = 16;
                p += 2;
        } else if (p[0] == '0' && p[1] == 'o') {
                base = 8;
                p += 2;
        } else if (p[0] == '0' && p[1]) {
                base = 8;
                p += 1;
        }
        for (; *p; p++)
                if (*p != '_')
                        *d++ = *p;
        if (!*digits || digits[0] == '-' || digits[0] == '+')
                return false;
        errno = 0;
        v = strtoull(digits, &end, base);
        if (errno || *end || v > (unsigned long long)INT64_MAX + (negative ? 1 : 0))
                return false;
        *ret = negative ? (json_int_t)(0 - v) : (json_int_t)v;
        return true;
}

static bool parse_bool(const char *s, bool *ret)
{
        static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                          "on",   "On",   "ON",   "y",   "Y",   NULL};
        static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO",
                                         "off",   "Off",   "OFF",   "n",  "N",  NULL};

        for (size_t i = 0; yes[i]; i++)
                if (strcmp(s, yes[i]) == 0) {
                        *ret = true;
                        return true;
                }
        for (size_t i = 0; no[i]; i++)
                if (strcmp(s, no[i]) == 0) {
                        *ret = false;
                        return true;
                }
        return false;
}

static json_t *convert(struct converter *c, yaml_node_t *node, enum scalar_kind kind, int depth);

static bool is_utf8(const char *s)
{
        json_t *probe = json_string(s);
        bool ok = probe != NULL;

        json_decref(probe);
        return ok;
}

static json_t *fail(struct converter *c, const yaml_node_t *node, const char *what)
{
        hd_error_setf(c->reterr, EINVAL, "YAML line %zu column %zu: %s", node->start_mark.line + 1,
                      node->start_mark.column + 1, what);
        return NULL;
}

static json_t *convert_scalar(struct converter *c, yaml_node_t *node, enum scalar_kind kind)
{
        const char *s = (const char *)node->data.scalar.value;
        bool plain = node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        json_int_t n;
        bool b;
        json_t *j;

        if (strlen(s) != node->data.scalar.length)
                return fail(c, node, "scalar contains a NUL byte");
        if (plain && is_null_text(s))
                return json_null();
        if (plain && kind == SCALAR_INT && parse_int(s, &n))
                return json_integer(n);
        if (plain && kind == SCALAR_BOOL && parse_bool(s, &b))
                return json_boolean(b);
        j = json_string(s);
        if (!j)
                return fail(c, node, "scalar is not valid UTF-8");
        return j;
}

static json_t *convert_sequence(struct converter *c, yaml_node_t *node, enum scalar_kind kind,
                                int depth)
{
        _cleanup_json_ json_t *arr = json_array();

        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
                json_t *v = convert(c, yaml_document_get_node(c->doc, *it), kind, depth + 1);

                if (!v || json_array_append_new(arr, v) < 0)
                        return NULL;
        }
        return TAKE_PTR(arr);
}

static json_t *convert_mapping(struct converter *c, yaml_node_t *node, int depth)
{
        _cleanup_json_ json_t *obj = json_object();

        for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
             p++) {
                yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
                yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
                const char *key;
                json_t *value;

                if (!k || k->type != YAML_SCALAR_NODE)
                        return fail(c, node, "mapping key is not a scalar");
                key = (const char *)k->data.scalar.value;
                if (!is_utf8(key))
                        return fail(c, k, "key is not valid UTF-8");
                if (json_object_get(obj, key)) {
                        _cleanup_free_ char *msg = hd_asprintf("duplicate key \"%s\"", key);

                        return fail(c, k, msg);
                }
                value = convert(c, v, kind_for_key(key), depth + 1);
                if (!value)
                        return NULL;
                if (json_object_set_new(obj, key, value) < 0)
                        return fail(c, k, "cannot store key");
        }
        return TAKE_PTR(obj);
}

static json_t *convert(struct converter *c, yaml_node_t *node, enum scalar_kind kind, int depth)
{
        if (!node) {
                hd_error_setf(c->reterr, EINVAL, "YAML: dangling node");
                return NULL;
        }
        if (depth > YAML_MAX_DEPTH)
                return fail(c, node, "nested too deeply");
        if (++c->nodes > YAML_MAX_NODES)
                return fail(c, node, "document too large (aliases expand past the limit)");

        switch (node->type) {
        case YAML_SCALAR_NODE:
                return convert_scalar(c, node, kind);
        case YAML_SEQUENCE_NODE:
                return convert_sequence(c, node, kind, depth);
        case YAML_MAPPING_NODE:
                return convert_mapping(c, node, depth);
        default:
                return fail(c, node, "unexpected node");
        }
}

int cdi_yaml_to_json(const char *text, json_t **ret_root, struct hd_error *reterr)
{
        yaml_parser_t parser;
        yaml_document_t doc;
        yaml_parser_t *pp _cleanup_yaml_parser_ = NULL;
        yaml_document_t *dp _cleanup_yaml_document_ = NULL;
        struct converter c = {.doc = &doc, .reterr = reterr};
        yaml_node_t *top;

        if (!yaml_parser_initialize(&parser))
                abort();
        pp = &parser;
        yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""),
                                     text ? strlen(text) : 0);
        if (!yaml_parser_load(&parser, &doc))
                return hd_error_setf(reterr, EINVAL, "invalid YAML at line %zu column %zu: %s",
                                     parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                                     parser.problem ? parser.problem : "parse error");
        dp = &doc;
        top = yaml_document_get_root_node(&doc);
        if (!top)
                return hd_error_setf(reterr, EINVAL, "invalid YAML: empty document");
        *ret_root = convert(&c, top, SCALAR_STRING, 0);
        return *ret_root ? 0 : -EINVAL;
}
