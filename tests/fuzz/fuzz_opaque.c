/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the HostDeviceConfig decoder (status.allocation.devices.config[].opaque.parameters, from
 * the user's claim or the DeviceClass) directly: the input is the parameters document. It is
 * attached to a fixed claim as a FromClass entry for every request and as a FromClaim entry for
 * request "main", so both passes, the request matching and the override of one entry by another
 * run. What comes out must be NAME=VALUE strings with a valid name, each name once. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"

#include "base/error.h"
#include "base/strutil.h"
#include "devmodel/claim.h"
#include "devmodel/opaque.h"

#define DRIVER "hostdev.example.com"

static void check_env(char **env)
{
        for (size_t i = 0; env && env[i]; i++) {
                const char *eq = strchr(env[i], '=');
                if (!eq || eq == env[i] || isdigit((unsigned char)env[i][0]))
                        abort();
                for (const char *p = env[i]; p < eq; p++)
                        if (!isalnum((unsigned char)*p) && *p != '_')
                                abort();
                if (strlen(eq + 1) > DM_OPAQUE_MAX_VALUE)
                        abort();
                for (size_t k = 0; k < i; k++)
                        if (strncmp(env[k], env[i], (size_t)(eq - env[i]) + 1) == 0)
                                abort();
        }
        if (hd_strv_len(env) > 2 * DM_OPAQUE_MAX_ENV)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *params = json_loadb((const char *)data, size, 0, NULL);
        if (!params)
                return 0;
        static const char *const requests[] = {"main", "main/sub", "other"};
        struct dm_claim *c = hd_new0(struct dm_claim, 1);
        c->name = hd_strdup("c");
        c->namespace = hd_strdup("default");
        c->uid = hd_strdup("aaaaaaaa-0000-4000-8000-000000000001");
        c->allocated = true;
        c->n_results = 3;
        c->results = hd_new0(struct dm_claim_result, c->n_results);
        for (size_t i = 0; i < c->n_results; i++) {
                c->results[i].request = hd_strdup(requests[i]);
                c->results[i].driver = hd_strdup(DRIVER);
                c->results[i].pool = hd_strdup("node-a");
                c->results[i].device = hd_asprintf("mock-device-%zu", i);
        }
        c->n_configs = 2;
        c->configs = hd_new0(struct dm_claim_config, c->n_configs);
        c->configs[0].source = hd_strdup("FromClaim");
        hd_strv_consume(&c->configs[0].requests, hd_strdup("main"));
        c->configs[0].driver = hd_strdup(DRIVER);
        c->configs[0].parameters = json_incref(params);
        c->configs[1].source = hd_strdup("FromClass");
        c->configs[1].driver = hd_strdup(DRIVER);
        c->configs[1].parameters = params;

        char ***env = NULL;
        struct hd_error e = HD_ERROR_INIT;
        if (dm_opaque_env(c, DRIVER, &env, &e) == 0) {
                for (size_t i = 0; i < c->n_results; i++)
                        check_env(env[i]);
                dm_opaque_env_free(env, c->n_results);
        } else if (!hd_error_message(&e) || !*hd_error_message(&e)) {
                abort(); /* a refusal must say why */
        }
        hd_error_done(&e);
        dm_claim_free(c);
        return 0;
}
