/* SPDX-License-Identifier: Apache-2.0 */
/* The allocation ledger model: what our driver published (ResourceSlices, per pool = node) and
 * which ResourceClaims hold which of those devices, folded into one status object per node.
 *
 * Inputs are the objects the informers deliver (any of resource.k8s.io v1, v1beta2, v1beta1);
 * each is decoded at the edge into a compact record and the JSON is not kept. Only results of
 * our driver count. A claim or slice that cannot be decoded keeps its last good record (or none)
 * and never affects another object. Every change marks the nodes it touches dirty through the
 * callback given at creation; ctl_ledger_render() then builds that node's status.
 *
 * Not thread-safe: the owner serialises every call with one lock. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/cleanup-json.h"

struct hd_error;
struct ctl_ledger;

/* Caps on what one object may bring in; larger inputs are refused as malformed. */
#define CTL_LEDGER_RESULTS_MAX 256  /* our results in one claim (the API allows 32 requests) */
#define CTL_LEDGER_PODS_MAX 256     /* reservedFor entries of one claim (the API's limit) */
#define CTL_LEDGER_DEVICES_MAX 1024 /* devices in one slice (the API allows 128, 64 tainted) */

/* Called when node NODE's status may have changed (from inside the ledger call). */
typedef void (*ctl_ledger_dirty_cb)(const char *node, void *userdata);

/* A new, empty ledger for DRIVER (copied). DIRTY_CB may be NULL. */
struct ctl_ledger *ctl_ledger_new(const char *driver, ctl_ledger_dirty_cb dirty_cb, void *userdata);
/* Takes NULL; returns NULL. */
struct ctl_ledger *ctl_ledger_free(struct ctl_ledger *l);

/* Add or replace the claim CLAIM (borrowed JSON). A claim that is not allocated, or has no
 * result of our driver, holds nothing. Returns 0, or -EINVAL (message naming the claim and the
 * field) the first time a claim's key is malformed; the same key malformed again returns 0 and
 * is only counted. The claim's previous good record stays in place. */
int ctl_ledger_claim_set(struct ctl_ledger *l, json_t *claim, struct hd_error *reterr);
/* Forget the claim CLAIM names (namespace and name; the rest may be anything). */
void ctl_ledger_claim_delete(struct ctl_ledger *l, json_t *claim);

/* Add or replace a ResourceSlice (any served version). A slice of another driver is ignored.
 * Returns 0, or -EINVAL the first time a slice name is malformed (then as for claims). */
int ctl_ledger_slice_set(struct ctl_ledger *l, json_t *slice, struct hd_error *reterr);
void ctl_ledger_slice_delete(struct ctl_ledger *l, json_t *slice);

/* Counts for metrics and tests. */
struct ctl_ledger_stats {
        size_t claims;      /* claims holding at least one of our devices */
        size_t allocations; /* our results over all claims */
        size_t slices;
        size_t nodes;
        uint64_t malformed; /* decode failures seen (every time, not only the first) */
};
void ctl_ledger_stats(const struct ctl_ledger *l, struct ctl_ledger_stats *ret);

/* Call CB for every node the ledger knows (in name order). */
void ctl_ledger_foreach_node(const struct ctl_ledger *l, ctl_ledger_dirty_cb cb, void *userdata);

/* A reference to a claim, as Events and conditions name it. */
struct ctl_claim_ref {
        char *namespace, *name, *uid;
};

/* A problem found while rendering: DEVICE held by CLAIM, which conflicts with OTHER (a
 * conflict) or is not published (OTHER all NULL: a missing device). */
struct ctl_finding {
        char *device;
        struct ctl_claim_ref claim, other;
};

/* What ctl_ledger_render() returns for one node. */
struct ctl_node_report {
        json_t *status; /* the ledger's status without timestamps; owned */
        int64_t total, allocated, free, unhealthy, missing;
        struct ctl_finding *conflicts; /* one per (device, claim pair), both directions once */
        size_t n_conflicts;
        struct ctl_finding *missing_devices;
        size_t n_missing;
        char *kube_node; /* spec.nodeName of the node's slices (the Node object), or NULL */
};

/* Build NODE's status: devices (published and missing), holders with their pods, per-group
 * totals, conflicts and the Conflict condition (without lastTransitionTime). The caller owns
 * *RET and releases it with ctl_node_report_done(). -ENOENT for a node the ledger never saw. */
int ctl_ledger_render(struct ctl_ledger *l, const char *node, struct ctl_node_report *ret);
void ctl_node_report_done(struct ctl_node_report *r);
