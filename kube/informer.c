/* SPDX-License-Identifier: Apache-2.0 */
/* An informer: list, then watch from the list's resourceVersion on a thread of its own; resume
 * after a stream ends, relist on 410 Expired, back off on errors. The cache maps
 * "namespace/name" to the current object (a jansson object used as the hash table). Cached
 * objects never leave the informer thread as shared references: other threads get deep copies.
 * jansson's refcount drops to zero without an acquire fence, so an object whose last two
 * references live on different threads is a data race in the C11 model (TSan reports it). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strutil.h"
#include "kube/kube-internal.h"
#include "kube/kube.h"

struct kube_informer {
        struct kube_client *c;
        struct kube_resource res;
        char *group, *version, *resource, *ns, *label_selector, *field_selector;
        unsigned page_size;
        int watch_timeout_s, backoff_base_ms, backoff_max_ms;
        bool metadata_only;
        struct kube_informer_callbacks cbs;
        void *userdata;
        struct kube_cancel *cancel;
        pthread_t thread;
        bool started, joined;
        unsigned seed;

        pthread_mutex_t lock;   /* guards cache, rv, synced, stopped */
        pthread_cond_t changed; /* signalled when rv, synced or stopped change */
        bool stopped;
        json_t *cache;
        char *rv;
        bool synced;
};

int kube_informer_new(struct kube_client *c, const struct kube_informer_options *opts,
                      const struct kube_informer_callbacks *cbs, void *userdata,
                      struct kube_informer **ret_informer, struct hd_error *reterr)
{
        if (!opts || !opts->resource.version || !opts->resource.resource)
                return hd_error_setf(reterr, EINVAL,
                                     "informer: resource version and name required");
        struct kube_informer *inf = hd_new0(struct kube_informer, 1);
        inf->c = c;
        inf->group = hd_strdup(opts->resource.group ? opts->resource.group : "");
        inf->version = hd_strdup(opts->resource.version);
        inf->resource = hd_strdup(opts->resource.resource);
        inf->res = (struct kube_resource){inf->group, inf->version, inf->resource};
        inf->ns = opts->ns && *opts->ns ? hd_strdup(opts->ns) : NULL;
        inf->label_selector = hd_strdup(opts->label_selector);
        inf->field_selector = hd_strdup(opts->field_selector);
        inf->page_size = opts->page_size ? opts->page_size : 500;
        inf->watch_timeout_s = opts->watch_timeout_seconds > 0 ? opts->watch_timeout_seconds : 300;
        inf->backoff_base_ms = opts->backoff_base_ms > 0 ? opts->backoff_base_ms : 500;
        inf->backoff_max_ms = opts->backoff_max_ms > 0 ? opts->backoff_max_ms : 30000;
        inf->metadata_only = opts->metadata_only;
        if (cbs)
                inf->cbs = *cbs;
        inf->userdata = userdata;
        inf->cancel = kube_cancel_new();
        inf->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)inf;
        pthread_mutex_init(&inf->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&inf->changed, &ca);
        pthread_condattr_destroy(&ca);
        inf->cache = json_object();
        *ret_informer = inf;
        return 0;
}

/* "ns/name" or "name"; NULL when the object has no name. */
static char *object_key(json_t *obj)
{
        const char *ns = NULL, *name = NULL;
        if (hd_json_get_string(obj, "metadata.name", true, &name, NULL) < 0)
                return NULL;
        hd_json_get_string(obj, "metadata.namespace", false, &ns, NULL);
        return ns && *ns ? hd_asprintf("%s/%s", ns, name) : hd_strdup(name);
}

static const char *object_rv(json_t *obj)
{
        const char *rv = NULL;
        hd_json_get_string(obj, "metadata.resourceVersion", false, &rv, NULL);
        return rv;
}

/* What the cache keeps of OBJ: OBJ itself, or (metadata_only) just its resourceVersion as a
 * JSON string; the key holds namespace and name. New reference. */
static json_t *cache_entry(struct kube_informer *inf, json_t *obj)
{
        if (!inf->metadata_only)
                return json_incref(obj);
        const char *rv = object_rv(obj);
        return json_string(rv ? rv : "");
}

/* The resourceVersion of cached value V. */
static const char *cached_rv(json_t *v)
{
        return json_is_string(v) ? json_string_value(v) : object_rv(v);
}

/* Cached value V under KEY as an object for callers: V itself, or a stub {"metadata": {name,
 * namespace, resourceVersion}} rebuilt from the key. New reference. */
static json_t *cached_object(const char *key, json_t *v)
{
        if (!json_is_string(v))
                return json_incref(v);
        const char *slash = strchr(key, '/');
        json_t *meta = json_pack("{ss}", "resourceVersion", json_string_value(v));
        if (slash) {
                json_object_set_new(meta, "namespace", json_stringn(key, (size_t)(slash - key)));
                json_object_set_new(meta, "name", json_string(slash + 1));
        } else {
                json_object_set_new(meta, "name", json_string(key));
        }
        return json_pack("{so}", "metadata", meta);
}

static void set_rv_locked(struct kube_informer *inf, const char *rv)
{
        if (!rv || !*rv)
                return;
        free(inf->rv);
        inf->rv = hd_strdup(rv);
        pthread_cond_broadcast(&inf->changed);
}

/* Replace the cache with ITEMS and report the differences. */
static int apply_list(struct kube_informer *inf, json_t *items, const char *rv)
{
        _cleanup_json_ json_t *fresh = json_object();
        _cleanup_json_ json_t *added = json_array();
        _cleanup_json_ json_t *updated = json_array(); /* [old, new] pairs */
        _cleanup_json_ json_t *deleted = json_array();
        _cleanup_json_ json_t *old_cache = NULL;
        size_t i;
        json_t *obj;

        json_array_foreach(items, i, obj)
        {
                _cleanup_free_ char *key = object_key(obj);
                if (key)
                        json_object_set(fresh, key, obj);
        }

        pthread_mutex_lock(&inf->lock);
        const char *key;
        json_object_foreach(fresh, key, obj)
        {
                json_t *old = json_object_get(inf->cache, key);
                if (!old)
                        json_array_append(added, obj);
                else if (!hd_streq(cached_rv(old), object_rv(obj)))
                        json_array_append_new(updated,
                                              json_pack("[oO]", cached_object(key, old), obj));
        }
        json_object_foreach(inf->cache, key, obj) if (!json_object_get(fresh, key))
                json_array_append_new(deleted, cached_object(key, obj));
        old_cache = inf->cache;
        inf->cache = json_object();
        json_object_foreach(fresh, key, obj)
                json_object_set_new(inf->cache, key, cache_entry(inf, obj));
        set_rv_locked(inf, rv);
        inf->synced = true;
        pthread_cond_broadcast(&inf->changed);
        pthread_mutex_unlock(&inf->lock);

        if (inf->cbs.delete_cb)
                json_array_foreach(deleted, i, obj) inf->cbs.delete_cb(obj, inf->userdata);
        if (inf->cbs.add_cb)
                json_array_foreach(added, i, obj) inf->cbs.add_cb(obj, inf->userdata);
        if (inf->cbs.update_cb)
                json_array_foreach(updated, i, obj) inf->cbs.update_cb(
                        json_array_get(obj, 0), json_array_get(obj, 1), inf->userdata);
        if (inf->cbs.synced_cb)
                inf->cbs.synced_cb(inf->userdata);
        return 0;
}

static int relist(struct kube_informer *inf, struct hd_error *reterr)
{
        _cleanup_json_ json_t *items = NULL;
        _cleanup_free_ char *rv = NULL;
        struct kube_list_options o = {
                .label_selector = inf->label_selector,
                .field_selector = inf->field_selector,
                .limit = inf->page_size,
        };
        int r = kube_list(inf->c, &inf->res, inf->ns, &o, inf->cancel, &items, &rv, reterr);
        if (r < 0)
                return r;
        hd_log_v(4, "kube informer: listed", "resource", inf->resource, "items",
                 HD_INT(json_array_size(items)), "resourceVersion", rv ? rv : "");
        return apply_list(inf, items, rv);
}

struct watch_state {
        struct kube_informer *inf;
        size_t events;
};

static int informer_event_cb(enum kube_event_type type, json_t *obj, void *userdata)
{
        struct watch_state *ws = userdata;
        struct kube_informer *inf = ws->inf;
        _cleanup_json_ json_t *old = NULL;
        _cleanup_free_ char *key = NULL;

        ws->events++;
        switch (type) {
        case KUBE_EVENT_BOOKMARK:
                pthread_mutex_lock(&inf->lock);
                set_rv_locked(inf, object_rv(obj));
                pthread_mutex_unlock(&inf->lock);
                return 0;
        case KUBE_EVENT_ERROR:
                return 0; /* kube_watch() turns the Status into the error */
        case KUBE_EVENT_ADDED:
        case KUBE_EVENT_MODIFIED:
        case KUBE_EVENT_DELETED:
                break;
        }
        key = object_key(obj);
        if (!key)
                return 0; /* nameless objects cannot be cached; skip them */

        pthread_mutex_lock(&inf->lock);
        json_t *cached = json_object_get(inf->cache, key);
        old = cached ? cached_object(key, cached) : NULL;
        if (type == KUBE_EVENT_DELETED)
                json_object_del(inf->cache, key);
        else
                json_object_set_new(inf->cache, key, cache_entry(inf, obj));
        set_rv_locked(inf, object_rv(obj));
        pthread_mutex_unlock(&inf->lock);

        if (type == KUBE_EVENT_DELETED) {
                if (old && inf->cbs.delete_cb)
                        inf->cbs.delete_cb(obj, inf->userdata);
        } else if (old) {
                if (inf->cbs.update_cb)
                        inf->cbs.update_cb(old, obj, inf->userdata);
        } else if (inf->cbs.add_cb) {
                inf->cbs.add_cb(obj, inf->userdata);
        }
        return 0;
}

static int watch_once(struct kube_informer *inf, size_t *ret_events, struct hd_error *reterr)
{
        pthread_mutex_lock(&inf->lock);
        _cleanup_free_ char *rv = hd_strdup(inf->rv);
        pthread_mutex_unlock(&inf->lock);
        struct kube_list_options o = {
                .label_selector = inf->label_selector,
                .field_selector = inf->field_selector,
                .resource_version = rv,
                .timeout_seconds = inf->watch_timeout_s,
                .allow_bookmarks = true,
        };
        struct watch_state ws = {.inf = inf};
        int r = kube_watch(inf->c, &inf->res, inf->ns, &o, inf->cancel, informer_event_cb, &ws,
                           reterr);
        *ret_events = ws.events;
        return r;
}

static void report(struct kube_informer *inf, const struct hd_error *err)
{
        hd_log_v(4, "kube informer: error", "resource", inf->resource, "error",
                 hd_error_message(err));
        if (inf->cbs.error_cb)
                inf->cbs.error_cb(err, inf->userdata);
}

static int backoff(struct kube_informer *inf, int *failures)
{
        double jitter = (double)rand_r(&inf->seed) / ((double)RAND_MAX + 1.0);
        long ms = kube_backoff_ms(*failures, inf->backoff_base_ms, inf->backoff_max_ms, 0, jitter);
        if (*failures < 30)
                (*failures)++;
        return kube_sleep_ms(inf->cancel, ms);
}

enum next { NEXT_GO, NEXT_RETRY, NEXT_STOP };

/* After a list or watch attempt that returned R: stop when cancelled; on failure report ERR and
 * back off before a retry. ERR is released either way. */
static enum next after_attempt(struct kube_informer *inf, int r, struct hd_error *err,
                               int *failures)
{
        enum next n = NEXT_GO;
        if (r == -ECANCELED || kube_cancel_fired(inf->cancel))
                n = NEXT_STOP;
        else if (r < 0) {
                report(inf, err);
                n = backoff(inf, failures) < 0 ? NEXT_STOP : NEXT_RETRY;
        }
        hd_error_done(err);
        return n;
}

static void *informer_thread(void *arg)
{
        struct kube_informer *inf = arg;
        bool need_list = true;
        pthread_setname_np(pthread_self(), "kube-informer");
        int failures = 0;
        enum next n;

        while (!kube_cancel_fired(inf->cancel)) {
                struct hd_error err = HD_ERROR_INIT;
                int r;

                if (need_list) {
                        r = relist(inf, &err);
                        n = after_attempt(inf, r, &err, &failures);
                        if (n == NEXT_STOP)
                                break;
                        if (n == NEXT_RETRY)
                                continue;
                        need_list = false;
                        failures = 0;
                }

                size_t events = 0;
                double start = kube_now_s();
                r = watch_once(inf, &events, &err);
                if (r == -EIDRM && !kube_cancel_fired(inf->cancel)) {
                        /* 410 Expired / Gone: our resourceVersion was compacted away. */
                        hd_log_v(4, "kube informer: resourceVersion expired, relisting", "resource",
                                 inf->resource, "error", hd_error_message(&err));
                        need_list = true;
                        hd_error_done(&err);
                        continue;
                }
                n = after_attempt(inf, r, &err, &failures);
                if (n == NEXT_STOP)
                        break;
                if (n == NEXT_RETRY)
                        continue;
                /* The stream ended normally: resume from the last resourceVersion. A stream
                 * that closes at once without events is backed off to avoid spinning. */
                if (events == 0 && kube_now_s() - start < 1.0) {
                        if (backoff(inf, &failures) < 0)
                                break;
                } else {
                        failures = 0;
                }
        }
        return NULL;
}

int kube_informer_start(struct kube_informer *inf, struct hd_error *reterr)
{
        if (inf->started)
                return hd_error_setf(reterr, EALREADY, "informer %s: already started",
                                     inf->resource);
        int r = pthread_create(&inf->thread, NULL, informer_thread, inf);
        if (r != 0)
                return hd_error_set(reterr, r, "informer %s: start thread", inf->resource);
        inf->started = true;
        return 0;
}

void kube_informer_stop(struct kube_informer *inf)
{
        if (!inf)
                return;
        pthread_mutex_lock(&inf->lock);
        inf->stopped = true;
        pthread_cond_broadcast(&inf->changed);
        pthread_mutex_unlock(&inf->lock);
        kube_cancel_fire(inf->cancel);
        if (inf->started && !inf->joined) {
                pthread_join(inf->thread, NULL);
                inf->joined = true;
        }
}

struct kube_informer *kube_informer_free(struct kube_informer *inf)
{
        if (!inf)
                return NULL;
        kube_informer_stop(inf);
        kube_cancel_free(inf->cancel);
        json_decref(inf->cache);
        pthread_cond_destroy(&inf->changed);
        pthread_mutex_destroy(&inf->lock);
        free(inf->rv);
        free(inf->group);
        free(inf->version);
        free(inf->resource);
        free(inf->ns);
        free(inf->label_selector);
        free(inf->field_selector);
        free(inf);
        return NULL;
}

bool kube_informer_has_synced(struct kube_informer *inf)
{
        pthread_mutex_lock(&inf->lock);
        bool s = inf->synced;
        pthread_mutex_unlock(&inf->lock);
        return s;
}

static struct timespec deadline_after(int timeout_ms)
{
        return hd_deadline_after_ms(CLOCK_MONOTONIC, timeout_ms);
}

/* Wait on inf->changed (lock held) until DEADLINE; < 0 timeout means forever. -ETIMEDOUT. */
static int wait_changed_locked(struct kube_informer *inf, int timeout_ms,
                               const struct timespec *deadline)
{
        if (timeout_ms < 0) {
                pthread_cond_wait(&inf->changed, &inf->lock);
                return 0;
        }
        return pthread_cond_timedwait(&inf->changed, &inf->lock, deadline) == ETIMEDOUT ? -ETIMEDOUT
                                                                                        : 0;
}

int kube_informer_wait_synced(struct kube_informer *inf, int timeout_ms)
{
        struct timespec deadline = deadline_after(timeout_ms);
        int r = 0;
        pthread_mutex_lock(&inf->lock);
        while (!inf->synced && !inf->stopped && r == 0)
                r = wait_changed_locked(inf, timeout_ms, &deadline);
        if (inf->synced)
                r = 0;
        else if (inf->stopped)
                r = -ECANCELED;
        pthread_mutex_unlock(&inf->lock);
        return r;
}

/* Parse a resourceVersion as the decimal it is on every real server; -1 when it is not. */
static long long rv_number(const char *rv)
{
        if (!rv || !*rv)
                return -1;
        char *end = NULL;
        errno = 0;
        long long n = strtoll(rv, &end, 10);
        return errno || *end || n < 0 ? -1 : n;
}

int kube_informer_wait_resource_version(struct kube_informer *inf, const char *rv, int timeout_ms)
{
        long long want = rv_number(rv);
        if (want < 0)
                return -EINVAL;
        struct timespec deadline = deadline_after(timeout_ms);
        int r = 0;
        pthread_mutex_lock(&inf->lock);
        while (r == 0 && !inf->stopped && !(inf->synced && rv_number(inf->rv) >= want))
                r = wait_changed_locked(inf, timeout_ms, &deadline);
        if (inf->synced && rv_number(inf->rv) >= want)
                r = 0;
        else if (inf->stopped)
                r = -ECANCELED;
        pthread_mutex_unlock(&inf->lock);
        return r;
}

json_t *kube_informer_get(struct kube_informer *inf, const char *ns, const char *name)
{
        _cleanup_free_ char *key = ns && *ns ? hd_asprintf("%s/%s", ns, name) : hd_strdup(name);
        pthread_mutex_lock(&inf->lock);
        json_t *v = json_object_get(inf->cache, key);
        _cleanup_json_ json_t *obj = v ? cached_object(key, v) : NULL;
        json_t *copy = json_deep_copy(obj);
        pthread_mutex_unlock(&inf->lock);
        return copy;
}

static int key_cmp(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *kube_informer_list(struct kube_informer *inf)
{
        json_t *out = json_array();
        pthread_mutex_lock(&inf->lock);
        size_t n = json_object_size(inf->cache), i = 0;
        const char **keys = hd_new0(const char *, n + 1);
        const char *key;
        json_t *obj;
        json_object_foreach(inf->cache, key, obj) keys[i++] = key;
        qsort(keys, i, sizeof(*keys), key_cmp);
        for (size_t j = 0; j < i; j++) {
                _cleanup_json_ json_t *o =
                        cached_object(keys[j], json_object_get(inf->cache, keys[j]));
                json_array_append_new(out, json_deep_copy(o));
        }
        pthread_mutex_unlock(&inf->lock);
        free(keys);
        return out;
}

char *kube_informer_resource_version(struct kube_informer *inf)
{
        pthread_mutex_lock(&inf->lock);
        char *rv = hd_strdup(inf->rv);
        pthread_mutex_unlock(&inf->lock);
        return rv;
}
