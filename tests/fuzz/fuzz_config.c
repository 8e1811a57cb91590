/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the device config parser and checker (YAML from the admin). */
#include "tests/fuzz/fuzz.h"

#include "base/error.h"
#include "devmodel/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct dm_config *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        if (dm_config_parse("fuzz.yaml", (const char *)data, size, &c, &e) == 0)
                dm_config_free(c);
        hd_error_done(&e);
        return 0;
}
