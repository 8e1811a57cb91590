/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the checkpoint decoder (a file that may be corrupt after a crash) and re-encoding. */
#include <stdlib.h>

#include "tests/fuzz/fuzz.h"

#include "base/error.h"
#include "kubeletplugin/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *doc = json_loadb((const char *)data, size, 0, NULL);
        if (!doc)
                return 0;
        struct kp_checkpoint *cp = NULL;
        struct hd_error e = HD_ERROR_INIT;
        if (kp_checkpoint_from_json(doc, &cp, &e) == 0) {
                json_t *again = kp_checkpoint_to_json(cp);
                struct kp_checkpoint *cp2 = NULL;
                /* What we write we must read back. */
                if (kp_checkpoint_from_json(again, &cp2, &e) < 0)
                        abort();
                kp_checkpoint_free(cp2);
                json_decref(again);
                kp_checkpoint_free(cp);
        }
        hd_error_done(&e);
        json_decref(doc);
        return 0;
}
