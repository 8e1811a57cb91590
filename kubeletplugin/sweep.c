/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/sweep.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strutil.h"
#include "devmodel/names.h"
#include "kubeletplugin/metrics.h"

#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS 30000

struct kp_sweep {
        struct kp_driver *driver;
        kp_claim_fetch_cb fetch;
        void *userdata;
        struct kp_metrics *metrics; /* may be NULL */

        struct dm_prepared_claim *claims; /* snapshot: uid, namespace, name */
        size_t n_claims;

        pthread_mutex_t lock; /* guards the fields below */
        pthread_cond_t cond;  /* stop, or the last worker finished */
        size_t next;          /* index of the next claim to check */
        size_t running;       /* workers not finished */
        bool stopping;
        size_t gone, kept;

        pthread_t *threads;
        size_t n_threads;
};

/* Wait MS milliseconds or until the sweep stops; true when it stops. */
static bool wait_or_stop(struct kp_sweep *s, long ms)
{
        struct timespec ts = hd_deadline_after_ms(CLOCK_MONOTONIC, ms);
        pthread_mutex_lock(&s->lock);
        while (!s->stopping && pthread_cond_timedwait(&s->cond, &s->lock, &ts) != ETIMEDOUT)
                ;
        bool stop = s->stopping;
        pthread_mutex_unlock(&s->lock);
        return stop;
}

/* Check one claim; true when it is gone from the API server (and was unprepared). */
static bool check_one(struct kp_sweep *s, const struct dm_prepared_claim *c)
{
        struct kp_claim_ref ref = {c->namespace, c->name, c->uid};
        long delay = RETRY_FIRST_MS;
        if (!dm_is_dns_label(c->namespace) || !dm_is_dns_subdomain(c->name)) {
                /* Written by an older plugin that did not check them: never put it in a URL. */
                hd_log_warn("start-up sweep: checkpointed claim has an invalid namespace or "
                            "name; keeping it unchecked",
                            "claim", c->uid, "ns", c->namespace, "name", c->name);
                return false;
        }
        for (;;) {
                if (!kp_driver_holds_claim(s->driver, c->uid))
                        return false; /* unprepared by the kubelet meanwhile */
                struct hd_error e = HD_ERROR_INIT;
                _cleanup_json_ json_t *obj = NULL;
                int r = s->fetch(s->userdata, c->namespace, c->name, &obj, &e);
                const char *uid =
                        json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
                if (r == -ENOENT || (r >= 0 && !hd_streq(uid, c->uid))) {
                        hd_error_done(&e);
                        hd_log_info("claim is gone from the API server; unpreparing", "claim",
                                    c->uid, "ns", c->namespace, "name", c->name);
                        if (kp_driver_unprepare(s->driver, &ref, &e) < 0)
                                hd_log_error("start-up sweep: cannot unprepare claim", "claim",
                                             c->uid, "err", hd_error_message(&e));
                        hd_error_done(&e);
                        kp_metrics_set_prepared_claims(
                                s->metrics, (unsigned)kp_driver_prepared_claims(s->driver));
                        return true;
                }
                if (r >= 0)
                        return false;
                hd_log_warn("start-up sweep: cannot check claim with the API server; keeping "
                            "it and retrying",
                            "claim", c->uid, "ns", c->namespace, "name", c->name, "retryMs",
                            HD_INT(delay), "err", hd_error_message(&e));
                hd_error_done(&e);
                if (wait_or_stop(s, delay))
                        return false;
                delay = delay * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : delay * 2;
        }
}

static void *worker(void *arg)
{
        struct kp_sweep *s = arg;
        pthread_setname_np(pthread_self(), "startup-sweep");
        pthread_mutex_lock(&s->lock);
        while (!s->stopping && s->next < s->n_claims) {
                const struct dm_prepared_claim *c = &s->claims[s->next++];
                pthread_mutex_unlock(&s->lock);
                bool gone = check_one(s, c);
                pthread_mutex_lock(&s->lock);
                if (gone)
                        s->gone++;
                else
                        s->kept++;
        }
        if (--s->running == 0) {
                if (!s->stopping)
                        hd_log_info("start-up sweep finished", "claims", HD_INT(s->n_claims),
                                    "unprepared", HD_INT(s->gone));
                pthread_cond_broadcast(&s->cond);
        }
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

struct kp_sweep *kp_sweep_start(struct kp_driver *d, kp_claim_fetch_cb fetch, void *userdata,
                                unsigned workers, struct kp_metrics *metrics)
{
        if (!fetch)
                return NULL;
        struct kp_sweep *s = hd_malloc0(sizeof(*s));
        s->driver = d;
        s->fetch = fetch;
        s->userdata = userdata;
        s->metrics = metrics;
        kp_driver_prepared_refs(d, &s->claims, &s->n_claims);
        if (s->n_claims == 0) {
                free(s->claims);
                free(s);
                return NULL;
        }
        pthread_mutex_init(&s->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->cond, &ca);
        pthread_condattr_destroy(&ca);

        size_t n = workers ? workers : KP_SWEEP_WORKERS;
        if (n > s->n_claims)
                n = s->n_claims;
        s->threads = hd_new0(pthread_t, n);
        hd_log_info("start-up sweep: checking prepared claims with the API server", "claims",
                    HD_INT(s->n_claims), "workers", HD_INT(n));
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < n; i++) {
                s->running++;
                if (pthread_create(&s->threads[s->n_threads], NULL, worker, s) != 0) {
                        s->running--;
                        break;
                }
                s->n_threads++;
        }
        pthread_mutex_unlock(&s->lock);
        if (s->n_threads == 0)
                hd_log_error("start-up sweep: cannot start a thread; claims stay as they are");
        return s;
}

void kp_sweep_wait(struct kp_sweep *s)
{
        if (!s)
                return;
        pthread_mutex_lock(&s->lock);
        while (s->running > 0)
                pthread_cond_wait(&s->cond, &s->lock);
        pthread_mutex_unlock(&s->lock);
}

struct kp_sweep *kp_sweep_free(struct kp_sweep *s)
{
        if (!s)
                return NULL;
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        for (size_t i = 0; i < s->n_threads; i++)
                pthread_join(s->threads[i], NULL);
        free(s->threads);
        for (size_t i = 0; i < s->n_claims; i++)
                dm_prepared_claim_done(&s->claims[i]);
        free(s->claims);
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
}
