/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the config's building blocks: templates, globs with captures, derived device
 * names and the API server's name/version rules. */
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
#include "devmodel/glob.h"
#include "devmodel/names.h"
#include "devmodel/template.h"

static void test_template_render(void **state)
{
        char *caps[] = {"3", "ab", NULL};
        struct dm_template_vars v = {.index = 7,
                                     .name = "device_3",
                                     .path = "/dev/mock/device_3",
                                     .major = 1,
                                     .minor = 3,
                                     .device = "gpu-3",
                                     .captures = caps};
        struct hd_error e = HD_ERROR_INIT;
        char *out = NULL;
        assert_int_equal(dm_template_render("i={index} n={name} p={path} {major}:{minor} "
                                            "d={device} c={1}/{2} {{lit}}",
                                            &v, &out, &e),
                         0);
        assert_string_equal(out, "i=7 n=device_3 p=/dev/mock/device_3 1:3 d=gpu-3 c=3/ab {lit}");
        free(out);
        assert_int_equal(dm_template_render("plain", &v, &out, &e), 0);
        assert_string_equal(out, "plain");
        free(out);
        /* a capture the match did not produce */
        assert_int_equal(dm_template_render("{3}", &v, &out, &e), -EINVAL);
        assert_string_equal(e.message, "template variable '{3}' has no value here");
        v.device = NULL;
        assert_int_equal(dm_template_render("{device}", &v, &out, &e), -EINVAL);
        hd_error_done(&e);
}

static void test_template_check(void **state)
{
        struct hd_error e = HD_ERROR_INIT;
        assert_true(dm_template_has_vars("a{index}"));
        assert_false(dm_template_has_vars("a{{index}}"));
        assert_false(dm_template_has_vars("/dev/null"));
        assert_int_equal(dm_template_check("{index}-{1}", DM_TVAR_ALL, 1, &e), 0);
        assert_int_equal(dm_template_check("{bogus}", DM_TVAR_ALL, 0, &e), -EINVAL);
        assert_string_equal(e.message,
                            "template '{bogus}': unknown or unavailable variable '{bogus}'; use "
                            "one of: {index}, {name}, {path}, {major}, {minor}, {device} (write "
                            "'{{' for a literal brace)");
        assert_int_equal(dm_template_check("{device}", DM_TVAR_ALL & ~DM_TVAR_DEVICE, 0, &e),
                         -EINVAL);
        assert_int_equal(dm_template_check("x{", DM_TVAR_ALL, 0, &e), -EINVAL);
        assert_non_null(strstr(e.message, "'{' at offset 1 is not closed"));
        assert_int_equal(dm_template_check("{2}", DM_TVAR_ALL, 1, &e), -EINVAL);
        hd_error_done(&e);
}

static void test_glob_check(void **state)
{
        size_t n = 0;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_glob_check("/dev/nvidia[0-9]*", &n, &e), 0);
        assert_int_equal(n, 2);
        assert_int_equal(dm_glob_check("/dev/tty\\[x", &n, &e), 0);
        assert_int_equal(n, 0);
        assert_int_equal(dm_glob_check("/dev/x[a/b]", &n, &e), -EINVAL);
        assert_int_equal(dm_glob_check("/dev/x\\", &n, &e), -EINVAL);
        assert_non_null(strstr(e.message, "ends in a lone '\\'"));
        assert_int_equal(dm_glob_check("/a/?/?/?/?/?/?/?/?/?/?", &n, &e), -EINVAL);
        assert_non_null(strstr(e.message, "has 10 wildcards; at most 9"));
        assert_true(dm_glob_is_pattern("/dev/*"));
        assert_false(dm_glob_is_pattern("/dev/\\*"));
        hd_error_done(&e);
}

static void test_glob_match_captures(void **state)
{
        char **caps = NULL;
        assert_true(dm_glob_match("/dev/mock/device_*", "/dev/mock/device_12", &caps));
        assert_string_equal(caps[0], "12");
        assert_null(caps[1]);
        hd_strv_free(caps);
        assert_true(dm_glob_match("/dev/dri/renderD1[0-9]?", "/dev/dri/renderD128", &caps));
        assert_string_equal(caps[0], "2");
        assert_string_equal(caps[1], "8");
        hd_strv_free(caps);
        assert_true(dm_glob_match("/dev/*/x*", "/dev/bus/xyz", &caps));
        assert_string_equal(caps[0], "bus");
        assert_string_equal(caps[1], "yz");
        hd_strv_free(caps);
        /* wildcards never cross '/' */
        assert_false(dm_glob_match("/dev/*", "/dev/a/b", NULL));
        assert_false(dm_glob_match("/dev/tty[!U]*", "/dev/ttyUSB0", NULL));
        assert_true(dm_glob_match("/dev/tty[!U]*", "/dev/ttyACM0", NULL));
        assert_true(dm_glob_match("/dev/a\\*b", "/dev/a*b", NULL));
        assert_false(dm_glob_match("/dev/a\\*b", "/dev/axb", NULL));
}

static void test_device_name_from_path(void **state)
{
        struct {
                const char *path, *name;
        } cases[] = {
                {"/dev/mock/device_0", "mock-device-0"},
                {"/dev/fuse", "fuse"},
                {"/dev/net/tun", "net-tun"},
                {"/dev/dri/renderD128", "dri-renderd128"},
                {"/dev/ttyUSB0", "ttyusb0"},
                {"/tmp/root/dev/x__y", "tmp-root-dev-x-y"},
                {"/dev/_x_", "x"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *n = dm_device_name_from_path(cases[i].path);
                assert_string_equal(n, cases[i].name);
                assert_true(dm_is_dns_label(n));
                free(n);
        }
        assert_null(dm_device_name_from_path("/dev/___"));

        /* Long paths: 54 chars + '-' + 8 hex digits, distinct for distinct paths. */
        const char *a = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0-extra-a";
        const char *b = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0-extra-b";
        char *na = dm_device_name_from_path(a), *nb = dm_device_name_from_path(b);
        assert_int_equal(strlen(na), 63);
        assert_true(dm_is_dns_label(na));
        assert_true(dm_is_dns_label(nb));
        assert_string_not_equal(na, nb);
        char *na2 = dm_device_name_from_path(a);
        assert_string_equal(na, na2);
        free(na);
        free(nb);
        free(na2);
}

static void test_dns_and_identifiers(void **state)
{
        assert_true(dm_is_dns_label("gpu-0"));
        assert_true(dm_is_dns_label("0abc"));
        assert_false(dm_is_dns_label("Dev_0.x"));
        assert_false(dm_is_dns_label("-a"));
        assert_false(dm_is_dns_label("a-"));
        assert_false(dm_is_dns_label(""));
        assert_false(dm_is_dns_label(
                "a234567890123456789012345678901234567890123456789012345678901234"));
        assert_true(dm_is_dns_subdomain("hostdev.example.com"));
        assert_false(dm_is_dns_subdomain("Bad_Domain"));
        assert_false(dm_is_dns_subdomain("a..b"));
        assert_true(dm_is_c_identifier("_x9"));
        assert_false(dm_is_c_identifier("9x"));
        assert_false(dm_is_c_identifier("bad-name"));

        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_attr_name_check("model", &e), 0);
        assert_int_equal(dm_attr_name_check("example.com/model", &e), 0);
        assert_int_equal(dm_attr_name_check("a23456789012345678901234567890123", &e), -EINVAL);
        assert_int_equal(dm_attr_name_check("Example.com/model", &e), -EINVAL);
        assert_int_equal(dm_attr_name_check("example.com/", &e), -EINVAL);
        hd_error_done(&e);
}

static void test_semver(void **state)
{
        const char *good[] = {"0.0.0",
                              "1.2.3",
                              "10.20.30",
                              "1.2.3-rc.1+build.5",
                              "1.0.0-alpha",
                              "1.0.0-0.3.7",
                              "1.0.0-x.7.z.92",
                              "1.0.0+20130313",
                              "1.0.0-alpha-a.b-c"};
        const char *bad[] = {"1",      "1.2",    "v1.2.3",   "01.2.3",     "1.02.3",
                             "1.2.3-", "1.2.3+", "1.2.3-01", "1.2.3-a..b", "6.19.14.31400000",
                             "1.2.3 ", ""};
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                assert_true(dm_is_semver(good[i]));
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (dm_is_semver(bad[i]))
                        fail_msg("'%s' accepted as SemVer", bad[i]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_template_render),
                cmocka_unit_test(test_template_check),
                cmocka_unit_test(test_glob_check),
                cmocka_unit_test(test_glob_match_captures),
                cmocka_unit_test(test_device_name_from_path),
                cmocka_unit_test(test_dns_and_identifiers),
                cmocka_unit_test(test_semver),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
