/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for kube/ without a server: Status → errno and messages, retry timing, the token
 * bucket, the NDJSON stream parser, field tables, ObjectMeta and paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "kube/kube-internal.h"
#include "kube/kube.h"

/* ---- Status and errno ---------------------------------------------------------------------- */

static void test_http_errno(void **state)
{
        assert_int_equal(kube_http_errno(404), ENOENT);
        assert_int_equal(kube_http_errno(409), ESTALE);
        assert_int_equal(kube_http_errno(401), EACCES);
        assert_int_equal(kube_http_errno(403), EACCES);
        assert_int_equal(kube_http_errno(410), EIDRM);
        assert_int_equal(kube_http_errno(422), EINVAL);
        assert_int_equal(kube_http_errno(400), EINVAL);
        assert_int_equal(kube_http_errno(429), EAGAIN);
        assert_int_equal(kube_http_errno(500), EAGAIN);
        assert_int_equal(kube_http_errno(503), EAGAIN);
        assert_int_equal(kube_http_errno(418), EIO);
        assert_true(kube_http_retryable(429));
        assert_true(kube_http_retryable(504));
        assert_false(kube_http_retryable(404));
        assert_false(kube_http_retryable(409));
        assert_false(kube_http_retryable(422));
}

/* Real 1.36 bodies (reference captures 04-error-404-get-missing-claim, 04-error-409-*). */
static const char not_found_body[] =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"resourceclaims.resource.k8s.io \\\"x\\\" not "
        "found\",\"reason\":\"NotFound\","
        "\"details\":{\"name\":\"x\",\"group\":\"resource.k8s.io\",\"kind\":\"resourceclaims\"},"
        "\"code\":404}";
static const char exists_body[] =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"resourceclaims.resource.k8s.io \\\"x\\\" already exists\","
        "\"reason\":\"AlreadyExists\",\"details\":{\"name\":\"x\"},\"code\":409}";
static const char conflict_body[] =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"Operation cannot be fulfilled on leases.coordination.k8s.io \\\"l\\\": the "
        "object has been modified; please apply your changes to the latest version and try "
        "again\",\"reason\":\"Conflict\",\"details\":{\"name\":\"l\"},\"code\":409}";
static const char throttled_body[] =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"Too many requests\",\"reason\":\"TooManyRequests\","
        "\"details\":{\"retryAfterSeconds\":3},\"code\":429}";

static void test_error_from_status(void **state)
{
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(
                kube_error_from_response(
                        &e, "GET",
                        "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims/x?timeout=5s",
                        404, not_found_body, strlen(not_found_body)),
                -ENOENT);
        assert_string_equal(
                e.message,
                "GET /apis/resource.k8s.io/v1/namespaces/default/resourceclaims/x: 404 NotFound: "
                "resourceclaims.resource.k8s.io \"x\" not found");
        assert_int_equal(e.http_status, 404);
        assert_int_equal(e.code, ENOENT);
        assert_true(kube_error_has_reason(&e, "NotFound"));
        assert_false(kube_error_has_reason(&e, "Not"));

        assert_int_equal(
                kube_error_from_response(&e, "POST", "/x", 409, exists_body, strlen(exists_body)),
                -ESTALE);
        assert_true(kube_error_has_reason(&e, "AlreadyExists"));
        assert_false(kube_error_has_reason(&e, "Conflict"));
        hd_error_wrap(&e, "create claim %s", "x");
        assert_true(kube_error_has_reason(&e, "AlreadyExists"));

        assert_int_equal(kube_error_from_response(&e, "PUT", "/l", 409, conflict_body,
                                                  strlen(conflict_body)),
                         -ESTALE);
        assert_true(kube_error_has_reason(&e, "Conflict"));
        assert_false(kube_error_has_reason(&e, "AlreadyExists"));

        assert_int_equal(kube_error_from_response(&e, "GET", "/y", 429, throttled_body,
                                                  strlen(throttled_body)),
                         -EAGAIN);
        assert_int_equal(e.http_status, 429);

        /* not a Status: the start of the body is quoted */
        assert_int_equal(kube_error_from_response(&e, "GET", "/z", 502, "<html>bad\ngw</html>", 19),
                         -EAGAIN);
        assert_string_equal(e.message, "GET /z: 502: <html>bad gw</html>");
        assert_int_equal(kube_error_from_response(&e, "DELETE", "/z", 403, NULL, 0), -EACCES);
        assert_string_equal(e.message, "DELETE /z: 403");
        hd_error_done(&e);
}

static void test_status_decode(void **state)
{
        struct kube_status st;
        struct hd_error e = HD_ERROR_INIT;
        _cleanup_json_ json_t *j = json_loads(throttled_body, 0, NULL);
        assert_int_equal(kube_status_decode(j, &st, &e), 0);
        assert_int_equal(st.code, 429);
        assert_string_equal(st.reason, "TooManyRequests");
        assert_string_equal(st.status, "Failure");
        assert_int_equal(st.retry_after_seconds, 3);
        kube_status_done(&st);

        _cleanup_json_ json_t *bad = json_pack("{s:s,s:i}", "kind", "Status", "reason", 5);
        assert_int_equal(kube_status_decode(bad, &st, &e), -EINVAL);
        assert_string_equal(e.message, "Status: reason: expected a string, got a number");
        hd_error_done(&e);
}

/* ---- retry timing and rate limit ----------------------------------------------------------- */

static void test_backoff(void **state)
{
        /* jitter 0 → half of the exponential delay, jitter ~1 → all of it */
        assert_int_equal(kube_backoff_ms(0, 200, 10000, 0, 0.0), 100);
        assert_int_equal(kube_backoff_ms(0, 200, 10000, 0, 0.999999999), 199);
        assert_int_equal(kube_backoff_ms(1, 200, 10000, 0, 0.0), 200);
        assert_int_equal(kube_backoff_ms(3, 200, 10000, 0, 0.5), 1200);
        /* capped */
        assert_int_equal(kube_backoff_ms(20, 200, 10000, 0, 0.0), 5000);
        assert_int_equal(kube_backoff_ms(60, 200, 10000, 0, 0.999999), 9999);
        /* Retry-After wins, capped at the max */
        assert_int_equal(kube_backoff_ms(0, 200, 10000, 2, 0.0), 2000);
        assert_int_equal(kube_backoff_ms(4, 200, 10000, 30, 0.3), 10000);
        for (int a = 0; a < 40; a++) {
                long d = kube_backoff_ms(a, 100, 3000, 0, 0.7);
                assert_true(d >= 50 && d <= 3000);
        }
}

static void test_retry_after(void **state)
{
        time_t now = 1700000000;
        assert_int_equal(kube_parse_retry_after("3", now), 3);
        assert_int_equal(kube_parse_retry_after(" 7\r\n", now), 7);
        assert_int_equal(kube_parse_retry_after("0", now), 0);
        assert_int_equal(kube_parse_retry_after("abc", now), 0);
        assert_int_equal(kube_parse_retry_after("5x", now), 0);
        assert_int_equal(kube_parse_retry_after(NULL, now), 0);
        /* 1700000000 = Tue, 14 Nov 2023 22:13:20 GMT */
        assert_int_equal(kube_parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now), 10);
        assert_int_equal(kube_parse_retry_after("Tue, 14 Nov 2023 22:13:00 GMT", now), 0);
}

/* A hostile or broken server's Retry-After must neither overflow (UBSan abort, negative delay
 * in a release build) nor park a request for years: it is clamped to KUBE_RETRY_AFTER_MAX_S. */
static void test_retry_after_clamped(void **state)
{
        time_t now = 1700000000;
        assert_int_equal(kube_parse_retry_after("99999999999999999999", now),
                         KUBE_RETRY_AFTER_MAX_S);
        assert_int_equal(kube_parse_retry_after("9223372036854775807\r\n", now),
                         KUBE_RETRY_AFTER_MAX_S);
        assert_int_equal(kube_parse_retry_after("301", now), KUBE_RETRY_AFTER_MAX_S);
        assert_int_equal(kube_parse_retry_after("300", now), 300);
        assert_int_equal(kube_parse_retry_after("99999999999999999999x", now), 0);
        assert_int_equal(kube_parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now),
                         KUBE_RETRY_AFTER_MAX_S);
        /* the delay stays positive and within the caps whatever the caller passes */
        assert_int_equal(kube_backoff_ms(0, 200, 10000, LONG_MAX, 0.0), 10000);
        assert_int_equal(kube_backoff_ms(0, 200, LONG_MAX, LONG_MAX, 0.0),
                         KUBE_RETRY_AFTER_MAX_S * 1000);
        assert_int_equal(kube_backoff_ms(0, 200, LONG_MAX,
                                         kube_parse_retry_after("99999999999999999999", now), 0.0),
                         KUBE_RETRY_AFTER_MAX_S * 1000);
}

static void test_token_bucket(void **state)
{
        struct kube_token_bucket b;
        kube_token_bucket_init(&b, 10, 3, 100.0);
        /* the burst goes at once */
        assert_int_equal(kube_token_bucket_take(&b, 100.0), 0);
        assert_int_equal(kube_token_bucket_take(&b, 100.0), 0);
        assert_int_equal(kube_token_bucket_take(&b, 100.0), 0);
        /* then one every 100 ms; reservations queue up */
        assert_int_equal(kube_token_bucket_take(&b, 100.0), 100);
        assert_int_equal(kube_token_bucket_take(&b, 100.0), 200);
        /* time refills: 0.5 s later the debt of 2 is paid and 3 tokens are back */
        assert_int_equal(kube_token_bucket_take(&b, 100.5), 0);
        assert_int_equal(kube_token_bucket_take(&b, 100.5), 0);
        assert_int_equal(kube_token_bucket_take(&b, 100.5), 0);
        assert_int_equal(kube_token_bucket_take(&b, 100.5), 100);
        /* long idle: capped at burst */
        kube_token_bucket_init(&b, 1, 2, 0.0);
        assert_int_equal(kube_token_bucket_take(&b, 1000.0), 0);
        assert_int_equal(kube_token_bucket_take(&b, 1000.0), 0);
        assert_int_equal(kube_token_bucket_take(&b, 1000.0), 1000);
        /* unlimited */
        kube_token_bucket_init(&b, -1, 1, 0.0);
        for (int i = 0; i < 100; i++)
                assert_int_equal(kube_token_bucket_take(&b, 0.0), 0);
}

/* ---- NDJSON -------------------------------------------------------------------------------- */

/* Three events as the 1.36 server sends them (ADDED, a BOOKMARK skeleton, ERROR 410). */
static const char stream[] =
        "{\"type\":\"ADDED\",\"object\":{\"kind\":\"ResourceSlice\",\"metadata\":{\"name\":\"s1\","
        "\"resourceVersion\":\"10\",\"labels\":{\"a\":\"\\u00e9\\n{}\"}}}}\n"
        "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"ResourceSlice\",\"apiVersion\":"
        "\"resource.k8s.io/"
        "v1\",\"metadata\":{\"resourceVersion\":\"12\"},\"spec\":{\"driver\":\"\"}}}\n"
        "\n"
        "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
        "\"status\":\"Failure\",\"message\":\"too old resource version: 1 (2466)\",\"reason\":"
        "\"Expired\",\"code\":410}}\r\n";

struct collected {
        int n;
        char types[8][16];
        char rvs[8][16];
};

static int collect_cb(json_t *value, void *userdata)
{
        struct collected *c = userdata;
        enum kube_event_type t;
        json_t *obj = NULL;
        const char *rv = "";
        if (kube_watch_event_decode(value, &t, &obj, NULL) < 0)
                return -EBADMSG;
        hd_json_get_string(obj, "metadata.resourceVersion", false, &rv, NULL);
        assert_true(c->n < 8);
        snprintf(c->types[c->n], sizeof(c->types[0]), "%s", kube_event_type_to_string(t));
        snprintf(c->rvs[c->n], sizeof(c->rvs[0]), "%s", rv);
        c->n++;
        return 0;
}

static void check_collected(const struct collected *c)
{
        assert_int_equal(c->n, 3);
        assert_string_equal(c->types[0], "ADDED");
        assert_string_equal(c->rvs[0], "10");
        assert_string_equal(c->types[1], "BOOKMARK");
        assert_string_equal(c->rvs[1], "12");
        assert_string_equal(c->types[2], "ERROR");
}

static void feed_in_chunks(size_t chunk)
{
        struct kube_ndjson p;
        struct collected c = {0};
        size_t len = strlen(stream);
        kube_ndjson_init(&p, 1 << 20);
        for (size_t off = 0; off < len; off += chunk) {
                size_t n = len - off < chunk ? len - off : chunk;
                assert_int_equal(kube_ndjson_feed(&p, stream + off, n, collect_cb, &c, NULL), 0);
        }
        assert_int_equal(kube_ndjson_finish(&p, collect_cb, &c, NULL), 0);
        check_collected(&c);
        kube_ndjson_done(&p);
}

static void test_ndjson_chunks(void **state)
{
        /* byte by byte, odd sizes, one big chunk */
        static const size_t sizes[] = {1, 2, 3, 7, 13, 64, 100, 4096};
        for (size_t i = 0; i < HD_ARRAY_SIZE(sizes); i++)
                feed_in_chunks(sizes[i]);
}

static void test_ndjson_final_line_and_errors(void **state)
{
        struct kube_ndjson p;
        struct collected c = {0};
        struct hd_error e = HD_ERROR_INIT;
        static const char no_newline[] =
                "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"resourceVersion\":\"5\"}}}";

        kube_ndjson_init(&p, 1 << 20);
        assert_int_equal(kube_ndjson_feed(&p, no_newline, strlen(no_newline), collect_cb, &c, NULL),
                         0);
        assert_int_equal(c.n, 0);
        assert_int_equal(kube_ndjson_finish(&p, collect_cb, &c, NULL), 0);
        assert_int_equal(c.n, 1);
        assert_string_equal(c.types[0], "DELETED");
        kube_ndjson_done(&p);

        kube_ndjson_init(&p, 1 << 20);
        assert_int_equal(kube_ndjson_feed(&p, "{\"type\":\n", 9, collect_cb, &c, &e), -EBADMSG);
        assert_non_null(strstr(e.message, "watch stream line 1:"));
        kube_ndjson_done(&p);

        /* line cap: 40 bytes split over two feeds */
        kube_ndjson_init(&p, 32);
        assert_int_equal(kube_ndjson_feed(&p, "{\"type\":\"ADDED\",", 16, collect_cb, &c, &e), 0);
        assert_int_equal(kube_ndjson_feed(&p, "\"object\":{\"x\":1}}\n", 18, collect_cb, &c, &e),
                         -EFBIG);
        kube_ndjson_done(&p);

        /* unknown event type and missing object */
        _cleanup_json_ json_t *ev = json_pack("{s:s,s:{}}", "type", "SOMETHING", "object");
        enum kube_event_type t;
        json_t *obj;
        assert_int_equal(kube_watch_event_decode(ev, &t, &obj, &e), -EBADMSG);
        _cleanup_json_ json_t *ev2 = json_pack("{s:s}", "type", "ADDED");
        assert_int_equal(kube_watch_event_decode(ev2, &t, &obj, &e), -EINVAL);
        assert_string_equal(e.message, "watch event ADDED: object: required field missing");
        hd_error_done(&e);
}

static int abort_cb(json_t *value, void *userdata)
{
        int *n = userdata;
        return ++*n == 2 ? -ECANCELED : 0;
}

static void test_ndjson_callback_abort(void **state)
{
        struct kube_ndjson p;
        int n = 0;
        kube_ndjson_init(&p, 1 << 20);
        assert_int_equal(kube_ndjson_feed(&p, "{}\n{}\n{}\n", 9, abort_cb, &n, NULL), -ECANCELED);
        assert_int_equal(n, 2);
        kube_ndjson_done(&p);
}

/* ---- typed decoding (the field-table decoder itself is tested in test_base) ---------------- */

static void test_object_meta(void **state)
{
        /* shape of a KCM-generated claim (reference 07-get-generated-claim-allocated) */
        _cleanup_json_ json_t *j = json_loads(
                "{\"metadata\":{\"name\":\"pod1-gpu-x7k2q\",\"generateName\":\"pod1-gpu-\","
                "\"namespace\":\"default\",\"uid\":\"6f0e\",\"resourceVersion\":\"2871\","
                "\"creationTimestamp\":\"2026-11-22T12:00:00Z\",\"annotations\":"
                "{\"resource.kubernetes.io/pod-claim-name\":\"gpu\"},\"finalizers\":"
                "[\"resource.kubernetes.io/"
                "delete-protection\"],\"ownerReferences\":[{\"apiVersion\":"
                "\"v1\",\"kind\":\"Pod\",\"name\":\"pod1\",\"uid\":\"abcd\",\"controller\":true}]}"
                "}",
                0, NULL);
        struct kube_object_meta m;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(kube_object_meta_decode(j, &m, &e), 0);
        assert_string_equal(m.name, "pod1-gpu-x7k2q");
        assert_string_equal(m.namespace, "default");
        assert_string_equal(m.uid, "6f0e");
        assert_string_equal(m.resource_version, "2871");
        assert_string_equal(m.generate_name, "pod1-gpu-");
        assert_int_equal(m.generation, 0);
        assert_null(m.labels);
        assert_null(m.deletion_timestamp);
        assert_string_equal(kube_strmap_get(m.annotations, "resource.kubernetes.io/pod-claim-name"),
                            "gpu");
        assert_string_equal(m.finalizers[0], "resource.kubernetes.io/delete-protection");
        assert_int_equal(m.n_owner_references, 1);
        assert_string_equal(m.owner_references[0].kind, "Pod");
        assert_true(m.owner_references[0].controller);
        assert_false(m.owner_references[0].block_owner_deletion);
        kube_object_meta_done(&m);
        kube_object_meta_done(&m); /* idempotent */

        _cleanup_json_ json_t *bad = json_loads(
                "{\"metadata\":{\"name\":\"a\",\"labels\":{\"app\":\"x\"},\"generation\":2,"
                "\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"n\","
                "\"uid\":\"u\"},{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"n\"}]}}",
                0, NULL);
        assert_int_equal(kube_object_meta_decode(bad, &m, &e), -EINVAL);
        assert_string_equal(e.message, "metadata.ownerReferences[1].uid: required field missing");
        assert_null(m.name);
        assert_null(m.owner_references);

        json_object_del(
                json_array_get(json_object_get(json_object_get(bad, "metadata"), "ownerReferences"),
                               1),
                "kind");
        json_array_remove(json_object_get(json_object_get(bad, "metadata"), "ownerReferences"), 1);
        assert_int_equal(kube_object_meta_decode(bad, &m, &e), 0);
        assert_string_equal(kube_object_meta_label(&m, "app"), "x");
        assert_int_equal(m.generation, 2);
        kube_object_meta_done(&m);
        hd_error_done(&e);
}

/* ---- paths and base64 ---------------------------------------------------------------------- */

static void test_paths(void **state)
{
        struct kube_resource claims = {"resource.k8s.io", "v1", "resourceclaims"};
        struct kube_resource pods = {"", "v1", "pods"};
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        assert_int_equal(kube_path(&claims, "default", "c1", "status", &a, NULL), 0);
        assert_int_equal(kube_path(&claims, NULL, NULL, NULL, &b, NULL), 0);
        assert_int_equal(kube_path(&pods, "kube-system", "p:1 x~", NULL, &c, NULL), 0);
        assert_string_equal(a,
                            "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims/c1/status");
        assert_string_equal(b, "/apis/resource.k8s.io/v1/resourceclaims");
        assert_string_equal(c, "/api/v1/namespaces/kube-system/pods/p%3A1%20x~");

        kube_path_add_query(&b, "labelSelector", "app in (a,b),!x");
        kube_path_add_query(&b, "limit", "2");
        kube_path_add_query(&b, "skip", NULL);
        assert_string_equal(b,
                            "/apis/resource.k8s.io/v1/"
                            "resourceclaims?labelSelector=app%20in%20%28a%2Cb%29%2C%21x&limit=2");
}

/* Dot segments survive percent-escaping and libcurl collapses them: ns/name ".."/".." made a GET
 * of one claim a GET of /apis/resource.k8s.io/v1/. The path builder refuses every segment that
 * is not a valid name before anything reaches the wire. */
static void test_path_refuses_bad_segments(void **state)
{
        struct kube_resource claims = {"resource.k8s.io", "v1", "resourceclaims"};
        static const struct {
                const char *ns, *name, *sub, *message;
        } bad[] = {
                {"..", "..", NULL, "invalid namespace \"..\": not a DNS label"},
                {".", "c1", NULL, "invalid namespace \".\": not a DNS label"},
                {"", "c1", NULL, "invalid namespace \"\": not a DNS label"},
                {"Default", "c1", NULL, "invalid namespace \"Default\": not a DNS label"},
                {"a/b", "c1", NULL, "invalid namespace \"a/b\": not a DNS label"},
                {"-a", "c1", NULL, "invalid namespace \"-a\": not a DNS label"},
                {"default", "..", NULL, "invalid resourceclaims name \"..\""},
                {"default", ".", NULL, "invalid resourceclaims name \".\""},
                {"default", "", NULL, "invalid resourceclaims name \"\""},
                {"default", "a/../b", NULL, "invalid resourceclaims name \"a/../b\""},
                {"default", "%2e%2e", NULL, "invalid resourceclaims name \"%2e%2e\""},
                {"default", "a\nb", NULL, "invalid resourceclaims name \"a\nb\""},
                {"default", "c1", "..", "invalid subresource \"..\""},
                {"default", "c1", "", "invalid subresource \"\""},
                {"default", NULL, "status", "invalid subresource \"status\""},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct hd_error e = HD_ERROR_INIT;
                char *path = NULL;
                assert_int_equal(kube_path(&claims, bad[i].ns, bad[i].name, bad[i].sub, &path, &e),
                                 -EINVAL);
                assert_null(path);
                assert_string_equal(e.message, bad[i].message);
                hd_error_done(&e);
        }
        char long_ns[65], long_name[255];
        memset(long_ns, 'a', 64);
        long_ns[64] = '\0';
        memset(long_name, 'a', 254);
        long_name[254] = '\0';
        char *path = NULL;
        assert_int_equal(kube_path(&claims, long_ns, "c1", NULL, &path, NULL), -EINVAL);
        assert_int_equal(kube_path(&claims, "default", long_name, NULL, &path, NULL), -EINVAL);
        long_ns[63] = '\0';
        long_name[253] = '\0';
        assert_int_equal(kube_path(&claims, long_ns, long_name, NULL, &path, NULL), 0);
        free(path);
}

static void test_base64(void **state)
{
        char *out = NULL;
        size_t len = 0;
        assert_int_equal(kube_base64_decode("aGVsbG8gd29ybGQ=", &out, &len), 0);
        assert_int_equal(len, 11);
        assert_string_equal(out, "hello world");
        free(out);
        assert_int_equal(kube_base64_decode("aGVs\nbG8", &out, &len), 0);
        assert_string_equal(out, "hello");
        free(out);
        assert_int_equal(kube_base64_decode("", &out, &len), 0);
        assert_int_equal(len, 0);
        free(out);
        assert_int_equal(kube_base64_decode("a$==", &out, &len), -EINVAL);
        assert_int_equal(kube_base64_decode("aGVs=bG8", &out, &len), -EINVAL);
        assert_int_equal(kube_base64_decode("a", &out, &len), -EINVAL);
}

/* ---- client without a server --------------------------------------------------------------- */

static void test_client_needs_a_server(void **state)
{
        struct kube_config cfg = {0};
        struct kube_client *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(kube_client_new(&cfg, NULL, &c, &e), -EINVAL);
        assert_null(c);
        assert_string_equal(e.message, "kube client: no server configured");
        hd_error_done(&e);
}

static void *fire_later(void *arg)
{
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
        kube_cancel_fire(arg);
        return NULL;
}

/* A refused connection is retried with backoff; a cancel token ends the wait at once. */
static void test_cancel_interrupts_retries(void **state)
{
        struct kube_config cfg = {.server = (char *)"https://127.0.0.1:1"};
        struct kube_client_options o = {
                .max_retries = 100, .backoff_base_ms = 5000, .backoff_max_ms = 5000};
        struct kube_client *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        struct kube_resource pods = {"", "v1", "pods"};
        json_t *items = NULL;
        pthread_t t;

        assert_int_equal(kube_client_new(&cfg, &o, &c, &e), 0);
        struct kube_cancel *k = kube_cancel_new();
        assert_false(kube_cancel_fired(k));
        double t0 = kube_now_s();
        assert_int_equal(pthread_create(&t, NULL, fire_later, k), 0);
        assert_int_equal(kube_list(c, &pods, NULL, NULL, k, &items, NULL, &e), -ECANCELED);
        assert_true(kube_now_s() - t0 < 2.0);
        assert_true(kube_cancel_fired(k));
        assert_string_equal(e.message, "GET /api/v1/pods: cancelled");
        assert_null(items);
        pthread_join(t, NULL);
        kube_cancel_free(k);

        /* without retries the refusal itself is reported */
        kube_client_free(c);
        o.max_retries = -1;
        assert_int_equal(kube_client_new(&cfg, &o, &c, &e), 0);
        _cleanup_json_ json_t *obj = NULL;
        assert_int_equal(kube_get(c, "/api/v1/pods?limit=1", &obj, &e), -ECONNREFUSED);
        assert_true(hd_startswith(e.message, "GET /api/v1/pods: "));
        assert_int_equal(e.http_status, 0);
        kube_client_free(c);
        hd_error_done(&e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_http_errno),
                cmocka_unit_test(test_error_from_status),
                cmocka_unit_test(test_status_decode),
                cmocka_unit_test(test_backoff),
                cmocka_unit_test(test_retry_after),
                cmocka_unit_test(test_retry_after_clamped),
                cmocka_unit_test(test_token_bucket),
                cmocka_unit_test(test_ndjson_chunks),
                cmocka_unit_test(test_ndjson_final_line_and_errors),
                cmocka_unit_test(test_ndjson_callback_abort),
                cmocka_unit_test(test_object_meta),
                cmocka_unit_test(test_paths),
                cmocka_unit_test(test_path_refuses_bad_segments),
                cmocka_unit_test(test_base64),
                cmocka_unit_test(test_client_needs_a_server),
                cmocka_unit_test(test_cancel_interrupts_retries),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
