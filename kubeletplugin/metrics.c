/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"

/* Sub-millisecond resolution where the targets are (a prepare's own part p99 <= 2 ms), up to
 * the kubelet's own timeouts. */
static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002,
                                 0.003,  0.005,   0.0075, 0.01,    0.025, 0.05,   0.1,
                                 0.25,   0.5,     1,      2.5,     5,     10};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct histogram {
        unsigned long counts[N_BUCKETS]; /* cumulative per bucket at render time */
        unsigned long count;
        double sum;
};

/* Allocate answers in well under a millisecond: finer buckets. */
static const double dp_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                    0.01,   0.025,   0.1,    0.5,   1};
#define N_DP_BUCKETS (sizeof(dp_buckets) / sizeof(dp_buckets[0]))

struct dp_metrics {
        unsigned long allocate[2]; /* [ok] */
        unsigned long counts[N_DP_BUCKETS];
        double sum;
        unsigned long registrations[2]; /* [ok] */
};

struct kp_metrics {
        char *driver;
        pthread_mutex_t lock;      /* guards everything below */
        unsigned long total[2][2]; /* [op][ok] */
        struct histogram latency[2];
        struct histogram phases[KP_PHASE_COUNT];
        long inflight;
        bool registered;
        unsigned healthy, unhealthy, prepared;
        unsigned long publish_ok, publish_errors;
        struct dp_metrics dp;
        char *mode; /* NULL until set */
        unsigned withheld;
};

struct kp_metrics *kp_metrics_new(const char *driver)
{
        struct kp_metrics *m = hd_malloc0(sizeof(*m));
        m->driver = hd_strdup(driver);
        pthread_mutex_init(&m->lock, NULL);
        return m;
}

struct kp_metrics *kp_metrics_free(struct kp_metrics *m)
{
        if (!m)
                return NULL;
        pthread_mutex_destroy(&m->lock);
        free(m->mode);
        free(m->driver);
        free(m);
        return NULL;
}

/* Call with m->lock held. */
static void histogram_add(struct histogram *h, double seconds)
{
        for (size_t i = 0; i < N_BUCKETS; i++)
                if (seconds <= buckets[i])
                        h->counts[i]++;
        h->count++;
        h->sum += seconds;
}

void kp_metrics_observe(struct kp_metrics *m, enum kp_metric_op op, bool ok, double seconds)
{
        if (!m)
                return;
        pthread_mutex_lock(&m->lock);
        m->total[op][ok]++;
        histogram_add(&m->latency[op], seconds);
        pthread_mutex_unlock(&m->lock);
}

double kp_metrics_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void kp_metrics_phase(struct kp_metrics *m, enum kp_phase phase, double seconds)
{
        if (!m || phase < 0 || phase >= KP_PHASE_COUNT)
                return;
        pthread_mutex_lock(&m->lock);
        histogram_add(&m->phases[phase], seconds);
        pthread_mutex_unlock(&m->lock);
}

#define SETTER(body)                            \
        do {                                    \
                if (!m)                         \
                        return;                 \
                pthread_mutex_lock(&m->lock);   \
                body;                           \
                pthread_mutex_unlock(&m->lock); \
        } while (0)

void kp_metrics_inflight(struct kp_metrics *m, int delta)
{
        SETTER(m->inflight += delta);
}

void kp_metrics_registered(struct kp_metrics *m, bool registered)
{
        SETTER(m->registered = registered);
}

void kp_metrics_set_devices(struct kp_metrics *m, unsigned healthy, unsigned unhealthy)
{
        SETTER(m->healthy = healthy; m->unhealthy = unhealthy);
}

void kp_metrics_set_prepared_claims(struct kp_metrics *m, unsigned n)
{
        SETTER(m->prepared = n);
}

void kp_metrics_slice_publish(struct kp_metrics *m, bool ok)
{
        SETTER(if (ok) m->publish_ok++; else m->publish_errors++);
}

void kp_metrics_dp_allocate(struct kp_metrics *m, bool ok, double seconds)
{
        SETTER(m->dp.allocate[ok]++; m->dp.sum += seconds;
               for (size_t i = 0; i < N_DP_BUCKETS; i++) m->dp.counts[i] +=
               seconds <= dp_buckets[i]);
}

void kp_metrics_dp_register(struct kp_metrics *m, bool ok)
{
        SETTER(m->dp.registrations[ok]++);
}

/* The device-plugin block. Call with m->lock held. */
static void render_dp(struct kp_metrics *m, struct hd_strbuf *b)
{
        const struct dp_metrics *d = &m->dp;
        const char *drv = m->driver;
        hd_strbuf_printf(b,
                         "# HELP hostdev_dp_allocate_total Device-plugin Allocate calls, by "
                         "result.\n"
                         "# TYPE hostdev_dp_allocate_total counter\n"
                         "hostdev_dp_allocate_total{driver=\"%s\",result=\"success\"} %lu\n"
                         "hostdev_dp_allocate_total{driver=\"%s\",result=\"error\"} %lu\n"
                         "# HELP hostdev_dp_allocate_duration_seconds Time to answer one "
                         "Allocate call.\n"
                         "# TYPE hostdev_dp_allocate_duration_seconds histogram\n",
                         drv, d->allocate[1], drv, d->allocate[0]);
        for (size_t i = 0; i < N_DP_BUCKETS; i++)
                hd_strbuf_printf(b,
                                 "hostdev_dp_allocate_duration_seconds_bucket{driver=\"%s\","
                                 "le=\"%g\"} %lu\n",
                                 drv, dp_buckets[i], d->counts[i]);
        unsigned long n = d->allocate[0] + d->allocate[1];
        hd_strbuf_printf(b,
                         "hostdev_dp_allocate_duration_seconds_bucket{driver=\"%s\",le=\"+Inf\"} "
                         "%lu\n"
                         "hostdev_dp_allocate_duration_seconds_sum{driver=\"%s\"} %.6f\n"
                         "hostdev_dp_allocate_duration_seconds_count{driver=\"%s\"} %lu\n"
                         "# HELP hostdev_dp_registrations_total Register calls to the kubelet, "
                         "by result.\n"
                         "# TYPE hostdev_dp_registrations_total counter\n"
                         "hostdev_dp_registrations_total{driver=\"%s\",result=\"success\"} %lu\n"
                         "hostdev_dp_registrations_total{driver=\"%s\",result=\"error\"} %lu\n",
                         drv, n, drv, d->sum, drv, n, drv, d->registrations[1], drv,
                         d->registrations[0]);
}

/* NAME's _bucket, _sum and _count lines with LABELS (no braces). */
static void render_histogram(struct hd_strbuf *b, const char *name, const char *labels,
                             const struct histogram *h)
{
        for (size_t i = 0; i < N_BUCKETS; i++)
                hd_strbuf_printf(b, "%s_bucket{%s,le=\"%g\"} %lu\n", name, labels, buckets[i],
                                 h->counts[i]);
        hd_strbuf_printf(b, "%s_bucket{%s,le=\"+Inf\"} %lu\n%s_sum{%s} %.6f\n%s_count{%s} %lu\n",
                         name, labels, h->count, name, labels, h->sum, name, labels, h->count);
}

/* Call with m->lock held. */
static void render_phases(struct hd_strbuf *b, struct kp_metrics *m)
{
        static const char *const names[KP_PHASE_COUNT] = {
                [KP_PHASE_CLAIM_GET] = "claim_get",
                [KP_PHASE_CLAIM_DECODE] = "claim_decode",
                [KP_PHASE_CKPT_STARTED] = "checkpoint_started",
                [KP_PHASE_SPEC_BUILD] = "spec_build",
                [KP_PHASE_SPEC_WRITE] = "spec_write",
                [KP_PHASE_CKPT_COMMIT] = "checkpoint_commit",
                [KP_PHASE_PREPARE_OWN] = "prepare_own",
                [KP_PHASE_SPEC_REMOVE] = "spec_remove",
                [KP_PHASE_CKPT_REMOVE] = "checkpoint_remove",
        };
        hd_strbuf_printf(b, "# HELP hostdev_phase_duration_seconds Time of one step of a "
                            "prepare or unprepare; prepare_own is a prepare less claim_get.\n"
                            "# TYPE hostdev_phase_duration_seconds histogram\n");
        for (int i = 0; i < KP_PHASE_COUNT; i++) {
                _cleanup_free_ char *labels =
                        hd_asprintf("driver=\"%s\",phase=\"%s\"", m->driver, names[i]);
                render_histogram(b, "hostdev_phase_duration_seconds", labels, &m->phases[i]);
        }
}

void kp_metrics_set_mode(struct kp_metrics *m, const char *mode)
{
        SETTER(free(m->mode); m->mode = hd_strdup(mode));
}

const char *kp_metrics_mode(struct kp_metrics *m)
{
        if (!m)
                return NULL;
        pthread_mutex_lock(&m->lock);
        const char *mode = m->mode;
        pthread_mutex_unlock(&m->lock);
        return mode;
}

void kp_metrics_set_withheld(struct kp_metrics *m, unsigned n)
{
        SETTER(m->withheld = n);
}

/* hostdev_plugin_mode (one line per mode, 1 for the chosen one) and hostdev_devices_withheld. */
static void render_mode(struct kp_metrics *m, struct hd_strbuf *b)
{
        static const char *const modes[] = {"dra", "device-plugin"};
        hd_strbuf_printf(b, "# HELP hostdev_plugin_mode The API this daemon serves on its node "
                            "(chosen at start).\n"
                            "# TYPE hostdev_plugin_mode gauge\n");
        for (size_t i = 0; i < HD_ARRAY_SIZE(modes); i++)
                hd_strbuf_printf(b, "hostdev_plugin_mode{driver=\"%s\",mode=\"%s\"} %d\n",
                                 m->driver, modes[i], hd_streq(m->mode, modes[i]) ? 1 : 0);
        hd_strbuf_printf(b,
                         "# HELP hostdev_devices_withheld Devices kept out of the "
                         "ResourceSlices while device-plugin pods hold them.\n"
                         "# TYPE hostdev_devices_withheld gauge\n"
                         "hostdev_devices_withheld{driver=\"%s\"} %u\n",
                         m->driver, m->withheld);
}

char *kp_metrics_render(struct kp_metrics *m)
{
        static const char *const ops[2] = {"prepare", "unprepare"};
        struct hd_strbuf b = HD_STRBUF_INIT;
        pthread_mutex_lock(&m->lock);
        for (int op = 0; op < 2; op++) {
                hd_strbuf_printf(&b,
                                 "# HELP hostdev_%s_claims_total Claims %sd, by result.\n"
                                 "# TYPE hostdev_%s_claims_total counter\n",
                                 ops[op], ops[op], ops[op]);
                hd_strbuf_printf(&b,
                                 "hostdev_%s_claims_total{driver=\"%s\",result=\"success\"} %lu\n",
                                 ops[op], m->driver, m->total[op][1]);
                hd_strbuf_printf(&b,
                                 "hostdev_%s_claims_total{driver=\"%s\",result=\"error\"} %lu\n",
                                 ops[op], m->driver, m->total[op][0]);
                hd_strbuf_printf(&b,
                                 "# HELP hostdev_%s_duration_seconds Time to %s one claim.\n"
                                 "# TYPE hostdev_%s_duration_seconds histogram\n",
                                 ops[op], ops[op], ops[op]);
                _cleanup_free_ char *name = hd_asprintf("hostdev_%s_duration_seconds", ops[op]);
                _cleanup_free_ char *labels = hd_asprintf("driver=\"%s\"", m->driver);
                render_histogram(&b, name, labels, &m->latency[op]);
        }
        render_phases(&b, m);
        hd_strbuf_printf(&b,
                         "# HELP hostdev_requests_inflight DRA calls being served.\n"
                         "# TYPE hostdev_requests_inflight gauge\n"
                         "hostdev_requests_inflight{driver=\"%s\"} %ld\n"
                         "# HELP hostdev_prepared_claims Claims currently prepared on this node.\n"
                         "# TYPE hostdev_prepared_claims gauge\n"
                         "hostdev_prepared_claims{driver=\"%s\"} %u\n"
                         "# HELP hostdev_devices Published devices by health.\n"
                         "# TYPE hostdev_devices gauge\n"
                         "hostdev_devices{driver=\"%s\",health=\"healthy\"} %u\n"
                         "hostdev_devices{driver=\"%s\",health=\"unhealthy\"} %u\n"
                         "# HELP hostdev_slice_publish_total ResourceSlice writes, by result.\n"
                         "# TYPE hostdev_slice_publish_total counter\n"
                         "hostdev_slice_publish_total{driver=\"%s\",result=\"success\"} %lu\n"
                         "hostdev_slice_publish_total{driver=\"%s\",result=\"error\"} %lu\n"
                         "# HELP hostdev_slice_publish_errors_total Failed ResourceSlice writes.\n"
                         "# TYPE hostdev_slice_publish_errors_total counter\n"
                         "hostdev_slice_publish_errors_total{driver=\"%s\"} %lu\n"
                         "# HELP hostdev_registered 1 once the kubelet accepted the plugin.\n"
                         "# TYPE hostdev_registered gauge\n"
                         "hostdev_registered{driver=\"%s\"} %d\n",
                         m->driver, m->inflight, m->driver, m->prepared, m->driver, m->healthy,
                         m->driver, m->unhealthy, m->driver, m->publish_ok, m->driver,
                         m->publish_errors, m->driver, m->publish_errors, m->driver,
                         m->registered ? 1 : 0);
        render_dp(m, &b);
        render_mode(m, &b);
        pthread_mutex_unlock(&m->lock);
        return hd_strbuf_take(&b);
}
