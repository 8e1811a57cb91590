/* SPDX-License-Identifier: Apache-2.0 */
/* The start-up sweep: after a restart, check every claim the checkpoint holds as prepared with
 * the API server and unprepare those that are gone (404, or the name now has another UID).
 *
 * It runs in the background, after the DRA socket is served, with a few workers, so a slow or
 * failing API server never delays serving the kubelet. Until a claim's check is done the claim
 * stays prepared: the kubelet may unprepare it or be answered from the checkpoint meanwhile
 * (the driver serializes per claim; a claim unprepared meanwhile is skipped). A check that
 * fails for any other reason is retried with backoff (1 s doubling to 30 s) until it succeeds
 * or the sweep is stopped. */
#pragma once

#include "kubeletplugin/driver.h"

#define KP_SWEEP_WORKERS 4

struct kp_sweep;

struct kp_metrics;

/* Start checking the claims D holds as prepared now, with FETCH (the same callback prepares
 * use), on at most WORKERS threads (0 = KP_SWEEP_WORKERS). After each unprepare it sets
 * METRICS' prepared-claims gauge (METRICS may be NULL). D and METRICS must outlive the sweep.
 * Returns NULL when there is nothing to check. */
struct kp_sweep *kp_sweep_start(struct kp_driver *d, kp_claim_fetch_cb fetch, void *userdata,
                                unsigned workers, struct kp_metrics *metrics);

/* Wait until every claim was checked (for tests). Takes NULL. */
void kp_sweep_wait(struct kp_sweep *s);

/* Stop: no new check starts, retry waits end, and the workers are joined (an API request in
 * flight finishes first). Takes NULL; returns NULL. */
struct kp_sweep *kp_sweep_free(struct kp_sweep *s);
