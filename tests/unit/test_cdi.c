/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for cdi/: minimum-version table, name grammar, claim UIDs and names, validation
 * messages, model copy. JSON and spec-dir tests live in test_cdi_io.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "cdi/cdi.h"
#include "cdi_fixtures.h"

/* ---- minimum version: one test per table row, each trigger alone -------------------------- */

static void assert_min(unsigned features, const char *expected)
{
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_fx_spec(features);
        struct hd_error e = HD_ERROR_INIT;

        assert_string_equal(cdi_spec_min_version(spec), expected);
        /* Every fixture is valid, so the version is the only thing under test. */
        if (cdi_spec_validate(spec, &e) < 0)
                fail_msg("fixture 0x%x invalid: %s", features, hd_error_message(&e));
}

static void test_min_baseline(void **state)
{
        assert_min(0, "0.3.0");
        assert_min(CDI_FX_SPEC_LEVEL, "0.3.0");
}

static void test_min_040_mount_type(void **state)
{
        assert_min(CDI_FX_MOUNT_TYPE, "0.4.0");
        assert_min(CDI_FX_MOUNT_TYPE | CDI_FX_SPEC_LEVEL, "0.4.0");
}

static void test_min_050_host_path(void **state)
{
        assert_min(CDI_FX_HOST_PATH, "0.5.0");
        assert_min(CDI_FX_HOST_PATH | CDI_FX_SPEC_LEVEL, "0.5.0");
}

static void test_min_host_path_equal_to_path(void **state)
{
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_fx_spec(0);
        struct cdi_device_node *n = spec->devices[0]->edits.device_nodes[0];
        _cleanup_free_ char *text = NULL;

        /* The writer omits a hostPath equal to the path, so it does not raise the version... */
        n->host_path = hd_strdup(n->path);
        assert_string_equal(cdi_spec_min_version(spec), "0.3.0");
        text = cdi_spec_to_json(spec);
        assert_null(strstr(text, "\"hostPath\": \"/dev/gpu0\""));
        assert_non_null(strstr(text, "\"path\": \"/dev/gpu0\""));
        /* ...but a document that carries one still needs 0.5.0, as for the CDI library. */
        spec->cdi_version = hd_strdup("0.3.0");
        assert_int_equal(cdi_spec_check_version(spec, NULL), -EINVAL);
        /* An empty hostPath is no hostPath. */
        free(n->host_path);
        n->host_path = hd_strdup("");
        assert_string_equal(cdi_spec_min_version(spec), "0.3.0");
        assert_int_equal(cdi_spec_check_version(spec, NULL), 0);
}

static void test_min_050_digit_name(void **state)
{
        assert_min(CDI_FX_DIGIT_NAME, "0.5.0");
}

static void test_min_060_annotations(void **state)
{
        assert_min(CDI_FX_SPEC_ANNOT, "0.6.0");
        assert_min(CDI_FX_DEV_ANNOT, "0.6.0");
}

static void test_min_060_dot_in_class(void **state)
{
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_fx_spec(0);

        assert_min(CDI_FX_DOT_CLASS, "0.6.0");
        /* Dots in the vendor do not count: every k8s.<driver> vendor has them. */
        free(spec->kind);
        spec->kind = hd_strdup("k8s.hostdev.example.com/claim");
        assert_string_equal(cdi_spec_min_version(spec), "0.3.0");
}

static void test_min_070_gids_rdt(void **state)
{
        assert_min(CDI_FX_GIDS, "0.7.0");
        assert_min(CDI_FX_GIDS | CDI_FX_SPEC_LEVEL, "0.7.0");
        assert_min(CDI_FX_RDT, "0.7.0");
        assert_min(CDI_FX_RDT | CDI_FX_SPEC_LEVEL, "0.7.0");
}

static void test_min_110_netdev_rdt_new_fields(void **state)
{
        assert_min(CDI_FX_NETDEV, "1.1.0");
        assert_min(CDI_FX_NETDEV | CDI_FX_SPEC_LEVEL, "1.1.0");
        assert_min(CDI_FX_RDT_SCHEMATA, "1.1.0");
        assert_min(CDI_FX_RDT_MONITOR, "1.1.0");
}

static void test_min_combinations(void **state)
{
        assert_min(CDI_FX_MOUNT_TYPE | CDI_FX_HOST_PATH, "0.5.0");
        assert_min(CDI_FX_MOUNT_TYPE | CDI_FX_SPEC_ANNOT, "0.6.0");
        assert_min(CDI_FX_HOST_PATH | CDI_FX_DOT_CLASS, "0.6.0");
        assert_min(CDI_FX_DIGIT_NAME | CDI_FX_GIDS, "0.7.0");
        assert_min(CDI_FX_DEV_ANNOT | CDI_FX_RDT, "0.7.0");
        assert_min(CDI_FX_GIDS | CDI_FX_NETDEV, "1.1.0");
        assert_min(CDI_FX_MOUNT_TYPE | CDI_FX_RDT_MONITOR, "1.1.0");
        assert_min(CDI_FX_ALL_TRIGGERS, "1.1.0");
        assert_min(CDI_FX_ALL_TRIGGERS &
                           ~(CDI_FX_NETDEV | CDI_FX_RDT_SCHEMATA | CDI_FX_RDT_MONITOR),
                   "0.7.0");
}

/* Every subset of triggers, in device edits and in spec-level edits: the module agrees with the
 * table the fixture encodes, and the declared minimum passes the version check. */
static void test_min_exhaustive(void **state)
{
        for (unsigned level = 0; level < 2; level++)
                for (unsigned f = 0; f <= CDI_FX_ALL_TRIGGERS; f++) {
                        unsigned features = f | (level ? CDI_FX_SPEC_LEVEL : 0);
                        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_fx_spec(features);
                        const char *want = cdi_fx_expected_version(f);

                        if (strcmp(cdi_spec_min_version(spec), want) != 0)
                                fail_msg("features 0x%x: got %s, want %s", features,
                                         cdi_spec_min_version(spec), want);
                        spec->cdi_version = hd_strdup(want);
                        assert_int_equal(cdi_spec_check_version(spec, NULL), 0);
                }
}

static void test_version_known_and_compare(void **state)
{
        static const char *const ordered[] = {"0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0",
                                              "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0"};

        for (size_t i = 0; i < HD_ARRAY_SIZE(ordered); i++) {
                assert_true(cdi_version_is_known(ordered[i]));
                if (i > 0)
                        assert_true(cdi_version_compare(ordered[i - 1], ordered[i]) < 0);
        }
        assert_false(cdi_version_is_known("1.2.0"));
        assert_false(cdi_version_is_known("v0.6.0"));
        assert_false(cdi_version_is_known("0.6"));
        assert_false(cdi_version_is_known(""));
        assert_false(cdi_version_is_known(NULL));
        assert_int_equal(cdi_version_compare("0.5.0", "0.5.0"), 0);
}

static void test_version_check(void **state)
{
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_fx_spec(CDI_FX_HOST_PATH);
        struct hd_error e = HD_ERROR_INIT;

        assert_int_equal(cdi_spec_check_version(spec, &e), -EINVAL);
        assert_string_equal(hd_error_message(&e), "cdiVersion missing");

        spec->cdi_version = hd_strdup("0.4.0");
        assert_int_equal(cdi_spec_check_version(spec, &e), -EINVAL);
        assert_non_null(strstr(hd_error_message(&e), "\"0.4.0\" too low"));
        assert_non_null(strstr(hd_error_message(&e), "at least 0.5.0"));

        free(spec->cdi_version);
        spec->cdi_version = hd_strdup("9.9.9");
        assert_int_equal(cdi_spec_check_version(spec, &e), -EINVAL);
        assert_non_null(strstr(hd_error_message(&e), "invalid cdiVersion \"9.9.9\""));

        /* Declaring more than the minimum is allowed. */
        free(spec->cdi_version);
        spec->cdi_version = hd_strdup("1.1.0");
        assert_int_equal(cdi_spec_check_version(spec, &e), 0);
        hd_error_done(&e);
}

/* ---- names --------------------------------------------------------------------------------- */

static void test_vendor_class_grammar(void **state)
{
        static const char *const good[] = {"a",        "example.com", "k8s.hostdev.example.com",
                                           "Vendor_1", "a-b.c_d9",    "nvidia.com"};
        static const char *const bad[] = {"",     "1abc", "-abc", ".abc", "abc-", "abc.",
                                          "ab c", "a/b",  "a=b",  "ab:c", "é"};
        char long_vendor[260], long_class[70];

        for (size_t i = 0; i < HD_ARRAY_SIZE(good); i++) {
                assert_int_equal(cdi_validate_vendor(good[i], NULL), 0);
                assert_int_equal(cdi_validate_class(good[i], NULL), 0);
        }
        for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
                if (cdi_validate_vendor(bad[i], NULL) != -EINVAL)
                        fail_msg("vendor \"%s\" accepted", bad[i]);
                if (cdi_validate_class(bad[i], NULL) != -EINVAL)
                        fail_msg("class \"%s\" accepted", bad[i]);
        }

        memset(long_vendor, 'a', 253);
        long_vendor[253] = '\0';
        assert_int_equal(cdi_validate_vendor(long_vendor, NULL), 0);
        long_vendor[253] = 'a';
        long_vendor[254] = '\0';
        assert_int_equal(cdi_validate_vendor(long_vendor, NULL), -EINVAL);

        memset(long_class, 'c', 63);
        long_class[63] = '\0';
        assert_int_equal(cdi_validate_class(long_class, NULL), 0);
        long_class[63] = 'c';
        long_class[64] = '\0';
        assert_int_equal(cdi_validate_class(long_class, NULL), -EINVAL);
}

static void test_device_name_grammar(void **state)
{
        static const char *const good[] = {"gpu0",
                                           "0",
                                           "0gpu",
                                           "a:b",
                                           "a.b_c-d",
                                           "GPU",
                                           "6f1a2b3c-0000-4000-8000-00000000abcd-mock-device-0"};
        static const char *const bad[] = {"",   "-gpu", "gpu-", "_gpu", "gpu_", ":a",
                                          "a:", "a b",  "a/b",  "a=b",  "a,b"};
        struct hd_error e = HD_ERROR_INIT;

        for (size_t i = 0; i < HD_ARRAY_SIZE(good); i++)
                assert_int_equal(cdi_validate_device_name(good[i], NULL), 0);
        for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++)
                if (cdi_validate_device_name(bad[i], NULL) != -EINVAL)
                        fail_msg("device name \"%s\" accepted", bad[i]);

        assert_int_equal(cdi_validate_device_name("a b", &e), -EINVAL);
        assert_string_equal(hd_error_message(&e),
                            "invalid device name \"a b\": character ' ' not allowed (letters, "
                            "digits, '_', '.', ':', '-')");
        hd_error_done(&e);
}

static void test_parse_qualified_name(void **state)
{
        _cleanup_free_ char *vendor = NULL, *cls = NULL, *name = NULL;
        struct hd_error e = HD_ERROR_INIT;
        static const char *const bad[] = {"",
                                          "vendor.com/class",
                                          "vendor.com=name",
                                          "/class=name",
                                          "vendor.com/=name",
                                          "vendor.com/class=",
                                          "1vendor/class=name",
                                          "vendor.com/cl/ass=name",
                                          "vendor.com/class=na me"};

        assert_int_equal(cdi_parse_qualified_name("k8s.hostdev.example.com/claim=abc-0", &vendor,
                                                  &cls, &name, &e),
                         0);
        assert_string_equal(vendor, "k8s.hostdev.example.com");
        assert_string_equal(cls, "claim");
        assert_string_equal(name, "abc-0");
        assert_int_equal(cdi_parse_qualified_name("a/b=c", NULL, NULL, NULL, NULL), 0);
        /* '=' is allowed only as the separator; a second one lands in the name and fails. */
        assert_int_equal(cdi_parse_qualified_name("a/b=c=d", NULL, NULL, NULL, NULL), -EINVAL);

        for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++)
                if (cdi_parse_qualified_name(bad[i], NULL, NULL, NULL, NULL) != -EINVAL)
                        fail_msg("qualified name \"%s\" accepted", bad[i]);

        assert_int_equal(cdi_parse_qualified_name("1v/c=n", NULL, NULL, NULL, &e), -EINVAL);
        assert_string_equal(hd_error_message(&e),
                            "invalid device ID \"1v/c=n\": invalid vendor \"1v\": must start "
                            "with a letter");
        hd_error_done(&e);
}

static void test_kind_helpers(void **state)
{
        _cleanup_free_ char *prefix = cdi_kind_file_prefix("vendor.com/class");
        _cleanup_free_ char *id = cdi_qualified_id("vendor.com/class", "dev0");

        assert_string_equal(prefix, "vendor.com-class");
        assert_null(cdi_kind_file_prefix("noslash"));
        assert_string_equal(id, "vendor.com/class=dev0");
        assert_int_equal(cdi_validate_kind("vendor.com/class", NULL), 0);
        assert_int_equal(cdi_validate_kind("vendor.com", NULL), -EINVAL);
        assert_int_equal(cdi_validate_kind("vendor.com/a/b", NULL), -EINVAL);
        assert_int_equal(cdi_validate_kind("/class", NULL), -EINVAL);
        assert_int_equal(cdi_validate_kind(NULL, NULL), -EINVAL);
}

/* ---- claim UIDs and per-claim / per-group names ------------------------------------------ */

#define UID "6f1a2b3c-0d4e-4f50-8a6b-7c8d9e0f1a2b"

static void test_claim_uid(void **state)
{
        static const char *const good[] = {UID, "6F1A2B3C-0D4E-4F50-8A6B-7C8D9E0F1A2B",
                                           "00000000-0000-0000-0000-000000000000"};
        static const char *const bad[] = {
                "",
                "6f1a2b3c0d4e4f508a6b7c8d9e0f1a2b",        /* no dashes */
                "6f1a2b3c-0d4e-4f50-8a6b-7c8d9e0f1a2",     /* short */
                "6f1a2b3c-0d4e-4f50-8a6b-7c8d9e0f1a2b0",   /* long */
                "6f1a2b3c-0d4e-4f50-8a6b_7c8d9e0f1a2b",    /* wrong separator */
                "6f1a2b3g-0d4e-4f50-8a6b-7c8d9e0f1a2b",    /* not hex */
                "../../../../etc/passwd-aaaa-bbbbbbbbbbb", /* 36 bytes of path */
                "6f1a2b3c-0d4e-4f50-8a6b-7c8d9e0f/a2b",    /* slash */
                "{6f1a2b3c-0d4e-4f50-8a6b-7c8d9e0f1a2b}",  /* braces */
                " 6f1a2b3c-0d4e-4f50-8a6b-7c8d9e0f1a2",    /* leading space */
        };
        struct hd_error e = HD_ERROR_INIT;

        for (size_t i = 0; i < HD_ARRAY_SIZE(good); i++)
                assert_int_equal(cdi_validate_claim_uid(good[i], NULL), 0);
        for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++)
                if (cdi_validate_claim_uid(bad[i], NULL) != -EINVAL)
                        fail_msg("claim UID \"%s\" accepted", bad[i]);
        assert_int_equal(cdi_validate_claim_uid(NULL, NULL), -EINVAL);

        assert_int_equal(cdi_validate_claim_uid("x/y", &e), -EINVAL);
        assert_non_null(strstr(hd_error_message(&e), "invalid claim UID \"x/y\""));
        hd_error_done(&e);
}

static void test_claim_names(void **state)
{
        _cleanup_free_ char *kind = cdi_claim_spec_kind("hostdev.example.com");
        _cleanup_free_ char *prefix = cdi_claim_spec_file_prefix("hostdev.example.com");
        _cleanup_free_ char *file = NULL, *dev = NULL, *uid = NULL, *id = NULL;
        char *none = NULL;

        assert_string_equal(kind, "k8s.hostdev.example.com/claim");
        assert_int_equal(cdi_validate_kind(kind, NULL), 0);
        assert_string_equal(prefix, "k8s.hostdev.example.com-claim_");

        assert_int_equal(cdi_claim_spec_file_name("hostdev.example.com", UID, &file, NULL), 0);
        assert_string_equal(file, "k8s.hostdev.example.com-claim_" UID ".json");
        assert_true(hd_startswith(file, prefix));
        assert_int_equal(cdi_claim_spec_file_name("hostdev.example.com", "../x", &none, NULL),
                         -EINVAL);
        assert_int_equal(cdi_claim_spec_file_name("bad/driver", UID, &none, NULL), -EINVAL);
        assert_int_equal(cdi_claim_spec_file_name("", UID, &none, NULL), -EINVAL);
        assert_null(none);

        assert_int_equal(cdi_claim_device_name(UID, "mock-device-0", &dev, NULL), 0);
        assert_string_equal(dev, UID "-mock-device-0");
        assert_int_equal(cdi_claim_device_name(UID, "bad name", &none, NULL), -EINVAL);
        assert_int_equal(cdi_claim_device_name("nope", "gpu0", &none, NULL), -EINVAL);
        assert_null(none);

        id = cdi_qualified_id(kind, dev);
        assert_string_equal(id, "k8s.hostdev.example.com/claim=" UID "-mock-device-0");
        assert_int_equal(cdi_parse_qualified_name(id, NULL, NULL, NULL, NULL), 0);

        assert_int_equal(cdi_claim_uid_from_file_name("hostdev.example.com", file, &uid), 0);
        assert_string_equal(uid, UID);
        assert_int_equal(cdi_claim_uid_from_file_name("hostdev.example.com",
                                                      "k8s.hostdev.example.com-claim_nope.json",
                                                      &none),
                         -EINVAL);
        assert_int_equal(cdi_claim_uid_from_file_name("other.example.com", file, &none), -EINVAL);
        assert_int_equal(cdi_claim_uid_from_file_name("hostdev.example.com",
                                                      "k8s.hostdev.example.com-claim_" UID ".txt",
                                                      &none),
                         -EINVAL);
        assert_null(none);
}

static void test_group_names(void **state)
{
        _cleanup_free_ char *kind = cdi_group_spec_kind("hostdev.example.com", "gpu");
        _cleanup_free_ char *file = NULL;
        char *none = NULL;

        assert_string_equal(kind, "k8s.hostdev.example.com/gpu");
        assert_int_equal(cdi_group_spec_file_name("hostdev.example.com", "gpu", &file, NULL), 0);
        assert_string_equal(file, "k8s.hostdev.example.com-gpu.json");
        assert_int_equal(cdi_group_spec_file_name("hostdev.example.com", "../gpu", &none, NULL),
                         -EINVAL);
        assert_int_equal(cdi_group_spec_file_name("hostdev.example.com", "", &none, NULL), -EINVAL);
        assert_int_equal(cdi_group_spec_file_name("hostdev.example.com", "9gpu", &none, NULL),
                         -EINVAL);
        assert_null(none);
}

/* ---- validation --------------------------------------------------------------------------- */

/* Validate SPEC and assert it fails with a message containing every NULL-terminated needle. */
static void assert_invalid(const struct cdi_spec *spec, ...)
{
        struct hd_error e = HD_ERROR_INIT;
        const char *needle;
        va_list ap;

        if (cdi_spec_validate(spec, &e) != -EINVAL)
                fail_msg("spec accepted");
        va_start(ap, spec);
        while ((needle = va_arg(ap, const char *)))
                if (!strstr(hd_error_message(&e), needle))
                        fail_msg("message \"%s\" lacks \"%s\"", hd_error_message(&e), needle);
        va_end(ap);
        hd_error_done(&e);
}

/* A valid one-device spec whose device "gpu0" has one complete node. */
static struct cdi_spec *valid_spec(struct cdi_device **ret_dev)
{
        struct cdi_spec *spec = cdi_fx_spec(0);

        *ret_dev = spec->devices[0];
        assert_int_equal(cdi_spec_validate(spec, NULL), 0);
        return spec;
}

static void test_validate_spec_level(void **state)
{
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_spec_new("example.com/gpu");
        struct cdi_device *d;

        assert_invalid(spec, "has no devices", NULL);
        free(spec->kind);
        spec->kind = hd_strdup("example.com");
        assert_invalid(spec, "invalid kind \"example.com\"", NULL);
        free(spec->kind);
        spec->kind = NULL;
        assert_invalid(spec, "invalid kind: empty", NULL);
        free(spec->kind);
        spec->kind = hd_strdup("example.com/gpu");

        d = cdi_spec_add_device(spec, "gpu0");
        assert_invalid(spec, "device \"gpu0\": invalid device, empty device edits", NULL);
        cdi_edits_add_env(&d->edits, "A=1");
        assert_int_equal(cdi_spec_validate(spec, NULL), 0);

        d = cdi_spec_add_device(spec, "gpu0");
        cdi_edits_add_env(&d->edits, "A=1");
        assert_invalid(spec, "device \"gpu0\": name used by more than one device", NULL);
        free(d->name);
        d->name = hd_strdup("-gpu1");
        assert_invalid(spec, "devices[1]: invalid device name \"-gpu1\"", NULL);
        free(d->name);
        d->name = NULL;
        assert_invalid(spec, "devices[1].name is missing", NULL);
        free(d->name);
        d->name = hd_strdup("gpu1");
        assert_int_equal(cdi_spec_validate(spec, NULL), 0);

        cdi_edits_add_env(&spec->edits, "=nokey");
        assert_invalid(spec, "containerEdits.env[0] \"=nokey\" is not of the form KEY=VALUE", NULL);
}

static void test_validate_device_nodes(void **state)
{
        struct cdi_device *d;
        _cleanup_cdi_spec_ struct cdi_spec *spec = valid_spec(&d);
        struct cdi_device_node *n = d->edits.device_nodes[0];

        free(n->path);
        n->path = hd_strdup("dev/gpu0");
        assert_invalid(spec,
                       "device \"gpu0\": containerEdits.deviceNodes[0].path \"dev/gpu0\" "
                       "is not absolute",
                       NULL);
        free(n->path);
        n->path = NULL;
        assert_invalid(spec, "device \"gpu0\": containerEdits.deviceNodes[0].path is missing",
                       NULL);
        n->path = hd_strdup("/dev/gpu0");

        n->host_path = hd_strdup("relative");
        assert_invalid(spec, "deviceNodes[0].hostPath \"relative\" is not absolute", NULL);
        free(n->host_path);
        n->host_path = NULL;

        cdi_device_node_set_permissions(n, "rwx");
        assert_invalid(spec, "device \"gpu0\"", "deviceNodes[0].permissions \"rwx\"",
                       "subset of \"rwm\"", NULL);
        cdi_device_node_set_permissions(n, "mrw");
        assert_int_equal(cdi_spec_validate(spec, NULL), 0);
        cdi_device_node_set_permissions(n, "");
        assert_int_equal(cdi_spec_validate(spec, NULL), 0);

        free(n->type);
        n->type = hd_strdup("x");
        assert_invalid(spec, "deviceNodes[0].type \"x\"", "must be one of b, c, u, p", NULL);
        free(n->type);
        n->type = hd_strdup("b");
        n->has_minor = false;
        assert_invalid(spec, "device \"gpu0\"", "of type \"b\" needs major and minor", NULL);
        n->has_minor = true;
        free(n->type);
        n->type = hd_strdup("u");
        assert_int_equal(cdi_spec_validate(spec, NULL), 0);
        free(n->type);
        n->type = hd_strdup("p");
        assert_invalid(spec, "is a FIFO (type \"p\") and takes no major/minor", NULL);
        n->has_major = n->has_minor = false;
        assert_int_equal(cdi_spec_validate(spec, NULL), 0);

        /* No type at all is valid (the runtime stats the host path). */
        free(n->type);
        n->type = NULL;
        assert_int_equal(cdi_spec_validate(spec, NULL), 0);

        free(n->type);
        n->type = hd_strdup("c");
        n->has_major = n->has_minor = true;
        n->major = -1;
        assert_invalid(spec, "deviceNodes[0].major is negative", NULL);
}

static void test_validate_mounts(void **state)
{
        struct cdi_device *d;
        _cleanup_cdi_spec_ struct cdi_spec *spec = valid_spec(&d);
        struct cdi_mount *m = d->edits.mounts[0];

        free(m->container_path);
        m->container_path = hd_strdup("usr/lib");
        assert_invalid(spec,
                       "device \"gpu0\": containerEdits.mounts[0].containerPath "
                       "\"usr/lib\" is not absolute",
                       NULL);
        free(m->container_path);
        m->container_path = hd_strdup("/usr/lib/x");
        free(m->host_path);
        m->host_path = hd_strdup("lib");
        assert_invalid(spec, "mounts[0].hostPath \"lib\" is not absolute", NULL);
        /* A non-bind mount's source is not a host path. */
        m->type = hd_strdup("tmpfs");
        assert_int_equal(cdi_spec_validate(spec, NULL), 0);
        free(m->host_path);
        m->host_path = NULL;
        assert_invalid(spec, "mounts[0].hostPath is missing", NULL);
        m->host_path = hd_strdup("/x");
        cdi_mount_add_option(m, "");
        assert_invalid(spec, "mounts[0].options[3] is empty", NULL);
}

static void test_validate_hooks(void **state)
{
        struct cdi_device *d;
        _cleanup_cdi_spec_ struct cdi_spec *spec = valid_spec(&d);
        struct cdi_hook *h;

        h = cdi_edits_add_hook(&d->edits, "createContainer", "/usr/bin/hook");
        cdi_hook_add_arg(h, "hook");
        cdi_hook_add_env(h, "X=1");
        assert_int_equal(cdi_spec_validate(spec, NULL), 0);

        cdi_hook_add_env(h, "noequals");
        assert_invalid(spec, "device \"gpu0\": containerEdits.hooks[0].env[1] \"noequals\"", NULL);
        hd_strv_free(h->env);
        h->env = NULL;

        free(h->hook_name);
        h->hook_name = hd_strdup("preStart");
        assert_invalid(spec, "hooks[0].hookName \"preStart\" is not one of", NULL);
        free(h->hook_name);
        h->hook_name = hd_strdup("poststop");
        free(h->path);
        h->path = hd_strdup("hook");
        assert_invalid(spec, "hooks[0].path \"hook\" is not absolute", NULL);
}

static void test_validate_annotations_net_rdt(void **state)
{
        struct cdi_device *d;
        _cleanup_cdi_spec_ struct cdi_spec *spec = valid_spec(&d);
        struct cdi_intel_rdt *rdt;

        cdi_annotations_set(&d->annotations, "Bad Key", "v");
        assert_invalid(spec, "device \"gpu0\": annotations key \"Bad Key\"", NULL);
        cdi_annotations_done(&d->annotations);
        cdi_annotations_set(&spec->annotations, "UPPER.example.com/x", "v");
        assert_invalid(spec, "annotations key \"UPPER.example.com/x\"", NULL);
        cdi_annotations_done(&spec->annotations);
        cdi_annotations_set(&spec->annotations, "cdi.k8s.io/plugin_dev", "a/b=c");
        assert_int_equal(cdi_spec_validate(spec, NULL), 0);

        cdi_edits_add_net_device(&d->edits, "eth0", "net0");
        assert_int_equal(cdi_spec_validate(spec, NULL), 0);
        cdi_edits_add_net_device(&d->edits, "eth1", "net0");
        assert_invalid(spec, "netDevices[1].name \"net0\" is used twice", NULL);
        free(d->edits.net_devices[1]->name);
        d->edits.net_devices[1]->name = hd_strdup("a-very-long-interface-name");
        assert_invalid(spec, "netDevices[1].name \"a-very-long-interface-name\" is not a valid",
                       NULL);

        cdi_edits_done(&spec->edits);
        rdt = cdi_edits_intel_rdt(&spec->edits);
        rdt->clos_id = hd_strdup("../x");
        assert_invalid(spec, "containerEdits.intelRdt.closID \"../x\"", NULL);
}

/* ---- model ---------------------------------------------------------------------------------- */

static void test_edits_copy_is_deep(void **state)
{
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_fx_spec(CDI_FX_ALL_TRIGGERS);
        _cleanup_free_ char *before = NULL, *after = NULL;
        struct cdi_edits copy;
        struct cdi_device *d = spec->devices[0];

        before = cdi_spec_to_json(spec);
        cdi_edits_copy(&copy, &d->edits);
        assert_false(cdi_edits_is_empty(&copy));
        assert_int_equal(copy.n_device_nodes, d->edits.n_device_nodes);
        assert_ptr_not_equal(copy.device_nodes[0], d->edits.device_nodes[0]);
        assert_ptr_not_equal(copy.device_nodes[0]->path, d->edits.device_nodes[0]->path);
        assert_string_equal(copy.device_nodes[0]->permissions, "rw");

        /* Appending the copy doubles the lists; replacing D's edits with the copy gives back the
         * same document. */
        cdi_edits_append(&d->edits, &copy);
        assert_int_equal(d->edits.n_mounts, 2 * copy.n_mounts);
        cdi_edits_done(&d->edits);
        d->edits = copy;
        after = cdi_spec_to_json(spec);
        assert_string_equal(before, after);
        assert_true(cdi_edits_is_empty(&(struct cdi_edits){0}));
}

static void test_annotations_set_replaces(void **state)
{
        struct cdi_annotations a = {0};

        cdi_annotations_set(&a, "k", "1");
        cdi_annotations_set(&a, "k", "2");
        assert_int_equal(a.n, 1);
        assert_string_equal(cdi_annotations_get(&a, "k"), "2");
        assert_null(cdi_annotations_get(&a, "x"));
        cdi_annotations_done(&a);
        assert_int_equal(a.n, 0);
}

static void test_find_device(void **state)
{
        _cleanup_cdi_spec_ struct cdi_spec *spec =
                cdi_fx_claim_spec("hostdev.example.com", UID, 2, 3);

        assert_int_equal(spec->n_devices, 3);
        assert_non_null(cdi_spec_find_device(spec, UID "-mock-device-3"));
        assert_null(cdi_spec_find_device(spec, UID "-mock-device-5"));
        assert_null(cdi_spec_free(NULL));
}

/* ---- filling nodes from stat -------------------------------------------------------------- */

static void test_fill_from_stat(void **state)
{
        struct cdi_edits e;
        struct cdi_device_node *n;
        struct hd_error err = HD_ERROR_INIT;
        struct stat st = {0};

        cdi_edits_init(&e);
        n = cdi_edits_add_device_node(&e, "/dev/mock/null", "/dev/null");
        assert_int_equal(cdi_device_node_fill_from_stat(n, &err), 0);
        assert_string_equal(n->type, "c");
        assert_true(n->has_major && n->has_minor);
        assert_int_equal(n->major, 1);
        assert_int_equal(n->minor, 3);

        n = cdi_edits_add_device_node(&e, "/dev/does-not-exist-hostdev", NULL);
        assert_int_equal(cdi_device_node_fill_from_stat(n, &err), -ENOENT);
        assert_string_equal(hd_error_message(&err),
                            "device node '/dev/does-not-exist-hostdev': No such file or "
                            "directory");
        assert_null(n->type);

        n = cdi_edits_add_device_node(&e, "/dev", NULL);
        assert_int_equal(cdi_device_node_fill_from_stat(n, &err), -ENODEV);
        assert_string_equal(hd_error_message(&err),
                            "device node '/dev' is not a character or block device");

        st.st_mode = S_IFBLK | 0660;
        st.st_rdev = makedev(8, 17);
        assert_int_equal(cdi_device_node_fill_from_st(n, &st, "/dev/sdb1", &err), 0);
        assert_string_equal(n->type, "b");
        assert_int_equal(n->major, 8);
        assert_int_equal(n->minor, 17);
        st.st_mode = S_IFREG | 0644;
        assert_int_equal(cdi_device_node_fill_from_st(n, &st, "/etc/x", &err), -ENODEV);
        assert_non_null(strstr(hd_error_message(&err), "'/etc/x'"));

        hd_error_done(&err);
        cdi_edits_done(&e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_min_baseline),
                cmocka_unit_test(test_min_040_mount_type),
                cmocka_unit_test(test_min_050_host_path),
                cmocka_unit_test(test_min_host_path_equal_to_path),
                cmocka_unit_test(test_min_050_digit_name),
                cmocka_unit_test(test_min_060_annotations),
                cmocka_unit_test(test_min_060_dot_in_class),
                cmocka_unit_test(test_min_070_gids_rdt),
                cmocka_unit_test(test_min_110_netdev_rdt_new_fields),
                cmocka_unit_test(test_min_combinations),
                cmocka_unit_test(test_min_exhaustive),
                cmocka_unit_test(test_version_known_and_compare),
                cmocka_unit_test(test_version_check),
                cmocka_unit_test(test_vendor_class_grammar),
                cmocka_unit_test(test_device_name_grammar),
                cmocka_unit_test(test_parse_qualified_name),
                cmocka_unit_test(test_kind_helpers),
                cmocka_unit_test(test_claim_uid),
                cmocka_unit_test(test_claim_names),
                cmocka_unit_test(test_group_names),
                cmocka_unit_test(test_validate_spec_level),
                cmocka_unit_test(test_validate_device_nodes),
                cmocka_unit_test(test_validate_mounts),
                cmocka_unit_test(test_validate_hooks),
                cmocka_unit_test(test_validate_annotations_net_rdt),
                cmocka_unit_test(test_edits_copy_is_deep),
                cmocka_unit_test(test_annotations_set_replaces),
                cmocka_unit_test(test_find_device),
                cmocka_unit_test(test_fill_from_stat),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
