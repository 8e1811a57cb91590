/* SPDX-License-Identifier: Apache-2.0 */
/* The ledger's compact records, shared by ledger.c (store), ledger_decode.c (JSON → records)
 * and ledger_render.c (records → status). Not for other modules. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller/ledger.h"

/* Every record starts with its key so one comparator serves all trees (tsearch). */
struct ctl_result {
        char *request, *pool, *device, *share_id; /* share_id NULL when absent */
        bool admin_access;
};

struct ctl_claim {
        char *key; /* "namespace/name" */
        char *namespace, *name, *uid;
        char **pods; /* names from status.reservedFor (resource "pods"); strv or NULL */
        struct ctl_result *results; /* ours only */
        size_t n_results;
};

struct ctl_pubdev {
        char *name, *group;
        bool unhealthy; /* a NoSchedule or NoExecute taint */
};

struct ctl_slice {
        char *key;              /* metadata.name */
        char *pool, *node_name; /* node_name NULL when the slice is not per node */
        int64_t generation;
        struct ctl_pubdev *devices;
        size_t n_devices;
};

struct ctl_node {
        char *key;    /* pool name = node name */
        void *claims; /* tree of struct ctl_claim * (borrowed from the ledger's tree) */
        void *slices; /* tree of struct ctl_slice * (borrowed) */
};

struct ctl_ledger {
        char *driver;
        ctl_ledger_dirty_cb dirty_cb;
        void *userdata;
        void *claims, *slices, *nodes; /* owning trees */
        void *bad_claims, *bad_slices; /* trees of malloc'ed key strings */
        size_t n_claims, n_slices, n_nodes, n_allocations;
        uint64_t malformed;
};

/* tsearch comparator on the leading key of two records. */
int ctl_key_cmp(const void *a, const void *b);
/* Find the record with KEY in ROOT, or NULL. */
void *ctl_tree_find(void *root, const char *key);
/* The node named KEY, or NULL. */
struct ctl_node *ctl_ledger_node(struct ctl_ledger *l, const char *key);

/* ledger_decode.c: *RET gets a new record, or NULL for an object that holds nothing of ours
 * (a claim without our results; a slice of another driver). -EINVAL on malformed input. */
int ctl_claim_decode(json_t *obj, const char *driver, struct ctl_claim **ret,
                     struct hd_error *reterr);
int ctl_slice_decode(json_t *obj, const char *driver, struct ctl_slice **ret,
                     struct hd_error *reterr);
struct ctl_claim *ctl_claim_free(struct ctl_claim *c);
struct ctl_slice *ctl_slice_free(struct ctl_slice *s);
/* "namespace/name" (or "name") of OBJ, or NULL without a name. Caller frees. */
char *ctl_object_key(json_t *obj);
