/* SPDX-License-Identifier: Apache-2.0 */
/* Device-plugin mode's side of the kubelet's device-plugin registration: one thread watches the
 * device-plugins directory with inotify and keeps every resource served and registered.
 *
 * A kubelet that starts deletes every socket in that directory and creates kubelet.sock anew.
 * So: when a resource's socket is gone, the serve callback serves it again; when kubelet.sock
 * (re)appears, every resource registers again (Registration/Register, v1beta1, the socket's
 * file name as endpoint). A refused or failed Register is logged with the kubelet's message
 * and retried with backoff (100 ms doubling to 10 s); with no kubelet.sock at all we wait for
 * it to be created. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct hd_error;
struct kp_metrics;
struct kp_dp_reg;

/* Backoff bounds of a failing Register, in milliseconds. */
#define KP_DP_REGISTER_BACKOFF_MIN_MS 100
#define KP_DP_REGISTER_BACKOFF_MAX_MS 10000
/* How long one Register call may take. */
#define KP_DP_REGISTER_TIMEOUT_MS 5000

/* Serve resource I again (its socket is gone or was never there). Returns 0 or -errno. */
typedef int (*kp_dp_serve_cb)(void *userdata, size_t i, struct hd_error *reterr);

struct kp_dp_reg_entry {
        const char *resource; /* extended resource name */
        const char *endpoint; /* socket file name inside the directory */
};

struct kp_dp_reg_options {
        const char *dir;                       /* the device-plugins directory */
        const struct kp_dp_reg_entry *entries; /* borrowed; must outlive the watcher */
        size_t n_entries;
        kp_dp_serve_cb serve;
        void *userdata;
        struct kp_metrics *metrics; /* may be NULL */
};

/* Start the watcher thread. The sockets need not exist yet: the first pass serves them (the
 * serve callback runs on the watcher thread) and registers. Returns 0 or -errno. */
int kp_dp_reg_start(const struct kp_dp_reg_options *opts, struct kp_dp_reg **ret,
                    struct hd_error *reterr);

/* Stop the thread and free. Takes NULL; returns NULL. */
struct kp_dp_reg *kp_dp_reg_free(struct kp_dp_reg *r);

/* true once every resource was accepted by the current kubelet. */
bool kp_dp_reg_all_registered(struct kp_dp_reg *r);
