/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the leader-election decision (controller/lease.h) on an injected clock: when a
 * candidate takes, renews or leaves a Lease, and the option checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "controller/lease.h"

static const char *SPEC_A =
        "{\"holderIdentity\":\"other\",\"renewTime\":\"2000-01-01T00:00:00.000000Z\"}";
static const char *SPEC_B =
        "{\"holderIdentity\":\"other\",\"renewTime\":\"2000-01-01T00:00:02.000000Z\"}";

static void test_free_or_absent_is_taken(void **state)
{
        struct ctl_lease_observed o = {0};
        ctl_lease_observe(&o, "{}", 1000);
        struct ctl_lease_record absent = {.holder = NULL, .duration_s = 15};
        struct ctl_lease_record empty = {.holder = "", .duration_s = 1};
        assert_int_equal(ctl_lease_decide(&absent, &o, "me", 1000), CTL_LEASE_TAKE_OVER);
        /* a released Lease (empty holder) is taken at once, not after its duration */
        assert_int_equal(ctl_lease_decide(&empty, &o, "me", 1000), CTL_LEASE_TAKE_OVER);
        ctl_lease_observed_done(&o);
}

static void test_ours_is_renewed_even_when_old(void **state)
{
        struct ctl_lease_observed o = {0};
        ctl_lease_observe(&o, SPEC_A, 0);
        struct ctl_lease_record mine = {.holder = "me", .duration_s = 15};
        assert_int_equal(ctl_lease_decide(&mine, &o, "me", 5), CTL_LEASE_RENEW);
        assert_int_equal(ctl_lease_decide(&mine, &o, "me", 60000), CTL_LEASE_RENEW);
        ctl_lease_observed_done(&o);
}

/* Expiry counts from when WE first saw the record, on our clock: a renewTime far in the past
 * (another node's clock) does not make a fresh record expired. */
static void test_expiry_on_observed_time(void **state)
{
        struct ctl_lease_observed o = {0};
        struct ctl_lease_record other = {.holder = "other", .duration_s = 15};
        ctl_lease_observe(&o, SPEC_A, 100000);
        assert_int_equal(ctl_lease_decide(&other, &o, "me", 100001), CTL_LEASE_HELD_ELSEWHERE);
        assert_int_equal(ctl_lease_decide(&other, &o, "me", 114999), CTL_LEASE_HELD_ELSEWHERE);
        assert_int_equal(ctl_lease_decide(&other, &o, "me", 115000), CTL_LEASE_TAKE_OVER);
        assert_int_equal(ctl_lease_expiry_ms(&other, &o), 115000);
        ctl_lease_observed_done(&o);
}

/* The same record seen again does not move the observed time; a renewed one does. */
static void test_observe_moves_only_on_change(void **state)
{
        struct ctl_lease_observed o = {0};
        struct ctl_lease_record other = {.holder = "other", .duration_s = 15};
        ctl_lease_observe(&o, SPEC_A, 0);
        ctl_lease_observe(&o, SPEC_A, 10000);
        assert_int_equal(o.observed_ms, 0);
        assert_int_equal(ctl_lease_decide(&other, &o, "me", 15000), CTL_LEASE_TAKE_OVER);
        ctl_lease_observe(&o, SPEC_B, 14000);
        assert_int_equal(o.observed_ms, 14000);
        assert_int_equal(ctl_lease_decide(&other, &o, "me", 15000), CTL_LEASE_HELD_ELSEWHERE);
        assert_int_equal(ctl_lease_decide(&other, &o, "me", 29000), CTL_LEASE_TAKE_OVER);
        ctl_lease_observed_done(&o);
        assert_null(o.spec_json);
}

static void test_zero_duration_expires_at_once(void **state)
{
        struct ctl_lease_observed o = {0};
        struct ctl_lease_record other = {.holder = "other", .duration_s = 0};
        ctl_lease_observe(&o, SPEC_A, 500);
        assert_int_equal(ctl_lease_decide(&other, &o, "me", 500), CTL_LEASE_TAKE_OVER);
        ctl_lease_observed_done(&o);
}

static void test_micro_time(void **state)
{
        char buf[32];
        ctl_format_micro_time(0, buf);
        assert_string_equal(buf, "1970-01-01T00:00:00.000000Z");
        ctl_format_micro_time(1765154478000000LL + 123456, buf);
        assert_string_equal(buf, "2025-12-08T00:41:18.123456Z");
        ctl_format_micro_time(1765154478000000LL + 7, buf);
        assert_string_equal(buf, "2025-12-08T00:41:18.000007Z");
}

static void test_default_identity(void **state)
{
        char long_name[300];
        memset(long_name, 'p', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        setenv("POD_NAME", long_name, 1);
        char *a = ctl_lease_default_identity(), *b = ctl_lease_default_identity();
        assert_true(strlen(a) <= CTL_LEASE_IDENTITY_MAX);
        assert_int_equal(strlen(a), CTL_LEASE_IDENTITY_MAX);
        assert_string_not_equal(a, b); /* the random suffix */
        free(a);
        free(b);
        setenv("POD_NAME", "ctl-0", 1);
        a = ctl_lease_default_identity();
        assert_int_equal(strlen(a), strlen("ctl-0_") + 16);
        assert_memory_equal(a, "ctl-0_", 6);
        free(a);
        unsetenv("POD_NAME");
}

static int try_new(int duration, int deadline, int retry, const char *ns, const char *name)
{
        struct ctl_lease_options o = {.namespace = ns,
                                      .name = name,
                                      .identity = "me",
                                      .lease_duration_ms = duration,
                                      .renew_deadline_ms = deadline,
                                      .retry_period_ms = retry};
        struct hd_error err = HD_ERROR_INIT;
        struct ctl_lease *l = NULL;
        int r = ctl_lease_new(NULL, &o, &l, &err);
        if (r >= 0) {
                assert_false(ctl_lease_is_leader(l)); /* not before a successful acquire */
                assert_string_equal(ctl_lease_identity(l), "me");
                ctl_lease_free(l);
        } else {
                assert_true(hd_error_message(&err)[0] != '\0');
        }
        hd_error_done(&err);
        return r;
}

static void test_options(void **state)
{
        assert_int_equal(try_new(0, 0, 0, "kube-system", "hostdev.example.com-controller"), 0);
        assert_int_equal(try_new(15000, 15000, 2000, "ns", "l"), -EINVAL);
        assert_int_equal(try_new(15000, 10000, 10000, "ns", "l"), -EINVAL);
        assert_int_equal(try_new(500, 400, 100, "ns", "l"), -EINVAL);
        assert_int_equal(try_new(0, 0, 0, "Bad_NS", "l"), -EINVAL);
        assert_int_equal(try_new(0, 0, 0, "ns", "a/b"), -EINVAL);
        assert_int_equal(try_new(0, 0, 0, NULL, "l"), -EINVAL);
        assert_false(ctl_lease_is_leader(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_free_or_absent_is_taken),
                cmocka_unit_test(test_ours_is_renewed_even_when_old),
                cmocka_unit_test(test_expiry_on_observed_time),
                cmocka_unit_test(test_observe_moves_only_on_change),
                cmocka_unit_test(test_zero_duration_expires_at_once),
                cmocka_unit_test(test_micro_time),
                cmocka_unit_test(test_default_identity),
                cmocka_unit_test(test_options),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
