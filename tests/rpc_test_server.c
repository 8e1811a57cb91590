/* SPDX-License-Identifier: Apache-2.0 */
/* rpc-test-server: a server built on rpc/ that answers the kubelet API paths with canned data,
 * for the Python integration tests (tests/e2e/test_rpc.py).
 *
 *   rpc-test-server --socket /abs/path.sock [--workers N] [--tick-ms MS]
 *
 * Claim or device names steer the handlers: "fail" → a per-claim error (DRA) or
 * FAILED_PRECONDITION (Allocate); "sleep-<ms>" → the handler sleeps first; GetPreferredAllocation
 * with allocation_size < 0 returns without replying (the layer must answer INTERNAL). Streams
 * (ListAndWatch, NodeWatchResources) get a new full snapshot every tick from a separate thread.
 * PreStartContainer is deliberately not served. Prints "READY" on stdout once serving; SIGTERM or
 * SIGINT stops it cleanly (socket removed, exit 0). */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strutil.h"
#include "rpc/server.h"

#include "deviceplugin_v1beta1.pb-c.h"
#include "dra_health_v1alpha1.pb-c.h"
#include "dra_v1.pb-c.h"
#include "dra_v1beta1.pb-c.h"
#include "pluginregistration.pb-c.h"

#define DRIVER "test.example.com"

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static void maybe_sleep(const char *name)
{
        if (hd_startswith(name, "sleep-"))
                sleep_ms(strtol(name + 6, NULL, 10));
}

/* --- registration --------------------------------------------------------------------------- */

static void get_info(struct rpc_call *call, const ProtobufCMessage *req, void *userdata)
{
        const char *endpoint = userdata;
        char *versions[] = { "v1.DRAPlugin", "v1beta1.DRAPlugin", "v1alpha1.DRAResourceHealth" };
        Pluginregistration__PluginInfo info = PLUGINREGISTRATION__PLUGIN_INFO__INIT;
        info.type = "DRAPlugin";
        info.name = DRIVER;
        info.endpoint = (char *)endpoint;
        info.n_supported_versions = HD_ARRAY_SIZE(versions);
        info.supported_versions = versions;
        rpc_call_reply(call, &info.base);
}

static void notify_status(struct rpc_call *call, const ProtobufCMessage *req, void *userdata)
{
        const Pluginregistration__RegistrationStatus *st = (const void *)req;
        if (!st->plugin_registered)
                hd_log_error("kubelet refused registration", "error", st->error);
        Pluginregistration__RegistrationStatusResponse resp =
                PLUGINREGISTRATION__REGISTRATION_STATUS_RESPONSE__INIT;
        rpc_call_reply(call, &resp.base);
}

/* --- DRA (v1 and v1beta1 share one handler: the messages are wire-identical) ----------------- */

static void node_prepare(struct rpc_call *call, const ProtobufCMessage *req, void *userdata)
{
        bool v1 = userdata != NULL;
        const K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesRequest *in = (const void *)req;
        size_t n = in->n_claims;
        K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesResponse out =
                K8S__IO__KUBELET__PKG__APIS__DRA__V1__NODE_PREPARE_RESOURCES_RESPONSE__INIT;
        K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesResponse__ClaimsEntry *entries =
                hd_new0(K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesResponse__ClaimsEntry, n);
        K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesResponse__ClaimsEntry **eptrs =
                hd_new0(K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesResponse__ClaimsEntry *, n);
        K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourceResponse *results =
                hd_new0(K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourceResponse, n);
        K8s__Io__Kubelet__Pkg__Apis__Dra__V1__Device *devs =
                hd_new0(K8s__Io__Kubelet__Pkg__Apis__Dra__V1__Device, n);
        K8s__Io__Kubelet__Pkg__Apis__Dra__V1__Device **dptrs =
                hd_new0(K8s__Io__Kubelet__Pkg__Apis__Dra__V1__Device *, n);
        char **strings = hd_new0(char *, 2 * n + 1);
        char *req_name = "req";

        for (size_t i = 0; i < n; i++) {
                const K8s__Io__Kubelet__Pkg__Apis__Dra__V1__Claim *claim = in->claims[i];
                maybe_sleep(claim->name);
                k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_response__claims_entry__init(&entries[i]);
                k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resource_response__init(&results[i]);
                entries[i].key = claim->uid;
                entries[i].value = &results[i];
                eptrs[i] = &entries[i];
                if (hd_streq(claim->name, "fail")) {
                        results[i].error = "claim failed on purpose";
                        continue;
                }
                k8s__io__kubelet__pkg__apis__dra__v1__device__init(&devs[i]);
                strings[2 * i] = hd_asprintf("dev-%s", claim->name);
                strings[2 * i + 1] = hd_asprintf(DRIVER "/claim=%s-dev", claim->uid);
                devs[i].n_request_names = 1;
                devs[i].request_names = &req_name;
                devs[i].pool_name = "pool";
                devs[i].device_name = strings[2 * i];
                devs[i].n_cdi_device_ids = 1;
                devs[i].cdi_device_ids = &strings[2 * i + 1];
                if (v1 && hd_streq(claim->name, "shared"))
                        devs[i].share_id = "share-1";
                dptrs[i] = &devs[i];
                results[i].n_devices = 1;
                results[i].devices = &dptrs[i];
        }
        out.n_claims = n;
        out.claims = eptrs;
        rpc_call_reply(call, &out.base);
        for (size_t i = 0; i < 2 * n; i++)
                free(strings[i]);
        free(strings);
        free(dptrs);
        free(devs);
        free(results);
        free(eptrs);
        free(entries);
}

static void node_unprepare(struct rpc_call *call, const ProtobufCMessage *req, void *userdata)
{
        const K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourcesRequest *in = (const void *)req;
        size_t n = in->n_claims;
        K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourcesResponse out =
                K8S__IO__KUBELET__PKG__APIS__DRA__V1__NODE_UNPREPARE_RESOURCES_RESPONSE__INIT;
        _cleanup_free_ K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourcesResponse__ClaimsEntry *entries =
                hd_new0(K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourcesResponse__ClaimsEntry, n);
        _cleanup_free_ K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourcesResponse__ClaimsEntry **eptrs =
                hd_new0(K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourcesResponse__ClaimsEntry *, n);
        _cleanup_free_ K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourceResponse *results =
                hd_new0(K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourceResponse, n);
        for (size_t i = 0; i < n; i++) {
                k8s__io__kubelet__pkg__apis__dra__v1__node_unprepare_resources_response__claims_entry__init(&entries[i]);
                k8s__io__kubelet__pkg__apis__dra__v1__node_unprepare_resource_response__init(&results[i]);
                entries[i].key = in->claims[i]->uid;
                entries[i].value = &results[i];
                eptrs[i] = &entries[i];
        }
        out.n_claims = n;
        out.claims = eptrs;
        rpc_call_reply(call, &out.base);
}

/* --- streams ------------------------------------------------------------------------------ */

/* Subscribers of one streaming method; a ticker thread pushes a fresh snapshot to each. */
struct broadcaster {
        pthread_mutex_t lock; /* guards calls, n */
        struct rpc_call *calls[256];
        size_t n;
        bool health; /* NodeWatchResources (else ListAndWatch) */
};

static atomic_long tick_count;

static void snapshot_send(struct broadcaster *b, struct rpc_call *call, long tick)
{
        size_t ndev = 1 + (size_t)(tick % 3);
        char names[3][32];
        if (b->health) {
                V1alpha1__DeviceIdentifier ids[3];
                V1alpha1__DeviceHealth devs[3], *ptrs[3];
                for (size_t i = 0; i < ndev; i++) {
                        snprintf(names[i], sizeof(names[i]), "dev-%zu", i);
                        v1alpha1__device_identifier__init(&ids[i]);
                        ids[i].pool_name = "pool";
                        ids[i].device_name = names[i];
                        v1alpha1__device_health__init(&devs[i]);
                        devs[i].device = &ids[i];
                        devs[i].health = V1ALPHA1__HEALTH_STATUS__HEALTHY;
                        devs[i].last_updated_time = tick;
                        ptrs[i] = &devs[i];
                }
                V1alpha1__NodeWatchResourcesResponse resp = V1ALPHA1__NODE_WATCH_RESOURCES_RESPONSE__INIT;
                resp.n_devices = ndev;
                resp.devices = ptrs;
                rpc_stream_send(call, &resp.base);
        } else {
                V1beta1__Device devs[3], *ptrs[3];
                for (size_t i = 0; i < ndev; i++) {
                        snprintf(names[i], sizeof(names[i]), "dev-%zu", i);
                        v1beta1__device__init(&devs[i]);
                        devs[i].id = names[i];
                        devs[i].health = "Healthy";
                        ptrs[i] = &devs[i];
                }
                V1beta1__ListAndWatchResponse resp = V1BETA1__LIST_AND_WATCH_RESPONSE__INIT;
                resp.n_devices = ndev;
                resp.devices = ptrs;
                rpc_stream_send(call, &resp.base);
        }
}

static void stream_open(struct rpc_call *call, const ProtobufCMessage *req, void *userdata)
{
        struct broadcaster *b = userdata;
        pthread_mutex_lock(&b->lock);
        if (b->n < HD_ARRAY_SIZE(b->calls)) {
                b->calls[b->n++] = rpc_call_ref(call);
                snapshot_send(b, call, atomic_load(&tick_count));
        } else {
                rpc_stream_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many watchers");
        }
        pthread_mutex_unlock(&b->lock);
}

static void stream_closed(struct rpc_call *call, void *userdata)
{
        struct broadcaster *b = userdata;
        pthread_mutex_lock(&b->lock);
        for (size_t i = 0; i < b->n; i++)
                if (b->calls[i] == call) {
                        b->calls[i] = b->calls[--b->n];
                        rpc_call_unref(call);
                        break;
                }
        pthread_mutex_unlock(&b->lock);
}

static struct broadcaster health_bc = { .lock = PTHREAD_MUTEX_INITIALIZER, .health = true };
static struct broadcaster law_bc = { .lock = PTHREAD_MUTEX_INITIALIZER, .health = false };
static atomic_bool ticker_stop;
static long tick_ms = 100;

static void *ticker_main(void *p)
{
        while (!atomic_load(&ticker_stop)) {
                sleep_ms(tick_ms);
                long t = atomic_fetch_add(&tick_count, 1) + 1;
                struct broadcaster *all[] = { &health_bc, &law_bc };
                for (size_t k = 0; k < 2; k++) {
                        pthread_mutex_lock(&all[k]->lock);
                        for (size_t i = 0; i < all[k]->n; i++)
                                snapshot_send(all[k], all[k]->calls[i], t);
                        pthread_mutex_unlock(&all[k]->lock);
                }
        }
        return NULL;
}

/* --- device plugin ------------------------------------------------------------------------ */

static void dp_options(struct rpc_call *call, const ProtobufCMessage *req, void *userdata)
{
        V1beta1__DevicePluginOptions o = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;
        o.get_preferred_allocation_available = true;
        rpc_call_reply(call, &o.base);
}

static void dp_preferred(struct rpc_call *call, const ProtobufCMessage *req, void *userdata)
{
        const V1beta1__PreferredAllocationRequest *in = (const void *)req;
        size_t n = in->n_container_requests;
        for (size_t i = 0; i < n; i++)
                if (in->container_requests[i]->allocation_size < 0)
                        return; /* deliberately no reply */
        _cleanup_free_ V1beta1__ContainerPreferredAllocationResponse *rs =
                hd_new0(V1beta1__ContainerPreferredAllocationResponse, n);
        _cleanup_free_ V1beta1__ContainerPreferredAllocationResponse **rp =
                hd_new0(V1beta1__ContainerPreferredAllocationResponse *, n);
        for (size_t i = 0; i < n; i++) {
                const V1beta1__ContainerPreferredAllocationRequest *cr = in->container_requests[i];
                v1beta1__container_preferred_allocation_response__init(&rs[i]);
                size_t want = (size_t)cr->allocation_size;
                rs[i].n_deviceids = want < cr->n_available_deviceids ? want : cr->n_available_deviceids;
                rs[i].deviceids = cr->available_deviceids;
                rp[i] = &rs[i];
        }
        V1beta1__PreferredAllocationResponse out = V1BETA1__PREFERRED_ALLOCATION_RESPONSE__INIT;
        out.n_container_responses = n;
        out.container_responses = rp;
        rpc_call_reply(call, &out.base);
}

static void dp_allocate(struct rpc_call *call, const ProtobufCMessage *req, void *userdata)
{
        const V1beta1__AllocateRequest *in = (const void *)req;
        size_t n = in->n_container_requests, total = 0;
        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < in->container_requests[i]->n_devices_ids; j++) {
                        const char *id = in->container_requests[i]->devices_ids[j];
                        maybe_sleep(id);
                        if (hd_streq(id, "fail")) {
                                rpc_call_fail(call, GRPC_STATUS_FAILED_PRECONDITION,
                                              "device %s is unhealthy", id);
                                return;
                        }
                        total++;
                }
        _cleanup_free_ V1beta1__ContainerAllocateResponse *rs =
                hd_new0(V1beta1__ContainerAllocateResponse, n);
        _cleanup_free_ V1beta1__ContainerAllocateResponse **rp =
                hd_new0(V1beta1__ContainerAllocateResponse *, n);
        _cleanup_free_ V1beta1__CDIDevice *cdis = hd_new0(V1beta1__CDIDevice, total);
        _cleanup_free_ V1beta1__CDIDevice **cp = hd_new0(V1beta1__CDIDevice *, total);
        char **names = hd_new0(char *, total + 1);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                const V1beta1__ContainerAllocateRequest *cr = in->container_requests[i];
                v1beta1__container_allocate_response__init(&rs[i]);
                rs[i].cdi_devices = &cp[k];
                rs[i].n_cdi_devices = cr->n_devices_ids;
                for (size_t j = 0; j < cr->n_devices_ids; j++, k++) {
                        v1beta1__cdidevice__init(&cdis[k]);
                        names[k] = hd_asprintf(DRIVER "/dev=%s", cr->devices_ids[j]);
                        cdis[k].name = names[k];
                        cp[k] = &cdis[k];
                }
                rp[i] = &rs[i];
        }
        V1beta1__AllocateResponse out = V1BETA1__ALLOCATE_RESPONSE__INIT;
        out.n_container_responses = n;
        out.container_responses = rp;
        rpc_call_reply(call, &out.base);
        hd_strv_free(names);
}

int main(int argc, char **argv)
{
        const char *sock = NULL;
        unsigned workers = 4;
        static const struct option longopts[] = {
                { "socket", required_argument, NULL, 's' },
                { "workers", required_argument, NULL, 'w' },
                { "tick-ms", required_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "s:w:t:h", longopts, NULL)) != -1) {
                switch (c) {
                case 's':
                        sock = optarg;
                        break;
                case 'w':
                        workers = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                case 't':
                        tick_ms = strtol(optarg, NULL, 10);
                        break;
                case 'h':
                        printf("usage: rpc-test-server --socket PATH [--workers N] [--tick-ms MS]\n");
                        return 0;
                default:
                        return 2;
                }
        }
        if (!sock || optind != argc) {
                fprintf(stderr, "usage: rpc-test-server --socket PATH [--workers N] [--tick-ms MS]\n");
                return 2;
        }
        hd_log_setup(4, HD_LOG_TEXT);

        /* Signals are handled by sigwait() in this thread only: block them before any thread
         * starts so every thread inherits the mask. */
        sigset_t sigs;
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);

        const struct rpc_method methods[] = {
                { "/pluginregistration.Registration/GetInfo", RPC_UNARY,
                  &pluginregistration__info_request__descriptor, get_info, NULL, (void *)sock },
                { "/pluginregistration.Registration/NotifyRegistrationStatus", RPC_UNARY,
                  &pluginregistration__registration_status__descriptor, notify_status, NULL, NULL },
                { "/k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin/NodePrepareResources", RPC_UNARY,
                  &k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_request__descriptor,
                  node_prepare, NULL, (void *)1 },
                { "/k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin/NodeUnprepareResources", RPC_UNARY,
                  &k8s__io__kubelet__pkg__apis__dra__v1__node_unprepare_resources_request__descriptor,
                  node_unprepare, NULL, NULL },
                { "/k8s.io.kubelet.pkg.apis.dra.v1beta1.DRAPlugin/NodePrepareResources", RPC_UNARY,
                  &k8s__io__kubelet__pkg__apis__dra__v1beta1__node_prepare_resources_request__descriptor,
                  node_prepare, NULL, NULL },
                { "/k8s.io.kubelet.pkg.apis.dra.v1beta1.DRAPlugin/NodeUnprepareResources", RPC_UNARY,
                  &k8s__io__kubelet__pkg__apis__dra__v1beta1__node_unprepare_resources_request__descriptor,
                  node_unprepare, NULL, NULL },
                { "/v1alpha1.DRAResourceHealth/NodeWatchResources", RPC_SERVER_STREAMING,
                  &v1alpha1__node_watch_resources_request__descriptor, stream_open, stream_closed,
                  &health_bc },
                { "/v1beta1.DevicePlugin/GetDevicePluginOptions", RPC_UNARY,
                  &v1beta1__empty__descriptor, dp_options, NULL, NULL },
                { "/v1beta1.DevicePlugin/ListAndWatch", RPC_SERVER_STREAMING,
                  &v1beta1__empty__descriptor, stream_open, stream_closed, &law_bc },
                { "/v1beta1.DevicePlugin/GetPreferredAllocation", RPC_UNARY,
                  &v1beta1__preferred_allocation_request__descriptor, dp_preferred, NULL, NULL },
                { "/v1beta1.DevicePlugin/Allocate", RPC_UNARY,
                  &v1beta1__allocate_request__descriptor, dp_allocate, NULL, NULL },
        };
        struct hd_error err = HD_ERROR_INIT;
        struct rpc_server_options opts = { .workers = workers };
        struct rpc_server *srv = NULL;
        if (rpc_server_new(sock, methods, HD_ARRAY_SIZE(methods), &opts, &srv, &err) < 0 ||
            rpc_server_start(srv, &err) < 0) {
                hd_log_error("cannot start server", "socket", sock, "err", hd_error_message(&err));
                hd_error_done(&err);
                rpc_server_free(srv);
                return 1;
        }
        pthread_t ticker;
        pthread_create(&ticker, NULL, ticker_main, NULL);
        hd_log_info("serving", "socket", sock);
        printf("READY\n");
        fflush(stdout);

        int sig = 0;
        sigwait(&sigs, &sig);
        hd_log_info("stopping", "signal", HD_INT(sig));
        atomic_store(&ticker_stop, true);
        pthread_join(ticker, NULL);
        rpc_server_free(srv);
        return 0;
}
