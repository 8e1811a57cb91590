/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz what a gRPC client can send the DRA socket: the request decoding the rpc layer does
 * with the method's descriptor (NodePrepareResources and NodeUnprepareResources take the same
 * bytes), then the claim fields our handler reads. A request that decodes must re-encode to
 * bytes that decode to the same claims (unless protobuf-c kept unknown fields). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"

#include "dra_v1.pb-c.h"

typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesRequest prep_req_t;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourcesRequest unprep_req_t;

static int streq0(const char *a, const char *b)
{
        return strcmp(a ? a : "", b ? b : "") == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        prep_req_t *req =
                k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_request__unpack(
                        NULL, size, data);
        if (req) {
                size_t len =
                        k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_request__get_packed_size(
                                req);
                uint8_t *buf = malloc(len ? len : 1);
                if (!buf)
                        abort();
                k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_request__pack(req,
                                                                                           buf);
                prep_req_t *again =
                        k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_request__unpack(
                                NULL, len, buf);
                /* protobuf-c keeps an unknown field numbered 0 when its tag is sent in a
                 * non-minimal varint (0x85 0x00) but refuses the minimal tag it writes back:
                 * only requests without unknown fields must survive the round trip. */
                bool unknown = req->base.n_unknown_fields > 0;
                for (size_t i = 0; i < req->n_claims; i++)
                        unknown = unknown || req->claims[i]->base.n_unknown_fields > 0;
                if (!unknown && (!again || again->n_claims != req->n_claims))
                        abort();
                for (size_t i = 0; again && again->n_claims == req->n_claims && i < req->n_claims;
                     i++)
                        if (!streq0(req->claims[i]->uid, again->claims[i]->uid) ||
                            !streq0(req->claims[i]->name, again->claims[i]->name) ||
                            !streq0(req->claims[i]->namespace_, again->claims[i]->namespace_))
                                abort();
                k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_request__free_unpacked(
                        again, NULL);
                free(buf);
                k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_request__free_unpacked(
                        req, NULL);
        }
        unprep_req_t *ureq =
                k8s__io__kubelet__pkg__apis__dra__v1__node_unprepare_resources_request__unpack(
                        NULL, size, data);
        if (ureq) {
                size_t total = 0;
                for (size_t i = 0; i < ureq->n_claims; i++)
                        total += strlen(ureq->claims[i]->uid) + strlen(ureq->claims[i]->name) +
                                 strlen(ureq->claims[i]->namespace_);
                (void)total;
                k8s__io__kubelet__pkg__apis__dra__v1__node_unprepare_resources_request__free_unpacked(
                        ureq, NULL);
        }
        return 0;
}
