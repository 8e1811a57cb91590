/* SPDX-License-Identifier: Apache-2.0 */
/* Unix-socket hygiene for gRPC servers. The gRPC core unlinks whatever sits at the path when it
 * binds, so before binding we check ourselves that no live process serves it. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct hd_error;

/* Get PATH ready for bind: it must be absolute and fit sockaddr_un; the parent directory is
 * created 0700 if missing; an existing socket that accepts a connection means another instance
 * is live → -EADDRINUSE; a socket nobody answers (left by a crash) is removed; anything else at
 * PATH is refused with -EEXIST. Returns 0 or -errno with a message. */
int rpc_socket_prepare(const char *path, struct hd_error *reterr);

/* true if a process accepts connections on the unix socket PATH right now. */
bool rpc_socket_is_live(const char *path);

/* After bind: set mode 0600 and record the inode so we later remove only our own socket. */
int rpc_socket_secure(const char *path, ino_t *ret_ino, struct hd_error *reterr);

/* Remove PATH if it is still the socket with inode INO (a successor may have replaced it). */
void rpc_socket_remove(const char *path, ino_t ino);
