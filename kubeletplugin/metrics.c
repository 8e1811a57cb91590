/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"

static const double buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct histogram {
        unsigned long counts[N_BUCKETS]; /* cumulative per bucket at render time */
        unsigned long count;
        double sum;
};

struct kp_metrics {
        char *driver;
        pthread_mutex_t lock;      /* guards everything below */
        unsigned long total[2][2]; /* [op][ok] */
        struct histogram latency[2];
        long inflight;
        bool registered;
        unsigned healthy, unhealthy, prepared;
        unsigned long publish_ok, publish_errors;
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

void kp_metrics_observe(struct kp_metrics *m, enum kp_metric_op op, bool ok, double seconds)
{
        if (!m)
                return;
        pthread_mutex_lock(&m->lock);
        m->total[op][ok]++;
        struct histogram *h = &m->latency[op];
        for (size_t i = 0; i < N_BUCKETS; i++)
                if (seconds <= buckets[i])
                        h->counts[i]++;
        h->count++;
        h->sum += seconds;
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
                const struct histogram *h = &m->latency[op];
                hd_strbuf_printf(&b,
                                 "# HELP hostdev_%s_duration_seconds Time to %s one claim.\n"
                                 "# TYPE hostdev_%s_duration_seconds histogram\n",
                                 ops[op], ops[op], ops[op]);
                for (size_t i = 0; i < N_BUCKETS; i++)
                        hd_strbuf_printf(
                                &b,
                                "hostdev_%s_duration_seconds_bucket{driver=\"%s\",le=\"%g\"} %lu\n",
                                ops[op], m->driver, buckets[i], h->counts[i]);
                hd_strbuf_printf(
                        &b,
                        "hostdev_%s_duration_seconds_bucket{driver=\"%s\",le=\"+Inf\"} %lu\n"
                        "hostdev_%s_duration_seconds_sum{driver=\"%s\"} %.6f\n"
                        "hostdev_%s_duration_seconds_count{driver=\"%s\"} %lu\n",
                        ops[op], m->driver, h->count, ops[op], m->driver, h->sum, ops[op],
                        m->driver, h->count);
        }
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
        render_mode(m, &b);
        pthread_mutex_unlock(&m->lock);
        return hd_strbuf_take(&b);
}
