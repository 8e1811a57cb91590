/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/health.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strutil.h"
#include "devmodel/config.h"
#include "devmodel/discovery.h"
#include "devmodel/hostroot.h"
#include "kubeletplugin/driver.h"
#include "kubeletplugin/metrics.h"
#include "kubeletplugin/slice_publisher.h"
#include "devmodel/slices.h"

#include "dra_health_v1alpha1.pb-c.h"

#define MAX_STREAMS 64

struct known_device {
        char *name;
        bool optional; /* its group is optional: remove instead of tainting when it vanishes */
        bool healthy;
        char *reason; /* why unhealthy */
        json_t *json; /* v1 device object without taints */
};

struct kp_health {
        char *driver, *node;
        const struct dm_config *config;
        struct kp_driver *kdriver;
        struct kp_publisher *publisher;
        struct kp_metrics *metrics;
        int rescan_ms, settle_ms;
        void (*changed_cb)(void *userdata);
        void *changed_userdata;
        int inotify_fd, wake_fd[2];
        pthread_t thread;
        bool started;

        pthread_mutex_t lock; /* guards everything below */
        struct known_device *devices;
        size_t n_devices;
        time_t checked_at;
        struct rpc_call *streams[MAX_STREAMS];
        size_t n_streams;
        char **last_problems; /* discovery problems last logged */
        char **last_dropped;  /* devices last left out of the slices */
};

static void known_done(struct known_device *k)
{
        free(k->name);
        free(k->reason);
        json_decref(k->json);
}

static void known_free_all(struct known_device *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                known_done(&v[i]);
        free(v);
}

/* Name lookup over a known-device array: positions sorted by name, so a rescan of 10,000
 * devices compares O(n log n) names instead of O(n^2). */
struct known_index {
        const struct known_device *v;
        size_t *order;
        size_t n;
};

static int order_cmp(const void *a, const void *b, void *base)
{
        const struct known_device *v = base;
        return strcmp(v[*(const size_t *)a].name, v[*(const size_t *)b].name);
}

/* V must not move while the index is used. */
static struct known_index known_index_new(const struct known_device *v, size_t n)
{
        struct known_index ix = {v, hd_new0(size_t, n ? n : 1), n};
        for (size_t i = 0; i < n; i++)
                ix.order[i] = i;
        qsort_r(ix.order, n, sizeof(size_t), order_cmp, (void *)v);
        return ix;
}

static void known_index_done(struct known_index *ix)
{
        free(ix->order);
}

/* Position of NAME in IX's array, or -1. */
static ssize_t known_find(const struct known_index *ix, const char *name)
{
        size_t lo = 0, hi = ix->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(ix->v[ix->order[mid]].name, name);
                if (c == 0)
                        return (ssize_t)ix->order[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return -1;
}

/* The devices of INV that the API server would accept, as known devices. The others go to
 * *RET_DROPPED as messages naming the device (one bad attribute must not cost the node its other
 * devices); the caller logs them when they change, not on every rescan. */
static struct known_device *known_from_inventory(const struct dm_inventory *inv, size_t *ret_n,
                                                 char ***ret_dropped)
{
        struct known_device *v = hd_new0(struct known_device, inv->n_devices ? inv->n_devices : 1);
        size_t n = 0;
        *ret_dropped = NULL;
        for (size_t i = 0; i < inv->n_devices; i++) {
                const struct dm_device *dev = &inv->devices[i];
                struct hd_error e = HD_ERROR_INIT;
                if (dm_device_validate(dev, &e) < 0) {
                        hd_strv_push(ret_dropped, hd_error_message(&e)); /* names the device */
                        hd_error_done(&e);
                        continue;
                }
                v[n++] = (struct known_device){
                        .name = hd_strdup(dev->name),
                        .optional = dev->group && dev->group->optional,
                        .healthy = true,
                        .json = dm_device_to_json(dev),
                };
        }
        *ret_n = n;
        return v;
}

/* Log PROBLEMS and DROPPED when they differ from the last ones seen; H keeps the new lists
 * (DROPPED is taken). Call with h->lock held or before the monitor runs. */
static void note_problems_locked(struct kp_health *h, char *const *problems, char **dropped)
{
        if (!hd_strv_equal(h->last_problems, problems)) {
                for (size_t i = 0; problems && problems[i]; i++)
                        hd_log_warn("device not available", "problem", problems[i]);
                hd_strv_free(h->last_problems);
                h->last_problems = hd_strv_copy(problems);
        }
        if (!hd_strv_equal(h->last_dropped, dropped))
                for (size_t i = 0; dropped && dropped[i]; i++)
                        hd_log_error("device left out of the ResourceSlice", "problem", dropped[i]);
        hd_strv_free(h->last_dropped);
        h->last_dropped = dropped;
}

json_t *kp_health_published_devices(struct kp_health *h)
{
        json_t *out = json_array();
        _cleanup_free_ char *key = hd_asprintf("%s/unhealthy", h->driver);
        pthread_mutex_lock(&h->lock);
        for (size_t i = 0; i < h->n_devices; i++) {
                struct known_device *k = &h->devices[i];
                if (k->healthy) { /* shared, never changed: one tree per device, not two */
                        json_array_append(out, k->json);
                        continue;
                }
                json_t *d = json_deep_copy(k->json);
                json_object_set_new(d, "taints",
                                    json_pack("[{s:s,s:s,s:s}]", "key", key, "value",
                                              k->reason ? k->reason : "unhealthy", "effect",
                                              "NoSchedule"));
                json_array_append_new(out, d);
        }
        pthread_mutex_unlock(&h->lock);
        return out;
}

void kp_health_counts(struct kp_health *h, size_t *ret_total, size_t *ret_healthy)
{
        pthread_mutex_lock(&h->lock);
        size_t healthy = 0;
        for (size_t i = 0; i < h->n_devices; i++)
                healthy += h->devices[i].healthy;
        *ret_total = h->n_devices;
        *ret_healthy = healthy;
        pthread_mutex_unlock(&h->lock);
}

void kp_health_snapshot(struct kp_health *h, struct kp_health_device **ret, size_t *ret_n)
{
        pthread_mutex_lock(&h->lock);
        struct kp_health_device *v = hd_new0(struct kp_health_device, h->n_devices + 1);
        for (size_t i = 0; i < h->n_devices; i++)
                v[i] = (struct kp_health_device){hd_strdup(h->devices[i].name),
                                                 h->devices[i].healthy,
                                                 hd_strdup(h->devices[i].reason)};
        *ret_n = h->n_devices;
        pthread_mutex_unlock(&h->lock);
        *ret = v;
}

void kp_health_devices_free(struct kp_health_device *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++) {
                free(v[i].name);
                free(v[i].reason);
        }
        free(v);
}

/* --- health stream -------------------------------------------------------------------------- */

/* Send the full list to CALL. Call with h->lock held. */
static void stream_send_locked(struct kp_health *h, struct rpc_call *call)
{
        size_t n = h->n_devices;
        V1alpha1__DeviceIdentifier *ids = hd_new0(V1alpha1__DeviceIdentifier, n ? n : 1);
        V1alpha1__DeviceHealth *devs = hd_new0(V1alpha1__DeviceHealth, n ? n : 1);
        V1alpha1__DeviceHealth **ptrs = hd_new0(V1alpha1__DeviceHealth *, n ? n : 1);
        for (size_t i = 0; i < n; i++) {
                v1alpha1__device_identifier__init(&ids[i]);
                ids[i].pool_name = h->node;
                ids[i].device_name = h->devices[i].name;
                v1alpha1__device_health__init(&devs[i]);
                devs[i].device = &ids[i];
                devs[i].health = h->devices[i].healthy ? V1ALPHA1__HEALTH_STATUS__HEALTHY
                                                       : V1ALPHA1__HEALTH_STATUS__UNHEALTHY;
                devs[i].last_updated_time = h->checked_at;
                /* We refresh every rescan; give the kubelet slack before it says Unknown. */
                devs[i].health_check_timeout_seconds = 6 * (h->rescan_ms / 1000 + 1);
                devs[i].message = h->devices[i].healthy ? (char *)"" : h->devices[i].reason;
                ptrs[i] = &devs[i];
        }
        V1alpha1__NodeWatchResourcesResponse resp = V1ALPHA1__NODE_WATCH_RESOURCES_RESPONSE__INIT;
        resp.n_devices = n;
        resp.devices = ptrs;
        rpc_stream_send(call, &resp.base);
        free(ptrs);
        free(devs);
        free(ids);
}

static void broadcast_locked(struct kp_health *h)
{
        for (size_t i = 0; i < h->n_streams; i++)
                stream_send_locked(h, h->streams[i]);
}

static void watch_open(struct rpc_call *call, const ProtobufCMessage *req, void *userdata)
{
        struct kp_health *h = userdata;
        pthread_mutex_lock(&h->lock);
        if (h->n_streams >= MAX_STREAMS) {
                pthread_mutex_unlock(&h->lock);
                rpc_stream_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                  "too many NodeWatchResources streams");
                return;
        }
        h->streams[h->n_streams++] = rpc_call_ref(call);
        stream_send_locked(h, call);
        pthread_mutex_unlock(&h->lock);
        hd_log_v(1, "kubelet opened the device health stream");
}

static void watch_closed(struct rpc_call *call, void *userdata)
{
        struct kp_health *h = userdata;
        pthread_mutex_lock(&h->lock);
        for (size_t i = 0; i < h->n_streams; i++)
                if (h->streams[i] == call) {
                        h->streams[i] = h->streams[--h->n_streams];
                        rpc_call_unref(call);
                        break;
                }
        pthread_mutex_unlock(&h->lock);
        hd_log_v(1, "device health stream closed");
}

size_t kp_health_methods(struct kp_health *h, struct rpc_method *methods)
{
        methods[0] = (struct rpc_method){"/v1alpha1.DRAResourceHealth/NodeWatchResources",
                                         RPC_SERVER_STREAMING,
                                         &v1alpha1__node_watch_resources_request__descriptor,
                                         watch_open,
                                         watch_closed,
                                         h};
        return 1;
}

/* --- rescans -------------------------------------------------------------------------------- */

static bool same_devices(struct known_device *a, size_t na, struct known_device *b, size_t nb)
{
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (!hd_streq(a[i].name, b[i].name) || a[i].healthy != b[i].healthy ||
                    !json_equal(a[i].json, b[i].json))
                        return false;
        return true;
}

static void rescan(struct kp_health *h, bool force_publish)
{
        struct dm_inventory *inv = NULL;
        struct hd_error e = HD_ERROR_INIT;
        if (dm_discover(h->config, &inv, &e) < 0) {
                hd_log_error("device discovery failed; keeping the previous view", "err",
                             hd_error_message(&e));
                hd_error_done(&e);
                return;
        }
        size_t n_new = 0;
        char **dropped = NULL;
        struct known_device *fresh = known_from_inventory(inv, &n_new, &dropped);

        pthread_mutex_lock(&h->lock);
        note_problems_locked(h, inv->problems, dropped);
        /* Indexes of what was found now and what was known; FOUND covers only the devices
         * discovered now, not the missing ones appended below. */
        fresh = hd_realloc_array(fresh, n_new + h->n_devices + 1, sizeof(*fresh)); /* no moves */
        struct known_index found = known_index_new(fresh, n_new);
        struct known_index known = known_index_new(h->devices, h->n_devices);
        /* Devices we knew that are gone now: tainted unless their group is optional. */
        for (size_t i = 0; i < h->n_devices; i++) {
                struct known_device *old = &h->devices[i];
                if (known_find(&found, old->name) >= 0 || old->optional)
                        continue;
                fresh[n_new++] = (struct known_device){.name = hd_strdup(old->name),
                                                       .healthy = false,
                                                       .reason = hd_strdup("missing"),
                                                       .json = json_incref(old->json)};
                if (old->healthy)
                        hd_log_error("device node is gone; tainting the device", "device",
                                     old->name);
        }
        for (size_t i = 0; i < n_new; i++) {
                ssize_t at = known_find(&known, fresh[i].name);
                struct known_device *old = at >= 0 ? &h->devices[at] : NULL;
                if (old && old->json != fresh[i].json && json_equal(old->json, fresh[i].json)) {
                        /* Keep the tree the published list shares, not an equal new one. */
                        json_decref(fresh[i].json);
                        fresh[i].json = json_incref(old->json);
                }
                if (fresh[i].healthy && old && !old->healthy)
                        hd_log_info("device is back", "device", fresh[i].name);
                else if (!old)
                        hd_log_v(h->checked_at ? 0 : 2, "device found", "device", fresh[i].name);
        }
        for (size_t i = 0; i < h->n_devices; i++)
                if (h->devices[i].optional && known_find(&found, h->devices[i].name) < 0)
                        hd_log_info("optional device removed", "device", h->devices[i].name);
        known_index_done(&found);
        known_index_done(&known);

        bool changed = !same_devices(h->devices, h->n_devices, fresh, n_new);
        known_free_all(h->devices, h->n_devices);
        h->devices = fresh;
        h->n_devices = n_new;
        h->checked_at = time(NULL);
        size_t healthy = 0;
        for (size_t i = 0; i < n_new; i++)
                healthy += fresh[i].healthy;
        /* Streams hear every rescan (fresh timestamps keep the kubelet from calling devices
         * Unknown); slices only change when the content does. */
        broadcast_locked(h);
        pthread_mutex_unlock(&h->lock);

        kp_metrics_set_devices(h->metrics, (unsigned)healthy, (unsigned)(n_new - healthy));
        /* Only a changed view is worth the driver's inventory write lock; prepare checks every
         * device node again anyway. */
        if (changed && h->kdriver)
                kp_driver_set_inventory(h->kdriver, inv);
        else
                dm_inventory_free(inv);
        if ((changed || force_publish) && h->publisher)
                kp_publisher_set_devices(h->publisher, kp_health_published_devices(h));
        if (changed && h->changed_cb)
                h->changed_cb(h->changed_userdata);
}

/* Directory to watch for a match pattern: the part before the first wildcard, or the parent of
 * an explicit path; the nearest existing ancestor when that is missing. The result is where
 * that host directory is seen under host root ROOT (NULL = "/"). */
static char *watch_dir_for(const char *root, const char *pattern)
{
        size_t plain = strcspn(pattern, "*?[");
        _cleanup_free_ char *dir = hd_strndup(pattern, plain);
        char *slash = strrchr(dir, '/');
        if (slash)
                *slash = '\0';
        for (;;) {
                struct stat st;
                _cleanup_free_ char *seen = NULL;
                if (!*dir)
                        return dm_host_path_resolve(root, "/", &seen, NULL) < 0 ? hd_strdup("/")
                                                                                : TAKE_PTR(seen);
                if (dm_host_path_resolve(root, dir, &seen, NULL) >= 0 && stat(seen, &st) == 0 &&
                    S_ISDIR(st.st_mode))
                        return TAKE_PTR(seen);
                slash = strrchr(dir, '/');
                if (!slash)
                        return hd_strdup("/");
                *slash = '\0';
        }
}

static void add_watches(struct kp_health *h)
{
        const uint32_t mask = IN_CREATE | IN_DELETE | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO |
                              IN_DELETE_SELF | IN_MOVE_SELF;
        for (size_t g = 0; g < h->config->n_groups; g++) {
                const struct dm_group *grp = &h->config->groups[g];
                char **lists[2] = {grp->paths, grp->globs};
                for (int l = 0; l < 2; l++)
                        for (size_t i = 0; lists[l] && lists[l][i]; i++) {
                                _cleanup_free_ char *dir =
                                        watch_dir_for(h->config->host_root, lists[l][i]);
                                if (inotify_add_watch(h->inotify_fd, dir, mask) < 0)
                                        hd_log_v(2, "cannot watch directory", "dir", dir, "err",
                                                 strerror(errno));
                        }
        }
}

static void *health_main(void *arg)
{
        struct kp_health *h = arg;
        char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)];
        pthread_setname_np(pthread_self(), "device-health");
        for (;;) {
                add_watches(h);
                struct pollfd fds[2] = {{h->inotify_fd, POLLIN, 0}, {h->wake_fd[0], POLLIN, 0}};
                int n = poll(fds, 2, h->rescan_ms);
                if (n < 0 && errno != EINTR)
                        break;
                if (fds[1].revents)
                        break; /* stop */
                if (n > 0 && fds[0].revents) {
                        /* Let a burst of events (udev creating several nodes) settle. */
                        struct pollfd settle = {h->wake_fd[0], POLLIN, 0};
                        if (poll(&settle, 1, h->settle_ms) > 0)
                                break;
                        while (read(h->inotify_fd, buf, sizeof(buf)) > 0)
                                ;
                }
                rescan(h, false);
        }
        return NULL;
}

struct kp_health *kp_health_new(const struct kp_health_options *o,
                                const struct dm_inventory *initial)
{
        struct kp_health *h = hd_malloc0(sizeof(*h));
        h->driver = hd_strdup(o->driver);
        h->node = hd_strdup(o->node);
        h->config = o->config;
        h->kdriver = o->kdriver;
        h->publisher = o->publisher;
        h->metrics = o->metrics;
        h->changed_cb = o->changed_cb;
        h->changed_userdata = o->changed_userdata;
        h->rescan_ms = o->rescan_ms > 0 ? o->rescan_ms : 5000;
        h->settle_ms = o->settle_ms > 0 ? o->settle_ms : 50;
        h->inotify_fd = -1;
        h->wake_fd[0] = h->wake_fd[1] = -1;
        pthread_mutex_init(&h->lock, NULL);
        char **dropped = NULL;
        h->devices = known_from_inventory(initial, &h->n_devices, &dropped);
        note_problems_locked(h, initial->problems, dropped);
        h->checked_at = time(NULL);
        size_t healthy = h->n_devices;
        kp_metrics_set_devices(h->metrics, (unsigned)healthy, 0);
        return h;
}

int kp_health_start(struct kp_health *h, struct hd_error *reterr)
{
        h->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (h->inotify_fd < 0)
                return hd_error_set(reterr, errno, "inotify_init1");
        if (pipe2(h->wake_fd, O_CLOEXEC | O_NONBLOCK) < 0)
                return hd_error_set(reterr, errno, "pipe2");
        if (pthread_create(&h->thread, NULL, health_main, h) != 0)
                return hd_error_setf(reterr, EAGAIN, "cannot start the health thread");
        h->started = true;
        return 0;
}

struct kp_health *kp_health_free(struct kp_health *h)
{
        if (!h)
                return NULL;
        if (h->started) {
                ssize_t w = write(h->wake_fd[1], "x", 1);
                (void)w;
                pthread_join(h->thread, NULL);
        }
        if (h->inotify_fd >= 0)
                close(h->inotify_fd);
        for (int i = 0; i < 2; i++)
                if (h->wake_fd[i] >= 0)
                        close(h->wake_fd[i]);
        for (size_t i = 0; i < h->n_streams; i++)
                rpc_call_unref(h->streams[i]);
        known_free_all(h->devices, h->n_devices);
        hd_strv_free(h->last_problems);
        hd_strv_free(h->last_dropped);
        pthread_mutex_destroy(&h->lock);
        free(h->driver);
        free(h->node);
        free(h);
        return NULL;
}
