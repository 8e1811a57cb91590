/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/withhold.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strutil.h"
#include "devmodel/config.h"
#include "kube/kube.h"
#include "kubeletplugin/dp_checkpoint.h"
#include "kubeletplugin/slice_publisher.h"

struct kp_withhold {
        char *driver, *node, *path, *field_selector;
        const struct dm_config *config;
        struct kube_client *client;
        struct kp_publisher *publisher;
        int recheck_ms;
        char **resources; /* one per config group, in group order */
        struct kube_informer *informer;
        pthread_t thread;
        bool started;
        char **last_holds;    /* holds last handed to the publisher, as log lines */
        char **last_problems; /* checkpoint problems last logged */

        pthread_mutex_t lock; /* guards the two below */
        pthread_cond_t cond;
        bool wake, stopping;
};

char *kp_group_resource_name(const char *driver, const struct dm_group *group)
{
        return hd_asprintf("%s/%s", driver, group->name);
}

/* Is the pod with UID on this node and not finished? PODS: the informer's list. */
static bool pod_active(json_t *pods, const char *uid)
{
        size_t i;
        json_t *pod;
        json_array_foreach(pods, i, pod)
        {
                json_t *meta = json_object_get(pod, "metadata");
                if (!hd_streq(json_string_value(json_object_get(meta, "uid")), uid))
                        continue;
                const char *phase =
                        json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
                return !hd_streq(phase, "Succeeded") && !hd_streq(phase, "Failed");
        }
        return false;
}

static char *hold_line(const struct kp_dp_hold *h)
{
        struct hd_strbuf ids = HD_STRBUF_INIT;
        for (char **id = h->device_ids; id && *id; id++)
                hd_strbuf_printf(&ids, "%s%s", id == h->device_ids ? "" : ",", *id);
        _cleanup_free_ char *list = hd_strbuf_take(&ids);
        return hd_asprintf("resource=%s pod=%s container=%s devices=%s", h->resource,
                           h->pod_uid ? h->pod_uid : "(unknown)",
                           h->container ? h->container : "(unknown)",
                           h->device_ids ? list : "(all of the resource)");
}

static const char *group_of(const struct kp_withhold *w, const char *resource)
{
        for (size_t i = 0; w->resources[i]; i++)
                if (hd_streq(w->resources[i], resource))
                        return w->config->groups[i].name;
        return NULL;
}

/* Log what changed between the last holds and LINES (taken) and keep LINES. */
static void note_holds(struct kp_withhold *w, char **lines)
{
        for (char **l = w->last_holds; l && *l; l++)
                if (!hd_strv_contains(lines, *l))
                        hd_log_info("device-plugin allocation released; its devices can be "
                                    "published",
                                    "hold", *l);
        for (char **l = lines; l && *l; l++)
                if (!hd_strv_contains(w->last_holds, *l))
                        hd_log_info("devices withheld from the ResourceSlices: a pod holds them "
                                    "through the device-plugin API",
                                    "hold", *l, "checkpoint", w->path);
        hd_strv_free(w->last_holds);
        w->last_holds = lines;
}

/* Read the checkpoint, drop the holds of pods that are gone (when PODS_KNOWN), and hand the
 * rest to the publisher if anything changed (always when FIRST). Returns the holds left. */
static size_t evaluate(struct kp_withhold *w, bool pods_known, bool first)
{
        struct kp_dp_checkpoint ck = {0};
        kp_dp_checkpoint_read(w->path, w->resources, &ck);
        if (!hd_strv_equal(ck.problems, w->last_problems)) {
                for (char **p = ck.problems; p && *p; p++)
                        hd_log_warn("device-plugin checkpoint damaged; withholding what it may "
                                    "name",
                                    "problem", *p);
                hd_strv_free(w->last_problems);
                w->last_problems = hd_strv_copy(ck.problems);
        }
        _cleanup_json_ json_t *pods = pods_known ? kube_informer_list(w->informer) : NULL;
        char **devices = NULL, **groups = NULL, **lines = NULL;
        size_t live = 0;
        for (size_t i = 0; i < ck.n_holds; i++) {
                const struct kp_dp_hold *h = &ck.holds[i];
                if (pods_known && h->pod_uid && !pod_active(pods, h->pod_uid))
                        continue;
                live++;
                hd_strv_consume(&lines, hold_line(h));
                const char *group = group_of(w, h->resource);
                if (!h->device_ids && !hd_strv_contains(groups, group))
                        hd_strv_push(&groups, group);
                for (char **id = h->device_ids; id && *id; id++)
                        if (!hd_strv_contains(devices, *id))
                                hd_strv_push(&devices, *id);
        }
        kp_dp_checkpoint_done(&ck);
        if (first || !hd_strv_equal(lines, w->last_holds)) {
                kp_publisher_set_withheld(w->publisher, devices, groups); /* takes both */
                note_holds(w, lines);
        } else {
                hd_strv_free(devices);
                hd_strv_free(groups);
                hd_strv_free(lines);
        }
        return live;
}

static void *withhold_main(void *arg)
{
        struct kp_withhold *w = arg;
        pthread_mutex_lock(&w->lock);
        while (!w->stopping) {
                if (!w->wake) {
                        struct timespec until = hd_deadline_after_ms(CLOCK_REALTIME, w->recheck_ms);
                        pthread_cond_timedwait(&w->cond, &w->lock, &until);
                        if (w->stopping)
                                break;
                }
                w->wake = false;
                pthread_mutex_unlock(&w->lock);
                bool synced = kube_informer_has_synced(w->informer);
                size_t live = evaluate(w, synced, false);
                pthread_mutex_lock(&w->lock);
                if (synced && live == 0) {
                        hd_log_info("every device-plugin allocation of ours is released; no "
                                    "longer watching pods",
                                    "node", w->node);
                        break;
                }
        }
        pthread_mutex_unlock(&w->lock);
        kube_informer_stop(w->informer);
        return NULL;
}

static void wake(struct kp_withhold *w)
{
        pthread_mutex_lock(&w->lock);
        w->wake = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
}

static void on_add(json_t *obj, void *ud)
{
        wake(ud);
}

static void on_update(json_t *old_obj, json_t *obj, void *ud)
{
        wake(ud);
}

static void on_synced(void *ud)
{
        wake(ud);
}

static void on_error(const struct hd_error *err, void *ud)
{
        hd_log_warn("cannot watch this node's pods; device-plugin devices stay withheld", "err",
                    hd_error_message(err));
}

struct kp_withhold *kp_withhold_new(const struct kp_withhold_options *o)
{
        struct kp_withhold *w = hd_malloc0(sizeof(*w));
        w->driver = hd_strdup(o->driver);
        w->node = hd_strdup(o->node);
        w->path = hd_strdup(o->checkpoint_path);
        w->field_selector = hd_asprintf("spec.nodeName=%s", o->node);
        w->config = o->config;
        w->client = o->client;
        w->publisher = o->publisher;
        w->recheck_ms = o->recheck_ms > 0 ? o->recheck_ms : 10000;
        w->resources = hd_new0(char *, o->config->n_groups + 1);
        for (size_t i = 0; i < o->config->n_groups; i++)
                w->resources[i] = kp_group_resource_name(o->driver, &o->config->groups[i]);
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        return w;
}

int kp_withhold_start(struct kp_withhold *w, struct hd_error *reterr)
{
        if (evaluate(w, false, true) == 0) {
                hd_log_v(1, "no device-plugin allocations of ours on this node", "checkpoint",
                         w->path);
                return 0;
        }
        struct kube_informer_options io = {
                .resource = {"", "v1", "pods"},
                .field_selector = w->field_selector,
        };
        struct kube_informer_callbacks cbs = {on_add, on_update, on_add, on_synced, on_error};
        int r = kube_informer_new(w->client, &io, &cbs, w, &w->informer, reterr);
        if (r >= 0)
                r = kube_informer_start(w->informer, reterr);
        if (r < 0)
                return hd_error_wrap_r(reterr, r, "watch the pods of node '%s'", w->node);
        if (pthread_create(&w->thread, NULL, withhold_main, w) != 0)
                return hd_error_setf(reterr, EAGAIN, "cannot start the withholding thread");
        w->started = true;
        return 0;
}

struct kp_withhold *kp_withhold_free(struct kp_withhold *w)
{
        if (!w)
                return NULL;
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        /* The thread stops the informer on its way out; without it, stop it here. Either way
         * only one thread stops it, and before the lock its callbacks take goes away. */
        if (w->started)
                pthread_join(w->thread, NULL);
        else
                kube_informer_stop(w->informer);
        kube_informer_free(w->informer);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        hd_strv_free(w->resources);
        hd_strv_free(w->last_holds);
        hd_strv_free(w->last_problems);
        free(w->driver);
        free(w->node);
        free(w->path);
        free(w->field_selector);
        free(w);
        return NULL;
}
