/* SPDX-License-Identifier: Apache-2.0 */
/* Leader election on a Lease; see lease.h for the rules. */
#include "controller/lease.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup-json.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strutil.h"
#include "devmodel/names.h"
#include "kube/kube.h"

static const struct kube_resource lease_resource = {"coordination.k8s.io", "v1", "leases"};

struct ctl_lease {
        struct kube_client *client;
        char *ns, *name, *identity;
        char *path;            /* .../leases/<name> */
        char *collection_path; /* .../leases */
        int duration_ms, deadline_ms, retry_ms;
        bool release;
        ctl_lease_changed_cb changed_cb;
        void *userdata;

        pthread_t thread, notifier;
        bool started, joined;

        pthread_mutex_t lock; /* guards everything below */
        pthread_cond_t cond;  /* CLOCK_MONOTONIC; signalled by stop */
        bool stopping;
        bool leading;
        int64_t valid_until_ms; /* start of the last good renewal + renew deadline */
        struct ctl_lease_stats stats;
        bool told_leading;  /* what the callback was last told (notifier thread) */
        bool notifier_quit; /* set once the elector has stopped and leading is false */

        /* elector thread only */
        struct ctl_lease_observed observed;
        json_t *held; /* the Lease as we last wrote it (for release), or NULL */
        int64_t next_expiry_ms;
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

void ctl_format_micro_time(int64_t unix_us, char buf[static 32])
{
        time_t s = (time_t)(unix_us / 1000000);
        struct tm tm;
        gmtime_r(&s, &tm);
        size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, 32 - n, ".%06dZ", (int)(unix_us % 1000000));
}

/* ---- the decision -------------------------------------------------------------------------- */

void ctl_lease_observe(struct ctl_lease_observed *o, const char *spec_json, int64_t now_ms)
{
        if (o->spec_json && spec_json && strcmp(o->spec_json, spec_json) == 0)
                return;
        free(o->spec_json);
        o->spec_json = hd_strdup(spec_json);
        o->observed_ms = now_ms;
}

void ctl_lease_observed_done(struct ctl_lease_observed *o)
{
        free(o->spec_json);
        o->spec_json = NULL;
        o->observed_ms = 0;
}

int64_t ctl_lease_expiry_ms(const struct ctl_lease_record *rec, const struct ctl_lease_observed *o)
{
        if (rec->duration_s <= 0)
                return o->observed_ms;
        return o->observed_ms + rec->duration_s * 1000;
}

enum ctl_lease_verdict ctl_lease_decide(const struct ctl_lease_record *rec,
                                        const struct ctl_lease_observed *o, const char *identity,
                                        int64_t now_ms)
{
        if (!rec->holder || !rec->holder[0])
                return CTL_LEASE_TAKE_OVER;
        if (strcmp(rec->holder, identity) == 0)
                return CTL_LEASE_RENEW;
        if (now_ms < ctl_lease_expiry_ms(rec, o))
                return CTL_LEASE_HELD_ELSEWHERE;
        return CTL_LEASE_TAKE_OVER;
}

/* ---- set-up -------------------------------------------------------------------------------- */

char *ctl_lease_default_identity(void)
{
        const char *pod = getenv("POD_NAME");
        char host[256] = "";
        if (!pod || !pod[0]) {
                if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
                        snprintf(host, sizeof(host), "hostdev-controller");
                pod = host;
        }
        uint8_t rnd[8] = {0};
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
                uint64_t t = (uint64_t)wall_us() ^ ((uint64_t)getpid() << 32);
                memcpy(rnd, &t, sizeof(rnd));
        }
        /* 1 + 16 hex characters follow the name */
        int keep = CTL_LEASE_IDENTITY_MAX - 17;
        return hd_asprintf("%.*s_%02x%02x%02x%02x%02x%02x%02x%02x", keep, pod, rnd[0], rnd[1],
                           rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
}

static int check_options(const struct ctl_lease_options *o, int duration, int deadline, int retry,
                         struct hd_error *reterr)
{
        if (!o->namespace || !dm_is_dns_label(o->namespace))
                return hd_error_setf(reterr, EINVAL, "lease namespace '%s' is not a DNS label",
                                     o->namespace ? o->namespace : "");
        if (!o->name || !dm_is_dns_subdomain(o->name))
                return hd_error_setf(reterr, EINVAL, "lease name '%s' is not a DNS subdomain",
                                     o->name ? o->name : "");
        if (o->identity && (!o->identity[0] || strlen(o->identity) > CTL_LEASE_IDENTITY_MAX))
                return hd_error_setf(reterr, EINVAL, "lease identity must have 1 to %d bytes",
                                     CTL_LEASE_IDENTITY_MAX);
        if (duration < 1000 || deadline <= 0 || retry <= 0)
                return hd_error_setf(reterr, EINVAL,
                                     "lease duration must be at least 1 s, renew deadline and "
                                     "retry period positive");
        if (deadline >= duration)
                return hd_error_setf(reterr, EINVAL,
                                     "renew deadline (%d ms) must be shorter than the lease "
                                     "duration (%d ms)",
                                     deadline, duration);
        if (retry >= deadline)
                return hd_error_setf(reterr, EINVAL,
                                     "retry period (%d ms) must be shorter than the renew "
                                     "deadline (%d ms)",
                                     retry, deadline);
        return 0;
}

int ctl_lease_new(struct kube_client *c, const struct ctl_lease_options *opts,
                  struct ctl_lease **ret, struct hd_error *reterr)
{
        int duration = opts->lease_duration_ms ? opts->lease_duration_ms : CTL_LEASE_DURATION_MS;
        int deadline =
                opts->renew_deadline_ms ? opts->renew_deadline_ms : CTL_LEASE_RENEW_DEADLINE_MS;
        int retry = opts->retry_period_ms ? opts->retry_period_ms : CTL_LEASE_RETRY_PERIOD_MS;
        int r = check_options(opts, duration, deadline, retry, reterr);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = NULL, *coll = NULL;
        r = kube_path(&lease_resource, opts->namespace, opts->name, NULL, &path, reterr);
        if (r < 0)
                return r;
        r = kube_path(&lease_resource, opts->namespace, NULL, NULL, &coll, reterr);
        if (r < 0)
                return r;

        struct ctl_lease *l = hd_malloc0(sizeof(*l));
        l->client = c;
        l->ns = hd_strdup(opts->namespace);
        l->name = hd_strdup(opts->name);
        l->identity = opts->identity ? hd_strdup(opts->identity) : ctl_lease_default_identity();
        l->path = TAKE_PTR(path);
        l->collection_path = TAKE_PTR(coll);
        l->duration_ms = duration;
        l->deadline_ms = deadline;
        l->retry_ms = retry;
        l->release = !opts->no_release;
        l->changed_cb = opts->changed_cb;
        l->userdata = opts->userdata;
        l->stats.lease_transitions = -1;
        pthread_mutex_init(&l->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&l->cond, &ca);
        pthread_condattr_destroy(&ca);
        *ret = l;
        return 0;
}

const char *ctl_lease_identity(const struct ctl_lease *l)
{
        return l->identity;
}

/* ---- one attempt --------------------------------------------------------------------------- */

/* Decode the spec of LEASE into REC (strings borrowed) and its canonical JSON (caller frees). */
static int read_record(json_t *lease, struct ctl_lease_record *rec, char **ret_spec_json,
                       struct hd_error *reterr)
{
        *rec = (struct ctl_lease_record){0};
        int r = hd_json_get_string(lease, "spec.holderIdentity", false, &rec->holder, reterr);
        if (r >= 0)
                r = hd_json_get_int(lease, "spec.leaseDurationSeconds", false, &rec->duration_s,
                                    reterr);
        if (r >= 0)
                r = hd_json_get_int(lease, "spec.leaseTransitions", false, &rec->transitions,
                                    reterr);
        if (r < 0)
                return hd_error_wrap_r(reterr, r, "lease");
        json_t *spec = json_object_get(lease, "spec");
        *ret_spec_json = spec ? json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS) : hd_strdup("{}");
        if (!*ret_spec_json)
                return hd_error_set(reterr, ENOMEM, "lease spec");
        return 0;
}

static json_t *new_spec(const char *holder, int64_t duration_s, int64_t transitions,
                        const char *acquire_time)
{
        char now[32];
        ctl_format_micro_time(wall_us(), now);
        return json_pack("{s:s, s:I, s:s, s:s, s:I}", "holderIdentity", holder,
                         "leaseDurationSeconds", (json_int_t)duration_s, "acquireTime",
                         acquire_time ? acquire_time : now, "renewTime", now, "leaseTransitions",
                         (json_int_t)transitions);
}

static void note_record(struct ctl_lease *l, const struct ctl_lease_record *rec)
{
        pthread_mutex_lock(&l->lock);
        l->stats.lease_transitions = rec->transitions;
        snprintf(l->stats.holder, sizeof(l->stats.holder), "%s", rec->holder ? rec->holder : "");
        pthread_mutex_unlock(&l->lock);
}

/* Remember what we wrote: the observed record is ours as of NOW. */
static void wrote(struct ctl_lease *l, json_t *written, int64_t now)
{
        struct ctl_lease_record rec;
        _cleanup_free_ char *spec_json = NULL;
        if (read_record(written, &rec, &spec_json, NULL) >= 0) {
                ctl_lease_observe(&l->observed, spec_json, now);
                note_record(l, &rec);
        }
        json_decref(l->held);
        l->held = json_incref(written);
}

static int create_lease(struct ctl_lease *l, int64_t now, struct hd_error *reterr)
{
        _cleanup_json_ json_t *obj =
                json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "coordination.k8s.io/v1",
                          "kind", "Lease", "metadata", "name", l->name, "namespace", l->ns, "spec",
                          new_spec(l->identity, l->duration_ms / 1000, 0, NULL));
        _cleanup_json_ json_t *created = NULL;
        int r = kube_create(l->client, l->collection_path, obj, &created, reterr);
        if (r == -ESTALE)
                return 0; /* AlreadyExists: another replica was faster */
        if (r < 0)
                return r;
        wrote(l, created, now);
        return 1;
}

/* One GET and at most one write. 1: we hold the Lease now; 0: someone else does (or a 409 —
 * *RET_CONFLICT tells); < 0: failure. */
static int attempt(struct ctl_lease *l, int64_t now, bool *ret_conflict, struct hd_error *reterr)
{
        _cleanup_json_ json_t *lease = NULL;
        int r = kube_get(l->client, l->path, &lease, reterr);
        if (r == -ENOENT)
                return create_lease(l, now, reterr);
        if (r < 0)
                return r;
        struct ctl_lease_record rec;
        _cleanup_free_ char *spec_json = NULL;
        r = read_record(lease, &rec, &spec_json, reterr);
        if (r < 0)
                return r;
        ctl_lease_observe(&l->observed, spec_json, now);
        note_record(l, &rec);
        enum ctl_lease_verdict v = ctl_lease_decide(&rec, &l->observed, l->identity, now);
        if (v == CTL_LEASE_HELD_ELSEWHERE) {
                l->next_expiry_ms = ctl_lease_expiry_ms(&rec, &l->observed);
                return 0;
        }
        const char *acquire = NULL;
        if (v == CTL_LEASE_RENEW)
                (void)hd_json_get_string(lease, "spec.acquireTime", false, &acquire, NULL);
        int64_t transitions = rec.transitions + (v == CTL_LEASE_TAKE_OVER ? 1 : 0);
        json_object_set_new(lease, "spec",
                            new_spec(l->identity, l->duration_ms / 1000, transitions, acquire));
        _cleanup_json_ json_t *updated = NULL;
        r = kube_update(l->client, l->path, lease, &updated, reterr);
        if (r == -ESTALE) {
                *ret_conflict = true;
                return 0;
        }
        if (r < 0)
                return r;
        wrote(l, updated, now);
        return 1;
}

/* ---- the elector thread -------------------------------------------------------------------- */

bool ctl_lease_is_leader(struct ctl_lease *l)
{
        if (!l)
                return false;
        pthread_mutex_lock(&l->lock);
        bool leading = l->leading && mono_ms() < l->valid_until_ms;
        pthread_mutex_unlock(&l->lock);
        return leading;
}

void ctl_lease_get_stats(struct ctl_lease *l, struct ctl_lease_stats *ret)
{
        pthread_mutex_lock(&l->lock);
        *ret = l->stats;
        ret->leader = l->leading && mono_ms() < l->valid_until_ms;
        pthread_mutex_unlock(&l->lock);
}

/* Apply the outcome R of an attempt that started at START. */
static void apply_outcome(struct ctl_lease *l, int r, int64_t start)
{
        pthread_mutex_lock(&l->lock);
        if (r > 0) {
                l->leading = true;
                l->valid_until_ms = start + l->deadline_ms;
        } else if (l->leading) {
                if (r < 0)
                        l->stats.renew_failures++;
                if (r == 0 || mono_ms() >= l->valid_until_ms) {
                        l->leading = false;
                        l->valid_until_ms = 0;
                }
        }
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->lock);
}

/* The notifier thread: tells the callback whenever ctl_lease_is_leader() changes, waking at the
 * renew deadline by itself, so "stopped leading" is on time even while the elector thread waits
 * for a slow request. The only thread that calls CHANGED_CB. */
static void *notifier_main(void *arg)
{
        struct ctl_lease *l = arg;
        pthread_mutex_lock(&l->lock);
        for (;;) {
                int64_t now = mono_ms();
                bool leading = l->leading && now < l->valid_until_ms;
                if (leading != l->told_leading) {
                        l->told_leading = leading;
                        if (leading)
                                l->stats.acquired++;
                        else
                                l->stats.lost++;
                        pthread_mutex_unlock(&l->lock);
                        hd_log_info(leading ? "Leading" : "Stopped leading", "lease", l->name,
                                    "identity", l->identity);
                        if (l->changed_cb)
                                l->changed_cb(leading, l->userdata);
                        pthread_mutex_lock(&l->lock);
                        continue;
                }
                if (l->notifier_quit)
                        break;
                if (leading) {
                        struct timespec dl = hd_deadline_after_ms(CLOCK_MONOTONIC,
                                                                  (long)(l->valid_until_ms - now));
                        pthread_cond_timedwait(&l->cond, &l->lock, &dl);
                } else {
                        pthread_cond_wait(&l->cond, &l->lock);
                }
        }
        pthread_mutex_unlock(&l->lock);
        return NULL;
}

static void tick(struct ctl_lease *l)
{
        int64_t start = mono_ms();
        struct hd_error err = HD_ERROR_INIT;
        int r = 0;
        for (int i = 0; i < 2; i++) {
                bool conflict = false;
                r = attempt(l, mono_ms(), &conflict, &err);
                if (!conflict)
                        break; /* a 409 reads again at once, once */
        }
        if (r < 0)
                hd_log_v(2, "Lease attempt failed", "lease", l->name, "err",
                         hd_error_message(&err));
        hd_error_done(&err);
        apply_outcome(l, r, start);
}

/* When to run next, on the monotonic clock. */
static int64_t next_tick(struct ctl_lease *l, int64_t start)
{
        int64_t next = start + l->retry_ms;
        pthread_mutex_lock(&l->lock);
        bool leading = l->leading;
        pthread_mutex_unlock(&l->lock);
        if (!leading && l->next_expiry_ms > mono_ms() && l->next_expiry_ms < next)
                next = l->next_expiry_ms; /* try the moment the holder's lease expires */
        return next;
}

static void *elector_main(void *arg)
{
        struct ctl_lease *l = arg;
        for (;;) {
                int64_t start = mono_ms();
                l->next_expiry_ms = 0;
                tick(l);
                int64_t next = next_tick(l, start);
                pthread_mutex_lock(&l->lock);
                while (!l->stopping && mono_ms() < next) {
                        struct timespec dl =
                                hd_deadline_after_ms(CLOCK_MONOTONIC, (long)(next - mono_ms()));
                        pthread_cond_timedwait(&l->cond, &l->lock, &dl);
                }
                bool stop = l->stopping;
                pthread_mutex_unlock(&l->lock);
                if (stop)
                        break;
        }
        return NULL;
}

int ctl_lease_start(struct ctl_lease *l, struct hd_error *reterr)
{
        if (l->started)
                return hd_error_setf(reterr, EALREADY, "lease elector already started");
        int r = pthread_create(&l->notifier, NULL, notifier_main, l);
        if (r != 0)
                return hd_error_set(reterr, r, "start lease notifier");
        r = pthread_create(&l->thread, NULL, elector_main, l);
        if (r != 0) {
                pthread_mutex_lock(&l->lock);
                l->notifier_quit = true;
                pthread_cond_broadcast(&l->cond);
                pthread_mutex_unlock(&l->lock);
                pthread_join(l->notifier, NULL);
                return hd_error_set(reterr, r, "start lease elector");
        }
        l->started = true;
        return 0;
}

/* Give the Lease up: empty holder, 1 s duration, so a standby takes it at its next try. */
static void release(struct ctl_lease *l)
{
        if (!l->held)
                return;
        const char *holder = NULL;
        (void)hd_json_get_string(l->held, "spec.holderIdentity", false, &holder, NULL);
        if (!hd_streq(holder, l->identity))
                return;
        int64_t transitions = 0;
        (void)hd_json_get_int(l->held, "spec.leaseTransitions", false, &transitions, NULL);
        _cleanup_json_ json_t *obj = json_deep_copy(l->held);
        json_object_set_new(obj, "spec", new_spec("", 1, transitions, NULL));
        struct hd_error err = HD_ERROR_INIT;
        if (kube_update(l->client, l->path, obj, NULL, &err) < 0)
                hd_log_warn("Could not release the lease", "lease", l->name, "err",
                            hd_error_message(&err));
        else
                hd_log_info("Released the lease", "lease", l->name, "identity", l->identity);
        hd_error_done(&err);
}

void ctl_lease_stop(struct ctl_lease *l)
{
        if (!l || !l->started || l->joined)
                return;
        pthread_mutex_lock(&l->lock);
        l->stopping = true;
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->thread, NULL);
        l->joined = true;

        /* stop leading before the release write, so no writer overlaps a successor */
        pthread_mutex_lock(&l->lock);
        bool was_leading = l->leading;
        l->leading = false;
        l->valid_until_ms = 0;
        l->notifier_quit = true;
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->notifier, NULL); /* after the last callback */
        if (was_leading && l->release)
                release(l);
}

struct ctl_lease *ctl_lease_free(struct ctl_lease *l)
{
        if (!l)
                return NULL;
        ctl_lease_stop(l);
        ctl_lease_observed_done(&l->observed);
        json_decref(l->held);
        pthread_cond_destroy(&l->cond);
        pthread_mutex_destroy(&l->lock);
        free(l->ns);
        free(l->name);
        free(l->identity);
        free(l->path);
        free(l->collection_path);
        free(l);
        return NULL;
}
