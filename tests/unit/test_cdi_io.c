/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for cdi/ input and output: the JSON writer and the strict JSON/YAML reader.
 * The spec directory has its own file, test_cdi_specdir.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup-json.h"

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/strutil.h"
#include "cdi/cdi.h"
#include "cdi_fixtures.h"

#define DRIVER "hostdev.example.com"
#define UID1 "6f1a2b3c-0d4e-4f50-8a6b-7c8d9e0f1a2b"
#define UID2 "0b9a8c7d-6e5f-4a3b-9c2d-1e0f2a3b4c5d"

/* ---- writer ------------------------------------------------------------------------------- */

static json_t *parse(const char *text)
{
        json_error_t jerr;
        json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);

        if (!root)
                fail_msg("writer produced invalid JSON: %s\n%s", jerr.text, text);
        return root;
}

static void test_write_claim_spec_fields(void **state)
{
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_fx_claim_spec(DRIVER, UID1, 0, 4);
        _cleanup_free_ char *text = cdi_spec_to_json(spec);
        _cleanup_json_ json_t *root = parse(text);
        json_t *devices, *dev, *node, *mounts, *common;
        const char *key;
        json_t *value;
        int i = 0;

        /* Key order is fixed: cdiVersion, kind, devices, containerEdits. */
        static const char *const order[] = {"cdiVersion", "kind", "devices", "containerEdits"};
        json_object_foreach(root, key, value)
        {
                assert_true(i < 4);
                assert_string_equal(key, order[i++]);
        }
        assert_int_equal(i, 4);

        /* Device names are "<claimUID>-<device>": a UID starting with a digit makes every
         * name start with one, which needs 0.5.0 (see test_write_claim_spec_version). */
        assert_string_equal(json_string_value(json_object_get(root, "cdiVersion")), "0.5.0");
        assert_string_equal(json_string_value(json_object_get(root, "kind")),
                            "k8s." DRIVER "/claim");
        devices = json_object_get(root, "devices");
        assert_int_equal(json_array_size(devices), 4);
        dev = json_array_get(devices, 2);
        assert_string_equal(json_string_value(json_object_get(dev, "name")), UID1 "-mock-device-2");
        assert_null(json_object_get(dev, "annotations"));
        node = json_array_get(
                json_object_get(json_object_get(dev, "containerEdits"), "deviceNodes"), 0);
        assert_string_equal(json_string_value(json_object_get(node, "path")), "/dev/mock/device_2");
        assert_null(json_object_get(node, "hostPath")); /* omitted: keeps the spec at 0.3.0 */
        assert_string_equal(json_string_value(json_object_get(node, "type")), "c");
        assert_int_equal(json_integer_value(json_object_get(node, "major")), 240);
        assert_int_equal(json_integer_value(json_object_get(node, "minor")), 2);
        assert_string_equal(json_string_value(json_object_get(node, "permissions")), "rw");
        assert_null(json_object_get(node, "uid"));
        assert_null(json_object_get(node, "fileMode"));
        mounts = json_object_get(json_object_get(dev, "containerEdits"), "mounts");
        assert_int_equal(json_array_size(mounts), 1);
        assert_string_equal(
                json_string_value(json_object_get(json_array_get(mounts, 0), "containerPath")),
                "/mock/so/device_2.so");
        assert_null(json_object_get(json_array_get(mounts, 0), "type"));
        assert_int_equal(json_array_size(json_object_get(json_array_get(mounts, 0), "options")), 4);
        assert_null(json_object_get(json_object_get(dev, "containerEdits"), "env"));
        assert_null(json_object_get(json_object_get(dev, "containerEdits"), "hooks"));

        common = json_object_get(root, "containerEdits");
        assert_non_null(common);
        assert_int_equal(json_object_size(common), 1);
        assert_string_equal(
                json_string_value(json_object_get(
                        json_array_get(json_object_get(common, "mounts"), 0), "containerPath")),
                "/usr/local/bin/list_device.sh");
        assert_true(text[strlen(text) - 1] == '\n');
}

static void test_write_claim_spec_version(void **state)
{
        _cleanup_cdi_spec_ struct cdi_spec *letter =
                cdi_fx_claim_spec(DRIVER, "af1a2b3c-0d4e-4f50-8a6b-7c8d9e0f1a2b", 0, 2);
        _cleanup_cdi_spec_ struct cdi_spec *digit = cdi_fx_claim_spec(DRIVER, UID1, 0, 2);
        _cleanup_cdi_spec_ struct cdi_spec *group = cdi_fx_group_spec(DRIVER, "gpu", 8);

        assert_string_equal(cdi_spec_min_version(letter), "0.3.0");
        assert_string_equal(cdi_spec_min_version(digit), "0.5.0");
        assert_string_equal(cdi_spec_min_version(group), "0.3.0");
}

static void test_write_all_fields(void **state)
{
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_fx_spec(CDI_FX_ALL_TRIGGERS);
        struct cdi_device *d = spec->devices[0];
        struct cdi_device_node *n = d->edits.device_nodes[0];
        struct cdi_hook *h;
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_t *root = NULL;
        json_t *edits, *jn, *jh, *rdt;

        n->has_file_mode = n->has_uid = n->has_gid = true;
        n->file_mode = 0666;
        n->uid = 1000;
        n->gid = 44;
        h = cdi_edits_add_hook(&d->edits, "createContainer", "/usr/bin/hook");
        cdi_hook_add_arg(h, "hook");
        cdi_hook_add_arg(h, "--flag");
        cdi_hook_add_env(h, "A=1");
        h->has_timeout = true;
        h->timeout = 5;

        text = cdi_spec_to_json(spec);
        root = parse(text);
        assert_string_equal(json_string_value(json_object_get(root, "cdiVersion")), "1.1.0");
        assert_string_equal(json_string_value(json_object_get(root, "kind")), "example.com/gpu.v2");
        assert_string_equal(json_string_value(json_object_get(json_object_get(root, "annotations"),
                                                              "example.com/owner")),
                            "test");
        d = NULL;
        edits = json_object_get(json_array_get(json_object_get(root, "devices"), 0),
                                "containerEdits");
        jn = json_array_get(json_object_get(edits, "deviceNodes"), 0);
        assert_string_equal(json_string_value(json_object_get(jn, "hostPath")), "/dev/null");
        assert_int_equal(json_integer_value(json_object_get(jn, "fileMode")), 0666);
        assert_int_equal(json_integer_value(json_object_get(jn, "uid")), 1000);
        assert_int_equal(json_integer_value(json_object_get(jn, "gid")), 44);
        jh = json_array_get(json_object_get(edits, "hooks"), 0);
        assert_string_equal(json_string_value(json_object_get(jh, "hookName")), "createContainer");
        assert_int_equal(json_array_size(json_object_get(jh, "args")), 2);
        assert_int_equal(json_integer_value(json_object_get(jh, "timeout")), 5);
        assert_string_equal(json_string_value(json_object_get(
                                    json_array_get(json_object_get(edits, "mounts"), 0), "type")),
                            "bind");
        assert_int_equal(
                json_integer_value(json_array_get(json_object_get(edits, "additionalGids"), 0)),
                44);
        assert_string_equal(json_string_value(json_object_get(
                                    json_array_get(json_object_get(edits, "netDevices"), 0),
                                    "hostInterfaceName")),
                            "eth1");
        rdt = json_object_get(edits, "intelRdt");
        assert_string_equal(json_string_value(json_object_get(rdt, "closID")), "gpu-clos");
        assert_true(json_is_true(json_object_get(rdt, "enableMonitoring")));
        assert_int_equal(json_array_size(json_object_get(rdt, "schemata")), 1);
}

static void test_write_deterministic(void **state)
{
        _cleanup_cdi_spec_ struct cdi_spec *a = cdi_fx_spec(CDI_FX_ALL_TRIGGERS);
        _cleanup_cdi_spec_ struct cdi_spec *b = cdi_fx_spec(CDI_FX_ALL_TRIGGERS);
        _cleanup_free_ char *ta = NULL, *tb = NULL;

        /* Annotations are written sorted, whatever order they were set in. */
        cdi_annotations_set(&a->annotations, "b.example.com/x", "1");
        cdi_annotations_set(&a->annotations, "a.example.com/x", "2");
        cdi_annotations_set(&b->annotations, "a.example.com/x", "2");
        cdi_annotations_set(&b->annotations, "b.example.com/x", "1");
        ta = cdi_spec_to_json(a);
        tb = cdi_spec_to_json(b);
        assert_string_equal(ta, tb);
        assert_true(strstr(ta, "a.example.com/x") < strstr(ta, "b.example.com/x"));
}

static void test_write_round_trip(void **state)
{
        for (unsigned f = 0; f <= CDI_FX_ALL_TRIGGERS; f += 7) {
                _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_fx_spec(f | CDI_FX_SPEC_LEVEL);
                _cleanup_cdi_spec_ struct cdi_spec *back = NULL;
                _cleanup_free_ char *text = cdi_spec_to_json(spec), *again = NULL;
                struct hd_error e = HD_ERROR_INIT;

                if (cdi_spec_from_json(text, &back, &e) < 0)
                        fail_msg("features 0x%x: %s\n%s", f, hd_error_message(&e), text);
                assert_string_equal(back->cdi_version, cdi_fx_expected_version(f));
                again = cdi_spec_to_json(back);
                assert_string_equal(text, again);
        }
}

static void test_write_invalid_utf8(void **state)
{
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_fx_spec(0);
        _cleanup_free_ char *text = NULL, *checked = NULL;
        struct hd_error e = HD_ERROR_INIT;

        cdi_edits_add_env(&spec->devices[0]->edits, "X=\xff\xfe");
        text = cdi_spec_to_json(spec);
        assert_non_null(strstr(text, "<invalid UTF-8>"));
        assert_int_equal(cdi_spec_to_json_checked(spec, &checked, &e), -EILSEQ);
        assert_null(checked);
        assert_non_null(strstr(hd_error_message(&e), "is not valid UTF-8"));
        hd_error_done(&e);
}

/* ---- strict reader ------------------------------------------------------------------------ */

static void assert_rejected(const char *json, const char *needle)
{
        struct cdi_spec *spec = NULL;
        struct hd_error e = HD_ERROR_INIT;

        if (cdi_spec_from_json(json, &spec, &e) != -EINVAL)
                fail_msg("accepted: %s", json);
        assert_null(spec);
        if (!strstr(hd_error_message(&e), needle))
                fail_msg("message \"%s\" lacks \"%s\"", hd_error_message(&e), needle);
        hd_error_done(&e);
}

#define DEV_OK "{\"name\":\"d\",\"containerEdits\":{\"env\":[\"A=1\"]}}"
#define SPEC(ver, extra_top, dev) \
        "{\"cdiVersion\":\"" ver "\",\"kind\":\"v.com/c\",\"devices\":[" dev "]" extra_top "}"

static void test_read_accepts(void **state)
{
        _cleanup_cdi_spec_ struct cdi_spec *spec = NULL;
        struct hd_error e = HD_ERROR_INIT;
        const char *json = "{\"cdiVersion\":\"0.5.0\",\"kind\":\"v.com/c\",\"annotations\":null,"
                           "\"devices\":[{\"name\":\"d\",\"containerEdits\":{\"deviceNodes\":["
                           "{\"path\":\"/dev/x\",\"hostPath\":\"/dev/y\",\"type\":\"c\","
                           "\"major\":1,\"minor\":3,\"fileMode\":438,\"permissions\":\"rw\","
                           "\"uid\":0,\"gid\":4294967295}]}}],\"containerEdits\":{\"mounts\":["
                           "{\"hostPath\":\"/a\",\"containerPath\":\"/b\",\"options\":[\"ro\"]}],"
                           "\"hooks\":[{\"hookName\":\"poststop\",\"path\":\"/bin/true\","
                           "\"timeout\":3}]}}";

        if (cdi_spec_from_json(json, &spec, &e) < 0)
                fail_msg("%s", hd_error_message(&e));
        assert_string_equal(spec->cdi_version, "0.5.0");
        assert_int_equal(spec->n_devices, 1);
        assert_string_equal(spec->devices[0]->edits.device_nodes[0]->host_path, "/dev/y");
        assert_true(spec->devices[0]->edits.device_nodes[0]->has_file_mode);
        assert_int_equal(spec->devices[0]->edits.device_nodes[0]->file_mode, 0666);
        assert_int_equal(spec->devices[0]->edits.device_nodes[0]->gid, UINT32_MAX);
        assert_int_equal(spec->edits.hooks[0]->timeout, 3);
        assert_string_equal(spec->edits.mounts[0]->options[0], "ro");
}

static void test_read_rejects_unknown_fields(void **state)
{
        assert_rejected(SPEC("0.3.0", ",\"extra\":1", DEV_OK), "unknown field \"extra\" in spec");
        assert_rejected(SPEC("0.3.0", "",
                             "{\"name\":\"d\",\"oops\":1,\"containerEdits\":{"
                             "\"env\":[\"A=1\"]}}"),
                        "devices[0]: unknown field \"oops\" in device");
        assert_rejected(SPEC("0.3.0", "",
                             "{\"name\":\"d\",\"containerEdits\":{\"deviceNodes\":"
                             "[{\"path\":\"/dev/x\",\"hostpath\":\"/y\"}]}}"),
                        "devices[0].containerEdits.deviceNodes[0]: unknown field \"hostpath\"");
        assert_rejected(SPEC("0.3.0",
                             ",\"containerEdits\":{\"mounts\":[{\"hostPath\":\"/a\","
                             "\"containerPath\":\"/b\",\"readonly\":true}]}",
                             DEV_OK),
                        "containerEdits.mounts[0]: unknown field \"readonly\" in mount");
        /* Fields the 1.1.0 spec dropped are unknown too. */
        assert_rejected(
                SPEC("0.7.0", ",\"containerEdits\":{\"intelRdt\":{\"enableCMT\":true}}", DEV_OK),
                "containerEdits.intelRdt: unknown field \"enableCMT\"");
        assert_rejected(SPEC("0.3.0",
                             ",\"containerEdits\":{\"hooks\":[{\"hookName\":\"prestart\","
                             "\"path\":\"/x\",\"when\":1}]}",
                             DEV_OK),
                        "unknown field \"when\" in hook");
}

static void test_read_rejects_version(void **state)
{
        /* hostPath needs 0.5.0 */
        assert_rejected(SPEC("0.4.0", "",
                             "{\"name\":\"d\",\"containerEdits\":{\"deviceNodes\":"
                             "[{\"path\":\"/dev/x\",\"hostPath\":\"/dev/y\"}]}}"),
                        "cdiVersion \"0.4.0\" too low: the spec's fields need at least 0.5.0");
        /* a digit-first name needs 0.5.0 */
        assert_rejected(SPEC("0.3.0", "",
                             "{\"name\":\"0d\",\"containerEdits\":{\"env\":"
                             "[\"A=1\"]}}"),
                        "at least 0.5.0");
        /* netDevices need 1.1.0 */
        assert_rejected(SPEC("1.0.0",
                             ",\"containerEdits\":{\"netDevices\":[{\"hostInterfaceName\":"
                             "\"eth0\",\"name\":\"n0\"}]}",
                             DEV_OK),
                        "at least 1.1.0");
        assert_rejected(SPEC("0.2.0", "", DEV_OK), "at least 0.3.0");
        assert_rejected(SPEC("1.2.0", "", DEV_OK), "invalid cdiVersion \"1.2.0\"");
        assert_rejected(SPEC("v0.3.0", "", DEV_OK), "invalid cdiVersion \"v0.3.0\"");
        assert_rejected("{\"kind\":\"v.com/c\",\"devices\":[" DEV_OK "]}",
                        "cdiVersion: required field missing");
}

static void test_read_rejects_shape(void **state)
{
        assert_rejected("", "invalid JSON");
        assert_rejected("{}", "cdiVersion: required field missing");
        assert_rejected("[]", "expected a spec object");
        assert_rejected("{\"cdiVersion\":\"0.3.0\",\"cdiVersion\":\"0.3.0\"}", "invalid JSON");
        assert_rejected("{\"cdiVersion\":\"0.3.0\",\"kind\":\"v.com/c\"}",
                        "devices: required field missing");
        assert_rejected(SPEC("0.3.0", "", ""), "has no devices");
        assert_rejected(SPEC("0.3.0", "", "{\"name\":\"d\"}"),
                        "devices[0].containerEdits: required field missing");
        assert_rejected(SPEC("0.3.0", "", "{\"name\":\"d\",\"containerEdits\":{}}"),
                        "device \"d\": invalid device, empty device edits");
        assert_rejected(SPEC("0.3.0", "", "{\"name\":7,\"containerEdits\":{}}"),
                        "devices[0].name: expected a string");
        assert_rejected(SPEC("0.3.0", "", "{\"name\":\"d\",\"containerEdits\":{\"env\":\"A=1\"}}"),
                        "devices[0].containerEdits.env: expected an array of strings");
        assert_rejected(SPEC("0.3.0", "", "{\"name\":\"d\",\"containerEdits\":{\"env\":[1]}}"),
                        "devices[0].containerEdits.env[0]: expected a string");
        assert_rejected(SPEC("0.3.0", "",
                             "{\"name\":\"d\",\"containerEdits\":{\"deviceNodes\":"
                             "[{\"path\":\"/x\",\"uid\":-1}]}}"),
                        "deviceNodes[0].uid: -1 out of range");
        assert_rejected(SPEC("0.3.0", "",
                             "{\"name\":\"d\",\"containerEdits\":{\"deviceNodes\":"
                             "[{\"path\":\"/x\",\"major\":\"1\"}]}}"),
                        "deviceNodes[0].major: expected an integer");
        assert_rejected(SPEC("0.3.0", "",
                             "{\"name\":\"d\",\"containerEdits\":{\"deviceNodes\":"
                             "{\"path\":\"/x\"}}}"),
                        "devices[0].containerEdits.deviceNodes: expected an array");
        assert_rejected(SPEC("0.7.0", "",
                             "{\"name\":\"d\",\"containerEdits\":{\"additionalGids\":"
                             "[4294967296]}}"),
                        "additionalGids[0]: 4294967296 out of range");
        assert_rejected(SPEC("0.6.0", ",\"annotations\":{\"a\":1}", DEV_OK),
                        "annotations.a: expected a string");
        assert_rejected(SPEC("0.3.0", "",
                             "{\"name\":\"d\",\"containerEdits\":{\"mounts\":"
                             "[{\"containerPath\":\"/b\"}]}}"),
                        "mounts[0].hostPath: required field missing");
        /* Our rules run after parsing. */
        assert_rejected(SPEC("0.3.0", "",
                             "{\"name\":\"d\",\"containerEdits\":{\"deviceNodes\":"
                             "[{\"path\":\"/x\",\"permissions\":\"rwx\"}]}}"),
                        "device \"d\": containerEdits.deviceNodes[0].permissions \"rwx\"");
}

static const char nvidia_like_yaml[] =
        "---\n"
        "cdiVersion: 0.5.0\n"
        "kind: nvidia.com/gpu\n"
        "devices:\n"
        "- name: \"0\"\n"
        "  containerEdits: &edits\n"
        "    deviceNodes:\n"
        "    - path: /dev/nvidia0\n"
        "      hostPath: /dev/nvidia0\n"
        "      type: c\n"
        "      major: 195\n"
        "      minor: 0\n"
        "      fileMode: 0666\n"
        "      permissions: rw\n"
        "      uid: ~\n"
        "- name: all\n"
        "  containerEdits: *edits\n"
        "containerEdits:\n"
        "  env:\n"
        "  - NVIDIA_VISIBLE_DEVICES=void\n"
        "  hooks:\n"
        "  - hookName: createContainer\n"
        "    path: /usr/bin/nvidia-cdi-hook\n"
        "    args: [nvidia-cdi-hook, update-ldcache, --folder, /usr/lib/x86_64-linux-gnu]\n"
        "    timeout: 0x10\n"
        "  mounts:\n"
        "  - hostPath: /usr/lib/x86_64-linux-gnu/libcuda.so.535.54.03\n"
        "    containerPath: /usr/lib/x86_64-linux-gnu/libcuda.so.535.54.03\n"
        "    options: [ro, nosuid, nodev, bind]\n";

static void test_read_yaml(void **state)
{
        _cleanup_cdi_spec_ struct cdi_spec *spec = NULL;
        struct hd_error e = HD_ERROR_INIT;
        struct cdi_device_node *n;

        if (cdi_spec_from_yaml(nvidia_like_yaml, &spec, &e) < 0)
                fail_msg("%s", hd_error_message(&e));
        assert_string_equal(spec->cdi_version, "0.5.0");
        assert_string_equal(spec->kind, "nvidia.com/gpu");
        assert_int_equal(spec->n_devices, 2);
        assert_string_equal(spec->devices[0]->name, "0");
        n = spec->devices[0]->edits.device_nodes[0];
        assert_int_equal(n->major, 195);
        assert_true(n->has_minor);
        assert_int_equal(n->minor, 0);
        assert_int_equal(n->file_mode, 0666); /* YAML 1.1 octal, as go-yaml reads it */
        assert_false(n->has_uid);             /* ~ is null: absent */
        /* The alias gives the second device the same edits. */
        assert_string_equal(spec->devices[1]->edits.device_nodes[0]->path, "/dev/nvidia0");
        assert_int_equal(spec->edits.hooks[0]->timeout, 16);
        assert_int_equal(hd_strv_len(spec->edits.hooks[0]->args), 4);
        assert_string_equal(spec->edits.env[0], "NVIDIA_VISIBLE_DEVICES=void");
        hd_error_done(&e);
}

static void assert_yaml_rejected(const char *yaml, const char *needle)
{
        struct cdi_spec *spec = NULL;
        struct hd_error e = HD_ERROR_INIT;

        if (cdi_spec_from_yaml(yaml, &spec, &e) != -EINVAL)
                fail_msg("accepted: %s", yaml);
        assert_null(spec);
        if (!strstr(hd_error_message(&e), needle))
                fail_msg("message \"%s\" lacks \"%s\"", hd_error_message(&e), needle);
        hd_error_done(&e);
}

#define YAML_HEAD "cdiVersion: 0.3.0\nkind: v.com/c\n"

static void test_read_yaml_rejects(void **state)
{
        struct hd_error e = HD_ERROR_INIT;
        struct hd_strbuf bomb = HD_STRBUF_INIT;
        _cleanup_free_ char *bomb_text = NULL;

        assert_yaml_rejected("", "empty document");
        assert_yaml_rejected("cdiVersion: [\n", "invalid YAML at line");
        assert_yaml_rejected(YAML_HEAD "kind: v.com/d\ndevices: []\n",
                             "YAML line 3 column 1: duplicate key \"kind\"");
        assert_yaml_rejected(YAML_HEAD "devices:\n- name: d\n  containerEdits:\n"
                                       "    env: [A=1]\n    bogus: 1\n",
                             "devices[0].containerEdits: unknown field \"bogus\"");
        assert_yaml_rejected(YAML_HEAD "devices:\n- name: d\n  containerEdits:\n"
                                       "    deviceNodes:\n    - path: /dev/x\n      major: one\n",
                             "deviceNodes[0].major: expected an integer");
        /* A quoted number is a string, as in the Go loader. */
        assert_yaml_rejected(YAML_HEAD "devices:\n- name: d\n  containerEdits:\n"
                                       "    deviceNodes:\n    - path: /dev/x\n      major: '1'\n",
                             "deviceNodes[0].major: expected an integer");
        assert_yaml_rejected(YAML_HEAD "devices:\n- name: d\n  containerEdits:\n"
                                       "    deviceNodes:\n    - path: /dev/x\n"
                                       "      hostPath: /dev/y\n",
                             "too low");

        /* Nested aliases that would expand to 10^9 nodes are cut off. */
        hd_strbuf_puts(&bomb, YAML_HEAD "x0: &x0 [a, a, a, a, a, a, a, a, a, a]\n");
        for (int i = 1; i < 10; i++)
                hd_strbuf_printf(&bomb,
                                 "x%d: &x%d [*x%d, *x%d, *x%d, *x%d, *x%d, *x%d, *x%d, "
                                 "*x%d, *x%d, *x%d]\n",
                                 i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
                                 i - 1, i - 1);
        bomb_text = hd_strbuf_take(&bomb);
        assert_yaml_rejected(bomb_text, "document too large");
        hd_error_done(&e);
}

static void test_load_file(void **state)
{
        char dir[] = "/tmp/test_cdi_load.XXXXXX";
        _cleanup_free_ char *good = NULL, *bad = NULL, *link = NULL, *yaml = NULL;
        _cleanup_cdi_spec_ struct cdi_spec *spec = NULL, *yspec = NULL;
        struct hd_error e = HD_ERROR_INIT;
        FILE *f;

        assert_non_null(mkdtemp(dir));
        good = hd_asprintf("%s/good.json", dir);
        bad = hd_asprintf("%s/bad.json", dir);
        link = hd_asprintf("%s/link.json", dir);
        f = fopen(good, "w");
        fputs(SPEC("0.3.0", "", DEV_OK), f);
        fclose(f);
        f = fopen(bad, "w");
        fputs("{\"cdiVersion\":\"0.3.0\"", f);
        fclose(f);
        assert_int_equal(symlink(good, link), 0);
        yaml = hd_asprintf("%s/spec.yaml", dir);
        f = fopen(yaml, "w");
        fputs(nvidia_like_yaml, f);
        fclose(f);

        assert_int_equal(cdi_spec_load_file(good, &spec, &e), 0);
        assert_string_equal(spec->kind, "v.com/c");
        assert_int_equal(cdi_spec_load_file(bad, &spec, &e), -EINVAL);
        assert_true(hd_startswith(hd_error_message(&e), bad));
        assert_true(cdi_spec_load_file(link, &spec, &e) < 0);
        assert_int_equal(cdi_spec_load_file(yaml, &yspec, &e), 0);
        assert_string_equal(yspec->kind, "nvidia.com/gpu");

        unlink(good);
        unlink(bad);
        unlink(link);
        unlink(yaml);
        rmdir(dir);
        hd_error_done(&e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_write_claim_spec_fields),
                cmocka_unit_test(test_write_claim_spec_version),
                cmocka_unit_test(test_write_all_fields),
                cmocka_unit_test(test_write_deterministic),
                cmocka_unit_test(test_write_round_trip),
                cmocka_unit_test(test_write_invalid_utf8),
                cmocka_unit_test(test_read_accepts),
                cmocka_unit_test(test_read_rejects_unknown_fields),
                cmocka_unit_test(test_read_rejects_version),
                cmocka_unit_test(test_read_rejects_shape),
                cmocka_unit_test(test_read_yaml),
                cmocka_unit_test(test_read_yaml_rejects),
                cmocka_unit_test(test_load_file),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
