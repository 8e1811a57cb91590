/* SPDX-License-Identifier: Apache-2.0 */
/* What a device node on this host is right now. */
#pragma once

struct hd_error;

/* stat(2) the host's PATH, seen under host root ROOT (NULL or "/" = here; see hostroot.h), and
 * require a char or block device. Fills *RET_TYPE ('c'/'b'), major, minor. Returns 0, -ENOENT,
 * -ENOTBLK (exists but is not a device node), or another -errno. */
int dm_devnode_stat(const char *root, const char *path, char *ret_type, unsigned *ret_major,
                    unsigned *ret_minor, struct hd_error *reterr);
