/* SPDX-License-Identifier: Apache-2.0 */
/* Path globs of the device config: POSIX glob(3) patterns ('*', '?', '[...]', '\' escapes) over
 * absolute paths, where each wildcard is also a capture the templates can use as {1}..{9}. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct hd_error;

#define DM_GLOB_CAPTURES_MAX 9

struct dm_glob_match {
        char *path;      /* owned; the matched path */
        char **captures; /* owned strv; text matched by each wildcard, in pattern order */
};

/* true when S holds an unescaped glob metacharacter ('*', '?' or '['). */
bool dm_glob_is_pattern(const char *s);

/* Check PATTERN: absolute, no "**", brackets closed and not containing '/', no trailing '\', at
 * most 9 wildcards. Stores the number of wildcards in *RET_CAPTURES (may be NULL). Returns 0 or
 * -EINVAL with a message saying how to fix the pattern. */
int dm_glob_check(const char *pattern, size_t *ret_captures, struct hd_error *reterr);

/* Match PATH against PATTERN as glob(3) would (wildcards never match '/'). On a match returns
 * true and, when RET_CAPTURES is not NULL, a new strv of the captured texts. */
bool dm_glob_match(const char *pattern, const char *path, char ***ret_captures);

/* Expand PATTERN on the host's file system, seen under ROOT (the host root, see hostroot.h;
 * NULL or "/" = this file system), sorted by path. Matches are host paths. Zero matches is
 * success (*RET_N = 0). The caller frees the array with dm_glob_matches_free(). Returns 0 or
 * -errno. */
int dm_glob_expand(const char *root, const char *pattern, struct dm_glob_match **ret, size_t *ret_n,
                   struct hd_error *reterr);

void dm_glob_matches_free(struct dm_glob_match *m, size_t n);
