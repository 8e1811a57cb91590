/* SPDX-License-Identifier: Apache-2.0 */
/* Safe file I/O for shared, privileged directories (CDI root, plugin state dir). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct hd_error;

/* Open directory PATH without following a symlink in its last component (O_DIRECTORY |
 * O_NOFOLLOW | O_CLOEXEC). Returns the fd or -errno. */
int hd_dir_open(const char *path, struct hd_error *reterr);

/* Create directory PATH and missing parents with MODE (existing dirs are left as they are).
 * Returns 0 or -errno. */
int hd_mkdir_p(const char *path, mode_t mode, struct hd_error *reterr);

/* Atomically replace NAME (a plain file name, no '/') inside directory DIRFD with DATA:
 * temp file "<.NAME.XXXXXX>" created O_EXCL|O_NOFOLLOW in the same dir, write, fchmod(MODE),
 * fsync, renameat, fsync(dir). A reader sees the old or the new file, never a partial one.
 * An existing NAME that is a symlink or not a regular file is refused (-ELOOP / -EISDIR...)
 * and left untouched. On failure the temp file is removed. Returns 0 or -errno. */
int hd_atomic_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                       struct hd_error *reterr);

/* Same, for an absolute or relative PATH: its directory is opened with hd_dir_open(). */
int hd_atomic_write(const char *path, const void *data, size_t len, mode_t mode,
                    struct hd_error *reterr);

/* Remove the temp files hd_atomic_write_at() left in DIRFD for names starting with PREFIX
 * (".<PREFIX...>.<8 hex>.tmp"): a crash between creating and renaming one leaves it behind.
 * Call at start-up, before this process writes there. Returns how many were removed, or
 * -errno. */
int hd_atomic_sweep_at(int dirfd, const char *prefix, struct hd_error *reterr);

/* Same for the temp files of the one file PATH; a missing directory is 0. */
int hd_atomic_sweep(const char *path, struct hd_error *reterr);

/* Remove NAME in DIRFD (never a directory); a missing file is success. Returns 0 or -errno. */
int hd_unlink_at(int dirfd, const char *name, struct hd_error *reterr);

/* Read a whole regular file of at most MAX bytes (bigger → -EFBIG) into a NUL-terminated
 * buffer the caller frees. With NOFOLLOW a symlink in the last component is refused. */
int hd_read_file(const char *path, size_t max, bool nofollow, char **ret_data, size_t *ret_len,
                 struct hd_error *reterr);

/* Parses the LEN bytes at DATA (NUL-terminated) read from PATH into USERDATA's target. */
typedef int (*hd_file_parse_cb)(const char *path, const char *data, size_t len, void *userdata,
                                struct hd_error *reterr);

/* Read PATH as hd_read_file() does (at most MAX bytes, NOFOLLOW) and hand the bytes to PARSE_CB.
 * A read failure is hd_read_file()'s, wrapped with WHAT unless it is NULL ("read config: open
 * '/x': ..."); a parse failure is PARSE_CB's, as it reported it (PARSE_CB gets PATH to name
 * it). Returns PARSE_CB's result or -errno. */
int hd_read_file_parse(const char *path, size_t max, bool nofollow, const char *what,
                       hd_file_parse_cb parse_cb, void *userdata, struct hd_error *reterr);

/* true when NAME is a safe single path component: non-empty, not "." or "..", no '/', no NUL,
 * at most 255 bytes. */
bool hd_filename_is_safe(const char *name);
