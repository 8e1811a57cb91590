/* SPDX-License-Identifier: Apache-2.0 */
/* The node driver's state and per-claim logic, independent of gRPC and of how claims are
 * fetched: the DRA service calls kp_driver_prepare()/kp_driver_unprepare() once per claim.
 *
 * Calls for different claims run concurrently; calls for the same claim UID are serialized.
 * A prepare records PrepareStarted in the checkpoint (which also reserves the devices), writes
 * the per-claim CDI spec, then records PrepareCompleted; any failure rolls back in reverse.
 * Preparing a prepared claim returns the recorded answer; unpreparing an unknown claim works. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/cleanup-json.h"

#include "kubeletplugin/checkpoint.h"
#include "devmodel/config.h"
#include "devmodel/discovery.h"

struct hd_error;
struct kp_driver;
struct kp_metrics;

/* Fetch ResourceClaim NAMESPACE/NAME (e.g. GET from the API server). Returns 0 with a new JSON
 * reference, -ENOENT when it does not exist, or another -errno with RETERR set. */
typedef int (*kp_claim_fetch_cb)(void *userdata, const char *namespace, const char *name,
                                 json_t **ret_claim, struct hd_error *reterr);

struct kp_driver_options {
        const char *driver;          /* driver name */
        const char *node;            /* node name = pool name */
        const char *cdi_root;        /* per-claim specs go here */
        const char *checkpoint_path; /* <plugins-dir>/<driver>/checkpoint.json */
        kp_claim_fetch_cb fetch;
        void *fetch_userdata;
        struct kp_metrics *metrics; /* per-phase durations; may be NULL */
};

struct kp_claim_ref {
        const char *namespace;
        const char *name;
        const char *uid;
};

/* New driver over CONFIG (borrowed, must outlive it) and INV (taken). Nothing is read yet. */
struct kp_driver *kp_driver_new(const struct kp_driver_options *opts,
                                const struct dm_config *config, struct dm_inventory *inv);
struct kp_driver *kp_driver_free(struct kp_driver *d);

/* Load the checkpoint and repair drift, without asking the API server: a corrupt file is moved
 * aside and rebuilt from the CDI specs we own; PrepareStarted leftovers are undone (an entry
 * whose spec cannot be removed stays, still reserving its devices); PrepareCompleted claims
 * whose spec is missing (tmpfs CDI dir wiped by a reboot) get it rewritten. Claims the API
 * server no longer has are unprepared later by the start-up sweep (kubeletplugin/sweep.h).
 * Problems are logged, never fatal, unless the checkpoint cannot be read at all; one that cannot
 * be saved (full or read-only disk) is logged once at error level with its path and errno, and
 * the next prepare or unprepare saves it whole again. Returns 0 or -errno. */
int kp_driver_start(struct kp_driver *d, struct hd_error *reterr);

/* Prepare one claim: reserve its devices (PrepareStarted), build its CDI spec, commit
 * (PrepareCompleted). On success *RET (zeroed by the caller; release with
 * dm_prepared_claim_done()) is a copy of the claim's record: devices with their CDI IDs.
 * Returns 0 or -errno with RETERR set to the message the kubelet should see for this claim. */
int kp_driver_prepare(struct kp_driver *d, const struct kp_claim_ref *ref,
                      struct dm_prepared_claim *ret, struct hd_error *reterr);

/* Unprepare one claim: remove its spec and checkpoint entry. Unknown claims succeed. */
int kp_driver_unprepare(struct kp_driver *d, const struct kp_claim_ref *ref,
                        struct hd_error *reterr);

/* Swap in a freshly discovered inventory (hot-plug): prepares that start afterwards use it;
 * the old one is freed when the last prepare using it is done. Never waits for a prepare.
 * Devices held by prepared claims stay held (the checkpoint, not the inventory, says who
 * holds what) until their claims are unprepared. Takes INV. */
void kp_driver_set_inventory(struct kp_driver *d, struct dm_inventory *inv);

/* Run FN with the current inventory (held by reference: a swap meanwhile does not free it). */
void kp_driver_with_inventory(struct kp_driver *d,
                              void (*fn)(const struct dm_inventory *inv, void *userdata),
                              void *userdata);

/* Is claim UID recorded as prepared (PrepareCompleted)? */
bool kp_driver_holds_claim(struct kp_driver *d, const char *uid);

/* Snapshot of the prepared claims that have a namespace and name: uid, namespace and name
 * only. *RET is a new array of *RET_N records (release each with dm_prepared_claim_done(), then
 * free the array). */
void kp_driver_prepared_refs(struct kp_driver *d, struct dm_prepared_claim **ret, size_t *ret_n);

/* Names of the devices of this node's pool that checkpointed claims (prepared or being
 * prepared) hold, adminAccess ones included: device-plugin mode keeps them out of the kubelet's
 * hands until the claims are unprepared. New strv (NULL when none). */
char **kp_driver_held_devices(struct kp_driver *d);

/* Number of claims currently recorded as prepared. */
size_t kp_driver_prepared_claims(struct kp_driver *d);
