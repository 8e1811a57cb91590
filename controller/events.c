/* SPDX-License-Identifier: Apache-2.0 */
/* Event recorder; see events.h. One writer thread; one lock (ev->lock) over the cache, the queue
 * and the counters, never held across a request. */
#include "controller/events.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/cleanup-json.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strutil.h"
#include "controller/lease.h"
#include "devmodel/names.h"
#include "kube/kube.h"

enum events_api { API_UNKNOWN, API_EVENTS_V1, API_CORE_V1 };

static const struct kube_resource events_v1 = {"events.k8s.io", "v1", "events"};
static const struct kube_resource events_core = {"", "v1", "events"};

/* What one series is about: copied at the first occurrence. */
struct occurrence {
        char *api_version, *kind, *ns, *name, *uid;
        enum ctl_event_type type;
        char *reason, *action, *note;
};

struct ctl_events {
        struct kube_client *client;
        char *controller, *instance;
        double qps;
        int burst, retry_delay_ms, series_idle_ms;
        size_t cache_max;

        pthread_t thread;
        bool started, joined;

        pthread_mutex_t lock;
        pthread_cond_t cond; /* CLOCK_MONOTONIC: work queued, stop, write finished */
        bool stopping;
        struct ctl_event_cache *cache;
        struct ctl_event_series **queue; /* FIFO ring of busy series, capacity cache_max */
        size_t q_head, q_len;
        bool writing;
        struct ctl_events_stats stats;
        uint64_t last_unique; /* event-name suffixes, strictly increasing */

        /* writer thread only */
        enum events_api api;
        double tokens;
        int64_t tokens_ms;
};

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- pure helpers -------------------------------------------------------------------------- */

void ctl_utf8_truncate(char *s, size_t max)
{
        size_t n = strlen(s);
        if (n <= max)
                return;
        n = max;
        /* back off continuation bytes so the cut falls before a sequence's lead byte */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
                n--;
        s[n] = '\0';
}

char *ctl_event_key(const struct ctl_event_ref *r, enum ctl_event_type type, const char *reason,
                    const char *action, const char *note)
{
        /* \x1f (unit separator) cannot occur in names, UIDs, reasons or actions */
        return hd_asprintf("%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%d\x1f%s\x1f%s\x1f%s",
                           r->api_version ? r->api_version : "", r->kind ? r->kind : "",
                           r->namespace ? r->namespace : "", r->name ? r->name : "",
                           r->uid ? r->uid : "", (int)type, reason, action, note);
}

char *ctl_event_name(const char *name, uint64_t unique)
{
        char suffix[24];
        int slen = snprintf(suffix, sizeof(suffix), ".%" PRIx64, unique);
        size_t keep = strlen(name);
        if (keep + (size_t)slen > DM_DNS_SUBDOMAIN_MAX)
                keep = DM_DNS_SUBDOMAIN_MAX - (size_t)slen;
        while (keep > 0 && (name[keep - 1] == '-' || name[keep - 1] == '.'))
                keep--;
        if (keep == 0)
                return hd_asprintf("event%s", suffix);
        return hd_asprintf("%.*s%s", (int)keep, name, suffix);
}

/* ---- set-up -------------------------------------------------------------------------------- */

static void occurrence_free(void *p)
{
        struct occurrence *o = p;
        free(o->api_version);
        free(o->kind);
        free(o->ns);
        free(o->name);
        free(o->uid);
        free(o->reason);
        free(o->action);
        free(o->note);
        free(o);
}

int ctl_events_new(struct kube_client *c, const struct ctl_events_options *opts,
                   struct ctl_events **ret, struct hd_error *reterr)
{
        if (!opts->driver_name || !dm_is_dns_subdomain(opts->driver_name) ||
            strlen(opts->driver_name) > 63)
                return hd_error_setf(reterr, EINVAL, "events: driver name '%s' is not valid",
                                     opts->driver_name ? opts->driver_name : "");
        if (!opts->instance || !opts->instance[0])
                return hd_error_setf(reterr, EINVAL, "events: reporting instance is empty");
        struct ctl_events *ev = hd_malloc0(sizeof(*ev));
        ev->client = c;
        ev->controller = hd_asprintf("%s/controller", opts->driver_name);
        ev->instance = hd_strdup(opts->instance);
        ctl_utf8_truncate(ev->instance, CTL_EVENTS_FIELD_MAX);
        ev->qps = opts->qps > 0 ? opts->qps : 5;
        ev->burst = opts->burst > 0 ? opts->burst : 25;
        ev->retry_delay_ms = opts->retry_delay_ms > 0 ? opts->retry_delay_ms : 500;
        ev->series_idle_ms =
                opts->series_idle_ms > 0 ? opts->series_idle_ms : CTL_EVENTS_SERIES_IDLE_MS;
        ev->cache_max = opts->cache_max && opts->cache_max < CTL_EVENTS_CACHE_MAX
                                ? opts->cache_max
                                : CTL_EVENTS_CACHE_MAX;
        ev->cache = ctl_event_cache_new(ev->cache_max, occurrence_free);
        ev->queue = hd_new0(struct ctl_event_series *, ev->cache_max);
        ev->tokens = ev->burst;
        ev->tokens_ms = mono_ms();
        pthread_mutex_init(&ev->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&ev->cond, &ca);
        pthread_condattr_destroy(&ca);
        *ret = ev;
        return 0;
}

/* ---- recording ----------------------------------------------------------------------------- */

static struct occurrence *occurrence_new(const struct ctl_event_ref *r, enum ctl_event_type type,
                                         const char *reason, const char *action, const char *note)
{
        struct occurrence *o = hd_malloc0(sizeof(*o));
        o->api_version = hd_strdup(r->api_version ? r->api_version : "");
        o->kind = hd_strdup(r->kind ? r->kind : "");
        o->ns = hd_strdup(r->namespace);
        o->name = hd_strdup(r->name);
        o->uid = hd_strdup(r->uid ? r->uid : "");
        o->type = type;
        o->reason = hd_strdup(reason);
        o->action = hd_strdup(action);
        o->note = hd_strdup(note);
        return o;
}

/* File one occurrence of KEY (under ev->lock). */
static int file_locked(struct ctl_events *ev, const char *key, const struct ctl_event_ref *r,
                       enum ctl_event_type type, const char *reason, const char *action,
                       const char *note)
{
        bool created = false;
        struct ctl_event_series *s = ctl_event_cache_get(ev->cache, key, &created);
        if (!s)
                return -ENOBUFS;
        if (created)
                s->data = occurrence_new(r, type, reason, action, note);
        int64_t now = wall_us();
        if (s->pending == 0 && s->count == 0)
                s->first_us = now;
        s->last_us = now;
        s->pending++;
        if (!s->busy) {
                s->busy = true;
                ev->queue[(ev->q_head + ev->q_len) % ev->cache_max] = s;
                ev->q_len++;
                pthread_cond_broadcast(&ev->cond);
        }
        ev->stats.recorded++;
        return 0;
}

int ctl_events_record(struct ctl_events *ev, const struct ctl_event_ref *regarding,
                      enum ctl_event_type type, const char *reason, const char *action,
                      const char *note_fmt, ...)
{
        if (!ev)
                return 0;
        if (!regarding->namespace || !dm_is_dns_label(regarding->namespace) || !regarding->name ||
            !regarding->name[0] || !reason || !reason[0] || !action || !action[0]) {
                pthread_mutex_lock(&ev->lock);
                ev->stats.dropped++;
                pthread_mutex_unlock(&ev->lock);
                return -EINVAL;
        }
        va_list ap;
        va_start(ap, note_fmt);
        _cleanup_free_ char *note = hd_vasprintf(note_fmt, ap);
        va_end(ap);
        ctl_utf8_truncate(note, CTL_EVENTS_NOTE_MAX);
        _cleanup_free_ char *rs = hd_strdup(reason), *ac = hd_strdup(action);
        ctl_utf8_truncate(rs, CTL_EVENTS_FIELD_MAX);
        ctl_utf8_truncate(ac, CTL_EVENTS_FIELD_MAX);
        _cleanup_free_ char *key = ctl_event_key(regarding, type, rs, ac, note);

        pthread_mutex_lock(&ev->lock);
        int r = file_locked(ev, key, regarding, type, rs, ac, note);
        if (r < 0)
                ev->stats.dropped++;
        pthread_mutex_unlock(&ev->lock);
        return r;
}

void ctl_events_get_stats(struct ctl_events *ev, struct ctl_events_stats *ret)
{
        pthread_mutex_lock(&ev->lock);
        *ret = ev->stats;
        ret->cached = ctl_event_cache_size(ev->cache);
        pthread_mutex_unlock(&ev->lock);
}

/* ---- writing ------------------------------------------------------------------------------- */

/* A write as planned under the lock and carried out without it. */
struct write_plan {
        const struct occurrence *o; /* stays valid: the series is busy */
        char *event_name;           /* existing Event to PATCH, or NULL to create */
        int64_t count;              /* the count the Event shows after this write */
        int64_t taken;              /* pending occurrences this write carries */
        int64_t first_us, last_us;
};

static json_t *regarding_json(const struct occurrence *o)
{
        json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", o->api_version, "kind", o->kind,
                              "namespace", o->ns, "name", o->name);
        if (o->uid[0])
                json_object_set_new(j, "uid", json_string(o->uid));
        return j;
}

static const char *type_name(enum ctl_event_type t)
{
        return t == CTL_EVENT_WARNING ? "Warning" : "Normal";
}

static json_t *body_events_v1(struct ctl_events *ev, const struct write_plan *p, const char *name)
{
        const struct occurrence *o = p->o;
        char first[32], last[32];
        ctl_format_micro_time(p->first_us, first);
        ctl_format_micro_time(p->last_us, last);
        json_t *j = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}",
                              "apiVersion", "events.k8s.io/v1", "kind", "Event", "metadata", "name",
                              name, "namespace", o->ns, "eventTime", first, "reportingController",
                              ev->controller, "reportingInstance", ev->instance, "action",
                              o->action, "reason", o->reason, "note", o->note, "type",
                              type_name(o->type), "regarding", regarding_json(o));
        if (p->count >= 2)
                json_object_set_new(j, "series",
                                    json_pack("{s:I, s:s}", "count", (json_int_t)p->count,
                                              "lastObservedTime", last));
        return j;
}

/* RFC 3339 with whole seconds, what core v1 first/lastTimestamp hold. */
static void format_time(int64_t unix_us, char buf[static 32])
{
        time_t s = (time_t)(unix_us / 1000000);
        struct tm tm;
        gmtime_r(&s, &tm);
        strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *body_core(struct ctl_events *ev, const struct write_plan *p, const char *name)
{
        const struct occurrence *o = p->o;
        char first[32], last[32];
        format_time(p->first_us, first);
        format_time(p->last_us, last);
        return json_pack("{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:I, s:s, s:s, s:{s:s}, "
                         "s:s, s:s, s:s}",
                         "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace",
                         o->ns, "involvedObject", regarding_json(o), "reason", o->reason, "message",
                         o->note, "type", type_name(o->type), "count", (json_int_t)p->count,
                         "firstTimestamp", first, "lastTimestamp", last, "source", "component",
                         ev->controller, "reportingComponent", ev->controller, "reportingInstance",
                         ev->instance, "action", o->action);
}

static json_t *patch_body(struct ctl_events *ev, const struct write_plan *p)
{
        char last[32];
        if (ev->api == API_CORE_V1) {
                format_time(p->last_us, last);
                return json_pack("{s:I, s:s}", "count", (json_int_t)p->count, "lastTimestamp",
                                 last);
        }
        ctl_format_micro_time(p->last_us, last);
        return json_pack("{s:{s:I, s:s}}", "series", "count", (json_int_t)p->count,
                         "lastObservedTime", last);
}

static uint64_t next_unique(struct ctl_events *ev)
{
        uint64_t now = (uint64_t)wall_us() * 1000;
        pthread_mutex_lock(&ev->lock);
        ev->last_unique = now > ev->last_unique ? now : ev->last_unique + 1;
        uint64_t u = ev->last_unique;
        pthread_mutex_unlock(&ev->lock);
        return u;
}

static const struct kube_resource *api_resource(struct ctl_events *ev)
{
        return ev->api == API_CORE_V1 ? &events_core : &events_v1;
}

static int discover(struct ctl_events *ev, struct hd_error *reterr)
{
        if (ev->api != API_UNKNOWN)
                return 0;
        int r = kube_discover_resource(ev->client, "events.k8s.io", "v1", "events", reterr);
        if (r < 0)
                return hd_error_wrap_r(reterr, r, "discover events.k8s.io/v1");
        ev->api = r > 0 ? API_EVENTS_V1 : API_CORE_V1;
        hd_log_v(2, "Events API", "api", r > 0 ? "events.k8s.io/v1" : "v1");
        return 0;
}

/* Create a new Event for P (a new series); *RET_NAME gets its name. */
static int create_event(struct ctl_events *ev, struct write_plan *p, char **ret_name,
                        struct hd_error *reterr)
{
        _cleanup_free_ char *name = ctl_event_name(p->o->name, next_unique(ev));
        _cleanup_free_ char *coll = NULL;
        int r = kube_path(api_resource(ev), p->o->ns, NULL, NULL, &coll, reterr);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *body =
                ev->api == API_CORE_V1 ? body_core(ev, p, name) : body_events_v1(ev, p, name);
        r = kube_create(ev->client, coll, body, NULL, reterr);
        if (r < 0)
                return r;
        *ret_name = TAKE_PTR(name);
        return 0;
}

/* Carry out P. 0 and *RET_NAME (the Event now holding the series) or -errno. */
static int write_once(struct ctl_events *ev, struct write_plan *p, char **ret_name,
                      struct hd_error *reterr)
{
        int r = discover(ev, reterr);
        if (r < 0)
                return r;
        if (!p->event_name)
                return create_event(ev, p, ret_name, reterr);
        _cleanup_free_ char *path = NULL;
        r = kube_path(api_resource(ev), p->o->ns, p->event_name, NULL, &path, reterr);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *patch = patch_body(ev, p);
        r = kube_patch(ev->client, path, KUBE_PATCH_MERGE, patch, NULL, reterr);
        if (r == -ENOENT) {
                /* the Event expired on the server: start a new series */
                hd_error_done(reterr);
                free(p->event_name);
                p->event_name = NULL;
                p->count = p->taken;
                p->first_us = p->last_us;
                return create_event(ev, p, ret_name, reterr);
        }
        if (r < 0)
                return r;
        *ret_name = hd_strdup(p->event_name);
        return 0;
}

/* ---- the writer thread --------------------------------------------------------------------- */

/* Wait (under ev->lock) until MS on the monotonic clock or stop. false once stopping. */
static bool sleep_until_locked(struct ctl_events *ev, int64_t until)
{
        while (!ev->stopping && mono_ms() < until) {
                struct timespec dl =
                        hd_deadline_after_ms(CLOCK_MONOTONIC, (long)(until - mono_ms()));
                pthread_cond_timedwait(&ev->cond, &ev->lock, &dl);
        }
        return !ev->stopping;
}

/* Take one token from the bucket, waiting for it (under ev->lock). false once stopping. */
static bool take_token_locked(struct ctl_events *ev)
{
        for (;;) {
                int64_t now = mono_ms();
                ev->tokens += (double)(now - ev->tokens_ms) * ev->qps / 1000.0;
                if (ev->tokens > ev->burst)
                        ev->tokens = ev->burst;
                ev->tokens_ms = now;
                if (ev->tokens >= 1.0) {
                        ev->tokens -= 1.0;
                        return true;
                }
                int64_t wait = (int64_t)((1.0 - ev->tokens) * 1000.0 / ev->qps) + 1;
                if (!sleep_until_locked(ev, now + wait))
                        return false;
        }
}

/* Plan the write of S's pending occurrences (under ev->lock). */
static void plan_locked(struct ctl_events *ev, struct ctl_event_series *s, struct write_plan *p)
{
        bool idle = s->event_name && mono_ms() - s->written_ms >= ev->series_idle_ms;
        if (idle) {
                /* a new series: the old Event may be gone, and its count is history */
                free(s->event_name);
                s->event_name = NULL;
                s->count = 0;
                s->first_us = s->last_us;
        }
        *p = (struct write_plan){.o = s->data,
                                 .event_name = hd_strdup(s->event_name),
                                 .taken = s->pending,
                                 .count = s->count + s->pending,
                                 .first_us = s->first_us,
                                 .last_us = s->last_us};
        s->pending = 0;
}

/* Write S's pending occurrences, with retries; called and returns with ev->lock held. */
static void write_series_locked(struct ctl_events *ev, struct ctl_event_series *s)
{
        struct write_plan p;
        plan_locked(ev, s, &p);
        for (int attempt = 1;; attempt++) {
                if (!take_token_locked(ev))
                        break;
                pthread_mutex_unlock(&ev->lock);
                struct hd_error err = HD_ERROR_INIT;
                _cleanup_free_ char *name = NULL;
                int r = write_once(ev, &p, &name, &err);
                pthread_mutex_lock(&ev->lock);
                if (r >= 0) {
                        ev->stats.created += hd_streq(name, p.event_name) ? 0 : 1;
                        ev->stats.patched += hd_streq(name, p.event_name) ? 1 : 0;
                        free(s->event_name);
                        s->event_name = TAKE_PTR(name);
                        s->count = p.count;
                        s->first_us = p.first_us;
                        s->written_ms = mono_ms();
                        free(p.event_name);
                        return;
                }
                ev->stats.failed_attempts++;
                if (attempt >= CTL_EVENTS_ATTEMPTS_MAX || r == -EINVAL || r == -EACCES) {
                        const struct occurrence *o = p.o;
                        hd_log_warn("Dropped an event", "object", o->name, "namespace", o->ns,
                                    "reason", o->reason, "err", hd_error_message(&err));
                        hd_error_done(&err);
                        break;
                }
                hd_log_v(2, "Event write failed; retrying", "reason", p.o->reason, "err",
                         hd_error_message(&err));
                hd_error_done(&err);
                if (!sleep_until_locked(ev,
                                        mono_ms() + ((int64_t)ev->retry_delay_ms << (attempt - 1))))
                        break;
        }
        ev->stats.dropped += (uint64_t)p.taken;
        free(p.event_name);
}

static void *writer_main(void *arg)
{
        struct ctl_events *ev = arg;
        pthread_mutex_lock(&ev->lock);
        for (;;) {
                while (!ev->stopping && ev->q_len == 0)
                        pthread_cond_wait(&ev->cond, &ev->lock);
                if (ev->stopping)
                        break;
                struct ctl_event_series *s = ev->queue[ev->q_head];
                ev->q_head = (ev->q_head + 1) % ev->cache_max;
                ev->q_len--;
                ev->writing = true;
                write_series_locked(ev, s);
                ev->writing = false;
                if (s->pending > 0 && !ev->stopping) {
                        /* occurrences arrived during the write: back in the queue */
                        ev->queue[(ev->q_head + ev->q_len) % ev->cache_max] = s;
                        ev->q_len++;
                } else {
                        s->busy = false;
                }
                pthread_cond_broadcast(&ev->cond);
        }
        pthread_mutex_unlock(&ev->lock);
        return NULL;
}

int ctl_events_start(struct ctl_events *ev, struct hd_error *reterr)
{
        if (ev->started)
                return hd_error_setf(reterr, EALREADY, "event recorder already started");
        int r = pthread_create(&ev->thread, NULL, writer_main, ev);
        if (r != 0)
                return hd_error_set(reterr, r, "start event recorder");
        ev->started = true;
        return 0;
}

int ctl_events_flush(struct ctl_events *ev, int timeout_ms)
{
        int64_t until = mono_ms() + timeout_ms;
        pthread_mutex_lock(&ev->lock);
        while ((ev->q_len > 0 || ev->writing) && !ev->stopping && mono_ms() < until) {
                struct timespec dl =
                        hd_deadline_after_ms(CLOCK_MONOTONIC, (long)(until - mono_ms()));
                pthread_cond_timedwait(&ev->cond, &ev->lock, &dl);
        }
        int r = ev->q_len > 0 || ev->writing ? -ETIMEDOUT : 0;
        pthread_mutex_unlock(&ev->lock);
        return r;
}

void ctl_events_stop(struct ctl_events *ev)
{
        if (!ev || !ev->started || ev->joined)
                return;
        pthread_mutex_lock(&ev->lock);
        ev->stopping = true;
        pthread_cond_broadcast(&ev->cond);
        pthread_mutex_unlock(&ev->lock);
        pthread_join(ev->thread, NULL);
        ev->joined = true;
        pthread_mutex_lock(&ev->lock);
        for (; ev->q_len > 0; ev->q_len--) {
                struct ctl_event_series *s = ev->queue[ev->q_head];
                ev->q_head = (ev->q_head + 1) % ev->cache_max;
                ev->stats.dropped += (uint64_t)s->pending;
                s->pending = 0;
                s->busy = false;
        }
        pthread_mutex_unlock(&ev->lock);
}

struct ctl_events *ctl_events_free(struct ctl_events *ev)
{
        if (!ev)
                return NULL;
        ctl_events_stop(ev);
        ctl_event_cache_free(ev->cache);
        free(ev->queue);
        pthread_cond_destroy(&ev->cond);
        pthread_mutex_destroy(&ev->lock);
        free(ev->controller);
        free(ev->instance);
        free(ev);
        return NULL;
}
