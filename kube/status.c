/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP status → errno and readable errors, retry timing and the client-side rate limiter. Pure
 * functions, unit-tested without a server. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "kube/kube-internal.h"

int kube_http_errno(long http_status)
{
        switch (http_status) {
        case 400:
        case 415:
        case 422:
                return EINVAL;
        case 401:
        case 403:
                return EACCES;
        case 404:
                return ENOENT;
        case 405:
                return EOPNOTSUPP;
        case 409:
                return ESTALE;
        case 410:
                return EIDRM;
        case 413:
                return EFBIG;
        case 429:
                return EAGAIN;
        default:
                return http_status >= 500 && http_status <= 599 ? EAGAIN : EIO;
        }
}

bool kube_http_retryable(long http_status)
{
        return http_status == 429 || (http_status >= 500 && http_status <= 599);
}

/* Copy the first ~200 printable bytes of BODY for a message about a non-Status answer. */
static char *body_snippet(const char *body, size_t len)
{
        size_t n = len < 200 ? len : 200;
        char *s = hd_strndup(body ? body : "", n);
        for (char *p = s; *p; p++)
                if (!isprint((unsigned char)*p))
                        *p = ' ';
        return s;
}

int kube_error_from_response(struct hd_error *reterr, const char *method, const char *path,
                             long http_status, const char *body, size_t len)
{
        _cleanup_free_ char *plain = hd_strndup(path, strcspn(path, "?"));
        _cleanup_json_ json_t *j = NULL;
        int code = kube_http_errno(http_status);
        int r;

        if (body && len > 0)
                j = json_loadb(body, len, 0, NULL);
        if (j && hd_streq(json_string_value(json_object_get(j, "kind")), "Status")) {
                struct kube_status st = {0};
                if (kube_status_decode(j, &st, NULL) >= 0) {
                        const char *reason = st.reason && *st.reason ? st.reason : NULL;
                        const char *msg = st.message && *st.message ? st.message : NULL;
                        r = hd_error_setf(reterr, code, "%s %s: %ld%s%s%s%s", method, plain,
                                          http_status, reason ? " " : "", reason ? reason : "",
                                          msg ? ": " : "", msg ? msg : "");
                        kube_status_done(&st);
                        if (reterr)
                                reterr->http_status = (int)http_status;
                        return r;
                }
        }
        _cleanup_free_ char *snip = body_snippet(body, len);
        r = hd_error_setf(reterr, code, "%s %s: %ld%s%s", method, plain, http_status,
                          *snip ? ": " : "", snip);
        if (reterr)
                reterr->http_status = (int)http_status;
        return r;
}

bool kube_error_has_reason(const struct hd_error *err, const char *reason)
{
        if (!err || !err->message || !reason || err->http_status == 0)
                return false;
        _cleanup_free_ char *needle = hd_asprintf(": %d %s", err->http_status, reason);
        size_t nl = strlen(needle);
        for (const char *p = strstr(err->message, needle); p; p = strstr(p + 1, needle))
                if (p[nl] == '\0' || p[nl] == ':')
                        return true;
        return false;
}

long kube_backoff_ms(int attempt, long base_ms, long max_ms, long retry_after_s, double jitter)
{
        if (retry_after_s > 0) {
                /* Clamp before scaling: a server's number must not overflow the multiply. */
                if (retry_after_s > KUBE_RETRY_AFTER_MAX_S)
                        retry_after_s = KUBE_RETRY_AFTER_MAX_S;
                long ms = retry_after_s * 1000;
                return ms < max_ms ? ms : max_ms;
        }
        double d = (double)base_ms;
        for (int i = 0; i < attempt && d < (double)max_ms; i++)
                d *= 2;
        if (d > (double)max_ms)
                d = (double)max_ms;
        if (jitter < 0)
                jitter = 0;
        if (jitter >= 1)
                jitter = 0.999999;
        return (long)(d / 2 + d / 2 * jitter);
}

long kube_parse_retry_after(const char *value, time_t now)
{
        if (!value)
                return 0;
        while (*value == ' ')
                value++;
        if (isdigit((unsigned char)*value)) {
                /* delta-seconds of any length: saturate instead of overflowing */
                long s = 0;
                const char *end = value;
                for (; isdigit((unsigned char)*end); end++)
                        if (s < KUBE_RETRY_AFTER_MAX_S)
                                s = s * 10 + (*end - '0');
                while (*end == ' ' || *end == '\r' || *end == '\n')
                        end++;
                if (*end != '\0')
                        return 0;
                return s < KUBE_RETRY_AFTER_MAX_S ? s : KUBE_RETRY_AFTER_MAX_S;
        }
        time_t t = curl_getdate(value, NULL);
        if (t < 0 || t <= now)
                return 0;
        if (t - now > KUBE_RETRY_AFTER_MAX_S)
                return KUBE_RETRY_AFTER_MAX_S;
        return (long)(t - now);
}

double kube_now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void kube_token_bucket_init(struct kube_token_bucket *b, double rate, double burst, double now_s)
{
        b->rate = rate;
        b->burst = burst < 1 ? 1 : burst;
        b->tokens = b->burst;
        b->last_s = now_s;
}

long kube_token_bucket_take(struct kube_token_bucket *b, double now_s)
{
        if (b->rate <= 0)
                return 0;
        if (now_s > b->last_s) {
                b->tokens += (now_s - b->last_s) * b->rate;
                if (b->tokens > b->burst)
                        b->tokens = b->burst;
                b->last_s = now_s;
        }
        b->tokens -= 1;
        if (b->tokens >= 0)
                return 0;
        return (long)ceil(-b->tokens / b->rate * 1000.0);
}
