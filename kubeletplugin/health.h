/* SPDX-License-Identifier: Apache-2.0 */
/* Device health and hot-plug: watches the device directories (inotify, plus a periodic rescan
 * as a fallback), rediscovers the inventory when something changes, and fans the result out:
 * the driver gets the new inventory (prepare only hands out devices that exist now), the slice
 * publisher gets the device list (a missing device of a non-optional group stays published
 * with a NoSchedule taint "<driver>/unhealthy"; a vanished optional device is removed), and
 * every open v1alpha1.DRAResourceHealth/NodeWatchResources stream gets the full list. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/cleanup-json.h"

#include "rpc/server.h"

struct hd_error;
struct dm_config;
struct kp_driver;
struct kp_health;
struct dm_inventory;
struct kp_metrics;
struct kp_publisher;

struct kp_health_options {
        const char *driver;             /* driver name (taint key prefix) */
        const char *node;               /* pool name in health reports */
        const struct dm_config *config; /* borrowed */
        struct kp_driver *kdriver;      /* gets each new inventory; may be NULL in tests */
        struct kp_publisher *publisher; /* may be NULL */
        struct kp_metrics *metrics;     /* may be NULL */
        int rescan_ms;                  /* periodic rescan and stream refresh; 0 = 5000 */
        int settle_ms; /* after an inotify event, wait this long for more; 0 = 50 */
        /* Called on the monitor thread, with no lock held, after a rescan changed the device
         * view (the driver already has the new inventory). May be NULL. */
        void (*changed_cb)(void *userdata);
        void *changed_userdata;
};

/* Create the monitor with the devices of INITIAL (borrowed; read now). */
struct kp_health *kp_health_new(const struct kp_health_options *opts,
                                const struct dm_inventory *initial);

/* Start the watcher thread. Returns 0 or -errno. */
int kp_health_start(struct kp_health *h, struct hd_error *reterr);

/* Stop and free. Open streams are left to the RPC server's shutdown. Takes NULL; returns NULL. */
struct kp_health *kp_health_free(struct kp_health *h);

/* The device list to publish right now (v1 shape, taints on unhealthy devices). New array;
 * the device objects in it may be shared with the monitor: never change them. */
json_t *kp_health_published_devices(struct kp_health *h);

/* Fill METHODS (room for 1) with NodeWatchResources bound to H. */
size_t kp_health_methods(struct kp_health *h, struct rpc_method *methods);

/* One known device as the monitor sees it. */
struct kp_health_device {
        char *name;
        bool healthy;
        char *reason; /* why unhealthy; NULL when healthy */
};

/* Copy of the known devices in inventory order (vanished ones after). *RET is a new array of
 * *RET_N entries; release it with kp_health_devices_free(). */
void kp_health_snapshot(struct kp_health *h, struct kp_health_device **ret, size_t *ret_n);
void kp_health_devices_free(struct kp_health_device *v, size_t n);

/* Devices known and how many are healthy. */
void kp_health_counts(struct kp_health *h, size_t *ret_total, size_t *ret_healthy);
