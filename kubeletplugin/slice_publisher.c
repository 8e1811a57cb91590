/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/slice_publisher.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strutil.h"
#include "kube/kube.h"
#include "kubeletplugin/metrics.h"

#define MAX_DEVICES 128
#define MAX_DEVICES_WITH_TAINTS 64

struct kp_publisher {
        char *driver, *node, *api_version, *field_selector;
        struct kube_client *client;
        struct kp_metrics *metrics;
        int resync_ms;
        struct kube_informer *informer;
        pthread_t thread;
        bool started;

        pthread_mutex_t lock; /* guards everything below */
        pthread_cond_t cond;
        json_t *desired; /* array of v1 devices */
        json_t *deleted; /* names the watch reported deleted while we wait for our writes */
        char **withheld_devices, **withheld_groups; /* kept out of the slices */
        bool dirty, stopping, in_sync;
        char *node_uid;
};

/* --- building slices -------------------------------------------------------------------------- */

static bool has_taints(json_t *devices)
{
        size_t i;
        json_t *d;
        json_array_foreach(devices, i, d)
        {
                if (json_array_size(json_object_get(d, "taints")) > 0)
                        return true;
        }
        return false;
}

/* v1 device → the served shape (a new reference; devices are never changed once built, so
 * the slices share them). v1beta1 nests everything but the name under "basic". */
static json_t *device_for_version(json_t *dev, const char *api_version)
{
        if (!hd_streq(api_version, "v1beta1"))
                return json_incref(dev);
        json_t *basic = json_object();
        const char *key;
        json_t *v;
        json_object_foreach(dev, key, v)
        {
                if (!hd_streq(key, "name"))
                        json_object_set(basic, key, v);
        }
        return json_pack("{s:O,s:o}", "name", json_object_get(dev, "name"), "basic", basic);
}

json_t *kp_slices_for_devices(json_t *devices, const char *driver, const char *node,
                              const char *node_uid, const char *api_version, long long generation)
{
        size_t n = json_array_size(devices);
        size_t per = has_taints(devices) ? MAX_DEVICES_WITH_TAINTS : MAX_DEVICES;
        size_t chunks = n ? (n + per - 1) / per : 1; /* an empty pool still gets one slice */
        json_t *out = json_array();
        _cleanup_free_ char *api = hd_asprintf("resource.k8s.io/%s", api_version);
        _cleanup_free_ char *gen_name = hd_asprintf("%s-%s-", node, driver);
        for (size_t c = 0; c < chunks; c++) {
                json_t *devs = json_array();
                for (size_t i = c * per; i < n && i < (c + 1) * per; i++)
                        json_array_append_new(
                                devs, device_for_version(json_array_get(devices, i), api_version));
                json_t *meta = json_pack("{s:s}", "generateName", gen_name);
                if (node_uid)
                        json_object_set_new(meta, "ownerReferences",
                                            json_pack("[{s:s,s:s,s:s,s:s,s:b}]", "apiVersion", "v1",
                                                      "kind", "Node", "name", node, "uid", node_uid,
                                                      "controller", 1));
                json_t *spec =
                        json_pack("{s:s,s:s,s:{s:s,s:I,s:I},s:o}", "driver", driver, "nodeName",
                                  node, "pool", "name", node, "generation", (json_int_t)generation,
                                  "resourceSliceCount", (json_int_t)chunks, "devices", devs);
                json_array_append_new(out,
                                      json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", api, "kind",
                                                "ResourceSlice", "metadata", meta, "spec", spec));
        }
        return out;
}

/* --- comparing with what is stored ------------------------------------------------------------ */

/* A copy of a stored device list without server-set taint timestamps. */
static json_t *normalized_devices(json_t *devices)
{
        json_t *copy = json_deep_copy(devices ? devices : json_array());
        size_t i, k;
        json_t *d, *t;
        json_array_foreach(copy, i, d)
        {
                json_t *holder = json_object_get(d, "basic") ? json_object_get(d, "basic") : d;
                json_t *taints = json_object_get(holder, "taints");
                json_array_foreach(taints, k, t) json_object_del(t, "timeAdded");
                if (taints && json_array_size(taints) == 0)
                        json_object_del(holder, "taints");
        }
        return copy;
}

static long long slice_generation(json_t *s)
{
        return json_integer_value(
                json_object_get(json_object_get(json_object_get(s, "spec"), "pool"), "generation"));
}

/* Can stored slice ES hold one of WANT's N slices at generation GEN for NODE_UID? Everything
 * but the devices. */
static bool slice_frame_matches(json_t *es, long long gen, size_t n, const char *node_uid)
{
        json_t *pool = json_object_get(json_object_get(es, "spec"), "pool");
        if (slice_generation(es) != gen ||
            json_integer_value(json_object_get(pool, "resourceSliceCount")) != (json_int_t)n)
                return false;
        const char *owner = json_string_value(json_object_get(
                json_array_get(json_object_get(json_object_get(es, "metadata"), "ownerReferences"),
                               0),
                "uid"));
        return !node_uid || hd_streq(owner, node_uid);
}

/* true when EXISTING (stored slices) already carries WANT (built with any generation). Each
 * stored device list is normalized once: comparing every wanted slice with every stored one
 * must not deep-copy a slice per comparison (79 slices of 128 devices at 10,000 devices). */
static bool matches(json_t *existing, json_t *want, const char *node_uid)
{
        if (json_array_size(existing) != json_array_size(want))
                return false;
        size_t n = json_array_size(want);
        long long gen = n ? slice_generation(json_array_get(existing, 0)) : 0;
        json_t **norm = hd_new0(json_t *, n ? n : 1); /* NULL: used or cannot match */
        for (size_t e = 0; e < n; e++) {
                json_t *es = json_array_get(existing, e);
                if (slice_frame_matches(es, gen, n, node_uid))
                        norm[e] = normalized_devices(
                                json_object_get(json_object_get(es, "spec"), "devices"));
        }
        bool ok = true;
        for (size_t w = 0; w < n && ok; w++) {
                json_t *wdevs = json_object_get(json_object_get(json_array_get(want, w), "spec"),
                                                "devices");
                bool found = false;
                for (size_t e = 0; e < n && !found; e++) {
                        if (norm[e] && json_equal(norm[e], wdevs)) {
                                json_decref(norm[e]);
                                norm[e] = NULL;
                                found = true;
                        }
                }
                ok = found;
        }
        for (size_t e = 0; e < n; e++)
                json_decref(norm[e]);
        free(norm);
        return ok;
}

/* --- reconcile -------------------------------------------------------------------------------- */

static struct kube_resource slices_resource(const char *version)
{
        return (struct kube_resource){"resource.k8s.io", version, "resourceslices"};
}

static void lookup_node_uid(struct kp_publisher *p)
{
        if (p->node_uid)
                return;
        struct kube_resource nodes = {"", "v1", "nodes"};
        _cleanup_free_ char *path = NULL;
        _cleanup_json_ json_t *obj = NULL;
        struct hd_error e = HD_ERROR_INIT;
        if (kube_path(&nodes, NULL, p->node, NULL, &path, &e) < 0 ||
            kube_get(p->client, path, &obj, &e) < 0) {
                hd_log_warn("cannot look up the Node for slice owner references; publishing "
                            "without one for now",
                            "node", p->node, "err", hd_error_message(&e));
                hd_error_done(&e);
                return;
        }
        const char *uid =
                json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
        p->node_uid = hd_strdup(uid);
}

/* Remember what we wrote ({name, resourceVersion}; resourceVersion null for a delete) so the
 * next pass waits until the watch has shown it: acting on a cache that has not seen our own
 * create yet would create the slice twice. */
static void note_written(json_t *written, json_t *obj, const char *deleted_name)
{
        json_t *meta = json_object_get(obj, "metadata");
        if (deleted_name)
                json_array_append_new(
                        written, json_pack("{s:s,s:n}", "name", deleted_name, "resourceVersion"));
        else if (meta)
                json_array_append_new(written,
                                      json_pack("{s:O,s:O}", "name", json_object_get(meta, "name"),
                                                "resourceVersion",
                                                json_object_get(meta, "resourceVersion")));
}

static bool rv_at_least(const char *have, const char *want)
{
        if (!have || !want)
                return false;
        if (strcmp(have, want) == 0)
                return true;
        char *e1 = NULL, *e2 = NULL;
        unsigned long long a = strtoull(have, &e1, 10), b = strtoull(want, &e2, 10);
        return !*e1 && !*e2 && a >= b;
}

/* true when the watch reported one of the slices we created or updated as deleted: the write
 * is then as confirmed as it will get, and waiting longer only delays re-creating it. Call
 * with p->lock held. */
static bool written_was_deleted_locked(struct kp_publisher *p, json_t *written)
{
        size_t i, k;
        json_t *w, *d;
        json_array_foreach(written, i, w)
        {
                if (json_is_null(json_object_get(w, "resourceVersion")))
                        continue;
                json_array_foreach(p->deleted, k, d)
                {
                        if (json_equal(d, json_object_get(w, "name")))
                                return true;
                }
        }
        return false;
}

/* Has the informer cache seen every write in WRITTEN? A create or update is seen once the
 * informer's resourceVersion (events arrive in order) reaches the one the API server gave it;
 * a delete once the object is gone from the cache. No cached slice is copied for the
 * creates and updates: this is polled every 20 ms while 79 slices are being confirmed. */
static bool cache_has_writes(struct kp_publisher *p, json_t *written)
{
        _cleanup_free_ char *seen = kube_informer_resource_version(p->informer);
        size_t i;
        json_t *w;
        json_array_foreach(written, i, w)
        {
                const char *rv = json_string_value(json_object_get(w, "resourceVersion"));
                if (rv) {
                        if (!rv_at_least(seen, rv))
                                return false;
                        continue;
                }
                const char *name = json_string_value(json_object_get(w, "name"));
                _cleanup_json_ json_t *cur = kube_informer_get(p->informer, NULL, name);
                if (cur)
                        return false;
        }
        return true;
}

/* Wait (at most 3 s) until the informer cache reflects every write in WRITTEN. */
static void wait_for_cache(struct kp_publisher *p, json_t *written)
{
        for (int tries = 0; tries < 150; tries++) {
                bool all = cache_has_writes(p, written);
                pthread_mutex_lock(&p->lock);
                bool stop = p->stopping || written_was_deleted_locked(p, written);
                pthread_mutex_unlock(&p->lock);
                if (all || stop)
                        return;
                struct timespec ts = {0, 20 * 1000000L};
                nanosleep(&ts, NULL);
        }
}

/* Make the stored slices equal WANT_DEVICES. Returns 0 when in sync, -EAGAIN after writing
 * (the next pass confirms), other -errno to retry later. */
static long long max_generation(json_t *slices)
{
        long long max_gen = 0;
        size_t i;
        json_t *s;
        json_array_foreach(slices, i, s)
        {
                if (slice_generation(s) > max_gen)
                        max_gen = slice_generation(s);
        }
        return max_gen;
}

/* Write slice OBJ: in place of OLD (reusing its name and resourceVersion) or, with OLD NULL, as
 * a new object. What the API server stored is noted in WRITTEN. */
static int write_slice(struct kp_publisher *p, json_t *obj, json_t *old, json_t *written,
                       struct hd_error *reterr)
{
        struct kube_resource res = slices_resource(p->api_version);
        _cleanup_json_ json_t *stored = NULL;
        int r;
        if (old) {
                json_t *old_meta = json_object_get(old, "metadata");
                const char *name = json_string_value(json_object_get(old_meta, "name"));
                json_t *meta = json_object_get(obj, "metadata");
                json_object_set(meta, "name", json_object_get(old_meta, "name"));
                json_object_set(meta, "resourceVersion",
                                json_object_get(old_meta, "resourceVersion"));
                _cleanup_free_ char *path = NULL;
                r = kube_path(&res, NULL, name, NULL, &path, reterr);
                if (r >= 0)
                        r = kube_update(p->client, path, obj, &stored, reterr);
        } else {
                _cleanup_free_ char *collection = NULL;
                r = kube_path(&res, NULL, NULL, NULL, &collection, reterr);
                if (r >= 0)
                        r = kube_create(p->client, collection, obj, &stored, reterr);
        }
        note_written(written, stored, NULL);
        kp_metrics_slice_publish(p->metrics, r >= 0);
        return r;
}

/* Delete slice OLD, on condition that it is still the version we saw. Gone already is fine. */
static int delete_slice(struct kp_publisher *p, json_t *old, json_t *written,
                        struct hd_error *reterr)
{
        struct kube_resource res = slices_resource(p->api_version);
        json_t *meta = json_object_get(old, "metadata");
        const char *name = json_string_value(json_object_get(meta, "name"));
        _cleanup_free_ char *path = NULL;
        /* Without a name the path would be the collection's, and a DELETE there removes
         * every slice the caller may delete. */
        if (!name || !*name)
                return hd_error_set(reterr, EINVAL, "cached ResourceSlice without a name");
        int r = kube_path(&res, NULL, name, NULL, &path, reterr);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *opts =
                json_pack("{s:s,s:s,s:{s:O,s:O}}", "apiVersion", "v1", "kind", "DeleteOptions",
                          "preconditions", "uid", json_object_get(meta, "uid"), "resourceVersion",
                          json_object_get(meta, "resourceVersion"));
        r = kube_delete(p->client, path, opts, NULL, reterr);
        if (r == -ENOENT)
                r = 0;
        if (r >= 0)
                note_written(written, NULL, name);
        kp_metrics_slice_publish(p->metrics, r >= 0);
        return r;
}

static int reconcile(struct kp_publisher *p, json_t *want_devices)
{
        lookup_node_uid(p);
        _cleanup_json_ json_t *existing = kube_informer_list(p->informer);
        long long max_gen = max_generation(existing);
        _cleanup_json_ json_t *want = kp_slices_for_devices(want_devices, p->driver, p->node,
                                                            p->node_uid, p->api_version, max_gen);
        if (matches(existing, want, p->node_uid))
                return 0;

        /* Content changed: write every slice with the next generation, reusing existing
         * slices in place, then delete the ones left over. Consumers only use the highest
         * generation, so a half-done update never mixes with the old pool. */
        size_t k;
        json_t *slice;
        json_array_foreach(want, k, slice)
        {
                json_object_set_new(json_object_get(json_object_get(slice, "spec"), "pool"),
                                    "generation", json_integer(max_gen + 1));
        }
        struct hd_error e = HD_ERROR_INIT;
        int r = 0;
        _cleanup_json_ json_t *written = json_array();
        pthread_mutex_lock(&p->lock);
        json_array_clear(p->deleted);
        pthread_mutex_unlock(&p->lock);
        size_t n_want = json_array_size(want), n_have = json_array_size(existing);
        for (size_t i = 0; i < n_want && r >= 0; i++)
                r = write_slice(p, json_array_get(want, i),
                                i < n_have ? json_array_get(existing, i) : NULL, written, &e);
        for (size_t i = n_want; i < n_have && r >= 0; i++)
                r = delete_slice(p, json_array_get(existing, i), written, &e);
        if (r < 0) {
                if (r == -ESTALE)
                        hd_log_v(2, "slice changed under us; reconciling again", "err",
                                 hd_error_message(&e));
                else
                        hd_log_error("cannot publish ResourceSlices", "node", p->node, "err",
                                     hd_error_message(&e));
        } else {
                hd_log_info("published ResourceSlices", "node", p->node, "slices", HD_INT(n_want),
                            "devices", HD_INT(json_array_size(want_devices)), "generation",
                            HD_INT(max_gen + 1));
        }
        hd_error_done(&e);
        wait_for_cache(p, written);
        /* The next pass confirms what the watch now shows. */
        return r < 0 ? r : -EAGAIN;
}

/* The desired devices minus the withheld ones (new reference); counts them in the metrics.
 * Called with p->lock held. */
static json_t *without_withheld(struct kp_publisher *p)
{
        if (!p->withheld_devices && !p->withheld_groups) {
                kp_metrics_set_withheld(p->metrics, 0);
                return json_incref(p->desired);
        }
        json_t *out = json_array();
        size_t i;
        json_t *d;
        unsigned n = 0;
        json_array_foreach(p->desired, i, d)
        {
                const char *name = json_string_value(json_object_get(d, "name"));
                json_t *attrs = json_object_get(d, "attributes");
                const char *group = json_string_value(
                        json_object_get(json_object_get(attrs, "group"), "string"));
                if (hd_strv_contains(p->withheld_devices, name) ||
                    hd_strv_contains(p->withheld_groups, group))
                        n++;
                else
                        json_array_append(out, d);
        }
        kp_metrics_set_withheld(p->metrics, n);
        return out;
}

static void *publisher_main(void *arg)
{
        struct kp_publisher *p = arg;
        int backoff_ms = 0;
        bool wrote = false; /* slices written since the last time in sync */
        pthread_setname_np(pthread_self(), "slice-publisher");
        pthread_mutex_lock(&p->lock);
        while (!p->stopping) {
                if (!p->dirty || backoff_ms > 0) {
                        long wait_ms = backoff_ms > 0 ? backoff_ms : p->resync_ms;
                        struct timespec until = hd_deadline_after_ms(CLOCK_REALTIME, wait_ms);
                        int w = pthread_cond_timedwait(&p->cond, &p->lock, &until);
                        if (p->stopping)
                                break;
                        if (w == ETIMEDOUT)
                                p->dirty = true;
                        backoff_ms = 0;
                        if (!p->dirty)
                                continue;
                }
                p->dirty = false;
                json_t *want = without_withheld(p);
                pthread_mutex_unlock(&p->lock);

                int r = kube_informer_has_synced(p->informer) ? reconcile(p, want) : -EINPROGRESS;
                json_decref(want);
                wrote = wrote || r == -EAGAIN;
                if (r == 0 && wrote) {
                        /* A publish builds, sends, decodes and compares every slice: hand the
                         * peak back to the system once it is confirmed (10,000 devices are
                         * tens of MB of JSON trees, freed but kept by malloc otherwise). */
                        malloc_trim(0);
                        wrote = false;
                }

                pthread_mutex_lock(&p->lock);
                p->in_sync = r == 0 && !p->dirty;
                if (r == 0)
                        pthread_cond_broadcast(&p->cond);
                else if (r == -EAGAIN)
                        p->dirty = true; /* confirm our writes right away */
                else if (r == -EINPROGRESS)
                        backoff_ms = 100; /* the first list is not in yet; on_synced wakes us */
                else
                        backoff_ms = 1000;
                if (r != 0)
                        p->dirty = true;
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

static void mark_dirty(struct kp_publisher *p)
{
        pthread_mutex_lock(&p->lock);
        p->dirty = true;
        p->in_sync = false;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
}

static void on_add(json_t *obj, void *ud)
{
        mark_dirty(ud);
}

static void on_update(json_t *old_obj, json_t *obj, void *ud)
{
        mark_dirty(ud);
}

static void on_delete(json_t *obj, void *ud)
{
        struct kp_publisher *p = ud;
        json_t *name = json_object_get(json_object_get(obj, "metadata"), "name");
        pthread_mutex_lock(&p->lock);
        if (name && json_array_size(p->deleted) < 1024)
                json_array_append_new(p->deleted, json_deep_copy(name));
        pthread_mutex_unlock(&p->lock);
        hd_log_v(1, "ResourceSlice deleted; reconciling", "slice",
                 json_string_value(json_object_get(json_object_get(obj, "metadata"), "name")));
        mark_dirty(p);
}

static void on_synced(void *ud)
{
        mark_dirty(ud);
}

static void on_error(const struct hd_error *err, void *ud)
{
        hd_log_v(1, "ResourceSlice watch failed; retrying", "err", hd_error_message(err));
}

struct kp_publisher *kp_publisher_new(const struct kp_publisher_options *o)
{
        struct kp_publisher *p = hd_malloc0(sizeof(*p));
        p->driver = hd_strdup(o->driver);
        p->node = hd_strdup(o->node);
        p->api_version = hd_strdup(o->api_version ? o->api_version : "v1");
        p->client = o->client;
        p->metrics = o->metrics;
        p->resync_ms = o->resync_ms > 0 ? o->resync_ms : 30000;
        p->field_selector = hd_asprintf("spec.driver=%s,spec.nodeName=%s", p->driver, p->node);
        p->desired = json_array();
        p->deleted = json_array();
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);
        return p;
}

void kp_publisher_set_devices(struct kp_publisher *p, json_t *devices)
{
        pthread_mutex_lock(&p->lock);
        json_decref(p->desired);
        p->desired = devices;
        p->dirty = true;
        p->in_sync = false;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
}

void kp_publisher_set_withheld(struct kp_publisher *p, char **devices, char **groups)
{
        pthread_mutex_lock(&p->lock);
        hd_strv_free(p->withheld_devices);
        hd_strv_free(p->withheld_groups);
        p->withheld_devices = devices;
        p->withheld_groups = groups;
        p->dirty = true;
        p->in_sync = false;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
}

int kp_publisher_start(struct kp_publisher *p, struct hd_error *reterr)
{
        struct kube_informer_options io = {
                .resource = slices_resource(p->api_version),
                .field_selector = p->field_selector,
        };
        struct kube_informer_callbacks cbs = {on_add, on_update, on_delete, on_synced, on_error};
        int r = kube_informer_new(p->client, &io, &cbs, p, &p->informer, reterr);
        if (r < 0)
                return r;
        r = kube_informer_start(p->informer, reterr);
        if (r < 0)
                return r;
        if (pthread_create(&p->thread, NULL, publisher_main, p) != 0)
                return hd_error_setf(reterr, EAGAIN, "cannot start the slice publisher thread");
        p->started = true;
        return 0;
}

int kp_publisher_wait_in_sync(struct kp_publisher *p, int timeout_ms)
{
        struct timespec until = hd_deadline_after_ms(CLOCK_REALTIME, timeout_ms);
        int r = 0;
        pthread_mutex_lock(&p->lock);
        while (!p->in_sync && r == 0)
                if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT)
                        r = -ETIMEDOUT;
        pthread_mutex_unlock(&p->lock);
        return r;
}

struct kp_publisher *kp_publisher_free(struct kp_publisher *p)
{
        if (!p)
                return NULL;
        /* Stop the informer first: its callbacks take p->lock. */
        kube_informer_stop(p->informer);
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        if (p->started)
                pthread_join(p->thread, NULL);
        kube_informer_free(p->informer);
        json_decref(p->desired);
        json_decref(p->deleted);
        hd_strv_free(p->withheld_devices);
        hd_strv_free(p->withheld_groups);
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p->driver);
        free(p->node);
        free(p->api_version);
        free(p->field_selector);
        free(p->node_uid);
        free(p);
        return NULL;
}
