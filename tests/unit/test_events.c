/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the event recorder's pure parts (controller/events.h): dedup keys, Event
 * names, note truncation, the bounded series cache, and deduplication of recorded occurrences
 * before any write. */
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
#include "controller/events.h"
#include "devmodel/names.h"

static const struct ctl_event_ref CLAIM = {"resource.k8s.io/v1", "ResourceClaim", "ns1", "claim-a",
                                           "6f1c0b6e-0000-4000-8000-000000000001"};

static void test_key(void **state)
{
        struct ctl_event_ref other_uid = CLAIM;
        other_uid.uid = "6f1c0b6e-0000-4000-8000-000000000002";
        char *a = ctl_event_key(&CLAIM, CTL_EVENT_WARNING, "DeviceConflict", "Check", "dev-1");
        char *same = ctl_event_key(&CLAIM, CTL_EVENT_WARNING, "DeviceConflict", "Check", "dev-1");
        char *note = ctl_event_key(&CLAIM, CTL_EVENT_WARNING, "DeviceConflict", "Check", "dev-2");
        char *type = ctl_event_key(&CLAIM, CTL_EVENT_NORMAL, "DeviceConflict", "Check", "dev-1");
        char *uid =
                ctl_event_key(&other_uid, CTL_EVENT_WARNING, "DeviceConflict", "Check", "dev-1");
        char *reason = ctl_event_key(&CLAIM, CTL_EVENT_WARNING, "DeviceMissing", "Check", "dev-1");
        assert_string_equal(a, same);
        assert_string_not_equal(a, note);
        assert_string_not_equal(a, type);
        assert_string_not_equal(a, uid);
        assert_string_not_equal(a, reason);
        free(a), free(same), free(note), free(type), free(uid), free(reason);
}

static void test_name(void **state)
{
        char *n = ctl_event_name("claim-a", 0x18ef207a2833eda0ULL);
        assert_string_equal(n, "claim-a.18ef207a2833eda0");
        free(n);
        /* a 253-byte claim name is cut so the Event name stays a DNS subdomain */
        char longname[254];
        memset(longname, 'a', 253);
        longname[253] = '\0';
        longname[235] = '-'; /* the cut lands right after this dash */
        n = ctl_event_name(longname, 0x18ef207a2833eda0ULL);
        assert_true(strlen(n) <= DM_DNS_SUBDOMAIN_MAX);
        assert_true(dm_is_dns_subdomain(n));
        assert_true(hd_endswith(n, "a.18ef207a2833eda0"));
        free(n);
}

static void test_utf8_truncate(void **state)
{
        char s[] = "a\xc3\xa9z"; /* "aéz" */
        ctl_utf8_truncate(s, 2);
        assert_string_equal(s, "a");
        char t[] = "a\xc3\xa9z";
        ctl_utf8_truncate(t, 3);
        assert_string_equal(t, "a\xc3\xa9");
        char u[] = "short";
        ctl_utf8_truncate(u, 1024);
        assert_string_equal(u, "short");
}

static int freed;
static void count_free(void *p)
{
        freed++;
        free(p);
}

static void test_cache_lru(void **state)
{
        struct ctl_event_cache *c = ctl_event_cache_new(3, count_free);
        bool created;
        struct ctl_event_series *a = ctl_event_cache_get(c, "a", &created);
        assert_true(created);
        a->data = hd_strdup("a");
        assert_ptr_equal(ctl_event_cache_get(c, "a", &created), a);
        assert_false(created);
        ctl_event_cache_get(c, "b", &created)->data = hd_strdup("b");
        ctl_event_cache_get(c, "c", &created)->data = hd_strdup("c");
        ctl_event_cache_get(c, "a", &created); /* a is now the newest; b the oldest */
        freed = 0;
        ctl_event_cache_get(c, "d", &created);
        assert_true(created);
        assert_int_equal(ctl_event_cache_size(c), 3);
        assert_int_equal(freed, 1);
        ctl_event_cache_get(c, "b", &created);
        assert_true(created); /* b was the one evicted */
        ctl_event_cache_free(c);
}

static void test_cache_busy_not_evicted(void **state)
{
        struct ctl_event_cache *c = ctl_event_cache_new(2, count_free);
        bool created;
        ctl_event_cache_get(c, "a", &created)->busy = true;
        ctl_event_cache_get(c, "b", &created);
        assert_non_null(ctl_event_cache_get(c, "c", &created)); /* evicts b, not busy a */
        assert_non_null(ctl_event_cache_get(c, "a", &created));
        assert_false(created);
        ctl_event_cache_get(c, "c", &created)->busy = true;
        assert_null(ctl_event_cache_get(c, "d", &created)); /* everything busy */
        assert_int_equal(ctl_event_cache_size(c), 2);
        ctl_event_cache_free(c);
}

/* Occurrences recorded before the writer runs fold into one series per key. */
static void test_record_dedup(void **state)
{
        struct ctl_events_options o = {
                .driver_name = "hostdev.example.com", .instance = "test", .cache_max = 2};
        struct hd_error err = HD_ERROR_INIT;
        struct ctl_events *ev = NULL;
        assert_int_equal(ctl_events_new(NULL, &o, &ev, &err), 0);
        for (int i = 0; i < 3; i++)
                assert_int_equal(ctl_events_record(ev, &CLAIM, CTL_EVENT_WARNING, "DeviceConflict",
                                                   "Check", "device %s", "gpu-0"),
                                 0);
        struct ctl_events_stats st;
        ctl_events_get_stats(ev, &st);
        assert_int_equal(st.recorded, 3);
        assert_int_equal(st.cached, 1);
        assert_int_equal(ctl_events_record(ev, &CLAIM, CTL_EVENT_WARNING, "DeviceConflict", "Check",
                                           "device %s", "gpu-1"),
                         0);
        /* both keys wait for the writer: a third cannot evict them */
        assert_int_equal(
                ctl_events_record(ev, &CLAIM, CTL_EVENT_WARNING, "DeviceMissing", "Check", "x"),
                -ENOBUFS);
        struct ctl_event_ref bad = CLAIM;
        bad.namespace = "Not_A_Label";
        assert_int_equal(ctl_events_record(ev, &bad, CTL_EVENT_NORMAL, "R", "A", "n"), -EINVAL);
        ctl_events_get_stats(ev, &st);
        assert_int_equal(st.recorded, 4);
        assert_int_equal(st.cached, 2);
        assert_int_equal(st.dropped, 2);
        assert_int_equal(ctl_events_record(NULL, &CLAIM, CTL_EVENT_NORMAL, "R", "A", "n"), 0);
        ctl_events_free(ev);
}

static void test_bad_options(void **state)
{
        struct hd_error err = HD_ERROR_INIT;
        struct ctl_events *ev = NULL;
        struct ctl_events_options o = {.driver_name = "Not A Driver", .instance = "x"};
        assert_int_equal(ctl_events_new(NULL, &o, &ev, &err), -EINVAL);
        hd_error_done(&err);
        o = (struct ctl_events_options){.driver_name = "hostdev.example.com", .instance = ""};
        assert_int_equal(ctl_events_new(NULL, &o, &ev, &err), -EINVAL);
        hd_error_done(&err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_key),
                cmocka_unit_test(test_name),
                cmocka_unit_test(test_utf8_truncate),
                cmocka_unit_test(test_cache_lru),
                cmocka_unit_test(test_cache_busy_not_evicted),
                cmocka_unit_test(test_record_dedup),
                cmocka_unit_test(test_bad_options),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
