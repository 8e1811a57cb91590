/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for device-plugin mode's device-model pieces: NUMA nodes from a fake sysfs tree,
 * the preferred-allocation choice, and the resourceName rules (names.c and the config). */
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
#include <unistd.h>

#include "base/error.h"
#include "base/strutil.h"
#include "devmodel/config.h"
#include "devmodel/names.h"
#include "devmodel/numa.h"

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

static void write_numa(const char *root, const char *kind, const char *majmin, const char *text)
{
        char *dir = hd_asprintf("%s/dev/%s/%s/device", root, kind, majmin);
        char *cmd = hd_asprintf("mkdir -p '%s'", dir);
        assert_int_equal(system(cmd), 0);
        char *file = hd_asprintf("%s/numa_node", dir);
        FILE *f = fopen(file, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        free(file);
        free(cmd);
        free(dir);
}

static void test_numa_node_from_sysfs(void **state)
{
        (void)state;
        char tmpl[] = "/tmp/kp-numa-XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        write_numa(tmpl, "char", "240:1", "1\n");
        write_numa(tmpl, "char", "240:2", "-1\n");
        write_numa(tmpl, "char", "240:3", "garbage\n");
        write_numa(tmpl, "block", "8:0", "0");
        assert_int_equal(dm_numa_node(tmpl, 'c', 240, 1), 1);
        assert_int_equal(dm_numa_node(tmpl, 'c', 240, 2), -1); /* kernel: no affinity */
        assert_int_equal(dm_numa_node(tmpl, 'c', 240, 3), -1); /* not a number */
        assert_int_equal(dm_numa_node(tmpl, 'c', 240, 4), -1); /* no such device */
        assert_int_equal(dm_numa_node(tmpl, 'b', 8, 0), 0);
        assert_int_equal(dm_numa_node(tmpl, 'c', 8, 0), -1); /* char and block differ */
        assert_int_equal(nftw(tmpl, rm_cb, 8, FTW_DEPTH | FTW_PHYS), 0);
}

/* d0..d7: d0-d3 on node 0, d4-d7 on node 1, d8 unknown. */
static const struct dm_numa_device order[] = {
        {"d0", 0}, {"d1", 0}, {"d2", 0}, {"d3", 0},  {"d4", 1},
        {"d5", 1}, {"d6", 1}, {"d7", 1}, {"d8", -1},
};

/* Run dm_numa_prefer and return the choice as one space-separated string (static buffer). */
static const char *prefer(char *const *avail, char *const *must, size_t size)
{
        static char out[256];
        const char *ret[16] = {0};
        size_t n = dm_numa_prefer(order, sizeof(order) / sizeof(order[0]), avail,
                                  hd_strv_len(avail), must, hd_strv_len(must), size, ret);
        out[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                if (i)
                        strcat(out, " ");
                strcat(out, ret[i]);
        }
        return out;
}

static void test_prefer_device_order(void **state)
{
        (void)state;
        char *all[] = {"d7", "d6", "d5", "d4", "d3", "d2", "d1", "d0", NULL};
        assert_string_equal(prefer(all, NULL, 2), "d0 d1");
        assert_string_equal(prefer(all, NULL, 4), "d0 d1 d2 d3");
}

static void test_prefer_fewest_numa_nodes(void **state)
{
        (void)state;
        /* Node 0 has only d0 and d1 left: 3 devices fit on node 1 alone. */
        char *avail[] = {"d0", "d1", "d4", "d5", "d6", NULL};
        assert_string_equal(prefer(avail, NULL, 3), "d4 d5 d6");
        /* 2 fit on node 0, the first in device order. */
        assert_string_equal(prefer(avail, NULL, 2), "d0 d1");
        /* 4 fit on no single node: the fuller node first, then the other. */
        assert_string_equal(prefer(avail, NULL, 4), "d0 d4 d5 d6");
}

static void test_prefer_must_include_first(void **state)
{
        (void)state;
        char *avail[] = {"d0", "d1", "d2", "d4", "d5", "d6", NULL};
        char *must[] = {"d5", NULL};
        /* d5 pins node 1: the rest comes from node 1 too, though node 0 is first in order. */
        assert_string_equal(prefer(avail, must, 3), "d5 d4 d6");
        /* A must-include ID that is not available is never returned. */
        char *must_gone[] = {"d7", "d0", NULL};
        assert_string_equal(prefer(avail, must_gone, 2), "d0 d1");
        /* More must-include than the size: the first SIZE of them. */
        char *many[] = {"d6", "d0", "d1", NULL};
        assert_string_equal(prefer(avail, many, 2), "d6 d0");
}

static void test_prefer_never_outside_available(void **state)
{
        (void)state;
        char *avail[] = {"d3", "d8", "zz", "d3", NULL}; /* duplicate and unknown IDs */
        assert_string_equal(prefer(avail, NULL, 8), "d3 d8 zz");
        assert_string_equal(prefer(avail, NULL, 1), "d3");
        char *none[] = {NULL};
        assert_string_equal(prefer(none, NULL, 2), "");
}

static void test_resource_name_check(void **state)
{
        (void)state;
        const char *good[] = {"example.com/gpu", "hostdev.example.com/gpu", "a.b/C_d.e-9",
                              "example.com/x"};
        const char *bad[] = {"gpu",
                             "example.com/",
                             "/gpu",
                             "Example.com/gpu",
                             "kubernetes.io/gpu",
                             "foo.kubernetes.io/gpu",
                             "example.com/-gpu",
                             "example.com/g/pu",
                             "example.com/g pu"};
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                assert_int_equal(dm_resource_name_check(good[i], NULL), 0);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct hd_error e = HD_ERROR_INIT;
                assert_int_equal(dm_resource_name_check(bad[i], &e), -EINVAL);
                assert_non_null(strstr(hd_error_message(&e), bad[i]));
                hd_error_done(&e);
        }
}

static int parse(const char *groups, struct hd_error *e, struct dm_config **c)
{
        char *doc = hd_asprintf("apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\n"
                                "groups:\n%s",
                                groups);
        int r = dm_config_parse("config.yaml", doc, strlen(doc), c, e);
        free(doc);
        return r;
}

static void test_config_resource_name(void **state)
{
        (void)state;
        struct dm_config *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(parse("  - name: gpu\n    match: {paths: [/dev/a]}\n"
                               "    resourceName: vendor.io/accel\n"
                               "  - name: tty\n    match: {paths: [/dev/b]}\n",
                               &e, &c),
                         0);
        assert_string_equal(c->groups[0].resource_name, "vendor.io/accel");
        assert_null(c->groups[1].resource_name); /* default decided by the plugin */
        c = dm_config_free(c);

        assert_int_equal(parse("  - name: gpu\n    match: {paths: [/dev/a]}\n"
                               "    resourceName: kubernetes.io/gpu\n",
                               &e, &c),
                         -EINVAL);
        const char *m = hd_error_message(&e);
        assert_non_null(strstr(m, "config.yaml:6:19:"));
        assert_non_null(strstr(m, "group 'gpu'"));
        assert_non_null(strstr(m, "'kubernetes.io/gpu'"));
        hd_error_done(&e);

        e = (struct hd_error)HD_ERROR_INIT;
        assert_int_equal(parse("  - name: a\n    match: {paths: [/dev/a]}\n"
                               "    resourceName: x.io/r\n"
                               "  - name: b\n    match: {paths: [/dev/b]}\n"
                               "    resourceName: x.io/r\n",
                               &e, &c),
                         -EINVAL);
        assert_non_null(strstr(hd_error_message(&e), "already used by group 'a'"));
        hd_error_done(&e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_numa_node_from_sysfs),
                cmocka_unit_test(test_prefer_device_order),
                cmocka_unit_test(test_prefer_fewest_numa_nodes),
                cmocka_unit_test(test_prefer_must_include_first),
                cmocka_unit_test(test_prefer_never_outside_available),
                cmocka_unit_test(test_resource_name_check),
                cmocka_unit_test(test_config_resource_name),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
