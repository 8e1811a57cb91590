/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/dra_service.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strutil.h"
#include "devmodel/names.h"
#include "kubeletplugin/driver.h"
#include "kubeletplugin/metrics.h"

#include "dra_v1.pb-c.h"
#include "pluginregistration.pb-c.h"

/* Short names for the generated v1 types; v1beta1 requests are decoded with the same
 * descriptors (identical wire format) and answered with share_id left out. */
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesRequest prep_req_t;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourceResponse prep_one_t;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__Device device_t;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourcesRequest unprep_req_t;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourceResponse unprep_one_t;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__Claim claim_t;

enum api_version { API_V1, API_V1BETA1 };

/* The request name without a "/<subrequest>" suffix: the kubelet matches on the base name. */
static char *base_request(const char *request)
{
        return hd_strndup(request ? request : "", strcspn(request ? request : "", "/"));
}

/* Everything one claim's answer owns, freed after the reply is packed. */
struct claim_answer {
        prep_one_t prep;     /* NodePrepareResources' value for this claim */
        unprep_one_t unprep; /* NodeUnprepareResources' value for this claim */
        device_t *devices;
        device_t **device_ptrs;
        char **request_names; /* one per device */
        struct dm_prepared_claim prepared;
        char *error;
};

static void answer_done(struct claim_answer *a)
{
        for (size_t i = 0; i < a->prepared.n_devices && a->request_names; i++)
                free(a->request_names[i]);
        free(a->request_names);
        free(a->devices);
        free(a->device_ptrs);
        dm_prepared_claim_done(&a->prepared);
        free(a->error);
}

/* The error string the kubelet sees for claim C, logged once ("<verb> failed"). */
static char *claim_error(const char *verb, const claim_t *c, const struct hd_error *err)
{
        _cleanup_free_ char *msg = hd_asprintf("%s failed", verb);
        hd_log_error(msg, "claim", c->uid, "ns", c->namespace_, "name", c->name, "err",
                     hd_error_message(err));
        return hd_asprintf("%s ResourceClaim %s/%s (%s): %s", verb, c->namespace_, c->name, c->uid,
                           hd_error_message(err));
}

/* The kubelet's view of a prepared claim: one Device per record device. Fields borrow from
 * A->prepared. */
static void devices_to_proto(struct claim_answer *a, int version)
{
        size_t n = a->prepared.n_devices;
        a->devices = hd_new0(device_t, n ? n : 1);
        a->device_ptrs = hd_new0(device_t *, n ? n : 1);
        a->request_names = hd_new0(char *, n ? n : 1);
        for (size_t i = 0; i < n; i++) {
                struct dm_prepared_device *pd = &a->prepared.devices[i];
                device_t *d = &a->devices[i];
                k8s__io__kubelet__pkg__apis__dra__v1__device__init(d);
                a->request_names[i] = base_request(pd->request);
                d->n_request_names = 1;
                d->request_names = &a->request_names[i];
                d->pool_name = pd->pool;
                d->device_name = pd->device;
                d->n_cdi_device_ids = hd_strv_len(pd->cdi_ids);
                d->cdi_device_ids = pd->cdi_ids;
                if (version == API_V1 && pd->share_id && *pd->share_id)
                        d->share_id = pd->share_id;
                a->device_ptrs[i] = d;
        }
        a->prep.n_devices = n;
        a->prep.devices = a->device_ptrs;
}

/* Check the claim reference the kubelet sent before it goes anywhere near a URL or a file:
 * namespace a DNS label, name a DNS subdomain, UID present. "." and ".." survive URL escaping
 * and would be collapsed into another API path by the HTTP client. */
static int check_claim_ref(const claim_t *c, struct hd_error *reterr)
{
        if (!c->uid || !*c->uid || !c->name || !*c->name || !c->namespace_ || !*c->namespace_)
                return hd_error_setf(reterr, EINVAL,
                                     "claim namespace, name and uid are all required");
        if (!dm_is_dns_label(c->namespace_))
                return hd_error_setf(reterr, EINVAL,
                                     "invalid namespace '%s': must be a DNS label (lowercase "
                                     "letters, digits and '-', at most 63 characters)",
                                     c->namespace_);
        if (!dm_is_dns_subdomain(c->name))
                return hd_error_setf(reterr, EINVAL,
                                     "invalid name '%s': must be a DNS subdomain (lowercase "
                                     "letters, digits, '-' and '.', at most 253 characters)",
                                     c->name);
        return 0;
}

static int prepare_one(struct kp_dra_binding *b, const claim_t *c, struct claim_answer *a)
{
        struct kp_claim_ref ref = {c->namespace_, c->name, c->uid};
        struct hd_error err = HD_ERROR_INIT;
        int r;

        k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resource_response__init(&a->prep);
        r = check_claim_ref(c, &err);
        if (r >= 0 && b->svc->unprepare_only)
                r = hd_error_setf(&err, EOPNOTSUPP,
                                  "this node serves its devices through the device-plugin API; "
                                  "DRA claims are only unprepared here");
        if (r >= 0)
                r = kp_driver_prepare(b->svc->driver, &ref, &a->prepared, &err);
        if (r < 0) {
                a->prep.error = a->error = claim_error("prepare", c, &err);
        } else {
                devices_to_proto(a, b->version);
                hd_log_v(1, "prepared claim", "claim", c->uid, "ns", c->namespace_, "name", c->name,
                         "devices", HD_INT(a->prepared.n_devices));
        }
        hd_error_done(&err);
        return r;
}

static int unprepare_one(struct kp_dra_binding *b, const claim_t *c, struct claim_answer *a)
{
        struct kp_claim_ref ref = {c->namespace_, c->name, c->uid};
        struct hd_error err = HD_ERROR_INIT;

        k8s__io__kubelet__pkg__apis__dra__v1__node_unprepare_resource_response__init(&a->unprep);
        int r = kp_driver_unprepare(b->svc->driver, &ref, &err);
        if (r < 0)
                a->unprep.error = a->error = claim_error("unprepare", c, &err);
        else
                hd_log_v(1, "unprepared claim", "claim", c->uid, "ns", c->namespace_, "name",
                         c->name);
        hd_error_done(&err);
        return r;
}

/* Pack the reply message of type DESC whose map field "claims" maps each claim's UID to its
 * answer VALUES[i] (borrowed), and send it. The map-entry type is found through DESC, so one
 * function serves both DRA responses. */
static void reply_claim_map(struct rpc_call *call, const ProtobufCMessageDescriptor *desc,
                            claim_t *const *claims, ProtobufCMessage *const *values, size_t n)
{
        const ProtobufCFieldDescriptor *map =
                protobuf_c_message_descriptor_get_field_by_name(desc, "claims");
        const ProtobufCMessageDescriptor *edesc = map->descriptor;
        size_t key_off = protobuf_c_message_descriptor_get_field_by_name(edesc, "key")->offset;
        size_t val_off = protobuf_c_message_descriptor_get_field_by_name(edesc, "value")->offset;

        _cleanup_free_ char *entries = hd_malloc0(edesc->sizeof_message * (n ? n : 1));
        _cleanup_free_ ProtobufCMessage **ptrs = hd_new0(ProtobufCMessage *, n ? n : 1);
        for (size_t i = 0; i < n; i++) {
                char *e = entries + i * edesc->sizeof_message;
                protobuf_c_message_init(edesc, e);
                *(char **)(e + key_off) = claims[i]->uid;
                *(ProtobufCMessage **)(e + val_off) = values[i];
                ptrs[i] = (ProtobufCMessage *)e;
        }
        _cleanup_free_ char *out = hd_malloc0(desc->sizeof_message);
        protobuf_c_message_init(desc, out);
        *(size_t *)(out + map->quantifier_offset) = n;
        *(ProtobufCMessage ***)(out + map->offset) = ptrs;
        rpc_call_reply(call, (ProtobufCMessage *)out);
}

/* How one kind of DRA call treats each claim. */
struct claim_op {
        int (*one)(struct kp_dra_binding *b, const claim_t *c, struct claim_answer *a);
        size_t value_offset; /* of the answer's message inside struct claim_answer */
        enum kp_metric_op metric;
        const ProtobufCMessageDescriptor *response;
};

/* The body both DRA calls share: one per-claim call for every requested claim (failures
 * become that claim's error; every claim gets an entry), metrics, then the reply. A call with
 * more claims than a node can run pods for is refused whole (the kubelet sends the claims of
 * one pod per call). */
static void serve_claims(struct rpc_call *call, struct kp_dra_binding *b, const struct claim_op *op,
                         claim_t *const *claims, size_t n)
{
        if (n > KP_DRA_MAX_CLAIMS) {
                hd_log_error("refusing DRA call with too many claims", "method",
                             rpc_call_method(call), "claims", HD_INT(n), "max",
                             HD_INT(KP_DRA_MAX_CLAIMS));
                rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                              "%zu claims in one request; at most %d are accepted per call", n,
                              KP_DRA_MAX_CLAIMS);
                return;
        }
        struct claim_answer *answers = hd_new0(struct claim_answer, n ? n : 1);
        ProtobufCMessage **values = hd_new0(ProtobufCMessage *, n ? n : 1);

        kp_metrics_inflight(b->svc->metrics, +1);
        for (size_t i = 0; i < n; i++) {
                double start = kp_metrics_now();
                int r = op->one(b, claims[i], &answers[i]);
                kp_metrics_observe(b->svc->metrics, op->metric, r >= 0, kp_metrics_now() - start);
                values[i] = (ProtobufCMessage *)((char *)&answers[i] + op->value_offset);
        }
        kp_metrics_inflight(b->svc->metrics, -1);
        kp_metrics_set_prepared_claims(b->svc->metrics,
                                       (unsigned)kp_driver_prepared_claims(b->svc->driver));
        reply_claim_map(call, op->response, claims, values, n);

        for (size_t i = 0; i < n; i++)
                answer_done(&answers[i]);
        free(answers);
        free(values);
}

static void node_prepare(struct rpc_call *call, const ProtobufCMessage *msg, void *userdata)
{
        static const struct claim_op op = {
                prepare_one, offsetof(struct claim_answer, prep), KP_METRIC_PREPARE,
                &k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_response__descriptor};
        const prep_req_t *in = (const prep_req_t *)msg;
        serve_claims(call, userdata, &op, in->claims, in->n_claims);
}

static void node_unprepare(struct rpc_call *call, const ProtobufCMessage *msg, void *userdata)
{
        static const struct claim_op op = {
                unprepare_one, offsetof(struct claim_answer, unprep), KP_METRIC_UNPREPARE,
                &k8s__io__kubelet__pkg__apis__dra__v1__node_unprepare_resources_response__descriptor};
        const unprep_req_t *in = (const unprep_req_t *)msg;
        serve_claims(call, userdata, &op, in->claims, in->n_claims);
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
