/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the ResourceSlice builder: object shape, chunking at 128, and per-device
 * validation that drops only the bad device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/strutil.h"
#include "devmodel/slices.h"

static struct dm_group group = {.name = "gpu", .count = 1};

static void add_attr(struct dm_device *d, const char *name, enum dm_attr_type t, const char *v)
{
        d->attrs = hd_realloc_array(d->attrs, d->n_attrs + 1, sizeof(*d->attrs));
        d->attrs[d->n_attrs++] = (struct dm_attr){hd_strdup(name), t, hd_strdup(v)};
}

/* An inventory of N devices "dev-<i>" with the built-in attributes. */
static struct dm_inventory *inventory(size_t n)
{
        struct dm_inventory *inv = hd_new0(struct dm_inventory, 1);
        inv->devices = hd_new0(struct dm_device, n ? n : 1);
        for (size_t i = 0; i < n; i++) {
                struct dm_device *d = &inv->devices[inv->n_devices++];
                d->name = hd_asprintf("dev-%zu", i);
                d->base_name = hd_strdup(d->name);
                d->group = &group;
                d->path = hd_asprintf("/dev/mock/device_%zu", i);
                d->type = 'c';
                d->major = 1;
                d->minor = (unsigned)i;
                add_attr(d, "group", DM_ATTR_STRING, "gpu");
                add_attr(d, "path", DM_ATTR_STRING, d->path);
                add_attr(d, "major", DM_ATTR_INT, "1");
                char *minor = hd_asprintf("%zu", i);
                add_attr(d, "minor", DM_ATTR_INT, minor);
                free(minor);
        }
        return inv;
}

static void test_slice_shape(void **state)
{
        struct dm_inventory *inv = inventory(2);
        add_attr(&inv->devices[0], "healthy", DM_ATTR_BOOL, "true");
        add_attr(&inv->devices[0], "driverVersion", DM_ATTR_VERSION, "1.2.3-rc.1+build.5");
        add_attr(&inv->devices[0], "example.com/uuid", DM_ATTR_STRING, "U-0");
        struct dm_slice_params p = {
                .driver = "hostdev.example.com", .node = "node-1", .generation = 3};
        json_t *slices = NULL;
        char **dropped = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_slices_build(inv, &p, &slices, &dropped, &e), 0);
        assert_null(dropped);
        assert_int_equal(json_array_size(slices), 1);

        char *text = json_dumps(json_array_get(slices, 0), JSON_COMPACT);
        assert_string_equal(
                text, "{\"apiVersion\":\"resource.k8s.io/v1\",\"kind\":\"ResourceSlice\","
                      "\"metadata\":{\"generateName\":\"node-1-hostdev.example.com-\"},"
                      "\"spec\":{\"driver\":\"hostdev.example.com\",\"nodeName\":\"node-1\","
                      "\"pool\":{\"name\":\"node-1\",\"generation\":3,\"resourceSliceCount\":1},"
                      "\"devices\":[{\"name\":\"dev-0\",\"attributes\":{"
                      "\"group\":{\"string\":\"gpu\"},\"path\":{\"string\":\"/dev/mock/device_0\"},"
                      "\"major\":{\"int\":1},\"minor\":{\"int\":0},\"healthy\":{\"bool\":true},"
                      "\"driverVersion\":{\"version\":\"1.2.3-rc.1+build.5\"},"
                      "\"example.com/uuid\":{\"string\":\"U-0\"}}},"
                      "{\"name\":\"dev-1\",\"attributes\":{"
                      "\"group\":{\"string\":\"gpu\"},\"path\":{\"string\":\"/dev/mock/device_1\"},"
                      "\"major\":{\"int\":1},\"minor\":{\"int\":1}}}]}}");
        free(text);
        json_decref(slices);
        dm_inventory_free(inv);
}

static void test_chunking(void **state)
{
        struct dm_inventory *inv = inventory(300);
        struct dm_slice_params p = {.driver = "hostdev.example.com", .node = "n1", .generation = 1};
        json_t *slices = NULL;
        char **dropped = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_slices_build(inv, &p, &slices, &dropped, &e), 0);
        assert_int_equal(json_array_size(slices), 3);
        size_t sizes[] = {128, 128, 44};
        for (size_t i = 0; i < 3; i++) {
                json_t *spec = json_object_get(json_array_get(slices, i), "spec");
                assert_int_equal(json_array_size(json_object_get(spec, "devices")), sizes[i]);
                json_t *pool = json_object_get(spec, "pool");
                assert_int_equal(json_integer_value(json_object_get(pool, "resourceSliceCount")),
                                 3);
                assert_int_equal(json_integer_value(json_object_get(pool, "generation")), 1);
        }
        json_t *last = json_object_get(json_array_get(slices, 2), "spec");
        assert_string_equal(json_string_value(json_object_get(
                                    json_array_get(json_object_get(last, "devices"), 43), "name")),
                            "dev-299");
        json_decref(slices);

        /* exactly 128: one slice; 129: two */
        inv->n_devices = 128;
        assert_int_equal(dm_slices_build(inv, &p, &slices, &dropped, &e), 0);
        assert_int_equal(json_array_size(slices), 1);
        json_decref(slices);
        inv->n_devices = 129;
        assert_int_equal(dm_slices_build(inv, &p, &slices, &dropped, &e), 0);
        assert_int_equal(json_array_size(slices), 2);
        json_decref(slices);
        inv->n_devices = 300;

        /* a smaller chunk size is honoured, a bigger one capped at 128 */
        p.max_devices = 100;
        assert_int_equal(dm_slices_build(inv, &p, &slices, &dropped, &e), 0);
        assert_int_equal(json_array_size(slices), 3);
        json_decref(slices);
        p.max_devices = 1000;
        assert_int_equal(dm_slices_build(inv, &p, &slices, &dropped, &e), 0);
        assert_int_equal(json_array_size(slices), 3);
        json_decref(slices);
        dm_inventory_free(inv);
}

static void test_empty_pool(void **state)
{
        struct dm_inventory *inv = inventory(0);
        struct dm_slice_params p = {.driver = "hostdev.example.com", .node = "n1"};
        json_t *slices = NULL;
        char **dropped = NULL;
        assert_int_equal(dm_slices_build(inv, &p, &slices, &dropped, NULL), 0);
        assert_int_equal(json_array_size(slices), 1);
        json_t *spec = json_object_get(json_array_get(slices, 0), "spec");
        assert_int_equal(json_array_size(json_object_get(spec, "devices")), 0);
        json_decref(slices);
        dm_inventory_free(inv);
}

/* Each invalid device is dropped with a message naming it; the rest are published. */
static void test_validation_drops_device(void **state)
{
        struct dm_inventory *inv = inventory(8);
        add_attr(&inv->devices[1], "fw", DM_ATTR_VERSION, "6.19.14.31400000");
        char long_value[66];
        memset(long_value, 'x', 65);
        long_value[65] = '\0';
        add_attr(&inv->devices[2], "model", DM_ATTR_STRING, long_value);
        add_attr(&inv->devices[3], "bad-name", DM_ATTR_STRING, "x");
        for (int i = 0; i < 29; i++) {
                char *n = hd_asprintf("a%d", i);
                add_attr(&inv->devices[4], n, DM_ATTR_INT, "1");
                free(n);
        }
        free(inv->devices[5].name);
        inv->devices[5].name = hd_strdup("Dev_0.x");
        add_attr(&inv->devices[6], "count", DM_ATTR_INT, "twelve");
        add_attr(&inv->devices[7], "Bad_Domain/x", DM_ATTR_STRING, "x");

        struct dm_slice_params p = {.driver = "hostdev.example.com", .node = "n1"};
        json_t *slices = NULL;
        char **dropped = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_slices_build(inv, &p, &slices, &dropped, &e), 0);
        json_t *devices =
                json_object_get(json_object_get(json_array_get(slices, 0), "spec"), "devices");
        assert_int_equal(json_array_size(devices), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(devices, 0), "name")),
                            "dev-0");
        assert_int_equal(hd_strv_len(dropped), 7);
        assert_string_equal(dropped[0], "device 'dev-1': attribute 'fw': '6.19.14.31400000' is "
                                        "not a SemVer 2.0.0 version (e.g. '1.2.3' or "
                                        "'1.2.3-rc.1'); use a string attribute for free-form "
                                        "versions");
        assert_non_null(strstr(dropped[1], "device 'dev-2': attribute 'model': string value is "
                                           "65 bytes"));
        assert_non_null(strstr(dropped[2], "device 'dev-3': attribute name 'bad-name' is not a "
                                           "C identifier"));
        assert_non_null(strstr(dropped[3], "device 'dev-4': 33 attributes; the total number of "
                                           "attributes and capacities must not exceed 32"));
        assert_non_null(strstr(dropped[4], "device 'Dev_0.x': name is not a lowercase RFC 1123 "
                                           "label"));
        assert_non_null(strstr(dropped[5], "device 'dev-6': attribute 'count': 'twelve' is not "
                                           "a 64-bit integer"));
        assert_non_null(strstr(dropped[6], "domain 'Bad_Domain' is not a lowercase DNS "
                                           "subdomain"));
        hd_strv_free(dropped);
        json_decref(slices);
        dm_inventory_free(inv);
        hd_error_done(&e);
}

static void test_bad_params(void **state)
{
        struct dm_inventory *inv = inventory(1);
        json_t *slices = NULL;
        char **dropped = NULL;
        struct hd_error e = HD_ERROR_INIT;
        struct dm_slice_params p = {
                .driver = "a234567890123456789012345678901234567890123456789012345678901234.com",
                .node = "n1"};
        assert_int_equal(dm_slices_build(inv, &p, &slices, &dropped, &e), -EINVAL);
        assert_non_null(strstr(e.message, "at most 63"));
        p.driver = "hostdev.example.com";
        p.node = "Node_1";
        assert_int_equal(dm_slices_build(inv, &p, &slices, &dropped, &e), -EINVAL);
        assert_non_null(strstr(e.message, "node name 'Node_1'"));
        hd_error_done(&e);
        dm_inventory_free(inv);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_slice_shape), cmocka_unit_test(test_chunking),
                cmocka_unit_test(test_empty_pool),  cmocka_unit_test(test_validation_drops_device),
                cmocka_unit_test(test_bad_params),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
