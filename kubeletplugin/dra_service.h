/* SPDX-License-Identifier: Apache-2.0 */
/* The gRPC face of the node driver: DRA v1 and v1beta1 NodePrepareResources /
 * NodeUnprepareResources (one implementation; the messages are wire-identical apart from v1's
 * share_id), and the plugin registration service the kubelet's plugin watcher calls. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "rpc/server.h"

struct kp_driver;
struct kp_metrics;

/* Wire-level service names as advertised in GetInfo.supported_versions. */
#define KP_SERVICE_DRA_V1 "v1.DRAPlugin"
#define KP_SERVICE_DRA_V1BETA1 "v1beta1.DRAPlugin"
#define KP_SERVICE_HEALTH "v1alpha1.DRAResourceHealth"

/* Most claims one NodePrepareResources / NodeUnprepareResources call may carry (more than the
 * pods a node runs, each with a few claims); a bigger call fails INVALID_ARGUMENT as a whole. */
#define KP_DRA_MAX_CLAIMS 1024
/* Threads serving DRA calls: prepares that run at once (each claim's GET and writes; concurrent
 * ones share checkpoint writes). Further calls queue in the gRPC server. */
#define KP_DRA_WORKERS 4

struct kp_dra_service;

/* Per-method user data: which service, which wire version (0 = v1, 1 = v1beta1). */
struct kp_dra_binding {
        struct kp_dra_service *svc;
        int version;
};

struct kp_dra_service {
        struct kp_driver *driver;   /* borrowed */
        struct kp_metrics *metrics; /* borrowed; may be NULL */
        bool unprepare_only;        /* device-plugin mode draining old claims: prepare fails each */
        struct kp_dra_binding bindings[2]; /* filled by kp_dra_service_methods() */
};

/* Fill METHODS (room for 4) with the DRA v1 + v1beta1 methods bound to SVC. Returns the count. */
size_t kp_dra_service_methods(struct kp_dra_service *svc, struct rpc_method *methods);

struct kp_registration {
        const char *driver;         /* plugin name */
        const char *endpoint;       /* absolute path of the DRA socket */
        char **supported_versions;  /* strv, e.g. {"v1.DRAPlugin", ...} */
        struct kp_metrics *metrics; /* may be NULL */
};

/* Fill METHODS (room for 2) with GetInfo and NotifyRegistrationStatus bound to REG. */
size_t kp_registration_methods(struct kp_registration *reg, struct rpc_method *methods);
