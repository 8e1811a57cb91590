/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for cdi/: model, minimum-version table, names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/error.h"
#include "base/strutil.h"
#include "cdi/cdi.h"

static void test_min_version_baseline(void **state)
{
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_spec_new("example.com/gpu");
        struct cdi_device *d = cdi_spec_add_device(spec, "gpu0");

        cdi_edits_add_device_node(&d->edits, "/dev/gpu0", NULL);
        assert_string_equal(cdi_spec_min_version(spec), "0.3.0");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_min_version_baseline),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
