/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the device config parser (YAML from the admin) and discovery on what it accepts. */
#include "tests/fuzz/fuzz.h"

#include "base/error.h"
#include "kubeletplugin/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct kp_config *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        if (kp_config_parse("fuzz.yaml", (const char *)data, size, &c, &e) == 0)
                kp_config_free(c);
        hd_error_done(&e);
        return 0;
}
