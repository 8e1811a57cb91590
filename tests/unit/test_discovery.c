/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for discovery on a temporary tree of real device nodes (mknod needs root; those
 * cases fail with a message otherwise: the suite runs as root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/error.h"
#include "base/strutil.h"
#include "devmodel/config.h"
#include "devmodel/discovery.h"
#include "devmodel/names.h"

static char *root;

/* The suite runs as root (README, Set-up): no mknod is a failure, never a skip. */
#define fail_needs_root() fail_msg("mknod needs root (CAP_MKNOD): run the tests as root")

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static int tree_setup(void **state)
{
        char tmpl[] = "/tmp/kp-disc-XXXXXX";
        if (!mkdtemp(tmpl))
                return -1;
        root = strdup(tmpl);
        char *dev = hd_asprintf("%s/dev", root), *mock = hd_asprintf("%s/dev/mock", root);
        int r = mkdir(dev, 0755) == 0 && mkdir(mock, 0755) == 0 ? 0 : -1;
        free(dev);
        free(mock);
        return r;
}

static int tree_teardown(void **state)
{
        nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        free(root);
        root = NULL;
        return 0;
}

/* mknod ROOT/REL as a char device MAJ:MIN; fails the test when not permitted. */
static void node(const char *rel, mode_t type, unsigned maj, unsigned min)
{
        char *p = hd_asprintf("%s/%s", root, rel);
        if (mknod(p, type | 0666, makedev(maj, min)) < 0) {
                int err = errno;
                free(p);
                if (err == EPERM)
                        fail_needs_root();
                fail_msg("mknod %s: %s", rel, strerror(err));
        }
        free(p);
}

/* Parse TEMPLATE with every "@R@" replaced by the temp root. */
static struct dm_config *config(const char *template)
{
        struct hd_strbuf b = HD_STRBUF_INIT;
        for (const char *p = template; *p;) {
                if (hd_startswith(p, "@R@")) {
                        hd_strbuf_puts(&b, root);
                        p += 3;
                } else {
                        hd_strbuf_append(&b, p++, 1);
                }
        }
        char *text = hd_strbuf_take(&b);
        struct dm_config *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        if (dm_config_parse("t.yaml", text, strlen(text), &c, &e) < 0)
                fail_msg("config: %s", hd_error_message(&e));
        hd_error_done(&e);
        free(text);
        return c;
}

static const char *attr(const struct dm_device *d, const char *name)
{
        for (size_t i = 0; i < d->n_attrs; i++)
                if (hd_streq(d->attrs[i].name, name))
                        return d->attrs[i].value;
        return NULL;
}

#define HDR "apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\ngroups:\n"

static void test_discover_glob(void **state)
{
        if (getuid() != 0)
                fail_needs_root();
        node("dev/mock/device_0", S_IFCHR, 1, 3);
        node("dev/mock/device_1", S_IFCHR, 1, 5);
        node("dev/mock/device_10", S_IFBLK, 7, 200);
        char *reg = hd_asprintf("%s/dev/mock/device_file", root);
        FILE *f = fopen(reg, "w");
        fclose(f);

        struct dm_config *c = config(HDR "  - name: gpu\n"
                                         "    match: {globs: [\"@R@/dev/mock/device_*\"]}\n"
                                         "    deviceName: \"gpu-{1}\"\n"
                                         "    containerPath: \"/dev/mock/{name}\"\n"
                                         "    permissions: rw\n"
                                         "    attributes:\n"
                                         "      index: {int: \"{index}\"}\n"
                                         "      node: {string: \"{name}@{major}:{minor}\"}\n"
                                         "    deviceEdits:\n"
                                         "      mounts: [{hostPath: \"/so/{name}.so\", options: "
                                         "[ro]}]\n"
                                         "      env: [\"DEV={device}\"]\n");
        struct dm_inventory *inv = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_discover(c, &inv, &e), 0);
        /* sorted by path: device_0, device_1, device_10; the regular file is left out */
        assert_int_equal(inv->n_devices, 3);
        assert_string_equal(inv->devices[0].name, "gpu-0");
        assert_string_equal(inv->devices[1].name, "gpu-1");
        assert_string_equal(inv->devices[2].name, "gpu-10");
        assert_int_equal(inv->devices[2].type, 'b');
        assert_int_equal(inv->devices[2].major, 7);
        assert_int_equal(inv->devices[2].minor, 200);
        assert_int_equal(hd_strv_len(inv->problems), 1);
        assert_non_null(strstr(inv->problems[0], "device_file' left out"));
        assert_non_null(strstr(inv->problems[0], "is not a character or block device node"));

        const struct dm_device *d = dm_inventory_find(inv, "gpu-1");
        assert_non_null(d);
        assert_string_equal(d->attrs[0].name, "group");
        assert_string_equal(attr(d, "group"), "gpu");
        assert_string_equal(attr(d, "path"), d->path);
        assert_string_equal(attr(d, "major"), "1");
        assert_string_equal(attr(d, "minor"), "5");
        assert_string_equal(attr(d, "index"), "1");
        assert_string_equal(attr(d, "node"), "device_1@1:5");
        assert_int_equal(d->n_attrs, 6);
        assert_int_equal(d->edits.n_nodes, 1);
        assert_string_equal(d->edits.nodes[0].path, "/dev/mock/device_1");
        assert_string_equal(d->edits.nodes[0].host_path, d->path);
        assert_string_equal(d->edits.nodes[0].permissions, "rw");
        assert_string_equal(d->edits.mounts[0].host_path, "/so/device_1.so");
        assert_string_equal(d->edits.mounts[0].container_path, "/so/device_1.so");
        assert_string_equal(d->edits.env[0], "DEV=gpu-1");
        assert_null(dm_inventory_find(inv, "gpu-2"));

        /* health: same node ok; removed → ENOENT; other numbers → ESTALE */
        assert_int_equal(dm_device_check(d, NULL, &e), 0);
        unlink(d->path);
        assert_int_equal(dm_device_check(d, NULL, &e), -ENOENT);
        node("dev/mock/device_1", S_IFCHR, 1, 7);
        assert_int_equal(dm_device_check(d, NULL, &e), -ESTALE);
        assert_non_null(strstr(e.message, "expected c 1:5, found c 1:7"));
        unlink(d->path);
        node("dev/mock/device_1", S_IFBLK, 1, 5);
        assert_int_equal(dm_device_check(d, NULL, &e), -ESTALE);

        hd_error_done(&e);
        dm_inventory_free(inv);
        dm_config_free(c);
        free(reg);
}

static void test_default_names_and_count(void **state)
{
        if (getuid() != 0)
                fail_needs_root();
        node("dev/fuse", S_IFCHR, 10, 229);
        struct dm_config *c = config(HDR "  - name: fuse\n"
                                         "    match: {paths: [\"@R@/dev/fuse\"]}\n"
                                         "    count: 3\n");
        struct dm_inventory *inv = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_discover(c, &inv, &e), 0);
        assert_int_equal(inv->n_devices, 3);
        char *base = dm_device_name_from_path(inv->devices[0].path);
        for (unsigned k = 0; k < 3; k++) {
                char *want = hd_asprintf("%s-%u", base, k);
                assert_string_equal(inv->devices[k].name, want);
                assert_string_equal(inv->devices[k].base_name, base);
                assert_int_equal(inv->devices[k].replica, k);
                free(want);
        }
        assert_null(inv->problems);
        free(base);
        dm_inventory_free(inv);
        dm_config_free(c);
        hd_error_done(&e);
}

static void test_missing_and_optional(void **state)
{
        struct dm_config *c = config(HDR "  - name: serial\n"
                                         "    optional: true\n"
                                         "    match: {paths: [\"@R@/dev/ttyS9\"], globs: "
                                         "[\"@R@/dev/ttyUSB*\"]}\n"
                                         "  - name: kvm\n"
                                         "    match: {paths: [\"@R@/dev/kvm\"]}\n");
        struct dm_inventory *inv = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_discover(c, &inv, &e), 0);
        assert_int_equal(inv->n_devices, 0);
        /* optional group: silent; required group: the missing path and the empty group */
        assert_int_equal(hd_strv_len(inv->problems), 2);
        assert_non_null(strstr(inv->problems[0], "group 'kvm': device '"));
        assert_non_null(strstr(inv->problems[0], "No such file or directory"));
        assert_string_equal(inv->problems[1], "group 'kvm': no device found; check 'match' or "
                                              "set 'optional: true'");
        dm_inventory_free(inv);
        dm_config_free(c);
        hd_error_done(&e);
}

static void test_name_collision(void **state)
{
        if (getuid() != 0)
                fail_needs_root();
        node("dev/mock/a_b", S_IFCHR, 1, 3);
        node("dev/mock/a-b", S_IFCHR, 1, 3);
        struct dm_config *c = config(HDR "  - name: x\n"
                                         "    match: {globs: [\"@R@/dev/mock/a?b\"]}\n");
        struct dm_inventory *inv = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_discover(c, &inv, &e), -EEXIST);
        assert_null(inv);
        char *a = hd_asprintf("'%s/dev/mock/a-b' (group 'x') and '%s/dev/mock/a_b' (group 'x')",
                              root, root);
        if (!strstr(e.message, a))
                fail_msg("message '%s' lacks %s", e.message, a);
        assert_non_null(strstr(e.message, "make the names distinct with 'deviceName'"));
        free(a);
        dm_config_free(c);
        hd_error_done(&e);
}

static void test_node_in_two_groups(void **state)
{
        if (getuid() != 0)
                fail_needs_root();
        node("dev/mock/shared", S_IFCHR, 1, 3);
        struct dm_config *c = config(HDR "  - name: a\n"
                                         "    match: {globs: [\"@R@/dev/mock/sh*\"]}\n"
                                         "    deviceName: \"a-{index}\"\n"
                                         "  - name: b\n"
                                         "    match: {paths: [\"@R@/dev/mock/shared\"]}\n"
                                         "    deviceName: \"b-{index}\"\n");
        struct dm_inventory *inv = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_discover(c, &inv, &e), -EEXIST);
        char *want = hd_asprintf("'%s/dev/mock/shared' is matched by groups 'a' and 'b'", root);
        if (!hd_startswith(e.message, want))
                fail_msg("message '%s'", e.message);
        free(want);
        dm_config_free(c);
        hd_error_done(&e);
}

/* With several conflicts the one reported is the one a scan of every pair in discovery order
 * meets first (the check sorts instead of comparing every pair). */
static void test_first_conflict_is_reported(void **state)
{
        if (getuid() != 0)
                fail_needs_root();
        node("dev/mock/p1", S_IFCHR, 1, 3);
        node("dev/mock/p2", S_IFCHR, 1, 3);
        /* device 1 repeats device 0's name; device 2 takes device 0's node: the name wins */
        struct dm_config *c = config(HDR "  - name: a\n"
                                         "    match: {globs: [\"@R@/dev/mock/p1*\"]}\n"
                                         "    deviceName: \"n{index}\"\n"
                                         "  - name: b\n"
                                         "    match: {globs: [\"@R@/dev/mock/p2*\"]}\n"
                                         "    deviceName: \"n{index}\"\n"
                                         "  - name: c\n"
                                         "    match: {globs: [\"@R@/dev/mock/p1*\"]}\n"
                                         "    deviceName: \"c{index}\"\n");
        struct dm_inventory *inv = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_discover(c, &inv, &e), -EEXIST);
        char *want = hd_asprintf("device name 'n0' is given to both '%s/dev/mock/p1' (group 'a') "
                                 "and '%s/dev/mock/p2' (group 'b')",
                                 root, root);
        if (!hd_startswith(e.message, want))
                fail_msg("message '%s'", e.message);
        free(want);
        dm_config_free(c);
        hd_error_done(&e);
        /* the same pair with the same node and the same name: the node is named */
        c = config(HDR "  - name: a\n"
                       "    match: {globs: [\"@R@/dev/mock/p2*\"]}\n"
                       "    deviceName: \"z{index}\"\n"
                       "  - name: b\n"
                       "    match: {globs: [\"@R@/dev/mock/p1*\"]}\n"
                       "    deviceName: \"x{index}\"\n"
                       "  - name: c\n"
                       "    match: {globs: [\"@R@/dev/mock/p1*\"]}\n"
                       "    deviceName: \"x{index}\"\n");
        assert_int_equal(dm_discover(c, &inv, &e), -EEXIST);
        want = hd_asprintf("'%s/dev/mock/p1' is matched by groups 'b' and 'c'", root);
        if (!hd_startswith(e.message, want))
                fail_msg("message '%s'", e.message);
        free(want);
        dm_config_free(c);
        hd_error_done(&e);
}

/* Replicas of one node share its path within their group: not a conflict. */
static void test_replicas_share_a_node(void **state)
{
        if (getuid() != 0)
                fail_needs_root();
        node("dev/mock/p1", S_IFCHR, 1, 3);
        node("dev/mock/p2", S_IFCHR, 1, 3);
        struct dm_config *c = config(HDR "  - name: a\n"
                                         "    match: {globs: [\"@R@/dev/mock/p*\"]}\n"
                                         "    count: 4\n");
        struct dm_inventory *inv = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_discover(c, &inv, &e), 0);
        assert_int_equal(inv->n_devices, 8);
        dm_inventory_free(inv);
        dm_config_free(c);
        hd_error_done(&e);
}

static void test_bad_rendered_name(void **state)
{
        if (getuid() != 0)
                fail_needs_root();
        node("dev/mock/Dev_A", S_IFCHR, 1, 3);
        node("dev/mock/dev-b", S_IFCHR, 1, 3);
        struct dm_config *c = config(HDR "  - name: x\n"
                                         "    match: {globs: [\"@R@/dev/mock/*\"]}\n"
                                         "    deviceName: \"{1}\"\n");
        struct dm_inventory *inv = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_discover(c, &inv, &e), 0);
        assert_int_equal(inv->n_devices, 1);
        assert_string_equal(inv->devices[0].name, "dev-b");
        assert_int_equal(hd_strv_len(inv->problems), 1);
        assert_non_null(strstr(inv->problems[0], "deviceName renders to 'Dev_A', not a lowercase "
                                                 "DNS label"));
        dm_inventory_free(inv);
        dm_config_free(c);
        hd_error_done(&e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_discover_glob, tree_setup, tree_teardown),
                cmocka_unit_test_setup_teardown(test_default_names_and_count, tree_setup,
                                                tree_teardown),
                cmocka_unit_test_setup_teardown(test_missing_and_optional, tree_setup,
                                                tree_teardown),
                cmocka_unit_test_setup_teardown(test_name_collision, tree_setup, tree_teardown),
                cmocka_unit_test_setup_teardown(test_node_in_two_groups, tree_setup, tree_teardown),
                cmocka_unit_test_setup_teardown(test_first_conflict_is_reported, tree_setup,
                                                tree_teardown),
                cmocka_unit_test_setup_teardown(test_replicas_share_a_node, tree_setup,
                                                tree_teardown),
                cmocka_unit_test_setup_teardown(test_bad_rendered_name, tree_setup, tree_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
