/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the slice objects the publisher writes (kp_slices_for_devices): chunking at
 * 128 devices (64 once any device has a taint), pool generation and count, owner reference,
 * generateName, and the v1beta1 "basic" shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/cleanup.h"
#include "kubeletplugin/slice_publisher.h"

static json_t *devices(size_t n, size_t tainted_index)
{
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
                char name[32];
                snprintf(name, sizeof(name), "dev-%zu", i);
                json_t *d = json_pack("{s:s,s:{s:{s:I}}}", "name", name, "attributes", "index",
                                      "int", (json_int_t)i);
                if (i == tainted_index)
                        json_object_set_new(d, "taints",
                                            json_pack("[{s:s,s:s,s:s}]", "key", "x/unhealthy",
                                                      "value", "missing", "effect", "NoSchedule"));
                json_array_append_new(a, d);
        }
        return a;
}

static size_t count_devices(json_t *slices, size_t *ret_max_per_slice)
{
        size_t total = 0, max = 0, i;
        json_t *s;
        json_array_foreach(slices, i, s)
        {
                size_t n = json_array_size(json_object_get(json_object_get(s, "spec"), "devices"));
                total += n;
                if (n > max)
                        max = n;
        }
        *ret_max_per_slice = max;
        return total;
}

static void test_chunking_and_pool(void **state)
{
        _cleanup_json_ json_t *devs = devices(300, (size_t)-1);
        _cleanup_json_ json_t *slices =
                kp_slices_for_devices(devs, "hostdev.example.com", "node-a", "uid-1", "v1", 7);
        assert_int_equal(json_array_size(slices), 3);
        size_t max = 0;
        assert_int_equal(count_devices(slices, &max), 300);
        assert_int_equal(max, 128);
        size_t i;
        json_t *s;
        json_array_foreach(slices, i, s)
        {
                json_t *spec = json_object_get(s, "spec");
                json_t *pool = json_object_get(spec, "pool");
                assert_string_equal(json_string_value(json_object_get(s, "apiVersion")),
                                    "resource.k8s.io/v1");
                assert_string_equal(json_string_value(json_object_get(pool, "name")), "node-a");
                assert_int_equal(json_integer_value(json_object_get(pool, "generation")), 7);
                assert_int_equal(json_integer_value(json_object_get(pool, "resourceSliceCount")), 3);
                assert_string_equal(json_string_value(json_object_get(spec, "nodeName")), "node-a");
                assert_string_equal(json_string_value(json_object_get(spec, "driver")),
                                    "hostdev.example.com");
                json_t *meta = json_object_get(s, "metadata");
                assert_string_equal(json_string_value(json_object_get(meta, "generateName")),
                                    "node-a-hostdev.example.com-");
                json_t *owner = json_array_get(json_object_get(meta, "ownerReferences"), 0);
                assert_string_equal(json_string_value(json_object_get(owner, "kind")), "Node");
                assert_string_equal(json_string_value(json_object_get(owner, "uid")), "uid-1");
                assert_true(json_is_true(json_object_get(owner, "controller")));
        }
        /* Device order is kept across chunks. */
        json_t *first = json_array_get(json_object_get(json_object_get(json_array_get(slices, 1),
                                                                       "spec"),
                                                       "devices"),
                                       0);
        assert_string_equal(json_string_value(json_object_get(first, "name")), "dev-128");
}

static void test_taints_halve_the_chunk(void **state)
{
        _cleanup_json_ json_t *devs = devices(130, 5);
        _cleanup_json_ json_t *slices =
                kp_slices_for_devices(devs, "d.example.com", "n", NULL, "v1", 1);
        size_t max = 0;
        assert_int_equal(json_array_size(slices), 3);
        assert_int_equal(count_devices(slices, &max), 130);
        assert_int_equal(max, 64);
        /* No owner reference when the Node's UID is unknown. */
        assert_null(json_object_get(json_object_get(json_array_get(slices, 0), "metadata"),
                                    "ownerReferences"));
}

static void test_empty_pool_gets_one_slice(void **state)
{
        _cleanup_json_ json_t *devs = json_array();
        _cleanup_json_ json_t *slices =
                kp_slices_for_devices(devs, "d.example.com", "n", "u", "v1", 1);
        assert_int_equal(json_array_size(slices), 1);
        json_t *spec = json_object_get(json_array_get(slices, 0), "spec");
        assert_int_equal(json_array_size(json_object_get(spec, "devices")), 0);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(spec, "pool"),
                                                            "resourceSliceCount")),
                         1);
}

static void test_v1beta1_basic_shape(void **state)
{
        _cleanup_json_ json_t *devs = devices(2, 1);
        _cleanup_json_ json_t *slices =
                kp_slices_for_devices(devs, "d.example.com", "n", "u", "v1beta1", 1);
        json_t *s = json_array_get(slices, 0);
        assert_string_equal(json_string_value(json_object_get(s, "apiVersion")),
                            "resource.k8s.io/v1beta1");
        json_t *d = json_array_get(json_object_get(json_object_get(s, "spec"), "devices"), 1);
        assert_string_equal(json_string_value(json_object_get(d, "name")), "dev-1");
        assert_null(json_object_get(d, "attributes"));
        json_t *basic = json_object_get(d, "basic");
        assert_non_null(json_object_get(basic, "attributes"));
        assert_non_null(json_object_get(basic, "taints"));
        /* v1beta2 has the v1 shape. */
        _cleanup_json_ json_t *b2 = kp_slices_for_devices(devs, "d.example.com", "n", "u",
                                                          "v1beta2", 1);
        json_t *d2 = json_array_get(json_object_get(json_object_get(json_array_get(b2, 0), "spec"),
                                                    "devices"),
                                    0);
        assert_non_null(json_object_get(d2, "attributes"));
        assert_null(json_object_get(d2, "basic"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_chunking_and_pool),
                cmocka_unit_test(test_taints_halve_the_chunk),
                cmocka_unit_test(test_empty_pool_gets_one_slice),
                cmocka_unit_test(test_v1beta1_basic_shape),
        };
        return cmocka_run_group_tests_name("slice_publisher", tests, NULL, NULL);
}
