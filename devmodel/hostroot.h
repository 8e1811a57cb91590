/* SPDX-License-Identifier: Apache-2.0 */
/* The host's file system seen from a container (`--host-root DIR`): the host's / is mounted at
 * DIR (read-only) and every host path the config names is looked up under DIR with chroot
 * semantics, while CDI specs and everything else sent to the runtime keep the host's own paths.
 *
 * Resolution walks the path one component at a time under the root: ".." never climbs above the
 * root, a symlink's relative target is followed from its directory and an absolute target starts
 * again at the root. So no path, however its symlinks point, reaches a file outside DIR. A root
 * of NULL or "/" means the plugin sees the host directly: paths are used as given. */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

struct hd_error;

/* Symlinks followed while resolving one path, as the kernel's own limit (then ELOOP). */
#define DM_HOST_ROOT_SYMLINKS_MAX 40

/* true when ROOT means "no host root": NULL, "" or "/". */
bool dm_host_root_is_slash(const char *root);

/* Check DIR for use as the host root: absolute and an existing directory. *RET is its canonical
 * path (owned by the caller), or NULL when DIR is "/" itself. Returns 0 or -errno. */
int dm_host_root_canonical(const char *dir, char **ret, struct hd_error *reterr);

/* Where the host's absolute PATH is visible under ROOT: a new string, root-prefixed, with every
 * symlink inside the root resolved (the last component too). A component that does not exist
 * ends the walk: the rest is appended as written (".." still clamped), so a later stat() of the
 * result fails the way it would on the host. With a "/" root *RET is a copy of PATH. Returns 0,
 * -EINVAL (PATH not absolute) or -ELOOP (more than DM_HOST_ROOT_SYMLINKS_MAX symlinks). */
int dm_host_path_resolve(const char *root, const char *path, char **ret, struct hd_error *reterr);

/* stat(2) of the host's PATH under ROOT. Errors start with WHAT and name PATH (and the root when
 * there is one): "stat '/dev/x' (host root '/host'): No such file or directory". Returns 0 or
 * -errno. */
int dm_host_stat(const char *root, const char *what, const char *path, struct stat *ret,
                 struct hd_error *reterr);

/* Expand glob PATTERN (see glob.h) over the host's files under ROOT (not "/"), one component at
 * a time, with resolution as above. *RET is a new strv of the matching host paths (not
 * root-prefixed), sorted; NULL when nothing matches. Returns 0 or -errno. */
int dm_host_glob(const char *root, const char *pattern, char ***ret, struct hd_error *reterr);
