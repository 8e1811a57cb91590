/* SPDX-License-Identifier: Apache-2.0 */
#include "devmodel/edits.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "devmodel/devnode.h"
#include "devmodel/glob.h"
#include "devmodel/hostroot.h"

static void node_done(struct dm_node *n)
{
        free(n->path);
        free(n->host_path);
        free(n->permissions);
}

static void mount_done(struct dm_mount *m)
{
        free(m->host_path);
        free(m->container_path);
        free(m->type);
        hd_strv_free(m->options);
}

static void hook_done(struct dm_hook *h)
{
        free(h->hook_name);
        free(h->path);
        hd_strv_free(h->args);
        hd_strv_free(h->env);
}

void dm_edits_done(struct dm_edits *e)
{
        if (!e)
                return;
        for (size_t i = 0; i < e->n_nodes; i++)
                node_done(&e->nodes[i]);
        free(e->nodes);
        for (size_t i = 0; i < e->n_mounts; i++)
                mount_done(&e->mounts[i]);
        free(e->mounts);
        hd_strv_free(e->env);
        for (size_t i = 0; i < e->n_hooks; i++)
                hook_done(&e->hooks[i]);
        free(e->hooks);
        *e = (struct dm_edits){0};
}

bool dm_edits_empty(const struct dm_edits *e)
{
        return e->n_nodes == 0 && e->n_mounts == 0 && hd_strv_len(e->env) == 0 && e->n_hooks == 0;
}

static struct dm_node *push_node(struct dm_edits *e)
{
        e->nodes = hd_realloc_array(e->nodes, e->n_nodes + 1, sizeof(*e->nodes));
        e->nodes[e->n_nodes] = (struct dm_node){0};
        return &e->nodes[e->n_nodes++];
}

static struct dm_mount *push_mount(struct dm_edits *e)
{
        e->mounts = hd_realloc_array(e->mounts, e->n_mounts + 1, sizeof(*e->mounts));
        e->mounts[e->n_mounts] = (struct dm_mount){0};
        return &e->mounts[e->n_mounts++];
}

/* Append a hook with copies of the given fields (spec, rendered and resolved hooks share them). */
static void add_hook(struct dm_edits *e, const char *hook_name, const char *path, char **args,
                     char **env, int timeout)
{
        e->hooks = hd_realloc_array(e->hooks, e->n_hooks + 1, sizeof(*e->hooks));
        e->hooks[e->n_hooks++] = (struct dm_hook){
                .hook_name = hd_strdup(hook_name),
                .path = hd_strdup(path),
                .args = hd_strv_copy(args),
                .env = hd_strv_copy(env),
                .timeout = timeout,
        };
}

static int render_opt(const char *tmpl, const struct dm_template_vars *vars, char **ret,
                      struct hd_error *reterr)
{
        if (!tmpl) {
                *ret = NULL;
                return 0;
        }
        /* Without VARS (common edits) templates were refused at load: copy verbatim. */
        if (!vars) {
                *ret = hd_strdup(tmpl);
                return 0;
        }
        return dm_template_render(tmpl, vars, ret, reterr);
}

int dm_edits_render(const struct dm_edits_spec *spec, const struct dm_template_vars *vars,
                    struct dm_edits *ret, struct hd_error *reterr)
{
        int r;

        for (size_t i = 0; i < spec->n_nodes; i++) {
                const struct dm_node_spec *s = &spec->nodes[i];
                struct dm_node *n = push_node(ret);
                n->permissions = hd_strdup(s->permissions);
                n->optional = s->optional;
                r = render_opt(s->path, vars, &n->path, reterr);
                if (r < 0)
                        return r;
                r = render_opt(s->host_path ? s->host_path : s->path, vars, &n->host_path, reterr);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < spec->n_mounts; i++) {
                const struct dm_mount_spec *s = &spec->mounts[i];
                struct dm_mount *m = push_mount(ret);
                m->type = hd_strdup(s->type);
                m->options = hd_strv_copy(s->options);
                m->optional = s->optional;
                r = render_opt(s->host_path, vars, &m->host_path, reterr);
                if (r < 0)
                        return r;
                /* A glob source keeps containerPath NULL: resolve mounts each match in place. */
                if (s->container_path)
                        r = render_opt(s->container_path, vars, &m->container_path, reterr);
                else if (!dm_glob_is_pattern(m->host_path))
                        m->container_path = hd_strdup(m->host_path);
                if (r < 0)
                        return r;
        }
        for (char **env = spec->env; env && *env; env++) {
                char *s = NULL;
                r = render_opt(*env, vars, &s, reterr);
                if (r < 0)
                        return r;
                hd_strv_consume(&ret->env, s);
        }
        for (size_t i = 0; i < spec->n_hooks; i++) {
                const struct dm_hook_spec *s = &spec->hooks[i];
                add_hook(ret, s->hook_name, s->path, s->args, s->env, s->timeout);
        }
        return 0;
}

static void copy_node(struct dm_node *dst, const struct dm_node *src)
{
        *dst = *src;
        dst->path = hd_strdup(src->path);
        dst->host_path = hd_strdup(src->host_path);
        dst->permissions = hd_strdup(src->permissions);
}

static void copy_mount(struct dm_mount *dst, const struct dm_mount *src)
{
        *dst = *src;
        dst->host_path = hd_strdup(src->host_path);
        dst->container_path = hd_strdup(src->container_path);
        dst->type = hd_strdup(src->type);
        dst->options = hd_strv_copy(src->options);
}

void dm_edits_merge(struct dm_edits *dst, const struct dm_edits *src)
{
        for (size_t i = 0; i < src->n_nodes; i++) {
                bool dup = false;
                for (size_t j = 0; j < dst->n_nodes && !dup; j++)
                        dup = hd_streq(dst->nodes[j].path, src->nodes[i].path);
                if (!dup)
                        copy_node(push_node(dst), &src->nodes[i]);
        }
        for (size_t i = 0; i < src->n_mounts; i++) {
                bool dup = false;
                for (size_t j = 0; j < dst->n_mounts && !dup; j++)
                        dup = hd_streq(dst->mounts[j].container_path,
                                       src->mounts[i].container_path) &&
                              hd_streq(dst->mounts[j].host_path, src->mounts[i].host_path);
                if (!dup)
                        copy_mount(push_mount(dst), &src->mounts[i]);
        }
        for (char **env = src->env; env && *env; env++)
                if (!hd_strv_contains(dst->env, *env))
                        hd_strv_push(&dst->env, *env);
        for (size_t i = 0; i < src->n_hooks; i++) {
                const struct dm_hook *s = &src->hooks[i];
                bool dup = false;
                for (size_t j = 0; j < dst->n_hooks && !dup; j++)
                        dup = hd_streq(dst->hooks[j].hook_name, s->hook_name) &&
                              hd_streq(dst->hooks[j].path, s->path) &&
                              hd_strv_equal(dst->hooks[j].args, s->args);
                if (!dup)
                        add_hook(dst, s->hook_name, s->path, s->args, s->env, s->timeout);
        }
}

int dm_edits_resolve(const struct dm_edits *in, const char *root, struct dm_edits *ret,
                     struct hd_error *reterr)
{
        int r;

        for (size_t i = 0; i < in->n_nodes; i++) {
                const struct dm_node *s = &in->nodes[i];
                char type = 0;
                unsigned maj = 0, min = 0;
                r = dm_devnode_stat(root, s->host_path, &type, &maj, &min, reterr);
                if (r == -ENOENT && s->optional)
                        continue;
                if (r < 0)
                        return r;
                /* A node resolved earlier (e.g. by discovery) must still be the same device. */
                if (s->type && (s->type != type || s->major != maj || s->minor != min))
                        return hd_error_setf(reterr, ESTALE,
                                             "device node '%s' changed: expected %c %u:%u, found "
                                             "%c %u:%u",
                                             s->host_path, s->type, s->major, s->minor, type, maj,
                                             min);
                struct dm_node *n = push_node(ret);
                copy_node(n, s);
                n->type = type;
                n->major = maj;
                n->minor = min;
        }
        for (size_t i = 0; i < in->n_mounts; i++) {
                const struct dm_mount *s = &in->mounts[i];
                if (dm_glob_is_pattern(s->host_path) && !s->container_path) {
                        struct dm_glob_match *m = NULL;
                        size_t n = 0;
                        r = dm_glob_expand(root, s->host_path, &m, &n, reterr);
                        if (r < 0)
                                return r;
                        for (size_t j = 0; j < n; j++) {
                                struct dm_mount *d = push_mount(ret);
                                copy_mount(d, s);
                                free(d->host_path);
                                d->host_path = hd_strdup(m[j].path);
                                d->container_path = hd_strdup(m[j].path);
                        }
                        dm_glob_matches_free(m, n);
                        if (n == 0 && !s->optional)
                                return hd_error_setf(reterr, ENOENT,
                                                     "mount glob '%s' matches nothing; create the "
                                                     "files or mark the mount optional",
                                                     s->host_path);
                        continue;
                }
                struct stat st;
                r = dm_host_stat(root, "mount source", s->host_path, &st, reterr);
                if (r == -ENOENT && s->optional) {
                        hd_error_done(reterr);
                        continue;
                }
                if (r < 0)
                        return r;
                copy_mount(push_mount(ret), s);
        }
        for (char **env = in->env; env && *env; env++)
                hd_strv_push(&ret->env, *env);
        for (size_t i = 0; i < in->n_hooks; i++) {
                const struct dm_hook *s = &in->hooks[i];
                /* The runtime runs the hook on the host: a missing one fails the container. */
                struct stat st;
                r = dm_host_stat(root, "hook", s->path, &st, reterr);
                if (r < 0)
                        return r;
                add_hook(ret, s->hook_name, s->path, s->args, s->env, s->timeout);
        }
        return 0;
}
