/* SPDX-License-Identifier: Apache-2.0 */
/* Which NUMA node a device node sits on, as sysfs tells it (the device-plugin API's topology
 * hint). */
#pragma once

#include <stddef.h>

/* Default sysfs mount point. */
#define DM_SYSFS_ROOT "/sys"

/* The NUMA node of the device node TYPE ('c' or 'b') MAJOR:MINOR: the integer in
 * SYSFS_ROOT/dev/{char,block}/MAJOR:MINOR/device/numa_node (SYSFS_ROOT NULL = "/sys"; tests
 * point it at a fake tree). Returns the node (>= 0), or -1 when unknown: no such file, not a
 * number, or the kernel's own -1 for "no NUMA affinity". */
int dm_numa_node(const char *sysfs_root, char type, unsigned major, unsigned minor);

/* One device in device order, for dm_numa_prefer(). */
struct dm_numa_device {
        const char *id;
        int numa; /* -1 = unknown */
};

/* The device plugin's GetPreferredAllocation for one container: choose SIZE IDs from
 * AVAILABLE[0..N_AVAILABLE-1]. The IDs of MUST that are available come first (in MUST's
 * order); the rest keep the chosen devices on as few NUMA nodes as possible (first the nodes
 * the must-include IDs already use, then the first node in device order that fits what is
 * still needed, else the node with most devices; unknown NUMA counts as one more node), and
 * within that follow the device order ORDER[0..N_ORDER-1] (IDs not in ORDER go last). Never
 * chooses an ID twice or one that is not in AVAILABLE. RET (room for SIZE) gets borrowed
 * pointers into AVAILABLE/MUST. Returns how many were chosen (less than SIZE only when
 * AVAILABLE is too short). */
size_t dm_numa_prefer(const struct dm_numa_device *order, size_t n_order, char *const *available,
                      size_t n_available, char *const *must, size_t n_must, size_t size,
                      const char **ret);
