/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/plugin.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/strutil.h"
#include "kube/kube.h"
#include "devmodel/config.h"
#include "devmodel/discovery.h"
#include "kubeletplugin/dp_plugin.h"
#include "kubeletplugin/dra_service.h"
#include "kubeletplugin/driver.h"
#include "kubeletplugin/health.h"
#include "kubeletplugin/http.h"
#include "kubeletplugin/metrics.h"
#include "kubeletplugin/mode.h"
#include "devmodel/names.h"
#include "kubeletplugin/slice_publisher.h"
#include "kubeletplugin/sweep.h"
#include "kubeletplugin/withhold.h"
#include "kubeletplugin/dp_checkpoint.h"
#include "rpc/cleanup.h"
#include "rpc/client.h"
#include "rpc/server.h"
#include "rpc/socket.h"

#include "pluginregistration.pb-c.h"

int kp_plugin_check_options(const struct kp_plugin_options *o, struct hd_error *reterr)
{
        if (!o->config_path)
                return hd_error_setf(reterr, EINVAL, "--config is required");
        if (!dm_is_dns_subdomain(o->driver) || strlen(o->driver) > 63)
                return hd_error_setf(reterr, EINVAL,
                                     "--driver-name '%s': must be a DNS subdomain of at most 63 "
                                     "characters",
                                     o->driver ? o->driver : "");
        if (!dm_is_dns_subdomain(o->node))
                return hd_error_setf(reterr, EINVAL,
                                     "--node-name '%s' (or NODE_NAME): must be a DNS subdomain "
                                     "(the node's name)",
                                     o->node ? o->node : "");
        if (o->pod_uid && *o->pod_uid &&
            (!hd_filename_is_safe(o->pod_uid) ||
             strspn(o->pod_uid, "abcdefABCDEF0123456789-") != strlen(o->pod_uid)))
                return hd_error_setf(reterr, EINVAL,
                                     "--pod-uid '%s' (or POD_UID): expected a pod UID", o->pod_uid);
        const char *dirs[][2] = {{"--kubelet-registry-dir", o->registry_dir},
                                 {"--kubelet-plugins-dir", o->plugins_dir},
                                 {"--cdi-root", o->cdi_root},
                                 {"--host-root", o->host_root ? o->host_root : "/"}};
        for (size_t i = 0; i < HD_ARRAY_SIZE(dirs); i++)
                if (!dirs[i][1] || dirs[i][1][0] != '/')
                        return hd_error_setf(reterr, EINVAL, "%s '%s': must be an absolute path",
                                             dirs[i][0], dirs[i][1] ? dirs[i][1] : "");
        enum kp_mode mode;
        if (kp_mode_parse(o->mode, &mode) < 0)
                return hd_error_setf(reterr, EINVAL,
                                     "--mode '%s': expected auto, dra or device-plugin",
                                     o->mode ? o->mode : "");
        if (o->device_plugin_edits && !hd_streq(o->device_plugin_edits, "cdi") &&
            !hd_streq(o->device_plugin_edits, "legacy"))
                return hd_error_setf(reterr, EINVAL,
                                     "--device-plugin-edits '%s': expected cdi or legacy",
                                     o->device_plugin_edits);
        if (mode != KP_MODE_DRA && (!o->device_plugins_dir || o->device_plugins_dir[0] != '/'))
                return hd_error_setf(reterr, EINVAL,
                                     "--device-plugins-dir '%s': must be an absolute path",
                                     o->device_plugins_dir ? o->device_plugins_dir : "");
        return 0;
}

/* --- claim source: GET from the API server ---------------------------------------------------- */

struct claim_source {
        struct kube_client *client;
        const char *version;
};

static int fetch_claim(void *userdata, const char *ns, const char *name, json_t **ret,
                       struct hd_error *reterr)
{
        struct claim_source *src = userdata;
        struct kube_resource res = {"resource.k8s.io", src->version, "resourceclaims"};
        _cleanup_free_ char *path = NULL;
        int r = kube_path(&res, ns, name, NULL, &path, reterr);
        if (r < 0)
                return r;
        return kube_get(src->client, path, ret, reterr);
}

/* --- /healthz: both sockets answer ------------------------------------------------------------ */

struct health_probe {
        const char *dra_socket;
        const char *reg_target;
};

static int healthz(void *userdata, struct hd_error *reterr)
{
        struct health_probe *hp = userdata;
        if (!rpc_socket_is_live(hp->dra_socket))
                return hd_error_setf(reterr, ECONNREFUSED, "DRA socket '%s' does not answer",
                                     hp->dra_socket);
        Pluginregistration__InfoRequest in = PLUGINREGISTRATION__INFO_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *reply = NULL;
        return rpc_client_unary(hp->reg_target, "/pluginregistration.Registration/GetInfo",
                                &in.base, &pluginregistration__plugin_info__descriptor, 2000,
                                &reply, reterr);
}

/* --- run ----------------------------------------------------------------------------------------
 */

struct plugin {
        enum kp_mode mode; /* DRA or device-plugin, chosen at start */
        struct dm_config *config;
        struct kube_config *kcfg;
        struct kube_client *client;
        char *api_version;
        struct kp_metrics *metrics;
        struct kp_driver *driver;
        struct kp_sweep *sweep;
        struct kp_publisher *publisher;
        struct kp_withhold *withhold;
        struct kp_health *health;
        struct rpc_server *dra_server, *reg_server;
        struct kp_http *http;
        char *dra_socket, *reg_socket, *reg_target, *state_dir, *checkpoint;
        char **versions;
        struct kp_dra_service dra;
        struct kp_registration reg;
        struct claim_source source;
        struct health_probe probe;
};

static void plugin_done(struct plugin *p)
{
        /* Registration first: the kubelet sees the socket go and stops sending calls. Then the
         * DRA server (its shutdown closes health streams through health callbacks, so the
         * health monitor must still exist), then the rest. Slices stay published. */
        p->reg_server = rpc_server_free(p->reg_server);
        p->dra_server = rpc_server_free(p->dra_server);
        p->sweep = kp_sweep_free(p->sweep);
        p->http = kp_http_stop(p->http);
        p->health = kp_health_free(p->health);
        p->withhold = kp_withhold_free(p->withhold);
        p->publisher = kp_publisher_free(p->publisher);
        p->driver = kp_driver_free(p->driver);
        p->metrics = kp_metrics_free(p->metrics);
        p->client = kube_client_free(p->client);
        p->kcfg = kube_config_free(p->kcfg);
        p->config = dm_config_free(p->config);
        free(p->api_version);
        free(p->dra_socket);
        free(p->reg_socket);
        free(p->reg_target);
        free(p->state_dir);
        free(p->checkpoint);
        hd_strv_free(p->versions);
}

/* Said at every start: a kubeconfig that turns TLS verification off (or uses plain HTTP) must
 * not go unnoticed in the logs. */
static void log_kube_config_warnings(const struct kube_config *cfg)
{
        _cleanup_strv_ char **warnings = kube_config_warnings(cfg);
        for (char **w = warnings; w && *w; w++)
                hd_log_warn("insecure API server connection", "warning", *w);
}

/* Start-up step 1: the API server client and the resource.k8s.io version it serves. */
static int start_api(struct plugin *p, const struct kp_plugin_options *o, struct hd_error *reterr)
{
        _cleanup_free_ char *ua = hd_asprintf("hostdev-kubelet-plugin/%s", HOSTDEV_VERSION);
        int r = kube_config_load(o->kubeconfig, &p->kcfg, reterr);
        if (r < 0)
                return r;
        log_kube_config_warnings(p->kcfg);
        /* Every prepare GETs its claim: a tight client-side limit would serialize pods
         * starting together. Same defaults as the kubelet's own client. */
        struct kube_client_options copts = {.user_agent = ua,
                                            .qps = o->kube_qps > 0 ? o->kube_qps : 50,
                                            .burst = o->kube_burst > 0 ? o->kube_burst : 100};
        r = kube_client_new(p->kcfg, &copts, &p->client, reterr);
        if (r < 0)
                return r;
        static const char *const preferred[] = {"v1", "v1beta2", "v1beta1", NULL};
        r = kube_discover_group_version(p->client, "resource.k8s.io", preferred, &p->api_version,
                                        reterr);
        if (r < 0) {
                if (hd_streq(o->mode, "dra") || r == -ENOENT)
                        hd_error_wrap(reterr, "the API server does not serve DRA "
                                              "(resource.k8s.io); use --mode device-plugin");
                return r;
        }
        hd_log_info("using resource.k8s.io", "version", p->api_version);
        return 0;
}

/* Devices that pods still hold through the device-plugin API stay out of the slices; the
 * withheld set is in place before the publisher starts. */
static int start_withhold(struct plugin *p, const struct kp_plugin_options *o,
                          struct hd_error *reterr)
{
        if (!o->device_plugins_dir || !*o->device_plugins_dir)
                return 0;
        _cleanup_free_ char *path =
                hd_asprintf("%s/%s", o->device_plugins_dir, KP_DP_CHECKPOINT_FILE);
        struct kp_withhold_options wo = {.driver = o->driver,
                                         .node = o->node,
                                         .checkpoint_path = path,
                                         .config = p->config,
                                         .client = p->client,
                                         .publisher = p->publisher};
        p->withhold = kp_withhold_new(&wo);
        return kp_withhold_start(p->withhold, reterr);
}

/* Start-up step 2: state directories, the driver (checkpoint repaired) and the device side:
 * the health monitor swaps each rediscovered inventory into the driver before the publisher
 * sees it, so what is published can be prepared. Takes INV. */
static int start_driver(struct plugin *p, const struct kp_plugin_options *o,
                        struct dm_inventory *inv, struct hd_error *reterr)
{
        p->state_dir = hd_asprintf("%s/%s", o->plugins_dir, o->driver);
        int r = hd_mkdir_p(p->state_dir, 0750, reterr);
        if (r >= 0)
                r = hd_mkdir_p(o->cdi_root, 0755, reterr);
        if (r < 0) {
                dm_inventory_free(inv);
                return r;
        }
        p->checkpoint = hd_asprintf("%s/checkpoint.json", p->state_dir);
        p->metrics = kp_metrics_new(o->driver);
        kp_metrics_set_mode(p->metrics, kp_mode_name(p->mode));
        p->source = (struct claim_source){p->client, p->api_version};
        struct kp_driver_options dopts = {.driver = o->driver,
                                          .node = o->node,
                                          .cdi_root = o->cdi_root,
                                          .checkpoint_path = p->checkpoint,
                                          .fetch = fetch_claim,
                                          .fetch_userdata = &p->source,
                                          .metrics = p->metrics};
        p->driver = kp_driver_new(&dopts, p->config, inv); /* takes inv */
        struct kp_publisher_options popts = {.driver = o->driver,
                                             .node = o->node,
                                             .api_version = p->api_version,
                                             .client = p->client,
                                             .metrics = p->metrics};
        p->publisher = kp_publisher_new(&popts);
        struct kp_health_options hopts = {.driver = o->driver,
                                          .node = o->node,
                                          .config = p->config,
                                          .kdriver = p->driver,
                                          .publisher = p->publisher,
                                          .metrics = p->metrics,
                                          .rescan_ms = o->rescan_ms};
        /* INV is the driver's now; the monitor reads it here, before any rescan replaces it. */
        p->health = kp_health_new(&hopts, inv);
        r = kp_driver_start(p->driver, reterr);
        if (r < 0)
                return r;
        kp_metrics_set_prepared_claims(p->metrics, (unsigned)kp_driver_prepared_claims(p->driver));
        kp_publisher_set_devices(p->publisher, kp_health_published_devices(p->health));
        return start_withhold(p, o, reterr);
}

/* Serve METHODS on SOCKET as *RET with WORKERS handler threads. */
static int serve(const char *socket, const struct rpc_method *methods, size_t n, unsigned workers,
                 struct rpc_server **ret, struct hd_error *reterr)
{
        struct rpc_server_options opts = {.workers = workers};
        int r = rpc_server_new(socket, methods, n, &opts, ret, reterr);
        if (r < 0)
                return r;
        return rpc_server_start(*ret, reterr);
}

/* Start-up step 3: the DRA socket first, then registration (the kubelet may call at once),
 * then the publisher, the health monitor and the metrics endpoint. */
static int start_servers(struct plugin *p, const struct kp_plugin_options *o,
                         struct hd_error *reterr)
{
        const char *suffix = o->pod_uid && *o->pod_uid ? o->pod_uid : NULL;
        p->dra_socket = suffix ? hd_asprintf("%s/dra-%s.sock", p->state_dir, suffix)
                               : hd_asprintf("%s/dra.sock", p->state_dir);
        p->reg_socket =
                suffix ? hd_asprintf("%s/%s-%s-reg.sock", o->registry_dir, o->driver, suffix)
                       : hd_asprintf("%s/%s-reg.sock", o->registry_dir, o->driver);
        p->reg_target = hd_asprintf("unix:%s", p->reg_socket);
        p->dra = (struct kp_dra_service){.driver = p->driver, .metrics = p->metrics};
        struct rpc_method dra_methods[5];
        size_t n = kp_dra_service_methods(&p->dra, dra_methods);
        n += kp_health_methods(p->health, dra_methods + n);
        int r = serve(p->dra_socket, dra_methods, n, KP_DRA_WORKERS, &p->dra_server, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "serve DRA socket");

        hd_strv_push(&p->versions, KP_SERVICE_DRA_V1);
        hd_strv_push(&p->versions, KP_SERVICE_DRA_V1BETA1);
        hd_strv_push(&p->versions, KP_SERVICE_HEALTH);
        p->reg = (struct kp_registration){.driver = o->driver,
                                          .endpoint = p->dra_socket,
                                          .supported_versions = p->versions,
                                          .metrics = p->metrics};
        struct rpc_method reg_methods[2];
        size_t nr = kp_registration_methods(&p->reg, reg_methods);
        /* The kubelet calls GetInfo and NotifyRegistrationStatus once per registration (and
         * /healthz GetInfo): one thread answers them all. */
        r = serve(p->reg_socket, reg_methods, nr, 1, &p->reg_server, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "serve registration socket");

        /* Only now, with the kubelet served, ask the API server about checkpointed claims. */
        p->sweep = kp_sweep_start(p->driver, fetch_claim, &p->source, KP_SWEEP_WORKERS, p->metrics);

        r = kp_publisher_start(p->publisher, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "start ResourceSlice publisher");
        r = kp_health_start(p->health, reterr);
        if (r < 0 || !o->metrics_addr || !*o->metrics_addr)
                return r;
        p->probe = (struct health_probe){p->dra_socket, p->reg_target};
        unsigned port = 0;
        r = kp_http_start(o->metrics_addr, p->metrics, healthz, &p->probe, &p->http, &port, reterr);
        if (r >= 0)
                hd_log_info("serving metrics", "addr", o->metrics_addr, "port", HD_INT(port));
        return r;
}

static int plugin_start(struct plugin *p, const struct kp_plugin_options *o,
                        struct hd_error *reterr)
{
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
        r = start_api(p, o, reterr);
        if (r < 0) {
                dm_inventory_free(inv);
                return r;
        }
        r = start_driver(p, o, inv, reterr);
        if (r >= 0)
                r = start_servers(p, o, reterr);
        if (r >= 0)
                hd_log_info("plugin started", "driver", o->driver, "node", o->node, "dra",
                            p->dra_socket, "registration", p->reg_socket);
        return r;
}

/* glibc gives each thread that allocates its own arena (up to 8 per core), and freed memory
 * stays in the arena it came from: the informer's list and watch decoding, the publisher's
 * slice building and the DRA workers would each keep their own high-water mark. Two arenas
 * are enough for a daemon whose threads mostly wait. MALLOC_ARENA_MAX, when set, wins. */
static void tune_malloc(void)
{
        if (!getenv("MALLOC_ARENA_MAX"))
                mallopt(M_ARENA_MAX, KP_MALLOC_ARENAS);
}

int kp_plugin_run(const struct kp_plugin_options *o, struct hd_error *reterr)
{
        int r = kp_plugin_check_options(o, reterr);
        if (r < 0)
                return r;
        tune_malloc();
        /* A bad config is the admin's first problem: say so before asking the API server. */
        struct dm_config *cfg = NULL;
        r = dm_config_load(o->config_path, &cfg, reterr);
        if (r < 0)
                return r;
        dm_config_free(cfg);
        enum kp_mode mode = KP_MODE_AUTO;
        r = kp_mode_decide(o, &mode, reterr);
        if (r < 0)
                return r;
        if (mode == KP_MODE_DEVICE_PLUGIN)
                return kp_dp_plugin_run(o, reterr);
        struct plugin p = {.mode = mode};
        r = plugin_start(&p, o, reterr);
        if (r >= 0) {
                sigset_t sigs;
                sigemptyset(&sigs);
                sigaddset(&sigs, SIGTERM);
                sigaddset(&sigs, SIGINT);
                int sig = 0;
                sigwait(&sigs, &sig);
                hd_log_info("stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        }
        plugin_done(&p);
        return r < 0 ? r : 0;
}
