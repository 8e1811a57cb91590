/* SPDX-License-Identifier: Apache-2.0 */
#include "devmodel/opaque.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"

bool dm_opaque_request_matches(char *const *requests, const char *request)
{
        if (!requests || !requests[0])
                return true;
        size_t base_len = strcspn(request, "/");
        for (size_t i = 0; requests[i]; i++) {
                if (strcmp(requests[i], request) == 0)
                        return true;
                if (strlen(requests[i]) == base_len && strncmp(requests[i], request, base_len) == 0)
                        return true;
        }
        return false;
}

static bool env_name_ok(const char *s)
{
        if (!s || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
                return false;
        for (const char *p = s; *p; p++)
                if (!(isalnum((unsigned char)*p) || *p == '_'))
                        return false;
        return strlen(s) <= 256;
}

/* Set NAME=VALUE in ENV, replacing an earlier value of NAME. */
static void env_set(char ***env, const char *name, const char *value)
{
        size_t nlen = strlen(name);
        for (size_t i = 0; *env && (*env)[i]; i++)
                if (strncmp((*env)[i], name, nlen) == 0 && (*env)[i][nlen] == '=') {
                        free((*env)[i]);
                        (*env)[i] = hd_asprintf("%s=%s", name, value);
                        return;
                }
        hd_strv_consume(env, hd_asprintf("%s=%s", name, value));
}

/* Validate one HostDeviceConfig and return its env object (borrowed). */
static int parse_config(json_t *params, const char *driver, const char *where, json_t **ret_env,
                        struct hd_error *reterr)
{
        if (!json_is_object(params))
                return hd_error_setf(reterr, EINVAL, "%s: parameters must be an object", where);
        _cleanup_free_ char *want_api = hd_asprintf("%s/v1alpha1", driver);
        const char *api = json_string_value(json_object_get(params, "apiVersion"));
        const char *kind = json_string_value(json_object_get(params, "kind"));
        if (!hd_streq(api, want_api) || !hd_streq(kind, DM_OPAQUE_KIND))
                return hd_error_setf(reterr, EINVAL,
                                     "%s: unsupported config '%s' kind '%s' (this driver accepts "
                                     "apiVersion '%s' kind '%s')",
                                     where, api ? api : "", kind ? kind : "", want_api,
                                     DM_OPAQUE_KIND);
        const char *key;
        json_t *v;
        json_object_foreach(params, key, v)
        {
                if (hd_streq(key, "apiVersion") || hd_streq(key, "kind") || hd_streq(key, "env"))
                        continue;
                return hd_error_setf(reterr, EINVAL,
                                     "%s: unknown field '%s': %s accepts only 'env'; devices, "
                                     "mounts and host paths come from the node's device config",
                                     where, key, DM_OPAQUE_KIND);
        }
        json_t *env = json_object_get(params, "env");
        if (env && !json_is_object(env))
                return hd_error_setf(reterr, EINVAL, "%s: env must be a map of strings", where);
        if (env && json_object_size(env) > DM_OPAQUE_MAX_ENV)
                return hd_error_setf(reterr, EINVAL, "%s: env has %zu entries (at most %d)", where,
                                     json_object_size(env), DM_OPAQUE_MAX_ENV);
        json_object_foreach(env, key, v)
        {
                if (!env_name_ok(key))
                        return hd_error_setf(reterr, EINVAL,
                                             "%s: env.%s: not a valid variable name (letters, "
                                             "digits and '_', not starting with a digit)",
                                             where, key);
                if (!json_is_string(v))
                        return hd_error_setf(reterr, EINVAL, "%s: env.%s: value must be a string",
                                             where, key);
                if (json_string_length(v) > DM_OPAQUE_MAX_VALUE ||
                    strlen(json_string_value(v)) != json_string_length(v))
                        return hd_error_setf(reterr, EINVAL,
                                             "%s: env.%s: value too long or contains NUL", where,
                                             key);
        }
        *ret_env = env;
        return 0;
}

void dm_opaque_env_free(char ***env, size_t n)
{
        for (size_t i = 0; env && i < n; i++)
                hd_strv_free(env[i]);
        free(env);
}

int dm_opaque_env(const struct dm_claim *claim, const char *driver, char ****ret,
                  struct hd_error *reterr)
{
        char ***env = hd_new0(char **, claim->n_results ? claim->n_results : 1);
        /* Two passes: every FromClass entry, then the rest, each in list order. */
        for (int pass = 0; pass < 2; pass++) {
                for (size_t c = 0; c < claim->n_configs; c++) {
                        const struct dm_claim_config *cfg = &claim->configs[c];
                        bool from_class = hd_streq(cfg->source, "FromClass");
                        if ((pass == 0) != from_class || !hd_streq(cfg->driver, driver))
                                continue;
                        _cleanup_free_ char *where =
                                hd_asprintf("config[%zu] (%s)", c,
                                            cfg->source ? cfg->source : "unknown source");
                        json_t *cenv = NULL;
                        int r = parse_config(cfg->parameters, driver, where, &cenv, reterr);
                        if (r < 0) {
                                dm_opaque_env_free(env, claim->n_results);
                                return r;
                        }
                        for (size_t i = 0; i < claim->n_results; i++) {
                                const struct dm_claim_result *res = &claim->results[i];
                                if (!hd_streq(res->driver, driver) ||
                                    !dm_opaque_request_matches(cfg->requests, res->request))
                                        continue;
                                const char *key;
                                json_t *v;
                                json_object_foreach(cenv, key, v)
                                        env_set(&env[i], key, json_string_value(v));
                        }
                }
        }
        *ret = env;
        return 0;
}
