/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz what a gRPC client can send the DRA socket: the request decoding the rpc layer does
 * with the method's descriptor, then the claim fields our handler reads. */
#include <string.h>

#include "tests/fuzz/fuzz.h"

#include "dra_v1.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesRequest *req =
                k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_request__unpack(
                        NULL, size, data);
        if (!req)
                return 0;
        size_t total = 0;
        for (size_t i = 0; i < req->n_claims; i++)
                total += strlen(req->claims[i]->uid) + strlen(req->claims[i]->name) +
                         strlen(req->claims[i]->namespace_);
        (void)total;
        k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_request__free_unpacked(req,
                                                                                            NULL);
        return 0;
}
