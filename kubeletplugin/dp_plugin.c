/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/dp_plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/strutil.h"
#include "devmodel/config.h"
#include "devmodel/discovery.h"
#include "kube/kube.h"
#include "kubeletplugin/dp_service.h"
#include "kubeletplugin/dra_service.h"
#include "kubeletplugin/driver.h"
#include "kubeletplugin/health.h"
#include "kubeletplugin/http.h"
#include "kubeletplugin/metrics.h"
#include "kubeletplugin/plugin.h"
#include "kubeletplugin/sweep.h"
#include "rpc/server.h"

/* How often the drain of old DRA claims looks at the checkpoint and retries deleting slices. */
#define DRAIN_POLL_MS 100
#define SLICE_RETRY_MS 5000

struct dp_plugin {
        const struct kp_plugin_options *o;
        struct dm_config *config;
        struct kube_config *kcfg;
        struct kube_client *client;
        char *api_version; /* resource.k8s.io version served; NULL = none */
        struct kp_metrics *metrics;
        struct kp_driver *driver;
        struct kp_health *health;
        struct kp_dp *dp;
        struct kp_http *http;
        char *state_dir, *checkpoint;
        /* draining DRA claims prepared before the switch */
        struct kp_sweep *sweep;
        struct rpc_server *dra_server, *reg_server;
        char *dra_socket, *reg_socket;
        char **versions;
        struct kp_dra_service dra;
        struct kp_registration reg;
        pthread_t drain_thread;
        bool drain_started;
        bool slices_deleted;
        int stop_fd[2];
};

static int fetch_claim(void *userdata, const char *ns, const char *name, json_t **ret,
                       struct hd_error *reterr)
{
        struct dp_plugin *p = userdata;
        struct kube_resource res = {"resource.k8s.io", p->api_version, "resourceclaims"};
        _cleanup_free_ char *path = NULL;
        int r = kube_path(&res, ns, name, NULL, &path, reterr);
        if (r < 0)
                return r;
        return kube_get(p->client, path, ret, reterr);
}

/* The API server: a client, and which resource.k8s.io it serves (none is fine here). */
static int start_api(struct dp_plugin *p, struct hd_error *reterr)
{
        _cleanup_free_ char *ua = hd_asprintf("hostdev-kubelet-plugin/%s", HOSTDEV_VERSION);
        int r = kube_config_load(p->o->kubeconfig, &p->kcfg, reterr);
        if (r < 0)
                return r;
        struct kube_client_options copts = {.user_agent = ua, .qps = 50, .burst = 100};
        r = kube_client_new(p->kcfg, &copts, &p->client, reterr);
        if (r < 0)
                return r;
        static const char *const preferred[] = {"v1", "v1beta2", "v1beta1", NULL};
        struct hd_error e = HD_ERROR_INIT;
        r = kube_discover_group_version(p->client, "resource.k8s.io", preferred, &p->api_version,
                                        &e);
        if (r < 0)
                hd_log_info("resource.k8s.io not available: no ResourceSlices to clean up", "err",
                            hd_error_message(&e));
        hd_error_done(&e);
        return 0;
}

/* Delete this node's ResourceSlices of our driver (left by DRA mode). Returns 0 or -errno. */
static int delete_stale_slices(struct dp_plugin *p, struct hd_error *reterr)
{
        if (!p->api_version)
                return 0;
        struct kube_resource res = {"resource.k8s.io", p->api_version, "resourceslices"};
        _cleanup_free_ char *sel =
                hd_asprintf("spec.driver=%s,spec.nodeName=%s", p->o->driver, p->o->node);
        struct kube_list_options lo = {.field_selector = sel};
        _cleanup_json_ json_t *items = NULL;
        int r = kube_list(p->client, &res, NULL, &lo, NULL, &items, NULL, reterr);
        if (r < 0)
                return r;
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
                const char *name =
                        json_string_value(json_object_get(json_object_get(it, "metadata"), "name"));
                _cleanup_free_ char *path = NULL;
                if (!name || !*name || kube_path(&res, NULL, name, NULL, &path, reterr) < 0)
                        continue;
                r = kube_delete(p->client, path, NULL, NULL, reterr);
                if (r < 0 && r != -ENOENT)
                        return r;
                hd_log_info("deleted a ResourceSlice left by DRA mode", "slice", name);
        }
        return 0;
}

/* Serve the DRA socket (unprepare only) and its registration, for claims prepared before. */
static int start_dra_drain(struct dp_plugin *p, struct hd_error *reterr)
{
        const struct kp_plugin_options *o = p->o;
        const char *suffix = o->pod_uid && *o->pod_uid ? o->pod_uid : NULL;
        p->dra_socket = suffix ? hd_asprintf("%s/dra-%s.sock", p->state_dir, suffix)
                               : hd_asprintf("%s/dra.sock", p->state_dir);
        p->reg_socket =
                suffix ? hd_asprintf("%s/%s-%s-reg.sock", o->registry_dir, o->driver, suffix)
                       : hd_asprintf("%s/%s-reg.sock", o->registry_dir, o->driver);
        p->dra = (struct kp_dra_service){
                .driver = p->driver, .metrics = p->metrics, .unprepare_only = true};
        struct rpc_method m[4];
        size_t n = kp_dra_service_methods(&p->dra, m);
        int r = rpc_server_new(p->dra_socket, m, n, NULL, &p->dra_server, reterr);
        if (r >= 0)
                r = rpc_server_start(p->dra_server, reterr);
        if (r < 0)
                return hd_error_wrap_r(reterr, r, "serve DRA socket");
        hd_strv_push(&p->versions, KP_SERVICE_DRA_V1);
        hd_strv_push(&p->versions, KP_SERVICE_DRA_V1BETA1);
        p->reg = (struct kp_registration){.driver = o->driver,
                                          .endpoint = p->dra_socket,
                                          .supported_versions = p->versions,
                                          .metrics = p->metrics};
        struct rpc_method rm[2];
        size_t nr = kp_registration_methods(&p->reg, rm);
        r = rpc_server_new(p->reg_socket, rm, nr, NULL, &p->reg_server, reterr);
        if (r >= 0)
                r = rpc_server_start(p->reg_server, reterr);
        if (r < 0)
                return hd_error_wrap_r(reterr, r, "serve registration socket");
        if (p->api_version)
                p->sweep = kp_sweep_start(p->driver, fetch_claim, p, KP_SWEEP_WORKERS, p->metrics);
        hd_log_info("DRA claims from before the switch are still prepared: serving "
                    "NodeUnprepareResources until they are released",
                    "claims", HD_INT(kp_driver_prepared_claims(p->driver)), "dra", p->dra_socket);
        return 0;
}

/* Sleep MS or until stop. Returns false on stop. */
static bool nap(struct dp_plugin *p, int ms)
{
        struct pollfd pfd = {p->stop_fd[0], POLLIN, 0};
        return poll(&pfd, 1, ms) == 0;
}

/* The drain thread: held devices follow the checkpoint; when nothing is held any more the DRA
 * sockets go. Also deletes our stale slices, retrying until it works. */
static void *drain_main(void *arg)
{
        struct dp_plugin *p = arg;
        bool slices_done = p->slices_deleted, draining = p->dra_server != NULL;
        int64_t slice_wait = SLICE_RETRY_MS;
        _cleanup_strv_ char **last = kp_driver_held_devices(p->driver);
        do {
                if (!slices_done && slice_wait <= 0) {
                        struct hd_error e = HD_ERROR_INIT;
                        slices_done = delete_stale_slices(p, &e) >= 0;
                        if (!slices_done)
                                hd_log_warn("cannot delete stale ResourceSlices; retrying", "err",
                                            hd_error_message(&e));
                        hd_error_done(&e);
                        slice_wait = SLICE_RETRY_MS;
                }
                slice_wait -= DRAIN_POLL_MS;
                if (!draining)
                        continue;
                char **held = kp_driver_held_devices(p->driver);
                if (!hd_strv_equal(held, last)) {
                        hd_strv_free(last);
                        last = hd_strv_copy(held);
                        kp_dp_set_held(p->dp, held);
                } else {
                        hd_strv_free(held);
                }
                if (!last) {
                        hd_log_info("every DRA claim from before the switch is released; "
                                    "closing the DRA socket");
                        p->reg_server = rpc_server_free(p->reg_server);
                        p->dra_server = rpc_server_free(p->dra_server);
                        draining = false;
                }
        } while ((draining || !slices_done) && nap(p, DRAIN_POLL_MS));
        return NULL;
}

static int healthz(void *userdata, struct hd_error *reterr)
{
        struct dp_plugin *p = userdata;
        return kp_dp_check_live(p->dp, reterr);
}

/* State dir, checkpoint, driver (checkpoint repaired), the device-plugin service, the health
 * monitor feeding it. Takes INV. */
static int start_devices(struct dp_plugin *p, struct dm_inventory *inv, struct hd_error *reterr)
{
        const struct kp_plugin_options *o = p->o;
        p->state_dir = hd_asprintf("%s/%s", o->plugins_dir, o->driver);
        p->checkpoint = hd_asprintf("%s/checkpoint.json", p->state_dir);
        int r = hd_mkdir_p(p->state_dir, 0750, reterr);
        if (r >= 0)
                r = hd_mkdir_p(o->cdi_root, 0755, reterr);
        if (r < 0) {
                dm_inventory_free(inv);
                return r;
        }
        struct kp_driver_options dopts = {.driver = o->driver,
                                          .node = o->node,
                                          .cdi_root = o->cdi_root,
                                          .checkpoint_path = p->checkpoint,
                                          .fetch = fetch_claim,
                                          .fetch_userdata = p};
        p->driver = kp_driver_new(&dopts, p->config, inv); /* takes inv */
        struct kp_dp_options dpo = {.driver = o->driver,
                                    .dir = o->device_plugins_dir,
                                    .cdi_root = o->cdi_root,
                                    .sysfs_root = o->sysfs_root,
                                    .legacy = hd_streq(o->device_plugin_edits, "legacy"),
                                    .config = p->config,
                                    .kdriver = p->driver,
                                    .metrics = p->metrics};
        r = kp_dp_new(&dpo, &p->dp, reterr);
        if (r < 0)
                return r;
        struct kp_health_options hopts = {.driver = o->driver,
                                          .node = o->node,
                                          .config = p->config,
                                          .kdriver = p->driver,
                                          .metrics = p->metrics,
                                          .rescan_ms = o->rescan_ms,
                                          .settle_ms = KP_DP_SETTLE_MS,
                                          .changed_cb = kp_dp_changed_cb,
                                          .changed_userdata = p->dp};
        p->health = kp_health_new(&hopts, inv); /* INV is the driver's: read now */
        kp_dp_set_health(p->dp, p->health);
        r = kp_driver_start(p->driver, reterr);
        if (r < 0)
                return r;
        kp_metrics_set_prepared_claims(p->metrics, (unsigned)kp_driver_prepared_claims(p->driver));
        kp_dp_set_held(p->dp, kp_driver_held_devices(p->driver));
        return 0;
}

static bool has_held(struct kp_driver *d)
{
        _cleanup_strv_ char **held = kp_driver_held_devices(d);
        return held != NULL;
}

static int dp_start(struct dp_plugin *p, struct hd_error *reterr)
{
        const struct kp_plugin_options *o = p->o;
        int r = dm_config_load(o->config_path, &p->config, reterr);
        if (r < 0)
                return r;
        r = dm_config_set_host_root(p->config, o->host_root, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "--host-root");
        struct dm_inventory *inv = NULL;
        r = dm_discover(p->config, &inv, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "discover devices");
        hd_log_info("devices discovered", "devices", HD_INT(inv->n_devices), "groups",
                    HD_INT(p->config->n_groups));
        p->metrics = kp_metrics_new(o->driver);
        kp_metrics_set_mode(p->metrics, kp_mode_name(KP_MODE_DEVICE_PLUGIN));
        r = start_api(p, reterr);
        if (r < 0) {
                dm_inventory_free(inv);
                return r;
        }
        r = start_devices(p, inv, reterr);
        if (r >= 0 && has_held(p->driver))
                r = start_dra_drain(p, reterr);
        if (r < 0)
                return r;
        /* Before the kubelet hears of a device: no device may be offered in both worlds. */
        struct hd_error e = HD_ERROR_INIT;
        p->slices_deleted = delete_stale_slices(p, &e) >= 0;
        if (!p->slices_deleted)
                hd_log_warn("cannot delete stale ResourceSlices; retrying in the background "
                            "(prepares stay refused meanwhile)",
                            "err", hd_error_message(&e));
        hd_error_done(&e);
        r = kp_dp_start(p->dp, reterr);
        if (r >= 0)
                r = kp_health_start(p->health, reterr);
        if (r < 0)
                return r;
        if (pipe2(p->stop_fd, O_CLOEXEC) < 0)
                return hd_error_set(reterr, errno, "pipe2");
        if (pthread_create(&p->drain_thread, NULL, drain_main, p) != 0)
                return hd_error_setf(reterr, EAGAIN, "cannot start the drain thread");
        p->drain_started = true;
        if (o->metrics_addr && *o->metrics_addr) {
                unsigned port = 0;
                r = kp_http_start(o->metrics_addr, p->metrics, healthz, p, &p->http, &port, reterr);
                if (r < 0)
                        return r;
                hd_log_info("serving metrics", "addr", o->metrics_addr, "port", HD_INT(port));
        }
        hd_log_info("plugin started", "mode", "device-plugin", "driver", o->driver, "node", o->node,
                    "resources", HD_INT(kp_dp_resources(p->dp)), "dir", o->device_plugins_dir,
                    "edits", o->device_plugin_edits ? o->device_plugin_edits : "cdi");
        return 0;
}

static void dp_done(struct dp_plugin *p)
{
        if (p->drain_started) {
                ssize_t w = write(p->stop_fd[1], "x", 1);
                (void)w;
                pthread_join(p->drain_thread, NULL);
        }
        for (int i = 0; i < 2; i++)
                if (p->stop_fd[i] >= 0)
                        close(p->stop_fd[i]);
        p->http = kp_http_stop(p->http);
        p->reg_server = rpc_server_free(p->reg_server);
        p->dra_server = rpc_server_free(p->dra_server);
        p->sweep = kp_sweep_free(p->sweep);
        /* The monitor calls into the service: stop it first. */
        p->health = kp_health_free(p->health);
        p->dp = kp_dp_free(p->dp);
        p->driver = kp_driver_free(p->driver);
        p->metrics = kp_metrics_free(p->metrics);
        p->client = kube_client_free(p->client);
        p->kcfg = kube_config_free(p->kcfg);
        p->config = dm_config_free(p->config);
        free(p->api_version);
        free(p->state_dir);
        free(p->checkpoint);
        free(p->dra_socket);
        free(p->reg_socket);
        hd_strv_free(p->versions);
}

/* SIGTERM/SIGINT are blocked in every thread (main() did it before any thread started). */
static void wait_for_stop(void)
{
        sigset_t sigs;
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        int sig = 0;
        sigwait(&sigs, &sig);
        hd_log_info("stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

int kp_dp_plugin_run(const struct kp_plugin_options *o, struct hd_error *reterr)
{
        struct dp_plugin p = {.o = o, .stop_fd = {-1, -1}};
        int r = dp_start(&p, reterr);
        if (r >= 0)
                wait_for_stop();
        dp_done(&p);
        return r < 0 ? r : 0;
}
