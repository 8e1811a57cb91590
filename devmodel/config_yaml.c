/* SPDX-License-Identifier: Apache-2.0 */
/* YAML → struct dm_config with libyaml's document API. Each struct has a field table; the
 * walker checks node kinds, unknown and duplicate keys, and records positions. Nothing outside
 * this file sees a yaml_node_t. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "base/cleanup-yaml.h"
#include "base/error.h"
#include "base/strutil.h"
#include "devmodel/config-internal.h"
#include "devmodel/names.h"

/* Visits of nodes; bounds the work an alias-heavy document can cause. */
#define NODE_BUDGET 200000

struct ydec {
        const char *file;
        yaml_document_t *doc;
        size_t budget;
        struct hd_error *err;
};

typedef int (*ydec_fn)(struct ydec *d, yaml_node_t *n, const char *key, void *field);

#define NO_MARK SIZE_MAX

struct yfield {
        const char *key;
        ydec_fn fn;
        size_t offset;
        bool required;
        size_t mark_offset;  /* struct dm_mark: where the value starts, or NO_MARK */
        size_t marks_offset; /* struct dm_mark *: one per list entry, or NO_MARK */
};

static struct dm_mark mark_of(const yaml_node_t *n)
{
        return (struct dm_mark){(unsigned)n->start_mark.line + 1,
                                (unsigned)n->start_mark.column + 1};
}

static int yerr(struct ydec *d, const yaml_node_t *n, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int yerr(struct ydec *d, const yaml_node_t *n, const char *fmt, ...)
{
        struct dm_mark m = mark_of(n);
        va_list ap;
        va_start(ap, fmt);
        int r = hd_error_vsetf_at(d->err, EINVAL, d->file, m.line, m.column, fmt, ap);
        va_end(ap);
        return r;
}

static const char *kind_name(const yaml_node_t *n)
{
        switch (n->type) {
        case YAML_SCALAR_NODE:
                return "a scalar";
        case YAML_SEQUENCE_NODE:
                return "a list";
        case YAML_MAPPING_NODE:
                return "a mapping";
        default:
                return "nothing";
        }
}

static yaml_node_t *node(struct ydec *d, int id)
{
        return yaml_document_get_node(d->doc, id);
}

static int visit(struct ydec *d, yaml_node_t *n)
{
        if (++d->budget > NODE_BUDGET)
                return yerr(d, n,
                            "document too complex (more than %d nodes with aliases "
                            "expanded); simplify it",
                            NODE_BUDGET);
        return 0;
}

static const char *scalar(const yaml_node_t *n)
{
        return (const char *)n->data.scalar.value;
}

/* A flow mapping like {index} written where a template was meant. */
static bool looks_like_unquoted_template(struct ydec *d, yaml_node_t *n)
{
        if (n->type != YAML_MAPPING_NODE ||
            n->data.mapping.pairs.top - n->data.mapping.pairs.start != 1)
                return false;
        yaml_node_t *v = node(d, n->data.mapping.pairs.start->value);
        return v && v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0;
}

static int expect_scalar(struct ydec *d, yaml_node_t *n, const char *key, const char *what)
{
        if (n->type == YAML_SCALAR_NODE)
                return 0;
        if (looks_like_unquoted_template(d, n))
                return yerr(d, n,
                            "'%s' must be %s, got a mapping; quote templates, e.g. "
                            "%s: \"{index}\"",
                            key, what, key);
        return yerr(d, n, "'%s' must be %s, got %s", key, what, kind_name(n));
}

static int dec_string(struct ydec *d, yaml_node_t *n, const char *key, void *field)
{
        int r = expect_scalar(d, n, key, "a string");
        if (r < 0)
                return r;
        if (n->data.scalar.length == 0)
                return yerr(d, n, "'%s' must not be empty; give a value or remove the key", key);
        if (strlen(scalar(n)) != n->data.scalar.length)
                return yerr(d, n, "'%s' contains a NUL character; remove it", key);
        *(char **)field = hd_strdup(scalar(n));
        return 0;
}

static int dec_bool(struct ydec *d, yaml_node_t *n, const char *key, void *field)
{
        int r = expect_scalar(d, n, key, "true or false");
        if (r < 0)
                return r;
        if (hd_streq(scalar(n), "true"))
                *(bool *)field = true;
        else if (hd_streq(scalar(n), "false"))
                *(bool *)field = false;
        else
                return yerr(d, n, "'%s' must be true or false, got '%s'", key, scalar(n));
        return 0;
}

/* An unsigned integer from MIN to MAX, in decimal. */
static int parse_uint(struct ydec *d, yaml_node_t *n, const char *key, unsigned min, unsigned max,
                      unsigned *ret)
{
        int r = expect_scalar(d, n, key, "an integer");
        if (r < 0)
                return r;
        const char *s = scalar(n);
        char *end = NULL;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (!*s || *end || errno || s[0] == '-' || s[0] == '+' || v < min || v > max)
                return yerr(d, n, "'%s' must be an integer from %u to %u, got '%s'", key, min, max,
                            s);
        *ret = (unsigned)v;
        return 0;
}

static int dec_count(struct ydec *d, yaml_node_t *n, const char *key, void *field)
{
        return parse_uint(d, n, key, 1, DM_CONFIG_MAX_COUNT, (unsigned *)field);
}

static int dec_timeout(struct ydec *d, yaml_node_t *n, const char *key, void *field)
{
        unsigned v = 0;
        int r = parse_uint(d, n, key, 0, 3600, &v); /* seconds; 0 = no timeout */
        if (r < 0)
                return r;
        *(int *)field = (int)v;
        return 0;
}

static int dec_strv(struct ydec *d, yaml_node_t *n, const char *key, void *field)
{
        char ***ret = field;
        if (n->type != YAML_SEQUENCE_NODE)
                return yerr(d, n, "'%s' must be a list of strings, got %s", key, kind_name(n));
        size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
        if (count > DM_CONFIG_MAX_LIST)
                return yerr(d, n, "'%s' has %zu entries; at most %d are allowed", key, count,
                            DM_CONFIG_MAX_LIST);
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
                yaml_node_t *item = node(d, *it);
                char *s = NULL;
                int r = visit(d, item);
                if (r < 0)
                        return r;
                r = dec_string(d, item, key, &s);
                if (r < 0)
                        return r;
                hd_strv_consume(ret, s);
        }
        return 0;
}

/* Decode mapping N into OBJ by TABLE. WHAT names the mapping in messages. */
static int dec_fields(struct ydec *d, yaml_node_t *n, const char *what, const struct yfield *table,
                      size_t n_table, void *obj)
{
        uint64_t seen = 0;

        if (n->type != YAML_MAPPING_NODE)
                return yerr(d, n, "%s must be a mapping, got %s", what, kind_name(n));
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
                yaml_node_t *k = node(d, p->key), *v = node(d, p->value);
                int r = visit(d, v);
                if (r < 0)
                        return r;
                if (k->type != YAML_SCALAR_NODE)
                        return yerr(d, k, "keys in %s must be plain strings, not %s", what,
                                    kind_name(k));
                size_t i = 0;
                while (i < n_table && !hd_streq(table[i].key, scalar(k)))
                        i++;
                if (i == n_table) {
                        struct hd_strbuf b = HD_STRBUF_INIT;
                        for (size_t j = 0; j < n_table; j++)
                                hd_strbuf_printf(&b, "%s%s", j ? ", " : "", table[j].key);
                        r = yerr(d, k, "unknown key '%s' in %s; expected one of: %s", scalar(k),
                                 what, b.buf);
                        hd_strbuf_done(&b);
                        return r;
                }
                if (seen & (UINT64_C(1) << i))
                        return yerr(d, k, "duplicate key '%s' in %s; keep only one", scalar(k),
                                    what);
                seen |= UINT64_C(1) << i;
                r = table[i].fn(d, v, table[i].key, (char *)obj + table[i].offset);
                if (r < 0)
                        return r;
                if (table[i].mark_offset != NO_MARK)
                        *(struct dm_mark *)((char *)obj + table[i].mark_offset) = mark_of(v);
                if (table[i].marks_offset != NO_MARK && v->type == YAML_SEQUENCE_NODE) {
                        size_t count =
                                (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
                        struct dm_mark *marks = hd_new0(struct dm_mark, count ? count : 1);
                        for (size_t j = 0; j < count; j++)
                                marks[j] = mark_of(node(d, v->data.sequence.items.start[j]));
                        *(struct dm_mark **)((char *)obj + table[i].marks_offset) = marks;
                }
        }
        for (size_t i = 0; i < n_table; i++)
                if (table[i].required && !(seen & (UINT64_C(1) << i)))
                        return yerr(d, n, "%s lacks required key '%s'", what, table[i].key);
        return 0;
}

/* Decode a list of mappings into a new array of ELEM_SIZE elements. */
static int dec_list(struct ydec *d, yaml_node_t *n, const char *key, size_t max, size_t elem_size,
                    void **ret_arr, size_t *ret_n,
                    int (*elem)(struct ydec *d, yaml_node_t *n, void *obj))
{
        if (n->type != YAML_SEQUENCE_NODE)
                return yerr(d, n, "'%s' must be a list, got %s", key, kind_name(n));
        size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
        if (count > max)
                return yerr(d, n, "'%s' has %zu entries; at most %zu are allowed", key, count, max);
        char *arr = hd_calloc_(count ? count : 1, elem_size);
        *ret_arr = arr;
        *ret_n = 0;
        for (size_t i = 0; i < count; i++) {
                yaml_node_t *item = node(d, n->data.sequence.items.start[i]);
                int r = visit(d, item);
                if (r < 0)
                        return r;
                /* Count first: a half-decoded element still gets freed by its owner. */
                (*ret_n)++;
                r = elem(d, item, arr + i * elem_size);
                if (r < 0)
                        return r;
        }
        return 0;
}

#define F(key, fn, type, member)                                         \
        {                                                                \
                key, fn, offsetof(type, member), false, NO_MARK, NO_MARK \
        }
#define FR(key, fn, type, member)                                       \
        {                                                               \
                key, fn, offsetof(type, member), true, NO_MARK, NO_MARK \
        }
/* Also record where the value starts (FM) or where each list entry starts (FL). */
#define FM(key, fn, type, member, mark)                                               \
        {                                                                             \
                key, fn, offsetof(type, member), false, offsetof(type, mark), NO_MARK \
        }
#define FL(key, fn, type, member, marks)                                               \
        {                                                                              \
                key, fn, offsetof(type, member), false, NO_MARK, offsetof(type, marks) \
        }

/* ---- edits ---- */

static const struct yfield node_fields[] = {
        FR("path", dec_string, struct dm_node_spec, path),
        F("hostPath", dec_string, struct dm_node_spec, host_path),
        FM("permissions", dec_string, struct dm_node_spec, permissions, permissions_mark),
        F("optional", dec_bool, struct dm_node_spec, optional),
};

static int dec_node_elem(struct ydec *d, yaml_node_t *n, void *obj)
{
        ((struct dm_node_spec *)obj)->mark = mark_of(n);
        return dec_fields(d, n, "a deviceNodes entry", node_fields, HD_ARRAY_SIZE(node_fields),
                          obj);
}

static const struct yfield mount_fields[] = {
        FR("hostPath", dec_string, struct dm_mount_spec, host_path),
        F("containerPath", dec_string, struct dm_mount_spec, container_path),
        F("type", dec_string, struct dm_mount_spec, type),
        F("options", dec_strv, struct dm_mount_spec, options),
        F("optional", dec_bool, struct dm_mount_spec, optional),
};

static int dec_mount_elem(struct ydec *d, yaml_node_t *n, void *obj)
{
        ((struct dm_mount_spec *)obj)->mark = mark_of(n);
        return dec_fields(d, n, "a mounts entry", mount_fields, HD_ARRAY_SIZE(mount_fields), obj);
}

static const struct yfield hook_fields[] = {
        FR("hookName", dec_string, struct dm_hook_spec, hook_name),
        FR("path", dec_string, struct dm_hook_spec, path),
        F("args", dec_strv, struct dm_hook_spec, args),
        F("env", dec_strv, struct dm_hook_spec, env),
        F("timeout", dec_timeout, struct dm_hook_spec, timeout),
};

static int dec_hook_elem(struct ydec *d, yaml_node_t *n, void *obj)
{
        ((struct dm_hook_spec *)obj)->mark = mark_of(n);
        return dec_fields(d, n, "a hooks entry", hook_fields, HD_ARRAY_SIZE(hook_fields), obj);
}

static int dec_nodes(struct ydec *d, yaml_node_t *n, const char *key, void *field)
{
        struct dm_edits_spec *e =
                (struct dm_edits_spec *)((char *)field - offsetof(struct dm_edits_spec, nodes));
        return dec_list(d, n, key, DM_CONFIG_MAX_LIST, sizeof(struct dm_node_spec),
                        (void **)&e->nodes, &e->n_nodes, dec_node_elem);
}

static int dec_mounts(struct ydec *d, yaml_node_t *n, const char *key, void *field)
{
        struct dm_edits_spec *e =
                (struct dm_edits_spec *)((char *)field - offsetof(struct dm_edits_spec, mounts));
        return dec_list(d, n, key, DM_CONFIG_MAX_LIST, sizeof(struct dm_mount_spec),
                        (void **)&e->mounts, &e->n_mounts, dec_mount_elem);
}

static int dec_hooks(struct ydec *d, yaml_node_t *n, const char *key, void *field)
{
        struct dm_edits_spec *e =
                (struct dm_edits_spec *)((char *)field - offsetof(struct dm_edits_spec, hooks));
        return dec_list(d, n, key, DM_CONFIG_MAX_LIST, sizeof(struct dm_hook_spec),
                        (void **)&e->hooks, &e->n_hooks, dec_hook_elem);
}

static const struct yfield edits_fields[] = {
        F("deviceNodes", dec_nodes, struct dm_edits_spec, nodes),
        F("mounts", dec_mounts, struct dm_edits_spec, mounts),
        FL("env", dec_strv, struct dm_edits_spec, env, env_marks),
        F("hooks", dec_hooks, struct dm_edits_spec, hooks),
};

static int dec_edits(struct ydec *d, yaml_node_t *n, const char *key, void *field)
{
        return dec_fields(d, n, key, edits_fields, HD_ARRAY_SIZE(edits_fields), field);
}

/* ---- attributes: { name: { int|bool|string|version: value } } ---- */

static int dec_attr(struct ydec *d, yaml_node_t *k, yaml_node_t *v, struct dm_attr_spec *a)
{
        a->name = hd_strdup(scalar(k));
        a->mark = mark_of(k);
        if (v->type != YAML_MAPPING_NODE ||
            v->data.mapping.pairs.top - v->data.mapping.pairs.start != 1)
                return yerr(d, v->type == YAML_MAPPING_NODE ? v : k,
                            "attribute '%s' must be a mapping with exactly one of int, bool, "
                            "string, version (e.g. %s: {string: \"value\"})",
                            a->name, a->name);
        yaml_node_t *tk = node(d, v->data.mapping.pairs.start->key);
        yaml_node_t *tv = node(d, v->data.mapping.pairs.start->value);
        static const char *const types[] = {"int", "bool", "string", "version"};
        size_t t = 0;
        while (t < HD_ARRAY_SIZE(types) &&
               !(tk->type == YAML_SCALAR_NODE && hd_streq(scalar(tk), types[t])))
                t++;
        if (t == HD_ARRAY_SIZE(types))
                return yerr(d, tk,
                            "attribute '%s' has unknown type '%s'; use int, bool, string "
                            "or version",
                            a->name, tk->type == YAML_SCALAR_NODE ? scalar(tk) : "?");
        a->type = (enum dm_attr_type)t;
        int r = expect_scalar(d, tv, types[t], "a scalar value or template");
        if (r < 0)
                return r;
        a->value = hd_strdup(scalar(tv));
        return 0;
}

static int dec_attrs(struct ydec *d, yaml_node_t *n, const char *key, void *field)
{
        struct dm_group *g = (struct dm_group *)((char *)field - offsetof(struct dm_group, attrs));
        if (n->type != YAML_MAPPING_NODE)
                return yerr(d, n,
                            "'attributes' must be a mapping of name to {type: value}, got "
                            "%s",
                            kind_name(n));
        size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
        if (count > DM_CONFIG_MAX_LIST)
                return yerr(d, n, "%zu attributes; a list takes at most %d entries", count,
                            DM_CONFIG_MAX_LIST);
        g->attrs = hd_new0(struct dm_attr_spec, count ? count : 1);
        for (size_t i = 0; i < count; i++) {
                yaml_node_pair_t *p = n->data.mapping.pairs.start + i;
                yaml_node_t *k = node(d, p->key), *v = node(d, p->value);
                int r = visit(d, v);
                if (r < 0)
                        return r;
                if (k->type != YAML_SCALAR_NODE)
                        return yerr(d, k, "attribute names must be plain strings, not %s",
                                    kind_name(k));
                for (size_t j = 0; j < i; j++)
                        if (hd_streq(g->attrs[j].name, scalar(k)))
                                return yerr(d, k, "duplicate attribute '%s'; keep only one",
                                            scalar(k));
                g->n_attrs++;
                r = dec_attr(d, k, v, &g->attrs[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- claimEnv: { allow: [pattern, ...] } ---- */

static int dec_allow(struct ydec *d, yaml_node_t *n, const char *key, void *field)
{
        struct dm_claim_env *ce =
                (struct dm_claim_env *)((char *)field - offsetof(struct dm_claim_env, allow));
        int r = dec_strv(d, n, key, field);
        if (r < 0)
                return r;
        ce->set = true;
        for (size_t i = 0; ce->allow && ce->allow[i]; i++) {
                const char *pat = ce->allow[i];
                bool ok = *pat && strlen(pat) <= 256;
                for (const char *c = pat; ok && *c; c++)
                        ok = isalnum((unsigned char)*c) || *c == '_' || *c == '*';
                if (!ok)
                        return yerr(d, node(d, n->data.sequence.items.start[i]),
                                    "claimEnv.allow pattern '%s': use letters, digits, '_' and "
                                    "'*' (any run of characters), e.g. 'APP_*'",
                                    pat);
        }
        return 0;
}

static const struct yfield claim_env_fields[] = {
        FL("allow", dec_allow, struct dm_claim_env, allow, allow_marks),
};

static int dec_claim_env(struct ydec *d, yaml_node_t *n, const char *key, void *field)
{
        return dec_fields(d, n, "'claimEnv'", claim_env_fields, HD_ARRAY_SIZE(claim_env_fields),
                          field);
}

static int dec_top_claim_env(struct ydec *d, yaml_node_t *n, const char *key, void *field)
{
        struct dm_config *c = *(struct dm_config **)field;
        return dec_claim_env(d, n, key, &c->claim_env);
}

/* ---- group ---- */

static int dec_match(struct ydec *d, yaml_node_t *n, const char *key, void *field);

static const struct yfield group_fields[] = {
        {"name", dec_string, offsetof(struct dm_group, name), true,
         offsetof(struct dm_group, name_mark), NO_MARK},
        FR("match", dec_match, struct dm_group, paths),
        F("optional", dec_bool, struct dm_group, optional),
        F("count", dec_count, struct dm_group, count),
        FM("deviceName", dec_string, struct dm_group, device_name, device_name_mark),
        FM("containerPath", dec_string, struct dm_group, container_path, container_path_mark),
        FM("permissions", dec_string, struct dm_group, permissions, permissions_mark),
        FM("resourceName", dec_string, struct dm_group, resource_name, resource_name_mark),
        F("attributes", dec_attrs, struct dm_group, attrs),
        F("deviceEdits", dec_edits, struct dm_group, device_edits),
        F("commonEdits", dec_edits, struct dm_group, common_edits),
        FM("claimEnv", dec_claim_env, struct dm_group, claim_env, claim_env.mark),
};

static const struct yfield match_fields[] = {
        FL("paths", dec_strv, struct dm_group, paths, path_marks),
        FL("globs", dec_strv, struct dm_group, globs, glob_marks),
};

static int dec_match(struct ydec *d, yaml_node_t *n, const char *key, void *field)
{
        struct dm_group *g = (struct dm_group *)((char *)field - offsetof(struct dm_group, paths));
        int r = dec_fields(d, n, "'match'", match_fields, HD_ARRAY_SIZE(match_fields), g);
        if (r < 0)
                return r;
        if (hd_strv_len(g->paths) + hd_strv_len(g->globs) == 0)
                return yerr(d, n, "'match' needs at least one entry in 'paths' or 'globs'");
        return 0;
}

static int dec_group_elem(struct ydec *d, yaml_node_t *n, void *obj)
{
        struct dm_group *g = obj;
        g->mark = mark_of(n);
        g->count = 1;
        return dec_fields(d, n, "a group", group_fields, HD_ARRAY_SIZE(group_fields), g);
}

/* ---- top level ---- */

struct top {
        char *api_version;
        char *kind;
        struct dm_config *c;
        struct dm_mark api_mark, kind_mark;
};

static int dec_api_version(struct ydec *d, yaml_node_t *n, const char *key, void *field)
{
        int r = dec_string(d, n, key, field);
        if (r < 0)
                return r;
        if (!hd_streq(*(char **)field, DM_CONFIG_API_VERSION))
                return yerr(d, n, "unsupported apiVersion '%s'; use '%s'", *(char **)field,
                            DM_CONFIG_API_VERSION);
        return 0;
}

static int dec_kind(struct ydec *d, yaml_node_t *n, const char *key, void *field)
{
        int r = dec_string(d, n, key, field);
        if (r < 0)
                return r;
        if (!hd_streq(*(char **)field, DM_CONFIG_KIND))
                return yerr(d, n, "unsupported kind '%s'; use '%s'", *(char **)field,
                            DM_CONFIG_KIND);
        return 0;
}

static int dec_groups(struct ydec *d, yaml_node_t *n, const char *key, void *field)
{
        struct dm_config *c = *(struct dm_config **)field;
        int r = dec_list(d, n, key, DM_CONFIG_MAX_GROUPS, sizeof(struct dm_group),
                         (void **)&c->groups, &c->n_groups, dec_group_elem);
        if (r < 0)
                return r;
        if (c->n_groups == 0)
                return yerr(d, n, "'groups' is empty; describe at least one device group");
        return 0;
}

static const struct yfield top_fields[] = {
        FR("apiVersion", dec_api_version, struct top, api_version),
        FR("kind", dec_kind, struct top, kind),
        FR("groups", dec_groups, struct top, c),
        F("claimEnv", dec_top_claim_env, struct top, c),
};

static int syntax_error(struct hd_error *reterr, const char *file, const yaml_parser_t *p)
{
        return hd_error_setf_at(reterr, EINVAL, file, (unsigned)p->problem_mark.line + 1,
                                (unsigned)p->problem_mark.column + 1,
                                "YAML syntax error: %s%s%s; fix the syntax",
                                p->problem ? p->problem : "unknown problem", p->context ? " " : "",
                                p->context ? p->context : "");
}

int dm_config_decode_yaml(const char *file, const char *data, size_t len, struct dm_config **ret,
                          struct hd_error *reterr)
{
        yaml_parser_t parser;
        yaml_parser_t *pp _cleanup_yaml_parser_ = NULL;
        yaml_document_t doc, extra;
        yaml_document_t *dp _cleanup_yaml_document_ = NULL;
        struct dm_config *c = hd_new0(struct dm_config, 1);
        struct top top = {.c = c};
        int r;

        *ret = NULL;
        c->file = hd_strdup(file);
        if (!yaml_parser_initialize(&parser)) {
                dm_config_free(c);
                return hd_error_setf(reterr, ENOMEM, "%s: cannot initialise YAML parser", file);
        }
        pp = &parser;
        yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
        if (!yaml_parser_load(&parser, &doc)) {
                dm_config_free(c);
                return syntax_error(reterr, file, &parser);
        }
        dp = &doc;

        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!root) {
                dm_config_free(c);
                return hd_error_setf(reterr, EINVAL,
                                     "%s: the config is empty; start with 'apiVersion: %s'", file,
                                     DM_CONFIG_API_VERSION);
        }
        if (!yaml_parser_load(&parser, &extra)) {
                dm_config_free(c);
                return syntax_error(reterr, file, &parser);
        }
        bool more = yaml_document_get_root_node(&extra) != NULL;
        struct dm_mark extra_mark = {(unsigned)extra.start_mark.line + 1,
                                     (unsigned)extra.start_mark.column + 1};
        yaml_document_delete(&extra);
        if (more) {
                dm_config_free(c);
                return hd_error_setf_at(reterr, EINVAL, file, extra_mark.line, extra_mark.column,
                                        "a second YAML document; put all groups in one document");
        }

        struct ydec d = {file, &doc, 0, reterr};
        r = dec_fields(&d, root, "the config", top_fields, HD_ARRAY_SIZE(top_fields), &top);
        free(top.api_version);
        free(top.kind);
        if (r < 0) {
                dm_config_free(c);
                return r;
        }
        *ret = c;
        return 0;
}
