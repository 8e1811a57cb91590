/* SPDX-License-Identifier: Apache-2.0 */
#include "devmodel/hostroot.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"

bool dm_host_root_is_slash(const char *root)
{
        return !root || !*root || hd_streq(root, "/");
}

int dm_host_root_canonical(const char *dir, char **ret, struct hd_error *reterr)
{
        *ret = NULL;
        if (!dir || dir[0] != '/')
                return hd_error_setf(reterr, EINVAL,
                                     "host root '%s' is not an absolute path; give the directory "
                                     "where the host's / is mounted, e.g. /host",
                                     dir ? dir : "");
        _cleanup_free_ char *real = realpath(dir, NULL);
        if (!real)
                return hd_error_set(reterr, errno, "host root '%s'", dir);
        struct stat st;
        if (stat(real, &st) < 0)
                return hd_error_set(reterr, errno, "host root '%s'", dir);
        if (!S_ISDIR(st.st_mode))
                return hd_error_set(reterr, ENOTDIR, "host root '%s'", dir);
        if (!hd_streq(real, "/"))
                *ret = TAKE_PTR(real);
        return 0;
}

/* The target of the symlink at FULL (SIZE bytes by lstat), or NULL when it cannot be read. */
static char *read_link(const char *full, off_t size)
{
        size_t cap = size > 0 && size < 65536 ? (size_t)size + 1 : 4096;
        _cleanup_free_ char *buf = hd_malloc0(cap + 1);
        ssize_t n = readlink(full, buf, cap);
        if (n < 0 || (size_t)n >= cap)
                return NULL;
        buf[n] = '\0';
        return TAKE_PTR(buf);
}

/* Drop the last component of B ("/a/b" → "/a"; "/a" → ""): ".." clamped at the root. */
static void pop_component(struct hd_strbuf *b)
{
        char *slash = b->buf ? strrchr(b->buf, '/') : NULL;
        hd_strbuf_truncate(b, slash ? (size_t)(slash - b->buf) : 0);
}

int dm_host_path_resolve(const char *root, const char *path, char **ret, struct hd_error *reterr)
{
        *ret = NULL;
        if (!path || path[0] != '/')
                return hd_error_setf(reterr, EINVAL, "host path '%s' is not absolute",
                                     path ? path : "");
        if (dm_host_root_is_slash(root)) {
                *ret = hd_strdup(path);
                return 0;
        }
        struct hd_strbuf done = HD_STRBUF_INIT; /* resolved so far, host side: "" or "/a/b" */
        _cleanup_free_ char *todo = hd_strdup(path);
        const char *p = todo;
        unsigned links = 0;
        bool missing = false;
        int r = 0;

        for (;;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                size_t len = strcspn(p, "/");
                const char *next = p + len;
                if (len == 1 && p[0] == '.') {
                        p = next;
                        continue;
                }
                if (len == 2 && p[0] == '.' && p[1] == '.') {
                        pop_component(&done);
                        p = next;
                        continue;
                }
                size_t before = done.len;
                hd_strbuf_puts(&done, "/");
                hd_strbuf_append(&done, p, len);
                p = next;
                if (missing)
                        continue;
                _cleanup_free_ char *full = hd_asprintf("%s%s", root, done.buf);
                struct stat st;
                if (lstat(full, &st) < 0) {
                        missing = true; /* the rest is taken as written */
                        continue;
                }
                if (!S_ISLNK(st.st_mode))
                        continue;
                if (++links > DM_HOST_ROOT_SYMLINKS_MAX) {
                        r = hd_error_setf(reterr, ELOOP,
                                          "host path '%s': more than %d symlinks under host root "
                                          "'%s'",
                                          path, DM_HOST_ROOT_SYMLINKS_MAX, root);
                        break;
                }
                _cleanup_free_ char *target = read_link(full, st.st_size);
                if (!target) {
                        missing = true;
                        continue;
                }
                /* Follow the link: its target replaces the component, relative to the link's
                 * directory, or to the root when absolute. */
                hd_strbuf_truncate(&done, target[0] == '/' ? 0 : before);
                char *rest = hd_asprintf("%s/%s", target, p);
                free(todo);
                todo = rest;
                p = todo;
        }
        if (r >= 0)
                *ret = hd_asprintf("%s%s", root, done.len ? done.buf : "");
        hd_strbuf_done(&done);
        return r;
}

int dm_host_stat(const char *root, const char *what, const char *path, struct stat *ret,
                 struct hd_error *reterr)
{
        _cleanup_free_ char *full = NULL;
        int r = dm_host_path_resolve(root, path, &full, reterr);
        if (r < 0)
                return r;
        if (stat(full, ret) == 0)
                return 0;
        if (dm_host_root_is_slash(root))
                return hd_error_set(reterr, errno, "%s '%s'", what, path);
        return hd_error_set(reterr, errno, "%s '%s' (host root '%s')", what, path, root);
}

/* Append to *OUT every entry of host directory PREFIX under ROOT that COMP matches. */
static int match_dir(const char *root, const char *prefix, const char *comp, char ***out,
                     struct hd_error *reterr)
{
        _cleanup_free_ char *dir = NULL;
        int r = dm_host_path_resolve(root, *prefix ? prefix : "/", &dir, reterr);
        if (r < 0)
                return r;
        DIR *d = opendir(dir);
        if (!d)
                return 0; /* like glob(3): an unreadable or missing directory matches nothing */
        struct dirent *de;
        while ((de = readdir(d))) {
                if (hd_streq(de->d_name, ".") || hd_streq(de->d_name, ".."))
                        continue;
                if (fnmatch(comp, de->d_name, FNM_PERIOD) == 0)
                        hd_strv_consume(out, hd_asprintf("%s/%s", prefix, de->d_name));
        }
        closedir(d);
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keep the candidates of *V that exist under ROOT; sort them. */
static void keep_existing(const char *root, char ***v)
{
        char **in = *v, **out = NULL;
        for (size_t i = 0; in && in[i]; i++) {
                _cleanup_free_ char *full = NULL;
                if (dm_host_path_resolve(root, in[i], &full, NULL) >= 0 && access(full, F_OK) == 0)
                        hd_strv_push(&out, in[i]);
        }
        hd_strv_free(in);
        if (out)
                qsort(out, hd_strv_len(out), sizeof(*out), cmp_str);
        *v = out;
}

int dm_host_glob(const char *root, const char *pattern, char ***ret, struct hd_error *reterr)
{
        _cleanup_strv_ char **cur = NULL;
        const char *p = pattern;
        int r = 0;

        *ret = NULL;
        hd_strv_push(&cur, "");
        while (cur && r >= 0) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                size_t len = strcspn(p, "/");
                _cleanup_free_ char *comp = hd_strndup(p, len);
                p += len;
                char **next = NULL;
                /* A component with a wildcard or an escape is matched against the directory;
                 * a plain one is taken as it is. */
                if (!strpbrk(comp, "*?[\\")) {
                        for (size_t i = 0; cur[i]; i++)
                                hd_strv_consume(&next, hd_asprintf("%s/%s", cur[i], comp));
                } else {
                        for (size_t i = 0; cur[i] && r >= 0; i++)
                                r = match_dir(root, cur[i], comp, &next, reterr);
                }
                hd_strv_free(cur);
                cur = next;
        }
        if (r < 0)
                return hd_error_wrap(reterr, "expand glob '%s'", pattern);
        keep_existing(root, &cur);
        *ret = TAKE_PTR(cur);
        return 0;
}
