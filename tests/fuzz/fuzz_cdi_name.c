/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz CDI qualified-name parsing and the claim-UID check that guards file names. */
#include <stdlib.h>

#include "tests/fuzz/fuzz.h"

#include "base/error.h"
#include "base/strutil.h"
#include "cdi/cdi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = hd_strndup((const char *)data, size);
        char *vendor = NULL, *cls = NULL, *name = NULL;
        if (cdi_parse_qualified_name(s, &vendor, &cls, &name, NULL) == 0) {
                free(vendor);
                free(cls);
                free(name);
        }
        if (cdi_validate_claim_uid(s, NULL) == 0) {
                char *file = NULL;
                /* A UID that passes must give a safe single file name. */
                if (cdi_claim_spec_file_name("hostdev.example.com", s, &file, NULL) == 0) {
                        if (strchr(file, '/'))
                                abort();
                        free(file);
                }
        }
        free(s);
        return 0;
}
