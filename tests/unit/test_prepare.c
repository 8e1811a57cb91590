/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for offline prepare/unprepare on a temporary tree of mknod nodes and a temporary
 * CDI root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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
#include "cdi/cdi.h"
#include "devmodel/claim.h"
#include "devmodel/config.h"
#include "devmodel/discovery.h"
#include "devmodel/prepare.h"

#define UID "6f3c1a2e-1111-4222-8333-444455556666"
#define DRIVER "hostdev.example.com"

static char *root;

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static char *at(const char *rel)
{
        return hd_asprintf("%s/%s", root, rel);
}

static void touch(const char *rel)
{
        char *p = at(rel);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fclose(f);
        free(p);
}

struct fixture {
        struct dm_config *config;
        struct dm_inventory *inv;
        char *cdi_root;
};

static int setup(void **state)
{
        char tmpl[] = "/tmp/kp-prep-XXXXXX";
        if (getuid() != 0) {
                *state = NULL;
                return 0;
        }
        if (!mkdtemp(tmpl))
                return -1;
        root = strdup(tmpl);
        const char *dirs[] = {"dev", "dev/mock", "so", "bin"};
        for (size_t i = 0; i < 4; i++) {
                char *p = at(dirs[i]);
                mkdir(p, 0755);
                free(p);
        }
        for (int i = 0; i < 4; i++) {
                char *rel = hd_asprintf("dev/mock/device_%d", i);
                char *p = at(rel);
                if (mknod(p, S_IFCHR | 0666, makedev(1, 3 + i)) < 0)
                        return -1;
                free(p);
                free(rel);
                rel = hd_asprintf("so/device_%d.so", i);
                touch(rel);
                free(rel);
        }
        touch("bin/list_device.sh");

        char *text = hd_asprintf(
                "apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\ngroups:\n"
                "  - name: gpu\n"
                "    match: {globs: [\"%s/dev/mock/device_*\"]}\n"
                "    deviceName: \"gpu-{1}\"\n"
                "    containerPath: \"/dev/mock/{name}\"\n"
                "    permissions: rw\n"
                "    deviceEdits:\n"
                "      mounts: [{hostPath: \"%s/so/{name}.so\", containerPath: "
                "\"/mock/so/{name}.so\", options: [ro, bind]}]\n"
                "    commonEdits:\n"
                "      mounts: [{hostPath: \"%s/bin/list_device.sh\", containerPath: "
                "/usr/local/bin/list_device.sh, options: [ro, bind]}]\n",
                root, root, root);
        struct fixture *f = hd_new0(struct fixture, 1);
        struct hd_error e = HD_ERROR_INIT;
        if (dm_config_parse("t.yaml", text, strlen(text), &f->config, &e) < 0 ||
            dm_discover(f->config, &f->inv, &e) < 0) {
                print_error("setup: %s\n", hd_error_message(&e));
                return -1;
        }
        free(text);
        f->cdi_root = at("cdi");
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        if (!f)
                return 0;
        dm_inventory_free(f->inv);
        dm_config_free(f->config);
        free(f->cdi_root);
        free(f);
        nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        free(root);
        return 0;
}

static struct dm_claim *claim_for(const char *uid, const char *const *devices, size_t n,
                                  const char *driver)
{
        struct hd_strbuf b = HD_STRBUF_INIT;
        hd_strbuf_printf(&b,
                         "{\"metadata\":{\"name\":\"c\",\"namespace\":\"ns\",\"uid\":\"%s\"},"
                         "\"status\":{\"allocation\":{\"devices\":{\"results\":[",
                         uid);
        for (size_t i = 0; i < n; i++)
                hd_strbuf_printf(&b,
                                 "{\"request\":\"gpus\",\"driver\":\"%s\",\"pool\":\"node1\","
                                 "\"device\":\"%s\"},",
                                 driver, devices[i]);
        /* another driver's result is ignored */
        hd_strbuf_puts(&b, "{\"request\":\"x\",\"driver\":\"other.example.com\",\"pool\":"
                           "\"node1\",\"device\":\"gpu-9\"}]}}}}");
        struct dm_claim *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        if (dm_claim_from_json(b.buf, b.len, &c, &e) < 0)
                fail_msg("%s", hd_error_message(&e));
        hd_strbuf_done(&b);
        return c;
}

#define NEED_ROOT()                                                                      \
        do {                                                                             \
                if (!*state)                                                             \
                        fail_msg("mknod needs root (CAP_MKNOD): run the tests as root"); \
        } while (0)

static void test_prepare_and_unprepare(void **state)
{
        NEED_ROOT();
        struct fixture *f = *state;
        const char *devs[] = {"gpu-1", "gpu-3"};
        struct dm_claim *c = claim_for(UID, devs, 2, DRIVER);
        struct dm_prepare_params p = {.driver = DRIVER, .pool = "node1", .cdi_root = f->cdi_root};
        struct dm_prepared_claim res = {0};
        struct hd_error e = HD_ERROR_INIT;

        if (dm_prepare_claim(f->inv, c, &p, &res, &e) < 0)
                fail_msg("%s", hd_error_message(&e));
        assert_string_equal(res.spec_file, "k8s.hostdev.example.com-claim_" UID ".json");
        assert_int_equal(res.n_devices, 2);
        assert_string_equal(res.devices[0].cdi_ids[0], "k8s.hostdev.example.com/claim=" UID "-gpu-1");
        assert_string_equal(res.devices[1].cdi_ids[0], "k8s.hostdev.example.com/claim=" UID "-gpu-3");
        assert_string_equal(res.devices[0].request, "gpus");

        char *path = hd_asprintf("%s/%s", f->cdi_root, res.spec_file);
        struct cdi_spec *spec = NULL;
        if (cdi_spec_load_file(path, &spec, &e) < 0)
                fail_msg("%s", hd_error_message(&e));
        assert_string_equal(spec->kind, "k8s.hostdev.example.com/claim");
        assert_int_equal(spec->n_devices, 2);
        const struct cdi_device *d = cdi_spec_find_device(spec, UID "-gpu-3");
        assert_non_null(d);
        assert_int_equal(d->edits.n_device_nodes, 1);
        assert_string_equal(d->edits.device_nodes[0]->path, "/dev/mock/device_3");
        assert_string_equal(d->edits.device_nodes[0]->type, "c");
        assert_int_equal(d->edits.device_nodes[0]->major, 1);
        assert_int_equal(d->edits.device_nodes[0]->minor, 6);
        assert_string_equal(d->edits.device_nodes[0]->permissions, "rw");
        assert_string_equal(d->edits.mounts[0]->container_path, "/mock/so/device_3.so");
        assert_int_equal(spec->edits.n_mounts, 1);
        assert_string_equal(spec->edits.mounts[0]->container_path, "/usr/local/bin/list_device.sh");
        cdi_spec_free(spec);

        /* prepare again: same result (idempotent) */
        dm_prepared_claim_done(&res);
        assert_int_equal(dm_prepare_claim(f->inv, c, &p, &res, &e), 0);
        assert_int_equal(res.n_devices, 2);
        dm_prepared_claim_done(&res);

        assert_int_equal(dm_unprepare_claim(DRIVER, UID, f->cdi_root, &e), 0);
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(dm_unprepare_claim(DRIVER, UID, f->cdi_root, &e), 0);
        assert_int_equal(dm_unprepare_claim(DRIVER, "../../etc", f->cdi_root, &e), -EINVAL);
        free(path);
        dm_claim_free(c);
        hd_error_done(&e);
}

/* A device whose node vanished or changed fails the claim; no spec is written. */
static void test_prepare_missing_node(void **state)
{
        NEED_ROOT();
        struct fixture *f = *state;
        const char *devs[] = {"gpu-0", "gpu-2"};
        struct dm_claim *c = claim_for(UID, devs, 2, DRIVER);
        struct dm_prepare_params p = {.driver = DRIVER, .pool = "node1", .cdi_root = f->cdi_root};
        struct dm_prepared_claim res = {0};
        struct hd_error e = HD_ERROR_INIT;

        char *node = at("dev/mock/device_2");
        unlink(node);
        assert_int_equal(dm_prepare_claim(f->inv, c, &p, &res, &e), -ENOENT);
        char *want = hd_asprintf("prepare claim " UID ": device 'gpu-2' (request 'gpus'): stat "
                                 "'%s': No such file or directory",
                                 node);
        assert_string_equal(e.message, want);
        assert_int_equal(res.n_devices, 0);
        char **owned = NULL;
        assert_int_equal(cdi_spec_list_owned(f->cdi_root, "k8s.", &owned, &e), 0);
        hd_strv_free(owned);

        assert_int_equal(mknod(node, S_IFCHR | 0666, makedev(1, 99)), 0);
        assert_int_equal(dm_prepare_claim(f->inv, c, &p, &res, &e), -ESTALE);
        assert_non_null(strstr(e.message, "changed: expected c 1:5, found c 1:99"));
        free(want);
        free(node);
        dm_claim_free(c);
        hd_error_done(&e);
}

static void test_prepare_unknown_device_and_other_driver(void **state)
{
        NEED_ROOT();
        struct fixture *f = *state;
        const char *devs[] = {"gpu-7"};
        struct dm_claim *c = claim_for(UID, devs, 1, DRIVER);
        struct dm_prepare_params p = {.driver = DRIVER, .pool = "node1", .cdi_root = f->cdi_root};
        struct dm_prepared_claim res = {0};
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_prepare_claim(f->inv, c, &p, &res, &e), -ENODEV);
        assert_string_equal(e.message, "prepare claim " UID ": device 'gpu-7' (request 'gpus') "
                                       "is not in this node's inventory");
        dm_claim_free(c);

        /* only other drivers' results, or another pool: nothing to do, no spec */
        c = claim_for(UID, devs, 1, "else.example.com");
        assert_int_equal(dm_prepare_claim(f->inv, c, &p, &res, &e), 0);
        assert_null(res.spec_file);
        assert_int_equal(res.n_devices, 0);
        dm_prepared_claim_done(&res);
        dm_claim_free(c);

        c = claim_for("not-a-uid", devs, 1, DRIVER);
        assert_int_equal(dm_prepare_claim(f->inv, c, &p, &res, &e), -EINVAL);
        dm_claim_free(c);
        hd_error_done(&e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_prepare_and_unprepare, setup, teardown),
                cmocka_unit_test_setup_teardown(test_prepare_missing_node, setup, teardown),
                cmocka_unit_test_setup_teardown(test_prepare_unknown_device_and_other_driver, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
