/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP side of the client: a pool of curl easy handles sharing DNS and TLS sessions, bearer
 * tokens re-read when their file changes, the rate limiter, retries and cancellable calls. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/strutil.h"
#include "kube/cleanup.h"
#include "kube/kube-internal.h"
#include "kube/kube.h"

#define TOKEN_MAX_BYTES (64u << 10)

struct kube_client {
        struct kube_config *cfg; /* own copy */
        char *user_agent;
        struct kube_client_options opts;

        pthread_mutex_t lock; /* guards everything below */
        CURL **idle;          /* pool of idle easy handles */
        size_t n_idle, cap_idle;
        struct kube_token_bucket bucket;
        uint64_t rng;
        char *token; /* current bearer token (from cfg->token or the token file) */
        struct stat token_st;
        bool token_st_valid;

        CURLSH *share;
        pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock_cb(CURL *h, curl_lock_data data, curl_lock_access access, void *userp)
{
        struct kube_client *c = userp;
        pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock_cb(CURL *h, curl_lock_data data, void *userp)
{
        struct kube_client *c = userp;
        pthread_mutex_unlock(&c->share_locks[data]);
}

static char *dup_bytes(const char *p, size_t n)
{
        if (!p)
                return NULL;
        char *d = hd_malloc0(n + 1);
        memcpy(d, p, n);
        return d;
}

static struct kube_config *config_copy(const struct kube_config *s)
{
        struct kube_config *d = hd_new0(struct kube_config, 1);
        d->server = hd_strdup(s->server);
        d->ca_file = hd_strdup(s->ca_file);
        d->ca_data = dup_bytes(s->ca_data, s->ca_data_len);
        d->ca_data_len = s->ca_data_len;
        d->insecure_skip_tls_verify = s->insecure_skip_tls_verify;
        d->token = hd_strdup(s->token);
        d->token_file = hd_strdup(s->token_file);
        d->client_cert_file = hd_strdup(s->client_cert_file);
        d->client_cert_data = dup_bytes(s->client_cert_data, s->client_cert_data_len);
        d->client_cert_data_len = s->client_cert_data_len;
        d->client_key_file = hd_strdup(s->client_key_file);
        d->client_key_data = dup_bytes(s->client_key_data, s->client_key_data_len);
        d->client_key_data_len = s->client_key_data_len;
        d->namespace = hd_strdup(s->namespace);
        d->kubeconfig_path = hd_strdup(s->kubeconfig_path);
        return d;
}

int kube_client_new(const struct kube_config *cfg, const struct kube_client_options *opts,
                    struct kube_client **ret_client, struct hd_error *reterr)
{
        struct kube_client_options o = opts ? *opts : (struct kube_client_options){0};

        if (!cfg)
                return hd_error_setf(reterr, EINVAL, "kube client: no server configured");
        int r = kube_config_check(cfg, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "kube client");
        pthread_once(&curl_once, curl_init_once);

        if (o.qps == 0)
                o.qps = 20;
        if (o.burst <= 0)
                o.burst = o.qps > 0 ? (int)(o.qps * 2) : 1;
        if (o.timeout_ms <= 0)
                o.timeout_ms = 30000;
        if (o.connect_timeout_ms <= 0)
                o.connect_timeout_ms = 10000;
        if (o.max_retries == 0)
                o.max_retries = 5;
        if (o.max_retries < 0)
                o.max_retries = 0;
        if (o.backoff_base_ms <= 0)
                o.backoff_base_ms = 200;
        if (o.backoff_max_ms <= 0)
                o.backoff_max_ms = 10000;
        if (o.max_body_bytes == 0)
                o.max_body_bytes = 64u << 20;

        struct kube_client *c = hd_new0(struct kube_client, 1);
        c->cfg = config_copy(cfg);
        c->user_agent =
                o.user_agent ? hd_strdup(o.user_agent) : hd_asprintf("hostdev/%s", HOSTDEV_VERSION);
        o.user_agent = c->user_agent;
        c->opts = o;
        pthread_mutex_init(&c->lock, NULL);
        kube_token_bucket_init(&c->bucket, o.qps, o.burst, kube_now_s());
        c->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)c;
        c->token = hd_strdup(cfg->token);
        for (size_t i = 0; i < HD_ARRAY_SIZE(c->share_locks); i++)
                pthread_mutex_init(&c->share_locks[i], NULL);
        c->share = curl_share_init();
        if (c->share) {
                curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock_cb);
                curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock_cb);
                curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
                curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
                curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
        }
        *ret_client = c;
        return 0;
}

struct kube_client *kube_client_free(struct kube_client *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_idle; i++)
                curl_easy_cleanup(c->idle[i]);
        free(c->idle);
        if (c->share)
                curl_share_cleanup(c->share);
        for (size_t i = 0; i < HD_ARRAY_SIZE(c->share_locks); i++)
                pthread_mutex_destroy(&c->share_locks[i]);
        pthread_mutex_destroy(&c->lock);
        if (c->token)
                explicit_bzero(c->token, strlen(c->token));
        free(c->token);
        free(c->user_agent);
        kube_config_free(c->cfg);
        free(c);
        return NULL;
}

const char *kube_client_namespace(const struct kube_client *c)
{
        return c->cfg->namespace;
}

size_t kube_client_max_body(const struct kube_client *c)
{
        return c->opts.max_body_bytes;
}

/* ---- paths --------------------------------------------------------------------------------- */

static void pct_escape(struct hd_strbuf *b, const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
                        hd_strbuf_append(b, (const char *)p, 1);
                } else {
                        char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
                        hd_strbuf_append(b, e, 3);
                }
        }
}

/* A namespace is an RFC 1123 DNS label. */
static bool valid_namespace(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
                        return false;
        return true;
}

/* An object name becomes one path segment. The API server refuses ".", ".." and names with '/'
 * or '%' for every resource, and libcurl would collapse dot segments, turning a GET of one object
 * into a GET of its parent collection. Control characters have no place in a name either. */
static bool valid_name(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 253 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if (*p == '/' || *p == '%' || *p < 0x20 || *p == 0x7f)
                        return false;
        return true;
}

/* Subresources are lowercase words ("status", "scale", "eviction"). */
static bool valid_subresource(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 63)
                return false;
        for (const char *p = s; *p; p++)
                if (!(*p >= 'a' && *p <= 'z'))
                        return false;
        return true;
}

int kube_path(const struct kube_resource *r, const char *ns, const char *name,
              const char *subresource, char **ret_path, struct hd_error *reterr)
{
        if (ns && !valid_namespace(ns))
                return hd_error_setf(reterr, EINVAL, "invalid namespace \"%s\": not a DNS label",
                                     ns);
        if (name && !valid_name(name))
                return hd_error_setf(reterr, EINVAL, "invalid %s name \"%s\"", r->resource, name);
        if (subresource && (!name || !valid_subresource(subresource)))
                return hd_error_setf(reterr, EINVAL, "invalid subresource \"%s\"", subresource);

        struct hd_strbuf b = HD_STRBUF_INIT;
        if (!r->group || !*r->group)
                hd_strbuf_printf(&b, "/api/%s", r->version);
        else
                hd_strbuf_printf(&b, "/apis/%s/%s", r->group, r->version);
        if (ns) {
                hd_strbuf_puts(&b, "/namespaces/");
                pct_escape(&b, ns);
        }
        hd_strbuf_printf(&b, "/%s", r->resource);
        if (name) {
                hd_strbuf_puts(&b, "/");
                pct_escape(&b, name);
                if (subresource)
                        hd_strbuf_printf(&b, "/%s", subresource);
        }
        *ret_path = hd_strbuf_take(&b);
        return 0;
}

void kube_path_add_query(char **path, const char *key, const char *value)
{
        if (!value)
                return;
        struct hd_strbuf b = HD_STRBUF_INIT;
        hd_strbuf_puts(&b, *path);
        hd_strbuf_puts(&b, strchr(*path, '?') ? "&" : "?");
        pct_escape(&b, key);
        hd_strbuf_puts(&b, "=");
        pct_escape(&b, value);
        free(*path);
        *path = hd_strbuf_take(&b);
}

/* ---- cancellation -------------------------------------------------------------------------- */

struct kube_cancel *kube_cancel_new(void)
{
        pthread_once(&curl_once, curl_init_once);
        struct kube_cancel *k = hd_new0(struct kube_cancel, 1);
        atomic_init(&k->fired, false);
        k->multi = curl_multi_init();
        if (!k->multi)
                abort(); /* only fails on out-of-memory */
        return k;
}

void kube_cancel_fire(struct kube_cancel *k)
{
        atomic_store(&k->fired, true);
        curl_multi_wakeup(k->multi);
}

bool kube_cancel_fired(const struct kube_cancel *k)
{
        return k && atomic_load(&((struct kube_cancel *)k)->fired);
}

struct kube_cancel *kube_cancel_free(struct kube_cancel *k)
{
        if (!k)
                return NULL;
        curl_multi_cleanup(k->multi);
        free(k);
        return NULL;
}

int kube_sleep_ms(struct kube_cancel *cancel, long ms)
{
        double end = kube_now_s() + (double)ms / 1000.0;
        for (;;) {
                if (kube_cancel_fired(cancel))
                        return -ECANCELED;
                double left = end - kube_now_s();
                if (left <= 0)
                        return 0;
                if (cancel) {
                        curl_multi_poll(cancel->multi, NULL, 0, (int)(left * 1000) + 1, NULL);
                } else {
                        struct timespec ts = {(time_t)left,
                                              (long)((left - (double)(time_t)left) * 1e9)};
                        nanosleep(&ts, NULL);
                }
        }
}

/* ---- tokens -------------------------------------------------------------------------------- */

static bool stat_changed(const struct stat *a, const struct stat *b)
{
        return a->st_ino != b->st_ino || a->st_dev != b->st_dev || a->st_size != b->st_size ||
               a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec;
}

/* Re-read the token file when it changed (or FORCE). Called with c->lock held. A read failure
 * keeps the old token: projected tokens are replaced by rename, never left missing. */
static void token_refresh_locked(struct kube_client *c, bool force)
{
        struct stat st;
        if (!c->cfg->token_file)
                return;
        if (stat(c->cfg->token_file, &st) < 0)
                return;
        if (!force && c->token_st_valid && !stat_changed(&st, &c->token_st))
                return;
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        if (hd_read_file(c->cfg->token_file, TOKEN_MAX_BYTES, false, &data, &len, NULL) < 0)
                return;
        while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' ' ||
                           data[len - 1] == '\t'))
                data[--len] = '\0';
        if (len == 0)
                return;
        if (c->token)
                explicit_bzero(c->token, strlen(c->token));
        free(c->token);
        c->token = TAKE_PTR(data);
        c->token_st = st;
        c->token_st_valid = true;
        hd_log_v(4, "kube: bearer token loaded", "file", c->cfg->token_file);
}

static char *token_get(struct kube_client *c)
{
        pthread_mutex_lock(&c->lock);
        token_refresh_locked(c, false);
        char *t = hd_strdup(c->token);
        pthread_mutex_unlock(&c->lock);
        return t;
}

/* After a 401: re-read the token file or the kubeconfig. true when the token changed from
 * USED. */
static bool token_renew(struct kube_client *c, const char *used)
{
        _cleanup_free_ char *fresh = NULL;
        if (!c->cfg->token_file && c->cfg->kubeconfig_path) {
                _cleanup_kube_config_ struct kube_config *k = NULL;
                if (kube_config_load_kubeconfig(c->cfg->kubeconfig_path, NULL, &k, NULL) >= 0)
                        fresh = hd_strdup(k->token);
        }
        pthread_mutex_lock(&c->lock);
        if (fresh) {
                free(c->token);
                c->token = TAKE_PTR(fresh);
        } else {
                token_refresh_locked(c, true);
        }
        bool changed = c->token && !hd_streq(c->token, used);
        pthread_mutex_unlock(&c->lock);
        return changed;
}

/* ---- handles ------------------------------------------------------------------------------- */

static CURL *handle_get(struct kube_client *c)
{
        CURL *h = NULL;
        pthread_mutex_lock(&c->lock);
        if (c->n_idle > 0)
                h = c->idle[--c->n_idle];
        pthread_mutex_unlock(&c->lock);
        if (!h)
                h = curl_easy_init();
        if (!h)
                abort(); /* only fails on out-of-memory */
        return h;
}

static void handle_put(struct kube_client *c, CURL *h)
{
        pthread_mutex_lock(&c->lock);
        if (c->n_idle == c->cap_idle) {
                c->cap_idle = c->cap_idle ? c->cap_idle * 2 : 8;
                c->idle = hd_realloc_array(c->idle, c->cap_idle, sizeof(CURL *));
        }
        c->idle[c->n_idle++] = h;
        pthread_mutex_unlock(&c->lock);
}

struct sink {
        struct kube_client *c;
        struct kube_call *call;
        CURL *h;
        bool too_big;
        bool stream_failed;
        long retry_after_s;
};

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct sink *s = userdata;
        size_t n = size * nmemb;
        if (s->call->stream_cb) {
                long code = 0;
                curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
                if (code >= 200 && code < 300) {
                        if (!s->call->stream_cb(ptr, n, s->call->stream_userdata)) {
                                s->stream_failed = true;
                                return 0;
                        }
                        return n;
                }
        }
        if (s->call->response.len + n > s->c->opts.max_body_bytes) {
                s->too_big = true;
                return 0;
        }
        hd_strbuf_append(&s->call->response, ptr, n);
        return n;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
        struct sink *s = userdata;
        size_t n = size * nitems;
        static const char name[] = "retry-after:";
        if (n > sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
                _cleanup_free_ char *v = hd_strndup(buf + sizeof(name) - 1, n - (sizeof(name) - 1));
                s->retry_after_s = kube_parse_retry_after(v, time(NULL));
        }
        return n;
}

/* Curl error → errno; *retry says whether another attempt may help for METHOD. */
static int curl_errno(CURLcode rc, const char *method, bool *retry)
{
        bool idempotent = !hd_streq(method, "POST") && !hd_streq(method, "PATCH");
        *retry = false;
        switch (rc) {
        case CURLE_COULDNT_CONNECT:
                *retry = true;
                return ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
                *retry = true;
                return EHOSTUNREACH;
        case CURLE_OPERATION_TIMEDOUT:
                *retry = idempotent;
                return ETIMEDOUT;
        case CURLE_SSL_CONNECT_ERROR:
                *retry = true;
                return ECONNRESET;
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
                *retry = idempotent;
                return ECONNRESET;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
                return EPROTO;
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
                return EINVAL;
        default:
                return EIO;
        }
}

static void setup_tls(struct kube_client *c, CURL *h)
{
        const struct kube_config *cfg = c->cfg;
        if (cfg->insecure_skip_tls_verify) {
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        } else {
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
        }
        if (cfg->ca_data) {
                struct curl_blob blob = {cfg->ca_data, cfg->ca_data_len, CURL_BLOB_COPY};
                curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
        } else if (cfg->ca_file) {
                curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
        }
        if (cfg->client_cert_data) {
                struct curl_blob blob = {cfg->client_cert_data, cfg->client_cert_data_len,
                                         CURL_BLOB_COPY};
                curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
                curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        } else if (cfg->client_cert_file) {
                curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->client_cert_file);
                curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        }
        if (cfg->client_key_data) {
                struct curl_blob blob = {cfg->client_key_data, cfg->client_key_data_len,
                                         CURL_BLOB_COPY};
                curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
                curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
        } else if (cfg->client_key_file) {
                curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->client_key_file);
                curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
        }
}

/* Run one attempt on H. Returns the CURLcode; -ECANCELED via *cancelled. */
static CURLcode perform(CURL *h, struct kube_cancel *cancel, bool *cancelled)
{
        *cancelled = false;
        if (!cancel)
                return curl_easy_perform(h);

        CURLcode rc = CURLE_OK;
        int running = 1;
        curl_multi_add_handle(cancel->multi, h);
        for (;;) {
                if (kube_cancel_fired(cancel)) {
                        *cancelled = true;
                        break;
                }
                if (curl_multi_perform(cancel->multi, &running) != CURLM_OK) {
                        rc = CURLE_FAILED_INIT;
                        break;
                }
                if (running == 0)
                        break;
                curl_multi_poll(cancel->multi, NULL, 0, 1000, NULL);
        }
        int left = 0;
        CURLMsg *m;
        while ((m = curl_multi_info_read(cancel->multi, &left)))
                if (m->msg == CURLMSG_DONE && m->easy_handle == h)
                        rc = m->data.result;
        curl_multi_remove_handle(cancel->multi, h);
        return rc;
}

/* One attempt. Returns the HTTP status (> 0), or -errno for a transport failure with RETERR set
 * and *retry saying whether to try again. */
static int attempt(struct kube_client *c, CURL *h, struct kube_call *call, const char *token,
                   struct sink *s, bool *retry, struct hd_error *reterr)
{
        _cleanup_free_ char *url = hd_asprintf("%s%s", c->cfg->server, call->path);
        _cleanup_curl_slist_ struct curl_slist *hdrs = NULL;
        _cleanup_free_ char *auth = NULL;
        _cleanup_free_ char *ctype = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        long timeout = call->timeout_ms == 0 ? c->opts.timeout_ms
                                             : (call->timeout_ms < 0 ? 0 : call->timeout_ms);
        bool cancelled = false;

        *retry = false;
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->opts.connect_timeout_ms);
        if (c->share)
                curl_easy_setopt(h, CURLOPT_SHARE, c->share);
        setup_tls(c, h);

        hdrs = curl_slist_append(hdrs, "Accept: application/json");
        if (token) {
                auth = hd_asprintf("Authorization: Bearer %s", token);
                hdrs = curl_slist_append(hdrs, auth);
        }
        if (hd_streq(call->method, "GET")) {
                curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        } else {
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, call->method);
                if (call->body || !hd_streq(call->method, "DELETE")) {
                        ctype = hd_asprintf("Content-Type: %s", call->content_type
                                                                        ? call->content_type
                                                                        : "application/json");
                        hdrs = curl_slist_append(hdrs, ctype);
                        /* no "Expect: 100-continue" round trip for bodies over 1 KiB */
                        hdrs = curl_slist_append(hdrs, "Expect:");
                        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)call->body_len);
                        curl_easy_setopt(h, CURLOPT_POSTFIELDS, call->body ? call->body : "");
                }
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, s);

        CURLcode rc = perform(h, call->cancel, &cancelled);
        int plen = (int)strcspn(call->path, "?"); /* messages leave the query out */
        if (cancelled)
                return hd_error_setf(reterr, ECANCELED, "%s %.*s: cancelled", call->method, plen,
                                     call->path);
        if (rc == CURLE_WRITE_ERROR && s->stream_failed)
                return call->stream_result < 0 ? call->stream_result : -EIO;
        if (rc == CURLE_WRITE_ERROR && s->too_big)
                return hd_error_setf(reterr, EFBIG, "%s %.*s: response larger than %zu bytes",
                                     call->method, plen, call->path, c->opts.max_body_bytes);
        if (rc != CURLE_OK) {
                int e = curl_errno(rc, call->method, retry);
                return hd_error_setf(reterr, e, "%s %.*s: %s", call->method, plen, call->path,
                                     *errbuf ? errbuf : curl_easy_strerror(rc));
        }
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        return (int)code;
}

/* One request with its retries. Failed attempts fill ERR, the caller's scratch error; only the
 * final outcome reaches the caller of kube_call_run(). */
static int call_run(struct kube_client *c, struct kube_call *call, struct hd_error *err)
{
        bool auth_retried = false;
        int r;

        for (int n = 0;; n++) {
                pthread_mutex_lock(&c->lock);
                long wait = kube_token_bucket_take(&c->bucket, kube_now_s());
                pthread_mutex_unlock(&c->lock);
                if (wait > 0 && kube_sleep_ms(call->cancel, wait) < 0)
                        return hd_error_setf(err, ECANCELED, "%s %.*s: cancelled", call->method,
                                             (int)strcspn(call->path, "?"), call->path);

                _cleanup_free_ char *token = token_get(c);
                struct sink s = {.c = c, .call = call};
                bool retry = false;
                CURL *h = handle_get(c);
                s.h = h;
                call->response.len = 0;
                if (call->response.buf)
                        call->response.buf[0] = '\0';
                call->http_status = 0;
                r = attempt(c, h, call, token, &s, &retry, err);
                handle_put(c, h);

                if (r >= 200 && r < 300) {
                        call->http_status = r;
                        return r;
                }
                if (r > 0) {
                        call->http_status = r;
                        if (r == 401 && !auth_retried && token_renew(c, token)) {
                                auth_retried = true;
                                hd_log_v(4, "kube: 401, retrying with a renewed token");
                                n--;
                                continue;
                        }
                        retry = kube_http_retryable(r);
                        kube_error_from_response(err, call->method, call->path, r,
                                                 call->response.buf, call->response.len);
                        r = -kube_http_errno(r);
                } else if (s.stream_failed) {
                        hd_error_done(err); /* the stream consumer reported its own error */
                        return r;
                } else if (r == -ECANCELED) {
                        return r;
                }
                if (!retry || call->no_retry || n >= c->opts.max_retries)
                        return r;

                pthread_mutex_lock(&c->lock);
                c->rng ^= c->rng << 13;
                c->rng ^= c->rng >> 7;
                c->rng ^= c->rng << 17;
                double jitter = (double)(c->rng >> 11) / (double)(1ULL << 53);
                pthread_mutex_unlock(&c->lock);
                long delay = kube_backoff_ms(n, c->opts.backoff_base_ms, c->opts.backoff_max_ms,
                                             s.retry_after_s, jitter);
                hd_log_v(4, "kube: retrying request", "method", call->method, "path", call->path,
                         "error", hd_error_message(err), "delay_ms", HD_INT(delay));
                if (kube_sleep_ms(call->cancel, delay) < 0)
                        return hd_error_setf(err, ECANCELED, "%s %.*s: cancelled", call->method,
                                             (int)strcspn(call->path, "?"), call->path);
        }
}

int kube_call_run(struct kube_client *c, struct kube_call *call, struct hd_error *reterr)
{
        struct hd_error err = HD_ERROR_INIT;
        int r = call_run(c, call, &err);
        if (r >= 0 || err.code == 0) {
                /* success, or a stream consumer failed and filled RETERR itself */
                hd_error_done(&err);
                return r;
        }
        hd_error_move(reterr, &err);
        return r;
}

void kube_call_done(struct kube_call *call)
{
        hd_strbuf_done(&call->response);
}
