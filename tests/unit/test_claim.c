/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for ResourceClaim decoding: the real API fixture, unknown fields, wrong types,
 * caps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "base/strutil.h"
#include "devmodel/claim.h"

#ifndef HOSTDEV_REFERENCE_DIR
#error "HOSTDEV_REFERENCE_DIR (tests/data/reference) must be defined by the build"
#endif

static struct dm_claim *parse_ok(const char *text)
{
        struct dm_claim *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        if (dm_claim_from_json(text, strlen(text), &c, &e) < 0)
                fail_msg("unexpected error: %s", hd_error_message(&e));
        hd_error_done(&e);
        return c;
}

static void parse_fails(const char *text, const char *message)
{
        struct dm_claim *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        int r = dm_claim_from_json(text, strlen(text), &c, &e);
        if (r >= 0 || !hd_streq(e.message, message))
                fail_msg("r=%d message '%s', want '%s'", r, hd_error_message(&e), message);
        assert_null(c);
        hd_error_done(&e);
}

/* The apiserver's round-trip fixture for resource.k8s.io/v1 ResourceClaim: every field set,
 * one result of another driver. */
static void test_real_fixture(void **state)
{
        const char *path = HOSTDEV_REFERENCE_DIR "/k8s-api/resource.k8s.io.v1.ResourceClaim.json";
        if (access(path, R_OK) < 0)
                fail_msg("fixture %s not readable: %s", path, strerror(errno));
        struct dm_claim *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        if (dm_claim_load(path, &c, &e) < 0)
                fail_msg("%s", hd_error_message(&e));
        assert_string_equal(c->name, "nameValue");
        assert_string_equal(c->namespace, "namespaceValue");
        assert_string_equal(c->uid, "uidValue");
        assert_true(c->allocated);
        assert_int_equal(c->n_results, 1);
        assert_string_equal(c->results[0].request, "requestValue");
        assert_string_equal(c->results[0].driver, "driverValue");
        assert_string_equal(c->results[0].pool, "poolValue");
        assert_string_equal(c->results[0].device, "deviceValue");
        assert_string_equal(c->results[0].share_id, "shareIDValue");
        assert_true(c->results[0].admin_access);
        assert_int_equal(c->n_configs, 1);
        assert_string_equal(c->configs[0].source, "sourceValue");
        assert_string_equal(c->configs[0].requests[0], "requestsValue");
        assert_string_equal(c->configs[0].driver, "driverValue");
        assert_string_equal(json_string_value(json_object_get(c->configs[0].parameters, "kind")),
                            "CustomType");
        dm_claim_free(c);
        hd_error_done(&e);
}

static void test_minimal_and_unknown_fields(void **state)
{
        struct dm_claim *c =
                parse_ok("{\"metadata\":{\"name\":\"c\",\"uid\":\"u\",\"future\":{\"x\":[1]}},"
                         "\"spec\":{\"whatever\":1},"
                         "\"status\":{\"allocation\":{\"devices\":{\"results\":[{\"request\":\"r\","
                         "\"driver\":\"d\",\"pool\":\"p\",\"device\":\"x\",\"newField\":true,"
                         "\"shareID\":null}]},\"nodeSelector\":null}}}");
        assert_null(c->namespace);
        assert_true(c->allocated);
        assert_int_equal(c->n_results, 1);
        assert_null(c->results[0].share_id);
        assert_false(c->results[0].admin_access);
        dm_claim_free(c);

        c = parse_ok("{\"metadata\":{\"name\":\"c\",\"uid\":\"u\"},\"status\":{}}");
        assert_false(c->allocated);
        assert_int_equal(c->n_results, 0);
        dm_claim_free(c);
}

static void test_wrong_types(void **state)
{
        parse_fails("[]", "decode ResourceClaim: (root): expected an object, got an array");
        parse_fails("{\"metadata\":{\"name\":5,\"uid\":\"u\"}}",
                    "decode ResourceClaim: metadata.name: expected a string, got a number");
        parse_fails("{\"metadata\":{\"name\":\"c\",\"uid\":\"u\"},\"status\":{\"allocation\":{"
                    "\"devices\":{\"results\":[{\"request\":\"r\",\"driver\":\"d\",\"pool\":\"p\","
                    "\"device\":\"x\"},{\"device\":[]}]}}}}",
                    "decode ResourceClaim: status.allocation.devices.results[1].device: expected "
                    "a string, got an array");
        parse_fails("{\"metadata\":{\"name\":\"c\",\"uid\":\"u\"},\"status\":{\"allocation\":{"
                    "\"devices\":{\"config\":[{\"requests\":[\"a\",7]}]}}}}",
                    "decode ResourceClaim: status.allocation.devices.config[0].requests[1]: "
                    "expected a string, got a number");
        parse_fails("{\"metadata\":{\"name\":\"c\",\"uid\":\"u\"},\"status\":{\"allocation\":{"
                    "\"devices\":{\"results\":[{\"adminAccess\":\"yes\"}]}}}}",
                    "decode ResourceClaim: status.allocation.devices.results[0].adminAccess: "
                    "expected a boolean, got a string");
        parse_fails("{\"metadata\":{\"name\":\"c\"}}",
                    "decode ResourceClaim: metadata.name and metadata.uid are required");
        parse_fails("{\"metadata\":{\"name\":\"c\",\"uid\":\"u\"},\"status\":{\"allocation\":{"
                    "\"devices\":{\"results\":[{\"driver\":\"d\"}]}}}}",
                    "decode ResourceClaim: status.allocation.devices.results[0] lacks request, "
                    "driver, pool or device");

        struct dm_claim *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_claim_from_json("{", 1, &c, &e), -EINVAL);
        assert_true(hd_startswith(e.message, "ResourceClaim JSON: line 1"));
        /* duplicate keys are refused, not silently resolved */
        const char *dup = "{\"metadata\":{\"name\":\"a\",\"name\":\"b\",\"uid\":\"u\"}}";
        assert_int_equal(dm_claim_from_json(dup, strlen(dup), &c, &e), -EINVAL);
        hd_error_done(&e);
}

static void test_caps(void **state)
{
        struct hd_strbuf b = HD_STRBUF_INIT;
        hd_strbuf_puts(&b, "{\"metadata\":{\"name\":\"c\",\"uid\":\"u\"},\"status\":{"
                           "\"allocation\":{\"devices\":{\"results\":[");
        for (int i = 0; i < DM_CLAIM_MAX_RESULTS + 1; i++)
                hd_strbuf_printf(&b,
                                 "%s{\"request\":\"r\",\"driver\":\"d\",\"pool\":\"p\","
                                 "\"device\":\"x%d\"}",
                                 i ? "," : "", i);
        hd_strbuf_puts(&b, "]}}}}");
        parse_fails(b.buf, "decode ResourceClaim: status.allocation.devices.results: 257 "
                           "entries; at most 256 are accepted");
        hd_strbuf_done(&b);

        b = (struct hd_strbuf)HD_STRBUF_INIT;
        hd_strbuf_puts(&b, "{\"metadata\":{\"name\":\"");
        for (int i = 0; i < DM_CLAIM_MAX_STRING + 1; i++)
                hd_strbuf_puts(&b, "a");
        hd_strbuf_puts(&b, "\",\"uid\":\"u\"}}");
        parse_fails(b.buf, "decode ResourceClaim: metadata.name: string longer than 4096 bytes");
        hd_strbuf_done(&b);

        b = (struct hd_strbuf)HD_STRBUF_INIT;
        hd_strbuf_puts(&b, "{\"metadata\":{\"name\":\"c\",\"uid\":\"u\"},\"status\":{"
                           "\"allocation\":{\"devices\":{\"config\":[{\"opaque\":{\"driver\":"
                           "\"d\",\"parameters\":{\"x\":\"");
        for (int i = 0; i < DM_CLAIM_MAX_PARAMETERS; i++)
                hd_strbuf_puts(&b, "a");
        hd_strbuf_puts(&b, "\"}}}]}}}}");
        parse_fails(b.buf, "decode ResourceClaim: status.allocation.devices.config[0].opaque."
                           "parameters: larger than 10240 bytes");
        hd_strbuf_done(&b);

        struct dm_claim *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_claim_from_json("{}", DM_CLAIM_MAX_BYTES + 1, &c, &e), -EFBIG);
        hd_error_done(&e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_real_fixture),
                cmocka_unit_test(test_minimal_and_unknown_fields),
                cmocka_unit_test(test_wrong_types),
                cmocka_unit_test(test_caps),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
