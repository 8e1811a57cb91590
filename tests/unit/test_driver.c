/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the node driver core (kubeletplugin/driver.c): prepare/unprepare against a
 * temporary tree of real device nodes, a fake claim source, the checkpoint and start-up repair.
 * Needs root for mknod; fails with a message otherwise (the suite runs as root). */
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
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/strutil.h"
#include "kubeletplugin/checkpoint.h"
#include "devmodel/config.h"
#include "devmodel/discovery.h"
#include "kubeletplugin/driver.h"
#include "kubeletplugin/sweep.h"

#define DRIVER "hostdev.example.com"
#define NODE "node-a"
#define UID_A "aaaaaaaa-0000-4000-8000-000000000001"
#define UID_B "bbbbbbbb-0000-4000-8000-000000000002"
#define UID_C "cccccccc-0000-4000-8000-000000000003"

struct fixture {
        char *root, *cdi, *ckpt;
        struct dm_config *config;
        struct kp_driver *driver;
        json_t *claims; /* "ns/name" -> claim object */
        int fetch_error; /* forced fetch result when non-zero */
        int fetch_calls;
};

static int fake_fetch(void *ud, const char *ns, const char *name, json_t **ret,
                      struct hd_error *reterr)
{
        struct fixture *f = ud;
        f->fetch_calls++;
        if (f->fetch_error)
                return hd_error_setf(reterr, -f->fetch_error, "injected API failure");
        _cleanup_free_ char *key = hd_asprintf("%s/%s", ns, name);
        json_t *c = json_object_get(f->claims, key);
        if (!c)
                return -ENOENT;
        *ret = json_deep_copy(c);
        return 0;
}

/* Store claim NS/NAME with UID; RESULTS is "driver:pool:device:request,..."; CONFIG optional
 * JSON array for status.allocation.devices.config. ALLOCATED false drops status.allocation. */
static void put_claim(struct fixture *f, const char *name, const char *uid, const char *results,
                      const char *config, bool allocated)
{
        json_t *res = json_array();
        _cleanup_free_ char *copy = hd_strdup(results);
        for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
                char drv[64], pool[64], dev[64], req[64];
                assert_int_equal(sscanf(tok, "%63[^:]:%63[^:]:%63[^:]:%63s", drv, pool, dev, req), 4);
                json_array_append_new(res, json_pack("{s:s,s:s,s:s,s:s}", "driver", drv, "pool",
                                                     pool, "device", dev, "request", req));
        }
        json_t *cfg = config ? json_loads(config, 0, NULL) : json_array();
        assert_non_null(cfg);
        json_t *status = allocated ? json_pack("{s:{s:{s:o,s:o}}}", "allocation", "devices",
                                               "results", res, "config", cfg)
                                   : (json_decref(res), json_decref(cfg), json_object());
        json_t *obj = json_pack("{s:s,s:s,s:{s:s,s:s,s:s},s:{},s:o}", "apiVersion",
                                "resource.k8s.io/v1", "kind", "ResourceClaim", "metadata", "name",
                                name, "namespace", "ns", "uid", uid, "spec", "status", status);
        _cleanup_free_ char *key = hd_asprintf("ns/%s", name);
        json_object_set_new(f->claims, key, obj);
}

static void mknode(struct fixture *f, int i)
{
        _cleanup_free_ char *p = hd_asprintf("%s/dev/mock/device_%d", f->root, i);
        unlink(p);
        assert_int_equal(mknod(p, S_IFCHR | 0666, makedev(1, 3)), 0);
}

static struct kp_driver *new_driver(struct fixture *f)
{
        struct dm_inventory *inv = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(dm_discover(f->config, &inv, &e), 0);
        struct kp_driver_options o = { .driver = DRIVER, .node = NODE, .cdi_root = f->cdi,
                                       .checkpoint_path = f->ckpt, .fetch = fake_fetch,
                                       .fetch_userdata = f };
        struct kp_driver *d = kp_driver_new(&o, f->config, inv);
        int r = kp_driver_start(d, &e);
        if (r < 0)
                fail_msg("start: %s", e.message);
        hd_error_done(&e);
        /* What the plugin does once it serves the kubelet; here, to its end. */
        struct kp_sweep *s = kp_sweep_start(d, fake_fetch, f, 2, NULL);
        kp_sweep_wait(s);
        kp_sweep_free(s);
        return d;
}

static int setup(void **state)
{
        if (getuid() != 0)
                return 0;
        struct fixture *f = hd_malloc0(sizeof(*f));
        char t[] = "/tmp/hddrvXXXXXX";
        assert_non_null(mkdtemp(t));
        f->root = hd_strdup(t);
        f->cdi = hd_asprintf("%s/cdi", t);
        f->ckpt = hd_asprintf("%s/checkpoint.json", t);
        _cleanup_free_ char *dev = hd_asprintf("%s/dev/mock", t);
        assert_int_equal(hd_mkdir_p(dev, 0755, NULL), 0);
        assert_int_equal(hd_mkdir_p(f->cdi, 0755, NULL), 0);
        for (int i = 0; i < 4; i++)
                mknode(f, i);
        _cleanup_free_ char *yaml = hd_asprintf(
                "apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\ngroups:\n"
                "  - name: gpu\n"
                "    match: {globs: [\"%s/dev/mock/device_*\"]}\n"
                "    deviceName: \"mock-device-{1}\"\n"
                "    containerPath: \"/dev/mock/{name}\"\n", t);
        struct hd_error e = HD_ERROR_INIT;
        if (dm_config_parse("test.yaml", yaml, strlen(yaml), &f->config, &e) < 0)
                fail_msg("config: %s", e.message);
        f->claims = json_object();
        f->driver = new_driver(f);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        if (!f)
                return 0;
        kp_driver_free(f->driver);
        dm_config_free(f->config);
        json_decref(f->claims);
        _cleanup_free_ char *cmd = hd_asprintf("rm -rf '%s'", f->root);
        assert_int_equal(system(cmd), 0);
        free(f->root);
        free(f->cdi);
        free(f->ckpt);
        free(f);
        return 0;
}

#define NEED_ROOT(f)                                                                         \
        do {                                                                                 \
                if (!(f))                                                                    \
                        fail_msg("mknod needs root (CAP_MKNOD): run the tests as root");     \
        } while (0)

static char *spec_path(struct fixture *f, const char *uid)
{
        return hd_asprintf("%s/k8s." DRIVER "-claim_%s.json", f->cdi, uid);
}

static int prepare(struct fixture *f, const char *name, const char *uid, struct dm_prepared_claim *out,
                   struct hd_error *e)
{
        struct kp_claim_ref ref = { "ns", name, uid };
        return kp_driver_prepare(f->driver, &ref, out, e);
}

static void test_prepare_idempotent_and_unprepare(void **state)
{
        struct fixture *f = *state;
        NEED_ROOT(f);
        put_claim(f, "a", UID_A, DRIVER ":" NODE ":mock-device-0:gpus," DRIVER ":" NODE
                                 ":mock-device-2:gpus/fast,other.example.com:" NODE ":x:gpus",
                  NULL, true);
        struct dm_prepared_claim out = { 0 };
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(prepare(f, "a", UID_A, &out, &e), 0);
        /* Only our driver's results. */
        assert_int_equal(out.n_devices, 2);
        assert_string_equal(out.devices[0].device, "mock-device-0");
        assert_string_equal(out.devices[1].request, "gpus/fast");
        assert_string_equal(out.devices[1].cdi_ids[0], "k8s." DRIVER "/claim=" UID_A "-mock-device-2");
        _cleanup_free_ char *sp = spec_path(f, UID_A);
        struct stat st1, st2;
        assert_int_equal(stat(sp, &st1), 0);
        assert_int_equal(kp_driver_prepared_claims(f->driver), 1);
        dm_prepared_claim_done(&out);

        /* Again: same answer, no API call, spec not rewritten. */
        int calls = f->fetch_calls;
        assert_int_equal(prepare(f, "a", UID_A, &out, &e), 0);
        assert_int_equal(f->fetch_calls, calls);
        assert_int_equal(out.n_devices, 2);
        assert_int_equal(stat(sp, &st2), 0);
        assert_int_equal(st1.st_ino, st2.st_ino);
        dm_prepared_claim_done(&out);

        /* The checkpoint on disk says completed. */
        struct kp_checkpoint *cp = NULL;
        char *aside = NULL;
        assert_int_equal(kp_checkpoint_load(f->ckpt, &cp, &aside, &e), 0);
        assert_int_equal(cp->n_claims, 1);
        assert_int_equal(cp->claims[0].state, KP_PREPARE_COMPLETED);
        kp_checkpoint_free(cp);

        struct kp_claim_ref ref = { "ns", "a", UID_A };
        assert_int_equal(kp_driver_unprepare(f->driver, &ref, &e), 0);
        assert_int_equal(access(sp, F_OK), -1);
        assert_int_equal(kp_driver_prepared_claims(f->driver), 0);
        /* Unknown claim: success. */
        struct kp_claim_ref unknown = { "ns", "zz", UID_C };
        assert_int_equal(kp_driver_unprepare(f->driver, &unknown, &e), 0);
        hd_error_done(&e);
}

static void test_prepare_failures_fail_only_that_claim(void **state)
{
        struct fixture *f = *state;
        NEED_ROOT(f);
        struct dm_prepared_claim out = { 0 };
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(prepare(f, "missing", UID_A, &out, &e), -ENOENT);
        assert_string_equal(e.message, "ResourceClaim ns/missing not found");

        put_claim(f, "replaced", UID_B, DRIVER ":" NODE ":mock-device-0:gpus", NULL, true);
        assert_int_equal(prepare(f, "replaced", UID_A, &out, &e), -ESTALE);
        assert_non_null(strstr(e.message, "deleted and replaced"));

        put_claim(f, "pending", UID_A, "", NULL, false);
        assert_int_equal(prepare(f, "pending", UID_A, &out, &e), -EINVAL);
        assert_non_null(strstr(e.message, "is not allocated"));

        f->fetch_error = ECONNREFUSED;
        assert_true(prepare(f, "pending", UID_A, &out, &e) < 0);
        assert_non_null(strstr(e.message, "get ResourceClaim ns/pending: injected API failure"));
        f->fetch_error = 0;

        assert_int_equal(prepare(f, "x", "../../etc", &out, &e), -EINVAL);

        /* A device whose node vanished: fails, no spec, no checkpoint entry left behind. */
        _cleanup_free_ char *n3 = hd_asprintf("%s/dev/mock/device_3", f->root);
        unlink(n3);
        put_claim(f, "gone", UID_C, DRIVER ":" NODE ":mock-device-3:gpus", NULL, true);
        assert_true(prepare(f, "gone", UID_C, &out, &e) < 0);
        assert_non_null(strstr(e.message, "mock-device-3"));
        _cleanup_free_ char *sp = spec_path(f, UID_C);
        assert_int_equal(access(sp, F_OK), -1);
        assert_int_equal(kp_driver_prepared_claims(f->driver), 0);
        mknode(f, 3);
        /* Unknown device name. */
        put_claim(f, "ghost", UID_C, DRIVER ":" NODE ":mock-device-9:gpus", NULL, true);
        assert_int_equal(prepare(f, "ghost", UID_C, &out, &e), -ENODEV);
        hd_error_done(&e);
}

static void test_device_held_by_other_claim(void **state)
{
        struct fixture *f = *state;
        NEED_ROOT(f);
        put_claim(f, "a", UID_A, DRIVER ":" NODE ":mock-device-1:gpus", NULL, true);
        put_claim(f, "b", UID_B, DRIVER ":" NODE ":mock-device-1:gpus", NULL, true);
        struct dm_prepared_claim out = { 0 };
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(prepare(f, "a", UID_A, &out, &e), 0);
        dm_prepared_claim_done(&out);
        assert_int_equal(prepare(f, "b", UID_B, &out, &e), -EBUSY);
        assert_string_equal(e.message, "device 'mock-device-1' is already in use by "
                                       "ResourceClaim ns/a (uid " UID_A ")");
        /* A pool that is not ours is ignored: nothing to prepare, success without a spec. */
        put_claim(f, "c", UID_C, DRIVER ":other-node:mock-device-1:gpus", NULL, true);
        assert_int_equal(prepare(f, "c", UID_C, &out, &e), 0);
        assert_int_equal(out.n_devices, 0);
        dm_prepared_claim_done(&out);
        hd_error_done(&e);
}

static void test_opaque_env(void **state)
{
        struct fixture *f = *state;
        NEED_ROOT(f);
        const char *cfg =
                "[{\"source\":\"FromClaim\",\"requests\":[\"gpus\"],\"opaque\":{\"driver\":\"" DRIVER
                "\",\"parameters\":{\"apiVersion\":\"" DRIVER "/v1alpha1\",\"kind\":\"HostDeviceConfig\","
                "\"env\":{\"MODE\":\"claim\",\"EXTRA\":\"1\"}}}},"
                "{\"source\":\"FromClass\",\"opaque\":{\"driver\":\"" DRIVER "\",\"parameters\":{"
                "\"apiVersion\":\"" DRIVER "/v1alpha1\",\"kind\":\"HostDeviceConfig\","
                "\"env\":{\"MODE\":\"class\",\"CLASS\":\"yes\"}}}},"
                "{\"source\":\"FromClaim\",\"opaque\":{\"driver\":\"other.example.com\","
                "\"parameters\":{\"whatever\":true}}}]";
        put_claim(f, "a", UID_A, DRIVER ":" NODE ":mock-device-0:gpus," DRIVER ":" NODE
                                 ":mock-device-1:other",
                  cfg, true);
        struct dm_prepared_claim out = { 0 };
        struct hd_error e = HD_ERROR_INIT;
        if (prepare(f, "a", UID_A, &out, &e) < 0)
                fail_msg("%s", e.message);
        /* Class first, claim wins; the claim entry covers only request "gpus". */
        char *const *env0 = dm_prepared_device_env(&out, 0), *const *env1 = dm_prepared_device_env(&out, 1);
        assert_true(hd_strv_contains(env0, "MODE=claim"));
        assert_true(hd_strv_contains(env0, "CLASS=yes"));
        assert_true(hd_strv_contains(env0, "EXTRA=1"));
        assert_true(hd_strv_contains(env1, "MODE=class"));
        assert_false(hd_strv_contains(env1, "EXTRA=1"));
        dm_prepared_claim_done(&out);
        /* The env is in the written spec. */
        _cleanup_free_ char *sp = spec_path(f, UID_A);
        _cleanup_free_ char *text = NULL;
        assert_int_equal(hd_read_file(sp, 1 << 20, true, &text, NULL, NULL), 0);
        assert_non_null(strstr(text, "MODE=claim"));

        /* Trying to add a mount is refused, naming the field. */
        const char *bad = "[{\"source\":\"FromClaim\",\"opaque\":{\"driver\":\"" DRIVER
                          "\",\"parameters\":{\"apiVersion\":\"" DRIVER "/v1alpha1\",\"kind\":"
                          "\"HostDeviceConfig\",\"mounts\":[{\"hostPath\":\"/etc\"}]}}}]";
        put_claim(f, "b", UID_B, DRIVER ":" NODE ":mock-device-2:gpus", bad, true);
        assert_int_equal(prepare(f, "b", UID_B, &out, &e), -EINVAL);
        assert_non_null(strstr(e.message, "config[0] (FromClaim): unknown field 'mounts'"));
        const char *badname = "[{\"source\":\"FromClaim\",\"opaque\":{\"driver\":\"" DRIVER
                              "\",\"parameters\":{\"apiVersion\":\"" DRIVER "/v1alpha1\",\"kind\":"
                              "\"HostDeviceConfig\",\"env\":{\"1BAD\":\"x\"}}}}]";
        put_claim(f, "b", UID_B, DRIVER ":" NODE ":mock-device-2:gpus", badname, true);
        assert_int_equal(prepare(f, "b", UID_B, &out, &e), -EINVAL);
        assert_non_null(strstr(e.message, "env.1BAD: not a valid variable name"));
        const char *badkind = "[{\"source\":\"FromClaim\",\"opaque\":{\"driver\":\"" DRIVER
                              "\",\"parameters\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}}}]";
        put_claim(f, "b", UID_B, DRIVER ":" NODE ":mock-device-2:gpus", badkind, true);
        assert_int_equal(prepare(f, "b", UID_B, &out, &e), -EINVAL);
        assert_non_null(strstr(e.message, "unsupported config"));
        hd_error_done(&e);
}

/* A HostDeviceConfig entry (JSON) with N_VARS variables PREFIX<k> of LEN bytes each, for
 * REQUESTS (a JSON array text, or NULL for all requests). */
static char *big_config(const char *prefix, int n_vars, size_t len, const char *requests)
{
        json_t *env = json_object();
        char *value = hd_malloc0(len + 1);
        memset(value, 'x', len);
        for (int k = 0; k < n_vars; k++) {
                _cleanup_free_ char *name = hd_asprintf("%s%d", prefix, k);
                json_object_set_new(env, name, json_string(value));
        }
        free(value);
        json_t *cfg = json_pack("{s:s,s:{s:s,s:{s:s,s:s,s:o}}}", "source", "FromClaim", "opaque",
                                "driver", DRIVER, "parameters", "apiVersion", DRIVER "/v1alpha1",
                                "kind", "HostDeviceConfig", "env", env);
        if (requests)
                json_object_set_new(cfg, "requests", json_loads(requests, 0, NULL));
        char *text = json_dumps(cfg, JSON_COMPACT);
        json_decref(cfg);
        return text;
}

static size_t count_in_file(const char *path, const char *needle)
{
        _cleanup_free_ char *text = NULL;
        assert_int_equal(hd_read_file(path, 64 << 20, true, &text, NULL, NULL), 0);
        size_t n = 0;
        for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
                n++;
        return n;
}

/* Issue 9, defect 3: one config's env matching every result is stored once per claim, in the
 * spec (spec-level containerEdits) and in the checkpoint, not once per device. */
static void test_opaque_env_stored_once_per_claim(void **state)
{
        struct fixture *f = *state;
        NEED_ROOT(f);
        _cleanup_free_ char *cfg = big_config("BIG", 2, 4000, NULL);
        _cleanup_free_ char *cfgs = hd_asprintf("[%s]", cfg);
        put_claim(f, "a", UID_A,
                  DRIVER ":" NODE ":mock-device-0:r0," DRIVER ":" NODE ":mock-device-1:r1," DRIVER
                         ":" NODE ":mock-device-2:r2," DRIVER ":" NODE ":mock-device-3:r3",
                  cfgs, true);
        struct dm_prepared_claim out = { 0 };
        struct hd_error e = HD_ERROR_INIT;
        if (prepare(f, "a", UID_A, &out, &e) < 0)
                fail_msg("%s", e.message);
        assert_int_equal(out.n_devices, 4);
        assert_int_equal(out.n_env_sets, 1);
        for (size_t i = 0; i < 4; i++)
                assert_int_equal(out.devices[i].env_set, 0);
        assert_int_equal(hd_strv_len(out.env_sets[0]), 2);
        assert_int_equal(strncmp(out.env_sets[0][0], "BIG0=xxx", 8), 0);
        dm_prepared_claim_done(&out);
        _cleanup_free_ char *sp = spec_path(f, UID_A);
        assert_int_equal(count_in_file(sp, "BIG0="), 1);
        assert_int_equal(count_in_file(f->ckpt, "BIG0="), 1);

        /* And it survives a restart: the spec is rebuilt from the checkpoint with the env. */
        f->driver = kp_driver_free(f->driver);
        unlink(sp);
        f->driver = new_driver(f);
        assert_int_equal(count_in_file(sp, "BIG0="), 1);
        assert_int_equal(count_in_file(sp, "BIG1="), 1);
        assert_int_equal(count_in_file(f->ckpt, "BIG0="), 1);
        hd_error_done(&e);
}

/* Issue 9, defect 3: a claim whose opaque env would make its spec (and the checkpoint) huge
 * fails alone with an error naming the limit; nothing of it is written, and the claims
 * prepared before it are still held after a restart (the checkpoint stays readable). */
static void test_env_amplification_fails_cleanly(void **state)
{
        struct fixture *f = *state;
        NEED_ROOT(f);
        put_claim(f, "a", UID_A, DRIVER ":" NODE ":mock-device-0:gpus", NULL, true);
        struct dm_prepared_claim out = { 0 };
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(prepare(f, "a", UID_A, &out, &e), 0);
        dm_prepared_claim_done(&out);

        /* 16 results over 3 devices in 16 requests; 20 configs of 8 KB for all requests but
         * the last, so the devices' env differs and each one carries 160 KB. */
        struct hd_strbuf results = HD_STRBUF_INIT, configs = HD_STRBUF_INIT;
        _cleanup_free_ char *reqs = NULL;
        struct hd_strbuf rb = HD_STRBUF_INIT;
        hd_strbuf_puts(&rb, "[");
        for (int i = 0; i < 16; i++) {
                hd_strbuf_printf(&results, "%s" DRIVER ":" NODE ":mock-device-%d:r%d",
                                 i ? "," : "", 1 + i % 3, i);
                if (i < 15)
                        hd_strbuf_printf(&rb, "%s\"r%d\"", i ? "," : "", i);
        }
        hd_strbuf_puts(&rb, "]");
        reqs = hd_strbuf_take(&rb);
        hd_strbuf_puts(&configs, "[");
        for (int c = 0; c < 20; c++) {
                _cleanup_free_ char *prefix = hd_asprintf("C%d_", c);
                _cleanup_free_ char *one = big_config(prefix, 2, 4000, reqs);
                hd_strbuf_printf(&configs, "%s%s", c ? "," : "", one);
        }
        hd_strbuf_puts(&configs, "]");
        _cleanup_free_ char *res_text = hd_strbuf_take(&results);
        _cleanup_free_ char *cfg_text = hd_strbuf_take(&configs);
        put_claim(f, "b", UID_B, res_text, cfg_text, true);
        assert_int_equal(prepare(f, "b", UID_B, &out, &e), -EFBIG);
        assert_non_null(strstr(e.message, "DM_PREPARE_MAX_CLAIM_ENV"));
        assert_non_null(strstr(e.message, "131072 bytes one claim may write"));
        _cleanup_free_ char *sb = spec_path(f, UID_B);
        assert_int_equal(access(sb, F_OK), -1);
        assert_int_equal(count_in_file(f->ckpt, UID_B), 0);
        assert_int_equal(kp_driver_prepared_claims(f->driver), 1);

        /* Restart: the checkpoint is read back (not moved aside), claim a still holds its
         * device. */
        f->driver = kp_driver_free(f->driver);
        f->driver = new_driver(f);
        assert_int_equal(kp_driver_prepared_claims(f->driver), 1);
        _cleanup_free_ char *aside = hd_asprintf("%s/checkpoint.json.corrupt-*", f->root);
        _cleanup_free_ char *cmd = hd_asprintf("ls %s >/dev/null 2>&1", aside);
        assert_int_not_equal(system(cmd), 0);
        put_claim(f, "c", UID_C, DRIVER ":" NODE ":mock-device-0:gpus", NULL, true);
        assert_int_equal(prepare(f, "c", UID_C, &out, &e), -EBUSY);
        hd_error_done(&e);
}

static void test_start_repairs_drift(void **state)
{
        struct fixture *f = *state;
        NEED_ROOT(f);
        put_claim(f, "a", UID_A, DRIVER ":" NODE ":mock-device-0:gpus", NULL, true);
        put_claim(f, "b", UID_B, DRIVER ":" NODE ":mock-device-1:gpus", NULL, true);
        put_claim(f, "c", UID_C, DRIVER ":" NODE ":mock-device-2:gpus", NULL, true);
        struct dm_prepared_claim out = { 0 };
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(prepare(f, "a", UID_A, &out, &e), 0);
        dm_prepared_claim_done(&out);
        assert_int_equal(prepare(f, "b", UID_B, &out, &e), 0);
        dm_prepared_claim_done(&out);
        assert_int_equal(prepare(f, "c", UID_C, &out, &e), 0);
        dm_prepared_claim_done(&out);
        f->driver = kp_driver_free(f->driver);

        /* CDI dir wiped (reboot); claim c deleted from the API meanwhile. */
        _cleanup_free_ char *sa = spec_path(f, UID_A), *sb = spec_path(f, UID_B),
                            *sc = spec_path(f, UID_C);
        unlink(sa);
        unlink(sb);
        json_object_del(f->claims, "ns/c");
        f->driver = new_driver(f);
        assert_int_equal(access(sa, F_OK), 0);
        assert_int_equal(access(sb, F_OK), 0);
        assert_int_equal(access(sc, F_OK), -1);
        assert_int_equal(kp_driver_prepared_claims(f->driver), 2);
        f->driver = kp_driver_free(f->driver);

        /* Corrupt checkpoint: rebuilt from the specs, claims still unprepare. */
        assert_int_equal(hd_atomic_write(f->ckpt, "garbage{", 8, 0600, NULL), 0);
        f->driver = new_driver(f);
        assert_int_equal(kp_driver_prepared_claims(f->driver), 2);
        /* The rebuilt entries still reserve their devices. */
        put_claim(f, "c", UID_C, DRIVER ":" NODE ":mock-device-0:gpus", NULL, true);
        assert_int_equal(prepare(f, "c", UID_C, &out, &e), -EBUSY);
        struct kp_claim_ref ra = { "ns", "a", UID_A };
        assert_int_equal(kp_driver_unprepare(f->driver, &ra, &e), 0);
        assert_int_equal(access(sa, F_OK), -1);
        assert_int_equal(kp_driver_prepared_claims(f->driver), 1);
        f->driver = kp_driver_free(f->driver);

        /* A PrepareStarted leftover (crash between spec write and completion) is undone. */
        struct kp_checkpoint *cp = NULL;
        char *aside = NULL;
        assert_int_equal(kp_checkpoint_load(f->ckpt, &cp, &aside, &e), 0);
        assert_null(aside);
        assert_int_equal(cp->n_claims, 1);
        cp->claims[0].state = KP_PREPARE_STARTED;
        assert_int_equal(kp_checkpoint_save(f->ckpt, cp, &e), 0);
        kp_checkpoint_free(cp);
        assert_int_equal(access(sb, F_OK), 0);
        f->driver = new_driver(f);
        assert_int_equal(access(sb, F_OK), -1);
        assert_int_equal(kp_driver_prepared_claims(f->driver), 0);
        hd_error_done(&e);
}

static char *const *ckpt_env(struct kp_checkpoint *cp, const char *uid, size_t dev)
{
        struct kp_ckpt_claim *c = kp_checkpoint_find(cp, uid);
        assert_non_null(c);
        assert_true(dev < c->prepared.n_devices);
        return dm_prepared_device_env(&c->prepared, dev);
}

/* A checkpoint rebuilt from the CDI specs keeps each claim's opaque env: shared by all its
 * devices (written once at spec level) or per device. */
static void test_rebuilt_checkpoint_recovers_claim_env(void **state)
{
        struct fixture *f = *state;
        NEED_ROOT(f);
        const char *all = "[{\"source\":\"FromClaim\",\"opaque\":{\"driver\":\"" DRIVER
                          "\",\"parameters\":{\"apiVersion\":\"" DRIVER
                          "/v1alpha1\",\"kind\":\"HostDeviceConfig\","
                          "\"env\":{\"MODE\":\"shared\"}}}}]";
        const char *one = "[{\"source\":\"FromClaim\",\"requests\":[\"gpus\"],\"opaque\":{"
                          "\"driver\":\"" DRIVER "\",\"parameters\":{\"apiVersion\":\"" DRIVER
                          "/v1alpha1\",\"kind\":\"HostDeviceConfig\","
                          "\"env\":{\"ONLY\":\"gpus\"}}}}]";
        put_claim(f, "a", UID_A,
                  DRIVER ":" NODE ":mock-device-0:gpus," DRIVER ":" NODE ":mock-device-1:gpus", all,
                  true);
        put_claim(f, "b", UID_B,
                  DRIVER ":" NODE ":mock-device-2:gpus," DRIVER ":" NODE ":mock-device-3:other",
                  one, true);
        struct dm_prepared_claim out = {0};
        struct hd_error e = HD_ERROR_INIT;
        if (prepare(f, "a", UID_A, &out, &e) < 0)
                fail_msg("%s", e.message);
        dm_prepared_claim_done(&out);
        if (prepare(f, "b", UID_B, &out, &e) < 0)
                fail_msg("%s", e.message);
        dm_prepared_claim_done(&out);
        f->driver = kp_driver_free(f->driver);

        assert_int_equal(hd_atomic_write(f->ckpt, "garbage{", 8, 0600, NULL), 0);
        f->driver = new_driver(f);
        assert_int_equal(kp_driver_prepared_claims(f->driver), 2);
        struct kp_checkpoint *cp = NULL;
        char *aside = NULL;
        assert_int_equal(kp_checkpoint_load(f->ckpt, &cp, &aside, &e), 0);
        assert_null(aside);
        for (size_t i = 0; i < 2; i++) {
                char *const *env = ckpt_env(cp, UID_A, i);
                assert_int_equal(hd_strv_len((char **)env), 1);
                assert_string_equal(env[0], "MODE=shared");
        }
        struct kp_ckpt_claim *cb = kp_checkpoint_find(cp, UID_B);
        size_t gpus = hd_streq(cb->prepared.devices[0].device, "mock-device-2") ? 0 : 1;
        char *const *env = ckpt_env(cp, UID_B, gpus);
        assert_int_equal(hd_strv_len((char **)env), 1);
        assert_string_equal(env[0], "ONLY=gpus");
        assert_null(ckpt_env(cp, UID_B, 1 - gpus));
        kp_checkpoint_free(cp);

        /* A spec wiped afterwards is restored with the env. */
        f->driver = kp_driver_free(f->driver);
        _cleanup_free_ char *sa = spec_path(f, UID_A);
        unlink(sa);
        f->driver = new_driver(f);
        _cleanup_free_ char *text = NULL;
        assert_int_equal(hd_read_file(sa, 1 << 20, true, &text, NULL, NULL), 0);
        assert_non_null(strstr(text, "MODE=shared"));
        hd_error_done(&e);
}

/* A PrepareStarted leftover whose spec cannot be removed keeps its entry (and so its devices)
 * until a later start manages; on main the entry went and the device was free for others. */
static void test_start_keeps_started_entry_it_cannot_undo(void **state)
{
        struct fixture *f = *state;
        NEED_ROOT(f);
        put_claim(f, "a", UID_A, DRIVER ":" NODE ":mock-device-0:gpus", NULL, true);
        put_claim(f, "b", UID_B, DRIVER ":" NODE ":mock-device-0:gpus", NULL, true);
        struct dm_prepared_claim out = {0};
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(prepare(f, "a", UID_A, &out, &e), 0);
        dm_prepared_claim_done(&out);
        f->driver = kp_driver_free(f->driver);

        struct kp_checkpoint *cp = NULL;
        char *aside = NULL;
        assert_int_equal(kp_checkpoint_load(f->ckpt, &cp, &aside, &e), 0);
        cp->claims[0].state = KP_PREPARE_STARTED;
        assert_int_equal(kp_checkpoint_save(f->ckpt, cp, &e), 0);
        kp_checkpoint_free(cp);
        _cleanup_free_ char *sa = spec_path(f, UID_A);
        assert_int_equal(unlink(sa), 0);
        assert_int_equal(mkdir(sa, 0700), 0); /* the spec cannot be removed */

        f->driver = new_driver(f);
        assert_int_equal(prepare(f, "b", UID_B, &out, &e), -EBUSY);
        assert_non_null(strstr(e.message, UID_A));
        hd_error_done(&e);
        f->driver = kp_driver_free(f->driver);

        assert_int_equal(rmdir(sa), 0);
        f->driver = new_driver(f);
        assert_int_equal(prepare(f, "b", UID_B, &out, &e), 0);
        dm_prepared_claim_done(&out);
        hd_error_done(&e);
}

/* The start-up sweep keeps a claim it cannot check and retries until the API server answers;
 * a claim the kubelet unprepares meanwhile is left alone. */
static void test_sweep_retries_until_it_can_tell(void **state)
{
        struct fixture *f = *state;
        NEED_ROOT(f);
        put_claim(f, "a", UID_A, DRIVER ":" NODE ":mock-device-0:gpus", NULL, true);
        put_claim(f, "b", UID_B, DRIVER ":" NODE ":mock-device-1:gpus", NULL, true);
        struct dm_prepared_claim out = {0};
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(prepare(f, "a", UID_A, &out, &e), 0);
        dm_prepared_claim_done(&out);
        assert_int_equal(prepare(f, "b", UID_B, &out, &e), 0);
        dm_prepared_claim_done(&out);
        f->driver = kp_driver_free(f->driver);

        json_object_del(f->claims, "ns/a");
        f->fetch_error = ECONNREFUSED;
        struct dm_inventory *inv = NULL;
        assert_int_equal(dm_discover(f->config, &inv, &e), 0);
        struct kp_driver_options o = {
                .driver = DRIVER, .node = NODE, .cdi_root = f->cdi, .checkpoint_path = f->ckpt};
        f->driver = kp_driver_new(&o, f->config, inv);
        assert_int_equal(kp_driver_start(f->driver, &e), 0);
        struct kp_sweep *s = kp_sweep_start(f->driver, fake_fetch, f, 1, NULL);
        assert_non_null(s);
        usleep(300 * 1000);
        assert_true(kp_driver_holds_claim(f->driver, UID_A)); /* kept: cannot tell yet */
        struct kp_claim_ref rb = {"ns", "b", UID_B};
        assert_int_equal(kp_driver_unprepare(f->driver, &rb, &e), 0);
        f->fetch_error = 0;
        kp_sweep_wait(s);
        s = kp_sweep_free(s);
        assert_false(kp_driver_holds_claim(f->driver, UID_A));
        assert_false(kp_driver_holds_claim(f->driver, UID_B));
        assert_int_equal(kp_driver_prepared_claims(f->driver), 0);
        /* nothing to check: no sweep at all */
        assert_null(kp_sweep_start(f->driver, fake_fetch, f, 1, NULL));
        hd_error_done(&e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_prepare_idempotent_and_unprepare, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rebuilt_checkpoint_recovers_claim_env, setup, teardown),
                cmocka_unit_test_setup_teardown(test_prepare_failures_fail_only_that_claim, setup, teardown),
                cmocka_unit_test_setup_teardown(test_device_held_by_other_claim, setup, teardown),
                cmocka_unit_test_setup_teardown(test_opaque_env, setup, teardown),
                cmocka_unit_test_setup_teardown(test_opaque_env_stored_once_per_claim, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_env_amplification_fails_cleanly, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_start_repairs_drift, setup, teardown),
                cmocka_unit_test_setup_teardown(test_start_keeps_started_entry_it_cannot_undo, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sweep_retries_until_it_can_tell, setup, teardown),
        };
        return cmocka_run_group_tests_name("driver", tests, NULL, NULL);
}
