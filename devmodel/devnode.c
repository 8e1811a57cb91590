/* SPDX-License-Identifier: Apache-2.0 */
#include "devmodel/devnode.h"

#include <errno.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "base/error.h"
#include "devmodel/hostroot.h"

int dm_devnode_stat(const char *root, const char *path, char *ret_type, unsigned *ret_major,
                    unsigned *ret_minor, struct hd_error *reterr)
{
        struct stat st;

        int r = dm_host_stat(root, "stat", path, &st, reterr);
        if (r < 0)
                return r;
        if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
                return hd_error_setf(reterr, ENOTBLK,
                                     "'%s' is not a character or block device node", path);
        *ret_type = S_ISCHR(st.st_mode) ? 'c' : 'b';
        *ret_major = major(st.st_rdev);
        *ret_minor = minor(st.st_rdev);
        return 0;
}
