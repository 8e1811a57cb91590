/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the controller's ledger model: allocations in and out, one holder per claim,
 * only our driver's results, admin access and shares are not conflicts, conflicts and missing
 * devices are found, and a malformed claim never costs a neighbour its record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/strutil.h"
#include "controller/ledger.h"

#define DRIVER "hostdev.example.com"

/* A v1 slice NAME for pool NODE (generation GEN) with devices dev-0..dev-<n-1> in group gpu. */
static json_t *slice_v1(const char *name, const char *node, int gen, int n)
{
        json_t *devs = json_array();
        for (int i = 0; i < n; i++) {
                char dn[32];
                snprintf(dn, sizeof(dn), "dev-%d", i);
                json_array_append_new(devs, json_pack("{ss s{s{ss}}}", "name", dn, "attributes",
                                                      "group", "string", "gpu"));
        }
        return json_pack("{s{ss} s{ss ss s{ss si} so}}", "metadata", "name", name, "spec", "driver",
                         DRIVER, "nodeName", node, "pool", "name", node, "generation", gen,
                         "devices", devs);
}

/* A claim NS/NAME (uid "uid-NAME") with RESULTS (a JSON array, stolen) and PODS (array, stolen;
 * NULL = none). RESULTS NULL = not allocated. */
static json_t *claim(const char *name, json_t *results, json_t *pods)
{
        char uid[64];
        snprintf(uid, sizeof(uid), "uid-%s", name);
        json_t *c = json_pack("{s{ss ss ss} s{}}", "metadata", "namespace", "default", "name", name,
                              "uid", uid, "status");
        json_t *status = json_object_get(c, "status");
        if (results)
                json_object_set_new(status, "allocation",
                                    json_pack("{s{so}}", "devices", "results", results));
        if (pods)
                json_object_set_new(status, "reservedFor", pods);
        return c;
}

static json_t *result(const char *driver, const char *pool, const char *device, bool admin)
{
        return json_pack("{ss ss ss ss sb}", "request", "r", "driver", driver, "pool", pool,
                         "device", device, "adminAccess", admin);
}

static json_t *pod(const char *name)
{
        return json_pack("{ss ss ss}", "resource", "pods", "name", name, "uid", name);
}

static int dirty_count;
static void dirty_cb(const char *node, void *userdata)
{
        (void)node;
        (void)userdata;
        dirty_count++;
}

static struct ctl_ledger *ledger_with_slice(int n)
{
        struct ctl_ledger *l = ctl_ledger_new(DRIVER, dirty_cb, NULL);
        json_t *s = slice_v1("node-a-slice", "node-a", 1, n);
        assert_int_equal(ctl_ledger_slice_set(l, s, NULL), 0);
        json_decref(s);
        return l;
}

static void set_claim(struct ctl_ledger *l, json_t *c)
{
        struct hd_error e = HD_ERROR_INIT;
        int r = ctl_ledger_claim_set(l, c, &e);
        if (r < 0)
                fail_msg("claim_set: %s", hd_error_message(&e));
        json_decref(c);
}

static json_t *device(const struct ctl_node_report *r, const char *name)
{
        size_t i;
        json_t *d;
        json_array_foreach(
                json_object_get(r->status, "devices"), i,
                d) if (hd_streq(json_string_value(json_object_get(d, "name")), name)) return d;
        fail_msg("device %s not in the status", name);
        return NULL;
}

static const char *state(const struct ctl_node_report *r, const char *name)
{
        return json_string_value(json_object_get(device(r, name), "state"));
}

static void render(struct ctl_ledger *l, struct ctl_node_report *r)
{
        assert_int_equal(ctl_ledger_render(l, "node-a", r), 0);
}

static void test_alloc_dealloc(void **state_)
{
        struct ctl_ledger *l = ledger_with_slice(4);
        struct ctl_node_report r;
        set_claim(l, claim("c1", json_pack("[o]", result(DRIVER, "node-a", "dev-1", false)),
                           json_pack("[o]", pod("p1"))));
        render(l, &r);
        assert_int_equal(r.total, 4);
        assert_int_equal(r.allocated, 1);
        assert_int_equal(r.free, 3);
        assert_string_equal(state(&r, "dev-1"), "Allocated");
        assert_string_equal(state(&r, "dev-0"), "Free");
        json_t *h = json_array_get(json_object_get(device(&r, "dev-1"), "holders"), 0);
        assert_string_equal(json_string_value(json_object_get(h, "name")), "c1");
        assert_string_equal(json_string_value(json_object_get(h, "uid")), "uid-c1");
        assert_string_equal(json_string_value(json_array_get(json_object_get(h, "pods"), 0)), "p1");
        assert_string_equal(r.kube_node, "node-a");
        json_t *g = json_array_get(json_object_get(r.status, "groups"), 0);
        assert_string_equal(json_string_value(json_object_get(g, "name")), "gpu");
        assert_int_equal(json_integer_value(json_object_get(g, "allocated")), 1);
        ctl_node_report_done(&r);

        /* Deallocated: the claim stays but holds nothing. */
        int before = dirty_count;
        set_claim(l, claim("c1", NULL, NULL));
        assert_true(dirty_count > before);
        render(l, &r);
        assert_int_equal(r.allocated, 0);
        assert_int_equal(r.free, 4);
        ctl_node_report_done(&r);

        /* Allocated again, then deleted. */
        set_claim(l, claim("c1", json_pack("[o]", result(DRIVER, "node-a", "dev-1", false)), NULL));
        json_t *gone = claim("c1", NULL, NULL);
        ctl_ledger_claim_delete(l, gone);
        json_decref(gone);
        render(l, &r);
        assert_int_equal(r.allocated, 0);
        struct ctl_ledger_stats st;
        ctl_ledger_stats(l, &st);
        assert_int_equal(st.claims, 0);
        assert_int_equal(st.allocations, 0);
        ctl_node_report_done(&r);
        ctl_ledger_free(l);
}

static void test_shared_claim_one_holder(void **state_)
{
        struct ctl_ledger *l = ledger_with_slice(2);
        struct ctl_node_report r;
        /* Two pods share the claim; the claim names the device in two results. */
        set_claim(l, claim("shared",
                           json_pack("[oo]", result(DRIVER, "node-a", "dev-0", false),
                                     result(DRIVER, "node-a", "dev-0", false)),
                           json_pack("[oo]", pod("p1"), pod("p2"))));
        render(l, &r);
        json_t *holders = json_object_get(device(&r, "dev-0"), "holders");
        assert_int_equal(json_array_size(holders), 1);
        assert_int_equal(json_array_size(json_object_get(json_array_get(holders, 0), "pods")), 2);
        assert_string_equal(state(&r, "dev-0"), "Allocated");
        assert_int_equal(r.n_conflicts, 0);
        ctl_node_report_done(&r);
        ctl_ledger_free(l);
}

static void test_multi_driver(void **state_)
{
        struct ctl_ledger *l = ledger_with_slice(2);
        struct ctl_node_report r;
        set_claim(l, claim("multi",
                           json_pack("[ooo]", result("gpu.other.io", "node-a", "dev-1", false),
                                     result(DRIVER, "node-a", "dev-0", false),
                                     result("gpu.other.io", "node-b", "x", false)),
                           NULL));
        render(l, &r);
        assert_int_equal(r.allocated, 1);
        assert_string_equal(state(&r, "dev-0"), "Allocated");
        assert_string_equal(state(&r, "dev-1"), "Free");
        ctl_node_report_done(&r);
        /* The other driver's pool is no node of ours. */
        assert_int_equal(ctl_ledger_render(l, "node-b", &r), -ENOENT);
        struct ctl_ledger_stats st;
        ctl_ledger_stats(l, &st);
        assert_int_equal(st.allocations, 1);
        ctl_ledger_free(l);
}

static void test_admin_access_not_conflict(void **state_)
{
        struct ctl_ledger *l = ledger_with_slice(1);
        struct ctl_node_report r;
        set_claim(l,
                  claim("user", json_pack("[o]", result(DRIVER, "node-a", "dev-0", false)), NULL));
        set_claim(l,
                  claim("admin", json_pack("[o]", result(DRIVER, "node-a", "dev-0", true)), NULL));
        render(l, &r);
        assert_string_equal(state(&r, "dev-0"), "Shared");
        assert_int_equal(r.n_conflicts, 0);
        json_t *cond = json_array_get(json_object_get(r.status, "conditions"), 0);
        assert_string_equal(json_string_value(json_object_get(cond, "status")), "False");
        assert_int_equal(r.allocated, 1);
        ctl_node_report_done(&r);
        ctl_ledger_free(l);
}

static void test_conflict(void **state_)
{
        struct ctl_ledger *l = ledger_with_slice(2);
        struct ctl_node_report r;
        set_claim(l, claim("a", json_pack("[o]", result(DRIVER, "node-a", "dev-0", false)), NULL));
        set_claim(l, claim("b", json_pack("[o]", result(DRIVER, "node-a", "dev-0", false)), NULL));
        render(l, &r);
        assert_int_equal(r.n_conflicts, 1);
        assert_string_equal(r.conflicts[0].device, "dev-0");
        assert_string_equal(r.conflicts[0].claim.name, "a");
        assert_string_equal(r.conflicts[0].other.name, "b");
        assert_string_equal(r.conflicts[0].other.uid, "uid-b");
        assert_true(json_is_true(json_object_get(device(&r, "dev-0"), "conflict")));
        assert_int_equal(json_integer_value(json_object_get(r.status, "conflicts")), 1);
        json_t *cond = json_array_get(json_object_get(r.status, "conditions"), 0);
        assert_string_equal(json_string_value(json_object_get(cond, "status")), "True");
        const char *msg = json_string_value(json_object_get(cond, "message"));
        assert_non_null(strstr(msg, "default/a"));
        assert_non_null(strstr(msg, "default/b"));
        ctl_node_report_done(&r);

        /* Distinct shares of one device are not a conflict. */
        json_t *ra = result(DRIVER, "node-a", "dev-1", false);
        json_object_set_new(ra, "shareID", json_string("s1"));
        json_t *rb = result(DRIVER, "node-a", "dev-1", false);
        json_object_set_new(rb, "shareID", json_string("s2"));
        set_claim(l, claim("a", json_pack("[o]", ra), NULL));
        set_claim(l, claim("b", json_pack("[o]", rb), NULL));
        render(l, &r);
        assert_int_equal(r.n_conflicts, 0);
        assert_string_equal(state(&r, "dev-1"), "Shared");
        ctl_node_report_done(&r);
        ctl_ledger_free(l);
}

static void test_missing_device(void **state_)
{
        struct ctl_ledger *l = ledger_with_slice(2);
        struct ctl_node_report r;
        set_claim(l, claim("m", json_pack("[o]", result(DRIVER, "node-a", "dev-9", false)), NULL));
        render(l, &r);
        assert_string_equal(state(&r, "dev-9"), "Missing");
        assert_int_equal(r.n_missing, 1);
        assert_string_equal(r.missing_devices[0].device, "dev-9");
        assert_string_equal(r.missing_devices[0].claim.name, "m");
        assert_int_equal(r.total, 2);
        assert_int_equal(r.missing, 1);
        ctl_node_report_done(&r);

        /* The slice goes away: every held device is missing, totals drop to zero. */
        set_claim(l, claim("m", json_pack("[o]", result(DRIVER, "node-a", "dev-0", false)), NULL));
        json_t *s = slice_v1("node-a-slice", "node-a", 1, 0);
        ctl_ledger_slice_delete(l, s);
        json_decref(s);
        render(l, &r);
        assert_int_equal(r.total, 0);
        assert_string_equal(state(&r, "dev-0"), "Missing");
        ctl_node_report_done(&r);
        ctl_ledger_free(l);
}

static void test_malformed_neighbour(void **state_)
{
        struct ctl_ledger *l = ledger_with_slice(2);
        struct ctl_node_report r;
        struct hd_error e = HD_ERROR_INIT;
        set_claim(l,
                  claim("good", json_pack("[o]", result(DRIVER, "node-a", "dev-0", false)), NULL));
        json_t *bad_res = result(DRIVER, "node-a", "dev-1", false);
        json_object_set_new(bad_res, "device", json_integer(7));
        json_t *bad = claim("bad", json_pack("[o]", bad_res), NULL);
        assert_int_equal(ctl_ledger_claim_set(l, bad, &e), -EINVAL);
        assert_non_null(strstr(hd_error_message(&e), "default/bad"));
        assert_non_null(strstr(hd_error_message(&e), "device"));
        hd_error_done(&e);
        /* Reported once: the same claim malformed again is only counted. */
        assert_int_equal(ctl_ledger_claim_set(l, bad, &e), 0);
        json_decref(bad);
        struct ctl_ledger_stats st;
        ctl_ledger_stats(l, &st);
        assert_int_equal(st.malformed, 2);
        render(l, &r);
        assert_string_equal(state(&r, "dev-0"), "Allocated");
        assert_string_equal(state(&r, "dev-1"), "Free");
        ctl_node_report_done(&r);
        /* Fixed: recorded, and a later breakage is reported again. */
        set_claim(l,
                  claim("bad", json_pack("[o]", result(DRIVER, "node-a", "dev-1", false)), NULL));
        render(l, &r);
        assert_string_equal(state(&r, "dev-1"), "Allocated");
        ctl_node_report_done(&r);
        ctl_ledger_free(l);
}

static void test_v1beta1_slice_taints_generation(void **state_)
{
        struct ctl_ledger *l = ctl_ledger_new(DRIVER, NULL, NULL);
        struct ctl_node_report r;
        /* v1beta1 layout: attributes and taints under "basic"; a qualified group attribute. */
        json_t *s = json_pack(
                "{s{ss} s{ss ss s{ss si} s[{ss s{s{s{ss}} s[{ss ss ss}]}} {ss s{s{s{ss}}}}]}}",
                "metadata", "name", "beta", "spec", "driver", DRIVER, "nodeName", "node-a", "pool",
                "name", "node-a", "generation", 2, "devices", "name", "dev-0", "basic",
                "attributes", DRIVER "/group", "string", "nic", "taints", "key", "k", "value", "v",
                "effect", "NoSchedule", "name", "dev-1", "basic", "attributes", "group", "string",
                "nic");
        assert_int_equal(ctl_ledger_slice_set(l, s, NULL), 0);
        json_decref(s);
        /* An older generation of the same pool is not counted. */
        s = slice_v1("old", "node-a", 1, 5);
        assert_int_equal(ctl_ledger_slice_set(l, s, NULL), 0);
        json_decref(s);
        /* Another driver's slice is ignored. */
        s = slice_v1("theirs", "node-a", 9, 3);
        json_object_set_new(json_object_get(s, "spec"), "driver", json_string("x.example.com"));
        assert_int_equal(ctl_ledger_slice_set(l, s, NULL), 0);
        json_decref(s);
        render(l, &r);
        assert_int_equal(r.total, 2);
        assert_int_equal(r.unhealthy, 1);
        assert_int_equal(r.free, 1);
        assert_string_equal(state(&r, "dev-0"), "Unhealthy");
        assert_string_equal(json_string_value(json_object_get(device(&r, "dev-0"), "group")),
                            "nic");
        ctl_node_report_done(&r);
        ctl_ledger_free(l);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_alloc_dealloc),
                cmocka_unit_test(test_shared_claim_one_holder),
                cmocka_unit_test(test_multi_driver),
                cmocka_unit_test(test_admin_access_not_conflict),
                cmocka_unit_test(test_conflict),
                cmocka_unit_test(test_missing_device),
                cmocka_unit_test(test_malformed_neighbour),
                cmocka_unit_test(test_v1beta1_slice_taints_generation),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
