/* SPDX-License-Identifier: Apache-2.0 */
/* Unix-socket hygiene for gRPC servers. The gRPC core unlinks whatever sits at the path when it
 * binds, so before binding we check ourselves that no live process serves it. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct hd_error;

/* Get PATH ready for bind: it must be absolute and fit sockaddr_un; the parent directory is
 * created 0700 if missing and must not be a symbolic link; an existing socket that accepts a
 * connection means another instance is live → -EADDRINUSE; a socket nobody answers (left by a
 * crash) is removed; anything else at PATH is refused with -EEXIST. Returns 0 or -errno with a
 * message. */
int rpc_socket_prepare(const char *path, struct hd_error *reterr);

/* true if a process accepts connections on the unix socket PATH right now. */
bool rpc_socket_is_live(const char *path);

/* Set the socket PATH to mode 0600 without following a symlink (a non-socket is refused) and
 * record its inode so we later remove only our own socket. Use it on a path in a directory only
 * we can write: in a shared directory others could connect before the chmod. */
int rpc_socket_secure(const char *path, ino_t *ret_ino, struct hd_error *reterr);

/* Binding without a window: the gRPC core binds with the process umask and offers no way to
 * fchmod() its socket before bind(), and changing the umask is process-wide. So the core binds
 * in a fresh 0700 directory beside PATH, where nobody else can connect; the socket is made 0600
 * there and only then given its public name. */
struct rpc_socket_stage {
        char *dir;  /* "<dir of PATH>/.rpc-XXXXXX", mode 0700 */
        char *path; /* "<dir>/s": where to bind */
};

/* Create the private directory for PATH (already checked by rpc_socket_prepare()). */
int rpc_socket_stage_new(const char *path, struct rpc_socket_stage *ret, struct hd_error *reterr);

/* After bind at STAGE->path: chmod 0600 (rpc_socket_secure()), hard-link it at PATH (never
 * replacing or following anything there) and remove the stage. *RET_INO gets the inode. */
int rpc_socket_publish(struct rpc_socket_stage *stage, const char *path, ino_t *ret_ino,
                       struct hd_error *reterr);

/* Remove what is left of STAGE. Idempotent. */
void rpc_socket_stage_done(struct rpc_socket_stage *stage);

/* Remove PATH if it is still the socket with inode INO (a successor may have replaced it). */
void rpc_socket_remove(const char *path, ino_t ino);
