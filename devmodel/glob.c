/* SPDX-License-Identifier: Apache-2.0 */
#include "devmodel/glob.h"

#include <errno.h>
#include <glob.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "devmodel/hostroot.h"

bool dm_glob_is_pattern(const char *s)
{
        for (const char *p = s; *p; p++) {
                if (*p == '\\' && p[1]) {
                        p++;
                        continue;
                }
                if (*p == '*' || *p == '?' || *p == '[')
                        return true;
        }
        return false;
}

/* Length of the bracket expression starting at P ('['), or 0 when it is not closed or holds a
 * '/'. */
static size_t bracket_len(const char *p)
{
        const char *q = p + 1;
        if (*q == '!' || *q == '^')
                q++;
        if (*q == ']')
                q++;
        for (; *q; q++) {
                if (*q == '/')
                        return 0;
                if (*q == ']')
                        return (size_t)(q - p) + 1;
        }
        return 0;
}

int dm_glob_check(const char *pattern, size_t *ret_captures, struct hd_error *reterr)
{
        size_t captures = 0;

        if (pattern[0] != '/')
                return hd_error_setf(reterr, EINVAL,
                                     "glob '%s' is not an absolute path; start it with '/'",
                                     pattern);
        if (strstr(pattern, "**"))
                return hd_error_setf(reterr, EINVAL,
                                     "glob '%s': '**' does not recurse here; use one '*' per "
                                     "path component",
                                     pattern);
        for (const char *p = pattern; *p; p++) {
                if (*p == '\\') {
                        if (!p[1])
                                return hd_error_setf(reterr, EINVAL,
                                                     "glob '%s' ends in a lone '\\'; remove it "
                                                     "or escape it as '\\\\'",
                                                     pattern);
                        p++;
                } else if (*p == '[') {
                        size_t n = bracket_len(p);
                        if (n == 0)
                                return hd_error_setf(reterr, EINVAL,
                                                     "glob '%s': '[' at offset %zu is not closed "
                                                     "by ']' within one path component; close "
                                                     "it or escape it as '\\['",
                                                     pattern, (size_t)(p - pattern));
                        p += n - 1;
                        captures++;
                } else if (*p == '*' || *p == '?') {
                        captures++;
                }
        }
        if (captures > DM_GLOB_CAPTURES_MAX)
                return hd_error_setf(reterr, EINVAL,
                                     "glob '%s' has %zu wildcards; at most %d are allowed", pattern,
                                     captures, DM_GLOB_CAPTURES_MAX);
        if (ret_captures)
                *ret_captures = captures;
        return 0;
}

static bool class_match(const char *cls, size_t len, char c)
{
        /* cls points at '[', len includes both brackets */
        const char *p = cls + 1, *end = cls + len - 1;
        bool negate = false, hit = false;
        if (*p == '!' || *p == '^') {
                negate = true;
                p++;
        }
        bool first = true;
        for (; p < end; p++, first = false) {
                if (*p == ']' && !first)
                        break;
                if (p + 2 < end && p[1] == '-') {
                        if ((unsigned char)c >= (unsigned char)p[0] &&
                            (unsigned char)c <= (unsigned char)p[2])
                                hit = true;
                        p += 2;
                } else if (*p == c) {
                        hit = true;
                }
        }
        return hit != negate;
}

struct cap {
        size_t start, len;
};

static bool match_at(const char *pat, const char *str, const char *base, struct cap *caps,
                     size_t ncap)
{
        while (*pat) {
                if (*pat == '*') {
                        for (size_t n = 0;; n++) {
                                caps[ncap] = (struct cap){(size_t)(str - base), n};
                                if (match_at(pat + 1, str + n, base, caps, ncap + 1))
                                        return true;
                                if (!str[n] || str[n] == '/')
                                        return false;
                        }
                }
                if (!*str)
                        return false;
                if (*pat == '?') {
                        if (*str == '/')
                                return false;
                        caps[ncap++] = (struct cap){(size_t)(str - base), 1};
                        pat++;
                        str++;
                } else if (*pat == '[') {
                        size_t n = bracket_len(pat);
                        if (n == 0) {
                                if (*str != '[')
                                        return false;
                                pat++;
                                str++;
                                continue;
                        }
                        if (*str == '/' || !class_match(pat, n, *str))
                                return false;
                        caps[ncap++] = (struct cap){(size_t)(str - base), 1};
                        pat += n;
                        str++;
                } else {
                        if (*pat == '\\' && pat[1])
                                pat++;
                        if (*pat != *str)
                                return false;
                        pat++;
                        str++;
                }
        }
        return *str == '\0';
}

bool dm_glob_match(const char *pattern, const char *path, char ***ret_captures)
{
        struct cap caps[DM_GLOB_CAPTURES_MAX + 1] = {0};
        size_t n = 0;

        for (const char *p = pattern; *p; p++) {
                if (*p == '\\' && p[1])
                        p++;
                else if (*p == '*' || *p == '?' || (*p == '[' && bracket_len(p)))
                        n++;
        }
        if (n > DM_GLOB_CAPTURES_MAX)
                return false;
        if (!match_at(pattern, path, path, caps, 0))
                return false;
        if (ret_captures) {
                char **v = hd_new0(char *, n + 1);
                for (size_t i = 0; i < n; i++)
                        v[i] = hd_strndup(path + caps[i].start, caps[i].len);
                *ret_captures = v;
        }
        return true;
}

static int cmp_match(const void *a, const void *b)
{
        return strcmp(((const struct dm_glob_match *)a)->path,
                      ((const struct dm_glob_match *)b)->path);
}

/* The paths PATTERN matches: glob(3) on the host's own tree, dm_host_glob() under a host root. */
static int expand_paths(const char *root, const char *pattern, char ***ret, struct hd_error *reterr)
{
        if (!dm_host_root_is_slash(root))
                return dm_host_glob(root, pattern, ret, reterr);
        glob_t g = {0};
        int r = glob(pattern, 0, NULL, &g);
        *ret = NULL;
        if (r != 0 && r != GLOB_NOMATCH) {
                globfree(&g);
                return hd_error_set(reterr, r == GLOB_NOSPACE ? ENOMEM : EIO, "expand glob '%s'",
                                    pattern);
        }
        for (size_t i = 0; r == 0 && i < g.gl_pathc; i++)
                hd_strv_push(ret, g.gl_pathv[i]);
        globfree(&g);
        return 0;
}

int dm_glob_expand(const char *root, const char *pattern, struct dm_glob_match **ret, size_t *ret_n,
                   struct hd_error *reterr)
{
        _cleanup_strv_ char **paths = NULL;

        *ret = NULL;
        *ret_n = 0;
        int r = expand_paths(root, pattern, &paths, reterr);
        if (r < 0)
                return r;
        size_t total = hd_strv_len(paths);
        if (total == 0)
                return 0;
        struct dm_glob_match *m = hd_new0(struct dm_glob_match, total);
        size_t n = 0;
        for (size_t i = 0; i < total; i++) {
                char **caps = NULL;
                /* glob(3) and our matcher agree on syntax; a path that the matcher does not
                 * take (never expected) is skipped rather than given wrong captures. */
                if (!dm_glob_match(pattern, paths[i], &caps))
                        continue;
                m[n].path = hd_strdup(paths[i]);
                m[n].captures = caps;
                n++;
        }
        qsort(m, n, sizeof(*m), cmp_match);
        *ret = m;
        *ret_n = n;
        return 0;
}

void dm_glob_matches_free(struct dm_glob_match *m, size_t n)
{
        if (!m)
                return;
        for (size_t i = 0; i < n; i++) {
                free(m[i].path);
                hd_strv_free(m[i].captures);
        }
        free(m);
}
