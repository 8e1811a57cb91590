/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the device config loader: every error class names file:line:column and the
 * fix; valid configs decode into the expected structs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "devmodel/claim_env.h"
#include "devmodel/config.h"

#define HDR "apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\ngroups:\n"

/* Parse TEXT as "t.yaml" and require failure at LINE:COL with NEEDLE in the message. */
static void expect_error(const char *text, unsigned line, unsigned col, const char *needle)
{
        struct dm_config *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        int r = dm_config_parse("t.yaml", text, strlen(text), &c, &e);
        char *pos = hd_asprintf("t.yaml:%u:%u: ", line, col);
        if (r >= 0 || !hd_startswith(e.message, pos) || !strstr(e.message, needle))
                print_error("got r=%d message '%s'\nwant prefix '%s' and '%s'\n", r,
                            hd_error_message(&e), pos, needle);
        assert_true(r < 0);
        assert_null(c);
        assert_true(hd_startswith(e.message, pos));
        assert_non_null(strstr(e.message, needle));
        free(pos);
        hd_error_done(&e);
}

static struct dm_config *expect_ok(const char *text)
{
        struct dm_config *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        int r = dm_config_parse("t.yaml", text, strlen(text), &c, &e);
        if (r < 0)
                print_error("unexpected error: %s\n", hd_error_message(&e));
        assert_int_equal(r, 0);
        hd_error_done(&e);
        return c;
}

#define ERR_TEST(fn, text, line, col, needle)          \
        static void fn(void **state)                   \
        {                                              \
                expect_error(text, line, col, needle); \
        }

/* A group that is valid on its own; cases append one bad line at line 6, column 5. */
#define G "  - name: gpu\n    match: {globs: [\"/dev/mock/device_*\"]}\n"

ERR_TEST(test_unknown_key, HDR G "    globz: x\n", 6, 5,
         "unknown key 'globz' in a group; expected one of: name, match, optional, count")
ERR_TEST(test_unknown_top_key, "apiVersion: hostdev.example.com/v1alpha1\nspecs: []\n", 2, 1,
         "unknown key 'specs' in the config; expected one of: apiVersion, kind, groups")
ERR_TEST(test_unknown_edit_key, HDR G "    deviceEdits: {mount: []}\n", 6, 19,
         "unknown key 'mount' in deviceEdits; expected one of: deviceNodes, mounts, env, hooks")
ERR_TEST(test_wrong_type_count, HDR G "    count: ten\n", 6, 12,
         "'count' must be an integer from 1 to 1024, got 'ten'")
ERR_TEST(test_count_zero, HDR G "    count: 0\n", 6, 12,
         "'count' must be an integer from 1 to 1024, got '0'")
ERR_TEST(test_bad_timeout,
         HDR G "    commonEdits: {hooks: [{hookName: prestart, path: /bin/h, timeout: -1}]}\n", 6,
         71, "'timeout' must be an integer from 0 to 3600, got '-1'")
ERR_TEST(test_empty_string, HDR G "    deviceName: \"\"\n", 6, 17,
         "'deviceName' must not be empty; give a value or remove the key")
ERR_TEST(test_wrong_type_bool, HDR G "    optional: maybe\n", 6, 15,
         "'optional' must be true or false, got 'maybe'")
ERR_TEST(test_wrong_type_match, HDR "  - name: gpu\n    match: /dev/null\n", 5, 12,
         "'match' must be a mapping, got a scalar")
ERR_TEST(test_wrong_type_list, HDR "  - name: gpu\n    match: {paths: /dev/null}\n", 5, 20,
         "'paths' must be a list of strings, got a scalar")
ERR_TEST(test_wrong_type_groups, HDR "  name: gpu\n", 4, 3,
         "'groups' must be a list, got a mapping")
ERR_TEST(test_empty_match, HDR "  - name: gpu\n    match: {}\n", 5, 12,
         "'match' needs at least one entry in 'paths' or 'globs'")
ERR_TEST(test_missing_name, HDR "  - match: {paths: [/dev/null]}\n", 4, 5,
         "a group lacks required key 'name'")
ERR_TEST(test_duplicate_key, HDR G "    name: gpu2\n", 6, 5,
         "duplicate key 'name' in a group; keep only one")
ERR_TEST(test_bad_api_version, "apiVersion: v1\nkind: DeviceConfig\ngroups: []\n", 1, 13,
         "unsupported apiVersion 'v1'; use 'hostdev.example.com/v1alpha1'")
ERR_TEST(test_bad_kind, "apiVersion: hostdev.example.com/v1alpha1\nkind: Config\n", 2, 7,
         "unsupported kind 'Config'; use 'DeviceConfig'")
ERR_TEST(test_no_groups, HDR, 3, 8, "'groups' must be a list, got a scalar")
ERR_TEST(test_syntax_error, HDR "  - name: [gpu\n", 5, 1, "YAML syntax error")
ERR_TEST(test_second_document, HDR G "---\nfoo: 1\n", 6, 1,
         "a second YAML document; put all groups in one document")
ERR_TEST(test_bad_glob_bracket, HDR "  - name: tty\n    match: {globs: [\"/dev/tty[USB*\"]}\n", 5,
         21, "glob '/dev/tty[USB*': '[' at offset 8 is not closed")
ERR_TEST(test_bad_glob_relative, HDR "  - name: tty\n    match: {globs: [\"dev/tty*\"]}\n", 5, 21,
         "glob 'dev/tty*' is not an absolute path; start it with '/'")
ERR_TEST(test_bad_glob_recursive, HDR "  - name: tty\n    match: {globs: [\"/dev/**/x\"]}\n", 5, 21,
         "'**' does not recurse here")
ERR_TEST(test_relative_path, HDR "  - name: tty\n    match: {paths: [ttyUSB0]}\n", 5, 21,
         "path 'ttyUSB0' is a relative path; use an absolute path such as '/dev/ttyUSB0'")
ERR_TEST(test_glob_in_paths, HDR "  - name: tty\n    match: {paths: [\"/dev/tty*\"]}\n", 5, 21,
         "holds glob characters; move it to 'globs'")
ERR_TEST(test_relative_mount, HDR G "    deviceEdits: {mounts: [{hostPath: lib/x.so}]}\n", 6, 28,
         "mount hostPath 'lib/x.so' is a relative path")
ERR_TEST(test_relative_node, HDR G "    commonEdits: {deviceNodes: [{path: dev/ctl}]}\n", 6, 33,
         "deviceNodes path 'dev/ctl' is a relative path")
ERR_TEST(test_relative_hook,
         HDR G "    commonEdits: {hooks: [{hookName: prestart, path: bin/hook}]}\n", 6, 27,
         "hook path 'bin/hook' is a relative path")
ERR_TEST(test_bad_hook_name, HDR G "    commonEdits: {hooks: [{hookName: later, path: /bin/h}]}\n",
         6, 27, "unknown hookName 'later'; use prestart, createRuntime")
ERR_TEST(test_bad_env, HDR G "    deviceEdits: {env: [NOEQUALS]}\n", 6, 25,
         "env entry 'NOEQUALS' must have the form KEY=VALUE")
ERR_TEST(test_duplicate_group, HDR G "  - name: gpu\n    match: {paths: [/dev/null]}\n", 6, 11,
         "duplicate group name 'gpu' (first at line 4); group names must be unique")
ERR_TEST(test_bad_group_name, HDR "  - name: GPU_0\n    match: {paths: [/dev/null]}\n", 4, 11,
         "group name 'GPU_0' must be a lowercase DNS label starting with a letter")
ERR_TEST(test_duplicate_device_names,
         HDR "  - name: a\n    match: {paths: [/dev/a_b]}\n  - name: b\n    match: {paths: "
             "[/dev/a-b]}\n",
         7, 21,
         "device name 'a-b' of path '/dev/a-b' (group 'b') is also the name of path '/dev/a_b' "
         "(group 'a', line 5 column 21)")
ERR_TEST(test_literal_device_name_many_paths,
         HDR "  - name: a\n    match: {paths: [/dev/a, /dev/b]}\n    deviceName: dev\n", 6, 17,
         "deviceName 'dev' has no template variable but the group matches several paths")
ERR_TEST(test_bad_device_name, HDR G "    deviceName: Dev_0\n", 6, 17,
         "deviceName 'Dev_0' is not a lowercase DNS label")
ERR_TEST(test_bad_attr_name, HDR G "    attributes: {bad-name: {string: x}}\n", 6, 18,
         "attribute name 'bad-name' is not a C identifier")
ERR_TEST(test_attr_name_too_long,
         HDR G "    attributes: {a234567890123456789012345678901x3: {int: 1}}\n", 6, 18,
         "attribute name 'a234567890123456789012345678901x3' is longer than 32 characters")
ERR_TEST(test_attr_domain_bad, HDR G "    attributes: {Bad_Domain/model: {string: x}}\n", 6, 18,
         "domain 'Bad_Domain' is not a lowercase DNS subdomain")
ERR_TEST(test_attr_builtin, HDR G "    attributes: {path: {string: x}}\n", 6, 18,
         "attribute 'path' is built in")
ERR_TEST(test_attr_unknown_type, HDR G "    attributes: {size: {float: 1.5}}\n", 6, 25,
         "attribute 'size' has unknown type 'float'; use int, bool, string or version")
ERR_TEST(test_attr_two_types, HDR G "    attributes: {size: {int: 1, string: x}}\n", 6, 24,
         "attribute 'size' must be a mapping with exactly one of int, bool, string, version")
ERR_TEST(test_attr_bad_int, HDR G "    attributes: {size: {int: big}}\n", 6, 18,
         "attribute 'size': 'big' is not a 64-bit integer")
ERR_TEST(test_attr_bad_bool, HDR G "    attributes: {fast: {bool: yes}}\n", 6, 18,
         "attribute 'fast': 'yes' is not true or false")
ERR_TEST(test_attr_string_too_long,
         HDR G "    attributes: {model: {string: "
               "\"12345678901234567890123456789012345678901234567890123456789012345\"}}\n",
         6, 18, "attribute 'model': string value is 65 bytes; the API server allows at most 64")
ERR_TEST(test_attr_version_too_long,
         HDR G "    attributes: {fw: {version: "
               "\"1.0.0-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}\n",
         6, 18, "attribute 'fw': version value is 72 bytes; the API server allows at most 64")
ERR_TEST(test_attr_not_semver, HDR G "    attributes: {fw: {version: \"6.19.14.31400000\"}}\n", 6,
         18, "attribute 'fw': '6.19.14.31400000' is not a SemVer 2.0.0 version")
ERR_TEST(test_attr_unquoted_template, HDR G "    attributes: {idx: {int: {index}}}\n", 6, 29,
         "'int' must be a scalar value or template, got a mapping; quote templates")
ERR_TEST(test_bad_permissions, HDR G "    permissions: rwx\n", 6, 18,
         "permissions 'rwx' must be a non-repeating subset of 'rwm'")
ERR_TEST(test_repeated_permissions,
         HDR G "    deviceEdits: {deviceNodes: [{path: /dev/x, permissions: rr}]}\n", 6, 61,
         "permissions 'rr' must be a non-repeating subset of 'rwm'")
ERR_TEST(test_bad_template_var, HDR G "    deviceName: \"gpu-{foo}\"\n", 6, 17,
         "deviceName: template 'gpu-{foo}': unknown or unavailable variable '{foo}'; use one of: "
         "{index}, {name}, {path}, {major}, {minor}, {1}..{1}")
ERR_TEST(test_template_capture_missing, HDR G "    deviceName: \"gpu-{2}\"\n", 6, 17,
         "'{2}' needs glob wildcard 2 but the group's matches provide 1")
ERR_TEST(test_template_unclosed, HDR G "    attributes: {x: {string: \"a{index\"}}\n", 6, 18,
         "'{' at offset 1 is not closed")
ERR_TEST(test_template_in_common, HDR G "    commonEdits: {env: [\"DEV={index}\"]}\n", 6, 25,
         "commonEdits: template 'DEV={index}': unknown or unavailable variable '{index}'; use "
         "one of: none")
ERR_TEST(test_capture_with_paths,
         HDR "  - name: a\n    match: {paths: [/dev/a]}\n"
             "    deviceName: \"a-{1}\"\n",
         6, 17, "'{1}' needs glob wildcard 1 but the group's matches provide 0")
ERR_TEST(test_glob_mount_in_device_edits,
         HDR G "    deviceEdits: {mounts: [{hostPath: \"/usr/lib/libx.so.*\"}]}\n", 6, 28,
         "globs in mounts are expanded only in commonEdits")

ERR_TEST(test_claim_env_bad_pattern, HDR G "    claimEnv: {allow: [\"A-B\"]}\n", 6, 24,
         "claimEnv.allow pattern 'A-B'")
ERR_TEST(test_claim_env_unknown_key, HDR G "claimEnv: {deny: [X]}\n", 6, 12,
         "unknown key 'deny' in 'claimEnv'")

/* A claim's env: never a name the admin's edits set (templates match any text), loader
 * variables only when a non-star pattern names them, and every allow list that applies. */
static void test_claim_env_rules(void **state)
{
        (void)state;
        struct dm_config *c = expect_ok(
                HDR G "    deviceEdits: {env: [\"DEV_{1}_ID=x\", \"VISIBLE_DEVICES={1}\"]}\n"
                      "    commonEdits: {env: [\"MODE=admin\"]}\n"
                      "    claimEnv: {allow: [\"APP_*\", \"LD_LIBRARY_PATH\"]}\n"
                      "  - name: other\n    match: {paths: [/dev/null]}\n"
                      "claimEnv: {allow: [\"*\"]}\n");
        const struct dm_group *gpu = &c->groups[0], *other = &c->groups[1];
        assert_true(c->claim_env.set && gpu->claim_env.set && !other->claim_env.set);
        struct {
                const struct dm_group *g;
                const char *env;
                const char *needle; /* NULL: allowed */
        } cases[] = {
                {gpu, "APP_X=1", NULL},
                {gpu, "LD_LIBRARY_PATH=/opt", NULL},
                {gpu, "FOO=1", "claimEnv.allow of group 'gpu'"},
                {gpu, "VISIBLE_DEVICES=all", "sets it (group 'gpu'"},
                {other, "VISIBLE_DEVICES=all", "sets it (group 'gpu'"}, /* any group's */
                {other, "MODE=x", "'MODE=admin'"},
                {other, "DEV_7_ID=x", "'DEV_{1}_ID=x'"},
                {other, "DEV_ID=x", NULL},
                {other, "FOO=1", NULL},
                {other, "LD_PRELOAD=/x.so", "dynamic-loader"}, /* "*" does not open it */
                {other, "LD_LIBRARY_PATH=/x", "dynamic-loader"},
                {NULL, "GCONV_PATH=/x", "dynamic-loader"},
        };
        for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
                char *env[] = {(char *)cases[i].env, NULL};
                struct hd_error e = HD_ERROR_INIT;
                int r = dm_claim_env_check(c, cases[i].g, env, &e);
                if ((r < 0) != (cases[i].needle != NULL) ||
                    (r < 0 && !strstr(e.message, cases[i].needle)))
                        print_error("case %zu '%s': r=%d '%s'\n", i, cases[i].env, r,
                                    hd_error_message(&e));
                if (cases[i].needle) {
                        assert_int_equal(r, -EPERM);
                        assert_non_null(strstr(e.message, cases[i].needle));
                        assert_non_null(strstr(e.message, "a claim may not set"));
                } else {
                        assert_int_equal(r, 0);
                }
                hd_error_done(&e);
        }
        /* No allow list anywhere: any ordinary name, still no loader variable. */
        struct dm_config *plain = expect_ok(HDR G);
        char *ok[] = {"FOO=1", "PATH=/x", NULL}, *ld[] = {"LD_AUDIT=/x", NULL};
        assert_int_equal(dm_claim_env_check(plain, &plain->groups[0], ok, NULL), 0);
        assert_int_equal(dm_claim_env_check(plain, &plain->groups[0], ld, NULL), -EPERM);
        dm_config_free(plain);
        dm_config_free(c);
}

static void test_too_many_attributes(void **state)
{
        struct hd_strbuf b = HD_STRBUF_INIT;
        hd_strbuf_puts(&b, HDR G "    attributes:\n");
        for (int i = 0; i < 29; i++)
                hd_strbuf_printf(&b, "      a%d: {int: %d}\n", i, i);
        /* 29 + the 4 built-ins = 33 > 32; the error points at the first attribute too many. */
        expect_error(b.buf, 7 + 28, 7,
                     "group 'gpu' has 29 attributes plus the 4 built-in ones (group, path, "
                     "major, minor); the API server allows at most 32 per device, remove 1");
        hd_strbuf_done(&b);

        /* 28 is fine. */
        b = (struct hd_strbuf)HD_STRBUF_INIT;
        hd_strbuf_puts(&b, HDR G "    attributes:\n");
        for (int i = 0; i < 28; i++)
                hd_strbuf_printf(&b, "      a%d: {int: %d}\n", i, i);
        dm_config_free(expect_ok(b.buf));
        hd_strbuf_done(&b);
}

/* Aliases are not expanded by libyaml's document API but a walker would revisit them: a small
 * file must not make the loader do exponential work. */
static void test_alias_bomb(void **state)
{
        struct hd_strbuf b = HD_STRBUF_INIT;
        /* 200 aliases of a group holding 200 aliases of a mount with 200 options: 8M visits */
        hd_strbuf_puts(&b, "apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\n"
                           "groups:\n  - &g\n    name: g\n    match: {paths: [/dev/null]}\n"
                           "    commonEdits:\n      mounts:\n        - &m\n"
                           "          hostPath: /x\n          options: [");
        for (int i = 0; i < 200; i++)
                hd_strbuf_printf(&b, "%so%d", i ? ", " : "", i);
        hd_strbuf_puts(&b, "]\n");
        for (int i = 0; i < 200; i++)
                hd_strbuf_puts(&b, "        - *m\n");
        for (int i = 0; i < 200; i++)
                hd_strbuf_puts(&b, "  - *g\n");
        struct dm_config *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_config_parse("t.yaml", b.buf, b.len, &c, &e), -EINVAL);
        assert_true(hd_startswith(e.message, "t.yaml:"));
        assert_non_null(strstr(e.message, "document too complex"));
        hd_error_done(&e);
        hd_strbuf_done(&b);
}

static void test_empty_config(void **state)
{
        struct dm_config *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_config_parse("t.yaml", "", 0, &c, &e), -EINVAL);
        assert_string_equal(e.message, "t.yaml: the config is empty; start with 'apiVersion: "
                                       "hostdev.example.com/v1alpha1'");
        hd_error_done(&e);
}

static void test_missing_file(void **state)
{
        struct dm_config *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_config_load("/nonexistent/config.yaml", &c, &e), -ENOENT);
        assert_non_null(strstr(e.message, "/nonexistent/config.yaml"));
        hd_error_done(&e);
}

static void test_full_group(void **state)
{
        struct dm_config *c = expect_ok(
                HDR "  - name: gpu\n"
                    "    match:\n"
                    "      paths: [/dev/mock/extra]\n"
                    "      globs: [\"/dev/mock/device_*\"]\n"
                    "    optional: true\n"
                    "    count: 2\n"
                    "    deviceName: \"gpu-{index}\"\n"
                    "    containerPath: \"/dev/mock/{name}\"\n"
                    "    permissions: rw\n"
                    "    attributes:\n"
                    "      index: {int: \"{index}\"}\n"
                    "      model: {string: mock}\n"
                    "      fast: {bool: true}\n"
                    "      example.com/fw: {version: 1.2.3-rc.1+b5}\n"
                    "    deviceEdits:\n"
                    "      deviceNodes: [{path: \"/dev/mock/ctl{index}\", hostPath: "
                    "\"/dev/mock/ctl\", permissions: r, optional: true}]\n"
                    "      mounts:\n"
                    "        - hostPath: \"/mock/so/{name}.so\"\n"
                    "          options: [ro, bind]\n"
                    "      env: [\"DEV={device}\"]\n"
                    "    commonEdits:\n"
                    "      mounts: [{hostPath: \"/usr/lib/libmock.so.*\", optional: true}]\n"
                    "      hooks: [{hookName: createContainer, path: /bin/true, args: [true], "
                    "timeout: 5}]\n");
        assert_int_equal(c->n_groups, 1);
        const struct dm_group *g = dm_config_find_group(c, "gpu");
        assert_non_null(g);
        assert_string_equal(g->paths[0], "/dev/mock/extra");
        assert_string_equal(g->globs[0], "/dev/mock/device_*");
        assert_true(g->optional);
        assert_int_equal(g->count, 2);
        assert_int_equal(g->n_captures, 0); /* explicit paths have no captures */
        assert_string_equal(g->device_name, "gpu-{index}");
        assert_string_equal(g->container_path, "/dev/mock/{name}");
        assert_string_equal(g->permissions, "rw");
        assert_int_equal(g->n_attrs, 4);
        assert_string_equal(g->attrs[0].name, "index");
        assert_int_equal(g->attrs[0].type, DM_ATTR_INT);
        assert_string_equal(g->attrs[0].value, "{index}");
        assert_int_equal(g->attrs[2].type, DM_ATTR_BOOL);
        assert_int_equal(g->attrs[3].type, DM_ATTR_VERSION);
        assert_int_equal(g->attrs[3].mark.line, 17);
        assert_int_equal(g->device_edits.n_nodes, 1);
        assert_string_equal(g->device_edits.nodes[0].host_path, "/dev/mock/ctl");
        assert_true(g->device_edits.nodes[0].optional);
        assert_int_equal(g->device_edits.n_mounts, 1);
        assert_null(g->device_edits.mounts[0].container_path);
        assert_string_equal(g->device_edits.mounts[0].options[1], "bind");
        assert_string_equal(g->device_edits.env[0], "DEV={device}");
        assert_int_equal(g->common_edits.n_hooks, 1);
        assert_int_equal(g->common_edits.hooks[0].timeout, 5);
        assert_null(dm_config_find_group(c, "nope"));
        dm_config_free(c);
}

static void test_defaults(void **state)
{
        struct dm_config *c = expect_ok(HDR G);
        assert_int_equal(c->groups[0].count, 1);
        assert_false(c->groups[0].optional);
        assert_null(c->groups[0].device_name);
        assert_int_equal(c->groups[0].n_captures, 1);
        assert_int_equal(c->groups[0].mark.line, 4);
        assert_int_equal(c->groups[0].mark.column, 5);
        dm_config_free(c);
}

static void test_attr_value_check(void **state)
{
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_attr_value_check("a", DM_ATTR_INT, "-9223372036854775808", &e), 0);
        assert_int_equal(dm_attr_value_check("a", DM_ATTR_INT, "9223372036854775808", &e), -EINVAL);
        assert_int_equal(dm_attr_value_check("a", DM_ATTR_VERSION, "1.2.3", &e), 0);
        assert_int_equal(dm_attr_value_check("a", DM_ATTR_VERSION, "v1.2.3", &e), -EINVAL);
        assert_int_equal(dm_attr_value_check("a", DM_ATTR_BOOL, "false", &e), 0);
        hd_error_done(&e);
}

#ifndef HOSTDEV_SOURCE_DIR
#define HOSTDEV_SOURCE_DIR "."
#endif

/* Every shipped example loads. */
static void test_examples_load(void **state)
{
        const char *names[] = {"mock-gpus", "fuse", "serial", "nvidia", "amd", "kvm-tun"};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                char *path =
                        hd_asprintf("%s/deploy/examples/%s.yaml", HOSTDEV_SOURCE_DIR, names[i]);
                struct dm_config *c = NULL;
                struct hd_error e = HD_ERROR_INIT;
                if (dm_config_load(path, &c, &e) < 0)
                        fail_msg("%s", hd_error_message(&e));
                assert_true(c->n_groups >= 1);
                dm_config_free(c);
                free(path);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unknown_key),
                cmocka_unit_test(test_claim_env_bad_pattern),
                cmocka_unit_test(test_claim_env_unknown_key),
                cmocka_unit_test(test_claim_env_rules),
                cmocka_unit_test(test_unknown_top_key),
                cmocka_unit_test(test_unknown_edit_key),
                cmocka_unit_test(test_wrong_type_count),
                cmocka_unit_test(test_count_zero),
                cmocka_unit_test(test_bad_timeout),
                cmocka_unit_test(test_empty_string),
                cmocka_unit_test(test_wrong_type_bool),
                cmocka_unit_test(test_wrong_type_match),
                cmocka_unit_test(test_wrong_type_list),
                cmocka_unit_test(test_wrong_type_groups),
                cmocka_unit_test(test_empty_match),
                cmocka_unit_test(test_missing_name),
                cmocka_unit_test(test_duplicate_key),
                cmocka_unit_test(test_bad_api_version),
                cmocka_unit_test(test_bad_kind),
                cmocka_unit_test(test_no_groups),
                cmocka_unit_test(test_syntax_error),
                cmocka_unit_test(test_second_document),
                cmocka_unit_test(test_bad_glob_bracket),
                cmocka_unit_test(test_bad_glob_relative),
                cmocka_unit_test(test_bad_glob_recursive),
                cmocka_unit_test(test_relative_path),
                cmocka_unit_test(test_glob_in_paths),
                cmocka_unit_test(test_relative_mount),
                cmocka_unit_test(test_relative_node),
                cmocka_unit_test(test_relative_hook),
                cmocka_unit_test(test_bad_hook_name),
                cmocka_unit_test(test_bad_env),
                cmocka_unit_test(test_duplicate_group),
                cmocka_unit_test(test_bad_group_name),
                cmocka_unit_test(test_duplicate_device_names),
                cmocka_unit_test(test_literal_device_name_many_paths),
                cmocka_unit_test(test_bad_device_name),
                cmocka_unit_test(test_bad_attr_name),
                cmocka_unit_test(test_attr_name_too_long),
                cmocka_unit_test(test_attr_domain_bad),
                cmocka_unit_test(test_attr_builtin),
                cmocka_unit_test(test_attr_unknown_type),
                cmocka_unit_test(test_attr_two_types),
                cmocka_unit_test(test_attr_bad_int),
                cmocka_unit_test(test_attr_bad_bool),
                cmocka_unit_test(test_attr_string_too_long),
                cmocka_unit_test(test_attr_version_too_long),
                cmocka_unit_test(test_attr_not_semver),
                cmocka_unit_test(test_attr_unquoted_template),
                cmocka_unit_test(test_bad_permissions),
                cmocka_unit_test(test_repeated_permissions),
                cmocka_unit_test(test_bad_template_var),
                cmocka_unit_test(test_template_capture_missing),
                cmocka_unit_test(test_template_unclosed),
                cmocka_unit_test(test_template_in_common),
                cmocka_unit_test(test_capture_with_paths),
                cmocka_unit_test(test_glob_mount_in_device_edits),
                cmocka_unit_test(test_too_many_attributes),
                cmocka_unit_test(test_alias_bomb),
                cmocka_unit_test(test_empty_config),
                cmocka_unit_test(test_missing_file),
                cmocka_unit_test(test_full_group),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_attr_value_check),
                cmocka_unit_test(test_examples_load),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
