/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the daemon's mode choice (kubeletplugin/mode.h): kubelet version strings as
 * Nodes report them across distributions, and the auto-mode decision table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "kubeletplugin/mode.h"

static void test_version_parse_good(void **state)
{
        static const struct {
                const char *s;
                unsigned major, minor;
        } cases[] = {
                {"v1.31.4", 1, 31},         {"v1.32.0-eks-4f2f3e1", 1, 32},
                {"v1.34.1+k3s1", 1, 34},    {"v1.30.5-gke.1014001", 1, 30},
                {"v1.29.5+29e5c87", 1, 29}, {"v1.34.0-sim", 1, 34},
                {"v1.33.0-alpha.1", 1, 33}, {"1.32.1", 1, 32},
                {"v1.33", 1, 33},           {"V2.0.0", 2, 0},
        };
        for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
                unsigned major = 99, minor = 99;
                struct hd_error e = HD_ERROR_INIT;
                assert_int_equal(kp_kubelet_version_parse(cases[i].s, &major, &minor, &e), 0);
                assert_int_equal(major, cases[i].major);
                assert_int_equal(minor, cases[i].minor);
                hd_error_done(&e);
        }
}

static void test_version_parse_bad(void **state)
{
        static const char *const bad[] = {"",         "v",        "v1",      "v1.",
                                          "v1.x.0",   "vv1.32.0", "1.32.0x", "v1.32.0.1",
                                          "v1..32",   "v1.32.",   "latest",  "v12345.1.0",
                                          " v1.32.0", "v1.32 ",   "v-1.32.0"};
        for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
                unsigned major = 7, minor = 7;
                struct hd_error e = HD_ERROR_INIT;
                assert_int_equal(kp_kubelet_version_parse(bad[i], &major, &minor, &e), -EINVAL);
                assert_non_null(strstr(hd_error_message(&e), bad[i]));
                assert_int_equal(major, 7);
                hd_error_done(&e);
        }
        struct hd_error e = HD_ERROR_INIT;
        unsigned major, minor;
        assert_int_equal(kp_kubelet_version_parse(NULL, &major, &minor, &e), -EINVAL);
        hd_error_done(&e);
}

static bool reasons_have(char **reasons, const char *needle)
{
        for (char **r = reasons; r && *r; r++)
                if (strstr(*r, needle))
                        return true;
        return false;
}

static void test_decision_table(void **state)
{
        static const struct {
                const char *rv, *kubelet;
                bool registry;
                enum kp_mode want;
                const char *reason;
        } rows[] = {
                {"v1", "v1.34.1", true, KP_MODE_DRA, "kubelet v1.34.1 >= 1.32"},
                {"v1beta1", "v1.32.0-eks-1", true, KP_MODE_DRA, "resource.k8s.io/v1beta1"},
                {"v1beta2", "v1.33.2+k3s1", true, KP_MODE_DRA, "exists"},
                {NULL, "v1.34.1", true, KP_MODE_DEVICE_PLUGIN, "does not serve resource.k8s.io"},
                {"v1", "v1.31.4", true, KP_MODE_DEVICE_PLUGIN, "kubelet v1.31.4 < 1.32"},
                {"v1", "v1.34.1", false, KP_MODE_DEVICE_PLUGIN, "is missing"},
                {"v1", "garbage", true, KP_MODE_DEVICE_PLUGIN, "'garbage' is not of the form"},
                {"v1", NULL, true, KP_MODE_DEVICE_PLUGIN, "kubelet version unknown"},
                {"v1", "v2.0.0", true, KP_MODE_DRA, ">= 1.32"},
                {"v1", "v0.99.0", true, KP_MODE_DEVICE_PLUGIN, "< 1.32"},
        };
        for (size_t i = 0; i < HD_ARRAY_SIZE(rows); i++) {
                struct kp_mode_facts f = {.resource_version = rows[i].rv,
                                          .kubelet_version = rows[i].kubelet,
                                          .registry_dir = "/var/lib/kubelet/plugins_registry",
                                          .registry_dir_exists = rows[i].registry};
                _cleanup_strv_ char **reasons = NULL;
                assert_int_equal(kp_mode_choose(KP_MODE_AUTO, &f, &reasons), rows[i].want);
                assert_int_equal(hd_strv_len(reasons), 3);
                if (!reasons_have(reasons, rows[i].reason))
                        fail_msg("row %zu: no reason containing '%s'", i, rows[i].reason);
        }
}

static void test_forced_modes_ignore_facts(void **state)
{
        struct kp_mode_facts none = {0};
        _cleanup_strv_ char **r1 = NULL, **r2 = NULL;
        assert_int_equal(kp_mode_choose(KP_MODE_DRA, &none, &r1), KP_MODE_DRA);
        assert_string_equal(r1[0], "--mode dra");
        struct kp_mode_facts all = {.resource_version = "v1",
                                    .kubelet_version = "v1.34.0",
                                    .registry_dir_exists = true};
        assert_int_equal(kp_mode_choose(KP_MODE_DEVICE_PLUGIN, &all, &r2), KP_MODE_DEVICE_PLUGIN);
        assert_string_equal(r2[0], "--mode device-plugin");
}

static void test_names_round_trip(void **state)
{
        for (enum kp_mode m = KP_MODE_AUTO; m <= KP_MODE_DEVICE_PLUGIN; m++) {
                enum kp_mode back = KP_MODE_AUTO;
                assert_int_equal(kp_mode_parse(kp_mode_name(m), &back), 0);
                assert_int_equal(back, m);
        }
        enum kp_mode x;
        assert_int_equal(kp_mode_parse("DRA", &x), -EINVAL);
        assert_int_equal(kp_mode_parse(NULL, &x), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_version_parse_good),
                cmocka_unit_test(test_version_parse_bad),
                cmocka_unit_test(test_decision_table),
                cmocka_unit_test(test_forced_modes_ignore_facts),
                cmocka_unit_test(test_names_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
