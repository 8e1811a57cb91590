/* SPDX-License-Identifier: Apache-2.0 */
/* kube/ internals shared between its files and its unit tests. Not for other modules. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "base/strutil.h"
#include "kube/kube.h"

/* ---- small pure helpers (status.c) --------------------------------------------------------- */

/* errno (positive) for an HTTP status: 404 ENOENT, 409 ESTALE, 401/403 EACCES, 410 EIDRM,
 * 400/422 EINVAL, 429/5xx EAGAIN, 405 EOPNOTSUPP, 413 EFBIG, anything else EIO. */
int kube_http_errno(long http_status);

/* Whether an HTTP status is worth retrying (429, 5xx). */
bool kube_http_retryable(long http_status);

/* Fill RETERR for a non-2xx answer to METHOD PATH (query stripped): decodes a Status body when
 * there is one, else quotes the start of BODY. Returns -errno. */
int kube_error_from_response(struct hd_error *reterr, const char *method, const char *path,
                             long http_status, const char *body, size_t len);

/* The longest Retry-After we take from a server, in seconds; larger values are clamped. */
#define KUBE_RETRY_AFTER_MAX_S 300L

/* Delay before retry ATTEMPT (0-based) in ms: base * 2^attempt capped at MAX_MS, then jittered
 * into [d/2, d] by JITTER in [0,1). A RETRY_AFTER_S > 0 wins (clamped to
 * KUBE_RETRY_AFTER_MAX_S, then capped at MAX_MS, not jittered down). */
long kube_backoff_ms(int attempt, long base_ms, long max_ms, long retry_after_s, double jitter);

/* Parse a Retry-After header value (delta-seconds or an HTTP date relative to NOW). Seconds in
 * 0..KUBE_RETRY_AFTER_MAX_S, 0 when unparsable or in the past. */
long kube_parse_retry_after(const char *value, time_t now);

/* Token bucket: RATE tokens/s, up to BURST. */
struct kube_token_bucket {
        double rate; /* <= 0: unlimited */
        double burst;
        double tokens;
        double last_s; /* monotonic seconds of the last refill */
};
void kube_token_bucket_init(struct kube_token_bucket *b, double rate, double burst, double now_s);
/* Take one token at NOW_S; returns ms to wait before the request may go (0 = now). The token is
 * reserved even when a wait is returned. Not locked: the caller serialises. */
long kube_token_bucket_take(struct kube_token_bucket *b, double now_s);

/* Monotonic clock in seconds. */
double kube_now_s(void);

/* ---- NDJSON stream parser (ndjson.c) ------------------------------------------------------- */

/* Called per complete line with the parsed value (borrowed). Negative return aborts the feed
 * and is returned from kube_ndjson_feed(). */
typedef int (*kube_ndjson_cb)(json_t *value, void *userdata);

struct kube_ndjson {
        struct hd_strbuf partial; /* bytes of an unfinished line */
        size_t max_line;
        size_t lines;
};
void kube_ndjson_init(struct kube_ndjson *p, size_t max_line);
void kube_ndjson_done(struct kube_ndjson *p);
/* Feed LEN bytes; each complete non-blank line is parsed and passed to CB. A line that is not
 * JSON → -EBADMSG; longer than max_line → -EFBIG. */
int kube_ndjson_feed(struct kube_ndjson *p, const char *data, size_t len, kube_ndjson_cb cb,
                     void *userdata, struct hd_error *reterr);
/* End of stream: a final line without '\n' is parsed too. */
int kube_ndjson_finish(struct kube_ndjson *p, kube_ndjson_cb cb, void *userdata,
                       struct hd_error *reterr);

/* Decode one watch event {"type": ..., "object": {...}}: *RET_OBJECT borrowed from EV. */
int kube_watch_event_decode(json_t *ev, enum kube_event_type *ret_type, json_t **ret_object,
                            struct hd_error *reterr);

/* ---- config checks (config.c) -------------------------------------------------------------- */

/* Whether URL's host is localhost, 127.0.0.0/8 or ::1. */
bool kube_url_is_loopback(const char *url);

/* ---- base64 (config.c) --------------------------------------------------------------------- */

/* Decode standard base64 (whitespace ignored, padding optional). -EINVAL on bad input. */
int kube_base64_decode(const char *in, char **ret, size_t *ret_len);

/* ---- cancellation (client.c) --------------------------------------------------------------- */

struct kube_cancel {
        atomic_bool fired;
        CURLM *multi; /* calls using the token run on it; curl_multi_wakeup() interrupts them */
};

/* Sleep MS milliseconds; CANCEL (may be NULL) interrupts it. 0 or -ECANCELED. */
int kube_sleep_ms(struct kube_cancel *cancel, long ms);

/* ---- one HTTP exchange (client.c) ---------------------------------------------------------- */

/* Streaming sink: called with each chunk of a 2xx body. Return false to abort (the error is
 * then the sink's). */
typedef bool (*kube_stream_cb)(const char *data, size_t len, void *userdata);

struct kube_call {
        const char *method;
        const char *path;
        const char *content_type;
        const char *body; /* NULL = none */
        size_t body_len;
        long timeout_ms; /* 0 = client default; < 0 = none */
        bool no_retry;   /* watches are resumed by their owner, not retried here */
        struct kube_cancel *cancel;
        kube_stream_cb stream_cb; /* NULL = collect the body */
        void *stream_userdata;
        int stream_result; /* -errno the sink sets before returning false */
        /* results */
        long http_status;
        struct hd_strbuf response; /* collected body (or error body when streaming) */
};

/* Run CALL with auth, rate limit and retries. Returns the 2xx status or -errno. */
int kube_call_run(struct kube_client *c, struct kube_call *call, struct hd_error *reterr);
/* Release a call's response buffer. */
void kube_call_done(struct kube_call *call);

/* kube_request() with a cancel token (NULL = none). */
int kube_request_cancellable(struct kube_client *c, const char *method, const char *path,
                             const char *content_type, json_t *body, struct kube_cancel *cancel,
                             json_t **ret_body, struct hd_error *reterr);

/* Max body size of the client. */
size_t kube_client_max_body(const struct kube_client *c);
