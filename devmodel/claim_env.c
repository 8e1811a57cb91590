/* SPDX-License-Identifier: Apache-2.0 */
#include "devmodel/claim_env.h"

#include <errno.h>
#include <fnmatch.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"

bool dm_env_is_loader(const char *name)
{
        /* glibc's UNSECURE_ENVVARS (sysdeps/generic/unsecvars.h) plus every LD_ name. */
        static const char *const names[] = {
                "GCONV_PATH",       "GETCONF_DIR",  "HOSTALIASES", "LOCALDOMAIN",
                "LOCPATH",          "MALLOC_TRACE", "NIS_PATH",    "NLSPATH",
                "RESOLV_HOST_CONF", "RES_OPTIONS",  "TMPDIR",      "TZDIR",
        };
        if (strncmp(name, "LD_", 3) == 0)
                return true;
        for (size_t i = 0; i < HD_ARRAY_SIZE(names); i++)
                if (strcmp(names[i], name) == 0)
                        return true;
        return false;
}

/* The name part of an admin env entry "NAME=VALUE" as an fnmatch pattern: each "{...}"
 * template variable becomes "*", other pattern characters are escaped. */
static char *admin_name_pattern(const char *entry)
{
        struct hd_strbuf b = HD_STRBUF_INIT;
        for (const char *c = entry; *c && *c != '='; c++) {
                const char *end = *c == '{' ? strchr(c, '}') : NULL;
                if (end) {
                        hd_strbuf_puts(&b, "*");
                        c = end;
                        continue;
                }
                if (strchr("*?[]\\", *c))
                        hd_strbuf_puts(&b, "\\");
                hd_strbuf_append(&b, c, 1);
        }
        return hd_strbuf_take(&b);
}

static const char *admin_group_setting(const struct dm_group *g, const char *name)
{
        const struct dm_edits_spec *edits[] = {&g->device_edits, &g->common_edits};
        for (size_t e = 0; e < HD_ARRAY_SIZE(edits); e++)
                for (size_t i = 0; edits[e]->env && edits[e]->env[i]; i++) {
                        _cleanup_free_ char *pat = admin_name_pattern(edits[e]->env[i]);
                        if (fnmatch(pat, name, 0) == 0)
                                return edits[e]->env[i];
                }
        return NULL;
}

/* Does one of the patterns of CE match NAME? With EXPLICIT, a bare "*" does not count. */
static bool allowed(const struct dm_claim_env *ce, const char *name, bool explicit)
{
        for (size_t i = 0; ce->allow && ce->allow[i]; i++) {
                if (explicit && strspn(ce->allow[i], "*") == strlen(ce->allow[i]))
                        continue;
                if (fnmatch(ce->allow[i], name, 0) == 0)
                        return true;
        }
        return false;
}

/* Refuse NAME when the admin's edits set it: in any group of CONFIG, or in GROUP alone when
 * there is no CONFIG (offline prepare of one group). */
static int check_admin_sets(const struct dm_config *config, const struct dm_group *group,
                            const char *name, struct hd_error *reterr)
{
        size_t n = config ? config->n_groups : group ? 1 : 0;
        for (size_t i = 0; i < n; i++) {
                const struct dm_group *g = config ? &config->groups[i] : group;
                const char *entry = admin_group_setting(g, name);
                if (entry)
                        return hd_error_setf(reterr, EPERM,
                                             "claim env '%s': the node's device config sets it "
                                             "(group '%s', '%s'); a claim may not set or "
                                             "override it",
                                             name, g->name, entry);
        }
        return 0;
}

static int check_one(const struct dm_config *config, const struct dm_group *group, const char *name,
                     struct hd_error *reterr)
{
        int r = check_admin_sets(config, group, name, reterr);
        if (r < 0)
                return r;
        const struct dm_claim_env *lists[2] = {config ? &config->claim_env : NULL,
                                               group ? &group->claim_env : NULL};
        const char *where[2] = {"the config's claimEnv.allow", "claimEnv.allow of group"};
        bool loader = dm_env_is_loader(name);
        bool named = false;
        for (size_t l = 0; l < 2; l++) {
                if (!lists[l] || !lists[l]->set)
                        continue;
                if (!allowed(lists[l], name, false))
                        return hd_error_setf(reterr, EPERM,
                                             "claim env '%s': not allowed by %s%s%s%s; a claim "
                                             "may not set it",
                                             name, where[l], l ? " '" : "", l ? group->name : "",
                                             l ? "'" : "");
                named = named || allowed(lists[l], name, true);
        }
        if (loader && !named)
                return hd_error_setf(reterr, EPERM,
                                     "claim env '%s': a dynamic-loader variable; a claim may not "
                                     "set it unless the node's device config names it in "
                                     "claimEnv.allow (a bare '*' does not)",
                                     name);
        return 0;
}

int dm_claim_env_check(const struct dm_config *config, const struct dm_group *group,
                       char *const *env, struct hd_error *reterr)
{
        for (size_t i = 0; env && env[i]; i++) {
                _cleanup_free_ char *name = hd_strndup(env[i], strcspn(env[i], "="));
                int r = check_one(config, group, name, reterr);
                if (r < 0)
                        return r;
        }
        return 0;
}
