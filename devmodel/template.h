/* SPDX-License-Identifier: Apache-2.0 */
/* Value templates of the device config: "{index}", "{name}", "{path}", "{major}", "{minor}",
 * "{device}" and glob captures "{1}".."{9}" are replaced by what discovery found; "{{" and "}}"
 * stand for literal braces. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hd_error;

enum {
        DM_TVAR_INDEX = 1 << 0, /* position of the device in its group (0-based, by path) */
        DM_TVAR_NAME = 1 << 1,  /* last component of the host path */
        DM_TVAR_PATH = 1 << 2,  /* host path */
        DM_TVAR_MAJOR = 1 << 3,
        DM_TVAR_MINOR = 1 << 4,
        DM_TVAR_DEVICE = 1 << 5, /* the device's (base) name in the ResourceSlice */
        DM_TVAR_CAPTURE = 1 << 6,
        DM_TVAR_ALL = 0x7f,
};

struct dm_template_vars {
        uint64_t index;
        const char *name;
        const char *path;
        unsigned major, minor;
        const char *device;    /* NULL while the device name itself is rendered */
        char *const *captures; /* strv; may be NULL */
};

/* true when TMPL contains at least one variable (escaped braces do not count). */
bool dm_template_has_vars(const char *tmpl);

/* Check TMPL's syntax: every variable known and in ALLOWED, captures at most N_CAPTURES.
 * Returns 0 or -EINVAL with a message naming the variable and the allowed ones. */
int dm_template_check(const char *tmpl, unsigned allowed, size_t n_captures,
                      struct hd_error *reterr);

/* Render TMPL with VARS into a new string *RET. Returns 0 or -EINVAL (a variable with no
 * value, e.g. a capture the match did not produce). */
int dm_template_render(const char *tmpl, const struct dm_template_vars *vars, char **ret,
                       struct hd_error *reterr);
