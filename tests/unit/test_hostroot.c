/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the host root (devmodel/hostroot.c): host paths looked up under a directory
 * with chroot semantics, and discovery / edits resolution through it. Device nodes need mknod,
 * so the suite runs as root (a failure otherwise, never a skip). */
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
#include "devmodel/edits.h"
#include "devmodel/glob.h"
#include "devmodel/hostroot.h"

static char *top;  /* temp dir holding both trees */
static char *root; /* top/root: the "host root" */
static char *out;  /* top/out: a tree outside the root that symlinks must never reach */

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static char *at(const char *base, const char *rel)
{
        return hd_asprintf("%s/%s", base, rel);
}

static void mkdirs(const char *base, const char *rel)
{
        char *p = at(base, rel);
        for (char *s = p + strlen(base) + 1; (s = strchr(s, '/')); s++) {
                *s = '\0';
                mkdir(p, 0755);
                *s = '/';
        }
        assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
        free(p);
}

static void touch(const char *base, const char *rel)
{
        char *p = at(base, rel);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fclose(f);
        free(p);
}

static void link_at(const char *base, const char *rel, const char *target)
{
        char *p = at(base, rel);
        assert_int_equal(symlink(target, p), 0);
        free(p);
}

static void node_at(const char *base, const char *rel, unsigned maj, unsigned min)
{
        char *p = at(base, rel);
        if (mknod(p, S_IFCHR | 0666, makedev(maj, min)) < 0)
                fail_msg("mknod %s: %s (the suite runs as root)", p, strerror(errno));
        free(p);
}

static int setup(void **state)
{
        char tmpl[] = "/tmp/hd-hostroot-XXXXXX";
        if (!mkdtemp(tmpl))
                return -1;
        top = strdup(tmpl);
        root = at(top, "root");
        out = at(top, "out");
        return mkdir(root, 0755) == 0 && mkdir(out, 0755) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
        nftw(top, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        free(top);
        free(root);
        free(out);
        top = root = out = NULL;
        return 0;
}

/* Resolve PATH under the root and compare with the root-relative WANT. */
static void expect_resolve(const char *path, const char *want)
{
        char *got = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_host_path_resolve(root, path, &got, &e), 0);
        char *expect = hd_asprintf("%s%s", root, want);
        assert_string_equal(got, expect);
        free(expect);
        free(got);
}

static void test_slash_root_is_identity(void **state)
{
        char *got = NULL;
        assert_int_equal(dm_host_path_resolve(NULL, "/dev/../x", &got, NULL), 0);
        assert_string_equal(got, "/dev/../x");
        free(got);
        assert_int_equal(dm_host_path_resolve("/", "/a", &got, NULL), 0);
        assert_string_equal(got, "/a");
        free(got);
        assert_int_equal(dm_host_path_resolve(root, "relative/x", &got, NULL), -EINVAL);
        assert_null(got);
}

static void test_dotdot_is_clamped(void **state)
{
        mkdirs(root, "etc");
        touch(root, "etc/x");
        expect_resolve("/../../etc/x", "/etc/x");
        expect_resolve("/etc/../../../etc/./x", "/etc/x");
        expect_resolve("/", "");
        expect_resolve("/..", "");
}

static void test_absolute_symlink_is_rerooted(void **state)
{
        /* /dev/mock -> /real/mock on the host: under the root it must lead to root/real/mock,
         * never to the /real/mock of the file system the plugin runs in (here: out/). */
        mkdirs(root, "dev");
        mkdirs(root, "real/mock");
        touch(root, "real/mock/device_0");
        link_at(root, "dev/mock", "/real/mock");
        expect_resolve("/dev/mock/device_0", "/real/mock/device_0");

        /* A link aiming at a directory outside the root by absolute path and by "..". */
        mkdirs(out, "lib");
        touch(out, "lib/secret.so");
        char *outside = at(out, "lib");
        link_at(root, "dev/abs", outside);
        char *want = hd_asprintf("%s/secret.so", outside);
        expect_resolve("/dev/abs/secret.so", want);
        free(want);
        link_at(root, "dev/up", "../../../../../../out/lib");
        expect_resolve("/dev/up/secret.so", "/out/lib/secret.so");

        struct stat st;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_host_stat(root, "stat", "/dev/abs/secret.so", &st, &e), -ENOENT);
        assert_non_null(strstr(hd_error_message(&e), "stat '/dev/abs/secret.so' (host root"));
        hd_error_done(&e);
        assert_int_equal(dm_host_stat(root, "stat", "/dev/up/secret.so", &st, &e), -ENOENT);
        hd_error_done(&e);
        assert_int_equal(dm_host_stat(root, "stat", "/dev/mock/device_0", &st, &e), 0);
        free(outside);
}

static void test_relative_symlink_and_loops(void **state)
{
        mkdirs(root, "sys/devices/pci0/card0");
        mkdirs(root, "sys/class/drm");
        touch(root, "sys/devices/pci0/card0/vendor");
        link_at(root, "sys/class/drm/card0", "../../devices/pci0/card0");
        expect_resolve("/sys/class/drm/card0/vendor", "/sys/devices/pci0/card0/vendor");
        /* ".." after a symlink climbs from where the link points (as the kernel does). */
        expect_resolve("/sys/class/drm/card0/../card0/vendor", "/sys/devices/pci0/card0/vendor");
        /* Missing components are kept as written. */
        expect_resolve("/sys/class/none/../x", "/sys/class/x");

        link_at(root, "l1", "/l2");
        link_at(root, "l2", "l1");
        char *got = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_host_path_resolve(root, "/l1/x", &got, &e), -ELOOP);
        assert_null(got);
        hd_error_done(&e);
}

static void test_glob_under_root(void **state)
{
        mkdirs(root, "real/mock");
        mkdirs(root, "dev");
        touch(root, "real/mock/device_0");
        touch(root, "real/mock/device_1");
        touch(root, "real/mock/.hidden_2");
        link_at(root, "dev/mock", "/real/mock");
        /* The same names outside the root must not count. */
        mkdirs(out, "real/mock");
        touch(out, "real/mock/device_9");

        struct dm_glob_match *m = NULL;
        size_t n = 0;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_glob_expand(root, "/dev/mock/device_*", &m, &n, &e), 0);
        assert_int_equal(n, 2);
        assert_string_equal(m[0].path, "/dev/mock/device_0"); /* host paths, as written */
        assert_string_equal(m[0].captures[0], "0");
        assert_string_equal(m[1].path, "/dev/mock/device_1");
        dm_glob_matches_free(m, n);
        assert_int_equal(dm_glob_expand(root, "/d?v/*/device_[01]", &m, &n, &e), 0);
        assert_int_equal(n, 2);
        assert_string_equal(m[1].path, "/dev/mock/device_1");
        dm_glob_matches_free(m, n);
        assert_int_equal(dm_glob_expand(root, "/nowhere/*", &m, &n, &e), 0);
        assert_int_equal(n, 0);
        dm_glob_matches_free(m, n);
}

static void test_discover_and_resolve_under_root(void **state)
{
        mkdirs(root, "dev/mock");
        mkdirs(root, "mock/so");
        node_at(root, "dev/mock/device_0", 1, 3);
        node_at(root, "dev/mock/device_1", 1, 5);
        touch(root, "mock/so/device_0.so");
        static const char text[] = "apiVersion: hostdev.example.com/v1alpha1\n"
                                   "kind: DeviceConfig\n"
                                   "groups:\n"
                                   "  - name: gpu\n"
                                   "    match: {globs: [\"/dev/mock/device_*\"]}\n"
                                   "    deviceEdits:\n"
                                   "      mounts: [{hostPath: \"/mock/so/{name}.so\"}]\n";
        struct dm_config *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_config_parse("t.yaml", text, strlen(text), &c, &e), 0);
        assert_int_equal(dm_config_set_host_root(c, root, &e), 0);
        struct dm_inventory *inv = NULL;
        assert_int_equal(dm_discover(c, &inv, &e), 0);
        assert_int_equal(inv->n_devices, 2);
        assert_string_equal(inv->devices[0].path, "/dev/mock/device_0"); /* the host's path */
        assert_int_equal(inv->devices[1].minor, 5);
        assert_string_equal(dm_inventory_host_root(inv), root);
        assert_int_equal(dm_device_check(&inv->devices[0], root, &e), 0);
        /* Not there without the root: /dev/mock/device_0 is not on this file system. */
        if (access("/dev/mock/device_0", F_OK) < 0)
                assert_int_equal(dm_device_check(&inv->devices[0], NULL, &e), -ENOENT);
        hd_error_done(&e);

        struct dm_edits res = {0};
        assert_int_equal(dm_edits_resolve(&inv->devices[0].edits, root, &res, &e), 0);
        assert_int_equal(res.n_mounts, 1);
        assert_string_equal(res.mounts[0].host_path, "/mock/so/device_0.so");
        assert_string_equal(res.nodes[0].host_path, "/dev/mock/device_0");
        dm_edits_done(&res);
        /* A hook program is looked up under the root too. */
        struct dm_edits hooked = {0};
        dm_edits_merge(&hooked, &inv->devices[0].edits);
        hooked.hooks = calloc(1, sizeof(*hooked.hooks));
        hooked.n_hooks = 1;
        hooked.hooks[0].hook_name = strdup("createContainer");
        hooked.hooks[0].path = strdup("/usr/bin/hostdev-test-hook");
        assert_int_equal(dm_edits_resolve(&hooked, root, &res, &e), -ENOENT);
        assert_non_null(
                strstr(hd_error_message(&e), "hook '/usr/bin/hostdev-test-hook' (host root"));
        dm_edits_done(&res);
        hd_error_done(&e);
        mkdirs(root, "usr/bin");
        touch(root, "usr/bin/hostdev-test-hook");
        assert_int_equal(dm_edits_resolve(&hooked, root, &res, &e), 0);
        assert_int_equal(res.n_hooks, 1);
        assert_string_equal(res.hooks[0].path, "/usr/bin/hostdev-test-hook");
        dm_edits_done(&res);
        dm_edits_done(&hooked);
        /* device_1.so exists nowhere under the root. */
        assert_int_equal(dm_edits_resolve(&inv->devices[1].edits, root, &res, &e), -ENOENT);
        assert_non_null(
                strstr(hd_error_message(&e), "mount source '/mock/so/device_1.so' (host root"));
        dm_edits_done(&res);
        hd_error_done(&e);

        assert_int_equal(dm_config_set_host_root(c, "/nonexistent-host-root", &e), -ENOENT);
        hd_error_done(&e);
        assert_int_equal(dm_config_set_host_root(c, "/", &e), 0);
        assert_null(c->host_root);
        dm_inventory_free(inv);
        dm_config_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_slash_root_is_identity, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dotdot_is_clamped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_absolute_symlink_is_rerooted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_relative_symlink_and_loops, setup, teardown),
                cmocka_unit_test_setup_teardown(test_glob_under_root, setup, teardown),
                cmocka_unit_test_setup_teardown(test_discover_and_resolve_under_root, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
