/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the ResourceClaim decoder (JSON from the API server) and the opaque-config handling the
 * daemon runs on every claim it prepares. */
#include "tests/fuzz/fuzz.h"

#include "base/error.h"
#include "devmodel/claim.h"
#include "devmodel/opaque.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct dm_claim *claim = NULL;
        struct hd_error e = HD_ERROR_INIT;
        if (dm_claim_from_json((const char *)data, size, &claim, &e) == 0) {
                char ***env = NULL;
                if (dm_opaque_env(claim, "hostdev.example.com", &env, &e) == 0)
                        dm_opaque_env_free(env, claim->n_results);
                dm_claim_free(claim);
        }
        hd_error_done(&e);
        return 0;
}
