/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the kubelet device-manager checkpoint reader (kubeletplugin/dp_checkpoint.h):
 * files written by real kubelets, both DeviceIDs shapes, and the fail-safe holds for damaged
 * entries and files. */
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
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "kubeletplugin/dp_checkpoint.h"

#ifndef HOSTDEV_REFERENCE_DIR
#error "HOSTDEV_REFERENCE_DIR (tests/data/reference) must be defined by the build"
#endif

static char *const ours[] = {"hostdev.example.com/gpu", "hostdev.example.com/fpga", NULL};

static void parse(const char *text, char *const *resources, struct kp_dp_checkpoint *c)
{
        *c = (struct kp_dp_checkpoint){0};
        kp_dp_checkpoint_parse("ckpt", text, strlen(text), resources, c);
}

static char *ids_joined(char **ids)
{
        struct hd_strbuf b = HD_STRBUF_INIT;
        for (char **i = ids; i && *i; i++)
                hd_strbuf_printf(&b, "%s%s", i == ids ? "" : ",", *i);
        return hd_strbuf_take(&b);
}

static void test_real_kubelet_files(void **state)
{
        char *const nvidia[] = {"nvidia.com/gpu", NULL};
        struct kp_dp_checkpoint c;
        c = (struct kp_dp_checkpoint){0};
        kp_dp_checkpoint_read(HOSTDEV_REFERENCE_DIR "/kubelet-dp-checkpoint/ack-gpuops.json",
                              nvidia, &c);
        assert_int_equal(c.n_holds, 0);
        assert_null(c.problems);
        kp_dp_checkpoint_done(&c);

        kp_dp_checkpoint_read(HOSTDEV_REFERENCE_DIR "/kubelet-dp-checkpoint/jetson-kind.json",
                              nvidia, &c);
        assert_null(c.problems);
        assert_int_equal(c.n_holds, 1);
        assert_string_equal(c.holds[0].resource, "nvidia.com/gpu");
        assert_string_equal(c.holds[0].pod_uid, "bf52b2cd-b611-4e79-86b1-280b283185c3");
        assert_string_equal(c.holds[0].container, "check");
        _cleanup_free_ char *ids = ids_joined(c.holds[0].device_ids);
        assert_string_equal(ids, "tegra");
        kp_dp_checkpoint_done(&c);

        /* the same file names nothing of ours */
        kp_dp_checkpoint_read(HOSTDEV_REFERENCE_DIR "/kubelet-dp-checkpoint/jetson-kind.json", ours,
                              &c);
        assert_int_equal(c.n_holds, 0);
        assert_null(c.problems);
        kp_dp_checkpoint_done(&c);
}

static void test_numa_map_old_list_and_other_resources(void **state)
{
        struct kp_dp_checkpoint c;
        parse("{\"Data\":{\"PodDeviceEntries\":["
              "{\"PodUID\":\"u1\",\"ContainerName\":\"a\",\"ResourceName\":\"hostdev.example.com/"
              "gpu\","
              "\"DeviceIDs\":{\"0\":[\"mock-device-0\",\"mock-device-1\"],\"1\":[\"mock-device-4\"]"
              "},"
              "\"AllocResp\":\"\"},"
              "{\"PodUID\":\"u2\",\"ContainerName\":\"b\",\"ResourceName\":\"nvidia.com/gpu\","
              "\"DeviceIDs\":{\"-1\":[\"GPU-1\"]}},"
              "{\"PodUID\":\"u3\",\"ContainerName\":\"c\",\"ResourceName\":\"hostdev.example.com/"
              "fpga\","
              "\"DeviceIDs\":[\"fpga-0\",\"fpga-0\"]}],"
              "\"RegisteredDevices\":{}},\"Checksum\":1}",
              ours, &c);
        assert_null(c.problems);
        assert_int_equal(c.n_holds, 2);
        _cleanup_free_ char *a = ids_joined(c.holds[0].device_ids);
        _cleanup_free_ char *b = ids_joined(c.holds[1].device_ids);
        assert_string_equal(a, "mock-device-0,mock-device-1,mock-device-4");
        assert_string_equal(c.holds[0].pod_uid, "u1");
        assert_string_equal(b, "fpga-0"); /* old list form, duplicates once */
        assert_string_equal(c.holds[1].resource, "hostdev.example.com/fpga");
        kp_dp_checkpoint_done(&c);
}

static void test_damaged_entries_hold_more(void **state)
{
        struct kp_dp_checkpoint c;
        parse("{\"Data\":{\"PodDeviceEntries\":["
              "{\"PodUID\":\"u1\",\"ResourceName\":\"hostdev.example.com/"
              "gpu\",\"DeviceIDs\":{\"0\":[7]}},"
              "{\"ResourceName\":\"hostdev.example.com/gpu\",\"DeviceIDs\":{\"0\":[\"d1\"]}},"
              "{\"ResourceName\":42,\"x\":\"hostdev.example.com/fpga\"},"
              "\"garbage\","
              "{\"PodUID\":\"u9\",\"ResourceName\":\"hostdev.example.com/gpu\"}]}}",
              ours, &c);
        assert_int_equal(c.n_holds, 4);
        /* unreadable DeviceIDs: the whole resource, still tied to its pod */
        assert_string_equal(c.holds[0].pod_uid, "u1");
        assert_null(c.holds[0].device_ids);
        /* no PodUID: the devices, with no pod to release them */
        assert_null(c.holds[1].pod_uid);
        _cleanup_free_ char *ids = ids_joined(c.holds[1].device_ids);
        assert_string_equal(ids, "d1");
        /* no ResourceName: what the entry's text names, whole */
        assert_string_equal(c.holds[2].resource, "hostdev.example.com/fpga");
        assert_null(c.holds[2].device_ids);
        assert_null(c.holds[2].pod_uid);
        /* absent DeviceIDs: the whole resource */
        assert_string_equal(c.holds[3].pod_uid, "u9");
        assert_null(c.holds[3].device_ids);
        assert_int_equal(hd_strv_len(c.problems), 5);
        kp_dp_checkpoint_done(&c);
}

static void test_damaged_file_holds_what_it_names(void **state)
{
        struct kp_dp_checkpoint c;
        parse("{\"Data\":{\"PodDeviceEntries\":[{\"PodUID\":\"u1\",\"ResourceName\":"
              "\"hostdev.example.com/gpu\",\"DeviceIDs\":{\"0\":[\"mock-devi",
              ours, &c);
        assert_int_equal(c.n_holds, 1);
        assert_string_equal(c.holds[0].resource, "hostdev.example.com/gpu");
        assert_null(c.holds[0].device_ids);
        assert_null(c.holds[0].pod_uid);
        assert_int_equal(hd_strv_len(c.problems), 1);
        assert_non_null(strstr(c.problems[0], "ckpt"));
        kp_dp_checkpoint_done(&c);

        parse("{\"Data\":{\"PodDeviceEntries\":{}}}", ours, &c); /* wrong type */
        assert_int_equal(c.n_holds, 0);
        assert_int_equal(hd_strv_len(c.problems), 1);
        kp_dp_checkpoint_done(&c);

        parse("[1,2]", ours, &c);
        assert_int_equal(c.n_holds, 0);
        assert_int_equal(hd_strv_len(c.problems), 1);
        kp_dp_checkpoint_done(&c);

        parse("{\"Data\":{}}", ours, &c); /* nothing allocated yet */
        assert_int_equal(c.n_holds, 0);
        assert_null(c.problems);
        kp_dp_checkpoint_done(&c);
}

static void test_files(void **state)
{
        char dir[] = "/tmp/hd-dpckpt-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *path = hd_asprintf("%s/%s", dir, KP_DP_CHECKPOINT_FILE);
        struct kp_dp_checkpoint c = {0};

        kp_dp_checkpoint_read(path, ours, &c); /* missing: nothing held, nothing wrong */
        assert_int_equal(c.n_holds, 0);
        assert_null(c.problems);
        kp_dp_checkpoint_done(&c);

        assert_int_equal(mkdir(path, 0700), 0); /* unreadable: every resource held */
        kp_dp_checkpoint_read(path, ours, &c);
        assert_int_equal(c.n_holds, 2);
        assert_null(c.holds[0].device_ids);
        assert_int_equal(hd_strv_len(c.problems), 1);
        kp_dp_checkpoint_done(&c);
        assert_int_equal(rmdir(path), 0);

        FILE *f = fopen(path, "w"); /* over the cap: every resource held */
        assert_non_null(f);
        assert_int_equal(ftruncate(fileno(f), (off_t)KP_DP_CHECKPOINT_MAX_BYTES + 1), 0);
        fclose(f);
        kp_dp_checkpoint_read(path, ours, &c);
        assert_int_equal(c.n_holds, 2);
        assert_non_null(strstr(c.problems[0], path));
        kp_dp_checkpoint_done(&c);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_real_kubelet_files),
                cmocka_unit_test(test_numa_map_old_list_and_other_resources),
                cmocka_unit_test(test_damaged_entries_hold_more),
                cmocka_unit_test(test_damaged_file_holds_what_it_names),
                cmocka_unit_test(test_files),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
