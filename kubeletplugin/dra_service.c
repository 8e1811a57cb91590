/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/dra_service.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strutil.h"
#include "kubeletplugin/driver.h"
#include "kubeletplugin/metrics.h"

#include "dra_v1.pb-c.h"
#include "pluginregistration.pb-c.h"

/* Short names for the generated v1 types; v1beta1 requests are decoded with the same
 * descriptors (identical wire format) and answered with share_id left out. */
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesRequest prep_req_t;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesResponse prep_resp_t;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesResponse__ClaimsEntry
        prep_entry_t;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourceResponse prep_one_t;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__Device device_t;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourcesRequest unprep_req_t;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourcesResponse unprep_resp_t;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourcesResponse__ClaimsEntry
        unprep_entry_t;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourceResponse unprep_one_t;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__Claim claim_t;

enum api_version { API_V1, API_V1BETA1 };

static double now_seconds(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The request name without a "/<subrequest>" suffix: the kubelet matches on the base name. */
static char *base_request(const char *request)
{
        return hd_strndup(request ? request : "", strcspn(request ? request : "", "/"));
}

/* Everything one claim's answer owns, freed after the reply is packed. */
struct claim_answer {
        prep_one_t one;
        device_t *devices;
        device_t **device_ptrs;
        char **request_names; /* one per device */
        struct kp_ckpt_claim prepared;
        char *error;
};

static void answer_done(struct claim_answer *a)
{
        for (size_t i = 0; i < a->prepared.n_devices; i++)
                free(a->request_names[i]);
        free(a->request_names);
        free(a->devices);
        free(a->device_ptrs);
        kp_ckpt_claim_done(&a->prepared);
        free(a->error);
}

static void prepare_one(struct kp_dra_binding *b, const claim_t *c, struct claim_answer *a)
{
        struct kp_dra_service *svc = b->svc;
        struct kp_claim_ref ref = {c->namespace_, c->name, c->uid};
        struct hd_error err = HD_ERROR_INIT;
        double start = now_seconds();
        int r;

        k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resource_response__init(&a->one);
        if (!c->uid || !*c->uid || !c->name || !*c->name || !c->namespace_ || !*c->namespace_)
                r = hd_error_setf(&err, EINVAL, "claim namespace, name and uid are all required");
        else
                r = kp_driver_prepare(svc->driver, &ref, &a->prepared, &err);
        kp_metrics_observe(svc->metrics, KP_METRIC_PREPARE, r >= 0, now_seconds() - start);
        if (r < 0) {
                a->error = hd_asprintf("prepare ResourceClaim %s/%s (%s): %s", c->namespace_,
                                       c->name, c->uid, hd_error_message(&err));
                hd_log_error("prepare failed", "claim", c->uid, "ns", c->namespace_, "name",
                             c->name, "err", hd_error_message(&err));
                a->one.error = a->error;
                hd_error_done(&err);
                return;
        }
        size_t n = a->prepared.n_devices;
        a->devices = hd_new0(device_t, n ? n : 1);
        a->device_ptrs = hd_new0(device_t *, n ? n : 1);
        a->request_names = hd_new0(char *, n ? n : 1);
        for (size_t i = 0; i < n; i++) {
                struct kp_ckpt_device *pd = &a->prepared.devices[i];
                device_t *d = &a->devices[i];
                k8s__io__kubelet__pkg__apis__dra__v1__device__init(d);
                a->request_names[i] = base_request(pd->request);
                d->n_request_names = 1;
                d->request_names = &a->request_names[i];
                d->pool_name = pd->pool;
                d->device_name = pd->device;
                d->n_cdi_device_ids = hd_strv_len(pd->cdi_ids);
                d->cdi_device_ids = pd->cdi_ids;
                if (b->version == API_V1 && pd->share_id && *pd->share_id)
                        d->share_id = pd->share_id;
                a->device_ptrs[i] = d;
        }
        a->one.n_devices = n;
        a->one.devices = a->device_ptrs;
        hd_log_v(1, "prepared claim", "claim", c->uid, "ns", c->namespace_, "name", c->name,
                 "devices", HD_INT(n));
}

static void node_prepare(struct rpc_call *call, const ProtobufCMessage *msg, void *userdata)
{
        struct kp_dra_binding *b = userdata;
        const prep_req_t *in = (const prep_req_t *)msg;
        size_t n = in->n_claims;
        struct claim_answer *answers = hd_new0(struct claim_answer, n ? n : 1);
        prep_entry_t *entries = hd_new0(prep_entry_t, n ? n : 1);
        prep_entry_t **entry_ptrs = hd_new0(prep_entry_t *, n ? n : 1);

        kp_metrics_inflight(b->svc->metrics, +1);
        /* Every requested claim gets an entry, failed or not. */
        for (size_t i = 0; i < n; i++) {
                prepare_one(b, in->claims[i], &answers[i]);
                k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_response__claims_entry__init(
                        &entries[i]);
                entries[i].key = in->claims[i]->uid;
                entries[i].value = &answers[i].one;
                entry_ptrs[i] = &entries[i];
        }
        kp_metrics_inflight(b->svc->metrics, -1);
        kp_metrics_set_prepared_claims(b->svc->metrics,
                                       (unsigned)kp_driver_prepared_claims(b->svc->driver));
        prep_resp_t out =
                K8S__IO__KUBELET__PKG__APIS__DRA__V1__NODE_PREPARE_RESOURCES_RESPONSE__INIT;
        out.n_claims = n;
        out.claims = entry_ptrs;
        rpc_call_reply(call, &out.base);

        for (size_t i = 0; i < n; i++)
                answer_done(&answers[i]);
        free(answers);
        free(entries);
        free(entry_ptrs);
}

static void node_unprepare(struct rpc_call *call, const ProtobufCMessage *msg, void *userdata)
{
        struct kp_dra_binding *b = userdata;
        const unprep_req_t *in = (const unprep_req_t *)msg;
        size_t n = in->n_claims;
        unprep_one_t *results = hd_new0(unprep_one_t, n ? n : 1);
        unprep_entry_t *entries = hd_new0(unprep_entry_t, n ? n : 1);
        unprep_entry_t **entry_ptrs = hd_new0(unprep_entry_t *, n ? n : 1);
        char **errors = hd_new0(char *, n ? n : 1);

        kp_metrics_inflight(b->svc->metrics, +1);
        for (size_t i = 0; i < n; i++) {
                const claim_t *c = in->claims[i];
                struct kp_claim_ref ref = {c->namespace_, c->name, c->uid};
                struct hd_error err = HD_ERROR_INIT;
                double start = now_seconds();
                int r = kp_driver_unprepare(b->svc->driver, &ref, &err);
                kp_metrics_observe(b->svc->metrics, KP_METRIC_UNPREPARE, r >= 0,
                                   now_seconds() - start);
                k8s__io__kubelet__pkg__apis__dra__v1__node_unprepare_resource_response__init(
                        &results[i]);
                if (r < 0) {
                        errors[i] =
                                hd_asprintf("unprepare ResourceClaim %s/%s (%s): %s", c->namespace_,
                                            c->name, c->uid, hd_error_message(&err));
                        hd_log_error("unprepare failed", "claim", c->uid, "ns", c->namespace_,
                                     "name", c->name, "err", hd_error_message(&err));
                        results[i].error = errors[i];
                } else {
                        hd_log_v(1, "unprepared claim", "claim", c->uid, "ns", c->namespace_,
                                 "name", c->name);
                }
                hd_error_done(&err);
                k8s__io__kubelet__pkg__apis__dra__v1__node_unprepare_resources_response__claims_entry__init(
                        &entries[i]);
                entries[i].key = c->uid;
                entries[i].value = &results[i];
                entry_ptrs[i] = &entries[i];
        }
        kp_metrics_inflight(b->svc->metrics, -1);
        kp_metrics_set_prepared_claims(b->svc->metrics,
                                       (unsigned)kp_driver_prepared_claims(b->svc->driver));
        unprep_resp_t out =
                K8S__IO__KUBELET__PKG__APIS__DRA__V1__NODE_UNPREPARE_RESOURCES_RESPONSE__INIT;
        out.n_claims = n;
        out.claims = entry_ptrs;
        rpc_call_reply(call, &out.base);
        for (size_t i = 0; i < n; i++)
                free(errors[i]);
        free(errors);
        free(results);
        free(entries);
        free(entry_ptrs);
}

size_t kp_dra_service_methods(struct kp_dra_service *svc, struct rpc_method *methods)
{
        /* The bindings live as long as the service object: keep them inside it. */
        static const char *const paths[2][2] = {
                {"/k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin/NodePrepareResources",
                 "/k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin/NodeUnprepareResources"},
                {"/k8s.io.kubelet.pkg.apis.dra.v1beta1.DRAPlugin/NodePrepareResources",
                 "/k8s.io.kubelet.pkg.apis.dra.v1beta1.DRAPlugin/NodeUnprepareResources"},
        };
        struct kp_dra_binding *bindings = svc->bindings;
        size_t n = 0;
        for (int v = 0; v < 2; v++) {
                bindings[v] = (struct kp_dra_binding){svc, v == 0 ? API_V1 : API_V1BETA1};
                methods[n++] = (struct rpc_method){
                        .path = paths[v][0],
                        .kind = RPC_UNARY,
                        .request =
                                &k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_request__descriptor,
                        .handler = node_prepare,
                        .userdata = &bindings[v],
                };
                methods[n++] = (struct rpc_method){
                        .path = paths[v][1],
                        .kind = RPC_UNARY,
                        .request =
                                &k8s__io__kubelet__pkg__apis__dra__v1__node_unprepare_resources_request__descriptor,
                        .handler = node_unprepare,
                        .userdata = &bindings[v],
                };
        }
        return n;
}

/* --- registration --------------------------------------------------------------------------- */

static void get_info(struct rpc_call *call, const ProtobufCMessage *msg, void *userdata)
{
        struct kp_registration *reg = userdata;
        Pluginregistration__PluginInfo info = PLUGINREGISTRATION__PLUGIN_INFO__INIT;
        info.type = "DRAPlugin";
        info.name = (char *)reg->driver;
        info.endpoint = (char *)reg->endpoint;
        info.n_supported_versions = hd_strv_len(reg->supported_versions);
        info.supported_versions = reg->supported_versions;
        hd_log_v(2, "kubelet asked for plugin info");
        rpc_call_reply(call, &info.base);
}

static void notify_status(struct rpc_call *call, const ProtobufCMessage *msg, void *userdata)
{
        struct kp_registration *reg = userdata;
        const Pluginregistration__RegistrationStatus *st = (const void *)msg;
        if (st->plugin_registered)
                hd_log_info("registered with the kubelet", "driver", reg->driver, "endpoint",
                            reg->endpoint);
        else
                hd_log_error("kubelet rejected the registration", "driver", reg->driver, "error",
                             st->error);
        kp_metrics_registered(reg->metrics, st->plugin_registered);
        Pluginregistration__RegistrationStatusResponse r =
                PLUGINREGISTRATION__REGISTRATION_STATUS_RESPONSE__INIT;
        rpc_call_reply(call, &r.base);
}

size_t kp_registration_methods(struct kp_registration *reg, struct rpc_method *methods)
{
        methods[0] = (struct rpc_method){"/pluginregistration.Registration/GetInfo",
                                         RPC_UNARY,
                                         &pluginregistration__info_request__descriptor,
                                         get_info,
                                         NULL,
                                         reg};
        methods[1] =
                (struct rpc_method){"/pluginregistration.Registration/NotifyRegistrationStatus",
                                    RPC_UNARY,
                                    &pluginregistration__registration_status__descriptor,
                                    notify_status,
                                    NULL,
                                    reg};
        return 2;
}
