/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the plugin checkpoint: round trip, two-phase entries, checksum, corrupt and
 * foreign files moved aside instead of failing start-up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/strutil.h"
#include "kubeletplugin/checkpoint.h"

static char *tmpdir(void)
{
        char t[] = "/tmp/hdckptXXXXXX";
        assert_non_null(mkdtemp(t));
        return hd_strdup(t);
}

static void rm_rf(const char *d)
{
        _cleanup_free_ char *cmd = hd_asprintf("rm -rf '%s'", d);
        assert_int_equal(system(cmd), 0);
}

static void fill_claim(struct kp_ckpt_claim *c, const char *uid, enum kp_claim_state st)
{
        memset(c, 0, sizeof(*c));
        struct dm_prepared_claim *rec = &c->prepared;
        rec->uid = hd_strdup(uid);
        rec->namespace = hd_strdup("default");
        rec->name = hd_asprintf("claim-%s", uid);
        c->state = st;
        rec->spec_file = hd_asprintf("k8s.hostdev.example.com-claim_%s.json", uid);
        rec->n_devices = 2;
        rec->devices = hd_new0(struct dm_prepared_device, 2);
        for (size_t i = 0; i < 2; i++) {
                rec->devices[i].request = hd_strdup("gpus");
                rec->devices[i].pool = hd_strdup("node-a");
                rec->devices[i].device = hd_asprintf("mock-device-%zu", i);
                rec->devices[i].env_set = -1;
                hd_strv_consume(&rec->devices[i].cdi_ids,
                                hd_asprintf("k8s.hostdev.example.com/claim=%s-mock-device-%zu", uid, i));
        }
        rec->devices[1].share_id = hd_strdup("share-7");
        char *env[] = { "FOO=bar", NULL };
        dm_prepared_claim_set_env(rec, 0, env);
}

static void test_round_trip_and_states(void **state)
{
        _cleanup_free_ char *dir = tmpdir();
        _cleanup_free_ char *path = hd_asprintf("%s/checkpoint.json", dir);
        struct kp_checkpoint *cp = kp_checkpoint_new("boot-1");
        struct kp_ckpt_claim c;
        fill_claim(&c, "11111111-2222-3333-4444-555555555555", KP_PREPARE_STARTED);
        kp_checkpoint_put(cp, &c);
        assert_null(c.prepared.uid); /* taken */
        fill_claim(&c, "aaaaaaaa-2222-3333-4444-555555555555", KP_PREPARE_COMPLETED);
        kp_checkpoint_put(cp, &c);
        /* Replace moves the first entry to completed. */
        fill_claim(&c, "11111111-2222-3333-4444-555555555555", KP_PREPARE_COMPLETED);
        kp_checkpoint_put(cp, &c);
        assert_int_equal(cp->n_claims, 2);

        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(kp_checkpoint_save(path, cp, &e), 0);
        cp = kp_checkpoint_free(cp);

        struct kp_checkpoint *back = NULL;
        _cleanup_free_ char *aside = NULL;
        assert_int_equal(kp_checkpoint_load(path, &back, &aside, &e), 0);
        assert_null(aside);
        assert_string_equal(back->boot_id, "boot-1");
        assert_int_equal(back->n_claims, 2);
        struct kp_ckpt_claim *got = kp_checkpoint_find(back, "11111111-2222-3333-4444-555555555555");
        assert_non_null(got);
        assert_int_equal(got->state, KP_PREPARE_COMPLETED);
        assert_string_equal(got->prepared.devices[1].share_id, "share-7");
        assert_null(got->prepared.devices[0].share_id);
        assert_string_equal(dm_prepared_device_env(&got->prepared, 0)[0], "FOO=bar");
        assert_string_equal(got->prepared.devices[1].cdi_ids[0],
                            "k8s.hostdev.example.com/claim=11111111-2222-3333-4444-555555555555-mock-device-1");
        struct kp_ckpt_claim copy = { 0 };
        kp_ckpt_claim_copy(&copy, got);
        assert_string_equal(copy.prepared.devices[0].device, "mock-device-0");
        kp_ckpt_claim_done(&copy);

        assert_true(kp_checkpoint_remove(back, "11111111-2222-3333-4444-555555555555"));
        assert_false(kp_checkpoint_remove(back, "11111111-2222-3333-4444-555555555555"));
        assert_int_equal(back->n_claims, 1);
        assert_string_equal(back->claims[0].prepared.uid, "aaaaaaaa-2222-3333-4444-555555555555");
        kp_checkpoint_free(back);
        rm_rf(dir);
}

static int count_prefix(const char *dir, const char *prefix)
{
        DIR *d = opendir(dir);
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (hd_startswith(de->d_name, prefix))
                        n++;
        closedir(d);
        return n;
}

static void expect_moved_aside(const char *content, const char *why)
{
        _cleanup_free_ char *dir = tmpdir();
        _cleanup_free_ char *path = hd_asprintf("%s/checkpoint.json", dir);
        assert_int_equal(hd_atomic_write(path, content, strlen(content), 0600, NULL), 0);
        struct kp_checkpoint *cp = NULL;
        _cleanup_free_ char *aside = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(kp_checkpoint_load(path, &cp, &aside, &e), 0);
        assert_non_null(cp);
        assert_int_equal(cp->n_claims, 0);
        assert_non_null(aside);
        assert_true(hd_startswith(aside, path));
        assert_non_null(strstr(aside, ".corrupt-"));
        assert_non_null(strstr(e.message, why));
        assert_non_null(strstr(e.message, "moved to"));
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(count_prefix(dir, "checkpoint.json.corrupt-"), 1);
        hd_error_done(&e);
        kp_checkpoint_free(cp);
        rm_rf(dir);
}

static void test_corrupt_files_moved_aside(void **state)
{
        expect_moved_aside("{\"apiVersion\": \"hostdev.example.com/v1alpha1\", trunc", "not JSON");
        expect_moved_aside("{\"apiVersion\":\"hostdev.example.com/v9\",\"kind\":\"Checkpoint\","
                           "\"checksum\":\"x\",\"data\":{}}",
                           "unknown apiVersion/kind");
        expect_moved_aside("{\"apiVersion\":\"hostdev.example.com/v1alpha1\",\"kind\":\"Checkpoint\","
                           "\"checksum\":\"crc32:00000000\",\"data\":{\"claims\":[]}}",
                           "checksum mismatch");
        expect_moved_aside("", "not JSON");
}

static void test_tampered_entry_detected(void **state)
{
        _cleanup_free_ char *dir = tmpdir();
        _cleanup_free_ char *path = hd_asprintf("%s/checkpoint.json", dir);
        struct kp_checkpoint *cp = kp_checkpoint_new("b");
        struct kp_ckpt_claim c;
        fill_claim(&c, "11111111-2222-3333-4444-555555555555", KP_PREPARE_COMPLETED);
        kp_checkpoint_put(cp, &c);
        assert_int_equal(kp_checkpoint_save(path, cp, NULL), 0);
        kp_checkpoint_free(cp);
        /* Flip one device name on disk: the checksum no longer matches. */
        char *text = NULL;
        assert_int_equal(hd_read_file(path, 1 << 20, true, &text, NULL, NULL), 0);
        char *p = strstr(text, "mock-device-1");
        p[12] = '9';
        assert_int_equal(hd_atomic_write(path, text, strlen(text), 0600, NULL), 0);
        free(text);
        _cleanup_free_ char *aside = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(kp_checkpoint_load(path, &cp, &aside, &e), 0);
        assert_int_equal(cp->n_claims, 0);
        assert_non_null(strstr(e.message, "checksum mismatch"));
        hd_error_done(&e);
        kp_checkpoint_free(cp);
        rm_rf(dir);
}

static void test_missing_file_is_empty(void **state)
{
        struct kp_checkpoint *cp = NULL;
        _cleanup_free_ char *aside = NULL;
        assert_int_equal(kp_checkpoint_load("/nonexistent/dir/checkpoint.json", &cp, &aside, NULL), 0);
        assert_int_equal(cp->n_claims, 0);
        assert_null(aside);
        kp_checkpoint_free(cp);
        /* Known CRC-32 check value. */
        assert_int_equal(kp_checkpoint_crc32("123456789", 9), 0xcbf43926UL);
        _cleanup_free_ char *boot = kp_checkpoint_boot_id();
        assert_non_null(boot);
        assert_int_equal(strlen(boot), 36);
}

/* What the plugin writes it can read back: a checkpoint past KP_CHECKPOINT_MAX_BYTES is refused
 * with an error naming the limit, and the file on disk is left as it was. */
static void test_write_capped_at_read_limit(void **state)
{
        _cleanup_free_ char *dir = tmpdir();
        _cleanup_free_ char *path = hd_asprintf("%s/checkpoint.json", dir);
        struct kp_checkpoint *cp = kp_checkpoint_new("boot-1");
        struct kp_ckpt_claim c;
        fill_claim(&c, "11111111-2222-3333-4444-555555555555", KP_PREPARE_COMPLETED);
        kp_checkpoint_put(cp, &c);
        assert_int_equal(kp_checkpoint_save(path, cp, NULL), 0);
        _cleanup_free_ char *before = NULL;
        assert_int_equal(hd_read_file(path, 1 << 20, true, &before, NULL, NULL), 0);

        char *big = hd_malloc0(1024 * 1024 + 1);
        memset(big, 'x', 1024 * 1024);
        char **env = NULL;
        for (int i = 0; i * 1024 * 1024 <= KP_CHECKPOINT_MAX_BYTES; i++)
                hd_strv_consume(&env, hd_asprintf("V%d=%s", i, big));
        free(big);
        dm_prepared_claim_set_env(&cp->claims[0].prepared, 1, env);
        hd_strv_free(env);
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(kp_checkpoint_save(path, cp, &e), -EFBIG);
        assert_non_null(strstr(e.message, "KP_CHECKPOINT_MAX_BYTES"));
        _cleanup_free_ char *after = NULL;
        assert_int_equal(hd_read_file(path, 1 << 20, true, &after, NULL, NULL), 0);
        assert_string_equal(before, after);
        hd_error_done(&e);
        kp_checkpoint_free(cp);
        rm_rf(dir);
}

/* Checkpoints written before env was stored once per claim had an "env" list on each device:
 * they still load, equal lists sharing one set. */
static void test_reads_per_device_env_of_older_versions(void **state)
{
        json_t *dev = json_pack("{s:s,s:[s],s:[s,s]}", "device", "mock-device-0", "cdiIDs", "x=y",
                                "env", "A=1", "B=2");
        json_t *data = json_pack("{s:s,s:[{s:s,s:s,s:[O,O]}]}", "bootID", "b", "claims", "uid",
                                 "11111111-2222-3333-4444-555555555555", "state",
                                 "PrepareCompleted", "devices", dev, dev);
        json_decref(dev);
        _cleanup_free_ char *canon = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
        _cleanup_free_ char *sum =
                hd_asprintf("crc32:%08lx", kp_checkpoint_crc32(canon, strlen(canon)));
        json_t *doc = json_pack("{s:s,s:s,s:s,s:o}", "apiVersion", KP_CHECKPOINT_API_VERSION,
                                "kind", KP_CHECKPOINT_KIND, "checksum", sum, "data", data);
        struct kp_checkpoint *cp = NULL;
        struct hd_error e = HD_ERROR_INIT;
        if (kp_checkpoint_from_json(doc, &cp, &e) < 0)
                fail_msg("%s", e.message);
        const struct dm_prepared_claim *rec = &cp->claims[0].prepared;
        assert_int_equal(rec->n_devices, 2);
        assert_int_equal(rec->n_env_sets, 1);
        assert_int_equal(rec->devices[0].env_set, 0);
        assert_int_equal(rec->devices[1].env_set, 0);
        assert_string_equal(rec->env_sets[0][1], "B=2");
        /* Written back, the set is stored once. */
        json_t *back = kp_checkpoint_to_json(cp);
        _cleanup_free_ char *text = json_dumps(back, JSON_COMPACT);
        assert_non_null(strstr(text, "\"envSets\":[[\"A=1\",\"B=2\"]]"));
        assert_null(strstr(text, "\"env\":"));
        json_decref(back);
        kp_checkpoint_free(cp);
        json_decref(doc);
        hd_error_done(&e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip_and_states),
                cmocka_unit_test(test_corrupt_files_moved_aside),
                cmocka_unit_test(test_tampered_entry_detected),
                cmocka_unit_test(test_missing_file_is_empty),
                cmocka_unit_test(test_write_capped_at_read_limit),
                cmocka_unit_test(test_reads_per_device_env_of_older_versions),
        };
        return cmocka_run_group_tests_name("checkpoint", tests, NULL, NULL);
}
