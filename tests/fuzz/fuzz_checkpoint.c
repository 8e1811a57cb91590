/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the checkpoint decoder (a file that may be corrupt after a crash) and re-encoding.
 * Each input is decoded twice: as it is (the envelope checks: apiVersion, kind, checksum) and
 * with a correct envelope put around it, so mutations of the claims are not all stopped by the
 * checksum. An object without "data" is taken as the data itself. */
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"

#include "base/error.h"
#include "base/strutil.h"
#include "kubeletplugin/checkpoint.h"

static void decode(json_t *doc)
{
        struct kp_checkpoint *cp = NULL;
        struct hd_error e = HD_ERROR_INIT;
        if (kp_checkpoint_from_json(doc, &cp, &e) == 0) {
                json_t *again = kp_checkpoint_to_json(cp);
                struct kp_checkpoint *cp2 = NULL;
                /* What we write we must read back. */
                if (kp_checkpoint_from_json(again, &cp2, &e) < 0)
                        abort();
                if (cp2->n_claims != cp->n_claims)
                        abort();
                kp_checkpoint_free(cp2);
                json_decref(again);
                kp_checkpoint_free(cp);
        }
        hd_error_done(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *doc = json_loadb((const char *)data, size, 0, NULL);
        if (!doc)
                return 0;
        decode(doc);
        if (json_is_object(doc)) {
                json_t *d = json_object_get(doc, "data");
                if (!json_is_object(d))
                        d = doc;
                json_t *fixed = json_object();
                json_object_set_new(fixed, "apiVersion", json_string(KP_CHECKPOINT_API_VERSION));
                json_object_set_new(fixed, "kind", json_string(KP_CHECKPOINT_KIND));
                char *canon = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
                if (canon) {
                        char *sum = hd_asprintf("crc32:%08lx",
                                                kp_checkpoint_crc32(canon, strlen(canon)));
                        json_object_set_new(fixed, "checksum", json_string(sum));
                        free(sum);
                        free(canon);
                }
                json_object_set(fixed, "data", d);
                decode(fixed);
                json_decref(fixed);
        }
        json_decref(doc);
        return 0;
}
