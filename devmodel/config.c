/* SPDX-License-Identifier: Apache-2.0 */
/* Device config: the model (ownership, lookups, attribute value rules). Loading and the semantic
 * checks are in config_load.c, the YAML decoder in config_yaml.c; neither is called from here. */
#include "devmodel/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "devmodel/config-internal.h"
#include "devmodel/hostroot.h"
#include "devmodel/names.h"

void dm_edits_spec_done(struct dm_edits_spec *e)
{
        for (size_t i = 0; i < e->n_nodes; i++) {
                free(e->nodes[i].path);
                free(e->nodes[i].host_path);
                free(e->nodes[i].permissions);
        }
        free(e->nodes);
        for (size_t i = 0; i < e->n_mounts; i++) {
                free(e->mounts[i].host_path);
                free(e->mounts[i].container_path);
                free(e->mounts[i].type);
                hd_strv_free(e->mounts[i].options);
        }
        free(e->mounts);
        hd_strv_free(e->env);
        free(e->env_marks);
        for (size_t i = 0; i < e->n_hooks; i++) {
                free(e->hooks[i].hook_name);
                free(e->hooks[i].path);
                hd_strv_free(e->hooks[i].args);
                hd_strv_free(e->hooks[i].env);
        }
        free(e->hooks);
        *e = (struct dm_edits_spec){0};
}

int dm_config_set_host_root(struct dm_config *c, const char *dir, struct hd_error *reterr)
{
        char *root = NULL;
        if (!dm_host_root_is_slash(dir)) {
                int r = dm_host_root_canonical(dir, &root, reterr);
                if (r < 0)
                        return r;
        }
        free(c->host_root);
        c->host_root = root;
        return 0;
}

struct dm_config *dm_config_free(struct dm_config *c)
{
        if (!c)
                return NULL;
        free(c->host_root);
        for (size_t i = 0; i < c->n_groups; i++) {
                struct dm_group *g = &c->groups[i];
                free(g->name);
                hd_strv_free(g->paths);
                hd_strv_free(g->globs);
                free(g->path_marks);
                free(g->glob_marks);
                free(g->device_name);
                free(g->container_path);
                free(g->permissions);
                free(g->resource_name);
                for (size_t j = 0; j < g->n_attrs; j++) {
                        free(g->attrs[j].name);
                        free(g->attrs[j].value);
                }
                free(g->attrs);
                dm_edits_spec_done(&g->device_edits);
                dm_edits_spec_done(&g->common_edits);
                hd_strv_free(g->claim_env.allow);
                free(g->claim_env.allow_marks);
        }
        free(c->groups);
        hd_strv_free(c->claim_env.allow);
        free(c->claim_env.allow_marks);
        free(c->file);
        free(c);
        return NULL;
}

const struct dm_group *dm_config_find_group(const struct dm_config *c, const char *name)
{
        for (size_t i = 0; c && i < c->n_groups; i++)
                if (hd_streq(c->groups[i].name, name))
                        return &c->groups[i];
        return NULL;
}

const char *dm_attr_type_name(enum dm_attr_type t)
{
        static const char *const names[] = {"int", "bool", "string", "version"};
        return (unsigned)t < HD_ARRAY_SIZE(names) ? names[t] : "?";
}

int dm_attr_value_check(const char *name, enum dm_attr_type t, const char *value,
                        struct hd_error *reterr)
{
        char *end = NULL;

        switch (t) {
        case DM_ATTR_INT:
                errno = 0;
                (void)strtoll(value, &end, 10);
                if (!*value || *end || errno)
                        return hd_error_setf(reterr, EINVAL,
                                             "attribute '%s': '%s' is not a 64-bit integer", name,
                                             value);
                return 0;
        case DM_ATTR_BOOL:
                if (!hd_streq(value, "true") && !hd_streq(value, "false"))
                        return hd_error_setf(reterr, EINVAL,
                                             "attribute '%s': '%s' is not true or false", name,
                                             value);
                return 0;
        case DM_ATTR_STRING:
                if (strlen(value) > DM_ATTR_VALUE_MAX)
                        return hd_error_setf(reterr, EINVAL,
                                             "attribute '%s': string value is %zu bytes; the "
                                             "API server allows at most %d, shorten it",
                                             name, strlen(value), DM_ATTR_VALUE_MAX);
                return 0;
        case DM_ATTR_VERSION:
                if (strlen(value) > DM_ATTR_VALUE_MAX)
                        return hd_error_setf(reterr, EINVAL,
                                             "attribute '%s': version value is %zu bytes; the "
                                             "API server allows at most %d, shorten it",
                                             name, strlen(value), DM_ATTR_VALUE_MAX);
                if (!dm_is_semver(value))
                        return hd_error_setf(reterr, EINVAL,
                                             "attribute '%s': '%s' is not a SemVer 2.0.0 version "
                                             "(e.g. '1.2.3' or '1.2.3-rc.1'); use a string "
                                             "attribute for free-form versions",
                                             name, value);
                return 0;
        }
        return hd_error_setf(reterr, EINVAL, "attribute '%s': unknown type", name);
}
