/* SPDX-License-Identifier: Apache-2.0 */
/* Reader of the kubelet's device-manager checkpoint,
 * <device-plugins-dir>/kubelet_internal_checkpoint:
 *
 *   {"Data": {"PodDeviceEntries": [{"PodUID", "ContainerName", "ResourceName",
 *                                   "DeviceIDs": {"<numa node>": [ids]}, "AllocResp"}],
 *             "RegisteredDevices": {"<resource>": [ids]}},
 *    "Checksum": N}
 *
 * (kubelets before 1.20 wrote DeviceIDs as a plain list; both are read). Each entry says which
 * device IDs of a resource one container of one pod was given through the device-plugin API.
 * The kubelet drops entries of finished pods only at its next device-plugin allocation, so an
 * entry is a claim to check against the pod, not proof that the devices are in use.
 *
 * Reading is fail-safe, for callers that must not hand out a device a pod may still hold: what
 * cannot be decoded becomes a hold on more, never on less. An entry whose DeviceIDs cannot be
 * read holds its whole resource; an entry whose ResourceName cannot be read, and a file that
 * cannot be read or parsed at all, hold every resource of interest whose name appears in the
 * file's bytes (all of them when the bytes cannot be read). The checksum is not verified: the
 * kubelet writes the file atomically, and a file that fails its check still names what pods
 * were given. */
#pragma once

#include <stddef.h>

/* File name inside the device-plugins directory. */
#define KP_DP_CHECKPOINT_FILE "kubelet_internal_checkpoint"
/* Larger files are not parsed (their resources are held, see above). */
#define KP_DP_CHECKPOINT_MAX_BYTES (16u << 20)

/* Devices of one resource held by one container (or, when damaged, by someone unknown). */
struct kp_dp_hold {
        char *resource;    /* ResourceName, one of the caller's */
        char *pod_uid;     /* NULL: unknown (cannot be released by looking at pods) */
        char *container;   /* NULL when unknown */
        char **device_ids; /* NULL: unknown, i.e. every device of RESOURCE */
};

struct kp_dp_checkpoint {
        struct kp_dp_hold *holds;
        size_t n_holds;
        char **problems; /* what could not be decoded, one message each; NULL when none */
};

/* Read PATH and keep the holds of the resources in RESOURCES (NULL-terminated) into RET
 * (zeroed by the caller; release with kp_dp_checkpoint_done()). A missing file (or directory)
 * holds nothing. Never fails: problems are reported in RET->problems, with the fail-safe holds
 * described above. */
void kp_dp_checkpoint_read(const char *path, char *const *resources, struct kp_dp_checkpoint *ret);

/* Same for the LEN bytes at DATA (NUL-terminated), WHAT naming them in problems. */
void kp_dp_checkpoint_parse(const char *what, const char *data, size_t len, char *const *resources,
                            struct kp_dp_checkpoint *ret);

void kp_dp_checkpoint_done(struct kp_dp_checkpoint *c);
