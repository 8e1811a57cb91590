/* SPDX-License-Identifier: Apache-2.0 */
#include "rpc/socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/strutil.h"

bool rpc_socket_is_live(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path))
                return false;
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return false;
        return connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
}

/* The directory part of the absolute PATH ("/" for "/x"); caller frees. */
static char *parent_dir(const char *path)
{
        char *dir = hd_strdup(path);
        char *slash = strrchr(dir, '/');
        if (slash == dir)
                slash[1] = '\0';
        else
                *slash = '\0';
        return dir;
}

int rpc_socket_prepare(const char *path, struct hd_error *reterr)
{
        struct sockaddr_un sa;
        if (!path || path[0] != '/')
                return hd_error_setf(reterr, EINVAL, "socket path '%s' is not absolute",
                                     path ? path : "");
        if (strlen(path) >= sizeof(sa.sun_path))
                return hd_error_setf(reterr, ENAMETOOLONG,
                                     "socket path '%s' is longer than %zu bytes", path,
                                     sizeof(sa.sun_path) - 1);

        _cleanup_free_ char *dir = parent_dir(path);
        struct stat st;
        if (lstat(dir, &st) < 0) {
                if (errno != ENOENT)
                        return hd_error_set(reterr, errno, "stat socket directory '%s'", dir);
                int r = hd_mkdir_p(dir, 0700, reterr);
                if (r < 0)
                        return r;
                if (lstat(dir, &st) < 0)
                        return hd_error_set(reterr, errno, "stat socket directory '%s'", dir);
        }
        /* Symlinks higher up (a relocated /var/lib/kubelet) are the admin's; the directory we
         * bind in must be the real thing, or the socket lands wherever the link points. */
        if (S_ISLNK(st.st_mode))
                return hd_error_setf(reterr, ELOOP,
                                     "socket directory '%s' is a symbolic link; refusing to "
                                     "follow it",
                                     dir);
        if (!S_ISDIR(st.st_mode))
                return hd_error_setf(reterr, ENOTDIR, "socket directory '%s' is not a directory",
                                     dir);

        if (lstat(path, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                return hd_error_set(reterr, errno, "stat '%s'", path);
        }
        if (!S_ISSOCK(st.st_mode))
                return hd_error_setf(reterr, EEXIST,
                                     "'%s' exists and is not a socket; refusing to replace it",
                                     path);
        if (rpc_socket_is_live(path))
                return hd_error_setf(reterr, EADDRINUSE, "another process is already serving '%s'",
                                     path);
        if (unlink(path) < 0 && errno != ENOENT)
                return hd_error_set(reterr, errno, "remove stale socket '%s'", path);
        return 0;
}

int rpc_socket_secure(const char *path, ino_t *ret_ino, struct hd_error *reterr)
{
        struct stat st;
        if (lstat(path, &st) < 0)
                return hd_error_set(reterr, errno, "stat socket '%s'", path);
        if (!S_ISSOCK(st.st_mode))
                return hd_error_setf(reterr, EEXIST, "'%s' is not a socket; refusing to chmod it",
                                     path);
        /* AT_SYMLINK_NOFOLLOW: a symlink swapped in since the lstat() is not followed. glibc
         * implements it through /proc; without /proc fall back to chmod(), which is safe where
         * the server uses this: in its private 0700 bind directory. */
        int r = fchmodat(AT_FDCWD, path, 0600, AT_SYMLINK_NOFOLLOW);
        if (r < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
                r = chmod(path, 0600);
        if (r < 0)
                return hd_error_set(reterr, errno, "chmod socket '%s'", path);
        if (ret_ino)
                *ret_ino = st.st_ino;
        return 0;
}

int rpc_socket_stage_new(const char *path, struct rpc_socket_stage *ret, struct hd_error *reterr)
{
        struct sockaddr_un sa;
        _cleanup_free_ char *dir = parent_dir(path);
        _cleanup_free_ char *stage =
                hd_asprintf("%s%s.rpc-XXXXXX", dir, hd_endswith(dir, "/") ? "" : "/");
        if (strlen(stage) + 2 >= sizeof(sa.sun_path))
                return hd_error_setf(reterr, ENAMETOOLONG,
                                     "socket path '%s' is too long to bind in a private "
                                     "directory beside it",
                                     path);
        if (!mkdtemp(stage)) /* mode 0700 */
                return hd_error_set(reterr, errno, "create private bind directory in '%s'", dir);
        ret->dir = TAKE_PTR(stage);
        ret->path = hd_asprintf("%s/s", ret->dir);
        return 0;
}

int rpc_socket_publish(struct rpc_socket_stage *stage, const char *path, ino_t *ret_ino,
                       struct hd_error *reterr)
{
        int r = rpc_socket_secure(stage->path, ret_ino, reterr);
        if (r < 0)
                return r;
        /* link() neither follows a symlink nor replaces anything: whatever appeared at PATH
         * since rpc_socket_prepare() makes us fail instead of clobbering it. */
        if (link(stage->path, path) < 0)
                return hd_error_set(reterr, errno, "publish socket '%s'", path);
        rpc_socket_stage_done(stage);
        return 0;
}

void rpc_socket_stage_done(struct rpc_socket_stage *stage)
{
        if (stage->path)
                unlink(stage->path);
        if (stage->dir)
                rmdir(stage->dir);
        free(stage->path);
        free(stage->dir);
        *stage = (struct rpc_socket_stage){0};
}

void rpc_socket_remove(const char *path, ino_t ino)
{
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == ino)
                unlink(path);
}
