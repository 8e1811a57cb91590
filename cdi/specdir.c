/* SPDX-License-Identifier: Apache-2.0 */
/* Operations on a CDI spec directory (/var/run/cdi by default): atomic write, idempotent
 * remove, and listing the spec files we own. The directory is shared with other producers and
 * read by privileged runtimes, so no path component we name is followed as a symlink, and
 * readers never see a partial file (the temp name does not end in .json). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/strutil.h"
#include "cdi/cdi-internal.h"
#include "cdi/cdi.h"

#define CDI_ROOT_MODE 0755
#define CDI_SPEC_MODE 0644
#define CDI_LIST_MAX 65536 /* cap on names returned from one directory */

static bool has_spec_extension(const char *name)
{
        return hd_endswith(name, ".json") || hd_endswith(name, ".yaml");
}

int cdi_spec_write(const char *cdi_root, const char *file_name, const struct cdi_spec *spec,
                   struct hd_error *reterr)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int dirfd = -1;
        int r;

        if (!hd_filename_is_safe(file_name) || !hd_endswith(file_name, ".json") ||
            strlen(file_name) <= strlen(".json"))
                return hd_error_setf(reterr, EINVAL,
                                     "invalid CDI spec file name \"%s\": need a plain name ending "
                                     "in .json",
                                     file_name ? file_name : "");
        r = cdi_spec_validate(spec, reterr);
        if (r < 0)
                return hd_error_wrap_r(reterr, r, "CDI spec %s", file_name);
        r = cdi_spec_to_json_checked(spec, &text, reterr);
        if (r < 0)
                return hd_error_wrap_r(reterr, r, "CDI spec %s", file_name);
        if (strlen(text) > CDI_SPEC_MAX_SIZE) /* what cdi_spec_load_file() reads back */
                return hd_error_setf(reterr, EFBIG,
                                     "CDI spec %s would be %zu bytes, more than the %u bytes a "
                                     "spec may have (CDI_SPEC_MAX_SIZE)",
                                     file_name, strlen(text), CDI_SPEC_MAX_SIZE);

        r = hd_mkdir_p(cdi_root, CDI_ROOT_MODE, reterr);
        if (r < 0)
                return hd_error_wrap_r(reterr, r, "CDI root");
        dirfd = hd_dir_open(cdi_root, reterr);
        if (dirfd < 0)
                return hd_error_wrap_r(reterr, dirfd, "CDI root");
        r = hd_atomic_write_at(dirfd, file_name, text, strlen(text), CDI_SPEC_MODE, reterr);
        if (r < 0)
                return hd_error_wrap_r(reterr, r, "CDI root '%s'", cdi_root);
        return 0;
}

/* Open CDI_ROOT; a missing root gives -ENOENT without touching RETERR. */
static int open_root(const char *cdi_root, struct hd_error *reterr)
{
        struct hd_error e = HD_ERROR_INIT;
        int fd;

        fd = hd_dir_open(cdi_root, &e);
        if (fd == -ENOENT) {
                hd_error_done(&e);
                return -ENOENT;
        }
        if (fd < 0) {
                hd_error_move(reterr, &e);
                return hd_error_wrap_r(reterr, fd, "CDI root");
        }
        return fd;
}

int cdi_spec_remove(const char *cdi_root, const char *file_name, struct hd_error *reterr)
{
        _cleanup_close_ int dirfd = -1;
        int r;

        if (!hd_filename_is_safe(file_name))
                return hd_error_setf(reterr, EINVAL, "invalid CDI spec file name \"%s\"",
                                     file_name ? file_name : "");
        dirfd = open_root(cdi_root, reterr);
        if (dirfd == -ENOENT)
                return 0;
        if (dirfd < 0)
                return dirfd;
        r = hd_unlink_at(dirfd, file_name, reterr);
        if (r < 0)
                return hd_error_wrap_r(reterr, r, "remove CDI spec '%s/%s'", cdi_root, file_name);
        if (fsync(dirfd) < 0)
                return hd_error_set(reterr, errno, "fsync '%s'", cdi_root);
        return 0;
}

static int strcmp_ptr(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

int cdi_spec_list_owned(const char *cdi_root, const char *prefix, char ***ret_names,
                        struct hd_error *reterr)
{
        _cleanup_(closedirp) DIR *dir = NULL;
        _cleanup_strv_ char **names = NULL;
        size_t n = 0;
        int fd;

        fd = open_root(cdi_root, reterr);
        if (fd == -ENOENT) {
                *ret_names = hd_new0(char *, 1);
                return 0;
        }
        if (fd < 0)
                return fd;
        dir = fdopendir(fd);
        if (!dir) {
                int err = errno;

                close(fd);
                return hd_error_set(reterr, err, "read CDI root '%s'", cdi_root);
        }

        for (;;) {
                struct dirent *de;
                struct stat st;
                bool regular;

                errno = 0;
                de = readdir(dir);
                if (!de) {
                        if (errno != 0)
                                return hd_error_set(reterr, errno, "read CDI root '%s'", cdi_root);
                        break;
                }
                if (!hd_startswith(de->d_name, prefix ? prefix : "") ||
                    !has_spec_extension(de->d_name))
                        continue;
                if (de->d_type == DT_UNKNOWN)
                        regular = fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                                  S_ISREG(st.st_mode);
                else
                        regular = de->d_type == DT_REG;
                if (!regular)
                        continue;
                if (n >= CDI_LIST_MAX)
                        return hd_error_setf(reterr, E2BIG,
                                             "CDI root '%s' holds more than %d owned specs",
                                             cdi_root, CDI_LIST_MAX);
                hd_strv_push(&names, de->d_name);
                n++;
        }

        if (!names)
                names = hd_new0(char *, 1);
        qsort(names, n, sizeof(*names), strcmp_ptr);
        *ret_names = TAKE_PTR(names);
        return (int)n;
}

int cdi_spec_sweep_temp(const char *cdi_root, const char *prefix, struct hd_error *reterr)
{
        _cleanup_close_ int dirfd = open_root(cdi_root, reterr);
        if (dirfd == -ENOENT)
                return 0;
        if (dirfd < 0)
                return dirfd;
        int r = hd_atomic_sweep_at(dirfd, prefix, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "CDI root '%s'", cdi_root);
        return r;
}
