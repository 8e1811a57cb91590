/* SPDX-License-Identifier: Apache-2.0 */
#include "base/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/failpoint.h"
#include "base/strutil.h"

bool hd_filename_is_safe(const char *name)
{
        if (!name || !*name || strlen(name) > NAME_MAX)
                return false;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return false;
        return strchr(name, '/') == NULL;
}

int hd_dir_open(const char *path, struct hd_error *reterr)
{
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
                return fd;
        int err = errno;
        struct stat st;
        /* O_NOFOLLOW|O_DIRECTORY on a symlink gives ENOTDIR; name the real reason. */
        if ((err == ENOTDIR || err == ELOOP) && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
                return hd_error_setf(reterr, ELOOP, "refusing to follow symlink '%s'", path);
        return hd_error_set(reterr, err, "open directory '%s'", path);
}

int hd_mkdir_p(const char *path, mode_t mode, struct hd_error *reterr)
{
        _cleanup_free_ char *copy = hd_strdup(path);
        size_t len = strlen(copy);
        while (len > 1 && copy[len - 1] == '/')
                copy[--len] = '\0';
        for (char *p = copy + 1;; p++) {
                bool end = *p == '\0';
                if (*p == '/' || end) {
                        *p = '\0';
                        if (mkdir(copy, mode) < 0 && errno != EEXIST)
                                return hd_error_set(reterr, errno, "create directory '%s'", copy);
                        if (end)
                                break;
                        *p = '/';
                }
        }
        struct stat st;
        if (stat(copy, &st) < 0)
                return hd_error_set(reterr, errno, "stat '%s'", copy);
        if (!S_ISDIR(st.st_mode))
                return hd_error_set(reterr, ENOTDIR, "'%s'", copy);
        return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
        const char *p = data;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Refuse to replace anything but a regular file: a symlink planted at the target is an attack
 * on a privileged writer, a directory a misconfiguration. */
static int check_target(int dirfd, const char *name, const char *shown, struct hd_error *reterr)
{
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return hd_error_set(reterr, errno, "stat '%s'", shown);
        }
        if (S_ISLNK(st.st_mode))
                return hd_error_setf(reterr, ELOOP, "refusing to replace symlink '%s'", shown);
        if (!S_ISREG(st.st_mode))
                return hd_error_setf(reterr, EEXIST, "refusing to replace non-regular file '%s'",
                                     shown);
        return 0;
}

/* The write behind both entry points; messages name SHOWN (the caller's path) once. */
static int atomic_write(int dirfd, const char *name, const char *shown, const void *data,
                        size_t len, mode_t mode, struct hd_error *reterr)
{
        if (!hd_filename_is_safe(name))
                return hd_error_setf(reterr, EINVAL, "invalid file name '%s'", shown);
        int r = check_target(dirfd, name, shown, reterr);
        if (r < 0)
                return r;

        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
                free(tmp);
                tmp = hd_asprintf(".%.200s.%08lx.tmp", name,
                                  (unsigned long)((unsigned)random() ^ (unsigned)getpid()));
                fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0 && errno != EEXIST)
                        return hd_error_set(reterr, errno, "create temporary file for '%s'", shown);
        }
        if (fd < 0)
                return hd_error_set(reterr, EEXIST, "create temporary file for '%s'", shown);

        r = write_all(fd, data, len);
        if (r < 0) {
                hd_error_set(reterr, -r, "write '%s'", shown);
                goto fail;
        }
        hd_failpoint_file("fileio-temp-written", name);
        if (fchmod(fd, mode) < 0) {
                r = hd_error_set(reterr, errno, "chmod '%s'", shown);
                goto fail;
        }
        if (fsync(fd) < 0) {
                r = hd_error_set(reterr, errno, "fsync '%s'", shown);
                goto fail;
        }
        hd_failpoint_file("fileio-before-rename", name);
        if (renameat(dirfd, tmp, dirfd, name) < 0) {
                r = hd_error_set(reterr, errno, "rename into '%s'", shown);
                goto fail;
        }
        hd_failpoint_file("fileio-after-rename", name);
        if (fsync(dirfd) < 0)
                return hd_error_set(reterr, errno, "fsync directory of '%s'", shown);
        return 0;
fail:
        unlinkat(dirfd, tmp, 0);
        return r;
}

int hd_atomic_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                       struct hd_error *reterr)
{
        return atomic_write(dirfd, name, name ? name : "", data, len, mode, reterr);
}

/* Open the directory of 'path' no-follow; *ret_name points into 'path' at its last part.
 * Returns the directory fd or -errno. */
static int open_parent(const char *path, const char **ret_name, struct hd_error *reterr)
{
        const char *slash = strrchr(path, '/');
        *ret_name = slash ? slash + 1 : path;
        if (!slash)
                return hd_dir_open(".", reterr);
        if (slash == path)
                return hd_dir_open("/", reterr);
        _cleanup_free_ char *dir = hd_strndup(path, (size_t)(slash - path));
        return hd_dir_open(dir, reterr);
}

int hd_atomic_write(const char *path, const void *data, size_t len, mode_t mode,
                    struct hd_error *reterr)
{
        const char *name;
        _cleanup_close_ int dirfd = open_parent(path, &name, reterr);
        if (dirfd < 0)
                return dirfd;
        return atomic_write(dirfd, name, path, data, len, mode, reterr);
}

/* Is FILE a temp file hd_atomic_write_at() made for a name starting with PREFIX (EXACT: for
 * the name PREFIX): ".<PREFIX...>.<8 hex digits>.tmp"? */
static bool is_temp_of(const char *file, const char *prefix, bool exact)
{
        size_t len = strlen(file), plen = strlen(prefix);
        const size_t tail = strlen(".01234567.tmp");
        if (file[0] != '.' || len < 1 + plen + tail || (exact && len != 1 + plen + tail) ||
            strncmp(file + 1, prefix, plen) != 0 || !hd_endswith(file, ".tmp"))
                return false;
        const char *hex = file + len - tail;
        if (*hex++ != '.')
                return false;
        for (int i = 0; i < 8; i++)
                if (!isxdigit((unsigned char)hex[i]))
                        return false;
        return true;
}

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

static int sweep(int dirfd, const char *prefix, bool exact, struct hd_error *reterr)
{
        int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
                return hd_error_set(reterr, errno, "duplicate directory descriptor");
        _cleanup_(closedirp) DIR *dir = fdopendir(fd);
        if (!dir) {
                int err = errno;
                close(fd);
                return hd_error_set(reterr, err, "read directory");
        }
        rewinddir(dir);
        int removed = 0;
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(dir);
                if (!de) {
                        if (errno != 0)
                                return hd_error_set(reterr, errno, "read directory");
                        break;
                }
                if (!is_temp_of(de->d_name, prefix, exact))
                        continue;
                if (unlinkat(dirfd, de->d_name, 0) < 0 && errno != ENOENT)
                        return hd_error_set(reterr, errno, "remove '%s'", de->d_name);
                removed++;
        }
        if (removed > 0 && fsync(dirfd) < 0)
                return hd_error_set(reterr, errno, "fsync directory");
        return removed;
}

int hd_atomic_sweep_at(int dirfd, const char *prefix, struct hd_error *reterr)
{
        return sweep(dirfd, prefix, false, reterr);
}

int hd_atomic_sweep(const char *path, struct hd_error *reterr)
{
        const char *name;
        _cleanup_close_ int dirfd = open_parent(path, &name, reterr);
        if (dirfd == -ENOENT) {
                hd_error_done(reterr);
                return 0;
        }
        if (dirfd < 0)
                return dirfd;
        int r = sweep(dirfd, name, true, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "remove temporary files of '%s'", path);
        return r;
}

int hd_unlink_at(int dirfd, const char *name, struct hd_error *reterr)
{
        if (!hd_filename_is_safe(name))
                return hd_error_setf(reterr, EINVAL, "invalid file name '%s'", name ? name : "");
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
                return hd_error_set(reterr, errno, "remove '%s'", name);
        return 0;
}

int hd_read_file(const char *path, size_t max, bool nofollow, char **ret_data, size_t *ret_len,
                 struct hd_error *reterr)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
        if (fd < 0)
                return hd_error_set(reterr, errno, "open '%s'", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return hd_error_set(reterr, errno, "stat '%s'", path);
        if (!S_ISREG(st.st_mode))
                return hd_error_setf(reterr, EINVAL, "'%s' is not a regular file", path);

        struct hd_strbuf b = HD_STRBUF_INIT;
        char chunk[16384];
        for (;;) {
                ssize_t n = read(fd, chunk, sizeof(chunk));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int err = errno;
                        hd_strbuf_done(&b);
                        return hd_error_set(reterr, err, "read '%s'", path);
                }
                if (n == 0)
                        break;
                if (b.len + (size_t)n > max) {
                        hd_strbuf_done(&b);
                        return hd_error_setf(reterr, EFBIG, "'%s' is larger than %zu bytes", path,
                                             max);
                }
                hd_strbuf_append(&b, chunk, (size_t)n);
        }
        if (ret_len)
                *ret_len = b.len;
        *ret_data = hd_strbuf_take(&b);
        return 0;
}

int hd_read_file_parse(const char *path, size_t max, bool nofollow, const char *what,
                       hd_file_parse_cb parse_cb, void *userdata, struct hd_error *reterr)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r = hd_read_file(path, max, nofollow, &data, &len, reterr);
        if (r < 0)
                return what ? hd_error_wrap_r(reterr, r, "%s", what) : r;
        return parse_cb(path, data, len, userdata, reterr);
}
