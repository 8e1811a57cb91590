/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the strict CDI spec readers (JSON and YAML: `hostdevctl cdi validate`, checkpoint
 * rebuild) and the writer on whatever they accept. */
#include <stdlib.h>

#include "tests/fuzz/fuzz.h"

#include "base/error.h"
#include "base/strutil.h"
#include "cdi/cdi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *text = hd_strndup((const char *)data, size);
        struct hd_error e = HD_ERROR_INIT;
        struct cdi_spec *spec = NULL;
        if (cdi_spec_from_json(text, &spec, &e) == 0) {
                cdi_spec_validate(spec, &e);
                free(cdi_spec_to_json(spec));
                cdi_spec_free(spec);
        }
        spec = NULL;
        if (cdi_spec_from_yaml(text, &spec, &e) == 0)
                cdi_spec_free(spec);
        hd_error_done(&e);
        free(text);
        return 0;
}
